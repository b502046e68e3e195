"""The web app in a real browser (Playwright + Debian's Chromium) against a real uvicorn server.

Skipped when ``/usr/bin/chromium`` is missing, unless ``CASIP_REQUIRE_CHROMIUM=1`` (then it
fails). Screenshots of the dashboard and the compare page go to ``/tmp/casip-shots/``.
"""

from __future__ import annotations

import re
import urllib.request

import pytest

pytestmark = pytest.mark.slow

UPLOAD_FILE = "cell-discharge-bitrode-1c.csv"  # 150 kB Bitrode export, 6 cycles


def test_dashboard_shows_the_landscape(page, live_url, plot_traces, shots):
    assert "Demo consortium" in page.inner_text(".demo-banner")
    assert plot_traces(page, "#landscape") >= 3
    points = page.evaluate(
        "() => document.querySelector('#landscape').data.reduce((n, t) => n + t.x.length, 0)"
    )
    assert points > 20
    assert page.locator("#landscape .main-svg").count() >= 1
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_compare_lfp_with_the_solid_state_cells(page, live_url, plot_traces, shots):
    import json

    page.goto(live_url + "/compare")
    assert plot_traces(page, "#compare-plot") >= 5
    table = page.inner_text("#compare-table")
    data = json.loads(page.inner_text("#page-data"))
    by_ref = {d["reference_id"]: d for d in data["designs"]}
    assert {"lfp-blade", "assb-sulfide-li", "assb-sulfide-si"} <= set(by_ref)
    for ref in ("lfp-blade", "assb-sulfide-li", "assb-sulfide-si"):
        d = by_ref[ref]
        assert d["name"] in table
        assert f"{d['specific_energy_Wh_kg']:.0f}" in table
    assert 150 < by_ref["lfp-blade"]["specific_energy_Wh_kg"] < 200
    assert by_ref["assb-sulfide-li"]["specific_energy_Wh_kg"] > 400
    page.screenshot(path=str(shots / "compare.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_design_form_shows_field_errors_and_creates(page, live_url, plot_traces, shots):
    page.goto(live_url + "/designs/new")
    page.screenshot(path=str(shots / "design_form.png"), full_page=True)
    page.wait_for_selector("#schema-form fieldset")
    name = page.locator('input[name="name"]')
    name.fill("Browser-made design")
    porosity = page.locator('input[name="cathode.porosity"]')
    porosity.fill("1.7")
    page.click("#design-form button[type=submit]")
    err = page.locator('.field[data-path="cathode.porosity"] .err')
    err.wait_for(state="visible")
    assert err.inner_text().strip()
    assert porosity.get_attribute("aria-invalid") == "true"
    # the format union switches sub-forms
    fmt = page.locator('select[name="format.type"]')
    assert fmt.count() == 1
    porosity.fill("0.1")
    page.click("#design-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/designs/\d+$"))
    assert "Browser-made design" in page.inner_text("h1")
    assert plot_traces(page, "#mass-plot") == 1
    page.screenshot(path=str(shots / "design.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_upload_a_cycler_file_and_see_its_cycles(page, live_url, shared_data, plot_traces, shots):
    if "/api/tests" not in urllib.request.urlopen(live_url + "/api/openapi.json").read().decode():
        pytest.skip("the tests API (api/tests.py) is not part of this server")
    path = shared_data / "cycler" / UPLOAD_FILE
    if not path.exists():
        pytest.skip(f"{path} missing from the shared data")
    page.goto(live_url + "/tests")
    page.set_input_files("#upload-file", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/tests/\d+$"), timeout=60_000)
    assert plot_traces(page, "#cycles-plot") >= 1
    assert plot_traces(page, "#curves-plot") >= 1
    page.wait_for_function(
        "() => document.querySelectorAll('#cycles-table tbody tr').length >= 6", timeout=20_000
    )
    assert "Discharge capacity [Ah]" in page.inner_text("#cycles-table thead")
    page.screenshot(path=str(shots / "test.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_benchmark_shows_the_releases_and_their_privacy(page, live_url, shots):
    page.goto(live_url + "/benchmark")
    page.wait_for_selector('.bench-kpi[data-kpi="specific_energy"]')
    privacy = page.inner_text("#bench-privacy")
    assert "differentially private per organisation" in privacy and "budget" in privacy
    assert "Next release" in privacy
    card = page.inner_text('.bench-kpi[data-kpi="specific_energy"]')
    assert "released 20" in card and "ε = 2" in card
    assert "Your organisation's items" in card
    kinds = page.evaluate(
        "() => document.querySelector('.bench-kpi[data-kpi=\"specific_energy\"] .plot')"
        ".data.map(t => t.name)"
    )
    assert "your items" in kinds and "reference cells" in kinds
    # the demo has four organisations: a median (or, when the noisy count falls below k,
    # a notice), never a histogram of so few organisations
    assert "median" in kinds or "not shown" in card
    assert "organisations per bin (noisy)" not in kinds
    # issue 16: the pack KPIs have their cards, released at half the epsilon
    pack = page.inner_text('.bench-kpi[data-kpi="pack_specific_energy"]')
    assert "cell-to-pack template" in pack and "ε = 1" in pack
    page.screenshot(path=str(shots / "benchmark.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_roadmap_shows_the_stages(page, live_url, plot_traces, shots):
    page.goto(live_url + "/roadmap")
    stages = page.inner_text("#stages")
    for n in (1, 2, 3):
        assert f"CASIP stage {n}" in stages
    # the release's upper quartile and median, then stages 1 (a band) and 2, 3 (milestones)
    assert plot_traces(page, "#road-kg") == 5
    quarters = page.evaluate("() => document.querySelector('#road-kg').data[0].x")
    assert len(quarters) == 1 and quarters[0].startswith("20")  # the first release's quarter
    assert "differentially private" in page.inner_text("#road-note")
    page.screenshot(path=str(shots / "roadmap.png"), full_page=True)
    assert not page.js_errors, page.js_errors
