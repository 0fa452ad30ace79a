#!/usr/bin/env bash
# Runs every test of the workspace against the real RabbitMQ and PostgreSQL, starting them
# first if they are down, and with the headless Chromium the console's tests drive (installed
# from Debian's packages if missing; silent when it is there).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/browser.sh >/dev/null
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "[test] installing cargo-nextest" >&2
  cargo install --locked cargo-nextest >/dev/null
fi
exec cargo nextest run --workspace --all-targets --no-fail-fast "$@"
