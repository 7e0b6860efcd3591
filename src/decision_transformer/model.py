"""The Decision Transformer, read top to bottom: attention -> MLP -> Block -> DecisionTransformer.

Shape alphabet, used in every shape comment:
    B batch, K timesteps in the context (context_len), N tokens = P * K with P tokens per step
    (P = 3 for R, s, a; P = 2 for s, a in the BC variant), C embed_dim, H heads, D = C // H,
    S state_dim (or (Ch, Hp, Wp) for pixel frame stacks), A act_dim (or number of actions).

Conventions (the single place they are written down; `tests/test_model.py` checks them):
    * Tokens are interleaved per timestep: R_1, s_1, a_1, R_2, s_2, a_2, ... (no R for the BC variant). With a
      return head (`return_head`, Reinformer) the order is s_1, R_1, a_1, ...: the return R_t is predicted at s_t
      (it sees s_1..s_t, R_1..R_{t-1}, a_1..a_{t-1}) and the action at R_t.
    * A learned per-timestep embedding (not per token) is added to the R, s and a embeddings of a step; the sum is
      LayerNorm-ed (`embed_norm` layernorm, the paper's gym code), or each embedding is tanh-squashed before the sum
      and nothing normalizes it (`embed_norm` tanh, the paper's Atari code).
      Optionally (`position_embedding`, the paper's Atari code) a second, per-token embedding of the token's
      position in the window, counted from the first real step: token p of step k (0-based from the first
      real step) has position P * k + p, whatever padding precedes it.
    * The action for step t is read from the hidden state at the s_t token (at R_t with a return head: in both
      orders the token just before a_t), so it sees R_1..R_t, s_1..s_t and a_1..a_{t-1}, never a_t or later.
    * `stochastic_policy`: the action head gives a tanh-squashed Gaussian (distributions.py); the action of
      `forward` and `act` is its mean action tanh(mean), `act_distribution` the whole distribution.
    * `attention_mask` (B, K) is 1 for a real step and 0 for padding. Padding is on the left (zeros first, as
      data/sampler.py pads; `act` refuses right padding, which position embeddings would see). Padded
      tokens are zeroed before the transformer and no real token attends to them, so whatever values
      padded positions hold (even NaN) the outputs at real steps do not change. Each token may always
      attend to itself, so a fully padded row never produces NaN.
    * Inputs are checked (model_checks.py; values outside training): timesteps in [0, max_ep_len), the data clip them.
    * `returns_to_go` arrive already divided by the dataset's reward scale; states already normalized.

Less work where only actions are read (exact: the same numbers as `forward_all`, up to float rounding):
    * `forward` returns actions only, so the last block computes its attention queries and its MLP only
      at the K state tokens (the other 2K outputs of the last block feed no head);
    * `act` returns the action at the newest step only, so the last block runs for that one token (and
      `propose_return`, a return head's prediction at the newest s token, likewise).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import DTConfig, MLPBCConfig
from .distributions import TanhNormal
from .mlp_bc import MLPBC
from .model_checks import check_inputs, check_model_args

StateDim = int | tuple[int, int, int]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_new": lambda: nn.GELU(approximate="tanh"),
}


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.embed_dim, 3 * cfg.embed_dim)  # q, k, v packed along the output dim
        self.proj = nn.Linear(cfg.embed_dim, cfg.embed_dim)
        self.attn_dropout = cfg.dropout
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, queries: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, C) attends to itself; or, with `queries` (B, M, C) (a subset of x's tokens, whose mask rows
        `attn_mask` (B, 1, M, N) gives), only those tokens' outputs (B, M, C) are computed."""
        B, N, C = x.shape
        H, D = self.n_head, C // self.n_head
        if queries is None:
            q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, N, C)
        else:
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(queries, w[:C], b[:C])  # (B, M, C)
            k, v = F.linear(x, w[C:], b[C:]).split(C, dim=2)  # 2 x (B, N, C)
        M = q.shape[1]
        q = q.view(B, M, H, D).transpose(1, 2)  # (B, H, M, D)
        k = k.view(B, N, H, D).transpose(1, 2)  # (B, H, N, D)
        v = v.view(B, N, H, D).transpose(1, 2)  # (B, H, N, D)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_dropout if self.training else 0.0
        )  # (B, H, M, D)
        y = y.transpose(1, 2).contiguous().view(B, M, C)  # (B, M, C): heads re-assembled
        return self.resid_dropout(self.proj(y))

    def attention_weights(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """Softmax attention weights (B, H, N, N), for analysis (no dropout)."""
        B, N, C = x.shape
        q, k, _ = self.qkv(x).split(C, dim=2)  # 2 x (B, N, C)
        q = q.view(B, N, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, N, D)
        k = k.view(B, N, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, N, D)
        scores = q @ k.transpose(-2, -1) / math.sqrt(C // self.n_head)  # (B, H, N, N)
        scores = scores.masked_fill(~attn_mask, float("-inf"))
        return scores.softmax(dim=-1)


class MLP(nn.Module):
    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.embed_dim, cfg.mlp_ratio * cfg.embed_dim)
        self.act = _ACTIVATIONS[cfg.activation]()
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.embed_dim, cfg.embed_dim)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm GPT block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.embed_dim)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.embed_dim)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor, query_index: slice | int | None = None) -> torch.Tensor:
        """(B, N, C) -> (B, N, C); with `query_index` (positions of x along N: a slice, e.g. every state token,
        or one position) only those tokens' outputs (B, M, C), with `attn_mask` rows for those positions."""
        h = self.ln_1(x)
        if query_index is None:
            x = x + self.attn(h, attn_mask)
        else:
            x_q = x[:, query_index]
            if x_q.dim() == 2:  # a single position
                x_q = x_q[:, None]
            x = x_q + self.attn(h, attn_mask, queries=self.ln_1(x_q))
        return x + self.mlp(self.ln_2(x))


ATARI_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
"""AtariEncoder's convolutions: (output channels, kernel size, stride) of each, unpadded."""


def min_frame_size() -> int:
    """The smallest frame height and width AtariEncoder takes: each convolution needs at least its kernel size
    (36 for the DQN stack: 3 -> 8 -> 36)."""
    size = 1
    for _, kernel, stride in reversed(ATARI_CONVS):
        size = (size - 1) * stride + kernel
    return size


class AtariEncoder(nn.Module):
    """The paper's Atari CNN (DQN nature encoder) for (Ch, 84, 84) frame stacks, ending in Tanh."""

    def __init__(self, state_shape: tuple[int, int, int], embed_dim: int):
        super().__init__()
        if len(state_shape) != 3 or min(state_shape[1:]) < min_frame_size():
            raise ValueError(f"state_dim={tuple(state_shape)}: pixel states must be (C, H, W) with H, W >= "
                             f"{min_frame_size()} (channels first)")
        ch, h, w = state_shape
        layers: list[nn.Module] = []
        for c_in, (c_out, kernel, stride) in zip((ch, *(c[0] for c in ATARI_CONVS)), ATARI_CONVS):
            layers += [nn.Conv2d(c_in, c_out, kernel, stride=stride), nn.ReLU()]
        self.convs = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.convs(torch.zeros(1, ch, h, w)).shape[1]
        self.fc = nn.Sequential(nn.Linear(n_flat, embed_dim), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x))


class TanhGaussianHead(nn.Module):
    """The stochastic policy's head: a mean and a log-std bounded to [log_std_min, log_std_max] by a tanh
    (log_std = min + (max - min) * (tanh(raw) + 1) / 2). Called as a module, it gives the mean action tanh(mean)."""

    def __init__(self, cfg: DTConfig, act_dim: int):
        super().__init__()
        self.mean = nn.Linear(cfg.embed_dim, act_dim)
        self.log_std = nn.Linear(cfg.embed_dim, act_dim)
        self.log_std_min, self.log_std_max = cfg.log_std_min, cfg.log_std_max

    def distribution(self, h: torch.Tensor) -> TanhNormal:
        raw = torch.tanh(self.log_std(h))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (raw + 1)
        return TanhNormal(self.mean(h), log_std)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mean(h))


class DTOutput(NamedTuple):
    action_preds: torch.Tensor
    """(B, K, A): continuous actions, or logits over A actions when discrete."""
    state_preds: torch.Tensor | None
    """(B, K, S) predictions of s_{t+1} from the a_t token, when cfg.predict_state."""
    return_preds: torch.Tensor | None
    """(B, K, 1) return predictions from the a_t token, when cfg.predict_return."""
    rtg_preds: torch.Tensor | None = None
    """(B, K, 1) the return head's return-to-go predictions from the s_t token, when cfg.return_head is set."""
    policy: TanhNormal | None = None
    """The action distribution at every step (B, K, A), when cfg.stochastic_policy."""


def causal_attention_mask(attention_mask: torch.Tensor, tokens_per_step: int, window: int = 0) -> torch.Tensor:
    """Boolean (B, 1, N, N) mask, True = may attend: causal, never to padding, always to itself; with `window`
    W > 0 also banded: a token of step i sees tokens of steps i - W + 1 .. i only."""
    B, K = attention_mask.shape
    N = tokens_per_step * K
    real = attention_mask.bool().repeat_interleave(tokens_per_step, dim=1)  # (B, N)
    causal = torch.ones(N, N, dtype=torch.bool, device=attention_mask.device).tril()  # (N, N)
    if window:
        step = torch.arange(N, device=attention_mask.device) // tokens_per_step  # (N,) step of each token
        causal &= (step[:, None] - step[None, :]) < window  # (N, N)
    eye = torch.eye(N, dtype=torch.bool, device=attention_mask.device)  # (N, N)
    return ((causal & real[:, None, :]) | eye)[:, None]  # (B, 1, N, N)


def gpt2_init_(module: nn.Module) -> None:
    """GPT-2's initialisation of one module, in place (`model.apply(gpt2_init_)`): Linear and Embedding weights
    N(0, 0.02), Linear biases 0, LayerNorm 1 and 0 (DTConfig.init: everywhere for "gpt2", inside the blocks for
    "official")."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class DecisionTransformer(nn.Module):
    """Decision Transformer. `state_dim` is an int, or (Ch, H, W) for pixels; `act_dim` is the action
    size, or the number of actions when `config.discrete_actions`."""

    def __init__(self, config: DTConfig, state_dim: StateDim, act_dim: int):
        super().__init__()
        self.config = config
        self.state_dim, self.act_dim = state_dim, act_dim = check_model_args(config, state_dim, act_dim)
        C = config.embed_dim

        self.embed_timestep = nn.Embedding(config.max_ep_len, C)
        self.embed_return = nn.Linear(1, C) if config.condition_on_return else None
        if isinstance(state_dim, int):
            self.embed_state = nn.Linear(state_dim, C)
        else:
            self.embed_state = AtariEncoder(tuple(state_dim), C)
        self.embed_action = nn.Embedding(act_dim, C) if config.discrete_actions else nn.Linear(act_dim, C)
        self.embed_position = (nn.Embedding(config.tokens_per_step * config.context_len, C)
                               if config.position_embedding else None)
        # embed_norm (config.py): LayerNorm after the sum (gym code), or tanh on each token's embedding (Atari code)
        self.embed_ln = nn.LayerNorm(C) if config.embed_norm == "layernorm" else nn.Identity()
        self.embed_squash = nn.Tanh() if config.embed_norm == "tanh" else nn.Identity()
        self.embed_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(C)

        if config.discrete_actions:
            self.predict_action = nn.Sequential(nn.Linear(C, act_dim))
        elif config.stochastic_policy:
            self.predict_action = TanhGaussianHead(config, act_dim)
        else:
            self.predict_action = nn.Sequential(nn.Linear(C, act_dim), *([nn.Tanh()] if config.action_tanh else []))
        self.predict_state = nn.Linear(C, state_dim) if config.predict_state and isinstance(state_dim, int) else None
        self.predict_return = nn.Linear(C, 1) if config.predict_return else None
        self.predict_rtg = nn.Linear(C, 1) if config.return_head != "none" else None  # at the s token
        self._mask_cache: dict[tuple[int, torch.device], torch.Tensor] = {}  # the no-padding mask per K
        self.apply(gpt2_init_)
        if config.init == "official":  # the layers around the blocks keep PyTorch's defaults (config.init)
            for name, module in self.named_modules():
                if not name.startswith(("blocks", "ln_f")) and hasattr(module, "reset_parameters"):
                    module.reset_parameters()

    # Each token type's embedding before the timestep embedding is added (`embed_norm`: tanh-squashed or not), for
    # any leading dims (B, K) or (R,); the one place the three are made (forward, incremental.py, deploy/export.py).
    def embed_states(self, states: torch.Tensor) -> torch.Tensor:
        """(..., S) or (..., Ch, H, W) -> (..., C): the encoder sees one state per row."""
        lead = states.shape[:states.dim() - (1 if isinstance(self.state_dim, int) else 3)]
        out = self.embed_state(states.reshape(-1, *states.shape[len(lead):]))
        return self.embed_squash(out.view(*lead, -1))

    def embed_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """(..., A) float or (...) long -> (..., C)."""
        return self.embed_squash(self.embed_action(actions))

    def embed_returns(self, returns_to_go: torch.Tensor) -> torch.Tensor:
        """(..., 1) -> (..., C)."""
        return self.embed_squash(self.embed_return(returns_to_go))

    def _embed(self, states, actions, returns_to_go, timesteps, attention_mask, acting=False):
        """Token embeddings (B, N, C) after `embed_norm` and dropout, and the boolean mask."""
        check_inputs(self, states, actions, returns_to_go, timesteps, attention_mask, acting)
        B, K = timesteps.shape
        if attention_mask is None:
            attention_mask = torch.ones(B, K, dtype=torch.long, device=timesteps.device)
        real = attention_mask.bool()  # (B, K)
        time_emb = self.embed_timestep(timesteps)  # (B, K, C)
        s_emb = self.embed_states(states) + time_emb  # (B, K, C)
        a_emb = self.embed_actions(actions) + time_emb  # (B, K, C)
        if self.config.condition_on_return:
            r_emb = self.embed_returns(returns_to_go) + time_emb  # (B, K, C)
            order = (r_emb, s_emb, a_emb) if self.config.return_first else (s_emb, r_emb, a_emb)
            tokens = torch.stack(order, dim=2)  # (B, K, 3, C)
        else:
            tokens = torch.stack((s_emb, a_emb), dim=2)  # (B, K, 2, C)
        x = tokens.reshape(B, -1, tokens.shape[-1])  # (B, N, C): R_1, s_1, a_1, R_2, ... (or s_1, R_1, a_1, ...)
        P, W = self.config.tokens_per_step, self.config.attention_window
        if self.embed_position is not None:
            if K > self.config.context_len:
                raise ValueError(f"position_embedding: {K} steps given; the model has {self.config.context_len} positions")
            pad = K - real.sum(dim=1, keepdim=True)  # (B, 1): left-padded steps
            step = (torch.arange(K, device=x.device) - pad).clamp(min=0)  # (B, K): index from the first real step
            position = step[..., None] * P + torch.arange(P, device=x.device)  # (B, K, P)
            x = x + self.embed_position(position.reshape(B, -1))  # (B, N, C)
        if bool(real.all()):  # no padding (most calls once episodes are K steps long): one shared mask
            key = (K, x.device)
            if key not in self._mask_cache:
                self._mask_cache[key] = causal_attention_mask(real[:1], P, W)  # (1, 1, N, N), broadcast over B
            mask = self._mask_cache[key]
        else:
            # Zero padded steps so that no value they hold (NaN included) can reach a real token.
            x = torch.where(real.repeat_interleave(P, dim=1)[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device))
            mask = causal_attention_mask(attention_mask, P, W)
        return self.embed_dropout(self.embed_ln(x)), mask

    def forward_all(
        self,
        states: torch.Tensor,
        actions: torch.Tensor,
        returns_to_go: torch.Tensor | None,
        timesteps: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> DTOutput:
        """All heads. Shapes: states (B,K,S) or (B,K,Ch,H,W); actions (B,K,A) float or (B,K) long;
        returns_to_go (B,K,1) (ignored when not conditioning on return); timesteps (B,K) long;
        attention_mask (B,K), 1 = real step."""
        x, mask = self._embed(states, actions, returns_to_go, timesteps, attention_mask)
        for block in self.blocks:
            x = block(x, mask)
        x = self.ln_f(x)
        B, K = timesteps.shape
        P = self.config.tokens_per_step
        h = x.view(B, K, P, -1)  # (B, K, P, C): per step, the hidden state of each token type
        h_read, h_action = h[:, :, P - 2], h[:, :, P - 1]  # (B, K, C) each: the token before a_t, and a_t
        return DTOutput(
            action_preds=self.predict_action(h_read),  # (B, K, A)
            state_preds=self.predict_state(h_action) if self.predict_state is not None else None,
            return_preds=self.predict_return(h_action) if self.predict_return is not None else None,
            rtg_preds=self.predict_rtg(h[:, :, 0]) if self.predict_rtg is not None else None,  # s_t: first with a head
            policy=self.predict_action.distribution(h_read) if self.config.stochastic_policy else None,
        )

    def forward(self, states, actions, returns_to_go, timesteps, attention_mask=None) -> torch.Tensor:
        """Action predictions (B, K, A), or logits (B, K, A) for discrete actions. The last block runs only
        for the state tokens (see the module docstring)."""
        x, mask = self._embed(states, actions, returns_to_go, timesteps, attention_mask)
        for block in self.blocks[:-1]:
            x = block(x, mask)
        P = self.config.tokens_per_step
        read_tokens = slice(P - 2, None, P)  # s_1, s_2, ..., s_K along N (R_1, ..., R_K with a return head)
        x = self.blocks[-1](x, mask[:, :, read_tokens], query_index=read_tokens)  # (B, K, C)
        return self.predict_action(self.ln_f(x))  # (B, K, A)

    def _newest(self, back: int, states, actions, returns_to_go, timesteps, attention_mask) -> torch.Tensor:
        """The final hidden state (B, C) of token N - `back` only (the last block runs for that one token)."""
        x, mask = self._embed(states, actions, returns_to_go, timesteps, attention_mask, acting=True)
        for block in self.blocks[:-1]:
            x = block(x, mask)
        i = x.shape[1] - back
        return self.ln_f(self.blocks[-1](x, mask[:, :, i:i + 1], query_index=i))[:, 0]  # (B, C)

    def act(self, states, actions, returns_to_go, timesteps, attention_mask=None) -> torch.Tensor:
        """The action (or logits) at the newest step only, (B, A): what acting needs. Read at the second to
        last token (s_K, or R_K with a return head; a_K follows it)."""
        return self.predict_action(self._newest(2, states, actions, returns_to_go, timesteps, attention_mask))

    def act_distribution(self, states, actions, returns_to_go, timesteps, attention_mask=None) -> TanhNormal:
        """stochastic_policy: the action distribution at the newest step, over (B, A)."""
        h = self._newest(2, states, actions, returns_to_go, timesteps, attention_mask)
        return self.predict_action.distribution(h)

    def propose_return(self, states, actions, returns_to_go, timesteps, attention_mask=None) -> torch.Tensor:
        """return_head: the return-to-go (B, 1) the head predicts at the newest s token (s_K, third to last: R_K and
        a_K follow it, so whatever R_K and a_K hold does not matter)."""
        return self.predict_rtg(self._newest(3, states, actions, returns_to_go, timesteps, attention_mask))

    @torch.no_grad()
    def attention_maps(self, states, actions, returns_to_go, timesteps, attention_mask=None) -> list[torch.Tensor]:
        """Attention weights of every block, a list of (B, H, N, N), for analysis plots."""
        x, mask = self._embed(states, actions, returns_to_go, timesteps, attention_mask)
        maps = []
        for block in self.blocks:
            maps.append(block.attn.attention_weights(block.ln_1(x), mask))
            x = block(x, mask)
        return maps


def build_model(kind: str, config: DTConfig | MLPBCConfig, state_dim: StateDim, act_dim: int) -> nn.Module:
    """The model for a checkpoint's `model_kind`: 'dt', 'bc' (DT without return tokens) or 'mlp-bc'."""
    if kind in ("dt", "bc"):
        return DecisionTransformer(config, state_dim, act_dim)
    if kind == "mlp-bc":
        return MLPBC(config, state_dim, act_dim)
    raise ValueError(f"unknown model kind {kind!r}; expected 'dt', 'bc' or 'mlp-bc'")
