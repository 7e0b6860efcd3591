"""`dt train`: train DT / BC / MLP-BC on a dataset, or `--resume RUN_DIR` a killed run."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from ..cli_args import add_dataclass_args, from_args, given, option_fields
from ..config import DTConfig, MLPBCConfig

# architecture options: every DTConfig / MLPBCConfig field that is not DERIVED (the kind and the data set the rest)
MODEL_FLAGS = option_fields(DTConfig, MLPBCConfig)


@dataclass(frozen=True)
class TrainCommand:
    """What to train, or which run to continue."""

    model: str = "dt"
    """dt, bc (the same transformer without return tokens) or mlp-bc (the paper's MLP baseline): picks the
    default architecture (config.model_config); architecture options that do not apply to it are an error."""
    resume: str = ""
    """Continue the run in this directory from its latest checkpoint. Its settings are the saved ones: only
    --steps (a new total, saved with the run) and this machine's --device, --torch-threads and --[no-]progress (for
    this sitting only) may be given with it."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..run_config import TrainConfig

    p = sub.add_parser("train", help="train a model on an offline dataset")
    add_dataclass_args(p, TrainCommand)
    add_dataclass_args(p, TrainConfig)
    g = p.add_argument_group("model architecture (DTConfig; mlp-bc: MLPBCConfig, whose width is --hidden-dim)")
    add_dataclass_args(g, DTConfig, exclude=[f for f in DTConfig.__dataclass_fields__ if f not in MODEL_FLAGS])
    add_dataclass_args(g, MLPBCConfig, exclude=[f for f in MLPBCConfig.__dataclass_fields__
                                                if f not in MODEL_FLAGS or f in DTConfig.__dataclass_fields__])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import model_config
    from ..train import MACHINE_FIELDS, TrainConfig, resume, train

    cmd = from_args(TrainCommand, args)
    options = given(args, TrainConfig)
    arch = {k: getattr(args, k) for k in MODEL_FLAGS if getattr(args, k, None) is not None}
    if cmd.resume:
        allowed = {"steps", *MACHINE_FIELDS}
        ignored = sorted((set(options) - allowed) | set(arch) | ({"model"} if args.model is not None else set()))
        if ignored:
            flags = ", ".join("--" + k.replace("_", "-") for k in ignored)
            raise ValueError(f"--resume {cmd.resume}: the run keeps its saved settings; {flags} would be ignored "
                             "(only --steps, --device, --torch-threads and --[no-]progress may be given)")
        run_dir = cmd.resume
        run = resume(run_dir, steps=options.get("steps"), **{k: options[k] for k in MACHINE_FIELDS if k in options})
    else:
        cfg = from_args(TrainConfig, args)
        run_dir = cfg.out
        run = train(cfg, model_config(cmd.model, **arch))
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 speaks for all
        print(summary(run, run_dir))
    return 0


def summary(run, run_dir: str) -> str:
    """The one line every `dt train` ends with (progress bar or not): steps, final loss, where the run is."""
    from ..train import loss_history

    losses = loss_history(run_dir)
    loss = f"final loss {losses[-1][1]:.4g}" if losses else "no loss logged"
    return f"dt train: {run.meta.model_kind} trained to step {run.meta.step}, {loss}; run in {run_dir} ({run.path.name})"
