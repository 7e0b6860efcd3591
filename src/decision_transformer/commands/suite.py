"""`dt suite ...`: train the suite's behaviour policies, export them as committed artifacts, measure references.

    dt suite train-behaviour hopper [--total-steps N] [--fresh]   resumable PPO training (background-friendly)
    dt suite train-behaviour hopper --algo sac [--total-steps N]  resumable SAC training, replay buffer included
    dt suite status hopper                                         the snapshot learning curve
    dt suite export hopper [--medium-step S] [--expert-step S]     copy chosen snapshots into assets/suite
    dt suite refs hopper [--episodes 100]                          measure random / expert / medium returns
    dt suite table NAME [NAME ...] [--seed 0]                      markdown statistics of generated datasets
"""

from __future__ import annotations

import argparse
from pathlib import Path

ENVS = ("hopper", "halfcheetah", "walker2d", "reacher")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("suite", help="build the offline dataset suite (behaviour policies, references)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="suite_command", required=True)

    t = sub.add_parser("train-behaviour", help="train (or resume) an env's behaviour policy (PPO or SAC)")
    t.add_argument("env", choices=ENVS)
    t.add_argument("--algo", choices=("ppo", "sac"), default="ppo", help="learner (default: ppo)")
    t.add_argument("--total-steps", type=int, default=None,
                   help="env steps in all (default: per env for PPO, 1,000,000 for SAC)")
    t.add_argument("--fresh", action="store_true", help="start over instead of resuming the work dir")
    t.add_argument("--work-dir", default=None, help="default: $DT_CACHE_DIR/behaviour/ENV_ID (PPO), "
                                                    "$DT_CACHE_DIR/behaviour/sac/ENV_ID (SAC)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--n-envs", type=int, default=1, help="SAC: training envs per vector step (fresh runs only)")
    t.add_argument("--gradient-steps", type=int, default=1,
                   help="SAC: gradient steps per vector step (fresh runs only; default 1)")
    t.set_defaults(func=_train)

    s = sub.add_parser("status", help="print the snapshot learning curve of a work dir")
    s.add_argument("env", choices=ENVS)
    s.add_argument("--algo", choices=("ppo", "sac"), default="ppo")
    s.add_argument("--work-dir", default=None)
    s.set_defaults(func=_status)

    e = sub.add_parser("export", help="copy the chosen snapshots into the package's assets/suite")
    e.add_argument("env", choices=ENVS)
    e.add_argument("--work-dir", default=None)
    e.add_argument("--medium-step", type=int, default=None, help="default: closest to 1/3 of the expert's return")
    e.add_argument("--expert-step", type=int, default=None, help="default: best evaluated snapshot")
    e.add_argument("--replay-every", type=int, default=1, help="keep every n-th snapshot for medium-replay")
    e.set_defaults(func=_export)

    r = sub.add_parser("refs", help="measure reference returns (random, expert, medium) into refs.json")
    r.add_argument("env", choices=ENVS)
    r.add_argument("--episodes", type=int, default=100)
    r.set_defaults(func=_refs)

    tb = sub.add_parser("table", help="markdown statistics of generated suite datasets")
    tb.add_argument("names", nargs="+")
    tb.add_argument("--seed", type=int, default=0)
    tb.set_defaults(func=_table)


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
    return 0


def _export(args) -> int:
    from ..suite.build import export_env

    entry = export_env(args.env, _work(args), args.medium_step, args.expert_step, args.replay_every)
    print(f"expert: step {entry['expert']['train_step']:,} (eval {entry['expert']['eval_return']})")
    print(f"medium: step {entry['medium']['train_step']:,} (eval {entry['medium']['eval_return']})")
    mr = entry["medium_replay"]["snapshots"]
    print(f"medium-replay: {len(mr)} snapshots, {sum(s['steps'] for s in mr):,} steps")
    return 0


def _refs(args) -> int:
    from ..suite.build import measure_refs

    entry = measure_refs(args.env, episodes=args.episodes)
    for q in ("random", "medium", "expert"):
        if q in entry:
            print(f"{q:>7}: {entry[q]['mean']:.1f} +- {entry[q]['std']:.1f} over {entry[q]['episodes']} episodes")
    return 0


def _table(args) -> int:
    from ..data.registry import load_dataset
    from ..suite.stats import dataset_row, table_header

    print(table_header())
    for name in args.names:
        print(dataset_row(load_dataset(name, seed=args.seed), name))
    return 0
