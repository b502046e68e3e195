"""Stack pressure: which cells need it, the sizing of cell-held hardware, and where it is held.

The plate case is worked by hand from Roark's Table 11.4 case 1a (all edges simply supported,
uniform load): sigma = beta q b^2 / t^2, beta(a/b = 2) = 0.6102.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from casip.cells import reference_design
from casip.design import evaluate, sweep
from casip.design.api import compile as compile_design
from casip.design.pressure import (
    HEAD_NUT_SHANK_LENGTHS,
    pressure_needs,
    roark_beta,
    size_hardware,
)
from casip.errors import CasipInputError
from casip.materials.library import load_library

LIB = load_library()


def _data(cell: str) -> dict:
    return reference_design(cell).model_dump(by_alias=True, exclude_none=True)


def test_plate_thickness_and_mass_by_hand():
    # 200 x 100 mm pressed area at 5 MPa; plates of allowable 250 MPa, four bolts at 400 MPa;
    # the plates cover a 300 x 200 mm cell footprint; steel 7.85 g/cm3; cell 10 mm thick
    hw = size_hardware(5.0, 200.0, 100.0, 10.0, 7.85, 250.0, 400.0, kind="plates_bolts",
                       ties=4, footprint_a_mm=300.0, footprint_b_mm=200.0)
    # t = b sqrt(beta P / sigma) = 100 sqrt(0.6102 x 5 / 250) = 100 x 0.110472 = 11.0472 mm
    t = 100.0 * math.sqrt(0.6102 * 5.0 / 250.0)
    assert t == pytest.approx(11.0472, abs=1e-4)
    assert float(hw["plate_thickness_mm"]) == pytest.approx(t, rel=1e-12)
    # two plates of 300 x 200 mm: 2 x 600 cm2 x 1.104717 cm x 7.85 g/cm3 = 10406.4 g
    assert float(hw["mass_plates_g"]) == pytest.approx(2 * 600 * 1.104717 * 7.85, rel=1e-6)
    assert float(hw["mass_plates_g"]) == pytest.approx(10406.4, abs=0.1)
    # force 5 x 200 x 100 = 100 kN; 250 mm2 of stress area at 400 MPa, 62.5 mm2 per bolt,
    # nominal 62.5 / 0.76 = 82.24 mm2, d = 10.23 mm
    assert float(hw["force_N"]) == pytest.approx(100_000.0)
    nominal = 100_000.0 / 400.0 / 4 / 0.76
    d = math.sqrt(4 * nominal / math.pi)
    assert float(hw["tie_diameter_mm"]) == pytest.approx(d, rel=1e-12)
    assert d == pytest.approx(10.233, abs=1e-3)
    length = 10.0 + 2 * t + HEAD_NUT_SHANK_LENGTHS * d
    assert float(hw["mass_ties_g"]) == pytest.approx(4 * nominal * length * 7.85e-3, rel=1e-12)
    # volume added: plates' box (300 x 200 x (10 + 2t + 2 x 0.8 d)) less the cell's box
    box = 300 * 200 * (10 + 2 * t + 1.6 * d) - 300 * 200 * 10
    assert float(hw["volume_cm3"]) == pytest.approx(box * 1e-3, rel=1e-12)


def test_roark_coefficients_at_the_table_points():
    assert roark_beta(np.array([1.0, 1.4, 2.0, 5.0])) == pytest.approx(
        [0.2874, 0.4530, 0.6102, 0.7476]
    )
    assert float(roark_beta(1e6)) == pytest.approx(0.75, abs=1e-5)  # the long strip


@pytest.mark.parametrize("kind", ["plates_bolts", "bands"])
def test_hardware_grows_with_pressure_and_stack_area(kind):
    P = np.array([0.5, 1.0, 5.0, 20.0])
    by_p = size_hardware(P, 300.0, 100.0, 10.0, 7.87, 237.0, 427.0, kind=kind)
    assert np.all(np.diff(by_p["mass_g"]) > 0) and np.all(np.diff(by_p["volume_cm3"]) > 0)
    # plate thickness goes as sqrt(P): 20 MPa needs twice the plate of 5 MPa
    assert by_p["plate_thickness_mm"][3] / by_p["plate_thickness_mm"][2] == pytest.approx(2.0)
    side = np.array([50.0, 100.0, 200.0, 400.0])
    by_a = size_hardware(5.0, 2 * side, side, 10.0, 7.87, 237.0, 427.0, kind=kind)
    assert np.all(np.diff(by_a["mass_g"]) > 0) and np.all(np.diff(by_a["force_N"]) > 0)


def test_module_or_pack_held_pressure_counts_nothing_on_the_cell():
    bare = _data("assb-sulfide-si")
    bare.pop("pressure_hardware")
    base = evaluate(bare, LIB)
    for where in ("module", "pack"):
        d = _data("assb-sulfide-si")
        d["pressure_hardware"] = {"pressure_MPa": 5.0, "held_by": where}
        m = evaluate(d, LIB)
        assert m.mass_breakdown_g["pressure_hardware"] == 0
        assert m.volume_breakdown_cm3["pressure_hardware"] == 0
        assert m.mass_g == base.mass_g and m.volume_cm3 == base.volume_cm3
        assert not any("stack pressure" in w for w in m.warnings)
    # held by the cell, the same pressure adds sized plates and bolts
    d = _data("assb-sulfide-si")
    d["pressure_hardware"] = {"pressure_MPa": 5.0, "held_by": "cell"}
    comp = compile_design(d, LIB)
    m = evaluate(d, LIB)
    hw = comp.pressure_hardware
    assert m.mass_breakdown_g["pressure_hardware"] == pytest.approx(hw["mass_g"])
    assert m.mass_g == pytest.approx(base.mass_g + comp.pressure_hardware["mass_g"])
    assert m.volume_cm3 == pytest.approx(base.volume_cm3 + comp.pressure_hardware["volume_cm3"])
    assert m.specific_energy_Wh_kg < 0.2 * base.specific_energy_Wh_kg  # kilograms of steel
    assert m.cost_breakdown_usd["pressure_hardware"] > 0


def test_warning_when_a_cell_that_needs_pressure_has_none():
    d = _data("assb-sulfide-si")
    d.pop("pressure_hardware")
    w = evaluate(d, LIB).warnings
    assert any("needs stack pressure" in x and "holds none anywhere" in x for x in w)
    assert any("silicon-rich" in x for x in w)
    # the oxide anode-free reference without its pressure
    d = _data("oxide-anode-free")
    d.pop("pressure_hardware")
    assert any("holds none anywhere" in x for x in evaluate(d, LIB).warnings)
    # liquid graphite cells and the 15 % silicon semi-solid cell need none
    for cell in ("nmc811-pouch", "semi-solid-sic"):
        assert pressure_needs(reference_design(cell), LIB) == []
        assert not any("stack pressure" in x for x in evaluate(reference_design(cell)).warnings)


def test_warning_below_the_literature_minimum():
    d = _data("assb-sulfide-li")
    d["pressure_hardware"]["pressure_MPa"] = 1.0
    w = evaluate(d, LIB).warnings
    assert any("1 is below the 5 MPa" in x and "lithium_sulfide" in x for x in w)
    d = _data("oxide-anode-free")
    d["pressure_hardware"]["pressure_MPa"] = 0.1
    assert any("below the 0.34 MPa" in x for x in evaluate(d, LIB).warnings)
    # the references' own pressures meet their minimums
    for cell in ("assb-sulfide-li", "assb-sulfide-si", "oxide-anode-free"):
        assert not any("stack pressure" in x or "below the" in x
                       for x in evaluate(reference_design(cell)).warnings), cell


def test_old_files_with_explicit_mass_still_load_as_measured_hardware():
    d = _data("assb-sulfide-li")
    d["pressure_hardware"] = {"material": "steel_hardware", "mass_g": 100, "volume_cm3": 20}
    comp = compile_design(d, LIB)
    assert comp.design.pressure_hardware.held_by == "cell"
    assert comp.pressure_hardware == {}  # measured: nothing sized
    m = evaluate(d, LIB)
    assert m.mass_breakdown_g["pressure_hardware"] == 100
    assert m.volume_breakdown_cm3["pressure_hardware"] == 20
    # a stated pressure is then only checked, never used to size
    d["pressure_hardware"]["pressure_MPa"] = 7.0
    assert evaluate(d, LIB).mass_breakdown_g["pressure_hardware"] == 100


@pytest.mark.parametrize(
    ("hw", "match"),
    [
        ({"held_by": "cell"}, "sized from pressure_MPa"),
        ({"held_by": "module"}, "needs pressure_MPa"),
        ({"held_by": "pack", "pressure_MPa": 5, "mass_g": 10, "volume_cm3": 1}, "counts its"),
        ({"mass_g": 10}, "both mass_g and volume_cm3"),
        ({"pressure_MPa": 5, "kind": "clamps"}, "pressure_hardware.kind"),
    ],
)
def test_invalid_pressure_hardware_is_refused(hw, match):
    d = _data("assb-sulfide-li")
    d["pressure_hardware"] = hw
    with pytest.raises(CasipInputError, match=match):
        evaluate(d, LIB)


def test_cell_held_hardware_needs_an_allowable_stress_and_a_flat_cell():
    d = _data("assb-sulfide-li")
    d["pressure_hardware"] = {"pressure_MPa": 5.0, "material": "Al_tab"}
    with pytest.raises(CasipInputError, match=r"pressure_hardware\.material"):
        evaluate(d, LIB)  # not a hardware material
    cyl = _data("nmc811-4680")
    cyl["pressure_hardware"] = {"pressure_MPa": 1.0}
    with pytest.raises(CasipInputError, match="wound cell"):
        evaluate(cyl, LIB)


def test_a_sweep_resizes_cell_held_hardware_per_point():
    d = _data("assb-sulfide-li")
    d["pressure_hardware"] = {"pressure_MPa": 5.0, "kind": "bands"}
    df = sweep(d, {"format.layers": [10, 25]}, library=LIB)
    for layers, got in zip((10, 25), df["mass_pressure_hardware_g"], strict=True):
        d["format"]["layers"] = layers
        assert got == pytest.approx(evaluate(d, LIB).mass_breakdown_g["pressure_hardware"])
    assert df["mass_pressure_hardware_g"].iloc[1] > df["mass_pressure_hardware_g"].iloc[0]
