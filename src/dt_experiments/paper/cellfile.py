"""One validated reader for the result.json of a `dt bench paper` cell (ROOT/PROTOCOL/EXP/DATASET/METHOD/seedK/):

    cell = read_cell(path)   # the parsed dict, or CellError (a ValueError) with one line naming the file and field

It checks what `dt bench report` and the cell bookkeeping read (`cells.py` writes these files):

- `spec` (an object, with `budget` and `model` objects), `exp`, `dataset`, `method`, `protocol` (strings), `seed`
  and `dataset_generation` (integers), `data` (an object with numbers `return_min`, `return_max`), `train_seconds`
  and `eval_seconds` (numbers), `targets` (a list of numbers or null; a dt-auto cell's
  first is 'auto');
- a Figure-4 cell (exp fig4 or atari-fig4): `targets` a list, `achieved` a list of numbers as long as `targets`,
  `pearson` a number or null; any other cell: `return`, `score`, `score_d4rl` numbers or null;
- where present: `per_target` a list of objects (`returns` a list of numbers, `return_mean` a number, `scores` an
  object, `target` a number or null; cells recovered from an older report have none), `curve` null or a list of
  [step, value] pairs, `same_run_as` a string; an odt cell's `offline_score` (number or null), `online_steps`
  (integer), `curve_scores` ([step, value or null] pairs);
- a file laid out as .../PROTOCOL/EXP/DATASET/METHOD/seedK/result.json names the same protocol, exp, dataset, method
  and seed as its directories, and its spec the same training protocol, exp, method and seed (the spec's dataset is the
  training run's: a reward-agnostic method's '-delayed' cell names the dense data), so a cell copied to the wrong
  place is not counted as another, nor a cell of another protocol mixed into a report.

A file that is missing raises FileNotFoundError (not a damaged cell); one that is not valid JSON, not UTF-8, or fails
a check raises CellError.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

from .names import FIG4_EXPERIMENTS, TRAINING_PROTOCOL


class CellError(ValueError):
    """A result.json that cannot be used: one line, `PATH: field 'NAME': expected ..., got ...`."""


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_number_or_null(v: Any) -> bool:
    return v is None or _is_number(v)


def _is_numbers(v: Any) -> bool:
    return isinstance(v, list) and all(_is_number(x) for x in v)


def _is_pair(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)


CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "object": (lambda v: isinstance(v, dict), "an object"),
    "string": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "integer": (_is_int, "an integer"),
    "number": (_is_number, "a number"),
    "number|null": (_is_number_or_null, "a number or null"),
    "numbers": (_is_numbers, "a list of numbers"),
    "numbers|null": (lambda v: v is None or _is_numbers(v), "a list of numbers or null"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "curve": (lambda v: v is None or isinstance(v, list) and all(_is_pair(p) for p in v),
              "null or a list of [step, value] pairs"),
    "score_curve": (lambda v: isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and _is_number(p[0])
                                                        and _is_number_or_null(p[1]) for p in v),
                    "a list of [step, value or null] pairs"),
    # a dt-auto cell's targets start with "auto" (the model's own proposals: evaluate.AUTO)
    "targets": (lambda v: v is None or isinstance(v, list) and all(_is_number(x) or x == "auto" for x in v),
                "a list of numbers (or 'auto') or null"),
    "target": (lambda v: _is_number_or_null(v) or v == "auto", "a number, 'auto' or null"),
}

REQUIRED = {"spec": "object", "exp": "string", "dataset": "string", "method": "string", "protocol": "string",
            "seed": "integer", "dataset_generation": "integer", "data": "object", "train_seconds": "number",
            "eval_seconds": "number", "targets": "targets"}
FIG4 = {"targets": "numbers", "achieved": "numbers", "pearson": "number|null"}
TABLE = {"return": "number|null", "score": "number|null", "score_d4rl": "number|null"}
OPTIONAL = {"per_target": "list", "curve": "curve", "same_run_as": "string",
            # odt cells (beyond.py)
            "offline_score": "number|null", "online_steps": "integer", "curve_scores": "score_curve"}
SPEC = {"budget": "object", "model": "object"}
DATA = {"return_min": "number", "return_max": "number"}
PER_TARGET = {"target": "target", "returns": "numbers", "return_mean": "number", "scores": "object"}
# the directories above result.json, innermost first, and the field each names
LAYOUT = ("seed", "method", "dataset", "exp", "protocol")


def _check(path: Path, obj: dict[str, Any], fields: dict[str, str], prefix: str = "", optional: bool = False) -> None:
    for name, kind in fields.items():
        test, expected = CHECKS[kind]
        if name not in obj:
            if optional:
                continue
            raise CellError(f"{path}: field '{prefix}{name}': missing (expected {expected})")
        if not test(obj[name]):
            raise CellError(f"{path}: field '{prefix}{name}': expected {expected}, got {_got(obj[name])}")


def _check_layout(path: Path, cell: dict[str, Any]) -> None:
    """A file at .../PROTOCOL/EXP/DATASET/METHOD/seedK/result.json must name what its directories name."""
    parts = path.parts[:-1][::-1]  # seedK, METHOD, DATASET, EXP, PROTOCOL, ...
    m = re.fullmatch(r"seed(\d+)", parts[0]) if parts else None
    if m is None or len(parts) < len(LAYOUT):
        return
    named = {"seed": int(m.group(1)), **dict(zip(LAYOUT[1:], parts[1:len(LAYOUT)]))}
    for field, want in named.items():
        if cell[field] != want:
            raise CellError(f"{path}: field '{field}': expected {_got(want)} (its directory), got {_got(cell[field])}")
    spec = cell["spec"]
    # not the dataset: the spec names the training run's (the dense data, for a reward-agnostic '-delayed' cell)
    # nor the protocol exactly: the spec names the training protocol (cpu for a cpu-v2 cell: config.TRAINING_PROTOCOL)
    wanted = {**{f: cell[f] for f in ("method", "seed", "exp")},
              "protocol": TRAINING_PROTOCOL.get(cell["protocol"], cell["protocol"])}
    for field, want in wanted.items():
        if field in spec and spec[field] != want:
            raise CellError(f"{path}: field 'spec.{field}': expected {_got(want)} (the cell's {field}), "
                            f"got {_got(spec[field])}")


def parse_cell(text: str, path: str | Path) -> dict[str, Any]:
    """`text` (the contents of result.json at `path`) parsed and checked; CellError naming `path` otherwise."""
    path = Path(path)
    try:
        cell = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CellError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(cell, dict):
        raise CellError(f"{path}: expected a JSON object (a cell's result), got {_got(cell)}")
    _check(path, cell, REQUIRED)
    _check(path, cell["spec"], SPEC, "spec.")
    _check(path, cell["data"], DATA, "data.")
    if cell["exp"] in FIG4_EXPERIMENTS:
        _check(path, cell, FIG4)
        if len(cell["achieved"]) != len(cell["targets"]):
            raise CellError(f"{path}: field 'achieved': expected {len(cell['targets'])} numbers (one per target), "
                            f"got {_got(cell['achieved'])}")
    else:
        _check(path, cell, TABLE)
    _check(path, cell, OPTIONAL, optional=True)
    for i, entry in enumerate(cell.get("per_target") or []):
        if not isinstance(entry, dict):
            raise CellError(f"{path}: field 'per_target[{i}]': expected an object, got {_got(entry)}")
        _check(path, entry, PER_TARGET, f"per_target[{i}].")
    _check_layout(path, cell)
    return cell


def read_text(path: str | Path) -> str:
    """The file's text; CellError if it cannot be read as UTF-8 (FileNotFoundError if it is not there)."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise CellError(f"{path}: cannot be read: {exc}".replace("\n", " ")) from None


def read_cell(path: str | Path) -> dict[str, Any]:
    """The result.json at `path`, parsed and checked (module docstring): its dict, or CellError (a ValueError) whose
    one-line message names the file, the field and what was expected; FileNotFoundError if there is no file."""
    return parse_cell(read_text(path), path)
