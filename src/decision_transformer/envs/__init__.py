"""This package's own Gymnasium environments, registered on import:

    dt/GraphShortestPath-v0   shortest path on a fixed random directed graph (paper Figure 2)
    dt/KeyToDoor-v0           the three-phase Key-to-Door credit-assignment task (paper Table 6)
    dt/<Game>-v0              Atari with the paper's preprocessing (envs/atari.py): Breakout, Pong, Qbert,
                              Seaquest here; any other ALE game on demand through `envs_util.make_env`

`gymnasium.make("dt/KeyToDoor-v0")` works after `import decision_transformer.envs`. The graph env
needs networkx (the `graph` extra), the Atari envs ale-py and opencv (the `atari` extra), imported only when
an env is created.
"""

from __future__ import annotations

import gymnasium as gym

from .atari import register_atari_envs

GRAPH_ENV_ID = "dt/GraphShortestPath-v0"
KEY_TO_DOOR_ENV_ID = "dt/KeyToDoor-v0"

_ENVS = {
    GRAPH_ENV_ID: "decision_transformer.envs.graph:GraphShortestPathEnv",
    KEY_TO_DOOR_ENV_ID: "decision_transformer.envs.keytodoor:KeyToDoorEnv",
}


def register_envs() -> None:
    """Register the envs with Gymnasium (idempotent)."""
    for env_id, entry_point in _ENVS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)
    register_atari_envs()


register_envs()

__all__ = ["GRAPH_ENV_ID", "KEY_TO_DOOR_ENV_ID", "register_envs"]
