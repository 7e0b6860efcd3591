#!/usr/bin/env bash
# CQL's selection budget on Key-to-Door, on the selection seeds 10-12 (never reported), one factor at a time
# from the base (lr 3e-4, target copies every 100 steps, i.e. 100 copies in 10k steps where the old setting
# made 10, 1-step targets): lr 1e-3 (as DT's), and 4-step targets. Batch 256 (DT's). Learning curves every
# 2500 steps up to 10000: the steps are chosen too. (DT's budget: two learning rates, two batch sizes, curves.)
set -u
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=1
for cfg in "0.0003 100 1" "0.001 100 1" "0.0003 100 4"; do
  set -- $cfg
  out=docs/results/extra/cql_selection/lr$1_tu$2_n$3
  [ -f $out/keytodoor.json ] && grep -q '"partial": false' $out/keytodoor.json && continue
  nice -n 10 .venv/bin/dt bench keytodoor --methods cql --first-seed 10 --seeds 3 --selection-run --no-critic \
    --cql.batch-size 256 --cql.lr $1 --cql.target-update-interval $2 --cql.n-steps $3 --cql.steps 10000 \
    --cql-eval-every 2500 --out $out --runs-dir runs/bench/cql-sel --no-progress > $out.log 2>&1
done
