import numpy as np
import pytest

from decision_transformer.data import DatasetError, Episode, TrajectoryDataset, WindowSampler, load_dataset
from decision_transformer.data.trajectories import REQUIRED_KEYS


def make_dataset(lengths=(3, 10, 30), obs_dim=2, act_dim=1, discrete=False, seed=0, **kw) -> TrajectoryDataset:
    rng = np.random.default_rng(seed)
    eps = []
    for i, L in enumerate(lengths):
        obs = np.stack([np.full(L, i, np.float32), np.arange(L, dtype=np.float32)], 1)[:, :obs_dim]
        acts = rng.integers(0, 4, L) if discrete else rng.uniform(-1, 1, (L, act_dim)).astype(np.float32)
        rewards = np.full(L, float(i + 1), np.float32)
        term = np.zeros(L, bool)
        term[-1] = i % 2 == 0
        trunc = np.zeros(L, bool)
        trunc[-1] = i % 2 == 1
        eps.append(Episode(obs, acts, rewards, term, trunc))
    return TrajectoryDataset.from_episodes(eps, **kw)


def test_returns_to_go_per_episode():
    d = make_dataset(lengths=(3, 2))
    np.testing.assert_allclose(d.returns_to_go, [3, 2, 1, 4, 2])
    np.testing.assert_allclose(d.episode_returns, [3, 4])
    assert d.episode(1).rewards.tolist() == [2, 2]
    assert "observations=(2, 2)" in repr(d.episode(1))


def test_window_left_padding_mask_and_timesteps():
    d = make_dataset(lengths=(3, 10, 30), reward_scale=10.0)
    K = 5
    sampler = WindowSampler(d, context_len=K, max_ep_len=8, state_mean=np.zeros(2), state_std=np.ones(2))
    batch = sampler.sample(2000, np.random.default_rng(0))
    mask = batch.attention_mask.numpy()
    states = batch.states.numpy()
    ts = batch.timesteps.numpy()
    # real steps are contiguous at the right; padding (zeros everywhere) on the left
    assert (np.diff(mask, axis=1) >= 0).all() and (mask[:, -1] == 1).all()
    pad = mask == 0
    assert (states[pad] == 0).all() and (ts[pad] == 0).all() and (batch.returns_to_go.numpy()[pad] == 0).all()
    ep = states[:, -1, 0].astype(int)  # obs[0] = episode index, obs[1] = step within episode
    step = states[:, :, 1]
    # consecutive steps of one episode, with timesteps = step index clipped to max_ep_len - 1
    real_steps = np.where(mask == 1, step, np.nan)
    assert np.nanmax(np.abs(np.diff(real_steps, axis=1) - 1)) == 0
    np.testing.assert_array_equal(ts[mask == 1], np.minimum(step[mask == 1], 7))
    # returns-to-go are scaled by the reward scale: rtg = (len - t) * (ep + 1) / 10
    lengths = np.array([3, 10, 30])[ep]
    expect = (lengths[:, None] - step) * (ep[:, None] + 1) / 10.0
    np.testing.assert_allclose(batch.returns_to_go.numpy()[..., 0][mask == 1], expect[mask == 1], rtol=1e-6)
    # episodes drawn in proportion to length (3:10:30), starts uniform within the episode
    freq = np.bincount(ep, minlength=3) / len(ep)
    np.testing.assert_allclose(freq, np.array([3, 10, 30]) / 43, atol=0.03)
    last_step = step[ep == 2, -1]
    n_real = mask[ep == 2].sum(1)
    start = last_step - n_real + 1
    assert start.min() == 0 and start.max() == 29  # a window may start on the last step, padded on the left
    assert (n_real[start == 29] == 1).all()


def test_sampler_normalizes_states_and_handles_discrete_actions():
    d = make_dataset(discrete=True)
    mean, std = d.state_stats
    batch = WindowSampler(d, 4, 1000).sample(64, np.random.default_rng(1))
    assert batch.actions.dtype.is_floating_point is False and batch.actions.shape == (64, 4)
    raw = batch.states.numpy() * std + mean
    assert np.allclose(raw[batch.attention_mask.numpy() == 1] % 1, 0, atol=1e-4)


def test_same_rng_state_gives_same_batches():
    d = make_dataset()
    s = WindowSampler(d, 4, 100)
    a = s.sample(16, np.random.default_rng(3))
    b = s.sample(16, np.random.default_rng(3))
    assert all((getattr(a, k) == getattr(b, k)).all() for k in ("states", "actions", "timesteps", "attention_mask"))


def test_top_fraction_keeps_best_episodes_within_budget():
    d = make_dataset(lengths=(10, 10, 10, 10))  # returns 10, 20, 30, 40
    top = d.top_fraction(0.5)
    np.testing.assert_allclose(sorted(top.episode_returns), [30, 40])
    assert top.num_steps == 20
    assert d.top_fraction(0.01).num_episodes == 1  # at least one episode
    np.testing.assert_allclose(top.state_mean, d.state_mean)  # stats of the full data are kept


def test_delayed_rewards_move_return_to_last_step():
    d = make_dataset(lengths=(3, 2)).delayed_rewards()
    np.testing.assert_allclose(d.rewards, [0, 0, 3, 0, 4])
    np.testing.assert_allclose(d.returns_to_go, [3, 3, 3, 4, 4])


def test_npz_round_trip(tmp_path):
    d = make_dataset(reward_scale=1000.0, env_id="Hopper-v5", name="x")
    path = d.save(tmp_path / "d.npz")
    back = TrajectoryDataset.load(path)
    for k in REQUIRED_KEYS:
        np.testing.assert_array_equal(getattr(back, k), getattr(d, k))
    assert (back.reward_scale, back.env_id, back.name) == (1000.0, "Hopper-v5", "x")
    assert load_dataset(str(path)).num_steps == d.num_steps
    assert not list(tmp_path.glob("*.tmp"))


def _arrays(d):
    return {k: getattr(d, k) for k in REQUIRED_KEYS}


@pytest.mark.parametrize("case, message", [
    ("missing", "missing field(s) ['rewards']"),
    ("mismatch", "field 'actions' has 42 rows but 'rewards' has 43"),
    ("nan", "field 'observations' contains NaN or inf"),
    ("inf", "field 'rewards' contains NaN or inf"),
    ("empty", "empty"),
    ("starts", "field 'episode_starts'"),
])
def test_bad_npz_names_file_and_field(tmp_path, case, message):
    arrays = _arrays(make_dataset())
    if case == "missing":
        del arrays["rewards"]
    elif case == "mismatch":
        arrays["actions"] = arrays["actions"][:-1]
    elif case == "nan":
        arrays["observations"] = arrays["observations"].copy()
        arrays["observations"][5, 1] = np.nan
    elif case == "inf":
        arrays["rewards"] = arrays["rewards"].copy()
        arrays["rewards"][0] = np.inf
    elif case == "empty":
        arrays = {k: v[:0] for k, v in arrays.items()}
    elif case == "starts":
        arrays["episode_starts"] = np.array([0, 20, 10])
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError) as exc:
        TrajectoryDataset.load(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_truncated_and_corrupt_files(tmp_path):
    path = make_dataset().save(tmp_path / "d.npz")
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    for p in (cut, garbage):
        with pytest.raises(DatasetError, match="truncated or corrupt"):
            TrajectoryDataset.load(p)
    with pytest.raises(DatasetError, match="no such dataset file"):
        TrajectoryDataset.load(tmp_path / "absent.npz")
    with pytest.raises(DatasetError, match="not a built-in dataset"):
        load_dataset("no-such-dataset")


def test_dimension_that_disagrees_with_the_env():
    from decision_transformer.train import check_env_matches

    d = make_dataset(obs_dim=2, act_dim=1, source="mine.npz")
    with pytest.raises(DatasetError, match=r"mine.npz: field 'observations' has shape \(2,\).*InvertedPendulum-v5 observes \(4,\)"):
        check_env_matches(d, "InvertedPendulum-v5")
    d4 = TrajectoryDataset(observations=np.zeros((5, 4), np.float32), actions=np.zeros((5, 3), np.float32),
                           rewards=np.zeros(5), terminations=np.zeros(5), truncations=np.zeros(5),
                           episode_starts=np.array([0]), source="mine.npz")
    with pytest.raises(DatasetError, match="field 'actions'"):
        check_env_matches(d4, "InvertedPendulum-v5")


def test_builtin_demo_dataset_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("DT_CACHE_DIR", str(tmp_path))
    from decision_transformer.data.demo import make_pendulum_mixed

    a = make_pendulum_mixed(seed=1, num_episodes=4)
    b = make_pendulum_mixed(seed=1, num_episodes=4)
    np.testing.assert_array_equal(a.observations, b.observations)
    assert a.env_id == "InvertedPendulum-v5" and a.reward_scale == 1000.0
    assert (a.terminations | a.truncations)[a.episode_ends - 1].all()
