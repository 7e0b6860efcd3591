"""Dopamine DQN-replay logs (the DQN Replay Dataset the paper's Atari experiments use), read one checkpoint
at a time, as whole episodes of single 84x84 uint8 frames.

SRC form: `dqn-replay:DIR` reads every checkpoint in DIR (one game's run, e.g. `Breakout/1/replay_logs`, or the
run directory holding `replay_logs/`). Python: `load_dqn_replay(DIR, buffers=..., max_transitions=...,
trajectories_per_buffer=..., seed=...)` builds the paper's 1% subset (50 buffers, up to 500k transitions).

The format, as checked in the sources (cited at the end):

- A checkpoint N is a set of files `NAME_ckpt.N.gz` in one directory. Each is a gzip stream holding one
  `np.save` array (`allow_pickle=False`): `$store$_observation` (capacity, 84, 84) uint8 single frames,
  `$store$_action` (capacity,) int32, `$store$_reward` (capacity,) float32, `$store$_terminal` (capacity,)
  uint8, and the buffer's public attributes `add_count` (0-d int, all transitions ever added) and
  `invalid_range` (the slots around the cursor). Other files of a checkpoint are ignored. The DQN-replay
  capacity is 1,000,000.
- The buffer is circular: transition number k (0-based) lies in slot k % capacity, and the next one goes to
  the cursor, add_count % capacity. When add_count >= capacity the buffer has wrapped; its oldest slot is the
  cursor, so chronological order is cursor, cursor + 1, ..., cursor - 1 (mod capacity). Otherwise only slots
  [0, add_count) were written (the rest is uninitialised memory, never read here).
- Slot t holds (o_t, a_t, r_t, terminal_t): the observation before the action, the action, the reward it
  earned and whether the episode ended there: one step of this package's format.
- Every episode starts with stack_size - 1 (3 in DQN-replay) zero "padding" transitions (zero frame,
  action 0, reward 0, terminal 0), which Dopamine adds on an empty buffer and after each terminal so that frame
  stacks never cross episodes. They are not steps: they are checked (a clear error if they are not zeros, which
  means another `stack_size`) and dropped.
- `invalid_range` = the slots cursor - update_horizon, ..., cursor + stack_size - 1 (mod capacity): the newest
  transition (no next state yet) and the oldest ones (about to be overwritten). Dopamine never samples them.
- Rewards are stored as Dopamine's runner passed them to the agent, which clips them to [-1, 1] first
  (`reward = np.clip(reward, -1, 1)`, `clip_rewards=True`): DQN-replay rewards are clipped at the source.
  This reader neither clips nor rescales them (reward_scale 1).
- A terminal is set at game over (lives lost do not end Dopamine's episodes by default), and also when the
  runner stops an episode at `max_steps_per_episode` = 27,000 agent steps (108k frames). Episodes of exactly
  `max_episode_steps` steps are therefore recorded as truncations here; every other one as a termination.
- The dataset's checkpoints come from batch_rl's logged buffer, which writes the buffer whenever
  add_count % capacity == capacity - 1 (so checkpoint N holds about the transitions N * capacity - 1 ..
  (N + 1) * capacity - 2) and, at the end of training, once more with add_count set to the cursor.

What counts as a whole episode: chronological slots are split after each terminal. Dropped: the last piece
(no terminal yet), the first piece of a wrapped buffer (its start was overwritten), the first piece of an
unwrapped one unless it starts with the padding (the end-of-training log above), and any episode with a step
in `invalid_range`. A checkpoint with no whole episode is an error.

Memory: one checkpoint at a time. Actions, rewards and terminals (a few MB) are loaded whole; observations
(7 GB per DQN-replay checkpoint) are streamed through the gzip file and only the selected episodes' frames
are kept. With `max_transitions` the output is allocated once, so the peak is about the subset itself.

Sources (read with the search tool):
  google/dopamine dopamine/replay_memory/circular_replay_buffer.py: STORE_FILENAME_PREFIX '$store$_',
    storage signature (observation uint8, action int32, reward float32, terminal uint8), add() padding with
    stack_size - 1 zero transitions, cursor() = add_count % capacity, invalid_range(), is_valid_transition(),
    _generate_filename '{name}_ckpt.{suffix}.gz', save(): gzip.GzipFile + np.save(allow_pickle=False) for
    arrays (pickle only for non-array attributes).
  google/dopamine dopamine/discrete_domains/run_experiment.py: _run_one_episode (reward clipping before
    storage, the episode ends at game_over or max_steps_per_episode=27000 with a terminal transition).
  google-research/batch_rl batch_rl/baselines/replay_memory/logged_replay_buffer.py: when checkpoints are
    logged, log_final_buffer.
  kzl/decision-transformer atari/create_dataset.py and atari/fixed_replay_buffer.py: the paper's subset (N
    buffers from the last ones of run 1, M trajectories per buffer, a transition budget; 6 or 7 files per
    checkpoint). That code read buffers in slot order from slot 0 regardless of the cursor and counted the
    padding as steps; this reader does neither.
"""

from __future__ import annotations

import gzip
import os
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..trajectories import DatasetError, TrajectoryDataset

SRC_PREFIX = "dqn-replay:"
STORE_PREFIX = "$store$_"
STORE_FIELDS = ("observation", "action", "reward", "terminal")
ATTRIBUTE_FIELDS = ("add_count", "invalid_range")
REQUIRED_FILES = tuple(STORE_PREFIX + f for f in STORE_FIELDS) + ATTRIBUTE_FIELDS
FRAME_SHAPE = (84, 84)
STACK_SIZE = 4
MAX_EPISODE_STEPS = 27_000
_CKPT_FILE = re.compile(r"^(?P<name>.+)_ckpt\.(?P<n>\d+)\.gz$")
_STREAM_BYTES = 8 << 20

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
            return np.load(f, allow_pickle=False)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DatasetError(
            f"{path}: field '{field}' is not a readable gzipped .npy array (truncated, corrupt or pickled?): {exc}"
        ) from exc


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
    chunk_rows = max(1, _STREAM_BYTES // row_bytes)
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


def _starts_with_padding(obs_path: Path, capacity: int, frame_shape: tuple[int, ...], seg: np.ndarray, pad: int,
                         actions: np.ndarray, rewards: np.ndarray) -> bool:
    """Whether the piece `seg` opens with exactly `pad` zero transitions (a fresh buffer's first episode)."""
    if len(seg) <= pad or actions[seg[:pad]].any() or rewards[seg[:pad]].any():
        return False
    frames = np.empty((pad + 1,) + tuple(frame_shape), np.uint8)  # only the first few frames are decompressed
    _stream_rows(obs_path, capacity, frame_shape, [(seg[:pad + 1], frames)])
    return not frames[:pad].any() and bool(frames[pad].any())


# --------------------------------------------------------------------------- one checkpoint
@dataclass(frozen=True)
class BufferEpisodes:
    """The whole episodes of one checkpoint, as slot indices; observations are read later, for the chosen ones."""

    directory: Path
    checkpoint: int
    capacity: int
    add_count: int
    frame_shape: tuple[int, ...]
    actions: np.ndarray
    rewards: np.ndarray
    steps: list[np.ndarray]
    """Per whole episode, its steps' slots in chronological order (padding excluded)."""
    padding: list[np.ndarray]
    """Per whole episode, the slots of its leading zero-padding transitions."""

    @property
    def observation_path(self) -> Path:
        return checkpoint_path(self.directory, STORE_PREFIX + "observation", self.checkpoint)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.steps], dtype=np.int64)


def scan_checkpoint(directory: str | os.PathLike, checkpoint: int, *, stack_size: int = STACK_SIZE,
                    frame_shape: tuple[int, ...] = FRAME_SHAPE) -> BufferEpisodes:
    """Find the whole episodes of checkpoint N (see the module docstring) without reading its frames."""
    root = replay_dir(directory)
    paths = {name: _existing(root, name, checkpoint) for name in REQUIRED_FILES}
    obs_path = paths[STORE_PREFIX + "observation"]
    shape, fortran, dtype = _observation_header(obs_path)
    if len(shape) != 1 + len(frame_shape) or tuple(shape[1:]) != tuple(frame_shape) or dtype != np.uint8 or fortran:
        raise DatasetError(
            f"{obs_path}: field 'observation' has shape {shape} and dtype {dtype}{' (Fortran order)' if fortran else ''}; "
            f"expected (capacity, {', '.join(map(str, frame_shape))}) uint8 single frames in C order"
        )
    capacity = int(shape[0])
    arrays = {}
    for field, kind in (("action", "i"), ("reward", "f"), ("terminal", "iub")):
        path = paths[STORE_PREFIX + field]
        arr = _load_array(path, field)
        if arr.shape != (capacity,) or arr.dtype.kind not in kind:
            raise DatasetError(
                f"{path}: field '{field}' has shape {arr.shape} and dtype {arr.dtype}; expected ({capacity},) "
                f"{ {'action': 'integers', 'reward': 'floats', 'terminal': 'uint8 flags'}[field] } "
                f"(one per slot of the {capacity}-slot observation array)"
            )
        arrays[field] = arr
    add_count_arr = _load_array(paths["add_count"], "add_count")
    if add_count_arr.size != 1 or add_count_arr.dtype.kind not in "iu" or int(add_count_arr.reshape(())) < 0:
        raise DatasetError(
            f"{paths['add_count']}: field 'add_count' has shape {add_count_arr.shape} and dtype {add_count_arr.dtype}; "
            "expected one non-negative integer (transitions added)"
        )
    add_count = int(add_count_arr.reshape(()))
    invalid = _load_array(paths["invalid_range"], "invalid_range")
    if invalid.ndim != 1 or invalid.dtype.kind not in "iuf" or (
        invalid.size and (invalid.min() < 0 or invalid.max() >= capacity or (invalid != np.round(invalid)).any())
    ):
        raise DatasetError(
            f"{paths['invalid_range']}: field 'invalid_range' has shape {invalid.shape}, dtype {invalid.dtype}; "
            f"expected a 1-D array of slot indices in [0, {capacity})"
        )
    where = f"{root}: checkpoint {checkpoint}"
    if add_count == 0:
        raise DatasetError(f"{where}: field 'add_count' is 0; the buffer is empty, expected at least one whole episode")

    wrapped = add_count >= capacity
    cursor = add_count % capacity
    order = (cursor + np.arange(capacity)) % capacity if wrapped else np.arange(add_count)
    terminal = arrays["terminal"][order] != 0
    ends = np.flatnonzero(terminal)  # positions (in `order`) of the terminals
    starts = np.concatenate([[0], ends[:-1] + 1])
    invalid_slots = np.zeros(capacity, bool)
    invalid_slots[invalid.astype(np.int64)] = True
    pad = stack_size - 1
    actions, rewards = arrays["action"], arrays["reward"]

    steps: list[np.ndarray] = []
    padding: list[np.ndarray] = []
    for k, (s, e) in enumerate(zip(starts, ends)):
        seg = order[s:e + 1]
        if k == 0:
            if wrapped:
                continue  # the oldest piece: the terminal before it was overwritten, so its start is unknown
            if pad and not _starts_with_padding(obs_path, capacity, frame_shape, seg, pad, actions, rewards):
                continue  # not a buffer's first episode (end-of-training log, add_count reset to the cursor)
        if len(seg) <= pad:
            raise DatasetError(
                f"{where}: the transitions in slots {seg.tolist()} end an episode but hold no step after the "
                f"{pad} padding transitions expected with stack_size={stack_size}; expected stack_size - 1 zero "
                "transitions then at least one step per episode"
            )
        pad_slots, step_slots = seg[:pad], seg[pad:]
        if actions[pad_slots].any() or rewards[pad_slots].any():
            raise DatasetError(
                f"{where}: slots {pad_slots.tolist()} (fields 'action', 'reward') should be the {pad} zero padding "
                f"transitions that start every Dopamine episode with stack_size={stack_size}; they are not "
                "(another stack_size?)"
            )
        if invalid_slots[step_slots].any():
            continue
        steps.append(step_slots)
        padding.append(pad_slots)
    if not steps:
        raise DatasetError(
            f"{where} (add_count {add_count}, capacity {capacity}, {len(ends)} terminal flags) holds no whole "
            "episode: expected at least one episode lying entirely in the buffer's valid range"
        )
    return BufferEpisodes(root, checkpoint, capacity, add_count, tuple(frame_shape), actions, rewards, steps, padding)


def read_frames(buffer: BufferEpisodes, chosen: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
    """Frames of the chosen episodes' steps, concatenated in the given order (into `out` if given); their
    padding frames are read in the same pass and checked to be zeros."""
    step_slots = np.concatenate([buffer.steps[i] for i in chosen])
    pad_slots = np.concatenate([buffer.padding[i] for i in chosen]).astype(np.int64)
    if out is None:
        out = np.empty((len(step_slots),) + buffer.frame_shape, np.uint8)
    pad_frames = np.empty((len(pad_slots),) + buffer.frame_shape, np.uint8)
    _stream_rows(buffer.observation_path, buffer.capacity, buffer.frame_shape, [(pad_slots, pad_frames), (step_slots, out)])
    nonzero = pad_frames.reshape(len(pad_frames), -1).any(axis=1)
    if nonzero.any():
        raise DatasetError(
            f"{buffer.observation_path}: field 'observation' slot {int(pad_slots[np.flatnonzero(nonzero)[0]])} should "
            "be a zero padding frame (Dopamine starts every episode with stack_size - 1 of them); it is not "
            "(another stack_size?)"
        )
    firsts = np.cumsum([0] + [len(buffer.steps[i]) for i in chosen[:-1]])
    blank = ~out[firsts].reshape(len(firsts), -1).any(axis=1)
    if blank.any():
        slot = int(buffer.steps[chosen[int(np.flatnonzero(blank)[0])]][0])
        raise DatasetError(
            f"{buffer.observation_path}: field 'observation' slot {slot}, an episode's first step, is a blank frame "
            "like Dopamine's padding; expected a game frame (more padding than stack_size - 1: another stack_size?)"
        )
    return out


# --------------------------------------------------------------------------- datasets
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


def _choose_checkpoints(available: list[int], buffers: int | Sequence[int] | None, root: Path) -> list[int]:
    if buffers is None:
        return available
    if isinstance(buffers, (int, np.integer)):
        if not 0 < int(buffers) <= len(available):
            raise DatasetError(f"{root}: buffers={buffers}; expected 1 to {len(available)} (checkpoints {available})")
        return available[-int(buffers):]  # the last ones, as the paper's create_dataset.py
    chosen = [int(b) for b in buffers]
    missing = sorted(set(chosen) - set(available))
    if missing:
        raise DatasetError(f"{root}: no checkpoint(s) {missing}; available: {available}")
    if not chosen:
        raise DatasetError(f"{root}: buffers=[] selects no checkpoint")
    return list(dict.fromkeys(chosen))


def load_dqn_replay(
    directory: str | os.PathLike,
    buffers: int | Sequence[int] | None = None,
    max_transitions: int | None = None,
    trajectories_per_buffer: int | None = None,
    seed: int = 0,
    *,
    game: str | None = None,
    env_id: str | None = None,
    stack_size: int = STACK_SIZE,
    max_episode_steps: int | None = MAX_EPISODE_STEPS,
    frame_shape: tuple[int, ...] = FRAME_SHAPE,
) -> TrajectoryDataset:
    """Whole episodes from DQN-replay checkpoints, one checkpoint in memory at a time.

    buffers: None = every checkpoint in DIR; an int n = the n highest-numbered ones (the paper's code takes
        buffers 50 - n .. 49 of run 1); a sequence = those checkpoint numbers.
    trajectories_per_buffer: at most M whole episodes from each checkpoint, drawn at random (seeded) and kept in
        chronological order; None = all of them.
    max_transitions: a budget on the total steps. The dataset never exceeds it and no episode is cut: loading
        stops at the first drawn episode that does not fit. None = no budget.
    seed: the order in which the checkpoints are visited (a seeded permutation) and the episodes drawn.
    game / env_id: the env id is `env_id`, else `dt/<game>-v0`, else found from DIR's path (`.../Breakout/1/
        replay_logs`), else ''.

    Observations are single (84, 84) uint8 frames (stack them when sampling), actions int64, rewards as stored
    (already clipped to [-1, 1] by Dopamine), reward_scale 1. Terminals are terminations, except episodes of
    exactly `max_episode_steps` steps (Dopamine's 27,000-step cap), which are truncations.
    """
    root = replay_dir(directory)
    chosen = _choose_checkpoints(checkpoint_numbers(root), buffers, root)
    if max_transitions is not None and max_transitions < 1:
        raise DatasetError(f"{root}: max_transitions={max_transitions}; expected a positive number of steps")
    if trajectories_per_buffer is not None and trajectories_per_buffer < 1:
        raise DatasetError(f"{root}: trajectories_per_buffer={trajectories_per_buffer}; expected at least 1")
    rng = np.random.default_rng(seed)
    visit = [chosen[i] for i in rng.permutation(len(chosen))]

    out = None if max_transitions is None else np.empty((int(max_transitions),) + tuple(frame_shape), np.uint8)
    frames: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    rewards: list[np.ndarray] = []
    lengths: list[int] = []
    total = 0
    budget_hit = False
    for checkpoint in visit:
        buffer = scan_checkpoint(root, checkpoint, stack_size=stack_size, frame_shape=frame_shape)
        n = len(buffer.steps)
        picks = np.arange(n)
        if trajectories_per_buffer is not None and trajectories_per_buffer < n:
            picks = np.sort(rng.choice(n, size=trajectories_per_buffer, replace=False))
        take: list[int] = []
        for i in picks:
            length = len(buffer.steps[i])
            if max_transitions is not None and total + length > max_transitions:
                budget_hit = True
                break
            take.append(int(i))
            total += length
            lengths.append(length)
        if take:
            start = total - sum(len(buffer.steps[i]) for i in take)
            frames.append(read_frames(buffer, take, None if out is None else out[start:total]))
            slots = np.concatenate([buffer.steps[i] for i in take])
            actions.append(buffer.actions[slots].astype(np.int64))
            rewards.append(buffer.rewards[slots].astype(np.float32))
        del buffer
        if budget_hit:
            break
    if not lengths:
        raise DatasetError(
            f"{root}: max_transitions={max_transitions} is smaller than the first episode drawn; "
            "expected a budget that holds at least one whole episode"
        )
    if max_transitions is not None and not budget_hit and total < max_transitions:
        warnings.warn(
            f"{root}: the chosen checkpoints hold {total} steps of whole episodes, fewer than max_transitions="
            f"{max_transitions}", stacklevel=2,
        )
    observations = out[:total] if out is not None else np.concatenate(frames)
    lengths_arr = np.array(lengths, dtype=np.int64)
    ends = np.cumsum(lengths_arr)
    terminations = np.zeros(total, bool)
    truncations = np.zeros(total, bool)
    cut = lengths_arr == max_episode_steps if max_episode_steps else np.zeros(len(lengths_arr), bool)
    terminations[ends[~cut] - 1] = True
    truncations[ends[cut] - 1] = True
    if env_id is None:
        found = game or game_from_path(root)
        env_id = atari_env_id(found) if found else ""
    name_game = env_id.split("/")[-1].split("-v")[0].lower() if env_id else root.name
    return TrajectoryDataset(
        observations=observations,
        actions=np.concatenate(actions),
        rewards=np.concatenate(rewards),
        terminations=terminations,
        truncations=truncations,
        episode_starts=np.concatenate([[0], ends[:-1]]).astype(np.int64),
        reward_scale=1.0,
        env_id=env_id,
        name=f"dqn-replay-{name_game}",
        source=str(root),
    )


def load_dqn_replay_src(src: str) -> TrajectoryDataset:
    """SRC `dqn-replay:DIR`: every whole episode of every checkpoint in DIR."""
    if not src.startswith(SRC_PREFIX) or not src[len(SRC_PREFIX):]:
        raise DatasetError(f"{src}: expected 'dqn-replay:DIR' with DIR a directory of DQN-replay checkpoints")
    return load_dqn_replay(src[len(SRC_PREFIX):])
