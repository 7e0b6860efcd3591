"""Bad input to the Python API is a ValueError/TypeError naming the argument and what was expected: the models'
inputs and constructors (model_checks.py), load_run's step, evaluate's arguments, a resume on another number of
processes and torchrun's environment variables (common/distributed.py)."""

import numpy as np
import pytest
import torch

from decision_transformer import DTConfig, DecisionTransformer, MLPBC, MLPBCConfig
from decision_transformer import model_checks
from decision_transformer.checkpoint import (
    RunMeta, latest_checkpoint, load_run, load_trainer_state, save_checkpoint, update_trainer_state,
)
from decision_transformer.common import distributed
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.evaluate import RolloutPolicy, evaluate
from decision_transformer.rundir import CheckpointError
from decision_transformer.run_config import TrainConfig
from decision_transformer.train import resume, train

B, K, S, A, T = 2, 4, 3, 2, 50


def dt(**kw) -> DecisionTransformer:
    torch.manual_seed(0)
    return DecisionTransformer(DTConfig(embed_dim=16, n_layer=1, n_head=1, context_len=K, max_ep_len=T, **kw), S,
                               5 if kw.get("discrete_actions") else A).eval()


def inputs(discrete=False) -> dict:
    return dict(states=torch.randn(B, K, S), actions=torch.randint(0, 5, (B, K)) if discrete else torch.randn(B, K, A),
                returns_to_go=torch.randn(B, K, 1), timesteps=torch.arange(K).repeat(B, 1),
                attention_mask=torch.ones(B, K, dtype=torch.long))


def call(fn, **changes):
    x = {**inputs(changes.pop("discrete", False)), **changes}
    return fn(x["states"], x["actions"], x["returns_to_go"], x["timesteps"], x["attention_mask"])


BAD = [  # (changes to good inputs, error type, what the message must say)
    (dict(attention_mask=torch.ones(B, K - 1, dtype=torch.long)), ValueError,
     "attention_mask: shape (2, 3); expected (B, K)=(2, 4) of 0/1"),  # all ones: the cached-mask shortcut
    (dict(attention_mask=torch.ones(B, dtype=torch.long)), ValueError, "attention_mask: shape (2,)"),
    (dict(attention_mask=torch.ones(K, dtype=torch.long)), ValueError, "attention_mask: shape (4,)"),
    (dict(attention_mask=torch.full((B, K), 2)), ValueError, "attention_mask: holds [2]; expected 0/1"),
    (dict(attention_mask=-torch.ones(B, K, dtype=torch.long)), ValueError, "attention_mask: holds [-1]"),
    (dict(attention_mask=torch.full((B, K), 0.5)), ValueError, "attention_mask: holds [0.5]"),
    (dict(actions=torch.randn(1, K, A)), ValueError, "actions: shape (1, 4, 2); expected (B, K, A)=(2, 4, 2)"),
    (dict(states=torch.randn(B, K, S, dtype=torch.float64)), TypeError,
     "states: dtype torch.float64; expected torch.float32"),
    (dict(states=torch.randn(B, K, S + 1)), ValueError, "states: shape (2, 4, 4); expected (B, K, S)=(B, K, 3)"),
    (dict(timesteps=torch.arange(K).repeat(B, 1) + 100), ValueError, "timesteps: max 103 >= max_ep_len=50"),
    (dict(timesteps=torch.arange(K).repeat(B, 1) - 2), ValueError, "timesteps: min -2 < 0"),
    (dict(timesteps=torch.zeros(B, K)), TypeError, "timesteps: dtype torch.float32; expected int64"),
    (dict(returns_to_go=torch.randn(B, K)), ValueError, "returns_to_go: shape (2, 4); expected (B, K, 1)=(2, 4, 1)"),
    (dict(returns_to_go=None), TypeError, "returns_to_go: None; expected a torch.Tensor"),
    (dict(states=np.zeros((B, K, S), np.float32)), TypeError, "states: a numpy.ndarray; expected a torch.Tensor"),
    (dict(discrete=True, actions=torch.full((B, K), 7)), ValueError,
     "actions: ids in [7, 7]; expected action ids in [0, 5)"),
    (dict(discrete=True, actions=torch.full((B, K), -1)), ValueError, "actions: ids in [-1, -1]"),
    (dict(discrete=True, actions=torch.zeros(B, K)), TypeError, "actions: dtype torch.float32; expected int64"),
]


@pytest.mark.parametrize("changes, error, message", BAD, ids=[m.split(";")[0] for _, _, m in BAD])
@pytest.mark.parametrize("entry", ["forward", "forward_all", "act", "attention_maps"])
def test_model_inputs_are_checked_at_every_entry(changes, error, message, entry):
    model = dt(discrete_actions=changes.get("discrete", False))
    with pytest.raises(error) as exc:
        call(getattr(model, entry), **changes)
    assert message in str(exc.value)


def test_act_distribution_and_propose_return_check_too():
    with pytest.raises(ValueError, match=r"timesteps: max 53 >= max_ep_len=50"):
        call(dt(stochastic_policy=True).act_distribution, timesteps=torch.arange(K).repeat(B, 1) + 50)
    with pytest.raises(ValueError, match=r"attention_mask: shape \(2, 3\)"):
        call(dt(return_head="expectile").propose_return, attention_mask=torch.ones(B, K - 1))


def test_good_inputs_still_run_and_left_padding_only_when_acting():
    model = dt()
    assert call(model, timesteps=torch.arange(K).repeat(B, 1).int(), attention_mask=None).shape == (B, K, A)
    assert call(model, attention_mask=torch.ones(B, K, dtype=torch.bool)).shape == (B, K, A)
    assert call(model, timesteps=torch.full((B, K), T - 1)).shape == (B, K, A)  # max_ep_len - 1: the clipped value
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert call(model.act, attention_mask=left).shape == (B, A)
    right = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    assert call(model, attention_mask=right).shape == (B, K, A)  # forward (training windows) is not refused
    with pytest.raises(ValueError, match=r"attention_mask: row 1 is \[1, 1, 0, 0\]; acting expects left padding"):
        call(model.act, attention_mask=right)


def test_values_are_checked_outside_training_only_shapes_always(monkeypatch):
    model = dt().train()  # training: no device sync for value checks
    assert call(model, attention_mask=torch.full((B, K), 2)).shape == (B, K, A)
    with pytest.raises(ValueError, match=r"attention_mask: shape \(2, 3\)"):
        call(model, attention_mask=torch.ones(B, K - 1))
    model.eval()
    monkeypatch.setattr(model_checks, "CHECK_VALUES", False)
    assert call(model, attention_mask=torch.full((B, K), 2)).shape == (B, K, A)


def test_mlp_bc_inputs_are_checked():
    model = MLPBC(MLPBCConfig(hidden_dim=16, context_len=K), S, A).eval()
    assert model(torch.randn(B, K, S)).shape == (B, K, A)
    with pytest.raises(ValueError, match=r"states: shape \(2, 3\); expected \(B, K, S\)=\(B, K, 3\)"):
        model(torch.randn(B, S))
    with pytest.raises(ValueError, match=r"attention_mask: shape \(2, 2\); expected \(B, K\)=\(2, 4\)"):
        model.act(torch.randn(B, K, S), attention_mask=torch.ones(B, 2))
    with pytest.raises(ValueError, match=r"attention_mask: holds \[2\]"):
        model(torch.randn(B, K, S), attention_mask=torch.full((B, K), 2))
    with pytest.raises(TypeError, match=r"states: dtype torch.float64"):
        model.act(torch.randn(B, K, S, dtype=torch.float64))


@pytest.mark.parametrize("args, error, message", [
    ((3, 0), ValueError, "act_dim=0: expected a positive int"),
    ((0, 2), ValueError, "state_dim=0: expected a positive int"),
    ((3.0, 2), TypeError, "state_dim=3.0: expected a positive int, or (C, H, W)"),
    ((3, 2.0), TypeError, "act_dim=2.0: expected a positive int"),
    (((3,), 2), ValueError, "state_dim=(3,)"),
])
def test_constructor_arguments_are_checked(args, error, message):
    cfg = DTConfig(embed_dim=16, n_layer=1, n_head=1, context_len=K)
    with pytest.raises(error) as exc:
        DecisionTransformer(cfg, *args)
    assert message in str(exc.value)


def test_constructor_config_and_mlp_bc_state_dim():
    with pytest.raises(TypeError, match=r"config: a dict; expected a DTConfig \(a dict: DTConfig.from_dict"):
        DecisionTransformer({"embed_dim": 16}, 3, 2)
    with pytest.raises(ValueError, match=r"state_dim=\(4, 84, 84\): expected a positive int \(MLPBC takes vector"):
        MLPBC(MLPBCConfig(), (4, 84, 84), 2)
    assert DecisionTransformer(DTConfig(embed_dim=16, n_layer=1), np.int64(3), np.int64(2)).state_dim == 3


def test_load_run_step_takes_an_int_or_digits(tmp_path):
    model = dt()
    meta = RunMeta(model_kind="dt", model_config=model.config.to_dict(), state_dim=S, act_dim=A, state_mean=[0.0] * S,
                   state_std=[1.0] * S, reward_scale=1.0, step=5)
    save_checkpoint(tmp_path, model, meta)
    assert load_run(tmp_path, step="5").meta.step == load_run(tmp_path, step=5).meta.step == 5
    with pytest.raises(TypeError, match=r"step='five': expected a checkpoint's step, an int >= 0"):
        load_run(tmp_path, step="five")
    with pytest.raises(ValueError, match=r"step=-1: expected"):
        load_run(tmp_path, step=-1)


def test_evaluate_arguments():
    torch.manual_seed(0)
    model = DecisionTransformer(DTConfig(embed_dim=8, n_layer=1, n_head=1, context_len=2), 3, 1).eval()
    prep = Preprocessing(np.zeros(3, np.float32), np.ones(3, np.float32), 100.0)
    policy = RolloutPolicy(model=model, prep=prep, discrete=False, act_dim=1)
    with pytest.raises(TypeError, match=r"policy: a DecisionTransformer; expected a RolloutPolicy or a LoadedRun"):
        evaluate(model, "Pendulum-v1", [10.0], num_episodes=1, progress=False)
    with pytest.raises(TypeError, match=r"num_episodes=1.5: expected a positive int"):
        evaluate(policy, "Pendulum-v1", [10.0], num_episodes=1.5, progress=False)
    with pytest.raises(TypeError, match=r"targets=None: expected a sequence of target returns"):
        evaluate(policy, "Pendulum-v1", None, num_episodes=1, progress=False)
    (one,) = evaluate(policy, "Pendulum-v1", 10.0, num_episodes=1, progress=False)  # a single number: one target
    assert one.target_return == 10.0 and len(one.returns) == 1


def test_resume_on_another_number_of_processes_is_refused(toy_npz, tmp_path):
    from decision_transformer.config import model_config

    out = tmp_path / "run"
    cfg = TrainConfig(dataset=str(toy_npz), out=str(out), steps=2, batch_size=4, warmup_steps=1, save_every=2,
                      log_every=1, progress=False)
    train(cfg, model_config("dt", context_len=2, n_layer=1, embed_dim=8, max_ep_len=100))
    ckpt = latest_checkpoint(out)
    state = load_trainer_state(ckpt)
    assert state["world_size"] == 1
    update_trainer_state(ckpt, {**state, "world_size": 2})  # as a 2-process torchrun run leaves it
    with pytest.raises(CheckpointError, match=r"trained on 2 process\(es\) and is resumed on 1.*--nproc_per_node 2"):
        resume(out, steps=3)
    update_trainer_state(ckpt, {k: v for k, v in state.items() if k != "world_size"})  # an older run: compatible
    assert resume(out, steps=3).meta.step == 3


@pytest.mark.parametrize("env, message", [
    (dict(WORLD_SIZE="abc"), "WORLD_SIZE='abc': expected an integer"),
    (dict(WORLD_SIZE="0"), "WORLD_SIZE=0: expected an integer >= 1"),
    (dict(WORLD_SIZE="2", RANK="5"), "RANK=5: expected 0 <= RANK < WORLD_SIZE=2"),
    (dict(WORLD_SIZE="2", RANK="x"), "RANK='x': expected an integer"),
    (dict(WORLD_SIZE="2"), "RANK is not set"),
    (dict(WORLD_SIZE="2", RANK="0", LOCAL_RANK="-1"), "LOCAL_RANK=-1: expected 0 <= LOCAL_RANK < WORLD_SIZE=2"),
])
def test_distributed_environment_is_checked_before_joining(monkeypatch, env, message):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as exc:
        distributed.setup("cpu")
    assert message in str(exc.value)


def test_trusted_inputs_skip_the_value_checks_only():
    import torch

    from decision_transformer.config import DTConfig
    from decision_transformer.model import DecisionTransformer
    from decision_transformer.model_checks import trusted_inputs

    model = DecisionTransformer(DTConfig(embed_dim=16, n_layer=1, n_head=1, context_len=4, max_ep_len=10), 3, 2).eval()
    s, a, r = torch.zeros(1, 4, 3), torch.zeros(1, 4, 2), torch.zeros(1, 4, 1)
    late = torch.full((1, 4), 50)  # past max_ep_len
    with pytest.raises(ValueError, match="timesteps: max 50 >= max_ep_len=10"):
        model.act(s, a, r, late)
    with trusted_inputs():
        with pytest.raises(ValueError, match="returns_to_go: shape"):  # shapes are still checked
            model.act(s, a, r[..., 0], late.clamp(max=9))
        with pytest.raises(IndexError):  # values are the caller's: torch's own error
            model.act(s, a, r, late)
    with pytest.raises(ValueError, match="timesteps"):  # and checked again after
        model.act(s, a, r, late)
