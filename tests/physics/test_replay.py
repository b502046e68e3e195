"""Replay of measured current profiles (casip.physics.replay): rules, synthetic checks that
cannot lie, and a validation against a real LG M50 test (maccor_001.txt, 0 degC)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pybamm = pytest.importorskip("pybamm")

from typer.testing import CliRunner  # noqa: E402

from casip.cli import app  # noqa: E402
from casip.errors import CasipInputError  # noqa: E402
from casip.physics.replay import Profile, replay, setup_from_pybamm  # noqa: E402

MACCOR = Path("/work/shared/data/cycler/maccor_001.txt")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SOC0 = 0.8  # state of charge the synthetic "measurement" starts at


def _synthetic_current() -> tuple[np.ndarray, np.ndarray]:
    """A sampled profile (CASIP sign): rest, 1C discharge, rest, 10 s charge pulse, rest,
    C/2 charge, rest; 10 s sampling, steps switch within 1 s."""
    segments = [(0.0, 300), (-5.0, 1200), (0.0, 600), (2.5, 20), (0.0, 300), (2.5, 900),
                (0.0, 300)]
    t, i, now = [0.0], [0.0], 0.0
    for cur, dur in segments:
        if cur != i[-1]:
            now += 1.0
            t.append(now)
            i.append(cur)
        for _ in range(int(dur // 10)):
            now += 10.0
            t.append(now)
            i.append(cur)
    return np.array(t), np.array(i)


def _raw_chen2020(t: np.ndarray, i: np.ndarray, pv: pybamm.ParameterValues | None = None):
    """The 'measurement': raw PyBaMM DFN on Chen2020 from SOC 0.8, the same sampled current."""
    pv = pv or pybamm.ParameterValues("Chen2020")
    pv.set_initial_state(SOC0, inplace=True)
    pv.update({"Current function [A]": pybamm.Interpolant(t, -i, pybamm.t,
                                                          interpolator="linear")})
    sim = pybamm.Simulation(pybamm.lithium_ion.DFN(), parameter_values=pv,
                            solver=pybamm.IDAKLUSolver())
    sol = sim.solve(t_eval=t, t_interp=t)
    assert sol.termination == "final time"
    return sol["Voltage [V]"].entries


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory) -> Path:
    t, i = _synthetic_current()
    v = _raw_chen2020(t, i)
    path = tmp_path_factory.mktemp("replay") / "synthetic.csv"
    pd.DataFrame({"time_s": t, "current_a": i, "voltage_v": v}).to_csv(path, index=False)
    return path


def _synthetic_power() -> tuple[np.ndarray, np.ndarray]:
    """A sampled power profile [W] (CASIP sign: + charge): rest, 18 W discharge, rest,
    9 W charge, rest; 10 s sampling, steps switch within 1 s."""
    segments = [(0.0, 300), (-18.0, 1200), (0.0, 600), (9.0, 900), (0.0, 300)]
    t, p, now = [0.0], [0.0], 0.0
    for pw, dur in segments:
        if pw != p[-1]:
            now += 1.0
            t.append(now)
            p.append(pw)
        for _ in range(int(dur // 10)):
            now += 10.0
            t.append(now)
            p.append(pw)
    return np.array(t), np.array(p)


@pytest.fixture(scope="module")
def synthetic_power_csv(tmp_path_factory) -> Path:
    """The 'measurement' of a power profile: raw PyBaMM DFN in power mode (positive power is
    discharge in PyBaMM) on Chen2020 from SOC 0.8; CSV with time, power and voltage only."""
    t, pw = _synthetic_power()
    pv = pybamm.ParameterValues("Chen2020")
    pv.set_initial_state(SOC0, inplace=True)
    pv.update({"Power function [W]": pybamm.Interpolant(t, -pw, pybamm.t,
                                                        interpolator="linear")},
              check_already_exists=False)
    sim = pybamm.Simulation(pybamm.lithium_ion.DFN(options={"operating mode": "power"}),
                            parameter_values=pv, solver=pybamm.IDAKLUSolver())
    sol = sim.solve(t_eval=t, t_interp=t)
    assert sol.termination == "final time"
    v = sol["Voltage [V]"].entries
    path = tmp_path_factory.mktemp("replay_power") / "power.csv"
    pd.DataFrame({"time_s": t, "power_w": pw, "voltage_v": v}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def chen() -> object:
    return setup_from_pybamm("Chen2020")


# ------------------------------------------------------------------------------- profiles


def test_profile_from_csv_columns_and_step_types(synthetic_csv):
    p = Profile.from_csv(synthetic_csv)
    assert p.voltage_v is not None and len(p.time_s) == len(p.current_a)
    assert np.all(np.diff(p.time_s) > 0)
    # derived from the current with the hub's rule: the 20 s charge is a pulse
    kinds = set(p.step_type)
    assert {"rest", "cc_discharge", "cc_charge", "pulse"} <= kinds
    assert p.step_type[np.searchsorted(p.time_s, 2113.0)] == "pulse"
    assert any("derived from the current" in n for n in p.notes)


def test_profile_drops_repeated_times_and_refuses_bad_tables():
    df = pd.DataFrame({"time": [0, 1, 1, 2], "current": [0, -1, -1, -1], "voltage": [4, 3.9,
                                                                                     3.9, 3.8]})
    p = Profile.from_frame(df)
    assert list(p.time_s) == [0, 1, 2]
    with pytest.raises(CasipInputError, match="no current column"):
        Profile.from_frame(pd.DataFrame({"time_s": [0, 1], "voltage_v": [4, 4]}))
    with pytest.raises(CasipInputError, match="time goes backwards at row 2"):
        Profile.from_frame(pd.DataFrame({"time_s": [0, 5, 3], "current_a": [0, 0, 0]}))
    with pytest.raises(CasipInputError, match="no such file"):
        Profile.from_csv("/nonexistent/profile.csv")


# ------------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"scale": "kA"}, "scale", "unknown current scaling"),
        ({"scale": "c_rate"}, "tested_capacity_ah", "needs the tested cell's capacity"),
        ({"scale": "amps", "temperature_c": None}, "temperature_c", "records no temperature"),
        ({"scale": "amps", "window": (1e6, 2e6)}, "window", "fewer than two profile rows"),
        ({"scale": "amps", "window": (500.0, 2000.0)}, "initial_soc", "not a rest"),
        ({"scale": "amps", "initial_soc": 1.5}, "initial_soc", "must lie in"),
        ({"scale": "amps", "initial_soc": "guess"}, "initial_soc", "unknown rule"),
        ({"scale": "amps", "model": "P2D"}, "model", "unknown model"),
        ({"scale": "amps", "control": "voltage"}, "control", "unknown control"),
    ],
)
def test_replay_refuses_with_the_field_named(synthetic_csv, chen, kwargs, field, text):
    args = {"temperature_c": 25.0, **kwargs}
    with pytest.raises(CasipInputError, match=text) as exc:
        replay(chen, synthetic_csv, **args)
    assert exc.value.problems[0].field == field


def test_recorded_temperature_is_used_and_a_conflicting_one_refused(synthetic_csv, chen):
    df = pd.read_csv(synthetic_csv)
    df["temperature_c"] = 25.0
    p = Profile.from_frame(df)
    with pytest.raises(CasipInputError, match="records 25 degC") as exc:
        replay(chen, p, scale="amps", temperature_c=0.0, window=(0, 200))
    assert exc.value.problems[0].field == "temperature_c"
    r = replay(chen, p, scale="amps", window=(0, 200))
    assert r.temperature_c == 25.0 and r.temperature_rule.startswith("from the test")


# ------------------------------------------------------------------------------- synthetic


def test_synthetic_replay_reproduces_the_simulated_measurement(synthetic_csv, chen):
    r = replay(chen, synthetic_csv, scale="amps", temperature_c=25.0)
    assert not r.stopped_early and r.stop_reason == "end of the profile"
    assert r.rmse_v < 1e-3, r.errors
    assert r.max_error_v < 3e-3, r.errors
    # the initial state was found from the first rest's voltage (a sign or SOC mistake
    # would give errors of tens to hundreds of mV)
    assert "open-circuit voltage" in r.initial_state
    by_type = r.errors.set_index("step_type")
    for kind in ("rest", "cc_discharge", "cc_charge", "pulse"):
        assert by_type.loc[kind, "points"] > 0
        assert by_type.loc[kind, "rmse_mV"] < 1.0
    assert by_type.loc["all", "points"] == len(r.time_s)


def test_c_rate_on_a_double_capacity_design_doubles_the_current(synthetic_csv, chen):
    w = float(chen.parameter_values["Electrode width [m]"])
    double = setup_from_pybamm(
        "Chen2020", overrides={"Electrode width [m]": 2 * w, "Nominal cell capacity [A.h]": 10.0}
    )
    r = replay(double, synthetic_csv, scale="c_rate", tested_capacity_ah=5.0,
               temperature_c=25.0)
    assert r.current_factor == pytest.approx(2.0)
    np.testing.assert_allclose(r.applied_current_a, 2.0 * r.measured_current_a)
    # a cell twice as wide at twice the current has the same voltage
    assert r.rmse_v < 1e-3, r.errors
    # the amps rule halves the C-rate on the double cell: a different, larger error
    r_amps = replay(double, synthetic_csv, scale="amps", temperature_c=25.0)
    assert r_amps.current_factor == 1.0
    assert r_amps.rmse_v > 5e-3


def test_window_replays_only_its_rows_from_its_own_rest(synthetic_csv, chen):
    p = Profile.from_csv(synthetic_csv)
    full = replay(chen, p, scale="amps", temperature_c=25.0)
    # the 10 min rest after the 1C discharge (t = 1502 .. 2102 s) to the end
    r = replay(chen, p, scale="amps", temperature_c=25.0, window=(1510.0, 1e9))
    inside = p.time_s >= 1510.0
    np.testing.assert_array_equal(r.time_s, p.time_s[inside])
    assert r.window == (p.time_s[inside][0], p.time_s[inside][-1])
    # the rule took the window's own rest (its last voltage), not the profile's first rest
    v_rest_end = p.voltage_v[(p.time_s >= 1510.0) & (p.time_s <= 2102.0)][-1]
    assert abs(r.simulated_voltage_v[0] - v_rest_end) < 2e-3
    # ... and that rest is not relaxed 10 min after 1C (particle gradients remain), so the
    # window replay, started from uniform concentrations, errs where the full replay does not
    full_err = np.sqrt(np.mean((full.simulated_voltage_v[inside] - p.voltage_v[inside]) ** 2))
    assert full_err < 1e-3
    assert r.rmse_v > 3 * full_err + 2e-3, r.errors  # measured: 15.8 mV


def test_power_replay_reproduces_a_raw_pybamm_power_simulation(synthetic_power_csv, chen):
    p = Profile.from_csv(synthetic_power_csv)
    assert p.power_w is not None and any("P / V" in n for n in p.notes)
    r = replay(chen, p, scale="amps", control="power", temperature_c=25.0)
    assert r.control == "power" and not r.stopped_early, r.stop_reason
    assert r.rmse_v < 1e-3, r.errors
    np.testing.assert_allclose(r.applied_power_w, p.power_w)
    # the model drew P / V: discharge current negative (CASIP sign) at 18 W, ~4.6 A
    dis = p.power_w < -1
    assert np.all(r.applied_current_a[dis] < -4.0)
    frame = r.to_frame()
    ok = np.abs(frame["measured_power_w"]) > 1
    np.testing.assert_allclose(frame["simulated_power_w"][ok], frame["measured_power_w"][ok],
                               rtol=1e-3)
    # watts are not taken as amps: the current is P / V (~4.6 A at 18 W), not 18 A
    assert abs(r.applied_current_a[dis].mean()) < 18.0 / 3.0


def test_power_replay_of_a_measured_window_reproduces_the_measured_power(synthetic_csv, chen):
    p = Profile.from_csv(synthetic_csv)  # current and voltage only: power = measured I x V
    assert p.power_w is None
    r = replay(chen, p, scale="amps", control="power", temperature_c=25.0,
               window=(0.0, 1400.0))
    assert not r.stopped_early, r.stop_reason
    assert any("measured I x V" in n for n in r.notes)
    m = (p.time_s >= 0.0) & (p.time_s <= 1400.0)
    p_meas = p.current_a[m] * p.voltage_v[m]
    np.testing.assert_allclose(r.measured_power_w, p_meas)
    p_sim = r.applied_current_a * r.simulated_voltage_v
    on = np.abs(p_meas) > 1.0
    assert on.sum() > 50
    assert np.max(np.abs(p_sim[on] - p_meas[on]) / np.abs(p_meas[on])) < 0.01
    # c_rate scales the power by C_design / C_tested
    rc = replay(chen, p, scale="c_rate", tested_capacity_ah=2.5, control="power",
                temperature_c=25.0, window=(0.0, 400.0))
    assert rc.current_factor == pytest.approx(2.0)
    np.testing.assert_allclose(rc.applied_power_w, 2.0 * rc.measured_power_w)
    assert any("P_model" in n for n in rc.notes)


def test_early_stop_says_where_and_why(chen):
    t = np.arange(0.0, 7201.0, 10.0)
    i = np.where(t < 60, 0.0, -5.0)
    p = Profile.from_frame(pd.DataFrame({"time_s": t, "current_a": i,
                                         "voltage_v": np.full(t.size, 3.5)}))
    r = replay(chen, p, scale="amps", temperature_c=25.0, initial_soc=0.3, cutoff_margin_v=0.0)
    assert r.stopped_early
    assert "Minimum voltage" in r.stop_reason and "2.5" in r.stop_reason
    assert 60.0 < r.stopped_at_s < 7200.0
    after = r.time_s > r.stopped_at_s + 1e-6
    assert after.any() and np.isnan(r.simulated_voltage_v[after]).all()
    assert r.errors.set_index("step_type").loc["all", "points"] == int((~after).sum())


def test_design_replay_starts_at_the_measured_rest_voltage(synthetic_csv):
    from casip.cells import reference_design

    r = replay(reference_design("nmc811-pouch"), synthetic_csv, scale="c_rate",
               tested_capacity_ah=5.0, temperature_c=25.0, window=(0.0, 1200.0))
    assert r.current_factor == pytest.approx(r.applied_current_a.min() / -5.0)
    assert r.current_factor > 10  # a ~77 Ah pouch against the 5 Ah cylinder
    p = Profile.from_csv(synthetic_csv)
    v_rest = p.voltage_v[p.time_s <= 300.0][-1]
    assert abs(r.simulated_voltage_v[0] - v_rest) < 2e-3
    assert not r.stopped_early


# ------------------------------------------------------------------------------- CLI


def test_cli_replay_writes_the_overlay_and_prints_the_table(synthetic_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    r = runner.invoke(app, ["sim", "replay", "--csv", str(synthetic_csv), "--design",
                            "pybamm:Chen2020", "--scale", "amps", "--temperature", "25",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "RMSE" in r.output and "cc_discharge" in r.output
    assert (out / "replay.png").read_bytes().startswith(PNG_MAGIC)
    assert (out / "replay.html").stat().st_size > 1000
    frame = pd.read_csv(out / "replay.csv")
    assert {"measured_voltage_v", "simulated_voltage_v", "error_v"} <= set(frame.columns)
    r = runner.invoke(app, ["sim", "replay", "--csv", str(synthetic_csv), "--design",
                            "pybamm:Chen2020", "--scale", "c-rate", "--tested-capacity", "5",
                            "--temperature", "25", "--window", "0:1400", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["scale"] == "c_rate" and doc["current_factor"] == pytest.approx(1.0)
    assert doc["rmse_mV"] < 1.0 and doc["window_s"][1] <= 1400.0


def test_cli_replay_power_control(synthetic_power_csv, tmp_path):
    r = CliRunner().invoke(app, ["sim", "replay", "--csv", str(synthetic_power_csv),
                                 "--design", "pybamm:Chen2020", "--scale", "amps",
                                 "--control", "power", "--temperature", "25", "--window",
                                 "0:1600", "--json", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["control"] == "power" and doc["rmse_mV"] < 1.0
    frame = pd.read_csv(tmp_path / "o" / "replay.csv")
    assert {"measured_power_w", "applied_power_w", "simulated_power_w"} <= set(frame.columns)


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--scale", "volts"], "--scale"),
        (["--scale", "amps", "--bpx", "x.json"], "--design/--bpx"),
        (["--scale", "amps", "--window", "5"], "--window"),
        (["--scale", "amps", "--initial-soc", "x"], "--initial-soc"),
        (["--scale", "amps", "--control", "voltage"], "--control"),
    ],
)
def test_cli_replay_bad_input_exits_2(synthetic_csv, extra, text):
    r = CliRunner().invoke(app, ["sim", "replay", "--csv", str(synthetic_csv), "--design",
                                 "pybamm:Chen2020", "--temperature", "25", *extra])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and text in r.output


# ------------------------------------------------------------------------------- real data

#: A window of maccor_001: the rest after the third CC-CV charge (step 11), the 2.5 A (0.5C)
#: discharge to 2.5 V (step 12) and its 2 h rest (step 13), at 0 degC (file name
#: "M50_Validation_0deg_01"; the file records no temperature).
MACCOR_WINDOW = (94730.0, 115397.0)
#: Bound on the RMSE of a model not fitted to this cell at 0 degC: the measured voltage drops
#: by about 330 mV in the first 10 s of the 0.5C discharge (4.173 V -> 3.844 V), i.e. the
#: cell's polarisation at 0 degC. A model whose overpotentials are right to within a third of
#: that polarisation has errors of about 100 mV or less; a model that ignores temperature
#: (Chen2020, parameterised at 25 degC without temperature dependence) was measured at 221 mV.
MACCOR_RMSE_BOUND_V = 0.100


@pytest.fixture(scope="module")
def maccor_test():
    if not MACCOR.is_file():
        pytest.skip("shared cycler data not available")
    from casip.data import read

    return read(MACCOR)


@pytest.mark.slow
def test_maccor_m50_replay_against_oregan2022_and_raw_pybamm(maccor_test, tmp_path):
    from casip.data import Store

    # the hub path gives the same profile as the test read directly
    store = Store(tmp_path / "store")
    res = store.add_file(MACCOR)
    p_store = Profile.from_store(store, res.test_id)
    p_test = Profile.from_test(maccor_test)
    np.testing.assert_allclose(p_store.time_s, p_test.time_s)
    np.testing.assert_allclose(p_store.current_a, p_test.current_a)
    np.testing.assert_array_equal(p_store.step_type, p_test.step_type)

    r = replay("pybamm:ORegan2022", p_store, scale="amps", temperature_c=0.0,
               window=MACCOR_WINDOW)
    assert not r.stopped_early, r.stop_reason
    assert r.rmse_v < MACCOR_RMSE_BOUND_V, r.errors  # measured: 55 mV
    kinds = set(r.errors["step_type"])
    assert {"rest", "cc_discharge"} <= kinds

    # the same model in raw PyBaMM on the same profile
    m = (p_test.time_s >= MACCOR_WINDOW[0]) & (p_test.time_s <= MACCOR_WINDOW[1])
    t = p_test.time_s[m] - p_test.time_s[m][0]
    i = p_test.current_a[m]
    rest = np.flatnonzero(p_test.step_type[m] != "rest")[0] - 1
    v_rest = p_test.voltage_v[m][rest]
    pv = pybamm.ParameterValues("ORegan2022")
    pv.update({"Ambient temperature [K]": 273.15, "Initial temperature [K]": 273.15})
    pv.set_initial_state(f"{v_rest} V", inplace=True)
    pv.update({
        "Current function [A]": pybamm.Interpolant(t, -i, pybamm.t, interpolator="linear"),
        "Lower voltage cut-off [V]": 2.2,
        "Upper voltage cut-off [V]": 4.7,
    })
    sim = pybamm.Simulation(pybamm.lithium_ion.DFN(), parameter_values=pv,
                            solver=pybamm.IDAKLUSolver())
    raw = sim.solve(t_eval=t, t_interp=t)["Voltage [V]"].entries
    assert np.max(np.abs(raw - r.simulated_voltage_v)) < 1e-3
    raw_rmse = math.sqrt(np.mean((raw - p_test.voltage_v[m]) ** 2))
    assert raw_rmse == pytest.approx(r.rmse_v, abs=1e-3)
