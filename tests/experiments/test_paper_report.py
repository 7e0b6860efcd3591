"""`dt bench report`'s intervals and aggregates (intervals.py, rliable) on known numbers, and its validated reading
of result.json cells (cellfile.py): a damaged cell is named in one line, left out, and never overwrites the
committed archive. Small synthetic cells made from a real archived one; no training."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dt_experiments.paper import intervals as I
from dt_experiments.paper.cellfile import CellError, read_cell
from dt_experiments.paper.markdown import aggregates_section
from dt_experiments.paper.report import load_cells

pytest.importorskip("rliable")

ARCHIVE = Path(__file__).resolve().parents[2] / "docs" / "results" / "cells"
MR, WMR = "hopper-medium-replay", "walker2d-medium-replay"


def template() -> dict:
    """A real archived table cell (its spec, data and timings), to edit into synthetic ones."""
    files = sorted(ARCHIVE.glob("cpu/table2/*/*/seed*/result.json"))
    assert files, ARCHIVE
    return json.loads(files[0].read_text())


def make_cell(base: dict, dataset: str, method: str, seed: int, score: float, exp: str = "table2",
              protocol: str = "cpu") -> dict:
    cell = copy.deepcopy(base)
    cell.pop("same_run_as", None)
    cell.update(exp=exp, dataset=dataset, method=method, seed=seed, protocol=protocol, score=score,
                score_d4rl=score, **{"return": 10.0 * score})
    cell["spec"].update(exp=exp, dataset=dataset, method=method, seed=seed, protocol=protocol)
    return cell


def cell_path(root: Path, cell: dict) -> Path:
    return (root / cell["protocol"] / cell["exp"] / cell["dataset"] / cell["method"] / f"seed{cell['seed']}"
            / "result.json")


def write_cell(root: Path, cell: dict) -> Path:
    path = cell_path(root, cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cell, indent=1) + "\n")
    return path


def test_cell_ci95_on_known_numbers():
    assert I.cell_ci95([37.5]) == [37.5, 37.5]  # one seed: no interval
    assert I.cell_ci95([None, 12.0]) == [12.0, 12.0] and I.cell_ci95([None]) is None and I.cell_ci95([]) is None
    assert I.cell_ci95([4.0, 4.0, 4.0]) == [4.0, 4.0]
    lo, hi = I.cell_ci95([30.0, 35.0, 40.5])
    assert 30.0 <= lo < np.mean([30.0, 35.0, 40.5]) < hi <= 40.5
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    I._mean_ci.cache_clear()
    assert I.cell_ci95([30.0, 35.0, 40.5]) == [lo, hi]  # a fixed seed: the same interval every time
    assert np.random.rand() == expected  # and the caller's global generator is left where it was


def test_iqm_and_probability_of_improvement_on_known_numbers():
    from rliable import metrics

    assert I.iqm(np.full((3, 2), 7.0)) == [7.0, 7.0, 7.0]
    rng = np.random.default_rng(0)
    x, y = 80 + rng.normal(0, 2, (3, 4)), 40 + rng.normal(0, 2, (3, 4))
    lo, mid, hi = I.iqm(x)
    assert lo <= mid <= hi and mid == pytest.approx(metrics.aggregate_iqm(x))
    lo, p, hi = I.probability_of_improvement(x, y)
    assert p == 1.0 and lo > 0.9  # one method dominates on every dataset
    assert I.probability_of_improvement(y, x)[1] == 0.0
    lo, p, hi = I.probability_of_improvement(x, x)  # the same runs: even, and resampling either side moves it
    assert lo < p == 0.5 < hi
    lo, p, hi = I.probability_of_improvement(x[:, :2], 80 + rng.normal(0, 2, (2, 2)))  # run counts may differ
    assert 0 <= lo <= p <= hi <= 1
    # the fast forms used inside the bootstrap are rliable's metrics (ties included)
    for _ in range(50):
        a = rng.integers(0, 4, (int(rng.integers(1, 5)), 3)).astype(float)
        b = rng.integers(0, 4, (int(rng.integers(1, 5)), 3)).astype(float)
        assert I.pairwise_improvement(a, b) == pytest.approx(metrics.probability_of_improvement(a, b))
        assert I.interquartile_mean(a) == pytest.approx(metrics.aggregate_iqm(a))


def test_aggregates_use_the_datasets_with_every_seed_and_any_method_name():
    e = lambda *scores: {"scores": list(scores)}  # noqa: E731
    per = {MR: {"dt": e(80.0, 82.0, 81.0), "bc": e(40.0, 41.0, 39.0), "d3rlpy-dt": e(60.0, None, 61.0)},
           WMR: {"dt": e(70.0, 71.0, 72.0), "bc": e(30.0, 31.0), "d3rlpy-dt": e(65.0, 66.0, 64.0)},
           "hopper-medium": {"bc": e(50.0, 51.0, 52.0)}}
    agg = I.aggregates(per, ["dt", "bc", "d3rlpy-dt"])
    assert set(agg) == {"iqm", "probability_of_improvement", "mean_difference", "n"}
    assert set(agg["iqm"]) == {"dt", "bc", "d3rlpy-dt"}
    assert set(agg["probability_of_improvement"]) == {"dt>bc", "dt>d3rlpy-dt"}
    n = agg["n"]
    assert n["iqm"]["dt"] == {"datasets": [MR, WMR], "seeds": 3}
    assert n["iqm"]["bc"] == {"datasets": [MR, "hopper-medium"], "seeds": 3}  # 2 of 3 seeds on walker2d
    assert n["iqm"]["d3rlpy-dt"] == {"datasets": [WMR], "seeds": 3}  # a None score is no seed
    assert n["probability_of_improvement"]["dt>bc"] == {"datasets": [MR], "seeds": {"dt": 3, "bc": 3}}
    assert n["probability_of_improvement"]["dt>d3rlpy-dt"]["datasets"] == [WMR]
    for lo, mid, hi in [*agg["iqm"].values(), *agg["probability_of_improvement"].values()]:
        assert lo <= mid <= hi
    assert agg["probability_of_improvement"]["dt>bc"][0] > 0.9
    assert I.aggregates({MR: {"bc": e(1.0)}}, ["bc"])["probability_of_improvement"] == {}  # no dt: no pairs


def test_report_has_intervals_and_aggregates(tmp_path, dt):
    base = template()
    root, out = tmp_path / "runs", tmp_path / "docs"
    for dataset, shift in ((MR, 0.0), (WMR, -10.0)):
        for seed in range(3):
            for method, score in (("dt", 80.0), ("bc", 40.0), ("d3rlpy-dt", 60.0)):
                write_cell(root, make_cell(base, dataset, method, seed, score + shift + seed))
    write_cell(root, make_cell(base, MR, "mlp-bc", 0, 55.0))  # one seed: the interval is [x, x]
    res = dt("bench", "report", "--root", root, "--out", out)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr == ""
    report = json.loads((out / "paper.json").read_text())
    table = report["experiments"]["table2"]
    for per in table.values():
        for e in per.values():
            lo, hi = e["ci95"]
            assert lo <= np.mean(e["scores"]) <= hi
    assert table[MR]["mlp-bc"]["ci95"] == [55.0, 55.0]
    agg = report["aggregates"]["table2"]
    assert set(agg["iqm"]) == {"dt", "bc", "mlp-bc", "d3rlpy-dt"}
    assert set(agg["probability_of_improvement"]) == {"dt>bc", "dt>mlp-bc", "dt>d3rlpy-dt"}
    assert agg["probability_of_improvement"]["dt>bc"][0] > 0.9
    assert agg["n"]["probability_of_improvement"]["dt>bc"] == {"datasets": [MR, WMR], "seeds": {"dt": 3, "bc": 3}}
    assert "aggregates" not in report["experiments"]["table2"]  # the EXP level holds only datasets
    md = (out / "paper.md").read_text()
    dt_mr = table[MR]["dt"]
    assert f"81.0 ± 1.0 [{dt_mr['ci95'][0]:.1f}, {dt_mr['ci95'][1]:.1f}] (n=3)" in md
    assert "55.0 ± — [55.0, 55.0] (n=1)" in md and "with one seed it is `[x, x]`" in md
    assert "| P(`dt` > `bc`) | 1.00 [1.00, 1.00] |" in md and "| IQM `d3rlpy-dt` |" in md
    assert (out / "paper_table2.png").stat().st_size > 1000
    assert len(list((out / "cells").rglob("result.json"))) == 19  # every valid cell archived


@pytest.mark.parametrize("damage", ["{broken", "{}", "[1, 2]", "seed"])
def test_a_damaged_local_cell_never_replaces_the_archived_one(tmp_path, damage):
    base = template()
    root, archive = tmp_path / "runs", tmp_path / "cells"
    good = make_cell(base, MR, "dt", 0, 81.0)
    kept = write_cell(archive, good)
    before = kept.read_bytes()
    local = cell_path(root, good)
    local.parent.mkdir(parents=True)
    local.write_text(json.dumps({**good, "seed": "0"}) if damage == "seed" else damage)
    other = write_cell(root, make_cell(base, MR, "dt", 1, 82.0))  # a valid local cell beside it
    messages: list[str] = []
    cells, written = load_cells(root, "cpu", archive, warn=messages.append)
    assert kept.read_bytes() == before  # the archived good copy is untouched
    assert written == 1 and cell_path(archive, json.loads(other.read_text())).read_bytes() == other.read_bytes()
    assert [(c["seed"], c["score"]) for c in cells] == [(0, 81.0), (1, 82.0)]  # the archived copy is used
    assert len(messages) == 1 and "\n" not in messages[0] and str(local) in messages[0]
    assert "its archived copy is used instead" in messages[0]
    reason = {"{broken": "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
              "{}": "field 'spec': missing (expected an object)",
              "[1, 2]": "expected a JSON object (a cell's result), got a list of 2",
              "seed": "field 'seed': expected an integer, got '0'"}[damage]
    assert messages[0].endswith(f"{local}: {reason}")


def test_report_completes_past_damaged_cells_local_and_archived(tmp_path, dt):
    base = template()
    root, out, archive = tmp_path / "runs", tmp_path / "docs", tmp_path / "cells"
    kept = write_cell(archive, make_cell(base, MR, "dt", 0, 81.0))
    before = kept.read_bytes()
    cell_path(root, make_cell(base, MR, "dt", 0, 0.0)).parent.mkdir(parents=True)
    cell_path(root, make_cell(base, MR, "dt", 0, 0.0)).write_text("{broken")
    damaged_archived = cell_path(archive, make_cell(base, MR, "bc", 0, 0.0))
    damaged_archived.parent.mkdir(parents=True)
    damaged_archived.write_text("[1, 2]")
    wrong_protocol = write_cell(root, make_cell(base, MR, "bc", 1, 40.0, protocol="full"))
    moved = cell_path(root, make_cell(base, MR, "bc", 1, 40.0))  # a cell of protocol 'full' under ROOT/cpu
    moved.parent.mkdir(parents=True)
    wrong_protocol.rename(moved)
    res = dt("bench", "report", "--root", root, "--out", out, "--archive", archive)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in res.stderr
    assert any(str(cell_path(root, make_cell(base, MR, "dt", 0, 0.0))) in line and "line 1 column 2" in line
               for line in lines)
    assert any(f"{damaged_archived}: expected a JSON object" in line for line in lines)
    assert any(f"{moved}: field 'protocol': expected 'cpu' (its directory), got 'full'" in line for line in lines)
    assert kept.read_bytes() == before and damaged_archived.read_text() == "[1, 2]"
    assert not cell_path(archive, make_cell(base, MR, "bc", 1, 40.0)).exists()
    report = json.loads((out / "paper.json").read_text())
    assert report["cells"] == 1 and report["experiments"]["table2"][MR]["dt"]["scores"] == [81.0]


def test_read_cell_accepts_every_archived_cell_and_names_what_is_wrong(tmp_path):
    files = sorted(ARCHIVE.glob("*/*/*/*/seed*/result.json"))
    assert files
    for f in files:
        assert read_cell(f)["seed"] == int(f.parent.name.removeprefix("seed"))
    base = template()
    path = tmp_path / "result.json"  # not under a seedK directory: no layout check
    cases = {
        "data": ({**base, "data": {"return_min": 0.0}}, "field 'data.return_max': missing (expected a number)"),
        "score": ({**base, "score": "high"}, "field 'score': expected a number or null, got 'high'"),
        "spec": ({**base, "spec": {**base["spec"], "budget": [1]}},
                 "field 'spec.budget': expected an object, got a list of 1"),
        "curve": ({**base, "curve": [[1, 2, 3]]}, "field 'curve': expected null or a list of [step, value] pairs"),
        "fig4": ({**base, "exp": "fig4", "targets": [1.0, 2.0, 3.0], "achieved": [1.0, 2.0], "pearson": None},
                 "field 'achieved': expected 3 numbers (one per target), got a list of 2"),
        "per_target": ({**base, "per_target": [{"target": None, "returns": [1.0], "return_mean": True, "scores": {}}]},
                       "field 'per_target[0].return_mean': expected a number, got true"),
    }
    for name, (cell, reason) in cases.items():
        path.write_text(json.dumps(cell))
        with pytest.raises(CellError) as info:
            read_cell(path)
        assert str(info.value).startswith(f"{path}: {reason}"), name
        assert "\n" not in str(info.value) and isinstance(info.value, ValueError)
    placed = write_cell(tmp_path / "root", make_cell(base, MR, "dt", 0, 1.0))
    moved = placed.parents[1] / "bc" / "seed0" / "result.json"  # a dt cell in bc's directory
    moved.parent.mkdir(parents=True)
    placed.rename(moved)
    with pytest.raises(CellError, match=r"field 'method': expected 'bc' \(its directory\), got 'dt'"):
        read_cell(moved)
    with pytest.raises(FileNotFoundError):
        read_cell(tmp_path / "missing.json")


def test_missing_rliable_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rliable", None)
    I._mean_ci.cache_clear()
    with pytest.raises(ImportError, match=r"pip install 'decision-transformer\[stats\]'") as info:
        I.cell_ci95([1.0, 2.0])
    assert "\n" not in str(info.value)
    assert I.cell_ci95([3.0]) == [3.0, 3.0]  # one seed needs no bootstrap


def test_mean_difference_and_its_interval_on_known_numbers():
    from dt_experiments.paper.intervals import mean_difference

    x = np.array([[10.0, 20.0], [12.0, 22.0], [14.0, 24.0]])  # runs x datasets
    y = np.array([[1.0, 2.0]])  # one run: its resamples are itself
    lo, d, hi = mean_difference(x, y)
    assert d == pytest.approx(((12 - 1) + (22 - 2)) / 2)
    assert lo < d < hi and lo >= 9.0 and hi <= 22.0
    assert mean_difference(y, y) == [0.0, 0.0, 0.0]


def test_a_dataset_with_more_seeds_keeps_the_others_in_the_aggregates():
    """5-seed headline cells beside 3-seed ones: every dataset stays, each with all its seeds (ragged runs)."""
    e = lambda *scores: {"scores": list(scores)}  # noqa: E731
    per = {MR: {"dt": e(32.0, 39.0, 41.0, 26.0), "bc": e(17.0, 15.0, 19.0)},
           WMR: {"dt": e(20.0, 22.0, 33.0), "bc": e(5.0, 4.0, 6.0)},
           "halfcheetah-medium-replay": {"dt": e(21.0, 21.0, 30.0), "bc": e(4.0, 5.0)}}  # bc still running there
    agg = I.aggregates(per, ["dt", "bc"])
    hc = "halfcheetah-medium-replay"
    assert agg["n"]["iqm"]["dt"] == {"datasets": [MR, WMR, hc], "seeds": {MR: 4, WMR: 3, hc: 3}}
    assert agg["n"]["probability_of_improvement"]["dt>bc"] == {"datasets": [MR, WMR], "seeds": {"dt": {MR: 4, WMR: 3},
                                                                                                "bc": 3}}
    lo, d, hi = agg["mean_difference"]["dt-bc"]
    assert d == pytest.approx(((32 + 39 + 41 + 26) / 4 - 17 + (20 + 22 + 33) / 3 - 5) / 2) and lo < d < hi
    lo, p, hi = agg["probability_of_improvement"]["dt>bc"]
    assert p == 1.0 and lo == 1.0  # every DT run beats every BC run on both datasets, in every resample
    lo, mid, hi = agg["iqm"]["dt"]
    pooled = np.sort([32.0, 39.0, 41.0, 26.0, 20.0, 22.0, 33.0, 21.0, 21.0, 30.0])
    assert mid == pytest.approx(pooled[2:8].mean()) and lo <= mid <= hi  # rliable's pooled IQM over all ten runs
    again = I.aggregates(per, ["dt", "bc"])
    assert again == agg  # a fixed seed: the same intervals every time
    md = aggregates_section(agg, "suite-normalized")
    assert f"| {MR}, {WMR}, {hc} | 4/3/3 |" in md and "| 4/3 v 3 |" in md


def test_ragged_runs_give_rliables_numbers_where_they_are_not_ragged():
    rng = np.random.default_rng(1)
    x, y = 50 + rng.normal(0, 5, (3, 2)), 45 + rng.normal(0, 5, (3, 2))
    columns = lambda m: [m[:, j] for j in range(m.shape[1])]  # noqa: E731
    assert I.iqm(columns(x)) == I.iqm(x)
    assert I.probability_of_improvement(columns(x), columns(y)) == I.probability_of_improvement(x, y)
    assert I.mean_difference(columns(x), columns(y)) == I.mean_difference(x, y)
    # one extra run on one dataset: the point estimates follow the per-dataset definitions
    cx = [np.append(x[:, 0], 60.0), x[:, 1]]
    assert I.mean_difference(cx, y)[1] == pytest.approx(np.mean([cx[0].mean() - y[:, 0].mean(), x[:, 1].mean() - y[:, 1].mean()]))
    p = np.mean([np.mean(c[:, None] > y[None, :, j]) for j, c in enumerate(cx)])
    assert I.probability_of_improvement(cx, y)[1] == pytest.approx(p)


def test_a_root_cell_of_other_settings_never_replaces_or_joins_a_published_one(tmp_path, dt):
    """A reviewer's tiny run (another budget or precision) reported against the archive: refused before anything is
    copied, naming the cell and the settings that differ; the archived cell and the report are left as they were.
    A rerun of the same spec still replaces its archived copy."""
    base = template()
    root, out, archive = tmp_path / "runs", tmp_path / "docs", tmp_path / "cells"
    published = make_cell(base, MR, "dt", 0, 81.0)
    kept = write_cell(archive, published)
    write_cell(archive, make_cell(base, MR, "dt", 1, 83.0))
    before = kept.read_bytes()
    tiny = make_cell(base, MR, "dt", 0, 20.0)
    tiny["spec"]["budget"]["steps"] = 20
    local = write_cell(root, tiny)
    res = dt("bench", "report", "--root", root, "--out", out, "--archive", archive)
    line = res.stderr.strip().splitlines()[-1]
    assert res.returncode == 2 and str(local) in line and "budget.steps:" in line and "vs 20" in line, res.stderr
    assert kept.read_bytes() == before and not out.exists()
    tiny["seed"] = tiny["spec"]["seed"] = 2  # no archived counterpart: it would join seeds 0-1 of another budget
    local.unlink()
    write_cell(root, tiny)
    res = dt("bench", "report", "--root", root, "--out", out, "--archive", archive)
    assert res.returncode == 2 and "seed 0 and seed 2 ran with a different budget or precision (budget.steps:" in res.stderr
    tiny["method"] = tiny["spec"]["method"] = "bc"  # an entry of its own, but not the report's budget
    cell_path(root, {**tiny, "method": "dt"}).unlink()
    write_cell(root, tiny)
    res = dt("bench", "report", "--root", root, "--out", out, "--archive", archive)
    assert res.returncode == 2 and "table2/hopper-medium-replay/bc/seed2: its budget differs" in res.stderr
    assert sorted(p.parent.parent.name for p in archive.rglob("result.json")) == ["dt", "dt"]  # nothing copied
    rerun = make_cell(base, MR, "dt", 0, 82.0)  # the same spec: replaces the archived copy, as a rerun should
    cell_path(root, tiny).unlink()
    write_cell(root, rerun)
    cells, written = load_cells(root, "cpu", archive, warn=lambda m: None)
    assert written == 1 and [c["score"] for c in cells] == [82.0, 83.0]


def test_report_out_or_archive_that_is_a_file_is_refused_before_anything_is_written(tmp_path, dt):
    base = template()
    root = tmp_path / "runs"
    write_cell(root, make_cell(base, MR, "dt", 0, 81.0))
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    from conftest import assert_one_error

    assert_one_error(dt("bench", "report", "--root", root, "--out", afile, "--archive", tmp_path / "cells"), "bench",
                     f"--out {afile}: is a file")
    assert not (tmp_path / "cells").exists() and afile.read_text() == "x"
    assert_one_error(dt("bench", "report", "--root", root, "--out", tmp_path / "out", "--archive", afile), "bench",
                     f"--archive {afile}: is a file")
    assert not (tmp_path / "out").exists()
