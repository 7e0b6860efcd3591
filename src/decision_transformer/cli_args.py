"""argparse options generated from frozen dataclasses: each field's docstring becomes its --help."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import typing
from typing import Any, Iterable


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string literal right after a field) of a dataclass."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, exclude: Iterable[str] = (),
                       defaults: dict[str, Any] | None = None) -> None:
    """Add `--field-name` for every field of `cls` (not in `exclude`), defaulting to None so that
    `from_args` can tell which options the user gave."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    defaults = defaults or {}
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = defaults.get(f.name, f.default)
        help_text = f"{docs.get(f.name, '')} (default: {default!r})".replace("%", "%%")
        tp = hints[f.name]
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif typing.get_origin(tp) is tuple:
            (inner, *_), = [typing.get_args(tp)]
            parser.add_argument(flag, type=inner, nargs="*", default=None, help=help_text)
        else:
            parser.add_argument(flag, type=tp, default=None, help=help_text)


def from_args(cls: type, args: argparse.Namespace, exclude: Iterable[str] = (), **overrides: Any) -> Any:
    """Build `cls` from parsed args: given options override `overrides`, which override the defaults."""
    values = dict(overrides)
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        v = getattr(args, f.name, None)
        if v is not None:
            values[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**values)
