"""Field checks of config dataclasses: every config validates itself in `__post_init__` with these, so the Python
API is as protected as the command line. `check_types`: each field holds its annotated type; `check_number`: finite
and in range; `check_device_name`: a torch device name. Each error is one line naming the class and the field.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from typing import Any


def is_int(v: Any) -> bool:
    """An integer (Python's or numpy's), not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v: Any) -> bool:
    """A real number (Python's or numpy's; NaN and inf included), not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def short(v: Any, n: int = 60) -> str:
    """`repr(v)`, cut to `n` characters for an error message."""
    text = repr(v)
    return text if len(text) <= n else text[:n - 3] + "..."


def check_types(cfg: Any) -> None:
    """Each field of the dataclass `cfg` holds its annotated type: an int is an int (not a bool), a float any real
    number (not a bool), a tuple field a tuple of its item type (a list given for it becomes a tuple). Fields typed
    otherwise (Any, mappings, nested configs) are left to their own checks."""
    for f in dataclasses.fields(cfg):
        tp, value = _field_types(type(cfg))[f.name], getattr(cfg, f.name)
        if typing.get_origin(tp) is tuple and isinstance(value, list):
            value = tuple(value)
            object.__setattr__(cfg, f.name, value)
        if not _holds(value, tp):
            raise ValueError(f"{type(cfg).__name__}.{f.name}={value!r}; expected {_type_name(tp)}")


def check_number(cfg: Any, name: str, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> None:
    """The number field `name` of `cfg` (each item of a tuple field) is finite and within [low, high] (an open end
    excludes the bound); otherwise a ValueError naming the class and the field."""
    value = getattr(cfg, name)
    for v in value if isinstance(value, tuple) else (value,):
        inside = (math.isfinite(v) and (low is None or (v > low if low_open else v >= low))
                  and (high is None or (v < high if high_open else v <= high)))
        if not inside:
            where = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "",
                     f"{'<' if high_open else '<='} {high:g}" if high is not None else ""]
            bounds = " and ".join(w for w in where if w)
            what = "every value must be a finite number" if isinstance(value, tuple) else "must be a finite number"
            raise ValueError(f"{type(cfg).__name__}.{name}={value!r} {what}" + (f" {bounds}" if bounds else ""))


def check_device_name(cfg: Any, name: str) -> None:
    """The field `name` of `cfg` names a torch device ('cpu', 'cuda', 'cuda:1', 'mps'); whether this machine has
    it is checked when a run starts (`runtime.check_device`). 'cpu' needs no torch (a config built at import time,
    such as a command's default, must not pull torch into `dt --help`)."""
    if getattr(cfg, name) == "cpu":
        return
    import torch

    try:
        torch.device(getattr(cfg, name))
    except (RuntimeError, ValueError):
        raise ValueError(f"{type(cfg).__name__}.{name}={getattr(cfg, name)!r} is not a torch device "
                         f"(e.g. cpu, cuda, cuda:1, mps)") from None


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _holds(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return isinstance(value, tuple) and all(_holds(v, item) for v in value)
    if origin is typing.Union or origin is types.UnionType:
        return any(_holds(value, t) for t in typing.get_args(tp))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return True


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}s"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp))


def check_positive_ints(cfg: Any, *names: str) -> None:
    """Each named field of `cfg` is a positive int; otherwise a ValueError naming the class and the field."""
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{type(cfg).__name__}.{name}={value!r} must be a positive integer")


def config_from_dict(cls: type, d: dict[str, Any], source: str) -> Any:
    """`cls(**d)` for a config dataclass read from `source` (a file): unknown fields and bad values are one-line
    errors that name the source."""
    known = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(d, dict):
        raise ValueError(f"{source}: expected an object of {cls.__name__} fields, got {type(d).__name__}")
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{source}: unknown {cls.__name__} fields {unknown}; expected a subset of {sorted(known)}")
    try:
        return cls(**d)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def differing_fields(saved: dict[str, Any], wanted: dict[str, Any], most: int = 3) -> str:
    """'name: saved X, here Y; ...' for the keys whose values differ between two settings dicts (the first `most`,
    then how many more), for an error that refuses to continue a run made with other settings."""
    keys = [k for k in {**saved, **wanted} if saved.get(k, "(absent)") != wanted.get(k, "(absent)")]
    parts = [f"{k}: saved {saved.get(k, '(absent)')!r}, here {wanted.get(k, '(absent)')!r}" for k in keys[:most]]
    return "; ".join(parts) + (f"; and {len(keys) - most} more" if len(keys) > most else "")
