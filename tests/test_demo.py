"""`dt demo` smoke test: the real CLI end to end at a tiny budget (the default dataset, a tiny model)."""

import json


def test_demo_cli_tiny_budget_writes_table_and_json(tmp_path, dt):
    out = tmp_path / "demo"
    res = dt("demo", "--steps", "3", "--warmup-steps", "1", "--num-episodes", "1", "--targets", "900", "300",
             "--embed-dim", "16", "--n-layer", "1", "--out", out)
    assert res.returncode == 0, res.stderr
    payload = json.loads((out / "demo.json").read_text())
    rows = payload["rows"]
    assert [(r["model"], r["target_return"]) for r in rows] == [("dt", 900.0), ("dt", 300.0), ("bc", None)]
    for r in rows:
        assert len(r["returns"]) == 1 and r["return_mean"] == r["returns"][0]
    assert payload["config"]["steps"] == 3 and payload["spread"].startswith("sample std")
    # one episode per row: a sample std is undefined and the table says so instead of printing 0.0
    assert "± —" in res.stdout and "± 0.0" not in res.stdout
    assert (out / "dt").is_dir() and (out / "bc").is_dir()
