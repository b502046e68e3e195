"""Packs in the platform (issue 16): reference packs, a pack built from a member's design
beside the LFP cell-to-pack pack, access rules, problems and the page.

The member's design is a copy of the NMC 811 pouch reference cell (exported from the platform's
reference library), so built into the NMC module template it must give back the reference pack
itself (96s3p). Every test runs on SQLite and PostgreSQL (the ``server`` fixture).
"""

from __future__ import annotations

import math
import uuid

import pytest

from casip.pack import REFERENCE_IDS, evaluate_pack
from casip.pack.api import read_pack_text, reference_text


def mark(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}"


def copy_reference(server, headers, ref: str, name: str, visibility: str = "private") -> dict:
    c = server.client
    refs = c.get("/api/designs?limit=200", headers=headers).json()["items"]
    rid = next(d["id"] for d in refs if d.get("reference_id") == ref)
    doc = c.get(f"/api/designs/{rid}/export", headers=headers).json()
    r = c.post("/api/designs", json={"document": {**doc, "name": name}, "visibility": visibility},
               headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def nmc(server) -> dict:
    return copy_reference(server, server.as_role("kestrel"), "nmc811-pouch", mark("pack-nmc"))


def test_references_answer_the_four_packs_with_published_figures(server):
    r = server.client.get("/api/packs/references", headers=server.as_role("lantern", "viewer"))
    assert r.status_code == 200, r.text
    packs = r.json()["packs"]
    assert [p["id"] for p in packs] == list(REFERENCE_IDS) and len(packs) == 4
    for p in packs:
        m = evaluate_pack(f"ref:{p['id']}")
        assert p["kpis"]["gross_kWh"] == pytest.approx(m.gross_kWh, rel=1e-12)
        assert p["kpis"]["specific_energy_Wh_kg"] == pytest.approx(m.specific_energy_Wh_kg)
        assert p["kpis"]["cost_usd_kWh"] == pytest.approx(m.cost_usd_kWh)
    blade = packs[0]
    assert blade["id"] == "blade-ctp" and blade["published"]
    for f in blade["published"]:
        computed = blade["kpis"][f["metric"]]
        assert f["computed"] == pytest.approx(computed)
        assert f["difference"] == pytest.approx(computed / f["value"] - 1.0)
        assert f["source"]
    # anonymous: nothing
    assert server.client.get("/api/packs/references").status_code == 401


def test_evaluate_own_design_equals_the_pack_model(server, nmc):
    c, eng = server.client, server.as_role("kestrel")
    r = c.post("/api/packs/evaluate", json={"design_id": nmc["id"], "template": "nmc-modules"},
               headers=eng)
    assert r.status_code == 200, r.text
    body = r.json()
    ref = evaluate_pack("ref:nmc-modules")
    assert body["energy_kWh"] == pytest.approx(ref.gross_kWh, rel=1e-12)
    # the template around the design: the reference file with the cell and arrangement replaced
    pack_file = body["pack"]["pack_file"]
    template = read_pack_text(reference_text("nmc-modules")).model_dump(by_alias=True)
    for key in template:
        if key not in ("cell", "name", "arrangement", "published"):
            assert pack_file[key] == template[key], key
    assert pack_file["cell"] == f"design:{nmc['id']}"
    assert pack_file["arrangement"] == {
        "target_voltage_V": pytest.approx(ref.nominal_voltage_V, rel=1e-12),
        "target_energy_kWh": pytest.approx(ref.gross_kWh, rel=1e-12),
    }
    doc = c.get(f"/api/designs/{nmc['id']}/export", headers=eng).json()
    mine = evaluate_pack(pack_file, cell_design=doc)
    for k, v in body["pack"]["kpis"].items():
        assert v == pytest.approx(getattr(mine, k), rel=1e-12), k
    # the reference NMC cell in the NMC template is the reference pack (96s3p) again
    assert (mine.series, mine.parallel) == (96, 3) == (ref.series, ref.parallel)
    assert mine.specific_energy_Wh_kg == pytest.approx(ref.specific_energy_Wh_kg, rel=1e-9)
    # the LFP cell-to-pack pack of the same energy: one string, within half a cell's energy
    lfp = body["lfp"]["kpis"]
    blade = evaluate_pack("ref:blade-ctp")
    cell_kWh = blade.gross_kWh / blade.cells
    assert lfp["parallel"] == 1 and lfp["series"] == round(ref.gross_kWh / cell_kWh) == 197
    assert abs(lfp["gross_kWh"] - body["energy_kWh"]) <= cell_kWh / 2
    assert body["lfp"]["pack_file"]["integration"] == "cell_to_pack"
    assert lfp == {k: pytest.approx(getattr(evaluate_pack(body["lfp"]["pack_file"]), k))
                   for k in lfp}
    assert body["ratio_to_lfp"]["specific_energy_Wh_kg"] == pytest.approx(
        mine.specific_energy_Wh_kg / lfp["specific_energy_Wh_kg"])
    assert body["ratio_to_lfp"]["specific_energy_Wh_kg"] > 1.0  # NMC modules beat LFP CTP/kg
    assert all(math.isfinite(v) for v in body["ratio_to_lfp"].values())


def test_another_organisations_private_design_is_404_and_bad_input_422(server, nmc):
    c = server.client
    lantern = server.as_role("lantern")
    r = c.post("/api/packs/evaluate", json={"design_id": nmc["id"]}, headers=lantern)
    missing = c.post("/api/packs/evaluate", json={"design_id": 987_654_321}, headers=lantern)
    assert r.status_code == 404 == missing.status_code
    assert nmc["name"] not in r.text
    assert r.text == missing.text.replace("987654321", str(nmc["id"]))
    eng = server.as_role("kestrel")
    r = c.post("/api/packs/evaluate", json={"design_id": nmc["id"], "template": "tesla-4680"},
               headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "template", r.text
    r = c.post("/api/packs/evaluate", json={"design_id": "seven"}, headers=eng)
    assert r.status_code == 422 and "design_id" in r.text, r.text


def test_packs_page_renders_references_and_a_built_pack(server, nmc):
    kc, _ = server.browser("engineer@kestrel.demo")
    html = kc.get("/packs").text
    assert 'id="pack-references"' in html and 'href="/packs"' in html
    for pid in REFERENCE_IDS:
        assert f"<code>{pid}</code>" in html
    assert f'<option value="{nmc["id"]}">' in html
    html = kc.get(f"/packs?design_id={nmc['id']}&template=nmc-modules").text
    assert 'id="pack-result"' in html and 'id="pack-error"' not in html
    ref = evaluate_pack("ref:nmc-modules")
    assert f"{ref.specific_energy_Wh_kg:.0f}" in html
    lc, _ = server.browser("engineer@lantern.demo")
    html = lc.get(f"/packs?design_id={nmc['id']}&template=nmc-modules").text
    assert 'id="pack-error"' in html and nmc["name"] not in html
    assert f'<option value="{nmc["id"]}">' not in html
