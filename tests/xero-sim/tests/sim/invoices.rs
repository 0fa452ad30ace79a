//! Invoices: Xero's per-line tax rounding, inclusive prices, explicit tax, numbering, the
//! validation messages, `summarizeErrors`, updates, voids and deletes, reads.

use serde_json::{Value, json};

use crate::helpers::{AU, NZ, invoice, start};

fn lines(amounts: &[&str]) -> Value {
    amounts
        .iter()
        .map(|a| {
            json!({"Description": "Line", "Quantity": 1, "UnitAmount": a.parse::<f64>().unwrap(),
                   "AccountCode": "200", "TaxType": "OUTPUT2"})
        })
        .collect()
}

#[tokio::test]
async fn tax_is_rounded_per_line_as_in_xeros_rounding_example() {
    // Arrange: three lines at 15% totalling 76.30; tax on the subtotal would be 11.45.
    let t = start();
    let mut body = invoice("ROUND-1", "AUTHORISED", &[]);
    body["LineItems"] = lines(&["10.01", "10.01", "56.28"]);

    // Act
    let answer = t.put("/Invoices", &json!({"Invoices": [body]})).await;

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    let created = &answer.json["Invoices"][0];
    assert_eq!(created["SubTotal"], 76.30);
    assert_eq!(created["TotalTax"], 11.44);
    assert_eq!(created["Total"], 87.74);
    assert_eq!(created["AmountDue"], 87.74);
    assert!(
        answer.text.contains("\"SubTotal\":76.30"),
        "money prints with 2 dp"
    );
    assert!(answer.text.contains("\"TaxAmount\":1.50"));
}

#[tokio::test]
async fn inclusive_prices_have_their_tax_carved_out_per_line() {
    let t = start();
    let body = json!({"Invoices": [{
    "Type": "ACCREC", "Contact": {"Name": "Online Customers"}, "Status": "AUTHORISED",
    "LineAmountTypes": "Inclusive", "Date": "2026-08-01",
    "LineItems": [
        {"Description": "Widget", "Quantity": 2, "UnitAmount": 19.99, "DiscountAmount": 2.00,
         "AccountCode": "200", "TaxType": "OUTPUT2"},
        {"Description": "Shipping", "Quantity": 1, "UnitAmount": 5.00,
         "AccountCode": "205", "TaxType": "OUTPUT2"}
    ]}]});

    let answer = t.put("/Invoices", &body).await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    let created = &answer.json["Invoices"][0];
    assert_eq!(created["LineItems"][0]["LineAmount"], 37.98);
    assert_eq!(created["LineItems"][0]["TaxAmount"], 4.95);
    assert_eq!(created["LineItems"][1]["TaxAmount"], 0.65);
    assert_eq!(created["Total"], 42.98);
    assert_eq!(created["TotalTax"], 5.60);
    assert_eq!(created["SubTotal"], 37.38);
    assert_eq!(created["TotalDiscount"], 2.00);
}

#[tokio::test]
async fn an_explicit_tax_amount_overrides_the_computed_one() {
    let t = start();
    let mut body = invoice("TAX-1", "AUTHORISED", &[]);
    body["LineItems"] = json!([{"Description": "Widget", "Quantity": 1, "UnitAmount": 10.00,
        "AccountCode": "200", "TaxType": "OUTPUT2", "TaxAmount": 1.49}]);

    let answer = t.put("/Invoices", &json!({"Invoices": [body]})).await;

    assert_eq!(answer.json["Invoices"][0]["TotalTax"], 1.49);
    assert_eq!(answer.json["Invoices"][0]["Total"], 11.49);
}

#[tokio::test]
async fn unit_amounts_keep_four_decimals_only_with_unitdp_4() {
    let t = start();
    let mut body = invoice("", "DRAFT", &[]);
    body.as_object_mut().unwrap().remove("InvoiceNumber");
    body["LineItems"] = json!([{"Description": "Bolt", "Quantity": 3, "UnitAmount": 0.3333,
        "AccountCode": "200", "TaxType": "OUTPUT2"}]);

    let two = t
        .put("/Invoices", &json!({"Invoices": [body.clone()]}))
        .await;
    let four = t
        .put("/Invoices?unitdp=4", &json!({"Invoices": [body]}))
        .await;

    assert_eq!(two.json["Invoices"][0]["LineItems"][0]["UnitAmount"], 0.33);
    assert_eq!(two.json["Invoices"][0]["LineItems"][0]["LineAmount"], 0.99);
    assert_eq!(
        four.json["Invoices"][0]["LineItems"][0]["UnitAmount"],
        0.3333
    );
    assert_eq!(four.json["Invoices"][0]["LineItems"][0]["LineAmount"], 1.00);
}

#[tokio::test]
async fn a_second_sales_invoice_with_the_same_number_is_refused() {
    let t = start();
    t.authorised_invoice("SHOP-1001").await;

    let again = t
        .put(
            "/Invoices",
            &json!({"Invoices": [invoice("SHOP-1001", "AUTHORISED", &[("A", 1, "1.00")])]}),
        )
        .await;
    let found = t.get("/Invoices?InvoiceNumbers=SHOP-1001").await;

    assert_eq!(again.status, 400);
    assert_eq!(again.json["ErrorNumber"], 10);
    assert_eq!(again.json["Type"], "ValidationException");
    assert_eq!(again.json["Message"], "A validation exception occurred");
    assert_eq!(again.first_error(), Some("Invoice # must be unique."));
    assert_eq!(again.json["Elements"][0]["HasErrors"], true);
    assert_eq!(found.json["Invoices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn invoices_without_a_number_are_numbered_inv_0001_onwards() {
    let t = start();
    let mut body = invoice("", "AUTHORISED", &[("A", 1, "1.00")]);
    body.as_object_mut().unwrap().remove("InvoiceNumber");

    let answer = t
        .put("/Invoices", &json!({"Invoices": [body.clone(), body]}))
        .await;

    assert_eq!(answer.json["Invoices"][0]["InvoiceNumber"], "INV-0001");
    assert_eq!(answer.json["Invoices"][1]["InvoiceNumber"], "INV-0002");
}

#[tokio::test]
async fn one_bad_invoice_fails_a_summarised_batch_yet_the_good_ones_are_created() {
    // Arrange
    let t = start();
    let good = invoice("GOOD-1", "AUTHORISED", &[("A", 1, "10.00")]);
    let mut bad = invoice("BAD-1", "AUTHORISED", &[("A", 1, "10.00")]);
    bad["LineItems"][0]["AccountCode"] = json!("999");

    // Act
    let answer = t.put("/Invoices", &json!({"Invoices": [good, bad]})).await;

    // Assert: 400 naming only the bad one, while the good one was saved (Xero's pitfall).
    assert_eq!(answer.status, 400);
    let elements = answer.json["Elements"].as_array().unwrap();
    assert_eq!(elements.len(), 1);
    assert_eq!(elements[0]["InvoiceNumber"], "BAD-1");
    assert_eq!(
        answer.first_error(),
        Some("Account code '999' is not a valid code for this document.")
    );
    let saved = t.sim.invoices(NZ);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0]["InvoiceNumber"], "GOOD-1");
}

#[tokio::test]
async fn an_unsummarised_batch_answers_200_with_a_status_per_element() {
    let t = start();
    let good = invoice("GOOD-2", "AUTHORISED", &[("A", 1, "10.00")]);
    let duplicate = invoice("GOOD-2", "AUTHORISED", &[("A", 1, "10.00")]);

    let answer = t
        .put(
            "/Invoices?summarizeErrors=false",
            &json!({"Invoices": [good, duplicate]}),
        )
        .await;

    assert_eq!(answer.status, 200);
    let list = answer.json["Invoices"].as_array().unwrap();
    assert_eq!(list[0]["StatusAttributeString"], "OK");
    assert!(list[0]["InvoiceID"].is_string());
    assert_eq!(list[1]["StatusAttributeString"], "ERROR");
    assert_eq!(
        list[1]["ValidationErrors"][0]["Message"],
        "Invoice # must be unique."
    );
}

#[tokio::test]
async fn invalid_invoices_get_xeros_validation_messages() {
    let t = start();
    let base = || invoice("V-1", "AUTHORISED", &[("A", 1, "10.00")]);
    let mut archived = base();
    archived["LineItems"][0]["AccountCode"] = json!("299");
    let mut bad_tax = base();
    bad_tax["LineItems"][0]["TaxType"] = json!("XYZ");
    let mut deleted_tax = base();
    deleted_tax["LineItems"][0]["TaxType"] = json!("TAX001");
    let mut bank_line = base();
    bank_line["LineItems"][0]["AccountCode"] = json!("090");
    let mut no_contact = base();
    no_contact.as_object_mut().unwrap().remove("Contact");
    let mut negative = base();
    negative["LineItems"][0]["UnitAmount"] = json!(-10.0);
    let mut paid = base();
    paid["Status"] = json!("PAID");
    let mut no_lines = base();
    no_lines["LineItems"] = json!([]);
    let cases = [
        (
            archived,
            "Account code '299' has been archived, or has been deleted. Each line item must reference a valid account.",
        ),
        (
            bad_tax,
            "The TaxType code 'XYZ' does not exist or cannot be used with this type of transaction.",
        ),
        (
            deleted_tax,
            "The TaxType code 'TAX001' does not exist or cannot be used with this type of transaction.",
        ),
        (
            bank_line,
            "Account code '090' is not a valid code for this document.",
        ),
        (
            no_contact,
            "A Contact must be specified for this type of transaction",
        ),
        (negative, "Invoice total cannot be negative."),
        (paid, "Invoice not of valid status for creation"),
        (no_lines, "One or more line items must be specified"),
    ];

    for (body, expected) in cases {
        let answer = t.put("/Invoices", &json!({"Invoices": [body]})).await;
        assert_eq!(answer.status, 400, "{expected}: {}", answer.text);
        let messages: Vec<&str> = answer.json["Elements"][0]["ValidationErrors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["Message"].as_str())
            .collect();
        assert!(
            messages.contains(&expected),
            "expected {expected:?}, got {messages:?}"
        );
    }
    assert!(t.sim.invoices(NZ).is_empty());
}

#[tokio::test]
async fn a_currency_the_organisation_does_not_subscribe_to_is_refused() {
    let t = start();
    let mut body = invoice("FX-1", "AUTHORISED", &[]);
    body["CurrencyCode"] = json!("EUR");
    body["LineItems"] = json!([{"Description": "A", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200", "TaxType": "OUTPUT"}]);

    let answer = t
        .send(
            reqwest::Method::PUT,
            "/Invoices",
            AU,
            &json!({"Invoices": [body.clone()]}),
            None,
        )
        .await;
    body["LineItems"][0]["TaxType"] = json!("OUTPUT2");
    let in_nz = t.put("/Invoices", &json!({"Invoices": [body]})).await;

    assert_eq!(
        answer.first_error(),
        Some("Organisation is not subscribed to currency EUR")
    );
    assert_eq!(in_nz.status, 200, "NZ subscribes to EUR: {}", in_nz.text);
    assert_eq!(in_nz.json["Invoices"][0]["CurrencyCode"], "EUR");
}

#[tokio::test]
async fn a_contact_named_only_by_name_is_created_once_and_reused() {
    let t = start();

    t.authorised_invoice("C-1").await;
    t.authorised_invoice("C-2").await;

    let customers: Vec<Value> = t
        .sim
        .contacts(NZ)
        .into_iter()
        .filter(|c| c["Name"] == "Online Customers")
        .collect();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["IsCustomer"], true);
}

#[tokio::test]
async fn drafts_can_be_deleted_but_approved_invoices_only_voided() {
    let t = start();
    let draft = t
        .put(
            "/Invoices",
            &json!({"Invoices": [invoice("D-1", "DRAFT", &[("A", 1, "1.00")])]}),
        )
        .await;
    let draft_id = draft.json["Invoices"][0]["InvoiceID"]
        .as_str()
        .unwrap()
        .to_owned();
    let approved = t.authorised_invoice("A-1").await;
    let approved_id = approved["InvoiceID"].as_str().unwrap();

    let deleted = t
        .post(
            &format!("/Invoices/{draft_id}"),
            &json!({"Invoices": [{"Status": "DELETED"}]}),
        )
        .await;
    let delete_approved = t
        .post(
            &format!("/Invoices/{approved_id}"),
            &json!({"Invoices": [{"Status": "DELETED"}]}),
        )
        .await;
    let voided = t
        .post(
            &format!("/Invoices/{approved_id}"),
            &json!({"Invoices": [{"Status": "VOIDED"}]}),
        )
        .await;

    assert_eq!(deleted.json["Invoices"][0]["Status"], "DELETED");
    assert_eq!(
        delete_approved.first_error(),
        Some("Invoice not of valid status for modification")
    );
    assert_eq!(voided.json["Invoices"][0]["Status"], "VOIDED");
    assert_eq!(voided.json["Invoices"][0]["AmountDue"], 0.00);
}

#[tokio::test]
async fn post_updates_an_invoice_found_by_its_number() {
    let t = start();
    t.put(
        "/Invoices",
        &json!({"Invoices": [invoice("U-1", "DRAFT", &[("A", 1, "1.00")])]}),
    )
    .await;

    let updated = t
        .post(
            "/Invoices",
            &json!({"Invoices": [invoice("U-1", "AUTHORISED", &[("A", 2, "5.00")])]}),
        )
        .await;

    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["Invoices"][0]["Status"], "AUTHORISED");
    assert_eq!(updated.json["Invoices"][0]["SubTotal"], 10.00);
    assert_eq!(t.sim.invoices(NZ).len(), 1);
}

#[tokio::test]
async fn reads_filter_by_where_and_page_with_line_items_only_when_paging() {
    let t = start();
    t.authorised_invoice("R-1").await;
    let mut draft = invoice("R-2", "DRAFT", &[("A", 1, "1.00")]);
    draft["Reference"] = json!("shopify order #1002");
    t.put("/Invoices", &json!({"Invoices": [draft]})).await;

    let unpaged = t.get("/Invoices").await;
    let paged = t.get("/Invoices?page=1&pageSize=1").await;
    let by_reference = t
        .get("/Invoices?where=Reference%3D%3D%22shopify%20order%20%231002%22")
        .await;
    let by_status = t.get("/Invoices?Statuses=AUTHORISED").await;
    let by_number = t.get("/Invoices/R-2").await;

    assert_eq!(unpaged.json["Invoices"].as_array().unwrap().len(), 2);
    assert!(unpaged.json["Invoices"][0].get("LineItems").is_none());
    assert_eq!(paged.json["Invoices"].as_array().unwrap().len(), 1);
    assert_eq!(paged.json["pagination"]["itemCount"], 2);
    assert!(paged.json["Invoices"][0]["LineItems"].is_array());
    assert_eq!(by_reference.json["Invoices"][0]["InvoiceNumber"], "R-2");
    assert_eq!(by_status.json["Invoices"][0]["InvoiceNumber"], "R-1");
    assert_eq!(by_number.json["Invoices"][0]["Status"], "DRAFT");
    assert!(
        by_number.json["Invoices"][0]["Date"]
            .as_str()
            .unwrap()
            .starts_with("/Date(")
    );
    assert_eq!(
        by_number.json["Invoices"][0]["DateString"],
        "2026-08-01T00:00:00"
    );
    assert_eq!(t.get("/Invoices/NOPE").await.status, 404);
}

#[tokio::test]
async fn writes_without_a_json_content_type_are_refused() {
    let t = start();

    let answer = crate::helpers::read(
        t.request(reqwest::Method::PUT, "/Invoices", NZ)
            .header("Content-Type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(answer.status, 415);
}
