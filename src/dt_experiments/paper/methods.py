"""Training and evaluating one method on one dataset and seed: transformers through the library's trainer
(`train_or_resume`: a finished run is loaded, a killed one resumed), d3rlpy baselines through `baselines.py`,
and every policy evaluated by the project's own runner on the same seeds and episode counts.

Training runs are shared between experiments (ROOT/PROTOCOL/train/DATASET/METHOD/seedK): Table 2's DT on
hopper-medium-replay is the same model as Table 7's dense DT, Figure 4's and the context ablation's K=20 DT.
Evaluations are cached in the run directory by what determines them (targets, episodes, seeds), so a cell of
another experiment asking for the same evaluation reuses it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
import functools
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from decision_transformer.cli_args import option_values
from decision_transformer.common import runlock
from decision_transformer.common.atomic import read_json, write_json
from decision_transformer.common.checks import is_real
from decision_transformer.checkpoint import latest_checkpoint, load_trainer_state, read_meta
from decision_transformer.config import model_config
from decision_transformer.data.registry import builtin_datasets, load_dataset
from decision_transformer.data.trajectories import TrajectoryDataset
from decision_transformer.common.envs_util import make_env
from decision_transformer.evaluate import RolloutPolicy, evaluate
from decision_transformer.common.metrics import read_metrics
from decision_transformer.common.precision import resolve as resolve_precision
from decision_transformer.runner import FunctionAgent, run_episodes
from decision_transformer.common.seeding import derive_seed
from ..common import train_cell
from . import beyond
from ..configs import TOP_FRACTIONS
from .config import PaperBenchConfig
from .names import (BASELINE_METHODS, D3RLPY_METHODS, MODEL_FIELDS, ODT_METHODS, TRAIN_FIELDS,
                    PEER_INIT, PEER_METHODS, domain, domain_methods, is_atari, model_kind, split_dataset, trained_on)

@functools.lru_cache(maxsize=8)
def load_data(base: str, data_steps: int = 0) -> TrajectoryDataset:
    """A built-in dataset (dense rewards); with `data_steps`, a suite dataset regenerated that small in memory."""
    if data_steps:
        from ..suite.datasets import ENV_IDS, generate

        if base.split("-")[0] in ENV_IDS:
            return generate(base, seed=0, num_steps=data_steps, progress=False)
        if is_atari(base):  # the ALE datasets' own step-budget names (dt_experiments/suite/atari.py)
            return load_dataset(f"{base}@{data_steps}", seed=0)
    return load_dataset(base, seed=0)


def dataset_generation(base: str) -> int:
    specs = builtin_datasets()
    if base not in specs:
        raise ValueError(f"dataset {base!r} is not built in; `dt bench paper` runs on {sorted(specs)}")
    return specs[base].generation


def model_settings(cfg: PaperBenchConfig, dataset: str, method: str) -> dict[str, Any]:
    """The model config (transformers) or d3rlpy settings (baselines) of a method, as a dict."""
    if method in BASELINE_METHODS:
        return dataclasses.asdict(baseline_settings(cfg, dataset, method))
    if method in PEER_METHODS:  # d3rlpy's own settings, and the shape of our DT in the same cell
        init = {"init": PEER_INIT[method]} if method in PEER_INIT else {}  # d3rlpy's own init is recorded by absence
        return {"kind": method, **dataclasses.asdict(baseline_settings(cfg, dataset, method)), **init,
                "dt": model_settings(cfg, dataset, "dt")}
    kind = model_kind(method)
    extra = beyond.model_fields(cfg, method)  # {} but for the beyond methods
    if extra.get("stochastic_policy") and is_atari(dataset):
        raise ValueError(f"{dataset}: {method} acts in continuous spaces (a tanh-Gaussian policy); on Atari the "
                         "beyond experiment runs dt-auto (--exp atari-beyond)")
    k = 1 if method == "dt-k1" else cfg.context_for(dataset)
    here, (there, fields) = domain(dataset), MODEL_FIELDS.get(method, (domain(dataset), {}))
    if there != here:
        article = "an" if there == "Atari" else "a"
        raise ValueError(f"{dataset}: {method} is {article} {there} diagnostic (its fields {fields} are set on the {there} "
                         f"model only); the {here} experiments use {', '.join(domain_methods(here))}")
    if is_atari(dataset):
        if kind == "mlp-bc":
            raise ValueError(f"{dataset}: mlp-bc has no pixel encoder; the Atari experiments use "
                             f"{', '.join(domain_methods('Atari'))}")
        atari = {**dataclasses.asdict(cfg.atari.model), **extra, **fields, "context_len": k}
        atari.pop("condition_on_return")  # the kind decides it
        return {"kind": kind, **model_config(kind, **atari).to_dict()}
    return {"kind": kind, **model_config(kind, context_len=k, **extra, **fields).to_dict()}


def baseline_settings(cfg: PaperBenchConfig, dataset: str, method: str) -> Any:
    """The d3rlpy settings of a method trained through d3rlpy on a dataset (Atari: DiscreteCQL and the discrete DT)."""
    if method in PEER_INIT and is_atari(dataset):
        raise ValueError(f"{dataset}: {method} is a gym diagnostic (d3rlpy's continuous DT); on Atari run d3rlpy-dt")
    if not is_atari(dataset):
        return cfg.d3rlpy_dt if method in PEER_INIT else getattr(cfg, method.replace("-", "_"))
    if method not in ("cql", "d3rlpy-dt"):
        raise ValueError(f"{dataset}: {method} acts in continuous spaces; on the Atari datasets d3rlpy runs cql "
                         "(DiscreteCQL) and d3rlpy-dt (DiscreteDecisionTransformer)")
    return cfg.atari_cql if method == "cql" else cfg.d3rlpy_discrete_dt


def jsonable(obj: Any) -> Any:
    """`obj` as it reads back from JSON (tuples become lists): the one normal form specs are compared in."""
    return json.loads(json.dumps(obj))


@dataclass(frozen=True)
class Plan:
    """One (dataset, method, seed) of an experiment, resolved once from the config (`plan`): the budget, the
    training run's identity (its spec, JSON-normal) and directory. Training, evaluation and the cell read these,
    never the config's protocol again."""

    cfg: PaperBenchConfig
    dataset: str
    """As the cell names it ('-delayed' included)."""
    method: str
    seed: int
    budget: Any
    """The protocol the dataset's cells run under (ProtocolConfig, or AtariProtocol for the Atari games)."""
    eval_episodes: int
    """Evaluation episodes per target of the cell (`PaperBenchConfig.eval_episodes_for`; in-training curves use the
    budget's)."""
    spec: dict[str, Any]
    """Everything that determines the trained model: train_spec.json."""
    path: Path
    """The training run's directory (shared by the experiments whose cells train the same model)."""

    @property
    def base(self) -> str:
        return split_dataset(self.dataset)[0]

    @property
    def steps(self) -> int:
        """Gradient steps of this method's training."""
        if self.method in D3RLPY_METHODS:
            return d3rlpy_steps(self.budget, self.method)
        return self.budget.train.steps

    @property
    def eval_seed(self) -> int:
        return eval_seed(self.seed)


def plan(cfg: PaperBenchConfig, exp: str, dataset: str, method: str, seed: int) -> Plan:
    budget = cfg.budget_for(dataset)
    return Plan(cfg, dataset, method, seed, budget, cfg.eval_episodes_for(exp, dataset),
                jsonable(train_spec(cfg, dataset, method, seed, budget)), run_dir(cfg, dataset, method, seed))


def train_spec(cfg: PaperBenchConfig, dataset: str, method: str, seed: int, budget: Any = None) -> dict[str, Any]:
    """Everything that determines a trained model (the run directory's identity). A reward-agnostic method's
    model on '-delayed' data is its model on the dense data (config.REWARD_AGNOSTIC)."""
    budget = budget or cfg.budget_for(dataset)
    dataset = trained_on(dataset, method)
    base, _ = split_dataset(dataset)
    skip = ("seeds", "baseline_seeds", "precision")  # precision: recorded on its own below, as resolved
    if is_atari(dataset) and method not in BASELINE_METHODS:
        skip += ("baseline_steps",)  # CQL's budget; it came after the Atari transformer cells and does not shape them
    budget = {k: v for k, v in option_values(budget).items() if k not in skip}  # the protocol's options
    precision = resolve_precision(cfg.precision_for(dataset), cfg.device)  # auto is what it computes on this machine
    return {"dataset": dataset, "method": method, "seed": seed, "protocol": cfg.training_protocol, "budget": budget,
            "dataset_generation": dataset_generation(base), "data_steps": cfg.data_steps,
            "model": model_settings(cfg, dataset, method),
            **({"online": beyond.online_settings(cfg, dataset, method)} if method in ODT_METHODS else {}),
            **({"precision": precision} if method not in D3RLPY_METHODS and precision != "fp32" else {})}


def run_dir(cfg: PaperBenchConfig, dataset: str, method: str, seed: int) -> Path:
    return Path(cfg.root) / cfg.training_protocol / "train" / trained_on(dataset, method) / method / f"seed{seed}"


def training_progress(p: Plan) -> tuple[int, int]:
    """(steps saved so far, steps of the budget) of a cell's training run: its last checkpoint (transformers) or
    d3rlpy chunk (baselines); 0 steps if it has not started."""
    if p.method in ODT_METHODS:  # its pretraining: the dt-stochastic run (fine-tuning counts env steps, not these)
        return training_progress(plan(p.cfg, "beyond", p.dataset, "dt-stochastic", p.seed))
    if p.method in D3RLPY_METHODS:
        progress = p.path / "d3rlpy" / "progress.json"
        return (json.loads(progress.read_text())["step"] if progress.exists() else 0), p.steps
    ckpt = latest_checkpoint(p.path / "run")
    return (read_meta(ckpt).step if ckpt is not None else 0), p.steps


def eval_seed(seed: int) -> int:
    """First evaluation episode seed of a training seed (the same for every method; disjoint across seeds)."""
    return derive_seed(seed, "paper-eval")  # 1_000_000 * (seed + 1)


def read_train_spec(path: Path) -> dict[str, Any] | None:
    """The train_spec.json of the run directory `path` (None where there is none); a ValueError naming the file
    where it is not JSON or not an object."""
    spec_path = path / "train_spec.json"
    if not spec_path.exists():
        return None
    saved = read_json(spec_path)
    if not isinstance(saved, dict):
        raise ValueError(f"{spec_path}: expected a JSON object of training settings, got a {type(saved).__name__}; "
                         "remove the run directory to retrain it")
    return saved


def prepare_run_dir(path: Path, spec: dict[str, Any]) -> None:
    """Create `path` with its spec, or check that the one there matches (stale runs are never reused)."""
    spec_path = path / "train_spec.json"
    saved = read_train_spec(path)
    if saved is not None:
        spec = jsonable(spec)
        if not same_spec(saved, spec):
            diff = sorted(k for k in set(saved) | set(spec) if saved.get(k) != spec.get(k))
            raise ValueError(f"{path}: holds a run with other settings (train_spec.json fields {diff}, e.g. a new "
                             "dataset generation); remove it or use another --root")
        return
    path.mkdir(parents=True, exist_ok=True)
    write_json(spec_path, spec)


def same_spec(saved: Any, new: Any) -> bool:
    """Equal specs, where a model field added to the config after a run was made counts as equal when the new spec
    holds its default value (the run was made with that behaviour), at any depth (d3rlpy-dt's spec nests our DT's
    model dict). Everything else must match exactly."""
    if saved == new:
        return True
    if not (isinstance(saved, dict) and isinstance(new, dict)) or set(saved) - set(new):
        return False
    kind = new.get("kind")
    defaults = model_config(kind).to_dict() if kind in ("dt", "bc", "mlp-bc") else {}
    for key, value in new.items():
        if key not in saved:
            if key not in defaults or value != defaults[key]:
                return False
        elif not same_spec(saved[key], value):
            return False
    return True


def _train_time(path: Path, recorded: Callable[[], float | None], sitting: float) -> float:
    """The run's training wall seconds, fixed in path/timing.json once the run is complete (a later call, another
    experiment's cell loading the finished run, adds nothing and reads nothing else). `recorded()` reads what the
    run itself kept over its sittings up to its last checkpoint (trainer state, d3rlpy progress.json); a run from
    before that record existed falls back to this sitting's time, which undercounts a resumed run."""
    f = path / "timing.json"
    saved = read_json(f) if f.exists() else {}
    if not isinstance(saved, dict):
        raise ValueError(f"{f}: expected a JSON object, got a {type(saved).__name__}; remove the file (the run's "
                         "time is then this sitting's)")
    if saved.get("finished"):
        seconds = saved.get("train_seconds")
        if not (is_real(seconds) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"{f}: field 'train_seconds' is {seconds!r}; expected a number of seconds >= 0")
        return seconds
    total = round(recorded() or sitting, 2)
    write_json(f, {"train_seconds": total, "finished": True})
    return total


def train_policy(p: Plan, data: TrajectoryDataset, first_target: float) -> tuple[Any, float, list[list[float]]]:
    """(policy, total training seconds, learning curve [[step, mean return]]) of a trained (or loaded, or
    resumed) method. The policy is a RolloutPolicy (transformers), an observation -> action function (TD
    baselines) or a PeerDTPolicy (d3rlpy-dt). The run directory is locked meanwhile (runlock.py): a second process
    on the same run gets RunInUse."""
    with runlock.exclusive(p.path, f"the {p.method} run on {p.spec['dataset']}, seed {p.seed}"):
        prepare_run_dir(p.path, p.spec)
        t0 = time.perf_counter()
        policy, recorded, curve = (_train_d3rlpy if p.method in D3RLPY_METHODS else _train_ours)(p, data, first_target)
        return policy, _train_time(p.path, recorded, time.perf_counter() - t0), curve


def _train_d3rlpy(p: Plan, data: TrajectoryDataset, first_target: float) -> tuple[Any, Callable, list]:
    from .baselines import d3rlpy_device, recorded_train_seconds, train_baseline
    from .peer_dt import gpt2_init_peer, make_discrete_dt_algo, make_dt_algo

    cfg, b, delayed = p.cfg, p.budget, split_dataset(p.spec["dataset"])[1]
    curve_path = p.path / "curve.json"
    curve = json.loads(curve_path.read_text()) if curve_path.exists() else []
    eval_every = b.train.eval_every
    settings = baseline_settings(cfg, p.dataset, p.method)

    def on_chunk(step: int, policy: Any) -> None:
        if eval_every and step % eval_every == 0:
            returns = _run_policy(p, policy, data.env_id, derive_seed(p.seed, "train-eval"), b.eval_episodes,
                                  first_target)
            curve.append([step, float(np.mean(returns))])
            write_json(curve_path, curve)

    build = make_discrete_dt_algo if is_atari(p.dataset) else make_dt_algo

    def make(d3rlpy: Any, mdp: Any) -> Any:
        algo = build(d3rlpy, settings, p.spec["model"]["dt"], b, d3rlpy_device(cfg.device))
        if p.spec["model"].get("init") == "gpt2":
            gpt2_init_peer(algo, mdp)
        return algo
    policy = train_baseline(p.method, settings, data.delayed_rewards() if delayed else data, p.dataset,
                            p.path / "d3rlpy", p.seed, p.steps, min(b.train.save_every, eval_every or b.train.save_every),
                            on_chunk, cfg.device, make if p.method in PEER_METHODS else None)
    return policy, lambda: recorded_train_seconds(p.path / "d3rlpy"), curve


def _train_ours(p: Plan, data: TrajectoryDataset, first_target: float) -> tuple[Any, Callable, list]:
    if p.method in ODT_METHODS:  # the dt-stochastic cell's run (trained here if it is not yet), fine-tuned online
        pre = plan(p.cfg, "beyond", p.dataset, "dt-stochastic", p.seed)
        _, pre_seconds, _ = train_policy(pre, data, first_target)  # its own directory, lock and spec
        policy, curve = beyond.finetune_cell(p, data, first_target, pre.path / "run")
        tuned = beyond.finetune_seconds(p)
        return policy, lambda: None if tuned is None else pre_seconds + tuned, curve
    b, model = p.budget, p.spec["model"]
    settings = {k: v for k, v in model.items() if k not in ("kind", "condition_on_return")}
    # the protocol's training, with what this cell sets: its %BC fraction, delayed rewards, evaluation target, and
    # the method's own training fields (TRAIN_FIELDS)
    tcfg = dataclasses.replace(b.train, log_every=min(100, b.train.steps), top_fraction=TOP_FRACTIONS.get(p.method, 1.0),
                               delayed_rewards=split_dataset(p.spec["dataset"])[1],
                               eval_targets=(first_target,) if b.train.eval_every else (),
                               eval_episodes=b.eval_episodes, torch_threads=p.cfg.torch_threads,
                               precision=p.spec.get("precision", "fp32"), device=p.cfg.device, progress=False,
                               **TRAIN_FIELDS.get(p.method, {}))
    run = train_cell(tcfg, model_config(model["kind"], **settings), data, p.path / "run", p.seed)
    curve = [[r["step"], r["eval/return_mean"]] for r in read_metrics(p.path / "run") if "eval/return_mean" in r]
    return RolloutPolicy.from_run(run), lambda: load_trainer_state(run.path).get("train_seconds"), curve


def _env_kwargs(cfg: PaperBenchConfig, dataset: str = "") -> dict[str, Any]:
    cap = cfg.max_episode_steps or (cfg.atari.max_episode_steps if is_atari(dataset) else 0)
    return {"max_episode_steps": cap} if cap else {}


def epsilon_greedy(act: Callable, epsilon: float, n_actions: int, seed: int) -> Callable:
    """`act` with each row's action replaced, with probability `epsilon`, by a uniform one (a generator seeded with
    `seed`)."""
    rng = np.random.default_rng(seed)

    def noisy(obs: np.ndarray) -> np.ndarray:
        actions = np.asarray(act(obs)).copy()
        explore = rng.random(len(actions)) < epsilon
        actions[explore] = rng.integers(n_actions, size=int(explore.sum()))
        return actions

    return noisy


def d3rlpy_steps(budget: Any, method: str) -> int:
    """Gradient steps of a method trained through d3rlpy: the peer DT gets the transformers' budget."""
    return budget.train.steps if method in PEER_METHODS else budget.baseline_steps


def _run_policy(p: Plan, policy: Any, env_id: str, seed: int, n: int, target: float | None = None) -> list[float]:
    """Returns of `n` episodes from `seed` of an observation -> action function, or of d3rlpy's DT (a PeerDTPolicy)
    at `target`."""
    from .peer_dt import PeerDTPolicy

    cfg = p.cfg
    fns = [lambda: make_env(env_id, **_env_kwargs(cfg, p.base))] * min(n, 16)
    if not isinstance(policy, PeerDTPolicy) and is_atari(p.base) and cfg.atari_cql.eval_epsilon > 0:
        with contextlib.closing(fns[0]()) as env:
            policy = epsilon_greedy(policy, cfg.atari_cql.eval_epsilon, int(env.action_space.n), seed)
    agent = (policy.agent(target, seed, cfg.atari.temperature) if isinstance(policy, PeerDTPolicy)
             else FunctionAgent(policy))
    return run_episodes(agent, fns, n, seed=seed).returns


def evaluate_policy(p: Plan, policy: Any, env_id: str, targets: list[float] | None,
                    seed: int | None = None) -> tuple[list[list[float]], float]:
    """(returns per target, seconds): the plan's `eval_episodes` episodes per target from `seed` (default: its
    evaluation seed; one list for a policy without targets). Cached in the run directory's evals/ by what determines
    it."""
    cfg, base = p.cfg, p.base
    atari = is_atari(base)
    spec = {"targets": targets, "episodes": p.eval_episodes, "seed": p.eval_seed if seed is None else seed,
            "max_episode_steps": _env_kwargs(cfg, base).get("max_episode_steps", 0), "env_id": env_id,
            **({"temperature": cfg.atari.temperature} if atari else {})}
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = p.path / "evals" / f"{key}.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["returns"], saved["seconds"]
    t0 = time.perf_counter()
    if isinstance(policy, RolloutPolicy):
        res = evaluate(policy, env_id, targets, num_episodes=spec["episodes"], seed=spec["seed"], progress=False,
                       dataset_name=base, env_kwargs=_env_kwargs(cfg, base),
                       temperature=cfg.atari.temperature if atari else 0.0)
        returns = [r.returns for r in res]
    else:
        returns = [_run_policy(p, policy, env_id, spec["seed"], p.eval_episodes, t) for t in (targets or [None])]
    seconds = round(time.perf_counter() - t0, 2)
    write_json(path, {"spec": spec, "returns": returns, "seconds": seconds})
    return returns, seconds
