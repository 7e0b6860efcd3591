"""The background queue's scripts (scripts/paper_cpu_runs.sh, atari_cpu_runs.sh, paper_baseline_check.sh) run for
hours unattended, one line after another; a line with a misspelt experiment, method or option fails only when its
turn comes, and a line whose datasets the experiment does not accept selects no cell and passes silently. Each
script is run here by bash itself, in a copy of the tree whose `.venv/bin/dt` only records its arguments (so every
loop, default and helper function expands as in a real sitting), and every recorded `dt bench paper` call goes
through the real parser and config, without running anything."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from decision_transformer.cli import build_parser
from decision_transformer.cli_args import from_args

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
QUEUE_SCRIPTS = ("paper_cpu_runs.sh", "atari_cpu_runs.sh", "paper_baseline_check.sh")
RECORDER = """#!/bin/sh
f=$(mktemp "$DT_CALLS/call.XXXXXX")
for a in "$@"; do printf '%s\\n' "$a"; done > "$f"
"""


def _cases(name: str) -> list[str]:
    """How the queue runs a script: paper_cpu_runs.sh whole (both lanes, then the tail sections); the others by each
    `SUB)` case label, and atari_cpu_runs.sh also with none (its default tables)."""
    labels = re.findall(r"^\s*([\w-]+)\)", (SCRIPTS / name).read_text(), re.M)
    return {"paper_cpu_runs.sh": [""], "atari_cpu_runs.sh": [""] + labels}.get(name, labels)


@functools.lru_cache(maxsize=None)
def _recorded_calls(name: str, sub: str, bf16: str = "1") -> tuple[tuple[str, ...], ...]:
    """The argument lists `scripts/NAME SUB` passes to `dt`, run by bash in a scratch tree with a recording `dt`
    (paper_cpu_runs.sh as on a CPU with native bf16 unless `bf16` is "0": PAPER_QUEUE_BF16)."""
    import tempfile

    tree = Path(tempfile.mkdtemp(prefix="queue-dry-run-"))
    try:
        shutil.copytree(SCRIPTS, tree / "scripts")
        (tree / "scripts" / "park_runs.py").write_text("")  # unpark: nothing parked here
        dt = tree / ".venv" / "bin" / "dt"
        dt.parent.mkdir(parents=True)
        dt.write_text(RECORDER)
        dt.chmod(0o755)
        calls = tree / "calls"
        calls.mkdir()
        args = ["bash", str(tree / "scripts" / name)] + ([sub] if sub else [])
        res = subprocess.run(args, env={**os.environ, "DT_CALLS": str(calls), "PAPER_QUEUE_BF16": bf16},
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0 and "FAILED" not in res.stderr, res.stderr  # the queue's ERR trap names a line
        out = []
        for f in sorted(calls.iterdir(), key=lambda p: p.stat().st_mtime_ns):
            out.append(tuple(f.read_text().splitlines()))
        return tuple(out)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


@functools.lru_cache(maxsize=1)
def _parser():
    return build_parser()


def _config(args: list[str]):
    from dt_experiments.paper.config import PaperBenchConfig

    return from_args(PaperBenchConfig, _parser().parse_args(args))


@pytest.mark.parametrize("name", QUEUE_SCRIPTS + ("gpu_cql.sh", "gpu_check.sh", "queue_lane_restart.sh"))
def test_queue_scripts_parse(name):
    path = SCRIPTS / name
    if not path.exists():
        pytest.skip(f"{name} is not in this checkout")
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("name", QUEUE_SCRIPTS)
def test_every_paper_call_is_a_valid_command_that_selects_cells(name):
    from dt_experiments.paper.methods import dataset_generation
    from dt_experiments.paper.names import experiment_cells, split_dataset

    calls = [c for sub in _cases(name) for c in _recorded_calls(name, sub)]
    assert calls, f"{name}: the dry run made no `dt` call (has its `paper` helper changed?)"
    for args in calls:
        assert args[:2] == ("bench", "paper"), args
        cfg = _config(list(args))  # unknown experiments, methods, protocols and options raise here
        cells = experiment_cells(cfg)
        assert cells, f"{name}: `dt {' '.join(args)}` selects no (dataset, method) cell"
        for dataset, _ in cells:
            dataset_generation(split_dataset(dataset)[0])  # a dataset that is not built in raises here


def test_the_dry_run_sees_every_queue_line():
    """Loops, defaults and helpers expand: the whole queue calls `dt` at least once per `paper` line (more through
    the scripts it calls), and the baseline check's peer-dt loop once per method with its helper's fixed options."""
    lines = len(re.findall(r"^\s*(?:JOBS=\S+ )?paper ", (SCRIPTS / "paper_cpu_runs.sh").read_text(), re.M))
    assert lines > 40 and len(_recorded_calls("paper_cpu_runs.sh", "")) > lines
    peer = _recorded_calls("paper_baseline_check.sh", "peer-dt")
    assert sorted(c[c.index("--methods") + 1] for c in peer) == ["d3rlpy-dt", "dt"]
    assert all({"--first-seed", "1000", "--selection-run"} <= set(c) for c in peer)


def test_without_native_bf16_the_queue_trains_only_what_d3rlpy_trains():
    """On a CPU that emulates bf16 (PAPER_QUEUE_BF16=0 stands in for its /proc/cpuinfo) every cell the queue starts
    is a d3rlpy method's, which trains in fp32: no transformer cell of the bf16 protocols is started there."""
    from dt_experiments.paper.names import D3RLPY_METHODS

    calls = _recorded_calls("paper_cpu_runs.sh", "", "0")
    assert len(calls) >= 4
    for call in calls:
        methods = call[call.index("--methods") + 1:]
        methods = methods[:next((i for i, a in enumerate(methods) if a.startswith("--")), len(methods))]
        assert methods and set(methods) <= set(D3RLPY_METHODS), call


def test_every_script_subcommand_the_queue_calls_exists():
    """`bash scripts/X.sh SUB ...` lines in the queue name a `SUB)` case of X.sh."""
    text = (SCRIPTS / "paper_cpu_runs.sh").read_text()
    calls = re.findall(r"bash scripts/(\w+\.sh) ([\w-]+)", text)
    assert calls
    for script, sub in calls:
        assert re.search(rf"^\s*{re.escape(sub)}\)", (SCRIPTS / script).read_text(), re.M), \
            f"paper_cpu_runs.sh calls `bash scripts/{script} {sub}`, which has no `{sub})` case"


def test_the_checks_catch_a_misspelt_method_or_dataset():
    """The checks above have teeth: a method or a dataset the harness does not know fails them."""
    from dt_experiments.paper.methods import dataset_generation

    with pytest.raises(ValueError, match="unknown"):
        _config(["bench", "paper", "--exp", "table2", "--datasets", "hopper-medium-replay", "--methods", "dt-stochatic"])
    with pytest.raises(ValueError, match="not built in"):
        dataset_generation("hoper-medium-replay")
