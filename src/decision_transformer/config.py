"""The model's configuration: frozen dataclasses whose field docstrings become `dt train --help`'s model options.
The run settings (training, fine-tuning) are run_config.py's.

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

from .cli_args import DERIVED
from .common.checks import check_number, check_positive_ints, check_types, config_from_dict

SUPPORTED_ACTIVATIONS = ("relu", "gelu", "gelu_new")
MODEL_KINDS = ("dt", "bc", "mlp-bc")
RETURN_HEADS = ("none", "expectile")
INITS = ("gpt2", "official")
EMBED_NORMS = ("layernorm", "tanh")


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
    their unweighted sum). 0: the head is not trained, an ablation that keeps the s, R, a order alone (such a run acts
    at given targets only: `--targets auto` refuses it)."""
    return_loss_normalized: bool = False
    """return_head=expectile: divide u by the batch's mean |R| over real steps before the loss, as Reinformer's code
    does (docs/beyond.md), which frees the loss from the return's scale. Off by default: on the gym sets returns enter
    divided by reward_scale and the plain loss is of the action loss's size. Needed where returns enter unscaled: on
    breakout-mixed (returns 0-92) the plain loss started near 500 against the action loss's 1.4 and, through gradient
    clipping at 1, starved the policy (docs/beyond.md, 2026-12-07)."""
    stochastic_policy: bool = False
    """Continuous actions only: a tanh-squashed Gaussian policy (Online Decision Transformer, Zheng et al. 2022,
    Sec. 3) whose head gives a mean and a bounded log-std, trained by negative log-likelihood minus temperature *
    entropy, the temperature learned toward a target entropy of -act_dim (objective.py). `dt eval` acts with its
    mean (tanh of the Gaussian's mean), `dt finetune` rollouts with samples. `dt finetune` needs it."""
    log_std_min: float = -5.0
    """stochastic_policy: lower bound of the policy's log standard deviation (SAC-style bounds [-5, 2])."""
    log_std_max: float = 2.0
    """stochastic_policy: upper bound of the policy's log standard deviation."""
    embed_norm: str = "layernorm"
    """How token embeddings are conditioned before the blocks. layernorm: each token's embedding plus the timestep
    (and position) embedding, LayerNorm-ed (`embed_ln`), as the paper's gym code and Hugging Face's model. tanh: each
    token's embedding (return, state, action) passes through tanh before the timestep (and position) embedding is
    added, and there is no LayerNorm, as the paper's Atari code (kzl/decision-transformer atari/mingpt/model_atari.py:
    ret_emb, state_encoder and action_embeddings each end in a Tanh). On Atari's unscaled returns-to-go (0-92 on
    breakout-mixed) the layernorm R token of a trained model barely varies with R past ~20 (docs/atari.md)."""
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
        if self.embed_norm not in EMBED_NORMS:
            raise ValueError(f"DTConfig.embed_norm={self.embed_norm!r}; expected one of {EMBED_NORMS}")
        check_positive_ints(self, "context_len", "embed_dim", "n_layer", "n_head", "mlp_ratio", "max_ep_len")
        check_context_len(self)
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
        check_number(self, "return_head_weight", 0.0)
        if self.return_loss_normalized and self.return_head == "none":
            raise ValueError("DTConfig.return_loss_normalized applies to a return head's loss; set return_head "
                             f"(one of {[h for h in RETURN_HEADS if h != 'none']}) or drop it")
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
        return config_from_dict(cls, d, source)


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
        check_positive_ints(self, "context_len", "hidden_dim", "n_layer", "max_ep_len")
        check_context_len(self)
        check_number(self, "dropout", 0.0, 1.0, high_open=True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "MLPBCConfig":
        return config_from_dict(cls, d, source)


ModelConfig = DTConfig | MLPBCConfig


def check_context_len(cfg: DTConfig | MLPBCConfig) -> None:
    """K is at most max_ep_len: a window of K steps of one episode spans at most max_ep_len distinct timesteps (the
    timestep embedding's size; later ones are clipped to its last), so a longer context only costs memory (a
    million steps: an attention matrix of 10^12 entries)."""
    if cfg.context_len > cfg.max_ep_len:
        raise ValueError(f"{type(cfg).__name__}.context_len={cfg.context_len} must be <= max_ep_len={cfg.max_ep_len} "
                         "(no episode has more timesteps to attend to); lower --context-len or raise --max-ep-len")


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
