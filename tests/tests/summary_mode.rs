//! Summary mode end to end: orders and refunds on the real RabbitMQ, the ledger in the real
//! PostgreSQL, and the period's invoice, payments and credit note in the Xero simulator.
//! Periods are closed on demand (`Processor::summary_closer`) at chosen instants, so the test
//! decides when a period has ended; one test lets the background closer do it.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use xcs_processor::summary::PeriodOutcome;
use xcs_shared::{Envelope, EventKind, Platform, topology};
use xcs_tests::broker::TestBroker;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, XeroLine, amount, credit_notes_numbered, invoices_numbered, payments_on,
    test_config, wait_handled,
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
    };
    let mut headers = FieldTable::default();
    for (name, value) in envelope.headers() {
        headers.insert(
            ShortString::from(name),
            AMQPValue::LongString(LongString::from(value)),
        );
    }
    let connection = broker.connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let confirmation = channel
        .basic_publish(
            topology::EVENTS_EXCHANGE.into(),
            topology::routing_key(kind, Platform::Shopify)
                .as_str()
                .into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(event_id.into())
                .with_headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert_eq!(confirmation, Confirmation::Ack(None));
    let _ = connection.close(200, "published".into()).await;
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
    let journal = setup.sim.journal();
    let api_calls: Vec<_> = journal
        .iter()
        .filter(|e| e.path.starts_with("/api.xro/2.0"))
        .collect();
    assert!(api_calls.len() >= 6, "{}", api_calls.len());
    for entry in api_calls {
        let headers: Vec<(&str, &str)> = entry
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let problems = xcs_tests::openapi::violations(
            &entry.method,
            &entry.path,
            &entry.query,
            &headers,
            &entry.body,
        );
        assert!(
            problems.is_empty(),
            "request {} {} {}: {problems:#?}",
            entry.seq,
            entry.method,
            entry.path
        );
    }
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
