"""Bad run directories: one file of a trained run broken at a time (meta.json, train_config.json,
model.safetensors, trainer_state.pt, metrics.jsonl, checkpoints/latest). `dt eval` and `dt train --resume` exit 2
with one `dt ...: error:` line that names the file and the field, never a traceback (rundir.py's readers)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import assert_one_error, edit_json, make_dataset
from decision_transformer.checkpoint import CheckpointError, RunMeta, load_run
from decision_transformer.config import model_config
from decision_transformer.common.metrics import read_metrics
from decision_transformer.train import TrainConfig, train

CKPT = "checkpoints/step_00000003"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A 3-step run of a tiny DT on InvertedPendulum-shaped data (4 obs dims, 1 action)."""
    root = tmp_path_factory.mktemp("rundir")
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1),
                            env_id="InvertedPendulum-v5")
    cfg = TrainConfig(dataset=str(d.save(root / "pend.npz")), out=str(root / "run"), steps=3, batch_size=4,
                      warmup_steps=2, log_every=1, save_every=3, progress=False)
    train(cfg, model_config("dt", context_len=4, embed_dim=8, n_layer=1, max_ep_len=100))
    return root / "run"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of the trained run to break."""
    return Path(shutil.copytree(trained, tmp_path / "run"))



def edit_tensors(path: Path, change) -> None:
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


def truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


# ------------------------------------------------------------------------------ dt eval: meta.json, weights
EVAL_CASES = {
    "weights truncated": (lambda r: truncate(r / CKPT / "model.safetensors", 100), ["model.safetensors"]),
    "weights junk": (lambda r: (r / CKPT / "model.safetensors").write_bytes(b"junk"), ["model.safetensors"]),
    "weights missing": (lambda r: (r / CKPT / "model.safetensors").unlink(), ["model.safetensors", "missing"]),
    "tensor of the wrong shape": (lambda r: edit_tensors(r / CKPT / "model.safetensors", lambda t: t.update(
        {"embed_state.weight": torch.zeros(8, 5)})), ["model.safetensors", "'embed_state.weight'", "(8, 5)"]),
    "tensor missing": (lambda r: edit_tensors(r / CKPT / "model.safetensors", lambda t: t.pop("ln_f.bias")),
                       ["model.safetensors", "ln_f.bias"]),
    "non-finite tensor": (lambda r: edit_tensors(r / CKPT / "model.safetensors", lambda t: t["ln_f.bias"].fill_(
        float("nan"))), ["model.safetensors", "'ln_f.bias'", "non-finite"]),
    "extra tensors junk": (lambda r: (r / CKPT / "extra.safetensors").write_bytes(b"junk"), ["extra.safetensors"]),
    "meta.json null": (lambda r: (r / CKPT / "meta.json").write_text("null"), ["meta.json", "JSON object"]),
    "meta.json not JSON": (lambda r: (r / CKPT / "meta.json").write_text('{"model_kind": '),
                           ["meta.json", "not valid JSON", "line 1"]),
    "meta.json missing": (lambda r: (r / CKPT / "meta.json").unlink(), ["meta.json", "missing"]),
    "negative act_dim": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(act_dim=-1)),
                         ["meta.json", "'act_dim'", "-1"]),
    "state_dim a string": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(state_dim="4")),
                           ["meta.json", "'state_dim'"]),
    "short state_mean": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(state_mean=[0.0])),
                         ["meta.json", "'state_mean'", "1 values"]),
    "state_std zero": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(state_std=[0.0] * 4)),
                       ["meta.json", "'state_std'"]),
    "state_mean not numbers": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(state_mean=["a"] * 4)),
                               ["meta.json", "'state_mean'"]),
    "reward_scale nan": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(reward_scale=float("nan"))),
                         ["meta.json", "'reward_scale'"]),
    "field missing": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.pop("reward_scale")),
                      ["meta.json", "missing", "reward_scale"]),
    "unknown field": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(rewad_scale=1.0)),
                      ["meta.json", "unknown", "rewad_scale"]),
    "env_id not a string": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(env_id=5)),
                            ["meta.json", "'env_id'"]),
    "model_kind unknown": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(model_kind="gpt")),
                           ["meta.json", "'model_kind'"]),
    "model_kind mislabelled": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(model_kind="bc")),
                               ["meta.json", "'model_kind'"]),
    "model_config field unknown": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m["model_config"].update(
        width=3)), ["meta.json", "'model_config'", "width"]),
    "model_config value bad": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m["model_config"].update(
        n_head=0)), ["meta.json", "'model_config'", "n_head"]),
    "model_config null": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m.update(model_config=None)),
                          ["meta.json", "'model_config'"]),
    "extra.max_return not a number": (lambda r: edit_json(r / CKPT / "meta.json", lambda m: m["extra"].update(
        max_return="x")), ["meta.json", "max_return", "--targets"]),
    "latest names junk": (lambda r: (r / "checkpoints/latest").write_text("../../etc"), ["latest", "step directory"]),
    "no checkpoint": (lambda r: shutil.rmtree(r / "checkpoints"), ["no checkpoint found"]),
}


@pytest.mark.parametrize("case", list(EVAL_CASES))
def test_eval_of_a_broken_run_names_the_file_and_field(run, dt, case):
    breaks, named = EVAL_CASES[case]
    breaks(run)
    res = dt("eval", run, "--num-episodes", "1", "--no-progress")
    assert_one_error(res, "eval", *named)
    if "no checkpoint" not in named[0]:
        assert str(run) in res.stderr  # the file's path


def test_the_python_api_raises_checkpoint_errors(run):
    edit_json(run / CKPT / "meta.json", lambda m: m.update(act_dim=-1))
    with pytest.raises(CheckpointError, match="meta.json: field 'act_dim'"):
        load_run(run)
    good = dict(model_kind="dt", model_config={}, state_dim=2, act_dim=1, state_mean=[0.0, 0.0], state_std=[1.0, 1.0],
                reward_scale=1.0)
    assert RunMeta(**good).preprocessing().state_mean.shape == (2,)
    with pytest.raises(CheckpointError, match="field 'act_dim'"):
        RunMeta(**{**good, "act_dim": 0})
    with pytest.raises(CheckpointError, match="field 'state_mean' has 3 values"):
        RunMeta(**{**good, "state_mean": [0.0] * 3})


def test_evaluating_in_an_env_of_another_size_is_refused(run, dt):
    assert_one_error(dt("eval", run, "--env-id", "Pendulum-v1", "--num-episodes", "1", "--no-progress"), "eval",
                     "Pendulum-v1", "(3,)", "state_dim")
    assert_one_error(dt("eval", run, "--env-id", "CartPole-v1", "--num-episodes", "1", "--no-progress"), "eval",
                     "CartPole-v1", "Discrete")


# ------------------------------------------------------------------------------ dt train --resume
def _trainer_state(run: Path) -> dict:
    return torch.load(run / CKPT / "trainer_state.pt", weights_only=True)


def edit_state(run: Path, change) -> None:
    state = _trainer_state(run)
    change(state)
    torch.save(state, run / CKPT / "trainer_state.pt")


def _wrong_moment(state: dict) -> None:
    first = next(iter(state["optimizer"]["state"].values()))
    first["exp_avg"] = torch.zeros(7, 7)


RESUME_CASES = {
    "train_config.json without 'train'": (lambda r: edit_json(r / "train_config.json", lambda c: c.pop("train")),
                                          ["train_config.json", "'train'"]),
    "train_config.json not JSON": (lambda r: (r / "train_config.json").write_text('{"train": {'),
                                   ["train_config.json", "not valid JSON", "line 1"]),
    "train_config.json a list": (lambda r: (r / "train_config.json").write_text("[]"), ["train_config.json"]),
    "train field unknown": (lambda r: edit_json(r / "train_config.json", lambda c: c["train"].update(lr_max=1.0)),
                            ["train_config.json", "'train'", "lr_max"]),
    "train lr a string": (lambda r: edit_json(r / "train_config.json", lambda c: c["train"].update(lr="x")),
                          ["train_config.json", "'train'", "lr"]),
    "train lr infinite": (lambda r: edit_json(r / "train_config.json", lambda c: c["train"].update(lr=float("inf"))),
                          ["train_config.json", "'train'", "lr=inf"]),
    "model_kind unknown": (lambda r: edit_json(r / "train_config.json", lambda c: c.update(model_kind="gpt")),
                           ["train_config.json", "'model_kind'"]),
    "device not on this machine": (lambda r: edit_json(r / "train_config.json", lambda c: c["train"].update(
        device="cuda:99")), ["train_config.json", "TrainConfig.device", "cuda:99"]),
    "trainer_state.pt truncated": (lambda r: truncate(r / CKPT / "trainer_state.pt", 300), ["trainer_state.pt"]),
    "trainer_state.pt junk": (lambda r: (r / CKPT / "trainer_state.pt").write_bytes(b"junk"), ["trainer_state.pt"]),
    "trainer_state.pt missing": (lambda r: (r / CKPT / "trainer_state.pt").unlink(), ["trainer_state.pt", "missing"]),
    "trainer_state.pt not a dict": (lambda r: torch.save([1, 2], r / CKPT / "trainer_state.pt"),
                                    ["trainer_state.pt", "dict"]),
    "optimizer missing": (lambda r: edit_state(r, lambda s: s.pop("optimizer")), ["trainer_state.pt", "optimizer"]),
    "step a string": (lambda r: edit_state(r, lambda s: s.update(step="3")), ["trainer_state.pt", "'step'"]),
    "step not meta.json's": (lambda r: edit_state(r, lambda s: s.update(step=2)), ["trainer_state.pt", "'step'"]),
    "optimizer moment of the wrong shape": (lambda r: edit_state(r, _wrong_moment),
                                            ["trainer_state.pt", "'optimizer'", "(7, 7)"]),
    "torch_rng wrong": (lambda r: edit_state(r, lambda s: s.update(torch_rng=torch.zeros(3, dtype=torch.uint8))),
                        ["trainer_state.pt", "'torch_rng'"]),
    "numpy_rng wrong": (lambda r: edit_state(r, lambda s: s.update(numpy_rng={"bit_generator": "MT19937", "state": 1})),
                        ["trainer_state.pt", "'numpy_rng'"]),
    "a complete metrics line is bad": (lambda r: (r / "metrics.jsonl").write_text(
        "junk\n" + (r / "metrics.jsonl").read_text()), ["metrics.jsonl", "line 1"]),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_of_a_broken_run_names_the_file_and_field(run, dt, case):
    breaks, named = RESUME_CASES[case]
    breaks(run)
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    res = dt("train", "--resume", run, "--steps", "5")
    assert_one_error(res, "train", *named)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before  # nothing trained or written


def test_resume_to_fewer_steps_than_the_checkpoint_is_refused(run, dt):
    assert_one_error(dt("train", "--resume", run, "--steps", "2"), "train", "steps=2", "(3)")


def test_a_torn_last_metrics_line_is_dropped_with_a_warning_and_complete_lines_kept(run, dt):
    rows = read_metrics(run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "train/lo')  # killed mid-write
    assert read_metrics(run) == rows  # readers leave it out
    res = dt("train", "--resume", run, "--steps", "5")
    assert res.returncode == 0, res.stderr
    assert "warning:" in res.stderr and "torn" in res.stderr and "metrics.jsonl" in res.stderr
    after = read_metrics(run)
    assert after[:len(rows)] == rows and [r["step"] for r in after] == [1, 2, 3, 4, 5]


def test_read_metrics_takes_an_archived_jsonl_file_as_well_as_a_run_dir(run, tmp_path):
    archived = tmp_path / "cql_seed0_metrics.jsonl"  # a run's metrics kept under another name (docs/results/extra)
    archived.write_text((run / "metrics.jsonl").read_text())
    assert read_metrics(archived) == read_metrics(run) and read_metrics(run)
    (tmp_path / "bad.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl: line 2 is not JSON"):
        read_metrics(tmp_path / "bad.jsonl")
