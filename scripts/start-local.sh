#!/usr/bin/env bash
# Starts the whole system on this machine and shows it working: RabbitMQ with the topology,
# PostgreSQL, the Xero simulator (standing in for Xero) on :8082, the processor (health on
# :9102), and the ingress on :8080; then one signed Shopify webhook goes through the ingress into
# RabbitMQ and is booked by the processor as an invoice in the simulator, printed line by line
# with its payment. Everything keeps running until Ctrl-C.
#
# Before it starts anything it checks that its three ports are free, and stops naming the port
# and what holds it when one is not. Each child must then stay alive and answer its own
# readiness endpoint (the simulator's /__sim/health, the processor's /readyz, the ingress's
# /readyz) from its own process, else the script stops with that child's last log lines.
# Children's logs go to $XCS_LOCAL_LOGS (default ${TMPDIR:-/tmp}/xcs-local/).
#
#   scripts/start-local.sh                 start everything
#   scripts/start-local.sh --check-ports   only check the ports (exit 0 free, 1 taken)
#
# Ports: XCS_LOCAL_INGRESS_PORT (8080), XCS_LOCAL_SIM_PORT (8082), XCS_LOCAL_PROCESSOR_PORT
# (9102). With other ports than these defaults the script runs on copies of the local configs,
# written to the logs directory, and says so.
#
# To model your own store as well, set XCS_LOCAL_CURRENCY (e.g. USD; optionally
# XCS_LOCAL_SALES_TAX=8.875, the sales tax percent) or XCS_LOCAL_ORGANISATION=FILE (the JSON of
# POST /__sim/organisations, see tests/xero-sim/README.md): the simulator starts with that
# organisation too, reachable through its own Custom Connection, and the script prints how to
# point a shop at it. The demo order still goes to the NZ demo company, as without them.
set -euo pipefail
cd "$(dirname "$0")/.."

ingress_port="${XCS_LOCAL_INGRESS_PORT:-8080}"
sim_port="${XCS_LOCAL_SIM_PORT:-8082}"
processor_port="${XCS_LOCAL_PROCESSOR_PORT:-9102}"

log() { printf '[local] %s\n' "$*" >&2; }
fail() {
  printf '[local] FAILED: %s\n' "$*" >&2
  exit 1
}

for var in XCS_LOCAL_INGRESS_PORT:ingress_port XCS_LOCAL_SIM_PORT:sim_port XCS_LOCAL_PROCESSOR_PORT:processor_port; do
  value="${var#*:}"
  [[ "${!value}" =~ ^[0-9]+$ ]] && ((${!value} > 0 && ${!value} < 65536)) \
    || fail "${var%%:*} is \"${!value}\"; it takes a port number (1-65535)"
done

# What listens on TCP port $1 on any address, as ss prints it (with the process when ss may show
# it); empty when nothing does. Without ss, a connection to 127.0.0.1 is tried instead.
listeners_on() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "sport = :$1" 2>/dev/null || ss -Hltn "sport = :$1"
  elif (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "something accepts connections on 127.0.0.1:$1 (install iproute2 for ss to see what)"
  fi
}

# The PIDs listening on port $1, one a line (empty when none, or when ss may not show them).
listener_pids() {
  listeners_on "$1" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true
}

# A free port to suggest in place of $1: the first one from $1 + 10000 (or 20000, when that is
# beyond 65535) that nothing listens on and the script does not use.
suggest_port() {
  local candidate=$(($1 + 10000))
  ((candidate < 65536)) || candidate=$((20000 + $1 % 10000))
  while [[ -n "$(listeners_on "$candidate")" || " $ingress_port $sim_port $processor_port " == *" $candidate "* ]]; do
    candidate=$((candidate + 1))
  done
  echo "$candidate"
}

# Fails, naming every taken port, what holds it and how to get past it, when one of the ports
# is taken.
check_ports() {
  local taken=0 name port var holders pid
  local specs=(
    "the ingress|$ingress_port|XCS_LOCAL_INGRESS_PORT"
    "the Xero simulator|$sim_port|XCS_LOCAL_SIM_PORT"
    "the processor's health and metrics|$processor_port|XCS_LOCAL_PROCESSOR_PORT"
  )
  local seen=" "
  for spec in "${specs[@]}"; do
    IFS='|' read -r name port var <<<"$spec"
    if [[ "$seen" == *" $port "* ]]; then
      log "port $port is given twice: $var must differ from the other ports (ingress $ingress_port, Xero simulator $sim_port, processor $processor_port)"
      taken=1
      continue
    fi
    seen+="$port "
    holders="$(listeners_on "$port")"
    [[ -z "$holders" ]] && continue
    taken=1
    log "port $port, for $name, is taken:"
    sed 's/^/[local]     /' <<<"$holders" >&2
    for pid in $(listener_pids "$port"); do
      log "  held by pid $pid: $(ps -o args= -p "$pid" 2>/dev/null | cut -c1-160 || echo '(gone)')"
    done
    if [[ -n "$(listener_pids "$port")" ]]; then
      log "  stop it (kill $(listener_pids "$port" | tr '\n' ' ')— if it is another start-local.sh, Ctrl-C that one)," \
        "or give this one another port: $var=$(suggest_port "$port") scripts/start-local.sh"
    else
      log "  stop what holds it (\`ss -ltnp 'sport = :$port'\` as root shows the process)," \
        "or give this one another port: $var=$(suggest_port "$port") scripts/start-local.sh"
    fi
  done
  ((taken == 0)) || fail "not starting: a port it needs is taken (see above)"
}

if [[ $# -gt 0 ]]; then
  case "$1" in
    --check-ports)
      check_ports
      log "ports free: ingress $ingress_port, Xero simulator $sim_port, processor $processor_port"
      exit 0
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) fail "unknown argument \"$1\"; the script takes none, or --check-ports (see --help)" ;;
  esac
fi

check_ports

scripts/services.sh

echo "[local] loading the topology (deploy/rabbitmq/definitions.json) into vhost xcs" >&2
rabbitmqctl -q import_definitions "$PWD/deploy/rabbitmq/definitions.json" >/dev/null

log "building the ingress, the processor, the Xero simulator and the demo (the first run" \
  "compiles the whole workspace and takes several minutes; cargo's progress follows)"
cargo build -p xcs-ingress -p xcs-processor -p xcs-xero-sim -p xcs-tests \
  --bin xcs-ingress --bin xcs-processor --bin xero-sim --bin demo \
  || fail "the build failed; cargo's errors are above"

bin="${CARGO_TARGET_DIR:-target}/debug"
logs="${XCS_LOCAL_LOGS:-${TMPDIR:-/tmp}/xcs-local}"
mkdir -p "$logs"
rm -f "$logs"/*.log

# The configs: the local ones, or copies on the ports asked for.
ingress_config=deploy/config/ingress.local.toml
processor_config=deploy/config/processor.local.toml
if [[ "$ingress_port" != 8080 ]]; then
  ingress_config="$logs/ingress.toml"
  sed 's/^listen = "127\.0\.0\.1:8080"$/listen = "127.0.0.1:'"$ingress_port"'"/' \
    deploy/config/ingress.local.toml >"$ingress_config"
  grep -q "^listen = \"127.0.0.1:$ingress_port\"$" "$ingress_config" \
    || fail "deploy/config/ingress.local.toml has no line listen = \"127.0.0.1:8080\" to move to port $ingress_port"
  log "the ingress runs on port $ingress_port with $ingress_config (a copy of deploy/config/ingress.local.toml)"
fi
if [[ "$sim_port" != 8082 ]]; then
  processor_config="$logs/processor.toml"
  sed "s#127\.0\.0\.1:8082#127.0.0.1:$sim_port#g" deploy/config/processor.local.toml >"$processor_config"
  log "the processor talks to the simulator on port $sim_port with $processor_config (a copy of deploy/config/processor.local.toml)"
fi
export XCS_PROCESSOR_LISTEN="127.0.0.1:$processor_port"

# The extra organisation, if asked for. Its id and Custom Connection are fixed so a processor
# config written for it keeps working across runs.
sim_args=()
local_tenant=""
if [[ -n "${XCS_LOCAL_ORGANISATION:-}" ]]; then
  sim_args+=(--organisation "$XCS_LOCAL_ORGANISATION")
elif [[ -n "${XCS_LOCAL_CURRENCY:-}" ]]; then
  local_tenant="4c0ca1e5-7000-4e00-8000-000000000001"
  org_file="$logs/local-store.json"
  sales_tax="${XCS_LOCAL_SALES_TAX:+, \"SalesTaxRate\": $XCS_LOCAL_SALES_TAX}"
  cat >"$org_file" <<JSON
{ "TenantId": "$local_tenant", "Name": "My Store ($XCS_LOCAL_CURRENCY)",
  "BaseCurrency": "$XCS_LOCAL_CURRENCY"$sales_tax,
  "CustomConnection": { "ClientId": "xcs-local-store", "ClientSecret": "xcs-local-store-secret" } }
JSON
  sim_args+=(--organisation "$org_file")
fi

pids=()
names=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
trap 'exit 130' INT TERM

# Prints the last lines of child $1's log ($2) to stderr, without colour codes.
last_lines() {
  log "its last log lines ($2):"
  tail -n 15 "$2" | sed $'s/\x1b\\[[0-9;]*m//g; s/^/[local]   | /' >&2
}

# A child's name in messages: its log's name, read out.
label() {
  case "$1" in
    xero-sim) echo "Xero simulator" ;;
    *) echo "$1" ;;
  esac
}

# Starts "$2..." in the background as child $1, logging to $logs/$1.log.
start() {
  local name=$1
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

# Waits up to $4 s for child $1 (the last started) to answer 200 at $3 from port $2 itself;
# fails with its last log lines when it exits first, does not answer in time, or another process
# answers in its place.
await_ready() {
  local name port=$2 url=$3 secs=$4 code status holders
  local pid="${pids[-1]}" logf="$logs/$1.log" body="$logs/$1.ready" deadline=$((SECONDS + $4))
  name="$(label "$1")"
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      status=0
      wait "$pid" || status=$?
      log "the $name (pid $pid) exited with status $status while starting"
      last_lines "$name" "$logf"
      fail "the $name did not start; its log above says why"
    fi
    code="$(curl -s -o "$body" -w '%{http_code}' --max-time 2 "$url" || true)"
    if [[ "$code" == 200 ]]; then
      holders="$(listener_pids "$port")"
      if [[ -n "$holders" ]] && ! grep -qx "$pid" <<<"$holders"; then
        log "$url answered, but port $port is held by pid(s) $(tr '\n' ' ' <<<"$holders")and not by this $name (pid $pid)"
        last_lines "$name" "$logf"
        fail "another process answers for the $name on port $port; stop it and run again"
      fi
      log "$name ready (pid $pid, $url)"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      log "the $name (pid $pid) is running but $url has not answered 200 in ${secs} s" \
        "(last answer: ${code:-none} $(head -c 300 "$body" 2>/dev/null))"
      last_lines "$name" "$logf"
      fail "the $name is not ready; its log above says why"
    fi
    sleep 0.3
  done
}

log "starting the children; their logs: $logs/{xero-sim,processor,ingress}.log"
start xero-sim "$bin"/xero-sim --listen "127.0.0.1:$sim_port" "${sim_args[@]}"
await_ready xero-sim "$sim_port" "http://127.0.0.1:$sim_port/__sim/health" 20
start processor "$bin"/xcs-processor --config "$processor_config"
await_ready processor "$processor_port" "http://127.0.0.1:$processor_port/readyz" 90
start ingress "$bin"/xcs-ingress --config "$ingress_config"
await_ready ingress "$ingress_port" "http://127.0.0.1:$ingress_port/readyz" 30

echo >&2
"$bin"/demo --ingress "http://127.0.0.1:$ingress_port" --xero-sim "http://127.0.0.1:$sim_port" \
  || {
    last_lines processor "$logs/processor.log"
    fail "the demo did not go through; its error is above, the processor's log lines just before it"
  }
echo >&2
if [[ ${#sim_args[@]} -gt 0 ]]; then
  log "organisations in the simulator (GET http://127.0.0.1:$sim_port/__sim/organisations):"
  curl -fsS "http://127.0.0.1:$sim_port/__sim/organisations" >&2
  echo >&2
  if [[ -n "$local_tenant" ]]; then
    log "to book a shop into \"My Store ($XCS_LOCAL_CURRENCY)\": copy $processor_config," \
      "set the shop's tenant = \"$local_tenant\", [xero] client_id = \"xcs-local-store\" and" \
      "client_secret = \"xcs-local-store-secret\", map its tax (tax types: GET /__sim/tenants/$local_tenant/tax-rates)," \
      "and run the processor with --config on the copy in place of this one (it has one [xero] connection)"
  fi
fi
log "running: ingress http://127.0.0.1:$ingress_port (pid ${pids[2]}), Xero simulator" \
  "http://127.0.0.1:$sim_port/__sim/store (pid ${pids[0]}), processor http://127.0.0.1:$processor_port/readyz" \
  "and /metrics (pid ${pids[1]}); logs in $logs. Try:" \
  "$bin/xcs-processor --config $processor_config status. Ctrl-C stops them."

# Until Ctrl-C; a child that dies meanwhile stops the rest, with its last log lines.
status=0
wait -n "${pids[@]}" || status=$?
for i in "${!pids[@]}"; do
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    log "the $(label "${names[$i]}") (pid ${pids[$i]}) exited with status $status; stopping the others"
    last_lines "${names[$i]}" "$logs/${names[$i]}.log"
  fi
done
exit 1
