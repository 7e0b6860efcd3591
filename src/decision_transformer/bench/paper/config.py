"""Settings of `dt bench paper`: the protocols, the experiments' cells, and the run configuration.

Protocol `full` is the paper's (Chen et al. 2021, gym code `experiment.py` defaults): 100k gradient steps, batch
64, lr 1e-4, 10k warmup steps, 100 evaluation episodes per target, the last evaluation (never the best), 3 seeds.
Protocol `cpu` is a smaller budget for a 2-core CPU. Its numbers are PLACEHOLDERS until the protocol check has
been run: on hopper-medium-replay and one other dataset, the `cpu` budget's DT and strongest-baseline scores must
be within a few points of a run at least 3x longer. The check (seeds 1000-1002, declared as selection seeds):

    dt bench paper --exp table2 --datasets hopper-medium-replay walker2d-medium-replay --methods dt iql \\
        --cpu.steps 30000 --cpu.baseline-steps 90000 --cpu.eval-every 2500 --first-seed 1000 --selection-run \\
        --root runs/paper-check
    dt bench report --root runs/paper-check --out docs/results/extra/paper_protocol_check

(the report's learning-curve PNG then shows where the `cpu` budget sits on each curve).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from .baselines import BEARSettings, CQLSettings, IQLSettings, TD3BCSettings

EXPERIMENTS = ("table2", "table3", "table7", "fig4", "context")
PROTOCOLS = ("cpu", "full")
TRANSFORMER_METHODS = ("dt", "bc", "mlp-bc", "pbc10", "pbc25", "pbc40", "dt-k1")
BASELINE_METHODS = ("cql", "iql", "td3bc", "bear")
METHODS = TRANSFORMER_METHODS + BASELINE_METHODS
TOP_FRACTIONS = {"pbc10": 0.10, "pbc25": 0.25, "pbc40": 0.40}
DELAYED_SUFFIX = "-delayed"
ENVS = ("hopper", "walker2d", "halfcheetah", "reacher")


@dataclass(frozen=True)
class ProtocolConfig:
    """A training and evaluation budget (the same for every method of an experiment)."""

    steps: int = 100_000
    """Gradient steps of DT, BC, MLP-BC, %BC."""
    batch_size: int = 64
    """Windows per gradient step."""
    lr: float = 1e-4
    """AdamW learning rate after warmup."""
    warmup_steps: int = 10_000
    """Linear learning-rate warmup steps."""
    eval_episodes: int = 100
    """Evaluation episodes per target return (every method: the same seeds and count)."""
    seeds: int = 3
    """Seeds per transformer cell."""
    baseline_steps: int = 500_000
    """Gradient steps of the d3rlpy baselines (d3rlpy's reproduction scripts run 500k)."""
    baseline_seeds: int = 3
    """Seeds per baseline cell (the first this many of the run's seeds)."""
    save_every: int = 5000
    """Checkpoint interval in steps (transformers and baselines): a killed cell continues from here."""
    eval_every: int = 0
    """Also evaluate every this many steps while training (learning curves for the protocol check; 0: only at
    the end). Transformers at the cell's first target via the trainer, baselines between training chunks."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "warmup_steps", "eval_episodes", "seeds", "baseline_steps", "save_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ProtocolConfig.{name}={getattr(self, name)} must be positive")


FULL = ProtocolConfig()
CPU = ProtocolConfig(steps=10_000, warmup_steps=1000, eval_episodes=10, seeds=3, baseline_steps=20_000,
                     baseline_seeds=2, save_every=1000)


@dataclass(frozen=True)
class PaperBenchConfig:
    """Settings of `dt bench paper` (the cells of one experiment; finished cells are skipped, killed ones resume)."""

    exp: str = "table2"
    """Experiment: table2, table3, table7, fig4 or context."""
    protocol: str = "cpu"
    """full (the paper's budget: 100k steps, 100 episodes per target, 3 seeds) or cpu (the `cpu` settings)."""
    cpu: ProtocolConfig = CPU
    """The cpu protocol's budget. PLACEHOLDERS until the protocol check (module docstring) justifies them:
    10k steps (1k warmup), 10 episodes per target, 20k baseline steps, 3 / 2 seeds."""
    seeds: int = 0
    """Seeds per cell (0: the protocol's; baselines use at most the protocol's baseline_seeds)."""
    first_seed: int = 0
    """Seeds run are first_seed .. first_seed + seeds - 1; they must avoid selection_seeds."""
    selection_seeds: tuple[int, ...] = (1000, 1001, 1002)
    """Seeds of the protocol check, which chooses the cpu budget by looking at scores (recorded in each result)."""
    selection_run: bool = False
    """This run chooses settings (the protocol check): its seeds may be selection seeds."""
    datasets: tuple[str, ...] = ()
    """Datasets (built-in names, '-delayed' suffix for sparse rewards; empty: the experiment's)."""
    methods: tuple[str, ...] = ()
    """Methods among dt, bc, mlp-bc, pbc10, pbc25, pbc40, dt-k1, cql, iql, td3bc, bear (empty: the experiment's)."""
    target_scales: tuple[float, ...] = (1.0, 0.5)
    """DT's targets: worst + s * (best - worst) of the dataset's episode returns, for each s. The paper used a high
    and a half target per env (Hopper 3600 / 1800); with returns from ~0 this is the data's best and half of it,
    and it stays meaningful for Reacher's negative returns. The score is at the first (best) target."""
    fig4_targets: int = 12
    """Figure 4: number of evenly spaced targets."""
    fig4_range: tuple[float, ...] = (-0.1, 1.3)
    """Figure 4: first and last target as fractions of the data's return range (0 = worst, 1 = best)."""
    reacher_context_len: int = 5
    """K for Reacher (the paper's gym hyperparameters give K=5 for Reacher, 20 elsewhere)."""
    cql: CQLSettings = CQLSettings()
    """CQL (d3rlpy) settings."""
    iql: IQLSettings = IQLSettings()
    """IQL (d3rlpy) settings."""
    td3bc: TD3BCSettings = TD3BCSettings()
    """TD3+BC (d3rlpy) settings."""
    bear: BEARSettings = BEARSettings()
    """BEAR (d3rlpy) settings."""
    root: str = "runs/paper"
    """Cells live in ROOT/PROTOCOL/EXP/DATASET/METHOD/seedK/result.json, training runs in ROOT/PROTOCOL/train/."""
    data_steps: int = 0
    """Shrink every suite dataset to about this many steps, regenerated in memory (tests; 0: the real data)."""
    max_episode_steps: int = 0
    """Cap evaluation episodes at this many steps (tests; 0: the environment's limit)."""
    jobs: int = 1
    """Run the unfinished cells as `dt sweep` jobs, this many at once (1: in this process, one after another)."""
    precision: str = "fp32"
    """Training precision of the transformer methods: fp32, bf16 (autocast) or auto (bf16 where the CPU has
    AVX512-BF16/AMX or on CUDA). Evaluation acts in fp32. Part of each run's identity (train_spec.json)."""
    torch_threads: int = 1
    """torch CPU threads (per job with --jobs) (1: on the shared 2-core box, 2 threads made a training step ~16x slower)."""
    quick: bool = False
    """Start from the toy config QUICK (tests): tiny data, model budget and evaluation; given options apply on top."""
    progress: bool = True
    """One line per cell."""

    def __post_init__(self) -> None:
        if self.exp not in EXPERIMENTS:
            raise ValueError(f"PaperBenchConfig.exp={self.exp!r}; expected one of {EXPERIMENTS}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"PaperBenchConfig.protocol={self.protocol!r}; expected one of {PROTOCOLS}")
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"PaperBenchConfig.methods has unknown {unknown}; expected a subset of {list(METHODS)}")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"PaperBenchConfig.precision={self.precision!r}; expected fp32, bf16 or auto")
        if len(self.fig4_range) != 2 or self.fig4_targets < 10 and not self.quick:
            raise ValueError("fig4 needs two fig4_range values and at least 10 fig4_targets")

    @property
    def budget(self) -> ProtocolConfig:
        return FULL if self.protocol == "full" else self.cpu

    def seed_list(self, baseline: bool = False) -> list[int]:
        n = self.seeds or self.budget.seeds
        if baseline:
            n = min(n, self.budget.baseline_seeds)
        return list(range(self.first_seed, self.first_seed + n))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


QUICK = PaperBenchConfig(
    cpu=ProtocolConfig(steps=20, batch_size=8, warmup_steps=5, eval_episodes=2, seeds=2, baseline_steps=20,
                       baseline_seeds=1, save_every=10),
    selection_seeds=(), fig4_targets=6, data_steps=1500, max_episode_steps=40, quick=True,
)


def split_dataset(name: str) -> tuple[str, bool]:
    """'hopper-medium-delayed' -> ('hopper-medium', True)."""
    if name.endswith(DELAYED_SUFFIX):
        return name[: -len(DELAYED_SUFFIX)], True
    return name, False


def env_of(name: str) -> str:
    return split_dataset(name)[0].split("-")[0]


def _names(envs, qualities, suffix: str = "") -> tuple[str, ...]:
    return tuple(f"{e}-{q}{suffix}" for q in qualities for e in envs)


Group = tuple[tuple[str, ...], tuple[str, ...], Callable[[str], bool]]
_ANY: Callable[[str], bool] = lambda d: True  # noqa: E731
HOPPER = ("medium-expert", "medium", "medium-replay")

# per experiment: (default datasets, default methods, which given --datasets the group takes)
GROUPS: dict[str, list[Group]] = {
    "table2": [(_names(ENVS, ("medium-expert", "medium", "medium-replay")),
                ("dt", "bc", "mlp-bc", "cql", "iql", "td3bc"), _ANY)],
    "table3": [(_names(ENVS, ("medium", "medium-replay")), ("dt", "pbc10", "pbc25", "pbc40", "bc"), _ANY)],
    "table7": [(_names(("hopper",), HOPPER), ("dt", "cql"), lambda d: not d.endswith(DELAYED_SUFFIX)),
               (_names(("hopper",), HOPPER, DELAYED_SUFFIX), ("dt", "cql", "bc", "pbc10"),
                lambda d: d.endswith(DELAYED_SUFFIX))],
    "fig4": [(_names(ENVS, ("medium-replay",)), ("dt",), _ANY)],
    "context": [(("hopper-medium-replay", "halfcheetah-medium-replay"), ("dt", "dt-k1"), _ANY)],
}


def experiment_cells(cfg: PaperBenchConfig) -> list[tuple[str, str]]:
    """(dataset, method) pairs of cfg.exp, in run order, after --datasets / --methods."""
    out: list[tuple[str, str]] = []
    for datasets, methods, accepts in GROUPS[cfg.exp]:
        ds = [d for d in cfg.datasets if accepts(d)] if cfg.datasets else list(datasets)
        ms = list(cfg.methods) if cfg.methods else list(methods)
        out += [(d, m) for d in ds for m in ms if (d, m) not in out]
    return out
