#!/usr/bin/env bash
# The scale-out figures: Cairn on Postgres (release build, over HTTP) and, right after on the
# same machine and the same Postgres cluster, the peers on Postgres: DBOS's durable steps
# (../shared/peers/dbos_steps_pg.py) and LangGraph's PostgresSaver
# (../shared/peers/langgraph_checkpoints.py postgres). Then queue claims with one replica and
# with two replicas on one database. Starts and stops its own throwaway cluster
# (scripts/postgres.sh). Prints figures; not a test.
#   scripts/bench-postgres.sh [steps]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${1:-2000}"
peers="$(cd .. && pwd)/shared/peers"
port_a="${BENCH_PORT:-7481}"
port_b=$((port_a + 1))

swift build -c release --scratch-path .build-release --product cairn >/dev/null
bin=.build-release/release/cairn

work="$(mktemp -d /tmp/cairn-bench-pg.XXXXXX)"
# The postgres user must be able to reach the cluster directory inside.
chmod 755 "$work"
servers=()
cleanup() {
    for pid in "${servers[@]+"${servers[@]}"}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
eval "$(scripts/postgres.sh start "$work/pg")"
admin="$CAIRN_TEST_POSTGRES_ADMIN_URL"
base="${CAIRN_TEST_POSTGRES_URL%/*}"

# A fresh database per measurement, owned by the application role.
database() {
    psql -q "${admin}" -c "CREATE DATABASE $1 OWNER cairn" >/dev/null
    echo "$base/$1?sslmode=disable"
}

# serve PORT DATABASE_URL [flags...]: a replica on the database, in the background.
serve() {
    local port=$1 url=$2
    shift 2
    mkdir -p "$work/data-$port"
    "$bin" serve --port "$port" --s3-port 0 --data-dir "$work/data-$port" --database "$url" --log-level warning "$@" &
    servers+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.1; done
    echo "replica on $port did not start" >&2
    exit 1
}

stop_servers() {
    for pid in "${servers[@]+"${servers[@]}"}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    servers=()
}

if ! .venv-peers/bin/python -c 'import dbos, langgraph.checkpoint.postgres, psycopg' 2>/dev/null; then
    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -q dbos langgraph-checkpoint-postgres "psycopg[binary]"
fi

echo "== cairn on Postgres: durable steps over HTTP (begin and complete committed before each reply)"
serve "$port_a" "$(database cairn_steps)"
"$bin" bench steps --port "$port_a" --sequential "$steps" --workers 32 --steps-per-worker 300
stop_servers

echo "== DBOS on Postgres (in-process library, $steps sequential steps, same cluster)"
psql -q "$admin" -c "CREATE DATABASE dbos_bench OWNER cairn" >/dev/null
PG_URL="$base/dbos_bench" .venv-peers/bin/python "$peers/dbos_steps_pg.py" "$steps" 2>&1 | grep -E '^dbos'

echo "== cairn on Postgres: checkpoints over HTTP"
serve "$port_a" "$(database cairn_checkpoints)" --rate-limit 0
"$bin" bench checkpoints --port "$port_a" --saves 4000 --histories 1,1000,100000 --list-history 2000
stop_servers

echo "== LangGraph PostgresSaver (in-process library, ~1 KB state, 2,000 checkpoints, same cluster)"
psql -q "$admin" -c "CREATE DATABASE langgraph_bench OWNER cairn" >/dev/null
PG_URL="$base/langgraph_bench" .venv-peers/bin/python "$peers/langgraph_checkpoints.py" postgres 2000 2>&1 |
    grep -E '^langgraph'

echo "== cairn on Postgres: queue claims, one replica (4 workers)"
serve "$port_a" "$(database cairn_claims_one)"
"$bin" bench claims --port "$port_a" --runs 20000 --workers 4 --limit 10
stop_servers

echo "== cairn on Postgres: queue claims, two replicas on one database (4 workers, 2 on each)"
url="$(database cairn_claims_two)"
serve "$port_a" "$url"
serve "$port_b" "$url"
"$bin" bench claims --port "$port_a" --ports "$port_a,$port_b" --runs 20000 --workers 4 --limit 10
stop_servers
