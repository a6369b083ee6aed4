#!/usr/bin/env bash
# Production smoke test, run by CI after `make test` (and by `make smoke`).
#
# Runs exactly what `make release` and `make serve` run (collectstatic, migrate,
# then honcho with Procfile.production: gunicorn, a Celery worker, one beat) in
# production settings, against PostgreSQL (a scratch database, SMOKE_DB, created
# and dropped here) and a throwaway redis-server of its own on a free port from
# 6390 up. Signs in over HTTP with password + TOTP, loads the queue, checks
# /readyz, checks that /metrics adds up the requests both gunicorn workers
# answered (and shows the Celery worker's tasks), then stops *its own* Redis, expects /readyz to turn red, restarts it
# and expects green again. The shared Redis on 6379 is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
BIN=$(cd "$VENV/bin" && pwd)
PY="$BIN/python"
PG_URL=${SMOKE_PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=${SMOKE_DB:-recovery_smoke}
WORK=$(mktemp -d /tmp/recovery-smoke.XXXXXX)
HONCHO_PID=""
REDIS_PORT=""
started=$(date +%s)

say() { echo "smoke: $*"; }

free_port() {  # a free TCP port on 127.0.0.1, the first from $1 up (0: any)
  "$PY" - "$1" <<'PY'
import socket, sys
start = int(sys.argv[1])
for port in ([0] if start == 0 else range(start, start + 100)):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(s.getsockname()[1])
        break
PY
}

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --dir "$WORK" --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  say "redis-server on $REDIS_PORT did not start"; cat "$WORK/redis.log"; exit 1
}

stop_redis() {  # only the throwaway instance this script started
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 || return 0; sleep 0.1; done
}

database() {  # database create|drop: the scratch database only
  "$PY" - "$PG_URL" "$DB" "$1" <<'PY'
import sys

import psycopg
from psycopg import sql

url, name, action = sys.argv[1:]
with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    if action == "create":
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
PY
}

stop_stack() {
  [ -n "$HONCHO_PID" ] || return 0
  kill -TERM "$HONCHO_PID" 2>/dev/null || true  # honcho stops web, worker and beat
  for _ in $(seq 300); do kill -0 "$HONCHO_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$HONCHO_PID" 2>/dev/null; then
    say "honcho still running after 30s: killing its process group"
    kill -KILL -- "-$HONCHO_PID" 2>/dev/null || true
  fi
  wait "$HONCHO_PID" 2>/dev/null || true
  HONCHO_PID=""
}

finish() {
  status=$?
  stop_stack
  [ -n "$REDIS_PORT" ] && stop_redis
  database drop || true
  if [ "$status" -ne 0 ]; then
    say "FAILED; the stack's output follows"
    tail -n 80 "$WORK/stack.log" 2>/dev/null || true
  elif [ -z "${SMOKE_KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    say "kept $WORK (SMOKE_KEEP is set)"
  fi
  say "finished in $(( $(date +%s) - started ))s"
  exit "$status"
}
trap finish EXIT

PORT=$(free_port 0)
REDIS_PORT=$(free_port 6390)
say "web on 127.0.0.1:$PORT, throwaway Redis on $REDIS_PORT, database $DB"
start_redis
database create

export PATH="$BIN:$PATH"
export DJANGO_SETTINGS_MODULE=recovery_console.production
export SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(64))')
export OIDC_RSA_PRIVATE_KEY=$("$PY" -m recovery_console.oidc.keys)
export METRICS_TOKEN=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(32))')
export DATABASE_URL="$PG_URL/$DB"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export ALLOWED_HOSTS=localhost,127.0.0.1
export SITE_URL="https://localhost:$PORT"
export WEBAUTHN_ORIGINS="$SITE_URL"
export VAR_DIR="$WORK/var" STATIC_ROOT="$WORK/static"
export WEB_CONCURRENCY=2 CELERY_CONCURRENCY=1 LOG_LEVEL=INFO
unset DEBUG

# `make release`, then seed the demo staff.
"$PY" manage.py collectstatic --noinput --verbosity 0
"$PY" manage.py migrate --noinput --verbosity 0
"$PY" manage.py seed_demo --allow-production >/dev/null

# `make serve`, in its own process group so that nothing of it can outlive us.
setsid "$BIN/honcho" start --no-colour --no-prefix -f Procfile.production -p "$PORT" \
  >"$WORK/stack.log" 2>&1 &
HONCHO_PID=$!

client() { "$PY" scripts/smoke_client.py "http://127.0.0.1:$PORT" "$@"; }
client wait-ready 120
client journey agent "$("$PY" manage.py demo_totp agent)"
client metrics "$WORK/var/prometheus"
grep -q '"logger": "recovery_console.request"' "$WORK/stack.log" \
  || { say "FAILED: no JSON request log line from gunicorn"; exit 1; }
say "the stack writes JSON log lines"

say "stopping Redis"
stop_redis
client wait-unready 30
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || { say "FAILED: /healthz down"; exit 1; }
say "restarting Redis"
start_redis
client wait-ready 150

stop_stack
say "stopped web, worker and beat"
say "OK"
