"""argparse options generated from frozen dataclasses: each field's docstring becomes its --help.

The one way every `dt` command declares its options. A field `batch_size` becomes `--batch-size`; a field
whose type is itself a dataclass (a nested config, such as a benchmark's `train: TrainConfig`) becomes
one option per inner field, `--train.batch-size`. Booleans get `--flag / --no-flag`, tuples take several
values (a repeated flag adds to them), and a field declared with `field(metadata=POSITIONAL)` is a positional argument. Every option
defaults to None, so `from_args` knows which ones the user gave (`given`). A nested config declared with
`field(metadata=inline(...))` lends the named fields to its parent's level instead: a benchmark protocol holding
`train: TrainConfig` offers `--cpu.steps` (setting `cpu.train.steps`) and no option for the training fields each
cell sets itself. `to_argv` writes a config back as options, and `option_values` reads it as {option: value}, both
by the same walk (`_options`), so the options, their parsing and their writing cannot drift apart.

(tyro does the same for a whole program, but `dt` is a tree of argparse sub-commands loaded as plug-ins;
generating their options here keeps one mechanism for all of them in about a hundred lines.)
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import re
import textwrap
import types
import typing
from typing import Any, Iterable, Iterator

POSITIONAL = {"positional": True}
"""`dataclasses.field(metadata=POSITIONAL)`: the field is a positional argument (required, no default)."""
DERIVED = {"derived": True}
"""`dataclasses.field(default=..., metadata=DERIVED)`: the field follows from something else (the model kind, the
data) and is never an option; `option_fields` leaves it out, and so does every parser built here."""


def command_help(cls: type) -> dict[str, Any]:
    """`add_parser` keywords for a command whose dataclass documents it: `help` (the listing's one line: the docstring's
    first sentence, lower-cased and without its full stop, as the other commands' lines are) and `description` (the
    whole docstring, shown by `dt COMMAND --help`)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    first = first.split(". ")[0].removesuffix(".")
    if first[:1].isupper() and not first[1:2].isupper():  # "Evaluate ..." -> "evaluate ...", but "HF ..." stays
        first = first[0].lower() + first[1:]
    return {"help": first, "description": doc, "formatter_class": argparse.RawDescriptionHelpFormatter}


NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)
"""What argparse should read as a negative number, not an option (its own pattern misses -1e3)."""


def inline(*names: str) -> dict[str, tuple[str, ...]]:
    """`dataclasses.field(default=..., metadata=inline('steps', ...))` on a nested-config field: those fields of the
    nested config are options at the parent's level (flag `--steps`, set on `nested.steps`); its other fields are no
    options (the nested default fixes them, or the code using it sets them)."""
    return {"inline": tuple(names)}


def option_fields(*classes: type) -> tuple[str, ...]:
    """The fields of `classes` that are options (not DERIVED), in declaration order, each once."""
    out: list[str] = []
    for cls in classes:
        out += [f.name for f in dataclasses.fields(cls) if not f.metadata.get("derived") and f.name not in out]
    return tuple(out)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string literal right after a field) of a dataclass, its dataclass bases' included (a
    field a subclass declares again takes the subclass's docstring)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            doc = nxt.value.value if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) else None
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(doc, str):
                docs[node.target.id] = " ".join(doc.split())
    return docs


def _options(cls: type, exclude: frozenset[str] = frozenset(), prefix: str = "", flag_prefix: str = "",
             only: tuple[str, ...] | None = None) -> Iterator[tuple[str, str, dataclasses.Field, Any]]:
    """(dest path, option name, field, type) of every option of `cls`, nested configs walked (`inline` ones at
    their parent's level). Dest paths are attribute paths ('train.steps'); option names what follows '--' with
    underscores kept ('cpu.steps'). Fields in `exclude` (dest paths) and DERIVED fields are left out."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    if only is not None:
        unknown = sorted(set(only) - {f.name for f in fields})
        if unknown:
            raise TypeError(f"inline{tuple(only)}: {cls.__name__} has no field(s) {unknown}")
        fields = tuple(f for f in fields if f.name in only)
    for f in fields:
        path = prefix + f.name
        if path in exclude or f.metadata.get("derived"):
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            names = f.metadata.get("inline")
            yield from _options(tp, exclude, path + ".", flag_prefix if names is not None else f"{flag_prefix}{f.name}.",
                                names)
        else:
            yield path, flag_prefix + f.name, f, tp


def _get(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def _flag(name: str) -> str:
    """'--' + the option name with its last part hyphenated: 'cpu.baseline_steps' -> '--cpu.baseline-steps'."""
    head, dot, last = name.rpartition(".")
    return "--" + head + dot + last.replace("_", "-")


def add_dataclass_args(parser: argparse._ActionsContainer, cls: type, exclude: Iterable[str] = (),
                       defaults: Any = None) -> None:
    """Add an option for every field of `cls` not in `exclude` (names, or 'train.seed' for nested fields).
    `defaults` (an instance of `cls`) sets the values shown in --help. Negative numbers in any notation (-1e3,
    -.5, -inf) are values, never options (argparse alone takes only -5 and -0.5 for numbers)."""
    if isinstance(parser, argparse.ArgumentParser):
        parser._negative_number_matcher = NEGATIVE_NUMBER  # type: ignore[attr-defined]
    for dest, name, f, tp in _options(cls, frozenset(exclude)):
        tp = _optional_of(tp)  # `float | None`: a float option whose default None stands for "derived"
        doc = field_docs(_owner(cls, dest)).get(f.name, "")
        default = _get(defaults, dest) if defaults is not None else _nested_default(cls, dest)
        shown = "" if default == "" else f" (default: {default!r})"  # '' says nothing: the docstring says what unset is
        help_text = f"{doc}{shown}".replace("%", "%%")
        flag = _flag(name)
        if f.metadata.get("positional"):
            positional_help = doc.replace("%", "%%")
            if typing.get_origin(tp) is tuple:  # one or more values
                parser.add_argument(dest, type=typing.get_args(tp)[0], nargs="+", help=positional_help)
            else:
                parser.add_argument(dest, type=tp, help=positional_help)
        elif tp is bool:
            parser.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif typing.get_origin(tp) is tuple:  # several values; a repeated flag adds to them
            inner = typing.get_args(tp)[0]
            parser.add_argument(flag, dest=dest, type=inner, nargs="*", action="extend", default=None, help=help_text,
                                metavar=name.upper())
        else:
            parser.add_argument(flag, dest=dest, type=tp, default=None, help=help_text, metavar=name.upper())


def _optional_of(tp: Any) -> Any:
    """T for a type `T | None`, else `tp`."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _owner(cls: type, dest: str) -> type:
    """The dataclass that declares the field at `dest`."""
    for name in dest.split(".")[:-1]:
        cls = typing.get_type_hints(cls)[name]
    return cls


def _nested_default(cls: type, dest: str) -> Any:
    head, _, rest = dest.partition(".")
    value = _default(next(f for f in dataclasses.fields(cls) if f.name == head))
    return _get(value, rest) if rest else value


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def given(args: argparse.Namespace, cls: type, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """{'field' or 'nested.field': value} (dest paths) for the options of `cls` the user gave."""
    out: dict[str, Any] = {}
    for dest, _, _, _ in _options(cls, frozenset(exclude)):
        if getattr(args, dest, None) is not None:
            v = getattr(args, dest)
            out[dest] = tuple(v) if isinstance(v, list) else v
    return out


def _split(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """({field: value} for top-level dest paths, {field: {rest of path: value}} for nested ones)."""
    values: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, v in changes.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = v
        else:
            values[head] = v
    return values, nested


def _replace(obj: Any, changes: dict[str, Any]) -> Any:
    """`obj` with the fields at the given dest paths replaced (nested configs rebuilt, never mutated)."""
    values, nested = _split(changes)
    for head, inner in nested.items():
        values[head] = _replace(getattr(obj, head), inner)
    return dataclasses.replace(obj, **values)


def from_args(cls: type, args: argparse.Namespace, exclude: Iterable[str] = (), base: Any = None, **overrides: Any) -> Any:
    """Build `cls` from parsed args: given options override `overrides`, which override `base` (an instance)
    or the defaults. Nested configs are rebuilt from their base value with only the given fields replaced."""
    top, nested = _split(given(args, cls, exclude))
    values: dict[str, Any] = {**overrides, **top}
    for head, changes in nested.items():
        inner = values.get(head, getattr(base, head) if base is not None else _default(
            next(f for f in dataclasses.fields(cls) if f.name == head)))
        values[head] = _replace(inner, changes)
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def option_values(obj: Any) -> dict[str, Any]:
    """{option name: value} of a config instance, one entry per option ('steps' for an inline field, 'train.lr'
    for a nested one): the config as its options see it."""
    return {name: _get(obj, dest) for dest, name, _, _ in _options(type(obj))}


def to_argv(obj: Any) -> list[str]:
    """A config instance written as the options that rebuild it (`from_args` on them gives back `obj`, where its
    non-option fields are its class's defaults)."""
    out: list[str] = []
    for dest, name, _, _ in _options(type(obj)):
        value, flag = _get(obj, dest), _flag(name)
        if value is None:  # a `T | None` field left unset: no option gives None back
            continue
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])  # argparse.BooleanOptionalAction's negative
        elif isinstance(value, tuple):
            out += [flag, *map(str, value)]
        else:
            out += [flag, repr(value) if isinstance(value, float) else str(value)]
    return out
