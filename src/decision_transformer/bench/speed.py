"""`dt bench speed`: side-by-side timings, reported as ratios measured in one run.

1. Window sampling vs a paper-size training step (batch 64, K 20, width 128, 3 layers, Hopper dims),
   on a 1M-step synthetic dataset with Hopper-like episode lengths (target: sampling < 5% of a step);
   and the same step with transformers' DecisionTransformerModel (when installed), in the same process.
2. Batched evaluation (N envs, one model call per step) vs the same episodes one at a time.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import runtime


@dataclass(frozen=True)
class SpeedConfig:
    """Sizes of the speed benchmark."""

    train_steps: int = 30
    """Timed training steps (after 5 warm-up steps)."""
    sample_batches: int = 300
    """Timed sampler calls."""
    dataset_steps: int = 1_000_000
    """Steps in the synthetic dataset the sampler draws from."""
    eval_env: str = "HalfCheetah-v5"
    """Environment for the evaluation comparison (never terminates early, so lengths are equal)."""
    eval_episodes: int = 16
    """Episodes in the evaluation comparison."""
    eval_max_steps: int = 200
    """Episode length cap for the evaluation comparison."""
    out: str = "docs/results/speed.json"
    """Where to write the JSON report."""


def _synthetic_dataset(n_steps: int, seed: int = 0):
    from ..data.trajectories import TrajectoryDataset

    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 1001, size=n_steps // 300)
    lengths = lengths[np.cumsum(lengths) <= n_steps]
    n = int(lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return TrajectoryDataset(
        observations=rng.standard_normal((n, 11), dtype=np.float32),
        actions=rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        rewards=rng.standard_normal(n).astype(np.float32),
        terminations=np.zeros(n, bool), truncations=np.zeros(n, bool),
        episode_starts=starts, reward_scale=1000.0, source="synthetic",
    )


def bench_train_vs_sampling(cfg: SpeedConfig) -> dict:
    from ..config import DTConfig
    from ..data.preprocess import Preprocessing
    from ..data.sampler import WindowSampler
    from ..train import TrainConfig, Trainer

    data = _synthetic_dataset(cfg.dataset_steps)
    tcfg = TrainConfig(out="/nonexistent", steps=10**9, progress=False)
    trainer = Trainer(tcfg, DTConfig(), data, Preprocessing.fit(data, 20, 1000))
    rng = np.random.default_rng(0)
    sampler: WindowSampler = trainer.sampler
    batch = sampler.sample(64, rng)
    for _ in range(5):
        trainer.train_step(batch)
    step_times = []
    for _ in range(cfg.train_steps):
        t0 = time.perf_counter()
        trainer.train_step(batch)
        step_times.append(time.perf_counter() - t0)
    sample_times = []
    for _ in range(cfg.sample_batches):
        t0 = time.perf_counter()
        sampler.sample(64, rng)
        sample_times.append(time.perf_counter() - t0)
    step_ms = 1e3 * statistics.median(step_times)
    sample_ms = 1e3 * statistics.median(sample_times)
    out = {"dataset_steps": data.num_steps, "dataset_episodes": data.num_episodes,
           "train_step_ms_median": step_ms, "sample_ms_median": sample_ms,
           "sample_fraction_of_step": sample_ms / step_ms, "target_sample_fraction": 0.05}
    hf_ms = _hf_train_step_ms(batch, cfg.train_steps)
    if hf_ms is not None:
        out.update(hf_train_step_ms_median=hf_ms, hf_over_ours=hf_ms / step_ms)
    return out


def _hf_train_step_ms(batch, n_steps: int) -> float | None:
    """The same step (same sizes, loss, optimiser, clip) with transformers' DecisionTransformerModel."""
    try:
        from transformers import DecisionTransformerConfig, DecisionTransformerModel
    except ImportError:
        return None
    with runtime.seeded_torch(0):
        model = DecisionTransformerModel(DecisionTransformerConfig(
            state_dim=11, act_dim=3, hidden_size=128, n_layer=3, n_head=1, n_inner=512, activation_function="relu",
            max_ep_len=1000, n_positions=1024)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    mask = batch.attention_mask.bool()

    def step() -> None:
        out = model(states=batch.states, actions=batch.actions, rewards=None, returns_to_go=batch.returns_to_go,
                    timesteps=batch.timesteps, attention_mask=batch.attention_mask, return_dict=True)
        loss = ((out.action_preds - batch.actions) ** 2)[mask].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()

    for _ in range(5):
        step()
    times = []
    for _ in range(n_steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench_eval(cfg: SpeedConfig) -> dict:
    import gymnasium as gym

    from ..config import DTConfig
    from ..data.preprocess import Preprocessing
    from ..evaluate import RolloutPolicy, evaluate
    from ..model import DecisionTransformer

    env = gym.make(cfg.eval_env)
    sd, ad = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    with runtime.seeded_torch(0):
        model = DecisionTransformer(DTConfig(), sd, ad).eval()
    prep = Preprocessing(np.zeros(sd, np.float32), np.ones(sd, np.float32), 1000.0, 20, 1000)
    policy = RolloutPolicy(model, prep, False, ad)
    kwargs = {"max_episode_steps": cfg.eval_max_steps}
    timings = {}
    for label, n_envs in (("batched", cfg.eval_episodes), ("one_at_a_time", 1)):
        t0 = time.perf_counter()
        res = evaluate(policy, cfg.eval_env, [6000.0], num_episodes=cfg.eval_episodes, num_envs=n_envs,
                       env_kwargs=kwargs, progress=False)[0]
        timings[label] = {"seconds": time.perf_counter() - t0, "env_steps": int(sum(res.lengths)), "returns": res.returns}
    same = np.allclose(timings["batched"]["returns"], timings["one_at_a_time"]["returns"], rtol=1e-5)
    return {"env_id": cfg.eval_env, "episodes": cfg.eval_episodes, "max_steps": cfg.eval_max_steps,
            "batched_s": timings["batched"]["seconds"], "one_at_a_time_s": timings["one_at_a_time"]["seconds"],
            "speedup": timings["one_at_a_time"]["seconds"] / timings["batched"]["seconds"],
            "env_steps": timings["batched"]["env_steps"], "same_returns": bool(same)}


def run_speed(cfg: SpeedConfig) -> dict:
    from .. import __version__, atomic
    from ..metrics import format_table

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {
        "config": asdict(cfg), "version": __version__, "commit": commit or None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "date": time.strftime("%Y-%m-%d"),
        "train_vs_sampling": bench_train_vs_sampling(cfg),
        "evaluation": bench_eval(cfg),
    }
    tv, ev = report["train_vs_sampling"], report["evaluation"]
    print(format_table(["measure", "value"], [
        ["paper-size train step (median ms)", tv["train_step_ms_median"]],
        ["window sampling, batch 64 (median ms)", tv["sample_ms_median"]],
        ["sampling / train step", f"{100 * tv['sample_fraction_of_step']:.2f}% (target < 5%)"],
        ["transformers DecisionTransformerModel step (median ms)", tv.get("hf_train_step_ms_median")],
        ["its step time / ours", f"{tv['hf_over_ours']:.2f}x" if "hf_over_ours" in tv else None],
        [f"eval {ev['episodes']} episodes batched (s)", ev["batched_s"]],
        [f"eval {ev['episodes']} episodes one at a time (s)", ev["one_at_a_time_s"]],
        ["batched evaluation speed-up", f"{ev['speedup']:.1f}x (same returns: {ev['same_returns']})"],
    ]))
    print(f"wrote {atomic.write_json(cfg.out, report)}")
    return report
