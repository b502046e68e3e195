"""Replays of attached tests against designs (issue 14): the job, what it stores, who reads it.

A real cycler file of the shared data folder (``cell-discharge-bitrode-1c.csv``: a ~30 A.h
NMC cell, 0.5C charges and 1C (30.6 A) discharges with rests between, 2,287 rows) is uploaded
and attached to a copy of the NMC811 pouch reference design; the replay runs the real PyBaMM
model as a platform job. Every test runs on SQLite and PostgreSQL (the ``server`` fixture).
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

from casip.platform import replays

FILE = "cell-discharge-bitrode-1c.csv"
#: 1C of the tested cell: its discharges run at 30.6 A
TESTED_AH = 30.6
POLL_LIMIT_S = 180.0

_n = iter(range(1, 10_000))


@pytest.fixture(scope="module")
def blob(shared_data) -> bytes:
    path = shared_data / "cycler" / FILE
    if not path.is_file():
        pytest.skip(f"{path} missing from the shared data")
    return path.read_bytes()


def mark(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}"


def upload(server, headers, blob: bytes, name: str) -> dict:
    data = blob + b"\r\n" * next(_n)  # distinct bytes: not a duplicate
    r = server.client.post(
        "/api/tests",
        params={"filename": f"{name}.csv", "name": name},
        content=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    return r.json()


def design(server, headers, name: str, reference: str = "nmc811-pouch") -> dict:
    c = server.client
    refs = c.get("/api/designs?limit=200", headers=headers).json()["items"]
    ref = next(d["id"] for d in refs if d.get("reference_id") == reference)
    doc = c.get(f"/api/designs/{ref}/export", headers=headers).json()
    r = c.post("/api/designs", json={"document": {**doc, "name": name}}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def attached(server, headers, blob, reference: str = "nmc811-pouch") -> tuple[dict, dict]:
    d = design(server, headers, mark("rp-design"), reference)
    t = upload(server, headers, blob, mark("rp-test"))
    r = server.client.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"]},
                           headers=headers)
    assert r.status_code == 201, r.text
    return d, t


def wait(server, headers, job_id: int) -> dict:
    end = time.monotonic() + POLL_LIMIT_S
    while time.monotonic() < end:
        job = server.client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} still running after {POLL_LIMIT_S} s")


def run(server, headers, d, t, body: dict) -> dict:
    r = server.client.post(f"/api/designs/{d['id']}/tests/{t['id']}/replays", json=body,
                           headers=headers)
    assert r.status_code == 202, r.text
    job = wait(server, headers, r.json()["job"]["id"])
    assert job["status"] == "done", job["error"]
    assert job["kind"] == "replay" and job["result_kind"] == "replay"
    rr = server.client.get(f"/api/replays/{job['result_id']}", headers=headers)
    assert rr.status_code == 200, rr.text
    return {"job": job, "replay": rr.json()}


def simulated(server, headers, d, t) -> dict | None:
    r = server.client.get(f"/api/designs/{d['id']}/tests", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["simulated_available"] is True
    return next(x for x in r.json()["tests"] if x["test_id"] == t["id"])["simulated"]


@pytest.mark.slow
def test_default_replay_stores_curves_and_errors(server, blob, shared_data):
    eng = server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    assert simulated(server, eng, d, t) is None  # nothing run yet

    out = run(server, eng, d, t, {"tested_capacity_ah": TESTED_AH, "temperature_c": 25})
    rp = out["replay"]
    assert rp["status"] == "done" and rp["reason"] is None
    # the first full cycle after a rest: cycle 2 (a 1C discharge, rest, 0.5C charge, rest),
    # replayed from the rest after cycle 1's charge
    assert rp["window_rule"].startswith("cycle 2") and "rest before it" in rp["window_rule"]
    assert rp["window_s"] == pytest.approx([9486.3, 23846.2])
    # the tested capacity is known: the same C-rate, said so
    assert rp["scale"] == "c_rate" and "30.6 A.h (given)" in rp["scale_choice"]
    assert rp["current_factor"] == pytest.approx(rp["design_capacity_ah"] / TESTED_AH)
    # the file records no temperature: the given one, said so
    assert rp["temperature_c"] == 25 and rp["temperature_rule"] == "given (the test records none)"
    assert rp["initial_state"].startswith("open-circuit voltage 4.1")
    m = rp["metrics"]
    steps = {e["step_type"]: e for e in m["errors"]}
    assert {"all", "rest", "cc_discharge"} <= set(steps)
    assert m["rmse_mV"] == pytest.approx(steps["all"]["rmse_mV"])
    assert m["max_error_mV"] >= m["rmse_mV"] > 0
    # the rest the window starts in is where the initial state comes from: a few mV at most
    assert steps["rest"]["rmse_mV"] < 10
    # where it stopped and why, inside the window
    assert isinstance(m["stopped_early"], bool) and m["stop_reason"]
    assert rp["window_s"][0] <= m["stopped_at_s"] <= rp["window_s"][1]
    if m["stopped_early"]:
        assert "voltage" in m["stop_reason"] or "solver" in m["stop_reason"]
    # curves in the shape of GET /api/tests/{id}/curves, measured beside them on the same rows
    assert rp["cycles"] == [2]
    branches = {c["branch"] for c in rp["curves"]}
    assert "discharge" in branches
    for c in rp["curves"] + rp["measured_curves"]:
        assert len(c["capacity_ah"]) == len(c["voltage_volt"]) <= 2 * replays.MAX_CURVE_POINTS
    assert len(rp["series"]["test_time_second"]) <= replays.MAX_SERIES_POINTS
    # isothermal by default: no simulated temperature
    assert rp["thermal"] == "isothermal" and rp["max_temperature_c"] is None
    assert "simulated_temperature_c" not in rp["series"]
    assert out["job"]["message"].startswith("done: RMSE")

    # the same replay through casip.physics directly gives the same errors
    from casip.cells import reference_design
    from casip.data import read
    from casip.physics.replay import replay

    direct = replay(reference_design("nmc811-pouch"), read(shared_data / "cycler" / FILE),
                    scale="c_rate", tested_capacity_ah=TESTED_AH, temperature_c=25.0,
                    window=tuple(rp["window_s"]))
    assert m["rmse_mV"] == pytest.approx(direct.rmse_v * 1e3, abs=0.1)
    assert m["stopped_at_s"] == pytest.approx(direct.stopped_at_s, abs=1.0)

    # the design's attached tests now carry it
    sim = simulated(server, eng, d, t)
    assert sim["replay_id"] == rp["replay_id"] and sim["curves"] == rp["curves"]

    # without a tested capacity: the measured amperes, and the page is told why
    rp2 = run(server, eng, d, t, {"cycles": [3], "temperature_c": 25})["replay"]
    assert rp2["scale"] == "amps" and "capacity is unknown" in rp2["scale_choice"]
    assert rp2["current_factor"] == 1.0 and rp2["cycles"] == [3]
    assert simulated(server, eng, d, t)["replay_id"] == rp2["replay_id"]  # the newest


@pytest.mark.slow
def test_impossible_replays_say_why(server, blob):
    eng = server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    # a window that starts in the middle of a 1C discharge: no rest voltage to start from
    rp = run(server, eng, d, t, {"window_s": [11000, 12000], "tested_capacity_ah": 30,
                                 "temperature_c": 25})["replay"]
    assert rp["status"] == "impossible"
    assert "cc_discharge" in rp["reason"] and "not a rest" in rp["reason"]
    assert "curves" not in rp and "metrics" not in rp
    assert simulated(server, eng, d, t)["status"] == "impossible"
    # c_rate asked for explicitly without any tested capacity
    rp = run(server, eng, d, t, {"scale": "c_rate", "temperature_c": 25})["replay"]
    assert rp["status"] == "impossible" and "capacity" in rp["reason"]


def test_requests_are_checked(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    url = f"/api/designs/{d['id']}/tests/{t['id']}/replays"
    for body, field in (
        ({"cycles": [1, 9]}, "cycles"),
        ({"cycles": [1], "window_s": [0, 10]}, "cycles"),
        ({"window_s": [0, 3 * 86400]}, "window_s"),
        ({"scale": "watts"}, "scale"),
        ({"tested_capacity_ah": -1}, "tested_capacity_ah"),
        ({"model": "SPM2"}, "model"),
        ({"temperature_c": 200}, "temperature_c"),
        ({"thermal": "adiabatic", "temperature_c": 25}, "thermal"),
    ):
        r = c.post(url, json=body, headers=eng)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"].startswith(field), r.text
    # the file records no temperature: none is assumed, the request is refused and says why
    # (nothing is queued)
    def replay_jobs():
        items = c.get("/api/jobs?kind=replay&limit=200", headers=eng).json()["items"]
        return {j["id"] for j in items}

    jobs_before = replay_jobs()
    for body in ({}, {"cycles": [2], "tested_capacity_ah": TESTED_AH}):
        r = c.post(url, json=body, headers=eng)
        assert r.status_code == 422, (body, r.text)
        err = r.json()["errors"][0]
        assert err["field"] == "temperature_c", r.text
        assert "records no temperature" in err["message"] and "degrees Celsius" in err["expected"]
    assert replay_jobs() == jobs_before
    assert c.post(url, json={}, headers=server.as_role("kestrel", "viewer")).status_code == 403
    other = upload(server, eng, blob, mark("rp-unattached"))
    r = c.post(f"/api/designs/{d['id']}/tests/{other['id']}/replays", json={}, headers=eng)
    assert r.status_code == 404 and "not attached" in r.json()["detail"]
    # another organisation can see neither the design nor the test
    r = c.post(url, json={}, headers=server.as_role("lantern"))
    assert r.status_code == 404


@pytest.mark.slow
def test_replays_are_never_wider_than_design_and_test(server, blob):
    c, eng, other = server.client, server.as_role("kestrel"), server.as_role("lantern")
    d, t = attached(server, eng, blob)
    rp = run(server, eng, d, t, {"tested_capacity_ah": TESTED_AH, "temperature_c": 25})["replay"]
    rid = rp["replay_id"]
    assert rp["visibility"] == "private"
    assert c.get(f"/api/replays/{rid}", headers=other).status_code == 404
    # the design shared, the test private: the replay may not be shared
    r = c.patch(f"/api/designs/{d['id']}/visibility", json={"visibility": "consortium"},
                headers=eng)
    assert r.status_code == 200, r.text
    r = c.patch(f"/api/replays/{rid}/visibility", json={"visibility": "consortium"}, headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "visibility"
    assert "private" in r.json()["errors"][0]["expected"]
    # both shared: it may be, and the other organisation reads it, in the design's list too
    r = c.patch(f"/api/tests/{t['id']}/visibility", json={"visibility": "consortium"},
                headers=eng)
    assert r.status_code == 200, r.text
    r = c.patch(f"/api/replays/{rid}/visibility", json={"visibility": "public"}, headers=eng)
    assert r.status_code == 422  # wider than both
    r = c.patch(f"/api/replays/{rid}/visibility", json={"visibility": "consortium"}, headers=eng)
    assert r.status_code == 200, r.text
    assert c.get(f"/api/replays/{rid}", headers=other).status_code == 200
    assert simulated(server, other, d, t)["replay_id"] == rid
    r = c.patch(f"/api/replays/{rid}/visibility", json={"visibility": "private"}, headers=other)
    assert r.status_code == 403
    # the test unshared again: gone for the other organisation at once
    r = c.patch(f"/api/tests/{t['id']}/visibility", json={"visibility": "private"}, headers=eng)
    assert r.status_code == 200
    assert c.get(f"/api/replays/{rid}", headers=other).status_code == 404
    assert c.get(f"/api/replays/{rid}", headers=eng).status_code == 200
    # deleting the test deletes its replays
    assert c.delete(f"/api/tests/{t['id']}", headers=eng).status_code == 200
    assert c.get(f"/api/replays/{rid}", headers=eng).status_code == 404


def test_default_window_needs_a_rest_before_a_full_cycle():
    """The window rule on a table without any rest: refused with the reason."""
    import pandas as pd

    from casip.errors import CasipInputError

    n = 40
    ts = pd.DataFrame({
        "test_time_second": np.arange(n, dtype=float) * 60,
        "current_ampere": np.where(np.arange(n) < n // 2, 1.0, -1.0),
        "voltage_volt": np.linspace(3.5, 4.0, n),
        "cycle_count": np.ones(n, dtype=int),
        "step_type": np.where(np.arange(n) < n // 2, "cc_charge", "cc_discharge"),
    })
    with pytest.raises(CasipInputError) as err:
        replays.choose_window(ts, None, {})
    assert "rest" in str(err.value)
    with pytest.raises(CasipInputError):
        replays.choose_window(ts, None, {"cycles": [1, 1]})
    rows, how = replays.choose_window(ts, None, {"window_s": [0.0, 600.0]})
    assert len(rows) == 11 and "chosen" in how


def test_a_test_that_records_its_temperature_needs_none(server, shared_data):
    """A BDF file with an ambient temperature column (DLR, 25.8 degC): no temperature_c is
    needed to queue its replay (the job is cancelled at once: only the check is tested here)."""
    path = shared_data / "cycler" / "DLR__LiGrHydra0b__20230131__POCV__25degC__Basytec.bdf.csv"
    if not path.is_file():
        pytest.skip(f"{path} missing from the shared data")
    c, eng = server.client, server.as_role("kestrel")
    d = design(server, eng, mark("rp-design"))
    t = upload(server, eng, path.read_bytes(), mark("rp-temp"))
    r = c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"]}, headers=eng)
    assert r.status_code == 201, r.text
    r = c.post(f"/api/designs/{d['id']}/tests/{t['id']}/replays", json={}, headers=eng)
    assert r.status_code == 202, r.text
    c.post(f"/api/jobs/{r.json()['job']['id']}/cancel", headers=eng)


@pytest.mark.slow
def test_lumped_thermal_replay_and_its_refusal(server, blob):
    """thermal "lumped": the cell heats above the ambient over the 1C discharge (a Chen2020
    design has thermal parameters); a design whose base set has none (the LFP blade,
    Prada2013) is stored as impossible, with the reason."""
    eng = server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    body = {"tested_capacity_ah": TESTED_AH, "temperature_c": 25, "thermal": "lumped"}
    rp = run(server, eng, d, t, body)["replay"]
    assert rp["status"] == "done", rp["reason"]
    assert rp["thermal"] == "lumped" and rp["parameters"]["thermal"] == "lumped"
    assert "lumped" in rp["model"]
    temps = [x for x in rp["series"]["simulated_temperature_c"] if x is not None]
    assert len(rp["series"]["simulated_temperature_c"]) == len(rp["series"]["test_time_second"])
    assert temps and min(temps) >= 24.9
    assert rp["max_temperature_c"] == pytest.approx(max(temps), abs=0.5)
    assert rp["max_temperature_c"] > 25.5  # heated by the discharge
    iso = run(server, eng, d, t, {**body, "thermal": "isothermal"})["replay"]
    assert iso["metrics"]["rmse_mV"] != pytest.approx(rp["metrics"]["rmse_mV"], abs=0.05)

    d2, t2 = attached(server, eng, blob, reference="lfp-blade")
    rp2 = run(server, eng, d2, t2, body)["replay"]
    assert rp2["status"] == "impossible" and rp2["thermal"] == "lumped"
    assert "Prada2013" in rp2["reason"] and "no thermal parameters" in rp2["reason"]
    assert "isothermal" in rp2["reason"]


@pytest.mark.slow
def test_power_control_and_initial_state_from_history(server, blob, shared_data):
    """control "power": the job drives the design with the measured power (I x V) and stores
    which; initial_soc "from_history": a window that starts mid-discharge (impossible from a
    rest voltage, see test_impossible_replays_say_why) starts from the rest before it plus the
    charge passed since. Both equal a direct replay() of the same rows."""
    from casip.cells import reference_design
    from casip.data import read
    from casip.physics.replay import replay

    eng = server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    body = {"tested_capacity_ah": TESTED_AH, "temperature_c": 25, "cycles": [2]}
    rp = run(server, eng, d, t, {**body, "control": "power"})["replay"]
    assert rp["status"] == "done", rp["reason"]
    assert rp["control"] == "power" and rp["parameters"]["control"] == "power"
    assert any("measured I x V" in n for n in rp["notes"])
    test = read(shared_data / "cycler" / FILE)
    design_ = reference_design("nmc811-pouch")
    direct = replay(design_, test, scale="c_rate", tested_capacity_ah=TESTED_AH,
                    temperature_c=25.0, window=tuple(rp["window_s"]), control="power")
    assert rp["metrics"]["rmse_mV"] == pytest.approx(direct.rmse_v * 1e3, abs=0.1)
    cur = run(server, eng, d, t, body)["replay"]
    assert cur["control"] == "current"
    # power and current control are different drives of the same rows: different errors
    assert cur["metrics"]["rmse_mV"] != pytest.approx(rp["metrics"]["rmse_mV"], abs=0.05)

    # mid-discharge: from the history
    win = [11000, 23846]
    hist = run(server, eng, d, t, {"window_s": win, "tested_capacity_ah": TESTED_AH,
                                   "temperature_c": 25, "initial_soc": "from_history"})["replay"]
    assert hist["status"] == "done", hist["reason"]
    assert hist["initial_soc"] == "from_history"
    assert "from the test's history" in hist["initial_state"]
    soc = hist["initial_state_of_charge"]
    assert 0.0 < soc < 1.0
    direct = replay(design_, test, scale="c_rate", tested_capacity_ah=TESTED_AH,
                    temperature_c=25.0, window=tuple(win), initial_soc="from_history")
    assert soc == pytest.approx(direct.initial_state_of_charge, abs=1e-6)
    assert hist["metrics"]["rmse_mV"] == pytest.approx(direct.rmse_v * 1e3, abs=0.1)
    # the window is the chosen one, not widened by the history rows read before it
    assert hist["window_s"][0] >= win[0] and hist["rows"] == len(direct.time_s)


def test_control_and_initial_state_are_checked(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    url = f"/api/designs/{d['id']}/tests/{t['id']}/replays"
    for body, field in (({"control": "voltage", "temperature_c": 25}, "control"),
                        ({"initial_soc": "guess", "temperature_c": 25}, "initial_soc")):
        r = c.post(url, json=body, headers=eng)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, r.text
