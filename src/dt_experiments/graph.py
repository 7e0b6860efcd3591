"""`dt bench graph`: the paper's Figure 2 (shortest paths on a graph from random-walk data).

For each seed: generate random-walk trajectories (the seed picks the data; the graph is fixed), train
DT and BC (the same transformer without return tokens) on whole episodes, and evaluate on every
(start, goal) pair of the graph (380 pairs for 20 nodes). DT is conditioned on the largest possible
return from its start, minus the shortest-path length (the reset `info` gives it). The random policy
is the random walk itself. The metric is the fraction of pairs solved by a shortest path; the path
length distribution of DT, the random walk and the true shortest paths is plotted as in Figure 2.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from decision_transformer.common import runtime
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.envs.graph import DEFAULT_HORIZON, DEFAULT_NUM_NODES, ENV_ID, RandomGraph, pair_of_index, random_walk_dataset
from decision_transformer.evaluate import evaluate
from decision_transformer.common.atomic import write_json, write_text
from decision_transformer.run_config import TrainConfig
from .configs import GRAPH_METHODS, GraphBenchConfig
from .common import check_seeds, git_commit, markdown_table, provenance, summarize, train_cell
from decision_transformer.common.seeding import derive_seed

LABELS = {"dt": "DT", "bc": "BC", "random": "Random walk"}
DATA = "random-walk"


QUICK = GraphBenchConfig(seeds=2, num_episodes=300, embed_dim=32, n_layer=1, selection_seeds=(),
                         train=TrainConfig(sampler="episode", steps=30, batch_size=16, lr=1e-3, warmup_steps=10,
                                           save_every=10, progress=False),
                         runs_dir="runs/bench/graph-quick")


def _random_walk_lengths(graph: RandomGraph, starts: np.ndarray, goals: np.ndarray, horizon: int, seed: int) -> np.ndarray:
    """Length of one random walk per pair; horizon + 1 where the goal was not reached in time."""
    rng = np.random.default_rng(seed)
    node = starts.copy()
    length = np.full(len(starts), horizon + 1, np.int64)
    alive = np.ones(len(starts), bool)
    for t in range(horizon):
        node = np.where(alive, graph.random_neighbour(node, rng), node)
        arrived = alive & (node == goals)
        length[arrived] = t + 1
        alive &= ~arrived
    return length


def _path_lengths(cfg: GraphBenchConfig, method: str, data, seed: int, graph: RandomGraph, pairs: np.ndarray) -> np.ndarray:
    """Path length of `method` from every (start, goal) pair; horizon + 1 where the goal was not reached."""
    H = DEFAULT_HORIZON
    if method == "random":
        return _random_walk_lengths(graph, pairs[:, 0], pairs[:, 1], H, seed=derive_seed(seed, "walk-eval"))
    model_cfg = cfg.model_config(H, condition_on_return=method == "dt")
    with runtime.torch_threads(cfg.torch_threads):
        run = train_cell(cfg.train, model_cfg, data, Path(cfg.runs_dir) / f"seed{seed}" / method, seed,
                         prep=Preprocessing.fit(data))
    res = evaluate(run, ENV_ID, [lambda info: -float(info["shortest_path_length"])], num_episodes=len(pairs),
                   num_envs=100, seed=0, env_kwargs={"pair_from_seed": True}, progress=False)[0]
    lengths = np.asarray(res.lengths, np.int64)
    # an episode that used the whole horizon counts as not reached (no shortest path is that long)
    return np.where(lengths >= H, H + 1, lengths)


def run_graph(cfg: GraphBenchConfig, out_dir: str | Path, command: str = "", progress: bool = True,
              resume: bool = False) -> dict[str, Any]:
    """Run the benchmark and write graph.json, graph.md and graph_path_lengths.png into out_dir. With `resume`,
    the training runs of a killed run continue from their checkpoints (finished ones are reused)."""
    unknown = sorted(set(cfg.methods) - set(GRAPH_METHODS))
    if unknown:
        raise ValueError(f"GraphBenchConfig.methods has unknown {unknown}; expected a subset of {list(GRAPH_METHODS)}")
    from .plots import plot_path_lengths

    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    check_seeds(seeds, cfg.selection_seeds, cfg.selection_run)
    if not resume and Path(cfg.runs_dir).exists():
        shutil.rmtree(cfg.runs_dir)
    out_dir = Path(out_dir)
    git_commit()  # pin the commit this run starts from (provenance reads it at the end)
    t0 = time.perf_counter()
    n, H = DEFAULT_NUM_NODES, DEFAULT_HORIZON
    graph = RandomGraph()
    num_pairs = n * (n - 1)
    pairs = np.array([pair_of_index(i, n) for i in range(num_pairs)])
    shortest = graph.distances[pairs[:, 0], pairs[:, 1]]
    results: dict[str, dict[str, list[float]]] = {m: {DATA: []} for m in cfg.methods}
    mean_length: dict[str, list[float]] = {m: [] for m in cfg.methods}
    lengths_all: dict[str, list[np.ndarray]] = {m: [] for m in cfg.methods}
    for seed in seeds:
        data = random_walk_dataset(cfg.num_episodes, seed=seed)
        for method in cfg.methods:
            t1 = time.perf_counter()
            lengths = _path_lengths(cfg, method, data, seed, graph, pairs)
            solved = float(np.mean(lengths == shortest))
            results[method][DATA].append(solved)
            mean_length[method].append(float(np.mean(np.minimum(lengths, H + 1))))
            lengths_all[method].append(lengths)
            if progress:
                print(f"graph seed={seed} {method}: shortest-path fraction {solved:.3f} ({time.perf_counter() - t1:.0f}s)",
                      flush=True)
    labels = {"dt": "Decision Transformer", "bc": "BC (no return tokens)", "random": "random walk"}
    hist = {labels[m]: np.concatenate(lengths_all[m]) for m in ("dt", "random", "bc") if m in lengths_all}
    hist["shortest path"] = np.tile(shortest, len(seeds))
    plot_path_lengths(out_dir / "graph_path_lengths.png", hist, H)
    wall = time.perf_counter() - t0
    report = {
        "task": "graph",
        "seeds": seeds,
        "selection_seeds": list(cfg.selection_seeds),
        "selection_run": cfg.selection_run,
        "spread": "sample std (n-1) over seeds",
        "env_id": ENV_ID,
        "metric": "fraction of the (start, goal) pairs solved by a shortest path, one value per seed",
        "results": results,
        "summary": summarize(results),
        "mean_path_length": mean_length,
        "path_length_note": f"{H + 1} stands for 'not reached within the horizon of {H} steps'",
        "graph": {"num_nodes": n, "num_edges": int(graph.adjacency.sum()), "generator_seed": graph.seed_used,
                  "pairs": num_pairs, "shortest_path_length_counts": np.bincount(shortest).tolist()},
        "data": {"episodes": cfg.num_episodes, "reached_goal_fraction": float(data.terminations.sum() / data.num_episodes)},
        "config": cfg.to_dict(),
        **provenance(command, wall),
    }
    write_json(out_dir / "graph.json", report)
    table = markdown_table(results, [DATA], LABELS, percent=True)
    write_text(out_dir / "graph.md", (
        f"# Graph shortest path (paper Figure 2): fraction of (start, goal) pairs solved by a shortest path, "
        f"mean ± sample std (n-1) over seeds {seeds}\n\n"
        f"{table}\n`{command}` on {report['machine']}, {report['date']}, wall time {wall / 60:.1f} min, "
        f"commit {report['git_commit'][:10]}.\n"))
    return report
