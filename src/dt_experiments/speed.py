"""`dt bench speed --out speed.json`: our training step, action and evaluation against Hugging Face's
`DecisionTransformerModel` and the original code's one-episode-at-a-time loop, as ratios measured side by side
in one process (interleaved repetitions, medians), and the memory of loading a large dataset.

Paper-size model throughout: batch 64, K 20, width 128, 3 layers, 1 head, Hopper dimensions (11 / 3).

    ratios.train_vs_hf          HF's fp32 step time / ours at `precision` (default auto: bf16 where native)
    ratios.train_fp32_vs_hf     HF's fp32 step time / ours at fp32
    ratios.act_b1_vs_hf         our time for one action at batch 1 / HF's (lower is better)
    ratios.act_b50_vs_hf        the same at batch 50
    ratios.train_vs_d3rlpy, train_fp32_vs_d3rlpy
                                d3rlpy's DecisionTransformer step time / ours (at `precision`, at fp32), when
                                d3rlpy is installed
    ratios.act_b1_incremental_vs_hf, act_b50_incremental_vs_hf
                                the same for a banded model (attention_window 20) acting incrementally from its
                                key/value caches (incremental.py), its caches full (past the band)
    ratios.act_b1_onnx_vs_hf, act_b1_onnx_incremental_vs_hf
                                the same through onnxruntime (deploy/): the exported full graph of the plain model
                                (one forward over the window), and the step graph of the banded one (caches full),
                                when onnx and onnxruntime are installed and the device is the CPU
    ratios.eval_vs_sequential   our batched evaluation's env steps/s / the sequential loop's (one env, the
                                full K-step recompute per action, as kzl/decision-transformer evaluates)
    ratios.dataset_rss_vs_raw   peak RSS added by loading a dataset and building its sampler / its raw bytes
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from decision_transformer.common import runtime
from decision_transformer.common.seeding import derive_seed
from decision_transformer.common.precision import cpu_bf16_probe, cpu_has_native_bf16

from .configs import SpeedConfig

STATE_DIM, ACT_DIM = 11, 3


def _synthetic_dataset(n_steps: int, seed: int = 0):
    from decision_transformer.data.trajectories import TrajectoryDataset

    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 1001, size=max(1, n_steps // 300))
    lengths = lengths[np.cumsum(lengths) <= n_steps]
    n = int(lengths.sum())
    return TrajectoryDataset(
        observations=rng.standard_normal((n, STATE_DIM), dtype=np.float32),
        actions=rng.uniform(-1, 1, (n, ACT_DIM)).astype(np.float32),
        rewards=rng.standard_normal(n).astype(np.float32),
        terminations=np.zeros(n, bool), truncations=np.zeros(n, bool),
        episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]), reward_scale=1000.0, source="synthetic",
    )


def _interleaved(fns: dict[str, Callable[[], None]], repeats: int, warmup: int = 3, device: str = "cpu") -> dict[str, float]:
    """Median milliseconds of each function, calls interleaved so that machine noise hits all alike (CUDA work
    is synchronised before each clock read)."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[k].append(1e3 * (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in times.items()}


def _hf_model():
    try:
        from transformers import DecisionTransformerConfig, DecisionTransformerModel
    except ImportError:
        return None
    with runtime.seeded_torch(0):
        return DecisionTransformerModel(DecisionTransformerConfig(
            state_dim=STATE_DIM, act_dim=ACT_DIM, hidden_size=128, n_layer=3, n_head=1, n_inner=512,
            activation_function="relu", max_ep_len=1000, n_positions=1024, attn_implementation="sdpa"))


def bench_train(cfg: SpeedConfig) -> dict:
    """Training steps: ours (the library's Trainer) at fp32 and at `precision`, HF's at fp32, same batch."""
    import dataclasses

    from decision_transformer.config import DTConfig

    from decision_transformer.run_config import TrainConfig
    from decision_transformer.data.preprocess import Preprocessing
    from decision_transformer.losses import action_loss
    from decision_transformer.common.precision import resolve
    from decision_transformer.trainer import Trainer

    data = _synthetic_dataset(100_000)
    prep = Preprocessing.fit(data)
    base = TrainConfig(out="/nonexistent", steps=10**9, progress=False, device=cfg.device)
    ours = {p: Trainer(dataclasses.replace(base, precision=p), DTConfig(), data, prep) for p in ("fp32", cfg.precision)}
    batch = ours["fp32"].sampler.sample(64, np.random.default_rng(0)).to(cfg.device)
    fns = {f"ours_{p}": (lambda t=t: t.train_step(batch)) for p, t in ours.items()}
    hf = _hf_model()
    if hf is not None:
        hf.to(cfg.device).train()
        opt = torch.optim.AdamW(hf.parameters(), lr=1e-4, weight_decay=1e-4)

        def hf_step() -> None:
            out = hf(states=batch.states, actions=batch.actions, rewards=None, returns_to_go=batch.returns_to_go,
                     timesteps=batch.timesteps, attention_mask=batch.attention_mask, return_dict=True)
            loss = action_loss(out.action_preds, batch.actions, batch.attention_mask, False)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(hf.parameters(), 0.25)
            opt.step()

        fns["hf_fp32"] = hf_step
    d3 = _d3rlpy_step(data, cfg.device)
    if d3 is not None:
        fns["d3rlpy"] = d3
    ms = _interleaved(fns, cfg.repeats, device=cfg.device)
    return {"step_ms_median": ms, "precision": cfg.precision, "precision_resolved": resolve(cfg.precision, cfg.device)}


def _d3rlpy_step(data, device: str) -> Callable[[], None] | None:
    """d3rlpy 2.8's DecisionTransformer.update on one 64 x 20 trajectory batch of the same data, at paper size
    (a linear state embedding of width 128, 3 layers, 1 head, dropout 0.1), or None without d3rlpy."""
    try:
        from .common import d3rlpy_device, d3rlpy_module

        d3rlpy = d3rlpy_module()
    except ImportError:
        return None
    ends = np.zeros(data.num_steps, np.float32)
    ends[data.episode_ends - 1] = 1.0
    mdp = d3rlpy.dataset.MDPDataset(data.observations, data.actions, data.rewards, ends)
    enc = d3rlpy.models.VectorEncoderFactory(hidden_units=[128], exclude_last_activation=True)
    with runtime.seeded_torch(0):
        algo = d3rlpy.algos.DecisionTransformerConfig(batch_size=64, context_size=20, max_timestep=1000, num_layers=3,
                                                      num_heads=1, encoder_factory=enc).create(
            device=d3rlpy_device(device))
        algo.build_with_dataset(mdp)
    batch = mdp.sample_trajectory_batch(64, length=20)
    return lambda: algo.update(batch)


def bench_act(cfg: SpeedConfig) -> dict:
    """One action (the newest step's) at batch 1 and 50: our `act` vs HF's forward, both in inference mode."""
    from decision_transformer.config import DTConfig
    from decision_transformer.incremental import IncrementalDecoder
    from decision_transformer.model_checks import trusted_inputs
    from decision_transformer.model import DecisionTransformer

    dev = cfg.device
    with runtime.seeded_torch(0):
        ours = DecisionTransformer(DTConfig(), STATE_DIM, ACT_DIM).to(dev).eval()
        banded = DecisionTransformer(DTConfig(context_len=40, attention_window=20), STATE_DIM, ACT_DIM).to(dev).eval()
    hf = _hf_model()
    if hf is not None:
        hf.to(dev)
    out, onnx, tmp = {}, {}, tempfile.TemporaryDirectory()
    for B in (1, 50):
        g = torch.Generator().manual_seed(B)
        x = tuple(t.to(dev) for t in (
            torch.randn(B, 20, STATE_DIM, generator=g), torch.randn(B, 20, ACT_DIM, generator=g),
            torch.randn(B, 20, 1, generator=g), torch.arange(20).repeat(B, 1), torch.ones(B, 20, dtype=torch.long)))
        if dev == "cpu":
            onnx[B] = _onnx_act_fns(ours, banded, x, Path(tmp.name))

        def ours_act() -> None:  # as the evaluation loop calls it: its own windows, so no value checks
            with torch.inference_mode(), trusted_inputs():
                ours.act(*x)

        decoder, rows = IncrementalDecoder(banded, B), torch.arange(B, device=dev)

        def incremental_act() -> None:
            decoder.step(rows, x[0][:, -1], x[2][:, -1], x[1][:, -2], x[3][:, -1], x[3][:, -2])
            decoder.advance(rows)

        for _ in range(30):  # past the band: full caches, the steady state of an episode
            incremental_act()
        fns = {"ours": ours_act, "ours_incremental": incremental_act, **onnx.get(B, {})}
        if hf is not None:
            hf.eval()

            def hf_act() -> None:
                with torch.inference_mode():
                    hf(states=x[0], actions=x[1], rewards=None, returns_to_go=x[2], timesteps=x[3],
                       attention_mask=x[4], return_dict=True).action_preds[:, -1]

            fns["hf"] = hf_act
        out[f"batch_{B}_ms_median"] = _interleaved(fns, cfg.repeats * 3, device=dev)
    tmp.cleanup()
    return out


def _onnx_act_fns(ours, banded, x: tuple, tmp: Path) -> dict[str, Callable[[], None]]:
    """`onnx`: one onnxruntime run of the exported full graph on the window `x` (the newest action read off);
    `onnx_incremental`: one run of the banded model's step graph, its caches carried from run to run (filled past
    the band first). onnxruntime on as many threads as torch. Empty without onnx / onnxruntime."""
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
        return {}
    from decision_transformer.checkpoint import LoadedRun, RunMeta
    from decision_transformer.deploy.export import export_onnx, step_graph_path
    from decision_transformer.deploy.session import load_session

    for name, model in (("full", ours), ("banded", banded)):
        if not (tmp / f"{name}.onnx").exists():  # exported once, for both batch sizes
            meta = RunMeta("dt", model.config.to_dict(), STATE_DIM, ACT_DIM, [0.0] * STATE_DIM, [1.0] * STATE_DIM, 1e3)
            export_onnx(LoadedRun(model, meta, tmp), tmp / f"{name}.onnx")
    full, meta = load_session(tmp / "full.onnx", threads=torch.get_num_threads())
    step, smeta = load_session(step_graph_path(tmp / "banded.onnx"), threads=torch.get_num_threads())
    feeds = {n: a.cpu().numpy() for n, a in zip(meta["inputs"], x)}
    B, c = x[0].shape[0], smeta["cache"]
    keys = np.zeros((c["layers"], B, c["heads"], c["slots"], c["head_dim"]), np.float32)
    state = {"keys": keys, "values": keys.copy(), "slot_step": np.full((B, c["slots"]), -1, np.int64),
             "step": np.zeros(B, np.int64)}
    inputs = {k: np.ascontiguousarray(feeds[n][:, i]) for k, n, i in (
        ("state", "states", -1), ("returns_to_go", "returns_to_go", -1), ("prev_action", "actions", -2),
        ("timestep", "timesteps", -1), ("prev_timestep", "timesteps", -2))}

    def onnx_act() -> None:
        full.run(None, feeds)[0][:, -1]

    def onnx_incremental_act() -> None:
        _, state["keys"], state["values"], state["slot_step"] = step.run(None, {**inputs, **state})
        state["step"] = state["step"] + 1

    for _ in range(30):  # past the band: full caches, the steady state of an episode
        onnx_incremental_act()
    return {"onnx": onnx_act, "onnx_incremental": onnx_incremental_act}


def _sequential_eval(model, env_id: str, target: float, num_episodes: int, seed: int, max_steps: int,
                     device: str = "cpu") -> list[float]:
    """The original code's evaluation: one env, one episode at a time, the full forward over the last K steps
    (no pruning) for every action. Same preprocessing and conventions as `evaluate` (identity stats here)."""
    import gymnasium as gym

    K = model.config.context_len
    returns = []
    env = gym.make(env_id, max_episode_steps=max_steps)
    for e in range(num_episodes):
        obs, _ = env.reset(seed=derive_seed(seed, "episode", e))
        states, actions, rtg, ts = [obs.astype(np.float32)], [np.zeros(ACT_DIM, np.float32)], [target / 1000.0], [0]
        total, done = 0.0, False
        while not done:
            n = min(len(states), K)
            s = torch.from_numpy(np.stack(states[-n:]))[None]
            a = torch.from_numpy(np.stack(actions[-n:]))[None]
            r = torch.tensor(rtg[-n:], dtype=torch.float32)[None, :, None]
            t = torch.tensor(ts[-n:])[None]
            with torch.no_grad():
                x = (z.to(device) for z in (s, a, r, t, torch.ones(1, n, dtype=torch.long)))
                act = model.forward_all(*x).action_preds[0, -1].cpu().numpy()
            act = np.clip(act, env.action_space.low, env.action_space.high)
            actions[-1] = act
            obs, reward, term, trunc, _ = env.step(act)
            total += float(reward)
            done = term or trunc
            states.append(obs.astype(np.float32))
            actions.append(np.zeros(ACT_DIM, np.float32))
            rtg.append(rtg[-1] - reward / 1000.0)
            ts.append(min(ts[-1] + 1, 999))
        returns.append(total)
    env.close()
    return returns


def bench_eval(cfg: SpeedConfig) -> dict:
    from decision_transformer.config import DTConfig
    from decision_transformer.data.preprocess import Preprocessing
    from decision_transformer.evaluate import RolloutPolicy, evaluate
    from decision_transformer.model import DecisionTransformer

    with runtime.seeded_torch(0):
        model = DecisionTransformer(DTConfig(), STATE_DIM, ACT_DIM).to(cfg.device).eval()
    prep = Preprocessing(np.zeros(STATE_DIM, np.float32), np.ones(STATE_DIM, np.float32), 1000.0)
    policy = RolloutPolicy(model, prep, False, ACT_DIM)
    t0 = time.perf_counter()
    res = evaluate(policy, cfg.eval_env, [3600.0], num_episodes=cfg.eval_episodes, num_envs=cfg.eval_episodes,
                   env_kwargs={"max_episode_steps": cfg.eval_max_steps}, progress=False)[0]
    batched_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    seq = _sequential_eval(model, cfg.eval_env, 3600.0, cfg.eval_episodes, 0, cfg.eval_max_steps, cfg.device)
    seq_s = time.perf_counter() - t0
    steps = int(sum(res.lengths))
    return {"env_id": cfg.eval_env, "episodes": cfg.eval_episodes, "env_steps": steps,
            "batched_s": batched_s, "sequential_s": seq_s,
            "batched_steps_per_s": steps / batched_s, "sequential_steps_per_s": steps / seq_s,
            "max_abs_return_difference": float(np.max(np.abs(np.asarray(res.returns) - np.asarray(seq))))}


_RSS_CHILD = """
import json, sys
import numpy as np
def status_mb(key):
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024
def rss_mb():
    return status_mb('VmRSS')
from decision_transformer.data.trajectories import TrajectoryDataset
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.data.sampler import WindowSampler
base = rss_mb()
d = TrajectoryDataset.load(sys.argv[1])
s = WindowSampler(d, Preprocessing.fit(d), 20, 1000)
s.sample(64, np.random.default_rng(0))
peak = status_mb('VmHWM')  # this process image's peak (ru_maxrss would keep the forking parent's, across exec)
raw = sum(getattr(d, k).nbytes for k in ('observations', 'actions', 'rewards', 'terminations', 'truncations', 'episode_starts'))
print(json.dumps({'base_rss_mb': base, 'peak_rss_mb': peak, 'raw_mb': raw / 2**20}))
"""


def bench_dataset_memory(cfg: SpeedConfig) -> dict:
    """Peak RSS of a fresh process that loads a `dataset_steps` .npz and builds its sampler, minus the process's
    RSS before loading, against the dataset's raw array bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _synthetic_dataset(cfg.dataset_steps).save(Path(tmp) / "big.npz")
        out = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(path)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["added_rss_mb"] = r["peak_rss_mb"] - r["base_rss_mb"]
    return r


def run_speed(cfg: SpeedConfig) -> dict:
    from decision_transformer import __version__
    from decision_transformer.common import atomic
    from decision_transformer.common.metrics import format_table
    from .common import git_commit

    t0 = time.perf_counter()
    train, act, ev = bench_train(cfg), bench_act(cfg), bench_eval(cfg)
    mem = bench_dataset_memory(cfg) if cfg.dataset_steps else None
    st = train["step_ms_median"]
    ratios = {"eval_vs_sequential": ev["batched_steps_per_s"] / ev["sequential_steps_per_s"]}
    if "hf_fp32" in st:
        ratios.update(train_vs_hf=st["hf_fp32"] / st[f"ours_{cfg.precision}"], train_fp32_vs_hf=st["hf_fp32"] / st["ours_fp32"],
                      act_b1_vs_hf=act["batch_1_ms_median"]["ours"] / act["batch_1_ms_median"]["hf"],
                      act_b50_vs_hf=act["batch_50_ms_median"]["ours"] / act["batch_50_ms_median"]["hf"],
                      act_b1_incremental_vs_hf=act["batch_1_ms_median"]["ours_incremental"] / act["batch_1_ms_median"]["hf"],
                      act_b50_incremental_vs_hf=act["batch_50_ms_median"]["ours_incremental"] / act["batch_50_ms_median"]["hf"])
        for k in ("onnx", "onnx_incremental"):
            if k in act["batch_1_ms_median"]:
                ratios[f"act_b1_{k}_vs_hf"] = act["batch_1_ms_median"][k] / act["batch_1_ms_median"]["hf"]
    if "d3rlpy" in st:
        ratios.update(train_vs_d3rlpy=st["d3rlpy"] / st[f"ours_{cfg.precision}"], train_fp32_vs_d3rlpy=st["d3rlpy"] / st["ours_fp32"])
    if mem:
        ratios["dataset_rss_vs_raw"] = mem["added_rss_mb"] / mem["raw_mb"]
    report = {
        "config": asdict(cfg), "version": __version__, "commit": git_commit(), "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "bf16_native": cpu_has_native_bf16(),
                    # what `auto` decided from
                    **({"bf16_probe_ms": cpu_bf16_probe()} if cpu_has_native_bf16() else {}), "torch": torch.__version__,
                    "device": cfg.device if cfg.device == "cpu" else torch.cuda.get_device_name(cfg.device),
                    "threads": torch.get_num_threads(), "platform": platform.platform(),
                    "load_average_at_start": os.getloadavg()[0]},
        "train": train, "act": act, "evaluation": ev, "dataset_memory": mem, "ratios": ratios,
        "wall_time_s": time.perf_counter() - t0,
    }
    rows = [[k, f"{v:.2f}"] for k, v in ratios.items()]
    rows += [[f"train step ms, {k}", f"{v:.1f}"] for k, v in st.items()]
    rows += [[f"act ms, batch {b}, {k}", f"{v:.2f}"] for b in (1, 50) for k, v in act[f"batch_{b}_ms_median"].items()]
    print(format_table(["measure", "value"], rows))
    print(f"wrote {atomic.write_json(cfg.out, report)}")
    return report


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()

