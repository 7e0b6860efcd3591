"""The files of a run directory (layout: `checkpoint.py`), each read by one validated reader:

    train_config.json   read_train_config(run_dir)      the TrainConfig the run was started with
                        read_data_fingerprint(run_dir)  what identifies its data (field 'dataset'; absent in old runs)
    meta.json           read_meta(ckpt)                 RunMeta, whose schema `RunMeta.__post_init__` checks
    model.safetensors   load_weights(ckpt, model)       every tensor by name, shape and finiteness against the
                                                        model that meta.json describes (extra.safetensors: read)
    trainer_state.pt    load_trainer_state(ckpt)        its schema; `check_trainer_state` checks it against the run
                                                        it resumes (the optimizer's tensors against the model's
                                                        parameters, the step against meta.json's)

Every failure is a `CheckpointError` (a ValueError) whose message names the file and the field, so that
`dt eval` and `dt train --resume` print one line instead of a traceback, and a bad file is found before the
first training step.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from .common.action_scale import bounds_problem
from .common.atomic import read_json
from .common.checks import config_from_dict, is_int as _is_int, is_real, short as _short
from .config import MODEL_KINDS, DTConfig, MLPBCConfig, model_kind
from .run_config import TrainConfig
from .data.preprocess import Preprocessing

TRAIN_CONFIG = "train_config.json"
FINETUNE_CONFIG = "finetune_config.json"
"""A fine-tuning run's settings (online.py writes it; the run directory of `dt finetune --out`)."""
META = "meta.json"
WEIGHTS = "model.safetensors"
EXTRA_WEIGHTS = "extra.safetensors"
TRAINER_STATE = "trainer_state.pt"


class CheckpointError(ValueError):
    """A run directory or checkpoint that cannot be loaded; the message names the path and field."""


@dataclass(frozen=True)
class RunMeta:
    """Everything needed to rebuild and use a model, stored as `meta.json` (its schema is checked on creation)."""

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
    action_scale_low: list[float] | None = None
    """`Preprocessing.action_scale_low`: act_dim numbers (a run trained with scale_actions), or None (absent in older
    runs): actions unscaled."""
    action_scale_high: list[float] | None = None
    """`Preprocessing.action_scale_high`, likewise; None exactly when action_scale_low is."""

    def __post_init__(self) -> None:
        problem = _meta_problem(self.__dict__)
        if problem:
            raise CheckpointError(f"{META}: {problem}")

    def config(self) -> DTConfig | MLPBCConfig:
        cls = MLPBCConfig if self.model_kind == "mlp-bc" else DTConfig
        return cls.from_dict(self.model_config, source=f"{META} field 'model_config'")

    def preprocessing(self) -> Preprocessing:
        """The run's `Preprocessing` (state stats reshaped to the observation shape for vector states)."""
        mean, std = np.asarray(self.state_mean, np.float32), np.asarray(self.state_std, np.float32)
        shape = self.state_shape()
        if isinstance(shape, int):
            mean, std = mean.reshape(shape), std.reshape(shape)
        elif mean.size == 1:  # pixels: one scalar for all
            mean, std = mean.reshape(()), std.reshape(())
        return Preprocessing(mean, std, float(self.reward_scale), reward_clip=float(self.reward_clip),
                             action_scale_low=self.action_scale_low, action_scale_high=self.action_scale_high)

    def state_shape(self) -> int | tuple[int, ...]:
        return self.state_dim if isinstance(self.state_dim, int) else tuple(self.state_dim)


def _is_number(v: Any) -> bool:
    return is_real(v) and math.isfinite(v)


def _meta_problem(d: Mapping[str, Any]) -> str | None:
    """What is wrong with meta.json's fields `d` (field named, value and expectation), or None."""
    kind = d["model_kind"]
    if kind not in MODEL_KINDS:
        return f"field 'model_kind' is {kind!r}; expected one of {list(MODEL_KINDS)}"
    try:
        cfg = (MLPBCConfig if kind == "mlp-bc" else DTConfig).from_dict(d["model_config"], "field 'model_config'")
    except ValueError as exc:
        return str(exc)
    if model_kind(cfg) != kind:
        return f"field 'model_kind' is {kind!r} but model_config describes a {model_kind(cfg)!r} model"
    sd = d["state_dim"]
    if _is_int(sd) and sd > 0:
        size = int(sd)
    elif isinstance(sd, (list, tuple)) and len(sd) == 3 and all(_is_int(x) and x > 0 for x in sd) and kind != "mlp-bc":
        size = int(np.prod(sd))
    else:
        return f"field 'state_dim' is {sd!r}; expected a positive integer" + ("" if kind == "mlp-bc" else " or [C, H, W]")
    if not (_is_int(d["act_dim"]) and d["act_dim"] > 0):
        return f"field 'act_dim' is {d['act_dim']!r}; expected a positive integer"
    for name in ("state_mean", "state_std"):
        v = d[name]
        if not isinstance(v, (list, tuple)) or not all(_is_number(x) for x in v):
            return f"field {name!r} is {_short(v)}; expected a list of finite numbers"
        if len(v) != size and not (not _is_int(sd) and len(v) == 1):
            return f"field {name!r} has {len(v)} values; state_dim {sd!r} needs {size}"
    if any(x <= 0 for x in d["state_std"]):
        return "field 'state_std' has values <= 0; expected positive standard deviations"
    if not (_is_number(d["reward_scale"]) and d["reward_scale"] > 0):
        return f"field 'reward_scale' is {d['reward_scale']!r}; expected a finite number > 0"
    if not (_is_number(d["reward_clip"]) and d["reward_clip"] >= 0):
        return f"field 'reward_clip' is {d['reward_clip']!r}; expected a finite number >= 0"
    problem = _action_bounds_problem(d, cfg)
    if problem:
        return problem
    for name in ("env_id", "dataset", "version"):
        if not isinstance(d[name], str):
            return f"field {name!r} is {d[name]!r}; expected a string"
    if not (_is_int(d["step"]) and d["step"] >= 0):
        return f"field 'step' is {d['step']!r}; expected an integer >= 0"
    if not isinstance(d["extra"], dict):
        return f"field 'extra' is {_short(d['extra'])}; expected an object"
    return None


def _action_bounds_problem(d: Mapping[str, Any], cfg: DTConfig | MLPBCConfig) -> str | None:
    """What is wrong with meta.json's 'action_scale_low' / 'action_scale_high' (both null, or act_dim finite numbers each with
    low <= high, continuous actions only), or None."""
    problem = bounds_problem(d["action_scale_low"], d["action_scale_high"], d["act_dim"],
                             getattr(cfg, "discrete_actions", False))
    return None if problem is None else f"field {problem[0]!r} is {_short(d[problem[0]])}; expected {problem[1]}"


def read_meta(path: Path) -> RunMeta:
    """A checkpoint directory's meta.json, schema-checked (`RunMeta`)."""
    meta_path = Path(path) / META
    try:
        raw = read_json(meta_path, CheckpointError)
    except FileNotFoundError:
        raise CheckpointError(f"{meta_path}: missing; not a checkpoint directory") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{meta_path}: expected a JSON object of RunMeta fields, got {_short(raw)}")
    fields = dataclasses.fields(RunMeta)
    required = {f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    missing, unknown = sorted(required - set(raw)), sorted(set(raw) - {f.name for f in fields})
    if missing or unknown:
        raise CheckpointError(f"{meta_path}: " + (f"missing field(s) {missing}" if missing else f"unknown field(s) {unknown}"))
    try:
        return RunMeta(**raw)
    except CheckpointError as exc:
        raise CheckpointError(f"{meta_path}: {str(exc).removeprefix(META + ': ')}") from None


def read_train_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The TrainConfig a run was started with (its train_config.json, schema-checked)."""
    path = Path(run_dir) / TRAIN_CONFIG
    try:
        raw = read_json(path, CheckpointError)
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir}: nothing to resume (expected {TRAIN_CONFIG} and a checkpoint)") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("train"), dict):
        got = "no field 'train'" if isinstance(raw, dict) else f"{_short(raw)}"
        raise CheckpointError(f"{path}: expected an object whose field 'train' holds the TrainConfig; got {got}")
    for name, ok, wanted in (("model", lambda v: isinstance(v, dict), "an object"),
                             ("model_kind", lambda v: v in MODEL_KINDS, f"one of {list(MODEL_KINDS)}"),
                             ("act_dim", lambda v: _is_int(v) and v > 0, "a positive integer")):
        if name in raw and not ok(raw[name]):
            raise CheckpointError(f"{path}: field {name!r} is {_short(raw[name])}; expected {wanted}")
    train = dict(raw["train"])
    train.pop("model", None)  # written by versions whose TrainConfig named the model kind
    try:
        return config_from_dict(TrainConfig, train, f"{path}: field 'train'")
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None


_FINGERPRINT = {"source": (lambda v: isinstance(v, str), "a string"), "path": (lambda v: isinstance(v, str), "a string"),
                "steps": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
                "episodes": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
                "sha1": (lambda v: isinstance(v, str) and len(v) == 40, "a sha1 hex digest")}


def read_data_fingerprint(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """train_config.json's field 'dataset' (`run_data.fingerprint`: what identifies the run's data), schema-checked;
    None for runs written before it was recorded."""
    path = Path(run_dir) / TRAIN_CONFIG
    raw = read_json(path, CheckpointError)
    value = raw.get("dataset") if isinstance(raw, dict) else None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: field 'dataset' is {_short(value)}; expected an object with fields "
                              f"{list(_FINGERPRINT)}")
    for name, (ok, wanted) in _FINGERPRINT.items():
        if name not in value or not ok(value[name]):
            raise CheckpointError(f"{path}: field 'dataset.{name}' is {_short(value.get(name, '(missing)'))}; "
                                  f"expected {wanted}")
    return value


def read_safetensors(path: Path, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; missing, truncated or not safetensors: a CheckpointError naming it."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: missing model weights")
    try:
        return load_file(str(path), device=map_location)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt?): "
                              f"{type(exc).__name__}: {exc}") from None


def load_weights(path: Path, model: torch.nn.Module, map_location: str = "cpu") -> None:
    """Load a checkpoint's model.safetensors into `model` (built from its meta.json), after checking every tensor's
    name, shape, dtype kind and finiteness."""
    f = Path(path) / WEIGHTS
    state = read_safetensors(f, map_location)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{f}: tensors do not match the model {META} describes (missing {missing[:8]}, "
                              f"unexpected {unexpected[:8]})")
    for name, want in expected.items():
        got = state[name]
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(f"{f}: tensor {name!r} has shape {tuple(got.shape)}; the model {META} describes "
                                  f"needs {tuple(want.shape)}")
        if got.is_floating_point() != want.is_floating_point():
            raise CheckpointError(f"{f}: tensor {name!r} has dtype {got.dtype}; expected {want.dtype}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise CheckpointError(f"{f}: tensor {name!r} holds non-finite values (a diverged run?)")
    model.load_state_dict(state, strict=True)


def read_extra_tensors(path: Path, map_location: str = "cpu") -> dict[str, torch.Tensor]:
    """A checkpoint's optional extra.safetensors (empty if absent)."""
    f = Path(path) / EXTRA_WEIGHTS
    return read_safetensors(f, map_location) if f.is_file() else {}


# key -> (check, what is expected); `pending_losses`, `train_seconds`, `objective` and `world_size` are absent in
# older checkpoints
_TRAINER_STATE = {
    "optimizer": (lambda v: isinstance(v, dict) and isinstance(v.get("state"), dict)
                  and isinstance(v.get("param_groups"), list), "an optimizer state dict"),
    "scheduler": (lambda v: isinstance(v, dict), "a scheduler state dict"),
    "torch_rng": (lambda v: isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.ndim == 1,
                  "a 1-D uint8 tensor (torch RNG state)"),
    "numpy_rng": (lambda v: isinstance(v, dict) and "bit_generator" in v and "state" in v,
                  "a numpy bit generator state"),
    "step": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "pending_losses": (lambda v: isinstance(v, torch.Tensor) and v.ndim == 1, "a 1-D tensor"),
    "train_seconds": (lambda v: _is_number(v) and v >= 0, "a finite number >= 0"),
    "objective": (lambda v: isinstance(v, dict) and isinstance(v.get("log_temperature"), torch.Tensor)
                  and isinstance(v.get("temperature_optimizer"), dict), "an objective state (objective.py)"),
    "world_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1 (the number of training processes)"),
}
_TRAINER_STATE_OPTIONAL = ("pending_losses", "train_seconds", "objective", "world_size")


def load_trainer_state(path: Path) -> dict[str, Any]:
    """A checkpoint's trainer_state.pt (optimizer, schedule, RNGs, step), schema-checked; plain tensors and
    containers only (`torch.load(weights_only=True)`)."""
    f = Path(path) / TRAINER_STATE
    if not f.is_file():
        raise CheckpointError(f"{f}: missing; this checkpoint cannot resume training")
    try:
        state = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        first = str(exc).split(". ")[0].splitlines()[0] if str(exc) else ""
        raise CheckpointError(f"{f}: unreadable (truncated or corrupt?): {type(exc).__name__}: {first}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{f}: expected a dict of trainer state, got {type(state).__name__}")
    missing = sorted(set(_TRAINER_STATE) - set(_TRAINER_STATE_OPTIONAL) - set(state))
    unknown = sorted(set(state) - set(_TRAINER_STATE), key=str)
    if missing or unknown:
        raise CheckpointError(f"{f}: " + (f"missing field(s) {missing}" if missing else f"unknown field(s) {unknown}"))
    for key, value in state.items():
        ok, wanted = _TRAINER_STATE[key]
        if not ok(value):
            raise CheckpointError(f"{f}: field {key!r} is {_short(value)}; expected {wanted}")
    check_finite_moments(state["optimizer"], f)
    return state


def check_finite_moments(optimizer_state: Any, f: Path) -> None:
    """Every floating tensor of an optimizer's saved state (its moments) is finite, else a CheckpointError naming the
    file `f`: a NaN moment would pass for a diverged run later."""
    per_param = optimizer_state.get("state", {}) if isinstance(optimizer_state, dict) else {}
    for index, moments in per_param.items():
        for key, value in (moments.items() if isinstance(moments, dict) else ()):
            if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise CheckpointError(f"{f}: field 'optimizer': {key!r} of parameter {index} holds non-finite values; "
                                      "expected finite optimizer moments (a corrupt or diverged checkpoint)")


def check_optimizer_state(state: dict[str, Any], optimizer: torch.optim.Optimizer, path: Path) -> None:
    """The saved optimizer state (of `load_trainer_state`) has the parameter groups of `optimizer` and, per
    parameter, moment tensors of that parameter's shape (torch checks the group sizes only, and a wrong shape
    would fail in the first step)."""
    f = Path(path) / TRAINER_STATE
    saved = state["optimizer"]
    ours = [len(g["params"]) for g in optimizer.param_groups]
    theirs = [len(g.get("params", ())) if isinstance(g, dict) else -1 for g in saved["param_groups"]]
    if ours != theirs:
        raise CheckpointError(f"{f}: field 'optimizer' has parameter groups of sizes {theirs}; the model "
                              f"{META} describes has {ours}")
    params = dict(zip((i for g in saved["param_groups"] for i in g["params"]),
                      (p for g in optimizer.param_groups for p in g["params"])))
    for index, moments in saved["state"].items():
        if index not in params or not isinstance(moments, dict):
            raise CheckpointError(f"{f}: field 'optimizer' holds state for unknown parameter {index!r}")
        for key, value in moments.items():
            if isinstance(value, torch.Tensor) and value.ndim and tuple(value.shape) != tuple(params[index].shape):
                raise CheckpointError(f"{f}: field 'optimizer': {key!r} of parameter {index} has shape "
                                      f"{tuple(value.shape)}; the parameter has {tuple(params[index].shape)}")


def check_trainer_state(state: dict[str, Any], path: Path, optimizer: torch.optim.Optimizer, step: int) -> None:
    """A trainer state (of `load_trainer_state`) fits the run it resumes: the optimizer's (`check_optimizer_state`),
    the step of meta.json, RNG states that torch and numpy accept."""
    f = Path(path) / TRAINER_STATE
    check_optimizer_state(state, optimizer, path)
    if state["step"] != step:
        raise CheckpointError(f"{f}: field 'step' is {state['step']} but {META}'s is {step}")
    try:
        np.random.default_rng().bit_generator.state = state["numpy_rng"]
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(f"{f}: field 'numpy_rng' is not a PCG64 state ({exc!r})") from None
    try:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(state["torch_rng"])
    except RuntimeError as exc:
        raise CheckpointError(f"{f}: field 'torch_rng' is not a torch CPU RNG state ({exc})") from None
