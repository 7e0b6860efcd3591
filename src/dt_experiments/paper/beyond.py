"""The `beyond` experiment of `dt bench paper` (docs/beyond.md): on the gym medium-replay datasets, our DT at the
data's best return (`dt`), DT with a Reinformer-style return head acting on its own proposals (`dt-auto`, targets
kind "auto": evaluated with `--targets auto` and, for comparison, at the data's best return), DT with ODT's
stochastic policy trained offline (`dt-stochastic`), the Online Decision Transformer (`odt`: that same
dt-stochastic run, then `online.finetune` for the protocol's online budget, `BeyondSettings`), and the return head
beside the stochastic policy (`dt-auto-stochastic`: Reinformer's objective, acting as dt-auto). `beyond-fig4` sweeps
dt and dt-stochastic to twice the data's best return (BeyondSettings.fig4_range).

An odt cell's training run directory holds the fine-tuned run (odt/); its offline run is the dt-stochastic cell's
(trained by whichever of the two cells comes first): rerunning the cell resumes whichever was killed (the same
FinetuneConfig into the same directory continues it). Its result adds
`offline_score` (the pretrained model's suite-normalized score at the evaluation target, `offline_return` raw),
`online_steps`, and `curve` = the fine-tuning evaluations [[online env steps, mean return], ...] (`curve_scores`:
the same, suite-normalized); its `score` is the fine-tuned model's, evaluated like every other cell.

The report (`report.py`) writes experiments.beyond[DATASET][METHOD] like the other tables, odt entries with
`offline_scores`, `online_steps` and `curves_scores`, a paper.md section (`beyond_section`) and paper_beyond_odt.png:
ODT's score against online env steps per dataset, with DT's offline score and TD3+BC's (table2's cells, when
present) as horizontal lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from decision_transformer.common.atomic import write_json
from .names import (AUTO_TARGET_METHODS, NORMALIZED_RETURN_METHODS, ODT_METHODS, PAPER_GYM_TARGETS, STOCHASTIC_METHODS,
                    UNTRAINED_HEAD_METHODS, env_of, is_atari)
from .scoring import scores

if TYPE_CHECKING:
    from decision_transformer.data.trajectories import TrajectoryDataset
    from .config import PaperBenchConfig
    from .methods import Plan

SUMMARY = "odt_summary.json"
ODT_PLOT = "paper_beyond_odt.png"


def model_fields(cfg: PaperBenchConfig, method: str) -> dict[str, Any]:
    """DTConfig fields a beyond method sets on top of our DT's: a return head (AUTO_TARGET_METHODS; untrained for
    UNTRAINED_HEAD_METHODS, its loss normalized for NORMALIZED_RETURN_METHODS), ODT's stochastic policy
    (STOCHASTIC_METHODS; odt fine-tunes the dt-stochastic run, methods._train_ours), or both."""
    fields: dict[str, Any] = {}
    if method in AUTO_TARGET_METHODS + UNTRAINED_HEAD_METHODS:
        fields.update(return_head="expectile", return_expectile=cfg.beyond.return_expectile)
    if method in UNTRAINED_HEAD_METHODS:
        fields["return_head_weight"] = 0.0
    if method in NORMALIZED_RETURN_METHODS:
        fields["return_loss_normalized"] = True
    if method in STOCHASTIC_METHODS:
        fields["stochastic_policy"] = True
    return fields


def online_settings(cfg: PaperBenchConfig, dataset: str, method: str) -> dict[str, Any]:
    """The FinetuneConfig fields of an ODT_METHODS cell's online phase (its spec's "online"): the protocol's budget,
    and for odt-paper-targets its evaluation target, the paper's gym target (PAPER_GYM_TARGETS; exploration at twice
    it, FinetuneConfig's default). odt's is the cell's first target (the data's best return in `beyond`)."""
    online = dict(cfg.beyond.online(cfg.training_protocol))
    if method == "odt-paper-targets":
        online["eval_target"] = PAPER_GYM_TARGETS[env_of(dataset)][0]
    return online


def finetune_cell(p: Plan, data: TrajectoryDataset, eval_target: float, pretrained: Path) -> tuple[Any, list]:
    """Fine-tune the cell's pretrained run online (or resume, or load the finished fine-tuning) into
    RUN_DIR/odt, evaluating at `eval_target` unless the cell's spec fixes its own (`online_settings`); returns (the
    fine-tuned RolloutPolicy, its evaluation curve) and keeps the summary in RUN_DIR/odt_summary.json for the cell."""
    from decision_transformer.evaluate import RolloutPolicy
    from decision_transformer.online import FinetuneConfig, finetune

    cfg, online = p.cfg, {"eval_target": float(eval_target), **p.spec["online"]}
    fcfg = FinetuneConfig(run_dir=str(pretrained), out=str(p.path / "odt"), env_id=data.env_id,
                          eval_episodes=p.budget.eval_episodes, save_every=online["eval_every"],
                          max_episode_steps=cfg.max_episode_steps, seed=p.seed, device=cfg.device,
                          torch_threads=cfg.torch_threads, progress=False, **online)
    run, summary = finetune(fcfg, offline=data)
    write_json(p.path / SUMMARY, summary)
    return RolloutPolicy.from_run(run), summary["curve"]


def finetune_seconds(p: Plan) -> float | None:
    """The cell's fine-tuning wall seconds over every sitting (None for a summary written before they were kept)."""
    f = p.path / SUMMARY
    return json.loads(f.read_text()).get("seconds") if f.exists() else None


def odt_result(p: Plan, env_id: str) -> dict[str, Any]:
    """The odt cell's extra fields from its run's fine-tuning summary."""
    summary = json.loads((p.path / SUMMARY).read_text())
    label = f"suite:{p.base}"

    def score(value: float | None) -> float | None:
        return None if value is None else scores([value], env_id, p.base).get(label)

    return {"offline_return": summary["offline_score"], "offline_score": score(summary["offline_score"]),
            "online_steps": int(summary["online_steps"]), "curve": summary["curve"],
            "curve_scores": [[s, score(v)] for s, v in summary["curve"]],
            "finetune_targets": [summary["eval_target"], summary["online_target"]]}


def entry_extras(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """What a target-free (AUTO_TARGET_METHODS) or odt report entry adds to the table entry (report._entry); {} for
    other cells. Target-free:
    `scores_at_best`, each seed's score at the data's best return (its second target) beside `scores` (auto)."""
    if cells[0]["method"] in AUTO_TARGET_METHODS and all(len(c.get("per_target") or []) > 1 for c in cells):
        label = "gamer" if is_atari(cells[0]["dataset"]) else f"suite:{cells[0]['dataset']}"
        return {"scores_at_best": [c["per_target"][1]["scores"].get(label) for c in cells]}
    if cells[0]["method"] not in ODT_METHODS or "online_steps" not in cells[0]:
        return {}
    return {"offline_scores": [c.get("offline_score") for c in cells],
            "online_steps": [c["online_steps"] for c in cells],
            "curves_scores": [c.get("curve_scores") or [] for c in cells]}


def _mean(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def plot_odt(path: Path, experiments: dict[str, Any]) -> Path | None:
    """ODT's suite-normalized score against online env steps, a panel per dataset (each seed thin, their mean
    thick), with DT's offline score (beyond's dt) and TD3+BC's (table2's td3bc) as horizontal lines."""
    from ..plots import _plt, _save, seeds_text

    per = {d: m for d, m in experiments.get("beyond", {}).items() if m.get("odt", {}).get("curves_scores")}
    if not per:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(per), figsize=(4.6 * len(per), 3.8), squeeze=False)
    for ax, (dataset, methods) in zip(axes[0], per.items()):
        curves = [c for c in methods["odt"]["curves_scores"] if c]
        for c in curves:
            ax.plot([s for s, _ in c], [v for _, v in c], color="C0", alpha=0.3, lw=1)
        n = min(len(c) for c in curves)
        steps = [s for s, _ in curves[0][:n]]
        mean = np.mean([[v for _, v in c[:n]] for c in curves], axis=0)
        ax.plot(steps, mean, color="C0", lw=2, label=f"ODT ({seeds_text(len(curves))})")
        for label, entry, color in (("DT offline", methods.get("dt"), "C1"),
                                    ("TD3+BC", experiments.get("table2", {}).get(dataset, {}).get("td3bc"), "C2")):
            level = _mean((entry or {}).get("scores", []))
            if level is not None:
                ax.axhline(level, color=color, ls="--", label=f"{label} ({level:.1f})")
        ax.set_xlabel("online env steps")
        ax.set_ylabel("suite-normalized score")
        ax.set_title(dataset, fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def beyond_section(per: dict[str, dict[str, Any]], table: str) -> str:
    """paper.md's text under the beyond table: what each column is, ODT's offline -> online scores, the plot."""
    lines = ["\n`dt`: our DT at the data's best return. `dt-auto`: DT trained with an expectile return head "
             "(Reinformer), acting on its own proposed returns-to-go (`--targets auto`); the same models at the "
             "data's best return: `scores_at_best` in paper.json. `dt-stochastic`: DT trained offline with ODT's "
             "stochastic policy (tanh-Gaussian, learned temperature), acting with its mean action. `odt`: the "
             "dt-stochastic run fine-tuned online (ODT) for the protocol's online budget; scored after "
             "fine-tuning. `dt-auto-stochastic`: the return head beside the stochastic policy (Reinformer's "
             "objective), acting as dt-auto. `dt-sra` (a diagnostic, when run): dt-auto's model with its return "
             "loss off, acting at DT's targets. See docs/beyond.md.\n"]
    odt = odt_table(per, "odt")
    if odt:
        lines += [odt, f"![ODT score against online env steps]({ODT_PLOT})\n"]
    return table + "\n".join(lines) + "\n"


def odt_table(per: dict[str, dict[str, Any]], method: str) -> str:
    """An ODT method's mean score before (its pretrained run, at its fine-tuning's evaluation target) and after
    fine-tuning, per dataset ('' if it has no cells)."""
    rows = [(d, m[method]) for d, m in per.items() if "offline_scores" in m.get(method, {})]
    if not rows:
        return ""
    lines = [f"| dataset | `{method}` offline score | after fine-tuning | online env steps |", "|---|---|---|---|"]
    for dataset, e in rows:
        off, on = _mean(e["offline_scores"]), _mean(e["scores"])
        lines.append(f"| {dataset} | {'—' if off is None else f'{off:.1f}'} | "
                     f"{'—' if on is None else f'{on:.1f}'} | {', '.join(f'{s:,}' for s in e['online_steps'])} |")
    return "\n".join(lines) + "\n"
