"""Decision Transformer (Chen et al., 2021) as a library and the `dt` command-line tool."""

from .config import DTConfig, MLPBCConfig
from .model import DecisionTransformer, MLPBC

__version__ = "0.1.0"

__all__ = ["DTConfig", "MLPBCConfig", "DecisionTransformer", "MLPBC", "load_run", "__version__"]


def load_run(run_dir, step=None):
    """Load a run directory's checkpoint: returns a `checkpoint.LoadedRun` (model in eval mode + metadata)."""
    from .checkpoint import load_run as _load_run

    return _load_run(run_dir, step=step)
