#!/usr/bin/env bash
# Runs binaryen's wasm-opt -O3 over a .wasm that cargo built, in place: it makes the filter
# smaller and cheaper per request (docs/performance.md). A stamp beside the file records the
# optimised file's digest, so a file cargo did not rebuild is not optimised twice. Several builds
# at once (tests start `make run` in parallel) take turns on a lock beside the file.
set -euo pipefail
wasm=$1
stamp="$wasm.wasm-opt"
command -v wasm-opt >/dev/null || { echo "optimize-wasm: wasm-opt not found: run make setup (Debian package binaryen)" >&2; exit 1; }
digest() { sha256sum "$1" | cut -d' ' -f1; }
exec 9>"$wasm.lock"
flock 9
[[ -f $stamp && $(cat "$stamp") == "$(digest "$wasm")" ]] && exit 0
# The features Rust's wasm32-wasip1 target emits and Envoy's V8 runs; no others.
features=(--enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals)
# A new file, not a rewrite: cargo hard-links its outputs.
tmp=$(mktemp "$wasm.XXXXXX")
wasm-opt "${features[@]}" -O3 "$wasm" -o "$tmp"
chmod 644 "$tmp"
mv "$tmp" "$wasm"
digest "$wasm" >"$stamp"
