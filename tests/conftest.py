"""Shared test helpers and fixtures: a small hand-made dataset, and the `dt` CLI called in process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

# One OpenMP / MKL thread per test process (and its subprocesses) unless the caller sets another count: the tests
# are small, and where other jobs hold the cores, torch's default of a spinning thread per core made one test 17x
# slower (196 s against 11.5 s on the 2-core dev box, 2026-12-01). Set before anything imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from decision_transformer.data import Episode, TrajectoryDataset  # noqa: E402


def make_dataset(lengths=(3, 10, 30), obs_dim=2, act_dim=1, discrete=False, seed=0, **kw) -> TrajectoryDataset:
    """Episode i has observation (i, t) at step t (first obs_dim of them), reward i + 1 per step, random actions;
    even episodes end terminated, odd ones truncated."""
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


@pytest.fixture
def toy_npz(tmp_path) -> Path:
    """Four episodes (30, 50, 80, 20 steps), 2-dim observations, 1-dim actions, reward scale 10."""
    return make_dataset(lengths=(30, 50, 80, 20), obs_dim=2, act_dim=1, reward_scale=10.0, name="toy").save(tmp_path / "toy.npz")


@dataclass
class CLIResult:
    returncode: int
    stdout: str
    stderr: str


def run_dt(*args: str) -> CLIResult:
    """`dt ARGS...` in this process (no subprocess start-up): exit code and captured output."""
    from decision_transformer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse errors
            code = int(exc.code or 0)
    return CLIResult(code, out.getvalue(), err.getvalue())


def assert_one_error(res: CLIResult, command: str, *named: str) -> str:
    """A bad-input failure as the CLI reports it: exit 2, exactly one `dt COMMAND: error: ...` line on stderr (other
    lines may only be warnings), no traceback, and every string of `named` (a file, a field) in the error line."""
    lines = res.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith(f"dt {command}: error: ")]
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(errors) == 1 and all(": warning: " in line for line in lines if line not in errors), res.stderr
    assert "Traceback" not in res.stderr
    body = errors[0][len(f"dt {command}: error: "):]
    assert not re.match(r"dt [\w -]+: ", body), f"a second `dt ...:` prefix inside the error: {errors[0]}"
    for text in named:
        assert text in errors[0], (text, errors[0])
    return errors[0]


@pytest.fixture
def dt():
    """Call the CLI in process; asserts nothing (check `.returncode`)."""
    return run_dt


def kill_after(run_dir: Path, step: int) -> None:
    """What a kill leaves: checkpoints after `step` gone, `latest` naming step."""
    ckpts = run_dir / "checkpoints"
    for p in ckpts.glob("step_*"):
        if int(p.name.split("_")[1]) > step:
            shutil.rmtree(p)
    (ckpts / "latest").write_text(f"step_{step:08d}")


def edit_json(path: Path, change) -> None:
    """`change` edits the parsed JSON file at `path` in place (a test breaking a run's files)."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
