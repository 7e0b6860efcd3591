"""`dt bench paper` / `dt bench report` at a toy budget (--quick: suite data regenerated at 1,500 steps, 20 training
steps, 2 evaluation episodes capped at 40 steps) through the real CLI and the same code path as the real runs."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import kill_after
import torch

from decision_transformer.checkpoint import latest_checkpoint, load_trainer_state
from decision_transformer.common import runlock
from decision_transformer.common.metrics import read_metrics
from dt_experiments.paper import cells as C
from dt_experiments.paper import methods as M
from dt_experiments.paper.config import QUICK
from dt_experiments.paper.report import _entry
from decision_transformer.data.registry import builtin_datasets
from dt_experiments.paper.scoring import dt_targets, fig4_targets, pearson_in_range

HAS_D3RLPY = importlib.util.find_spec("d3rlpy") is not None
MR = "hopper-medium-replay"


def paper(dt, root, *args):
    res = dt("bench", "paper", "--quick", "--root", root, "--no-progress", *args)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def test_every_experiment_end_to_end_and_report_layout(tmp_path, dt):
    root, out = tmp_path / "runs", tmp_path / "docs"
    baselines = ["td3bc"] if HAS_D3RLPY else []
    paper(dt, root, "--exp", "table2", "--datasets", MR, "--methods", "dt", "bc", "mlp-bc", *baselines)
    paper(dt, root, "--exp", "table3", "--datasets", MR, "--methods", "dt", "pbc10")
    paper(dt, root, "--exp", "table7", "--datasets", MR, f"{MR}-delayed", "--methods", "dt", "bc", *baselines)
    paper(dt, root, "--exp", "fig4", "--datasets", MR)
    paper(dt, root, "--exp", "context", "--datasets", MR)
    paper(dt, root, "--exp", "paper-targets", "--datasets", MR, "--methods", "dt")
    paper(dt, root, "--exp", "chosen-target", "--datasets", MR, "--methods", "dt")
    again = paper(dt, root, "--exp", "table2", "--datasets", MR, "--methods", "dt", "bc", "mlp-bc", *baselines)
    assert "0 cells run" in again.stdout  # a rerun skips finished cells
    status = paper(dt, root, "--exp", "table2", "--datasets", MR, "--methods", "dt", "bc", "--status").stdout
    assert f"table2/{MR}/bc/seed1  finished" in status and "4 of 4 cells finished" in status

    video = out / "videos" / MR / "target_1000_seed_0.mp4"  # what scripts/paper_videos.sh leaves; the report links it
    video.parent.mkdir(parents=True)
    video.write_bytes(b"")
    res = dt("bench", "report", "--root", root, "--out", out)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((out / "paper.json").read_text())
    assert {"protocol", "commit", "machine", "experiments"} <= set(report) and report["protocol"] == "cpu"
    exps = report["experiments"]
    suite_generation = builtin_datasets()[MR].generation
    assert set(exps) == {"table2", "table3", "table7", "fig4", "context", "paper-targets", "chosen-target"}
    # paper-targets: Table 2's DT runs, asked for the paper's gym targets (Hopper: 3600, then 1800)
    at_paper = json.loads((root / "cpu" / "paper-targets" / MR / "dt" / "seed0" / "result.json").read_text())
    in_table2 = json.loads((root / "cpu" / "table2" / MR / "dt" / "seed0" / "result.json").read_text())
    assert at_paper["targets"] == [3600.0, 1800.0] and at_paper["spec"]["targets"]["kind"] == "fixed"
    assert at_paper["train_seconds"] == in_table2["train_seconds"]  # the same run, not retrained
    assert len(exps["paper-targets"][MR]["dt"]["scores"]) == 2
    # chosen-target: the same run; every candidate on the selection episodes, the best mean reported on its own
    chosen = json.loads((root / "cpu" / "chosen-target" / MR / "dt" / "seed0" / "result.json").read_text())
    sel, best = chosen["selection"], in_table2["targets"][0]
    lo, hi = in_table2["data"]["return_min"], in_table2["data"]["return_max"]
    assert sel["candidates"] == [best, *(pytest.approx(lo + s * (hi - lo), abs=1e-3) for s in (1.5, 2.0)), 3600.0]
    assert sel["seed"] == chosen["spec"]["eval_seed"] + 500_000 and len(sel["return_means"]) == 4
    assert chosen["targets"] == [sel["candidates"][int(np.argmax(sel["return_means"]))]] == [sel["chosen"]]
    assert chosen["train_seconds"] == in_table2["train_seconds"]  # not retrained
    assert exps["chosen-target"][MR]["dt"]["chosen_targets"][0] == sel["chosen"]
    assert f"- `{MR}` dt: {sel['chosen']:,.0f}" in (out / "paper.md").read_text()
    if sel["chosen"] == best:  # the reported episodes are the cell's own: Table 2's at the same target
        assert chosen["return"] == in_table2["return"]
    assert set(exps["table2"][MR]) == {"dt", "bc", "mlp-bc", *baselines}
    assert set(exps["table7"]) == {MR, f"{MR}-delayed"} and set(exps["context"][MR]) == {"dt", "dt-k1"}
    for exp in ("table2", "table3", "table7", "context"):
        for per in exps[exp].values():
            for method, e in per.items():
                n = 1 if method in ("td3bc",) else 2  # QUICK: 2 seeds, 1 for the baselines
                assert len(e["scores"]) == len(e["returns"]) == n and e["dataset_generation"] == suite_generation
                assert all(isinstance(x, float) for x in e["scores"] + e["returns"])
    # one DT training run serves table2, table3, table7 (dense), context: the same scores
    assert exps["table2"][MR]["dt"]["scores"] == exps["table3"][MR]["dt"]["scores"] == exps["context"][MR]["dt"]["scores"]
    # BC reads no reward: its delayed cell is its dense run; DT's delayed run is its own
    assert exps["table7"][f"{MR}-delayed"]["bc"]["scores"] == exps["table2"][MR]["bc"]["scores"]
    assert not (root / "cpu" / "train" / f"{MR}-delayed" / "bc").exists() and (root / "cpu" / "train" / f"{MR}-delayed" / "dt").exists()
    f4 = exps["fig4"][MR]["dt"]
    assert len(f4["targets"]) == QUICK.fig4_targets and np.shape(f4["achieved"]) == (2, QUICK.fig4_targets)
    assert "pearson" in f4 and "scores" not in f4
    lo, hi = f4["data_return_range"]
    assert f4["targets"][0] < lo and f4["targets"][-1] > hi
    assert (out / f"paper_fig4_{MR}.png").stat().st_size > 1000
    assert all((out / f"paper_{exp}.png").stat().st_size > 1000 for exp in ("table2", "table3", "table7", "context"))
    md = (out / "paper.md").read_text()
    assert "[paper 82.7]" in md and "[paper 78.5]" in md and "± " in md
    assert "![table2, suite-normalized](paper_table2.png)" in md
    assert f"[target_1000_seed_0](videos/{MR}/target_1000_seed_0.mp4)" in md
    assert "Not run yet (2 of the experiment's default (dataset, method) pairs" in md  # context: walker2d's
    # the settings every number was trained with, read back from the cells' specs
    settings = md.split("## Protocol and settings (from the cells' specs)", 1)[1]
    assert "- `dt-k1`: kind dt, context_len 1," in settings and "precision " in settings
    assert f" steps {QUICK.cpu.train.steps}," in settings and ("- `td3bc`: actor_lr 0.0003," in settings) == HAS_D3RLPY
    archived = sorted(p.relative_to(out / "cells").as_posix() for p in (out / "cells").rglob("result.json"))
    assert len(archived) == report["cells"] and f"cpu/table2/{MR}/dt/seed0/result.json" in archived


def test_archived_cells_count_as_finished_after_the_root_is_gone(tmp_path):
    from dt_experiments.paper.report import write_report

    archive = tmp_path / "cells"
    cfg = dataclasses.replace(QUICK, root=str(tmp_path / "runs"), archive=str(archive), exp="table2", datasets=(MR,),
                              methods=("dt",), seeds=1, progress=False)
    name = f"table2/{MR}/dt/seed0"
    assert C.status(cfg) == [(name, "not started")]
    assert C.run_paper(cfg)["ran"] == [name]
    assert C.status(cfg) == [(name, "finished")]
    first = write_report(cfg.root, "cpu", tmp_path / "out", archive=archive)
    shutil.rmtree(cfg.root)  # the local runs did not outlive the machine; the committed archive did
    assert C.status(cfg) == [(name, "finished (archive)")]
    assert C.status(dataclasses.replace(cfg, exp="table7")) == [
        (f"table7/{MR}/dt/seed0", f"answered by {name} (copied when the experiment runs)")]
    assert C.run_paper(cfg)["finished"] == [name]
    again = write_report(cfg.root, "cpu", tmp_path / "out2", archive=archive)
    assert again["experiments"] == first["experiments"]
    # table7's dense DT is table2's run, evaluated alike: it takes the archived result without training
    t7 = dataclasses.replace(cfg, exp="table7")
    assert C.run_paper(t7)["ran"] == [f"table7/{MR}/dt/seed0"]
    copied = json.loads(C.Cell("table7", MR, "dt", 0).path(t7).read_text())
    assert copied["same_run_as"] == name and copied["score"] == first["experiments"]["table2"][MR]["dt"]["scores"][0]
    assert not (Path(cfg.root) / "cpu" / "train").exists()
    # an archived cell with other settings is stale: the cell runs again, and the new result replaces it
    other = dataclasses.replace(cfg, target_scales=(0.9,))
    assert C.run_paper(other)["ran"] == [name]
    rerun = json.loads(C.Cell("table2", MR, "dt", 0).path(other).read_text())
    assert rerun["targets"] != json.loads(C.Cell("table2", MR, "dt", 0).path(cfg, archive).read_text())["targets"]
    # a report under OUT/extra/ (another budget, a short study) is linked from OUT's paper.md, never merged
    write_report(cfg.root, "cpu", tmp_path / "out3" / "extra" / "study", archive=tmp_path / "study_cells")
    newest = write_report(cfg.root, "cpu", tmp_path / "out3", archive=archive)
    md = (tmp_path / "out3" / "paper.md").read_text()
    assert "## Runs at other budgets" in md and f"(extra/study/paper.md), protocol `cpu`: table2: dt on {MR} (n=1)" in md
    assert newest["experiments"]["table2"][MR]["dt"]["target"] == rerun["targets"][0]
    assert json.loads(C.Cell("table2", MR, "dt", 0).path(cfg, archive).read_text()) == rerun


def test_killed_cell_resumes_from_checkpoint_and_stale_cells_are_refused(tmp_path):
    cfg = dataclasses.replace(QUICK, root=str(tmp_path), exp="table2", datasets=(MR,), methods=("dt",), seeds=1,
                              progress=False)
    C.run_paper(cfg)
    cell = C.list_cells(cfg)[0]
    first = json.loads(cell.path(cfg).read_text())
    train_dir = tmp_path / "cpu" / "train" / MR / "dt" / "seed0"
    # kill: the result was never written, the run stopped after its step-10 checkpoint
    cell.path(cfg).unlink()
    shutil.rmtree(train_dir / "evals")
    kill_after(train_dir / "run", 10)
    assert C.status(cfg) == [(f"table2/{MR}/dt/seed0", "training: step 10 of 20 saved")]
    with runlock.exclusive(train_dir):  # another process working on the cell's run
        assert C.status(cfg)[0][1] == f"training: step 10 of 20 saved (running now, pid {os.getpid()})"
        with pytest.raises(runlock.RunInUse, match="the dt run on hopper-medium-replay, seed 0"):
            C.run_paper(cfg)
    assert C.run_paper(cfg)["ran"] == [f"table2/{MR}/dt/seed0"]
    resumed = json.loads(cell.path(cfg).read_text())
    assert resumed["per_target"] == first["per_target"]  # exact resume: the same model, the same episodes
    assert (train_dir / "run" / "checkpoints" / "latest").read_text().strip() == "step_00000020"
    with pytest.raises(ValueError, match="other settings"):
        C.run_paper(dataclasses.replace(cfg, target_scales=(0.9,)))
    assert C.status(dataclasses.replace(cfg, target_scales=(0.9,)))[0][1].startswith("stale")


def test_atari_experiments_end_to_end_and_atari_json(tmp_path, dt):
    pytest.importorskip("ale_py")
    root, out = tmp_path / "runs", tmp_path / "docs"
    cql = ["cql"] if HAS_D3RLPY else []  # d3rlpy's DiscreteCQL on stacked frames
    paper(dt, root, "--exp", "atari-table1", "--datasets", "breakout-mixed", "--methods", "dt", "bc", *cql)
    paper(dt, root, "--exp", "atari-table5", "--datasets", "breakout-mixed")
    paper(dt, root, "--exp", "atari-fig4", "--datasets", "breakout-mixed")
    res = dt("bench", "report", "--root", root, "--out", out)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads((out / "atari.json").read_text())
    assert set(report["experiments"]) == {"table1", "table5", "fig4"}
    # Figure 4's top row: the table's DT run (the same training) swept over targets across the data's returns
    f4 = report["experiments"]["fig4"]["breakout"]["dt"]
    lo, hi = f4["data_return_range"]
    assert len(f4["targets"]) == 6 and f4["targets"][0] < lo and f4["targets"][-1] > hi
    assert len(f4["achieved"]) == 1 and len(f4["achieved"][0]) == 6 and f4["dataset"] == "breakout-mixed"
    f4_cell = json.loads(next((root / "cpu" / "atari-fig4" / "breakout-mixed" / "dt").glob("seed*/result.json")).read_text())
    t1_cell = json.loads(next((root / "cpu" / "atari-table1" / "breakout-mixed" / "dt").glob("seed*/result.json")).read_text())
    assert f4_cell["spec"]["model"] == t1_cell["spec"]["model"]
    assert f4_cell["train_seconds"] == t1_cell["train_seconds"]  # no second training, and loading is not training
    assert (out / "atari_fig4_breakout-mixed.png").stat().st_size > 0
    assert "atari_fig4_breakout-mixed.png" in (out / "atari.md").read_text()
    assert (out / "atari_table1.png").stat().st_size > 1000
    assert "![table1, gamer-normalized](atari_table1.png)" in (out / "atari.md").read_text()
    t1 = report["experiments"]["table1"]["breakout"]
    assert set(t1) == {"dt", "bc", *cql} and t1["dt"]["dataset"] == "breakout-mixed" and t1["dt"]["score_label"] == "gamer"
    for e in t1.values():
        assert len(e["scores"]) == len(e["returns"]) == 1
        gamer = 100 * (e["returns"][0] - 1.7) / (30.5 - 1.7)  # Breakout's random / gamer references
        assert e["scores"][0] == pytest.approx(gamer)
    assert set(report["experiments"]["table5"]["breakout"]) == {"dt", "dt-k1"}
    cell = json.loads(next((root / "cpu" / "atari-table1" / "breakout-mixed" / "dt").glob("seed*/result.json")).read_text())
    assert cell["targets"] == [90.0]  # the paper's Breakout target
    assert cell["spec"]["model"]["position_embedding"] and cell["spec"]["model"]["discrete_actions"]
    assert cell["spec"]["budget"]["lr_decay"] == "cosine"
    k1 = json.loads(next((root / "cpu" / "atari-table5" / "breakout-mixed" / "dt-k1").glob("seed*/result.json")).read_text())
    assert k1["spec"]["model"]["context_len"] == 1
    md = (out / "atari.md").read_text()
    assert "[paper 267.5]" in md and "[paper 73.9]" in md
    if cql:
        c = json.loads(next((root / "cpu" / "atari-table1" / "breakout-mixed" / "cql").glob("seed*/result.json")).read_text())
        assert c["spec"]["model"]["n_quantiles"] == 200 and c["spec"]["budget"]["baseline_steps"] == 4
        assert "[paper 211.1]" in md
        assert "- `cql`: learning_rate 5e-05, adam_eps 0.0003125, batch_size 32, alpha 4.0, n_quantiles 200," in md
        # only CQL's budget records baseline_steps: shared settings once, the difference labelled with its methods
        assert ", weight_decay 0.1; baseline_steps 4 (cql); the transformers'" in md
    assert "DiscreteCQL with its published Atari settings" in md and "- `dt-k1`: kind dt, context_len 1," in md
    assert not (out / "paper.json").exists() or "atari-table1" not in json.loads((out / "paper.json").read_text())["experiments"]


def test_runs_made_before_a_model_field_existed_still_match(tmp_path):
    from dt_experiments.paper.methods import prepare_run_dir, train_spec

    cfg = dataclasses.replace(QUICK, root=str(tmp_path))
    spec = train_spec(cfg, MR, "dt", 0)
    older = json.loads(json.dumps(spec))
    del older["model"]["position_embedding"]  # a run written before the field was added (default False)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train_spec.json").write_text(json.dumps(older))
    prepare_run_dir(tmp_path / "run", spec)  # accepted: the run was made with the default behaviour
    changed = {**spec, "model": {**spec["model"], "position_embedding": True}}
    with pytest.raises(ValueError, match="other settings"):
        prepare_run_dir(tmp_path / "run", changed)
    with pytest.raises(ValueError, match="other settings"):
        prepare_run_dir(tmp_path / "run", {**spec, "seed": 1})


def test_jobs_run_cells_through_dt_sweep(tmp_path):
    from decision_transformer.cli_args import add_dataclass_args, from_args, to_argv
    import argparse

    cfg = dataclasses.replace(QUICK, root=str(tmp_path), datasets=(MR,), methods=("mlp-bc",), seeds=1, jobs=2,
                              progress=False)
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, type(cfg))
    assert from_args(type(cfg), parser.parse_args(to_argv(cfg))) == cfg  # a job reproduces every setting
    stale = tmp_path / "cpu" / "sweep" / "table2" / f"{MR}.mlp-bc.seed0" / "job.json"  # an older argv of the cell
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"name": f"{MR}.mlp-bc.seed0", "argv": ["bench", "paper", "--an-old-flag"]}))
    assert C.run_paper(cfg)["ran"] == [f"table2/{MR}/mlp-bc/seed0"]
    assert json.loads(C.list_cells(cfg)[0].path(cfg).read_text())["method"] == "mlp-bc"
    assert (tmp_path / "cpu" / "sweep" / "table2" / f"{MR}.mlp-bc.seed0" / "done.json").exists()
    assert C.run_paper(cfg)["finished"] == [f"table2/{MR}/mlp-bc/seed0"]


def test_settings_state_shared_budget_once_and_label_what_differs():
    from dt_experiments.paper.markdown import _budget_text

    cell = lambda method, **budget: {"method": method, "spec": {"budget": {"steps": 10, "lr": 0.1, **budget}}}
    assert _budget_text([cell("dt"), cell("bc")]) == "lr 0.1, steps 10"
    text = _budget_text([cell("dt"), cell("cql", baseline_steps=5), cell("bc"), cell("iql", baseline_steps=5)])
    assert text == "lr 0.1, steps 10; baseline_steps 5 (cql, iql)"
    text = _budget_text([cell("dt", lr=0.2), cell("cql", baseline_steps=5)])
    assert text == "steps 10; baseline_steps 5, lr 0.1 (cql); lr 0.2 (dt)"


def test_fig4_pearson_and_targets_on_known_numbers():
    targets, achieved = [0.0, 1.0, 2.0, 3.0, 10.0], [0.0, 2.0, 4.0, 6.0, 0.0]
    assert pearson_in_range(targets, achieved, 0.0, 3.0) == pytest.approx(1.0)  # 10 is outside the data's range
    a = [1.0, 3.0, 2.0, 5.0]
    assert pearson_in_range(targets[:4], a, 0, 3) == pytest.approx(np.corrcoef(targets[:4], a)[0, 1])
    assert pearson_in_range([0.0, 1.0], [0.0, 1.0], 0, 1) is None  # fewer than 3 targets in range
    returns = np.array([10.0, 30.0, 110.0])
    assert dt_targets(returns, (1.0, 0.5)) == [110.0, 60.0]
    t = fig4_targets(returns, 12, (-0.1, 1.3))
    assert len(t) == 12 and t[0] == pytest.approx(0.0) and t[-1] == pytest.approx(140.0)
    cells = [{"exp": "fig4", "dataset": MR, "method": "dt", "seed": s, "dataset_generation": 2, "train_seconds": 1,
              "eval_seconds": 1, "targets": targets, "achieved": ach, "pearson": None,
              "data": {"return_min": 0.0, "return_max": 3.0}}
             for s, ach in ((0, [0.0, 1.0, 2.0, 3.0, 0.0]), (1, [0.0, 3.0, 6.0, 9.0, 5.0]))]
    e = _entry(cells)
    assert e["achieved_mean"] == [0.0, 2.0, 4.0, 6.0, 2.5] and e["pearson"] == pytest.approx(1.0)


def test_baselines_skipped_cleanly_without_d3rlpy(tmp_path, monkeypatch, capsys):
    from dt_experiments.paper.baselines import BaselinesUnavailable, d3rlpy_module

    monkeypatch.setitem(sys.modules, "d3rlpy", None)  # import d3rlpy -> ImportError
    with pytest.raises(BaselinesUnavailable, match=r"\[baselines\]"):
        d3rlpy_module()
    cfg = dataclasses.replace(QUICK, root=str(tmp_path), datasets=(MR,), methods=("cql", "iql", "td3bc"))
    outcome = C.run_paper(cfg)
    assert outcome["ran"] == [] and len(outcome["skipped"]) == 3
    assert "[baselines]" in capsys.readouterr().out
    assert not list(tmp_path.rglob("result.json"))


def test_d3rlpy_baselines_train_resume_and_act(tmp_path):
    pytest.importorskip("d3rlpy")
    from dt_experiments.paper.baselines import (BEARSettings, CQLSettings, IQLSettings, TD3BCSettings,
                                                             recorded_train_seconds, train_baseline)
    from dt_experiments.paper.methods import load_data

    data = load_data(MR, QUICK.data_steps)
    obs = data.observations[:7]
    # every continuous baseline of the bench, BEAR included (the "if it runs": it does)
    for method, settings in (("iql", IQLSettings()), ("td3bc", TD3BCSettings()), ("cql", CQLSettings()),
                             ("bear", BEARSettings())):
        d = tmp_path / method
        act = train_baseline(method, settings, data, MR, d, seed=0, steps=20, save_every=10)
        torch.manual_seed(0)  # BEAR acts by sampling candidate actions and keeping the best by Q
        a = act(obs)
        assert a.shape == (7, 3) and np.all(np.abs(a) <= 1.0 + 1e-6)
        assert json.loads((d / "progress.json").read_text())["step"] == 20
        reloaded = train_baseline(method, settings, data, MR, d, 0, 20, 10)  # finished: loads, trains nothing
        torch.manual_seed(0)
        np.testing.assert_allclose(reloaded(obs), a, rtol=1e-6)
        seconds = recorded_train_seconds(d)
        train_baseline(method, settings, data, MR, d, 0, 30, 10)  # continues from step 20
        assert json.loads((d / "progress.json").read_text())["step"] == 30
        assert 0 < seconds < recorded_train_seconds(d)  # the time of both sittings


def test_a_cells_training_time_is_the_runs_record_over_its_sittings(tmp_path):
    from dt_experiments.paper.methods import _train_time

    # the run's own record (summed over killed and resumed sittings) beats the last sitting's clock
    assert _train_time(tmp_path / "a", recorded=lambda: 120.0, sitting=30.0) == 120.0
    # once fixed, loading the finished run again adds nothing (and does not read the run's record)
    assert _train_time(tmp_path / "a", recorded=lambda: 1 / 0, sitting=5.0) == 120.0
    # a run saved before the record existed falls back to the sitting's time
    assert _train_time(tmp_path / "b", recorded=lambda: None, sitting=30.0) == 30.0


def test_committed_cells_still_match_the_code():
    """Every archived cell's spec is what the code would run now (up to dataset generations, which a data bump
    changes on purpose): a change that silently made the committed results stale fails here."""
    archive = Path(__file__).resolve().parents[2] / "docs" / "results" / "cells"
    files = sorted(archive.glob("*/*/*/*/seed*/result.json"))
    assert files, archive
    for f in files:
        saved = json.loads(f.read_text())
        # the protocol fixes every setting of a cell's spec, precision included: the README's command (no
        # --precision) finds every published cell finished and reruns none
        cfg = dataclasses.replace(QUICK.__class__(), exp=saved["exp"], protocol=saved["protocol"])
        wanted = json.loads(json.dumps(C.cell_spec(cfg, C.Cell(saved["exp"], saved["dataset"], saved["method"],
                                                               saved["seed"]))))
        drop = lambda spec: {k: v for k, v in spec.items() if k != "dataset_generation"}  # noqa: E731
        assert M.same_spec(drop(saved["spec"]), drop(wanted)), f  # model fields added later: at their defaults


def test_cql_frame_stacks_are_the_samplers(tmp_path):
    """DiscreteCQL's transitions stack frames exactly as the DT's sampler (and the env) do: first frame repeated."""
    pytest.importorskip("d3rlpy")
    from d3rlpy.dataset import Episode

    from dt_experiments.paper.baselines import FirstFrameStack
    from decision_transformer.data.frames import StackedFrames

    frames = np.arange(6 * 2 * 2, dtype=np.uint8).reshape(6, 2, 2)
    ep = Episode(observations=frames, actions=np.zeros((6, 1), np.int64), rewards=np.ones((6, 1), np.float32),
                 terminated=True)
    picker, view = FirstFrameStack(4), StackedFrames(frames, np.array([0]), 4)
    for t in range(6):
        tr = picker(ep, t)
        np.testing.assert_array_equal(tr.observation, view[t])
        if t < 5:
            np.testing.assert_array_equal(tr.next_observation, view[t + 1])
    assert picker(ep, 5).terminal == 1.0 and not picker(ep, 5).next_observation.any()


@pytest.mark.skipif(not HAS_D3RLPY, reason="needs the [baselines] extra")
def test_peer_dt_runs_at_our_dts_budget_shape_seeds_and_targets(tmp_path):
    """d3rlpy's DT (method d3rlpy-dt) trains through d3rlpy's own trainer at our DT's budget and shape, acts through
    its stateful wrapper in our runner, and is evaluated on the same seeds, episodes and targets as `dt`; its
    training loss goes to metrics.jsonl; CQL's run logs Q-values, the conservative loss and alpha."""
    cfg = dataclasses.replace(QUICK, exp="table2", datasets=(MR,), methods=("dt", "d3rlpy-dt", "cql"), seeds=1,
                              root=str(tmp_path))
    assert C.run_paper(cfg)["ran"] == [f"table2/{MR}/{m}/seed0" for m in ("dt", "d3rlpy-dt", "cql")]
    cell = lambda m: json.loads((tmp_path / "cpu" / "table2" / MR / m / "seed0" / "result.json").read_text())  # noqa: E731
    ours, peer = cell("dt"), cell("d3rlpy-dt")
    assert peer["targets"] == ours["targets"] and len(peer["per_target"]) == 2
    for key in ("budget", "eval_episodes", "eval_seed", "targets", "max_episode_steps"):
        assert peer["spec"][key] == ours["spec"][key], key
    shape = {k: v for k, v in ours["spec"]["model"].items()}
    assert peer["spec"]["model"]["dt"] == shape and "precision" not in peer["spec"]
    assert all(len(p["returns"]) == cfg.cpu.eval_episodes for p in peer["per_target"])
    train = tmp_path / "cpu" / "train" / MR
    losses = [r for r in map(json.loads, (train / "d3rlpy-dt/seed0/d3rlpy/metrics.jsonl").read_text().splitlines())]
    assert [r["step"] for r in losses] == [10, 20] and all(np.isfinite(r["train/loss"]) for r in losses)
    assert json.loads((train / "d3rlpy-dt/seed0/d3rlpy/progress.json").read_text())["step"] == cfg.cpu.train.steps
    rows = [json.loads(x) for x in (train / "cql/seed0/d3rlpy/metrics.jsonl").read_text().splitlines()]
    keys = set().union(*rows)
    assert {"train/critic_loss", "train/conservative_loss", "train/alpha", "q/data_mean", "q/mc_return_mean"} <= keys
    assert all(r["train/alpha"] == 1.0 for r in rows if "train/alpha" in r)  # the published fixed weight


@pytest.mark.skipif(not HAS_D3RLPY, reason="needs the [baselines] extra")
def test_peer_dt_with_our_initialisation(tmp_path):
    """d3rlpy-dt-gpt2-init is d3rlpy-dt with every layer N(0, 0.02) (our DT's default init): its spec differs from the
    peer's by `init` alone, and its networks start, and train, from that initialisation (d3rlpy's own leaves the
    return embedding uniform in +-1)."""
    import d3rlpy

    from dt_experiments.paper.baselines import mdp_dataset, train_baseline
    from dt_experiments.paper.peer_dt import gpt2_init_peer, make_dt_algo

    cfg = dataclasses.replace(QUICK, exp="table2", datasets=(MR,), root=str(tmp_path))
    peer, ours = (M.plan(cfg, "table2", MR, m, 0) for m in ("d3rlpy-dt", "d3rlpy-dt-gpt2-init"))
    assert ours.spec["model"] == {**peer.spec["model"], "kind": "d3rlpy-dt-gpt2-init", "init": "gpt2"}
    with pytest.raises(ValueError, match="gym diagnostic"):
        M.plan(cfg, "atari-table1", "breakout-mixed", "d3rlpy-dt-gpt2-init", 0)
    data = M.load_data(MR, cfg.data_steps)
    settings = M.baseline_settings(cfg, MR, "d3rlpy-dt-gpt2-init")
    rtg = lambda algo: algo.impl.modules.transformer._rtg_embed.weight.detach()  # noqa: E731

    def make(init):
        def build(d3, mdp):
            algo = make_dt_algo(d3, settings, ours.spec["model"]["dt"], ours.budget, "cpu:0")
            if init:
                gpt2_init_peer(algo, mdp)
            else:
                algo.build_with_dataset(mdp)
            return algo
        return build

    d3rlpy.seed(0)
    default = make(False)(d3rlpy, mdp_dataset(d3rlpy, data))
    assert float(rtg(default).abs().max()) > 0.5  # PyTorch's default for Linear(1, C): uniform in +-1
    policy = train_baseline("d3rlpy-dt-gpt2-init", settings, data, MR, tmp_path / "g", 0, 10, 10, make=make(True))
    assert float(rtg(policy.algo).std()) < 0.05  # N(0, 0.02), then 10 steps of lr 1e-4


def test_cql_evaluation_is_epsilon_greedy_and_seeded():
    from dt_experiments.paper.methods import epsilon_greedy

    greedy = lambda obs: np.zeros(len(obs), np.int64)  # noqa: E731
    obs = np.zeros((100_000, 1))
    a = epsilon_greedy(greedy, 0.01, 4, seed=3)(obs)
    b = epsilon_greedy(greedy, 0.01, 4, seed=3)(obs)
    np.testing.assert_array_equal(a, b)
    changed = np.mean(a != 0)  # a random action equals the greedy one a quarter of the time
    assert 0.005 < changed < 0.0095


@pytest.mark.skipif(not HAS_D3RLPY, reason="needs the [baselines] extra")
def test_atari_cql_copies_its_target_many_times_per_run():
    import d3rlpy

    from dt_experiments.paper.baselines import DiscreteCQLSettings, make_algo

    s = DiscreteCQLSettings()
    assert make_algo(d3rlpy, "cql", s, "breakout-mixed", steps=2000).config.target_update_interval == 100
    assert make_algo(d3rlpy, "cql", s, "breakout-mixed", steps=12_500_000).config.target_update_interval == 2000


def test_a_damaged_archived_cell_is_shown_as_damaged_and_reruns(tmp_path):
    """`--status` names a damaged archived result.json (not 'stale'), and the cell counts as unfinished; a damaged
    one under ROOT is a one-line error naming the file."""
    cfg = dataclasses.replace(QUICK, exp="table2", datasets=(MR,), methods=("bc",), seeds=1,
                              root=str(tmp_path / "root"), archive=str(tmp_path / "archive"))
    cell = C.list_cells(cfg)[0]
    kept = cell.path(cfg, cfg.archive)
    kept.parent.mkdir(parents=True)
    kept.write_text("{broken")
    state = C.cell_state(cfg, cell)
    assert state.startswith("damaged: ") and str(kept) in state and "\n" not in state
    assert not C.finished(cfg, cell)
    local = cell.path(cfg)
    local.parent.mkdir(parents=True)
    local.write_text("[1, 2]")
    with pytest.raises(ValueError, match=str(local)):
        C.finished(cfg, cell)


def test_beyond_experiment_end_to_end_and_report(tmp_path, dt):
    """`--exp beyond` at the toy budget: dt, dt-auto and dt-auto-stochastic (auto targets, then the data's best) and
    odt (pretrained stochastic, fine-tuned online: offline score, online steps, curve) cells, and experiments.beyond
    in the report with the ODT plot."""
    root, out = tmp_path / "runs", tmp_path / "docs"
    paper(dt, root, "--exp", "beyond", "--datasets", MR, "--seeds", "1")
    cells = {m: json.loads((root / "cpu" / "beyond" / MR / m / "seed0" / "result.json").read_text())
             for m in ("dt", "dt-auto", "dt-stochastic", "odt", "dt-auto-stochastic")}
    for m in ("dt-auto", "dt-auto-stochastic"):  # their own proposals, then the data's best return
        assert cells[m]["targets"][0] == "auto" and cells[m]["spec"]["model"]["return_head"] == "expectile"
        assert len(cells[m]["per_target"]) == 2 and cells[m]["spec"]["targets"]["kind"] == "auto"
    # Reinformer's objective: the return head beside ODT's stochastic policy
    assert cells["dt-auto-stochastic"]["spec"]["model"]["stochastic_policy"]
    assert not cells["dt-auto"]["spec"]["model"]["stochastic_policy"]
    odt = cells["odt"]
    online = QUICK.beyond.online("cpu")
    assert odt["spec"]["online"] == online and odt["spec"]["model"]["stochastic_policy"]
    assert odt["online_steps"] >= online["online_steps"] and isinstance(odt["offline_score"], float)
    assert odt["curve"][0][0] == 0 and odt["curve"][-1][0] == odt["online_steps"] and len(odt["curve"]) >= 2
    assert (root / "cpu" / "train" / MR / "odt" / "seed0" / "odt" / "checkpoints").is_dir()  # the fine-tuned run
    assert odt["spec"]["model"]["return_head"] == "none" and not cells["dt"]["spec"]["model"]["stochastic_policy"]
    # its time is the pretraining's plus the fine-tuning's, each as recorded over every sitting
    # its pretraining is the dt-stochastic cell's run (trained once), and its time that run's plus fine-tuning's
    cell_dir, pre_dir = (root / "cpu" / "train" / MR / m / "seed0" for m in ("odt", "dt-stochastic"))
    stochastic = cells["dt-stochastic"]
    assert not (cell_dir / "run").exists() and stochastic["spec"]["model"] == odt["spec"]["model"]
    pretrain = load_trainer_state(latest_checkpoint(pre_dir / "run"))["train_seconds"]
    finetune = json.loads((cell_dir / "odt_summary.json").read_text())["seconds"]
    assert pretrain > 0 and finetune > 0 and stochastic["train_seconds"] == round(pretrain, 2)
    assert odt["train_seconds"] == round(stochastic["train_seconds"] + finetune, 2)
    # odt-paper-targets (paper-targets): the same dt-stochastic run fine-tuned and evaluated at the paper's gym target,
    # exploring at twice it (for Hopper ODT's own 3600 / 7200), in a run directory of its own
    paper(dt, root, "--exp", "paper-targets", "--datasets", MR, "--methods", "odt-paper-targets", "--seeds", "1")
    fixed = json.loads((root / "cpu" / "paper-targets" / MR / "odt-paper-targets" / "seed0" / "result.json").read_text())
    assert fixed["spec"]["online"] == {**online, "eval_target": 3600.0} and fixed["targets"] == [3600.0, 1800.0]
    assert fixed["finetune_targets"] == [3600.0, 7200.0] and odt["finetune_targets"][0] == odt["targets"][0]
    assert fixed["offline_return"] != odt["offline_return"]  # the same pretrained run, evaluated at another target
    assert (root / "cpu" / "train" / MR / "odt-paper-targets" / "seed0" / "odt" / "checkpoints").is_dir()
    assert not (root / "cpu" / "train" / MR / "odt-paper-targets" / "seed0" / "run").exists()
    assert load_trainer_state(latest_checkpoint(pre_dir / "run"))["train_seconds"] == pretrain  # not trained again
    # beyond-fig4: the same trained runs swept to twice the data's best (evaluation only)
    paper(dt, root, "--exp", "beyond-fig4", "--datasets", MR, "--seeds", "1")
    sweep = json.loads((root / "cpu" / "beyond-fig4" / MR / "dt-stochastic" / "seed0" / "result.json").read_text())
    lo, hi = sweep["data"]["return_min"], sweep["data"]["return_max"]
    assert sweep["spec"]["targets"] == {"kind": "fig4", "n": QUICK.fig4_targets, "range": [-0.1, 2.0]}
    assert sweep["targets"][-1] == pytest.approx(lo + 2.0 * (hi - lo), abs=1e-3)
    assert sweep["train_seconds"] == cells["dt-stochastic"]["train_seconds"]  # no second training
    res = dt("bench", "report", "--root", root, "--out", out)
    assert res.returncode == 0, res.stderr[-3000:]
    swept = json.loads((out / "paper.json").read_text())["experiments"]["beyond-fig4"][MR]
    assert set(swept) == {"dt", "dt-stochastic", "dt-nll", "dt-nll-unit-scale"}
    assert (out / f"paper_beyond_fig4_{MR}.png").stat().st_size > 1000
    unit = json.loads((root / "cpu" / "beyond-fig4" / MR / "dt-nll-unit-scale" / "seed0" / "result.json").read_text())
    assert unit["spec"]["model"]["log_std_max"] - unit["spec"]["model"]["log_std_min"] < 1e-5  # its scale is held
    # dt-nll: dt-stochastic's model, trained without the entropy term (TRAIN_FIELDS)
    nll_run = root / "cpu" / "train" / MR / "dt-nll" / "seed0" / "run"
    assert json.loads((nll_run / "train_config.json").read_text())["train"]["init_temperature"] == 0.0
    assert all(r["train/temperature"] == 0.0 for r in read_metrics(nll_run) if "train/temperature" in r)
    assert f"| {MR} | dt-stochastic |" in (out / "paper.md").read_text()
    targets = json.loads((out / "paper.json").read_text())["experiments"]["paper-targets"][MR]
    assert targets["odt-paper-targets"]["online_steps"] == [fixed["online_steps"]]
    assert "| `odt-paper-targets` offline score |" in (out / "paper.md").read_text()
    beyond = json.loads((out / "paper.json").read_text())["experiments"]["beyond"][MR]
    assert set(beyond) == {"dt", "dt-auto", "dt-stochastic", "odt", "dt-auto-stochastic"}
    assert all("ci95" in e for e in beyond.values())
    assert beyond["odt"]["online_steps"] == [odt["online_steps"]] and beyond["odt"]["curves_scores"][0]
    assert len(beyond["dt-auto"]["scores_at_best"]) == len(beyond["dt-auto-stochastic"]["scores_at_best"]) == 1
    assert (out / "paper_beyond_odt.png").stat().st_size > 0 and "paper_beyond_odt.png" in (out / "paper.md").read_text()


def test_bench_paper_refuses_a_missing_device_before_any_cell(tmp_path):
    """`dt bench paper --device cuda` on a machine without CUDA: one error line naming the option; nothing runs."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from decision_transformer.cli import main

    assert main(["bench", "paper", "--exp", "table2", "--datasets", "hopper-medium-replay", "--methods", "bc",
                 "--device", "cuda", "--root", str(tmp_path / "runs")]) == 2
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("scales,named", [(("1", "nan"), "chosen_scales=(1.0, nan)"), ((), "chosen_scales is empty")])
def test_bench_paper_refuses_bad_candidate_scales(tmp_path, capsys, scales, named):
    from decision_transformer.cli import main

    assert main(["bench", "paper", "--exp", "chosen-target", "--chosen-scales", *scales,
                 "--root", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and not (tmp_path / "runs").exists()


def test_protocol_version_cpu_v2_evaluates_cpus_runs_with_more_episodes_and_reports_apart(tmp_path):
    """cpu-v2 is cpu's training with more evaluation episodes: it trains nothing a cpu cell already trained, its
    cells live under ROOT/cpu-v2 with their own count, and a report of one version never holds the other's cells."""
    from dt_experiments.paper.report import write_report

    cfg = dataclasses.replace(QUICK, root=str(tmp_path / "runs"), exp="table2", datasets=(MR,), methods=("mlp-bc",),
                              seeds=1, progress=False)
    v2 = dataclasses.replace(cfg, protocol="cpu-v2", v2_eval_episodes=5)
    name = f"table2/{MR}/mlp-bc/seed0"
    assert C.run_paper(cfg)["ran"] == [name]
    run = Path(cfg.root) / "cpu" / "train" / MR / "mlp-bc" / "seed0"
    trained = sorted(p.name for p in (run / "run").iterdir())
    assert C.run_paper(v2)["ran"] == [name]
    assert sorted(p.name for p in (run / "run").iterdir()) == trained  # the same run, loaded, not trained again
    assert not (Path(cfg.root) / "cpu-v2" / "train").exists()
    one, two = (json.loads(C.Cell("table2", MR, "mlp-bc", 0).path(c).read_text()) for c in (cfg, v2))
    assert one["spec"]["eval_episodes"] == QUICK.cpu.eval_episodes == len(one["per_target"][0]["returns"])
    assert two["spec"]["eval_episodes"] == 5 == len(two["per_target"][0]["returns"])
    assert two["spec"]["protocol"] == "cpu" and two["protocol"] == "cpu-v2"  # trained under cpu, evaluated under v2
    # the first episodes are the same seeds: the v2 evaluation extends cpu's (up to the batch size's float rounding)
    assert two["per_target"][0]["returns"][:2] == pytest.approx(one["per_target"][0]["returns"], rel=1e-5)
    assert C.run_paper(v2)["finished"] == [name]
    report = write_report(cfg.root, "cpu-v2", tmp_path / "out" / "cpu-v2", archive=tmp_path / "cells")
    assert report["protocol"] == "cpu-v2" and report["experiments"]["table2"][MR]["mlp-bc"]["scores"] == [two["score"]]
    assert not (tmp_path / "cells" / "cpu").exists()
    write_report(cfg.root, "cpu", tmp_path / "out", archive=tmp_path / "cells")  # cpu's report links v2's, apart
    md = (tmp_path / "out" / "paper.md").read_text()
    assert f"[cpu-v2/paper.md](cpu-v2/paper.md), protocol `cpu-v2`: table2: mlp-bc on {MR} (n=1)" in md
    # Figure 4 (twelve targets) keeps cpu's count under v2: more would cost more than a tenth of the training
    assert v2.eval_episodes_for("fig4", MR) == QUICK.cpu.eval_episodes and v2.eval_episodes_for("table7", MR) == 5
    assert v2.eval_episodes_for("atari-table1", "breakout-mixed") == QUICK.atari_cpu.eval_episodes


@pytest.mark.skipif(not HAS_D3RLPY, reason="needs the [baselines] extra")
def test_peer_dt_on_atari_is_d3rlpys_discrete_dt_on_our_frames_budget_and_targets(tmp_path):
    """On an Atari dataset d3rlpy-dt is d3rlpy's DiscreteDecisionTransformer: trained on windows of frame stacks
    built as our sampler builds them, at our Atari DT's budget and shape, acting by seeded sampling at the paper's
    target in our runner."""
    pytest.importorskip("ale_py")
    from d3rlpy.dataset import EpisodeGenerator

    from decision_transformer.data.frames import FrameStackSampler
    from decision_transformer.data.preprocess import Preprocessing
    from dt_experiments.paper.peer_dt import FirstFrameTrajectorySlicer, SeededSoftmax

    cfg = dataclasses.replace(QUICK, exp="atari-table1", datasets=("breakout-mixed",), methods=("dt", "d3rlpy-dt"),
                              seeds=1, root=str(tmp_path))
    assert C.run_paper(cfg)["ran"] == [f"atari-table1/breakout-mixed/{m}/seed0" for m in ("dt", "d3rlpy-dt")]
    cell = lambda m: json.loads((tmp_path / "cpu" / "atari-table1" / "breakout-mixed" / m / "seed0" / "result.json").read_text())  # noqa: E731
    ours, peer = cell("dt"), cell("d3rlpy-dt")
    assert peer["targets"] == ours["targets"] == [90.0]
    for key in ("budget", "eval_episodes", "eval_seed", "targets", "max_episode_steps"):
        assert peer["spec"][key] == ours["spec"][key], key
    assert peer["spec"]["model"]["dt"] == ours["spec"]["model"] and peer["spec"]["model"]["embed_activation"] == "tanh"
    assert len(peer["per_target"][0]["returns"]) == cfg.atari_cpu.eval_episodes
    progress = tmp_path / "cpu" / "train" / "breakout-mixed" / "d3rlpy-dt" / "seed0" / "d3rlpy" / "progress.json"
    assert json.loads(progress.read_text())["step"] == cfg.atari_cpu.train.steps
    # the slicer's windows hold the frame stacks our sampler builds (first frame repeated, not zero frames)
    data = M.load_data("breakout-mixed", cfg.data_steps)
    ep = data.episode(0)
    episode = EpisodeGenerator(ep.observations, np.asarray(ep.actions).reshape(-1, 1), ep.rewards.reshape(-1, 1).astype(np.float32),
                               ep.terminations.astype(np.float32), ep.truncations.astype(np.float32))()[0]
    window = FirstFrameTrajectorySlicer(4)(episode, end_index=2, size=5)  # steps 0..2, two padded positions in front
    assert window.observations.shape == (5, 4, 84, 84) and not window.observations[:2].any()
    full = FrameStackSampler(data, Preprocessing.fit(data), 5, 100)
    rows = full.inner.dataset.observations[np.arange(3)]  # (3, 4, 84, 84): our stacks of steps 0..2, raw uint8
    np.testing.assert_array_equal(window.observations[2:], rows)
    # seeded sampling: the same seed, the same actions
    logits = np.log(np.array([0.7, 0.2, 0.1]))
    draw = lambda s: [SeededSoftmax(np.random.default_rng(s), 1.0)(logits) for _ in range(50)]  # noqa: E731
    assert draw(1) == draw(1) and SeededSoftmax(np.random.default_rng(0), 0.0)(logits) == 0


def test_atari_beyond_runs_target_free_dt_on_breakout_and_reports_it(tmp_path):
    """The beyond experiment's dt-auto on Atari: the Atari DT with an expectile return head, acting on its own
    proposals and, for comparison, at the data's best return; dt is Table 1's run at the paper's target."""
    pytest.importorskip("ale_py")
    from dt_experiments.paper.report import write_report

    cfg = dataclasses.replace(QUICK, exp="atari-beyond", seeds=1, root=str(tmp_path / "runs"))
    methods = ("dt", "dt-auto", "dt-auto-normalized")
    assert C.run_paper(cfg)["ran"] == [f"atari-beyond/breakout-mixed/{m}/seed0" for m in methods]
    cell = lambda m: json.loads(C.Cell("atari-beyond", "breakout-mixed", m, 0).path(cfg).read_text())  # noqa: E731
    auto, dt, normalized = cell("dt-auto"), cell("dt"), cell("dt-auto-normalized")
    assert auto["spec"]["model"]["return_head"] == "expectile" and auto["spec"]["model"]["discrete_actions"]
    assert not auto["spec"]["model"]["return_loss_normalized"]
    assert normalized["spec"]["model"] == {**auto["spec"]["model"], "return_loss_normalized": True}
    assert auto["spec"]["targets"]["kind"] == "auto" and len(auto["per_target"]) == 2
    assert dt["targets"] == [90.0]
    with pytest.raises(ValueError, match="odt acts in continuous spaces"):
        M.model_settings(cfg, "breakout-mixed", "odt")
    write_report(cfg.root, "cpu", tmp_path / "out", archive=tmp_path / "cells")
    entry = json.loads((tmp_path / "out" / "atari.json").read_text())["experiments"]["beyond"]["breakout"]
    assert set(entry) == set(methods) and len(entry["dt-auto"]["scores_at_best"]) == 1
    assert "Beyond the paper: target-free acting" in (tmp_path / "out" / "atari.md").read_text()


def test_dt_official_init_is_our_dt_initialised_as_the_paper_code():
    """Method dt-official-init: the same model, budget and evaluation as dt, with DTConfig.init='official'."""
    cfg = dataclasses.replace(QUICK, exp="table2")
    ours, other = (M.model_settings(cfg, MR, m) for m in ("dt", "dt-official-init"))
    assert other == {**ours, "init": "official"} and ours["init"] == "gpt2"
    assert C.cell_spec(cfg, C.Cell("table2", MR, "dt-official-init", 0))["targets"] == \
        C.cell_spec(cfg, C.Cell("table2", MR, "dt", 0))["targets"]


def test_dt_tanh_embed_is_our_atari_dt_embedded_as_the_paper_atari_code():
    """Method dt-tanh-embed: Table 1's DT model with DTConfig.embed_norm='tanh', the same targets; refused on gym."""
    cfg = dataclasses.replace(QUICK, exp="atari-table1")
    ours, other = (M.model_settings(cfg, "breakout-mixed", m) for m in ("dt", "dt-tanh-embed"))
    assert other == {**ours, "embed_norm": "tanh"} and ours["embed_norm"] == "layernorm"
    assert C.cell_spec(cfg, C.Cell("atari-table1", "breakout-mixed", "dt-tanh-embed", 0))["targets"] == \
        C.cell_spec(cfg, C.Cell("atari-table1", "breakout-mixed", "dt", 0))["targets"]
    with pytest.raises(ValueError, match="dt-tanh-embed is an Atari diagnostic") as refused:
        M.model_settings(dataclasses.replace(QUICK, exp="table2"), MR, "dt-tanh-embed")
    assert "dt-official-init" in str(refused.value) and "dt-tanh-embed," not in str(refused.value)  # gym's methods
    with pytest.raises(ValueError, match="dt-official-init is a gym diagnostic") as refused:
        M.model_settings(cfg, "breakout-mixed", "dt-official-init")
    listed = str(refused.value).split("use ")[-1].split(", ")  # the Atari methods, derived from the experiments
    assert {"dt", "bc", "cql", "dt-k1", "dt-auto", "dt-tanh-embed"} <= set(listed) and "mlp-bc" not in listed


def test_dt_end_windows_trains_our_dt_on_d3rlpys_window_convention(tmp_path):
    cfg = dataclasses.replace(QUICK, exp="table2", datasets=(MR,), methods=("dt-end-windows",), seeds=1,
                              root=str(tmp_path))
    assert C.run_paper(cfg)["ran"] == [f"table2/{MR}/dt-end-windows/seed0"]
    run = tmp_path / "cpu" / "train" / MR / "dt-end-windows" / "seed0" / "run"
    assert json.loads((run / "train_config.json").read_text())["train"]["sampler"] == "window-end"
    assert M.model_settings(cfg, MR, "dt-end-windows") == M.model_settings(cfg, MR, "dt")


def test_figure4_reports_and_plots_every_method(tmp_path):
    """Figure 4's table has a row per (dataset, method), with the return at the highest target, and one plot per
    dataset holds every method."""
    from dt_experiments.paper.markdown import fig4_section
    from dt_experiments.paper.report import plot_fig4s

    def entry(achieved):
        mean = np.mean(achieved, axis=0).tolist()
        return {"targets": [0.0, 50.0, 100.0, 150.0], "achieved": achieved, "achieved_mean": mean,
                "data_return_range": [0.0, 100.0], "pearson": 0.9, "pearson_per_seed": [0.9] * len(achieved)}

    per = {MR: {"dt": entry([[0, 50, 100, 140], [0, 50, 100, 160]]), "dt-stochastic": entry([[0, 50, 100, 150]])}}
    text = fig4_section(per, "paper_fig4")
    rows = [line for line in text.splitlines() if line.startswith(f"| {MR} |")]
    assert [r.split(" | ")[1] for r in rows] == ["dt", "dt-stochastic"]
    assert "| 150 (n=2) |" in rows[0] and "| 150 (n=1) |" in rows[1] and f"paper_fig4_{MR}.png" in rows[1]
    plot_fig4s(tmp_path, per, "paper_fig4")
    assert (tmp_path / f"paper_fig4_{MR}.png").stat().st_size > 1000


def test_discounted_return_to_go_restarts_at_each_episode_end():
    """d3rlpy_logs.discounted_return_to_go: the value a Q-learner's Q(s, a) estimates, per episode (q_probe's and
    scripts/atari_cql_probe.py's yardstick)."""
    from dt_experiments.paper.d3rlpy_logs import discounted_return_to_go

    got = discounted_return_to_go(np.array([1.0, 0.0, 2.0, 5.0, 1.0]), np.array([3, 5]), 0.5)
    assert np.allclose(got, [1.5, 1.0, 2.0, 5.5, 1.0])  # 1 + .5 * (0 + .5 * 2); then 5 + .5 * 1
