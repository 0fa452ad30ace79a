//! A started simulator with a connected demo app, and request helpers that return status,
//! headers, parsed JSON and the raw text (to check how numbers are printed).

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use uuid::Uuid;
use xcs_xero_sim::{
    DEMO_APP_CLIENT_ID, DEMO_AU_TENANT_ID, DEMO_NZ_TENANT_ID, RateLimits, RunningSim, SimConfig,
    XeroSim,
};

pub const NZ: Uuid = DEMO_NZ_TENANT_ID;
pub const AU: Uuid = DEMO_AU_TENANT_ID;

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first validation message, wherever Xero puts it.
    pub fn first_error(&self) -> Option<&str> {
        self.json["Elements"][0]["ValidationErrors"][0]["Message"].as_str()
    }
}

pub struct TestSim {
    pub sim: RunningSim,
    pub http: reqwest::Client,
    pub token: String,
}

/// The demo seed without rate limits (most tests are about something else), with the demo app
/// connected to both organisations.
pub fn start() -> TestSim {
    start_with(SimConfig::demo().with_rate_limits(RateLimits::unlimited()))
}

pub fn start_with(config: SimConfig) -> TestSim {
    let sim = XeroSim::start(config).expect("the simulator starts");
    let token = sim
        .issue_tokens(DEMO_APP_CLIENT_ID, &[NZ, AU])
        .expect("the demo app gets tokens")
        .access_token;
    // reqwest is built without a bundled crypto provider (the workspace shares rustls on ring);
    // plain-HTTP clients still need one installed. Only the first install wins, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a reqwest client builds");
    TestSim { sim, http, token }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("the body arrives");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

impl TestSim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// A request to the Accounting API for a tenant, with the app's token.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        tenant: Uuid,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .header("xero-tenant-id", tenant.to_string())
            .header("Accept", "application/json")
    }

    pub async fn get(&self, path: &str) -> Answer {
        read(
            self.request(reqwest::Method::GET, path, NZ)
                .send()
                .await
                .expect("sent"),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::PUT, path, NZ, body, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(reqwest::Method::POST, path, NZ, body, None).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        tenant: Uuid,
        body: &Value,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self.request(method, path, tenant).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        read(request.send().await.expect("sent")).await
    }

    /// Creates one AUTHORISED NZ invoice of 100.00 + 15% GST to a new contact, returns it.
    pub async fn authorised_invoice(&self, number: &str) -> Value {
        let answer = self
            .put(
                "/Invoices",
                &json!({"Invoices": [invoice(number, "AUTHORISED", &[("Widget", 1, "100.00")])]}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json["Invoices"][0].clone()
    }
}

/// An ACCREC invoice to "Online Customers" on account 200 with OUTPUT2 lines of
/// (description, quantity, unit amount).
pub fn invoice(number: &str, status: &str, lines: &[(&str, u32, &str)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(description, quantity, unit)| {
            json!({
                "Description": description,
                "Quantity": quantity,
                "UnitAmount": unit.parse::<f64>().expect("a unit amount"),
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
            })
        })
        .collect();
    json!({
        "Type": "ACCREC",
        "Contact": { "Name": "Online Customers" },
        "Date": "2026-08-01",
        "DueDate": "2026-08-01",
        "InvoiceNumber": number,
        "Status": status,
        "LineItems": lines,
    })
}
