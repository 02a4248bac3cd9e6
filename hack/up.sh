#!/usr/bin/env bash
# Bring up a single-node cluster on the embedded store and print how to use it.
#   hack/up.sh                       # build (release) and run in the foreground
#   DATA_DIR=... PORT=... hack/up.sh
# The API server serves HTTPS with a generated kubeadm-style PKI
# ($DATA_DIR/pki) and writes a cluster-admin kubeconfig ($DATA_DIR/admin.conf).
# Today the cluster is the API server alone; the scheduler, controllers and
# node agents join as their issues land.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
PORT="${PORT:-6443}"
DATA_DIR="${DATA_DIR:-$PWD/.tmp/cluster}"
cargo build --release -p apiserver
mkdir -p "$DATA_DIR"
echo "API server on https://127.0.0.1:${PORT} (data in $DATA_DIR)"
echo "  export KUBECONFIG=$DATA_DIR/admin.conf"
echo "  kubectl get ns"
exec ./target/release/apiserver \
  --secure-port "$PORT" \
  --data-dir "$DATA_DIR/apiserver" \
  --pki-dir "$DATA_DIR/pki" \
  --write-admin-kubeconfig "$DATA_DIR/admin.conf"
