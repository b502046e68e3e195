"""The test-data API behind the test pages: cell basis, stub cycles, upload error texts.

Real cycler files of the shared data folder (read in place, never modified); the stub-cycle
file is a real Battery Archive export with one 15 ms cycle appended, as a step change leaves.
"""

from __future__ import annotations

import pytest

from casip.platform.api.tests import classify_cycles

RES = "20160805_test001_45_cc_01.res"  # coin cell, 18 cycles of ~1.5 mAh, the last one partial
P492 = "p492-13-raw.csv"  # Battery Archive export, ~14 mAh, 8 cycles


def upload(server, headers, data: bytes, filename: str, **params):
    return server.client.post(
        "/api/tests", params={"filename": filename, **params}, content=data, headers=headers
    )


def with_stub_cycle(path) -> bytes:
    """The file with a 15 ms cycle after its last one (two rows, no current)."""
    lines = path.read_text().splitlines()
    last = lines[-1].split(",")
    rows = []
    for dt in (0.0, 0.015):
        row = list(last)
        row[0] = str(int(last[0]) + 1)  # Cycle_Index
        row[2] = f"{float(last[2]) + 0.1 + dt:.3f}"  # Time_s
        rows.append(",".join(row))
    return ("\n".join([*lines, *rows]) + "\n").encode()


def test_active_mass_and_area_given_at_upload_are_kept_and_win(server, shared_data):
    h = server.as_role("kestrel")
    path = shared_data / "cycler" / RES
    r = upload(server, h, path.read_bytes(), RES, active_mass_g=0.0125, electrode_area_cm2=1.54)
    assert r.status_code in (200, 201), r.text
    ds = r.json()
    assert ds["details"]["cell"] == {"active_mass_g": 0.0125, "electrode_area_cm2": 1.54}
    assert server.client.get(f"/api/tests/{ds['id']}", headers=h).json()["details"]["cell"] == {
        "active_mass_g": 0.0125,
        "electrode_area_cm2": 1.54,
    }
    cyc = server.client.get(f"/api/tests/{ds['id']}/cycles", headers=h).json()
    assert cyc["active_mass_g"] == 0.0125 and cyc["active_mass_source"] == "upload"
    assert cyc["electrode_area_cm2"] == 1.54 and cyc["electrode_area_source"] == "upload"
    # the API stays in SI-style units with the unit in the name: capacities in Ah
    assert 0.001 < cyc["cycles"][1]["discharge_capacity_ah"] < 0.002


def test_active_mass_from_the_file_when_not_given(sqlite_server, shared_data):
    h = sqlite_server.as_role("kestrel")
    path = shared_data / "cycler" / RES
    ds = upload(sqlite_server, h, path.read_bytes(), RES).json()
    assert "cell" not in ds["details"]
    cyc = sqlite_server.client.get(f"/api/tests/{ds['id']}/cycles", headers=h).json()
    assert cyc["active_mass_source"] == "file"
    assert cyc["active_mass_g"] == pytest.approx(0.000853, rel=1e-3)  # 0.853 mg in the .res
    assert cyc["electrode_area_cm2"] is None and cyc["electrode_area_source"] is None


@pytest.mark.parametrize(
    ("param", "value"),
    [("active_mass_g", "-1"), ("electrode_area_cm2", "0"), ("active_mass_g", "x")],
)
def test_bad_mass_or_area_is_refused_naming_the_field(sqlite_server, shared_data, param, value):
    h = sqlite_server.as_role("kestrel")
    r = upload(sqlite_server, h, b"1,2\n", "x.csv", **{param: value})
    assert r.status_code == 422, r.text
    assert param in r.text


def test_incomplete_last_cycle_is_flagged_and_left_out_of_default_curves(
    sqlite_server, shared_data
):
    h = sqlite_server.as_role("kestrel")
    path = shared_data / "cycler" / RES
    ds = upload(sqlite_server, h, path.read_bytes(), RES).json()
    rows = sqlite_server.client.get(f"/api/tests/{ds['id']}/cycles", headers=h).json()["cycles"]
    flags = {r["cycle_count"]: r["flag"] for r in rows}
    assert flags[18] == "incomplete"  # 2.8 ks, a discharge only, 16 % of the median capacity
    assert "no charge" in rows[-1]["flag_reason"]
    assert all(flags[c] is None for c in range(1, 18))
    cur = sqlite_server.client.get(f"/api/tests/{ds['id']}/curves", headers=h).json()
    assert cur["cycles"] == [1, 2, 10, 17]  # the last full cycle, not the partial 18th
    asked = sqlite_server.client.get(f"/api/tests/{ds['id']}/curves?cycles=18", headers=h)
    assert asked.json()["cycles"] == [18]  # still there when asked for


def test_a_15_ms_stub_cycle_is_flagged(sqlite_server, shared_data):
    h = sqlite_server.as_role("kestrel")
    data = with_stub_cycle(shared_data / "cycler" / P492)
    r = upload(sqlite_server, h, data, "p492-with-stub.csv")
    assert r.status_code == 201, r.text
    rows = sqlite_server.client.get(f"/api/tests/{r.json()['id']}/cycles", headers=h).json()
    last = rows["cycles"][-1]
    assert last["cycle_count"] == 10
    assert last["duration_second"] == pytest.approx(0.015, abs=1e-6)
    assert last["flag"] == "stub"
    assert "15 ms" in last["flag_reason"]
    assert rows["cycles"][1]["flag"] is None  # cycle 2, the first full one
    cur = sqlite_server.client.get(f"/api/tests/{r.json()['id']}/curves", headers=h).json()
    assert 10 not in cur["cycles"]


def test_classify_cycles_keeps_a_rate_test_and_fade():
    """Short fast cycles and capacity fade are not incomplete: only throughput and time count."""
    import pandas as pd

    table = pd.DataFrame(
        {
            "duration_second": [36000.0, 18000.0, 7200.0, 3600.0, 1400.0, 36000.0],
            "charge_capacity_ah": [0.0015, 0.00148, 0.00145, 0.0014, 0.0012, 0.0011],
            "discharge_capacity_ah": [0.00149, 0.00147, 0.00144, 0.00139, 0.00118, 0.0011],
        }
    )
    assert [f for f, _ in classify_cycles(table)] == [None] * 6


def test_non_cycler_upload_error_is_one_clean_sentence(sqlite_server):
    h = sqlite_server.as_role("kestrel")
    text = b"Meeting notes\n- bring the coin cells\n- order separators\n" * 20
    r = upload(sqlite_server, h, text, "notes.txt")
    assert r.status_code == 415, r.text
    body = r.json()
    assert body["title"] == "Unsupported media type"
    detail = body["detail"]
    assert detail.startswith("notes.txt: ")
    assert detail.endswith("or a .zip holding exactly one such file.")
    assert ". " not in detail and detail.count("expected") == 1  # one sentence
    assert detail.count("matches no supported cycler format") == 1
    assert "arbin-res" in detail and "format:" not in detail and "got '.txt'" not in detail
    assert "--format" not in detail
    (err,) = body["errors"]
    assert err["field"] == "file" and err["value"] == "notes.txt"
    gz = upload(sqlite_server, h, b"\x1f\x8b\x08\x00" + b"\x00" * 100, "cells.csv.gz")
    assert gz.status_code == 415
    assert gz.json()["detail"].startswith("cells.csv.gz: gzip archives")
    assert ". Expected" not in gz.json()["detail"]
