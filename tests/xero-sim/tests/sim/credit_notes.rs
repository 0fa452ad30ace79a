//! Credit notes: allocation to invoices, cash refunds, and the rules around both.

use serde_json::{Value, json};

use crate::helpers::{NZ, TestSim, start};

fn credit_note(number: &str, status: &str, currency: &str, amount: f64) -> Value {
    json!({"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"Name": "Online Customers"}, "Date": "2026-08-03",
        "Status": status, "CreditNoteNumber": number, "CurrencyCode": currency,
        "LineItems": [{"Description": "Refund", "Quantity": 1, "UnitAmount": amount,
                       "AccountCode": "200", "TaxType": "OUTPUT2"}]}]})
}

async fn create_note(
    t: &TestSim,
    number: &str,
    status: &str,
    currency: &str,
    amount: f64,
) -> Value {
    let answer = t
        .put(
            "/CreditNotes",
            &credit_note(number, status, currency, amount),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["CreditNotes"][0].clone()
}

fn allocation(invoice_id: &str, amount: f64) -> Value {
    json!({"Allocations": [{"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": "2026-08-03"}]})
}

#[tokio::test]
async fn allocating_a_credit_note_reduces_the_invoice_amount_due() {
    // Arrange: invoice 115.00, credit note 40.00 + 6.00 GST.
    let t = start();
    let invoice = t.authorised_invoice("CN-INV-1").await;
    let invoice_id = invoice["InvoiceID"].as_str().unwrap();
    let note = create_note(&t, "SHOP-1001-R1", "AUTHORISED", "NZD", 40.0).await;
    let note_id = note["CreditNoteID"].as_str().unwrap();
    assert_eq!(note["RemainingCredit"], 46.00);

    // Act
    let answer = t
        .put(
            &format!("/CreditNotes/{note_id}/Allocations"),
            &allocation(invoice_id, 46.0),
        )
        .await;

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["Allocations"][0]["Amount"], 46.00);
    let invoice = t.get(&format!("/Invoices/{invoice_id}")).await.json["Invoices"][0].clone();
    assert_eq!(invoice["AmountDue"], 69.00);
    assert_eq!(invoice["AmountCredited"], 46.00);
    assert_eq!(invoice["CreditNotes"][0]["AppliedAmount"], 46.00);
    let note = t.get(&format!("/CreditNotes/{note_id}")).await.json["CreditNotes"][0].clone();
    assert_eq!(note["RemainingCredit"], 0.00);
    assert_eq!(note["Status"], "PAID");
    assert_eq!(
        t.sim.records(NZ, xcs_xero_sim::Records::Allocations).len(),
        1
    );
}

#[tokio::test]
async fn a_credit_note_is_refunded_with_a_payment_of_type_arcreditpayment() {
    let t = start();
    let note = create_note(&t, "SHOP-1002-R1", "AUTHORISED", "NZD", 20.0).await;

    let answer = t
        .put(
            "/Payments",
            &json!({"Payments": [{"CreditNote": {"CreditNoteID": note["CreditNoteID"]},
                                  "Account": {"Code": "090"}, "Date": "2026-08-03", "Amount": 23.00}]}),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["Payments"][0]["PaymentType"], "ARCREDITPAYMENT");
    let note = t.get("/CreditNotes/SHOP-1002-R1").await.json["CreditNotes"][0].clone();
    assert_eq!(note["RemainingCredit"], 0.00);
    assert_eq!(note["Status"], "PAID");
}

#[tokio::test]
async fn allocations_are_refused_for_drafts_other_currencies_and_too_much_credit() {
    // Arrange
    let t = start();
    let invoice = t.authorised_invoice("CN-INV-2").await;
    let invoice_id = invoice["InvoiceID"].as_str().unwrap();
    let draft = create_note(&t, "R-DRAFT", "DRAFT", "NZD", 10.0).await;
    let usd = create_note(&t, "R-USD", "AUTHORISED", "USD", 10.0).await;
    let small = create_note(&t, "R-SMALL", "AUTHORISED", "NZD", 10.0).await;
    let cases = [
        (
            &draft,
            5.0,
            "Only AUTHORISED credit notes can be allocated.",
        ),
        (
            &usd,
            5.0,
            "The currency of the credit note must match the currency of the invoice.",
        ),
        (
            &small,
            11.51,
            "The amount allocated cannot exceed the remaining credit on the credit note.",
        ),
    ];

    for (note, amount, expected) in cases {
        // Act
        let answer = t
            .put(
                &format!(
                    "/CreditNotes/{}/Allocations",
                    note["CreditNoteID"].as_str().unwrap()
                ),
                &allocation(invoice_id, amount),
            )
            .await;

        // Assert
        assert_eq!(answer.status, 400, "{expected}");
        let messages = answer.json["Elements"][0]["ValidationErrors"].to_string();
        assert!(messages.contains(expected), "{expected}: {messages}");
    }
}

#[tokio::test]
async fn credit_notes_refuse_discounts_and_need_unique_numbers() {
    let t = start();
    let mut discounted = credit_note("R-DISC", "AUTHORISED", "NZD", 10.0);
    discounted["CreditNotes"][0]["LineItems"][0]["DiscountRate"] = json!(10);
    create_note(&t, "R-ONCE", "AUTHORISED", "NZD", 10.0).await;

    let discount = t.put("/CreditNotes", &discounted).await;
    let duplicate = t
        .put(
            "/CreditNotes",
            &credit_note("R-ONCE", "AUTHORISED", "NZD", 10.0),
        )
        .await;
    let numbered = t
        .put(
            "/CreditNotes",
            &json!({"CreditNotes": [{"Type": "ACCRECCREDIT", "Contact": {"Name": "X"},
            "LineItems": [{"Description": "a", "UnitAmount": 1, "AccountCode": "200"}]}]}),
        )
        .await;

    assert_eq!(
        discount.first_error(),
        Some("Discounts are not supported on credit notes.")
    );
    assert_eq!(
        duplicate.first_error(),
        Some("Credit Note # must be unique.")
    );
    assert_eq!(
        numbered.json["CreditNotes"][0]["CreditNoteNumber"],
        "CN-0001"
    );
    let by_where = t
        .get("/CreditNotes?where=CreditNoteNumber%3D%3D%22R-ONCE%22")
        .await;
    assert_eq!(by_where.json["CreditNotes"].as_array().unwrap().len(), 1);
}
