#!/usr/bin/env bash
# Makes sure the browser the console's tests drive is on this machine: Debian's `chromium` and
# `chromium-driver` (chromedriver, the WebDriver server). Idempotent: installs only what is
# missing, then prints the versions. As root it uses apt-get directly, otherwise through sudo.
# Headless in a container as root, Chromium needs `--no-sandbox` (and `--disable-dev-shm-usage`
# where /dev/shm is small); the tests pass these themselves.
set -euo pipefail

log() { printf '[browser] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "not root and no sudo: install chromium and chromium-driver as root"
    exit 1
  fi
}

missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if [ -n "$missing" ]; then
  log "installing$missing (Debian packages)"
  as_root apt-get update -qq
  # shellcheck disable=SC2086 # the package names split on purpose
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Both come from one Debian source package, so their versions match; a mismatch means one was
# installed some other way and chromedriver would refuse the browser.
browser=$(chromium --version 2>/dev/null) || { log "chromium does not start"; exit 1; }
driver=$(chromedriver --version 2>/dev/null) || { log "chromedriver does not start"; exit 1; }
browser_major=$(grep -oE '[0-9]+' <<<"$browser" | head -n 1)
driver_major=$(grep -oE '[0-9]+' <<<"$driver" | head -n 1)
if [ "$browser_major" != "$driver_major" ]; then
  log "chromium ($browser) and chromedriver ($driver) differ in major version"
  exit 1
fi
printf '%s\n%s\n' "$browser" "$driver"
