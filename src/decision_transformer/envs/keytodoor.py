"""Key-to-Door (the paper's Table 6; after Hung et al. 2019 and Mesnard et al. 2020), as a Gymnasium env.

An episode has three phases of fixed length, each in its own square room of `room_size` x `room_size`
cells (walls around it); between phases the agent is teleported to a uniformly random cell of the
next room:

    1. key room (`phase_lengths[0]` steps): a key lies on a random cell; stepping on it picks it up;
    2. distractor room (`phase_lengths[1]` steps): an empty room, nothing to do;
    3. door room (`phase_lengths[2]` steps): a door on a random cell. With the key, the first step onto
       the door opens it and gives reward 1; the open door is then an ordinary cell. Without the key the
       door is a wall.

Reward is 0 everywhere else. Every episode lasts the whole horizon, as in the pycolab original (whose
phases run on timers, and whose door stays open after it gives its reward), and is truncated when
phase 3's time runs out; nothing terminates early. The return is 1 (success) or 0. Actions:
Discrete(4) = north, south, west, east; moving into a wall stays in place. Standing on the door
(object offset 0 in phase 3) is only possible once it is open, so the steps after the door opened show it.

Observation (float32, 8 values, what a picture of the current room shows):
    [agent_row, agent_col, object_drow, object_dcol, object_visible, phase_1, phase_2, phase_3]
agent_* is the agent's cell divided by room_size - 1 (in [0, 1]). The object is the key in phase 1
(until picked up) and the door in phase 3; object_d* is its offset from the agent, (object - agent) /
(room_size - 1), in [-1, 1]: agent-centred, as in the pycolab original, whose observation is a 5 x 5
crop around the agent. In phase 2, or once the key is taken, object_* are 0. `observation="absolute"`
gives the object's own cell / (room_size - 1) instead; on it DT generalised worse from 1K random
trajectories (docs/results/README.md). Whether the agent holds the key is *not* observed after phase 1,
as in the original task: acting well in phase 1 needs credit from the end of the episode, and knowing
whether the door will open needs memory of phase 1.

Defaults (5 x 5 rooms, phases of 8, 12, 8 steps; every episode is 28 steps): 8 steps is the
largest distance in the room, so every episode is solvable; a uniformly random policy succeeds in
about 3% of episodes (the paper's random baseline: 3.1%).

`info` holds `phase`, `has_key`, `key_picked` (True on the step the key was taken), `success` (True
from the step the door opened on), `door_opened` (True on that step only) and, at
reset, `key_position`. The dynamics are a vectorised numpy core shared with `random_dataset`, which
generates uniformly random trajectories without stepping Python envs one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from ..data.trajectories import TrajectoryDataset

ENV_ID = "dt/KeyToDoor-v0"
OBS_DIM = 8
NUM_ACTIONS = 4
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)  # north, south, west, east
DEFAULT_ROOM_SIZE = 5
DEFAULT_PHASE_LENGTHS = (8, 12, 8)
OBSERVATIONS = ("egocentric", "absolute")
DEFAULT_OBSERVATION = "egocentric"


@dataclass
class _Batch:
    """State of a batch of B episodes (all arrays have leading dimension B)."""

    t: np.ndarray  # (B,) steps taken
    pos: np.ndarray  # (B, 2) agent cell
    key: np.ndarray  # (B, 2) key cell (phase 1)
    door: np.ndarray  # (B, 2) door cell (phase 3)
    has_key: np.ndarray  # (B,) bool
    door_open: np.ndarray  # (B,) bool, the door was opened (reward given)
    done: np.ndarray  # (B,) bool


class _Core:
    """Vectorised dynamics for B episodes at once."""

    def __init__(self, room_size: int, phase_lengths: tuple[int, int, int], observation: str = DEFAULT_OBSERVATION):
        if observation not in OBSERVATIONS:
            raise ValueError(f"KeyToDoor observation={observation!r} is not one of {OBSERVATIONS}")
        if room_size < 2:
            raise ValueError(f"KeyToDoor room_size={room_size} must be at least 2")
        if len(phase_lengths) != 3 or any(int(n) <= 0 for n in phase_lengths):
            raise ValueError(f"KeyToDoor phase_lengths={phase_lengths} must be three positive integers")
        self.size = int(room_size)
        self.observation = observation
        self.lengths = tuple(int(n) for n in phase_lengths)
        self.bounds = np.cumsum(self.lengths)  # phase p ends (exclusive) at bounds[p]
        self.horizon = int(self.bounds[-1])

    def _random_cell(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.integers(0, self.size, size=(n, 2))

    def _random_cell_except(self, rng: np.random.Generator, other: np.ndarray) -> np.ndarray:
        """A uniformly random cell different from `other` (B, 2), per row."""
        cells = self.size * self.size
        flat = other[:, 0] * self.size + other[:, 1]
        pick = (flat + rng.integers(1, cells, size=len(other))) % cells
        return np.stack([pick // self.size, pick % self.size], axis=1)

    def phase(self, t: np.ndarray) -> np.ndarray:
        """(B,) phase index 0, 1, 2 for step counts t."""
        return np.minimum(np.searchsorted(self.bounds, t, side="right"), 2)

    def reset(self, rng: np.random.Generator, n: int) -> _Batch:
        pos = self._random_cell(rng, n)
        key = self._random_cell_except(rng, pos)
        return _Batch(
            t=np.zeros(n, np.int64), pos=pos, key=key, door=np.zeros((n, 2), np.int64),
            has_key=np.zeros(n, bool), door_open=np.zeros(n, bool), done=np.zeros(n, bool),
        )

    def observe(self, s: _Batch) -> np.ndarray:
        """(B, 8) float32 observations."""
        n = len(s.t)
        phase = self.phase(s.t)
        obs = np.zeros((n, OBS_DIM), np.float32)
        scale = 1.0 / (self.size - 1)
        obs[:, 0:2] = s.pos * scale
        key_visible = (phase == 0) & ~s.has_key
        door_visible = phase == 2
        visible = key_visible | door_visible
        obj = np.where(key_visible[:, None], s.key, s.door)  # (B, 2) the visible object's cell
        if self.observation == "egocentric":
            obj = obj - s.pos
        obs[:, 2:4] = np.where(visible[:, None], obj * scale, 0.0)
        obs[:, 4] = visible
        obs[np.arange(n), 5 + phase] = 1.0
        return obs

    def step(self, s: _Batch, actions: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Advance every not-done episode by one step in place; returns per-episode step results."""
        n = len(s.t)
        live = ~s.done
        phase = self.phase(s.t)
        target = np.clip(s.pos + MOVES[actions], 0, self.size - 1)
        at_door = (target == s.door).all(axis=1) & (phase == 2)
        blocked = at_door & ~s.has_key  # without the key the door is a wall
        opened = at_door & s.has_key & ~s.door_open & live  # reward once, on the step that opens the door
        new_pos = np.where(blocked[:, None], s.pos, target)
        key_picked = (phase == 0) & ~s.has_key & (new_pos == s.key).all(axis=1) & live
        s.pos = np.where(live[:, None], new_pos, s.pos)
        s.has_key = s.has_key | key_picked
        s.door_open = s.door_open | opened
        s.t = s.t + live
        # Teleport into the next room when a phase's time is up.
        entering = live & np.isin(s.t, self.bounds[:2])
        if entering.any():
            s.pos[entering] = self._random_cell(rng, int(entering.sum()))
            into_door_room = entering & (s.t == self.bounds[1])
            if into_door_room.any():
                s.door[into_door_room] = self._random_cell_except(rng, s.pos[into_door_room])
        truncated = live & (s.t >= self.horizon)
        s.done = s.done | truncated
        return {
            "reward": opened.astype(np.float32),
            "terminated": np.zeros(n, bool),  # episodes always run to the horizon
            "truncated": truncated,
            "key_picked": key_picked,
            "opened": opened,
            "live": live,
        }


class KeyToDoorEnv(gym.Env):
    """Key-to-Door; see the module docstring. Deterministic given `reset(seed=...)`."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, room_size: int = DEFAULT_ROOM_SIZE, phase_lengths: tuple[int, int, int] = DEFAULT_PHASE_LENGTHS,
                 observation: str = DEFAULT_OBSERVATION, render_mode: str | None = None):
        self.core = _Core(room_size, tuple(phase_lengths), observation)
        low = np.zeros(OBS_DIM, np.float32)
        if observation == "egocentric":
            low[2:4] = -1.0  # object offsets from the agent
        self.observation_space = gym.spaces.Box(low, np.ones(OBS_DIM, np.float32), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.render_mode = render_mode
        self._s: _Batch | None = None

    @property
    def horizon(self) -> int:
        return self.core.horizon

    def _info(self) -> dict[str, Any]:
        s = self._s
        return {"phase": int(self.core.phase(s.t)[0]) + 1, "has_key": bool(s.has_key[0]), "success": bool(s.door_open[0])}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._s = self.core.reset(self.np_random, 1)
        info = self._info()
        info["key_position"] = tuple(int(v) for v in self._s.key[0])
        return self.core.observe(self._s)[0], info

    def step(self, action):
        if self._s is None:
            raise RuntimeError("KeyToDoorEnv.step called before reset")
        if self._s.done[0]:
            raise RuntimeError("KeyToDoorEnv.step called after the episode ended; call reset")
        a = int(action)
        if not 0 <= a < NUM_ACTIONS:
            raise ValueError(f"KeyToDoorEnv action {action!r} is not in Discrete({NUM_ACTIONS})")
        out = self.core.step(self._s, np.array([a]), self.np_random)
        info = self._info()
        info["key_picked"] = bool(out["key_picked"][0])
        info["door_opened"] = bool(out["opened"][0])
        return (self.core.observe(self._s)[0], float(out["reward"][0]), bool(out["terminated"][0]),
                bool(out["truncated"][0]), info)

    def render(self):
        s = self._s
        if s is None:
            return ""
        grid = [["." for _ in range(self.core.size)] for _ in range(self.core.size)]
        phase = int(self.core.phase(s.t)[0])
        if phase == 0 and not s.has_key[0]:
            grid[s.key[0, 0]][s.key[0, 1]] = "k"
        if phase == 2:
            grid[s.door[0, 0]][s.door[0, 1]] = "D" if s.door_open[0] else "d"
        grid[s.pos[0, 0]][s.pos[0, 1]] = "A"
        return f"phase {phase + 1} t={int(s.t[0])}\n" + "\n".join("".join(r) for r in grid)


def random_dataset(num_episodes: int, seed: int = 0, room_size: int = DEFAULT_ROOM_SIZE,
                   phase_lengths: tuple[int, int, int] = DEFAULT_PHASE_LENGTHS,
                   observation: str = DEFAULT_OBSERVATION) -> TrajectoryDataset:
    """`num_episodes` episodes of the uniformly random policy, simulated all at once.

    Episodes are laid out one after another; observations are the ones before each action. The
    dataset's env_id is `dt/KeyToDoor-v0` when the defaults are used.
    """
    return random_dataset_with_events(num_episodes, seed, room_size, phase_lengths, observation)[0]


def random_dataset_with_events(num_episodes: int, seed: int = 0, room_size: int = DEFAULT_ROOM_SIZE,
                               phase_lengths: tuple[int, int, int] = DEFAULT_PHASE_LENGTHS,
                               observation: str = DEFAULT_OBSERVATION
                               ) -> tuple[TrajectoryDataset, np.ndarray, np.ndarray]:
    """`random_dataset` plus, per episode, the step at which the key was picked up and the step whose
    action opened the door (-1 if never)."""
    if num_episodes <= 0:
        raise ValueError(f"num_episodes={num_episodes} must be positive")
    core = _Core(room_size, tuple(phase_lengths), observation)
    rng = np.random.default_rng(seed)
    s = core.reset(rng, num_episodes)
    H = core.horizon
    obs = np.zeros((H, num_episodes, OBS_DIM), np.float32)  # time-major buffers
    act = np.zeros((H, num_episodes), np.int64)
    rew = np.zeros((H, num_episodes), np.float32)
    term = np.zeros((H, num_episodes), bool)
    trunc = np.zeros((H, num_episodes), bool)
    live = np.zeros((H, num_episodes), bool)
    key_step = np.full(num_episodes, -1, np.int64)
    door_step = np.full(num_episodes, -1, np.int64)
    for t in range(H):
        obs[t] = core.observe(s)
        a = rng.integers(0, NUM_ACTIONS, size=num_episodes)
        act[t] = a
        out = core.step(s, a, rng)
        rew[t], term[t], trunc[t], live[t] = out["reward"], out["terminated"], out["truncated"], out["live"]
        key_step[out["key_picked"]] = t
        door_step[out["opened"]] = t
    # Episode-major flattening of the live steps.
    order = live.T  # (E, H)
    lengths = order.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    default = (room_size == DEFAULT_ROOM_SIZE and tuple(phase_lengths) == DEFAULT_PHASE_LENGTHS
               and observation == DEFAULT_OBSERVATION)
    dataset = TrajectoryDataset(
        observations=obs.transpose(1, 0, 2)[order],
        actions=act.T[order],
        rewards=rew.T[order],
        terminations=term.T[order],
        truncations=trunc.T[order],
        episode_starts=starts,
        reward_scale=1.0,
        env_id=ENV_ID if default else "",
        name=f"keytodoor-random-{num_episodes}",
        source=f"<keytodoor random_dataset seed={seed}>",
    )
    return dataset, key_step, door_step
