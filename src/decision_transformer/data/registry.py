"""Resolve a dataset SRC string to a `TrajectoryDataset`.

SRC forms, tried in this order:
    minari:ID                 a dataset in the local Minari store (data/formats/minari_io.py)
    dqn-replay:DIR            Dopamine DQN-replay logs, every checkpoint in DIR (data/formats/dqn_replay/)
    PATH.hdf5 / PATH.h5       a D4RL-format HDF5 file (data/formats/d4rl_io.py)
    DIR of *.parquet, X.parquet  Hugging Face trajectory rows (data/formats/hf_io.py)
    PATH.npz                  the native format (data/trajectories.py)
    NAME                      a built-in dataset (registered with `register_builtin`), generated into the
                              cache directory on first use
    NAME@STEPS                a built-in dataset that takes a step budget (the Atari ones), made with STEPS
                              steps instead of its default (`dt data make NAME --steps STEPS`); its own cache file
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..common.checks import is_int
from .trajectories import DatasetError, TrajectoryDataset


def cache_dir() -> Path:
    """`$DT_CACHE_DIR`, else `~/.cache/decision-transformer` (absolute: a relative one is taken from the working
    directory)."""
    return Path(os.environ.get("DT_CACHE_DIR") or Path.home() / ".cache" / "decision-transformer").expanduser().absolute()


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset this package can generate deterministically."""

    name: str
    """Registry name, e.g. 'hopper-medium'."""
    env_id: str
    """Gymnasium id its episodes come from."""
    make: Callable[..., TrajectoryDataset] = field(repr=False)
    """Generator: seed -> dataset; with `default_steps`, (seed, steps=N) -> a dataset of N steps."""
    description: str = ""
    ref_min_return: float | None = None
    """This package's measured random-policy return (normalized score 0)."""
    ref_max_return: float | None = None
    """This package's measured expert return (normalized score 100)."""
    ref_label: str = ""
    """The label reports give scores on these references ('' : the dataset's name), e.g. 'suite:hopper-medium'.
    Other reference sets (D4RL's, the Atari gamer scores) come from scores.py by the env's family."""
    ref_source: str = ""
    """Where ref_min_return / ref_max_return come from (as Minari keeps them with the dataset)."""
    generation: int = 1
    """Bumped when the generator's output changes (a fix), so that stale cache files are not reused."""
    default_steps: int = 0
    """> 0: the generator takes a step budget (`steps`), this one unless asked for another (NAME@STEPS)."""

    def path(self, seed: int = 0, steps: int = 0) -> Path:
        suffix = "" if self.generation == 1 else f"-gen{self.generation}"
        budget = f"-steps{steps}" if steps and steps != self.default_steps else ""
        return cache_dir() / f"{self.name}{budget}-seed{seed}{suffix}.npz"

    def is_cached(self, seed: int = 0, steps: int = 0) -> bool:
        return self.path(seed, steps).is_file()

    def generate(self, seed: int = 0, steps: int = 0) -> TrajectoryDataset:
        """Run the generator (`steps` 0: the default budget; only for datasets with one)."""
        if steps and not self.default_steps:
            raise DatasetError(f"built-in dataset {self.name!r} has a fixed size; it takes no step budget (--steps)")
        if steps < 0:
            raise DatasetError(f"{self.name}: steps={steps}; expected a positive step budget (0: the default)")
        return self.make(seed, steps=steps or self.default_steps) if self.default_steps else self.make(seed)


BUILTIN: dict[str, BuiltinDataset] = {}

# Modules that register built-in datasets when imported (kept lazy: they may import gymnasium envs).
_BUILTIN_MODULES = ["decision_transformer.data.demo"]
DATASETS_GROUP = "decision_transformer.datasets"
"""Entry-point group of modules that register built-in datasets when imported (`register_builtin`), e.g. the
experiments package's suite: `[project.entry-points."decision_transformer.datasets"] suite = "pkg.module"`."""

# (predicate on SRC, "module:function" taking SRC) for external formats, imported only when used.
_FORMAT_LOADERS: list[tuple[Callable[[str], bool], str]] = [
    (lambda s: s.startswith("minari:"), "decision_transformer.data.formats.minari_io:load_minari"),
    (lambda s: s.startswith("dqn-replay:"), "decision_transformer.data.formats.dqn_replay:load_dqn_replay_src"),
    (lambda s: s.lower().endswith((".hdf5", ".h5")), "decision_transformer.data.formats.d4rl_io:load_d4rl_hdf5"),
    (lambda s: Path(s).is_dir() or s.endswith(".parquet") and Path(s).is_file(),
     "decision_transformer.data.formats.hf_io:load_hf_trajectories"),
]


def register_builtin(spec: BuiltinDataset) -> BuiltinDataset:
    BUILTIN[spec.name] = spec
    return spec


def builtin_datasets() -> dict[str, BuiltinDataset]:
    """Every registered built-in dataset: the core's own and those of installed plug-ins (DATASETS_GROUP)."""
    _load_registrations()
    return BUILTIN


@functools.cache
def _load_registrations() -> None:
    """Import the modules that register built-in datasets, once per process (scanning the installed packages'
    entry points each time a dataset name is looked up cost more than the lookup)."""
    from importlib.metadata import entry_points

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in entry_points(group=DATASETS_GROUP):
        ep.load()


def _call(target: str, *args):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(*args)


def parse_builtin(src: str) -> tuple[str, int]:
    """'NAME' -> (NAME, 0); 'NAME@STEPS' -> (NAME, STEPS)."""
    name, at, steps = src.partition("@")
    if not at:
        return name, 0
    if not steps.isdigit() or int(steps) <= 0:
        raise DatasetError(f"{src}: expected NAME@STEPS with a positive integer step budget")
    return name, int(steps)


def make_builtin(name: str, seed: int = 0, out: str | os.PathLike | None = None, force: bool = False,
                 steps: int = 0) -> Path:
    """Generate a built-in dataset into the cache (or `out`), unless already there. Returns the path. `name`
    may be NAME@STEPS; `steps` (0: the default) sets the budget of datasets that take one. `out` must be a .npz
    file path; an existing `out` is kept only if it records `name` (else a `DatasetError`, unless `force`)."""
    name, at_steps = parse_builtin(name)
    if at_steps and steps and at_steps != steps:
        raise DatasetError(f"{name}@{at_steps}: conflicts with steps={steps}")
    steps = steps or at_steps
    specs = builtin_datasets()
    if name not in specs:
        raise DatasetError(f"unknown built-in dataset {name!r}; known: {sorted(specs)}")
    spec = specs[name]
    if not is_int(seed) or seed < 0:
        raise DatasetError(f"{name}: --seed {seed}; expected a non-negative integer")
    identity = spec.path(seed, steps).stem  # NAME[-stepsN]-seedS[-genG]: the cache file's name
    if out is None:
        path = spec.path(seed, steps)
    else:  # checked before generating: a wrong --out must not cost a generation, nor clobber another file
        path = Path(out).expanduser()
        if path.is_dir():
            raise DatasetError(f"--out {out}: is a directory; expected a .npz file path")
        if path.suffix.lower() != ".npz" or str(out).endswith(("/", os.sep)):
            raise DatasetError(f"--out {out}: expected a .npz file path")
        if path.exists() and not force:
            _check_same_builtin(path, name, identity)
    if force or not path.is_file():
        dataset = spec.generate(seed, steps)
        object.__setattr__(dataset, "made_as", identity)  # what --out reuse compares
        dataset.save(path)
    return path


def _check_same_builtin(path: Path, name: str, identity: str) -> None:
    """An existing --out file is reused only if it was made as `identity` (NAME[-stepsN]-seedS[-genG]); a file from
    before datasets recorded it (no `made_as`) only if it records the name `name`."""
    try:
        old = TrajectoryDataset.load(path)
    except DatasetError as exc:
        raise DatasetError(f"{path} exists and is not a readable dataset ({exc}); use --force or another --out") from None
    if old.made_as and old.made_as != identity:
        raise DatasetError(f"{path} exists and was made as {old.made_as}, not {identity} (name, step budget, seed, "
                           "generation); use --force or another --out")
    if not old.made_as and old.name != name:
        raise DatasetError(f"{path} exists and is not {name} (it records name {old.name!r}); use --force or another --out")


def load_dataset(src: str, seed: int = 0) -> TrajectoryDataset:
    """Load SRC (see the module docstring). Built-in names are generated on first use."""
    src = str(src)
    if not src.strip():
        raise DatasetError(f"dataset SRC {src!r} is empty; expected a path (.npz, .hdf5, parquet directory), 'minari:ID' or a built-in name")
    for matches, target in _FORMAT_LOADERS:
        if matches(src):
            return _call(target, src)
    if src.endswith(".npz"):
        return TrajectoryDataset.load(src)
    specs = builtin_datasets()
    if src.partition("@")[0] in specs:  # NAME or NAME@STEPS
        return TrajectoryDataset.load(make_builtin(src, seed=seed))
    if Path(src).exists():
        raise DatasetError(f"{src}: unrecognised dataset file; expected .npz, .hdf5/.h5, .parquet or a directory of "
                           ".parquet files")
    raise DatasetError(
        f"{src}: no such file and not a built-in dataset; expected a path (.npz, .hdf5, parquet directory), "
        f"'minari:ID', or one of {sorted(specs)}"
    )


def reference_label(dataset_name: str) -> str | None:
    """The label of a built-in dataset's own references (None if it has none)."""
    spec = builtin_datasets().get(dataset_name)
    if spec is None or spec.ref_min_return is None or spec.ref_max_return is None:
        return None
    return spec.ref_label or dataset_name


def reference_returns(dataset_name: str) -> tuple[float, float] | None:
    """(random, expert) returns measured by this package for a built-in dataset, if known."""
    spec = builtin_datasets().get(dataset_name)
    if spec is None or spec.ref_min_return is None or spec.ref_max_return is None:
        return None
    return spec.ref_min_return, spec.ref_max_return
