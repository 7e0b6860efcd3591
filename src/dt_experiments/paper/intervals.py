"""Interval estimates of the paper report (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice",
through their `rliable`, the `[stats]` extra): pure statistics on plain numbers, called by `report.py`.

- `cell_ci95(scores)`: a stratified-bootstrap 95% interval of one cell's mean over its seeds ([x, x] for one seed).
- `iqm(matrix)`: the interquartile mean over runs x datasets, with its 95% interval, as [lo, mid, hi].
- `probability_of_improvement(x, y)`: P(X > Y) averaged over datasets, with its 95% interval, as [lo, mid, hi].
- `aggregates(per_dataset)`: an experiment's IQM per method and P(dt > M) per other method, each over the datasets
  where the method(s) have every seed, with those datasets and seed counts.

A method's runs are a runs x datasets matrix, or, where a dataset has more seeds than another (the headline cells get
5 seeds, the rest 3), a list of one array of runs per dataset ("ragged"). A matrix goes through rliable; ragged runs
through `_ragged_estimate`, the same stratified bootstrap (each dataset's runs resampled apart, with replacement) with
the same point estimates, so that adding seeds to one dataset never drops the others from an aggregate.

Every bootstrap uses `REPS` resamples from a fixed seed (`SEED`), so a report regenerated from the same cells gives
the same numbers. rliable draws its resamples from numpy's global generator (its `random_state` argument does not
reach them): `_seeded` seeds that generator for the call and restores the caller's state afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable, Iterator, Sequence, Union

import numpy as np

REPS = 2000
"""Bootstrap resamples per interval (rliable's default is 50k; 2k keeps `dt bench report` at seconds)."""
SEED = 0
"""Seed of every bootstrap (reproducible intervals)."""
REFERENCE = "dt"
"""Probability of improvement is P(REFERENCE > M) for every other method M of an experiment."""
EXTRA = "pip install 'decision-transformer[stats]'"


def _rliable() -> tuple[Any, Any]:
    """rliable's `library` and `metrics` modules, or a one-line ImportError naming the extra."""
    try:
        from rliable import library, metrics
    except ImportError as exc:
        raise ImportError(f"the report's intervals need rliable: {EXTRA}") from exc
    return library, metrics


@contextlib.contextmanager
def _seeded(seed: int = SEED) -> Iterator[None]:
    """numpy's global generator seeded with `seed` for the block (rliable's bootstraps draw their resamples from it,
    whatever `random_state` they are given), the caller's state restored after."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


Runs = Union[np.ndarray, Sequence[np.ndarray]]
"""A method's runs: a runs x datasets matrix, or one 1-D array of runs per dataset (ragged; module docstring)."""


def _columns(runs: Runs) -> list[np.ndarray]:
    """One 1-D float64 array of runs per dataset, from a runs x datasets matrix or a per-dataset sequence."""
    if isinstance(runs, np.ndarray):
        if runs.ndim != 2:
            raise ValueError(f"expected a runs x datasets matrix or one array of runs per dataset, got shape {runs.shape}")
        return [runs[:, j].astype(np.float64) for j in range(runs.shape[1])]
    return [np.asarray(c, np.float64).reshape(-1) for c in runs]


def _matrix_of(columns: list[np.ndarray]) -> np.ndarray | None:
    """The runs x datasets matrix of `columns` if every dataset has as many runs, else None (ragged)."""
    return np.stack(columns, axis=1) if len({len(c) for c in columns}) == 1 else None


def _ragged_estimate(groups: list[list[np.ndarray]], stat: Callable[..., float], reps: int | None = None
                     ) -> list[float]:
    """[lo, stat(*groups), hi]: the stratified-bootstrap 95% percentile interval of `stat` around its value, each
    method's runs (a group: one array per dataset) resampled with replacement within each dataset, `reps` (REPS)
    times, from a fixed seed."""
    rng = np.random.default_rng(SEED)
    values = [stat(*[[c[rng.integers(0, len(c), len(c))] for c in group] for group in groups])
              for _ in range(reps or REPS)]
    lo, hi = np.percentile(values, [2.5, 97.5])
    return _snap(float(lo), stat(*groups), float(hi))


def _interval(data: np.ndarray | list[np.ndarray], func: Callable[..., np.ndarray]) -> list[float]:
    """[lo, point, hi]: func's point estimate on `data` and its stratified-bootstrap 95% percentile interval."""
    library, _ = _rliable()
    with _seeded():
        point, interval = library.get_interval_estimates({"x": data}, func, reps=REPS)
    lo, hi = np.asarray(interval["x"], np.float64).reshape(2, -1)[:, 0]
    mid = float(np.asarray(point["x"]).reshape(-1)[0])
    return _snap(float(lo), mid, float(hi))


def _snap(lo: float, mid: float, hi: float) -> list[float]:
    """[lo, mid, hi] with a bound that lies a rounding error past the estimate set to it (a constant sample's
    resampled means differ from its mean in the last bits); a real difference is kept."""
    tol = 1e-9 * max(1.0, abs(mid))
    return [mid if 0 < lo - mid <= tol else lo, mid, mid if 0 < mid - hi <= tol else hi]


def cell_ci95(scores: Sequence[float | None]) -> list[float] | None:
    """A stratified-bootstrap 95% interval [lo, hi] of the mean of one cell's per-seed scores (None and non-finite
    ones left out); [x, x] for a single seed, None for none."""
    values = _finite(scores)
    if not values:
        return None
    if len(values) == 1:
        return [values[0], values[0]]
    return list(_mean_ci(tuple(values)))


@functools.lru_cache(maxsize=4096)  # one training run's scores recur in several experiments (table2, table3, context)
def _mean_ci(values: tuple[float, ...]) -> tuple[float, float]:
    lo, _, hi = _interval(np.asarray(values, np.float64)[:, None], lambda x: np.array([np.mean(x)]))
    return lo, hi


def iqm(scores: Runs) -> list[float]:
    """Interquartile mean of a method's runs (`Runs`: every run's score pooled, as rliable's over a matrix), with its
    stratified-bootstrap 95% interval: [lo, iqm, hi]."""
    columns = _columns(scores)
    if not columns or any(c.size == 0 for c in columns):
        raise ValueError("iqm: expected a non-empty runs x datasets matrix (or runs on every dataset)")
    matrix = _matrix_of(columns)
    if matrix is not None:
        return list(_iqm(tuple(map(tuple, matrix.tolist()))))
    pooled = lambda cols: interquartile_mean(np.concatenate(cols))  # noqa: E731
    return _ragged_estimate([columns], pooled)


@functools.lru_cache(maxsize=1024)
def _iqm(rows: tuple[tuple[float, ...], ...]) -> tuple[float, float, float]:
    _, metrics = _rliable()
    scores = np.asarray(rows, np.float64)
    point = float(metrics.aggregate_iqm(scores))
    lo, _, hi = _interval(scores, lambda x: np.array([interquartile_mean(x)]))
    lo, _, hi = _snap(lo, point, hi)
    return lo, point, hi


def interquartile_mean(scores: np.ndarray) -> float:
    """rliable's `metrics.aggregate_iqm` (scipy's trim_mean cutting 25% off each end of all runs x datasets scores)
    without scipy's per-call overhead, which made the bootstrap's REPS calls take a second per method."""
    flat = np.sort(np.asarray(scores, np.float64), axis=None)
    cut = int(0.25 * flat.size)
    return float(np.mean(flat[cut:flat.size - cut]))


def probability_of_improvement(x: Runs, y: Runs) -> list[float]:
    """P(X > Y) averaged over datasets (each method's `Runs` over the same datasets in the same order; the run counts
    may differ), with its stratified-bootstrap 95% interval: [lo, P, hi]."""
    cx, cy = _columns(x), _columns(y)
    if not cx or len(cx) != len(cy) or any(c.size == 0 for c in cx + cy):
        raise ValueError(f"probability_of_improvement: expected runs on the same datasets for both methods, got "
                         f"{len(cx)} and {len(cy)} datasets")
    x, y = _matrix_of(cx), _matrix_of(cy)
    if x is None or y is None:
        return _ragged_estimate([cx, cy], _ragged_improvement)
    _, metrics = _rliable()
    point = float(metrics.probability_of_improvement(x, y))
    lo, _, hi = _interval([x, y], lambda a, b: np.array([pairwise_improvement(a, b)]))
    return _snap(lo, point, hi)


def pairwise_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """rliable's `metrics.probability_of_improvement` (per dataset the Mann-Whitney U of X over Y divided by
    n_x * n_y, i.e. P(X > Y) + P(X = Y) / 2 over all run pairs; averaged over datasets) without a scipy call per
    dataset: the bootstrap evaluates it REPS times, where scipy's took 18 s for 12 datasets."""
    a, b = x[:, None, :], y[None, :, :]
    return float(np.mean(np.mean(a > b, axis=(0, 1)) + 0.5 * np.mean(a == b, axis=(0, 1))))


def _ragged_improvement(cx: list[np.ndarray], cy: list[np.ndarray]) -> float:
    """`pairwise_improvement` on ragged runs: per dataset P(X > Y) + P(X = Y) / 2 over all run pairs, averaged."""
    return float(np.mean([np.mean(a[:, None] > b[None]) + 0.5 * np.mean(a[:, None] == b[None]) for a, b in zip(cx, cy)]))


def mean_difference(x: Runs, y: Runs, reps: int = None) -> list[float]:
    """[lo, d, hi]: d = the mean over datasets of (mean of x's runs - mean of y's runs) on each dataset (each
    method's `Runs`; runs may differ in number), with a stratified-bootstrap 95% percentile interval: each
    method's runs resampled with replacement within each dataset, independently (a fixed seed)."""
    cx, cy = _columns(x), _columns(y)
    x, y = _matrix_of(cx), _matrix_of(cy)
    if x is None or y is None:  # ragged: the same bootstrap, a dataset at a time
        diff = lambda a, b: float(np.mean([u.mean() - v.mean() for u, v in zip(a, b)]))  # noqa: E731
        return _ragged_estimate([cx, cy], diff, reps)
    point = float(np.mean(x.mean(0) - y.mean(0)))
    rng = np.random.default_rng(SEED)
    n = reps or REPS
    bx = np.take_along_axis(x[None], rng.integers(0, x.shape[0], (n,) + x.shape), axis=1).mean(1)  # (n, D)
    by = np.take_along_axis(y[None], rng.integers(0, y.shape[0], (n,) + y.shape), axis=1).mean(1)
    lo, hi = np.percentile((bx - by).mean(1), [2.5, 97.5])
    return _snap(float(lo), point, float(hi))


def _full_seeds(per_dataset: dict[str, dict[str, Any]], method: str, key: str) -> tuple[list[str], int | dict[str, int]]:
    """The datasets where `method` has every seed, and its seed count (or {dataset: count} where they differ).

    "Every seed" is the number of finite scores most of its datasets have (ties: the larger): a dataset with fewer
    is left out (a cell still running), one with more (5-seed headline cells beside 3-seed ones) is kept with all its
    seeds, so that adding seeds to one dataset never drops the others."""
    counts = {d: len(_finite(per[method].get(key) or [])) for d, per in per_dataset.items() if method in per}
    counts = {d: c for d, c in counts.items() if c}
    if not counts:
        return [], 0
    tally = {c: sum(1 for v in counts.values() if v == c) for c in set(counts.values())}
    n = max(tally, key=lambda c: (tally[c], c))
    datasets = [d for d, c in counts.items() if c >= n]
    used = {counts[d] for d in datasets}
    return datasets, (n if used == {n} else {d: counts[d] for d in datasets})


def _runs(per_dataset: dict[str, dict[str, Any]], method: str, datasets: list[str], key: str) -> list[np.ndarray]:
    """`method`'s finite scores on each of `datasets`, in seed order (one array per dataset: `Runs`)."""
    return [np.asarray(_finite(per_dataset[d][method][key]), np.float64) for d in datasets]


def _seed_counts(n: int | dict[str, int], datasets: list[str]) -> int | dict[str, int]:
    """`n` (from `_full_seeds`) restricted to `datasets`: one number where they agree."""
    if isinstance(n, int):
        return n
    sub = {d: n[d] for d in datasets}
    return next(iter(sub.values())) if len(set(sub.values())) == 1 else sub


def aggregates(per_dataset: dict[str, dict[str, Any]], methods: Sequence[str], key: str = "scores") -> dict[str, Any]:
    """An experiment's aggregates over its datasets (`per_dataset`: DATASET -> METHOD -> entry with per-seed `key`):

        {"iqm": {M: [lo, iqm, hi]}, "probability_of_improvement": {"dt>M": [lo, P, hi]},
         "mean_difference": {"dt-M": [lo, mean over datasets of dt's mean minus M's, hi]},
         "n": {"iqm": {M: {"datasets": [...], "seeds": n}},
               "probability_of_improvement": {"dt>M": {"datasets": [...], "seeds": {"dt": n, M: m}}}}}

    Each over the datasets where the method (both methods, for a pair) has every seed (`_full_seeds`); a method or
    pair with no such dataset is left out. A seed count is {dataset: n} where the datasets' counts differ. `methods` gives the order (the table's columns)."""
    out: dict[str, Any] = {"iqm": {}, "probability_of_improvement": {},
                           "n": {"iqm": {}, "probability_of_improvement": {}}}
    full = {m: _full_seeds(per_dataset, m, key) for m in methods}
    for m in methods:
        datasets, n = full[m]
        if datasets:
            out["iqm"][m] = iqm(_runs(per_dataset, m, datasets, key))
            out["n"]["iqm"][m] = {"datasets": datasets, "seeds": n}
    if REFERENCE not in full:
        return out
    ref_datasets, n_ref = full[REFERENCE]
    for m in methods:
        if m == REFERENCE:
            continue
        datasets = [d for d in full[m][0] if d in ref_datasets]
        if not datasets:
            continue
        pair = f"{REFERENCE}>{m}"
        xs, ys = _runs(per_dataset, REFERENCE, datasets, key), _runs(per_dataset, m, datasets, key)
        out["probability_of_improvement"][pair] = probability_of_improvement(xs, ys)
        out.setdefault("mean_difference", {})[f"{REFERENCE}-{m}"] = mean_difference(xs, ys)
        out["n"]["probability_of_improvement"][pair] = {"datasets": datasets,
                                                        "seeds": {REFERENCE: _seed_counts(n_ref, datasets),
                                                                  m: _seed_counts(full[m][1], datasets)}}
    return out
