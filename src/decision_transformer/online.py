"""Online fine-tuning: the Online Decision Transformer (ODT; Zheng, Zhang and Grover, ICML 2022), `dt finetune`.

From a run pretrained offline with the stochastic policy (`dt train --stochastic-policy`: a tanh-Gaussian trained by
nll - temperature * entropy, objective.py), ODT's Algorithm 1:

    buffer <- the offline data's `buffer_size` highest-return trajectories (data/replay.py)
    until `online_steps` env steps are collected:
        one rollout conditioned on the exploration target `online_target`, actions sampled from the policy;
        its returns-to-go relabelled in hindsight (from the rewards obtained); it replaces the oldest trajectory
        `updates_per_rollout` gradient steps on K-step windows of the buffer: nll - temperature * entropy with LAMB
        (lamb.py), linear warmup and gradient clipping; after each, the temperature's own Adam step toward the
        target entropy -act_dim
    evaluation (mean actions, at the evaluation target `eval_target`) of the pretrained model first (step 0), every
    `eval_every` rollouts and at the end.

ODT's schedule and how it is scaled to the CPU budget: `FinetuneConfig` (run_config.py, beside TrainConfig, so
that `dt finetune --help` loads no torch) and docs/beyond.md.

Run directory: `dt train`'s layout (checkpoint.py) with finetune_config.json for train_config.json; a checkpoint's
trainer_state.pt holds the fine-tuning state (optimizer, schedule, temperature and its optimizer, replay buffer, RNG
states, counters: plain tensors), meta.json's step and the metrics rows count online env steps. Exact resume: rollout r
resets its env with seed + r and samples with a generator seeded alike, the updates run on the checkpointed torch
(dropout, entropy samples) and numpy (batches) RNGs, and every row is logged before the checkpoint that covers it;
rerunning the same command after a kill continues from the latest checkpoint to the same final state.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .common import atomic, runlock, runtime
from .common.checks import differing_fields
from .checkpoint import LoadedRun, latest_checkpoint, load_run, save_checkpoint, update_trainer_state
from .data.replay import ReplayBuffer
from .common.envs_util import make_env
from .evaluate import DTAgent, RolloutPolicy, check_spaces, evaluate
from .lamb import Lamb
from .model_checks import trusted_inputs
from .common.metrics import MetricsLogger, read_metrics, truncate_metrics
from .objective import Objective
from .optim import param_groups
from .runner import Recorder, run_episodes
from .common.progress import progress_bar
from .common.seeding import derive_seed
from .rundir import FINETUNE_CONFIG
from .run_config import FinetuneConfig

CONFIG_FILE = FINETUNE_CONFIG  # (rundir.py names the run directory's files)
CONFIG_VERSION = 2
"""finetune_config.json's "version": 2, unset targets are null; absent (1), they were 0.0."""


class SamplingAgent(DTAgent):
    """The evaluation agent, but its actions are samples of the stochastic policy (ODT's exploration), drawn with
    its seeded generator, unscaled to the env's range as the mean is (`DTAgent.take`: the replay buffer records
    env actions, which its sampler scales again); the return-to-go is decremented as usual."""

    @torch.inference_mode()
    def act(self, rows: np.ndarray, obs: np.ndarray) -> np.ndarray:
        n = int(self.mask[rows].sum(1).max())  # columns where some row has a real step (padding is invisible)
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a[rows, -n:])).to(self.device)  # noqa: E731
        with trusted_inputs():  # windows built here (clipped timesteps, left padding)
            dist = self.policy.model.act_distribution(to_t(self.states), to_t(self.actions),
                                                      to_t(self.returns_to_go), to_t(self.timesteps), to_t(self.mask))
        return self.take(rows, dist.sample(self.gen).float().cpu().numpy())  # unscaled for the env (DTAgent.take)


class Finetuner:
    """The model, its optimizers, the replay buffer, RNGs and counters; `run()` fine-tunes to cfg.online_steps."""

    def __init__(self, cfg: FinetuneConfig, pretrained: LoadedRun, offline: Any):
        cfg_model = pretrained.meta.config()
        if not getattr(cfg_model, "stochastic_policy", False):
            raise ValueError(f"{pretrained.path}: dt finetune needs a run trained with --stochastic-policy (ODT's "
                             "tanh-Gaussian policy); this one is deterministic")
        self.cfg, self.pretrained = cfg, pretrained
        self.run_dir = Path(cfg.out)
        self.env_id = cfg.env_id or pretrained.meta.env_id
        if not self.env_id:
            raise ValueError(f"{pretrained.path}: the run records no env id; pass --env-id")
        self.device = torch.device(cfg.device)
        self.prep = pretrained.meta.preprocessing()
        self.model = pretrained.model.to(self.device)
        probe = make_env(self.env_id)
        try:
            self.state_shape, self.space = tuple(probe.observation_space.shape), probe.action_space
            self.env_limit = cfg.max_episode_steps or (probe.spec.max_episode_steps if probe.spec else 0) or 1000
        finally:
            probe.close()
        check_spaces(RolloutPolicy.from_meta(self.model, pretrained.meta), self.env_id, self.state_shape, self.space)
        meta = pretrained.meta
        if (tuple(offline.observation_shape) != (meta.state_dim,) or offline.discrete_actions
                or offline.act_dim != meta.act_dim):
            raise ValueError(f"{offline.source}: its observations {offline.observation_shape} / actions "
                             f"({offline.act_dim}) do not fit the run's (state_dim {meta.state_dim}, act_dim "
                             f"{meta.act_dim}): pass the run's own data with --dataset")
        self.eval_target, self.online_target = targets(cfg, meta, offline)
        window = (cfg_model.context_len, cfg_model.max_ep_len)
        self.buffer = ReplayBuffer.seeded(cfg.buffer_size, self.prep, *window, offline)
        self.optimizer = Lamb(param_groups(self.model, cfg.weight_decay), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: min(1.0, (step + 1) / cfg.warmup_steps))
        self.objective = Objective(cfg_model, pretrained.meta.act_dim, self.device, init_temperature=cfg.init_temperature,
                                   temperature_lr=cfg.temperature_lr)
        self.rng = np.random.default_rng(cfg.seed)
        with runtime.seeded_torch(cfg.seed):
            self.torch_rng = torch.get_rng_state()
        self.env_steps = self.rollouts = self.updates = 0
        # wall seconds of fine-tuning (rollouts, updates, evaluations) over every sitting, up to the last checkpoint
        # (checkpointed, so a resumed run continues it, as the trainer's train_seconds)
        self.seconds = 0.0

    # ---------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "objective": self.objective.state_dict(), "buffer": self.buffer.state_dict(),
                "numpy_rng": self.rng.bit_generator.state, "torch_rng": self.torch_rng,
                "counters": torch.tensor([self.env_steps, self.rollouts, self.updates], dtype=torch.int64),
                "seconds": float(self.seconds)}

    def save(self) -> Path:
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise ValueError(f"online step {self.env_steps}: the weights are no longer finite; not saved")
        meta = dataclasses.replace(self.pretrained.meta, step=self.env_steps, extra={
            **self.pretrained.meta.extra, "finetuned_from": str(self.pretrained.path), "online_steps": self.env_steps,
            "rollouts": self.rollouts, "updates": self.updates, "temperature": self.objective.temperature})
        return save_checkpoint(self.run_dir, self.model, meta, self.state())

    def restore(self, ckpt: Path) -> None:
        from .checkpoint import load_weights

        from .rundir import CheckpointError, check_finite_moments

        load_weights(ckpt, self.model, str(self.device))
        f = ckpt / "trainer_state.pt"
        try:
            state = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
            raise CheckpointError(f"{f}: unreadable (truncated or corrupt?): {type(exc).__name__}") from None
        missing = sorted({"optimizer", "scheduler", "objective", "buffer", "numpy_rng", "torch_rng", "counters"}
                         - set(state if isinstance(state, dict) else ()))
        if missing:
            raise CheckpointError(f"{f}: missing field(s) {missing}; expected a fine-tuning checkpoint's trainer state")
        check_finite_moments(state["optimizer"], f)
        check_finite_moments(state["objective"].get("temperature_optimizer") if isinstance(state["objective"], dict)
                             else None, f)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.objective.load_state_dict(state["objective"])
        self.buffer.load_state_dict(state["buffer"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.torch_rng = state["torch_rng"]
        self.env_steps, self.rollouts, self.updates = (int(x) for x in state["counters"])
        self.seconds = float(state.get("seconds", 0.0))  # older checkpoints hold none

    # ---------------------------------------------------------------- pieces
    def rollout(self, limit: int):
        """One exploration episode of at most `limit` steps (sampled actions, online target): an `Episode`."""
        seed = derive_seed(self.cfg.seed, "episode", self.rollouts)
        self.model.eval()
        policy = RolloutPolicy.from_meta(self.model, self.pretrained.meta)
        agent = SamplingAgent(policy, self.online_target, 1, self.state_shape, self.space, seed=seed)
        recorder = Recorder()
        run_episodes(agent, [lambda: make_env(self.env_id, max_episode_steps=limit)], num_episodes=1, seed=seed,
                     on_step=recorder)
        return recorder.episodes[0]

    def update(self) -> float:
        """One gradient step on a batch of the buffer, then the temperature's."""
        self.model.train()
        batch = self.buffer.sample(self.cfg.batch_size, self.rng).to(self.device)
        loss = self.objective.loss(self.model, self.model, batch, "fp32", self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip))
        value = loss.item()
        if not (math.isfinite(value) and math.isfinite(grad_norm)):
            raise ValueError(f"update {self.updates + 1}: loss {value}, gradient norm {grad_norm}: fine-tuning diverged "
                             "(lower --lr?); the last checkpoint is kept")
        self.optimizer.step()
        self.scheduler.step()
        self.objective.update()
        self.updates += 1
        return value

    def evaluate_now(self, logger: MetricsLogger) -> dict[str, Any]:
        self.model.eval()
        res = evaluate(RolloutPolicy.from_meta(self.model, self.pretrained.meta), self.env_id, [self.eval_target],
                       num_episodes=self.cfg.eval_episodes, seed=derive_seed(self.cfg.seed, "train-eval"),
                       progress=False, dataset_name=self.pretrained.meta.dataset,
                       env_kwargs={"max_episode_steps": self.cfg.max_episode_steps} if self.cfg.max_episode_steps else None)[0]
        row = {"eval/return_mean": res.return_mean, "eval/return_std": res.return_std, "eval/target": self.eval_target}
        for label, (mean, _) in res.normalized.items():
            row[f"eval/normalized_score_{label.split(':')[0]}"] = mean
        logger.log(self.env_steps, row)
        return row

    # ---------------------------------------------------------------- loop
    def run(self, logger: MetricsLogger) -> dict[str, Any]:
        with runtime.torch_rng_state(self.torch_rng):
            try:
                return self._loop(logger)
            finally:
                self.torch_rng = torch.get_rng_state()

    def _eval_due(self) -> bool:
        return self.rollouts % self.cfg.eval_every == 0 or self.env_steps >= self.cfg.online_steps

    def _loop(self, logger: MetricsLogger) -> dict[str, Any]:
        cfg = self.cfg
        evaluated = {r["step"] for r in read_metrics(self.run_dir) if "eval/return_mean" in r}
        last_eval: dict[str, Any] = {}
        clock = time.perf_counter()  # self.seconds counts up to here
        if self.env_steps not in evaluated and (self.env_steps == 0 or self._eval_due()):
            last_eval = self.evaluate_now(logger)  # the pretrained model's score, or one a kill interrupted
            if self.env_steps >= cfg.online_steps:  # the final evaluation: count it in the final checkpoint
                now = time.perf_counter()
                self.seconds, clock = self.seconds + now - clock, now
                update_trainer_state(latest_checkpoint(self.run_dir), self.state())
        bar = progress_bar(cfg.progress, total=cfg.online_steps, initial=self.env_steps, desc="finetune odt",
                           unit="step", leave=False)
        while self.env_steps < cfg.online_steps:
            t0 = time.perf_counter()
            episode = self.rollout(min(self.env_limit, cfg.online_steps - self.env_steps))
            self.buffer.add(episode)
            self.env_steps += len(episode)
            self.rollouts += 1
            losses = [self.update() for _ in range(cfg.updates_per_rollout)]
            bar.update(len(episode))
            logger.log(self.env_steps, {
                "online/return": float(np.sum(episode.rewards, dtype=np.float64)), "online/length": len(episode),
                "online/rollouts": self.rollouts, "online/buffer_return_mean": float(self.buffer.returns.mean()),
                "train/loss": float(np.mean(losses)), "train/lr": self.scheduler.get_last_lr()[0],
                "train/updates": self.updates, "time/rollout_seconds": time.perf_counter() - t0,
                **self.objective.log_row()})
            eval_due = self._eval_due()
            if eval_due or self.rollouts % cfg.save_every == 0:
                self.torch_rng = torch.get_rng_state()  # the RNG as of this checkpoint
                now = time.perf_counter()
                self.seconds, clock = self.seconds + now - clock, now
                ckpt = self.save()
            if eval_due:
                last_eval = self.evaluate_now(logger)
                now = time.perf_counter()
                self.seconds, clock = self.seconds + now - clock, now
                update_trainer_state(ckpt, self.state())  # its clock counts the evaluation too
            bar.set_postfix(ret=f"{np.sum(episode.rewards):.0f}", temp=f"{self.objective.temperature:.3f}")
        bar.close()
        self.model.eval()
        return last_eval


def targets(cfg: FinetuneConfig, meta: Any, offline: Any) -> tuple[float, float]:
    """(evaluation target, exploration target): cfg's, else the best return of the run's data (meta.json's
    extra.max_return, else the offline data's) and twice the evaluation target. A derived exploration target below
    the evaluation target (negative returns: twice -90 is -180) is refused: it would explore for worse episodes."""
    best = float(meta.extra.get("max_return", float(offline.episode_returns.max())))
    eval_target = cfg.eval_target if cfg.eval_target is not None else best
    if cfg.online_target is not None:
        return eval_target, cfg.online_target
    online_target = 2.0 * eval_target
    if online_target < eval_target:
        raise ValueError(f"FinetuneConfig.online_target: the default, twice the evaluation target {eval_target:g}, is "
                         f"{online_target:g}, below it (negative returns); pass --online-target (>= {eval_target:g})")
    return eval_target, online_target


def finetune(cfg: FinetuneConfig, offline: Any = None) -> tuple[LoadedRun, dict[str, Any]]:
    """Fine-tune cfg.run_dir online into cfg.out, or resume the run there if it was started with the same settings.
    `offline` (a TrajectoryDataset) overrides cfg.dataset (programmatic use: a benchmark's in-memory data).
    Returns the fine-tuned run (loaded) and a summary: offline_score (the pretrained model's evaluation return),
    final_score, curve [[online step, evaluation return]], online_steps, rollouts, updates, temperature, targets,
    seconds (wall seconds of fine-tuning over every sitting), resumed_at (the online steps already done when this
    call began: 0 for a new run) and this_sitting_steps (0: the run had finished, nothing was done)."""
    from .data.registry import load_dataset
    from . import run_data
    from .preflight import check_out_dir
    from .rundir import TRAIN_CONFIG, read_data_fingerprint
    from .train import prepare_dataset, read_train_config

    out = Path(cfg.out)
    runtime.check_device(cfg.device, "FinetuneConfig.device")
    if cfg.torch_threads > runtime.cpu_count():
        raise ValueError(f"FinetuneConfig.torch_threads={cfg.torch_threads} is more than the {runtime.cpu_count()} "
                         "CPU core(s) here")
    check_out_dir(out, "FinetuneConfig.out")
    if (out / TRAIN_CONFIG).is_file():
        raise FileExistsError(f"{out} holds an offline training run ({TRAIN_CONFIG}), not a fine-tuning run; choose "
                              "another --out")
    saved = (out / CONFIG_FILE).is_file() and atomic.read_json(out / CONFIG_FILE)
    was = _saved_settings(saved)
    if latest_checkpoint(out) is not None and was != _jsonable(cfg):
        diff = differing_fields(was, _jsonable(cfg)) if isinstance(was, dict) else "no finetune settings saved"
        raise FileExistsError(f"{out}: already holds a run with other settings ({out / CONFIG_FILE}: {diff}); use "
                              "another --out, or the same command to resume it")
    pretrained = load_run(cfg.run_dir, map_location=cfg.device)
    if offline is not None:
        pass
    elif cfg.dataset:
        offline = load_dataset(cfg.dataset, seed=0)
    else:
        root = pretrained.path.parent.parent if pretrained.path.parent.name == "checkpoints" else Path(cfg.run_dir)
        saved = read_data_fingerprint(root)  # the pretraining's data, wherever this command runs (run_data.py)
        train_cfg = run_data.resolve_dataset(read_train_config(root), root, saved)
        offline, full = prepare_dataset(train_cfg)
        run_data.check_same_data(root, saved, run_data.fingerprint(train_cfg, full), train_cfg.dataset)
    targets(cfg, pretrained.meta, offline)  # refused before anything is written
    out.mkdir(parents=True, exist_ok=True)
    with runlock.exclusive(out), runtime.torch_threads(cfg.torch_threads):
        tuner = Finetuner(cfg, pretrained, offline)
        ckpt = latest_checkpoint(out)
        if ckpt is None:
            atomic.write_json(out / CONFIG_FILE, {"finetune": _jsonable(cfg), "pretrained": str(pretrained.path),
                                                  "version": CONFIG_VERSION})
            truncate_metrics(out, -1)  # rows of an attempt killed before its first checkpoint
        else:
            tuner.restore(ckpt)
            truncate_metrics(out, tuner.env_steps)
        resumed_at = tuner.env_steps
        logger = MetricsLogger(out)
        try:
            tuner.run(logger)
        finally:
            logger.close()
    evals = [r for r in read_metrics(out) if "eval/return_mean" in r]
    summary = {"offline_score": evals[0]["eval/return_mean"] if evals else None,
               "final_score": evals[-1]["eval/return_mean"] if evals else None,
               "curve": [[r["step"], r["eval/return_mean"]] for r in evals], "online_steps": tuner.env_steps,
               "rollouts": tuner.rollouts, "updates": tuner.updates, "temperature": tuner.objective.temperature,
               "eval_target": tuner.eval_target, "online_target": tuner.online_target, "seconds": tuner.seconds,
               "resumed_at": resumed_at, "this_sitting_steps": tuner.env_steps - resumed_at}
    return load_run(out), summary


def _saved_settings(saved: Any) -> dict[str, Any] | None:
    """The settings of a finetune_config.json (its "finetune"), None if it holds none. Files written before unset
    targets were null (no "version") wrote 0.0 for them, which then meant unset: read as None."""
    if not isinstance(saved, dict) or not isinstance(saved.get("finetune"), dict):
        return None
    settings = dict(saved["finetune"])
    if "version" not in saved:
        for name in ("eval_target", "online_target"):
            if settings.get(name) == 0.0:
                settings[name] = None
    return settings


def _jsonable(cfg: FinetuneConfig) -> dict[str, Any]:
    """The settings that make a run, as saved in finetune_config.json: all but `progress` and `out` (a copied run
    directory continues where it is)."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("progress", "out")}
