#!/usr/bin/env bash
# The services a distributed night needs, on loopback: Redis (Celery's broker) and PostgreSQL
# (Airflow's metadata, the inspector app). From Debian's packages, installed when missing (as root).
#   scripts/services.sh start    install if needed, create the cluster, start both; idempotent
#   scripts/services.sh stop     stop both (the data stays in $CARGO_RISK_SERVICES_DIR)
#   scripts/services.sh status   exit 0 when both answer
#   scripts/services.sh env      print the connection settings as shell exports
# Own ports and own data folder, so a system PostgreSQL or Redis on the default ports is left alone.
set -euo pipefail

SERVICES_DIR=${CARGO_RISK_SERVICES_DIR:-/var/tmp/cargo-risk-services}
PG_PORT=${CARGO_RISK_PG_PORT:-55432}
REDIS_PORT=${CARGO_RISK_REDIS_PORT:-56379}
PG_USER=cargo_risk
# Loopback only and a throwaway cluster: the password keeps nothing secret, it only makes clients
# use password authentication the way a deployment does.
PG_PASSWORD=${CARGO_RISK_PG_PASSWORD:-cargo_risk_local}
PG_DATABASES=(airflow inspector)

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] || { echo "services: PostgreSQL binaries not found" >&2; return 1; }
  echo "$bin"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "services: missing ${missing[*]} and cannot install them (needs root and apt-get)" >&2
    return 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }
redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_postgres() {
  local bin data=$SERVICES_DIR/postgres
  bin=$(pg_bin)
  mkdir -p "$SERVICES_DIR"
  chmod 755 "$SERVICES_DIR"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
    chmod 700 "$data"
    as_postgres "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$SERVICES_DIR/initdb.log"
  fi
  if ! pg_ready; then
    # Socket in the data folder: /run/postgresql may not exist on a fresh machine.
    as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $data" >/dev/null
  fi
  local psql=("$bin/psql" -h "$data" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$(as_postgres "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != 1 ]; then
    as_postgres "${psql[@]}" -c "CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD'"
  fi
  for db in "${PG_DATABASES[@]}"; do
    if [ "$(as_postgres "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
      as_postgres "${psql[@]}" -c "CREATE DATABASE $db OWNER $PG_USER"
    fi
  done
}

start_redis() {
  redis_ready && return 0
  mkdir -p "$SERVICES_DIR/redis"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$SERVICES_DIR/redis" \
    --pidfile "$SERVICES_DIR/redis/redis.pid" --logfile "$SERVICES_DIR/redis/redis.log" \
    --save "" --appendonly no
  for _ in $(seq 50); do redis_ready && return 0; sleep 0.1; done
  echo "services: Redis did not answer on 127.0.0.1:$REDIS_PORT" >&2
  return 1
}

print_env() {
  local pg="$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT"
  echo "export CARGO_RISK_AIRFLOW_DB=postgresql+psycopg://$pg/airflow"
  echo "export CARGO_RISK_INSPECTOR_DB=postgresql+psycopg://$pg/inspector"
  echo "export CARGO_RISK_PG_ADMIN_URL=postgresql+psycopg://$pg/postgres"
  echo "export CARGO_RISK_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

case "${1:-}" in
  start)
    install_packages
    start_postgres
    start_redis
    echo "services: PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT ($SERVICES_DIR)"
    ;;
  stop)
    if [ -f "$SERVICES_DIR/postgres/postmaster.pid" ]; then
      as_postgres "$(pg_bin)/pg_ctl" -D "$SERVICES_DIR/postgres" -m fast -w stop >/dev/null || true
    fi
    if redis_ready; then redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null || true; fi
    echo "services: stopped"
    ;;
  status)
    pg_ready && redis_ready
    ;;
  env)
    print_env
    ;;
  *)
    echo "usage: scripts/services.sh start|stop|status|env" >&2
    exit 2
    ;;
esac
