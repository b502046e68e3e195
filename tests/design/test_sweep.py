"""Sweeps: one vectorised call over design paths equals evaluating the designs one by one."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from casip.design import evaluate, sweep
from casip.errors import CasipInputError
from casip.materials import build_library

DATA = Path(__file__).resolve().parents[1] / "data"
_lib_path = DATA / "materials_handcheck.yaml"
LIB = build_library([(str(_lib_path), _lib_path.read_text(encoding="utf-8"))])
BASE = yaml.safe_load((DATA / "valid_design_handcheck.yaml").read_text(encoding="utf-8"))

TERMINALS = BASE["format"]["terminals"]
PRISMATIC = {
    "type": "prismatic",
    "length_mm": 150,
    "height_mm": 100,
    "thickness_mm": 30,
    "wall_thickness_mm": 1,
    "can": "CAN_AL",
    "terminals": TERMINALS,
}
METRICS = ("capacity_Ah", "energy_Wh", "mass_g", "volume_cm3", "specific_energy_Wh_kg",
           "energy_density_Wh_L", "cost_usd_kWh", "couple_specific_energy_Wh_kg")


def with_(design: dict, **paths) -> dict:
    """A copy of ``design`` with dotted paths (``cathode__porosity``) replaced."""
    d = copy.deepcopy(design)
    for key, value in paths.items():
        *head, last = key.split("__")
        node = d
        for k in head:
            node = node[k]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return d


def assert_row_matches(row, r):
    for k in METRICS:
        assert row[k] == pytest.approx(getattr(r, k), rel=1e-12), k
    assert row["layers"] == r.geometry["layers"]
    assert row["cathode_thickness_um"] == pytest.approx(r.geometry["cathode_thickness_um"],
                                                         rel=1e-12)
    assert row["status"] == 0


def test_numeric_sweep_equals_one_by_one():
    values = [40.0, 60.0, 80.0, 120.0, 200.0]
    df = sweep(BASE, {"cathode.thickness_um": values}, library=LIB)
    assert list(df["cathode.thickness_um"]) == values
    for t, (_, row) in zip(values, df.iterrows(), strict=True):
        assert_row_matches(row, evaluate(with_(BASE, cathode__thickness_um=t), LIB))
    # a thicker cathode raises the energy
    assert np.all(np.diff(df["energy_Wh"]) > 0)


def test_sweep_of_a_sizing_replaces_the_other_sizing():
    base = with_(BASE, cathode__thickness_um=None, cathode__areal_capacity_mAh_cm2=3.0)
    df = sweep(base, {"cathode.thickness_um": [50.0, 100.0]}, library=LIB)
    for t, (_, row) in zip([50.0, 100.0], df.iterrows(), strict=True):
        d = with_(base, cathode__areal_capacity_mAh_cm2=None, cathode__thickness_um=t)
        assert_row_matches(row, evaluate(d, LIB))


def test_np_sweep_on_a_lithium_foil_sized_by_thickness():
    base = with_(BASE, anode={"type": "lithium_metal", "lithium_thickness_um": 20})
    df = sweep(base, {"anode.np_ratio": [0.5, 1.0, 2.0]}, library=LIB)
    for np_ratio, (_, row) in zip([0.5, 1.0, 2.0], df.iterrows(), strict=True):
        d = with_(base, anode={"type": "lithium_metal", "np_ratio": np_ratio})
        assert_row_matches(row, evaluate(d, LIB))
        assert row["np_ratio"] == pytest.approx(np_ratio, rel=1e-12)


def test_grid_has_the_product_of_the_lengths():
    values = {
        "cathode.thickness_um": [50.0, 70.0, 90.0],
        "separator.thickness_um": [10.0, 20.0],
        "cathode.porosity": [0.2, 0.25, 0.3, 0.35],
    }
    df = sweep(BASE, values, library=LIB)
    assert len(df) == math.prod(len(v) for v in values.values())
    seen = set(zip(*(df[k] for k in values), strict=True))
    assert len(seen) == len(df)
    for _, row in df.iloc[[0, 7, 23]].iterrows():
        d = with_(
            BASE,
            cathode__thickness_um=row["cathode.thickness_um"],
            separator__thickness_um=row["separator.thickness_um"],
            cathode__porosity=row["cathode.porosity"],
        )
        assert_row_matches(row, evaluate(d, LIB))


def test_zipped_sweep_pairs_the_values():
    df = sweep(
        BASE,
        {"cathode.thickness_um": [50.0, 90.0], "separator.thickness_um": [10.0, 30.0]},
        grid=False,
        library=LIB,
    )
    assert len(df) == 2
    r = evaluate(with_(BASE, cathode__thickness_um=90.0, separator__thickness_um=30.0), LIB)
    assert_row_matches(df.iloc[1], r)


def test_zipped_sweep_of_unequal_lengths_raises():
    with pytest.raises(CasipInputError, match="equal length"):
        sweep(
            BASE,
            {"cathode.thickness_um": [50.0, 90.0], "separator.thickness_um": [10.0]},
            grid=False,
            library=LIB,
        )


def test_material_sweep_takes_the_slow_path():
    df = sweep(BASE, {"cathode.active": ["NMC", "LFP"]}, library=LIB)
    assert list(df["cathode.active"]) == ["NMC", "LFP"]
    for mid, (_, row) in zip(["NMC", "LFP"], df.iterrows(), strict=True):
        assert_row_matches(row, evaluate(with_(BASE, cathode__active=mid), LIB))
    # LFP (3.5 V, 150 mAh/g) stores less than NMC (4.0 V, 200 mAh/g) in the same coating
    assert df["energy_Wh"].iloc[1] < df["energy_Wh"].iloc[0]


def test_material_and_number_in_one_grid():
    df = sweep(
        BASE, {"cathode.active": ["NMC", "LFP"], "cathode.thickness_um": [60.0, 90.0]},
        library=LIB,
    )
    assert len(df) == 4
    row = df.iloc[3]
    assert (row["cathode.active"], row["cathode.thickness_um"]) == ("LFP", 90.0)
    assert_row_matches(row, evaluate(with_(BASE, cathode__active="LFP",
                                           cathode__thickness_um=90.0), LIB))


def test_unknown_material_in_a_sweep_raises():
    with pytest.raises(CasipInputError, match="unknown material"):
        sweep(BASE, {"cathode.active": ["NMC", "NOPE"]}, library=LIB)


@pytest.mark.parametrize("values", [[0.2, 1.2], [1.2], [-0.1, 0.3]])
def test_out_of_range_value_names_the_path(values):
    with pytest.raises(CasipInputError) as info:
        sweep(BASE, {"cathode.porosity": values}, library=LIB)
    assert "cathode.porosity" in str(info.value)
    assert any(p.field == "cathode.porosity" for p in info.value.problems)


def test_path_not_in_the_design_raises():
    # a pouch has no diameter
    with pytest.raises(CasipInputError, match="diameter_mm"):
        sweep(BASE, {"format.diameter_mm": [18.0, 21.0]}, library=LIB)


def test_empty_values_raise():
    with pytest.raises(CasipInputError):
        sweep(BASE, {}, library=LIB)
    with pytest.raises(CasipInputError, match="empty"):
        sweep(BASE, {"cathode.thickness_um": []}, library=LIB)


def test_prismatic_sweep_recounts_layers_and_flags_what_does_not_fit():
    base = with_(BASE, format=PRISMATIC)
    df = sweep(base, {"format.thickness_mm": [1.0, 20.0, 30.0]}, library=LIB)
    assert df["status"].iloc[0] != 0  # a 1 mm can holds no layer
    assert math.isnan(df["energy_Wh"].iloc[0])
    assert df["layers"].iloc[2] > df["layers"].iloc[1] > 0
    for t in (20.0, 30.0):
        row = df[df["format.thickness_mm"] == t].iloc[0]
        fmt = dict(PRISMATIC, thickness_mm=t)
        assert_row_matches(row, evaluate(with_(BASE, format=fmt), LIB))


def test_numpy_values_are_accepted():
    df = sweep(BASE, {"format.layers": np.arange(1, 6)}, library=LIB)
    assert list(df["layers"]) == [1, 2, 3, 4, 5]
    e1 = df["energy_Wh"].iloc[0]
    np.testing.assert_allclose(df["energy_Wh"], e1 * np.arange(1, 6), rtol=1e-12)
