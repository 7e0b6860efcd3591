"""`dt bench graph|keytodoor|speed`: the paper's credit-assignment experiments end to end (data, training of
every method through the library's trainer, evaluation, JSON + Markdown table + PNGs), and the speed benchmark.

Every option comes from a dataclass: the benchmark's own config (nested configs as `--train.lr`,
`--cql.steps`) and `BenchRun` (where to write, --quick, --resume)."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass

from decision_transformer.cli_args import add_dataclass_args, from_args


@dataclass(frozen=True)
class BenchRun:
    """How to run a benchmark (its settings are the benchmark config's options)."""

    out: str = "docs/results"
    """Directory for the JSON, Markdown table and PNGs."""
    quick: bool = False
    """A small version (for tests): tiny data, model and training; options given still apply on top."""
    resume: bool = False
    """Continue a killed run: finished blocks are kept from the partial JSON in --out (same settings), training
    runs continue from their checkpoints."""
    progress: bool = True
    """Per-run result lines."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..configs import GraphBenchConfig, KeyToDoorBenchConfig, SpeedConfig

    p = sub.add_parser("bench", help="reproduce the paper's experiments as resumable cells and report them; speed benchmarks")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    # per-run fields the benchmark sets itself
    cell_fields = [f"train.{f}" for f in ("dataset", "out", "env_id", "seed", "sampler", "return_balanced",
                                           "action_loss_weight", "return_loss_weight", "eval_every", "eval_targets",
                                           "eval_episodes", "torch_threads", "progress")] + ["cql.seed"]
    for name, cls, help_text, func in (
        ("graph", GraphBenchConfig, "shortest path on a random graph from random walks (paper Figure 2)", _graph),
        ("keytodoor", KeyToDoorBenchConfig, "Key-to-Door from 1K / 10K random trajectories (paper Table 6)", _keytodoor),
    ):
        q = bsub.add_parser(name, help=help_text)
        add_dataclass_args(q.add_argument_group("run"), BenchRun)
        add_dataclass_args(q.add_argument_group(f"settings ({cls.__name__})"), cls, exclude=cell_fields)
        q.set_defaults(func=func, cell_fields=cell_fields)
    s = bsub.add_parser("speed", help="sampling vs training step, batched vs sequential evaluation")
    add_dataclass_args(s, SpeedConfig)
    s.set_defaults(func=_speed)
    from ..paper.cli import ReportConfig, run_paper_command, run_report_command
    from ..paper.config import PaperBenchConfig

    for name, cls, help_text, func in (
        ("paper", PaperBenchConfig, "the paper's gym and Atari tables, Figure 4, ablations and the experiments beyond them, as resumable cells",
         run_paper_command),
        ("report", ReportConfig, "aggregate finished `dt bench paper` cells into paper.json, paper.md and PNGs",
         run_report_command),
    ):
        q = bsub.add_parser(name, help=help_text)
        add_dataclass_args(q, cls)
        q.set_defaults(func=func)


def _command() -> str:
    return "dt " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _config(args: argparse.Namespace, cls, quick):
    run = from_args(BenchRun, args)
    return run, from_args(cls, args, exclude=args.cell_fields, base=quick if run.quick else cls())


def _print_summary(report: dict) -> None:
    """One line per method and data: mean ± sample std over seeds, in %."""
    for m, per in report["summary"].items():
        for d, s in per.items():
            print(f"  {m:11s} {d:4s}: {100 * s['mean']:.1f}% ± {100 * s['std']:.1f} (sample std, n={s['n']})")


def _graph(args: argparse.Namespace) -> int:
    from ..graph import QUICK, GraphBenchConfig, run_graph

    run, cfg = _config(args, GraphBenchConfig, QUICK)
    report = run_graph(cfg, run.out, command=_command(), progress=run.progress, resume=run.resume)
    print(f"wrote {run.out}/graph.json, graph.md, graph_path_lengths.png ({report['wall_time_s'] / 60:.1f} min)")
    _print_summary(report)
    return 0


def _keytodoor(args: argparse.Namespace) -> int:
    from ..keytodoor import QUICK, KeyToDoorBenchConfig, run_keytodoor

    run, cfg = _config(args, KeyToDoorBenchConfig, QUICK)
    report = run_keytodoor(cfg, run.out, command=_command(), progress=run.progress, resume=run.resume)
    print(f"wrote {run.out}/keytodoor.json, keytodoor.md ({report['wall_time_s'] / 60:.1f} min)")
    _print_summary(report)
    return 0


def _speed(args: argparse.Namespace) -> int:
    from ..speed import SpeedConfig, run_speed

    run_speed(from_args(SpeedConfig, args))
    return 0
