"""Loading an exported policy file with onnxruntime: the session, its metadata (deploy/metadata.py), and the checks
that the graph is the one its metadata describes (input and output names, types, fixed dims; a step graph written
with its full graph). A mismatch is a DeployError naming the file and the field. Used by the policies (policy.py),
the exporter's self-check (export.py) and the speed benchmark; needs onnxruntime (the deploy extra), never torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from . import metadata
from .metadata import DeployError


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(f"the ONNX policy runtime needs onnxruntime: {metadata.EXTRA}") from None
    return onnxruntime


def load_session(path: str | os.PathLike, threads: int = 0, providers: Sequence[str] | None = None):
    """(onnxruntime.InferenceSession, metadata dict) of an exported policy file."""
    ort = _ort()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise DeployError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from None
    meta = metadata.decode(session.get_modelmeta().custom_metadata_map, str(path))
    check_session(session, meta, str(path))
    return session, meta


def expected_inputs(meta: dict[str, Any]) -> dict[str, tuple[str, tuple]]:
    """name -> (onnx type, shape; None for a dynamic dim) of each graph input the metadata implies."""
    S, A, f, i = tuple(meta["state_shape"]), meta["act_dim"], "tensor(float)", "tensor(int64)"
    if meta["graph"] == "full":
        x = {"states": (f, (None, None, *S)),
             "actions": (i, (None, None)) if meta["discrete"] else (f, (None, None, A)),
             "returns_to_go": (f, (None, None, 1)), "timesteps": (i, (None, None)), "attention_mask": (i, (None, None))}
    else:
        c = meta["cache"]
        kv = (f, (c["layers"], None, c["heads"], c["slots"], c["head_dim"]))
        x = {"state": (f, (None, *S)), "returns_to_go": (f, (None, 1)),
             "prev_action": (i, (None,)) if meta["discrete"] else (f, (None, A)), "timestep": (i, (None,)),
             "prev_timestep": (i, (None,)), "step": (i, (None,)), "slot_step": (i, (None, c["slots"])), "keys": kv,
             "values": kv}
    return {n: x[n] for n in meta["inputs"]}


def check_session(session, meta: dict[str, Any], where: str) -> None:
    """The graph's input names, types and fixed dims against the metadata's (a DeployError naming the file)."""
    names = [x.name for x in session.get_inputs()]
    if names != meta["inputs"]:
        raise DeployError(f"{where}: the graph's inputs {names} are not the metadata's 'inputs' {meta['inputs']}")
    outputs = [x.name for x in session.get_outputs()]
    if outputs != meta["outputs"]:
        raise DeployError(f"{where}: the graph's outputs {outputs} are not the metadata's 'outputs' {meta['outputs']}")
    for x in session.get_inputs():
        kind, shape = expected_inputs(meta)[x.name]
        got = tuple(d if isinstance(d, int) else None for d in x.shape)
        if x.type != kind or len(got) != len(shape) or any(g is not None and e is not None and g != e
                                                            for g, e in zip(got, shape)):
            want = tuple("?" if e is None else e for e in shape)
            raise DeployError(f"{where}: graph input {x.name!r} is {x.type} {list(x.shape)}; the metadata "
                              f"(state_shape {meta['state_shape']}, act_dim {meta['act_dim']}, discrete "
                              f"{meta['discrete']}{', cache' if meta['graph'] == 'step' else ''}) implies {kind} "
                              f"{list(want)}")
    A = session.get_outputs()[0].shape[-1]
    if isinstance(A, int) and A != meta["act_dim"]:
        raise DeployError(f"{where}: the graph's action_preds have {A} values per step; metadata field 'act_dim' "
                          f"is {meta['act_dim']}")


STEP_MATCHES_FULL = ("graph", "inputs", "outputs", "step_graph", "cache")
"""The metadata fields in which a step graph differs from its full graph; it must have the same others."""


def check_step_graph(step_meta: dict[str, Any], meta: dict[str, Any], step_path: Path, path: Path) -> None:
    """A step graph must be the one `dt export` wrote with the full graph at `path` (not a stale file)."""
    hint = f"(a stale file? re-export both with `dt export RUN --onnx {path}`)"
    if step_meta["graph"] != "step":
        raise DeployError(f"{step_path}: metadata field 'graph' is {step_meta['graph']!r}; expected 'step' "
                          f"({path}'s step_graph names this file) {hint}")
    for field in sorted((set(meta) | set(step_meta)) - set(STEP_MATCHES_FULL)):
        if meta.get(field) != step_meta.get(field):
            a, b = metadata._short(step_meta.get(field)), metadata._short(meta.get(field))
            raise DeployError(f"{step_path}: metadata field {field!r} is {a}; expected {b} as in {path} {hint}")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata (deploy/metadata.py) of an exported policy file."""
    return load_session(path)[1]
