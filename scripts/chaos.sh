#!/usr/bin/env bash
# The chaos run (README: Chaos run). Builds the binaries, makes sure RabbitMQ and PostgreSQL
# are installed (the run starts private instances of both), and runs it:
#
#   scripts/chaos.sh            # the long run: ~5,000 deliveries over 10 minutes, production
#                               # retry delays (up to 75 minutes to drain)
#   scripts/chaos.sh --short    # what CI runs
#   scripts/chaos.sh --orders 10000 --seconds 1800 --seed 7 --keep
#
# Exits 1 when anything acknowledged was lost or booked twice, or the system did not drain.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
cargo build --locked -p xcs-tests --bin chaos --bin run-processor
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/debug/chaos" "$@"
