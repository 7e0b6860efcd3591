"""Built-in suite datasets (`hopper-medium`, `hopper-medium-replay`, ...), regenerated from committed policies.

Committed artifacts live in `decision_transformer/assets/suite/`:

    suite.json      generation config: per env the policy files (expert, medium, the medium-replay snapshot
                    schedule), sizes and the number of parallel envs
    refs.json       measured reference returns per env: the uniform random policy's and the expert's mean over
                    100 episodes (the registry's `ref_min_return` / `ref_max_return`; D4RL's, for comparison, are in scores.py)
    <env>/*.npz     `NumpyPolicy` files

Generation (all rollouts use sampled actions, i.e. the policy's Gaussian training-time exploration, clipped to the
action bounds; D4RL also sampled its behaviour policies):

    random          uniform actions, `sizes.random` transitions
    medium, expert  the medium / expert policy, `sizes[quality]` transitions
    medium-replay   the learner's data up to the medium level. SAC envs: the learner's own replay buffer up to
                    medium's training step, in collection order (`<env>/medium_replay.npz`, written by
                    `save_replay_stream`; the same for every seed, like D4RL's single buffer). PPO envs: rebuilt
                    from its training snapshots: snapshot k acts for exactly the env steps it was trained for
                    (until snapshot k+1), in as many envs as training used, episodes running on across snapshot
                    changes as they did during training
    medium-expert   medium then expert, concatenated (same seed)

Episodes still running when a dataset's step budget ends are kept and marked truncated.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

import numpy as np

from decision_transformer.common import atomic
from decision_transformer.data.registry import BuiltinDataset, register_builtin
from decision_transformer.data.trajectories import DatasetError, TrajectoryDataset
from decision_transformer.common.seeding import derive_seed

QUALITIES = ("random", "medium", "medium-replay", "expert", "medium-expert")
REWARD_SCALE = 1000.0
# 2: observations stored correctly (generation 1 stored, at every step, the episode's last observation)
GENERATION = 2
# 3: SAC behaviour policies and the SAC replay stream (issue 13); an env's suite.json entry names its generation
GENERATION_SAC = 3
STREAM_FORMAT = "replay-stream-1"

ENV_IDS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5", "reacher": "Reacher-v5"}


def assets_dir() -> Path:
    return Path(str(resources.files("dt_experiments") / "assets" / "suite"))


@functools.lru_cache(maxsize=None)
def suite_config() -> dict:
    path = assets_dir() / "suite.json"
    if not path.is_file():
        raise DatasetError(f"{path}: the suite's generation config is missing")
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=None)
def measured_references() -> dict:
    path = assets_dir() / "refs.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _policy(file: str):
    from .policy import NumpyPolicy

    return NumpyPolicy.load(assets_dir() / file)


def split_name(name: str) -> tuple[str, str]:
    for quality in sorted(QUALITIES, key=len, reverse=True):
        if name.endswith("-" + quality):
            env = name[: -len(quality) - 1]
            if env in ENV_IDS:
                return env, quality
    raise DatasetError(f"{name!r} is not a suite dataset name; expected ENV-QUALITY with ENV in {sorted(ENV_IDS)} "
                       f"and QUALITY in {list(QUALITIES)}")


def generate(name: str, seed: int = 0, num_steps: int | None = None, progress: bool = True) -> TrajectoryDataset:
    """Regenerate suite dataset `name` for `seed`. `num_steps` shrinks it (tests, quick looks): random / medium /
    expert get that many transitions, medium-expert that many per half, and medium-replay's snapshot schedule
    is scaled down proportionally (at least one step per snapshot)."""
    from .rollout import policy_act_fn, random_act_fn, rollout

    env, quality = split_name(name)
    env_id = ENV_IDS[env]
    cfg = suite_config()
    gen = cfg["generation"]
    spec = cfg["envs"].get(env)
    if quality != "random" and (spec is None or "expert" not in spec):
        raise DatasetError(f"{name}: no behaviour policies for {env_id} are committed in {assets_dir()}/suite.json")
    num_envs = int(gen["num_envs"])
    desc = f"{name} seed {seed}" if progress else None
    base_seed = derive_seed(seed, "suite-quality", quality)  # = seed + gen["seed_offsets"][quality]

    if quality == "medium-expert":
        halves = [generate(f"{env}-{q}", seed, num_steps, progress) for q in ("medium", "expert")]
        return concatenate(halves, name=name, source=f"suite:{name} seed={seed}")
    if quality == "random":
        from decision_transformer.common.envs_util import make_env

        probe = make_env(env_id)
        act_fn = random_act_fn(probe.action_space)
        probe.close()
        episodes = rollout(env_id, act_fn, seed=base_seed, num_envs=num_envs,
                           num_steps=num_steps or int(gen["sizes"]["random"]), progress=desc)
    elif quality in ("medium", "expert"):
        act_fn = policy_act_fn(_policy(spec[quality]["policy"]), stochastic=True)
        episodes = rollout(env_id, act_fn, seed=base_seed, num_envs=num_envs,
                           num_steps=num_steps or int(gen["sizes"][quality]), progress=desc)
    elif "stream" in spec["medium_replay"]:
        data = load_replay_stream(assets_dir() / spec["medium_replay"]["stream"], name=name)
        return data if num_steps is None else first_steps(data, num_steps)
    else:  # medium-replay rebuilt from PPO snapshots
        segments = spec["medium_replay"]["snapshots"]
        total = sum(int(s["steps"]) for s in segments)
        scale = 1.0 if num_steps is None else min(1.0, num_steps / total)
        schedule = [
            (policy_act_fn(_policy(s["policy"]), stochastic=True), max(1, int(round(int(s["steps"]) * scale))))
            for s in segments
        ]
        episodes = rollout(env_id, schedule, seed=base_seed, num_envs=int(spec["medium_replay"]["num_envs"]),
                           progress=desc)
    return TrajectoryDataset.from_episodes(
        episodes, reward_scale=REWARD_SCALE, env_id=env_id, name=name, source=f"suite:{name} seed={seed}"
    )


def save_replay_stream(data: TrajectoryDataset, path: Path) -> float:
    """Write a replay stream compactly (observations and actions float16, rewards float32, flags exact),
    atomically. Returns the largest float16 rounding error relative to each observation dimension's std."""
    obs16 = data.observations.astype(np.float16)
    std = np.maximum(data.observations.std(0), 1e-6)
    error = float(np.max(np.abs(obs16.astype(np.float32) - data.observations) / std))
    atomic.savez(path, compressed=True, format=np.array(STREAM_FORMAT), observations=obs16,
                 actions=data.actions.astype(np.float16), rewards=data.rewards.astype(np.float32),
                 terminations=data.terminations, truncations=data.truncations,
                 episode_starts=data.episode_starts, env_id=np.array(data.env_id))
    return round(error, 6)


def load_replay_stream(path: Path, name: str) -> TrajectoryDataset:
    """A stream written by `save_replay_stream`, as float32 arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != STREAM_FORMAT:
                raise DatasetError(f"{path}: field 'format' is missing or not {STREAM_FORMAT!r}")
            arrays = {k: z[k] for k in ("observations", "actions", "rewards", "terminations", "truncations",
                                        "episode_starts", "env_id")}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable replay stream: {exc}") from exc
    return TrajectoryDataset(
        observations=arrays["observations"].astype(np.float32), actions=arrays["actions"].astype(np.float32),
        rewards=arrays["rewards"], terminations=arrays["terminations"], truncations=arrays["truncations"],
        episode_starts=arrays["episode_starts"], reward_scale=REWARD_SCALE, env_id=str(arrays["env_id"]),
        name=name, source=f"suite:{name}",
    )


def first_steps(data: TrajectoryDataset, num_steps: int) -> TrajectoryDataset:
    """The first `num_steps` transitions; an episode cut there is marked truncated."""
    n = min(int(num_steps), data.num_steps)
    starts = data.episode_starts[data.episode_starts < n]
    terminations, truncations = data.terminations[:n].copy(), data.truncations[:n].copy()
    if not (terminations[-1] or truncations[-1]):
        truncations[-1] = True
    return TrajectoryDataset(observations=data.observations[:n], actions=data.actions[:n], rewards=data.rewards[:n],
                             terminations=terminations, truncations=truncations, episode_starts=starts,
                             reward_scale=data.reward_scale, env_id=data.env_id, name=data.name, source=data.source)


def concatenate(parts: list[TrajectoryDataset], name: str, source: str) -> TrajectoryDataset:
    offsets = np.cumsum([0] + [p.num_steps for p in parts[:-1]])
    return TrajectoryDataset(
        observations=np.concatenate([p.observations for p in parts]),
        actions=np.concatenate([p.actions for p in parts]),
        rewards=np.concatenate([p.rewards for p in parts]),
        terminations=np.concatenate([p.terminations for p in parts]),
        truncations=np.concatenate([p.truncations for p in parts]),
        episode_starts=np.concatenate([p.episode_starts + o for p, o in zip(parts, offsets)]),
        reward_scale=parts[0].reward_scale,
        env_id=parts[0].env_id,
        name=name,
        source=source,
    )


def _make(name: str, seed: int) -> TrajectoryDataset:
    if name.endswith("-medium-expert"):
        # reuse the cached halves when they exist: they are the same rollouts
        from decision_transformer.data.registry import BUILTIN

        env = name[: -len("-medium-expert")]
        parts = []
        for q in ("medium", "expert"):
            spec = BUILTIN.get(f"{env}-{q}")
            parts.append(TrajectoryDataset.load(spec.path(seed)) if spec and spec.is_cached(seed)
                         else generate(f"{env}-{q}", seed))
        return concatenate(parts, name=name, source=f"suite:{name} seed={seed}")
    return generate(name, seed)


def _register() -> None:
    try:
        cfg = suite_config()
    except DatasetError:
        return
    refs = measured_references()
    for env, env_id in ENV_IDS.items():
        spec = cfg["envs"].get(env, {})
        r = refs.get(env, {})
        lo = r.get("random", {}).get("mean")
        hi = r.get("expert", {}).get("mean")
        qualities = QUALITIES if "expert" in spec else ("random",)
        for q in qualities:
            name = f"{env}-{q}"
            register_builtin(BuiltinDataset(
                name=name,
                env_id=env_id,
                make=functools.partial(_make, name),
                description=_describe(env, q, spec),
                ref_min_return=lo,
                ref_max_return=hi,
                ref_label=f"suite:{name}",
                ref_source=f"this suite's {env_id} random policy and expert, 100-episode means (assets/suite/refs.json)",
                generation=int(spec.get("generation", GENERATION)),
            ))


def _describe(env: str, quality: str, spec: dict) -> str:
    sizes = suite_config()["generation"]["sizes"]
    if quality == "random":
        return f"{ENV_IDS[env]}, uniform random actions, {sizes['random']:,} steps"
    algo = "SAC" if "sac" in spec.get("training", {}).get("config", {}) else "PPO"
    if quality == "medium-replay":
        mr = spec["medium_replay"]
        if "stream" in mr:
            return f"{ENV_IDS[env]}, SAC learner's replay buffer up to the medium level, {mr['steps']:,} steps"
        return (f"{ENV_IDS[env]}, PPO learner's data up to the medium level (rebuilt from "
                f"{len(mr['snapshots'])} training snapshots), {sum(s['steps'] for s in mr['snapshots']):,} steps")
    if quality == "medium-expert":
        return f"{ENV_IDS[env]}, medium + expert concatenated, {sizes['medium'] + sizes['expert']:,} steps"
    p = spec[quality]
    return (f"{ENV_IDS[env]}, {algo} {quality} policy (training step {p['train_step']:,}), "
            f"{sizes[quality]:,} steps")


_register()
