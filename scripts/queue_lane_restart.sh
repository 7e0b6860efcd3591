#!/bin/bash
# Give a running lane of the background queue (scripts/paper_cpu_runs.sh) a new order without losing its cell:
#   cd QUEUE_WORKTREE && bash /path/to/checkout/scripts/queue_lane_restart.sh a|b
# run from the queue's worktree (where runs/ is), naming the checkout whose paper_cpu_runs.sh holds the new order.
# 1. that script is copied to runs/queue-next.sh through a temporary name and a rename: a bash already running the old
#    copy keeps reading its own (now unlinked) file, since bash reads a script lazily, by offset;
# 2. the lane's bash (the process whose stdout is runs/paper-cpu-lane-LANE.log) is stopped, and so is the queue's
#    top-level bash if one is waiting for its lanes (it would otherwise start the tail sections with both cores);
#    the cell the lane is running (its child `dt bench paper`, or whatever the lane's line started) goes on;
# 3. a waiter starts the new lane (`bash runs/queue-next.sh LANE`, under nice) when that cell's process exits, so the
#    new order starts at a cell boundary and never runs two cells on one core.
# The other lane is left alone. Finished cells are skipped by the new lane, as on any restart.
set -euo pipefail
lane=${1:?usage: queue_lane_restart.sh a|b (run from the queue worktree)}
[[ $lane == a || $lane == b ]] || { echo "queue_lane_restart.sh: lane '$lane'; expected a or b" >&2; exit 2; }
[[ -d runs ]] || { echo "queue_lane_restart.sh: no runs/ in $(pwd); run it from the queue worktree" >&2; exit 2; }
src="$(cd "$(dirname "$0")" && pwd)/paper_cpu_runs.sh"
bash -n "$src"
cp "$src" runs/queue-next.sh.tmp && mv runs/queue-next.sh.tmp runs/queue-next.sh

log="$(pwd)/runs/paper-cpu-lane-$lane.log"
top="$(pwd)/runs/paper-cpu.log"
lane_pids=() top_pids=()
for pid in $(pgrep -x bash || true); do
  out=$(readlink "/proc/$pid/fd/1" 2>/dev/null || true)
  [[ $out == "$log" ]] && lane_pids+=("$pid")
  [[ $out == "$top" ]] && top_pids+=("$pid")
done
children=()
for pid in "${lane_pids[@]}"; do
  for child in $(pgrep -P "$pid" || true); do children+=("$child"); done
done
[[ ${#top_pids[@]} -gt 0 ]] && kill "${top_pids[@]}"
[[ ${#lane_pids[@]} -gt 0 ]] && kill "${lane_pids[@]}"
echo "lane $lane: stopped bash ${lane_pids[*]:-(none running)}${top_pids[*]:+, top-level ${top_pids[*]}};" \
     "waiting for ${children[*]:-nothing} before runs/queue-next.sh $lane"
wait_for="${children[*]:-}"
nohup nice -n 10 bash -c "for p in $wait_for; do while kill -0 \$p 2>/dev/null; do sleep 20; done; done
  JOBS=\${JOBS:-2} exec bash runs/queue-next.sh $lane" > /dev/null 2>&1 &
