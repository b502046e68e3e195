"""Projecting a design under a duty: model choice, equality with the named model, refusals."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from casip.cells import reference_design
from casip.cli import app
from casip.errors import CasipInputError
from casip.life import blast
from casip.life.design_life import NMC_GRSI_MODEL, project_design
from casip.life.duty import preset


def test_grsi_model_name_is_in_blast_lite():
    assert NMC_GRSI_MODEL in {m.name for m in blast.list_models()}


def test_lfp_blade_maps_to_the_lfp_model_and_matches_project():
    duty = preset("ev_daily")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = project_design("lfp-blade", duty)
        ref = blast.project("lfp", duty)
    assert frame.attrs["model"] == blast.DEFAULT_MODELS["lfp"]
    assert "LFP" in frame.attrs["mapping"]
    np.testing.assert_allclose(frame["capacity_rel"], ref["capacity_rel"])
    np.testing.assert_allclose(frame["t_years"], ref["t_years"])


def test_silicon_blend_maps_to_grsi_model():
    frame = project_design("ref:semi-solid-sic", preset("ev_daily"), warn=False)
    assert frame.attrs["model"] == NMC_GRSI_MODEL


def test_assb_sulfide_li_uses_lpscl_model_and_fails_ccd_under_fast_charge():
    design = reference_design("assb-sulfide-li")
    daily = project_design(design, preset("ev_daily"), warn=False)
    assert daily.attrs["model"] == "solid-state:LPSCl"
    assert not daily.attrs["failed"]
    fast = project_design(design, preset("ev_fast_charge"), warn=False)
    assert fast.attrs["failed"]
    assert "critical current density" in fast.attrs["failure"]
    # the current density is the design's: C-rate x its cathode areal capacity
    from casip.design import evaluate

    areal = evaluate(design).geometry["cathode_areal_capacity_mAh_cm2"]
    assert fast.attrs["j_charge_mA_cm2"] == pytest.approx(
        preset("ev_fast_charge").charge_c_rate * areal
    )


def test_lco_design_is_refused_with_the_field():
    design = reference_design("nmc811-pouch").model_copy(deep=True)
    design.cathode.active = "LCO"
    with pytest.raises(CasipInputError) as e:
        project_design(design, preset("ev_daily"), warn=False)
    assert "cathode.active" in str(e.value)


def test_solid_kind_with_liquid_separator_is_refused():
    design = reference_design("assb-sulfide-li").model_copy(deep=True)
    design.separator.material = "PE_separator"
    with pytest.raises(CasipInputError) as e:
        project_design(design, preset("ev_daily"), warn=False)
    assert "separator.material" in str(e.value)


def test_cli_life_project_design_json():
    r = CliRunner().invoke(
        app, ["life", "project", "--design", "ref:lfp-blade", "--duty", "ev_daily", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["model"] == blast.DEFAULT_MODELS["lfp"]
    assert out["mapping"]
    assert out["series"]["capacity_rel"]


def test_cli_life_project_model_and_design_are_exclusive():
    r = CliRunner().invoke(
        app,
        ["life", "project", "--design", "ref:lfp-blade", "--model", "lfp", "--duty", "ev_daily"],
    )
    assert r.exit_code == 2
