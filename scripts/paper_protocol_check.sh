#!/bin/bash
# The protocol check of `dt bench paper --protocol cpu` (dt_experiments/paper/config.py): DT and the strongest baseline (IQL)
# trained 3x longer than the candidate cpu budget, with learning curves, on hopper-medium-replay and hopper-medium,
# selection seed 1000 (never reported). Two processes (one per core); each cell has its own run directory.
#   scripts/paper_protocol_check.sh            both halves in the background, logs in runs/paper-check-*.log
#   dt bench report --root runs/paper-check --out docs/results/extra/paper_protocol_check
cd "$(dirname "$0")/.."
check() {
  env OMP_NUM_THREADS=1 .venv/bin/dt bench paper --exp table2 "$@" \
    --cpu.steps 15000 --cpu.warmup-steps 500 --cpu.baseline-steps 60000 --cpu.eval-every 2500 --cpu.save-every 2500 \
    --cpu.eval-episodes 10 --first-seed 1000 --seeds 1 --selection-run --precision bf16 --root runs/paper-check
}
( check --datasets hopper-medium-replay --methods dt iql && check --datasets hopper-medium --methods iql ) \
  > runs/paper-check-a.log 2>&1 &
check --datasets hopper-medium --methods dt > runs/paper-check-b.log 2>&1 &
wait

# Phase 2: the DT runs continued to 30,000 steps (3x a 10,000-step cpu budget) in copies of their run directories
# (a constant learning rate after warmup: the continuation equals a fresh 30,000-step run), then the curves:
#   for d in hopper-medium-replay hopper-medium; do
#     cp -r runs/paper-check/cpu/train/$d/dt/seed1000/run runs/paper-check-30k/$d-dt
#     env OMP_NUM_THREADS=1 .venv/bin/dt train --resume runs/paper-check-30k/$d-dt --steps 30000 &
#   done; wait
#   .venv/bin/python scripts/paper_check_curves.py --out docs/results/extra/paper_protocol_check
