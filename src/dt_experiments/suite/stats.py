"""Summary statistics of suite datasets, as markdown rows for docs/datasets.md."""

from __future__ import annotations

import numpy as np

from decision_transformer.data.trajectories import TrajectoryDataset
from decision_transformer.scores import d4rl_reference, normalized_score

from .datasets import ENV_IDS, measured_references, split_name


def table_header() -> str:
    return ("| dataset | episodes | steps | terminated | return min / mean / max | normalized mean (suite refs) "
            "| normalized mean (D4RL refs) |\n|---|---:|---:|---:|---|---:|---:|")


def dataset_row(d: TrajectoryDataset, name: str | None = None) -> str:
    name = name or d.name
    env, _ = split_name(name)
    returns = d.episode_returns
    mean = float(returns.mean())
    refs = measured_references().get(env, {})
    suite = "n/a"
    if "random" in refs and "expert" in refs:
        suite = f"{normalized_score(mean, (refs['random']['mean'], refs['expert']['mean'])):.1f}"
    d4rl_ref = d4rl_reference(ENV_IDS.get(env, env))
    d4rl = f"{normalized_score(mean, d4rl_ref):.1f}" if d4rl_ref else "n/a"
    return (f"| {name} | {d.num_episodes:,} | {d.num_steps:,} | {int(d.terminations.sum()):,} | "
            f"{returns.min():.1f} / {mean:.1f} / {returns.max():.1f} | {suite} | {d4rl} |")


def summary(d: TrajectoryDataset) -> dict:
    returns = d.episode_returns
    return {"episodes": d.num_episodes, "steps": d.num_steps, "return_min": float(returns.min()),
            "return_mean": float(returns.mean()), "return_max": float(returns.max()),
            "mean_length": float(np.mean(d.episode_lengths))}
