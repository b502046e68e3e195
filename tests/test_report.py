"""Tables and charts (:mod:`casip.report`)."""

from __future__ import annotations

import math
import re
from importlib import resources
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from casip import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _references_installed() -> bool:
    folder = resources.files("casip.cells") / "data"
    return (folder / "lfp-blade.yaml").is_file() and (folder / "published.yaml").is_file()


requires_references = pytest.mark.skipif(
    not _references_installed(),
    reason="the reference cell files (casip/cells/data/*.yaml) are not installed yet",
)

TARGETS = [
    SimpleNamespace(stage="stage 1", years="2025-2027", specific_energy_Wh_kg=300.0,
                    energy_density_Wh_L=None, source="test"),
    SimpleNamespace(stage="stage 2", years="2027-2030", specific_energy_Wh_kg=400.0,
                    energy_density_Wh_L=800.0, source="test"),
    SimpleNamespace(stage="stage 3", years="2030+", specific_energy_Wh_kg=500.0,
                    energy_density_Wh_L=1000.0, source="test"),
]


@pytest.fixture(scope="module")
def metrics():
    if not _references_installed():
        pytest.skip("the reference cell files are not installed yet")
    from casip.cells import reference_designs
    from casip.design import evaluate

    return {cid: evaluate(d) for cid, d in reference_designs().items()}


# --------------------------------------------------------------------------------------------
# Labels and numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("cathode.thickness_um", "cathode thickness [µm]"),
        ("specific_energy_Wh_kg", "specific energy [Wh/kg]"),
        ("energy_density_Wh_L", "energy density [Wh/L]"),
        ("cost_usd_kWh", "materials cost [$/kWh]"),
        ("cost_usd", "materials cost [$]"),
        ("cell_cost_usd_kWh", "cell cost [$/kWh]"),
        ("cathode.areal_capacity_mAh_cm2", "cathode areal capacity [mAh/cm²]"),
        ("electrolyte.excess_g_per_Ah", "electrolyte excess [g/Ah]"),
        ("cathode.porosity", "cathode porosity [-]"),
        ("format.layers", "format layers [-]"),
    ],
)
def test_axis_label_has_units(name, label):
    assert report.axis_label(name) == label


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (1234.567, "0", "1,235"),
        (0.8612, "ratio", "×0.86"),
        (1.05, "pct", "105%"),
        (-0.178, "signed_pct", "-17.8%"),
        (float("nan"), "1", "—"),
        (None, "1", "—"),
        ("liquid", "text", "liquid"),
        (38.0, "auto", "38"),
        (0.30000000000000004, "auto", "0.3"),
        (123.456, "auto", "123.5"),
    ],
)
def test_format_value(value, fmt, text):
    assert report.format_value(value, fmt) == text


def test_markdown_table_escapes_and_aligns():
    df = pd.DataFrame(
        {"kind": ["a|b", "c"], "specific_energy_Wh_kg": [178.4, float("nan")]},
        index=pd.Index(["x", "y"], name="label"),
    )
    md = report.to_markdown(df).splitlines()
    assert md[0] == "| design | kind | Wh/kg |"
    assert md[1] == "|---|---|---:|"
    assert md[2] == "| x | a\\|b | 178 |"
    assert md[3] == "| y | c | — |"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@requires_references
def test_comparison_table_has_lfp_ratios_and_targets(metrics):
    df = report.comparison_table(metrics, targets=TARGETS)
    assert df.index[0] == "lfp-blade"
    assert df.loc["lfp-blade", "specific_energy_vs_lfp"] == pytest.approx(1.0)
    assert df.loc["lfp-blade", "cost_vs_lfp"] == pytest.approx(1.0)
    lfp = metrics["lfp-blade"]
    row = df.loc["assb-sulfide-li"]
    assert row["specific_energy_vs_lfp"] == pytest.approx(
        metrics["assb-sulfide-li"].specific_energy_Wh_kg / lfp.specific_energy_Wh_kg)
    assert row["specific_energy_vs_target"] == pytest.approx(row["specific_energy_Wh_kg"] / 500)
    targets = df[df["kind"] == "CASIP target"]
    assert list(targets["specific_energy_Wh_kg"]) == [300, 400, 500]
    assert math.isnan(targets["energy_density_Wh_L"].iloc[0])
    assert targets["specific_energy_vs_lfp"].iloc[-1] == pytest.approx(
        500 / lfp.specific_energy_Wh_kg)
    assert df.attrs["target_stage"] == "CASIP stage 3 (2030+)"
    assert df.attrs["baseline"] == "lfp-blade"
    # 100-250 Wh/kg is where an LFP cell of today sits
    assert 100 < df.loc["lfp-blade", "specific_energy_Wh_kg"] < 250


@requires_references
def test_comparison_table_other_stage_and_no_baseline(metrics):
    subset = {k: metrics[k] for k in ("nmc811-pouch", "assb-sulfide-si")}
    df = report.comparison_table(subset, targets=TARGETS, target_stage="stage 2",
                                 include_targets=False)
    assert "specific_energy_vs_lfp" not in df.columns
    assert (df["kind"] != "CASIP target").all()
    assert df.loc["nmc811-pouch", "energy_density_vs_target"] == pytest.approx(
        subset["nmc811-pouch"].energy_density_Wh_L / 800)
    df = report.comparison_table(subset, targets=[], baseline=metrics["lfp-blade"])
    assert "specific_energy_vs_target" not in df.columns
    assert df.loc["nmc811-pouch", "specific_energy_vs_lfp"] > 1


@requires_references
def test_comparison_uses_bundled_roadmap(metrics):
    from casip.cells import targets

    df = report.comparison_table(metrics)
    assert (df["kind"] == "CASIP target").sum() == len(targets())
    assert {400.0, 500.0} <= set(df["specific_energy_Wh_kg"])


@requires_references
def test_published_and_breakdown_tables(metrics, tmp_path):
    from casip.cells import compare

    pub = report.published_table(compare())
    assert list(pub.columns) == ["cell", "metric", "computed", "published", "difference",
                                 "source", "note"]
    assert (pub["difference"] == pub["computed"] / pub["published"] - 1).all()
    bd = report.breakdown_table(metrics["lfp-blade"])
    mass = bd[bd["section"] == "mass_g"]["value"].sum()
    assert mass == pytest.approx(metrics["lfp-blade"].mass_g)
    files = report.write_table(pub, tmp_path, "published", index=False)
    assert [f.name for f in files] == ["published.csv", "published.md"]
    assert pd.read_csv(files[0]).shape[0] == len(pub)


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def check_files(files, tmp_path, stem):
    png, html = files
    assert png == tmp_path / f"{stem}.png" and html == tmp_path / f"{stem}.html"
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5_000
    text = html.read_text(encoding="utf-8")
    assert "plotly.js v" in text
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    bundle_free = re.sub(r"<script[^>]*>\s*/\*\*\s*\n\* plotly\.js v.*?</script>", "", text,
                         flags=re.S)
    assert "cdn." not in bundle_free.lower()
    assert "<title>" in text
    return text


@requires_references
def test_energy_cost_chart(metrics, tmp_path):
    table = report.comparison_table(metrics, targets=TARGETS)
    figs = report.energy_cost_figures(table, targets=TARGETS)
    axes = figs.png.axes
    assert [ax.get_ylabel() for ax in axes] == [
        "cell specific energy [Wh/kg]", "cell energy density [Wh/L]", "materials cost [$/kWh]"]
    assert all(ax.get_title() for ax in axes)
    # target lines: three stages set Wh/kg, two set Wh/L, none set cost
    dashed = [sum(1 for ln in ax.get_lines() if ln.get_linestyle() == "--") for ax in axes]
    assert dashed == [3, 2, 0]
    assert figs.png.legends, "a legend for kinds and roadmap stages"
    bars = [b for t in figs.html.data if t.type == "bar" for b in t.x]
    assert len(bars) == 3 * len(metrics)
    assert figs.html.layout.yaxis.title.text == "cell specific energy [Wh/kg]"
    text = check_files(report.write_figures(figs, tmp_path, "energy_cost"), tmp_path,
                       "energy_cost")
    assert "lfp-blade" in text


@requires_references
def test_mass_breakdown_chart(metrics, tmp_path):
    figs = report.mass_breakdown_figures(metrics)
    ax = figs.png.axes[0]
    assert ax.get_xlabel() == "share of cell mass [%]"
    totals = np.zeros(len(metrics))
    for trace in figs.html.data:
        totals += np.asarray(trace.x, dtype=float)
    assert totals == pytest.approx(100.0)
    names = {t.name for t in figs.html.data}
    assert "cathode active" in names and "pressure hardware" not in names  # all zero: left out
    check_files(report.write_figures(figs, tmp_path, "mass"), tmp_path, "mass")


@requires_references
def test_sweep_chart_one_line_per_second_parameter(tmp_path):
    from casip.cells import reference_design
    from casip.design import sweep

    df = sweep(reference_design("nmc811-pouch"),
               {"cathode.thickness_um": np.linspace(40, 160, 7),
                "separator.thickness_um": [10, 16, 25]})
    figs = report.sweep_figures(df, ["cathode.thickness_um", "separator.thickness_um"])
    for ax in figs.png.axes:
        assert len(ax.get_lines()) == 3
        assert ax.get_xlabel() == "cathode thickness [µm]"
        assert ax.get_legend() is not None
    assert [ax.get_ylabel() for ax in figs.png.axes] == [
        "specific energy [Wh/kg]", "energy density [Wh/L]"]
    labels = {t.name for t in figs.html.data}
    assert labels == {f"separator thickness = {v} µm" for v in (10, 16, 25)}
    check_files(report.write_figures(figs, tmp_path, "sweep"), tmp_path, "sweep")


@requires_references
def test_sweep_chart_one_parameter_and_misfits(tmp_path):
    from casip.cells import reference_design
    from casip.design import sweep

    df = sweep(reference_design("lfp-blade"), {"format.layers": [20, 30, 38, 60]})
    assert (df["status"] != 0).any(), "60 layers cannot fit the can"
    figs = report.sweep_figures(df, ["format.layers"], ["specific_energy_Wh_kg"])
    (line,) = figs.png.axes[0].get_lines()
    y = line.get_ydata()
    assert np.isnan(y[-1]) and np.isfinite(y[0])
    check_files(report.write_figures(figs, tmp_path, "layers"), tmp_path, "layers")


def test_sweep_chart_caps_lines_and_points():
    """A 1000 x 15 grid draws 10 evenly chosen lines of at most 2000 points, and says so."""
    x = np.repeat(np.linspace(0, 1, 3000), 15)
    second = np.tile(np.arange(15.0), 3000)
    df = pd.DataFrame({"cathode.porosity": x, "separator.thickness_um": second,
                       "specific_energy_Wh_kg": x * 100 + second, "status": 0})
    figs = report.sweep_figures(df, ["cathode.porosity", "separator.thickness_um"],
                                ["specific_energy_Wh_kg"])
    lines = figs.png.axes[0].get_lines()
    assert len(lines) == report.MAX_SWEEP_LINES
    assert all(len(ln.get_xdata()) <= report.MAX_SWEEP_POINTS_PER_LINE for ln in lines)
    assert "10 of 15 lines shown" in figs.title
    first, last = lines[0].get_label(), lines[-1].get_label()
    assert first.endswith("= 0 µm") and last.endswith("= 14 µm")


def test_figure_html_is_self_contained():
    import plotly.graph_objects as go

    html = report.figure_html(go.Figure(go.Bar(x=["a"], y=[1])), title="A <b> chart")
    assert "<title>A &lt;b&gt; chart</title>" in html
    assert "plotly.js v" in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
