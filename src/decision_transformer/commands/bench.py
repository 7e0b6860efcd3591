"""`dt bench graph|keytodoor`: the paper's credit-assignment experiments, end to end (data, training of
every method, evaluation, JSON + Markdown table + PNGs)."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="reproduce the paper's graph shortest-path and Key-to-Door experiments; speed benchmarks")
    bsub = p.add_subparsers(dest="bench_command", required=True, metavar="BENCH")

    def common(q: argparse.ArgumentParser, default_seeds: int) -> None:
        q.add_argument("--seeds", type=int, default=None, help=f"number of seeds (default {default_seeds}; --quick: 2)")
        q.add_argument("--quick", action="store_true", help="a small version (for tests): tiny data, model and training")
        q.add_argument("--out", default="docs/results", help="directory for the JSON, Markdown table and PNGs")
        q.add_argument("--steps", type=int, default=None, help="override the transformer training steps")
        q.add_argument("--batch-size", type=int, default=None, help="override the transformer batch size (episodes)")
        q.add_argument("--lr", type=float, default=None, help="override the transformer learning rate")
        q.add_argument("--methods", default=None, help="comma-separated subset of the methods")
        q.add_argument("--no-progress", action="store_true", help="no progress bars or per-run lines")

    g = bsub.add_parser("graph", help="shortest path on a random graph from random walks (paper Figure 2)")
    common(g, 3)
    g.add_argument("--episodes", type=int, default=None, help="random-walk trajectories (default 5000)")
    g.set_defaults(func=run_graph_cmd)

    k = bsub.add_parser("keytodoor", help="Key-to-Door from 1K / 10K random trajectories (paper Table 6)")
    common(k, 3)
    k.add_argument("--eval-episodes", type=int, default=None, help="evaluation episodes per run (default 300)")
    k.add_argument("--no-critic", action="store_true", help="skip the critic analysis")
    k.add_argument("--resume", action="store_true",
                   help="continue a killed run from the partial keytodoor.json in --out (same settings)")
    k.add_argument("--first-seed", type=int, default=None,
                   help="run seeds first-seed .. first-seed + seeds - 1 (default 0; choose settings on another range)")
    k.add_argument("--eval-every", type=int, default=None,
                   help="also evaluate the transformers every N steps (learning curves in the JSON's 'curves')")
    k.add_argument("--balanced-steps", type=int, default=None,
                   help="training steps of dt_balanced (default 150; --steps does not change them)")
    k.set_defaults(func=run_keytodoor_cmd)

    from ..bench.speed import add_speed_parser

    add_speed_parser(bsub)  # dt bench speed: sampling vs training step, batched vs sequential evaluation


def _overrides(args: argparse.Namespace, cfg):
    changes = {}
    if args.seeds is not None:
        if args.seeds <= 0:
            raise ValueError(f"--seeds={args.seeds} must be positive")
        changes["seeds"] = args.seeds
    train = {}
    for name in ("steps", "batch_size", "lr"):
        value = getattr(args, name)
        if value is not None:
            if value <= 0:
                raise ValueError(f"--{name.replace('_', '-')}={value} must be positive")
            train[name] = value
    if train:
        changes["train"] = dataclasses.replace(cfg.train, **train)
    if args.methods:
        changes["methods"] = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    return dataclasses.replace(cfg, **changes)


def _command() -> str:
    return "dt " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _print_summary(report: dict) -> None:
    """One line per method and data: mean ± std over seeds, in %."""
    for m, per in report["summary"].items():
        for d, s in per.items():
            print(f"  {m:11s} {d:4s}: {100 * s['mean']:.1f}% ± {100 * s['std']:.1f} (n={s['n']})")


def run_graph_cmd(args: argparse.Namespace) -> int:
    from ..bench.graph import QUICK, GraphBenchConfig, run_graph

    cfg = _overrides(args, QUICK if args.quick else GraphBenchConfig())
    if args.episodes is not None:
        cfg = dataclasses.replace(cfg, num_episodes=args.episodes)
    report = run_graph(cfg, args.out, command=_command(), progress=not args.no_progress)
    print(f"wrote {args.out}/graph.json, graph.md, graph_path_lengths.png ({report['wall_time_s'] / 60:.1f} min)")
    _print_summary(report)
    return 0


def run_keytodoor_cmd(args: argparse.Namespace) -> int:
    from ..bench.keytodoor import QUICK, KeyToDoorBenchConfig, run_keytodoor

    cfg = _overrides(args, QUICK if args.quick else KeyToDoorBenchConfig())
    if args.eval_episodes is not None:
        cfg = dataclasses.replace(cfg, eval_episodes=args.eval_episodes)
    if args.no_critic:
        cfg = dataclasses.replace(cfg, critic=False)
    for name, low in (("first_seed", 0), ("eval_every", 0), ("balanced_steps", 1)):
        value = getattr(args, name)
        if value is not None:
            if value < low:
                raise ValueError(f"--{name.replace('_', '-')}={value} must be at least {low}")
            cfg = dataclasses.replace(cfg, **{name: value})
    report = run_keytodoor(cfg, args.out, command=_command(), progress=not args.no_progress, resume=args.resume)
    print(f"wrote {args.out}/keytodoor.json, keytodoor.md ({report['wall_time_s'] / 60:.1f} min)")
    _print_summary(report)
    return 0
