"""Loaders (Minari, D4RL HDF5, Hugging Face parquet) and the exporter, on real files written with the real
libraries from short episodes of real Gymnasium environments."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium as gym
import h5py
import minari
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer

from decision_transformer.data import DatasetError, Episode, TrajectoryDataset, load_dataset
from decision_transformer.data.formats._common import import_optional
from decision_transformer.data.formats.d4rl_io import load_d4rl_hdf5
from decision_transformer.data.formats.export import export_dataset
from decision_transformer.data.formats.hf_io import load_hf_trajectories
from decision_transformer.data.formats.minari_io import load_minari

FIELDS = ("observations", "actions", "rewards", "terminations", "truncations", "episode_starts")
PENDULUM = "InvertedPendulum-v5"  # MuJoCo: reward_scale 1000 by the documented rule
TIME_LIMIT = 12


# --------------------------------------------------------------------------- real episodes
def rollouts(env_id: str, num_episodes: int, seed: int, **make_kwargs) -> list[dict]:
    """Random-action episodes with T + 1 observations (the final one included), as Minari stores them."""
    env = gym.make(env_id, **make_kwargs)
    env.action_space.seed(seed)
    episodes = []
    for e in range(num_episodes):
        obs, _ = env.reset(seed=seed + e)
        rows = {"observations": [obs], "actions": [], "rewards": [], "terminations": [], "truncations": []}
        done = False
        while not done:
            action = env.action_space.sample()
            obs, reward, terminated, truncated, _ = env.step(action)
            for k, v in zip(list(rows)[1:], (action, reward, terminated, truncated)):
                rows[k].append(v)
            rows["observations"].append(obs)
            done = terminated or truncated
        episodes.append({
            "observations": np.asarray(rows["observations"], np.float32),
            "actions": np.asarray(rows["actions"], np.int64 if env_id == "CartPole-v1" else np.float32),
            "rewards": np.asarray(rows["rewards"], np.float32),
            "terminations": np.asarray(rows["terminations"], bool),
            "truncations": np.asarray(rows["truncations"], bool),
        })
    env.close()
    return episodes


def as_dataset(episodes: list[dict], **kwargs) -> TrajectoryDataset:
    return TrajectoryDataset.from_episodes(
        [Episode(ep["observations"][:-1], ep["actions"], ep["rewards"], ep["terminations"], ep["truncations"])
         for ep in episodes],
        **kwargs,
    )


@pytest.fixture(scope="module")
def episodes() -> list[dict]:
    eps = rollouts(PENDULUM, 8, seed=3, max_episode_steps=TIME_LIMIT)
    assert any(ep["terminations"][-1] for ep in eps) and any(ep["truncations"][-1] for ep in eps)
    return eps


@pytest.fixture(scope="module")
def dataset(episodes) -> TrajectoryDataset:
    return as_dataset(episodes, env_id=PENDULUM, name="pend-random", reward_scale=1000.0)


@pytest.fixture(scope="module")
def cartpole_episodes() -> list[dict]:
    return rollouts("CartPole-v1", 4, seed=5)


def assert_same(a: TrajectoryDataset, b: TrajectoryDataset, fields=FIELDS) -> None:
    for k in fields:
        x, y = getattr(a, k), getattr(b, k)
        assert x.dtype == y.dtype and np.array_equal(x, y), k


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def write_minari(dataset_id: str, episodes: list[dict], env=None, **kwargs):
    buffers = [EpisodeBuffer(observations=ep["observations"], actions=ep["actions"], rewards=ep["rewards"],
                             terminations=ep["terminations"], truncations=ep["truncations"]) for ep in episodes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Minari nags about author / permalink metadata
        return minari.create_dataset_from_buffers(dataset_id=dataset_id, buffer=buffers, env=env, **kwargs)


# --------------------------------------------------------------------------- Minari
def test_minari_reads_real_dataset_and_drops_final_observation(store, episodes, dataset):
    env = gym.make(PENDULUM, max_episode_steps=TIME_LIMIT)
    write_minari("tests/pend/random-v0", episodes, env=env)
    with pytest.warns(UserWarning, match="max_episode_steps"):  # the spec's time limit is not the default
        loaded = load_dataset("minari:tests/pend/random-v0")
    assert_same(loaded, dataset)
    assert loaded.num_steps == sum(len(ep["observations"]) - 1 for ep in episodes)
    assert loaded.env_id == PENDULUM and loaded.name == "tests/pend/random-v0"
    assert loaded.reward_scale == 1000.0 and loaded.source == "minari:tests/pend/random-v0"
    assert loaded.terminations.any() and loaded.truncations.any()


def test_minari_path_form_eval_env_and_discrete_actions(tmp_path, store, cartpole_episodes):
    created = write_minari("cartpole-random-v0", cartpole_episodes, env="CartPole-v1", eval_env="CartPole-v0")
    loaded = load_minari(f"minari:{Path(created.storage.data_path).parent}")
    assert loaded.env_id == "CartPole-v0"  # the recorded evaluation env wins over the collection env
    assert loaded.actions.dtype == np.int64 and loaded.actions.ndim == 1
    assert loaded.reward_scale == 1.0  # not a MuJoCo env
    assert_same(loaded, as_dataset(cartpole_episodes))
    assert load_minari("minari:cartpole-random-v0", reward_scale=20.0, env_id="X-v0").reward_scale == 20.0


def test_minari_dict_observations_are_flattened_in_key_order(store, episodes):
    space = gym.spaces.Dict({"state": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
                             "goal": gym.spaces.Box(-1, 1, (2,), np.float32)})
    rng = np.random.default_rng(0)
    dict_eps, expected = [], []
    for ep in episodes[:3]:
        goal = rng.uniform(-1, 1, (len(ep["observations"]), 2)).astype(np.float32)
        dict_eps.append({**ep, "observations": {"state": ep["observations"], "goal": goal}})
        expected.append(np.concatenate([goal, ep["observations"]], axis=1)[:-1])  # Dict keys sort: goal, state
    write_minari("dict-v0", dict_eps, observation_space=space,
                 action_space=gym.spaces.Box(-3, 3, (1,), np.float32))
    loaded = load_minari("minari:dict-v0")
    assert np.array_equal(loaded.observations, np.concatenate(expected))
    assert loaded.env_id == "" and loaded.reward_scale == 1.0


def test_minari_bad_input(store, episodes):
    act = gym.spaces.Box(-3, 3, (1,), np.float32)
    obs = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    # not in the store: names the store and what is there
    write_minari("good-v0", episodes[:2], observation_space=obs, action_space=act)
    with pytest.raises(DatasetError, match=r"'missing-v0' is not in the local Minari store .*good-v0"):
        load_dataset("minari:missing-v0")
    # unsupported observation space
    write_minari("discrete-obs-v0", [{**episodes[0], "observations": np.arange(len(episodes[0]["observations"]))}],
                 observation_space=gym.spaces.Discrete(100), action_space=act)
    with pytest.raises(DatasetError, match=r"field 'observations' uses Discrete.*expected a Box"):
        load_minari("minari:discrete-obs-v0")
    # no final observation stored: T observations for T steps
    short = {**episodes[0], "observations": episodes[0]["observations"][:-1]}
    write_minari("no-final-obs-v0", [short], observation_space=obs, action_space=act)
    with pytest.raises(DatasetError, match=r"episode 0: field 'observations' has \d+ rows .* expected \d+ \(Minari"):
        load_minari("minari:no-final-obs-v0")
    # mismatched lengths
    write_minari("short-actions-v0", [{**episodes[0], "actions": episodes[0]["actions"][:-1]}],
                 observation_space=obs, action_space=act)
    with pytest.raises(DatasetError, match=r"short-actions-v0 .* episode 0: field 'actions' has \d+ rows but 'rewards'"):
        load_minari("minari:short-actions-v0")
    # NaN
    bad = {**episodes[1], "rewards": episodes[1]["rewards"].copy()}
    bad["rewards"][1] = np.nan
    write_minari("nan-v0", [episodes[0], bad], observation_space=obs, action_space=act)
    with pytest.raises(DatasetError, match=r"episode 1: field 'rewards' contains NaN"):
        load_minari("minari:nan-v0")
    # empty
    write_minari("empty-v0", [], observation_space=obs, action_space=act)
    with pytest.raises(DatasetError, match=r"empty-v0.*empty \(0 episodes\)"):
        load_minari("minari:empty-v0")
    # a missing key in the data file
    data_file = store / "good-v0" / "data" / "main_data.hdf5"
    with h5py.File(data_file, "a") as f:
        del f["episode_1/rewards"]
    with pytest.raises(DatasetError, match=r"good-v0.*cannot be read.*rewards"):
        load_minari("minari:good-v0")
    # truncated data file
    write_minari("trunc-v0", episodes, observation_space=obs, action_space=act)
    data_file = store / "trunc-v0" / "data" / "main_data.hdf5"
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"trunc-v0.*(truncated or corrupt)"):
        load_minari("minari:trunc-v0")
    # corrupt metadata
    (store / "good-v0" / "data" / "metadata.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"good-v0.*not a readable Minari dataset.*metadata"):
        load_minari("minari:good-v0")
    with pytest.raises(DatasetError, match="empty Minari id"):
        load_minari("minari:")


# --------------------------------------------------------------------------- D4RL HDF5
def write_d4rl(path: Path, episodes: list[dict], cut: int | None = None, **overrides) -> dict:
    """A D4RL-layout file with next_observations and the extra keys real D4RL files carry."""
    arrays = {
        "observations": np.concatenate([ep["observations"][:-1] for ep in episodes]),
        "next_observations": np.concatenate([ep["observations"][1:] for ep in episodes]),
        "actions": np.concatenate([ep["actions"] for ep in episodes]),
        "rewards": np.concatenate([ep["rewards"] for ep in episodes]),
        "terminals": np.concatenate([ep["terminations"] for ep in episodes]),
        "timeouts": np.concatenate([ep["truncations"] for ep in episodes]),
    }
    if cut is not None:
        arrays = {k: v[:cut] for k, v in arrays.items()}
    arrays.update(overrides)
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            if v is not None:
                f.create_dataset(k, data=v)
        f.create_dataset("infos/qpos", data=np.zeros((len(arrays["observations"]), 2)))
        f.create_group("metadata").attrs["algorithm"] = "random"
    return arrays


def test_d4rl_reads_real_file(tmp_path, episodes, dataset):
    path = tmp_path / "pend-random.hdf5"
    write_d4rl(path, episodes)
    loaded = load_dataset(str(path))
    assert_same(loaded, dataset)
    assert loaded.env_id == "" and loaded.name == "pend-random" and loaded.reward_scale == 1.0
    # D4RL file names decide the scale when no env is recorded; callers can override both
    hopper = tmp_path / "hopper-medium-v2.h5"
    write_d4rl(hopper, episodes)
    assert load_dataset(str(hopper)).reward_scale == 1000.0
    over = load_d4rl_hdf5(hopper, env_id=PENDULUM, reward_scale=3.0)
    assert (over.env_id, over.reward_scale) == (PENDULUM, 3.0)


def test_d4rl_last_episode_ends_at_end_of_file(tmp_path, episodes):
    lengths = [len(ep["rewards"]) for ep in episodes]
    cut = sum(lengths[:5]) + lengths[5] // 2  # the file stops inside the sixth episode
    path = tmp_path / "cut.hdf5"
    write_d4rl(path, episodes, cut=cut)
    loaded = load_d4rl_hdf5(path)
    assert loaded.num_episodes == 6 and loaded.num_steps == cut
    assert list(loaded.episode_lengths) == lengths[:5] + [lengths[5] // 2]
    assert not loaded.terminations[-1] and not loaded.truncations[-1]  # flags kept as stored


def test_d4rl_split_on_either_flag_and_warn_on_missing_boundary(tmp_path, episodes, dataset):
    arrays = write_d4rl(tmp_path / "a.hdf5", episodes)
    both = arrays["terminals"] | arrays["timeouts"]
    path = tmp_path / "both.hdf5"
    write_d4rl(path, episodes, terminals=both, timeouts=both, rewards=arrays["rewards"][:, None])
    with pytest.warns(UserWarning, match=rf"{int(both.sum())} step\(s\) have both 'terminals' and 'timeouts' set "
                                         rf"\(first at step {int(np.flatnonzero(both)[0])}\)"):
        loaded = load_d4rl_hdf5(path)  # (N, 1) rewards accepted; a step with both flags ends one episode
    assert np.array_equal(loaded.episode_starts, dataset.episode_starts)
    assert np.array_equal(loaded.rewards, dataset.rewards)
    first_end = int(np.flatnonzero(both)[0])
    no_flag = tmp_path / "merged.hdf5"
    write_d4rl(no_flag, episodes, terminals=np.zeros_like(both), timeouts=np.eye(len(both), dtype=bool)[-1])
    with pytest.warns(UserWarning, match=rf"at 7 step\(s\) \(first {first_end}\) next_observations\[t\] differs"):
        assert load_d4rl_hdf5(no_flag).num_episodes == 1


def test_d4rl_bad_input(tmp_path, episodes):
    arrays = write_d4rl(tmp_path / "ok.hdf5", episodes)
    n = len(arrays["rewards"])
    cases = {
        "missing": ({"timeouts": None}, r"missing key\(s\) \['timeouts'\]"),
        "lengths": ({"actions": arrays["actions"][:-1]}, rf"field 'actions' has {n - 1} rows but 'observations' has {n}"),
        "next-obs": ({"next_observations": arrays["next_observations"][:, :2]}, r"field 'next_observations' has shape"),
        "nan": ({"observations": np.where(np.eye(n, 4, k=-3) > 0, np.nan, arrays["observations"])},
                r"field 'observations' contains NaN or inf \(first at index \(3, 0\)\)"),
        "inf": ({"rewards": np.where(np.arange(n) == 5, np.inf, arrays["rewards"])}, r"field 'rewards' contains NaN or inf"),
        "text": ({"rewards": np.array([b"x"] * n)}, r"field 'rewards' has dtype"),
    }
    for name, (override, message) in cases.items():
        path = tmp_path / f"{name}.hdf5"
        write_d4rl(path, episodes, **override)
        with pytest.raises(DatasetError, match=rf"{name}\.hdf5: {message}"):
            load_d4rl_hdf5(path)
    empty = tmp_path / "empty.hdf5"
    write_d4rl(empty, episodes, cut=0)
    with pytest.raises(DatasetError, match=r"empty\.hdf5: the file is empty"):
        load_d4rl_hdf5(empty)
    group = tmp_path / "group.hdf5"
    write_d4rl(group, episodes, rewards=None)
    with h5py.File(group, "a") as f:
        f.create_group("rewards")
    with pytest.raises(DatasetError, match=r"group\.hdf5: key 'rewards' is a Group"):
        load_d4rl_hdf5(group)
    truncated = tmp_path / "truncated.hdf5"
    data = (tmp_path / "ok.hdf5").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"truncated\.hdf5: .*truncated or corrupt"):
        load_d4rl_hdf5(truncated)
    garbage = tmp_path / "garbage.h5"
    garbage.write_text("not hdf5")
    with pytest.raises(DatasetError, match=r"garbage\.h5: not a readable HDF5 file"):
        load_dataset(str(garbage))
    with pytest.raises(DatasetError, match="no such HDF5 file"):
        load_dataset(str(tmp_path / "absent.hdf5"))


# --------------------------------------------------------------------------- Hugging Face parquet
def hf_table(episodes: list[dict], final_obs: bool = False, flags: bool = False) -> pa.Table:
    columns = {
        "observations": [ep["observations"] if final_obs else ep["observations"][:-1] for ep in episodes],
        "actions": [ep["actions"] for ep in episodes],
        "rewards": [ep["rewards"] for ep in episodes],
    }
    if flags:
        columns["terminations"] = [ep["terminations"] for ep in episodes]
        columns["truncations"] = [ep["truncations"] for ep in episodes]
    else:
        columns["dones"] = [ep["terminations"] for ep in episodes]
    return pa.table({k: pa.array([np.asarray(x).tolist() for x in v]) for k, v in columns.items()})


def test_hf_reads_real_parquet(tmp_path, episodes, dataset):
    root = tmp_path / "pend-random"
    root.mkdir()
    pq.write_table(hf_table(episodes[:5]), root / "train-00000-of-00002.parquet")
    pq.write_table(hf_table(episodes[5:]), root / "train-00001-of-00002.parquet")
    loaded = load_dataset(str(root))
    # dones -> terminations; an episode ending without done was cut: its last step is truncated
    assert not any(ep["terminations"][-1] and ep["truncations"][-1] for ep in episodes)
    assert_same(loaded, dataset)
    assert loaded.name == "pend-random" and loaded.env_id == "" and loaded.reward_scale == 1.0
    over = load_hf_trajectories(root, env_id=PENDULUM, reward_scale=1000.0)
    assert (over.env_id, over.reward_scale) == (PENDULUM, 1000.0)
    one = tmp_path / "hopper-medium-v2.parquet"  # one file, as the Hub's parquet export names them
    pq.write_table(hf_table(episodes), one)
    single = load_dataset(str(one))
    assert_same(single, dataset)
    assert single.name == "hopper-medium-v2" and single.reward_scale == 1000.0  # the D4RL task name's rule


def test_hf_variants(tmp_path, episodes, dataset, cartpole_episodes):
    # the Hub's parquet export layout, a D4RL config name, stored final observations, explicit flags
    config = tmp_path / "hub" / "hopper-medium-v2" / "train"
    config.mkdir(parents=True)
    pq.write_table(hf_table(episodes, final_obs=True, flags=True), config / "0000.parquet")
    loaded = load_hf_trajectories(tmp_path / "hub")
    assert_same(loaded, dataset)
    assert loaded.reward_scale == 1000.0
    discrete = tmp_path / "cartpole"
    discrete.mkdir()
    pq.write_table(hf_table(cartpole_episodes), discrete / "data.parquet")
    loaded = load_hf_trajectories(discrete)
    assert loaded.actions.dtype == np.int64 and loaded.actions.ndim == 1
    assert_same(loaded, as_dataset(cartpole_episodes))
    other = tmp_path / "hub" / "walker2d-medium-v2" / "train"
    other.mkdir(parents=True)
    pq.write_table(hf_table(episodes), other / "0000.parquet")
    with pytest.raises(DatasetError, match=r"hub: parquet files in several directories .*point at one"):
        load_hf_trajectories(tmp_path / "hub")


def test_hf_bad_input(tmp_path, episodes):
    def write(name: str, table: pa.Table) -> Path:
        d = tmp_path / name
        d.mkdir()
        pq.write_table(table, d / "train.parquet")
        return d

    table = hf_table(episodes)
    d = write("missing", table.drop_columns(["dones"]))
    with pytest.raises(DatasetError, match=r"train\.parquet: missing column\(s\) \['dones'\]"):
        load_hf_trajectories(d)
    short_actions = pa.array([ep["actions"][:-1].tolist() if i == 2 else ep["actions"].tolist() for i, ep in enumerate(episodes)])
    d = write("lengths", table.set_column(1, "actions", short_actions))
    with pytest.raises(DatasetError, match=r"row 2: field 'actions' has \d+ steps but 'rewards' has \d+"):
        load_hf_trajectories(d)
    bad_rewards = [ep["rewards"].tolist() for ep in episodes]
    bad_rewards[3][0] = float("nan")
    d = write("nan", table.set_column(2, "rewards", pa.array(bad_rewards)))
    with pytest.raises(DatasetError, match=r"nan/train\.parquet: field 'rewards' contains NaN or inf \(first at row 3, "
                                           r"step 0\)"):
        load_hf_trajectories(d)
    bad_obs = [ep["observations"].tolist() for ep in episodes]
    bad_obs[2][4][1] = float("inf")
    d = write("inf", table.set_column(0, "observations", pa.array(bad_obs)))
    with pytest.raises(DatasetError, match=r"field 'observations' contains NaN or inf \(first at row 2, step 4, "
                                           r"element 1\)"):
        load_hf_trajectories(d)
    d = write("empty", table.slice(0, 0))
    with pytest.raises(DatasetError, match=r"empty/train\.parquet: the dataset is empty"):
        load_hf_trajectories(d)
    ragged = [ep["observations"][:-1].tolist() for ep in episodes]
    ragged[1][2] = ragged[1][2][:3]
    d = write("ragged", table.set_column(0, "observations", pa.array(ragged)))
    with pytest.raises(DatasetError, match=r"field 'observations' has entries of different sizes"):
        load_hf_trajectories(d)
    d = write("scalar", table.set_column(2, "rewards", pa.array([1.0] * len(episodes))))
    with pytest.raises(DatasetError, match=r"field 'rewards' has type double; expected a list per episode"):
        load_hf_trajectories(d)
    d = write("truncated", table)
    f = d / "train.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"truncated/train\.parquet: not a readable parquet file"):
        load_hf_trajectories(d)
    (tmp_path / "none").mkdir()
    with pytest.raises(DatasetError, match=r"none: no \.parquet files"):
        load_dataset(str(tmp_path / "none"))


# --------------------------------------------------------------------------- export
def test_export_hdf5_round_trip(tmp_path, dataset, cartpole_episodes):
    path = export_dataset(dataset, "hdf5", tmp_path / "out")
    assert path == tmp_path / "out" / "pend-random.hdf5"
    assert [p.name for p in path.parent.iterdir()] == ["pend-random.hdf5"]  # no temporary left behind
    with h5py.File(path) as f:
        assert {"observations", "actions", "rewards", "terminals", "timeouts"} <= set(f)
    loaded = load_dataset(str(path))
    assert_same(loaded, dataset)
    assert (loaded.env_id, loaded.name, loaded.reward_scale) == (PENDULUM, "pend-random", 1000.0)
    cart = as_dataset(cartpole_episodes, env_id="CartPole-v1", name="cart")
    assert_same(load_d4rl_hdf5(export_dataset(cart, "hdf5", tmp_path / "cart.h5")), cart)
    with pytest.raises(FileExistsError, match="cart.h5 exists"):
        export_dataset(cart, "hdf5", tmp_path / "cart.h5")
    assert export_dataset(dataset, "hdf5", tmp_path / "cart.h5", overwrite=True).stat().st_size > 0
    assert load_d4rl_hdf5(tmp_path / "cart.h5").name == "pend-random"


def test_export_hdf5_episode_boundaries(tmp_path, dataset):
    unflagged = TrajectoryDataset(
        **{k: getattr(dataset, k) for k in FIELDS if k not in ("terminations", "truncations")},
        terminations=np.zeros(dataset.num_steps, bool), truncations=np.zeros(dataset.num_steps, bool), name="u",
    )
    with pytest.warns(UserWarning, match=rf"{dataset.num_episodes - 1} episode\(s\) end with neither"):
        path = export_dataset(unflagged, "hdf5", tmp_path / "u.hdf5")
    loaded = load_d4rl_hdf5(path)
    assert np.array_equal(loaded.episode_starts, dataset.episode_starts)
    assert loaded.truncations.sum() == dataset.num_episodes - 1
    interior = np.zeros(dataset.num_steps, bool)
    interior[dataset.episode_starts[1]] = True  # first step of episode 1
    bad = TrajectoryDataset(**{k: getattr(dataset, k) for k in FIELDS if k != "terminations"}, terminations=interior)
    with pytest.raises(DatasetError, match="episode 1 has a termination/truncation flag at step"):
        export_dataset(bad, "hdf5", tmp_path / "bad.hdf5")
    assert not (tmp_path / "bad.hdf5").exists()


def test_export_minari_round_trip(tmp_path, store, dataset, cartpole_episodes):
    out = tmp_path / "exported"
    path = export_dataset(dataset, "minari", out, ref_returns=(5.0, 1000.0))
    assert path == out / "pend-random-v0" and sorted(p.name for p in out.iterdir()) == ["pend-random-v0"]
    # a real Minari dataset: Minari itself opens it, recovers the env, keeps N + 1 observations
    ds = minari.MinariDataset(path / "data")
    assert ds.total_episodes == dataset.num_episodes and ds.total_steps == dataset.num_steps
    assert ds.env_spec.id == PENDULUM and ds.recover_environment(eval_env=True).spec.id == PENDULUM
    first = next(iter(ds.iterate_episodes()))
    assert len(first.observations) == len(first.rewards) + 1
    assert np.array_equal(first.observations[-1], first.observations[-2])  # documented: the final one is repeated
    assert ds.storage.metadata["ref_min_score"] == 5.0 and ds.storage.metadata["ref_max_score"] == 1000.0
    loaded = load_minari(f"minari:{path}")
    assert_same(loaded, dataset)
    assert (loaded.env_id, loaded.name, loaded.reward_scale) == (PENDULUM, "pend-random", 1000.0)  # the stored name, not the Minari id
    # through MINARI_DATASETS_PATH and the registry, a namespaced id, discrete actions, a custom reward scale
    cart = as_dataset(cartpole_episodes, env_id="CartPole-v1", name="cart", reward_scale=7.0)
    export_dataset(cart, "minari", store, dataset_id="dt/cart-random-v1")
    assert json.loads((store / "dt" / "namespace_metadata.json").read_text()) == {}
    loaded = load_dataset("minari:dt/cart-random-v1")
    assert_same(loaded, cart)
    assert (loaded.env_id, loaded.reward_scale) == ("CartPole-v1", 7.0)
    assert "dt/cart-random-v1" in minari.list_local_datasets()
    with pytest.raises(FileExistsError, match="pend-random-v0 exists"):
        export_dataset(dataset, "minari", out)
    export_dataset(cart, "minari", out, dataset_id="pend-random-v0", overwrite=True)
    assert load_minari(f"minari:{path}").actions.dtype == np.int64
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    with pytest.raises(ValueError, match="malformed"):
        export_dataset(dataset, "minari", out, dataset_id="no version")
    with pytest.raises(ValueError, match="not supported"):
        export_dataset(dataset, "csv", out)


def test_export_minari_without_env(tmp_path, dataset):
    anonymous = TrajectoryDataset(**{k: getattr(dataset, k) for k in FIELDS}, name="anon", reward_scale=2.0)
    path = export_dataset(anonymous, "minari", tmp_path)
    loaded = load_minari(f"minari:{path}")
    assert_same(loaded, anonymous)
    assert (loaded.env_id, loaded.reward_scale) == ("", 2.0)


def test_optional_dependency_error_names_the_extra():
    with pytest.raises(ImportError, match=r"pip install 'decision-transformer\[data\]'"):
        import_optional("surely_not_installed_pkg", "Reading things")
