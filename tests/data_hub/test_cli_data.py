"""``casip data ...``: ingest, list, show, export, plot and query, on real cycler files.

The files are the two Battery Data Format CSVs of ``../shared/data/cycler`` (a SINTEF Landt coin
cell and a DLR Basytec pOCV test), plus broken files the tests make themselves. Most tests run
the CLI in process with typer's ``CliRunner``; two run ``python -m casip`` in a subprocess to see
the exit codes and streams exactly as a user does.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from casip.cli import app
from casip.data import schema
from casip.data.store import Store

SINTEF = "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
DLR = "DLR__LiGrHydra0b__20230131__POCV__25degC__Basytec.bdf.csv"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def bdf_files(shared_data: Path) -> list[Path]:
    files = [shared_data / "cycler" / SINTEF, shared_data / "cycler" / DLR]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        pytest.skip(f"not in the shared data: {', '.join(missing)}")
    return files


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["data", *args], env={"COLUMNS": "160", **(env or {})})


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m casip data ...`` for real."""
    env = {**os.environ, "COLUMNS": "160", "PYTHONIOENCODING": "utf-8"}
    env.pop("CASIP_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "casip", "data", *args],
        capture_output=True, text=True, encoding="utf-8", cwd=cwd, env=env, timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory, runner: CliRunner, bdf_files: list[Path]) -> Path:
    """A store holding both BDF files, ingested through the CLI with some metadata."""
    root = tmp_path_factory.mktemp("hub") / "store"
    r = invoke(runner, "ingest", *map(str, bdf_files), "--store", str(root),
               "--chemistry", "graphite/Li", "--active-mass-g", "0.012",
               "--stack-pressure-mpa", "0.5", "--solid-electrolyte", "none (liquid)", "--json")
    assert r.exit_code == 0, r.output
    return root


def ids(store: Path) -> dict[str, str]:
    """Source file name -> test id."""
    return dict(zip(Store(store).list()["source"], Store(store).list()["test_id"], strict=True))


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------


def test_formats(runner: CliRunner) -> None:
    r = invoke(runner, "formats", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    bdf = next(row for row in rows if row["format"] == "bdf-csv")
    assert bdf["library"].startswith("pyarrow ")
    assert set(bdf) >= {"format", "vendor", "description", "extensions", "library"}
    r = invoke(runner, "formats")
    assert r.exit_code == 0 and "bdf-csv" in r.stdout and "supported formats" in r.stdout


# --------------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ingest_batch_with_bad_files_end_to_end(bdf_files: list[Path], shared_data: Path,
                                                tmp_path: Path) -> None:
    """Good files are stored, each bad one is named with its reason, the exit status is 2."""
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02 not a cycler file \xff" * 100)
    truncated = tmp_path / "truncated.bdf.csv"
    truncated.write_bytes(bdf_files[0].read_bytes()[:300_000])  # cut in the middle of a row
    manifest = shared_data / "cycler" / "MANIFEST.csv"
    before = {p: sha256(p) for p in bdf_files}
    st = tmp_path / "store"
    files = [bdf_files[0], manifest, garbage, truncated, tmp_path / "missing.csv", bdf_files[1]]

    r = run_cli("ingest", *map(str, files), "--store", str(st))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stdout.splitlines()
    for good in bdf_files:
        assert any(ln.startswith("ingested") and good.name in ln for ln in lines), r.stdout
    for bad, reason in ((manifest, "matches no supported cycler format"),
                        (garbage, "matches no supported cycler format"),
                        (truncated, "the file ends mid-record at line"),
                        (tmp_path / "missing.csv", "file not found")):
        line = next(ln for ln in lines if ln.startswith("failed") and bad.name in ln)
        assert reason in line, line
    assert "6 files: 2 ingested, 0 duplicate, 4 failed" in r.stdout

    # the store holds the two good tests and nothing half-written
    assert sorted(Store(st).list()["source"]) == sorted(p.name for p in bdf_files)
    assert len(list((st / "tests").iterdir())) == 2
    assert list((st / ".staging").iterdir()) == []
    assert {p: sha256(p) for p in bdf_files} == before  # sources untouched

    # the same files again: duplicates, exit 0
    r = run_cli("ingest", *map(str, bdf_files), "--store", str(st), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["counts"] == {"ingested": 0, "duplicate": 2, "failed": 0}
    assert [x["status"] for x in out["results"]] == ["duplicate", "duplicate"]


def test_ingest_json_reports_each_file(runner: CliRunner, bdf_files: list[Path],
                                       tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    st = tmp_path / "s"
    r = invoke(runner, "ingest", str(bdf_files[0]), str(empty), "--store", str(st), "--json")
    assert r.exit_code == 2
    out = json.loads(r.stdout)  # nothing but JSON on stdout
    assert out["counts"] == {"ingested": 1, "duplicate": 0, "failed": 1}
    ok, bad = out["results"]
    assert ok["status"] == "ingested" and ok["test_id"] == sha256(bdf_files[0])[:16]
    assert ok["rows"] > 20_000
    assert any("made cumulative" in w for w in ok["warnings"])
    assert bad["status"] == "failed" and bad["error"] == f"{empty}: the file is empty"
    assert bad["test_id"] is None


def test_ingest_checks_options_before_reading(runner: CliRunner, bdf_files: list[Path],
                                              tmp_path: Path) -> None:
    st = tmp_path / "s"
    r = invoke(runner, "ingest", str(bdf_files[0]), "--store", str(st),
               "--nominal-capacity-ah", "-1")
    assert r.exit_code == 2
    assert "--nominal-capacity-ah" in r.stderr and "-1" in r.stderr
    r = invoke(runner, "ingest", str(bdf_files[0]), "--store", str(st), "--format", "nope")
    assert r.exit_code == 2
    assert "--format: unknown format; got 'nope'" in r.stderr and "bdf-csv" in r.stderr
    assert not (st / "tests").exists()


def test_ingest_with_forced_format_and_env_store(runner: CliRunner, bdf_files: list[Path],
                                                 tmp_path: Path) -> None:
    st = tmp_path / "from-env"
    r = invoke(runner, "ingest", str(bdf_files[1]), "--format", "bdf-csv", "--json",
               env={"CASIP_STORE": str(st)})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["store"] == str(st)
    r = invoke(runner, "list", "--json", env={"CASIP_STORE": str(st)})
    assert [t["source"] for t in json.loads(r.stdout)] == [DLR]


# --------------------------------------------------------------------------------------------
# list and show
# --------------------------------------------------------------------------------------------


def test_list(runner: CliRunner, store: Path, bdf_files: list[Path]) -> None:
    r = invoke(runner, "list", "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {row["test_id"] for row in rows} == {sha256(p)[:16] for p in bdf_files}
    assert {row["chemistry"] for row in rows} == {"graphite/Li"}
    r = invoke(runner, "list", "--store", str(store))
    assert "2 tests in" in r.stdout and SINTEF[:20] in r.stdout
    r = invoke(runner, "list", "--store", str(store), "--csv")
    assert len(pd.read_csv(io.StringIO(r.stdout))) == 2


def test_list_of_an_empty_store(runner: CliRunner, tmp_path: Path) -> None:
    r = invoke(runner, "list", "--store", str(tmp_path / "none"))
    assert r.exit_code == 0
    assert "no tests" in r.stderr and r.stdout == ""
    assert json.loads(invoke(runner, "list", "--store", str(tmp_path), "--json").stdout) == []


def test_show(runner: CliRunner, store: Path) -> None:
    tid = ids(store)[SINTEF]
    r = invoke(runner, "show", tid[:6], "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["test_id"] == tid
    assert doc["provenance"]["source_name"] == SINTEF
    assert doc["provenance"]["source_sha256"].startswith(tid)
    assert doc["metadata"]["stack_pressure_mpa"] == 0.5
    assert doc["metadata"]["solid_electrolyte"] == "none (liquid)"
    assert doc["cycle_count"] == len(doc["cycles"]) >= 1
    check = doc["capacity_check"]
    assert check["status"] in {"ok", "flagged"} and check["cycles_checked"] >= 1

    r = invoke(runner, "show", tid, "--store", str(store))
    assert r.exit_code == 0
    for text in ("Provenance", "Metadata", "stack_pressure_mpa", "Cycles (first",
                 "capacity check:", "warning:"):
        assert text in r.stdout, text


def test_show_says_when_the_capacity_check_is_impossible(runner: CliRunner, store: Path) -> None:
    # the DLR file records no counters: they are integrated, nothing to compare them with
    doc = json.loads(invoke(runner, "show", ids(store)[DLR], "--store", str(store),
                            "--json").stdout)
    assert doc["reported_counters"] == []
    assert doc["capacity_check"]["status"] == "not checked"
    assert "reported no capacity counters" in doc["capacity_check"]["note"]


@pytest.mark.parametrize("command", ["show", "plot", "export"])
def test_unknown_test_id(runner: CliRunner, store: Path, tmp_path: Path, command: str) -> None:
    extra = {"show": [], "plot": ["--out", str(tmp_path)],
             "export": ["--to", "csv", "--out", str(tmp_path / "x.csv")]}[command]
    r = invoke(runner, command, "ffffffff", "--store", str(store), *extra)
    assert r.exit_code == 2
    assert "no stored test has this id; got 'ffffffff'" in r.stderr
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not (tmp_path / "x.csv").exists()


# --------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["timeseries", "cycles", "steps"])
def test_export_csv_roundtrip(runner: CliRunner, store: Path, tmp_path: Path,
                              table: str) -> None:
    tid = ids(store)[SINTEF]
    out = tmp_path / f"{table}.csv"
    r = invoke(runner, "export", tid, "--to", "csv", "--table", table, "--out", str(out),
               "--store", str(store))
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.stderr
    stored = Store(store).table(tid, table)
    exported = pd.read_csv(out, float_precision="round_trip")
    assert list(exported.columns) == list(stored.columns)
    pd.testing.assert_frame_equal(exported, stored, check_dtype=False, rtol=0, atol=0)


def test_export_parquet_and_format_from_name(runner: CliRunner, store: Path,
                                             tmp_path: Path) -> None:
    tid = ids(store)[DLR]
    out = tmp_path / "cycles.parquet"
    r = invoke(runner, "export", tid, "--table", "cycles", "--out", str(out), "--store",
               str(store), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["format"] == "parquet"
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"
    pd.testing.assert_frame_equal(pd.read_parquet(out), Store(store).table(tid, "cycles"))


def test_export_bdf_headers(runner: CliRunner, store: Path, tmp_path: Path) -> None:
    tid = ids(store)[SINTEF]
    out = tmp_path / "sintef.bdf.csv"
    r = invoke(runner, "export", tid, "--to", "bdf", "--out", str(out), "--store", str(store))
    assert r.exit_code == 0, r.output
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:3] == ["test_time_second", "voltage_volt", "current_ampere"]
    assert set(header) <= set(schema.COLUMNS) and "step_type" not in header
    assert {"charging_capacity_ah", "discharging_capacity_ah", "cycle_count"} <= set(header)
    # a BDF export reads back through the BDF adapter with the same values
    back = pd.read_csv(out, float_precision="round_trip")
    stored = Store(store).table(tid)
    pd.testing.assert_frame_equal(back, stored[header], check_dtype=False)


def test_export_refuses_to_overwrite_and_bad_options(runner: CliRunner, store: Path,
                                                     tmp_path: Path) -> None:
    tid = ids(store)[SINTEF]
    out = tmp_path / "mine.csv"
    out.write_text("precious\n", encoding="utf-8")
    r = invoke(runner, "export", tid, "--to", "csv", "--out", str(out), "--store", str(store))
    assert r.exit_code == 2 and "refusing to overwrite" in r.stderr
    assert out.read_text(encoding="utf-8") == "precious\n"
    for args, text in (
        (["--to", "xlsx", "--out", str(tmp_path / "a.xlsx")], "--to: unknown export format"),
        (["--out", str(tmp_path / "a.txt")], "cannot tell the export format"),
        (["--to", "csv", "--table", "nope", "--out", str(tmp_path / "b.csv")],
         "--table: unknown table"),
        (["--to", "bdf", "--table", "cycles", "--out", str(tmp_path / "c.csv")],
         "time series only"),
        (["--to", "csv", "--out", str(tmp_path / "no-such-dir" / "d.csv")],
         "folder to write into does not exist"),
        (["--to", "csv", "--out", str(tmp_path)], "--out: is a folder"),
    ):
        r = invoke(runner, "export", tid, *args, "--store", str(store))
        assert r.exit_code == 2, args
        assert text in r.stderr, (args, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.csv"]  # no temporary files


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_plot(runner: CliRunner, store: Path, tmp_path: Path) -> None:
    tid = ids(store)[SINTEF]
    out = tmp_path / "charts"
    r = invoke(runner, "plot", tid, "--cycles", "1", "--out", str(out), "--store", str(store),
               "--json")
    assert r.exit_code == 0, r.output
    files = [Path(f) for f in json.loads(r.stdout)["files"]]
    assert sorted(f.name for f in files) == sorted(
        f"{tid}_{stem}.{ext}" for stem in ("voltage_capacity", "capacity_efficiency", "dqdv")
        for ext in ("png", "html"))
    for f in files:
        assert f.stat().st_size > 0
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == PNG_MAGIC
        else:
            html = f.read_text(encoding="utf-8")
            assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
            assert SINTEF in html  # the title names the source


def test_single_cycle_fade_chart_has_a_cycle_axis(store: Path) -> None:
    """One cycle: the cycle axis runs 0.5 to 1.5 with one tick at 1, not 0.945 to 1.050."""
    from casip.data import plots

    cycles = Store(store).table(ids(store)[SINTEF], "cycles")
    assert len(cycles) == 1
    figs = plots.capacity_efficiency_figures(cycles)
    ax = figs.png.axes[1]
    assert ax.get_xlim() == pytest.approx((0.5, 1.5))
    ticks = [t for t in ax.get_xticks() if 0.5 <= t <= 1.5]
    assert ticks == [1.0]
    for axis in ("xaxis", "xaxis2"):
        layout = figs.html.layout[axis]
        assert tuple(layout.range) == pytest.approx((0.5, 1.5))
        assert list(layout.tickvals) == [1]


@pytest.mark.slow
def test_plot_per_gram(runner: CliRunner, store: Path, tmp_path: Path) -> None:
    r = invoke(runner, "plot", ids(store)[DLR], "--per-gram", "--out", str(tmp_path),
               "--store", str(store))
    assert r.exit_code == 0, r.output
    html = next(tmp_path.glob("*_voltage_capacity.html")).read_text(encoding="utf-8")
    assert "specific capacity in the cycle [mAh\\u002fg]" in html  # plotly escapes '/'


@pytest.mark.parametrize(
    ("cycles", "text"),
    [("1,x", "--cycles: not a cycle number or range; got 'x'"),
     ("1,7", "--cycles: the test has no such cycle; got '7'"),
     ("5-2", "got '5-2'")],
)
def test_plot_bad_cycles(runner: CliRunner, store: Path, tmp_path: Path, cycles: str,
                         text: str) -> None:
    out = tmp_path / "charts"
    r = invoke(runner, "plot", ids(store)[SINTEF], "--cycles", cycles, "--out", str(out),
               "--store", str(store))
    assert r.exit_code == 2
    assert text in r.stderr
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# query
# --------------------------------------------------------------------------------------------


def test_query(runner: CliRunner, store: Path) -> None:
    sql = ("SELECT test_id, count(*) AS n, max(voltage_volt) AS vmax FROM timeseries "
           "GROUP BY test_id ORDER BY test_id")
    r = invoke(runner, "query", sql, "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    st = Store(store)
    for row in rows:
        ts = st.table(row["test_id"])
        assert row["n"] == len(ts)
        assert row["vmax"] == pytest.approx(ts["voltage_volt"].max())
    r = invoke(runner, "query", "SELECT cycle_count, coulombic_efficiency FROM cycles",
               "--store", str(store), "--csv")
    assert r.exit_code == 0
    assert list(pd.read_csv(io.StringIO(r.stdout)).columns) == ["cycle_count",
                                                                "coulombic_efficiency"]
    r = invoke(runner, "query", "SELECT * FROM steps", "--store", str(store), "--max-rows", "3")
    assert r.exit_code == 0 and "first 3 shown" in r.stdout


@pytest.mark.slow
def test_query_bad_sql_end_to_end(store: Path, tmp_path: Path) -> None:
    r = run_cli("query", "SELEKT nonsense", "--store", str(store))
    assert r.returncode == 2
    assert r.stderr.startswith("casip: error: sql:") and "syntax error" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    r = run_cli("query", "SELECT * FROM timeseries", "--store", str(tmp_path / "empty"))
    assert r.returncode == 2 and "holds no tests" in r.stderr


def test_query_unknown_table(runner: CliRunner, store: Path) -> None:
    r = invoke(runner, "query", "SELECT * FROM nowhere", "--store", str(store))
    assert r.exit_code == 2
    assert "nowhere" in r.stderr


def test_store_that_is_a_file(runner: CliRunner, tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x", encoding="utf-8")
    r = invoke(runner, "list", "--store", str(f))
    assert r.exit_code == 2 and "exists and is not a folder" in r.stderr


# --------------------------------------------------------------------------------------------
# one more format: the Landt export of the same SINTEF test
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_landt_export_and_its_bdf_copy_agree(runner: CliRunner, shared_data: Path,
                                             tmp_path: Path) -> None:
    """The tester's own CSV and the BDF file made from it land in the store as the same data."""
    from casip.data.readers import adapters

    if "landt-csv" not in adapters():
        pytest.skip("the landt-csv reader is not installed")
    landt = shared_data / "cycler" / SINTEF.replace(".bdf.csv", ".csv")
    bdf = shared_data / "cycler" / SINTEF
    if not (landt.is_file() and bdf.is_file()):
        pytest.skip("the SINTEF Landt files are not in the shared data")
    st = tmp_path / "s"
    r = invoke(runner, "ingest", str(landt), str(bdf), "--store", str(st), "--json")
    assert r.exit_code == 0, r.output
    statuses = [x["status"] for x in json.loads(r.stdout)["results"]]
    assert statuses == ["ingested", "ingested"]
    sql = ("SELECT l.source_format, count(*) AS n, max(test_time_second) AS t_end, "
           "min(voltage_volt) AS v_min, max(voltage_volt) AS v_max, "
           "max(charging_capacity_ah) AS q_ch, max(discharging_capacity_ah) AS q_dis "
           "FROM timeseries JOIN (SELECT '{l}' AS test_id, 'landt' AS source_format UNION ALL "
           "SELECT '{b}', 'bdf') AS l USING (test_id) GROUP BY 1 ORDER BY 1")
    r = invoke(runner, "query", sql.format(l=sha256(landt)[:16], b=sha256(bdf)[:16]),
               "--store", str(st), "--json")
    assert r.exit_code == 0, r.output
    got_bdf, got_landt = json.loads(r.stdout)
    assert got_bdf["source_format"] == "bdf" and got_landt["source_format"] == "landt"
    assert got_landt["n"] == got_bdf["n"]
    for key in ("t_end", "v_min", "v_max", "q_ch", "q_dis"):
        assert got_landt[key] == pytest.approx(got_bdf[key], rel=1e-6, abs=1e-9), key


def test_capacity_check_summary() -> None:
    import numpy as np

    from casip.cli.data import capacity_check

    cycles = pd.DataFrame({
        "cycle_count": [1, 2, 3],
        "charge_integral_deviation": [0.01, np.nan, 0.05],
        "discharge_integral_deviation": [0.0, np.nan, -0.1],
        "capacity_check_ok": [True, True, False],
    })
    check = capacity_check(cycles, ["charging_capacity_ah", "discharging_capacity_ah"])
    assert check["status"] == "flagged"
    assert (check["cycles_checked"], check["cycles_flagged"]) == (2, 1)
    assert (check["worst_cycle"], check["worst_deviation"]) == (3, -0.1)
    # a nullable flag (unchecked cycles as NA) gives the same answer
    cycles["capacity_check_ok"] = pd.array([True, pd.NA, False], dtype="boolean")
    assert capacity_check(cycles, ["charging_capacity_ah"])["cycles_flagged"] == 1
    unchecked = cycles.assign(charge_integral_deviation=np.nan,
                              discharge_integral_deviation=np.nan)
    assert capacity_check(unchecked, [])["status"] == "not checked"
