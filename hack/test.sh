#!/usr/bin/env bash
# Run the whole test suite: unit, storage contract (embedded + a real etcd the
# tests start themselves), in-process API tests and end-to-end kubectl tests.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh --with-etcd
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-4}"
