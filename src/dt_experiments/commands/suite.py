"""`dt suite ...`: train the suite's behaviour policies, export them as committed artifacts, measure references.

    dt suite train-behaviour hopper [--total-steps N] [--fresh]   resumable PPO training (background-friendly)
    dt suite train-behaviour hopper --algo sac [--total-steps N]  resumable SAC training, replay buffer included
    dt suite status hopper [--plot PNG]                            the snapshot learning curve
    dt suite export hopper [--medium-step S] [--expert-step S]     copy chosen snapshots into assets/suite
    dt suite refs hopper [--episodes 100]                          measure random / expert / medium returns
    dt suite table NAME [NAME ...] [--seed 0]                      markdown statistics of generated datasets
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

from decision_transformer.cli_args import POSITIONAL, add_dataclass_args, command_help, from_args

ENVS = ("hopper", "halfcheetah", "walker2d", "reacher")


@dataclass(frozen=True)
class SuiteTrain:
    """Train (or resume) an env's behaviour policy (PPO or SAC)."""

    env: str = field(default="", metadata=POSITIONAL)
    """hopper, halfcheetah, walker2d or reacher."""
    algo: str = "ppo"
    """ppo or sac."""
    total_steps: int = 0
    """Env steps in all (0: per env for PPO, 1,000,000 for SAC)."""
    fresh: bool = False
    """Start over instead of resuming the work dir."""
    work_dir: str = ""
    """Default: $DT_CACHE_DIR/behaviour/ENV_ID (PPO), $DT_CACHE_DIR/behaviour/sac/ENV_ID (SAC)."""
    seed: int = 0
    """Training seed."""
    n_envs: int = 1
    """SAC: training envs per vector step (fresh runs only)."""
    gradient_steps: int = 1
    """SAC: gradient steps per vector step (fresh runs only)."""

    def __post_init__(self) -> None:
        if self.total_steps < 0 or self.seed < 0:
            name = "total_steps" if self.total_steps < 0 else "seed"
            raise ValueError(f"SuiteTrain.{name}={getattr(self, name)} must be >= 0"
                             + (" (0: the algorithm's default)" if name == "total_steps" else ""))
        for name in ("n_envs", "gradient_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"SuiteTrain.{name}={getattr(self, name)} must be >= 1")


@dataclass(frozen=True)
class SuiteStatus:
    """Print the snapshot learning curve of a work dir."""

    env: str = field(default="", metadata=POSITIONAL)
    """hopper, halfcheetah, walker2d or reacher."""
    algo: str = "ppo"
    """ppo or sac."""
    work_dir: str = ""
    """Default: the algorithm's work dir for the env."""
    plot: str = ""
    """Also draw the curve into this PNG."""
    target: float = float("nan")
    """The expert target, drawn as a dashed line on the plot (nan: none)."""


@dataclass(frozen=True)
class SuiteExport:
    """Copy the chosen snapshots into the package's assets/suite."""

    env: str = field(default="", metadata=POSITIONAL)
    """hopper, halfcheetah, walker2d or reacher."""
    algo: str = "ppo"
    """ppo or sac (whose work dir to export)."""
    work_dir: str = ""
    """Default: the algorithm's work dir for the env."""
    medium_step: int = -1
    """-1: PPO: the snapshot closest to 1/3 of the expert's return; SAC: the first snapshot reaching it."""
    expert_step: int = -1
    """-1: the best re-evaluated snapshot."""
    replay_every: int = 1
    """PPO: keep every n-th snapshot for medium-replay."""
    reevaluate_episodes: int = 20
    """Episodes per re-evaluated candidate snapshot (sampled actions, seed 777)."""


@dataclass(frozen=True)
class SuiteRefs:
    """Measure reference returns (random, expert, medium) into refs.json."""

    env: str = field(default="", metadata=POSITIONAL)
    """hopper, halfcheetah, walker2d or reacher."""
    episodes: int = 100
    """Episodes per policy."""


@dataclass(frozen=True)
class SuiteTable:
    """Markdown statistics of generated suite datasets."""

    names: tuple[str, ...] = field(default=(), metadata=POSITIONAL)
    """Built-in dataset names."""
    seed: int = 0
    """Generation seed."""


COMMANDS = {"train-behaviour": SuiteTrain, "status": SuiteStatus, "export": SuiteExport, "refs": SuiteRefs,
            "table": SuiteTable}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("suite", help="build the offline dataset suite (behaviour policies, references)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="suite_command", required=True)
    funcs = {"train-behaviour": _train, "status": _status, "export": _export, "refs": _refs, "table": _table}
    for name, cls in COMMANDS.items():
        q = sub.add_parser(name, **command_help(cls))
        add_dataclass_args(q, cls)
        q.set_defaults(func=lambda args, cls=cls, f=funcs[name]: f(_options(cls, args)))


def _options(cls, args):
    a = from_args(cls, args)
    if getattr(a, "env", None) is not None and a.env not in ENVS:
        raise ValueError(f"env {a.env!r}: expected one of {ENVS}")
    if getattr(a, "algo", "ppo") not in ("ppo", "sac"):
        raise ValueError(f"--algo {a.algo!r}: expected ppo or sac")
    return a


def _work(args) -> Path:
    from ..suite.behaviour import work_dir
    from ..suite.datasets import ENV_IDS

    if args.work_dir:
        return Path(args.work_dir)
    if getattr(args, "algo", "ppo") == "sac":
        from ..suite.sac import work_dir as sac_work_dir

        return sac_work_dir(ENV_IDS[args.env])
    return work_dir(ENV_IDS[args.env])


DEFAULT_STEPS = {"hopper": 2_000_000, "halfcheetah": 2_000_000, "walker2d": 2_000_000, "reacher": 1_000_000}


def _train(args) -> int:
    from ..suite.behaviour import ZOO_PPO, BehaviourConfig, train_behaviour
    from ..suite.datasets import ENV_IDS

    env_id = ENV_IDS[args.env]
    if args.algo == "sac":
        from ..suite.sac import SACConfig, SACSettings, train_sac

        total = args.total_steps or 1_000_000
        settings = SACSettings(buffer_size=max(1_000_000, total), n_envs=args.n_envs, gradient_steps=args.gradient_steps)
        train_sac(SACConfig(env_id=env_id, total_steps=total, seed=args.seed, sac=settings), _work(args),
                  resume=not args.fresh)
        return 0
    cfg = BehaviourConfig(env_id=env_id, total_steps=args.total_steps or DEFAULT_STEPS[args.env], seed=args.seed,
                          ppo=ZOO_PPO[env_id])
    train_behaviour(cfg, _work(args), resume=not args.fresh)
    return 0


def _status(args) -> int:
    from ..suite.behaviour import read_snapshots

    records = read_snapshots(_work(args))
    if not records:
        print(f"no snapshots in {_work(args)}")
        return 1
    for r in records:
        wall = f"  {r['wall_s'] / 3600:6.2f} h" if "wall_s" in r else ""
        print(f"{r['step']:>9,d}  {r['stochastic_return']:9.1f} +- {r['stochastic_std']:.1f}{wall}")
    if args.plot:
        from ..plots import plot_learning_curve
        from ..suite.datasets import ENV_IDS

        target = None if math.isnan(args.target) else args.target
        path = plot_learning_curve(Path(args.plot), records, f"{ENV_IDS[args.env]}: {args.algo.upper()} behaviour learner",
                                   target=target)
        print(f"plot: {path}")
    return 0


def _export(args) -> int:
    from ..suite.build import export_env

    entry = export_env(args.env, _work(args), None if args.medium_step < 0 else args.medium_step,
                       None if args.expert_step < 0 else args.expert_step, args.replay_every,
                       args.reevaluate_episodes)
    for q in ("expert", "medium"):
        e = entry[q]
        print(f"{q}: step {e['train_step']:,} (training eval {e['eval_return']}, "
              f"re-evaluated {e['reevaluated_return']} over {e['reevaluated_episodes']} episodes)")
    mr = entry["medium_replay"]
    if "stream" in mr:
        print(f"medium-replay: the replay buffer's first {mr['steps']:,} steps ({mr['episodes']:,} episodes)")
    else:
        print(f"medium-replay: {len(mr['snapshots'])} snapshots, {sum(s['steps'] for s in mr['snapshots']):,} steps")
    return 0


def _refs(args) -> int:
    from ..suite.build import measure_refs

    entry = measure_refs(args.env, episodes=args.episodes)
    for q in ("random", "medium", "expert"):
        if q in entry:
            print(f"{q:>7}: {entry[q]['mean']:.1f} +- {entry[q]['std']:.1f} over {entry[q]['episodes']} episodes")
    return 0


def _table(args) -> int:
    from decision_transformer.data.registry import load_dataset
    from ..suite.stats import dataset_row, table_header

    rows = [dataset_row(load_dataset(name, seed=args.seed), name) for name in args.names]  # a bad name: no header
    print(table_header())
    print("\n".join(rows))
    return 0
