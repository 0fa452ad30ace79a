//! What an event's payload becomes with today's config: the normalised order, the mapping
//! applied and the Xero request, on the event's page.
//!
//! The ledger keeps no payloads. A dead event's payload is in the dead queue (`xcs.dead`,
//! read as `dead show` reads it); any event received in the last 30 days is in the archive
//! stream (`xcs.archive`, read from a little before the event's receipt as `resync` reads it,
//! but without appending a marker: a read page changes nothing). Each read is bounded in time
//! ([`READ_FOR`]) and the archive also in messages ([`ARCHIVE_MAX`]).
//!
//! The payload then goes through the processor's pure steps only: the platform's normaliser,
//! the cleaning and plausibility checks, and the shop's mapping. Nothing here calls Xero, a
//! platform API or writes to the ledger (a refund's order is read from it, as the processor
//! does). An event the processor would complete with a platform API's data (a thin webhook, a
//! Shopify order paid through several gateways) says so instead of guessing.
//!
//! What is shown holds no secret and no customer data Xero does not hold: the raw payload
//! (emails, addresses, phone numbers) is not shown; the normalised model's only personal data,
//! its customer, is masked to what the shop's contact strategy sends to Xero ([`masked`]).

use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use maud::{Markup, html};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use xcs_shared::domain::{Customer, Normalised, Order, Refund};
use xcs_shared::envelope::header as envelope_header;
use xcs_shared::topology::ARCHIVE_QUEUE;
use xcs_shared::{Envelope, EventKind, Platform};

use super::Console;
use crate::booking::contact_choice;
use crate::config::{ContactStrategy, ShopConfig, SyncMode};
use crate::error::ProcessError;
use crate::ledger::{DeadLetterRow, DeadState, EventRow};
use crate::mapping::{self, ShopMapping};
use crate::normalise::{self, NormaliseError, OrderContext};
use crate::platforms::{ebay, etsy, magento, shopify, woocommerce};
use crate::publisher::header_str;
use crate::xero::types::{self, ContactRef, LineItem, PaymentTarget};

/// The longest a page waits for one read of a queue or the stream.
const READ_FOR: Duration = Duration::from_secs(3);
/// How long a silent archive stream is taken to be at its end: before its first message
/// (nothing archived since), and between two.
const FIRST_MESSAGE: Duration = Duration::from_secs(1);
const END_OF_STREAM: Duration = Duration::from_millis(300);
/// How far before the event's receipt the archive is read from: the broker's clock and the
/// ingress's may differ, and a timestamp offset starts at a chunk.
const ARCHIVE_BEFORE: Duration = Duration::from_secs(120);
/// How far past the event's receipt the archive is read before giving up on it.
const ARCHIVE_AFTER: Duration = Duration::from_secs(300);
/// The most archive messages one page reads.
const ARCHIVE_MAX: u32 = 20_000;
/// How long the archive keeps events (`xcs_shared::topology`).
const ARCHIVE_DAYS: i64 = 30;

/// What the request holds where Xero's own ids go: the contact's, found or created when the
/// document is booked, and the document's, known once it is created.
const CONTACT_ID: &str = "(the contact's id in Xero, found or created when booked)";
const INVOICE_ID: &str = "(the invoice's id, once Xero created it)";
const CREDIT_NOTE_ID: &str = "(the credit note's id, once Xero created it)";
/// What a masked customer field says.
const NOT_SENT: &str = "(not shown: not sent to Xero)";

/// The event's section: what its payload becomes, or why that cannot be shown.
pub(super) async fn section(
    console: &Console,
    event_id: &str,
    event: Option<&EventRow>,
    dead: Option<&DeadLetterRow>,
) -> Markup {
    let preview = match find(console, event_id, event, dead).await {
        Err(why) => Err(why),
        Ok(payload) => match console.config.shop(&payload.envelope.shop) {
            None => Ok((
                payload.place,
                Preview::stopped(ProcessError::UnknownShop(payload.envelope.shop.clone())),
            )),
            Some(shop) => {
                let order = refund_order(console, &payload.envelope, &payload.body).await;
                let today = OffsetDateTime::now_utc().date();
                Ok((
                    payload.place,
                    preview(&payload.envelope, shop, &payload.body, &order, today),
                ))
            }
        },
    };
    render(preview)
}

/// An event's payload, with its envelope and where it was found.
struct Payload {
    envelope: Envelope,
    body: Vec<u8>,
    place: &'static str,
}

/// The payload: the dead letter's if the event is dead, else the archive's copy.
async fn find(
    console: &Console,
    event_id: &str,
    event: Option<&EventRow>,
    dead: Option<&DeadLetterRow>,
) -> Result<Payload, String> {
    let connection = tokio::time::timeout(READ_FOR, console.broker())
        .await
        .map_err(|_| {
            format!(
                "RabbitMQ could not be reached in time ({} s)",
                READ_FOR.as_secs()
            )
        })?
        .map_err(|err| format!("{err:#}"))?;
    let mut tried = Vec::new();
    if dead.is_some_and(|row| row.state == DeadState::Dead) {
        match tokio::time::timeout(READ_FOR, crate::operate::dead::show(&connection, event_id))
            .await
        {
            Ok(Ok(letters)) => match letters.into_iter().next() {
                Some(letter) => {
                    return crate::consumer::envelope_of(letter.properties.headers().as_ref())
                        .map(|envelope| Payload {
                            envelope,
                            body: letter.body,
                            place: "the dead queue xcs.dead",
                        })
                        .map_err(|err| {
                            format!("the dead letter's headers are not an event's envelope: {err}")
                        });
                }
                None => tried.push("it is not in the dead queue xcs.dead".to_owned()),
            },
            Ok(Err(err)) => tried.push(format!("the dead queue could not be read ({err:#})")),
            Err(_) => tried.push(format!(
                "the dead queue could not be read in time ({} s)",
                READ_FOR.as_secs()
            )),
        }
    }
    let Some(received) = event.and_then(|e| OffsetDateTime::parse(&e.received_at, &Rfc3339).ok())
    else {
        tried.push("the ledger has no time of receipt to look for it in the archive".to_owned());
        return Err(tried.join("; "));
    };
    if OffsetDateTime::now_utc() - received > time::Duration::days(ARCHIVE_DAYS) {
        tried.push(format!(
            "it was received more than {ARCHIVE_DAYS} days ago, and the archive keeps \
             {ARCHIVE_DAYS} days"
        ));
        return Err(tried.join("; "));
    }
    match from_archive(&connection, event_id, received).await {
        Ok(Some(payload)) => return Ok(payload),
        Ok(None) => tried.push(format!(
            "it is not in the archive {ARCHIVE_QUEUE} near its time of receipt"
        )),
        Err(why) => tried.push(why),
    }
    Err(tried.join("; "))
}

/// The archive's copy of the event, read from a little before its receipt.
async fn from_archive(
    connection: &lapin::Connection,
    event_id: &str,
    received: OffsetDateTime,
) -> Result<Option<Payload>, String> {
    let channel = connection
        .create_channel()
        .await
        .map_err(|err| format!("cannot open a channel to RabbitMQ ({err})"))?;
    let read = tokio::time::timeout(READ_FOR, read_archive(&channel, event_id, received)).await;
    // Closing the channel ends the stream consumer; a stream keeps what was read.
    let _ = channel.close(200, "preview read".into()).await;
    let Some(delivery) = read.map_err(|_| {
        format!(
            "the archive {ARCHIVE_QUEUE} could not be read in time ({} s)",
            READ_FOR.as_secs()
        )
    })??
    else {
        return Ok(None);
    };
    let envelope = crate::consumer::envelope_of(delivery.properties.headers().as_ref())
        .map_err(|err| format!("the archived event's headers are not an envelope: {err}"))?;
    Ok(Some(Payload {
        envelope,
        body: delivery.data,
        place: "the archive xcs.archive",
    }))
}

async fn read_archive(
    channel: &lapin::Channel,
    event_id: &str,
    received: OffsetDateTime,
) -> Result<Option<lapin::message::Delivery>, String> {
    let cannot = |what: &str, err: lapin::Error| format!("cannot {what} the archive ({err})");
    channel
        .basic_qos(500, BasicQosOptions::default())
        .await
        .map_err(|err| cannot("read", err))?;
    let mut arguments = FieldTable::default();
    let start = received - ARCHIVE_BEFORE;
    arguments.insert(
        ShortString::from("x-stream-offset"),
        AMQPValue::Timestamp(u64::try_from(start.unix_timestamp()).unwrap_or(0)),
    );
    let tag = format!("xcs-console-preview-{}", uuid::Uuid::now_v7().simple());
    let mut consumer = channel
        .basic_consume(
            ARCHIVE_QUEUE.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            arguments,
        )
        .await
        .map_err(|err| cannot("read", err))?;
    let mut read = 0;
    loop {
        // A stream consumer at the stream's end just waits: a pause this long after the first
        // message means the end is reached (the broker sends what it has in credit-sized
        // bursts), so an event the archive does not hold costs a moment, not the time limit.
        let wait = if read == 0 {
            FIRST_MESSAGE
        } else {
            END_OF_STREAM
        };
        let Ok(next) = tokio::time::timeout(wait, consumer.next()).await else {
            return Ok(None);
        };
        let Some(delivery) = next else {
            return Ok(None);
        };
        let delivery = delivery.map_err(|err| cannot("read", err))?;
        // Acknowledged only to grant credit: a stream removes nothing.
        delivery
            .ack(BasicAckOptions::default())
            .await
            .map_err(|err| cannot("acknowledge a message of", err))?;
        read += 1;
        let headers = delivery.properties.headers().as_ref();
        if header_str(headers, envelope_header::EVENT_ID).as_deref() == Some(event_id) {
            return Ok(Some(delivery));
        }
        let past = header_str(headers, envelope_header::RECEIVED_AT)
            .and_then(|at| OffsetDateTime::parse(&at, &Rfc3339).ok())
            .is_some_and(|at| at > received + ARCHIVE_AFTER);
        if past || read >= ARCHIVE_MAX {
            return Ok(None);
        }
    }
}

/// A refund's order, as the processor reads it from the ledger before crediting it.
#[derive(Debug, Clone)]
enum RefundOrder {
    /// Not a refund the normaliser needs its order for.
    NotNeeded,
    Booked(OrderContext),
    /// The order (its platform id) is not booked yet.
    NotBooked(String),
    /// The ledger could not say.
    Unknown(String),
}

/// The id of the order a refund payload names, for the platforms whose refunds are read with
/// their booked order's context from the payload alone.
fn refund_order_id(envelope: &Envelope, body: &[u8]) -> Option<String> {
    if envelope.kind != EventKind::Refund {
        return None;
    }
    match envelope.platform {
        Platform::Shopify => {
            let value: Value = serde_json::from_slice(body).ok()?;
            match value.get("order_id")? {
                Value::String(id) if !id.is_empty() => Some(id.clone()),
                Value::Number(id) => Some(id.to_string()),
                _ => None,
            }
        }
        Platform::Magento => magento::normalise::ids(body).ok()?.order_id,
        _ => None,
    }
}

async fn refund_order(console: &Console, envelope: &Envelope, body: &[u8]) -> RefundOrder {
    let Some(order_id) = refund_order_id(envelope, body) else {
        return RefundOrder::NotNeeded;
    };
    match console
        .ledger
        .order_for_refund(&envelope.shop, &order_id)
        .await
    {
        Ok(Some(invoice)) => match xcs_shared::domain::Currency::try_from(invoice.currency) {
            Ok(currency) => RefundOrder::Booked(OrderContext {
                number: invoice.order_number,
                currency,
                tax_mode: invoice.tax_mode,
            }),
            Err(err) => RefundOrder::Unknown(err.to_string()),
        },
        Ok(None) => RefundOrder::NotBooked(order_id),
        Err(err) => RefundOrder::Unknown(err.to_string()),
    }
}

impl RefundOrder {
    fn context(&self) -> Result<&OrderContext, Stop> {
        match self {
            RefundOrder::Booked(context) => Ok(context),
            RefundOrder::NotBooked(order_id) => Err(Stop::Error(ProcessError::OrderNotBooked {
                order: order_id.clone(),
                order_id: order_id.clone(),
            })),
            RefundOrder::Unknown(why) => Err(Stop::Error(ProcessError::Ledger(why.clone()))),
            RefundOrder::NotNeeded => Err(Stop::Cannot(
                "the refund names no order this page can look up".to_owned(),
            )),
        }
    }
}

/// Where the steps stopped.
#[derive(Debug)]
enum Stop {
    /// Where the processor stops too, with its error.
    Error(ProcessError),
    /// What this page cannot do without calling out (a platform API): why.
    Cannot(String),
}

impl From<NormaliseError> for Stop {
    fn from(err: NormaliseError) -> Self {
        Stop::Error(err.into())
    }
}

impl From<ProcessError> for Stop {
    fn from(err: ProcessError) -> Self {
        Stop::Error(err)
    }
}

impl From<mapping::MappingError> for Stop {
    fn from(err: mapping::MappingError) -> Self {
        Stop::Error(err.into())
    }
}

/// What the payload became, step by step, and where the steps stopped.
#[derive(Debug, Default)]
struct Preview {
    /// What the operator should know about how the processor treats this event.
    notes: Vec<String>,
    /// The domain model, masked ([`masked`]).
    normalised: Option<Value>,
    /// What the mapping chose: (what, chosen).
    mapping: Vec<(String, String)>,
    /// The requests booking sends: (method and path, body).
    requests: Vec<(String, Value)>,
    stop: Option<Stop>,
}

impl Preview {
    fn stopped(err: ProcessError) -> Self {
        Preview {
            stop: Some(Stop::Error(err)),
            ..Preview::default()
        }
    }
}

/// The processor's pure steps over one payload: normalise, check, map.
fn preview(
    envelope: &Envelope,
    shop: &ShopConfig,
    body: &[u8],
    order: &RefundOrder,
    today: Date,
) -> Preview {
    let mut preview = Preview::default();
    if envelope.kind != EventKind::Payout && !shop.sync.contains(&envelope.kind) {
        preview.notes.push(format!(
            "The shop does not sync {} events: the processor records this one as skipped and \
             books nothing. Shown is what it would book if the shop synced them.",
            envelope.kind
        ));
    }
    let mut normalised = match normalised(envelope, body, order, &mut preview.notes) {
        Ok(normalised) => normalised,
        Err(stop) => {
            preview.stop = Some(stop);
            return preview;
        }
    };
    let checked = check(&mut normalised, today);
    preview.normalised = Some(masked(&normalised, &shop.contacts));
    if let Err(err) = checked {
        preview.stop = Some(err);
        return preview;
    }
    if shop.mode == SyncMode::Summary {
        preview.notes.push(
            "The shop books in summary mode: the processor adds this event to its period's \
             summary document instead of booking a document of its own. Shown is the document \
             it would be in realtime mode."
                .to_owned(),
        );
    }
    if let Err(stop) = map(&normalised, shop, &mut preview) {
        preview.stop = Some(stop);
    }
    preview
}

/// The platform's normaliser over the payload, as `crate::platforms`' `work_for` runs it,
/// where that needs nothing but the payload (and, for a refund, its booked order).
fn normalised(
    envelope: &Envelope,
    body: &[u8],
    order: &RefundOrder,
    notes: &mut Vec<String>,
) -> Result<Normalised, Stop> {
    let fetched = |what: &str| {
        Stop::Cannot(format!(
            "{what}: the processor fetches what it books from the platform's API, which this \
             page does not call"
        ))
    };
    match envelope.kind {
        EventKind::Payout => {
            return Err(Stop::Cannot(
                "a payout becomes a bank transfer and fees, read from the platform's payouts \
                 API; it is not previewed here"
                    .to_owned(),
            ));
        }
        EventKind::Inventory => {
            return Err(Stop::Cannot(
                "a stock event becomes a stock level or adjustment, not an invoice or credit \
                 note; it is not previewed here"
                    .to_owned(),
            ));
        }
        EventKind::Order | EventKind::Refund => {}
    }
    let refund = envelope.kind == EventKind::Refund;
    Ok(match (envelope.platform, refund) {
        (Platform::Shopify, false) => {
            if let Ok(value) = serde_json::from_slice::<Value>(body)
                && shopify::normalise::needs_transactions(&normalise::unwrap_resource(
                    value,
                    &["order"],
                ))
            {
                notes.push(
                    "The order was paid through several gateways: the processor fetches its \
                     transactions from Shopify's Admin API to split the payment, which this page \
                     does not call, so its payments are shown without them."
                        .to_owned(),
                );
            }
            Normalised::Order(shopify::normalise::order(body)?)
        }
        (Platform::Shopify, true) => Normalised::Refunds {
            order: None,
            refunds: vec![shopify::normalise::refund(body, order.context()?)?],
        },
        (Platform::WooCommerce, false) => woocommerce::normalise::order(body)?,
        (Platform::WooCommerce, true) => {
            return Err(fetched(
                "WooCommerce refunds are fetched from the store's REST API",
            ));
        }
        (Platform::Magento, false) => match magento::normalise::subject(body)? {
            magento::normalise::Subject::Order(_) => match magento::normalise::order(body) {
                Err(missing @ NormaliseError::Missing { .. }) => {
                    return Err(fetched(&format!(
                        "{missing}; an Adobe Commerce order event without it is read from the \
                         store's REST API"
                    )));
                }
                normalised => normalised?,
            },
            magento::normalise::Subject::Invoice(_) => {
                return Err(fetched(
                    "an Adobe Commerce invoice event is a capture of its order, booked from the \
                     order as the store's REST API and the ledger have it",
                ));
            }
        },
        (Platform::Magento, true) => match magento::normalise::refund(body, order.context()?) {
            Err(missing @ NormaliseError::Missing { .. }) => {
                return Err(fetched(&format!(
                    "{missing}; an Adobe Commerce credit memo event without it is read from \
                     the store's REST API"
                )));
            }
            refund => Normalised::Refunds {
                order: None,
                refunds: vec![refund?],
            },
        },
        (Platform::Etsy, _) if envelope.topic == etsy::poll::TOPIC => {
            etsy::normalise::receipt(body)?
        }
        (Platform::Etsy, _) => return Err(fetched("Etsy webhooks carry the receipt URL only")),
        (Platform::Ebay, _) if envelope.topic == ebay::poll::TOPIC => ebay::normalise::order(body)?,
        (Platform::Ebay, _) => {
            return Err(fetched("eBay notifications carry the order id only"));
        }
        // Even the poller's listed order lacks its products, which are fetched.
        (Platform::BigCommerce, _) => {
            return Err(fetched("BigCommerce events carry ids only"));
        }
    })
}

/// The cleaning and plausibility checks `crate::dispatch` runs on every document.
fn check(normalised: &mut Normalised, today: Date) -> Result<(), Stop> {
    match normalised {
        Normalised::Order(order) => crate::dispatch::check_documents(Some(order), &mut [], today)?,
        Normalised::Refunds { order, refunds } => {
            crate::dispatch::check_documents(order.as_mut(), refunds, today)?;
        }
        Normalised::Stock(_) | Normalised::Nothing { .. } => {}
    }
    Ok(())
}

/// The domain model as shown, with the customer masked to what Xero gets: a shop that books
/// to one contact sends nothing of its customers; one with a contact per customer sends the
/// name and the email (trimmed and lower-cased, as booking does), never the platform's
/// customer id, and a customer without an email gets the fallback contact, so nothing of
/// theirs either. The model holds no other personal data: no addresses, no phone numbers
/// (lines, payments and totals are what the documents carry).
fn masked(normalised: &Normalised, contacts: &ContactStrategy) -> Value {
    let mut normalised = normalised.clone();
    let mut orders: Vec<&mut Order> = Vec::new();
    match &mut normalised {
        Normalised::Order(order) => orders.push(order),
        Normalised::Refunds {
            order: Some(order), ..
        } => orders.push(order),
        _ => {}
    }
    let mut hidden_whole = false;
    for order in orders {
        let Some(customer) = order.customer.as_mut() else {
            continue;
        };
        match contact_choice(contacts, Some(customer)).email {
            Some(email) => {
                customer.id = customer.id.as_ref().map(|_| NOT_SENT.to_owned());
                customer.email = Some(email);
                customer.name = customer
                    .name
                    .as_ref()
                    .filter(|name| !name.trim().is_empty())
                    .map(|name| name.trim().to_owned());
            }
            _ => {
                order.customer = None;
                hidden_whole = true;
            }
        }
    }
    let mut value = serde_json::to_value(&normalised).expect("the domain model serialises");
    if hidden_whole {
        let customer = match &mut value["type"] {
            Value::String(kind) if kind == "order" => Some(&mut value["customer"]),
            _ => value.get_mut("order").map(|order| &mut order["customer"]),
        };
        if let Some(customer) = customer {
            *customer = json!(NOT_SENT);
        }
    }
    value
}

/// The contact a document is raised against, as booking chooses it.
fn contact_of(contacts: &ContactStrategy, customer: Option<&Customer>) -> String {
    let choice = contact_choice(contacts, customer);
    match (contacts, &choice.email) {
        (ContactStrategy::Generic { .. }, _) => format!(
            "{:?}, the shop's one contact (found by name in Xero, or created)",
            choice.name
        ),
        (ContactStrategy::PerCustomer { .. }, Some(_)) => format!(
            "{:?}, the customer's contact (found by email in Xero, or created)",
            choice.name
        ),
        (ContactStrategy::PerCustomer { .. }, None) => format!(
            "{:?}, the shop's contact for customers without an email (found by name in Xero, \
             or created)",
            choice.name
        ),
    }
}

/// The mapping onto the shop's Xero setup, and the requests booking would send.
fn map(normalised: &Normalised, shop: &ShopConfig, preview: &mut Preview) -> Result<(), Stop> {
    let mapping = &shop.mapping;
    let contact = ContactRef {
        contact_id: CONTACT_ID.to_owned(),
    };
    let facts = &mut preview.mapping;
    let (order, refunds): (Option<&Order>, &[Refund]) = match normalised {
        Normalised::Order(order) => (Some(order), &[]),
        Normalised::Refunds { order, refunds } => (order.as_ref(), refunds),
        Normalised::Nothing { reason } => {
            preview.notes.push(format!("Nothing to book: {reason}."));
            return Ok(());
        }
        Normalised::Stock(_) => {
            return Err(Stop::Cannot(
                "the payload is stock levels, not an order or refund".to_owned(),
            ));
        }
    };
    if let Some(order) = order {
        if order.cancelled {
            preview.notes.push(format!(
                "Order {} is cancelled: the processor voids its invoice if one is booked, and \
                 books nothing otherwise. Shown is the invoice it would have.",
                order.number
            ));
        }
        let mapped = mapping.invoice(order, contact.clone())?;
        let invoice = &mapped.invoice;
        facts.push((
            "Invoice number".to_owned(),
            format!(
                "{} (the shop's prefix {:?} and the order number; {} and on for an order \
                 booked again after its invoice was voided)",
                invoice.invoice_number,
                mapping.document_prefix,
                crate::booking::booking_number(&invoice.invoice_number, 2),
            ),
        ));
        facts.push(("Reference".to_owned(), invoice.reference.clone()));
        facts.push((
            "Contact".to_owned(),
            contact_of(&shop.contacts, order.customer.as_ref()),
        ));
        document_facts(
            facts,
            mapping,
            &invoice.currency_code,
            invoice.line_amount_types,
            &mapped.total,
            &invoice.line_items,
            &order.lines,
        );
        let payments = mapping.order_payments(order, mapped.total);
        payment_facts(facts, &payments);
        preview.requests.push((
            "PUT /Invoices?unitdp=4".to_owned(),
            json!({ "Invoices": [invoice] }),
        ));
        push_payments(
            &mut preview.requests,
            &payments,
            &PaymentTarget::Invoice {
                invoice_id: INVOICE_ID.to_owned(),
            },
        );
    }
    for refund in refunds {
        let mapped = mapping.credit_note(refund, contact.clone())?;
        let note = &mapped.credit_note;
        facts.push((
            "Credit note number".to_owned(),
            format!(
                "{} (credits invoice {} of order {})",
                note.credit_note_number,
                mapping::invoice_number(mapping, &refund.order_number),
                refund.order_number
            ),
        ));
        facts.push(("Reference".to_owned(), note.reference.clone()));
        facts.push((
            "Contact".to_owned(),
            match &shop.contacts {
                ContactStrategy::Generic { .. } => contact_of(&shop.contacts, None),
                ContactStrategy::PerCustomer { .. } => {
                    "the contact of the order's invoice, as Xero has it".to_owned()
                }
            },
        ));
        document_facts(
            facts,
            mapping,
            &note.currency_code,
            note.line_amount_types,
            &mapped.total,
            &note.line_items,
            &refund.lines,
        );
        let payments = mapping.refund_payments(refund, mapped.total);
        payment_facts(facts, &payments);
        preview.requests.push((
            "PUT /CreditNotes?unitdp=4".to_owned(),
            json!({ "CreditNotes": [note] }),
        ));
        push_payments(
            &mut preview.requests,
            &payments,
            &PaymentTarget::CreditNote {
                credit_note_id: CREDIT_NOTE_ID.to_owned(),
            },
        );
        preview.notes.push(format!(
            "Before paying money back, the processor allocates credit note {} to the order's \
             invoice for what it still owes (`PUT /CreditNotes/{{id}}/Allocations`); what it \
             pays back is capped at the credit left, so the payments may be less than shown.",
            note.credit_note_number
        ));
    }
    if !preview.requests.is_empty() {
        preview.notes.push(
            "Tax: each line here carries the platform's tax as TaxAmount. When booking, the \
             processor compares it with the organisation's tax rates in Xero (not asked here) \
             and leaves TaxAmount out where Xero's own per-line tax agrees; where it does not, \
             an invoice is sent tax-exclusive with TaxAmount on the lines that differ, and a \
             credit note gets a rounding line (README \"Tax amounts\")."
                .to_owned(),
        );
    }
    Ok(())
}

/// What the mapping chose for a document's lines.
fn document_facts(
    facts: &mut Vec<(String, String)>,
    mapping: &ShopMapping,
    currency: &str,
    basis: types::LineAmountTypes,
    total: &rust_decimal::Decimal,
    items: &[LineItem],
    lines: &[xcs_shared::domain::Line],
) {
    facts.push((
        "Total".to_owned(),
        format!("{currency} {total}, amounts {basis:?}"),
    ));
    let mut accounts: Vec<String> = Vec::new();
    let mut tax_types: Vec<String> = Vec::new();
    for item in items {
        let account = format!("{} ({})", item.account_code, first_words(&item.description));
        if !accounts.contains(&account) {
            accounts.push(account);
        }
        if !tax_types.contains(&item.tax_type) {
            tax_types.push(item.tax_type.clone());
        }
    }
    facts.push(("Accounts".to_owned(), accounts.join(", ")));
    facts.push(("Tax types".to_owned(), tax_types.join(", ")));
    let specs = mapping.item_specs(lines);
    let codes: Vec<String> = items
        .iter()
        .filter_map(|item| item.item_code.clone())
        .map(|code| {
            match specs
                .iter()
                .find(|spec| spec.code.eq_ignore_ascii_case(&code))
            {
                Some(spec) if spec.derived => {
                    format!(
                        "{code} (derived from SKU {}, created in Xero if missing)",
                        spec.sku
                    )
                }
                Some(spec) => format!("{code} (SKU {}, from the mapping's items)", spec.sku),
                None => code,
            }
        })
        .collect();
    facts.push((
        "Item codes".to_owned(),
        if codes.is_empty() {
            "none: the lines carry no Xero item".to_owned()
        } else {
            codes.join(", ")
        },
    ));
    facts.push((
        "Tracking".to_owned(),
        "none: the processor sets no tracking categories".to_owned(),
    ));
}

/// The `PUT /Payments` booking sends for `payments` on the document `target`, if any.
fn push_payments(
    requests: &mut Vec<(String, Value)>,
    payments: &[mapping::PlannedPayment],
    target: &PaymentTarget,
) {
    if payments.is_empty() {
        return;
    }
    let bodies: Vec<types::Payment> = payments.iter().map(|p| p.to_xero(target.clone())).collect();
    requests.push(("PUT /Payments".to_owned(), json!({ "Payments": bodies })));
}

fn payment_facts(facts: &mut Vec<(String, String)>, payments: &[mapping::PlannedPayment]) {
    facts.push((
        "Payments".to_owned(),
        if payments.is_empty() {
            "none: the document is left unpaid".to_owned()
        } else {
            payments
                .iter()
                .map(|p| format!("{} to account {} on {}", p.amount, p.account, p.date))
                .collect::<Vec<_>>()
                .join("; ")
        },
    ));
}

/// A line's description, short enough to name it beside its account.
fn first_words(description: &str) -> String {
    let description = description.trim();
    match description.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &description[..at]),
        None => description.to_owned(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialise")
}

fn render(preview: Result<(&'static str, Preview), String>) -> Markup {
    html! {
        section.card #preview {
            h2 { "What the payload becomes" }
            @match preview {
                Err(why) => p.muted { "The payload could not be found: " (why) "." },
                Ok((place, preview)) => {
                    p.muted {
                        "The event's payload (from " (place) ") as the processor reads it with "
                        strong { "today's" } " config and mapping: after a change to the mapping, "
                        "this differs from what was sent to Xero. Nothing here was sent to Xero, and "
                        "the raw payload, with the customer's details, is not shown."
                    }
                    @for note in &preview.notes { p { (note) } }
                    @match &preview.stop {
                        Some(Stop::Error(err)) => p.problem {
                            "The processor stops here: " (html_reason(err)) " " (err.to_string())
                        },
                        Some(Stop::Cannot(why)) => p.muted { "Not previewed: " (why) "." },
                        None => {}
                    }
                    h3 { "Normalised" }
                    @match &preview.normalised {
                        Some(model) => pre { (pretty(model)) },
                        None => p.muted { "Not normalised." },
                    }
                    h3 { "Mapping applied" }
                    @if preview.mapping.is_empty() {
                        p.muted { "Not mapped." }
                    } @else {
                        dl { @for (what, chosen) in &preview.mapping { dt { (what) } dd { (chosen) } } }
                    }
                    h3 { "Xero request" }
                    @if preview.requests.is_empty() {
                        p.muted { "No request." }
                    }
                    @for (call, body) in &preview.requests {
                        p { code { (call) } }
                        pre { (pretty(body)) }
                    }
                }
            }
        }
    }
}

fn html_reason(err: &ProcessError) -> Markup {
    super::html::badge("bad", err.reason())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::test_support::fixture;

    fn shop(contacts: &str, rates: &str) -> ShopConfig {
        toml::from_str(&format!(
            r#"
            platform = "shopify"
            tenant = "00000000-0000-0000-0000-00000000000a"
            {contacts}
            [mapping]
            document_prefix = "SH-"
            [mapping.accounts]
            sales = "200"
            shipping = "205"
            discounts = "210"
            gift_cards = "825"
            fees = "260"
            rounding = "860"
            clearing = "615"
            [mapping.tax]
            by_rate = {{ {rates} }}
            untaxed = "NONE"
            "#
        ))
        .expect("the test shop is valid")
    }

    fn envelope(kind: EventKind, topic: &str) -> Envelope {
        Envelope {
            event_id: "ev_test".to_owned(),
            platform: Platform::Shopify,
            shop: "main".to_owned(),
            tenant: "00000000-0000-0000-0000-00000000000a".to_owned(),
            kind,
            topic: topic.to_owned(),
            delivery_id: "d1".to_owned(),
            received_at: "2025-01-10T16:00:01Z".to_owned(),
            source: xcs_shared::Source::Webhook,
        }
    }

    fn today() -> Date {
        time::macros::date!(2025 - 01 - 20)
    }

    fn page(preview: Preview) -> String {
        render(Ok(("the archive xcs.archive", preview))).into_string()
    }

    #[test]
    fn an_order_shows_its_model_mapping_and_request() {
        let shop = shop("", r#""6" = "TAX006""#);
        let body = fixture("shopify/order_usd_paid.json");
        let preview = preview(
            &envelope(EventKind::Order, "orders/paid"),
            &shop,
            &body,
            &RefundOrder::NotNeeded,
            today(),
        );
        assert!(preview.stop.is_none(), "{:?}", preview.stop);
        let model = preview.normalised.as_ref().unwrap();
        assert_eq!(model["type"], "order");
        assert_eq!(model["number"], "#1001");
        let facts: Vec<&str> = preview.mapping.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            facts.contains(&"Invoice number") && facts.contains(&"Accounts"),
            "{facts:?}"
        );
        let (call, body) = &preview.requests[0];
        assert_eq!(call, "PUT /Invoices?unitdp=4");
        let invoice = &body["Invoices"][0];
        assert_eq!(invoice["InvoiceNumber"], "SH-1001");
        assert_eq!(invoice["Contact"]["ContactID"], CONTACT_ID);
        assert!(
            invoice["LineItems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|line| line["AccountCode"] == "200" && line["TaxType"] == "TAX006"),
            "{invoice:#}"
        );
        assert!(
            preview
                .requests
                .iter()
                .any(|(call, _)| call == "PUT /Payments")
        );

        let html = page(preview);
        for part in [
            "Normalised",
            "Mapping applied",
            "Xero request",
            "today",
            "SH-1001",
            "TAX006",
        ] {
            assert!(html.contains(part), "{part} is on the page: {html}");
        }
        assert!(
            !html.contains("jon@example.com"),
            "no customer email: {html}"
        );
        assert!(!html.contains("The processor stops here"));
    }

    #[test]
    fn a_mapping_that_fails_shows_the_processors_error() {
        // 6% has no tax type in this mapping.
        let shop = shop("", r#""20" = "OUTPUT2""#);
        let body = fixture("shopify/order_usd_paid.json");
        let preview = preview(
            &envelope(EventKind::Order, "orders/paid"),
            &shop,
            &body,
            &RefundOrder::NotNeeded,
            today(),
        );
        let Some(Stop::Error(err)) = &preview.stop else {
            panic!("the mapping fails: {:?}", preview.stop);
        };
        assert!(matches!(err, ProcessError::Mapping(_)), "{err:?}");
        assert!(preview.normalised.is_some(), "the model is still shown");
        assert!(preview.requests.is_empty());
        let (message, reason) = (err.to_string(), err.reason());
        let html = page(preview);
        assert!(html.contains("The processor stops here"), "{html}");
        assert!(html.contains(reason), "{html}");
        assert!(
            html.contains(&maud::html! { (message) }.into_string()),
            "the processor's message: {html}"
        );
    }

    #[test]
    fn a_payload_that_does_not_read_shows_the_normalisers_error() {
        let shop = shop("", r#""6" = "TAX006""#);
        let preview = preview(
            &envelope(EventKind::Order, "orders/paid"),
            &shop,
            b"{\"id\": 1}",
            &RefundOrder::NotNeeded,
            today(),
        );
        assert!(
            matches!(
                &preview.stop,
                Some(Stop::Error(ProcessError::Unparseable(_)))
            ),
            "{:?}",
            preview.stop
        );
        assert!(page(preview).contains("unparseable_payload"));
    }

    #[test]
    fn the_customer_is_masked_to_what_xero_gets() {
        let body = fixture("shopify/order_usd_paid.json");
        let order = envelope(EventKind::Order, "orders/paid");
        let generic = shop("", r#""6" = "TAX006""#);
        let shown = preview(&order, &generic, &body, &RefundOrder::NotNeeded, today());
        let model = shown.normalised.unwrap();
        assert_eq!(
            model["customer"], NOT_SENT,
            "one contact: nothing of the customer"
        );
        assert!(!model.to_string().contains("jon@example.com"));

        let per_customer = shop(
            "[contacts]\nstrategy = \"per_customer\"\nfallback = \"Guests\"",
            r#""6" = "TAX006""#,
        );
        let shown = preview(
            &order,
            &per_customer,
            &body,
            &RefundOrder::NotNeeded,
            today(),
        );
        let model = shown.normalised.unwrap();
        assert_eq!(
            model["customer"]["email"], "jon@example.com",
            "Xero holds it"
        );
        assert_eq!(
            model["customer"]["id"], NOT_SENT,
            "the platform's id is not sent"
        );
        let contact = shown
            .mapping
            .iter()
            .find(|(what, _)| what == "Contact")
            .map(|(_, chosen)| chosen.as_str());
        assert!(
            contact.is_some_and(|c| c.contains("jon@example.com")),
            "{contact:?}"
        );
    }

    #[test]
    fn a_refund_waits_for_its_order_as_the_processor_does() {
        let shop = shop("", r#""6" = "TAX006""#);
        let body = fixture("shopify/refund_usd_full.json");
        let refund = envelope(EventKind::Refund, "refunds/create");
        let order_id = refund_order_id(&refund, &body).expect("the refund names its order");
        let waiting = preview(
            &refund,
            &shop,
            &body,
            &RefundOrder::NotBooked(order_id),
            today(),
        );
        assert!(
            matches!(
                &waiting.stop,
                Some(Stop::Error(ProcessError::OrderNotBooked { .. }))
            ),
            "{:?}",
            waiting.stop
        );
        let booked = RefundOrder::Booked(OrderContext {
            number: "#1001".to_owned(),
            currency: xcs_shared::domain::Currency::try_from("USD".to_owned()).unwrap(),
            tax_mode: xcs_shared::domain::TaxMode::Exclusive,
        });
        let credited = preview(&refund, &shop, &body, &booked, today());
        assert!(credited.stop.is_none(), "{:?}", credited.stop);
        assert_eq!(credited.requests[0].0, "PUT /CreditNotes?unitdp=4");
        assert!(
            credited.requests[0].1["CreditNotes"][0]["CreditNoteNumber"]
                .as_str()
                .unwrap()
                .starts_with("SH-1001")
        );
    }

    #[test]
    fn a_thin_webhook_says_it_needs_the_platform_api() {
        let shop = shop("", r#""6" = "TAX006""#);
        let mut event = envelope(EventKind::Order, "store/order/created");
        event.platform = Platform::BigCommerce;
        let preview = preview(&event, &shop, b"{}", &RefundOrder::NotNeeded, today());
        assert!(matches!(&preview.stop, Some(Stop::Cannot(why)) if why.contains("API")));
        assert!(page(preview).contains("Not previewed"));
    }

    #[test]
    fn a_missing_payload_says_why() {
        let html = render(Err("it is not in the dead queue xcs.dead".to_owned())).into_string();
        assert!(
            html.contains("could not be found: it is not in the dead queue"),
            "{html}"
        );
    }
}
