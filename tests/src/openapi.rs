//! Checks requests against Xero's OpenAPI description (`tests/fixtures/xero/
//! xero_accounting.yaml`, copied from XeroAPI/Xero-OpenAPI, see its `.source`): the path and
//! method exist, every query parameter is declared, required headers are sent, and the JSON
//! body fits the request schema (no unknown properties, right types, enum values, required
//! properties). Used on the simulator's journal of what the processor sent.

use std::sync::OnceLock;

use serde_json::Value;

/// The Accounting API's base path, stripped before matching the spec's paths.
const API_BASE: &str = "/api.xro/2.0";

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = crate::workspace_root().join("tests/fixtures/xero/xero_accounting.yaml");
        let text = std::fs::read_to_string(&path).expect("the Xero OpenAPI spec is in fixtures");
        serde_yaml_ng::from_str(&text).expect("the Xero OpenAPI spec parses")
    })
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve(value: &Value) -> &Value {
    let mut current = value;
    while let Some(reference) = current.get("$ref").and_then(Value::as_str) {
        let pointer = reference.trim_start_matches('#');
        current = spec().pointer(pointer).unwrap_or(&Value::Null);
    }
    current
}

/// The spec's path template matching `path` (`/Invoices/abc` matches `/Invoices/{InvoiceID}`).
fn template_for(path: &str) -> Option<(&'static str, &'static Value)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    spec()["paths"]
        .as_object()?
        .iter()
        .find_map(|(template, item)| {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| {
                    part.starts_with('{') || part.eq_ignore_ascii_case(segment)
                });
            matches.then_some((template.as_str(), item))
        })
}

/// Every way `request` breaks the spec; empty when it conforms.
pub fn violations(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(api_path) = path.strip_prefix(API_BASE) else {
        return vec![format!("{path} is not under {API_BASE}")];
    };
    let Some((template, item)) = template_for(api_path) else {
        return vec![format!("no path in the spec matches {api_path}")];
    };
    let Some(operation) = item.get(method.to_ascii_lowercase()) else {
        return vec![format!("{method} {template} is not in the spec")];
    };
    let parameters: Vec<&Value> = item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(operation["parameters"].as_array().into_iter().flatten())
        .map(resolve)
        .collect();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split('=').next().unwrap_or_default();
        let declared = parameters.iter().any(|p| {
            p["in"] == "query"
                && p["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        if !declared {
            problems.push(format!(
                "{method} {template}: query parameter {name:?} is not declared"
            ));
        }
    }
    for parameter in &parameters {
        if parameter["in"] == "header" && parameter["required"] == true {
            let name = parameter["name"].as_str().unwrap_or_default();
            if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(name)) {
                problems.push(format!(
                    "{method} {template}: required header {name} is missing"
                ));
            }
        }
    }
    if let Some((_, key)) = headers
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case("idempotency-key"))
        && (key.is_empty() || key.len() > 128)
    {
        problems.push(format!(
            "{method} {template}: Idempotency-Key must be 1..=128 characters"
        ));
    }
    let schema = operation
        .pointer("/requestBody")
        .map(resolve)
        .and_then(|b| b.pointer("/content/application~1json/schema"));
    match (schema, body) {
        (None, Value::Null) => {}
        (None, _) => problems.push(format!("{method} {template} takes no body")),
        (Some(_), Value::Null) => problems.push(format!("{method} {template} needs a body")),
        (Some(schema), body) => check_value(
            schema,
            body,
            &format!("{method} {template} body"),
            &mut problems,
        ),
    }
    problems
}

fn check_value(schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(schema);
    if let Some(all) = schema["allOf"].as_array() {
        for part in all {
            check_value(part, value, at, problems);
        }
        return;
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of the allowed values"));
    }
    let kind = schema["type"]
        .as_str()
        .or_else(|| schema.get("properties").map(|_| "object"));
    match (kind, value) {
        (Some("object"), Value::Object(fields)) => {
            let properties = schema["properties"].as_object();
            for (name, field) in fields {
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => {
                        check_value(property, field, &format!("{at}.{name}"), problems)
                    }
                    None if properties.is_some() => {
                        problems.push(format!("{at}: property {name} is not in the schema"));
                    }
                    None => {}
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !fields.contains_key(name) {
                    problems.push(format!("{at}: required property {name} is missing"));
                }
            }
        }
        (Some("array"), Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                check_value(&schema["items"], item, &format!("{at}[{index}]"), problems);
            }
        }
        (Some("string"), Value::String(_))
        | (Some("number"), Value::Number(_))
        | (Some("boolean"), Value::Bool(_))
        | (None, _) => {}
        (Some("integer"), Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        (Some(expected), actual) => {
            problems.push(format!("{at}: expected {expected}, got {actual}"));
        }
    }
}

/// Checks every Accounting API request in a simulator's journal against the spec and returns
/// how many there were; panics naming the first request that breaks it.
pub fn assert_journal_conforms(journal: &[xcs_xero_sim::JournalEntry]) -> usize {
    let api_calls: Vec<_> = journal
        .iter()
        .filter(|e| e.path.starts_with(API_BASE))
        .collect();
    for entry in &api_calls {
        let headers: Vec<(&str, &str)> = entry
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let problems = violations(
            &entry.method,
            &entry.path,
            &entry.query,
            &headers,
            &entry.body,
        );
        assert!(
            problems.is_empty(),
            "request {} {} {}: {problems:#?}",
            entry.seq,
            entry.method,
            entry.path
        );
    }
    api_calls.len()
}
