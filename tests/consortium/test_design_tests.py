"""Tests belong to designs (issue 14): attach, list, detach, access, cascade, audit, pages.

A real cycler file of the shared data folder (``cell-discharge-bitrode-1c.csv``, read in place) is
uploaded as several distinct datasets (a trailing line break each: the same bytes would be a
duplicate); designs are copies of the LFP reference cell. Every test runs on SQLite and
PostgreSQL (the ``server`` fixture).
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from casip.platform.models import AuditEvent, DesignTest

FILE = "cell-discharge-bitrode-1c.csv"  # a 1C discharge


@pytest.fixture(scope="module")
def blob(shared_data) -> bytes:
    path = shared_data / "cycler" / FILE
    if not path.is_file():
        pytest.skip(f"{path} missing from the shared data")
    return path.read_bytes()


_n = iter(range(1, 10_000))


def upload(server, headers, blob: bytes, name: str, visibility: str = "private") -> dict:
    """A new dataset (distinct bytes each call) named ``name``."""
    data = blob + b"\r\n" * next(_n)
    r = server.client.post(
        "/api/tests",
        params={"filename": f"{name}.csv", "name": name, "visibility": visibility},
        content=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201, r.text
    return r.json()


def design(server, headers, name: str, visibility: str = "private") -> dict:
    c = server.client
    refs = c.get("/api/designs?limit=200", headers=headers).json()["items"]
    lfp = next(d["id"] for d in refs if d.get("reference_id") == "lfp-blade")
    doc = c.get(f"/api/designs/{lfp}/export", headers=headers).json()
    r = c.post(
        "/api/designs",
        json={"document": {**doc, "name": name}, "visibility": visibility},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def mark(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}"


def test_attach_list_detach(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d = design(server, eng, mark("dt-design"))
    t = upload(server, eng, blob, mark("dt-test"))
    r = c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"], "note": " cell B, 1C "},
               headers=eng)
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["test_id"] == t["id"] and e["name"] == t["name"] and e["format"] == t["format"]
    assert e["cycles"] == t["cycles"] > 0
    assert e["note"] == "cell B, 1C"  # stripped
    assert e["flags"] == t["flags"] and e["flagged"] == t["flagged"]
    assert e["simulated"] is None  # the replay's place, empty until one is run
    assert e["attached_by"]["name"]
    listed = c.get(f"/api/designs/{d['id']}/tests", headers=eng).json()
    assert [x["test_id"] for x in listed["tests"]] == [t["id"]]
    assert listed["simulated_available"] is True  # replays exist (test_replays.py)
    # the link to the curves answers with the measured voltage-capacity curves
    curves = c.get(e["links"]["curves"], headers=eng)
    assert curves.status_code == 200, curves.text
    assert curves.json()["curves"] and curves.json()["curves"][0]["voltage_volt"]
    # the test's detail lists the designs it is attached to
    detail = c.get(f"/api/tests/{t['id']}", headers=eng).json()
    assert [(x["design_id"], x["note"]) for x in detail["designs"]] == [(d["id"], "cell B, 1C")]
    # twice: 409 naming the field
    again = c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"]}, headers=eng)
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "test_id"
    r = c.delete(f"/api/designs/{d['id']}/tests/{t['id']}", headers=eng)
    assert r.status_code == 200, r.text
    assert c.get(f"/api/designs/{d['id']}/tests", headers=eng).json()["tests"] == []
    assert c.get(f"/api/tests/{t['id']}", headers=eng).json()["designs"] == []
    r = c.delete(f"/api/designs/{d['id']}/tests/{t['id']}", headers=eng)
    assert r.status_code == 404 and "not attached" in r.json()["detail"]


def test_bad_input_names_the_field(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d = design(server, eng, mark("dt-bad"))
    t = upload(server, eng, blob, mark("dt-bad-test"))
    url = f"/api/designs/{d['id']}/tests"
    r = c.post(url, json={}, headers=eng)
    assert r.status_code == 422 and "test_id" in r.text
    r = c.post(url, json={"test_id": t["id"], "note": "x" * 501}, headers=eng)
    assert r.status_code == 422 and "note" in r.text
    r = c.post(url, json={"test_id": t["id"], "note": "two\nlines"}, headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note", r.text
    r = c.post(url, json={"test_id": 987_654_321}, headers=eng)
    assert r.status_code == 404 and "no test with id 987654321" in r.json()["detail"]


def test_attaching_needs_write_on_the_design_and_read_on_the_test(server, blob):
    c = server.client
    k_eng, k_view = server.as_role("kestrel"), server.as_role("kestrel", "viewer")
    l_eng = server.as_role("lantern")
    shared = design(server, k_eng, mark("dt-shared"), "consortium")
    private = design(server, k_eng, mark("dt-private"))
    k_test = upload(server, k_eng, blob, mark("dt-k-test"), "consortium")
    l_private = upload(server, l_eng, blob, mark("dt-l-private"))
    l_shared = upload(server, l_eng, blob, mark("dt-l-shared"), "consortium")
    body = {"test_id": k_test["id"]}
    # another organisation may read the shared design but not change it
    r = c.post(f"/api/designs/{shared['id']}/tests", json=body, headers=l_eng)
    assert r.status_code == 403, r.text
    # nor see the private one: answered as for a missing design, before the body is read
    r = c.post(f"/api/designs/{private['id']}/tests", json=body, headers=l_eng)
    missing = c.post("/api/designs/987654321/tests", json=body, headers=l_eng)
    assert r.status_code == missing.status_code == 404
    assert r.text == missing.text.replace("987654321", str(private["id"]))
    r = c.post(f"/api/designs/{private['id']}/tests", headers=l_eng)  # no body at all
    assert r.status_code == 404, r.text
    # a viewer of the owner organisation may not attach
    r = c.post(f"/api/designs/{shared['id']}/tests", json=body, headers=k_view)
    assert r.status_code == 403, r.text
    # another organisation's private test cannot be attached, and is not revealed
    r = c.post(f"/api/designs/{shared['id']}/tests", json={"test_id": l_private["id"]},
               headers=k_eng)
    assert r.status_code == 404 and f"no test with id {l_private['id']}" in r.text
    # ... its shared one can
    r = c.post(f"/api/designs/{shared['id']}/tests", json={"test_id": l_shared["id"]},
               headers=k_eng)
    assert r.status_code == 201, r.text
    # only the design's organisation may detach
    r = c.delete(f"/api/designs/{shared['id']}/tests/{l_shared['id']}", headers=l_eng)
    assert r.status_code == 403, r.text
    assert [x["test_id"] for x in c.get(f"/api/designs/{shared['id']}/tests",
                                        headers=k_eng).json()["tests"]] == [l_shared["id"]]


def test_an_attachment_is_shown_only_to_readers_of_both(server, blob):
    c = server.client
    k_eng, l_eng = server.as_role("kestrel"), server.as_role("lantern")
    sponsor = server.as_role("programme-office", "admin")
    public = design(server, k_eng, mark("dt-public"), "public")
    secret_design = design(server, k_eng, mark("SECRET-design"))
    secret_test = upload(server, k_eng, blob, mark("SECRET-test"))
    shared_test = upload(server, k_eng, blob, mark("dt-shared-test"), "consortium")
    l_test = upload(server, l_eng, blob, mark("dt-lantern-shared"), "consortium")
    for d, t in ((public, secret_test), (public, shared_test), (secret_design, l_test)):
        r = c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"]}, headers=k_eng)
        assert r.status_code == 201, r.text
    own = c.get(f"/api/designs/{public['id']}/tests", headers=k_eng).json()["tests"]
    assert {x["test_id"] for x in own} == {secret_test["id"], shared_test["id"]}
    # a member reads the public design: the consortium test, never the private one
    r = c.get(f"/api/designs/{public['id']}/tests", headers=l_eng)
    assert [x["test_id"] for x in r.json()["tests"]] == [shared_test["id"]]
    assert secret_test["name"] not in r.text
    # the other organisation is not told who attached it
    assert r.json()["tests"][0]["attached_by"] is None
    # a sponsor reads public items only: the design, none of its (consortium/private) tests
    r = c.get(f"/api/designs/{public['id']}/tests", headers=sponsor)
    assert r.status_code == 200 and r.json()["tests"] == []
    # Lantern's shared test does not reveal Kestrel's private design it is attached to
    r = c.get(f"/api/tests/{l_test['id']}", headers=l_eng)
    assert r.status_code == 200 and r.json()["designs"] == []
    assert secret_design["name"] not in r.text
    assert [x["design_id"] for x in c.get(f"/api/tests/{l_test['id']}", headers=k_eng)
            .json()["designs"]] == [secret_design["id"]]
    # the pages: the same rules
    lc, _ = server.browser("engineer@lantern.demo")
    page = lc.get(f"/designs/{public['id']}")
    assert page.status_code == 200
    assert shared_test["name"] in page.text and secret_test["name"] not in page.text
    page = lc.get(f"/tests/{l_test['id']}")
    assert page.status_code == 200 and secret_design["name"] not in page.text
    # Lantern unshares its test: the attachment disappears for Kestrel too
    r = c.patch(f"/api/tests/{l_test['id']}/visibility", json={"visibility": "private"},
                headers=l_eng)
    assert r.status_code == 200, r.text
    r = c.get(f"/api/designs/{secret_design['id']}/tests", headers=k_eng)
    assert r.json()["tests"] == [] and l_test["name"] not in r.text
    r = c.delete(f"/api/designs/{secret_design['id']}/tests/{l_test['id']}", headers=k_eng)
    assert r.status_code == 404, r.text


def _links(server, **where) -> int:
    with server.platform.db.session() as s:
        stmt = sa.select(sa.func.count()).select_from(DesignTest)
        for k, v in where.items():
            stmt = stmt.where(getattr(DesignTest, k) == v)
        return s.execute(stmt).scalar_one()


def test_deleting_either_side_removes_the_attachment(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d1, d2 = design(server, eng, mark("dt-del-1")), design(server, eng, mark("dt-del-2"))
    t1, t2 = upload(server, eng, blob, mark("dt-del-t1")), upload(server, eng, blob,
                                                                  mark("dt-del-t2"))
    for d in (d1, d2):
        for t in (t1, t2):
            r = c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"]}, headers=eng)
            assert r.status_code == 201, r.text
    assert _links(server, test_id=t1["id"]) == 2
    r = c.delete(f"/api/tests/{t1['id']}", headers=eng)
    assert r.status_code == 200, r.text
    assert _links(server, test_id=t1["id"]) == 0
    assert [x["test_id"] for x in c.get(f"/api/designs/{d1['id']}/tests",
                                        headers=eng).json()["tests"]] == [t2["id"]]
    r = c.delete(f"/api/designs/{d1['id']}", headers=eng)
    assert r.status_code == 200, r.text
    assert _links(server, design_id=d1["id"]) == 0
    assert [x["design_id"] for x in c.get(f"/api/tests/{t2['id']}",
                                          headers=eng).json()["designs"]] == [d2["id"]]


def test_attach_and_detach_are_audited(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d = design(server, eng, mark("dt-audit"))
    t = upload(server, eng, blob, mark("dt-audit-test"))
    assert c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"], "note": "1C"},
                  headers=eng).status_code == 201
    assert c.delete(f"/api/designs/{d['id']}/tests/{t['id']}", headers=eng).status_code == 200
    with server.platform.db.session() as s:
        events = s.execute(
            sa.select(AuditEvent.action, AuditEvent.detail, AuditEvent.item_owner_org_id)
            .where(AuditEvent.item_kind == "design", AuditEvent.item_id == d["id"])
            .order_by(AuditEvent.id)
        ).all()
    actions = [e.action for e in events]
    assert actions[-2:] == ["attach_test", "detach_test"], actions
    assert f'"test_id":{t["id"]}' in events[-2].detail.replace(" ", "")
    assert events[-2].item_owner_org_id == d["owner_org_id"]


def test_design_page_offers_readable_tests_and_lists_attached_ones(server, blob):
    c, eng = server.client, server.as_role("kestrel")
    d = design(server, eng, mark("dt-page"))
    t = upload(server, eng, blob, mark("dt-page-test"))
    other = upload(server, eng, blob, mark("dt-page-other"))
    l_private = upload(server, server.as_role("lantern"), blob, mark("dt-page-lantern"))
    kc, _ = server.browser("engineer@kestrel.demo")
    html = kc.get(f"/designs/{d['id']}").text
    assert 'id="measured-tests"' in html and 'id="no-measured-tests"' in html
    assert f'<option value="{t["id"]}">' in html and f'<option value="{other["id"]}">' in html
    assert l_private["name"] not in html  # only tests the user may read are offered
    assert c.post(f"/api/designs/{d['id']}/tests", json={"test_id": t["id"], "note": "cell A"},
                  headers=eng).status_code == 201
    html = kc.get(f"/designs/{d['id']}").text
    assert f'id="measured-plot-{t["id"]}"' in html
    assert f'id="simulated-slot-{t["id"]}" data-simulated="empty"' in html
    assert f'<option value="{t["id"]}">' not in html  # attached: no longer offered
    assert "cell A" in html and 'class="link detach-test"' in html
    # a viewer sees the curves but no attach form or detach button
    vc, _ = server.browser("viewer@kestrel.demo")
    html = vc.get(f"/designs/{d['id']}").text
    assert f'id="measured-plot-{t["id"]}"' in html
    assert 'id="attach-test"' not in html and "detach-test" not in html
    # the test page lists the design
    html = kc.get(f"/tests/{t['id']}").text
    assert 'id="test-designs"' in html and f'href="/designs/{d["id"]}"' in html
    html = kc.get(f"/tests/{other['id']}").text
    assert 'id="no-test-designs"' in html
