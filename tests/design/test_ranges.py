"""Range warnings: valid designs far from what real cells use are flagged, with a source."""

from __future__ import annotations

import re

import pytest

from casip.cells import reference_design, reference_ids
from casip.design import evaluate, sweep
from casip.design.ranges import RANGES


def _doc(ref: str) -> dict:
    return reference_design(ref).model_dump(mode="json", by_alias=True, exclude_none=True)


def _with_areal_capacity(ref: str, q: float) -> dict:
    d = _doc(ref)
    for k in ("thickness_um", "loading_mg_cm2"):
        d["cathode"].pop(k, None)
    d["cathode"]["areal_capacity_mAh_cm2"] = q
    return d


def test_a_25_mah_cm2_cathode_is_flagged_with_its_source():
    m = evaluate(_with_areal_capacity("nmc811-pouch", 25.0))
    assert m.geometry["cathode_thickness_um"] > 300  # valid for the schema, absurd in practice
    areal = [w for w in m.warnings if w.startswith("Cathode areal capacity")]
    assert len(areal) == 1, m.warnings
    assert "25 mAh/cm²" in areal[0] and "above the 1-6 mAh/cm²" in areal[0]
    assert "Gallagher et al. 2016" in areal[0]
    assert any(w.startswith("Cathode coating thickness per side") for w in m.warnings)


@pytest.mark.parametrize("ref", reference_ids())
def test_the_reference_cells_stay_inside_every_range(ref):
    m = evaluate(reference_design(ref))
    assert not [w for w in m.warnings if "real cells use" in w], m.warnings


@pytest.mark.parametrize(
    ("ref", "section", "field", "value", "start"),
    [
        ("nmc811-pouch", "cathode", "porosity", 0.6, "Cathode porosity (cathode.porosity) 0.6"),
        ("nmc811-pouch", "cathode", "porosity", 0.05, "Cathode porosity (cathode.porosity) 0.05"),
        ("assb-sulfide-si", "cathode", "porosity", 0.4, "Cathode porosity (cathode.porosity)"),
        ("nmc811-pouch", "separator", "thickness_um", 80.0, "Separator thickness"),
        ("assb-sulfide-si", "separator", "thickness_um", 500.0,
         "Solid-electrolyte separator thickness"),
        ("nmc811-pouch", "anode", "np_ratio", 2.5, "N/P ratio 2.5"),
        ("assb-sulfide-li", "anode", "np_ratio", 5.0, "N/P ratio (lithium excess) 5"),
    ],
)
def test_each_range_warns_outside_and_names_field_value_and_source(
    ref, section, field, value, start
):
    d = _doc(ref)
    d[section][field] = value
    if field == "np_ratio":
        d[section].pop("thickness_um", None)
        d[section].pop("lithium_thickness_um", None)
    m = evaluate(d)
    hits = [w for w in m.warnings if w.startswith(start)]
    assert len(hits) == 1, m.warnings
    assert "real cells use" in hits[0]
    assert re.search(r"(et al\.|& \w+) (19|20)\d\d, ", hits[0]), hits[0]


def test_every_range_cites_a_source_by_author_and_year():
    for r in RANGES:
        assert r.low is not None or r.high is not None
        for cite in r.source.split("; "):
            assert any(str(y) in cite for y in range(1990, 2030)), cite
            assert " et al. " in cite or " & " in cite, cite


def test_a_low_np_ratio_is_not_warned_twice():
    d = _doc("nmc811-pouch")
    d["anode"]["np_ratio"] = 0.8
    d["anode"].pop("thickness_um", None)
    m = evaluate(d)
    assert sum("N/P" in w or "np_ratio" in w for w in m.warnings) == 1, m.warnings


def test_a_sweep_counts_its_points_outside_the_ranges():
    df = sweep(reference_design("nmc811-pouch"),
               {"cathode.areal_capacity_mAh_cm2": [2.0, 4.0, 8.0, 12.0]})
    hits = [w for w in df.attrs["warnings"] if "cathode areal capacity" in w]
    assert hits and hits[0].startswith("2 of 4 points"), df.attrs["warnings"]
