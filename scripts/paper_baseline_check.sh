#!/bin/bash
# The protocol check's baseline half (issue 14): is the strongest baseline's score at the cpu budget within a few
# points of a run 3x longer? Selection seed 1000 (never reported), one process per core, each resumable (rerun the
# script; finished cells are skipped).
#   bash scripts/paper_baseline_check.sh mlp-bc   MLP-BC (the strongest baseline of the cpu cells so far on
#       hopper- and walker2d-medium-replay): one 30k-step run per dataset with a curve every 2,500 steps. Its
#       learning rate is constant after warmup, so the 10k point is the score of a 10k-step run. ~30 min in all.
#       Then: dt bench report --root runs/paper-check-mlpbc --out docs/results/extra/baseline_check_mlpbc
#   bash scripts/paper_baseline_check.sh iql      IQL, 100k against 300k steps on hopper-medium-replay. Its actor
#       learning rate is cosine-annealed over the whole run, so a curve point is not the score of a shorter run:
#       both budgets are trained in full. About 45 min (100k) and 2.2 h (300k) on one core of the 2-core box.
#       Then, for N in 100k 300k:
#       dt bench report --root runs/paper-check-iql-$N --out docs/results/extra/baseline_check_iql_$N
#   bash scripts/paper_baseline_check.sh td3bc    TD3+BC (the strongest baseline on walker2d-medium-replay once its
#       cells came in, 2026-12-02): one 300k-step run per dataset (hopper- and walker2d-medium-replay) with a
#       10-episode evaluation every 25k steps. Its learning rates are constant, so the 100k point is the score of a
#       100k-step run (the cpu budget) and the 300k point that of a run 3x longer. ~40 min a run on a free core.
#       Then: dt bench report --root runs/paper-check-td3bc --out docs/results/extra/baseline_check_td3bc
#   bash scripts/paper_baseline_check.sh peer-dt  our DT and d3rlpy's (d3rlpy-dt) on hopper-medium-replay, 30k steps
#       (3x the cpu budget) with a 10-episode evaluation at the data's best return every 2,500 steps: where each
#       stands at 10k and whether the peer catches up later (the results issue's "learning curves for both at 10k and
#       30k steps"). Warmup and lr are constant after 500 steps, so the 10k point is a 10k-step run's score. ~1.5 h.
#       Then: dt bench report --root runs/paper-check-peer-dt --out docs/results/extra/peer_dt_curves
cd "$(dirname "$0")/.."
paper() {
  env OMP_NUM_THREADS=1 .venv/bin/dt bench paper --exp table2 --first-seed 1000 --seeds 1 --selection-run \
    --precision bf16 --no-progress "$@"
}
iql() {
  local steps=$1; shift
  paper --datasets hopper-medium-replay --methods iql --cpu.baseline-steps "$steps" --cpu.eval-every 25000 \
    --root "runs/paper-check-iql-$((steps / 1000))k" "$@"
}
mkdir -p runs
case "${1:-}" in
  mlp-bc)
    paper --datasets hopper-medium-replay walker2d-medium-replay --methods mlp-bc --cpu.steps 30000 \
      --cpu.eval-every 2500 --root runs/paper-check-mlpbc > runs/paper-check-mlpbc.log 2>&1 ;;
  iql)
    iql 100000 > runs/paper-check-iql-100k.log 2>&1 &
    iql 300000 > runs/paper-check-iql-300k.log 2>&1 &
    wait ;;
  cql)  # CQL at d3rlpy's published fixed-weight setting: 300k steps (3x) on hopper-medium-replay, selection seed
        # 1000, a 10-episode evaluation every 25k (constant learning rates: the 100k point is a 100k-step run's)
    paper --datasets hopper-medium-replay --methods cql --cpu.baseline-steps 300000 --cpu.eval-every 25000 \
      --root runs/paper-check-cql > runs/paper-check-cql.log 2>&1 ;;
  peer-dt)  # both at once, or one: peer-dt dt | peer-dt d3rlpy-dt
    for m in ${2:-dt d3rlpy-dt}; do
      paper --datasets hopper-medium-replay --methods $m --cpu.steps 30000 --cpu.eval-every 2500 \
        --root runs/paper-check-peer-dt > runs/paper-check-peer-dt-$m.log 2>&1 &
    done
    wait ;;
  td3bc)
    for d in hopper-medium-replay walker2d-medium-replay; do
      paper --datasets $d --methods td3bc --cpu.baseline-steps 300000 --cpu.eval-every 25000 \
        --root runs/paper-check-td3bc > runs/paper-check-td3bc-$d.log 2>&1 &
    done
    wait ;;
  *) echo "usage: bash scripts/paper_baseline_check.sh mlp-bc|iql|td3bc|peer-dt|cql" >&2; exit 2 ;;
esac
