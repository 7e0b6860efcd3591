"""The checks of model.py's and mlp_bc.py's Python API: a bad argument is a ValueError or TypeError naming it, what it was and what
was expected (the shape alphabet is model.py's: B batch, K steps, S state_dim, A act_dim).

* `check_model_args`: the constructors' config, state_dim and act_dim.
* `check_inputs`: the tensors of every forward (forward, forward_all, act, act_distribution, propose_return,
  attention_maps). Types, shapes, dtypes and devices are checked on every call: Python on tensor metadata, no
  device sync. Values need a reduction and one device sync, so they are checked only outside training (`not
  model.training`), never while tracing, exporting or compiling, and not at all with `CHECK_VALUES = False`:
  attention_mask 0/1 (and, when acting, left-padded: zeros first), 0 <= timesteps < max_ep_len (the data pipeline
  clips them to max_ep_len - 1 before the model, `data.preprocess.clip_timesteps`; the model never clips), discrete
  action ids in [0, A). The library's own acting loops (evaluate's and online's agents, which build the windows
  themselves: timesteps clipped, masks left-padded) skip them inside `trusted_inputs()`: on the CPU the value checks
  cost ~0.15-0.2 ms of a ~2.3 ms batch-1 action of the paper-size model (2026-12-06, the busy 2-core box).
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Iterator

import torch

from .common.checks import is_int as _is_int
from .config import DTConfig, MLPBCConfig

CHECK_VALUES = True
"""Check input values (one device sync per call) outside training; False skips them (shapes are always checked)."""

_INDEX_DTYPES = (torch.int32, torch.int64)  # what nn.Embedding takes
_TRUSTED = contextvars.ContextVar("dt_trusted_inputs", default=False)


@contextlib.contextmanager
def trusted_inputs() -> Iterator[None]:
    """Inside: input values are not checked (shapes still are), for callers that built the inputs themselves."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def check_model_args(config: Any, state_dim: Any, act_dim: Any, pixels: bool = True) -> tuple[Any, int]:
    """A constructor's (state_dim, act_dim), ints made plain; `pixels`: a (C, H, W) state_dim is allowed (DT)."""
    want = DTConfig if pixels else MLPBCConfig
    if not isinstance(config, want):
        hint = f" (a dict: {want.__name__}.from_dict(d))" if isinstance(config, dict) else ""
        raise TypeError(f"config: a {type(config).__name__}; expected a {want.__name__}{hint}")
    what = "a positive int" + (", or (C, H, W) for pixel states" if pixels else " (MLPBC takes vector states)")
    if _is_int(state_dim):
        state_dim = int(state_dim)
        if state_dim <= 0:
            raise ValueError(f"state_dim={state_dim}: expected {what}")
    elif not (pixels and isinstance(state_dim, (tuple, list)) and len(state_dim) == 3
              and all(_is_int(x) and x > 0 for x in state_dim)):
        error = ValueError if isinstance(state_dim, (tuple, list)) else TypeError
        raise error(f"state_dim={state_dim!r}: expected {what}")
    if not _is_int(act_dim):
        raise TypeError(f"act_dim={act_dim!r}: expected a positive int (the action size, or the number of actions)")
    if act_dim <= 0:
        raise ValueError(f"act_dim={act_dim}: expected a positive int (the action size, or the number of actions)")
    return state_dim, int(act_dim)


def _tensor(name: str, x: Any, device: torch.device) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        kind = "None" if x is None else f"a {type(x).__module__}.{type(x).__name__}"
        raise TypeError(f"{name}: {kind}; expected a torch.Tensor (torch.as_tensor(...))")
    if x.device != device:
        raise ValueError(f"{name}: on {x.device}; the model is on {device}")
    return x


def _shape(name: str, x: torch.Tensor, want: tuple[int, ...], text: str, what: str = "") -> None:
    if tuple(x.shape) != want:
        raise ValueError(f"{name}: shape {tuple(x.shape)}; expected {text}={want}{what}")


def _values_checked(model: torch.nn.Module) -> bool:
    return CHECK_VALUES and not model.training and not _TRUSTED.get() and not (
        torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling())


def check_inputs(model: torch.nn.Module, states: Any, actions: Any, returns_to_go: Any, timesteps: Any,
                 attention_mask: Any, acting: bool = False) -> None:
    """The inputs of a DecisionTransformer or MLPBC call fit it (see the module docstring); `acting`: an act path,
    whose mask must be left-padded. MLPBC reads states and attention_mask only."""
    cfg, param = model.config, next(model.parameters())
    dt, device = isinstance(cfg, DTConfig), param.device
    autocast = torch.is_autocast_enabled(device.type)

    def floats(name: str, x: torch.Tensor) -> None:
        if not x.is_floating_point() or (x.dtype != param.dtype and not autocast):
            raise TypeError(f"{name}: dtype {x.dtype}; expected {param.dtype} (the model's)")

    S = (model.state_dim,) if isinstance(model.state_dim, int) else tuple(model.state_dim)
    states = _tensor("states", states, device)
    if states.dim() != 2 + len(S) or tuple(states.shape[2:]) != S or 0 in states.shape[:2]:
        letters = "S" if len(S) == 1 else "Ch, H, W"
        raise ValueError(f"states: shape {tuple(states.shape)}; expected (B, K, {letters})=(B, K, "
                         f"{', '.join(map(str, S))}) with B, K >= 1")
    floats("states", states)
    B, K = states.shape[:2]
    if dt:
        timesteps = _tensor("timesteps", timesteps, device)
        _shape("timesteps", timesteps, (B, K), "(B, K)", " of int64 step indices")
        if timesteps.dtype not in _INDEX_DTYPES:
            raise TypeError(f"timesteps: dtype {timesteps.dtype}; expected int64 step indices")
        actions = _tensor("actions", actions, device)
        if cfg.discrete_actions:
            _shape("actions", actions, (B, K), "(B, K)", " of int64 action ids")
            if actions.dtype not in _INDEX_DTYPES:
                raise TypeError(f"actions: dtype {actions.dtype}; expected int64 action ids (discrete actions)")
        else:
            _shape("actions", actions, (B, K, model.act_dim), "(B, K, A)")
            floats("actions", actions)
        if cfg.condition_on_return:
            returns_to_go = _tensor("returns_to_go", returns_to_go, device)
            _shape("returns_to_go", returns_to_go, (B, K, 1), "(B, K, 1)")
            floats("returns_to_go", returns_to_go)
    if attention_mask is not None:
        _shape("attention_mask", _tensor("attention_mask", attention_mask, device), (B, K), "(B, K)", " of 0/1")
    if not _values_checked(model):
        return
    checks = []  # (a bool tensor: something is wrong, the message saying what)
    if dt:
        T = cfg.max_ep_len
        checks.append(((timesteps < 0).any(), lambda: f"timesteps: min {int(timesteps.min())} < 0; expected step "
                                                      f"indices in [0, max_ep_len={T})"))
        checks.append(((timesteps >= T).any(), lambda: f"timesteps: max {int(timesteps.max())} >= max_ep_len={T} "
                                                        "(clip them to max_ep_len - 1: data.preprocess.clip_timesteps)"))
        if cfg.discrete_actions:
            A = model.act_dim
            checks.append((((actions < 0) | (actions >= A)).any(),
                           lambda: f"actions: ids in [{int(actions.min())}, {int(actions.max())}]; expected action "
                                   f"ids in [0, {A}) (act_dim={A})"))
    if attention_mask is not None:
        m = attention_mask
        bad = (m != 0) & (m != 1)
        checks.append((bad.any(), lambda: f"attention_mask: holds {sorted(set(m[bad].tolist()))[:4]}; expected "
                                          "0/1 (1 = real step, 0 = padding)"))
        if acting and K > 1:
            right = (m[:, 1:] == 0) & (m[:, :-1] != 0)  # a real step followed by padding
            row = lambda: int(right.any(1).nonzero()[0, 0])  # noqa: E731  (the first such row)
            checks.append((right.any(), lambda: f"attention_mask: row {row()} is {m[row()].tolist()}; acting "
                                                "expects left padding (zeros first, then the real steps)"))
    if checks and bool(torch.stack([flag for flag, _ in checks]).any()):  # the one sync
        for flag, message in checks:
            if bool(flag):
                raise ValueError(message())
