#!/usr/bin/env bash
# `make run`: the filter in Envoy on :4000, in front of a local emulator of Google's OAuth, metadata
# and Vertex AI endpoints (the same one the integration tests use). No Google account, no network.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where `make build` leaves the filter and cargo the emulator, whatever the caller's env says.
export CARGO_TARGET_DIR="$PWD/target"
RUN=.run
LISTEN_PORT=4000
ADMIN_PORT=9901
# The emulator's fixed ports; envoy/envoy.local.yaml names the same ones.
EMULATOR_PORTS=(8081 8082 8443)
CA="$RUN/emulator-ca.pem"

die() { echo "make run: $*" >&2; exit 1; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$LISTEN_PORT" "$ADMIN_PORT" "${EMULATOR_PORTS[@]}"; do
    if port_busy "$port"; then
        die "port $port is already in use (another \`make run\`? \`ss -ltnp 'sport = :$port'\` shows who); stop it and retry"
    fi
done

make --no-print-directory build
cargo build --release -p vertex-passthrough-tests --bin google-emulator

mkdir -p "$RUN"
rm -f "$CA"
pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "make run: stopped"
}
trap cleanup EXIT
# Ctrl-C is the normal way to stop: exit 0 (cleanup runs on EXIT).
trap 'exit 0' INT TERM

# The emulator prints one line when it listens:
#   google-emulator ready oauth=127.0.0.1:8081 metadata=127.0.0.1:8082 vertex=127.0.0.1:8443 ca=PATH
target/release/google-emulator --ca-out "$CA" >"$RUN/emulator.log" 2>&1 &
pids+=($!)
emulator=$!
for _ in $(seq 300); do
    grep -q '^google-emulator ready' "$RUN/emulator.log" && break
    kill -0 "$emulator" 2>/dev/null || { cat "$RUN/emulator.log" >&2; die "the emulator exited"; }
    sleep 0.1
done
ready_line=$(grep '^google-emulator ready' "$RUN/emulator.log") || die "the emulator did not get ready in 30 s (see $RUN/emulator.log)"
for want in oauth=127.0.0.1:8081 metadata=127.0.0.1:8082 vertex=127.0.0.1:8443; do
    [[ " $ready_line " == *" $want "* ]] || die "emulator listens elsewhere than envoy/envoy.local.yaml expects ($want): $ready_line"
done
[[ -s "$CA" ]] || die "the emulator wrote no CA to $CA"

# The local config reads the service-account key from VERTEX_SA_KEY (vm_config host_env_keys).
# This is the test fixture's key, which the emulator trusts; it is worthless against Google.
VERTEX_SA_KEY="$(cat tests/fixtures/service_account_a.json)"
export VERTEX_SA_KEY

# Started from the repository root: the config's wasm and CA paths are relative to it.
# Access log (one line per request) on this terminal; Envoy's own log in .run/envoy.log.
.tools/bin/envoy -c envoy/envoy.local.yaml --concurrency 2 --disable-hot-restart 2>"$RUN/envoy.log" &
pids+=($!)
envoy=$!
for _ in $(seq 300); do
    [[ "$(curl -s --noproxy '*' "http://127.0.0.1:$ADMIN_PORT/ready" 2>/dev/null)" == LIVE ]] && break
    kill -0 "$envoy" 2>/dev/null || { tail -n 40 "$RUN/envoy.log" >&2; die "Envoy exited (log: $RUN/envoy.log)"; }
    sleep 0.1
done
[[ "$(curl -s --noproxy '*' "http://127.0.0.1:$ADMIN_PORT/ready")" == LIVE ]] || die "Envoy not ready in 30 s (log: $RUN/envoy.log)"

base="http://127.0.0.1:$LISTEN_PORT/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models"
cat <<EOF

vertex-passthrough is running on http://127.0.0.1:$LISTEN_PORT, in front of a local EMULATOR of
Google (OAuth + Vertex AI), not Google itself: answers are canned, tokens are fake.
  client key:  sk-local-demo        aliases: gemini-flash, gemini-live
  admin:       http://127.0.0.1:$ADMIN_PORT  (stats: /stats/prometheus)
  logs:        $RUN/envoy.log, $RUN/emulator.log (access log below)

REST:
  curl -s '$base/gemini-flash:generateContent' \\
    -H 'x-api-key: sk-local-demo' -H 'content-type: application/json' \\
    -d '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}'

Streaming (SSE):
  curl -sN '$base/gemini-flash:streamGenerateContent?alt=sse' \\
    -H 'x-api-key: sk-local-demo' -H 'content-type: application/json' \\
    -d '{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}'

Live API (WebSocket): ws://127.0.0.1:$LISTEN_PORT/vertex_ai/live?model=gemini-live  (header x-api-key: sk-local-demo)

Ctrl-C stops everything.
EOF

# Until Ctrl-C, or until either process dies.
set +e
wait -n "${pids[@]}"
echo "make run: a process exited; see $RUN/envoy.log and $RUN/emulator.log" >&2
exit 1
