"""`dt bench report`: finished cells -> docs/results/paper.json, paper.md and PNGs.

paper.json:

    {"protocol": P, "commit": SHA, "machine": TEXT, ...,
     "experiments": {EXP: {DATASET: {METHOD: {"scores": [suite-normalized score per seed],
                                              "returns": [mean return per seed], "dataset_generation": N, ...}}}}}

`scores` are under the suite's reference (`score_label`), `scores_d4rl` under D4RL's (None for Reacher), both at
the cell's first target (DT: the data's best return). fig4 cells hold instead `targets`, `achieved` (one list
of mean returns per seed, aligned with targets), `achieved_mean`, and `pearson`: the correlation of
achieved_mean with the targets inside the data's return range.

The Atari experiments (atari-table1/4/5, atari-fig4) go to atari.json and atari.md instead, laid out as
`{"experiments": {table1|table4|table5: {GAME: {METHOD: {"scores": [gamer-normalized per seed], "returns": [...],
"dataset": NAME, ...}}}}}`, at the paper's fixed target per game; `fig4: {GAME: {"dt": {...}}}` is laid out as
the gym fig4 entries (Figure 4's top row, atari_fig4_GAME.png).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import write_json, write_text
from ...scores import mean_std_text, sample_std
from ..common import git_commit, machine
from ..plots import _plt, _save
from .config import (ATARI_EXPERIMENTS, EXPERIMENTS, FIG4_EXPERIMENTS, GYM_EXPERIMENTS, METHODS, PaperBenchConfig,
                     experiment_cells)
from .paper_numbers import paper_number
from .scoring import pearson_in_range

TITLES = {"table2": "Table 2: D4RL-style datasets, DT against BC, MLP-BC and TD baselines",
          "table3": "Table 3: DT against %BC (pbc10/25/40; bc is 100%BC)",
          "table7": "Table 7: delayed (sparse) rewards ('-delayed' datasets) beside dense (BC and %BC read no "
                    "per-step reward: their delayed cells are their dense runs, the paper's 'agnostic' columns)",
          "fig4": "Figure 4: achieved return against target return (medium-replay)",
          "context": "Context length: K=1 (dt-k1) against K=20 (dt)",
          "atari-table1": "Table 1: DT against BC and CQL (gamer-normalized)",
          "atari-table4": "Table 4: DT against %BC (pbc10/25/40; bc is 100%BC; gamer-normalized)",
          "atari-table5": "Table 5: context length, K=1 (dt-k1) against the protocol's K (dt; gamer-normalized)",
          "atari-fig4": "Figure 4 (top): achieved return against target return (raw game score)"}


def _cell_files(root: str | Path, protocol: str) -> dict[str, Path]:
    """EXP/DATASET/METHOD/seedK -> its result.json under ROOT/PROTOCOL."""
    base = Path(root) / protocol
    return {p.parent.relative_to(base).as_posix(): p for exp in EXPERIMENTS
            for p in sorted((base / exp).glob("*/*/seed*/result.json"))}


def collect(root: str | Path, protocol: str, archive: str | Path | None = None) -> list[dict[str, Any]]:
    """Every finished cell's result under ROOT/PROTOCOL/EXP/DATASET/METHOD/seedK/result.json and, for cells not
    there, under ARCHIVE (same layout); ROOT's copy wins, so a rerun cell replaces its archived result."""
    files = {**(_cell_files(archive, protocol) if archive else {}), **_cell_files(root, protocol)}
    return [json.loads(files[k].read_text()) for k in sorted(files)]


def archive_cells(root: str | Path, protocol: str, archive: str | Path) -> int:
    """Copy ROOT's finished cells into ARCHIVE (atomically, replacing older copies); returns how many changed."""
    changed = 0
    for key, src in _cell_files(root, protocol).items():
        dst = Path(archive) / protocol / key / "result.json"
        text = src.read_text()
        if not dst.exists() or dst.read_text() != text:
            write_text(dst, text)
            changed += 1
    return changed


def _entry(cells: list[dict[str, Any]]) -> dict[str, Any]:
    cells = sorted(cells, key=lambda c: c["seed"])
    generations = {c["dataset_generation"] for c in cells}
    if len(generations) > 1:
        raise ValueError(f"{cells[0]['exp']}/{cells[0]['dataset']}/{cells[0]['method']}: seeds on dataset "
                         f"generations {sorted(generations)}; rerun the stale cells")
    common = {"dataset_generation": generations.pop(), "seeds": [c["seed"] for c in cells],
              "train_seconds": [c["train_seconds"] for c in cells], "eval_seconds": [c["eval_seconds"] for c in cells]}
    if cells[0]["exp"] in FIG4_EXPERIMENTS:
        achieved = [c["achieved"] for c in cells]
        mean = np.mean(achieved, axis=0).tolist()
        lo, hi = cells[0]["data"]["return_min"], cells[0]["data"]["return_max"]
        return {"targets": cells[0]["targets"], "achieved": achieved, "achieved_mean": mean,
                "pearson": pearson_in_range(cells[0]["targets"], mean, lo, hi),
                "pearson_per_seed": [c["pearson"] for c in cells], "data_return_range": [lo, hi], **common}
    label = "gamer" if cells[0]["exp"] in ATARI_EXPERIMENTS else f"suite:{cells[0]['dataset'].removesuffix('-delayed')}"
    return {"scores": [c["score"] for c in cells], "scores_d4rl": [c["score_d4rl"] for c in cells],
            "returns": [c["return"] for c in cells], "score_label": label,
            "target": (cells[0]["targets"] or [None])[0], "data_return_range": [cells[0]["data"]["return_min"],
                                                                              cells[0]["data"]["return_max"]],
            "curves": [c["curve"] for c in cells if c.get("curve")], **common}


def aggregate(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["exp"], r["dataset"], r["method"]), []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (exp, dataset, method), cells in groups.items():
        out.setdefault(exp, {}).setdefault(dataset, {})[method] = _entry(cells)
    return out


def compute_cost(results: list[dict[str, Any]]) -> dict[str, float]:
    """Training hours over distinct training runs (shared between experiments; a cell that took another's result,
    `same_run_as`, cost nothing) and evaluation hours."""
    results = [r for r in results if not r.get("same_run_as")]
    train = {(r["dataset"], r["method"], r["seed"]): r["train_seconds"] for r in results}
    evals = {(r["dataset"], r["method"], r["seed"], json.dumps(r["targets"])): r["eval_seconds"] for r in results}
    return {"train_hours": round(sum(train.values()) / 3600, 3), "eval_hours": round(sum(evals.values()) / 3600, 3),
            "training_runs": len(train)}


def _fmt(values: list[float | None]) -> str:
    v = [x for x in values if x is not None]
    return f"{mean_std_text(float(np.mean(v)), sample_std(v), len(v))} (n={len(v)})" if v else "—"


def score_table(exp: str, per_dataset: dict[str, dict[str, Any]], key: str, with_paper: bool) -> str:
    methods = [m for m in METHODS if any(m in per for per in per_dataset.values())]
    lines = ["| dataset | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for dataset, per in per_dataset.items():
        cells = []
        for m in methods:
            cell = _fmt(per[m][key]) if m in per else "—"
            paper = paper_number(exp, dataset, m) if with_paper else None
            cells.append(cell + (f" [paper {paper:g}]" if paper is not None else ""))
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def fig4_section(per_dataset: dict[str, dict[str, Any]], prefix: str = "paper_fig4") -> str:
    """The Figure-4 table, one row per dataset, linking PREFIX_DATASET.png."""
    lines = ["| dataset | data returns | targets | Pearson (in range, seed mean) | per seed | plot |", "|---" * 6 + "|"]
    for dataset, per in per_dataset.items():
        e = per.get("dt")
        if e is None:
            continue
        lo, hi = e["data_return_range"]
        p = "—" if e["pearson"] is None else f"{e['pearson']:.3f}"
        seeds = ", ".join("—" if x is None else f"{x:.3f}" for x in e["pearson_per_seed"])
        lines.append(f"| {dataset} | {lo:.0f} .. {hi:.0f} | {len(e['targets'])}: {e['targets'][0]:.0f} .. "
                     f"{e['targets'][-1]:.0f} | {p} | {seeds} | ![]({prefix}_{dataset}.png) |")
    return "\n".join(lines) + "\n"


def markdown(report: dict[str, Any]) -> str:
    parts = [f"# The paper's continuous-control results on this suite (protocol `{report['protocol']}`)\n",
             f"Commit {report['commit'][:10]}, {report['machine']}, report made {report['date']}. Scores: mean ± "
             "sample std (n-1) over seeds of the per-seed mean normalized score, at the data's best return for DT. "
             "`[paper X]` is the paper's D4RL-normalized number on D4RL's data: compare orderings and gaps.\n",
             f"Compute: {report['compute']['train_hours']:.2f} h training ({report['compute']['training_runs']} runs, "
             f"shared between experiments), {report['compute']['eval_hours']:.2f} h evaluation.\n"]
    for exp in GYM_EXPERIMENTS:
        per = report["experiments"].get(exp)
        if not per:
            parts.append(f"## {TITLES[exp]}\n\nNo finished cells (run `dt bench paper --exp {exp}`).\n")
            continue
        parts.append(f"## {TITLES[exp]}\n")
        if exp == "fig4":
            parts.append(fig4_section(per))
        else:
            parts.append(f"Suite-normalized (this suite's random policy = 0, its expert = 100: {_expert_learners()}):"
                         "\n\n" + score_table(exp, per, "scores", True))
            parts.append("\nD4RL-normalized (D4RL's Hopper / Walker2d / HalfCheetah references; none for Reacher):\n\n"
                         + score_table(exp, per, "scores_d4rl", True))
        parts.append(not_run_section(exp, per))
    return "\n".join(parts)


def _kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in d.items())


GYM_SETTINGS_NOTE = (
    "Budget: `steps`, `batch_size`, `lr`, `warmup_steps` for the transformers and MLP-BC, `baseline_steps` for the "
    "d3rlpy baselines, `eval_episodes` per target (the last evaluation, not the best). The TD baselines are d3rlpy "
    "2.8.0 (the `[baselines]` extra) with d3rlpy's published D4RL settings (its `reproductions/offline/*.py` "
    "scripts, cited per field in `bench/paper/baselines.py`), at "
    "`baseline_steps` instead of the scripts' 500k; CQL's `conservative_weight_medium` applies to `*-medium` data, "
    "`conservative_weight` to the rest.")
ATARI_SETTINGS_NOTE = (
    "Budget: the transformers' `steps`, `batch_size`, optimiser and `context_len` (`pong_context_len` for Pong), "
    "`baseline_steps` for CQL, `eval_episodes` per cell capped at `max_episode_steps`. CQL is d3rlpy 2.8.0's "
    "DiscreteCQL with its published Atari settings (`reproductions/offline/discrete_cql.py`, cited in "
    "`bench/paper/baselines.py`), at `baseline_steps`.")


def settings_section(results: list[dict[str, Any]], note: str) -> str:
    """The budget and each method's model / d3rlpy settings, as the finished cells recorded them (their specs), so
    the report states what its numbers were trained with; a method whose cells differ lists each variant with the
    datasets it was used on."""
    if not results:
        return ""
    precisions = sorted({r["spec"]["precision"] for r in results if "precision" in r["spec"]})  # d3rlpy's: fp32
    variants: dict[str, dict[str, list[str]]] = {}  # method -> settings text -> datasets
    for r in sorted(results, key=lambda r: METHODS.index(r["method"]) if r["method"] in METHODS else len(METHODS)):
        on = variants.setdefault(r["method"], {}).setdefault(_kv(r["spec"]["model"]), [])
        if r["dataset"] not in on:
            on.append(r["dataset"])
    lines = ["## Protocol and settings (from the cells' specs)\n", note + "\n",
             "Budget: " + _budget_text(results) + f"; the transformers' training "
             f"precision {' | '.join(precisions) or '—'} (the d3rlpy baselines train in fp32).\n"]
    for method, texts in variants.items():
        if len(texts) == 1:
            lines.append(f"- `{method}`: {next(iter(texts))}")
        else:
            lines += [f"- `{method}` on {', '.join(ds)}: {text}" for text, ds in texts.items()]
    return "\n".join(lines) + "\n"


def _budget_text(results: list[dict[str, Any]]) -> str:
    """The cells' budget settings: those every cell shares once, then what each other variant adds, with its methods."""
    by_budget: dict[str, list[str]] = {}  # budget JSON -> methods
    for r in results:
        on = by_budget.setdefault(json.dumps(r["spec"]["budget"], sort_keys=True), [])
        if r["method"] not in on:
            on.append(r["method"])
    budgets = [json.loads(b) for b in sorted(by_budget)]
    common = {k: v for k, v in budgets[0].items() if all(k in b and b[k] == v for b in budgets)}
    extra = [(_kv({k: v for k, v in b.items() if k not in common}), ", ".join(sorted(by_budget[key])))
             for b, key in zip(budgets, sorted(by_budget))]
    return "; ".join([_kv(common)] + [f"{kv} ({methods})" for kv, methods in extra if kv])


def not_run(exp: str, per_dataset: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """The experiment's default (dataset, method) cells with no finished seed."""
    return [(d, m) for d, m in experiment_cells(PaperBenchConfig(exp=exp)) if m not in per_dataset.get(d, {})]


def not_run_section(exp: str, per_dataset: dict[str, dict[str, Any]]) -> str:
    missing = not_run(exp, per_dataset)
    if not missing:
        return ""
    by_dataset: dict[str, list[str]] = {}
    for d, m in missing:
        by_dataset.setdefault(d, []).append(m)
    listed = "; ".join(f"{d}: {', '.join(ms)}" for d, ms in by_dataset.items())
    return (f"\nNot run yet ({len(missing)} of the experiment's default (dataset, method) pairs; CPU time on the "
            f"2-core box, see docs/results/README.md for the queue and the reasons): {listed}.\n")


def _expert_learners() -> str:
    """Which learner made each env's expert, from the suite's generation config ('SAC for hopper, walker2d; PPO for ...')."""
    from ...suite.datasets import suite_config

    by_algo: dict[str, list[str]] = {}
    for env, cfg in suite_config()["envs"].items():
        algo = "SAC" if "sac" in cfg.get("training", {}).get("config", {}) else "PPO"  # the learner's settings block
        by_algo.setdefault(algo, []).append(env)
    return "; ".join(f"{algo} for {', '.join(sorted(envs))}" for algo, envs in sorted(by_algo.items(), reverse=True))


def atari_markdown(report: dict[str, Any]) -> str:
    parts = [f"# The paper's Atari tables on this project's ALE datasets (protocol `{report['protocol']}`)\n",
             f"Commit {report['commit'][:10]}, {report['machine']}, report made {report['date']}. Gamer-normalized "
             "scores `100 * (score - random) / (gamer - random)`: mean ± sample std (n-1) over seeds of the per-seed "
             "mean, DT at the paper's target per game. `[paper X]` is the paper's number on 1% of DQN-replay with "
             "its full-size model: our data and budget differ, so compare orderings and gaps.\n",
             f"Compute: {report['compute']['train_hours']:.2f} h training, {report['compute']['eval_hours']:.2f} h "
             "evaluation.\n"]
    b = report.get("budget")
    if b:
        parts.append(f"Protocol: {b['n_layer']} layers, {b['n_head']} heads, width {b['embed_dim']}, K={b['context_len']} "
                     f"(Pong {b['pong_context_len']}), batch {b['batch_size']}, {b['steps']:,} steps (lr {b['lr']:g}, "
                     f"{b['warmup_steps']} warmup, {b['lr_decay']} decay); {b['eval_episodes']} evaluation episodes per "
                     f"cell{_cap(b['max_episode_steps'])}, actions sampled at temperature {b['temperature']:g}.\n")
    data = {e["dataset"]: e for t in report["experiments"].values() for g in t.values() for e in g.values()}
    if data:
        parts.append("Data (returns min .. max): " + "; ".join(
            f"`{d}` {e['data_return_range'][0]:g} .. {e['data_return_range'][1]:g}" for d, e in sorted(data.items()))
            + " (docs/datasets.md).\n")
    for exp in ATARI_EXPERIMENTS:
        table = exp.removeprefix("atari-")
        per = {next(iter(methods.values()))["dataset"]: methods
               for methods in report["experiments"].get(table, {}).values()}
        if not per:
            parts.append(f"## {TITLES[exp]}\n\nNo finished cells (run `dt bench paper --exp {exp}`).\n")
        elif exp in FIG4_EXPERIMENTS:
            parts.append(f"## {TITLES[exp]}\n\n" + fig4_section(per, "atari_fig4"))
        else:
            parts.append(f"## {TITLES[exp]}\n\n" + score_table(exp, per, "scores", True)
                         + "\nRaw returns:\n\n" + score_table(exp, per, "returns", False))
    return "\n".join(parts)


def _cap(max_episode_steps: int) -> str:
    return f" capped at {max_episode_steps:,} agent steps" if max_episode_steps else " (the 108k-frame cap)"


def _atari_layout(experiments: dict[str, Any]) -> dict[str, Any]:
    """atari-tableN/DATASET/METHOD -> tableN/GAME/METHOD (each entry names its dataset)."""
    out: dict[str, Any] = {}
    for exp in ATARI_EXPERIMENTS:
        for dataset, methods in experiments.get(exp, {}).items():
            game = dataset.split("-")[0]
            out.setdefault(exp.removeprefix("atari-"), {})[game] = {m: {**e, "dataset": dataset} for m, e in methods.items()}
    return out


def plot_fig4(path: Path, dataset: str, e: dict[str, Any]) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    t = np.asarray(e["targets"])
    for a in e["achieved"]:
        ax.plot(t, a, color="C0", alpha=0.3, lw=1)
    ax.plot(t, e["achieved_mean"], color="C0", marker="o", label="DT (mean over seeds)")
    ax.plot(t, t, color="grey", ls="--", label="y = x")
    lo, hi = e["data_return_range"]
    ax.axvline(hi, color="C3", ls=":", label=f"data's best ({hi:.0f})")
    ax.axvline(lo, color="C2", ls=":", label=f"data's worst ({lo:.0f})")
    ax.set_xlabel("target return")
    ax.set_ylabel("achieved return")
    p = "—" if e["pearson"] is None else f"{e['pearson']:.3f}"
    ax.set_title(f"{dataset}: Pearson in range {p}", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_fig4s(out: Path, per_dataset: dict[str, dict[str, Any]], prefix: str) -> None:
    """out/PREFIX_DATASET.png for each dataset's DT entry (the files fig4_section links)."""
    for dataset, per in per_dataset.items():
        if "dt" in per:
            plot_fig4(out / f"{prefix}_{dataset}.png", dataset, per["dt"])


def plot_curves(path: Path, experiments: dict[str, Any]) -> Path | None:
    """Learning curves (mean return during training) of every entry that recorded one (the protocol check)."""
    series = [(f"{exp} {d}", m, e["curves"]) for exp, per in experiments.items() for d, methods in per.items()
              for m, e in methods.items() if e.get("curves")]
    if not series:
        return None
    plt = _plt()
    panels = sorted({s[0] for s in series})
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for title, method, curves in series:
        ax = axes[0, panels.index(title)]
        for i, curve in enumerate(curves):
            steps, values = zip(*curve)
            ax.plot(steps, values, color=f"C{METHODS.index(method)}", alpha=0.8, label=method if i == 0 else None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("gradient step")
        ax.set_ylabel("mean return")
        ax.legend(fontsize=7)
    return _save(fig, path)


def videos_section(out: Path) -> str:
    """Links to the MP4s under out/videos/DATASET/ (made by scripts/paper_videos.sh with `dt eval RUN --video`)."""
    files = sorted((out / "videos").glob("*/*.mp4"))
    if not files:
        return ""
    lines = ["## Videos\n", "DT (seed 0 of table2) at a low and a high target return, one episode each "
             "(`dt eval RUN --video DIR`):\n"]
    for dataset in sorted({f.parent.name for f in files}):
        links = ", ".join(f"[{f.stem}]({f.relative_to(out).as_posix()})" for f in files if f.parent.name == dataset)
        lines.append(f"- {dataset}: {links}")
    return "\n".join(lines) + "\n"


def other_budgets_section(out: Path, budget: dict[str, Any] | None) -> str:
    """Links to the reports under out/extra/*/ (runs at other budgets: the protocol check, short studies), with
    what they hold and how their budget differs from this report's. Never merged into this report's tables."""
    lines = []
    for path in sorted(out.glob("extra/*/paper.json")):
        other = json.loads(path.read_text())
        held = "; ".join(f"{exp}: " + ", ".join(f"{m} on {d} (n={len(e.get('scores') or e.get('achieved') or [])})"
                                                for d, per in datasets.items() for m, e in per.items())
                         for exp, datasets in other.get("experiments", {}).items())
        theirs = other.get("budget") or {}
        differs = ", ".join(f"{k} {v} (here {budget.get(k)})" for k, v in theirs.items()
                            if budget is not None and v != budget.get(k))
        link = f"{path.parent.relative_to(out).as_posix()}/paper.md"
        lines.append(f"- [{link}]({link}), protocol `{other.get('protocol')}`: {held or 'no cells'}"
                     + (f". Budget: {differs}" if differs else ""))
    if not lines:
        return ""
    return ("\n## Runs at other budgets (reported apart, never mixed into the tables above)\n\n"
            + "\n".join(lines) + "\n")


def write_report(root: str | Path, protocol: str, out: str | Path, command: str = "",
                 archive: str | Path | None = None) -> dict[str, Any]:
    """Copy the finished cells of `protocol` under `root` into `archive` (default out/cells), then aggregate the
    archive into out/paper.json, paper.md and PNGs (atari.json and atari.md for the Atari cells)."""
    import datetime

    out = Path(out)
    archive = out / "cells" if archive is None else Path(archive)
    archive_cells(root, protocol, archive)
    every = collect(root, protocol, archive)
    atari = [r for r in every if r["exp"] in ATARI_EXPERIMENTS]
    results = [r for r in every if r["exp"] not in ATARI_EXPERIMENTS]
    if atari:
        head = {"protocol": protocol, "commit": git_commit(), "machine": machine(),
                "date": datetime.date.today().isoformat(), "command": command, "cells": len(atari),
                "compute": compute_cost(atari), "budget": atari[0]["spec"]["budget"]}
        atari_experiments = aggregate(atari)
        atari_report = {**head, "experiments": _atari_layout(atari_experiments)}
        plot_fig4s(out, atari_experiments.get("atari-fig4", {}), "atari_fig4")
        write_json(out / "atari.json", atari_report)
        write_text(out / "atari.md",
                   atari_markdown(atari_report) + "\n" + settings_section(atari, ATARI_SETTINGS_NOTE))
    experiments = aggregate(results)
    report = {"protocol": protocol, "commit": git_commit(), "machine": machine(), "date": datetime.date.today().isoformat(),
              "command": command, "cells": len(results), "compute": compute_cost(results),
              "budget": results[0]["spec"]["budget"] if results else None, "experiments": experiments}
    plot_fig4s(out, experiments.get("fig4", {}), "paper_fig4")
    curves = plot_curves(out / "paper_curves.png", experiments)
    write_json(out / "paper.json", report)
    text = (markdown(report) + ("\nLearning curves: ![](paper_curves.png)\n" if curves else "") + videos_section(out)
            + other_budgets_section(out, report["budget"]) + "\n" + settings_section(results, GYM_SETTINGS_NOTE))
    write_text(out / "paper.md", text)
    return report
