#!/usr/bin/env bash
# A local streaming replica of the PostgreSQL on 127.0.0.1:5432, for the replica tests
# (docs/REPLICA.md). It never writes to the primary's data: pg_basebackup reads it over
# the replication protocol, and a second server (a hot standby) runs from the copy.
#
#   bash ops/replica.sh up       # copy the primary, start the standby, wait until it streams
#   bash ops/replica.sh status   # running? in recovery? streaming? bytes not yet replayed
#   bash ops/replica.sh down     # stop the standby and delete its copy
#
# Idempotent: `up` on a running replica only checks it; `up` after a crash starts afresh;
# `down` with nothing running does nothing. Run as root (the server then runs as the
# `postgres` OS user, which must own its data directory) or as the user that owns it.
#
# Environment (defaults):
#   REPLICA_PORT   5433                the standby's port (127.0.0.1 only)
#   REPLICA_DIR    <repo>/.replica     its data directory, log and socket; /tmp/marque-replica-<port>
#                                      when the postgres user cannot reach the repository
#   PRIMARY_HOST   127.0.0.1
#   PRIMARY_PORT   5432
#   PRIMARY_USER   postgres            needs REPLICATION (a superuser has it) and a pg_hba.conf
#                                      line for `replication` from 127.0.0.1
#   PG_BIN         /usr/lib/postgresql/<primary's major version>/bin
#   REPLICA_WAIT   60                  seconds `up` waits for the standby to stream
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPLICA_PORT="${REPLICA_PORT:-5433}"
PRIMARY_HOST="${PRIMARY_HOST:-127.0.0.1}"
PRIMARY_PORT="${PRIMARY_PORT:-5432}"
PRIMARY_USER="${PRIMARY_USER:-postgres}"
REPLICA_WAIT="${REPLICA_WAIT:-60}"
MARKER_NAME="marque-replica"

say() { printf 'replica: %s\n' "$*"; }
die() { printf 'replica: %s\n' "$*" >&2; exit 1; }

# Commands that create or run the standby's files run as `postgres` when we are root.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "no postgres OS user to run the standby as"
    # From /: the postgres user may not enter the caller's folder (a 0700 temporary clone).
    as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
    as_owner() { "$@"; }
fi

primary_sql() {
    psql -X -q -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" -d postgres -c "$1"
}
replica_sql() {
    psql -X -q -At -h 127.0.0.1 -p "$REPLICA_PORT" -U "$PRIMARY_USER" -d postgres -c "$1"
}

if [ -z "${REPLICA_DIR:-}" ]; then
    if as_owner sh -c "cd '$ROOT'" 2>/dev/null; then
        REPLICA_DIR="$ROOT/.replica"
    else
        REPLICA_DIR="${TMPDIR:-/tmp}/marque-replica-$REPLICA_PORT"
    fi
fi
case "$REPLICA_DIR" in
    /*) ;;
    *) REPLICA_DIR="$PWD/$REPLICA_DIR" ;;
esac
[ "$REPLICA_DIR" != / ] || die "REPLICA_DIR must not be /"
DATA="$REPLICA_DIR/data"
LOG="$REPLICA_DIR/postgresql.log"
MARKER="$REPLICA_DIR/$MARKER_NAME"

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        echo "$PG_BIN"
        return
    fi
    local version
    version="$(primary_sql 'SHOW server_version_num')" || die "cannot reach the primary on $PRIMARY_HOST:$PRIMARY_PORT"
    echo "/usr/lib/postgresql/$((version / 10000))/bin"
}

# Ours: the marker file we wrote next to a standby's data directory. Nothing else is removed.
ours() { [ -f "$MARKER" ] && [ -f "$DATA/standby.signal" ]; }

running() { [ -f "$DATA/postmaster.pid" ] && as_owner "$(pg_bin)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

stop_and_remove() {
    if [ ! -e "$REPLICA_DIR" ]; then
        return
    fi
    [ -f "$MARKER" ] || die "$REPLICA_DIR exists but was not made by this script: not touching it"
    if [ -d "$DATA" ]; then
        local primary_data
        primary_data="$(primary_sql 'SHOW data_directory' 2>/dev/null || true)"
        [ "$(cd "$DATA" && pwd -P)" != "$primary_data" ] || die "$DATA is the primary's data directory"
        if running; then
            # Immediate: no restartpoint to write, the copy is deleted right after.
            say "stopping the standby on port $REPLICA_PORT"
            as_owner "$(pg_bin)/pg_ctl" -D "$DATA" -m immediate -w -t 60 stop >/dev/null
        fi
    fi
    rm -rf -- "$DATA" "$LOG" "$MARKER"
    rm -f -- "$REPLICA_DIR/.s.PGSQL.$REPLICA_PORT" "$REPLICA_DIR/.s.PGSQL.$REPLICA_PORT.lock"
    rmdir -- "$REPLICA_DIR" 2>/dev/null || true
}

wait_streaming() {
    local deadline=$((SECONDS + REPLICA_WAIT)) state=""
    while [ "$SECONDS" -lt "$deadline" ]; do
        state="$(replica_sql "SELECT pg_is_in_recovery() || ' ' || coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')" 2>/dev/null || true)"
        if [ "$state" = "true streaming" ]; then
            return 0
        fi
        sleep 0.5
    done
    die "the standby is not streaming after ${REPLICA_WAIT}s (state: '${state:-no answer}'); see $LOG"
}

cmd_up() {
    if ours && running; then
        wait_streaming
        say "already up on 127.0.0.1:$REPLICA_PORT ($DATA)"
        return
    fi
    stop_and_remove  # a copy left by a crash or a killed run: start afresh
    local bin primary_data settings answer=0
    pg_isready -q -h 127.0.0.1 -p "$REPLICA_PORT" -t 2 || answer=$?
    [ "$answer" -eq 2 ] || die "something already answers on port $REPLICA_PORT: set REPLICA_PORT"
    bin="$(pg_bin)"
    [ -x "$bin/pg_basebackup" ] && [ -x "$bin/pg_ctl" ] || die "no PostgreSQL binaries in $bin (set PG_BIN)"
    primary_data="$(primary_sql 'SHOW data_directory')"
    # A hot standby refuses to start with less of these than its primary has.
    settings="$(primary_sql "SELECT string_agg(name || ' = ' || setting, E'\n') FROM pg_settings
        WHERE name IN ('max_connections', 'max_worker_processes', 'max_wal_senders',
                       'max_prepared_transactions', 'max_locks_per_transaction')")"

    mkdir -p -- "$REPLICA_DIR"
    [ "$(cd "$REPLICA_DIR" && pwd -P)" != "$primary_data" ] || die "REPLICA_DIR is the primary's data directory"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$REPLICA_DIR"
    fi
    chmod 0700 "$REPLICA_DIR"
    echo "standby of $PRIMARY_HOST:$PRIMARY_PORT made by ops/replica.sh" > "$MARKER"

    say "copying $PRIMARY_HOST:$PRIMARY_PORT with pg_basebackup into $DATA"
    if ! as_owner "$bin/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$PRIMARY_USER" \
        -D "$DATA" -R -X stream --checkpoint=fast --no-sync --no-password \
        --label=marque-replica 2>"$REPLICA_DIR/basebackup.err"; then
        cat "$REPLICA_DIR/basebackup.err" >&2
        if grep -q "no pg_hba.conf entry for replication" "$REPLICA_DIR/basebackup.err"; then
            printf '%s\n' "replica: the primary refuses replication connections. Add to its pg_hba.conf" \
                "  host    replication     $PRIMARY_USER        127.0.0.1/32            trust" \
                "(or your usual auth method) and reload it, e.g. pg_ctlcluster 15 main reload." >&2
        fi
        rm -rf -- "$DATA" "$MARKER" "$REPLICA_DIR/basebackup.err"
        rmdir -- "$REPLICA_DIR" 2>/dev/null || true
        exit 1
    fi
    rm -f -- "$REPLICA_DIR/basebackup.err"

    # Debian keeps postgresql.conf and pg_hba.conf in /etc, so the copy has none: write
    # the standby's own (a throwaway server on 127.0.0.1, trusted like the primary here).
    as_owner tee "$DATA/postgresql.conf" >/dev/null <<EOF
# ops/replica.sh: a hot standby of $PRIMARY_HOST:$PRIMARY_PORT for tests
listen_addresses = '127.0.0.1'
port = $REPLICA_PORT
unix_socket_directories = '$REPLICA_DIR'
cluster_name = 'marque-replica'
hot_standby = on
shared_buffers = 32MB
logging_collector = off
$settings
EOF
    as_owner tee "$DATA/pg_hba.conf" >/dev/null <<EOF
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
EOF
    as_owner touch "$DATA/pg_ident.conf"

    say "starting the standby on 127.0.0.1:$REPLICA_PORT"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-c port=$REPLICA_PORT -c listen_addresses=127.0.0.1" start >/dev/null ||
        { tail -20 "$LOG" >&2; die "the standby did not start"; }
    wait_streaming
    say "up: postgres://$PRIMARY_USER@127.0.0.1:$REPLICA_PORT/<database> (hot standby, streaming)"
}

cmd_status() {
    if ! ours; then
        say "down (no standby in $REPLICA_DIR)"
        return 1
    fi
    if ! running; then
        say "stopped (a copy is in $DATA; 'up' starts afresh)"
        return 1
    fi
    replica_sql "SELECT 'in recovery: ' || pg_is_in_recovery()
        || ', receiver: ' || coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')
        || ', replayed up to: ' || coalesce(pg_last_wal_replay_lsn()::text, '?')"
    say "up on 127.0.0.1:$REPLICA_PORT ($DATA); primary at $(primary_sql 'SELECT pg_current_wal_lsn()')"
}

cmd_down() {
    if [ ! -e "$REPLICA_DIR" ]; then
        say "nothing to do (no $REPLICA_DIR)"
        return
    fi
    stop_and_remove
    say "down"
}

case "${1:-}" in
    up) cmd_up ;;
    status) cmd_status ;;
    down) cmd_down ;;
    *) die "usage: $0 up|status|down" ;;
esac
