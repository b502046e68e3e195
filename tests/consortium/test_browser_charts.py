"""The web app's charts in a real browser (Playwright + Debian's Chromium): issue 12, items 4
(fast-charge result), 10 (roadmap milestones), 13 (one colour-blind-safe palette) and 14
(benchmark labels). Live server and Chromium fixtures from ``conftest.py``; screenshots
go to ``/tmp/casip-shots/``.
"""

from __future__ import annotations

import json
import time

import pytest

from casip import palette

pytestmark = pytest.mark.slow

# the live server (conftest.py) without the demo's background charge jobs: this module runs
# the one it needs
LIVE_SETTINGS = {"demo_jobs": False}


def _wait_plot(pg, selector: str) -> None:
    pg.wait_for_function(
        "s => { const el = document.querySelector(s); return el && el.data && el.data.length }",
        arg=selector,
        timeout=30_000,
    )


def _plot(pg, selector: str) -> dict:
    """The data and full layout Plotly drew into ``selector``."""
    _wait_plot(pg, selector)
    return pg.evaluate(
        """s => { const el = document.querySelector(s);
                  return JSON.parse(JSON.stringify({data: el.data, layout: el._fullLayout ?
                    Object.fromEntries(Object.entries(el._fullLayout).filter(([k]) =>
                      /^(xaxis|yaxis)\\d*$/.test(k)).map(([k, v]) => [k, {title: v.title,
                      type: v.type, range: v.range,
                      tickvals: v._vals ? v._vals.map(t => t.x) : null,
                      ticktext: v._vals ? v._vals.map(t => t.text) : null}])) : {},
                    shapes: el.layout.shapes || [], annotations: el.layout.annotations || [],
                    colorway: el.layout.colorway || null})); }""",
        selector,
    )


def _api(pg, method: str, path: str, body=None) -> dict:
    return pg.evaluate(
        "([m, p, b]) => casip.api(m, p, b === null ? undefined : b)"
        ".then(r => ({ok: r.ok, status: r.status, data: r.data}))",
        [method, path, body],
    )


def _reference_id(pg, reference_id: str) -> int:
    r = _api(pg, "GET", "/api/designs?limit=200")
    assert r["ok"], r
    ids = [d["id"] for d in r["data"]["items"] if d["reference_id"] == reference_id]
    assert ids, f"no reference design {reference_id}"
    return ids[0]


def _run_fast_charge(pg, design_id: int, c_rate: float) -> int:
    """Submit a fast charge through the API and wait for it; the simulation's id."""
    r = _api(
        pg,
        "POST",
        f"/api/designs/{design_id}/simulations",
        {"kind": "fast_charge", "c_rate": c_rate},
    )
    assert r["status"] == 202, r
    job_id = r["data"]["job"]["id"]
    end = time.monotonic() + 300
    while time.monotonic() < end:
        job = _api(pg, "GET", f"/api/jobs/{job_id}")["data"]
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert job["status"] == "done", job
    return job["result_id"]


def _axis_by_title(plot: dict, text: str) -> tuple[str, dict]:
    for name, ax in plot["layout"].items():
        title = ((ax.get("title") or {}).get("text") or "").replace("<br>", " ")
        if text in title:
            return name, ax
    raise AssertionError(f"no axis titled {text!r}: {list(plot['layout'])}")


def test_fast_charge_result_plots_the_binding_limit(page, live_url, shots):
    """Item 4: LFP at 3C is limited by plating: the anode potential is drawn against its 0 V
    limit, marked binding; SOC reads in % on round ticks; the current is drawn too."""
    sid = _run_fast_charge(page, _reference_id(page, "lfp-blade"), 3)
    page.goto(live_url + f"/simulations?simulation={sid}")
    plot = _plot(page, "#result-plot")
    summary = page.inner_text("#result-summary")
    assert "lithium plating" in summary and "Lowest anode potential" in summary
    # the binding quantity, on top, against its limit
    name, _ = _axis_by_title(plot, "Anode potential vs Li [mV]")
    ref = "y" + name[len("yaxis") :]
    limit = [s for s in plot["shapes"] if s.get("yref") == ref]
    assert limit and limit[0]["y0"] == 0 and limit[0]["line"]["dash"] == "dash"
    labels = [a["text"] for a in plot["annotations"] if a.get("yref") == ref]
    assert labels and "plating limit 0 mV" in labels[0] and "binding" in labels[0]
    trace_axes = [t.get("yaxis", "y") for t in plot["data"]]
    assert trace_axes[0] == ref, "the binding quantity is the first panel"
    # voltage against its cut-off, and the charge current
    vname, _ = _axis_by_title(plot, "Voltage [V]")
    vref = "y" + vname[len("yaxis") :]
    assert any(s.get("yref") == vref and s["y0"] == pytest.approx(3.6) for s in plot["shapes"])
    _axis_by_title(plot, "Charge current [C]")
    cur = next(t for t in plot["data"] if t["name"] == "Charge current")
    assert max(v for v in cur["y"] if v is not None) == pytest.approx(3, rel=0.05)
    # state of charge in %, on round ticks
    _, soc = _axis_by_title(plot, "State of charge [%]")
    ticks = [float(t) for t in soc["tickvals"]]
    assert ticks and all(t % 10 == 0 for t in ticks), ticks
    assert soc["range"][0] <= 10 and soc["range"][1] >= 80
    soc_trace = next(t for t in plot["data"] if t["name"] == "State of charge")
    assert max(v for v in soc_trace["y"] if v is not None) > 70, "SOC in %, not a fraction"
    page.screenshot(path=str(shots / "fast_charge.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_roadmap_stages_are_milestones_on_a_time_axis(page, live_url, shots):
    """Item 10: stage 1 is a 200-300 Wh/kg band over 2025-2027; stages 2 and 3 are markers at
    2027 and 2030 on a time axis, not flat lines across every quarter."""
    page.goto(live_url + "/roadmap")
    assert "200–300" in page.inner_text("#stages")
    for sel, key, expect in (
        ("#road-kg", "Wh/kg", {"2": (2027, 400), "3": (2030, 500)}),
        ("#road-l", "Wh/L", {"2": (2027, 800), "3": (2030, 1000)}),
    ):
        plot = _plot(page, sel)
        assert plot["layout"]["xaxis"]["type"] == "date"
        assert not [s for s in plot["shapes"] if s.get("xref") == "paper"], "no line across all"
        names = [t["name"] for t in plot["data"]]
        for n, (year, value) in expect.items():
            (t,) = [t for t in plot["data"] if t["name"].startswith(f"stage {n} ")]
            assert t["x"] == [f"{year}-01-01"] and t["y"] == [value], (key, t)
            assert "markers" in t["mode"]
            assert t["marker"]["color"].upper() == palette.stage_colour(f"stage {n}")
        band = [t for t in plot["data"] if t["name"].startswith("stage 1 ")]
        if key == "Wh/kg":
            (b,) = band
            assert b["fill"] == "toself" and min(b["y"]) == 200 and max(b["y"]) == 300
            assert min(b["x"]) == "2025-01-01" and max(b["x"]) == "2027-01-01"
        else:
            assert not band, "stage 1 sets no Wh/L"
        assert any("median" in n for n in names)
    page.screenshot(path=str(shots / "roadmap.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_benchmark_says_what_cycle_life_means(page, live_url, shots):
    """Item 14: the projected cycle life names its end of life and duty; no axis says "weight"."""
    page.goto(live_url + "/benchmark")
    card = page.locator('.bench-kpi[data-kpi="cycle_life"]')
    card.wait_for()
    title = card.locator("h2").inner_text()
    assert "80 % capacity" in title and "duty cycle" in title and "equivalent full cycles" in title
    measured = page.locator('.bench-kpi[data-kpi="measured_cycle_life"] h2').inner_text()
    assert "80 %" in measured
    sel = '.bench-kpi[data-kpi="specific_energy"] .plot'
    plot = _plot(page, sel)
    titles = [((ax.get("title") or {}).get("text") or "") for ax in plot["layout"].values()]
    assert not [t for t in titles if "weight" in t.lower()], titles
    assert "Wh/kg" in titles, titles
    page.screenshot(path=str(shots / "benchmark.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_web_charts_use_the_palette(page, live_url, shots):
    """Item 13: casip.palette is the Python palette; compare tells LFP from the Li-metal cell."""
    page.goto(live_url + "/compare")
    web = page.evaluate("() => casip.palette.series")
    assert [c.upper() for c in web] == list(palette.PALETTE)
    plot = _plot(page, "#compare-plot")
    assert [c.upper() for c in plot["colorway"]] == list(palette.PALETTE)
    data = json.loads(page.inner_text("#page-data"))
    names = {
        d["reference_id"]: d["name"] for d in [data.get("baseline") or {}] + data["designs"] if d
    }
    colour = {
        t["name"].replace(" (LFP baseline)", ""): str(t["marker"]["color"]).upper()
        for t in plot["data"]
        if t["type"] == "bar" and "target" not in t["name"]
    }
    lfp, li = colour[names["lfp-blade"]], colour[names["assb-sulfide-li"]]
    assert lfp == palette.REFERENCE and li in palette.PALETTE and li != lfp
    designs = [c for n, c in colour.items() if n != names["lfp-blade"]]
    assert len(set(designs)) == len(designs), colour
    page.screenshot(path=str(shots / "compare_palette.png"), full_page=True)
    assert not page.js_errors, page.js_errors
