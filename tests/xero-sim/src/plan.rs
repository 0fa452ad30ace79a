//! An organisation's plan, and the limits it sets besides the API's (`../shared/notes/xero.md`
//! §2, "Org-plan limits" and "Daily limit under the 2026 pricing tiers"):
//!
//! - **Approved sales invoices per month.** Starter, "Early" and Ignite plans approve only 20
//!   sales invoices a month; beyond that Xero refuses the approval with "You have reached the
//!   limit of invoices you can approve." (Auxo's troubleshooting page, quoted in the notes). The
//!   invoice's `Date`, not the day it was entered, decides which month it counts in (the same
//!   page). Drafts are not approvals and are not counted; a voided invoice stays counted, as its
//!   approval happened. Credit notes and bills are outside this model (bills have a limit of
//!   their own, 5, which the processor never meets; credit notes: UNSURE, not limited here).
//! - **Calls per day.** 5,000 per organisation, or 1,000 under the 2026 Starter API tier (UNSURE
//!   which applies to an app); see [`crate::ratelimit`] for how the day is counted.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::store::{DocKind, Tenant};

/// Xero's refusal of an approval beyond the plan's monthly limit, as the API gives it.
pub const APPROVAL_LIMIT_MESSAGE: &str = "You have reached the limit of invoices you can approve.";

/// What an organisation's plan allows, in the seed's and the admin API's PascalCase
/// (`{"DayLimit": 1000, "ApprovedInvoicesPerMonth": 20}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields, default)]
pub struct Plan {
    /// Calls per day for each app on this organisation; the simulator's
    /// [`crate::RateLimits::per_day`] when absent.
    pub day_limit: Option<u32>,
    /// Sales invoices that may be approved per month; unlimited when absent (Standard and
    /// higher plans).
    pub approved_invoices_per_month: Option<u32>,
}

impl Plan {
    /// A Starter-type plan: 20 approved sales invoices a month.
    pub fn starter() -> Self {
        Self {
            day_limit: None,
            approved_invoices_per_month: Some(20),
        }
    }
}

/// Whether the plan lets `tenant` approve one more sales invoice dated `date`: `Err` with
/// Xero's message when the month's approvals are used up.
///
/// # Errors
/// [`APPROVAL_LIMIT_MESSAGE`].
pub fn check_approval(tenant: &Tenant, date: Date) -> Result<(), String> {
    let Some(limit) = tenant.plan.approved_invoices_per_month else {
        return Ok(());
    };
    let same_month = |d: Date| d.year() == date.year() && d.month() == date.month();
    let approved = tenant
        .invoices
        .iter()
        .filter(|d| d.kind == DocKind::Invoice && d.doc_type == "ACCREC")
        .filter(|d| matches!(d.status.as_str(), "AUTHORISED" | "PAID" | "VOIDED"))
        .filter(|d| same_month(d.date))
        .count();
    if approved >= usize::try_from(limit).unwrap_or(usize::MAX) {
        Err(APPROVAL_LIMIT_MESSAGE.to_owned())
    } else {
        Ok(())
    }
}
