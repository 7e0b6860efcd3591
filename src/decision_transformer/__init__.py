"""Decision Transformer (Chen et al., 2021) as a library and the `dt` command-line tool.

The torch-backed names (`DecisionTransformer`, `MLPBC`) load on first use, so that a torch-free part of the
package (`decision_transformer.deploy`, the onnxruntime policy) can be imported without torch."""

from typing import TYPE_CHECKING

from .config import DTConfig, MLPBCConfig

if TYPE_CHECKING:
    from .mlp_bc import MLPBC
    from .model import DecisionTransformer

__version__ = "0.1.0"

__all__ = ["DTConfig", "MLPBCConfig", "DecisionTransformer", "MLPBC", "load_run", "__version__"]

_LAZY = {"DecisionTransformer": "model", "MLPBC": "mlp_bc"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load_run(run_dir, step=None):
    """Load a run directory's checkpoint: returns a `checkpoint.LoadedRun` (model in eval mode + metadata)."""
    from .checkpoint import load_run as _load_run

    return _load_run(run_dir, step=step)
