"""The `dt` command. Sub-commands are plug-in modules under `decision_transformer.commands`, each with
`add_parser(subparsers)` that registers its parser and sets `func(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from . import __version__
from .common.runlock import RunInUse

COMMANDS = ["train", "eval", "finetune", "data", "demo", "hf", "export"]
COMMANDS_GROUP = "decision_transformer.commands"
"""Entry-point group of sub-commands from other packages: NAME = "pkg.module:add_parser" (`dt bench`, `dt suite`
and `dt sweep` come from the experiments package this way)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dt", description="Decision Transformer: train, evaluate, datasets, interop.")
    parser.add_argument("--version", action="version", version=f"decision-transformer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"decision_transformer.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"decision_transformer.commands.{name}":
                continue  # a command module not present in this checkout
            raise
        module.add_parser(sub)
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if ep.name not in COMMANDS:
            ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        # a warning is one line too: `dt train: warning: ...` (restored when the command returns)
        warnings.showwarning = lambda message, *_, **__: print(f"dt {args.command}: warning: {message}",
                                                               file=sys.stderr)
        try:
            return int(args.func(args) or 0)
        except (ValueError, OSError, ImportError, RunInUse) as exc:
            # Bad input (dataset, checkpoint, config, missing extra, a file that cannot be read or written, a run
            # another process is writing): one clear line, no traceback.
            print(f"dt {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback (runs resume from their last checkpoint)
            print(f"dt {args.command}: interrupted; a run resumes from its last checkpoint when the same command (or "
                  "`dt train --resume RUN`) runs again", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
