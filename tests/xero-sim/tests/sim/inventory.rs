//! Tracked inventory (xero.md §3.7): items tracked as inventory with their `QuantityOnHand` and
//! `TotalCostPool`, stock moved by approved documents only, and Xero's refusal to let an item
//! go below zero unless `allowBackorders` is asked for and honoured.

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_xero_sim::Readings;

use crate::helpers::{NZ, TestSim, start};

/// A tracked item `code` with `on_hand` units worth 5.00 each (an opening balance).
fn tracked(t: &TestSim, code: &str, on_hand: u32) {
    t.sim
        .add_item(
            NZ,
            &json!({
                "Code": code, "Name": "Kauri mug",
                "InventoryAssetAccountCode": "630",
                "PurchaseDetails": {"COGSAccountCode": "310"},
                "SalesDetails": {"UnitPrice": 25, "AccountCode": "200", "TaxType": "OUTPUT2"},
                "QuantityOnHand": on_hand, "TotalCostPool": on_hand * 5,
            }),
        )
        .expect("the item is valid");
}

/// A sales document (`ACCREC` or `ACCRECCREDIT`) of `quantity` × `code`.
fn sale(kind: &str, number: &str, status: &str, code: &str, quantity: u32) -> Value {
    let number_key = if kind == "ACCREC" {
        "InvoiceNumber"
    } else {
        "CreditNoteNumber"
    };
    json!({
        "Type": kind, "Contact": {"Name": "Online Customers"}, "Date": "2026-11-20",
        number_key: number, "Status": status,
        "LineItems": [{"ItemCode": code, "Quantity": quantity, "UnitAmount": 25}],
    })
}

/// The item `code` as `GET /Items/{code}` prints it.
async fn item(t: &TestSim, code: &str) -> Value {
    let answer = t.get(&format!("/Items/{code}")).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["Items"][0].clone()
}

/// (`QuantityOnHand`, `TotalCostPool`) of `code`.
async fn stock(t: &TestSim, code: &str) -> (f64, f64) {
    let item = item(t, code).await;
    (
        item["QuantityOnHand"].as_f64().unwrap(),
        item["TotalCostPool"].as_f64().unwrap(),
    )
}

fn first_element(answer: &crate::helpers::Answer, list: &str) -> Value {
    answer.json[list][0].clone()
}

#[tokio::test]
async fn an_item_with_inventory_and_cogs_accounts_is_tracked_and_its_stock_is_read_only() {
    let t = start();
    let answer = t
        .put(
            "/Items",
            &json!({"Items": [{
                "Code": "MUG-1", "Name": "Kauri mug", "InventoryAssetAccountCode": "630",
                "PurchaseDetails": {"COGSAccountCode": "310", "UnitPrice": 5},
                "SalesDetails": {"UnitPrice": 25, "AccountCode": "200"},
                "QuantityOnHand": 40, "TotalCostPool": 200,
            }]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let made = item(&t, "MUG-1").await;
    assert_eq!(made["IsTrackedAsInventory"], true);
    assert_eq!(made["InventoryAssetAccountCode"], "630");
    assert_eq!(made["PurchaseDetails"]["COGSAccountCode"], "310");
    // The quantity and value sent are ignored (read-only), printed as Xero prints them.
    let text = t.get("/Items/MUG-1").await.text;
    assert!(text.contains("\"QuantityOnHand\":0.0000"), "{text}");
    assert!(text.contains("\"TotalCostPool\":0.00"), "{text}");
    assert!(text.contains("\"QuantityAvailable\":0.0000"), "{text}");

    // Not an INVENTORY account, or no COGS account: refused.
    let answer = t
        .put(
            "/Items?summarizeErrors=false",
            &json!({"Items": [
                {"Code": "BAD-1", "InventoryAssetAccountCode": "200",
                 "PurchaseDetails": {"COGSAccountCode": "310"}},
                {"Code": "BAD-2", "InventoryAssetAccountCode": "630"},
            ]}),
        )
        .await;
    let results = answer.json["Items"].as_array().unwrap();
    assert!(
        results[0]["ValidationErrors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("'200' is not a valid inventory asset account"),
        "{}",
        answer.text
    );
    assert!(
        results[1]["ValidationErrors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("COGSAccountCode"),
        "{}",
        answer.text
    );
    // The demo company's SKU-1 is not tracked and has no stock fields.
    let untracked = item(&t, "SKU-1").await;
    assert_eq!(untracked["IsTrackedAsInventory"], false);
    assert!(untracked.get("QuantityOnHand").is_none(), "{untracked}");
}

#[tokio::test]
async fn approved_documents_move_stock_at_average_cost_and_drafts_do_not() {
    // Arrange: stock raised the tracked-inventory guide's way, a zero-total purchase: 10 units
    // at 5.00 into inventory, and the adjustment line that nets the bill to zero.
    let t = start();
    t.sim
        .add_item(
            NZ,
            &json!({"Code": "MUG-1", "InventoryAssetAccountCode": "630",
                    "PurchaseDetails": {"COGSAccountCode": "310"},
                    "SalesDetails": {"AccountCode": "200", "TaxType": "OUTPUT2"}}),
        )
        .unwrap();
    let bill = t
        .put(
            "/Invoices",
            &json!({"Invoices": [{
                "Type": "ACCPAY", "Contact": {"Name": "Inventory Adjustments"},
                "Date": "2026-11-19", "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
                "LineItems": [
                    {"ItemCode": "MUG-1", "Description": "Opening stock", "Quantity": 10,
                     "UnitAmount": 5},
                    {"Description": "Inventory adjustment", "Quantity": 10, "UnitAmount": -5,
                     "AccountCode": "310"},
                ],
            }]}),
        )
        .await;
    assert_eq!(bill.status, 200, "{}", bill.text);
    assert_eq!(
        first_element(&bill, "Invoices")["LineItems"][0]["AccountCode"],
        "630",
        "a tracked item's purchase is coded to its inventory account"
    );
    assert_eq!(stock(&t, "MUG-1").await, (10.0, 50.0));

    // Act and assert, step by step. A draft holds no stock.
    let draft = t
        .put(
            "/Invoices",
            &json!({"Invoices": [sale("ACCREC", "INV-S1", "DRAFT", "MUG-1", 4)]}),
        )
        .await;
    let id = first_element(&draft, "Invoices")["InvoiceID"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stock(&t, "MUG-1").await, (10.0, 50.0));
    // Approved: four units go out at the average cost.
    let approved = t
        .post(
            &format!("/Invoices/{id}"),
            &json!({"Invoices": [{"Status": "AUTHORISED"}]}),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(stock(&t, "MUG-1").await, (6.0, 30.0));
    // An edit of the approved invoice that leaves its quantities alone moves nothing.
    t.post(
        &format!("/Invoices/{id}"),
        &json!({"Invoices": [{"Reference": "order 1001"}]}),
    )
    .await;
    assert_eq!(stock(&t, "MUG-1").await, (6.0, 30.0));
    // A customer returns one: a sales credit note takes it back.
    let credit = t
        .put(
            "/CreditNotes",
            &json!({"CreditNotes": [sale("ACCRECCREDIT", "CN-S1", "AUTHORISED", "MUG-1", 1)]}),
        )
        .await;
    assert_eq!(credit.status, 200, "{}", credit.text);
    assert_eq!(stock(&t, "MUG-1").await, (7.0, 35.0));
    // Voiding the invoice gives its four back.
    let voided = t
        .post(
            &format!("/Invoices/{id}"),
            &json!({"Invoices": [{"Status": "VOIDED"}]}),
        )
        .await;
    assert_eq!(voided.status, 200, "{}", voided.text);
    assert_eq!(stock(&t, "MUG-1").await, (11.0, 55.0));
}

#[tokio::test]
async fn selling_more_than_is_on_hand_is_refused_naming_the_item_and_changes_nothing() {
    let t = start();
    tracked(&t, "MUG-1", 2);

    // A new approved invoice for three: refused, in both of Xero's error shapes.
    let answer = t
        .put(
            "/Invoices?summarizeErrors=false",
            &json!({"Invoices": [sale("ACCREC", "INV-S2", "AUTHORISED", "MUG-1", 3)]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let element = first_element(&answer, "Invoices");
    assert_eq!(element["StatusAttributeString"], "ERROR");
    assert_eq!(
        element["ValidationErrors"][0]["Message"],
        "The quantity on hand of tracked item 'MUG-1' cannot go below zero: 2.0000 on hand, \
         3.0000 needed."
    );
    let answer = t
        .put(
            "/Invoices",
            &json!({"Invoices": [sale("ACCREC", "INV-S2", "AUTHORISED", "MUG-1", 3)]}),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.json["Type"], "ValidationException");
    assert!(
        answer.first_error().unwrap().contains("'MUG-1'"),
        "{}",
        answer.text
    );
    assert!(t.sim.invoices(NZ).is_empty(), "nothing saved");
    assert_eq!(stock(&t, "MUG-1").await, (2.0, 10.0));

    // As a draft it is taken; approving it is refused, also with allowBackorders under the
    // strict reading, which does not honour it.
    let draft = t
        .put(
            "/Invoices",
            &json!({"Invoices": [sale("ACCREC", "INV-S2", "DRAFT", "MUG-1", 3)]}),
        )
        .await;
    assert_eq!(draft.status, 200, "{}", draft.text);
    let id = first_element(&draft, "Invoices")["InvoiceID"]
        .as_str()
        .unwrap()
        .to_owned();
    for query in ["", "?allowBackorders=true"] {
        let approve = t
            .post(
                &format!("/Invoices/{id}{query}"),
                &json!({"Invoices": [{"Status": "AUTHORISED"}]}),
            )
            .await;
        assert_eq!(approve.status, 400, "{query}: {}", approve.text);
        assert!(approve.first_error().unwrap().contains("'MUG-1'"));
    }
    assert_eq!(t.sim.invoices(NZ)[0]["Status"], "DRAFT");

    // Stock raised (an adjustment in Xero): the approval goes through.
    t.sim
        .adjust_stock(NZ, "MUG-1", Decimal::from(5), Some(Decimal::from(25)))
        .unwrap();
    let approve = t
        .post(
            &format!("/Invoices/{id}"),
            &json!({"Invoices": [{"Status": "AUTHORISED"}]}),
        )
        .await;
    assert_eq!(approve.status, 200, "{}", approve.text);
    assert_eq!(stock(&t, "MUG-1").await, (4.0, 20.0));

    // An item that is not tracked has no stock to run out of.
    let untracked = t
        .put(
            "/Invoices",
            &json!({"Invoices": [sale("ACCREC", "INV-S3", "AUTHORISED", "SKU-1", 500)]}),
        )
        .await;
    assert_eq!(untracked.status, 200, "{}", untracked.text);
}

#[tokio::test]
async fn a_batch_draws_on_the_stock_element_by_element() {
    let t = start();
    tracked(&t, "MUG-1", 3);
    let answer = t
        .put(
            "/Invoices?summarizeErrors=false",
            &json!({"Invoices": [
                sale("ACCREC", "INV-B1", "AUTHORISED", "MUG-1", 2),
                sale("ACCREC", "INV-B2", "AUTHORISED", "MUG-1", 2),
                sale("ACCREC", "INV-B3", "AUTHORISED", "MUG-1", 1),
            ]}),
        )
        .await;
    let results = answer.json["Invoices"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["StatusAttributeString"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["OK", "ERROR", "OK"], "{}", answer.text);
    assert!(
        results[1]["ValidationErrors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("1.0000 on hand, 2.0000 needed"),
        "{}",
        answer.text
    );
    assert_eq!(stock(&t, "MUG-1").await, (0.0, 0.0));
}

#[tokio::test]
async fn voiding_a_credit_note_whose_units_were_sold_again_is_refused() {
    // One unit on hand; a return brings it to two, both sold.
    let t = start();
    tracked(&t, "MUG-1", 1);
    let credit = t
        .put(
            "/CreditNotes",
            &json!({"CreditNotes": [sale("ACCRECCREDIT", "CN-V1", "AUTHORISED", "MUG-1", 1)]}),
        )
        .await;
    let id = first_element(&credit, "CreditNotes")["CreditNoteID"]
        .as_str()
        .unwrap()
        .to_owned();
    let sold = t
        .put(
            "/Invoices",
            &json!({"Invoices": [sale("ACCREC", "INV-V1", "AUTHORISED", "MUG-1", 2)]}),
        )
        .await;
    assert_eq!(sold.status, 200, "{}", sold.text);

    // Voiding the return would take the item to −1.
    let void = t
        .post(
            &format!("/CreditNotes/{id}"),
            &json!({"CreditNotes": [{"Status": "VOIDED"}]}),
        )
        .await;
    assert_eq!(void.status, 400, "{}", void.text);
    assert!(void.first_error().unwrap().contains("'MUG-1'"));
    assert_eq!(t.sim.credit_notes(NZ)[0]["Status"], "AUTHORISED");
    assert_eq!(stock(&t, "MUG-1").await.0, 0.0);
}

#[tokio::test]
async fn allow_backorders_takes_a_sale_below_zero_only_where_xero_honours_it() {
    let t = start();
    t.sim.set_readings(Readings {
        backorders_honoured: true,
        ..Readings::default()
    });
    tracked(&t, "MUG-1", 2);

    // Without the parameter: refused as ever.
    let refused = t
        .put(
            "/Invoices",
            &json!({"Invoices": [sale("ACCREC", "INV-K1", "AUTHORISED", "MUG-1", 3)]}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    // With it: the invoice stands and the shortfall is on backorder.
    let answer = t
        .send(
            Method::PUT,
            "/Invoices?allowBackorders=true",
            NZ,
            &json!({"Invoices": [sale("ACCREC", "INV-K1", "AUTHORISED", "MUG-1", 3)]}),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let mug = item(&t, "MUG-1").await;
    assert_eq!(mug["QuantityOnHand"].as_f64(), Some(0.0));
    assert_eq!(mug["QuantityOnBackOrder"].as_f64(), Some(1.0));
    assert_eq!(mug["QuantityAvailable"].as_f64(), Some(-1.0));
    assert_eq!(mug["TotalCostPool"].as_f64(), Some(0.0));

    // Three bought at 6.00: one fills the backorder, two are on hand.
    let bill = t
        .put(
            "/Invoices",
            &json!({"Invoices": [{
                "Type": "ACCPAY", "Contact": {"Name": "Potter"}, "Date": "2026-11-21",
                "Status": "AUTHORISED", "LineAmountTypes": "NoTax",
                "LineItems": [{"ItemCode": "MUG-1", "Description": "Mugs", "Quantity": 3,
                               "UnitAmount": 6}],
            }]}),
        )
        .await;
    assert_eq!(bill.status, 200, "{}", bill.text);
    assert_eq!(stock(&t, "MUG-1").await, (2.0, 12.0));

    // Credit notes have no such parameter: a purchase return beyond stock is refused.
    let mut back = sale("ACCPAYCREDIT", "", "AUTHORISED", "MUG-1", 3);
    back.as_object_mut().unwrap().remove("CreditNoteNumber");
    let returned = t
        .send(
            Method::PUT,
            "/CreditNotes?allowBackorders=true",
            NZ,
            &json!({"CreditNotes": [back]}),
            None,
        )
        .await;
    assert_eq!(returned.status, 400, "{}", returned.text);
}
