#!/bin/bash
# One video pair per dataset for docs/results/paper.md: DT seed 0 of table2 (the cpu protocol's run) at a quarter of
# the data's best return and at the best, one episode each. `dt bench report` links what it finds under
# docs/results/videos/. Needs the `video` extra (imageio-ffmpeg); MuJoCo renders offscreen with MUJOCO_GL=egl.
cd "$(dirname "$0")/.."
set -e
for result in runs/paper/cpu/table2/*/dt/seed0/result.json; do  # finished cells only
    dataset=$(basename "$(dirname "$(dirname "$(dirname "$result")")")")
    out=docs/results/videos/$dataset
    [ -n "$(ls "$out"/*.mp4 2>/dev/null)" ] && continue
    targets=$(.venv/bin/python -c "import json,sys; b = json.load(open(sys.argv[1]))['data']['return_max']; print(round(b / 4), b)" "$result")
    MUJOCO_GL=egl OMP_NUM_THREADS=1 .venv/bin/dt eval "runs/paper/cpu/train/$dataset/dt/seed0/run" --targets $targets \
        --num-episodes 1 --video "$out" --video-episodes 1 --no-progress
done
