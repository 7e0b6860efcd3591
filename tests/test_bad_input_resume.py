"""Resuming a run: it trains on the data it was started with (train_config.json's field 'dataset'), a new total
of steps is kept, machine-only settings may change, a killed save's temps are cleaned, the files of a run are
readable by others as the umask says; and `dt demo` only replaces runs it made."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from conftest import assert_one_error, make_dataset
from decision_transformer.common import atomic
from decision_transformer.config import model_config
from decision_transformer.train import TrainConfig, resume, train, train_or_resume


def tiny_cfg(dataset, out, steps=3, **kw) -> TrainConfig:
    return TrainConfig(dataset=str(dataset), out=str(out), steps=steps, batch_size=4, warmup_steps=2, log_every=1,
                       save_every=3, progress=False, **kw)


def tiny_model():
    return model_config("dt", context_len=4, embed_dim=16, n_layer=1, max_ep_len=100)


@pytest.fixture
def trained(tmp_path, monkeypatch) -> Path:
    """A 3-step run in tmp_path/a/d1 on the relative dataset path dd.npz (typed from tmp_path/a)."""
    here = tmp_path / "a"
    here.mkdir()
    make_dataset(lengths=(20, 30)).save(here / "dd.npz")
    monkeypatch.chdir(here)
    train(tiny_cfg("dd.npz", "d1"), tiny_model())
    return here / "d1"


def config(run: Path) -> dict:
    return json.loads((run / "train_config.json").read_text())


def test_resume_trains_on_the_recorded_data_wherever_it_is_started(trained, tmp_path, monkeypatch, dt):
    saved = config(trained)["dataset"]
    assert saved["path"] == str(tmp_path / "a" / "dd.npz") and saved["steps"] == 50 and saved["episodes"] == 2
    other = tmp_path / "b"
    other.mkdir()
    make_dataset(lengths=(7, 9, 11)).save(other / "dd.npz")  # other data under the same relative name
    monkeypatch.chdir(other)
    assert resume("../a/d1", steps=4).meta.step == 4  # the run's own dd.npz, not b/dd.npz
    shutil.copy(other / "dd.npz", tmp_path / "a" / "dd.npz")  # the run's file now holds other data: refused
    res = dt("train", "--resume", "../a/d1", "--steps", "5")
    assert_one_error(res, "train", "train_config.json", "'dataset'", "50 steps")
    (tmp_path / "a" / "dd.npz").unlink()
    assert_one_error(dt("train", "--resume", "../a/d1", "--steps", "5"), "train", "train_config.json", "'dataset'",
                     "no longer exists")


def test_a_run_without_a_recorded_fingerprint_still_resumes(trained):
    data = config(trained)
    del data["dataset"]
    (trained / "train_config.json").write_text(json.dumps(data))
    assert resume(trained, steps=4).meta.step == 4


def test_in_memory_data_is_fingerprinted_too(tmp_path):
    data = make_dataset(lengths=(20, 30))
    cfg = tiny_cfg("<memory>", tmp_path / "m", steps=6)
    train_or_resume(cfg, tiny_model(), data)
    (tmp_path / "m" / "checkpoints" / "latest").write_text("step_00000003")  # as if killed after step 3
    with pytest.raises(ValueError, match="field 'dataset'"):
        train_or_resume(cfg, tiny_model(), make_dataset(lengths=(20, 30), seed=1))
    assert train_or_resume(cfg, tiny_model(), data).meta.step == 6


def test_a_new_total_of_steps_is_kept(trained, dt):
    assert dt("train", "--resume", trained, "--steps", "5").returncode == 0
    assert config(trained)["train"]["steps"] == 5
    res = dt("train", "--resume", trained)  # plain resume of a finished run: says so, trains nothing
    assert res.returncode == 0 and "already at its total of 5 steps" in res.stderr
    assert "trained to step 5" in res.stdout


def test_machine_settings_may_change_on_resume(trained, dt):
    data = config(trained)
    data["train"]["device"] = "cuda"  # trained on a GPU, resumed on this CPU machine
    (trained / "train_config.json").write_text(json.dumps(data))
    res = dt("train", "--resume", trained, "--steps", "4", "--device", "cpu", "--no-progress", "--torch-threads", "1")
    assert res.returncode == 0, res.stderr
    assert config(trained)["train"]["device"] == "cuda" and config(trained)["train"]["torch_threads"] == 0
    res = dt("train", "--resume", trained, "--lr", "0.1")
    assert_one_error(res, "train", "--lr")


def test_a_machine_setting_given_on_resume_is_named_as_given_not_as_the_saved_file(trained, dt):
    res = dt("train", "--resume", trained, "--device", "cuda:7", "--no-progress")  # this sitting's own setting
    line = assert_one_error(res, "train", "TrainConfig.device='cuda:7'")
    assert "train_config.json" not in line
    with pytest.raises(ValueError, match=r"^TrainConfig.torch_threads=999 is more than"):  # an error, as for a new run
        resume(trained, steps=4, torch_threads=999)
    data = config(trained)
    data["train"]["device"] = "cuda:7"  # saved by the run: named as train_config.json's
    (trained / "train_config.json").write_text(json.dumps(data))
    assert_one_error(dt("train", "--resume", trained, "--no-progress"), "train",
                     f"{trained / 'train_config.json'}: TrainConfig.device='cuda:7'")


def test_stale_temps_of_a_killed_save_are_removed_on_resume(trained):
    ckpts = trained / "checkpoints"
    (ckpts / ".step_00000008.abc.tmp").mkdir()
    (ckpts / ".step_00000008.abc.tmp" / "model.safetensors").write_bytes(b"x")
    (ckpts / ".latest.xyz.tmp").write_text("step_00000008")
    (ckpts / "step_00000003" / ".trainer_state.pt.q.tmp").write_bytes(b"x")
    resume(trained, steps=4)
    assert not list(trained.rglob("*.tmp"))


def test_run_files_follow_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        assert atomic.umask() == 0o002
        make_dataset(lengths=(20, 30)).save(tmp_path / "dd.npz")
        train(tiny_cfg(tmp_path / "dd.npz", tmp_path / "r"), tiny_model())
    finally:
        os.umask(old)
    ckpt = tmp_path / "r" / "checkpoints" / "step_00000003"
    for f in (tmp_path / "r" / "train_config.json", tmp_path / "r" / "checkpoints" / "latest",
              ckpt / "model.safetensors", ckpt / "meta.json", ckpt / "trainer_state.pt"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o664, f
    assert stat.S_IMODE(ckpt.stat().st_mode) == 0o775


def test_demo_replaces_only_runs_it_made(tmp_path, dt):
    from decision_transformer.commands.demo import DEMO_MARKER, _claim_run_dir

    make_dataset(lengths=(20, 30)).save(tmp_path / "dd.npz")
    train(tiny_cfg(tmp_path / "dd.npz", tmp_path / "runs" / "dt"), tiny_model())  # `dt train`'s default runs/dt
    res = dt("demo", "--out", tmp_path / "runs", "--steps", "1")
    assert_one_error(res, "demo", "DemoConfig.out", str(tmp_path / "runs" / "dt"))
    assert (tmp_path / "runs" / "dt" / "checkpoints" / "latest").is_file()  # untouched
    demo_run = tmp_path / "demo" / "dt"
    _claim_run_dir(demo_run)  # made by the demo: marked, and replaced by a later demo
    (demo_run / "metrics.jsonl").write_text("{}\n")
    _claim_run_dir(demo_run)
    assert sorted(p.name for p in demo_run.iterdir()) == sorted([".lock", DEMO_MARKER])


def test_a_finetune_run_is_not_offered_to_dt_train_resume(tmp_path, dt):
    from decision_transformer.preflight import refuse_existing_run

    run = tmp_path / "f1"
    (run / "checkpoints" / "step_00000001").mkdir(parents=True)
    (run / "checkpoints" / "latest").write_text("step_00000001")
    (run / "finetune_config.json").write_text("{}")
    with pytest.raises(FileExistsError, match="fine-tuning run.*dt finetune") as info:
        refuse_existing_run(run)
    assert "dt train --resume" not in str(info.value)


def test_json_errors_read_once(tmp_path):
    (tmp_path / "x.json").write_text('{"a": "x')
    with pytest.raises(ValueError, match="Unterminated string starting at line 1") as info:
        atomic.read_json(tmp_path / "x.json")
    assert "at at" not in str(info.value)
