"""Run settings: `TrainConfig` (an offline `dt train` run) and `FinetuneConfig` (online fine-tuning, `dt finetune`),
frozen dataclasses whose field docstrings become the commands' `--help`. The model's architecture is config.py's.

Paper defaults are the defaults (the official gym code, kzl/decision-transformer `experiment.py`; ODT's paper for
fine-tuning). Every config validates itself in `__post_init__` (`common/checks.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cli_args import POSITIONAL
from .common.checks import check_device_name, check_number, check_types

SAMPLERS = ("window", "episode", "window-end")
"""TrainConfig.sampler's choices (data/sampler.py)."""
ODT_INIT_TEMPERATURE = 0.1
"""ODT's initial entropy temperature (Zheng et al. 2022; checked against the authors' code defaults: docs/beyond.md)."""
ODT_TEMPERATURE_LR = 1e-4
"""ODT's Adam learning rate of the temperature (as above)."""


@dataclass(frozen=True)
class TrainConfig:
    """Training run settings (the model architecture is a separate DTConfig / MLPBCConfig).

    A few fields exist because the paper's experiments need them, and stay here because each is a training concept
    a user sets too, with a `dt train` flag: `top_fraction` (a data subset: %BC), `delayed_rewards` (a reward
    transform: the sparse-reward ablation), `return_balanced` (a sampling weight, for rare successes) and
    `action_loss_weight` / `return_loss_weight` (loss weights, the critic analysis). Everything that only an
    experiment decides (budgets, seeds, evaluation protocols, which cells run) lives in `dt_experiments`.
    """

    dataset: str = "pendulum-mixed"
    """Dataset SRC: a built-in name, a native .npz, minari:ID, a D4RL .hdf5, or a parquet directory."""
    env_id: str = ""
    """Gymnasium id used for evaluation; empty = the one the dataset records."""
    out: str = "runs/dt"
    """Run directory: checkpoints, metrics.jsonl, TensorBoard logs."""
    steps: int = 100_000
    """Total gradient steps."""
    batch_size: int = 64
    """Windows per gradient step."""
    lr: float = 1e-4
    """AdamW learning rate after warmup."""
    weight_decay: float = 1e-4
    """AdamW weight decay (Linear/Conv weights only)."""
    warmup_steps: int = 10_000
    """Linear learning-rate warmup from lr/warmup_steps to lr."""
    lr_decay: str = "none"
    """After warmup: none (constant, the paper's gym code) or cosine (down to lr_min_ratio * lr at the last step,
    as the paper's Atari code decays over the tokens it trains on)."""
    lr_min_ratio: float = 0.1
    """cosine: the final learning rate as a fraction of lr."""
    beta1: float = 0.9
    """AdamW beta1."""
    beta2: float = 0.999
    """AdamW beta2 (the paper's Atari code: 0.95)."""
    grad_clip: float = 0.25
    """Gradient-norm clip."""
    seed: int = 0
    """Seeds the model init, dropout and the window sampler."""
    top_fraction: float = 1.0
    """%BC: train on the highest-return episodes up to this fraction of timesteps (1 = all)."""
    delayed_rewards: bool = False
    """Paper Table 7: move each episode's return onto its last step."""
    reward_scale: float = 0.0
    """Divide rewards and returns-to-go by this before the model (0: the dataset's own, which its file records or
    the documented rule gives: 1000 for MuJoCo envs, else 1; docs/datasets.md). For files that record none and
    name no env (a hand-written .hdf5 or parquet directory), or to try another scale."""
    scale_actions: bool = False
    """Continuous actions: map each dimension's range in the data to [-1, 1] for the model (the tanh action head's
    range) and back for the env (as d3rlpy's MinMaxActionScaler; the bounds are saved in the run). Off: actions as
    they are (the paper's)."""
    sampler: str = "window"
    """Batch source (data/sampler.py): window (K steps from a uniform start, the paper's gym code), episode
    (whole episodes from step 0, the paper's Key-to-Door and graph tasks; every episode must fit in K), or
    window-end (K steps ending at a uniformly drawn step, d3rlpy's DT's convention: for comparing the two)."""
    return_balanced: bool = False
    """episode sampler only: draw a distinct episode return uniformly, then an episode with it (EpisodeSampler)."""
    action_loss_weight: float = 1.0
    """Weight of the action loss (MSE, or cross-entropy for discrete actions)."""
    return_loss_weight: float = 0.0
    """Weight of the critic loss: BCE of the return head against the episode's success (needs predict_return)."""
    init_temperature: float = ODT_INIT_TEMPERATURE
    """stochastic_policy: initial temperature of the entropy term, nll - temperature * entropy (ODT: 0.1). 0: no
    entropy term, the policy is fit by maximum likelihood alone."""
    temperature_lr: float = ODT_TEMPERATURE_LR
    """stochastic_policy: Adam learning rate of the temperature toward the target entropy -act_dim (ODT: 1e-4); 0
    keeps it at init_temperature."""
    log_every: int = 100
    """Steps between metrics.jsonl rows."""
    save_every: int = 1000
    """Steps between checkpoints (one is always written at the end, and before each in-training evaluation)."""
    eval_every: int = 0
    """Steps between in-training evaluations (0 = only if eval_targets are given, at the end)."""
    eval_targets: tuple[float, ...] = ()
    """Target returns for in-training evaluation."""
    eval_episodes: int = 10
    """Episodes per target for in-training evaluation."""
    device: str = "cpu"
    """Torch device."""
    compile: bool = False
    """torch.compile the training forward (pays on a GPU; on the 2-core CPU it did not pay for training, and
    compiling takes a minute)."""
    precision: str = "fp32"
    """fp32, bf16 (autocast) or auto (bf16 on CUDA, or on a CPU with native bf16 where a
    probe measures it faster; else fp32); see precision.py.
    fp32 stays the default until bf16's scores are shown equal (docs/performance.md)."""
    torch_threads: int = 0
    """torch CPU threads while training (0: torch's default, one per core), set by train()/resume() and restored
    after. On a busy machine fewer threads than cores can be much faster: on the shared 2-core dev box a step
    was ~16x slower with 2 threads than with 1."""
    progress: bool = True
    """Show a tqdm progress bar."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"TrainConfig.precision={self.precision!r}; expected fp32, bf16 or auto")
        if self.lr_decay not in ("none", "cosine"):
            raise ValueError(f"TrainConfig.lr_decay={self.lr_decay!r}; expected none or cosine")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"TrainConfig.sampler={self.sampler!r}; expected one of {SAMPLERS}")
        if self.return_balanced and self.sampler != "episode":
            raise ValueError("TrainConfig.return_balanced needs sampler='episode'")
        for name in ("steps", "batch_size", "log_every", "save_every", "warmup_steps", "eval_episodes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be positive")
        for name in ("seed", "eval_every", "torch_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)} must be >= 0")
        check_number(self, "lr", 0.0, low_open=True)
        check_number(self, "weight_decay", 0.0)
        check_number(self, "reward_scale", 0.0)
        check_number(self, "lr_min_ratio", 0.0, 1.0)
        check_number(self, "beta1", 0.0, 1.0, high_open=True)
        check_number(self, "beta2", 0.0, 1.0, high_open=True)
        check_number(self, "grad_clip", 0.0, low_open=True)
        check_number(self, "top_fraction", 0.0, 1.0, low_open=True)
        check_number(self, "action_loss_weight", 0.0)
        check_number(self, "return_loss_weight", 0.0)
        check_number(self, "init_temperature", 0.0)
        check_number(self, "temperature_lr", 0.0)
        if self.action_loss_weight + self.return_loss_weight == 0:
            raise ValueError("TrainConfig.action_loss_weight and return_loss_weight must not both be 0")
        check_number(self, "eval_targets")
        check_device_name(self, "device")


@dataclass(frozen=True)
class FinetuneConfig:
    """Online fine-tuning of a stochastic-policy run (ODT). Defaults: ODT's settings, with the gradient steps,
    batch and warmup scaled down for a CPU (each marked; docs/beyond.md)."""

    run_dir: str = field(default="", metadata=POSITIONAL)
    """The pretrained run (dt train --stochastic-policy), or one of its checkpoint directories."""
    env_id: str = ""
    """Gymnasium id to fine-tune in (default: the run's)."""
    out: str = "runs/odt"
    """Run directory of the fine-tuned model. Rerunning the same command resumes a killed run there."""
    online_steps: int = 10_000
    """Env transitions to collect online (ODT: 200k on MuJoCo, not verified; here the budget is yours)."""
    dataset: str = ""
    """Offline data seeding the replay buffer (default: the run's training data, its train_config.json)."""
    buffer_size: int = 1000
    """Replay buffer size in trajectories (ODT: 1000)."""
    updates_per_rollout: int = 30
    """Gradient steps after each rollout (ODT: 300; scaled 1/10 for a CPU)."""
    batch_size: int = 64
    """Windows per gradient step (ODT: 256; 64 here, the offline trainer's batch)."""
    lr: float = 1e-4
    """LAMB learning rate after warmup (ODT: 1e-4)."""
    weight_decay: float = 5e-4
    """LAMB weight decay, Linear/Conv weights only (ODT: 5e-4)."""
    warmup_steps: int = 1000
    """Linear learning-rate warmup of the fine-tuning optimizer, in gradient steps (ODT: 10^4; scaled 1/10)."""
    grad_clip: float = 0.25
    """Gradient-norm clip (ODT: 0.25, not verified; docs/beyond.md)."""
    init_temperature: float = ODT_INIT_TEMPERATURE
    """Initial entropy temperature (ODT: 0.1). The pretrained run's temperature is not carried over."""
    temperature_lr: float = ODT_TEMPERATURE_LR
    """Adam learning rate of the temperature (ODT: 1e-4)."""
    eval_target: float | None = None
    """Target return of the evaluations (default: the best episode return of the run's data)."""
    online_target: float | None = None
    """Target return of the exploration rollouts (default: twice eval_target, ODT's ratio on every MuJoCo task; an
    eval_target below 0 needs one given, as twice it would be lower)."""
    eval_every: int = 10
    """Rollouts between evaluations (also at step 0 and at the end)."""
    eval_episodes: int = 10
    """Episodes per evaluation (mean actions; the episode seeds are the same every time)."""
    save_every: int = 10
    """Rollouts between checkpoints (also at every evaluation and at the end)."""
    max_episode_steps: int = 0
    """Cut rollouts and evaluation episodes at this many steps (0: the env's own limit)."""
    seed: int = 0
    """Seeds rollout r's env reset and action samples (seed + r), the batches, dropout and evaluation episodes."""
    device: str = "cpu"
    """Torch device."""
    torch_threads: int = 0
    """torch CPU threads (0: torch's default)."""
    progress: bool = True
    """Show a tqdm progress bar over online steps."""

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("online_steps", "buffer_size", "updates_per_rollout", "batch_size", "warmup_steps", "eval_every",
                     "eval_episodes", "save_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FinetuneConfig.{name}={getattr(self, name)} must be positive")
        for name in ("max_episode_steps", "seed", "torch_threads"):
            if getattr(self, name) < 0:
                raise ValueError(f"FinetuneConfig.{name}={getattr(self, name)} must be >= 0")
        for name in ("lr", "grad_clip", "init_temperature", "temperature_lr"):
            check_number(self, name, 0.0, low_open=True)
        check_number(self, "weight_decay", 0.0)
        for name in ("eval_target", "online_target"):
            if getattr(self, name) is not None:  # None: derived (`online.targets`)
                check_number(self, name)
        check_device_name(self, "device")
