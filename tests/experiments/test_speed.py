import json

import pytest


def test_dt_bench_speed_smoke(tmp_path, dt):
    """The speed report holds the ratios the issue names, each the ratio of the raw times it reports, and the
    batched and sequential evaluations it times ran the same episodes to the same returns. Speed itself is
    not asserted: the machine is noisy."""
    out = tmp_path / "speed.json"
    res = dt("bench", "speed", "--repeats", "2", "--eval-episodes", "2", "--eval-max-steps", "15",
             "--dataset-steps", "30000", "--precision", "bf16", "--out", out)
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    st, act, ev, ratios = r["train"]["step_ms_median"], r["act"], r["evaluation"], r["ratios"]
    assert set(ratios) == {"train_vs_hf", "train_fp32_vs_hf", "act_b1_vs_hf", "act_b50_vs_hf", "eval_vs_sequential",
                           "dataset_rss_vs_raw", "act_b1_incremental_vs_hf", "act_b50_incremental_vs_hf",
                           "act_b1_onnx_vs_hf", "act_b1_onnx_incremental_vs_hf"} | (
                               {"train_vs_d3rlpy", "train_fp32_vs_d3rlpy"} if "d3rlpy" in st else set())
    assert ratios["train_vs_hf"] == pytest.approx(st["hf_fp32"] / st["ours_bf16"])
    assert ratios["train_fp32_vs_hf"] == pytest.approx(st["hf_fp32"] / st["ours_fp32"])
    if "d3rlpy" in st:
        assert ratios["train_vs_d3rlpy"] == pytest.approx(st["d3rlpy"] / st["ours_bf16"])
    b1 = act["batch_1_ms_median"]
    assert ratios["act_b1_vs_hf"] == pytest.approx(b1["ours"] / b1["hf"])
    # onnxruntime (deploy/), measured in the same interleaved runs as the torch contenders
    assert ratios["act_b1_onnx_vs_hf"] == pytest.approx(b1["onnx"] / b1["hf"])
    assert ratios["act_b1_onnx_incremental_vs_hf"] == pytest.approx(b1["onnx_incremental"] / b1["hf"])
    assert {"onnx", "onnx_incremental"} <= set(act["batch_50_ms_median"])
    assert ev["max_abs_return_difference"] < 1e-6 * max(1.0, ev["env_steps"])  # same episodes, same returns
    assert ratios["eval_vs_sequential"] == pytest.approx(ev["batched_steps_per_s"] / ev["sequential_steps_per_s"])
    mem = r["dataset_memory"]
    assert mem["raw_mb"] == pytest.approx(30000 * (11 * 4 + 3 * 4 + 4 + 2) / 2**20, rel=0.05)
    assert r["machine"]["cpu"] and r["date"] and r["config"]["eval_episodes"] == 2
