"""Run logging: namespaced scalars (`train/loss`, `eval/return_mean`) to `metrics.jsonl` and TensorBoard.

metrics.jsonl holds one JSON object per line, each written whole with its newline last, so a run killed
mid-write can leave only its last line torn: readers leave it out, and a resumed run drops it with a warning
(`truncate_metrics`); every complete line is kept."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

from . import atomic


class MetricsLogger:
    """Appends one JSON object per call to RUN_DIR/metrics.jsonl and mirrors scalars to RUN_DIR/tb."""

    def __init__(self, run_dir: str | os.PathLike, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / "metrics.jsonl"
        self._file = open(self.path, "a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"))

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": int(step), **{k: _jsonable(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of RUN_DIR/metrics.jsonl, or of RUN_DIR itself where it is a .jsonl file (a run's metrics archived
    under another name). A torn last line (a run killed mid-write) is left out; any other line that is not a JSON
    object with a "step" is a ValueError naming the file and the line."""
    path = Path(run_dir)
    return _read_rows(path if path.suffix == ".jsonl" else path / "metrics.jsonl")[0]


def truncate_metrics(run_dir: str | os.PathLike, max_step: int) -> None:
    """Drop rows logged after `max_step` (a resumed run repeats those steps), and a torn last line, with a
    warning (a run killed mid-write; every complete line is kept). Atomic rewrite."""
    path = Path(run_dir) / "metrics.jsonl"
    rows, torn = _read_rows(path)
    if torn is not None:
        warnings.warn(f"{path}: dropped its torn last line {torn[:60]!r} (a run killed while writing it)", stacklevel=2)
    if not path.is_file():
        return
    rows = [r for r in rows if r["step"] <= max_step]
    atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """(rows, the torn last line or None). Only the last line can be torn: each row is written whole, newline last."""
    if not path.is_file():
        return [], None
    lines = path.read_text(errors="replace").split("\n")
    rows, torn = [], None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines) or (number == len(lines) - 1 and not lines[-1]):  # the last line
                torn = line
                continue
            raise ValueError(f"{path}: line {number} is not JSON ({exc.msg}); every line but a torn last one must "
                             "be a complete row") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise ValueError(f"{path}: line {number} is not a metrics row (a JSON object with an integer \"step\")")
        rows.append(row)
    return rows, torn


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table for end-of-run summaries."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        return f"{c:.2f}"
    return "-" if c is None else str(c)
