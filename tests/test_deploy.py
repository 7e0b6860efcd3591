"""Deployment (docs/deploy.md): `dt export` writes ONNX graphs whose outputs equal the PyTorch model's, and the
torch-free `OnnxPolicy` acts as evaluation's `DTAgent` does, step for step."""

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from decision_transformer import DTConfig, MLPBCConfig
from decision_transformer.checkpoint import RunMeta, load_run, save_checkpoint
from decision_transformer.config import model_kind
from decision_transformer.deploy import BatchedOnnxPolicy, DeployError, OnnxPolicy, load_session, read_metadata
from decision_transformer.deploy.export import export_onnx, sample_full, sample_step, step_graph_path
from decision_transformer.evaluate import DTAgent, RolloutPolicy
from decision_transformer.incremental import decode_step
from decision_transformer.model import build_model

SMALL = dict(embed_dim=32, n_layer=2, n_head=2, dropout=0.0)
MODELS = {  # name: (config, state_dim, act_dim)
    "continuous": (DTConfig(context_len=4, max_ep_len=12, **SMALL), 5, 3),
    "discrete": (DTConfig(context_len=4, max_ep_len=12, discrete_actions=True, **SMALL), 5, 4),
    "bc": (DTConfig(context_len=4, max_ep_len=12, condition_on_return=False, **SMALL), 5, 3),
    "pixel": (DTConfig(context_len=4, max_ep_len=12, discrete_actions=True, position_embedding=True, **SMALL),
              (4, 36, 36), 4),  # Atari-shaped frame stacks, small frames
    "pixel-tanh": (DTConfig(context_len=4, max_ep_len=12, discrete_actions=True, position_embedding=True,
                            embed_norm="tanh", **SMALL), (4, 36, 36), 4),  # the paper's Atari code's embeddings
    "banded": (DTConfig(context_len=4, max_ep_len=12, attention_window=3, **SMALL), 5, 3),
    "banded-bc-discrete": (DTConfig(context_len=4, max_ep_len=12, attention_window=2, condition_on_return=False,
                                    discrete_actions=True, **SMALL), 5, 4),
    "mlp-bc": (MLPBCConfig(context_len=3, max_ep_len=12, hidden_dim=32), 5, 3),
}
if {"return_head", "stochastic_policy"} <= set(DTConfig.__dataclass_fields__):  # tokens s, R, a; a tanh-Gaussian head
    MODELS["return-head-stochastic"] = (DTConfig(context_len=4, max_ep_len=12, return_head="expectile",
                                                 stochastic_policy=True, **SMALL), 5, 3)


def save_run(run_dir, cfg, S, A, env_id="", reward_clip=0.0, seed=0):
    """A random-initialised model (weights scaled up so that actions depend on the context) saved as a run."""
    torch.manual_seed(seed)
    kind = model_kind(cfg)
    model = build_model(kind, cfg, S, A)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3 if p.dim() > 1 else 1)
    pixels = not isinstance(S, int)
    rng = np.random.default_rng(seed)
    mean = [0.0] if pixels else rng.normal(0, 0.3, S).tolist()
    std = [255.0] if pixels else rng.uniform(0.5, 2.0, S).tolist()
    meta = RunMeta(model_kind=kind, model_config=cfg.to_dict(), state_dim=list(S) if pixels else S, act_dim=A,
                   state_mean=mean, state_std=std, reward_scale=10.0, reward_clip=reward_clip, env_id=env_id, step=7,
                   extra={"max_return": 42.0})
    save_checkpoint(run_dir, model, meta)
    return load_run(run_dir)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (LoadedRun, path of the exported .onnx), for every model of MODELS."""
    root = tmp_path_factory.mktemp("deploy")
    out = {}
    for name, (cfg, S, A) in MODELS.items():
        run = save_run(root / name, cfg, S, A, reward_clip=0.5 if name == "continuous" else 0.0)
        res = export_onnx(run, root / f"{name}.onnx")
        assert all(d < 1e-5 for d in res.max_abs_diff.values()), res.max_abs_diff
        out[name] = (run, root / f"{name}.onnx")
    return out


def _torch_forward(run, meta, args):
    x = dict(zip(meta["inputs"], args))
    with torch.inference_mode():
        if meta["model_kind"] == "mlp-bc":
            return run.model(x["states"], attention_mask=x["attention_mask"])
        return run.model(x["states"], x["actions"], x.get("returns_to_go"), x["timesteps"], x["attention_mask"])


@pytest.mark.parametrize("name", list(MODELS))
def test_full_graph_equals_the_pytorch_forward(exported, name):
    run, path = exported[name]
    session, meta = load_session(path)
    kind = run.meta.model_kind
    names = {"dt": ["states", "actions", "returns_to_go", "timesteps", "attention_mask"],
             "bc": ["states", "actions", "timesteps", "attention_mask"], "mlp-bc": ["states", "attention_mask"]}[kind]
    assert [i.name for i in session.get_inputs()] == meta["inputs"] == names  # bc: no returns input
    types = {i.name: i.type for i in session.get_inputs()}
    assert types["states"] == "tensor(float)" and types["attention_mask"] == "tensor(int64)"
    if "actions" in types:
        assert types["actions"] == ("tensor(int64)" if meta["discrete"] else "tensor(float)")
        assert types["timesteps"] == "tensor(int64)"
    assert [o.name for o in session.get_outputs()] == ["action_preds"]
    for B, K, seed in ((1, 4, 1), (3, 2, 2), (5, 4, 3), (2, 1, 4)):  # dynamic batch and K; row 0 left-padded
        args = sample_full(meta, B, K, seed=seed)
        for full in (False, True):  # padded, and all real (the model's no-padding shortcut)
            if full:
                args = tuple(torch.ones_like(a) if n == "attention_mask" else a for n, a in zip(meta["inputs"], args))
            ref = _torch_forward(run, meta, args)
            got = session.run(None, {n: a.numpy() for n, a in zip(meta["inputs"], args)})[0]
            assert got.shape == tuple(ref.shape) == (B, K, meta["act_dim"])
            np.testing.assert_allclose(got, ref.numpy(), atol=1e-5, rtol=0)
    # the run's preprocessing travels in the metadata
    m = run.meta
    assert meta["state_mean"] == pytest.approx(m.state_mean) and meta["state_std"] == pytest.approx(m.state_std)
    assert (meta["reward_scale"], meta["reward_clip"], meta["context_len"], meta["max_ep_len"], meta["act_dim"]) == (
        m.reward_scale, m.reward_clip, m.config().context_len, m.config().max_ep_len, m.act_dim)
    assert (meta["model_kind"], meta["discrete"], meta["max_return"], meta["step"]) == (kind, m.config().discrete_actions,
                                                                                       42.0, 7)
    assert meta["state_shape"] == ([m.state_dim] if isinstance(m.state_dim, int) else m.state_dim)
    assert (meta["step_graph"] is not None) == (name.startswith("banded"))


@pytest.mark.parametrize("name", ["banded", "banded-bc-discrete"])
def test_step_graph_equals_the_full_episode_forward(exported, name):
    """The step graph, its caches carried along a whole episode (past the band and past max_ep_len), gives the
    actions of one banded forward over the whole episode."""
    run, path = exported[name]
    session, meta = load_session(step_graph_path(path))
    assert meta["graph"] == "step" and [i.name for i in session.get_inputs()] == meta["inputs"]
    assert ("returns_to_go" in meta["inputs"]) == (run.meta.model_kind == "dt")
    n, A, c = 16, meta["act_dim"], meta["cache"]
    g = torch.Generator().manual_seed(0)
    states, rtg = torch.randn(1, n, 5, generator=g), torch.randn(1, n, 1, generator=g)
    actions = torch.randint(0, A, (1, n), generator=g) if meta["discrete"] else torch.randn(1, n, A, generator=g)
    timesteps = torch.arange(n).clamp(max=meta["max_ep_len"] - 1)[None]
    keys = np.zeros((c["layers"], 1, c["heads"], c["slots"], c["head_dim"]), np.float32)
    cache = {"keys": keys, "values": keys.copy(), "slot_step": np.full((1, c["slots"]), -1, np.int64)}
    outs = []
    for t in range(n):
        feed = {"state": states[:, t], "returns_to_go": rtg[:, t], "timestep": timesteps[:, t],
                "prev_action": actions[:, t - 1] if t else torch.zeros_like(actions[:, 0]),
                "prev_timestep": timesteps[:, t - 1] if t else timesteps[:, 0], "step": torch.tensor([t])}
        feed = {k: v.numpy() for k, v in feed.items() if k in meta["inputs"]}
        preds, cache["keys"], cache["values"], cache["slot_step"] = session.run(None, {**feed, **cache})
        outs.append(preds[0])
    with torch.inference_mode():
        full = run.model.forward_all(states, actions, rtg, timesteps, torch.ones(1, n, dtype=torch.long)).action_preds[0]
    np.testing.assert_allclose(np.stack(outs), full.numpy(), atol=1e-5, rtol=0)
    # and on random caches, at another batch size, against incremental.py's decode_step (the same code)
    args = sample_step(meta, 3, 5, seed=2)
    x = dict(zip(meta["inputs"], args))
    with torch.inference_mode():
        ref = decode_step(run.model, x["keys"], x["values"], x["slot_step"], x["step"], x["state"],
                          x.get("returns_to_go"), x["prev_action"], x["timestep"], x["prev_timestep"])
    got = session.run(None, {k: v.numpy() for k, v in x.items()})
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b.numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(MODELS))
def test_batched_policy_acts_as_dtagent(exported, name):
    """The same observations and rewards fed to DTAgent and BatchedOnnxPolicy, 2 envs, 20 steps (past K and past
    max_ep_len), env 0 starting a new episode midway and pausing later: the same actions (clipped continuous
    actions, argmax)."""
    run, path = exported[name]
    cfg, S, A = MODELS[name]
    shape = (S,) if isinstance(S, int) else S
    space = gym.spaces.Discrete(A) if cfg.discrete_actions else gym.spaces.Box(-0.5, 0.5, (A,), np.float32)
    agent = DTAgent(RolloutPolicy.from_run(run), 30.0, 2, shape, space)
    policy = BatchedOnnxPolicy(path, 2, **({} if cfg.discrete_actions else {"action_low": -0.5, "action_high": 0.5}))
    assert policy.incremental == name.startswith("banded")
    rng = np.random.default_rng(0)
    obs_of = (lambda: rng.integers(0, 256, (2, *shape), dtype=np.uint8)) if len(shape) == 3 else (
        lambda: rng.normal(0, 1, (2, *shape)).astype(np.float32))
    rows = np.arange(2)
    obs = obs_of()
    agent.begin(rows, obs, [{}, {}])
    policy.reset(30.0)
    for step in range(20):
        active = rows[1:] if step in (14, 15) else rows  # env 1 alone for two steps (as the runner's finished envs)
        if step:
            obs, rewards = obs_of()[active], rng.uniform(-1, 1, len(active))
            if step == 9:  # env 0: a new episode, at another target
                agent.target = 5.0
                agent.begin(rows[:1], obs[:1], [{}])
                agent.observe(rows[1:], obs[1:], rewards[1:])
                policy.reset(5.0, rows=[0])
            else:
                agent.observe(active, obs, rewards)
        else:
            rewards = None
        expected = agent.act(active, obs)
        got = policy.act(obs, rewards, rows=active if len(active) < 2 else None)
        if cfg.discrete_actions:
            assert got.dtype == np.int64 and (got == expected).all(), (step, got, expected)
        else:
            np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
            assert np.abs(got).max() <= 0.5


@pytest.mark.parametrize("banded", [False, True])
def test_a_hopper_episode_driven_by_onnx_policy_takes_dtagents_actions(tmp_path, dt, banded):
    """A whole Hopper-v5 episode (capped at 200 steps) driven by OnnxPolicy from `dt export`'s file, and one
    driven by DTAgent on the same model and seed: the same actions. The export records Hopper's action bounds;
    rewards (about 1 a step) are clipped to 0.8, and the episode outlasts max_ep_len."""
    cfg = DTConfig(context_len=5, max_ep_len=16, attention_window=3 if banded else 0, **SMALL)  # timesteps clip
    run = save_run(tmp_path / "run", cfg, 11, 3, env_id="Hopper-v5", reward_clip=0.8)
    res = dt("export", tmp_path / "run", "--onnx", tmp_path / "hopper.onnx")
    assert res.returncode == 0, res.stderr
    assert ("step.onnx" in res.stdout) == banded and "action bounds recorded" in res.stdout
    assert read_metadata(tmp_path / "hopper.onnx")["action_high"] == [1.0, 1.0, 1.0]
    assert read_metadata(tmp_path / "hopper.onnx")["format_version"] == 1  # unscaled: older runtimes still read it

    def episode(act_fn, begin_fn, observe_fn):
        env = gym.make("Hopper-v5", max_episode_steps=200)
        obs, _ = env.reset(seed=3)
        begin_fn(obs)
        actions, done = [], False
        while not done:
            a = act_fn(obs)
            actions.append(np.array(a))
            obs, reward, term, trunc, _ = env.step(a)
            done = term or trunc
            if not done:
                observe_fn(obs, reward)
        env.close()
        return np.stack(actions)

    env = gym.make("Hopper-v5")
    agent = DTAgent(RolloutPolicy.from_run(run), 30.0, 1, (11,), env.action_space)
    env.close()
    r = np.arange(1)
    expected = episode(lambda o: agent.act(r, o[None])[0], lambda o: agent.begin(r, o[None], [{}]),
                       lambda o, rew: agent.observe(r, o[None], np.array([rew])))
    policy = OnnxPolicy(tmp_path / "hopper.onnx")
    pending = {}
    got = episode(lambda o: policy.act(o, pending.pop("reward", None)), lambda o: policy.reset(30.0),
                  lambda o, rew: pending.update(reward=rew))
    assert len(expected) > cfg.max_ep_len and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_importing_deploy_does_not_import_torch():
    code = ("import sys, decision_transformer.deploy as d; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert d.OnnxPolicy")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_missing_onnxruntime_names_the_extra(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with pytest.raises(ImportError, match=r"decision-transformer\[deploy\]"):
        OnnxPolicy(exported["continuous"][1])


def test_policy_input_errors(exported, tmp_path):
    policy = OnnxPolicy(exported["continuous"][1])
    with pytest.raises(RuntimeError, match="reset"):
        policy.act(np.zeros(5))
    policy.reset()  # the recorded max_return
    with pytest.raises(ValueError, match=r"observation has shape \(4,\); expected \(5,\)"):  # the shape given
        policy.act(np.zeros(4))
    policy.act(np.zeros(5))
    with pytest.raises(ValueError, match="rewards"):
        policy.act(np.zeros(5))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(DeployError, match="bad.onnx"):
        OnnxPolicy(bad)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        OnnxPolicy(tmp_path / "missing.onnx")


def test_dt_export_bad_input_is_one_line(tmp_path, dt, exported):
    missing = tmp_path / "no_such_run"
    res = dt("export", missing, "--onnx", tmp_path / "m.onnx")
    assert res.returncode == 2 and res.stderr.startswith("dt export: error: ") and str(missing) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    run_dir = exported["continuous"][0].path
    res = dt("export", run_dir, "--onnx", tmp_path / "m.txt")
    assert res.returncode == 2 and res.stderr.startswith("dt export: error: ") and "m.txt" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty_run"
    empty.mkdir()
    res = dt("export", empty, "--onnx", tmp_path / "m.onnx")
    assert res.returncode == 2 and str(empty) in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists() and not list(tmp_path.glob(".m.onnx*"))


def test_metadata_is_json_in_metadata_props(exported):
    import onnx

    model = onnx.load(str(exported["banded"][1]))
    props = {p.key: p.value for p in model.metadata_props}
    meta = json.loads(props["decision_transformer"])
    assert meta["format"] == "decision-transformer-onnx" and meta["graph"] == "full"
    assert meta["step_graph"] == "banded.step.onnx" and meta["attention_window"] == 3


@pytest.mark.slow
def test_the_dynamo_exporter_gives_the_same_graphs(tmp_path):
    """`--exporter dynamo` (torch.export + onnxscript; about a minute for the two graphs of a banded model)."""
    pytest.importorskip("onnxscript")
    cfg, S, A = MODELS["banded"]
    run = save_run(tmp_path / "run", cfg, S, A)
    res = export_onnx(run, tmp_path / "m.onnx", exporter="dynamo")
    assert set(res.max_abs_diff) == {"full", "step"} and max(res.max_abs_diff.values()) < 1e-5
    assert res.metadata["exporter"] == "dynamo" and res.metadata["opset"] >= 18
    policy = BatchedOnnxPolicy(tmp_path / "m.onnx", 1)
    policy.reset(3.0)
    assert policy.incremental and policy.act(np.zeros((1, S), np.float32)).shape == (1, A)
