//! Organisations added while the simulator runs (`POST /__sim/organisations`, the library's
//! `add_organisation` and the binary's `--organisation FILE`), then used through the
//! Accounting API and the OAuth flows as the seeded ones are.

use std::io::{BufRead as _, Read as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;
use xcs_xero_sim::{CUSTOM_CONNECTION_CLIENT_ID, DEMO_APP_CLIENT_ID, DEMO_APP_CLIENT_SECRET};

use crate::helpers::{Answer, NZ, TestSim, read, start};

fn admin_url(t: &TestSim, path: &str) -> String {
    format!("{}/__sim{path}", t.sim.root_url())
}

async fn add(t: &TestSim, body: &Value) -> Answer {
    read(
        t.http
            .post(admin_url(t, "/organisations"))
            .json(body)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

async fn organisation_count(t: &TestSim) -> usize {
    let list = read(
        t.http
            .get(admin_url(t, "/organisations"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    list.json.as_array().expect("a list").len()
}

/// An Accounting API call with an explicit token and tenant (`None`: no `xero-tenant-id`).
async fn call(
    t: &TestSim,
    method: reqwest::Method,
    path: &str,
    token: &str,
    tenant: Option<Uuid>,
    body: Option<&Value>,
) -> Answer {
    let mut request = t.http.request(method, t.url(path)).bearer_auth(token);
    if let Some(tenant) = tenant {
        request = request.header("xero-tenant-id", tenant.to_string());
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    read(request.send().await.expect("sent")).await
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in {list}"))
}

/// A New York City shop: sales tax as the state's, the city's and the MCTD's components
/// (8.875% in all), purchases untaxed, an exempt rate; the standard chart.
fn brooklyn(id: Uuid) -> Value {
    json!({
        "TenantId": id,
        "Name": "Brooklyn Candles",
        "BaseCurrency": "USD",
        "TaxRates": [
            {"Name": "NYC Sales Tax", "ReportTaxType": "OUTPUT", "TaxComponents": [
                {"Name": "New York State", "Rate": 4},
                {"Name": "New York City", "Rate": 4.5},
                {"Name": "MCTD", "Rate": 0.375}
            ]},
            {"TaxType": "INPUT", "Name": "Tax on Purchases", "EffectiveRate": 0},
            {"TaxType": "NONE", "Name": "Tax Exempt", "EffectiveRate": 0}
        ]
    })
}

#[tokio::test]
async fn a_usd_store_gets_its_currency_chart_and_sales_tax_and_books_invoices_with_them() {
    // Arrange
    let t = start();
    let id = Uuid::new_v4();

    // Act
    let added = add(&t, &brooklyn(id)).await;
    let tokens = read(
        t.http
            .post(admin_url(&t, "/tokens"))
            .json(&json!({"client_id": DEMO_APP_CLIENT_ID, "tenants": [id]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = tokens.json["access_token"].as_str().expect("a token");
    let get = |path: &'static str| call(&t, reqwest::Method::GET, path, token, Some(id), None);
    let organisation = get("/Organisation").await;
    let currencies = get("/Currencies").await;
    let accounts = get("/Accounts").await;
    let tax_rates = get("/TaxRates").await;
    let connections = read(
        t.http
            .get(t.sim.connections_url())
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let invoice = json!({"Invoices": [{
        "Type": "ACCREC",
        "Contact": {"Name": "Etsy Customers"},
        "Date": "2026-08-01",
        "InvoiceNumber": "BK-1001",
        "CurrencyCode": "USD",
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "Candle", "Quantity": 3, "UnitAmount": 19.99, "AccountCode": "200"},
            {"Description": "Gift card", "Quantity": 1, "UnitAmount": 12.00, "AccountCode": "200", "TaxType": "NONE"}
        ]
    }]});
    let booked = call(
        &t,
        reqwest::Method::PUT,
        "/Invoices",
        token,
        Some(id),
        Some(&invoice),
    )
    .await;
    let mut in_nzd = invoice.clone();
    in_nzd["Invoices"][0]["InvoiceNumber"] = json!("BK-1002");
    in_nzd["Invoices"][0]["CurrencyCode"] = json!("NZD");
    let refused = call(
        &t,
        reqwest::Method::PUT,
        "/Invoices",
        token,
        Some(id),
        Some(&in_nzd),
    )
    .await;
    let invoice_id = booked.json["Invoices"][0]["InvoiceID"].clone();
    let payment = json!({"Invoice": {"InvoiceID": invoice_id}, "Account": {"Code": "615"},
                         "Date": "2026-08-02", "Amount": 77.29});
    let paid = call(
        &t,
        reqwest::Method::PUT,
        "/Payments",
        token,
        Some(id),
        Some(&payment),
    )
    .await;

    // Assert
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.json["TenantId"], id.to_string());
    assert_eq!(added.json["CountryCode"], "US", "inferred from USD");
    assert_eq!(
        added.json["TaxRates"][0]["TaxType"], "TAX001",
        "numbered as Xero numbers user rates"
    );

    let org = &organisation.json["Organisations"][0];
    assert_eq!(organisation.status, 200, "{}", organisation.text);
    assert_eq!(org["OrganisationID"], id.to_string());
    assert_eq!(org["Name"], "Brooklyn Candles");
    assert_eq!(org["BaseCurrency"], "USD");
    assert_eq!(org["CountryCode"], "US");
    assert_eq!(org["Version"], "US");
    let codes: Vec<&str> = currencies.json["Currencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec!["USD"],
        "no multi-currency unless Currencies says so"
    );

    let chart = &accounts.json["Accounts"];
    assert_eq!(find(chart, "Code", "200")["TaxType"], "TAX001");
    assert_eq!(find(chart, "Code", "200")["Class"], "REVENUE");
    assert_eq!(
        find(chart, "Code", "310")["TaxType"],
        "INPUT",
        "purchases use the purchase rate"
    );
    assert_eq!(find(chart, "Code", "090")["Type"], "BANK");
    assert_eq!(find(chart, "Code", "090")["CurrencyCode"], "USD");
    assert_eq!(find(chart, "Code", "615")["EnablePaymentsToAccount"], true);
    assert_eq!(find(chart, "Code", "825")["EnablePaymentsToAccount"], true);
    assert_eq!(find(chart, "Code", "860")["SystemAccount"], "ROUNDING");

    let nyc = find(&tax_rates.json["TaxRates"], "TaxType", "TAX001");
    assert_eq!(nyc["Name"], "NYC Sales Tax");
    assert_eq!(nyc["EffectiveRate"], 8.875);
    assert_eq!(nyc["DisplayTaxRate"], 8.875);
    assert_eq!(
        nyc["CanApplyToExpenses"], false,
        "an OUTPUT rate is for sales"
    );
    assert_eq!(nyc["TaxComponents"].as_array().unwrap().len(), 3);
    assert!(
        tax_rates.text.contains("\"EffectiveRate\":8.8750"),
        "{}",
        tax_rates.text
    );

    let connected = find(&connections.json, "tenantId", &id.to_string());
    assert_eq!(connected["tenantName"], "Brooklyn Candles");

    assert_eq!(booked.status, 200, "{}", booked.text);
    let booked = &booked.json["Invoices"][0];
    assert_eq!(booked["CurrencyCode"], "USD");
    // 3 × 19.99 = 59.97 at 8.875% is 5.3223…, 5.32; the exempt line adds none.
    assert_eq!(
        booked["LineItems"][0]["TaxType"], "TAX001",
        "the account's default tax type"
    );
    assert_eq!(booked["LineItems"][0]["TaxAmount"], 5.32);
    assert_eq!(booked["LineItems"][1]["TaxAmount"], 0.0);
    assert_eq!(booked["TotalTax"], 5.32);
    assert_eq!(booked["Total"], 77.29);
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.first_error(),
        Some("Organisation is not subscribed to currency NZD")
    );
    assert_eq!(paid.status, 200, "{}", paid.text);
    let stored = t.sim.invoices(id);
    assert_eq!(
        stored[0]["Status"], "PAID",
        "payments to the clearing account work"
    );
    assert!(
        t.sim.invoices(NZ).is_empty(),
        "nothing went to the demo company"
    );
}

#[tokio::test]
async fn a_canadian_store_charges_compound_provincial_tax_through_its_own_custom_connection() {
    // Arrange: through the library, with a Custom Connection as the processor's local config
    // uses. QST used to be charged on the GST-inclusive price (compound); BC's PST is not.
    let t = start();
    let id = t
        .sim
        .add_organisation(json!({
            "Name": "Montréal Maple",
            "BaseCurrency": "CAD",
            "Currencies": ["USD"],
            "CustomConnection": {"ClientId": "montreal-maple", "ClientSecret": "maple-secret"},
            "TaxRates": [
                {"Name": "GST + QST (Quebec)", "ReportTaxType": "OUTPUT", "TaxComponents": [
                    {"Name": "GST", "Rate": 5},
                    {"Name": "QST", "Rate": 9.5, "IsCompound": true}
                ]},
                {"Name": "GST + PST (British Columbia)", "ReportTaxType": "OUTPUT", "TaxComponents": [
                    {"Name": "GST", "Rate": 5},
                    {"Name": "PST", "Rate": 7}
                ]},
                {"Name": "PST on Purchases (BC)", "ReportTaxType": "INPUT", "TaxComponents": [
                    {"Name": "GST", "Rate": 5},
                    {"Name": "PST", "Rate": 7, "IsNonRecoverable": true}
                ]},
                {"TaxType": "NONE", "Name": "Tax Exempt", "EffectiveRate": 0}
            ]
        }))
        .expect("the organisation is added");
    let tokens = read(
        t.http
            .post(t.sim.token_url())
            .basic_auth("montreal-maple", Some("maple-secret"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = tokens.json["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();

    // Act: no xero-tenant-id, as a Custom Connection needs none.
    let organisation = call(
        &t,
        reqwest::Method::GET,
        "/Organisation",
        &token,
        None,
        None,
    )
    .await;
    let tax_rates = call(&t, reqwest::Method::GET, "/TaxRates", &token, None, None).await;
    let invoice = json!({"Invoices": [{
        "Type": "ACCREC",
        "Contact": {"Name": "Shopify Sales"},
        "Date": "2026-08-01",
        "InvoiceNumber": "MM-1",
        "CurrencyCode": "CAD",
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "Syrup (Quebec)", "Quantity": 1, "UnitAmount": 100.00, "AccountCode": "200", "TaxType": "TAX001"},
            {"Description": "Syrup (BC)", "Quantity": 1, "UnitAmount": 33.33, "AccountCode": "200", "TaxType": "TAX002"}
        ]
    }]});
    let booked = call(
        &t,
        reqwest::Method::PUT,
        "/Invoices",
        &token,
        None,
        Some(&invoice),
    )
    .await;
    let other_tenant = call(
        &t,
        reqwest::Method::GET,
        "/Organisation",
        &token,
        Some(NZ),
        None,
    )
    .await;

    // Assert
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let org = &organisation.json["Organisations"][0];
    assert_eq!(org["OrganisationID"], id.to_string());
    assert_eq!(org["BaseCurrency"], "CAD");
    assert_eq!(org["CountryCode"], "CA");
    assert_eq!(
        org["Version"], "GLOBAL",
        "Canada has no Xero edition of its own"
    );

    let rates = &tax_rates.json["TaxRates"];
    let quebec = find(rates, "TaxType", "TAX001");
    assert_eq!(quebec["DisplayTaxRate"], 14.5, "the components' sum");
    assert_eq!(
        quebec["EffectiveRate"], 14.975,
        "QST on the price plus GST: 5 + 9.5 × 1.05"
    );
    assert_eq!(quebec["TaxComponents"][1]["IsCompound"], true);
    let bc = find(rates, "TaxType", "TAX002");
    assert_eq!(bc["DisplayTaxRate"], 12.0);
    assert_eq!(
        bc["EffectiveRate"], 12.0,
        "PST is charged on the price alone"
    );
    let purchases = find(rates, "TaxType", "TAX003");
    assert_eq!(purchases["ReportTaxType"], "INPUT");
    assert_eq!(purchases["CanApplyToRevenue"], false);
    assert_eq!(purchases["TaxComponents"][1]["IsNonRecoverable"], true);

    assert_eq!(booked.status, 200, "{}", booked.text);
    let booked = &booked.json["Invoices"][0];
    // 100.00 × 14.975% = 14.975 → 14.98 (the components' sum, 14.5%, would give 14.50);
    // 33.33 × 12% = 3.9996 → 4.00.
    assert_eq!(booked["LineItems"][0]["TaxAmount"], 14.98);
    assert_eq!(booked["LineItems"][1]["TaxAmount"], 4.0);
    assert_eq!(booked["TotalTax"], 18.98);
    assert_eq!(booked["Total"], 152.31);
    assert_eq!(
        other_tenant.status, 403,
        "the Custom Connection reaches its organisation only"
    );
}

#[tokio::test]
async fn the_consent_screen_offers_an_added_organisation_and_a_reset_keeps_it_with_empty_books() {
    // Arrange
    let t = start();
    let id = t
        .sim
        .add_organisation(
            json!({"Name": "Berlin Bikes", "BaseCurrency": "EUR", "CountryCode": "DE"}),
        )
        .unwrap();
    let invoice = json!({"Invoices": [{
        "Type": "ACCREC", "Contact": {"Name": "Walk-in"}, "Date": "2026-08-01",
        "CurrencyCode": "EUR", "Status": "DRAFT",
        "LineItems": [{"Description": "Bell", "Quantity": 1, "UnitAmount": 9.5, "AccountCode": "200"}]
    }]});
    let before = t
        .sim
        .issue_tokens(DEMO_APP_CLIENT_ID, &[id])
        .unwrap()
        .access_token;
    let booked = call(
        &t,
        reqwest::Method::PUT,
        "/Invoices",
        &before,
        Some(id),
        Some(&invoice),
    )
    .await;

    // Act
    t.sim.reset();
    let response = t
        .http
        .get(t.sim.authorize_url())
        .query(&[
            ("response_type", "code"),
            ("client_id", DEMO_APP_CLIENT_ID),
            ("redirect_uri", "http://127.0.0.1:8081/xero/callback"),
            (
                "scope",
                "offline_access accounting.invoices accounting.settings",
            ),
        ])
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let code = location
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap()
        .to_owned();
    let tokens = read(
        t.http
            .post(t.sim.token_url())
            .basic_auth(DEMO_APP_CLIENT_ID, Some(DEMO_APP_CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", "http://127.0.0.1:8081/xero/callback"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = tokens.json["access_token"].as_str().unwrap();
    let connections = read(
        t.http
            .get(t.sim.connections_url())
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let organisation = call(
        &t,
        reqwest::Method::GET,
        "/Organisation",
        token,
        Some(id),
        None,
    )
    .await;

    // Assert
    assert_eq!(booked.status, 200, "{}", booked.text);
    assert_eq!(
        booked.json["Invoices"][0]["TotalTax"], 0.0,
        "no country set, so the global set's 0% sales tax"
    );
    assert!(t.sim.invoices(id).is_empty(), "the reset emptied its books");
    assert_eq!(organisation_count(&t).await, 3, "and kept it");
    assert_eq!(
        find(&connections.json, "tenantId", &id.to_string())["tenantName"],
        "Berlin Bikes"
    );
    let org = &organisation.json["Organisations"][0];
    assert_eq!(organisation.status, 200, "{}", organisation.text);
    assert_eq!(
        (org["BaseCurrency"].clone(), org["Version"].clone()),
        (json!("EUR"), json!("GLOBAL"))
    );
}

#[tokio::test]
async fn a_taken_tenant_id_or_client_id_is_refused_with_409_and_nothing_is_added() {
    // Arrange
    let t = start();
    let id = Uuid::new_v4();

    // Act
    let seeded = add(
        &t,
        &json!({"TenantId": NZ, "Name": "Copy", "BaseCurrency": "NZD"}),
    )
    .await;
    let first = add(&t, &brooklyn(id)).await;
    let again = add(&t, &brooklyn(id)).await;
    let client = add(
        &t,
        &json!({"Name": "Other", "BaseCurrency": "USD",
                "CustomConnection": {"ClientId": CUSTOM_CONNECTION_CLIENT_ID, "ClientSecret": "x"}}),
    )
    .await;

    // Assert
    assert_eq!(seeded.status, 409, "{}", seeded.text);
    assert_eq!(seeded.json["field"], "TenantId");
    assert!(
        seeded.json["error"]
            .as_str()
            .unwrap()
            .contains("Demo Company (NZ)"),
        "{}",
        seeded.text
    );
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json["field"], "TenantId");
    assert_eq!(client.status, 409, "{}", client.text);
    assert_eq!(client.json["field"], "CustomConnection.ClientId");
    assert_eq!(
        organisation_count(&t).await,
        3,
        "the seed's two and Brooklyn Candles"
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_400_naming_the_field() {
    // Arrange
    let t = start();
    let usd = |extra: Value| {
        let mut body = json!({"Name": "Shop", "BaseCurrency": "USD"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            json!({"Name": "Shop", "BaseCurrency": "US Dollar"}),
            "BaseCurrency",
            "ISO 4217",
        ),
        (
            json!({"Name": "Shop", "BaseCurrency": "usd"}),
            "BaseCurrency",
            "write it as USD",
        ),
        (json!({"Name": "Shop"}), "BaseCurrency", "is required"),
        (
            json!({"Name": "Shop", "Currency": "USD"}),
            "Currency",
            "not a field",
        ),
        (json!({"Name": " ", "BaseCurrency": "USD"}), "Name", "empty"),
        (
            usd(json!({"CountryCode": "USA"})),
            "CountryCode",
            "ISO 3166",
        ),
        (
            usd(json!({"Currencies": ["EUR", "ABC"]})),
            "Currencies[1]",
            "not a currency",
        ),
        (usd(json!({"TenantId": "not-a-uuid"})), "TenantId", "UUID"),
        (usd(json!({"TaxRates": []})), "TaxRates", "at least one"),
        (
            usd(json!({"TaxRates": [{"Name": "T", "TaxComponents": [
                {"Name": "A", "Rate": 5}, {"Name": "B", "Rate": 150}]}]})),
            "TaxRates[0].TaxComponents[1].Rate",
            "between 0 and 100",
        ),
        (
            usd(
                json!({"TaxRates": [{"Name": "T", "EffectiveRate": 9, "TaxComponents": [
                {"Name": "A", "Rate": 8}]}]}),
            ),
            "TaxRates[0].EffectiveRate",
            "does not match",
        ),
        (
            usd(json!({"TaxRates": [{"Name": "T", "TaxComponents": [
                {"Name": "PST", "Rate": 7, "IsNonRecoverable": true}]}]})),
            "TaxRates[0].TaxComponents[0].IsNonRecoverable",
            "Canadian",
        ),
        (
            usd(
                json!({"TaxRates": [{"TaxType": "NONE", "Name": "A", "EffectiveRate": 0},
                                    {"TaxType": "NONE", "Name": "B", "EffectiveRate": 0}]}),
            ),
            "TaxRates[1].TaxType",
            "already",
        ),
        (
            usd(json!({"TaxRates": [{"Name": "T"}]})),
            "TaxRates[0].TaxComponents",
            "EffectiveRate",
        ),
        (
            usd(json!({"Accounts": [{"Code": "200", "Name": "Sales", "Type": "INCOME"}]})),
            "Accounts[0].Type",
            "REVENUE",
        ),
        (
            usd(
                json!({"Accounts": [{"Code": "200", "Name": "Sales", "Type": "REVENUE"},
                                    {"Code": "200", "Name": "More", "Type": "REVENUE"}]}),
            ),
            "Accounts[1].Code",
            "unique",
        ),
        (
            usd(
                json!({"Accounts": [{"Code": "200", "Name": "Sales", "Type": "REVENUE", "TaxType": "OUTPUT2"}]}),
            ),
            "Accounts[0].TaxType",
            "OUTPUT, INPUT, NONE",
        ),
        (
            usd(
                json!({"Accounts": [{"Code": "090", "Name": "Bank", "Type": "BANK", "CurrencyCode": "EUR"}]}),
            ),
            "Accounts[0].CurrencyCode",
            "not subscribed",
        ),
        (
            usd(json!({"CustomConnection": {"ClientId": "x"}})),
            "CustomConnection.ClientSecret",
            "required",
        ),
        (
            usd(json!({"Contacts": [{"Name": "A", "EmailAddress": "not an email"}]})),
            "Contacts[0]",
            "Email",
        ),
    ];

    for (body, field, hint) in cases {
        // Act
        let answer = add(&t, &body).await;

        // Assert
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert_eq!(answer.json["field"], field, "{body}: {}", answer.text);
        let error = answer.json["error"].as_str().unwrap();
        assert!(error.starts_with(field), "{error}");
        assert!(error.contains(hint), "{body}: {error}");
    }
    let not_json = read(
        t.http
            .post(admin_url(&t, "/organisations"))
            .body("name=Shop")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json["field"], "body");
    assert_eq!(organisation_count(&t).await, 2, "nothing was added");
}

/// A child process killed when the test ends, passing or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A file removed when the test ends, passing or not.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &Value) -> Self {
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents.to_string()).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs the simulator binary to its end, or fails the test if it is still serving after 10 s.
fn run_to_exit(args: &[&std::ffi::OsStr]) -> (std::process::ExitStatus, String) {
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_xero-sim"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr);
        }
        assert!(
            Instant::now() < deadline,
            "the simulator started instead of refusing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The binary with `--organisation FILE`: the same organisation at start, its id printed; a
/// bad file stops it before it serves.
#[tokio::test]
async fn the_organisation_option_adds_organisations_at_start() {
    // Arrange
    let id = Uuid::new_v4();
    let good = TempFile::new(&format!("xero-sim-org-{id}.json"), &brooklyn(id));
    let bad = TempFile::new(
        &format!("xero-sim-org-{id}-bad.json"),
        &json!({"Name": "Shop", "BaseCurrency": "XYZ"}),
    );
    let listen = [
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--organisation".as_ref(),
    ];

    // Act
    let (refused, stderr) = run_to_exit(&[&listen[..], &[bad.0.as_os_str()]].concat());
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_xero-sim"))
            .args(listen)
            .arg(&good.0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The log goes to stdout too; the sim's own lines start with "xero-sim:".
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap())
        .lines()
        .map(|line| line.expect("stdout reads"))
        .filter(|line| line.starts_with("xero-sim:"));
    let started = lines.next().expect("the address line");
    let announced = lines.next().expect("the organisation line");
    let root = started
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/api.xro/2.0"))
        .unwrap_or_else(|| panic!("no API URL in {started}"))
        .to_owned();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listed: Value = reqwest::get(format!("{root}/__sim/organisations"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accounts: Value = reqwest::get(format!("{root}/__sim/tenants/{id}/accounts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(child);

    // Assert
    assert!(!refused.success());
    assert!(
        stderr.contains("BaseCurrency: 'XYZ' is not a currency"),
        "{stderr}"
    );
    assert!(stderr.contains(&bad.0.display().to_string()), "{stderr}");
    assert_eq!(
        announced,
        format!("xero-sim: organisation {id} \"Brooklyn Candles\" (USD)")
    );
    let added = find(&listed, "TenantId", &id.to_string());
    assert_eq!(added["BaseCurrency"], "USD");
    assert_eq!(find(&accounts, "Code", "200")["TaxType"], "TAX001");
}
