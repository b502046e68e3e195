"""The ``casip`` command line and the file I/O behind it (:mod:`casip.io`).

Most tests drive the CLI in process with typer's ``CliRunner``; a few run the real
``python -m casip`` in a subprocess to check exit codes, stdout/stderr separation and the
absence of tracebacks exactly as a user sees them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from casip.cli import app
from casip.cli.design import parse_param
from casip.errors import CasipInputError
from casip.io import (
    atomic_path,
    read_design,
    read_design_text,
    write_bytes_atomic,
    write_text_atomic,
)


def _references_installed() -> bool:
    folder = resources.files("casip.cells") / "data"
    return (folder / "lfp-blade.yaml").is_file() and (folder / "published.yaml").is_file()


requires_references = pytest.mark.skipif(
    not _references_installed(),
    reason="the reference cell files (casip/cells/data/*.yaml) are not installed yet",
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m casip`` for real, as a user would."""
    env = {**os.environ, "COLUMNS": "160", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "casip", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "160"})


def assert_offline_html(path: Path) -> str:
    """An HTML chart that embeds plotly.js and loads nothing from the network."""
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert "plotly.js v" in text, "plotly.js must be embedded (include_plotlyjs=True)"
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I), "no external <script src>"
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", text, re.I)
    # The embedded plotly.js bundle itself mentions tile and font hosts (for map traces that
    # CASIP never draws); everything else on the page must be free of CDN addresses.
    outside_bundle = re.sub(
        r"<script[^>]*>\s*/\*\*\s*\n\* plotly\.js v.*?</script>", "", text, flags=re.S
    )
    assert len(outside_bundle) < len(text) - 1_000_000, "the plotly.js bundle was not found"
    assert "cdn." not in outside_bundle.lower()
    return text


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > 5_000, f"{path} is suspiciously small"


def bad_copy(tmp_path: Path, edit) -> Path:
    """A copy of the NMC811 pouch reference with ``edit(data)`` applied."""
    from casip.cells import reference_text

    data = yaml.safe_load(reference_text("nmc811-pouch"))
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# The program itself
# --------------------------------------------------------------------------------------------


def test_python_dash_m_casip_shows_help():
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    for command in ("show", "compare", "references", "sweep", "materials", "schema", "reference"):
        assert command in r.stdout


def test_version(runner):
    import casip

    r = invoke(runner, "--version")
    assert r.exit_code == 0
    assert casip.__version__ in r.stdout


# --------------------------------------------------------------------------------------------
# Bad input: message on stderr naming file, field, value and range; exit 2; no traceback
# --------------------------------------------------------------------------------------------


@requires_references
def test_bad_design_file_exits_2_naming_the_field_subprocess(tmp_path):
    path = bad_copy(tmp_path, lambda d: d["cathode"].update(porosity=1.5))
    before = path.read_bytes()
    r = run_cli("show", str(path))
    assert r.returncode == 2
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    assert str(path) in r.stderr
    assert "cathode.porosity" in r.stderr
    assert "1.5" in r.stderr
    assert "less than 1" in r.stderr
    assert path.read_bytes() == before, "the design file must never be modified"


@requires_references
def test_several_problems_are_all_reported(tmp_path, runner):
    def edit(d):
        d["cathode"]["porosity"] = -0.1
        d["separator"]["thickness_um"] = 0
        d["format"]["layers"] = 0

    path = bad_copy(tmp_path, edit)
    r = invoke(runner, "show", str(path))
    assert r.exit_code == 2
    for field in ("cathode.porosity", "separator.thickness_um", "format.layers"):
        assert field in r.stderr
    assert "format.pouch" not in r.stderr, "the union tag must not leak into the field path"


@requires_references
def test_unknown_field_is_named(tmp_path, runner):
    path = bad_copy(tmp_path, lambda d: d["separator"].update(thicknes_um=12))
    r = invoke(runner, "show", str(path))
    assert r.exit_code == 2
    assert "separator.thicknes_um" in r.stderr
    assert "unknown field" in r.stderr


@requires_references
def test_unknown_material_is_named(tmp_path, runner):
    path = bad_copy(tmp_path, lambda d: d["cathode"].update(active="NMC999"))
    r = invoke(runner, "show", str(path))
    assert r.exit_code == 2
    assert "cathode.active" in r.stderr and "NMC999" in r.stderr and "NMC811" in r.stderr


BROKEN_FILES = {
    "empty.yaml": (b"", "the file is empty"),
    "blank.yaml": (b"   \n# only a comment\n", "the file is empty"),
    "latin1.yaml": ("name: Caf\u00e9\n".encode("latin-1"), "not a UTF-8 text file"),
    "unclosed.yaml": (b"schema: casip.design/1\nname: [a, b\n", "not valid YAML at line 3"),
    "tabs.yaml": (b"schema: casip.design/1\n\tname: x\n", "not valid YAML at line 2"),
    "duplicate.yaml": (b"schema: casip.design/1\nname: a\nname: b\n", "given twice"),
    "list.yaml": (b"- schema: casip.design/1\n", "not a mapping"),
    "scalar.yaml": (b"just a sentence\n", "not a mapping"),
    "noschema.yaml": (b"name: x\nkind: liquid\n", "schema: required field is missing"),
    "v2.yaml": (b"schema: casip.design/2\nname: x\n", "unsupported design file version"),
    "schema_number.yaml": (b"schema: 1\nname: x\n", "unsupported design file version"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_broken_design_files_get_a_clear_message(tmp_path, runner, name):
    content, expect = BROKEN_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    r = invoke(runner, "show", str(path))
    assert r.exit_code == 2, r.stdout
    assert expect in r.stderr
    assert name in r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert path.read_bytes() == content


def test_missing_file_and_folder(tmp_path, runner):
    r = invoke(runner, "show", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 2
    assert "not found" in r.stderr and "nope.yaml" in r.stderr
    r = invoke(runner, "show", str(tmp_path))
    assert r.exit_code == 2
    assert "folder" in r.stderr


@requires_references
def test_bare_reference_id_hints_at_ref_prefix(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke(runner, "show", "lfp-blade")
    assert r.exit_code == 2
    assert "ref:lfp-blade" in r.stderr


@requires_references
def test_unknown_reference(runner):
    r = invoke(runner, "show", "ref:no-such-cell")
    assert r.exit_code == 2
    assert "no-such-cell" in r.stderr and "lfp-blade" in r.stderr


# --------------------------------------------------------------------------------------------
# read_design and atomic writes (casip.io)
# --------------------------------------------------------------------------------------------


@requires_references
def test_read_design_round_trip(tmp_path):
    from casip.cells import reference_design, reference_text

    path = tmp_path / "lfp.yaml"
    path.write_text(reference_text("lfp-blade"), encoding="utf-8")
    assert read_design(path) == reference_design("lfp-blade")
    # a UTF-8 byte-order mark (as some Windows editors write) is accepted
    path.write_bytes(b"\xef\xbb\xbf" + reference_text("lfp-blade").encode())
    assert read_design(path).name == reference_design("lfp-blade").name


def test_read_design_error_carries_source_and_fields(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("schema: casip.design/1\nname: ''\n", encoding="utf-8")
    with pytest.raises(CasipInputError) as info:
        read_design(path)
    err = info.value
    assert err.source == str(path)
    fields = {p.field for p in err.problems}
    assert {"name", "kind", "cathode"} <= fields
    assert json.loads(json.dumps(err.to_dict()))["source"] == str(path)


def test_read_design_text_names_line_and_column():
    with pytest.raises(CasipInputError) as info:
        read_design_text("schema: casip.design/1\nname: x\n  kind: liquid\n", "t.yaml")
    assert "line 3, column" in str(info.value)


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old", encoding="utf-8")
    write_text_atomic(target, "new content")
    assert target.read_text(encoding="utf-8") == "new content"
    write_bytes_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"], "no temporary file left"


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "chart.png"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("the renderer crashed")
    assert list(tmp_path.iterdir()) == []

    target.write_text("complete old file", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("crash")
    assert target.read_text(encoding="utf-8") == "complete old file"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]


def test_atomic_write_can_refuse_to_overwrite(tmp_path):
    target = tmp_path / "design.yaml"
    write_text_atomic(target, "first", overwrite=False)
    with pytest.raises(CasipInputError, match="refusing to overwrite"):
        write_text_atomic(target, "second", overwrite=False)
    assert target.read_text(encoding="utf-8") == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["design.yaml"]


def test_atomic_write_into_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(CasipInputError, match="does not exist"):
        write_text_atomic(tmp_path / "no" / "such" / "file.txt", "x")


# --------------------------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------------------------


@requires_references
def test_show_json_is_clean_and_lfp_is_plausible(runner):
    r = invoke(runner, "show", "ref:lfp-blade", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["source"] == "ref:lfp-blade"
    assert 100 < data["specific_energy_Wh_kg"] < 250
    assert 250 < data["energy_density_Wh_L"] < 500
    assert 2.9 < data["nominal_voltage_V"] < 3.4
    total = sum(data["mass_breakdown_g"].values())
    assert total == pytest.approx(data["mass_g"], rel=1e-9)
    assert data["element_demand_kg_GWh"]["Fe"] > 0
    assert data["element_demand_kg_GWh"].get("Ni", 0) == 0, "LFP holds no nickel"


@requires_references
def test_show_prints_tables(runner, tmp_path):
    r = invoke(runner, "show", "ref:assb-sulfide-li")
    assert r.exit_code == 0, r.stderr
    for heading in ("Headline", "Geometry", "Mass and cost by component", "Element demand"):
        assert heading in r.stdout
    assert "Wh/kg" in r.stdout
    # the reference's stack pressure is held by its module (issue 15); without any, it warns
    from casip.cells import reference_text

    data = yaml.safe_load(reference_text("assb-sulfide-li"))
    data.pop("pressure_hardware")
    path = tmp_path / "no-pressure.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    r = invoke(runner, "show", str(path))
    assert r.exit_code == 0, r.stderr
    assert "warning:" in r.stdout and "needs stack pressure" in r.stdout


@requires_references
def test_show_csv_parses(runner):
    r = invoke(runner, "show", "ref:nmc811-pouch", "--csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {"section", "name", "value", "unit"} == set(rows[0])
    sections = {row["section"] for row in rows}
    assert {"headline", "geometry", "mass_g", "element_demand_kg_GWh"} <= sections


@requires_references
def test_show_out_writes_mass_chart(runner, tmp_path):
    out = tmp_path / "charts"
    r = invoke(runner, "show", "ref:lfp-blade", "--out", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)  # the 'wrote' lines went to stderr
    assert_png(out / "mass_breakdown.png")
    assert_offline_html(out / "mass_breakdown.html")
    assert sorted(Path(f).name for f in data["files"]) == [
        "breakdown.csv", "mass_breakdown.html", "mass_breakdown.png"]


@requires_references
def test_user_materials_override_the_library(runner, tmp_path):
    user = tmp_path / "my-materials.yaml"
    user.write_text(
        """
sources:
  mylab: {citation: "Quote from our supplier, 2025", quality: low}
materials:
  - id: NMC811
    name: NMC811 at our price
    category: cathode_active
    formula: LiNi0.8Mn0.1Co0.1O2
    density_g_cm3: {value: 4.65, source: mylab}
    specific_capacity_mAh_g: {value: 213.6, source: mylab}
    average_voltage_V: {value: 3.86, source: mylab}
    cost_usd_kg: {value: 60, source: mylab}
""",
        encoding="utf-8",
    )
    base = json.loads(invoke(runner, "show", "ref:nmc811-pouch", "--json").stdout)
    r = invoke(runner, "show", "ref:nmc811-pouch", "--json", "--materials", str(user))
    assert r.exit_code == 0, r.stderr
    mine = json.loads(r.stdout)
    assert mine["cost_usd_kWh"] > base["cost_usd_kWh"]
    assert mine["specific_energy_Wh_kg"] == pytest.approx(base["specific_energy_Wh_kg"])

    r = invoke(runner, "materials", "show", "NMC811", "--json", "-m", str(user))
    assert json.loads(r.stdout)["origin"] == str(user)

    user.write_text("materials:\n  - {id: X, name: x, category: nonsense}\n", encoding="utf-8")
    r = invoke(runner, "show", "ref:nmc811-pouch", "--materials", str(user))
    assert r.exit_code == 2
    assert str(user) in r.stderr and "category" in r.stderr


# --------------------------------------------------------------------------------------------
# compare and references
# --------------------------------------------------------------------------------------------


@requires_references
def test_compare_all_references_json(runner):
    from casip.cells import reference_ids

    r = invoke(runner, "compare", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    rows = {row["label"]: row for row in data["rows"]}
    assert set(reference_ids()) <= set(rows)
    assert data["baseline"] == "lfp-blade"
    assert rows["lfp-blade"]["specific_energy_vs_lfp"] == pytest.approx(1.0)
    assert rows["assb-sulfide-li"]["specific_energy_vs_lfp"] > 2
    targets = [row for row in data["rows"] if row["kind"] == "CASIP target"]
    assert {t["specific_energy_Wh_kg"] for t in targets} >= {400, 500}
    assert {t["energy_density_Wh_L"] for t in targets} >= {800, 1000}


@requires_references
def test_compare_a_file_adds_the_lfp_baseline_and_writes_files(runner, tmp_path):
    from casip.cells import reference_text

    mine = tmp_path / "mine.yaml"
    mine.write_text(reference_text("assb-sulfide-si").replace("name: ", "name: My ", 1),
                    encoding="utf-8")
    out = tmp_path / "cmp"
    r = invoke(runner, "compare", str(mine), "ref:nmc811-pouch", "--out", str(out))
    assert r.exit_code == 0, r.stderr
    assert "mine" in r.stdout and "lfp-blade" in r.stdout and "nmc811-pouch" in r.stdout
    for name in ("comparison.csv", "comparison.md"):
        assert (out / name).stat().st_size > 0
    for stem in ("energy_cost", "mass_breakdown"):
        assert_png(out / f"{stem}.png")
        assert_offline_html(out / f"{stem}.html")
    table = list(csv.DictReader((out / "comparison.csv").open(encoding="utf-8")))
    assert [row["label"] for row in table][:3] == ["lfp-blade", "mine", "nmc811-pouch"]
    md = (out / "comparison.md").read_text(encoding="utf-8")
    assert md.startswith("| design |") and "Wh/kg vs LFP" in md


@requires_references
def test_compare_csv(runner):
    r = invoke(runner, "compare", "ref:lfp-blade", "ref:oxide-anode-free", "--csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["label"] == "lfp-blade"
    assert "specific_energy_Wh_kg" in rows[0]


@requires_references
def test_compare_same_file_twice_gets_unique_labels(runner):
    r = invoke(runner, "compare", "ref:lfp-blade", "ref:lfp-blade", "--json")
    labels = [row["label"] for row in json.loads(r.stdout)["rows"]]
    assert labels[:2] == ["lfp-blade", "lfp-blade (2)"]


@requires_references
@pytest.mark.slow
def test_references_main_job_subprocess(tmp_path):
    """The README's main job, end to end, as a user runs it."""
    r = run_cli("references", "--out", "casip-output", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "lfp-blade" in r.stdout and "Computed versus published" in r.stdout
    out = tmp_path / "casip-output"
    for name in ("comparison.csv", "comparison.md", "published.csv", "published.md"):
        assert (out / name).stat().st_size > 100
    for stem in ("energy_cost", "mass_breakdown"):
        assert_png(out / f"{stem}.png")
        assert_offline_html(out / f"{stem}.html")
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left"


@requires_references
def test_references_json_has_published_comparison(runner, tmp_path):
    from casip.cells import published

    r = invoke(runner, "references", "--out", str(tmp_path / "o"), "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["published"]) == len(published())
    lfp = {row["metric"]: row for row in data["published"] if row["cell"] == "lfp-blade"}
    if "specific_energy_Wh_kg" in lfp:
        assert lfp["specific_energy_Wh_kg"]["difference"] == pytest.approx(
            lfp["specific_energy_Wh_kg"]["computed"] / lfp["specific_energy_Wh_kg"]["published"]
            - 1
        )
    assert len(data["files"]) == 8


def test_references_into_a_file_path_is_an_input_error(runner, tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("I am a file", encoding="utf-8")
    r = invoke(runner, "references", "--out", str(blocker))
    if not _references_installed():
        pytest.skip("reference cells not installed")
    assert r.exit_code == 2
    assert "not a folder" in r.stderr
    assert blocker.read_text(encoding="utf-8") == "I am a file"


# --------------------------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------------------------


def test_parse_param_forms():
    assert parse_param("cathode.thickness_um=40:160:5") == (
        "cathode.thickness_um", [40.0, 70.0, 100.0, 130.0, 160.0])
    assert parse_param("cathode.porosity=0.2:0.4:3")[1] == [0.2, 0.3, 0.4]
    assert parse_param("separator.thickness_um=10,20,30") == ("separator.thickness_um",
                                                              [10, 20, 30])
    assert parse_param(" cathode.active = NMC811, NMC622 ") == ("cathode.active",
                                                                ["NMC811", "NMC622"])
    assert parse_param("format.layers=12") == ("format.layers", [12])


@pytest.mark.parametrize(
    "spec",
    [
        "cathode.thickness_um",
        "=1,2",
        "cathode.thickness_um=",
        "cathode.thickness_um=40:160",
        "cathode.thickness_um=40:160:2.5",
        "cathode.thickness_um=a:160:3",
        "cathode.thickness_um=40:160:0",
        "cathode.thickness_um=1,,2",
        "cathode.thickness_um=1,nan",
        "cathode thickness=1,2",
    ],
)
def test_parse_param_rejects_bad_specs(spec):
    with pytest.raises(CasipInputError) as info:
        parse_param(spec)
    msg = str(info.value)
    assert "--param" in msg and "START:STOP:NUM" in msg


@requires_references
def test_sweep_grid_json(runner):
    r = invoke(runner, "sweep", "ref:nmc811-pouch", "--param", "cathode.thickness_um=40:160:25",
               "--param", "separator.thickness_um=10,20,30", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["points"] == 75 and len(data["rows"]) == 75
    rows = [row for row in data["rows"] if row["separator.thickness_um"] == 10]
    energies = [row["specific_energy_Wh_kg"] for row in rows]
    assert energies == sorted(energies), "thicker cathodes raise Wh/kg in this range"


@requires_references
def test_sweep_zip_and_table(runner):
    r = invoke(runner, "sweep", "ref:nmc811-pouch", "-p", "cathode.thickness_um=60,80",
               "-p", "anode.np_ratio=1.1,1.2", "--zip")
    assert r.exit_code == 0, r.stderr
    assert "2 points (zipped)" in r.stdout
    assert "cathode.thickness_um" in r.stdout


@requires_references
def test_sweep_table_formats_each_column_alike(runner):
    """A swept column shows every value with the same decimals: 6.00 beside 6.25, not 6."""
    r = invoke(runner, "sweep", "ref:nmc811-pouch", "-p", "cathode.areal_capacity_mAh_cm2=2:8:25",
               "-p", "separator.thickness_um=10,20")
    assert r.exit_code == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()
            if re.match(r"^\s+\d", line) and len(line.split()) >= 7]
    assert len(rows) == 50
    areal = [row[0] for row in rows]
    assert areal[:3] == ["2.00", "2.00", "2.25"] and "6.00" in areal and "6.25" in areal
    assert {len(a.partition(".")[2]) for a in areal} == {2}
    assert {row[1] for row in rows} == {"10", "20"}  # whole numbers stay whole


def test_column_cells_keep_decimals_alike():
    import pandas as pd

    from casip.cli.common import column_cells

    assert column_cells(pd.Series([2.0, 2.25, 6.0, 6.25])) == ["2.00", "2.25", "6.00", "6.25"]
    assert column_cells(pd.Series([10, 20, 30])) == ["10", "20", "30"]
    assert column_cells(pd.Series([0.2, 0.25, float("nan")])) == ["0.200", "0.250", "—"]
    assert column_cells(pd.Series([1234.5, 2000.0])) == ["1,234.5", "2,000.0"]
    assert column_cells(pd.Series(["a", "b"])) is None
    assert column_cells(pd.Series([1e-6, 500.0])) is None  # too wide a span: per value


@requires_references
def test_sweep_out_writes_curves(runner, tmp_path):
    out = tmp_path / "sweep"
    r = invoke(runner, "sweep", "ref:lfp-blade", "-p", "cathode.porosity=0.2:0.4:5",
               "-p", "separator.thickness_um=10,16", "--out", str(out), "--csv")
    assert r.exit_code == 0, r.stderr
    assert len(list(csv.DictReader(io.StringIO(r.stdout)))) == 10
    assert_png(out / "sweep.png")
    html = assert_offline_html(out / "sweep.html")
    assert "cathode porosity" in html
    assert (out / "sweep.csv").stat().st_size > 0


@requires_references
def test_sweep_materials_by_id(runner):
    r = invoke(runner, "sweep", "ref:lfp-blade", "-p", "cathode.active=LFP,LMFP", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [row["cathode.active"] for row in rows] == ["LFP", "LMFP"]
    assert rows[1]["energy_Wh"] > rows[0]["energy_Wh"], "LMFP has the higher voltage"


@requires_references
@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["-p", "cathode.thickness_um=40:160"], "START:STOP:NUM"),
        (["-p", "cathode.porosity=0.2,1.5"], "cathode.porosity"),
        (["-p", "cathode.thicknes_um=50,60"], "cathode.thicknes_um"),
        (["-p", "nosuch.field=1,2"], "nosuch"),
        (["-p", "cathode.active=NOPE"], "NOPE"),
        (["-p", "cathode.porosity=0.2,0.3", "-p", "cathode.porosity=0.4"], "twice"),
        (["-p", "cathode.porosity=0.2,0.3", "--metric", "wh_per_kg"], "unknown metric"),
    ],
)
def test_sweep_bad_params_exit_2(runner, args, expect):
    r = invoke(runner, "sweep", "ref:nmc811-pouch", *args)
    assert r.exit_code == 2, r.stdout
    assert expect in r.stderr
    assert r.stdout == ""


def test_sweep_without_param_is_a_usage_error(runner):
    r = invoke(runner, "sweep", "ref:nmc811-pouch")
    assert r.exit_code == 2


# --------------------------------------------------------------------------------------------
# materials
# --------------------------------------------------------------------------------------------


def test_materials_list_json_and_category(runner):
    r = invoke(runner, "materials", "list", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)
    ids = {row["id"] for row in rows}
    assert {"NMC811", "graphite", "LPSCl"} <= ids
    r = invoke(runner, "materials", "list", "--category", "solid_electrolyte", "--json")
    cats = {row["category"] for row in json.loads(r.stdout)}
    assert cats == {"solid_electrolyte"}


def test_materials_list_table_and_csv(runner):
    r = invoke(runner, "materials", "list")
    assert r.exit_code == 0 and "NMC811" in r.stdout
    r = invoke(runner, "materials", "list", "--csv", "--category", "cathode_active")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and all(row["category"] == "cathode_active" for row in rows)
    assert "density_g_cm3_source" in rows[0]


def test_materials_bad_category_and_id(runner):
    r = invoke(runner, "materials", "list", "--category", "cathodes")
    assert r.exit_code == 2 and "cathode_active" in r.stderr
    r = invoke(runner, "materials", "show", "NMC81")
    assert r.exit_code == 2 and "NMC811" in r.stderr


def test_materials_show_gives_sources(runner):
    r = invoke(runner, "materials", "show", "NMC811", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["density_g_cm3"]["value"] > 4
    src = data["density_g_cm3"]["source"]
    assert src == "assumed" or src in data["sources"]
    r = invoke(runner, "materials", "show", "NMC811")
    assert "Sources" in r.stdout and "density_g_cm3" in r.stdout


# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------


def test_schema_is_a_json_schema_of_the_design(runner, tmp_path):
    r = invoke(runner, "schema")
    assert r.exit_code == 0, r.stderr
    schema = json.loads(r.stdout)
    assert schema["type"] == "object"
    required = set(schema["required"])
    assert {"name", "kind", "cathode", "separator", "anode", "current_collectors",
            "format"} <= required
    assert {"schema", "cathode", "format"} <= set(schema["properties"])
    assert "Cathode" in schema["$defs"]
    cathode = schema["$defs"]["Cathode"]["properties"]["porosity"]
    assert cathode.get("exclusiveMaximum") == 1 or cathode.get("maximum") is not None

    out = tmp_path / "design.schema.json"
    r = invoke(runner, "schema", "--out", str(out))
    assert r.exit_code == 0 and r.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8")) == schema


@requires_references
def test_schema_validates_the_reference_designs(runner):
    jsonschema = pytest.importorskip("jsonschema")
    from casip.cells import reference_ids, reference_text

    schema = json.loads(invoke(runner, "schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for cid in reference_ids():
        validator.validate(yaml.safe_load(reference_text(cid)))


# --------------------------------------------------------------------------------------------
# reference
# --------------------------------------------------------------------------------------------


@requires_references
def test_reference_copy_then_refuse_to_overwrite(runner, tmp_path):
    from casip.cells import reference_text

    dest = tmp_path / "my-cell.yaml"
    r = invoke(runner, "reference", "copy", "lfp-blade", str(dest))
    assert r.exit_code == 0, r.stderr
    assert dest.read_text(encoding="utf-8") == reference_text("lfp-blade")

    dest.write_text("my edits", encoding="utf-8")
    r = invoke(runner, "reference", "copy", "lfp-blade", str(dest))
    assert r.exit_code == 2
    assert "refusing to overwrite" in r.stderr and str(dest) in r.stderr
    assert dest.read_text(encoding="utf-8") == "my edits"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my-cell.yaml"]


@requires_references
def test_reference_copy_into_folder_and_edit_and_show(runner, tmp_path):
    r = invoke(runner, "reference", "copy", "nmc811-pouch", str(tmp_path), "--json")
    assert r.exit_code == 0, r.stderr
    path = Path(json.loads(r.stdout)["path"])
    assert path == tmp_path / "nmc811-pouch.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("thickness_um: 12", "thickness_um: 8", 1), encoding="utf-8")
    r = invoke(runner, "show", str(path), "--json")
    assert r.exit_code == 0, r.stderr


@requires_references
def test_reference_show_and_list(runner):
    r = invoke(runner, "reference", "show", "lfp-blade", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["design"]["schema"] == "casip.design/1"
    assert data["published"]
    r = invoke(runner, "reference", "show", "lfp-blade")
    assert "schema: casip.design/1" in r.stdout
    r = invoke(runner, "reference", "list", "--json")
    assert json.loads(r.stdout)[0]["id"] == "lfp-blade"
    r = invoke(runner, "reference", "show", "nope")
    assert r.exit_code == 2 and "lfp-blade" in r.stderr
