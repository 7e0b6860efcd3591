import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from decision_transformer.checkpoint import latest_checkpoint, load_trainer_state
from decision_transformer.metrics import read_metrics
from decision_transformer.train import TrainConfig, default_model_config, param_groups, train

from test_data import make_dataset

DT = [sys.executable, "-m", "decision_transformer.cli"]


@pytest.fixture
def npz(tmp_path) -> Path:
    return make_dataset(lengths=(30, 50, 80, 20), obs_dim=2, act_dim=1, reward_scale=10.0, name="toy").save(tmp_path / "toy.npz")


def losses(run_dir):
    return [r["train/loss"] for r in read_metrics(run_dir) if "train/loss" in r]


def tiny_train(npz, out, seed=0, steps=12, model="dt", **kw):
    cfg = TrainConfig(dataset=str(npz), out=str(out), model=model, steps=steps, batch_size=8, warmup_steps=5,
                      seed=seed, log_every=1, save_every=5, progress=False, **kw)
    return train(cfg, default_model_config(model, context_len=4, embed_dim=16, n_layer=1, max_ep_len=100))


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
    resumed_to = saved + 20
    subprocess.run(DT + ["train", "--resume", str(killed), "--steps", str(resumed_to)], check=True, capture_output=True)
    straight = tmp_path / "straight"
    subprocess.run(DT + common + ["--out", str(straight), "--steps", str(resumed_to)], check=True, capture_output=True)
    rows = read_metrics(killed)
    assert [r["step"] for r in rows] == list(range(1, resumed_to + 1))  # rows logged after the checkpoint were dropped
    assert losses(killed) == losses(straight)


def test_cli_reports_bad_dataset_clearly(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    proc = subprocess.run(DT + ["train", "--dataset", str(bad), "--out", str(tmp_path / "r"), "--steps", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "Traceback" not in proc.stderr


def test_torch_threads_sets_the_process_threads_and_rejects_negative(npz, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        tiny_train(npz, tmp_path / "a", steps=2, torch_threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="torch_threads"):
        TrainConfig(torch_threads=-1)
