//! Payments: into bank and clearing accounts, the refusals Xero gives, and deleting a payment.

use serde_json::{Value, json};

use crate::helpers::{invoice, start};

fn payment(invoice_id: &str, account: &str, amount: f64) -> Value {
    json!({"Payments": [{"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": account},
                         "Date": "2026-08-02", "Amount": amount, "Reference": "payout 1"}]})
}

#[tokio::test]
async fn a_payment_into_a_clearing_account_marks_the_invoice_paid() {
    // Arrange
    let t = start();
    let created = t.authorised_invoice("P-1").await;
    let id = created["InvoiceID"].as_str().unwrap();

    // Act
    let answer = t.put("/Payments", &payment(id, "615", 115.00)).await;

    // Assert
    assert_eq!(answer.status, 200, "{}", answer.text);
    let paid = &answer.json["Payments"][0];
    assert_eq!(paid["PaymentType"], "ACCRECPAYMENT");
    assert_eq!(paid["Status"], "AUTHORISED");
    assert_eq!(paid["Account"]["Code"], "615");
    let after = t.get(&format!("/Invoices/{id}")).await;
    assert_eq!(after.json["Invoices"][0]["Status"], "PAID");
    assert_eq!(after.json["Invoices"][0]["AmountDue"], 0.00);
    assert_eq!(after.json["Invoices"][0]["AmountPaid"], 115.00);
}

#[tokio::test]
async fn a_part_payment_by_invoice_number_into_a_bank_account_leaves_an_amount_due() {
    let t = start();
    t.authorised_invoice("P-2").await;

    let answer = t
        .post(
            "/Payments",
            &json!({"Invoice": {"InvoiceNumber": "P-2"}, "Account": {"Code": "090"}, "Amount": 15.00,
                    "Date": "2026-08-02"}),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.text);
    let after = t.get("/Invoices/P-2").await;
    assert_eq!(after.json["Invoices"][0]["Status"], "AUTHORISED");
    assert_eq!(after.json["Invoices"][0]["AmountDue"], 100.00);
}

#[tokio::test]
async fn payments_into_accounts_without_payments_enabled_are_refused() {
    let t = start();
    let created = t.authorised_invoice("P-3").await;
    let id = created["InvoiceID"].as_str().unwrap();

    for account in ["620", "200"] {
        let answer = t.put("/Payments", &payment(id, account, 10.0)).await;
        assert_eq!(answer.status, 400, "account {account}");
        assert_eq!(
            answer.first_error(),
            Some("Account type is invalid for making a payment to"),
            "account {account}"
        );
        assert_eq!(answer.json["Elements"][0]["HasValidationErrors"], true);
    }
}

#[tokio::test]
async fn a_payment_above_the_amount_due_is_refused() {
    let t = start();
    let created = t.authorised_invoice("P-4").await;

    let answer = t
        .put(
            "/Payments",
            &payment(created["InvoiceID"].as_str().unwrap(), "090", 115.01),
        )
        .await;

    assert_eq!(
        answer.first_error(),
        Some("Payment amount exceeds the amount outstanding on this document")
    );
}

#[tokio::test]
async fn a_payment_to_a_draft_invoice_is_refused() {
    let t = start();
    let draft = t
        .put(
            "/Invoices",
            &json!({"Invoices": [invoice("P-5", "DRAFT", &[("A", 1, "10.00")])]}),
        )
        .await;

    let answer = t
        .put(
            "/Payments",
            &payment(
                draft.json["Invoices"][0]["InvoiceID"].as_str().unwrap(),
                "090",
                1.0,
            ),
        )
        .await;

    assert_eq!(
        answer.first_error(),
        Some("Payments can only be made against Authorised documents")
    );
}

#[tokio::test]
async fn deleting_a_payment_reopens_the_invoice_which_can_then_be_voided() {
    // Arrange
    let t = start();
    let created = t.authorised_invoice("P-6").await;
    let id = created["InvoiceID"].as_str().unwrap();
    let paid = t.put("/Payments", &payment(id, "615", 115.00)).await;
    let payment_id = paid.json["Payments"][0]["PaymentID"].as_str().unwrap();
    let void_while_paid = t
        .post(
            &format!("/Invoices/{id}"),
            &json!({"Invoices": [{"Status": "VOIDED"}]}),
        )
        .await;

    // Act
    let deleted = t
        .post(
            &format!("/Payments/{payment_id}"),
            &json!({"Payments": [{"Status": "DELETED"}]}),
        )
        .await;
    let voided = t
        .post(
            &format!("/Invoices/{id}"),
            &json!({"Invoices": [{"Status": "VOIDED"}]}),
        )
        .await;

    // Assert
    assert_eq!(void_while_paid.status, 400);
    assert_eq!(deleted.json["Payments"][0]["Status"], "DELETED");
    assert_eq!(voided.status, 200, "{}", voided.text);
    assert_eq!(voided.json["Invoices"][0]["Status"], "VOIDED");
}
