"""``casip data attach / detach / show``: designs attached to tests of a local store.

A real cycler file of the shared data folder (a Bitrode 1C discharge, read in place) is
ingested into a temporary store; the design file is the LFP reference cell's, written out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from casip.cli import app
from casip.data import attachments
from casip.data.store import Store

FILE = "cell-discharge-bitrode-1c.csv"


def invoke(*args: str):
    return CliRunner().invoke(app, ["data", *args], env={"COLUMNS": "200"})


@pytest.fixture()
def stored(shared_data: Path, tmp_path: Path) -> tuple[Path, str]:
    src = shared_data / "cycler" / FILE
    if not src.is_file():
        pytest.skip(f"{src} missing from the shared data")
    store = tmp_path / "store"
    r = invoke("ingest", str(src), "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    return store, json.loads(r.stdout)["results"][0]["test_id"]


@pytest.fixture()
def design_file(tmp_path: Path) -> Path:
    from casip.cells import reference_text

    path = tmp_path / "my-lfp.yaml"
    path.write_text(reference_text("lfp-blade"), encoding="utf-8")
    return path


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.parquet")}


def test_attach_show_detach(stored, design_file):
    store, tid = stored
    folder = store / "tests" / f"test_id={tid}"
    before = _digests(folder)
    r = invoke("attach", tid[:6], "--design", str(design_file), "--note", "cell 2, 1C",
               "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    name = out["attached"]["name"]
    assert out["test_id"] == tid and name  # the design's own name, from the file
    assert out["attached"]["file"] == str(design_file.resolve())
    assert out["attached"]["note"] == "cell 2, 1C"
    r = invoke("attach", tid, "--design", "ref:nmc811-pouch", "--store", str(store))
    assert r.exit_code == 0, r.output
    r = invoke("attach", tid, "--design", "Pack B cell", "--store", str(store))
    assert r.exit_code == 0, r.output
    # stored in test.json under "designs"
    doc = json.loads((folder / "test.json").read_text())
    assert [(d["name"], d["reference"]) for d in doc["designs"]] == [
        (name, None), ("nmc811-pouch", "nmc811-pouch"), ("Pack B cell", None)]
    assert attachments.designs(Store(store), tid) == doc["designs"]
    # show lists them (text and JSON)
    r = invoke("show", tid, "--store", str(store))
    assert r.exit_code == 0, r.output
    assert name in r.stdout and "cell 2, 1C" in r.stdout and "Pack B cell" in r.stdout
    shown = json.loads(invoke("show", tid, "--store", str(store), "--json").stdout)
    assert [d["name"] for d in shown["designs"]] == [name, "nmc811-pouch", "Pack B cell"]
    # detach by file and by name
    r = invoke("detach", tid, "--design", str(design_file), "--store", str(store))
    assert r.exit_code == 0, r.output
    r = invoke("detach", tid, "--design", "Pack B cell", "--store", str(store), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["detached"]["name"] == "Pack B cell"
    doc = json.loads((folder / "test.json").read_text())
    assert [d["name"] for d in doc["designs"]] == ["nmc811-pouch"]
    assert _digests(folder) == before  # the data files are never touched


def test_bad_input_exits_2_naming_the_option(stored, design_file, tmp_path):
    store, tid = stored
    s = str(store)
    assert invoke("attach", tid, "--design", str(design_file), "--store", s).exit_code == 0
    r = invoke("attach", tid, "--design", str(design_file), "--store", s)
    assert r.exit_code == 2 and "--design" in r.output and "already attached" in r.output
    r = invoke("attach", tid, "--design", str(tmp_path / "nope.yaml"), "--store", s)
    assert r.exit_code == 2 and "no such file" in r.output
    r = invoke("attach", tid, "--design", "ref:no-such-cell", "--store", s)
    assert r.exit_code == 2 and "no such reference cell" in r.output
    r = invoke("attach", tid, "--design", "X", "--note", "a\nb", "--store", s)
    assert r.exit_code == 2 and "--note" in r.output
    r = invoke("attach", "ffffffffffff", "--design", "X", "--store", s)
    assert r.exit_code == 2 and "no stored test has this id" in r.output
    r = invoke("detach", tid, "--design", "never attached", "--store", s)
    assert r.exit_code == 2 and "not attached" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: casip.design/1\nname: broken\n", encoding="utf-8")
    r = invoke("attach", tid, "--design", str(bad), "--store", s)
    assert r.exit_code == 2 and "Traceback" not in r.output
    doc = json.loads((store / "tests" / f"test_id={tid}" / "test.json").read_text())
    assert len(doc["designs"]) == 1  # nothing half-written
