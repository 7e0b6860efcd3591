"""Run directories <-> Hugging Face checkpoints: `import_hf`, `export_hf`, and reading state statistics files."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

from ..common.checks import is_real
from .format import DEFAULT_REWARD_SCALE


def load_state_stats(path: str | os.PathLike) -> tuple:
    """(state_mean, state_std) from a JSON object or an .npz holding arrays of those names."""
    import json

    import numpy as np

    from .format import HFFormatError

    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path) as f:
                data = {k: f[k] for k in f.files}
        else:
            data = json.loads(path.read_text())
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise HFFormatError(f"{path}: unreadable state statistics ({exc}); expected JSON or .npz") from exc
    if not isinstance(data, dict) or "state_mean" not in data or "state_std" not in data:
        raise HFFormatError(f"{path}: expected fields 'state_mean' and 'state_std'")
    try:
        mean, std = np.asarray(data["state_mean"], np.float64), np.asarray(data["state_std"], np.float64)
    except (ValueError, TypeError) as exc:
        raise HFFormatError(f"{path}: fields 'state_mean' and 'state_std' must be lists of numbers ({exc})") from None
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise HFFormatError(f"{path}: fields 'state_mean' and 'state_std' must be finite, 'state_std' positive")
    return mean, std


def import_hf(hf_dir: str | os.PathLike, run_dir: str | os.PathLike, *, state_mean: Any = None,
              state_std: Any = None, env_id: str = "", reward_scale: float | None = None,
              context_len: int | None = None) -> Path:
    """Write one of our run directories from an HF checkpoint; returns the checkpoint directory.

    State statistics come from the arguments, else from the config's `dt_meta` (our own exports), else
    the identity (mean 0, std 1) is recorded with a warning: hub checkpoints expect normalized states.
    The reward scale defaults to `dt_meta`'s, else 1000 (the HF gym examples)."""

    import numpy as np

    from .. import __version__, preflight
    from ..checkpoint import RunMeta, save_checkpoint
    from .format import META_KEY, HFFormatError
    from .read import read_hf, resolve_state_stats
    from ..common import runlock
    from ..model import DecisionTransformer

    if not isinstance(env_id, str):
        raise HFFormatError(f"env_id={env_id!r}: expected a string (a Gymnasium id)")
    if reward_scale is not None and not (isinstance(reward_scale, (int, float)) and math.isfinite(reward_scale)
                                         and reward_scale > 0):
        raise HFFormatError(f"reward_scale={reward_scale!r}: expected a finite number > 0")
    preflight.check_out_dir(run_dir, "HFImport.out")
    if Path(run_dir).is_dir():  # (locking a directory that does not exist would make it)
        with runlock.exclusive(run_dir):  # a run another process is writing: RunInUse
            preflight.refuse_existing_run(run_dir, "import into another --out")
    ckpt = read_hf(hf_dir, context_len)
    model = DecisionTransformer(ckpt.config, ckpt.state_dim, ckpt.act_dim)
    model.load_state_dict(ckpt.state_dict, strict=True)
    mean, std = resolve_state_stats(ckpt, state_mean, state_std, hf_dir)
    source = "given" if state_mean is not None else f"{Path(hf_dir) / 'config.json'} {META_KEY}"
    if mean is None:
        warnings.warn(
            f"{hf_dir}: no state statistics given; recording mean 0 / std 1. Hub checkpoints expect the "
            "dataset's state_mean/state_std (see the model card); pass --state-mean/--state-std or --stats.",
            stacklevel=2,
        )
        mean, std, source = np.zeros(ckpt.state_dim), np.ones(ckpt.state_dim), "none given: identity"
    scale = reward_scale if reward_scale is not None else ckpt.dt_meta.get("reward_scale", DEFAULT_REWARD_SCALE)
    meta = RunMeta(
        model_kind="dt", model_config=ckpt.config.to_dict(), state_dim=ckpt.state_dim, act_dim=ckpt.act_dim,
        state_mean=np.asarray(mean, np.float64).tolist(), state_std=np.asarray(std, np.float64).tolist(),
        reward_scale=float(scale), env_id=env_id or ckpt.dt_meta.get("env_id", ""), dataset="", step=0,
        version=__version__,
        extra={"hf_config": ckpt.hf_config, "hf_source": str(Path(hf_dir).resolve()), "hf_prefix": ckpt.prefix,
               "state_stats_source": source,
               **({"max_return": float(ckpt.dt_meta["max_return"])} if "max_return" in ckpt.dt_meta else {})},
    )
    if env_id:
        _check_env_fits(env_id, model, meta)
    return save_checkpoint(run_dir, model, meta, extra_tensors=ckpt.extra_tensors)


def _check_env_fits(env_id: str, model: Any, meta: Any) -> None:
    """--env-id is recorded for `dt eval`: a warning now if it does not exist here or does not take the model's states
    and actions (`evaluate.check_spaces`, dt eval's own check; a warning, not an error: the run may be meant for a
    machine where the id is registered)."""
    from ..common.envs_util import make_env
    from ..evaluate import RolloutPolicy, check_spaces

    try:
        env = make_env(env_id)
        try:
            check_spaces(RolloutPolicy.from_meta(model, meta), env_id, tuple(env.observation_space.shape or ()),
                         env.action_space)
        finally:
            env.close()
    except ValueError as exc:
        warnings.warn(f"--env-id {env_id}: {exc}; dt eval of this run will fail there (another --env-id?)", stacklevel=3)


def export_hf(run_dir: str | os.PathLike, hf_dir: str | os.PathLike, step: int | None = None) -> Path:
    """Write an HF checkpoint from one of our run directories (its latest checkpoint, or `step`)."""
    from ..checkpoint import load_run
    from .format import HFFormatError
    from .write import save_hf

    run = load_run(run_dir, step=step)
    best = run.meta.extra.get("max_return")
    if run.meta.model_kind != "dt":
        raise HFFormatError(f"{run.path}: model_kind={run.meta.model_kind!r}; only 'dt' exports to Hugging Face")
    if run.meta.action_scale_low is not None or run.meta.action_scale_high is not None:
        raise HFFormatError(f"{run.path / 'meta.json'}: fields 'action_scale_low' / 'action_scale_high' are set (trained with "
                            "--scale-actions); Hugging Face's DecisionTransformerModel has no action scaling, so "
                            "only runs with unscaled actions export")
    return save_hf(
        run.model, hf_dir, hf_config=run.meta.extra.get("hf_config"), extra_tensors=run.extra_tensors,
        state_mean=run.meta.state_mean, state_std=run.meta.state_std, reward_scale=run.meta.reward_scale,
        env_id=run.meta.env_id, max_return=best if is_real(best) and math.isfinite(best) else None,
    )  # (only a finite best return: an export must hold what our import accepts)
