import dataclasses

import pytest
import torch

from decision_transformer import DTConfig, DecisionTransformer, MLPBC, MLPBCConfig
from decision_transformer.model import causal_attention_mask

B, K, S, A = 3, 6, 5, 2


def tiny(**kw) -> DTConfig:
    return DTConfig(context_len=K, embed_dim=32, n_layer=2, n_head=2, max_ep_len=100, **kw)


def inputs(discrete=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    states = torch.randn(B, K, S, generator=g)
    actions = torch.randint(0, A, (B, K), generator=g) if discrete else torch.randn(B, K, A, generator=g)
    rtg = torch.randn(B, K, 1, generator=g)
    timesteps = torch.arange(K).repeat(B, 1) + 3
    mask = torch.ones(B, K, dtype=torch.long)
    return states, actions, rtg, timesteps, mask


def test_paper_defaults():
    cfg = DTConfig()
    assert (cfg.context_len, cfg.embed_dim, cfg.n_layer, cfg.n_head, cfg.mlp_ratio) == (20, 128, 3, 1, 4)
    assert (cfg.activation, cfg.dropout, cfg.max_ep_len) == ("relu", 0.1, 1000)
    assert cfg.condition_on_return and cfg.action_tanh and not cfg.discrete_actions
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.embed_dim = 3


@pytest.mark.parametrize("bad", [dict(embed_dim=30, n_head=4), dict(activation="swish"), dict(context_len=0),
                                 dict(embed_norm="batchnorm")])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        DTConfig(**bad)


@pytest.mark.parametrize("discrete", [False, True])
def test_shapes(discrete):
    model = DecisionTransformer(tiny(discrete_actions=discrete, predict_state=True, predict_return=True), S, A).eval()
    out = model.forward_all(*inputs(discrete))
    assert out.action_preds.shape == (B, K, A)
    assert out.state_preds.shape == (B, K, S)
    assert out.return_preds.shape == (B, K, 1)
    if not discrete:
        assert out.action_preds.abs().max() <= 1.0  # tanh head


def test_pixel_states_use_atari_cnn():
    model = DecisionTransformer(tiny(discrete_actions=True), (4, 84, 84), 6).eval()
    states = torch.rand(2, K, 4, 84, 84)
    logits = model(states, torch.zeros(2, K, dtype=torch.long), torch.zeros(2, K, 1), torch.zeros(2, K, dtype=torch.long))
    assert logits.shape == (2, K, 6)
    convs = [m for m in model.embed_state.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [(32, 8, 4), (64, 4, 2), (64, 3, 1)]


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("condition_on_return", [True, False])
@pytest.mark.parametrize("embed_norm", ["layernorm", "tanh"])
def test_prediction_for_step_t_never_sees_a_t_or_the_future(discrete, condition_on_return, embed_norm):
    torch.manual_seed(0)
    model = DecisionTransformer(tiny(discrete_actions=discrete, condition_on_return=condition_on_return,
                                     embed_norm=embed_norm), S, A).eval()
    states, actions, rtg, timesteps, mask = inputs(discrete)
    base = model(states, actions, rtg, timesteps, mask)
    t = 2
    # change a_t and everything after s_t: R_{t+1..}, s_{t+1..}, a_{t..}, timesteps after t
    s2, a2, r2, ts2 = states.clone(), actions.clone(), rtg.clone(), timesteps.clone()
    s2[:, t + 1:] += 5.0
    r2[:, t + 1:] -= 7.0
    ts2[:, t + 1:] = 99
    if discrete:
        a2[:, t:] = (a2[:, t:] + 1) % A
    else:
        a2[:, t:] += 3.0
    after = model(s2, a2, r2, ts2, mask)
    torch.testing.assert_close(after[:, : t + 1], base[:, : t + 1], rtol=0, atol=1e-6)
    assert not torch.allclose(after[:, t + 1:], base[:, t + 1:])
    # changing s_t changes the prediction at t
    s3 = states.clone()
    s3[:, t] += 1.0
    assert (model(s3, actions, rtg, timesteps, mask)[:, t] - base[:, t]).abs().max() > 1e-4
    # changing R_t changes it when conditioning on returns, and is ignored by the BC variant
    r3 = rtg.clone()
    r3[:, t] += 1.0
    delta = (model(states, actions, r3, timesteps, mask)[:, t] - base[:, t]).abs().max()
    assert (delta > 1e-4) if condition_on_return else (delta == 0)


@pytest.mark.parametrize("discrete,position_embedding,embed_norm", [
    (False, False, "layernorm"), (True, False, "layernorm"), (False, True, "layernorm"), (True, True, "layernorm"),
    (True, True, "tanh")])
def test_left_padding_is_invisible(discrete, position_embedding, embed_norm):
    torch.manual_seed(0)
    model = DecisionTransformer(tiny(discrete_actions=discrete, position_embedding=position_embedding,
                                     embed_norm=embed_norm), S, A).eval()
    states, actions, rtg, timesteps, mask = inputs(discrete)
    pad = 3
    mask[:, :pad] = 0
    base = model(states, actions, rtg, timesteps, mask)
    g = torch.Generator().manual_seed(5)
    s2, a2, r2, ts2 = states.clone(), actions.clone(), rtg.clone(), timesteps.clone()
    s2[:, :pad] = torch.randn(B, pad, S, generator=g) * 100
    s2[0, 0] = float("nan")  # even NaN in a padded position must not leak
    r2[:, :pad] = float("inf")
    ts2[:, :pad] = torch.randint(0, 100, (B, pad), generator=g)
    if discrete:
        a2[:, :pad] = torch.randint(0, A, (B, pad), generator=g)
    else:
        a2[:, :pad] = torch.randn(B, pad, A, generator=g) * 100
    after = model(s2, a2, r2, ts2, mask)
    torch.testing.assert_close(after[:, pad:], base[:, pad:], rtol=0, atol=1e-6)
    assert torch.isfinite(after).all()
    # and equals running the real steps alone, without any padding
    alone = model(states[:, pad:], actions[:, pad:], rtg[:, pad:], timesteps[:, pad:], mask[:, pad:])
    torch.testing.assert_close(after[:, pad:], alone, rtol=0, atol=1e-5)


def test_tanh_embeddings_are_the_paper_atari_codes():
    """embed_norm=tanh: each token is tanh(its embedding) + the timestep embedding, in the order R, s, a, with no
    LayerNorm after (kzl/decision-transformer atari/mingpt/model_atari.py); layernorm normalizes each token."""
    torch.manual_seed(0)
    states, actions, rtg, timesteps, mask = inputs(True)
    for norm in ("tanh", "layernorm"):
        model = DecisionTransformer(tiny(discrete_actions=True, embed_norm=norm), S, A).eval()
        x, _ = model._embed(states, actions, rtg * 50, timesteps, mask)  # large returns, as Atari's unscaled ones
        time_emb = model.embed_timestep(timesteps)
        raw = (model.embed_return(rtg * 50), model.embed_state(states), model.embed_action(actions))
        if norm == "tanh":
            expected = torch.stack([torch.tanh(e) + time_emb for e in raw], dim=2).reshape(B, -1, x.shape[-1])
            assert not any(isinstance(m, torch.nn.LayerNorm) for m in (model.embed_ln,))
        else:
            expected = model.embed_ln(torch.stack([e + time_emb for e in raw], dim=2).reshape(B, -1, x.shape[-1]))
        torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)


def test_position_embedding_counts_from_the_first_real_step():
    torch.manual_seed(0)
    model = DecisionTransformer(tiny(position_embedding=True), S, A).eval()
    assert model.embed_position.num_embeddings == 3 * K
    states, actions, rtg, timesteps, mask = inputs()
    pad = 2
    mask[:, :pad] = 0
    base = model(states, actions, rtg, timesteps, mask)
    with torch.no_grad():  # positions 3 * (K - pad) .. 3K - 1 are not used by a window with K - pad real steps
        model.embed_position.weight[3 * (K - pad):] += 5.0 * torch.randn(3 * pad, 32)
    torch.testing.assert_close(model(states, actions, rtg, timesteps, mask), base, rtol=0, atol=0)
    with torch.no_grad():  # position 0 is the first real step's R token: every real output changes
        model.embed_position.weight[0] += 5.0 * torch.randn(32)  # (not a constant: LayerNorm would remove it)
    moved = model(states, actions, rtg, timesteps, mask)
    assert ((moved[:, pad:] - base[:, pad:]).abs().amax(-1) > 1e-4).all()
    # the embedding really adds position information: the model without it differs
    plain = DecisionTransformer(tiny(), S, A).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("embed_position")})
    assert not torch.allclose(plain(states, actions, rtg, timesteps, mask)[:, pad:], moved[:, pad:])
    with pytest.raises(ValueError, match="attention_window"):
        tiny(position_embedding=True, attention_window=2)


def test_attention_mask_allows_self_and_past_real_tokens_only():
    m = causal_attention_mask(torch.tensor([[0, 1, 1]]), tokens_per_step=3)[0, 0]
    assert m.shape == (9, 9)
    assert m[0, 0] and not m[0, 1]  # padded token attends to itself only
    assert m[5, 3] and m[5, 4] and m[5, 5] and not m[5, 0] and not m[5, 6]


def test_attention_maps_are_causal_distributions():
    model = DecisionTransformer(tiny(), S, A).eval()
    maps = model.attention_maps(*inputs())
    assert len(maps) == 2 and maps[0].shape == (B, 2, 3 * K, 3 * K)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(B, 2, 3 * K))
    assert maps[0].triu(1).abs().max() == 0


def test_mlp_bc_uses_only_the_last_k_states():
    torch.manual_seed(0)
    model = MLPBC(MLPBCConfig(context_len=3, hidden_dim=16, n_layer=2), S, A).eval()
    states, _, _, _, mask = inputs()
    base = model(states, attention_mask=mask)
    assert base.shape == (B, K, A)
    s2 = states.clone()
    s2[:, 0] += 10.0  # step 0 is outside the window of steps >= 3
    after = model(s2, attention_mask=mask)
    torch.testing.assert_close(after[:, 3:], base[:, 3:])
    assert not torch.allclose(after[:, :3], base[:, :3])
    s3 = states.clone()
    s3[:, 5] += 1.0  # the future never matters
    torch.testing.assert_close(model(s3, attention_mask=mask)[:, :5], base[:, :5])


# ------------------------------------------------------------------ fast paths against the plain forward
@pytest.mark.parametrize("condition_on_return", [True, False])
@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("embed_norm", ["layernorm", "tanh"])
def test_pruned_last_block_and_act_equal_the_full_forward(condition_on_return, discrete, embed_norm):
    torch.manual_seed(0)
    model = DecisionTransformer(tiny(discrete_actions=discrete, condition_on_return=condition_on_return,
                                     embed_norm=embed_norm), S, A).eval()
    s, a, r, t, m = inputs(discrete)
    m[0, :2] = 0  # left padding in one row
    full = model.forward_all(s, a, r, t, m).action_preds  # every block over every token
    torch.testing.assert_close(model(s, a, r, t, m), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.act(s, a, r, t, m), full[:, -1], atol=1e-5, rtol=1e-5)


def test_pruned_forward_gives_the_full_forwards_gradients():
    torch.manual_seed(0)
    cfg = tiny(dropout=0.0)
    model = DecisionTransformer(cfg, S, A).train()
    s, a, r, t, m = inputs()
    grads = []
    for fn in (lambda: model.forward_all(s, a, r, t, m).action_preds, lambda: model(s, a, r, t, m)):
        model.zero_grad()
        ((fn() - a) ** 2).mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        torch.testing.assert_close(grads[1][n], grads[0][n], atol=1e-6, rtol=1e-4)


def test_bf16_autocast_is_close_to_fp32():
    """The bf16 path's stated tolerance: actions within 0.05 of fp32's (tanh-squashed, |a| <= 1)."""
    from decision_transformer.common.precision import precision_context, resolve

    torch.manual_seed(0)
    model = DecisionTransformer(tiny(), S, A).eval()
    with torch.no_grad():  # larger weights than the init's, so that the outputs are not all near 0
        for p in model.parameters():
            p.mul_(5 if p.dim() > 1 else 1)
    x = inputs()
    fp32 = model.act(*x)
    with precision_context("bf16", "cpu"):
        bf16 = model.act(*x)
    assert bf16.dtype == torch.bfloat16 and fp32.abs().max() > 0.2
    assert (bf16.float() - fp32).abs().max() < 0.05
    assert resolve("fp32", "cpu") == "fp32" and resolve("bf16", "cpu") == "bf16"
    assert resolve("auto", "cuda") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve("fp16", "cpu")


def test_auto_precision_picks_bf16_only_where_it_is_measured_faster(monkeypatch):
    from decision_transformer.common import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert precision.resolve("auto", "cpu") == "fp32"  # emulated bf16: never, whatever a probe would say
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(precision, "cpu_bf16_probe", lambda: {"fp32_ms": 10.0, "bf16_ms": 6.0})
    assert precision.resolve("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision, "cpu_bf16_probe", lambda: {"fp32_ms": 10.0, "bf16_ms": 9.5})
    assert precision.resolve("auto", "cpu") == "fp32"  # inside the probe's noise margin
    monkeypatch.setattr(precision, "cpu_bf16_probe", lambda: {"fp32_ms": 10.0, "bf16_ms": 17.0})
    assert precision.resolve("auto", "cpu") == "fp32"  # the Intel box of docs/performance.md
    assert precision.resolve("auto", "cuda") == "bf16"
    monkeypatch.undo()
    probe = precision.cpu_bf16_probe()  # the real probe: two positive timings, cached for the process
    assert probe["fp32_ms"] > 0 and probe["bf16_ms"] > 0 and precision.cpu_bf16_probe() is probe


def test_mlp_bc_act_is_the_last_position():
    torch.manual_seed(0)
    model = MLPBC(MLPBCConfig(context_len=4, hidden_dim=16, n_layer=2), S, A).eval()
    s, a, r, t, m = inputs()
    torch.testing.assert_close(model.act(s, a, r, t, m), model(s, a, r, t, m)[:, -1])


def test_init_gpt2_everywhere_or_official_defaults_around_the_blocks():
    """init=gpt2: N(0, 0.02) in every linear and embedding layer (Hugging Face's DecisionTransformerModel); init=
    official: the paper's gym code, GPT-2's inside the blocks and PyTorch's defaults for the embeddings and heads
    (an Embedding N(0, 1); a Linear(1, C) uniform in [-1, 1])."""
    torch.manual_seed(0)
    gpt2 = DecisionTransformer(DTConfig(), 11, 3)
    torch.manual_seed(0)
    official = DecisionTransformer(DTConfig(init="official"), 11, 3)
    for m in (gpt2, official):  # the blocks: GPT-2's either way
        assert abs(m.blocks[0].mlp.fc.weight.std().item() - 0.02) < 0.003
    assert abs(gpt2.embed_timestep.weight.std().item() - 0.02) < 0.003
    assert abs(gpt2.embed_return.weight.std().item() - 0.02) < 0.01
    assert abs(official.embed_timestep.weight.std().item() - 1.0) < 0.05
    assert official.embed_return.weight.abs().max().item() <= 1.0 and official.embed_return.weight.std().item() > 0.4
    assert official.predict_action[0].weight.std().item() > 0.03  # kaiming-uniform over 128 inputs: ~0.05
    with pytest.raises(ValueError, match="init"):
        DTConfig(init="xavier")
