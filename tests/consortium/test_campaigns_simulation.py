"""Simulation evidence of platform campaigns (issue 18): after a batch is proposed, and on
``POST /api/campaigns/{id}/simulate``, the open planned tests of a design campaign are
evaluated with the function behind ``casip campaign simulate``
(:func:`casip.explore.objectives.evaluate_points`) and stored as ``simulation`` observations.

The campaign is the shipped example ``energy-life.yaml`` (most Wh/kg from the sulfide
lithium-metal reference cell with a projected life above 1000 cycles); the expected values are
computed here by ``evaluate_points`` on the same points. A protocol-only campaign has no
design parameters, so the models have nothing to evaluate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from test_campaigns import DOC, ENG, OTHER, _create, _propose

import casip.campaign
from casip.campaign.spec import campaign_from_data, study_from_campaign
from casip.explore.objectives import evaluate_points, study_payload
from casip.platform.models import CampaignObservation
from casip.platform.seed import demo_email

EXAMPLE = Path(casip.campaign.__file__).parent / "examples" / "energy-life.yaml"


def _energy_life() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _observations(server, h, cid: int) -> list[dict]:
    r = server.client.get(f"/api/campaigns/{cid}/observations", headers=h)
    assert r.status_code == 200, r.text
    return r.json()["items"]


@pytest.mark.slow  # the module's first proposal job warms a worker up (several seconds)
def test_design_campaign_gets_simulation_evidence(server):
    h = server.as_role(ENG)
    doc = _energy_life()
    c = _create(server, h, **doc)
    assert c["simulation"] == {"quantities": ["specific_energy_Wh_kg", "cycle_life"],
                               "note": None}
    tests = _propose(server, h, c["id"])
    assert len(tests) == doc["batch"]

    # the values the CLI's simulate computes at the same points
    spec = campaign_from_data(doc)
    dparams = spec.design_parameters()
    rows = evaluate_points(study_payload(study_from_campaign(spec)),
                           [{n: t["point"][n] for n in dparams} for t in tests])
    obs = _observations(server, h, c["id"])
    sims = {o["planned_test"]: o for o in obs if o["kind"] == "simulation"}
    assert set(sims) == {t["id"] for t in tests} and len(obs) == len(tests)
    for t, row in zip(tests, rows, strict=True):
        o = sims[t["id"]]
        assert row["error"] is None
        assert o["values"]["specific_energy_Wh_kg"] == row["specific_energy_Wh_kg"]
        assert o["values"]["cycle_life"] == row["cycles_to_80"]  # the ageing model's life
        assert 200 < o["values"]["specific_energy_Wh_kg"] < 800  # a sulfide Li-metal cell
        assert o["sigma"] == {} and o["cycles"] is None  # noise: casip.campaign.evidence's
        assert o["source"] == {"kind": "simulation", "id": None}
    # simulation alone answers no planned test: the batch stays open, nothing new proposed
    again = _propose(server, h, c["id"])
    assert [t["id"] for t in again] == [t["id"] for t in tests]
    assert all(t["status"] == "proposed" for t in again)

    # the detail and the page show the values beside the early and measured ones
    d = server.client.get(f"/api/campaigns/{c['id']}", headers=h).json()
    first = d["planned_tests_list"][0]
    assert first["simulation"] == sims[first["id"]]["values"]
    assert d["best"] is not None  # the simulated Wh/kg is evidence on the objective
    owner, _ = server.browser(demo_email(ENG, "engineer"))
    page = owner.get(f"/campaigns/{c['id']}").text
    wh = f"{sims[first['id']]['values']['specific_energy_Wh_kg']:.4g}"
    assert f"specific_energy_Wh_kg {wh}" in page and 'class="num simulated"' in page

    # on demand: values already stored are not stored twice
    for _ in range(2):
        r = server.client.post(f"/api/campaigns/{c['id']}/simulate", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["stored"] == {} and r.json()["skipped"] == {}
        assert sorted(r.json()["unchanged"]) == sorted(t["id"] for t in tests)
    assert len(_observations(server, h, c["id"])) == len(tests)

    # lost simulation rows are evaluated again (once) by the route
    lost = tests[0]["id"]
    with server.platform.db.session() as s:
        s.execute(sa.delete(CampaignObservation).where(
            CampaignObservation.planned_test_id == int(lost.removeprefix("PT-"))))
    r = server.client.post(f"/api/campaigns/{c['id']}/simulate", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == {lost: sims[lost]["values"]}
    r = server.client.post(f"/api/campaigns/{c['id']}/simulate", headers=h)
    assert r.json()["stored"] == {}
    assert len(_observations(server, h, c["id"])) == len(tests)

    # a measured result answers a planned test: it is no longer re-simulated
    r = server.client.post(f"/api/campaigns/{c['id']}/planned-tests/{lost}/result",
                           json={"cycle_life": 900}, headers=h)
    assert r.status_code == 200, r.text
    r = server.client.post(f"/api/campaigns/{c['id']}/simulate", headers=h)
    assert lost not in r.json()["unchanged"] and len(r.json()["unchanged"]) == len(tests) - 1

    # a viewer of the owner may not simulate; another organisation gets 404
    viewer = server.as_role(ENG, "viewer")
    assert server.client.post(f"/api/campaigns/{c['id']}/simulate",
                              headers=viewer).status_code == 403
    for who in (server.as_role(OTHER), server.as_role("programme-office", "admin")):
        r = server.client.post(f"/api/campaigns/{c['id']}/simulate", headers=who)
        assert r.status_code == 404, r.text
        assert "Wh/kg" not in r.text and "specific_energy" not in r.text


def test_protocol_campaign_gets_no_simulation(server):
    h = server.as_role(ENG)
    c = _create(server, h, name="protocol-only")
    assert c["simulation"]["quantities"] == []
    assert "no design parameters" in c["simulation"]["note"]
    tests = _propose(server, h, c["id"])
    assert len(tests) == DOC["batch"]
    assert _observations(server, h, c["id"]) == []
    r = server.client.post(f"/api/campaigns/{c['id']}/simulate", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == {} and "no design parameters" in r.json()["note"]
    assert _observations(server, h, c["id"]) == []
    owner, _ = server.browser(demo_email(ENG, "engineer"))
    assert 'id="simulation-note"' in owner.get(f"/campaigns/{c['id']}").text
