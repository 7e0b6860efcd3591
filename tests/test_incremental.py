"""Banded attention and the incremental (key/value cache) acting it allows: exact against the plain forward."""

import numpy as np
import pytest
import torch

from decision_transformer import DTConfig, DecisionTransformer
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.evaluate import RolloutPolicy, evaluate
from decision_transformer.model import causal_attention_mask


def test_banded_mask():
    m = causal_attention_mask(torch.ones(1, 4, dtype=torch.long), tokens_per_step=3, window=2)[0, 0]
    step = torch.arange(12) // 3
    for i in range(12):
        for j in range(12):
            assert bool(m[i, j]) == (j <= i and step[i] - step[j] < 2)


@pytest.mark.parametrize("condition_on_return,discrete,embed_norm", [
    (True, False, "layernorm"), (True, True, "layernorm"), (False, False, "layernorm"), (False, True, "layernorm"),
    (True, True, "tanh")])
def test_incremental_acting_equals_the_full_episode_banded_forward(condition_on_return, discrete, embed_norm):
    env_id, S, A = ("CartPole-v1", 4, 2) if discrete else ("InvertedPendulum-v5", 4, 1)
    torch.manual_seed(0)
    cfg = DTConfig(context_len=6, attention_window=3, embed_dim=32, n_layer=3, n_head=2, max_ep_len=1000,
                   discrete_actions=discrete, condition_on_return=condition_on_return, dropout=0.0,
                   embed_norm=embed_norm)
    model = DecisionTransformer(cfg, S, A).eval()
    with torch.no_grad():  # larger weights: actions that depend on the context
        for p in model.parameters():
            p.mul_(4 if p.dim() > 1 else 1)
    prep = Preprocessing(np.zeros(S, np.float32), np.ones(S, np.float32), 10.0)
    policy = RolloutPolicy(model, prep, discrete, A)
    seen = []

    from decision_transformer import evaluate as ev

    class Spy(ev.IncrementalDecoder):
        def step(self, rows, state, rtg, prev_action, timestep, prev_timestep):
            out = super().step(rows, state, rtg, prev_action, timestep, prev_timestep)
            seen.append((state[0].clone(), rtg[0].clone(), out[0].clone()))
            return out

    orig, ev.IncrementalDecoder = ev.IncrementalDecoder, Spy
    try:
        res = evaluate(policy, env_id, [30.0], num_episodes=1, num_envs=1, seed=3, progress=False,
                       env_kwargs={"max_episode_steps": 25})[0]
    finally:
        ev.IncrementalDecoder = orig
    n = res.lengths[0]
    assert len(seen) == n and n > cfg.attention_window + 2  # the band slides several times
    states = torch.stack([x[0] for x in seen])[None]  # (1, n, S)
    rtg = torch.stack([x[1] for x in seen])[None]  # (1, n, 1)
    outs = torch.stack([x[2] for x in seen])  # (n, A)
    if discrete:
        actions = outs.argmax(-1)[None]  # (1, n)
    else:
        actions = outs.clamp(-3, 3)[None]  # InvertedPendulum's action bounds
    full = model.forward_all(states, actions, rtg, torch.arange(n)[None], torch.ones(1, n, dtype=torch.long))
    torch.testing.assert_close(outs, full.action_preds[0], atol=1e-5, rtol=1e-4)
    # and it is not the sliding-window recompute of a full-attention model: the band matters
    plain = DecisionTransformer(DTConfig(**{**cfg.__dict__, "attention_window": 0}), S, A).eval()
    plain.load_state_dict(model.state_dict())
    other = plain.forward_all(states, actions, rtg, torch.arange(n)[None], torch.ones(1, n, dtype=torch.long))
    assert not torch.allclose(other.action_preds[0], outs, atol=1e-3)


def test_incremental_acting_handles_episodes_starting_at_different_times():
    """Several envs, episodes of different lengths: each env's cache restarts with its episode; the batched
    run gives the returns of running each episode alone."""
    torch.manual_seed(1)
    cfg = DTConfig(context_len=4, attention_window=2, embed_dim=16, n_layer=2, max_ep_len=1000, dropout=0.0)
    model = DecisionTransformer(cfg, 4, 1).eval()
    prep = Preprocessing(np.zeros(4, np.float32), np.ones(4, np.float32), 10.0)
    policy = RolloutPolicy(model, prep, False, 1)
    batched = evaluate(policy, "InvertedPendulum-v5", [20.0], num_episodes=6, num_envs=3, seed=0, progress=False)[0]
    single = evaluate(policy, "InvertedPendulum-v5", [20.0], num_episodes=6, num_envs=1, seed=0, progress=False)[0]
    assert batched.lengths == single.lengths and len(set(batched.lengths)) > 1
    np.testing.assert_allclose(batched.returns, single.returns, rtol=1e-6)


def test_a_banded_model_does_not_export_to_hugging_face(tmp_path):
    from decision_transformer.hf import HFFormatError, save_hf

    model = DecisionTransformer(DTConfig(context_len=4, attention_window=2, embed_dim=16, n_layer=1), 3, 2)
    with pytest.raises(HFFormatError, match="banded"):
        save_hf(model, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()  # refused before the directory is made
