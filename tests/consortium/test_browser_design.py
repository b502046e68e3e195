"""The design page and the design form in a real browser (Playwright + Debian's Chromium).

Live uvicorn server and Chromium fixtures from ``conftest.py``. Skipped when
``/usr/bin/chromium`` is missing, unless ``CASIP_REQUIRE_CHROMIUM=1``. Screenshots go to
``/tmp/casip-shots/`` (``design_page.png``, ``design_form_materials.png``).
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow


def _reference_id(pg, live_url: str, ref: str) -> int:
    """The platform id of a reference cell (``lfp-blade``, ...), read through the API."""
    r = pg.request.get(live_url + "/api/designs?limit=200")
    assert r.ok, r.text()
    found = [d["id"] for d in r.json()["items"] if d.get("reference_id") == ref]
    assert found, f"reference {ref} not seeded"
    return found[0]


def test_design_page_shows_geometry_breakdowns_and_element_demand(
    page, live_url, plot_traces, shots
):
    from casip.cells import reference_design
    from casip.design import evaluate

    m = evaluate(reference_design("lfp-blade"))
    page.goto(live_url + f"/designs/{_reference_id(page, live_url, 'lfp-blade')}")
    # geometry: what `casip show` prints, with units
    geo = page.inner_text("#geometry")
    for label in (
        "Cathode areal capacity",
        "Cathode coating per side",
        "N/P ratio",
        "Layers",
        "Electrode width",
        "Stack thickness, charged",
        "Outer thickness",
        "Materials-level limit",
    ):
        assert label in geo, label
    n_layers = page.inner_text('#geometry tr[data-key="layers"] td.num')
    assert n_layers == f"{m.geometry['layers']:.0f}"
    areal = page.inner_text('#geometry tr[data-key="cathode_areal_capacity_mAh_cm2"]')
    assert f"{m.geometry['cathode_areal_capacity_mAh_cm2']:.2f}" in areal and "mAh/cm²" in areal
    # four charts: mass, volume, materials cost, element demand
    for sel in ("#mass-plot", "#volume-plot", "#cost-plot", "#element-plot"):
        assert plot_traces(page, sel) == 1, sel
    elements = page.evaluate("() => document.querySelector('#element-plot').data[0].y")
    assert {"Li", "Fe", "P"} <= set(elements)
    # bar labels in full ("53.1 %", never a clipped "53") and drawn inside the chart
    labels = page.evaluate(
        "() => Array.from(document.querySelectorAll('#mass-plot .bartext')).map(t => t.textContent)"
    )
    total = sum(v for v in m.mass_breakdown_g.values() if v > 0)
    biggest = max(m.mass_breakdown_g.values())
    assert any(f"{100 * biggest / total:.1f} %" in t for t in labels), labels
    assert all(re.search(r"\d+\.\d %$", t) for t in labels), labels
    clipped = page.evaluate(
        """() => {
          const box = document.querySelector('#mass-plot .main-svg').getBoundingClientRect();
          return Array.from(document.querySelectorAll('#mass-plot .bartext')).filter(t => {
            const r = t.getBoundingClientRect();
            return r.right > box.right + 1 || r.left < box.left - 1;
          }).length;
        }"""
    )
    assert clipped == 0
    # every cost says what it is
    assert "Materials cost breakdown [$]" in page.inner_text("#breakdowns")
    assert "Materials cost" in page.inner_text(".cards")
    assert "Cost breakdown" not in page.inner_text("main")
    page.screenshot(path=str(shots / "design_page.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_design_form_offers_library_materials_blend_and_note_rows(page, live_url, shots):
    from casip.materials import load_library

    lib = load_library()
    page.goto(live_url + "/designs/new")
    page.wait_for_selector('select[name="cathode.active"]')
    page.select_option("#start-from", label="NMC811/graphite pouch (automotive, liquid)")
    cathode = page.locator('select[name="cathode.active"]')
    cathode.wait_for()
    offered = set(cathode.evaluate("s => Array.from(s.options).map(o => o.value)"))
    assert offered == {m.id for m in lib.of_category("cathode_active")}
    assert cathode.input_value() == "NMC811"
    # the separator of a liquid or solid-state cell: both categories, grouped
    groups = page.locator('select[name="separator.material"] optgroup')
    assert groups.count() == 2
    # the anode's active blend as rows of (material, mass fraction)
    blend = page.locator('fieldset.rows-field[data-path="anode.active"]')
    assert blend.locator(".row").count() == 1
    blend.locator('input[name="anode.active.fraction"]').first.fill("0.9")
    blend.locator("button.add-row").click()
    assert blend.locator(".row").count() == 2
    blend.locator('select[name="anode.active.material"]').nth(1).select_option("silicon")
    blend.locator('input[name="anode.active.fraction"]').nth(1).fill("0.1")
    # notes as (field, note) rows
    notes = page.locator('fieldset.rows-field[data-path="notes"]')
    notes.locator("button.add-row").click()
    notes.locator('input[name="notes.key"]').last.fill("anode.active")
    notes.locator('input[name="notes.value"]').last.fill("assumed: a 10 % silicon blend")
    page.locator('input[name="name"]').fill("Browser blend design")
    # a bad value: one clean message at the field, none repeated
    porosity = page.locator('input[name="cathode.porosity"]')
    porosity.fill("1.5")
    page.click("#design-form button[type=submit]")
    err = page.locator('.field[data-path="cathode.porosity"] .err')
    err.wait_for(state="visible")
    text = err.inner_text().strip()
    assert text == "Input should be less than 1; got 1.5; expected a value in [0, 1)", text
    summary = page.inner_text("#form-errors")
    assert "1 field to correct" in summary
    assert summary.count("1.5") == 1 and summary.count("cathode.porosity") == 1, summary
    assert "document:" not in summary
    page.screenshot(path=str(shots / "design_form_materials.png"), full_page=True)
    porosity.fill("0.25")
    page.click("#design-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/designs/\d+$"))
    design_id = int(page.url.rsplit("/", 1)[1])
    doc = page.request.get(live_url + f"/api/designs/{design_id}").json()["document"]
    assert doc["anode"]["active"] == {"graphite": 0.9, "silicon": 0.1}
    assert doc["notes"]["anode.active"] == "assumed: a 10 % silicon blend"
    assert doc["cathode"]["active"] == "NMC811"
    assert not page.js_errors, page.js_errors
