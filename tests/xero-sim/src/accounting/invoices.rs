//! `/Invoices`: create (`PUT`, batch), update or create (`POST`, matched by `InvoiceID` or
//! `InvoiceNumber`), update one (`POST /Invoices/{id}`, including voiding and deleting), and
//! reads. The rules live in [`super::documents`].

use super::Ctx;
use super::documents::{self, INVOICES};
use crate::response::SimResponse;

/// `GET /Invoices`.
pub fn list(ctx: &mut Ctx<'_>) -> SimResponse {
    documents::list(ctx, &INVOICES, "InvoiceNumbers")
}

/// `GET /Invoices/{InvoiceID or InvoiceNumber}`.
pub fn get(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    documents::get(ctx, &INVOICES, id)
}

/// `PUT /Invoices`, `POST /Invoices`, `POST /Invoices/{id}`.
pub fn write(ctx: &mut Ctx<'_>, update: bool, path_id: Option<&str>) -> SimResponse {
    documents::write(ctx, &INVOICES, update, path_id)
}
