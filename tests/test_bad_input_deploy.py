"""Bad input to the deploy runtime (deploy/policy.py, deploy/session.py, deploy/metadata.py) and to `dt export`'s
file name: non-finite or non-numeric observations and rewards, metadata of the wrong type or out of range, a step
graph that is not the full graph's, loosely typed arguments, and the timesteps the runtime feeds. Each case: one
error line naming the file or the argument, the field and what was expected; a refused `act` leaves the envs as they
were."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from conftest import assert_one_error
from decision_transformer import DTConfig
from decision_transformer.checkpoint import RunMeta, load_run, save_checkpoint
from decision_transformer.config import model_kind
from decision_transformer.deploy import BatchedOnnxPolicy, DeployError, OnnxPolicy
from decision_transformer.deploy.export import export_onnx, step_graph_path
from decision_transformer.model import build_model

onnx = pytest.importorskip("onnx")

SMALL = dict(embed_dim=16, n_layer=1, n_head=1, dropout=0.0)
MODELS = {  # name: (config, state_dim, act_dim)
    "dt": (DTConfig(context_len=4, max_ep_len=12, **SMALL), 3, 2),
    "banded": (DTConfig(context_len=4, max_ep_len=12, attention_window=2, **SMALL), 3, 2),
    "banded2": (DTConfig(context_len=4, max_ep_len=12, attention_window=2, **SMALL), 3, 1),  # another act_dim
    "discrete": (DTConfig(context_len=4, max_ep_len=12, discrete_actions=True, **SMALL), 3, 4),
}
O = np.zeros(3, np.float32)


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    """name -> the exported .onnx of a random-initialised tiny model of MODELS (and the run directories)."""
    root = tmp_path_factory.mktemp("bad_deploy")
    out = {}
    for name, (cfg, S, A) in MODELS.items():
        torch.manual_seed(0)
        kind = model_kind(cfg)
        meta = RunMeta(model_kind=kind, model_config=cfg.to_dict(), state_dim=S, act_dim=A, state_mean=[0.1] * S,
                       state_std=[2.0] * S, reward_scale=10.0, reward_clip=0.0, step=3, extra={"max_return": 5.0})
        save_checkpoint(root / name, build_model(kind, cfg, S, A), meta)
        export_onnx(load_run(root / name), root / f"{name}.onnx",
                    action_bounds=None if cfg.discrete_actions else ([-1.0] * A, [1.0] * A))
        out[name] = root / f"{name}.onnx"
    out["root"] = root
    return out


def tamper(src, dst, **changes):
    """A copy of `src` whose metadata has `changes` (a value of `...` deletes the field)."""
    model = onnx.load(str(src))
    for p in model.metadata_props:
        if p.key == "decision_transformer":
            meta = json.loads(p.value)
            meta.update(changes)
            p.value = json.dumps({k: v for k, v in meta.items() if v is not ...})
    onnx.save(model, str(dst))
    return dst


def one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text, text
    return text


# ------------------------------------------------------------------------------ 1: non-finite, non-numeric input
@pytest.mark.parametrize("name", ["dt", "banded"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_observations_are_refused_and_leave_the_env_as_it_was(ex, name, bad):
    policy, clean = OnnxPolicy(ex[name]), OnnxPolicy(ex[name])
    policy.reset(10.0)
    with pytest.raises(ValueError) as err:  # the first step of an episode
        policy.act(np.array([0.0, bad, 1.0]))
    assert one_line(err) == ("observations for env(s) [0] hold non-finite values, or values outside float32's range "
                             "once normalised (state shape (3,))")
    clean.reset(10.0)
    np.testing.assert_array_equal(policy.act(O), clean.act(O))
    with pytest.raises(ValueError, match=r"observations for env\(s\) \[0\] hold non-finite"):  # a later step
        policy.act(np.full(3, bad), 1.0)
    for _ in range(3):
        np.testing.assert_array_equal(policy.act(O + 1, 1.0), clean.act(O + 1, 1.0))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_rewards_are_refused(ex, bad):
    policy = OnnxPolicy(ex["dt"])
    policy.reset(10.0)
    policy.act(O)
    with pytest.raises(ValueError) as err:
        policy.act(O, bad)
    assert one_line(err) == (f"rewards for env(s) [0] hold non-finite values, or values that take the return-to-go "
                             f"outside float32's range [{bad}]")
    batched = BatchedOnnxPolicy(ex["dt"], 3)
    batched.reset(10.0)
    batched.act(np.zeros((3, 3)))
    batched.reset(4.0, rows=[0])
    batched.act(np.zeros((3, 3)), [bad, 1.0, 1.0])  # env 0 just started: its reward is ignored
    with pytest.raises(ValueError, match=r"rewards for env\(s\) \[2\] hold non-finite"):
        batched.act(np.zeros((2, 3)), [1.0, bad], rows=[0, 2])


@pytest.mark.parametrize("name", ["dt", "banded"])
def test_finite_values_too_large_for_float32_are_refused_not_turned_into_nan_actions(ex, name):
    """1e300 is a finite float64 but inf in the float32 the model reads: refused like inf, with no numpy overflow
    warning, and the env's state is left as it was (its later actions are a clean policy's)."""
    policy, clean = OnnxPolicy(ex[name]), OnnxPolicy(ex[name])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast"
        with pytest.raises(ValueError, match=r"target returns \[1e\+300\] must be finite numbers within float32"):
            policy.reset(1e300)
        policy.reset(10.0)
        with pytest.raises(ValueError, match=r"observations for env\(s\) \[0\] hold .*outside float32's range"):
            policy.act(np.full(3, 1e300))
        clean.reset(10.0)
        np.testing.assert_array_equal(policy.act(O), clean.act(O))
        with pytest.raises(ValueError, match=r"rewards for env\(s\) \[0\] .*return-to-go outside float32's range"):
            policy.act(O, 1e308)
        for _ in range(3):
            a = policy.act(O + 1, 1.0)
            assert np.isfinite(a).all()
            np.testing.assert_array_equal(a, clean.act(O + 1, 1.0))


@pytest.mark.parametrize("obs, dtype", [(np.array(["a", "b", "c"]), "<U1"), (np.array([None] * 3), "object"),
                                        (np.zeros(3, complex), "complex128"), ([[1.0], [2.0, 3.0]], "ragged")])
def test_non_numeric_observations_are_refused(ex, obs, dtype):
    policy = OnnxPolicy(ex["dt"])
    policy.reset(10.0)
    with pytest.raises(ValueError) as err:
        policy.act(obs)
    assert one_line(err).startswith(f"observation: {dtype}" if dtype == "ragged" else f"observation: dtype {dtype}")
    assert "expected numbers, shape (3,)" in str(err.value)
    batched = BatchedOnnxPolicy(ex["dt"], 1)
    batched.reset(1.0)
    with pytest.raises(ValueError, match="observations: .*expected numbers"):
        batched.act(np.array([obs], dtype=object) if dtype == "ragged" else np.asarray(obs)[None])
    policy.act(O)
    with pytest.raises(ValueError, match=r"reward: dtype <U1; expected numbers, one number"):
        policy.act(O, "x")


# ------------------------------------------------------------------------------ 2: metadata types and ranges
NAN = float("nan")
TAMPERED = [  # (changes, the field named, a part of what was expected)
    (dict(graph="bogus"), "'graph'", "'full' or 'step'"),
    (dict(model_kind="xyz"), "'model_kind'", "['dt', 'bc', 'mlp-bc']"),
    (dict(inputs=["states", "foo"]), "'inputs'", "(a full graph of a 'dt' model)"),
    (dict(outputs=["y"]), "'outputs'", "['action_preds']"),
    (dict(format_version="1"), "'format_version'", "an int >= 1 (this runtime reads up to 2)"),
    (dict(format_version=0), "'format_version'", "an int >= 1 (this runtime reads up to 2)"),
    (dict(format_version=3), "format_version 3", "newer than this runtime reads (2)"),
    (dict(state_shape="3"), "'state_shape'", "[S] or [C, H, W], positive ints"),
    (dict(state_shape=[-3]), "'state_shape'", "[S] or [C, H, W], positive ints"),
    (dict(act_dim=0), "'act_dim'", "an int >= 1"),
    (dict(act_dim="2"), "'act_dim'", "an int >= 1"),
    (dict(discrete="false"), "'discrete'", "true or false"),
    (dict(state_mean=[0.0, 0.0]), "'state_mean'", "a list of 3 finite numbers"),
    (dict(state_mean=["a", "b", "c"]), "'state_mean'", "a list of 3 finite numbers"),
    (dict(state_std=[1.0, 0.0, 1.0]), "'state_std'", "numbers > 0"),
    (dict(state_std=None), "'state_std'", "a list of 3 finite numbers"),
    (dict(state_std=[NAN]), "'state_std'", "a list of 3 finite numbers"),
    (dict(reward_scale=0), "'reward_scale'", "a finite number > 0"),
    (dict(reward_scale="x"), "'reward_scale'", "a finite number > 0"),
    (dict(reward_clip=-1), "'reward_clip'", "0 or a finite number > 0"),
    (dict(context_len=0), "'context_len'", "an int >= 1"),
    (dict(max_ep_len=0), "'max_ep_len'", "an int >= 1"),
    (dict(max_ep_len=12.0), "'max_ep_len'", "an int >= 1"),
    (dict(attention_window="2"), "'attention_window'", "an int >= 0"),
    (dict(action_low=[0.0]), "'action_low'", "null or a list of act_dim=2 numbers"),
    (dict(action_low=[1.0, 1.0], action_high=[0.0, 2.0]), "'action_low'", "bounds <= action_high"),
    (dict(max_return=NAN), "'max_return'", "null or a finite number"),
    (dict(step_graph="../../etc/x.step.onnx"), "'step_graph'", "a file name FILE.step.onnx in the same directory"),
    (dict(step_graph="dt.step.onnx"), "'step_graph'", "only banded models"),
    (dict(reward_scale=...), "lacks field(s) ['reward_scale']", ""),
]


@pytest.mark.parametrize("changes, field, expected", TAMPERED, ids=[str(c)[:40] for c, _, _ in TAMPERED])
def test_metadata_of_the_wrong_type_or_range_is_refused(ex, tmp_path, changes, field, expected):
    path = tamper(ex["dt"], tmp_path / "t.onnx", **changes)
    with pytest.raises(DeployError) as err:
        OnnxPolicy(path)
    text = one_line(err)
    assert text.startswith(f"{path}: ") and field in text and expected in text, text


def test_a_step_graph_without_its_cache_is_refused(ex, tmp_path):
    path = tamper(step_graph_path(ex["banded"]), tmp_path / "s.step.onnx", cache=...)
    with pytest.raises(DeployError, match=r"s\.step\.onnx: metadata field 'cache' is null; expected .*step graph"):
        OnnxPolicy(path)


@pytest.mark.parametrize("changes, named", [
    (dict(discrete=True), "graph input 'actions' is tensor(float) ['batch', 'context', 2]; the metadata"),
    (dict(state_shape=[4], state_mean=[0.0], state_std=[1.0]), "graph input 'states' is tensor(float)"),
    (dict(act_dim=3, action_low=None, action_high=None), "graph input 'actions' is tensor(float)"),
])
def test_metadata_that_does_not_match_the_graph_is_refused(ex, tmp_path, changes, named):
    path = tamper(ex["dt"], tmp_path / "t.onnx", **changes)
    with pytest.raises(DeployError) as err:
        OnnxPolicy(path)
    assert one_line(err).startswith(f"{path}: {named}") and "implies" in str(err.value)


def test_a_stale_step_graph_is_refused(ex, tmp_path):
    """The full graph's step_graph must name the step graph written with it: not a full graph (as
    `dt export RUN --onnx FILE.step.onnx` used to leave) nor another export's step graph."""
    full = shutil.copy(ex["banded"], tmp_path / "banded.onnx")
    stale = tmp_path / "banded.step.onnx"
    shutil.copy(ex["dt"], stale)  # a full graph where the step graph should be
    with pytest.raises(DeployError) as err:
        OnnxPolicy(full)
    assert one_line(err).startswith(f"{stale}: metadata field 'graph' is 'full'; expected "
                                    f"'step' ({full}'s step_graph names this file)")
    assert "dt export RUN --onnx" in str(err.value)
    shutil.copy(step_graph_path(ex["banded2"]), stale)  # another model's step graph
    with pytest.raises(DeployError) as err:
        OnnxPolicy(full)
    assert one_line(err).startswith(f"{stale}: metadata field 'act_dim' is 1; expected 2 as "
                                    f"in {full}")
    OnnxPolicy(full, incremental=False)  # the full graph alone is fine
    shutil.copy(step_graph_path(ex["banded"]), stale)
    assert OnnxPolicy(full).batched.incremental


def test_exporting_to_a_step_graph_name_is_refused(ex, dt, tmp_path):
    res = dt("export", ex["root"] / "banded", "--onnx", tmp_path / "band.step.onnx")
    line = assert_one_error(res, "export", "band.step.onnx", "must not end in .step.onnx", "--onnx band.onnx")
    assert "FILE.step.onnx" in line and not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"band\.step\.onnx: a name ending in \.step\.onnx .*export to band\.onnx"):
        export_onnx(load_run(ex["root"] / "banded"), tmp_path / "band.step.onnx")
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------ 9: the policy's arguments
@pytest.mark.parametrize("kwargs, message", [
    (dict(num_envs=2.5), "num_envs=2.5: expected an int >= 1"),
    (dict(num_envs="2"), "num_envs='2': expected an int >= 1"),
    (dict(num_envs=True), "num_envs=True: expected an int >= 1"),
    (dict(num_envs=0), "num_envs=0: expected an int >= 1"),
    (dict(temperature="1"), "temperature='1': expected a finite number >= 0"),
    (dict(temperature=-1.0), "temperature=-1.0: expected a finite number >= 0"),
    (dict(threads=1.5), "threads=1.5: expected an int >= 0"),
    (dict(incremental="yes"), "incremental='yes': expected None, True or False"),
    (dict(providers="CPUExecutionProvider"), "providers='CPUExecutionProvider': expected a list of onnxruntime "
                                             "provider names"),
    (dict(temperature=1.0), "temperature=1.0: "),  # continuous actions: the mean is taken
    (dict(action_low=[0.0, 0.0, 0.0]), "action_low [0.0, 0.0, 0.0] has shape (3,); expected one number or 2 (act_dim)"),
    (dict(action_high="a"), "action_high: dtype <U1; expected numbers"),
    (dict(action_low=[np.nan, 0.0]), "none NaN"),
    (dict(action_low=[0.5, 2.0], action_high=1.0), "action_low [0.5, 2.0] > action_high 1.0 at action dim(s) [1]; "
                                                   "expected low <= high"),
    (dict(action_low=[0.5, 2.0]), "action_low [0.5, 2.0] > action_high [1.0, 1.0] at action dim(s) [1]"),  # metadata's
])
def test_policy_arguments_are_checked(ex, kwargs, message):
    with pytest.raises(ValueError) as err:
        BatchedOnnxPolicy(ex["dt"], **kwargs)
    assert message in one_line(err), str(err.value)


def test_the_single_env_policy_names_the_observation_shape_it_was_given(ex):
    policy = OnnxPolicy(ex["dt"])
    policy.reset(10.0)
    for bad in (np.zeros(2), np.zeros((1, 3))):
        with pytest.raises(ValueError) as err:
            policy.act(bad)
        assert one_line(err) == f"observation has shape {bad.shape}; expected (3,)"
    assert policy.act(np.zeros(3)).shape == (2,)


def test_temperature_applies_to_discrete_actions_only(ex):
    with pytest.raises(ValueError, match=r"temperature=1.0: .*dt\.onnx has continuous actions"):
        BatchedOnnxPolicy(ex["dt"], temperature=1.0)
    BatchedOnnxPolicy(ex["discrete"], temperature=1.0)


def test_bounds_for_discrete_actions_are_refused(ex):
    with pytest.raises(ValueError, match=r"action_low / action_high: .*discrete\.onnx has discrete actions"):
        BatchedOnnxPolicy(ex["discrete"], action_low=0.0)


def test_rows_targets_and_rewards_are_checked(ex):
    policy = BatchedOnnxPolicy(ex["dt"], 2)
    for rows, shown in (([0.5, 1.7], "[0.5, 1.7] (float64, shape (2,))"), ([True, False], "[True, False] (bool"),
                        ([[0], [1]], "[[0], [1]] (int64, shape (2, 1))"), (["0"], "['0'] (<U1")):
        with pytest.raises(ValueError) as err:
            policy.reset(1.0, rows=rows)
        assert one_line(err).startswith(f"rows {shown}") and "expected distinct env indices (ints) in [0, 2)" in str(
            err.value)
    with pytest.raises(ValueError, match=r"rows \[1, 1\]: expected distinct env indices"):
        policy.reset(1.0, rows=[1, 1])
    with pytest.raises(ValueError) as err:
        policy.reset([1.0, 2.0, 3.0])
    assert one_line(err) == "target returns have shape (3,); expected one number or (2,): one per row of rows [0, 1]"
    with pytest.raises(ValueError, match=r"target returns: dtype <U3; expected numbers"):
        policy.reset("abc")
    policy.reset([1.0, 2.0], rows=np.array([1, 0], np.uint8))
    policy.act(np.zeros((2, 3)))
    for rewards, shape in (([1.0, 2.0, 3.0], "(3,)"), ([1.0], "(1,)"), ([[1.0, 2.0]], "(1, 2)")):
        with pytest.raises(ValueError) as err:
            policy.act(np.zeros((2, 3)), rewards)
        assert one_line(err) == (f"rewards have shape {shape}; expected (2,): one per row of rows [0, 1] (or one "
                                 "number for all)")
    assert policy.act(np.zeros((0, 3)), [], rows=[]).shape == (0, 2)  # no rows: nothing to do
    single = OnnxPolicy(ex["dt"])
    single.reset()
    single.act(O)
    with pytest.raises(ValueError) as err:
        single.act(O, [1.0, 2.0])
    assert one_line(err) == "reward has shape (2,); expected one number (the reward of the previous action)"
    with pytest.raises(ValueError, match=r"target returns have shape \(2,\); expected one number or \(1,\)"):
        single.reset([1.0, 2.0])


# ------------------------------------------------------------------------------ 10: the timesteps fed
class Recorder:
    """An onnxruntime session that records the feeds it runs on."""

    def __init__(self, session):
        self.session, self.feeds = session, []

    def run(self, outputs, feeds):
        self.feeds.append({k: v.copy() for k, v in feeds.items()})
        return self.session.run(outputs, feeds)


@pytest.mark.parametrize("name", ["dt", "banded", "discrete"])
def test_the_runtime_feeds_timesteps_in_range(ex, name):
    """Timesteps from 0, clipped to max_ep_len - 1 (the embedding table's last row, as DTAgent clips them): the
    graph never sees a negative timestep or one >= max_ep_len (onnxruntime would read the table from its end, or
    fail), however long the episode."""
    policy = BatchedOnnxPolicy(ex[name], 2)
    attr = "step" if policy.incremental else "full"
    rec = Recorder(getattr(policy, attr))
    setattr(policy, attr, rec)
    T = policy.max_ep_len
    policy.reset(5.0)
    policy.act(np.zeros((2, 3)))
    for t in range(1, T + 6):
        if t == 7:
            policy.reset(5.0, rows=[1])
        policy.act(np.ones((2, 3)), [0.5, 0.5])
    keys = ("timestep", "prev_timestep") if policy.incremental else ("timesteps",)
    fed = np.concatenate([f[k].ravel() for f in rec.feeds for k in keys])
    assert fed.min() == 0 and fed.max() == T - 1
    last = rec.feeds[-1]
    if policy.incremental:
        assert last["timestep"].tolist() == [T - 1, T + 5 - 7] and last["step"].tolist() == [T + 5, T + 5 - 7]
    else:
        assert last["timesteps"][0].tolist() == [T - 1] * policy.K and last["attention_mask"].min() == 1


@pytest.mark.parametrize("name", ["dt", "banded"])
def test_metadata_past_the_graphs_tables_fails_at_load_not_mid_episode(ex, tmp_path, name):
    """max_ep_len edited above the timestep table's rows: one probe run at load says so."""
    src = ex[name] if name == "dt" else step_graph_path(ex[name])
    path = tamper(src, tmp_path / ("t.onnx" if name == "dt" else "t.step.onnx"), max_ep_len=40)
    with pytest.raises(DeployError) as err:
        OnnxPolicy(path)
    assert one_line(err).startswith(f"{path}: the graph fails on ") and "timestep 39" in str(err.value)
    assert "max_ep_len 40" in str(err.value) and "re-export" in str(err.value)
