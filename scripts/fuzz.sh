#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target of filter/fuzz for FUZZ_SECONDS (default 60) each,
# then prints the executions and crashes per target. Exits non-zero if any target crashed;
# the input that did it is under filter/fuzz/artifacts/TARGET/ (replay it with
# `cargo +nightly fuzz run TARGET FILE`, then turn it into a unit test in the core).
# Needs the nightly toolchain and cargo-fuzz (`make setup-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/../filter/fuzz"

seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
# Debug assertions and overflow checks on: an overflow is a finding even where release wraps.
build_flags=(--debug-assertions)

cargo +nightly fuzz build "${build_flags[@]}"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=0
summary=()
for target in $targets; do
    mkdir -p "corpus/$target" "artifacts/$target"
    inputs=("corpus/$target")
    [[ -d "seeds/$target" ]] && inputs+=("seeds/$target")
    options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    [[ -f "dict/$target.dict" ]] && options+=(-dict="dict/$target.dict")
    echo "fuzz: $target for ${seconds}s"
    log="$logs/$target.log"
    if cargo +nightly fuzz run "${build_flags[@]}" "$target" "${inputs[@]}" -- "${options[@]}" >"$log" 2>&1; then
        result="no crash"
    else
        result="CRASH: $(grep -o 'artifacts/[^ ]*' "$log" | tail -1)"
        failed=1
        grep -E -A12 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -30 || true
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(find "corpus/$target" -type f | wc -l)
    summary+=("$(printf '%-20s %12s executions  %6s corpus entries  %s' "$target" "${runs:-?}" "$corpus" "$result")")
done
echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
