"""Rate capability and Ragone: capacities, energies, specific values, batching, cache, charts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pybamm = pytest.importorskip("pybamm")

from casip.cells import reference_design  # noqa: E402
from casip.design import evaluate  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.materials import MaterialLibrary, Value, load_library  # noqa: E402
from casip.physics import rate  # noqa: E402
from casip.physics.charts_rate import ragone_figures, rate_figures  # noqa: E402
from casip.physics.rate import (  # noqa: E402
    TABLE_COLUMNS,
    cache_info,
    clear_cache,
    limiting_mechanism,
    ragone,
    rate_capability,
)
from casip.report import write_figures  # noqa: E402

RATES = (0.1, 1.0, 3.0)


@pytest.fixture(scope="module")
def results():
    """Rate capability of the LFP and the sulfide lithium-metal reference cells (computed once)."""
    cells = ("lfp-blade", "assb-sulfide-li")
    return {cid: rate_capability(reference_design(cid), RATES) for cid in cells}


@pytest.mark.parametrize("cell", ["lfp-blade", "assb-sulfide-li"])
def test_rate_capability_table(results, cell):
    r = results[cell]
    t = r.table
    metrics = evaluate(reference_design(cell))
    assert list(t.columns) == list(TABLE_COLUMNS)
    assert list(t["c_rate"]) == list(RATES)
    q = t["capacity_Ah"].to_numpy()
    # capacity falls with C-rate
    assert np.all(np.diff(q) < 0), q
    # C/10 within 5% of the design engine's capacity
    assert q[0] == pytest.approx(metrics.capacity_Ah, rel=0.05)
    assert t["current_A"].to_numpy() == pytest.approx(np.array(RATES) * metrics.capacity_Ah)
    # energy is the integral of V I dt = integral of V dQ at constant current
    for c, curve in r.curves.items():
        row = t[t["c_rate"] == c].iloc[0]
        e = np.trapezoid(curve["voltage_V"], curve["capacity_Ah"])
        assert row["energy_Wh"] == pytest.approx(e, rel=1e-9)
        assert row["capacity_Ah"] == pytest.approx(curve["capacity_Ah"].iloc[-1], rel=1e-9)
        assert row["mean_voltage_V"] == pytest.approx(row["energy_Wh"] / row["capacity_Ah"])
        assert row["power_W"] == pytest.approx(row["energy_Wh"] / row["duration_h"])
        # the discharge ends at the lower cut-off, inside the voltage window
        assert curve["voltage_V"].iloc[-1] == pytest.approx(r.lower_cutoff_V, abs=0.02)
    # specific values use the design engine's cell mass and volume
    assert r.mass_g == pytest.approx(metrics.mass_g)
    assert t["specific_energy_Wh_kg"].to_numpy() == pytest.approx(
        t["energy_Wh"].to_numpy() / (metrics.mass_g / 1000.0)
    )
    assert t["specific_power_W_kg"].to_numpy() == pytest.approx(
        t["power_W"].to_numpy() / (metrics.mass_g / 1000.0)
    )
    assert t["energy_density_Wh_L"].to_numpy() == pytest.approx(
        t["energy_Wh"].to_numpy() / (metrics.volume_cm3 / 1000.0)
    )
    # retention against the lowest rate
    assert t["capacity_retention"].iloc[0] == 1.0
    assert t["energy_retention"].iloc[-1] < t["capacity_retention"].iloc[-1] <= 1.0
    assert t["limiting_mechanism"].iloc[0] == "none (full capacity)"
    assert set(t["limiting_mechanism"]) <= {
        "none (full capacity)",
        "electrolyte depletion",
        "solid diffusion (positive particles)",
        "ionic transport (reaction front)",
        "ohmic/kinetic",
    }
    json.dumps(r.to_dict())  # JSON-friendly


def test_solid_state_is_not_limited_by_electrolyte_depletion(results):
    # a single-ion solid electrolyte (t+ = 1) cannot deplete
    mechanisms = set(results["assb-sulfide-li"].table["limiting_mechanism"])
    assert "electrolyte depletion" not in mechanisms


def test_batched_equals_one_by_one(results):
    batched = results["assb-sulfide-li"].table
    design = reference_design("assb-sulfide-li")
    for c in RATES:
        single = rate_capability(design, [c], num_threads=1, use_cache=False).table.iloc[0]
        row = batched[batched["c_rate"] == c].iloc[0]
        assert single["capacity_Ah"] == pytest.approx(row["capacity_Ah"], rel=2e-3)
        assert single["energy_Wh"] == pytest.approx(row["energy_Wh"], rel=2e-3)


def test_cache_hit_is_free_and_returns_a_copy():
    clear_cache()
    design = reference_design("oxide-anode-free")
    first = rate_capability(design, [0.1, 1.0])
    assert cache_info() == {"hits": 0, "misses": 1, "size": 1}
    first.table.loc[0, "capacity_Ah"] = -1.0  # editing a result does not touch the cache
    second = rate_capability(reference_design("oxide-anode-free"), [1.0, 0.1])  # same set
    assert cache_info()["hits"] == 1
    assert second.table["capacity_Ah"].iloc[0] > 0
    assert second.design_hash == first.design_hash and len(second.design_hash) == 64
    # a different option is a different key
    rate_capability(design, [0.1, 1.0], temperature_K=313.15)
    assert cache_info()["misses"] == 2


def _library_with_lpscl_conductivity(s_cm: float) -> MaterialLibrary:
    lib = load_library()
    mats = dict(lib.materials)
    mats["LPSCl"] = lib["LPSCl"].model_copy(
        update={"ionic_conductivity_S_cm": Value(value=s_cm, source="assumed", note="test")}
    )
    return MaterialLibrary(materials=mats, sources=lib.sources, origin=lib.origin)


def test_weak_solid_electrolyte_lowers_3c_retention(results):
    design = reference_design("assb-sulfide-li")
    lib = _library_with_lpscl_conductivity(0.0018 / 3)
    weak = rate_capability(design, RATES, library=lib)
    # the library content is part of the hash: no stale cache hit with the same file origins
    assert weak.design_hash != results["assb-sulfide-li"].design_hash
    strong_3c = results["assb-sulfide-li"].table["capacity_retention"].iloc[-1]
    weak_3c = weak.table["capacity_retention"].iloc[-1]
    assert weak_3c < strong_3c, (weak_3c, strong_3c)


def test_cut_off_at_start_is_recorded_not_fatal():
    design = reference_design("assb-sulfide-li")
    r = rate_capability(
        design, [0.1, 0.5, 5.0], overrides={"Electrolyte conductivity [S.m-1]": 0.01}
    )
    t = r.table.set_index("c_rate")
    assert t.loc[5.0, "limiting_mechanism"] == "cut-off at start"
    assert t.loc[5.0, "capacity_Ah"] == 0.0 and t.loc[5.0, "energy_Wh"] == 0.0
    assert math.isnan(t.loc[5.0, "mean_voltage_V"])
    assert r.curves[5.0].empty
    assert t.loc[0.1, "capacity_Ah"] > t.loc[0.5, "capacity_Ah"] > 0
    d = r.to_dict()
    json.dumps(d)
    assert d["table"][-1]["mean_voltage_V"] is None


@pytest.mark.parametrize("bad", [[0.0], [-1.0], [], [float("nan")]])
def test_bad_c_rates_are_refused(bad):
    with pytest.raises(CasipInputError, match="c_rates"):
        rate_capability(reference_design("lfp-blade"), bad)


def test_limiting_mechanism_heuristic():
    # full capacity first, then depletion, then diffusion (surface full throughout), then front
    assert limiting_mechanism(0.97, 0.0, 1.0, 1.0, 0.1, 0.85) == "none (full capacity)"
    assert limiting_mechanism(0.5, 0.01, 1.0, 1.0, 0.1, 0.85) == "electrolyte depletion"
    assert limiting_mechanism(0.5, 0.9, 0.86, 0.84, 0.5, 0.85) == (
        "solid diffusion (positive particles)"
    )
    assert limiting_mechanism(0.5, 0.9, 0.95, 0.6, 0.5, 0.85) == "ionic transport (reaction front)"
    assert limiting_mechanism(0.5, 0.9, 0.7, 0.6, 0.5, 0.85) == "ohmic/kinetic"
    assert limiting_mechanism(0.8, 0.9, 0.86, 0.85, 0.9, 0.85) == "ohmic/kinetic"


@pytest.mark.slow
def test_liquid_nmc_3c_is_limited_by_electrolyte_depletion():
    r = rate_capability(reference_design("nmc811-pouch"), RATES)
    assert r.table["limiting_mechanism"].iloc[-1] == "electrolyte depletion"


def test_ragone_one_row_per_design_and_rate(results):
    df = ragone(["lfp-blade", reference_design("assb-sulfide-li")], RATES)  # cached runs
    assert list(df.columns[:5]) == [
        "name",
        "c_rate",
        "specific_energy_Wh_kg",
        "specific_power_W_kg",
        "energy_density_Wh_L",
    ]
    assert len(df) == 2 * len(RATES)
    assert not df.duplicated(["name", "c_rate"]).any()
    lfp = df[df["name"] == results["lfp-blade"].name]
    assert lfp["specific_energy_Wh_kg"].to_numpy() == pytest.approx(
        results["lfp-blade"].table["specific_energy_Wh_kg"].to_numpy()
    )
    # specific power rises with C-rate while specific energy falls
    assert np.all(np.diff(lfp["specific_power_W_kg"].to_numpy()) > 0)
    assert np.all(np.diff(lfp["specific_energy_Wh_kg"].to_numpy()) < 0)


@pytest.mark.slow
def test_ragone_default_covers_supported_reference_cells_incl_lfp():
    ids = rate.supported_reference_ids()
    assert "lfp-blade" in ids and "assb-sulfide-si" in ids
    df = ragone(c_rates=(0.1, 1.0))
    assert df["name"].nunique() == len(ids)
    assert len(df) == 2 * len(ids)


def test_charts_png_and_offline_html(results, tmp_path):
    files = write_figures(rate_figures(results["lfp-blade"]), tmp_path, "rate")
    df = ragone(["lfp-blade", "assb-sulfide-li"], RATES)
    files += write_figures(ragone_figures(df), tmp_path, "ragone")
    for f in files:
        assert f.stat().st_size > 1000
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            html = f.read_text(encoding="utf-8")
            assert "<script src=\"http" not in html
    ragone_html = (tmp_path / "ragone.html").read_text(encoding="utf-8")
    assert '"type":"log"' in ragone_html.replace(" ", "")
