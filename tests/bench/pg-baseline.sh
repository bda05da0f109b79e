#!/usr/bin/env bash
# PostgreSQL baseline for carbon-bench: starts its OWN PostgreSQL 15 in a temp dir on a
# loopback port (synchronous_commit=on, fsync=on), creates ACCOUNTS accounts, and runs pgbench
# with a transfer like the registry's (debit the sender by one with a CHECK that its balance
# stays >= 0, credit the receiver, insert a ledger row; uniform random accounts; unsigned),
# once per client count. Stops the server and removes the temp dir on exit, also on error.
#
#   tests/bench/pg-baseline.sh ACCOUNTS SECONDS CLIENTS...     e.g. 10000 20 16 256
#
# Prints one line per client count, read by carbon-bench:
#   pg-baseline clients=16 tps=2187.3 failed=0 latency_ms=7.31
# As root it runs the server as the user `benchpg` (created if missing): postgres refuses root.
# PG_BIN (default /usr/local/bin: initdb, pg_ctl, postgres), PGBENCH (/usr/bin/pgbench),
# PG_PORT (default: a free loopback port) override.
set -euo pipefail

ACCOUNTS=${1:-10000}
SECS=${2:-20}
shift 2 || true
CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(16)
PG_BIN=${PG_BIN:-/usr/local/bin}
PGBENCH=${PGBENCH:-/usr/bin/pgbench}
PORT=${PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}

DIR=$(mktemp -d /tmp/pg-baseline.XXXXXX)
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  id benchpg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin benchpg
  chown benchpg "$DIR"
  as_pg() { runuser -u benchpg -- "$@"; }
fi
stop() {
  as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT

as_pg "$PG_BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on \
      -c full_page_writes=on -c max_connections=300 -c shared_buffers=256MB" start >/dev/null \
  || { cat "$DIR/server.log" >&2; exit 1; }

PGOPTS=(-h 127.0.0.1 -p "$PORT" -U postgres)
psql -q -v ON_ERROR_STOP=1 "${PGOPTS[@]}" -d postgres <<SQL
CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE ledger (seq bigserial PRIMARY KEY, from_id integer NOT NULL, to_id integer NOT NULL,
                     quantity bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());
INSERT INTO accounts SELECT g, 1000000 FROM generate_series(1, $ACCOUNTS) g;
VACUUM ANALYZE accounts;
SQL

cat >"$DIR/transfer.sql" <<'SQL'
\set from random(1, :accounts)
\set to random(1, :accounts - 1)
\if :to >= :from
\set to :to + 1
\endif
BEGIN;
UPDATE accounts SET balance = balance - 1 WHERE id = :from;
UPDATE accounts SET balance = balance + 1 WHERE id = :to;
INSERT INTO ledger (from_id, to_id, quantity) VALUES (:from, :to, 1);
END;
SQL

for c in "${CLIENTS[@]}"; do
  out=$("$PGBENCH" "${PGOPTS[@]}" -n -M prepared -c "$c" -j 2 -T "$SECS" --max-tries=100 \
        -D accounts="$ACCOUNTS" -f "$DIR/transfer.sql" postgres 2>&1) || { echo "$out" >&2; exit 1; }
  tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
  failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' | head -1)
  lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' | head -1)
  echo "pg-baseline clients=$c tps=${tps:-0} failed=${failed:-0} latency_ms=${lat:-0}"
done
