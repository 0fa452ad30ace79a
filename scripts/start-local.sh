#!/usr/bin/env bash
# Starts the whole system on this machine and shows it working: RabbitMQ with the topology,
# PostgreSQL, the Xero simulator (standing in for Xero) on :8082, the processor, and the
# ingress on :8080; then one signed Shopify webhook goes through the ingress into RabbitMQ and
# is booked by the processor as an invoice in the simulator. Everything keeps running until
# Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

echo "[local] loading the topology (deploy/rabbitmq/definitions.json) into vhost xcs" >&2
rabbitmqctl -q import_definitions "$PWD/deploy/rabbitmq/definitions.json" >/dev/null

echo "[local] building" >&2
cargo build -q -p xcs-ingress -p xcs-processor -p xcs-xero-sim -p xcs-tests \
  --bin xcs-ingress --bin xcs-processor --bin xero-sim --bin demo

bin="${CARGO_TARGET_DIR:-target}/debug"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
"$bin"/xero-sim --listen 127.0.0.1:8082 & pids+=($!)
"$bin"/xcs-processor --config deploy/config/processor.local.toml & pids+=($!)
"$bin"/xcs-ingress --config deploy/config/ingress.local.toml & pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8080/readyz >/dev/null 2>&1 \
    && curl -fsS http://127.0.0.1:8082/__sim/health >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS http://127.0.0.1:8080/readyz >/dev/null || { echo "[local] the ingress is not ready" >&2; exit 1; }

echo >&2
"$bin"/demo --xero-sim http://127.0.0.1:8082
echo >&2
echo "[local] running: ingress http://127.0.0.1:8080, Xero simulator http://127.0.0.1:8082 (/__sim/store), processor. Ctrl-C stops them." >&2
wait
