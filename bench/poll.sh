#!/usr/bin/env bash
# The polling and backfill benchmark (issue 16): what a poll costs in platform API calls, and
# how long a backfill takes to reach Xero at Xero's rate limits.
#
# From a clean state on this machine: builds the release binaries, creates two RabbitMQ vhosts
# with the deployed topology and two fresh PostgreSQL schemas, then:
#   1. poll cost (`poll_bench cost`): for each of the six platforms, BENCH_COST_ORDERS (1000)
#      orders, one in BENCH_REFUND_EVERY (10) with a refund, changed within one poll window at
#      the default settings, on the fake of the platform's API (`xcs_tests::platform_api`: the
#      platforms' filters, page sizes, pagination and rate-limit headers). Passes of the
#      processor's own poll code (`Pass`, the listers, `PollClient`'s pacing): over an empty
#      window (the idle cost), counting only, publishing into one in-process processor that
#      books everything into an in-process Xero simulator (the event path's fetches counted
#      apart), the same window again (the next poll's overlap), and again after every order
#      changed once more (new versions of booked orders). Calls are what the fake answered.
#   2. backfill (`poll_bench backfill`): BENCH_BACKFILL_ORDERS (10000) Shopify orders over
#      BENCH_BACKFILL_DAYS (30) days on the fake Shopify API, ONE release processor (a child of
#      poll_bench) booking into one tenant of the simulator with Xero's limits (5 in flight, 60
#      a rolling minute, 5,000 a day) and BENCH_LATENCY_MS (100) on every call; the release
#      `xcs-processor backfill --dry-run` (its plan), then `xcs-processor backfill`, timed from
#      its start until every invoice and payment is in the simulator.
# Prints Markdown tables (raw JSON lines on stderr as it runs). Everything it starts is stopped,
# the vhosts deleted and the schemas dropped, on exit.
#
# Needs: cargo, curl, jq, psql; RabbitMQ on 127.0.0.1:5672 with the management plugin on :15672
# (guest/guest) and the consistent-hash exchange plugin; PostgreSQL on 127.0.0.1:5432 (trust,
# user postgres).
#
# Knobs (environment): BENCH_COST_ORDERS (1000; 0 skips part 1), BENCH_REFUND_EVERY (10),
# BENCH_PLATFORMS (all; a comma list such as shopify,etsy), BENCH_BACKFILL_ORDERS (10000; 0
# skips part 2), BENCH_BACKFILL_DAYS (30), BENCH_LATENCY_MS (100), BENCH_BACKFILL_TIMEOUT (3600
# s), BENCH_VHOST (xcs-bench-poll; -cost and -backfill are appended), BENCH_SCHEMA
# (xcs_bench_poll; likewise), RABBITMQ_API (http://127.0.0.1:15672), AMQP_ADDR (127.0.0.1:5672),
# POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres), BENCH_RESULTS (a file to copy the
# raw JSON results to), BENCH_KEEP (a directory to copy the logs and configs to),
# BENCH_SKIP_BUILD=1.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

API=${RABBITMQ_API:-http://127.0.0.1:15672}
AMQP_ADDR=${AMQP_ADDR:-127.0.0.1:5672}
PG_URL=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
VHOST=${BENCH_VHOST:-xcs-bench-poll}
SCHEMA=${BENCH_SCHEMA:-xcs_bench_poll}
COST_ORDERS=${BENCH_COST_ORDERS:-1000}
REFUND_EVERY=${BENCH_REFUND_EVERY:-10}
PLATFORMS=${BENCH_PLATFORMS:-}
BACKFILL_ORDERS=${BENCH_BACKFILL_ORDERS:-10000}
BACKFILL_DAYS=${BENCH_BACKFILL_DAYS:-30}
LATENCY=${BENCH_LATENCY_MS:-100}
BACKFILL_TIMEOUT=${BENCH_BACKFILL_TIMEOUT:-3600}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release

WORK=$(mktemp -d -t xcs-pollbench.XXXXXX)
RESULTS=$WORK/results.jsonl
VHOSTS_CREATED=()
SCHEMAS_CREATED=()
BENCH_PID=

BENCH_TAG=pollbench
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_pid "$BENCH_PID"
    # The backfill's processor is poll_bench's child; if poll_bench died first it is not.
    if [[ -f $WORK/backfill/processor.pid ]]; then
        stop_pid "$(cat "$WORK/backfill/processor.pid")"
    fi
    for vhost in "${VHOSTS_CREATED[@]}"; do
        api DELETE "/api/vhosts/$vhost" >/dev/null 2>&1 || log "could not delete vhost $vhost"
    done
    for schema in "${SCHEMAS_CREATED[@]}"; do
        psql_run -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 \
            || log "could not drop schema $schema"
    done
    if [[ -n ${BENCH_RESULTS:-} && -f $RESULTS ]]; then
        cp "$RESULTS" "$BENCH_RESULTS"
    fi
    if [[ -n ${BENCH_KEEP:-} ]]; then
        mkdir -p "$BENCH_KEEP" && cp -r "$WORK"/. "$BENCH_KEEP"/ 2>/dev/null || true
    fi
    if [[ $status -ne 0 ]]; then
        for file in "$WORK/cost.log" "$WORK/backfill/processor.log"; do
            if [[ -s $file ]]; then
                log "$file (last 15 lines):"
                tail -n 15 "$file" >&2 || true
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
# The same package selection as bench/ingress.sh and bench/processor.sh, so dependencies are
# built with the same features and the scripts do not rebuild each other's.
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p xcs-ingress -p xcs-processor -p xcs-xero-sim -p xcs-tests \
        --bin xcs-processor --bin poll_bench >&2
fi
for binary in xcs-processor poll_bench; do
    [[ -x $BIN/$binary ]] || die "$BIN/$binary is missing; build it first"
done

# --- preflight --------------------------------------------------------------------------------
api GET /api/overview >/dev/null || die "RabbitMQ management API unreachable at $API"
psql_run -c 'SELECT 1' >/dev/null || die "PostgreSQL unreachable at $PG_URL"

fresh_vhost() { # fresh_vhost NAME: the deployed topology in a vhost of its own
    local vhost=$1
    api DELETE "/api/vhosts/$vhost" >/dev/null 2>&1 || true # left by an interrupted run
    api PUT "/api/vhosts/$vhost" >/dev/null
    VHOSTS_CREATED+=("$vhost")
    echo '{"configure":".*","write":".*","read":".*"}' >"$WORK/permissions.json"
    api PUT "/api/permissions/$vhost/guest" "$WORK/permissions.json" >/dev/null
    api POST "/api/definitions/$vhost" deploy/rabbitmq/definitions.json >/dev/null
}

fresh_schema() { # fresh_schema NAME: none; the processor creates and migrates it
    SCHEMAS_CREATED+=("$1")
    psql_run -c "DROP SCHEMA IF EXISTS $1 CASCADE" >/dev/null
}

: >"$RESULTS"

# --- 1. poll cost -----------------------------------------------------------------------------
if ((COST_ORDERS > 0)); then
    fresh_vhost "$VHOST-cost"
    fresh_schema "${SCHEMA}_cost"
    log "poll cost: $COST_ORDERS orders per platform, 1 in $REFUND_EVERY refunded"
    platforms=()
    [[ -n $PLATFORMS ]] && platforms=(--platforms "$PLATFORMS")
    RUST_LOG=warn "$BIN/poll_bench" cost --amqp-uri "amqp://guest:guest@$AMQP_ADDR/$VHOST-cost" \
        --postgres-url "$PG_URL" --schema "${SCHEMA}_cost" --vhost "$VHOST-cost" \
        --rabbitmq-api "$API" --results "$RESULTS" --orders "$COST_ORDERS" \
        --refund-every "$REFUND_EVERY" "${platforms[@]}" >"$WORK/cost.log" &
    BENCH_PID=$!
    wait "$BENCH_PID" || die "poll_bench cost failed"
    BENCH_PID=
fi

# --- 2. backfill ------------------------------------------------------------------------------
if ((BACKFILL_ORDERS > 0)); then
    fresh_vhost "$VHOST-backfill"
    fresh_schema "${SCHEMA}_backfill"
    log "backfill: $BACKFILL_ORDERS Shopify orders over $BACKFILL_DAYS days, Xero's limits, ${LATENCY} ms"
    "$BIN/poll_bench" backfill --amqp-uri "amqp://guest:guest@$AMQP_ADDR/$VHOST-backfill" \
        --postgres-url "$PG_URL" --schema "${SCHEMA}_backfill" --results "$RESULTS" \
        --processor "$BIN/xcs-processor" --dir "$WORK/backfill" --orders "$BACKFILL_ORDERS" \
        --days "$BACKFILL_DAYS" --latency-ms "$LATENCY" --timeout-secs "$BACKFILL_TIMEOUT" &
    BENCH_PID=$!
    wait "$BENCH_PID" || die "poll_bench backfill failed"
    BENCH_PID=
fi

# --- report -----------------------------------------------------------------------------------
jq -rs '
    def f1: if . == null then "–" else (. * 10 | round) / 10 | tostring end;
    def per1000($n): if $n == 0 then null else . * 1000 / $n end;
    def statuses: if length == 0 then "none" else to_entries | map("\(.key)×\(.value)") | join(", ") end;
    def fetched: if (.fetched | length) == 0 then "none"
        else .fetched | to_entries | map("\(.key) \(.value)") | join(", ") end;
    map(select(.kind == "cost")) as $cost |
    map(select(.kind == "backfill")) as $backfill |
    if ($cost | length) > 0 then
        "| platform | page size | window (default interval + overlap) | list calls for \($cost[0].orders) orders + \($cost[0].refunds) refunds (429s) | parts read | event-path fetches | **calls per 1,000 orders** | idle poll: calls | idle: calls/day at the default interval | read time s (counting) | poll time s (publishing) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ($cost[] |
            (.poll.calls.list_calls + .poll.calls.fetches) as $all |
            "| \(.platform_name) | \(.page_size) | \(.window_secs) s (\(.interval_secs) + 600) | \(.read.calls.list_calls) (\(.read.calls.calls_429)) | \(.read.windows) | \(.poll.calls.fetches) | **\($all | per1000($cost[0].orders) | f1)** | \(.idle.calls.list_calls) | \(.idle.calls.list_calls * 86400 / .interval_secs | round) | \(.read.secs) | \(.poll.secs) |"),
        "",
        "| platform | found (orders, refunds) | poll: list calls; fetches by path | booked (invoices, credit notes), s from the pass start | outcomes | the same window again: list calls, left alone as booked, fetches, outcomes | every order changed again: list calls; fetches, outcomes | statuses answered (read / poll / again / changed) |",
        "|---|---|---|---|---|---|---|---|",
        ($cost[] |
            "| \(.platform_name) | \(.read.orders), \(.read.refunds) | \(.poll.calls.list_calls); \(.poll.calls | fetched) | \(.poll.invoices), \(.poll.credit_notes)\(if .poll.complete then "" else " (INCOMPLETE)" end), \(.poll.booked_secs) | \(.poll.outcomes | statuses) | \(.again.calls.list_calls), \(.again.already_booked), \(.again.calls.fetches), \(.again.outcomes | statuses) | \(.changed.calls.list_calls); \(.changed.calls | fetched), \(.changed.outcomes | statuses) | \(.read.calls.by_status | statuses) / \(.poll.calls.by_status | statuses) / \(.again.calls.by_status | statuses) / \(.changed.calls.by_status | statuses) |"),
        ""
    else empty end,
    if ($backfill | length) > 0 then
        ($backfill[] |
        "| backfill of \(.orders) Shopify orders (\(.days) days) | value |",
        "|---|---|",
        "| dry run: platform calls, time | \(.dry_run.calls.list_calls) (\(.dry_run.calls.calls_429) × 429), \(.dry_run.secs) s |",
        "| dry run: estimate | \(.dry_run.plan.documents) documents, \(.dry_run.plan.xero_calls) Xero calls, \(.dry_run.plan.booking_time) |",
        "| backfill: read and published in | \(.backfill.read_secs) s (\(.backfill.calls.list_calls) platform calls, \(.backfill.calls.calls_429) × 429) |",
        "| **wall time to the last invoice / the last payment** | **\(.last_invoice_secs // "–") s / \(.last_payment_secs // "–") s** (\((.last_payment_secs // 0) / 60 | f1) min) |",
        "| invoices and payments created | \(.invoices_created) / \(.payments_created) (in Xero: \(.invoices_in_xero) invoices, \(.distinct_invoice_numbers) numbers, \(.paid_invoices) paid) |",
        "| Xero calls | \(.xero.api_calls): \(.xero.by_operation | to_entries | map("\(.key) \(.value)") | join(", ")) (+ \(.xero.token_calls) token) |",
        "| answers | \(.xero.by_status | statuses); 429s: \(.xero.calls_429) |",
        "| busiest rolling minute | \(.xero.busiest_minute) calls |",
        "| per call | \(.xero.mean_invoices_per_call) invoices per invoice call, \(.xero.mean_payments_per_call) payments per payments call |",
        "| processor log | \(.processor_log.warn) WARN, \(.processor_log.error) ERROR lines |",
        "",
        "- simulator: \(.latency_ms) ms added to every call; limits per tenant \(.rate_limits.concurrent) in flight, \(.rate_limits.per_minute)/min, \(.rate_limits.per_day)/day",
        "- every 30 s (seconds: invoices / payments / Xero calls so far): \(.timeline | map("\(.[0]): \(.[1])/\(.[2])/\(.[3])") | join(", "))")
    else empty end
' "$RESULTS"
