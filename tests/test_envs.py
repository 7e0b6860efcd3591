"""The package's Gymnasium envs (Key-to-Door, graph shortest path) and their random-data generators."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import decision_transformer.envs  # noqa: F401  (registers the envs)
from decision_transformer.data.trajectories import TrajectoryDataset
from decision_transformer.envs.graph import GraphShortestPathEnv, RandomGraph, random_walk_dataset
from decision_transformer.envs.keytodoor import MOVES, KeyToDoorEnv, random_dataset


def rollout(env, seed, policy):
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(policy(obs, info))
        out.append((obs, r, term, trunc, info))
        done = term or trunc
    return out


# ----------------------------------------------------------------------------- Key-to-Door
def test_keytodoor_registered_and_spaces():
    env = gym.make("dt/KeyToDoor-v0")
    assert isinstance(env.action_space, gym.spaces.Discrete) and env.action_space.n == 4
    obs, info = env.reset(seed=0)
    assert obs.shape == (8,) and obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert info["phase"] == 1 and info["has_key"] is False


def test_keytodoor_deterministic_under_seed():
    rng_actions = list(np.random.default_rng(1).integers(0, 4, size=40))

    def run(seed):
        env = gym.make("dt/KeyToDoor-v0")
        actions = iter(rng_actions)
        return rollout(env, seed, lambda o, i: next(actions))

    a, b, c = run(7), run(7), run(8)
    assert len(a) == len(b)
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def _greedy(env: KeyToDoorEnv):
    """Walk straight to the visible object (key in phase 1, door in phase 3)."""
    size = env.core.size

    def policy(obs, info):
        if obs[4] == 0:
            return 0
        d = np.rint(obs[2:4] * (size - 1)).astype(int)  # egocentric: the object's offset from the agent
        if d[0]:
            return 0 if d[0] < 0 else 1
        return 2 if d[1] < 0 else 3

    return policy


def _avoid_key_then(policy):
    """In phase 1 move anywhere but onto the key; afterwards follow `policy`."""

    def act(obs, info):
        if obs[5] != 1:
            return policy(obs, info)
        pos = np.rint(obs[0:2] * 4).astype(int)
        key = pos + np.rint(obs[2:4] * 4).astype(int)
        return next(a for a in range(4) if not np.array_equal(np.clip(pos + MOVES[a], 0, 4), key))

    return act


def test_keytodoor_optimal_policy_always_succeeds_and_phases_are_fixed():
    env = KeyToDoorEnv()
    for seed in range(30):
        steps = rollout(env, seed, _greedy(env))
        *_, last = steps
        # the episode runs to the horizon; the reward (1, once) comes on the step that opens the door
        assert len(steps) - 1 == env.horizon and last[2] is False and last[3] is True and last[4]["success"]
        rewards = [s[1] for s in steps[1:]]
        assert sum(rewards) == 1.0 and all(s[2] is False for s in steps[1:])
        opened = [i for i, s in enumerate(steps[1:]) if s[4]["door_opened"]]
        assert len(opened) == 1 and rewards[opened[0]] == 1.0
        # after it opened the agent stands on the door: in phase 3 the door's offset is 0 only then
        after = steps[opened[0] + 1][0]
        assert after[7] == 1 and after[4] == 1 and not after[2:4].any()
        assert not any(s[4]["success"] for s in steps[1:opened[0] + 1]) and all(s[4]["success"] for s in steps[opened[0] + 1:])
        assert sum(s[4]["key_picked"] for s in steps[1:]) == 1
        phases = [s[1]["phase"] for s in steps[:1]] + [s[4]["phase"] for s in steps[1:]]
        assert phases[:8] == [1] * 8 and phases[8:20] == [2] * 12 and set(phases[20:]) == {3}


def test_keytodoor_no_key_no_reward_and_door_blocks():
    env = KeyToDoorEnv()
    greedy = _greedy(env)

    for seed in range(20):
        steps = rollout(env, seed, _avoid_key_then(greedy))
        assert all(s[1] == 0.0 for s in steps[1:])
        assert steps[-1][3] is True and len(steps) - 1 == env.horizon  # truncated at the horizon
        door_offset = np.rint(steps[-1][0][2:4] * 4).astype(int)
        assert steps[-1][0][4] == 1 and door_offset.any()  # the door is visible and the agent is not on it


def test_keytodoor_holding_key_not_observed_after_phase_1():
    env = KeyToDoorEnv()
    greedy = _greedy(env)
    with_key = rollout(env, 3, greedy)
    without = rollout(env, 3, _avoid_key_then(greedy))
    phase2 = [s[0] for s in with_key[9:20]]
    assert all(o[4] == 0 and o[2] == 0 and o[3] == 0 for o in phase2)
    assert with_key[15][4]["has_key"] and not without[15][4]["has_key"]


def test_keytodoor_egocentric_and_absolute_observations_agree():
    """Same seed, same episode: the egocentric object offset is the absolute object cell minus the agent's."""
    actions = list(np.random.default_rng(2).integers(0, 4, size=40))
    runs = {}
    for observation in ("egocentric", "absolute"):
        env = KeyToDoorEnv(observation=observation)
        it = iter(actions)
        runs[observation] = rollout(env, 5, lambda o, i: next(it))
        assert all(env.observation_space.contains(s[0]) for s in runs[observation])
    for ego, ab in zip(runs["egocentric"], runs["absolute"]):
        e, a = ego[0], ab[0]
        assert np.array_equal(e[[0, 1, 4, 5, 6, 7]], a[[0, 1, 4, 5, 6, 7]])
        expected = np.where(a[4] > 0, a[2:4] - a[0:2], 0.0)
        assert np.allclose(e[2:4], expected)
    assert any(s[0][4] == 0 for s in runs["egocentric"]) and any(s[0][4] == 1 for s in runs["egocentric"])
    with pytest.raises(ValueError, match="observation="):
        KeyToDoorEnv(observation="pixels")


def test_keytodoor_random_dataset_matches_env_and_paper_random_rate():
    data = random_dataset(4000, seed=0)
    assert isinstance(data, TrajectoryDataset)
    assert data.env_id == "dt/KeyToDoor-v0" and data.reward_scale == 1.0 and data.discrete_actions
    assert data.num_episodes == 4000 and data.episode_lengths.max() == 28
    returns = data.episode_returns
    assert set(np.unique(returns)) <= {0.0, 1.0}
    assert 0.02 < returns.mean() < 0.05  # the paper's random policy: 3.1%
    # every episode runs to the horizon and is truncated there; nothing terminates
    ends = data.episode_ends - 1
    assert (data.episode_lengths == 28).all() and not data.terminations.any()
    assert data.truncations[ends].all() and data.truncations.sum() == data.num_episodes
    # same seed, same data; every step's move is consistent with the action (or a wall)
    again = random_dataset(4000, seed=0)
    assert np.array_equal(again.observations, data.observations)
    ep = data.episode(0)
    for t in range(7):
        pos, nxt = np.rint(ep.observations[t, :2] * 4), np.rint(ep.observations[t + 1, :2] * 4)
        assert np.array_equal(np.clip(pos + MOVES[ep.actions[t]], 0, 4), nxt)


# ----------------------------------------------------------------------------- graph
def test_graph_is_fixed_strongly_connected_and_registered():
    g1, g2 = RandomGraph(), RandomGraph()
    assert np.array_equal(g1.adjacency, g2.adjacency)
    assert (g1.distances[~np.eye(20, dtype=bool)] > 0).all()  # every node reaches every other
    env = gym.make("dt/GraphShortestPath-v0")
    assert env.action_space.n == 20 and env.observation_space.shape == (40,)
    obs, info = env.reset(seed=5)
    assert obs[info["start"]] == 1 and obs[20 + info["goal"]] == 1 and obs.sum() == 2
    assert info["shortest_path_length"] == g1.distances[info["start"], info["goal"]]
    assert env.reset(seed=5)[1] == info


def test_graph_shortest_path_policy_gets_best_return_and_invalid_moves_stay():
    env = GraphShortestPathEnv()
    dist = env.graph.distances
    adj = env.graph.adjacency
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        node, goal, total, done = info["start"], info["goal"], 0.0, False
        while not done:
            nxt = min(np.flatnonzero(adj[node]), key=lambda j: dist[j, goal])
            obs, r, term, trunc, step_info = env.step(nxt)
            node, total, done = step_info["node"], total + r, term or trunc
        assert term and total == -info["shortest_path_length"]
    obs, info = env.reset(options={"start": 0, "goal": 1})
    bad = int(np.flatnonzero(~adj[0] & (np.arange(20) != 0))[0])
    obs2, r, term, trunc, step_info = env.step(bad)
    assert step_info == {"node": 0, "valid": False} and r == -1.0 and np.array_equal(obs, obs2)
    with pytest.raises(ValueError, match="start and goal"):
        env.reset(options={"start": 3, "goal": 3})


def test_graph_random_walk_dataset():
    data = random_walk_dataset(1000, seed=0)
    graph = RandomGraph()
    assert data.env_id == "dt/GraphShortestPath-v0" and data.reward_scale == 1.0
    node = data.observations[:, :20].argmax(1)
    assert graph.adjacency[node, data.actions].all()  # every action is an edge of the graph
    ends = data.episode_ends - 1
    reached = data.terminations[ends]
    assert np.array_equal(data.actions[ends][reached], data.observations[ends][reached, 20:].argmax(1))
    assert (data.episode_lengths[~reached] == 20).all() and data.truncations[ends][~reached].all()
    assert np.array_equal(data.episode_returns, -data.episode_lengths)
    assert (data.episode_lengths[reached] >= graph.distances[node[data.episode_starts], data.observations[data.episode_starts, 20:].argmax(1)][reached]).all()
