"""The Markdown of `dt bench report`: paper.md's and atari.md's tables, Figure-4 rows, what is not run yet, the
links to videos and to runs at other budgets, and the settings every number was trained with (read from the
finished cells' specs). Pure text from the aggregated report (`report.py`); nothing here reads runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from decision_transformer.scores import mean_std_text, sample_std
from .beyond import beyond_section, odt_table
from .config import PaperBenchConfig
from .names import (ATARI_EXPERIMENTS, BEYOND_EXPERIMENTS, D3RLPY_METHODS, FIG4_EXPERIMENTS, GYM_EXPERIMENTS, METHODS,
                    PROTOCOLS, TRAIN_FIELDS, experiment_cells)
from .intervals import REFERENCE, REPS, SEED
from .paper_numbers import paper_number

TITLES = {"table2": "Table 2: D4RL-style datasets, DT against BC, MLP-BC and TD baselines (DT asks for the data's "
                    "best return; at the paper's own gym targets: the paper-targets section below)",
          "table3": "Table 3: DT against %BC (pbc10/25/40; bc is 100%BC)",
          "table7": "Table 7: delayed (sparse) rewards ('-delayed' datasets) beside dense (BC and %BC read no "
                    "per-step reward: their delayed cells are their dense runs, the paper's 'agnostic' columns)",
          "fig4": "Figure 4: achieved return against target return (medium-replay)",
          "paper-targets": "Table 2's target-conditioned methods at the paper's gym targets (hopper 3600, walker2d "
                           "5000, halfcheetah 12000; Table 2 here asks for the data's best return)",
          "chosen-target": "Table 2's target-conditioned methods at a target each run chooses on episodes it does not "
                           "report (the data's best, 1.5 and 2 times it, or the paper's gym target; the best mean on "
                           "its selection episodes)",
          "context": "Context length: K=1 (dt-k1) against K=20 (dt)",
          "atari-table1": "Table 1: DT against BC and CQL (gamer-normalized)",
          "atari-table4": "Table 4: DT against %BC (pbc10/25/40; bc is 100%BC; gamer-normalized)",
          "atari-table5": "Table 5: context length, K=1 (dt-k1) against the protocol's K (dt; gamer-normalized)",
          "atari-fig4": "Figure 4 (top): achieved return against target return (raw game score)",
          "atari-beyond": "Beyond the paper: target-free acting (dt-auto: its own proposed returns-to-go; dt: the "
                          "paper's target; gamer-normalized)",
          "beyond": "Beyond the paper: target-free acting (dt-auto), a stochastic policy (dt-stochastic), online "
                    "fine-tuning (odt) and both offline ideas together (dt-auto-stochastic), medium-replay",
          "beyond-fig4": "Beyond the paper: achieved against target return up to twice the data's best (medium-replay)"}


def fig4_prefix(exp: str) -> str:
    """File-name prefix of a Figure-4 experiment's plots: paper_fig4, atari_fig4, paper_beyond_fig4 (+ _DATASET.png)."""
    name = exp.replace("-", "_")
    return name if exp in ATARI_EXPERIMENTS else f"paper_{name}"


CI_LEGEND = ("`[lo, hi]` after a score is its stratified-bootstrap 95% interval of the mean over seeds (rliable, "
             f"{REPS:,} resamples, seed {SEED}); with one seed it is `[x, x]`: one run gives no interval. The plots "
             "show each seed as a dot.")


def _fmt(values: list[float | None], ci: list[float] | None = None) -> str:
    """'mean ± std (n=N)', with ' [lo, hi]' after the std where an interval is given."""
    v = [x for x in values if x is not None]
    if not v:
        return "—"
    interval = f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""
    return f"{mean_std_text(float(np.mean(v)), sample_std(v), len(v))}{interval} (n={len(v)})"


def methods_in(per_dataset: dict[str, dict[str, Any]]) -> list[str]:
    """The methods with a finished cell on any of the datasets, in METHODS order, then any other method by name (a
    table's columns)."""
    present = {m for per in per_dataset.values() for m in per}
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))


def table_plot(exp: str) -> str:
    """The file name of an experiment's grouped-bar plot beside the report: paper_table2.png, atari_table1.png."""
    return f"atari_{exp.removeprefix('atari-')}.png" if exp in ATARI_EXPERIMENTS else f"paper_{exp}.png"


def score_table(exp: str, per_dataset: dict[str, dict[str, Any]], key: str, with_paper: bool,
                ci_key: str | None = None) -> str:
    """A dataset x method table of `key` (mean ± std over seeds), with each entry's `ci_key` interval if given."""
    methods = methods_in(per_dataset)
    lines = ["| dataset | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for dataset, per in per_dataset.items():
        cells = []
        for m in methods:
            cell = _fmt(per[m][key], per[m].get(ci_key) if ci_key else None) if m in per else "—"
            paper = paper_number(exp, dataset, m) if with_paper else None
            cells.append(cell + (f" [paper {paper:g}]" if paper is not None else ""))
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def aggregates_section(agg: dict[str, Any] | None, scale: str) -> str:
    """An experiment's IQM per method and probability of improvement of DT over each other method (`intervals.
    aggregates`), each with its 95% interval and the datasets and seeds it was computed over."""
    if not agg or not (agg.get("iqm") or agg.get("probability_of_improvement")):
        return ""
    n = agg.get("n", {})
    lines = [f"\nAggregates over datasets ({scale}; rliable, stratified-bootstrap 95% intervals over seeds; each over "
             "the datasets where the method, or both methods, have every seed; 4/3/3: seeds per dataset where they "
             "differ):\n",
             "| aggregate | value [95% interval] | datasets | seeds |", "|---|---|---|---|"]
    for method, (lo, mid, hi) in agg.get("iqm", {}).items():
        used = n.get("iqm", {}).get(method, {})
        lines.append(f"| IQM `{method}` | {mid:.1f} [{lo:.1f}, {hi:.1f}] | {', '.join(used.get('datasets', []))} | "
                     f"{_seeds(used.get('seeds'), used.get('datasets', []))} |")
    for pair, (lo, mid, hi) in agg.get("probability_of_improvement", {}).items():
        used = n.get("probability_of_improvement", {}).get(pair, {})
        x, y = pair.split(">", 1)
        seeds = {m: _seeds(v, used.get("datasets", [])) for m, v in used.get("seeds", {}).items()}
        lines.append(f"| P(`{x}` > `{y}`) | {mid:.2f} [{lo:.2f}, {hi:.2f}] | {', '.join(used.get('datasets', []))} | "
                     + " v ".join(str(seeds.get(m, "—")) for m in (x, y)) + " |")
        if pair.replace(">", "-", 1) in agg.get("mean_difference", {}):
            dlo, dmid, dhi = agg["mean_difference"][pair.replace(">", "-", 1)]
            lines.append(f"| `{x}` − `{y}` (mean score difference) | {dmid:+.1f} [{dlo:+.1f}, {dhi:+.1f}] | "
                         f"{', '.join(used.get('datasets', []))} | " + " v ".join(str(seeds.get(m, "—")) for m in (x, y))
                         + " |")
    return "\n".join(lines) + "\n"


def _seeds(n: Any, datasets: list[str]) -> str:
    """A seed count of `intervals.aggregates`: n, or per dataset (in the row's dataset order) as "4/3/3"."""
    if isinstance(n, dict):
        return "/".join(str(n.get(d, "—")) for d in datasets)
    return "—" if n is None else str(n)


def fig4_section(per_dataset: dict[str, dict[str, Any]], prefix: str) -> str:
    """The Figure-4 table, one row per (dataset, method), linking PREFIX_DATASET.png (every method in one plot)."""
    lines = ["| dataset | method | data returns | targets | Pearson (in range, seed mean) | per seed | achieved at the "
             "highest target (seed mean) | plot |", "|---" * 8 + "|"]
    for dataset, per in per_dataset.items():
        for method, e in per.items():
            lo, hi = e["data_return_range"]
            p = "—" if e["pearson"] is None else f"{e['pearson']:.3f}"
            seeds = ", ".join("—" if x is None else f"{x:.3f}" for x in e["pearson_per_seed"])
            lines.append(f"| {dataset} | {method} | {lo:.0f} .. {hi:.0f} | {len(e['targets'])}: {e['targets'][0]:.0f} "
                         f".. {e['targets'][-1]:.0f} | {p} | {seeds} | {e['achieved_mean'][-1]:.0f} (n="
                         f"{len(e['achieved'])}) | ![]({prefix}_{dataset}.png) |")
    return "\n".join(lines) + "\n"


def markdown(report: dict[str, Any]) -> str:
    parts = [f"# The paper's continuous-control results on this suite (protocol `{report['protocol']}`)\n",
             f"Commit {report['commit'][:10]}, {report['machine']}, report made {report['date']}. Scores: mean ± "
             "sample std (n-1) over seeds of the per-seed mean normalized score, at the data's best return for DT. "
             "`[paper X]` is the paper's D4RL-normalized number on D4RL's data: compare orderings and gaps. "
             + CI_LEGEND + " The intervals are in the suite-normalized tables, and the aggregates under them "
             "(suite-normalized too) are the interquartile mean (IQM) over runs and datasets, and the probability "
             f"that a `{REFERENCE}` run beats a run of the other method on the same dataset (0.5: even).\n",
             f"Compute: {report['compute']['train_hours']:.2f} h training ({report['compute']['training_runs']} runs, "
             f"shared between experiments), {report['compute']['eval_hours']:.2f} h evaluation.\n"]
    for exp in GYM_EXPERIMENTS + BEYOND_EXPERIMENTS:
        per = report["experiments"].get(exp)
        if not per:
            parts.append(f"## {TITLES[exp]}\n\nNo finished cells (run `dt bench paper --exp {exp}`).\n")
            continue
        parts.append(f"## {TITLES[exp]}\n")
        if exp in FIG4_EXPERIMENTS:
            parts.append(fig4_section(per, fig4_prefix(exp)))
        else:
            parts.append(f"Suite-normalized (this suite's random policy = 0, its expert = 100: {_expert_learners()}):"
                         "\n\n" + score_table(exp, per, "scores", True, "ci95")
                         + aggregates_section(report.get("aggregates", {}).get(exp), "suite-normalized"))
            parts.append("\nD4RL-normalized (D4RL's Hopper / Walker2d / HalfCheetah references; none for Reacher):\n\n"
                         + score_table(exp, per, "scores_d4rl", True))
            parts.append(f"\n![{exp}, suite-normalized]({table_plot(exp)})\n")
            if exp == "beyond":
                parts[-1] = beyond_section(per, parts[-1])
            if exp == "chosen-target":
                parts.append(chosen_section(per))
            if exp == "paper-targets":
                parts.append(odt_table(per, "odt-paper-targets"))
        parts.append(not_run_section(exp, per))
    return "\n".join(parts)


def chosen_section(per: dict[str, dict[str, Any]]) -> str:
    """Which target each chosen-target run kept (per seed), among which candidates."""
    lines = ["Targets chosen (per seed, on each run's selection episodes; candidates: the data's best, 1.5 and 2 times "
             "it as fractions of the return range, and the paper's gym target):", ""]
    for dataset, methods in per.items():
        for method, e in methods.items():
            if e.get("chosen_targets"):
                cands = ", ".join(f"{t:,.0f}" for t in e["candidates"][0])
                chosen = " / ".join(f"{t:,.0f}" for t in e["chosen_targets"])
                lines.append(f"- `{dataset}` {method}: {chosen} (of {cands})")
    return "\n".join(lines) + "\n"


def _kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in d.items())


GYM_SETTINGS_NOTE = (
    "Budget: `steps`, `batch_size`, `lr`, `warmup_steps` for the transformers and MLP-BC, `baseline_steps` for the "
    "d3rlpy baselines, `eval_episodes` per target (the last evaluation, not the best). The TD baselines are d3rlpy "
    "2.8.0 (the `[baselines]` extra) with d3rlpy's published D4RL settings (its `reproductions/offline/*.py` "
    "scripts, cited per field in `dt_experiments/paper/baselines.py`), at "
    "`baseline_steps` instead of the scripts' 500k; CQL's `conservative_weight_medium` applies to `*-medium` data, "
    "`conservative_weight` to the rest. BEAR (`--methods bear`, d3rlpy's `reproductions/offline/bear.py` settings) "
    "is wrapped and runs, but is not among the default cells: the paper's Table 2 does not have it.")
ATARI_SETTINGS_NOTE = (
    "Budget: the transformers' `steps`, `batch_size`, optimiser and `context_len` (`pong_context_len` for Pong), "
    "`baseline_steps` for CQL, `eval_episodes` per cell capped at `max_episode_steps`. CQL is d3rlpy 2.8.0's "
    "DiscreteCQL with its published Atari settings (`reproductions/offline/discrete_cql.py`, cited in "
    "`dt_experiments/paper/baselines.py`), at `baseline_steps`. `d3rlpy-dt` (a peer implementation of DT) is d3rlpy "
    "2.8.0's DiscreteDecisionTransformer with its published Atari settings "
    "(`reproductions/offline/discrete_decision_transformer.py`, cited in `dt_experiments/paper/peer_dt.py`) at our "
    "DT's budget, shape, targets and evaluation.")


def settings_section(results: list[dict[str, Any]], note: str) -> str:
    """The budget and each method's model / d3rlpy settings, as the finished cells recorded them (their specs), so
    the report states what its numbers were trained with; a method whose cells differ lists each variant with the
    datasets it was used on."""
    if not results:
        return ""
    precisions = sorted({r["spec"].get("precision", "fp32") for r in results  # a spec leaves fp32 out
                         if r["method"] not in D3RLPY_METHODS})  # (d3rlpy's train in fp32, said below)
    variants: dict[str, dict[str, list[str]]] = {}  # method -> settings text -> datasets
    for r in sorted(results, key=lambda r: METHODS.index(r["method"]) if r["method"] in METHODS else len(METHODS)):
        text = _kv(r["spec"]["model"]) + (f"; training {_kv(TRAIN_FIELDS[r['method']])}" if r["method"] in TRAIN_FIELDS
                                          else "")  # what the method name records in the spec (names.TRAIN_FIELDS)
        on = variants.setdefault(r["method"], {}).setdefault(text, [])
        if r["dataset"] not in on:
            on.append(r["dataset"])
    episodes: dict[int, set[str]] = {}  # each cell's own evaluation count (a protocol version may differ from the budget's)
    for r in results:
        episodes.setdefault(r["spec"].get("eval_episodes"), set()).add(r["exp"])
    counts = "; ".join(f"{n} ({', '.join(sorted(exps))})" for n, exps in sorted(episodes.items(), key=str))
    lines = ["## Protocol and settings (from the cells' specs)\n", note + "\n",
             "Budget: " + _budget_text(results) + f"; the transformers' training "
             f"precision {' | '.join(precisions) or '—'} (the d3rlpy baselines train in fp32). Evaluation episodes "
             f"per target of the cells: {counts} (the budget's `eval_episodes` is the training runs' own).\n"]
    for method, texts in variants.items():
        if len(texts) == 1:
            lines.append(f"- `{method}`: {next(iter(texts))}")
        else:
            lines += [f"- `{method}` on {', '.join(ds)}: {text}" for text, ds in texts.items()]
    return "\n".join(lines) + "\n"


def _budget_text(results: list[dict[str, Any]]) -> str:
    """The cells' budget settings: those every cell shares once, then what each other variant adds, with its methods."""
    by_budget: dict[str, set[str]] = {}  # budget JSON -> methods
    for r in results:
        by_budget.setdefault(json.dumps(r["spec"]["budget"], sort_keys=True), set()).add(r["method"])
    variants = [(json.loads(b), ", ".join(sorted(methods))) for b, methods in sorted(by_budget.items())]
    common = {k: v for k, v in variants[0][0].items() if all(k in b and b[k] == v for b, _ in variants)}
    extra = [(_kv({k: v for k, v in b.items() if k not in common}), methods) for b, methods in variants]
    return "; ".join([_kv(common)] + [f"{kv} ({methods})" for kv, methods in extra if kv])


def not_run(exp: str, per_dataset: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """The experiment's default (dataset, method) cells with no finished seed."""
    return [(d, m) for d, m in experiment_cells(PaperBenchConfig(exp=exp)) if m not in per_dataset.get(d, {})]


def not_run_section(exp: str, per_dataset: dict[str, dict[str, Any]]) -> str:
    missing = not_run(exp, per_dataset)
    if not missing:
        return ""
    by_dataset: dict[str, list[str]] = {}
    for d, m in missing:
        by_dataset.setdefault(d, []).append(m)
    listed = "; ".join(f"{d}: {', '.join(ms)}" for d, ms in by_dataset.items())
    return (f"\nNot run yet ({len(missing)} of the experiment's default (dataset, method) pairs; CPU time on the "
            f"2-core box, see docs/results/README.md for the queue and the reasons): {listed}.\n")


def _expert_learners() -> str:
    """Which learner made each env's expert, from the suite's generation config ('SAC for hopper, walker2d; PPO for ...')."""
    from ..suite.datasets import suite_config

    by_algo: dict[str, list[str]] = {}
    for env, cfg in suite_config()["envs"].items():
        algo = "SAC" if "sac" in cfg.get("training", {}).get("config", {}) else "PPO"  # the learner's settings block
        by_algo.setdefault(algo, []).append(env)
    return "; ".join(f"{algo} for {', '.join(sorted(envs))}" for algo, envs in sorted(by_algo.items(), reverse=True))


def atari_markdown(report: dict[str, Any]) -> str:
    parts = [f"# The paper's Atari tables on this project's ALE datasets (protocol `{report['protocol']}`)\n",
             f"Commit {report['commit'][:10]}, {report['machine']}, report made {report['date']}. Gamer-normalized "
             "scores `100 * (score - random) / (gamer - random)`: mean ± sample std (n-1) over seeds of the per-seed "
             "mean, DT at the paper's target per game. `[paper X]` is the paper's number on 1% of DQN-replay with "
             "its full-size model: our data and budget differ, so compare orderings and gaps. " + CI_LEGEND
             + " The aggregates under each table (gamer-normalized) are the interquartile mean (IQM) over runs and "
             f"games, and the probability that a `{REFERENCE}` run beats a run of the other method on the same game "
             "(0.5: even).\n",
             f"Compute: {report['compute']['train_hours']:.2f} h training, {report['compute']['eval_hours']:.2f} h "
             "evaluation.\n"]
    b = report.get("budget")
    if b:
        parts.append(f"Protocol: {b['n_layer']} layers, {b['n_head']} heads, width {b['embed_dim']}, K={b['context_len']} "
                     f"(Pong {b['pong_context_len']}), batch {b['batch_size']}, {b['steps']:,} steps (lr {b['lr']:g}, "
                     f"{b['warmup_steps']} warmup, {b['lr_decay']} decay); {b['eval_episodes']} evaluation episodes per "
                     f"cell{_cap(b['max_episode_steps'])}, actions sampled at temperature {b['temperature']:g}.\n")
    data = {e["dataset"]: e for t in report["experiments"].values() for g in t.values() for e in g.values()}
    if data:
        parts.append("Data (returns min .. max): " + "; ".join(
            f"`{d}` {e['data_return_range'][0]:g} .. {e['data_return_range'][1]:g}" for d, e in sorted(data.items()))
            + " (docs/datasets.md).\n")
    for exp in ATARI_EXPERIMENTS:
        table = exp.removeprefix("atari-")
        per = {next(iter(methods.values()))["dataset"]: methods
               for methods in report["experiments"].get(table, {}).values()}
        if not per:
            parts.append(f"## {TITLES[exp]}\n\nNo finished cells (run `dt bench paper --exp {exp}`).\n")
        elif exp in FIG4_EXPERIMENTS:
            parts.append(f"## {TITLES[exp]}\n\n" + fig4_section(per, fig4_prefix(exp)))
        else:
            parts.append(f"## {TITLES[exp]}\n\n" + score_table(exp, per, "scores", True, "ci95")
                         + aggregates_section(report.get("aggregates", {}).get(table), "gamer-normalized")
                         + "\nRaw returns:\n\n" + score_table(exp, per, "returns", False)
                         + f"\n![{table}, gamer-normalized]({table_plot(exp)})\n")
    return "\n".join(parts)


def _cap(max_episode_steps: int) -> str:
    return f" capped at {max_episode_steps:,} agent steps" if max_episode_steps else " (the 108k-frame cap)"


def videos_section(out: Path) -> str:
    """Links to the MP4s under out/videos/DATASET/ (made by scripts/paper_videos.sh with `dt eval RUN --video`)."""
    files = sorted((out / "videos").glob("*/*.mp4"))
    if not files:
        return ""
    lines = ["## Videos\n", "DT (seed 0 of table2) at a low and a high target return, one episode each "
             "(`dt eval RUN --video DIR`):\n"]
    for dataset in sorted({f.parent.name for f in files}):
        links = ", ".join(f"[{f.stem}]({f.relative_to(out).as_posix()})" for f in files if f.parent.name == dataset)
        lines.append(f"- {dataset}: {links}")
    return "\n".join(lines) + "\n"


def other_budgets_section(out: Path, budget: dict[str, Any] | None) -> str:
    """Links to the reports under out/extra/*/ (runs at other budgets: the protocol check, short studies) and
    out/PROTOCOL/ (another protocol version, e.g. cpu-v2), with what they hold and how their budget differs from
    this report's. Never merged into this report's tables."""
    lines = []
    versions = [out / p / "paper.json" for p in PROTOCOLS if (out / p / "paper.json").exists()]
    for path in sorted(out.glob("extra/*/paper.json")) + versions:
        other = json.loads(path.read_text())
        held = "; ".join(f"{exp}: " + ", ".join(f"{m} on {d} (n={len(e.get('scores') or e.get('achieved') or [])})"
                                                for d, per in datasets.items() for m, e in per.items())
                         for exp, datasets in other.get("experiments", {}).items())
        theirs = other.get("budget") or {}
        differs = ", ".join(f"{k} {v} (here {budget.get(k)})" for k, v in theirs.items()
                            if budget is not None and v != budget.get(k))
        link = f"{path.parent.relative_to(out).as_posix()}/paper.md"
        lines.append(f"- [{link}]({link}), protocol `{other.get('protocol')}`: {held or 'no cells'}"
                     + (f". Budget: {differs}" if differs else ""))
    if not lines:
        return ""
    return ("\n## Runs at other budgets and protocol versions (reported apart, never mixed into the tables above)\n\n"
            + "\n".join(lines) + "\n")
