"""How much of the return-to-go R reaches a trained model's R token: the cosine similarity of the token's embedding
(`embed_returns(R) + embed_timestep(t)`, then `embed_ln`: model.py's own embedding, LayerNorm'd or tanh'd as the
run's `embed_norm` says) at each R against the one at R = 92 (breakout-mixed's best episode), at timesteps 0, 100
and 1,000. Where it is ~1, the blocks see the same R token whatever R is, so no target in that range can be told
apart at that token. Usage (run dirs kept by the queue's worktree, not in git; the output, return_token_probe.json,
is; runs named again replace their entries, the others are kept):
    python docs/results/extra/atari_dt_auto_losses/return_token_probe.py NAME=RUN_DIR ..."""
import json
import sys
from pathlib import Path

import torch

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parents[3] / "src"))
from decision_transformer.checkpoint import load_run  # noqa: E402
from decision_transformer.common.atomic import write_json  # noqa: E402

RETURNS = [0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 92.0]
TIMESTEPS = [0, 100, 1000]
torch.set_num_threads(1)
path = here / "return_token_probe.json"
out = {"returns": RETURNS, "reference_return": RETURNS[-1], "cosine": {}}
if path.exists():
    out["cosine"] = json.loads(path.read_text())["cosine"]
for arg in sys.argv[1:]:
    name, run = arg.split("=", 1)
    model = load_run(run).model.eval()
    per_t = {}
    with torch.no_grad():
        for t in TIMESTEPS:
            r = torch.tensor(RETURNS).view(1, -1, 1)
            y = model.embed_ln(model.embed_returns(r) + model.embed_timestep(torch.full((1, len(RETURNS)), t)))[0]
            per_t[str(t)] = [round(float(c), 4) for c in torch.nn.functional.cosine_similarity(y, y[-1:], dim=-1)]
    out["cosine"][name] = per_t
    print(name, per_t)
write_json(path, out)
