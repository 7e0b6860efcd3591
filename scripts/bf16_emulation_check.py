"""Check bf16 emulation (common/precision.py's EmulatedBf16Gemm) on this CPU, side by side in one process.

    python scripts/bf16_emulation_check.py                 # step times: fp32, bf16 emulated, bf16 torch kernels
    python scripts/bf16_emulation_check.py --atari         # the same for the Atari cpu protocol's model
    python scripts/bf16_emulation_check.py --profile       # + torch.profiler's costliest ops of one step of each
    python scripts/bf16_emulation_check.py --rerun RUN [--torch-kernels]
                                                           # + RUN's first logged row, rerun (emulated, or not)

The gym timing trains a paper-size DT (hopper's dimensions, batch 64, K 20, width 128, 3 layers) on synthetic data
through Trainer.train_step; --atari times the Atari cpu protocol's model (3 blocks, the CNN encoder, batch 16, K 10)
on random frames, forward and backward under the same precision contexts. The settings are interleaved. --rerun
retrains a bf16 run's first `log_every` steps from its train_config.json (same seed, so the same batches and
dropout) into a temporary directory and prints its first metrics row next to the one RUN logged; --torch-kernels
reruns it with torch's own bf16 kernels (for a RUN logged with the emulation). Either way they agree to the order of
sums. docs/performance.md quotes this script's output.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def _gym_steps() -> dict[str, Callable[[], None]]:
    """fp32 and bf16 training steps of a paper-size gym DT (Trainer.train_step, one fixed batch)."""
    from decision_transformer.config import DTConfig
    from decision_transformer.data.preprocess import Preprocessing
    from decision_transformer.run_config import TrainConfig
    from decision_transformer.trainer import Trainer
    from dt_experiments.speed import _synthetic_dataset

    data = _synthetic_dataset(100_000)
    base = TrainConfig(out="/nonexistent", steps=10**9, progress=False)
    trainers = {p: Trainer(dataclasses.replace(base, precision=p), DTConfig(), data, Preprocessing.fit(data))
                for p in ("fp32", "bf16")}
    batch = trainers["fp32"].sampler.sample(64, np.random.default_rng(0))
    return {p: (lambda t=t: t.train_step(batch)) for p, t in trainers.items()}


def _atari_steps() -> dict[str, Callable[[], None]]:
    """fp32 and bf16 training steps of the Atari cpu protocol's model on random frames (the trainer's precision
    contexts around its forward and backward)."""
    from decision_transformer.common.precision import backward_context, precision_context
    from decision_transformer.model import DecisionTransformer
    from dt_experiments.paper.config import PaperBenchConfig

    atari = PaperBenchConfig().atari_cpu
    torch.manual_seed(0)
    model = DecisionTransformer(atari.model, state_dim=(4, 84, 84), act_dim=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    B, K = atari.train.batch_size, atari.model.context_len
    gen = torch.Generator().manual_seed(0)
    states = torch.randint(0, 256, (B, K, 4, 84, 84), generator=gen).float()
    actions = torch.randint(0, 4, (B, K), generator=gen)
    rtg, timesteps = torch.rand(B, K, 1, generator=gen) * 90, torch.arange(K).expand(B, K)
    mask = torch.ones(B, K, dtype=torch.long)

    def step(precision: str) -> None:
        with precision_context(precision, "cpu"):
            logits = model(states, actions, rtg, timesteps, mask)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 4), actions.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        with backward_context(precision, "cpu"):
            loss.backward()
        optimizer.step()

    return {p: (lambda p=p: step(p)) for p in ("fp32", "bf16")}


def step_times(repeats: int, atari: bool, profile: bool) -> dict[str, float]:
    from decision_transformer.common import precision

    steps = (_atari_steps if atari else _gym_steps)()
    native = precision.cpu_has_native_bf16()
    settings = {"fp32": (steps["fp32"], contextlib.nullcontext),
                "bf16 (emulated)" if not native else "bf16 (native)": (steps["bf16"], contextlib.nullcontext)}
    if not native:  # torch's own kernels: the emulation switched off
        settings["bf16 (torch kernels)"] = (steps["bf16"], lambda: _patched(precision, "emulates_bf16", False))
    times: dict[str, list[float]] = {k: [] for k in settings}
    for name, (step, ctx) in settings.items():  # warm-up
        with ctx():
            step()
    for _ in range(repeats):
        for name, (step, ctx) in settings.items():
            with ctx():
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    if profile:
        from torch.profiler import ProfilerActivity, profile as torch_profile

        for name, (step, ctx) in settings.items():
            with ctx(), torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                step()
            print(f"{name}: one step, the costliest ops\n"
                  + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=6))
    return {k: float(np.median(v)) for k, v in times.items()}


@contextlib.contextmanager
def _patched(module, name: str, value: bool):
    saved = getattr(module, name)
    setattr(module, name, lambda *a, **k: value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def rerun_first_row(run: Path, torch_kernels: bool = False) -> None:
    """Train RUN's config afresh into a temporary directory and, when its first metrics row is written, print it
    next to RUN's and end the process (the rest of the run is not needed). `torch_kernels`: with the emulation
    switched off."""
    import os
    import threading

    from decision_transformer.common import precision
    from decision_transformer.config import model_config
    from decision_transformer.train import TrainConfig, train

    saved = json.loads((run / "train_config.json").read_text())
    logged = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    tmp = Path(tempfile.mkdtemp(prefix="bf16-check-"))
    cfg = TrainConfig(**{**saved["train"], "out": str(tmp / "run"), "progress": False})
    kind = saved["model_kind"]
    model = {k: v for k, v in saved["model"].items() if k != "condition_on_return"}  # the kind decides it

    def report() -> None:
        metrics = tmp / "run" / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text().strip()):
            time.sleep(1)
        again = json.loads(metrics.read_text().splitlines()[0])
        print(f"{run} step {logged['step']}: logged / rerun with this process's kernels")
        for key in sorted(set(logged) & set(again)):
            print(f"  {key}: {logged[key]} / {again[key]}")
        os._exit(0)

    threading.Thread(target=report, daemon=True).start()
    with _patched(precision, "emulates_bf16", False) if torch_kernels else contextlib.nullcontext():
        train(cfg, model_config(kind, **model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per setting (interleaved)")
    parser.add_argument("--atari", action="store_true", help="time the Atari cpu protocol's model instead")
    parser.add_argument("--profile", action="store_true", help="print each setting's costliest ops in one step")
    parser.add_argument("--rerun", type=Path, help="a bf16 run directory with train_config.json and metrics.jsonl")
    parser.add_argument("--torch-kernels", action="store_true", help="--rerun with torch's own bf16 kernels")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, seconds in step_times(args.repeats, args.atari, args.profile).items():
        print(f"{name:>22}: {seconds * 1e3:8.1f} ms a training step (median of {args.repeats})")
    if args.rerun:
        rerun_first_row(args.rerun, args.torch_kernels)


if __name__ == "__main__":
    main()
