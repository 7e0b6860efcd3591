"""Atari: the preprocessed env (envs/atari.py), frame stacking (data/frames.py), the built-in ALE datasets
(dt_experiments/suite/atari.py) and the CLI pipeline data make -> train -> eval. Skipped when ale-py is not installed."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

from decision_transformer.data import Episode, TrajectoryDataset  # noqa: E402
from decision_transformer.data.frames import FrameStackSampler, StackedFrames, model_state_shape  # noqa: E402
from decision_transformer.data.preprocess import Preprocessing  # noqa: E402
from decision_transformer.data.registry import DatasetError, builtin_datasets, make_builtin, parse_builtin  # noqa: E402
from decision_transformer.common.envs_util import make_env  # noqa: E402


@pytest.fixture(scope="module")
def breakout():
    env = make_env("dt/Breakout-v0")
    yield env
    env.close()


def record(env, seeds, steps_per_episode, rng):
    """Episodes of random actions: (dataset of single frames, the env's stacked observations per step)."""
    episodes, stacks = [], []
    for seed, n in zip(seeds, steps_per_episode):
        obs, _ = env.reset(seed=seed)
        frames, acts, rews, full = [], [], [], []
        for _ in range(n):
            full.append(obs)
            frames.append(obs[-1])
            a = int(rng.integers(env.action_space.n))
            obs, r, term, trunc, _ = env.step(a)
            acts.append(a)
            rews.append(r)
        done = np.zeros(n, bool)
        done[-1] = True
        episodes.append(Episode(np.stack(frames), np.array(acts), np.array(rews, np.float32), np.zeros(n, bool), done))
        stacks.append(np.stack(full))
    return TrajectoryDataset.from_episodes(episodes, env_id="dt/Breakout-v0"), np.concatenate(stacks)


def test_env_preprocessing(breakout):
    env = breakout
    assert env.observation_space.shape == (4, 84, 84) and env.observation_space.dtype == np.uint8
    assert env.action_space.n == 4
    ale = env.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == 0.0
    assert ale.getInt("max_num_frames_per_episode") == 108_000
    noops = set()
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
        assert all((obs[k] == obs[0]).all() for k in range(4))  # the stack starts as the reset frame, 4 times
        start = info["episode_frame_number"]  # frames stepped at reset = the no-ops (frame skip 1 underneath)
        noops.add(start)
        obs, _, _, _, info = env.step(0)
        assert info["episode_frame_number"] == start + 4  # frame skip 4
    assert all(1 <= n <= 30 for n in noops) and len(noops) > 1


def test_life_loss_does_not_end_the_episode(breakout):
    env = breakout
    _, info = env.reset(seed=0)
    lives, rng = info["lives"], np.random.default_rng(0)
    for _ in range(2000):
        _, _, terminated, truncated, info = env.step(1 if rng.random() < 0.3 else int(rng.integers(4)))
        if info["lives"] < lives:
            assert not terminated and not truncated
            return
    pytest.fail("no life lost in 2000 random steps")


def test_frame_stacking_equals_env_observations(breakout):
    data, env_obs = record(breakout, seeds=[3, 4], steps_per_episode=[7, 12], rng=np.random.default_rng(0))
    assert data.observations.shape == (19, 84, 84) and model_state_shape(data) == (4, 84, 84)
    stacked = StackedFrames(data.observations, data.episode_starts)
    assert np.array_equal(stacked[np.arange(19)], env_obs)  # episode starts repeat the first frame, as the env
    # a training batch (whole episodes, left-padded) holds exactly what the agent gets from the env
    prep = Preprocessing.fit(data)
    sampler = FrameStackSampler(data, prep, 12, 100, episode=True)
    batch = sampler.inner.episodes(np.array([0, 1]))
    assert batch.states.shape == (2, 12, 4, 84, 84)
    real = batch.attention_mask.numpy().astype(bool)
    got = batch.states.numpy()[real]  # (19, 4, 84, 84), episode 0 then 1
    assert np.array_equal(got.view(np.uint32), prep.normalize_states(env_obs).view(np.uint32))  # byte-identical
    assert (batch.states.numpy()[~real] == 0).all()
    # window batches: shapes and the [0, 1] range
    window = FrameStackSampler(data, Preprocessing.fit(data), 5, 100).sample(8, np.random.default_rng(0))
    assert window.states.shape == (8, 5, 4, 84, 84) and window.states.dtype.is_floating_point
    assert 0.0 <= float(window.states.min()) and float(window.states.max()) <= 1.0


def test_builtin_budget_names(tmp_path, monkeypatch):
    monkeypatch.setenv("DT_CACHE_DIR", str(tmp_path))
    spec = builtin_datasets()["breakout-mixed"]
    assert spec.path(0) == tmp_path / "breakout-mixed-seed0.npz"
    assert spec.path(0, spec.default_steps) == spec.path(0)
    assert spec.path(1, 5000) == tmp_path / "breakout-mixed-steps5000-seed1.npz"
    assert parse_builtin("breakout-mixed@5000") == ("breakout-mixed", 5000)
    with pytest.raises(DatasetError, match="NAME@STEPS"):
        parse_builtin("breakout-mixed@x")
    with pytest.raises(DatasetError, match="fixed size"):
        make_builtin("pendulum-mixed", steps=100)


def test_breakout_mixed_small(tmp_path):
    from dt_experiments.suite.atari import make_atari_mixed

    d = make_atari_mixed("Breakout", seed=0, steps=450)
    assert d.num_steps == 450 and d.observations.dtype == np.uint8 and d.observations.shape[1:] == (84, 84)
    assert d.env_id == "dt/Breakout-v0" and d.discrete_actions and d.episode_lengths.max() <= 200
    assert (d.terminations | d.truncations)[d.episode_ends - 1].all()


def test_missing_ale_py_names_the_extra(monkeypatch):
    from decision_transformer.envs.atari import make_atari_env

    monkeypatch.setitem(sys.modules, "ale_py", None)
    with pytest.raises(ImportError, match=r"\[atari\]"):
        make_atari_env("Breakout")


def test_cli_make_train_eval(tmp_path, dt):
    data = tmp_path / "breakout.npz"
    r = dt("data", "make", "breakout-mixed", "--steps", "300", "--out", data)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    r = dt("train", "--dataset", data, "--out", run, "--steps", "5", "--batch-size", "4", "--context-len", "4",
           "--embed-dim", "32", "--n-layer", "1", "--n-head", "1", "--warmup-steps", "5", "--log-every", "5",
           "--torch-threads", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "eval.json"
    r = dt("eval", run, "--num-episodes", "1", "--targets", "10", "--temperature", "1", "--max-episode-steps", "40",
           "--no-progress", "--json", out, "--video", tmp_path / "v", "--video-episodes", "1")
    assert r.returncode == 0, r.stderr
    import json

    res = json.loads(out.read_text())
    assert res["env_id"] == "dt/Breakout-v0" and res["results"][0]["lengths"][0] <= 40
    # `--video` works for pixels too: the ALE's own RGB frames, one MP4 per recorded episode
    if importlib.util.find_spec("imageio_ffmpeg"):
        import imageio.v2 as imageio

        (video,) = (tmp_path / "v").iterdir()
        frames = imageio.mimread(video, memtest=False)
        assert video.name == "target_10_seed_0.mp4" and frames[0].ndim == 3 and frames[0].shape[2] == 3
        assert len(frames) > 1


@pytest.mark.slow
def test_cli_done_when(tmp_path, dt, monkeypatch):
    """Issue 15's "done when": data make --steps 5000, train a few hundred steps, eval 2 episodes (~3 min)."""
    monkeypatch.setenv("DT_CACHE_DIR", str(tmp_path / "cache"))
    assert dt("data", "make", "breakout-mixed", "--steps", "5000").returncode == 0
    run = tmp_path / "run"
    r = dt("train", "--dataset", "breakout-mixed@5000", "--out", run, "--steps", "300", "--batch-size", "16",
           "--context-len", "10", "--embed-dim", "64", "--n-layer", "2", "--n-head", "2", "--warmup-steps", "50",
           "--lr", "6e-4", "--torch-threads", "1", "--no-progress")
    assert r.returncode == 0, r.stderr
    r = dt("eval", run, "--num-episodes", "2", "--targets", "20", "--temperature", "1", "--max-episode-steps", "2000",
           "--no-progress")
    assert r.returncode == 0 and "dt" in r.stdout, r.stderr


def _qbert_ram(row, c, colours, enemies=()):
    """RAM with Qbert standing on cube (row, c), cube colours by (row, c), enemies as (row, c) on rows 1..5."""
    from dt_experiments.suite.atari import QBERT_ENEMY_SPRITE, QBERT_TILES

    ram = np.zeros(128, np.uint8)
    ram[67], ram[35] = 25 + 28 * row, 5 + 2 * c - row  # player y, player column (AtariARI)
    for r, tiles in enumerate(QBERT_TILES):
        for k, i in enumerate(tiles):
            ram[i] = colours(r, k)
    ram[list(QBERT_ENEMY_SPRITE)] = 7  # no enemy on rows 1..5
    for r, k in enemies:
        ram[QBERT_ENEMY_SPRITE[r - 1]], ram[74 + r] = 17, 5 + 2 * k - r
    return ram


def test_qbert_controller_stays_on_the_pyramid():
    from dt_experiments.suite.atari import qbert_controller

    hop = {2: (-1, 0), 3: (1, 1), 4: (-1, -1), 5: (1, 0)}  # UP, RIGHT, LEFT, DOWN on the pyramid
    rng = np.random.default_rng(0)
    cubes = [(r, c) for r in range(6) for c in range(r + 1)]
    for trial in range(20):  # every cube, random colours and enemies
        paint = rng.integers(2, size=(6, 6))
        enemies = [(r, int(rng.integers(r + 1))) for r in range(1, 6) if rng.random() < 0.4]
        for r, c in cubes:
            a = qbert_controller(_qbert_ram(r, c, lambda i, k: (148, 26)[paint[i, k]], enemies), trial)
            dr, dc = hop[a]
            assert 0 <= c + dc <= r + dr < 6, (r, c, a)
    # mid-jump (y between rows) and the flashing pyramid between rounds (Qbert parked at the bottom left): NOOP
    ram = _qbert_ram(2, 1, lambda i, k: 148)
    ram[67] -= 8
    assert qbert_controller(ram, 0) == 0
    assert qbert_controller(_qbert_ram(5, 0, lambda i, k: 231), 0) == 0
    # towards the unpainted cube (3, 0): LEFT (up-left) and DOWN (down-left) are both one hop from it; LEFT
    # comes first, unless an enemy stands on (2, 0)
    todo = lambda i, k: 148 if (i, k) == (3, 0) else 26  # noqa: E731
    assert qbert_controller(_qbert_ram(3, 1, todo), 0) == 4
    assert qbert_controller(_qbert_ram(3, 1, todo, enemies=[(2, 0)]), 0) == 5


def test_qbert_controller_beats_random(tmp_path, monkeypatch):
    """600 steps of dt/Qbert-v0 (reset seed 0): the controller clears round 1 (3,100 bonus) and never jumps off
    the pyramid (RAM 59 is 255 while Qbert falls); uniform random actions score far less."""
    from dt_experiments.suite.atari import qbert_controller

    def play(policy):
        env = make_env("dt/Qbert-v0")
        _, info = env.reset(seed=0)
        ale, total, lives, falls = env.unwrapped.ale, 0.0, info["lives"], 0
        for t in range(600):
            _, r, terminated, _, info = env.step(policy(ale.getRAM(), t))
            total += r
            falls += info["lives"] < lives and ale.getRAM()[59] == 255
            lives = info["lives"]
            if terminated:
                break
        env.close()
        return total, falls

    rng = np.random.default_rng(0)
    controller, falls = play(qbert_controller)
    random, _ = play(lambda ram, t: int(rng.integers(6)))
    assert falls == 0 and controller >= 3000 and random < 1000, (controller, falls, random)
    # a cache made before the controller (random moves, generation 1) is never read as the new data
    monkeypatch.setenv("DT_CACHE_DIR", str(tmp_path))
    assert builtin_datasets()["qbert-mixed"].path(0, 5000) == tmp_path / "qbert-mixed-steps5000-seed0-gen2.npz"


def _seaquest_ram(x=84, y=56, left=False, oxygen=64, divers=0, enemies=()):
    """RAM with the submarine's centre at (x, y) and `enemies` as (lane, x centre, heading) sharks, one per lane."""
    ram = np.zeros(128, np.uint8)
    ram[70], ram[97], ram[86], ram[102], ram[62] = x - 8, y, 8 if left else 0, oxygen, divers  # AtariARI
    for lane, ex, heading in enemies:
        ram[30 + lane], ram[36 + lane] = ex - 4, 4  # the lane's left enemy only (OCAtari)
        ram[89 + lane] = 8 if heading < 0 else 0  # a shark; bit 8: heading left
    return ram


def test_seaquest_controller_on_constructed_ram():
    from dt_experiments.suite.atari import seaquest_controller as act

    UP, FIRE, LEFTFIRE, UPFIRE, DOWNFIRE = 2, 1, 12, 10, 13
    ups = {UP, 6, 7, UPFIRE, 14, 15}  # every action that moves up
    shark = [(2, 30, +1)]  # in the submarine's lane (y 56), left of it, coming right
    assert act(_seaquest_ram(enemies=shark), 0) == LEFTFIRE  # turn to face it, firing
    assert act(_seaquest_ram(left=True, enemies=shark), 0) == FIRE  # facing it: stay and fire
    # oxygen low: up with a diver aboard; with none, surfacing would cost a life, so it fights on
    assert act(_seaquest_ram(oxygen=10, divers=1, enemies=shark), 0) in ups
    assert act(_seaquest_ram(oxygen=10, divers=0, enemies=shark), 0) not in ups
    assert act(_seaquest_ram(oxygen=10, divers=0), 0) == DOWNFIRE  # no enemy: back to lane 1 (y 80)
    assert act(_seaquest_ram(left=True, divers=6, enemies=shark), 0) == UPFIRE  # 6 divers: up for the bonus
    # the nearest enemy is in lane 1 (y 80): step down to it unless it is coming at the spot the hull would enter
    assert act(_seaquest_ram(y=64, enemies=[(1, 104, +1)]), 0) == DOWNFIRE  # 20 px off, heading away
    assert act(_seaquest_ram(y=64, enemies=[(1, 104, -1)]), 0) == FIRE  # coming at it: wait


def test_seaquest_controller_beats_random(tmp_path, monkeypatch):
    """1,000 steps of dt/Seaquest-v0 (reset seed 0): the controller scores several thousand (4,530 on 2026-12-06),
    the generation-1 dive-and-patrol script (inlined) and uniform random actions a few hundred at most."""
    from dt_experiments.suite.atari import seaquest_controller

    def old(ram, t):  # generation 1: surface at oxygen < 16, else dive to y 56+ firing, turning every 40 steps
        return 2 if ram[102] < 16 else 13 if ram[97] < 56 else 11 if (t // 40) % 2 == 0 else 12

    def play(policy):
        env = make_env("dt/Seaquest-v0")
        env.reset(seed=0)
        ale, total = env.unwrapped.ale, 0.0
        for t in range(1000):
            _, r, terminated, _, _ = env.step(policy(ale.getRAM(), t))
            total += r
            if terminated:
                break
        env.close()
        return total

    rng = np.random.default_rng(0)
    controller, script, random = play(seaquest_controller), play(old), play(lambda ram, t: int(rng.integers(18)))
    assert controller >= 2500 and script < 1000 and random < 1000, (controller, script, random)
    # a cache made by the generation-1 script is never read as the new data
    monkeypatch.setenv("DT_CACHE_DIR", str(tmp_path))
    assert builtin_datasets()["seaquest-mixed"].path(0, 5000) == tmp_path / "seaquest-mixed-steps5000-seed0-gen2.npz"
