"""The README's command-line examples run as written.

Every ```bash block of README.md that holds a ``casip ...`` line is run line by line, in order,
in one temporary folder laid out like a checkout: ``../shared/data`` is the shared data
(fixture ``shared_data``) and ``src/`` is this repository's, so that the paths in the README
resolve exactly as they do for a user in the repository. State carries over from block to
block (the tour copies ``my-cell.yaml`` once and uses it later). ``casip serve`` (it does not
return) and the install blocks are skipped. Each command must exit with status 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def bash_blocks(text: str) -> list[str]:
    """The bodies of the ```bash fenced blocks, in order."""
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S)


def commands(block: str) -> list[str]:
    """The commands of a block: continuation lines joined, heredocs kept with their command."""
    out: list[str] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cmd = line
        while cmd.endswith("\\") and i < len(lines):
            cmd = cmd[:-1] + " " + lines[i].strip()
            i += 1
        here = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", cmd)
        if here:
            body = []
            while i < len(lines) and lines[i].strip() != here.group(1):
                body.append(lines[i])
                i += 1
            i += 1  # the terminator
            cmd = "\n".join([cmd, *body, here.group(1)])
        out.append(cmd)
    return out


def is_casip(cmd: str) -> bool:
    return cmd.split(None, 1)[0] == "casip"


def tour() -> list[list[str]]:
    """The commands of every README block that runs ``casip``, ``casip serve`` left out."""
    blocks = []
    for block in bash_blocks(README.read_text(encoding="utf-8")):
        cmds = commands(block)
        if not any(is_casip(c) for c in cmds):
            continue  # the install and test blocks
        blocks.append([c for c in cmds if not c.startswith("casip serve")])
    return blocks


TOUR = tour()


def test_the_readme_has_runnable_casip_examples():
    """Every ``casip`` line can run as written: no ``<placeholder>`` arguments."""
    casip_lines = [c for block in TOUR for c in block if is_casip(c)]
    assert len(casip_lines) >= 25
    for c in casip_lines:
        words = shlex.split(c.split("\n", 1)[0], comments=True)
        placeholders = [w for w in words if w.startswith("<") or w.endswith(">")]
        assert not placeholders, f"README example with a placeholder: {c}"
    # files the tour uses are made by the tour (or are in the repository / shared data)
    assert any(c.startswith("cat > my-prices.yaml") for block in TOUR for c in block)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, shared_data: Path) -> dict:
    """A folder laid out like a checkout, and an environment whose ``casip`` is this one."""
    root = tmp_path_factory.mktemp("readme")
    (root / "shared").mkdir()
    (root / "shared" / "data").symlink_to(shared_data, target_is_directory=True)
    cwd = root / "casip"
    cwd.mkdir()
    (cwd / "src").symlink_to(REPO / "src", target_is_directory=True)
    bindir = root / "bin"
    bindir.mkdir()
    shim = bindir / "casip"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m casip "$@"\n',
                    encoding="utf-8")
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "160", "PYTHONIOENCODING": "utf-8", "PYBAMM_DISABLE_TELEMETRY": "true"}
    for var in ("CASIP_STORE", "CASIP_DATA_DIR", "CASIP_DATABASE_URL", "CASIP_SHARED_DATA"):
        env.pop(var, None)
    return {"cwd": cwd, "env": env}


@pytest.mark.slow
@pytest.mark.parametrize("block", range(len(TOUR)),
                         ids=[b[0].split("\n")[0][:40] for b in TOUR])
def test_readme_example_block_runs_as_written(workspace: dict, block: int):
    for cmd in TOUR[block]:
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=workspace["cwd"],
                           env=workspace["env"], capture_output=True, text=True,
                           encoding="utf-8", timeout=1800, check=False)
        assert r.returncode == 0, (
            f"README example failed with status {r.returncode}:\n{cmd}\n"
            f"--- stderr ---\n{r.stderr[-3000:]}\n--- stdout ---\n{r.stdout[-2000:]}"
        )
        assert "Traceback" not in r.stderr, r.stderr
