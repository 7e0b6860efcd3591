"""`dt data info|list|make|export`: inspect, list, generate and convert datasets."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect, list, generate and export datasets")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")

    info = dsub.add_parser("info", help="episodes, steps, returns and spaces of a dataset SRC")
    info.add_argument("src", help="built-in name, .npz, minari:ID, .hdf5 or parquet directory")
    info.set_defaults(func=run_info)

    lst = dsub.add_parser("list", help="built-in datasets, whether cached, and their size")
    lst.set_defaults(func=run_list)

    make = dsub.add_parser("make", help="generate a built-in dataset into the cache (or --out)")
    make.add_argument("name")
    make.add_argument("--out", default=None, help="write here instead of the cache directory")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--force", action="store_true", help="regenerate even if cached")
    make.set_defaults(func=run_make)

    export = dsub.add_parser("export", help="write a dataset in another format")
    export.add_argument("name", help="dataset SRC (usually a built-in name)")
    export.add_argument("--to", required=True, choices=["minari", "hdf5"])
    export.add_argument("--out", default=None, help="output path (default: next to the cache entry)")
    export.set_defaults(func=run_export)


def describe(dataset) -> str:

    from ..metrics import format_table

    ret = dataset.episode_returns
    lengths = dataset.episode_lengths
    if dataset.discrete_actions:
        act = f"Discrete({dataset.act_dim}) (max action seen + 1)"
    else:
        act = f"Box(shape={dataset.actions.shape[1:]}, min={dataset.actions.min():.3g}, max={dataset.actions.max():.3g})"
    rows = [
        ["source", dataset.source], ["name", dataset.name or "-"], ["env_id", dataset.env_id or "-"],
        ["episodes", dataset.num_episodes], ["steps", dataset.num_steps],
        ["episode length min / mean / max", f"{lengths.min()} / {lengths.mean():.1f} / {lengths.max()}"],
        ["return min / mean / max", f"{ret.min():.2f} / {ret.mean():.2f} / {ret.max():.2f}"],
        ["terminations / truncations", f"{int(dataset.terminations.sum())} / {int(dataset.truncations.sum())}"],
        ["observation space", f"Box(shape={dataset.observation_shape}, dtype={dataset.observations.dtype})"],
        ["action space", act], ["reward_scale", dataset.reward_scale],
    ]
    return format_table(["field", "value"], [[k, v] for k, v in rows])


def run_info(args: argparse.Namespace) -> int:
    from ..data.registry import load_dataset

    print(describe(load_dataset(args.src)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..data.registry import builtin_datasets, cache_dir
    from ..metrics import format_table

    rows = []
    for name, spec in sorted(builtin_datasets().items()):
        path = spec.path()
        size = f"{path.stat().st_size / 2**20:.1f} MiB" if path.is_file() else "-"
        rows.append([name, spec.env_id, "yes" if path.is_file() else "no", size, spec.description])
    print(format_table(["name", "env_id", "cached", "size", "description"], rows))
    print(f"cache directory: {cache_dir()}")
    return 0


def run_make(args: argparse.Namespace) -> int:
    import time

    from ..data.registry import make_builtin

    t0 = time.perf_counter()
    path = make_builtin(args.name, seed=args.seed, out=args.out, force=args.force)
    print(f"{args.name}: {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..data.formats.export import export_dataset
    from ..data.registry import cache_dir, load_dataset

    dataset = load_dataset(args.name)
    suffix = {"minari": "-minari", "hdf5": ".hdf5"}[args.to]
    out = Path(args.out) if args.out else cache_dir() / "export" / f"{Path(args.name).stem}{suffix}"
    print(f"{args.name} -> {export_dataset(dataset, args.to, out)}")
    return 0
