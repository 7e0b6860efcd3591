import json

import numpy as np
import pytest
import torch

from decision_transformer import DTConfig, DecisionTransformer
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.evaluate import DTAgent, RolloutPolicy, evaluate
from decision_transformer.runner import split_evenly
from decision_transformer.scores import d4rl_reference, normalized_score


def random_policy(state_dim, act_dim, discrete=False, K=5, seed=0, scale=1000.0):
    torch.manual_seed(seed)
    model = DecisionTransformer(DTConfig(context_len=K, embed_dim=16, n_layer=1, max_ep_len=1000,
                                         discrete_actions=discrete), state_dim, act_dim).eval()
    return RolloutPolicy(model=model, prep=identity(state_dim, scale), discrete=discrete, act_dim=act_dim)


def identity(state_dim, scale):
    return Preprocessing(np.zeros(state_dim, np.float32), np.ones(state_dim, np.float32), scale)


def test_split_evenly():
    assert split_evenly(7, 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert sum(map(len, split_evenly(10, 4))) == 10


@pytest.mark.parametrize("env_id, dims, discrete", [("InvertedPendulum-v5", (4, 1), False), ("CartPole-v1", (4, 2), True)])
def test_batched_equals_one_at_a_time(env_id, dims, discrete):
    policy = random_policy(*dims, discrete=discrete)
    batched = evaluate(policy, env_id, [500.0], num_episodes=7, num_envs=3, seed=11, progress=False)[0]
    single = evaluate(policy, env_id, [500.0], num_episodes=7, num_envs=1, seed=11, progress=False)[0]
    assert batched.seeds == single.seeds == list(range(11, 18))
    assert len(batched.returns) == 7
    assert batched.lengths == single.lengths
    np.testing.assert_allclose(batched.returns, single.returns, rtol=1e-6)


class RecordingModel(torch.nn.Module):
    """Acts 0 and records the returns-to-go and timesteps it is given at the newest step."""

    def __init__(self, K=3, max_ep_len=1000):
        super().__init__()
        self.config = DTConfig(context_len=K, max_ep_len=max_ep_len)  # the window acting keeps (the one carrier)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, states, actions, returns_to_go, timesteps, attention_mask):
        self.seen.append((returns_to_go[:, -1, 0].clone(), timesteps[:, -1].clone(), attention_mask.sum(1).clone()))
        return torch.zeros(states.shape[0], states.shape[1], 1) + self.w


def test_return_to_go_is_decremented_by_scaled_reward_and_context_rolls():
    model = RecordingModel()
    policy = RolloutPolicy(model=model, prep=identity(4, 10.0), discrete=False, act_dim=1)
    res = evaluate(policy, "InvertedPendulum-v5", [50.0], num_episodes=1, num_envs=1, seed=0, progress=False)[0]
    n = res.lengths[0]
    rtg = torch.stack([s[0][0] for s in model.seen]).numpy()
    ts = torch.stack([s[1][0] for s in model.seen]).numpy()
    real = torch.stack([s[2][0] for s in model.seen]).numpy()
    assert len(rtg) == n
    np.testing.assert_allclose(rtg, (50.0 - np.arange(n)) / 10.0, rtol=1e-6)  # reward 1 per step, scale 10
    np.testing.assert_array_equal(ts, np.arange(n))
    np.testing.assert_array_equal(real, np.minimum(np.arange(n) + 1, 3))


def test_several_targets_and_reset_info_targets():
    policy = random_policy(4, 2, discrete=True)
    res = evaluate(policy, "CartPole-v1", [10.0, 200.0, lambda info: 42.0], num_episodes=3, progress=False)
    assert [r.target_return for r in res[:2]] == [10.0, 200.0]
    assert res[2].targets_used == [42.0, 42.0, 42.0]
    assert all(r.seeds == [0, 1, 2] for r in res)


def test_sampling_with_temperature_follows_the_tempered_softmax_and_is_seeded():
    import gymnasium as gym

    model = ConstantDiscreteModel(2)
    with torch.no_grad():
        model.w.copy_(torch.log(torch.tensor([0.8, 0.2])))
    policy = RolloutPolicy(model=model, prep=identity(4, 1.0), discrete=True, act_dim=2)
    n = 20000
    rows, obs = np.arange(n), np.zeros((n, 4), np.float32)

    def actions(temperature, seed):
        agent = DTAgent(policy, 1.0, n, (4,), gym.spaces.Discrete(2), temperature=temperature, seed=seed)
        agent.begin(rows, obs, [{}] * n)
        return agent.act(rows, obs)

    assert abs(actions(1.0, 0).mean() - 0.2) < 0.01  # softmax of the logits
    assert abs(actions(0.5, 0).mean() - 0.04 / 0.68) < 0.01  # p^2 renormalised: sharper at lower temperature
    assert actions(0.0, 0).sum() == 0  # argmax
    assert np.array_equal(actions(1.0, 3), actions(1.0, 3)) and not np.array_equal(actions(1.0, 3), actions(1.0, 4))


def test_normalized_score_uses_d4rl_references():
    assert d4rl_reference("Hopper-v5") == (-20.272305, 3234.3)
    assert d4rl_reference("Walker2d-v5") == (1.629008, 4592.3)
    assert d4rl_reference("InvertedPendulum-v5") is None
    assert normalized_score(3234.3, d4rl_reference("halfcheetah-medium-v2")) == pytest.approx(100 * (3234.3 + 280.178953) / (12135.0 + 280.178953))
    assert normalized_score(-20.272305, d4rl_reference("Hopper-v5")) == pytest.approx(0.0)


def test_dt_eval_cli_writes_json(tmp_path, dt):
    from conftest import make_dataset
    from test_train import tiny_train

    # A dataset shaped like InvertedPendulum (4 obs dims, 1 action) so the run can act in it.
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    import dataclasses

    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1), env_id="InvertedPendulum-v5")
    npz = d.save(tmp_path / "pend.npz")
    tiny_train(npz, tmp_path / "run", steps=3)
    out = tmp_path / "eval.json"
    proc = dt("eval", tmp_path / "run", "--env-id", "InvertedPendulum-v5", "--targets", "100", "20", "--num-episodes", "3",
              "--json", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "return (mean ± sample std)" in proc.stdout
    payload = json.loads(out.read_text())
    assert [r["target_return"] for r in payload["results"]] == [100.0, 20.0]
    for r in payload["results"]:
        assert len(r["returns"]) == 3 and len(r["lengths"]) == 3 and r["seeds"] == [0, 1, 2]
        assert r["return_mean"] == pytest.approx(np.mean(r["returns"]))
        assert r["normalized_mean"] is None  # no reference values for this dataset


def test_dt_eval_choose_target_picks_on_other_episodes_and_reports_only_the_chosen(tmp_path, dt):
    """`--choose-target`: every candidate on the selection episodes (seed + 500,000, common/seeding.py), the best mean
    chosen, and only it evaluated on the reported episodes; the JSON keeps both."""
    from conftest import make_dataset
    from test_train import tiny_train
    import dataclasses

    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1), env_id="InvertedPendulum-v5")
    tiny_train(d.save(tmp_path / "pend.npz"), tmp_path / "run", steps=3)
    out = tmp_path / "eval.json"
    proc = dt("eval", tmp_path / "run", "--env-id", "InvertedPendulum-v5", "--targets", "100", "20", "5",
              "--choose-target", "--num-episodes", "2", "--seed", "7", "--json", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(out.read_text())
    sel = payload["selection"]
    assert sel["seed"] == 500_007 and [r["target_return"] for r in sel["results"]] == [100.0, 20.0, 5.0]
    assert all(r["seeds"] == [500_007, 500_008] for r in sel["results"])
    best = max(sel["results"], key=lambda r: r["return_mean"])
    assert sel["chosen_target"] == best["target_return"]
    assert [r["target_return"] for r in payload["results"]] == [best["target_return"]]
    assert payload["results"][0]["seeds"] == [7, 8]
    assert "chosen:" in proc.stdout


def test_suite_datasets_report_both_reference_sets():
    from decision_transformer.evaluate import TargetResult, resolve_references

    refs = resolve_references("InvertedPendulum-v5", "pendulum-mixed-v0")
    assert refs == {"suite:pendulum-mixed": (5.2, 1000.0)}
    r = TargetResult(target_return=1.0, returns=[5.2, 1000.0], lengths=[1, 1], seeds=[0, 1],
                     refs={"d4rl": (0.0, 2000.0), "suite:x": (5.2, 1000.0)})
    assert r.normalized["suite:x"] == pytest.approx((50.0, 50.0 * np.sqrt(2)))  # sample std (n-1) over episodes
    assert r.normalized["d4rl"] == pytest.approx((25.13, 24.87 * np.sqrt(2)))
    assert r.ref_source == "d4rl" and "(suite:x)" in r.normalized_text()


class ConstantDiscreteModel(torch.nn.Module):
    """Always picks action 0 (argmax of equal logits)."""

    def __init__(self, num_actions: int, K=3, max_ep_len=100):
        super().__init__()
        self.config = DTConfig(context_len=K, max_ep_len=max_ep_len, discrete_actions=True)
        self.w = torch.nn.Parameter(torch.zeros(num_actions))

    def forward(self, states, actions, returns_to_go, timesteps, attention_mask):
        return self.w.expand(states.shape[0], states.shape[1], -1)


def test_results_record_terminated_versus_truncated():
    import decision_transformer.envs  # noqa: F401  (registers dt/KeyToDoor-v0)

    policy = RolloutPolicy(model=ConstantDiscreteModel(4, K=28, max_ep_len=28), prep=identity(8, 1.0), discrete=True, act_dim=4)
    res = evaluate(policy, "dt/KeyToDoor-v0", [1.0], num_episodes=40, num_envs=4, seed=0, progress=False)[0]
    assert len(res.terminated) == 40
    # Key-to-Door never terminates: every episode runs to the horizon and is truncated there
    assert res.terminated == [False] * 40 and res.lengths == [28] * 40
    pend = evaluate(policy_for_pendulum(), "InvertedPendulum-v5", [10.0], num_episodes=3, progress=False)[0]
    assert pend.terminated == [True, True, True]  # a constant push drops the pole: terminal states


def policy_for_pendulum():
    return RolloutPolicy(model=RecordingModel(), prep=identity(4, 10.0), discrete=False, act_dim=1)


def test_a_one_step_context_acts_with_the_right_timesteps():
    """K = 1 (the paper's context ablation): one position, the timestep still counts up within the episode."""
    model = RecordingModel(K=1)
    policy = RolloutPolicy(model=model, prep=identity(4, 10.0), discrete=False, act_dim=1)
    res = evaluate(policy, "InvertedPendulum-v5", [50.0], num_episodes=1, num_envs=1, seed=0, progress=False)[0]
    ts = torch.stack([s[1][0] for s in model.seen]).numpy()
    np.testing.assert_array_equal(ts, np.arange(res.lengths[0]))


def test_atari_scores_are_gamer_normalized():
    from decision_transformer.evaluate import TargetResult, resolve_references

    refs = resolve_references("dt/Breakout-v0", None)
    assert refs == {"gamer": (1.7, 30.5)}
    r = TargetResult(target_return=90.0, returns=[30.5, 1.7], lengths=[1, 1], seeds=[0, 1], refs=refs)
    assert r.normalized["gamer"][0] == pytest.approx(50.0)  # (100 + 0) / 2
    assert resolve_references("ALE/Pong-v5", None) == {"gamer": (-20.7, 14.6)}
