"""scripts/park_runs.py: unfinished d3rlpy runs carried across machines in git (park at the end of a sitting, unpark on
the next machine), on a fake runs/ tree."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "park_runs.py"
RUN = Path("runs/paper/cpu/train/hopper-medium-replay/cql/seed0")
PEER = Path("runs/paper/cpu/train/hopper-medium-replay/d3rlpy-dt/seed1")


@pytest.fixture
def park_runs(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("park_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "PARKED", tmp_path / "repo" / "docs" / "results" / "parked")
    return module


def make_run(root: Path, rel: Path, method: str, step: int, model: bytes = b"weights") -> Path:
    run = root / rel
    (run / "d3rlpy").mkdir(parents=True)
    budget = {"steps": 10, "baseline_steps": 100}
    (run / "train_spec.json").write_text(json.dumps({"method": method, "budget": budget}))
    (run / "d3rlpy" / "progress.json").write_text(json.dumps({"step": step}))
    (run / "d3rlpy" / "model.d3").write_bytes(model)
    (run / "d3rlpy" / "metrics.jsonl").write_text('{"step": 1}\n')
    return run


def test_park_keeps_unfinished_runs_and_unpark_restores_them_on_a_new_machine(park_runs, tmp_path, monkeypatch):
    old = tmp_path / "old"
    make_run(old, RUN, "cql", 50, b"cql at 50")  # unfinished: 50 of baseline_steps 100
    make_run(old, PEER, "d3rlpy-dt", 10)  # the peer's budget is the transformers' steps: finished
    monkeypatch.setattr(park_runs, "ROOT", old)
    park_runs.park()
    parked = park_runs.PARKED
    assert (parked / RUN / "d3rlpy" / "model.d3").read_bytes() == b"cql at 50"
    assert json.loads((parked / RUN / "train_spec.json").read_text())["method"] == "cql"
    assert not (parked / PEER).exists()
    assert not list(parked.rglob("*.tmp"))  # copied through a temporary name, then renamed

    new = tmp_path / "new"  # a new machine: git only
    monkeypatch.setattr(park_runs, "ROOT", new)
    park_runs.unpark()
    assert (new / RUN / "d3rlpy" / "model.d3").read_bytes() == b"cql at 50"
    assert json.loads((new / RUN / "d3rlpy" / "progress.json").read_text())["step"] == 50

    # a machine whose run went further keeps it
    further = tmp_path / "further"
    make_run(further, RUN, "cql", 75, b"cql at 75")
    monkeypatch.setattr(park_runs, "ROOT", further)
    park_runs.unpark()
    assert (further / RUN / "d3rlpy" / "model.d3").read_bytes() == b"cql at 75"

    # once the run finishes, parking removes its parked copy
    (further / RUN / "d3rlpy" / "progress.json").write_text(json.dumps({"step": 100}))
    park_runs.park()
    assert not (parked / RUN).exists()


def test_a_checkpoint_over_the_size_limit_is_not_parked(park_runs, tmp_path, monkeypatch):
    root = tmp_path / "machine"
    make_run(root, RUN, "cql", 50, b"x" * (2**20 + 1))
    monkeypatch.setattr(park_runs, "ROOT", root)
    monkeypatch.setattr(park_runs, "MAX_MB", 1)
    park_runs.park()
    assert not (park_runs.PARKED / RUN).exists()


def test_locked_runs_are_skipped_by_park_and_unpark(park_runs, tmp_path, monkeypatch, capsys):
    from decision_transformer.common import runlock

    root = tmp_path / "machine"
    run = make_run(root, RUN, "cql", 50, b"cql at 50")
    monkeypatch.setattr(park_runs, "ROOT", root)
    with runlock.exclusive(run):  # a live process writes the run: parking would copy a half-written chunk
        park_runs.park()
    assert not (park_runs.PARKED / RUN).exists()
    assert f"skipped (in use by pid {__import__('os').getpid()}" in capsys.readouterr().out
    park_runs.park()
    assert (park_runs.PARKED / RUN / "d3rlpy" / "model.d3").read_bytes() == b"cql at 50"

    new = tmp_path / "new"  # its own run at step 10, held by a live process: unpark must not overwrite it
    local = make_run(new, RUN, "cql", 10, b"cql at 10")
    monkeypatch.setattr(park_runs, "ROOT", new)
    with runlock.exclusive(local):
        park_runs.unpark()
    assert (local / "d3rlpy" / "model.d3").read_bytes() == b"cql at 10"
    assert "skipped (in use" in capsys.readouterr().out
    park_runs.unpark()
    assert (local / "d3rlpy" / "model.d3").read_bytes() == b"cql at 50"


def test_from_without_runs_is_refused(park_runs, tmp_path):
    assert "no runs/ directory" in park_runs.main(["park", "--from", str(tmp_path / "nonexistent")])
    assert "--from" in park_runs.main(["unpark", "--from", str(tmp_path)])
    assert park_runs.main(["park", "--bogus"]).startswith("usage:")


@pytest.mark.parametrize("damage,named", [
    (lambda run: (run / "d3rlpy" / "progress.json").write_text('{"step": '), "progress.json"),
    (lambda run: (run / "d3rlpy" / "progress.json").write_text('{"step": "5"}'), "'step'"),
    (lambda run: (run / "d3rlpy" / "model.d3").unlink(), "model.d3"),
    (lambda run: (run / "train_spec.json").write_text('{"method": "cql", "budget": {}}'), "budget.baseline_steps"),
    (lambda run: (run / "train_spec.json").write_text('[]'), "train_spec.json"),
])
def test_a_bad_run_stops_parking_before_any_run_is_parked(park_runs, tmp_path, monkeypatch, damage, named):
    root = tmp_path / "machine"
    make_run(root, RUN, "cql", 50)  # sorted before the damaged one: checked, never parked
    bad = make_run(root, Path(str(RUN).replace("seed0", "seed1")), "cql", 50)
    damage(bad)
    monkeypatch.setattr(park_runs, "ROOT", root)
    with pytest.raises(park_runs.ParkError, match="seed1") as err:
        park_runs.park()
    assert named in str(err.value) and "\n" not in str(err.value)
    assert not park_runs.PARKED.exists()
    error = park_runs.main(["park", "--from", str(root)])
    assert error.startswith("park_runs.py: error: ") and named in error
