"""MP4s of a policy acting: `dt eval RUN --video DIR`, so that a user can watch what a target return does.

Each recorded episode goes to `DIR/target_<T>_seed_<S>.mp4` (the episode's reset seed, as in the evaluation
JSON). The episodes run through the one runner (`evaluate_target`, runner.py), `RecordEpisode` rendering inside
it. Frames come from the env's `rgb_array` render; MuJoCo renders offscreen with `MUJOCO_GL=egl`, which `dt eval`
sets when unset. Writing needs imageio with its ffmpeg plugin (the `video` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from .common.envs_util import make_env
from .common.seeding import derive_seed


def _writer():
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the mp4 backend)
    except ImportError as exc:
        raise ImportError("videos need imageio and imageio-ffmpeg: pip install 'decision-transformer[video]'") from exc
    return imageio


class RecordEpisode(gym.Wrapper):
    """Renders every step of an episode and writes it as one MP4 when the episode ends."""

    def __init__(self, env: gym.Env, out_dir: Path, label: str, fps: int):
        super().__init__(env)
        self.out_dir, self.label, self.fps = out_dir, label, fps
        self.frames: list[np.ndarray] = []
        self.seed: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.seed, self.frames = seed, [self.env.render()]
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.frames.append(self.env.render())
        if (terminated or truncated) and self.seed is not None:
            path = self.out_dir / f"{self.label}_seed_{self.seed}.mp4"
            _writer().mimwrite(path, self.frames, fps=self.fps, macro_block_size=1)
            self.seed = None  # an unseeded reset after this one is not recorded
        return obs, reward, terminated, truncated, info


def follow_camera(env: gym.Env) -> dict[str, Any]:
    """Render options that keep the agent in view. A MuJoCo env whose default (free) camera tracks no body
    (HalfCheetah-v5: the cheetah runs out of the frame within a second) renders from its model's `track` camera
    (mode trackcom) when it has one; envs whose default camera tracks (Hopper, Walker2d) keep it."""
    base = env.unwrapped
    renderer, model = getattr(base, "mujoco_renderer", None), getattr(base, "model", None)
    if renderer is None or model is None or "trackbodyid" in (getattr(renderer, "default_cam_config", None) or {}):
        return {}
    names = [model.camera(i).name for i in range(model.ncam)]
    return {"camera_name": "track"} if "track" in names else {}


def record_videos(policy, env_id: str, targets: Sequence[float], out_dir: str | os.PathLike, num_episodes: int = 2,
                  seed: int = 0, temperature: float = 0.0) -> list[Path]:
    """Record `num_episodes` episodes (reset seeds seed, seed + 1, ...) per target return; returns the files."""
    from .evaluate import evaluate_target

    _writer()  # fail before running anything if the extra is missing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    probe = make_env(env_id, render_mode="rgb_array")
    fps, camera = int(probe.metadata.get("render_fps", 30)), follow_camera(probe)
    probe.close()
    for target in targets:
        label = f"target_{target:g}"
        fns = [lambda: RecordEpisode(make_env(env_id, render_mode="rgb_array", **camera), out, label, fps)] * num_episodes
        evaluate_target(policy, fns, target, num_episodes, seed=seed, temperature=temperature, progress=False)
        files += [out / f"{label}_seed_{derive_seed(seed, 'episode', e)}.mp4" for e in range(num_episodes)]
    return files
