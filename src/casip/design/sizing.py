"""Sizing a design to a target: find the free dimension that gives a capacity, an energy or an
outer envelope, for one design or a whole sweep in one vectorised call.

A design file describes a cell as built. To compare options at equal energy (say, cathode
coatings of 60 to 120 um in a 100 Wh pouch cell, the way BatPaC and cell designers do), one
dimension is left free and solved for, row by row of the sweep, on arrays:

========== ======================== ============================================================
format     free dimension           what changes
========== ======================== ============================================================
pouch      ``layers`` (default)     the number of cathode sheets (a whole number)
pouch      ``electrode_height``     the electrode height at fixed electrode width
pouch      ``electrode_width``      the electrode width at fixed electrode height
pouch      ``electrode_area``       both electrode sides at their fixed aspect ratio
prismatic  ``layers`` (default)     the number of cathode sheets; the can thickness follows as
                                    the thinnest that holds them (alias ``thickness``)
prismatic  ``height``, ``length``   the can height or length (the electrodes follow); the layer
                                    count stays as the design gives it (or fills the can)
cylindrical ``height`` (default)    the can height at fixed diameter (the electrode height
                                    follows; the winding length is fixed by the diameter)
cylindrical ``diameter``            the can diameter at fixed height: the winding length
                                    follows (alias ``winding_length``)
========== ======================== ============================================================

A target is one of ``{"energy_Wh": x}``, ``{"capacity_Ah": x}`` or ``{"envelope_mm": (width,
height, thickness)}``. Energy and capacity are the engine's (nominal) ones, whatever the engine
counts in them. An envelope is the outer box the cell must fit, in the engine's axes
(``cell_width_mm``, ``cell_height_mm``, ``cell_thickness_mm``): a prismatic can takes it as its
size and fills it with the most layers that fit; a cylinder takes the box's height and the
smaller of its width and thickness as its diameter (a pair ``(diameter, height)`` also works); a
pouch cell gets the electrodes whose outer cell is the box's width and height, and the most
layers whose charged stack fits its thickness.

How whole numbers are rounded (``rounding``): ``"up"`` (the default for energy and capacity
targets) is the fewest layers that reach the target, so the achieved value is at or above it by
less than one layer's worth; ``"nearest"`` the layer count whose value is closest to the target
(within half a layer's worth, above or below; a tie goes up); ``"down"`` the most layers that stay
at or below it. An envelope is a limit: its layer count is always rounded down. Continuous
dimensions are solved to a relative tolerance of 1e-10 on the target, from above (the achieved
value is never below the target).

Method: the engine (:func:`casip.design.engine.evaluate_arrays`) is evaluated on whole arrays.
Whole layer counts are guessed in closed form from the engine at one and two layers (the
capacity is linear in the layer count), then checked at the guess and the layer below it; rows
where the check fails (an engine that is not linear) fall back to a vectorised bisection on
whole numbers. Continuous dimensions use a vectorised bracketing solver (Illinois regula falsi,
with bisection while one end of the bracket does not fit the format), exact in one step where
the engine is linear in the free dimension. The search range of each free dimension is its
allowed range in the design file format (:mod:`casip.design.schema`); a target beyond it gives a
row status, not an exception.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from casip.design import api, engine
from casip.design.compile import EXCLUSIVE, Compiled, compile_design
from casip.design.ranges import sweep_range_warnings
from casip.design.schema import Cylindrical, Design, Pouch, Prismatic
from casip.errors import CasipInputError, Problem
from casip.materials.library import MaterialLibrary, load_library

#: The targets a design can be sized to.
TARGETS = ("energy_Wh", "capacity_Ah", "envelope_mm")
#: How whole layer counts are rounded.
ROUNDING = ("up", "nearest", "down")
#: Free dimensions per format; the first is the default.
FREE = {
    "pouch": ("layers", "electrode_height", "electrode_width", "electrode_area"),
    "prismatic": ("layers", "height", "length"),
    "cylindrical": ("height", "diameter"),
}
#: Other names accepted for a free dimension.
ALIASES = {
    "prismatic": {"thickness": "layers"},
    "cylindrical": {"winding_length": "diameter"},
}

#: Sizing status of a row (column ``sizing_status``) and what it means.
SIZING_STATUS = {
    0: "ok",
    1: "the target is out of reach within the free dimension's allowed range",
    2: "the design does not fit its format (see status)",
    3: "the sized cell is larger than the limit envelope (within_mm)",
}

#: Rounding rules, in words, as the result reports them.
ROUNDING_RULES = {
    "up": "layers rounded up: the fewest whole layers that reach the target "
    "(achieved >= target, by less than one layer's worth)",
    "nearest": "layers rounded to nearest: the whole layer count whose value is closest to the "
    "target (within half a layer's worth; a tie goes up)",
    "down": "layers rounded down: the most whole layers that stay at or below the target",
    "envelope": "layers rounded down: the most whole layers whose cell fits the envelope",
    "continuous": "continuous dimension: solved to 1e-10 of the target, from above (no rounding)",
}

#: Relative tolerance of the continuous solver on the target.
RTOL = 1e-10
_MAXITER = 200
#: Outer dimensions are compared with the envelope to this relative tolerance.
_FIT_RTOL = 1e-12

Params = dict[str, float | np.ndarray]


# --------------------------------------------------------------------------------------------
# vectorised solvers
# --------------------------------------------------------------------------------------------


def first_whole_reaching(
    g: Callable[[np.ndarray], np.ndarray], target: np.ndarray, lo: int, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest whole ``n`` in ``[lo, hi]`` with ``g(n) >= target``, row by row, on arrays.

    ``g`` maps an array of whole numbers (one per row) to the rows' values and must be
    non-decreasing in ``n``. The first guess is closed form from ``g(lo)`` and ``g(lo + 1)``
    (exact when ``g`` is affine in ``n``); it is checked at the guess and one below, and rows
    where the check fails are bisected on whole numbers.

    Parameters
    ----------
    g : callable
        Row values at whole numbers ``n`` (float array in, float array out, same shape).
    target : numpy.ndarray
        Target per row.
    lo : int
        Smallest allowed value.
    hi : numpy.ndarray
        Largest allowed value per row.

    Returns
    -------
    n : numpy.ndarray
        The smallest reaching value (float array of whole numbers); ``hi`` where out of reach.
    reachable : numpy.ndarray
        False where ``g(hi) < target`` (or ``g`` is NaN, i.e. the design does not fit).
    """
    target = np.asarray(target, dtype=float)
    hi = np.broadcast_to(np.asarray(hi, dtype=float), target.shape)
    lo_a = np.full(target.shape, float(lo))
    g1 = g(lo_a)
    g2 = g(np.minimum(lo_a + 1, hi))
    slope = g2 - g1
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = lo_a + np.ceil((target - g1) / slope)
    guess = np.where(np.isfinite(guess), guess, lo_a)
    n = np.clip(guess, lo_a, hi)
    gn = g(n)
    below = np.maximum(n - 1, lo_a)
    gb = g(below)
    ok = (gn >= target) & ((n == lo_a) | (gb < target))
    at_top = (n == hi) & ~(gn >= target)  # the most allowed is not enough (or does not fit)
    todo = ~ok & ~at_top
    if np.any(todo):
        # bisection on whole numbers: a fails (or is lo - 1), b reaches
        ghi = g(hi)
        out_of_reach = todo & ~(ghi >= target)
        at_top |= out_of_reach
        todo &= ~out_of_reach
        a = lo_a - 1
        b = hi.copy()
        while np.any(todo & (b - a > 1)):
            active = todo & (b - a > 1)
            m = np.where(active, np.floor((a + b) / 2), b)
            gm = g(m)
            reach = gm >= target
            b = np.where(active & reach, m, b)
            a = np.where(active & ~reach, m, a)
        n = np.where(todo, b, n)
    n = np.where(at_top, hi, n)
    return n, ~at_top


def solve_increasing(
    g: Callable[[np.ndarray], np.ndarray],
    target: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    x0: float | np.ndarray | None = None,
    rtol: float = RTOL,
    maxiter: int = _MAXITER,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``g(x) = target`` for ``x`` in ``[lo, hi]``, row by row, on arrays.

    ``g`` must be increasing in ``x`` where it is finite, and NaN only below some ``x`` (a
    design too small to fit its format). The method is Illinois regula falsi on a bracket
    ``a < x <= b`` with ``g(a) < target <= g(b)``, with bisection while ``g(a)`` is NaN; a linear
    ``g`` is solved in one step once ``g(a)`` is finite. ``x0`` (optional, e.g. the design's own
    value) is evaluated first to narrow the bracket.

    Returns
    -------
    a, b : numpy.ndarray
        The final bracket: ``g(a) < target <= g(b)`` (``b`` is the solution from above, ``a``
        from below; they agree to the tolerance).
    reachable : numpy.ndarray
        False where ``g(hi) < target`` or is NaN (out of reach).
    """
    target = np.asarray(target, dtype=float)
    a = np.broadcast_to(np.asarray(lo, dtype=float), target.shape).copy()
    b = np.broadcast_to(np.asarray(hi, dtype=float), target.shape).copy()
    fb = g(b) - target
    fa = g(a) - target
    reachable = fb >= 0
    # the smallest value already reaches the target: it is the answer (from above)
    low_enough = reachable & (fa >= 0)
    b = np.where(low_enough, a, b)
    if x0 is not None:
        x0 = np.broadcast_to(np.asarray(x0, dtype=float), target.shape)
        inside = reachable & ~low_enough & (x0 > a) & (x0 < b)
        f0 = g(np.where(inside, x0, b)) - target
        above, below = inside & (f0 >= 0), inside & (f0 < 0)  # NaN: neither
        b, fb = np.where(above, x0, b), np.where(above, f0, fb)
        a, fa = np.where(below, x0, a), np.where(below, f0, fa)
    done = ~reachable | low_enough | (fb <= rtol * np.abs(target))
    aim = 0.5 * rtol * np.abs(target)
    last = np.zeros(target.shape, dtype=np.int8)  # +1: b moved last, -1: a moved last
    tol_x = 1e-13 * np.maximum(np.abs(b), 1.0)
    for _ in range(maxiter):
        if np.all(done):
            break
        finite = np.isfinite(fa)
        with np.errstate(divide="ignore", invalid="ignore"):
            # aim half the tolerance above the target, so that a linear g lands inside it
            # from above in one step instead of creeping up on it from below
            x_sec = b - (fb - aim) * (b - a) / (fb - fa)
        x_bis = 0.5 * (a + b)
        x = np.where(finite & (x_sec > a) & (x_sec < b), x_sec, x_bis)
        x = np.where(done, b, x)
        fx = g(x) - target
        up = ~done & (fx >= 0)
        dn = ~done & ~(fx >= 0)  # below target, or NaN (does not fit yet)
        # Illinois: halve the stale end's value when the same end moves twice in a row
        fa = np.where(up & (last == 1) & finite, fa * 0.5, fa)
        fb = np.where(dn & (last == -1), fb * 0.5, fb)
        b = np.where(up, x, b)
        fb_true = np.where(up, fx, np.nan)
        fb = np.where(up, fx, fb)
        a = np.where(dn, x, a)
        fa = np.where(dn, fx, fa)
        last = np.where(up, 1, np.where(dn, -1, last)).astype(np.int8)
        done = done | (up & (fb_true <= rtol * np.abs(target))) | (b - a <= tol_x)
    return a, b, reachable


# --------------------------------------------------------------------------------------------
# free dimensions
# --------------------------------------------------------------------------------------------


def _bounds(model: type, name: str) -> tuple[float, float]:
    """The allowed range of a numeric field of the design file format (lower, upper)."""
    lo, hi = -math.inf, math.inf

    def walk(meta) -> None:
        nonlocal lo, hi
        for m in meta:
            if isinstance(m, Ge | Gt):
                lo = float(getattr(m, "ge", getattr(m, "gt", lo)))
            elif isinstance(m, Le | Lt):
                hi = float(getattr(m, "le", getattr(m, "lt", hi)))
            elif isinstance(m, FieldInfo):
                walk(m.metadata)

    fi = model.model_fields[name]
    walk(fi.metadata)
    for arg in typing.get_args(fi.annotation):
        walk(getattr(arg, "__metadata__", ()))
    return lo, hi


@dataclass(frozen=True)
class _Free:
    name: str
    #: design paths whose values the sizing sets (columns of the result)
    paths: tuple[str, ...]
    #: design paths a sweep may not vary (they are set by the sizing)
    fixed: tuple[str, ...]
    integer: bool


def _free_spec(fmt: str, free: str) -> _Free:
    if fmt == "pouch":
        if free == "layers":
            return _Free(free, ("format.layers",), ("format.layers",), True)
        if free == "electrode_height":
            return _Free(free, ("format.electrode_height_mm",), ("format.electrode_height_mm",),
                         False)
        if free == "electrode_width":
            return _Free(free, ("format.electrode_width_mm",), ("format.electrode_width_mm",),
                         False)
        paths = ("format.electrode_width_mm", "format.electrode_height_mm")
        return _Free(free, paths, paths, False)
    if fmt == "prismatic":
        if free == "layers":
            paths = ("format.layers", "format.thickness_mm")
            return _Free(free, paths, paths, True)
        path = f"format.{free}_mm"
        return _Free(free, (path,), (path,), False)
    path = f"format.{free}_mm"
    return _Free(free, (path,), (path,), False)


def _envelope_spec(fmt: str) -> _Free:
    if fmt == "pouch":
        paths = ("format.electrode_width_mm", "format.electrode_height_mm", "format.layers")
        return _Free("envelope", paths, paths, True)
    if fmt == "prismatic":
        paths = ("format.length_mm", "format.height_mm", "format.thickness_mm")
        return _Free("envelope", paths, (*paths, "format.layers"), False)
    paths = ("format.diameter_mm", "format.height_mm")
    return _Free("envelope", paths, paths, False)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def _parse_target(target: Mapping) -> tuple[str, object]:
    expected = (
        "one of {'energy_Wh': x}, {'capacity_Ah': x} or {'envelope_mm': (width, height, "
        "thickness)}"
    )
    if not isinstance(target, Mapping) or len(target) != 1:
        raise CasipInputError(Problem("target", "give exactly one target", target, expected))
    (kind, value), = target.items()
    if kind not in TARGETS:
        raise CasipInputError(Problem("target", "unknown target", kind, expected))
    if kind == "envelope_mm":
        try:
            box = tuple(float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise CasipInputError(
                Problem("target.envelope_mm", "must be numbers", value,
                        "(width, height, thickness) in mm")
            ) from None
        if len(box) not in (2, 3) or not all(math.isfinite(v) and v > 0 for v in box):
            raise CasipInputError(
                Problem("target.envelope_mm", "must be 3 positive sizes (2 for a cylinder)",
                        value, "(width, height, thickness) in mm, or (diameter, height)")
            )
        return kind, box
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CasipInputError(
            Problem(f"target.{kind}", "must be a number", value, "a positive number")
        ) from None
    if not (math.isfinite(v) and v > 0):
        raise CasipInputError(
            Problem(f"target.{kind}", "must be a positive number", value, "a positive number")
        )
    return kind, v


def _parse_free(free: str | None, fmt: str, kind: str) -> str:
    if kind == "envelope_mm":
        if free not in (None, "layers"):
            raise CasipInputError(
                Problem("free", "an envelope fixes the outer size; the layer count is what it "
                        "leaves free", free, "no free dimension (or 'layers')")
            )
        return "envelope"
    if free is None:
        return FREE[fmt][0]
    name = ALIASES.get(fmt, {}).get(free, free)
    if name not in FREE[fmt]:
        choices = [*FREE[fmt], *ALIASES.get(fmt, {})]
        raise CasipInputError(
            Problem("free", f"not a free dimension of a {fmt} cell", free,
                    "one of: " + ", ".join(choices))
        )
    return name


def _columns(
    values: Mapping[str, Sequence | np.ndarray] | None, grid: bool, fixed: Sequence[str],
) -> tuple[list[str], list[np.ndarray]]:
    """The swept paths and their values per point (a full grid, or zipped)."""
    if not values:
        return [], []
    paths = list(values)
    for p in paths:
        if p in fixed:
            raise CasipInputError(
                Problem(p, "the sizing sets this field; it cannot be swept as well", None,
                        "a sweep over other fields, or another free dimension")
            )
    paths, arrays = api._sweep_values(values, grid, "sweep")
    if not grid:
        return paths, arrays
    if len(arrays) == 1:
        return paths, arrays
    mesh = np.meshgrid(*[np.arange(len(a)) for a in arrays], indexing="ij")
    return paths, [a[m.ravel()] for a, m in zip(arrays, mesh, strict=True)]


def _is_number(x: object) -> bool:
    return isinstance(x, int | float | np.number) and not isinstance(x, bool | np.bool_)


def _point_params(
    base: Design, paths: list[str], cols: list[np.ndarray], lib: MaterialLibrary
) -> tuple[Params, list[str], int]:
    """Flat engine parameters with one row per sweep point (arrays where they vary).

    Numeric fields with an engine parameter are set as arrays; any other field (a material id)
    compiles one design per distinct value and stacks their parameters.
    """
    comp = compile_design(base, lib)
    n = len(cols[0]) if cols else 1
    numeric, other = [], []
    for p, col in zip(paths, cols, strict=True):
        try:
            comp.format_key(p)
            fast = all(_is_number(x) for x in col)
        except KeyError:
            fast = False
        (numeric if fast else other).append((p, col))
    warnings = list(comp.warnings)
    params: Params = dict(comp.params)
    if other:
        keys = [tuple(col[i] for _, col in other) for i in range(n)]
        uniq: dict[tuple, int] = {}
        idx = np.empty(n, dtype=np.intp)
        for i, k in enumerate(keys):
            idx[i] = uniq.setdefault(k, len(uniq))
        compiled: list[Compiled] = []
        for k in uniq:
            point = {p: v for (p, _), v in zip(other, k, strict=True)}
            d = api.with_updates(base, point)
            c = compile_design(d, lib, source=f"sizing sweep point {point}")
            if c.params["f_type"] != comp.params["f_type"]:
                raise CasipInputError(
                    Problem("format.type", "a sizing sweep keeps the cell format", point,
                            f"{base.format.type} throughout")
                )
            compiled.append(c)
            warnings += [w for w in c.warnings if w not in warnings]
        for key in set().union(*(c.params for c in compiled)):
            vals = np.array([c.params.get(key, np.nan) for c in compiled], dtype=float)
            same = np.all((vals == vals[0]) | (np.isnan(vals) & np.isnan(vals[0])))
            params[key] = vals[0] if same else vals[idx]
    for p, col in numeric:
        num = col.astype(float)
        bad = ~np.isfinite(num)
        if bad.any():
            raise CasipInputError(
                Problem(p, "values must be finite numbers", num[bad][0], "finite numbers")
            )
        if p in api._INTEGER_PATHS and np.any(num != np.round(num)):
            raise CasipInputError(
                Problem(p, "must be whole numbers", num[num != np.round(num)][0], "integers")
            )
        for extreme in (num.min(), num.max()):  # the schema checks the range
            api.with_updates(base, {p: int(extreme) if p in api._INTEGER_PATHS
                                    else float(extreme)})
        key = comp.format_key(p)
        params[key] = num
        for peer in EXCLUSIVE.get(key, ()):
            params[peer] = np.nan
        if key == "a_np":
            params["a_li_thickness_um"] = np.nan
            params["a_thickness_um"] = np.nan
    return params, warnings, n


# --------------------------------------------------------------------------------------------
# sizing
# --------------------------------------------------------------------------------------------


def _full(v: float | np.ndarray, n: int) -> np.ndarray:
    """A parameter as an array of ``n`` rows."""
    return np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()


def _evaluator(
    params: Params, setter: Callable[[Params, np.ndarray], None], metric: str
) -> Callable[[np.ndarray], np.ndarray]:
    def g(x: np.ndarray) -> np.ndarray:
        p = dict(params)
        setter(p, x)
        return np.asarray(engine.evaluate_arrays(p)[metric], dtype=float)

    return g


def _set(*keys: str, scale: Mapping[str, np.ndarray] | None = None):
    def setter(p: Params, x: np.ndarray) -> None:
        for k in keys:
            p[k] = x * scale[k] if scale else x

    return setter


def _whole(
    g: Callable[[np.ndarray], np.ndarray], target: np.ndarray, hi: np.ndarray, rounding: str
) -> tuple[np.ndarray, np.ndarray]:
    """Whole layer counts for a target, rounded as asked (see :data:`ROUNDING_RULES`)."""
    n_up, reach = first_whole_reaching(g, target, 1, hi)
    if rounding == "up":
        return n_up, reach
    g_up, g_below = g(n_up), g(np.maximum(n_up - 1, 1))
    has_below = n_up > 1
    if rounding == "nearest":
        take_below = has_below & reach & (target - g_below < g_up - target)
        return np.where(take_below, n_up - 1, n_up), reach
    # down: the most layers at or below the target
    exact = g_up <= target
    n = np.where(exact | ~reach, n_up, n_up - 1)
    return np.maximum(n, 1), reach & (n >= 1)


def _solve(
    base: Design, params: Params, n: int, kind: str, value, free: _Free, rounding: str,
) -> tuple[Params, dict[str, np.ndarray], np.ndarray]:
    """Set the free dimension in ``params`` (rows); return them, the free paths' values and a
    per-row reach flag."""
    fmt = base.format.type
    p = dict(params)
    reach = np.ones(n, dtype=bool)
    vals: dict[str, np.ndarray] = {}
    if kind == "envelope_mm":
        box = tuple(value)
        if fmt == "cylindrical":
            diameter, height = (box[0], box[1]) if len(box) == 2 else (min(box[0], box[2]),
                                                                       box[1])
            p["y_diameter_mm"] = np.full(n, diameter)
            p["y_height_mm"] = np.full(n, height)
            vals = {"format.diameter_mm": p["y_diameter_mm"], "format.height_mm": p["y_height_mm"]}
            return p, vals, reach
        if len(box) != 3:
            raise CasipInputError(
                Problem("target.envelope_mm", f"a {fmt} cell needs (width, height, thickness)",
                        value, "three sizes in mm")
            )
        W, H, T = (np.full(n, v) for v in box)
        if fmt == "prismatic":
            p.update(r_length_mm=W, r_height_mm=H, r_thickness_mm=T, r_layers=np.full(n, np.nan))
            vals = {"format.length_mm": W, "format.height_mm": H, "format.thickness_mm": T}
            return p, vals, reach
        # pouch: the electrodes whose outer cell is W x H, then the most layers fitting T
        p["p_width_mm"] = _largest_within(p, "p_width_mm", "cell_width_mm", W)
        p["p_height_mm"] = _largest_within(p, "p_height_mm", "cell_height_mm", H)
        _, n_hi = _bounds(Pouch, "layers")
        # the most layers with thickness <= T is one below the first above T
        above = np.nextafter(T, np.inf)
        n_up, beyond = first_whole_reaching(
            _evaluator(p, _set("p_layers"), "cell_thickness_mm"), above, 1, np.full(n, n_hi)
        )
        layers = np.where(beyond, n_up - 1, n_hi)
        reach = (layers >= 1) & np.isfinite(p["p_width_mm"]) & np.isfinite(p["p_height_mm"])
        p["p_layers"] = np.maximum(layers, 1)
        vals = {"format.electrode_width_mm": p["p_width_mm"],
                "format.electrode_height_mm": p["p_height_mm"], "format.layers": p["p_layers"]}
        return p, vals, reach

    metric = kind
    t = np.full(n, float(value))
    if fmt == "pouch":
        if free.name == "layers":
            _, hi = _bounds(Pouch, "layers")
            layers, reach = _whole(_evaluator(p, _set("p_layers"), metric), t,
                                   np.full(n, hi), rounding)
            p["p_layers"] = layers
            return p, {"format.layers": layers}, reach
        if free.name in ("electrode_height", "electrode_width"):
            key = "p_height_mm" if free.name == "electrode_height" else "p_width_mm"
            path = free.paths[0]
            _, hi = _bounds(Pouch, path.split(".")[1])
            _, b, reach = solve_increasing(_evaluator(p, _set(key), metric), t, hi * 1e-9, hi,
                                           x0=p[key])
            p[key] = b
            return p, {path: b}, reach
        # electrode_area: scale both sides at their aspect ratio
        W0, H0 = _full(p["p_width_mm"], n), _full(p["p_height_mm"], n)
        _, hi = _bounds(Pouch, "electrode_width_mm")
        s_hi = hi / np.maximum(W0, H0)
        _, s, reach = solve_increasing(
            _evaluator(p, _set("p_width_mm", "p_height_mm",
                               scale={"p_width_mm": W0, "p_height_mm": H0}), metric),
            t, s_hi * 1e-9, s_hi, x0=1.0,
        )
        p["p_width_mm"], p["p_height_mm"] = s * W0, s * H0
        return p, {"format.electrode_width_mm": p["p_width_mm"],
                   "format.electrode_height_mm": p["p_height_mm"]}, reach
    if fmt == "prismatic":
        if free.name == "layers":
            return _prismatic_layers(p, n, metric, t, rounding)
        model_field = f"{free.name}_mm"
        key = {"height": "r_height_mm", "length": "r_length_mm"}[free.name]
        _, hi = _bounds(Prismatic, model_field)
        _, b, reach = solve_increasing(_evaluator(p, _set(key), metric), t, hi * 1e-9, hi,
                                       x0=p[key])
        p[key] = b
        return p, {free.paths[0]: b}, reach
    key = {"height": "y_height_mm", "diameter": "y_diameter_mm"}[free.name]
    _, hi = _bounds(Cylindrical, f"{free.name}_mm")
    _, b, reach = solve_increasing(_evaluator(p, _set(key), metric), t, hi * 1e-9, hi,
                                   x0=p[key])
    p[key] = b
    return p, {free.paths[0]: b}, reach


def _largest_within(p: Params, key: str, metric: str, limit: np.ndarray) -> np.ndarray:
    """The largest value of a pouch electrode side (``key``) whose cell ``metric`` stays within
    ``limit``: solved from above on the mirrored variable ``y = -x`` (then ``metric <= limit``
    exactly, not just to the tolerance); NaN where even the smallest is too large."""
    _, hi = _bounds(Pouch, "electrode_width_mm" if key == "p_width_mm" else
                    "electrode_height_mm")
    g = _evaluator(p, _set(key), metric)
    _, y, reach = solve_increasing(lambda y: -g(-y), -limit, np.full(limit.shape, -hi),
                                   np.full(limit.shape, -hi * 1e-9))
    return np.where(reach, -y, np.nan)


def _prismatic_layers(
    p: Params, n: int, metric: str, t: np.ndarray, rounding: str
) -> tuple[Params, dict[str, np.ndarray], np.ndarray]:
    """Layers for the target in a can as thick as the format allows, then the thinnest can
    that holds them."""
    _, t_max = _bounds(Prismatic, "thickness_mm")
    _, n_max = _bounds(Prismatic, "layers")
    p["r_thickness_mm"] = np.full(n, t_max)
    auto = dict(p)
    auto["r_layers"] = np.full(n, np.nan)
    fit = engine.evaluate_arrays(auto)["layers"]  # the most layers the thickest can holds
    hi = np.clip(np.nan_to_num(np.asarray(fit, dtype=float), nan=1.0), 1, n_max)
    layers, reach = _whole(_evaluator(p, _set("r_layers"), metric), t, hi, rounding)
    p["r_layers"] = layers
    out = engine.evaluate_arrays(p)
    fill, wall = p["r_fill"], p["r_wall_mm"]
    inner = np.maximum(out["stack_thickness_discharged_mm"] / fill, out["stack_thickness_mm"])
    guess = np.minimum((inner + 2 * wall) * (1 + 1e-12), t_max)
    guess = np.where(np.isfinite(guess), guess, t_max)
    # the engine may count more in the can's thickness than the stack: check the guess, and
    # bisect on "the design fits" where it does not
    trial = dict(p)
    trial["r_thickness_mm"] = guess
    fits = engine.evaluate_arrays(trial)["status"] == 0
    a = guess.copy()  # rows still to do do not fit at a
    b = np.where(fits, guess, t_max)
    todo = ~fits
    while np.any(todo & (b - a > 1e-6)):
        active = todo & (b - a > 1e-6)
        m = np.where(active, 0.5 * (a + b), b)
        trial["r_thickness_mm"] = m
        ok = engine.evaluate_arrays(trial)["status"] == 0
        b = np.where(active & ok, m, b)
        a = np.where(active & ~ok, m, a)
    p["r_thickness_mm"] = b
    return p, {"format.layers": layers, "format.thickness_mm": b}, reach


def size(
    design: Design | Mapping,
    target: Mapping[str, float | Sequence[float]],
    free: str | None = None,
    *,
    rounding: str | None = None,
    sweep: Mapping[str, Sequence | np.ndarray] | None = None,
    grid: bool = True,
    within_mm: Sequence[float] | None = None,
    library: MaterialLibrary | None = None,
) -> pd.DataFrame:
    """Size a design (or every point of a sweep of it) to a target, in one vectorised call.

    Parameters
    ----------
    design : Design or dict
        The design to start from; its value of the free dimension is replaced.
    target : mapping
        ``{"energy_Wh": x}``, ``{"capacity_Ah": x}`` or ``{"envelope_mm": (width, height,
        thickness)}`` (a cylinder also takes ``(diameter, height)``).
    free : str, optional
        The dimension to solve for (see :data:`FREE`); by default layers for pouch and
        prismatic cells (the prismatic can's thickness follows) and the can height for
        cylindrical cells. Not used with an envelope.
    rounding : {"up", "nearest", "down"}, optional
        How whole layer counts are rounded (default ``"up"``: the target is always met).
    sweep : mapping of design path -> values, optional
        Fields to vary, as in :func:`casip.design.sweep` (e.g. ``{"cathode.thickness_um":
        np.linspace(60, 120, 7)}``); every point is sized.
    grid : bool
        Full factorial grid of the sweep values (True) or zipped lists (False).
    within_mm : (width, height, thickness), optional
        A limit on the sized cell's outer size; rows beyond it get ``sizing_status`` 3.
    library : MaterialLibrary, optional
        Materials; the bundled library by default.

    Returns
    -------
    pandas.DataFrame
        One row per point: the swept values; the free dimension's design paths with their sized
        values (``format.layers``, ...); ``target_<metric>`` and ``achieved_<metric>`` (or
        ``target_width_mm``, ... for an envelope) and ``overshoot`` (achieved / target - 1);
        the headline metrics and geometry; the engine ``status``; ``sizing_status`` (see
        :data:`SIZING_STATUS`) and ``sizing_message``, which names the target where it is out
        of reach. ``attrs`` holds ``target``, ``free``, ``free_paths``, ``rounding``,
        ``rounding_rule`` and ``warnings``.

    Raises
    ------
    CasipInputError
        For a bad target, free dimension, rounding, sweep or design (never for a row that
        cannot be sized: that is a row status).
    """
    lib = library if library is not None else load_library()
    base = api._resolve(design, None)
    kind, value = _parse_target(target)
    fmt = base.format.type
    free_name = _parse_free(free, fmt, kind)
    spec = _envelope_spec(fmt) if kind == "envelope_mm" else _free_spec(fmt, free_name)
    if rounding is None:
        rounding = "down" if kind == "envelope_mm" else "up"
    if rounding not in ROUNDING:
        raise CasipInputError(Problem("rounding", "unknown rounding", rounding,
                                      "one of: " + ", ".join(ROUNDING)))
    if kind == "envelope_mm" and rounding != "down":
        raise CasipInputError(
            Problem("rounding", "an envelope is a limit: its layers are rounded down so that "
                    "the cell fits", rounding, "'down' (or leave it out)")
        )
    if within_mm is not None:
        try:
            limit = tuple(float(v) for v in within_mm)
        except (TypeError, ValueError):
            limit = ()
        if len(limit) != 3 or not all(math.isfinite(v) and v > 0 for v in limit):
            raise CasipInputError(Problem("within_mm", "must be 3 positive sizes", within_mm,
                                          "(width, height, thickness) in mm"))
    paths, cols = _columns(sweep, grid, spec.fixed)
    params, warnings, n = _point_params(base, paths, cols, lib)
    sized, vals, reach = _solve(base, params, n, kind, value, spec, rounding)
    out = engine.evaluate_arrays(sized)

    status = np.asarray(out["status"])
    sizing = np.where(status != 0, 2, np.where(~reach, 1, 0)).astype(np.int8)
    table: dict[str, np.ndarray] = {p: c for p, c in zip(paths, cols, strict=True)}
    for pth, v in vals.items():
        table[pth] = np.asarray(v, dtype=float)
    if kind == "envelope_mm":
        box = tuple(value)
        if fmt == "cylindrical" and len(box) == 2:
            box = (box[0], box[1], box[0])
        for axis, v in zip(("width", "height", "thickness"), box, strict=True):
            table[f"target_{axis}_mm"] = np.full(n, v)
        achieved = None
    else:
        table[f"target_{kind}"] = np.full(n, float(value))
        achieved = np.asarray(out[kind], dtype=float)
        table[f"achieved_{kind}"] = achieved
        table["overshoot"] = achieved / float(value) - 1
    for k in (*api.HEADLINE, *api.GEOMETRY):
        table.setdefault(k, out[k])
    table["status"] = status
    dims = np.stack([out["cell_width_mm"], out["cell_height_mm"], out["cell_thickness_mm"]])
    box_limit = None
    if kind == "envelope_mm":
        box_limit = table["target_width_mm"], table["target_height_mm"], table[
            "target_thickness_mm"]
    if within_mm is not None:
        lim = tuple(np.full(n, float(v)) for v in within_mm)
        box_limit = lim if box_limit is None else tuple(
            np.minimum(a, b) for a, b in zip(box_limit, lim, strict=True))
    if box_limit is not None:
        lim = np.stack(box_limit)
        over = ~np.all(dims <= lim * (1 + _FIT_RTOL), axis=0)
        sizing = np.where((sizing == 0) & over, 3, sizing).astype(np.int8)
    table["sizing_status"] = sizing
    table["sizing_message"] = _messages(sizing, status, kind, value, spec, vals, dims,
                                        box_limit, achieved, n)

    df = pd.DataFrame(table, copy=False)
    rule = "continuous" if not spec.integer else ("envelope" if kind == "envelope_mm"
                                                  else rounding)
    df.attrs.update(
        target={kind: value},
        free=spec.name,
        free_paths=list(spec.paths),
        rounding=rounding if spec.integer else None,
        rounding_rule=ROUNDING_RULES[rule],
        warnings=warnings,
    )
    ok = df["status"] == 0
    if base.anode.type == "intercalation" and (df["np_ratio"][ok] < 1).any():
        warnings.append("some sized designs have N/P < 1: those cells are anode-limited (their "
                        "capacity is scaled by N/P) and would plate lithium")
    warnings += [w for w in sweep_range_warnings(base, df) if w not in warnings]
    return df


def _messages(
    sizing: np.ndarray, status: np.ndarray, kind: str, value, spec: _Free,
    vals: Mapping[str, np.ndarray], dims: np.ndarray, limit, achieved, n: int,
) -> np.ndarray:
    """``ok`` or why a row could not be sized, naming the target and the numbers."""
    msgs = np.full(n, "ok", dtype=object)
    if kind == "envelope_mm":
        tname = "envelope_mm " + " x ".join(f"{v:g}" for v in value)
    else:
        tname = f"{kind} {value:g}"
    for i in np.flatnonzero(sizing != 0):
        s = int(sizing[i])
        where = ", ".join(f"{p.split('.')[-1]} {vals[p][i]:.6g}" for p in spec.paths)
        if s == 1:
            got = "" if achieved is None or not math.isfinite(achieved[i]) else (
                f", which gives {achieved[i]:.6g}")
            if kind != "envelope_mm":
                msgs[i] = (f"target {tname} is out of reach within the allowed range of "
                           f"{spec.name}: at {where}{got}")
            elif any(not math.isfinite(vals[p][i]) for p in spec.paths):
                msgs[i] = (f"target {tname}: the seals and overhangs alone are larger than the "
                           "envelope; no electrode fits")
            else:
                msgs[i] = f"target {tname}: not even one layer fits ({where})"
        elif s == 2:
            msgs[i] = (f"target {tname}: sized at {where}, the design does not fit its format: "
                       f"{engine.STATUS.get(int(status[i]), 'unknown')}")
        else:
            size_txt = " x ".join(f"{dims[k, i]:.4g}" for k in range(3))
            lim_txt = " x ".join(f"{limit[k][i]:.4g}" for k in range(3))
            msgs[i] = (f"target {tname}: sized at {where}, the cell is {size_txt} mm, larger "
                       f"than the envelope {lim_txt} mm")
    return msgs


def size_design(
    design: Design | Mapping,
    target: Mapping[str, float | Sequence[float]],
    free: str | None = None,
    *,
    rounding: str | None = None,
    within_mm: Sequence[float] | None = None,
    library: MaterialLibrary | None = None,
) -> Design:
    """One design sized to a target, as a new :class:`Design` (see :func:`size`).

    Raises
    ------
    CasipInputError
        If the target cannot be met (the message names the target and the limit).
    """
    base = api._resolve(design, None)
    df = size(base, target, free, rounding=rounding, within_mm=within_mm, library=library)
    row = df.iloc[0]
    if int(row["sizing_status"]) != 0:
        raise CasipInputError(Problem("target", str(row["sizing_message"]), dict(target)),
                              source=base.name)
    updates: dict[str, object] = {}
    for pth in df.attrs["free_paths"]:
        v = float(row[pth])
        updates[pth] = round(v) if pth == "format.layers" else v
    if df.attrs["free"] == "envelope" and base.format.type == "prismatic":
        # the can takes the envelope and holds as many layers as fit
        data = base.model_dump(by_alias=True, exclude_none=True)
        data["format"].pop("layers", None)
        base = api._resolve(data, base.name)
    return api.with_updates(base, updates)


__all__ = [
    "ALIASES",
    "FREE",
    "ROUNDING",
    "ROUNDING_RULES",
    "SIZING_STATUS",
    "TARGETS",
    "first_whole_reaching",
    "size",
    "size_design",
    "solve_increasing",
]
