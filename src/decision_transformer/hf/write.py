"""Writing our `DecisionTransformer` as an HF checkpoint that `DecisionTransformerModel.from_pretrained` loads."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..common.atomic import atomic_path, write_text
from ..config import DTConfig
from ..model import DecisionTransformer
from .format import (
    _ACT_FROM_HF, _BLOCK_MAP, _TOP_LEVEL, EXTRA_PREFIX, HF_DEFAULTS, META_KEY, SAFETENSORS, WEIGHT_FILES,
    HFFormatError, check_state_stats,
)


def _check_exportable(model: torch.nn.Module) -> DTConfig:
    if not isinstance(model, DecisionTransformer):
        raise HFFormatError(f"only a DecisionTransformer can be exported to Hugging Face, got {type(model).__name__}")
    cfg = model.config
    if cfg.discrete_actions or not cfg.condition_on_return or not isinstance(model.state_dim, int):
        raise HFFormatError(
            "transformers.DecisionTransformerModel has continuous actions, vector states and return tokens; this "
            f"model has discrete_actions={cfg.discrete_actions}, condition_on_return={cfg.condition_on_return}, "
            f"state_dim={model.state_dim}"
        )
    if cfg.attention_window:
        raise HFFormatError(f"transformers.DecisionTransformerModel has full causal attention; this model is banded "
                            f"(attention_window={cfg.attention_window}) and would act differently there")
    if cfg.position_embedding:
        raise HFFormatError("transformers.DecisionTransformerModel has no per-token position embedding; this model "
                            "has one (position_embedding=True)")
    if cfg.embed_norm != "layernorm":
        raise HFFormatError("transformers.DecisionTransformerModel LayerNorms its token embeddings (embed_ln); this "
                            f"model has embed_norm={cfg.embed_norm!r}")
    if cfg.return_head != "none" or cfg.stochastic_policy:
        raise HFFormatError("transformers.DecisionTransformerModel has the token order R, s, a and a deterministic action "
                            f"head; this model has return_head={cfg.return_head!r}, stochastic_policy={cfg.stochastic_policy}")
    return cfg


def hf_state_dict(model: DecisionTransformer, extra_tensors: dict[str, torch.Tensor] | None = None,
                  n_positions: int = 1024, vocab_size: int = 1) -> dict[str, torch.Tensor]:
    """HF tensors for our model: the inverse of `read_hf` (extra `hf.` tensors restore wte/wpe)."""
    cfg = _check_exportable(model)
    extra = {k[len(EXTRA_PREFIX):]: v for k, v in (extra_tensors or {}).items() if k.startswith(EXTRA_PREFIX)}
    sd = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    C, S = cfg.embed_dim, model.state_dim
    wpe = extra.get("encoder.wpe.weight", torch.zeros(n_positions, C))
    wte = extra.get("encoder.wte.weight", torch.zeros(vocab_size, C))
    for name, t, want in (("wpe", wpe, C), ("wte", wte, C)):
        if t.ndim != 2 or t.shape[1] != want:
            raise HFFormatError(
                f"extra tensor hf.encoder.{name}.weight has shape {tuple(t.shape)}; expected (*, {want})")
    out = {k: sd[k] for k in _TOP_LEVEL if k in sd}
    original_bias = extra.get("embed_ln.bias")
    if original_bias is not None and torch.equal(original_bias + wpe[0], sd["embed_ln.bias"]):
        out["embed_ln.bias"] = original_bias  # unchanged since import: the original, bit for bit
    else:
        out["embed_ln.bias"] = sd["embed_ln.bias"] - wpe[0]
    if model.predict_state is None or model.predict_return is None:
        warnings.warn("model has no predict_state/predict_return head; writing zeros for the missing head(s)",
                      stacklevel=3)
        out.setdefault("predict_state.weight", torch.zeros(S, C))
        out.setdefault("predict_state.bias", torch.zeros(S))
        out.setdefault("predict_return.weight", torch.zeros(1, C))
        out.setdefault("predict_return.bias", torch.zeros(1))
    out["encoder.ln_f.weight"], out["encoder.ln_f.bias"] = sd["ln_f.weight"], sd["ln_f.bias"]
    out["encoder.wpe.weight"], out["encoder.wte.weight"] = wpe, wte
    for i in range(cfg.n_layer):
        for our_name, (hf_name, transposed) in _BLOCK_MAP.items():
            v = sd[f"blocks.{i}.{our_name}"]
            out[f"encoder.h.{i}.{hf_name}"] = v.t() if transposed else v
    return {k: v.contiguous() for k, v in out.items()}


def hf_config_for(model: DecisionTransformer, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json contents for our model; `base` (an imported HF config) supplies the fields we do not model."""
    cfg = _check_exportable(model)
    out = dict(HF_DEFAULTS, bos_token_id=50256, eos_token_id=50256, initializer_range=0.02, use_cache=True)
    for k, v in (base or {}).items():
        if k not in (META_KEY, "torch_dtype", "transformers_version", "_name_or_path"):
            out[k] = v
    act = out.get("activation_function")
    if _ACT_FROM_HF.get(act) != cfg.activation:
        out["activation_function"] = cfg.activation
    base_ratio_ok = out.get("n_inner") is None and cfg.mlp_ratio == 4
    out.update(
        model_type="decision_transformer", architectures=["DecisionTransformerModel"], state_dim=model.state_dim,
        act_dim=model.act_dim, hidden_size=cfg.embed_dim, n_layer=cfg.n_layer, n_head=cfg.n_head,
        n_inner=None if base_ratio_ok else cfg.mlp_ratio * cfg.embed_dim, max_ep_len=cfg.max_ep_len,
        action_tanh=cfg.action_tanh, layer_norm_epsilon=1e-5, scale_attn_weights=True,
        scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False, add_cross_attention=False,
        dtype="float32",
    )
    if out.get("resid_pdrop") != cfg.dropout:
        out.update(resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout)
    return out


def save_hf(model: DecisionTransformer, hf_dir: str | os.PathLike, *, hf_config: dict[str, Any] | None = None,
            extra_tensors: dict[str, torch.Tensor] | None = None, state_mean: Any = None, state_std: Any = None,
            reward_scale: float | None = None, env_id: str = "", max_return: float | None = None) -> Path:
    """Write `config.json` + `model.safetensors` that `DecisionTransformerModel.from_pretrained` loads.

    `hf_config` / `extra_tensors` (from an import) restore what our model does not hold. State stats
    (default: `model.state_mean`/`model.state_std` if set), reward scale, env id, context_len and the data's best
    return (`max_return`, a run's default target) go to the config key `dt_meta`."""
    hf_dir = Path(hf_dir)
    stale = [n for n in WEIGHT_FILES if n != SAFETENSORS and (hf_dir / n).exists()]
    if stale:
        raise HFFormatError(f"{hf_dir}: already holds {stale}; export into an empty directory so no stale weights load")
    config = hf_config_for(model, hf_config)  # refuses a model HF cannot hold: before the directory is made
    hf_dir.mkdir(parents=True, exist_ok=True)
    extra = dict(extra_tensors or {})
    if EXTRA_PREFIX + "encoder.wpe.weight" in extra:
        config["n_positions"] = int(extra[EXTRA_PREFIX + "encoder.wpe.weight"].shape[0])
    if EXTRA_PREFIX + "encoder.wte.weight" in extra:
        config["vocab_size"] = int(extra[EXTRA_PREFIX + "encoder.wte.weight"].shape[0])
    tensors = hf_state_dict(model, extra, config["n_positions"], config["vocab_size"])
    mean = state_mean if state_mean is not None else getattr(model, "state_mean", None)
    std = state_std if state_std is not None else getattr(model, "state_std", None)
    meta: dict[str, Any] = {"context_len": model.config.context_len}
    if mean is not None and std is not None:
        meta["state_mean"] = check_state_stats(mean, "state_mean", model.state_dim, str(hf_dir)).tolist()
        meta["state_std"] = check_state_stats(std, "state_std", model.state_dim, str(hf_dir)).tolist()
    if reward_scale is not None:
        meta["reward_scale"] = float(reward_scale)
    if env_id:
        meta["env_id"] = env_id
    if max_return is not None:
        meta["max_return"] = float(max_return)
    config[META_KEY] = meta
    with atomic_path(hf_dir / SAFETENSORS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    write_text(hf_dir / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    return hf_dir
