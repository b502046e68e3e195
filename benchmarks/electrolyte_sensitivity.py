"""How far the NMC811 pouch reference's 2C and fast-charge results move with electrolyte transport.

One-at-a-time sweeps around the ``nmc811-pouch`` reference cell (Chen2020-based liquid DFN,
isothermal at 25 degC unless said):

* electrolyte diffusivity ``D_e`` scaled by 0.5 to 3 (the base set's Nyman 2008 function, with
  CASIP's Arrhenius temperature dependence, times the factor);
* the Bruggeman exponent ``b`` of all three regions (``D_eff = eps^b D_e``, same for the
  conductivity), 1.0 to 2.0 (the base set has 1.5);
* the ambient temperature, 0 to 45 degC, isothermal;
* 25 degC ambient with PyBaMM's lumped thermal model (the cell heats up).

For each case: the 2C energy retention (2C energy over C/10 energy, constant-current discharge
from full charge, :func:`casip.physics.rate.rate_capability`) and the fastest plating-free 10-80%
CC-CV charge (:func:`casip.physics.charge.fastest_charge`, anode potential vs Li at the
separator >= 0 V). Also the ratio of the 2C current density to an electrolyte limiting current
density (see ``docs/physics.md``, "Electrolyte transport and temperature"),

``i_lim = 2 F c0 D_e(c0, T) / ((1 - t+) (L_s / eps_s^b + L_p / eps_p^b))``,

which collapses the three sweeps onto one curve if electrolyte transport is what limits them.

Writes a chart and prints a markdown table:

    .venv/bin/python benchmarks/electrolyte_sensitivity.py \
        --out docs/img/electrolyte-sensitivity.png
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pandas as pd
import pybamm

from casip.cells import reference_design
from casip.physics.charge import ChargeLimits, fastest_charge
from casip.physics.parameters import F, parameters_for
from casip.physics.rate import rate_capability
from casip.physics.temperature import ZERO_C_K

CELL = "nmc811-pouch"
D_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
BRUGGEMAN = (1.0, 1.25, 1.5, 1.75, 2.0)
TEMPERATURES_C = (0.0, 10.0, 25.0, 35.0, 45.0)
REGIONS = ("Positive electrode", "Negative electrode", "Separator")
DIFF = "Electrolyte diffusivity [m2.s-1]"


def _scaled(fn, k: float):
    def diffusivity(c_e, T):
        return k * fn(c_e, T)

    return diffusivity


def setup_for(d_scale: float = 1.0, bruggeman: float | None = None, temperature_c: float = 25.0):
    setup = parameters_for(reference_design(CELL), temperature_K=temperature_c + ZERO_C_K)
    pv = setup.parameter_values
    if d_scale != 1.0:
        pv[DIFF] = _scaled(pv[DIFF], d_scale)
    if bruggeman is not None:
        for r in REGIONS:
            pv[f"{r} Bruggeman coefficient (electrolyte)"] = bruggeman
    return setup


def limiting_ratio(setup, c_rate: float = 2.0) -> float:
    """2C current density over the electrolyte limiting current density (docstring)."""
    pv = setup.parameter_values
    T = float(pv["Ambient temperature [K]"])
    c0 = float(pv["Initial concentration in electrolyte [mol.m-3]"])
    d = float(pv[DIFF](pybamm.Scalar(c0), pybamm.Scalar(T)).evaluate())
    t_plus = float(pv["Cation transference number"])
    path = sum(
        float(pv[f"{r} thickness [m]"])
        / float(pv[f"{r} porosity"]) ** float(pv[f"{r} Bruggeman coefficient (electrolyte)"])
        for r in ("Separator", "Positive electrode")
    )
    i_lim = 2 * F * c0 * d / ((1 - t_plus) * path)  # A/m2
    area = float(pv["Electrode height [m]"] * pv["Electrode width [m]"])
    return c_rate * setup.capacity_Ah / area / i_lim


def run_case(sweep: str, value: float, setup, thermal: bool = False) -> dict:
    rate = rate_capability(setup, [0.1, 2.0], num_threads=1, use_cache=False, thermal=thermal)
    row2 = rate.table.set_index("c_rate").loc[2.0]
    limits = ChargeLimits(max_temperature_C=60.0) if thermal else None
    charge = fastest_charge(setup, limits=limits)
    return {
        "sweep": sweep,
        "value": value,
        "energy_retention_2C": float(row2["energy_retention"]),
        "mechanism_2C": row2["limiting_mechanism"],
        "max_temperature_2C_C": rate.max_temperature_C[2.0],
        "fastest_charge_min": charge.time_min,
        "fastest_c_rate": charge.c_rate,
        "charge_binding": charge.binding_limit,
        "i_2C_over_i_lim": limiting_ratio(setup),
    }


def study() -> pd.DataFrame:
    rows = []
    for k in D_SCALES:
        rows.append(run_case("diffusivity x", k, setup_for(d_scale=k)))
    for b in BRUGGEMAN:
        rows.append(run_case("Bruggeman b", b, setup_for(bruggeman=b)))
    for t in TEMPERATURES_C:
        rows.append(run_case("temperature [degC]", t, setup_for(temperature_c=t)))
    rows.append(run_case("25 degC, lumped thermal", 25.0, setup_for(), thermal=True))
    return pd.DataFrame(rows)


def chart(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    panels = (
        ("diffusivity x", "electrolyte diffusivity / base set's", 1.0),
        ("Bruggeman b", "Bruggeman exponent b (all regions)", 1.5),
        ("temperature [degC]", "ambient temperature [°C] (isothermal)", 25.0),
    )
    for ax, (sweep, label, ref) in zip(axes, panels, strict=False):
        sub = df[df["sweep"] == sweep]
        ax.plot(sub["value"], 100 * sub["energy_retention_2C"], "o-", color="C0")
        ax.set_xlabel(label)
        ax.set_ylabel("2C energy retention [%]", color="C0")
        ax.set_ylim(0, 100)
        ax.axvline(ref, color="grey", lw=0.8, ls=":")
        ax.axhspan(85, 90, color="C0", alpha=0.1)
        ax2 = ax.twinx()
        ax2.plot(sub["value"], sub["fastest_charge_min"], "s--", color="C3")
        ax2.set_ylabel("fastest plating-free 10-80% [min]", color="C3")
        ax2.set_ylim(0, 1.1 * df["fastest_charge_min"].max())
        ax2.axhspan(25, 35, color="C3", alpha=0.1)
    ax = axes[3]
    iso = df[df["sweep"] != "25 degC, lumped thermal"]
    for i, (sweep, sub) in enumerate(iso.groupby("sweep", sort=False)):
        ax.plot(sub["i_2C_over_i_lim"], 100 * sub["energy_retention_2C"], "o", color=f"C{i + 4}",
                label=sweep)
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("i(2C) / i_lim, electrolyte limiting current")
    ax.set_ylabel("2C energy retention [%]")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.suptitle(
        f"{CELL}: sensitivity to electrolyte transport (shaded: 85-90% at 2C, 25-35 min "
        "10-80% of published cells of this class)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/img/electrolyte-sensitivity.png"))
    ap.add_argument("--csv", type=Path, default=None, help="also write the table as CSV")
    args = ap.parse_args()
    t0 = time.perf_counter()
    df = study()
    chart(df, args.out)
    if args.csv is not None:
        df.to_csv(args.csv, index=False)
    show = df.assign(
        energy_retention_2C=(100 * df["energy_retention_2C"]).round(1),
        max_temperature_2C_C=df["max_temperature_2C_C"].round(1),
        fastest_charge_min=df["fastest_charge_min"].round(1),
        fastest_c_rate=df["fastest_c_rate"].round(2),
        i_2C_over_i_lim=df["i_2C_over_i_lim"].round(2),
    )
    print(show.to_markdown(index=False))
    print(f"\n{len(df)} cases in {time.perf_counter() - t0:.0f} s; chart: {args.out}")


if __name__ == "__main__":
    main()
