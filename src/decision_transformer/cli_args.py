"""argparse options generated from frozen dataclasses: each field's docstring becomes its --help.

The one way every `dt` command declares its options. A field `batch_size` becomes `--batch-size`; a field
whose type is itself a dataclass (a nested config, such as a benchmark's `train: TrainConfig`) becomes
one option per inner field, `--train.batch-size`. Booleans get `--flag / --no-flag`, tuples take several
values (a repeated flag adds to them), and a field declared with `field(metadata=POSITIONAL)` is a positional argument. Every option
defaults to None, so `from_args` knows which ones the user gave (`given`).

(tyro does the same for a whole program, but `dt` is a tree of argparse sub-commands loaded as plug-ins;
generating their options here keeps one mechanism for all of them in about a hundred lines.)
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import textwrap
import typing
from typing import Any, Iterable

POSITIONAL = {"positional": True}
"""`dataclasses.field(metadata=POSITIONAL)`: the field is a positional argument (required, no default)."""
DERIVED = {"derived": True}
"""`dataclasses.field(default=..., metadata=DERIVED)`: the field follows from something else (the model kind, the
data) and is never an option; `option_fields` leaves it out, and so does every parser built here."""


def option_fields(*classes: type) -> tuple[str, ...]:
    """The fields of `classes` that are options (not DERIVED), in declaration order, each once."""
    out: list[str] = []
    for cls in classes:
        out += [f.name for f in dataclasses.fields(cls) if not f.metadata.get("derived") and f.name not in out]
    return tuple(out)


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


def _flag(prefix: str, name: str) -> str:
    return "--" + prefix + name.replace("_", "-")


def add_dataclass_args(parser: argparse._ActionsContainer, cls: type, exclude: Iterable[str] = (),
                       defaults: Any = None, prefix: str = "") -> None:
    """Add an option for every field of `cls` not in `exclude` (names, or 'train.seed' for nested fields).
    `defaults` (an instance of `cls`) sets the values shown in --help."""
    exclude = set(exclude)
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if path in exclude or f.metadata.get("derived"):
            continue
        default = getattr(defaults, f.name) if defaults is not None else _default(f)
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            add_dataclass_args(parser, tp, exclude, default, prefix=path + ".")
            continue
        help_text = f"{docs.get(f.name, '')} (default: {default!r})".replace("%", "%%")
        flag, dest = _flag(prefix, f.name), path
        if f.metadata.get("positional"):
            positional_help = docs.get(f.name, "").replace("%", "%%")
            if typing.get_origin(tp) is tuple:  # one or more values
                parser.add_argument(dest, type=typing.get_args(tp)[0], nargs="+", help=positional_help)
            else:
                parser.add_argument(dest, type=tp, help=positional_help)
        elif tp is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif typing.get_origin(tp) is tuple:  # several values; a repeated flag adds to them
            inner = typing.get_args(tp)[0]
            parser.add_argument(flag, dest=dest, type=inner, nargs="*", action="extend", default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=dest, type=tp, default=None, help=help_text)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def given(args: argparse.Namespace, cls: type, exclude: Iterable[str] = (), prefix: str = "") -> dict[str, Any]:
    """{'field' or 'nested.field': value} for the options of `cls` the user gave."""
    out: dict[str, Any] = {}
    exclude = set(exclude)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = prefix + f.name
        if path in exclude or f.metadata.get("derived"):
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(given(args, hints[f.name], exclude, prefix=path + "."))
        elif getattr(args, path, None) is not None:
            v = getattr(args, path)
            out[path] = tuple(v) if isinstance(v, list) else v
    return out


def from_args(cls: type, args: argparse.Namespace, exclude: Iterable[str] = (), base: Any = None, **overrides: Any) -> Any:
    """Build `cls` from parsed args: given options override `overrides`, which override `base` (an instance)
    or the defaults. Nested configs are rebuilt from their base value with only the given fields replaced."""
    values: dict[str, Any] = dict(overrides)
    nested: dict[str, dict[str, Any]] = {}
    for path, v in given(args, cls, exclude).items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = v
        else:
            values[head] = v
    start = base if base is not None else None
    for head, changes in nested.items():
        inner = values.get(head, getattr(start, head) if start is not None else _default(
            next(f for f in dataclasses.fields(cls) if f.name == head)))
        values[head] = dataclasses.replace(inner, **changes)
    return dataclasses.replace(start, **values) if start is not None else cls(**values)
