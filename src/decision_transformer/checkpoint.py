"""Self-describing checkpoints, written atomically, never pickled.

Run directory layout:

    RUN_DIR/
      train_config.json                   the TrainConfig of the run (for --resume), and what identifies its
                                          data (field 'dataset': run_data.fingerprint)
      .lock                               held (flock) by the process writing the run: runlock.py
      metrics.jsonl                       one JSON object per log line: {"step": ..., "train/loss": ...}
      tb/                                 TensorBoard event files
      checkpoints/
        latest                            text file naming the newest complete checkpoint directory
        step_00001000/
          model.safetensors               model weights (safetensors)
          meta.json                       RunMeta: model kind + config, dims, state stats, reward scale,
                                          action bounds, env id, dataset, step, package version
          trainer_state.pt                optimizer, LR schedule, torch + numpy RNG state
                                          (plain tensors and containers: torch.load(weights_only=True))
          extra.safetensors               optional tensors kept for exact round trips (e.g. Hugging Face)

A checkpoint directory is written under a temporary name and renamed into place, then `latest` is
replaced atomically; a run killed at any moment leaves the previous checkpoint intact, and so does a machine that
loses power (each file and directory is flushed to disk before its rename: common/atomic.py). Every file is read back
by one validated reader (rundir.py): a bad file is a `CheckpointError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from .common import atomic, runtime
from .common.checks import is_int
from .data.preprocess import Preprocessing
from .model import build_model
from .rundir import (  # noqa: F401  (re-exported: the run directory's readers live in rundir.py)
    META, CheckpointError, RunMeta, load_trainer_state, load_weights, read_extra_tensors, read_meta,
)

CHECKPOINTS = "checkpoints"
LATEST = "latest"


def inside_checkpoints(path: str | os.PathLike) -> Path | None:
    """The checkpoint directory (it holds meta.json) or run's checkpoints/ directory (it holds `latest`) that `path`
    is, or lies inside; None if neither. What is written there would load as that run's model."""
    for p in (Path(path), *Path(path).parents):
        if (p / META).is_file() or p.name == CHECKPOINTS and (p / LATEST).is_file():
            return p
    return None


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


OPTIONAL_META_FIELDS = ("action_scale_low", "action_scale_high")
"""meta.json fields written only when set (`--scale-actions`): a run without them reads in versions before them."""


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
        os.chmod(tmp, atomic.default_mode(directory=True))  # mkdtemp's 0o700 would hide the run from other users
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        fields = {k: v for k, v in dataclasses.asdict(meta).items()
                  if not (k in OPTIONAL_META_FIELDS and v is None)}  # an unscaled run stays readable by older versions
        (tmp / "meta.json").write_text(json.dumps(fields, indent=1))
        if trainer_state is not None:
            torch.save(trainer_state, tmp / "trainer_state.pt")
        if extra_tensors:
            save_file({k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()}, str(tmp / "extra.safetensors"))
        for f in tmp.iterdir():  # safetensors writes 0o600 files, whatever the umask
            os.chmod(f, atomic.default_mode())
        atomic.fsync_tree(tmp)  # on disk whole before it takes its name (atomic.py's docstring)
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic.fsync(root, directory=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic.write_text(root / LATEST, name)
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def remove_stale_temps(run_dir: str | os.PathLike) -> list[Path]:
    """Remove what writers killed mid-write left (`.NAME.XXXX.tmp` files and directories: `save_checkpoint`'s,
    atomic.py's) in the run directory, its checkpoints/ and the step directories; returns them. Call only while
    holding the run's lock (runlock.py): another writer's temps are not stale."""
    run_dir = Path(run_dir)
    root = run_dir / CHECKPOINTS
    places = [run_dir, root, *(p for p in root.glob("step_*") if p.is_dir())]
    stale = [p for d in places for p in d.glob(".*.tmp")]
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return stale


def update_trainer_state(ckpt: Path, trainer_state: dict[str, Any]) -> None:
    """Replace a checkpoint's trainer_state.pt atomically (e.g. to count an evaluation run after it was saved)."""
    with atomic.atomic_path(Path(ckpt) / "trainer_state.pt") as tmp:
        torch.save(trainer_state, tmp)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint directory `checkpoints/latest` names; None if there is no `latest` (no checkpoint yet). A
    `latest` that is not a step directory's name, or names one that does not exist, is a CheckpointError (the
    writer never leaves either: `save_checkpoint` renames the directory into place before pointing at it)."""
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{pointer}: unreadable ({exc}); expected the name of a step directory such as "
                              "step_00001000") from None
    if not re.fullmatch(r"step_\d+", name):
        raise CheckpointError(f"{pointer}: names {name[:40]!r}; expected a step directory such as step_00001000")
    path = root / name
    if not path.is_dir():
        raise CheckpointError(f"{pointer}: names {name}, which does not exist in {root}")
    return path


def _resolve(run_dir: str | os.PathLike, step: int | str | None) -> Path:
    if isinstance(step, str) and step.strip().isdigit():  # "5", as typed
        step = int(step)
    integral = is_int(step)
    if step is not None and not (integral and step >= 0):
        raise (ValueError if integral else TypeError)(
            f"step={step!r}: expected a checkpoint's step, an int >= 0 (or None: the latest checkpoint)")
    run_dir = Path(run_dir)
    if (run_dir / META).is_file():  # a checkpoint directory itself
        return run_dir
    if run_dir.is_file():
        hint = (" (an exported ONNX policy: act on it with decision_transformer.deploy.OnnxPolicy, docs/deploy.md)"
                if run_dir.suffix.lower() == ".onnx" else "")
        raise CheckpointError(f"{run_dir}: is a file{hint}; expected a run directory (or one of its checkpoints)")
    if step is not None:
        path = run_dir / CHECKPOINTS / f"step_{step:08d}"
        if not path.is_dir():
            saved = sorted(int(p.name[5:]) for p in (run_dir / CHECKPOINTS).glob("step_*")
                           if p.is_dir() and p.name[5:].isdigit())
            raise CheckpointError(f"{run_dir}: no checkpoint for step {step}; "
                                  + (f"its checkpoints are at steps {saved}" if saved else "it has no checkpoints"))
        return path
    path = latest_checkpoint(run_dir)
    if path is None:
        raise CheckpointError(f"{run_dir}: no checkpoint found (expected {CHECKPOINTS}/{LATEST} naming a step directory)")
    return path


def load_run(run_dir: str | os.PathLike, step: int | None = None, map_location: str = "cpu") -> LoadedRun:
    """Rebuild the model of a run directory (its latest checkpoint, or `step`: an int, or a string of digits) in eval
    mode."""
    path = _resolve(run_dir, step)
    meta = read_meta(path)
    try:
        with runtime.seeded_torch(0):  # the random init is overwritten; the caller's RNG is left alone
            model = build_model(meta.model_kind, meta.config(), meta.state_shape(), meta.act_dim)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path / 'meta.json'}: describes a model that cannot be built: {exc}") from None
    load_weights(path, model, map_location)
    extra = read_extra_tensors(path, map_location)
    return LoadedRun(model=model.to(map_location).eval(), meta=meta, path=path, extra_tensors=extra)
