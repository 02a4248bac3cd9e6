#!/usr/bin/env bash
# Bring up a single-node cluster on the embedded store and print how to use it.
#   hack/up.sh              # build (release) and run in the foreground
#   DATA_DIR=... PORT=... hack/up.sh
# Today the cluster is the API server alone (plain HTTP on loopback); the
# scheduler, controllers and node agents join as their issues land.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
PORT="${PORT:-6443}"
DATA_DIR="${DATA_DIR:-$PWD/.tmp/cluster}"
cargo build --release -p apiserver
mkdir -p "$DATA_DIR"
KUBECONFIG_FILE="$DATA_DIR/kubeconfig"
cat > "$KUBECONFIG_FILE" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: http://127.0.0.1:${PORT}
contexts:
- name: local
  context:
    cluster: local
    user: local
users:
- name: local
  user: {}
current-context: local
KCFG
echo "API server on http://127.0.0.1:${PORT} (data in $DATA_DIR)"
echo "  export KUBECONFIG=$KUBECONFIG_FILE"
echo "  kubectl get ns"
exec ./target/release/apiserver --port "$PORT" --data-dir "$DATA_DIR/apiserver"
