"""Bad input to the benches' own options: seed counts, the report's protocol and root (one line naming the field or
path; nothing written)."""

from __future__ import annotations

import pytest

from dt_experiments.configs import GraphBenchConfig, KeyToDoorBenchConfig
from dt_experiments.paper.cli import ReportConfig
from dt_experiments.paper.config import PaperBenchConfig
from dt_experiments.paper.report import write_report


@pytest.mark.parametrize("field,value", [("seeds", -1), ("first_seed", -3)])
def test_paper_bench_seed_options_must_not_be_negative(field, value):
    with pytest.raises(ValueError, match=rf"PaperBenchConfig\.{field}={value} must be >= 0"):
        PaperBenchConfig(**{field: value})
    assert PaperBenchConfig(seeds=0).seeds == 0  # 0: the protocol's count


@pytest.mark.parametrize("cls", [GraphBenchConfig, KeyToDoorBenchConfig])
@pytest.mark.parametrize("field,value,expected", [("seeds", 0, ">= 1"), ("seeds", -1, ">= 1"), ("first_seed", -1, ">= 0")])
def test_small_bench_seed_options(cls, field, value, expected):
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.{field}={value} must be {expected}"):
        cls(**{field: value})


def test_report_refuses_an_unknown_protocol():
    with pytest.raises(ValueError, match=r"ReportConfig\.protocol='nope'; expected one of .*cpu-v2"):
        ReportConfig(protocol="nope")


def test_report_with_no_cells_refuses_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"--root .*nonexist: no finished cpu cells there or in the archive"):
        write_report(tmp_path / "nonexist", "cpu", out)
    assert not out.exists()


@pytest.mark.parametrize("build,named", [
    (lambda: KeyToDoorBenchConfig(eval_every=-5), r"KeyToDoorBenchConfig\.eval_every=-5 must be >= 0"),
    (lambda: KeyToDoorBenchConfig(cql_eval_every=-1), r"KeyToDoorBenchConfig\.cql_eval_every=-1 must be >= 0"),
    (lambda: GraphBenchConfig(selection_seeds=(0, 0)), r"GraphBenchConfig\.selection_seeds=\[0, 0\] repeats a seed"),
])
def test_small_bench_options(build, named):
    with pytest.raises(ValueError, match=named):
        build()


@pytest.mark.parametrize("field,value,named", [("gamma", 2.0, r"CQLConfig\.gamma=2\.0 must be a finite number > 0 and <= 1"),
                                               ("steps", 0, r"CQLConfig\.steps=0 must be a positive integer"),
                                               ("alpha", -1.0, r"CQLConfig\.alpha=-1\.0"),
                                               ("seed", -1, r"CQLConfig\.seed=-1 must be >= 0")])
def test_cql_settings_are_checked(field, value, named):
    from dt_experiments.cql import CQLConfig

    with pytest.raises(ValueError, match=named):
        CQLConfig(**{field: value})


def test_speed_bench_needs_a_repeat():
    from dt_experiments.configs import SpeedConfig

    with pytest.raises(ValueError, match=r"SpeedConfig\.repeats=0 must be >= 1"):
        SpeedConfig(repeats=0)


def test_suite_table_with_an_unknown_name_prints_no_header(dt):
    res = dt("suite", "table", "nope-dataset")
    assert res.returncode != 0 and "nope-dataset" in res.stderr and res.stdout == ""


def test_cpu_budget_options_with_the_full_protocol_are_refused(dt):
    """`--protocol full` has a fixed budget: a --cpu.* option (a reviewer's tiny budget) would be ignored and the
    published-size run started, so it is refused, naming the option group."""
    from conftest import assert_one_error

    res = dt("bench", "paper", "--protocol", "full", "--cpu.steps", "20", "--status")
    assert_one_error(res, "bench", "PaperBenchConfig.cpu is set (--cpu.* options)", "--protocol full")
    res = dt("bench", "paper", "--protocol", "full", "--atari_cpu.baseline-steps", "20", "--status")
    assert_one_error(res, "bench", "PaperBenchConfig.atari_cpu is set")
    assert PaperBenchConfig(protocol="full").protocol == "full"


def test_an_archive_that_is_a_file_is_refused_and_a_missing_one_is_warned_about(tmp_path, dt):
    from conftest import assert_one_error

    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    res = dt("bench", "paper", "--exp", "table2", "--datasets", "hopper-medium-replay", "--methods", "dt",
             "--root", tmp_path / "runs", "--archive", afile, "--status")
    assert_one_error(res, "bench", f"--archive {afile}: is a file")
    res = dt("bench", "paper", "--exp", "table2", "--datasets", "hopper-medium-replay", "--methods", "dt",
             "--root", tmp_path / "runs", "--archive", tmp_path / "nowhere", "--status")
    assert res.returncode == 0 and f"warning: no archive at {tmp_path / 'nowhere'}" in res.stderr


def test_a_dataset_of_the_other_family_and_zero_baseline_seeds_are_refused(dt):
    """Gym data under an Atari experiment (or the reverse) used to run the other family's protocol for it; a baseline
    seed count of 0 used to run no baseline at all. Both are one line naming the option."""
    from conftest import assert_one_error

    res = dt("bench", "paper", "--exp", "atari-table1", "--datasets", "hopper-medium-replay", "--status")
    assert_one_error(res, "bench", "--datasets", "hopper-medium-replay is gym data", "--exp atari-table1")
    res = dt("bench", "paper", "--exp", "table2", "--datasets", "hopper-medium", "breakout-mixed", "--status")
    assert_one_error(res, "bench", "--datasets", "breakout-mixed is Atari data", "--exp table2")
    res = dt("bench", "paper", "--exp", "table2", "--cpu.baseline-seeds", "0", "--status")
    assert_one_error(res, "bench", "ProtocolConfig.baseline_seeds=0 must be positive")
