"""Target returns, normalized scores and Figure 4's correlation, all from plain numbers (tested on known ones).

Normalized score = 100 * (return - random) / (expert - random) under two labelled references (`evaluate.
resolve_references`): `suite:NAME`, this suite's own random policy and expert (SAC or PPO per env, as suite.json records;
the primary `scores` of paper.json: our data come from those policies), and `d4rl`, D4RL's Hopper / Walker2d /
HalfCheetah references (the paper's scale; none for Reacher). Except Hopper's and Walker2d's, our experts are weaker than
D4RL's, so D4RL-normalized numbers are lower than the paper's for the same behaviour: compare orderings and
gaps, not values.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from decision_transformer.evaluate import resolve_references
from decision_transformer.scores import normalized_score


def dt_targets(returns: np.ndarray, scales: Sequence[float]) -> list[float]:
    """worst + s * (best - worst) of the episode returns, per scale s (1: the data's best return)."""
    lo, hi = float(np.min(returns)), float(np.max(returns))
    return [round(lo + s * (hi - lo), 3) for s in scales]


def fig4_targets(returns: np.ndarray, n: int, span: Sequence[float]) -> list[float]:
    """`n` evenly spaced targets from worst + span[0] * range to worst + span[1] * range."""
    lo, hi = float(np.min(returns)), float(np.max(returns))
    return [round(float(t), 3) for t in np.linspace(lo + span[0] * (hi - lo), lo + span[1] * (hi - lo), n)]


def pearson_in_range(targets: Sequence[float], achieved: Sequence[float], lo: float, hi: float) -> float | None:
    """Pearson correlation of achieved against target over the targets within [lo, hi] (the data's returns);
    None with fewer than 3 such targets or a constant side."""
    t, a = np.asarray(targets, np.float64), np.asarray(achieved, np.float64)
    keep = (t >= lo) & (t <= hi)
    if keep.sum() < 3 or np.std(t[keep]) == 0 or np.std(a[keep]) == 0:
        return None
    return float(np.corrcoef(t[keep], a[keep])[0, 1])


def scores(returns: Sequence[float], env_id: str, dataset: str) -> dict[str, float]:
    """Mean normalized score of `returns` under each reference, by label ('suite:NAME', 'd4rl')."""
    refs = resolve_references(env_id, dataset)
    return {label: float(np.mean(normalized_score(np.asarray(returns), ref))) for label, ref in refs.items()}
