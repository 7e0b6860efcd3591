"""Dopamine's DQN-replay checkpoint files: the format's facts (names, fields, sizes, the games) and reading them
(a checkpoint's files, a small field whole, the observation array streamed). The format is described, with its
sources, in the package docstring (`__init__.py`)."""

from __future__ import annotations

import gzip
import os
import re
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from ...trajectories import DatasetError

SRC_PREFIX = "dqn-replay:"
STORE_PREFIX = "$store$_"
STORE_FIELDS = ("observation", "action", "reward", "terminal")
ATTRIBUTE_FIELDS = ("add_count", "invalid_range")
REQUIRED_FILES = tuple(STORE_PREFIX + f for f in STORE_FIELDS) + ATTRIBUTE_FIELDS
FRAME_SHAPE = (84, 84)
STACK_SIZE = 4
MAX_EPISODE_STEPS = 27_000
_CKPT_FILE = re.compile(r"^(?P<name>.+)_ckpt\.(?P<n>\d+)\.gz$")

# The 60 games of the DQN Replay Dataset (directory names), for env ids `dt/<Game>-v0` (envs/atari.py).
ATARI_GAMES = (
    "AirRaid Alien Amidar Assault Asterix Asteroids Atlantis BankHeist BattleZone BeamRider Berzerk Bowling "
    "Boxing Breakout Carnival Centipede ChopperCommand CrazyClimber DemonAttack DoubleDunk ElevatorAction Enduro "
    "FishingDerby Freeway Frostbite Gopher Gravitar Hero IceHockey Jamesbond JourneyEscape Kangaroo Krull "
    "KungFuMaster MontezumaRevenge MsPacman NameThisGame Phoenix Pitfall Pong Pooyan PrivateEye Qbert Riverraid "
    "RoadRunner Robotank Seaquest Skiing Solaris SpaceInvaders StarGunner Tennis TimePilot Tutankham UpNDown "
    "Venture VideoPinball WizardOfWor YarsRevenge Zaxxon"
).split()
_GAMES_BY_KEY = {g.lower(): g for g in ATARI_GAMES}


def game_from_path(directory: str | os.PathLike) -> str | None:
    """The DQN-replay game name in DIR's path (`.../Breakout/1/replay_logs` -> 'Breakout'), if any."""
    for part in reversed(Path(directory).expanduser().resolve().parts):
        if part == "replay_logs" or part.isdigit():
            continue
        return _GAMES_BY_KEY.get(part.lower())
    return None


def atari_env_id(game: str) -> str:
    """'Breakout' / 'breakout' -> 'dt/Breakout-v0' (the ALE game with the paper's preprocessing, envs/atari.py,
    whose 4-frame stacks the single frames are stacked into for training); an id with '/' or '-v' is returned as is."""
    if "/" in game or "-v" in game:
        return game
    return f"dt/{_GAMES_BY_KEY.get(game.lower(), game)}-v0"


# --------------------------------------------------------------------------- files
def replay_dir(directory: str | os.PathLike) -> Path:
    """DIR itself if it holds checkpoint files, else DIR/replay_logs if that does (the dataset's layout)."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such directory of DQN-replay checkpoints")
    if not _checkpoint_files(root) and _checkpoint_files(root / "replay_logs"):
        return root / "replay_logs"
    return root


def _checkpoint_files(directory: Path) -> dict[int, set[str]]:
    if not directory.is_dir():
        return {}
    found: dict[int, set[str]] = {}
    for entry in os.listdir(directory):
        m = _CKPT_FILE.match(entry)
        if m:
            found.setdefault(int(m["n"]), set()).add(m["name"])
    return found


def checkpoint_numbers(directory: str | os.PathLike) -> list[int]:
    """Sorted checkpoint numbers N with at least one `*_ckpt.N.gz` file in the replay directory."""
    root = replay_dir(directory)
    numbers = sorted(_checkpoint_files(root))
    if not numbers:
        raise DatasetError(
            f"{root}: no DQN-replay checkpoint files; expected {', '.join(n + '_ckpt.N.gz' for n in REQUIRED_FILES)}"
        )
    return numbers


def checkpoint_path(directory: str | os.PathLike, name: str, checkpoint: int) -> Path:
    return Path(directory) / f"{name}_ckpt.{checkpoint}.gz"


def _field_label(name: str) -> str:
    return name[len(STORE_PREFIX):] if name.startswith(STORE_PREFIX) else name


def _existing(directory: Path, name: str, checkpoint: int) -> Path:
    path = checkpoint_path(directory, name, checkpoint)
    if not path.is_file():
        raise DatasetError(
            f"{path}: missing file (field '{_field_label(name)}' of checkpoint {checkpoint}); a DQN-replay checkpoint "
            f"needs {', '.join(f'{n}_ckpt.{checkpoint}.gz' for n in REQUIRED_FILES)}"
        )
    return path


def _load_array(path: Path, field: str) -> np.ndarray:
    """A whole gzipped `.npy` (small fields only)."""
    try:
        with gzip.open(path, "rb") as f:
            arr = np.load(f, allow_pickle=False)
            if not isinstance(arr, np.ndarray):  # np.load reads a zip (.npz) archive too
                arr.close()
                arr = None
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DatasetError(
            f"{path}: field '{field}' is not a readable gzipped .npy array (truncated, corrupt or pickled?): {exc}"
        ) from exc
    if arr is None:
        raise DatasetError(f"{path}: field '{field}' holds an .npz archive; expected one gzipped .npy array (np.save), "
                           "as Dopamine writes")
    return arr


def _read_header(f, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        return fmt.read_array_header_1_0(f)
    if version == (2, 0):
        return fmt.read_array_header_2_0(f)
    return fmt._read_array_header(f, version)  # (3, 0): same layout, utf-8 header


def _observation_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        with gzip.open(path, "rb") as f:
            return _read_header(f, path)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DatasetError(
            f"{path}: field 'observation' is not a readable gzipped .npy array (truncated or corrupt?): {exc}"
        ) from exc


def _stream_bytes() -> int:
    """How many bytes of observations to decompress at a time: the package's `_STREAM_BYTES`, read at each call
    (so that it can be set there, as the tests do to make reads cross chunk boundaries)."""
    from . import _STREAM_BYTES

    return _STREAM_BYTES


def _stream_rows(path: Path, capacity: int, frame_shape: tuple[int, ...],
                 targets: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    """Fill each (slots, out) target with the frames of its slots (any order; out has one row per slot), reading
    the gzipped `.npy` sequentially once, up to the last slot wanted, and keeping only those frames."""
    plans = []
    for slots, out in targets:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots):
            order = np.argsort(slots, kind="stable")
            plans.append((slots[order], order, out))
    if not plans:
        return
    row_bytes = int(np.prod(frame_shape))
    chunk_rows = max(1, _stream_bytes() // row_bytes)
    last = max(int(wanted[-1]) for wanted, _, _ in plans)
    try:
        with gzip.open(path, "rb") as f:
            _read_header(f, path)
            start = 0
            while start <= last:
                rows = min(chunk_rows, capacity - start)
                raw = f.read(rows * row_bytes)
                if len(raw) != rows * row_bytes:
                    raise DatasetError(
                        f"{path}: field 'observation' ends after {start + len(raw) // row_bytes} of {capacity} "
                        "frames; expected the whole array (truncated file?)"
                    )
                chunk = np.frombuffer(raw, np.uint8).reshape((rows,) + tuple(frame_shape))
                for wanted, order, out in plans:
                    i0, i1 = np.searchsorted(wanted, [start, start + rows])
                    if i1 > i0:
                        out[order[i0:i1]] = chunk[wanted[i0:i1] - start]
                start += rows
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(
            f"{path}: field 'observation' could not be decompressed (truncated or corrupt?): {exc}"
        ) from exc
