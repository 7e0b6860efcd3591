"""Numeric precision of training and acting: `fp32`, `bf16` (torch.autocast to bfloat16), or `auto`.

`auto` is bf16 on a CUDA device, and on a CPU where bf16 is measured to be faster: the CPU must list
AVX512-BF16 or AMX (emulated bf16 is slower than fp32), and a probe timed once per process (`cpu_bf16_probe`:
a paper-size linear layer's forward and backward, 64 x 60 tokens of width 128, at the current torch thread
count) must run at least 10% faster under bf16 autocast. The flags alone do not decide it: on the project's AMD
EPYC box bf16 made a paper-size training step 1.47x faster, on an Intel Xeon with the same flags (model 207, no
AMX listed) 1.2x slower (docs/performance.md). Autocast keeps parameters, optimizer state and losses in fp32;
matmuls and linear layers run in bf16. Losses are computed on fp32 predictions.
"""

from __future__ import annotations

import contextlib
import functools
import time
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


# bf16 must beat fp32 by this factor in the probe for `auto` to pick it (the probe's noise is a few percent)
PROBE_MARGIN = 0.9


@functools.lru_cache(maxsize=None)
def cpu_bf16_probe() -> dict[str, float]:
    """Median milliseconds of a paper-size linear layer's forward and backward (64 x 60 tokens, 128 -> 512) in
    fp32 and under bf16 autocast on the CPU, timed once per process at the current torch thread count."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64 * 60, 128, generator=gen)
    layer = torch.nn.Linear(128, 512)

    def once(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = layer(x)
        y.float().square().mean().backward()

    def median_ms(bf16: bool) -> float:
        once(bf16)  # warm-up: first-call allocation and kernel selection
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(3):
                once(bf16)
            times.append((time.perf_counter() - t0) / 3 * 1e3)
        return sorted(times)[len(times) // 2]

    # interleaved, so that a load change on a shared box hits both
    fp32, bf16 = median_ms(False), median_ms(True)
    fp32, bf16 = min(fp32, median_ms(False)), min(bf16, median_ms(True))
    return {"fp32_ms": fp32, "bf16_ms": bf16}


def cpu_bf16_is_faster() -> bool:
    """True if the CPU has native bf16 and the probe measured bf16 at least 1 / PROBE_MARGIN times faster."""
    if not cpu_has_native_bf16():
        return False
    probe = cpu_bf16_probe()
    return probe["bf16_ms"] < PROBE_MARGIN * probe["fp32_ms"]


def resolve(precision: str, device: torch.device | str) -> str:
    """'fp32' or 'bf16' for `precision` on `device`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; expected one of {PRECISIONS}")
    if precision != "auto":
        return precision
    kind = torch.device(device).type
    return "bf16" if kind == "cuda" or (kind == "cpu" and cpu_bf16_is_faster()) else "fp32"


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device | str) -> Iterator[None]:
    """Autocast to bfloat16 inside the block when `precision` resolves to bf16; nothing otherwise."""
    if resolve(precision, device) == "bf16":
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
            yield
    else:
        yield
