//! Items: products and services with a unique `Code`. An item with an inventory asset account
//! and a COGS account is tracked as inventory (spec `Item.IsTrackedAsInventory`); its
//! `QuantityOnHand` and `TotalCostPool` are read-only and move only with approved documents
//! ([`super::inventory`]).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, apply_common_filters, parse_id};
use crate::response::SimResponse;
use crate::store::{Item, ItemDetails, Tenant, Tracked};
use crate::validation::{self, Collection, ElementResult};
use crate::wire;

const ITEMS: Collection = Collection {
    name: "Items",
    error_flag: "HasValidationErrors",
};

fn details_json(details: &ItemDetails, unit_dp: u32) -> Value {
    let mut value = json!({});
    if let Some(price) = details.unit_price {
        value["UnitPrice"] = wire::number(price, unit_dp);
    }
    if let Some(code) = &details.account_code {
        value["AccountCode"] = json!(code);
    }
    if let Some(tax) = &details.tax_type {
        value["TaxType"] = json!(tax);
    }
    if let Some(code) = &details.cogs_account_code {
        value["COGSAccountCode"] = json!(code);
    }
    value
}

/// An item as `GET /Items` prints it.
pub fn item_json(item: &Item, unit_dp: u32) -> Value {
    let mut value = json!({
        "ItemID": item.id,
        "Code": item.code,
        "IsSold": item.is_sold,
        "IsPurchased": item.is_purchased,
        "IsTrackedAsInventory": item.tracked.is_some(),
        "UpdatedDateUTC": wire::ms_date(item.updated),
    });
    if let Some(tracked) = &item.tracked {
        // The spec's getItem example: `InventoryAssetAccountCode`, `TotalCostPool` (money) and
        // `QuantityOnHand` (four places). From 16.2.0 (backorders): "QuantityOnHand … will be 0
        // if QuantityOnBackOrder is greater than 0", `QuantityAvailable` = on hand − on
        // backorder.
        let zero = rust_decimal::Decimal::ZERO;
        value["InventoryAssetAccountCode"] = json!(tracked.inventory_asset_account_code);
        value["TotalCostPool"] = wire::money(tracked.cost_pool);
        value["QuantityOnHand"] = wire::number(tracked.quantity.max(zero), 4);
        value["QuantityAvailable"] = wire::number(tracked.quantity, 4);
        value["QuantityOnBackOrder"] = wire::number((-tracked.quantity).max(zero), 4);
    }
    if let Some(name) = &item.name {
        value["Name"] = json!(name);
    }
    if let Some(description) = &item.description {
        value["Description"] = json!(description);
    }
    if let Some(description) = &item.purchase_description {
        value["PurchaseDescription"] = json!(description);
    }
    if let Some(sales) = &item.sales {
        value["SalesDetails"] = details_json(sales, unit_dp);
    }
    if let Some(purchase) = &item.purchase {
        value["PurchaseDetails"] = details_json(purchase, unit_dp);
    }
    value
}

fn read_details(
    tenant: &Tenant,
    element: &Map<String, Value>,
    key: &str,
    unit_dp: u32,
    errors: &mut Vec<String>,
) -> Option<ItemDetails> {
    let map = element.get(key)?.as_object()?;
    let unit_price = match map.get("UnitPrice").and_then(wire::parse_decimal) {
        Some(Ok(price)) => Some(crate::money::round_dp(price, unit_dp)),
        Some(Err(())) => {
            errors.push(format!("{key}.UnitPrice must be a number."));
            None
        }
        None => None,
    };
    let account_code = wire::opt_str(map, "AccountCode").map(str::to_owned);
    if let Some(code) = &account_code {
        match tenant.account_by_code(code) {
            Some(account) if account.status == "ACTIVE" => {}
            _ => errors.push(format!("Account code '{code}' is not a valid code.")),
        }
    }
    let tax_type = wire::opt_str(map, "TaxType").map(str::to_owned);
    if let Some(tax) = &tax_type
        && tenant.tax_rate(tax).is_none_or(|r| r.status != "ACTIVE")
    {
        errors.push(format!(
                "The TaxType code '{tax}' does not exist or cannot be used with this type of transaction."
            ));
    }
    let cogs_account_code = wire::opt_str(map, "COGSAccountCode").map(str::to_owned);
    if let Some(code) = &cogs_account_code
        && tenant
            .account_by_code(code)
            .is_none_or(|a| a.status != "ACTIVE")
    {
        errors.push(format!("Account code '{code}' is not a valid code."));
    }
    Some(ItemDetails {
        unit_price,
        account_code,
        tax_type,
        cogs_account_code,
    })
}

/// Whether the item is tracked after this write: "An item will be tracked as inventory if the
/// InventoryAssetAccountCode and COGSAccountCode are set", the first an account "of type
/// INVENTORY", and "The COGSAccountCode in PurchaseDetails is also required to create a
/// tracked item" (spec `Item`). Sending an empty `InventoryAssetAccountCode` stops tracking
/// (the UI's "untrack"; whether the API allows it is UNSURE); the stock is then forgotten.
fn read_tracking(
    tenant: &Tenant,
    item: &mut Item,
    element: &Map<String, Value>,
    errors: &mut Vec<String>,
) {
    if element.contains_key("InventoryAssetAccountCode") {
        match wire::opt_str(element, "InventoryAssetAccountCode").filter(|c| !c.is_empty()) {
            None => item.tracked = None,
            Some(code) => {
                match tenant.account_by_code(code) {
                    Some(a) if a.status == "ACTIVE" && a.account_type == "INVENTORY" => {}
                    _ => errors.push(format!(
                        "Account code '{code}' is not a valid inventory asset account."
                    )),
                }
                match &mut item.tracked {
                    Some(tracked) => code.clone_into(&mut tracked.inventory_asset_account_code),
                    None => {
                        item.tracked = Some(Tracked {
                            inventory_asset_account_code: code.to_owned(),
                            quantity: rust_decimal::Decimal::ZERO,
                            cost_pool: rust_decimal::Decimal::ZERO,
                        });
                    }
                }
            }
        }
    }
    let has_cogs = item
        .purchase
        .as_ref()
        .is_some_and(|p| p.cogs_account_code.is_some());
    if item.tracked.is_some() && !has_cogs {
        errors.push(
            "A COGSAccountCode in PurchaseDetails is required for an item tracked as inventory."
                .to_owned(),
        );
    }
}

fn apply(
    tenant: &Tenant,
    existing: Option<&Item>,
    element: &Map<String, Value>,
    unit_dp: u32,
    now: OffsetDateTime,
) -> Result<Item, Vec<String>> {
    let mut errors = Vec::new();
    let mut item = existing.cloned().unwrap_or_else(|| Item {
        id: Uuid::new_v4(),
        code: String::new(),
        name: None,
        description: None,
        purchase_description: None,
        is_sold: true,
        is_purchased: true,
        sales: None,
        purchase: None,
        tracked: None,
        updated: now,
    });
    if let Some(code) = wire::opt_str(element, "Code") {
        item.code = code.to_owned();
    }
    if item.code.is_empty() {
        errors.push("Item Code must be specified.".to_owned());
    } else if item.code.chars().count() > 30 {
        errors.push("The Item Code must not exceed 30 characters.".to_owned());
    } else if tenant
        .items
        .iter()
        .any(|other| other.id != item.id && other.code.eq_ignore_ascii_case(&item.code))
    {
        errors.push(format!("Item code '{}' already exists.", item.code));
    }
    if element.contains_key("Name") {
        item.name = wire::opt_str(element, "Name").map(str::to_owned);
    }
    if item.name.as_ref().is_some_and(|n| n.chars().count() > 50) {
        errors.push("The Item Name must not exceed 50 characters.".to_owned());
    }
    if element.contains_key("Description") {
        item.description = wire::opt_str(element, "Description").map(str::to_owned);
    }
    if element.contains_key("PurchaseDescription") {
        item.purchase_description =
            wire::opt_str(element, "PurchaseDescription").map(str::to_owned);
    }
    if let Some(sold) = wire::opt_bool(element, "IsSold") {
        item.is_sold = sold;
    }
    if let Some(purchased) = wire::opt_bool(element, "IsPurchased") {
        item.is_purchased = purchased;
    }
    if let Some(sales) = read_details(tenant, element, "SalesDetails", unit_dp, &mut errors) {
        item.sales = Some(sales);
    }
    if let Some(purchase) = read_details(tenant, element, "PurchaseDetails", unit_dp, &mut errors) {
        item.purchase = Some(purchase);
    }
    // "Setting either to false nulls the related details" (Item spec).
    if !item.is_sold {
        item.sales = None;
    }
    if !item.is_purchased {
        item.purchase = None;
    }
    // `QuantityOnHand` and `TotalCostPool` in a request are ignored: "The Quantity and
    // TotalCostPool elements are read-only" (Xero's Items doc, notes §3.7).
    read_tracking(tenant, &mut item, element, &mut errors);
    item.updated = now;
    if errors.is_empty() {
        Ok(item)
    } else {
        Err(errors)
    }
}

fn save(tenant: &mut Tenant, item: Item) {
    match tenant.items.iter_mut().find(|i| i.id == item.id) {
        Some(slot) => *slot = item,
        None => tenant.items.push(item),
    }
}

/// Adds a seeded item through the same rules as the API. A tracked item may carry its opening
/// balance (`QuantityOnHand`, `TotalCostPool`), which Xero takes from an import in its UI
/// ("Enter your opening balances for tracked inventory", help.xero.com), never from the API.
///
/// # Errors
/// The validation messages, for a seed that breaks Xero's rules.
pub fn seed_item(tenant: &mut Tenant, element: &Value, now: OffsetDateTime) -> Result<(), String> {
    let map = element
        .as_object()
        .ok_or("a seeded item must be an object")?;
    let mut item = apply(tenant, None, map, 4, now).map_err(|e| e.join("; "))?;
    let opening = |key: &str| match map.get(key).and_then(wire::parse_decimal) {
        None => Ok(None),
        Some(Ok(value)) if value >= rust_decimal::Decimal::ZERO => Ok(Some(value)),
        Some(_) => Err(format!("{key} must be a number of at least zero")),
    };
    let (quantity, value) = (opening("QuantityOnHand")?, opening("TotalCostPool")?);
    if quantity.is_some() || value.is_some() {
        let tracked = item
            .tracked
            .as_mut()
            .ok_or("an opening balance needs an item tracked as inventory")?;
        tracked.quantity = crate::money::round_dp(quantity.unwrap_or_default(), 4);
        tracked.cost_pool = crate::money::round2(value.unwrap_or_default());
    }
    save(tenant, item);
    Ok(())
}

/// `GET /Items`.
pub fn list(ctx: &mut Ctx<'_>) -> SimResponse {
    let dp = ctx.unit_dp();
    let records = ctx.tenant.items.iter().map(|i| item_json(i, dp)).collect();
    match apply_common_filters(ctx, records) {
        Ok(list) => SimResponse::json(200, &wire::envelope(ctx.now, "Items", list)),
        Err(response) => response,
    }
}

fn find<'a>(tenant: &'a Tenant, id: &str) -> Option<&'a Item> {
    match parse_id(id) {
        Some(uuid) => tenant.items.iter().find(|i| i.id == uuid),
        None => tenant.item_by_code(id),
    }
}

/// `GET /Items/{ItemID or Code}`.
pub fn get(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    let dp = ctx.unit_dp();
    match find(ctx.tenant, id) {
        Some(item) => SimResponse::json(
            200,
            &wire::envelope(ctx.now, "Items", vec![item_json(item, dp)]),
        ),
        None => SimResponse::not_found(),
    }
}

/// `PUT /Items`, `POST /Items` (update or create by `ItemID` or `Code`), `POST /Items/{id}`.
pub fn write(ctx: &mut Ctx<'_>, update: bool, path_id: Option<&str>) -> SimResponse {
    let elements = match ctx.elements("Items") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let path_item = match path_id {
        Some(id) => match find(ctx.tenant, id) {
            Some(item) => Some(item.id),
            None => return SimResponse::not_found(),
        },
        None => None,
    };
    let dp = ctx.unit_dp();
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        let target = if update {
            path_item.or_else(|| {
                wire::opt_str(map, "ItemID").and_then(parse_id).or_else(|| {
                    wire::opt_str(map, "Code")
                        .and_then(|code| ctx.tenant.item_by_code(code))
                        .map(|i| i.id)
                })
            })
        } else {
            None
        };
        let existing = target.and_then(|id| ctx.tenant.items.iter().find(|i| i.id == id).cloned());
        match apply(ctx.tenant, existing.as_ref(), map, dp, ctx.now) {
            Ok(item) => {
                let json = item_json(&item, dp);
                save(ctx.tenant, item);
                results.push(ElementResult::Ok(json));
            }
            Err(messages) => results.push(ElementResult::Err {
                echo: element.clone(),
                messages,
            }),
        }
    }
    validation::batch_response(
        ITEMS,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}
