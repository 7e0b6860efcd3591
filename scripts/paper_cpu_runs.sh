#!/bin/bash
# The paper's gym experiments under the `cpu` protocol, in priority order, two cells at a time (`--jobs 2`).
# Resumable and idempotent: rerun the script in a later sitting and it skips finished cells and continues killed ones
# from their checkpoints. Then: dt bench report --root runs/paper --out docs/results
# Hopper's data are generation 3 (SAC); Walker2d and HalfCheetah wait for their SAC runs (issue 13) so that their
# cells are not made stale by the generation bump; Reacher's data are final.
cd "$(dirname "$0")/.."
paper() { env OMP_NUM_THREADS=1 .venv/bin/dt bench paper --root runs/paper --precision bf16 --jobs 2 --no-progress "$@"; }
MR=hopper-medium-replay
set -e
paper --exp table2 --datasets $MR --methods dt bc mlp-bc td3bc iql cql
paper --exp fig4 --datasets $MR
paper --exp context --datasets $MR
paper --exp table3 --datasets $MR hopper-medium
paper --exp table7 --datasets hopper-medium-replay-delayed hopper-medium-delayed hopper-medium-expert-delayed \
    hopper-medium hopper-medium-expert
paper --exp table2 --datasets hopper-medium hopper-medium-expert
paper --exp table2 --datasets reacher-medium-replay reacher-medium reacher-medium-expert
paper --exp table3 --datasets reacher-medium-replay reacher-medium
