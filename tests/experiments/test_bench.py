"""`dt bench graph|keytodoor --quick` through the real CLI (in process), and the pieces the benchmarks are built on.

The quick runs are too small to learn the tasks, so their numbers are checked against what they must equal:
a reported success rate is the saved run's success when evaluated again on the same episodes, the random
baseline is the runner's random policy on the same seeds, a resumed run reproduces the uninterrupted one."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from decision_transformer.checkpoint import load_run
from decision_transformer.envs.graph import pair_of_index
from decision_transformer.envs.keytodoor import ENV_ID, NUM_ACTIONS, random_dataset
from decision_transformer.common.envs_util import make_env
from decision_transformer.evaluate import RolloutPolicy
from decision_transformer.runner import FunctionAgent, run_episodes

HAS_D3RLPY = importlib.util.find_spec("d3rlpy") is not None
QUICK_SEEDS = [100, 101]  # KeyToDoorBenchConfig.first_seed, --quick: 2 seeds


def bench(dt, *args):
    res = dt("bench", *args)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def kill_after(run_dir: Path, step: int) -> None:
    """What a kill leaves: checkpoints after `step` gone, `latest` naming step (which must have been kept)."""
    ckpts = run_dir / "checkpoints"
    assert (ckpts / f"step_{step:08d}").is_dir()
    for p in ckpts.glob("step_*"):
        if int(p.name.split("_")[1]) > step:
            shutil.rmtree(p)
    (ckpts / "latest").write_text(f"step_{step:08d}")


def test_bench_keytodoor_quick_cli(tmp_path, dt):
    from dt_experiments.keytodoor import _success

    runs = tmp_path / "runs"
    args = ["keytodoor", "--quick", "--out", tmp_path, "--runs-dir", runs, "--no-progress"]
    if not HAS_D3RLPY:
        args += ["--methods", "dt", "dt_balanced", "bc", "pbc10", "pbc25", "pbc40", "bc_success", "random"]
    bench(dt, *args)
    report = json.loads((tmp_path / "keytodoor.json").read_text())
    methods = {"dt", "dt_balanced", "bc", "pbc10", "pbc25", "pbc40", "bc_success", "random"} | ({"cql"} if HAS_D3RLPY else set())
    assert set(report["results"]) == methods
    assert report["seeds"] == QUICK_SEEDS and report["selection_seeds"] == [] and report["partial"] is False
    assert report["spread"] == "sample std (n-1) over seeds"
    for method, per in report["results"].items():
        assert set(per) == {"200", "500"} and all(len(v) == 2 for v in per.values())
        s = report["summary"][method]["500"]
        assert s["std"] == pytest.approx(np.std(per["500"], ddof=1))
    # every transformer's number is its saved run evaluated again on the same episodes
    for method in ("dt", "bc_success", "pbc10"):
        for i, seed in enumerate(QUICK_SEEDS):
            run = load_run(runs / f"seed{seed}" / "500" / method)
            expected = {"dt": 30, "bc_success": 20, "pbc10": 20}[method]  # QUICK steps per method
            assert run.meta.step == expected
            again = _success(RolloutPolicy.from_run(run), 20, 1_000_000 * (seed + 1))
            assert report["results"][method]["500"][i] == again
    # the random baseline is the runner's random policy on the same evaluation seeds
    for i, seed in enumerate(QUICK_SEEDS):
        rng = np.random.default_rng(1_000_000 * (seed + 1))
        eps = run_episodes(FunctionAgent(lambda o: rng.integers(0, NUM_ACTIONS, size=len(o))),
                           [lambda: make_env(ENV_ID)] * 20, 20, seed=1_000_000 * (seed + 1))
        assert report["results"]["random"]["200"][i] == float(np.mean(np.asarray(eps.returns) > 0.5))
    # loss histories come from the runs' metrics: [step, loss] every log_every (100) steps; 30 steps: the last one
    assert [row[0] for row in report["loss_history"]["dt"]["500"][0]] == [30]
    critic = report["critic"]
    assert len(critic["last_token_attention_on_key_step_per_layer"]) == 1
    for png in ("critic_success_prob.png", "critic_attention.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "keytodoor.md").read_text()
    assert "| DT |" in table and "| Random |" in table and "| BC on successes |" in table
    assert "| DT, return-balanced sampling |" in table and "sample std (n-1)" in table


def test_bench_keytodoor_learning_curves_and_selection_seeds(tmp_path, dt):
    runs = tmp_path / "runs"
    common = ["keytodoor", "--quick", "--out", tmp_path, "--runs-dir", runs, "--no-progress", "--no-critic",
              "--eval-every", "10", "--balanced-steps", "20", "--methods", "dt_balanced", "random"]
    res = dt("bench", *common, "--first-seed", "10", "--selection-seeds", "10", "11")
    assert res.returncode == 2 and "selection seeds" in res.stderr  # reporting on the seeds settings came from
    bench(dt, *common, "--first-seed", "10", "--selection-seeds", "10", "11", "--selection-run")
    report = json.loads((tmp_path / "keytodoor.json").read_text())
    assert report["seeds"] == [10, 11] and report["selection_run"] is True
    curves = report["curves"]["dt_balanced"]
    assert set(curves) == {"200", "500"} and "random" not in report["curves"]
    for per_seed in curves.values():
        assert [[step for step, _ in curve] for curve in per_seed] == [[10, 20], [10, 20]]
    # the last curve point is the final model's result
    assert [c[-1][1] for c in curves["500"]] == report["results"]["dt_balanced"]["500"]
    run = load_run(runs / "seed11" / "500" / "dt_balanced")
    assert run.meta.step == 20


def test_bench_keytodoor_resumes_after_a_kill(tmp_path, dt):
    """A killed run, simulated: its JSON cut back to the first block and one training run of the second block
    cut back to an earlier checkpoint. --resume keeps the first block and reproduces the uninterrupted result."""
    runs = tmp_path / "runs"
    args = ["keytodoor", "--quick", "--out", tmp_path, "--runs-dir", runs, "--no-progress", "--no-critic",
            "--seeds", "1", "--methods", "dt", "random"]
    bench(dt, *args)
    path = tmp_path / "keytodoor.json"
    full = json.loads(path.read_text())
    assert full["completed"] == [[100, "200"], [100, "500"]]
    cut = dict(full, partial=True, completed=[[100, "200"]])
    cut["results"] = {m: {"200": [0.123] if m == "dt" else per["200"], "500": []} for m, per in full["results"].items()}
    cut["run_seconds"] = {m: v[:1] for m, v in full["run_seconds"].items()}
    cut["loss_history"] = {m: {"200": per["200"]} for m, per in full["loss_history"].items()}
    path.write_text(json.dumps(cut))
    dt_run = runs / "seed100" / "500" / "dt"
    losses_before = [json.loads(line) for line in (dt_run / "metrics.jsonl").read_text().splitlines()]
    kill_after(dt_run, 20)
    bench(dt, *args, "--resume")
    resumed = json.loads(path.read_text())
    assert resumed["results"]["dt"]["200"] == [0.123]  # kept, not rerun
    assert resumed["results"]["dt"]["500"] == full["results"]["dt"]["500"]  # continued from step 20, same value
    assert resumed["partial"] is False and resumed["completed"] == full["completed"]
    assert resumed["loss_history"] == full["loss_history"]
    losses_after = [json.loads(line) for line in (dt_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["train/loss"] for r in losses_after] == [r["train/loss"] for r in losses_before]
    # a finished run, or other settings, are refused with the file and the field named
    res = dt("bench", *args, "--resume")
    assert res.returncode == 2 and "partial" in res.stderr and "keytodoor.json" in res.stderr
    path.write_text(json.dumps(cut))
    res = dt("bench", *args[:-1], "--resume")
    assert res.returncode == 2 and "config.methods" in res.stderr


def test_bench_graph_quick_cli_and_resume(tmp_path, dt):
    from dt_experiments.graph import _random_walk_lengths
    from decision_transformer.envs.graph import DEFAULT_HORIZON, RandomGraph

    runs = tmp_path / "runs"
    args = ["graph", "--quick", "--out", tmp_path, "--runs-dir", runs, "--no-progress"]
    bench(dt, *args)
    report = json.loads((tmp_path / "graph.json").read_text())
    assert set(report["results"]) == {"dt", "bc", "random"} and report["seeds"] == QUICK_SEEDS
    assert report["graph"]["pairs"] == 380 and (tmp_path / "graph_path_lengths.png").read_bytes()[:4] == b"\x89PNG"
    # the random walk's number is recomputed independently
    graph = RandomGraph()
    pairs = np.array([pair_of_index(i, 20) for i in range(380)])
    shortest = graph.distances[pairs[:, 0], pairs[:, 1]]
    for i, seed in enumerate(QUICK_SEEDS):
        lengths = _random_walk_lengths(graph, pairs[:, 0], pairs[:, 1], DEFAULT_HORIZON, seed=1_000_000 + seed)
        assert report["results"]["random"]["random-walk"][i] == float(np.mean(lengths == shortest))
    # killed in the middle of DT's second seed: --resume finishes it to the same result
    kill_after(runs / "seed101" / "dt", 20)
    bench(dt, *args, "--resume")
    again = json.loads((tmp_path / "graph.json").read_text())
    assert again["results"] == report["results"]


def test_bench_rejects_unknown_method(tmp_path, dt):
    res = dt("bench", "keytodoor", "--quick", "--methods", "dt", "ppo", "--out", tmp_path)
    assert res.returncode == 2 and "ppo" in res.stderr


def test_pairs_cover_every_ordered_pair_once():
    pairs = {pair_of_index(i, 20) for i in range(380)}
    assert len(pairs) == 380 and all(s != g for s, g in pairs)


def test_whole_episode_prediction_equals_prefix_prediction():
    """Why whole-episode training works (data/sampler.py): the output at step t of a whole left-padded episode
    is what evaluation computes with only the first t steps in the context."""
    import torch

    from decision_transformer.config import DTConfig
    from decision_transformer.data.preprocess import Preprocessing
    from decision_transformer.data.sampler import EpisodeSampler
    from decision_transformer.model import DecisionTransformer

    data = random_dataset(20, seed=1)
    torch.manual_seed(0)
    model = DecisionTransformer(DTConfig(context_len=28, max_ep_len=28, embed_dim=32, n_layer=2, discrete_actions=True),
                                8, 4).eval()
    b = EpisodeSampler(data, Preprocessing.fit(data), 28, 28).episodes(np.array([0]))
    full = model(b.states, b.actions, b.returns_to_go, b.timesteps, b.attention_mask)
    L = int(b.attention_mask[0].sum())
    for t in (0, 5, L - 1):
        keep = torch.zeros(1, 28, dtype=torch.long)
        keep[0, 28 - (t + 1):] = 1
        shift = lambda x: torch.roll(x, shifts=L - (t + 1), dims=1)  # noqa: E731  newest kept step last
        prefix = model(shift(b.states), shift(b.actions), shift(b.returns_to_go), shift(b.timesteps), keep)
        assert torch.allclose(full[0, 28 - L + t], prefix[0, -1], atol=1e-5)


@pytest.mark.skipif(not HAS_D3RLPY, reason="d3rlpy (the baselines extra) is not installed")
def test_discrete_cql_trains_and_acts():
    from dt_experiments.cql import CQLConfig, train_discrete_cql

    data = random_dataset(100, seed=0)
    act = train_discrete_cql(data, CQLConfig(steps=20))
    a = act(data.observations[:7])
    assert a.shape == (7,) and a.dtype == np.int64 and ((a >= 0) & (a < 4)).all()
