"""Check bf16 emulation (common/precision.py's EmulatedBf16Gemm) on this CPU, side by side in one process.

    python scripts/bf16_emulation_check.py                 # step times: fp32, bf16 emulated, bf16 torch kernels
    python scripts/bf16_emulation_check.py --rerun RUN     # + RUN's first logged row, rerun with the emulation

The timing trains a paper-size DT (hopper's dimensions, batch 64, K 20, width 128, 3 layers) on synthetic data,
interleaving the three settings. --rerun retrains a bf16 run's first `log_every` steps from its train_config.json
(same seed, so the same batches and dropout) into a temporary directory and prints its first metrics row next to
the one RUN logged: with torch's kernels and with the emulation they agree to the order of sums.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def step_times(repeats: int) -> dict[str, float]:
    from decision_transformer.common import precision
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
    native = precision.cpu_has_native_bf16()
    settings = {"fp32": (trainers["fp32"], contextlib.nullcontext),
                "bf16 (emulated)" if not native else "bf16 (native)": (trainers["bf16"], contextlib.nullcontext)}
    if not native:  # torch's own kernels: the emulation switched off
        settings["bf16 (torch kernels)"] = (trainers["bf16"], lambda: _patched(precision, "emulates_bf16", False))
    times: dict[str, list[float]] = {k: [] for k in settings}
    for name, (trainer, ctx) in settings.items():  # warm-up
        with ctx():
            trainer.train_step(batch)
    for _ in range(repeats):
        for name, (trainer, ctx) in settings.items():
            with ctx():
                t0 = time.perf_counter()
                trainer.train_step(batch)
                times[name].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


@contextlib.contextmanager
def _patched(module, name: str, value: bool):
    saved = getattr(module, name)
    setattr(module, name, lambda *a, **k: value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def rerun_first_row(run: Path) -> None:
    """Train RUN's config afresh into a temporary directory and, when its first metrics row is written, print it
    next to RUN's and end the process (the rest of the run is not needed)."""
    import os
    import threading

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
    train(cfg, model_config(kind, **model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per setting (interleaved)")
    parser.add_argument("--rerun", type=Path, help="a bf16 run directory with train_config.json and metrics.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, seconds in step_times(args.repeats).items():
        print(f"{name:>22}: {seconds * 1e3:8.1f} ms a training step (median of {args.repeats})")
    if args.rerun:
        rerun_first_row(args.rerun)


if __name__ == "__main__":
    main()
