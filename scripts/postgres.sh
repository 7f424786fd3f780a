#!/usr/bin/env bash
# A throwaway Postgres cluster for the tests: its own directory, a free loopback port, fsync on.
#
#   eval "$(scripts/postgres.sh start DIR)"   # prints the export lines below, nothing else
#   scripts/postgres.sh stop DIR              # stops it and removes DIR; safe from a trap
#
# start prints
#   export CAIRN_TEST_POSTGRES_URL=postgres://cairn:cairn@127.0.0.1:PORT/cairn
#   export CAIRN_TEST_POSTGRES_ADMIN_URL=postgres://postgres:postgres@127.0.0.1:PORT/postgres
# (the admin role is the superuser: the tests create a database per server with it). Starting a
# cluster that is already running prints the same lines again. The server listens on 127.0.0.1
# only, with password (SCRAM) authentication; its unix socket is in DIR. Root cannot run
# Postgres, so as root the cluster belongs to the `postgres` user (runuser).
#
# Environment: PG_BINDIR  the directory holding initdb and pg_ctl (default: the newest
#              /usr/lib/postgresql/*/bin, else the ones on PATH).
set -euo pipefail

MARKER=.cairn-test-postgres

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start DIR | stop DIR" >&2
    exit 2
}

bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/pg_ctl" ] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
        echo "$PG_BINDIR"
        return
    fi
    local newest
    newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$newest" ] && [ -x "$newest/pg_ctl" ] && [ -x "$newest/initdb" ]; then
        echo "$newest"
    elif command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
    else
        die "the Postgres server is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH); on Debian: apt-get install -y postgresql"
    fi
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

print_env() {
    local port="$1"
    echo "export CAIRN_TEST_POSTGRES_URL=postgres://cairn:cairn@127.0.0.1:$port/cairn"
    echo "export CAIRN_TEST_POSTGRES_ADMIN_URL=postgres://postgres:postgres@127.0.0.1:$port/postgres"
}

running() {
    [ -f "$1/data/postmaster.pid" ] && as_owner "$BIN/pg_ctl" status -D "$1/data" >/dev/null 2>&1
}

# Waits until the server takes password logins over TCP, as the tests will connect.
wait_ready() {
    local dir="$1" port="$2" i
    for i in $(seq 1 300); do
        if PGPASSWORD=postgres PGCONNECT_TIMEOUT=2 "$BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres \
            -d postgres -tAc 'select 1' >/dev/null 2>&1; then
            return 0
        fi
        running "$dir" || break
        sleep 0.1
    done
    tail -n 30 "$dir/postgres.log" >&2 2>/dev/null || true
    die "Postgres in $dir did not accept connections on 127.0.0.1:$port"
}

start() {
    local dir="$1"
    [ "$(id -u)" -ne 0 ] || id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user (apt-get install -y postgresql makes it)"
    if [ -e "$dir" ] && [ ! -f "$dir/$MARKER" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        die "$dir exists, is not empty and was not made by this script: refusing to use it"
    fi
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    # The socket path has a hard limit of 107 bytes.
    [ "${#dir}" -le 80 ] || die "$dir is too long a path for the server's unix socket; use a shorter one (e.g. under /tmp)"

    if [ -f "$dir/$MARKER" ]; then
        local port
        port="$(cat "$dir/port")"
        if running "$dir"; then
            wait_ready "$dir" "$port"
            print_env "$port"
            return 0
        fi
        echo "postgres.sh: restarting the stopped cluster in $dir on port $port" >&2
        as_owner "$BIN/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/postgres.log" >/dev/null \
            || { tail -n 30 "$dir/postgres.log" >&2 || true; die "pg_ctl start failed (log: $dir/postgres.log)"; }
        wait_ready "$dir" "$port"
        print_env "$port"
        return 0
    fi

    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        chmod 700 "$dir"
        runuser -u postgres -- test -w "$dir" \
            || die "the postgres user cannot write to $dir (is a parent directory closed to it?); use a directory under /tmp"
    fi
    touch "$dir/$MARKER"

    local pwfile="$dir/pwfile"
    echo postgres >"$pwfile"
    [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$pwfile"
    as_owner "$BIN/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
    rm -f "$pwfile"

    # Loopback only; the socket beside the data, not in /var/run/postgresql.
    as_owner tee "$dir/data/pg_hba.conf" >/dev/null <<'EOF'
local   all   all                 trust
host    all   all   127.0.0.1/32  scram-sha-256
EOF

    local attempt port
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        as_owner tee "$dir/data/postgresql.auto.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh: a test cluster.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
# Every Swift test case on Postgres has a pool of its own (up to 12-16 connections), and
# Swift Testing runs them all at once: on a slow machine 200 ran out (connection creation
# refused, the pools' circuit breakers tripped).
max_connections = 1000
shared_buffers = '128MB'
# The tests measure durability: every commit reaches the disk.
fsync = on
synchronous_commit = on
full_page_writes = on
log_line_prefix = '%m [%p] %d '
EOF
        echo "$port" >"$dir/port"
        if as_owner "$BIN/pg_ctl" start -w -t 60 -D "$dir/data" -l "$dir/postgres.log" >/dev/null; then
            break
        fi
        if grep -q "could not bind\|Address already in use" "$dir/postgres.log" 2>/dev/null && [ "$attempt" -lt 5 ]; then
            echo "postgres.sh: port $port was taken; trying another" >&2
            continue
        fi
        tail -n 30 "$dir/postgres.log" >&2 2>/dev/null || true
        die "pg_ctl start failed (log: $dir/postgres.log)"
    done
    wait_ready "$dir" "$port"

    # The application role and its database (owned by it: Postgres 15 lets only the owner
    # create tables in a database's public schema). CREATEDB lets it make more.
    as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres >/dev/null <<'EOF' \
        || die "could not create the cairn role and database"
CREATE ROLE cairn LOGIN CREATEDB PASSWORD 'cairn';
CREATE DATABASE cairn OWNER cairn;
EOF
    PGPASSWORD=cairn "$BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U cairn -d cairn -tAc 'select 1' >/dev/null \
        || die "the cairn role cannot log in over TCP"
    echo "postgres.sh: Postgres $("$BIN/pg_ctl" --version | awk '{print $3}') in $dir on 127.0.0.1:$port" >&2
    print_env "$port"
}

stop() {
    local dir="$1"
    if [ ! -e "$dir" ]; then
        return 0  # never started, or already stopped
    fi
    [ -f "$dir/$MARKER" ] || die "$dir was not made by '$0 start': not removing it"
    if [ -f "$dir/data/postmaster.pid" ]; then
        if ! as_owner "$BIN/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null 2>&1; then
            # Still running after a minute (or pg_ctl is gone): do not leave it behind.
            as_owner "$BIN/pg_ctl" stop -D "$dir/data" -m immediate -w -t 30 >/dev/null 2>&1 || true
        fi
        if running "$dir"; then
            die "could not stop the Postgres cluster in $dir (log: $dir/postgres.log)"
        fi
    fi
    rm -rf "$dir"
}

[ $# -eq 2 ] || usage
[ -n "$2" ] || usage
case "$1" in
    start)
        BIN="$(bindir)"
        start "$2"
        ;;
    stop)
        # stop must work from a trap even if the binaries are gone: only pg_ctl is needed,
        # and only when a server is still running.
        BIN="$(bindir 2>/dev/null || echo /nonexistent)"
        stop "$2"
        ;;
    *) usage ;;
esac
