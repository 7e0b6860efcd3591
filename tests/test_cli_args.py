"""Options generated from dataclasses (cli_args.py): nested configs, inline fields, and writing a config back."""

import argparse
import dataclasses
from dataclasses import dataclass, field

import pytest

from decision_transformer.cli_args import add_dataclass_args, field_docs, from_args, given, inline, option_values, to_argv
from decision_transformer.run_config import TrainConfig


@dataclass(frozen=True)
class Budget:
    """A protocol holding a nested TrainConfig, two of whose fields are its options."""

    train: TrainConfig = field(default=TrainConfig(steps=50), metadata=inline("steps", "precision"))
    """The training."""
    episodes: int = 10
    """Evaluation episodes."""


@dataclass(frozen=True)
class Bench:
    """Two protocols, a plain nested config and a flag."""

    cpu: Budget = Budget()
    """The small budget."""
    other: TrainConfig = TrainConfig()
    """A nested config whose every field is an option."""
    quick: bool = False
    """A boolean."""


@dataclass(frozen=True)
class Narrower(Budget):
    """A subclass that declares a base field again, with its own default and docstring, and adds one."""

    episodes: int = 3
    """Fewer evaluation episodes."""
    extra: int = 0
    """A field of its own."""


def parse(cls, argv):
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, cls)
    return parser.parse_args(argv)


def test_inline_fields_are_options_at_the_parents_level():
    args = parse(Bench, ["--cpu.steps", "7", "--cpu.episodes", "3", "--other.lr", "0.5", "--quick"])
    assert given(args, Bench)["cpu.train.steps"] == 7
    cfg = from_args(Bench, args)
    assert cfg.cpu.train.steps == 7 and cfg.cpu.episodes == 3 and cfg.other.lr == 0.5 and cfg.quick
    # the nested config's other fields keep the protocol's values, never the class defaults'
    assert cfg.cpu.train == dataclasses.replace(Budget().train, steps=7)
    with pytest.raises(SystemExit):  # a field the protocol does not lend is no option
        parse(Bench, ["--cpu.lr", "0.1"])
    with pytest.raises(SystemExit):
        parse(Bench, ["--cpu.train.steps", "7"])


def test_to_argv_rebuilds_the_config_and_option_values_read_it_flat():
    cfg = Bench(cpu=Budget(train=dataclasses.replace(Budget().train, steps=9, precision="bf16"), episodes=4),
                other=TrainConfig(lr=0.25, progress=False))
    assert from_args(Bench, parse(Bench, to_argv(cfg))) == cfg
    assert "--no-other.progress" in to_argv(cfg) and "--no-quick" in to_argv(cfg)
    assert option_values(cfg.cpu) == {"steps": 9, "precision": "bf16", "episodes": 4}


def test_inline_names_must_exist():
    @dataclass(frozen=True)
    class Wrong:
        train: TrainConfig = field(default=TrainConfig(), metadata=inline("stepz"))

    with pytest.raises(TypeError, match="stepz"):
        add_dataclass_args(argparse.ArgumentParser(), Wrong)


def test_building_the_dt_parser_loads_no_torch():
    """`dt --help` and every command's start build the whole parser (library commands and the experiments'
    entry points): the configs and settings it reads must not load torch, which costs seconds. In a fresh
    interpreter, since this test process has loaded torch already."""
    import subprocess
    import sys

    code = ("import sys; from decision_transformer.cli import build_parser; build_parser(); "
            "heavy = sorted(m for m in ('torch', 'd3rlpy', 'matplotlib', 'gymnasium.envs.mujoco') if m in sys.modules); "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"building the parser loaded {out.strip()}"


def test_a_subclass_takes_its_bases_field_docs_and_overrides_the_ones_it_declares_again():
    assert field_docs(Narrower) == {"train": "The training.", "episodes": "Fewer evaluation episodes.",
                                    "extra": "A field of its own."}
    args = parse(Narrower, ["--episodes", "5", "--extra", "2"])
    assert from_args(Narrower, args) == Narrower(episodes=5, extra=2)


def test_command_help_is_the_docstrings_first_sentence_in_the_listings_style_and_the_whole_docstring_on_help():
    from decision_transformer.cli_args import command_help

    @dataclass(frozen=True)
    class Evaluate:
        """Evaluate a run at targets. More detail
        over two lines.

        A second paragraph."""

    @dataclass(frozen=True)
    class Hf:
        """HF checkpoint -> run."""

    kw = command_help(Evaluate)
    assert kw["help"] == "evaluate a run at targets"
    assert kw["description"].startswith("Evaluate a run at targets. More detail\nover two lines.\n\nA second paragraph")
    assert command_help(Hf)["help"] == "HF checkpoint -> run"


def test_every_command_listing_line_has_one_style():
    from decision_transformer.cli import build_parser

    def listings(parser):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    yield choice.dest, choice.help
                for sub in action.choices.values():
                    yield from listings(sub)

    lines = list(listings(build_parser()))
    assert len(lines) > 20
    for name, text in lines:
        assert text and not text.endswith("."), (name, text)
        first = text.split()[0]
        proper = first in ("Key-to-Door",) or first[1:2].isupper()  # names and acronyms keep their capitals
        assert proper or first[0].islower() or not first[0].isalpha(), (name, text)
