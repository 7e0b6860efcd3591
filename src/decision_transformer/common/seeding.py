"""Every derived seed in one place: `derive_seed(base, *purpose)`.

A run has one seed (training, generation or evaluation). Whatever else needs a seed derives it here, naming its
purpose, so that no module writes an offset of its own. Published runs and the committed datasets were made with
the rules below, so each keeps its exact value; a purpose that is not in the table raises ValueError (there is no
fallback hashing). A new purpose gets a new row here.

    purpose                     seed                        what it seeds (base)
    "episode", e                base + e                    reset of episode e of a run (runner.py: evaluation,
                                                            `dt eval --video`, the benches' baselines)
    "train-eval"                10_000 + base               evaluation during/after training (trainer.py, `dt demo`,
                                                            the paper bench's learning curves); base: training seed
    "paper-eval"                1_000_000 * (base + 1)      first evaluation episode of training seed base (paper
                                                            bench, Key-to-Door bench); disjoint across seeds
    "walk-eval"                 1_000_000 + base            bench/graph.py's random-walk baseline
    "target-selection"          500_000 + base              `dt eval --choose-target`: the episodes its candidate
                                                            targets are compared on (base: --seed; reported episodes
                                                            start at base, so the two ranges are disjoint)
    "learner-eval", "sampled"   10_000 + base // 1000       suite behaviour learners (PPO, SAC), evaluation at
    "learner-eval", "mean"      20_000 + base // 1000       training step base: sampled / mean actions
    "learner-sitting", k        base + 1000 * k             SAC learner's envs and sampling in sitting k (k = earlier
                                                            cuts, plus 1 when resuming a run)
    "d3rlpy-resume", done       base + done                 d3rlpy's global seed when a baseline resumes at step done
    "suite-quality", q          base + QUALITY_OFFSETS[q]   rollouts of suite dataset quality q (also recorded in
                                                            assets/suite/suite.json as generation.seed_offsets)
    "rollout-env", i            base * 1000 + i             suite rollouts: first reset of env i
    "pendulum-episode", e       base * 100_000 + e          pendulum-mixed (data/demo.py): reset of episode e
    "atari-episode", e          base * 1_000_000 + e        Atari datasets (dt_experiments/suite/atari.py): reset of episode e
    "graph", k                  base * 1000 + k             envs/graph.py: k-th try at a connected graph
"""

from __future__ import annotations

import inspect
import numbers
from typing import Callable

QUALITY_OFFSETS = {"random": 0, "medium": 100, "medium-replay": 200, "expert": 300, "medium-expert": 0}
_LEARNER_EVAL = {"sampled": 10_000, "mean": 20_000}

_RULES: dict[str, Callable[..., int]] = {
    "episode": lambda base, e: base + e,
    "train-eval": lambda base: 10_000 + base,
    "paper-eval": lambda base: 1_000_000 * (base + 1),
    "walk-eval": lambda base: 1_000_000 + base,
    "target-selection": lambda base: 500_000 + base,
    "learner-eval": lambda base, actions: _LEARNER_EVAL[actions] + base // 1000,
    "learner-sitting": lambda base, k: base + 1000 * k,
    "d3rlpy-resume": lambda base, done: base + done,
    "suite-quality": lambda base, quality: base + QUALITY_OFFSETS[quality],
    "rollout-env": lambda base, i: base * 1000 + i,
    "pendulum-episode": lambda base, e: base * 100_000 + e,
    "atari-episode": lambda base, e: base * 1_000_000 + e,
    "graph": lambda base, k: base * 1000 + k,
}
PURPOSES = tuple(_RULES)


def _int(x, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {x!r}")
    return int(x)


def derive_seed(base: int, *purpose: str | int) -> int:
    """The seed for `purpose` (a name from the module's table, then its arguments) derived from `base`."""
    if not purpose or not isinstance(purpose[0], str) or purpose[0] not in _RULES:
        raise ValueError(f"unknown seed purpose {purpose!r}; the purposes are {list(PURPOSES)} (seeding.py)")
    name, *args = purpose
    rule = _RULES[name]
    expected = list(inspect.signature(rule).parameters)[1:]
    if len(args) != len(expected):
        raise ValueError(f"seed purpose {name!r} takes {expected}, got {args!r}")
    args = [a if isinstance(a, str) else _int(a, f"{name!r} argument {p!r}") for a, p in zip(args, expected)]
    try:
        return int(rule(_int(base, "base"), *args))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"seed purpose {name!r}: bad arguments {args!r}") from exc
