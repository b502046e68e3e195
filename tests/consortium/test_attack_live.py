"""The benchmark attack of issue 11 against a real ``casip serve`` process, over HTTP only.

An adversarial member, with nothing but the documented API and its own API token, places its
own designs at both ends of the range (copies of the lightest and the heaviest reference cells),
opts them in and out, shares and deletes them, and reads the benchmark and the roadmap after
every move, hundreds of times; then the server is restarted. Everything the consortium's
releases say must stay byte-identical and the privacy ledger must not move: the attacker can
neither steer a published quantile nor buy fresh noise. (That each release is differentially
private is checked in ``test_privacy.py``.)
"""

from __future__ import annotations

import httpx
import pytest

from casip.platform.seed import demo_email

pytestmark = pytest.mark.slow


def _published(body: dict) -> dict:
    return {e["kpi"]: {k: v for k, v in e.items() if k != "own"} for e in body["kpis"]}


def test_placement_toggling_deletion_reads_and_restart_change_no_release(
    tmp_path, live_server_factory
):
    with live_server_factory(tmp_path / "data") as server:
        base = server.base
        rival = server.token(demo_email("lantern", "viewer"))
        attacker = server.token(demo_email("kestrel", "engineer"))
        c = httpx.Client(base_url=base, timeout=30)
        before = c.get("/api/benchmark", headers=rival).json()
        road = c.get("/api/roadmap", headers=rival).json()
        ledger = before["privacy"]
        assert ledger["releases_this_period"] >= 6

        refs = c.get("/api/designs", params={"limit": 100}, headers=attacker).json()["items"]
        refs = [d for d in refs if d.get("reference_id") and d.get("specific_energy_Wh_kg")]
        refs.sort(key=lambda d: d["specific_energy_Wh_kg"])
        ends = [refs[0], refs[-1]]  # the lightest and the heaviest cells on the platform
        placed = []
        for ref in ends * 2:
            doc = c.get(f"/api/designs/{ref['id']}", headers=attacker).json()["document"]
            r = c.post(
                "/api/designs",
                json={
                    "document": {**doc, "name": f"probe {len(placed)}"},
                    "visibility": "private",
                    "benchmark_opt_in": True,
                },
                headers=attacker,
            )
            assert r.status_code == 201, r.text
            placed.append(r.json()["id"])
            assert _published(c.get("/api/benchmark", headers=attacker).json()) == _published(
                before
            )
        for did in placed:
            for body in (
                {"visibility": "private", "benchmark_opt_in": False},
                {"visibility": "consortium", "benchmark_opt_in": True},
                {"visibility": "private", "benchmark_opt_in": True},
            ):
                r = c.patch(f"/api/designs/{did}/visibility", json=body, headers=attacker)
                assert r.status_code == 200, r.text
                for kpi in ("specific_energy", "energy_density"):
                    one = c.get(f"/api/benchmark/{kpi}", headers=attacker).json()
                    assert {k: v for k, v in one.items() if k not in ("own", "k", "privacy")} == (
                        _published(before)[kpi]
                    )
        for did in placed[:2]:
            assert c.delete(f"/api/designs/{did}", headers=attacker).status_code == 200
        for _ in range(100):  # repeated queries: no fresh noise to average
            assert _published(c.get("/api/benchmark", headers=attacker).json()) == _published(
                before
            )
        after = c.get("/api/benchmark", headers=rival).json()
        assert after["privacy"]["spent_epsilon"] == ledger["spent_epsilon"]
        assert after["privacy"]["releases_this_period"] == ledger["releases_this_period"]
        assert c.get("/api/roadmap", headers=rival).json() == road

        # a restart (or a crash the attacker provoked) in the same slot makes no new release
        server.restart()
        rival = server.token(demo_email("lantern", "viewer"))
        again = httpx.get(base + "/api/benchmark", headers=rival, timeout=30).json()
        assert _published(again) == _published(before)
        assert again["privacy"]["spent_epsilon"] == ledger["spent_epsilon"]
