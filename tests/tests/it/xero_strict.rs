//! The processor on the strict simulator's readings of Xero's rules (issue 17, "Document numbers
//! and statuses" and the refusals): an order booked, voided and booked again gets a number Xero
//! accepts; payments made before a lost answer are recovered when Xero's answers leave out
//! `Payments`, their `Reference` or the `PaymentID`; archived contacts and accounts dead-letter
//! with a reason that says what to do; large writes are split within Xero's limits.

use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_processor::xero::documents::{MAX_ELEMENTS_PER_REQUEST, MAX_REQUEST_BYTES};
use xcs_processor::xero::types::{AccountRef, Payment, PaymentTarget};
use xcs_shared::{Envelope, EventKind, Platform};
use xcs_tests::fixtures;
use xcs_tests::processor::{
    Rig, SHOP, TestProcessor, envelope, invoices_numbered, payments_on, publish_envelope,
    wait_handled,
};
use xcs_xero_sim::{DEMO_APP_CLIENT_ID, DEMO_NZ_TENANT_ID, Fault, FaultKind, Readings};

const HANDLED: Duration = Duration::from_secs(40);

/// Publishes a Shopify order event as received `received_at`.
async fn order(rig: &Rig, event_id: &str, topic: &str, body: &[u8], received_at: &str) {
    let envelope = Envelope {
        received_at: received_at.to_owned(),
        ..envelope(Platform::Shopify, SHOP, EventKind::Order, topic, event_id)
    };
    publish_envelope(&rig.broker, &envelope, body).await;
}

/// A call to the simulator's API as someone working in Xero would make it.
async fn by_hand(rig: &Rig, method: Method, path: &str, body: &Value) -> Value {
    let token = rig
        .sim
        .issue_tokens(DEMO_APP_CLIENT_ID, &[DEMO_NZ_TENANT_ID])
        .unwrap()
        .access_token;
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .request(method, format!("{}{path}", rig.sim.base_url()))
        .bearer_auth(token)
        .header("xero-tenant-id", DEMO_NZ_TENANT_ID.to_string())
        .header("Accept", "application/json")
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn an_order_voided_and_booked_again_gets_a_new_number_and_one_live_invoice() {
    let setup = Rig::new().await;
    let processor = TestProcessor::start(&setup.config("")).await;
    let unpaid = fixtures::shopify_nz_order(5101, 1101, false);
    let before_cancel = now();
    order(
        &setup,
        "shopify:nz-shopify:c-1101",
        "orders/create",
        &unpaid,
        &before_cancel,
    )
    .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:c-1101", HANDLED).await;
    order(
        &setup,
        "shopify:nz-shopify:x-1101",
        "orders/cancelled",
        &fixtures::shopify_cancelled(&unpaid),
        &now(),
    )
    .await;
    let (_, detail) = wait_handled(&setup.schema, "shopify:nz-shopify:x-1101", HANDLED).await;
    assert!(detail.contains("voided"), "{detail}");

    // An update sent before the cancellation and delivered after it books nothing.
    let paid = fixtures::shopify_nz_order(5101, 1101, true);
    order(
        &setup,
        "shopify:nz-shopify:u-1101",
        "orders/updated",
        &paid,
        &before_cancel,
    )
    .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:u-1101", HANDLED).await;
    assert!(invoices_numbered(&setup.sim, "SH-1101/B2").is_empty());

    // The order reinstated and paid: booked again under the next number Xero accepts; the
    // same event again (and the platform's echo of it) books nothing more.
    let reinstated = now();
    for event in ["p-1101", "p-1101", "e-1101"] {
        let event_id = format!("shopify:nz-shopify:{event}");
        order(&setup, &event_id, "orders/paid", &paid, &reinstated).await;
        let (outcome, detail) = wait_handled(&setup.schema, &event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
    }
    let first = invoices_numbered(&setup.sim, "SH-1101");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["Status"], "VOIDED");
    let again = invoices_numbered(&setup.sim, "SH-1101/B2");
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(again[0]["Status"], "PAID");
    assert_eq!(payments_on(&setup.sim, &again[0]).len(), 1);
    let live: Vec<Value> = setup
        .sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| i["Reference"] == first[0]["Reference"] && i["Status"] != "VOIDED")
        .collect();
    assert_eq!(live.len(), 1, "{live:#?}");

    // Cancelled again: the live one is voided.
    order(
        &setup,
        "shopify:nz-shopify:x2-1101",
        "orders/cancelled",
        &fixtures::shopify_cancelled(&unpaid),
        &now(),
    )
    .await;
    let (outcome, detail) =
        wait_handled(&setup.schema, "shopify:nz-shopify:x2-1101", HANDLED).await;
    // Paid by then: the refunds book the money back, as for any paid order.
    assert_eq!(outcome, "skipped", "{detail}");
    assert!(detail.contains("SH-1101/B2"), "{detail}");
    processor.stop().await;
}

/// A paid order whose payment Xero makes but whose answer is lost (a 500 after the write): the
/// retry must find the payment, not make it twice, whatever `readings` leaves out.
async fn a_lost_payment_answer_is_recovered(
    readings: Readings,
    lists_carry_payments: bool,
    n: u32,
) {
    let setup = Rig::new().await;
    setup.sim.set_readings(readings);
    setup.sim.set_lists_carry_payments(lists_carry_payments);
    setup.sim.inject_fault(
        Fault::new(FaultKind::ApplyThenStatus { status: 500 })
            .method("PUT")
            .path_prefix("/api.xro/2.0/Payments"),
    );
    let processor = TestProcessor::start(&setup.config("")).await;
    let event_id = format!("shopify:nz-shopify:p-{n}");
    order(
        &setup,
        &event_id,
        "orders/paid",
        &fixtures::shopify_nz_order(5000 + u64::from(n), u64::from(n), true),
        &now(),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let invoice = &invoices_numbered(&setup.sim, &format!("SH-{n}"))[0];
    assert_eq!(invoice["Status"], "PAID");
    assert_eq!(payments_on(&setup.sim, invoice).len(), 1, "paid once");
    processor.stop().await;
}

#[tokio::test]
async fn a_lost_payment_is_recovered_when_lists_leave_payments_out() {
    a_lost_payment_answer_is_recovered(Readings::default(), false, 1111).await;
}

#[tokio::test]
async fn a_lost_payment_is_recovered_when_documents_leave_references_out() {
    let readings = Readings {
        document_payments_carry_reference: false,
        ..Readings::default()
    };
    a_lost_payment_answer_is_recovered(readings, true, 1112).await;
}

#[tokio::test]
async fn a_lost_payment_is_recovered_with_every_field_left_out() {
    a_lost_payment_answer_is_recovered(Readings::strict(), false, 1113).await;
}

#[tokio::test]
async fn a_payment_answered_without_its_id_is_recorded_under_the_id_xero_has() {
    let setup = Rig::new().await;
    setup.sim.set_readings(Readings {
        payment_answers_carry_id: false,
        ..Readings::default()
    });
    let processor = TestProcessor::start(&setup.config("")).await;
    order(
        &setup,
        "shopify:nz-shopify:p-1114",
        "orders/paid",
        &fixtures::shopify_nz_order(5114, 1114, true),
        &now(),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, "shopify:nz-shopify:p-1114", HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let invoice = &invoices_numbered(&setup.sim, "SH-1114")[0];
    let payments = payments_on(&setup.sim, invoice);
    assert_eq!(payments.len(), 1);
    let recorded: String = setup
        .schema
        .client()
        .await
        .query_one(
            "SELECT xero_id FROM xcs_payments WHERE doc_key = 'invoice:SH-1114'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, payments[0]["PaymentID"].as_str().unwrap());
    processor.stop().await;
}

#[tokio::test]
async fn an_archived_shop_contact_dead_letters_naming_it_and_the_way_out() {
    let setup = Rig::new().await;
    let processor = TestProcessor::start(&setup.config("")).await;
    order(
        &setup,
        "shopify:nz-shopify:p-1121",
        "orders/paid",
        &fixtures::shopify_nz_order(5121, 1121, true),
        &now(),
    )
    .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:p-1121", HANDLED).await;
    let contact = invoices_numbered(&setup.sim, "SH-1121")[0]["Contact"]["ContactID"]
        .as_str()
        .unwrap()
        .to_owned();
    by_hand(
        &setup,
        Method::POST,
        &format!("/Contacts/{contact}"),
        &json!({"Contacts": [{"ContactStatus": "ARCHIVED"}]}),
    )
    .await;

    order(
        &setup,
        "shopify:nz-shopify:p-1122",
        "orders/paid",
        &fixtures::shopify_nz_order(5122, 1122, true),
        &now(),
    )
    .await;
    let dead = setup.broker.one_dead_letter(HANDLED).await;
    assert_eq!(dead.header("xcs-reason"), Some("xero_contact_archived"));
    let error = dead.header("xcs-last-error").unwrap_or_default();
    assert!(
        error.contains("Shopify Sales") && error.contains(&contact) && error.contains("Restore"),
        "{:#?}",
        dead.headers
    );
    // No second contact of the same name behind the seller's back.
    let named: Vec<Value> = setup
        .sim
        .contacts(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| c["Name"] == "Shopify Sales")
        .collect();
    assert_eq!(named.len(), 1, "{named:#?}");
    assert!(invoices_numbered(&setup.sim, "SH-1122").is_empty());
    processor.stop().await;
}

#[tokio::test]
async fn an_archived_sales_account_dead_letters_naming_it_and_the_way_out() {
    let setup = Rig::new().await;
    let processor = TestProcessor::start(&setup.config("")).await;
    assert!(
        setup
            .sim
            .set_account_status(DEMO_NZ_TENANT_ID, "200", "ARCHIVED")
    );
    order(
        &setup,
        "shopify:nz-shopify:p-1123",
        "orders/paid",
        &fixtures::shopify_nz_order(5123, 1123, true),
        &now(),
    )
    .await;
    let dead = setup.broker.one_dead_letter(HANDLED).await;
    assert_eq!(dead.header("xcs-reason"), Some("xero_account_archived"));
    let error = dead.header("xcs-last-error").unwrap_or_default();
    assert!(
        error.contains("account 200 is archived") && error.contains("Chart of accounts"),
        "{:#?}",
        dead.headers
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_settle_of_many_payments_and_large_invoices_is_split_within_xeros_limits() {
    let setup = Rig::new().await;
    let xero = setup.xero(&setup.config(""));
    let tenant = DEMO_NZ_TENANT_ID.to_string();
    // 120 invoices of 1.00, made by hand, then paid in one settle call.
    let invoices: Vec<Value> = (0..120)
        .map(|n| {
            json!({"Type": "ACCREC", "Contact": {"Name": "Big Settle"}, "Status": "AUTHORISED",
                   "InvoiceNumber": format!("BIG-{n}"), "Date": "2026-11-20",
                   "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1,
                                  "AccountCode": "200", "TaxType": "NONE"}]})
        })
        .collect();
    let mut ids = Vec::new();
    for chunk in invoices.chunks(50) {
        let made = by_hand(
            &setup,
            Method::PUT,
            "/Invoices?summarizeErrors=false",
            &json!({"Invoices": chunk}),
        )
        .await;
        ids.extend(
            made["Invoices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["InvoiceID"].as_str().unwrap().to_owned()),
        );
    }
    let payments: Vec<Payment> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| Payment {
            target: PaymentTarget::Invoice {
                invoice_id: id.clone(),
            },
            account: AccountRef { code: "615".into() },
            date: "2026-11-20".into(),
            amount: Decimal::ONE,
            reference: format!("settle {n}"),
        })
        .collect();
    let seq = setup.sim.journal().last().map_or(0, |e| e.seq);
    let made = xero.put_payments(&tenant, 1, &payments).await.unwrap();
    assert!(made.iter().all(Result::is_ok), "{made:?}");
    assert_eq!(setup.sim.payments(DEMO_NZ_TENANT_ID).len(), 120);

    let puts: Vec<_> = setup
        .sim
        .journal_after(seq)
        .into_iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with("/Payments"))
        .collect();
    assert_eq!(puts.len(), 3);
    for put in &puts {
        assert_eq!(put.status, Some(200));
        let sent = put.body["Payments"].as_array().unwrap().len();
        assert!(sent <= MAX_ELEMENTS_PER_REQUEST, "{sent}");
    }

    // Invoices of about 0.9 MB each (60 lines of 15 kB descriptions): four would be over
    // 3.5 MB, so three go per call, and the simulator (which refuses more) creates them all.
    let long = "d".repeat(15_000);
    let big: Vec<Value> = (0..7)
        .map(|n| {
            let lines: Vec<Value> = (0..60)
                .map(|_| {
                    json!({"Description": long, "Quantity": 1, "UnitAmount": 1,
                                "AccountCode": "200", "TaxType": "NONE"})
                })
                .collect();
            json!({"Type": "ACCREC", "Contact": {"Name": "Big Settle"}, "Status": "AUTHORISED",
                   "InvoiceNumber": format!("HUGE-{n}"), "Date": "2026-11-20",
                   "Reference": format!("huge {n}"), "LineItems": lines})
        })
        .collect();
    let numbers: Vec<String> = (0..7).map(|n| format!("HUGE-{n}")).collect();
    let references: Vec<String> = (0..7).map(|n| format!("huge {n}")).collect();
    let drafts: Vec<xcs_processor::xero::documents::Draft<'_>> = big
        .iter()
        .enumerate()
        .map(|(n, body)| xcs_processor::xero::documents::Draft {
            number: &numbers[n],
            body: body.clone(),
            reference: &references[n],
            contact_id: "",
            total: Decimal::new(60, 0),
        })
        .collect();
    let seq = setup.sim.journal().last().map_or(0, |e| e.seq);
    let written = xero
        .put_documents(
            &tenant,
            1,
            xcs_processor::xero::documents::DocumentKind::Invoice,
            &drafts,
        )
        .await
        .unwrap();
    assert!(written.iter().all(Result::is_ok));
    let puts: Vec<_> = setup
        .sim
        .journal_after(seq)
        .into_iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with("/Invoices"))
        .collect();
    assert_eq!(puts.len(), 3, "7 invoices of 0.9 MB: 3, 3 and 1");
    for put in &puts {
        assert_eq!(put.status, Some(200));
        assert!(serde_json::to_vec(&put.body).unwrap().len() <= MAX_REQUEST_BYTES);
    }
}
