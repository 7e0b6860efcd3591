#!/usr/bin/env bash
# Banded attention (attention_window 20, trained on 40-step windows, acting incrementally from key/value caches)
# and bf16 training (autocast) against the standard fp32 model (K 20), on hopper-medium-replay with the demo's
# budget (width 64, 2 layers, 1500 steps, lr 3e-4, warmup 200), seeds 0-2, each evaluated on 10 episodes at
# target 600 (the data's best: 586), bf16 runs evaluated in bf16.
set -eu
cd "$(dirname "$0")/../../../.."
export OMP_NUM_THREADS=1 MUJOCO_GL=egl
OUT=docs/results/extra/banded
COMMON="--dataset hopper-medium-replay --steps 1500 --lr 3e-4 --warmup-steps 200 --embed-dim 64 --n-layer 2 --torch-threads 1 --no-progress"
for seed in 0 1 2; do
  for model in standard banded bf16; do
    run=runs/banded/$model-seed$seed
    [ -f $OUT/$model-seed$seed.json ] && continue
    rm -rf $run
    case $model in
      standard) arch="--context-len 20"; prec=fp32;;
      banded) arch="--context-len 40 --attention-window 20"; prec=fp32;;
      bf16) arch="--context-len 20 --precision bf16"; prec=bf16;;
    esac
    /usr/bin/time -f "%e" -o $OUT/$model-seed$seed.train_seconds nice -n 10 .venv/bin/dt train $COMMON $arch --seed $seed --out $run
    /usr/bin/time -f "%e" -o $OUT/$model-seed$seed.eval_seconds nice -n 10 .venv/bin/dt eval $run --targets 600 --num-episodes 10 --seed 10000 --precision $prec --no-progress --json $OUT/$model-seed$seed.json
  done
done
