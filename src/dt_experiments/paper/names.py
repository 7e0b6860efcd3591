"""What `dt bench paper` is made of, by name: its experiments, protocols and methods, the datasets' naming (the
'-delayed' suffix, env and Atari games), and which (dataset, method) cells each experiment has (`GROUPS`,
`experiment_cells`). Names and the rules on them only: the budgets and settings are config.py's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..configs import TOP_FRACTIONS

if TYPE_CHECKING:
    from .config import PaperBenchConfig

GYM_EXPERIMENTS = ("table2", "table3", "table7", "fig4", "context", "paper-targets", "chosen-target")
# paper-targets: Table 2's target-conditioned methods asked for the paper's gym code's fixed targets
# (PAPER_GYM_TARGETS) instead of the data's best return and half of it (Table 2's rule here): the same trained runs.
# chosen-target: the same runs at a target each cell chooses on episodes it does not report (the data's best, 1.5
# and 2 times it, the paper's target: the best mean on the evaluation seed + 500,000), reported on its own episodes
# the paper's Atari tables (issue 15) on this project's own ALE datasets: DT against BC (Table 1), against %BC
# (Table 4), K=1 against the paper's K (Table 5), and Figure 4's top row (achieved against target return); reported
# in atari.json; atari-beyond is the beyond experiment's target-free acting (dt-auto) on Breakout
ATARI_EXPERIMENTS = ("atari-table1", "atari-table4", "atari-table5", "atari-fig4", "atari-beyond")
# the experiments that sweep DT's target return (Figure 4): their cells hold achieved returns and a Pearson r
FIG4_EXPERIMENTS = ("fig4", "atari-fig4", "beyond-fig4")
# beyond the paper (docs/beyond.md): DT against its target-free variant (dt-auto), its stochastic-policy variant
# (dt-stochastic) and online fine-tuning (odt); beyond-fig4 sweeps targets to twice the data's best (does a method
# pass the data's best episode when asked?)
BEYOND_EXPERIMENTS = ("beyond", "beyond-fig4")
EXPERIMENTS = GYM_EXPERIMENTS + ATARI_EXPERIMENTS + BEYOND_EXPERIMENTS
PROTOCOLS = ("cpu", "cpu-v2", "full")
# A protocol version evaluates another protocol's training runs differently: cpu-v2 is cpu's training (its runs are
# shared, under ROOT/cpu/train) with more evaluation episodes wherever they cost under a tenth of a cell's training
# (PaperBenchConfig.v2_eval_episodes). Its cells live under ROOT/cpu-v2 and are reported apart: one report, one
# version.
TRAINING_PROTOCOL = {"cpu-v2": "cpu"}
TRANSFORMER_METHODS = ("dt", "bc", "mlp-bc", "pbc10", "pbc25", "pbc40", "dt-k1", "dt-official-init", "dt-end-windows",
                       "dt-tanh-embed")
# The peer question's diagnostics, each our DT with one of d3rlpy's construction differences: dt-official-init
# initialised as the paper's gym code and d3rlpy's DT are (DTConfig.init="official": GPT-2's init inside the blocks,
# PyTorch's defaults for the embeddings and heads); dt-end-windows trained on windows ending at a uniformly drawn
# step, d3rlpy's convention (TrainConfig.sampler="window-end"; ours start there)
# TrainConfig fields a method sets on top of the protocol's training (its method name in the cell's spec records them)
TRAIN_FIELDS = {"dt-end-windows": {"sampler": "window-end"}, "dt-nll": {"init_temperature": 0.0},
                "dt-nll-unit-scale": {"init_temperature": 0.0}}
# DTConfig fields a diagnostic method sets on top of its kind's defaults (and the beyond fields, beyond.model_fields),
# each with the one domain, "gym" or "Atari", whose model they change (methods.model_settings refuses them on the
# other): dt-official-init's initialisation; dt-nll-unit-scale's log-std range pinned at log 1 (DTConfig needs
# min < max; the scale then varies by under a millionth); dt-tanh-embed embeds tokens as the paper's Atari code does
# (tanh on each embedding, no LayerNorm), where our DT LayerNorms them as the paper's gym code does; a trained
# Breakout DT's R token barely varies with R past ~20 there (docs/atari.md, 2026-12-07), which may cap how far it
# follows a target
MODEL_FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    "dt-official-init": ("gym", {"init": "official"}),
    "dt-nll-unit-scale": ("gym", {"log_std_min": 0.0, "log_std_max": 1e-6}),
    "dt-tanh-embed": ("Atari", {"embed_norm": "tanh"}),
}
# dt-auto: DT with a return head acting on its own targets; dt-stochastic: DT with ODT's stochastic policy
# (tanh-Gaussian, learned temperature), offline only; odt: that run fine-tuned online (beyond.py); dt-auto-stochastic:
# both, Reinformer's objective (its code trains the return head beside ODT's stochastic policy: docs/beyond.md);
# dt-nll: dt-stochastic without the entropy term (the policy fit by likelihood alone: which part of ODT's objective
# lets dt-stochastic follow targets past the data's best?); dt-nll-unit-scale: dt-nll with its scale held at 1 (a
# squared error in the pre-tanh space: is it the learned per-dimension scale, or fitting before the tanh?);
# odt-paper-targets: odt fine-tuned and evaluated at the paper's gym target (PAPER_GYM_TARGETS), exploring at twice
# it, whatever the experiment: for Hopper 3600 / 7200, ODT's own setting (the authors' code defaults: docs/beyond.md);
# dt-sra: DT with dt-auto's token order (s, R, a) and no return loss, acting at given targets (does the order or the
# return loss make dt-auto's policy collapse at high targets?); dt-auto-normalized: dt-auto with the return loss
# divided by the batch's mean |R| (DTConfig.return_loss_normalized, as Reinformer's code), for returns that enter
# unscaled (Atari: added 2026-12-07 after dt-auto's breakout-mixed cells, whose plain return loss starved the policy)
BEYOND_METHODS = ("dt-auto", "dt-auto-stochastic", "dt-auto-normalized", "dt-stochastic", "dt-nll",
                  "dt-nll-unit-scale", "odt", "odt-paper-targets", "dt-sra")
AUTO_TARGET_METHODS = ("dt-auto", "dt-auto-stochastic", "dt-auto-normalized")  # a return head; they act on their
# own proposals
NORMALIZED_RETURN_METHODS = ("dt-auto-normalized",)
UNTRAINED_HEAD_METHODS = ("dt-sra",)  # a return head kept untrained (weight 0): the order alone, acting at targets
ODT_METHODS = ("odt", "odt-paper-targets")  # the dt-stochastic run fine-tuned online (beyond.finetune_cell)
STOCHASTIC_METHODS = ("dt-auto-stochastic", "dt-stochastic", "dt-nll", "dt-nll-unit-scale") + ODT_METHODS  # ODT's
# tanh-Gaussian (continuous actions only)
BASELINE_METHODS = ("cql", "iql", "td3bc", "bear")
# Another implementation of DT (d3rlpy's, peer_dt.py), trained at the transformers' budget and seeds
PEER_METHODS = ("d3rlpy-dt", "d3rlpy-dt-gpt2-init")
# the peer question's converse diagnostic: d3rlpy's DT with every layer initialised N(0, 0.02) as our DT's default
# (DTConfig.init="gpt2"), where d3rlpy leaves its embeddings and head at PyTorch's defaults (gym only)
PEER_INIT = {"d3rlpy-dt-gpt2-init": "gpt2"}
D3RLPY_METHODS = BASELINE_METHODS + PEER_METHODS  # trained through d3rlpy (the [baselines] extra)
METHODS = TRANSFORMER_METHODS + BASELINE_METHODS + PEER_METHODS + BEYOND_METHODS


def model_kind(method: str) -> str:
    """The model kind (decision_transformer.config.MODEL_KINDS) a method of ours trains: mlp-bc, bc (BC and %BC: no
    return tokens), else dt (every DT variant: the diagnostics and the beyond methods)."""
    return "mlp-bc" if method == "mlp-bc" else "bc" if method == "bc" or method in TOP_FRACTIONS else "dt"


def conditioned(method: str) -> bool:
    """Whether a method acts on a target return (and so is evaluated at the experiment's targets): the peer DTs and
    every method of ours whose model is a DT."""
    return method in PEER_METHODS or (method not in BASELINE_METHODS and model_kind(method) == "dt")
DELAYED_SUFFIX = "-delayed"
# Methods that read no per-step reward: BC none at all, %BC only whole-episode returns to pick its episodes, which
# moving each return onto the last step keeps. On a '-delayed' dataset they train and act exactly as on the dense
# one, so their delayed cells are their dense runs (the paper's Table 7 lists them once, as 'agnostic').
REWARD_AGNOSTIC = ("bc", "mlp-bc", "pbc10", "pbc25", "pbc40")
ENVS = ("hopper", "walker2d", "halfcheetah", "reacher")
ATARI_GAMES = ("breakout", "pong", "qbert", "seaquest")
# the paper's Atari code's evaluation targets (kzl/decision-transformer atari/mingpt/trainer_atari.py)
ATARI_TARGETS = {"breakout": 90.0, "qbert": 14000.0, "pong": 20.0, "seaquest": 1150.0}
# the paper's gym code's evaluation targets, whatever the dataset (kzl/decision-transformer gym/experiment.py
# env_targets; its score is the first's): expert-level returns, where this suite's Table 2 asks for the data's best
PAPER_GYM_TARGETS = {"hopper": (3600.0, 1800.0), "walker2d": (5000.0, 2500.0), "halfcheetah": (12000.0, 6000.0),
                     "reacher": (76.0, 40.0)}


def split_dataset(name: str) -> tuple[str, bool]:
    """'hopper-medium-delayed' -> ('hopper-medium', True)."""
    if name.endswith(DELAYED_SUFFIX):
        return name[: -len(DELAYED_SUFFIX)], True
    return name, False


def trained_on(dataset: str, method: str) -> str:
    """The dataset a method's model is trained on: the dense one for a reward-agnostic method on '-delayed' data."""
    return split_dataset(dataset)[0] if method in REWARD_AGNOSTIC else dataset


def env_of(name: str) -> str:
    return split_dataset(name)[0].split("-")[0]


def is_atari(name: str) -> bool:
    return env_of(name) in ATARI_GAMES


def _names(envs, qualities, suffix: str = "") -> tuple[str, ...]:
    return tuple(f"{e}-{q}{suffix}" for q in qualities for e in envs)


Group = tuple[tuple[str, ...], tuple[str, ...], Callable[[str], bool]]
_ANY: Callable[[str], bool] = lambda d: True  # noqa: E731
HOPPER = ("medium-expert", "medium", "medium-replay")

# per experiment: (default datasets, default methods, which given --datasets the group takes)
GROUPS: dict[str, list[Group]] = {
    "table2": [(_names(ENVS, ("medium-expert", "medium", "medium-replay")),
                ("dt", "bc", "mlp-bc", "cql", "iql", "td3bc", "d3rlpy-dt"), _ANY)],
    "table3": [(_names(ENVS, ("medium", "medium-replay")), ("dt", "pbc10", "pbc25", "pbc40", "bc"), _ANY)],
    "table7": [(_names(("hopper",), HOPPER), ("dt", "cql"), lambda d: not d.endswith(DELAYED_SUFFIX)),
               (_names(("hopper",), HOPPER, DELAYED_SUFFIX), ("dt", "cql", "bc", "pbc10"),
                lambda d: d.endswith(DELAYED_SUFFIX))],
    "fig4": [(_names(ENVS, ("medium-replay",)), ("dt",), _ANY)],
    "paper-targets": [(_names(("hopper", "walker2d", "halfcheetah"), ("medium-replay",)),
                       ("dt", "dt-stochastic", "d3rlpy-dt", "odt-paper-targets"), _ANY)],
    "chosen-target": [(_names(("hopper", "walker2d", "halfcheetah"), ("medium-replay",)),
                       ("dt", "dt-stochastic", "d3rlpy-dt"), _ANY)],
    "context": [(("hopper-medium-replay", "walker2d-medium-replay"), ("dt", "dt-k1"), _ANY)],
    "atari-table1": [(("breakout-mixed", "pong-mixed"), ("dt", "bc", "cql"), _ANY)],
    "atari-table4": [(("breakout-mixed", "pong-mixed"), ("dt", "pbc10", "pbc25", "pbc40", "bc"), _ANY)],
    "atari-table5": [(("breakout-mixed", "pong-mixed"), ("dt", "dt-k1"), _ANY)],
    "atari-fig4": [(("breakout-mixed", "pong-mixed"), ("dt",), _ANY)],
    "beyond": [(_names(("hopper", "walker2d", "halfcheetah"), ("medium-replay",)),
                ("dt", "dt-auto", "dt-stochastic", "odt", "dt-auto-stochastic"), _ANY)],
    "beyond-fig4": [(_names(("hopper", "walker2d", "halfcheetah"), ("medium-replay",)),
                     ("dt", "dt-stochastic", "dt-nll", "dt-nll-unit-scale"), _ANY)],
    # ODT is continuous-action only (its tanh-Gaussian policy); Atari gets the target-free variant
    "atari-beyond": [(("breakout-mixed",), ("dt", "dt-auto", "dt-auto-normalized"), _ANY)],
}


def domain(dataset: str) -> str:
    """"Atari" or "gym": which model a dataset's methods build (MODEL_FIELDS' domains)."""
    return "Atari" if is_atari(dataset) else "gym"


def domain_methods(name: str) -> list[str]:
    """The methods the experiments of domain `name` ("gym" or "Atari") run by default, and its diagnostics, sorted: the
    list an error names when a method is refused there."""
    defaults = {m for groups in GROUPS.values() for datasets, methods, _ in groups if domain(datasets[0]) == name
                for m in methods}
    return sorted(defaults | {m for m, (d, _) in MODEL_FIELDS.items() if d == name})


def experiment_cells(cfg: PaperBenchConfig) -> list[tuple[str, str]]:
    """(dataset, method) pairs of cfg.exp, in run order, after --datasets / --methods."""
    atari_exp = cfg.exp in ATARI_EXPERIMENTS
    wrong = [d for d in cfg.datasets if is_atari(d) != atari_exp]
    if wrong:
        kind, other = ("Atari", "gym") if atari_exp else ("gym", "Atari")
        verb = "is" if len(wrong) == 1 else "are"
        raise ValueError(f"PaperBenchConfig.datasets (--datasets): {', '.join(wrong)} {verb} {other} data; --exp "
                         f"{cfg.exp} runs on {kind} datasets (e.g. {GROUPS[cfg.exp][0][0][0]})")
    out: list[tuple[str, str]] = []
    for datasets, methods, accepts in GROUPS[cfg.exp]:
        ds = [d for d in cfg.datasets if accepts(d)] if cfg.datasets else list(datasets)
        ms = list(cfg.methods) if cfg.methods else list(methods)
        out += [(d, m) for d in ds for m in ms if (d, m) not in out]
    return out
