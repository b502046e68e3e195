"""The design page and its neighbours, server-rendered (TestClient): geometry, range warnings,
and costs labelled as materials costs."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from casip.cells import reference_design
from casip.platform.seed import DEMO_PASSWORD, demo_email


def _login(server, slug: str = "kestrel", role: str = "engineer") -> TestClient:
    c = TestClient(server.client.app)
    r = c.post(
        "/login",
        data={"email": demo_email(slug, role), "password": DEMO_PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


def test_an_absurd_areal_capacity_is_warned_on_the_design_page(sqlite_server):
    doc = reference_design("nmc811-pouch").model_dump(mode="json", by_alias=True,
                                                     exclude_none=True)
    doc["name"] = "Absurdly thick cathode"
    for k in ("thickness_um", "loading_mg_cm2"):
        doc["cathode"].pop(k, None)
    doc["cathode"]["areal_capacity_mAh_cm2"] = 25.0
    h = sqlite_server.as_role("kestrel")
    r = sqlite_server.client.post("/api/designs", json={"document": doc}, headers=h)
    assert r.status_code == 201, r.text
    design_id = r.json()["id"]
    warnings = sqlite_server.client.get(f"/api/designs/{design_id}", headers=h).json()
    warnings = warnings["metrics"]["warnings"]
    assert any(w.startswith("Cathode areal capacity 25 mAh/cm²") for w in warnings), warnings
    html = _login(sqlite_server).get(f"/designs/{design_id}").text
    assert "Warnings of the design engine" in html
    assert "Cathode areal capacity 25 mAh/cm² is above the 1-6 mAh/cm² real cells use" in html
    assert "Gallagher et al. 2016" in html


def test_the_design_page_lists_the_geometry_cli_show_prints(sqlite_server):
    c = _login(sqlite_server)
    html = c.get("/designs/1").text
    assert 'id="geometry"' in html
    for key in ("cathode_areal_capacity_mAh_cm2", "cathode_thickness_um", "np_ratio", "layers",
                "electrode_width_mm", "stack_thickness_mm", "cell_thickness_mm"):
        assert f'data-key="{key}"' in html, key
    for plot in ("mass-plot", "volume-plot", "cost-plot", "element-plot"):
        assert f'id="{plot}"' in html


def test_every_cost_on_the_web_says_it_is_a_materials_cost(sqlite_server):
    c = _login(sqlite_server)
    design = c.get("/designs/1").text
    assert "Materials cost" in design and "Materials cost breakdown [$]" in design
    assert re.search(r">\s*Cost breakdown", design) is None
    assert "Materials $/kWh" in c.get("/designs").text
    assert "Materials cost [$/kWh]" in c.get("/compare").text
    h = sqlite_server.as_role("kestrel")
    kpis = sqlite_server.client.get("/api/benchmark", headers=h).json()["kpis"]
    cost = next(k for k in kpis if k["kpi"] == "cost")
    assert cost["label"] == "Materials cost"
