"""bf16 on a CPU without native bf16 (common/precision.py): `EmulatedBf16Gemm` is bf16 autocast's arithmetic, it
covers the backward pass of a training step, and it is used only where it is needed."""

import contextlib
import dataclasses

import numpy as np
import pytest
import torch

from decision_transformer import DTConfig, DecisionTransformer
from decision_transformer.common import precision
from decision_transformer.common.precision import EmulatedBf16Gemm

BF16 = torch.bfloat16


def _operands(n: int, k: int, m: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*shape, generator=gen).to(BF16) for shape in ((n, k), (k, m), (m,)))


@pytest.mark.parametrize("shape", [(256, 128, 384), (256, 512, 128)])  # a DT layer's q/k/v and its MLP's output
def test_emulated_products_are_bf16_autocast_arithmetic(shape):
    a, b, bias = _operands(*shape)
    with EmulatedBf16Gemm():
        mm, addmm = torch.mm(a, b), torch.addmm(bias, a, b, beta=0.5, alpha=2.0)
    assert mm.dtype == addmm.dtype == BF16
    # by definition: the fp32 GEMM of the widened operands (bf16 products are exact in fp32), rounded once
    assert torch.equal(mm, torch.mm(a.float(), b.float()).to(BF16))
    assert torch.equal(addmm, torch.addmm(bias.float(), a.float(), b.float(), beta=0.5, alpha=2.0).to(BF16))
    # and, element by element, as close to the exactly rounded product as torch's own bf16 kernel is
    exact = (a.double() @ b.double()).float().to(BF16)
    torch_kernel = torch.mm(a, b)
    for result in (mm, torch_kernel):
        assert (result == exact).float().mean() > 0.999
        # a differing element is off by a rounding step: under 2 bf16 ulps (2 * 2**-8) of the largest element
        assert (result.float() - exact.float()).abs().max() < 2**-7 * exact.float().abs().max()
    assert (mm == torch_kernel).float().mean() > 0.999


def test_other_ops_and_dtypes_pass_through():
    a, b, _ = _operands(16, 8, 4)
    with EmulatedBf16Gemm():
        fp32 = torch.mm(a.float(), b.float())
        bmm = torch.bmm(a[None], b[None])  # torch's bf16 bmm is fast: left to torch
    assert fp32.dtype == torch.float32 and torch.equal(fp32, torch.mm(a.float(), b.float()))
    assert bmm.dtype == BF16 and torch.equal(bmm, torch.bmm(a[None], b[None]))


def _tiny_step(model: DecisionTransformer, emulate: bool) -> tuple[float, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    B, K = 8, model.config.context_len
    states, actions = torch.randn(B, K, 5, generator=gen), torch.rand(B, K, 2, generator=gen) * 2 - 1
    rtg, timesteps = torch.randn(B, K, 1, generator=gen), torch.arange(K).expand(B, K)
    model.zero_grad(set_to_none=True)
    with EmulatedBf16Gemm() if emulate else contextlib.nullcontext():
        with torch.autocast("cpu", dtype=BF16):
            preds = model(states, actions, rtg, timesteps, torch.ones(B, K, dtype=torch.long))
        loss = (preds.float() - actions).square().mean()
        loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_a_training_step_matches_torch_bf16_kernels():
    """Loss and every gradient of a bf16 autocast step, emulated and with torch's kernels: equal up to the order
    of sums (a GEMM kernel's own choice)."""
    torch.manual_seed(0)
    model = DecisionTransformer(DTConfig(context_len=4, embed_dim=32, n_layer=2, dropout=0.0), 5, 2)
    loss_e, grads_e = _tiny_step(model, emulate=True)
    loss_t, grads_t = _tiny_step(model, emulate=False)
    assert loss_e == pytest.approx(loss_t, rel=1e-3)
    assert grads_e.keys() == grads_t.keys() and len(grads_e) > 10
    for name in grads_e:
        e, t = grads_e[name].flatten(), grads_t[name].flatten()
        assert torch.nn.functional.cosine_similarity(e, t, dim=0) > 0.999, name


def test_emulation_only_for_bf16_on_a_cpu_without_native_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert precision.emulates_bf16("bf16", "cpu")
    assert not precision.emulates_bf16("fp32", "cpu") and not precision.emulates_bf16("auto", "cpu")
    assert not precision.emulates_bf16("bf16", "cuda")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert not precision.emulates_bf16("bf16", "cpu")


def test_the_trainer_emulates_its_backward_pass_too(monkeypatch):
    """With emulation on, the backward pass's bf16 products go through the mode: its two per forward product
    (the input's and the weight's gradients) for all but the first layers, whose inputs need no gradient."""
    from dt_experiments.speed import _synthetic_dataset

    from decision_transformer.data.preprocess import Preprocessing
    from decision_transformer.run_config import TrainConfig
    from decision_transformer.trainer import Trainer

    calls = {"forward": 0, "all": 0}

    class Counting(EmulatedBf16Gemm):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten.mm.default, torch.ops.aten.addmm.default):
                calls["all"] += 1
                calls["forward"] += torch.is_grad_enabled()  # the backward pass runs with grad mode off
            return super().__torch_dispatch__(func, types, args, kwargs)

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(precision, "EmulatedBf16Gemm", Counting)
    data = _synthetic_dataset(2_000)
    cfg = TrainConfig(out="/nonexistent", steps=10, progress=False, precision="bf16", batch_size=4)
    trainer = Trainer(cfg, dataclasses.replace(DTConfig(), embed_dim=32, n_layer=1, context_len=4), data,
                      Preprocessing.fit(data))
    loss, _ = trainer.train_step(trainer.sampler.sample(4, np.random.default_rng(0)))
    assert np.isfinite(loss) and calls["forward"] > 0
    assert calls["all"] - calls["forward"] >= 1.5 * calls["forward"]


def test_emulated_convolutions_are_bf16_autocast_arithmetic():
    """The Atari encoder's convolutions (whose bf16 kernels fall back to slow code without native bf16): forward and
    every gradient as torch's bf16 kernels give them, up to the order of sums."""
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(4, 8, 8, stride=4)
    x = torch.rand(2, 4, 84, 84, generator=gen) * 2

    def run(emulate: bool) -> tuple[torch.Tensor, ...]:
        conv.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        with EmulatedBf16Gemm() if emulate else contextlib.nullcontext():
            with torch.autocast("cpu", dtype=BF16):
                y = conv(xi)
            y.float().square().sum().backward()
        return y, xi.grad, conv.weight.grad, conv.bias.grad

    emulated, torch_kernel = run(True), run(False)
    assert emulated[0].dtype == BF16
    with torch.autocast("cpu", enabled=False):  # by definition: fp32 on the widened operands, rounded once
        expected = torch.nn.functional.conv2d(x.to(BF16).float(), conv.weight.to(BF16).float(),
                                              conv.bias.to(BF16).float(), stride=4).to(BF16)
    assert torch.equal(emulated[0], expected)
    assert (emulated[0] == torch_kernel[0]).float().mean() > 0.999
    for e, t in zip(emulated[1:], torch_kernel[1:]):
        assert torch.nn.functional.cosine_similarity(e.flatten(), t.flatten(), dim=0) > 0.9999
