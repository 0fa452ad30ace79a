//! The sample order of `test-transaction` as an `orders/paid` webhook (platforms.md, Shopify).

use serde_json::{Value, json};

use crate::platforms::sample::{SampleOrder, TestOrders};

pub(crate) const TEST_ORDERS: TestOrders = TestOrders {
    topic: "orders/paid",
    body,
    headers,
    normalise: super::normalise::order,
};

fn body(sample: &SampleOrder) -> Value {
    let (product, shipping) = (SampleOrder::PRODUCT, SampleOrder::SHIPPING);
    let fraction = (sample.rate / rust_decimal::Decimal::ONE_HUNDRED).normalize();
    let tax_line = |price: rust_decimal::Decimal| {
        if sample.taxed() {
            json!([{"title": sample.label, "rate": fraction, "price": price.to_string()}])
        } else {
            json!([])
        }
    };
    let at = format!("{}T12:00:00+00:00", sample.date);
    json!({
        "id": sample.numeric_id(),
        "name": format!("#{}", sample.number),
        "email": "test-transaction@example.com",
        "created_at": at,
        "processed_at": at,
        "updated_at": at,
        "currency": sample.currency,
        "presentment_currency": sample.currency,
        "financial_status": "paid",
        "gateway": sample.gateway,
        "payment_gateway_names": [sample.gateway],
        "taxes_included": false,
        "total_line_items_price": product.to_string(),
        "total_discounts": "0.00",
        "subtotal_price": product.to_string(),
        "total_tax": sample.total_tax().to_string(),
        "total_price": sample.total().to_string(),
        "customer": {"id": 1, "email": "test-transaction@example.com",
                     "first_name": "Test", "last_name": "Transaction"},
        "line_items": [{
            "id": 1, "title": "Test product (xcs test-transaction)",
            "sku": "XCS-TEST", "quantity": 1, "price": product.to_string(),
            "total_discount": "0.00", "taxable": sample.taxed(),
            "tax_lines": tax_line(sample.product_tax())
        }],
        "shipping_lines": [{
            "title": "Test shipping", "price": shipping.to_string(),
            "discounted_price": shipping.to_string(),
            "tax_lines": tax_line(sample.shipping_tax())
        }],
        "tax_lines": tax_line(sample.total_tax()),
        "refunds": []
    })
}

fn headers(shop: &str, signature: String, delivery: String) -> Vec<(&'static str, String)> {
    vec![
        ("X-Shopify-Topic", TEST_ORDERS.topic.to_owned()),
        ("X-Shopify-Hmac-Sha256", signature),
        ("X-Shopify-Shop-Domain", format!("{shop}.myshopify.com")),
        ("X-Shopify-API-Version", "2025-04".to_owned()),
        ("X-Shopify-Webhook-Id", delivery.clone()),
        ("X-Shopify-Event-Id", delivery),
    ]
}
