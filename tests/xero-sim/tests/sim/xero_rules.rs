//! Xero's rules the simulator once let pass: numbers kept by voided and deleted documents,
//! archived contacts and accounts on new documents, the 3.5 MB request limit, the line rules of
//! the spec, and the fields Xero may leave out of its answers (each switchable, see
//! `Readings`).

use serde_json::{Value, json};
use xcs_xero_sim::Readings;

use crate::helpers::{NZ, TestSim, invoice, start};

const MUST_BE_UNIQUE: &str = "Invoice # must be unique.";

impl TestSim {
    async fn set_status(&self, invoice: &Value, status: &str) -> Value {
        let id = invoice["InvoiceID"].as_str().unwrap();
        let answer = self
            .post(
                &format!("/Invoices/{id}"),
                &json!({"Invoices": [{"Status": status}]}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json["Invoices"][0].clone()
    }

    async fn draft(&self, number: &str) -> Value {
        let answer = self
            .put(
                "/Invoices",
                &json!({"Invoices": [invoice(number, "DRAFT", &[("A", 1, "1.00")])]}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json["Invoices"][0].clone()
    }

    async fn create_again(&self, number: &str) -> crate::helpers::Answer {
        self.put(
            "/Invoices",
            &json!({"Invoices": [invoice(number, "AUTHORISED", &[("B", 1, "2.00")])]}),
        )
        .await
    }

    async fn pay(&self, invoice_id: &str, reference: &str) -> crate::helpers::Answer {
        self.put(
            "/Payments?summarizeErrors=false",
            &json!({"Payments": [{
                "Invoice": {"InvoiceID": invoice_id},
                "Account": {"Code": "090"},
                "Date": "2026-08-02",
                "Amount": 10,
                "Reference": reference,
            }]}),
        )
        .await
    }
}

#[tokio::test]
async fn a_voided_invoice_keeps_its_number() {
    let t = start();
    let first = t.authorised_invoice("V-1").await;
    let voided = t.set_status(&first, "VOIDED").await;
    assert_eq!(voided["Status"], "VOIDED");

    let again = t.create_again("V-1").await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.first_error(), Some(MUST_BE_UNIQUE));
    // Nor does numbering hand it out.
    let generated = t
        .put(
            "/Invoices",
            &json!({"Invoices": [{
                "Type": "ACCREC",
                "Contact": {"Name": "Online Customers"},
                "Status": "DRAFT",
            }]}),
        )
        .await;
    assert_ne!(generated.json["Invoices"][0]["InvoiceNumber"], "V-1");
}

#[tokio::test]
async fn a_deleted_invoice_keeps_its_number_unless_the_lenient_reading_is_on() {
    let t = start();
    let draft = t.draft("D-1").await;
    t.set_status(&draft, "DELETED").await;
    let strict = t.create_again("D-1").await;
    assert_eq!(
        strict.first_error(),
        Some(MUST_BE_UNIQUE),
        "{}",
        strict.text
    );

    t.sim.set_readings(Readings {
        deleted_numbers_free: true,
        ..Readings::default()
    });
    let lenient = t.create_again("D-1").await;
    assert_eq!(lenient.status, 200, "{}", lenient.text);
}

#[tokio::test]
async fn a_new_document_for_an_archived_contact_is_refused() {
    let t = start();
    let created = t
        .put("/Contacts", &json!({"Contacts": [{"Name": "Gone Shop"}]}))
        .await;
    let id = created.json["Contacts"][0]["ContactID"]
        .as_str()
        .unwrap()
        .to_owned();
    t.post(
        &format!("/Contacts/{id}"),
        &json!({"Contacts": [{"ContactStatus": "ARCHIVED"}]}),
    )
    .await;
    let mut refused = invoice("AC-1", "AUTHORISED", &[("A", 1, "1.00")]);
    refused["Contact"] = json!({"ContactID": id});
    let answer = t.put("/Invoices", &json!({"Invoices": [refused]})).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(
        answer
            .first_error()
            .unwrap()
            .contains("has been archived. The contact must be un-archived"),
        "{}",
        answer.text
    );
    let note = json!({"CreditNotes": [{
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": id},
        "Status": "AUTHORISED",
        "LineItems": [{"Description": "A", "Quantity": 1, "UnitAmount": 1,
                       "AccountCode": "200", "TaxType": "OUTPUT2"}],
    }]});
    let credit = t.put("/CreditNotes", &note).await;
    assert_eq!(credit.status, 400, "{}", credit.text);
}

#[tokio::test]
async fn lines_and_payments_on_an_archived_account_are_refused() {
    let t = start();
    let open = t.authorised_invoice("AA-1").await;
    assert!(t.sim.set_account_status(NZ, "200", "ARCHIVED"));
    let answer = t.create_again("AA-2").await;
    assert!(
        answer
            .first_error()
            .unwrap()
            .contains("Account code '200' has been archived"),
        "{}",
        answer.text
    );
    assert!(t.sim.set_account_status(NZ, "090", "ARCHIVED"));
    let paid = t.pay(open["InvoiceID"].as_str().unwrap(), "r").await;
    assert_eq!(
        paid.json["Payments"][0]["ValidationErrors"][0]["Message"],
        "Account code '090' has been archived, or has been deleted.",
        "{}",
        paid.text
    );
}

#[tokio::test]
async fn requests_over_three_and_a_half_megabytes_get_413() {
    let t = start();
    // Each line's description makes the body about 4 kB longer; 900 of them is 3.6 MB.
    let long = "x".repeat(4000);
    let lines: Vec<Value> = (0..900)
        .map(|_| {
            json!({"Description": long, "Quantity": 1, "UnitAmount": 1,
                   "AccountCode": "200", "TaxType": "OUTPUT2"})
        })
        .collect();
    let mut big = invoice("BIG-1", "AUTHORISED", &[]);
    big["LineItems"] = json!(lines);
    let body = json!({"Invoices": [big]});
    let size = serde_json::to_vec(&body).unwrap().len();
    assert!((3_500_001..10_000_000).contains(&size), "{size}");

    let refused = t.put("/Invoices", &body).await;
    assert_eq!(refused.status, 413, "{}", refused.text);
    assert!(t.sim.invoices(NZ).is_empty());

    t.sim.set_readings(Readings::lenient());
    let accepted = t.put("/Invoices", &body).await;
    assert_eq!(accepted.status, 200);
}

#[tokio::test]
async fn negative_quantities_out_of_range_discounts_and_a_third_tracking_category_are_refused() {
    let t = start();
    let line = |extra: Value| {
        let mut line = json!({"Description": "A", "Quantity": 1, "UnitAmount": 5,
                              "AccountCode": "200", "TaxType": "OUTPUT2"});
        for (k, v) in extra.as_object().unwrap() {
            line[k] = v.clone();
        }
        line
    };
    let with_line = |number: &str, line: Value| {
        let mut doc = invoice(number, "AUTHORISED", &[]);
        doc["LineItems"] = json!([line, {"Description": "B", "Quantity": 2, "UnitAmount": 10,
                                         "AccountCode": "200", "TaxType": "OUTPUT2"}]);
        doc
    };
    let cases = [
        (
            json!({"Quantity": -1}),
            "The quantity value '-1.0000' is invalid. Quantity must not be less than zero.",
        ),
        (
            json!({"DiscountRate": 120}),
            "The discount rate '120.00' is invalid.",
        ),
        (
            json!({"Tracking": [{"Name": "A", "Option": "1"}, {"Name": "B", "Option": "1"},
                                {"Name": "C", "Option": "1"}]}),
            "A line item can have at most 2 tracking categories.",
        ),
    ];
    for (n, (extra, message)) in cases.into_iter().enumerate() {
        let answer = t
            .put(
                "/Invoices",
                &json!({"Invoices": [with_line(&format!("L-{n}"), line(extra))]}),
            )
            .await;
        assert_eq!(answer.status, 400, "{}", answer.text);
        assert_eq!(answer.first_error(), Some(message), "{}", answer.text);
    }
    // A negative unit amount is no negative quantity (Xero's own adjustment lines have one).
    let answer = t
        .put(
            "/Invoices",
            &json!({"Invoices": [with_line("L-ok", line(json!({"UnitAmount": -5})))]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn payment_references_and_ids_can_be_left_out_of_answers() {
    let t = start();
    let invoice = t.authorised_invoice("P-1").await;
    let id = invoice["InvoiceID"].as_str().unwrap().to_owned();
    t.sim.set_readings(Readings::strict());
    let made = t.pay(&id, "shop order 1").await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(made.json["Payments"][0]["StatusAttributeString"], "OK");
    assert_eq!(
        made.json["Payments"][0]["PaymentID"],
        "00000000-0000-0000-0000-000000000000"
    );

    let read = t.get(&format!("/Invoices/{id}")).await;
    let listed = &read.json["Invoices"][0]["Payments"][0];
    assert!(listed.get("PaymentID").is_some(), "{}", read.text);
    assert!(listed.get("Reference").is_none(), "{}", read.text);
    // The payment's own record still has both.
    let payments = t
        .get(&format!(
            "/Payments?where=Invoice.InvoiceID%3D%3Dguid(%22{id}%22)"
        ))
        .await;
    assert_eq!(payments.json["Payments"][0]["Reference"], "shop order 1");
    assert_eq!(
        listed["PaymentID"],
        payments.json["Payments"][0]["PaymentID"]
    );

    t.sim.set_readings(Readings::default());
    let read = t.get(&format!("/Invoices/{id}")).await;
    assert_eq!(
        read.json["Invoices"][0]["Payments"][0]["Reference"],
        "shop order 1"
    );
}
