"""Benchmark: physics batched across designs (issue 17), one build per group vs one per design.

Claims checked, every ratio measured in the same run:

(a) non-geometric variation: 200 designs of the NMC811 pouch with the cathode and anode
    thicknesses fixed (70 and 100 um), a seeded Latin-hypercube-like random sample of cathode
    porosity, separator porosity, ambient temperature and four PyBaMM overrides (positive
    electrode conductivity, positive particle diffusivity, positive exchange-current density,
    negative Bruggeman coefficient), 2C CC-CV 10-80 %. Batched
    (``casip.physics.batch.fast_charge_many``, every design in one group, one build) against
    ``casip.physics.fast_charge`` called once per design. Goal >= 5x.
(b) geometry varying too: the same sample with the cathode thickness also varied, (b1)
    continuously (every design its own mesh: what sharing the symbolic model saves) and (b2)
    on 5 levels, as a factorial study has them (5 builds).

The per-design baseline runs on the first ``--sample`` designs and is **extrapolated
linearly** to 200 (printed as such). The batched runs cover all 200 designs. Both include
mapping each design to PyBaMM parameters (the design engine and the capacity match); the
physics-only ratio (build + solve) is printed too. Results are compared design by design
on the sample (largest relative difference of ``time_min``).

Run: ``python benchmarks/bench_batch_physics.py [--n 200] [--sample 30]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np

OVERRIDES = {
    "Positive electrode conductivity [S.m-1]": (0.05, 0.5),
    "Positive particle diffusivity [m2.s-1]": (1e-15, 1e-14),
    "Positive electrode exchange-current density [A.m-2]": (1.0, 10.0),
    "Negative electrode Bruggeman coefficient (electrolyte)": (1.5, 2.5),
}
C_RATE = 2.0


def sample(n: int, seed: int = 17) -> list[dict]:
    """``n`` points: design updates, overrides and temperature [degC]."""
    rng = np.random.default_rng(seed)

    def lhs(lo: float, hi: float) -> np.ndarray:
        u = (rng.permutation(n) + rng.random(n)) / n
        return lo + u * (hi - lo)

    cols = {
        "cathode.porosity": lhs(0.20, 0.35),
        "separator.porosity": lhs(0.35, 0.55),
        "temperature_c": lhs(15.0, 40.0),
        "cathode.thickness_um": lhs(45.0, 70.0),
        **{k: lhs(*b) for k, b in OVERRIDES.items()},
    }
    return [{k: float(v[i]) for k, v in cols.items()} for i in range(n)]


def designs(points: list[dict], geometry: str) -> tuple[list, list[dict], list[float]]:
    from casip.cells import reference_design
    from casip.design.api import with_updates

    fixed = {"cathode.thickness_um": 70.0, "anode.thickness_um": 100.0}
    base = with_updates(reference_design("nmc811-pouch"), fixed)
    levels = np.linspace(45.0, 70.0, 5)
    out, overs, temps = [], [], []
    for p in points:
        upd = {"cathode.porosity": p["cathode.porosity"],
               "separator.porosity": p["separator.porosity"]}
        if geometry == "continuous":
            upd["cathode.thickness_um"] = p["cathode.thickness_um"]
        elif geometry == "levels":
            upd["cathode.thickness_um"] = float(
                levels[np.argmin(abs(levels - p["cathode.thickness_um"]))]
            )
        out.append(with_updates(base, upd))
        overs.append({k: p[k] for k in OVERRIDES})
        temps.append(p["temperature_c"])
    return out, overs, temps


def per_design(ds, overs, temps, lib) -> tuple[float, list[float]]:
    from casip.physics import fast_charge

    t0 = time.perf_counter()
    times = [
        fast_charge(d, C_RATE, library=lib, overrides=o, temperature_c=t).time_min
        for d, o, t in zip(ds, overs, temps, strict=True)
    ]
    return time.perf_counter() - t0, times


def batched(ds, overs, temps, lib, share_model=True):
    from casip.physics.batch import fast_charge_many

    t0 = time.perf_counter()
    rs = fast_charge_many(
        ds, C_RATE, library=lib, overrides=overs, temperature_c=temps, share_model=share_model
    )
    return time.perf_counter() - t0, rs


def case(name: str, geometry: str, n: int, k: int, lib) -> None:
    pts = sample(n)
    ds, overs, temps = designs(pts, geometry)
    t_one, ref = per_design(ds[:k], overs[:k], temps[:k], lib)
    t_batch, rs = batched(ds, overs, temps, lib)
    extrap = t_one / k * n
    build = sum(g.build_s for g in rs.groups)
    solve = sum(g.solve_s for g in rs.groups)
    diff = max(abs(r.time_min / t - 1) for r, t in zip(rs[:k], ref, strict=True))
    print(f"\n({name}) {n} designs, geometry {geometry}")
    print(f"  per design (fast_charge): {t_one:.2f} s for a sample of {k} -> "
          f"{extrap:.1f} s for {n} (extrapolated linearly), {t_one / k * 1000:.0f} ms/design")
    print(f"  batched (fast_charge_many): {t_batch:.2f} s for {n}: {rs.builds} builds, "
          f"map {rs.map_s:.2f} s, build {build:.2f} s, solve {solve:.2f} s, "
          f"{t_batch / n * 1000:.0f} ms/design")
    print(f"  ratio per-design / batched: {extrap / t_batch:.1f}x "
          f"(physics only, mapping excluded: {(extrap - rs.map_s) / (build + solve):.1f}x)")
    print(f"  largest relative difference of time_min on the sample: {diff:.1e}")
    if geometry == "continuous":
        t_ns, rs2 = batched(ds, overs, temps, lib, share_model=False)
        b2 = sum(g.build_s for g in rs2.groups)
        print(f"  same without sharing the symbolic model: {t_ns:.2f} s (build {b2:.2f} s): "
              f"sharing saves {t_ns - t_batch:.2f} s ({(t_ns - t_batch) / t_ns * 100:.0f} %)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--sample", type=int, default=30)
    args = ap.parse_args()
    from casip.cells import reference_design
    from casip.materials.library import load_library
    from casip.physics import fast_charge

    lib = load_library()
    fast_charge(reference_design("nmc811-pouch"), C_RATE, library=lib)  # warm imports, caches
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}")
    case("a", "fixed", args.n, args.sample, lib)
    case("b1", "continuous", args.n, args.sample, lib)
    case("b2", "levels", args.n, args.sample, lib)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
