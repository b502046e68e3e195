"""Range against pack mass across the reference cells (PNG and self-contained HTML).

:func:`range_vs_pack_mass` takes ``(label, pack_mass_kg, usable_kWh)`` tuples, so any pack
model can feed it. :func:`model_reference_packs` builds them with CASIP's pack model
(:mod:`casip.pack`, the default); :func:`simple_reference_packs` with a one-number shortcut,
kept for comparison:

``pack mass = cell mass / r``, ``cell mass = E_pack / (cell Wh/kg)``,

with ``r`` the gravimetric cell-to-pack ratio of the cell's integration, ASSUMED per cell
format in :data:`CELL_TO_PACK`, and the usable energy taken equal to the pack's energy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from casip.vehicle.model import get_vehicle, label_consumption, vehicle_consumption_wh_km

#: Gravimetric cell-to-pack ratio (pack Wh/kg over cell Wh/kg) by cell format. ASSUMED
#: round values: prismatic cells integrated cell-to-pack (blade style), cylindrical cells
#: in a structural pack, pouch cells in modules (solid-state pouches also need stack-pressure
#: hardware, not counted separately here).
CELL_TO_PACK: dict[str, float] = {"prismatic": 0.80, "cylindrical": 0.75, "pouch": 0.70}

PackTuple = tuple[str, float, float]


def simple_reference_packs(pack_kwh: Sequence[float] = (40, 60, 80, 100, 120)) -> list[PackTuple]:
    """``(cell id, pack mass kg, usable kWh)`` for every reference cell and pack energy."""
    from casip.cells import reference_designs
    from casip.design.api import evaluate

    out: list[PackTuple] = []
    for cell_id, design in reference_designs().items():
        m = evaluate(design)
        ratio = CELL_TO_PACK.get(m.format, 0.70)
        for e in pack_kwh:
            out.append((cell_id, e * 1000.0 / m.specific_energy_Wh_kg / ratio, float(e)))
    return out


#: Integration of the packs :func:`model_reference_packs` builds around each reference cell:
#: prismatic (blade style) and cylindrical (structural, 4680 style) cells cell-to-pack, pouch
#: cells in modules. The pack
#: model's defaults (``casip.pack``, docs/pack.md) supply every other choice.
PACK_INTEGRATION: dict[str, str] = {"prismatic": "cell_to_pack", "cylindrical": "cell_to_pack",
                                    "pouch": "modules"}
#: Floor aspect (length / width) of those packs (ASSUMED: a skateboard pack about twice as long
#: as wide, e.g. roughly 2 m x 1.4 m floors of mid-size EVs).
PACK_ASPECT = 1.5
#: Cells per module of the module packs (ASSUMED, as the MEB-like reference pack).
CELLS_PER_MODULE = 24
#: Nominal pack voltage of those packs [V] (a 400 V class system; series count = round(V / cell V)).
PACK_VOLTAGE_V = 400.0


def model_reference_packs(pack_kwh: Sequence[float] = (40, 60, 80, 100, 120)
                          ) -> list[PackTuple]:
    """``(cell id, pack mass kg, usable kWh)`` from the pack model (:mod:`casip.pack`): for every
    reference cell and target energy, a 400 V pack of that cell with the pack model's default
    housing, thermal, electrical and crash overheads (and the stack-pressure hardware of cells
    that need it, held by the module), integrated as :data:`PACK_INTEGRATION` says."""
    from casip.cells import reference_ids
    from casip.pack import evaluate_pack
    from casip.pack.charts import reference_pack_dict

    out: list[PackTuple] = []
    for cell_id in reference_ids():
        for e in pack_kwh:
            m = evaluate_pack(reference_pack_dict(cell_id, float(e)))
            out.append((cell_id, float(m.mass_kg), float(m.usable_kWh)))
    return out


def range_table(packs: Sequence[PackTuple], vehicle: str = "sedan",
                label: str = "epa") -> list[dict[str, object]]:
    """Range on ``label`` (``epa`` or ``wltp``) of ``vehicle`` for each pack tuple."""
    veh = get_vehicle(vehicle)
    names = [p[0] for p in packs]
    mass = np.array([p[1] for p in packs], dtype=float)
    kwh = np.array([p[2] for p in packs], dtype=float)
    cycles = ("udds", "hwfet") if label.lower() == "epa" else ("wltc3b",)
    raw = {c: vehicle_consumption_wh_km(veh, c, mass) for c in cycles}
    wh_km = label_consumption(raw, label)
    return [
        {"label": n, "pack_mass_kg": float(m), "usable_kwh": float(e), "wh_km": float(w),
         "range_km": float(e * 1000.0 / w)}
        for n, m, e, w in zip(names, mass, kwh, wh_km, strict=True)
    ]


def range_vs_pack_mass(packs: Sequence[PackTuple], out_dir: Path, vehicle: str = "sedan",
                       label: str = "epa") -> list[Path]:
    """Write ``range_vs_pack_mass.png`` and ``.html``: one line per label, range vs pack mass."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    from casip import palette

    rows = range_table(packs, vehicle, label)
    series: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        series.setdefault(str(r["label"]), []).append(r)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"Range ({label.upper()}, {vehicle}) against pack mass"
    fig, ax = plt.subplots(figsize=(8, 5))
    pfig = go.Figure()
    for i, (name, pts) in enumerate(series.items()):
        pts = sorted(pts, key=lambda r: r["pack_mass_kg"])
        x = [p["pack_mass_kg"] for p in pts]
        y = [p["range_km"] for p in pts]
        colour = (palette.REFERENCE if name == "lfp-blade"
                  else palette.colour(i, exclude=(palette.REFERENCE,)))
        ax.plot(x, y, marker=palette.marker(i), linestyle=palette.linestyle(i), color=colour,
                label=name)
        pfig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers",
                                  line={"color": colour, "dash": palette.plotly_dash(i)},
                                  marker={"symbol": palette.plotly_symbol(i)}))
    ax.set_xlabel("pack mass [kg]")
    ax.set_ylabel("range [km]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    png = out_dir / "range_vs_pack_mass.png"
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    pfig.update_layout(title=title, xaxis_title="pack mass [kg]", yaxis_title="range [km]")
    html = out_dir / "range_vs_pack_mass.html"
    pfig.write_html(html, include_plotlyjs=True, full_html=True)
    return [png, html]
