"""`dt demo`: the main job on a built-in default, end to end in a few minutes on a CPU.

Makes (or reuses) a small offline dataset, trains a Decision Transformer and the BC baseline on it,
evaluates both in the real environment, and prints one table: target, achieved return mean ± std and
normalized score, DT beside BC.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..cli_args import add_dataclass_args, from_args
from ..common.seeding import derive_seed


@dataclass(frozen=True)
class DemoConfig:
    """A short run of the paper's recipe; model and schedule are scaled down to fit a few CPU minutes."""

    dataset: str = "hopper-medium-replay"
    """Dataset SRC to train on (default: the suite's Hopper-v5 medium-replay, a SAC learner's replay buffer up
    to the medium level, 250k steps, loaded from the package in seconds)."""
    out: str = "runs/demo"
    """Parent directory of the two run directories (dt/, bc/)."""
    steps: int = 4000
    """Gradient steps per model (4000: the smallest budget at which the small model followed its targets on
    this data, chosen on training seed 1, which is never reported; 1500 did not)."""
    targets: tuple[float, ...] = (1200.0, 600.0, 300.0)
    """Target returns for DT (BC has no return input: it is evaluated once). The default dataset's episode
    returns span 3..1336 (mean 310)."""
    num_episodes: int = 10
    """Evaluation episodes per target."""
    context_len: int = 20
    """K."""
    embed_dim: int = 64
    """Transformer width (the paper uses 128; smaller here to fit the time budget)."""
    n_layer: int = 2
    """Transformer blocks (the paper uses 3)."""
    lr: float = 3e-4
    """Learning rate (higher than the paper's 1e-4 because the run is short)."""
    warmup_steps: int = 200
    """Linear warmup steps."""
    seed: int = 0
    """Training and evaluation seed."""
    json: str = ""
    """Also write the table as JSON here, with the command, commit, machine and date (default: OUT/demo.json)."""

    def __post_init__(self) -> None:  # checked before minutes of training (the rest by TrainConfig and DTConfig)
        from ..config import check_number, check_types

        check_types(self)
        check_number(self, "targets")
        check_number(self, "lr", 0.0, low_open=True)
        if not self.targets or self.num_episodes < 1:
            raise ValueError(f"DemoConfig: targets={self.targets} needs at least one value and num_episodes="
                             f"{self.num_episodes} must be >= 1")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train DT and BC on a built-in dataset and compare them (minutes)")
    add_dataclass_args(p, DemoConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    from ..checkpoint import latest_checkpoint
    from ..data.registry import load_dataset
    from ..evaluate import evaluate
    from ..common.metrics import format_table
    from ..common import atomic
    from ..common.provenance import provenance
    from ..config import model_config
    from ..train import TrainConfig, train

    cfg = from_args(DemoConfig, args)
    from ..common.provenance import git_commit

    git_commit()  # pin the commit this run starts from (provenance reads it at the end)
    t0 = time.perf_counter()
    dataset = load_dataset(cfg.dataset, seed=cfg.seed)
    print(f"dataset {cfg.dataset}: {dataset.num_episodes} episodes, {dataset.num_steps} steps, "
          f"returns {dataset.episode_returns.min():.0f}..{dataset.episode_returns.max():.0f}, env {dataset.env_id}")
    rows, records = [], []
    for kind in ("dt", "bc"):
        run_dir = Path(cfg.out) / kind
        if latest_checkpoint(run_dir) is not None:
            shutil.rmtree(run_dir)
        tcfg = TrainConfig(dataset=cfg.dataset, out=str(run_dir), steps=cfg.steps, lr=cfg.lr,
                           warmup_steps=cfg.warmup_steps, seed=cfg.seed, log_every=100, save_every=cfg.steps)
        mcfg = model_config(kind, context_len=cfg.context_len, embed_dim=cfg.embed_dim, n_layer=cfg.n_layer)
        loaded = train(tcfg, mcfg)
        targets = list(cfg.targets) if kind == "dt" else [cfg.targets[0]]
        for r in evaluate(loaded, dataset.env_id, targets, num_episodes=cfg.num_episodes, seed=derive_seed(cfg.seed, "train-eval")):
            rows.append([kind.upper(), f"{r.target_return:g}" if kind == "dt" else "(none)",
                         r.return_text, r.normalized_text()])
            records.append({"model": kind, "target_return": r.target_return if kind == "dt" else None,
                            "return_mean": r.return_mean, "return_std": r.return_std, "returns": r.returns,
                            "normalized": {k: {"mean": m, "std": s} for k, (m, s) in r.normalized.items()}})
    print()
    table = format_table(["model", "target", "return (mean ± sample std)", "normalized score"], rows)
    print(table)
    wall = time.perf_counter() - t0
    print(f"\n{cfg.num_episodes} episodes per row; std: sample std (n-1) over episodes; total time {wall:.0f} s; "
          f"runs in {cfg.out}/")
    out = cfg.json or str(Path(cfg.out) / "demo.json")
    command = "dt demo " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["demo"] else "dt demo"
    atomic.write_json(out, {"config": dataclasses.asdict(cfg), "spread": "sample std (n-1) over evaluation episodes",
                            "rows": records, "table": table, **provenance(command.strip(), wall)})
    print(f"wrote {out}")
    return 0
