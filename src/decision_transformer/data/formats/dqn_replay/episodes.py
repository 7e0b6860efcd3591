"""One DQN-replay checkpoint as whole episodes: its small fields read and checked, its chronological slots split
into episodes (what counts as whole is in the package docstring), and the chosen episodes' frames read."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...trajectories import DatasetError
from .format import (
    FRAME_SHAPE,
    REQUIRED_FILES,
    STACK_SIZE,
    STORE_PREFIX,
    _existing,
    _load_array,
    _observation_header,
    _stream_rows,
    checkpoint_path,
    replay_dir,
)

_FIELD_KINDS = (("action", "i"), ("reward", "f"), ("terminal", "iub"))
_FIELD_WANTED = {"action": "integers", "reward": "floats", "terminal": "uint8 flags"}


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


@dataclass(frozen=True)
class _Fields:
    """A checkpoint's small fields, checked against the observation array's capacity."""

    obs_path: Path
    capacity: int
    actions: np.ndarray
    rewards: np.ndarray
    terminal: np.ndarray
    add_count: int
    invalid: np.ndarray


# --------------------------------------------------------------------------- reading the fields
def _capacity(obs_path: Path, frame_shape: tuple[int, ...]) -> int:
    """The observation array's slot count, from its header (its frames are not read)."""
    shape, fortran, dtype = _observation_header(obs_path)
    if len(shape) != 1 + len(frame_shape) or tuple(shape[1:]) != tuple(frame_shape) or dtype != np.uint8 or fortran:
        raise DatasetError(
            f"{obs_path}: field 'observation' has shape {shape} and dtype {dtype}{' (Fortran order)' if fortran else ''}; "
            f"expected (capacity, {', '.join(map(str, frame_shape))}) uint8 single frames in C order"
        )
    return int(shape[0])


def _slot_field(path: Path, field: str, kind: str, capacity: int) -> np.ndarray:
    """One per-slot field (action, reward or terminal), checked to hold one value of its kind per slot."""
    arr = _load_array(path, field)
    if arr.shape != (capacity,) or arr.dtype.kind not in kind:
        raise DatasetError(
            f"{path}: field '{field}' has shape {arr.shape} and dtype {arr.dtype}; expected ({capacity},) "
            f"{_FIELD_WANTED[field]} (one per slot of the {capacity}-slot observation array)"
        )
    return arr


def _add_count(path: Path) -> int:
    arr = _load_array(path, "add_count")
    if arr.size != 1 or arr.dtype.kind not in "iu" or int(arr.reshape(())) < 0:
        raise DatasetError(
            f"{path}: field 'add_count' has shape {arr.shape} and dtype {arr.dtype}; "
            "expected one non-negative integer (transitions added)"
        )
    return int(arr.reshape(()))


def _invalid_range(path: Path, capacity: int) -> np.ndarray:
    invalid = _load_array(path, "invalid_range")
    if invalid.ndim != 1 or invalid.dtype.kind not in "iuf" or (
        invalid.size and (invalid.min() < 0 or invalid.max() >= capacity or (invalid != np.round(invalid)).any())
    ):
        raise DatasetError(
            f"{path}: field 'invalid_range' has shape {invalid.shape}, dtype {invalid.dtype}; "
            f"expected a 1-D array of slot indices in [0, {capacity})"
        )
    return invalid


def _read_fields(root: Path, checkpoint: int, frame_shape: tuple[int, ...]) -> _Fields:
    paths = {name: _existing(root, name, checkpoint) for name in REQUIRED_FILES}
    obs_path = paths[STORE_PREFIX + "observation"]
    capacity = _capacity(obs_path, frame_shape)
    slot = {field: _slot_field(paths[STORE_PREFIX + field], field, kind, capacity) for field, kind in _FIELD_KINDS}
    add_count = _add_count(paths["add_count"])
    invalid = _invalid_range(paths["invalid_range"], capacity)
    return _Fields(obs_path, capacity, slot["action"], slot["reward"], slot["terminal"], add_count, invalid)


# --------------------------------------------------------------------------- splitting into episodes
def _starts_with_padding(obs_path: Path, capacity: int, frame_shape: tuple[int, ...], seg: np.ndarray, pad: int,
                         actions: np.ndarray, rewards: np.ndarray) -> bool:
    """Whether the piece `seg` opens with exactly `pad` zero transitions (a fresh buffer's first episode)."""
    if len(seg) <= pad or actions[seg[:pad]].any() or rewards[seg[:pad]].any():
        return False
    frames = np.empty((pad + 1,) + tuple(frame_shape), np.uint8)  # only the first few frames are decompressed
    _stream_rows(obs_path, capacity, frame_shape, [(seg[:pad + 1], frames)])
    return not frames[:pad].any() and bool(frames[pad].any())


def _check_padding(where: str, seg: np.ndarray, pad: int, stack_size: int, fields: _Fields) -> None:
    """The piece `seg` (an episode) opens with `pad` zero transitions and holds a step after them."""
    if len(seg) <= pad:
        raise DatasetError(
            f"{where}: the transitions in slots {seg.tolist()} end an episode but hold no step after the "
            f"{pad} padding transitions expected with stack_size={stack_size}; expected stack_size - 1 zero "
            "transitions then at least one step per episode"
        )
    pad_slots = seg[:pad]
    if fields.actions[pad_slots].any() or fields.rewards[pad_slots].any():
        raise DatasetError(
            f"{where}: slots {pad_slots.tolist()} (fields 'action', 'reward') should be the {pad} zero padding "
            f"transitions that start every Dopamine episode with stack_size={stack_size}; they are not "
            "(another stack_size?)"
        )


def _whole_episodes(where: str, fields: _Fields, stack_size: int,
                    frame_shape: tuple[int, ...]) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """(steps, padding) slots per whole episode, in chronological order, and the number of terminal flags."""
    capacity, add_count = fields.capacity, fields.add_count
    wrapped = add_count >= capacity
    cursor = add_count % capacity
    order = (cursor + np.arange(capacity)) % capacity if wrapped else np.arange(add_count)
    ends = np.flatnonzero(fields.terminal[order] != 0)  # positions (in `order`) of the terminals
    starts = np.concatenate([[0], ends[:-1] + 1])
    invalid_slots = np.zeros(capacity, bool)
    invalid_slots[fields.invalid.astype(np.int64)] = True
    pad = stack_size - 1

    steps: list[np.ndarray] = []
    padding: list[np.ndarray] = []
    for k, (s, e) in enumerate(zip(starts, ends)):
        seg = order[s:e + 1]
        if k == 0:
            if wrapped:
                continue  # the oldest piece: the terminal before it was overwritten, so its start is unknown
            if pad and not _starts_with_padding(fields.obs_path, capacity, frame_shape, seg, pad,
                                                fields.actions, fields.rewards):
                continue  # not a buffer's first episode (end-of-training log, add_count reset to the cursor)
        _check_padding(where, seg, pad, stack_size, fields)
        if invalid_slots[seg[pad:]].any():
            continue
        steps.append(seg[pad:])
        padding.append(seg[:pad])
    return steps, padding, len(ends)


def scan_checkpoint(directory: str | os.PathLike, checkpoint: int, *, stack_size: int = STACK_SIZE,
                    frame_shape: tuple[int, ...] = FRAME_SHAPE) -> BufferEpisodes:
    """Find the whole episodes of checkpoint N (see the package docstring) without reading its frames."""
    root = replay_dir(directory)
    fields = _read_fields(root, checkpoint, frame_shape)
    where = f"{root}: checkpoint {checkpoint}"
    if fields.add_count == 0:
        raise DatasetError(f"{where}: field 'add_count' is 0; the buffer is empty, expected at least one whole episode")
    steps, padding, terminals = _whole_episodes(where, fields, stack_size, frame_shape)
    if not steps:
        raise DatasetError(
            f"{where} (add_count {fields.add_count}, capacity {fields.capacity}, {terminals} terminal flags) holds "
            "no whole episode: expected at least one episode lying entirely in the buffer's valid range"
        )
    return BufferEpisodes(root, checkpoint, fields.capacity, fields.add_count, tuple(frame_shape), fields.actions,
                          fields.rewards, steps, padding)


# --------------------------------------------------------------------------- frames
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
