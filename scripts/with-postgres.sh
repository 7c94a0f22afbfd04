#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15: a fresh cluster in a temporary directory, on a
# private port and socket directory, removed afterwards. Exports DATABASE_URL for the command and
# exits with the command's status.
#
#   scripts/with-postgres.sh python -m pytest
set -euo pipefail

find_pg_bin() {
  for dir in "${DOCKET_PG_BIN:-}" /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"; return 0
    fi
  done
  return 1
}

PG_BIN=$(find_pg_bin || true)
if [ -z "$PG_BIN" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "with-postgres: PostgreSQL server binaries not found; installing Debian's postgresql package" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PG_BIN=$(find_pg_bin)
  else
    echo "with-postgres: no PostgreSQL server binaries (initdb, pg_ctl); install postgresql-15" >&2
    exit 2
  fi
fi

WORK=$(mktemp -d /tmp/docket-pg.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

# PostgreSQL refuses to run as root: run the server as the postgres OS user when we are root.
if [ "$(id -u)" = "0" ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$WORK"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

as_pg "$PG_BIN/initdb" -D "$WORK/data" -U docket --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
mkdir -p "$WORK/sock" && { [ "$(id -u)" != "0" ] || chown postgres "$WORK/sock"; }
# Durability settings are relaxed: the cluster is thrown away after the run.
as_pg "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 \
  -o "-p $PORT -k $WORK/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
  start >/dev/null
as_pg "$PG_BIN/createdb" -h "$WORK/sock" -p "$PORT" -U docket docket

export DATABASE_URL="postgres://docket@127.0.0.1:$PORT/docket"
export DOCKET_TEST_PG_BIN="$PG_BIN"
echo "with-postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2

set +e
"$@"
status=$?
set -e
exit $status
