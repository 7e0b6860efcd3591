"""Hugging Face trajectory datasets shaped like `edbeeching/decision_transformer_gym_replay`, from a local
directory of parquet files (read with pyarrow; nothing is fetched from the hub).

Layout: one row per episode, each column a list with one entry per step:

    observations  list<list<float>>  required
    actions       list<list<float>>  required (list<int> for discrete actions)
    rewards       list<float>        required
    dones         list<bool>         required unless both `terminations` and `truncations` are present
    terminations  list<bool>         optional; used instead of `dones` together with `truncations`
    truncations   list<bool>         optional

Flags: with only `dones`, `dones` -> terminations, and an episode whose last step is not done is taken to
have been cut (time limit or end of the data): its last step gets `truncations` = True. An `observations`
list one longer than `rewards` in every row (a stored final observation) has its last entry dropped.

Directory: the `*.parquet` files directly in it, else those below it, which must then all sit in one
directory (the Hub's parquet export puts each config in its own `CONFIG/train/` directory: point at one).
Files are read in sorted name order. Using the `datasets` library instead: `ds.to_parquet(DIR/"train.parquet")`.

`env_id` is '' unless given (pass `--env` to train); `reward_scale` follows `default_reward_scale`: 1000
when the directory name (or a directory between it and the files) starts with a D4RL MuJoCo task name
(halfcheetah, hopper, walker2d, ant), else 1.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..fields import DatasetError, check_flags
from ..trajectories import TrajectoryDataset
from ._common import D4RL_MUJOCO_PREFIXES, as_actions, as_observations, check_finite, import_optional

STEP_COLUMNS = ("observations", "actions", "rewards")


def parquet_files(src: str | os.PathLike) -> list[Path]:
    """The parquet files that make up the dataset directory `src` (see the module docstring), or `src` itself when
    it is one .parquet file."""
    root = Path(src).expanduser()
    if root.is_file() and root.suffix == ".parquet":
        return [root]
    if not root.is_dir():
        raise DatasetError(f"{root}: no such directory of parquet files")
    files = sorted(root.glob("*.parquet"))
    if not files:
        files = sorted(root.rglob("*.parquet"))
        parents = sorted({f.parent for f in files})
        if len(parents) > 1:
            rel = [p.relative_to(root).as_posix() for p in parents]
            raise DatasetError(f"{root}: parquet files in several directories {rel}; expected one dataset: point at one of them")
    if not files:
        raise DatasetError(f"{root}: no .parquet files in the directory; expected Hugging Face trajectory rows")
    return files


def load_hf_trajectories(
    src: str | os.PathLike,
    *,
    env_id: str | None = None,
    reward_scale: float | None = None,
) -> TrajectoryDataset:
    """Load a directory of Hugging Face trajectory parquet files (see the module docstring)."""
    root = Path(src).expanduser()
    files = parquet_files(root)
    pa = import_optional("pyarrow", "Reading Hugging Face parquet trajectories")
    pq = import_optional("pyarrow.parquet", "Reading Hugging Face parquet trajectories")
    where = str(root) if len(files) > 1 else str(files[0])
    table, columns, use_flags = _read_table(root, files, where, pa, pq)
    values, steps = _step_values(where, table, columns, pa)
    if (steps == 0).any():
        warnings.warn(f"{where}: {int((steps == 0).sum())} row(s) with 0 steps skipped", stacklevel=2)
    if steps.sum() == 0:
        raise DatasetError(f"{where}: the dataset is empty (every row has 0 steps); expected at least one step")

    observations = as_observations(where, "observations", values["observations"])
    actions = as_actions(where, "actions", values["actions"])
    rewards = values["rewards"]
    for name, arr in (("observations", observations), ("actions", actions), ("rewards", rewards)):
        check_finite(where, name, arr, row_lengths=steps)
    lengths_nz = steps[steps > 0]
    starts = np.concatenate([[0], np.cumsum(lengths_nz)[:-1]]).astype(np.int64)
    terminations, truncations = _end_flags(where, values, starts + lengths_nz - 1, use_flags)
    if reward_scale is None:
        reward_scale = _default_reward_scale(root, files)
    return TrajectoryDataset(
        observations=observations,
        actions=actions,
        rewards=rewards.astype(np.float32),
        terminations=terminations,
        truncations=truncations,
        episode_starts=starts,
        reward_scale=float(reward_scale),
        env_id=env_id or "",
        name=root.stem if root.is_file() else root.name,
        source=str(root),
    )


def _read_table(root: Path, files: list[Path], where: str, pa, pq):
    """(one table of the files' needed columns, those columns, whether terminations/truncations replace dones)."""
    tables = []
    for f in files:
        try:
            tables.append(pq.read_table(f))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DatasetError(f"{f}: not a readable parquet file (truncated or corrupt?): {exc}") from exc
    names = set(tables[0].column_names)
    use_flags = {"terminations", "truncations"} <= names
    required = STEP_COLUMNS + (() if use_flags else ("dones",))
    for f, t in zip(files, tables):
        missing = [c for c in required if c not in t.column_names]
        if missing:
            raise DatasetError(
                f"{f}: missing column(s) {missing}; expected {list(STEP_COLUMNS) + ['dones']} "
                f"(or 'terminations' and 'truncations' instead of 'dones'); found {t.column_names}"
            )
    columns = required + (("terminations", "truncations") if use_flags else ())
    try:
        table = pa.concat_tables([t.select(list(columns)) for t in tables], promote_options="permissive")
    except (pa.ArrowException, ValueError) as exc:
        raise DatasetError(f"{root}: the parquet files have incompatible columns: {exc}") from exc
    if table.num_rows == 0:
        raise DatasetError(f"{where}: the dataset is empty (0 rows); expected one row per episode")
    return table, columns, use_flags


def _step_values(where: str, table, columns: tuple[str, ...], pa) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({column: per-step values}, steps per row), a stored final observation dropped, lengths checked."""
    values, lengths = {}, {}
    for c in columns:
        values[c], lengths[c] = _column_steps(where, table, c, pa)
    steps = lengths["rewards"]
    drop_last_obs = bool((lengths["observations"] == steps + 1).all())
    if drop_last_obs:
        ends = np.cumsum(lengths["observations"])
        keep = np.ones(len(values["observations"]), dtype=bool)
        keep[ends - 1] = False
        values["observations"] = values["observations"][keep]
        lengths["observations"] = steps
    for c in columns:
        bad = np.flatnonzero(lengths[c] != steps)
        if len(bad):
            r = int(bad[0])
            raise DatasetError(
                f"{where}: row {r}: field '{c}' has {int(lengths[c][r])} steps but 'rewards' has {int(steps[r])}; "
                "expected one entry per step"
            )
    return values, steps


def _end_flags(where: str, values: dict[str, np.ndarray], last: np.ndarray, use_flags: bool) -> tuple[np.ndarray, np.ndarray]:
    """(terminations, truncations): as stored, or from `dones` with unfinished episodes (see `last`) truncated."""
    for c in ("terminations", "truncations") if use_flags else ("dones",):
        check_flags(where, c, values[c])
    if use_flags:
        return values["terminations"].astype(bool), values["truncations"].astype(bool)
    terminations = values["dones"].astype(bool)
    truncations = np.zeros_like(terminations)
    truncations[last] = ~terminations[last]
    return terminations, truncations


def _default_reward_scale(root: Path, files: list[Path]) -> float:
    """1000 when the directory (or one between it and the files), or the one file given, is named after a D4RL
    MuJoCo task, else 1."""
    if root.is_file():
        parts = [root.name.lower()]
    else:
        parts = [root.name.lower()] + [p.lower() for p in files[0].parent.relative_to(root).parts]
    return 1000.0 if any(p.startswith(D4RL_MUJOCO_PREFIXES) for p in parts) else 1.0


def _column_steps(where: str, table, name: str, pa) -> tuple[np.ndarray, np.ndarray]:
    """(per-step values, steps per row) of a list-per-episode column; per-step values may be vectors."""
    import pyarrow.compute as pc

    col = table.column(name).combine_chunks()
    if not _is_list(col.type, pa):
        raise DatasetError(f"{where}: field '{name}' has type {col.type}; expected a list per episode (one entry per step)")
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise DatasetError(f"{where}: row {row}: field '{name}' is null; expected a list")
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64)
    inner = col.flatten()
    if inner.null_count:
        raise DatasetError(f"{where}: field '{name}' has null step entries; expected values")
    if _is_list(inner.type, pa):
        dims = pc.list_value_length(inner).to_numpy(zero_copy_only=False) if len(inner) else np.zeros(0, np.int64)
        if len(np.unique(dims)) > 1:
            step = int(np.flatnonzero(dims != dims[0])[0])
            raise DatasetError(
                f"{where}: field '{name}' has entries of different sizes ({int(dims[0])} and {int(dims[step])}, "
                f"at step {step}); expected one size"
            )
        flat = inner.flatten()
        if _is_list(flat.type, pa):
            raise DatasetError(f"{where}: field '{name}' is nested deeper than list<list<number>>; expected vectors per step")
        if flat.null_count:
            raise DatasetError(f"{where}: field '{name}' has null values; expected numbers")
        dim = int(dims[0]) if len(dims) else 0
        values = _numbers(where, name, flat).reshape(len(inner), dim)
    else:
        values = _numbers(where, name, inner)
    return values, lengths


def _numbers(where: str, name: str, arr) -> np.ndarray:
    try:
        out = arr.to_numpy(zero_copy_only=False)
    except Exception as exc:  # pyarrow raises several types for unconvertible data
        raise DatasetError(f"{where}: field '{name}' cannot be converted to numbers: {exc}") from exc
    if not (np.issubdtype(out.dtype, np.number) or out.dtype == np.bool_):
        raise DatasetError(f"{where}: field '{name}' has {arr.type} entries; expected numbers")
    return out


def _is_list(t, pa) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
