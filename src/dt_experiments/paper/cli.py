"""Handlers of `dt bench paper` and `dt bench report` (registered in commands/bench.py; options from dataclasses)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass

from decision_transformer.cli_args import from_args
from .config import PaperBenchConfig
from .names import PROTOCOLS


@dataclass(frozen=True)
class ReportConfig:
    """Settings of `dt bench report`."""

    root: str = "runs/paper"
    """Where `dt bench paper` wrote its cells (its --root)."""
    protocol: str = "cpu"
    """Which protocol's cells to aggregate (cpu, cpu-v2 or full)."""
    out: str = "docs/results"
    """Directory for paper.json, paper.md and the PNGs."""
    archive: str = ""
    """Committed copies of the cells: ROOT's finished cells are copied here and the report is made from all of
    them, so results outlive the local ROOT ('': OUT/cells)."""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"ReportConfig.protocol={self.protocol!r}; expected one of {PROTOCOLS}")


def _command() -> str:
    return "dt " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run_paper_command(args: argparse.Namespace) -> int:
    from .cells import run_paper
    from .config import QUICK

    cfg = from_args(PaperBenchConfig, args, base=QUICK if getattr(args, "quick", None) else None)
    if cfg.status:
        from .cells import status

        rows = status(cfg)
        width = max((len(name) for name, _ in rows), default=0)
        for name, state in rows:
            print(f"{name:<{width}}  {state}")
        done = sum(state.startswith("finished") for _, state in rows)
        print(f"{cfg.exp} ({cfg.protocol}, root {cfg.root}): {done} of {len(rows)} cells finished.")
        return 0
    outcome = run_paper(cfg)
    print(f"{cfg.exp} ({cfg.protocol}): {len(outcome['ran'])} cells run, {len(outcome['finished'])} already "
          f"finished, {len(outcome['skipped'])} skipped (d3rlpy missing); results under {cfg.root}/{cfg.protocol}/"
          f"{cfg.exp}" + (f" ({cfg.jobs} `dt sweep` jobs at once)." if cfg.jobs > 1 else "."))
    return 0


def run_report_command(args: argparse.Namespace) -> int:
    from .report import write_report

    cfg = from_args(ReportConfig, args)
    report = write_report(cfg.root, cfg.protocol, cfg.out, command=_command(), archive=cfg.archive or None)
    print(f"wrote the report under {cfg.out} (paper.json / atari.json and their .md; {report['cells']} cells; "
          f"{report['compute']['train_hours']:.2f} h training, {report['compute']['eval_hours']:.2f} h evaluation)")
    return 0
