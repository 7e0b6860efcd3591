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
Seeds: episode e of seed s resets with seed s * 1_000_000 + e; epsilon draws use numpy's default_rng(s).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .registry import BuiltinDataset, register_builtin
from .trajectories import TrajectoryDataset

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
    from ..envs.atari import atari_env_id
    from ..envs_util import make_env

    env_id = atari_env_id(game)
    env = make_env(env_id)
    ale = env.unwrapped.ale
    n_actions = int(env.action_space.n)
    rng = np.random.default_rng(seed)
    controller = _CONTROLLERS.get(game)
    cap = episode_cap(steps)
    frames = np.empty((steps, *env.observation_space.shape[1:]), np.uint8)  # (N, 84, 84)
    actions = np.empty(steps, np.int64)
    rewards = np.empty(steps, np.float32)
    terminations = np.zeros(steps, bool)
    truncations = np.zeros(steps, bool)
    starts: list[int] = []
    n, e = 0, 0
    try:
        while n < steps:
            eps = EPSILONS[e % len(EPSILONS)]
            obs, _ = env.reset(seed=seed * 1_000_000 + e)
            starts.append(n)
            t = 0
            while True:
                frames[n] = obs[-1]
                if rng.random() < eps:
                    a = int(rng.integers(n_actions))
                elif controller is None:
                    a = qbert_controller(ale.getRAM(), t, rng)
                else:
                    a = controller(ale.getRAM(), t)
                obs, reward, terminated, truncated, _ = env.step(a)
                actions[n], rewards[n] = a, reward
                n, t = n + 1, t + 1
                if terminated or truncated or t >= cap or n >= steps:
                    terminations[n - 1] = terminated
                    truncations[n - 1] = not terminated
                    break
            e += 1
    finally:
        env.close()
    return TrajectoryDataset(observations=frames, actions=actions, rewards=rewards, terminations=terminations,
                             truncations=truncations, episode_starts=np.asarray(starts, np.int64), reward_scale=1.0,
                             env_id=env_id, name=name or f"{game.lower()}-mixed",
                             source=f"{name or game.lower() + '-mixed'}(seed={seed}, steps={steps})")


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
