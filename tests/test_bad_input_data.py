"""Bad input to the data layer: native .npz containers and fields, Minari and D4RL HDF5 metadata, `dt data make
--out` and `dt data export --out`. Each case: one `DatasetError` line naming the file, the field and what was
expected; nothing generated, copied or overwritten."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_one_error, make_dataset
from decision_transformer.data import DatasetError, TrajectoryDataset, load_dataset
from decision_transformer.data import registry
from decision_transformer.data.trajectories import REQUIRED_KEYS


def _write(path, **changes):
    """A valid native .npz with `changes` to its members (None: left out)."""
    d = make_dataset(lengths=(5, 7), obs_dim=2, act_dim=1, name="toy")
    arrays = {k: getattr(d, k) for k in REQUIRED_KEYS}
    arrays.update(format_version=np.array(1), reward_scale=np.array(1.0), reward_clip=np.array(0.0),
                  env_id=np.array(""), name=np.array("toy"))
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(path, **arrays)
    return path


def _error(path) -> str:
    with pytest.raises(DatasetError) as exc:
        TrajectoryDataset.load(path)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    return message


N = 12  # steps of _write's dataset


# ------------------------------------------------------------------------------ native .npz (14, 15, 16, 26, 22a)
@pytest.mark.parametrize("changes, expected", [
    ({"reward_scale": np.array([1.0, 2.0])}, "field 'reward_scale' has shape (2,); expected a scalar"),
    ({"reward_clip": np.array([1.0, 2.0])}, "field 'reward_clip' has shape (2,); expected a scalar"),
    ({"reward_scale": np.array("abc")}, "field 'reward_scale' is 'abc' (dtype <U3); expected a number"),
    ({"name": np.array(["a", "b"])}, "field 'name' has shape (2,); expected a scalar"),
    ({"format_version": np.array("one")}, "field 'format_version' is 'one' (dtype <U3); expected an integer"),
])
def test_npz_metadata_fields_must_be_scalars(tmp_path, changes, expected):
    assert expected in _error(_write(tmp_path / "x.npz", **changes))


def test_npz_that_is_not_a_zip_archive(tmp_path):
    npy = tmp_path / "plain.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    text = tmp_path / "text.npz"
    text.write_text("hello world\n" * 10)
    for p in (npy, text):
        message = _error(p)
        assert "not a zip archive" in message and "expected a native .npz dataset" in message
        assert "pickled" not in message


def test_uint8_vector_observations_are_named_as_the_datasets_field(tmp_path):
    message = _error(_write(tmp_path / "x.npz", observations=np.zeros((N, 3), np.uint8)))
    assert "field 'observations' is uint8 with shape (3,) per step" in message
    assert "(N,H,W) or (N,C,H,W); store vectors as float32" in message and "meta.json" not in message
    frames = TrajectoryDataset.load(_write(tmp_path / "f.npz", observations=np.zeros((N, 4, 4), np.uint8)))
    assert frames.observation_shape == (4, 4)  # pixel frames are still read


def test_zero_size_observations_and_actions(tmp_path):
    assert "field 'observations' has shape (0,) per step; expected at least one value per step" in _error(
        _write(tmp_path / "o.npz", observations=np.zeros((N, 0), np.float32)))
    assert f"field 'actions' has shape ({N}, 0); expected (N, act_dim) with act_dim >= 1" in _error(
        _write(tmp_path / "a.npz", actions=np.zeros((N, 0), np.float32)))


def test_episode_flags_must_be_bool_or_exactly_0_1(tmp_path):
    flags = np.zeros(N, np.float32)
    flags[[4, 11]] = 1.0
    ok = TrajectoryDataset.load(_write(tmp_path / "ok.npz", terminations=flags))  # 0/1 numbers are flags
    assert ok.terminations.dtype == bool and ok.terminations.sum() == 2
    assert "field 'terminations' has value 0.3 at step 0; expected bool (or exactly 0/1)" in _error(
        _write(tmp_path / "f.npz", terminations=np.full(N, 0.3, np.float32)))
    assert "field 'truncations' has dtype <U1; expected bool" in _error(
        _write(tmp_path / "s.npz", truncations=np.array(["x"] * N)))


def test_rewards_whose_returns_to_go_overflow_float32(tmp_path):
    message = _error(_write(tmp_path / "x.npz", rewards=np.full(N, 1e38, np.float32)))
    assert "field 'rewards' sums past float32's range" in message and "episode 0" in message
    # float64 rewards beyond float32's range are caught too, after the cast
    assert "field 'rewards' contains NaN or inf" in _error(_write(tmp_path / "y.npz", rewards=np.full(N, 1e300)))
    # large rewards whose sums still fit are fine
    assert np.isfinite(TrajectoryDataset.load(_write(tmp_path / "z.npz", rewards=np.full(N, 1e36, np.float32))).returns_to_go).all()


# ------------------------------------------------------------------------------ SRC strings, seeds (25a)
def test_empty_dataset_src_is_refused():
    for src in ("", "  "):
        with pytest.raises(DatasetError, match="dataset SRC .* is empty; expected a path"):
            load_dataset(src)


# ------------------------------------------------------------------------------ dt data make --out (1, 7)
@pytest.fixture
def tiny_builtin(monkeypatch, tmp_path):
    """A built-in dataset 'tiny-toy' whose generator counts its calls; the cache in tmp_path."""
    monkeypatch.setenv("DT_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def make(seed):
        calls.append(seed)
        return make_dataset(lengths=(3, 4), name="tiny-toy", seed=seed)

    registry.builtin_datasets()
    monkeypatch.setitem(registry.BUILTIN, "tiny-toy", registry.BuiltinDataset("tiny-toy", "", make))
    return calls


def test_make_out_of_another_dataset_is_refused_and_kept(tmp_path, tiny_builtin, dt):
    other = make_dataset(name="toy").save(tmp_path / "good.npz")
    before = other.read_bytes()
    with pytest.raises(DatasetError) as exc:
        registry.make_builtin("tiny-toy", out=other)
    assert f"{other} exists and is not tiny-toy (it records name 'toy'); use --force or another --out" == str(exc.value)
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("not a dataset")
    with pytest.raises(DatasetError, match="garbage.npz exists and is not a readable dataset .*; use --force"):
        registry.make_builtin("tiny-toy", out=garbage)
    # the CLI: one error line, file untouched, nothing generated
    assert_one_error(dt("data", "make", "tiny-toy", "--out", other), "data", "good.npz", "is not tiny-toy", "--force")
    assert other.read_bytes() == before and garbage.read_text() == "not a dataset" and tiny_builtin == []
    # the same dataset is reused; --force regenerates
    mine = tmp_path / "mine.npz"
    assert registry.make_builtin("tiny-toy", out=mine) == mine and tiny_builtin == [0]
    assert registry.make_builtin("tiny-toy", out=mine) == mine and tiny_builtin == [0]
    registry.make_builtin("tiny-toy", out=other, force=True)
    assert TrajectoryDataset.load(other).name == "tiny-toy" and tiny_builtin == [0, 0]
    # the same name made with another seed is another dataset: the file records how it was made
    assert TrajectoryDataset.load(mine).made_as == "tiny-toy-seed0"
    with pytest.raises(DatasetError, match=r"mine\.npz exists and was made as tiny-toy-seed0, not tiny-toy-seed1"):
        registry.make_builtin("tiny-toy", seed=1, out=mine)
    assert tiny_builtin == [0, 0]


@pytest.mark.parametrize("out, expected", [
    ("noext", "--out {}: expected a .npz file path"),
    ("newdir/", "--out {}: expected a .npz file path"),
    ("data.npz/", "--out {}: expected a .npz file path"),
    ("existing", "--out {}: is a directory; expected a .npz file path"),
    ("dir.npz", "--out {}: is a directory; expected a .npz file path"),
])
def test_make_out_must_be_a_npz_file_path(tmp_path, tiny_builtin, monkeypatch, out, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    (tmp_path / "dir.npz").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(DatasetError) as exc:
        registry.make_builtin("tiny-toy", out=out)
    assert str(exc.value) == expected.format(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and tiny_builtin == []


def test_make_negative_seed_names_the_option(tiny_builtin, dt):
    with pytest.raises(DatasetError, match=r"tiny-toy: --seed -1; expected a non-negative integer"):
        registry.make_builtin("tiny-toy", seed=-1)
    assert_one_error(dt("data", "make", "tiny-toy", "--seed", "-1"), "data", "--seed -1", "non-negative integer")
    assert tiny_builtin == []


# ------------------------------------------------------------------------------ Minari and D4RL HDF5 (2, 19)
@pytest.fixture(scope="module")
def minari_dir(tmp_path_factory):
    """A Minari dataset exported from a small native one (3 episodes), as a directory to copy and spoil."""
    pytest.importorskip("minari")
    from decision_transformer.data.formats.export import export_dataset

    root = tmp_path_factory.mktemp("minari")
    d = make_dataset(lengths=(4, 5, 6), obs_dim=2, act_dim=1, name="toy")
    return export_dataset(d, "minari", root)


def _spoiled(minari_dir, tmp_path, spoil):
    import shutil

    copy = tmp_path / "toy-v0"
    shutil.copytree(minari_dir, copy)
    spoil(copy / "data")
    return f"minari:{copy}"


def _h5_replace(data, episode, key, value):
    import h5py

    with h5py.File(data / "main_data.hdf5", "a") as f:
        del f[episode][key]
        f[episode][key] = value


def test_export_minari_to_a_relative_out(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    from decision_transformer.data.formats.export import export_dataset

    monkeypatch.chdir(tmp_path)
    written = export_dataset(make_dataset(lengths=(3, 4), name="rel"), "minari", "relout")
    assert written == tmp_path / "relout" / "rel-v0" and written.is_dir()
    assert load_dataset(f"minari:{written}").num_steps == 7
    monkeypatch.setenv("DT_CACHE_DIR", "relcache")
    assert registry.cache_dir() == tmp_path / "relcache"


def test_minari_episode_fields_and_metadata(tmp_path, minari_dir):
    def case(name, spoil):
        with pytest.raises(DatasetError) as exc:
            load_dataset(_spoiled(minari_dir, tmp_path / name, spoil))
        assert "\n" not in str(exc.value) and f"{name}/toy-v0" in str(exc.value)
        return str(exc.value)

    message = case("dims", lambda d: _h5_replace(d, "episode_1", "observations", np.zeros((6, 5), np.float32)))
    assert "episode 1: field 'observations' has shape (5,) per step (float32) but episode 0 has (2,)" in message
    message = case("strrew", lambda d: _h5_replace(d, "episode_0", "rewards", np.array([b"x"] * 4)))
    assert "episode 0: field 'rewards' has dtype |S1; expected numbers" in message
    message = case("flags", lambda d: _h5_replace(d, "episode_2", "terminations", np.full(6, 0.5)))
    assert "episode 2: field 'terminations' has value 0.5 at step 0; expected bool (or exactly 0/1)" in message

    def scale(data):
        meta = json.loads((data / "metadata.json").read_text())
        meta["decision_transformer"]["reward_scale"] = "abc"
        (data / "metadata.json").write_text(json.dumps(meta))
    message = case("scale", scale)
    assert "metadata.json: field 'decision_transformer.reward_scale' is 'abc' (dtype <U3); expected a number" in message


@pytest.mark.parametrize("attrs, expected", [
    ({"reward_scale": "abc"}, "field 'attrs/reward_scale' is 'abc' (dtype <U3); expected a number"),
    ({"reward_scale": np.array([1.0, 2.0])}, "field 'attrs/reward_scale' has shape (2,); expected a scalar"),
    ({"env_id": np.array([1, 2])}, "field 'attrs/env_id' has shape (2,); expected a scalar"),
    ({"terminals": np.full(N, 0.5)}, "field 'terminals' has value 0.5 at step 0; expected bool (or exactly 0/1)"),
])
def test_d4rl_hdf5_attributes_and_flags(tmp_path, attrs, expected):
    h5py = pytest.importorskip("h5py")
    d = make_dataset(lengths=(5, 7), obs_dim=2, act_dim=1)
    path = tmp_path / "x.hdf5"
    with h5py.File(path, "w") as f:
        f["observations"], f["actions"], f["rewards"] = d.observations, d.actions, d.rewards
        f["terminals"] = attrs.pop("terminals", d.terminations)
        f["timeouts"] = d.truncations
        for k, v in attrs.items():
            f.attrs[k] = v
    with pytest.raises(DatasetError) as exc:
        load_dataset(str(path))
    assert str(exc.value).startswith(f"{path}: ") and expected in str(exc.value)


def test_hugging_face_dones_must_be_flags(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    row = dict(observations=[[0.0, 1.0]] * 4, actions=[[0.5]] * 4, rewards=[1.0] * 4, dones=[0.0, 0.0, 1.5, 1.0])
    (tmp_path / "hf").mkdir()
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "hf" / "train.parquet")
    with pytest.raises(DatasetError, match=r"train.parquet: field 'dones' has value 1.5 at step 2; expected bool \(or exactly 0/1\)"):
        load_dataset(str(tmp_path / "hf"))
