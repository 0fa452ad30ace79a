#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ from the reference vectors and payloads
(../shared/reference beside the checkout) and the repo's own fixtures and configs. Run from
fuzz/: python3 make_seeds.py [REFERENCE_DIR]. The seeds are committed; this records how they
were made. Every seed's origin is listed in corpus/SOURCES.md."""
import base64, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, '..', 'shared', 'reference')
VEC = os.path.join(REF, 'vectors')
PAY = os.path.join(REF, 'payloads')
FIX = os.path.join(REPO, 'tests', 'fixtures', 'normalise')
PLATFORMS = ['shopify', 'woocommerce', 'bigcommerce', 'magento', 'etsy', 'ebay']  # Platform::ALL
sources = []


def write(target, name, data, origin):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)
    sources.append((target, name, origin))


def kept(target, name, origin):
    """A seed kept by hand in corpus/<target>/ (a fuzzing finding): listed, not rewritten."""
    assert os.path.exists(os.path.join(HERE, 'corpus', target, name)), (target, name)
    sources.append((target, name, origin))


def vector(name):
    with open(os.path.join(VEC, name)) as f:
        return json.load(f)


def b(text):
    return text.encode() if isinstance(text, str) else text


def read(path):
    with open(path, 'rb') as f:
        return f.read()


# Body HMAC (Shopify, WooCommerce).
for name, header in [
    ('shopify_order_fixture_valid.json', 'X-Shopify-Hmac-Sha256'),
    ('shopify_order_fixture_tampered_invalid.json', 'X-Shopify-Hmac-Sha256'),
    ('shopify_registry_test_empty_body_valid.json', 'X-Shopify-Hmac-Sha256'),
    ('shopify_registry_test_invalid_header.json', 'X-Shopify-Hmac-Sha256'),
    ('woocommerce_order_created_valid.json', 'X-WC-Webhook-Signature'),
    ('woocommerce_order_created_wrong_secret_invalid.json', 'X-WC-Webhook-Signature'),
]:
    v = vector(name)
    sig = v['headers'].get(header, '')
    write('verify_hmac_body', name, b(sig) + b'\n' + b(v['body']), 'vectors/' + name)

# Standard Webhooks (Etsy, BigCommerce) and Svix.
for name in sorted(os.listdir(VEC)):
    if not name.endswith('.json') or not name.startswith(('standard_webhooks_', 'svix_')):
        continue
    v = vector(name)
    h = v['headers']
    data = '\n'.join([h['webhook-id'], h['webhook-timestamp'], h['webhook-signature']]) + '\n'
    write('verify_standard_webhooks', name, b(data) + b(v['body']), 'vectors/' + name)

# eBay.
for name in sorted(os.listdir(VEC)):
    if not name.startswith('ebay_') or not name.endswith('.json') or 'challenge' in name:
        continue
    v = vector(name)
    sig = v.get('headers', {}).get('X-EBAY-SIGNATURE', '')
    write('verify_ebay', name, b(sig) + b'\n' + b(v.get('body', '')), 'vectors/' + name)
write('verify_ebay', 'public_key.pem', b(vector('ebay_java_sdk_message_valid.json')['public_key']),
      'vectors/ebay_java_sdk_message_valid.json (public_key)')

# Adobe: the vector signs base64(body) (a synchronous webhook); the verifier checks the
# signature over the bytes after the newline, so the seed carries base64(body).
for name in ['adobe_commerce_webhook_rsa_valid.json', 'adobe_commerce_webhook_rsa_tampered_invalid.json']:
    v = vector(name)
    sig = v['headers']['x-adobe-commerce-webhook-signature']
    write('verify_adobe', name, b(sig) + b'\n' + base64.b64encode(b(v['body'])), 'vectors/' + name)
write('verify_adobe', 'key_path', b'/prod/keys/pub-key-voy5XEbWmT.pem\n',
      'the key path form of notes/platforms.md (Adobe I/O Events)')

# Classifier: a platform byte, header lines, an empty line, the body.
def classify_seed(name, platform, headers, body, origin):
    head = ''.join(f'{k}: {v}\n' for k, v in headers.items())
    write('classify', name, bytes([PLATFORMS.index(platform)]) + b(head) + b'\n' + b(body), origin)

v = vector('shopify_order_fixture_valid.json')
classify_seed('shopify_order', 'shopify', v['headers'], v['body'], 'vectors/shopify_order_fixture_valid.json')
v = vector('woocommerce_order_created_valid.json')
classify_seed('woocommerce_order', 'woocommerce', v['headers'], v['body'], 'vectors/woocommerce_order_created_valid.json')
v = vector('standard_webhooks_sign_valid.json')
for platform, body in [('etsy', '{"event_type":"ORDER_PAID","resource_url":"https://openapi.etsy.com/v3/application/shops/1/receipts/2"}'),
                       ('bigcommerce', '{"scope":"store/order/created","data":{"type":"order","id":250}}')]:
    classify_seed(platform, platform, v['headers'], body, 'vectors/standard_webhooks_sign_valid.json (headers)')
classify_seed('ebay_notification', 'ebay', {}, read(os.path.join(PAY, 'ebay', 'notification_marketplace_account_deletion.json')),
              'payloads/ebay/notification_marketplace_account_deletion.json')
classify_seed('magento_invoice', 'magento', {}, read(os.path.join(PAY, 'magento', 'io_event_sales_order_invoice_save_after.json')),
              'payloads/magento/io_event_sales_order_invoice_save_after.json')
write('classify', 'woocommerce_ping', bytes([1]) + b'\nwebhook_id=142', 'notes/platforms.md (WooCommerce ping)')

# Normalisers: a selector byte (low six bits mod 3: 0 order, 1 refund, 2 stock; for a refund, 0x80 its
# order is tax-inclusive, 0x40 in EUR rather than USD) and the document(s).
def norm(target, selector, path, origin, second=None):
    data = bytes([selector]) + read(path)
    if second is not None:
        data += b'\0' + read(second)
    write(target, os.path.basename(path) if second is None else os.path.basename(path) + '+' + os.path.basename(second), data, origin)

for f, sel in [('rest_fixture_order.json', 0), ('rest_fixture_draft_order_completed_cad.json', 0),
               ('rest_fixture_refund.json', 1), ('rest_fixture_inventory_level.json', 2)]:
    norm('normalise_shopify', sel, os.path.join(PAY, 'shopify', f), 'payloads/shopify/' + f)
for f, sel in [('order_usd_paid.json', 0), ('order_eur_tax_inclusive.json', 0), ('refund_eur_tax_inclusive.json', 0xC1)]:
    norm('normalise_shopify', sel, os.path.join(FIX, 'shopify', f), 'tests/fixtures/normalise/shopify/' + f)
for f, sel in [('order_create_response.json', 0), ('order_update_response.json', 0), ('product_retrieve_response.json', 2)]:
    norm('normalise_woocommerce', sel, os.path.join(PAY, 'woocommerce', f), 'payloads/woocommerce/' + f)
norm('normalise_woocommerce', 1, os.path.join(PAY, 'woocommerce', 'order_create_response.json'),
     'payloads/woocommerce/order_create_response.json + refunds_list_response.json',
     os.path.join(PAY, 'woocommerce', 'refunds_list_response.json'))
norm('normalise_woocommerce', 1, os.path.join(FIX, 'woocommerce', 'order_eur_tax_inclusive.json'),
     'tests/fixtures/normalise/woocommerce/order_eur_tax_inclusive.json + refunds_eur_tax_inclusive.json',
     os.path.join(FIX, 'woocommerce', 'refunds_eur_tax_inclusive.json'))
for f, sel in [('io_event_sales_order_invoice_save_after.json', 0), ('rest_v1_invoice_get_response.json', 0),
               ('rest_v1_invoice_with_discount_response.json', 0), ('io_event_catalog_product_save_commit_after_cloudevent.json', 2)]:
    norm('normalise_magento', sel, os.path.join(PAY, 'magento', f), 'payloads/magento/' + f)
for f, sel in [('order_save_after_eur.json', 0), ('creditmemo_save_after_eur.json', 0x41), ('stock_item_save_commit_after.json', 2)]:
    norm('normalise_magento', sel, os.path.join(FIX, 'magento', f), 'tests/fixtures/normalise/magento/' + f)
# No BigCommerce or Etsy payloads in the reference folder: the repo's fixtures (see their README).
norm('normalise_bigcommerce', 0, os.path.join(FIX, 'bigcommerce', 'order_v2_usd.json'),
     'tests/fixtures/normalise/bigcommerce/order_v2_usd.json + products_v2_usd.json', os.path.join(FIX, 'bigcommerce', 'products_v2_usd.json'))
norm('normalise_bigcommerce', 0, os.path.join(FIX, 'bigcommerce', 'order_v2_eur_tax_inclusive.json'),
     'tests/fixtures/normalise/bigcommerce/order_v2_eur_tax_inclusive.json + products_v2_eur_tax_inclusive.json',
     os.path.join(FIX, 'bigcommerce', 'products_v2_eur_tax_inclusive.json'))
for f, sel in [('refund_v3_eur_tax_inclusive.json', 0xC1), ('refunds_v3_notes_example.json', 1)]:
    norm('normalise_bigcommerce', sel, os.path.join(FIX, 'bigcommerce', f), 'tests/fixtures/normalise/bigcommerce/' + f)
write('normalise_bigcommerce', 'inventory_webhook',
      b'\x02{"scope":"store/product/inventory/updated","store_id":"1","data":{"type":"product","id":113,"inventory":{"product_id":113,"method":"absolute","value":5}}}',
      'the inventory webhook shape of processor/src/normalise/bigcommerce.rs')
for f in ['receipt_gbp_fully_refunded.json', 'receipt_usd_facilitator_tax.json']:
    write('normalise_etsy', f, read(os.path.join(FIX, 'etsy', f)), 'tests/fixtures/normalise/etsy/' + f)
for f in ['order_usd_collect_and_remit.json', 'order_gbp_converted.json']:
    write('normalise_ebay', f, read(os.path.join(FIX, 'ebay', f)), 'tests/fixtures/normalise/ebay/' + f)
write('normalise_ebay', 'notification_marketplace_account_deletion.json',
      read(os.path.join(PAY, 'ebay', 'notification_marketplace_account_deletion.json')),
      'payloads/ebay/notification_marketplace_account_deletion.json')

for f in ['ingress.example.toml', 'ingress.local.toml']:
    write('config_ingress', f, read(os.path.join(REPO, 'deploy', 'config', f)), 'deploy/config/' + f)
write('config_ingress', 'env_secrets', read(os.path.join(REPO, 'deploy', 'config', 'ingress.local.toml')) + b'\0secret one\nsecret two\n',
      'deploy/config/ingress.local.toml with secrets from the environment')
for f in ['processor.example.toml', 'processor.local.toml']:
    write('config_processor', f, read(os.path.join(REPO, 'deploy', 'config', f)), 'deploy/config/' + f)

# Fuzzing findings, kept as regression seeds.
kept('verify_ebay', 'crash-non-ascii-key',
     'fuzzing finding (a key body with a multi-byte character), kept as a regression seed')

with open(os.path.join(HERE, 'corpus', 'SOURCES.md'), 'w') as f:
    f.write('# Where the seed corpora come from\n\n'
            'Written by `fuzz/make_seeds.py`. `vectors/` and `payloads/` are in the reference folder beside\n'
            'the checkout (`../shared/reference/`, each file with its own `.source`); `tests/fixtures/` and\n'
            '`deploy/config/` are in this repository. Input framing per target: see the target\'s doc comment.\n\n'
            '| Target | Seed | From |\n|---|---|---|\n')
    for target, name, origin in sources:
        f.write(f'| {target} | `{name}` | {origin} |\n')
print(len(sources), 'seeds')
