//! The OpenAPI checker used on the processor's requests finds what it should, so its silence
//! on the processor's journal means something.

use serde_json::json;
use xcs_tests::openapi::violations;

const TENANT: (&str, &str) = ("xero-tenant-id", "a3a6c1f2-4d0b-4f59-9c1e-5b7e2f1d9a01");

#[test]
fn a_conforming_invoice_request_has_no_violations() {
    let body = json!({"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": "c"}, "Date": "2026-11-27",
        "LineAmountTypes": "Exclusive", "Status": "AUTHORISED",
        "LineItems": [{"Description": "Mug", "Quantity": 1, "UnitAmount": 10.5,
                       "AccountCode": "200", "TaxType": "OUTPUT2", "TaxAmount": 1.58}]
    }]});
    let problems = violations(
        "PUT",
        "/api.xro/2.0/Invoices",
        "summarizeErrors=false&unitdp=4",
        &[TENANT],
        &body,
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn unknown_properties_wrong_types_bad_enums_and_undeclared_queries_are_reported() {
    let body = json!({"Invoices": [{
        "Type": "SALE", "Contact": {"ContactID": "c"}, "Colour": "blue",
        "LineItems": [{"Description": "Mug", "Quantity": "one"}]
    }]});
    let problems = violations(
        "PUT",
        "/api.xro/2.0/Invoices",
        "summarise=false",
        &[],
        &body,
    );
    let text = problems.join("\n");
    for expected in ["Colour", "Quantity", "SALE", "summarise", "xero-tenant-id"] {
        assert!(
            text.contains(expected),
            "missing a report about {expected}: {text}"
        );
    }
    assert!(!violations("PATCH", "/api.xro/2.0/Invoices", "", &[TENANT], &json!({})).is_empty());
    assert!(
        !violations(
            "GET",
            "/api.xro/2.0/NoSuchThing",
            "",
            &[TENANT],
            &json!(null)
        )
        .is_empty()
    );
}

#[test]
fn an_allocation_must_carry_its_required_fields() {
    let body = json!({"Allocations": [{"Amount": 5}]});
    let problems = violations(
        "PUT",
        "/api.xro/2.0/CreditNotes/6c0ae5a5-3c2f-4c40-a3d4-8b6d0b0a1f00/Allocations",
        "",
        &[TENANT],
        &body,
    );
    assert!(
        problems.iter().any(|p| p.contains("Invoice")),
        "{problems:#?}"
    );
}
