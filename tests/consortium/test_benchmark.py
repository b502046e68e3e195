"""The benchmark and the roadmap against an adversarial member, on SQLite and PostgreSQL.

The attacks of issue 11 are replayed through the documented API of a real app on a real
database: an organisation places its own designs below and above everyone else's, toggles
their benchmark opt-in, deletes them and reads the benchmark and the roadmap after every step.
What the guarantee promises, and what is asserted:

* between two scheduled releases, no write and no number of reads changes a single published
  number, nor makes a release (the attacker learns nothing from its own moves, and cannot buy
  fresh noise to average);
* a KPI is released at most once per slot, however many processes and calls try;
* every release is charged to the ledger, the ledger never exceeds the operator's budget, and
  when it is spent the last release is served with its date;
* members and sponsors are served the same releases; only a member's own items are added.

That each release is differentially private is checked in ``test_privacy.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from casip.platform import benchmarking as bm
from casip.platform import releases
from casip.platform.app import create_app
from casip.platform.models import AuditEvent, Design, Organisation, PrivacyRelease
from casip.platform.seed import DEMO_ORGS, DEMO_PASSWORD, demo_email
from casip.platform.settings import Settings

SPONSOR = ("programme-office", "viewer")


def _get(server, path, who=("kestrel", "engineer")):
    r = server.client.get(path, headers=server.as_role(*who))
    assert r.status_code == 200, r.text
    return r.json()


def _kpi(body, name):
    return next(e for e in body["kpis"] if e["kpi"] == name)


def _published(body: dict) -> dict:
    """Everything about the consortium in a benchmark answer (own items taken out)."""
    return {e["kpi"]: {k: v for k, v in e.items() if k != "own"} for e in body["kpis"]}


def _n_releases(server) -> int:
    with server.platform.db.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(PrivacyRelease)).scalar()


def _keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj).union(*(_keys(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_keys(v) for v in obj))
    return set()


def test_every_kpi_is_released_at_start_with_its_date_epsilon_and_the_budget(server):
    body = _get(server, "/api/benchmark")
    assert [e["kpi"] for e in body["kpis"]] == list(bm.KPIS)
    settings = server.settings
    p = body["privacy"]
    assert p["unit"] == "organisation"
    assert p["epsilon_per_release"] == settings.privacy_epsilon
    assert p["budget_epsilon"] == settings.privacy_budget
    assert p["release_every"] == settings.privacy_release_every
    # the pack KPIs spend half the per-release epsilon each (6 x 2 + 3 x 1 = 15 at the default)
    shares = {k: bm.KPIS[k].epsilon_share for k in bm.KPIS}
    assert shares["pack_specific_energy"] == 0.5 and shares["specific_energy"] == 1.0
    assert p["spent_epsilon"] == pytest.approx(settings.privacy_epsilon * sum(shares.values()))
    assert p["spent_epsilon"] + p["remaining_epsilon"] == pytest.approx(settings.privacy_budget)
    for e in body["kpis"]:
        assert e["released_at"]
        assert e["epsilon"] == pytest.approx(settings.privacy_epsilon * shares[e["kpi"]])
        assert "n_items" not in e  # an item count has no bounded sensitivity: never released
    # the demo has opted-in and shared designs of four organisations: the median is shown
    se = _kpi(body, "specific_energy")
    if se["shown"]:
        assert se["quantiles"]["p50"] is not None
        assert 0 <= se["quantiles"]["p50"] <= 600  # the public clipping range


def test_placement_opt_in_toggling_deletion_and_repeated_reads_change_nothing(server):
    """The attack of issue 11: the attacker's moves and reads between releases."""
    kestrel = server.as_role("kestrel")
    before = server.client.get("/api/benchmark", headers=server.as_role("lantern")).json()
    road_before = _get(server, "/api/roadmap")
    n_before = _n_releases(server)

    doc = server.client.get("/api/designs/2", headers=kestrel).json()["document"]
    placed = []
    for i, value in enumerate((1.0, 5000.0, 150.0, 450.0)):  # below and above everyone
        r = server.client.post(
            "/api/designs",
            json={
                "document": {**doc, "name": f"probe {i}"},
                "visibility": "private",
                "benchmark_opt_in": True,
            },
            headers=kestrel,
        )
        assert r.status_code == 201, r.text
        placed.append(r.json()["id"])
        with server.platform.db.session() as s:
            s.get(Design, placed[-1]).specific_energy_Wh_kg = value
        after = server.client.get("/api/benchmark/specific_energy", headers=kestrel).json()
        assert {k: v for k, v in after.items() if k not in ("own", "k", "privacy")} == {
            k: v for k, v in _kpi(before, "specific_energy").items() if k != "own"
        }
        mine = {o["id"]: o for o in after["own"]}
        assert mine[placed[-1]]["counted"] is True  # its own item, placed on the release
    for did in placed:  # toggle the opt-in off and on, share, then delete
        for body in (
            {"visibility": "private", "benchmark_opt_in": False},
            {"visibility": "consortium", "benchmark_opt_in": True},
        ):
            r = server.client.patch(f"/api/designs/{did}/visibility", json=body, headers=kestrel)
            assert r.status_code == 200, r.text
            now = server.client.get("/api/benchmark", headers=kestrel).json()
            assert _published(now) == _published(before)
    for did in placed:
        assert server.client.delete(f"/api/designs/{did}", headers=kestrel).status_code == 200
    for _ in range(20):  # repeated queries: the same bytes every time
        assert _published(server.client.get("/api/benchmark", headers=kestrel).json()) == (
            _published(before)
        )
    assert _get(server, "/api/roadmap") == road_before
    assert _n_releases(server) == n_before  # no write, no read made a release


def test_a_kpi_is_released_once_per_slot_whatever_the_number_of_callers(server):
    """Eight concurrent schedulers (as several server processes would be) in a new slot."""
    db, settings = server.platform.db, server.settings
    later = dt.datetime(2031, 2, 1)  # another slot, another budget period
    released: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: released.append(bm.release_due(db, settings, later)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [k for r in released for k in r]
    assert sorted(made) == sorted(bm.KPIS)  # each once, by whichever caller got there first
    assert bm.release_due(db, settings, later) == []
    with db.session() as s:
        rows = s.execute(
            sa.select(PrivacyRelease.kpi, PrivacyRelease.seq).where(
                PrivacyRelease.budget_period == "2031"
            )
        ).all()
    assert sorted(k for k, _ in rows) == sorted(bm.KPIS)
    assert sorted(q for _, q in rows) == list(range(1, len(bm.KPIS) + 1))
    with db.session() as s:  # each ledger entry is also in the hash-chained audit log
        details = s.execute(
            sa.select(AuditEvent.detail).where(AuditEvent.action == "privacy_release")
        ).scalars()
        logged = [json.loads(d) for d in details]
    assert sorted(d["kpi"] for d in logged if d["budget_period"] == "2031") == sorted(bm.KPIS)


def test_budget_is_never_exceeded_and_the_last_release_is_served_with_its_date(
    tmp_path, database_url_factory
):
    """A budget of two releases per year: the rest wait, the last releases stay served."""
    with database_url_factory("sqlite", tmp_path) as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            demo_jobs=False,
            privacy_epsilon=1.0,
            privacy_budget=9.5,
            privacy_release_every="month",
        )
        with TestClient(create_app(settings)) as client:
            db = client.app.state.platform.db
            c = TestClient(client.app)
            r = c.post(
                "/api/login", json={"email": demo_email(*SPONSOR), "password": DEMO_PASSWORD}
            )
            assert r.status_code == 200
            first = c.get("/api/benchmark").json()
            # six KPIs at epsilon and three pack KPIs at epsilon/2, at start
            assert first["privacy"]["spent_epsilon"] == pytest.approx(7.5)
            # a later year: its first month releases every KPI, the next month two more fit
            t1, t2 = dt.datetime(2032, 3, 5), dt.datetime(2032, 4, 2)
            assert bm.release_due(db, settings, t1) == list(bm.KPIS)
            assert bm.release_due(db, settings, t2) == list(bm.KPIS)[:2]
            with db.session() as s:
                spent, n = releases.spent(s, "2032")
            assert spent == pytest.approx(9.5) and n == len(bm.KPIS) + 2
            assert bm.release_due(db, settings, dt.datetime(2032, 6, 1)) == []
            body = c.get("/api/benchmark").json()
            by = {e["kpi"]: e for e in body["kpis"]}
            # the KPIs that did not fit are served from their last release, with its date
            for name in list(bm.KPIS)[2:]:
                assert by[name]["released_at"].startswith("2032-03-05")
            for name in list(bm.KPIS)[:2]:
                assert by[name]["released_at"].startswith("2032-04-02")
            with db.session() as s:
                status = releases.status(s, releases.Policy.of(settings), t2)
            assert status["remaining_epsilon"] == pytest.approx(0.0)
            assert status["budget_renews_at"] == "2033-01-01T00:00:00Z"


def test_a_platform_with_fewer_than_k_organisations_spends_no_budget(
    tmp_path, database_url_factory
):
    with database_url_factory("sqlite", tmp_path) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, seed_demo=False)
        with TestClient(create_app(settings)) as client:
            db = client.app.state.platform.db
            assert bm.release_due(db, settings, dt.datetime(2032, 1, 5)) == []
            with db.session() as s:
                assert releases.spent(s, "2032") == (0.0, 0)
                assert releases.latest_id(s) == 0


def test_sponsor_gets_the_same_releases_and_no_own_items(server):
    member = _get(server, "/api/benchmark")
    body = _get(server, "/api/benchmark", SPONSOR)
    assert _published(body) == _published(member)
    assert all(e["own"] == [] for e in body["kpis"])
    assert _get(server, "/api/roadmap", SPONSOR) == _get(server, "/api/roadmap")


def test_own_items_are_the_callers_placed_on_the_released_quantiles(server):
    body = _get(server, "/api/benchmark")
    for entry in body["kpis"]:
        q = entry["quantiles"]
        for o in entry["own"]:
            if not entry["shown"]:
                assert o["percentile"] is None and o["band"] is None
                continue
            released = [v for v in q.values() if v is not None]
            if o["value"] < min(released):
                assert o["band"].startswith("below")
            elif o["value"] > max(released):
                assert o["band"].startswith("above")
    with server.platform.db.session() as s:
        kestrel_org = s.execute(
            sa.select(Organisation.id).where(Organisation.slug == "kestrel")
        ).scalar_one()
        ids = {o["id"] for o in _kpi(body, "specific_energy")["own"]}
        owners = set(s.execute(sa.select(Design.owner_org_id).where(Design.id.in_(ids))).scalars())
    assert ids and owners == {kestrel_org}


def test_unknown_kpis_name_the_allowed_ones(server):
    h = server.as_role("kestrel")
    one = _get(server, "/api/benchmark/energy_density")
    assert one["privacy"]["unit"] == "organisation" and one["released_at"]
    r = server.client.get("/api/benchmark/watts", headers=h)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "specific_energy" in r.json()["detail"] and "measured_cycle_life" in r.json()["detail"]
    r = server.client.get("/api/benchmark?kpi=cost&kpi=watts", headers=h)
    assert r.status_code == 422 and "charge_time" in r.json()["errors"][0]["expected"]
    some = _get(server, "/api/benchmark?kpi=cost&kpi=specific_energy")
    assert [e["kpi"] for e in some["kpis"]] == ["cost", "specific_energy"]


def test_no_organisation_name_slug_or_id_in_any_answer(server):
    for who in (("kestrel", "engineer"), ("basalt", "viewer"), SPONSOR):
        for path in ("/api/benchmark", "/api/benchmark/specific_energy", "/api/roadmap"):
            r = server.client.get(path, headers=server.as_role(*who))
            text = r.text.lower()
            for slug, name, _kind in DEMO_ORGS:
                assert slug.lower() not in text and name.lower() not in text, (path, slug)
            assert {k for k in _keys(r.json()) if "org" in k} <= {"n_organisations"}, path


def test_reference_cells_are_markers(server):
    entry = _kpi(_get(server, "/api/benchmark"), "specific_energy")
    refs = entry["references"]
    assert refs[0]["reference_id"] == "lfp-blade" and 150 < refs[0]["value"] < 200
    assert {"name", "reference_id", "value"} == set(refs[0])


def test_roadmap_is_built_from_the_releases(server):
    road = _get(server, "/api/roadmap")
    assert [s["specific_energy_Wh_kg"] for s in road["stages"]] == [300, 400, 500]
    assert road["references"][0]["reference_id"] == "lfp-blade"
    assert road["privacy"]["unit"] == "organisation"
    series = {s["kpi"]: s for s in road["series"]}
    assert set(series) == {"specific_energy", "energy_density"}
    with server.platform.db.session() as s:
        rels = releases.history(s, bm.ROADMAP_KPIS)
    for name, ser in series.items():
        mine = [r for r in rels if r.kpi == name]
        quarters = sorted({bm.quarter_of(r.released_at) for r in mine})
        assert [p["quarter"] for p in ser["points"]] == quarters
        last = mine[-1]
        point = ser["points"][-1]
        assert point["n_organisations"] == last.payload["n_organisations"]
        if last.payload["shown"]:
            assert point["p50"] == last.payload["quantiles"]["p50"]


def test_pack_kpis_are_each_designs_template_pack_and_count_as_the_cell_kpis(server):
    """Issue 16: the benchmark's pack KPIs. Every stored design carries its figures in the
    cell-to-pack template (recomputed here with the library from the stored document), the
    same designs count for the pack KPIs as for the cell KPIs, a pack never beats its cells,
    and the reference markers and the caller's own items carry the pack figures."""
    from casip.pack.templates import BENCHMARK_TEMPLATE, design_in_template
    from casip.platform.designs import price_set_spec

    with server.platform.db.session() as s:
        rows = s.execute(
            sa.select(Design).where(*bm.current_clause()).order_by(Design.id).limit(6)
        ).scalars().all()
        assert rows
        for row in rows:
            m = design_in_template(row.document, prices=price_set_spec())
            assert row.metrics["pack"]["template"] == BENCHMARK_TEMPLATE
            assert row.pack_specific_energy_Wh_kg == pytest.approx(m.specific_energy_Wh_kg)
            assert row.pack_energy_density_Wh_L == pytest.approx(m.energy_density_Wh_L)
            if row.pack_cost_usd_kWh is not None:
                assert row.pack_cost_usd_kWh == pytest.approx(m.cost_usd_kWh)
                # the pack's $/kWh is the cells' cell cost plus pack materials and assembly
                assert row.pack_cost_usd_kWh > row.cell_cost_usd_kWh
            assert row.pack_specific_energy_Wh_kg < row.specific_energy_Wh_kg
            assert row.pack_energy_density_Wh_L < row.energy_density_Wh_L
        cell = {(round(v, 6), o) for v, o in bm.rows_of(s, "specific_energy")}
        pack = bm.rows_of(s, "pack_specific_energy")
        assert len(pack) == len(cell) > 0
        assert {o for _v, o in pack} == {o for _v, o in cell}
        values = dict(
            s.execute(
                sa.select(Design.specific_energy_Wh_kg, Design.pack_specific_energy_Wh_kg).where(
                    *bm.current_clause(), Design.pack_specific_energy_Wh_kg.is_not(None)
                )
            ).all()
        )
        for v, _o in pack:
            assert v in values.values()
    body = _get(server, "/api/benchmark?kpi=pack_specific_energy&kpi=pack_cost")
    entry = _kpi(body, "pack_specific_energy")
    assert entry["unit"] == "Wh/kg" and entry["better"] == "higher"
    assert entry["epsilon"] == pytest.approx(server.settings.privacy_epsilon / 2)
    lfp = [r for r in entry["references"] if r["reference_id"] == "lfp-blade"]
    # the LFP Blade cell in its own cell-to-pack pack: 130 Wh/kg by the pack model
    # (docs/pack.md; BYD quotes about 150 for the Han pack - the gap is explained there)
    assert lfp and 110 < lfp[0]["value"] < 160
    own = entry["own"]
    assert own and all(o["value"] > 0 for o in own)
    if entry["shown"]:
        assert all(o["band"] is not None for o in own if o["counted"])
    assert _kpi(body, "pack_cost")["better"] == "lower"
