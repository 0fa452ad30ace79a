#!/usr/bin/env bash
# Starts the whole system on this machine and shows it working: RabbitMQ with the topology,
# PostgreSQL, the Xero simulator (standing in for Xero) on :8082, the processor, and the
# ingress on :8080; then one signed Shopify webhook goes through the ingress into RabbitMQ and
# is booked by the processor as an invoice in the simulator. Everything keeps running until
# Ctrl-C.
#
# To model your own store as well, set XCS_LOCAL_CURRENCY (e.g. USD; optionally
# XCS_LOCAL_SALES_TAX=8.875, the sales tax percent) or XCS_LOCAL_ORGANISATION=FILE (the JSON of
# POST /__sim/organisations, see tests/xero-sim/README.md): the simulator starts with that
# organisation too, reachable through its own Custom Connection, and the script prints how to
# point a shop at it. The demo order still goes to the NZ demo company, as without them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh

echo "[local] loading the topology (deploy/rabbitmq/definitions.json) into vhost xcs" >&2
rabbitmqctl -q import_definitions "$PWD/deploy/rabbitmq/definitions.json" >/dev/null

echo "[local] building" >&2
cargo build -q -p xcs-ingress -p xcs-processor -p xcs-xero-sim -p xcs-tests \
  --bin xcs-ingress --bin xcs-processor --bin xero-sim --bin demo

bin="${CARGO_TARGET_DIR:-target}/debug"

# The extra organisation, if asked for. Its id and Custom Connection are fixed so a processor
# config written for it keeps working across runs.
sim_args=()
local_tenant=""
org_file=""
if [[ -n "${XCS_LOCAL_ORGANISATION:-}" ]]; then
  sim_args+=(--organisation "$XCS_LOCAL_ORGANISATION")
elif [[ -n "${XCS_LOCAL_CURRENCY:-}" ]]; then
  local_tenant="4c0ca1e5-7000-4e00-8000-000000000001"
  org_file="$(mktemp "${TMPDIR:-/tmp}/xcs-local-store.XXXXXX.json")"
  sales_tax="${XCS_LOCAL_SALES_TAX:+, \"SalesTaxRate\": $XCS_LOCAL_SALES_TAX}"
  cat >"$org_file" <<JSON
{ "TenantId": "$local_tenant", "Name": "My Store ($XCS_LOCAL_CURRENCY)",
  "BaseCurrency": "$XCS_LOCAL_CURRENCY"$sales_tax,
  "CustomConnection": { "ClientId": "xcs-local-store", "ClientSecret": "xcs-local-store-secret" } }
JSON
  sim_args+=(--organisation "$org_file")
fi

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -f ${org_file:+"$org_file"}; wait 2>/dev/null' EXIT INT TERM
"$bin"/xero-sim --listen 127.0.0.1:8082 "${sim_args[@]}" & pids+=($!)
"$bin"/xcs-processor --config deploy/config/processor.local.toml & pids+=($!)
"$bin"/xcs-ingress --config deploy/config/ingress.local.toml & pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8080/readyz >/dev/null 2>&1 \
    && curl -fsS http://127.0.0.1:8082/__sim/health >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS http://127.0.0.1:8080/readyz >/dev/null || { echo "[local] the ingress is not ready" >&2; exit 1; }
curl -fsS http://127.0.0.1:8082/__sim/health >/dev/null \
  || { echo "[local] the Xero simulator is not running; its error is above" >&2; exit 1; }

echo >&2
"$bin"/demo --xero-sim http://127.0.0.1:8082
echo >&2
if [[ ${#sim_args[@]} -gt 0 ]]; then
  echo "[local] organisations in the simulator (GET http://127.0.0.1:8082/__sim/organisations):" >&2
  curl -fsS http://127.0.0.1:8082/__sim/organisations >&2; echo >&2
  if [[ -n "$local_tenant" ]]; then
    echo "[local] to book a shop into \"My Store ($XCS_LOCAL_CURRENCY)\": copy deploy/config/processor.local.toml," \
      "set the shop's tenant = \"$local_tenant\", [xero] client_id = \"xcs-local-store\" and" \
      "client_secret = \"xcs-local-store-secret\", map its tax (tax types: GET /__sim/tenants/$local_tenant/tax-rates)," \
      "and run the processor with --config on the copy in place of this one (it has one [xero] connection)" >&2
  fi
fi
echo "[local] running: ingress http://127.0.0.1:8080, Xero simulator http://127.0.0.1:8082 (/__sim/store), processor. Ctrl-C stops them." >&2
wait
