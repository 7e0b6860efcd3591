#!/bin/bash
# Table 7's CQL cells (hopper-medium-replay, dense and delayed rewards) at a fifth of the cpu protocol's baseline
# budget: d3rlpy's CQL (hidden 256x3, 10 action samples, batch 256) ran 20k steps in 2,216 s on one core of the
# 2-core box (about 9 steps/s, both cores busy), so the protocol's 100k steps are about 3 h per cell. 20k steps, a
# learning curve every 5k (10 episodes), seed 0, in its own root; everything else is the cpu protocol.
# Two processes (one per core).
#   bash scripts/table7_cql_short.sh   then
#   dt bench report --root runs/paper-cql20k --out docs/results/extra/table7_cql_20k
cd "$(dirname "$0")/.."
short() {
  env OMP_NUM_THREADS=1 .venv/bin/dt bench paper --exp table7 --methods cql "$@" \
    --cpu.baseline-steps 20000 --cpu.eval-every 5000 --seeds 1 --precision bf16 --no-progress --root runs/paper-cql20k
}
short --datasets hopper-medium-replay > runs/paper-cql20k-dense.log 2>&1 &
short --datasets hopper-medium-replay-delayed > runs/paper-cql20k-delayed.log 2>&1 &
wait
