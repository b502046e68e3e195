"""One colour-blind-safe palette for every chart (:mod:`casip.palette`), PNG and HTML, CLI and web.

Issue 12, items 13 (series of near-identical hue) and 19 (a stage listed twice in the Pareto
legend, in two colours).
"""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from casip import palette, report

APP_JS = Path(str(resources.files("casip.platform.web"))) / "static" / "app.js"

#: Okabe & Ito (2008), "Color Universal Design": the eight colours.
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


def _hex(c) -> str:
    return to_hex(c).upper()


def _js_list(text: str, key: str) -> list[str]:
    m = re.search(key + r"\s*:\s*\[([^\]]*)\]", text)
    assert m, f"app.js has no casip.palette.{key} list"
    return re.findall(r'"([^"]+)"', m.group(1))


def _js_str(text: str, key: str) -> str:
    m = re.search(key + r'\s*:\s*"([^"]+)"', text)
    assert m, f"app.js has no casip.palette.{key}"
    return m.group(1)


def test_palette_is_okabe_ito_with_close_pairs_apart():
    assert set(palette.PALETTE) == OKABE_ITO and len(palette.PALETTE) == 8
    order = palette.PALETTE
    # the five first series never hold both members of a close pair
    for a, b in ((palette.BLUE, palette.SKY_BLUE), (palette.ORANGE, palette.VERMILLION)):
        assert not {a, b} <= set(order[:4])
        # and where both appear, their line styles differ
        assert palette.linestyle(order.index(a)) != palette.linestyle(order.index(b))
    assert order[-1] == palette.YELLOW, "yellow (faint on white) comes last"
    # (colour, style) never repeats within 16 series
    pairs = {(palette.colour(i), palette.linestyle(i)) for i in range(16)}
    assert len(pairs) == 16


def test_colour_skips_fixed_roles_and_rejects_negative_index():
    seen = [palette.colour(i, exclude=(palette.REFERENCE,)) for i in range(7)]
    assert palette.REFERENCE not in seen and len(set(seen)) == 7
    with pytest.raises(ValueError, match="i=-1"):
        palette.colour(-1)


@pytest.mark.parametrize(
    ("label", "n"),
    [("CASIP stage 1", 1), ("stage 2", 2), ("CASIP stage 3 (2030+)", 3), ("target stage 2", 2)],
)
def test_stage_colour_by_number(label, n):
    assert palette.stage_colour(label) == palette.STAGE_COLOURS[n - 1]


def test_stage_colour_unknown_is_neutral():
    assert palette.stage_colour("roadmap") == palette.NEUTRAL
    assert palette.stage_colour("stage 9") == palette.NEUTRAL


def test_web_palette_is_the_same_as_python():
    """``casip.palette`` in app.js is the twin of casip/palette.py."""
    text = APP_JS.read_text(encoding="utf-8")
    assert "const palette" in text
    assert [c.upper() for c in _js_list(text, "series")] == list(palette.PALETTE)
    assert [c.upper() for c in _js_list(text, "stages")] == list(palette.STAGE_COLOURS)
    assert _js_list(text, "symbols") == list(palette.PLOTLY_SYMBOLS)
    assert _js_list(text, "dashes") == list(palette.PLOTLY_DASHES)
    for key, value in (
        ("reference", palette.REFERENCE),
        ("neutral", palette.NEUTRAL),
        ("limit", palette.LIMIT),
    ):
        assert _js_str(text, key).upper() == value
    assert "colorway: palette.series" in text, "plotly's default colours are the palette"


def test_no_chart_code_has_its_own_colours():
    """Every Python chart takes its colours from casip.palette (no hex literal elsewhere)."""
    root = Path(str(resources.files("casip")))
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "palette.py" or "web" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r'"#[0-9A-Fa-f]{6}"', line) or "tab20" in line or "tab10" in line:
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# --------------------------------------------------------------------------------------------
# Every chart helper: distinct series look distinct
# --------------------------------------------------------------------------------------------


def _line_styles(fig) -> list[tuple]:
    """(colour, dash, symbol) of each named trace of a plotly figure, once per name."""
    out, seen = [], set()
    for t in fig.data:
        if not t.name or t.name in seen or t.showlegend is False:
            continue
        seen.add(t.name)
        line = getattr(t, "line", None)
        marker = getattr(t, "marker", None)
        colour = (line.color if line is not None and line.color else None) or (
            marker.color if marker is not None else None
        )
        out.append(
            (
                str(colour).upper(),
                line.dash if line is not None else None,
                marker.symbol if marker is not None else None,
            )
        )
    return out


def test_ragone_seven_designs_in_seven_colours_and_markers():
    from casip.physics.charts_rate import ragone_figures

    names = [f"design {k}" for k in range(7)]
    rows = [
        {
            "name": n,
            "c_rate": c,
            "specific_energy_Wh_kg": 300.0 - 10 * k - 20 * c,
            "specific_power_W_kg": 300.0 * c,
        }
        for k, n in enumerate(names)
        for c in (0.5, 1, 2)
    ]
    figs = ragone_figures(pd.DataFrame(rows))
    styles = _line_styles(figs.html)
    assert len(styles) == 7
    assert len({s[0] for s in styles}) == 7, styles
    assert {s[0] for s in styles} <= set(palette.PALETTE)
    assert len({s[2] for s in styles}) == 7, "a marker per design too"
    png = [ln for ln in figs.png.axes[0].get_lines()]
    assert len({_hex(ln.get_color()) for ln in png}) == 7
    assert len({ln.get_marker() for ln in png}) == 7


def test_sweep_ten_lines_all_differ():
    x = np.repeat(np.linspace(0, 1, 5), 10)
    second = np.tile(np.arange(10.0), 5)
    df = pd.DataFrame(
        {
            "cathode.porosity": x,
            "separator.thickness_um": second,
            "specific_energy_Wh_kg": x * 100 + second,
            "status": 0,
        }
    )
    figs = report.sweep_figures(
        df, ["cathode.porosity", "separator.thickness_um"], ["specific_energy_Wh_kg"]
    )
    styles = _line_styles(figs.html)
    assert len(styles) == 10 and len(set(styles)) == 10
    png = {(_hex(ln.get_color()), ln.get_linestyle()) for ln in figs.png.axes[0].get_lines()}
    assert len(png) == 10


def test_life_capacity_projections_distinct():
    from casip.life.charts import capacity_figures

    t = np.linspace(0, 10, 20)
    projections = {
        f"duty {k}": pd.DataFrame({"t_years": t, "capacity_rel": 1 - 0.01 * k * t})
        for k in range(8)
    }
    figs = capacity_figures(projections)
    colours = [s[0] for s in _line_styles(figs.html) if s[0].startswith("#")]
    named = [c for c in colours if c in set(palette.PALETTE)]
    assert len(named) == 8 and len(set(named)) == 8


# --------------------------------------------------------------------------------------------
# Charts with the reference cells and roadmap stages
# --------------------------------------------------------------------------------------------


def _references_installed() -> bool:
    folder = resources.files("casip.cells") / "data"
    return (folder / "lfp-blade.yaml").is_file() and (folder / "published.yaml").is_file()


requires_references = pytest.mark.skipif(
    not _references_installed(), reason="reference cells not installed"
)


@pytest.fixture(scope="module")
def metrics():
    from casip.cells import reference_designs
    from casip.design import evaluate

    return {cid: evaluate(d) for cid, d in reference_designs().items()}


@requires_references
def test_energy_cost_stage_has_one_colour_on_every_panel(metrics):
    """Stage 1 sets no Wh/L: stage 2 must keep its colour on the Wh/L panel all the same."""
    from casip.cells import targets

    table = report.comparison_table(metrics)
    figs = report.energy_cost_figures(table)
    by_value = {}
    for t in targets():
        for v in (t.specific_energy_Wh_kg, t.energy_density_Wh_L):
            if v is not None:
                by_value[float(v)] = palette.stage_colour(t.stage)
    seen = 0
    for ax in figs.png.axes[:2]:
        for ln in ax.get_lines():
            if ln.get_linestyle() == "--":
                assert _hex(ln.get_color()) == by_value[float(ln.get_ydata()[0])]
                seen += 1
    assert seen >= 5
    legend = {h.get_label(): _hex(h.get_color()) for h in figs.png.legends[0].get_lines()}
    for label, colour in legend.items():
        assert colour == palette.stage_colour(label), label


@requires_references
def test_mass_breakdown_components_distinct(metrics):
    figs = report.mass_breakdown_figures(metrics)
    styles = [(t.marker.color, t.marker.pattern.shape or "") for t in figs.html.data]
    assert len(styles) > 8, "more components than colours: the hatch tells them apart"
    assert len(set(styles)) == len(styles)
    assert {c for c, _ in styles} <= set(palette.PALETTE)


@requires_references
def test_pareto_legend_lists_each_stage_once_in_its_colour():
    """Issue 12, item 19: "stage 2" and "stage 3" were listed twice, in different colours."""
    from casip.explore.charts import pareto_figures

    rng = np.random.default_rng(0)
    points = pd.DataFrame(
        {
            "point_id": np.arange(30),
            "specific_energy_Wh_kg": rng.uniform(250, 520, 30),
            "energy_density_Wh_L": rng.uniform(500, 1100, 30),
            "feasible": [True] * 25 + [False] * 5,
        }
    )
    pareto = points.nlargest(4, "specific_energy_Wh_kg")
    figs = pareto_figures(
        points, pareto, {"specific_energy_Wh_kg": "max", "energy_density_Wh_L": "max"}
    )
    legend = figs.png.axes[0].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    stage_labels = [lab for lab in labels if "stage" in lab]
    assert stage_labels and max(Counter(stage_labels).values()) == 1, labels
    for handle, label in zip(legend.legend_handles, labels, strict=True):
        if "stage" in label:
            assert _hex(handle.get_color()) == palette.stage_colour(label)
    # every target line of a stage, on either axis, in that stage's colour
    for ax in figs.png.axes:
        for ln in ax.get_lines():
            if ln.get_linestyle() == "--" and ln.get_label().startswith("target"):
                assert _hex(ln.get_color()) == palette.stage_colour(ln.get_label())
    shapes = [s for s in figs.html.layout.shapes if s.line.dash == "dash"]
    assert shapes and all(s.line.color in palette.STAGE_COLOURS for s in shapes)
