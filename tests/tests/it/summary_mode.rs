//! Summary mode end to end: orders and refunds on the real RabbitMQ, the ledger in the real
//! PostgreSQL, and the period's invoice, payments and credit note in the Xero simulator.
//! Periods are closed on demand (`Processor::summary_closer`) at chosen instants, so the test
//! decides when a period has ended; one test lets the background closer do it.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use xcs_processor::operate::ProgressBar;
use xcs_processor::reconcile::{Problem, ReconcileOptions, Report, reconcile};
use xcs_processor::summary::PeriodOutcome;
use xcs_shared::{Envelope, EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, XeroLine, amount, credit_notes_numbered, invoices_numbered, payments_on,
    publish_envelope, test_config, wait_handled,
};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(20);

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// 2026-11-20 14:00 in New Zealand: inside the shop's day of 20 November (+13:00).
const RECEIVED: &str = "2026-11-20T01:00:00Z";
/// The end of that day in New Zealand.
const DAY_END: OffsetDateTime = datetime!(2026-11-21 00:00 +13:00);

/// Publishes as the ingress does, received at `received_at`.
async fn publish_at(
    broker: &TestBroker,
    kind: EventKind,
    topic: &str,
    event_id: &str,
    received_at: &str,
    body: &[u8],
) {
    let envelope = Envelope {
        event_id: event_id.to_owned(),
        platform: Platform::Shopify,
        shop: SHOP.to_owned(),
        tenant: DEMO_NZ_TENANT_ID.to_string(),
        kind,
        topic: topic.to_owned(),
        delivery_id: uuid::Uuid::now_v7().to_string(),
        received_at: received_at.to_owned(),
        source: xcs_shared::Source::Webhook,
    };
    publish_envelope(broker, &envelope, body).await;
}

/// A paid Shopify order. `lines`: (title, quantity, price, discount, tax); tax "0" is an
/// untaxed (zero-rated) line. `shipping`: (price, tax).
fn order(
    id: u64,
    currency: &str,
    taxes_included: bool,
    lines: &[(&str, u32, &str, &str, &str)],
    shipping: Option<(&str, &str)>,
    total: &str,
    total_tax: &str,
) -> Vec<u8> {
    let line_items: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, (title, quantity, price, discount, tax))| {
            let taxed = *tax != "0";
            json!({
                "id": id * 10 + n as u64, "title": title, "sku": null, "quantity": quantity,
                "price": price, "total_discount": discount, "taxable": taxed,
                "tax_lines": if taxed {
                    json!([{"title": "GST", "rate": 0.15, "price": tax}])
                } else {
                    json!([])
                }
            })
        })
        .collect();
    let shipping_lines: Vec<Value> = shipping
        .into_iter()
        .map(|(price, tax)| {
            json!({
                "title": "Courier", "price": price, "discounted_price": price,
                "tax_lines": [{"title": "GST", "rate": 0.15, "price": tax}]
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "id": id,
        "name": format!("#{id}"),
        "order_number": id,
        "email": "aroha@example.co.nz",
        "created_at": "2026-11-20T10:00:00+13:00",
        "processed_at": "2026-11-20T10:00:00+13:00",
        "updated_at": "2026-11-20T10:00:00+13:00",
        "currency": currency,
        "presentment_currency": currency,
        "financial_status": "paid",
        "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"],
        "taxes_included": taxes_included,
        "total_tax": total_tax,
        "total_price": total,
        "line_items": line_items,
        "shipping_lines": shipping_lines,
        "refunds": []
    }))
    .unwrap()
}

/// Exclusive NZD: 2 mugs at 25.00 less 5.00 (GST 6.75), courier 10.00 (GST 1.50): 63.25.
fn order_exclusive() -> Vec<u8> {
    order(
        1001,
        "NZD",
        false,
        &[("Kauri mug", 2, "25.00", "5.00", "6.75")],
        Some(("10.00", "1.50")),
        "63.25",
        "8.25",
    )
}

/// Inclusive NZD: a bowl 46.00 incl. GST 6.00, a zero-rated 5.00 donation, courier 11.50
/// incl. GST 1.50: 62.50.
fn order_inclusive() -> Vec<u8> {
    order(
        1002,
        "NZD",
        true,
        &[
            ("Kauri bowl", 1, "46.00", "0.00", "6.00"),
            ("Donation", 1, "5.00", "0.00", "0"),
        ],
        Some(("11.50", "1.50")),
        "62.50",
        "7.50",
    )
}

/// Exclusive USD: a print at 100.00 plus GST 15.00.
fn order_usd() -> Vec<u8> {
    order(
        1003,
        "USD",
        false,
        &[("Print", 1, "100.00", "0.00", "15.00")],
        None,
        "115.00",
        "15.00",
    )
}

/// One mug of order 1001 back (20.00 + 3.00 GST), refunded to the card.
fn refund_of_1001() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": 7001,
        "order_id": 1001,
        "created_at": "2026-11-20T16:00:00+13:00",
        "processed_at": "2026-11-20T16:00:00+13:00",
        "note": "Chipped",
        "refund_line_items": [{
            "id": 1, "line_item_id": 10010, "quantity": 1,
            "subtotal": "20.00", "total_tax": "3.00",
            "line_item": {"sku": null, "title": "Kauri mug", "price": "25.00"}
        }],
        "transactions": [{
            "id": 99, "kind": "refund", "status": "success", "amount": "23.00",
            "currency": "NZD", "gateway": "shopify_payments",
            "created_at": "2026-11-20T16:00:00+13:00", "processed_at": "2026-11-20T16:00:00+13:00"
        }],
        "order_adjustments": []
    }))
    .unwrap()
}

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: xcs_xero_sim::RunningSim,
}

impl Setup {
    async fn new() -> Self {
        Setup {
            broker: TestBroker::with_topology().await,
            schema: TestSchema::new(),
            sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
        }
    }

    /// The test config with the Shopify shop in daily summary mode in New Zealand time.
    fn config(&self, processing: &str, period: &str) -> String {
        test_config(&self.broker, &self.schema, &self.sim, "")
            .replace("[processing]\n", &format!("[processing]\n{processing}\n"))
            .replacen(
                &format!("[shops.{SHOP}]\n"),
                &format!(
                    "[shops.{SHOP}]\nmode = \"summary\"\nsummary_period = \"{period}\"\n\
                 timezone = \"+13:00\"\n"
                ),
                1,
            )
    }

    async fn closer(&self, config: &str) -> xcs_processor::summary::Closer {
        let config = xcs_processor::config::Config::from_toml(config, |_| None).unwrap();
        xcs_processor::startup::Processor::build(config)
            .await
            .expect("the processor builds")
            .summary_closer()
    }
}

fn posted(closed: &[xcs_processor::summary::ClosedPeriod]) -> Vec<(String, PeriodOutcome)> {
    closed
        .iter()
        .filter_map(|c| match &c.outcome {
            Ok(outcome @ PeriodOutcome::Posted { .. }) => {
                Some((c.currency.clone(), outcome.clone()))
            }
            Ok(_) => None,
            Err(err) => panic!("closing {} {} failed: {err}", c.shop, c.currency),
        })
        .collect()
}

#[tokio::test]
async fn a_days_orders_and_refunds_become_one_invoice_and_one_credit_note_posted_once() {
    let setup = Setup::new().await;
    let config = setup.config(
        "summary_close_every_ms = 0\nsummary_grace_secs = 60",
        "daily",
    );
    let processor = TestProcessor::start(&config).await;
    let events = [
        ("s-1", "orders/paid", order_exclusive()),
        // The same delivery twice, and an echo of the order under another event id.
        ("s-1", "orders/paid", order_exclusive()),
        ("s-1b", "orders/updated", order_exclusive()),
        ("s-2", "orders/paid", order_inclusive()),
        ("s-3", "orders/paid", order_usd()),
    ];
    for (id, topic, body) in &events {
        let event_id = format!("shopify:{SHOP}:{id}");
        publish_at(
            &setup.broker,
            EventKind::Order,
            topic,
            &event_id,
            RECEIVED,
            body,
        )
        .await;
    }
    for id in ["s-1", "s-1b", "s-2", "s-3"] {
        let (outcome, detail) =
            wait_handled(&setup.schema, &format!("shopify:{SHOP}:{id}"), HANDLED).await;
        assert_eq!(outcome, "summarised", "{id}: {detail}");
    }
    // The refund finds its order in the summary (it has no invoice of its own).
    publish_at(
        &setup.broker,
        EventKind::Refund,
        "refunds/create",
        &format!("shopify:{SHOP}:r-1"),
        "2026-11-20T03:00:00Z",
        &refund_of_1001(),
    )
    .await;
    let (outcome, detail) =
        wait_handled(&setup.schema, &format!("shopify:{SHOP}:r-1"), HANDLED).await;
    assert_eq!(outcome, "summarised", "{detail}");
    assert!(detail.contains("20261120"), "{detail}");
    assert!(
        setup.sim.invoices(DEMO_NZ_TENANT_ID).is_empty(),
        "nothing is posted per order"
    );

    // Not before the period ends, nor within the grace after.
    let a = setup.closer(&config).await;
    let b = setup.closer(&config).await;
    for now in [
        DAY_END - time::Duration::SECOND,
        DAY_END + time::Duration::SECOND * 59,
    ] {
        assert!(a.close_due(now).await.unwrap().is_empty(), "at {now}");
    }
    assert!(setup.sim.invoices(DEMO_NZ_TENANT_ID).is_empty());

    // Two processors close at once: each period is posted by one of them.
    let now = DAY_END + time::Duration::MINUTE * 2;
    let (by_a, by_b) = tokio::join!(a.close_due(now), b.close_due(now));
    let mut all = posted(&by_a.unwrap());
    all.extend(posted(&by_b.unwrap()));
    all.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        all,
        [
            (
                "NZD".to_owned(),
                PeriodOutcome::Posted {
                    invoice: Some("SH-S-20261120".into()),
                    credit_note: Some("SH-S-20261120-CR".into()),
                }
            ),
            (
                "USD".to_owned(),
                PeriodOutcome::Posted {
                    invoice: Some("SH-S-20261120-USD".into()),
                    credit_note: None,
                }
            ),
        ]
    );
    // Closing again posts nothing.
    assert!(posted(&a.close_due(now).await.unwrap()).is_empty());

    let invoices = invoices_numbered(&setup.sim, "SH-S-20261120");
    assert_eq!(invoices.len(), 1, "one invoice for the day");
    let invoice = &invoices[0];
    assert_eq!(invoice["Type"], "ACCREC");
    assert_eq!(invoice["CurrencyCode"], "NZD");
    assert_eq!(invoice["Contact"]["Name"], "Shopify Sales");
    assert_eq!(
        invoice["DateString"].as_str().map(|d| &d[..10]),
        Some("2026-11-20")
    );
    let line = |account: &str, tax_type: &str, net: &str, tax: &str| {
        let description = format!("Sales 20261120 (2 documents): account {account}, {tax_type}");
        XeroLine::new(
            &description,
            &format!("1 x {net} = {net}"),
            account,
            tax_type,
            tax,
        )
    };
    assert_eq!(
        XeroLine::of(invoice),
        [
            // 45.00 + 46.00 − 6.00 (GST 6.75 + 6.00)
            line("200", "OUTPUT2", "85.00", "12.75"),
            line("200", "ZERORATED", "5.00", "0.00"),
            // 10.00 + 11.50 − 1.50 (GST 1.50 + 1.50)
            line("205", "OUTPUT2", "20.00", "3.00"),
        ]
    );
    // 63.25 + 62.50, to the cent.
    assert_eq!(amount(&invoice["Total"]), dec("125.75"));
    assert_eq!(amount(&invoice["TotalTax"]), dec("15.75"));
    assert_eq!(invoice["Status"], "PAID");
    let payments = payments_on(&setup.sim, invoice);
    assert_eq!(payments.len(), 1, "one payment per clearing account");
    assert_eq!(payments[0]["Account"]["Code"], "615");
    assert_eq!(amount(&payments[0]["Amount"]), dec("125.75"));

    let usd = invoices_numbered(&setup.sim, "SH-S-20261120-USD");
    assert_eq!(usd.len(), 1);
    assert_eq!(usd[0]["CurrencyCode"], "USD");
    assert_eq!(amount(&usd[0]["Total"]), dec("115.00"));
    assert_eq!(payments_on(&setup.sim, &usd[0]).len(), 1);

    let notes = credit_notes_numbered(&setup.sim, "SH-S-20261120-CR");
    assert_eq!(notes.len(), 1, "one credit note for the day's refunds");
    let note = &notes[0];
    assert_eq!(
        XeroLine::of(note),
        [XeroLine::new(
            "Refunds 20261120 (1 document): account 200, OUTPUT2",
            "1 x 20.00 = 20.00",
            "200",
            "OUTPUT2",
            "3.00"
        )]
    );
    assert_eq!(amount(&note["Total"]), dec("23.00"));
    // The invoice was paid in full, so nothing was due to allocate: the money went back
    // out of the clearing account.
    let refunds = payments_on(&setup.sim, note);
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["Account"]["Code"], "615");
    assert_eq!(amount(&refunds[0]["Amount"]), dec("23.00"));
    assert_eq!(amount(&note["RemainingCredit"]), Decimal::ZERO);

    // A late order for the closed day goes into the period open now.
    publish_at(
        &setup.broker,
        EventKind::Order,
        "orders/paid",
        &format!("shopify:{SHOP}:s-4"),
        RECEIVED,
        &order(
            1004,
            "NZD",
            false,
            &[("Mug", 1, "10.00", "0.00", "1.50")],
            None,
            "11.50",
            "1.50",
        ),
    )
    .await;
    let (outcome, detail) =
        wait_handled(&setup.schema, &format!("shopify:{SHOP}:s-4"), HANDLED).await;
    assert_eq!(outcome, "summarised");
    assert!(
        detail.contains("arrived after the summary of 20261120 closed"),
        "{detail}"
    );
    assert_eq!(invoices_numbered(&setup.sim, "SH-S-20261120").len(), 1);
    processor.stop().await;

    // Every request conforms to Xero's OpenAPI description.
    let api_calls = xcs_tests::openapi::assert_journal_conforms(&setup.sim.journal());
    assert!(api_calls >= 6, "{api_calls}");
}

#[tokio::test]
async fn the_background_closer_posts_an_ended_hour_and_a_refund_without_sales_is_a_credit_note_of_its_own()
 {
    let setup = Setup::new().await;
    let config = setup.config(
        "summary_close_every_ms = 200\nsummary_grace_secs = 0",
        "hourly",
    );
    let processor = TestProcessor::start(&config).await;
    // Order and refund in the hour 14:00-15:00 NZ of 20 November; the refund of another
    // hour's order goes into the next hour, alone.
    publish_at(
        &setup.broker,
        EventKind::Order,
        "orders/paid",
        &format!("shopify:{SHOP}:h-1"),
        RECEIVED,
        &order_exclusive(),
    )
    .await;
    wait_handled(&setup.schema, &format!("shopify:{SHOP}:h-1"), HANDLED).await;
    publish_at(
        &setup.broker,
        EventKind::Refund,
        "refunds/create",
        &format!("shopify:{SHOP}:hr-1"),
        "2026-11-20T02:30:00Z",
        &refund_of_1001(),
    )
    .await;
    wait_handled(&setup.schema, &format!("shopify:{SHOP}:hr-1"), HANDLED).await;

    xcs_tests::eventually(HANDLED, "the hours to be posted", || async {
        (invoices_numbered(&setup.sim, "SH-S-20261120-14").len() == 1
            && credit_notes_numbered(&setup.sim, "SH-S-20261120-15-CR").len() == 1)
            .then_some(())
    })
    .await;
    let invoice = &invoices_numbered(&setup.sim, "SH-S-20261120-14")[0];
    assert_eq!(amount(&invoice["Total"]), dec("63.25"));
    assert_eq!(invoice["Status"], "PAID");
    let note = &credit_notes_numbered(&setup.sim, "SH-S-20261120-15-CR")[0];
    assert_eq!(amount(&note["Total"]), dec("23.00"));
    assert!(invoices_numbered(&setup.sim, "SH-S-20261120-15").is_empty());
    processor.stop().await;
}

/// `body` (a Shopify order) with its `financial_status` and any other fields changed.
fn with(body: &[u8], changes: Value) -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(body).unwrap();
    for (field, value) in changes.as_object().unwrap() {
        order[field] = value.clone();
    }
    serde_json::to_vec(&order).unwrap()
}

/// Publishes an order event received at `received_at` and waits for it to be summarised;
/// returns its detail.
async fn summarise(setup: &Setup, id: &str, topic: &str, received_at: &str, body: &[u8]) -> String {
    let event_id = format!("shopify:{SHOP}:{id}");
    publish_at(
        &setup.broker,
        EventKind::Order,
        topic,
        &event_id,
        received_at,
        body,
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id, HANDLED).await;
    assert_eq!(outcome, "summarised", "{id}: {detail}");
    detail
}

#[tokio::test]
async fn money_received_after_a_period_closed_is_paid_once_on_that_periods_invoice() {
    let setup = Setup::new().await;
    let config = setup.config(
        "summary_close_every_ms = 0\nsummary_grace_secs = 60",
        "daily",
    );
    let processor = TestProcessor::start(&config).await;
    let closer = setup.closer(&config).await;
    let day = time::Duration::DAY;
    let close = |end: OffsetDateTime| {
        let closer = closer.clone();
        async move {
            posted(
                &closer
                    .close_due(end + time::Duration::MINUTE * 2)
                    .await
                    .unwrap(),
            )
        }
    };

    // 20 November: the order arrives unpaid; the day's invoice has all of it due.
    let unpaid = with(&order_exclusive(), json!({"financial_status": "pending"}));
    summarise(&setup, "l-1", "orders/create", RECEIVED, &unpaid).await;
    assert_eq!(
        close(DAY_END).await,
        [(
            "NZD".to_owned(),
            PeriodOutcome::Posted {
                invoice: Some("SH-S-20261120".into()),
                credit_note: None
            }
        )]
    );
    let invoice = || invoices_numbered(&setup.sim, "SH-S-20261120").remove(0);
    assert_eq!(amount(&invoice()["AmountDue"]), dec("63.25"));
    assert!(payments_on(&setup.sim, &invoice()).is_empty());

    // 21 November: 20.00 of it captured. Recorded against the 20th's invoice, paid when the
    // 21st is posted; the same event again, and an echo under another id, add nothing.
    let partly = with(
        &order_exclusive(),
        json!({"financial_status": "partially_paid", "total_outstanding": "43.25"}),
    );
    let detail = summarise(
        &setup,
        "l-2",
        "orders/updated",
        "2026-11-21T01:00:00Z",
        &partly,
    )
    .await;
    assert!(
        detail.contains("20.00 received for order #1001 after the summary of 20261120 closed")
            && detail.contains("invoice SH-S-20261120 with the summary of 20261121"),
        "{detail}"
    );
    summarise(
        &setup,
        "l-2",
        "orders/updated",
        "2026-11-21T01:00:00Z",
        &partly,
    )
    .await;
    let detail = summarise(
        &setup,
        "l-2b",
        "orders/updated",
        "2026-11-21T01:05:00Z",
        &partly,
    )
    .await;
    assert!(detail.contains("nothing new to book"), "{detail}");
    assert!(payments_on(&setup.sim, &invoice()).is_empty(), "not yet");
    // The 21st has no sales of its own: no invoice, only the payment on the 20th's.
    assert_eq!(
        close(DAY_END + day).await,
        [(
            "NZD".to_owned(),
            PeriodOutcome::Posted {
                invoice: None,
                credit_note: None
            }
        )]
    );
    assert!(invoices_numbered(&setup.sim, "SH-S-20261121").is_empty());
    let payments = payments_on(&setup.sim, &invoice());
    assert_eq!(payments.len(), 1, "{payments:#?}");
    assert_eq!(amount(&payments[0]["Amount"]), dec("20.00"));
    assert_eq!(payments[0]["Account"]["Code"], "615");
    assert_eq!(payments[0]["Reference"], "SH-S-20261120 615 late 20261121");
    assert_eq!(amount(&invoice()["AmountDue"]), dec("43.25"));

    // 22 November: the rest captured; a later, larger capture pays the difference only.
    let paid = order_exclusive();
    summarise(&setup, "l-3", "orders/paid", "2026-11-22T01:00:00Z", &paid).await;
    assert!(posted(&closer.close_due(DAY_END + day).await.unwrap()).is_empty());
    close(DAY_END + day * 2).await;
    let payments = payments_on(&setup.sim, &invoice());
    assert_eq!(payments.len(), 2, "{payments:#?}");
    assert_eq!(amount(&payments[1]["Amount"]), dec("43.25"));
    assert_eq!(payments[1]["Reference"], "SH-S-20261120 615 late 20261122");
    assert_eq!(amount(&invoice()["AmountDue"]), Decimal::ZERO);
    assert_eq!(invoice()["Status"], "PAID");

    // 23 November: the paid event replayed under a new id, then closing everything again:
    // nothing more is paid.
    let detail = summarise(&setup, "l-3b", "orders/paid", "2026-11-23T01:00:00Z", &paid).await;
    assert!(detail.contains("nothing new to book"), "{detail}");
    close(DAY_END + day * 3).await;
    assert!(close(DAY_END + day * 3).await.is_empty());
    let payments = payments_on(&setup.sim, &invoice());
    assert_eq!(payments.len(), 2);
    let total: Decimal = payments.iter().map(|p| amount(&p["Amount"])).sum();
    assert_eq!(
        total,
        dec("63.25"),
        "exactly the order's total, to the cent"
    );
    assert_eq!(invoices_numbered(&setup.sim, "SH-S-20261120").len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn an_order_cancelled_while_its_period_is_open_is_left_out_of_the_periods_invoice() {
    let setup = Setup::new().await;
    let config = setup.config(
        "summary_close_every_ms = 0\nsummary_grace_secs = 60",
        "daily",
    );
    let processor = TestProcessor::start(&config).await;
    let unpaid = with(&order_exclusive(), json!({"financial_status": "pending"}));
    summarise(&setup, "c-1", "orders/create", RECEIVED, &unpaid).await;
    summarise(&setup, "c-2", "orders/paid", RECEIVED, &order_inclusive()).await;
    // An unpaid order of the same day that is cancelled only after the day is posted.
    let later = order(
        1005,
        "NZD",
        false,
        &[("Kauri spoon", 1, "10.00", "0.00", "1.50")],
        None,
        "11.50",
        "1.50",
    );
    let later = with(&later, json!({"financial_status": "pending"}));
    summarise(&setup, "c-3", "orders/create", RECEIVED, &later).await;

    let cancelled = with(
        &unpaid,
        json!({"cancelled_at": "2026-11-20T15:00:00+13:00", "financial_status": "voided"}),
    );
    let detail = summarise(
        &setup,
        "c-1x",
        "orders/cancelled",
        "2026-11-20T02:00:00Z",
        &cancelled,
    )
    .await;
    assert!(
        detail.contains("order #1001 removed from the open summary of 20261120"),
        "{detail}"
    );
    // A stale update of the order after its cancellation does not bring it back.
    let detail = summarise(
        &setup,
        "c-1y",
        "orders/updated",
        "2026-11-20T02:05:00Z",
        &unpaid,
    )
    .await;
    assert!(detail.contains("was cancelled"), "{detail}");

    let closer = setup.closer(&config).await;
    posted(
        &closer
            .close_due(DAY_END + time::Duration::MINUTE * 2)
            .await
            .unwrap(),
    );
    let invoices = invoices_numbered(&setup.sim, "SH-S-20261120");
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    // Order 1002 (62.50) and the spoon (11.50); not the cancelled 1001 (63.25).
    assert_eq!(amount(&invoice["Total"]), dec("74.00"));
    for line in XeroLine::of(invoice) {
        assert!(
            line.description.contains("(2 documents)"),
            "{}",
            line.description
        );
    }
    assert_eq!(amount(&invoice["AmountDue"]), dec("11.50"));

    // The spoon's order cancelled after its day was posted: what was posted stays; the
    // detail says what to do in Xero.
    let detail = summarise(
        &setup,
        "c-3x",
        "orders/cancelled",
        "2026-11-21T01:00:00Z",
        &with(
            &later,
            json!({"cancelled_at": "2026-11-21T14:00:00+13:00", "financial_status": "voided"}),
        ),
    )
    .await;
    assert!(
        detail.contains("its 11.50 stays due on invoice SH-S-20261120; credit it in Xero"),
        "{detail}"
    );
    assert_eq!(invoices_numbered(&setup.sim, "SH-S-20261120").len(), 1);
    processor.stop().await;
}

/// A write to the simulator as someone working in Xero would make it.
async fn write_in_xero(config: &str, method: reqwest::Method, path: &str, body: Value) {
    let config = xcs_processor::config::Config::from_toml(config, |_| None).unwrap();
    let ledger = xcs_processor::ledger::Ledger::lazy(&config.postgres).unwrap();
    let xero = xcs_processor::xero::client::XeroClient::new(&config.xero, ledger).unwrap();
    let response = xero
        .call(
            &DEMO_NZ_TENANT_ID.to_string(),
            method,
            path,
            &[("summarizeErrors", "false")],
            Some(&body),
            None,
        )
        .await
        .unwrap_or_else(|err| panic!("{path}: {err}"));
    let collection = body.as_object().unwrap().keys().next().unwrap().clone();
    let errors = xcs_processor::xero::client::element_errors(&response[&collection][0]);
    assert!(errors.is_empty(), "{path}: {errors:?}");
}

/// Reconciles the shop over the New Zealand days of 20 to 22 November.
async fn reconcile_days(setup: &Setup, config: &str, fix: bool) -> Report {
    let config = xcs_processor::config::Config::from_toml(config, |_| None).unwrap();
    let ledger = xcs_processor::ledger::Ledger::lazy(&config.postgres).unwrap();
    let xero = xcs_processor::xero::client::XeroClient::new(&config.xero, ledger).unwrap();
    let connection = setup.broker.connect().await;
    let report = reconcile(
        &config,
        &xero,
        Some(&connection),
        &ReconcileOptions {
            shop: SHOP.to_owned(),
            from: DAY_END - time::Duration::DAY,
            to: DAY_END + time::Duration::DAY * 2,
            fix,
            progress: ProgressBar::hidden(),
        },
    )
    .await
    .expect("reconcile runs");
    let _ = connection.close(200, "done".into()).await;
    report
}

#[tokio::test]
async fn reconcile_checks_every_posted_summary_and_names_the_period_of_what_differs() {
    let setup = Setup::new().await;
    let config = setup.config(
        "summary_close_every_ms = 0\nsummary_grace_secs = 60",
        "daily",
    );
    let processor = TestProcessor::start(&config).await;
    // 20 November: two orders (an invoice of 125.75, paid); 21 November: a refund only (a
    // credit note of its own, 23.00 paid back); 22 November: one order (11.50, paid).
    summarise(&setup, "rs-1", "orders/paid", RECEIVED, &order_exclusive()).await;
    summarise(&setup, "rs-2", "orders/paid", RECEIVED, &order_inclusive()).await;
    publish_at(
        &setup.broker,
        EventKind::Refund,
        "refunds/create",
        &format!("shopify:{SHOP}:rs-r"),
        "2026-11-21T01:00:00Z",
        &refund_of_1001(),
    )
    .await;
    let (outcome, detail) =
        wait_handled(&setup.schema, &format!("shopify:{SHOP}:rs-r"), HANDLED).await;
    assert_eq!(outcome, "summarised", "{detail}");
    let spoon = order(
        1005,
        "NZD",
        false,
        &[("Kauri spoon", 1, "10.00", "0.00", "1.50")],
        None,
        "11.50",
        "1.50",
    );
    summarise(
        &setup,
        "rs-3",
        "orders/paid",
        "2026-11-22T01:00:00Z",
        &spoon,
    )
    .await;
    let closer = setup.closer(&config).await;
    let closed = posted(
        &closer
            .close_due(DAY_END + time::Duration::DAY * 2 + time::Duration::MINUTE * 2)
            .await
            .unwrap(),
    );
    assert_eq!(closed.len(), 3, "{closed:?}");
    processor.stop().await;

    // Untouched, every period agrees with Xero, and its documents were looked at.
    let report = reconcile_days(&setup, &config, false).await;
    assert!(report.discrepancies.is_empty(), "{}", report.table());
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.documents, 3, "{}", report.table());
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // In Xero: the 20th's payment deleted; the 22nd's payment deleted and its invoice voided.
    let invoice = |number: &str| invoices_numbered(&setup.sim, number).remove(0);
    for number in ["SH-S-20261120", "SH-S-20261122"] {
        let payments = payments_on(&setup.sim, &invoice(number));
        assert_eq!(payments.len(), 1, "{number}: {payments:#?}");
        write_in_xero(
            &config,
            reqwest::Method::POST,
            &format!("/Payments/{}", payments[0]["PaymentID"].as_str().unwrap()),
            json!({"Payments": [{"Status": "DELETED"}]}),
        )
        .await;
    }
    let voided = invoice("SH-S-20261122");
    write_in_xero(
        &config,
        reqwest::Method::POST,
        &format!("/Invoices/{}", voided["InvoiceID"].as_str().unwrap()),
        json!({"Invoices": [{"InvoiceID": voided["InvoiceID"], "Status": "VOIDED"}]}),
    )
    .await;

    let report = reconcile_days(&setup, &config, false).await;
    let found: Vec<_> = report
        .discrepancies
        .iter()
        .map(|d| {
            (
                d.problem,
                d.document.clone(),
                d.period
                    .as_ref()
                    .map(|p| (p.currency.clone(), p.start.clone())),
            )
        })
        .collect();
    let period = |day: &str| Some(("NZD".to_owned(), format!("2026-11-{day}T00:00:00+13:00")));
    assert_eq!(
        found,
        [
            (Problem::Voided, "SH-S-20261122".to_owned(), period("22")),
            (
                Problem::PaymentMissing,
                "SH-S-20261120".to_owned(),
                period("20")
            ),
        ],
        "the 21st's credit note is untouched: {}",
        report.table()
    );
    assert_eq!(report.exit_code(), 1);
    let (voided, unpaid) = (&report.discrepancies[0], &report.discrepancies[1]);
    assert!(voided.event_id.is_empty(), "{voided:?}");
    assert!(
        voided.next_step.contains("Copy to") && voided.next_step.contains("11.50 into 615"),
        "{}",
        voided.next_step
    );
    assert_eq!(unpaid.ledger_amount, Some(dec("125.75")));
    assert_eq!(unpaid.xero_amount, Some(Decimal::ZERO));
    assert!(
        unpaid
            .next_step
            .contains("(the ledger applied: 125.75 into 615)"),
        "{}",
        unpaid.next_step
    );
    let table = report.table();
    assert!(
        table.contains("summary NZD from 2026-11-20T00:00:00+13:00"),
        "{table}"
    );
    assert!(
        report
            .csv()
            .lines()
            .nth(2)
            .unwrap()
            .ends_with(",NZD,2026-11-20T00:00:00+13:00"),
        "{}",
        report.csv()
    );

    // --fix posts no summary again: the same report, nothing fixed, nothing new in Xero.
    let fixed = reconcile_days(&setup, &config, true).await;
    assert_eq!(fixed.discrepancies.len(), 2, "{}", fixed.table());
    assert!(fixed.discrepancies.iter().all(|d| d.fixed.is_none()));
    assert_eq!(invoices_numbered(&setup.sim, "SH-S-20261122").len(), 1);

    // The refunds-only credit note gone from Xero: found through its period, and the advice
    // holds what to enter by hand.
    assert_eq!(
        setup
            .sim
            .forget_document(DEMO_NZ_TENANT_ID, "SH-S-20261121-CR"),
        1
    );
    let report = reconcile_days(&setup, &config, false).await;
    let missing = report
        .discrepancies
        .iter()
        .find(|d| d.problem == Problem::MissingInXero)
        .unwrap_or_else(|| panic!("{}", report.table()));
    assert_eq!(missing.document, "SH-S-20261121-CR");
    assert_eq!(missing.document_kind, "credit_note");
    assert_eq!(
        period("21"),
        missing
            .period
            .as_ref()
            .map(|p| (p.currency.clone(), p.start.clone()))
    );
    for part in [
        "dated 2026-11-21",
        "200 OUTPUT2 20.00 (tax 3.00)",
        "23.00 refunded out of 615",
    ] {
        assert!(
            missing.next_step.contains(part),
            "{part:?} in {}",
            missing.next_step
        );
    }
}

#[tokio::test]
async fn a_london_shops_day_closes_at_local_midnight_and_holds_the_25_hours_of_the_day_clocks_go_back()
 {
    // Arrange: daily summaries in Europe/London. On 25 October 2026 the clocks go back at
    // 02:00 BST, so the day runs from 24 October 23:00 UTC to 26 October 00:00 UTC.
    let setup = Setup::new().await;
    let config = setup
        .config(
            "summary_close_every_ms = 0\nsummary_grace_secs = 60",
            "daily",
        )
        .replace("timezone = \"+13:00\"", "timezone = \"Europe/London\"");
    let processor = TestProcessor::start(&config).await;
    // 00:30 BST and 23:30 GMT: both the 25th in London, a day apart in any fixed offset.
    let first = summarise(
        &setup,
        "l-1",
        "orders/paid",
        "2026-10-24T23:30:00Z",
        &order_exclusive(),
    )
    .await;
    let last = summarise(
        &setup,
        "l-2",
        "orders/paid",
        "2026-10-25T23:30:00Z",
        &order_inclusive(),
    )
    .await;
    assert!(
        first.contains("20261025") && last.contains("20261025"),
        "{first} / {last}"
    );
    let closer = setup.closer(&config).await;
    let midnight = datetime!(2026-10-26 00:00 UTC);

    // Act
    let early = closer
        .close_due(midnight + time::Duration::SECOND * 59)
        .await
        .unwrap();
    let closed = closer
        .close_due(midnight + time::Duration::MINUTE * 2)
        .await
        .unwrap();

    // Assert
    assert!(
        posted(&early).is_empty(),
        "not before London's midnight and the grace"
    );
    assert_eq!(posted(&closed).len(), 1, "{closed:?}");
    let invoices = invoices_numbered(&setup.sim, "SH-S-20261025");
    assert_eq!(invoices.len(), 1);
    assert_eq!(amount(&invoices[0]["Total"]), dec("125.75"));
    assert!(
        invoices[0]["DateString"]
            .as_str()
            .unwrap()
            .starts_with("2026-10-25"),
        "{}",
        invoices[0]["DateString"]
    );
    assert!(invoices_numbered(&setup.sim, "SH-S-20261024").is_empty());
    assert!(invoices_numbered(&setup.sim, "SH-S-20261026").is_empty());
    processor.stop().await;
}
