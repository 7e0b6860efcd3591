"""Exact incremental acting for banded-attention models (`DTConfig.attention_window` = W > 0).

With banded attention a token of step t sees only the tokens of steps t - W + 1 .. t, in training and when
acting, so the keys and values a layer computed for a token never change afterwards (with full causal
attention over a sliding window they do: deeper layers would go stale once the window slides). Acting then
costs one step's tokens per layer, and the actions equal a plain `forward_all` over the whole episode with
the banded mask (tests/test_incremental.py).

Cache layout (L layers, B rows = envs, H heads, D = C // H, P tokens per step):
    keys, values   (L, B, H, (W + 1) * P, D)   per layer, a ring of W + 1 steps: step j's token of type
                                               p (0 R, 1 s, 2 a; or 0 s, 1 a without returns) in slot
                                               (j mod (W + 1)) * P + p
    slot_step      (B, (W + 1) * P)            the step held by each slot, -1 when empty (or a_t, unknown)
The type of slot i is i mod P.
W + 1 steps, not W: a_{t-1}, the first new token at step t, still sees step t - W, whose slots step t's
R_t and s_t would otherwise overwrite.

At step t of a row, the new tokens are a_{t-1} (when t > 0), then R_t, s_t; all are written to the cache,
then each attends to the slots it may see (band, causality within step t, never a_t).

`decode_step` is that step as a pure function of tensors (no in-place writes, no data-dependent shapes), so
the same code serves `IncrementalDecoder` and the ONNX step graph (deploy/export.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import DecisionTransformer


def cache_shape(model: DecisionTransformer, batch_size: int) -> tuple[int, int, int, int, int]:
    """(L, B, H, (W + 1) * P, D): the shape of `keys` and `values`."""
    cfg = model.config
    H = model.blocks[0].attn.n_head
    return (len(model.blocks), batch_size, H, (cfg.attention_window + 1) * cfg.tokens_per_step, cfg.embed_dim // H)


def _tokens(model: DecisionTransformer, state, rtg, prev_action, timestep, prev_timestep) -> torch.Tensor:
    """(R, P, C) new token embeddings in order a_{t-1}, [R_t], s_t (as `DecisionTransformer._embed`)."""
    m = model
    a = m.embed_actions(prev_action) + m.embed_timestep(prev_timestep)  # (R, C)
    s = m.embed_states(state) + m.embed_timestep(timestep)  # (R, C)
    toks = [a, m.embed_returns(rtg) + m.embed_timestep(timestep), s] if m.config.condition_on_return else [a, s]
    return m.embed_ln(torch.stack(toks, dim=1))  # (R, P, C)


def decode_step(model: DecisionTransformer, keys: torch.Tensor, values: torch.Tensor, slot_step: torch.Tensor,
                t: torch.Tensor, state: torch.Tensor, rtg: torch.Tensor | None, prev_action: torch.Tensor,
                timestep: torch.Tensor, prev_timestep: torch.Tensor):
    """Step t of R rows: keys / values (L, R, H, S, D) and slot_step (R, S) the rows' caches, t (R,) their step
    counts, state (R, *S) normalized, rtg (R, 1) scaled (None without return tokens), prev_action (R, A) or (R,)
    (ignored at step 0), timestep / prev_timestep (R,) clipped timesteps.
    Returns (actions or logits (R, A), keys, values, slot_step): the caches after the step, new tensors."""
    W, P = model.config.attention_window, model.config.tokens_per_step
    S = slot_step.shape[1]
    x = _tokens(model, state, rtg, prev_action, timestep, prev_timestep)  # (R, P, C)
    # slots: a_{t-1} in step t-1's group, R_t / s_t in step t's (which held step t - W - 1)
    group, prev_group = (t % (W + 1)) * P, ((t + W) % (W + 1)) * P  # (R,)
    new_slots = torch.stack([prev_group + P - 1, *[group + p for p in range(P - 1)]], dim=1)  # (R, P)
    has_prev = t > 0  # (R,)
    # a_t: unknown; R_t, s_t: step t; a_{t-1}: step t - 1 (a_{-1} does not exist: the slot keeps its value)
    slot_step = slot_step.scatter(1, (group + P - 1)[:, None], torch.full_like(t[:, None], -1))
    prev_value = torch.where(has_prev, t - 1, slot_step.gather(1, new_slots[:, :1])[:, 0])  # (R,)
    step_of = torch.stack([t - 1, *[t] * (P - 1)], dim=1)  # (R, P) step of each new token
    slot_step = slot_step.scatter(1, new_slots, torch.cat([prev_value[:, None], step_of[:, 1:]], dim=1))
    # mask (R, 1, P, S): the band, causality within step t (R_t before s_t), never an empty slot
    q_step = step_of[:, :, None]  # (R, P, 1)
    q_type = torch.tensor([P - 1, *range(P - 1)], device=t.device)[None, :, None]  # a_{t-1}, [R_t], s_t
    ss, st = slot_step[:, None, :], (torch.arange(S, device=t.device) % P)[None, None, :]  # (R, 1, S), (1, 1, S)
    visible = (ss >= 0) & (q_step - W < ss) & ((ss < q_step) | ((ss == q_step) & (st <= q_type)))  # (R, P, S)
    # no a_{-1}: its (discarded) query sees what s_0 sees
    first = (has_prev[:, None] & visible[:, 0]) | (~has_prev[:, None] & visible[:, -1])  # (R, S)
    mask = torch.cat([first[:, None], visible[:, 1:]], dim=1)[:, None]  # (R, 1, P, S)
    write = torch.cat([has_prev[:, None], torch.ones_like(new_slots[:, 1:], dtype=torch.bool)], dim=1)  # (R, P)
    new_keys, new_values = [], []
    for layer, block in enumerate(model.blocks):
        x, k, v = _block(block, x, keys[layer], values[layer], new_slots, write, mask)
        new_keys.append(k)
        new_values.append(v)
    return model.predict_action(model.ln_f(x[:, -1])), torch.stack(new_keys), torch.stack(new_values), slot_step


def _block(block, x, keys, values, new_slots, write, mask):
    """One block for the new tokens x (R, P, C) against one layer's cache (R, H, S, D): (x, keys, values)."""
    attn = block.attn
    R, M, C = x.shape
    H, D = attn.n_head, C // attn.n_head
    q, k, v = attn.qkv(block.ln_1(x)).split(C, dim=2)  # 3 x (R, P, C)
    q, k, v = (z.view(R, M, H, D).transpose(1, 2) for z in (q, k, v))  # (R, H, P, D)
    index = new_slots[:, None, :, None].expand(-1, H, -1, D)  # (R, H, P, D)
    keep = ~write[:, None, :, None]  # (R, 1, P, 1): slots left as they were
    keys = keys.scatter(2, index, torch.where(keep, keys.gather(2, index), k))  # (R, H, S, D)
    values = values.scatter(2, index, torch.where(keep, values.gather(2, index), v))
    y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (R, H, P, D)
    x = x + attn.proj(y.transpose(1, 2).reshape(R, M, C))
    return x + block.mlp(block.ln_2(x)), keys, values


class IncrementalDecoder:
    """Per-row key/value caches of a banded `DecisionTransformer`; `step` returns the action at step t."""

    def __init__(self, model: DecisionTransformer, batch_size: int):
        cfg = model.config
        if not cfg.attention_window:
            raise ValueError("incremental acting needs a banded model (DTConfig.attention_window > 0)")
        self.model = model
        device = next(model.parameters()).device
        shape = cache_shape(model, batch_size)
        self.keys = torch.zeros(shape, device=device)  # (L, B, H, S, D)
        self.values = torch.zeros(shape, device=device)
        self.slot_step = torch.full((batch_size, shape[3]), -1, dtype=torch.long, device=device)  # (B, S)
        self.t = torch.zeros(batch_size, dtype=torch.long, device=device)  # (B,) the next step of each row

    @torch.inference_mode()  # the caches are inference tensors once `step` has replaced them
    def reset(self, rows: torch.Tensor) -> None:
        """Rows start new episodes: empty caches, step 0 next."""
        self.slot_step[rows] = -1
        self.t[rows] = 0

    @torch.inference_mode()
    def step(self, rows: torch.Tensor, state: torch.Tensor, rtg: torch.Tensor, prev_action: torch.Tensor,
             timestep: torch.Tensor, prev_timestep: torch.Tensor) -> torch.Tensor:
        """The action at the next step of each row in `rows` (R,): state (R, *S) normalized, rtg (R, 1) scaled,
        prev_action (R, A) or (R,) (ignored at step 0), timestep / prev_timestep (R,) clipped timesteps.
        Returns (R, A) actions or logits."""
        everyone = len(rows) == self.t.shape[0] and bool((rows == torch.arange(len(rows), device=rows.device)).all())
        pick = (lambda z: z) if everyone else (lambda z: z[rows])  # noqa: E731
        out, keys, values, slot_step = decode_step(
            self.model, self.keys if everyone else self.keys[:, rows], self.values if everyone else self.values[:, rows],
            pick(self.slot_step), pick(self.t), state, rtg, prev_action, timestep, prev_timestep)
        if everyone:
            self.keys, self.values, self.slot_step = keys, values, slot_step
        else:
            self.keys[:, rows], self.values[:, rows], self.slot_step[rows] = keys, values, slot_step
        return out

    @torch.inference_mode()
    def advance(self, rows: torch.Tensor) -> None:
        """The rows' step t is done (its action taken): step t + 1 comes next."""
        self.t[rows] += 1
