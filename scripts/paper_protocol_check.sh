#!/bin/bash
# protocol check for `dt bench paper --protocol cpu` (selection seed 1000): DT and IQL at 3x the candidate budget
cd /work/main
.venv/bin/dt bench paper --exp table2 --datasets hopper-medium-replay hopper-medium --methods dt iql \
  --cpu.steps 15000 --cpu.warmup-steps 500 --cpu.baseline-steps 60000 --cpu.eval-every 2500 --cpu.save-every 2500 \
  --cpu.eval-episodes 10 --first-seed 1000 --seeds 1 --selection-run --precision bf16 --root runs/paper-check
