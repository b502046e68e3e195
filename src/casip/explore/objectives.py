"""The quantities a study can optimise or constrain, and how a batch of points is evaluated.

Three stages, cheapest first:

``cheap``
    Everything the design engine computes (:data:`casip.design.api.HEADLINE`, the geometry,
    ``cost_usd`` and the element demand ``element_<El>_kg_GWh``), **vectorised**: a chunk of
    points is one call of :func:`casip.design.engine.evaluate_arrays` on the base design's
    compiled parameters with the varied ones replaced by arrays (as
    :func:`casip.design.api.sweep` does).
``charge``
    ``charge_time_10_80_min`` (CC-CV from ``charge.soc_start`` to ``charge.soc_end``),
    ``ccd_margin`` (critical current density / highest charge current density, >= 1 is within
    the CCD; lithium-metal and anode-free cells) and ``plating_margin_V`` (lowest anode
    potential vs Li, >= 0 is free of plating; graphite/silicon anodes) from one PyBaMM run of
    :func:`casip.physics.charge.fast_charge` per point. The points of one task (a chunk of
    ``execution.chunk_size`` points) go through :func:`casip.physics.batch.fast_charge_many`:
    points that differ only in values PyBaMM takes as inputs share one built model.
``life``
    ``cycles_to_80`` (equivalent full cycles) and ``years_to_80`` from
    :func:`casip.life.design_life.project_design` under the study's duty. When 80 % is not
    reached within the horizon the horizon's values are reported (a lower bound) and
    ``life_reached_80`` is False.

Expensive stages run per point and only for points that pass every cheap constraint (and
have no error). A margin that does not apply to a design (``ccd_margin`` of a graphite cell,
``plating_margin_V`` of a lithium-metal cell) is NaN and satisfies its constraint; any other
NaN violates it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from casip.design.api import GEOMETRY, HEADLINE

CHEAP, CHARGE, LIFE = "cheap", "charge", "life"


@dataclass(frozen=True)
class Quantity:
    """One quantity: its stage (cheap, charge or life), unit and meaning."""

    name: str
    stage: str
    unit: str
    doc: str


def _q(name: str, stage: str, unit: str, doc: str) -> tuple[str, Quantity]:
    return name, Quantity(name, stage, unit, doc)


_UNITS = {
    "_Wh_kg": "Wh/kg",
    "_Wh_L": "Wh/L",
    "_usd_kWh": "$/kWh",
    "_mm": "mm",
    "_um": "um",
    "_Ah": "Ah",
    "_Wh": "Wh",
    "_g": "g",
    "_cm3": "cm3",
    "_V": "V",
    "_cm2": "cm2",
}


def _unit(name: str) -> str:
    return next((u for s, u in _UNITS.items() if name.endswith(s)), "-")


#: Every quantity a study may name, by canonical name.
QUANTITIES: dict[str, Quantity] = dict(
    [
        *(_q(k, CHEAP, _unit(k), "design engine headline metric") for k in HEADLINE),
        *(_q(k, CHEAP, _unit(k), "design engine geometry") for k in GEOMETRY),
        _q("cost_usd", CHEAP, "$", "cell cost"),
        _q("charge_time_10_80_min", CHARGE, "min", "CC-CV charge time over the charge window"),
        _q(
            "ccd_margin",
            CHARGE,
            "-",
            "critical current density / highest charge current "
            "density (>= 1 is safe; lithium-metal and anode-free cells)",
        ),
        _q(
            "plating_margin_V",
            CHARGE,
            "V",
            "lowest anode potential vs Li during the charge "
            "(>= 0 is free of plating; graphite and silicon anodes)",
        ),
        _q("cycles_to_80", LIFE, "EFC", "equivalent full cycles to 80 % capacity"),
        _q("years_to_80", LIFE, "year", "years to 80 % capacity under the duty"),
    ]
)

#: Other accepted names.
ALIASES = {
    "Wh/kg": "specific_energy_Wh_kg",
    "Wh/L": "energy_density_Wh_L",
    "$/kWh": "cost_usd_kWh",
    "cost": "cost_usd_kWh",
    "charge_time_min": "charge_time_10_80_min",
    "cycle_life": "cycles_to_80",
    "critical_current_density": "ccd_margin",
    "plating_margin": "plating_margin_V",
    "thickness_mm": "cell_thickness_mm",
}

_ELEMENT = re.compile(r"^element_([A-Z][a-z]?)_kg_GWh$")

#: Margins that are NaN when they do not apply (and then satisfy their constraint).
NOT_APPLICABLE_OK = frozenset({"ccd_margin", "plating_margin_V"})

#: Penalty objective value of failed or unevaluated points (pymoo needs finite numbers).
PENALTY = 1e12


def canonical(name: str) -> str | None:
    """The canonical quantity name, or None if unknown."""
    if name in QUANTITIES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    if _ELEMENT.match(name):
        return name
    return None


def stage_of(name: str) -> str:
    c = canonical(name)
    if c is None:
        raise KeyError(name)
    return QUANTITIES[c].stage if c in QUANTITIES else CHEAP


# ----------------------------------------------------------------------------------- context


@dataclass
class _Context:
    study: object
    design: object
    comp: object
    lib: object
    targets: dict[str, str]
    needed: list[str]  # canonical quantities needed (objectives + constraints)
    cheap_constraints: list[tuple[str, float | None, float | None]]
    stages: set[str]


@functools.lru_cache(maxsize=8)
def _context(study_json: str) -> _Context:
    from casip.cost.prices import priced_library
    from casip.design.api import compile as compile_design
    from casip.explore.study import Study, base_design

    data = json.loads(study_json)
    base_dir = data.pop("_base_dir", None)
    study = Study.model_validate(data)
    study.base_dir = base_dir
    design = base_design(study)
    lib = priced_library()  # the most recent price set, as casip.design.evaluate uses
    comp = compile_design(design, lib)
    names = [*study.objectives, *study.constraints]
    needed = list(dict.fromkeys(canonical(n) for n in names))
    stages = {stage_of(n) for n in needed}
    cheap_c = [
        (canonical(n), b.min, b.max) for n, b in study.constraints.items() if stage_of(n) == CHEAP
    ]
    return _Context(study, design, comp, lib, study.targets(), needed, cheap_c, stages)


def study_payload(study) -> str:
    """The study as the JSON string sent with every task (workers rebuild it once, cached)."""
    d = study.to_dict()
    d["_base_dir"] = study.base_dir
    if not isinstance(study.design, dict) and not str(study.design).startswith("ref:"):
        from casip.explore.study import base_design

        # a file path may not exist on a remote worker: send the design itself
        d["design"] = base_design(study).model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(d, sort_keys=True)


# ------------------------------------------------------------------------------------- cheap


_FRACTIONS = ("active", "catholyte", "carbon", "binder")


def evaluate_cheap(
    ctx: _Context, cols: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str | None]]:
    """Vectorised design-engine quantities of ``n`` points (parameter name -> array)."""
    from casip.design import engine
    from casip.design.api import element_demand
    from casip.design.compile import EXCLUSIVE, reprice_by_area

    n = len(next(iter(cols.values())))
    errors: list[str | None] = [None] * n
    params = dict(ctx.comp.params)
    fractions: dict[str, np.ndarray] = {}
    for name, arr in cols.items():
        target = ctx.targets[name]
        arr = np.asarray(arr, dtype=float)
        if target.startswith("protocol:"):
            continue
        if target.startswith("mass_fraction:"):
            fractions[target.split(":", 1)[1]] = arr
            continue
        key = ctx.comp.format_key(target)
        params[key] = arr
        for peer in EXCLUSIVE.get(key, ()):
            params[peer] = np.nan
        if key == "a_np":
            params["a_li_thickness_um"] = np.nan
            params["a_thickness_um"] = np.nan
    bad_fraction = np.zeros(n, dtype=bool)
    if fractions:
        base = {c: float(ctx.comp.params[f"c_w_{c}"]) for c in _FRACTIONS}
        rest = [c for c in _FRACTIONS if c not in fractions]
        varied_sum = sum(fractions.values())
        remain = 1.0 - varied_sum
        rest_sum = sum(base[c] for c in rest)
        for c, arr in fractions.items():
            params[f"c_w_{c}"] = arr
            bad_fraction |= (arr > 0) & (base[c] <= 0)
        for c in rest:
            params[f"c_w_{c}"] = base[c] / rest_sum * remain if rest_sum > 0 else 0.0 * remain
        bad_fraction |= remain < -1e-9
        if rest_sum <= 0:
            bad_fraction |= remain > 1e-9
        if "active" in fractions:
            bad_fraction |= fractions["active"] <= 0
    reprice_by_area(params)  # a per-area price (separator) follows a varied thickness
    out = engine.evaluate_arrays(params)
    status = np.broadcast_to(np.asarray(out["status"]), (n,))
    res: dict[str, np.ndarray] = {}
    for k in (*HEADLINE, *GEOMETRY, "cost_usd"):
        res[k] = np.broadcast_to(np.asarray(out[k], dtype=float), (n,)).copy()
    wanted = [q for q in ctx.needed if _ELEMENT.match(q)]
    if wanted:
        demand = element_demand(out, ctx.comp.slots, ctx.lib)
        for q in wanted:
            el = _ELEMENT.match(q).group(1)
            v = demand.get(el, np.zeros(n))
            res[q] = np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
    for i in range(n):
        if bad_fraction[i]:
            errors[i] = (
                "cathode mass fractions: the varied fractions leave no valid share for the "
                "other components (they must sum to 1, each >= 0)"
            )
        elif int(status[i]) != 0:
            errors[i] = f"design: {engine.STATUS[int(status[i])]}"
    if bad_fraction.any():
        for k in res:
            res[k][bad_fraction] = np.nan
    return res, errors


def violation(name: str, value: float, lo: float | None, hi: float | None) -> float:
    """Normalised violation of ``lo <= value <= hi`` (0 when satisfied)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0 if name in NOT_APPLICABLE_OK else 1e6
    v = 0.0
    if lo is not None and value < lo:
        v += (lo - value) / max(abs(lo), 1e-9)
    if hi is not None and value > hi:
        v += (value - hi) / max(abs(hi), 1e-9)
    return float(v)


# --------------------------------------------------------------------------------- expensive


def design_updates(ctx: _Context, point: Mapping[str, float]) -> tuple[dict, float]:
    """Design-path updates of one point and its charge C-rate."""
    updates: dict[str, object] = {}
    c_rate = ctx.study.charge.c_rate
    fractions = {}
    for name, v in point.items():
        target = ctx.targets[name]
        if target == "protocol:c_rate":
            c_rate = float(v)
        elif target.startswith("mass_fraction:"):
            fractions[target.split(":", 1)[1]] = float(v)
        else:
            updates[target] = round(v) if target == "format.layers" else float(v)
    if fractions:
        updates["cathode.mass_fractions"] = {
            c: ctx_params_fraction(ctx, c, fractions) for c in _FRACTIONS
        }
    return updates, c_rate


def ctx_params_fraction(ctx: _Context, c: str, fractions: Mapping[str, float]) -> float:
    if c in fractions:
        return fractions[c]
    base = {k: float(ctx.comp.params[f"c_w_{k}"]) for k in _FRACTIONS}
    rest = [k for k in _FRACTIONS if k not in fractions]
    rest_sum = sum(base[k] for k in rest)
    remain = 1.0 - sum(fractions.values())
    return base[c] / rest_sum * remain if rest_sum > 0 else 0.0


def _charge_many(ctx: _Context, designs: Sequence, c_rates: Sequence[float]) -> list:
    """Charge rows (or the exception of a failed design) of the points of one task, batched:
    designs that differ only in PyBaMM ``[input]`` values share one built model
    (:func:`casip.physics.batch.fast_charge_many`; results equal to one ``fast_charge`` per
    point within solver tolerance)."""
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    from casip.physics.batch import fast_charge_many
    from casip.physics.charge import ChargeLimits

    cs = ctx.study.charge
    limits = ChargeLimits(
        upper_voltage_V=cs.upper_voltage_V,
        critical_current_density_mA_cm2=cs.critical_current_density_mA_cm2,
    )
    results = fast_charge_many(
        designs,
        list(c_rates),
        soc_start=cs.soc_start,
        soc_end=cs.soc_end,
        limits=limits,
        library=ctx.lib,
        errors="return",
    )
    return [r if isinstance(r, BaseException) else _charge_row(r) for r in results]


def _charge_row(r) -> dict:
    ccd = r.critical_current_density_mA_cm2
    jmax = r.max_current_density_mA_cm2
    return {
        "charge_time_10_80_min": float(r.time_min),
        "ccd_margin": float(ccd / jmax) if ccd and jmax and jmax > 0 else math.nan,
        "plating_margin_V": float(r.min_anode_potential_V),
        "charge_binding_limit": r.binding_limit,
    }


def _life(ctx: _Context, design) -> dict:
    from casip.life.design_life import project_design
    from casip.life.duty import preset

    ls = ctx.study.life
    duty = preset(ls.duty, **ls.changes)
    frame = project_design(design, duty, library=ctx.lib, years=ls.years, warn=False)
    a = frame.attrs
    years, efc = a.get("years_to_80pct"), a.get("efc_to_80pct")
    reached = years is not None
    if not reached:
        years = float(frame["t_years"].iloc[-1])
        efc = float(frame["efc"].iloc[-1])
    return {
        "cycles_to_80": float(efc),
        "years_to_80": float(years),
        "life_reached_80": bool(reached),
        "life_model": str(a.get("model", "")),
    }


def evaluate_points(study_json: str, points: Sequence[Mapping[str, float]]) -> list[dict]:
    """Evaluate points (parameter name -> value) of a study: one row dict per point.

    Each row holds the needed quantities, ``error`` (None or the reason the evaluation failed)
    and ``eval_time_s``. Exceptions of one point's PyBaMM or lifetime run are caught and
    recorded; the other points are unaffected.
    """
    ctx = _context(study_json)
    n = len(points)
    if n == 0:
        return []
    names = list(ctx.targets)
    t0 = time.perf_counter()
    cols = {k: np.array([float(p[k]) for p in points]) for k in names}
    cheap, errors = evaluate_cheap(ctx, cols)
    t_cheap = (time.perf_counter() - t0) / n
    rows = []
    times: list[float] = []
    expensive = ctx.stages - {CHEAP}
    todo: list[tuple[int, object, float]] = []  # (row, design, c_rate) of the expensive stages
    for i, p in enumerate(points):
        row: dict = {}
        for q in ctx.needed:
            if stage_of(q) == CHEAP:
                row[q] = float(cheap[q][i])
        # keep the headline metrics for every point (tables and charts)
        for q in ("specific_energy_Wh_kg", "energy_density_Wh_L", "cost_usd_kWh"):
            row.setdefault(q, float(cheap[q][i]))
        row["error"] = errors[i]
        t = t_cheap
        passes = errors[i] is None and all(
            violation(q, row[q], lo, hi) == 0 for q, lo, hi in ctx.cheap_constraints
        )
        row["expensive_evaluated"] = bool(passes and expensive)
        if passes and expensive:
            t1 = time.perf_counter()
            try:
                from casip.design.api import with_updates

                updates, c_rate = design_updates(ctx, p)
                design = with_updates(ctx.design, updates) if updates else ctx.design
                todo.append((i, design, c_rate))
            except Exception as exc:
                row["error"] = f"design: {type(exc).__name__}: {exc}"
            t += time.perf_counter() - t1
        rows.append(row)
        times.append(t)
    if todo and CHARGE in expensive:
        # the points of one task share built PyBaMM models where they can (physics batch);
        # each point is charged its share of the batch's time
        t1 = time.perf_counter()
        try:
            charged = _charge_many(ctx, [d for _, d, _ in todo], [c for *_, c in todo])
        except Exception as exc:  # a failure outside any one design: every point records it
            charged = [exc] * len(todo)
        share = (time.perf_counter() - t1) / len(todo)
        for (i, _, _), res in zip(todo, charged, strict=True):
            times[i] += share
            if isinstance(res, BaseException):
                rows[i]["error"] = f"charge: {type(res).__name__}: {res}"
            else:
                rows[i].update(res)
    if LIFE in expensive:
        for i, design, _ in todo:
            if rows[i]["error"] is not None:
                continue
            t1 = time.perf_counter()
            try:
                rows[i].update(_life(ctx, design))
            except Exception as exc:
                rows[i]["error"] = f"life: {type(exc).__name__}: {exc}"
            times[i] += time.perf_counter() - t1
    for row, t in zip(rows, times, strict=True):
        row["eval_time_s"] = t
    return rows


def evaluate_task(payload: tuple[str, list[dict]]) -> list[dict]:
    """The executor task: ``(study_json, points)`` -> rows (module level, picklable)."""
    study_json, points = payload
    return evaluate_points(study_json, points)


__all__ = [
    "ALIASES",
    "CHARGE",
    "CHEAP",
    "LIFE",
    "NOT_APPLICABLE_OK",
    "PENALTY",
    "QUANTITIES",
    "Quantity",
    "canonical",
    "evaluate_cheap",
    "evaluate_points",
    "evaluate_task",
    "stage_of",
    "study_payload",
    "violation",
]
