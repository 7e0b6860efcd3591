import os

import numpy as np
import pytest
import torch

from decision_transformer import DTConfig, DecisionTransformer
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.evaluate import RolloutPolicy, evaluate


def test_record_videos_writes_one_mp4_per_episode_of_the_evaluated_length(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    imageio = pytest.importorskip("imageio.v2")
    os.environ.setdefault("MUJOCO_GL", "egl")
    from decision_transformer.video import record_videos

    torch.manual_seed(0)
    model = DecisionTransformer(DTConfig(context_len=4, embed_dim=16, n_layer=1), 4, 1).eval()
    policy = RolloutPolicy(model, Preprocessing(np.zeros(4), np.ones(4), 10.0), False, 1)
    files = record_videos(policy, "InvertedPendulum-v5", [20.0], tmp_path, num_episodes=2, seed=5)
    assert [f.name for f in files] == ["target_20_seed_5.mp4", "target_20_seed_6.mp4"]
    lengths = evaluate(policy, "InvertedPendulum-v5", [20.0], num_episodes=2, seed=5, progress=False)[0].lengths
    for f, n in zip(files, lengths):
        frames = imageio.mimread(f, memtest=False)
        assert len(frames) == n + 1  # the reset frame and one per step
        assert frames[0].ndim == 3 and frames[0].shape[2] == 3


def test_dt_eval_video_cli(tmp_path, dt):
    pytest.importorskip("imageio_ffmpeg")
    from conftest import make_dataset
    from test_train import tiny_train
    import dataclasses

    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1), env_id="InvertedPendulum-v5")
    tiny_train(d.save(tmp_path / "pend.npz"), tmp_path / "run", steps=2)
    res = dt("eval", tmp_path / "run", "--targets", "30", "--num-episodes", "2", "--video", tmp_path / "v",
             "--video-episodes", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["target_30_seed_0.mp4"]


def test_videos_follow_an_agent_that_runs_out_of_the_default_view():
    import mujoco

    from decision_transformer.common.envs_util import make_env
    from decision_transformer.video import follow_camera

    cheetah = make_env("HalfCheetah-v5", render_mode="rgb_array")
    assert follow_camera(cheetah) == {"camera_name": "track"}  # its default free camera stays at the origin
    model = cheetah.unwrapped.model
    assert model.cam_mode[model.camera("track").id] == mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM
    cheetah.close()
    for env_id in ("Hopper-v5", "InvertedPendulum-v5"):  # a default camera that tracks, a fixed scene
        env = make_env(env_id, render_mode="rgb_array")
        assert follow_camera(env) == {}
        env.close()
