"""The DQN-replay reader on checkpoints written here in Dopamine's format: each field a gzipped `.npy` file
(`gzip.GzipFile` + `np.save`), `add_count` and `invalid_range` beside the `$store$_*` arrays, episodes led by
stack_size - 1 zero padding transitions, a circular buffer of small capacity that wraps."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from decision_transformer.data import DatasetError, load_dataset
from decision_transformer.data.formats import dqn_replay
from decision_transformer.data.formats.dqn_replay import load_dqn_replay, scan_checkpoint

CAPACITY = 50
STACK = 4
PAD = STACK - 1
FRAME = (84, 84)


# --------------------------------------------------------------------------- a Dopamine-like log
@dataclass(eq=False)
class Episode:
    frames: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    first: int  # add index of its first padding transition
    last: int  # add index of its terminal transition

    @property
    def step_indices(self) -> np.ndarray:
        return np.arange(self.first + PAD, self.last + 1)


class Log:
    """Every transition ever added to a Dopamine OutOfGraphReplayBuffer (padding included), in order; the
    buffer's state after `add_count` additions is then slot k % capacity = transition k for the last capacity k."""

    def __init__(self, lengths: list[int], seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        obs, act, rew, term = [], [], [], []
        self.episodes: list[Episode] = []
        for e, length in enumerate(lengths):
            first = len(term)
            obs += [np.zeros(FRAME, np.uint8)] * PAD
            act += [0] * PAD
            rew += [0.0] * PAD
            term += [0] * PAD
            frames = rng.integers(1, 256, (length,) + FRAME, dtype=np.uint8)
            actions = rng.integers(0, 18, length)
            rewards = rng.choice([0.0, 1.0, 4.0, -2.5, 10.0], length)  # raw: must not come back clipped
            obs += list(frames)
            act += actions.tolist()
            rew += rewards.tolist()
            term += [0] * (length - 1) + [1]
            self.episodes.append(Episode(frames, actions, rewards, first, len(term) - 1))
        self.obs, self.act = np.stack(obs), np.array(act, np.int32)
        self.rew, self.term = np.array(rew, np.float32), np.array(term, np.uint8)
        # Leave the last episode unfinished: drop its terminal flag (Dopamine has not written it yet).
        self.term[-1] = 0

    def invalid_range(self, add_count: int) -> np.ndarray:
        cursor = add_count % CAPACITY  # Dopamine's invalid_range(cursor, capacity, stack_size, update_horizon=1)
        return np.array([(cursor - 1 + i) % CAPACITY for i in range(STACK + 1)])

    def save(self, directory: Path, n: int, add_count: int, *, stored_add_count: int | None = None,
             invalid_range: np.ndarray | None = None, drop: tuple[str, ...] = (), **override) -> None:
        rng = np.random.default_rng(1000 + n)
        store = {  # np.empty in Dopamine: unwritten slots hold garbage, terminal flags included
            "observation": rng.integers(0, 256, (CAPACITY,) + FRAME, dtype=np.uint8),
            "action": rng.integers(0, 18, CAPACITY).astype(np.int32),
            "reward": rng.normal(size=CAPACITY).astype(np.float32),
            "terminal": rng.integers(0, 2, CAPACITY).astype(np.uint8),
        }
        for k in range(max(0, add_count - CAPACITY), add_count):
            for name, src in (("observation", self.obs), ("action", self.act), ("reward", self.rew), ("terminal", self.term)):
                store[name][k % CAPACITY] = src[k]
        files = {f"$store$_{name}": arr for name, arr in store.items()}
        files["add_count"] = np.array(add_count if stored_add_count is None else stored_add_count)
        files["invalid_range"] = self.invalid_range(add_count) if invalid_range is None else invalid_range
        files.update(override)
        directory.mkdir(parents=True, exist_ok=True)
        for name, arr in files.items():
            if name in drop:
                continue
            with open(directory / f"{name}_ckpt.{n}.gz", "wb") as f, gzip.GzipFile(fileobj=f, mode="wb") as out:
                np.save(out, arr, allow_pickle=False)

    def expected(self, add_count: int) -> list[Episode]:
        """Whole episodes known to be whole: finished, their preceding terminal (or the buffer's start) still in the
        buffer, and no step in invalid_range."""
        invalid = set(self.invalid_range(add_count).tolist())
        keep = []
        for ep in self.episodes:
            finished = ep.last < add_count and self.term[ep.last] == 1
            start_known = add_count < CAPACITY or ep.first - 1 >= add_count - CAPACITY
            clear = not invalid & set((ep.step_indices % CAPACITY).tolist())
            if finished and start_known and clear:
                keep.append(ep)
        return keep


def assert_episodes(dataset, episodes: list[Episode]) -> None:
    assert dataset.num_episodes == len(episodes)
    assert dataset.observations.dtype == np.uint8 and dataset.observation_shape == FRAME
    assert dataset.actions.dtype == np.int64 and dataset.rewards.dtype == np.float32
    assert not dataset.truncations.any()
    for i, ep in enumerate(episodes):
        got = dataset.episode(i)
        np.testing.assert_array_equal(got.observations, ep.frames)
        np.testing.assert_array_equal(got.actions, ep.actions)
        np.testing.assert_array_equal(got.rewards, ep.rewards.astype(np.float32))
        assert got.terminations[-1] and not got.terminations[:-1].any()


LENGTHS = [5, 7, 3, 8, 4, 6, 2, 9, 5, 3, 7, 4, 6, 8, 3, 5, 4, 7, 6, 5] * 2  # 40 episodes, 334 transitions


@pytest.fixture(autouse=True)
def small_read_chunks(monkeypatch):
    """Stream observations 7 frames at a time, so that reads cross chunk boundaries as on 1M-slot buffers."""
    monkeypatch.setattr(dqn_replay, "_STREAM_BYTES", 7 * 84 * 84)


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(LENGTHS)


def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "Breakout" / "1" / "replay_logs"


# --------------------------------------------------------------------------- tests
def test_unwrapped_buffer_starts_at_slot_zero(tmp_path, log):
    d = run_dir(tmp_path)
    log.save(d, 0, add_count=37)  # mid-episode; slots 37..49 are garbage with random terminal flags
    expected = log.expected(37)
    assert [log.episodes.index(e) for e in expected] == [0, 1, 2, 3]  # episode 4 is unfinished
    ds = load_dqn_replay(d)
    assert_episodes(ds, expected)
    assert ds.env_id == "dt/Breakout-v0" and ds.reward_scale == 1.0 and ds.name == "dqn-replay-breakout"
    assert ds.rewards.max() == 10.0 and ds.rewards.min() == -2.5  # raw rewards, not clipped
    assert ds.reward_clip == 0.0  # rewards outside [-1, 1]: not a clipped log


def test_clipped_logs_make_runs_that_decrement_by_clipped_rewards(tmp_path):
    import dataclasses

    from decision_transformer.checkpoint import RunMeta
    from decision_transformer.data.preprocess import Preprocessing
    from decision_transformer.data.trajectories import TrajectoryDataset

    d = run_dir(tmp_path)
    clipped = Log(LENGTHS)  # (the fixture is shared: a fresh log)
    clipped.rew = np.clip(clipped.rew, -1, 1)  # as Dopamine stores them
    clipped.save(d, 0, add_count=37)
    ds = load_dqn_replay(d)
    assert ds.reward_clip == 1.0
    back = TrajectoryDataset.load(ds.save(tmp_path / "ds.npz"))
    assert back.reward_clip == 1.0  # kept by the native format
    prep = Preprocessing.fit(back)
    meta = RunMeta(model_kind="dt", model_config={}, state_dim=[4, 84, 84], act_dim=4, **prep.meta_fields())
    assert meta.reward_clip == 1.0
    # raw env rewards 4 (a Breakout brick), -3, 0.5: the return-to-go drops by 1, -1, 0.5, as in the data
    np.testing.assert_allclose(prep.return_decrement(np.array([4.0, -3.0, 0.5])), [1.0, -1.0, 0.5])
    assert dataclasses.replace(prep, reward_clip=0.0).return_decrement(np.array([4.0]))[0] == 4.0
    with pytest.raises(DatasetError, match="reward_clip"):
        dataclasses.replace(back, reward_clip=-1.0)


def test_wrapped_buffer_drops_partial_first_and_unfinished_last(tmp_path, log):
    d = run_dir(tmp_path)
    add_count = 2 * CAPACITY + 13  # wrapped twice; oldest slot 13 holds transition 63
    log.save(d, 1, add_count=add_count)
    expected = log.expected(add_count)
    ids = [log.episodes.index(e) for e in expected]
    oldest = add_count - CAPACITY
    partial = [i for i, e in enumerate(log.episodes) if e.first < oldest <= e.last]
    unfinished = [i for i, e in enumerate(log.episodes) if e.first < add_count <= e.last]
    assert partial and partial[0] not in ids and unfinished and unfinished[0] not in ids
    assert ids == list(range(partial[0] + 1, unfinished[0]))
    assert_episodes(load_dqn_replay(d), expected)
    scan = scan_checkpoint(d, 1)
    assert scan.capacity == CAPACITY and scan.add_count == add_count
    # Even with nothing in invalid_range, the oldest piece is dropped: the terminal before it was overwritten.
    log.save(d, 1, add_count=add_count, invalid_range=np.array([], np.int64))
    assert_episodes(load_dqn_replay(d), expected)


def test_episodes_over_invalid_range_are_dropped(tmp_path, log):
    d = run_dir(tmp_path)
    # Save right after a terminal: the newest episode is finished but its last step is slot cursor - 1,
    # which invalid_range covers.
    ep = next(e for e in log.episodes if e.last + 1 > 2 * CAPACITY)
    add_count = ep.last + 1
    log.save(d, 2, add_count=add_count)
    ids = [log.episodes.index(e) for e in log.expected(add_count)]
    assert log.episodes.index(ep) not in ids
    ds = load_dqn_replay(d)
    assert_episodes(ds, log.expected(add_count))
    # An invalid_range over a middle episode's step drops that one episode only.
    middle = log.episodes[ids[1]]
    invalid = np.array([middle.step_indices[2] % CAPACITY])
    log.save(d, 2, add_count=add_count, invalid_range=invalid)
    got = load_dqn_replay(d)
    assert got.num_episodes == ds.num_episodes  # ep (newest) is back, middle is gone
    assert_episodes(got, [log.episodes[i] for i in ids if i != ids[1]] + [ep])


def test_end_of_training_log_keeps_the_piece_before_slot_zero_only_if_whole(tmp_path, log):
    # batch_rl's log_final_buffer stores add_count = cursor: it looks unwrapped, but slot 0 may be mid-episode.
    d = run_dir(tmp_path)
    seen = set()
    for rounds in range(1, 6):
        real = rounds * CAPACITY + 40
        log.save(d, 3, add_count=real, stored_add_count=real % CAPACITY, invalid_range=log.invalid_range(real))
        at_zero = next(e for e in log.episodes if e.first <= rounds * CAPACITY <= e.last)
        whole = at_zero.first == rounds * CAPACITY  # slot 0 is its first padding transition
        seen.add(whole)
        expected = [e for e in log.episodes if rounds * CAPACITY <= e.first and e.last < real - 1]
        assert (at_zero in expected) == whole
        assert_episodes(load_dqn_replay(d), expected)
    assert seen == {True, False}


def test_two_checkpoints_per_buffer_count_and_budget(tmp_path, log):
    d = run_dir(tmp_path)
    log.save(d, 0, add_count=37)
    log.save(d, 1, add_count=2 * CAPACITY + 13)
    by_frame = {ep.frames[0].tobytes(): ep for ep in log.episodes}
    in_ckpt = {0: log.expected(37), 1: log.expected(2 * CAPACITY + 13)}

    def origins(ds):
        return [next(n for n, eps in in_ckpt.items() if by_frame[ds.episode(i).observations[0].tobytes()] in eps)
                for i in range(ds.num_episodes)]

    every = load_dqn_replay(d)
    assert every.num_episodes == len(in_ckpt[0]) + len(in_ckpt[1])
    two = load_dqn_replay(d, trajectories_per_buffer=2, seed=3)
    assert sorted(origins(two)) == [0, 0, 1, 1]
    for i in range(two.num_episodes):  # whole, exact episodes
        ep = by_frame[two.episode(i).observations[0].tobytes()]
        np.testing.assert_array_equal(two.episode(i).observations, ep.frames)
    assert load_dqn_replay(d, trajectories_per_buffer=2, seed=3).num_steps == two.num_steps  # seeded
    last = load_dqn_replay(d, buffers=1)
    assert set(origins(last)) == {1} and last.num_episodes == len(in_ckpt[1])
    for budget in (9, 20, 31):
        ds = load_dqn_replay(d, max_transitions=budget, seed=1)
        assert ds.num_steps <= budget and ds.num_episodes >= 1
        assert all(by_frame[ds.episode(i).observations[0].tobytes()] for i in range(ds.num_episodes))
        assert len(ds.observations) == ds.num_steps
    with pytest.warns(UserWarning, match="fewer than max_transitions"):
        assert load_dqn_replay(d, max_transitions=10_000).num_steps == every.num_steps
    with pytest.raises(DatasetError, match="smaller than the first episode"):
        load_dqn_replay(d, max_transitions=1, buffers=[0])


def test_truncation_at_the_step_cap(tmp_path, log):
    d = run_dir(tmp_path)
    log.save(d, 0, add_count=37)
    ds = load_dqn_replay(d, max_episode_steps=7)  # episode 1 has 7 steps: Dopamine's cap, not a game over
    assert ds.truncations.tolist().count(True) == 1 and ds.episode(1).truncations[-1]
    assert not ds.episode(1).terminations.any() and ds.terminations.sum() == 3


def test_src_form_and_cli_info(tmp_path, log, capsys):
    from decision_transformer.cli import main

    d = run_dir(tmp_path)
    log.save(d, 0, add_count=37)
    log.save(d, 1, add_count=2 * CAPACITY + 13)
    ds = load_dataset(f"dqn-replay:{d}")
    assert ds.num_episodes == load_dqn_replay(d).num_episodes
    assert load_dataset(f"dqn-replay:{d.parent}").num_steps == ds.num_steps  # the run directory works too
    assert main(["data", "info", f"dqn-replay:{d}"]) == 0
    out = capsys.readouterr().out
    assert "dt/Breakout-v0" in out and str(ds.num_steps) in out


def test_errors_name_file_field_and_expectation(tmp_path, log):
    d = tmp_path / "game"
    with pytest.raises(DatasetError, match="no such directory"):
        load_dqn_replay(d)
    d.mkdir()
    with pytest.raises(DatasetError, match=r"no DQN-replay checkpoint files; expected \$store\$_observation"):
        load_dqn_replay(d)
    log.save(d, 0, add_count=37, drop=("$store$_reward",))
    with pytest.raises(DatasetError, match=r"reward_ckpt\.0\.gz: missing file \(field 'reward' of checkpoint 0\)"):
        load_dqn_replay(d)
    log.save(d, 0, add_count=37, **{"$store$_observation": np.zeros((CAPACITY, 84, 83), np.uint8)})
    with pytest.raises(DatasetError, match=r"observation_ckpt\.0\.gz: field 'observation' has shape \(50, 84, 83\).*expected \(capacity, 84, 84\) uint8"):
        load_dqn_replay(d)
    log.save(d, 0, add_count=37, **{"$store$_action": np.zeros(CAPACITY - 1, np.int32)})
    with pytest.raises(DatasetError, match=r"action_ckpt\.0\.gz: field 'action' has shape \(49,\).*expected \(50,\)"):
        load_dqn_replay(d)
    log.save(d, 0, add_count=7)  # inside the first episode: nothing whole yet
    with pytest.raises(DatasetError, match="checkpoint 0 .*holds no whole episode"):
        load_dqn_replay(d)
    log.save(d, 0, add_count=37)
    with pytest.raises(DatasetError, match="zero padding"):
        load_dqn_replay(d, stack_size=5)
    with pytest.raises(DatasetError, match="blank frame like Dopamine's padding"):
        load_dqn_replay(d, stack_size=2)
    with pytest.raises(DatasetError, match=r"no checkpoint\(s\) \[5\]"):
        load_dqn_replay(d, buffers=[5])
    (d / "$store$_terminal_ckpt.0.gz").write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match=r"terminal_ckpt\.0\.gz: field 'terminal' is not a readable gzipped \.npy"):
        load_dqn_replay(d)
