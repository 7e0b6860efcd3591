"""Bad input to running, evaluating, fine-tuning and exporting a run: observations the model cannot take, defaults
that would be silently wrong (a missing max_return, a derived exploration target below the evaluation one), output
paths that fail only at the end, run directories taken over, option values argparse or torch misread. Each case: one
error line (or a warning) naming the file or the setting, the field and what was expected, before any work."""

from __future__ import annotations

import dataclasses
import shutil
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import assert_one_error, edit_json, make_dataset
from decision_transformer.checkpoint import CheckpointError, load_run, load_trainer_state
from decision_transformer.config import DTConfig, MLPBCConfig, model_config
from decision_transformer.run_config import FinetuneConfig, TrainConfig
from decision_transformer.train import train

CKPT = "checkpoints/step_00000003"
TINY_MODEL = dict(context_len=4, embed_dim=8, n_layer=1, max_ep_len=100)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 3-step run of a tiny DT on 2-dim observations, 1-dim actions (no env id)."""
    root = tmp_path_factory.mktemp("run")
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    cfg = TrainConfig(dataset=str(d.save(root / "toy.npz")), out=str(root / "run"), steps=3, batch_size=4,
                      warmup_steps=2, log_every=1, save_every=3, progress=False)
    train(cfg, model_config("dt", **TINY_MODEL))
    return root / "run"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of the trained run to break."""
    return Path(shutil.copytree(trained, tmp_path / "run"))



# ------------------------------------------------------------------------------ 3: observation shapes
@pytest.mark.parametrize("shape", [(64, 64, 3), (7, 7, 3), (4, 4), (4, 8, 8), (), (1, 4, 8, 8)])
def test_observations_the_encoder_cannot_take_are_refused(shape):
    from decision_transformer.data.frames import model_state_shape

    d = make_dataset(lengths=(10, 10), obs_dim=2)
    d = dataclasses.replace(d, observations=np.zeros((d.num_steps, *shape), np.float32), source="hwc.npz")
    with pytest.raises(ValueError) as err:
        model_state_shape(d)
    assert str(err.value) == (f"hwc.npz: field 'observations' has shape {shape} per step; expected (obs_dim,) vectors, "
                              "(H, W) frames or (C, H, W) with H, W >= 36 (channels first)")


def test_channels_last_frames_are_refused_before_the_model_is_built(tmp_path):
    d = make_dataset(lengths=(10, 10), obs_dim=2)
    d = dataclasses.replace(d, observations=np.zeros((d.num_steps, 64, 64, 3), np.uint8), source="hwc.npz")
    cfg = TrainConfig(out=str(tmp_path / "out"), steps=2, warmup_steps=1, progress=False)
    with pytest.raises(ValueError, match=r"^hwc.npz: field 'observations' has shape \(64, 64, 3\) per step; "):
        train(cfg, model_config("dt", **TINY_MODEL), dataset=d)
    assert not (tmp_path / "out").exists()
    assert model_state_shape_of((20, 84, 84)) == (4, 84, 84) and model_state_shape_of((20, 3, 36, 40)) == (3, 36, 40)


def model_state_shape_of(shape: tuple) -> object:
    from decision_transformer.data.frames import model_state_shape

    return model_state_shape(types.SimpleNamespace(observation_shape=shape[1:], source="x"))


def test_the_minimum_frame_size_is_the_encoders():
    from decision_transformer.model import AtariEncoder, min_frame_size

    AtariEncoder((4, min_frame_size(), min_frame_size()), 8)  # the smallest frames it takes
    with pytest.raises(ValueError, match="H, W >= 36"):
        AtariEncoder((4, min_frame_size() - 1, 84), 8)


# ------------------------------------------------------------------------------ 4, 9, 10, 24: dt eval
def test_eval_of_a_run_without_max_return_asks_for_targets(run, dt):
    edit_json(run / CKPT / "meta.json", lambda m: m["extra"].pop("max_return"))  # as `dt hf import` writes it
    assert_one_error(dt("eval", run, "--env-id", "Pendulum-v1", "--num-episodes", "1", "--no-progress"), "eval",
                     "meta.json", "field 'extra.max_return' is missing", "pass --targets")


def test_eval_of_a_bc_run_evaluates_once_whatever_the_targets(tmp_path, dt):
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    d = dataclasses.replace(d, observations=np.pad(d.observations, ((0, 0), (0, 1))))  # Pendulum-v1's 3 values
    cfg = TrainConfig(dataset=str(d.save(tmp_path / "toy.npz")), out=str(tmp_path / "bc"), steps=2, batch_size=4,
                      warmup_steps=1, save_every=2, progress=False)
    train(cfg, model_config("bc", **TINY_MODEL))
    args = ("eval", tmp_path / "bc", "--env-id", "Pendulum-v1", "--num-episodes", "1", "--max-episode-steps", "5",
            "--no-progress")
    res = dt(*args, "--targets", "100", "200")
    assert res.returncode == 0, res.stderr
    assert "model kind 'bc' reads no return-to-go; it is evaluated once, the targets are ignored" in res.stderr
    rows = [line for line in res.stdout.splitlines() if line.strip().startswith("bc ")]
    assert len(rows) == 1 and "(none)" in rows[0]
    assert_one_error(dt(*args, "--targets", "100", "200", "--choose-target"), "eval", "EvalCommand.choose_target",
                     "model kind 'bc' reads no return-to-go")


def test_eval_seed_must_not_be_negative():
    from decision_transformer.commands.eval import EvalCommand

    with pytest.raises(ValueError, match=r"EvalCommand.seed=-5 must be >= 0"):
        EvalCommand(run_dir="run", seed=-5)


def test_eval_output_paths_are_checked_before_evaluating(run, tmp_path, dt):
    file = tmp_path / "file.txt"
    file.write_text("x")
    for option, path, named in (("--json", "/proc/x.json", "not writable"), ("--json", tmp_path, "is a directory"),
                                ("--json", file / "x.json", "not a directory"), ("--video", file, "not a directory")):
        line = assert_one_error(dt("eval", run, "--env-id", "NoSuchEnv-v0", option, path, "--no-progress"), "eval",
                                f"EvalCommand.{option[2:]}={str(path)!r}", named)
        assert ".tmp" not in line


def test_atomic_writes_name_the_target_not_the_temp_file(tmp_path):
    from decision_transformer.common import atomic

    with pytest.raises(OSError) as err:
        atomic.write_json("/proc/x.json", {})
    assert str(err.value) == "/proc/x.json: cannot write (No such file or directory)"
    with pytest.raises(OSError, match=r"cannot write \(Is a directory\)") as err:
        atomic.write_json(tmp_path, {})
    assert ".tmp" not in str(err.value)


def _record_flushes_and_renames(monkeypatch) -> list[tuple[str, str]]:
    """("fsync", path of the flushed descriptor) and ("replace", source) events, in order (Linux: /proc/self/fd)."""
    import os

    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_atomic_writes_reach_the_disk_before_they_take_their_name(tmp_path, monkeypatch):
    from decision_transformer.common import atomic

    events = _record_flushes_and_renames(monkeypatch)
    atomic.write_json(tmp_path / "x.json", {"a": 1})
    tmp = events[1][1]
    assert events == [("fsync", tmp), ("replace", tmp), ("fsync", str(tmp_path))]  # data, rename, then the rename itself
    assert Path(tmp).parent == tmp_path and not Path(tmp).exists()


def test_a_failed_flush_names_the_file_and_keeps_the_old_one_and_a_directory_flush_is_best_effort(tmp_path, monkeypatch):
    import errno
    import os

    from decision_transformer.common import atomic

    target = tmp_path / "x.json"
    atomic.write_json(target, {"old": 1})
    real_fsync = os.fsync

    def full_disk(fd):
        if not os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as err:
        atomic.write_json(target, {"new": 1})
    assert str(err.value) == f"{target}: cannot write (No space left on device)"
    assert atomic.read_json(target) == {"old": 1} and [p.name for p in tmp_path.iterdir()] == ["x.json"]

    def refusing_directories(fd):
        if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", refusing_directories)  # some filesystems: the rename has happened, nothing to do
    atomic.write_json(target, {"new": 2})
    assert atomic.read_json(target) == {"new": 2}


def test_a_checkpoint_reaches_the_disk_whole_before_it_takes_its_name(run, tmp_path, monkeypatch):
    from decision_transformer.checkpoint import save_checkpoint

    loaded = load_run(run)
    events = _record_flushes_and_renames(monkeypatch)
    final = save_checkpoint(tmp_path / "copy", loaded.model, dataclasses.replace(loaded.meta, step=99))
    renamed = next(i for i, (kind, path) in enumerate(events) if kind == "replace" and Path(path).name.startswith(".step_"))
    tmp = Path(events[renamed][1])
    flushed_before = {Path(p) for kind, p in events[:renamed] if kind == "fsync"}
    assert {tmp / f.name for f in final.iterdir()} | {tmp} <= flushed_before  # every file and the directory itself
    assert events[renamed + 1] == ("fsync", str(final.parent))
    assert load_run(final).meta.step == 99


def test_negative_targets_in_any_notation_are_values_and_an_empty_targets_is_an_error(dt):
    from decision_transformer.cli import build_parser

    args = build_parser().parse_args(["eval", "r", "--targets", "-1e3", "-.5", "-2", "-1E+2", "auto", "--seed", "1"])
    assert args.targets == [-1000.0, -0.5, -2.0, -100.0, "auto"] and args.seed == 1
    assert build_parser().parse_args(["finetune", "r", "--eval-target", "-9e1"]).eval_target == -90.0
    res = dt("eval", "r", "--targets")
    assert res.returncode == 2 and "argument --targets: expected at least one argument" in res.stderr


# ------------------------------------------------------------------------------ 5: dt hf import
@pytest.mark.filterwarnings("ignore:model has no predict_state")
def test_hf_import_refuses_to_take_over_a_trained_run(run, tmp_path, dt):
    from decision_transformer.hf.runs import export_hf

    export_hf(run, tmp_path / "hf")
    before = (run / "checkpoints/latest").read_text()
    assert_one_error(dt("hf", "import", tmp_path / "hf", "--out", run), "hf", f"{run}: already holds a run",
                     "another --out")
    assert (run / "checkpoints/latest").read_text() == before
    assert_one_error(dt("hf", "import", tmp_path / "hf", "--out", run / "checkpoints/latest/x"), "hf",
                     "HFImport.out", "not a directory")


@pytest.mark.filterwarnings("ignore:model has no predict_state")
def test_an_exported_run_keeps_its_default_target_through_hugging_face(run, tmp_path):
    from decision_transformer.hf.runs import export_hf, import_hf

    export_hf(run, tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "again")
    assert load_run(tmp_path / "again").meta.extra["max_return"] == load_run(run).meta.extra["max_return"]


# ------------------------------------------------------------------------------ 6, 11: dt finetune
def _meta(max_return: float):
    return types.SimpleNamespace(extra={"max_return": max_return})


def test_finetune_refuses_a_derived_exploration_target_below_the_evaluation_target():
    from decision_transformer.online import targets

    offline = types.SimpleNamespace(episode_returns=np.array([-90.0, -200.0]))
    with pytest.raises(ValueError) as err:
        targets(FinetuneConfig(), _meta(-90.0), offline)
    assert all(s in str(err.value) for s in ("FinetuneConfig.online_target", "-90", "-180", "--online-target"))
    with pytest.raises(ValueError, match="-180"):
        targets(FinetuneConfig(), types.SimpleNamespace(extra={}), offline)  # the data's best return, -90
    assert targets(FinetuneConfig(online_target=-50.0), _meta(-90.0), offline) == (-90.0, -50.0)
    assert targets(FinetuneConfig(eval_target=0.0), _meta(300.0), offline) == (0.0, 0.0)  # 0 is a target now
    assert targets(FinetuneConfig(), _meta(300.0), offline) == (300.0, 600.0)


def test_finetune_target_zero_is_given_and_saved_settings_of_older_runs_still_match(dt):
    from decision_transformer.cli import build_parser
    from decision_transformer.cli_args import from_args, to_argv
    from decision_transformer.online import _jsonable, _saved_settings

    cfg = from_args(FinetuneConfig, build_parser().parse_args(["finetune", "r", "--eval-target", "0"]))
    assert cfg.eval_target == 0.0 and cfg.online_target is None
    assert "--eval-target" in to_argv(cfg) and "--online-target" not in to_argv(cfg)  # unset: no option
    old = {"finetune": {**_jsonable(FinetuneConfig()), "eval_target": 0.0, "online_target": 0.0}}  # 0.0 was unset
    assert _saved_settings(old) == _jsonable(FinetuneConfig())
    new = {"finetune": {**_jsonable(FinetuneConfig()), "eval_target": 0.0}, "version": 2}
    assert _saved_settings(new) != _jsonable(FinetuneConfig())  # an explicit 0 is not the default


def test_finetune_into_an_offline_run_or_a_file_is_refused(run, tmp_path, dt):
    assert_one_error(dt("finetune", run, "--out", run, "--no-progress"), "finetune", f"{run} holds an offline "
                     "training run (train_config.json), not a fine-tuning run; choose another --out")
    npz = run.parent / "good.npz"
    npz.write_bytes(b"x")
    assert_one_error(dt("finetune", run, "--out", npz), "finetune", f"FinetuneConfig.out={str(npz)!r}",
                     "not a directory")


# ------------------------------------------------------------------------------ 8, 27: warnings about the data
def test_training_data_the_model_cannot_fit_is_warned_about():
    from decision_transformer import preflight

    d = make_dataset(lengths=(20, 150), obs_dim=2, act_dim=1, source="wide.npz")
    d = dataclasses.replace(d, actions=d.actions * 3)
    with pytest.warns(UserWarning) as caught:
        preflight.warn_settings(TrainConfig(warmup_steps=1), model_config("dt", **TINY_MODEL), d)
    text = [str(w.message) for w in caught]
    assert any(t.startswith("wide.npz: field 'actions' spans [-") and "outside the [-1, 1]" in t
               and "pass --scale-actions (or --no-action-tanh)" in t for t in text), text
    assert any("DTConfig.max_ep_len=100 is shorter than the longest episode of wide.npz (150 steps)" in t
               and "--max-ep-len 150" in t for t in text), text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # within range and length: nothing to say
        preflight.warn_settings(TrainConfig(warmup_steps=1), model_config("dt", **TINY_MODEL),
                                make_dataset(lengths=(20, 30)))
        wide = make_dataset(lengths=(20, 30))
        preflight.warn_settings(TrainConfig(warmup_steps=1), model_config("dt", **TINY_MODEL, action_tanh=False),
                                dataclasses.replace(wide, actions=wide.actions * 3))  # no tanh: any range
        preflight.warn_settings(TrainConfig(warmup_steps=1, scale_actions=True), model_config("dt", **TINY_MODEL),
                                dataclasses.replace(wide, actions=wide.actions * 3))  # scaled: the model sees [-1, 1]


def test_bf16_on_a_cpu_that_emulates_it_is_warned_about(monkeypatch):
    from decision_transformer import preflight
    from decision_transformer.common import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match=r"TrainConfig.precision=.bf16. on a CPU without native bf16.*--precision auto.*dt bench: the protocol fixes"):
        preflight.warn_settings(TrainConfig(warmup_steps=1, precision="bf16"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        preflight.warn_settings(TrainConfig(warmup_steps=1, precision="auto"))  # auto resolves to fp32 there
        preflight.warn_settings(TrainConfig(warmup_steps=1, precision="bf16", device="cuda"))  # a GPU's own bf16
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
        preflight.warn_settings(TrainConfig(warmup_steps=1, precision="bf16"))


# ------------------------------------------------------------------------------ 18, 22b: checkpoint files
def test_latest_naming_a_missing_or_unreadable_step_is_named(run):
    (run / "checkpoints/latest").write_text("step_00000099")
    with pytest.raises(CheckpointError, match=r"checkpoints/latest: names step_00000099, which does not exist"):
        load_run(run)
    (run / "checkpoints/latest").write_bytes(b"step_\xff\xfe")
    with pytest.raises(CheckpointError, match=r"checkpoints/latest: unreadable .*utf-8.*expected the name of a step"):
        load_run(run)


def test_non_finite_optimizer_moments_are_refused_when_loading(run):
    f = run / CKPT / "trainer_state.pt"
    state = torch.load(f, weights_only=True)
    moments = next(iter(state["optimizer"]["state"].values()))
    moments["exp_avg"].fill_(float("nan"))
    torch.save(state, f)
    with pytest.raises(CheckpointError, match=r"trainer_state.pt: field 'optimizer': 'exp_avg' of parameter \d+ "
                                              r"holds non-finite values"):
        load_trainer_state(run / CKPT)


# ------------------------------------------------------------------------------ 17, 20, 21: options and demo
def test_a_context_longer_than_max_ep_len_is_refused():
    with pytest.raises(ValueError, match=r"DTConfig.context_len=1000000 must be <= max_ep_len=1000"):
        DTConfig(context_len=1_000_000)
    with pytest.raises(ValueError, match=r"MLPBCConfig.context_len=2000 must be <= max_ep_len=1000"):
        MLPBCConfig(context_len=2000)


def test_export_opset_outside_what_torch_writes_is_refused():
    from decision_transformer.commands.export import ExportCommand, max_opset

    with pytest.raises(ValueError, match=rf"ExportCommand.opset=99: expected 17 to {max_opset('torchscript')}"):
        ExportCommand(run_dir="run", onnx="x.onnx", opset=99)
    ExportCommand(run_dir="run", onnx="x.onnx", opset=max_opset("torchscript"))


def test_demo_checks_the_env_id_and_its_json_path_before_training(tmp_path, dt):
    npz = make_dataset(lengths=(20, 30)).save(tmp_path / "noenv.npz")
    assert_one_error(dt("demo", "--dataset", npz, "--out", tmp_path / "demo", "--steps", "2"), "demo",
                     "noenv.npz", "field 'env_id' is empty")
    assert not (tmp_path / "demo" / "dt").exists()
    assert_one_error(dt("demo", "--dataset", npz, "--out", tmp_path / "demo", "--json", tmp_path), "demo",
                     "DemoConfig.json", "is a directory")


def test_a_finetune_checkpoint_with_non_finite_moments_is_refused_on_resume(tmp_path, monkeypatch):
    """`dt finetune` resumes from its own trainer state (online.Finetuner.restore): the same finiteness check."""
    import torch

    import decision_transformer.checkpoint as checkpoint
    from decision_transformer.online import Finetuner
    from decision_transformer.rundir import CheckpointError

    ckpt = tmp_path / "step_00000001"
    ckpt.mkdir()
    torch.save({"optimizer": {"state": {0: {"exp_avg": torch.tensor([float("nan")])}}, "param_groups": []},
                "scheduler": {}, "objective": {}, "buffer": {}, "numpy_rng": {}, "torch_rng": torch.zeros(1),
                "counters": [0, 0, 0]}, ckpt / "trainer_state.pt")
    tuner = Finetuner.__new__(Finetuner)  # restore reads only the files and these attributes
    tuner.model, tuner.device = torch.nn.Linear(1, 1), torch.device("cpu")
    monkeypatch.setattr(checkpoint, "load_weights", lambda *a, **k: None)
    with pytest.raises(CheckpointError, match=r"trainer_state\.pt: field 'optimizer': 'exp_avg' of parameter 0 holds "
                                              "non-finite values"):
        tuner.restore(ckpt)
    torch.save({"optimizer": {}}, ckpt / "trainer_state.pt")
    with pytest.raises(CheckpointError, match=r"trainer_state\.pt: missing field\(s\) \['buffer', 'counters'"):
        tuner.restore(ckpt)


def test_a_file_given_as_a_run_and_a_missing_step_are_named(run, tmp_path, dt):
    onnx = tmp_path / "policy.onnx"
    onnx.write_bytes(b"\x08\x07")
    line = assert_one_error(dt("eval", onnx, "--targets", "1"), "eval", str(onnx), "is a file",
                            "decision_transformer.deploy.OnnxPolicy")
    assert "no checkpoint found" not in line
    other = tmp_path / "notes.txt"
    other.write_text("x")
    line = assert_one_error(dt("export", other, "--onnx", tmp_path / "p.onnx"), "export", str(other), "is a file",
                            "expected a run directory")
    assert "OnnxPolicy" not in line
    assert_one_error(dt("export", run, "--step", "2", "--onnx", tmp_path / "p.onnx"), "export",
                     "no checkpoint for step 2", "its checkpoints are at steps [3]")


def test_an_out_inside_a_runs_checkpoints_is_refused(run, tmp_path, dt, toy_npz):
    """Training or fine-tuning into a checkpoint directory wrote a run there that loads as the old checkpoint
    (its meta.json wins): refused before anything is written, naming the checkpoint."""
    ckpt = run / "checkpoints" / "step_00000003"
    for out in (ckpt, ckpt / "sub", run / "checkpoints"):
        before = sorted(p.name for p in run.rglob("*"))
        line = assert_one_error(dt("train", "--dataset", toy_npz, "--steps", "2", "--out", out), "train",
                                f"TrainConfig.out={str(out)!r}", "outside any run's checkpoints")
        assert str(run / "checkpoints") in line
        assert sorted(p.name for p in run.rglob("*")) == before


def test_a_file_without_an_env_gets_the_env_rule_by_flag_and_a_warning_without(tmp_path, dt):
    """A hand-written file that names no env gets reward_scale 1; trained for a MuJoCo env, that is warned about,
    and --reward-scale sets the scale the run records (and trains with)."""
    from decision_transformer.checkpoint import load_run

    d = make_dataset(lengths=(20, 30), obs_dim=1, act_dim=3, reward_scale=1.0)
    d = dataclasses.replace(d, observations=np.repeat(d.observations, 11, axis=1))  # Hopper's 11 observations
    assert d.env_id == ""
    src = d.save(tmp_path / "mine.npz")
    common = ("train", "--dataset", src, "--env-id", "Hopper-v5", "--steps", "2", "--warmup-steps", "1",
              "--batch-size", "4", "--embed-dim", "16", "--n-layer", "1", "--no-progress")
    res = dt(*common, "--out", tmp_path / "plain")
    assert res.returncode == 0, res.stderr
    assert ("reward_scale is 1, but the data names no env, and the rule for --env-id Hopper-v5 is 1000" in res.stderr
            and "pass --reward-scale 1000" in res.stderr), res.stderr
    assert load_run(tmp_path / "plain").meta.reward_scale == 1.0
    res = dt(*common, "--out", tmp_path / "scaled", "--reward-scale", "1000")
    assert res.returncode == 0 and "reward_scale is" not in res.stderr, res.stderr
    assert load_run(tmp_path / "scaled").meta.reward_scale == 1000.0
    assert_one_error(dt(*common, "--out", tmp_path / "bad", "--reward-scale=-1"), "train", "TrainConfig.reward_scale=-1")
