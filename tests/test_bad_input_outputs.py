"""Outputs of `dt eval --video` and the dataset exporters: videos of the evaluated episodes, results kept when
recording fails, exact target labels, atomic MP4s, safe export file names, names kept through a round trip."""

import dataclasses
import json
import os
import sys

import numpy as np
import pytest

from conftest import assert_one_error, make_dataset


@pytest.fixture(scope="module")
def pend_run(tmp_path_factory):
    """A tiny run on an InvertedPendulum-shaped dataset (4 obs dims, 1 action)."""
    from test_train import tiny_train

    tmp = tmp_path_factory.mktemp("pend")
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1),
                            env_id="InvertedPendulum-v5")
    tiny_train(d.save(tmp / "pend.npz"), tmp / "run", steps=2)
    return tmp / "run"


def test_eval_video_uses_the_evaluations_max_episode_steps(tmp_path, dt, pend_run):
    imageio = pytest.importorskip("imageio.v2")
    pytest.importorskip("imageio_ffmpeg")
    res = dt("eval", pend_run, "--targets", "30", "--num-episodes", "1", "--max-episode-steps", "3",
             "--video", tmp_path / "v", "--video-episodes", "1", "--json", tmp_path / "e.json", "--no-progress")
    assert res.returncode == 0, res.stderr
    length = json.loads((tmp_path / "e.json").read_text())["results"][0]["lengths"][0]
    assert length <= 3
    files = list((tmp_path / "v").iterdir())
    assert [f.name for f in files] == ["target_30_seed_0.mp4"]  # no temporary file left beside it
    assert len(imageio.mimread(files[0], memtest=False)) == length + 1


def test_eval_video_without_a_render_dependency_fails_before_evaluating(tmp_path, dt, monkeypatch):
    from test_train import tiny_train

    pytest.importorskip("imageio_ffmpeg")
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=2, discrete=True, reward_scale=10.0)
    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1),
                            actions=d.actions % 2, env_id="CartPole-v1")
    tiny_train(d.save(tmp_path / "cart.npz"), tmp_path / "run", steps=2)
    monkeypatch.setitem(sys.modules, "pygame", None)  # `import pygame` fails, as where it is not installed
    res = dt("eval", tmp_path / "run", "--targets", "30", "--num-episodes", "1", "--video", tmp_path / "v",
             "--json", tmp_path / "e.json", "--no-progress")
    assert_one_error(res, "eval", "--video", "pygame")
    assert res.stdout == ""  # nothing evaluated


def test_eval_json_is_written_before_the_videos(tmp_path, dt, pend_run, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    import decision_transformer.video as video

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(video, "record_videos", broken)
    res = dt("eval", pend_run, "--targets", "30", "--num-episodes", "1", "--max-episode-steps", "2",
             "--video", tmp_path / "v", "--json", tmp_path / "e.json", "--no-progress")
    assert_one_error(res, "eval", "disk full")
    assert json.loads((tmp_path / "e.json").read_text())["results"][0]["target_return"] == 30.0


def test_targets_that_print_alike_get_exact_labels_and_duplicates_are_refused(tmp_path, dt, pend_run):
    pytest.importorskip("imageio_ffmpeg")
    from decision_transformer.evaluate import target_label

    assert [target_label(t) for t in (1000001.0, 1000002.0, 20.0, 0.1, -3.5, 1e20)] == [
        "1000001", "1000002", "20", "0.1", "-3.5", "1e+20"]
    res = dt("eval", pend_run, "--targets", "1000001", "1000002", "--num-episodes", "1", "--max-episode-steps", "2",
             "--video", tmp_path / "v", "--video-episodes", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "1000001" in res.stdout and "1000002" in res.stdout and "1e+06" not in res.stdout
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["target_1000001_seed_0.mp4",
                                                                   "target_1000002_seed_0.mp4"]
    res = dt("eval", pend_run, "--targets", "5", "5.0", "--num-episodes", "1", "--no-progress")
    assert_one_error(res, "eval", "targets", "5.0")


def test_record_episode_writes_no_partial_mp4(tmp_path, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    import decision_transformer.video as video
    from decision_transformer.common.envs_util import make_env

    class FailingWriter:
        @staticmethod
        def mimwrite(path, frames, **kw):
            open(path, "wb").write(b"half an mp4")
            raise OSError("disk full")

    monkeypatch.setattr(video, "_writer", lambda: FailingWriter)
    os.environ.setdefault("MUJOCO_GL", "egl")
    env = video.RecordEpisode(make_env("InvertedPendulum-v5", render_mode="rgb_array", max_episode_steps=2),
                              tmp_path, "target_1", 30)
    env.reset(seed=0)
    env.step(np.zeros(1, np.float32))
    with pytest.raises(OSError, match="disk full"):
        env.step(np.zeros(1, np.float32))
    assert list(tmp_path.iterdir()) == []
    env.close()


def test_hdf5_export_into_a_folder_keeps_the_file_in_it(tmp_path):
    pytest.importorskip("h5py")
    from decision_transformer.data.formats.d4rl_io import load_d4rl_hdf5
    from decision_transformer.data.formats.export import export_dataset

    out = tmp_path / "out"
    for name, file in (("data/1", "data_1.hdf5"), ("..", "dataset.hdf5"), ("../../evil", "evil.hdf5"),
                       ("hopper-medium-v2", "hopper-medium-v2.hdf5")):
        d = make_dataset(name=name)
        path = export_dataset(d, "hdf5", out)
        assert path == out / file and path.is_file()
        assert load_d4rl_hdf5(path).name == name  # the name itself is kept inside the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="--out .*f: exists and is not a directory"):
        export_dataset(make_dataset(name="a"), "hdf5", tmp_path / "f")


def test_minari_export_onto_a_file_is_refused_and_a_round_trip_keeps_the_name(tmp_path, dt):
    pytest.importorskip("minari")
    from decision_transformer.data.formats.export import export_dataset
    from decision_transformer.data.formats.minari_io import load_minari

    (tmp_path / "file").write_text("x")
    d = make_dataset(name="toy", reward_scale=10.0)
    with pytest.raises(ValueError, match="file: exists and is not a directory; expected a directory"):
        export_dataset(d, "minari", tmp_path / "file")
    npz = d.save(tmp_path / "toy.npz")
    assert_one_error(dt("data", "export", npz, "--to", "minari", "--out", tmp_path / "file"), "data", "file")
    path = export_dataset(d, "minari", tmp_path / "store")
    assert path.name == "toy-v0" and load_minari(f"minari:{path}").name == "toy"
