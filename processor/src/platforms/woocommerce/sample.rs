//! The sample order of `test-transaction` as an `order.created` webhook (platforms.md,
//! WooCommerce).

use serde_json::{Value, json};
use xcs_shared::domain::{Normalised, Order};

use crate::normalise::NormaliseError;
use crate::platforms::sample::{SampleOrder, TestOrders};

pub(crate) const TEST_ORDERS: TestOrders = TestOrders {
    topic: "order.created",
    body,
    headers,
    normalise,
};

fn body(sample: &SampleOrder) -> Value {
    let (product, shipping) = (SampleOrder::PRODUCT, SampleOrder::SHIPPING);
    let (product_tax, shipping_tax) = (sample.product_tax(), sample.shipping_tax());
    let at = format!("{}T12:00:00", sample.date);
    let taxes = |total: rust_decimal::Decimal| {
        if sample.taxed() {
            json!([{"id": 1, "total": total.to_string(), "subtotal": total.to_string()}])
        } else {
            json!([])
        }
    };
    json!({
        "id": sample.numeric_id(),
        "number": sample.number,
        "status": "processing",
        "currency": sample.currency,
        "prices_include_tax": false,
        "date_created": at,
        "date_created_gmt": at,
        "date_modified_gmt": at,
        "date_paid": at,
        "payment_method": sample.gateway,
        "payment_method_title": "xcs test-transaction",
        "transaction_id": format!("xcs-test-{}", sample.number),
        "customer_id": 0,
        "billing": {"first_name": "Test", "last_name": "Transaction",
                    "email": "test-transaction@example.com"},
        "line_items": [{
            "id": 1, "name": "Test product (xcs test-transaction)", "sku": "XCS-TEST",
            "quantity": 1, "price": product,
            "subtotal": product.to_string(), "subtotal_tax": product_tax.to_string(),
            "total": product.to_string(), "total_tax": product_tax.to_string(),
            "taxes": taxes(product_tax)
        }],
        "shipping_lines": [{
            "id": 2, "method_title": "Test shipping", "total": shipping.to_string(),
            "total_tax": shipping_tax.to_string(),
            "taxes": taxes(shipping_tax)
        }],
        "fee_lines": [],
        "coupon_lines": [],
        "tax_lines": if sample.taxed() {
            json!([{"id": 3, "rate_id": 1, "label": sample.label, "rate_code": sample.label,
                    "rate_percent": sample.rate, "tax_total": product_tax.to_string(),
                    "shipping_tax_total": shipping_tax.to_string()}])
        } else {
            json!([])
        },
        "discount_total": "0.00",
        "discount_tax": "0.00",
        "shipping_total": shipping.to_string(),
        "total": sample.total().to_string(),
        "total_tax": sample.total_tax().to_string(),
        "refunds": []
    })
}

fn headers(shop: &str, signature: String, delivery: String) -> Vec<(&'static str, String)> {
    vec![
        ("X-WC-Webhook-Source", format!("https://{shop}.example/")),
        ("X-WC-Webhook-Topic", TEST_ORDERS.topic.to_owned()),
        ("X-WC-Webhook-Resource", "order".to_owned()),
        ("X-WC-Webhook-Event", "created".to_owned()),
        ("X-WC-Webhook-Signature", signature),
        ("X-WC-Webhook-ID", "0".to_owned()),
        ("X-WC-Webhook-Delivery-ID", delivery),
    ]
}

fn normalise(body: &[u8]) -> Result<Order, NormaliseError> {
    match super::normalise::order(body)? {
        Normalised::Order(order) => Ok(order),
        // A processing order normalises to an order; anything else is the sample's fault.
        other => Err(NormaliseError::Implausible {
            platform: xcs_shared::Platform::WooCommerce,
            document: "sample order".to_owned(),
            message: format!("normalised to {other:?}, not an order"),
        }),
    }
}
