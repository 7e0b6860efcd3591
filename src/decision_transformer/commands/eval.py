"""`dt eval RUN_DIR --env ENV_ID --targets T1 T2 ... --num-episodes N --json OUT.json`."""

from __future__ import annotations

import argparse

from .. import atomic


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained run at one or more target returns",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dir", help="run directory (or a checkpoint directory)")
    p.add_argument("--env", dest="env_id", default=None, help="Gymnasium id (default: the one the run records)")
    p.add_argument("--targets", type=float, nargs="+", default=None,
                   help="target returns (default: the dataset's max return; ignored for BC models)")
    p.add_argument("--num-episodes", type=int, default=10, help="episodes per target")
    p.add_argument("--num-envs", type=int, default=None, help="vector envs (default: min(num_episodes, 16))")
    p.add_argument("--seed", type=int, default=0, help="episode e is reset with seed + e")
    p.add_argument("--temperature", type=float, default=0.0, help="discrete actions: 0 = argmax, > 0 = sample")
    p.add_argument("--json", dest="json_out", default=None, help="write per-target results here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_run
    from ..evaluate import evaluate

    loaded = load_run(args.run_dir)
    env_id = args.env_id or loaded.meta.env_id
    if not env_id:
        raise ValueError(f"{args.run_dir}: the run records no env id; pass --env")
    targets = args.targets or [float(loaded.meta.extra.get("max_return", 0.0))]
    results = evaluate(loaded, env_id, targets, num_episodes=args.num_episodes, num_envs=args.num_envs,
                       seed=args.seed, temperature=args.temperature, progress=not args.no_progress)
    print(results_table(results, loaded.meta.model_kind))
    if args.json_out:
        payload = {"run_dir": str(args.run_dir), "checkpoint": str(loaded.path), "env_id": env_id,
                   "model_kind": loaded.meta.model_kind, "dataset": loaded.meta.dataset, "step": loaded.meta.step,
                   "num_episodes": args.num_episodes, "seed": args.seed,
                   "results": [r.to_json() for r in results]}
        atomic.write_json(args.json_out, payload)
    return 0


def results_table(results, model_kind: str = "dt") -> str:
    from ..metrics import format_table

    rows = []
    for r in results:
        rows.append([model_kind, f"{r.target_return:g}", f"{r.return_mean:.1f} ± {r.return_std:.1f}", r.normalized_text(),
                     f"{sum(r.lengths) / len(r.lengths):.0f}", len(r.returns)])
    return format_table(["model", "target", "return (mean ± std)", "normalized score", "mean length", "episodes"], rows)
