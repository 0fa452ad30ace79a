//! One bad event never blocks a tenant and never corrupts the books (issue 12): each class of
//! signed-but-hostile event an outside check sent, through the real RabbitMQ, PostgreSQL and
//! the Xero simulator. Each is dead-lettered with a reason that names the problem (or, for text
//! that can be cleaned, booked clean), and the orders around it are booked as usual.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::envelope::header;
use xcs_shared::{EventKind, topology};
use xcs_tests::broker::Landed;
use xcs_tests::fixtures;
use xcs_tests::processor::{Rig, TestProcessor, invoices_numbered, one_invoice, wait_handled};
use xcs_xero_sim::DEMO_NZ_TENANT_ID;

const HANDLED: Duration = Duration::from_secs(30);

struct Poisoned {
    rig: Rig,
    processor: Option<TestProcessor>,
}

impl Poisoned {
    async fn start() -> Self {
        Self::start_with(|config| config).await
    }

    /// Starts a processor whose config is `edit`ed first.
    async fn start_with(edit: impl FnOnce(String) -> String) -> Self {
        let rig = Rig::new().await;
        let processor = TestProcessor::start(&edit(rig.config(""))).await;
        Poisoned {
            rig,
            processor: Some(processor),
        }
    }

    /// With a contact per customer (by e-mail) instead of the generic one.
    async fn per_customer() -> Self {
        Self::start_with(|config| {
            config.replacen(
                r#"contacts = { strategy = "generic", name = "Shopify Sales" }"#,
                r#"contacts = { strategy = "per_customer", fallback = "Shopify Sales" }"#,
                1,
            )
        })
        .await
    }

    async fn publish(&self, kind: EventKind, topic: &str, event_id: &str, body: &[u8]) {
        self.rig.publish(kind, topic, event_id, body).await;
    }

    async fn publish_order(&self, event_id: &str, body: &[u8]) {
        self.publish(EventKind::Order, "orders/paid", event_id, body)
            .await;
    }

    async fn book(&self, event_id: &str, body: &[u8]) {
        self.publish_order(event_id, body).await;
        let (outcome, detail) = wait_handled(&self.rig.schema, event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{event_id}: {detail}");
    }

    /// Waits for the dead letters of `event_ids`, and returns them in that order.
    async fn dead_letters(&self, event_ids: &[&str]) -> Vec<Landed> {
        let seen: std::cell::RefCell<Vec<Landed>> = std::cell::RefCell::default();
        xcs_tests::eventually(HANDLED, "the dead letters", || async {
            let taken = self.rig.broker.take_all(topology::DEAD_QUEUE).await;
            let mut seen = seen.borrow_mut();
            seen.extend(taken);
            (seen.len() >= event_ids.len()).then_some(())
        })
        .await;
        let seen = seen.into_inner();
        assert_eq!(seen.len(), event_ids.len(), "{seen:#?}");
        event_ids
            .iter()
            .map(|id| {
                seen.iter()
                    .find(|d| d.header(header::EVENT_ID) == Some(id))
                    .unwrap_or_else(|| panic!("no dead letter for {id}: {seen:#?}"))
                    .clone()
            })
            .collect()
    }

    async fn dead_letter(&self, event_id: &str) -> Landed {
        self.dead_letters(&[event_id]).await.remove(0)
    }

    /// A good order is still booked after the poison: the tenant was not blocked.
    async fn assert_still_books(mut self, number: u64) {
        let event_id = format!("shopify:nz-shopify:good-{number}");
        self.book(&event_id, &fixtures::shopify_nz_order(number, number, true))
            .await;
        one_invoice(&self.rig.sim, &format!("SH-{number}"));
        if let Some(processor) = self.processor.take() {
            processor.stop().await;
        }
    }

    fn credit_notes(&self) -> Vec<Value> {
        self.rig.sim.credit_notes(DEMO_NZ_TENANT_ID)
    }
}

fn reason(dead: &Landed) -> &str {
    dead.header("xcs-reason").unwrap_or_default()
}

fn last_error(dead: &Landed) -> &str {
    dead.header("xcs-last-error").unwrap_or_default()
}

/// Dead-lettered at its first failure, not after retry tiers or redeliveries.
fn assert_dead_at_first_failure(dead: &Landed) {
    assert_eq!(
        dead.header("xcs-first-failure-at"),
        dead.header("xcs-dead-at"),
        "{dead:#?}"
    );
}

fn nz_order(id: u64, number: u64, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixtures::shopify_nz_order(id, number, true))
        .expect("the fixture is JSON");
    edit(&mut order);
    serde_json::to_vec(&order).expect("JSON")
}

/// A paid NZ order of 1,000 tiles at 4.60 with 15% GST, 0.69 each (5,290.00 in all), with
/// `edit` applied.
fn thousand_tiles(number: u64, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    nz_order(number, number, |o| {
        let tiles: Vec<Value> = (0..1000)
            .map(|i| {
                json!({
                    "id": number * 10_000 + i, "title": format!("Tile {i}"),
                    "sku": format!("TILE-{i}"), "quantity": 1, "price": "4.60",
                    "total_discount": "0.00", "taxable": true,
                    "tax_lines": [{"title": "GST", "rate": 0.15, "price": "0.69"}]
                })
            })
            .collect();
        o["line_items"] = json!(tiles);
        o["shipping_lines"] = json!([]);
        o["total_line_items_price"] = json!("4600.00");
        o["total_discounts"] = json!("0.00");
        o["subtotal_price"] = json!("4600.00");
        o["total_tax"] = json!("690.00");
        o["tax_lines"] = json!([{"title": "GST", "rate": 0.15, "price": "690.00"}]);
        o["total_price"] = json!("5290.00");
        edit(o);
    })
}

fn dec(value: &Value) -> Decimal {
    value
        .to_string()
        .trim_matches('"')
        .parse()
        .expect("a number")
}

// ---------------------------------------------------------------------------------------------
// A panic costs its own event only.

#[tokio::test]
async fn a_panic_while_mapping_one_order_dead_letters_it_and_its_batch_neighbours_are_booked() {
    let poisoned = Poisoned::start().await;
    xcs_processor::faults::panic_when_mapping("#8101");
    for number in [8100, 8101, 8102] {
        poisoned
            .publish_order(
                &format!("shopify:nz-shopify:p-{number}"),
                &fixtures::shopify_nz_order(number, number, true),
            )
            .await;
    }
    let dead = poisoned.dead_letter("shopify:nz-shopify:p-8101").await;
    assert_eq!(reason(&dead), "internal_error");
    assert!(
        last_error(&dead).contains("test fault: mapping order #8101 panics"),
        "{}",
        last_error(&dead)
    );
    for neighbour in [8100, 8102] {
        let (outcome, detail) = wait_handled(
            &poisoned.rig.schema,
            &format!("shopify:nz-shopify:p-{neighbour}"),
            HANDLED,
        )
        .await;
        assert_eq!(outcome, "booked", "{detail}");
        one_invoice(&poisoned.rig.sim, &format!("SH-{neighbour}"));
    }
    assert!(invoices_numbered(&poisoned.rig.sim, "SH-8101").is_empty());
    poisoned.assert_still_books(8103).await;
}

#[tokio::test]
async fn a_panic_while_preparing_an_event_dead_letters_it_and_the_session_lives_on() {
    let poisoned = Poisoned::start().await;
    xcs_processor::faults::panic_when_preparing("shopify:nz-shopify:p-8111");
    poisoned
        .publish_order(
            "shopify:nz-shopify:p-8111",
            &fixtures::shopify_nz_order(8111, 8111, true),
        )
        .await;
    let dead = poisoned.dead_letter("shopify:nz-shopify:p-8111").await;
    assert_eq!(reason(&dead), "internal_error");
    // Dead-lettered once, at once: not redelivered by a restarting session until the broker's
    // delivery limit.
    assert_dead_at_first_failure(&dead);
    poisoned.assert_still_books(8112).await;
}

// ---------------------------------------------------------------------------------------------
// Document numbers: unique per order, and never another order's document adopted.

#[tokio::test]
async fn two_orders_whose_long_names_differ_only_after_the_cut_get_two_invoices() {
    let poisoned = Poisoned::start().await;
    let long = "9".repeat(300);
    for (id, suffix) in [(8201, "A"), (8202, "B")] {
        poisoned
            .book(
                &format!("shopify:nz-shopify:long-{suffix}"),
                &nz_order(id, id, |o| o["name"] = json!(format!("#{long}{suffix}"))),
            )
            .await;
    }
    let invoices: Vec<Value> = poisoned
        .rig
        .sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| i["InvoiceNumber"].as_str().unwrap().starts_with("SH-999"))
        .collect();
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    assert_ne!(invoices[0]["InvoiceNumber"], invoices[1]["InvoiceNumber"]);
    for invoice in &invoices {
        assert!(invoice["InvoiceNumber"].as_str().unwrap().len() <= 255);
        assert_eq!(dec(&invoice["Total"]), Decimal::new(6325, 2));
    }
    poisoned.assert_still_books(8203).await;
}

#[tokio::test]
async fn an_invoice_under_the_orders_number_that_is_not_the_orders_is_not_adopted() {
    let poisoned = Poisoned::start().await;
    // Book one order first, so the shop's contact exists in Xero.
    poisoned
        .book(
            "shopify:nz-shopify:first",
            &fixtures::shopify_nz_order(8210, 8210, true),
        )
        .await;
    let contact_id = one_invoice(&poisoned.rig.sim, "SH-8210")["Contact"]["ContactID"].clone();
    // Someone raised SH-8211 by hand in Xero: same contact and total, another reference.
    let tokens = poisoned
        .rig
        .sim
        .issue_tokens(xcs_xero_sim::DEMO_APP_CLIENT_ID, &[DEMO_NZ_TENANT_ID])
        .expect("tokens");
    let answer = reqwest::Client::new()
        .put(format!("{}/Invoices", poisoned.rig.sim.base_url()))
        .bearer_auth(&tokens.access_token)
        .header("xero-tenant-id", DEMO_NZ_TENANT_ID.to_string())
        .json(&json!({"Invoices": [{
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "InvoiceNumber": "SH-8211",
            "Reference": "Typed in by the bookkeeper",
            "Date": "2026-11-20",
            "DueDate": "2026-11-20",
            "Status": "AUTHORISED",
            "LineAmountTypes": "Inclusive",
            "LineItems": [{"Description": "Consulting", "Quantity": 1, "UnitAmount": 63.25,
                           "AccountCode": "200", "TaxType": "OUTPUT2"}],
        }]}))
        .send()
        .await
        .expect("the simulator answers");
    assert!(answer.status().is_success(), "{:?}", answer.text().await);

    poisoned
        .publish_order(
            "shopify:nz-shopify:taken",
            &fixtures::shopify_nz_order(8211, 8211, true),
        )
        .await;
    let dead = poisoned.dead_letter("shopify:nz-shopify:taken").await;
    assert_eq!(reason(&dead), "document_number_taken");
    assert!(
        last_error(&dead).contains("Typed in by the bookkeeper")
            && last_error(&dead).contains("shopify order #8211"),
        "{}",
        last_error(&dead)
    );
    let invoice = one_invoice(&poisoned.rig.sim, "SH-8211");
    assert!(
        invoice["Payments"]
            .as_array()
            .is_none_or(|payments| payments.is_empty()),
        "nothing was paid onto the bookkeeper's invoice: {invoice}"
    );
    poisoned.assert_still_books(8212).await;
}

// ---------------------------------------------------------------------------------------------
// Refunds larger than their order.

fn shopify_refund(refund_id: u64, order_id: u64, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut refund: Value =
        serde_json::from_slice(&fixtures::shopify_nz_refund(refund_id, order_id)).unwrap();
    edit(&mut refund);
    serde_json::to_vec(&refund).unwrap()
}

#[tokio::test]
async fn a_refund_larger_than_its_order_is_dead_lettered_at_once_naming_the_excess() {
    let poisoned = Poisoned::start().await;
    poisoned
        .book(
            "shopify:nz-shopify:o-8301",
            &fixtures::shopify_nz_order(8301, 8301, true),
        )
        .await;
    // 40 mugs back, 1,150.00 credited, against a 2-mug order of 63.25: once without money
    // returned (a credit note alone), once with 1,150.00 returned.
    let forty = |refund_id: u64, with_money: bool| {
        shopify_refund(refund_id, 8301, |r| {
            r["refund_line_items"][0]["quantity"] = json!(40);
            r["refund_line_items"][0]["subtotal"] = json!("1000.00");
            r["refund_line_items"][0]["total_tax"] = json!("150.00");
            if with_money {
                r["transactions"][0]["amount"] = json!("1150.00");
            } else {
                r["transactions"] = json!([]);
            }
        })
    };
    for (event, refund_id, money) in [("credit", 83011, false), ("money", 83012, true)] {
        poisoned
            .publish(
                EventKind::Refund,
                "refunds/create",
                &format!("shopify:nz-shopify:r-{event}"),
                &forty(refund_id, money),
            )
            .await;
    }
    let dead = poisoned
        .dead_letters(&["shopify:nz-shopify:r-credit", "shopify:nz-shopify:r-money"])
        .await;
    for dead in &dead {
        assert_eq!(reason(dead), "refund_exceeds_order", "{dead:#?}");
        assert_dead_at_first_failure(dead);
        assert!(
            last_error(dead).contains("1150.00")
                && last_error(dead).contains("63.25")
                && last_error(dead).contains("1086.75 is too much")
                && last_error(dead).contains("returns 40 of MUG-KAURI while the order sold 2"),
            "{}",
            last_error(dead)
        );
    }
    assert!(
        poisoned.credit_notes().is_empty(),
        "no credit note was written"
    );

    // A genuine refund of the same order is still booked, and a second one for more than is
    // left is refused.
    poisoned
        .publish(
            EventKind::Refund,
            "refunds/create",
            "shopify:nz-shopify:r-real",
            &fixtures::shopify_nz_refund(83013, 8301),
        )
        .await;
    let (outcome, detail) =
        wait_handled(&poisoned.rig.schema, "shopify:nz-shopify:r-real", HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    poisoned
        .publish(
            EventKind::Refund,
            "refunds/create",
            "shopify:nz-shopify:r-again",
            &shopify_refund(83014, 8301, |r| {
                r["refund_line_items"][0]["quantity"] = json!(2);
                r["refund_line_items"][0]["subtotal"] = json!("40.00");
                r["refund_line_items"][0]["total_tax"] = json!("6.00");
                r["transactions"][0]["amount"] = json!("46.00");
            }),
        )
        .await;
    let dead = poisoned.dead_letter("shopify:nz-shopify:r-again").await;
    assert_eq!(reason(&dead), "refund_exceeds_order");
    assert!(
        last_error(&dead)
            .contains("returns 2 of MUG-KAURI while the order sold 2 and 1 were returned before"),
        "{}",
        last_error(&dead)
    );
    assert_eq!(poisoned.credit_notes().len(), 1);
    poisoned.assert_still_books(8302).await;
}

// ---------------------------------------------------------------------------------------------
// Platform text in Xero's `where` filters.

#[tokio::test]
async fn an_email_that_would_end_the_filters_string_finds_its_own_contact_not_another() {
    let poisoned = Poisoned::per_customer().await;
    poisoned
        .book(
            "shopify:nz-shopify:aroha",
            &fixtures::shopify_nz_order(8401, 8401, true),
        )
        .await;
    let aroha = one_invoice(&poisoned.rig.sim, "SH-8401")["Contact"]["ContactID"].clone();
    // Unescaped, `EmailAddress=="m@x.io"||EmailAddress!=""` matches every contact with an
    // e-mail address: Aroha's first.
    let hostile = "m@x.io\"||emailaddress!=\"";
    let mallorys_order = |number: u64| {
        nz_order(number, number, |o| {
            o["email"] = json!(hostile);
            o["customer"]["email"] = json!(hostile);
            o["customer"]["first_name"] = json!("Mallory");
        })
    };
    poisoned
        .book("shopify:nz-shopify:hostile", &mallorys_order(8402))
        .await;
    let contact_id = one_invoice(&poisoned.rig.sim, "SH-8402")["Contact"]["ContactID"].clone();
    assert_ne!(
        contact_id, aroha,
        "not booked onto another customer's contact"
    );
    let contact = poisoned
        .rig
        .sim
        .contacts(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|c| c["ContactID"] == contact_id)
        .expect("the contact exists");
    assert_eq!(contact["EmailAddress"], json!(hostile), "{contact}");

    // The same customer again finds that contact, not a new one.
    poisoned
        .book("shopify:nz-shopify:hostile-again", &mallorys_order(8403))
        .await;
    assert_eq!(
        one_invoice(&poisoned.rig.sim, "SH-8403")["Contact"]["ContactID"],
        contact_id
    );
    poisoned.assert_still_books(8404).await;
}

#[tokio::test]
async fn a_generic_contact_name_with_a_quote_is_found_and_created_under_that_name() {
    let poisoned = Poisoned::start_with(|config| {
        config.replacen(
            r#"name = "Shopify Sales" }"#,
            r#"name = "Shopify \"Online\" Sales" }"#,
            1,
        )
    })
    .await;
    for number in [8411, 8412] {
        poisoned
            .book(
                &format!("shopify:nz-shopify:q-{number}"),
                &fixtures::shopify_nz_order(number, number, true),
            )
            .await;
    }
    let first = one_invoice(&poisoned.rig.sim, "SH-8411")["Contact"]["ContactID"].clone();
    assert_eq!(
        one_invoice(&poisoned.rig.sim, "SH-8412")["Contact"]["ContactID"],
        first,
        "the second order found the contact the first created"
    );
    let named: Vec<Value> = poisoned
        .rig
        .sim
        .contacts(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| c["Name"] == "Shopify \"Online\" Sales")
        .collect();
    assert_eq!(named.len(), 1, "{named:#?}");
    poisoned.assert_still_books(8413).await;
}

#[tokio::test]
async fn a_refund_id_with_a_quote_gets_a_filter_safe_credit_note_number() {
    let poisoned = Poisoned::start().await;
    poisoned
        .book(
            "shopify:nz-shopify:o-8421",
            &fixtures::shopify_nz_order(8421, 8421, true),
        )
        .await;
    poisoned
        .publish(
            EventKind::Refund,
            "refunds/create",
            "shopify:nz-shopify:r-quote",
            &shopify_refund(0, 8421, |r| r["id"] = json!("77\" OR 1==1")),
        )
        .await;
    let (outcome, detail) =
        wait_handled(&poisoned.rig.schema, "shopify:nz-shopify:r-quote", HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let notes = poisoned.credit_notes();
    assert_eq!(notes.len(), 1);
    let number = notes[0]["CreditNoteNumber"].as_str().unwrap();
    assert!(
        number.starts_with("SH-8421/R77") && !number.contains('"') && number.contains('~'),
        "{number}"
    );
    poisoned.assert_still_books(8422).await;
}

// ---------------------------------------------------------------------------------------------
// Gaps that are not rounding.

#[tokio::test]
async fn a_total_or_tax_gap_beyond_rounding_is_dead_lettered_naming_both_figures() {
    let poisoned = Poisoned::start().await;
    // An outside check's shape: many lines in whole cents, so that a tolerance growing with
    // the lines (a cent each, before) swallowed the gap. 1,000 tiles at 4.60 + 15% GST (0.69
    // each, exact) are 5,290.00; the stated total is 9.99 more.
    poisoned
        .publish_order(
            "shopify:nz-shopify:gap-total",
            &thousand_tiles(8501, |o| o["total_price"] = json!("5299.99")),
        )
        .await;
    // The lines' tax is 690.00; the stated tax total 9.99 more (and the total with it).
    poisoned
        .publish_order(
            "shopify:nz-shopify:gap-tax",
            &thousand_tiles(8502, |o| {
                o["total_tax"] = json!("699.99");
                o["tax_lines"][0]["price"] = json!("699.99");
                o["total_price"] = json!("5299.99");
            }),
        )
        .await;
    let dead = poisoned
        .dead_letters(&["shopify:nz-shopify:gap-total", "shopify:nz-shopify:gap-tax"])
        .await;
    assert_eq!(reason(&dead[0]), "totals_mismatch");
    assert!(
        last_error(&dead[0]).contains("5290.00") && last_error(&dead[0]).contains("5299.99"),
        "{}",
        last_error(&dead[0])
    );
    assert_eq!(reason(&dead[1]), "totals_mismatch");
    assert!(
        last_error(&dead[1]).contains("690.00") && last_error(&dead[1]).contains("699.99"),
        "{}",
        last_error(&dead[1])
    );
    assert!(invoices_numbered(&poisoned.rig.sim, "SH-8501").is_empty());
    assert!(invoices_numbered(&poisoned.rig.sim, "SH-8502").is_empty());
    // The same order whose figures do add up is booked, without a rounding line.
    poisoned
        .book("shopify:nz-shopify:tiles", &thousand_tiles(8503, |_| {}))
        .await;
    let tiles = one_invoice(&poisoned.rig.sim, "SH-8503");
    assert_eq!(dec(&tiles["Total"]), Decimal::new(529_000, 2));
    assert_eq!(tiles["LineItems"].as_array().map(Vec::len), Some(1000));
    poisoned.assert_still_books(8504).await;
}

// ---------------------------------------------------------------------------------------------
// Control characters.

#[tokio::test]
async fn nul_characters_in_names_are_cleaned_and_in_an_order_number_are_implausible() {
    let poisoned = Poisoned::per_customer().await;
    poisoned
        .book(
            "shopify:nz-shopify:nul-text",
            &nz_order(8601, 8601, |o| {
                o["line_items"][0]["title"] = json!("Kauri\u{0}mug");
                o["customer"]["first_name"] = json!("Ar\u{0}oha");
                o["shipping_lines"][0]["title"] = json!("Cour\u{1}ier");
            }),
        )
        .await;
    let invoice = one_invoice(&poisoned.rig.sim, "SH-8601");
    let text = invoice.to_string();
    assert!(
        !text.contains("\\u0000") && !text.contains("\\u0001"),
        "{text}"
    );
    assert!(
        invoice["LineItems"][0]["Description"]
            .as_str()
            .unwrap()
            .starts_with("Kauri mug"),
        "{invoice}"
    );
    poisoned
        .publish_order(
            "shopify:nz-shopify:nul-number",
            &nz_order(8602, 8602, |o| o["name"] = json!("#86\u{0}02")),
        )
        .await;
    let dead = poisoned.dead_letter("shopify:nz-shopify:nul-number").await;
    assert_eq!(reason(&dead), "implausible_payload");
    assert!(
        last_error(&dead).contains("control character"),
        "{}",
        last_error(&dead)
    );
    poisoned.assert_still_books(8603).await;
}

// ---------------------------------------------------------------------------------------------
// A currency change between events of one order.

#[tokio::test]
async fn an_order_paid_in_another_currency_than_it_was_booked_in_is_dead_lettered() {
    let poisoned = Poisoned::start().await;
    poisoned
        .publish(
            EventKind::Order,
            "orders/create",
            "shopify:nz-shopify:nzd",
            &fixtures::shopify_nz_order(8701, 8701, false),
        )
        .await;
    let (outcome, _) = wait_handled(&poisoned.rig.schema, "shopify:nz-shopify:nzd", HANDLED).await;
    assert_eq!(outcome, "booked");
    poisoned
        .publish_order(
            "shopify:nz-shopify:usd",
            &nz_order(8701, 8701, |o| {
                o["currency"] = json!("USD");
                o["presentment_currency"] = json!("USD");
            }),
        )
        .await;
    let dead = poisoned.dead_letter("shopify:nz-shopify:usd").await;
    assert_eq!(reason(&dead), "currency_changed");
    assert!(
        last_error(&dead).contains("NZD") && last_error(&dead).contains("USD"),
        "{}",
        last_error(&dead)
    );
    let invoice = one_invoice(&poisoned.rig.sim, "SH-8701");
    assert_eq!(invoice["AmountPaid"].as_f64(), Some(0.0), "{invoice}");
    poisoned.assert_still_books(8702).await;
}
