"""Action scaling (`TrainConfig.scale_actions`, `Preprocessing.action_scale_low` / `action_scale_high`): continuous actions
outside the tanh head's [-1, 1] mapped to it for the model and back for the env, in training batches, acting
(full and incremental), online fine-tuning's buffer and sampling agent, meta.json, the ONNX export and runtime;
refused for discrete actions and for Hugging Face exports."""

from __future__ import annotations

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import assert_one_error, edit_json, make_dataset

from decision_transformer import DTConfig
from decision_transformer.checkpoint import RunMeta, latest_checkpoint, load_run, save_checkpoint
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.evaluate import DTAgent, RolloutPolicy, evaluate
from decision_transformer.model import build_model
from decision_transformer.rundir import CheckpointError, read_meta
from decision_transformer.run_config import TrainConfig

TINY = ["--steps", "3", "--batch-size", "4", "--warmup-steps", "2", "--log-every", "1", "--context-len", "4",
        "--n-layer", "1", "--max-ep-len", "100", "--no-progress", "--embed-dim", "8"]
SMALL = dict(embed_dim=32, n_layer=2, n_head=2, dropout=0.0)
LOW, HIGH = [-3.0, -1.0, 0.5], [3.0, 2.0, 0.5]  # the last dimension has range 0


def _prep(low=LOW, high=HIGH, S=5):
    return Preprocessing(np.zeros(S, np.float32), np.ones(S, np.float32), 10.0, action_scale_low=low, action_scale_high=high)


# ------------------------------------------------------------------------------ Preprocessing
def test_scale_and_unscale_round_trip_with_a_zero_range_dimension():
    prep = _prep()
    a = np.array([[-3.0, -1.0, 0.5], [3.0, 2.0, 0.5], [0.0, 0.5, 0.5]], np.float32)
    x = prep.scale_actions(a)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[-1, -1, 0], [1, 1, 0], [0, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(prep.unscale_actions(x), a, atol=1e-6)
    np.testing.assert_allclose(prep.unscale_actions(np.array([0.7, -0.2, 0.9], np.float32))[2], 0.5)  # its value
    identity = Preprocessing(np.zeros(5), np.ones(5), 10.0)
    assert not identity.scales_actions and identity.meta_fields()["action_scale_low"] is None
    assert identity.scale_actions(a) is a and identity.unscale_actions(a) is a


def test_fit_takes_each_dimensions_min_and_max_and_refuses_discrete_actions():
    d = make_dataset(lengths=(5, 8), act_dim=2)
    d = dataclasses.replace(d, actions=d.actions * np.array([3.0, 0.5], np.float32))
    prep = Preprocessing.fit(d, scale_actions=True)
    np.testing.assert_array_equal(prep.action_scale_low, d.actions.min(0))
    np.testing.assert_array_equal(prep.action_scale_high, d.actions.max(0))
    assert Preprocessing.fit(d).action_scale_low is None  # the default: unscaled
    with pytest.raises(ValueError, match="discrete"):
        Preprocessing.fit(make_dataset(discrete=True), scale_actions=True)
    for low, high in (([1.0], None), ([1.0], [0.0]), ([np.nan], [1.0])):
        with pytest.raises(ValueError, match="action_scale_low"):
            Preprocessing(np.zeros(2), np.ones(2), 1.0, action_scale_low=low, action_scale_high=high)


# ------------------------------------------------------------------------------ dt train --scale-actions
@pytest.fixture(scope="module")
def scaled_run(tmp_path_factory):
    """A tiny run trained with --scale-actions on InvertedPendulum-shaped data whose actions span about [-3, 3]."""
    from conftest import run_dt

    root = tmp_path_factory.mktemp("scaled")
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0, env_id="InvertedPendulum-v5")
    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1), actions=d.actions * 3)
    data = d.save(root / "pend3.npz")
    res = run_dt("train", "--dataset", data, "--out", root / "run", "--scale-actions", *TINY)
    return res, root / "run", d


def test_a_scaled_run_is_not_warned_about_and_saves_its_bounds(scaled_run):
    res, run_dir, d = scaled_run
    assert res.returncode == 0, res.stderr
    assert "outside the [-1, 1]" not in res.stderr
    meta = json.loads((latest_checkpoint(run_dir) / "meta.json").read_text())
    assert meta["action_scale_low"] == [float(d.actions.min())] and meta["action_scale_high"] == [float(d.actions.max())]
    assert meta["action_scale_low"][0] < -1 and meta["action_scale_high"][0] > 1
    assert json.loads((run_dir / "train_config.json").read_text())["train"]["scale_actions"] is True


def test_a_scaled_runs_batches_are_in_the_unit_range(scaled_run):
    from decision_transformer.trainer import make_sampler

    _, run_dir, d = scaled_run
    run = load_run(run_dir)
    batch = make_sampler(TrainConfig(), run.meta.config(), d, run.preprocessing).sample(64, np.random.default_rng(0))
    real = batch.attention_mask.bool()
    assert batch.actions.abs().max() <= 1.0 + 1e-6 and batch.actions[real].abs().max() > 0.9


def test_a_scaled_run_acts_beyond_the_unit_range(scaled_run):
    _, run_dir, _ = scaled_run
    run = load_run(run_dir)
    with torch.no_grad():  # a saturated tanh head: model actions near +-1, env actions near +-3
        for p in run.model.predict_action.parameters():
            p.mul_(1e3)
    env = gym.make("InvertedPendulum-v5")
    policy = RolloutPolicy.from_run(run)
    agent = DTAgent(policy, 10.0, 4, (4,), env.action_space)
    rows = np.arange(4)
    obs = np.random.default_rng(0).normal(0, 1, (4, 4)).astype(np.float32)
    agent.begin(rows, obs, [{}] * 4)
    act = agent.act(rows, obs)
    assert np.abs(act).max() > 1.5 and np.abs(act).max() <= 3.0
    np.testing.assert_allclose(agent.actions[rows, -1], policy.prep.scale_actions(act))  # the context: scaled
    assert np.abs(agent.actions[rows, -1]).max() <= 1.0 + 1e-6
    env.close()
    res = evaluate(run, "InvertedPendulum-v5", [10.0], num_episodes=1, progress=False)  # end to end, in the env
    assert len(res[0].returns) == 1


def test_discrete_data_with_scale_actions_is_refused(tmp_path, dt):
    data = make_dataset(discrete=True).save(tmp_path / "disc.npz")
    assert_one_error(dt("train", "--dataset", data, "--out", tmp_path / "run", "--scale-actions", *TINY), "train",
                     "TrainConfig.scale_actions", "discrete")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------ meta.json
def _save(run_dir, cfg, S=5, A=3, low=LOW, high=HIGH, seed=0):
    """A random model (weights scaled up so that actions depend on the context) saved with action bounds."""
    torch.manual_seed(seed)
    model = build_model("dt", cfg, S, A)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3 if p.dim() > 1 else 1)
    rng = np.random.default_rng(seed)
    meta = RunMeta(model_kind="dt", model_config=cfg.to_dict(), state_dim=S, act_dim=A,
                   state_mean=rng.normal(0, 0.3, S).tolist(), state_std=rng.uniform(0.5, 2.0, S).tolist(),
                   reward_scale=10.0, step=3, action_scale_low=low, action_scale_high=high, extra={"max_return": 42.0})
    save_checkpoint(run_dir, model, meta)
    return load_run(run_dir)


def test_older_checkpoints_load_as_identity_and_bad_bounds_are_named(tmp_path):
    run = _save(tmp_path / "run", DTConfig(context_len=4, max_ep_len=12, **SMALL))
    assert run.preprocessing.action_scale_low.tolist() == LOW
    ckpt = run.path
    edit_json(ckpt / "meta.json", lambda m: (m.pop("action_scale_low"), m.pop("action_scale_high")))  # as older runs wrote it
    assert not load_run(tmp_path / "run").preprocessing.scales_actions
    unscaled = _save(tmp_path / "plain", DTConfig(context_len=4, max_ep_len=12, **SMALL), low=None, high=None)
    assert "action_scale_low" not in json.loads((unscaled.path / "meta.json").read_text())  # older versions read it
    for field, value, expected in (("action_scale_low", "x", "expected null or a list of act_dim=3"),
                                   ("action_scale_high", [1.0, 2.0], "expected null or a list of act_dim=3"),
                                   ("action_scale_low", [0.0, 0.0, float("nan")], "finite"),
                                   ("action_scale_low", [4.0, 0.0, 0.0], "<= action_scale_high"),
                                   ("action_scale_high", None, "null but the other is set")):
        def change(m, field=field, value=value):
            m.update(action_scale_low=LOW, action_scale_high=HIGH)
            m[field] = value
        edit_json(ckpt / "meta.json", change)
        with pytest.raises(CheckpointError, match=rf"meta.json: field '{field}'"):
            read_meta(ckpt)
        with pytest.raises(CheckpointError, match=expected):
            read_meta(ckpt)


# ------------------------------------------------------------------------------ ONNX
@pytest.mark.parametrize("banded", [False, True])
def test_onnx_policy_of_a_scaled_run_acts_as_dtagent(tmp_path, banded):
    pytest.importorskip("onnxruntime")
    from decision_transformer.deploy import BatchedOnnxPolicy, read_metadata
    from decision_transformer.deploy.export import export_onnx

    run = _save(tmp_path / "run", DTConfig(context_len=4, max_ep_len=12, attention_window=3 if banded else 0, **SMALL))
    res = export_onnx(run, tmp_path / "p.onnx")
    meta = read_metadata(tmp_path / "p.onnx")
    assert meta["action_scale_low"] == LOW and meta["action_scale_high"] == HIGH
    assert meta["format_version"] == 2  # a runtime that cannot unscale refuses it (an unscaled export stays 1)
    space = gym.spaces.Box(-2.5, 2.5, (3,), np.float32)
    agent = DTAgent(RolloutPolicy.from_run(run), 30.0, 2, (5,), space)
    policy = BatchedOnnxPolicy(res.paths[0], 2, action_low=-2.5, action_high=2.5)
    assert policy.incremental == banded
    rng = np.random.default_rng(0)
    rows = np.arange(2)
    obs = rng.normal(0, 1, (2, 5)).astype(np.float32)
    agent.begin(rows, obs, [{}, {}])
    policy.reset(30.0)
    seen = []
    for step in range(16):  # past K and past max_ep_len
        rewards = None
        if step:
            obs, rewards = rng.normal(0, 1, (2, 5)).astype(np.float32), rng.uniform(-1, 1, 2)
            agent.observe(rows, obs, rewards)
        expected = agent.act(rows, obs)
        got = policy.act(obs, rewards)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
        seen.append(got)
    seen = np.stack(seen)
    assert np.abs(seen).max() > 1.0 and (seen[..., 2] == 0.5).all()  # beyond +-1; the zero-range dimension's value


def test_onnx_metadata_with_bad_scale_bounds_is_refused():
    from decision_transformer.deploy.metadata import DeployError, check

    base = {"format_version": 1, "graph": "full", "model_kind": "dt",
            "inputs": ["states", "actions", "returns_to_go", "timesteps", "attention_mask"],
            "outputs": ["action_preds"], "state_shape": [5], "act_dim": 3, "discrete": False, "state_mean": [0.0] * 5,
            "state_std": [1.0] * 5, "reward_scale": 10.0, "reward_clip": 0.0, "context_len": 4, "max_ep_len": 12,
            "attention_window": 0}
    check({**base, "action_scale_low": LOW, "action_scale_high": HIGH}, "f.onnx")
    check(base, "f.onnx")  # older files: no scaling
    for change, field in (({"action_scale_low": [0.0], "action_scale_high": HIGH}, "action_scale_low"),
                          ({"action_scale_low": LOW}, "action_scale_high"),
                          ({"action_scale_low": [4.0, 0.0, 0.5], "action_scale_high": HIGH}, "action_scale_low")):
        with pytest.raises(DeployError, match=f"f.onnx: metadata field '{field}'"):
            check({**base, **change}, "f.onnx")


# ------------------------------------------------------------------------------ Hugging Face, online
def test_hf_export_of_a_scaled_run_is_refused(tmp_path, dt):
    _save(tmp_path / "run", DTConfig(context_len=4, max_ep_len=12, **SMALL))
    assert_one_error(dt("hf", "export", tmp_path / "run", "--out", tmp_path / "hf"), "hf", "meta.json",
                     "action_scale_low", "--scale-actions")
    assert not (tmp_path / "hf" / "config.json").exists()


def test_online_buffer_batches_are_scaled_and_sampled_actions_unscaled():
    from decision_transformer.data.replay import ReplayBuffer
    from decision_transformer.online import SamplingAgent

    d = make_dataset(lengths=(6, 9), obs_dim=2, act_dim=1)
    d = dataclasses.replace(d, actions=d.actions * 3)
    prep = Preprocessing.fit(d, scale_actions=True)
    batch = ReplayBuffer.seeded(10, prep, 4, 20, d).sample(32, np.random.default_rng(0))
    assert batch.actions.abs().max() <= 1.0 + 1e-6 and batch.actions.abs().max() > 0.9
    torch.manual_seed(0)
    model = build_model("dt", DTConfig(context_len=4, max_ep_len=20, stochastic_policy=True, **SMALL), 2, 1).eval()
    policy = RolloutPolicy(model=model, prep=prep, discrete=False, act_dim=1)
    agent = SamplingAgent(policy, 10.0, 8, (2,), gym.spaces.Box(-3, 3, (1,), np.float32), seed=0)
    rows = np.arange(8)
    obs = np.random.default_rng(1).normal(0, 1, (8, 2)).astype(np.float32)
    agent.begin(rows, obs, [{}] * 8)
    act = agent.act(rows, obs)
    np.testing.assert_allclose(agent.actions[rows, -1], prep.scale_actions(act), atol=1e-6)
    np.testing.assert_allclose(prep.unscale_actions(agent.actions[rows, -1]), act, atol=1e-5)
    assert np.abs(act).max() <= 3.0
