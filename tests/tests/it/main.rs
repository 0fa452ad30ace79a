//! The integration tests, as one test binary. Each file here was its own binary once: 34 of
//! them linked the whole workspace 34 times, which took most of CI's build time and, on a CI
//! machine short of disk, killed the linker (a bus error writing `poll_shopify`). One binary
//! links once; nextest still runs every test in its own process, so tests that set global
//! state (a tracing subscriber, an environment variable) stay apart.

mod backfill;
mod broker_guarantees;
mod browser_harness;
mod chaos;
mod check;
mod connect;
mod console_browser;
mod console_connect;
mod console_dead;
mod console_pages;
mod console_reconcile;
mod dead_index;
mod dead_letters;
mod ebay_payouts;
mod end_to_end;
mod etsy_payouts;
mod hostile_input;
mod ingress_webhooks;
mod inventory_items;
mod openapi_checker;
mod outside_attack;
mod payout_polling;
mod payouts_booking;
mod payouts_month;
mod poison_events;
mod poll_bigcommerce;
mod poll_ebay;
mod poll_etsy;
mod poll_magento;
mod poll_shopify;
mod poll_woocommerce;
mod processor_booking;
mod processor_observe;
mod processor_platforms;
mod reconcile;
mod reconcile_payouts;
mod reconcile_platform;
mod resync;
mod runtime_messages;
mod sales_tax;
mod scale_out;
mod secrets_in_logs;
mod shopify_payouts;
mod shopify_transactions;
mod signature_properties;
mod signature_vectors;
mod start_local;
mod status;
mod stock_platforms;
mod stock_polling;
mod stock_reconcile;
mod stock_tracked;
mod stock_tracked_platforms;
mod summary_mode;
mod tax_amounts;
mod test_transaction;
mod webhooks;
mod xero_inventory;
mod xero_limits;
mod xero_scopes;
mod xero_strict;
