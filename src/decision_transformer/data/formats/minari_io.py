"""Minari datasets from the local store (`minari:ID`), read through the `minari` package. Never downloads.

SRC forms:
    minari:ID      `ID` (e.g. `mujoco/hopper/medium-v0`) under `$MINARI_DATASETS_PATH`, else
                   `~/.minari/datasets` (Minari's own rule)
    minari:PATH    an absolute path, or one starting with `.` or `~`: a Minari dataset directory (the one that
                   holds `data/`) or its `data/` directory itself

Conversion:
    - Minari stores T + 1 observations for an episode of T steps (the last is the observation after the
      final action); the final one is dropped, as every row here is (s_t, a_t, r_t).
    - terminations and truncations are kept apart, as stored.
    - Observation space: a Box is taken as is (uint8 image boxes stay uint8); a Dict of Boxes (nested
      Dicts allowed) is flattened per step and concatenated in the space's key order (the order
      `gymnasium.spaces.flatten` uses). Anything else is refused with a `DatasetError`.
    - Action space: Box (float32 (N, A)) or Discrete with start 0 (int64 (N,)); anything else is refused.
    - `env_id`: the id of the dataset's evaluation env spec (`eval_env_spec`) if recorded, else of the
      collection env spec (`env_spec`), else ''. Only the id is kept: a warning says when the recorded spec
      has keyword arguments or a time limit that differ from the id's registered defaults.
    - `reward_scale`: the caller's value if given; else the value recorded by this package's exporter; else
      `default_reward_scale(env_id)`: 1000 (the paper's scale) for a Gymnasium MuJoCo env, 1 otherwise.
    - `name`: the name recorded by this package's exporter (a round trip keeps it: `toy`, not `toy-v0`); else
      the Minari dataset id.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..fields import DatasetError, check_flags, scalar_value
from ..trajectories import TrajectoryDataset
from ._common import as_actions, as_observations, check_finite, check_numeric, default_reward_scale, import_optional

PREFIX = "minari:"
METADATA_KEY = "decision_transformer"
"""Key in a Minari dataset's metadata.json under which this package's exporter records `reward_scale`
and `name`."""
FIELDS = ("observations", "actions", "rewards", "terminations", "truncations")


def minari_root() -> Path:
    """The local Minari store: `$MINARI_DATASETS_PATH`, else `~/.minari/datasets`."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env).expanduser() if env else Path.home() / ".minari" / "datasets"


def local_minari_ids(root: Path | None = None) -> list[str]:
    """Ids of the datasets under `root` (default `minari_root()`)."""
    root = minari_root() if root is None else root
    if not root.is_dir():
        return []
    return sorted(p.parent.parent.relative_to(root).as_posix() for p in root.glob("**/data/metadata.json"))


def resolve_minari(src: str) -> tuple[str, Path]:
    """(`ID` or path as given, the dataset's `data/` directory) for SRC, or a `DatasetError`."""
    rest = src[len(PREFIX):] if src.startswith(PREFIX) else src
    if not rest:
        raise DatasetError(f"{src!r}: empty Minari id; expected 'minari:ID' (e.g. minari:mujoco/hopper/medium-v0)")
    if rest.startswith(("/", ".", "~")):
        path = Path(rest).expanduser()
        data_path = path / "data" if (path / "data").is_dir() else path
        if not (data_path / "metadata.json").is_file():
            raise DatasetError(f"{src}: {path} is not a Minari dataset directory (no data/metadata.json found)")
        return rest, data_path
    root = minari_root()
    if ".." in Path(rest).parts:
        raise DatasetError(f"{src}: a Minari id may not contain '..'")
    data_path = root / rest / "data"
    if not data_path.is_dir():
        known = local_minari_ids(root)
        raise DatasetError(
            f"{src}: dataset '{rest}' is not in the local Minari store {root} (looked for {data_path}); "
            f"local datasets: {known or 'none'}. This package never downloads: put the dataset there "
            "(e.g. `minari download ID` on a machine with internet) or set MINARI_DATASETS_PATH"
        )
    return rest, data_path


def load_minari(
    src: str,
    *,
    env_id: str | None = None,
    reward_scale: float | None = None,
) -> TrajectoryDataset:
    """Load `minari:ID` (see the module docstring). `env_id` / `reward_scale` override the recorded values."""
    rest, data_path = resolve_minari(src)
    minari = import_optional("minari", "Loading Minari datasets")
    import gymnasium as gym

    where = f"{PREFIX}{rest} ({data_path})"
    ds, metadata = _open_dataset(where, minari, data_path)
    flatten_obs = _observation_reader(where, ds.observation_space, gym)
    _check_action_space(where, ds.action_space, gym)
    if ds.total_episodes == 0:
        raise DatasetError(f"{where}: the dataset is empty (0 episodes); expected at least one")
    parts, skipped = _read_episodes(where, ds, flatten_obs)
    if skipped:
        warnings.warn(f"{where}: skipped {skipped} episode(s) with 0 steps", stacklevel=2)
    if not parts["rewards"]:
        raise DatasetError(f"{where}: the dataset is empty (every episode has 0 steps); expected at least one step")

    lengths = np.array([len(r) for r in parts["rewards"]], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    recorded_id = _recorded_env_id(where, metadata, gym)
    if env_id is None:
        env_id = recorded_id
    ours = metadata.get(METADATA_KEY) if isinstance(metadata.get(METADATA_KEY), dict) else {}
    if reward_scale is None:
        reward_scale = (scalar_value(f"{where} metadata.json", f"{METADATA_KEY}.reward_scale", ours["reward_scale"], "a number")
                        if "reward_scale" in ours else default_reward_scale(env_id))
    name = ours.get("name")
    if name is not None and not isinstance(name, str):
        raise DatasetError(f"{where} metadata.json: field '{METADATA_KEY}.name' is {name!r}; expected a string")
    return TrajectoryDataset(
        observations=np.concatenate(parts["observations"]),
        actions=np.concatenate(parts["actions"]),
        rewards=np.concatenate(parts["rewards"]).astype(np.float32),
        terminations=np.concatenate(parts["terminations"]),
        truncations=np.concatenate(parts["truncations"]),
        episode_starts=starts,
        reward_scale=float(reward_scale),
        env_id=env_id,
        name=name or str(metadata.get("dataset_id") or rest),
        source=f"{PREFIX}{rest}",
    )


def _open_dataset(where: str, minari, data_path: Path):
    """(the `MinariDataset`, its metadata), or a `DatasetError` when they cannot be read."""
    try:
        ds = minari.MinariDataset(data_path)
        metadata = ds.storage.metadata
    except (ValueError, OSError, KeyError, TypeError, AssertionError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{where}: not a readable Minari dataset (missing or corrupt metadata.json or data file?): {exc}") from exc
    return ds, metadata


def _check_action_space(where: str, act_space, gym) -> None:
    if isinstance(act_space, gym.spaces.Discrete):
        if int(act_space.start) != 0:
            raise DatasetError(f"{where}: field 'actions' uses {act_space}; expected a Discrete space starting at 0")
    elif not isinstance(act_space, gym.spaces.Box):
        raise DatasetError(f"{where}: field 'actions' uses {act_space}; expected a Box or Discrete action space")


def _read_episodes(where: str, ds, flatten_obs) -> tuple[dict[str, list[np.ndarray]], int]:
    """({field: per-episode arrays}, number of 0-step episodes skipped); read errors become `DatasetError`s."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
    skipped = 0
    first: tuple[Any, dict[str, np.ndarray]] | None = None  # the first non-empty episode: (id, fields)
    try:
        for ep in ds.iterate_episodes():
            ew = f"{where} episode {ep.id}"
            fields = _episode_fields(ew, ep, flatten_obs)
            if fields is None:
                skipped += 1
                continue
            if first is None:
                first = (ep.id, fields)
            for k in ("observations", "actions"):
                got, want = fields[k], first[1][k]
                if got.shape[1:] != want.shape[1:] or got.dtype.kind != want.dtype.kind:
                    raise DatasetError(
                        f"{ew}: field '{k}' has shape {got.shape[1:]} per step ({got.dtype}) but episode {first[0]} has "
                        f"{want.shape[1:]} ({want.dtype}); expected the same in every episode"
                    )
            for k, v in fields.items():
                parts[k].append(v)
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, AssertionError) as exc:
        raise DatasetError(f"{where}: episode data cannot be read (truncated or corrupt data file?): {exc}") from exc
    return parts, skipped


def _episode_fields(ew: str, ep, flatten_obs) -> dict[str, np.ndarray] | None:
    """One episode's checked arrays, one row per step (the final observation dropped); None if it has 0 steps."""
    steps = len(ep.rewards)
    if steps == 0:
        return None
    obs = flatten_obs(ep.observations, ew)
    if len(obs) != steps + 1:
        raise DatasetError(
            f"{ew}: field 'observations' has {len(obs)} rows for {steps} rewards; expected {steps + 1} "
            "(Minari stores the final observation)"
        )
    fields = {"observations": obs[:-1], "actions": np.asarray(ep.actions),
              "rewards": np.asarray(ep.rewards), "terminations": np.asarray(ep.terminations),
              "truncations": np.asarray(ep.truncations)}
    for k in ("actions", "terminations", "truncations"):
        if fields[k].ndim == 0 or len(fields[k]) != steps:
            rows = len(fields[k]) if fields[k].ndim else 0
            raise DatasetError(f"{ew}: field '{k}' has {rows} rows but 'rewards' has {steps}; expected one per step")
    fields["actions"] = as_actions(ew, "actions", fields["actions"])
    check_numeric(ew, "rewards", fields["rewards"])
    for k in ("terminations", "truncations"):
        check_flags(ew, k, fields[k])
    for k in ("observations", "actions", "rewards"):
        check_finite(ew, k, fields[k])
    return fields


def _observation_reader(where: str, space, gym):
    """A function (episode observations, where) -> (T + 1, ...) array for a Box or Dict-of-Box space."""
    if isinstance(space, gym.spaces.Box):
        def read_box(obs: Any, ew: str) -> np.ndarray:
            if not isinstance(obs, np.ndarray):
                raise DatasetError(f"{ew}: field 'observations' is a {type(obs).__name__}; expected an array (Box space)")
            return as_observations(ew, "observations", obs)
        return read_box

    if isinstance(space, gym.spaces.Dict):
        def leaves(sp, prefix: str) -> list[tuple[str, ...]]:
            out = []
            for key, sub in sp.spaces.items():
                name = f"{prefix}/{key}" if prefix else key
                if isinstance(sub, gym.spaces.Dict):
                    out += [(key,) + rest for rest in leaves(sub, name)]
                elif isinstance(sub, gym.spaces.Box):
                    out.append((key,))
                else:
                    raise DatasetError(
                        f"{where}: field 'observations/{name}' uses {sub}; expected Box entries in a Dict observation space"
                    )
            return out

        keys = leaves(space, "")

        def read_dict(obs: Any, ew: str) -> np.ndarray:
            cols = []
            for path in keys:
                node = obs
                for k in path:
                    if not isinstance(node, dict) or k not in node:
                        raise DatasetError(f"{ew}: field 'observations/{'/'.join(path)}' is missing")
                    node = node[k]
                arr = np.asarray(node)
                cols.append(arr.reshape(len(arr), -1).astype(np.float32))
            lengths = {len(c) for c in cols}
            if len(lengths) != 1:
                raise DatasetError(f"{ew}: the entries of field 'observations' have different lengths {sorted(lengths)}")
            return np.concatenate(cols, axis=1)
        return read_dict

    raise DatasetError(f"{where}: field 'observations' uses {space}; expected a Box or a Dict of Boxes observation space")


def _recorded_env_id(where: str, metadata: dict, gym) -> str:
    """The id of the recorded eval env spec (else the collection env spec), warning about lost arguments."""
    for key in ("eval_env_spec", "env_spec"):
        raw = metadata.get(key)
        if not raw:
            continue
        try:
            spec = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            warnings.warn(f"{where}: metadata field '{key}' is not valid JSON; env_id left empty", stacklevel=3)
            return ""
        env_id = str(spec.get("id") or "")
        if env_id:
            _warn_if_custom(where, key, env_id, spec, gym)
        return env_id
    return ""


def _warn_if_custom(where: str, key: str, env_id: str, spec: dict, gym) -> None:
    try:
        registered = gym.spec(env_id)
    except Exception:  # not registered here: evaluation will say so when it makes the env
        return
    kwargs = spec.get("kwargs") or {}
    def plain(value: Any) -> Any:  # compare as JSON, the form the spec was stored in
        return json.loads(json.dumps(value, default=str))

    diff = {k: v for k, v in kwargs.items() if plain(registered.kwargs.get(k, None)) != v}
    steps = spec.get("max_episode_steps")
    if steps is not None and steps != registered.max_episode_steps:
        diff["max_episode_steps"] = steps
    if diff:
        warnings.warn(
            f"{where}: the recorded '{key}' makes {env_id} with {diff}, which differ from the registered "
            f"defaults; evaluation uses env_id '{env_id}' with its defaults",
            stacklevel=3,
        )
