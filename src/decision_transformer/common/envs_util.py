"""Creating evaluation environments by id, with the package's own envs registered on demand."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

OWN_ENV_PREFIX = "dt/"


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """`gym.make(env_id)`, registering this package's envs (ids starting with 'dt/') first; `dt/<Game>-v0`
    is any ALE game with the paper's preprocessing (envs/atari.py)."""
    if env_id.startswith(OWN_ENV_PREFIX):
        import decision_transformer.envs  # noqa: F401  (registers the dt/ envs)
        from decision_transformer.envs.atari import ensure_registered

        ensure_registered(env_id)
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise ValueError(f"cannot create environment {env_id!r}: {exc}") from exc


def check_env_matches(dataset, env_id: str) -> None:
    """Raise a DatasetError if a dataset's observation/action shapes disagree with the env's."""
    from ..data.frames import model_state_shape
    from ..data.trajectories import DatasetError

    env = make_env(env_id)
    try:
        obs_shape = tuple(env.observation_space.shape or ())
        state_shape = model_state_shape(dataset)  # single frames (N, H, W) are stacked for the model
        if obs_shape != dataset.observation_shape and obs_shape != state_shape:
            raise DatasetError(
                f"{dataset.source}: field 'observations' has shape {dataset.observation_shape} per step; "
                f"env {env_id} observes {obs_shape}"
            )
        space = env.action_space
        if isinstance(space, gym.spaces.Discrete):
            if not dataset.discrete_actions or dataset.act_dim > space.n:
                raise DatasetError(f"{dataset.source}: field 'actions' does not fit env {env_id}'s Discrete({space.n}) actions")
        elif dataset.discrete_actions or (dataset.act_dim,) != tuple(space.shape):
            raise DatasetError(
                f"{dataset.source}: field 'actions' has shape {dataset.actions.shape[1:]} per step; env {env_id} takes {space.shape}"
            )
    finally:
        env.close()
