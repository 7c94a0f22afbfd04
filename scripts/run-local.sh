#!/usr/bin/env bash
# The embedded demo: SQLite, kombu's filesystem broker, a real Celery worker (with beat) and the web
# server on 127.0.0.1:${DOCKET_PORT:-8000}. Idempotent: a second run keeps the data.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${VENV:-.venv}/bin
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
VAR_DIR=${DOCKET_VAR_DIR:-$PWD/var}
export DOCKET_VAR_DIR=$VAR_DIR
PORT=${DOCKET_PORT:-8000}
mkdir -p "$VAR_DIR/celery/broker" "$VAR_DIR/celery/processed" "$VAR_DIR/celery/control" "$VAR_DIR/media" "$VAR_DIR/keys" "$VAR_DIR/log"

"$BIN/python" manage.py migrate --noinput -v 0
"$BIN/python" manage.py seed_demo --password "${DOCKET_DEMO_PASSWORD:-docket-demo-password}"

"$BIN/celery" -A config worker --beat --pool=solo --loglevel=INFO \
  --schedule="$VAR_DIR/celery/beat-schedule" --hostname="docket-local@%h" \
  >"$VAR_DIR/log/worker.log" 2>&1 &
WORKER_PID=$!
trap 'kill "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true' EXIT INT TERM
echo "Celery worker (with beat) running, pid $WORKER_PID, log: $VAR_DIR/log/worker.log"
echo "Docket: http://127.0.0.1:$PORT/  (API docs: http://127.0.0.1:$PORT/api/docs/)"

"$BIN/python" manage.py runserver "127.0.0.1:$PORT" --noreload
