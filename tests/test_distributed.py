import dataclasses
import os
import subprocess
import sys

import numpy as np

from decision_transformer.checkpoint import load_run
from decision_transformer.common.metrics import read_metrics

from conftest import make_dataset


def test_torchrun_ddp_two_cpu_ranks(tmp_path):
    d = make_dataset(lengths=(30, 50, 80, 20), reward_scale=10.0, name="toy")
    d = dataclasses.replace(d, actions=np.tanh(d.observations[:, 1:2] / 20 - 1))
    npz = d.save(tmp_path / "toy.npz")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         "-m", "decision_transformer.cli", "train", "--dataset", str(npz), "--out", str(out), "--steps", "40",
         "--batch-size", "8", "--warmup-steps", "5", "--lr", "0.003", "--log-every", "1", "--save-every", "20",
         "--context-len", "4", "--embed-dim", "16", "--n-layer", "1", "--max-ep-len", "100", "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == list(range(1, 41))  # rank 0 alone logs
    loss = [r["train/loss"] for r in rows]
    assert np.mean(loss[-5:]) < 0.5 * np.mean(loss[:5])
    run = load_run(out)
    assert run.meta.step == 40
