"""Calibration as a platform job (issue 14): the request, the progress, the stored result, who
reads it, the downloads and the calibrated variant in a replay.

A real cycler file of the shared data folder (``cell-discharge-bitrode-1c.csv``: a ~30 A.h NMC
cell, 0.5C charges and 1C (30.6 A) discharges with rests between) is uploaded and attached to a
copy of the NMC811 pouch reference design. The fits are kept small (one parameter, the SPMe
model, 20 evaluations, windows of about 40 minutes: the rest before a 1C discharge and its first
~1,900 s), so each job takes seconds. Every test runs on SQLite and PostgreSQL (``server``).
"""

from __future__ import annotations

import time
import uuid

import pytest

from casip.platform import calibrations

FILE = "cell-discharge-bitrode-1c.csv"
#: 1C of the tested cell: its discharges run at 30.6 A
TESTED_AH = 30.6
#: cycle 2: the rest after the charge (from 9486.3 s), then the 1C discharge (10086.3 s on)
FIT_WINDOW = [9486.3, 12000.0]
#: cycle 3, the same protocol: rest from 23247.2 s, discharge from 23847.2 s
HELD_WINDOW = [23247.2, 26000.0]
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


def attached(server, headers, blob) -> tuple[dict, dict]:
    """A copy of the NMC811 pouch reference with the uploaded test attached."""
    c = server.client
    refs = c.get("/api/designs?limit=200", headers=headers).json()["items"]
    ref = next(d["id"] for d in refs if d.get("reference_id") == "nmc811-pouch")
    doc = c.get(f"/api/designs/{ref}/export", headers=headers).json()
    r = c.post("/api/designs", json={"document": {**doc, "name": mark("cal-design")}},
               headers=headers)
    assert r.status_code == 201, r.text
    d = r.json()
    name = mark("cal-test")
    r = c.post("/api/tests", params={"filename": f"{name}.csv", "name": name},
               content=blob + b"\r\n" * next(_n),  # distinct bytes: not a duplicate
               headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    t = r.json()
    r = c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"]}, headers=headers)
    assert r.status_code == 201, r.text
    return d, t


def case(t: dict, window: list[float], **extra) -> dict:
    return {"test_id": t["id"], "window_s": window, "tested_capacity_ah": TESTED_AH,
            "temperature_c": 25, **extra}


def wait(server, headers, cal_id: int) -> tuple[dict, list[dict]]:
    """Poll the calibration until it ends; its last answer and every progress seen."""
    seen = []
    end = time.monotonic() + POLL_LIMIT_S
    while time.monotonic() < end:
        r = server.client.get(f"/api/calibrations/{cal_id}", headers=headers)
        assert r.status_code == 200, r.text
        cal = r.json()
        seen.append(cal["progress"])
        if cal["status"] not in ("queued", "running"):
            return cal, seen
        time.sleep(0.2)
    pytest.fail(f"calibration {cal_id} still running after {POLL_LIMIT_S} s")


def submit(server, headers, d: dict, body: dict) -> dict:
    r = server.client.post(f"/api/designs/{d['id']}/calibrations", json=body, headers=headers)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["job"]["kind"] == "calibration" and out["job"]["status"] == "queued"
    return out


@pytest.mark.slow
def test_calibration_job_stores_fit_errors_record_and_bpx(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    body = {"fit": [case(t, FIT_WINDOW, label="cycle 2")],
            "held_back": [case(t, HELD_WINDOW, label="cycle 3")],
            "parameters": ["contact_resistance"], "stages": ["kinetics_transport"],
            "model": "SPMe", "max_evaluations": 20}
    out = submit(server, eng, d, body)
    cid = out["calibration_id"]
    cal, seen = wait(server, eng, cid)
    assert cal["status"] in ("done", "ill_posed"), cal["error"]
    assert cal["error"] is None and cal["finished_at"] >= cal["started_at"]
    # the progress was in the row while it ran and ends at the full budget
    assert all(set(p) == {"fraction", "evaluations", "stage"} for p in seen)
    assert cal["progress"]["fraction"] == 1.0 and cal["progress"]["stage"] == "kinetics_transport"
    assert cal["progress"]["evaluations"] == cal["evaluations"] >= 20
    # the fitted parameter inside its bounds, with its identifiability
    (stage,) = cal["stages"]
    assert stage["stage"] == "kinetics_transport" and stage["skipped"] is None
    (p,) = stage["parameters"]
    assert p["parameter"] == "contact_resistance" and p["pybamm_name"] == "Contact resistance [Ohm]"
    assert p["lower"] == 0.0 and p["upper"] == 0.2
    assert p["lower"] <= p["fitted"] <= p["upper"]
    assert p["identifiability"] in ("identified", "weak", "not identifiable")
    # fit and prediction error tables, before and after
    (fe,) = cal["fit_errors"]
    (pe,) = cal["prediction_errors"]
    assert fe["case"] == "cycle 2" and fe["role"] == "fit"
    assert pe["case"] == "cycle 3" and pe["role"] == "held back"
    for row in (fe, pe):
        assert row["max_before_mV"] >= row["rmse_before_mV"] > 0
        assert row["max_after_mV"] >= row["rmse_after_mV"] > 0
    assert isinstance(cal["warnings"], list)
    assert "c_rate" in cal["scale_choices"]["cycle 2"]
    job = c.get(f"/api/jobs/{out['job']['id']}", headers=eng).json()
    assert job["status"] == "done" and job["result_kind"] == "calibration"
    assert job["result_id"] == cid and job["message"].startswith("done")
    assert f"{fe['rmse_after_mV']:.1f} mV" in job["message"]
    # listed on the design
    r = c.get(f"/api/designs/{d['id']}/calibrations", headers=eng)
    assert r.status_code == 200 and r.json()["calibrations"][0]["calibration_id"] == cid

    # the record: the calibrated variant, downloadable
    r = c.get(f"/api/calibrations/{cid}/record.json", headers=eng)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rec = r.json()
    assert rec["format"] == "casip.calibration/1" and rec["model"] == "SPMe"
    assert rec["fit_cases"] == ["cycle 2"] and rec["held_back_cases"] == ["cycle 3"]
    assert rec["overrides"]["Contact resistance [Ohm]"] == pytest.approx(p["fitted"])
    # the BPX file of a liquid design, with the fitted contact resistance
    assert cal["bpx_available"] is True and cal["bpx_reason"] is None
    r = c.get(f"/api/calibrations/{cid}/bpx", headers=eng)
    assert r.status_code == 200, r.text
    bpx = r.json()
    assert {"Header", "Parameterisation"} <= set(bpx)
    assert "attachment" in r.headers["content-disposition"]

    # the calibrated variant replayed on the fit window gives the stored errors after the fit,
    # the design itself those before it
    def replay(**extra) -> dict:
        r = c.post(f"/api/designs/{d['id']}/tests/{t['id']}/replays",
                   json={"window_s": FIT_WINDOW, "tested_capacity_ah": TESTED_AH,
                         "temperature_c": 25, "model": "SPMe", **extra}, headers=eng)
        assert r.status_code == 202, r.text
        jid = r.json()["job"]["id"]
        end = time.monotonic() + POLL_LIMIT_S
        while (j := c.get(f"/api/jobs/{jid}", headers=eng).json())["status"] in (
                "queued", "running") and time.monotonic() < end:
            time.sleep(0.2)
        assert j["status"] == "done", j["error"]
        return c.get(f"/api/replays/{j['result_id']}", headers=eng).json()

    after = replay(calibration_id=cid)
    assert after["status"] == "done", after["reason"]
    assert after["calibration_id"] == cid
    assert after["metrics"]["rmse_mV"] == pytest.approx(fe["rmse_after_mV"], abs=0.1)
    before = replay()
    assert before["calibration_id"] is None
    assert before["metrics"]["rmse_mV"] == pytest.approx(fe["rmse_before_mV"], abs=0.1)

    # another organisation can read none of it; a viewer of the owner can
    other = server.as_role("lantern")
    for url in (f"/api/calibrations/{cid}", f"/api/calibrations/{cid}/record.json",
                f"/api/calibrations/{cid}/bpx", f"/api/designs/{d['id']}/calibrations"):
        assert c.get(url, headers=other).status_code == 404, url
    viewer = server.as_role("kestrel", "viewer")
    assert c.get(f"/api/calibrations/{cid}", headers=viewer).status_code == 200
    # shared no wider than the design and the test; readable by others once all three are
    r = c.patch(f"/api/calibrations/{cid}/visibility", json={"visibility": "consortium"},
                headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "visibility"
    for url in (f"/api/designs/{d['id']}/visibility", f"/api/tests/{t['id']}/visibility",
                f"/api/calibrations/{cid}/visibility"):
        r = c.patch(url, json={"visibility": "consortium"}, headers=eng)
        assert r.status_code == 200, (url, r.text)
    assert c.get(f"/api/calibrations/{cid}", headers=other).status_code == 200
    r = c.patch(f"/api/calibrations/{cid}/visibility", json={"visibility": "private"},
                headers=other)
    assert r.status_code == 403
    # the test unshared again: gone for the other organisation at once
    r = c.patch(f"/api/tests/{t['id']}/visibility", json={"visibility": "private"}, headers=eng)
    assert r.status_code == 200
    assert c.get(f"/api/calibrations/{cid}", headers=other).status_code == 404
    # a test it used deleted: readable by no one
    assert c.delete(f"/api/tests/{t['id']}", headers=eng).status_code == 200
    assert c.get(f"/api/calibrations/{cid}", headers=eng).status_code == 404


def test_bad_requests_name_the_field_and_queue_nothing(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    url = f"/api/designs/{d['id']}/calibrations"
    ok = {"fit": [case(t, FIT_WINDOW)], "parameters": ["contact_resistance"],
          "stages": ["kinetics_transport"], "max_evaluations": 20}
    for change, field in (
        ({"parameters": ["contact_resistance", "bogus"]}, "parameters.1"),
        ({"fit": [case(t, [1e7, 1e7 + 600])]}, "fit.0.window_s"),  # after the test's end
        ({"fit": [case(t, [0, 30 * 3600])]}, "fit.0.window_s"),  # longer than 24 h
        ({"held_back": [case(t, [12000, 11000])]}, "held_back.0.window_s"),
        ({"fit": [{"test_id": t["id"], "window_s": FIT_WINDOW}]}, "fit.0.temperature_c"),
        ({"fit": [case(t, FIT_WINDOW, initial_soc=1.5)]}, "fit.0.initial_soc"),
        ({"fit": [case(t, FIT_WINDOW, scale="watts")]}, "fit.0.scale"),
        ({"fit": [case(t, FIT_WINDOW, shift=3)]}, "fit.0.shift"),
        ({"fit": []}, "fit"),
        ({"max_evaluations": 100_000}, "max_evaluations"),
        ({"max_evaluations": 5}, "max_evaluations"),
        ({"model": "P2D"}, "model"),
        ({"stages": ["ocv"]}, "stages.0"),
        ({"bounds": {"positive_diffusivity": [0.1, 10]}}, "bounds.positive_diffusivity"),
        ({"bounds": {"contact_resistance": [0.1, 0.0]}}, "bounds.contact_resistance"),
        ({"held_back": [case(t, FIT_WINDOW)]}, "held_back.0.label"),  # the same case twice
    ):
        r = c.post(url, json={**ok, **change}, headers=eng)
        assert r.status_code == 422, (change, r.text)
        err = r.json()["errors"][0]
        assert err["field"] == field, (change, r.text)
        assert err["message"] and err["expected"], r.text
    # the window outside the test says where the test runs
    r = c.post(url, json={**ok, "fit": [case(t, [1e7, 1e7 + 600])]}, headers=eng)
    assert "outside the test" in r.json()["errors"][0]["message"]
    assert "1 .. " in r.json()["errors"][0]["expected"]
    # a test that is not attached, or that does not exist: told apart by nothing
    name = mark("cal-unattached")
    other_test = c.post("/api/tests", params={"filename": f"{name}.csv", "name": name},
                        content=blob + b"\r\n" * next(_n),
                        headers={**eng, "Content-Type": "application/octet-stream"}).json()
    for tid in (other_test["id"], 2**31 - 1):
        r = c.post(url, json={**ok, "fit": [{**case(t, FIT_WINDOW), "test_id": tid}]},
                   headers=eng)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fit.0.test_id"
        assert "no test attached" in r.json()["errors"][0]["message"]
    assert c.post(url, json=ok, headers=server.as_role("kestrel", "viewer")).status_code == 403
    assert c.post(url, json=ok, headers=server.as_role("lantern")).status_code == 404
    # nothing was queued or stored
    assert c.get(url, headers=eng).json()["calibrations"] == []
    # a replay of a calibration that does not exist is refused, naming the field
    r = c.post(f"/api/designs/{d['id']}/tests/{t['id']}/replays",
               json={"window_s": FIT_WINDOW, "temperature_c": 25, "calibration_id": 2**31 - 1},
               headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "calibration_id"
    # what may be fitted, for forms and clients
    r = c.get("/api/calibrations/parameters", headers=eng)
    keys = [p["key"] for p in r.json()["parameters"]]
    assert "contact_resistance" in keys and "bogus" not in keys
    assert r.json()["max_evaluations"]["max"] == calibrations.MAX_EVALUATIONS


@pytest.mark.slow
def test_failed_and_ill_posed_fits_say_why(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d, t = attached(server, eng, blob)
    base = {"parameters": ["positive_diffusivity"], "stages": ["kinetics_transport"],
            "max_evaluations": 20}
    # a window that starts in the middle of the 1C discharge: no rest voltage to start from
    out = submit(server, eng, d, {**base, "fit": [case(t, [11000, 12500])]})
    cal, _ = wait(server, eng, out["calibration_id"])
    assert cal["status"] == "failed"
    assert cal["error"]["field"] == "initial_soc"
    assert "not a rest" in cal["error"]["message"] and "cc_discharge" in cal["error"]["message"]
    assert cal["record_available"] is False and cal["stages"] == []
    job = c.get(f"/api/jobs/{out['job']['id']}", headers=eng).json()
    assert job["status"] == "failed" and "not a rest" in job["error"]
    r = c.get(f"/api/calibrations/{cal['calibration_id']}/record.json", headers=eng)
    assert r.status_code == 409 and "failed" in r.json()["detail"]
    r = c.post(f"/api/designs/{d['id']}/tests/{t['id']}/replays",
               json={"window_s": FIT_WINDOW, "temperature_c": 25,
                     "calibration_id": cal["calibration_id"]}, headers=eng)
    assert r.status_code == 422 and "no calibrated parameters" in r.text

    # a rest only: the particle diffusivity leaves no trace in the voltage: ill-posed, said so
    out = submit(server, eng, d, {**base, "fit": [case(t, [9486.3, 10080.0])]})
    cal, _ = wait(server, eng, out["calibration_id"])
    assert cal["status"] == "ill_posed", cal["error"]
    assert any("no fitted parameter is identifiable" in x for x in cal["ill_posed"])
    assert any("positive_diffusivity is not identifiable" in w for w in cal["warnings"])
    (p,) = cal["stages"][0]["parameters"]
    assert p["identifiability"] == "not identifiable"
    assert p["lower"] <= p["fitted"] <= p["upper"]
    assert c.get(f"/api/jobs/{out['job']['id']}", headers=eng).json()["message"].startswith(
        "done (ill-posed)")


@pytest.mark.slow
def test_calibrate_from_the_design_page(page, live_url, shared_data, shots):
    """In a real browser: the Calibration section of a design page submits a small fit of an
    attached test, follows its progress and shows the fitted parameter with its
    identifiability, the fit and prediction errors and the downloads; the replay forms then
    offer the calibrated variant. Screenshot: ``design_calibration.png``."""
    path = shared_data / "cycler" / FILE
    if not path.is_file():
        pytest.skip(f"{path} missing from the shared data")
    page.goto(live_url + "/designs")
    csrf = page.evaluate("() => document.querySelector('meta[name=\"csrf-token\"]').content")
    hdr = {"X-CSRF-Token": csrf}
    refs = page.request.get(live_url + "/api/designs?limit=200").json()["items"]
    ref = next(d["id"] for d in refs if d.get("reference_id") == "nmc811-pouch")
    doc = page.request.get(live_url + f"/api/designs/{ref}/export").json()
    r = page.request.post(live_url + "/api/designs",
                          data={"document": {**doc, "name": "Calibrated NMC (browser)"}},
                          headers=hdr)
    assert r.status == 201, r.text()
    design_id = r.json()["id"]
    r = page.request.post(live_url + f"/api/tests?filename={FILE}&name=bitrode-calibration",
                          data=path.read_bytes(),
                          headers={**hdr, "Content-Type": "application/octet-stream"})
    assert r.status in (200, 201), r.text()
    test_id = r.json()["id"]
    r = page.request.post(live_url + f"/api/designs/{design_id}/tests",
                          data={"test_id": test_id}, headers=hdr)
    assert r.status == 201, r.text()

    page.goto(live_url + f"/designs/{design_id}")
    page.wait_for_selector("#no-calibrations")
    page.wait_for_selector("#calibrate-parameters input[value=contact_resistance]")
    for box in page.locator("#calibrate-parameters input[name=parameter]").all():
        if box.get_attribute("value") != "contact_resistance":
            box.uncheck()
    page.check("#calibrate-parameters input[value=contact_resistance]")
    page.uncheck("#calibrate-form input[name=stage_balance]")
    page.fill("#calibrate-evals", "20")
    fit = page.locator("#calibrate-cases tr.calibrate-case").first
    fit.locator("input[name=window]").fill("9486.3-12000")
    fit.locator("input[name=tested_capacity_ah]").fill("30.6")
    fit.locator("input[name=temperature_c]").fill("25")
    page.click("#calibrate-add-case")
    held = page.locator("#calibrate-cases tr.calibrate-case").nth(1)
    assert held.locator("select[name=role]").input_value() == "held_back"
    held.locator("input[name=window]").fill("23247.2-26000")
    held.locator("input[name=tested_capacity_ah]").fill("30.6")
    # no temperature for the held-back case: the server names the field, nothing is queued
    page.click("#calibrate-form button[type=submit]")
    err = page.locator("#calibrate-status .field-error")
    err.wait_for(timeout=30_000)
    assert "held_back.0.temperature_c" in err.inner_text()
    held.locator("input[name=temperature_c]").fill("25")
    page.click("#calibrate-form button[type=submit]")
    page.wait_for_selector("article.calibration[data-status='done'], "
                           "article.calibration[data-status='ill_posed']", timeout=180_000)
    art = page.locator("article.calibration").first
    rows = art.locator("table.calibration-parameters tbody tr")
    assert rows.count() == 1
    assert rows.first.locator("th").inner_text() == "contact_resistance"
    assert rows.first.locator("td").last.inner_text().split(" (")[0] in (
        "identified", "weak", "not identifiable")
    assert art.locator("table.calibration-fit-errors tbody tr").count() == 1
    assert art.locator("table.calibration-prediction-errors tbody tr").count() == 1
    assert art.locator(".calibration-downloads a").count() == 2  # the record and the BPX file
    # the replay form of the test now offers the calibrated variant
    cid = art.get_attribute("id").rpartition("-")[2]
    options = page.locator(f"#replay-form-{test_id} select[name=calibration_id] option")
    assert [o.get_attribute("value") for o in options.all()] == ["", cid]
    art.screenshot(path=str(shots / "design_calibration.png"))
    assert not page.js_errors, page.js_errors
