//! `xcs-processor test-transaction`: one sample order through the live path, read back from
//! Xero.
//!
//! The sample is a paid order of the shop's platform (one product at 20.00 and shipping at
//! 5.00, in the organisation's base currency, taxed at the first rate of the shop's
//! `tax.by_rate`), numbered `TEST<milliseconds>` so it cannot collide with a real order. The
//! ledger records the event that carries it (`xcs_test_transactions`), so `reconcile` knows
//! its invoice is no sale: voided or deleted, it is no discrepancy, and it is never booked
//! again.
//!
//! A shop in summary mode is refused: the sample would be summed into the period's invoice
//! with the seller's sales.
//!
//! - With `--ingress URL` it is signed with the shop's first secret from the ingress's config
//!   (`--ingress-config`) and POSTed to `URL/webhooks/{platform}/{shop}`: the whole path, the
//!   signature check included.
//! - Without, it is published to RabbitMQ exactly as the ingress would (same exchange, routing
//!   key and headers): everything after the ingress.
//!
//! Either way a running processor books it; this command waits for the ledger to record the
//! event, then prints the Xero invoice (number, contact, lines, tax, total, payments). With
//! `--void` it then deletes the payments (Xero voids only invoices without payments) and voids
//! the invoice.
//!
//! Only platforms whose webhook carries the whole order can be sampled; each gives its sample
//! webhook from its folder (`crate::platforms::sample`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use reqwest::Method;
use rust_decimal::Decimal;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use xcs_shared::ingress_shops::IngressShops;
use xcs_shared::{Envelope, EventKind, topology};

use super::explain_xero;
use crate::config::{Config, ShopConfig, SyncMode};
use crate::ledger::Ledger;
use crate::platforms::sample::{self, SampleOrder, TestOrders};
use crate::xero::client::XeroClient;
use crate::xero::types::ContactRef;

/// What to send and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub shop: String,
    /// The ingress's base URL; without it the order is published to RabbitMQ directly.
    pub ingress: Option<String>,
    /// The ingress's config, for the shop's webhook secret.
    pub ingress_config: Option<PathBuf>,
    /// Void the invoice afterwards (its payments are deleted first).
    pub void: bool,
    /// How long to wait for the processor to book the order.
    pub timeout: Duration,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub event_id: String,
    /// The invoice as Xero holds it, after any voiding.
    pub invoice: Value,
    /// The payments that were on it, as Xero holds them.
    pub payments: Vec<Value>,
    /// The printed account of it all.
    pub report: String,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Sends the sample, waits for it, reads it back and (with `void`) voids it. Every error says
/// what to do next.
///
/// # Errors
/// When the order cannot be sent, is not booked in time, or Xero cannot be read.
pub async fn run(config: &Config, options: &Options) -> anyhow::Result<Outcome> {
    let shop = config.shops.get(&options.shop).ok_or_else(|| {
        anyhow!(
            "no shop {:?} in the processor's config; its shops are: {}",
            options.shop,
            config.shops.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    // Checked first, as its advice holds for every platform: a test order placed in the store
    // instead would be summed into the period just the same.
    if shop.mode == SyncMode::Summary {
        bail!(
            "shop {name:?} is in summary mode: its orders are summed into the invoice of their \
             period, so a sample order would be posted to its Xero with the seller's sales, and \
             nothing takes it out again. Test the path with a real-time shop instead: copy \
             [shops.{name}] to e.g. [shops.{name}-test] with mode = \"realtime\" (same \
             platform, tenant and mapping; with --ingress add it to the ingress's config too, \
             with a secret), restart the processors, run `xcs-processor test-transaction \
             --shop {name}-test --void`, then remove that shop again",
            name = options.shop
        );
    }
    let Some(orders) = sample::of(shop.platform) else {
        bail!(
            "test-transaction can make sample orders for {} shops only: a {} webhook names an \
             order the processor then fetches from the platform, where a made-up one does not \
             exist. Place a test order in the store instead, then look it up in Xero (or with \
             `xcs-processor dead list --shop {}` if it failed)",
            sample::platforms().join(" and "),
            shop.platform.display_name(),
            options.shop
        );
    };
    if !shop.sync.contains(&EventKind::Order) {
        bail!(
            "shop {:?} does not sync orders (sync = {:?}); add \"order\" to its sync list",
            options.shop,
            shop.sync
        );
    }
    let ledger = Ledger::connect(&config.postgres)
        .await
        .context("cannot open the ledger; check [postgres] url and run `xcs-processor check`")?;
    let xero = XeroClient::new(&config.xero, ledger.clone())?;
    let organisation = xero
        .call(&shop.tenant, Method::GET, "/Organisation", &[], None, None)
        .await
        .map_err(|err| {
            let (detail, next) = explain_xero(&err, config.xero.auth);
            anyhow!("Xero: {detail}; {next}")
        })?;
    let org = &organisation["Organisations"][0];
    let currency = org["BaseCurrency"].as_str().unwrap_or("USD").to_owned();
    let org_name = org["Name"].as_str().unwrap_or(&shop.tenant).to_owned();

    let stamp = time::OffsetDateTime::now_utc();
    let sample = sample_order(shop, &currency, stamp);
    let body = serde_json::to_vec(&(orders.body)(&sample)).expect("JSON values serialise");
    preflight(shop, orders, &body).with_context(|| {
        format!(
            "the shop's mapping cannot book the sample order; run `xcs-processor check` and fix \
             shop {:?}'s mapping",
            options.shop
        )
    })?;

    // The ledger knows the sample for what it is, so reconcile never reports its invoice
    // voided nor books it again; the event id alone cannot say so (through the ingress it is
    // the ingress's).
    let event_id = match &options.ingress {
        Some(url) => {
            let event_id = send_to_ingress(url, options, shop, orders, &body).await?;
            ledger
                .record_test_transaction(&event_id, &options.shop, &shop.tenant, &sample.order_id)
                .await
                .map_err(|err| {
                    anyhow!(
                        "the sample was sent as event {event_id}, but the ledger could not \
                         record it as a test ({err}); once it is booked, void its invoice {}{} \
                         in Xero (reconcile would report it as a sale voided)",
                        shop.mapping.document_prefix,
                        sample.number
                    )
                })?;
            event_id
        }
        None => {
            let event_id = format!(
                "{}:{}:xcs-test-{}",
                shop.platform,
                options.shop,
                uuid::Uuid::new_v4()
            );
            ledger
                .record_test_transaction(&event_id, &options.shop, &shop.tenant, &sample.order_id)
                .await
                .context(
                    "cannot record the sample in the ledger, so nothing was sent; run \
                     `xcs-processor check`",
                )?;
            publish(config, &options.shop, shop, orders, &body, &event_id).await?;
            event_id
        }
    };

    let deadline = tokio::time::Instant::now() + options.timeout;
    let (outcome, detail) = loop {
        if let Some(record) = ledger.event_record(&event_id).await? {
            break record;
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the order (event {event_id}) was not booked within {} s. Is a processor \
                 running on this config (`xcs-processor run`)? If one is, `xcs-processor dead \
                 list --shop {}` says why it failed, and `xcs-processor check` finds most causes",
                options.timeout.as_secs(),
                options.shop
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if outcome != "booked" {
        bail!(
            "the processor recorded event {event_id} as {outcome} ({detail}); check the shop's \
             sync list"
        );
    }
    let document = ledger
        .invoice_for_order(&options.shop, &sample.order_id)
        .await?
        .ok_or_else(|| {
            anyhow!(
                "event {event_id} was booked but the ledger has no invoice for order {}; \
                 report this as a bug",
                sample.order_id
            )
        })?;
    let read = |id: String| {
        let xero = xero.clone();
        let tenant = shop.tenant.clone();
        async move {
            xero.call(
                &tenant,
                Method::GET,
                &format!("/Invoices/{id}"),
                &[],
                None,
                None,
            )
            .await
            .map(|v| v["Invoices"][0].clone())
        }
    };
    let invoice = read(document.xero_id.clone())
        .await
        .map_err(|err| anyhow!("cannot read the invoice back from Xero: {err}"))?;
    let mut payments = Vec::new();
    for listed in invoice["Payments"].as_array().into_iter().flatten() {
        let Some(id) = listed["PaymentID"].as_str() else {
            continue;
        };
        let payment = xero
            .call(
                &shop.tenant,
                Method::GET,
                &format!("/Payments/{id}"),
                &[],
                None,
                None,
            )
            .await
            .map_err(|err| anyhow!("cannot read payment {id} back from Xero: {err}"))?;
        let payment = payment["Payments"][0].clone();
        if payment["Status"] != "DELETED" {
            payments.push(payment);
        }
    }
    let mut report = format!(
        "Sent order {} for shop {} ({}) {}; booked as event {event_id}.\n\n{}",
        sample.number,
        options.shop,
        shop.platform,
        match &options.ingress {
            Some(url) => format!("through the ingress at {url}"),
            None => "straight to RabbitMQ (the ingress was not involved)".to_owned(),
        },
        render(&invoice, &payments, &org_name)
    );
    let mut invoice = invoice;
    if options.void {
        let id = document.xero_id.clone();
        for payment in &payments {
            let payment_id = payment["PaymentID"].as_str().unwrap_or_default();
            xero.call(
                &shop.tenant,
                Method::POST,
                &format!("/Payments/{payment_id}"),
                &[],
                Some(&json!({"Payments": [{"Status": "DELETED"}]})),
                Some(&format!("xcs-test-unpay-{payment_id}")),
            )
            .await
            .map_err(|err| {
                anyhow!(
                    "cannot delete payment {payment_id} ({err}); delete it in Xero (the \
                     invoice → the payment → Options → Remove and Redo), then void the invoice"
                )
            })?;
        }
        let voided = xero
            .call(
                &shop.tenant,
                Method::POST,
                &format!("/Invoices/{id}"),
                &[],
                Some(&json!({"Invoices": [{"InvoiceID": id, "Status": "VOIDED"}]})),
                Some(&format!("xcs-test-void-{id}")),
            )
            .await;
        if let Err(err) = voided {
            bail!(
                "{report}\ncannot void the invoice ({err}); void it in Xero (the invoice → \
                 Invoice options → Void)"
            );
        }
        invoice = read(id)
            .await
            .map_err(|err| anyhow!("cannot read the voided invoice back from Xero: {err}"))?;
        report.push_str(&format!(
            "\nVoided: {} payment(s) deleted, invoice {} is now {}.\n",
            payments.len(),
            invoice["InvoiceNumber"].as_str().unwrap_or_default(),
            invoice["Status"].as_str().unwrap_or_default()
        ));
    } else {
        report.push_str(
            "\nThis is a real invoice in Xero; run again with --void to void it (its payments \
             are deleted first), or void it in Xero.\n",
        );
    }
    Ok(Outcome {
        event_id,
        invoice,
        payments,
        report,
    })
}

fn sample_order(shop: &ShopConfig, currency: &str, now: time::OffsetDateTime) -> SampleOrder {
    let (rate, label) = match shop.mapping.tax.by_rate.keys().next() {
        Some(rate) => (rate.trim().parse().unwrap_or_default(), "Tax".to_owned()),
        None => match shop.mapping.tax.by_label.keys().next() {
            Some(label) => (Decimal::ZERO, label.clone()),
            None => (Decimal::ZERO, String::new()),
        },
    };
    let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
    SampleOrder {
        // Below 2^53, an id any JSON reader keeps exact.
        order_id: format!("9{millis}"),
        number: format!("TEST{millis}"),
        currency: currency.to_owned(),
        date: now.date().to_string(),
        rate,
        label,
        gateway: "xcs_test".to_owned(),
    }
}

/// Normalises and maps the sample as the processor will, so a mapping that cannot book it
/// stops here with the mapping's own message instead of a dead letter.
fn preflight(shop: &ShopConfig, orders: &TestOrders, body: &[u8]) -> anyhow::Result<()> {
    let order = (orders.normalise)(body)?;
    shop.mapping.invoice(
        &order,
        ContactRef {
            contact_id: "00000000-0000-0000-0000-000000000000".to_owned(),
        },
    )?;
    Ok(())
}

async fn send_to_ingress(
    url: &str,
    options: &Options,
    shop: &ShopConfig,
    orders: &TestOrders,
    body: &[u8],
) -> anyhow::Result<String> {
    let path = options.ingress_config.as_ref().ok_or_else(|| {
        anyhow!(
            "signing for the ingress needs the shop's secret: pass --ingress-config PATH (the \
             ingress's config file), or leave out --ingress to publish to RabbitMQ directly"
        )
    })?;
    let ingress = IngressShops::load(path)
        .with_context(|| format!("the ingress config {} is not valid", path.display()))?;
    let ingress_shop = ingress.get(&options.shop).ok_or_else(|| {
        anyhow!(
            "the ingress config {} has no [shops.{}]; add it (platform, tenant, secrets)",
            path.display(),
            options.shop
        )
    })?;
    let secret = ingress_shop.secrets.first().ok_or_else(|| {
        anyhow!(
            "the ingress config has no secret for shop {}; set its secrets",
            options.shop
        )
    })?;
    let mut mac =
        HmacSha256::new_from_slice(secret.expose_secret().as_bytes()).expect("any key length");
    mac.update(body);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let delivery = uuid::Uuid::new_v4().to_string();
    let headers = (orders.headers)(&options.shop, signature, delivery);
    let target = format!(
        "{}/webhooks/{}/{}",
        url.trim_end_matches('/'),
        shop.platform,
        options.shop
    );
    let mut request = reqwest::Client::new()
        .post(&target)
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the ingress at {target}; is it running?"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() && answer["status"] == "published" {
        return answer["event_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the ingress published but named no event id: {answer}"));
    }
    let next = match status.as_u16() {
        401 => {
            "the running ingress uses another secret than --ingress-config says; give both \
                the same config"
        }
        404 => "the running ingress does not know this shop; add it to its config and restart it",
        503 => "the ingress cannot reach RabbitMQ; see its /readyz and logs",
        _ => "see the ingress's logs",
    };
    bail!("the ingress answered {status} {answer}; {next}")
}

async fn publish(
    config: &Config,
    name: &str,
    shop: &ShopConfig,
    orders: &TestOrders,
    body: &[u8],
    event_id: &str,
) -> anyhow::Result<()> {
    let envelope = Envelope {
        event_id: event_id.to_owned(),
        platform: shop.platform,
        shop: name.to_owned(),
        tenant: shop.tenant.clone(),
        kind: EventKind::Order,
        topic: orders.topic.to_owned(),
        delivery_id: uuid::Uuid::now_v7().to_string(),
        received_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        source: xcs_shared::Source::Webhook,
    };
    let headers = envelope.field_table();
    let connection = Connection::connect(
        config.amqp.uri.expose_secret(),
        ConnectionProperties::default(),
    )
    .await
    .context("cannot connect to RabbitMQ; check [amqp] uri (or XCS_AMQP_URI)")?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let confirmation = channel
        .basic_publish(
            topology::EVENTS_EXCHANGE.into(),
            topology::routing_key(EventKind::Order, shop.platform)
                .as_str()
                .into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(event_id.into())
                .with_app_id("xcs-processor-test-transaction".into())
                .with_headers(headers),
        )
        .await
        .context("cannot publish; run `xcs-processor check` (is the topology in place?)")?
        .await?;
    let _ = connection.close(200, "published".into()).await;
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        other => bail!(
            "RabbitMQ did not take the order ({other:?}); run `xcs-processor check` to see \
             whether the topology is in place"
        ),
    }
}

fn money(value: &Value) -> String {
    match value {
        Value::Null => "0.00".to_owned(),
        other => other.to_string().trim_matches('"').to_owned(),
    }
}

fn day(value: &Value) -> &str {
    value.as_str().map_or("", |d| d.get(..10).unwrap_or(d))
}

/// The invoice as a person reads it.
pub fn render(invoice: &Value, payments: &[Value], org: &str) -> String {
    let mut out = format!(
        "Invoice  {}  {}  {}  {}  in {org}\nContact  {}\n",
        invoice["InvoiceNumber"].as_str().unwrap_or_default(),
        invoice["Status"].as_str().unwrap_or_default(),
        day(&invoice["DateString"]),
        invoice["CurrencyCode"].as_str().unwrap_or_default(),
        invoice["Contact"]["Name"].as_str().unwrap_or_default(),
    );
    for (i, line) in invoice["LineItems"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        out.push_str(&format!(
            "{}{} × {}  {}  account {}  {} tax {}  = {}\n",
            if i == 0 { "Lines    " } else { "         " },
            money(&line["Quantity"]),
            money(&line["UnitAmount"]),
            line["Description"].as_str().unwrap_or_default(),
            line["AccountCode"].as_str().unwrap_or_default(),
            line["TaxType"].as_str().unwrap_or_default(),
            money(&line["TaxAmount"]),
            money(&line["LineAmount"]),
        ));
    }
    out.push_str(&format!(
        "Totals   subtotal {}  tax {}  total {}  ({})\n",
        money(&invoice["SubTotal"]),
        money(&invoice["TotalTax"]),
        money(&invoice["Total"]),
        invoice["LineAmountTypes"].as_str().unwrap_or_default(),
    ));
    if payments.is_empty() {
        out.push_str("Payments none\n");
    }
    for (i, payment) in payments.iter().enumerate() {
        out.push_str(&format!(
            "{}{} into {} {} on {}{}\n",
            if i == 0 { "Payments " } else { "         " },
            money(&payment["Amount"]),
            payment["Account"]["Code"].as_str().unwrap_or_default(),
            payment["Account"]["Name"].as_str().unwrap_or_default(),
            crate::xero::date_text(&payment["Date"]),
            payment["Reference"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
        ));
    }
    out.push_str(&format!("Due      {}\n", money(&invoice["AmountDue"])));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payments_print_their_date_in_either_form_xero_uses() {
        assert_eq!(
            crate::xero::date_text(&json!("/Date(1552262400000+0000)/")),
            "2019-03-11"
        );
        assert_eq!(
            crate::xero::date_text(&json!("/Date(1552262400000)/")),
            "2019-03-11"
        );
        assert_eq!(
            crate::xero::date_text(&json!("2019-03-11T00:00:00")),
            "2019-03-11"
        );
        assert_eq!(crate::xero::date_text(&Value::Null), "");
        let payment = json!({
            "Amount": 28.75,
            "Date": "/Date(1552262400000+0000)/",
            "Account": {"Code": "615", "Name": "Shopify Clearing"},
        });
        let text = render(&json!({}), &[payment], "Demo");
        assert!(
            text.contains("Payments 28.75 into 615 Shopify Clearing on 2019-03-11\n"),
            "{text}"
        );
    }
}
