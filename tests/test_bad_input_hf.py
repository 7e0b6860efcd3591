"""Bad Hugging Face input for `dt hf import`: config.json's `dt_meta` checked against its schema
(`hf.format.check_dt_meta`), state statistics from files and flags, the import options. Each case: exit 2, one
`dt hf: error:` line naming the file and the field; no run directory written. (Checkpoints are written with our
own `save_hf`, so `transformers` is not needed here; tests/test_hf.py checks the format against it.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_one_error
from decision_transformer.config import DTConfig
from decision_transformer.hf import HFFormatError, save_hf
from decision_transformer.hf.runs import import_hf
from decision_transformer.model import DecisionTransformer

S = 3


@pytest.fixture
def hf_dir(tmp_path) -> Path:
    model = DecisionTransformer(DTConfig(context_len=4, embed_dim=8, n_layer=1, max_ep_len=50, predict_state=True,
                                         predict_return=True), state_dim=S, act_dim=2)
    return save_hf(model, tmp_path / "hf", state_mean=[0.0] * S, state_std=[1.0] * S, reward_scale=100.0,
                   env_id="Pendulum-v1")


def edit_meta(hf_dir: Path, change) -> None:
    path = hf_dir / "config.json"
    cfg = json.loads(path.read_text())
    change(cfg)
    path.write_text(json.dumps(cfg))


def meta(**fields):
    return lambda cfg: cfg["dt_meta"].update(fields)


DT_META_CASES = {
    "env_id a number": (meta(env_id=5), ["'dt_meta'", "'env_id'"]),
    "state_mean not numbers": (meta(state_mean=["abc"] * S), ["'dt_meta'", "'state_mean'"]),
    "state_mean short": (meta(state_mean=[0.0]), ["'dt_meta'", "state_mean has 1 values", f"state_dim={S}"]),
    "state_mean infinite": (meta(state_mean=[float("inf")] * S), ["'dt_meta'", "'state_mean'"]),
    "state_std zero": (meta(state_std=[0.0] * S), ["'dt_meta'", "'state_std'"]),
    "state_std a string": (meta(state_std="1,1,1"), ["'dt_meta'", "'state_std'"]),
    "reward_scale negative": (meta(reward_scale=-1), ["'dt_meta'", "'reward_scale'"]),
    "reward_scale a string": (meta(reward_scale="100"), ["'dt_meta'", "'reward_scale'"]),
    "context_len zero": (meta(context_len=0), ["'dt_meta'", "'context_len'"]),
    "context_len a float": (meta(context_len=4.0), ["'dt_meta'", "'context_len'"]),
    "max_return a string": (meta(max_return="1336"), ["'dt_meta'", "'max_return'", "a finite number"]),
    "max_return NaN": (meta(max_return=float("nan")), ["'dt_meta'", "'max_return'"]),
    "unknown key": (meta(stat_mean=[0.0]), ["'dt_meta'", "unknown", "stat_mean"]),
    "dt_meta a list": (lambda cfg: cfg.update(dt_meta=[1]), ["'dt_meta'", "expected an object"]),
    "state_dim a string": (lambda cfg: cfg.update(state_dim="3"), ["'state_dim'"]),
}


@pytest.mark.parametrize("case", list(DT_META_CASES))
def test_bad_dt_meta_names_config_json_and_the_field(hf_dir, tmp_path, dt, case):
    change, named = DT_META_CASES[case]
    edit_meta(hf_dir, change)
    out = tmp_path / "run"
    assert_one_error(dt("hf", "import", hf_dir, "--out", out), "hf", str(hf_dir / "config.json"), *named)
    assert not out.exists()


def test_config_json_that_is_not_json(hf_dir, tmp_path, dt):
    (hf_dir / "config.json").write_text('{"dt_meta": ')
    assert_one_error(dt("hf", "import", hf_dir, "--out", tmp_path / "run"), "hf", "config.json")


def test_weights_that_are_junk(hf_dir, tmp_path, dt):
    (hf_dir / "model.safetensors").write_bytes(b"junk")
    assert_one_error(dt("hf", "import", hf_dir, "--out", tmp_path / "run"), "hf", "model.safetensors")


@pytest.mark.parametrize("content,named", [
    ({"state_mean": ["abc"] * S, "state_std": [1.0] * S}, "'state_mean'"),
    ({"state_mean": [0.0] * S}, "'state_std'"),
    ({"state_mean": [0.0] * S, "state_std": [0.0] * S}, "'state_std' positive"),
    ("not json", "unreadable"),
])
def test_bad_stats_file(hf_dir, tmp_path, dt, content, named):
    stats = tmp_path / "stats.json"
    stats.write_text(content if isinstance(content, str) else json.dumps(content))
    res = dt("hf", "import", hf_dir, "--out", tmp_path / "run", "--stats", stats)
    line = assert_one_error(res, "hf", named)
    assert str(stats) in line


@pytest.mark.parametrize("flags,named", [
    (["--reward-scale", "nan"], "HFImport.reward_scale=nan"),
    (["--reward-scale=-5"], "HFImport.reward_scale=-5"),
    (["--context-len", "-1"], "HFImport.context_len=-1"),
    (["--state-mean", "0", "nan", "0", "--state-std", "1", "1", "1"], "HFImport.state_mean"),
    (["--state-mean", "0", "0", "0", "--state-std", "1", "0", "1"], "HFImport.state_std"),
])
def test_bad_import_options(hf_dir, tmp_path, dt, flags, named):
    assert_one_error(dt("hf", "import", hf_dir, "--out", tmp_path / "run", *flags), "hf", named)


def test_a_missing_out_is_one_line_naming_the_flag(hf_dir, tmp_path, dt):
    assert_one_error(dt("hf", "import", hf_dir), "hf", "--out RUN_DIR")
    assert_one_error(dt("hf", "export", tmp_path / "run"), "hf", "--out HF_DIR")


def test_import_checks_env_id_in_python_too(hf_dir, tmp_path):
    with pytest.raises(HFFormatError, match="env_id=5"):
        import_hf(hf_dir, tmp_path / "run", env_id=5)
    with pytest.raises(HFFormatError, match="reward_scale"):
        import_hf(hf_dir, tmp_path / "run", reward_scale=float("inf"))
    assert not (tmp_path / "run").exists()


def test_a_good_import_still_works_and_evaluates_its_env(hf_dir, tmp_path, dt):
    from decision_transformer.checkpoint import load_run

    res = dt("hf", "import", hf_dir, "--out", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    assert load_run(tmp_path / "run").meta.env_id == "Pendulum-v1"


def test_import_warns_of_an_env_id_that_cannot_take_the_model(tmp_path):
    import warnings

    from decision_transformer.checkpoint import RunMeta
    from decision_transformer.config import DTConfig
    from decision_transformer.hf.runs import _check_env_fits
    from decision_transformer.model import DecisionTransformer

    cfg = DTConfig(embed_dim=16, n_layer=1, n_head=1, context_len=4)
    model = DecisionTransformer(cfg, 3, 1)
    meta = RunMeta(model_kind="dt", model_config=cfg.to_dict(), state_dim=3, act_dim=1, state_mean=[0.0] * 3,
                   state_std=[1.0] * 3, reward_scale=1.0)
    with pytest.warns(UserWarning, match=r"--env-id Nope-v9: cannot create environment"):
        _check_env_fits("Nope-v9", model, meta)
    with pytest.warns(UserWarning, match=r"--env-id CartPole-v1: CartPole-v1 observes shape \(4,\), but the model was "
                                         r"trained on states of shape \(3,\)"):
        _check_env_fits("CartPole-v1", model, meta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_env_fits("Pendulum-v1", model, meta)  # fits: silent
