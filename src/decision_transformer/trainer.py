"""The trainer: one for every experiment (DT, BC = DT without return tokens, MLP-BC), the step and its exact resume.

train.py's module docstring states the conventions (optimisation, exact resume, nothing lost to a late check); this
module is the machinery they describe: the data a run trains on (`prepare_dataset`), its batch source
(`make_sampler`) and `Trainer` (model, optimiser, schedule, RNGs, checkpoints, evaluations). train.py is the run
directory's lifecycle around it: `train`, `resume`, `train_or_resume`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from . import __version__
from .common import distributed, runtime
from .checkpoint import RunMeta, load_run, load_trainer_state, save_checkpoint, update_trainer_state
from .rundir import CheckpointError, check_trainer_state
from .config import ModelConfig, model_kind
from .run_config import TrainConfig
from .data.frames import model_state_shape
from .data.preprocess import Preprocessing
from .data.registry import load_dataset
from .data.sampler import Batch, EpisodeSampler, WindowSampler
from .data.trajectories import TrajectoryDataset
from .objective import Objective
from .common.metrics import MetricsLogger, read_metrics
from .model import build_model
from .optim import lr_factor, param_groups
from .common.precision import backward_context
from .common.progress import progress_bar
from .common.seeding import derive_seed

Hook = Callable[[int, nn.Module], dict[str, Any]]


def prepare_dataset(cfg: TrainConfig, dataset: TrajectoryDataset | None = None) -> tuple[TrajectoryDataset, TrajectoryDataset]:
    """(training data, full data): SRC loaded, --reward-scale and delayed rewards applied; the training data is then
    the %BC subset. `Preprocessing` is fitted on the full data (the paper's %BC keeps the full data's statistics)."""
    full = dataset if dataset is not None else load_dataset(cfg.dataset, seed=0)
    if cfg.reward_scale:
        full = dataclasses.replace(full, reward_scale=float(cfg.reward_scale))
    if cfg.delayed_rewards:
        full = full.delayed_rewards()
    return (full.top_fraction(cfg.top_fraction) if cfg.top_fraction < 1.0 else full), full


def make_sampler(cfg: TrainConfig, model_config: ModelConfig, dataset: TrajectoryDataset,
                 prep: Preprocessing) -> WindowSampler | EpisodeSampler:
    """The batch source `cfg.sampler` names, with the model config's window (context_len, max_ep_len)."""
    window = (model_config.context_len, model_config.max_ep_len)
    anchor = "end" if cfg.sampler == "window-end" else "start"
    if dataset.observations.ndim == 3:  # single pixel frames (N, H, W): stacked per step (data/frames.py)
        from .data.frames import FrameStackSampler

        return FrameStackSampler(dataset, prep, *window, episode=cfg.sampler == "episode",
                                 return_balanced=cfg.return_balanced, anchor=anchor)
    if cfg.sampler == "episode":
        return EpisodeSampler(dataset, prep, *window, return_balanced=cfg.return_balanced)
    return WindowSampler(dataset, prep, *window, anchor=anchor)


class Trainer:
    """Model, optimiser, schedule, batch source and RNGs; `run()` trains to cfg.steps, checkpointing.

    The batch source is anything with `sample(batch_size, rng) -> Batch` (data/sampler.py). The trainer
    touches no process-wide state: the model is initialised under `runtime.seeded_torch(cfg.seed)` and the
    training loop runs on the trainer's own torch RNG state (dropout), which checkpoints carry."""

    def __init__(self, cfg: TrainConfig, model_config: ModelConfig, dataset: TrajectoryDataset, prep: Preprocessing,
                 act_dim: int | None = None, sampler: Any = None):
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.env_id = cfg.env_id or dataset.env_id
        self.discrete = dataset.discrete_actions
        if getattr(model_config, "discrete_actions", False) != self.discrete:
            raise ValueError(f"{dataset.source}: field 'actions' is {'discrete' if self.discrete else 'continuous'} but the "
                             f"model config has discrete_actions={model_config.discrete_actions}")
        if cfg.return_loss_weight > 0 and not getattr(model_config, "predict_return", False):
            raise ValueError("TrainConfig.return_loss_weight > 0 needs a DTConfig with predict_return=True")
        self.model_config, self.prep = model_config, prep
        self.kind = model_kind(model_config)
        state_dim = model_state_shape(dataset)  # int, or (C, H, W); single frames are stacked (data/frames.py)
        self.act_dim = act_dim if act_dim is not None else dataset.act_dim
        self.rng = np.random.default_rng(cfg.seed)
        self.device = torch.device(cfg.device)
        with runtime.seeded_torch(cfg.seed):
            self.model = build_model(self.kind, model_config, state_dim, self.act_dim).to(self.device)
            self.torch_rng = torch.get_rng_state()  # the loop's own RNG (dropout) continues from here
        self.objective = Objective(model_config, self.act_dim, self.device, cfg.action_loss_weight, cfg.return_loss_weight,
                                   init_temperature=cfg.init_temperature, temperature_lr=cfg.temperature_lr)
        self.dist = distributed.setup(cfg.device)
        self.forward_model = self.model
        if self.dist.enabled:
            if self.objective.uses_all:
                raise ValueError("return losses and stochastic policies are not supported under DDP (they need forward_all)")
            from torch.nn.parallel import DistributedDataParallel

            self.forward_model = DistributedDataParallel(self.model)
        if cfg.compile:  # the training forward only; checkpoints hold the plain module's weights
            self.forward_model = torch.compile(self.forward_model)
        # fused AdamW (one kernel for all parameters; CPU and CUDA since torch 2.4): measured ~7% off a
        # paper-size step on the 2-core dev box, side by side with the default foreach implementation.
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr,
                                           betas=(cfg.beta1, cfg.beta2), fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, functools.partial(lr_factor, cfg))
        self.sampler = sampler if sampler is not None else make_sampler(cfg, model_config, dataset, prep)
        self.step = 0
        self.pending_losses: list[float] = []  # losses since the last log row (checkpointed: exact resumed means)
        # wall seconds of the training loop (in-loop evaluations included), summed over the sittings of a resumed
        # run up to its last checkpoint; logged as `time/train_seconds` (checkpointed, so a resume continues it)
        self.train_seconds = 0.0
        self.meta_base = dict(
            model_kind=self.kind,
            model_config=model_config.to_dict(),
            state_dim=list(state_dim) if isinstance(state_dim, tuple) else int(state_dim),
            act_dim=int(self.act_dim),
            **prep.meta_fields(),
            env_id=self.env_id,
            dataset=dataset.name or cfg.dataset,
            version=__version__,
            extra={"max_return": float(dataset.episode_returns.max()), "dataset_episodes": int(dataset.num_episodes)},
        )

    # ---------------------------------------------------------------- state
    def meta(self) -> RunMeta:
        return RunMeta(**self.meta_base, step=self.step)

    def trainer_state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": self.torch_rng,
            "numpy_rng": self.rng.bit_generator.state,
            "step": self.step,
            "pending_losses": torch.tensor(self.pending_losses, dtype=torch.float64),  # since the last log row
            "train_seconds": float(self.train_seconds),
            "objective": self.objective.state_dict(),  # a stochastic policy's temperature; terms not yet logged
            "world_size": self.dist.world_size,  # processes (torchrun): the global batch is batch_size x this
        }

    def save(self) -> Path:
        finite = torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()
        if not bool(finite):  # never write a checkpoint of non-finite weights
            raise ValueError(f"step {self.step}: the weights are no longer finite (training diverged; lower --lr?); "
                             "not saved, the last checkpoint is kept")
        return save_checkpoint(self.run_dir, self.model, self.meta(), self.trainer_state())

    def restore(self, ckpt: Path) -> None:
        run = load_run(ckpt)
        if run.meta.state_dim != self.meta_base["state_dim"]:
            raise CheckpointError(f"{ckpt / 'meta.json'}: field 'state_dim' is {run.meta.state_dim} but dataset "
                                  f"{self.meta_base['dataset']} gives states of {self.meta_base['state_dim']}")
        self.model.load_state_dict(run.model.state_dict())
        state = load_trainer_state(ckpt)
        check_trainer_state(state, ckpt, self.optimizer, run.meta.step)
        saved = int(state.get("world_size", self.dist.world_size))  # older checkpoints hold none: compatible
        if saved != self.dist.world_size:
            raise CheckpointError(f"{ckpt / 'trainer_state.pt'}: the run was trained on {saved} process(es) and is "
                                  f"resumed on {self.dist.world_size}, which would change its global batch (batch_size "
                                  f"x processes); resume it on {saved} (torchrun --nproc_per_node {saved})")
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.rng.bit_generator.state = state["numpy_rng"]
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise CheckpointError(f"{ckpt / 'trainer_state.pt'}: does not fit this run ({exc!r})") from None
        self.torch_rng = state["torch_rng"]
        self.step = int(state["step"])
        self.pending_losses = state["pending_losses"].tolist() if "pending_losses" in state else []
        self.train_seconds = float(state.get("train_seconds", 0.0))  # older checkpoints hold none
        if "objective" in state:
            self.objective.load_state_dict(state["objective"])

    # ---------------------------------------------------------------- loop
    def sample(self) -> Batch:
        """This rank's slice of the global batch (see distributed.py)."""
        B, W, r = self.cfg.batch_size, self.dist.world_size, self.dist.rank
        batch = self.sampler.sample(B * W, self.rng)
        if W > 1:
            batch = Batch(**{k: getattr(batch, k)[r * B:(r + 1) * B] for k in Batch.__dataclass_fields__})
        return batch.to(self.device)

    def loss(self, batch: Batch) -> torch.Tensor:
        """The weighted losses (objective.py), on fp32 predictions (the forward pass runs in the configured precision)."""
        return self.objective.loss(self.model, self.forward_model, batch, self.cfg.precision, self.device)

    def train_step(self, batch: Batch) -> tuple[float, float]:
        self.model.train()
        loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        with backward_context(self.cfg.precision, self.device):
            loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip))
        value = loss.item()
        if not (math.isfinite(value) and math.isfinite(grad_norm)):  # stop before the weights turn non-finite
            raise ValueError(f"step {self.step + 1}: loss {value}, gradient norm {grad_norm}: training diverged "
                             "(lower --lr?); the last checkpoint is kept")
        self.optimizer.step()
        self.scheduler.step()
        self.objective.update()  # the temperature's own step; the terms for the next log row
        return value, grad_norm

    def eval_due(self, step: int) -> bool:
        """In-training evaluation at `step`: every eval_every steps and at the end, when eval_targets are given."""
        cfg = self.cfg
        return bool(cfg.eval_targets) and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps)

    def run(self, logger: MetricsLogger | None, hook: Hook | None = None, hook_every: int = 0) -> dict[str, Any]:
        """Train to cfg.steps on the trainer's own torch RNG. `logger` is None on non-main DDP ranks (they
        neither log nor save). `hook(step, model)` runs every `hook_every` steps on the main rank, with the
        model in eval mode; the metrics it returns are logged (a benchmark's learning curve)."""
        with runtime.torch_rng_state(self.torch_rng):
            try:
                return self._loop(logger, hook, hook_every)
            finally:
                self.torch_rng = torch.get_rng_state()

    def _loop(self, logger: MetricsLogger | None, hook: Hook | None, hook_every: int) -> dict[str, Any]:
        cfg = self.cfg
        last_eval: dict[str, Any] = {}
        main = self.dist.is_main
        bar = progress_bar(cfg.progress and main, total=cfg.steps, initial=self.step, desc=f"train {self.kind}",
                           leave=False)
        t0, n0 = time.perf_counter(), self.step
        clock = t0  # self.train_seconds counts up to here
        losses = self.pending_losses
        if main and self.step and self.eval_due(self.step) and not any(
                r["step"] == self.step and "eval/return_mean" in r for r in read_metrics(self.run_dir)):
            last_eval = self.evaluate_now(logger)  # resumed from a checkpoint whose evaluation did not finish
        while self.step < cfg.steps:
            loss, grad_norm = self.train_step(self.sample())
            self.step += 1
            losses.append(loss)
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                now = time.perf_counter()
                sps = (self.step - n0) * cfg.batch_size * self.dist.world_size / max(now - t0, 1e-9)
                self.train_seconds, clock = self.train_seconds + now - clock, now
                mean_loss = distributed.mean_across_ranks(float(np.mean(losses)), self.dist)
                if main:
                    logger.log(self.step, {
                        "train/loss": mean_loss, "train/grad_norm": grad_norm,
                        "train/lr": self.scheduler.get_last_lr()[0], "train/samples_per_s": sps,
                        "time/train_seconds": self.train_seconds, **self.objective.log_row(),
                    })
                bar.set_postfix(loss=f"{mean_loss:.4f}", samples_s=f"{sps:.0f}")
                losses.clear()
                t0, n0 = time.perf_counter(), self.step
            if main and hook is not None and hook_every and self.step % hook_every == 0:
                self.model.eval()
                logger.log(self.step, hook(self.step, self.model))
            # The checkpoint comes after the hook, so that a resumed run never repeats a logged hook, and before an
            # evaluation (an evaluation step is a checkpoint step), so that a failed evaluation never loses the
            # trained model; a resumed run then runs the evaluation first (above).
            eval_due = main and self.eval_due(self.step)
            if main and (self.step % cfg.save_every == 0 or self.step == cfg.steps or eval_due):
                self.torch_rng = torch.get_rng_state()  # the loop's RNG as of this step goes into the checkpoint
                now = time.perf_counter()
                self.train_seconds, clock = self.train_seconds + now - clock, now
                ckpt = self.save()
            if eval_due:
                last_eval = self.evaluate_now(logger)
                now = time.perf_counter()
                self.train_seconds, clock = self.train_seconds + now - clock, now
                update_trainer_state(ckpt, self.trainer_state())  # its clock counts the evaluation too
        bar.close()
        self.model.eval()
        return last_eval

    def evaluate_now(self, logger: MetricsLogger) -> dict[str, Any]:
        from .evaluate import RolloutPolicy, evaluate

        if not self.env_id:
            raise ValueError("evaluation needs an env id: pass --env-id or use a dataset that records one")
        self.model.eval()
        policy = RolloutPolicy.from_meta(self.model, self.meta(), self.cfg.precision)
        results = evaluate(policy, self.env_id, list(self.cfg.eval_targets), num_episodes=self.cfg.eval_episodes,
                           seed=derive_seed(self.cfg.seed, "train-eval"), progress=False, dataset_name=self.meta_base["dataset"])
        row: dict[str, Any] = {}
        for r in results:
            tag = f"eval/target_{r.target_return:g}"
            row[f"{tag}/return_mean"] = r.return_mean
            row[f"{tag}/return_std"] = r.return_std
            for label, (mean, _) in r.normalized.items():
                row[f"{tag}/normalized_score_{label.split(':')[0]}"] = mean
        best = max(results, key=lambda r: r.return_mean)
        row["eval/return_mean"] = best.return_mean
        logger.log(self.step, row)
        return row
