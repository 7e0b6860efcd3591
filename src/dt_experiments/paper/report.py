"""`dt bench report`: finished cells -> docs/results/paper.json, paper.md (its text: `markdown.py`) and PNGs.

paper.json:

    {"protocol": P, "commit": SHA, "machine": TEXT, ...,
     "experiments": {EXP: {DATASET: {METHOD: {"scores": [suite-normalized score per seed],
                                              "returns": [mean return per seed], "dataset_generation": N, ...}}}}}

`scores` are under the suite's reference (`score_label`), `scores_d4rl` under D4RL's (None for Reacher), both at
the cell's first target (DT: the data's best return). `experiments.beyond` (beyond.py) has
dt, dt-auto (its first target "auto") and odt entries, odt's with `offline_scores`, `online_steps` and
`curves_scores` too; its `curves` are the fine-tuning evaluations against online env steps. fig4 cells hold instead `targets`, `achieved` (one list
of mean returns per seed, aligned with targets), `achieved_mean`, and `pearson`: the correlation of
achieved_mean with the targets inside the data's return range.

The Atari experiments (atari-table1/4/5, atari-fig4) go to atari.json and atari.md instead, laid out as
`{"experiments": {table1|table4|table5: {GAME: {METHOD: {"scores": [gamer-normalized per seed], "returns": [...],
"dataset": NAME, ...}}}}}`, at the paper's fixed target per game; `fig4: {GAME: {"dt": {...}}}` is laid out as
the gym fig4 entries (Figure 4's top row, atari_fig4_GAME.png).

Intervals (`intervals.py`, rliable, the `[stats]` extra): every table entry has `ci95`, a stratified-bootstrap 95%
interval [lo, hi] of its mean score over seeds ([x, x] for one seed), and both reports have
`"aggregates": {EXP: {"iqm": {METHOD: [lo, iqm, hi]}, "probability_of_improvement": {"dt>METHOD": [lo, P, hi]},
"n": {...the datasets and seed counts each was computed over...}}}` per table experiment (Atari: per table1/4/5),
beside `experiments` (whose EXP level holds only datasets).

Cells are read with `cellfile.read_cell`: a result.json that is not valid JSON or lacks what the report reads is
named on stderr and left out; a damaged local cell is never copied into the archive (its archived copy, if good, is
used), a damaged archived one is left out or replaced by a good local copy. Only cells under ROOT/PROTOCOL and
ARCHIVE/PROTOCOL that name that protocol are read, so one report never mixes protocols.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from decision_transformer.common.atomic import atomic_path, write_json, write_text
from decision_transformer.scores import sample_std
from ..common import git_commit, machine
from ..plots import _plt, _save, seeds_text
from . import beyond
from .cellfile import CellError, parse_cell, read_text
from .names import ATARI_EXPERIMENTS, EXPERIMENTS, FIG4_EXPERIMENTS, METHODS, ODT_METHODS
from .intervals import aggregates, cell_ci95
from .markdown import (ATARI_SETTINGS_NOTE, GYM_SETTINGS_NOTE, atari_markdown, fig4_prefix, markdown, methods_in,
                       other_budgets_section, settings_section, table_plot, videos_section)
from .scoring import pearson_in_range


def _cell_files(root: str | Path, protocol: str) -> dict[str, Path]:
    """EXP/DATASET/METHOD/seedK -> its result.json under ROOT/PROTOCOL."""
    base = Path(root) / protocol
    return {p.parent.relative_to(base).as_posix(): p for exp in EXPERIMENTS
            for p in sorted((base / exp).glob("*/*/seed*/result.json"))}


def _warn(message: str) -> None:
    print(f"dt bench report: {message}", file=sys.stderr, flush=True)


Warn = Callable[[str], None]


def _valid(files: dict[str, Path]) -> tuple[dict[str, tuple[bytes, dict[str, Any]]], dict[str, str]]:
    """KEY -> (the file's bytes, its cell) for the files that parse and validate (`cellfile`); KEY -> the one-line
    reason for the rest."""
    good: dict[str, tuple[bytes, dict[str, Any]]] = {}
    bad: dict[str, str] = {}
    for key, path in files.items():
        try:
            text = read_text(path)
            good[key] = (text.encode("utf-8"), parse_cell(text, path))
        except (CellError, FileNotFoundError) as exc:  # FileNotFoundError: removed since it was listed
            bad[key] = str(exc)
    return good, bad


def load_cells(root: str | Path, protocol: str, archive: str | Path | None = None, copy: bool = True,
               warn: Warn = _warn) -> tuple[list[dict[str, Any]], int]:
    """Every valid cell of `protocol` under ROOT and, for cells not there, under ARCHIVE (same layout; ROOT's valid
    copy wins, so a rerun cell replaces its archived result), sorted by EXP/DATASET/METHOD/seedK; and, with `copy`,
    ROOT's valid cells written into ARCHIVE where they differ (atomically, the bytes that were validated). A damaged
    file (`cellfile.CellError`) is named through `warn` and left out, never copied: a damaged local cell leaves
    its archived copy as it is (and used, if valid). Returns (cells, archived files written)."""
    local_good, local_bad = _valid(_cell_files(root, protocol))
    kept_good, kept_bad = _valid(_cell_files(archive, protocol)) if archive else ({}, {})
    for key, reason in local_bad.items():
        used = "; its archived copy is used instead" if key in kept_good else ""
        warn(f"skipped a damaged cell (the archive is left as it is{used}): {reason}")
    for key, reason in kept_bad.items():
        replaced = (f" (the valid local copy is used{' and replaces it' if copy else ''})" if key in local_good
                    else "")
        warn(f"skipped a damaged archived cell{replaced}: {reason}")
    for key, (_, cell) in local_good.items():  # before anything is copied: a root cell never replaces an archived
        if key in kept_good:                    # cell of other settings (a tiny reviewer's run, another precision)
            diff = _spec_difference(_protocol_spec(kept_good[key][1]), _protocol_spec(cell))
            if diff:
                raise ValueError(f"{Path(root) / protocol / key / 'result.json'}: ran with another budget or "
                                 f"precision than the archived cell in {Path(archive) / protocol / key} (archived vs "
                                 f"this: {'; '.join(diff[:4])}{'; ...' if len(diff) > 4 else ''}); a report replaces "
                                 "an archived cell only with a run of its protocol: report this root with another "
                                 "--archive, or remove the archived cell to replace it")
    cells = {**{k: c for k, (_, c) in kept_good.items()}, **{k: c for k, (_, c) in local_good.items()}}
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for c in cells.values():  # every table entry's seeds ran one spec, checked before anything is copied
        groups.setdefault((c["exp"], c["dataset"], c["method"]), []).append(c)
    for group in groups.values():
        _check_one_spec(sorted(group, key=lambda c: c["seed"]))
    budgets: dict[bool, dict[str, Any]] = {}  # and a report is one budget (gym's, Atari's): a protocol's table,
    for key in sorted(cells, key=lambda k: (k in local_good, k)):  # the archive's (the published one) first
        c = cells[key]
        first = budgets.setdefault(c["exp"].startswith("atari"), c)
        diff = _spec_difference(first["spec"]["budget"], c["spec"]["budget"], "budget.")
        if diff:
            raise ValueError(f"{c['exp']}/{c['dataset']}/{c['method']}/seed{c['seed']}: its budget differs from "
                             f"{first['exp']}/{first['dataset']}/{first['method']}/seed{first['seed']}'s "
                             f"({'; '.join(diff[:4])}); a report is one protocol's budget: report other budgets from "
                             "their own --root and --archive")
    written = 0
    if copy and archive is not None:
        for key, (data, _) in local_good.items():
            dst = Path(archive) / protocol / key / "result.json"
            if key in kept_good and kept_good[key][0] == data:
                continue
            with atomic_path(dst) as tmp:
                tmp.write_bytes(data)
            written += 1
    return [cells[k] for k in sorted(cells)], written


def collect(root: str | Path, protocol: str, archive: str | Path | None = None,
            warn: Warn = _warn) -> list[dict[str, Any]]:
    """Every valid cell under ROOT/PROTOCOL/EXP/DATASET/METHOD/seedK/result.json and, for cells not there, under
    ARCHIVE (same layout); ROOT's copy wins. Copies nothing (`load_cells`)."""
    return load_cells(root, protocol, archive, copy=False, warn=warn)[0]


def archive_cells(root: str | Path, protocol: str, archive: str | Path, warn: Warn = _warn) -> int:
    """Copy ROOT's valid finished cells into ARCHIVE (atomically, replacing older copies); returns how many changed."""
    return load_cells(root, protocol, archive, warn=warn)[1]


def _per_seed(key: str) -> bool:
    """The spec fields that differ between seeds of one (experiment, dataset, method) entry, at any depth: the seed
    and the seeds derived from it (eval_seed, targets.selection_seed); all others must agree."""
    return key == "seed" or key.endswith("_seed")


def _spec_difference(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """`field: A vs B` for each spec field (nested: budget.steps) where a and b differ, seed fields left out. A field
    one spec lacks is no difference (cells written before it existed ran its default)."""
    out = []
    for k in sorted(set(a) & set(b)):
        if _per_seed(k):
            continue
        x, y = a[k], b[k]
        if isinstance(x, dict) and isinstance(y, dict):
            out += _spec_difference(x, y, f"{prefix}{k}.")
        elif x != y:
            out.append(f"{prefix}{k}: {x!r} vs {y!r}")
    return out


def _protocol_spec(cell: dict[str, Any]) -> dict[str, Any]:
    """The spec fields that make a cell another protocol's, never mixed in one report: its training budget and
    precision (a spec leaves fp32 out: methods.train_spec). Other settings (targets, model options) may change as a
    protocol evolves: `dt bench paper` reruns the cells they make stale, and the rerun replaces the archived cell."""
    spec = cell["spec"]
    return {"budget": spec["budget"], "precision": spec.get("precision", "fp32")}


def _check_one_spec(cells: list[dict[str, Any]]) -> None:
    """The seeds of one table entry ran one budget and precision: a report never averages a tiny or
    other-precision run into a published cell."""
    first = cells[0]
    for c in cells[1:]:
        diff = _spec_difference(_protocol_spec(first), _protocol_spec(c))
        if diff:
            raise ValueError(f"{c['exp']}/{c['dataset']}/{c['method']}: seed {first['seed']} and seed {c['seed']} ran "
                             f"with a different budget or precision ({'; '.join(diff[:4])}"
                             f"{'; ...' if len(diff) > 4 else ''}); a table entry averages one protocol's runs: "
                             "report the others from their own --root and --archive")


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
    scores = [c["score"] for c in cells]
    return {"scores": scores, "ci95": cell_ci95(scores), "scores_d4rl": [c["score_d4rl"] for c in cells],
            "returns": [c["return"] for c in cells], "score_label": label,
            "target": (cells[0]["targets"] or [None])[0], "data_return_range": [cells[0]["data"]["return_min"],
                                                                              cells[0]["data"]["return_max"]],
            "curves": [c["curve"] for c in cells if c.get("curve")], **beyond.entry_extras(cells), **_chosen(cells),
            **common}


def _chosen(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """A chosen-target entry's choice per seed and the candidates it chose from ({} for other cells)."""
    if not all("selection" in c for c in cells):
        return {}
    return {"chosen_targets": [c["selection"]["chosen"] for c in cells],
            "candidates": [c["selection"]["candidates"] for c in cells]}


def aggregate(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["exp"], r["dataset"], r["method"]), []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (exp, dataset, method), cells in groups.items():
        out.setdefault(exp, {}).setdefault(dataset, {})[method] = _entry(cells)
    return out


def experiment_aggregates(experiments: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """EXP -> `intervals.aggregates` of its per-seed `scores`, for every table experiment (not Figure 4)."""
    return {exp: aggregates(per, methods_in(per)) for exp, per in experiments.items()
            if exp not in FIG4_EXPERIMENTS and per}


def compute_cost(results: list[dict[str, Any]]) -> dict[str, float]:
    """Training hours over distinct training runs (shared between experiments; a cell that took another's result,
    `same_run_as`, cost nothing) and evaluation hours."""
    results = [r for r in results if not r.get("same_run_as")]
    train = {(r["dataset"], r["method"], r["seed"]): r["train_seconds"] for r in results}
    evals = {(r["dataset"], r["method"], r["seed"], json.dumps(r["targets"])): r["eval_seconds"] for r in results}
    return {"train_hours": round(sum(train.values()) / 3600, 3), "eval_hours": round(sum(evals.values()) / 3600, 3),
            "training_runs": len(train)}


def _atari_layout(experiments: dict[str, Any]) -> dict[str, Any]:
    """atari-tableN/DATASET/METHOD -> tableN/GAME/METHOD (each entry names its dataset)."""
    out: dict[str, Any] = {}
    for exp in ATARI_EXPERIMENTS:
        for dataset, methods in experiments.get(exp, {}).items():
            game = dataset.split("-")[0]
            out.setdefault(exp.removeprefix("atari-"), {})[game] = {m: {**e, "dataset": dataset} for m, e in methods.items()}
    return out


def plot_fig4(path: Path, dataset: str, per: dict[str, dict[str, Any]]) -> Path:
    """Achieved against target return, one colour per method: each seed a faint line, the mean over seeds marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    for method, e in per.items():
        t, c = np.asarray(e["targets"]), _color(method)
        for a in e["achieved"]:
            ax.plot(t, a, color=c, alpha=0.3, lw=1)
        p = "—" if e["pearson"] is None else f"{e['pearson']:.3f}"
        ax.plot(t, e["achieved_mean"], color=c, marker="o", ms=4,
                label=f"{method} ({seeds_text(len(e['achieved']))}; Pearson in range {p})")
    t = np.asarray(next(iter(per.values()))["targets"])
    ax.plot(t, t, color="grey", ls="--", label="y = x")
    lo, hi = next(iter(per.values()))["data_return_range"]
    ax.axvline(hi, color="C3", ls=":", label=f"data's best ({hi:.0f})")
    ax.axvline(lo, color="C2", ls=":", label=f"data's worst ({lo:.0f})")
    ax.set_xlabel("target return")
    ax.set_ylabel("achieved return")
    ax.set_title(dataset, fontsize=9)
    ax.legend(fontsize=6)
    return _save(fig, path)


def plot_fig4s(out: Path, per_dataset: dict[str, dict[str, Any]], prefix: str) -> None:
    """out/PREFIX_DATASET.png for each dataset, every method in one plot (the files fig4_section links)."""
    for dataset, per in per_dataset.items():
        if per:
            plot_fig4(out / f"{prefix}_{dataset}.png", dataset, per)


def _color(method: str) -> str:
    """A method's colour in every plot: by its place in METHODS (a method not listed there: by its name)."""
    index = METHODS.index(method) if method in METHODS else len(METHODS) + sum(map(ord, method))
    return f"C{index % 10}"


def plot_scores(path: Path, title: str, per_dataset: dict[str, dict[str, Any]], ylabel: str) -> Path:
    """One table as grouped bars: a group per dataset, a bar per method at the mean over seeds of its
    normalized score (`scores`, labelled YLABEL), the sample std as the error bar (none for one seed), each seed a dot."""
    methods = methods_in(per_dataset)
    datasets = list(per_dataset)
    width = 0.8 / len(methods)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.2 + 0.28 * len(methods) * len(datasets) + 0.6 * len(datasets), 3.8))
    for j, method in enumerate(methods):
        labelled = False
        for i, dataset in enumerate(datasets):
            e = per_dataset[dataset].get(method)
            values = [v for v in (e or {}).get("scores", []) if v is not None]
            if not values:
                continue
            x = i + (j - (len(methods) - 1) / 2) * width
            ax.bar(x, float(np.mean(values)), width, color=_color(method),
                   yerr=sample_std(values) if len(values) > 1 else None, capsize=2,
                   label=None if labelled else method)
            ax.scatter([x] * len(values), values, s=7, color="black", zorder=3)
            labelled = True
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(range(len(datasets)), datasets, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}: mean ± sample std over seeds (dots: seeds)", fontsize=9)
    ax.legend(fontsize=7, ncol=min(len(methods), 6), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return _save(fig, path)


def plot_tables(out: Path, experiments: dict[str, Any], ylabel: str) -> None:
    """plot_scores for every aggregated experiment that is a table (not Figure 4), named by `table_plot`."""
    for exp, per_dataset in experiments.items():
        if exp not in FIG4_EXPERIMENTS and per_dataset:
            plot_scores(out / table_plot(exp), exp.removeprefix("atari-"), per_dataset, ylabel)


def plot_curves(path: Path, experiments: dict[str, Any]) -> Path | None:
    """Learning curves (mean return during training) of every entry that recorded one (the protocol check)."""
    series = [(f"{exp} {d}", m, e["curves"]) for exp, per in experiments.items() for d, methods in per.items()
              for m, e in methods.items() if e.get("curves") and m not in ODT_METHODS]  # theirs: online steps
    if not series:
        return None
    plt = _plt()
    panels = sorted({s[0] for s in series})
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for title, method, curves in series:
        ax = axes[0, panels.index(title)]
        for i, curve in enumerate(curves):
            steps, values = zip(*curve)
            ax.plot(steps, values, color=_color(method), alpha=0.8, label=method if i == 0 else None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("gradient step")
        ax.set_ylabel("mean return")
        ax.legend(fontsize=7)
    return _save(fig, path)


def write_report(root: str | Path, protocol: str, out: str | Path, command: str = "",
                 archive: str | Path | None = None) -> dict[str, Any]:
    """Copy the finished cells of `protocol` under `root` into `archive` (default out/cells), then aggregate the
    archive into out/paper.json, paper.md and PNGs (atari.json and atari.md for the Atari cells)."""
    import datetime

    out = Path(out)
    archive = out / "cells" if archive is None else Path(archive)
    for option, path in (("--out", out), ("--archive", archive)):  # before the archive is written
        if path.exists() and not path.is_dir():
            raise ValueError(f"{option} {path}: is a file; expected a directory")
    every, _ = load_cells(root, protocol, archive)
    if not every:  # an empty report would overwrite a published one with nothing
        raise ValueError(f"--root {root}: no finished {protocol} cells there or in the archive {archive}; expected the "
                         "--root of `dt bench paper` (and its --protocol)")
    atari = [r for r in every if r["exp"] in ATARI_EXPERIMENTS]
    results = [r for r in every if r["exp"] not in ATARI_EXPERIMENTS]
    if atari:
        head = {"protocol": protocol, "commit": git_commit(), "machine": machine(),
                "date": datetime.date.today().isoformat(), "command": command, "cells": len(atari),
                "compute": compute_cost(atari), "budget": atari[0]["spec"]["budget"]}
        atari_experiments = aggregate(atari)
        layout = _atari_layout(atari_experiments)
        atari_report = {**head, "experiments": layout, "aggregates": experiment_aggregates(layout)}
        plot_fig4s(out, atari_experiments.get("atari-fig4", {}), fig4_prefix("atari-fig4"))
        plot_tables(out, atari_experiments, "gamer-normalized score")
        write_json(out / "atari.json", atari_report)
        write_text(out / "atari.md",
                   atari_markdown(atari_report) + "\n" + settings_section(atari, ATARI_SETTINGS_NOTE))
    if not results:  # Atari cells only: the gym report (perhaps a published one) is left as it is
        return atari_report
    experiments = aggregate(results)
    report = {"protocol": protocol, "commit": git_commit(), "machine": machine(), "date": datetime.date.today().isoformat(),
              "command": command, "cells": len(results), "compute": compute_cost(results),
              "budget": results[0]["spec"]["budget"] if results else None, "experiments": experiments,
              "aggregates": experiment_aggregates(experiments)}
    for exp in FIG4_EXPERIMENTS:
        if exp not in ATARI_EXPERIMENTS:
            plot_fig4s(out, experiments.get(exp, {}), fig4_prefix(exp))
    plot_tables(out, experiments, "suite-normalized score")
    curves = plot_curves(out / "paper_curves.png", experiments)
    beyond.plot_odt(out / beyond.ODT_PLOT, experiments)
    write_json(out / "paper.json", report)
    text = (markdown(report) + ("\nLearning curves: ![](paper_curves.png)\n" if curves else "") + videos_section(out)
            + other_budgets_section(out, report["budget"]) + "\n" + settings_section(results, GYM_SETTINGS_NOTE))
    write_text(out / "paper.md", text)
    return report
