#!/usr/bin/env bash
# Bring up a single-node cluster on the embedded store and print how to use it.
#   hack/up.sh                        # build (release) and run in the foreground; Ctrl-C stops everything
#   NODES=5 DATA_DIR=... PORT=... hack/up.sh
# Runs the API server (HTTPS, generated kubeadm-style PKI in $DATA_DIR/pki,
# one kubeconfig per component in $DATA_DIR), the scheduler, the
# controller-manager and a node simulator with $NODES simulated nodes (the
# real kubelet on containerd comes with its own issue). Logs: $DATA_DIR/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-deps.sh
PORT="${PORT:-6443}"
NODES="${NODES:-3}"
DATA_DIR="${DATA_DIR:-$PWD/.tmp/cluster}"
cargo build --release -p apiserver -p scheduler -p controller-manager -p kubelet
mkdir -p "$DATA_DIR/logs"
bin=./target/release
pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

"$bin/apiserver" \
  --secure-port "$PORT" \
  --data-dir "$DATA_DIR/apiserver" \
  --pki-dir "$DATA_DIR/pki" \
  --write-kubeconfigs "$DATA_DIR" \
  >"$DATA_DIR/logs/apiserver.log" 2>&1 &
pids+=($!)
echo -n "waiting for the API server"
for _ in $(seq 300); do
  if [ -f "$DATA_DIR/admin.conf" ] && kubectl --kubeconfig "$DATA_DIR/admin.conf" get --raw /readyz >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo; tail -20 "$DATA_DIR/logs/apiserver.log"; exit 1; fi
  echo -n .; sleep 0.1
done
echo " ready"

"$bin/controller-manager" \
  --kubeconfig "$DATA_DIR/controller-manager.conf" \
  --cluster-signing-cert-file "$DATA_DIR/pki/ca.crt" \
  --cluster-signing-key-file "$DATA_DIR/pki/ca.key" \
  --root-ca-file "$DATA_DIR/pki/ca.crt" \
  --cluster-cidr 10.244.0.0/16 --allocate-node-cidrs \
  >"$DATA_DIR/logs/controller-manager.log" 2>&1 &
pids+=($!)
"$bin/scheduler" --kubeconfig "$DATA_DIR/scheduler.conf" >"$DATA_DIR/logs/scheduler.log" 2>&1 &
pids+=($!)
"$bin/node-simulator" --kubeconfig "$DATA_DIR/node-simulator.conf" --nodes "$NODES" >"$DATA_DIR/logs/node-simulator.log" 2>&1 &
pids+=($!)

cat <<MSG
Cluster up on https://127.0.0.1:${PORT} with ${NODES} simulated nodes (data and logs in $DATA_DIR).
  export KUBECONFIG=$DATA_DIR/admin.conf
  kubectl get nodes
  kubectl create deployment web --image=nginx --replicas=3 && kubectl rollout status deployment/web
Ctrl-C stops the cluster.
MSG
wait -n "${pids[@]}" || true
echo "a component exited; see $DATA_DIR/logs" >&2
exit 1
