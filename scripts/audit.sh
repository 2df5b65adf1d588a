#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database with cargo-audit; advisories kept on
# purpose are listed, with their reasons, in .cargo/audit.toml. cargo-audit comes from crates.io
# (installed once, pinned). The database is fetched by cargo-audit from its own git host, which
# not every build machine reaches: then a copy fetched earlier is used, and without one the
# audit is skipped with a message saying so (the rest of `make lint` still runs).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_AUDIT_VERSION=0.22.2
CARGO=${CARGO:-cargo}

if ! "$CARGO" audit --version 2>/dev/null | grep -q " $CARGO_AUDIT_VERSION\$"; then
    "$CARGO" install --quiet --locked --version "$CARGO_AUDIT_VERSION" cargo-audit
fi

db="${CARGO_HOME:-$HOME/.cargo}/advisory-db"
if output=$("$CARGO" audit --deny warnings 2>&1); then
    echo "$output" | tail -n 3
    exit 0
fi
if ! grep -q "couldn't fetch advisory database" <<<"$output"; then
    echo "$output"
    exit 1
fi
if [[ -d "$db/crates" ]]; then
    echo "audit: the advisory database could not be fetched; using the copy in $db"
    "$CARGO" audit --deny warnings --no-fetch --stale
else
    echo "audit: SKIPPED: the advisory database could not be fetched and there is no copy in $db"
    echo "audit: (run \`make lint\` where it can be fetched; .cargo/audit.toml lists the advisories kept on purpose)"
fi
