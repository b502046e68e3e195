"""Physics batched across designs: one built PyBaMM model serves every design of a group.

:func:`casip.physics.charge.fast_charge` builds, discretises and sets up a DFN model for
every call. Evaluating many designs (a design-space study) repeats that work for designs that
differ only in numbers PyBaMM accepts as ``"[input]"`` parameters. :func:`fast_charge_many`
groups the designs so that one built model serves a whole group, the design-dependent numbers
passed to each solve as inputs; the protocol, the limits and the evaluation are those of
:func:`~casip.physics.charge.fast_charge` (the same code, :func:`charge._charge_on`).

What forces its own build (the *build key*)
-------------------------------------------
* The model structure: the model options (working electrode, particle phases, contact
  resistance, open-circuit-potential branches...), the thermal option, and which parameters
  exist.
* The geometry: every parameter that appears in the model's geometry (PyBaMM 26's
  ``model.default_geometry``): electrode and separator thicknesses (the ``x`` mesh spans them)
  and particle radii (the ``r`` mesh spans ``[0, R]``). PyBaMM evaluates the geometry to
  numbers when it makes the mesh, so these cannot be inputs. The names are read from the model
  itself, not listed by hand.
* Parameters given as functions or tables (open-circuit potentials, electrolyte transport,
  exchange-current densities, interpolants): two designs share a build only if their
  functions are the same code with equal captured values (closures, defaults, tables). A
  Python function's captured number is not a PyBaMM parameter, so it cannot become an input
  without rewriting the function; designs whose functions differ get their own build.

Everything else that is a number (porosities, active-material volume fractions, maximum
concentrations, conductivities, diffusivities, Bruggeman coefficients, contact resistances,
electrode area, temperatures, cell volume...) varies inside a group: the numbers that differ
between the group's designs become ``"[input]"`` in the group's parameter values, the numbers
that are the same stay numbers (a group of one design is exactly :func:`fast_charge`'s model).

Across geometries
-----------------
The symbolic DFN model (before parameters and discretisation) depends only on the model
options; it is built once per option set and shared by every group
(:class:`pybamm.Simulation` works on a copy of it). The parameter processing, the mesh, the
discretised matrices and the solver set-up (CasADi functions, IDAKLU memory) depend on the
thicknesses and radii and are rebuilt per geometry. A discretisation on rescaled coordinates
(``x / L``) would make thicknesses inputs, but PyBaMM 26 discretises in dimensional
coordinates and its finite-volume matrices hold the mesh spacing as numbers: that needs a
rewritten model, not a cache, and is not done here (``docs/physics-batch.md``).

Why this is written here: PyBaMM builds one model per parameter set and accepts inputs for
any parameter, but it has no facility that decides which of several parameter sets can share
a build; that decision is this module's.
"""

from __future__ import annotations

import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import hashlib
import math
import numbers
import threading
import time
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pybamm

from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary, load_library
from casip.physics.charge import (
    _C_NEG,
    _C_POS,
    _V_MAX,
    ChargeLimits,
    ChargeResult,
    _Cell,
    _cell_for,
    _charge_model,
    _charge_on,
    _ChargeModel,
    _ChargeRig,
    _check_window,
    _horizon,
    _resolve_limits,
    _steps_for,
)
from casip.physics.temperature import ambient_kelvin

#: Parameters the charge rig itself makes inputs (start SOC, upper voltage): never in the key.
RIG_INPUTS = frozenset({_C_POS, _C_NEG, _V_MAX})


@dataclass
class BatchGroup:
    """One build and the designs it served.

    Attributes
    ----------
    key : str
        Short hash of the build key.
    indices : list of int
        Positions of the group's designs in the input.
    inputs : list of str
        Parameters that differ inside the group, passed as ``[input]``.
    geometry : dict
        The group's geometric parameters (name -> value).
    builds : int
        Models built for the group (1, or 0 if every design failed before the build).
    build_s : float
        Seconds spent building (parameters, mesh, discretisation).
    solve_s : float
        Seconds spent in the charges of the group (the first one includes the solver set-up,
        CasADi functions and IDAKLU memory, which PyBaMM does at the first solve).
    shared_model : bool
        Whether the symbolic model came from the shared per-options cache.
    """

    key: str
    indices: list[int]
    inputs: list[str] = field(default_factory=list)
    geometry: dict[str, float] = field(default_factory=dict)
    builds: int = 0
    build_s: float = 0.0
    solve_s: float = 0.0
    shared_model: bool = False


class ChargeBatch(list):
    """The results of :func:`fast_charge_many`: a list of :class:`ChargeResult` (or, with
    ``errors="return"``, the exception of a design that failed) in input order, with the
    groups in :attr:`groups`."""

    groups: list[BatchGroup]
    map_s: float

    def __init__(self, items=(), groups: list[BatchGroup] | None = None, map_s: float = 0.0):
        super().__init__(items)
        self.groups = list(groups or [])
        self.map_s = map_s

    @property
    def builds(self) -> int:
        """Models built in total."""
        return sum(g.builds for g in self.groups)

    def summary(self) -> list[dict]:
        """One dict per group: key, designs, builds, build and solve seconds, inputs."""
        return [
            {
                "key": g.key,
                "designs": len(g.indices),
                "builds": g.builds,
                "build_s": round(g.build_s, 4),
                "solve_s": round(g.solve_s, 4),
                "inputs": list(g.inputs),
            }
            for g in self.groups
        ]


# --------------------------------------------------------------------------- build keys


def _fingerprint(v: object, depth: int = 0) -> object:
    """A hashable value that is equal for values that give the same PyBaMM model.

    Functions compare by code and captured values (closures, defaults), recursively; arrays
    by content; anything unknown by identity (never wrongly shared).
    """
    if depth > 8:
        return ("deep", id(v))
    if v is None or isinstance(v, bool | str):
        return ("lit", v)
    if isinstance(v, numbers.Number):
        return ("num", float(v))
    if isinstance(v, np.ndarray):
        digest = hashlib.sha1(np.ascontiguousarray(v).tobytes()).hexdigest()
        return ("array", v.shape, str(v.dtype), digest)
    if isinstance(v, tuple | list):
        return ("seq", tuple(_fingerprint(x, depth + 1) for x in v))
    if isinstance(v, dict):
        return ("map", tuple(sorted((str(k), _fingerprint(x, depth + 1)) for k, x in v.items())))
    if isinstance(v, types.FunctionType):
        cells = []
        for c in v.__closure__ or ():
            try:
                cells.append(_fingerprint(c.cell_contents, depth + 1))
            except ValueError:  # an empty cell
                cells.append(("empty",))
        return (
            "fn",
            v.__module__,
            v.__qualname__,
            v.__code__,
            tuple(cells),
            _fingerprint(v.__defaults__, depth + 1),
            _fingerprint(v.__kwdefaults__, depth + 1),
        )
    if isinstance(v, types.BuiltinFunctionType | type):
        return ("obj", v)
    return ("id", type(v).__qualname__, id(v))


def _options_key(cell: _Cell, thermal: bool) -> tuple:
    return (tuple(sorted((str(k), _fingerprint(o)) for k, o in cell.model_options.items())),
            thermal)


_MODELS: dict[tuple, pybamm.BaseModel] = {}
_GEOMETRY: dict[tuple, frozenset[str]] = {}
_LOCK = threading.Lock()


def _symbolic_model(cell: _Cell, thermal: bool, share: bool) -> tuple[pybamm.BaseModel, bool]:
    """The charge model of ``cell``'s options: shared per option set (or new)."""
    key = _options_key(cell, thermal)
    with _LOCK:
        model = _MODELS.get(key) if share else None
        if model is not None:
            return model, True
        model = _charge_model(cell.model_options, thermal=thermal)
        if share:
            _MODELS[key] = model
        return model, False


def geometric_parameters(cell: _Cell, thermal: bool = False) -> frozenset[str]:
    """Names of the parameters in the model's geometry (PyBaMM cannot make them inputs)."""
    key = _options_key(cell, thermal)
    with _LOCK:
        names = _GEOMETRY.get(key)
    if names is not None:
        return names
    model, _ = _symbolic_model(cell, thermal, share=True)
    found: set[str] = set()
    for domain in model.default_geometry.values():
        for bounds in domain.values():
            if not isinstance(bounds, Mapping):
                continue
            for sym in bounds.values():
                if isinstance(sym, pybamm.Symbol):
                    for s in sym.pre_order():
                        if isinstance(s, pybamm.Parameter | pybamm.FunctionParameter):
                            found.add(s.name)
    names = frozenset(found)
    with _LOCK:
        _GEOMETRY[key] = names
    return names


def build_key(cell: _Cell, thermal: bool = False) -> tuple:
    """What forces ``cell`` its own build: options, thermal flag, which parameters exist,
    the geometric values and every non-number value (see the module docstring)."""
    geo = geometric_parameters(cell, thermal)
    pv = cell.parameter_values
    parts = []
    for name in sorted(pv.keys()):
        if name in RIG_INPUTS:
            parts.append((name, "rig"))
            continue
        v = pv[name]
        if name in geo and isinstance(v, numbers.Number) and not isinstance(v, bool):
            # 12 significant digits: the design engine's arithmetic leaves last-bit noise
            # (8e-05 vs 7.999999999999998e-05 m); a 1e-12 change of a thickness is far below
            # the solver tolerance (rtol 1e-4)
            parts.append((name, ("geometry", float(f"{float(v):.12g}"))))
        elif name in geo or not isinstance(v, numbers.Number) or isinstance(v, bool):
            parts.append((name, _fingerprint(v)))
        else:
            parts.append((name, "number"))
    return (_options_key(cell, thermal), cell.intercalation, tuple(parts))


def group_designs(cells: Sequence[_Cell], thermal: bool = False) -> list[list[int]]:
    """Indices of ``cells`` grouped by :func:`build_key`, groups in order of first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(build_key(cell, thermal), []).append(i)
    return list(groups.values())


def varying_inputs(cells: Sequence[_Cell], thermal: bool = False) -> list[str]:
    """Numbers that differ between the cells of one group (they become inputs).

    Geometric parameters are never inputs: inside a group they agree to 12 digits and the
    group's build uses the first cell's values.
    """
    first = cells[0].parameter_values
    geo = geometric_parameters(cells[0], thermal)
    out = []
    for name in sorted(first.keys()):
        if name in RIG_INPUTS or name in geo:
            continue
        v0 = first[name]
        if not isinstance(v0, numbers.Number) or isinstance(v0, bool):
            continue
        if any(float(c.parameter_values[name]) != float(v0) for c in cells[1:]):
            out.append(name)
    return out


# --------------------------------------------------------------------------- public API


def _per_design(value, n: int, name: str) -> list:
    if value is None or isinstance(value, numbers.Number | Mapping):
        return [value] * n
    try:
        vals = list(value)
    except TypeError:
        raise CasipInputError(
            Problem(name, "give one value, or one per design", value, f"a number or {n} values")
        ) from None
    if len(vals) != n:
        raise CasipInputError(
            Problem(name, "one value per design is needed", f"{len(vals)} values",
                    f"{n} values (one per design)")
        )
    return vals


def fast_charge_many(
    designs: Sequence,
    c_rate: float | Sequence[float] = 1.0,
    *,
    protocol: str = "cccv",
    steps: Sequence[tuple[float, float]] | None = None,
    soc_start: float = 0.1,
    soc_end: float = 0.8,
    limits: ChargeLimits | None = None,
    library: MaterialLibrary | None = None,
    temperature_K: float | Sequence[float] | None = None,
    contact_resistance_ohm_cm2: float | Sequence[float] | None = None,
    overrides: Mapping[str, object] | Sequence[Mapping[str, object] | None] | None = None,
    temperature_c: float | Sequence[float] | None = None,
    errors: Literal["raise", "return"] = "raise",
    share_model: bool = True,
) -> ChargeBatch:
    """Fast-charge many designs, one built model per group of designs (see module docstring).

    Parameters
    ----------
    designs : sequence of Design, dict, PhysicsSetup or str
        The cells, as for :func:`casip.physics.charge.fast_charge`.
    c_rate : float or sequence of float
        CC-CV rate [C], one for all or one per design.
    protocol, steps, soc_start, soc_end, limits, library
        As for :func:`~casip.physics.charge.fast_charge` (one protocol for every design).
    temperature_K, contact_resistance_ohm_cm2, temperature_c : float or sequence, optional
        As for ``fast_charge``, one for all or one per design.
    overrides : mapping or sequence of mappings, optional
        PyBaMM parameter overrides, one mapping for all or one (or None) per design.
    errors : {"raise", "return"}
        ``"raise"``: the first design that fails raises. ``"return"``: its slot in the result
        holds the exception and the other designs go on.
    share_model : bool
        Share the symbolic model across groups of one option set (True; False builds it per
        group, to measure what the sharing saves).

    Returns
    -------
    ChargeBatch
        One :class:`ChargeResult` per design in input order (equal to ``fast_charge`` of that
        design within solver tolerance), with ``groups`` (builds, build and solve seconds).

    Raises
    ------
    CasipInputError
        A bad window, rate, protocol, per-design list of the wrong length or ``errors``
        value; with ``errors="raise"`` the first failing design (its ``source`` names it).

    Examples
    --------
    >>> from casip.cells import reference_design
    >>> from casip.design.api import with_updates
    >>> base = reference_design("nmc811-pouch")
    >>> designs = [with_updates(base, {"cathode.thickness_um": 70.0, "cathode.porosity": p})
    ...            for p in (0.2, 0.25, 0.3)]
    >>> rs = fast_charge_many(designs, 1.0)  # doctest: +SKIP
    >>> [round(r.time_min, 1) for r in rs], rs.builds  # doctest: +SKIP
    """
    if errors not in ("raise", "return"):
        raise CasipInputError(
            Problem("errors", "unknown error mode", errors, "'raise' or 'return'")
        )
    designs = list(designs)
    n = len(designs)
    if n == 0:
        return ChargeBatch()
    limits = limits if limits is not None else ChargeLimits()
    thermal = limits.max_temperature_C is not None
    soc_start, soc_end = float(soc_start), float(soc_end)
    _check_window(soc_start, soc_end)
    rates = _per_design(c_rate, n, "c_rate")
    temps_k = _per_design(temperature_K, n, "temperature_K")
    temps_c = _per_design(temperature_c, n, "temperature_c")
    contacts = _per_design(contact_resistance_ohm_cm2, n, "contact_resistance_ohm_cm2")
    over = _per_design(overrides, n, "overrides")
    lib = library if library is not None else load_library()
    results: list = [None] * n
    plans: dict[int, list[tuple[float, float]]] = {}
    cells: dict[int, _Cell] = {}
    prepared: dict[int, tuple] = {}
    t0 = time.perf_counter()
    for i, d in enumerate(designs):
        try:
            try:
                plans[i] = _steps_for(protocol, rates[i], steps, soc_start, soc_end)
            except CasipInputError as exc:
                if not isinstance(c_rate, numbers.Number):  # name the design's entry
                    for p in exc.problems:
                        p.field = f"c_rate[{i}]" if p.field == "c_rate" else p.field
                raise
            cell = _cell_for(
                d,
                lib,
                temperature_K=ambient_kelvin(temps_c[i], temps_k[i]),
                contact_resistance_ohm_cm2=contacts[i],
                overrides=over[i],
            )
            prepared[i] = _resolve_limits(cell, limits)
            cells[i] = cell
        except Exception as exc:
            if errors == "raise":
                raise
            results[i] = exc
    map_s = time.perf_counter() - t0
    ok = sorted(cells)
    groups: list[BatchGroup] = []

    def run_group(members: list[int]) -> None:
        group_cells = [cells[i] for i in members]
        cell0 = group_cells[0]
        geo = geometric_parameters(cell0, thermal)
        pv0 = cell0.parameter_values
        g = BatchGroup(
            key=hashlib.sha1(repr(build_key(cell0, thermal)).encode()).hexdigest()[:10],
            indices=members,
            inputs=varying_inputs(group_cells, thermal),
            geometry={k: float(pv0[k]) for k in sorted(geo)
                      if k in pv0.keys() and isinstance(pv0[k], numbers.Number)},
        )
        # the stall guard is scaled to the shortest solve the group's solver serves
        horizon = min(_horizon(soc_end - soc_start, max(c for c, _ in plans[i])) for i in members)
        t1 = time.perf_counter()
        try:
            model, g.shared_model = _symbolic_model(cell0, thermal, share_model)
            pv = pv0.copy()
            pv.update({k: "[input]" for k in g.inputs})
            built = _ChargeModel(
                pv,
                cell0.model_options,
                intercalation=cell0.intercalation,
                thermal=thermal,
                horizon_s=horizon,
                model=model,
            )
            built.sim.build()
        except Exception as exc:
            if len(members) > 1:
                # a value PyBaMM would not take as an input: fall back to one build per
                # design (the per-design result, never a wrong shared one)
                for i in members:
                    run_group([i])
                return
            g.build_s = time.perf_counter() - t1
            groups.append(g)
            if errors == "raise":
                raise
            results[members[0]] = exc
            return
        g.builds = 1
        g.build_s = time.perf_counter() - t1
        groups.append(g)
        t2 = time.perf_counter()
        try:
            for i in members:
                cell = cells[i]
                resolved, notes = prepared[i]
                rig = _ChargeRig(
                    cell,
                    thermal=thermal,
                    horizon_s=horizon,
                    built=built,
                    inputs={k: float(cell.parameter_values[k]) for k in g.inputs},
                )
                try:
                    results[i] = _charge_on(
                        rig, plans[i], protocol, soc_start, soc_end, resolved, notes
                    )
                except Exception as exc:
                    if errors == "raise":
                        raise
                    results[i] = exc
        finally:
            g.solve_s = time.perf_counter() - t2

    for idx in group_designs([cells[i] for i in ok], thermal):
        run_group([ok[j] for j in idx])
    return ChargeBatch(results, groups, map_s)


def charge_time_min(results: Sequence[ChargeResult | BaseException]) -> list[float]:
    """``time_min`` of each result (NaN for a failed design)."""
    return [r.time_min if isinstance(r, ChargeResult) else math.nan for r in results]


__all__ = [
    "RIG_INPUTS",
    "BatchGroup",
    "ChargeBatch",
    "build_key",
    "charge_time_min",
    "fast_charge_many",
    "geometric_parameters",
    "group_designs",
    "varying_inputs",
]
