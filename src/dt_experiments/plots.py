"""Matplotlib PNGs of the benchmarks (written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from decision_transformer.common.atomic import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        _plt().close(fig)
    return path


def plot_path_lengths(path: Path, lengths: dict[str, np.ndarray], horizon: int) -> Path:
    """Figure 2 style: histogram of path lengths per method; episodes that never reach the goal are
    counted in a final '> horizon' bin."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bins = np.arange(1, horizon + 2)  # lengths 1..horizon, then the "not reached" bin
    width = 0.8 / len(lengths)
    for i, (name, values) in enumerate(lengths.items()):
        v = np.asarray(values, np.int64)
        counts = np.array([(v == b).sum() for b in bins[:-1]] + [(v > horizon).sum()], np.float64)
        ax.bar(bins + (i - (len(lengths) - 1) / 2) * width, counts / max(len(v), 1), width=width, label=name)
    ax.set_xticks(list(bins[:-1:2]) + [bins[-1]], [str(b) for b in bins[:-1:2]] + ["not\nreached"])
    ax.set_xlabel("path length (steps to the goal)")
    ax.set_ylabel("fraction of (start, goal) pairs")
    ax.set_title("Shortest path on a random graph: DT trained on random walks")
    ax.legend()
    return _save(fig, path)


def plot_critic_probability(path: Path, p_by_t: np.ndarray, groups: dict[str, np.ndarray], key_step: np.ndarray,
                            door_step: np.ndarray, lengths: np.ndarray, phase_lengths: Sequence[int]) -> Path:
    plt = _plt()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.8))
    H = p_by_t.shape[1]
    t = np.arange(H)
    for name, mask in groups.items():
        if mask.any():
            with np.errstate(all="ignore"):
                ax0.plot(t, np.nanmean(p_by_t[mask], axis=0), label=f"{name} ({int(mask.sum())})")
    for ax in (ax0, ax1):
        for b in np.cumsum(phase_lengths)[:2]:
            ax.axvline(b - 0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("timestep")
        ax.set_ylim(-0.02, 1.02)
    ax0.set_ylabel("predicted P(success)")
    ax0.set_title("mean over held-out episodes")
    ax0.legend(fontsize=8)
    examples = np.flatnonzero(groups["success"] & (key_step >= 0))[:4]
    examples = np.concatenate([examples, np.flatnonzero(groups["failed, key picked up"])[:2]])
    for e in examples:
        line, = ax1.plot(np.arange(lengths[e]), p_by_t[e, : lengths[e]], marker=".", lw=1)
        ax1.plot([key_step[e]], [p_by_t[e, key_step[e]]], marker="*", ms=12, color=line.get_color())
        if door_step[e] >= 0:
            ax1.plot([door_step[e]], [p_by_t[e, door_step[e]]], marker="s", ms=8, color=line.get_color())
    ax1.set_title("single episodes (* key picked up, ■ door opened)")
    fig.suptitle("Key-to-Door critic: predicted success probability over the episode")
    return _save(fig, path)


def plot_critic_attention(path: Path, attn: list[np.ndarray], success: np.ndarray, key_step: np.ndarray,
                          door_step: np.ndarray, lengths: np.ndarray, n_examples: int = 3) -> Path:
    """Rows: layers; columns: successful example episodes; bars: attention of the last token per step."""
    plt = _plt()
    # episodes whose door opened well before the end first, so that attention to it is not just recency
    candidates = np.flatnonzero(success & (key_step >= 0))
    examples = candidates[np.argsort(door_step[candidates] - lengths[candidates], kind="stable")][:n_examples]
    n_cols = max(len(examples), 1)
    fig, axes = plt.subplots(len(attn), n_cols, figsize=(4 * n_cols, 2.4 * len(attn)), squeeze=False)
    for layer, a in enumerate(attn):
        for col, e in enumerate(examples):
            ax = axes[layer, col]
            L = lengths[e]
            colors = ["C1" if s == key_step[e] else ("C3" if s in (door_step[e], door_step[e] + 1) else "C0")
                      for s in range(L)]
            ax.bar(np.arange(L), a[e, :L], color=colors)
            ax.set_title(f"layer {layer + 1}, episode {e}: key at t={key_step[e]}, door opened at t={door_step[e]}",
                         fontsize=8)
            ax.set_xlabel("timestep", fontsize=8)
    fig.suptitle("Attention of the last token over the episode (orange: key pick-up step, red: door opened and the step after)")
    fig.tight_layout()
    return _save(fig, path)


def plot_learning_curve(path: Path, records: Sequence[dict], title: str, target: float | None = None) -> Path:
    """A behaviour learner's snapshot curve (snapshots.jsonl records: step, stochastic_return, stochastic_std,
    optional wall_s): mean return +- std over the snapshot's evaluation episodes against env steps, the target
    as a dashed line, the training wall time in hours on the top axis where recorded."""
    plt = _plt()
    recs = sorted(records, key=lambda r: r["step"])
    steps = np.array([r["step"] for r in recs], np.float64)
    mean = np.array([r["stochastic_return"] for r in recs], np.float64)
    std = np.array([r.get("stochastic_std", 0.0) for r in recs], np.float64)
    episodes = sorted({r.get("episodes") for r in recs if r.get("episodes")})
    fig, ax = plt.subplots(figsize=(7, 3.8))
    label = f"snapshot mean return +- std ({'/'.join(map(str, episodes))} episodes)" if episodes else "snapshot return"
    ax.plot(steps, mean, marker=".", label=label)
    ax.fill_between(steps, mean - std, mean + std, alpha=0.25)
    if target is not None:
        ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("return (sampled actions)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    if all("wall_s" in r for r in recs) and len(recs) > 1:
        hours = np.array([r["wall_s"] for r in recs], np.float64) / 3600
        top = ax.secondary_xaxis("top", functions=(lambda x: np.interp(x, steps, hours),
                                                   lambda h: np.interp(h, hours, steps)))
        top.set_xlabel("training wall time (h)")
    return _save(fig, path)


def seeds_text(n: int) -> str:
    """A plot legend's count: 'mean of 3 seeds', or '1 seed' (one run is no mean)."""
    return "1 seed" if n == 1 else f"mean of {n} seeds"
