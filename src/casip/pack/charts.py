"""Cell-level against pack-level gain over LFP, and pack fast charge from the cell physics.

Gains (:func:`gain_table`, :func:`gains_chart`)
-----------------------------------------------
For every reference cell ``c`` a pack of energy ``E`` (80 kWh by default) is built with the same
construction as :func:`casip.vehicle.charts.model_reference_packs` (400 V, the pack model's
default overheads; prismatic and cylindrical cells cell-to-pack, pouch cells in modules of 24,
stack-pressure hardware where the cell asks the module to hold it). The LFP blade cell's pack
(cell-to-pack) of the same energy is the baseline. The gains are plain quotients:

``cell gain = X_cell(c) / X_cell(lfp-blade)``, ``pack gain = X_pack(c) / X_pack(lfp-blade)``,

for ``X`` = Wh/kg and Wh/L (gross energy, as the cell figures). A pack gain below the cell
gain is the share of the cell's advantage the pack eats: pressure hardware, swelling pads,
module shells.

Pack fast charge (:func:`pack_charge`)
--------------------------------------
The cell's fastest plating-free (and, for lithium-metal cells, CCD-respecting) 10-80 % CC-CV
charge from :func:`casip.physics.charge.fastest_charge` (PyBaMM DFN, default limits) gives the
cell's charge profile (SOC rate and voltage at every SOC,
:func:`casip.vehicle.fastcharge.profile_from_charge`);
:func:`casip.vehicle.fastcharge.pack_fast_charge` turns it, with the pack's usable kWh, the
charger's power and the cooling's heat rejection, into the pack's power at every SOC (the least
of the three limits), the time integrated over 10-80 %, the limit binding longest and the share
of time each binds; the km added use the reference sedan's EPA label consumption with the
pack's mass (:mod:`casip.vehicle.model`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from casip.errors import CasipInputError, Problem

#: The baseline cell of the gains.
BASELINE = "lfp-blade"

#: Heat the pack's cooling rejects while fast charging, when not given [kW]. ASSUMED: the order
#: of a passenger EV's battery chiller duty (single-digit to low double-digit kW); replace it
#: with the real figure of the vehicle studied.
DEFAULT_HEAT_REJECTION_KW = 10.0


def reference_pack_dict(cell_id: str, pack_kwh: float = 80.0) -> dict:
    """The pack file (as a dict) that :func:`gain_table` builds around a reference cell.

    The construction of :func:`casip.vehicle.charts.model_reference_packs`: a 400 V pack of
    at least ``pack_kwh`` gross, integrated per cell format
    (:data:`casip.vehicle.charts.PACK_INTEGRATION`), rows chosen so the floor is about
    :data:`~casip.vehicle.charts.PACK_ASPECT` times as long as wide, modules of
    :data:`~casip.vehicle.charts.CELLS_PER_MODULE` cells; every other field the pack model's
    default.

    Parameters
    ----------
    cell_id : str
        A reference cell id (``casip.cells.reference_ids()``).
    pack_kwh : float
        Target gross energy [kWh].

    Returns
    -------
    dict
        A ``casip.pack/1`` pack file.
    """
    from casip.cells import reference_design, reference_ids
    from casip.design.api import evaluate
    from casip.vehicle.charts import (
        CELLS_PER_MODULE,
        PACK_ASPECT,
        PACK_INTEGRATION,
        PACK_VOLTAGE_V,
    )

    if cell_id not in reference_ids():
        raise CasipInputError(Problem("cell", "unknown reference cell", cell_id,
                                      "one of: " + ", ".join(reference_ids())),
                              source="casip.pack.charts")
    if not (math.isfinite(pack_kwh) and pack_kwh > 0):
        raise CasipInputError(Problem("pack_kwh", "must be a positive number", pack_kwh,
                                      "> 0 kWh"), source="casip.pack.charts")
    cm = evaluate(reference_design(cell_id))
    g = cm.geometry
    w, t = float(g["cell_width_mm"]), float(g["cell_thickness_mm"])
    series = max(1, round(PACK_VOLTAGE_V / cm.nominal_voltage_V))
    n = series * math.ceil(pack_kwh * 1000.0 / (series * cm.energy_Wh))
    rows = int(min(100, max(1, round(math.sqrt(n * t / (w * PACK_ASPECT))))))
    integration = PACK_INTEGRATION.get(cm.format, "modules")
    pack: dict = {
        "schema": "casip.pack/1",
        "name": f"{cell_id} {pack_kwh:g} kWh",
        "cell": f"ref:{cell_id}",
        "arrangement": {"target_voltage_V": PACK_VOLTAGE_V, "target_energy_kWh": float(pack_kwh)},
        "integration": integration,
        "layout": {"rows": rows},
    }
    if integration == "modules":
        pack["layout"]["cells_per_module"] = CELLS_PER_MODULE
    return pack


def gain_table(pack_kwh: float = 80.0, cells: Sequence[str] | None = None) -> list[dict]:
    """Cell-level and pack-level Wh/kg and Wh/L gain over the LFP blade cell and its pack.

    Parameters
    ----------
    pack_kwh : float
        Target gross energy of every pack [kWh] (80 by default).
    cells : sequence of str, optional
        Reference cell ids; all of them by default (the baseline is always evaluated).

    Returns
    -------
    list of dict
        One row per cell: ``cell, format, integration, target_kWh, pack_kWh, cell_Wh_kg, pack_Wh_kg,
        cell_Wh_L, pack_Wh_L, cell_gain_Wh_kg, pack_gain_Wh_kg, cell_gain_Wh_L, pack_gain_Wh_L,
        gravimetric_cell_to_pack, pack_mass_kg`` (gains are ratios; 1 for the baseline).
    """
    from casip.cells import reference_ids
    from casip.pack.api import evaluate_pack

    ids = list(cells) if cells is not None else list(reference_ids())
    metrics = {}
    for cid in dict.fromkeys([BASELINE, *ids]):
        metrics[cid] = evaluate_pack(reference_pack_dict(cid, pack_kwh), f"ref:{cid} pack")
    b = metrics[BASELINE]
    rows = []
    for cid in ids:
        m = metrics[cid]
        rows.append({
            "cell": cid, "format": _format(cid), "integration": m.integration,
            "target_kWh": float(pack_kwh), "pack_kWh": m.gross_kWh, "pack_mass_kg": m.mass_kg,
            "cell_Wh_kg": m.cell_specific_energy_Wh_kg, "pack_Wh_kg": m.specific_energy_Wh_kg,
            "cell_Wh_L": m.cell_energy_density_Wh_L, "pack_Wh_L": m.energy_density_Wh_L,
            "cell_gain_Wh_kg": m.cell_specific_energy_Wh_kg / b.cell_specific_energy_Wh_kg,
            "pack_gain_Wh_kg": m.specific_energy_Wh_kg / b.specific_energy_Wh_kg,
            "cell_gain_Wh_L": m.cell_energy_density_Wh_L / b.cell_energy_density_Wh_L,
            "pack_gain_Wh_L": m.energy_density_Wh_L / b.energy_density_Wh_L,
            "gravimetric_cell_to_pack": m.gravimetric_cell_to_pack,
        })
    return rows


def _format(cell_id: str) -> str:
    from casip.cells import reference_design

    return str(reference_design(cell_id).format.type)


def gains_chart(rows: Sequence[dict], out_dir: str | os.PathLike) -> list[Path]:
    """Write ``pack_gains.png`` and ``pack_gains.html``: cell and pack gain over LFP, per cell.

    Two panels (Wh/kg, Wh/L); for each cell a bar of the cell's gain beside a bar of its
    pack's gain, with the LFP level (1) drawn as a line.

    Parameters
    ----------
    rows : sequence of dict
        Rows of :func:`gain_table`.
    out_dir : path
        Folder to write into (created if missing).

    Returns
    -------
    list of Path
        The PNG and the HTML.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from casip import palette

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [str(r["cell"]) for r in rows]
    kwh = rows[0]["target_kWh"] if rows else float("nan")
    title = f"Gain over the LFP blade cell and its pack (packs of at least {kwh:g} kWh, 400 V)"
    panels = (("Wh_kg", "specific energy (Wh/kg)"), ("Wh_L", "energy density (Wh/L)"))
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    pfig = make_subplots(rows=1, cols=2, subplot_titles=[p[1] for p in panels],
                         shared_yaxes=True)
    for j, (key, label) in enumerate(panels):
        ax = axes[j]
        cell = [float(r[f"cell_gain_{key}"]) for r in rows]
        pack = [float(r[f"pack_gain_{key}"]) for r in rows]
        ax.bar(x - 0.2, cell, 0.4, color=palette.BLUE, label="cell")
        ax.bar(x + 0.2, pack, 0.4, color=palette.ORANGE, hatch="//", label="pack")
        for xi, c, p in zip(x, cell, pack, strict=True):
            ax.text(xi - 0.2, c, f"{c:.2f}", ha="center", va="bottom", fontsize=7)
            ax.text(xi + 0.2, p, f"{p:.2f}", ha="center", va="bottom", fontsize=7)
        ax.axhline(1.0, color=palette.REFERENCE, linewidth=1, linestyle="--")
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
        pfig.add_trace(go.Bar(x=names, y=cell, name="cell", marker_color=palette.BLUE,
                              showlegend=j == 0, legendgroup="cell"), row=1, col=j + 1)
        pfig.add_trace(go.Bar(x=names, y=pack, name="pack", marker_color=palette.ORANGE,
                              marker_pattern_shape="/", showlegend=j == 0,
                              legendgroup="pack"), row=1, col=j + 1)
        pfig.add_hline(y=1.0, line_dash="dash", line_color=palette.REFERENCE, row=1, col=j + 1)
    axes[0].set_ylabel("gain over LFP blade (ratio)")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    png = out / "pack_gains.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    pfig.update_layout(title=title, barmode="group",
                       yaxis_title="gain over LFP blade (ratio)")
    html = out / "pack_gains.html"
    pfig.write_html(html, include_plotlyjs=True, full_html=True)
    return [png, html]


def breakdown_chart(metrics, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``<pack>-breakdown.png`` and ``.html``: where the pack's mass, volume and cost go.

    Three horizontal bar panels (mass kg, volume L, cost USD) of
    :meth:`casip.pack.PackMetrics.breakdown`'s components, the cells first, so the share the
    overheads take (housing, crash frame, pressure hardware...) is read at a glance.

    Parameters
    ----------
    metrics : casip.pack.PackMetrics
        An evaluated pack (:func:`casip.pack.evaluate_pack`).
    out_dir : path
        Folder to write into (created if missing).

    Returns
    -------
    list of Path
        The PNG and the HTML.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from casip import palette

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    panels = (("mass (kg)", metrics.mass_breakdown_kg), ("volume (L)", metrics.volume_breakdown_L),
              ("cost (USD)", metrics.cost_breakdown_usd))
    title = (f"{metrics.name}: {metrics.gross_kWh:.1f} kWh, {metrics.mass_kg:.0f} kg, "
             f"{metrics.specific_energy_Wh_kg:.0f} Wh/kg, {metrics.cost_usd_kWh:.0f} $/kWh")
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    pfig = make_subplots(rows=1, cols=3, subplot_titles=[p[0] for p in panels])
    for j, (label, parts) in enumerate(panels):
        items = [(k, float(v)) for k, v in parts.items() if v and math.isfinite(float(v))]
        names = [k.replace("_", " ") for k, _ in items][::-1]
        values = [v for _, v in items][::-1]
        colours = [palette.BLUE if n == "cells" else palette.ORANGE for n in names]
        axes[j].barh(names, values, color=colours)
        axes[j].set_title(label)
        axes[j].grid(axis="x", alpha=0.3)
        pfig.add_trace(go.Bar(x=values, y=names, orientation="h", marker_color=colours,
                              showlegend=False), row=1, col=j + 1)
    fig.suptitle(title)
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in metrics.name)[:60]
    png = out / f"{stem}-breakdown.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    pfig.update_layout(title=title)
    html = out / f"{stem}-breakdown.html"
    pfig.write_html(html, include_plotlyjs=True, full_html=True)
    return [png, html]


# --------------------------------------------------------------------------------------------
# Pack fast charge from the cell physics


@dataclass
class PackChargeReport:
    """The result of :func:`pack_charge` (powers kW, times min, energies kWh)."""

    pack: str
    cell: str
    usable_kWh: float
    pack_mass_kg: float
    cell_time_10_80_min: float
    cell_c_rate: float
    cell_binding_limit: str
    cell_notes: list[str]
    charger_kw: float
    heat_rejection_kw: float
    vehicle: str
    consumption_wh_km: float
    cell_limited_kw: float
    thermal_limit_kw: float
    power_kw: float
    binding_limit: str
    time_10_80_min: float
    km_per_10_min: float
    peak_kw: float = math.nan
    binding_share: dict[str, float] = field(default_factory=dict)
    km_first_10_min: float = math.nan

    def to_dict(self) -> dict:
        """A JSON-friendly dict."""
        return asdict(self)


def _design_of(pack, folder: Path | None, source: str):
    spec = pack.cell
    if spec.startswith("ref:"):
        from casip.cells import reference_design, reference_ids

        if spec[4:] not in reference_ids():
            raise CasipInputError(Problem("cell", "unknown reference cell", spec,
                                          "one of: " + ", ".join(f"ref:{c}"
                                                                 for c in reference_ids())),
                                  source=source)
        return reference_design(spec[4:])
    from casip.io import read_design

    path = Path(spec)
    if not path.is_absolute() and folder is not None:
        path = folder / path
    return read_design(path)


def pack_charge(
    pack: str | os.PathLike,
    charger_kw: float = 250.0,
    heat_rejection_kw: float = DEFAULT_HEAT_REJECTION_KW,
    vehicle: str = "sedan",
) -> PackChargeReport:
    """Pack 10-80 % fast charge from the cell's physics (module docstring).

    Parameters
    ----------
    pack : str or path
        A pack file or ``ref:ID`` of a reference pack.
    charger_kw : float
        Charger (or inlet) power limit at the battery [kW].
    heat_rejection_kw : float
        Heat the pack's cooling rejects while charging [kW]
        (:data:`DEFAULT_HEAT_REJECTION_KW`, an assumption, by default).
    vehicle : str
        Reference vehicle for the consumption (``sedan`` or ``suv``).

    Returns
    -------
    PackChargeReport

    Raises
    ------
    CasipInputError
        Bad pack file or cell, non-positive charger power or heat rejection, or a cell whose
        fastest charge does not reach 80 % (no 10-80 % time).
    """
    for name, v in (("charger_kw", charger_kw), ("heat_rejection_kw", heat_rejection_kw)):
        if not (math.isfinite(float(v)) and float(v) > 0):
            raise CasipInputError(Problem(name, "must be a positive number", v, "> 0 kW"),
                                  source="casip.pack.charts")
    from casip.pack.api import evaluate_pack, read_pack
    from casip.physics.charge import fastest_charge
    from casip.vehicle.fastcharge import pack_fast_charge, profile_from_charge
    from casip.vehicle.model import label_consumption, vehicle_consumption_wh_km

    pk, src, folder = read_pack(pack)
    m = evaluate_pack(pack)
    design = _design_of(pk, folder, src)
    res = fastest_charge(design)
    if not (math.isfinite(res.time_min) and res.time_min > 0):
        raise CasipInputError(
            Problem("cell", "the cell's fastest charge does not reach 80 % SOC", pk.cell,
                    "a cell with a finite 10-80 % time"), source=src)
    raw = {c: vehicle_consumption_wh_km(vehicle, c, m.mass_kg) for c in ("udds", "hwfet")}
    wh_km = float(label_consumption(raw, "epa"))
    pc = pack_fast_charge(profile_from_charge(res), m.usable_kWh, charger_kw, heat_rejection_kw,
                          wh_km)
    return PackChargeReport(
        pack=m.name, cell=pk.cell, usable_kWh=m.usable_kWh, pack_mass_kg=m.mass_kg,
        cell_time_10_80_min=float(res.time_min), cell_c_rate=float(res.c_rate),
        cell_binding_limit=res.binding_limit, cell_notes=list(res.notes),
        charger_kw=float(charger_kw), heat_rejection_kw=float(heat_rejection_kw),
        vehicle=vehicle, consumption_wh_km=wh_km, cell_limited_kw=pc.cell_limited_kw,
        thermal_limit_kw=pc.thermal_limit_kw, power_kw=pc.power_kw,
        binding_limit=pc.binding_limit, time_10_80_min=pc.time_10_80_min,
        km_per_10_min=pc.km_per_10_min, peak_kw=pc.peak_kw,
        binding_share=dict(pc.binding_share), km_first_10_min=pc.km_first_10_min,
    )


__all__ = [
    "BASELINE", "DEFAULT_HEAT_REJECTION_KW", "PackChargeReport", "gain_table", "gains_chart",
    "pack_charge", "reference_pack_dict",
]
