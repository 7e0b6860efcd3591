"""Bad DQN-replay logs: one file of a Dopamine-format checkpoint broken at a time (an `.npz` inside the `.gz`,
truncated, not gzip, a wrong shape or dtype, bad attributes). `dt data info dqn-replay:DIR` exits 2 with one
`dt data: error:` line naming the file and the field, never a traceback. (The Dopamine-like log is
tests/test_dqn_replay.py's.)"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_error
from decision_transformer.data import DatasetError
from decision_transformer.data.formats.dqn_replay import load_dqn_replay
from test_dqn_replay import CAPACITY, LENGTHS, Log

FIELDS = ["$store$_observation", "$store$_action", "$store$_reward", "$store$_terminal", "add_count", "invalid_range"]


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(LENGTHS[:8])


@pytest.fixture
def replay(tmp_path, log) -> Path:
    d = tmp_path / "Breakout" / "1" / "replay_logs"
    log.save(d, 0, add_count=37)
    return d


def gz(path: Path, payload: bytes) -> None:
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb") as out:
        out.write(payload)


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def field_label(name: str) -> str:
    return name.removeprefix("$store$_")


CASES = {}
for name in FIELDS:
    label = field_label(name)
    CASES[f"{label}: an .npz inside the .gz"] = (name, lambda p: gz(p, npz_bytes(x=np.zeros(3))), [f"'{label}'"])
    CASES[f"{label}: truncated"] = (name, lambda p: p.write_bytes(p.read_bytes()[:30]), [f"'{label}'"])
    CASES[f"{label}: not gzip"] = (name, lambda p: p.write_bytes(b"not gzip at all"), [f"'{label}'"])
CASES.update({
    "action: a pickled object array": ("$store$_action", lambda p: gz(p, npy_bytes(np.array([{}] * CAPACITY), True)),
                                       ["'action'"]),
    "reward: strings": ("$store$_reward", lambda p: gz(p, npy_bytes(np.array(["a"] * CAPACITY))), ["'reward'", "dtype"]),
    "terminal: too short": ("$store$_terminal", lambda p: gz(p, npy_bytes(np.zeros(3, np.uint8))), ["'terminal'", "(3,)"]),
    "observation: wrong frame": ("$store$_observation", lambda p: gz(p, npy_bytes(np.zeros((CAPACITY, 8, 8), np.uint8))),
                                 ["'observation'", "(50, 8, 8)"]),
    "add_count: negative": ("add_count", lambda p: gz(p, npy_bytes(np.array(-1))), ["'add_count'"]),
    "add_count: a float": ("add_count", lambda p: gz(p, npy_bytes(np.array(3.5))), ["'add_count'"]),
    "invalid_range: out of the buffer": ("invalid_range", lambda p: gz(p, npy_bytes(np.array([CAPACITY + 3]))),
                                         ["'invalid_range'"]),
    "a field missing": ("$store$_reward", lambda p: p.unlink(), ["'reward'", "missing"]),
})


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_checkpoint_file_names_the_file_and_field(replay, dt, case):
    name, breaks, named = CASES[case]
    path = replay / f"{name}_ckpt.0.gz"
    breaks(path)
    with pytest.raises(DatasetError):
        load_dqn_replay(replay)
    line = assert_one_error(dt("data", "info", f"dqn-replay:{replay}"), "data", *named)
    assert path.name in line


def test_an_npz_inside_the_gz_is_named_as_such(replay):
    gz(replay / "$store$_action_ckpt.0.gz", npz_bytes(action=np.zeros(CAPACITY, np.int32)))
    with pytest.raises(DatasetError, match=r"action_ckpt\.0\.gz: field 'action' holds an \.npz archive"):
        load_dqn_replay(replay)


def test_the_unbroken_log_loads(replay, dt):
    assert load_dqn_replay(replay).num_episodes > 0
    assert dt("data", "info", f"dqn-replay:{replay}").returncode == 0
