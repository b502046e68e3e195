"""GET /api/materials: the materials library, read-only, for any logged-in account."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from casip.materials import load_library


@pytest.mark.parametrize(
    ("slug", "role"), [("kestrel", "engineer"), ("programme-office", "viewer")]
)
def test_any_logged_in_account_reads_the_library_by_category(sqlite_server, slug, role):
    h = sqlite_server.as_role(slug, role)
    r = sqlite_server.client.get("/api/materials", params={"category": "cathode_active"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    lib = load_library()
    expected = {m.id for m in lib.of_category("cathode_active")}
    assert {m["id"] for m in body["items"]} == expected
    assert body["total"] == len(expected)
    nmc = next(m for m in body["items"] if m["id"] == "NMC811")
    assert nmc["category"] == "cathode_active"
    assert nmc["specific_capacity_mAh_g"] == lib["NMC811"].specific_capacity_mAh_g.value
    everything = sqlite_server.client.get("/api/materials", headers=h).json()
    assert everything["total"] == len(lib)
    assert "solid_electrolyte" in everything["categories"]


def test_an_unknown_category_is_a_problem_naming_the_choices(sqlite_server):
    h = sqlite_server.as_role("kestrel")
    r = sqlite_server.client.get("/api/materials", params={"category": "cathode"}, headers=h)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    err = r.json()["errors"][0]
    assert err["field"] == "category" and err["value"] == "cathode"
    assert "cathode_active" in err["expected"]


def test_the_library_is_not_readable_logged_out_nor_writable(sqlite_server):
    anon = TestClient(sqlite_server.client.app)
    assert anon.get("/api/materials").status_code == 401
    h = sqlite_server.as_role("kestrel", "admin")
    assert sqlite_server.client.post("/api/materials", json={}, headers=h).status_code == 405
