"""Shared pieces of the benchmarks: episode runner for non-transformer policies, result files, tables."""

from __future__ import annotations

import datetime
import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..envs_util import make_env


def run_policy(env_id: str, act: Callable[[np.ndarray], np.ndarray], num_episodes: int, seed: int,
               env_kwargs: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Run `num_episodes` episodes (episode e reset with seed + e) all at once, one batched `act` call
    per step on the observations of the episodes still running. Returns per-episode returns, lengths,
    and whether each terminated."""
    envs = [make_env(env_id, **(env_kwargs or {})) for _ in range(num_episodes)]
    try:
        obs = np.stack([env.reset(seed=seed + e)[0] for e, env in enumerate(envs)])
        returns = np.zeros(num_episodes)
        lengths = np.zeros(num_episodes, np.int64)
        terminated = np.zeros(num_episodes, bool)
        live = np.ones(num_episodes, bool)
        while live.any():
            rows = np.flatnonzero(live)
            actions = act(obs[rows])
            for i, a in zip(rows, actions):
                o, r, term, trunc, _ = envs[i].step(a)
                obs[i] = o
                returns[i] += r
                lengths[i] += 1
                if term or trunc:
                    live[i] = False
                    terminated[i] = term
        return {"returns": returns, "lengths": lengths, "terminated": terminated}
    finally:
        for env in envs:
            env.close()


@functools.lru_cache(maxsize=None)
def git_commit() -> str:
    """HEAD when first called in this process (cached): a bench calls it when it starts, so a run records the
    commit its code came from even if commits land while it runs."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()}-core CPU, {platform.system()} (Python {platform.python_version()})"


def provenance(command: str, wall_time_s: float) -> dict[str, Any]:
    return {"command": command, "git_commit": git_commit(), "machine": machine(),
            "date": datetime.date.today().isoformat(), "wall_time_s": round(wall_time_s, 1)}


def summarize(results: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """mean and (population) std over seeds for every method and data."""
    return {m: {d: {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)} for d, v in per.items() if v}
            for m, per in results.items()}


def markdown_table(results: dict[str, dict[str, list[float]]], data_names: list[str], labels: dict[str, str],
                   percent: bool = True, paper: dict[str, dict[str, float]] | None = None) -> str:
    """Rows: methods; columns: data, 'mean ± std (n seeds)', with the paper's value when given."""
    head = "| method | " + " | ".join(data_names) + " |"
    lines = [head, "|---" * (len(data_names) + 1) + "|"]
    scale = 100.0 if percent else 1.0
    unit = "%" if percent else ""
    for method, per in results.items():
        cells = []
        for d in data_names:
            v = per.get(d, [])
            if not v:
                cells.append("—")
                continue
            cell = f"{scale * np.mean(v):.1f}{unit} ± {scale * np.std(v):.1f} (n={len(v)})"
            if paper and method in paper and d in paper[method]:
                cell += f" [paper {paper[method][d]:g}{unit}]"
            cells.append(cell)
        lines.append(f"| {labels.get(method, method)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
