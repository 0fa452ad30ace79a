//! OAuth scopes (issue 17): a connection without a scope the processor needs fails at once,
//! before Xero is called, with a dead letter naming the scope and how to grant it, and no
//! retry used up on it; a connection with every scope books as before.

use std::time::Duration;

use xcs_shared::envelope::header;
use xcs_shared::{EventKind, topology};
use xcs_tests::fixtures;
use xcs_tests::processor::{Rig, TestProcessor, invoices_numbered};
use xcs_xero_sim::seed::Seed;
use xcs_xero_sim::{CUSTOM_CONNECTION_CLIENT_ID, DEMO_NZ_TENANT_ID, SimConfig};

const HANDLED: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_custom_connection_without_the_payments_scope_dead_letters_the_payment_naming_the_scope()
{
    // Arrange: the demo Custom Connection was created with invoices, contacts and settings,
    // but not payments.
    let mut seed = Seed::demo();
    for app in &mut seed.apps {
        if app.client_id == CUSTOM_CONNECTION_CLIENT_ID {
            app.custom_connection_scopes =
                Some("accounting.invoices accounting.contacts accounting.settings".to_owned());
        }
    }
    let rig = Rig::on(SimConfig::demo().with_seed(seed)).await;
    let processor = TestProcessor::start(&rig.config("")).await;
    let event_id = "shopify:nz-shopify:scope-1";

    // Act: a paid order, whose invoice needs accounting.invoices and payment
    // accounting.payments.
    rig.publish(
        EventKind::Order,
        "orders/paid",
        event_id,
        &fixtures::shopify_nz_order(4101, 4101, true),
    )
    .await;
    let mut dead = xcs_tests::eventually(HANDLED, "a dead letter", || async {
        let dead = rig.broker.take_all(topology::DEAD_QUEUE).await;
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    processor.stop().await;

    // Assert
    assert_eq!(dead.len(), 1, "{dead:?}");
    let dead = dead.remove(0);
    assert_eq!(dead.header(header::EVENT_ID), Some(event_id));
    assert_eq!(dead.header("xcs-reason"), Some("xero_missing_scope"));
    let error = dead.header("xcs-last-error").unwrap_or_default().to_owned();
    assert!(
        error.contains("accounting.payments") && error.contains("Custom Connection"),
        "{error}"
    );
    assert!(
        error.contains("dead replay --reason xero_missing_scope"),
        "{error}"
    );
    assert_eq!(
        invoices_numbered(&rig.sim, "SH-4101").len(),
        1,
        "the invoice was booked"
    );
    assert!(rig.sim.payments(DEMO_NZ_TENANT_ID).is_empty());
    let payment_calls = rig
        .sim
        .journal()
        .iter()
        .filter(|e| e.path.to_ascii_lowercase().contains("/payments"))
        .count();
    assert_eq!(
        payment_calls, 0,
        "Xero was not asked to pay without the scope"
    );
}
