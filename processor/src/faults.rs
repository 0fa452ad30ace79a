//! Panics on demand, for tests only (the `test-faults` feature): no input is known to make the
//! processor panic, so the tests that prove a panic costs only its own event (dead-lettered as
//! `internal_error`, its neighbours booked, the consumer session kept) need one to be made.

use std::collections::HashSet;
use std::sync::Mutex;

static PANIC_WHEN_MAPPING: Mutex<Option<HashSet<String>>> = Mutex::new(None);
static PANIC_WHEN_PREPARING: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Mapping the invoice of the order numbered `order_number` panics (inside a tenant's batch).
pub fn panic_when_mapping(order_number: &str) {
    insert(&PANIC_WHEN_MAPPING, order_number);
}

/// Preparing the event `event_id` panics (in the shard consumer, before batching).
pub fn panic_when_preparing(event_id: &str) {
    insert(&PANIC_WHEN_PREPARING, event_id);
}

fn insert(set: &Mutex<Option<HashSet<String>>>, value: &str) {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_default()
        .insert(value.to_owned());
}

fn contains(set: &Mutex<Option<HashSet<String>>>, value: &str) -> bool {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .is_some_and(|s| s.contains(value))
}

pub(crate) fn mapping(order_number: &str) {
    assert!(
        !contains(&PANIC_WHEN_MAPPING, order_number),
        "test fault: mapping order {order_number} panics"
    );
}

pub(crate) fn preparing(event_id: &str) {
    assert!(
        !contains(&PANIC_WHEN_PREPARING, event_id),
        "test fault: preparing event {event_id} panics"
    );
}
