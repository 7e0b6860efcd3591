import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import make_dataset
from decision_transformer.checkpoint import CheckpointError, latest_checkpoint, load_run, load_trainer_state
from decision_transformer.config import DTConfig, MLPBCConfig, model_config, model_kind
from decision_transformer.common.metrics import read_metrics
from decision_transformer.train import TrainConfig, param_groups, train, train_or_resume

DT = [sys.executable, "-m", "decision_transformer.cli"]


@pytest.fixture
def npz(toy_npz) -> Path:
    return toy_npz


def losses(run_dir):
    return [r["train/loss"] for r in read_metrics(run_dir) if "train/loss" in r]


def tiny_config(model="dt"):
    width = {"hidden_dim": 16} if model == "mlp-bc" else {"embed_dim": 16}
    return model_config(model, context_len=4, n_layer=1, max_ep_len=100, **width)


def tiny_train(npz, out, seed=0, steps=12, model="dt", hook=None, hook_every=0, **kw):
    cfg = TrainConfig(dataset=str(npz), out=str(out), steps=steps, batch_size=8, warmup_steps=5,
                      seed=seed, log_every=1, save_every=5, progress=False, **kw)
    return train(cfg, tiny_config(model), hook=hook, hook_every=hook_every)


def test_same_seed_same_losses_and_different_seed_differs(npz, tmp_path):
    tiny_train(npz, tmp_path / "a", seed=1)
    tiny_train(npz, tmp_path / "b", seed=1)
    tiny_train(npz, tmp_path / "c", seed=2)
    assert len(losses(tmp_path / "a")) == 12
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert losses(tmp_path / "a") != losses(tmp_path / "c")


@pytest.mark.parametrize("model", ["dt", "bc", "mlp-bc"])
def test_each_model_kind_trains_and_checkpoint_describes_itself(tmp_path, model):
    d = make_dataset(lengths=(30, 50, 80, 20), reward_scale=10.0, name="toy")
    d = dataclasses.replace(d, actions=np.tanh(d.observations[:, 1:2] / 20 - 1))  # learnable: a = f(s)
    npz = d.save(tmp_path / "toy.npz")
    run = tiny_train(npz, tmp_path / model, model=model, steps=30, lr=3e-3)
    loss = losses(tmp_path / model)
    assert np.mean(loss[-5:]) < 0.5 * np.mean(loss[:5])
    meta = run.meta
    assert meta.model_kind == model and meta.step == 30 and meta.reward_scale == 10.0
    assert meta.dataset == "toy" and len(meta.state_mean) == 2 and meta.version
    assert not run.model.training
    state = load_trainer_state(run.path)
    assert {"optimizer", "scheduler", "torch_rng", "numpy_rng", "step"} <= set(state)
    assert (run.path / "model.safetensors").is_file()
    # only the newest two checkpoints are kept, and `latest` points at the final one
    kept = sorted(p.name for p in (tmp_path / model / "checkpoints").glob("step_*"))
    assert kept == ["step_00000025", "step_00000030"]


def test_a_run_another_process_is_writing_is_refused(npz, tmp_path, dt):
    import os

    from decision_transformer.common import runlock
    from decision_transformer.train import resume

    run = tmp_path / "a"
    tiny_train(npz, run, steps=5)
    assert runlock.holder(run) is None  # released when training ended
    with runlock.exclusive(run):  # what a live `dt train` holds (flock: a second open file conflicts, even here)
        assert runlock.holder(run) == os.getpid()
        with pytest.raises(runlock.RunInUse, match=f"pid {os.getpid()}"):
            resume(run, steps=10)
        res = dt("train", "--resume", run, "--steps", "10")
        assert res.returncode == 2 and "being written by another process" in res.stderr
        with pytest.raises(runlock.RunInUse):
            tiny_train(npz, run, steps=5)
        assert latest_checkpoint(run).name == "step_00000005"  # untouched
    assert resume(run, steps=10).meta.step == 10


def test_refuses_to_overwrite_a_run(npz, tmp_path):
    tiny_train(npz, tmp_path / "a", steps=5)
    with pytest.raises(FileExistsError, match="--resume"):
        tiny_train(npz, tmp_path / "a", steps=5)


def test_weight_decay_only_on_linear_weights():
    from decision_transformer import DecisionTransformer, DTConfig

    model = DecisionTransformer(DTConfig(embed_dim=16, n_layer=1), 3, 2)
    decay, no_decay = param_groups(model, 1e-4)
    decay_ids = {id(p) for p in decay["params"]}
    assert id(model.blocks[0].attn.qkv.weight) in decay_ids
    assert id(model.embed_timestep.weight) not in decay_ids
    assert id(model.blocks[0].ln_1.weight) not in decay_ids and id(model.blocks[0].attn.qkv.bias) not in decay_ids
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_killed_run_resumes_to_the_same_losses(npz, tmp_path):
    common = ["train", "--dataset", str(npz), "--batch-size", "64", "--warmup-steps", "50", "--seed", "3",
              "--log-every", "1", "--save-every", "20", "--context-len", "8", "--embed-dim", "32",
              "--n-layer", "2", "--max-ep-len", "100", "--no-progress"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(DT + common + ["--out", str(killed), "--steps", "100000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        ckpt = latest_checkpoint(killed)
        if ckpt is not None and int(ckpt.name.split("_")[1]) >= 40:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = json.loads((latest_checkpoint(killed) / "meta.json").read_text())["step"]
    assert 40 <= saved <= 260
    seconds_killed = load_trainer_state(latest_checkpoint(killed))["train_seconds"]
    assert seconds_killed > 0
    resumed_to = saved + 20
    subprocess.run(DT + ["train", "--resume", str(killed), "--steps", str(resumed_to)], check=True, capture_output=True)
    # the training time continues over the sittings: the resumed run's clock starts from the checkpoint's
    seconds = load_trainer_state(latest_checkpoint(killed))["train_seconds"]
    clock = [r["time/train_seconds"] for r in read_metrics(killed)]
    assert seconds > seconds_killed and clock == sorted(clock) and seconds_killed <= clock[saved] <= seconds
    straight = tmp_path / "straight"
    subprocess.run(DT + common + ["--out", str(straight), "--steps", str(resumed_to)], check=True, capture_output=True)
    rows = read_metrics(killed)
    assert [r["step"] for r in rows] == list(range(1, resumed_to + 1))  # rows logged after the checkpoint were dropped
    assert losses(killed) == losses(straight)


def test_a_copied_run_resumes_in_its_own_directory(npz, tmp_path, dt):
    import shutil

    first = tmp_path / "first"
    res = dt("train", "--dataset", npz, "--out", first, "--steps", "6", "--save-every", "3", "--log-every", "3",
             "--context-len", "4", "--embed-dim", "16", "--n-layer", "1", "--max-ep-len", "100", "--no-progress")
    assert res.returncode == 0, res.stderr
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    before = sorted(p.name for p in (first / "checkpoints").iterdir())
    res = dt("train", "--resume", copy, "--steps", "9")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (first / "checkpoints").iterdir()) == before  # the original is untouched
    assert [r["step"] for r in read_metrics(first) if "train/loss" in r] == [3, 6]
    assert latest_checkpoint(copy).name == "step_00000009"
    assert [r["step"] for r in read_metrics(copy) if "train/loss" in r] == [3, 6, 9]


def test_cli_reports_bad_dataset_clearly(tmp_path, dt):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    res = dt("train", "--dataset", bad, "--out", tmp_path / "r", "--steps", "2")
    assert res.returncode == 2
    assert str(bad) in res.stderr and "Traceback" not in res.stderr


def test_torch_threads_apply_while_training_and_are_restored(npz, tmp_path):
    import torch

    outside = torch.get_num_threads()
    torch.set_num_threads(2)  # not the run's count, whatever the test process started with (conftest sets 1)
    try:
        tiny_train(npz, tmp_path / "a", steps=4, torch_threads=1,
                   hook=lambda step, m: {"threads": torch.get_num_threads()}, hook_every=2)
        assert [r["threads"] for r in read_metrics(tmp_path / "a") if "threads" in r] == [1, 1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(outside)
    with pytest.raises(ValueError, match="torch_threads"):
        TrainConfig(torch_threads=-1)


def test_training_leaves_the_global_torch_rng_alone(npz, tmp_path):
    import torch

    torch.manual_seed(123)
    state = torch.get_rng_state()
    tiny_train(npz, tmp_path / "a", steps=3)
    assert torch.equal(torch.get_rng_state(), state)
    # and the run does not depend on the global RNG either
    torch.manual_seed(999)
    tiny_train(npz, tmp_path / "b", steps=3)
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_model_kind_comes_from_the_config():
    assert model_kind(model_config("dt")) == "dt" and model_kind(model_config("bc")) == "bc"
    assert model_config("bc").condition_on_return is False and isinstance(model_config("mlp-bc"), MLPBCConfig)
    assert model_kind(DTConfig(condition_on_return=False)) == "bc"
    with pytest.raises(ValueError, match="n_head"):
        model_config("mlp-bc", n_head=2)  # not an MLP field: an error, not silently dropped
    with pytest.raises(ValueError, match="embed_dim"):
        model_config("mlp-bc", embed_dim=64)  # the MLP's width is hidden_dim
    with pytest.raises(ValueError, match="condition_on_return"):
        model_config("dt", condition_on_return=False)  # the kind decides it
    with pytest.raises(ValueError, match="unknown"):
        model_config("gpt")


def test_a_mislabelled_checkpoint_is_refused(npz, tmp_path):
    run = tiny_train(npz, tmp_path / "a", steps=2, model="bc")
    assert run.meta.model_kind == "bc" and run.model.config.condition_on_return is False
    meta_path = run.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["model_kind"] = "dt"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="model_kind"):
        load_run(tmp_path / "a")


def test_resume_refuses_flags_it_would_ignore(npz, tmp_path, dt):
    tiny_train(npz, tmp_path / "a", steps=5)
    res = dt("train", "--resume", tmp_path / "a", "--lr", "0.1", "--embed-dim", "8")
    assert res.returncode == 2 and "--lr" in res.stderr and "--embed-dim" in res.stderr
    res = dt("train", "--resume", tmp_path / "a", "--model", "bc")
    assert res.returncode == 2 and "--model" in res.stderr
    # machine-only settings (device, threads, progress) may change on resume: they do not change the run
    assert dt("train", "--resume", tmp_path / "a", "--steps", "6", "--no-progress").returncode == 0
    assert dt("train", "--resume", tmp_path / "a", "--steps", "7").returncode == 0
    assert load_run(tmp_path / "a").meta.step == 7


def test_train_or_resume_continues_a_killed_run_and_reuses_a_finished_one(npz, tmp_path):
    cfg = TrainConfig(dataset=str(npz), out=str(tmp_path / "a"), steps=10, batch_size=8, warmup_steps=5, log_every=1,
                      save_every=5, progress=False)
    data = make_dataset(lengths=(30, 50, 80, 20), obs_dim=2, act_dim=1, reward_scale=10.0, name="toy")
    straight = train_or_resume(cfg, tiny_config(), data)
    full = losses(tmp_path / "a")
    # "kill" it after step 5: the step-10 checkpoint and the rows after it are lost
    ckpts = tmp_path / "a" / "checkpoints"
    import shutil

    shutil.rmtree(ckpts / "step_00000010")
    (ckpts / "latest").write_text("step_00000005")
    resumed = train_or_resume(cfg, tiny_config(), data)
    assert losses(tmp_path / "a") == full and resumed.meta.step == 10
    for k, v in straight.model.state_dict().items():
        assert torch_equal(v, resumed.model.state_dict()[k])
    again = train_or_resume(cfg, tiny_config(), data)  # finished: loaded, not retrained
    assert again.path == resumed.path and losses(tmp_path / "a") == full
    with pytest.raises(ValueError, match=r"other settings .*lr: saved 0\.\d+, here 0\.5"):  # the field named
        train_or_resume(dataclasses.replace(cfg, lr=0.5), tiny_config(), data)
    # the same run under another path (copied, moved, or named absolutely where it was made relatively) is reused
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    moved = train_or_resume(dataclasses.replace(cfg, out=str(tmp_path / "copy")), tiny_config(), data)
    assert moved.meta.step == 10 and losses(tmp_path / "copy") == full


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a, b)


def test_bf16_training_learns_like_fp32(tmp_path):
    d = make_dataset(lengths=(30, 50, 80, 20), reward_scale=10.0, name="toy")
    d = dataclasses.replace(d, actions=np.tanh(d.observations[:, 1:2] / 20 - 1))  # learnable: a = f(s)
    npz = d.save(tmp_path / "toy.npz")
    final = {}
    for precision in ("fp32", "bf16"):
        tiny_train(npz, tmp_path / precision, steps=30, lr=3e-3, precision=precision)
        loss = losses(tmp_path / precision)
        assert np.mean(loss[-5:]) < 0.5 * np.mean(loss[:5])
        final[precision] = np.mean(loss[-5:])
    assert abs(final["bf16"] - final["fp32"]) < 0.2 * final["fp32"]
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


@pytest.mark.slow
def test_compiled_training_gives_the_eager_losses(npz, tmp_path):
    """torch.compile is a fast path: same losses as eager within float tolerance (slow: compiling takes a minute)."""
    mcfg = dataclasses.replace(tiny_config(), dropout=0.0)  # compiled dropout draws from another RNG
    for name, compile_ in (("eager", False), ("compiled", True)):
        train(TrainConfig(dataset=str(npz), out=str(tmp_path / name), steps=6, batch_size=8, warmup_steps=5, log_every=1,
                          progress=False, compile=compile_), mcfg)
    np.testing.assert_allclose(losses(tmp_path / "compiled"), losses(tmp_path / "eager"), rtol=1e-4, atol=1e-5)


def test_learning_rate_schedules():
    from decision_transformer.train import lr_factor

    const = TrainConfig(steps=100, warmup_steps=10)
    assert [lr_factor(const, s) for s in (0, 4, 9, 50, 99)] == [0.1, 0.5, 1.0, 1.0, 1.0]
    cos = TrainConfig(steps=110, warmup_steps=10, lr_decay="cosine", lr_min_ratio=0.1)
    assert lr_factor(cos, 4) == 0.5 and lr_factor(cos, 9) == pytest.approx(1.0)
    assert lr_factor(cos, 59) == pytest.approx(0.55)  # half-way: (1 + 0.1) / 2
    assert lr_factor(cos, 109) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay="step")
