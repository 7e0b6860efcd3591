"""Every import line in the README's and docs/'s Python examples, and in the Python files under scripts/ and docs/
(the scripts that make published figures), names something that exists (a moved name in an example is what a new
user meets first; in a script, what the next person to rerun it does). Only `decision_transformer` / `dt_experiments`
imports are checked: the rest needs data, runs and envs."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _imports():
    for doc in DOCS:
        for block in BLOCK.findall(doc.read_text()):
            for line in block.splitlines():
                stripped = line.strip()
                if re.match(r"(from|import) (decision_transformer|dt_experiments)\b", stripped):
                    yield pytest.param(stripped, id=f"{doc.name}: {stripped[:60]}")


def _script_imports():
    for script in sorted([*(ROOT / "scripts").glob("*.py"), *(ROOT / "docs").rglob("*.py")]):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                line = ast.unparse(node)
                if re.match(r"(from|import) (decision_transformer|dt_experiments)\b", line):
                    yield pytest.param(line, id=f"{script.relative_to(ROOT)}: {line[:60]}")


IMPORTS = list(_imports())
SCRIPT_IMPORTS = list(_script_imports())


def test_the_docs_have_python_examples_to_check():
    assert len(IMPORTS) >= 5


def test_the_scripts_have_imports_to_check():
    assert len(SCRIPT_IMPORTS) >= 5


@pytest.mark.parametrize("line", IMPORTS + SCRIPT_IMPORTS)
def test_a_docs_import_line_imports(line):
    node = ast.parse(line.split("#")[0]).body[0]
    if isinstance(node, ast.Import):
        for alias in node.names:
            importlib.import_module(alias.name)
        return
    module = importlib.import_module(node.module)
    missing = [a.name for a in node.names if not hasattr(module, a.name) and not _submodule(f"{node.module}.{a.name}")]
    assert not missing, f"{line}: {node.module} has no {missing}"


def _submodule(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package
        return False
