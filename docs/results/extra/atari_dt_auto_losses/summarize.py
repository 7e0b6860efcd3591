"""The Breakout training losses behind docs/beyond.md's diagnosis of target-free acting (dt-auto) on Atari: per
method and seed, the action loss (the logged total less return_head_weight times the logged return loss), the
return head's loss and the gradient norm against the step, from the runs' own metrics.jsonl and train_config.json,
copied here into METHOD-seedS/ (dt: Table 1's DT seed 0 retrained under its published spec, the emulated-bf16
control of docs/beyond.md; the others: the atari-beyond cells' training runs, dt-sra's among them: dt-auto's token
order with no return loss). Writes losses.png and summary.json
(each run's last logged action loss, return loss and gradient norm) beside this file:
    python docs/results/extra/atari_dt_auto_losses/summarize.py"""
import json
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parents[3] / "src"))
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from decision_transformer.common.atomic import write_json  # noqa: E402
from decision_transformer.common.metrics import read_metrics  # noqa: E402

COLORS = {"dt": "black", "dt-auto": "tab:red", "dt-auto-normalized": "tab:orange", "dt-sra": "tab:blue"}


def load(run: Path) -> dict:
    name = run.name
    model = json.loads((run / "train_config.json").read_text())["model"]
    weight = model.get("return_head_weight", 0.0) if model.get("return_head", "none") != "none" else 0.0
    rows = [r for r in read_metrics(run) if "train/loss" in r]
    # a return head with weight 0 (dt-sra) is logged but never trained: its loss is left out, not plotted as a curve
    ret = [r.get("train/return_loss") if weight else None for r in rows]
    return {"method": name.rsplit("-seed", 1)[0], "seed": int(name.rsplit("-seed", 1)[1]),
            "steps": [r["step"] for r in rows], "return_loss": ret, "grad_norm": [r["train/grad_norm"] for r in rows],
            "action_loss": [r["train/loss"] - weight * (v or 0.0) for r, v in zip(rows, ret)]}


runs = [load(d) for d in sorted(here.glob("*-seed*")) if d.is_dir()]
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
panels = (("action_loss", "action loss (cross-entropy)", "linear"), ("return_loss", "return head's expectile loss", "log"),
          ("grad_norm", "gradient norm (before clipping at 1.0)", "log"))
for ax, (key, label, scale) in zip(axes, panels):
    seen = set()
    for r in runs:
        pts = [(s, v) for s, v in zip(r["steps"], r[key]) if v is not None]
        if not pts:
            continue
        ax.plot(*zip(*pts), color=COLORS.get(r["method"], "gray"), alpha=0.8,
                label=None if r["method"] in seen else r["method"])
        seen.add(r["method"])
    ax.set_xlabel("training step")
    ax.set_ylabel(label)
    ax.set_yscale(scale)
    ax.grid(alpha=0.3)
axes[0].legend()
fig.suptitle("breakout-mixed, cpu protocol: DT against the target-free variants (one line per seed)")
fig.tight_layout()
fig.savefig(here / "losses.png", dpi=110)
write_json(here / "summary.json", {f"{r['method']}/seed{r['seed']}": {
    "last_step": r["steps"][-1], "action_loss": round(r["action_loss"][-1], 4),
    "return_loss": None if r["return_loss"][-1] is None else round(r["return_loss"][-1], 4),
    "grad_norm": round(r["grad_norm"][-1], 3)} for r in runs})
print(json.dumps(json.loads((here / "summary.json").read_text()), indent=1))
