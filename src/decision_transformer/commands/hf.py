"""`dt hf import HF_DIR --out RUN_DIR` and `dt hf export RUN_DIR --out HF_DIR`: Hugging Face
`transformers.DecisionTransformerModel` checkpoints <-> our run directories.

The tensor/config translation lives in `decision_transformer.hf`; this module adds the run-directory
side (`import_hf`, `export_hf`, usable from Python too) and the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

DEFAULT_REWARD_SCALE = 1000.0  # decision_transformer.hf.DEFAULT_REWARD_SCALE (kept here so --help stays light)


def load_state_stats(path: str | os.PathLike) -> tuple:
    """(state_mean, state_std) from a JSON object or an .npz holding arrays of those names."""
    import json

    import numpy as np

    from ..hf import HFFormatError

    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path) as f:
                data = {k: f[k] for k in f.files}
        else:
            data = json.loads(path.read_text())
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise HFFormatError(f"{path}: unreadable state statistics ({exc}); expected JSON or .npz") from exc
    if not isinstance(data, dict) or "state_mean" not in data or "state_std" not in data:
        raise HFFormatError(f"{path}: expected fields 'state_mean' and 'state_std'")
    return np.asarray(data["state_mean"], np.float64), np.asarray(data["state_std"], np.float64)


def import_hf(hf_dir: str | os.PathLike, run_dir: str | os.PathLike, *, state_mean: Any = None,
              state_std: Any = None, env_id: str = "", reward_scale: float | None = None,
              context_len: int | None = None) -> Path:
    """Write one of our run directories from an HF checkpoint; returns the checkpoint directory.

    State statistics come from the arguments, else from the config's `dt_meta` (our own exports), else
    the identity (mean 0, std 1) is recorded with a warning: hub checkpoints expect normalized states.
    The reward scale defaults to `dt_meta`'s, else 1000 (the HF gym examples)."""
    import numpy as np

    from .. import __version__
    from ..checkpoint import RunMeta, save_checkpoint
    from ..hf import META_KEY, read_hf, resolve_state_stats
    from ..model import DecisionTransformer

    ckpt = read_hf(hf_dir, context_len)
    model = DecisionTransformer(ckpt.config, ckpt.state_dim, ckpt.act_dim)
    model.load_state_dict(ckpt.state_dict, strict=True)
    mean, std = resolve_state_stats(ckpt, state_mean, state_std, hf_dir)
    source = "given" if state_mean is not None else f"{Path(hf_dir) / 'config.json'} {META_KEY}"
    if mean is None:
        warnings.warn(
            f"{hf_dir}: no state statistics given; recording mean 0 / std 1. Hub checkpoints expect the "
            "dataset's state_mean/state_std (see the model card); pass --state-mean/--state-std or --stats.",
            stacklevel=2,
        )
        mean, std, source = np.zeros(ckpt.state_dim), np.ones(ckpt.state_dim), "none given: identity"
    scale = reward_scale if reward_scale is not None else ckpt.dt_meta.get("reward_scale", DEFAULT_REWARD_SCALE)
    meta = RunMeta(
        model_kind="dt", model_config=ckpt.config.to_dict(), state_dim=ckpt.state_dim, act_dim=ckpt.act_dim,
        state_mean=np.asarray(mean, np.float64).tolist(), state_std=np.asarray(std, np.float64).tolist(),
        reward_scale=float(scale), env_id=env_id or ckpt.dt_meta.get("env_id", ""), dataset="", step=0,
        version=__version__,
        extra={"hf_config": ckpt.hf_config, "hf_source": str(Path(hf_dir).resolve()), "hf_prefix": ckpt.prefix,
               "state_stats_source": source},
    )
    return save_checkpoint(run_dir, model, meta, extra_tensors=ckpt.extra_tensors)


def export_hf(run_dir: str | os.PathLike, hf_dir: str | os.PathLike, step: int | None = None) -> Path:
    """Write an HF checkpoint from one of our run directories (its latest checkpoint, or `step`)."""
    from ..checkpoint import load_run
    from ..hf import HFFormatError, save_hf

    run = load_run(run_dir, step=step)
    if run.meta.model_kind != "dt":
        raise HFFormatError(f"{run.path}: model_kind={run.meta.model_kind!r}; only 'dt' exports to Hugging Face")
    return save_hf(
        run.model, hf_dir, hf_config=run.meta.extra.get("hf_config"), extra_tensors=run.extra_tensors,
        state_mean=run.meta.state_mean, state_std=run.meta.state_std, reward_scale=run.meta.reward_scale,
        env_id=run.meta.env_id,
    )


# ---------------------------------------------------------------------------------------------- CLI


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hf", help="import / export Hugging Face DecisionTransformerModel checkpoints")
    hsub = p.add_subparsers(dest="hf_command", required=True, metavar="{import,export}")

    imp = hsub.add_parser(
        "import", help="HF checkpoint directory (config.json + model.safetensors / pytorch_model.bin) -> run directory")
    imp.add_argument("hf_dir", help="directory written by save_pretrained (e.g. a downloaded hub model)")
    imp.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    imp.add_argument("--state-mean", type=float, nargs="+", default=None, metavar="X",
                     help="per-dimension state mean the model was trained with (the model card lists it)")
    imp.add_argument("--state-std", type=float, nargs="+", default=None, metavar="X", help="per-dimension state std")
    imp.add_argument("--stats", default=None, metavar="FILE", help="JSON or .npz file with state_mean and state_std")
    imp.add_argument("--env", dest="env_id", default="",
                     help="Gymnasium id to record (e.g. Hopper-v5; default: the one our own export recorded, else none)")
    imp.add_argument("--reward-scale", type=float, default=None,
                     help=f"returns-to-go divisor the model was trained with (default: {DEFAULT_REWARD_SCALE:g}, "
                          "as in the HF gym examples)")
    imp.add_argument("--context-len", type=int, default=None,
                     help="K to record for evaluation (HF configs do not store it; default 20, the paper's)")
    imp.set_defaults(func=run_import)

    exp = hsub.add_parser(
        "export", help="run directory -> HF checkpoint that DecisionTransformerModel.from_pretrained loads")
    exp.add_argument("run_dir", help="run directory (or a checkpoint directory)")
    exp.add_argument("--out", required=True, metavar="HF_DIR",
                     help="HF checkpoint directory to write (config.json + model.safetensors)")
    exp.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    exp.set_defaults(func=run_export)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        print(f"dt hf: warning: {w.message}", file=sys.stderr)


def run_import(args: argparse.Namespace) -> int:
    from ..hf import HFFormatError

    if args.stats and (args.state_mean is not None or args.state_std is not None):
        raise HFFormatError("give either --stats FILE or --state-mean/--state-std, not both")
    if (args.state_mean is None) != (args.state_std is None):
        raise HFFormatError("--state-mean and --state-std go together")
    mean, std = (load_state_stats(args.stats) if args.stats else (args.state_mean, args.state_std))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = import_hf(args.hf_dir, args.out, state_mean=mean, state_std=std, env_id=args.env_id,
                         reward_scale=args.reward_scale, context_len=args.context_len)
    _print_warnings(caught)
    print(f"imported {args.hf_dir} -> {path}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_hf(args.run_dir, args.out, step=args.step)
    _print_warnings(caught)
    print(f"exported {args.run_dir} -> {path} (config.json + model.safetensors)")
    return 0
