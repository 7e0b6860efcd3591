"""dt sweep: parallel jobs, skip finished ones, resume unfinished ones, failures, interruption, thread budget."""

import json
import os
import signal
import sys
import threading
import time

import pytest

from dt_experiments.sweep import (Job, SweepInterrupted, grid_jobs, job_command, load_jobs, parse_vary,
                                        run_sweep)

TINY = ("--context-len 4 --embed-dim 16 --n-layer 1 --max-ep-len 100 --steps 5 --batch-size 8 --warmup-steps 2 "
        "--no-progress")


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_two_train_jobs_in_parallel_rerun_skips_them_and_resumes_an_unfinished_one(toy_npz, tmp_path):
    root = tmp_path / "sweep"
    jobs = grid_jobs(f"train --dataset {toy_npz} {TINY}", {"seed": [0, 1]}, root)
    assert [j.name for j in jobs] == ["seed-0", "seed-1"]
    result = run_sweep(jobs, root, jobs_parallel=2, threads_per_job=1, progress=False)
    assert result.ok, result.table()
    assert [r.status for r in result.results] == ["done", "done"]
    for job in jobs:
        run_dir = root / job.name  # the job directory is the run's --out
        assert (run_dir / "checkpoints" / "latest").is_file()
        assert json.loads((run_dir / "done.json").read_text())["returncode"] == 0
        saved = json.loads((run_dir / "train_config.json").read_text())["train"]
        assert saved["torch_threads"] == 1 and saved["seed"] == int(job.name[-1])  # the thread budget reached it
    summary = json.loads((root / "sweep.json").read_text())
    assert summary["counts"] == {"done": 2} and not summary["interrupted"]

    # rerun: nothing runs; done.json and the logs are untouched (no new attempt)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for j in jobs
              for p in (root / j.name / "done.json", root / j.name / "stdout.log")}
    again = run_sweep(jobs, root, jobs_parallel=2, threads_per_job=1, progress=False)
    assert [r.status for r in again.results] == ["skipped", "skipped"] and again.ok
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before

    # a job killed after its checkpoint (no done.json) runs again, as `train --resume`
    (root / "seed-1" / "done.json").unlink()
    third = run_sweep(jobs, root, jobs_parallel=2, threads_per_job=1, progress=False).by_name()
    assert third["seed-0"].status == "skipped"
    assert third["seed-1"].status == "done" and third["seed-1"].resumed
    assert third["seed-1"].command[-5:] == ["train", "--resume", str(root / "seed-1"), "--steps", "5"]
    assert (root / "seed-1" / "done.json").is_file()
    assert (root / "seed-1" / "stdout.log").read_text().count("# sweep:") == 2  # two attempts logged


def test_failing_job_is_reported_with_exit_code_and_the_others_finish(dt, tmp_path):
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps({"jobs": [
        {"name": "bad", "argv": ["train", "--dataset", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "bad")]},
        {"name": "ok", "cmd": py("print('fine')")},
    ]}))
    res = dt("sweep", "run", spec, "--jobs", "2", "--no-progress")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "bad failed (exit 2)" in res.stdout and "missing.npz" in res.stdout
    jobs = {j["name"]: j for j in json.loads((tmp_path / "sweep.json").read_text())["jobs"]}
    assert jobs["bad"]["status"] == "failed" and jobs["bad"]["returncode"] == 2
    assert "missing.npz" in jobs["bad"]["stderr_tail"]
    assert json.loads((tmp_path / "bad" / "failed.json").read_text())["returncode"] == 2
    assert jobs["ok"]["status"] == "done" and (tmp_path / "ok" / "stdout.log").read_text().endswith("fine\n")


def test_threads_per_job_reaches_the_child_environment(tmp_path):
    show = "import os; print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
    jobs = [Job("budget", cmd=py(show)), Job("own", cmd=py(show), env={"OMP_NUM_THREADS": "1"})]
    result = run_sweep(jobs, tmp_path, jobs_parallel=2, threads_per_job=3, progress=False)
    assert result.ok
    last_line = lambda name: (tmp_path / name / "stdout.log").read_text().splitlines()[-1]
    assert last_line("budget") == "3 3"
    assert last_line("own") == "1 3"  # a job's own env wins


def test_sigterm_stops_running_jobs_and_a_rerun_finishes_them(tmp_path):
    # the job sleeps until killed on its first attempt and succeeds on the next one
    marker, pid_file = tmp_path / "marker", tmp_path / "pid"
    code = (f"import os, pathlib, time\nm = pathlib.Path({str(marker)!r})\nif m.exists(): raise SystemExit(0)\n"
            f"m.touch(); pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(60)")
    jobs = [Job("sleeper", cmd=py(code)), Job("later", cmd=py("pass"))]

    def terminate_when_started():
        deadline = time.monotonic() + 15
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)  # run_sweep's handler turns it into SweepInterrupted

    watcher = threading.Thread(target=terminate_when_started)
    watcher.start()
    with pytest.raises(SweepInterrupted) as info:
        run_sweep(jobs, tmp_path / "s", jobs_parallel=1, threads_per_job=1, progress=False, kill_timeout=5)
    watcher.join()
    assert info.value.signum == signal.SIGTERM
    with pytest.raises(ProcessLookupError):  # the child was terminated
        os.kill(int(pid_file.read_text()), 0)
    summary = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert summary["interrupted"]
    assert [j["status"] for j in summary["jobs"]] == ["interrupted", "pending"]
    assert summary["jobs"][0]["returncode"] == -signal.SIGTERM
    result = run_sweep(jobs, tmp_path / "s", jobs_parallel=1, threads_per_job=1, progress=False)
    assert [r.status for r in result.results] == ["done", "done"]


def test_grid_spec_files_and_resume_rule(dt, tmp_path):
    assert parse_vary(["seed=0,1", "model=dt,bc"]) == {"seed": ["0", "1"], "model": ["dt", "bc"]}
    with pytest.raises(ValueError):
        parse_vary(["seed"])
    jobs = grid_jobs("train --steps 5", {"seed": [0, 1], "context_len": [4]}, tmp_path)
    assert jobs[1] == Job("seed-1_context_len-4",
                          ["train", "--steps", "5", "--seed", "1", "--context-len", "4",
                           "--out", str(tmp_path / "seed-1_context_len-4")])
    with pytest.raises(ValueError, match="--out"):
        grid_jobs("train --out x", {"seed": [0]}, tmp_path)
    with pytest.raises(ValueError):
        Job("a/b", cmd=["true"])
    with pytest.raises(ValueError):
        Job("both", argv=["train"], cmd=["true"])

    # the CLI: repeated --vary accumulates
    res = dt("sweep", "grid", "--base", "train --steps 5", "--vary", "seed=0,1", "--vary", "model=dt,bc",
             "--out", tmp_path / "g", "--dry-run")
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 4 and "seed-1_model-bc: dt train" in res.stdout

    # resume rule: a train job whose --out holds a checkpoint continues it; a new one gets --torch-threads
    job = Job("r", ["train", "--steps", "7", "--no-progress", "--out", str(tmp_path / "run")])
    command, resumed = job_command(job, threads_per_job=2)
    assert not resumed and command[-2:] == ["--torch-threads", "2"]
    (tmp_path / "run" / "checkpoints" / "step_00000005").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "latest").write_text("step_00000005")
    command, resumed = job_command(job, threads_per_job=2)
    assert resumed and command[-5:] == ["train", "--resume", str(tmp_path / "run"), "--steps", "7"]

    # sweep.json is a spec file; a changed spec under the same name is refused before anything runs
    run_sweep([Job("x", cmd=py("pass"))], tmp_path / "s", progress=False)
    assert load_jobs(tmp_path / "s" / "sweep.json") == [Job("x", cmd=py("pass"))]
    with pytest.raises(ValueError, match="another spec"):
        run_sweep([Job("x", cmd=py("print(1)"))], tmp_path / "s", progress=False)
    # unless the caller's job directories are bookkeeping only: then the changed job starts afresh
    result = run_sweep([Job("x", cmd=py("print(1)"))], tmp_path / "s", progress=False, replace_changed=True)
    assert result.ok and [r.status for r in result.results] != ["skipped"]
    assert load_jobs(tmp_path / "s" / "sweep.json") == [Job("x", cmd=py("print(1)"))]
    assert (tmp_path / "s" / "x" / "stdout.log").read_text().splitlines()[-1] == "1"
