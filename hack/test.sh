#!/usr/bin/env bash
# Run the whole test suite: unit, storage contract (embedded + a real etcd the
# tests start themselves), in-process API tests and end-to-end kubectl tests.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh --with-etcd
# No incremental caches: a fresh build does not need them, and they cost
# tens of gigabytes of disk over a full workspace build.
export CARGO_INCREMENTAL=0
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
