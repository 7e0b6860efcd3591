"""`dt hf import HF_DIR --out RUN_DIR` and `dt hf export RUN_DIR --out HF_DIR`: Hugging Face
`transformers.DecisionTransformerModel` checkpoints <-> our run directories.

The library side (`import_hf`, `export_hf`, `load_state_stats`) lives in `decision_transformer.hf.runs`;
this module is the command line only.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass, field

from ..cli_args import POSITIONAL, add_dataclass_args, command_help, from_args

DEFAULT_REWARD_SCALE = 1000.0  # decision_transformer.hf.DEFAULT_REWARD_SCALE (kept here so --help stays light)


@dataclass(frozen=True)
class HFImport:
    """HF checkpoint directory (config.json + model.safetensors / pytorch_model.bin) -> run directory."""

    hf_dir: str = field(default="", metadata=POSITIONAL)
    """Directory written by save_pretrained (e.g. a downloaded hub model)."""
    out: str = ""
    """Run directory to write (required)."""
    state_mean: tuple[float, ...] = ()
    """Per-dimension state mean the model was trained with (the model card lists it)."""
    state_std: tuple[float, ...] = ()
    """Per-dimension state std."""
    stats: str = ""
    """JSON or .npz file with state_mean and state_std."""
    env_id: str = ""
    """Gymnasium id to record (e.g. Hopper-v5; default: the one our own export recorded, else none)."""
    reward_scale: float = 0.0
    """Returns-to-go divisor the model was trained with (0: our export's, else 1000 as in the HF gym examples)."""
    context_len: int = 0
    """K to record for evaluation (HF configs do not store it; 0: 20, the paper's)."""

    def __post_init__(self) -> None:
        from ..common.checks import check_number, check_types

        check_types(self)
        check_number(self, "state_mean")
        check_number(self, "state_std", 0.0, low_open=True)
        check_number(self, "reward_scale", 0.0)
        if self.context_len < 0:
            raise ValueError(f"HFImport.context_len={self.context_len} must be >= 0 (0: 20)")


@dataclass(frozen=True)
class HFExport:
    """Run directory -> HF checkpoint that DecisionTransformerModel.from_pretrained loads."""

    run_dir: str = field(default="", metadata=POSITIONAL)
    """Run directory (or a checkpoint directory)."""
    out: str = ""
    """HF checkpoint directory to write: config.json + model.safetensors (required)."""
    step: int = -1
    """Checkpoint step (-1: the latest)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hf", help="import / export Hugging Face DecisionTransformerModel checkpoints")
    hsub = p.add_subparsers(dest="hf_command", required=True, metavar="{import,export}")
    imp = hsub.add_parser("import", **command_help(HFImport))
    add_dataclass_args(imp, HFImport)
    imp.set_defaults(func=run_import)
    exp = hsub.add_parser("export", **command_help(HFExport))
    add_dataclass_args(exp, HFExport)
    exp.set_defaults(func=run_export)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        print(f"dt hf: warning: {w.message}", file=sys.stderr)


def run_import(args: argparse.Namespace) -> int:
    from ..hf import HFFormatError
    from ..hf.runs import import_hf, load_state_stats

    a = from_args(HFImport, args)
    if not a.out:
        raise HFFormatError("--out RUN_DIR is required (the run directory to write)")
    if a.stats and (a.state_mean or a.state_std):
        raise HFFormatError("give either --stats FILE or --state-mean/--state-std, not both")
    if bool(a.state_mean) != bool(a.state_std):
        raise HFFormatError("--state-mean and --state-std go together")
    mean, std = load_state_stats(a.stats) if a.stats else (a.state_mean or None, a.state_std or None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = import_hf(a.hf_dir, a.out, state_mean=mean, state_std=std, env_id=a.env_id,
                         reward_scale=a.reward_scale or None, context_len=a.context_len or None)
    _print_warnings(caught)
    print(f"imported {a.hf_dir} -> {path}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..hf import HFFormatError
    from ..hf.runs import export_hf

    a = from_args(HFExport, args)
    if not a.out:
        raise HFFormatError("--out HF_DIR is required (the Hugging Face directory to write)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = export_hf(a.run_dir, a.out, step=None if a.step < 0 else a.step)
    _print_warnings(caught)
    print(f"exported {a.run_dir} -> {path} (config.json + model.safetensors)")
    return 0
