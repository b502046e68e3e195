"""The web app in a real browser (Playwright + Debian's Chromium) against a real uvicorn server.

Skipped when ``/usr/bin/chromium`` is missing, unless ``CASIP_REQUIRE_CHROMIUM=1`` (then it
fails). Screenshots of the dashboard and the compare page go to ``/tmp/casip-shots/``.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/casip-shots")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
UPLOAD_FILE = "cell-discharge-bitrode-1c.csv"  # 150 kB Bitrode export, 6 cycles


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CASIP_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"CASIP_REQUIRE_CHROMIUM=1 but {CHROMIUM} is missing (bash .ci/services.sh)")
    pytest.skip(f"{CHROMIUM} not installed (bash .ci/services.sh installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_url(tmp_path_factory):
    """A real uvicorn server on a free port, serving a freshly seeded SQLite platform."""
    _need_chromium()
    import uvicorn

    from casip.platform.app import create_app
    from casip.platform.settings import Settings

    folder = tmp_path_factory.mktemp("browser")
    settings = Settings(
        data_dir=folder / "data", database_url=f"sqlite:///{(folder / 'casip.db').resolve()}"
    )
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url + "/login", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("the uvicorn server did not start")
        time.sleep(0.2)
    yield url
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
def browser(live_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, live_url):
    """One logged-in page (the demo engineer of Kestrel), shared by the tests in order."""
    from casip.platform.seed import DEMO_PASSWORD, demo_email

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(live_url + "/")
    assert "/login" in pg.url
    pg.fill("#email", demo_email("kestrel", "engineer"))
    pg.fill("#password", DEMO_PASSWORD)
    pg.click("button[type=submit]")
    pg.wait_for_url(live_url + "/")
    pg.js_errors = errors
    yield pg
    context.close()


def _plot_traces(pg, selector: str) -> int:
    """Number of data traces Plotly drew into ``selector`` (waits for the plot)."""
    pg.wait_for_function(
        "s => { const el = document.querySelector(s); return el && el.data && el.data.length }",
        arg=selector,
        timeout=20_000,
    )
    return pg.evaluate("s => document.querySelector(s).data.length", selector)


def test_dashboard_shows_the_landscape(page, live_url):
    assert "Demo consortium" in page.inner_text(".demo-banner")
    assert _plot_traces(page, "#landscape") >= 3
    points = page.evaluate(
        "() => document.querySelector('#landscape').data.reduce((n, t) => n + t.x.length, 0)"
    )
    assert points > 20
    assert page.locator("#landscape .main-svg").count() >= 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_compare_lfp_with_the_solid_state_cells(page, live_url):
    import json

    page.goto(live_url + "/compare")
    assert _plot_traces(page, "#compare-plot") >= 5
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
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_design_form_shows_field_errors_and_creates(page, live_url):
    page.goto(live_url + "/designs/new")
    page.screenshot(path=str(SHOTS / "design_form.png"), full_page=True)
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
    assert _plot_traces(page, "#mass-plot") == 1
    page.screenshot(path=str(SHOTS / "design.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_upload_a_cycler_file_and_see_its_cycles(page, live_url, shared_data):
    if "/api/tests" not in urllib.request.urlopen(live_url + "/api/openapi.json").read().decode():
        pytest.skip("the tests API (api/tests.py) is not part of this server")
    path = shared_data / "cycler" / UPLOAD_FILE
    if not path.exists():
        pytest.skip(f"{path} missing from the shared data")
    page.goto(live_url + "/tests")
    page.set_input_files("#upload-file", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/tests/\d+$"), timeout=60_000)
    assert _plot_traces(page, "#cycles-plot") >= 1
    assert _plot_traces(page, "#curves-plot") >= 1
    page.wait_for_function(
        "() => document.querySelectorAll('#cycles-table tbody tr').length >= 6", timeout=20_000
    )
    assert "discharge capacity ah" in page.inner_text("#cycles-table thead")
    page.screenshot(path=str(SHOTS / "test.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_benchmark_shows_the_releases_and_their_privacy(page, live_url):
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
    page.screenshot(path=str(SHOTS / "benchmark.png"), full_page=True)
    assert not page.js_errors, page.js_errors


def test_roadmap_shows_the_stages(page, live_url):
    page.goto(live_url + "/roadmap")
    stages = page.inner_text("#stages")
    for n in (1, 2, 3):
        assert f"CASIP stage {n}" in stages
    assert _plot_traces(page, "#road-kg") == 2
    quarters = page.evaluate("() => document.querySelector('#road-kg').data[0].x")
    assert len(quarters) == 1 and quarters[0].startswith("20")  # the first release's quarter
    assert "differentially private" in page.inner_text("#road-note")
    page.screenshot(path=str(SHOTS / "roadmap.png"), full_page=True)
    assert not page.js_errors, page.js_errors
