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

from .common.atomic import atomic_path
from .common.envs_util import make_env
from .common.seeding import derive_seed


def _writer():
    try:
        import imageio.v2 as imageio
        import imageio_ffmpeg  # noqa: F401  (the mp4 backend)
    except ImportError as exc:
        raise ImportError("videos need imageio and imageio-ffmpeg: pip install 'decision-transformer[video]'") from exc
    return imageio


def probe_render(env_id: str, env_kwargs: dict[str, Any] | None = None, option: str = "--video") -> None:
    """Make the env with `render_mode="rgb_array"`, reset it and render one frame, so that a missing render
    dependency (pygame for the classic-control envs) fails in one line before any evaluation runs."""
    env = make_env(env_id, render_mode="rgb_array", **(env_kwargs or {}))  # a bad env id: make_env's own error
    try:
        env.reset(seed=0)
        frame = env.render()
    except ImportError as exc:
        module = getattr(exc, "name", None) or str(exc).splitlines()[0]
        raise ImportError(f"{option}: rendering {env_id} needs the module {module!r}, which is not installed "
                          f"(pip install {module})") from None
    except gym.error.DependencyNotInstalled as exc:
        raise ImportError(f"{option}: rendering {env_id} needs a module that is not installed: "
                          f"{str(exc).splitlines()[0]}") from None
    except Exception as exc:  # e.g. MuJoCo with no OpenGL backend (MUJOCO_GL)
        raise ValueError(f"{option}: cannot render {env_id} in rgb_array mode: {type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0]}") from None
    finally:
        env.close()
    if not (isinstance(frame, np.ndarray) and frame.ndim == 3):
        raise ValueError(f"{option}: {env_id} renders {type(frame).__name__} in rgb_array mode; expected an image "
                         "array (height, width, 3)")


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
            with atomic_path(path, suffix=".tmp.mp4") as tmp:  # renamed when complete: no half-written MP4
                _writer().mimwrite(tmp, self.frames, fps=self.fps, macro_block_size=1)
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
                  seed: int = 0, temperature: float = 0.0, env_kwargs: dict[str, Any] | None = None) -> list[Path]:
    """Record `num_episodes` episodes (reset seeds seed, seed + 1, ...) per target return; returns the files.
    `env_kwargs` (e.g. `max_episode_steps`) are passed to `make_env` as in `evaluate`, so that the videos show the
    episodes that were evaluated. Targets must differ: each names its files (`target_label`)."""
    from .evaluate import evaluate_target, target_label

    _writer()  # fail before running anything if the extra is missing
    labels = [target_label(t) for t in targets]
    dup = sorted({label for label in labels if labels.count(label) > 1})
    if dup:
        raise ValueError(f"targets: {', '.join(dup)} given more than once; each target's videos need their own names")
    env_kwargs = dict(env_kwargs or {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    probe = make_env(env_id, render_mode="rgb_array", **env_kwargs)
    fps, camera = int(probe.metadata.get("render_fps", 30)), follow_camera(probe)
    probe.close()
    for target in targets:
        label = f"target_{target_label(target)}"
        fns = [lambda: RecordEpisode(make_env(env_id, render_mode="rgb_array", **camera, **env_kwargs), out, label, fps)
               ] * num_episodes
        evaluate_target(policy, fns, target, num_episodes, seed=seed, temperature=temperature, progress=False)
        files += [out / f"{label}_seed_{derive_seed(seed, 'episode', e)}.mp4" for e in range(num_episodes)]
    return files
