#!/usr/bin/env bash
# The operator console benchmark (issue 20): page loads of /console with 500 shops and
# 100,000 dead letters.
#
# Builds the release `console_bench` and runs it: it creates a RabbitMQ vhost of its own with
# the deployed topology and a PostgreSQL schema (BENCH_SCHEMA, xcs_bench_console), starts the
# Xero simulator (50 extra organisations, the demo OAuth app connected to them) and one
# processor in-process with the console on and 500 Shopify shops, fills the ledger with SQL
# (200 events per shop today with their invoices, 100,000 dead letters over 30 days, poll
# states, check results; then ANALYZE), and times each page read with the admin bearer token:
# the overview, a shop, an event, the dead letters (first page, ?shop=, ?reason=, a page deep
# by its cursor), 5 warm-up then 50 timed requests each, sequential. Prints Markdown (the setup,
# the machine, p50/p95/max per page, and EXPLAIN ANALYZE of the overview's queries); progress
# on stderr. The vhost is deleted and the schema dropped on exit (the binary does it; this
# script drops the schema again in case the binary was killed).
#
# Needs: cargo, psql; RabbitMQ on 127.0.0.1:5672 with the management plugin on :15672
# (guest/guest) and the consistent-hash exchange plugin; PostgreSQL on 127.0.0.1:5432 (trust,
# user postgres).
#
# Arguments are passed to console_bench: --shops N (500), --tenants N (50), --events N (200
# per shop), --dead-letters N (100000), --warmup N (5), --requests N (50), --deep-pages N
# (100), --schema NAME. Environment: BENCH_SCHEMA (xcs_bench_console; --schema wins),
# POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres), RABBITMQ_API
# (http://127.0.0.1:15672), AMQP_ADDR (127.0.0.1:5672), BENCH_SKIP_BUILD=1.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

API=${RABBITMQ_API:-http://127.0.0.1:15672}
PG_URL=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SCHEMA=${BENCH_SCHEMA:-xcs_bench_console}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
BENCH_PID=

BENCH_TAG=cbench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# The schema the binary uses: --schema NAME among the arguments, else BENCH_SCHEMA.
args=("$@")
schema_given=
for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
        --schema) SCHEMA=${args[i + 1]:-$SCHEMA} schema_given=1 ;;
        --schema=*) SCHEMA=${args[i]#--schema=} schema_given=1 ;;
    esac
done
[[ -n $schema_given ]] || args+=(--schema "$SCHEMA")

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    # The binary cleans up after itself on SIGTERM (schema and vhost); KILL after 25 s.
    stop_pid "$BENCH_PID" TERM
    psql_run -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 \
        || log "could not drop schema $SCHEMA"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_tools curl psql

# --- build ------------------------------------------------------------------------------------
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building the release console_bench"
    cargo build --release -p xcs-tests --bin console_bench >&2
fi
[[ -x $BIN/console_bench ]] || die "$BIN/console_bench is missing; build it first"

# --- preflight --------------------------------------------------------------------------------
api GET /api/overview >/dev/null || die "RabbitMQ management API unreachable at $API"
psql_run -c 'SELECT 1' >/dev/null || die "PostgreSQL unreachable at $PG_URL"

# --- run --------------------------------------------------------------------------------------
log "running console_bench ${args[*]}"
XCS_TEST_POSTGRES_URL=$PG_URL XCS_TEST_RABBITMQ_API=$API \
    XCS_TEST_AMQP_ADDR=${AMQP_ADDR:-127.0.0.1:5672} \
    "$BIN/console_bench" "${args[@]}" &
BENCH_PID=$!
status=0
wait "$BENCH_PID" || status=$?
BENCH_PID=
exit "$status"
