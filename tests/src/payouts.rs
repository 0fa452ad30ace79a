//! Payouts (README "Payouts") as the tests see them: a shop's config with `payouts = true` and
//! its `[mapping.payouts]`, payouts built part by part, published as the poller publishes
//! them (kind `payout`, topic `poll/payouts`, source poll), and what Xero holds of them.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;
use time::Date;
use xcs_processor::payouts::{Settlement, TOPIC};
use xcs_shared::domain::{
    AdjustmentKind, Payout, PayoutAdjustment, PayoutCharge, PayoutFee, PayoutRefund, PayoutStatus,
};
use xcs_shared::{EventKind, Platform};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, RunningSim};

use crate::broker::TestBroker;
use crate::postgres::TestSchema;
use crate::processor::{Rig, SHOP, envelope, publish_envelope};

/// The `[shops.NAME.mapping.payouts]` the tests start from, on the demo chart: deposits to
/// 090 (Business Bank Account), processing and refund fees on 405 (Merchant Fees), other fees
/// on 404 (Bank Fees), reserves on 620 (Prepayments), anything else on 429 (General
/// Expenses), GST on fees as INPUT2, held payouts looked at again every second.
pub const MAPPING: &str = r#"bank_accounts = { NZD = "090" }
fees = "404"
fee_accounts = { processing = "405", refund = "405", listing = "405" }
fee_tax_type = "INPUT2"
adjustments = { other = "429", reserve = "620" }
hold_recheck_secs = 1
"#;

/// `config` with `shop` paying out: `payouts = true`, an `api` table nothing calls (polling is
/// off in the tests' configs), its clearing account `clearing` (it was `old_clearing`), and
/// `[shops.SHOP.mapping.payouts]` = `mapping`.
pub fn payouts_config(
    config: &str,
    shop: &str,
    old_clearing: &str,
    clearing: &str,
    mapping: &str,
) -> String {
    let header = format!("[shops.{shop}]\n");
    let api = if config.contains(&format!("{header}platform = \"etsy\"")) {
        r#"api = { base_url = "http://127.0.0.1:9", token = "unused", key = "unused", shop_id = "31415926" }"#
    } else {
        r#"api = { base_url = "http://127.0.0.1:9", token = "shpat_unused" }"#
    };
    let start = config
        .find(&header)
        .unwrap_or_else(|| panic!("no {header} in the config"));
    let (before, after) = config.split_at(start);
    let after = after
        .replacen(&header, &format!("{header}payouts = true\n{api}\n"), 1)
        .replacen(
            &format!("clearing = \"{old_clearing}\""),
            &format!("clearing = \"{clearing}\""),
            1,
        );
    format!("{before}{after}\n[shops.{shop}.mapping.payouts]\n{mapping}")
}

/// The Shopify test shop ([`SHOP`]) paying out with `mapping`, its clearing account
/// `clearing` (615, a CURRENT account with payments enabled, or 091, a BANK account).
pub fn shopify_config(rig: &Rig, clearing: &str, mapping: &str) -> String {
    payouts_config(&rig.config(""), SHOP, "615", clearing, mapping)
}

pub fn dec(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|err| panic!("{text:?} is not a decimal: {err}"))
}

/// A paid payout of `platform` in `currency` on `date`, depositing `amount`, without parts.
pub fn payout(platform: Platform, id: &str, date: Date, currency: &str, amount: &str) -> Payout {
    Payout {
        platform,
        payout_id: id.to_owned(),
        status: PayoutStatus::Paid,
        date,
        currency: currency.to_owned().try_into().expect("a currency"),
        amount: dec(amount),
        charges: vec![],
        refunds: vec![],
        fees: vec![],
        adjustments: vec![],
    }
}

/// A payment of order `order_id` of `gross`, less the platform's `fee`.
pub fn charge(order_id: u64, gross: &str, fee: &str) -> PayoutCharge {
    PayoutCharge {
        order_id: Some(order_id.to_string()),
        reference: None,
        gross: dec(gross),
        fee: dec(fee),
    }
}

/// A refund of order `order_id` of `amount`, with its `fee`.
pub fn refund(order_id: u64, amount: &str, fee: &str) -> PayoutRefund {
    PayoutRefund {
        order_id: Some(order_id.to_string()),
        reference: None,
        amount: dec(amount),
        fee: dec(fee),
    }
}

/// A fee of `kind` of `amount`, tax included, with the `tax` the platform states.
pub fn fee(kind: &str, amount: &str, tax: Option<&str>) -> PayoutFee {
    PayoutFee {
        kind: kind.to_owned(),
        amount: dec(amount),
        tax: tax.map(dec),
        reference: None,
    }
}

/// An adjustment of `kind`: positive added to the deposit, negative taken from it.
pub fn adjustment(kind: AdjustmentKind, amount: &str) -> PayoutAdjustment {
    PayoutAdjustment {
        kind,
        amount: dec(amount),
        source_id: Some("reserve-1".to_owned()),
        order_id: None,
    }
}

/// Publishes `settlement` as `shop`'s payout event `event_id`, as the poller publishes it.
pub async fn publish_settlement(
    broker: &TestBroker,
    platform: Platform,
    shop: &str,
    event_id: &str,
    settlement: &Settlement,
) {
    let mut envelope = envelope(platform, shop, EventKind::Payout, TOPIC, event_id);
    envelope.source = xcs_shared::Source::Poll;
    let body = serde_json::to_vec(settlement).expect("JSON");
    publish_envelope(broker, &envelope, &body).await;
}

/// Publishes one payout of the Shopify test shop as event `event_id`.
pub async fn publish_payout(rig: &Rig, event_id: &str, payout: &Payout) {
    let settlement = Settlement {
        day: None,
        payouts: vec![payout.clone()],
    };
    publish_settlement(&rig.broker, Platform::Shopify, SHOP, event_id, &settlement).await;
}

/// A payout as `xcs_payouts` holds it: (state, reason, difference, event id).
pub async fn payout_row(
    schema: &TestSchema,
    shop: &str,
    payout_id: &str,
) -> Option<(String, String, Decimal, String)> {
    let client = schema.client().await;
    client
        .query_opt(
            "SELECT state, reason, difference, event_id FROM xcs_payouts
              WHERE shop = $1 AND payout_id = $2",
            &[&shop, &payout_id],
        )
        .await
        .ok()
        .flatten()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
}

/// Waits until `xcs_payouts` holds `payout_id` of `shop` in `state`; answers its row.
pub async fn payout_in_state(
    schema: &TestSchema,
    shop: &str,
    payout_id: &str,
    state: &str,
    timeout: Duration,
) -> (String, String, Decimal, String) {
    crate::eventually(timeout, &format!("payout {payout_id} {state}"), || async {
        payout_row(schema, shop, payout_id)
            .await
            .filter(|row| row.0 == state)
    })
    .await
}

/// The NZ demo company's account `code`'s balance ([`RunningSim::account_balance`]).
pub fn balance(sim: &RunningSim, code: &str) -> Decimal {
    sim.account_balance(DEMO_NZ_TENANT_ID, code)
        .unwrap_or_else(|| panic!("no account {code}"))
}

/// The live bank transfers with `reference`.
pub fn transfers_referenced(sim: &RunningSim, reference: &str) -> Vec<Value> {
    sim.bank_transfers(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|t| t["Reference"] == reference && t["Status"] != "DELETED")
        .collect()
}

/// The live spend and receive money with `reference`.
pub fn bank_transactions_referenced(sim: &RunningSim, reference: &str) -> Vec<Value> {
    sim.bank_transactions(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|t| t["Reference"] == reference && t["Status"] != "DELETED")
        .collect()
}

/// The purchase documents (bills and supplier credits) in Xero.
pub fn purchases(sim: &RunningSim) -> Vec<Value> {
    let bills = sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| i["Type"] == "ACCPAY");
    let credits = sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| c["Type"] == "ACCPAYCREDIT");
    bills.chain(credits).collect()
}

/// The date Xero prints (`DateString`, `2026-11-25T00:00:00`) as a date.
pub fn date_of(record: &Value) -> String {
    record["DateString"]
        .as_str()
        .unwrap_or_default()
        .split('T')
        .next()
        .unwrap_or_default()
        .to_owned()
}
