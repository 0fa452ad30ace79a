//! Shows a signed delivery flowing through a running ingress into RabbitMQ: taps the events
//! exchange with a private queue, POSTs a Shopify `orders/paid` webhook signed as Shopify
//! would, and prints the HTTP answer and the message that landed (the shard queues get their
//! own copy, for the processor). Used by `scripts/start-local.sh`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;
use futures_util::StreamExt as _;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
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
        let url = format!("{sim}/__sim/tenants/{}/invoices", args.tenant);
        let number = format!("SH-{order_number}");
        println!("\nWaiting for the processor to book invoice {number} in the Xero simulator...");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let invoices: Vec<serde_json::Value> = reqwest::get(&url).await?.json().await?;
            if let Some(invoice) = invoices
                .iter()
                .find(|i| i["InvoiceNumber"] == number.as_str())
            {
                println!(
                    "Booked: {} {} {} total {} (tax {}), status {}",
                    invoice["Type"].as_str().unwrap_or_default(),
                    number,
                    invoice["CurrencyCode"].as_str().unwrap_or_default(),
                    invoice["Total"],
                    invoice["TotalTax"],
                    invoice["Status"].as_str().unwrap_or_default()
                );
                for line in invoice["LineItems"].as_array().into_iter().flatten() {
                    println!(
                        "  {} | {} x {} | account {} | {} tax {}",
                        line["Description"].as_str().unwrap_or_default(),
                        line["Quantity"],
                        line["UnitAmount"],
                        line["AccountCode"].as_str().unwrap_or_default(),
                        line["TaxType"].as_str().unwrap_or_default(),
                        line["TaxAmount"]
                    );
                }
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("no invoice {number} after 30 s; see the processor's log");
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(())
}
