"""Hugging Face `transformers.DecisionTransformerModel` checkpoints <-> our `DecisionTransformer`, exactly.

An HF checkpoint is a directory with `config.json` (DecisionTransformerConfig fields) and weights in
`model.safetensors` or `pytorch_model.bin` (sharded `*.index.json` variants too). Reading and writing
needs only safetensors and torch; `transformers` itself is used by the tests, never here.

Facts this module relies on (each checked by tests/test_hf.py against the real `transformers`):
  * GPT-2 `Conv1D` stores its weight as (in, out): the transpose of `nn.Linear.weight` (out, in).
  * `attn.c_attn` packs q, k, v along its output dimension, in that order, as our `attn.qkv` does.
  * HF's encoder adds the position embedding `wpe[0]` to every token (the DT calls it with
    position_ids all zero), after `embed_ln` and before dropout. We have no such embedding, so import
    folds `wpe[0]` into `embed_ln.bias`; export writes `embed_ln.bias - wpe[0]` (bit-exactly the original
    bias when the model is unchanged since import) together with the original `wpe`, or zeros.
  * `encoder.wte` and the rest of `wpe` are never used by the DT; they are kept as extra tensors
    (`hf.`-prefixed) so that import then export reproduces every tensor.
  * Legacy checkpoints carry `attn.bias` / `attn.masked_bias` buffers: ignored.
  * Checkpoints trained with the original kzl/decision-transformer code name the GPT-2 `transformer.`
    instead of `encoder.` and have no `wpe` (nothing is added).
  * HF configs carry no state mean/std: import takes them as arguments. Our exports add them, with the
    reward scale, under the config key `dt_meta`, which transformers keeps and ignores.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .atomic import atomic_path, write_text
from .config import DTConfig
from .model import DecisionTransformer

SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
PT_BIN, PT_BIN_INDEX = "pytorch_model.bin", "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFETENSORS, SAFETENSORS_INDEX, PT_BIN, PT_BIN_INDEX)
META_KEY = "dt_meta"
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


# ----------------------------------------------------------------------------------------------- read


def read_hf_config(hf_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(hf_dir) / "config.json"
    if not Path(hf_dir).is_dir():
        raise HFFormatError(f"{hf_dir}: not a directory (expected an HF checkpoint with config.json and weights)")
    try:
        cfg = json.loads(path.read_text())
    except FileNotFoundError:
        raise HFFormatError(f"{path}: missing; an HF checkpoint directory needs config.json") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise HFFormatError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(cfg, dict):
        raise HFFormatError(f"{path}: expected a JSON object")
    return cfg


def _int_field(cfg: dict, name: str, source: str) -> int:
    value = cfg[name]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise HFFormatError(f"{source}: field {name!r}={value!r}; expected a positive integer")
    return value


def config_from_hf(cfg: dict[str, Any], source: str, context_len: int = 20) -> tuple[DTConfig, int, int]:
    """Our DTConfig, state_dim and act_dim for an HF config dict; unsupported settings raise."""
    model_type = cfg.get("model_type", "decision_transformer")
    if model_type != "decision_transformer":
        raise HFFormatError(f"{source}: model_type={model_type!r}; expected 'decision_transformer'")
    missing = [k for k in REQUIRED_FIELDS if k not in cfg]
    if missing:
        raise HFFormatError(
            f"{source}: missing field(s) {missing}; a DecisionTransformerConfig needs {list(REQUIRED_FIELDS)}")
    ints = {k: _int_field(cfg, k, source) for k in REQUIRED_FIELDS}
    get = lambda k: cfg.get(k, HF_DEFAULTS[k])  # noqa: E731
    C = ints["hidden_size"]
    if C % ints["n_head"]:
        raise HFFormatError(f"{source}: hidden_size={C} is not divisible by n_head={ints['n_head']}")
    act = get("activation_function")
    if act not in _ACT_FROM_HF:
        raise HFFormatError(
            f"{source}: activation_function={act!r} is not supported; expected one of {sorted(_ACT_FROM_HF)}")
    n_inner = get("n_inner")
    if n_inner is None:
        mlp_ratio = 4
    elif isinstance(n_inner, bool) or not isinstance(n_inner, int) or n_inner <= 0 or n_inner % C:
        raise HFFormatError(
            f"{source}: n_inner={n_inner!r} is not supported; our MLP width is mlp_ratio * hidden_size, so n_inner "
            f"must be null or a positive multiple of hidden_size={C}"
        )
    else:
        mlp_ratio = n_inner // C
    eps = get("layer_norm_epsilon")
    if not isinstance(eps, (int, float)) or not math.isclose(eps, 1e-5, rel_tol=1e-9):
        raise HFFormatError(
            f"{source}: layer_norm_epsilon={eps!r} is not supported; expected 1e-05 (our LayerNorms use it)")
    for flag, want in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False),
                       ("reorder_and_upcast_attn", False), ("add_cross_attention", False)):
        if bool(get(flag)) != want:
            raise HFFormatError(f"{source}: {flag}={get(flag)!r} is not supported; expected {want}")
    for name in ("vocab_size", "n_positions"):
        _int_field({name: get(name)}, name, source)
    pdrops = {k: get(k) for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}
    for k, v in pdrops.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
            raise HFFormatError(f"{source}: {k}={v!r}; expected a number in [0, 1)")
    if len(set(pdrops.values())) > 1:
        warnings.warn(
            f"{source}: dropout rates differ {pdrops}; our model has a single dropout and takes "
            f"resid_pdrop={pdrops['resid_pdrop']} (only training is affected; the originals are kept for export)",
            stacklevel=3,
        )
    if not isinstance(get("action_tanh"), bool):
        raise HFFormatError(f"{source}: action_tanh={get('action_tanh')!r}; expected true or false")
    config = DTConfig(
        context_len=context_len, embed_dim=C, n_layer=ints["n_layer"], n_head=ints["n_head"], mlp_ratio=mlp_ratio,
        activation=_ACT_FROM_HF[act], dropout=float(pdrops["resid_pdrop"]), max_ep_len=ints["max_ep_len"],
        discrete_actions=False, action_tanh=get("action_tanh"), condition_on_return=True,
        predict_state=True, predict_return=True,
    )
    return config, ints["state_dim"], ints["act_dim"]


def read_hf_weights(hf_dir: str | os.PathLike) -> tuple[dict[str, torch.Tensor], Path]:
    """The raw tensors of an HF checkpoint and the file they came from (safetensors preferred)."""
    hf_dir = Path(hf_dir)
    for name in WEIGHT_FILES:
        path = hf_dir / name
        if path.is_file():
            break
    else:
        present = sorted(p.name for p in hf_dir.iterdir()) if hf_dir.is_dir() else []
        raise HFFormatError(
            f"{hf_dir}: no weights found; expected one of {list(WEIGHT_FILES)} (directory holds {present})")
    if name.endswith(".index.json"):
        try:
            weight_map = json.loads(path.read_text())["weight_map"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise HFFormatError(
                f"{path}: unreadable shard index; expected a JSON object with 'weight_map' ({exc})") from exc
        tensors: dict[str, torch.Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(_read_weight_file(hf_dir / shard))
        return tensors, path
    return _read_weight_file(path), path


def _read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise HFFormatError(f"{path}: missing weight file")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise HFFormatError(f"{path}: unreadable weights ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HFFormatError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    return dict(state)


def _expected_hf_shapes(cfg: DTConfig, S: int, A: int, prefix: str) -> dict[str, tuple[int, ...]]:
    C, I = cfg.embed_dim, cfg.mlp_ratio * cfg.embed_dim
    shapes = {
        "embed_timestep.weight": (cfg.max_ep_len, C), "embed_return.weight": (C, 1), "embed_return.bias": (C,),
        "embed_state.weight": (C, S), "embed_state.bias": (C,), "embed_action.weight": (C, A),
        "embed_action.bias": (C,), "embed_ln.weight": (C,), "embed_ln.bias": (C,),
        "predict_action.0.weight": (A, C), "predict_action.0.bias": (A,), "predict_state.weight": (S, C),
        "predict_state.bias": (S,), "predict_return.weight": (1, C), "predict_return.bias": (1,),
        f"{prefix}ln_f.weight": (C,), f"{prefix}ln_f.bias": (C,),
    }
    block = {"ln_1.weight": (C,), "ln_1.bias": (C,), "attn.c_attn.weight": (C, 3 * C), "attn.c_attn.bias": (3 * C,),
             "attn.c_proj.weight": (C, C), "attn.c_proj.bias": (C,), "ln_2.weight": (C,), "ln_2.bias": (C,),
             "mlp.c_fc.weight": (C, I), "mlp.c_fc.bias": (I,), "mlp.c_proj.weight": (I, C), "mlp.c_proj.bias": (C,)}
    for i in range(cfg.n_layer):
        shapes.update({f"{prefix}h.{i}.{k}": v for k, v in block.items()})
    return shapes


def read_hf(hf_dir: str | os.PathLike, context_len: int | None = None) -> HFCheckpoint:
    """Read and validate an HF checkpoint directory and translate it to our names."""
    raw_cfg = read_hf_config(hf_dir)
    cfg_path = f"{Path(hf_dir) / 'config.json'}"
    dt_meta = raw_cfg.get(META_KEY) or {}
    if not isinstance(dt_meta, dict) or not isinstance(dt_meta.get("context_len", 20), int):
        raise HFFormatError(f"{cfg_path}: field {META_KEY!r} must be an object with an integer context_len")
    hf_config = {k: v for k, v in raw_cfg.items() if k != META_KEY}
    config, S, A = config_from_hf(hf_config, cfg_path, context_len or int(dt_meta.get("context_len", 20)))
    tensors, wpath = read_hf_weights(hf_dir)
    prefix = "transformer." if any(k.startswith("transformer.") for k in tensors) else "encoder."
    expected = _expected_hf_shapes(config, S, A, prefix)
    optional = {f"{prefix}wte.weight": (hf_config.get("vocab_size", 1), config.embed_dim),
                f"{prefix}wpe.weight": (hf_config.get("n_positions", 1024), config.embed_dim)}
    missing = sorted(set(expected) - set(tensors))
    if missing:
        more = " ..." if len(missing) > 8 else ""
        raise HFFormatError(f"{wpath}: missing tensor(s) {missing[:8]}{more} for the config in {cfg_path}")
    known = expected.keys() | optional.keys()
    unexpected = sorted(k for k in tensors if k not in known and not k.endswith(_LEGACY_BUFFERS))
    if unexpected:
        raise HFFormatError(f"{wpath}: unexpected tensor(s) {unexpected[:8]}; not part of a DecisionTransformerModel")
    for k, shape in {**expected, **optional}.items():
        if k in tensors and tuple(tensors[k].shape) != shape:
            raise HFFormatError(
                f"{wpath}: tensor {k!r} has shape {tuple(tensors[k].shape)} but {cfg_path} implies {shape}"
            )
    t = {k: v.to(torch.float32) for k, v in tensors.items() if k in expected or k in optional}
    ours = {k: t[k] for k in _TOP_LEVEL}
    ours["ln_f.weight"], ours["ln_f.bias"] = t[f"{prefix}ln_f.weight"], t[f"{prefix}ln_f.bias"]
    for i in range(config.n_layer):
        for our_name, (hf_name, transposed) in _BLOCK_MAP.items():
            v = t[f"{prefix}h.{i}.{hf_name}"]
            ours[f"blocks.{i}.{our_name}"] = v.t().contiguous() if transposed else v
    extra = {}
    wpe = t.get(f"{prefix}wpe.weight")
    if wpe is None and prefix == "encoder.":
        warnings.warn(f"{wpath}: no encoder.wpe.weight; assuming zeros (transformers would initialise it at random)",
                      stacklevel=2)
    if wpe is not None:
        extra[EXTRA_PREFIX + "encoder.wpe.weight"] = wpe
        extra[EXTRA_PREFIX + "embed_ln.bias"] = ours["embed_ln.bias"]  # the unfolded original, for bit-exact export
        ours["embed_ln.bias"] = ours["embed_ln.bias"] + wpe[0]
    if f"{prefix}wte.weight" in t:
        extra[EXTRA_PREFIX + "encoder.wte.weight"] = t[f"{prefix}wte.weight"]
    return HFCheckpoint(config, S, A, ours, extra, hf_config, dict(dt_meta), prefix)


def check_state_stats(values: Any, name: str, state_dim: int, source: str) -> np.ndarray:
    """`values` as a float64 (state_dim,) array, or an error naming `source` and `name`."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.shape != (state_dim,):
        raise HFFormatError(f"{source}: {name} has {arr.size} values; expected state_dim={state_dim}")
    if not np.all(np.isfinite(arr)):
        raise HFFormatError(f"{source}: {name} contains non-finite values")
    if name == "state_std" and np.any(arr <= 0):
        raise HFFormatError(f"{source}: state_std must be positive")
    return arr


def load_hf(hf_dir: str | os.PathLike, state_mean: Any = None, state_std: Any = None,
            context_len: int | None = None) -> DecisionTransformer:
    """Our DecisionTransformer (eval mode) from an HF checkpoint directory.

    `state_mean` / `state_std` (length state_dim) are validated and recorded as the numpy attributes
    `model.state_mean` / `model.state_std`; when omitted they come from the config's `dt_meta` (our
    exports) or stay None. The model expects states already normalized with them."""
    ckpt = read_hf(hf_dir, context_len)
    model = DecisionTransformer(ckpt.config, ckpt.state_dim, ckpt.act_dim)
    model.load_state_dict(ckpt.state_dict, strict=True)
    model.eval()
    mean, std = resolve_state_stats(ckpt, state_mean, state_std, hf_dir)
    model.state_mean = None if mean is None else mean.astype(np.float32)
    model.state_std = None if std is None else std.astype(np.float32)
    return model


def resolve_state_stats(ckpt: HFCheckpoint, state_mean: Any, state_std: Any, hf_dir: str | os.PathLike):
    """(mean, std) float64 arrays from the arguments, else the config's `dt_meta`, else (None, None)."""
    given = state_mean is not None or state_std is not None
    mean, std = (state_mean, state_std) if given else (ckpt.dt_meta.get("state_mean"), ckpt.dt_meta.get("state_std"))
    if (mean is None) != (std is None):
        raise HFFormatError(f"{hf_dir}: give both state_mean and state_std, or neither")
    if mean is None:
        return None, None
    return (check_state_stats(mean, "state_mean", ckpt.state_dim, str(hf_dir)),
            check_state_stats(std, "state_std", ckpt.state_dim, str(hf_dir)))


# ---------------------------------------------------------------------------------------------- write


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
            reward_scale: float | None = None, env_id: str = "") -> Path:
    """Write `config.json` + `model.safetensors` that `DecisionTransformerModel.from_pretrained` loads.

    `hf_config` / `extra_tensors` (from an import) restore what our model does not hold. State stats
    (default: `model.state_mean`/`model.state_std` if set), reward scale, env id and context_len go to the
    config key `dt_meta`."""
    hf_dir = Path(hf_dir)
    hf_dir.mkdir(parents=True, exist_ok=True)
    stale = [n for n in WEIGHT_FILES if n != SAFETENSORS and (hf_dir / n).exists()]
    if stale:
        raise HFFormatError(f"{hf_dir}: already holds {stale}; export into an empty directory so no stale weights load")
    config = hf_config_for(model, hf_config)
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
    config[META_KEY] = meta
    with atomic_path(hf_dir / SAFETENSORS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    write_text(hf_dir / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    return hf_dir
