"""Atari games with the paper's evaluation preprocessing, as Gymnasium ids `dt/<Game>-v0` (e.g. `dt/Breakout-v0`).

`make_env("dt/Breakout-v0")` (envs_util) gives `ALE/Breakout-v5` with frameskip=1 wrapped in Gymnasium's
`AtariPreprocessing` and `FrameStackObservation`:

    * no sticky actions (repeat_action_probability=0), the minimal action set;
    * up to 30 no-ops at reset (a uniform number in 1..30, AtariPreprocessing's noop_max);
    * frame skip 4, the observation the max-pool of the last two frames;
    * 84x84 grayscale (cv2 INTER_AREA), uint8 (not scaled);
    * a stack of the last 4 frames, (4, 84, 84); at reset the stack holds the reset frame 4 times
      (FrameStackObservation's padding_type="reset"), so step t < 3 repeats frame 0 in front;
    * the ALE's 108,000-frame cap (27,000 agent steps), reported as `truncated`;
    * a lost life does not end the episode (terminal_on_life_loss=False); `info["lives"]` shows it.

Rewards are the game's raw score changes (no clipping).

The datasets store one 84x84 frame per step (the newest frame of that step's stack); `data/frames.py` rebuilds
the stacks for training exactly as this env does, and `tests/test_atari.py` checks they are byte-identical.

ale-py's own vectorized env (`ale_py.AtariVectorEnv`, C++ threads) gives the same frames step for step when
no-ops are off (checked with ale-py 0.12.1), but pads the stack at reset with zero frames instead of repeating
the reset frame, and draws its no-ops from its own RNG; on the 2-core dev box it was no faster than one
Gymnasium env (1,230 vs 1,220 steps/s). So the Gymnasium wrappers are used for data and evaluation.

Games other than the four of the paper register on demand (`ensure_registered`): any ALE ROM as `dt/<Game>-v0`.
Needs the `atari` extra (ale-py, which ships the ROMs, and opencv-python-headless).
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym

PAPER_GAMES = ("Breakout", "Pong", "Qbert", "Seaquest")
FRAME_STACK = 4
FRAME_SIZE = 84
MAX_FRAMES = 108_000
ENTRY_POINT = "decision_transformer.envs.atari:make_atari_env"
_ID = re.compile(r"^dt/([A-Z][A-Za-z0-9]*)-v0$")


def atari_env_id(game: str) -> str:
    """'Breakout' -> 'dt/Breakout-v0'."""
    return f"dt/{game}-v0"


def _require_atari() -> None:
    try:
        import ale_py  # noqa: F401
        import cv2  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "Atari environments need ale-py and opencv-python-headless: "
            f"pip install 'decision-transformer[atari]' (the [atari] extra); missing: {exc.name}"
        ) from exc


def make_atari_env(game: str, noop_max: int = 30, frame_skip: int = 4, screen_size: int = FRAME_SIZE,
                   stack: int = FRAME_STACK, max_num_frames_per_episode: int = MAX_FRAMES,
                   render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """`ALE/<game>-v5` with the paper's evaluation preprocessing (module docstring). `kwargs` go to the ALE env."""
    _require_atari()
    import ale_py
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0, full_action_space=False,
                   max_num_frames_per_episode=max_num_frames_per_episode, render_mode=render_mode, **kwargs)
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                             terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
    return FrameStackObservation(env, stack, padding_type="reset")


def register_atari_envs(games=PAPER_GAMES) -> None:
    """Register `dt/<Game>-v0` for `games` (idempotent; needs nothing installed until an env is made)."""
    for game in games:
        env_id = atari_env_id(game)
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs={"game": game})


def ensure_registered(env_id: str) -> bool:
    """Register `dt/<Game>-v0` for any ALE ROM (e.g. 'dt/MsPacman-v0'); True if it is registered now."""
    if env_id in gym.registry:
        return True
    m = _ID.match(env_id)
    if m is None:
        return False
    _require_atari()
    import ale_py

    gym.register_envs(ale_py)
    if f"ALE/{m.group(1)}-v5" not in gym.registry:
        return False
    register_atari_envs([m.group(1)])
    return True
