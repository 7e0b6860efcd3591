"""Settings of `dt bench paper`: the protocols (budgets) and the run configuration. The experiments, methods and
which cells each experiment has are names.py's.

Protocol `full` is the paper's (Chen et al. 2021, gym code `experiment.py` defaults): 100k gradient steps, batch
64, lr 1e-4, 10k warmup steps, 100 evaluation episodes per target, the last evaluation (never the best), 3 seeds.
Protocol `cpu` is a smaller budget for a 2-core CPU, chosen by the protocol check of 2026-11-30
(scripts/paper_protocol_check.sh, selection seed 1000, bf16 training; docs/results/README.md, "The paper's gym
experiments: the cpu protocol"): on hopper-medium DT's 10k-step score (2955) is within a few points of the same run
at 30k (2962); on hopper-medium-replay the 10k score (827) lies in the band the curve keeps between 20k and 30k
(824-1084, 10-episode evaluations). IQL, then the only TD baseline run, still rose at 60k steps on medium-replay
(343 at 20k, 644 at 60k), so the d3rlpy baselines get 100k steps, about DT's cost. Each method that was the
strongest baseline when its cells came in is checked at 3x (docs/results/README.md, protocol section): MLP-BC (10k
against 30k, 2026-12-01) and TD3+BC (100k against 300k, 2026-12-02, the strongest on medium-replay since then).
Precision is part of a protocol like its budget (cpu: bf16), so a cell's spec is fixed by the protocol alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from decision_transformer.cli_args import inline
from decision_transformer.common.checks import check_number
from decision_transformer.config import DTConfig
from decision_transformer.run_config import TrainConfig

from .names import EXPERIMENTS, FIG4_EXPERIMENTS, METHODS, PROTOCOLS, TRAINING_PROTOCOL, env_of, is_atari
from .baselines import BEARSettings, CQLSettings, DiscreteCQLSettings, IQLSettings, TD3BCSettings
from .peer_dt import D3rlpyDiscreteDTSettings, D3rlpyDTSettings

PAPER_TRAIN = TrainConfig(save_every=5000)
"""The paper's gym training (TrainConfig's defaults are the paper's: 100k steps, batch 64, lr 1e-4, 10k warmup,
AdamW weight decay 1e-4, grad clip 0.25), checkpointed every 5,000 steps."""
ATARI_TRAIN = TrainConfig(steps=20_000, batch_size=128, lr=6e-4, warmup_steps=512, lr_decay="cosine",
                          lr_min_ratio=0.1, beta2=0.95, weight_decay=0.1, grad_clip=1.0, save_every=1000)
"""The paper's Atari training (its code: 5 epochs over 500k steps at batch 128, about 20k steps; warmup over
512 * 20 tokens, about 512 windows; cosine decay to 10% of lr, over steps here rather than tokens; AdamW beta2 0.95,
weight decay 0.1 on weight matrices, grad clip 1.0)."""
ATARI_MODEL = DTConfig(n_layer=6, n_head=8, embed_dim=128, context_len=30, activation="gelu", position_embedding=True,
                       max_ep_len=27_000, discrete_actions=True)
"""The paper's Atari transformer (minGPT: 6 blocks, 8 heads, width 128, GELU, a per-token position embedding besides
the timestep embedding), K = 30; max_ep_len 27,000 agent steps (a 108k-frame episode at frame skip 4)."""


@dataclass(frozen=True)
class ProtocolConfig:
    """A training and evaluation budget (the same for every method of an experiment)."""

    train: TrainConfig = field(default=PAPER_TRAIN, metadata=inline("steps", "batch_size", "lr", "warmup_steps",
                                                                     "save_every", "eval_every", "precision"))
    """The transformers' training (DT, BC, MLP-BC, %BC; d3rlpy-dt takes its steps, batch, lr and warmup). Its
    steps, batch size, lr, warmup, checkpoint interval (a killed cell continues from there; the d3rlpy baselines'
    too), in-training evaluation interval (learning curves; the baselines evaluate between training chunks; 0: only
    at the end) and precision (the d3rlpy methods train in fp32) are options; each cell sets the rest (seed, %BC
    fraction, delayed rewards, device, output)."""
    eval_episodes: int = 100
    """Evaluation episodes per target return (every method: the same seeds and count)."""
    seeds: int = 3
    """Seeds per transformer cell."""
    baseline_steps: int = 500_000
    """Gradient steps of the d3rlpy baselines (d3rlpy's reproduction scripts run 500k)."""
    baseline_seeds: int = 3
    """Seeds per baseline cell (the first this many of the run's seeds)."""

    def __post_init__(self) -> None:
        for name in ("eval_episodes", "seeds", "baseline_steps", "baseline_seeds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ProtocolConfig.{name}={getattr(self, name)} must be positive")


@dataclass(frozen=True)
class AtariProtocol:
    """The Atari experiments' budget and model (pixels: a CNN per frame stack, discrete actions, sampled acting)."""

    train: TrainConfig = field(default=ATARI_TRAIN, metadata=inline(
        "steps", "batch_size", "lr", "warmup_steps", "lr_decay", "lr_min_ratio", "beta2", "weight_decay", "grad_clip",
        "save_every", "precision"))
    """The transformers' training (DT, BC, %BC; the checkpoint interval is also CQL's): ATARI_TRAIN."""
    model: DTConfig = field(default=ATARI_MODEL, metadata=inline("n_layer", "n_head", "embed_dim", "context_len",
                                                                  "position_embedding"))
    """The transformer (ATARI_MODEL); its context_len is K for Breakout, Qbert and Seaquest."""
    pong_context_len: int = 50
    """K for Pong."""
    temperature: float = 1.0
    """Evaluation samples actions from the softmax at this temperature (the original's default; 0: argmax)."""
    eval_episodes: int = 10
    """Evaluation episodes per target (the paper: 10)."""
    max_episode_steps: int = 0
    """Cap evaluation episodes at this many agent steps (0: the env's 108k-frame cap)."""
    seeds: int = 3
    """Seeds per cell."""
    baseline_steps: int = 12_500_000
    """Gradient steps of CQL (d3rlpy's DiscreteCQL; its reproduction script runs 50M / 4 = 12.5M)."""

    def __post_init__(self) -> None:
        for name in ("eval_episodes", "seeds", "pong_context_len", "baseline_steps"):
            if getattr(self, name) <= 0:
                raise ValueError(f"AtariProtocol.{name}={getattr(self, name)} must be positive")

    def context_for(self, dataset: str) -> int:
        return self.pong_context_len if env_of(dataset) == "pong" else self.model.context_len


@dataclass(frozen=True)
class BeyondSettings:
    """The `beyond` experiment's own settings (recorded in its dt-auto(-stochastic) and odt runs' specs only, so no other cell's
    spec changes). ODT's online phase (Zheng et al. 2022; the values' sources: docs/beyond.md): 200k online env
    steps on MuJoCo (not verified against the paper), 300 gradient steps per rollout at batch 256, warmup 10^4. The
    cpu protocol scales it to 20,000 online steps (1/10) and 30 updates per rollout at batch 64 (`dt finetune`'s
    defaults); the full protocol runs ODT's numbers."""

    online_steps: int = 20_000
    """cpu protocol: online env steps of each odt run (ODT: 200k, `full_online_steps`)."""
    full_online_steps: int = 200_000
    """full protocol: online env steps (ODT's MuJoCo budget)."""
    updates_per_rollout: int = 30
    """cpu protocol: gradient steps after each rollout (ODT: 300, the full protocol's)."""
    batch_size: int = 64
    """cpu protocol: windows per online gradient step (ODT: 256, the full protocol's)."""
    warmup_steps: int = 1000
    """cpu protocol: LAMB warmup in gradient steps (ODT: 10^4, the full protocol's)."""
    eval_every: int = 10
    """Rollouts between the evaluations of the fine-tuning curve (also at step 0 and at the end)."""
    return_expectile: float = 0.99
    """dt-auto, dt-auto-stochastic: the return head's expectile (Reinformer's code default; docs/beyond.md)."""
    fig4_range: tuple[float, ...] = (-0.1, 2.0)
    """beyond-fig4: Figure 4's sweep (its number of targets), from worst + lo * (best - worst) to worst + hi * (best -
    worst) of the data's episode returns: to twice the data's best, where Figure 4 stops at 1.3 times."""

    def __post_init__(self) -> None:
        for name in ("online_steps", "full_online_steps", "updates_per_rollout", "batch_size", "warmup_steps",
                     "eval_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"BeyondSettings.{name}={getattr(self, name)} must be positive")
        if len(self.fig4_range) != 2 or self.fig4_range[0] >= self.fig4_range[1]:
            raise ValueError(f"BeyondSettings.fig4_range={self.fig4_range}; expected two increasing values (lo, hi)")

    def online(self, protocol: str) -> dict[str, int]:
        """The online phase's budget under `protocol` (FinetuneConfig fields)."""
        if protocol == "full":
            return {"online_steps": self.full_online_steps, "updates_per_rollout": 300, "batch_size": 256,
                    "warmup_steps": 10_000, "eval_every": self.eval_every}
        return {"online_steps": self.online_steps, "updates_per_rollout": self.updates_per_rollout,
                "batch_size": self.batch_size, "warmup_steps": self.warmup_steps, "eval_every": self.eval_every}


FULL = ProtocolConfig()
ATARI_FULL = AtariProtocol()
CPU = ProtocolConfig(train=dataclasses.replace(PAPER_TRAIN, steps=10_000, warmup_steps=500, save_every=2500,
                                               precision="bf16"),
                     eval_episodes=10, seeds=3, baseline_steps=100_000, baseline_seeds=3)


@dataclass(frozen=True)
class PaperBenchConfig:
    """Settings of `dt bench paper` (the cells of one experiment; finished cells are skipped, killed ones resume)."""

    exp: str = "table2"
    """Experiment: table2, table3, table7, fig4, context, paper-targets (DT at the paper's own targets) or
    chosen-target (at a target chosen on unreported episodes); atari-table1, atari-table4, atari-table5, atari-fig4
    or atari-beyond (dt-auto on Breakout); beyond (dt, dt-auto, dt-stochastic, odt on the gym medium-replay sets)
    or beyond-fig4 (targets to twice the data's best): docs/beyond.md."""
    protocol: str = "cpu"
    """full (the paper's budget: 100k steps, 100 episodes per target, 3 seeds), cpu (the `cpu` settings), or cpu-v2
    (cpu's training runs, evaluated with v2_eval_episodes episodes per target: cells started after 2026-12-06)."""
    cpu: ProtocolConfig = CPU
    """The cpu protocol's budget (module docstring): 10k steps (500 warmup), 10 episodes per target, 100k
    baseline steps, 3 seeds each."""
    atari_cpu: AtariProtocol = AtariProtocol(
        train=dataclasses.replace(ATARI_TRAIN, steps=2000, batch_size=16, warmup_steps=200, save_every=500,
                                  precision="bf16"),
        model=dataclasses.replace(ATARI_MODEL, n_layer=3, n_head=4, context_len=10), pong_context_len=15,
        eval_episodes=5, max_episode_steps=5000, baseline_steps=2000)
    """The Atari experiments' cpu protocol: a smaller model, K and budget, episodes capped at 5,000 agent steps
    (`full`, ATARI_FULL, is the paper's Atari configuration)."""
    v2_eval_episodes: int = 100
    """cpu-v2: evaluation episodes per target of the gym cells but Figure 4's (the paper's 100; cpu's 10). Measured on
    the cpu cells: 10 episodes at two targets took 1-11 s against 90-6,100 s of training, so 100 stay under a tenth
    of it; Figure 4's twelve targets (up to 266 s at 10) and the Atari cells (11-95 s at 5, against 270-1,300 s)
    keep cpu's counts."""
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
    """Methods among dt, bc, mlp-bc, pbc10, pbc25, pbc40, dt-k1, dt-official-init, dt-end-windows, dt-tanh-embed,
    cql, iql, td3bc, bear, d3rlpy-dt, d3rlpy-dt-gpt2-init, dt-auto, dt-auto-stochastic, dt-auto-normalized,
    dt-stochastic, dt-nll, dt-nll-unit-scale, odt, odt-paper-targets, dt-sra (empty: the experiment's)."""
    target_scales: tuple[float, ...] = (1.0, 0.5)
    """DT's targets: worst + s * (best - worst) of the dataset's episode returns, for each s. The paper used a high
    and a half target per env (Hopper 3600 / 1800); with returns from ~0 this is the data's best and half of it,
    and it stays meaningful for Reacher's negative returns. The score is at the first (best) target."""
    chosen_scales: tuple[float, ...] = (1.0, 1.5, 2.0)
    """chosen-target: candidate targets as target_scales (1: the data's best), beside the paper's gym target; a cell
    keeps the one with the best mean return on its selection episodes (evaluation seed + 500,000, common/seeding.py)
    and reports that one on its evaluation episodes."""
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
    d3rlpy_dt: D3rlpyDTSettings = D3rlpyDTSettings()
    """d3rlpy's Decision Transformer (method d3rlpy-dt): what its reproduction script sets beyond the budget and
    the model shape, which are our DT's."""
    d3rlpy_discrete_dt: D3rlpyDiscreteDTSettings = D3rlpyDiscreteDTSettings()
    """d3rlpy-dt on the Atari datasets (d3rlpy's DiscreteDecisionTransformer): its reproduction script's settings
    beyond the budget and the model shape, which are our Atari DT's."""
    atari_cql: DiscreteCQLSettings = DiscreteCQLSettings()
    """CQL on the Atari datasets (d3rlpy's DiscreteCQL) settings."""
    beyond: BeyondSettings = BeyondSettings()
    """The beyond experiment's online budget and return head (BeyondSettings: cpu 20,000 online steps, full ODT's 200k)."""
    root: str = "runs/paper"
    """Cells live in ROOT/PROTOCOL/EXP/DATASET/METHOD/seedK/result.json, training runs in ROOT/PROTOCOL/train/."""
    archive: str = "docs/results/cells"
    """Committed copies of finished cells, same layout as ROOT (`dt bench report` writes them): a cell found there
    with this run's spec counts as finished, so a fresh clone does not rerun it ('': no archive)."""
    data_steps: int = 0
    """Shrink every suite dataset to about this many steps, regenerated in memory (tests; 0: the real data)."""
    max_episode_steps: int = 0
    """Cap evaluation episodes at this many steps (tests; 0: the environment's limit)."""
    jobs: int = 1
    """Run the unfinished cells as `dt sweep` jobs, this many at once (1: in this process, one after another)."""
    backend: str = "local"
    """With --jobs: local (the jobs are subprocesses of this process) or ray (each job a Ray task on the cluster at
    --ray-address, reserving --torch-threads CPUs; --root on storage every node sees; docs/sweep.md)."""
    ray_address: str = ""
    """--backend ray: the cluster's head, HOST:PORT (empty: Ray's default: RAY_ADDRESS, a cluster started on this
    machine, else a new one-machine cluster)."""
    status: bool = False
    """Print where each cell of the experiment stands (finished, training at step N of M saved, not started, ...)
    and exit: trains and evaluates nothing. Give the options the cells run with (e.g. --precision): they are part
    of each cell's spec."""
    device: str = "cpu"
    """Training device of every method (cpu, cuda, cuda:N; the d3rlpy baselines too); evaluation acts on the CPU."""
    precision: str = ""
    """Training precision of the transformer methods, overriding the protocol's (empty: the protocol's, which is
    part of it like its budget: bf16 for cpu, fp32 for full): fp32, bf16 (autocast) or auto (bf16 on CUDA, or
    where the CPU has native bf16 and a probe measures it faster; precision.py). Evaluation acts in fp32. Part of
    each run's identity (train_spec.json) as resolved on the machine: auto is recorded as fp32 or bf16."""
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
        if self.precision not in ("", "fp32", "bf16", "auto"):
            raise ValueError(f"PaperBenchConfig.precision={self.precision!r}; expected fp32, bf16, auto or '' (the "
                             "protocol's)")
        if self.jobs < 1:
            raise ValueError(f"PaperBenchConfig.jobs={self.jobs} must be >= 1 (1: the cells one after another in "
                             "this process)")
        if self.protocol == "full":  # its budget is fixed (FULL, ATARI_FULL): a --cpu.* option would do nothing
            defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in ("cpu", "atari_cpu")}
            changed = [name for name, value in defaults.items() if getattr(self, name) != value]
            if changed:
                raise ValueError(f"PaperBenchConfig.{changed[0]} is set (--{changed[0]}.* options), but "
                                 "--protocol full runs its own fixed budget; drop those options, or use --protocol "
                                 "cpu for a budget of your own")
        if self.v2_eval_episodes <= 0:
            raise ValueError(f"PaperBenchConfig.v2_eval_episodes={self.v2_eval_episodes} must be positive")
        for name in ("seeds", "first_seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"PaperBenchConfig.{name}={getattr(self, name)} must be >= 0"
                                 + (" (0: the protocol's)" if name == "seeds" else ""))
        if len(self.fig4_range) != 2 or self.fig4_targets < 10 and not self.quick:
            raise ValueError("fig4 needs two fig4_range values and at least 10 fig4_targets")
        for name in ("target_scales", "chosen_scales"):
            check_number(self, name)
            if not getattr(self, name):
                raise ValueError(f"PaperBenchConfig.{name} is empty; expected one or more scales")

    @property
    def training_protocol(self) -> str:
        """The protocol whose training runs this one evaluates (itself, or cpu for cpu-v2)."""
        return TRAINING_PROTOCOL.get(self.protocol, self.protocol)

    @property
    def budget(self) -> ProtocolConfig:
        return FULL if self.protocol == "full" else self.cpu

    @property
    def atari(self) -> AtariProtocol:
        return ATARI_FULL if self.protocol == "full" else self.atari_cpu

    def budget_for(self, dataset: str) -> ProtocolConfig | AtariProtocol:
        """The protocol a dataset's cells run under (Atari datasets: `atari`)."""
        return self.atari if is_atari(dataset) else self.budget

    def eval_episodes_for(self, exp: str, dataset: str) -> int:
        """Evaluation episodes per target of a cell: the protocol's, or cpu-v2's count (v2_eval_episodes)."""
        if self.protocol == "cpu-v2" and not is_atari(dataset) and exp not in FIG4_EXPERIMENTS:
            return self.v2_eval_episodes
        return self.budget_for(dataset).eval_episodes

    def context_for(self, dataset: str) -> int:
        """K of the transformers (every DT variant, BC, %BC) on a dataset: the paper's (20; Reacher's
        reacher_context_len; on Atari the Atari protocol's, Pong's own)."""
        if is_atari(dataset):
            return self.atari.context_for(dataset)
        return self.reacher_context_len if env_of(dataset) == "reacher" else DTConfig().context_len

    def precision_for(self, dataset: str) -> str:
        """The transformers' training precision for a dataset's cells: --precision, else the protocol's."""
        return self.precision or self.budget_for(dataset).train.precision

    def seed_list(self, baseline: bool = False, dataset: str = "") -> list[int]:
        budget = self.budget_for(dataset)
        n = self.seeds or budget.seeds
        if baseline:
            n = min(n, self.budget.baseline_seeds)
        return list(range(self.first_seed, self.first_seed + n))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


QUICK = PaperBenchConfig(
    cpu=ProtocolConfig(train=dataclasses.replace(PAPER_TRAIN, steps=20, batch_size=8, warmup_steps=5, save_every=10),
                       eval_episodes=2, seeds=2, baseline_steps=20, baseline_seeds=1),
    atari_cpu=AtariProtocol(train=dataclasses.replace(ATARI_TRAIN, steps=6, batch_size=2, warmup_steps=2, save_every=3),
                            model=dataclasses.replace(ATARI_MODEL, n_layer=1, n_head=1, embed_dim=16, context_len=3),
                            pong_context_len=3, eval_episodes=2, max_episode_steps=30, seeds=1, baseline_steps=4),
    beyond=BeyondSettings(online_steps=60, updates_per_rollout=2, batch_size=4, warmup_steps=2, eval_every=2),
    selection_seeds=(), fig4_targets=6, data_steps=1500, max_episode_steps=40, archive="", quick=True,
)
