#!/usr/bin/env bash
# Makes sure the services the system and its tests need are running on this machine:
# RabbitMQ (with the management and consistent-hash plugins) and PostgreSQL.
# Idempotent: starts only what is down, installs nothing that is already there.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

rabbit_up() { rabbitmqctl -q status >/dev/null 2>&1; }

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  log "installing rabbitmq-server (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi

# Enabling offline works whether or not the node runs; an enabled plugin is started with the node.
needed_plugins="rabbitmq_management rabbitmq_consistent_hash_exchange"
if ! rabbit_up; then
  rabbitmq-plugins enable --offline $needed_plugins >/dev/null
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
fi
for _ in $(seq 1 90); do
  if rabbitmqctl await_startup >/dev/null 2>&1; then break; fi
  sleep 1
done
rabbit_up || { log "RabbitMQ did not start; see /var/log/rabbitmq/"; exit 1; }
enabled=$(rabbitmq-plugins list -e -m 2>/dev/null || true)
for plugin in $needed_plugins; do
  if ! grep -qx "$plugin" <<<"$enabled"; then
    log "enabling $plugin"
    rabbitmq-plugins enable $plugin >/dev/null
  fi
done
for _ in $(seq 1 30); do
  if curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1; then break; fi
  sleep 1
done
curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null \
  || { log "RabbitMQ management API is not answering on :15672"; exit 1; }

if command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { log "PostgreSQL did not start"; exit 1; }
else
  log "PostgreSQL is not installed; the ingress does not need it, the processor will"
fi
log "RabbitMQ and PostgreSQL are up"
