"""Numeric precision of training and acting: `fp32`, `bf16` (torch.autocast to bfloat16), or `auto`.

`auto` is bf16 where the hardware computes it natively, a CUDA device or a CPU with AVX512-BF16 or AMX,
and fp32 elsewhere (emulated bf16 is slower than fp32). Autocast keeps parameters, optimizer state and
losses in fp32; matmuls and linear layers run in bf16. Losses are computed on fp32 predictions.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import torch

PRECISIONS = ("fp32", "bf16", "auto")


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """True if /proc/cpuinfo lists avx512_bf16 or amx_bf16 (Linux); False where it cannot tell."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve(precision: str, device: torch.device | str) -> str:
    """'fp32' or 'bf16' for `precision` on `device`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; expected one of {PRECISIONS}")
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    return "bf16" if kind == "cuda" or (kind == "cpu" and cpu_has_native_bf16()) else "fp32"


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device | str) -> Iterator[None]:
    """Autocast to bfloat16 inside the block when `precision` resolves to bf16; nothing otherwise."""
    if resolve(precision, device) == "bf16":
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
            yield
    else:
        yield
