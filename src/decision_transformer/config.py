"""Configuration: frozen dataclasses whose field docstrings become `dt ... --help` (the model, and training).

Paper defaults are the defaults (the official gym code, kzl/decision-transformer `experiment.py`).
Derived values (state_dim, act_dim) are constructor arguments of the model, never config fields.

The model kind is a function of the config, never stated twice: an `MLPBCConfig` is 'mlp-bc', a
`DTConfig` with `condition_on_return=False` is 'bc' (the paper's BC: the same transformer without
return tokens), any other `DTConfig` is 'dt'. `model_config(kind, **fields)` builds the default
config of a kind and refuses fields that do not apply to it.

Every config validates itself in `__post_init__`, so the Python API is as protected as the command line:
the helpers are `common/checks.py`'s (`check_types`, `check_number`), also used by the commands' own option
dataclasses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .cli_args import DERIVED, POSITIONAL
from .common.checks import check_device_name, check_number, check_types

SUPPORTED_ACTIVATIONS = ("relu", "gelu", "gelu_new")
SAMPLERS = ("window", "episode", "window-end")
MODEL_KINDS = ("dt", "bc", "mlp-bc")
RETURN_HEADS = ("none", "expectile")
INITS = ("gpt2", "official")
ODT_INIT_TEMPERATURE = 0.1
"""ODT's initial entropy temperature (Zheng et al. 2022; checked against the authors' code defaults: docs/beyond.md)."""
ODT_TEMPERATURE_LR = 1e-4
"""ODT's Adam learning rate of the temperature (as above)."""


@dataclass(frozen=True)
class DTConfig:
    """Decision Transformer architecture. `DTConfig()` is the paper's gym setting."""

    context_len: int = 20
    """K: number of timesteps (each 3 tokens R, s, a) the model sees."""
    embed_dim: int = 128
    """Width of every token embedding and of the transformer."""
    n_layer: int = 3
    """Number of transformer blocks."""
    n_head: int = 1
    """Attention heads per block (embed_dim must divide by it)."""
    mlp_ratio: int = 4
    """Hidden width of the block MLP, as a multiple of embed_dim."""
    activation: str = "relu"
    """MLP activation: relu (paper), gelu or gelu_new (tanh approximation, as GPT-2)."""
    dropout: float = 0.1
    """Dropout on embeddings, attention weights and residual branches."""
    max_ep_len: int = 1000
    """Size of the learned timestep embedding; timesteps are clipped to max_ep_len - 1."""
    discrete_actions: bool = field(default=False, metadata=DERIVED)
    """Actions are integers: nn.Embedding in, logits out, cross-entropy loss."""
    action_tanh: bool = True
    """Continuous actions only: squash the action head with tanh."""
    condition_on_return: bool = field(default=True, metadata=DERIVED)
    """False gives the paper's BC baseline: the same transformer with no return tokens."""
    predict_state: bool = field(default=False, metadata=DERIVED)
    """Add a head predicting s_{t+1} from the a_t token (kept for Hugging Face checkpoints)."""
    predict_return: bool = field(default=False, metadata=DERIVED)
    """Add a head predicting the return from the a_t token (critic analysis; HF checkpoints)."""
    attention_window: int = 0
    """0: causal attention over the whole context (the paper). W > 0: banded attention, each token sees only the
    tokens of its own and the previous W - 1 timesteps, in training and acting; acting then runs incrementally
    with a key/value cache (incremental.py), exact for the whole episode at one token's work per layer. Train
    with context_len > W (e.g. 2W) so that tokens see full bands in training as they do when acting."""
    position_embedding: bool = False
    """Also add a learned embedding of each token's position in the window, as the paper's Atari code does
    (`pos_emb`, besides its per-episode timestep embedding). Positions count from the window's first real step
    (0 = its R token), so left padding stays invisible, as in the original, whose contexts start unpadded at
    position 0. Not with attention_window (a sliding band has no window start)."""
    return_head: str = "none"
    """none, or expectile: a return head that learns the highest return-to-go the data supports from the current
    history, so that `dt eval --targets auto` acts without a target (Reinformer, Zhuang et al. 2024). The tokens of
    a step are then s, R, a: the return is predicted at the s token, the action read at the R token (docs/beyond.md).
    Not with condition_on_return=False (BC has no return token) nor attention_window (incremental acting assumes
    R, s, a)."""
    return_expectile: float = 0.99
    """return_head=expectile: the expectile m in (0, 1) of the return loss |m - 1(u < 0)| u^2, u = R - R_pred. 0.5
    gives the mean; near 1, the largest return seen after similar histories. 0.99: the default of Reinformer's code
    (Zhuang et al. 2024; its paper's per-dataset table not verified: docs/beyond.md)."""
    return_head_weight: float = 1.0
    """return_head=expectile: weight of the expectile loss, added to the action loss (1: Reinformer's objective is
    their unweighted sum)."""
    stochastic_policy: bool = False
    """Continuous actions only: a tanh-squashed Gaussian policy (Online Decision Transformer, Zheng et al. 2022,
    Sec. 3) whose head gives a mean and a bounded log-std, trained by negative log-likelihood minus temperature *
    entropy, the temperature learned toward a target entropy of -act_dim (objective.py). `dt eval` acts with its
    mean (tanh of the Gaussian's mean), `dt finetune` rollouts with samples. `dt finetune` needs it."""
    log_std_min: float = -5.0
    """stochastic_policy: lower bound of the policy's log standard deviation (SAC-style bounds [-5, 2])."""
    log_std_max: float = 2.0
    """stochastic_policy: upper bound of the policy's log standard deviation."""
    init: str = "gpt2"
    """Weight initialisation. gpt2: N(0, 0.02) for every linear and embedding layer (GPT-2's, as Hugging Face's
    DecisionTransformerModel applies it to the whole model). official: GPT-2's inside the transformer blocks only,
    PyTorch's defaults for the token and timestep embeddings and the prediction heads, as the paper's gym code
    (kzl/decision-transformer, whose DecisionTransformer never re-initialises the layers it adds around GPT2Model)
    and d3rlpy's DT leave them."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.init not in INITS:
            raise ValueError(f"DTConfig.init={self.init!r}; expected one of {INITS}")
        _check_positive(self, "context_len", "embed_dim", "n_layer", "n_head", "mlp_ratio", "max_ep_len")
        if self.embed_dim % self.n_head:
            raise ValueError(f"DTConfig.embed_dim={self.embed_dim} must be divisible by n_head={self.n_head}")
        if self.activation not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"DTConfig.activation={self.activation!r} is not supported; expected one of {SUPPORTED_ACTIVATIONS}"
            )
        check_number(self, "dropout", 0.0, 1.0, high_open=True)
        if self.attention_window < 0:
            raise ValueError(f"DTConfig.attention_window={self.attention_window!r} must be an integer >= 0")
        if self.position_embedding and self.attention_window:
            raise ValueError("DTConfig.position_embedding needs full-window attention (attention_window=0): "
                             "incremental banded acting has no window start to count positions from")
        if self.return_head not in RETURN_HEADS:
            raise ValueError(f"DTConfig.return_head={self.return_head!r}; expected one of {RETURN_HEADS}")
        check_number(self, "return_expectile", 0.0, 1.0, low_open=True, high_open=True)
        check_number(self, "return_head_weight", 0.0, low_open=True)
        if self.return_head != "none" and not self.condition_on_return:
            raise ValueError(f"DTConfig.return_head={self.return_head!r} needs return tokens; the BC model "
                             "(condition_on_return=False) has none")
        if self.return_head != "none" and self.attention_window:
            raise ValueError(f"DTConfig.return_head={self.return_head!r} is not supported with attention_window "
                             "(incremental acting assumes the token order R, s, a)")
        check_number(self, "log_std_min")
        check_number(self, "log_std_max")
        if self.stochastic_policy:
            if self.discrete_actions:
                raise ValueError("DTConfig.stochastic_policy is a tanh-Gaussian over continuous actions; discrete "
                                 "actions have their softmax already")
            if not self.action_tanh:
                raise ValueError("DTConfig.stochastic_policy squashes its actions with tanh; action_tanh must be true")
            if not self.log_std_min < self.log_std_max:
                raise ValueError(f"DTConfig.log_std_min={self.log_std_min} must be below log_std_max={self.log_std_max}")

    @property
    def tokens_per_step(self) -> int:
        return 3 if self.condition_on_return else 2

    @property
    def return_first(self) -> bool:
        """The tokens of a step are R, s, a (the paper), not s, R, a (with a return head, as Reinformer)."""
        return self.condition_on_return and self.return_head == "none"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "DTConfig":
        return _from_dict(cls, d, source)


@dataclass(frozen=True)
class MLPBCConfig:
    """The MLP behaviour cloning baseline of the paper's gym code: last K states in, last action out."""

    context_len: int = 20
    """K: number of past states concatenated as input."""
    hidden_dim: int = 128
    """Width of each hidden layer."""
    n_layer: int = 3
    """Number of hidden layers."""
    dropout: float = 0.1
    """Dropout after each hidden layer."""
    max_ep_len: int = 1000
    """Timesteps are clipped to max_ep_len - 1 (kept for a uniform data pipeline; the MLP ignores them)."""
    discrete_actions: bool = field(default=False, metadata=DERIVED)
    """Actions are integers: the head gives logits."""

    def __post_init__(self) -> None:
        check_types(self)
        _check_positive(self, "context_len", "hidden_dim", "n_layer", "max_ep_len")
        check_number(self, "dropout", 0.0, 1.0, high_open=True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "MLPBCConfig":
        return _from_dict(cls, d, source)


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


ModelConfig = DTConfig | MLPBCConfig


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
    eval_target: float = 0.0
    """Target return of the evaluations (0: the best episode return of the run's data)."""
    online_target: float = 0.0
    """Target return of the exploration rollouts (0: twice eval_target, ODT's ratio on every MuJoCo task)."""
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
        check_number(self, "eval_target")
        check_number(self, "online_target")
        check_device_name(self, "device")


def model_kind(config: ModelConfig) -> str:
    """'dt', 'bc' or 'mlp-bc', read off the config (see the module docstring)."""
    if isinstance(config, MLPBCConfig):
        return "mlp-bc"
    if isinstance(config, DTConfig):
        return "dt" if config.condition_on_return else "bc"
    raise TypeError(f"expected a DTConfig or MLPBCConfig, got {type(config).__name__}")


def model_config(kind: str, **fields: Any) -> ModelConfig:
    """The paper's architecture for a model kind, with `fields` overriding its defaults.

    A field the kind's config does not have is an error (e.g. `n_head` for 'mlp-bc', whose width is
    `hidden_dim`), and so is `condition_on_return`, which the kind decides."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"model kind {kind!r} is unknown; expected one of {MODEL_KINDS}")
    cls = MLPBCConfig if kind == "mlp-bc" else DTConfig
    known = {f.name for f in dataclasses.fields(cls)} - {"condition_on_return"}
    wrong = sorted(set(fields) - known)
    if wrong:
        raise ValueError(f"model kind {kind!r}: field(s) {wrong} do not apply; {cls.__name__} takes {sorted(known)}")
    if kind == "bc":
        fields["condition_on_return"] = False
    return cls(**fields)


def _check_positive(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{type(cfg).__name__}.{name}={value!r} must be a positive integer")


def _from_dict(cls: type, d: dict[str, Any], source: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(d, dict):
        raise ValueError(f"{source}: expected an object of {cls.__name__} fields, got {type(d).__name__}")
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{source}: unknown {cls.__name__} fields {unknown}; expected a subset of {sorted(known)}")
    try:
        return cls(**d)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
