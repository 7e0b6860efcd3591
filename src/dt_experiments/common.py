"""Shared pieces of the benchmarks: a training cell through the library's trainer, seeds, provenance, tables.

Spreads are sample standard deviations (n - 1) over seeds, labelled as such in every table."""

from __future__ import annotations

import contextlib
import dataclasses
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from decision_transformer.common.provenance import git_commit, machine, provenance  # noqa: F401  (re-exported)
from decision_transformer.scores import mean_std_text, sample_std

if TYPE_CHECKING:  # annotations only: the trainer loads torch, and the bench configs import this module
    from decision_transformer.checkpoint import LoadedRun
    from decision_transformer.config import ModelConfig
    from decision_transformer.run_config import TrainConfig
    from decision_transformer.data.preprocess import Preprocessing
    from decision_transformer.data.trajectories import TrajectoryDataset
    from decision_transformer.train import Hook


def train_cell(base: TrainConfig, model_cfg: ModelConfig, data: TrajectoryDataset, run_dir: Path, seed: int,
               prep: Preprocessing | None = None, hook: Hook | None = None, hook_every: int = 0) -> LoadedRun:
    """One benchmark training run through the library's trainer: `base` with this cell's seed and run directory.
    A finished run there is loaded, a killed one resumed from its checkpoint (`train.train_or_resume`)."""
    from decision_transformer.train import train_or_resume

    cfg = dataclasses.replace(base, seed=seed, out=str(run_dir), dataset=data.name or "<memory>", env_id=data.env_id)
    return train_or_resume(cfg, model_cfg, data, prep=prep, hook=hook, hook_every=hook_every)


def check_seeds(seeds: list[int], selection_seeds: tuple[int, ...], selection_run: bool) -> None:
    """Reported seeds must not be the ones settings were chosen on; a run on selection seeds says so."""
    overlap = sorted(set(seeds) & set(selection_seeds))
    if overlap and not selection_run:
        raise ValueError(f"seeds {overlap} are selection seeds (settings were chosen on them: {list(selection_seeds)}); "
                         "report other seeds (--first-seed), or pass --selection-run to mark this run as a selection run")


def summarize(results: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """mean and sample std (n - 1) over seeds for every method and data."""
    return {m: {d: {"mean": float(np.mean(v)), "std": sample_std(v), "n": len(v)} for d, v in per.items() if v}
            for m, per in results.items()}


def markdown_table(results: dict[str, dict[str, list[float]]], data_names: list[str], labels: dict[str, str],
                   percent: bool = True, paper: dict[str, dict[str, float]] | None = None) -> str:
    """Rows: methods; columns: data, 'mean ± sample std (n seeds)', with the paper's value when given."""
    head = "| method | " + " | ".join(data_names) + " |"
    lines = [head, "|---" * (len(data_names) + 1) + "|"]
    scale = 100.0 if percent else 1.0
    unit = "%" if percent else ""
    for method, per in results.items():
        cells = []
        for d in data_names:
            v = per.get(d, [])
            if not v:
                cells.append("—")
                continue
            cell = f"{mean_std_text(scale * float(np.mean(v)), scale * sample_std(v), len(v), unit=unit)} (n={len(v)})"
            if paper and method in paper and d in paper[method]:
                cell += f" [paper {paper[method][d]:g}{unit}]"
            cells.append(cell)
        lines.append(f"| {labels.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


class BaselinesUnavailable(ImportError):
    """d3rlpy is not installed."""


def d3rlpy_device(device: str) -> str:
    """d3rlpy's name for a torch device: 'cpu' -> 'cpu:0', 'cuda' -> 'cuda:0', 'cuda:1' as is."""
    return device if ":" in device else f"{device}:0"


def d3rlpy_module():
    """d3rlpy, or BaselinesUnavailable naming the extra to install."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # d3rlpy imports the old `gym`, which prints a notice
            import d3rlpy
    except ImportError as exc:
        raise BaselinesUnavailable(
            "the d3rlpy baselines (CQL, IQL, TD3+BC, BEAR) need d3rlpy: pip install 'decision-transformer[baselines]' "
            "(d3rlpy==2.8.0)") from exc
    return d3rlpy
