"""Hugging Face interoperability: checkpoints built with the real `transformers` (random weights,
save_pretrained) against our DecisionTransformer. float32, CPU, eval mode, tiny models."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

transformers = pytest.importorskip("transformers")
from transformers import DecisionTransformerConfig, DecisionTransformerModel  # noqa: E402

from decision_transformer.checkpoint import load_run  # noqa: E402
from decision_transformer.cli import main as dt_main  # noqa: E402
from decision_transformer.hf.runs import export_hf, import_hf  # noqa: E402
from decision_transformer.config import DTConfig  # noqa: E402
from decision_transformer.hf import HFFormatError, load_hf, read_hf, save_hf  # noqa: E402
from decision_transformer.model import DecisionTransformer  # noqa: E402

transformers.logging.set_verbosity_error()
S, A, MAX_EP = 5, 3, 50
TOL = 1e-5


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Random weights everywhere (LayerNorms and wpe included) so that every tensor matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.3)


def make_hf(tmp_path, name="hf", seed=0, **overrides):
    kw = dict(state_dim=S, act_dim=A, hidden_size=32, n_layer=2, n_head=2, max_ep_len=MAX_EP, n_positions=64)
    kw.update(overrides)
    model = DecisionTransformerModel(DecisionTransformerConfig(**kw))
    _perturb(model, seed)
    model.eval()
    path = tmp_path / name
    model.save_pretrained(path)
    return model, path


def inputs(B=4, K=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, K, dtype=torch.long)
    for b, n_pad in enumerate([0, 2, 5, 1][:B]):  # left padding
        mask[b, :n_pad] = 0
    return dict(
        states=torch.randn(B, K, S, generator=g), actions=torch.randn(B, K, A, generator=g),
        returns_to_go=torch.randn(B, K, 1, generator=g), timesteps=torch.randint(0, MAX_EP, (B, K), generator=g),
        attention_mask=mask,
    )


def hf_out(model, x):
    with torch.no_grad():
        return model(states=x["states"], actions=x["actions"], rewards=None, returns_to_go=x["returns_to_go"],
                     timesteps=x["timesteps"], attention_mask=x["attention_mask"], return_dict=True)


def our_out(model, x):
    with torch.no_grad():
        return model.forward_all(x["states"], x["actions"], x["returns_to_go"], x["timesteps"], x["attention_mask"])


def max_diff(a, b, mask):
    return (a - b)[mask.bool()].abs().max().item()


def assert_same_outputs(hf_model, ours, x, heads=("action_preds", "state_preds", "return_preds")):
    h, o = hf_out(hf_model, x), our_out(ours, x)
    for head in heads:
        assert max_diff(getattr(h, head), getattr(o, head), x["attention_mask"]) < TOL, head


# ----------------------------------------------------------------------------------------- facts


def test_conv1d_weights_are_transposed_and_qkv_packed_along_output(tmp_path):
    hf, path = make_hf(tmp_path)
    ours = load_hf(path)
    hb, ob = hf.encoder.h[0], ours.blocks[0]
    assert hb.attn.c_attn.weight.shape == (32, 96) and ob.attn.qkv.weight.shape == (96, 32)
    assert torch.equal(ob.attn.qkv.weight, hb.attn.c_attn.weight.t())
    assert torch.equal(ob.mlp.fc.weight, hb.mlp.c_fc.weight.t())
    assert torch.equal(ob.mlp.proj.weight, hb.mlp.c_proj.weight.t())
    x = torch.randn(7, 32)
    with torch.no_grad():
        hq, hk, hv = hb.attn.c_attn(x).split(32, dim=-1)
        oq, ok, ov = ob.attn.qkv(x).split(32, dim=-1)
    for a, b in ((hq, oq), (hk, ok), (hv, ov)):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("overrides", [
    dict(activation_function="relu", n_head=1),
    dict(activation_function="gelu_new", n_head=2, n_inner=64, action_tanh=False),
    dict(activation_function="gelu", n_head=4),
])
def test_import_matches_transformers_at_real_steps(tmp_path, overrides):
    hf, path = make_hf(tmp_path, **overrides)
    ours = load_hf(path)
    assert not ours.training
    assert ours.config.action_tanh == overrides.get("action_tanh", True)
    assert ours.config.predict_state and ours.config.predict_return
    assert_same_outputs(hf, ours, inputs())


def test_action_tanh_false_gives_unbounded_actions(tmp_path):
    hf, path = make_hf(tmp_path, action_tanh=False)
    ours = load_hf(path)
    assert len(ours.predict_action) == 1  # no Tanh
    x = inputs()
    assert_same_outputs(hf, ours, x)
    assert our_out(ours, x).action_preds.abs().max() > 1.0  # random weights at this scale exceed tanh's range


def test_wpe0_is_folded_into_embed_ln_bias(tmp_path):
    hf, path = make_hf(tmp_path)
    ours = load_hf(path)
    expected = hf.embed_ln.bias + hf.encoder.wpe.weight[0]
    assert torch.equal(ours.embed_ln.bias, expected.detach())
    # Without the fold the outputs differ: wpe[0] really is added to every token.
    with torch.no_grad():
        ours.embed_ln.bias.copy_(hf.embed_ln.bias)
    h, o = hf_out(hf, inputs()), our_out(ours, inputs())
    assert max_diff(h.action_preds, o.action_preds, inputs()["attention_mask"]) > 1e-3


def test_legacy_bin_with_attn_buffers_is_read(tmp_path):
    hf, path = make_hf(tmp_path)
    state = load_file(str(path / "model.safetensors"))
    for i in range(2):
        state[f"encoder.h.{i}.attn.bias"] = torch.tril(torch.ones(64, 64, dtype=torch.bool)).view(1, 1, 64, 64)
        state[f"encoder.h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    (path / "model.safetensors").unlink()
    torch.save(state, path / "pytorch_model.bin")
    assert_same_outputs(hf, load_hf(path), inputs())


def test_sharded_checkpoint_and_foreign_config_fields(tmp_path):
    hf = DecisionTransformerModel(DecisionTransformerConfig(state_dim=S, act_dim=A, hidden_size=32, n_layer=2,
                                                            n_head=2, max_ep_len=MAX_EP, n_positions=64))
    _perturb(hf, 5)
    hf.eval().save_pretrained(tmp_path / "hf", max_shard_size="20KB")
    assert (tmp_path / "hf" / "model.safetensors.index.json").is_file()
    # fields written by older transformers or by subclasses (the HF training blog's TrainableDT)
    _edit_config(tmp_path / "hf", architectures=["TrainableDT"], n_embd=768, torch_dtype="float32",
                 transformers_version="4.16.2", dtype=KeyError)
    assert_same_outputs(hf, load_hf(tmp_path / "hf"), inputs())


def test_kzl_prefix_without_wpe(tmp_path):
    hf, path = make_hf(tmp_path)
    with torch.no_grad():
        hf.encoder.wpe.weight.zero_()  # the kzl GPT-2 has no position embedding at all
    state = {k.replace("encoder.", "transformer.", 1): v for k, v in load_file(str(path / "model.safetensors")).items()
             if k != "encoder.wpe.weight"}
    state["transformer.h.0.attn.masked_bias"] = torch.tensor(-1e4)
    (path / "model.safetensors").unlink()
    torch.save(state, path / "pytorch_model.bin")
    ckpt = read_hf(path)
    assert ckpt.prefix == "transformer."
    assert torch.equal(ckpt.state_dict["embed_ln.bias"], hf.embed_ln.bias.detach())  # nothing folded
    assert_same_outputs(hf, load_hf(path), inputs())
    # and it exports to a checkpoint transformers loads (encoder. prefix, zero wpe)
    save_hf(load_hf(path), tmp_path / "out")
    back = DecisionTransformerModel.from_pretrained(tmp_path / "out").eval()
    assert_same_outputs(back, load_hf(path), inputs())


# ---------------------------------------------------------------------------------------- export


def _our_model(seed=3, **cfg):
    kw = dict(embed_dim=32, n_layer=2, n_head=2, max_ep_len=MAX_EP, context_len=6, predict_state=True,
              predict_return=True)
    kw.update(cfg)
    torch.manual_seed(seed)
    model = DecisionTransformer(DTConfig(**kw), S, A)
    _perturb(model, seed)
    return model.eval()


@pytest.mark.parametrize("cfg", [dict(), dict(activation="gelu_new", mlp_ratio=2, action_tanh=False, n_head=4)])
def test_export_loads_in_transformers_and_matches(tmp_path, cfg):
    ours = _our_model(**cfg)
    save_hf(ours, tmp_path / "out")
    hf, info = DecisionTransformerModel.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert_same_outputs(hf.eval(), ours, inputs())


def test_export_after_changing_an_imported_model_unfolds_wpe(tmp_path):
    """A model changed since import (e.g. fine-tuned): export writes embed_ln.bias - wpe[0] and the original wpe."""
    hf, path = make_hf(tmp_path)
    ckpt = read_hf(path)
    ours = load_hf(path)
    with torch.no_grad():
        ours.embed_ln.bias.add_(0.1)
        ours.blocks[0].mlp.fc.weight.mul_(1.5)
    save_hf(ours, tmp_path / "out", hf_config=ckpt.hf_config, extra_tensors=ckpt.extra_tensors)
    back = DecisionTransformerModel.from_pretrained(tmp_path / "out").eval()
    assert torch.equal(back.encoder.wpe.weight, hf.encoder.wpe.weight)
    assert_same_outputs(back, ours, inputs())


def test_export_without_predict_heads_writes_zero_heads(tmp_path):
    ours = _our_model(predict_state=False, predict_return=False)
    with pytest.warns(UserWarning, match="predict_state"):
        save_hf(ours, tmp_path / "out")
    hf = DecisionTransformerModel.from_pretrained(tmp_path / "out").eval()
    assert_same_outputs(hf, ours, inputs(), heads=("action_preds",))
    assert torch.count_nonzero(hf.predict_state.weight) == 0


def test_export_refuses_models_hf_cannot_hold(tmp_path):
    for cfg in (dict(discrete_actions=True), dict(condition_on_return=False)):
        model = DecisionTransformer(DTConfig(embed_dim=32, n_layer=1, **cfg), S, A)
        with pytest.raises(HFFormatError, match="continuous actions"):
            save_hf(model, tmp_path / "out")
    for cfg, message in ((dict(attention_window=2), "banded"), (dict(position_embedding=True), "position embedding"),
                         (dict(embed_norm="tanh"), "embed_norm='tanh'")):
        model = DecisionTransformer(DTConfig(embed_dim=32, n_layer=1, **cfg), S, A)
        with pytest.raises(HFFormatError, match=message):
            save_hf(model, tmp_path / "out")


def test_export_of_a_native_run(tmp_path, capsys):
    from decision_transformer.checkpoint import RunMeta, save_checkpoint

    for kind in ("dt", "bc"):
        ours = _our_model(predict_state=False, predict_return=False, condition_on_return=kind == "dt")
        meta = RunMeta(model_kind=kind, model_config=ours.config.to_dict(), state_dim=S, act_dim=A,
                       state_mean=[0.5] * S, state_std=[2.0] * S, reward_scale=100.0, env_id="Hopper-v5")
        save_checkpoint(tmp_path / kind, ours, meta)
    ours = _our_model(predict_state=False, predict_return=False)
    assert dt_main(["hf", "export", str(tmp_path / "bc"), "--out", str(tmp_path / "bc_out")]) == 2
    assert "only 'dt' exports" in capsys.readouterr().err
    assert dt_main(["hf", "export", str(tmp_path / "dt"), "--out", str(tmp_path / "out")]) == 0
    assert "writing zeros" in capsys.readouterr().err  # the missing heads are reported
    hf = DecisionTransformerModel.from_pretrained(tmp_path / "out").eval()
    assert_same_outputs(hf, ours, inputs(), heads=("action_preds",))
    assert load_hf(tmp_path / "out").state_std.tolist() == [2.0] * S
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["dt_meta"]["reward_scale"] == 100.0 and cfg["dt_meta"]["context_len"] == 6


def test_import_then_export_reproduces_every_tensor(tmp_path):
    _, path = make_hf(tmp_path, resid_pdrop=0.2, embd_pdrop=0.2, attn_pdrop=0.2, n_inner=128)
    assert dt_main(["hf", "import", str(path), "--out", str(tmp_path / "run"), "--state-mean", *["0.5"] * S,
                    "--state-std", *["2"] * S, "--env-id", "Hopper-v5"]) == 0
    assert dt_main(["hf", "export", str(tmp_path / "run"), "--out", str(tmp_path / "back")]) == 0
    before = load_file(str(path / "model.safetensors"))
    after = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert sorted(before) == sorted(after)
    for k in before:
        assert before[k].dtype == after[k].dtype and torch.equal(before[k], after[k]), k
    cfg_before = json.loads((path / "config.json").read_text())
    cfg_after = json.loads((tmp_path / "back" / "config.json").read_text())
    for k, v in cfg_before.items():
        if k not in ("transformers_version", "dtype"):
            assert cfg_after[k] == v, k
    assert cfg_after["dt_meta"]["state_mean"] == [0.5] * S and cfg_after["dt_meta"]["reward_scale"] == 1000.0


def test_predict_heads_survive_a_round_trip(tmp_path):
    hf, path = make_hf(tmp_path)
    import_hf(path, tmp_path / "run", state_mean=[0.0] * S, state_std=[1.0] * S)
    run = load_run(tmp_path / "run")
    assert run.model.predict_state is not None and run.model.predict_return is not None
    assert torch.equal(run.model.predict_state.weight, hf.predict_state.weight.detach())
    export_hf(tmp_path / "run", tmp_path / "back")
    back = DecisionTransformerModel.from_pretrained(tmp_path / "back").eval()
    assert_same_outputs(back, run.model, inputs())
    h0, h1 = hf_out(hf, inputs()), hf_out(back, inputs())
    for head in ("state_preds", "return_preds"):
        assert torch.equal(getattr(h0, head), getattr(h1, head)), head


# ----------------------------------------------------------------------------------- state stats


def test_state_stats_are_taken_as_arguments_and_recorded(tmp_path):
    _, path = make_hf(tmp_path)
    mean, std = np.arange(S, dtype=np.float32), np.full(S, 3.0, np.float32)
    model = load_hf(path, state_mean=mean, state_std=std)
    assert np.array_equal(model.state_mean, mean) and np.array_equal(model.state_std, std)
    with pytest.raises(HFFormatError, match="state_mean has 2 values; expected state_dim=5"):
        load_hf(path, state_mean=[0, 1], state_std=[1, 1])

    (tmp_path / "stats.json").write_text(json.dumps({"state_mean": mean.tolist(), "state_std": std.tolist()}))
    np.savez(tmp_path / "stats.npz", state_mean=mean, state_std=std)
    for i, stats in enumerate(("stats.json", "stats.npz")):
        run_dir = tmp_path / f"run{i}"
        assert dt_main(["hf", "import", str(path), "--out", str(run_dir), "--stats", str(tmp_path / stats),
                        "--reward-scale", "500", "--env-id", "Hopper-v5"]) == 0
        meta = load_run(run_dir).meta
        assert meta.state_mean == mean.tolist() and meta.state_std == std.tolist()
        assert meta.reward_scale == 500 and meta.env_id == "Hopper-v5" and meta.model_kind == "dt"
        assert meta.extra["hf_config"]["hidden_size"] == 32

    # our export records them in config.json (dt_meta), so a re-import needs no arguments
    export_hf(tmp_path / "run0", tmp_path / "back")
    import_hf(tmp_path / "back", tmp_path / "run_again")
    again = load_run(tmp_path / "run_again").meta
    assert again.state_std == std.tolist() and again.reward_scale == 500 and again.env_id == "Hopper-v5"


def test_import_without_stats_warns_and_records_identity(tmp_path):
    _, path = make_hf(tmp_path)
    with pytest.warns(UserWarning, match="no state statistics"):
        import_hf(path, tmp_path / "run")
    meta = load_run(tmp_path / "run").meta
    assert meta.state_mean == [0.0] * S and meta.state_std == [1.0] * S and meta.reward_scale == 1000.0


def test_cli_rejects_conflicting_stats(tmp_path, capsys):
    _, path = make_hf(tmp_path)
    (tmp_path / "s.json").write_text(json.dumps({"state_mean": [0] * S, "state_std": [1] * S}))
    rc = dt_main(["hf", "import", str(path), "--out", str(tmp_path / "r"), "--stats", str(tmp_path / "s.json"),
                  "--state-mean", *["0"] * S, "--state-std", *["1"] * S])
    assert rc == 2 and "not both" in capsys.readouterr().err


def test_differing_dropouts_warn(tmp_path):
    _, path = make_hf(tmp_path, attn_pdrop=0.0)
    with pytest.warns(UserWarning, match="dropout rates differ"):
        model = load_hf(path)
    assert model.config.dropout == 0.1


# ------------------------------------------------------------------------------------- bad input


def _edit_config(path, **changes):
    cfg = json.loads((path / "config.json").read_text())
    for k, v in changes.items():
        if v is KeyError:
            del cfg[k]
        else:
            cfg[k] = v
    (path / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("changes, message", [
    (dict(hidden_size=KeyError), r"missing field\(s\) \['hidden_size'\]"),
    (dict(state_dim=6), r"tensor 'embed_state.weight' has shape \(32, 5\) but .*config.json implies \(32, 6\)"),
    (dict(activation_function="silu"), "activation_function='silu' is not supported"),
    (dict(n_inner=50), "n_inner=50 is not supported"),
    (dict(layer_norm_epsilon=1e-6), "layer_norm_epsilon=1e-06 is not supported"),
    (dict(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx=True is not supported"),
    (dict(reorder_and_upcast_attn=True), "reorder_and_upcast_attn=True is not supported"),
    (dict(model_type="gpt2"), "model_type='gpt2'"),
    (dict(n_layer=3), r"missing tensor\(s\) \['encoder.h.2"),
])
def test_bad_config_gives_clear_error(tmp_path, changes, message):
    _, path = make_hf(tmp_path)
    _edit_config(path, **changes)
    with pytest.raises(HFFormatError, match=message) as err:
        load_hf(path)
    assert str(path) in str(err.value)


def test_add_cross_attention_is_refused(tmp_path):
    _, path = make_hf(tmp_path)
    _edit_config(path, add_cross_attention=True)
    with pytest.raises(HFFormatError, match="add_cross_attention=True is not supported"):
        load_hf(path)


def test_directory_without_weights_or_config(tmp_path, capsys):
    _, path = make_hf(tmp_path)
    (path / "model.safetensors").unlink()
    with pytest.raises(HFFormatError, match="no weights found; expected one of"):
        load_hf(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HFFormatError, match="config.json: missing"):
        load_hf(tmp_path / "empty")
    assert dt_main(["hf", "import", str(path), "--out", str(tmp_path / "r")]) == 2
    assert "no weights found" in capsys.readouterr().err


def test_unexpected_tensor_is_refused(tmp_path):
    _, path = make_hf(tmp_path)
    state = load_file(str(path / "model.safetensors"))
    state["encoder.h.0.crossattention.c_attn.weight"] = torch.zeros(32, 64)
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(HFFormatError, match="unexpected tensor"):
        load_hf(path)


def test_export_refuses_directory_with_other_weights(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pytorch_model.bin").write_bytes(b"old")
    with pytest.raises(HFFormatError, match="already holds"):
        save_hf(_our_model(), tmp_path / "out")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_hf(_our_model(), tmp_path / "fresh")  # a complete model exports without warnings


# --------------------------------------------------------------------------------- in an environment


def _transformers_rollout(model, env_id, seed, target, scale, mean, std, K):
    """The HF example's acting loop (normalized states, returns-to-go / scale, zero left padding)."""
    import gymnasium as gym

    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    A = env.action_space.shape[0]
    states, actions, rtg, ts = [obs], [], [target / scale], [0]
    total, steps = 0.0, 0
    while True:
        actions.append(np.zeros(A, np.float32))
        n = min(len(states), K)
        pad = K - n
        s = ((np.asarray(states[-n:], np.float32) - mean) / std).astype(np.float32)
        x = dict(
            states=torch.from_numpy(np.concatenate([np.zeros((pad, s.shape[1]), np.float32), s]))[None],
            actions=torch.from_numpy(np.concatenate([np.zeros((pad, A), np.float32), np.asarray(actions[-n:])]))[None],
            returns_to_go=torch.tensor([0.0] * pad + rtg[-n:], dtype=torch.float32).view(1, K, 1),
            timesteps=torch.tensor([0] * pad + ts[-n:]).view(1, K),
            attention_mask=torch.tensor([0] * pad + [1] * n).view(1, K),
        )
        a = hf_out(model, x).action_preds[0, -1].numpy()
        a = np.clip(a, env.action_space.low, env.action_space.high)
        actions[-1] = a
        obs, r, term, trunc, _ = env.step(a)
        total, steps = total + float(r), steps + 1
        if term or trunc:
            return total, steps
        states.append(obs)
        rtg.append(float(np.float32(rtg[-1]) - np.float32(r / scale)))
        ts.append(min(steps, 999))


def test_imported_model_acts_like_transformers_in_hopper(tmp_path):
    from decision_transformer.evaluate import evaluate

    hf, path = make_hf(tmp_path, state_dim=11, act_dim=3, max_ep_len=1000)
    mean = np.linspace(-0.5, 1.5, 11).astype(np.float32)
    std = np.linspace(0.2, 3.0, 11).astype(np.float32)
    import_hf(path, tmp_path / "run", state_mean=mean, state_std=std, env_id="Hopper-v5", context_len=5)
    res = evaluate(load_run(tmp_path / "run"), "Hopper-v5", [3600.0], num_episodes=2, num_envs=1, seed=7,
                   progress=False)[0]
    assert min(res.lengths) > 5  # longer than the context: the window rolls
    for e in range(2):
        ret, length = _transformers_rollout(hf, "Hopper-v5", 7 + e, 3600.0, 1000.0, mean, std, K=5)
        assert res.lengths[e] == length
        assert res.returns[e] == pytest.approx(ret, rel=1e-4)
