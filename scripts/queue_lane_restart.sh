#!/bin/bash
# Give a running lane of the background queue (scripts/paper_cpu_runs.sh) a new order without losing its cell:
#   cd QUEUE_WORKTREE && bash /path/to/checkout/scripts/queue_lane_restart.sh a|b
# run from the queue's worktree (where runs/ is), naming the checkout whose paper_cpu_runs.sh holds the new order.
# 1. that script is copied to runs/queue-next.sh through a temporary name and a rename: a bash already running the old
#    copy keeps reading its own (now unlinked) file, since bash reads a script lazily, by offset;
# 2. the lane's bash (the process whose stdout is runs/paper-cpu-lane-LANE.log) is paused, its running children are
#    listed, then it is stopped, and so is the queue's top-level bash if one is waiting for its lanes (it would
#    otherwise start the tail sections with both cores; run them later with `bash runs/queue-next.sh tail`);
#    the cell the lane is running (its child `dt bench paper`, or whatever the lane's line started) goes on;
# 3. a waiter starts the new lane (`bash runs/queue-next.sh LANE`, under nice, logging to the lane's log) when that
#    cell's process exits, so the new order starts at a cell boundary and never runs two cells on one core.
# The other lane is left alone. Finished cells are skipped by the new lane, as on any restart. The new order runs
# the worktree's code (its .venv, its scripts/): a line that needs newer code fails when reached (logged, and the
# lane goes on); the script warns when the worktree's src/ or scripts/ differ from the checkout's.
set -uo pipefail
lane=${1:?usage: queue_lane_restart.sh a|b (run from the queue worktree)}
[[ $lane == a || $lane == b ]] || { echo "queue_lane_restart.sh: lane '$lane'; expected a or b" >&2; exit 2; }
[[ -d runs ]] || { echo "queue_lane_restart.sh: no runs/ in $(pwd); run it from the queue worktree" >&2; exit 2; }
checkout="$(cd "$(dirname "$0")/.." && pwd -P)"
src="$checkout/scripts/paper_cpu_runs.sh"
bash -n "$src" || exit 1
cp "$src" runs/queue-next.sh.tmp && mv runs/queue-next.sh.tmp runs/queue-next.sh || exit 1
if ! git diff --quiet "$(git rev-parse HEAD 2>/dev/null)" "$(git -C "$checkout" rev-parse HEAD 2>/dev/null)" -- src \
    ':!scripts/paper_cpu_runs.sh' scripts 2>/dev/null; then
  echo "queue_lane_restart.sh: warning: this worktree's src/ or scripts/ differ from $checkout's; the new order runs" \
       "this worktree's code" >&2
fi

here="$(pwd -P)"
log="$here/runs/paper-cpu-lane-$lane.log"
top="$here/runs/paper-cpu.log"
lane_pids=() top_pids=()
for pid in $(pgrep -x bash || true); do
  out=$(readlink "/proc/$pid/fd/1" 2>/dev/null || true)
  [[ $out == "$log" ]] && lane_pids+=("$pid")
  [[ $out == "$top" ]] && top_pids+=("$pid")
done
if [[ ${#lane_pids[@]} -eq 0 ]]; then
  echo "queue_lane_restart.sh: no bash writes $log; is lane $lane running (from this worktree)? Start it with" \
       "\`bash runs/queue-next.sh $lane\`" >&2
  exit 1
fi
kill -STOP "${lane_pids[@]}" 2>/dev/null || true  # no new cell starts while its children are listed
children=()
for pid in "${lane_pids[@]}"; do
  for child in $(pgrep -P "$pid" || true); do children+=("$child"); done
done
if [[ ${#top_pids[@]} -gt 0 ]]; then
  kill "${top_pids[@]}" 2>/dev/null || true
  echo "queue_lane_restart.sh: stopped the top-level queue bash ${top_pids[*]}: the tail sections (after both lanes)" \
       "run on \`bash runs/queue-next.sh tail\` or the next plain \`bash scripts/paper_cpu_runs.sh\`" >&2
fi
kill -TERM "${lane_pids[@]}" 2>/dev/null || true
kill -CONT "${lane_pids[@]}" 2>/dev/null || true  # a stopped process acts on TERM once continued
echo "lane $lane: stopped bash ${lane_pids[*]}; runs/queue-next.sh $lane starts when ${children[*]:-nothing} exits"
wait_for="${children[*]:-}"
nohup nice -n 10 bash -c "for p in $wait_for; do while kill -0 \$p 2>/dev/null; do sleep 20; done; done
  JOBS=\${JOBS:-2} exec bash runs/queue-next.sh $lane" >> "$log" 2>&1 &
