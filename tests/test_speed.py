import json

import pytest


def test_dt_bench_speed_smoke(tmp_path, dt):
    """The speed report is internally consistent (ratios are the raw times' ratios) and the batched and
    sequential evaluations it times ran the same episodes. Speed itself is not asserted: the machine is noisy."""
    out = tmp_path / "speed.json"
    res = dt("bench", "speed", "--train-steps", "2", "--sample-batches", "5", "--dataset-steps", "20000",
             "--eval-episodes", "3", "--eval-max-steps", "10", "--out", out)
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    tv, ev = report["train_vs_sampling"], report["evaluation"]
    assert tv["sample_fraction_of_step"] == pytest.approx(tv["sample_ms_median"] / tv["train_step_ms_median"])
    assert tv["hf_over_ours"] == pytest.approx(tv["hf_train_step_ms_median"] / tv["train_step_ms_median"])
    assert tv["dataset_steps"] <= 20000 and tv["dataset_episodes"] > 0
    assert ev["env_steps"] == 30 and ev["same_returns"] is True
    assert ev["speedup"] == pytest.approx(ev["one_at_a_time_s"] / ev["batched_s"])
    assert report["machine"] and report["date"] and report["config"]["eval_episodes"] == 3
