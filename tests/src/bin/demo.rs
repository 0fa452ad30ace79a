//! Shows a signed delivery flowing through a running ingress into RabbitMQ: taps the events
//! exchange with a private queue, POSTs a Shopify `orders/paid` webhook signed as Shopify
//! would, and prints the HTTP answer and the message that landed (the shard queues get their
//! own copy, for the processor). With `--xero-sim`, waits for the invoice the processor books
//! and its payment, and prints them so the numbers can be followed: each line's quantity, unit
//! price and discount to its amount, the lines to the subtotal, subtotal and tax to the total,
//! and the payments (amount, account, date) to what is left due. Used by
//! `scripts/start-local.sh`.

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::StreamExt as _;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use rust_decimal::Decimal;
use serde_json::Value;
use xcs_tests::{fixtures, signer};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    ingress: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/xcs")]
    amqp: String,
    /// A Shopify shop in the ingress's config, and its secret.
    #[arg(long, default_value = "demo-shopify")]
    shop: String,
    #[arg(long, default_value = "local-dev-shopify-secret")]
    secret: String,
    /// The Xero simulator's root URL; when given, waits for the invoice the processor books.
    #[arg(long)]
    xero_sim: Option<String>,
    /// The tenant the shop books into (the simulator's NZ demo company by default).
    #[arg(long, default_value = "a3a6c1f2-4d0b-4f59-9c1e-5b7e2f1d9a01")]
    tenant: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connection = Connection::connect(&args.amqp, ConnectionProperties::default())
        .await
        .context("cannot connect to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    let tap = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            tap.name().clone(),
            xcs_shared::topology::EVENTS_EXCHANGE.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("the topology is missing: import deploy/rabbitmq/definitions.json")?;
    let mut consumer = channel
        .basic_consume(
            tap.name().clone(),
            "demo".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await?;

    let order_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let order_number = order_id % 100_000;
    let delivery = signer::shopify(
        &args.shop,
        &args.secret,
        "orders/paid",
        &uuid::Uuid::new_v4().to_string(),
        &fixtures::shopify_nz_order(order_id, order_number, true),
    );
    println!(
        "POST {}{}  ({} bytes, X-Shopify-Topic: orders/paid)",
        args.ingress,
        delivery.path(),
        delivery.body.len()
    );
    let mut request = reqwest::Client::new()
        .post(format!("{}{}", args.ingress, delivery.path()))
        .body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .context("the ingress is not answering")?;
    let status = response.status();
    println!("<- {status} {}", response.text().await?);
    if !status.is_success() {
        bail!("the ingress refused the delivery");
    }

    let message = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .context("nothing arrived in RabbitMQ within 5 s")?
        .context("the tap closed")??;
    println!(
        "\nLanded on exchange {} with routing key {}:",
        message.exchange, message.routing_key
    );
    if let Some(headers) = message.properties.headers() {
        for (name, value) in headers.inner() {
            if let lapin::types::AMQPValue::LongString(value) = value {
                println!("  {name}: {}", String::from_utf8_lossy(value.as_bytes()));
            }
        }
    }
    println!(
        "  body: {} bytes, identical to what was signed: {}",
        message.data.len(),
        message.data == delivery.body
    );
    let _ = connection.close(200, "demo done".into()).await;

    if let Some(sim) = &args.xero_sim {
        let number = format!("SH-{order_number}");
        println!("\nWaiting for the processor to book invoice {number} in the Xero simulator...");
        let invoice = wait_for_invoice(sim, &args.tenant, &number).await?;
        print!("{}", render(&invoice.invoice, &invoice.payments)?);
    }
    Ok(())
}

struct Booked {
    invoice: Value,
    /// The invoice's payments as `GET /Payments` has them (with their account).
    payments: Vec<Value>,
}

/// Waits up to 30 s for invoice `number`, then up to 20 s more for its payments to cover it
/// (the processor books payments in a second stage, a few seconds after the invoice).
async fn wait_for_invoice(sim: &str, tenant: &str, number: &str) -> anyhow::Result<Booked> {
    let invoices_url = format!("{sim}/__sim/tenants/{tenant}/invoices");
    let payments_url = format!("{sim}/__sim/tenants/{tenant}/payments");
    let get = |url: String| async move {
        reqwest::get(&url)
            .await
            .with_context(|| format!("the Xero simulator is not answering {url}"))?
            .error_for_status()
            .with_context(|| format!("the Xero simulator refused {url}"))?
            .json::<Vec<Value>>()
            .await
            .with_context(|| format!("the Xero simulator's {url} is not a JSON list"))
    };
    let invoice_deadline = Instant::now() + Duration::from_secs(30);
    let mut payment_deadline = None;
    loop {
        let invoices = get(invoices_url.clone()).await?;
        if let Some(invoice) = invoices.into_iter().find(|i| i["InvoiceNumber"] == number) {
            let deadline =
                *payment_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(20));
            let due = decimal(&invoice["AmountDue"]).unwrap_or_default();
            if due.is_zero() || Instant::now() > deadline {
                let payments = get(payments_url.clone())
                    .await?
                    .into_iter()
                    .filter(|p| p["Invoice"]["InvoiceID"] == invoice["InvoiceID"])
                    .filter(|p| p["Status"] == "AUTHORISED")
                    .collect();
                return Ok(Booked { invoice, payments });
            }
        } else if Instant::now() > invoice_deadline {
            bail!(
                "no invoice {number} in the Xero simulator after 30 s; the processor's log says \
                 why (scripts/start-local.sh names it)"
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A JSON number or numeric string as a decimal (the simulator prints money as numbers).
fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .ok(),
        Value::String(s) => Decimal::from_str(s).ok(),
        _ => None,
    }
}

fn money(value: &Value) -> String {
    decimal(value).map_or_else(|| "?".to_owned(), |d| format!("{:.2}", d.round_dp(2)))
}

/// The invoice as a bookkeeper checks it: every line from quantity × unit price less its
/// discount to its amount, the sums, and the payments against the total. Fails when the
/// numbers Xero holds do not add up, which would be a bug worth seeing.
fn render(invoice: &Value, payments: &[Value]) -> anyhow::Result<String> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let amount = |v: &Value| decimal(v).unwrap_or_default();
    let mut out = format!(
        "Booked: {} invoice {}, {}, {}, dated {}, contact {}\n",
        text(&invoice["Type"]),
        text(&invoice["InvoiceNumber"]),
        text(&invoice["Status"]),
        text(&invoice["CurrencyCode"]),
        xcs_processor::xero::date_text(&invoice["DateString"]),
        text(&invoice["Contact"]["Name"]),
    );
    let lines = invoice["LineItems"].as_array().cloned().unwrap_or_default();
    let width = lines
        .iter()
        .map(|l| {
            l["Description"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .count()
        })
        .max()
        .unwrap_or(0);
    let mut line_sum = Decimal::ZERO;
    let mut tax_sum = Decimal::ZERO;
    for line in &lines {
        let quantity = amount(&line["Quantity"]);
        let unit = amount(&line["UnitAmount"]);
        let gross = quantity * unit;
        let discount = if let Some(d) = decimal(&line["DiscountAmount"]) {
            d
        } else if let Some(rate) = decimal(&line["DiscountRate"]) {
            (gross * rate / Decimal::ONE_HUNDRED).round_dp(2)
        } else {
            Decimal::ZERO
        };
        let discount_text = if discount.is_zero() {
            String::new()
        } else if let Some(rate) = decimal(&line["DiscountRate"]) {
            format!(" − {rate}% ({discount:.2})")
        } else {
            format!(" − {discount:.2} discount")
        };
        line_sum += amount(&line["LineAmount"]);
        tax_sum += amount(&line["TaxAmount"]);
        out.push_str(&format!(
            "  {:width$}  {} × {}{discount_text} = {}   account {}, {} tax {}\n",
            text(&line["Description"]),
            quantity.normalize(),
            money(&line["UnitAmount"]),
            money(&line["LineAmount"]),
            text(&line["AccountCode"]),
            text(&line["TaxType"]),
            money(&line["TaxAmount"]),
        ));
    }
    let sub_total = amount(&invoice["SubTotal"]);
    let total_tax = amount(&invoice["TotalTax"]);
    let total = amount(&invoice["Total"]);
    let inclusive = invoice["LineAmountTypes"] == "Inclusive";
    out.push_str(&format!(
        "  lines {line_sum:.2}{}; subtotal {sub_total:.2} + tax {total_tax:.2} = total {total:.2}  \
         (amounts {})\n",
        if inclusive { " incl. tax" } else { "" },
        text(&invoice["LineAmountTypes"]).to_lowercase(),
    ));
    let paid: Decimal = payments.iter().map(|p| amount(&p["Amount"])).sum();
    if payments.is_empty() {
        out.push_str("  payments: none yet (the order was paid; see the processor's log)\n");
    }
    for payment in payments {
        out.push_str(&format!(
            "  paid {} on {} into account {} {}{}\n",
            money(&payment["Amount"]),
            xcs_processor::xero::date_text(&payment["Date"]),
            text(&payment["Account"]["Code"]),
            text(&payment["Account"]["Name"]),
            payment["Reference"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(|r| format!(", reference {r}"))
                .unwrap_or_default(),
        ));
    }
    let due = amount(&invoice["AmountDue"]);
    out.push_str(&format!(
        "  total {total:.2} − paid {paid:.2} = due {due:.2}\n"
    ));
    let expected_sum = if inclusive { total } else { sub_total };
    let mut wrong = Vec::new();
    if line_sum != expected_sum {
        wrong.push(format!(
            "the lines sum to {line_sum:.2}, not {expected_sum:.2}"
        ));
    }
    if tax_sum != total_tax {
        wrong.push(format!(
            "the lines' tax sums to {tax_sum:.2}, not {total_tax:.2}"
        ));
    }
    if sub_total + total_tax != total {
        wrong.push("subtotal + tax is not the total".to_owned());
    }
    if total - paid != due {
        wrong.push(format!("total − paid is not the {due:.2} due"));
    }
    if !wrong.is_empty() {
        bail!("{out}the invoice does not add up: {}", wrong.join("; "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_discounted_paid_invoice_adds_up_line_by_line() {
        let invoice = json!({
            "Type": "ACCREC", "InvoiceNumber": "SH-1", "Status": "PAID", "CurrencyCode": "NZD",
            "DateString": "2026-11-20T00:00:00", "Contact": {"Name": "Shopify Sales"},
            "LineAmountTypes": "Exclusive",
            "LineItems": [
                {"Description": "Kauri mug", "Quantity": 2.0, "UnitAmount": 25.0,
                 "DiscountAmount": 5.0, "LineAmount": 45.0, "AccountCode": "200",
                 "TaxType": "OUTPUT2", "TaxAmount": 6.75},
                {"Description": "Courier", "Quantity": 1.0, "UnitAmount": 10.0,
                 "LineAmount": 10.0, "AccountCode": "205", "TaxType": "OUTPUT2",
                 "TaxAmount": 1.5}
            ],
            "SubTotal": 55.0, "TotalTax": 8.25, "Total": 63.25, "AmountDue": 0.0
        });
        let payment = json!({"Amount": 63.25, "Date": "/Date(1795132800000+0000)/",
            "Account": {"Code": "615", "Name": "Shopify Clearing"}, "Reference": "#1"});
        let text = render(&invoice, &[payment]).unwrap();
        assert!(text.contains("2 × 25.00 − 5.00 discount = 45.00"), "{text}");
        assert!(
            text.contains("subtotal 55.00 + tax 8.25 = total 63.25"),
            "{text}"
        );
        assert!(
            text.contains("paid 63.25 on 2026-11-20 into account 615 Shopify Clearing"),
            "{text}"
        );
        assert!(
            text.contains("total 63.25 − paid 63.25 = due 0.00"),
            "{text}"
        );

        let mut short = invoice.clone();
        short["AmountDue"] = json!(10.0);
        let err = render(&short, &[]).unwrap_err().to_string();
        assert!(err.contains("does not add up"), "{err}");
    }
}
