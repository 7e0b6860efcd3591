"""Progress: one rule, in one place, for how long work shows where it stands.

Where someone watches (stderr is a terminal, or the code runs in a notebook kernel, where tqdm.auto draws a widget),
a requested bar is a tqdm bar. Where output goes to a pipe or a log file (a background queue, CI, `nohup`), tqdm's
carriage-return redraws would pile up into one line of megabytes, so the same request prints plain lines instead
(`LineProgress`): one at each tenth of the work, at most one every `LINE_EVERY_S` seconds, and one at the end, e.g.

    train dt: 5000/10000 step (50%), 6.21 step/s, loss=0.1302, samples_s=397

The environment variable DT_PROGRESS overrides the terminal check: DT_PROGRESS=1 draws tqdm bars anywhere (a
scheduler's log you follow with `tail -f`), DT_PROGRESS=0 shows no progress at all. A caller's `enabled=False`
(every command's `--no-progress`) shows none either.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

from tqdm.auto import tqdm

ENV_VAR = "DT_PROGRESS"
LINE_EVERY_S = 30.0
"""Plain progress lines: at most one per this many seconds (the last, at the end of the work, always)."""


def _forced() -> str:
    value = os.environ.get(ENV_VAR, "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"environment variable {ENV_VAR}={value!r}: expected 1 (draw progress bars) or 0 (none)")
    return value


def interactive() -> bool:
    """Whether requested progress is a tqdm bar: DT_PROGRESS=1, or (unset) a terminal or a notebook kernel."""
    forced = _forced()
    if forced:
        return forced == "1"
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


class LineProgress:
    """tqdm's `update` / `set_postfix` / `close` (and `with`), printing plain lines for a log (module docstring)."""

    def __init__(self, total: float | None = None, initial: float = 0, desc: str = "", unit: str = "it",
                 file: Any = None, **_: Any):
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.file = file if file is not None else sys.stderr
        self.n0, self.t0 = initial, time.monotonic()
        self.last_line = -math.inf  # monotonic time of the last line printed
        self.postfix = ""
        self.next_mark = self._mark_after(initial)

    def _mark_after(self, n: float) -> float:
        if not self.total:
            return math.inf
        tenth = self.total / 10
        return (math.floor(n / tenth) + 1) * tenth

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.n >= self.next_mark:
            self.next_mark = self._mark_after(self.n)
            if self.n >= self.total or time.monotonic() - self.last_line >= LINE_EVERY_S:
                self._line()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        """The last line, unless the final update printed it (work that ends early says where it stopped)."""
        if self.n > self.n0 and (self.total is None or self.n < self.total):
            self._line()
        self.next_mark = math.inf

    def _line(self) -> None:
        now = time.monotonic()
        self.last_line = now
        done = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g}"
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = (self.n - self.n0) / max(now - self.t0, 1e-9)
        text = f"{self.desc}: {done} {self.unit}{share}, {rate:.3g} {self.unit}/s"
        print(text + (f", {self.postfix}" if self.postfix else ""), file=self.file, flush=True)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(enabled: bool, **kwargs: Any) -> Any:
    """Progress for work the caller asked to show (`enabled`), as tqdm's keyword arguments describe it: a tqdm bar
    where someone watches, plain lines in a log (`LineProgress`), nothing when not enabled or DT_PROGRESS=0."""
    kwargs.setdefault("dynamic_ncols", True)
    if enabled and not interactive() and _forced() != "0":
        return LineProgress(**kwargs)
    return tqdm(disable=not (enabled and interactive()), **kwargs)
