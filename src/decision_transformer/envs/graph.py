"""Shortest path on a fixed random directed graph (the paper's Figure 2), as a Gymnasium env.

The graph: `num_nodes` nodes, each directed edge present with probability `edge_prob` (networkx's
G(n, p)), drawn from `graph_seed`; seeds are tried in turn from `graph_seed * 1000` (seeding.py: "graph") until
the graph is strongly connected, so every goal is reachable from every start. The graph is fixed for the env's
lifetime; `reset(seed=...)` draws only the start and goal (distinct, uniform), or takes them from
`options={"start": i, "goal": j}`. With `pair_from_seed=True`, `reset(seed=s)` instead takes the s-th
(start, goal) pair of all num_nodes * (num_nodes - 1) ordered pairs (modulo their number), so that
evaluating seeds 0 .. n(n-1)-1 covers every pair exactly once.

Observation: float32 (2 * num_nodes,) = one-hot current node, then one-hot goal node.
Action: Discrete(num_nodes), the next node. An action that is not an out-neighbour of the current
node leaves the agent where it is (and still costs the step).
Reward: -1 for every step taken while not at the goal; the step that reaches the goal also gives -1
and terminates the episode, so the return is minus the path length. Episodes are truncated after
`horizon` steps.

`info` at reset: `start`, `goal`, `shortest_path_length` (the best possible return is minus it); at
every step: `node` and `valid` (whether the action was an out-neighbour).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np

from ..data.trajectories import TrajectoryDataset
from ..common.seeding import derive_seed

ENV_ID = "dt/GraphShortestPath-v0"
DEFAULT_NUM_NODES = 20
DEFAULT_EDGE_PROB = 0.15
DEFAULT_HORIZON = 20
DEFAULT_GRAPH_SEED = 0


def _networkx():
    try:
        import networkx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the graph shortest-path environment needs networkx: pip install 'decision-transformer[graph]'"
        ) from exc
    return networkx


class RandomGraph:
    """A strongly connected random directed graph with its adjacency matrix and all-pairs distances."""

    def __init__(self, num_nodes: int = DEFAULT_NUM_NODES, edge_prob: float = DEFAULT_EDGE_PROB,
                 graph_seed: int = DEFAULT_GRAPH_SEED, max_tries: int = 1000):
        if num_nodes < 2:
            raise ValueError(f"RandomGraph num_nodes={num_nodes} must be at least 2")
        if not 0.0 < edge_prob <= 1.0:
            raise ValueError(f"RandomGraph edge_prob={edge_prob} must be in (0, 1]")
        nx = _networkx()
        for k in range(max_tries):
            g = nx.gnp_random_graph(num_nodes, edge_prob, seed=derive_seed(graph_seed, "graph", k), directed=True)
            if nx.is_strongly_connected(g):
                break
        else:
            raise ValueError(
                f"no strongly connected graph with num_nodes={num_nodes}, edge_prob={edge_prob} in {max_tries} "
                "tries; raise edge_prob"
            )
        self.num_nodes = num_nodes
        self.graph = g
        self.seed_used = derive_seed(graph_seed, "graph", k)
        self.adjacency = nx.to_numpy_array(g, nodelist=range(num_nodes), dtype=bool)  # (n, n) [from, to]
        dist = np.zeros((num_nodes, num_nodes), np.int64)
        for src, lengths in nx.all_pairs_shortest_path_length(g):
            for dst, d in lengths.items():
                dist[src, dst] = d
        self.distances = dist  # (n, n) [from, to]

    @cached_property
    def neighbours(self) -> list[np.ndarray]:
        return [np.flatnonzero(row) for row in self.adjacency]

    def random_neighbour(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniformly random out-neighbour per node (vectorised)."""
        deg = self.adjacency.sum(axis=1)  # (n,)
        k = np.floor(rng.random(len(nodes)) * deg[nodes]).astype(np.int64)  # index among out-neighbours
        ranks = np.cumsum(self.adjacency, axis=1) - 1  # (n, n): rank of each out-neighbour in its row
        hit = self.adjacency[nodes] & (ranks[nodes] == k[:, None])  # (B, n), exactly one True per row
        return hit.argmax(axis=1)


class GraphShortestPathEnv(gym.Env):
    """Shortest path on a fixed random directed graph; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, num_nodes: int = DEFAULT_NUM_NODES, edge_prob: float = DEFAULT_EDGE_PROB,
                 graph_seed: int = DEFAULT_GRAPH_SEED, horizon: int = DEFAULT_HORIZON, pair_from_seed: bool = False):
        if horizon <= 0:
            raise ValueError(f"GraphShortestPathEnv horizon={horizon} must be positive")
        self.graph = RandomGraph(num_nodes, edge_prob, graph_seed)
        self.num_nodes = num_nodes
        self.horizon = horizon
        self.pair_from_seed = pair_from_seed
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(2 * num_nodes,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(num_nodes)
        self._node = self._goal = -1
        self._t = 0
        self._done = True

    def _obs(self) -> np.ndarray:
        return encode(np.array([self._node]), np.array([self._goal]), self.num_nodes)[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        n = self.num_nodes
        start = options.get("start")
        goal = options.get("goal")
        if self.pair_from_seed and seed is not None and start is None and goal is None:
            start, goal = pair_of_index(seed, n)
        if start is None:
            start = int(self.np_random.integers(n)) if goal is None else int((goal + self.np_random.integers(1, n)) % n)
        if goal is None:
            goal = int((start + self.np_random.integers(1, n)) % n)
        for name, v in (("start", start), ("goal", goal)):
            if not (isinstance(v, (int, np.integer)) and 0 <= v < n):
                raise ValueError(f"GraphShortestPathEnv reset option {name}={v!r}; expected a node index in [0, {n})")
        if start == goal:
            raise ValueError(f"GraphShortestPathEnv reset options start and goal are both {start}; expected distinct nodes")
        self._node, self._goal, self._t, self._done = int(start), int(goal), 0, False
        info = {"start": self._node, "goal": self._goal,
                "shortest_path_length": int(self.graph.distances[self._node, self._goal])}
        return self._obs(), info

    def step(self, action):
        if self._done:
            raise RuntimeError("GraphShortestPathEnv.step called before reset or after the episode ended")
        a = int(action)
        if not 0 <= a < self.num_nodes:
            raise ValueError(f"GraphShortestPathEnv action {action!r} is not in Discrete({self.num_nodes})")
        valid = bool(self.graph.adjacency[self._node, a])
        if valid:
            self._node = a
        self._t += 1
        terminated = self._node == self._goal
        truncated = not terminated and self._t >= self.horizon
        self._done = terminated or truncated
        return self._obs(), -1.0, terminated, truncated, {"node": self._node, "valid": valid}


def pair_of_index(i: int, num_nodes: int) -> tuple[int, int]:
    """The i-th ordered pair (start, goal) of distinct nodes, i taken modulo num_nodes * (num_nodes - 1)."""
    i = int(i) % (num_nodes * (num_nodes - 1))
    start, k = divmod(i, num_nodes - 1)
    return start, k + (k >= start)


def encode(nodes: np.ndarray, goals: np.ndarray, num_nodes: int) -> np.ndarray:
    """(B, 2n) float32 observations: one-hot node, one-hot goal."""
    obs = np.zeros((len(nodes), 2 * num_nodes), np.float32)
    obs[np.arange(len(nodes)), nodes] = 1.0
    obs[np.arange(len(nodes)), num_nodes + goals] = 1.0
    return obs


def random_walk_dataset(num_episodes: int, seed: int = 0, num_nodes: int = DEFAULT_NUM_NODES,
                        edge_prob: float = DEFAULT_EDGE_PROB, graph_seed: int = DEFAULT_GRAPH_SEED,
                        horizon: int = DEFAULT_HORIZON) -> TrajectoryDataset:
    """Random walks (uniform over out-neighbours) from uniform start to uniform distinct goal, each run
    until it reaches the goal or `horizon` steps, simulated all at once. Returns-to-go of an episode
    that reached its goal are minus the remaining path length."""
    if num_episodes <= 0:
        raise ValueError(f"num_episodes={num_episodes} must be positive")
    graph = RandomGraph(num_nodes, edge_prob, graph_seed)
    rng = np.random.default_rng(seed)
    node = rng.integers(num_nodes, size=num_episodes)
    goal = (node + rng.integers(1, num_nodes, size=num_episodes)) % num_nodes
    obs = np.zeros((horizon, num_episodes, 2 * num_nodes), np.float32)
    act = np.zeros((horizon, num_episodes), np.int64)
    term = np.zeros((horizon, num_episodes), bool)
    live = np.zeros((horizon, num_episodes), bool)
    alive = np.ones(num_episodes, bool)
    for t in range(horizon):
        obs[t] = encode(node, goal, num_nodes)
        nxt = graph.random_neighbour(node, rng)
        act[t] = nxt
        live[t] = alive
        node = np.where(alive, nxt, node)
        term[t] = alive & (node == goal)
        alive = alive & ~term[t]
    order = live.T  # (E, H)
    lengths = order.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    terminations = term.T[order]
    truncations = np.zeros_like(terminations)
    ends = np.append(starts[1:], len(terminations)) - 1
    truncations[ends] = ~terminations[ends]
    default = (num_nodes, edge_prob, graph_seed, horizon) == (DEFAULT_NUM_NODES, DEFAULT_EDGE_PROB,
                                                              DEFAULT_GRAPH_SEED, DEFAULT_HORIZON)
    return TrajectoryDataset(
        observations=obs.transpose(1, 0, 2)[order],
        actions=act.T[order],
        rewards=np.full(len(terminations), -1.0, np.float32),
        terminations=terminations,
        truncations=truncations,
        episode_starts=starts,
        reward_scale=1.0,
        env_id=ENV_ID if default else "",
        name=f"graph-random-walk-{num_episodes}",
        source=f"<graph random_walk_dataset seed={seed}>",
    )
