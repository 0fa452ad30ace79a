#!/usr/bin/env bash
# The processor benchmark (issue 3): orders from a signed webhook to an invoice in Xero.
#
# From a clean state on this machine: builds the release binaries, creates the RabbitMQ vhost
# `xcs-bench-processor` with the deployed topology, a fresh PostgreSQL schema for the ledger,
# starts the Xero simulator (20 extra tenants, 100 ms latency on every call, Xero's real rate
# limits: 5 in flight, 60 a minute, 5,000 a day per tenant, with a journal), ONE release
# processor (OAuth app connected to the 20 tenants; shop i books into tenant i) and the release
# ingress with the 20 matching Shopify shops; then `processor_bench` sends signed Shopify
# `orders/paid` webhooks spread over the 20 shops and measures, per order, the time from the
# POST to the invoice in the simulator, the Xero calls per order (from the simulator's journal),
# 429s, and the processor's memory:
#   1. warm-up: one order per shop (the first order of a tenant looks its contact up and
#      creates it);
#   2. sustained: BENCH_RATE (50) orders/s for BENCH_SECS (60) s;
#   3. as fast as it goes: BENCH_BURST_ORDERS (4000) orders, 64 POSTs in flight;
#   4. scale out (issue 4): the same burst again with 2, then 3 processors (BENCH_SCALE, 3;
#      1 skips it): each added processor claims its share of the shards before the run;
#   5. after a minute's pause (so every tenant's rate window is empty), the sustained run again
#      with one processor restarted with linger BENCH_LINGER2_MS (0: skipped) instead of 250 ms.
# Prints Markdown tables (raw JSON lines on stderr as it runs). Everything it starts is stopped,
# the vhost deleted and the schema dropped, on exit.
#
# Needs: cargo, curl, jq, psql; RabbitMQ on 127.0.0.1:5672 with the management plugin on :15672
# (guest/guest) and the consistent-hash exchange plugin; PostgreSQL on 127.0.0.1:5432 (trust,
# user postgres).
#
# Knobs (environment): BENCH_RATE (50), BENCH_SECS (60), BENCH_BURST_ORDERS (4000; 0 skips it
# and the scale-out runs), BENCH_SCALE (3),
# BENCH_LINGER_MS (250, the shipped default), BENCH_LINGER2_MS (0: run 5 skipped),
# BENCH_INGRESS_PORT (18180), BENCH_SIM_PORT (18182), BENCH_VHOST (xcs-bench-processor),
# BENCH_SCHEMA (xcs_bench_processor), RABBITMQ_API (http://127.0.0.1:15672), AMQP_ADDR (127.0.0.1:5672), POSTGRES_URL
# (postgres://postgres@127.0.0.1:5432/postgres), BENCH_RESULTS (a file to copy the raw JSON
# results to), BENCH_KEEP (a directory to copy the logs and the journal to), BENCH_SKIP_BUILD=1.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

API=${RABBITMQ_API:-http://127.0.0.1:15672}
AMQP_ADDR=${AMQP_ADDR:-127.0.0.1:5672}
PG_URL=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
VHOST=${BENCH_VHOST:-xcs-bench-processor}
SCHEMA=${BENCH_SCHEMA:-xcs_bench_processor}
INGRESS_PORT=${BENCH_INGRESS_PORT:-18180}
SIM_PORT=${BENCH_SIM_PORT:-18182}
RATE=${BENCH_RATE:-50}
SECS=${BENCH_SECS:-60}
BURST=${BENCH_BURST_ORDERS:-4000}
LINGER=${BENCH_LINGER_MS:-250}
LINGER2=${BENCH_LINGER2_MS:-0}
SCALE=${BENCH_SCALE:-3}
SHOPS=20
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
INGRESS_URL=http://127.0.0.1:$INGRESS_PORT
SIM_URL=http://127.0.0.1:$SIM_PORT
AMQP_URI=amqp://guest:guest@$AMQP_ADDR/$VHOST

WORK=$(mktemp -d -t xcs-pbench.XXXXXX)
RESULTS=$WORK/results.jsonl
JOURNAL=$WORK/journal.jsonl
SIM_PID=
PROCESSOR_PID=
EXTRA_PROCESSOR_PIDS=()
INGRESS_PID=
VHOST_CREATED=
SCHEMA_CREATED=

BENCH_TAG=pbench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_pid "$INGRESS_PID" TERM
    for pid in "${EXTRA_PROCESSOR_PIDS[@]}"; do
        stop_pid "$pid" TERM
    done
    stop_pid "$PROCESSOR_PID" TERM
    stop_pid "$SIM_PID" TERM
    if [[ -n $VHOST_CREATED ]]; then
        api DELETE "/api/vhosts/$VHOST" >/dev/null 2>&1 || log "could not delete vhost $VHOST"
    fi
    if [[ -n $SCHEMA_CREATED ]]; then
        psql_run -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 \
            || log "could not drop schema $SCHEMA"
    fi
    if [[ -n ${BENCH_RESULTS:-} && -f $RESULTS ]]; then
        cp "$RESULTS" "$BENCH_RESULTS"
    fi
    if [[ -n ${BENCH_KEEP:-} ]]; then
        mkdir -p "$BENCH_KEEP" && cp "$WORK"/*.log "$WORK"/*.toml "$JOURNAL" "$BENCH_KEEP"/ 2>/dev/null || true
    fi
    if [[ $status -ne 0 ]]; then
        for name in processor ingress sim; do
            if [[ -s $WORK/$name.log ]]; then
                log "$name log (last 15 lines):"
                tail -n 15 "$WORK/$name.log" >&2 || true
            fi
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_tools jq curl psql

# --- build ------------------------------------------------------------------------------------
# One cargo invocation with the whole selection, so dependencies are built with the same
# features as bench/ingress.sh builds them (no rebuilds back and forth).
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p xcs-ingress -p xcs-processor -p xcs-xero-sim -p xcs-tests \
        --bin xcs-ingress --bin xcs-processor --bin xero-sim --bin processor_bench >&2
fi
for binary in xcs-ingress xcs-processor xero-sim processor_bench; do
    [[ -x $BIN/$binary ]] || die "$BIN/$binary is missing; build it first"
done

# --- preflight --------------------------------------------------------------------------------
api GET /api/overview >/dev/null || die "RabbitMQ management API unreachable at $API"
psql_run -c 'SELECT 1' >/dev/null || die "PostgreSQL unreachable at $PG_URL"
for url in "$INGRESS_URL/healthz" "$SIM_URL/__sim/health"; do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
        die "something already answers on $url; stop it or set BENCH_INGRESS_PORT/BENCH_SIM_PORT"
    fi
done

# --- broker and ledger ------------------------------------------------------------------------
api DELETE "/api/vhosts/$VHOST" >/dev/null 2>&1 || true # left by an interrupted run
log "creating vhost $VHOST with deploy/rabbitmq/definitions.json"
api PUT "/api/vhosts/$VHOST" >/dev/null
VHOST_CREATED=1
echo '{"configure":".*","write":".*","read":".*"}' >"$WORK/permissions.json"
api PUT "/api/permissions/$VHOST/guest" "$WORK/permissions.json" >/dev/null
api POST "/api/definitions/$VHOST" deploy/rabbitmq/definitions.json >/dev/null

log "fresh ledger schema $SCHEMA (the processor creates and migrates it)"
SCHEMA_CREATED=1
psql_run -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null

"$BIN/processor_bench" setup --dir "$WORK" --shops "$SHOPS" \
    --ingress-listen "127.0.0.1:$INGRESS_PORT" --amqp-uri "$AMQP_URI" \
    --postgres-url "$PG_URL" --schema "$SCHEMA" --sim "$SIM_URL" --linger-ms "$LINGER"

# --- Xero simulator ---------------------------------------------------------------------------
log "starting the Xero simulator on $SIM_URL ($SHOPS extra tenants, 100 ms latency, Xero's limits)"
: >"$JOURNAL"
RUST_LOG=warn "$BIN/xero-sim" --listen "127.0.0.1:$SIM_PORT" --extra-tenants "$SHOPS" \
    --latency-ms 100 --journal "$JOURNAL" >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$SIM_URL/__sim/health" 2>/dev/null && break
    kill -0 "$SIM_PID" 2>/dev/null || die "the simulator exited"
    sleep 0.1
done
# Xero's limits per app and tenant, stated rather than assumed from the defaults.
curl -fsS -X PUT -H 'content-type: application/json' \
    -d '{"concurrent":5,"per_minute":60,"per_day":5000,"app_per_minute":10000}' \
    "$SIM_URL/__sim/rate-limits" >/dev/null
SIM_SETTINGS=$(jq -nc --argjson limits "$(curl -fsS "$SIM_URL/__sim/rate-limits")" \
    --argjson latency "$(curl -fsS "$SIM_URL/__sim/latency")" \
    '{kind: "sim", rate_limits: $limits, latency_ms: $latency.ms}')
echo "$SIM_SETTINGS" | tee -a "$RESULTS" >&2

# --- processor --------------------------------------------------------------------------------
# Each processor serves /healthz, /readyz and /metrics; a free port each, so several can run.
log "starting one processor (linger ${LINGER} ms, batches of up to 50)"
XCS_PROCESSOR_LISTEN=127.0.0.1:0 RUST_LOG=info "$BIN/xcs-processor" --config "$WORK/processor.toml" >"$WORK/processor.log" 2>&1 &
PROCESSOR_PID=$!
for _ in $(seq 1 300); do
    kill -0 "$PROCESSOR_PID" 2>/dev/null || die "the processor exited"
    [[ $(psql_run -c "SELECT to_regclass('$SCHEMA.xcs_xero_tokens') IS NOT NULL") == t ]] && break
    sleep 0.1
done
[[ $(psql_run -c "SELECT to_regclass('$SCHEMA.xcs_xero_tokens') IS NOT NULL") == t ]] \
    || die "the processor did not migrate its ledger in 30 s"

# What the authorization-code flow would have stored: the app connected to the 20 tenants.
curl -fsS -X POST -H 'content-type: application/json' \
    -d "$(jq -c '{client_id: "xcs-demo-app", tenants: .}' "$WORK/tenants.json")" \
    "$SIM_URL/__sim/tokens" >"$WORK/tokens.json"
REFRESH=$(jq -er .refresh_token "$WORK/tokens.json")
ACCESS=$(jq -er .access_token "$WORK/tokens.json")
psql_run -v schema="$SCHEMA" -v refresh="$REFRESH" -v access="$ACCESS" >/dev/null <<'SQL'
INSERT INTO :"schema".xcs_xero_tokens (connection, refresh_token, access_token, access_expires_at)
VALUES ('default', :'refresh', :'access', now() + interval '30 minutes');
SQL
rm -f "$WORK/tokens.json"

# --- ingress ----------------------------------------------------------------------------------
log "starting the ingress on $INGRESS_URL"
RUST_LOG=warn "$BIN/xcs-ingress" --config "$WORK/ingress.toml" >"$WORK/ingress.log" 2>&1 &
INGRESS_PID=$!
ready=
for _ in $(seq 1 300); do
    kill -0 "$INGRESS_PID" 2>/dev/null || die "the ingress exited"
    if curl -fsS -o /dev/null "$INGRESS_URL/readyz" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
[[ -n $ready ]] || die "the ingress did not become ready in 30 s"

# --- runs -------------------------------------------------------------------------------------
BROKER_PID=$(pgrep -o -x beam.smp || true)

queue_depths() { # messages in the dead-letter queue and the retry tiers (failed events)
    api GET "/api/queues/$VHOST?columns=name,messages" | jq -c '
        {dead: (map(select(.name == "xcs.dead") | .messages // 0) | add // 0),
         retry: (map(select(.name | startswith("xcs.retry.")) | .messages // 0) | add // 0)}'
}

run_bench() { # run_bench LABEL ARGS...
    local label=$1
    shift
    local cpu_of=(--cpu-of "ingress=$INGRESS_PID" --cpu-of "sim=$SIM_PID")
    [[ -n $BROKER_PID ]] && cpu_of+=(--cpu-of "broker=$BROKER_PID")
    cpu_of+=(--cpu-of-comm postgres) # the server and every backend, new ones included
    log "run: $label"
    local line
    # Quiet for 7 s: a busy tenant's payments wait up to payment_linger_ms (5 s) for more
    # invoiced batches, and they are calls of the run too.
    line=$("$BIN/processor_bench" run --ingress "$INGRESS_URL" --journal "$JOURNAL" \
        --shops "$SHOPS" --processor-pid "$PROCESSOR_PID" --label "$label" --quiet-ms 7000 \
        "${cpu_of[@]}" "$@")
    kill -0 "$PROCESSOR_PID" 2>/dev/null || die "the processor died during $label"
    jq -c --argjson queues "$(queue_depths)" '. + {queues: $queues}' <<<"$line" | tee -a "$RESULTS" >&2
}

run_bench "warm-up, 1 order per shop" --orders "$SHOPS" --concurrency "$SHOPS" \
    --first-number 10000 --drain-timeout 60
run_bench "sustained, $RATE orders/s for $SECS s" --rate "$RATE" --duration "$SECS" \
    --concurrency 64 --first-number 100000 --drain-timeout 150
if ((BURST > 0)); then
    run_bench "as fast as it goes, $BURST orders, 1 processor" --orders "$BURST" \
        --concurrency 64 --first-number 500000 --drain-timeout 150
fi
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$PROCESSOR_PID/status")

# Scale out: the same burst with more processors sharing the shards (memory and CPU columns
# are the first processor's).
if ((BURST > 0 && SCALE > 1)); then
    for n in $(seq 2 "$SCALE"); do
        log "adding processor $n"
        XCS_PROCESSOR_LISTEN=127.0.0.1:0 RUST_LOG=info "$BIN/xcs-processor" --config "$WORK/processor.toml" \
            >"$WORK/processor-$n.log" 2>&1 &
        EXTRA_PROCESSOR_PIDS+=($!)
        # The newcomer claims free shards at once and the others give one back a second.
        claimed=
        for _ in $(seq 1 300); do
            grep -q "consuming a shard" "$WORK/processor-$n.log" && claimed=1 && break
            sleep 0.1
        done
        [[ -n $claimed ]] || die "processor $n claimed no shard in 30 s"
        sleep 10
        run_bench "as fast as it goes, $BURST orders, $n processors" --orders "$BURST" \
            --concurrency 64 --first-number $((500000 + n * 100000)) --drain-timeout 150
    done
fi

# The same sustained load with a longer linger, to show what the batching knob alone can do:
# after the rate windows of the runs above have emptied, the processor is restarted (same
# ledger, same tokens) with linger_ms = BENCH_LINGER2_MS.
if ((LINGER2 > 0)); then
    log "waiting 61 s for every tenant's minute window to empty"
    sleep 61
    log "restarting the processor with linger ${LINGER2} ms"
    for pid in "${EXTRA_PROCESSOR_PIDS[@]}"; do
        stop_pid "$pid" TERM
    done
    EXTRA_PROCESSOR_PIDS=()
    stop_pid "$PROCESSOR_PID" TERM
    sed "s/^linger_ms = .*/linger_ms = $LINGER2/" "$WORK/processor.toml" >"$WORK/processor-linger.toml"
    XCS_PROCESSOR_LISTEN=127.0.0.1:0 RUST_LOG=info "$BIN/xcs-processor" --config "$WORK/processor-linger.toml" \
        >>"$WORK/processor.log" 2>&1 &
    PROCESSOR_PID=$!
    sleep 2
    kill -0 "$PROCESSOR_PID" 2>/dev/null || die "the processor did not restart"
    run_bench "sustained, $RATE orders/s for $SECS s, linger $LINGER2 ms" --rate "$RATE" \
        --duration "$SECS" --concurrency 64 --first-number 900000 --drain-timeout 150
fi
jq -nc --argjson hwm "$HWM_KB" \
    --argjson warn "$(grep -c '"level":"WARN"' "$WORK/processor.log" || true)" \
    --argjson error "$(grep -c '"level":"ERROR"' "$WORK/processor.log" || true)" \
    --argjson handled "$(psql_run -c "SELECT count(*) FROM $SCHEMA.xcs_events WHERE outcome = 'booked'")" \
    '{kind: "end", processor_hwm_kb: $hwm, processor_warn_lines: $warn,
      processor_error_lines: $error, ledger_booked_events: $handled}' | tee -a "$RESULTS" >&2

# --- report -----------------------------------------------------------------------------------
jq -rs '
    def f1: if . == null then "–" else (. * 10 | round) / 10 | tostring end;
    def f2: if . == null then "–" else (. * 100 | round) / 100 | tostring end;
    def ms: if . == null then "–" else round | tostring end;
    def n429: (.xero.by_status["429"] // 0);
    # CPU that work outside the benchmark took from it (the machine has 2 cores: 200 %).
    def other: .cpu_pct as $c | if $c.machine == null then null
        else $c.machine - ([$c.processor, $c.ingress, $c.broker, $c.postgres, $c.sim, $c.loadgen] | map(. // 0) | add) end;
    def errs: if (.http_errors | length) == 0 then "" else " (ingress refused: \(.http_errors | to_entries | map("\(.key)×\(.value)") | join(", ")))" end;
    (map(select(.kind == "sim")) | first) as $sim |
    (map(select(.kind == "end")) | first) as $fin |
    map(select(.label)) as $runs |
    "| scenario | orders sent | orders booked | orders/s | calls/order | p50 ms | p99 ms | 429s | processor peak RSS MB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ($runs[] | "| \(.label)\(errs) | \(.accepted) | \(.booked) | \(.orders_per_s | f1) | \(.xero.calls_per_order | f2) | \(.latency_ms.p50 | ms) | \(.latency_ms.p99 | ms) | \(n429) | \(.processor.rss_peak_mb | f1) |"),
    "",
    "| scenario | sent/s | p90 ms | max ms | Xero calls (by operation) | invoices per PUT /Invoices (mean, max) | payments | token calls | dead / retry | CPU % of a core: processor / ingress / broker / postgres / sim / load gen / other / machine (of 200) |",
    "|---|---:|---:|---:|---|---|---:|---:|---|---|",
    ($runs[] | "| \(.label) | \(.sent_per_s | f1) | \(.latency_ms.p90 | ms) | \(.latency_ms.max | ms) | \(.xero.api_calls): \(.xero.by_operation | to_entries | map("\(.key) \(.value)") | join(", ")) | \(.xero.mean_invoices_per_call), \(.xero.max_invoices_per_call // "–") | \(.xero.payments) | \(.xero.token_calls) | \(.queues.dead) / \(.queues.retry) | \([.cpu_pct.processor, .cpu_pct.ingress, .cpu_pct.broker, .cpu_pct.postgres, .cpu_pct.sim, .cpu_pct.loadgen, other, .cpu_pct.machine] | map(f1) | join(" / ")) |"),
    "",
    "- simulator: \($sim.latency_ms) ms added to every call; limits per tenant \($sim.rate_limits.concurrent) in flight, \($sim.rate_limits.per_minute)/min, \($sim.rate_limits.per_day)/day",
    "- processor: peak resident memory (VmHWM) over runs 1-3 \($fin.processor_hwm_kb / 1024 | f1) MB; \($fin.ledger_booked_events) events booked in the ledger; \($fin.processor_warn_lines) WARN and \($fin.processor_error_lines) ERROR log lines",
    ($runs[] | select((.timeline | length) > 1) |
        "- \(.label), every 5 s (seconds: invoices booked / Xero calls so far): \(.timeline | map("\(.[0]): \(.[1])/\(.[2])") | join(", "))")
' "$RESULTS"
