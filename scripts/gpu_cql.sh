#!/usr/bin/env bash
# CQL's paper cells on a lent GPU. On one core of the 2-core box CQL's fixed-weight setting runs 0.27 s a step, so a
# 100,000-step cell takes ~7.5 h and three sittings (docs/results/README.md, "Why CQL's cells are slow"); on a GPU it
# is minutes. Not run yet: no sitting has had a device since this script was written. Three steps:
#
#   here:    PATH=.venv/bin:$PATH bash scripts/gpu_cql.sh prepare
#            wheels for the device image's Python 3.12 into .whl/ (d3rlpy 2.8.0 and what the image lacks: gym,
#            gymnasium, mujoco, structlog, dataclasses-json, ...; ~23 MB), ignored through .git/info/exclude.
#   device:  bash scripts/gpu_cql.sh run [dt bench paper options]
#            through the device tool, carry [".whl", "src/decision_transformer.egg-info"] (the package's entry points:
#            `dt bench`, the suite datasets), timeout_s 600. Default cells: CQL on hopper-medium-replay, dense and
#            delayed, seeds 0-2 (Table 7's, which Table 2 shares; dense seed 0 is archived, so skipped), two at a
#            time (--jobs 2). Every 2,500 steps a
#            chunk is saved, so a run cut by the limit resumes: carry `runs` back in the next call. $OUT gets
#            runs.tgz (the runs' spec, d3rlpy chunk, metrics and the cells' result.json) and run.log.
#   here:    bash scripts/gpu_cql.sh collect FILES_AT [ROOT]
#            unpacks runs.tgz into ROOT (default runs/paper, or the queue's /work/queue/runs/paper), leaving any run
#            already there that is as far or further; then report as for any cell (dt bench report ...).
#
# The cells are the cpu protocol's, unchanged (the spec holds no device); their result.json records the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(d3rlpy==2.8.0 gymnasium==1.4.0 farama-notifications==0.0.6 mujoco==4.0.1 mujoco-core==4.0.1
        mujoco-studio==4.0.1 glfw==2.11.0 pyopengl==3.1.10 structlog==26.1.0 dataclasses-json==0.6.7
        marshmallow==3.26.2 gym-notices==0.1.0)
case "${1:-}" in
  prepare)
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo /.whl/ >> "$exclude"
    mkdir -p .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    python3 -m pip wheel -q --no-deps -w .whl gym==0.26.2  # an sdist only: pure Python, built here
    test -f src/decision_transformer.egg-info/entry_points.txt || { echo "run make install first (entry points)"; exit 1; }
    du -sh .whl ;;
  run)
    shift
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD/src MUJOCO_GL=egl PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
    OUT=${OUT:-/tmp/out}
    nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/run.log"
    args=("$@")
    [ ${#args[@]} -gt 0 ] || args=(--exp table7 --datasets hopper-medium-replay hopper-medium-replay-delayed
                                   --methods cql --seeds 3)
    # a time limit below the call's, so that the chunks saved so far are packed and come back
    timeout 480 python3 -m decision_transformer.cli bench paper --root runs/paper --device cuda --jobs 2 \
      --no-progress "${args[@]}" 2>&1 | tee -a "$OUT/run.log" || echo "stopped (exit $?): resume next call" | tee -a "$OUT/run.log"
    tar czf "$OUT/runs.tgz" --exclude='*/tb/*' --exclude='.lock' runs/paper
    ls -la "$OUT" ;;
  collect)
    src=${2:?FILES_AT of the device call}; root=${3:-runs/paper}
    tmp=$(mktemp -d); tar xzf "$src/runs.tgz" -C "$tmp"
    python3 - "$tmp/runs/paper" "$root" <<'EOF'
import json, shutil, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
step = lambda run: json.loads((run / "d3rlpy" / "progress.json").read_text())["step"] if (run / "d3rlpy" / "progress.json").exists() else -1
for spec in sorted(src.glob("*/train/*/*/seed*/train_spec.json")):
    run = spec.parent
    there = dst / run.relative_to(src)
    if there.exists() and step(there) >= step(run):
        print(f"kept {there} (as far or further)")
        continue
    if there.exists():
        shutil.rmtree(there)
    shutil.copytree(run, there)
    print(f"{there}: step {step(run):,}")
for result in sorted(src.glob("*/*/*/*/seed*/result.json")):
    rel = result.relative_to(src)
    if rel.parts[1] != "train" and not (dst / rel).exists():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result, dst / rel)
        print(f"cell {rel.parent}")
EOF
    rm -rf "$tmp" ;;
  *) echo "usage: bash scripts/gpu_cql.sh prepare | run [dt bench paper options] | collect FILES_AT [ROOT]"; exit 2 ;;
esac
