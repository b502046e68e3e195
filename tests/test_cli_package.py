"""The layout of the ``casip.cli`` package: imports go one way, the entry points still work.

``casip.cli.common`` imports nothing of the package; every command-group module imports only
``casip.cli.common``; only the package root (``casip/cli/__init__.py``) imports the groups.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import casip
import casip.cli

ROOT = "casip.cli"
COMMON = "casip.cli.common"
GROUPS = ("design", "data", "physics", "life", "explore", "campaign", "platform")


def _modules() -> dict[str, Path]:
    """Every module of the package (the root included) with its source file."""
    found = {ROOT: Path(casip.cli.__file__)}
    for info in pkgutil.iter_modules(casip.cli.__path__, prefix=f"{ROOT}."):
        found[info.name] = Path(importlib.import_module(info.name).__file__)
    return found


def _package_imports(name: str, path: Path) -> set[str]:
    """The modules of ``casip.cli`` that ``name`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            # `from casip import cli` and `from casip.cli import data` name modules too.
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t == ROOT or t.startswith(f"{ROOT}."):
                # `from casip.cli.common import x` -> casip.cli.common, not casip.cli.common.x
                mod = t
                while mod not in _KNOWN and mod != ROOT:
                    mod = mod.rpartition(".")[0]
                out.add(mod)
            elif t == "casip.cli" or t.startswith("casip.cli_"):
                out.add(t)
    out.discard(name)
    return out


_KNOWN = set(_modules())


def test_package_has_common_and_one_module_per_group():
    assert {COMMON, *(f"{ROOT}.{g}" for g in GROUPS)} <= _KNOWN
    # The old flat modules (casip/cli.py, casip/cli_data.py, ...) are gone.
    src = Path(casip.__file__).parent
    assert not list(src.glob("cli*.py"))


@pytest.mark.parametrize("name", sorted(_KNOWN - {ROOT}))
def test_no_module_of_the_package_imports_the_package_root(name):
    imported = _package_imports(name, _modules()[name])
    assert ROOT not in imported, f"{name} imports {ROOT} (the package root)"
    if name == COMMON:
        assert imported == set(), f"{COMMON} imports {sorted(imported)}"
    else:
        assert imported <= {COMMON}, f"{name} imports {sorted(imported - {COMMON})}"


def test_only_the_root_assembles_the_groups():
    imported = _package_imports(ROOT, _modules()[ROOT])
    assert {f"{ROOT}.{g}" for g in GROUPS} <= imported
    names = {c.name for c in casip.cli.app.registered_commands}
    names |= {g.name for g in casip.cli.app.registered_groups}
    assert {"show", "compare", "references", "sweep", "schema", "serve", "materials",
            "reference", "data", "sim", "life", "explore", "platform"} <= names


def test_the_import_checker_sees_a_cycle(tmp_path):
    """The AST check itself catches ``from casip.cli import x`` and relative imports."""
    path = tmp_path / "data.py"
    path.write_text(
        "from casip.cli import app\nfrom . import design\nfrom .common import wrote\n",
        encoding="utf-8",
    )
    assert _package_imports("casip.cli.data", path) == {ROOT, "casip.cli.design", COMMON}


def test_console_script_and_python_m_casip():
    scripts = tomllib.loads(
        (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]["scripts"]
    module, _, func = scripts["casip"].partition(":")
    assert callable(getattr(importlib.import_module(module), func))
    run = subprocess.run(
        [sys.executable, "-m", "casip", "--version"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"casip {casip.__version__}"


def test_paths_beside_the_repository_still_resolve(monkeypatch):
    """The default Severson folder is ../shared/data/severson beside the repository."""
    from casip.cli.life import severson_folder
    from casip.errors import CasipInputError

    monkeypatch.delenv("CASIP_SHARED_DATA", raising=False)
    expected = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "severson"
    try:
        assert severson_folder() == expected
    except CasipInputError as exc:  # no shared data on this machine: the message names it
        assert str(expected) in str(exc)
