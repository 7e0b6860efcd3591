#!/bin/bash
# The paper's gym experiments under the `cpu` protocol, in priority order, two cells at a time (`--jobs 2`; `JOBS=1` leaves a core free).
# Resumable and idempotent: rerun the script in a later sitting and it skips finished cells and continues killed ones
# from their checkpoints (`dt bench paper --exp EXP --precision bf16 --status` shows where each cell stands; a cell
# another live process is working on is refused, runlock.py). Then: dt bench report --root runs/paper --out docs/results
# (which also copies the finished cells into docs/results/cells: commit them, runs/ is local)
# Hopper's, Walker2d's and HalfCheetah's data are generation 3 (SAC, issue 13); Reacher's data are final.
# A cell that another experiment's cell already answers (same training run and evaluation) takes its result, and
# BC / %BC on '-delayed' data are their dense runs (they read no per-step reward), so those lines cost nothing.
cd "$(dirname "$0")/.."
paper() { env OMP_NUM_THREADS=1 .venv/bin/dt bench paper --root runs/paper --precision bf16 --jobs "${JOBS:-2}" --no-progress "$@"; }
MR=hopper-medium-replay
set -e
# hopper-medium-replay first: the DT-family cells (30-55 min of one core each), so that DT against BC, Figure 4,
# K=1, %BC and Table 7's DT land first
paper --exp table2 --datasets $MR --methods dt bc mlp-bc
paper --exp fig4 --datasets $MR
paper --exp context --datasets $MR
paper --exp table3 --datasets $MR
paper --exp table7 --datasets $MR-delayed --methods bc pbc10 dt
# Walker2d (generation 3 since 2026-12-01): the second medium-replay set for Table 2, Figure 4 and K=1
W=walker2d-medium-replay
paper --exp table2 --datasets $W --methods dt bc mlp-bc
paper --exp fig4 --datasets $W
paper --exp context --datasets $W
# Table 7's CQL on hopper-medium-replay, dense and delayed, seed 0 (about 3 h a cell on one core: both run at
# once): the paper's sparse-reward finding needs CQL's two 100k-step cells; the dense one is also Table 2's CQL
paper --exp table7 --datasets $MR $MR-delayed --methods cql --seeds 1
# HalfCheetah (generation 3 since 2026-12-01): the third medium-replay set
H=halfcheetah-medium-replay
paper --exp table2 --datasets $H --methods dt bc mlp-bc
paper --exp fig4 --datasets $H
# the TD baselines on hopper-medium-replay: TD3+BC and IQL about 45 min a cell (CQL, about 3.5 h a cell at
# 9 steps/s, comes later: its seed 0 is in, and its Table 7 direction is shown at 20k steps by
# scripts/table7_cql_short.sh), so they come after the DT-family cells of the other medium-replay sets
paper --exp table2 --datasets $MR --methods td3bc iql
# TD3+BC on the other two medium-replay sets (about 13 min a cell on a free core; the strongest method where it
# has run, 2026-12-02), then the TD3+BC budget check (a 300k-step run per dataset, resumable)
paper --exp table2 --datasets $W $H --methods td3bc
bash scripts/paper_baseline_check.sh td3bc
# hopper-medium: Table 2's cheaper methods first (DT and BC, 30-55 min a cell, are also Table 3's and Table 7's
# dense hopper-medium cells; MLP-BC about 5 min, TD3+BC about 15 min), then Table 3's %BC cells on it
paper --exp table2 --datasets hopper-medium --methods dt bc mlp-bc td3bc
paper --exp table3 --datasets hopper-medium
# BEAR (the issue's "too if it runs"; not one of the paper's Table 2 methods), one seed on hopper-medium-replay:
# 13 steps/s on a contended core (2026-12-02), so about 1.5-2 h
paper --exp table2 --datasets $MR --methods bear --seeds 1
# IQL on the other two medium-replay sets (about 35-45 min a cell)
paper --exp table2 --datasets $W $H --methods iql
# CQL's seeds 1-2 on hopper-medium-replay, dense (Table 2) and delayed (Table 7)
paper --exp table2 --datasets $MR --methods cql
paper --exp table7 --datasets $MR-delayed $MR --methods cql
paper --exp table7 --datasets hopper-medium-replay-delayed hopper-medium-delayed hopper-medium-expert-delayed \
    hopper-medium hopper-medium-expert
paper --exp table2 --datasets hopper-medium hopper-medium-expert
paper --exp table2 --datasets reacher-medium-replay reacher-medium reacher-medium-expert
paper --exp table3 --datasets reacher-medium-replay reacher-medium
