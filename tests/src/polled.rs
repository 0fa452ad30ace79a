//! A polled shop, for the tests of the poller and of anything else that reads a platform's
//! lists (backfill, reconciliation): a vhost with the deployed topology, a schema, the Xero
//! simulator and a fake of the platform's API ([`crate::platform_api`]), with one shop whose
//! processor config polls it every second over the last hour ([`PolledShop::config`]).
//!
//! A test starts the processor from that config itself when it needs to (to kill one and
//! start another over the same schema); [`PolledShop::poll_then_deliver`] and
//! [`PolledShop::start_throttled`] start it for the two scenarios every platform's tests go
//! through. What an order looks like in a platform's list stays in that platform's tests,
//! but for Shopify's ([`shopify_listed_order`]), which the backfill's tests read too.
//!
//! The list paths the poller reads, for [`PolledShop::list_calls`] and
//! [`PolledShop::polled_again`] (relative to the fake's base URL, without the query):
//!
//! | Platform | Lists |
//! | --- | --- |
//! | Shopify | `/admin/api/{version}/orders.json` |
//! | WooCommerce | `/wp-json/wc/v3/orders` |
//! | BigCommerce | `/v2/orders`, `/v3/orders/payment_actions/refunds` |
//! | Etsy | `/v3/application/shops/{shop_id}/receipts` |
//! | eBay | `/sell/fulfillment/v1/order` |
//! | Adobe Commerce | `/rest/V1/orders`, `/rest/V1/creditmemos` |

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::formatting::Formattable;
use xcs_shared::{EventKind, Platform};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

use crate::broker::TestBroker;
use crate::platform_api::FakePlatformApi;
use crate::postgres::TestSchema;
use crate::processor::{
    ShopToml, TestProcessor, credit_notes_numbered, invoices_numbered, payment_lines, payments_on,
    platform_shop, publish, shop_toml, test_config, wait_handled,
};

/// How long anything a poll brings may take to be booked. Generous: a loaded CI machine, a
/// window split into pages and a 429 waited out all fit, and [`crate::eventually`] returns as
/// soon as the condition holds, so a passing test never waits this long.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The shop a [`PolledShop`] books for.
pub enum ShopSpec<'a> {
    /// One of the shops [`platform_shop`] maps (`ETSY_SHOP`, `EBAY_SHOP`, ...), as it maps it.
    Standard(&'a str),
    /// A shop of the test's own: its contact strategy (a TOML inline table), document prefix
    /// and clearing account, on the demo chart [`shop_toml`] maps.
    Mapped {
        name: &'a str,
        contacts: &'a str,
        prefix: &'a str,
        clearing: &'a str,
    },
}

impl<'a> ShopSpec<'a> {
    /// [`ShopSpec::Mapped`], in its fields' order.
    pub fn mapped(name: &'a str, contacts: &'a str, prefix: &'a str, clearing: &'a str) -> Self {
        Self::Mapped {
            name,
            contacts,
            prefix,
            clearing,
        }
    }
}

/// What a poll of a marketplace whose webhooks bring no refunds (Etsy, eBay) books from an
/// order and a refunded order it lists: the seller's part of each, into and back out of the
/// clearing account 616 [`platform_shop`] maps. See [`PolledShop::assert_booked_once_as_listed`].
pub struct ListedWithRefund<'a> {
    /// The two invoices, each paid `paid` into 616.
    pub invoices: [&'a str; 2],
    pub paid: &'a str,
    /// The refund's credit note, paid `refunded` back out of 616.
    pub credit_note: &'a str,
    pub refunded: &'a str,
}

/// One shop on a fake platform API, with everything a processor needs to poll it.
pub struct PolledShop {
    pub broker: TestBroker,
    pub schema: TestSchema,
    pub sim: RunningSim,
    pub api: FakePlatformApi,
    pub platform: Platform,
    pub name: String,
    sections: String,
}

impl PolledShop {
    /// Starts a fresh vhost, schema, simulator and fake of `platform`'s API for `shop`.
    pub async fn start(platform: Platform, shop: ShopSpec<'_>) -> Self {
        let api = FakePlatformApi::start(platform).await;
        let api_toml = api.api_toml();
        let (name, sections) = match shop {
            ShopSpec::Standard(name) => (name, platform_shop(name, platform, Some(&api_toml))),
            ShopSpec::Mapped {
                name,
                contacts,
                prefix,
                clearing,
            } => (
                name,
                shop_toml(&ShopToml {
                    name,
                    platform,
                    tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
                    contacts,
                    prefix,
                    clearing,
                    api: Some(&api_toml),
                }),
            ),
        };
        Self {
            broker: TestBroker::with_topology().await,
            schema: TestSchema::new(),
            sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
            api,
            platform,
            name: name.to_owned(),
            sections,
        }
    }

    /// The shop's `[shops.NAME]` sections without a poll section, for a test that sets its own.
    pub fn shop_sections(&self) -> &str {
        &self.sections
    }

    /// Lists `count` resources, `per_minute` of them to each minute, the newest changed a
    /// minute ago: `resource(n, minutes)` is the `n`th, changed `minutes` ago.
    pub fn list_spread(&self, count: u64, per_minute: u64, resource: impl Fn(u64, i64) -> Value) {
        for n in 0..count {
            self.api
                .list(resource(n, 1 + i64::try_from(n / per_minute).unwrap()));
        }
    }

    /// A processor config whose shop is polled every second over the last hour (the overlap
    /// reaches back that far from the first cursor), with nothing left to settle.
    pub fn config(&self) -> String {
        let shop = format!(
            "{}[shops.{}.poll]\ninterval_secs = 1\noverlap_secs = 3600\nsettle_secs = 0\n",
            self.sections, self.name
        );
        test_config(
            &self.broker,
            &self.schema,
            &self.sim,
            &format!("poll_every_ms = 200\n{shop}"),
        )
    }

    /// Waits until the simulator holds at least `count` invoices numbered `number`.
    pub async fn wait_invoices(&self, number: &str, count: usize) {
        crate::eventually(
            PATIENCE,
            &format!("{count} invoice(s) {number}"),
            || async { (invoices_numbered(&self.sim, number).len() >= count).then_some(()) },
        )
        .await;
    }

    /// Waits until exactly `count` of the simulator's invoices have a number `numbered` accepts.
    pub async fn wait_invoices_where(&self, count: usize, numbered: impl Fn(&str) -> bool) {
        crate::eventually(PATIENCE, &format!("all {count} invoices"), || async {
            let booked = self
                .sim
                .invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
                .iter()
                .filter(|i| i["InvoiceNumber"].as_str().is_some_and(&numbered))
                .count();
            (booked == count).then_some(())
        })
        .await;
    }

    /// The statuses the fake answered the requests for `list` with, in order: every request
    /// whose path ends with it, so `/receipts` is Etsy's list and not a receipt by id.
    pub fn list_statuses(&self, list: &str) -> Vec<u16> {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(list))
            .map(|r| r.status)
            .collect()
    }

    /// How many times the poller has asked for `list` (see [`Self::list_statuses`]).
    pub fn list_calls(&self, list: &str) -> usize {
        self.list_statuses(list).len()
    }

    /// Waits until the poller has read `list` `count` more times. Read the list a poll reads
    /// last (BigCommerce's refunds, Adobe Commerce's credit memos) to know whole polls went by.
    pub async fn polled_again(&self, list: &str, count: usize) {
        let before = self.list_calls(list);
        crate::eventually(PATIENCE, "more polls", || async {
            (self.list_calls(list) >= before + count).then_some(())
        })
        .await;
    }

    /// Waits for invoice `number` to be paid, asserts it is the only one so numbered, and
    /// returns it.
    pub async fn paid_invoice(&self, number: &str) -> Value {
        crate::eventually(PATIENCE, &format!("{number} paid"), || async {
            invoices_numbered(&self.sim, number)
                .iter()
                .any(|i| i["Status"] == "PAID")
                .then_some(())
        })
        .await;
        self.only_invoice(number)
    }

    /// Asserts invoice `number` is the only one so numbered, and returns it.
    pub fn only_invoice(&self, number: &str) -> Value {
        let mut invoices = invoices_numbered(&self.sim, number);
        assert_eq!(invoices.len(), 1, "{number}: {invoices:#?}");
        invoices.remove(0)
    }

    /// Waits for invoice `number` to be paid, then asserts it is the only one, paid by one
    /// payment.
    pub async fn one_invoice_paid_once(&self, number: &str) {
        let invoice = self.paid_invoice(number).await;
        assert_eq!(invoice["Status"], "PAID", "{invoice:#}");
        assert_eq!(payments_on(&self.sim, &invoice).len(), 1, "{number}");
    }

    /// Publishes an order event for the shop as the ingress would a webhook (`topic`,
    /// `event_id`, `body`).
    pub async fn publish_order(&self, topic: &str, event_id: &str, body: &[u8]) {
        publish(
            &self.broker,
            self.platform,
            &self.name,
            EventKind::Order,
            topic,
            event_id,
            body,
        )
        .await;
    }

    /// Publishes an order event as [`Self::publish_order`] does and waits until the processor
    /// has handled it: its outcome and detail.
    pub async fn deliver_order(
        &self,
        topic: &str,
        event_id: &str,
        body: &[u8],
    ) -> (String, String) {
        self.publish_order(topic, event_id, body).await;
        wait_handled(&self.schema, event_id, PATIENCE).await
    }

    /// Starts a processor, waits until its poll has booked invoice `number`, then delivers the
    /// order's webhook late (as [`Self::deliver_order`]) and asserts it was handled as booked:
    /// the poll's booking is the webhook's too. Returns the processor, still running.
    pub async fn poll_then_deliver(
        &self,
        number: &str,
        topic: &str,
        event_id: &str,
        body: &[u8],
    ) -> TestProcessor {
        let processor = TestProcessor::start(&self.config()).await;
        self.wait_invoices(number, 1).await;
        let (outcome, detail) = self.deliver_order(topic, event_id, body).await;
        assert_eq!(outcome, "booked", "{detail}");
        processor
    }

    /// Has the API answer its next two calls 429, starts a processor and waits until exactly
    /// `count` invoices with a number `numbered` accepts are booked. Returns the processor,
    /// still running.
    pub async fn start_throttled(
        &self,
        count: usize,
        numbered: impl Fn(&str) -> bool,
    ) -> TestProcessor {
        self.api.throttle_next(2);
        let processor = TestProcessor::start(&self.config()).await;
        self.wait_invoices_where(count, numbered).await;
        processor
    }

    /// Waits until the simulator holds credit note `number`.
    pub async fn wait_credit_note(&self, number: &str) {
        crate::eventually(PATIENCE, "the refund's credit note", || async {
            (!credit_notes_numbered(&self.sim, number).is_empty()).then_some(())
        })
        .await;
    }

    /// Waits until credit note `number` is paid.
    pub async fn wait_credit_note_paid(&self, number: &str) {
        crate::eventually(PATIENCE, "the refund's paid credit note", || async {
            credit_notes_numbered(&self.sim, number)
                .iter()
                .any(|n| n["Status"] == "PAID")
                .then_some(())
        })
        .await;
    }

    /// Asserts credit note `number` is the only one so numbered, and returns it.
    pub fn only_credit_note(&self, number: &str) -> Value {
        let mut notes = credit_notes_numbered(&self.sim, number);
        assert_eq!(notes.len(), 1, "{number}: {notes:#?}");
        notes.remove(0)
    }

    /// Asserts credit note `number` is the only one, paid by one payment.
    pub fn one_credit_note_paid_once(&self, number: &str) {
        let note = self.only_credit_note(number);
        assert_eq!(note["Status"], "PAID", "{note:#}");
        assert_eq!(payments_on(&self.sim, &note).len(), 1, "{number}");
    }

    /// With `processor` polling `list`, which holds `booked`'s orders: waits until they are
    /// booked and the credit note paid, then until three more polls went by, and asserts each
    /// is still the only one so numbered and paid as listed, that nothing was fetched by id
    /// (the orders were booked as listed) and that the refund counts as one no webhook brought.
    pub async fn assert_booked_once_as_listed(
        &self,
        processor: &TestProcessor,
        list: &str,
        booked: &ListedWithRefund<'_>,
    ) {
        for number in booked.invoices {
            self.wait_invoices(number, 1).await;
        }
        self.wait_credit_note_paid(booked.credit_note).await;
        self.polled_again(list, 3).await;
        for number in booked.invoices {
            let invoice = self.only_invoice(number);
            assert_eq!(invoice["Status"], "PAID", "{invoice:#}");
            assert_eq!(
                payment_lines(&self.sim, &invoice),
                [("616".to_owned(), dec(booked.paid))]
            );
        }
        let note = self.only_credit_note(booked.credit_note);
        assert_eq!(
            payment_lines(&self.sim, &note),
            [("616".to_owned(), dec(booked.refunded))],
            "the seller's part of the refund went back"
        );
        self.assert_nothing_fetched_under(list);
        self.assert_missed_by_webhooks(processor, "refund", 1).await;
    }

    /// Asserts the processor's metrics count `count` documents of `kind` (`order`, `refund`)
    /// that only a poll brought for the shop.
    pub async fn assert_missed_by_webhooks(
        &self,
        processor: &TestProcessor,
        kind: &str,
        count: u64,
    ) {
        let (_, metrics) = processor.get("/metrics").await;
        assert!(
            metrics.contains(&format!(
                "xcs_processor_missed_by_webhooks_total{{shop=\"{}\",kind=\"{kind}\"}} {count}",
                self.name
            )),
            "{metrics}"
        );
    }

    /// Asserts the fake answered some request for `list` 429 and every other one 200: the
    /// poller waited the throttling out and was refused nothing.
    pub fn assert_list_throttled_then_answered(&self, list: &str) {
        let statuses = self.list_statuses(list);
        assert!(statuses.contains(&429), "{statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 429),
            "no list call was refused: {statuses:?}"
        );
    }

    /// Asserts the fake answered some request 429 and none 400: the poller waited the
    /// throttling out and every call was one the platform accepts.
    pub fn assert_throttled_and_accepted(&self) {
        let requests = self.api.requests();
        let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
        assert!(statuses.contains(&429), "{statuses:?}");
        assert!(
            requests.iter().all(|r| r.status != 400),
            "every call was one {} accepts: {requests:?}",
            self.platform
        );
    }

    /// Asserts no request fetched a document under `list` by id: what the list held was booked
    /// as listed.
    pub fn assert_nothing_fetched_under(&self, list: &str) {
        let requests = self.api.requests();
        assert!(
            requests
                .iter()
                .all(|r| !r.path.starts_with(&format!("{list}/"))),
            "{requests:?}"
        );
    }
}

/// A decimal written out, for comparing amounts.
pub fn dec(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

/// `minutes` before now, for a listed resource's last change; each platform writes it its way.
pub fn minutes_ago(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(minutes)
}

/// [`minutes_ago`] written in `format` (`&Rfc3339`, a `format_description!`).
pub fn minutes_ago_as(minutes: i64, format: &(impl Formattable + ?Sized)) -> String {
    minutes_ago(minutes).format(format).unwrap()
}

/// Shopify order `id` (`#number`, paid) as the Admin API's orders list holds it, last updated
/// `at`, with no refunds.
pub fn shopify_listed_order(id: u64, number: u64, at: OffsetDateTime) -> Value {
    let mut order: Value =
        serde_json::from_slice(&crate::fixtures::shopify_nz_order(id, number, true)).unwrap();
    order["updated_at"] = json!(at.format(&Rfc3339).unwrap());
    order["refunds"] = json!([]);
    order
}
