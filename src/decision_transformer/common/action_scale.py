"""The action scaling of `TrainConfig.scale_actions` (data/preprocess.py's table), as two numpy functions that the
torch-free ONNX runtime (deploy/policy.py) shares with `Preprocessing`: one arithmetic, so the deployed policy and
the torch agent cannot drift apart.

    scale     2 (a - low) / (high - low) - 1, per dimension, into [-1, 1]; a dimension with high == low maps to 0
    unscale   low + (x + 1) (high - low) / 2, its inverse (a zero-range dimension comes back as its value)
"""

from __future__ import annotations

import numpy as np


def scale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(..., A) env actions -> the model's [-1, 1], float32."""
    span = high - low
    scaled = 2.0 * (np.asarray(actions, np.float32) - low) / np.where(span > 0, span, 1.0) - 1.0
    return np.where(span > 0, scaled, 0.0).astype(np.float32)


def unscale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(..., A) model actions in [-1, 1] -> env actions, float32."""
    return (low + (np.asarray(actions, np.float32) + 1.0) * (0.5 * (high - low))).astype(np.float32)
