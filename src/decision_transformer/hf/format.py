"""The facts of the Hugging Face Decision Transformer format that reading and writing share: file names,
config defaults, the tensor-name map, and the translated checkpoint (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import DTConfig

SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
PT_BIN, PT_BIN_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, PT_BIN, PT_BIN_INDEX)
META_KEY = "dt_meta"
DT_META_FIELDS = {
    "context_len": "a positive integer", "state_mean": "a list of finite numbers",
    "state_std": "a list of finite positive numbers", "reward_scale": "a finite number > 0", "env_id": "a string",
    "max_return": "a finite number",
}
"""The keys our exports write under `dt_meta` in config.json, and what each must hold. `max_return`: the training
data's best episode return, `dt eval`'s default target (since 2026-12-07; a reader before then refuses the key)."""
EXTRA_PREFIX = "hf."
DEFAULT_REWARD_SCALE = 1000.0
"""The HF Decision Transformer examples divide gym MuJoCo returns by 1000."""

REQUIRED_FIELDS = ("state_dim", "act_dim", "hidden_size", "n_layer", "n_head", "max_ep_len")
# DecisionTransformerConfig class defaults (transformers 4.x-5.x), used for absent optional fields,
# as `from_pretrained` does.
HF_DEFAULTS: dict[str, Any] = {
    "action_tanh": True, "vocab_size": 1, "n_positions": 1024, "n_inner": None, "activation_function": "relu",
    "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "layer_norm_epsilon": 1e-5,
    "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
    "add_cross_attention": False,
}
_ACT_FROM_HF = {"relu": "relu", "gelu": "gelu", "gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new"}
# Per-block tensors: our name -> (HF name, stored transposed as a Conv1D).
_BLOCK_MAP = {
    "ln_1.weight": ("ln_1.weight", False), "ln_1.bias": ("ln_1.bias", False),
    "attn.qkv.weight": ("attn.c_attn.weight", True), "attn.qkv.bias": ("attn.c_attn.bias", False),
    "attn.proj.weight": ("attn.c_proj.weight", True), "attn.proj.bias": ("attn.c_proj.bias", False),
    "ln_2.weight": ("ln_2.weight", False), "ln_2.bias": ("ln_2.bias", False),
    "mlp.fc.weight": ("mlp.c_fc.weight", True), "mlp.fc.bias": ("mlp.c_fc.bias", False),
    "mlp.proj.weight": ("mlp.c_proj.weight", True), "mlp.proj.bias": ("mlp.c_proj.bias", False),
}
_TOP_LEVEL = (
    "embed_timestep.weight", "embed_return.weight", "embed_return.bias", "embed_state.weight", "embed_state.bias",
    "embed_action.weight", "embed_action.bias", "embed_ln.weight", "embed_ln.bias",
    "predict_action.0.weight", "predict_action.0.bias", "predict_state.weight", "predict_state.bias",
    "predict_return.weight", "predict_return.bias",
)
_LEGACY_BUFFERS = (".attn.bias", ".attn.masked_bias")


class HFFormatError(ValueError):
    """An HF checkpoint we cannot read or write exactly; the message names the file and the field."""


@dataclass
class HFCheckpoint:
    """An HF checkpoint translated to our names (see `read_hf`)."""

    config: DTConfig
    state_dim: int
    act_dim: int
    state_dict: dict[str, torch.Tensor]
    """Our DecisionTransformer's state dict, wpe[0] folded into embed_ln.bias."""
    extra_tensors: dict[str, torch.Tensor]
    """HF tensors our model does not use (`hf.`-prefixed), kept for an exact export."""
    hf_config: dict[str, Any]
    """The config.json contents (without `dt_meta`)."""
    dt_meta: dict[str, Any] = field(default_factory=dict)
    """State statistics etc. that our own exports store in config.json; empty for hub checkpoints."""
    prefix: str = "encoder."
    """'encoder.' (transformers) or 'transformer.' (the original kzl code)."""


def check_dt_meta(meta: Any, source: str) -> dict[str, Any]:
    """The config's `dt_meta` (our exports' state statistics, reward scale, env id, K, max_return) checked against its
    schema; {} when absent. The lengths of the state statistics are checked against state_dim later (`check_state_stats`)."""
    if meta is None:
        return {}
    where = f"{source}: field {META_KEY!r}"
    if not isinstance(meta, dict):
        raise HFFormatError(f"{where} is {meta!r}; expected an object")
    unknown = sorted(set(meta) - set(DT_META_FIELDS))
    if unknown:
        raise HFFormatError(f"{where} has unknown key(s) {unknown}; expected some of {list(DT_META_FIELDS)}")
    for key, value in meta.items():
        ok = {
            "context_len": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "state_mean": lambda v: isinstance(v, list) and all(_finite(x) for x in v),
            "state_std": lambda v: isinstance(v, list) and all(_finite(x) and x > 0 for x in v),
            "reward_scale": lambda v: _finite(v) and v > 0,
            "env_id": lambda v: isinstance(v, str),
            "max_return": _finite,
        }[key](value)
        if not ok:
            text = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
            raise HFFormatError(f"{where}: {key!r} is {text}; expected {DT_META_FIELDS[key]}")
    return dict(meta)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def check_state_stats(values: Any, name: str, state_dim: int, source: str) -> np.ndarray:
    """`values` as a float64 (state_dim,) array, or an error naming `source` and `name`."""
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (ValueError, TypeError) as exc:
        raise HFFormatError(f"{source}: {name} is not a list of numbers ({exc})") from None
    if arr.shape != (state_dim,):
        raise HFFormatError(f"{source}: {name} has {arr.size} values; expected state_dim={state_dim}")
    if not np.all(np.isfinite(arr)):
        raise HFFormatError(f"{source}: {name} contains non-finite values")
    if name == "state_std" and np.any(arr <= 0):
        raise HFFormatError(f"{source}: state_std must be positive")
    return arr
