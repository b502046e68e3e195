"""Property-based tests of the stack model over random valid designs (handcheck library)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from casip.design import compile as compile_design
from casip.design import evaluate, sweep
from casip.design.engine import MASS_COMPONENTS, VOLUME_COMPONENTS, evaluate_arrays
from casip.materials import build_library

DATA = Path(__file__).resolve().parents[1] / "data"
_path = DATA / "materials_handcheck.yaml"
LIB = build_library([(str(_path), _path.read_text(encoding="utf-8"))])

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TERMINALS = {
    "positive": {"material": "TAB_AL", "width_mm": 20, "thickness_mm": 0.2, "length_mm": 20},
    "negative": {"material": "TAB_NI", "width_mm": 20, "thickness_mm": 0.2, "length_mm": 20},
}


def _f(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def cathodes(draw, solid: bool, double_sided: bool = True):
    active = draw(st.sampled_from(["NMC", "LFP"]))
    w_active = draw(_f(0.6, 0.97))
    rest = 1 - w_active
    split = draw(st.lists(_f(0.0, 1.0), min_size=3, max_size=3))
    if not solid:
        split[0] = 0.0  # no catholyte in a liquid cell
    total = sum(split)
    if total == 0:
        split, total = [0.0, 1.0, 0.0], 1.0
    cly, carb, bind = (rest * x / total for x in split)
    w_active = 1.0 - cly - carb - bind
    c = {
        "active": active,
        "mass_fractions": {
            "active": w_active,
            "catholyte": cly,
            "carbon": carb,
            "binder": bind,
        },
        "porosity": draw(_f(0.0, 0.5)),
        "double_sided": double_sided,
    }
    if cly > 0:
        c["catholyte"] = "LPSCl"
    if carb > 0:
        c["carbon"] = "CB"
    if bind > 0:
        c["binder"] = "BIND"
    sizing = draw(st.sampled_from(["thickness_um", "areal_capacity_mAh_cm2", "loading_mg_cm2"]))
    c[sizing] = draw(
        {"thickness_um": _f(20, 200), "areal_capacity_mAh_cm2": _f(0.5, 8),
         "loading_mg_cm2": _f(5, 50)}[sizing]
    )
    return c


@st.composite
def anodes(draw, solid: bool, atype: str | None = None, min_np: float = 1.0,
           by_thickness: bool = True):
    atype = atype or draw(st.sampled_from(["intercalation", "lithium_metal", "anode_free"]))
    if atype == "intercalation":
        x_si = draw(_f(0.0, 0.5))
        blend = {"GRAPH": 1.0 - x_si, "SI": x_si} if x_si > 1e-3 else {"GRAPH": 1.0}
        w = draw(_f(0.8, 1.0))
        a = {
            "type": "intercalation",
            "active": blend,
            "mass_fractions": {"active": w, "binder": 1.0 - w},
            "porosity": draw(_f(0.0, 0.5)),
            "np_ratio": draw(_f(min_np, 1.5)),
        }
        if by_thickness and draw(st.booleans()):
            del a["np_ratio"]  # sized by its coating thickness; N/P follows
            a["thickness_um"] = draw(_f(10, 250))
        if 1.0 - w > 0:
            a["binder"] = "BIND"
        if solid and draw(st.booleans()):
            a["mass_fractions"] = {"active": w * 0.7, "electrolyte": w * 0.3, "binder": 1.0 - w}
            a["electrolyte"] = "LPSCl"
        return a
    if atype == "lithium_metal":
        if draw(st.booleans()):
            return {"type": "lithium_metal", "np_ratio": draw(_f(0.05, 3.0))}
        return {"type": "lithium_metal", "lithium_thickness_um": draw(_f(0.0, 100.0))}
    return {"type": "anode_free"}


@st.composite
def formats(draw, ftype: str | None = None):
    ftype = ftype or draw(st.sampled_from(["pouch", "prismatic", "cylindrical"]))
    common = {
        "anode_overhang_mm": draw(_f(0.0, 3.0)),
        "separator_overhang_mm": draw(_f(0.0, 3.0)),
        "terminals": TERMINALS,
    }
    if ftype == "pouch":
        return {
            "type": "pouch",
            "electrode_width_mm": draw(_f(20, 300)),
            "electrode_height_mm": draw(_f(20, 300)),
            "layers": draw(st.integers(1, 60)),
            "laminate": "LAM",
            "laminate_thickness_um": draw(_f(50, 200)),
            **common,
        }
    if ftype == "prismatic":
        return {
            "type": "prismatic",
            "length_mm": draw(_f(100, 300)),
            "height_mm": draw(_f(60, 200)),
            "thickness_mm": draw(_f(15, 60)),
            "wall_thickness_mm": draw(_f(0.3, 1.5)),
            "can": "CAN_AL",
            "fill_fraction": draw(_f(0.8, 0.95)),
            **common,
        }
    return {
        "type": "cylindrical",
        "diameter_mm": draw(_f(18, 50)),
        "height_mm": draw(_f(65, 120)),
        "wall_thickness_mm": draw(_f(0.2, 0.6)),
        "can": "CAN_STEEL",
        "mandrel_diameter_mm": draw(_f(0.0, 4.0)),
        **common,
    }


@st.composite
def designs(draw, kind=None, atype=None, ftype=None, min_np: float = 1.0,
            by_thickness: bool = True):
    """Random valid designs; ``by_thickness=False`` keeps intercalation anodes sized by N/P
    (>= ``min_np``) rather than by a coating thickness whose N/P may fall below 1."""
    kind = kind or draw(st.sampled_from(["liquid", "all-solid-state"]))
    solid = kind == "all-solid-state"
    fmt = draw(formats(ftype))
    double = True if fmt["type"] == "cylindrical" else draw(st.booleans())
    d = {
        "schema": "casip.design/1",
        "name": "random",
        "kind": kind,
        "cathode": draw(cathodes(solid, double)),
        "anode": draw(anodes(solid, atype, min_np, by_thickness)),
        "separator": {
            "material": "LPSCl" if solid else "PE",
            "thickness_um": draw(_f(5, 100)),
            "porosity": draw(_f(0.0, 0.3) if solid else _f(0.3, 0.6)),
        },
        "current_collectors": {
            "positive": {"material": "AL", "thickness_um": draw(_f(5, 20))},
            "negative": {"material": "CU", "thickness_um": draw(_f(5, 20))},
        },
        "format": fmt,
    }
    if not solid:
        d["electrolyte"] = {
            "material": "LE",
            "pore_fill": draw(_f(0.5, 1.0)),
            "excess_g_per_Ah": draw(_f(0.0, 2.0)),
        }
    elif draw(st.booleans()):
        d["pressure_hardware"] = {
            "material": "FRAME",
            "mass_g": draw(_f(0, 500)),
            "volume_cm3": draw(_f(0, 100)),
        }
    return d


def _evaluate_ok(d):
    """Evaluate, skipping the (valid) designs whose stack does not fit their can."""
    from casip.errors import CasipInputError

    try:
        return evaluate(d, LIB)
    except CasipInputError as exc:
        assume(not str(exc).startswith("random: format"))
        raise


def rel(a, b, tol=1e-9):
    return a == pytest.approx(b, rel=tol, abs=1e-12)


# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(d=designs(ftype="pouch"), k=st.integers(2, 5))
def test_pouch_layers_scale_energy_and_electrode_masses(d, k):
    r1 = _evaluate_ok(d)
    d2 = copy.deepcopy(d)
    d2["format"]["layers"] = d["format"]["layers"] * k
    r2 = _evaluate_ok(d2)
    assert rel(r2.energy_Wh, k * r1.energy_Wh)
    assert rel(r2.capacity_Ah, k * r1.capacity_Ah)
    for part in ("cathode_active", "catholyte", "cathode_carbon", "cathode_binder",
                 "anode_active", "anode_electrolyte", "anode_binder", "lithium_metal",
                 "separator", "positive_collector"):
        assert rel(r2.mass_breakdown_g[part], k * r1.mass_breakdown_g[part])
    # the pouch keeps its outline; only its thickness follows the stack
    g1, g2 = r1.geometry, r2.geometry
    assert rel(g2["cell_width_mm"], g1["cell_width_mm"])
    assert rel(g2["cell_height_mm"], g1["cell_height_mm"])
    lam_mm = 2 * d["format"]["laminate_thickness_um"] / 1000
    assert rel(g2["cell_thickness_mm"] - lam_mm, g2["stack_thickness_mm"])
    # the film grows only by its side walls, which follow the as-built stack (issue 15)
    w_in = d["format"]["electrode_width_mm"] + 2 * max(
        d["format"]["anode_overhang_mm"], d["format"]["separator_overhang_mm"])
    h_in = d["format"]["electrode_height_mm"] + 2 * max(
        d["format"]["anode_overhang_mm"], d["format"]["separator_overhang_mm"])
    walls_mm2 = 2 * (w_in + h_in) * (
        g2["stack_thickness_discharged_mm"] - g1["stack_thickness_discharged_mm"])
    lam_g_mm2 = d["format"]["laminate_thickness_um"] * 1e-4 * 1.5 * 1e-2  # LAM 1.5 g/cm3
    assert rel(r2.mass_breakdown_g["housing"] - r1.mass_breakdown_g["housing"],
               walls_mm2 * lam_g_mm2, tol=1e-6)
    assert rel(r2.mass_breakdown_g["terminals"], r1.mass_breakdown_g["terminals"])


@SETTINGS
@given(d=designs(ftype="pouch"), extra=_f(1.0, 80.0))
def test_thicker_separator_never_helps_pouch(d, extra):
    r1 = _evaluate_ok(d)
    d2 = copy.deepcopy(d)
    d2["separator"]["thickness_um"] += extra
    r2 = _evaluate_ok(d2)
    assert r2.specific_energy_Wh_kg <= r1.specific_energy_Wh_kg * (1 + 1e-12)
    assert r2.energy_density_Wh_L <= r1.energy_density_Wh_L * (1 + 1e-12)


@SETTINGS
@given(d=designs(ftype="prismatic"), extra=_f(1.0, 80.0))
def test_thicker_separator_never_helps_prismatic(d, extra):
    r1 = _evaluate_ok(d)
    d2 = copy.deepcopy(d)
    d2["separator"]["thickness_um"] += extra
    r2 = _evaluate_ok(d2)
    assert r2.energy_density_Wh_L <= r1.energy_density_Wh_L * (1 + 1e-12)
    assert r2.specific_energy_Wh_kg <= r1.specific_energy_Wh_kg * (1 + 1e-12)


@SETTINGS
@given(d=designs(ftype="pouch"), k=_f(1.05, 3.0))
def test_thicker_cathode_scales_areal_capacity(d, k):
    c = d["cathode"]
    for key in ("areal_capacity_mAh_cm2", "loading_mg_cm2"):
        c.pop(key, None)
    c["thickness_um"] = 50.0
    if d["anode"].get("lithium_thickness_um") is not None:
        d["anode"] = {"type": "lithium_metal", "np_ratio": 1.0}
    if d["anode"].pop("thickness_um", None) is not None:
        d["anode"]["np_ratio"] = 1.2
    r1 = _evaluate_ok(d)
    d2 = copy.deepcopy(d)
    d2["cathode"]["thickness_um"] = 50.0 * k
    r2 = _evaluate_ok(d2)
    assert rel(
        r2.geometry["cathode_areal_capacity_mAh_cm2"],
        k * r1.geometry["cathode_areal_capacity_mAh_cm2"],
    )
    # N/P is held, so the anode (composite or lithium) follows the cathode
    assert rel(r2.geometry["np_ratio"], r1.geometry["np_ratio"])
    if d["anode"]["type"] == "intercalation":
        assert rel(r2.geometry["anode_thickness_um"], k * r1.geometry["anode_thickness_um"])


@SETTINGS
@given(d=designs(kind="all-solid-state"))
def test_all_solid_state_has_no_liquid(d):
    r = _evaluate_ok(d)
    assert r.mass_breakdown_g["liquid_electrolyte"] == 0
    assert r.cost_breakdown_usd["liquid_electrolyte"] == 0


@SETTINGS
@given(d=designs(min_np=1.0, by_thickness=False))
def test_cell_never_beats_its_couple(d):
    r = _evaluate_ok(d)
    assert 0 < r.cell_to_couple_specific_energy < 1
    assert 0 < r.cell_to_couple_energy_density < 1
    assert r.specific_energy_Wh_kg < r.couple_specific_energy_Wh_kg


@SETTINGS
@given(d=designs())
def test_energy_is_capacity_times_voltage(d):
    r = _evaluate_ok(d)
    assert rel(r.energy_Wh, r.capacity_Ah * r.nominal_voltage_V)
    assert rel(r.specific_energy_Wh_kg, r.energy_Wh / r.mass_g * 1000)
    assert rel(r.energy_density_Wh_L, r.energy_Wh / r.volume_cm3 * 1000)


@SETTINGS
@given(d=designs())
def test_breakdowns_sum_to_totals(d):
    r = _evaluate_ok(d)
    assert set(r.mass_breakdown_g) == set(MASS_COMPONENTS)
    assert set(r.volume_breakdown_cm3) == set(VOLUME_COMPONENTS)
    assert rel(math.fsum(r.mass_breakdown_g.values()), r.mass_g)
    assert rel(math.fsum(r.volume_breakdown_cm3.values()), r.volume_cm3)
    assert rel(math.fsum(r.cost_breakdown_usd.values()), r.cost_usd)
    assert all(v >= 0 for v in r.mass_breakdown_g.values())
    assert r.volume_breakdown_cm3["void_and_housing"] > 0


@SETTINGS
@given(d=designs(atype="lithium_metal"), extra=_f(0.5, 100.0))
def test_more_lithium_never_raises_specific_energy(d, extra):
    d["anode"] = {"type": "lithium_metal", "lithium_thickness_um": 10.0}
    r1 = _evaluate_ok(d)
    d2 = copy.deepcopy(d)
    d2["anode"]["lithium_thickness_um"] = 10.0 + extra
    r2 = _evaluate_ok(d2)
    assert r2.specific_energy_Wh_kg < r1.specific_energy_Wh_kg
    assert r2.energy_density_Wh_L <= r1.energy_density_Wh_L * (1 + 1e-12)
    if d["format"]["type"] == "pouch":
        assert rel(r2.energy_Wh, r1.energy_Wh)  # same electrodes, only a thicker stack
    else:
        assert r2.energy_Wh <= r1.energy_Wh * (1 + 1e-12)  # the can holds less electrode


@SETTINGS
@given(ds=st.lists(designs(min_np=0.5), min_size=2, max_size=6))
def test_one_vectorised_call_equals_one_by_one(ds):
    """Any designs, flattened and stacked into arrays, evaluate as they do alone."""
    params = [compile_design(d, LIB).params for d in ds]
    assert all(p.keys() == params[0].keys() for p in params)
    stacked = {k: np.array([p[k] for p in params], dtype=float) for k in params[0]}
    together = evaluate_arrays(stacked)
    for i, p in enumerate(params):
        alone = evaluate_arrays(p)
        for key, v in alone.items():
            np.testing.assert_allclose(together[key][i], v, rtol=1e-12, equal_nan=True,
                                       err_msg=key)


@SETTINGS
@given(
    d=designs(),
    t_sep=st.lists(_f(5, 100), min_size=1, max_size=4),
    t_pcc=_f(5, 20),
)
def test_sweep_equals_evaluating_each_design(d, t_sep, t_pcc):
    df = sweep(
        d,
        {"separator.thickness_um": t_sep, "current_collectors.positive.thickness_um": [t_pcc]},
        library=LIB,
    )
    assert len(df) == len(t_sep)
    for i, t in enumerate(t_sep):
        di = copy.deepcopy(d)
        di["separator"]["thickness_um"] = t
        di["current_collectors"]["positive"]["thickness_um"] = t_pcc
        row = df.iloc[i]
        if row["status"] != 0:
            continue
        r = evaluate(di, LIB)
        assert rel(row["specific_energy_Wh_kg"], r.specific_energy_Wh_kg)
        assert rel(row["energy_density_Wh_L"], r.energy_density_Wh_L)
        assert rel(row["mass_g"], r.mass_g)
        assert rel(row["layers"], r.geometry["layers"])
