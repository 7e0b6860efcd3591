"""Checks before the first training step. Everything a run will need (the machine's device and cores, the output
directory, the dataset, an env id and env for evaluation) is checked before step 1, so that no run is lost to a
late check, and nothing is written until the checks pass (a misspelled dataset leaves no --out directory).
`train()` and `resume()` call these in that order; the dataset itself is loaded (and checked) between them.

Errors are ValueErrors naming the option. Settings that run but make little sense get a warning
(`warnings.warn`; the CLI prints it as one `dt train: warning: ...` line), e.g. a warmup longer than the run.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable

from .common import runlock, runtime
from .run_config import TrainConfig


def check_new_run(cfg: TrainConfig) -> None:
    """What a new run checks before it loads its dataset: the machine, the output directory, no run there yet."""
    check_machine(cfg)
    check_out_dir(cfg.out)
    if Path(cfg.out).is_dir():  # (locking a directory that does not exist would make it)
        with runlock.exclusive(cfg.out):  # a run another process is writing: RunInUse
            refuse_existing_run(cfg.out)


def refuse_existing_run(run_dir: str | os.PathLike, hint: str = "") -> None:
    """A run directory that already holds a checkpoint is refused (`hint`: what to do instead; default: resume it
    with `dt train --resume`, or another --out)."""
    from .checkpoint import latest_checkpoint
    from .rundir import FINETUNE_CONFIG

    if latest_checkpoint(run_dir) is not None:
        if not hint and (Path(run_dir) / FINETUNE_CONFIG).is_file():
            hint = (f"it is a fine-tuning run ({FINETUNE_CONFIG}): rerun the `dt finetune ... --out {run_dir}` "
                    "command that made it to resume it, or use another --out")
        raise FileExistsError(f"{run_dir}: already holds a run; "
                              + (hint or f"use `dt train --resume {run_dir}` or another --out"))


def check_machine(cfg: TrainConfig, resuming: str = "", given: Iterable[str] = ()) -> TrainConfig:
    """The device exists on this machine and `torch_threads` fits its cores. A resumed run (`resuming`: its
    train_config.json, named in errors) keeps its saved settings, so there more threads than cores is a warning
    and this sitting uses the cores there are (returned as the config to run); for a new run it is an error.
    `given`: the fields this sitting set itself (resume's machine overrides): checked and named as a new run's are,
    not as train_config.json's."""
    given = set(given)
    where = {f: f"{resuming}: " if resuming and f not in given else "" for f in ("device", "torch_threads")}
    runtime.check_device(cfg.device, f"{where['device']}TrainConfig.device")
    cores = runtime.cpu_count()
    if cfg.torch_threads > cores:
        message = f"{where['torch_threads']}TrainConfig.torch_threads={cfg.torch_threads} is more than the {cores} CPU core(s) here"
        if not where["torch_threads"]:
            raise ValueError(f"{message}; use at most {cores} (0: torch's default)")
        warn(f"{message}; this sitting uses {cores}")
        return dataclasses.replace(cfg, torch_threads=cores)
    return cfg


def check_out_dir(run_dir: str | os.PathLike, option: str = "TrainConfig.out") -> None:
    """The run directory is a directory, or can be made: its nearest existing ancestor is a directory where a file
    can be created (tried: permissions alone say little to root, e.g. in /proc). `option`: the setting named."""
    run_dir = Path(run_dir)
    existing = next(p for p in (run_dir, *run_dir.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{option}={str(run_dir)!r}: {existing} exists and is not a directory; expected a directory")
    from .checkpoint import CHECKPOINTS, inside_checkpoints  # (torch: not at import, the parser imports this module)

    p = inside_checkpoints(existing)
    if p is not None:
        what = "the checkpoints directory" if p.name == CHECKPOINTS else "the checkpoint"
        raise ValueError(f"{option}={str(run_dir)!r}: is inside {what} {p} of a run (loading from there reads that "
                         "run's model, not what is written here); expected a directory outside any run's checkpoints")
    _check_writable(existing, f"{option}={str(run_dir)!r}")


def check_out_file(path: str | os.PathLike, option: str) -> None:
    """A file that a command writes at its end (atomic.write_json) can be written: it is no directory, and its
    directory exists or can be made in a writable one. Checked before the work that produces it."""
    path = Path(path)
    where = f"{option}={str(path)!r}"
    if path.is_dir():
        raise ValueError(f"{where} is a directory; expected a file to write")
    existing = next(p for p in path.parents if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{where}: {existing} exists and is not a directory; expected a file in a directory")
    _check_writable(existing, where)


def _check_writable(directory: Path, where: str) -> None:
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ValueError(f"{where}: {directory} is not writable ({exc.strerror or exc})") from None


def check_env(cfg: TrainConfig, data, match_dataset: bool = False) -> None:
    """The run's env (cfg.env_id, else the one the dataset records): with `match_dataset` its spaces must fit the
    dataset's; in-training evaluation (eval_targets) needs one, and it must exist."""
    from .common.envs_util import check_env_matches, make_env

    env_id = cfg.env_id or data.env_id
    if env_id and match_dataset:
        check_env_matches(data, env_id)
    if not cfg.eval_targets:
        return
    if not env_id:
        raise ValueError("TrainConfig.eval_targets needs an env id to evaluate in: pass --env-id, or use a dataset "
                         "that records one")
    if not match_dataset:
        make_env(env_id).close()


def check_scale_actions(cfg: TrainConfig, data, prep: Any = None) -> None:
    """`scale_actions` needs continuous actions, and a given `Preprocessing` (train's `prep`) must agree with it."""
    if cfg.scale_actions and data.discrete_actions:
        raise ValueError(f"TrainConfig.scale_actions: {data.source} has discrete actions; only continuous actions "
                         "scale (drop --scale-actions)")
    if prep is not None and prep.scales_actions != cfg.scale_actions:
        raise ValueError(f"TrainConfig.scale_actions={cfg.scale_actions} but the Preprocessing given "
                         f"{'has' if prep.scales_actions else 'has no'} action bounds; expected them to agree")


def warn_settings(cfg: TrainConfig, model_config: Any = None, data: Any = None, resuming: bool = False) -> None:
    """Warn about settings that run but where defaults make no sense for this run (with the model's config: settings
    the model ignores; with the training data too: a model that cannot fit it, such as continuous actions outside
    the tanh head's [-1, 1], or episodes longer than max_ep_len). `resuming`: the run's settings are fixed but its
    total of steps, so the advice names what a resume can change."""
    if cfg.warmup_steps > cfg.steps:
        end = cfg.steps / cfg.warmup_steps
        warn(f"TrainConfig.warmup_steps={cfg.warmup_steps} is longer than the run (steps={cfg.steps}): the learning "
              f"rate only reaches {100 * end:.3g}% of lr ({cfg.lr * end:.3g}) at the last step"
              + (" and never decays" if cfg.lr_decay != "none" else "")
              + (f"; give --steps of more than {cfg.warmup_steps} (the warm-up is the run's own)" if resuming
                 else "; set warmup_steps below steps (dt train: --warmup-steps; dt bench: its protocol's, e.g. "
                       "--cpu.warmup-steps)"))
    from .common import precision  # (torch: not at import, the parser imports this module)

    if cfg.precision == "bf16" and cfg.device.split(":")[0] == "cpu" and not precision.cpu_has_native_bf16():
        warn("TrainConfig.precision='bf16' on a CPU without native bf16 (no avx512_bf16 or amx_bf16 in its flags): "
             "its matrix products are emulated (the same arithmetic, common/precision.py), a step about 1.2x an fp32 "
             "one on such a CPU (docs/performance.md); dt train's --precision auto picks fp32 here (dt bench: the "
             "protocol fixes its precision, part of every cell's spec)")
    if cfg.eval_every and not cfg.eval_targets:
        warn(f"TrainConfig.eval_every={cfg.eval_every} has no effect without eval_targets (--eval-targets)")
    if model_config is not None and not getattr(model_config, "stochastic_policy", False):
        for name in ("init_temperature", "temperature_lr"):
            if getattr(cfg, name) != getattr(TrainConfig, name):
                warn(f"TrainConfig.{name}={getattr(cfg, name)} has no effect without a stochastic policy "
                      "(--stochastic-policy)")
    if model_config is not None and data is not None:
        _warn_data(model_config, data, cfg.scale_actions)
    if data is not None and not cfg.reward_scale:
        from .data.formats._common import default_reward_scale

        env_id = cfg.env_id or data.env_id
        rule = default_reward_scale(env_id) if env_id else data.reward_scale
        if not data.env_id and rule != data.reward_scale:
            warn(f"{data.source}: reward_scale is {data.reward_scale:g}, but the data names no env, and the rule for "
                 f"--env-id {env_id} is {rule:g} (docs/datasets.md): pass --reward-scale {rule:g} (or "
                 f"--reward-scale {data.reward_scale:g} to keep it)")


def _warn_data(model_config: Any, data: Any, scale_actions: bool = False) -> None:
    """The warnings of `warn_settings` about the model config against the training data (`scale_actions`: the
    model sees actions in [-1, 1], whatever the data's range)."""
    from .config import DTConfig

    dt = isinstance(model_config, DTConfig)
    tanh = model_config.action_tanh if dt else True  # MLP-BC: tanh
    if not data.discrete_actions and tanh and not scale_actions and len(data.actions):
        low, high = float(data.actions.min()), float(data.actions.max())
        if low < -1.0 or high > 1.0:
            fix = " (or --no-action-tanh)" if dt and not model_config.stochastic_policy else ""
            head = ("DTConfig.action_tanh" if dt and not model_config.stochastic_policy else
                    "the stochastic policy's tanh squashing" if dt else "MLP-BC's tanh output layer")
            warn(f"{data.source}: field 'actions' spans [{low:.4g}, {high:.4g}], outside the [-1, 1] that the tanh "
                  f"action head can output ({head}); pass --scale-actions{fix}")
    longest = int(data.episode_lengths.max()) if data.num_episodes else 0
    if dt and longest > model_config.max_ep_len:  # (MLP-BC has no timestep embedding)
        warn(f"DTConfig.max_ep_len={model_config.max_ep_len} is shorter than the longest episode "
              f"of {data.source} ({longest} steps): timesteps from {model_config.max_ep_len - 1} on share one "
              f"embedding; set --max-ep-len {longest}")


def warn(message: str) -> None:
    """A UserWarning from rank 0 only (under torchrun, rank 0 speaks for all)."""
    if int(os.environ.get("RANK", "0")) == 0:
        warnings.warn(message, stacklevel=3)
