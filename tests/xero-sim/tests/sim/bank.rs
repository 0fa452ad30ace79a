//! Bank money: transfers between bank accounts (`/BankTransfers`), spend and receive money
//! (`/BankTransactions`), and the money in an account (`RunningSim::account_balance`) after
//! payments, spends, receives and transfers.

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_xero_sim::DEMO_APP_CLIENT_ID;

use crate::helpers::{Answer, NZ, TestSim, read, start};

fn dec(s: &str) -> Decimal {
    s.parse().expect("a decimal literal")
}

fn balance(t: &TestSim, code: &str) -> Decimal {
    t.sim.account_balance(NZ, code).expect("a known account")
}

fn transfer(from: &str, to: &str, amount: Value, reference: &str) -> Value {
    json!({
        "FromBankAccount": {"Code": from}, "ToBankAccount": {"Code": to},
        "Amount": amount, "Reference": reference,
    })
}

/// A spend or receive of one line on `account` with `tax_type`, amounts `types`.
fn money(
    kind: &str,
    bank: &str,
    account: &str,
    tax_type: &str,
    types: &str,
    amount: &str,
) -> Value {
    json!({
        "Type": kind, "Contact": {"Name": "Shopify"}, "BankAccount": {"Code": bank},
        "Date": "2026-11-20", "Reference": "Payout 42", "LineAmountTypes": types,
        "LineItems": [{"Description": "Fees", "Quantity": 1,
                       "UnitAmount": amount.parse::<f64>().unwrap(),
                       "AccountCode": account, "TaxType": tax_type}],
    })
}

/// `ValidationErrors` messages of each element of an unsummarised answer.
fn messages(answer: &Answer, list: &str) -> Vec<String> {
    answer.json[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            e["ValidationErrors"]
                .as_array()
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(|m| m["Message"].as_str())
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn a_transfer_moves_its_amount_out_of_one_bank_account_and_into_the_other() {
    let t = start();
    let answer = t
        .put(
            "/BankTransfers",
            &json!({"BankTransfers": [transfer("090", "091", json!(50), "Sub 098801")]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let made = &answer.json["BankTransfers"][0];
    assert_eq!(made["Status"], "AUTHORISED");
    assert_eq!(made["FromBankAccount"]["Code"], "090");
    assert_eq!(made["ToBankAccount"]["Code"], "091");
    assert_eq!(made["Reference"], "Sub 098801");
    assert_eq!(made["FromIsReconciled"], false);
    assert!(answer.text.contains("\"Amount\":50.00"), "{}", answer.text);
    let date_string = xcs_xero_sim::wire::date_string(t.sim.now().date());
    assert_eq!(
        made["DateString"],
        date_string.as_str(),
        "Date defaults to today"
    );
    let (from_side, to_side) = (
        made["FromBankTransactionID"].as_str().unwrap(),
        made["ToBankTransactionID"].as_str().unwrap(),
    );
    assert_ne!(from_side, to_side);
    assert_ne!(from_side, uuid::Uuid::nil().to_string());

    assert_eq!(balance(&t, "090"), dec("-50.00"));
    assert_eq!(balance(&t, "091"), dec("50.00"));
    let id = made["BankTransferID"].as_str().unwrap();
    let read_back = t.get(&format!("/BankTransfers/{id}")).await;
    assert_eq!(read_back.status, 200);
    assert_eq!(read_back.json["BankTransfers"][0]["BankTransferID"], id);
    assert_eq!(t.sim.bank_transfers(NZ).len(), 1);
    // "This endpoint does not return ... transfers between bank accounts."
    let listed = t.get("/BankTransactions").await;
    assert_eq!(listed.json["BankTransactions"], json!([]));
    assert_eq!(
        t.get(&format!("/BankTransactions/{from_side}"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn transfers_xero_refuses_are_refused_element_by_element_and_nothing_moves() {
    let t = start();
    let cases = [
        (
            json!({"ToBankAccount": {"Code": "090"}, "Amount": 5}),
            "A FromBankAccount must be specified",
        ),
        (
            transfer("090", "999", json!(5), "x"),
            "The ToBankAccount specified could not be found.",
        ),
        (
            transfer("615", "090", json!(5), "x"),
            "The FromBankAccount must be an account of type BANK; account code '615' is of type CURRENT.",
        ),
        (
            transfer("090", "090", json!(5), "x"),
            "must be different accounts",
        ),
        (
            transfer("090", "615", json!(0), "x"),
            "must be an account of type BANK",
        ),
        (
            json!({"FromBankAccount": {"Code": "090"}, "ToBankAccount": {"AccountID": "00000000-0000-0000-0000-000000000001"}, "Amount": 5}),
            "The ToBankAccount specified could not be found.",
        ),
    ];
    let amounts = [
        (json!(0), "must be greater than zero"),
        (json!(-5), "must be greater than zero"),
        (json!(10.005), "at most 2 decimal places"),
        (json!("ten"), "Amount must be a number."),
        (Value::Null, "must be specified"),
    ];
    let mut bodies: Vec<(Value, &str)> = cases.into_iter().collect();
    // The accounts are good and named by AccountID: each of these fails on its amount alone.
    let to_id =
        t.get("/Accounts?where=Code==\"091\"").await.json["Accounts"][0]["AccountID"].clone();
    for (amount, message) in amounts {
        let mut body =
            json!({"FromBankAccount": {"Code": "090"}, "ToBankAccount": {"AccountID": to_id}});
        if !amount.is_null() {
            body["Amount"] = amount;
        }
        bodies.push((body, message));
    }
    let elements: Vec<Value> = bodies.iter().map(|(b, _)| b.clone()).collect();
    let answer = t
        .put(
            "/BankTransfers?summarizeErrors=false",
            &json!({"BankTransfers": elements}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    for ((body, expected), got) in bodies.iter().zip(messages(&answer, "BankTransfers")) {
        assert!(
            got.contains(expected),
            "{body}: expected {expected:?}, got {got:?}"
        );
    }
    for element in answer.json["BankTransfers"].as_array().unwrap() {
        assert_eq!(element["StatusAttributeString"], "ERROR");
    }
    assert!(t.sim.bank_transfers(NZ).is_empty());
    assert_eq!(balance(&t, "090"), dec("0.00"));

    // Summarised (the default): 400 ValidationException in Xero's shape.
    let answer = t
        .put(
            "/BankTransfers",
            &json!({"BankTransfers": [transfer("090", "090", json!(5), "x")]}),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["Type"], "ValidationException");
    assert!(
        answer
            .first_error()
            .unwrap()
            .contains("must be different accounts")
    );

    assert!(t.sim.set_account_status(NZ, "091", "ARCHIVED"));
    let archived = t
        .put(
            "/BankTransfers",
            &json!({"BankTransfers": [transfer("090", "091", json!(5), "x")]}),
        )
        .await;
    assert_eq!(
        archived.first_error(),
        Some("Account code '091' has been archived, or has been deleted.")
    );
}

#[tokio::test]
async fn a_transfer_between_currencies_would_not_balance_and_is_refused() {
    let t = start();
    let tenant = t
        .sim
        .add_organisation(json!({
            "Name": "Two Banks", "BaseCurrency": "NZD", "Currencies": ["USD"],
            "Accounts": [
                {"Code": "090", "Name": "NZD Bank", "Type": "BANK"},
                {"Code": "095", "Name": "USD Bank", "Type": "BANK", "CurrencyCode": "USD"},
                {"Code": "096", "Name": "USD Savings", "Type": "BANK", "CurrencyCode": "USD"},
            ],
        }))
        .expect("the organisation is valid");
    let token = t
        .sim
        .issue_tokens(DEMO_APP_CLIENT_ID, &[tenant])
        .unwrap()
        .access_token;
    let put = |body: Value| {
        t.http
            .put(t.url("/BankTransfers"))
            .bearer_auth(&token)
            .header("xero-tenant-id", tenant.to_string())
            .json(&body)
            .send()
    };
    let refused = read(
        put(json!({"BankTransfers": [transfer("090", "095", json!(10), "fx")]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused
            .first_error()
            .unwrap()
            .contains("different currencies (NZD to USD)")
    );
    let same = read(
        put(json!({"BankTransfers": [transfer("095", "096", json!(10), "usd")]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(same.status, 200, "{}", same.text);
    assert_eq!(t.sim.account_balance(tenant, "095"), Some(dec("-10.00")));
    assert_eq!(t.sim.account_balance(tenant, "096"), Some(dec("10.00")));
}

#[tokio::test]
async fn transfers_are_filtered_by_where_and_sorted_by_order() {
    let t = start();
    let batch: Vec<Value> = [("A", 30), ("B", 10), ("C", 20)]
        .iter()
        .map(|(r, a)| transfer("090", "091", json!(a), r))
        .collect();
    assert_eq!(
        t.put("/BankTransfers", &json!({"BankTransfers": batch}))
            .await
            .status,
        200
    );
    let refs = |answer: &Answer| -> Vec<String> {
        answer.json["BankTransfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Reference"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_ref = t.get("/BankTransfers?where=Reference==\"b\"").await;
    assert_eq!(refs(&by_ref), ["B"]);
    let by_amount = t.get("/BankTransfers?where=Amount>15").await;
    assert_eq!(refs(&by_amount), ["A", "C"]);
    let both = t
        .get("/BankTransfers?where=Amount>=10%20AND%20Reference!=\"A\"&order=Amount%20DESC")
        .await;
    assert_eq!(refs(&both), ["C", "B"]);
    let ascending = t.get("/BankTransfers?order=Amount").await;
    assert_eq!(refs(&ascending), ["B", "C", "A"]);
    let by_account = t
        .get("/BankTransfers?where=FromBankAccount.Code==\"090\"&order=Reference%20DESC")
        .await;
    assert_eq!(refs(&by_account), ["C", "B", "A"]);
    let bad = t.get("/BankTransfers?order=Amount%20SIDEWAYS").await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}

#[tokio::test]
async fn a_deleted_transfer_gives_the_money_back_and_leaves_the_list() {
    let t = start();
    let made = t
        .put(
            "/BankTransfers",
            &json!({"BankTransfers": [transfer("090", "091", json!(25), "D")]}),
        )
        .await;
    let id = made.json["BankTransfers"][0]["BankTransferID"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = t
        .post(
            &format!("/BankTransfers/{id}"),
            &json!({"Status": "AUTHORISED"}),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(
        wrong.first_error(),
        Some("Bank transfers can only be updated to a status of DELETED.")
    );
    let deleted = t
        .post(
            &format!("/BankTransfers/{id}"),
            &json!({"Status": "DELETED"}),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json["BankTransfers"][0]["Status"], "DELETED");
    assert_eq!(balance(&t, "090"), dec("0.00"));
    assert_eq!(balance(&t, "091"), dec("0.00"));
    assert_eq!(
        t.get("/BankTransfers").await.json["BankTransfers"],
        json!([])
    );
    let with_deleted = t.get("/BankTransfers?includeDeleted=true").await;
    assert_eq!(with_deleted.json["BankTransfers"][0]["Status"], "DELETED");
    let again = t
        .post(
            "/BankTransfers",
            &json!({"BankTransfers": [{"BankTransferID": id, "Status": "DELETED"}]}),
        )
        .await;
    assert_eq!(
        again.first_error(),
        Some("This bank transfer has already been deleted.")
    );

    let reconciled = t
        .put(
            "/BankTransfers",
            &json!({"BankTransfers": [{
            "FromBankAccount": {"Code": "090"}, "ToBankAccount": {"Code": "091"},
            "Amount": 5, "FromIsReconciled": true, "ToIsReconciled": true}]}),
        )
        .await;
    assert_eq!(reconciled.json["BankTransfers"][0]["ToIsReconciled"], true);
    let rid = reconciled.json["BankTransfers"][0]["BankTransferID"]
        .as_str()
        .unwrap();
    let kept = t
        .post(
            &format!("/BankTransfers/{rid}"),
            &json!({"Status": "DELETED"}),
        )
        .await;
    assert_eq!(
        kept.first_error(),
        Some("This bank transfer cannot be deleted as it has been reconciled.")
    );
    assert_eq!(
        t.post(
            "/BankTransfers/00000000-0000-0000-0000-000000000009",
            &json!({"Status": "DELETED"})
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn a_transfer_sent_twice_with_one_idempotency_key_is_made_once() {
    let t = start();
    let body = json!({"BankTransfers": [transfer("090", "091", json!(12.5), "once")]});
    let first = t
        .send(Method::PUT, "/BankTransfers", NZ, &body, Some("payout-7"))
        .await;
    let second = t
        .send(Method::PUT, "/BankTransfers", NZ, &body, Some("payout-7"))
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.json["BankTransfers"][0]["BankTransferID"],
        second.json["BankTransfers"][0]["BankTransferID"]
    );
    assert_eq!(t.sim.bank_transfers(NZ).len(), 1);
    assert_eq!(balance(&t, "091"), dec("12.50"));
}

#[tokio::test]
async fn spend_and_receive_money_are_taxed_per_line_as_invoices_are() {
    let t = start();
    let answer = t
        .put(
            "/BankTransactions",
            &json!({"BankTransactions": [
                money("SPEND", "090", "404", "INPUT2", "Exclusive", "10.00"),
                money("SPEND", "090", "404", "INPUT2", "Inclusive", "11.50"),
                money("SPEND", "090", "404", "INPUT2", "NoTax", "4.00"),
                money("RECEIVE", "090", "260", "OUTPUT2", "Inclusive", "115.00"),
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let made = answer.json["BankTransactions"].as_array().unwrap();
    let totals: Vec<(f64, f64, f64)> = made
        .iter()
        .map(|x| {
            (
                x["SubTotal"].as_f64().unwrap(),
                x["TotalTax"].as_f64().unwrap(),
                x["Total"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        [
            (10.0, 1.5, 11.5),
            (10.0, 1.5, 11.5),
            (4.0, 0.0, 4.0),
            (100.0, 15.0, 115.0)
        ]
    );
    assert_eq!(made[0]["Status"], "AUTHORISED");
    assert_eq!(made[0]["Type"], "SPEND");
    assert_eq!(made[0]["BankAccount"]["Code"], "090");
    assert_eq!(made[0]["CurrencyCode"], "NZD");
    assert_eq!(made[0]["Contact"]["Name"], "Shopify");
    assert_eq!(made[0]["LineItems"][0]["TaxAmount"].as_f64(), Some(1.5));
    assert_eq!(made[2]["LineItems"][0]["TaxType"], "INPUT2");
    assert!(
        answer.text.contains("\"Total\":11.50"),
        "money prints with two decimals"
    );
    // 115.00 in, 11.50 + 11.50 + 4.00 out.
    assert_eq!(balance(&t, "090"), dec("88.00"));
    assert_eq!(t.sim.bank_transactions(NZ).len(), 4);
    let id = made[3]["BankTransactionID"].as_str().unwrap();
    let one = t.get(&format!("/BankTransactions/{id}")).await;
    assert_eq!(
        one.json["BankTransactions"][0]["LineItems"][0]["AccountCode"],
        "260"
    );
}

#[tokio::test]
async fn bank_transactions_xero_refuses_are_refused() {
    let t = start();
    let base = money("SPEND", "090", "404", "INPUT2", "Exclusive", "10.00");
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value;
        }
        body
    };
    let line = |extra: Value| {
        let mut line = base["LineItems"][0].clone();
        for (k, v) in extra.as_object().unwrap() {
            line[k] = v.clone();
        }
        with("LineItems", json!([line]))
    };
    let cases = [
        (
            with("BankAccount", json!({"Code": "615"})),
            "The BankAccount must be an account of type BANK; account code '615' is of type CURRENT.",
        ),
        (
            with("BankAccount", Value::Null),
            "A BankAccount must be specified",
        ),
        (
            with("Contact", Value::Null),
            "A Contact must be specified for this type of transaction",
        ),
        (
            with("LineItems", json!([])),
            "One or more line items must be specified",
        ),
        (
            with("Type", Value::Null),
            "Bank Transaction Type must be specified.",
        ),
        (
            with("Type", json!("SPEND-PREPAYMENT")),
            "not supported by the simulator",
        ),
        (
            with("Type", json!("RECEIVE-OVERPAYMENT")),
            "not supported by the simulator",
        ),
        (with("Type", json!("SPEND-TRANSFER")), "PUT /BankTransfers"),
        (
            with("Type", json!("PAY")),
            "'PAY' is not a valid Bank Transaction type.",
        ),
        (
            with("Status", json!("DRAFT")),
            "Bank Transaction not of valid status for creation",
        ),
        (
            with("CurrencyCode", json!("USD")),
            "Setting currency is only supported on overpayments",
        ),
        (
            line(json!({"AccountCode": "091"})),
            "Account code '091' is not a valid code for this document.",
        ),
        (
            line(json!({"AccountCode": "299"})),
            "has been archived, or has been deleted",
        ),
        (
            line(json!({"TaxType": "OUTPUT2"})),
            "The TaxType code 'OUTPUT2' cannot be used with account code '404'.",
        ),
        (
            line(json!({"TaxAmount": 1.49})),
            "Tax amount 1.49 is incorrect for INPUT2 tax type, should be 1.50",
        ),
        (
            line(json!({"DiscountRate": 10})),
            "Discounts are only supported on ACCREC invoices.",
        ),
    ];
    let elements: Vec<Value> = cases.iter().map(|(b, _)| b.clone()).collect();
    let answer = t
        .put(
            "/BankTransactions?summarizeErrors=false",
            &json!({"BankTransactions": elements}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    for ((body, expected), got) in cases.iter().zip(messages(&answer, "BankTransactions")) {
        assert!(
            got.contains(expected),
            "{body}: expected {expected:?}, got {got:?}"
        );
    }
    assert!(t.sim.bank_transactions(NZ).is_empty());
    assert_eq!(balance(&t, "090"), dec("0.00"));
    assert!(
        t.sim.contacts(NZ).iter().all(|c| c["Name"] != "Shopify"),
        "a refused transaction creates no contact"
    );
}

#[tokio::test]
async fn a_bank_transaction_is_updated_and_deleted_by_post_and_a_deleted_one_stays_deleted() {
    let t = start();
    let made = t
        .put("/BankTransactions", &json!({"BankTransactions": [money("SPEND", "090", "404", "INPUT2", "Exclusive", "10.00")]}))
        .await;
    let id = made.json["BankTransactions"][0]["BankTransactionID"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(balance(&t, "090"), dec("-11.50"));

    let updated = t
        .post("/BankTransactions", &json!({"BankTransactions": [{
            "BankTransactionID": id, "Reference": "Payout 43",
            "LineItems": [{"Description": "Fees", "Quantity": 2, "UnitAmount": 10, "AccountCode": "404", "TaxType": "INPUT2"}]}]}))
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        updated.json["BankTransactions"][0]["Reference"],
        "Payout 43"
    );
    assert_eq!(
        updated.json["BankTransactions"][0]["Total"].as_f64(),
        Some(23.0)
    );
    assert_eq!(balance(&t, "090"), dec("-23.00"));
    let retyped = t
        .post(
            &format!("/BankTransactions/{id}"),
            &json!({"Type": "RECEIVE"}),
        )
        .await;
    assert_eq!(
        retyped.first_error(),
        Some("The Type of a bank transaction cannot be changed.")
    );

    let deleted = t
        .post(
            &format!("/BankTransactions/{id}"),
            &json!({"Status": "DELETED"}),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.json["BankTransactions"][0]["Status"], "DELETED");
    assert_eq!(balance(&t, "090"), dec("0.00"));
    let after = t
        .post(
            &format!("/BankTransactions/{id}"),
            &json!({"Reference": "again"}),
        )
        .await;
    assert_eq!(
        after.first_error(),
        Some("Bank Transaction not of valid status for modification")
    );
    let listed = t.get("/BankTransactions?where=Status==\"DELETED\"").await;
    assert_eq!(listed.json["BankTransactions"].as_array().unwrap().len(), 1);

    let mut reconciled = money("RECEIVE", "090", "260", "OUTPUT2", "Inclusive", "23.00");
    reconciled["IsReconciled"] = json!(true);
    let made = t
        .put(
            "/BankTransactions",
            &json!({"BankTransactions": [reconciled]}),
        )
        .await;
    let rid = made.json["BankTransactions"][0]["BankTransactionID"]
        .as_str()
        .unwrap();
    let kept = t
        .post(
            &format!("/BankTransactions/{rid}"),
            &json!({"Status": "DELETED"}),
        )
        .await;
    assert_eq!(
        kept.first_error(),
        Some("This Bank Transaction cannot be edited as it has been reconciled.")
    );
    let dup = t
        .put(
            "/BankTransactions",
            &json!({"BankTransactions": [{"BankTransactionID": rid}]}),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(
        t.post(
            "/BankTransactions/00000000-0000-0000-0000-000000000009",
            &json!({})
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn bank_transactions_page_by_100_with_line_items_and_filter_by_where() {
    let t = start();
    let batch: Vec<Value> = (0..105)
        .map(|i| {
            let kind = if i % 5 == 0 { "RECEIVE" } else { "SPEND" };
            let account = if kind == "RECEIVE" { "260" } else { "404" };
            let tax = if kind == "RECEIVE" {
                "OUTPUT2"
            } else {
                "INPUT2"
            };
            money(kind, "090", account, tax, "Inclusive", "1.15")
        })
        .collect();
    let made = t
        .put("/BankTransactions", &json!({"BankTransactions": batch}))
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let all = t.get("/BankTransactions").await;
    let all = all.json["BankTransactions"].as_array().unwrap().clone();
    assert_eq!(all.len(), 105);
    assert!(
        all[0].get("LineItems").is_none(),
        "unpaged lists come without line items"
    );
    let page2 = t.get("/BankTransactions?page=2").await;
    assert_eq!(page2.json["BankTransactions"].as_array().unwrap().len(), 5);
    assert_eq!(
        page2.json["pagination"],
        json!({"page": 2, "pageSize": 100, "pageCount": 2, "itemCount": 105})
    );
    assert_eq!(
        page2.json["BankTransactions"][0]["LineItems"][0]["LineAmount"].as_f64(),
        Some(1.15)
    );
    let receives = t
        .get("/BankTransactions?where=Type==\"RECEIVE\"&page=1")
        .await;
    assert_eq!(receives.json["pagination"]["itemCount"], 21);
    let by_contact = t
        .get("/BankTransactions?where=Contact.Name==\"Shopify\"%20AND%20Total==1.15")
        .await;
    assert_eq!(
        by_contact.json["BankTransactions"]
            .as_array()
            .unwrap()
            .len(),
        105
    );
    // 21 × 1.15 in, 84 × 1.15 out.
    assert_eq!(balance(&t, "090"), dec("-72.45"));
}

#[tokio::test]
async fn a_clearing_account_empties_when_fees_are_spent_and_the_payout_is_transferred() {
    let t = start();
    // 115.00 paid into a BANK-type clearing account (091), as a payout processor's holding
    // account; 615, a CURRENT account with payments enabled, takes payments but no transfers.
    let invoice = t.authorised_invoice("SH-1").await;
    let paid = t
        .put("/Payments", &json!({"Payments": [
            {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "091"}, "Amount": 80},
            {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "615"}, "Amount": 35},
        ]}))
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(balance(&t, "091"), dec("80.00"));
    assert_eq!(balance(&t, "615"), dec("35.00"));

    let fee = t
        .put(
            "/BankTransactions",
            &json!({"BankTransactions": [
                money("SPEND", "091", "405", "INPUT2", "Inclusive", "3.45"),
                money("RECEIVE", "091", "260", "OUTPUT2", "Inclusive", "1.15"),
            ]}),
        )
        .await;
    assert_eq!(fee.status, 200, "{}", fee.text);
    assert_eq!(balance(&t, "091"), dec("77.70"));

    let from_clearing = t
        .put(
            "/BankTransfers",
            &json!({"BankTransfers": [transfer("615", "090", json!(35), "P-1")]}),
        )
        .await;
    assert_eq!(from_clearing.status, 400);
    let payout = t
        .put(
            "/BankTransfers",
            &json!({"BankTransfers": [transfer("091", "090", json!(77.70), "P-2")]}),
        )
        .await;
    assert_eq!(payout.status, 200, "{}", payout.text);
    assert_eq!(balance(&t, "091"), dec("0.00"));
    assert_eq!(balance(&t, "090"), dec("77.70"));
    assert_eq!(t.sim.account_balance(NZ, "nope"), None);
}

#[tokio::test]
async fn bank_endpoints_need_a_bank_transactions_scope() {
    let t = start();
    let narrow = t
        .sim
        .issue_tokens_with_scope(
            DEMO_APP_CLIENT_ID,
            &[NZ],
            "accounting.invoices accounting.payments",
        )
        .unwrap()
        .access_token;
    let answer = t
        .http
        .get(t.url("/BankTransfers"))
        .bearer_auth(&narrow)
        .header("xero-tenant-id", NZ.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let reading = t
        .sim
        .issue_tokens_with_scope(
            DEMO_APP_CLIENT_ID,
            &[NZ],
            "accounting.banktransactions.read",
        )
        .unwrap()
        .access_token;
    let get = |path: &str| {
        t.http
            .request(Method::GET, t.url(path))
            .bearer_auth(&reading)
            .header("xero-tenant-id", NZ.to_string())
            .send()
    };
    assert_eq!(
        get("/BankTransactions").await.unwrap().status().as_u16(),
        200
    );
    let write = t
        .http
        .put(t.url("/BankTransfers"))
        .bearer_auth(&reading)
        .header("xero-tenant-id", NZ.to_string())
        .json(&json!({"BankTransfers": [transfer("090", "091", json!(1), "r")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status().as_u16(), 401);
}

#[tokio::test]
async fn money_received_in_the_bank_coded_to_a_payments_enabled_account_takes_it_out_of_that_account()
 {
    let t = start();
    // 615 (CURRENT, payments enabled) holds 100.00 of a customer's payment, as a clearing
    // account the payouts empty without being a BANK account.
    let invoice = t.authorised_invoice("SH-2").await;
    let paid = t
        .put("/Payments", &json!({"Payments": [
            {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "615"}, "Amount": 100},
        ]}))
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(balance(&t, "615"), dec("100.00"));
    // The payout: money received in 090 coded to 615 (untaxed), and a fee spent from 090
    // coded to 405 with GST inside it (11.50 = 10.00 + 1.50).
    let made = t
        .put(
            "/BankTransactions",
            &json!({"BankTransactions": [
                money("RECEIVE", "090", "615", "NONE", "NoTax", "80.00"),
                money("SPEND", "090", "405", "INPUT2", "Inclusive", "11.50"),
            ]}),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(balance(&t, "615"), dec("20.00"));
    assert_eq!(balance(&t, "090"), dec("68.50"));
    // The coded account moves by the amount before tax; the tax is not the expense's.
    assert_eq!(balance(&t, "405"), dec("10.00"));
    // A spend coded to 615 puts money back into it.
    let back = t
        .put(
            "/BankTransactions",
            &json!({"BankTransactions": [money("SPEND", "090", "615", "NONE", "NoTax", "5.00")]}),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(balance(&t, "615"), dec("25.00"));
    assert_eq!(balance(&t, "090"), dec("63.50"));
    // Deleted, a transaction's lines no longer count.
    let id = back.json["BankTransactions"][0]["BankTransactionID"]
        .as_str()
        .expect("an id")
        .to_owned();
    let deleted = t
        .post(
            &format!("/BankTransactions/{id}"),
            &json!({"Status": "DELETED"}),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(balance(&t, "615"), dec("20.00"));
    // A line coded to a BANK account is refused: money between bank accounts is a transfer.
    let to_bank = t
        .put(
            "/BankTransactions",
            &json!({"BankTransactions": [money("RECEIVE", "090", "091", "NONE", "NoTax", "5.00")]}),
        )
        .await;
    assert_eq!(to_bank.status, 400, "{}", to_bank.text);
    assert!(
        to_bank
            .text
            .contains("Account code '091' is not a valid code"),
        "{}",
        to_bank.text
    );
    assert_eq!(balance(&t, "091"), dec("0.00"));
}

#[tokio::test]
async fn a_bill_takes_the_tax_a_supplier_states_on_its_lines() {
    let t = start();
    // An Etsy fees bill: 2.30 of fees with 0.30 GST stated, and an untaxed fee.
    let bill = json!({
        "Type": "ACCPAY", "Contact": {"Name": "Etsy Payments"}, "Date": "2026-11-20",
        "DueDate": "2026-11-20", "InvoiceNumber": "ET-PO-1", "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {"Description": "Listing fees", "Quantity": "1", "UnitAmount": "2.00",
             "AccountCode": "405", "TaxType": "INPUT2", "TaxAmount": "0.30"},
            {"Description": "Reserve", "Quantity": "1", "UnitAmount": "-1.00",
             "AccountCode": "404", "TaxType": "NONE", "TaxAmount": "0"},
        ],
    });
    let answer = t.put("/Invoices", &json!({"Invoices": [bill]})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let made = &answer.json["Invoices"][0];
    assert_eq!(made["TotalTax"], 0.30, "{made}");
    assert_eq!(made["Total"], 1.30, "{made}");
    assert_eq!(made["LineItems"][0]["TaxAmount"], 0.30, "{made}");
}
