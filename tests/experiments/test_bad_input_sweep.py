"""Bad sweep input: a jobs.json checked against its schema (`sweep_spec.load_jobs`, `Job`) and the sweep's own
options. Each case: exit 2, one `dt sweep: error:` line naming the file and the job or field; no job runs."""

from __future__ import annotations

import json

import pytest

from conftest import assert_one_error
from decision_transformer.common.runtime import cpu_count
from dt_experiments.sweep import Job, load_jobs

JOB = {"name": "a", "argv": ["data", "list"]}
SPEC_CASES = {
    "a list of numbers": ("[1]", ["job 0", "expected an object"]),
    "argv a string": (json.dumps([{"name": "a", "argv": "train --steps 3"}]), ["job 0", "'argv'", "list of arguments"]),
    "cmd a string": (json.dumps([{"name": "a", "cmd": "echo hi"}]), ["job 0", "'cmd'"]),
    "argv nested": (json.dumps([{"name": "a", "argv": [["train"]]}]), ["job 0", "'argv'"]),
    "argv with a boolean": (json.dumps([{"name": "a", "argv": ["train", True]}]), ["job 0", "'argv'"]),
    "not JSON": ('[{"name": "a",\n "argv": [}', ["not valid JSON", "line 2"]),
    "null": ("null", ["expected a list of jobs"]),
    "jobs not a list": (json.dumps({"jobs": 5}), ["expected a list of jobs"]),
    "an object without jobs": (json.dumps({"name": "a"}), ["expected a list of jobs"]),
    "no name": (json.dumps([{"argv": ["data", "list"]}]), ["job 0", "no 'name'"]),
    "name a number": (json.dumps([{"name": 5, "argv": ["data", "list"]}]), ["job 0", "name 5"]),
    "name a path": (json.dumps([{"name": "../a", "argv": ["data", "list"]}]), ["job 0", "'../a'"]),
    "unknown key": (json.dumps([{**JOB, "argvs": []}]), ["job 0", "unknown keys", "argvs"]),
    "argv and cmd": (json.dumps([{**JOB, "cmd": ["echo"]}]), ["job 0", "exactly one of argv"]),
    "neither argv nor cmd": (json.dumps([{"name": "a"}]), ["job 0", "exactly one of argv"]),
    "env a list": (json.dumps([{**JOB, "env": ["A=1"]}]), ["job 0", "'env'"]),
    "env value an object": (json.dumps([{**JOB, "env": {"A": {"B": 1}}}]), ["job 0", "'env'"]),
    "a job after a good one": (json.dumps([JOB, 7]), ["job 1"]),
    "duplicate names": (json.dumps([JOB, JOB]), ["duplicate job names", "'a'"]),
    "no jobs": ("[]", ["no jobs", "one or more"]),
}


@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_a_bad_jobs_file_names_the_file_and_the_job(tmp_path, dt, case):
    text, named = SPEC_CASES[case]
    spec = tmp_path / "jobs.json"
    spec.write_text(text)
    res = dt("sweep", "run", spec, "--out", tmp_path / "out", "--no-progress")
    line = assert_one_error(res, "sweep", *named)
    assert str(spec) in line
    assert not (tmp_path / "out" / "a").exists()  # no job ran


def test_dry_run_refuses_what_the_run_would_refuse(tmp_path, dt):
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([JOB, JOB]))
    assert_one_error(dt("sweep", "run", spec, "--dry-run"), "sweep", "duplicate job names", str(spec))
    res = dt("sweep", "grid", "--base", "data list", "--vary", "seed=1,1", "--out", tmp_path / "grid", "--dry-run")
    assert_one_error(res, "sweep", "duplicate job names")


def test_a_missing_jobs_file(tmp_path, dt):
    assert_one_error(dt("sweep", "run", tmp_path / "nope.json"), "sweep", "nope.json")


@pytest.mark.parametrize("flags,named", [(["--jobs", "0"], "jobs=0"), (["--threads-per-job", "-1"], "threads_per_job=-1"),
                                         (["--threads-per-job", str(cpu_count() + 1)], "CPU core(s)")])
def test_bad_sweep_options(tmp_path, dt, flags, named):
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([JOB]))
    assert_one_error(dt("sweep", "run", spec, *flags), "sweep", "SweepOptions", named)


def test_job_and_load_jobs_refuse_the_same_in_python(tmp_path):
    with pytest.raises(ValueError, match="'argv'"):
        Job("a", "train --steps 3")  # would have been split into characters
    spec = tmp_path / "jobs.json"
    spec.write_text("[1]")
    with pytest.raises(ValueError, match="job 0"):
        load_jobs(spec)
    spec.write_text(json.dumps({"jobs": [{"name": "a", "argv": ["train", "--steps", 3]}]}))
    assert load_jobs(spec)[0].argv == ("train", "--steps", "3")  # numbers are arguments too


@pytest.mark.parametrize("address,named", [("localhost:99999", "port in 1-65535"), ("nonsense", "expected HOST:PORT"),
                                           ("127.0.0.1:1", "no Ray head answering")])
def test_a_ray_address_is_checked_before_ray_retries_it_for_minutes(address, named):
    from dt_experiments.ray_backend import check_ray_address

    with pytest.raises(ValueError, match=named):
        check_ray_address(address, timeout_s=1.0)
    for fine in ("", "auto", "local", "ray://10.0.0.1:10001"):  # Ray's to resolve
        check_ray_address(fine)


def _train_job(name, out, *extra):
    return {"name": name, "argv": ["train", "--dataset", "pendulum-mixed", "--steps", "5", "--out", str(out), *extra]}


def test_two_train_jobs_with_one_out_are_refused_before_either_runs(tmp_path, dt):
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([_train_job("a", tmp_path / "shared", "--seed", "0"),
                                _train_job("b", tmp_path / "shared", "--seed", "1")]))
    for extra in ([], ["--dry-run"]):
        line = assert_one_error(dt("sweep", "run", spec, "--out", tmp_path / "sw", "--no-progress", *extra), "sweep",
                                "'a'", "'b'", "--out", "own run directory")
        assert str(tmp_path / "shared") in line
    assert not (tmp_path / "shared").exists() and not (tmp_path / "sw" / "a").exists()


def test_a_run_the_job_did_not_start_is_not_resumed(tmp_path, dt):
    """A checkpoint already at a job's --out (another run, an earlier experiment) would be resumed as the job's own
    and the job marked done: refused, naming the job and the run; the run is left as it was."""
    old = tmp_path / "oldrun"
    (old / "checkpoints" / "step_00000100").mkdir(parents=True)
    (old / "checkpoints" / "latest").write_text("step_00000100")
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([_train_job("bcjob", old, "--model", "bc")]))
    line = assert_one_error(dt("sweep", "run", spec, "--out", tmp_path / "sw", "--no-progress"), "sweep",
                            "'bcjob'", "did not start", "another --out")
    assert str(old) in line
    assert sorted(p.name for p in old.rglob("*")) == ["checkpoints", "latest", "step_00000100"]
    assert not (tmp_path / "sw" / "bcjob").exists()


@pytest.mark.parametrize("vary,named", [
    ("seed=0,a", ["'seed-a'", "--seed", "invalid int value: 'a'"]),
    ("sed=0,1", ["'sed-0'", "unrecognized arguments: --sed 0"]),
    ("scale-actions=true", ["'scale-actions-true'", "unrecognized arguments: true"]),
])
def test_a_vary_value_the_cli_refuses_fails_the_sweep_before_any_job(tmp_path, dt, vary, named):
    for extra in ([], ["--dry-run"]):
        res = dt("sweep", "grid", "--base", "train --dataset pendulum-mixed --steps 5", "--vary", vary,
                 "--out", tmp_path / "grid", "--no-progress", *extra)
        line = assert_one_error(res, "sweep", *named)
        assert "usage:" not in res.stderr and "is refused by the CLI" in line
    assert not (tmp_path / "grid").exists() or not any((tmp_path / "grid").iterdir())


def test_bad_sweep_options_name_the_option(tmp_path, dt):
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([JOB]))
    assert_one_error(dt("sweep", "run", spec, "--jobs", "0"), "sweep", "SweepOptions.jobs=0; expected at least 1")
    res = dt("sweep", "run", spec, "--threads-per-job=-1")
    line = assert_one_error(res, "sweep", "SweepOptions.threads_per_job=-1; expected 0")
    assert "jobs=" not in line.replace("threads_per_job", "")


def test_an_out_that_is_a_train_run_or_holds_another_file_named_sweep_json_is_refused(tmp_path, dt):
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([JOB]))
    run = tmp_path / "run"
    (run / "checkpoints" / "step_00000001").mkdir(parents=True)
    (run / "checkpoints" / "latest").write_text("step_00000001")
    assert_one_error(dt("sweep", "run", spec, "--out", run, "--no-progress"), "sweep", str(run), "`dt train` run")
    assert not (run / "a").exists() and not (run / "sweep.json").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_one_error(dt("sweep", "run", spec, "--out", afile, "--no-progress"), "sweep", str(afile), "is a file")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "sweep.json").write_text('{"my": "notes"}')
    assert_one_error(dt("sweep", "run", spec, "--out", junk, "--no-progress"), "sweep",
                     str(junk / "sweep.json"), "not a sweep's record")
    assert (junk / "sweep.json").read_text() == '{"my": "notes"}' and not (junk / "a").exists()


def test_a_second_sweep_into_one_out_keeps_the_first_ones_jobs_in_the_record(tmp_path, dt):
    out = tmp_path / "sw"
    for names in (["a", "b"], ["c"]):
        spec = tmp_path / "jobs.json"
        spec.write_text(json.dumps([{"name": n, "argv": ["data", "list"]} for n in names]))
        assert dt("sweep", "run", spec, "--out", out, "--no-progress").returncode == 0
    record = json.loads((out / "sweep.json").read_text())
    assert [j["name"] for j in record["jobs"]] == ["c", "a", "b"]
    assert [j.name for j in load_jobs(out / "sweep.json")] == ["c", "a", "b"]  # still a valid spec
