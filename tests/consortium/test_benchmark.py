"""Anonymised benchmarking and the roadmap, on SQLite and PostgreSQL.

The distributions are checked against an independent pandas computation of the rules written in
:mod:`casip.platform.benchmarking` (counted items, equal weight per organisation, midpoint
quantiles, histogram bins of at least k organisations).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from casip.platform import benchmarking as bm
from casip.platform.app import create_app
from casip.platform.models import Design
from casip.platform.seed import DEMO_ORGS, DEMO_PASSWORD, demo_email
from casip.platform.settings import Settings

SPONSOR = ("programme-office", "viewer")
LEVELS = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90}


class _Strict:
    """A demo platform with k = 10 (more than the demo has organisations), SQLite."""

    def __init__(self, client: TestClient):
        self.client = client

    def as_role(self, slug: str, role: str = "engineer") -> dict[str, str]:
        c = TestClient(self.client.app)
        r = c.post("/api/login", json={"email": demo_email(slug, role), "password": DEMO_PASSWORD})
        csrf = r.json()["csrf_token"]
        r = c.post("/api/tokens", json={"name": "tests"}, headers={"X-CSRF-Token": csrf})
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory, database_url_factory):
    folder = tmp_path_factory.mktemp("bench-k10")
    with database_url_factory("sqlite", folder) as url:
        settings = Settings(
            data_dir=folder / "data", database_url=url, k_anonymity=10, demo_jobs=False
        )
        with TestClient(create_app(settings)) as client:
            yield _Strict(client)


def _get(server, path, who=("kestrel", "engineer")):
    r = server.client.get(path, headers=server.as_role(*who))
    assert r.status_code == 200, r.text
    return r.json()


def _keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj).union(*(_keys(v) for v in obj.values()))
    if isinstance(obj, list):
        return set().union(*(_keys(v) for v in obj))
    return set()


def _kpi(body, name):
    return next(e for e in body["kpis"] if e["kpi"] == name)


def _counted(server, column: str, table: str = "designs") -> pd.DataFrame:
    """The counted rows, read with plain SQL (independent of the module's queries)."""
    sql = sa.text(
        f'SELECT d."{column}" AS v, d.owner_org_id AS org FROM {table} d '
        "JOIN organisations o ON o.id = d.owner_org_id "
        "WHERE (d.visibility IN ('consortium', 'public') OR d.benchmark_opt_in = :yes) "
        f"AND o.kind IN ('member', 'institute') AND d.\"{column}\" IS NOT NULL"
    )
    with server.platform.db.engine.connect() as conn:
        return pd.read_sql(sql, conn, params={"yes": True})


def _expected_quantiles(df: pd.DataFrame) -> dict:
    df = df.assign(w=1.0 / (df.groupby("org")["v"].transform("size") * df["org"].nunique()))
    df = df.sort_values("v", kind="stable").reset_index(drop=True)
    c = (df["w"].cumsum() - df["w"] / 2).to_numpy()
    out = {}
    for name, q in LEVELS.items():
        out[name] = None if q < c[0] or q > c[-1] else float(np.interp(q, c, df["v"]))
    return out


def _assert_quantiles(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name, value in want.items():
        if value is None:
            assert got[name] is None, name
        else:
            assert got[name] == pytest.approx(value, rel=1e-9), name


@pytest.mark.parametrize(
    "kpi,column,table",
    [
        ("specific_energy", "specific_energy_Wh_kg", "designs"),
        ("energy_density", "energy_density_Wh_L", "designs"),
        ("cost", "cost_usd_kWh", "designs"),
        ("cycle_life", "cycles_to_80", "lifetime_results"),
    ],
)
def test_distributions_match_an_independent_computation(server, kpi, column, table):
    df = _counted(server, column, table)
    if kpi == "cycle_life" and df["org"].nunique() < 3:
        pytest.skip("the demo seed has no lifetime results of three organisations")
    entry = _kpi(_get(server, "/api/benchmark"), kpi)
    assert df["org"].nunique() >= 3
    assert entry["shown"] is True and entry["reason"] is None
    assert entry["n_items"] == len(df)
    assert entry["n_organisations"] == df["org"].nunique()
    _assert_quantiles(entry["quantiles"], _expected_quantiles(df))
    q = [v for v in entry["quantiles"].values() if v is not None]
    assert q == sorted(q)
    assert "min" not in entry and "max" not in entry
    # histogram: counts sum to the items, every bin holds items of at least k organisations
    edges, counts = entry["histogram"]["edges"], entry["histogram"]["counts"]
    assert len(counts) == len(edges) - 1 and sum(counts) == len(df)
    assert edges == sorted(edges)
    assert df["v"].min() < edges[1] and df["v"].max() > edges[-2]  # extremes hidden in open bins
    bins = np.clip(np.searchsorted(edges, df["v"], side="right") - 1, 0, len(counts) - 1)
    per_bin = df.assign(bin=bins).groupby("bin")
    assert per_bin.size().reindex(range(len(counts)), fill_value=0).tolist() == counts
    assert (per_bin["org"].nunique() >= 3).all()


def test_one_kpi_endpoint_and_unknown_kpis_name_the_allowed_ones(server):
    whole = _kpi(_get(server, "/api/benchmark"), "energy_density")
    one = _get(server, "/api/benchmark/energy_density")
    assert one["k"] == 3 and one["quantiles"] == whole["quantiles"] and one["own"] == whole["own"]
    h = server.as_role("kestrel")
    r = server.client.get("/api/benchmark/watts", headers=h)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "specific_energy" in r.json()["detail"] and "measured_cycle_life" in r.json()["detail"]
    assert r.json()["errors"][0]["field"] == "kpi"
    r = server.client.get("/api/benchmark?kpi=cost&kpi=watts", headers=h)
    assert r.status_code == 422 and "charge_time" in r.json()["errors"][0]["expected"]
    some = _get(server, "/api/benchmark?kpi=cost&kpi=specific_energy")
    assert [e["kpi"] for e in some["kpis"]] == ["cost", "specific_energy"]


def test_kpis_without_k_organisations_are_hidden(server):
    body = _get(server, "/api/benchmark")
    assert [e["kpi"] for e in body["kpis"]] == list(bm.KPIS)
    for name in ("charge_time", "measured_cycle_life"):  # no demo jobs run, nothing uploaded
        entry = _kpi(body, name)
        assert entry["shown"] is False and entry["reason"] == "fewer than k organisations"
        assert entry["quantiles"] is None and entry["histogram"] is None


def test_raised_k_hides_every_distribution_and_the_roadmap(strict_server):
    body = _get(strict_server, "/api/benchmark")
    assert body["k"] == 10
    for entry in body["kpis"]:
        assert entry["shown"] is False and entry["quantiles"] is None
        assert entry["histogram"] is None
        assert all(o["percentile"] is None and o["band"] is None for o in entry["own"])
    assert _kpi(body, "specific_energy")["own"]  # own items are still listed
    road = _get(strict_server, "/api/roadmap")
    assert road["series"][0]["points"]
    assert all(p["best"] is None for s in road["series"] for p in s["points"])


def test_no_organisation_name_slug_or_id_in_any_answer(server):
    for who in (("kestrel", "engineer"), ("basalt", "viewer"), SPONSOR):
        for path in ("/api/benchmark", "/api/benchmark/specific_energy", "/api/roadmap"):
            r = server.client.get(path, headers=server.as_role(*who))
            text = r.text.lower()
            for slug, name, _kind in DEMO_ORGS:
                assert slug.lower() not in text and name.lower() not in text, (path, slug)
            assert _keys(r.json()) & {k for k in _keys(r.json()) if "org" in k} <= {
                "n_organisations"
            }, path  # no organisation ids or keys


def test_own_items_are_the_callers_and_a_private_item_does_not_count(server):
    kestrel, lantern = server.as_role("kestrel"), server.as_role("lantern")
    before = _kpi(_get(server, "/api/benchmark"), "specific_energy")
    assert all(o["percentile"] is None or 10 <= o["percentile"] <= 90 for o in before["own"])

    doc = server.client.get("/api/designs/2", headers=kestrel).json()["document"]
    doc["name"] = "benchmark extreme"
    r = server.client.post("/api/designs", json={"document": doc}, headers=kestrel)
    assert r.status_code == 201 and r.json()["visibility"] == "private"
    new_id = r.json()["id"]
    with server.platform.db.session() as s:  # an extreme value no real design reaches
        s.get(Design, new_id).specific_energy_Wh_kg = 5000.0

    after = _kpi(_get(server, "/api/benchmark"), "specific_energy")
    assert after["quantiles"] == before["quantiles"]
    assert after["histogram"] == before["histogram"]
    assert (after["n_items"], after["n_organisations"]) == (
        before["n_items"],
        before["n_organisations"],
    )
    mine = {o["id"]: o for o in after["own"]}
    assert mine[new_id]["value"] == 5000.0 and mine[new_id]["counted"] is False
    assert mine[new_id]["band"] == "above p90" and mine[new_id]["percentile"] is None
    with server.platform.db.session() as s:
        kestrel_ids = set(
            s.execute(
                sa.select(Design.id).where(
                    Design.owner_org_id == s.get(Design, new_id).owner_org_id
                )
            ).scalars()
        )
    assert set(mine) <= kestrel_ids
    others = _kpi(_get(server, "/api/benchmark", ("lantern", "engineer")), "specific_energy")
    assert new_id not in {o["id"] for o in others["own"]} and not set(mine) & {
        o["id"] for o in others["own"]
    }
    assert others["quantiles"] == before["quantiles"]

    r = server.client.patch(
        f"/api/designs/{new_id}/visibility",
        json={"visibility": "private", "benchmark_opt_in": True},
        headers=kestrel,
    )
    assert r.status_code == 200, r.text
    opted = _kpi(_get(server, "/api/benchmark"), "specific_energy")
    assert opted["n_items"] == before["n_items"] + 1
    assert opted["quantiles"] != before["quantiles"]
    assert opted["quantiles"]["p90"] < 5000.0  # the extreme itself is never published
    assert next(o for o in opted["own"] if o["id"] == new_id)["counted"] is True
    _assert_quantiles(
        opted["quantiles"], _expected_quantiles(_counted(server, "specific_energy_Wh_kg"))
    )
    assert server.client.get(f"/api/designs/{new_id}", headers=lantern).status_code == 404

    assert server.client.delete(f"/api/designs/{new_id}", headers=kestrel).status_code == 200
    gone = _kpi(_get(server, "/api/benchmark"), "specific_energy")
    assert gone["quantiles"] == before["quantiles"]


def test_sponsor_gets_distributions_and_no_own_items(server):
    member = _get(server, "/api/benchmark")
    body = _get(server, "/api/benchmark", SPONSOR)
    for entry in body["kpis"]:
        assert entry["own"] == []
        assert entry["quantiles"] == _kpi(member, entry["kpi"])["quantiles"]
    assert _kpi(body, "specific_energy")["shown"] is True


def test_reference_cells_are_markers_not_counted(server):
    entry = _kpi(_get(server, "/api/benchmark"), "specific_energy")
    refs = entry["references"]
    assert refs[0]["reference_id"] == "lfp-blade" and 150 < refs[0]["value"] < 200
    assert {"name", "reference_id", "value"} == set(refs[0])
    df = _counted(server, "specific_energy_Wh_kg")
    assert entry["n_items"] == len(df)  # the public reference designs are not in it


def test_roadmap_is_monotone_with_stages_and_references(server):
    road = _get(server, "/api/roadmap")
    assert road == _get(server, "/api/roadmap", SPONSOR)
    assert [s["specific_energy_Wh_kg"] for s in road["stages"]] == [300, 400, 500]
    assert [s["energy_density_Wh_L"] for s in road["stages"]][1:] == [800, 1000]
    assert road["references"][0]["reference_id"] == "lfp-blade"
    series = {s["kpi"]: s for s in road["series"]}
    assert set(series) == {"specific_energy", "energy_density"}
    for s in series.values():
        quarters = [p["quarter"] for p in s["points"]]
        assert quarters == sorted(quarters) and quarters[0] == "2025-Q1"
        best = [p["best"] for p in s["points"] if p["best"] is not None]
        assert best and best == sorted(best)
        assert all(p["n_organisations"] >= 3 for p in s["points"] if p["best"] is not None)
    # the last point is the k-th highest organisation best, computed independently
    df = _counted(server, "specific_energy_Wh_kg")
    kth = df.groupby("org")["v"].max().sort_values(ascending=False).iloc[2]
    assert series["specific_energy"]["points"][-1]["best"] == pytest.approx(kth)
    assert series["specific_energy"]["points"][-1]["best"] < df["v"].max()


def test_equal_organisation_weights_stop_one_organisation_dominating():
    values = np.array([100.0] * 95 + [200.0, 300.0])
    orgs = np.array([1] * 95 + [2, 3])
    q = bm.weighted_quantiles(values, bm.org_weights(orgs))
    assert q["p50"] == pytest.approx(200.0)  # not 100, the dominant organisation's value
    assert q["p10"] == pytest.approx(100.0) and q["p90"] is None  # the top item is alone
    hist = bm.histogram(values, bm.org_weights(orgs), orgs, 3)
    assert hist["counts"] == [97]  # one bin: no bin with fewer than three organisations


def test_roadmap_series_reports_the_kth_best_organisation():
    import datetime as dt

    t = [dt.datetime(2025, m, 1) for m in (1, 4, 7, 10)]
    rows = {
        "specific_energy": [
            (300.0, 1, t[0]),
            (310.0, 2, t[0]),
            (900.0, 3, t[1]),  # the leader's value is never published
            (320.0, 1, t[2]),
            (250.0, 4, t[3]),
        ],
        "energy_density": [],
    }
    s = bm.roadmap_series(rows, 3, now=dt.datetime(2025, 12, 1))
    pts = s[0]["points"]
    assert [p["quarter"] for p in pts] == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert [p["best"] for p in pts] == [None, 300.0, 310.0, 310.0]
    assert [p["n_organisations"] for p in pts] == [2, 3, 3, 4]
    assert s[1]["points"] and all(p["best"] is None for p in s[1]["points"])
