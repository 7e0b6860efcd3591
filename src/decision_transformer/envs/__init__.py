"""This package's own Gymnasium environments, registered on import:

    dt/GraphShortestPath-v0   shortest path on a fixed random directed graph (paper Figure 2)
    dt/KeyToDoor-v0           the three-phase Key-to-Door credit-assignment task (paper Table 6)

`gymnasium.make("dt/KeyToDoor-v0")` works after `import decision_transformer.envs`. The graph env
needs networkx (the `graph` extra), imported only when the env is created.
"""

from __future__ import annotations

import gymnasium as gym

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


register_envs()

__all__ = ["GRAPH_ENV_ID", "KEY_TO_DOOR_ENV_ID", "register_envs"]
