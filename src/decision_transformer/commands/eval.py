"""`dt eval RUN_DIR --env ENV_ID --targets T1 T2 ... --num-episodes N --json OUT.json`."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field

from .. import preflight
from ..common import atomic
from ..common.seeding import derive_seed
from ..cli_args import POSITIONAL, add_dataclass_args, command_help, from_args
from ..common.checks import check_number, check_types


@dataclass(frozen=True)
class EvalCommand:
    """Evaluate a trained run at one or more target returns."""

    run_dir: str = field(default="", metadata=POSITIONAL)
    """Run directory (or a checkpoint directory)."""
    env_id: str = ""
    """Gymnasium id (default: the one the run records)."""
    targets: tuple[float, ...] = ()
    """Target returns (default: the dataset's max return; BC models ignore them). `auto` (sets --auto-target): the
    model proposes its own return-to-go at every step (a run trained with --return-head expectile; docs/beyond.md)."""
    auto_target: bool = False
    """Evaluate with the model's own return-to-go proposals (as `--targets auto`), after any fixed targets."""
    choose_target: bool = False
    """Choose the target honestly: evaluate every --targets value on other episodes (reset seeds from seed + 500,000,
    common/seeding.py), then report only the one with the best mean return, on the episodes of --seed."""
    num_episodes: int = 10
    """Episodes per target."""
    num_envs: int = 0
    """Vector envs (0: min(num_episodes, 16))."""
    seed: int = 0
    """Episode e is reset with seed + e."""
    temperature: float = 0.0
    """Discrete actions: 0 = argmax, > 0 = sample from the softmax at this temperature."""
    max_episode_steps: int = 0
    """Cut episodes at this many steps (a time limit on the env; 0: the env's own limit)."""
    precision: str = "fp32"
    """fp32, bf16 (autocast) or auto (bf16 where the hardware has it); see precision.py."""
    video: str = ""
    """Also write MP4s of a few episodes per target into this directory (MuJoCo renders with MUJOCO_GL=egl)."""
    video_episodes: int = 2
    """Episodes per target to record with --video (reset seeds seed, seed + 1, ...)."""
    json: str = ""
    """Write per-target results here."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        from ..common.precision import PRECISIONS

        check_types(self)
        check_number(self, "targets")
        check_number(self, "temperature", 0.0)
        for name, low in (("num_episodes", 1), ("num_envs", 0), ("max_episode_steps", 0), ("video_episodes", 1),
                          ("seed", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"EvalCommand.{name}={getattr(self, name)} must be >= {low}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"EvalCommand.precision={self.precision!r}; expected one of {PRECISIONS}")
        repeated = sorted({t for t in self.targets if self.targets.count(t) > 1})
        if repeated:
            raise ValueError(f"EvalCommand.targets: {', '.join(repr(float(t)) for t in repeated)} given more than "
                             "once; expected different target returns")
        if self.choose_target and (len(self.targets) < 2 or self.auto_target):
            raise ValueError(f"EvalCommand.choose_target: expected two or more numeric --targets to choose from (and "
                             f"no auto target); got targets={self.targets}, auto_target={self.auto_target}")
        gap = derive_seed(self.seed, "target-selection") - self.seed  # selection episodes start this far after --seed
        if self.choose_target and self.num_episodes > gap:
            raise ValueError(f"EvalCommand.num_episodes must be <= {gap:,} with choose_target (its episode seeds would "
                             "overlap the reported ones)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", **command_help(EvalCommand))
    add_dataclass_args(p, EvalCommand)
    targets = next(a for a in p._actions if a.dest == "targets")
    targets.type = _target  # numbers, or `auto`
    targets.nargs = "+"  # `--targets` alone would silently mean the default
    p.set_defaults(func=run)


def _target(text: str) -> float | str:
    return text if text == "auto" else float(text)


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_run
    from ..evaluate import AUTO, check_auto, evaluate, target_label

    auto = AUTO in (args.targets or [])
    if auto:  # `--targets auto` is --auto-target; the numbers stay targets
        args.targets = [t for t in args.targets if t != AUTO] or None
        args.auto_target = True
    a = from_args(EvalCommand, args)
    if a.json:  # before the evaluation, not after it
        preflight.check_out_file(a.json, "EvalCommand.json")
    if a.video:
        preflight.check_out_dir(a.video, "EvalCommand.video")
    loaded = load_run(a.run_dir)
    if a.auto_target:
        check_auto(loaded.model)
    env_id = a.env_id or loaded.meta.env_id
    if not env_id:
        raise ValueError(f"{a.run_dir}: the run records no env id; pass --env-id")
    extra = loaded.meta.extra
    default = extra.get("max_return", 0.0)  # BC models ignore the target: theirs need not be recorded
    needs_default = not a.targets and (not a.auto_target or bool(a.video))  # (videos record at a fixed target)
    if needs_default and "max_return" not in extra and loaded.meta.model_kind == "dt":
        raise ValueError(f"{loaded.path / 'meta.json'}: field 'extra.max_return' is missing (a run imported "
                         "from Hugging Face without dt_meta.max_return records no dataset), so there is no default target; pass --targets")
    if needs_default and not (isinstance(default, (int, float)) and math.isfinite(default)):
        raise ValueError(f"{loaded.path / 'meta.json'}: field 'extra.max_return' is {default!r}, not a number to "
                         "use as the default target; pass --targets")
    targets = list(a.targets) or ([] if a.auto_target else [float(default)])
    targets += [AUTO] if a.auto_target else []
    kind = loaded.meta.model_kind
    if kind != "dt":  # BC / MLP-BC read no return-to-go: one evaluation, whatever the targets
        if a.choose_target:
            raise ValueError(f"EvalCommand.choose_target: model kind {kind!r} reads no return-to-go; there is no "
                             "target to choose")
        if len(targets) > 1 or a.targets:
            preflight.warn(f"EvalCommand.targets: model kind {kind!r} reads no return-to-go; it is evaluated once, "
                           "the targets are ignored")
        targets = targets[:1]  # (auto is refused for them by check_auto)
    env_kwargs = {"max_episode_steps": a.max_episode_steps} if a.max_episode_steps else None
    if a.video:  # before the evaluation: a missing render dependency fails now, not after it
        import os

        os.environ.setdefault("MUJOCO_GL", "egl")  # offscreen rendering; read when mujoco first renders
        from ..video import _writer, probe_render

        _writer()
        probe_render(env_id, env_kwargs)

    def run_at(targets: list, seed: int) -> list:
        return evaluate(loaded, env_id, targets, num_episodes=a.num_episodes, num_envs=a.num_envs or None, seed=seed,
                        temperature=a.temperature, progress=a.progress, precision=a.precision, env_kwargs=env_kwargs)

    selection = None
    if a.choose_target:
        selection_seed = derive_seed(a.seed, "target-selection")
        candidates = run_at(targets, selection_seed)
        chosen = max(candidates, key=lambda r: r.return_mean).target_return  # the first of equal means
        print(f"choosing the target on episode seeds {selection_seed:,}..{selection_seed + a.num_episodes - 1:,}:")
        print(results_table(candidates, loaded.meta.model_kind))
        print(f"chosen: {target_label(chosen)}; reported on episode seeds {a.seed:,}..{a.seed + a.num_episodes - 1:,}:")
        selection = {"seed": selection_seed, "chosen_target": chosen, "rule": "the highest mean return",
                     "results": [r.to_json() for r in candidates]}
        targets = [chosen]
    results = run_at(targets, a.seed)
    print(results_table(results, loaded.meta.model_kind))
    if a.json:
        payload = {"run_dir": str(a.run_dir), "checkpoint": str(loaded.path), "env_id": env_id,
                   "model_kind": loaded.meta.model_kind, "dataset": loaded.meta.dataset, "step": loaded.meta.step,
                   "num_episodes": a.num_episodes, "seed": a.seed, "spread": "sample std (n-1) over episodes",
                   "results": [r.to_json() for r in results], **({"selection": selection} if selection else {})}
        atomic.write_json(a.json, payload)
    if a.video:  # after the JSON: the results are kept if recording fails
        from ..evaluate import RolloutPolicy
        from ..video import record_videos

        fixed = [t for t in targets if t != AUTO] or [float(default)]
        files = record_videos(RolloutPolicy.from_run(loaded, a.precision), env_id, fixed, a.video,
                              num_episodes=a.video_episodes, seed=a.seed, temperature=a.temperature,
                              env_kwargs=env_kwargs)
        print(f"wrote {len(files)} video{'s' if len(files) != 1 else ''} to {a.video}")
    return 0


def results_table(results, model_kind: str = "dt") -> str:
    from ..common.metrics import format_table
    from ..evaluate import target_label

    rows = []
    for r in results:
        target = ("(none)" if model_kind != "dt" else "auto" if getattr(r, "auto", False)
                  else target_label(r.target_return))
        rows.append([model_kind, target, r.return_text, r.normalized_text(),
                     f"{sum(r.lengths) / len(r.lengths):.0f}", len(r.returns)])
    return format_table(["model", "target", "return (mean ± sample std)", "normalized score", "mean length", "episodes"], rows)
