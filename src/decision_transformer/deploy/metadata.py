"""The metadata an exported ONNX policy carries: one JSON object in the model's `metadata_props` under the key
`decision_transformer`, written by `dt export` (deploy/export.py) and read by the runtime (deploy/session.py,
deploy/policy.py).

Plain Python (json only): the torch-free runtime reads it. Fields (docs/deploy.md shows an example):

    format, format_version   "decision-transformer-onnx", 1; 2 for a run trained with scaled actions (a runtime
                             that predates action_scale_low / _high refuses it, not acting in the wrong range)
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
    action_scale_low, action_scale_high   null (absent in older files), or the run's action range
                             (`TrainConfig.scale_actions`, meta.json's fields of the same names): the model's
                             actions a in [-1, 1] are low + (a + 1) (high - low) / 2 in the env, and actions fed back
                             are mapped back, 2 (a - low) / (high - low) - 1 (0 where high == low)
    max_return               the dataset's best episode return when the run recorded it (a default target)
    env_id, dataset, step, version, torch, exporter, opset   provenance

`decode` checks each field's type and range (`check`); the runtime also checks the graph's inputs against them and
that a step graph matches its full graph (deploy/session.py). Errors are one-line `DeployError`s naming the file and
the field.
"""

from __future__ import annotations

import json
from typing import Any

from ..common.action_scale import bounds_problem
from ..common.checks import is_int as _is_int, is_real as _is_num

KEY = "decision_transformer"
FORMAT = "decision-transformer-onnx"
FORMAT_VERSION = 2
"""The newest version this runtime reads. 2: action_scale_low / action_scale_high (written as 2 only when they are
set, so an unscaled export still loads in a version-1 runtime)."""
EXTRA = "pip install 'decision-transformer[deploy]'"
"""How to get onnx and onnxruntime: named in every error about a missing one."""

REQUIRED = ("format_version", "graph", "model_kind", "inputs", "outputs", "state_shape", "act_dim", "discrete",
            "state_mean", "state_std", "reward_scale", "reward_clip", "context_len", "max_ep_len", "attention_window")
KINDS = ("dt", "bc", "mlp-bc")
GRAPHS = ("full", "step")
FULL_OUTPUTS = ["action_preds"]
STEP_OUTPUTS = ["action_preds", "keys_out", "values_out", "slot_step_out"]


def full_inputs(kind: str) -> list[str]:
    """The full graph's input names, in order, for a model of this kind (what `dt export` writes)."""
    if kind == "mlp-bc":
        return ["states", "attention_mask"]
    return ["states", "actions", *(["returns_to_go"] if kind == "dt" else []), "timesteps", "attention_mask"]


def step_inputs(kind: str) -> list[str]:
    """The step graph's input names, in order, for a model of this kind (what `dt export` writes)."""
    return ["state", *(["returns_to_go"] if kind == "dt" else []), "prev_action", "timestep", "prev_timestep",
            "step", "slot_step", "keys", "values"]


def _short(value: Any) -> str:
    """A metadata value as it reads in the JSON (null, true, [1.0, 2.0]), cut for an error message."""
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


class DeployError(ValueError):
    """An ONNX file that is not a policy `dt export` wrote (or one this version cannot read); names the file."""


def encode(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True)


def _numbers(v: Any, n: int | None = None) -> bool:
    """A list of numbers (n of them when given), none of them NaN."""
    return (isinstance(v, list) and (n is None or len(v) == n) and all(_is_num(x) and x == x for x in v))


def check(meta: dict[str, Any], where: str) -> None:
    """Each field's type and range (the runtime reads them as `dt export` writes them): a DeployError naming the
    file and the field otherwise."""
    def bad(field: str, expected: str) -> DeployError:
        return DeployError(f"{where}: metadata field {field!r} is {_short(meta.get(field))}; expected {expected}")

    v = meta["format_version"]
    if not _is_int(v) or v < 1:
        raise bad("format_version", f"an int >= 1 (this runtime reads up to {FORMAT_VERSION})")
    if v > FORMAT_VERSION:
        raise DeployError(f"{where}: format_version {v} is newer than this runtime reads ({FORMAT_VERSION}); "
                          "upgrade decision-transformer")
    graph, kind = meta["graph"], meta["model_kind"]
    if graph not in GRAPHS:
        raise bad("graph", "'full' or 'step'")
    if kind not in KINDS:
        raise bad("model_kind", f"one of {list(KINDS)}")
    inputs, outputs = (full_inputs(kind), FULL_OUTPUTS) if graph == "full" else (step_inputs(kind), STEP_OUTPUTS)
    if meta["inputs"] != inputs:
        raise bad("inputs", f"{inputs} (a {graph} graph of a {kind!r} model)")
    if meta["outputs"] != outputs:
        raise bad("outputs", f"{outputs} (a {graph} graph)")
    shape = meta["state_shape"]
    if not (isinstance(shape, list) and len(shape) in (1, 3) and all(_is_int(d) and d >= 1 for d in shape)):
        raise bad("state_shape", "[S] or [C, H, W], positive ints")
    size = 1
    for d in shape:
        size *= d
    for field in ("act_dim", "context_len", "max_ep_len"):
        if not _is_int(meta[field]) or meta[field] < 1:
            raise bad(field, "an int >= 1")
    if not _is_int(meta["attention_window"]) or meta["attention_window"] < 0:
        raise bad("attention_window", "an int >= 0")
    if not isinstance(meta["discrete"], bool):
        raise bad("discrete", "true or false")
    for field in ("state_mean", "state_std"):
        v = meta[field]
        if not (_numbers(v) and len(v) in {1, size} and all(abs(x) != float("inf") for x in v)):
            raise bad(field, f"a list of {size} finite numbers (one per state value of shape {shape}) or 1 number")
    if not all(x > 0 for x in meta["state_std"]):
        raise bad("state_std", "numbers > 0 (states are divided by them)")
    if not (_is_num(meta["reward_scale"]) and 0 < meta["reward_scale"] < float("inf")):
        raise bad("reward_scale", "a finite number > 0 (returns-to-go are divided by it)")
    if not (_is_num(meta["reward_clip"]) and 0 <= meta["reward_clip"] < float("inf")):
        raise bad("reward_clip", "0 or a finite number > 0")
    if not meta["discrete"]:
        for field in ("action_low", "action_high"):
            if meta.get(field) is not None and not _numbers(meta[field], meta["act_dim"]):
                raise bad(field, f"null or a list of act_dim={meta['act_dim']} numbers")
        low, high = meta.get("action_low"), meta.get("action_high")
        if low is not None and high is not None and any(lo > hi for lo, hi in zip(low, high)):
            raise bad("action_low", f"bounds <= action_high {_short(high)}")
    problem = bounds_problem(meta.get("action_scale_low"), meta.get("action_scale_high"), meta["act_dim"],
                             meta["discrete"])
    if problem:
        raise bad(*problem)
    v = meta.get("max_return")
    if v is not None and not (_is_num(v) and abs(v) < float("inf")):
        raise bad("max_return", "null or a finite number")
    if graph == "full":
        v = meta.get("step_graph")
        if v is not None and not (isinstance(v, str) and v.endswith(".step.onnx") and "/" not in v
                                  and "\\" not in v and v != ".step.onnx"):
            raise bad("step_graph", "null or a file name FILE.step.onnx in the same directory")
        if v is not None and (kind == "mlp-bc" or meta["attention_window"] < 1):
            raise bad("step_graph", "null (only banded models, attention_window > 0, have a step graph)")
    else:
        c = meta.get("cache")
        if not (isinstance(c, dict) and all(_is_int(c.get(k)) and c[k] >= 1
                                            for k in ("layers", "heads", "slots", "head_dim"))):
            raise bad("cache", '{"layers", "heads", "slots", "head_dim"}: ints >= 1 (a step graph)')
        if kind == "mlp-bc" or meta["attention_window"] < 1:
            raise bad("attention_window", "an int >= 1 (only banded models have a step graph)")


def decode(props: dict[str, str], where: str) -> dict[str, Any]:
    """The metadata from a model's `metadata_props` (a dict), checked for the fields the runtime needs, each of
    its type and in its range (`check`)."""
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
    check(meta, where)
    return meta
