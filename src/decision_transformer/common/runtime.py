"""Process-wide settings, set in one place: at an entry point (the CLI, `train()`, a benchmark), never in a
constructor, and restored when the work is done.

    with torch_threads(1):            torch's intra-op CPU threads for the block (0: leave as is)
        ...
    with seeded_torch(seed):          torch's global CPU RNG seeded for the block, then restored
        model = build_model(...)

What the machine has is checked here too, before a run starts: `check_device` (the device exists and works) and
`cpu_count` (the cores this process may use, against which thread options are checked).

torch is imported where it is used, so that importing this module (every config's validation does) costs nothing
and `dt --help` stays fast.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import torch


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use `n` torch CPU threads inside the block (0: torch's current setting), then restore."""
    import torch
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
    import torch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_rng_state(state: torch.Tensor) -> Iterator[None]:
    """Run the block on the given CPU RNG state (e.g. a trainer's own); the caller's state is restored after.
    Read the block's final state with `torch.get_rng_state()` before leaving it."""
    import torch
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(state)
        yield


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_device(device: str, option: str = "device") -> None:
    """A ValueError naming `option` unless this machine has the torch device `device` and a tensor can be put
    on it (e.g. `cuda` without a CUDA build or GPU, `cuda:3` on a one-GPU machine, `mps` off Apple silicon)."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{option}={device!r} is not a torch device (e.g. cpu, cuda, cuda:1, mps)") from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            build = "this torch has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"{option}={device!r}: {build}; use cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"{option}={device!r}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
        return
    try:
        torch.zeros(1, device=dev)
    except Exception as exc:  # noqa: BLE001 - any failure means the device is not usable here
        raise ValueError(f"{option}={device!r}: not available on this machine ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
