#!/bin/bash
# One video pair per dataset for docs/results/paper.md: DT seed 0 of table2 (the cpu protocol's run) at a low
# target and at the data's best return, one episode each. `dt bench report` links what it finds under
# docs/results/videos/. Needs the `video` extra (imageio-ffmpeg); MuJoCo renders offscreen with MUJOCO_GL=egl.
cd "$(dirname "$0")/.."
set -e
for run in runs/paper/cpu/train/*/dt/seed0/run; do
    dataset=$(basename "$(dirname "$(dirname "$(dirname "$run")")")")
    [ -f "runs/paper/cpu/table2/$dataset/dt/seed0/result.json" ] || continue  # finished runs only
    out=docs/results/videos/$dataset
    [ -n "$(ls "$out"/*.mp4 2>/dev/null)" ] && continue
    best=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['data']['return_max'])" \
        "runs/paper/cpu/table2/$dataset/dt/seed0/result.json")
    low=$(.venv/bin/python -c "print(round($best / 4))")
    MUJOCO_GL=egl OMP_NUM_THREADS=1 .venv/bin/dt eval "$run" --targets "$low" "$best" --num-episodes 1 \
        --video "$out" --video-episodes 1 --no-progress
done
