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
