import json
import subprocess
import sys


def test_dt_bench_speed_smoke(tmp_path):
    out = tmp_path / "speed.json"
    subprocess.run([sys.executable, "-m", "decision_transformer.cli", "bench", "speed", "--train-steps", "2",
                    "--sample-batches", "5", "--dataset-steps", "20000", "--eval-episodes", "3",
                    "--eval-max-steps", "10", "--out", str(out)], check=True, capture_output=True, timeout=300)
    report = json.loads(out.read_text())
    tv, ev = report["train_vs_sampling"], report["evaluation"]
    assert tv["train_step_ms_median"] > 0 and 0 < tv["sample_fraction_of_step"] < 1
    assert tv["hf_over_ours"] > 0  # transformers is installed in the test environment
    assert ev["env_steps"] == 30 and ev["same_returns"] is True
    assert ev["speedup"] > 0 and report["machine"] and report["date"]
