"""Built-in Atari datasets made here: `breakout-mixed`, `pong-mixed`, `qbert-mixed`, `seaquest-mixed`.

Real ALE episodes in the evaluation env `dt/<Game>-v0` (envs/atari.py: no sticky actions, up to 30 no-ops,
frame skip 4 with max-pooling, 84x84 grayscale, lives do not end episodes). Each step stores the newest 84x84
uint8 frame of the env's 4-frame stack, once (data/frames.py stacks them again for training), the action, and
the game's raw reward (no clipping; reward_scale 1).

Behaviour: episode e uses epsilon = EPSILONS[e % 5] (1.0, 0.5, 0.25, 0.1, 0.03): a uniform random action with
probability epsilon, else a scripted controller that reads the game state from the ALE RAM:
    Breakout  ball x = RAM[99], ball y = RAM[101] (0 while no ball is in play), paddle x = RAM[72]: FIRE when
              no ball is in play, else move the paddle towards ball x - 5 (dead zone 3);
    Pong      ball y = RAM[54] (0 between points), own paddle y = RAM[51]: move the paddle towards ball y - 8
              (dead zone 2; RIGHT moves up);
    Seaquest  oxygen = RAM[102], submarine y = RAM[97]: surface (UP) when oxygen < 16, else dive to y 60 firing
              and patrol, alternating RIGHTFIRE / LEFTFIRE every 40 steps (a simple policy; no rescue logic);
    Qbert     no controller: a uniform random choice among the four moves (so Qbert data is random-quality,
              its returns spread only by chance).
(RAM addresses from the AtariARI annotations (Anand et al., 2019), checked here by stepping the games; the
offsets and dead zones were tuned over a few episodes: the Breakout controller scores 60+ in 1,500 steps.)
So returns spread from the random policy's to a good controller's.

Budget: exactly `steps` steps (`dt data make NAME --steps N`, or the SRC NAME@N; default 50,000). Every
episode is cut at min(27,000, max(200, steps // 10)) steps, recorded as a truncation, so any budget holds
at least about 10 episodes of several epsilons; the last episode is cut at the budget.
Seeds: episode e of seed s resets with seed derive_seed(s, "atari-episode", e) = s * 1_000_000 + e; epsilon draws
use numpy's default_rng(s). The episodes run through the one runner (runner.py).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from decision_transformer.data.registry import BuiltinDataset, register_builtin
from decision_transformer.data.trajectories import TrajectoryDataset

EPSILONS = (1.0, 0.5, 0.25, 0.1, 0.03)
DEFAULT_STEPS = 50_000
MAX_EPISODE_STEPS = 27_000  # 108k frames at frame skip 4


def episode_cap(steps: int) -> int:
    return min(MAX_EPISODE_STEPS, max(200, steps // 10))


# --------------------------------------------------------------------------- controllers: RAM -> action
def breakout_controller(ram: np.ndarray, t: int) -> int:
    ball_x, ball_y, paddle_x = int(ram[99]), int(ram[101]), int(ram[72])
    if ball_y == 0:
        return 1  # FIRE: launch the ball
    target = ball_x - 5
    return 2 if paddle_x < target - 3 else 3 if paddle_x > target + 3 else 0  # RIGHT / LEFT / NOOP


def pong_controller(ram: np.ndarray, t: int) -> int:
    ball_y, paddle_y = int(ram[54]), int(ram[51])
    if ball_y == 0:
        return 0
    target = ball_y - 8
    return 3 if paddle_y < target - 2 else 2 if paddle_y > target + 2 else 0  # LEFT (down) / RIGHT (up) / NOOP


def seaquest_controller(ram: np.ndarray, t: int) -> int:
    oxygen, sub_y = int(ram[102]), int(ram[97])
    if oxygen < 16:
        return 2  # UP: surface for air
    if sub_y < 56:
        return 13  # DOWNFIRE
    return 11 if (t // 40) % 2 == 0 else 12  # RIGHTFIRE / LEFTFIRE


def qbert_controller(ram: np.ndarray, t: int, rng: np.random.Generator) -> int:
    return int(rng.integers(2, 6))  # UP, RIGHT, LEFT, DOWN


GAMES: dict[str, tuple[str, str]] = {
    # dataset name: (game, description)
    "breakout-mixed": ("Breakout", "RAM paddle-tracking controller, epsilon 1..0.03"),
    "pong-mixed": ("Pong", "RAM paddle-tracking controller, epsilon 1..0.03"),
    "seaquest-mixed": ("Seaquest", "dive-fire-surface script, epsilon 1..0.03"),
    "qbert-mixed": ("Qbert", "random moves (no controller): random-quality data"),
}
_CONTROLLERS: dict[str, Callable] = {"Breakout": breakout_controller, "Pong": pong_controller,
                                     "Seaquest": seaquest_controller}


def make_atari_mixed(game: str, seed: int = 0, steps: int = DEFAULT_STEPS, name: str = "") -> TrajectoryDataset:
    """Record exactly `steps` steps of `game` (module docstring)."""
    from gymnasium.wrappers import TimeLimit

    from decision_transformer.envs.atari import atari_env_id
    from decision_transformer.common.envs_util import make_env
    from decision_transformer.runner import run_episodes
    from decision_transformer.common.seeding import derive_seed

    env_id = atari_env_id(game)
    env = TimeLimit(make_env(env_id), episode_cap(steps))  # the cap ends an episode as a truncation
    log = _Collector(game, np.random.default_rng(seed), env, steps)
    run_episodes(log, [lambda: env], num_steps=steps, on_step=log,
                 reset_seed=lambda i, e: derive_seed(seed, "atari-episode", e))
    log.truncations[-1] = not log.terminations[-1]  # the budget cuts the last episode
    return TrajectoryDataset(observations=log.frames, actions=log.actions, rewards=log.rewards,
                             terminations=log.terminations, truncations=log.truncations,
                             episode_starts=np.asarray(log.starts, np.int64), reward_scale=1.0,
                             env_id=env_id, name=name or f"{game.lower()}-mixed",
                             source=f"{name or game.lower() + '-mixed'}(seed={seed}, steps={steps})")


class _Collector:
    """The runner's agent for one env (epsilon-greedy over the game's controller, module docstring) and its
    `on_step` hook, which stores each step's newest frame, action, reward and flags in arrays of `steps` rows."""

    def __init__(self, game: str, rng: np.random.Generator, env, steps: int):
        self.rng, self.controller, self.ale = rng, _CONTROLLERS.get(game), env.unwrapped.ale
        self.n_actions = int(env.action_space.n)
        self.frames = np.empty((steps, *env.observation_space.shape[1:]), np.uint8)  # (N, 84, 84)
        self.actions = np.empty(steps, np.int64)
        self.rewards = np.empty(steps, np.float32)
        self.terminations = np.zeros(steps, bool)
        self.truncations = np.zeros(steps, bool)
        self.starts: list[int] = []
        self.n = 0  # steps stored

    def begin(self, rows, obs, infos) -> None:
        self.eps = EPSILONS[len(self.starts) % len(EPSILONS)]
        self.starts.append(self.n)
        self.t = 0

    def act(self, rows, obs) -> np.ndarray:
        if self.rng.random() < self.eps:
            a = int(self.rng.integers(self.n_actions))
        elif self.controller is None:
            a = qbert_controller(self.ale.getRAM(), self.t, self.rng)
        else:
            a = self.controller(self.ale.getRAM(), self.t)
        self.t += 1
        return np.array([a])

    def observe(self, rows, obs, rewards) -> None:
        pass

    def finish(self, row) -> dict:
        return {}

    def __call__(self, rows, obs, actions, rewards, terminated, truncated) -> None:
        n = self.n
        self.frames[n], self.actions[n], self.rewards[n] = obs[0][-1], actions[0], rewards[0]
        if terminated[0] or truncated[0]:
            self.terminations[n], self.truncations[n] = terminated[0], not terminated[0]
        self.n += 1


def _register() -> None:
    for name, (game, description) in GAMES.items():
        register_builtin(BuiltinDataset(
            name=name,
            env_id=f"dt/{game}-v0",
            make=lambda seed, steps=DEFAULT_STEPS, _game=game, _name=name: make_atari_mixed(_game, seed, steps, _name),
            description=f"{game} (ALE), {description}; {DEFAULT_STEPS} steps of single 84x84 frames (--steps N)",
            default_steps=DEFAULT_STEPS,
        ))


_register()
