"""A cell design put into a reference pack (casip.pack.templates): the platform's template packs
and the benchmark's pack KPIs."""

from __future__ import annotations

import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pytest

from casip.cells import reference_design, reference_ids
from casip.errors import CasipInputError
from casip.pack import evaluate_pack
from casip.pack.templates import (
    BENCHMARK_TEMPLATE,
    design_in_template,
    rows_for,
    template_pack,
    template_size,
)


def test_rows_across_the_template_width_by_hand():
    # blade-ctp: pack 991 mm wide, 3 mm walls, 10 mm clearance -> 965 mm inside; row gap 10 mm
    ref = evaluate_pack("ref:blade-ctp")
    assert ref.width_mm == pytest.approx(991.0)
    assert rows_for("blade-ctp", 46.0) == 17  # floor((965 + 10) / (46 + 10)) = floor(17.41)
    assert rows_for("blade-ctp", 965.0) == 1  # exactly one row of the full width
    assert rows_for("blade-ctp", 2000.0) == 1  # never fewer than one row


def test_the_lfp_cell_in_its_own_template_is_the_reference_pack():
    ref = evaluate_pack("ref:blade-ctp")
    m = design_in_template(reference_design("lfp-blade"), "blade-ctp")
    assert (m.series, m.parallel) == (ref.series, ref.parallel)
    assert m.specific_energy_Wh_kg == pytest.approx(ref.specific_energy_Wh_kg, rel=1e-9)
    assert m.cost_usd_kWh == pytest.approx(ref.cost_usd_kWh, rel=1e-9)
    v, e = template_size("blade-ctp")
    assert v == pytest.approx(ref.nominal_voltage_V) and e == pytest.approx(ref.gross_kWh)


@pytest.mark.parametrize("cell", reference_ids())
def test_every_reference_cell_makes_a_pack_of_the_templates_size_that_never_beats_its_cells(cell):
    ref = evaluate_pack(f"ref:{BENCHMARK_TEMPLATE}")
    m = design_in_template(reference_design(cell))
    # same voltage class (one cell's voltage) and at least the template's energy, at most one
    # parallel string more
    cell_v = m.nominal_voltage_V / m.series
    assert abs(m.nominal_voltage_V - ref.nominal_voltage_V) <= cell_v
    string_kWh = m.gross_kWh / m.parallel
    assert ref.gross_kWh - 1e-6 <= m.gross_kWh * ref.nominal_voltage_V / m.nominal_voltage_V \
        + string_kWh
    assert m.gross_kWh <= ref.gross_kWh * ref.nominal_voltage_V / m.nominal_voltage_V \
        + string_kWh + 1e-6
    # the pack keeps the template's width (rows across it) instead of one long row
    assert m.width_mm <= ref.width_mm * 1.05
    assert m.length_mm < 3.0 * ref.length_mm
    assert m.specific_energy_Wh_kg < m.cell_specific_energy_Wh_kg
    assert m.energy_density_Wh_L < m.cell_energy_density_Wh_L


def test_the_rows_follow_the_cell_in_the_pack_file():
    data, energy = template_pack("blade-ctp", "design", "x", cell_width_mm=46.0)
    assert data["layout"]["rows"] == 17
    assert data["arrangement"]["target_energy_kWh"] == pytest.approx(energy)
    kept, _ = template_pack("blade-ctp", "design", "x")
    assert kept["layout"]["rows"] == 1  # the template's own rows when no width is given


def test_an_unknown_template_names_the_field():
    with pytest.raises(CasipInputError) as e:
        design_in_template(reference_design("lfp-blade"), "no-such-pack")
    assert "template" in str(e.value) and "blade-ctp" in str(e.value)
