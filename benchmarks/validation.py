"""Validation runs behind docs/validation.md: measured data replayed through CASIP's API, and
the solid-state reference cells' rate capability against temperature.

Part 1 - ``maccor_001.txt`` (LG INR21700-M50, Maccor, procedure ``M50_Validation``, 0 degC,
from jepegit/cellpy): each discharge of the test is replayed as one window, from the last
reading of the 2 h rest before it, through the constant-current discharge to 2.5 V, to the end
of the 2 h rest after it. Every window runs with PyBaMM's ``ORegan2022`` and ``Chen2020`` sets
(DFN isothermal, SPMe isothermal, DFN with PyBaMM's lumped thermal model), with
:func:`casip.physics.replay.replay` (measured amps, initial state from the rest voltage,
0 degC given: the file records no temperature). Nothing is fitted.

Part 2 - the solid-state reference designs (``assb-sulfide-li``, ``assb-sulfide-si``,
``oxide-anode-free``) through :func:`casip.physics.rate.rate_capability` at several C-rates
and ambient temperatures (isothermal), and the Arrhenius conductivity the mapping gives their
solid electrolytes.

Writes PNG charts and prints the markdown tables of docs/validation.md:

    .venv/bin/python benchmarks/validation.py --img docs/img

About 2 minutes on 2 cores. The numbers in the doc come from this script; the slow test
``tests/physics/test_validation.py`` re-runs one window and asserts them.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd

from casip.cells import reference_design
from casip.data import read
from casip.physics import parameters_for
from casip.physics.rate import rate_capability
from casip.physics.replay import Profile, replay

MACCOR = Path("/work/shared/data/cycler/maccor_001.txt")
TEMPERATURE_C = 0.0  # the file name and procedure say 0 degC; no temperature channel
CUTOFF_V = 2.5  # the tester's discharge cut-off in this test
#: label -> (first, last) test time [s]: rest before, CC discharge, 2 h rest after
WINDOWS = {
    "C/10 (0.5 A)": (29705.0, 76820.0),
    "C/2 (2.5 A)": (94730.0, 115397.0),
    "1C (5 A)": (132808.0, 150292.0),
    "2C (10 A)": (167497.0, 183172.0),
}
SETS = ("ORegan2022", "Chen2020")
MODELS = (("DFN", "isothermal"), ("SPMe", "isothermal"), ("DFN", "lumped"))

SOLID = ("assb-sulfide-li", "assb-sulfide-si", "oxide-anode-free")
SOLID_RATES = (0.1, 0.33, 0.5, 1.0, 2.0, 3.0)
SOLID_TEMPS_C = (0.0, 25.0, 45.0, 60.0)
SOLID_PRESSURES_MPA = (1.0, 2.0, 5.0, 10.0, 25.0, 50.0)


def discharge_metrics(r) -> dict[str, float]:
    """Errors of one replay split by phase, and the capacity to the tester's cut-off.

    ``relax``: the rest after the discharge (the relaxation); ``dis``: the CC discharge;
    capacities by integrating the measured current over the discharge rows, up to the first
    row where the voltage (measured or simulated) is at or below ``CUTOFF_V``.
    """
    t = r.time_s
    v_m, v_s = r.measured_voltage_v, r.simulated_voltage_v
    st = np.asarray(r.step_type).astype(str)
    dis = np.flatnonzero(st == "cc_discharge")
    i0, i1 = int(dis[0]), int(dis[-1])
    after = np.arange(i1 + 1, len(t))
    after = after[st[after] == "rest"]

    def rmse(idx):
        e = v_s[idx] - v_m[idx]
        e = e[np.isfinite(e)]
        return float(np.sqrt(np.mean(e**2))) * 1e3 if e.size else math.nan

    def capacity(v):
        idx = np.arange(i0, i1 + 1)
        below = np.flatnonzero(np.nan_to_num(v[idx], nan=0.0) <= CUTOFF_V + 1e-4)
        end = idx[below[0]] if below.size else i1
        seg = slice(i0, end + 1)
        return float(np.trapezoid(-r.measured_current_a[seg], t[seg]) / 3600.0), bool(below.size)

    q_m, _ = capacity(v_m)
    q_s, reached = capacity(v_s)
    first10 = np.flatnonzero(t[i0:i1 + 1] - t[i0] <= 10.0) + i0
    return {
        "rmse_all_mV": r.rmse_v * 1e3,
        "rmse_discharge_mV": rmse(np.arange(i0, i1 + 1)),
        "rmse_relax_mV": rmse(after),
        "max_mV": r.max_error_v * 1e3,
        "q_measured_Ah": q_m,
        "q_sim_Ah": q_s,
        "sim_reached_cutoff": reached,
        "drop10_measured_mV": float(v_m[i0 - 1] - v_m[first10[-1]]) * 1e3,
        "drop10_sim_mV": float(v_s[i0 - 1] - v_s[first10[-1]]) * 1e3,
        "relax_measured_mV": float(v_m[after[-1]] - v_m[after[0]]) * 1e3,
        "relax_sim_mV": float(v_s[after[-1]] - v_s[after[0]]) * 1e3,
        "v_end_sim": float(v_s[i1]),
        "stopped_at_h": (float(r.stopped_at_s - t[0]) / 3600.0 if r.stopped_early else math.nan),
        "t_max_sim_c": (float(np.nanmax(r.simulated_temperature_c))
                        if r.simulated_temperature_c is not None else math.nan),
    }


def run_maccor() -> tuple[pd.DataFrame, dict]:
    profile = Profile.from_test(read(MACCOR))
    rows, keep = [], {}
    for label, window in WINDOWS.items():
        for pset in SETS:
            for model, thermal in MODELS:
                t0 = time.perf_counter()
                r = replay(f"pybamm:{pset}", profile, scale="amps", temperature_c=TEMPERATURE_C,
                           window=window, model=model, thermal=thermal)
                m = discharge_metrics(r)
                rows.append({"window": label, "set": pset, "model": model, "thermal": thermal,
                             "stopped_early": r.stopped_early, **m,
                             "wall_s": time.perf_counter() - t0})
                keep[(label, pset, model, thermal)] = r
                print(f"  {label:13s} {pset:10s} {model} {thermal:10s} "
                      f"RMSE {m['rmse_all_mV']:6.1f} mV  ({rows[-1]['wall_s']:.1f} s)", flush=True)
    return pd.DataFrame(rows), keep


def run_solid() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, cond = [], []
    for cid in SOLID:
        design = reference_design(cid)
        setup = parameters_for(design)
        fn = setup.parameter_values["Electrolyte conductivity [S.m-1]"]
        mt = setup.mapping_table()
        ea = mt.loc[mt["parameter"] == "Electrolyte activation energy [eV] (CASIP)", "value"]
        for temp in SOLID_TEMPS_C:
            res = rate_capability(design, SOLID_RATES, temperature_c=temp, num_threads=1)
            for rec in res.table.to_dict("records"):
                rows.append({"cell": cid, "temperature_c": temp, "c_rate": rec["c_rate"],
                             "capacity_Ah": rec["capacity_Ah"],
                             "capacity_retention": rec["capacity_retention"],
                             "energy_retention": rec["energy_retention"],
                             "mean_voltage_V": rec["mean_voltage_V"],
                             "limiting_mechanism": rec["limiting_mechanism"]})
            sigma = float(fn(1000.0, temp + 273.15).evaluate()) if callable(fn) else float(fn)
            cond.append({"cell": cid, "temperature_c": temp, "sigma_S_m": sigma,
                         "ea_eV": float(ea.iloc[0]) if len(ea) else math.nan})
    return pd.DataFrame(rows), pd.DataFrame(cond)


def run_solid_band() -> pd.DataFrame:
    """Joint pessimistic / central / optimistic ends of the sourced ranges, 25 degC."""
    from casip.physics.solid_state import solid_state_band

    rows = []
    for cid in SOLID:
        df = solid_state_band(reference_design(cid), SOLID_RATES, temperature_c=25.0)
        df.insert(0, "cell", cid)
        rows.append(df)
    return pd.concat(rows, ignore_index=True)


def run_solid_pressure() -> pd.DataFrame:
    """Interface resistance and 1C retention of the lithium-metal cells against stack pressure."""
    rows = []
    for cid in ("assb-sulfide-li", "oxide-anode-free"):
        design = reference_design(cid)
        for p in SOLID_PRESSURES_MPA:
            setup = parameters_for(design, stack_pressure_MPa=p)
            res = rate_capability(setup, (0.1, 1.0), num_threads=1)
            ret = float(res.table["capacity_retention"].iloc[-1])
            rows.append({"cell": cid, "pressure_MPa": p,
                         "contact_ohm_cm2": setup.mapping[
                             "Contact resistance [Ohm cm2] (CASIP)"].value,
                         "retention_1c": ret,
                         "warning": any(n.startswith("WARNING") for n in setup.notes)})
    return pd.DataFrame(rows)


def chart_maccor(keep: dict, img: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        ("ORegan2022", "DFN", "isothermal"): ("C0", "-", "ORegan2022 DFN isothermal"),
        ("ORegan2022", "SPMe", "isothermal"): ("C2", "--", "ORegan2022 SPMe isothermal"),
        ("ORegan2022", "DFN", "lumped"): ("C1", "-.", "ORegan2022 DFN lumped thermal"),
        ("Chen2020", "DFN", "isothermal"): ("C3", ":", "Chen2020 DFN isothermal"),
    }
    out = []
    for label in WINDOWS:
        fig, (ax, ax_e) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1.4]})
        ref = keep[(label, "ORegan2022", "DFN", "isothermal")]
        h = (ref.time_s - ref.time_s[0]) / 3600.0
        ax.plot(h, ref.measured_voltage_v, "k", lw=2.2, label="measured (maccor_001, 0 °C)")
        for (pset, model, thermal), (col, ls, name) in styles.items():
            r = keep[(label, pset, model, thermal)]
            ax.plot(h, r.simulated_voltage_v, color=col, ls=ls, lw=1.4,
                    label=f"{name}: RMSE {r.rmse_v * 1e3:.0f} mV")
            ax_e.plot(h, (r.simulated_voltage_v - r.measured_voltage_v) * 1e3, color=col,
                      ls=ls, lw=1.2)
        ax.set_ylabel("voltage [V]")
        ax.set_title(f"LG M50 at 0 °C, {label} discharge window, replayed (measured amps)")
        ax.legend(fontsize=8, loc="upper right")
        ax.grid(alpha=0.3)
        ax_e.axhline(0, color="k", lw=0.8)
        ax_e.set_ylabel("sim - meas [mV]")
        ax_e.set_xlabel("time from window start [h]")
        ax_e.grid(alpha=0.3)
        fig.tight_layout()
        slug = label.split()[0].replace("/", "-").lower()
        path = img / f"validation-m50-{slug}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out.append(path)
    return out


def chart_solid(rate: pd.DataFrame, cond: pd.DataFrame, img: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(rate["cell"]))
    fig, axes = plt.subplots(1, len(cells) + 1, figsize=(4.2 * (len(cells) + 1), 4))
    for ax, cid in zip(axes, cells, strict=False):
        sub = rate[rate["cell"] == cid]
        for temp, g in sub.groupby("temperature_c"):
            ax.plot(g["c_rate"], g["capacity_retention"] * 100, "o-", label=f"{temp:g} °C")
        ax.set_xscale("log")
        ax.set_xlabel("C-rate")
        ax.set_ylabel("capacity vs C/10 at the same T [%]")
        ax.set_ylim(0, 105)
        ax.set_title(cid, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[-1]
    for cid, g in cond.groupby("cell", sort=False):
        ax.semilogy(1000.0 / (g["temperature_c"] + 273.15), g["sigma_S_m"] * 10.0, "o-",
                    label=f"{cid} (Ea {g['ea_eV'].iloc[0]:g} eV)")
    ax.set_xlabel("1000 / T [1/K]")
    ax.set_ylabel("model electrolyte conductivity [mS/cm]")
    ax.set_title("Arrhenius law the mapping applies", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = img / "validation-solid-state.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def chart_solid_band(band: pd.DataFrame, press: pd.DataFrame, img: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(band["cell"]))
    fig, axes = plt.subplots(1, len(cells) + 1, figsize=(4.2 * (len(cells) + 1), 4))
    for ax, cid in zip(axes, cells, strict=False):
        g = band[band["cell"] == cid]
        ax.fill_between(g["c_rate"], g["retention_pessimistic"] * 100,
                        g["retention_optimistic"] * 100, alpha=0.3, label="sourced ranges")
        ax.plot(g["c_rate"], g["retention_central"] * 100, "o-", label="central")
        ax.set_xscale("log")
        ax.set_ylim(0, 105)
        ax.set_xlabel("C-rate")
        ax.set_ylabel("capacity vs C/10, 25 °C [%]")
        ax.set_title(cid, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[-1]
    for cid, g in press.groupby("cell", sort=False):
        ax.plot(g["pressure_MPa"], g["contact_ohm_cm2"], "o-", label=cid)
    ax.axvline(5.0, color="k", ls=":", lw=1)
    ax.text(5.2, ax.get_ylim()[1] * 0.9, "5 MPa (Doux 2020)", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("stack pressure [MPa]")
    ax.set_ylabel("model contact resistance, 25 °C [Ω cm²]")
    ax.set_title("interface resistance vs stack pressure", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = img / "validation-solid-state-band.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown_solid_extra(band: pd.DataFrame, press: pd.DataFrame) -> str:
    lines = ["### sensitivity band at 25 °C (retention vs C/10, %: pessimistic / central / "
             "optimistic)", "",
             "| cell | " + " | ".join(f"{c:g}C" for c in SOLID_RATES) + " |",
             "|" + " --- |" * (1 + len(SOLID_RATES))]
    for cid, g in band.groupby("cell", sort=False):
        cells = [f"{r.retention_pessimistic * 100:.0f} / {r.retention_central * 100:.0f} / "
                 f"{r.retention_optimistic * 100:.0f}" for r in g.itertuples()]
        lines.append(f"| {cid} | " + " | ".join(cells) + " |")
    lines += ["", "### stack pressure (25 °C)", "",
              "| cell | P [MPa] | contact resistance [Ω cm²] | 1C retention [%] | warning |",
              "| --- | --- | --- | --- | --- |"]
    for r in press.itertuples():
        lines.append(f"| {r.cell} | {r.pressure_MPa:g} | {r.contact_ohm_cm2:.2f} | "
                     f"{r.retention_1c * 100:.1f} | {'yes' if r.warning else ''} |")
    return "\n".join(lines)


def markdown(df: pd.DataFrame, rate: pd.DataFrame, cond: pd.DataFrame) -> str:
    lines = ["### maccor_001 windows", "",
             "| window | set | model | RMSE all | discharge | relaxation | max | capacity to "
             "2.5 V, meas / sim [Ah] | sim V at measured end [V] | 10 s drop meas / sim [mV] | "
             "relaxation rise meas / sim [mV] |", "|" + " --- |" * 11]
    for r in df.itertuples():
        cap = f"{r.q_measured_Ah:.2f} / " + (f"{r.q_sim_Ah:.2f}" if r.sim_reached_cutoff
                                              else "not reached")
        v_end = (f"stopped at {r.stopped_at_h:.2f} h" if r.stopped_early
                 else f"{r.v_end_sim:.3f}")
        relax = "—" if math.isnan(r.rmse_relax_mV) else f"{r.rmse_relax_mV:.1f}"
        rise = "—" if math.isnan(r.relax_sim_mV) else f"{r.relax_sim_mV:.0f}"
        th = "" if r.thermal == "isothermal" else " lumped"
        tmax = f", max {r.t_max_sim_c:.1f} °C" if not math.isnan(r.t_max_sim_c) else ""
        lines.append(
            f"| {r.window} | {r.set} | {r.model}{th}{tmax} | {r.rmse_all_mV:.1f} | "
            f"{r.rmse_discharge_mV:.1f} | {relax} | {r.max_mV:.0f} | {cap} | {v_end} | "
            f"{r.drop10_measured_mV:.0f} / {r.drop10_sim_mV:.0f} | "
            f"{r.relax_measured_mV:.0f} / {rise} |")
    lines += ["", "### solid-state rate capability (capacity retention vs C/10, %)", ""]
    piv = rate.pivot_table(index=["cell", "temperature_c"], columns="c_rate",
                           values="capacity_retention")
    lines.append("| cell | T [°C] | " + " | ".join(f"{c:g}C" for c in piv.columns) + " |")
    lines.append("|" + " --- |" * (2 + len(piv.columns)))
    for (cid, temp), row in piv.iterrows():
        lines.append(f"| {cid} | {temp:g} | " + " | ".join(f"{v * 100:.0f}" for v in row) + " |")
    lines += ["", "### limiting mechanism at 1C and 3C", ""]
    sel = rate[rate["c_rate"].isin([1.0, 3.0])]
    for r in sel.itertuples():
        lines.append(f"- {r.cell} {r.temperature_c:g} °C {r.c_rate:g}C: {r.limiting_mechanism}")
    lines += ["", "### model conductivity [mS/cm]", ""]
    for r in cond.itertuples():
        lines.append(f"- {r.cell} {r.temperature_c:g} °C: {r.sigma_S_m * 10:.3g} "
                     f"(Ea {r.ea_eV:g} eV)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--img", type=Path, default=Path("docs/img"))
    ap.add_argument("--csv", type=Path, default=None, help="also write the tables as CSV here")
    ap.add_argument("--solid-only", action="store_true",
                    help="only the solid-state part (section 3 of docs/validation.md)")
    args = ap.parse_args()
    args.img.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.solid_only:
        rate, cond = run_solid()
        band, press = run_solid_band(), run_solid_pressure()
        paths = [chart_solid(rate, cond, args.img), chart_solid_band(band, press, args.img)]
        print(markdown(pd.DataFrame(), rate, cond).split("### solid-state", 1)[1])
        print()
        print(markdown_solid_extra(band, press))
        for p in paths:
            print("wrote", p)
        print(f"total {time.perf_counter() - t0:.0f} s")
        return
    print("maccor_001 replays:")
    df, keep = run_maccor()
    print("solid-state rate capability:")
    rate, cond = run_solid()
    band, press = run_solid_band(), run_solid_pressure()
    paths = [*chart_maccor(keep, args.img), chart_solid(rate, cond, args.img),
             chart_solid_band(band, press, args.img)]
    if args.csv:
        args.csv.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.csv / "validation-m50.csv", index=False)
        rate.to_csv(args.csv / "validation-solid-state.csv", index=False)
    print()
    print(markdown(df, rate, cond))
    print()
    print(markdown_solid_extra(band, press))
    print()
    for p in paths:
        print("wrote", p)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
