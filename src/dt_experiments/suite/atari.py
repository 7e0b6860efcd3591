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
    Seaquest  the submarine's centre x = RAM[70] + 8, y = RAM[97] (13 at the surface, 108 at the bottom), facing
              left iff RAM[86] = 8 (else 0); oxygen RAM[102] (64 full), divers aboard RAM[62]. Enemy lane i = 0..3
              (bottom to top; the torpedo hits lane i from y near 104 - 24 i) holds up to three sharks or subs: the
              left / middle / right one iff bit 4 / 2 / 1 of RAM[36+i] is set, at x = RAM[30+i] + 0 / 16 / 32
              (mod 256; on screen below 160), heading left iff RAM[89+i] & 8, subs iff RAM[89+i] % 8 is 4..6;
              RAM[71+i] is lane i's diver (a shark lane) or its sub's torpedo; a patrol sub at the surface at
              RAM[118] once RAM[60] >= 2. Head for the surface (UP) when 6 divers are aboard (a bonus for each
              diver and the oxygen left) or oxygen < 16 with one or more (surfacing with none costs a life, so
              then fight on); else for the lane of the nearest enemy or diver (a lane away counts 60 px, a diver
              60 px less). Of the steps on / wait / back (4 px up or down), take the first that keeps the most room
              (up to 28 px) to the hazards the hull can touch there (enemies, torpedoes, the patrol sub) that are
              coming at it. Always fire: turn to face the nearest enemy in the submarine's lanes, else swim to the
              goal diver in its lane, else back towards the middle;
    Qbert     Qbert's cube (row r = 0..5 from the top, c = 0..r from the left; 6 rows, 21 cubes): standing on
              a cube, y = RAM[67] = 25 + 28 r and column RAM[35] = 5 + 2c - r; the colours of the 21 cubes at
              AtariARI's tile_color addresses; enemies: row k = 1..5 holds at most one (ball, Coily or Sam),
              present iff RAM[(92, 93, 94, 96, 95)[k-1]] != 7, in column RAM[74 + k]. While Qbert stands on a
              cube (else NOOP: a move pressed mid-jump is ignored) and the pyramid is not flashing between
              rounds (all cubes one colour, Qbert off the top cube), take the move that stays on the pyramid
              (jumping off loses a life) and is first not onto an enemy's cube or one next to it, then nearest
              to a cube not yet the colour of Qbert's own cube (the target colour in level 1, where a landing
              paints a cube; a guess in level 2's two-hop colours); ties in the order UP, RIGHT, LEFT, DOWN
              (up-right, down-right, up-left, down-left). No discs, no chasing Sam or the green ball.
(RAM addresses from the AtariARI annotations (Anand et al., 2019), checked here by stepping the games; the
offsets and dead zones were tuned over a few episodes: the Breakout controller scores 60+ in 1,500 steps.
Qbert's player_y 67, player_column 35 and tile_color are AtariARI's; the per-row enemy columns 75..79 are
OCAtari's (Delfosse et al., 2023, `ocatari/ram/qbert.py`); the per-row enemy sprite bytes 92..96 were found
here by matching the enemies' pixels on the screen (98-100% agreement per row over 1,661 frames). At epsilon 0
the Qbert controller scores about 18,000 in 2,000 steps (random play: 150-300) and never jumped off the
pyramid in 6 reset seeds of 3,000 steps; measured 2026-12-06.
Seaquest's player_x 70, player_y 97, player_direction 86, oxygen_meter_value 102, divers_collected_count 62,
enemy_obstacle_x 30..33 and diver_or_enemy_missile_x 71..74 are AtariARI's; the per-lane enemy bits 36..39, the
sub / shark code in 89..92 and the patrol sub 118 (present from RAM[60] >= 2) are OCAtari's (`ocatari/ram/
seaquest.py`, whose middle enemy reads RAM[30] in every lane; RAM[30+i] matches the screen); the heading bit 8 of
89..92 was found here. Checked against the screen every 3rd step of 2 reset seeds x 1,500 steps: every
enemy (2,039, each copy), diver (156) and torpedo (118) box read from RAM holds non-water pixels; the sub code
agreed with the subs' grey in 6,147 of 6,147 and the heading bit with the x steps in 9,649 of 9,649; surfacing
with no diver cost a life, with 6 (and 17 oxygen left) it paid 640. At epsilon 0 the Seaquest controller
scores 11,000-12,500 in 2,000 steps (12,463 over reset seeds 0-2, 10,792 over 3-8; the dive-and-patrol script
of generation 1: 733; random play: 80); measured 2026-12-06.)
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


SEAQUEST_LANE_Y = (104, 80, 56, 32)  # submarine y (RAM 97) whose torpedo hits enemy lane 0 (bottom) .. 3
SEAQUEST_SURFACE_Y = 13
SEAQUEST_COPIES = ((4, 0), (2, 16), (1, 32))  # (bit of RAM 36+i, x offset): lane i's left / middle / right enemy
SEAQUEST_MOVES = {(0, 0): 1, (0, 1): 11, (0, -1): 12, (-4, 0): 10, (4, 0): 13,  # (y step, x step) -> FIRE,
                  (-4, 1): 14, (-4, -1): 15, (4, 1): 16, (4, -1): 17}  # RIGHTFIRE, ..., DOWNLEFTFIRE


def _seaquest_objects(ram: np.ndarray) -> tuple[list, list, list]:
    """(enemies, divers, hazards) on screen, each (lane, x centre, heading +1 right / -1 left); hazards are the
    enemies, the enemy subs' torpedoes and the surface patrol sub (lane 4)."""
    enemies, divers, hazards = [], [], []
    for i in range(4):
        heading = -1 if ram[89 + i] & 8 else 1
        for bit, off in SEAQUEST_COPIES:
            x = (int(ram[30 + i]) + off) % 256
            if ram[36 + i] & bit and x < 160:
                enemies.append((i, x + 4, heading))
        if 0 < ram[71 + i] < 160:  # a diver in a shark lane, a torpedo in an enemy-sub lane
            (hazards if 3 < ram[89 + i] % 8 < 7 else divers).append((i, int(ram[71 + i]) + 4, heading))
    if ram[60] >= 2 and ram[118] < 160:
        hazards.append((4, int(ram[118]) + 4, 0))
    return enemies, divers, enemies + hazards


def _seaquest_lanes(y: int) -> list[int]:
    """The lanes (4: the surface) whose enemies the submarine's hull can touch at RAM y."""
    return [i for i, lane_y in enumerate(SEAQUEST_LANE_Y + (SEAQUEST_SURFACE_Y,)) if abs(y - lane_y) < 14]


def seaquest_controller(ram: np.ndarray, t: int) -> int:
    x, y, oxygen, rescued = int(ram[70]) + 8, int(ram[97]), int(ram[102]), int(ram[62])
    enemies, divers, hazards = _seaquest_objects(ram)

    def clearance(dy: int) -> int:  # distance to the nearest hazard touching or coming at the sub after a step dy
        return min([abs(hx - x) for lane, hx, heading in hazards if lane in _seaquest_lanes(y + dy)
                    and (abs(hx - x) < 14 or heading * (x - hx) >= 0)] + [28])

    goal_x = None
    if rescued == 6 or (oxygen < 16 and rescued > 0):  # with no diver, surfacing costs a life
        goal_y = SEAQUEST_SURFACE_Y
    else:  # the nearest enemy to shoot or diver to pick up (lanes away count 60 px; divers are preferred by 60 px)
        lane = min(range(4), key=lambda i: abs(SEAQUEST_LANE_Y[i] - y))
        goals = [(abs(i - lane) * 60 + abs(ex - x), i, None) for i, ex, _ in enemies]
        goals += [(abs(i - lane) * 60 + abs(dx - x) - 60, i, dx) for i, dx, _ in divers]
        _, i, goal_x = min(goals, key=lambda g: g[0], default=(0, 1, None))
        goal_y = SEAQUEST_LANE_Y[i]
    want = 0 if abs(goal_y - y) <= (2 if goal_y > SEAQUEST_SURFACE_Y else 0) else 4 if goal_y > y else -4
    dy = max(dict.fromkeys((want, 0, -want)), key=clearance)  # the first of the safest: on, wait, back
    near = [ex for i, ex, _ in enemies if i in _seaquest_lanes(y)]
    if near:  # turn to face the nearest enemy the hull can touch (the torpedo flies the way the sub faces)
        face = 1 if min(near, key=lambda ex: abs(ex - x)) > x else -1
        dx = face if face != (-1 if ram[86] else 1) else 0
    elif goal_x is not None and abs(goal_x - x) > 4 and abs(goal_y - y) <= 8:
        dx = 1 if goal_x > x else -1  # swim to the diver in this lane
    else:
        dx = 0 if abs(x - 84) <= 20 else 1 if x < 84 else -1  # keep near the middle
    return SEAQUEST_MOVES[(dy, dx)]


QBERT_TILES = ((21,), (52, 54), (83, 85, 87), (98, 100, 102, 104), (1, 3, 5, 7, 9), (32, 34, 36, 38, 40, 42))
QBERT_ENEMY_SPRITE = (92, 93, 94, 96, 95)  # rows 1..5: 7 while the row holds no enemy
QBERT_MOVES = ((2, -1, 0), (3, 1, 1), (4, -1, -1), (5, 1, 0))  # (action, row step, cube step): UP, RIGHT, LEFT, DOWN


def _qbert_cube(column: int, row: int) -> tuple[int, int] | None:
    """(row, c) of the cube at RAM `column` (5 + 2c - row) on `row`; None off the pyramid."""
    c, odd = divmod(int(column) - 5 + row, 2)
    return (row, c) if not odd and 0 <= c <= row < 6 else None


def _qbert_distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Hops between two cubes (each hop: one row up or down, the cube index the same or one over)."""
    dr = b[0] - a[0]
    return max(abs(dr), abs(2 * (b[1] - a[1]) - dr))


def qbert_controller(ram: np.ndarray, t: int) -> int:
    row, off = divmod(int(ram[67]) - 25, 28)
    me = _qbert_cube(ram[35], row) if off == 0 else None
    colours = [ram[i] for tiles in QBERT_TILES for i in tiles]
    if me is None or (row > 0 and len(set(colours)) == 1):
        return 0  # mid-jump, dying, or between rounds (the pyramid flashes one colour)
    here = ram[QBERT_TILES[row][me[1]]]
    todo = [(r, c) for r, tiles in enumerate(QBERT_TILES) for c, i in enumerate(tiles) if ram[i] != here]
    enemies = [_qbert_cube(ram[74 + k], k) for k in range(1, 6) if ram[QBERT_ENEMY_SPRITE[k - 1]] != 7]
    best, best_key = 0, None
    for action, dr, dc in QBERT_MOVES:
        to = (row + dr, me[1] + dc)
        if not 0 <= to[1] <= to[0] < 6:
            continue  # off the pyramid
        key = (-min([_qbert_distance(to, e) for e in enemies if e] + [2]),
               min([_qbert_distance(to, c) for c in todo], default=0))
        if best_key is None or key < best_key:
            best, best_key = action, key
    return best


GAMES: dict[str, tuple[str, str]] = {
    # dataset name: (game, description)
    "breakout-mixed": ("Breakout", "RAM paddle-tracking controller, epsilon 1..0.03"),
    "pong-mixed": ("Pong", "RAM paddle-tracking controller, epsilon 1..0.03"),
    "seaquest-mixed": ("Seaquest", "RAM controller shooting, dodging and rescuing divers, epsilon 1..0.03"),
    "qbert-mixed": ("Qbert", "RAM cube-painting controller avoiding enemies, epsilon 1..0.03"),
}
_CONTROLLERS: dict[str, Callable] = {"Breakout": breakout_controller, "Pong": pong_controller,
                                     "Qbert": qbert_controller, "Seaquest": seaquest_controller}
# 2: the Qbert controller (generation 1 was random moves); 2: the Seaquest controller that aims, dodges and rescues
# divers (generation 1 dived to y 60 firing, patrolled left / right every 40 steps and surfaced at oxygen < 16)
GENERATIONS = {"qbert-mixed": 2, "seaquest-mixed": 2}


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
        if game not in _CONTROLLERS:
            raise ValueError(f"make_atari_mixed: game={game!r}; expected one of {sorted(_CONTROLLERS)}")
        self.rng, self.controller, self.ale = rng, _CONTROLLERS[game], env.unwrapped.ale
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
            generation=GENERATIONS.get(name, 1),
        ))


_register()
