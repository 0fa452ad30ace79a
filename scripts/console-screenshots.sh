#!/usr/bin/env bash
# Saves a screenshot of every page of the operator console (issue 20) at desktop (1280 px) and
# phone (390 px, 3x) width, for a reviewer: docs/console/<page>-<desktop|phone>.png.
#
# It starts what the tests start (the Xero simulator, a processor with the console on, against
# this machine's RabbitMQ and PostgreSQL), publishes a handful of orders across four shops (some
# booked, one dead for an unmapped tax, one skipped, one lost that a reconcile finds), runs a
# dry-run replay, a reconcile and a check from the pages, and saves: sign-in, overview, shop,
# event, dead, dead-replay-confirm, reconcile, mapping, actions.
#
# Usage: scripts/console-screenshots.sh [output dir]   (default docs/console)
set -euo pipefail

cd "$(dirname "$0")/.."
out="${1:-docs/console}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

bash scripts/services.sh
bash scripts/browser.sh

XCS_SCREENSHOTS_DIR="$out" cargo test -p xcs-tests --test it -- \
  --ignored --exact --nocapture console_browser::screenshots_of_every_console_page

echo "[screenshots] saved in $out:" >&2
ls -1 "$out"/*.png >&2
