"""Normalized scores: 100 * (return - ref_min) / (ref_max - ref_min).

Reference sets, always labelled in reports:
* D4RL's random/expert returns (Fu et al., 2020; d4rl/infos.py), keyed by environment family;
* this package's own measured random/expert returns for its built-in datasets (`data.registry`);
* for the paper's Atari games, the random and human-gamer scores (`gamer`).
"""

from __future__ import annotations

import numpy as np

D4RL_REFERENCE_RETURNS: dict[str, tuple[float, float]] = {
    "hopper": (-20.272305, 3234.3),
    "halfcheetah": (-280.178953, 12135.0),
    "walker2d": (1.629008, 4592.3),
}


# The paper's Atari normalisation, 100 * (score - random) / (gamer - random), with the random and gamer
# scores it uses (Hessel et al. 2018, via the paper's Table 1 footnote).
ATARI_GAMER_REFERENCES: dict[str, tuple[float, float]] = {
    "breakout": (1.7, 30.5),
    "pong": (-20.7, 14.6),
    "qbert": (163.9, 13455.0),
    "seaquest": (68.4, 42054.7),
}


def gamer_reference(env_id: str) -> tuple[float, float] | None:
    """(random, gamer) scores for the paper's four Atari games ('dt/Breakout-v0', 'ALE/Pong-v5', ...)."""
    return ATARI_GAMER_REFERENCES.get(env_family(env_id))


def env_family(env_id: str) -> str:
    """'Hopper-v5' -> 'hopper'; 'dt/KeyToDoor-v0' -> 'keytodoor'."""
    return env_id.split("/")[-1].split("-")[0].lower()


def d4rl_reference(env_id: str) -> tuple[float, float] | None:
    return D4RL_REFERENCE_RETURNS.get(env_family(env_id))


def normalized_score(returns: np.ndarray | float, ref: tuple[float, float]) -> np.ndarray | float:
    lo, hi = ref
    return 100.0 * (np.asarray(returns, dtype=np.float64) - lo) / (hi - lo)


def sample_std(values) -> float:
    """The sample standard deviation (n - 1 in the denominator) used for every spread this package reports;
    0.0 for a single value."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.std(ddof=1)) if v.size > 1 else 0.0


def mean_std_text(mean: float, std: float, n: int, digits: int = 1, unit: str = "") -> str:
    """'mean ± std' for tables; a sample std over one value is undefined, so n < 2 prints 'mean ± —'."""
    return f"{mean:.{digits}f}{unit} ± " + (f"{std:.{digits}f}" if n > 1 else "—")
