"""`dt demo`: the main job on a built-in default, end to end in a few minutes on a CPU.

Makes (or reuses) a small offline dataset, trains a Decision Transformer and the BC baseline on it,
evaluates both in the real environment, and prints one table: target, achieved return mean ± std and
normalized score, DT beside BC.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..cli_args import add_dataclass_args, from_args, inline, option_values
from ..config import DTConfig
from ..run_config import TrainConfig
from ..common.seeding import derive_seed


DEMO_TRAIN = TrainConfig(dataset="hopper-medium-replay", steps=4000, lr=3e-4, warmup_steps=200, log_every=100)
"""The paper's training, shortened: 4000 steps (the smallest budget at which the small model followed its targets on
the default data, chosen on training seed 1, which is never reported; 1500 did not), lr 3e-4 (higher than the paper's
1e-4 because the run is short), 200 warmup steps."""
DEMO_MODEL = DTConfig(embed_dim=64, n_layer=2)
"""The paper's gym transformer, narrower and shallower to fit the time budget (the paper: width 128, 3 blocks)."""


@dataclass(frozen=True)
class DemoConfig:
    """A short run of the paper's recipe; model and schedule are scaled down to fit a few CPU minutes."""

    train: TrainConfig = field(default=DEMO_TRAIN, metadata=inline("dataset", "steps", "lr", "warmup_steps", "seed",
                                                                   "scale_actions"))
    """Both models' training (DEMO_TRAIN). The default dataset is the suite's Hopper-v5 medium-replay (a SAC
    learner's replay buffer up to the medium level, 250k steps, loaded from the package in seconds)."""
    model: DTConfig = field(default=DEMO_MODEL, metadata=inline("context_len", "embed_dim", "n_layer"))
    """DT's architecture (DEMO_MODEL); BC is the same transformer without return tokens."""
    out: str = "runs/demo"
    """Parent directory of the two run directories (dt/, bc/)."""
    targets: tuple[float, ...] = (1200.0, 600.0, 300.0)
    """Target returns for DT (BC has no return input: it is evaluated once). The default dataset's episode
    returns span 3..1336 (mean 310)."""
    num_episodes: int = 10
    """Evaluation episodes per target."""
    json: str = ""
    """Also write the table as JSON here, with the command, commit, machine and date (default: OUT/demo.json)."""

    def __post_init__(self) -> None:  # checked before minutes of training (the rest by TrainConfig and DTConfig)
        from ..common.checks import check_number, check_types

        check_types(self)
        check_number(self, "targets")
        if not self.targets or self.num_episodes < 1:
            raise ValueError(f"DemoConfig: targets={self.targets} needs at least one value and num_episodes="
                             f"{self.num_episodes} must be >= 1")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train DT and BC on a built-in dataset and compare them (minutes)")
    add_dataclass_args(p, DemoConfig)
    p.set_defaults(func=run)


DEMO_MARKER = ".dt-demo"
"""Marks a run directory `dt demo` made: the only kind a later demo replaces."""


def _claim_run_dir(run_dir: Path, check_only: bool = False) -> None:
    """Make `run_dir` a fresh run directory of the demo, under the run's lock: a run an earlier demo left (its
    DEMO_MARKER) is removed; a run the demo did not make (say `dt train`'s default runs/dt) is refused."""
    from ..common import atomic, runlock

    if not run_dir.is_dir() and check_only:
        return
    with runlock.exclusive(run_dir):
        if not (run_dir / DEMO_MARKER).is_file() and any(p.name != runlock.LOCK_FILE for p in run_dir.iterdir()):
            raise FileExistsError(f"DemoConfig.out={str(run_dir.parent)!r}: {run_dir} holds files that dt demo did not make (a run of dt "
                                  "train?); expected no run there or one of an earlier dt demo (use another --out, "
                                  "or remove it)")
        if check_only:
            return
        for entry in run_dir.iterdir():  # all but the lock we hold: an earlier demo's run
            if entry.name == runlock.LOCK_FILE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        atomic.write_text(run_dir / DEMO_MARKER, "made by dt demo; a later dt demo replaces this run\n")


def run(args: argparse.Namespace) -> int:
    from .. import preflight
    from ..data.registry import load_dataset
    from ..evaluate import evaluate
    from ..common.metrics import format_table
    from ..common import atomic
    from ..common.provenance import provenance
    from ..config import model_config
    from ..train import train

    cfg = from_args(DemoConfig, args)
    from ..common.provenance import git_commit

    git_commit()  # pin the commit this run starts from (provenance reads it at the end)
    preflight.check_out_dir(cfg.out, "DemoConfig.out")
    preflight.check_out_file(cfg.json or Path(cfg.out) / "demo.json", "DemoConfig.json")  # written at the end
    for kind in ("dt", "bc"):  # both checked before either is trained
        _claim_run_dir(Path(cfg.out) / kind, check_only=True)
    t0 = time.perf_counter()
    dataset = load_dataset(cfg.train.dataset, seed=cfg.train.seed)
    if not dataset.env_id:  # checked before minutes of training: the evaluation needs the env
        raise ValueError(f"{dataset.source}: field 'env_id' is empty; dt demo evaluates in the env the dataset "
                         "records, so it needs a dataset that records one")
    print(f"dataset {cfg.train.dataset}: {dataset.num_episodes} episodes, {dataset.num_steps} steps, "
          f"returns {dataset.episode_returns.min():.1f}..{dataset.episode_returns.max():.1f}, env {dataset.env_id}")
    rows, records = [], []
    for kind in ("dt", "bc"):
        run_dir = Path(cfg.out) / kind
        _claim_run_dir(run_dir)
        tcfg = dataclasses.replace(cfg.train, out=str(run_dir), save_every=cfg.train.steps)
        fields = dataclasses.asdict(cfg.model)
        fields.pop("condition_on_return")  # the kind decides it
        mcfg = model_config(kind, **fields)
        loaded = train(tcfg, mcfg)
        targets = list(cfg.targets) if kind == "dt" else [cfg.targets[0]]
        for r in evaluate(loaded, dataset.env_id, targets, num_episodes=cfg.num_episodes, seed=derive_seed(cfg.train.seed, "train-eval")):
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
    atomic.write_json(out, {"config": option_values(cfg), "spread": "sample std (n-1) over evaluation episodes",
                            "rows": records, "table": table, **provenance(command.strip(), wall)})
    print(f"wrote {out}")
    return 0
