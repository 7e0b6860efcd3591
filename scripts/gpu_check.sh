#!/usr/bin/env bash
# The prepared GPU check of the speed issue (not yet run: no GPU has been lent to a session so far).
# Run through the device tool, from the repo root, with `.whl` carried:
#
#   here, once:  echo /.whl/ >> .git/info/exclude
#                python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#                  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#                  -d .whl gymnasium==1.4.0 farama-notifications mujoco glfw pyopengl etils absl-py
#   device run:  bash scripts/gpu_check.sh   (carry: .whl and src/decision_transformer.egg-info, the package's entry
#                points, without which `bench` is no command there; timeout 600)
#
# It records `dt bench speed --device cuda` and the throughput of a packed sweep (8 small DT runs at once) into
# $OUT, to be copied into docs/performance.md. Under 10 minutes on an H200.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src MUJOCO_GL=egl PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,driver_version --format=csv | tee $OUT/gpu.txt
python3 -m decision_transformer.cli bench speed --device cuda --precision auto --dataset-steps 0 --out $OUT/speed_cuda.json \
  2>&1 | tee $OUT/speed_cuda.log
python3 -m decision_transformer.cli data make hopper-medium-replay
start=$(date +%s)
python3 -m decision_transformer.cli sweep grid --base "train --dataset hopper-medium-replay --steps 2000 --device cuda --precision auto --no-progress" \
  --vary seed=0,1,2,3,4,5,6,7 --jobs 8 --threads-per-job 2 --out /tmp/sweep --no-progress 2>&1 | tee $OUT/sweep.log
echo "8 runs x 2000 steps, packed 8 at a time: $(( $(date +%s) - start )) s" | tee -a $OUT/sweep.log
