"""Offline trajectory data: in-memory dataset, native format, window sampler, dataset registry."""

from .registry import BuiltinDataset, load_dataset, make_builtin, register_builtin
from .sampler import Batch, WindowSampler
from .trajectories import DatasetError, Episode, TrajectoryDataset

__all__ = [
    "Batch", "BuiltinDataset", "DatasetError", "Episode", "TrajectoryDataset", "WindowSampler",
    "load_dataset", "make_builtin", "register_builtin",
]
