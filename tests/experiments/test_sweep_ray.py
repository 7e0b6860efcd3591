"""dt sweep --backend ray: the job-to-task mapping (fast, a stand-in for ray), and a real local Ray cluster (slow)."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dt_experiments import ray_backend
from dt_experiments.sweep import Job, grid_jobs, run_sweep

from conftest import assert_one_error


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


class FakeRef:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args


class FakeRemote:
    def __init__(self, fake, fn, options):
        self.fake, self.fn, self.opts = fake, fn, options

    def options(self, **options):
        return FakeRemote(self.fake, self.fn, {**self.opts, **options})

    def remote(self, *args):
        self.fake.submitted.append((self.opts, args))
        return FakeRef(self.fn, args)


class FakeRay:
    """What run_sweep_ray uses of ray; a task runs (in this process) when its result is fetched."""

    def __init__(self, fail: str = ""):
        self.submitted, self.address, self.initialized, self.shut_down, self.fail = [], None, False, False, fail

    def is_initialized(self):
        return self.initialized

    def init(self, address=None, **kw):
        self.initialized, self.address = True, address

    def shutdown(self):
        self.initialized, self.shut_down = False, True

    def remote(self, fn):
        return FakeRemote(self, fn, {})

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if self.fail and ref.args[0]["name"] == self.fail:
            raise RuntimeError("node died 4 times")
        return ref.fn(*ref.args)

    def cancel(self, ref, force=False):
        pass


def test_jobs_become_ray_tasks_with_their_thread_budget_retries_command_and_output_dir(tmp_path, monkeypatch):
    assert ray_backend.task_options(2) == {"num_cpus": 2, "max_retries": 3, "retry_exceptions": False}
    assert ray_backend.task_options(0, max_retries=5)["num_cpus"] == 1  # threads left unset: still one CPU
    fake = FakeRay(fail="lost")
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(ray_backend, "check_ray_address", lambda address: None)  # no head at 10.0.0.1 here
    monkeypatch.chdir(tmp_path)
    show = "import os; print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
    jobs = [Job("a", cmd=py(show)), Job("b", cmd=py("raise SystemExit(3)")), Job("lost", cmd=py("pass"))]
    result = run_sweep(jobs, "out", jobs_parallel=2, threads_per_job=2, progress=False, backend="ray",
                       ray_address="10.0.0.1:6379")
    root = tmp_path / "out"
    assert fake.address == "10.0.0.1:6379" and fake.shut_down  # connected, and let go of the cluster after
    assert [opts for opts, _ in fake.submitted] == [{"num_cpus": 2, "max_retries": 3, "retry_exceptions": False}] * 3
    job, task_root, cwd, threads, _ = fake.submitted[0][1]
    assert job == jobs[0].to_dict() and task_root == str(root) and cwd == str(tmp_path) and threads == 2
    # the same job directories and records as the local backend
    by = result.by_name()
    assert by["a"].status == "done" and by["a"].command == py(show)
    assert (root / "a" / "stdout.log").read_text().splitlines()[-1] == "2 2"
    assert json.loads((root / "a" / "done.json").read_text())["command"] == py(show)
    assert json.loads((root / "a" / "job.json").read_text()) == jobs[0].to_dict()
    assert by["b"].status == "failed" and by["b"].returncode == 3
    assert json.loads((root / "b" / "failed.json").read_text())["returncode"] == 3
    assert by["lost"].status == "failed" and by["lost"].returncode == ray_backend.RAY_FAILED
    assert "node died 4 times" in json.loads((root / "lost" / "failed.json").read_text())["stderr_tail"]
    summary = json.loads((root / "sweep.json").read_text())
    assert summary["backend"] == "ray" and summary["counts"] == {"done": 1, "failed": 2}

    # a rerun skips the done job without a task; the others are tasks again
    fake.submitted.clear()
    fake.fail = ""
    again = run_sweep(jobs, "out", jobs_parallel=2, threads_per_job=2, progress=False, backend="ray")
    assert fake.address is None  # no --ray-address: Ray's default
    assert [a[0]["name"] for _, a in fake.submitted] == ["b", "lost"]
    assert again.by_name()["a"].status == "skipped" and again.by_name()["lost"].status == "done"


def test_a_retried_task_resumes_a_train_job_from_its_checkpoint(tmp_path, monkeypatch):
    # run_job is the task's body: after a lost node, a train job whose --out holds a checkpoint runs `train --resume`
    # (relative --out resolved in the driver's working directory); sys.executable -> echo, so nothing trains
    job = Job("r", ["train", "--steps", "7", "--out", "run"])
    (tmp_path / "run" / "checkpoints" / "step_00000005").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "latest").write_text("step_00000005")
    monkeypatch.setattr(sys, "executable", shutil.which("echo"))
    out = ray_backend.run_job(job.to_dict(), str(tmp_path / "sweep"), str(tmp_path), threads_per_job=1)
    assert out["returncode"] == 0 and out["resumed"]
    assert out["command"][-5:] == ["train", "--resume", "run", "--steps", "7"]
    log = (tmp_path / "sweep" / "r" / "stdout.log").read_text()
    assert log.startswith("# sweep: ") and " resume (ray worker " in log and log.endswith("train --resume run --steps 7\n")


def test_missing_ray_is_one_error_line_naming_the_extra_and_local_needs_no_ray(dt, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install 'decision-transformer[ray]'")):
        run_sweep([Job("x", cmd=py("pass"))], tmp_path / "r", progress=False, backend="ray")
    assert run_sweep([Job("x", cmd=py("pass"))], tmp_path / "l", progress=False).ok  # local: no ray
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps([{"name": "x", "cmd": py("pass")}]))
    assert_one_error(dt("sweep", "run", spec, "--backend", "ray", "--no-progress"), "sweep",
                     "decision-transformer[ray]")
    assert_one_error(dt("sweep", "run", spec, "--backend", "slurm"), "sweep", "backend")
    with pytest.raises(ValueError, match="backend"):
        run_sweep([], tmp_path, backend="slurm")


# ---------------------------------------------------------------------------------------------------- real Ray

TINY = ("--context-len 4 --embed-dim 16 --n-layer 1 --max-ep-len 100 --batch-size 8 --warmup-steps 2 --no-progress "
        "--torch-threads 1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _final(run_dir: Path) -> tuple[str, dict]:
    """The final checkpoint's name and the last metrics row (without timings)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last = {k: v for k, v in rows[-1].items() if "time" not in k and "per_s" not in k and not k.endswith("_s")}
    return (run_dir / "checkpoints" / "latest").read_text().strip(), last


@pytest.mark.slow
def test_real_local_ray_cluster_matches_local_backend_and_survives_a_killed_worker(toy_npz, tmp_path):
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip("ray is not installed (pip install 'decision-transformer[ray]')")
    temp = Path(tempfile.mkdtemp(prefix="dtray", dir="/tmp"))  # short: Ray's socket paths live under it
    port = _free_port()
    # loopback only: Ray turns --node-ip-address 127.0.0.1 into the machine's address unless clusters are "off"
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               RAY_agent_register_timeout_ms="180000")
    address = f"127.0.0.1:{port}"
    jobs = grid_jobs(f"train --dataset {toy_npz} {TINY} --steps 6 --save-every 3", {"seed": [0, 1]}, tmp_path / "l")
    local = run_sweep(jobs, tmp_path / "l", jobs_parallel=1, threads_per_job=1, progress=False)
    assert local.ok, local.table()

    def dt_sweep(spec: Path, out: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "decision_transformer.cli", "sweep", "run", str(spec), "--out",
                                 str(out), "--jobs", "2", "--threads-per-job", "1", "--backend", "ray",
                                 "--ray-address", address, "--no-progress"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    try:
        start = [str(ray_bin), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                 "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp)]
        for attempt in range(3):  # on a loaded machine Ray's agents may start too slowly for the raylet: again
            started = subprocess.run(start, env=env, timeout=300, capture_output=True, text=True)
            if started.returncode == 0:
                break
            subprocess.run([str(ray_bin), "stop", "--force"], env=env, timeout=120, capture_output=True)
        else:
            pytest.fail(f"ray start failed 3 times; last error:\n{started.stderr[-3000:]}")

        # 1. the same two jobs through Ray: the same done markers, final checkpoints and metrics
        spec = tmp_path / "same.json"
        spec.write_text(json.dumps([Job(j.name, [*j.argv[:-1], str(tmp_path / "r" / j.name)]).to_dict()
                                    for j in jobs]))
        proc = dt_sweep(spec, tmp_path / "r")
        output = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, output
        for j in jobs:
            local_done = json.loads((tmp_path / "l" / j.name / "done.json").read_text())
            ray_done = json.loads((tmp_path / "r" / j.name / "done.json").read_text())
            assert ray_done["returncode"] == local_done["returncode"] == 0 and not ray_done["resumed"]
            assert ray_done["command"][3:-1] == local_done["command"][3:-1]  # the same dt arguments but --out
            assert _final(tmp_path / "r" / j.name) == _final(tmp_path / "l" / j.name)
        assert json.loads((tmp_path / "r" / "sweep.json").read_text())["counts"] == {"done": 2}

        # 2. a job whose Ray worker is killed mid-run: the task is retried and resumes from the last checkpoint
        spec = tmp_path / "kill.json"
        long = [Job(f"long-{s}", ["train", "--dataset", str(toy_npz), *TINY.split(), "--steps", "1000",
                                  "--save-every", "20", "--seed", str(s), "--out", str(tmp_path / "k" / f"long-{s}")])
                for s in (0, 1)]
        spec.write_text(json.dumps([j.to_dict() for j in long]))
        proc = dt_sweep(spec, tmp_path / "k")
        victim = tmp_path / "k" / "long-0"
        deadline = time.monotonic() + 400
        while not (victim / "checkpoints" / "latest").is_file():
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the sweep ended"
            time.sleep(0.5)
        worker_pid = int(re.search(r"\(ray worker \S+ pid (\d+)\)", (victim / "stdout.log").read_text()).group(1))
        os.kill(worker_pid, signal.SIGKILL)
        output = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, output
        log = (victim / "stdout.log").read_text()
        assert log.count("# sweep:") == 2 and " resume (ray worker " in log, log
        done = json.loads((victim / "done.json").read_text())
        assert done["resumed"] and done["command"][-5:-2] == ["train", "--resume", str(victim)]
        assert (victim / "checkpoints" / "latest").read_text().strip().endswith("1000")
        assert (tmp_path / "k" / "long-1" / "done.json").is_file()
    finally:
        subprocess.run([str(ray_bin), "stop", "--force"], env=env, timeout=120, capture_output=True)
        shutil.rmtree(temp, ignore_errors=True)
