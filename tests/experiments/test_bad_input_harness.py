"""Bad input to the experiment harness: damaged run files of `dt bench paper` named in one line, a stale training
run reported by --status, --jobs below 1, and --vary items that would make wrong or clashing jobs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import assert_one_error
from dt_experiments.paper import cells as C
from dt_experiments.paper import methods as M
from dt_experiments.paper.config import QUICK
from dt_experiments.sweep import grid_jobs, parse_vary

MR = "hopper-medium-replay"


@pytest.fixture
def cell_plan(tmp_path):
    cfg = dataclasses.replace(QUICK, root=str(tmp_path / "runs"), exp="table2", datasets=(MR,), methods=("dt",),
                              seeds=1, progress=False)
    cell = C.list_cells(cfg)[0]
    return cfg, cell, C.plan(cfg, cell)


@pytest.mark.parametrize("text,named", [('{"dataset": "hop', "not valid JSON"), ("[1, 2]", "a list")])
def test_a_damaged_train_spec_is_named(cell_plan, text, named):
    cfg, cell, p = cell_plan
    p.path.mkdir(parents=True)
    (p.path / "train_spec.json").write_text(text)
    with pytest.raises(ValueError, match="train_spec.json") as err:
        M.prepare_run_dir(p.path, p.spec)
    assert named in str(err.value) and "\n" not in str(err.value)
    state = C.status(cfg)[0][1]
    assert state.startswith("damaged: ") and "train_spec.json" in state


@pytest.mark.parametrize("text,named", [('{"train_seconds": 1', "not valid JSON"), ('"x"', "a str"),
                                        ('{"finished": true, "train_seconds": "1"}', "'train_seconds'")])
def test_a_damaged_timing_file_is_named(tmp_path, text, named):
    (tmp_path / "timing.json").write_text(text)
    with pytest.raises(ValueError, match="timing.json") as err:
        M._train_time(tmp_path, lambda: 3.0, 1.0)
    assert named in str(err.value)


def test_timing_is_fixed_once_finished(tmp_path):
    assert M._train_time(tmp_path, lambda: 3.0, 1.0) == 3.0
    assert M._train_time(tmp_path, lambda: 9.0, 1.0) == 3.0


def test_status_reports_a_training_run_with_another_spec_as_stale(cell_plan):
    cfg, cell, p = cell_plan
    p.path.mkdir(parents=True)
    (p.path / "train_spec.json").write_text(json.dumps({**p.spec, "seed": 99}))
    state = C.status(cfg)[0][1]
    assert state.startswith("stale: ") and str(p.path) in state
    with pytest.raises(ValueError, match="other settings"):  # what the run itself says
        M.prepare_run_dir(p.path, p.spec)
    (p.path / "train_spec.json").write_text(json.dumps(p.spec))
    assert C.status(cfg)[0][1] == "not started"


@pytest.mark.parametrize("jobs", [0, -2])
def test_paper_jobs_below_one_are_refused(jobs, dt):
    with pytest.raises(ValueError, match=f"jobs={jobs}"):
        dataclasses.replace(QUICK, jobs=jobs)
    assert_one_error(dt("bench", "paper", "--jobs", str(jobs), "--status"), "bench", f"jobs={jobs}")


@pytest.mark.parametrize("items,named", [
    (["seed=0,,1"], "'seed=0,,1'"),
    (["seed=,"], "'seed=,'"),
    (["seed=1,"], "empty value"),
    (["batch_size=4", "batch-size=8"], "--batch-size"),
    (["seed=1", "seed=2"], "given twice"),
    (["=1"], "KEY=V1"),
])
def test_vary_refuses_empty_values_and_keys_that_set_one_flag(items, named):
    with pytest.raises(ValueError, match="--vary") as err:
        parse_vary(items)
    assert named in str(err.value)


@pytest.mark.parametrize("key", ["out", "resume", "--out"])
def test_vary_refuses_out_and_resume(tmp_path, key, dt):
    with pytest.raises(ValueError, match=f"--vary {key}"):
        grid_jobs("train --steps 5", {key: ["a", "b"]}, tmp_path)
    if not key.startswith("-"):  # (argparse reads `--vary --out=a,b` as two options)
        res = dt("sweep", "grid", "--base", "data list", "--vary", f"{key}=a,b", "--out", tmp_path / "grid", "--dry-run")
        assert_one_error(res, "sweep", "--vary", key)


def test_vary_still_makes_the_grid(tmp_path):
    vary = parse_vary(["seed=0,1", "context_len=4"])
    assert [j.name for j in grid_jobs("train", vary, tmp_path)] == ["seed-0_context_len-4", "seed-1_context_len-4"]
