import numpy as np
import pytest

from conftest import make_dataset
from decision_transformer.data import DatasetError, Episode, TrajectoryDataset, WindowSampler, load_dataset
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.data.sampler import EpisodeSampler
from decision_transformer.data.trajectories import REQUIRED_KEYS


def identity_prep(dim, scale):
    return Preprocessing(np.zeros(dim), np.ones(dim), scale)


def test_returns_to_go_per_episode():
    d = make_dataset(lengths=(3, 2))
    np.testing.assert_allclose(d.returns_to_go, [3, 2, 1, 4, 2])
    np.testing.assert_allclose(d.episode_returns, [3, 4])
    assert d.episode(1).rewards.tolist() == [2, 2]
    assert "observations=(2, 2)" in repr(d.episode(1))


def test_window_left_padding_mask_and_timesteps():
    d = make_dataset(lengths=(3, 10, 30), reward_scale=10.0)
    K = 5
    sampler = WindowSampler(d, identity_prep(2, 10.0), K, 8)
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
    batch = WindowSampler(d, Preprocessing.fit(d), 4, 1000).sample(64, np.random.default_rng(1))
    assert batch.actions.dtype.is_floating_point is False and batch.actions.shape == (64, 4)
    raw = batch.states.numpy() * std + mean
    assert np.allclose(raw[batch.attention_mask.numpy() == 1] % 1, 0, atol=1e-4)


def test_same_rng_state_gives_same_batches():
    d = make_dataset()
    s = WindowSampler(d, Preprocessing.fit(d), 4, 100)
    a = s.sample(16, np.random.default_rng(3))
    b = s.sample(16, np.random.default_rng(3))
    assert all((getattr(a, k) == getattr(b, k)).all() for k in ("states", "actions", "timesteps", "attention_mask"))


def test_top_fraction_keeps_best_episodes_within_budget():
    d = make_dataset(lengths=(10, 10, 10, 10))  # returns 10, 20, 30, 40
    top = d.top_fraction(0.5)
    np.testing.assert_allclose(sorted(top.episode_returns), [30, 40])
    assert top.num_steps == 20
    assert d.top_fraction(0.01).num_episodes == 1  # at least one episode



def test_preprocessing_of_a_pbc_run_is_fitted_on_the_full_data():
    from decision_transformer.train import TrainConfig, prepare_dataset

    d = make_dataset(lengths=(10, 10, 10, 10))  # obs[0] = episode index 0..3: the top half has mean 2.5
    data, full = prepare_dataset(TrainConfig(top_fraction=0.5), d)
    assert data.num_episodes == 2 and full is d
    prep = Preprocessing.fit(full)
    np.testing.assert_allclose(prep.state_mean[0], 1.5)
    np.testing.assert_allclose(data.state_stats[0][0], 2.5)  # what fitting on the filtered data would give


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
    from decision_transformer.common.envs_util import check_env_matches

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


def test_episode_sampler_whole_episodes_from_step_zero_left_padded():
    d = make_dataset(lengths=(3, 10, 7), reward_scale=10.0)
    s = EpisodeSampler(d, identity_prep(2, 10.0), 12, 100)
    b = s.episodes(np.array([0, 1, 2]))
    mask = b.attention_mask.numpy()
    assert mask.sum(1).tolist() == [3, 10, 7]
    for e, L in enumerate((3, 10, 7)):
        assert (mask[e, -L:] == 1).all() and (mask[e, :-L] == 0).all()  # padding on the left, not empty here
        np.testing.assert_array_equal(b.timesteps[e, -L:].numpy(), np.arange(L))
        np.testing.assert_array_equal(b.states[e, -L:, 1].numpy(), np.arange(L))  # obs[1] = step from 0
        np.testing.assert_array_equal(b.actions[e, -L:].numpy(), d.episode(e).actions)
        assert (b.states[e, :-L].numpy() == 0).all() and (b.returns_to_go[e, :-L].numpy() == 0).all()
        np.testing.assert_allclose(b.returns_to_go[e, -L:, 0].numpy(), (L - np.arange(L)) * (e + 1) / 10.0)
    assert b.episode_returns.tolist() == [3.0, 20.0, 21.0]
    with pytest.raises(DatasetError, match="context_len"):
        EpisodeSampler(d, identity_prep(2, 10.0), 9, 100)


def test_return_balanced_sampling_draws_each_return_equally():
    # two returns only: successes (1) and failures (0), 2 successes in 40 episodes
    eps = [Episode(np.zeros((3, 2), np.float32), np.zeros((3, 1), np.float32),
                   np.array([0, 0, float(i < 2)], np.float32), np.array([0, 0, 1], bool), np.zeros(3, bool))
           for i in range(40)]
    two = TrajectoryDataset.from_episodes(eps)
    s = EpisodeSampler(two, identity_prep(2, 1.0), 3, 100, return_balanced=True)
    idx = s.sample_episodes(20000, np.random.default_rng(1))
    assert abs((idx < 2).mean() - 0.5) < 0.02  # half of the rows are the 2 successes
    per_failure = np.bincount(idx, minlength=40)[2:]
    assert (per_failure > 0).all() and abs(per_failure.mean() - 10000 / 38) < 0.1 * 10000 / 38
    assert abs(np.bincount(idx, minlength=40)[:2].mean() - 5000) < 300  # each success ~ 10000 / 2 times
    uni = EpisodeSampler(two, identity_prep(2, 1.0), 3, 100).sample_episodes(20000, np.random.default_rng(1))
    assert abs((uni < 2).mean() - 0.05) < 0.01


def test_data_cli_info_and_export_round_trip(tmp_path, dt):
    pytest.importorskip("h5py")
    src = make_dataset(lengths=(3, 4), reward_scale=10.0, name="toy").save(tmp_path / "toy.npz")
    res = dt("data", "export", src, "--to", "hdf5", "--out", tmp_path / "toy.hdf5")
    assert res.returncode == 0, res.stderr
    back = load_dataset(str(tmp_path / "toy.hdf5"))
    np.testing.assert_array_equal(back.actions, TrajectoryDataset.load(src).actions)
    info = dt("data", "info", tmp_path / "toy.hdf5")
    assert info.returncode == 0 and "7" in info.stdout and "3 / 3.5 / 4" in info.stdout
    bad = dt("data", "export", src, "--to", "parquet", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "parquet" in bad.stderr


def test_a_minari_export_says_how_to_read_it_back(tmp_path, dt, monkeypatch):
    pytest.importorskip("minari")
    src = make_dataset(lengths=(3, 4), reward_scale=10.0, name="toy").save(tmp_path / "toy.npz")
    res = dt("data", "export", src, "--to", "minari", "--out", tmp_path / "store")
    assert res.returncode == 0, res.stderr
    hint = res.stdout.strip().splitlines()[-1]
    assert hint.startswith(f"read it with: MINARI_DATASETS_PATH={tmp_path / 'store'} dt train --dataset minari:")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    dataset_id = hint.split("minari:")[1].split()[0]
    assert load_dataset(f"minari:{dataset_id}").num_steps == 7  # the id the hint names reads back


def test_pixel_observations_are_memory_mapped_on_load(tmp_path):
    import dataclasses

    import torch

    from decision_transformer.data.frames import FrameStackSampler
    from decision_transformer.data.preprocess import Preprocessing

    rng = np.random.default_rng(0)
    n = 40
    d = TrajectoryDataset(observations=rng.integers(0, 256, (n, 84, 84), dtype=np.uint8),
                          actions=rng.integers(0, 4, n), rewards=rng.normal(size=n).astype(np.float32),
                          terminations=np.isin(np.arange(n), [14, 39]), truncations=np.zeros(n, bool),
                          episode_starts=np.array([0, 15]), name="frames")
    back = TrajectoryDataset.load(d.save(tmp_path / "frames.npz"))
    assert isinstance(back.observations, np.memmap) and not back.observations.flags.writeable
    assert np.array_equal(back.observations, d.observations)
    assert not isinstance(back.actions, np.memmap)  # only pixel frames are mapped
    # the sampler reads the mapped frames exactly as the in-memory ones
    prep = Preprocessing.fit(d)
    a = FrameStackSampler(d, prep, 6, 100).sample(5, np.random.default_rng(1))
    b = FrameStackSampler(back, prep, 6, 100).sample(5, np.random.default_rng(1))
    assert torch.equal(a.states, b.states) and torch.equal(a.actions, b.actions)
    # a compressed file (another tool's) is read into memory instead
    with np.load(tmp_path / "frames.npz") as z:
        np.savez_compressed(tmp_path / "packed.npz", **{k: z[k] for k in z.files})
    packed = TrajectoryDataset.load(tmp_path / "packed.npz")
    assert not isinstance(packed.observations, np.memmap) and np.array_equal(packed.observations, d.observations)
    # vector observations stay in memory
    vec = TrajectoryDataset.load(dataclasses.replace(d, observations=rng.normal(size=(n, 3)).astype(np.float32))
                                 .save(tmp_path / "vec.npz"))
    assert not isinstance(vec.observations, np.memmap)


def test_the_window_has_one_carrier_the_model_config(tmp_path):
    """context_len and max_ep_len live in the model config only: Preprocessing holds data statistics, and the
    trainer's sampler takes its window from the model config it trains."""
    from decision_transformer import DTConfig
    from decision_transformer.run_config import TrainConfig
    from decision_transformer.train import Trainer

    d = make_dataset(lengths=(30, 40), reward_scale=10.0)
    prep = Preprocessing.fit(d)
    assert not hasattr(prep, "context_len") and not hasattr(prep, "max_ep_len")
    cfg = TrainConfig(out=str(tmp_path / "run"), steps=1, progress=False)
    trainer = Trainer(cfg, DTConfig(context_len=7, max_ep_len=12, embed_dim=16, n_layer=1), d, prep)
    batch = trainer.sampler.sample(256, np.random.default_rng(0))
    assert batch.states.shape[1] == 7
    assert int(batch.timesteps.max()) == 11  # clipped below the model's max_ep_len


def test_end_anchored_windows_end_at_a_uniform_step_and_are_left_padded():
    """anchor='end' (d3rlpy's convention): the drawn step is the window's last; the window holds up to K steps
    before it, left-padded; the start convention's windows run from the drawn step on."""
    d = make_dataset(lengths=(3, 10, 30), reward_scale=10.0)
    K = 5
    end = WindowSampler(d, identity_prep(2, 10.0), K, 100, anchor="end")
    ep, first, last = end.draw(4000, np.random.default_rng(0))
    lengths = d.episode_lengths[ep]
    assert (last < lengths).all() and (first == np.maximum(last - K + 1, 0)).all()
    assert np.bincount(last[ep == 2], minlength=30).min() > 0  # every step of an episode can end a window
    batch = end.sample(2000, np.random.default_rng(0))
    mask, ts = batch.attention_mask.numpy(), batch.timesteps.numpy()
    assert (mask.sum(1) == np.minimum(ts[:, -1] + 1, K)).all()  # a window ending at step t holds min(t + 1, K)
    start = WindowSampler(d, identity_prep(2, 10.0), K, 100)
    ep, first, last = start.draw(4000, np.random.default_rng(0))
    assert (last == np.minimum(first + K, d.episode_lengths[ep]) - 1).all()
    with pytest.raises(ValueError, match="anchor"):
        WindowSampler(d, identity_prep(2, 10.0), K, 100, anchor="middle")
