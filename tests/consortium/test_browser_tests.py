"""The test-data pages in a real browser (Playwright + Debian's Chromium, a real uvicorn server).

A coin cell's cycler file is uploaded through the form: its page shows display units chosen by
magnitude, human headers, capacities per gram and per area, the partial last cycle marked and
left out of the fade plot, and round efficiency ticks. A file that is not a cycler export shows
a failed upload with one clean sentence. Screenshots go to ``/tmp/casip-shots/``.
Skipped when ``/usr/bin/chromium`` is missing, unless ``CASIP_REQUIRE_CHROMIUM=1``.
"""

from __future__ import annotations

import math
import re

import pytest

pytestmark = pytest.mark.slow

COIN_CELL = "20160805_test001_45_cc_01.res"  # Arbin, coin cell: 18 cycles of ~1.5 mAh


def _plot(pg, selector: str) -> dict:
    """The data and layout Plotly drew into ``selector`` (waits for the plot)."""
    pg.wait_for_function(
        "s => { const el = document.querySelector(s); return el && el.data && el.data.length }",
        arg=selector,
        timeout=20_000,
    )
    return pg.evaluate(
        "s => { const el = document.querySelector(s);"
        " return {data: el.data.map(t => ({name: t.name, x: t.x, y: t.y})),"
        " layout: JSON.parse(JSON.stringify(el.layout))} }",
        selector,
    )


def _cells(pg, cycle: int) -> dict[str, str]:
    """The cycle table's row of one cycle, as {header: cell text}."""
    return pg.evaluate(
        """c => { const t = document.querySelector('#cycles-table');
        const heads = [...t.querySelectorAll('thead th')].map(th => th.textContent);
        const row = [...t.querySelectorAll('tbody tr')]
          .find(tr => tr.cells[0].textContent === String(c));
        return Object.fromEntries(heads.map((h, i) => [h, row.cells[i].textContent])); }""",
        cycle,
    )


def test_coin_cell_page_reads_in_engineering_units(page, live_url, shared_data, shots):
    path = shared_data / "cycler" / COIN_CELL
    if not path.exists():
        pytest.skip(f"{path} missing from the shared data")
    page.goto(live_url + "/tests")
    page.set_input_files("#upload-file", str(path))
    page.fill("#upload-mass", "0.853")  # [mg]
    page.fill("#upload-area", "1.54")  # [cm2], a 14 mm coin-cell electrode
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/tests/\d+$"), timeout=60_000)
    page.wait_for_function(
        "() => document.querySelectorAll('#cycles-table tbody tr').length >= 18", timeout=20_000
    )
    head = page.inner_text("#cycles-table thead")
    for label in (
        "Discharge capacity [mAh]",
        "Specific discharge capacity [mAh/g]",
        "Areal discharge capacity [mAh/cm²]",
        "Coulombic efficiency [%]",
        "Mean discharge voltage [V]",
        "Duration [h]",
    ):
        assert label in head, head
    assert "duration second" not in head and "_" not in head
    row = _cells(page, 2)  # 1.567 mAh over 79,590 s
    assert row["Discharge capacity [mAh]"] == "1.57"
    assert row["Specific discharge capacity [mAh/g]"] == "1,840"  # 1.567 mAh / 0.853 mg
    assert row["Areal discharge capacity [mAh/cm²]"] == "1.02"
    assert row["Duration [h]"] == "22.1"
    assert row["Coulombic efficiency [%]"] == "92.23"
    assert "0.00" not in page.inner_text("#cycles-table tbody")  # no Ah in a coin cell's table
    assert "given at upload" in page.inner_text("#cell-basis")

    # the partial last cycle: marked, left out of the fade plot until asked for
    last = page.locator("#cycles-table tbody tr[data-flag]")
    assert last.count() == 1
    assert last.locator("td").first.inner_text() == "18"
    assert "incomplete" in last.inner_text() and "no charge" in last.inner_text()
    fade = _plot(page, "#cycles-plot")
    assert fade["layout"]["yaxis"]["title"]["text"] == "Specific capacity [mAh/g]"
    assert 18 not in fade["data"][0]["x"] and 17 in fade["data"][0]["x"]
    assert min(fade["data"][0]["y"]) > 1500  # no capacity falling to zero
    # round efficiency ticks: a 1-2-5 step, labels with no more decimals than it needs
    y2 = fade["layout"]["yaxis2"]
    mantissa = y2["dtick"] / 10 ** math.floor(math.log10(y2["dtick"]))
    assert round(mantissa, 6) in (1, 2, 5)
    ticks = page.eval_on_selector_all(
        "#cycles-plot .y2tick text", "els => els.map(e => e.textContent)"
    )
    assert len(ticks) >= 3
    values = [float(t.replace(",", "")) for t in ticks]
    assert all(abs(v / y2["dtick"] - round(v / y2["dtick"])) < 1e-6 for v in values), ticks
    curves = _plot(page, "#curves-plot")
    assert {t["name"].split()[1] for t in curves["data"]} == {"1", "2", "10", "17"}
    assert curves["layout"]["xaxis"]["title"]["text"] == "Specific capacity [mAh/g]"
    page.screenshot(path=str(shots / "test-coin-cell.png"), full_page=True)

    page.check("#show-flagged")
    page.wait_for_function(
        "() => document.querySelector('#cycles-plot').data[0].x.includes(18)", timeout=10_000
    )
    page.select_option("#capacity-basis", "absolute")
    page.wait_for_function(
        "() => document.querySelector('#cycles-plot').layout.yaxis.title.text === 'Capacity [mAh]'",
        timeout=10_000,
    )
    assert not page.js_errors, page.js_errors


def test_a_non_cycler_file_shows_a_failed_upload(page, live_url, tmp_path, shots):
    notes = tmp_path / "meeting-notes.txt"
    notes.write_text("Meeting notes\n- bring the coin cells\n- order separators\n" * 20)
    page.goto(live_url + "/tests")
    page.set_input_files("#upload-file", str(notes))
    page.click("#upload-form button[type=submit]")
    err = page.locator("#upload-error")
    err.wait_for(state="visible", timeout=30_000)
    text = err.inner_text()
    assert text.startswith("meeting-notes.txt: ")
    assert "expected a cycler file in one of the formats" in text and "arbin-res" in text
    assert "Unsupported media type" not in text
    assert text.count("matches no supported cycler format") == 1
    assert " — " not in text
    bar = page.locator("#upload-progress")
    assert bar.get_attribute("data-state") == "failed"
    assert not bar.is_visible()  # no full bar that reads as success
    assert page.locator("#upload-form").get_attribute("data-state") == "failed"
    assert page.url.endswith("/tests")
    page.screenshot(path=str(shots / "tests-upload-failed.png"), full_page=True)
    assert not page.js_errors, page.js_errors
