"""`dt finetune RUN --env-id ENV --online-steps N --out DIR`: online fine-tuning of a stochastic-policy run (the
Online Decision Transformer; online.py, docs/beyond.md). Rerunning the same command resumes a killed run."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..cli_args import add_dataclass_args
    from ..run_config import FinetuneConfig

    p = sub.add_parser("finetune", help="fine-tune a run online (Online Decision Transformer)",
                       description=FinetuneConfig.__doc__)
    add_dataclass_args(p, FinetuneConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli_args import from_args
    from ..run_config import FinetuneConfig
    from ..online import finetune

    cfg = from_args(FinetuneConfig, args)
    loaded, s = finetune(cfg)
    print(summary(s, cfg.out, loaded.path.name))
    return 0


def summary(s: dict, out: str, checkpoint: str) -> str:
    """The one line every `dt finetune` ends with."""
    score = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    done = ("already finished, nothing done this time: " if s.get("resumed_at") and not s.get("this_sitting_steps")
            else f"resumed at {s['resumed_at']} online steps: " if s.get("resumed_at") else "")
    return (f"dt finetune: {done}{s['online_steps']} online steps in {s['rollouts']} rollouts, {s['updates']} updates; "
            f"evaluation return {score(s['offline_score'])} -> {score(s['final_score'])} at target "
            f"{s['eval_target']:g} (exploration {s['online_target']:g}); temperature {s['temperature']:.4f}; "
            f"{s['seconds']:.0f} s; run in {out} ({checkpoint})")
