"""`dt bench keytodoor`: the paper's Table 6 (success rate on Key-to-Door from 1K / 10K random trajectories).

For each seed and each data size: generate uniformly random trajectories (the seed picks the data),
train DT, BC (the same transformer without return tokens) and %BC (BC on the top 10/25/40% of
timesteps by episode return) on whole episodes, train discrete CQL (d3rlpy), and evaluate each on the
same `eval_episodes` seeded episodes. DT is conditioned on a return of 1 (success). The random policy is
evaluated on the same episodes. Then the critic analysis (`bench/critic.py`) on the largest data.

`dt_balanced` is DT trained with return-balanced episode sampling (`EpisodicTrainConfig.return_balanced`):
half of each batch is successful episodes. The weight depends only on the episode return, which the
whole-episode context shows, so DT's target p(a_t | context) is the same; from 1K trajectories (~30
successes) uniform sampling lets DT memorise the failures' random actions first.

`bc_success` is a diagnostic beyond the paper's methods: BC on the successful episodes only, i.e. %BC with
its percentile at the data's success rate. Random data succeed in ~3% of episodes, so the paper's top
10% holds about 70% failed episodes (ties at return 0), and BC on it imitates a mostly random policy.

Every transformer trains through the library's `Trainer` (whole episodes: `sampler="episode"`), one run
directory per (seed, data, method) under `runs_dir`, so a killed bench resumes each run from its last
checkpoint (`--resume`), and the JSON is rewritten after each (seed, data) block.

Choosing settings: every setting chosen by looking at evaluation results was chosen on `selection_seeds`,
and the reported seeds (`first_seed` ..) are disjoint from them (checked; a run on selection seeds must say
`--selection-run`). `eval_every` records learning curves (`curves` in the JSON, from the runs' metrics).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decision_transformer.common import runtime
from decision_transformer.common.atomic import write_json, write_text
from decision_transformer.data.preprocess import Preprocessing
from decision_transformer.envs.keytodoor import DEFAULT_PHASE_LENGTHS, ENV_ID, NUM_ACTIONS, random_dataset
from decision_transformer.common.envs_util import make_env
from decision_transformer.evaluate import RolloutPolicy, evaluate
from decision_transformer.common.metrics import read_metrics
from decision_transformer.runner import FunctionAgent, run_episodes
from decision_transformer.common.seeding import derive_seed
from decision_transformer.train import loss_history
from .common import check_seeds, git_commit, markdown_table, provenance, summarize, train_cell
from .configs import KEYTODOOR_METHODS, TOP_FRACTIONS, KeyToDoorBenchConfig
from .cql import CQLConfig

PAPER_TABLE6 = {  # success rate in %, the paper's Table 6
    "dt": {"1k": 71.8, "10k": 94.6},
    "cql": {"1k": 13.1, "10k": 13.3},
    "bc": {"1k": 1.4, "10k": 1.6},
    "pbc": {"1k": 69.9, "10k": 95.1},
    "random": {"1k": 3.1, "10k": 3.1},
}
LABELS = {"dt": "DT", "dt_balanced": "DT, return-balanced sampling", "bc": "BC", "pbc10": "10%BC", "pbc25": "25%BC", "pbc40": "40%BC", "bc_success": "BC on successes",
          "cql": "CQL", "random": "Random"}


QUICK = KeyToDoorBenchConfig(
    seeds=2, data_sizes=(200, 500), embed_dim=32, n_layer=1, selection_seeds=(),
    train=dataclasses.replace(KeyToDoorBenchConfig().train, steps=30, batch_size=16, warmup_steps=10, save_every=10),
    balanced_steps=30, bc_success_steps=20, pbc_steps=20, cql=CQLConfig(steps=50), eval_episodes=20, critic_steps=30,
    runs_dir="runs/bench/keytodoor-quick",
)


def data_name(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def run_keytodoor(cfg: KeyToDoorBenchConfig, out_dir: str | Path, command: str = "", progress: bool = True,
                  resume: bool = False) -> dict[str, Any]:
    """Run the benchmark and write keytodoor.json, keytodoor.md and the critic PNGs into out_dir. The JSON is
    rewritten (atomically) after each (seed, data) block; with `resume`, a killed run continues: finished
    blocks are kept, not rerun (the settings must be the same), and each unfinished training run continues
    from its last checkpoint in `runs_dir`."""
    unknown = sorted(set(cfg.methods) - set(KEYTODOOR_METHODS))
    if unknown:
        raise ValueError(f"KeyToDoorBenchConfig.methods has unknown {unknown}; expected a subset of {list(KEYTODOOR_METHODS)}")
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    check_seeds(seeds, cfg.selection_seeds, cfg.selection_run)
    if "cql" in cfg.methods:
        from .common import d3rlpy_module

        d3rlpy_module()  # fail now, not after an hour of training, if the baselines extra is missing
    out_dir = Path(out_dir)
    git_commit()  # pin the commit this run starts from (provenance reads it at the end)
    t0 = time.perf_counter()
    results: dict[str, dict[str, list[float]]] = {m: {data_name(n): [] for n in cfg.data_sizes} for m in cfg.methods}
    timings: dict[str, list[float]] = {m: [] for m in cfg.methods}
    curves: dict[str, dict[str, list[list[list[float]]]]] = {}
    losses: dict[str, dict[str, list[list[list[float]]]]] = {}  # loss_history[method][data][seed]: [step, loss] rows
    completed: list[list[Any]] = []  # [seed, data name] blocks done
    wall_before = 0.0
    if resume:
        results, timings, curves, losses, completed, wall_before = _load_partial(out_dir / "keytodoor.json", cfg)
    elif Path(cfg.runs_dir).exists():
        shutil.rmtree(cfg.runs_dir)
    with runtime.torch_threads(cfg.torch_threads):
        for seed in seeds:
            for n in cfg.data_sizes:
                name = data_name(n)
                if [seed, name] in completed:
                    continue
                data = random_dataset(n, seed=seed)
                for method in cfg.methods:
                    t1 = time.perf_counter()
                    success, curve, history = _run_method(cfg, method, data, seed, name)
                    results[method][name].append(success)
                    timings[method].append(time.perf_counter() - t1)
                    if curve:
                        curves.setdefault(method, {}).setdefault(name, []).append(curve)
                    if history is not None:
                        losses.setdefault(method, {}).setdefault(name, []).append(history)
                    if progress:
                        print(f"keytodoor seed={seed} data={name} {method}: success {success:.3f} "
                              f"({time.perf_counter() - t1:.0f}s)", flush=True)
                # results so far, so that a long run can be inspected (and is not lost) before it ends
                completed.append([seed, name])
                _write(out_dir, cfg, results, timings, command, wall_before + time.perf_counter() - t0, partial=True,
                       curves=curves, losses=losses, completed=completed)
        critic_info = None
        if cfg.critic:
            from .critic import run_critic

            critic_info = run_critic(max(cfg.data_sizes), cfg, out_dir)
    return _write(out_dir, cfg, results, timings, command, wall_before + time.perf_counter() - t0, partial=False,
                  critic=critic_info, curves=curves, losses=losses, completed=completed)


def _run_method(cfg: KeyToDoorBenchConfig, method: str, data, seed: int, name: str):
    """(success rate, learning curve or None, loss history or None) of one method on one dataset."""
    eval_seed = derive_seed(seed, "paper-eval")
    def function_success(act) -> float:
        eps = run_episodes(FunctionAgent(act), [lambda: make_env(ENV_ID)] * min(cfg.eval_episodes, 100),
                           cfg.eval_episodes, seed=eval_seed)
        return float(np.mean(np.asarray(eps.returns) > 0.5))

    if method == "random":
        rng = np.random.default_rng(eval_seed)
        return function_success(lambda o: rng.integers(0, NUM_ACTIONS, size=len(o))), None, None
    if method == "cql":
        from .cql import train_discrete_cql

        cql_curve: list[list[float]] = []
        act = train_discrete_cql(data, dataclasses.replace(cfg.cql, seed=seed), callback_every=cfg.cql_eval_every,
                                 callback=lambda step, act: cql_curve.append([step, function_success(act)]))
        if cql_curve and cql_curve[-1][0] == cfg.cql.steps:
            return cql_curve[-1][1], cql_curve, None
        return function_success(act), cql_curve or None, None
    kind = "dt" if method.startswith("dt") else "bc"
    train_data = data.top_fraction(TOP_FRACTIONS[method]) if method in TOP_FRACTIONS else data
    if method == "bc_success":
        # the successful episodes (the highest-return ones, should a small dataset have none)
        train_data = data.select_episodes(np.flatnonzero(data.episode_returns == data.episode_returns.max()))
    H = sum(DEFAULT_PHASE_LENGTHS)
    model_cfg = cfg.model_config(H, condition_on_return=kind == "dt")
    prep = Preprocessing.fit(data)  # the full data's statistics, also for %BC and bc_success
    base = dataclasses.replace(cfg.train, steps=cfg.steps_of(method), return_balanced=method == "dt_balanced")

    def hook(step: int, model: torch.nn.Module) -> dict[str, float]:
        return {"eval/success": _success(RolloutPolicy(model, prep, True, NUM_ACTIONS), cfg.eval_episodes, eval_seed,
                                         cfg.eval_temperature)}

    run_dir = Path(cfg.runs_dir) / f"seed{seed}" / name / method
    run = train_cell(base, model_cfg, train_data, run_dir, seed, prep=prep, hook=hook if cfg.eval_every else None,
                     hook_every=cfg.eval_every)
    curve = [[r["step"], r["eval/success"]] for r in read_metrics(run_dir) if "eval/success" in r]
    if curve and curve[-1][0] == base.steps:
        success = curve[-1][1]  # the final model, already evaluated on these episodes
    else:
        success = _success(RolloutPolicy.from_run(run), cfg.eval_episodes, eval_seed, cfg.eval_temperature)
    return success, curve, loss_history(run_dir)


def _load_partial(path: Path, cfg: KeyToDoorBenchConfig):
    """What a killed run left in `path`: results, run_seconds, curves, loss histories, completed blocks, wall
    time so far."""
    if not path.exists():
        raise FileNotFoundError(f"--resume: {path} does not exist (nothing to resume; run without --resume)")
    report = json.loads(path.read_text())
    if not report.get("partial", False):
        raise ValueError(f"--resume: {path} is a finished run (field 'partial' is false); nothing to resume")
    saved, wanted = report.get("config", {}), json.loads(json.dumps(cfg.to_dict()))
    for key in sorted(set(saved) | set(wanted)):
        if saved.get(key) != wanted.get(key):
            raise ValueError(f"--resume: {path} field 'config.{key}' is {saved.get(key)!r}, but this run has "
                             f"{wanted.get(key)!r}; resume with the same settings")
    if "completed" not in report or "run_seconds" not in report:
        raise ValueError(f"--resume: {path} has no field 'completed' / 'run_seconds' (written by an older version)")
    return (report["results"], report["run_seconds"], report.get("curves", {}), report.get("loss_history", {}),
            report["completed"], float(report.get("wall_time_s", 0.0)))


def _success(policy: RolloutPolicy, num_episodes: int, seed: int, temperature: float = 0.0) -> float:
    """Success rate of `policy` conditioned on return 1, on `num_episodes` seeded episodes."""
    res = evaluate(policy, ENV_ID, [1.0], num_episodes=num_episodes, num_envs=min(num_episodes, 100), seed=seed,
                   progress=False, temperature=temperature)[0]
    return float(np.mean(np.asarray(res.returns) > 0.5))


def _write(out_dir: Path, cfg: KeyToDoorBenchConfig, results, timings, command: str, wall: float,
           partial: bool, critic: dict[str, Any] | None = None, curves: dict | None = None, losses: dict | None = None,
           completed: list | None = None) -> dict[str, Any]:
    data_names = [data_name(n) for n in cfg.data_sizes]
    paper_row = {"dt_balanced": "dt", "pbc10": "pbc", "pbc25": "pbc", "pbc40": "pbc"}  # bc_success: not in the paper
    paper = {m: PAPER_TABLE6[paper_row.get(m, m)] for m in results if paper_row.get(m, m) in PAPER_TABLE6}
    report = {
        "task": "keytodoor",
        "seeds": list(range(cfg.first_seed, cfg.first_seed + cfg.seeds)),
        "selection_seeds": list(cfg.selection_seeds),
        "selection_run": cfg.selection_run,
        "spread": "sample std (n-1) over seeds",
        "env_id": ENV_ID,
        "metric": "success rate in [0, 1] over eval_episodes evaluation episodes, one value per seed",
        "partial": partial,
        "results": results,
        "summary": summarize(results),
        "paper_table6_percent": PAPER_TABLE6,
        "seconds_per_run": {m: float(np.mean(v)) for m, v in timings.items() if v},
        "run_seconds": timings,
        "completed": completed or [],
        "config": cfg.to_dict(),
        **provenance(command, wall),
    }
    if critic is not None:
        report["critic"] = critic
    if curves:
        report["curves"] = curves
    if losses:
        report["loss_history"] = losses  # [method][data][seed]: [step, mean training loss of the last log_every steps]
    write_json(out_dir / "keytodoor.json", report)
    table = markdown_table(results, data_names, LABELS, percent=True, paper=paper)
    text = (f"# Key-to-Door (paper Table 6): success rate, mean ± sample std (n-1) over seeds {report['seeds']}\n\n{table}\n"
            f"`{command}` on {report['machine']}, {report['date']}, wall time {wall / 60:.1f} min, "
            f"commit {report['git_commit'][:10]}.\n")
    write_text(out_dir / "keytodoor.md", text)
    return report
