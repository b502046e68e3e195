"""Background simulation and lifetime jobs, against the real app and the real models."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from casip.platform import runs
from casip.platform.models import Design, Job, LifetimeResult, Simulation

POLL_LIMIT_S = 120.0


def _me(server, headers) -> dict:
    return server.client.get("/api/me", headers=headers).json()


def _reference(server, headers, reference_id: str) -> int:
    r = server.client.get("/api/designs?limit=200", headers=headers)
    assert r.status_code == 200, r.text
    ids = [d["id"] for d in r.json()["items"] if d["reference_id"] == reference_id]
    assert ids, f"no reference design {reference_id}"
    return ids[0]


def _wait(server, headers, job_id: int, limit_s: float = POLL_LIMIT_S) -> dict:
    """Poll a job until it leaves queued/running (bounded)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        r = server.client.get(f"/api/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} still {job['status']} after {limit_s} s")


def _queue_directly(server, headers, kind: str, params: dict) -> int:
    """A queued job row written as the API would, but not handed to the runner."""
    me = _me(server, headers)
    with server.platform.db.session() as s:
        return runs.new_job(s, me["organisation"]["id"], me["user_id"], kind, params).id


def test_viewer_and_sponsor_may_not_submit(server):
    c = server.client
    lfp = _reference(server, server.as_role("kestrel"), "lfp-blade")
    for h in (server.as_role("kestrel", "viewer"), server.as_role("programme-office", "engineer")):
        r = c.post(f"/api/designs/{lfp}/simulations", json={"kind": "fast_charge"}, headers=h)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"] == "application/problem+json"
        r = c.post(f"/api/designs/{lfp}/lifetimes", json={"duty": "ev_daily"}, headers=h)
        assert r.status_code == 403, r.text


def test_bad_input_is_named_with_allowed_values(server):
    c, h = server.client, server.as_role("kestrel")
    lfp = _reference(server, h, "lfp-blade")
    r = c.post(f"/api/designs/{lfp}/lifetimes", json={"duty": "moon_rover"}, headers=h)
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["field"] == "duty" and err["value"] == "moon_rover"
    assert "ev_daily" in err["expected"] and "stationary_storage" in err["expected"]
    r = c.post(f"/api/designs/{lfp}/lifetimes", json={"duty": "ev_daily", "years": 99}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "years"
    r = c.post(
        f"/api/designs/{lfp}/simulations",
        json={"kind": "rate_capability", "c_rates": [0.5, -1]},
        headers=h,
    )
    assert r.status_code == 422
    assert (
        r.json()["errors"][0]["field"] == "c_rates.1"
        and "(0, 10]" in (r.json()["errors"][0]["expected"])
    )
    r = c.post(f"/api/designs/{lfp}/simulations", json={"kind": "teleport"}, headers=h)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "kind"
    assert "fast_charge" in r.json()["errors"][0]["expected"]
    r = c.post(
        f"/api/designs/{lfp}/simulations", json={"kind": "fast_charge", "c_rate": 50}, headers=h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "c_rate"
    r = c.post("/api/designs/999999/lifetimes", json={"duty": "ev_daily"}, headers=h)
    assert r.status_code == 404


def test_lifetime_job_runs_and_stays_private_until_shared(server):
    c = server.client
    owner, other = server.as_role("kestrel"), server.as_role("lantern")
    sponsor = server.as_role("programme-office", "viewer")
    design = _reference(server, owner, "assb-sulfide-li")
    r = c.post(f"/api/designs/{design}/lifetimes", json={"duty": "ev_daily"}, headers=owner)
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert job["status"] in ("queued", "running", "done") and job["kind"] == "lifetime"
    assert c.get(f"/api/jobs/{job['id']}", headers=other).status_code == 404
    job = _wait(server, owner, job["id"])
    assert job["status"] == "done", job["error"]
    assert job["result_kind"] == "lifetime" and job["progress"] == 1.0
    assert job["id"] in [j["id"] for j in c.get("/api/jobs", headers=owner).json()["items"]]
    assert job["id"] not in [j["id"] for j in c.get("/api/jobs", headers=other).json()["items"]]

    lid = job["result_id"]
    res = c.get(f"/api/lifetimes/{lid}", headers=owner).json()
    assert res["model"] == "solid-state:LPSCl" and res["visibility"] == "private"
    years, cycles = res["years_to_80"], res["cycles_to_80"]
    assert 0.5 < years < 10 and 50 < cycles < 3000
    # ev_daily: one 30 % cycle a day, so the equivalent full cycles follow the years
    assert cycles == pytest.approx(years * 365.25 * 0.3, rel=0.05)
    series = res["result"]["series"]
    assert 2 < len(series["capacity_rel"]) <= runs.MAX_SERIES_POINTS
    assert series["capacity_rel"][0] == pytest.approx(1.0, abs=0.02)
    assert min(series["capacity_rel"]) < 0.8
    assert res["duty"]["preset"] == "ev_daily"

    assert c.get(f"/api/lifetimes/{lid}", headers=other).status_code == 404
    assert lid not in [x["id"] for x in c.get("/api/lifetimes", headers=other).json()["items"]]
    r = c.patch(
        f"/api/lifetimes/{lid}/visibility", json={"visibility": "consortium"}, headers=other
    )
    assert r.status_code == 404
    r = c.patch(
        f"/api/lifetimes/{lid}/visibility", json={"visibility": "consortium"}, headers=owner
    )
    assert r.status_code == 200 and r.json()["visibility"] == "consortium"
    assert c.get(f"/api/lifetimes/{lid}", headers=other).status_code == 200
    assert c.get(f"/api/lifetimes/{lid}", headers=sponsor).status_code == 404
    listed = c.get(f"/api/lifetimes?design_id={design}", headers=other).json()["items"]
    assert lid in [x["id"] for x in listed]
    assert c.delete(f"/api/lifetimes/{lid}", headers=other).status_code == 403
    assert c.delete(f"/api/lifetimes/{lid}", headers=owner).status_code == 200
    assert c.get(f"/api/lifetimes/{lid}", headers=owner).status_code == 404


def _wait_finished_at(server, headers, job_id: int, limit_s: float = POLL_LIMIT_S) -> dict:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        job = server.client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["finished_at"] is not None:
            return job
        time.sleep(0.2)
    pytest.fail(f"job {job_id} has no finish time after {limit_s} s")


def test_cancelled_job_stores_nothing_whether_queued_or_running(server):
    """A job is cancelled by its organisation's engineers only. The worker may have claimed it
    already (jobs run in worker processes, within their poll interval): either way the job
    ends cancelled with a finish time (set by the API for a queued job, by the worker's
    supervisor, which kills the attempt's process, for a running one), and its attempt, fenced,
    stores no result."""
    c = server.client
    owner = server.as_role("basalt")
    design = _reference(server, owner, "assb-sulfide-li")
    jid = _queue_directly(server, owner, "lifetime", runs.lifetime_params(design, "ev_daily"))
    assert c.get(f"/api/jobs/{jid}", headers=owner).json()["status"] in ("queued", "running")
    assert c.post(f"/api/jobs/{jid}/cancel", headers=server.as_role("lantern")).status_code == 404
    viewer = server.as_role("basalt", "viewer")
    assert c.post(f"/api/jobs/{jid}/cancel", headers=viewer).status_code == 403
    r = c.post(f"/api/jobs/{jid}/cancel", headers=owner)
    if r.status_code == 409:  # the worker finished it first (a lifetime takes a second)
        assert r.json()["detail"].endswith("(done)")
        return
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert c.post(f"/api/jobs/{jid}/cancel", headers=owner).status_code == 409
    job = _wait_finished_at(server, owner, jid)
    # another job runs after it: the worker went on
    good = c.post(f"/api/designs/{design}/lifetimes", json={"duty": "ev_daily"}, headers=owner)
    assert _wait(server, owner, good.json()["job"]["id"])["status"] == "done"
    job = c.get(f"/api/jobs/{jid}", headers=owner).json()
    assert job["status"] == "cancelled" and job["result_id"] is None
    with server.platform.db.session() as s:
        assert not s.execute(sa.select(LifetimeResult).where(LifetimeResult.job_id == jid)).first()


def test_job_on_deleted_design_fails_clearly_and_runner_goes_on(server):
    c, owner = server.client, server.as_role("ionics-institute")
    ref = _reference(server, owner, "assb-sulfide-li")
    doc = c.get(f"/api/designs/{ref}", headers=owner).json()["document"]
    doc["name"] = "soon deleted"
    design = c.post("/api/designs", json={"document": doc}, headers=owner).json()["id"]
    assert c.delete(f"/api/designs/{design}", headers=owner).status_code == 200
    bad = _queue_directly(server, owner, "lifetime", runs.lifetime_params(design, "ev_daily"))
    r = c.post(f"/api/designs/{ref}/lifetimes", json={"duty": "ev_fast_charge"}, headers=owner)
    assert r.status_code == 202
    failed = _wait(server, owner, bad)
    assert failed["status"] == "failed" and failed["result_id"] is None
    assert f"design {design} no longer exists" in failed["error"]
    assert "Traceback" not in failed["error"]
    assert failed["attempts"] == 1  # a job that raises is not retried
    good = _wait(server, owner, r.json()["job"]["id"])
    assert good["status"] == "done", good["error"]
    res = c.get(f"/api/lifetimes/{good['result_id']}", headers=owner).json()
    assert res["duty"]["preset"] == "ev_fast_charge"


@pytest.mark.slow
def test_fast_charge_of_lfp_reference_and_sharing(sqlite_server):
    server = sqlite_server
    c = server.client
    owner, other = server.as_role("kestrel"), server.as_role("lantern")
    sponsor = server.as_role("programme-office", "viewer")
    lfp = _reference(server, owner, "lfp-blade")
    r = c.post(
        f"/api/designs/{lfp}/simulations", json={"kind": "fast_charge", "c_rate": 1}, headers=owner
    )
    assert r.status_code == 202, r.text
    job = _wait(server, owner, r.json()["job"]["id"])
    assert job["status"] == "done", job["error"]
    sid = job["result_id"]
    sim = c.get(f"/api/simulations/{sid}", headers=owner).json()
    assert sim["kind"] == "fast_charge" and sim["visibility"] == "private"
    assert sim["parameters"]["c_rate"] == 1.0 and sim["parameters"]["protocol"] == "cccv"
    # 70 % of the capacity at 1C is 42 min, plus any constant-voltage tail
    assert 40 <= sim["charge_time_min"] <= 60
    res = sim["result"]
    assert res["time_min"] == sim["charge_time_min"]
    assert res["binding_limit"] in (
        "upper voltage",
        "lithium plating (anode potential)",
        "none",
    )
    assert isinstance(res["limits_crossed"], list)
    hist = res["history"]
    assert set(runs.HISTORY_COLUMNS) <= set(hist)
    assert 2 < len(hist["time_min"]) <= runs.MAX_HISTORY_POINTS
    assert hist["soc"][0] == pytest.approx(0.1, abs=0.01)
    assert hist["soc"][-1] == pytest.approx(0.8, abs=0.01)

    assert c.get(f"/api/simulations/{sid}", headers=other).status_code == 404
    listed = c.get(f"/api/simulations?design_id={lfp}", headers=other).json()["items"]
    assert sid not in [x["id"] for x in listed]
    r = c.patch(
        f"/api/simulations/{sid}/visibility", json={"visibility": "consortium"}, headers=owner
    )
    assert r.status_code == 200
    assert c.get(f"/api/simulations/{sid}", headers=other).status_code == 200
    assert c.get(f"/api/simulations/{sid}", headers=sponsor).status_code == 404
    c.patch(f"/api/simulations/{sid}/visibility", json={"visibility": "public"}, headers=owner)
    assert c.get(f"/api/simulations/{sid}", headers=sponsor).status_code == 200
    assert c.delete(f"/api/simulations/{sid}", headers=other).status_code == 403
    assert c.delete(f"/api/simulations/{sid}", headers=owner).status_code == 200
    assert c.get(f"/api/simulations/{sid}", headers=owner).status_code == 404


@pytest.mark.slow
def test_rate_capability_job(sqlite_server):
    server = sqlite_server
    c, owner = server.client, server.as_role("lantern")
    design = _reference(server, owner, "assb-sulfide-li")
    r = c.post(
        f"/api/designs/{design}/simulations",
        json={"kind": "rate_capability", "c_rates": [2, 0.5]},
        headers=owner,
    )
    assert r.status_code == 202, r.text
    job = _wait(server, owner, r.json()["job"]["id"])
    assert job["status"] == "done", job["error"]
    sim = c.get(f"/api/simulations/{job['result_id']}", headers=owner).json()
    assert sim["kind"] == "rate_capability" and sim["charge_time_min"] is None
    table = sim["result"]["table"]
    assert [row["c_rate"] for row in table] == [0.5, 2.0]
    assert table[0]["capacity_retention"] == 1.0
    assert 0 < table[1]["capacity_retention"] <= 1.0
    assert set(sim["result"]["curves"]) == {"0.5", "2"}


def test_seed_demo_results_mirror_their_designs(sqlite_server):
    db = sqlite_server.platform.db  # the first start already ran seed_demo_results
    assert runs.seed_demo_results(db) == 0  # idempotent
    with db.session() as s:
        rows = s.execute(
            sa.select(LifetimeResult, Design)
            .join(Design, Design.id == LifetimeResult.design_id)
            .where(LifetimeResult.job_id.is_(None))
        ).all()
        assert len({lr.owner_org_id for lr, _ in rows}) >= 3
        for lr, d in rows:
            assert (lr.owner_org_id, lr.visibility, lr.benchmark_opt_in) == (
                d.owner_org_id,
                d.visibility,
                d.benchmark_opt_in,
            )
            assert d.visibility != "private" or d.benchmark_opt_in
            assert lr.model and lr.result["series"]["capacity_rel"]


@pytest.mark.slow
def test_queue_demo_charge_jobs_fill_the_charge_time_kpi(sqlite_server):
    server = sqlite_server
    ids = runs.queue_demo_charge_jobs(server.platform.db, server.platform.jobs, per_org=1)
    assert len(ids) == 4
    assert runs.queue_demo_charge_jobs(server.platform.db, server.platform.jobs, per_org=1) == []
    end = time.monotonic() + POLL_LIMIT_S
    while time.monotonic() < end:
        with server.platform.db.session() as s:
            jobs = s.execute(sa.select(Job).where(Job.id.in_(ids))).scalars().all()
        if all(j.status not in ("queued", "running") for j in jobs):
            break
        time.sleep(0.2)
    assert [j.status for j in jobs] == ["done"] * 4, [j.error for j in jobs]
    with server.platform.db.session() as s:
        sims = s.execute(sa.select(Simulation).where(Simulation.job_id.in_(ids))).scalars().all()
        assert len(sims) == 4
        for sim in sims:
            design = s.get(Design, sim.design_id)
            assert sim.visibility == design.visibility
            assert sim.owner_org_id == design.owner_org_id
            assert sim.charge_time_min is None or 5 < sim.charge_time_min < 200
