"""Ingestion flags on the platform (issue 13): shown, and left out of the benchmark.

A test stored flagged at ingestion (unusual but real: a failed capacity check) carries its
flags with their reasons in the tests API (upload answer, list, detail) and on the web pages
(a badge and the reasons), and is left out of the consortium benchmark's counted rows and of the
caller's own items unless included explicitly (``include_flagged``), with a note of how many were
left out. An upload refused for impossible values or a truncated file answers a problem naming
the file and what was expected, in the API and on the upload page.

The files: the real shared ``p492-13-raw.csv`` (flagged), a battery-data-format CSV written here
whose capacity counters read 30 % above the integral of its current (flagged) and its unflagged
twin, a copy of the shared ``maccor_001.txt`` with its voltages in microvolts (impossible) and a
copy of ``p492-13-raw.csv`` cut in its last line (truncated). API tests run on SQLite and
PostgreSQL; the browser tests use Debian's Chromium (skipped without it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from casip.platform import benchmarking
from casip.platform.models import TestDataset

FLAGGED_SHARED = "p492-13-raw.csv"
MACCOR = "maccor_001.txt"
COLUMNS = (
    "test_time_second,voltage_volt,current_ampere,cycle_count,step_index,"
    "charging_capacity_ah,discharging_capacity_ah"
)


def write_cell(path: Path, counter_factor: float = 1.0, fade: float = 0.04) -> Path:
    """A BDF CSV of 12 cycles at 1 A, 3.0-4.2 V, fading ``fade`` per cycle (a measured cycle
    life of a few cycles); capacity counters = integral of current x ``counter_factor``."""
    rows = [COLUMNS]
    t, dt, qc, qd = 0.0, 30.0, 0.0, 0.0
    for n in range(1, 13):
        steps = round((1 - fade * (n - 1)) * 3600 / dt)
        for k in range(1, steps + 1):
            t += dt
            qc += dt / 3600
            rows.append(f"{t:.1f},{3.0 + 1.2 * k / steps:.4f},1.000,{n},1,"
                        f"{qc * counter_factor:.6f},{qd * counter_factor:.6f}")
        for k in range(1, steps + 1):
            t += dt
            qd += dt / 3600
            rows.append(f"{t:.1f},{4.2 - 1.2 * k / steps:.4f},-1.000,{n},2,"
                        f"{qc * counter_factor:.6f},{qd * counter_factor:.6f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def microvolt_copy(shared_data: Path, dst: Path) -> Path:
    """``maccor_001.txt`` with its ``Volts`` column x 1e6 (3.4e6 "V": physically impossible)."""
    lines = (shared_data / "cycler" / MACCOR).read_bytes().split(b"\n")
    col = lines[3].split(b"\t").index(b"Volts")
    out = lines[:4]
    for line in lines[4:]:
        cells = line.split(b"\t")
        if len(cells) > col and cells[col].strip():
            cells[col] = f"{float(cells[col]) * 1e6:.5f}".encode()
        out.append(b"\t".join(cells))
    dst.write_bytes(b"\n".join(out))
    return dst


def cut_copy(shared_data: Path, dst: Path) -> Path:
    """``p492-13-raw.csv`` cut before the middle comma of its last line."""
    data = (shared_data / "cycler" / FLAGGED_SHARED).read_bytes().rstrip(b"\r\n")
    start = data.rfind(b"\n") + 1
    commas = [i for i, ch in enumerate(data[start:]) if ch == ord(",")]
    dst.write_bytes(data[: start + commas[len(commas) // 2]])
    return dst


def _scaled_copy(src: Path, dst: Path, factor: float = 1.0, shift: float = 0.0) -> Path:
    """A BDF CSV with its voltages scaled (a module of cells in series) or shifted."""
    text = src.read_text(encoding="utf-8").splitlines()
    out = [text[0]]
    for line in text[1:]:
        f = line.split(",")
        f[1] = f"{float(f[1]) * factor + shift:.4f}"
        out.append(",".join(f))
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dst


def upload(server, headers, path: Path, **params):
    return server.client.post(
        "/api/tests", params={"filename": path.name, **params}, content=path.read_bytes(),
        headers=headers,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_data: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("flag-files")
    return {
        "ok": write_cell(d / "cell_ok.bdf.csv"),
        "off": write_cell(d / "cell_off.bdf.csv", counter_factor=1.3),
        "shared": shared_data / "cycler" / FLAGGED_SHARED,
        "impossible": microvolt_copy(shared_data, d / "maccor_uV.txt"),
        "cut": cut_copy(shared_data, d / "p492-cut.csv"),
    }


# --------------------------------------------------------------------------------------------
# API (SQLite and PostgreSQL)
# --------------------------------------------------------------------------------------------


def test_flags_are_in_the_upload_answer_list_and_detail(server, files):
    h = server.as_role("kestrel")
    got = {}
    for key in ("ok", "off", "shared"):
        r = upload(server, h, files[key])
        assert r.status_code == 201, r.text
        got[key] = r.json()
    assert got["ok"]["flagged"] is False and got["ok"]["flags"] == []
    for key in ("off", "shared"):
        body = got[key]
        assert body["flagged"] is True, body
        assert body["flags"][0]["kind"] == "capacity_check"
        assert "capacity check failed" in body["flags"][0]["reason"]
        assert body["details"]["flags"] == body["flags"]
    listed = {t["id"]: t for t in server.client.get("/api/tests?limit=200", headers=h).json()[
        "items"]}
    for body in got.values():
        assert listed[body["id"]]["flagged"] is body["flagged"]
        assert listed[body["id"]]["flags"] == body["flags"]
        detail = server.client.get(f"/api/tests/{body['id']}", headers=h).json()
        assert detail["flags"] == body["flags"]
    # another organisation's reader sees the flags of a shared test too
    r = server.client.patch(
        f"/api/tests/{got['off']['id']}/visibility", json={"visibility": "consortium"}, headers=h
    )
    assert r.status_code == 200, r.text
    other = server.client.get(f"/api/tests/{got['off']['id']}", headers=server.as_role("lantern"))
    assert other.status_code == 200 and other.json()["flagged"] is True


def test_configuration_given_at_upload_is_judged(server, files, tmp_path):
    """A full cell declared at upload that never exceeds 2 V is flagged, not refused; an
    invalid configuration is a 422 naming the field; a module needs its cells in series."""
    h = server.as_role("kestrel")
    # 0.1-1.3 V: an anode half cell's range
    low = _scaled_copy(files["ok"], tmp_path / "half_as_full.bdf.csv", shift=-2.9)
    r = upload(server, h, low, cell_configuration="full")
    assert r.status_code == 201, r.text
    assert [f["kind"] for f in r.json()["flags"]] == ["configuration"]
    assert "half cell" in r.json()["flags"][0]["reason"]
    bad = upload(server, h, low, cell_configuration="sideways")
    assert bad.status_code == 422 and "cell_configuration" in bad.text
    module = _scaled_copy(files["ok"], tmp_path / "module.bdf.csv", 4.0)  # 12-16.8 V
    refused = upload(server, h, module)
    assert refused.status_code == 422 and "cells_in_series" in refused.text
    ok = upload(server, h, module, cells_in_series=4)
    assert ok.status_code == 201 and ok.json()["flags"] == [], ok.text


def test_refused_uploads_name_the_file_and_what_was_expected(server, files):
    h = server.as_role("kestrel")
    r = upload(server, h, files["impossible"])
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["detail"].startswith("maccor_uV.txt: ")
    assert "physically impossible voltage" in body["detail"]
    assert "expected -0.5 to 5.5 V" in body["detail"]
    assert body["errors"][0]["field"] == "voltage_volt"
    assert body["errors"][0]["expected"] == "-0.5 to 5.5 V"
    r = upload(server, h, files["cut"])
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["detail"].startswith("p492-cut.csv: the file ends mid-record at line ")
    assert "expected the whole file, its last record complete" in body["detail"]
    assert body["errors"][0]["field"] == "file"
    assert body["errors"][0]["expected"] == "the whole file, its last record complete"
    assert str(server.settings.upload_dir) not in r.text  # the temporary name never shows


def test_flagged_tests_do_not_count_in_the_benchmark_unless_included(server, files):
    h = server.as_role("basalt")
    with server.platform.db.session() as s:
        before = benchmarking.rows_of(s, "measured_cycle_life")
        before_all = benchmarking.rows_of(s, "measured_cycle_life", include_flagged=True)
    ids = {}
    for key in ("ok", "off"):
        r = upload(server, h, files[key], visibility="consortium")
        assert r.status_code == 201, r.text
        assert r.json()["cycle_life"] is not None, r.json()
        ids[key] = r.json()["id"]
    with server.platform.db.session() as s:
        org = s.get(TestDataset, ids["ok"]).owner_org_id
        after = benchmarking.rows_of(s, "measured_cycle_life")
        after_all = benchmarking.rows_of(s, "measured_cycle_life", include_flagged=True)
        lives = dict(
            s.execute(
                sa.select(TestDataset.id, TestDataset.cycle_life).where(
                    TestDataset.id.in_(ids.values())
                )
            ).all()
        )
    assert len(after) == len(before) + 1
    assert sorted(after) == sorted([*before, (lives[ids["ok"]], org)])
    assert len(after_all) == len(before_all) + 2
    # the caller's own items: the flagged test left out, and counted in flagged_left_out
    r = server.client.get("/api/benchmark", params={"kpi": "measured_cycle_life"}, headers=h)
    assert r.status_code == 200, r.text
    (entry,) = r.json()["kpis"]
    own = {o["id"]: o for o in entry["own"]}
    assert ids["ok"] in own and ids["off"] not in own
    assert own[ids["ok"]]["flagged"] is False and own[ids["ok"]]["counted"] is True
    assert entry["flagged_left_out"] == 1
    r = server.client.get(
        "/api/benchmark/measured_cycle_life", params={"include_flagged": "true"}, headers=h
    )
    assert r.status_code == 200, r.text
    own = {o["id"]: o for o in r.json()["own"]}
    assert own[ids["off"]]["flagged"] is True and own[ids["off"]]["counted"] is False
    assert r.json()["flagged_left_out"] == 0


# --------------------------------------------------------------------------------------------
# Web pages (Playwright + Chromium)
# --------------------------------------------------------------------------------------------


def _upload_in_browser(page, live_url: str, path: Path, series: int | None = None,
                       configuration: str | None = None) -> None:
    page.goto(live_url + "/tests")
    page.set_input_files("#upload-file", str(path))
    if series is not None:
        page.fill("#upload-series", str(series))
    if configuration is not None:
        page.select_option("#upload-configuration", configuration)
    page.click("#upload-form button[type=submit]")


@pytest.mark.slow
def test_web_pages_show_flags_and_refusals(page, live_url, files, shots):
    _upload_in_browser(page, live_url, files["off"])
    page.wait_for_url(re.compile(r".*/tests/\d+$"), timeout=60_000)
    assert page.is_visible("#test-flagged-badge")
    reasons = page.inner_text("#test-flags")
    assert "capacity check failed in 12 of 12 checked cycles" in reasons
    assert "left out of the consortium benchmark, life prediction and calibration" in reasons
    page.screenshot(path=str(shots / "test-flagged.png"), full_page=True)
    test_url = page.url
    # the list: a badge and the reasons on the flagged row
    page.goto(live_url + "/tests")
    row = page.locator("#tests-table tbody tr[data-flagged=true]").first
    row.wait_for(timeout=20_000)
    assert row.locator(".badge.test-flag").inner_text() == "flagged"
    assert "capacity check failed" in row.locator(".test-flag-reasons").inner_text()
    # an unflagged test shows neither
    _upload_in_browser(page, live_url, files["ok"])
    page.wait_for_url(re.compile(r".*/tests/\d+$"), timeout=60_000)
    assert page.url != test_url
    assert page.locator("#test-flagged-badge").count() == 0
    assert page.locator("#test-flags").count() == 0
    # a module: refused as a single cell, stored with its cells in series from the form
    module = _scaled_copy(files["ok"], files["ok"].with_name("module4.bdf.csv"), 4.0)
    _upload_in_browser(page, live_url, module, series=4, configuration="full")
    page.wait_for_url(re.compile(r".*/tests/\d+$"), timeout=60_000)
    assert page.locator("#test-flagged-badge").count() == 0
    # refused uploads: the reader's message, naming the file and what was expected
    for key, words in (
        ("impossible", ("maccor_uV.txt", "physically impossible voltage",
                        "expected -0.5 to 5.5 V")),
        ("cut", ("p492-cut.csv", "ends mid-record", "expected the whole file")),
    ):
        _upload_in_browser(page, live_url, files[key])
        page.wait_for_selector("#upload-error", timeout=60_000)
        text = page.inner_text("#upload-error")
        for w in words:
            assert w in text, (key, text)
        assert page.get_attribute("#upload-form", "data-state") == "failed"
    page.screenshot(path=str(shots / "upload-refused-truncated.png"), full_page=True)
    # the benchmark page: the note of the flagged test left out
    page.goto(live_url + "/benchmark")
    note = page.locator("[data-kpi=measured_cycle_life] .flagged-left-out")
    note.wait_for(timeout=20_000)
    assert note.inner_text().startswith("1 of your tests was flagged at ingestion")
    assert not page.js_errors, page.js_errors
