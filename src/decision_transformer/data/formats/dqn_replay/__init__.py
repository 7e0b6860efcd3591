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
  This reader neither clips nor rescales them (reward_scale 1). It marks the dataset `reward_clip = 1` when
  every reward lies in [-1, 1] (as Dopamine's always do), so a DT trained on it decrements its return-to-go
  by clipped env rewards when acting; rewards outside [-1, 1] mean an unclipped log (reward_clip 0).
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

Layout: `format.py` (the format's names and sizes, the games, reading a checkpoint's files), `episodes.py` (one
checkpoint as whole episodes: `scan_checkpoint`, `read_frames`), `subset.py` (`load_dqn_replay`, the SRC loader).

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

from .episodes import BufferEpisodes, read_frames, scan_checkpoint
from .format import (
    ATARI_GAMES,
    ATTRIBUTE_FIELDS,
    FRAME_SHAPE,
    MAX_EPISODE_STEPS,
    REQUIRED_FILES,
    SRC_PREFIX,
    STACK_SIZE,
    STORE_FIELDS,
    STORE_PREFIX,
    atari_env_id,
    checkpoint_numbers,
    checkpoint_path,
    game_from_path,
    replay_dir,
)
from .subset import load_dqn_replay, load_dqn_replay_src

_STREAM_BYTES = 8 << 20
"""Bytes of observations decompressed at a time when streaming (format._stream_rows reads it here at each call)."""

__all__ = [
    "ATARI_GAMES", "ATTRIBUTE_FIELDS", "FRAME_SHAPE", "MAX_EPISODE_STEPS", "REQUIRED_FILES", "SRC_PREFIX",
    "STACK_SIZE", "STORE_FIELDS", "STORE_PREFIX", "BufferEpisodes", "atari_env_id", "checkpoint_numbers",
    "checkpoint_path", "game_from_path", "load_dqn_replay", "load_dqn_replay_src", "read_frames", "replay_dir",
    "scan_checkpoint",
]
