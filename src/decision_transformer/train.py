"""Training: one trainer for every experiment (DT, BC = DT without return tokens, MLP-BC), with exact resume.

This module is a run directory's lifecycle: `train` (a new run), `resume` (a killed or finished one),
`train_or_resume`; the trainer itself (`Trainer`, `prepare_dataset`, `make_sampler`) is trainer.py's. Both follow:

* The batch source is anything with `sample(batch_size, rng) -> Batch` (data/sampler.py: K-step windows, or
  whole episodes, uniform or return-balanced; data/frames.py stacks Atari frames); `TrainConfig.sampler`
  picks one. Losses: objective.py's (the action loss or a stochastic policy's, a return head's, the critic's).
* Optimisation follows the paper's gym code by default: AdamW (lr 1e-4, weight decay 1e-4), linear warmup
  over 10k steps, gradient-norm clip 0.25, batch 64; cosine decay and betas for the Atari settings.
* Exact resume: a checkpoint holds the optimiser, schedule, the sampler's numpy RNG, the trainer's own torch
  RNG (dropout) as of the saved step, and the losses not yet logged; a resumed run logs what an
  uninterrupted one would have (tests/test_train.py kills a run and compares).
* `train_or_resume` is what benchmarks and sweeps call: a finished run is loaded, a killed one resumed.
* Nothing is lost to a late check or a failed evaluation: every input is checked before step 1 (preflight.py);
  a non-finite loss or gradient stops the run before it is saved; an evaluation step is also a checkpoint step,
  saved before the evaluation runs, and a resumed run first runs an evaluation missing at its checkpoint.
  The schedule and the weight-decay groups are optim.py's.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from . import preflight, run_data
from .common import atomic, distributed, runlock, runtime
from .common.checks import differing_fields
from .checkpoint import LoadedRun, latest_checkpoint, load_run, read_meta, remove_stale_temps
from .rundir import TRAIN_CONFIG, read_data_fingerprint, read_train_config
from .config import ModelConfig, model_config as default_config
from .run_config import TrainConfig
from .data.frames import model_state_shape
from .data.preprocess import Preprocessing
from .data.trajectories import TrajectoryDataset
from .common.metrics import MetricsLogger, format_table, read_metrics, truncate_metrics
from .optim import lr_factor, param_groups
from .trainer import Hook, Trainer, make_sampler, prepare_dataset

__all__ = [  # this module's API, with the trainer's, the schedule's and the config's names it re-exports
    "MACHINE_FIELDS", "train", "resume", "train_or_resume", "loss_history", "read_train_config",
    "Hook", "Trainer", "make_sampler", "prepare_dataset", "TrainConfig", "lr_factor", "param_groups",
]

MACHINE_FIELDS = ("device", "torch_threads", "progress")
"""TrainConfig fields that only say where and how visibly a run trains, not what it computes: a resumed run may
change them (a run trained on a GPU resumed on a CPU), and they are not part of a run's identity."""



def train(
    cfg: TrainConfig,
    model_config: ModelConfig | None = None,
    dataset: TrajectoryDataset | None = None,
    act_dim: int | None = None,
    prep: Preprocessing | None = None,
    hook: Hook | None = None,
    hook_every: int = 0,
) -> LoadedRun:
    """Train a new run into cfg.out and return it loaded (model in eval mode). `dataset` overrides cfg.dataset
    (programmatic use); `prep` overrides the preprocessing fitted on the full data; `act_dim` the number of
    discrete actions seen; `hook` as in `Trainer.run`. `discrete_actions` of the model config is set from the
    data (like state_dim, it is derived)."""
    run_dir = Path(cfg.out)
    preflight.check_new_run(cfg)  # everything the run needs is checked before anything is written
    model_config = model_config or default_config("dt")
    data, full = prepare_dataset(cfg, dataset)
    model_state_shape(data)  # observations the model cannot take are refused before anything is fitted or built
    if model_config.discrete_actions != data.discrete_actions:  # derived from the data, like state_dim
        model_config = dataclasses.replace(model_config, discrete_actions=data.discrete_actions)
    preflight.check_env(cfg, data, match_dataset=dataset is None)
    preflight.check_scale_actions(cfg, full, prep)
    prep = prep or Preprocessing.fit(full, scale_actions=cfg.scale_actions)
    trainer = Trainer(cfg, model_config, data, prep, act_dim=act_dim)
    preflight.warn_settings(cfg, model_config, data)
    fingerprint = run_data.fingerprint(cfg, full)
    with runlock.exclusive(run_dir):
        preflight.refuse_existing_run(run_dir)  # again, now that no other process can be writing it
        if trainer.dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(run_dir)  # of an earlier attempt killed while writing
            truncate_metrics(run_dir, 0)  # rows of an earlier attempt killed before its first checkpoint
            atomic.write_json(run_dir / TRAIN_CONFIG, {
                "train": dataclasses.asdict(cfg), "model": model_config.to_dict(), "model_kind": trainer.kind,
                "act_dim": trainer.act_dim, "dataset": fingerprint})
        return _run(trainer, hook, hook_every)


def resume(run_dir: str | os.PathLike, steps: int | None = None, dataset: TrajectoryDataset | None = None,
           hook: Hook | None = None, hook_every: int = 0, **machine: Any) -> LoadedRun:
    """Continue a killed (or finished) run from its latest checkpoint; `steps` may change the total (saved in
    train_config.json, so a later resume keeps it). `machine`: MACHINE_FIELDS for this sitting only (device,
    torch_threads, progress; they change where the run trains, not what). The model config and preprocessing come
    from the checkpoint; the data must be the data the run was trained on (train_config.json's field 'dataset')."""
    run_dir = Path(run_dir)
    unknown = sorted(set(machine) - set(MACHINE_FIELDS))
    if unknown:
        raise TypeError(f"resume(): unknown setting(s) {unknown}; only {list(MACHINE_FIELDS)} may change on resume")
    # the run continues where it is: a copied or moved run directory must not write into the one it came from
    cfg = dataclasses.replace(read_train_config(run_dir), out=str(run_dir))
    saved_data = read_data_fingerprint(run_dir)
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    given = {k: v for k, v in machine.items() if v is not None}
    cfg = dataclasses.replace(cfg, **given)
    cfg = preflight.check_machine(cfg, resuming=str(run_dir / TRAIN_CONFIG), given=given)
    with runlock.exclusive(run_dir):
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            raise FileNotFoundError(f"{run_dir}: nothing to resume (no checkpoint yet)")
        meta = read_meta(ckpt)
        if meta.step > cfg.steps:
            raise ValueError(f"{run_dir}: steps={cfg.steps} is below the step of its checkpoint ({meta.step})")
        if dataset is None:
            cfg = run_data.resolve_dataset(cfg, run_dir, saved_data)
        data, full = prepare_dataset(cfg, dataset)
        run_data.check_same_data(run_dir, saved_data, run_data.fingerprint(cfg, full),
                         cfg.dataset if dataset is None else "the dataset passed")
        preflight.check_env(cfg, data)
        preflight.warn_settings(cfg, resuming=True)
        trainer = Trainer(cfg, meta.config(), data, meta.preprocessing(), act_dim=meta.act_dim)
        trainer.restore(ckpt)
        if trainer.dist.is_main:
            remove_stale_temps(run_dir)  # of a sitting killed while saving
            if steps is not None:
                run_data.save_steps(run_dir, steps)
            elif meta.step == cfg.steps:
                preflight.warn(f"{run_dir}: already at its total of {cfg.steps} steps ({TRAIN_CONFIG} field "
                               "'train.steps'); nothing to train (give --steps N for a new total)")
            truncate_metrics(run_dir, trainer.step)
        distributed.barrier(trainer.dist)
        return _run(trainer, hook, hook_every)


def train_or_resume(cfg: TrainConfig, model_config: ModelConfig, dataset: TrajectoryDataset, prep: Preprocessing | None = None,
                    hook: Hook | None = None, hook_every: int = 0) -> LoadedRun:
    """What a benchmark cell does: a finished run in cfg.out is loaded, a killed one resumed, else a new one
    trained. The run directory must have been made with the same settings (checked; where it was made does not
    count: a run moved, copied or named by another path continues where it is, as `resume` does)."""
    ckpt = latest_checkpoint(cfg.out)
    if ckpt is None:
        return train(cfg, model_config, dataset, prep=prep, hook=hook, hook_every=hook_every)
    meta = read_meta(ckpt)
    machine = {k: getattr(cfg, k) for k in MACHINE_FIELDS}  # this sitting's: not part of the run's identity
    saved_cfg = dataclasses.replace(read_train_config(cfg.out), out=cfg.out, **machine)
    if saved_cfg != cfg or meta.config() != model_config:
        diff = differing_fields({**dataclasses.asdict(saved_cfg), **dataclasses.asdict(meta.config())},
                                {**dataclasses.asdict(cfg), **dataclasses.asdict(model_config)})
        raise ValueError(f"{cfg.out}: holds a run with other settings (train_config.json / meta.json: {diff}); "
                         "remove it or use another output directory")
    if meta.step >= cfg.steps:
        return load_run(cfg.out)
    return resume(cfg.out, dataset=dataset, hook=hook, hook_every=hook_every, **machine)


def loss_history(run_dir: str | os.PathLike) -> list[list[float]]:
    """[step, train/loss] rows of a run's metrics.jsonl."""
    return [[r["step"], r["train/loss"]] for r in read_metrics(run_dir) if "train/loss" in r]


def _run(trainer: Trainer, hook: Hook | None, hook_every: int) -> LoadedRun:
    main = trainer.dist.is_main
    logger = MetricsLogger(trainer.run_dir) if main else None
    try:
        with runtime.torch_threads(trainer.cfg.torch_threads):
            last_eval = trainer.run(logger, hook, hook_every)
    finally:
        if logger is not None:
            logger.close()
    distributed.barrier(trainer.dist)
    if trainer.cfg.progress and main and last_eval:
        print(format_table(["metric", "value"], [[k, v] for k, v in last_eval.items()]))
    return load_run(trainer.run_dir)
