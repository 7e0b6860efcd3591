"""Summarise the banded / bf16 / standard study (run.sh): scores per seed, mean and sample std, training
times, and the loss curves (banded_loss.png). Writes summary.json and summary.md beside this file."""
import json
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "../../../.."))
sys.path.insert(0, os.path.join(root, "src"))
from decision_transformer.common.atomic import write_json, write_text  # noqa: E402
from decision_transformer.common.metrics import read_metrics  # noqa: E402
from decision_transformer.scores import sample_std  # noqa: E402

models = {"standard": "standard (K 20, fp32)", "bf16": "standard, bf16 training and acting",
          "banded": "banded (window 20, trained on K 40), incremental acting"}
out, rows, curves = {}, [], {}
for m, label in models.items():
    per = []
    for seed in (0, 1, 2):
        f = os.path.join(here, f"{m}-seed{seed}.json")
        if not os.path.exists(f):
            continue
        r = json.load(open(f))["results"][0]
        t = float(open(os.path.join(here, f"{m}-seed{seed}.train_seconds")).read().split()[-1])
        e = float(open(os.path.join(here, f"{m}-seed{seed}.eval_seconds")).read().split()[-1])
        per.append({"seed": seed, "return_mean": r["return_mean"], "suite_score": r["normalized"]["suite:hopper-medium-replay"]["mean"],
                    "d4rl_score": r["normalized"]["d4rl"]["mean"], "train_s": t, "eval_s": e,
                    "eval_env_steps": int(sum(r["lengths"]))})
        curves.setdefault(m, []).append([[x["step"], x["train/loss"]] for x in read_metrics(os.path.join(root, "runs", "banded", f"{m}-seed{seed}")) if "train/loss" in x])
    if not per:
        continue
    ret = [p["return_mean"] for p in per]
    out[m] = {"label": label, "per_seed": per, "return_mean": float(np.mean(ret)), "return_sample_std": sample_std(ret),
              "suite_score_mean": float(np.mean([p["suite_score"] for p in per])),
              "suite_score_sample_std": sample_std([p["suite_score"] for p in per]),
              "train_s_mean": float(np.mean([p["train_s"] for p in per])),
              "eval_steps_per_s": float(np.sum([p["eval_env_steps"] for p in per]) / np.sum([p["eval_s"] for p in per]))}
    rows.append(f"| {label} | {out[m]['return_mean']:.1f} ± {out[m]['return_sample_std']:.1f} | "
                f"{out[m]['suite_score_mean']:.1f} ± {out[m]['suite_score_sample_std']:.1f} | "
                + ", ".join(f"{p['return_mean']:.0f}" for p in per)
                + f" | {out[m]['train_s_mean']:.0f} | {out[m]['eval_steps_per_s']:.0f} |")
write_json(os.path.join(here, "summary.json"), out)
table = ("| model | return at target 600 (mean ± sample std over seeds) | suite-normalized | per seed | train s | eval env steps/s (incl. start-up) |\n"
         "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
write_text(os.path.join(here, "summary.md"), table)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for (m, cs), color in zip(curves.items(), ("C0", "C1", "C2")):
        for i, c in enumerate(cs):
            if c:
                a = np.array(c)
                ax.plot(a[:, 0], a[:, 1], color=color, alpha=0.8, label=models[m] if i == 0 else None)
    ax.set_xlabel("step"); ax.set_ylabel("training loss (mean of 100 steps)"); ax.set_yscale("log"); ax.legend(fontsize=7)
    fig.tight_layout(); fig.savefig(os.path.join(here, "banded_loss.png"), dpi=110)
except ImportError:
    pass
print(table)
