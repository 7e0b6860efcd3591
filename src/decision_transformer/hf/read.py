"""Reading an HF checkpoint directory into our `DecisionTransformer` (names, shapes, the wpe[0] fold)."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from ..config import DTConfig
from ..model import DecisionTransformer
from .format import (
    _ACT_FROM_HF, _BLOCK_MAP, _LEGACY_BUFFERS, _TOP_LEVEL, EXTRA_PREFIX, HF_DEFAULTS, META_KEY, REQUIRED_FIELDS,
    WEIGHT_FILES, HFCheckpoint, HFFormatError, check_dt_meta, check_state_stats,
)


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
    dt_meta = check_dt_meta(raw_cfg.get(META_KEY), cfg_path)
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
    source = str(hf_dir) if given else f"{Path(hf_dir) / 'config.json'}: field {META_KEY!r}"
    return (check_state_stats(mean, "state_mean", ckpt.state_dim, source),
            check_state_stats(std, "state_std", ckpt.state_dim, source))
