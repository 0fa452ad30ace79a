//! Line tax as Xero computes it on both bases and with both readings of its rounding, tax
//! overrides (`TaxAmount` given), the documents Xero would flag for them, and the credit notes
//! that refuse them (strict reading).

use serde_json::{Value, json};
use xcs_xero_sim::Readings;
use xcs_xero_sim::money::TaxRounding;

use crate::helpers::{NZ, TestSim, start};

/// One OUTPUT2 (15%) line on account 200, with `TaxAmount` when `tax` is given.
fn line(amount: f64, tax: Option<f64>) -> Value {
    let mut line = json!({"Description": "Widget", "Quantity": 1, "UnitAmount": amount,
                          "AccountCode": "200", "TaxType": "OUTPUT2"});
    if let Some(tax) = tax {
        line["TaxAmount"] = json!(tax);
    }
    line
}

fn document(kind: &str, number: &str, types: &str, lines: Vec<Value>) -> Value {
    let (key, doc_type) = match kind {
        "Invoices" => ("InvoiceNumber", "ACCREC"),
        _ => ("CreditNoteNumber", "ACCRECCREDIT"),
    };
    let mut doc = json!({"Type": doc_type, "Contact": {"Name": "Online Customers"},
                         "Date": "2026-08-01", "DueDate": "2026-08-01", "Status": "AUTHORISED",
                         "LineAmountTypes": types, "LineItems": lines});
    doc[key] = json!(number);
    json!({ kind: [doc] })
}

async fn create(t: &TestSim, kind: &str, number: &str, types: &str, lines: Vec<Value>) -> Value {
    let answer = t
        .put(
            &format!("/{kind}?summarizeErrors=false"),
            &document(kind, number, types, lines),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json[kind][0].clone()
}

fn review(t: &TestSim, number: &str) -> Value {
    t.sim
        .tax_review(NZ)
        .into_iter()
        .find(|d| d["Number"] == number)
        .unwrap_or_else(|| panic!("no document {number} in the tax review"))
}

#[tokio::test]
async fn each_line_is_taxed_and_rounded_on_its_own_on_both_bases() {
    let t = start();
    // Exclusive: 10.01 × 15% = 1.5015 → 1.50 each; 56.28 × 15% = 8.442 → 8.44 (Xero's guide).
    let exclusive = create(
        &t,
        "Invoices",
        "EX-1",
        "Exclusive",
        vec![line(10.01, None), line(10.01, None), line(56.28, None)],
    )
    .await;
    assert_eq!(exclusive["TotalTax"], 11.44);
    // Inclusive: 19.99 carries 2.6074 → 2.61 a line, 5.22 for two, where one line of 39.98
    // would carry 5.2148 → 5.21.
    let inclusive = create(
        &t,
        "Invoices",
        "IN-1",
        "Inclusive",
        vec![line(19.99, None), line(19.99, None)],
    )
    .await;
    assert_eq!(inclusive["LineItems"][0]["TaxAmount"], 2.61);
    assert_eq!(inclusive["TotalTax"], 5.22);
    assert_eq!(inclusive["SubTotal"], 34.76);
    assert_eq!(inclusive["Total"], 39.98);
    // Neither carries an adjustment: every line's tax is Xero's own.
    for number in ["EX-1", "IN-1"] {
        let reviewed = review(&t, number);
        assert_eq!(reviewed["TaxAdjustments"], json!([]), "{reviewed:#}");
        assert_eq!(reviewed["FlaggedForTaxAdjustment"], false);
    }
}

#[tokio::test]
async fn half_cents_of_tax_round_as_the_reading_in_force_says() {
    let t = start();
    // 1.10 × 15% = 0.165: 0.17 away from zero, 0.16 to even; 3.30 × 15% = 0.495: 0.50 both.
    let away = create(
        &t,
        "Invoices",
        "HALF-1",
        "Exclusive",
        vec![line(1.10, None), line(3.30, None)],
    )
    .await;
    assert_eq!(away["LineItems"][0]["TaxAmount"], 0.17);
    assert_eq!(away["LineItems"][1]["TaxAmount"], 0.50);

    t.sim.set_readings(Readings {
        tax_rounding: TaxRounding::MidpointNearestEven,
        ..Readings::default()
    });
    let even = create(
        &t,
        "Invoices",
        "HALF-2",
        "Exclusive",
        vec![line(1.10, None), line(3.30, None)],
    )
    .await;
    assert_eq!(even["LineItems"][0]["TaxAmount"], 0.16);
    assert_eq!(even["LineItems"][1]["TaxAmount"], 0.50);
    assert_eq!(even["TotalTax"], 0.66);
}

#[tokio::test]
async fn an_inclusive_invoice_with_overridden_tax_is_flagged_and_an_exclusive_one_is_not() {
    let t = start();
    // 10.74 inclusive at 15% carries 1.40; 1.41 is an adjustment of one cent.
    let inclusive = create(
        &t,
        "Invoices",
        "FLAG-1",
        "Inclusive",
        vec![line(10.74, Some(1.41))],
    )
    .await;
    // Xero takes the override: the tax is the given one, the total the line's.
    assert_eq!(inclusive["TotalTax"], 1.41);
    assert_eq!(inclusive["Total"], 10.74);
    let flagged = review(&t, "FLAG-1");
    assert_eq!(flagged["FlaggedForTaxAdjustment"], true, "{flagged:#}");
    assert_eq!(flagged["AdjustedTax"], 0.01);
    assert_eq!(flagged["TaxAdjustments"][0]["ComputedTax"], 1.40);
    assert_eq!(flagged["TaxAdjustments"][0]["TaxAmount"], 1.41);

    // The same adjustment on an exclusive invoice is Xero's ordinary tax adjustment.
    let exclusive = create(
        &t,
        "Invoices",
        "FLAG-2",
        "Exclusive",
        vec![line(10.00, Some(1.49))],
    )
    .await;
    assert_eq!(exclusive["Total"], 11.49);
    let adjusted = review(&t, "FLAG-2");
    assert_eq!(adjusted["FlaggedForTaxAdjustment"], false, "{adjusted:#}");
    assert_eq!(adjusted["AdjustedTax"], 0.01);

    // A TaxAmount equal to Xero's own is no adjustment.
    create(
        &t,
        "Invoices",
        "FLAG-3",
        "Inclusive",
        vec![line(10.74, Some(1.40))],
    )
    .await;
    let same = review(&t, "FLAG-3");
    assert_eq!(same["FlaggedForTaxAdjustment"], false, "{same:#}");
    assert_eq!(same["TaxAdjustments"], json!([]));
}

#[tokio::test]
async fn the_other_reading_flags_inclusive_documents_only_from_six_cents() {
    let t = start();
    t.sim.set_readings(Readings {
        inclusive_tax_flag_from_cents: 6,
        ..Readings::default()
    });
    create(
        &t,
        "Invoices",
        "SIX-1",
        "Inclusive",
        vec![line(10.74, Some(1.41))],
    )
    .await;
    create(
        &t,
        "Invoices",
        "SIX-2",
        "Inclusive",
        vec![line(10.74, Some(1.43)), line(10.74, Some(1.43))],
    )
    .await;
    assert_eq!(review(&t, "SIX-1")["FlaggedForTaxAdjustment"], false);
    assert_eq!(review(&t, "SIX-2")["AdjustedTax"], 0.06);
    assert_eq!(review(&t, "SIX-2")["FlaggedForTaxAdjustment"], true);
}

#[tokio::test]
async fn credit_notes_refuse_overridden_tax_under_the_strict_reading() {
    let t = start();
    let answer = t
        .put(
            "/CreditNotes",
            &document(
                "CreditNotes",
                "REFUSE-1",
                "Exclusive",
                vec![line(10.00, Some(1.49))],
            ),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.json["Type"], "ValidationException");
    assert_eq!(
        answer.first_error(),
        Some("Tax amount 1.49 is incorrect for OUTPUT2 tax type, should be 1.50")
    );
    assert!(t.sim.credit_notes(NZ).is_empty());

    // Xero's own tax given explicitly is no override, and is taken.
    let same = create(
        &t,
        "CreditNotes",
        "REFUSE-2",
        "Exclusive",
        vec![line(10.00, Some(1.50))],
    )
    .await;
    assert_eq!(same["Total"], 11.50);

    // Under the other reading credit notes take it, as invoices do.
    t.sim.set_readings(Readings {
        credit_notes_take_tax_overrides: true,
        ..Readings::default()
    });
    let taken = create(
        &t,
        "CreditNotes",
        "REFUSE-3",
        "Exclusive",
        vec![line(10.00, Some(1.49))],
    )
    .await;
    assert_eq!(taken["Total"], 11.49);
    assert_eq!(review(&t, "REFUSE-3")["AdjustedTax"], 0.01);
}

#[tokio::test]
async fn invoices_take_overridden_tax_under_every_reading() {
    let t = start();
    for (number, readings) in [
        ("TAKE-1", Readings::default()),
        ("TAKE-2", Readings::lenient()),
    ] {
        t.sim.set_readings(readings);
        let taken = create(
            &t,
            "Invoices",
            number,
            "Exclusive",
            vec![line(10.00, Some(1.49))],
        )
        .await;
        assert_eq!(taken["TotalTax"], 1.49, "{number}");
    }
}
