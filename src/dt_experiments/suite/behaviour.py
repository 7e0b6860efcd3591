"""Train the suite's behaviour policies with stable-baselines3 PPO: resumable, snapshot-taking, background-friendly.

Work directory (outside git), `$DT_CACHE_DIR/behaviour/<env_id>/` by default:

    checkpoint.zip          SB3 model, rewritten atomically at every snapshot (resume point)
    vecnormalize.pkl        the VecNormalize statistics that go with it
    snapshots/step_XXXXXXXX.npz   exported `NumpyPolicy` at that training step
    snapshots.jsonl         one line per snapshot: step, stochastic and deterministic evaluation returns
    train.log               progress log

Hyperparameters come from RL Baselines3 Zoo (hyperparams/ppo.yml in DLR-RM/rl-baselines3-zoo), reproduced as
numbers below: its tuned MuJoCo-v3 entries, or (Hopper) SB3's PPO defaults with VecNormalize, the zoo's untuned
"mujoco-defaults" entry. `ZOO_PPO` says which one each env uses.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from decision_transformer.common import runlock
from decision_transformer.common.atomic import atomic_path, write_json
from decision_transformer.data.registry import cache_dir
from decision_transformer.common.seeding import derive_seed
from .learner import LearnerDir, SittingClock, next_multiple, require_sb3
from .learner import read_snapshots  # noqa: F401  (re-exported: build.py, commands/suite.py, tests)
from .policy import NumpyPolicy, export_sb3_ppo
from .rollout import mean_return, policy_act_fn, rollout


@dataclass(frozen=True)
class PPOSettings:
    """PPO hyperparameters (stable-baselines3 names)."""

    n_envs: int = 1
    """Parallel training envs (DummyVecEnv)."""
    n_steps: int = 512
    """Steps per env per rollout."""
    batch_size: int = 32
    """Minibatch size."""
    n_epochs: int = 5
    """Epochs per rollout."""
    gamma: float = 0.999
    """Discount (also used by VecNormalize's reward normalisation)."""
    gae_lambda: float = 0.99
    """GAE lambda."""
    learning_rate: float = 9.80828e-05
    """Adam learning rate (constant)."""
    ent_coef: float = 0.00229519
    """Entropy bonus."""
    clip_range: float = 0.2
    """PPO clip."""
    max_grad_norm: float = 0.7
    """Gradient clipping."""
    vf_coef: float = 0.835671
    """Value loss weight."""
    log_std_init: float = -2.0
    """Initial log std of the Gaussian policy."""
    net_arch: tuple[int, ...] = (256, 256)
    """Hidden sizes of the (separate) policy and value nets."""
    activation: str = "relu"
    """'relu' or 'tanh'."""
    ortho_init: bool = False
    """Orthogonal initialisation."""
    normalize_reward: bool = True
    """VecNormalize reward normalisation (observations are always normalised)."""


# RL-Zoo hyperparams/ppo.yml, "Tuned" Hopper-v3 / HalfCheetah-v3 / Walker2d-v3 / Reacher-v2 entries (all with
# normalize: true, n_envs: 1). Walker2d and Reacher have no policy_kwargs there, i.e. SB3's default 64x64 tanh
# policy with log_std_init 0 and orthogonal init.
ZOO_TUNED_PPO: dict[str, PPOSettings] = {
    "Hopper-v5": PPOSettings(),
    "HalfCheetah-v5": PPOSettings(
        n_steps=512, batch_size=64, n_epochs=20, gamma=0.98, gae_lambda=0.92, learning_rate=2.0633e-05,
        ent_coef=0.000401762, clip_range=0.1, max_grad_norm=0.8, vf_coef=0.58096, log_std_init=-2.0,
    ),
    "Walker2d-v5": PPOSettings(
        n_steps=512, batch_size=32, n_epochs=20, gamma=0.99, gae_lambda=0.95, learning_rate=5.05041e-05,
        ent_coef=0.000585045, clip_range=0.1, max_grad_norm=1.0, vf_coef=0.871923,
        log_std_init=0.0, net_arch=(64, 64), activation="tanh", ortho_init=True,  # zoo: SB3 default policy
    ),
    "Reacher-v5": PPOSettings(
        n_steps=512, batch_size=32, n_epochs=5, gamma=0.9, gae_lambda=1.0, learning_rate=0.000104019,
        ent_coef=7.52585e-08, clip_range=0.3, max_grad_norm=0.9, vf_coef=0.950368,
        log_std_init=0.0, net_arch=(64, 64), activation="tanh", ortho_init=True,  # zoo: SB3 default policy
    ),
}


# SB3's PPO defaults with VecNormalize: RL-Zoo's untuned "mujoco-defaults" entry (normalize: true, MlpPolicy).
# Used for Hopper: the tuned Hopper-v3 entry got stuck standing still (~1040 return, log_std shrinking) for
# 650k steps on Hopper-v5 here (2026-11-24), while the defaults explore with std 1.
SB3_DEFAULT_PPO = PPOSettings(
    n_steps=2048, batch_size=64, n_epochs=10, gamma=0.99, gae_lambda=0.95, learning_rate=3e-4, ent_coef=0.0,
    clip_range=0.2, max_grad_norm=0.5, vf_coef=0.5, log_std_init=0.0, net_arch=(64, 64), activation="tanh",
    ortho_init=True,
)

# What the suite uses per env. HalfCheetah and Walker2d also use the defaults: their tuned entries take 4x (Walker2d:
# 20 epochs of batch 32) to 8x (HalfCheetah: 20 epochs, 256-wide nets) more gradient steps per env step, which the
# 2026-11-24 budget (about 15 minutes of a shared 2-core CPU per env) could not pay for.
ZOO_PPO: dict[str, PPOSettings] = {
    **ZOO_TUNED_PPO, "Hopper-v5": SB3_DEFAULT_PPO, "HalfCheetah-v5": SB3_DEFAULT_PPO, "Walker2d-v5": SB3_DEFAULT_PPO,
}


@dataclass(frozen=True)
class BehaviourConfig:
    """One behaviour-training run."""

    env_id: str = "Hopper-v5"
    """Gymnasium id."""
    total_steps: int = 1_000_000
    """Environment steps to train for (a resumed run continues up to this total)."""
    snapshot_every: int = 50_000
    """Export a policy snapshot (and an SB3 checkpoint) every this many env steps..."""
    fine_snapshot_every: int = 10_000
    """...but every this many steps before `fine_until` (medium-replay is rebuilt from these snapshots)."""
    fine_until: int = 250_000
    """End of the finely snapshotted early phase."""
    eval_episodes: int = 5
    """Episodes (sampled actions, as in the datasets) per snapshot evaluation."""
    eval_deterministic: bool = False
    """Also evaluate the mean action at each snapshot."""
    seed: int = 0
    """Training seed."""
    ppo: PPOSettings = field(default_factory=PPOSettings)
    """PPO hyperparameters."""


CHECKPOINT, VECNORMALIZE = "checkpoint.zip", "vecnormalize.pkl"
"""The work dir's resume point: the SB3 model and its VecNormalize statistics."""


def work_dir(env_id: str) -> Path:
    return cache_dir() / "behaviour" / env_id


def evaluate_policy(policy: NumpyPolicy, env_id: str, episodes: int, seed: int, stochastic: bool) -> tuple[float, float]:
    eps = rollout(env_id, policy_act_fn(policy, stochastic), seed=seed, num_envs=episodes, num_episodes=episodes)
    return mean_return(eps)


def train_behaviour(config: BehaviourConfig, directory: str | os.PathLike | None = None, resume: bool = True) -> Path:
    """Train (or resume) PPO, exporting snapshots. Returns the work directory."""
    require_sb3()
    import torch

    torch.set_num_threads(1)
    path = Path(directory) if directory is not None else work_dir(config.env_id)
    with runlock.exclusive(path, f"the PPO learner of {config.env_id}"):
        out = LearnerDir(path)
        run = _PPORun(config, out, *_open_ppo(config, out, resume))
        if run.model.num_timesteps == 0:
            run.snapshot()  # step 0: the initial policy, first member of medium-replay
        remaining = config.total_steps - int(run.model.num_timesteps)
        if remaining > 0:
            run.model.learn(total_timesteps=remaining, callback=run.callback(), reset_num_timesteps=False)
            if not out.has_snapshot_at(run.model.num_timesteps):
                run.snapshot()
        out.log(f"done at step {run.model.num_timesteps}")
    return out.path


def _open_ppo(config: BehaviourConfig, out: LearnerDir, resume: bool):
    """(model, VecNormalize env): resumed from the work dir's checkpoint if asked and there is one, else new."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    s = config.ppo
    ckpt, norm_path = out.path / CHECKPOINT, out.path / VECNORMALIZE
    venv = make_vec_env(config.env_id, n_envs=s.n_envs, seed=config.seed)
    if resume and ckpt.is_file() and norm_path.is_file():
        venv = VecNormalize.load(str(norm_path), venv)
        venv.training = True
        model = PPO.load(str(ckpt), env=venv, device="cpu")
        out.log(f"resumed {config.env_id} at step {model.num_timesteps}")
        return model, venv
    write_json(out.path / "config.json", asdict(config))
    venv = VecNormalize(venv, norm_obs=True, norm_reward=s.normalize_reward, gamma=s.gamma)
    act = torch.nn.ReLU if s.activation == "relu" else torch.nn.Tanh
    model = PPO(
        "MlpPolicy", venv, n_steps=s.n_steps, batch_size=s.batch_size, n_epochs=s.n_epochs, gamma=s.gamma,
        gae_lambda=s.gae_lambda, learning_rate=s.learning_rate, ent_coef=s.ent_coef, clip_range=s.clip_range,
        max_grad_norm=s.max_grad_norm, vf_coef=s.vf_coef, seed=config.seed, device="cpu", verbose=0,
        policy_kwargs=dict(
            log_std_init=s.log_std_init, ortho_init=s.ortho_init, activation_fn=act,
            net_arch=dict(pi=list(s.net_arch), vf=list(s.net_arch)),
        ),
    )
    out.log(f"started {config.env_id}: {asdict(config)}")
    return model, venv


@dataclass
class _PPORun:
    """One sitting of PPO training: its model and env, and the snapshots (each also the resume point) it takes."""

    config: BehaviourConfig
    out: LearnerDir
    model: Any
    venv: Any

    def snapshot(self) -> None:
        """Export and evaluate the policy at the current step, then rewrite the checkpoint."""
        config, step = self.config, int(self.model.num_timesteps)
        policy = export_sb3_ppo(self.model, self.venv, config.env_id, step)
        self.out.save_policy(policy, step)
        env_id, episodes = config.env_id, config.eval_episodes
        sto = evaluate_policy(policy, env_id, episodes, derive_seed(step, "learner-eval", "sampled"), stochastic=True)
        record = {"step": step, "stochastic_return": sto[0], "stochastic_std": sto[1], "time": time.time()}
        msg = f"step {step}: stochastic {sto[0]:.1f} +- {sto[1]:.1f}"
        if config.eval_deterministic:
            det = evaluate_policy(policy, env_id, episodes, derive_seed(step, "learner-eval", "mean"), stochastic=False)
            record.update(deterministic_return=det[0], deterministic_std=det[1])
            msg += f", deterministic {det[0]:.1f} +- {det[1]:.1f}"
        self.out.append_snapshot(record)
        self.out.save_model(self.model, CHECKPOINT)
        with atomic_path(self.out.path / VECNORMALIZE) as tmp:
            self.venv.save(str(tmp))
        self.out.log(msg)

    def next_snapshot(self, step: int) -> int:
        """Every `fine_snapshot_every` steps up to `fine_until` (which is one), then every `snapshot_every`."""
        c = self.config
        if step < c.fine_until:
            return min(next_multiple(step, c.fine_snapshot_every), c.fine_until)
        return next_multiple(step, c.snapshot_every)

    def callback(self):
        """An SB3 callback that takes the snapshots due during `learn`, logging the speed of this sitting."""
        from stable_baselines3.common.callbacks import BaseCallback

        run = self

        class Snapshots(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.next_at = run.next_snapshot(run.model.num_timesteps)
                self.clock = SittingClock(run.model.num_timesteps)

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next_at:
                    fps = self.clock.fps(self.num_timesteps)
                    run.out.log(f"step {self.num_timesteps}: {fps:.0f} env steps/s since start of this sitting")
                    run.snapshot()
                    self.next_at = run.next_snapshot(self.num_timesteps)
                return True

        return Snapshots()
