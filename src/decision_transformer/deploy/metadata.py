"""The metadata an exported ONNX policy carries: one JSON object in the model's `metadata_props` under the key
`decision_transformer`, written by `dt export` (deploy/export.py) and read by the runtime (deploy/policy.py).

Plain Python (json only): the torch-free runtime reads it. Fields (docs/deploy.md shows an example):

    format, format_version   "decision-transformer-onnx", 1
    graph                    "full" (the forward over a window of K steps) or "step" (one step against a
                             key/value cache, banded models only)
    model_kind               "dt", "bc" (no return tokens) or "mlp-bc"
    inputs, outputs          the graph's input and output names, in order
    state_shape              [S], or [C, H, W] for pixels
    act_dim, discrete        action size (number of actions when discrete), and whether actions are discrete
    state_mean, state_std    flattened (one value each for pixels): states = (obs - mean) / std
    reward_scale             returns-to-go are divided by it
    reward_clip              0, or c > 0: acting decrements the return-to-go by the reward clipped to [-c, c]
    context_len, max_ep_len  K (the window acting keeps), and the episode length timesteps are clipped below
    attention_window         0, or W > 0 for banded models (which also have a step graph)
    step_graph               (full graph of a banded model) the step graph's file name, in the same directory
    cache                    (step graph) {"layers", "heads", "slots", "head_dim"}: keys / values are
                             (layers, B, heads, slots, head_dim)
    action_low, action_high  the action space's bounds (continuous actions) when known, else null
    max_return               the dataset's best episode return when the run recorded it (a default target)
    env_id, dataset, step, version, torch, exporter, opset   provenance
"""

from __future__ import annotations

import json
from typing import Any

KEY = "decision_transformer"
FORMAT = "decision-transformer-onnx"
FORMAT_VERSION = 1
EXTRA = "pip install 'decision-transformer[deploy]'"
"""How to get onnx and onnxruntime: named in every error about a missing one."""

REQUIRED = ("format_version", "graph", "model_kind", "inputs", "outputs", "state_shape", "act_dim", "discrete",
            "state_mean", "state_std", "reward_scale", "reward_clip", "context_len", "max_ep_len", "attention_window")


class DeployError(ValueError):
    """An ONNX file that is not a policy `dt export` wrote (or one this version cannot read); names the file."""


def encode(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True)


def decode(props: dict[str, str], where: str) -> dict[str, Any]:
    """The metadata from a model's `metadata_props` (a dict), checked for the fields the runtime needs."""
    if KEY not in props:
        raise DeployError(f"{where}: no {KEY!r} metadata; export the policy with `dt export RUN --onnx FILE`")
    try:
        meta = json.loads(props[KEY])
    except json.JSONDecodeError as exc:
        raise DeployError(f"{where}: metadata {KEY!r} is not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DeployError(f"{where}: metadata {KEY!r} is not a {FORMAT} object")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise DeployError(f"{where}: metadata {KEY!r} lacks field(s) {missing}")
    if meta["format_version"] > FORMAT_VERSION:
        raise DeployError(f"{where}: format_version {meta['format_version']} is newer than this runtime reads "
                          f"({FORMAT_VERSION}); upgrade decision-transformer")
    return meta
