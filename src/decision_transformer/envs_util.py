"""Creating evaluation environments by id, with the package's own envs registered on demand."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

OWN_ENV_PREFIX = "dt/"


def make_env(env_id: str, **kwargs: Any) -> gym.Env:
    """`gym.make(env_id)`, registering this package's envs (ids starting with 'dt/') first."""
    if env_id.startswith(OWN_ENV_PREFIX):
        import decision_transformer.envs  # noqa: F401  (registers the dt/ envs)
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise ValueError(f"cannot create environment {env_id!r}: {exc}") from exc
