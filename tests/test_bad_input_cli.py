"""Bad command-line input: hyperparameters (every float option finite and in range, checked by the configs'
own `__post_init__`, so the Python API too), devices and threads against what the machine has, evaluation
values, and the checks a run makes before its first step. Each case: exit 2, one `dt ...: error:` line naming
the option's field, nothing written."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from conftest import assert_one_error, make_dataset
from decision_transformer.config import DTConfig, MLPBCConfig
from decision_transformer.run_config import TrainConfig
from decision_transformer.common.metrics import read_metrics
from decision_transformer.common.runtime import cpu_count

TINY = ["--steps", "3", "--batch-size", "4", "--warmup-steps", "2", "--log-every", "1", "--context-len", "4",
        "--n-layer", "1", "--max-ep-len", "100", "--no-progress", "--embed-dim", "8"]


@pytest.fixture(scope="module")
def pend(tmp_path_factory):
    """InvertedPendulum-shaped data (4 obs dims, 1 action) recording its env id, and the same without one."""
    root = tmp_path_factory.mktemp("data")
    d = make_dataset(lengths=(20, 30), obs_dim=2, act_dim=1, reward_scale=10.0)
    d = dataclasses.replace(d, observations=np.concatenate([d.observations, d.observations], 1))
    return (d.save(root / "noenv.npz"), dataclasses.replace(d, env_id="InvertedPendulum-v5").save(root / "pend.npz"))


# ------------------------------------------------------------------------------ hyperparameters, devices
TRAIN_CASES = [
    (["--lr", "inf"], "TrainConfig.lr=inf"),
    (["--lr", "0"], "TrainConfig.lr=0"),
    (["--lr", "nan"], "TrainConfig.lr=nan"),
    (["--grad-clip", "nan"], "TrainConfig.grad_clip=nan"),
    (["--grad-clip", "0"], "TrainConfig.grad_clip=0"),
    (["--weight-decay", "nan"], "TrainConfig.weight_decay=nan"),
    (["--weight-decay", "-1"], "TrainConfig.weight_decay=-1"),
    (["--lr-min-ratio", "nan"], "TrainConfig.lr_min_ratio=nan"),
    (["--lr-min-ratio", "1.5"], "TrainConfig.lr_min_ratio=1.5"),
    (["--beta1", "1"], "TrainConfig.beta1=1"),
    (["--beta2=-inf"], "TrainConfig.beta2=-inf"),
    (["--top-fraction", "1.5"], "TrainConfig.top_fraction=1.5"),
    (["--top-fraction", "0"], "TrainConfig.top_fraction=0"),
    (["--action-loss-weight", "inf"], "TrainConfig.action_loss_weight=inf"),
    (["--return-loss-weight", "nan"], "TrainConfig.return_loss_weight=nan"),
    (["--eval-targets", "100", "nan"], "TrainConfig.eval_targets=(100.0, nan)"),
    (["--eval-targets", "inf"], "TrainConfig.eval_targets=(inf,)"),
    (["--eval-episodes", "0"], "TrainConfig.eval_episodes=0"),
    (["--eval-every", "-5"], "TrainConfig.eval_every=-5"),
    (["--seed", "-1"], "TrainConfig.seed=-1"),
    (["--dropout", "nan"], "DTConfig.dropout=nan"),
    (["--dropout", "1"], "DTConfig.dropout=1"),
    (["--model", "mlp-bc"], "model kind 'mlp-bc': field(s) ['embed_dim'] do not apply"),
    (["--model", "mlp-bc", "--dropout", "-0.5", "--no-embed"], "MLPBCConfig.dropout=-0.5"),
    (["--precision", "fp8"], "TrainConfig.precision='fp8'"),
    (["--device", "gpu"], "TrainConfig.device='gpu'"),
    (["--device", "cuda:99"], "TrainConfig.device='cuda:99'"),
    (["--torch-threads", "-1"], "TrainConfig.torch_threads=-1"),
    (["--torch-threads", str(cpu_count() + 1)], f"TrainConfig.torch_threads={cpu_count() + 1}"),
]


@pytest.mark.parametrize("flags,named", TRAIN_CASES, ids=[" ".join(f) for f, _ in TRAIN_CASES])
def test_bad_training_options_are_refused_before_anything_is_written(pend, tmp_path, dt, flags, named):
    out = tmp_path / "run"
    args = TINY
    if "--no-embed" in flags:  # an mlp-bc, whose width is --hidden-dim
        args, flags = TINY[:-2] + ["--hidden-dim", "8"], [f for f in flags if f != "--no-embed"]
    assert_one_error(dt("train", "--dataset", pend[1], "--out", out, *args, *flags), "train", named)
    assert not out.exists()


@pytest.mark.parametrize("cls,field,value", [
    (TrainConfig, "lr", math.inf), (TrainConfig, "grad_clip", math.nan), (TrainConfig, "weight_decay", math.nan),
    (TrainConfig, "lr_min_ratio", math.nan), (TrainConfig, "top_fraction", 1.5), (TrainConfig, "eval_targets", (math.nan,)),
    (TrainConfig, "steps", "3"), (TrainConfig, "progress", 1), (TrainConfig, "device", "gpu"),
    (DTConfig, "dropout", math.nan), (DTConfig, "embed_dim", 8.0), (MLPBCConfig, "dropout", math.inf),
])
def test_the_python_api_is_protected_too(cls, field, value):
    with pytest.raises(ValueError, match=f"{cls.__name__}.{field}="):
        cls(**{field: value})


# ------------------------------------------------------------------------------ checked before step 1
def test_evaluation_without_an_env_id_is_refused_before_training(pend, tmp_path, dt):
    out = tmp_path / "run"
    assert_one_error(dt("train", "--dataset", pend[0], "--out", out, "--eval-targets", "100", *TINY), "train",
                     "eval_targets", "--env-id")
    assert not out.exists()


def test_a_misspelled_dataset_or_env_leaves_no_output_directory(pend, tmp_path, dt):
    out = tmp_path / "run"
    assert_one_error(dt("train", "--dataset", tmp_path / "pend.npzz", "--out", out, *TINY), "train", "pend.npzz")
    assert_one_error(dt("train", "--dataset", pend[0], "--env-id", "NoSuchEnv-v0", "--out", out, *TINY), "train",
                     "NoSuchEnv-v0")
    assert not out.exists()


def test_an_output_path_that_is_a_file_is_refused(pend, tmp_path, dt):
    out = tmp_path / "file"
    out.write_text("x")
    assert_one_error(dt("train", "--dataset", pend[1], "--out", out / "run", *TINY), "train", "TrainConfig.out", "file")


def test_a_failed_evaluation_keeps_the_trained_model_and_resume_runs_it(pend, tmp_path, dt, monkeypatch):
    from decision_transformer.checkpoint import latest_checkpoint
    from decision_transformer.train import Trainer

    out = tmp_path / "run"
    real = Trainer.evaluate_now

    def failing(self, logger):
        raise ValueError("the env crashed")

    monkeypatch.setattr(Trainer, "evaluate_now", failing)
    args = ["--dataset", pend[1], "--out", out, "--eval-targets", "50", "--eval-episodes", "1", *TINY]
    assert_one_error(dt("train", *args), "train", "the env crashed")
    assert latest_checkpoint(out).name == "step_00000003"  # saved before the evaluation
    monkeypatch.setattr(Trainer, "evaluate_now", real)
    res = dt("train", "--resume", out)
    assert res.returncode == 0, res.stderr
    assert [r["step"] for r in read_metrics(out) if "eval/return_mean" in r] == [3]  # the missing evaluation
    res = dt("train", "--resume", out)  # and only once
    assert res.returncode == 0 and len([r for r in read_metrics(out) if "eval/return_mean" in r]) == 1


def test_a_diverging_run_stops_without_saving_non_finite_weights(pend, tmp_path, dt):
    from decision_transformer.checkpoint import latest_checkpoint, load_run

    out = tmp_path / "run"
    res = dt("train", "--dataset", pend[1], "--out", out, "--lr", "1e30", "--save-every", "1", *TINY)
    assert_one_error(res, "train", "diverged")
    if latest_checkpoint(out) is not None:
        load_run(out)  # whatever was saved is finite (load_weights checks)


def test_a_short_run_warns_about_its_warmup_and_always_ends_with_a_summary(pend, tmp_path, dt):
    out = tmp_path / "run"
    args = [a for a in TINY if a not in ("--warmup-steps", "2")]
    res = dt("train", "--dataset", pend[1], "--out", out, *args)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("dt train: warning: TrainConfig.warmup_steps=10000 is longer than the run (steps=3)") == 1
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and "step 3" in lines[0] and "final loss" in lines[0] and str(out) in lines[0]
    assert "set warmup_steps below steps (dt train: --warmup-steps;" in res.stderr
    res = dt("train", "--resume", out, "--steps", "4", "--no-progress")  # a resume can change the total alone
    assert res.returncode == 0, res.stderr
    assert "give --steps of more than 10000 (the warm-up is the run's own)" in res.stderr and "--warmup-steps" not in res.stderr


def test_temperature_options_without_a_stochastic_policy_warn(pend, tmp_path, dt):
    res = dt("train", "--dataset", pend[1], "--out", tmp_path / "run", *TINY, "--init-temperature", "0")
    assert res.returncode == 0, res.stderr
    assert ("dt train: warning: TrainConfig.init_temperature=0.0 has no effect without a stochastic policy "
            "(--stochastic-policy)") in res.stderr


# ------------------------------------------------------------------------------ dt eval values
EVAL_CASES = [
    (["--targets", "nan"], "EvalCommand.targets=(nan,)"),
    (["--targets", "100", "inf"], "EvalCommand.targets=(100.0, inf)"),
    (["--num-envs", "-2"], "EvalCommand.num_envs=-2"),
    (["--num-episodes", "0"], "EvalCommand.num_episodes=0"),
    (["--temperature", "-1"], "EvalCommand.temperature=-1"),
    (["--temperature", "nan"], "EvalCommand.temperature=nan"),
    (["--max-episode-steps", "-1"], "EvalCommand.max_episode_steps=-1"),
    (["--video-episodes", "0"], "EvalCommand.video_episodes=0"),
    (["--precision", "fp8"], "EvalCommand.precision='fp8'"),
    (["--choose-target", "--targets", "100"], "EvalCommand.choose_target"),
    (["--choose-target", "--targets", "100", "auto"], "EvalCommand.choose_target"),
]


@pytest.mark.parametrize("flags,named", EVAL_CASES, ids=[" ".join(f) for f, _ in EVAL_CASES])
def test_bad_evaluation_values_are_refused(tmp_path, dt, flags, named):
    assert_one_error(dt("eval", tmp_path / "run", *flags), "eval", named)


def test_evaluate_refuses_bad_values_in_python_too():
    from decision_transformer.evaluate import evaluate

    for kwargs, message in ((dict(targets=[math.nan]), "targets"), (dict(targets=[1.0], num_envs=-2), "num_envs"),
                            (dict(targets=[1.0], temperature=math.inf), "temperature")):
        with pytest.raises(ValueError, match=message):
            evaluate(None, "Pendulum-v1", **kwargs)


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, dt):
    """Ctrl-C in any command: one line saying how to resume, exit 130 (128 + SIGINT), no traceback."""
    from decision_transformer.commands import data

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "run_list", interrupted)
    res = dt("data", "list")
    assert res.returncode == 130 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines() == [
        "dt data: interrupted; a run resumes from its last checkpoint when the same command (or `dt train --resume "
        "RUN`) runs again"]
