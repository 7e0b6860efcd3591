"""Exact incremental acting for banded-attention models (`DTConfig.attention_window` = W > 0).

With banded attention a token of step t sees only the tokens of steps t - W + 1 .. t, in training and when
acting, so the keys and values a layer computed for a token never change afterwards (with full causal
attention over a sliding window they do: deeper layers would go stale once the window slides). Acting then
costs one step's tokens per layer, and the actions equal a plain `forward_all` over the whole episode with
the banded mask (tests/test_incremental.py).

Cache layout (B rows = envs, H heads, D = C // H, P tokens per step):
    keys[l], values[l]   (B, H, (W + 1) * P, D)   per layer, a ring of W + 1 steps: step j's token of type
                                                  p (0 R, 1 s, 2 a; or 0 s, 1 a without returns) in slot
                                                  (j mod (W + 1)) * P + p
    slot_step            (B, (W + 1) * P)         the step held by each slot, -1 when empty (or a_t, unknown)
    slot_type            ((W + 1) * P,)           the token type of each slot
W + 1 steps, not W: a_{t-1}, the first new token at step t, still sees step t - W, whose slots step t's
R_t and s_t would otherwise overwrite.

At step t of a row, the new tokens are a_{t-1} (when t > 0), then R_t, s_t; all are written to the cache,
then each attends to the slots it may see (band, causality within step t, never a_t).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import DecisionTransformer


class IncrementalDecoder:
    """Per-row key/value caches of a banded `DecisionTransformer`; `step` returns the action at step t."""

    def __init__(self, model: DecisionTransformer, batch_size: int):
        cfg = model.config
        if not cfg.attention_window:
            raise ValueError("incremental acting needs a banded model (DTConfig.attention_window > 0)")
        self.model, self.W, self.P = model, cfg.attention_window, cfg.tokens_per_step
        device = next(model.parameters()).device
        H, C = model.blocks[0].attn.n_head, cfg.embed_dim
        S = (self.W + 1) * self.P
        self.keys = [torch.zeros(batch_size, H, S, C // H, device=device) for _ in model.blocks]
        self.values = [torch.zeros(batch_size, H, S, C // H, device=device) for _ in model.blocks]
        self.slot_step = torch.full((batch_size, S), -1, dtype=torch.long, device=device)
        self.slot_type = torch.arange(S, device=device) % self.P  # (S,)
        self.t = torch.zeros(batch_size, dtype=torch.long, device=device)  # (B,) the next step of each row

    def reset(self, rows: torch.Tensor) -> None:
        """Rows start new episodes: empty caches, step 0 next."""
        self.slot_step[rows] = -1
        self.t[rows] = 0

    def _tokens(self, state, rtg, prev_action, timestep, prev_timestep) -> torch.Tensor:
        """(R, P, C) new token embeddings in order a_{t-1}, [R_t], s_t (as `DecisionTransformer._embed`)."""
        m = self.model
        a = m.embed_action(prev_action) + m.embed_timestep(prev_timestep)  # (R, C)
        s = m.embed_state(state) + m.embed_timestep(timestep)  # (R, C)
        toks = [a, m.embed_return(rtg) + m.embed_timestep(timestep), s] if m.config.condition_on_return else [a, s]
        return m.embed_ln(torch.stack(toks, dim=1))  # (R, P, C)

    @torch.inference_mode()
    def step(self, rows: torch.Tensor, state: torch.Tensor, rtg: torch.Tensor, prev_action: torch.Tensor,
             timestep: torch.Tensor, prev_timestep: torch.Tensor) -> torch.Tensor:
        """The action at the next step of each row in `rows` (R,): state (R, *S) normalized, rtg (R, 1) scaled,
        prev_action (R, A) or (R,) (ignored at step 0), timestep / prev_timestep (R,) clipped timesteps.
        Returns (R, A) actions or logits."""
        W, P = self.W, self.P
        t = self.t[rows]  # (R,)
        x = self._tokens(state, rtg, prev_action, timestep, prev_timestep)  # (R, P, C)
        # slots: a_{t-1} in step t-1's group, R_t / s_t in step t's (which held step t - W - 1)
        group, prev_group = (t % (W + 1)) * P, ((t - 1) % (W + 1)) * P  # (R,)
        new_slots = torch.stack([prev_group + P - 1, *[group + p for p in range(P - 1)]], dim=1)  # (R, P)
        step_of = torch.stack([t - 1, *[t] * (P - 1)], dim=1)  # (R, P) step of each new token
        has_prev = t > 0  # (R,)
        slot_step = self.slot_step[rows]  # (R, S)
        slot_step.scatter_(1, (group + P - 1)[:, None], -1)  # a_t: unknown
        r = torch.arange(len(rows), device=t.device)
        slot_step[r[:, None], new_slots[:, 1:]] = step_of[:, 1:]
        slot_step[r[has_prev], new_slots[has_prev, 0]] = t[has_prev] - 1
        self.slot_step[rows] = slot_step
        # mask (R, 1, P, S): the band, causality within step t (R_t before s_t), never an empty slot
        q_step = step_of[:, :, None]  # (R, P, 1)
        q_type = torch.tensor([P - 1, *range(P - 1)], device=t.device)[None, :, None]  # a_{t-1}, [R_t], s_t
        ss, st = slot_step[:, None, :], self.slot_type[None, None, :]  # (R, 1, S), (1, 1, S)
        visible = (ss >= 0) & (q_step - W < ss) & ((ss < q_step) | ((ss == q_step) & (st <= q_type)))  # (R, P, S)
        visible[~has_prev, 0] = visible[~has_prev, -1]  # no a_{-1}: its (discarded) query sees what s_0 sees
        mask = visible[:, None]  # (R, 1, P, S)
        for layer, block in enumerate(self.model.blocks):
            x = self._block(layer, block, x, rows, r, new_slots, has_prev, mask)
        return self.model.predict_action(self.model.ln_f(x[:, -1]))  # (R, A): from s_t

    def _block(self, layer, block, x, rows, r, new_slots, has_prev, mask) -> torch.Tensor:
        attn = block.attn
        R, M, C = x.shape
        H, D = attn.n_head, C // attn.n_head
        q, k, v = attn.qkv(block.ln_1(x)).split(C, dim=2)  # 3 x (R, P, C)
        q, k, v = (z.view(R, M, H, D).transpose(1, 2) for z in (q, k, v))  # (R, H, P, D)
        keys, values = self.keys[layer][rows], self.values[layer][rows]  # (R, H, S, D) copies
        write = torch.ones(R, M, dtype=torch.bool, device=x.device)
        write[:, 0] = has_prev  # a_{-1} does not exist: never written
        rr, mm = torch.nonzero(write, as_tuple=True)
        keys[rr, :, new_slots[rr, mm]] = k[rr, :, mm]
        values[rr, :, new_slots[rr, mm]] = v[rr, :, mm]
        self.keys[layer][rows], self.values[layer][rows] = keys, values
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (R, H, P, D)
        x = x + attn.proj(y.transpose(1, 2).reshape(R, M, C))
        return x + block.mlp(block.ln_2(x))

    def advance(self, rows: torch.Tensor) -> None:
        """The rows' step t is done (its action taken): step t + 1 comes next."""
        self.t[rows] += 1
