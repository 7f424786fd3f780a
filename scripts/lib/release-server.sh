# Sourced by the benchmark scripts: builds the release `cairn`, starts it on a fresh data
# directory on $port, stops and cleans up on exit. Sets $bin.
server_flags=("${server_flags[@]+"${server_flags[@]}"}")
swift build -c release --scratch-path .build-release --product cairn >/dev/null
bin=.build-release/release/cairn
data="$(mktemp -d)"
# Scripts may set server_flags=(...) before sourcing.
"$bin" serve --port "$port" --data-dir "$data" --log-level warning "${server_flags[@]}" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
