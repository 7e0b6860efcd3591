"""`dt export RUN_DIR --onnx FILE`: the run's model as ONNX, with its preprocessing in the file's metadata
(docs/deploy.md). Banded models also get their step graph, FILE.step.onnx."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..cli_args import POSITIONAL, add_dataclass_args, command_help, from_args
from ..common.checks import check_types


@dataclass(frozen=True)
class ExportCommand:
    """Export a trained run to ONNX for torch-free deployment (decision_transformer.deploy.OnnxPolicy)."""

    run_dir: str = field(default="", metadata=POSITIONAL)
    """Run directory (or a checkpoint directory)."""
    onnx: str = ""
    """The .onnx file to write (required; a banded model's step graph goes next to it, as FILE.step.onnx)."""
    step: int = -1
    """Checkpoint step to export (-1: the latest)."""
    step_graph: bool = True
    """Banded models (attention_window > 0): also write the step graph for incremental acting."""
    bounds_from_env: bool = True
    """Record the action bounds of the run's env (meta.json env_id) when it can be created; the runtime clips
    continuous actions to them."""
    exporter: str = "torchscript"
    """torch.onnx exporter: torchscript (no extra dependency) or dynamo (needs onnxscript)."""
    opset: int = 17
    """ONNX opset (17 or newer: LayerNormalization is one operator)."""
    verify: bool = True
    """Run each graph in onnxruntime on random inputs and compare with PyTorch before writing it."""

    def __post_init__(self) -> None:
        check_types(self)
        if not self.run_dir:
            raise ValueError("ExportCommand.run_dir: give the run directory to export")
        if not self.onnx:
            raise ValueError("ExportCommand.onnx: give the file to write, --onnx FILE.onnx")
        if Path(self.onnx).suffix != ".onnx" or Path(self.onnx).name == ".onnx":
            raise ValueError(f"{self.onnx}: --onnx must name a .onnx file")
        if Path(self.onnx).name.endswith(".step.onnx"):
            stem = Path(self.onnx).name.removesuffix(".step.onnx")
            raise ValueError(f"{self.onnx}: --onnx must not end in .step.onnx (the name of a banded model's step "
                             f"graph, FILE.step.onnx); e.g. --onnx {stem}.onnx")
        if self.exporter not in ("torchscript", "dynamo"):
            raise ValueError(f"ExportCommand.exporter={self.exporter!r}; expected 'torchscript' or 'dynamo'")
        if self.opset < 17 or (self.opset > 17 and self.opset > max_opset(self.exporter)):
            raise ValueError(f"ExportCommand.opset={self.opset}: expected 17 to {max_opset(self.exporter)} (the "
                             f"opsets torch.onnx's {self.exporter} exporter writes here)")


def max_opset(exporter: str) -> int:
    """The newest opset torch.onnx's `exporter` writes (torch is imported only for an opset above the default)."""
    from torch.onnx import _constants  # (torch 2.13: 20 for torchscript, 23 for dynamo)

    return (_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET if exporter == "torchscript" else _constants.ONNX_MAX_OPSET)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", **command_help(ExportCommand))
    add_dataclass_args(p, ExportCommand)
    p.set_defaults(func=run)


def env_action_bounds(env_id: str) -> tuple[list[float], list[float]] | None:
    """(low, high) of a Box action space of `env_id`, None for other spaces; a warning and None when the env
    cannot be created here."""
    try:
        import gymnasium as gym

        from ..common.envs_util import make_env

        env = make_env(env_id)
    except Exception as exc:  # a missing extra, an unknown id: the export goes on without bounds
        warnings.warn(f"no action bounds recorded: cannot create {env_id!r} ({str(exc).splitlines()[0]})")
        return None
    try:
        space = env.action_space
        if isinstance(space, gym.spaces.Box):
            return space.low.astype(float).tolist(), space.high.astype(float).tolist()
        return None
    finally:
        env.close()


def run(args: argparse.Namespace) -> int:
    a = from_args(ExportCommand, args)
    if not Path(a.run_dir).exists():
        raise FileNotFoundError(f"{a.run_dir}: no such run directory")
    from ..checkpoint import load_run
    from ..deploy.export import export_onnx

    loaded = load_run(a.run_dir, step=None if a.step < 0 else a.step)
    extra = loaded.meta.extra
    bounds = None
    if "action_low" in extra and "action_high" in extra:
        bounds = (list(extra["action_low"]), list(extra["action_high"]))
    elif a.bounds_from_env and loaded.meta.env_id and not loaded.meta.config().discrete_actions:
        bounds = env_action_bounds(loaded.meta.env_id)
    res = export_onnx(loaded, a.onnx, step_graph=a.step_graph, opset=a.opset, exporter=a.exporter,
                      action_bounds=bounds, verify=a.verify)
    m = res.metadata
    for path in res.paths:
        print(f"wrote {path}")
    print(f"{m['model_kind']} model, step {m['step']}: inputs {', '.join(m['inputs'])}; K {m['context_len']}, "
          f"attention_window {m['attention_window']}, action bounds {'recorded' if bounds else 'none'}")
    for graph, diff in res.max_abs_diff.items():
        print(f"{graph} graph: max |onnxruntime - torch| = {diff:.2g} on random inputs")
    return 0
