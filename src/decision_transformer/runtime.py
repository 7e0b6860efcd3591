"""Process-wide settings, set in one place: at an entry point (the CLI, `train()`, a benchmark), never in a
constructor, and restored when the work is done.

    with torch_threads(1):            torch's intra-op CPU threads for the block (0: leave as is)
        ...
    with seeded_torch(seed):          torch's global CPU RNG seeded for the block, then restored
        model = build_model(...)
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use `n` torch CPU threads inside the block (0: torch's current setting), then restore."""
    if n < 0:
        raise ValueError(f"torch_threads={n} must be >= 0 (0: torch's default)")
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(before)


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """torch's global CPU RNG seeded with `seed` inside the block; the caller's RNG state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_rng_state(state: torch.Tensor) -> Iterator[None]:
    """Run the block on the given CPU RNG state (e.g. a trainer's own); the caller's state is restored after.
    Read the block's final state with `torch.get_rng_state()` before leaving it."""
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(state)
        yield
