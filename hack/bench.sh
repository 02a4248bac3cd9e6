#!/usr/bin/env bash
# Build the release binaries and run the API server benchmarks
# (apiserver/examples/apibench.rs), printing the results table.
#
#   hack/bench.sh              # full run (5–9 minutes on 2 cores, plus the build)
#   hack/bench.sh --quick      # short smoke run (under a minute)
#   hack/bench.sh --scenarios a,c   # a subset (a, b, c, d)
#   hack/bench.sh --etcd-flag=--backend-batch-interval=10ms   # both etcds of scenario a get this flag
#
# Everything runs on loopback: the API servers and etcds are children of the
# harness, in a process group of their own that is killed on exit, Ctrl-C or
# timeout; their scratch data lives in one temp dir that is removed. The
# report is also written to target/bench/report-<mode>.md and the server
# logs are kept in target/bench/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick; args+=(--quick) ;;
    --scenarios) [ $# -ge 2 ] || { echo "--scenarios needs a value" >&2; exit 2; }; args+=(--scenarios "$2"); shift ;;
    --scenarios=*) args+=(--scenarios "${1#*=}") ;;
    --etcd-flag=*) args+=("$1") ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# Hard bound on the benchmark itself (the build is not counted).
if [ "$mode" = quick ]; then limit=300; else limit=1200; fi

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
    # The harness's process group (it, its API servers, etcds and their
    # guardians), even if the harness itself has already exited: TERM, then KILL.
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

hack/install-deps.sh --with-etcd
# In the background, in its own process group, so that a signal interrupts
# the wait and cleanup can stop the whole build.
setsid cargo build --release -p apiserver --bin apiserver --example apibench &
build_pid=$!
wait "$build_pid"
build_pid=""

# 1,000 watch connections need ~2,000 descriptors in this process tree.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 8192 ]; then
  echo "the open-files hard limit is $hard; the watch scenario needs 8192 (raise it, e.g. ulimit -Hn 65536 as root)" >&2
  exit 1
fi
if [ "$hard" = unlimited ]; then ulimit -n 65536; else ulimit -n "$hard"; fi

out_dir=target/bench
mkdir -p "$out_dir/logs"
rm -f "$out_dir"/logs/apiserver-*.log
report="$out_dir/report-$mode.md"
work=$(mktemp -d "${TMPDIR:-/tmp}/ferrokube-bench.XXXXXX")

# setsid: a new process group (and session) led by `timeout`, which runs the
# harness; the harness's API servers and etcds inherit the group.
TMPDIR="$work" setsid timeout --kill-after=30 "$limit" \
  target/release/examples/apibench --apiserver target/release/apiserver --logs "$out_dir/logs" ${args[@]+"${args[@]}"} \
  >"$work/report.md" &
pid=$!
pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
if [ -n "$pgid" ] && [ "$pgid" != "$pid" ]; then
  echo "warning: the harness is not a process group leader (pgid $pgid); cleanup may miss children" >&2
fi
rc=0
wait "$pid" || rc=$?
if [ "$rc" -eq 124 ]; then
  echo "apibench: timed out after ${limit}s" >&2
fi
cp "$work/report.md" "$report"
echo
cat "$report"
echo
echo "report: $report; server logs: $out_dir/logs/"
exit "$rc"
