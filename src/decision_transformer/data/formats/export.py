"""Write a `TrajectoryDataset` as a D4RL-layout HDF5 file or as a Minari dataset (`dt data export`).

hdf5 (`to="hdf5"`): `out` ending in `.hdf5`/`.h5` is the file; any other `out` is a directory that gets
    `NAME.hdf5` (NAME: the dataset name, characters other than letters, digits, - and _ as _). Keys
    observations, actions, rewards, terminals (= terminations), timeouts (= truncations);
    root attributes env_id, name, reward_scale (read back by `load_d4rl_hdf5`). No next_observations: the
    native format keeps no final observation. D4RL readers split episodes on terminals | timeouts, so an
    episode that ends with neither flag (other than the last) gets `timeouts` = True on its last step (a
    warning says how many), and a flag set before an episode's last step is refused. Written to a temporary
    file in the same directory, then renamed.

minari (`to="minari"`): `out` is a Minari datasets root (what `MINARI_DATASETS_PATH` points at); the
    dataset goes to `out/ID` with ID `NAME-v0` unless `dataset_id` is given, written with
    `minari.create_dataset_from_buffers` (no jax needed), HDF5 storage, lossless (no JPEG). Load it back with
    `MINARI_DATASETS_PATH=out` and `minari:ID`, or `minari:/abs/path/out/ID`. Minari wants T + 1
    observations per episode; the native format has T, so **the final observation of every episode is a
    copy of its last observation** (recorded in the dataset's description and metadata). That is harmless
    for DT and BC, which never use it, but wrong for methods that bootstrap from the final next-observation
    of truncated episodes. The env spec of `env_id` is recorded (so `recover_environment` works) when the
    id is registered; spaces are the env's when they match the data, else Boxes / Discrete built from the
    data. Reference returns (`ref_returns`, or the package's own for built-in datasets) are recorded as
    `ref_min_score` / `ref_max_score`. Written into a temporary directory under `out`, then renamed.

Neither format overwrites an existing output unless `overwrite=True` (`FileExistsError` otherwise).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

from ..trajectories import DatasetError, TrajectoryDataset
from ...common import atomic
from ...common.atomic import atomic_path
from ._common import import_optional

FORMATS = ("minari", "hdf5")
FINAL_OBSERVATION_NOTE = (
    "The final observation of each episode is a copy of its last observation: the source format keeps no "
    "final observation."
)


def export_dataset(
    dataset: TrajectoryDataset,
    to: Literal["minari", "hdf5"] | str,
    out: str | os.PathLike,
    *,
    dataset_id: str | None = None,
    overwrite: bool = False,
    ref_returns: tuple[float, float] | None = None,
) -> Path:
    """Write `dataset` in format `to` under `out` (see the module docstring); returns the written path
    (the .hdf5 file, or the Minari dataset directory `out/ID`)."""
    out = Path(out).expanduser()
    if to == "hdf5":
        return export_hdf5(dataset, out, overwrite=overwrite)
    if to == "minari":
        return export_minari(dataset, out, dataset_id=dataset_id, overwrite=overwrite, ref_returns=ref_returns)
    raise ValueError(f"export format {to!r} is not supported; expected one of {list(FORMATS)}")


# --------------------------------------------------------------------------- D4RL HDF5
def d4rl_flags(dataset: TrajectoryDataset) -> tuple[np.ndarray, np.ndarray, int]:
    """(terminals, timeouts, number of episode ends given a timeout) encoding the episode boundaries."""
    terminals = dataset.terminations.copy()
    timeouts = dataset.truncations.copy()
    last = dataset.episode_ends - 1
    interior = terminals | timeouts
    interior[last] = False
    if interior.any():
        step = int(np.flatnonzero(interior)[0])
        episode = int(np.searchsorted(dataset.episode_starts, step, side="right") - 1)
        raise DatasetError(
            f"{dataset.source}: episode {episode} has a termination/truncation flag at step {step}, before its "
            "last step; the D4RL layout would split the episode there"
        )
    unflagged = last[:-1][~(terminals[last[:-1]] | timeouts[last[:-1]])]
    timeouts[unflagged] = True
    return terminals, timeouts, len(unflagged)


def export_hdf5(dataset: TrajectoryDataset, out: Path, *, overwrite: bool = False) -> Path:
    h5py = import_optional("h5py", "Writing D4RL HDF5 files")
    if out.suffix.lower() not in (".hdf5", ".h5"):
        _check_out_dir(out, "a directory for NAME.hdf5")
    path = out if out.suffix.lower() in (".hdf5", ".h5") else out / f"{safe_name(dataset)}.hdf5"
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; remove it or choose another --out")
    terminals, timeouts, added = d4rl_flags(dataset)
    if added:
        warnings.warn(
            f"{dataset.source}: {added} episode(s) end with neither a termination nor a truncation; "
            "their last step is written with timeouts=True so D4RL readers split them",
            stacklevel=3,
        )
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("observations", data=dataset.observations)
            f.create_dataset("actions", data=dataset.actions)
            f.create_dataset("rewards", data=dataset.rewards)
            f.create_dataset("terminals", data=terminals)
            f.create_dataset("timeouts", data=timeouts)
            f.attrs["env_id"] = dataset.env_id
            f.attrs["name"] = dataset.name
            f.attrs["reward_scale"] = float(dataset.reward_scale)
            f.attrs["writer"] = "decision-transformer"
    return path


def safe_name(dataset: TrajectoryDataset) -> str:
    """The dataset's name as one file name: characters other than letters, digits, '-' and '_' (a '/', a '.')
    replaced by '_', so that the file stays in --out."""
    return re.sub(r"[^-\w]", "_", dataset.name or "dataset").strip("-_") or "dataset"


def _check_out_dir(out: Path, expected: str) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory; expected {expected}")


# --------------------------------------------------------------------------- Minari
def default_minari_id(dataset: TrajectoryDataset) -> str:
    """`NAME-v0` with characters Minari does not allow replaced by '_'."""
    return f"{safe_name(dataset)}-v0"


def export_minari(
    dataset: TrajectoryDataset,
    out: Path,
    *,
    dataset_id: str | None = None,
    overwrite: bool = False,
    ref_returns: tuple[float, float] | None = None,
) -> Path:
    minari = import_optional("minari", "Writing Minari datasets")
    from minari.dataset.minari_dataset import DATASET_ID_RE

    out = Path(out).expanduser().absolute()  # Minari joins a relative MINARI_DATASETS_PATH onto itself
    _check_out_dir(out, "a directory (a Minari datasets root)")

    dataset_id = dataset_id or default_minari_id(dataset)
    match = DATASET_ID_RE.fullmatch(dataset_id)
    if not match or match.group("version") is None:
        raise ValueError(f"Minari dataset id {dataset_id!r} is malformed; expected (namespace/)name-vN, e.g. hopper-medium-v0")
    final = out / dataset_id
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final} exists; remove it or choose another --out")

    env_arg, obs_space, act_space = _spaces(dataset)
    if ref_returns is None:
        ref_returns = _builtin_reference(dataset.name)
    refs = {}
    if ref_returns is not None and env_arg is not None:
        refs = {"ref_min_score": float(ref_returns[0]), "ref_max_score": float(ref_returns[1])}
    buffers = _episode_buffers(dataset)

    out.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(dir=out, prefix=".dt-export-"))
    try:
        with _minari_datasets_path(tmp_root):  # Minari writes where this points
            _create_minari(minari, dataset, dataset_id, buffers, dict(
                env=env_arg, eval_env=env_arg, observation_space=obs_space, action_space=act_space, **refs))
            _move_into_place(tmp_root, out, dataset_id)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return final


def _episode_buffers(dataset: TrajectoryDataset) -> list:
    """One Minari `EpisodeBuffer` per episode, its last observation repeated as the final observation."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    buffers = []
    for i in range(dataset.num_episodes):
        s, e = int(dataset.episode_starts[i]), int(dataset.episode_ends[i])
        obs = dataset.observations[s:e]
        buffers.append(EpisodeBuffer(
            observations=np.concatenate([obs, obs[-1:]]),
            actions=dataset.actions[s:e],
            rewards=dataset.rewards[s:e],
            terminations=dataset.terminations[s:e],
            truncations=dataset.truncations[s:e],
        ))
    return buffers


@contextlib.contextmanager
def _minari_datasets_path(path: Path) -> Iterator[None]:
    """Point MINARI_DATASETS_PATH at `path` for the duration (restored, or unset again, afterwards)."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    try:
        os.environ["MINARI_DATASETS_PATH"] = str(path)
        yield
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def _create_minari(minari, dataset: TrajectoryDataset, dataset_id: str, buffers: list, env_args: dict) -> None:
    """Write the dataset into the Minari store (`env_args`: env, spaces, reference scores) and record in its
    metadata what `load_minari` reads back."""
    from .minari_io import METADATA_KEY

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\..*")
        created = minari.create_dataset_from_buffers(
            dataset_id=dataset_id,
            buffer=buffers,
            algorithm_name=f"decision-transformer export of {dataset.name or dataset.source}",
            description=f"{dataset.name or dataset.source} exported by decision-transformer. {FINAL_OBSERVATION_NOTE}",
            jpeg_encoding=False,
            **env_args,
        )
    created.storage.update_metadata({METADATA_KEY: {
        "name": dataset.name,
        "reward_scale": float(dataset.reward_scale),
        "env_id": dataset.env_id,
        "final_observation": "repeated",
    }})


def _move_into_place(tmp_root: Path, out: Path, dataset_id: str) -> None:
    """Move the dataset directory from the temporary store to `out/ID` (swapping out an old copy), plus the
    namespace metadata files the destination lacks."""
    from minari.namespace import NAMESPACE_METADATA_FILENAME

    parts = Path(dataset_id).parts
    for depth in range(1, len(parts)):
        ns = Path(*parts[:depth])
        src_meta = tmp_root / ns / NAMESPACE_METADATA_FILENAME
        if src_meta.is_file() and not (out / ns / NAMESPACE_METADATA_FILENAME).exists():
            (out / ns).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src_meta, out / ns / NAMESPACE_METADATA_FILENAME)
    final = out / dataset_id
    final.parent.mkdir(parents=True, exist_ok=True)
    atomic.fsync_tree(tmp_root / dataset_id)  # on disk whole before it takes its name (atomic.py's docstring),
    old = None                                 # and before an old copy is moved aside (the swap stays two renames)
    if final.exists():  # overwrite: swap, then delete the old copy
        old = tmp_root / ".old"
        os.replace(final, old)
    try:
        os.replace(tmp_root / dataset_id, final)
        atomic.fsync(final.parent, directory=True)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise


def _spaces(dataset: TrajectoryDataset):
    """(env id to record or None, observation space, action space) for Minari."""
    import gymnasium as gym

    if dataset.discrete_actions:
        act_space = gym.spaces.Discrete(dataset.act_dim)
    else:
        act_space = gym.spaces.Box(-np.inf, np.inf, shape=dataset.actions.shape[1:], dtype=np.float32)
    if dataset.observations.dtype == np.uint8:
        obs_space = gym.spaces.Box(0, 255, shape=dataset.observation_shape, dtype=np.uint8)
    else:
        obs_space = gym.spaces.Box(-np.inf, np.inf, shape=dataset.observation_shape, dtype=np.float32)
    if not dataset.env_id:
        return None, obs_space, act_space
    try:
        env = gym.make(dataset.env_id)
    except Exception as exc:  # unregistered id or missing package: keep the data, say what is lost
        warnings.warn(f"{dataset.source}: cannot make env {dataset.env_id!r} ({exc}); the Minari dataset records no env spec", stacklevel=4)
        return None, obs_space, act_space
    try:
        env_obs, env_act = env.observation_space, env.action_space
    finally:
        env.close()
    if isinstance(env_obs, gym.spaces.Box) and env_obs.shape == dataset.observation_shape:
        obs_space = env_obs
    if isinstance(env_act, gym.spaces.Box) and not dataset.discrete_actions and env_act.shape == dataset.actions.shape[1:]:
        act_space = env_act
    elif isinstance(env_act, gym.spaces.Discrete) and dataset.discrete_actions and int(env_act.start) == 0 and env_act.n >= dataset.act_dim:
        act_space = env_act
    return dataset.env_id, obs_space, act_space


def _builtin_reference(name: str) -> tuple[float, float] | None:
    if not name:
        return None
    try:
        from ..registry import reference_returns

        return reference_returns(name)
    except Exception:  # a broken or heavy built-in module must not block an export
        return None
