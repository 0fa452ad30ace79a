# Helpers the benchmark scripts share; sourced after the script sets BENCH_TAG (its log
# prefix) and, where it uses them, API (the RabbitMQ management API) and PG_URL.

log() { printf '[%s %s] %s\n' "$BENCH_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

api() { # api METHOD PATH [BODY-FILE]
    local method=$1 path=$2
    if [[ $# -ge 3 ]]; then
        curl -fsS -u guest:guest -X "$method" -H 'content-type: application/json' \
            --data-binary "@$3" "$API$path"
    else
        curl -fsS -u guest:guest -X "$method" -H 'content-type: application/json' "$API$path"
    fi
}

psql_run() { psql "$PG_URL" -v ON_ERROR_STOP=1 -qtA "$@"; }

# stop_pid PID [SIGNAL]: the signal (TERM), then KILL after 25 s (the ingress drains for up to
# 20 s, a processor finishes its batches).
stop_pid() {
    local pid=$1 signal=${2:-TERM}
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 250); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

require_tools() { # require_tools TOOL...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
}
