"""Campaigns in the platform (issue 18): create, propose, uploads naming planned tests, early
predictions and early stops from real cells, measured results, privacy.

The early-prediction test uploads two cells of Severson et al. (the shared
``severson/train``): no shared cycler file has the 100 cycles with 3.6-2.0 V discharges the
predictor needs (the longest, PreDiag_000412, has 340 cycles discharging to 2.7 V only), so
each cell's real Q(V) discharge curves of cycles 2..100 are written as a battery-data-format
CSV and uploaded like any cycler file. The early-life model is the variance model trained on
the 41 shared cells (so the two cells are in its training set: the prediction is in-sample;
the point here is the path, not the predictor's accuracy, validated in tests/life).
"""

from __future__ import annotations

import os
import re
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from casip.campaign import sigma_from_interval
from casip.campaign.protocols import charge_time_10_80_min

DOC = {
    "schema": "casip.campaign/1",
    "name": "Longest life, 10-80 % under 15 min",
    "parameters": {
        "c1_C": {"low": 3.0, "high": 8.0},
        "soc_switch": {"low": 0.1, "high": 0.75},
        "c2_C": {"low": 2.5, "high": 6.0},
    },
    "objectives": {"cycle_life": "max"},
    "constraints": {"charge_time_10_80_min": {"max": 15}},
    "batch": 2,
    "optimizer": {"seed": 3},
}
ENG, OTHER = "kestrel", "lantern"
POLL_S = 180.0


@pytest.fixture(scope="module")
def early_model(tmp_path_factory, shared_data):
    """The operator's early-life model (variance model on the shared Severson cells), named
    by CASIP_EARLY_LIFE_MODEL before the server (and its workers) start."""
    from casip.life.early import train_on_severson

    path = tmp_path_factory.mktemp("model") / "variance.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_on_severson(shared_data / "severson").save(path)
    old = os.environ.get("CASIP_EARLY_LIFE_MODEL")
    os.environ["CASIP_EARLY_LIFE_MODEL"] = str(path)
    yield path
    if old is None:
        os.environ.pop("CASIP_EARLY_LIFE_MODEL", None)
    else:
        os.environ["CASIP_EARLY_LIFE_MODEL"] = old


@pytest.fixture(scope="module")
def server(early_model, server):  # the conftest's server, started after the model is named
    return server


def _wait(server, headers, job_id: int) -> dict:
    end = time.monotonic() + POLL_S
    while time.monotonic() < end:
        job = server.client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    pytest.fail(f"job {job_id} not finished after {POLL_S} s")


def _create(server, headers, **changes) -> dict:
    r = server.client.post("/api/campaigns", json={"campaign": {**DOC, **changes}},
                           headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _propose(server, headers, cid: int) -> list[dict]:
    r = server.client.post(f"/api/campaigns/{cid}/propose", headers=headers)
    if r.status_code == 202:
        job = _wait(server, headers, r.json()["job"]["id"])
        assert job["status"] == "done", job
        r = server.client.post(f"/api/campaigns/{cid}/propose", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["planned_tests"]


def _upload(server, headers, data: bytes, filename: str, **params):
    return server.client.post(
        "/api/tests", params={"filename": filename, **params}, content=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )


def _severson_file(shared_data, cell: int, last: int = 100) -> bytes:
    """A battery-data-format CSV of a Severson cell's real discharges, cycles 2..``last``:
    each cycle a 1 A charge from 2.0 to 3.6 V, then the discharge Q(V) (every 10th of its 1000
    voltage points and the last) at -1 A."""
    from casip.life import SEVERSON_VOLTAGE, load_severson_qv

    curves, _ = load_severson_qv(shared_data / "severson")
    q = np.maximum.accumulate(curves[cell], axis=0)  # Q non-decreasing as V falls
    v = SEVERSON_VOLTAGE
    idx = np.unique(np.r_[np.arange(0, len(v), 10), len(v) - 1])
    rows, t, dis, chg = [], 0.0, 0.0, 0.0
    for j, c in enumerate(range(2, last + 1)):  # time steps: the counters are the current's
        qc = q[-1, j]                      # integral (the upload's capacity check)
        for k, vc in enumerate(np.linspace(2.0, 3.6, 20)):
            rows.append((t, vc, 1.0, c, dis, chg + qc * k / 19))
            t += qc / 19 * 3600.0 if k < 19 else 1.0
        chg += qc
        prev = q[idx[0], j]
        for k in idx:
            t += max(q[k, j] - prev, 0.0) * 3600.0 + 1e-3
            rows.append((t, v[k], -1.0, c, dis + q[k, j], chg))
            prev = q[k, j]
        t += 1.0
        dis += q[-1, j]
    df = pd.DataFrame(rows, columns=["test_time_second", "voltage_volt", "current_ampere",
                                     "cycle_count", "discharging_capacity_ah",
                                     "charging_capacity_ah"])
    return df.to_csv(index=False, float_format="%.6f").encode()


@pytest.mark.slow  # the first proposal job also warms the worker up (~8 s)
def test_create_propose_and_idempotence(server):
    h = server.as_role(ENG)
    c = _create(server, h)
    assert c["status"] == "open" and c["planned_tests_list"] == [] and c["best"] is None
    r = server.client.post(f"/api/campaigns/{c['id']}/propose", headers=h)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    again = server.client.post(f"/api/campaigns/{c['id']}/propose", headers=h)
    if again.status_code == 202:  # still queued or running: the same job, not a second one
        assert again.json()["job"]["id"] == job["id"]
    assert _wait(server, h, job["id"])["status"] == "done"
    tests = _propose(server, h, c["id"])
    assert len(tests) == 2
    for t in tests:
        assert re.fullmatch(r"PT-\d+", t["id"]) and t["status"] == "proposed" and t["batch"] == 1
        p = t["point"]
        assert 3.0 <= p["c1_C"] <= 8.0 and 0.1 <= p["soc_switch"] <= 0.75
        assert charge_time_10_80_min(p) <= 15.0 + 1e-9  # the known constraint holds
    # asked again while the batch is open: the same planned tests, nothing new
    assert [t["id"] for t in _propose(server, h, c["id"])] == [t["id"] for t in tests]
    listed = server.client.get(f"/api/campaigns/{c['id']}/planned-tests", headers=h).json()
    assert [t["id"] for t in listed["items"]] == [t["id"] for t in tests]
    # a viewer of the owner may read, not propose
    viewer = server.as_role(ENG, "viewer")
    assert server.client.get(f"/api/campaigns/{c['id']}", headers=viewer).status_code == 200
    assert server.client.post(f"/api/campaigns/{c['id']}/propose",
                              headers=viewer).status_code == 403
    audit = server.client.get(f"/api/audit?item_kind=campaign&item_id={c['id']}",
                              headers=server.as_role(ENG, "admin"))
    if audit.status_code == 200:
        actions = {e["action"] for e in audit.json().get("items", [])}
        assert {"campaign_create", "campaign_propose"} <= actions, actions


def test_bad_documents_name_the_field(server):
    h = server.as_role(ENG)
    for doc, field in (
        ({**DOC, "parameters": {"c1_C": {"low": 6, "high": 2}}}, "campaign.parameters.c1_C"),
        ({**DOC, "evidence": {"model": "/etc/passwd"}}, "campaign.evidence.model"),
        ({**DOC, "design": "/etc/cell.yaml"}, "campaign.design"),
    ):
        r = server.client.post("/api/campaigns", json={"campaign": doc}, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"].startswith(field), r.json()


def test_uploads_name_a_planned_test(server, shared_data):
    h, other = server.as_role(ENG), server.as_role(OTHER)
    c = _create(server, h, name="uploads")
    a, b = _propose(server, h, c["id"])
    data = (shared_data / "cycler" / "FastCharge_000025_CH8.csv").read_bytes()
    # a missing planned test, another organisation's, a malformed one: 422 naming the field,
    # the same message for missing and foreign (nothing tells them apart)
    foreign = _propose(server, other, _create(server, other, name="theirs")["id"])[0]["id"]
    answers = {}
    for pt in ("PT-987654321", foreign, "cell-7"):
        r = _upload(server, h, data + b"\r\n" * 7, "x.csv", planned_test=pt)
        assert r.status_code == 422, r.text
        err = r.json()["errors"][0]
        assert err["field"] == "planned_test", err
        answers[pt] = err["message"]
    assert answers["PT-987654321"] == answers[foreign]
    # named explicitly: linked, testing; too few cycles for an early prediction
    r = _upload(server, h, data + b"\r\n", "FastCharge.csv", planned_test=a["id"])
    assert r.status_code == 201, r.text
    linked = r.json()["planned_test"]
    assert linked["id"] == a["id"] and linked["status"] == "testing"
    assert linked["test_id"] == r.json()["id"] and linked["early_job"] is None
    assert "cycles" in linked["early_note"]
    # a PT-<n> in the file name is suggested, not applied
    r = _upload(server, h, data + b"\r\n" * 2, f"cell_{b['id']}_run1.csv")
    assert r.status_code == 201, r.text
    assert r.json()["planned_test"] is None
    assert r.json()["planned_test_suggestion"]["planned_test"] == b["id"]
    got = server.client.get(f"/api/campaigns/{c['id']}/planned-tests/{b['id']}", headers=h)
    assert got.json()["status"] == "proposed" and got.json()["test_id"] is None
    # another organisation's planned test in a file name is never suggested
    r = _upload(server, h, data + b"\r\n" * 3, f"cell_{foreign}.csv")
    assert r.json()["planned_test_suggestion"] is None
    # a done planned test takes no more data
    r = server.client.post(f"/api/campaigns/{c['id']}/planned-tests/{a['id']}/result",
                           json={"cycle_life": 900}, headers=h)
    assert r.status_code == 200, r.text
    r = _upload(server, h, data + b"\r\n" * 4, "y.csv", planned_test=a["id"])
    assert r.status_code == 422 and "done" in r.json()["errors"][0]["message"]


def test_other_organisations_get_404(server, shared_data):
    h, other = server.as_role(ENG), server.as_role(OTHER)
    c = _create(server, h, name="secret-campaign-LEAKCHECK")
    pt = _propose(server, h, c["id"])[0]
    data = (shared_data / "cycler" / "FastCharge_000025_CH8.csv").read_bytes() + b"\r\n" * 5
    r = _upload(server, h, data, "secret.csv", planned_test=pt["id"])
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    base = f"/api/campaigns/{c['id']}"
    for method, path, body in (
        ("GET", base, None),
        ("GET", f"{base}/planned-tests", None),
        ("GET", f"{base}/planned-tests/{pt['id']}", None),
        ("GET", f"{base}/observations", None),
        ("POST", f"{base}/propose", None),
        ("POST", f"{base}/planned-tests/{pt['id']}/result", {"cycle_life": 10}),
        ("POST", f"{base}/planned-tests/{pt['id']}/cancel", None),
        ("GET", f"/api/tests/{tid}", None),
    ):
        for who in (other, server.as_role("programme-office", "admin")):
            r = server.client.request(method, path, json=body, headers=who)
            assert r.status_code == 404, (method, path, r.text)
            assert "LEAKCHECK" not in r.text
    assert "LEAKCHECK" not in server.client.get("/api/campaigns", headers=other).text
    listed = server.client.get("/api/tests?limit=200", headers=other).json()["items"]
    assert tid not in {t["id"] for t in listed}  # the campaign's test is an ordinary private one
    mine = server.client.get(f"{base}/planned-tests/{pt['id']}", headers=h).json()
    assert mine["status"] == "proposed" or mine["status"] == "testing"


@pytest.mark.slow
def test_early_prediction_early_stop_and_measured_best(server, shared_data):
    """Two real cells uploaded against two planned tests: the long-lived one is predicted
    early, the short-lived one is predicted confidently worse and stopped; a measured life
    then moves the best."""
    from casip.life import load_severson_qv

    _, lives = load_severson_qv(shared_data / "severson")
    long_cell, short_cell = 0, int(np.argmin(lives))  # cell1: 2160 cycles; the shortest
    h = server.as_role(ENG)
    c = _create(server, h, name="early")
    a, b = _propose(server, h, c["id"])
    out = {}
    for pt, cell in ((a, long_cell), (b, short_cell)):
        r = _upload(server, h, _severson_file(shared_data, cell), f"severson-cell{cell + 1}.csv",
                    planned_test=pt["id"])
        assert r.status_code == 201, r.text
        linked = r.json()["planned_test"]
        assert r.json()["cycles"] == 99 and linked["early_job"] is not None, linked
        job = _wait(server, h, linked["early_job"]["id"])
        assert job["status"] == "done", job
        out[pt["id"]] = server.client.get(f"/api/campaigns/{c['id']}/planned-tests/{pt['id']}",
                                          headers=h).json()
    ea, eb = out[a["id"]]["early"], out[b["id"]]["early"]
    assert "error" not in ea, ea
    assert ea["low"] <= ea["cycle_life"] <= ea["high"]
    assert ea["low"] < lives[long_cell] < ea["high"]  # in-sample: the interval holds the truth
    assert eb["high"] < ea["low"]  # confidently worse than the first
    assert out[a["id"]]["status"] == "testing"
    assert out[b["id"]]["status"] == "stopped"
    assert "incumbent" in out[b["id"]]["stop_reason"]
    obs = server.client.get(f"/api/campaigns/{c['id']}/observations", headers=h).json()["items"]
    early = {o["planned_test"]: o for o in obs if o["kind"] == "early"}
    assert set(early) == {a["id"], b["id"]}
    assert early[a["id"]]["sigma"]["cycle_life"] == pytest.approx(
        sigma_from_interval(ea["low"], ea["high"], level=0.9, log=True))
    before = server.client.get(f"/api/campaigns/{c['id']}", headers=h).json()["best"][0]
    assert before["planned_test"] == a["id"]
    # the measured end of life of the first cell: the best's posterior moves toward it
    r = server.client.post(f"/api/campaigns/{c['id']}/planned-tests/{a['id']}/result",
                           json={"cycle_life": float(lives[long_cell])}, headers=h)
    assert r.status_code == 200, r.text
    after = r.json()["best"][0]
    assert r.json()["planned_test"]["status"] == "done"
    assert after["planned_test"] == a["id"]
    m0, m1 = before["value"]["cycle_life"][0], after["value"]["cycle_life"][0]
    assert m1 != pytest.approx(m0, rel=1e-6)
    assert abs(m1 - lives[long_cell]) < abs(m0 - lives[long_cell])


def test_pages_show_the_campaign_to_its_organisation_only(server):
    from casip.platform.seed import demo_email

    h = server.as_role(ENG)
    c = _create(server, h, name="page-campaign-PAGEMARK")
    tests = _propose(server, h, c["id"])
    owner, csrf = server.browser(demo_email(ENG, "engineer"))
    r = owner.get(f"/campaigns/{c['id']}")
    assert r.status_code == 200 and "PAGEMARK" in r.text
    for t in tests:
        assert f'data-pt="{t["id"]}"' in r.text
    assert "PAGEMARK" in owner.get("/campaigns").text
    # the form asks again: the batch is open, nothing new is proposed
    r = owner.post(f"/campaigns/{c['id']}/propose", data={"csrf_token": csrf},
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?m=open")
    # a measured life entered in the form shows as the best
    r = owner.post(f"/campaigns/{c['id']}/result", follow_redirects=False,
                   data={"csrf_token": csrf, "planned_test": tests[0]["id"], "cycle_life": "812"})
    assert r.status_code == 303, r.text
    page = owner.get(f"/campaigns/{c['id']}").text
    assert 'id="campaign-best"' in page and tests[0]["id"] in page
    other, _ = server.browser(demo_email(OTHER, "engineer"))
    r = other.get(f"/campaigns/{c['id']}")
    assert r.status_code == 404 and "PAGEMARK" not in r.text
    assert "PAGEMARK" not in other.get("/campaigns").text
