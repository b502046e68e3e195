"""Measured tests on the design page in a real browser (Playwright + Debian's Chromium).

A real cycler file (a Bitrode 1C discharge of the shared data folder) is uploaded through the
tests page, attached to a new design from the design page's "Measured tests" section, drawn
there as voltage against capacity (beside the empty simulated slot), listed on the test page
(whose own curves, drawn by the same shared code, still show), and detached again. Skipped
when ``/usr/bin/chromium`` is missing, unless ``CASIP_REQUIRE_CHROMIUM=1``. Screenshot:
``/tmp/casip-shots/design_measured_tests.png``.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

FILE = "cell-discharge-bitrode-1c.csv"


def test_attach_draw_and_detach_a_measured_test(page, live_url, shared_data, plot_traces, shots):
    path = shared_data / "cycler" / FILE
    if not path.exists():
        pytest.skip(f"{path} missing from the shared data")
    # a design of Kestrel's own (a copy of the LFP reference cell)
    page.goto(live_url + "/designs")
    csrf = page.evaluate("() => document.querySelector('meta[name=\"csrf-token\"]').content")
    refs = page.request.get(live_url + "/api/designs?limit=200").json()["items"]
    lfp = next(d["id"] for d in refs if d.get("reference_id") == "lfp-blade")
    doc = page.request.get(live_url + f"/api/designs/{lfp}/export").json()
    r = page.request.post(
        live_url + "/api/designs",
        data={"document": {**doc, "name": "Measured LFP (browser)"}, "visibility": "private"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status == 201, r.text()
    design_id = r.json()["id"]
    # the test, uploaded through the form
    page.goto(live_url + "/tests")
    page.set_input_files("#upload-file", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/tests/\d+$"), timeout=60_000)
    test_id = int(page.url.rsplit("/", 1)[1])
    assert "Not attached to any design" in page.inner_text("#test-designs")
    # attach it from the design page
    page.goto(live_url + f"/designs/{design_id}")
    assert page.is_visible("#no-measured-tests")
    page.select_option("#attach-test-id", str(test_id))
    page.fill("#attach-test-note", "1C discharge")
    page.click("#attach-test button[type=submit]")
    plot = f"#measured-plot-{test_id}"
    page.wait_for_selector(plot, timeout=20_000)
    assert plot_traces(page, plot) >= 1
    names = page.evaluate(f"() => document.querySelector('{plot}').data.map(t => t.name)")
    assert all(n.startswith("measured cycle ") for n in names), names
    xs = page.evaluate(
        f"() => document.querySelector('{plot}').data[0].x.filter(v => v !== null)"
    )
    assert xs and max(xs) > 0
    slot = page.locator(f"#simulated-slot-{test_id}")
    assert slot.get_attribute("data-simulated") == "empty"
    assert "No simulation of this test yet" in slot.inner_text()
    assert "1C discharge" in page.inner_text(f"#measured-test-{test_id}")
    page.locator("#measured-tests").screenshot(path=str(shots / "design_measured_tests.png"))
    # the test page lists the design, and its own curves (the shared plotting code) still draw
    page.goto(live_url + f"/tests/{test_id}")
    assert "Measured LFP (browser)" in page.inner_text("#test-designs")
    assert plot_traces(page, "#curves-plot") >= 1
    # detach
    page.goto(live_url + f"/designs/{design_id}")
    page.click(f"button.detach-test[data-test-id='{test_id}']")
    page.wait_for_selector("#no-measured-tests", timeout=20_000)
    assert page.locator(f"#measured-test-{test_id}").count() == 0
    assert not page.js_errors, page.js_errors
