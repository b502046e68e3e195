"""Dated price sets: the default, the old numbers reproduced, commodity links, area prices.

The hand-computed lithium sensitivity uses molar masses (g/mol): Li 6.941, Li2CO3 73.891,
LiFePO4 157.757, LiPF6 151.905. One mole of Li2CO3 carries two of lithium, so

- LFP: 0.5 x 73.891 / 157.757 = 0.234201 kg Li2CO3 per kg, / yield 0.97 = 0.241444;
- electrolyte (15.19 wt% LiPF6): 0.1519 x 0.5 x 73.891 / 151.905 = 0.036944 kg per kg,
  / 0.97 = 0.038087.

The LFP blade holds no other lithium, so 1 USD/kg more carbonate adds
``(0.241444 m_LFP + 0.038087 m_electrolyte)`` USD per kg of those masses.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from typer.testing import CliRunner

from casip.cells import REFERENCE_IDS, reference_design
from casip.cli import app
from casip.cost import load_price_set, price_sets, priced_library
from casip.design import evaluate, sweep
from casip.design.api import with_updates
from casip.errors import CasipInputError
from casip.materials import load_library

LIQUID = [c for c in REFERENCE_IDS if reference_design(c).kind.value == "liquid"]


def test_sets_are_named_dated_sourced_and_the_default_is_the_most_recent():
    sets = price_sets()
    names = [p.name for p in sets]
    assert {"china-2025", "batpac-2022"} <= set(names)
    assert [p.date for p in sets] == sorted((p.date for p in sets), reverse=True)
    assert load_price_set().name == names[0] == "china-2025"
    china = load_price_set("china-2025")
    assert china.sources and all(s.citation for s in china.sources.values())
    # every commodity cites a source key defined by the set (or says it is assumed, and why)
    for k, v in china.commodity_sources.items():
        assert v.source in china.sources or (v.source == "assumed" and v.note), k
    assert evaluate(reference_design("lfp-blade")).price_set == "china-2025"


def test_batpac_2022_reproduces_the_library_numbers_exactly():
    lib = load_library()
    for cid in REFERENCE_IDS:
        d = reference_design(cid)
        old = evaluate(d, lib)
        new = evaluate(d, prices="batpac-2022")
        assert new.price_set == "batpac-2022" and old.price_set == "library"
        assert new.cost_usd == old.cost_usd, cid
        assert new.cost_breakdown_usd == old.cost_breakdown_usd, cid
        assert new.mass_g == old.mass_g


def test_china_2025_ranks_lfp_cheapest_liquid_cell_per_kwh():
    cost = {c: evaluate(reference_design(c), prices="china-2025").cost_usd_kWh for c in LIQUID}
    assert min(cost, key=cost.get) == "lfp-blade", cost
    assert cost["lfp-blade"] < cost["nmc811-pouch"]
    assert cost["lfp-blade"] < cost["nmc811-4680"]
    # and the old set ranked them the other way round (the reason for dated sets)
    old = {c: evaluate(reference_design(c), prices="batpac-2022").cost_usd_kWh for c in LIQUID}
    assert old["lfp-blade"] > old["nmc811-pouch"]


def test_linked_prices_meet_their_market_anchor_and_split_into_parts():
    ps = load_price_set("china-2025")
    nmc = ps.price("NMC811")
    assert nmc.basis == "linked"
    assert nmc.usd_kg == pytest.approx(17.640, abs=1e-9)  # SMM 8-series, 16 June 2025
    assert math.fsum(nmc.parts.values()) == pytest.approx(nmc.usd_kg)
    # nickel: 0.8 mol Ni per 97.28 g NMC811 from NiSO4.6H2O (262.85 g/mol) at 3.3695 USD/kg
    assert nmc.parts["NiSO4_6H2O"] == pytest.approx(0.8 * 262.85 / 97.28 * 3.3695 / 0.97,
                                                    rel=2e-3)
    lfp = ps.price("LFP")
    assert lfp.parts["Li2CO3"] == pytest.approx(0.241444 * 7.834, rel=1e-4)


@pytest.fixture(scope="module")
def lithium_scan():
    out = {}
    for li in (4.0, 7.834, 15.0, 40.0):
        lib = priced_library(prices="china-2025", overrides={"commodities": {"Li2CO3": li}})
        out[li] = {c: evaluate(reference_design(c), lib) for c in REFERENCE_IDS}
    return out


def test_raising_lithium_carbonate_raises_every_cell_cost(lithium_scan):
    prices = sorted(lithium_scan)
    for cid in REFERENCE_IDS:
        costs = [lithium_scan[p][cid].cost_usd_kWh for p in prices]
        assert all(b > a for a, b in itertools.pairwise(costs)), (cid, costs)
        assert lithium_scan[40.0][cid].price_set == "china-2025 (Li2CO3=40)"


def test_lithium_sensitivity_of_the_lfp_blade_is_what_its_composition_implies(lithium_scan):
    lo, hi = lithium_scan[4.0]["lfp-blade"], lithium_scan[40.0]["lfp-blade"]
    assert lo.mass_breakdown_g == hi.mass_breakdown_g
    m = lo.mass_breakdown_g
    per_usd = (0.241444 * m["cathode_active"] + 0.038087 * m["liquid_electrolyte"]) / 1000
    assert hi.cost_usd - lo.cost_usd == pytest.approx(36.0 * per_usd, rel=1e-4)


def test_unknown_price_set_and_commodity_are_named():
    with pytest.raises(CasipInputError, match=r"unknown price set; got 'china-2019'.*china-2025"):
        load_price_set("china-2019")
    with pytest.raises(CasipInputError, match=r"price set 'batpac-2022' has no commodity 'Li2CO3'"):
        load_price_set("batpac-2022", {"commodities": {"Li2CO3": 12}})
    with pytest.raises(CasipInputError, match=r"not a price"):
        load_price_set(None, {"commodities": {"Li2CO3": -1}})


def test_separator_is_priced_by_area_and_follows_a_swept_thickness():
    d = reference_design("nmc811-pouch")
    m = evaluate(d, prices="china-2025")
    s = d.separator
    rho = load_library()["PE_separator"].density_g_cm3.value
    areal_g_cm2 = s.thickness_um * 1e-4 * (1 - s.porosity) * rho
    area_m2 = m.mass_breakdown_g["separator"] / areal_g_cm2 / 1e4
    assert m.cost_breakdown_usd["separator"] == pytest.approx(0.195 * area_m2, rel=1e-9)
    df = sweep(d, {"separator.thickness_um": [s.thickness_um, 2 * s.thickness_um]}, grid=True,
               prices="china-2025")
    assert df.attrs["price_set"] == "china-2025"
    cost = df["cost_usd_kWh"].to_numpy() * df["energy_Wh"].to_numpy() / 1000
    thick = evaluate(with_updates(d, {"separator.thickness_um": 2 * s.thickness_um}),
                     prices="china-2025")
    # the sweep re-prices the separator per kg at each thickness, as a fresh evaluation does
    assert cost[0] == pytest.approx(m.cost_usd, rel=1e-12)
    assert cost[1] == pytest.approx(thick.cost_usd, rel=1e-12)
    # and a separator twice as thick over the same area costs the same (per kg it would double)
    assert thick.cost_breakdown_usd["separator"] == pytest.approx(
        m.cost_breakdown_usd["separator"], rel=1e-9)


def test_lithium_foil_costs_more_per_kg_when_thinner():
    d = reference_design("assb-sulfide-li")
    per_kg = {}
    for t in (20.0, 50.0):
        m = evaluate(with_updates(d, {"anode.lithium_thickness_um": t}), prices="china-2025")
        per_kg[t] = m.cost_breakdown_usd["lithium_metal"] / m.mass_breakdown_g["lithium_metal"]
    ingot = load_price_set("china-2025").price("Li_metal").usd_kg
    # USD/g: ingot + 0.5 USD/m2 over the foil's areal mass t x 0.534 g/cm3
    for t, v in per_kg.items():
        assert v * 1000 == pytest.approx(ingot + 0.5 / (t * 0.534e-3), rel=1e-9)
    assert per_kg[20.0] > per_kg[50.0]


def test_a_users_own_price_wins_over_the_set(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("materials:\n  - id: NMC811\n    cost_usd_kg: {value: 60, source: assumed, "
                 "note: our quote}\n", encoding="utf-8")
    lib = priced_library(load_library([f]), "china-2025")
    assert lib["NMC811"].cost_usd_kg.value == 60
    assert lib["LFP"].cost_usd_kg.value == pytest.approx(4.0638)
    assert lib.price_set == "china-2025"


def test_cli_lists_sets_and_prices_design_commands():
    r = CliRunner().invoke(app, ["cost", "prices", "--json"], env={"COLUMNS": "160"})
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["default"] == "china-2025"
    assert {s["name"]: s["date"] for s in data["sets"]}["batpac-2022"] == "2022-06"
    shown = {}
    for args in (["--prices", "batpac-2022"], [], ["--lithium-carbonate", "30"]):
        r = CliRunner().invoke(app, ["show", "ref:lfp-blade", "--json", *args],
                               env={"COLUMNS": "160"})
        assert r.exit_code == 0, r.output
        shown[tuple(args)] = json.loads(r.output)
    old = evaluate(reference_design("lfp-blade"), load_library())
    assert shown[("--prices", "batpac-2022")]["cost_usd_kWh"] == pytest.approx(old.cost_usd_kWh)
    assert shown[()]["price_set"] == "china-2025"
    assert shown[("--lithium-carbonate", "30")]["cost_usd_kWh"] > shown[()]["cost_usd_kWh"]
    r = CliRunner().invoke(app, ["show", "ref:lfp-blade", "--prices", "nope"])
    assert r.exit_code == 2 and "unknown price set" in r.output and "'nope'" in r.output
