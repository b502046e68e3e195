"""Stored design results record their engine version and price set (issue 15), on SQLite and
PostgreSQL: rows of another model are recomputed at start-up and by ``casip platform
recompute``, rows that cannot be are marked stale, and the benchmark never mixes models."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from casip.cells import reference_design
from casip.cost import cell_cost
from casip.cost.manufacturing import default_process
from casip.design import ENGINE_VERSION, evaluate
from casip.platform import benchmarking as bm
from casip.platform import designs as design_svc
from casip.platform.app import create_app
from casip.platform.models import Design, PrivacyRelease
from casip.platform.settings import Settings

OLD = {"engine_version": "2026.11", "price_set": "library"}


@pytest.fixture(autouse=True, scope="module")
def _default_prices():
    """The platform's price set is per process: leave the default for the next modules."""
    yield
    design_svc.configure(None)


def _ref_id(server, ref: str) -> int:
    with server.platform.db.session() as s:
        return s.execute(sa.select(Design.id).where(Design.reference_id == ref)).scalar_one()


def _mark_old(db, design_id: int, **values) -> None:
    with db.session() as s:
        s.execute(
            sa.update(Design).where(Design.id == design_id).values(**OLD, **values)
        )


def test_every_stored_result_records_engine_price_set_and_both_costs(server):
    h = server.as_role("kestrel")
    rid = _ref_id(server, "assb-sulfide-li")
    d = server.client.get(f"/api/designs/{rid}", headers=h).json()
    assert d["engine_version"] == ENGINE_VERSION
    assert d["price_set"] == "china-2025" == d["metrics"]["price_set"]
    assert d["results_current"] is True and d["stale_reason"] is None
    design = reference_design("assb-sulfide-li")
    m = evaluate(design, prices="china-2025")
    assert d["cost_usd_kWh"] == pytest.approx(m.cost_usd_kWh, rel=1e-9)
    # the cell cost: on the sulfide line the design calls for, not the liquid default
    c = cell_cost(m, process=default_process(design))
    assert d["metrics"]["cell_cost"]["process"] == "sulfide"
    assert d["cell_cost_usd_kWh"] == pytest.approx(float(c.cell_usd_kWh), rel=1e-9)
    assert d["cell_cost_usd_kWh"] > 1.3 * d["cost_usd_kWh"]  # scrap + manufacturing on top
    listed = server.client.get("/api/designs?q=sulfide", headers=h).json()["items"]
    assert all(
        i["engine_version"] == ENGINE_VERSION and i["cell_cost_usd_kWh"] > 0 for i in listed
    )


def test_labels_say_materials_or_cell_cost(server):
    c, _ = server.browser("engineer@kestrel.demo")
    page = c.get("/designs").text
    assert "Materials $/kWh" in page and "Cell $/kWh" in page
    rid = _ref_id(server, "lfp-blade")
    design = c.get(f"/designs/{rid}").text
    assert "Cell cost" in design and "materials + scrap + manufacturing" in design
    assert f"<code>{ENGINE_VERSION}</code>" in design and "<code>china-2025</code>" in design
    assert "Cell cost [$/kWh]" in c.get("/compare").text


def test_an_old_row_is_left_out_of_the_benchmark_until_recomputed(server):
    """Rule 5: the benchmark aggregates only rows of the current engine and price set."""
    h = server.as_role("lantern")
    doc = server.client.get(f"/api/designs/{_ref_id(server, 'nmc811-pouch')}", headers=h).json()
    doc = {**doc["document"], "name": "versioned pouch"}
    new = server.client.post(
        "/api/designs", json={"document": doc, "visibility": "consortium"}, headers=h
    ).json()
    value = new["cost_usd_kWh"]
    db = server.platform.db
    with db.session() as s:
        assert (value, new["owner_org_id"]) in bm.rows_of(s, "cost")
    _mark_old(db, new["id"], cost_usd_kWh=999.0, cell_cost_usd_kWh=None)
    with db.session() as s:
        values = [v for v, _ in bm.rows_of(s, "cost")]
        assert 999.0 not in values and value not in values
        before = s.get(Design, new["id"])
        version, updated = before.version, before.updated_at
    got = server.client.get(f"/api/designs/{new['id']}", headers=h).json()
    assert got["results_current"] is False and got["engine_version"] == "2026.11"
    c, _ = server.browser("engineer@lantern.demo")
    assert "stale" in c.get(f"/designs/{new['id']}").text
    with db.session() as s:
        done = design_svc.recompute(s)
    assert done["recomputed"] == 1 and done["stale"] == []
    assert done["engine_version"] == ENGINE_VERSION and done["price_set"] == "china-2025"
    with db.session() as s:
        row = s.get(Design, new["id"])
        assert (row.engine_version, row.price_set) == (ENGINE_VERSION, "china-2025")
        assert row.cost_usd_kWh == pytest.approx(value, rel=1e-12)
        assert row.cell_cost_usd_kWh == pytest.approx(new["cell_cost_usd_kWh"], rel=1e-12)
        # the design did not change: neither its version (no 409 for an editor) nor its date
        assert (row.version, row.updated_at) == (version, updated)
        assert (value, new["owner_org_id"]) in bm.rows_of(s, "cost")


def test_a_row_that_cannot_be_recomputed_is_marked_stale_and_never_counted(server):
    h = server.as_role("basalt")
    doc = server.client.get(f"/api/designs/{_ref_id(server, 'lfp-blade')}", headers=h).json()
    new = server.client.post(
        "/api/designs",
        json={"document": {**doc["document"], "name": "broken later"}, "visibility": "public"},
        headers=h,
    ).json()
    broken = {**new["document"], "cathode": {**new["document"]["cathode"], "porosity": 1.7}}
    new_db = server.platform.db
    _mark_old(new_db, new["id"], document=broken, cost_usd_kWh=777.0)
    with new_db.session() as s:
        done = design_svc.recompute(s)
    stale = {i["id"]: i["reason"] for i in done["stale"]}
    assert new["id"] in stale and "cathode.porosity" in stale[new["id"]]
    got = server.client.get(f"/api/designs/{new['id']}", headers=h).json()
    assert got["results_current"] is False and got["cost_usd_kWh"] == 777.0
    assert "cathode.porosity" in got["stale_reason"]
    with new_db.session() as s:
        assert 777.0 not in [v for v, _ in bm.rows_of(s, "cost")]
    own = _cost(server.client.get("/api/benchmark?kpi=cost", headers=h).json())["own"]
    item = next(i for i in own if i["id"] == new["id"])
    assert item["counted"] is False and item["current"] is False
    assert item["percentile"] is None and item["engine_version"] == "2026.11"
    # repaired documents are recomputed by the next pass
    _mark_old(new_db, new["id"], document=new["document"])
    with new_db.session() as s:
        assert design_svc.recompute(s)["stale"] == []


def test_releases_record_their_model_and_own_items_are_not_placed_across_models(server):
    h = server.as_role("kestrel")
    entry = _cost(server.client.get("/api/benchmark?kpi=cost", headers=h).json())
    assert entry["model"] == {"engine_version": ENGINE_VERSION, "price_set": "china-2025"}
    assert entry["model_current"] is True
    # a release made by an older engine (as after an upgrade, before the next slot)
    with server.platform.db.session() as s:
        rel = s.execute(
            sa.select(PrivacyRelease).where(PrivacyRelease.kpi == "cost")
        ).scalars().first()
        s.add(
            PrivacyRelease(
                kpi="cost",
                slot="2099-Q1",
                budget_period="2099",
                seq=1,
                released_at=dt.datetime(2026, 1, 1),
                epsilon=rel.epsilon,
                payload={**rel.payload, "model": OLD},
            )
        )
    entry = _cost(server.client.get("/api/benchmark?kpi=cost", headers=h).json())
    assert entry["model"] == OLD and entry["model_current"] is False
    assert entry["own"] and all(
        i["percentile"] is None and i["band"] is None for i in entry["own"]
    )
    with server.platform.db.session() as s:
        s.execute(sa.delete(PrivacyRelease).where(PrivacyRelease.slot == "2099-Q1"))


def _cost(body: dict) -> dict:
    return next(e for e in body["kpis"] if e["kpi"] == "cost")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_start_up_recomputes_old_rows_and_follows_the_price_set_setting(
    backend, tmp_path, database_url_factory
):
    with database_url_factory(backend, tmp_path) as url:
        kw = {"data_dir": tmp_path / "data", "database_url": url, "seed_demo": False}
        with TestClient(create_app(Settings(**kw))) as client:
            db = client.app.state.platform.db
            with db.session() as s:
                ids = list(s.execute(sa.select(Design.id).order_by(Design.id)).scalars())
            _mark_old(db, ids[0], cost_usd_kWh=999.0)
        # restarted: the old row is recomputed before anything is served or released
        with TestClient(create_app(Settings(**kw))) as client:
            with client.app.state.platform.db.session() as s:
                rows = s.execute(sa.select(Design)).scalars().all()
                assert {(r.engine_version, r.price_set) for r in rows} == {
                    (ENGINE_VERSION, "china-2025")
                }
                assert 999.0 not in {r.cost_usd_kWh for r in rows}
        # the operator sets another price set: every row is recomputed at it
        with TestClient(create_app(Settings(**kw, price_set="batpac-2022"))) as client:
            with client.app.state.platform.db.session() as s:
                rows = s.execute(sa.select(Design)).scalars().all()
                assert {r.price_set for r in rows} == {"batpac-2022"}
                lfp = next(r for r in rows if r.reference_id == "lfp-blade")
                expect = evaluate(reference_design("lfp-blade"), prices="batpac-2022")
                assert lfp.cost_usd_kWh == pytest.approx(expect.cost_usd_kWh, rel=1e-9)
        # and back, offline, with the operator's command
        from casip.cli import app as cli

        r = CliRunner().invoke(
            cli,
            ["platform", "recompute", "--database", url, "--prices", "china-2025", "--json"],
        )
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["recomputed"] == len(rows) and out["price_set"] == "china-2025"
        assert out["stale"] == [] and out["current"] == 0
        design_svc.configure(None)


def test_an_unknown_price_set_setting_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"price_set='china-1999'.*china-2025"):
        Settings(data_dir=tmp_path, price_set="china-1999")
