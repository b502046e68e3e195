"""Design-space studies as platform jobs: checked before queuing, run, results shown."""

from __future__ import annotations

import time

STUDY = {
    "schema": "casip.study/1",
    "name": "loading x separator",
    "design": "ref:assb-sulfide-li",
    "parameters": {
        "cathode_loading_mAh_cm2": {"low": 2.0, "high": 8.0, "levels": 4},
        "separator_thickness_um": {"low": 10, "high": 50, "levels": 3},
    },
    "objectives": {"specific_energy_Wh_kg": "max", "cost_usd_kWh": "min"},
    "constraints": {"cell_thickness_mm": {"max": 12}},
    "method": {"kind": "factorial"},
}


def _wait(server, headers, job_id, limit_s=120):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        job = server.client.get(f"/api/studies/{job_id}", headers=headers).json()
        if job["job"]["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError("study did not finish")


def test_a_study_runs_as_a_job_and_shows_its_pareto_front(sqlite_server):
    from casip.explore.run import run_study
    from casip.explore.study import study_from_data

    h = sqlite_server.as_role("kestrel")
    r = sqlite_server.client.post("/api/studies", json={"study": STUDY}, headers=h)
    assert r.status_code == 202, r.text
    out = _wait(sqlite_server, h, r.json()["job"]["id"])
    assert out["job"]["status"] == "done", out["job"]["error"]
    assert out["job"]["progress"] == 1.0
    res = out["result"]
    assert res["points"] == 12 and res["pareto"]
    # the same front as the library computes for the same study
    direct = run_study(study_from_data(STUDY), out_dir=sqlite_server.settings.data_dir / "direct")
    assert sorted(p["specific_energy_Wh_kg"] for p in res["pareto"]) == sorted(
        direct.pareto["specific_energy_Wh_kg"].tolist()
    )
    listed = sqlite_server.client.get("/api/studies", headers=h).json()
    assert out["job"]["id"] in [j["id"] for j in listed["items"]]
    other = sqlite_server.as_role("lantern")
    assert (
        sqlite_server.client.get(f"/api/studies/{out['job']['id']}", headers=other).status_code
        == 404
    )


def test_bad_studies_are_refused_before_anything_is_queued(sqlite_server):
    h = sqlite_server.as_role("kestrel")
    c = sqlite_server.client
    before = c.get("/api/studies", headers=h).json()["total"]
    bad = {**STUDY, "design": "/etc/passwd"}
    r = c.post("/api/studies", json={"study": bad}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "study.design"
    r = c.post(
        "/api/studies",
        json={"study": {**STUDY, "parameters": {"nonsense_um": {"low": 1, "high": 2}}}},
        headers=h,
    )
    assert r.status_code == 422 and "nonsense_um" in r.text
    r = c.post("/api/studies", json={"study": STUDY, "executor": "tcp://10.0.0.1:8786"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "executor"
    # another organisation's private design cannot be studied (it does not exist for you)
    owner = sqlite_server.as_role("basalt")
    doc = c.get("/api/designs/2", headers=owner).json()["document"]
    doc["name"] = "basalt private study base"
    did = c.post("/api/designs", json={"document": doc}, headers=owner).json()["id"]
    r = c.post("/api/studies", json={"study": {**STUDY, "design": f"design:{did}"}}, headers=h)
    assert r.status_code == 404
    sponsor = sqlite_server.as_role("programme-office", "admin")
    assert c.post("/api/studies", json={"study": STUDY}, headers=sponsor).status_code == 403
    assert c.get("/api/studies", headers=h).json()["total"] == before
