"""`dt bench graph|keytodoor --quick` through the real CLI, and the pieces the benchmarks are built on."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from decision_transformer.bench.episodic import EpisodeBatcher, EpisodicTrainConfig, train_episodic
from decision_transformer.config import DTConfig
from decision_transformer.envs.graph import pair_of_index
from decision_transformer.envs.keytodoor import random_dataset

DT = str(Path(sys.executable).parent / "dt")
HAS_D3RLPY = importlib.util.find_spec("d3rlpy") is not None


def run_cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run([DT, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_bench_keytodoor_quick_cli(tmp_path):
    args = ["bench", "keytodoor", "--quick", "--out", str(tmp_path), "--no-progress"]
    if not HAS_D3RLPY:
        args += ["--methods", "dt,dt_balanced,bc,pbc10,pbc25,pbc40,bc_success,random"]
    run_cli(*args)
    report = json.loads((tmp_path / "keytodoor.json").read_text())
    methods = {"dt", "dt_balanced", "bc", "pbc10", "pbc25", "pbc40", "bc_success", "random"} | ({"cql"} if HAS_D3RLPY else set())
    assert set(report["results"]) == methods
    for method, per in report["results"].items():
        assert set(per) == {"200", "500"}  # --quick data sizes
        for values in per.values():
            assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert report["partial"] is False and report["config"]["seeds"] == 2
    assert len(report["git_commit"]) >= 7 and report["wall_time_s"] > 0
    assert 0.0 <= report["critic"]["final_p_success_mean"]["failed, no key"] <= 1.0
    for png in ("critic_success_prob.png", "critic_attention.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "keytodoor.md").read_text()
    assert "| DT |" in table and "| Random |" in table and "| BC on successes |" in table
    assert "| DT, return-balanced sampling |" in table


def test_bench_keytodoor_learning_curves_on_other_seeds(tmp_path):
    run_cli("bench", "keytodoor", "--quick", "--out", str(tmp_path), "--no-progress", "--no-critic", "--seeds", "2",
            "--first-seed", "10", "--eval-every", "10", "--balanced-steps", "20", "--methods", "dt_balanced,random")
    report = json.loads((tmp_path / "keytodoor.json").read_text())
    assert report["config"]["first_seed"] == 10 and report["config"]["balanced_steps"] == 20
    curves = report["curves"]["dt_balanced"]
    assert set(curves) == {"200", "500"} and "random" not in report["curves"]
    for per_seed in curves.values():
        assert len(per_seed) == 2
        for curve in per_seed:
            assert [step for step, _ in curve] == [10, 20]
            assert all(0.0 <= v <= 1.0 for _, v in curve)
    assert all(len(h) == 0 for h in report["loss_history"]["dt_balanced"]["200"])  # 20 steps: no 100-step mean yet
    # the last curve point is the final model, evaluated on the same episodes
    assert [c[-1][1] for c in curves["500"]] == report["results"]["dt_balanced"]["500"]


def test_bench_keytodoor_resume_keeps_finished_blocks(tmp_path):
    """A killed run (simulated: its JSON cut back to the first block) resumes to the uninterrupted result."""
    args = ["bench", "keytodoor", "--quick", "--out", str(tmp_path), "--no-progress", "--no-critic", "--seeds", "1",
            "--methods", "dt,random"]
    run_cli(*args)
    path = tmp_path / "keytodoor.json"
    full = json.loads(path.read_text())
    assert full["completed"] == [[0, "200"], [0, "500"]] and full["partial"] is False
    cut = dict(full, partial=True, completed=[[0, "200"]])
    cut["results"] = {m: {"200": [0.123] if m == "dt" else per["200"], "500": []} for m, per in full["results"].items()}
    cut["run_seconds"] = {m: v[:1] for m, v in full["run_seconds"].items()}
    cut["loss_history"] = {m: {"200": per["200"]} for m, per in full["loss_history"].items()}
    path.write_text(json.dumps(cut))
    run_cli(*args, "--resume")
    resumed = json.loads(path.read_text())
    assert resumed["results"]["dt"]["200"] == [0.123]  # kept, not rerun
    assert resumed["results"]["dt"]["500"] == full["results"]["dt"]["500"]  # rerun, same value
    assert resumed["partial"] is False and resumed["completed"] == full["completed"]
    assert resumed["loss_history"] == full["loss_history"] and len(resumed["run_seconds"]["dt"]) == 2
    # a finished run, or other settings, are refused with the file and the field named
    proc = subprocess.run([DT, *args, "--resume"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "partial" in proc.stderr and "keytodoor.json" in proc.stderr
    path.write_text(json.dumps(cut))
    proc = subprocess.run([DT, *args[:-1], "dt", "--resume"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "config.methods" in proc.stderr


def test_bench_graph_quick_cli(tmp_path):
    run_cli("bench", "graph", "--quick", "--out", str(tmp_path), "--no-progress")
    report = json.loads((tmp_path / "graph.json").read_text())
    assert set(report["results"]) == {"dt", "bc", "random"}
    for per in report["results"].values():
        assert list(per) == ["random-walk"]
        assert len(per["random-walk"]) == 2 and all(0.0 <= v <= 1.0 for v in per["random-walk"])
    assert report["graph"]["pairs"] == 380
    assert (tmp_path / "graph_path_lengths.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_rejects_unknown_method(tmp_path):
    proc = subprocess.run([DT, "bench", "keytodoor", "--quick", "--methods", "dt,ppo", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "ppo" in proc.stderr


def test_pairs_cover_every_ordered_pair_once():
    pairs = {pair_of_index(i, 20) for i in range(380)}
    assert len(pairs) == 380 and all(s != g for s, g in pairs)


def test_episode_batcher_whole_episodes_left_padded():
    data = random_dataset(50, seed=3)
    batcher = EpisodeBatcher(data, context_len=28, max_ep_len=28)
    e = int(np.argmin(data.episode_lengths))  # a successful (short) episode if any, else any
    L = int(data.episode_lengths[e])
    mask = batcher.attention_mask[e]
    assert mask.sum() == L and mask[-L:].all() and not mask[:-L].any()
    assert torch.equal(batcher.timesteps[e, -L:], torch.arange(L))
    assert torch.equal(batcher.actions[e, -L:], torch.from_numpy(data.episode(e).actions))
    with pytest.raises(ValueError, match="context_len"):
        EpisodeBatcher(data, context_len=10, max_ep_len=28)


def test_whole_episode_prediction_equals_prefix_prediction():
    """The training convention of `train_episodic`: the output at step t of a whole left-padded episode is
    what evaluation computes with only the first t steps in the context."""
    data = random_dataset(20, seed=1)
    cfg = DTConfig(context_len=28, max_ep_len=28, embed_dim=32, n_layer=1, discrete_actions=True)
    model, _, _ = train_episodic("dt", cfg, data, EpisodicTrainConfig(steps=3, batch_size=4), progress=False)
    b = EpisodeBatcher(data, 28, 28)
    e, t = 0, 5
    full = model(b.states[:1], b.actions[:1], b.returns_to_go[:1], b.timesteps[:1], b.attention_mask[:1])
    L = int(b.attention_mask[e].sum())
    keep = torch.zeros(1, 28, dtype=torch.long)
    keep[0, 28 - (t + 1):] = 1
    shift = lambda x: torch.roll(x[:1], shifts=L - (t + 1), dims=1)  # noqa: E731  newest kept step last
    prefix = model(shift(b.states), shift(b.actions), shift(b.returns_to_go), shift(b.timesteps), keep)
    assert torch.allclose(full[0, 28 - L + t], prefix[0, -1], atol=1e-5)


@pytest.mark.skipif(not HAS_D3RLPY, reason="d3rlpy (the baselines extra) is not installed")
def test_discrete_cql_trains_and_acts():
    from decision_transformer.bench.cql import CQLConfig, train_discrete_cql

    data = random_dataset(100, seed=0)
    act = train_discrete_cql(data, CQLConfig(steps=20))
    a = act(data.observations[:7])
    assert a.shape == (7,) and a.dtype == np.int64 and ((a >= 0) & (a < 4)).all()


def test_return_balanced_sampling_draws_each_return_equally():
    data = random_dataset(2000, seed=0)  # ~3% successes
    succ = data.episode_returns > 0.5
    assert 0 < succ.mean() < 0.1
    b = EpisodeBatcher(data, 28, 28)
    rng = np.random.default_rng(0)
    uniform = b.sample_indices(20000, rng)
    balanced = b.sample_indices(20000, rng, return_balanced=True)
    assert abs(succ[uniform].mean() - succ.mean()) < 0.01
    assert abs(succ[balanced].mean() - 0.5) < 0.02
    # within a return, episodes are drawn uniformly: every episode shows up, successes ~ 10000 / n_success times
    counts = np.bincount(balanced, minlength=data.num_episodes)
    assert (counts[succ] > 0).all() and (counts[~succ] > 0).mean() > 0.9
    assert abs(counts[succ].mean() - 10000 / succ.sum()) < 0.05 * 10000 / succ.sum()
    rows = b.sample(8, rng, return_balanced=True)
    assert rows[0].shape == (8, 28, 8) and rows[5].shape == (8,)
