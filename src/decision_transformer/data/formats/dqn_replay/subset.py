"""A dataset from DQN-replay checkpoints, one in memory at a time: every whole episode, or the paper's 1% subset
(N buffers, M trajectories per buffer, a transition budget)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...trajectories import DatasetError, TrajectoryDataset
from .episodes import BufferEpisodes, read_frames, scan_checkpoint
from .format import (
    FRAME_SHAPE,
    MAX_EPISODE_STEPS,
    SRC_PREFIX,
    STACK_SIZE,
    atari_env_id,
    checkpoint_numbers,
    game_from_path,
    replay_dir,
)


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


@dataclass
class _Subset:
    """The episodes taken so far: their steps' frames, actions and rewards per checkpoint, and their lengths.
    With a budget, frames go straight into `out` (allocated once); loading stops at the first episode that does
    not fit (`budget_hit`)."""

    max_transitions: int | None
    out: np.ndarray | None
    frames: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[np.ndarray] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    total: int = 0
    budget_hit: bool = False

    def add(self, buffer: BufferEpisodes, picks: np.ndarray) -> None:
        """Take the picked episodes of `buffer` in order, up to the budget."""
        take: list[int] = []
        for i in picks:
            length = len(buffer.steps[i])
            if self.max_transitions is not None and self.total + length > self.max_transitions:
                self.budget_hit = True
                break
            take.append(int(i))
            self.total += length
            self.lengths.append(length)
        if take:
            start = self.total - sum(len(buffer.steps[i]) for i in take)
            self.frames.append(read_frames(buffer, take, None if self.out is None else self.out[start:self.total]))
            slots = np.concatenate([buffer.steps[i] for i in take])
            self.actions.append(buffer.actions[slots].astype(np.int64))
            self.rewards.append(buffer.rewards[slots].astype(np.float32))

    def observations(self) -> np.ndarray:
        return self.out[:self.total] if self.out is not None else np.concatenate(self.frames)


def _episode_flags(lengths: np.ndarray, total: int, max_episode_steps: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(terminations, truncations) per step: each episode's last step, a truncation iff it has exactly
    `max_episode_steps` steps (Dopamine's cap)."""
    ends = np.cumsum(lengths)
    terminations = np.zeros(total, bool)
    truncations = np.zeros(total, bool)
    cut = lengths == max_episode_steps if max_episode_steps else np.zeros(len(lengths), bool)
    terminations[ends[~cut] - 1] = True
    truncations[ends[cut] - 1] = True
    return terminations, truncations


def _check_options(root: Path, max_transitions: int | None, trajectories_per_buffer: int | None) -> None:
    if max_transitions is not None and max_transitions < 1:
        raise DatasetError(f"{root}: max_transitions={max_transitions}; expected a positive number of steps")
    if trajectories_per_buffer is not None and trajectories_per_buffer < 1:
        raise DatasetError(f"{root}: trajectories_per_buffer={trajectories_per_buffer}; expected at least 1")


def _collect(root: Path, visit: list[int], rng: np.random.Generator, subset: _Subset,
             trajectories_per_buffer: int | None, stack_size: int, frame_shape: tuple[int, ...]) -> None:
    """Visit the checkpoints in order, one in memory at a time, drawing episodes into `subset`."""
    for checkpoint in visit:
        buffer = scan_checkpoint(root, checkpoint, stack_size=stack_size, frame_shape=frame_shape)
        n = len(buffer.steps)
        picks = np.arange(n)
        if trajectories_per_buffer is not None and trajectories_per_buffer < n:
            picks = np.sort(rng.choice(n, size=trajectories_per_buffer, replace=False))
        subset.add(buffer, picks)
        del buffer
        if subset.budget_hit:
            break


def _dataset(root: Path, subset: _Subset, max_episode_steps: int | None, env_id: str) -> TrajectoryDataset:
    lengths = np.array(subset.lengths, dtype=np.int64)
    terminations, truncations = _episode_flags(lengths, subset.total, max_episode_steps)
    name_game = env_id.split("/")[-1].split("-v")[0].lower() if env_id else root.name
    rewards = np.concatenate(subset.rewards)
    return TrajectoryDataset(
        observations=subset.observations(),
        actions=np.concatenate(subset.actions),
        rewards=rewards,
        terminations=terminations,
        truncations=truncations,
        episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        reward_scale=1.0,
        reward_clip=1.0 if np.abs(rewards).max(initial=0.0) <= 1.0 else 0.0,  # Dopamine's clipping (module doc)
        env_id=env_id,
        name=f"dqn-replay-{name_game}",
        source=str(root),
    )


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
    _check_options(root, max_transitions, trajectories_per_buffer)
    rng = np.random.default_rng(seed)
    visit = [chosen[i] for i in rng.permutation(len(chosen))]

    out = None if max_transitions is None else np.empty((int(max_transitions),) + tuple(frame_shape), np.uint8)
    subset = _Subset(max_transitions, out)
    _collect(root, visit, rng, subset, trajectories_per_buffer, stack_size, frame_shape)
    if not subset.lengths:
        raise DatasetError(
            f"{root}: max_transitions={max_transitions} is smaller than the first episode drawn; "
            "expected a budget that holds at least one whole episode"
        )
    if max_transitions is not None and not subset.budget_hit and subset.total < max_transitions:
        warnings.warn(
            f"{root}: the chosen checkpoints hold {subset.total} steps of whole episodes, fewer than max_transitions="
            f"{max_transitions}", stacklevel=2,
        )
    if env_id is None:
        found = game or game_from_path(root)
        env_id = atari_env_id(found) if found else ""
    return _dataset(root, subset, max_episode_steps, env_id)


def load_dqn_replay_src(src: str) -> TrajectoryDataset:
    """SRC `dqn-replay:DIR`: every whole episode of every checkpoint in DIR."""
    if not src.startswith(SRC_PREFIX) or not src[len(SRC_PREFIX):]:
        raise DatasetError(f"{src}: expected 'dqn-replay:DIR' with DIR a directory of DQN-replay checkpoints")
    return load_dqn_replay(src[len(SRC_PREFIX):])
