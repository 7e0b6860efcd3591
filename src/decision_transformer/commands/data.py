"""`dt data info|list|make|export`: inspect, list, generate and convert datasets."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from ..cli_args import POSITIONAL, add_dataclass_args, command_help, from_args


@dataclass(frozen=True)
class DataInfo:
    """Episodes, steps, returns and spaces of a dataset SRC."""

    src: str = field(default="", metadata=POSITIONAL)
    """Built-in name, .npz, minari:ID, .hdf5, a parquet directory or dqn-replay:DIR."""


@dataclass(frozen=True)
class DataList:
    """Built-in datasets, whether cached, and their size."""


@dataclass(frozen=True)
class DataMake:
    """Generate a built-in dataset into the cache (or --out)."""

    name: str = field(default="", metadata=POSITIONAL)
    """Built-in dataset name (dt data list)."""
    out: str = ""
    """Write here (a .npz file path) instead of the cache directory. An existing file is reused only if it was made
    as the same dataset, step budget, seed and generation (its `made_as`); any other file is refused unless --force."""
    seed: int = 0
    """Generation seed."""
    force: bool = False
    """Regenerate even if cached."""
    steps: int = 0
    """Step budget, for datasets that take one (Atari): 0 = the dataset's default. Another budget is its own
    cache file and dataset SRC, NAME@STEPS (e.g. --dataset breakout-mixed@5000)."""


@dataclass(frozen=True)
class DataExport:
    """Write a dataset in another format."""

    src: str = field(default="", metadata=POSITIONAL)
    """Dataset SRC (usually a built-in name)."""
    to: str = "minari"
    """Target format: minari or hdf5."""
    out: str = ""
    """Output path (default: next to the cache entry)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect, list, generate and export datasets")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    for name, cls, func in (("info", DataInfo, run_info), ("list", DataList, run_list), ("make", DataMake, run_make),
                            ("export", DataExport, run_export)):
        q = dsub.add_parser(name, **command_help(cls))
        add_dataclass_args(q, cls)
        q.set_defaults(func=func)


def describe(dataset) -> str:

    from ..common.metrics import format_table

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

    print(describe(load_dataset(from_args(DataInfo, args).src)))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..data.registry import builtin_datasets, cache_dir
    from ..common.metrics import format_table

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

    a = from_args(DataMake, args)
    t0 = time.perf_counter()
    kept = bool(a.out) and Path(a.out).expanduser().is_file() and not a.force
    path = make_builtin(a.name, seed=a.seed, out=a.out or None, force=a.force, steps=a.steps)
    src = f"{a.name}@{a.steps}" if a.steps and "@" not in a.name and not a.out else a.name
    print(f"{src}: {path} ({time.perf_counter() - t0:.1f} s)" + ("; kept the existing file, made as the same "
                                                                   "(--force regenerates)" if kept else ""))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..data.formats.export import export_dataset
    from ..data.registry import cache_dir, load_dataset

    a = from_args(DataExport, args)
    suffixes = {"minari": "-minari", "hdf5": ".hdf5"}
    if a.to not in suffixes:
        raise ValueError(f"--to {a.to!r}: expected one of {sorted(suffixes)}")
    dataset = load_dataset(a.src)
    out = Path(a.out) if a.out else cache_dir() / "export" / f"{Path(a.src).stem}{suffixes[a.to]}"
    path = export_dataset(dataset, a.to, out)
    print(f"{a.src} -> {path}")
    if a.to == "minari":  # a store of its own, not the default one `minari:ID` reads
        print(f"read it with: MINARI_DATASETS_PATH={out} dt train --dataset minari:{path.name} ...")
    return 0
