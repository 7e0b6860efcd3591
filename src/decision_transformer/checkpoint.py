"""Self-describing checkpoints, written atomically, never pickled.

Run directory layout:

    RUN_DIR/
      train_config.json                   the TrainConfig of the run (for --resume)
      .lock                               held (flock) by the process writing the run: runlock.py
      metrics.jsonl                       one JSON object per log line: {"step": ..., "train/loss": ...}
      tb/                                 TensorBoard event files
      checkpoints/
        latest                            text file naming the newest complete checkpoint directory
        step_00001000/
          model.safetensors               model weights (safetensors)
          meta.json                       RunMeta: model kind + config, dims, state stats, reward scale,
                                          env id, dataset, step, package version
          trainer_state.pt                optimizer, LR schedule, torch + numpy RNG state
                                          (plain tensors and containers: torch.load(weights_only=True))
          extra.safetensors               optional tensors kept for exact round trips (e.g. Hugging Face)

A checkpoint directory is written under a temporary name and renamed into place, then `latest` is
replaced atomically; a run killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from . import atomic, runtime
from .config import DTConfig, MLPBCConfig, model_kind
from .data.preprocess import Preprocessing
from .model import build_model

CHECKPOINTS = "checkpoints"
LATEST = "latest"


class CheckpointError(ValueError):
    """A run directory or checkpoint that cannot be loaded; the message names the path and field."""


@dataclass(frozen=True)
class RunMeta:
    """Everything needed to rebuild and use a model, stored as `meta.json`."""

    model_kind: str
    """'dt', 'bc' (DT without return tokens) or 'mlp-bc': `config.model_kind` of model_config, checked on load."""
    model_config: dict[str, Any]
    """DTConfig or MLPBCConfig fields."""
    state_dim: int | list[int]
    """Observation size, or [C, H, W] for pixels."""
    act_dim: int
    """Action size, or number of discrete actions."""
    state_mean: list[float]
    """`Preprocessing.state_mean`, flattened."""
    state_std: list[float]
    """`Preprocessing.state_std`, flattened."""
    reward_scale: float
    """`Preprocessing.reward_scale`."""
    env_id: str = ""
    dataset: str = ""
    step: int = 0
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance (e.g. the Hugging Face config an import came from)."""
    reward_clip: float = 0.0
    """`Preprocessing.reward_clip` (absent in older runs: 0, no clipping)."""

    def config(self) -> DTConfig | MLPBCConfig:
        cls = MLPBCConfig if self.model_kind == "mlp-bc" else DTConfig
        cfg = cls.from_dict(self.model_config, source="meta.json model_config")
        if model_kind(cfg) != self.model_kind:
            raise CheckpointError(f"meta.json: field 'model_kind' is {self.model_kind!r} but model_config describes "
                                  f"a {model_kind(cfg)!r} model")
        return cfg

    def preprocessing(self) -> Preprocessing:
        """The run's `Preprocessing` (state stats reshaped to the observation shape for vector states)."""
        cfg = self.config()
        mean, std = np.asarray(self.state_mean, np.float32), np.asarray(self.state_std, np.float32)
        shape = self.state_shape()
        if isinstance(shape, int):
            mean, std = mean.reshape(shape), std.reshape(shape)
        elif mean.size == 1:  # pixels: one scalar for all
            mean, std = mean.reshape(()), std.reshape(())
        return Preprocessing(mean, std, float(self.reward_scale), cfg.context_len, cfg.max_ep_len,
                             float(self.reward_clip))

    def state_shape(self) -> int | tuple[int, ...]:
        return self.state_dim if isinstance(self.state_dim, int) else tuple(self.state_dim)


@dataclass
class LoadedRun:
    model: torch.nn.Module
    """In eval mode."""
    meta: RunMeta
    path: Path
    """The checkpoint directory it came from."""
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def preprocessing(self) -> Preprocessing:
        return self.meta.preprocessing()


def save_checkpoint(
    run_dir: str | os.PathLike,
    model: torch.nn.Module,
    meta: RunMeta,
    trainer_state: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    keep: int = 2,
) -> Path:
    """Write checkpoint `step_{meta.step}` atomically and point `latest` at it; keep the newest `keep`."""
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = f"step_{meta.step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.", suffix=".tmp"))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        (tmp / "meta.json").write_text(json.dumps(dataclasses.asdict(meta), indent=1))
        if trainer_state is not None:
            torch.save(trainer_state, tmp / "trainer_state.pt")
        if extra_tensors:
            save_file({k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()}, str(tmp / "extra.safetensors"))
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic.write_text(root / LATEST, name)
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    path = root / pointer.read_text().strip()
    return path if path.is_dir() else None


def _resolve(run_dir: str | os.PathLike, step: int | None) -> Path:
    run_dir = Path(run_dir)
    if (run_dir / "meta.json").is_file():  # a checkpoint directory itself
        return run_dir
    if step is not None:
        path = run_dir / CHECKPOINTS / f"step_{step:08d}"
        if not path.is_dir():
            raise CheckpointError(f"{run_dir}: no checkpoint for step {step}")
        return path
    path = latest_checkpoint(run_dir)
    if path is None:
        raise CheckpointError(f"{run_dir}: no checkpoint found (expected {CHECKPOINTS}/{LATEST} naming a step directory)")
    return path


def read_meta(path: Path) -> RunMeta:
    meta_path = path / "meta.json"
    try:
        raw = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: unreadable ({exc})") from exc
    names = {f.name for f in dataclasses.fields(RunMeta)}
    required = {f.name for f in dataclasses.fields(RunMeta) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing = sorted(required - set(raw))
    if missing:
        raise CheckpointError(f"{meta_path}: missing field(s) {missing}")
    return RunMeta(**{k: v for k, v in raw.items() if k in names})


def load_run(run_dir: str | os.PathLike, step: int | None = None, map_location: str = "cpu") -> LoadedRun:
    """Rebuild the model of a run directory (its latest checkpoint, or `step`) in eval mode."""
    path = _resolve(run_dir, step)
    meta = read_meta(path)
    with runtime.seeded_torch(0):  # the random init is overwritten; the caller's RNG is left alone
        model = build_model(meta.model_kind, meta.config(), meta.state_shape(), meta.act_dim)
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing model weights")
    state = load_file(str(weights), device=map_location)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{weights}: weights do not match the config in meta.json (missing {missing}, unexpected {unexpected})")
    extra_path = path / "extra.safetensors"
    extra = load_file(str(extra_path), device=map_location) if extra_path.is_file() else {}
    return LoadedRun(model=model.to(map_location).eval(), meta=meta, path=path, extra_tensors=extra)


def load_trainer_state(path: Path) -> dict[str, Any]:
    f = path / "trainer_state.pt"
    if not f.is_file():
        raise CheckpointError(f"{f}: missing; this checkpoint cannot resume training")
    return torch.load(f, map_location="cpu", weights_only=True)
