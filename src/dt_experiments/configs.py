"""Settings of `dt bench graph`, `dt bench keytodoor` and `dt bench speed`: frozen dataclasses whose field
docstrings are the commands' `--help`. They live apart from their runners (graph.py, keytodoor.py, speed.py), which
import torch, so that building the `dt` parser (`dt --help`, every command's start) never loads torch; the paper
bench's settings are paper/config.py's for the same reason."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from decision_transformer.config import DTConfig
from decision_transformer.run_config import TrainConfig

from .cql import CQLConfig

GRAPH_METHODS = ("dt", "bc", "random")
"""Methods of the graph bench (the paper's Figure 2)."""
KEYTODOOR_METHODS = ("dt", "dt_balanced", "bc", "pbc10", "pbc25", "pbc40", "bc_success", "cql", "random")
"""Methods of the Key-to-Door bench (the paper's Table 6, and the variants docs/results/README.md explains)."""
TOP_FRACTIONS = {"pbc10": 0.10, "pbc25": 0.25, "pbc40": 0.40}
"""%BC's share of the data, by method: the highest-return fraction of the episodes it trains on."""


@dataclass(frozen=True)
class SmallBenchConfig:
    """What the two small discrete benches (`dt bench graph`, `dt bench keytodoor`) share: their seeds and their
    transformer's shape. Context and episode length are each bench's horizon (an argument of `model_config`)."""

    seeds: int = 3
    """Seeds (each with its own data, model init and evaluation episodes)."""
    first_seed: int = 100
    """The seeds run are first_seed, ..., first_seed + seeds - 1; reported seeds must avoid selection_seeds."""
    selection_seeds: tuple[int, ...] = ()
    """Seeds on which settings were chosen by looking at evaluation results (recorded in the JSON)."""
    selection_run: bool = False
    """This run chooses settings: its seeds may be selection seeds, and the JSON says so."""
    embed_dim: int = 64
    """Transformer width."""
    n_layer: int = 1
    """Transformer blocks."""
    n_head: int = 1
    """Attention heads."""
    dropout: float = 0.0
    """Transformer dropout."""
    torch_threads: int = 1
    """torch CPU threads. 1 by default: on a shared 2-core machine, 2 threads made a training step ~16x slower."""

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError(f"{type(self).__name__}.seeds={self.seeds} must be >= 1")
        if self.first_seed < 0:
            raise ValueError(f"{type(self).__name__}.first_seed={self.first_seed} must be >= 0")
        if len(set(self.selection_seeds)) != len(self.selection_seeds):
            raise ValueError(f"{type(self).__name__}.selection_seeds={list(self.selection_seeds)} repeats a seed")
        for name in ("eval_every", "cql_eval_every"):  # KeyToDoorBenchConfig's learning-curve intervals
            if getattr(self, name, 0) < 0:
                raise ValueError(f"{type(self).__name__}.{name}={getattr(self, name)} must be >= 0 (0: only at the end)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_config(self, horizon: int, **fields: Any) -> DTConfig:
        """The bench's discrete-action transformer over whole episodes of `horizon` steps; `fields` (the kind's
        `condition_on_return`, `predict_return`) as DTConfig's."""
        return DTConfig(context_len=horizon, max_ep_len=horizon, embed_dim=self.embed_dim, n_layer=self.n_layer,
                        n_head=self.n_head, dropout=self.dropout, discrete_actions=True, **fields)


@dataclass(frozen=True)
class GraphBenchConfig(SmallBenchConfig):
    """Settings of `dt bench graph`."""

    selection_seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds on which settings were chosen by looking at evaluation results: batch 256 against 64 (recorded in
    the JSON)."""
    num_episodes: int = 5000
    """Random-walk trajectories in the training data."""
    methods: tuple[str, ...] = GRAPH_METHODS
    """Methods to run (any of dt, bc, random)."""
    train: TrainConfig = TrainConfig(sampler="episode", steps=2000, batch_size=256, lr=3e-3, warmup_steps=200,
                                     log_every=100, save_every=500, progress=False)
    """Whole-episode training of DT / BC (seed, out, dataset are set per run). Batch 256 episodes: DT solved 89.3%
    of the pairs with it against 76.8% with 64 (selection seeds 0-2; docs/results/README.md)."""
    runs_dir: str = "runs/bench/graph"
    """Run directories of the trained models; cleared at the start of a run without --resume, resumed (or
    reused when finished) with it."""


@dataclass(frozen=True)
class KeyToDoorBenchConfig(SmallBenchConfig):
    """Settings of `dt bench keytodoor`."""

    selection_seeds: tuple[int, ...] = (0, 1, 2, 10, 11, 12)
    """Seeds on which settings were chosen by looking at evaluation results (recorded in the JSON): batch size,
    learning rate and uniform-sampling DT's setup on 0-2 (earlier sessions), the step counts of dt_balanced,
    bc_success and %BC on 10-12 (docs/results/extra/*_selection.json)."""
    eval_every: int = 0
    """Also evaluate the transformer methods every this many training steps (0: only at the end); the
    learning curves go to `curves[method][data]` in the JSON, one list of [step, success] per seed."""
    data_sizes: tuple[int, ...] = (1000, 10000)
    """Numbers of random trajectories; reported as 1k, 10k."""
    methods: tuple[str, ...] = KEYTODOOR_METHODS
    """Methods to run (any of dt, dt_balanced, bc, pbc10, pbc25, pbc40, bc_success, cql, random)."""
    dropout: float = 0.0
    """Transformer dropout (0: with 0.1, DT on 10K was still on its initial loss plateau after 2000 steps)."""
    train: TrainConfig = TrainConfig(sampler="episode", steps=1500, batch_size=256, lr=1e-3, warmup_steps=200,
                                     log_every=100, save_every=500, progress=False)
    """Training of DT / BC / %BC (seed, out, dataset are set per run). Whole episodes, batch 256: only ~3% of
    random episodes succeed, so a batch of 64 holds about 2 successes; with it DT sat on its initial loss
    plateau (action loss ln 4) for 2000-8000+ steps depending on the seed. lr 1e-3: with 3e-3, seed 1 never
    left that plateau, with 1e-3 all three seeds did (selection seeds 0-2; docs/results/README.md)."""
    balanced_steps: int = 150
    """Training steps of dt_balanced (return-balanced sampling; other settings are `train`'s, so the lr is still
    warming up when it stops). Chosen on seeds 10-12 (docs/results/extra/keytodoor_dt_balanced_selection.json):
    the mean success peaked at 150 steps for both data sizes and fell after."""
    bc_success_steps: int = 100
    """Training steps of bc_success, chosen on seeds 10-12 (docs/results/extra/keytodoor_bc_success_selection.json:
    the mean success peaked at 100 steps on both data sizes, 68.8% / 100%)."""
    pbc_steps: int = 200
    """Training steps of %BC (10/25/40%), chosen on seeds 10-12 (docs/results/extra/keytodoor_pbc_selection.json):
    the mean success over the three fractions and both data sizes, every 50 steps up to 300, was highest at
    200 (15.9%; 250: 15.9%, 100: 14.9%)."""
    cql: CQLConfig = CQLConfig()
    """DiscreteCQL settings (d3rlpy; the seed is the bench seed)."""
    cql_eval_every: int = 0
    """Also evaluate CQL every this many gradient steps (its learning curve in `curves['cql']`; 0: only at the end)."""
    eval_episodes: int = 300
    """Evaluation episodes per method, data and seed."""
    eval_temperature: float = 0.0
    """Transformer methods: 0 acts by argmax; > 0 samples from the softmax at this temperature (the paper's
    Atari code samples, at 1)."""
    critic: bool = True
    """Also run the critic analysis (plots) on the largest data size."""
    critic_steps: int = 3000
    """Training steps of the critic."""
    critic_lr: float = 3e-3
    """Learning rate of the critic (its other optimiser settings are `train`'s). The return loss has no
    plateau like the action loss, and with 1e-3 the critic was still less sharp after its 3000 steps
    (P(success) at the end of successful episodes 0.21 vs 0.62 with 3e-3; docs/results/README.md)."""
    runs_dir: str = "runs/bench/keytodoor"
    """Run directories of every trained model (checkpoints, metrics.jsonl, TensorBoard); cleared at the start
    of a run without --resume."""

    def steps_of(self, method: str) -> int:
        return {"dt_balanced": self.balanced_steps, "bc_success": self.bc_success_steps,
                **{m: self.pbc_steps for m in TOP_FRACTIONS}}.get(method, self.train.steps)



@dataclass(frozen=True)
class SpeedConfig:
    """Sizes of the speed benchmark."""

    repeats: int = 30
    """Timed repetitions of each training step / action (interleaved between contenders; medians)."""
    precision: str = "auto"
    """Our precision for train_vs_hf: fp32, bf16 or auto (precision.py: bf16 on CUDA, or on a CPU
    with native bf16 where a probe measures it faster)."""
    eval_env: str = "Hopper-v5"
    """Environment of the evaluation comparison."""
    eval_episodes: int = 50
    """Episodes in the evaluation comparison (the same seeds for both loops)."""
    eval_max_steps: int = 1000
    """Episode length cap in the evaluation comparison."""
    dataset_steps: int = 2_000_000
    """Steps of the synthetic Hopper-shaped dataset whose loading memory is measured (0: skip)."""
    device: str = "cpu"
    """Torch device of every contender (cuda for the GPU check, docs/performance.md)."""
    out: str = "docs/results/speed.json"
    """Where to write the JSON report."""

    def __post_init__(self) -> None:
        for name in ("repeats", "eval_episodes", "eval_max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"SpeedConfig.{name}={getattr(self, name)} must be >= 1")
        if self.dataset_steps < 0:
            raise ValueError(f"SpeedConfig.dataset_steps={self.dataset_steps} must be >= 0 (0: skip)")
