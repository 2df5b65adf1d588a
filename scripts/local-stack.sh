#!/usr/bin/env bash
# The local stack's three steps, shared by `make run` (scripts/run.sh) and docker-compose.yaml, so
# both start the same thing the same way. Run from the repository root (a container's /vp).
#
#   scripts/local-stack.sh config MODE ENVOY_CONFIG   MODE: emulator or vertex. Writes $RUN/stack:
#                          the Envoy config to start (ENVOY_CONFIG; with VP_CONFIG, a copy carrying
#                          that plugin config, $RUN/envoy.user.yaml) and where each env var the
#                          Wasm VM reads comes from (a file, or this environment: never a value);
#                          the plugin config as JSON in $RUN/plugin.json.
#   scripts/local-stack.sh emulator [ARGS...]       google-emulator on the stack's ports, writing
#                          its CA, the local TLS certificate and its ready file into $RUN; with
#                          VP_CONFIG it answers for every project.
#   scripts/local-stack.sh envoy [ARGS...]          Envoy with $RUN/stack's config and VM env vars.
#
# Settings (environment): VP_RUN_DIR (.run), VP_BIN_DIR (target/debug: google-emulator, vp-config,
# render-envoy-config), VP_ENVOY (.tools/bin/envoy), VP_CONFIG (a plugin config or a LiteLLM
# config.yaml), VP_OAUTH_PORT (8081), VP_METADATA_PORT (8082), VP_VERTEX_PORT (8443); in vertex
# mode GOOGLE_APPLICATION_CREDENTIALS, the key file whose contents VERTEX_SA_KEY holds.
set -euo pipefail

RUN=${VP_RUN_DIR:-.run}
RUN=${RUN%/}
BIN=${VP_BIN_DIR:-target/debug}
BIN=${BIN%/}
STACK=$RUN/stack
# The service account the emulator mode hands to the VM: a test fixture the emulator trusts,
# worthless against Google.
FIXTURE_KEY=tests/fixtures/service_account_a.json
FIXTURE_USER=tests/fixtures/authorized_user.json

die() { echo "local stack: $*" >&2; exit 1; }

config() { # $1: emulator | vertex, $2: the Envoy config to start (or to carry VP_CONFIG)
    local mode=$1 config=$2 user_config=${VP_CONFIG:-} lines=() env_names=()
    [[ $mode == emulator || $mode == vertex ]] || die "config: mode '$mode' is not emulator or vertex"
    [[ -r $config ]] || die "config: $config: no such readable file"
    mkdir -p "$RUN"
    if [[ $mode == emulator ]]; then
        lines+=("env VERTEX_SA_KEY file $FIXTURE_KEY")
    else
        local key_file=${GOOGLE_APPLICATION_CREDENTIALS:-}
        [[ -n $key_file && -r $key_file ]] || die "vertex mode: GOOGLE_APPLICATION_CREDENTIALS=$key_file: no such readable file"
        lines+=("env VERTEX_SA_KEY file $key_file")
    fi
    rm -f "$RUN/plugin.json"
    if [[ -n $user_config ]]; then
        [[ -f $user_config && -r $user_config ]] || die "VP_CONFIG=$user_config: no such readable file"
        local notes=$RUN/vp-config.notes plan word name type file
        plan=$("$BIN/vp-config" plugin "$user_config" 2>"$notes") ||
            { cat "$notes" >&2; die "VP_CONFIG=$user_config: vp-config could not read it (above)"; }
        if [[ -s $notes ]]; then
            echo "local stack: VP_CONFIG=$user_config is a LiteLLM config.yaml, converted by vp-config; what it dropped or needs:" >&2
            sed 's/^/    /' "$notes" >&2
        fi
        head -n 1 <<<"$plan" >"$RUN/plugin.json"
        while read -r word name type file; do
            [[ $word == env ]] || continue
            env_names+=("$name")
            if [[ $type == client_key ]]; then
                # A named client key's key_env: the key clients send, from this environment.
                lines+=("env $name environment")
            elif [[ $mode == emulator ]]; then
                # The emulator trusts the fixture keys, whatever the config's own keys are.
                case $type in
                    authorized_user) lines+=("env $name file $FIXTURE_USER") ;;
                    *) lines+=("env $name file $FIXTURE_KEY") ;;
                esac
            elif [[ -n $file ]]; then
                lines+=("env $name file $file")
            else
                lines+=("env $name credential")
            fi
        done < <(tail -n +2 <<<"$plan")
        local vm_env=() user_envoy=$RUN/envoy.user.yaml
        for name in "${env_names[@]}"; do vm_env+=(--vm-env "$name"); done
        "$BIN/render-envoy-config" "$config" --plugin-config "$(<"$RUN/plugin.json")" "${vm_env[@]}" \
            >"$user_envoy" || die "could not put VP_CONFIG into $config (above)"
        config=$user_envoy
    fi
    {
        echo "config $config"
        printf '%s\n' "${lines[@]}"
    } >"$STACK"
}

emulator() {
    # It prints one line when it listens, and writes it to the ready file:
    #   google-emulator ready oauth=127.0.0.1:8081 metadata=127.0.0.1:8082 vertex=127.0.0.1:8443 ca=PATH
    mkdir -p "$RUN"
    exec "$BIN/google-emulator" ${VP_CONFIG:+--any-project} \
        --oauth-port "${VP_OAUTH_PORT:-8081}" --metadata-port "${VP_METADATA_PORT:-8082}" \
        --vertex-port "${VP_VERTEX_PORT:-8443}" --ca-out "$RUN/emulator-ca.pem" \
        --local-tls-dir "$RUN/tls" --ready-file "$RUN/emulator.ready" "$@"
}

envoy() {
    [[ -r $STACK ]] || die "$STACK missing: run \`scripts/local-stack.sh config\` first"
    local word rest name source file config= value
    while read -r word rest; do
        read -r name source file <<<"$rest"
        case $word in
            config) config=$rest ;;
            env)
                if [[ $source == file ]]; then
                    [[ -r $file ]] || die "$name must hold the contents of $file, which is not readable"
                    value=$(<"$file")
                elif [[ $source == credential ]]; then
                    value=${!name:-}
                    [[ -n $value ]] || die "the config reads $name in Envoy's environment: set it to a Google key file's contents (or its path)"
                    if [[ -f $value && -r $value ]]; then value=$(<"$value"); fi
                else
                    value=${!name:-}
                    [[ -n $value ]] || die "the config reads the client key $name (a named key's key_env) in Envoy's environment: set it to the plain key clients send"
                fi
                export "$name=$value"
                ;;
        esac
    done <"$STACK"
    [[ -n $config ]] || die "$STACK names no config"
    exec "${VP_ENVOY:-.tools/bin/envoy}" -c "$config" "$@"
}

step=${1:-}
shift || true
case $step in
    config) [[ $# == 2 ]] || die "usage: scripts/local-stack.sh config emulator|vertex ENVOY_CONFIG"; config "$@" ;;
    emulator) emulator "$@" ;;
    envoy) envoy "$@" ;;
    *) die "usage: scripts/local-stack.sh config|emulator|envoy (see its header)" ;;
esac
