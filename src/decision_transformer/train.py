"""Training: one trainer for DT, BC (DT without return tokens) and MLP-BC, with exact resume.

Optimisation follows the paper's gym code: AdamW (lr 1e-4, weight decay 1e-4), linear warmup over
10k steps, gradient-norm clip 0.25, batch 64.

Weight decay is applied to the weight matrices of Linear and Conv2d layers only. Biases, LayerNorm
parameters and embedding tables (timestep, discrete action) are not decayed (the GPT convention;
decaying an embedding row would shrink rarely-seen timesteps towards zero).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import __version__, atomic, distributed
from .checkpoint import (
    RunMeta, LoadedRun, latest_checkpoint, load_run, load_trainer_state, read_meta, save_checkpoint,
)
from .config import DTConfig, MLPBCConfig
from .data.registry import load_dataset
from .data.sampler import Batch, WindowSampler
from .data.trajectories import DatasetError, TrajectoryDataset
from .metrics import MetricsLogger, format_table, truncate_metrics
from .model import build_model

MODEL_KINDS = ("dt", "bc", "mlp-bc")


@dataclass(frozen=True)
class TrainConfig:
    """Training run settings (the model architecture is a separate DTConfig / MLPBCConfig)."""

    dataset: str = "pendulum-mixed"
    """Dataset SRC: a built-in name, a native .npz, minari:ID, a D4RL .hdf5, or a parquet directory."""
    env_id: str = ""
    """Gymnasium id used for evaluation; empty = the one the dataset records."""
    out: str = "runs/dt"
    """Run directory: checkpoints, metrics.jsonl, TensorBoard logs."""
    model: str = "dt"
    """dt, bc (the same transformer without return tokens) or mlp-bc (the paper's MLP baseline)."""
    steps: int = 100_000
    """Total gradient steps."""
    batch_size: int = 64
    """Windows per gradient step."""
    lr: float = 1e-4
    """AdamW learning rate after warmup."""
    weight_decay: float = 1e-4
    """AdamW weight decay (Linear/Conv weights only)."""
    warmup_steps: int = 10_000
    """Linear learning-rate warmup from lr/warmup_steps to lr."""
    grad_clip: float = 0.25
    """Gradient-norm clip."""
    seed: int = 0
    """Seeds the model init, dropout and the window sampler."""
    top_fraction: float = 1.0
    """%BC: train on the highest-return episodes up to this fraction of timesteps (1 = all)."""
    delayed_rewards: bool = False
    """Paper Table 7: move each episode's return onto its last step."""
    log_every: int = 100
    """Steps between metrics.jsonl rows."""
    save_every: int = 1000
    """Steps between checkpoints (one is always written at the end)."""
    eval_every: int = 0
    """Steps between in-training evaluations (0 = only if eval_targets are given, at the end)."""
    eval_targets: tuple[float, ...] = ()
    """Target returns for in-training evaluation."""
    eval_episodes: int = 10
    """Episodes per target for in-training evaluation."""
    device: str = "cpu"
    """Torch device."""
    torch_threads: int = 0
    """torch CPU threads for this process (0: torch's default, one per core). On a busy machine fewer threads
    than cores can be much faster: on the shared 2-core dev box a step was ~16x slower with 2 threads than with 1."""
    progress: bool = True
    """Show a tqdm progress bar."""

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"TrainConfig.model={self.model!r}; expected one of {MODEL_KINDS}")
        for name in ("steps", "batch_size", "log_every", "save_every", "warmup_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be positive")
        if self.torch_threads < 0:
            raise ValueError(f"TrainConfig.torch_threads={self.torch_threads} must be >= 0 (0: torch's default)")


def default_model_config(kind: str, context_len: int | None = None, **overrides: Any) -> DTConfig | MLPBCConfig:
    """The paper's architecture for a model kind; `context_len` and other fields override.

    For 'mlp-bc', `embed_dim` sets the hidden width and transformer-only fields (n_head, mlp_ratio,
    activation, action_tanh) do not apply and are ignored."""
    if context_len is not None:
        overrides["context_len"] = context_len
    if kind == "mlp-bc":
        if "embed_dim" in overrides:
            overrides["hidden_dim"] = overrides.pop("embed_dim")
        fields = MLPBCConfig.__dataclass_fields__
        return MLPBCConfig(**{k: v for k, v in overrides.items() if k in fields})
    if kind == "bc":
        overrides["condition_on_return"] = False
    return DTConfig(**overrides)


def action_loss(action_preds: torch.Tensor, actions: torch.Tensor, attention_mask: torch.Tensor, discrete: bool) -> torch.Tensor:
    """Mean over real steps: squared error averaged over action dims, or cross-entropy on logits."""
    real = attention_mask.bool()  # (B, K)
    if discrete:
        return F.cross_entropy(action_preds[real], actions[real])  # (M, A) logits vs (M,) targets
    return ((action_preds - actions) ** 2)[real].mean()  # (M, A) -> scalar


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "weight" and isinstance(module, (nn.Linear, nn.Conv2d)):
                decay.append(p)
            else:
                no_decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def prepare_dataset(cfg: TrainConfig, dataset: TrajectoryDataset | None = None) -> TrajectoryDataset:
    """Load SRC and apply the %BC / delayed-reward transforms (state stats stay those of the full data)."""
    data = dataset if dataset is not None else load_dataset(cfg.dataset, seed=0)
    if cfg.delayed_rewards:
        data = data.delayed_rewards()
    if cfg.top_fraction < 1.0:
        data = data.top_fraction(cfg.top_fraction)
    return data


def check_env_matches(dataset: TrajectoryDataset, env_id: str, discrete: bool | None = None) -> None:
    """Raise a DatasetError if the dataset's observation/action dimensions disagree with the env's."""
    import gymnasium as gym

    from .envs_util import make_env

    env = make_env(env_id)
    try:
        obs_shape = tuple(env.observation_space.shape or ())
        if obs_shape != dataset.observation_shape:
            raise DatasetError(
                f"{dataset.source}: field 'observations' has shape {dataset.observation_shape} per step; "
                f"env {env_id} observes {obs_shape}"
            )
        space = env.action_space
        if isinstance(space, gym.spaces.Discrete):
            if not dataset.discrete_actions or dataset.act_dim > space.n:
                raise DatasetError(f"{dataset.source}: field 'actions' does not fit env {env_id}'s Discrete({space.n}) actions")
        elif dataset.discrete_actions or (dataset.act_dim,) != tuple(space.shape):
            raise DatasetError(
                f"{dataset.source}: field 'actions' has shape {dataset.actions.shape[1:]} per step; env {env_id} takes {space.shape}"
            )
    finally:
        env.close()


class Trainer:
    """Holds model, optimiser, schedule, sampler and RNGs; `run()` trains to cfg.steps, checkpointing."""

    def __init__(self, cfg: TrainConfig, model_config: DTConfig | MLPBCConfig, dataset: TrajectoryDataset,
                 act_dim: int | None = None):
        self.cfg = cfg
        self.model_config = model_config
        self.dataset = dataset
        self.run_dir = Path(cfg.out)
        self.env_id = cfg.env_id or dataset.env_id
        self.discrete = dataset.discrete_actions
        if getattr(model_config, "discrete_actions", False) != self.discrete:
            model_config = dataclasses.replace(model_config, discrete_actions=self.discrete)
            self.model_config = model_config
        state_dim = dataset.observation_shape[0] if len(dataset.observation_shape) == 1 else dataset.observation_shape
        self.act_dim = act_dim if act_dim is not None else dataset.act_dim
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)  # process-wide, as torch offers it
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.device = torch.device(cfg.device)
        self.model = build_model(cfg.model, model_config, state_dim, self.act_dim).to(self.device)
        self.dist = distributed.setup(cfg.device)
        self.forward_model = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.forward_model = DistributedDataParallel(self.model)
        # fused AdamW (one kernel for all parameters; CPU and CUDA since torch 2.4): measured ~7% off a
        # paper-size step on the 2-core dev box, side by side with the default foreach implementation.
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg.weight_decay), lr=cfg.lr, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / cfg.warmup_steps)
        )
        mean, std = dataset.state_stats
        self.sampler = WindowSampler(dataset, model_config.context_len, model_config.max_ep_len, mean, std)
        self.step = 0
        self.meta_base = dict(
            model_kind=cfg.model,
            model_config=model_config.to_dict(),
            state_dim=list(state_dim) if isinstance(state_dim, tuple) else int(state_dim),
            act_dim=int(self.act_dim),
            state_mean=np.asarray(mean, np.float64).reshape(-1).tolist(),
            state_std=np.asarray(std, np.float64).reshape(-1).tolist(),
            reward_scale=float(dataset.reward_scale),
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
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "step": self.step,
        }

    def save(self) -> Path:
        return save_checkpoint(self.run_dir, self.model, self.meta(), self.trainer_state())

    def restore(self, ckpt: Path) -> None:
        run = load_run(ckpt)
        self.model.load_state_dict(run.model.state_dict())
        state = load_trainer_state(ckpt)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.step = int(state["step"])

    # ---------------------------------------------------------------- loop
    def sample(self) -> Batch:
        """This rank's slice of the global batch (see distributed.py)."""
        B, W, r = self.cfg.batch_size, self.dist.world_size, self.dist.rank
        batch = self.sampler.sample(B * W, self.rng)
        if W > 1:
            batch = Batch(**{k: getattr(batch, k)[r * B:(r + 1) * B] for k in Batch.__dataclass_fields__})
        return batch.to(self.device)

    def train_step(self, batch: Batch) -> tuple[float, float]:
        self.model.train()
        preds = self.forward_model(batch.states, batch.actions, batch.returns_to_go, batch.timesteps, batch.attention_mask)
        loss = action_loss(preds, batch.actions, batch.attention_mask, self.discrete)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss.item(), float(grad_norm)

    def run(self, logger: MetricsLogger | None) -> dict[str, Any]:
        """Train to cfg.steps. `logger` is None on non-main DDP ranks (they neither log nor save)."""
        cfg = self.cfg
        last_eval: dict[str, Any] = {}
        main = self.dist.is_main
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (cfg.progress and main), desc=f"train {cfg.model}", dynamic_ncols=True)
        t0, n0 = time.perf_counter(), self.step
        losses: list[float] = []
        while self.step < cfg.steps:
            batch = self.sample()
            loss, grad_norm = self.train_step(batch)
            self.step += 1
            losses.append(loss)
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                dt = time.perf_counter() - t0
                sps = (self.step - n0) * cfg.batch_size * self.dist.world_size / max(dt, 1e-9)
                mean_loss = distributed.mean_across_ranks(float(np.mean(losses)), self.dist)
                if main:
                    logger.log(self.step, {
                        "train/loss": mean_loss, "train/grad_norm": grad_norm,
                        "train/lr": self.scheduler.get_last_lr()[0], "train/samples_per_s": sps,
                    })
                bar.set_postfix(loss=f"{mean_loss:.4f}", samples_s=f"{sps:.0f}")
                losses, t0, n0 = [], time.perf_counter(), self.step
            if main and (self.step % cfg.save_every == 0 or self.step == cfg.steps):
                self.save()
            due = main and cfg.eval_targets and (
                (cfg.eval_every and self.step % cfg.eval_every == 0) or self.step == cfg.steps
            )
            if due:
                last_eval = self.evaluate_now(logger)
        bar.close()
        return last_eval

    def evaluate_now(self, logger: MetricsLogger) -> dict[str, Any]:
        from .evaluate import RolloutPolicy, evaluate

        if not self.env_id:
            raise ValueError("evaluation needs an env id: pass --env or use a dataset that records one")
        self.model.eval()
        policy = RolloutPolicy.from_meta(self.model, self.meta())
        results = evaluate(policy, self.env_id, list(self.cfg.eval_targets), num_episodes=self.cfg.eval_episodes,
                           seed=10_000 + self.cfg.seed, progress=False, dataset_name=self.meta_base["dataset"])
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


def train(
    cfg: TrainConfig,
    model_config: DTConfig | MLPBCConfig | None = None,
    dataset: TrajectoryDataset | None = None,
    act_dim: int | None = None,
) -> LoadedRun:
    """Train a new run into cfg.out and return it loaded (model in eval mode). `dataset` overrides
    cfg.dataset (for programmatic use); `act_dim` overrides the number of discrete actions seen."""
    run_dir = Path(cfg.out)
    if latest_checkpoint(run_dir) is not None:
        raise FileExistsError(f"{run_dir}: already holds a run; use `dt train --resume {run_dir}` or another --out")
    model_config = model_config or default_model_config(cfg.model)
    data = prepare_dataset(cfg, dataset)
    env_id = cfg.env_id or data.env_id
    if env_id and dataset is None:
        check_env_matches(data, env_id)
    trainer = Trainer(cfg, model_config, data, act_dim=act_dim)
    if trainer.dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(run_dir / "train_config.json", {"train": dataclasses.asdict(cfg), "model": trainer.model_config.to_dict(), "act_dim": trainer.act_dim})
    return _run(trainer)


def resume(run_dir: str | os.PathLike, steps: int | None = None, dataset: TrajectoryDataset | None = None) -> LoadedRun:
    """Continue a killed (or finished) run from its latest checkpoint; `steps` may raise the total."""
    run_dir = Path(run_dir)
    ckpt = latest_checkpoint(run_dir)
    cfg_path = run_dir / "train_config.json"
    if ckpt is None or not cfg_path.is_file():
        raise FileNotFoundError(f"{run_dir}: nothing to resume (expected train_config.json and a checkpoint)")
    saved = json.loads(cfg_path.read_text())
    train_dict = saved["train"]
    train_dict["eval_targets"] = tuple(train_dict.get("eval_targets", ()))
    cfg = TrainConfig(**train_dict)
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    meta = read_meta(ckpt)
    trainer = Trainer(cfg, meta.config(), prepare_dataset(cfg, dataset), act_dim=saved.get("act_dim"))
    trainer.restore(ckpt)
    if trainer.dist.is_main:
        truncate_metrics(run_dir, trainer.step)
    distributed.barrier(trainer.dist)
    return _run(trainer)


def _run(trainer: Trainer) -> LoadedRun:
    main = trainer.dist.is_main
    logger = MetricsLogger(trainer.run_dir) if main else None
    try:
        last_eval = trainer.run(logger)
    finally:
        if logger is not None:
            logger.close()
    distributed.barrier(trainer.dist)
    if trainer.cfg.progress and main:
        rows = [[k, v] for k, v in last_eval.items()]
        print(format_table(["metric", "value"], [["steps", trainer.step], ["run_dir", str(trainer.run_dir)], *rows]))
    return load_run(trainer.run_dir)
