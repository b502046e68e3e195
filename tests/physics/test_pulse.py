"""Pulse resistance: positive, higher at low SOC and with more contact resistance."""

from __future__ import annotations

import numpy as np
import pytest

pybamm = pytest.importorskip("pybamm")

from casip.cells import reference_design  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.physics.pulse import pulse_resistance  # noqa: E402

ASSB = "assb-sulfide-li"
COLUMNS = ["soc", "discharge_resistance_ohm", "charge_resistance_ohm",
           "area_specific_resistance_ohm_cm2"]


def test_pulse_resistance_of_the_solid_state_cell():
    df = pulse_resistance(reference_design(ASSB), (0.1, 0.5, 0.8))
    assert list(df.columns) == COLUMNS
    r = df.set_index("soc")
    assert (r[COLUMNS[1:]].to_numpy() > 0).all()
    # larger at low state of charge (the nearly lithiated cathode)
    assert r.loc[0.1, "discharge_resistance_ohm"] > r.loc[0.5, "discharge_resistance_ohm"]
    assert r.loc[0.1, "charge_resistance_ohm"] > r.loc[0.5, "charge_resistance_ohm"]


def test_contact_resistance_adds_to_the_area_specific_resistance():
    d = reference_design(ASSB)
    lo = pulse_resistance(d, (0.5,), contact_resistance_ohm_cm2=5.0)
    hi = pulse_resistance(d, (0.5,), contact_resistance_ohm_cm2=20.0)
    assert (hi["discharge_resistance_ohm"] > lo["discharge_resistance_ohm"]).all()
    assert (hi["charge_resistance_ohm"] > lo["charge_resistance_ohm"]).all()
    # the contact resistance is ohmic: the ASR grows by the 15 Ohm cm2 added
    asr = "area_specific_resistance_ohm_cm2"
    diff = float(hi[asr][0] - lo[asr][0])
    assert diff == pytest.approx(15.0, rel=0.05)


def test_pulse_resistance_of_a_liquid_cell_and_chart(tmp_path):
    from casip.physics.charts_charge import pulse_figures
    from casip.report import write_figures

    df = pulse_resistance("pybamm:Chen2020", (0.2, 0.5, 0.8))
    # Chen2020 (LG M50, 5 Ah): tens of milliohms at 10 s
    assert np.all((df["discharge_resistance_ohm"] > 0.01) & (df["discharge_resistance_ohm"] < 0.1))
    paths = write_figures(pulse_figures(df, name="Chen2020"), tmp_path, "pulse")
    assert all(p.exists() for p in paths)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"socs": (0.0, 0.5)}, "socs"),
        ({"socs": ()}, "socs"),
        ({"c_rate": 0}, "c_rate"),
        ({"duration_s": -1}, "duration_s"),
    ],
)
def test_bad_pulse_input_is_refused(kwargs, field):
    with pytest.raises(CasipInputError, match=field):
        pulse_resistance("pybamm:Chen2020", **kwargs)


def test_pulse_resistance_of_the_solid_state_silicon_cell():
    df = pulse_resistance(reference_design("assb-sulfide-si"), (0.2, 0.5, 0.8))
    assert list(df.columns) == COLUMNS
    assert (df[COLUMNS[1:]].to_numpy() > 0).all()
    # at least the assumed 5 Ohm cm2 contact resistance
    assert (df["area_specific_resistance_ohm_cm2"] > 5.0).all()
