"""`dt train`: train DT / BC / MLP-BC on a dataset, or `--resume RUN_DIR` a killed run."""

from __future__ import annotations

import argparse

from ..cli_args import add_dataclass_args, from_args
from ..config import DTConfig

MODEL_FLAGS = ("context_len", "embed_dim", "n_layer", "n_head", "mlp_ratio", "activation", "dropout", "max_ep_len", "action_tanh")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on an offline dataset")
    add_dataclass_args(p, _train_config_cls(), exclude=("env_id",))
    p.add_argument("--env", dest="env_id", default=None, help="Gymnasium id for evaluation (default: the dataset's)")
    g = p.add_argument_group("model architecture (DTConfig; mlp-bc uses context_len, n_layer, embed_dim as hidden width, dropout)")
    add_dataclass_args(g, DTConfig, exclude=[f for f in DTConfig.__dataclass_fields__ if f not in MODEL_FLAGS])
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a run from its latest checkpoint")
    p.set_defaults(func=run)


def _train_config_cls():
    from ..train import TrainConfig

    return TrainConfig


def model_config_from_args(kind: str, args: argparse.Namespace):
    from ..train import default_model_config

    given = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k, None) is not None}
    return default_model_config(kind, **given)


def run(args: argparse.Namespace) -> int:
    from ..train import TrainConfig, resume, train

    if args.resume:
        resume(args.resume, steps=args.steps)
        return 0
    cfg = from_args(TrainConfig, args)
    train(cfg, model_config_from_args(cfg.model, args))
    return 0
