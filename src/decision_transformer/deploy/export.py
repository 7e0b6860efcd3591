"""`export_onnx`: a run's model as ONNX graphs with its preprocessing in the metadata (`dt export`). Needs torch
and onnx; the runtime that reads the files (deploy/policy.py) needs neither torch nor this module.

Two graphs:

    FILE             the forward over a window: states (B, K, S) or (B, K, C, H, W) float32, actions (B, K, A)
                     float32 or (B, K) int64, [returns_to_go (B, K, 1) float32, 'dt' only], timesteps (B, K) int64,
                     attention_mask (B, K) int64 -> action_preds (B, K, A); B and K dynamic (K <= context_len
                     with a position embedding; timesteps in [0, max_ep_len), unchecked: a negative one reads the
                     embedding table from its end). 'mlp-bc' models read states and attention_mask only.
    FILE.step.onnx   banded models (attention_window > 0): one step against the key/value cache
                     (incremental.py's `decode_step`, the same code): state (B, *S), [returns_to_go (B, 1)],
                     prev_action (B, A) or (B,), timestep, prev_timestep, step (B,) int64, slot_step (B, slots)
                     int64, keys, values (layers, B, heads, slots, head_dim) -> action_preds (B, A), keys_out,
                     values_out, slot_step_out.

The full graph computes what `DecisionTransformer.forward` does, written without the shortcut `_embed` takes
when no step is padding (a branch on the data, which neither exporter can follow) and with the attention mask
built from comparisons (the TorchScript exporter's eye is not one onnxruntime runs): the same numbers, checked
against the PyTorch forward after every export (`verify`) and in tests/test_deploy.py. Likewise 'mlp-bc' builds
its windows from shifted slices rather than `unfold`, which the TorchScript exporter cannot export.

Exporters: `torchscript` (default; torch's legacy tracer, deprecated by torch but fast and needing nothing beyond
onnx) or `dynamo` (torch.export + onnxscript; about a minute for a small banded model).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import __version__

from ..common import atomic
from ..checkpoint import LoadedRun
from ..incremental import cache_shape, decode_step
from ..mlp_bc import MLPBC
from ..model import DecisionTransformer
from . import metadata
from .metadata import STEP_OUTPUTS, full_inputs, step_inputs

EXPORTERS = ("torchscript", "dynamo")


def step_graph_path(path: str | Path) -> Path:
    """FILE.onnx -> FILE.step.onnx: where the step graph of a banded model goes."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".onnx") + ".step.onnx")


def _attention_mask(real: torch.Tensor, P: int, W: int) -> torch.Tensor:
    """`model.causal_attention_mask` from comparisons: (B, 1, N, N), causal, banded when W > 0, never to a padded
    token, always to itself."""
    K = real.shape[1]
    idx = torch.arange(P * K, device=real.device)  # (N,)
    q, k = idx[:, None], idx[None, :]
    allowed = k <= q  # (N, N)
    if W:
        allowed = allowed & ((q // P - k // P) < W)
    return ((allowed[None] & real.repeat_interleave(P, dim=1)[:, None, :]) | (q == k)[None])[:, None]


def dt_forward(m: DecisionTransformer, states, actions, returns_to_go, timesteps, attention_mask) -> torch.Tensor:
    """`DecisionTransformer.forward` (B, K, A) in exportable form: always the padded path of `_embed`, which at
    real steps is the identity (padding is zeroed, the mask is the same)."""
    cfg = m.config
    P, W = cfg.tokens_per_step, cfg.attention_window
    B, K = timesteps.shape
    real = attention_mask.bool()  # (B, K)
    time_emb = m.embed_timestep(timesteps)  # (B, K, C)
    s_emb = m.embed_states(states) + time_emb  # (B, K, C)
    a_emb = m.embed_actions(actions) + time_emb  # (B, K, C)
    if cfg.condition_on_return:
        r_emb = m.embed_returns(returns_to_go) + time_emb
        toks = (r_emb, s_emb, a_emb) if getattr(cfg, "return_first", True) else (s_emb, r_emb, a_emb)  # see model.py
    else:
        toks = (s_emb, a_emb)
    tokens = torch.stack(toks, dim=2)  # (B, K, P, C)
    x = tokens.reshape(B, -1, tokens.shape[-1])  # (B, N, C)
    if m.embed_position is not None:
        pad = K - real.sum(dim=1, keepdim=True)  # (B, 1)
        step = (torch.arange(K, device=x.device) - pad).clamp(min=0)  # (B, K)
        position = step[..., None] * P + torch.arange(P, device=x.device)  # (B, K, P)
        x = x + m.embed_position(position.reshape(B, -1))
    x = torch.where(real.repeat_interleave(P, dim=1)[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
    mask = _attention_mask(real, P, W)  # (B, 1, N, N)
    x = m.embed_dropout(m.embed_ln(x))
    for block in m.blocks[:-1]:
        x = block(x, mask)
    read_tokens = slice(P - 2, None, P)  # the token before each a_t: s_t (R_t in the order s, R, a)
    x = m.blocks[-1](x, mask[:, :, read_tokens], query_index=read_tokens)  # (B, K, C)
    return m.predict_action(m.ln_f(x))


def mlp_bc_forward(m: MLPBC, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`MLPBC.forward` (B, K, A) in exportable form: the windows of L states as L shifted slices, not `unfold`."""
    L, K = m.config.context_len, states.shape[1]
    states = torch.where(attention_mask.bool()[..., None], states, states.new_zeros(()))
    padded = F.pad(states, (0, 0, L - 1, 0))  # (B, L-1+K, S): zeros before the first step
    windows = torch.cat([padded[:, i:i + K] for i in range(L)], dim=2)  # (B, K, L*S): oldest state first
    return m.net(windows)


class FullGraph(nn.Module):
    """forward(*inputs named by `full_inputs(kind)`) -> action_preds (B, K, A)."""

    def __init__(self, model: nn.Module, kind: str):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        x = dict(zip(full_inputs(self.kind), inputs))
        if self.kind == "mlp-bc":
            return mlp_bc_forward(self.model, x["states"], x["attention_mask"])
        return dt_forward(self.model, x["states"], x["actions"], x.get("returns_to_go"), x["timesteps"],
                          x["attention_mask"])

    def reference(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The model's own forward on the same inputs: what the graph must reproduce."""
        x = dict(zip(full_inputs(self.kind), inputs))
        if self.kind == "mlp-bc":
            return self.model(x["states"], attention_mask=x["attention_mask"])
        return self.model(x["states"], x["actions"], x.get("returns_to_go"), x["timesteps"], x["attention_mask"])


class StepGraph(nn.Module):
    """forward(*inputs named by `step_inputs(kind)`) -> (action_preds, keys_out, values_out, slot_step_out)."""

    def __init__(self, model: DecisionTransformer, kind: str):
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, *inputs: torch.Tensor):
        x = dict(zip(step_inputs(self.kind), inputs))
        return decode_step(self.model, x["keys"], x["values"], x["slot_step"], x["step"], x["state"],
                           x.get("returns_to_go"), x["prev_action"], x["timestep"], x["prev_timestep"])


def sample_full(meta: dict[str, Any], B: int, K: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the full graph (left padding in row 0 when K > 1), in `meta['inputs']` order."""
    g = torch.Generator().manual_seed(seed)
    A = meta["act_dim"]
    mask = torch.ones(B, K, dtype=torch.long)
    mask[0, : K // 2] = 0
    x = {"states": torch.randn(B, K, *meta["state_shape"], generator=g),
         "actions": torch.randint(0, A, (B, K), generator=g) if meta["discrete"] else torch.randn(B, K, A, generator=g),
         "returns_to_go": torch.randn(B, K, 1, generator=g),
         "timesteps": torch.randint(0, meta["max_ep_len"], (B, K), generator=g), "attention_mask": mask}
    return tuple(x[n] for n in meta["inputs"])


def sample_step(meta: dict[str, Any], B: int, t: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the step graph at step t (random caches, every slot from before t filled)."""
    g = torch.Generator().manual_seed(seed)
    A, c = meta["act_dim"], meta["cache"]
    P = 3 if meta["model_kind"] == "dt" else 2
    slots = torch.arange(c["slots"])
    steps = t - 1 - ((t - 1 - slots // P) % (meta["attention_window"] + 1))  # newest step held by each slot
    steps[(steps == t - 1) & (slots % P == P - 1)] = -1  # a_{t-1}: not yet known
    x = {"state": torch.randn(B, *meta["state_shape"], generator=g), "returns_to_go": torch.randn(B, 1, generator=g),
         "prev_action": torch.randint(0, A, (B,), generator=g) if meta["discrete"] else torch.randn(B, A, generator=g),
         "timestep": torch.full((B,), t), "prev_timestep": torch.full((B,), max(t - 1, 0)), "step": torch.full((B,), t),
         "slot_step": steps.clamp(min=-1).repeat(B, 1),
         "keys": torch.randn(c["layers"], B, c["heads"], c["slots"], c["head_dim"], generator=g),
         "values": torch.randn(c["layers"], B, c["heads"], c["slots"], c["head_dim"], generator=g)}
    return tuple(x[n] for n in meta["inputs"])


def _to_onnx(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str], dynamic: dict[str, dict[int, str]],
             opset: int, exporter: str, max_context: int | None) -> Any:
    """The traced graph as an onnx ModelProto."""
    import onnx

    module.eval()
    if exporter == "dynamo":
        names = {n for axes in dynamic.values() for n in axes.values()}
        dims = {n: torch.export.Dim(n, max=max_context) if n == "context" and max_context else torch.export.Dim(n)
                for n in names}
        shapes = tuple({axis: dims[n] for axis, n in dynamic.get(name, {}).items()} or None for name in inputs)
        program = torch.onnx.export(module, args, dynamo=True, input_names=inputs, output_names=outputs,
                                    dynamic_shapes=(shapes,), opset_version=opset, verbose=False)
        return program.model_proto
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation notice and tracer notes: expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, dynamo=False, input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def _ort_outputs(proto: Any, feeds: dict[str, Any]) -> list[Any]:
    from .session import _ort

    ort = _ort()
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _max_diff(module: nn.Module, proto: Any, meta: dict[str, Any], args: tuple) -> float:
    """Largest |onnxruntime - PyTorch| over the outputs: the full graph against the model's forward, the step graph
    against `decode_step`."""
    with torch.inference_mode():
        ref = module.reference(*args) if isinstance(module, FullGraph) else module(*args)
    ref = ref if isinstance(ref, tuple) else (ref,)
    got = _ort_outputs(proto, {n: a.numpy() for n, a in zip(meta["inputs"], args)})
    return max(float((torch.as_tensor(o) - r.float()).abs().max()) for o, r in zip(got, ref))


def base_metadata(run: LoadedRun, action_bounds: tuple[list[float], list[float]] | None) -> dict[str, Any]:
    meta, cfg = run.meta, run.meta.config()
    shape = meta.state_shape()
    version = 2 if meta.action_scale_low is not None else 1  # metadata.FORMAT_VERSION's note
    return {"format": metadata.FORMAT, "format_version": version, "model_kind": meta.model_kind,
            "state_shape": [shape] if isinstance(shape, int) else list(shape), "act_dim": int(meta.act_dim),
            "discrete": bool(cfg.discrete_actions), "state_mean": [float(v) for v in meta.state_mean],
            "state_std": [float(v) for v in meta.state_std], "reward_scale": float(meta.reward_scale),
            "reward_clip": float(meta.reward_clip), "action_scale_low": meta.action_scale_low,
            "action_scale_high": meta.action_scale_high, "context_len": int(cfg.context_len),
            "max_ep_len": int(cfg.max_ep_len), "attention_window": int(getattr(cfg, "attention_window", 0)),
            "action_low": action_bounds[0] if action_bounds else None,
            "action_high": action_bounds[1] if action_bounds else None,
            "max_return": meta.extra.get("max_return"), "env_id": meta.env_id, "dataset": meta.dataset,
            "step": int(meta.step), "version": __version__, "torch": torch.__version__}


@dataclass
class ExportResult:
    paths: list[Path]
    """The files written: the full graph, then the step graph if any."""
    metadata: dict[str, Any]
    """The full graph's metadata."""
    max_abs_diff: dict[str, float]
    """Per graph, the largest |onnxruntime - PyTorch| on random inputs (empty without `verify`): the full graph
    against the model's own forward, the step graph against incremental.py's `decode_step`."""


def export_onnx(run: LoadedRun, path: str | Path, *, step_graph: bool = True, opset: int = 17,
                exporter: str = "torchscript", action_bounds: tuple[list[float], list[float]] | None = None,
                verify: bool = True, tolerance: float = 1e-4) -> ExportResult:
    """Write `run`'s model to `path` (and, for a banded model, its step graph to `step_graph_path(path)`),
    atomically, each with the metadata of deploy/metadata.py. `action_bounds`: (low, high) of the action space.
    With `verify`, each graph runs in onnxruntime on random inputs and must match PyTorch within `tolerance`."""
    try:
        import onnx
    except ImportError:
        raise ImportError(f"exporting to ONNX needs onnx: {metadata.EXTRA}") from None
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter={exporter!r}; expected one of {EXPORTERS}")
    path = Path(path)
    if path.name.endswith(".step.onnx"):
        raise ValueError(f"{path}: a name ending in .step.onnx is where a banded model's step graph goes; "
                         f"export to {path.name.removesuffix('.step.onnx')}.onnx (its step graph is FILE.step.onnx)")
    model, kind = run.model.eval(), run.meta.model_kind
    base = base_metadata(run, action_bounds)
    opset = max(opset, 18) if exporter == "dynamo" else opset  # the dynamo exporter starts at opset 18
    base.update(exporter=exporter, opset=opset)
    banded = base["attention_window"] > 0 and step_graph
    pos_max = base["context_len"] if getattr(model.config, "position_embedding", False) else None
    graphs = []  # (path, module, meta, args, dynamic)
    full_meta = {**base, "graph": "full", "inputs": full_inputs(kind), "outputs": ["action_preds"],
                 "step_graph": step_graph_path(path).name if banded else None}
    K = min(base["context_len"], 8) if base["context_len"] > 1 else 1
    dyn = {n: {0: "batch", 1: "context"} for n in full_meta["inputs"] + ["action_preds"]}
    graphs.append((path, FullGraph(model, kind), full_meta, sample_full(full_meta, 2, K), dyn))
    if banded:
        L, _, H, S, D = cache_shape(model, 1)
        step_meta = {**base, "graph": "step", "inputs": step_inputs(kind), "outputs": STEP_OUTPUTS,
                     "cache": {"layers": L, "heads": H, "slots": S, "head_dim": D}}
        dyn = {n: {0: "batch"} for n in step_meta["inputs"] + STEP_OUTPUTS}
        for n in ("keys", "values", "keys_out", "values_out"):
            dyn[n] = {1: "batch"}
        graphs.append((step_graph_path(path), StepGraph(model, kind), step_meta,
                       sample_step(step_meta, 2, base["attention_window"] + 3), dyn))
    protos, diffs = [], {}
    for where, module, meta, args, dyn in graphs:
        proto = _to_onnx(module, args, meta["inputs"], meta["outputs"], dyn, opset, exporter, pos_max)
        entry = proto.metadata_props.add()
        entry.key, entry.value = metadata.KEY, metadata.encode(meta)
        if verify:
            fresh = (sample_full(meta, 3, max(1, K - 1), seed=1) if meta["graph"] == "full"
                     else sample_step(meta, 3, 1, seed=1))  # other sizes than traced: the axes are dynamic
            diffs[meta["graph"]] = diff = max(_max_diff(module, proto, meta, args), _max_diff(module, proto, meta, fresh))
            if not diff <= tolerance:
                raise ValueError(f"{where}: the exported {meta['graph']} graph differs from PyTorch by {diff:.3g} "
                                 f"(> {tolerance:g}); not written")
        protos.append((where, proto))
    umask = os.umask(0)
    os.umask(umask)
    for where, proto in reversed(protos):  # the step graph first: the full graph names it
        with atomic.atomic_path(where) as tmp:
            onnx.save(proto, str(tmp))
            os.chmod(tmp, 0o666 & ~umask)  # a deployable file: the usual permissions, not the temp file's 0600
    return ExportResult([p for p, _ in protos], full_meta, diffs)
