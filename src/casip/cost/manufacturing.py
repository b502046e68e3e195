"""Manufacturing cost of a cell in the BatPaC tradition: cell $/kWh = materials + manufacturing.

A plant of ``plant_GWh`` per year runs a line of process steps (``data/process-*.yaml``). Each
step has a driver (cells, electrode area, electrode mass, ...), a machine with a rate, price,
crew, footprint and energy, and a yield. At the plant's reference size the machine count gives
the step's capital, labour and floor area; at any other throughput they scale as BatPaC's
eq. 5.2 (Nelson et al., ANL-12/55, 2012)::

    X = X0 (R / R0)^p          X = capital, labour hours, floor area

Yields chain backwards from the good cells: a step whose downstream steps keep a fraction
``Y_s`` of what it makes must process ``1 / Y_s`` times the good output, and a material entering
at step ``s`` is bought ``1 / (Y_s y_m)`` times (``y_m`` its own handling loss). The materials
cost is so grossed up; the difference is the scrap line. Overheads follow BatPaC's Table 5.8
(variable overhead, GSA, R&D, depreciation, return on investment, warranty).

All costs are per kWh of good cells. The materials cost in :class:`CostBreakdown` is the design
engine's bill of materials (:attr:`casip.design.CellMetrics.cost_usd_kWh` is that materials cost);
the cell cost adds scrap and manufacturing.

>>> from casip.cells import reference_design  # doctest: +SKIP
>>> from casip.cost import cell_cost  # doctest: +SKIP
>>> round(cell_cost(reference_design("nmc811-pouch")).cell_usd_kWh)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import yaml

from casip.errors import CasipInputError, Problem

#: The processes shipped with CASIP (``data/process-<id>.yaml``).
PROCESSES = ("liquid", "sulfide", "oxide")

#: Drivers a step may be scaled by; per cell, computed from the design.
DRIVERS = (
    "cells",
    "electrode_area_m2",
    "cathode_area_m2",
    "lithium_area_m2",
    "electrode_mass_kg",
    "energy_kWh",
)

#: Mass components that are electrode composites (mixed and coated).
_COMPOSITE = (
    "cathode_active", "catholyte", "cathode_carbon", "cathode_binder",
    "anode_active", "anode_electrolyte", "anode_carbon", "anode_binder",
)

#: Overhead lines, in the order the waterfall shows them.
OVERHEADS = (
    "variable_overhead",
    "gsa",
    "rnd",
    "return_other",
    "warranty",
)

OVERHEAD_LABELS = {
    "variable_overhead": "Variable overhead",
    "gsa": "General, sales, administration",
    "rnd": "Research and development",
    "return_other": "Return on launch and working capital",
    "warranty": "Warranty",
}


# --------------------------------------------------------------------------------------------
# Process data
# --------------------------------------------------------------------------------------------


def _read(pid: str) -> dict:
    name = f"process-{pid}.yaml"
    try:
        text = resources.files("casip.cost").joinpath("data", name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CasipInputError(
            Problem("process", "unknown process", pid, f"one of {', '.join(PROCESSES)}")
        ) from None
    return yaml.safe_load(text)


def _merge(base: dict, diff: dict) -> dict:
    out = copy.deepcopy(base)
    for key in ("plant", "dry_room", "material_entry", "material_yield"):
        for k, v in (diff.get(key) or {}).items():
            out.setdefault(key, {})[k] = v
    steps: dict = out["steps"]
    for sid in diff.get("remove", []) or []:
        steps.pop(sid, None)
        out["material_entry"] = {
            m: s for m, s in out["material_entry"].items() if s != sid
        }
    for sid, spec in (diff.get("steps") or {}).items():
        if sid in steps:
            steps[sid] = {**steps[sid], **spec}
            continue
        after = spec.get("after")
        items = list(steps.items())
        pos = len(items)
        if after is not None:
            keys = [k for k, _ in items]
            if after not in keys:
                raise CasipInputError(
                    Problem(f"steps.{sid}.after", "no such step", after, f"one of {keys}"),
                    source=f"process-{diff.get('id')}.yaml",
                )
            pos = keys.index(after) + 1
        items.insert(pos, (sid, dict(spec)))
        steps = dict(items)
    out["steps"] = steps
    for k in ("id", "name"):
        out[k] = diff.get(k, out.get(k))
    return out


@functools.cache
def _load_cached(pid: str) -> dict:
    data = _read(pid)
    if data.get("base"):
        data = _merge(_load_cached(data["base"]), data)
    return data


def load_process(process: str) -> dict:
    """The process definition (steps in line order, plant, dry room), a fresh copy.

    Parameters
    ----------
    process : str
        ``liquid``, ``sulfide`` or ``oxide``.
    """
    if process not in PROCESSES:
        raise CasipInputError(
            Problem("process", "unknown process", process, f"one of {', '.join(PROCESSES)}")
        )
    return copy.deepcopy(_load_cached(process))


def _val(x: Any) -> float:
    return float(x["value"]) if isinstance(x, Mapping) else float(x)


def _apply_overrides(proc: dict, overrides: Mapping[str, float] | None) -> dict:
    """Set ``plant.wage_usd_h``, ``dry_room.dew_point_C``, ``steps.formation.yield``,
    ``material_yield.separator`` or ``capital_factor`` (all equipment) to a value."""
    proc.setdefault("capital_factor", 1.0)
    for path, value in (overrides or {}).items():
        parts = path.split(".")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise CasipInputError(Problem(path, "must be a number", value)) from None
        if parts == ["capital_factor"]:
            proc["capital_factor"] = v
            continue
        ok = False
        if len(parts) == 2 and parts[0] in ("plant", "dry_room", "material_yield"):
            node = proc.get(parts[0], {})
            if parts[1] in node:
                if isinstance(node[parts[1]], Mapping):
                    node[parts[1]] = {**node[parts[1]], "value": v}
                else:
                    node[parts[1]] = v
                ok = True
        elif len(parts) == 3 and parts[0] == "steps" and parts[1] in proc["steps"]:
            step = proc["steps"][parts[1]]
            if parts[2] == "yield":
                step["yield"] = [v, *step["yield"][1:]]
                ok = True
            elif parts[2] in step and isinstance(step[parts[2]], int | float):
                step[parts[2]] = v
                ok = True
        if not ok:
            raise CasipInputError(
                Problem(path, "not a parameter of this process", value,
                        "plant.<name>, dry_room.<name>, material_yield.<component>, "
                        "steps.<step>.<yield|rate|price_MUSD|crew|area_m2|energy_kWh> "
                        "or capital_factor"),
                source=f"process {proc['id']}",
            )
    return proc


# --------------------------------------------------------------------------------------------
# Inputs from the design engine
# --------------------------------------------------------------------------------------------


def _arrays(obj: Any) -> dict[str, np.ndarray]:
    """Per-cell inputs (arrays): energy, capacity, drivers, material cost by component."""
    from casip.design import engine

    if hasattr(obj, "mass_breakdown_g"):  # CellMetrics
        get = {
            "energy_Wh": obj.energy_Wh,
            "capacity_Ah": obj.capacity_Ah,
            "cathode_area_cm2": obj.geometry["cathode_area_cm2"],
            **{f"mass_{k}_g": v for k, v in obj.mass_breakdown_g.items()},
            **{f"cost_{k}_usd": v for k, v in obj.cost_breakdown_usd.items()},
        }
    elif isinstance(obj, Mapping) and "energy_Wh" in obj:
        get = obj
    elif hasattr(obj, "columns"):  # a DataFrame with the engine's columns
        get = {c: obj[c].to_numpy() for c in obj.columns}
    else:
        from casip.design import evaluate

        return _arrays(evaluate(obj))
    need = ["energy_Wh", "capacity_Ah", "cathode_area_cm2"]
    need += [f"mass_{k}_g" for k in engine.MASS_COMPONENTS]
    need += [f"cost_{k}_usd" for k in engine.MASS_COMPONENTS]
    missing = [k for k in need if k not in get]
    if missing:
        raise CasipInputError(
            Problem("metrics", "lacks the engine outputs the cost model needs", missing[:4],
                    "CellMetrics, a design, or casip.design.engine.evaluate_arrays output")
        )
    out = {k: np.asarray(get[k], dtype=float) for k in need}
    return out


def _drivers_per_kWh(a: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    kWh = a["energy_Wh"] / 1000.0
    cath = a["cathode_area_cm2"] / 1e4
    has_composite_anode = (a["mass_anode_active_g"] > 0)
    has_li = a["mass_lithium_metal_g"] > 0
    electrode_mass = sum(a[f"mass_{k}_g"] for k in _COMPOSITE) / 1000.0
    return {
        "cells": 1.0 / kWh,
        "cathode_area_m2": cath / kWh,
        "electrode_area_m2": cath * (1.0 + has_composite_anode) / kWh,
        "lithium_area_m2": cath * has_li / kWh,
        "electrode_mass_kg": electrode_mass / kWh,
        "energy_kWh": np.ones_like(kWh),
    }


def default_process(design_or_metrics: Any) -> str:
    """The process a design is made by: ``sulfide`` or ``oxide`` for a solid-electrolyte
    separator (by whether it holds sulfur), else ``liquid``."""
    from casip.design.schema import Design

    d = design_or_metrics
    if isinstance(d, Mapping) and "separator" in d:
        sep = d["separator"].get("material")
    elif isinstance(d, Design):
        sep = d.separator.material
    elif str(getattr(d, "kind", "")) in ("liquid", "semi-solid"):
        return "liquid"  # a liquid or semi-solid cell's metrics: filled on the liquid line
    else:
        # an all-solid-state cell's metrics (or arrays) do not say which solid electrolyte,
        # so not which line: refuse rather than cost it on the liquid line
        raise CasipInputError(
            Problem("process", "cannot tell the production line from these metrics",
                    getattr(d, "name", type(d).__name__),
                    "process='sulfide'|'oxide'|'liquid', or the design itself"))
    from casip.materials import load_library

    lib = load_library()
    if sep not in lib:
        return "liquid"
    m = lib[sep]
    if str(getattr(m.category, "value", m.category)) != "solid_electrolyte":
        return "liquid"
    return "sulfide" if "S" in lib.elements(sep) else "oxide"


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass
class CostBreakdown:
    """Cell cost per kWh of good cells, by what it is. Arrays for many designs, floats for one.

    Attributes
    ----------
    materials_usd_kWh : materials cost of the finished cell (the engine's bill of materials)
    scrap_usd_kWh : materials bought and lost to yield and handling (``materials_by_component``
        grossed up minus the net)
    steps_usd_kWh : per step, dict of ``capital`` (depreciation + return on equipment and
        building), ``labour``, ``energy`` and their ``total``
    overheads_usd_kWh : variable overhead, GSA, R&D, return on launch and working capital,
        warranty
    manufacturing_usd_kWh : steps + overheads (scrap is a materials cost, kept apart)
    cell_usd_kWh : materials + scrap + manufacturing
    """

    process: str
    plant_GWh: float
    materials_usd_kWh: Any
    materials_by_component_usd_kWh: dict[str, Any]
    scrap_usd_kWh: Any
    scrap_by_component_usd_kWh: dict[str, Any]
    steps_usd_kWh: dict[str, dict[str, Any]]
    step_labels: dict[str, str]
    overheads_usd_kWh: dict[str, Any]
    manufacturing_usd_kWh: Any
    cell_usd_kWh: Any
    capital_MUSD: dict[str, Any]
    building_MUSD: Any
    investment_MUSD: Any
    labour_workers_per_shift: Any
    energy_kWh_per_kWh: Any
    dry_room_area_m2: Any
    cumulative_yield: dict[str, Any]
    line_yield: Any
    notes: list[str] = field(default_factory=list)

    def step_totals(self) -> dict[str, Any]:
        """Per step: capital + labour + energy, $/kWh."""
        return {s: v["total"] for s, v in self.steps_usd_kWh.items()}

    def shares(self) -> dict[str, Any]:
        """Share of the step total (capital + labour + energy, no overheads) by step."""
        tot = sum(self.step_totals().values())
        return {s: v / tot for s, v in self.step_totals().items()}

    def capital_shares(self) -> dict[str, Any]:
        """Share of installed equipment capital by step."""
        tot = sum(self.capital_MUSD.values())
        return {s: v / tot for s, v in self.capital_MUSD.items()}

    def to_dict(self) -> dict:
        """JSON-friendly: numpy arrays become lists, scalars floats, NaN None."""

        def clean(x):
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            if isinstance(x, np.ndarray):
                return clean(x.tolist()) if x.ndim else clean(float(x))
            if isinstance(x, float | np.floating):
                return float(x) if math.isfinite(x) else None
            return x

        return clean({k: getattr(self, k) for k in self.__dataclass_fields__})

    def table(self):
        """A long table of one design's breakdown: (group, item, usd_kWh)."""
        import pandas as pd

        rows = [("materials", k, v) for k, v in self.materials_by_component_usd_kWh.items()]
        rows += [("scrap", k, v) for k, v in self.scrap_by_component_usd_kWh.items()]
        for s, parts in self.steps_usd_kWh.items():
            rows += [(f"step:{s}", k, v) for k, v in parts.items() if k != "total"]
        rows += [("overhead", k, v) for k, v in self.overheads_usd_kWh.items()]
        rows += [("total", "materials", self.materials_usd_kWh),
                 ("total", "scrap", self.scrap_usd_kWh),
                 ("total", "manufacturing", self.manufacturing_usd_kWh),
                 ("total", "cell", self.cell_usd_kWh)]
        return pd.DataFrame(
            [(g, i, float(np.asarray(v).ravel()[0]) if np.ndim(v) else float(v))
             for g, i, v in rows],
            columns=["group", "item", "usd_kWh"],
        )


def _scalarise(x: Any, scalar: bool) -> Any:
    if isinstance(x, dict):
        return {k: _scalarise(v, scalar) for k, v in x.items()}
    if scalar and isinstance(x, np.ndarray):
        return float(x.ravel()[0])
    return x


def manufacturing_cost(
    metrics_or_design: Any,
    *,
    plant_GWh: float = 10.0,
    process: str | None = None,
    overrides: Mapping[str, float] | None = None,
) -> CostBreakdown:
    """Cell cost per kWh: materials (grossed up for yield) + manufacturing, with a breakdown.

    Parameters
    ----------
    metrics_or_design : CellMetrics, Design, dict, or engine arrays
        One evaluated cell (:func:`casip.design.evaluate`), a design to evaluate, or the dict of
        arrays from :func:`casip.design.engine.evaluate_arrays` (vectorised: one result per
        element).
    plant_GWh : float
        Good cell energy the plant makes per year [GWh/yr].
    process : str, optional
        ``liquid``, ``sulfide`` or ``oxide``; by default from the design's separator (a sulfide
        or oxide solid electrolyte), else ``liquid``.
    overrides : mapping, optional
        Parameter paths to values, e.g. ``{"steps.formation.yield": 0.9,
        "plant.wage_usd_h": 20, "dry_room.dew_point_C": -50, "capital_factor": 1.2}``.

    Returns
    -------
    CostBreakdown
        Per kWh of good cells; floats for one cell, arrays for engine arrays.

    Raises
    ------
    CasipInputError
        For an unknown process, a bad override or a non-positive plant size.
    """
    if not (isinstance(plant_GWh, int | float) and math.isfinite(plant_GWh) and plant_GWh > 0):
        raise CasipInputError(Problem("plant_GWh", "must be a positive number", plant_GWh,
                                      "GWh of cells per year, e.g. 10"))
    if process is None:
        process = default_process(metrics_or_design)
    proc = _apply_overrides(load_process(process), overrides)
    scalar = not (isinstance(metrics_or_design, Mapping) and "energy_Wh" in metrics_or_design
                  and np.ndim(metrics_or_design["energy_Wh"]) > 0) and not hasattr(
        metrics_or_design, "columns")
    a = _arrays(metrics_or_design)
    per_kWh = _drivers_per_kWh(a)
    kWh_cell = a["energy_Wh"] / 1000.0
    ref = proc["reference"]
    plant = {k: _val(v) for k, v in proc["plant"].items()}
    dry = {k: (_val(v) if not isinstance(v, Mapping) or "value" in v else v)
           for k, v in proc["dry_room"].items()}
    H = plant["hours_per_year"] * plant["availability"]
    E_good = plant_GWh * 1e6  # kWh/yr

    steps = proc["steps"]
    ids = list(steps)
    yields = {s: float(steps[s]["yield"][0]) for s in ids}
    for s, y in yields.items():
        if not 0 < y <= 1:
            raise CasipInputError(Problem(f"steps.{s}.yield", "must be in (0, 1]", y))
    # cumulative yield from a step to the end of the line (inclusive)
    cum: dict[str, float] = {}
    acc = 1.0
    for s in reversed(ids):
        acc *= yields[s]
        cum[s] = acc

    cap_MUSD: dict[str, Any] = {}
    labour_h: dict[str, Any] = {}
    area: dict[str, Any] = {}
    energy: dict[str, Any] = {}
    workers: dict[str, Any] = {}
    for s in ids:
        st = steps[s]
        drv = st["driver"]
        if drv not in per_kWh:
            raise CasipInputError(Problem(f"steps.{s}.driver", "unknown driver", drv,
                                          f"one of {', '.join(DRIVERS)}"))
        R = E_good * per_kWh[drv] / cum[s]  # driver units processed per year
        R0 = ref["plant_GWh"] * 1e6 * float(ref["per_kWh"][drv]) / cum[s]
        if R0 <= 0:  # a driver the reference cell lacks (lithium foil): centre on this cell
            R0 = ref["plant_GWh"] * 1e6 * per_kWh[drv] / cum[s]
        R0 = np.where(R0 > 0, R0, 1.0)
        n0 = R0 / (float(st["rate"]) * H)  # machines at the reference plant
        ratio = R / R0
        p = st["p"]
        cap = n0 * float(st["price_MUSD"]) * ratio ** p["capital"] * proc["capital_factor"]
        if st.get("capacity_exponent"):
            cap = cap * (a["capacity_Ah"] / float(ref["capacity_Ah"])) ** st["capacity_exponent"]
        cap_MUSD[s] = cap
        workers[s] = n0 * float(st["crew"]) * ratio ** p["labour"]
        labour_h[s] = workers[s] * plant["hours_per_year"]
        area[s] = n0 * float(st["area_m2"]) * ratio ** p["area"]
        energy[s] = R * float(st["energy_kWh"])

    # dry room: sized by the footprint of the steps inside it
    dry_ids = [s for s in ids if steps[s].get("dry_room")]
    dry_area = dry["area_factor"] * sum((area[s] for s in dry_ids), start=np.zeros_like(kWh_cell))
    below = max(0.0, -40.0 - dry["dew_point_C"]) / 10.0
    dp = proc["dry_room"]["p"]
    dry_ref_area = 3000.0  # m2; the scale at which the unit costs below hold (assumed)
    dr = np.where(dry_area > 0, dry_area / dry_ref_area, 0.0)
    cap_MUSD["dry_room"] = (dry_ref_area * dry["capital_usd_m2"] / 1e6 * dr ** dp["capital"]
                            * (1 + dry["capital_per_10C"] * below) * proc["capital_factor"])
    workers["dry_room"] = dry_ref_area / 1000 * dry["workers_per_1000m2"] * dr ** dp["labour"]
    labour_h["dry_room"] = workers["dry_room"] * plant["hours_per_year"]
    area["dry_room"] = 0.1 * dry_area  # air locks and plant outside the room (assumed)
    energy["dry_room"] = dry_area * dry["energy_kWh_m2_y"] * (1 + dry["energy_per_10C"] * below)
    ids_all = [*ids, "dry_room"]
    labels = {s: steps[s].get("label", s) for s in ids}
    labels["dry_room"] = f"Dry room ({dry['dew_point_C']:.0f} C dew point)"

    # annual costs by step [$ / yr]
    dep_eq = 1.0 / plant["equipment_life_y"]
    dep_b = 1.0 / plant["building_life_y"]
    roi = plant["return_on_investment"]
    per_step: dict[str, dict[str, Any]] = {}
    depreciation = 0.0
    labour_total = 0.0
    building_total = 0.0
    for s in ids_all:
        eq = cap_MUSD[s] * 1e6
        bld = area[s] * plant["building_usd_m2"]
        dep = eq * dep_eq + bld * dep_b
        depreciation = depreciation + dep
        building_total = building_total + bld
        lab = labour_h[s] * plant["wage_usd_h"]
        labour_total = labour_total + lab
        en = energy[s] * plant["electricity_usd_kWh"]
        c = dep + roi * (eq + bld)
        per_step[s] = {"capital": c / E_good, "labour": lab / E_good, "energy": en / E_good}
        per_step[s]["total"] = sum(per_step[s].values())

    # materials, grossed up by the cumulative yield from each material's entry step
    from casip.design import engine

    entry = proc["material_entry"]
    myield = {k: _val(v) for k, v in proc.get("material_yield", {}).items()}
    mats: dict[str, Any] = {}
    scrap: dict[str, Any] = {}
    for comp in engine.MASS_COMPONENTS:
        net = a[f"cost_{comp}_usd"] / kWh_cell
        step = entry.get(comp, "stacking")
        if step not in cum:
            step = "stacking" if "stacking" in cum else ids[0]
        gross = net / (cum[step] * myield.get(comp, 1.0))
        mats[comp] = net
        scrap[comp] = gross - net
    materials = sum(mats.values())
    scrap_total = sum(scrap.values())

    # overheads, BatPaC Table 5.8, per kWh
    labour_kWh = labour_total / E_good
    dep_kWh = depreciation / E_good
    energy_kWh_cost = sum(per_step[s]["energy"] for s in ids_all)
    vo = plant["variable_overhead_labour"] * labour_kWh + plant[
        "variable_overhead_depreciation"] * dep_kWh
    gsa = plant["gsa_labour"] * (labour_kWh + vo) + plant["gsa_depreciation"] * dep_kWh
    rnd = plant["rnd_depreciation"] * dep_kWh
    bought = materials + scrap_total
    launch = plant["launch_materials"] * bought + plant["launch_other"] * (labour_kWh + vo)
    variable = bought + labour_kWh + vo + energy_kWh_cost
    wc = plant["working_capital"] * variable
    ret_other = roi * (launch + wc)
    steps_total = sum(per_step[s]["total"] for s in ids_all)
    before_warranty = bought + steps_total + vo + gsa + rnd + ret_other
    warranty = plant["warranty"] * before_warranty
    overheads = {"variable_overhead": vo, "gsa": gsa, "rnd": rnd,
                 "return_other": ret_other, "warranty": warranty}
    manufacturing = steps_total + vo + gsa + rnd + ret_other + warranty
    cell = materials + scrap_total + manufacturing
    investment = sum(cap_MUSD.values()) + building_total / 1e6

    result = CostBreakdown(
        process=process,
        plant_GWh=float(plant_GWh),
        materials_usd_kWh=materials,
        materials_by_component_usd_kWh=mats,
        scrap_usd_kWh=scrap_total,
        scrap_by_component_usd_kWh=scrap,
        steps_usd_kWh=per_step,
        step_labels=labels,
        overheads_usd_kWh=overheads,
        manufacturing_usd_kWh=manufacturing,
        cell_usd_kWh=cell,
        capital_MUSD=cap_MUSD,
        building_MUSD=building_total / 1e6,
        investment_MUSD=investment,
        labour_workers_per_shift=sum(workers.values()),
        energy_kWh_per_kWh=sum(energy.values()) / E_good,
        dry_room_area_m2=dry_area,
        cumulative_yield=cum,
        line_yield=cum[ids[0]],
        notes=[
            "costs per kWh of good cells; materials = the design engine's bill of materials",
            f"process {process!r} at {plant_GWh:g} GWh/yr; parameters in process-{process}.yaml",
        ],
    )
    if scalar:
        for f in ("materials_usd_kWh", "materials_by_component_usd_kWh", "scrap_usd_kWh",
                  "scrap_by_component_usd_kWh", "steps_usd_kWh", "overheads_usd_kWh",
                  "manufacturing_usd_kWh", "cell_usd_kWh", "capital_MUSD", "building_MUSD",
                  "investment_MUSD", "labour_workers_per_shift", "energy_kWh_per_kWh",
                  "dry_room_area_m2"):
            setattr(result, f, _scalarise(getattr(result, f), True))
    return result


def cell_cost(design: Any, *, plant_GWh: float = 10.0, process: str | None = None,
              overrides: Mapping[str, float] | None = None) -> CostBreakdown:
    """Cell cost of a design (or its :class:`~casip.design.CellMetrics`): materials + scrap +
    manufacturing, per kWh. See :func:`manufacturing_cost`; the process defaults to the one the
    design's separator calls for."""
    if process is None:
        process = default_process(design)
    return manufacturing_cost(design, plant_GWh=plant_GWh, process=process, overrides=overrides)


# --------------------------------------------------------------------------------------------
# Sensitivity
# --------------------------------------------------------------------------------------------


@dataclass
class TornadoBar:
    """One parameter's low and high values and the cell $/kWh at each."""

    parameter: str
    label: str
    low: float
    high: float
    cost_low: float
    cost_high: float

    @property
    def swing(self) -> float:
        return abs(self.cost_high - self.cost_low)


def sensitivity(
    metrics: Any,
    *,
    plant_GWh: float = 10.0,
    process: str | None = None,
    price_range: float = 0.25,
    top_components: int = 4,
) -> tuple[float, list[TornadoBar]]:
    """Cell $/kWh at the low and high end of each parameter's range (one at a time).

    Parameters: every step yield, the plant parameters and dry-room parameters that have a
    range, all equipment prices together (x0.7-1.3, assumed), the plant size (x0.5-2), and the
    prices of the ``top_components`` dearest materials (x(1 -/+ ``price_range``)).

    Returns
    -------
    (base cell $/kWh, bars sorted by swing, largest first)
    """
    from casip.design import evaluate

    if not hasattr(metrics, "mass_breakdown_g"):
        if process is None:
            process = default_process(metrics)
        metrics = evaluate(metrics)
    process = process or "liquid"
    proc = load_process(process)
    base = manufacturing_cost(metrics, plant_GWh=plant_GWh, process=process)
    bars: list[TornadoBar] = []

    def run(over=None, gwh=plant_GWh, m=metrics) -> float:
        return float(manufacturing_cost(m, plant_GWh=gwh, process=process,
                                        overrides=over).cell_usd_kWh)

    for s, st in proc["steps"].items():
        _, lo, hi = (float(v) for v in st["yield"])
        if lo == hi:
            continue
        bars.append(TornadoBar(f"steps.{s}.yield", f"yield: {st.get('label', s)}", lo, hi,
                               run({f"steps.{s}.yield": lo}), run({f"steps.{s}.yield": hi})))
    for group in ("plant", "dry_room", "material_yield"):
        for k, v in proc.get(group, {}).items():
            if isinstance(v, Mapping) and "range" in v:
                lo, hi = (float(x) for x in v["range"])
                path = f"{group}.{k}"
                bars.append(TornadoBar(path, path.replace("_", " "), lo, hi,
                                       run({path: lo}), run({path: hi})))
    bars.append(TornadoBar("capital_factor", "equipment prices (x0.7-1.3, assumed)", 0.7, 1.3,
                           run({"capital_factor": 0.7}), run({"capital_factor": 1.3})))
    bars.append(TornadoBar("plant_GWh", "plant size [GWh/yr] (x0.5-2)", plant_GWh / 2,
                           plant_GWh * 2, run(gwh=plant_GWh / 2), run(gwh=plant_GWh * 2)))
    costs = sorted(metrics.cost_breakdown_usd.items(), key=lambda kv: -kv[1])
    for comp, _ in costs[:top_components]:
        lo_m = copy.deepcopy(metrics)
        hi_m = copy.deepcopy(metrics)
        lo_m.cost_breakdown_usd[comp] *= 1 - price_range
        hi_m.cost_breakdown_usd[comp] *= 1 + price_range
        bars.append(TornadoBar(f"price.{comp}", f"price: {comp.replace('_', ' ')} "
                               f"(-/+{100 * price_range:.0f}%)", 1 - price_range,
                               1 + price_range, run(m=lo_m), run(m=hi_m)))
    bars.sort(key=lambda b: -b.swing)
    return float(base.cell_usd_kWh), bars


__all__ = [
    "DRIVERS",
    "OVERHEADS",
    "OVERHEAD_LABELS",
    "PROCESSES",
    "CostBreakdown",
    "TornadoBar",
    "cell_cost",
    "default_process",
    "load_process",
    "manufacturing_cost",
    "sensitivity",
]
