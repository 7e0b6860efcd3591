"""Offline trajectory data: in-memory dataset, native format, window sampler, dataset registry.

The sampler (torch batches) is loaded on first use, so that the numpy-only data modules, and the configs and
command-line parsers that name them, never load torch."""

from .registry import BuiltinDataset, load_dataset, make_builtin, register_builtin
from .trajectories import DatasetError, Episode, TrajectoryDataset

__all__ = [
    "Batch", "BuiltinDataset", "DatasetError", "Episode", "TrajectoryDataset", "WindowSampler",
    "load_dataset", "make_builtin", "register_builtin",
]


def __getattr__(name: str):
    if name in ("Batch", "WindowSampler"):
        from . import sampler

        return getattr(sampler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
