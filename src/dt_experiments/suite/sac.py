"""SAC behaviour learners (stable-baselines3), resumable with their replay buffer, which is the medium-replay data.

Work directory (outside git), `$DT_CACHE_DIR/behaviour/sac/<env_id>/` by default:

    config.json                    the SACConfig of the first sitting
    checkpoint.json                manifest of the latest complete checkpoint: step, file names, cuts, wall time
    model_XXXXXXXX.zip             SB3 model (policy, critics, optimisers, entropy coefficient, step count)
    replay_XXXXXXXX.pkl            SB3 replay buffer at the same step (`save_replay_buffer`)
    snapshots/step_XXXXXXXX.npz    exported `NumpyPolicy` (tanh-squashed Gaussian) at that env step
    snapshots.jsonl                one line per snapshot: step, sampled-action evaluation return, wall time
    train.log                      progress log

A checkpoint is written every `checkpoint_every` env steps, at the end, and when the process gets SIGTERM or
SIGINT (the first one stops training at the next env step; a second one kills as usual). Model and buffer go to
step-named files (each written to a temp name, then renamed), then `checkpoint.json` is replaced atomically, then
the previous checkpoint's files are removed: a kill at any moment leaves one complete, consistent checkpoint.

Replay buffer as a dataset: SB3's `ReplayBuffer` keeps rows in collection order (one row per vector-env step,
one column per env; it must not have wrapped around: `buffer_size >= total_steps`), `dones` = terminated or
truncated and, with `handle_timeout_termination` (on), `timeouts` = truncated by the time limit. A resumed
sitting starts fresh episodes, so at each resume the last row of every unfinished episode is marked
`dones = timeouts = 1` (training-neutral: SB3 bootstraps through timeouts) and the step is listed in
`checkpoint.json` "cuts". `buffer_to_dataset` turns the buffer up to any step into a `TrajectoryDataset`.

Hyperparameters: RL Baselines3 Zoo, hyperparams/sac.yml (DLR-RM/rl-baselines3-zoo), its MuJoCo entries
(Hopper-v3, Walker2d-v3, HalfCheetah-v3...): learning_starts 10000 and otherwise SB3's SAC defaults
(lr 3e-4, buffer 1M, batch 256, tau 0.005, gamma 0.99, train_freq 1, gradient_steps 1, ent_coef auto, 256x256).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from decision_transformer.common import runlock
from decision_transformer.common.atomic import atomic_path, write_json, write_text
from decision_transformer.data.registry import cache_dir
from decision_transformer.data.trajectories import DatasetError, Episode, TrajectoryDataset
from decision_transformer.common.seeding import derive_seed
from .learner import LearnerDir, SittingClock, next_multiple, read_snapshots, require_sb3


@dataclass(frozen=True)
class SACSettings:
    """SAC hyperparameters (stable-baselines3 names); defaults: RL-Zoo hyperparams/sac.yml MuJoCo entries."""

    learning_rate: float = 3e-4
    """Adam learning rate of actor, critics and entropy coefficient (constant)."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity in transitions (must cover the whole run: the buffer is the medium-replay data)."""
    batch_size: int = 256
    """Minibatch size of each gradient step."""
    tau: float = 0.005
    """Polyak coefficient of the target critics."""
    gamma: float = 0.99
    """Discount."""
    train_freq: int = 1
    """Train every this many vector-env steps (each of them is `n_envs` env steps)."""
    gradient_steps: int = 1
    """Gradient steps per training round; fewer than `n_envs * train_freq` trades sample efficiency for wall time."""
    learning_starts: int = 10_000
    """Uniform random actions (and no training) for this many env steps first."""
    ent_coef: str = "auto"
    """Entropy coefficient: 'auto' (learned, target entropy -dim(A)) or a number as a string."""
    net_arch: tuple[int, ...] = (256, 256)
    """Hidden sizes of the actor and of each of the two critics (ReLU)."""
    n_envs: int = 1
    """Training envs stepped together (DummyVecEnv); more envs per gradient step buys wall time."""


@dataclass(frozen=True)
class SACConfig:
    """One SAC behaviour-training run."""

    env_id: str = "Hopper-v5"
    """Gymnasium id."""
    total_steps: int = 1_000_000
    """Environment steps to train for (a resumed run continues up to this total)."""
    snapshot_every: int = 10_000
    """Export and evaluate a policy snapshot every this many env steps (and at step 0)."""
    checkpoint_every: int = 25_000
    """Write a resumable checkpoint (model + replay buffer) every this many env steps."""
    eval_episodes: int = 5
    """Episodes (sampled actions, as in the datasets) per snapshot evaluation."""
    seed: int = 0
    """Training seed (a resumed sitting seeds its envs and sampling with derive_seed(seed, "learner-sitting", k) =
    seed + 1000 * k, k = the number of earlier cuts + 1)."""
    sac: SACSettings = field(default_factory=SACSettings)
    """SAC hyperparameters."""


def work_dir(env_id: str) -> Path:
    return cache_dir() / "behaviour" / "sac" / env_id


def read_manifest(directory: str | os.PathLike) -> dict | None:
    path = Path(directory) / "checkpoint.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _float_obs(env):
    """Store float32 observations (MuJoCo's are float64): halves the buffer; SB3 feeds float32 to the nets anyway."""
    import warnings

    import gymnasium as gym

    with warnings.catch_warnings():  # "Box low's precision lowered by casting to float32"
        warnings.simplefilter("ignore", UserWarning)
        return gym.wrappers.DtypeObservation(env, np.float32)


def train_sac(
    config: SACConfig,
    directory: str | os.PathLike | None = None,
    resume: bool = True,
    stop_at: int | None = None,
    handle_signals: bool = True,
) -> Path:
    """Train (or resume) SAC up to `config.total_steps`, with snapshots and checkpoints. Returns the work dir.

    `stop_at` ends this sitting at that env step (with a checkpoint), as SIGTERM/SIGINT do at any step.
    """
    require_sb3()
    import torch

    torch.set_num_threads(1)
    path = Path(directory) if directory is not None else work_dir(config.env_id)
    with runlock.exclusive(path, f"the SAC learner of {config.env_id}"):
        out = LearnerDir(path)
        run = _open_sitting(config, out, read_manifest(out.path) if resume else None)
        with _stop_on_signals(out.log, handle_signals) as stop:
            step = run.train(stop, stop_at)
        out.log(f"{'stopped' if step < config.total_steps else 'done'} at step {step}")
    return out.path


@dataclass
class _Sitting:
    """One sitting of SAC training: the model, its work dir, and what its snapshots and checkpoints record."""

    config: SACConfig
    out: LearnerDir
    model: Any
    cuts: list[int]
    """Env steps at which earlier sittings ended (see the module doc)."""
    clock: SittingClock

    def train(self, stop: threading.Event, stop_at: int | None) -> int:
        """Learn up to `total_steps` (or `stop_at`, or until `stop` is set), snapshotting and checkpointing on
        schedule, then write a final checkpoint. Returns the env step reached."""
        config, model = self.config, self.model
        step = int(model.num_timesteps)
        if step == 0:
            self.snapshot(0)  # the initial policy (SAC acts uniformly at random until learning_starts anyway)
        next_snap, next_ckpt = next_multiple(step, config.snapshot_every), next_multiple(step, config.checkpoint_every)
        dirty = False
        while step < config.total_steps and not stop.is_set():
            target = min(next_snap, next_ckpt, config.total_steps, step + 1000)
            if stop_at is not None:
                if step >= stop_at:
                    break
                target = min(target, stop_at)
            step, dirty = _learn(model, target - step, stop), True
            if stop.is_set():
                break
            if step >= next_snap:
                self.snapshot(step)
                next_snap = next_multiple(step, config.snapshot_every)
            if step >= next_ckpt:
                self.checkpoint(step)
                dirty = False
                next_ckpt = next_multiple(step, config.checkpoint_every)
        if dirty or read_manifest(self.out.path) is None:
            if step >= config.total_steps and not self.out.has_snapshot_at(step):
                self.snapshot(step)
            self.checkpoint(step)
        return step

    def snapshot(self, step: int) -> None:
        """Export the policy at `step`, evaluate it with sampled actions, record and log the result."""
        from . import behaviour  # looked up at each call (the tests patch evaluate_policy)
        from .policy import export_sb3_sac

        config = self.config
        policy = export_sb3_sac(self.model, config.env_id, step)
        self.out.save_policy(policy, step)
        ret, std = behaviour.evaluate_policy(policy, config.env_id, config.eval_episodes,
                                             seed=derive_seed(step, "learner-eval", "sampled"), stochastic=True)
        fps = self.clock.fps(step)
        record = {"step": step, "stochastic_return": ret, "stochastic_std": std, "episodes": config.eval_episodes,
                  "wall_s": round(self.clock.wall(), 1), "time": time.time()}
        self.out.append_snapshot(record)
        self.out.log(f"step {step}: sampled-action return {ret:.1f} +- {std:.1f}; {fps:.1f} env steps/s this sitting")

    def checkpoint(self, step: int) -> None:
        """Write model and replay buffer at `step`, point checkpoint.json at them, remove the previous ones."""
        out = self.out.path
        old = read_manifest(out)
        model_name, buffer_name = f"model_{step:08d}.zip", f"replay_{step:08d}.pkl"
        self.out.save_model(self.model, model_name)
        with atomic_path(out / buffer_name) as tmp:
            self.model.save_replay_buffer(tmp)
        write_json(out / "checkpoint.json", {
            "step": step, "model": model_name, "replay_buffer": buffer_name, "n_envs": self.config.sac.n_envs,
            "cuts": self.cuts, "wall_s": round(self.clock.wall(), 1), "time": time.time(),
        })
        if old:
            for name in (old["model"], old["replay_buffer"]):
                if name not in (model_name, buffer_name):
                    (out / name).unlink(missing_ok=True)
        self.out.log(f"checkpoint at step {step} ({self.clock.wall() / 3600:.2f} h of training wall time in all)")


def _open_sitting(config: SACConfig, out: LearnerDir, manifest: dict | None) -> _Sitting:
    """Resume from `manifest` (the latest checkpoint), or start a new run when there is none."""
    from stable_baselines3.common.env_util import make_vec_env

    cuts: list[int] = list(manifest["cuts"]) if manifest else []
    wall_before = float(manifest["wall_s"]) if manifest else 0.0
    seed = derive_seed(config.seed, "learner-sitting", len(cuts) + (1 if manifest else 0))
    venv = make_vec_env(config.env_id, n_envs=config.sac.n_envs, seed=seed, wrapper_class=_float_obs)
    if manifest:
        model = _resume_model(config, out, manifest, venv, seed, cuts)
    else:
        model = _new_model(config, out, venv, seed)
    return _Sitting(config, out, model, cuts, SittingClock(int(model.num_timesteps), wall_before))


def _resume_model(config: SACConfig, out: LearnerDir, manifest: dict, venv, seed: int, cuts: list[int]):
    """The checkpointed model with its replay buffer; its open episodes are cut (appended to `cuts`)."""
    from stable_baselines3 import SAC

    model = SAC.load(str(out.path / manifest["model"]), env=venv, device="cpu")
    model.load_replay_buffer(str(out.path / manifest["replay_buffer"]))
    model.set_random_seed(seed)
    buf = model.replay_buffer
    step = int(model.num_timesteps)
    if step != manifest["step"] or stored_steps(buf) != step:
        raise RuntimeError(f"{out.path}: checkpoint step {manifest['step']}, model step {step} and replay buffer "
                           f"position {buf.pos} x {buf.n_envs} envs disagree")
    if config.total_steps > buf.buffer_size * buf.n_envs:
        raise ValueError(f"total_steps {config.total_steps} > replay buffer capacity "
                         f"{buf.buffer_size * buf.n_envs}: it would wrap and lose the collection order")
    if step > 0:  # the episodes in progress end here: the new sitting resets the envs
        last = step // buf.n_envs - 1
        open_ = buf.dones[last] == 0
        buf.timeouts[last, open_] = 1.0
        buf.dones[last, open_] = 1.0
        cuts.append(step)
    # snapshots past the checkpoint belong to a lost future: drop them (they are redone)
    kept = [r for r in read_snapshots(out.path) if r["step"] <= step]
    write_text(out.path / "snapshots.jsonl", "".join(json.dumps(r) + "\n" for r in kept))
    out.log(f"resumed {config.env_id} at step {step} (cuts {cuts})")
    return model


def _new_model(config: SACConfig, out: LearnerDir, venv, seed: int):
    """A new SAC model (after clearing the work dir's manifest and snapshot records and writing config.json)."""
    from stable_baselines3 import SAC

    s = config.sac
    if (s.buffer_size // s.n_envs) * s.n_envs < config.total_steps:
        raise ValueError(f"buffer_size {s.buffer_size} < total_steps {config.total_steps}: the replay buffer "
                         "would wrap and lose the collection order")
    for p in [out.path / "snapshots.jsonl", out.path / "checkpoint.json"]:
        p.unlink(missing_ok=True)
    write_json(out.path / "config.json", asdict(config))
    ent = s.ent_coef if s.ent_coef.startswith("auto") else float(s.ent_coef)
    model = SAC(
        "MlpPolicy", venv, learning_rate=s.learning_rate, buffer_size=s.buffer_size,
        learning_starts=s.learning_starts, batch_size=s.batch_size, tau=s.tau, gamma=s.gamma,
        train_freq=s.train_freq, gradient_steps=s.gradient_steps, ent_coef=ent,
        policy_kwargs=dict(net_arch=list(s.net_arch)), seed=seed, device="cpu", verbose=0,
    )
    out.log(f"started {config.env_id}: {asdict(config)}")
    return model


def _learn(model, steps: int, stop: threading.Event) -> int:
    """`model.learn` for `steps` env steps, ending early once `stop` is set. Returns the env steps stored."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Stopper(BaseCallback):
        def _on_step(self) -> bool:
            return not stop.is_set()

    model.learn(total_timesteps=steps, callback=Stopper(), reset_num_timesteps=False,
                log_interval=10**9, progress_bar=False)
    # a stop inside learn() counts the step whose transition SB3 did not store: count what is stored
    model.num_timesteps = stored_steps(model.replay_buffer)
    return int(model.num_timesteps)


@contextlib.contextmanager
def _stop_on_signals(log, enabled: bool) -> Iterator[threading.Event]:
    """An event that the first SIGTERM/SIGINT sets (a second acts as usual); the handlers are restored on exit.
    Signals are only caught when `enabled` and on the main thread."""
    stop = threading.Event()
    previous: dict = {}

    def on_signal(signum, frame) -> None:
        log(f"got signal {signum}: stopping at the next env step and writing a checkpoint")
        stop.set()
        for sig, handler in previous.items():  # a second signal acts as usual
            signal.signal(sig, handler)

    if enabled and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.getsignal(sig)
            signal.signal(sig, on_signal)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stored_steps(buffer) -> int:
    """Env steps stored in an SB3 replay buffer that has not wrapped around (DatasetError if it has)."""
    if buffer.full and buffer.pos != 0:
        raise DatasetError("the replay buffer wrapped around; the collection order is lost")
    return (buffer.buffer_size if buffer.full else buffer.pos) * buffer.n_envs


def load_replay_buffer(directory: str | os.PathLike):
    """The replay buffer of a work dir's latest checkpoint, and its manifest."""
    from stable_baselines3.common.save_util import load_from_pkl

    manifest = read_manifest(directory)
    if manifest is None:
        raise DatasetError(f"{directory}: no checkpoint.json; expected a SAC work dir")
    return load_from_pkl(str(Path(directory) / manifest["replay_buffer"])), manifest


def buffer_to_dataset(buffer, upto_step: int | None = None, *, env_id: str = "", name: str = "",
                      reward_scale: float = 1000.0, source: str = "<replay buffer>") -> TrajectoryDataset:
    """The transitions of an SB3 `ReplayBuffer` collected before env step `upto_step` (default: all), in
    collection order, as a `TrajectoryDataset`.

    Episodes are ordered by the row of their last step, ties by env index. `terminations` = dones without
    timeouts (the MDP ended); `truncations` = timeouts (the time limit, or a resume cut: see the module doc);
    episodes still running at `upto_step` are cut there and marked truncated. Actions are mapped back from SB3's
    [-1, 1] buffer scale to the env's bounds; observations are the ones before each action.
    """
    if not getattr(buffer, "handle_timeout_termination", False):
        raise DatasetError(f"{source}: the buffer has no timeouts; cannot tell terminations from truncations")
    n_envs = buffer.n_envs
    total = stored_steps(buffer)
    upto = total if upto_step is None else int(upto_step)
    if upto <= 0 or upto > total or upto % n_envs:
        raise DatasetError(f"{source}: upto_step={upto_step}; expected a multiple of {n_envs} in 1..{total}")
    rows = upto // n_envs
    low = np.asarray(buffer.action_space.low, np.float32)
    high = np.asarray(buffer.action_space.high, np.float32)
    dones = buffer.dones[:rows] > 0
    timeouts = buffer.timeouts[:rows] > 0
    pieces: list[tuple[int, int, Episode]] = []
    for e in range(n_envs):
        ends = np.flatnonzero(dones[:, e])
        if not len(ends) or ends[-1] != rows - 1:
            ends = np.append(ends, rows - 1)
        start = 0
        for end in ends:
            sl = slice(start, end + 1)
            term = dones[sl, e] & ~timeouts[sl, e]
            trunc = timeouts[sl, e].copy()
            if not (term[-1] or trunc[-1]):
                trunc[-1] = True  # still running at upto_step
            act = buffer.actions[sl, e].astype(np.float32)
            pieces.append((int(end), e, Episode(
                observations=buffer.observations[sl, e].astype(np.float32),
                actions=(low + 0.5 * (act + 1.0) * (high - low)).astype(np.float32),
                rewards=buffer.rewards[sl, e].astype(np.float32),
                terminations=term,
                truncations=trunc,
            )))
            start = end + 1
    pieces.sort(key=lambda p: (p[0], p[1]))
    return TrajectoryDataset.from_episodes([p[2] for p in pieces], reward_scale=reward_scale, env_id=env_id,
                                           name=name, source=source)


def replay_dataset(directory: str | os.PathLike, upto_step: int | None = None, name: str = "") -> TrajectoryDataset:
    """`buffer_to_dataset` of a work dir's latest checkpoint."""
    buffer, manifest = load_replay_buffer(directory)
    env_id = json.loads((Path(directory) / "config.json").read_text()).get("env_id", "")
    return buffer_to_dataset(buffer, upto_step, env_id=env_id, name=name, source=str(directory))
