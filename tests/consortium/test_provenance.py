"""Provenance is per organisation; a derived result is never more visible than its source.

Issue 11, "Hardening": (1) uploading a file that another organisation had uploaded showed that
organisation's ``ingested_at`` and answered faster (the stored copy was reused); (2) a member
ran a lifetime job on a rival's consortium design, made the result public, and a sponsor read
it, with the design's name, while the design stayed hidden from sponsors.

On SQLite and PostgreSQL (the ``server`` fixture), with real uploads and real jobs.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from casip.data.store import Store
from casip.platform import access
from casip.platform.models import Design, LifetimeResult, TestDataset

BITRODE = "cell-discharge-bitrode-1c.csv"  # 0.15 MB
POLL_LIMIT_S = 180.0


# ------------------------------------------------------------------------------------ helpers


def upload(server, headers, path: Path, **params):
    return server.client.post(
        "/api/tests",
        params={"filename": path.name, **params},
        content=path.read_bytes(),
        headers={**headers, "Content-Type": "application/octet-stream"},
    )


def ingested_at(body: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(body["details"]["provenance"]["ingested_at"])


def store_id(server, dataset_id: int) -> str:
    with server.platform.db.session() as s:
        return s.get(TestDataset, dataset_id).store_test_id


def reference_document(server, headers, reference_id: str = "lfp-blade") -> dict:
    r = server.client.get("/api/designs?limit=200", headers=headers)
    assert r.status_code == 200, r.text
    ids = [d["id"] for d in r.json()["items"] if d.get("reference_id") == reference_id]
    assert ids, f"no reference design {reference_id}"
    r = server.client.get(f"/api/designs/{ids[0]}/export", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def create_design(server, headers, name: str, visibility: str, **kw) -> int:
    doc = {**reference_document(server, headers), "name": name}
    body = {"document": doc, "visibility": visibility, **kw}
    r = server.client.post("/api/designs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def set_visibility(server, headers, kind: str, item_id: int, visibility: str, **kw):
    path = {"design": "designs", "lifetime": "lifetimes", "simulation": "simulations"}[kind]
    return server.client.patch(
        f"/api/{path}/{item_id}/visibility", json={"visibility": visibility, **kw}, headers=headers
    )


def run_lifetime(server, headers, design_id: int) -> int:
    r = server.client.post(
        f"/api/designs/{design_id}/lifetimes", json={"duty": "ev_daily"}, headers=headers
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]["id"]
    end = time.monotonic() + POLL_LIMIT_S
    while time.monotonic() < end:
        job = server.client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] not in ("queued", "running"):
            assert job["status"] == "done", job
            return job["result_id"]
        time.sleep(0.1)
    pytest.fail(f"job {job_id} did not finish within {POLL_LIMIT_S} s")


def counted(server, model, item_id: int) -> bool:
    """Whether the benchmark's rule (access.aggregate_clause) admits the item now."""
    with server.platform.db.session() as s:
        return (
            s.execute(
                sa.select(model.id).where(model.id == item_id, access.aggregate_clause(model))
            ).first()
            is not None
        )


# ------------------------------------------------------------------------- 1. uploads


def test_a_cross_organisation_duplicate_is_ingested_as_a_first_upload(server, shared_data):
    """The same file uploaded by another organisation: its own parse, its own stored copy,
    its own ingestion time; nothing of the first organisation's upload shows."""
    path = shared_data / "cycler" / BITRODE
    a, b = server.as_role("kestrel"), server.as_role("lantern")
    first = upload(server, a, path)
    assert first.status_code == 201, first.text
    time.sleep(1.1)  # ingestion times have one-second resolution: make them differ
    before_b = dt.datetime.now(dt.UTC).replace(microsecond=0)
    theirs = upload(server, b, path)
    assert theirs.status_code == 201, theirs.text
    fa, fb = first.json(), theirs.json()
    assert fb["duplicate"] is False

    # the provenance is the uploader's own: read now, not copied from the first upload
    assert ingested_at(fb) >= before_b > ingested_at(fa)
    # the body is the one a first upload gets: only ids, owner and times differ
    own = {"id", "owner_org_id", "created_at", "duplicate"}
    strip = lambda d: {k: v for k, v in copy.deepcopy(d).items() if k not in own}  # noqa: E731
    pa, pb = strip(fa), strip(fb)
    pa["details"]["provenance"].pop("ingested_at")
    pb["details"]["provenance"].pop("ingested_at")
    assert pa == pb

    # the same work was done: the file went through the full ingest into a copy of its own,
    # whose stored provenance was written by this upload
    tid_a, tid_b = store_id(server, fa["id"]), store_id(server, fb["id"])
    assert tid_a != tid_b
    store = Store(server.settings.store_dir)
    assert tid_a in store and tid_b in store
    stored_b = store.info(tid_b)
    assert stored_b["test_id"] == tid_b
    assert dt.datetime.fromisoformat(stored_b["provenance"]["ingested_at"]) == ingested_at(fb)
    assert store.table(tid_a, "cycles").equals(store.table(tid_b, "cycles"))

    # within one organisation a duplicate is still recognised (it tells only about its own)
    again = upload(server, b, path)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == fb["id"]
    assert ingested_at(again.json()) == ingested_at(fb)

    # deleting one organisation's copy changes nothing for the other
    assert server.client.delete(f"/api/tests/{fa['id']}", headers=a).status_code == 200
    assert tid_a not in store and tid_b in store
    r = server.client.get(f"/api/tests/{fb['id']}/cycles", headers=b)
    assert r.status_code == 200, r.text
    assert server.client.delete(f"/api/tests/{fb['id']}", headers=b).status_code == 200
    assert tid_b not in store
    staging = server.settings.store_dir / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_a_third_organisation_gets_the_same_answer_as_the_second(server, shared_data):
    """Whether one or two organisations uploaded the file before, the next one's answer is
    the same (status, fields, provenance source)."""
    path = shared_data / "cycler" / BITRODE
    orgs = ("basalt", "ionics-institute", "kestrel")
    bodies = []
    for org in orgs:
        r = upload(server, server.as_role(org), path, name=f"prov-{org}")
        assert r.status_code == 201, r.text
        bodies.append(r.json())
    tids = {store_id(server, b["id"]) for b in bodies}
    assert len(tids) == len(orgs)
    for b in bodies:
        assert b["duplicate"] is False
        assert b["details"]["provenance"]["source_name"] == BITRODE
    for org, b in zip(orgs, bodies, strict=True):
        r = server.client.delete(f"/api/tests/{b['id']}", headers=server.as_role(org))
        assert r.status_code == 200


# ---------------------------------------------------------------- 2. derived results


@pytest.fixture(scope="module")
def rival_result(server) -> dict:
    """Kestrel's consortium design, and Lantern's lifetime result of it (private)."""
    owner, rival = server.as_role("kestrel"), server.as_role("lantern")
    marker = f"PROV-design-{uuid.uuid4().hex[:8]}"
    design = create_design(server, owner, marker, "consortium")
    result = run_lifetime(server, rival, design)
    return {"design": design, "result": result, "marker": marker}


def test_a_result_cannot_be_shared_wider_than_its_design(server, rival_result):
    rival = server.as_role("lantern")
    lid = rival_result["result"]
    r = set_visibility(server, rival, "lifetime", lid, "public")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    err = r.json()["errors"][0]
    assert err["field"] == "visibility" and err["value"] == "public"
    assert "consortium" in err["expected"]
    r = server.client.get(f"/api/lifetimes/{lid}", headers=rival)
    assert r.json()["visibility"] == "private"  # unchanged
    r = set_visibility(server, rival, "lifetime", lid, "consortium")
    assert r.status_code == 200 and r.json()["visibility"] == "consortium"
    # the owner of a design may share its own results as widely as the design, no wider
    owner = server.as_role("kestrel")
    own_private = create_design(server, owner, f"PROV-own-{uuid.uuid4().hex[:8]}", "private")
    own_result = run_lifetime(server, owner, own_private)
    r = set_visibility(server, owner, "lifetime", own_result, "consortium")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "visibility"
    assert "private" in r.json()["errors"][0]["expected"]


def test_a_sponsor_never_reads_a_result_of_a_design_hidden_from_it(server, rival_result):
    """Even a result stored as public (e.g. before this rule) stays hidden while its design
    is: reads and lists check the design at every request."""
    lid, design, marker = rival_result["result"], rival_result["design"], rival_result["marker"]
    with server.platform.db.session() as s:
        s.get(LifetimeResult, lid).visibility = "public"
    sponsor = server.as_role("programme-office", "viewer")
    member = server.as_role("ionics-institute")
    c = server.client
    assert c.get(f"/api/designs/{design}", headers=sponsor).status_code == 404
    missing = c.get("/api/lifetimes/987654321", headers=sponsor)
    r = c.get(f"/api/lifetimes/{lid}", headers=sponsor)
    assert r.status_code == 404
    assert r.text == missing.text.replace("987654321", str(lid))  # no existence oracle
    for url in ("/api/lifetimes?limit=200", f"/api/lifetimes?design_id={design}"):
        r = c.get(url, headers=sponsor)
        assert (
            r.status_code == 200
            and marker not in r.text
            and lid not in [i["id"] for i in r.json()["items"]]
        )
    # a member reads it, as it reads the design
    assert c.get(f"/api/lifetimes/{lid}", headers=member).status_code == 200
    with server.platform.db.session() as s:
        s.get(LifetimeResult, lid).visibility = "consortium"


def test_unsharing_the_design_hides_its_results_from_everyone_else(server, rival_result):
    """The owner of the design narrows it: the rival's result disappears, for the rival too,
    from reads, lists and writes; sharing the design again brings it back."""
    lid, design, marker = rival_result["result"], rival_result["design"], rival_result["marker"]
    owner, rival = server.as_role("kestrel"), server.as_role("lantern")
    member = server.as_role("ionics-institute")
    c = server.client
    assert set_visibility(server, rival, "lifetime", lid, "consortium").status_code == 200
    assert c.get(f"/api/lifetimes/{lid}", headers=member).status_code == 200
    assert set_visibility(server, owner, "design", design, "private").status_code == 200
    try:
        for h in (rival, member):
            assert c.get(f"/api/lifetimes/{lid}", headers=h).status_code == 404
            r = c.get("/api/lifetimes?limit=200", headers=h)
            assert marker not in r.text and lid not in [i["id"] for i in r.json()["items"]]
            assert set_visibility(server, h, "lifetime", lid, "public").status_code == 404
        # the design's owner may still read a result of its own design shared with it
        assert c.get(f"/api/lifetimes/{lid}", headers=owner).status_code == 200
    finally:
        assert set_visibility(server, owner, "design", design, "consortium").status_code == 200
    assert c.get(f"/api/lifetimes/{lid}", headers=rival).status_code == 200
    assert c.get(f"/api/lifetimes/{lid}", headers=member).status_code == 200


def test_the_benchmark_counts_a_result_only_while_its_design_could_be_counted(server, rival_result):
    """access.aggregate_clause (the benchmark's and the roadmap's rule 1) on derived items:
    a result of another organisation's design counts while that design is shared; a result
    of one's own design counts while the design is shared or opted in."""
    lid, design = rival_result["result"], rival_result["design"]
    owner, rival = server.as_role("kestrel"), server.as_role("lantern")
    assert set_visibility(server, rival, "lifetime", lid, "consortium").status_code == 200
    assert counted(server, LifetimeResult, lid)
    try:
        # private and opted in: the design counts, the rival's result of it no longer does
        r = set_visibility(server, owner, "design", design, "private", benchmark_opt_in=True)
        assert r.status_code == 200
        assert counted(server, Design, design)
        assert not counted(server, LifetimeResult, lid)
        r = set_visibility(server, owner, "design", design, "private", benchmark_opt_in=False)
        assert not counted(server, LifetimeResult, lid)
    finally:
        set_visibility(server, owner, "design", design, "consortium", benchmark_opt_in=False)
    assert counted(server, LifetimeResult, lid)

    # one's own private design: its opted-in result counts only if the design is opted in
    own = create_design(server, owner, f"PROV-optin-{uuid.uuid4().hex[:8]}", "private")
    res = run_lifetime(server, owner, own)
    r = set_visibility(server, owner, "lifetime", res, "private", benchmark_opt_in=True)
    assert r.status_code == 200
    assert not counted(server, LifetimeResult, res)
    set_visibility(server, owner, "design", own, "private", benchmark_opt_in=True)
    assert counted(server, LifetimeResult, res)


def test_a_results_json_names_no_hidden_design(server, rival_result):
    """The design's name travels in the result's name: a result stored public on a design
    hidden from sponsors shows in no list or aggregate a sponsor receives."""
    lid, marker = rival_result["result"], rival_result["marker"]
    rival = server.as_role("lantern")
    assert marker in server.client.get(f"/api/lifetimes/{lid}", headers=rival).json()["name"]
    with server.platform.db.session() as s:
        s.get(LifetimeResult, lid).visibility = "public"
    try:
        sponsor = server.as_role("programme-office", "admin")
        for url in (
            "/api/lifetimes?limit=200",
            f"/api/lifetimes?design_id={rival_result['design']}",
            "/api/simulations?limit=200",
            "/api/tests?limit=200",
            "/api/benchmark",
            "/api/roadmap",
        ):
            r = server.client.get(url, headers=sponsor)
            assert r.status_code in (200, 404) and marker not in r.text, url
    finally:
        with server.platform.db.session() as s:
            s.get(LifetimeResult, lid).visibility = "consortium"
