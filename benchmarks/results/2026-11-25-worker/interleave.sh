#!/usr/bin/env bash
# How before.jsonl and after.jsonl here were made (docs/performance.md, "Worker: faktory-core vs
# pyfaktory"): interleaved before/after rounds, each started only once the shared machine is
# idle. /tmp/before-venv holds faktory-core 111d922 (the worker before JobThreads); the server is
# always the working tree's. Run from any directory; ROUNDS=5 by default.
set -u
cd "$(dirname "$0")/../.."  # benchmarks/
idle() {  # % idle over 2 s
  read -r _ u n s i w q sq st _ < /proc/stat; t1=$((u+n+s+i+w+q+sq+st)); i1=$i
  sleep 2
  read -r _ u n s i w q sq st _ < /proc/stat; t2=$((u+n+s+i+w+q+sq+st)); i2=$i
  echo $(( 100 * (i2 - i1) / (t2 - t1) ))
}
wait_quiet() {
  for _ in $(seq 1 600); do
    if ! pgrep -f "faktory-bench|pytest|split.py|loadgen" >/dev/null && [ "$(idle)" -ge 95 ]; then return; fi
    sleep 3
  done
  echo "never quiet" >&2
}
for r in $(seq 1 "${ROUNDS:-5}"); do
  wait_quiet; echo "round $r before (idle $(idle)%)"
  ../.venv/bin/python worker_noop.py ours-async ours-sync -r 1 --worker-python /tmp/before-venv/bin/python --json-out results/2026-11-25-worker/before.jsonl | grep -v "^{"
  wait_quiet; echo "round $r after (idle $(idle)%)"
  ../.venv/bin/python worker_noop.py ${AFTER_KINDS:-ours-async ours-sync pyfaktory} -r 1 --json-out results/2026-11-25-worker/after.jsonl | grep -v "^{"
done
