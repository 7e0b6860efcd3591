"""Progress bars: one rule, in one place, for when a tqdm bar is drawn.

A bar is drawn when its caller asks for one (`progress=True`, the `--no-progress` flags turn it off) and the output
is interactive: stderr is a terminal, or the code runs in a notebook kernel (tqdm.auto draws a widget there). Piped
or redirected output (a background queue's log, CI, `nohup`) gets no bar: tqdm redraws with carriage returns, which a
log file keeps as one line of megabytes, and the work's own log lines and closing summary say what it did.

The environment variable DT_PROGRESS overrides the terminal check: DT_PROGRESS=1 draws requested bars in a log file
too (a batch scheduler's log you follow with `tail -f`), DT_PROGRESS=0 draws none anywhere.
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

ENV_VAR = "DT_PROGRESS"


def interactive() -> bool:
    """Whether requested bars are drawn: DT_PROGRESS if set ("1" / "0"), else a terminal or a notebook kernel."""
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ValueError(f"environment variable {ENV_VAR}={forced!r}: expected 1 (draw progress bars) or 0 (none)")
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


def progress_bar(enabled: bool, **kwargs) -> tqdm:
    """A tqdm bar (tqdm's own keyword arguments), drawn only if `enabled` and the output is `interactive()`."""
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(disable=not (enabled and interactive()), **kwargs)
