"""Numeric precision of training and acting: `fp32`, `bf16` (torch.autocast to bfloat16), or `auto`.

`auto` is bf16 on a CUDA device, and on a CPU where bf16 is measured to be faster: the CPU must list
AVX512-BF16 or AMX (emulated bf16 is slower than fp32), and a probe timed once per process (`cpu_bf16_probe`:
a paper-size linear layer's forward and backward, 64 x 60 tokens of width 128, at the current torch thread
count) must run at least 10% faster under bf16 autocast. The flags alone do not decide it: on the project's AMD
EPYC box bf16 made a paper-size training step 1.47x faster, on an Intel Xeon with the same flags (model 207, no
AMX listed) 1.2x slower (docs/performance.md). Autocast keeps parameters, optimizer state and losses in fp32;
matmuls and linear layers run in bf16. Losses are computed on fp32 predictions.

On a CPU without native bf16, torch's bf16 matrix products (`aten::mm`, `aten::addmm`) and convolutions fall back to
kernels 10-20x slower than fp32 (a paper-size gym training step 3.3 s against 0.22 s on a 2-core AVX2 EPYC; the
Atari cpu model's 3.1 s against 0.25 s, mostly in `_slow_conv2d`: docs/performance.md). There, an explicit bf16 runs those ops through
`EmulatedBf16Gemm` instead: fp32 arithmetic on the bf16 operands, rounded to bf16 once.
That is the arithmetic of bf16 autocast itself, not an approximation of it: a product of two bf16 numbers (8-bit
significands) is exact in fp32 (24 bits), the sums accumulate in fp32 as in torch's kernels and the native
AVX512-BF16 / AMX ones, and the result is rounded to bf16 once; only the order of the sums differs, as it does
between any two GEMM kernels (tests/test_precision.py compares it with torch's own kernel). The autograd graph is
autocast's, unchanged: only the kernels behind those bf16 ops are replaced, forward and backward, so the backward
pass runs inside `backward_context`.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode

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


def _widened(x):  # noqa: ANN001, ANN202 (a tensor, or None / a shape / a flag among an op's arguments)
    return x.float() if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16 else x


def _rounded(x):  # noqa: ANN001, ANN202 (a tensor, or None, or a tuple of them)
    if isinstance(x, tuple):
        return tuple(_rounded(y) for y in x)
    return x.to(torch.bfloat16) if isinstance(x, torch.Tensor) else x


class EmulatedBf16Gemm(TorchDispatchMode):
    """Inside the block, a bf16 matrix product or convolution on the CPU (`mm`, `addmm`, `convolution` and its
    backward: the ops whose bf16 kernels fall back to slow code without native bf16) is computed in fp32 on its
    (exactly widened) bf16 operands and its result rounded to bf16 once (see the module docstring); every other op
    runs as it would."""

    _aten = torch.ops.aten
    OPS = (_aten.mm.default, _aten.addmm.default, _aten.convolution.default, _aten.convolution_backward.default)
    """The ops replaced: each takes its bf16 tensors first, so the first tensor argument decides."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001 (torch's signature)
        kwargs = kwargs or {}
        if func in self.OPS:
            first = next(a for a in args if isinstance(a, torch.Tensor))
            if first.dtype == torch.bfloat16 and first.device.type == "cpu":
                return _rounded(func(*(_widened(a) for a in args), **kwargs))
        return func(*args, **kwargs)


def emulates_bf16(precision: str, device: torch.device | str) -> bool:
    """True where `precision` resolves to bf16 on a CPU without native bf16: its matrix products run through
    `EmulatedBf16Gemm`."""
    return torch.device(device).type == "cpu" and resolve(precision, device) == "bf16" and not cpu_has_native_bf16()


@contextlib.contextmanager
def backward_context(precision: str, device: torch.device | str) -> Iterator[None]:
    """Around the backward pass of a forward run under `precision_context`: where bf16 is emulated, its bf16
    matrix products run through `EmulatedBf16Gemm` too; nothing otherwise."""
    with EmulatedBf16Gemm() if emulates_bf16(precision, device) else contextlib.nullcontext():
        yield


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device | str) -> Iterator[None]:
    """Autocast to bfloat16 inside the block when `precision` resolves to bf16 (its matrix products emulated on a
    CPU without native bf16); nothing otherwise."""
    if resolve(precision, device) == "bf16":
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16), \
                backward_context(precision, device):
            yield
    else:
        yield
