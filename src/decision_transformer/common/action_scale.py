"""The action scaling of `TrainConfig.scale_actions` (data/preprocess.py's table), as two numpy functions that the
torch-free ONNX runtime (deploy/policy.py) shares with `Preprocessing`: one arithmetic, so the deployed policy and
the torch agent cannot drift apart. `bounds_problem` is the one check of stored bounds (meta.json, the ONNX
metadata, `Preprocessing` itself).

    scale     2 (a - low) / (high - low) - 1, per dimension, into [-1, 1]; a dimension with high == low maps to 0
    unscale   low + (x + 1) (high - low) / 2, its inverse (a zero-range dimension comes back as its value)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .checks import is_real, short

FIELDS = ("action_scale_low", "action_scale_high")
"""Their names wherever they are stored (meta.json, the ONNX metadata, `Preprocessing`)."""


def bounds_problem(low: Any, high: Any, act_dim: int, discrete: bool = False) -> tuple[str, str] | None:
    """(field, what was expected) for a bad pair of stored bounds, or None: both null, or both act_dim finite numbers
    with low <= high, continuous actions only. The caller names the file and shows the value."""
    for name, v in zip(FIELDS, (low, high)):
        if v is None:
            continue
        if discrete:
            return name, "null: only continuous actions scale (the model's actions are discrete)"
        if not (isinstance(v, (list, tuple)) and len(v) == act_dim and all(is_real(x) and math.isfinite(x) for x in v)):
            return name, f"null or a list of act_dim={act_dim} finite numbers"
    if (low is None) != (high is None):
        return FIELDS[0 if low is None else 1], f"both null or both lists ({' / '.join(FIELDS)}: null but the other is set)"
    if low is not None and any(lo > hi for lo, hi in zip(low, high)):
        return FIELDS[0], f"bounds <= action_scale_high {short(high)}"
    return None


def scale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(..., A) env actions -> the model's [-1, 1], float32."""
    span = high - low
    scaled = 2.0 * (np.asarray(actions, np.float32) - low) / np.where(span > 0, span, 1.0) - 1.0
    return np.where(span > 0, scaled, 0.0).astype(np.float32)


def unscale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(..., A) model actions in [-1, 1] -> env actions, float32."""
    return (low + (np.asarray(actions, np.float32) + 1.0) * (0.5 * (high - low))).astype(np.float32)
