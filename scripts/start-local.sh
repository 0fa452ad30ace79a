#!/usr/bin/env bash
# Starts the system on this machine and shows it working: RabbitMQ with the topology, the
# ingress on http://127.0.0.1:8080 with deploy/config/ingress.local.toml, then one signed
# Shopify webhook sent through it into RabbitMQ. The ingress keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

echo "[local] loading the topology (deploy/rabbitmq/definitions.json) into vhost xcs" >&2
rabbitmqctl -q import_definitions "$PWD/deploy/rabbitmq/definitions.json" >/dev/null

echo "[local] building" >&2
cargo build -q -p xcs-ingress -p xcs-tests --bin xcs-ingress --bin demo

target/debug/xcs-ingress --config deploy/config/ingress.local.toml &
ingress=$!
trap 'kill $ingress 2>/dev/null; wait $ingress 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 50); do
  curl -fsS http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS http://127.0.0.1:8080/readyz >/dev/null || { echo "[local] the ingress is not ready" >&2; exit 1; }

echo >&2
target/debug/demo
echo >&2
echo "[local] the ingress is running at http://127.0.0.1:8080 (metrics: /metrics). Ctrl-C stops it." >&2
wait $ingress
