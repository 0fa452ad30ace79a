//! Prints the RabbitMQ definitions for the topology in `xcs_shared::topology`.
//! `deploy/rabbitmq/definitions.json` is this program's output; regenerate it with
//! `cargo run -p xcs-tests --bin definitions > deploy/rabbitmq/definitions.json`.

fn main() {
    let vhost = std::env::args()
        .nth(1)
        .unwrap_or_else(|| xcs_shared::topology::DEFAULT_VHOST.to_owned());
    let definitions = xcs_shared::topology::definitions(&vhost);
    println!(
        "{}",
        serde_json::to_string_pretty(&definitions).expect("JSON values serialise")
    );
}
