"""The background queue's scripts (scripts/paper_cpu_runs.sh, atari_cpu_runs.sh, paper_baseline_check.sh) run for
hours unattended, one line after another; a line with a misspelt experiment, method or option fails only when its
turn comes, and a line whose datasets the experiment does not accept selects no cell and passes silently. Check
every `paper ...` line through the real `dt bench paper` parser and config, without running anything."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from decision_transformer.cli import build_parser
from decision_transformer.cli_args import from_args

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
QUEUE_SCRIPTS = ("paper_cpu_runs.sh", "atari_cpu_runs.sh", "paper_baseline_check.sh")


def _logical_lines(text: str) -> list[str]:
    """The script's lines with backslash continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.split(" #")[0].strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _variables(lines: list[str]) -> dict[str, str]:
    return dict(m.groups() for line in lines if (m := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(\S+)", line)))


def _paper_calls(name: str) -> list[list[str]]:
    """The argument lists of the script's `paper ...` calls (after `JOBS=1` and the like), its $VARS expanded."""
    lines = _logical_lines((SCRIPTS / name).read_text())
    env = _variables(lines)
    calls = []
    for line in lines:
        words = line.split()
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]
        if not words or words[0] != "paper":
            continue
        expanded = re.sub(r"\$([A-Z][A-Z0-9_]*)", lambda m: env[m.group(1)], " ".join(words[1:]))
        args = [a for a in shlex.split(expanded.split(">")[0]) if a != "$@"]
        if not any("$" in a for a in args):  # a helper's own arguments ("$steps") are checked where it is called
            calls.append(args)
    return calls


@functools.lru_cache(maxsize=1)
def _parser():
    return build_parser()


def _config(args: list[str]):
    from dt_experiments.paper.config import PaperBenchConfig

    parsed = _parser().parse_args(["bench", "paper", "--root", "runs/paper", "--no-progress", *args])
    return from_args(PaperBenchConfig, parsed)


@pytest.mark.parametrize("name", QUEUE_SCRIPTS + ("gpu_cql.sh", "gpu_check.sh", "queue_lane_restart.sh"))
def test_queue_scripts_parse(name):
    path = SCRIPTS / name
    if not path.exists():
        pytest.skip(f"{name} is not in this checkout")
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("name", QUEUE_SCRIPTS)
def test_every_paper_line_is_a_valid_command_that_selects_cells(name):
    from dt_experiments.paper.methods import dataset_generation
    from dt_experiments.paper.names import experiment_cells, split_dataset

    calls = _paper_calls(name)
    assert calls, f"{name}: no `paper ...` lines found (has the script's helper been renamed?)"
    for args in calls:
        if name == "paper_baseline_check.sh":  # its `paper` helper sets the experiment
            args = ["--exp", "table2", *args]
        cfg = _config(args)  # unknown experiments, methods, protocols and options raise here
        cells = experiment_cells(cfg)
        assert cells, f"{name}: `paper {' '.join(args)}` selects no (dataset, method) cell"
        for dataset, _ in cells:
            dataset_generation(split_dataset(dataset)[0])  # a dataset that is not built in raises here


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
        _config(["--exp", "table2", "--datasets", "hopper-medium-replay", "--methods", "dt-stochatic"])
    with pytest.raises(ValueError, match="not built in"):
        dataset_generation("hoper-medium-replay")
