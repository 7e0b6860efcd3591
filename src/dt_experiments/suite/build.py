"""Turn a behaviour-training work directory into the committed suite artifacts, and measure reference returns.

    select_policies  expert = the snapshot with the best evaluated return; medium = the earlier snapshot whose
                     return is closest to one third of the expert's (PPO), or the first snapshot that reaches a
                     third of the expert's (SAC: D4RL's early stopping); medium-replay = the data before medium
    export_env       copies those policies into assets/suite/<env>/ and records them in suite.json; for a SAC
                     work dir, medium-replay is the learner's replay buffer up to medium's step, stored
                     compressed (`datasets.save_replay_stream`)
    measure_refs     random and expert returns, mean over 100 episodes, into refs.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from decision_transformer.common.atomic import write_json
from decision_transformer.data.trajectories import DatasetError
from decision_transformer.common.envs_util import make_env
from decision_transformer.common.seeding import QUALITY_OFFSETS
from .behaviour import read_snapshots
from .datasets import (ENV_IDS, GENERATION, GENERATION_SAC, assets_dir, measured_references, save_replay_stream,
                       suite_config)
from .policy import NumpyPolicy
from .rollout import mean_return, policy_act_fn, random_act_fn, rollout

DEFAULT_GENERATION = {
    "num_envs": 64,
    "sizes": {"random": 1_000_000, "medium": 1_000_000, "expert": 1_000_000},
    # derive_seed(seed, "suite-quality", q) (seeding.py) is the rollout seed of each quality, so qualities never
    # share noise streams; recorded here as seed + offset
    "seed_offsets": dict(QUALITY_OFFSETS),
}


def load_or_default_config() -> dict:
    try:
        return json.loads(json.dumps(suite_config()))
    except DatasetError:
        return {"format_version": 1, "generation": DEFAULT_GENERATION, "envs": {}}


def select_policies(records: list[dict], medium_step: int | None = None, expert_step: int | None = None,
                    medium_fraction: float = 1 / 3, evaluate=None, top_k: int = 5,
                    baseline: float = 0.0, medium_rule: str = "closest") -> tuple[dict, dict]:
    """(medium record, expert record) from snapshots.jsonl records.

    Training-time evaluations use few episodes and are noisy, so with `evaluate(step) -> mean return` given, the
    `top_k` best snapshots are re-evaluated and the best re-evaluated one is the expert. Medium, by `medium_rule`:
    "closest": the `top_k` earlier snapshots closest to `medium_fraction` of the expert's return are
    re-evaluated and the closest is medium; "first-reaching": in training order, the first snapshot whose
    re-evaluated return reaches that level (D4RL trained its medium policies until they reached the medium level,
    and its medium-replay is the buffer up to there; a transient early peak that falls back does not count, since
    it does not reach the level). Only snapshots whose training-time return is within 30% of the level are
    re-evaluated. Re-evaluated returns are stored in the records as "reevaluated_return". `baseline` (default 0,
    D4RL's "one third of the expert's return") is the random policy's return for envs whose returns are negative
    costs (Reacher), where a third of the expert's return would be better than the expert.
    """
    if medium_rule not in ("closest", "first-reaching"):
        raise ValueError(f"medium_rule {medium_rule!r}: expected 'closest' or 'first-reaching'")
    if not records:
        raise DatasetError("no snapshots: train a behaviour policy first (dt suite train-behaviour ENV)")
    by_step = {r["step"]: dict(r) for r in records}
    records = list(by_step.values())

    def score(r: dict) -> float:
        return r.get("reevaluated_return", r["stochastic_return"])

    def reevaluate(candidates: list[dict]) -> None:
        if evaluate is not None:
            for r in candidates:
                if "reevaluated_return" not in r:
                    r["reevaluated_return"] = float(evaluate(r["step"]))

    if expert_step is not None:
        expert = by_step[expert_step]
        reevaluate([expert])
    else:
        ranked = sorted(records, key=lambda r: (-r["stochastic_return"], r["step"]))[:top_k]
        reevaluate(ranked)
        expert = max(ranked, key=lambda r: (score(r), -r["step"]))
    target = baseline + medium_fraction * (score(expert) - baseline)
    if medium_step is not None:
        medium = by_step[medium_step]
        reevaluate([medium])
    elif medium_rule == "first-reaching":
        earlier = sorted((r for r in records if r["step"] < expert["step"]), key=lambda r: r["step"])
        medium = None
        for r in earlier:
            if r["stochastic_return"] - baseline >= 0.7 * (target - baseline):
                reevaluate([r])
                if score(r) >= target:
                    medium = r
                    break
        if medium is None:
            raise DatasetError(f"no snapshot before the expert (step {expert['step']}) reaches {target:.1f}")
    else:
        earlier = [r for r in records if r["step"] < expert["step"]] or records
        ranked = sorted(earlier, key=lambda r: (abs(r["stochastic_return"] - target), r["step"]))[:top_k]
        reevaluate(ranked)
        medium = min(ranked, key=lambda r: (abs(score(r) - target), r["step"]))
    return medium, expert


def ppo_description(ppo: dict) -> str:
    """Which PPO hyperparameters a training config used, named by their source (behaviour.py)."""
    from dataclasses import asdict

    from .behaviour import SB3_DEFAULT_PPO, ZOO_TUNED_PPO

    def same(settings) -> bool:
        ref = json.loads(json.dumps(asdict(settings)))
        return all(ppo.get(k) == v for k, v in ref.items())

    if same(SB3_DEFAULT_PPO):
        return "stable-baselines3 PPO with SB3's default hyperparameters and VecNormalize (RL-Zoo's untuned mujoco-defaults)"
    for env_id, settings in ZOO_TUNED_PPO.items():
        if same(settings):
            return f"stable-baselines3 PPO with RL-Zoo's tuned {env_id.split('-')[0]} hyperparameters (hyperparams/ppo.yml)"
    return "stable-baselines3 PPO with the hyperparameters in training.config.ppo"


def export_env(env: str, work: Path, medium_step: int | None = None, expert_step: int | None = None,
               replay_every: int = 1, reevaluate_episodes: int = 20) -> dict:
    """Copy the chosen snapshots into assets/suite/<env>/ and record them in suite.json. Returns the env entry."""
    env_id = ENV_IDS[env]
    records = read_snapshots(work)

    reevaluated: dict[str, float] = {}

    def evaluate(step: int) -> float:
        policy = NumpyPolicy.load(work / "snapshots" / f"step_{step:08d}.npz")
        eps = rollout(env_id, policy_act_fn(policy, True), seed=777, num_envs=min(reevaluate_episodes, 50),
                      num_episodes=reevaluate_episodes)
        mean = mean_return(eps)[0]
        reevaluated[str(step)] = round(mean, 1)
        return mean

    baseline = 0.0
    if env == "reacher":  # negative returns: medium = a third of the way from random to expert
        baseline = measured_references()[env]["random"]["mean"]
    train_cfg = json.loads((work / "config.json").read_text()) if (work / "config.json").is_file() else {}
    sac = "sac" in train_cfg
    medium, expert = select_policies(records, medium_step, expert_step,
                                     evaluate=evaluate if reevaluate_episodes else None, baseline=baseline,
                                     medium_rule="first-reaching" if sac else "closest")
    out = assets_dir() / env
    if out.exists():
        for old in out.rglob("*.npz"):
            old.unlink()
    snap = lambda step: NumpyPolicy.load(work / "snapshots" / f"step_{step:08d}.npz")  # noqa: E731
    snap(expert["step"]).save(out / "expert.npz")
    snap(medium["step"]).save(out / "medium.npz")
    medium_replay = (_export_replay_stream(env, work, medium["step"]) if sac
                     else _export_replay_snapshots(env, records, medium["step"], replay_every, snap, train_cfg))
    entry = {
        "env_id": env_id,
        "generation": GENERATION_SAC if sac else GENERATION,
        "algorithm": _sac_description() if sac else ppo_description(train_cfg.get("ppo", {})),
        "snapshot_evaluation": "eval_return and the curve: mean return of the snapshot's sampled actions "
                               "(its Gaussian exploration, as the datasets act) over the training config's eval_episodes",
        "training": {
            "config": train_cfg,
            "trained_steps": records[-1]["step"],
            "curve": [[r["step"], round(r["stochastic_return"], 1)] for r in records],
        },
        "expert": {"policy": f"{env}/expert.npz", "train_step": expert["step"],
                   "eval_return": round(expert["stochastic_return"], 1),
                   "reevaluated_return": round(expert.get("reevaluated_return", float("nan")), 1),
                   "reevaluated_episodes": reevaluate_episodes},
        "medium": {"policy": f"{env}/medium.npz", "train_step": medium["step"],
                   "eval_return": round(medium["stochastic_return"], 1),
                   "reevaluated_return": round(medium.get("reevaluated_return", float("nan")), 1),
                   "reevaluated_episodes": reevaluate_episodes},
        "medium_target": "random + (expert - random) / 3" if baseline else "expert / 3",
        "medium_rule": ("the first snapshot whose re-evaluated return reaches the target" if sac
                        else "the snapshot whose re-evaluated return is closest to the target"),
        "medium_replay": medium_replay,
        "reevaluated_candidates": {"episodes": reevaluate_episodes, "seed": 777,
                                   "returns": dict(sorted(reevaluated.items(), key=lambda kv: int(kv[0])))},
    }
    cfg = load_or_default_config()
    cfg["envs"][env] = entry
    write_json(assets_dir() / "suite.json", cfg)
    suite_config.cache_clear()
    return entry


def _sac_description() -> str:
    return ("stable-baselines3 SAC with RL-Zoo's MuJoCo settings (SB3 defaults plus learning_starts 10000), "
            "settings in training.config.sac")


def _export_replay_snapshots(env: str, records: list[dict], medium_step: int, replay_every: int, snap,
                             train_cfg: dict) -> dict:
    """PPO: the snapshots before medium, each acting for the env steps it was trained for (float16 weights)."""
    before = [r for r in records if r["step"] < medium_step][::replay_every]
    schedule = []
    for k, r in enumerate(before):
        end = before[k + 1]["step"] if k + 1 < len(before) else medium_step
        file = f"{env}/replay/step_{r['step']:08d}.npz"
        snap(r["step"]).save(assets_dir() / file, half=True)
        schedule.append({"policy": file, "train_step": r["step"], "steps": end - r["step"],
                         "eval_return": round(r["stochastic_return"], 1)})
    return {"num_envs": int(train_cfg.get("ppo", {}).get("n_envs", 1)), "snapshots": schedule,
            "weights": "float16 copies of the training snapshots"}


def _export_replay_stream(env: str, work: Path, medium_step: int) -> dict:
    """SAC: the replay buffer's first `medium_step` env steps, in collection order, stored compressed."""
    from .sac import replay_dataset

    data = replay_dataset(work, upto_step=medium_step, name=f"{env}-medium-replay")
    file = f"{env}/medium_replay.npz"
    error = save_replay_stream(data, assets_dir() / file)
    return {"stream": file, "steps": data.num_steps, "episodes": data.num_episodes,
            "terminations": int(data.terminations.sum()), "truncations": int(data.truncations.sum()),
            "storage": "observations and actions as float16, rewards float32, flags exact",
            "float16_max_error": error}


def measure_refs(env: str, episodes: int = 100, seed: int = 12345, which: tuple[str, ...] = ("random", "expert", "medium")) -> dict:
    """Mean/std return over `episodes` episodes of the random policy and the committed expert (and medium)."""
    env_id = ENV_IDS[env]
    refs = json.loads(json.dumps(measured_references()))
    entry = refs.get(env, {})
    spec = load_or_default_config()["envs"].get(env, {})
    for q in which:
        if q == "random":
            probe = make_env(env_id)
            fn = random_act_fn(probe.action_space)
            probe.close()
        elif q in spec:
            fn = policy_act_fn(NumpyPolicy.load(assets_dir() / spec[q]["policy"]), stochastic=True)
        else:
            continue
        t0 = time.time()
        eps = rollout(env_id, fn, seed=seed, num_envs=50, num_episodes=episodes, progress=f"{env} {q} refs")
        m, s = mean_return(eps)
        entry[q] = {"mean": round(m, 3), "std": round(s, 3), "episodes": episodes, "seed": seed,
                    "mean_length": round(float(np.mean([len(e) for e in eps])), 1),
                    "actions": "uniform" if q == "random" else "sampled (Gaussian exploration, clipped)",
                    "seconds": round(time.time() - t0, 1)}
    entry["env_id"] = env_id
    entry["measured"] = time.strftime("%Y-%m-%d")
    refs[env] = entry
    write_json(assets_dir() / "refs.json", refs)
    measured_references.cache_clear()
    return entry
