#!/usr/bin/env bash
# Build the release binaries and run the cluster benchmarks of issue 4
# (kubelet/examples/clusterbench/): scheduler throughput through the real
# API server, a 10,000-replica Deployment, 5,000 heartbeating nodes.
#
#   hack/bench-cluster.sh                       # full run (~15 minutes on 2 cores, plus the build)
#   hack/bench-cluster.sh --quick               # small sizes, one run each (~2 minutes)
#   hack/bench-cluster.sh --scenarios sched,heartbeat   # a subset of sched, deploy, heartbeat
#   hack/bench-cluster.sh --runs 5              # runs of each basic scheduler case
#   hack/bench-cluster.sh --scenarios sched --only spread-5000   # one scheduler case
#
# Everything runs on loopback: the API servers and components are children
# of the harness, in a process group of their own that is killed on exit,
# Ctrl-C or timeout; their scratch data lives in one temp dir that is
# removed. The report is also written to target/bench-cluster/report-<mode>.md
# and the component logs are kept in target/bench-cluster/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick; args+=(--quick) ;;
    --scenarios|--runs|--only) [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; }; args+=("$1" "$2"); shift ;;
    --scenarios=*|--runs=*|--only=*) args+=("${1%%=*}" "${1#*=}") ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# Hard bound on the benchmark itself (the build is not counted).
if [ "$mode" = quick ]; then limit=600; else limit=2400; fi

pid=""
build_pid=""
work=""

cleanup() {
  # The build (cargo and its rustc processes), if interrupted while it runs.
  if [ -n "$build_pid" ]; then
    kill -TERM -- "-$build_pid" 2>/dev/null || true
    wait "$build_pid" 2>/dev/null || true
  fi
  if [ -n "$pid" ]; then
    # The harness's process group (it, its API servers and components),
    # even if the harness itself has already exited: TERM, then KILL.
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 -- "-$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hack/install-deps.sh
# In the background, in its own process group, so that a signal interrupts
# the wait and cleanup can stop the whole build.
setsid cargo build --release -p apiserver -p scheduler -p controller-manager -p kubelet --bins --example clusterbench &
build_pid=$!
wait "$build_pid"
build_pid=""

# 5,000 nodes, their watches and the harness's connections need descriptors.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 65536; else ulimit -n "$hard"; fi

out_dir=target/bench-cluster
mkdir -p "$out_dir/logs"
rm -f "$out_dir"/logs/*.log
report="$out_dir/report-$mode.md"
work=$(mktemp -d "${TMPDIR:-/tmp}/ferrokube-bench-cluster.XXXXXX")

# setsid: a new process group (and session) led by `timeout`, which runs the
# harness; the API servers and components inherit the group.
TMPDIR="$work" setsid timeout --kill-after=30 "$limit" \
  target/release/examples/clusterbench --bin-dir target/release --logs "$out_dir/logs" ${args[@]+"${args[@]}"} \
  >"$work/report.md" &
pid=$!
sleep 0.2 # let setsid(1) make itself the group leader before checking
pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
if [ -n "$pgid" ] && [ "$pgid" != "$pid" ]; then
  echo "warning: the harness is not a process group leader (pgid $pgid); cleanup may miss children" >&2
fi
rc=0
wait "$pid" || rc=$?
if [ "$rc" -eq 124 ]; then
  echo "clusterbench: timed out after ${limit}s" >&2
fi
cp "$work/report.md" "$report"
echo
cat "$report"
echo
echo "report: $report; component logs: $out_dir/logs/"
exit "$rc"
