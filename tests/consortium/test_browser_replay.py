"""Replaying an attached test from the design page, in a real browser (Playwright + Chromium).

A real cycler file (the Bitrode cell of the shared data folder, ~30 A.h, 1C = 30.6 A) is
uploaded and attached to a copy of the NMC811 pouch reference design through the API; the user
then asks, on the design page, to simulate it with the tested capacity given: the replay job
runs the real PyBaMM model in the live server, the page reloads and draws the simulated curves
dashed over the measured ones of the same rows, with the scaling shown and the error table.
A window that cannot be replayed (it starts in a discharge) is said to be impossible, with the
reason. Screenshot: ``/tmp/casip-shots/design_replay.png``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow
LIVE_SETTINGS = {"demo_jobs": False}  # no background demo charge jobs beside the replay

FILE = "cell-discharge-bitrode-1c.csv"


def test_simulate_an_attached_test_and_see_the_overlay(page, live_url, shared_data, plot_traces,
                                                       shots):
    path = shared_data / "cycler" / FILE
    if not path.exists():
        pytest.skip(f"{path} missing from the shared data")
    page.goto(live_url + "/designs")
    csrf = page.evaluate("() => document.querySelector('meta[name=\"csrf-token\"]').content")
    hdr = {"X-CSRF-Token": csrf}
    refs = page.request.get(live_url + "/api/designs?limit=200").json()["items"]
    ref = next(d["id"] for d in refs if d.get("reference_id") == "nmc811-pouch")
    doc = page.request.get(live_url + f"/api/designs/{ref}/export").json()
    r = page.request.post(live_url + "/api/designs",
                          data={"document": {**doc, "name": "Replayed NMC (browser)"}},
                          headers=hdr)
    assert r.status == 201, r.text()
    design_id = r.json()["id"]
    r = page.request.post(
        live_url + f"/api/tests?filename={FILE}&name=bitrode-replay",
        data=path.read_bytes(),
        headers={**hdr, "Content-Type": "application/octet-stream"},
    )
    assert r.status in (200, 201), r.text()
    test_id = r.json()["id"]
    r = page.request.post(live_url + f"/api/designs/{design_id}/tests",
                          data={"test_id": test_id}, headers=hdr)
    assert r.status == 201, r.text()

    page.goto(live_url + f"/designs/{design_id}")
    slot = page.locator(f"#simulated-slot-{test_id}")
    assert slot.get_attribute("data-simulated") == "empty"
    page.fill(f"#replay-cap-{test_id}", "30.6")
    # the file records no temperature and none is given: refused, the server's reason shown
    page.click(f"#replay-form-{test_id} button[type=submit]")
    err = page.locator(f"#replay-status-{test_id} .field-error")
    err.wait_for(timeout=30_000)
    assert "temperature_c" in err.inner_text() and "records no temperature" in err.inner_text()
    assert page.evaluate("() => document.activeElement.name") == "temperature_c"
    assert slot.get_attribute("data-simulated") == "empty"
    page.fill(f"#replay-temp-{test_id}", "25")
    page.select_option(f"#replay-thermal-{test_id}", "lumped")  # the lumped thermal model
    page.click(f"#replay-form-{test_id} button[type=submit]")
    # the job runs; the page reloads with the replay
    page.wait_for_selector(f"#simulated-slot-{test_id}[data-simulated='present']",
                           timeout=180_000)
    sel = f"#simulated-slot-{test_id}"
    assert plot_traces(page, sel) >= 2
    traces = page.evaluate(
        f"() => document.querySelector('{sel}').data.map(t => [t.name, t.line.dash])"
    )
    measured = [t for t in traces if t[0].startswith("measured cycle 2")]
    simulated = [t for t in traces if t[0].startswith("simulated cycle 2")]
    assert measured and simulated, traces
    assert all(d in ("dash", "dashdot") for _, d in simulated)
    # under the overlay: measured and simulated voltage against test time, in the palette's
    # first colour (measured solid, simulated dashed), from the replay's stored series
    tsel = f"#replay-time-{test_id}"
    assert plot_traces(page, tsel) == 2
    lines = page.evaluate(
        f"() => document.querySelector('{tsel}').data.map(t => [t.name, t.line.color, "
        "t.line.dash, t.x.length, t.y.filter(v => v !== null).length])"
    )
    first = page.evaluate("() => casip.palette.series[0]")
    assert [x[:3] for x in lines] == [["measured voltage", first, "solid"],
                                      ["simulated voltage", first, "dash"]], lines
    assert all(n > 10 and finite > 10 for *_, n, finite in lines), lines
    assert page.evaluate(
        f"() => document.querySelector('{tsel}').layout.xaxis.title.text"
    ) == "Test time [h]"
    assert page.evaluate(  # drawn under the overlay
        f"() => document.querySelector('{sel}').getBoundingClientRect().bottom <= "
        f"document.querySelector('{tsel}').getBoundingClientRect().top + 1"
    )
    result = page.inner_text(f"#replay-result-{test_id}")
    assert "RMSE" in result and "cycle 2" in result
    assert "same C-rate as the tested cell of 30.6 A.h" in result
    thermal = page.inner_text(f"#replay-result-{test_id} li.replay-thermal")
    assert thermal.startswith("Thermal: lumped (simulated cell temperature up to ")
    assert float(thermal.split("up to ")[1].split(" ")[0]) > 25.5  # heated above the ambient
    rows = page.locator(f"#replay-result-{test_id} table.replay-errors tbody tr")
    steps = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert steps[0] == "all" and "rest" in steps and "cc_discharge" in steps
    page.locator(f"#measured-test-{test_id}").screenshot(path=str(shots / "design_replay.png"))

    # a window starting in the middle of a discharge: impossible, with the reason
    page.fill(f"#replay-window-{test_id}", "11000-12000")
    page.fill(f"#replay-temp-{test_id}", "25")  # the page reloaded: the form is empty again
    page.click(f"#replay-form-{test_id} button[type=submit]")
    page.wait_for_selector(f"#simulated-slot-{test_id}[data-simulated='impossible']",
                           timeout=180_000)
    text = slot.inner_text()
    assert "Replay impossible" in text and "not a rest" in text
    assert not page.js_errors, page.js_errors
