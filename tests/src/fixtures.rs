//! Realistic webhook bodies per platform. Shopify, WooCommerce, Adobe Commerce and eBay come from
//! the platforms' published samples in `tests/fixtures/` (see the `.source` files); BigCommerce
//! and Etsy, which publish none under an open licence, are built from their documented shapes.
//! Each function takes the ids that make a delivery distinct, so load tests send many.

use serde_json::{Value, json};

fn load(path: &str) -> Value {
    let full = crate::workspace_root().join("tests/fixtures").join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|err| panic!("fixture {}: {err}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("fixture {path} is not JSON: {err}"))
}

fn compact(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialise")
}

/// A Shopify `orders/*` body: the REST order (3 lines, tax, a discount code, shipping), about
/// 5 KB compact, with the given order id.
pub fn shopify_order(order_id: u64) -> Vec<u8> {
    let mut order = load("shopify/rest_fixture_order.json")["order"].take();
    order["id"] = json!(order_id);
    compact(&order)
}

/// A Shopify `refunds/create` body.
pub fn shopify_refund(refund_id: u64) -> Vec<u8> {
    let mut refund = load("shopify/rest_fixture_refund.json")["refund"].take();
    refund["id"] = json!(refund_id);
    compact(&refund)
}

/// A WooCommerce order as `order.created`/`order.updated` deliver it (REST v3 form).
pub fn woocommerce_order(order_id: u64, date_modified_gmt: &str) -> Vec<u8> {
    let mut order = load("woocommerce/order_create_response.json");
    order["id"] = json!(order_id);
    order["date_modified_gmt"] = json!(date_modified_gmt);
    compact(&order)
}

/// A WooCommerce `order.updated` after a refund: the order lists it under `refunds`.
pub fn woocommerce_refunded_order(order_id: u64, date_modified_gmt: &str) -> Vec<u8> {
    let mut order = load("woocommerce/order_update_response.json");
    order["id"] = json!(order_id);
    order["date_modified_gmt"] = json!(date_modified_gmt);
    order["refunds"] = json!([{"id": 726, "reason": "Damaged", "total": "-10.00"}]);
    compact(&order)
}

/// A BigCommerce webhook (thin: the scope and the resource id).
pub fn bigcommerce(scope: &str, resource_id: u64, store_hash: &str) -> Vec<u8> {
    compact(&json!({
        "scope": scope,
        "store_id": "1025646",
        "data": {"type": "order", "id": resource_id},
        "hash": format!("{:040x}", resource_id),
        "created_at": 1_700_000_000,
        "producer": format!("stores/{store_hash}"),
    }))
}

/// An Etsy webhook (thin: the event type and the receipt's URL).
pub fn etsy(event_type: &str, shop_id: u64, receipt_id: u64) -> Vec<u8> {
    compact(&json!({
        "event_type": event_type,
        "resource_url": format!(
            "https://api.etsy.com/v3/application/shops/{shop_id}/receipts/{receipt_id}"
        ),
        "shop_id": shop_id.to_string(),
    }))
}

/// An eBay notification on `topic`, in the Notification API's envelope.
pub fn ebay(topic: &str, notification_id: &str, order_id: &str) -> Vec<u8> {
    let mut notification = load("ebay/notification_marketplace_account_deletion.json");
    notification["metadata"]["topic"] = json!(topic);
    notification["notification"]["notificationId"] = json!(notification_id);
    if topic == "ORDER_CONFIRMATION" {
        notification["notification"]["data"] = json!({"orderId": order_id});
    }
    compact(&notification)
}

/// An Adobe I/O Events delivery (CloudEvents) of Adobe Commerce's
/// `observer.sales_order_invoice_save_after`, addressed to `recipient_client_id`.
pub fn magento_invoice(event_id: &str, recipient_client_id: &str) -> Vec<u8> {
    magento_event(
        "com.adobe.commerce.observer.sales_order_invoice_save_after",
        event_id,
        recipient_client_id,
    )
}

/// An Adobe I/O Events delivery of `event_type` carrying the invoice sample's data.
pub fn magento_event(event_type: &str, event_id: &str, recipient_client_id: &str) -> Vec<u8> {
    let data = load("magento/io_event_sales_order_invoice_save_after.json")["event"]["data"].take();
    compact(&json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v4().to_string(),
        "source": "urn:uuid:fb58963f-d2e7-4ab4-83da-b6ff15b8ebc0",
        "type": event_type,
        "datacontenttype": "application/json",
        "time": "2026-11-27T01:00:00.000Z",
        "event_id": event_id,
        "recipient_client_id": recipient_client_id,
        "data": data,
    }))
}

/// A cancelled copy of a Shopify order body (authorisation voided, nothing captured).
pub fn shopify_cancelled(order: &[u8]) -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(order).expect("a Shopify order");
    order["cancelled_at"] = json!("2026-11-20T11:00:00+13:00");
    order["cancel_reason"] = json!("customer");
    order["financial_status"] = json!("voided");
    serde_json::to_vec(&order).expect("JSON")
}

/// A Shopify `orders/*` body in NZD with 15% GST, prices excluding tax: two mugs at 25.00 with
/// 5.00 off, and shipping at 10.00.
pub fn shopify_nz_order(id: u64, number: u64, paid: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "name": format!("#{number}"),
        "order_number": number,
        "email": "aroha@example.co.nz",
        "created_at": "2026-11-20T10:00:00+13:00",
        "processed_at": "2026-11-20T10:00:00+13:00",
        "updated_at": "2026-11-20T10:00:00+13:00",
        "currency": "NZD",
        "presentment_currency": "NZD",
        "financial_status": if paid { "paid" } else { "pending" },
        "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"],
        "taxes_included": false,
        "total_line_items_price": "50.00",
        "total_discounts": "5.00",
        "subtotal_price": "45.00",
        "total_tax": "8.25",
        "total_price": "63.25",
        "customer": {"id": 7, "email": "aroha@example.co.nz", "first_name": "Aroha", "last_name": "Ngata"},
        "line_items": [{
            "id": id * 10 + 1, "title": "Kauri mug", "sku": "MUG-KAURI", "quantity": 2,
            "price": "25.00", "total_discount": "5.00", "taxable": true,
            "tax_lines": [{"title": "GST", "rate": 0.15, "price": "6.75"}]
        }],
        "shipping_lines": [{
            "title": "Courier", "price": "10.00", "discounted_price": "10.00",
            "tax_lines": [{"title": "GST", "rate": 0.15, "price": "1.50"}]
        }],
        "tax_lines": [{"title": "GST", "rate": 0.15, "price": "8.25"}],
        "refunds": []
    }))
    .unwrap()
}

/// A Shopify `refunds/create` of [`shopify_nz_order`] `order_id`: one mug back (20.00 + 3.00
/// GST) and the 23.00 returned through Shopify Payments.
pub fn shopify_nz_refund(refund_id: u64, order_id: u64) -> Vec<u8> {
    compact(&json!({
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-11-22T09:00:00+13:00",
        "processed_at": "2026-11-22T09:00:00+13:00",
        "note": "Chipped",
        "refund_line_items": [{
            "id": 1, "line_item_id": order_id * 10 + 1, "quantity": 1,
            "subtotal": "20.00", "total_tax": "3.00",
            "line_item": {"sku": "MUG-KAURI", "title": "Kauri mug", "price": "25.00"}
        }],
        "transactions": [{
            "id": refund_id, "kind": "refund", "status": "success", "amount": "23.00",
            "currency": "NZD", "gateway": "shopify_payments",
            "created_at": "2026-11-22T09:00:00+13:00", "processed_at": "2026-11-22T09:00:00+13:00"
        }],
        "order_adjustments": []
    }))
}
