"""Synthetic cycler files: a known profile written in the layout of every supported text variant.

The hub's promise is *formats, not files*: a reader must read every variant a tester can write
(units, counter semantics, sign conventions, cycle numbering, time forms, delimiters, line
endings), not only the few files someone happened to share. This module makes that testable:

- :func:`make_profile` builds a known cycling test (rest, CC charge, optional CV hold, rest,
  CC discharge, rest, repeated) from a simple open-circuit-voltage + series-resistance cell
  model, as numpy arrays, with the exact per-cycle charge and discharge capacities
  (trapezoidal integral of the current, the BDF definition) as the truth;
- one writer per variant (:data:`VARIANTS`) writes a profile in that variant's layout, with the
  knobs that matter to the format (``Variant.options``: option name -> allowed values);
- :func:`register` adds a variant (e.g. from a declarative format spec), :func:`write` writes one.

The layouts follow each adapter's module docstring (which cites the vendor's documentation or
the public files it was built from); nothing here is copied from another project. A writer never
writes what the format cannot express (e.g. millivolts where the format has no unit in its
header), except where a variant exists to exercise the plausibility gate (``maccor-txt`` with
``voltage_unit="mV-as-V"``, the mislabelled ``Volts`` column of issue 13), which
:func:`unit_changed` reports.

Example
-------
>>> from casip.data import synthetic
>>> p = synthetic.make_profile(n_cycles=2, capacity_ah=0.2, c_rate=1.0, sample_s=30)
>>> synthetic.write("neware-csv", p, "n.csv", current_unit="mA")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Step types of a profile (CASIP's labels).
STEP_TYPES = ("cc_charge", "cv_charge", "cc_discharge", "rest")

#: Schedule step numbers (the tester's ``Step``), per step type; the first rest is step 1.
_SCHEDULE = {"rest0": 1, "cc_charge": 2, "cv_charge": 3, "rest1": 4, "cc_discharge": 5,
             "rest2": 6}

_START = _dt.datetime(2024, 3, 1, 9, 30, 0)


# ------------------------------------------------------------------------------------ profile


@dataclass
class Profile:
    """A known cycling test, one entry per record.

    Attributes
    ----------
    time_s : ndarray
        Test time [s], non-decreasing; a step's first record has the previous step's last time.
    current_a : ndarray
        Current [A], positive on charge.
    voltage_v : ndarray
        Cell voltage [V].
    step_index : ndarray of int
        The schedule's step number (repeats from cycle to cycle).
    step_type : ndarray of str
        ``cc_charge``, ``cv_charge``, ``cc_discharge`` or ``rest``.
    cycle : ndarray of int
        Cycle number from 1 (a cycle starts with its charge; the first rest is in cycle 1).
    capacity_ah : float
        The nominal capacity used to build the profile.
    """

    time_s: np.ndarray
    current_a: np.ndarray
    voltage_v: np.ndarray
    step_index: np.ndarray
    step_type: np.ndarray
    cycle: np.ndarray
    capacity_ah: float
    start: _dt.datetime = field(default=_START)

    def __len__(self) -> int:
        return len(self.time_s)

    @property
    def step_count(self) -> np.ndarray:
        """Running step number from 1 (changes at every step start)."""
        return np.cumsum(self.step_starts).astype(int)

    @property
    def step_starts(self) -> np.ndarray:
        """True on the first record of each executed step."""
        s = self.step_index
        c = self.cycle
        return np.r_[True, (s[1:] != s[:-1]) | (c[1:] != c[:-1])]

    @property
    def step_time_s(self) -> np.ndarray:
        """Time since the start of the current step [s]."""
        starts = np.flatnonzero(self.step_starts)
        run = np.cumsum(self.step_starts) - 1
        return self.time_s - self.time_s[starts][run]

    @property
    def unix_s(self) -> np.ndarray:
        """Wall-clock time (the start, read as UTC, plus the test time) [s since 1970]."""
        t0 = self.start.replace(tzinfo=_dt.UTC).timestamp()
        return t0 + self.time_s

    def increments(self) -> dict[str, np.ndarray]:
        """Per-record increments (trapezoid from the previous record) of the four counters.

        Keys ``qc``, ``qd`` [Ah], ``ec``, ``ed`` [Wh]: charge and discharge capacity and energy,
        integrated as BDF defines them (positive and negative parts of current and power).
        """
        t, i, v = self.time_s, self.current_a, self.voltage_v
        dt = np.diff(t, prepend=t[:1])
        p = i * v
        out = {}
        for key, x, sign in (("qc", i, 1), ("qd", i, -1), ("ec", p, 1), ("ed", p, -1)):
            part = np.clip(sign * x, 0, None)
            prev = np.r_[part[:1], part[:-1]]
            out[key] = 0.5 * (part + prev) * dt / 3600.0
        return out

    def cumulative(self) -> dict[str, np.ndarray]:
        """The four counters cumulative from the test start (BDF semantics)."""
        return {k: np.cumsum(v) for k, v in self.increments().items()}

    def counters(self, reset: str) -> dict[str, np.ndarray]:
        """The four counters as a tester writes them.

        Parameters
        ----------
        reset : str
            ``"none"`` cumulative from the test start; ``"step"`` from 0 at every step;
            ``"cycle"`` from 0 at every cycle; ``"direction"`` from 0 whenever the direction
            of the current changes (carried over between consecutive charge steps, as in
            Novonix files and the Maccor export of issue 13).
        """
        inc = self.increments()
        if reset == "none":
            groups = np.zeros(len(self), dtype=int)
        elif reset == "step":
            groups = self.step_count
        elif reset == "cycle":
            groups = self.cycle
        elif reset == "direction":
            d = np.sign(self.direction)
            nz = d != 0
            last = np.maximum.accumulate(np.where(nz, np.arange(len(d)), 0))
            held = d[last]
            change = np.r_[False, (held[1:] != held[:-1]) & nz[1:]]
            groups = np.cumsum(change)
        else:
            raise ValueError(f"unknown counter reset {reset!r}")
        first = np.r_[True, groups[1:] != groups[:-1]]
        out = {}
        for k, x in inc.items():
            x = np.where(first, 0.0, x)
            c = np.cumsum(x)
            base = pd.Series(np.where(first, c, np.nan)).ffill().to_numpy()
            out[k] = c - base
        return out

    @property
    def direction(self) -> np.ndarray:
        """+1 on charge steps, -1 on discharge steps, 0 at rest."""
        return np.select(
            [np.char.endswith(self.step_type.astype(str), "_charge"),
             np.char.endswith(self.step_type.astype(str), "_discharge")],
            [1, -1], 0,
        )

    def truth(self) -> pd.DataFrame:
        """Per cycle: ``cycle_count``, ``charge_capacity_ah``, ``discharge_capacity_ah``, rows.

        The increase of the cumulative counters over the cycle's records, counted from the
        previous cycle's last record (as :func:`casip.data.summary.cycles` does).
        """
        cum = self.cumulative()
        ends = np.flatnonzero(np.r_[self.cycle[1:] != self.cycle[:-1], True])
        qc = np.diff(np.r_[0.0, cum["qc"][ends]])
        qd = np.diff(np.r_[0.0, cum["qd"][ends]])
        return pd.DataFrame({"cycle_count": self.cycle[ends], "charge_capacity_ah": qc,
                             "discharge_capacity_ah": qd,
                             "rows": np.diff(np.r_[-1, ends])})


def make_profile(
    n_cycles: int = 2,
    capacity_ah: float = 1.0,
    c_rate: float = 1.0,
    sample_s: float = 10.0,
    cv: bool = True,
    rest_s: float = 600.0,
    v_min: float = 3.0,
    v_max: float = 4.2,
    seed: int = 0,
) -> Profile:
    """A known cycling profile from an OCV(soc) + series-resistance cell model.

    Each cycle: CC charge at ``c_rate`` up to ``v_max``; if ``cv``, a CV hold at ``v_max``
    until the current falls to C/20; a rest; CC discharge down to ``v_min``; a rest. The test
    starts with a rest at 30% state of charge. Records every ``sample_s`` seconds within a step;
    each step's first record repeats the previous step's last time (the instant of the change).

    Parameters
    ----------
    n_cycles : int
        Number of charge/discharge cycles (>= 1).
    capacity_ah : float
        Cell capacity [Ah] (> 0); the C-rate refers to it.
    c_rate : float
        Charge and discharge current as a multiple of ``capacity_ah`` per hour.
    sample_s : float
        Sampling interval [s].
    cv : bool
        Add the CV hold after each CC charge.
    rest_s : float
        Duration of each rest [s].
    v_min, v_max : float
        Voltage window [V] (``v_min < v_max``).
    seed : int
        Seed of the measurement noise on the voltage (+-0.2 mV, not in CV steps).

    Returns
    -------
    Profile
    """
    if n_cycles < 1 or capacity_ah <= 0 or c_rate <= 0 or sample_s <= 0 or not v_min < v_max:
        raise ValueError("need n_cycles >= 1, capacity_ah > 0, c_rate > 0, sample_s > 0 "
                         "and v_min < v_max")
    rng = np.random.default_rng(seed)
    span = v_max - v_min
    current = c_rate * capacity_ah
    r = 0.08 * c_rate / current  # ohm: an IR drop of 80 mV per C

    def ocv(soc: float) -> float:
        return v_min + span * (0.02 + 0.96 * soc)

    rows: list[tuple[float, float, float, int, str, int]] = []
    t = 0.0
    soc = 0.3

    def step(kind: str, sched: int, cyc: int, current_of, done, duration=None) -> None:
        nonlocal t, soc
        t0 = t
        i = current_of(soc)
        rows.append((t, i, _volt(kind, soc, i), sched, kind, cyc))
        while True:
            t += sample_s
            soc += i * sample_s / 3600.0 / capacity_ah
            i = current_of(soc)
            rows.append((t, i, _volt(kind, soc, i), sched, kind, cyc))
            if (duration is not None and t - t0 >= duration) or (
                duration is None and done(soc, i)
            ) or t - t0 > 20 * 3600:
                return

    def _volt(kind: str, soc_: float, i: float) -> float:
        if kind == "cv_charge":
            return v_max
        v = ocv(soc_) + i * r
        return float(np.clip(v, v_min, v_max))

    step("rest", _SCHEDULE["rest0"], 1, lambda s: 0.0, None, rest_s)
    for c in range(1, n_cycles + 1):
        step("cc_charge", _SCHEDULE["cc_charge"], c, lambda s: current,
             lambda s, i: ocv(s) + current * r >= v_max or s >= 1.0)
        if cv:
            step("cv_charge", _SCHEDULE["cv_charge"], c,
                 lambda s: max((v_max - ocv(s)) / r, 0.0),
                 lambda s, i: i <= 0.05 * capacity_ah)
        step("rest", _SCHEDULE["rest1"], c, lambda s: 0.0, None, rest_s)
        step("cc_discharge", _SCHEDULE["cc_discharge"], c, lambda s: -current,
             lambda s, i: ocv(s) - current * r <= v_min or s <= 0.0)
        step("rest", _SCHEDULE["rest2"], c, lambda s: 0.0, None, rest_s)
    a = list(zip(*rows, strict=True))
    kinds = np.array(a[4])
    v = np.array(a[2], dtype=float)
    noise = rng.uniform(-2e-4, 2e-4, len(v))
    v = np.where(kinds == "cv_charge", v, np.clip(v + noise, v_min, v_max))
    return Profile(
        time_s=np.array(a[0], dtype=float),
        current_a=np.array(a[1], dtype=float),
        voltage_v=v,
        step_index=np.array(a[3], dtype=int),
        step_type=kinds,
        cycle=np.array(a[5], dtype=int),
        capacity_ah=float(capacity_ah),
    )


# ------------------------------------------------------------------------------------ variants


@dataclass
class Variant:
    """How to write one file variant.

    Attributes
    ----------
    format : str
        The adapter's ``FORMAT`` id that :func:`casip.data.read` must detect for such a file.
    options : dict
        Option name -> the allowed values (the first is the default).
    write : callable
        ``write(profile, path, **options)`` writes the file.
    tolerance : callable
        ``tolerance(**options)`` -> absolute tolerance [SI units] of ``time``, ``current`` and
        ``voltage`` as written (half the last written digit, plus float noise).
    unit_changed : callable
        ``unit_changed(**options)`` -> True where the file deliberately mislabels a unit, so
        that the reader's plausibility gate must convert it with a warning.
    suffix : str
        File name ending for such a file.
    """

    format: str
    options: dict[str, Sequence[Any]]
    write: Callable[..., None]
    tolerance: Callable[..., dict[str, float]]
    unit_changed: Callable[..., bool] = field(default=lambda **o: False)
    suffix: str = ".csv"

    def defaults(self) -> dict[str, Any]:
        """The first allowed value of every option."""
        return {k: v[0] for k, v in self.options.items()}


#: Variant name -> Variant; see :func:`register`.
VARIANTS: dict[str, Variant] = {}


def register(name: str, variant: Variant) -> None:
    """Add (or replace) a variant under ``name``."""
    if not isinstance(variant, Variant):
        raise TypeError("variant must be a casip.data.synthetic.Variant")
    VARIANTS[name] = variant


def write(name: str, profile: Profile, path: str | os.PathLike, **options: Any) -> Path:
    """Write ``profile`` to ``path`` as variant ``name`` (unknown option values raise).

    Returns
    -------
    Path
        The written file.
    """
    try:
        var = VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(sorted(VARIANTS))}") from None
    opts = var.defaults()
    for k, v in options.items():
        if k not in var.options:
            raise ValueError(f"variant {name!r} has no option {k!r}")
        if v not in var.options[k]:
            raise ValueError(f"option {k}={v!r} of variant {name!r} not in {var.options[k]}")
        opts[k] = v
    p = Path(path)
    var.write(profile, p, **opts)
    return p


def unit_changed(name: str, **options: Any) -> bool:
    """True where variant ``name`` with ``options`` mislabels a unit on purpose."""
    var = VARIANTS[name]
    return bool(var.unit_changed(**{**var.defaults(), **options}))


# ------------------------------------------------------------------------------------ helpers

_NEWLINES = {"lf": "\n", "crlf": "\r\n"}


def _put(path: Path, header: Sequence[str], cols: Sequence[Sequence[str]], sep: str,
         line_ending: str, trailing: str = "", encoding: str = "utf-8") -> None:
    """Write header lines and the row fields (columns of strings) joined by ``sep``."""
    nl = _NEWLINES[line_ending]
    body = [sep.join(row) + trailing for row in zip(*cols, strict=True)]
    text = nl.join([*header, *body]) + nl
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def _fmt(x: np.ndarray, decimals: int) -> list[str]:
    out = np.char.mod(f"%.{decimals}f", np.asarray(x, dtype=float))
    # no negative zero: a "-0.000" field reads as a discharge in some sign checks
    return [s[1:] if s.startswith("-") and float(s) == 0 else s for s in out.tolist()]


def _ints(x: np.ndarray) -> list[str]:
    return [str(int(v)) for v in x]


def _hms(seconds: np.ndarray, decimals: int = 0, days: bool = False) -> list[str]:
    """``h:mm:ss[.fff]`` (hours beyond 24 kept) or ``Nd hh:mm:ss.ff`` with ``days``."""
    out = []
    for s in np.asarray(seconds, dtype=float):
        s = round(float(s), decimals)
        d, rest = divmod(s, 86400.0) if days else (0, s)
        h, rest = divmod(rest, 3600.0)
        m, sec = divmod(rest, 60.0)
        width = 3 + decimals if decimals else 2
        secs = f"{sec:0{width}.{decimals}f}"
        out.append(f"{int(d)}d {int(h):02d}:{int(m):02d}:{secs}" if days
                   else f"{int(h)}:{int(m):02d}:{secs}")
    return out


def _tol(time: float, current: float, voltage: float) -> dict[str, float]:
    """Half a unit of the last written digit (in SI units), plus float noise."""
    return {"time": 0.5 * time + 1e-9, "current": 0.5 * current + 1e-12,
            "voltage": 0.5 * voltage + 1e-12}


def _dates(p: Profile, fmt: str) -> list[str]:
    return [(p.start + _dt.timedelta(seconds=float(s))).strftime(fmt) for s in p.time_s]


_CUR = {"A": (1.0, 6), "mA": (1e3, 4)}
_VOLT = {"V": (1.0, 5), "mV": (1e3, 2)}
_CAP = {"Ah": (1.0, 8), "mAh": (1e3, 5)}
_ENE = {"Wh": (1.0, 8), "mWh": (1e3, 5)}


def _unit_tol(current_unit: str = "A", voltage_unit: str = "V") -> tuple[float, float]:
    f, d = _CUR[current_unit]
    g, e = _VOLT[voltage_unit]
    return 10.0 ** -d / f, 10.0 ** -e / g


# ------------------------------------------------------------------------------------ writers


def _write_bdf(p: Profile, path: Path, names: str, counters: bool, line_ending: str) -> None:
    human = {"test_time_second": "Test Time / s", "voltage_volt": "Voltage / V",
             "current_ampere": "Current / A", "cycle_count": "Cycle Count / 1",
             "step_index": "Step Index / 1", "charging_capacity_ah": "Charging Capacity / Ah",
             "discharging_capacity_ah": "Discharging Capacity / Ah",
             "unix_time_second": "Unix Time / s"}
    cols = {"test_time_second": _fmt(p.time_s, 3), "voltage_volt": _fmt(p.voltage_v, 5),
            "current_ampere": _fmt(p.current_a, 6), "unix_time_second": _fmt(p.unix_s, 3),
            "cycle_count": _ints(p.cycle), "step_index": _ints(p.step_index)}
    if counters:
        cum = p.cumulative()
        cols["charging_capacity_ah"] = _fmt(cum["qc"], 8)
        cols["discharging_capacity_ah"] = _fmt(cum["qd"], 8)
    header = [",".join(human[k] if names == "human" else k for k in cols)]
    _put(path, header, list(cols.values()), ",", line_ending)


register("bdf-csv", Variant(
    format="bdf-csv",
    options={"names": ("machine", "human"), "counters": (True, False),
             "line_ending": ("lf", "crlf")},
    write=_write_bdf,
    tolerance=lambda **o: _tol(1e-3, 1e-6, 1e-5),
))


def _write_arbin(p: Profile, path: Path, sep: str, current_unit: str, voltage_unit: str,
                 capacity_unit: str, time_unit: str, counter_reset: str, cycle_from: int,
                 names: str, clock: str, line_ending: str) -> None:
    fi, di = _CUR[current_unit]
    fv, dv = _VOLT[voltage_unit]
    fq, dq = _CAP[capacity_unit]
    fe, de = _ENE[capacity_unit.replace("Ah", "Wh")]
    cnt = p.counters(counter_reset)

    def name(base: str, unit: str | None) -> str:
        base = base if names == "underscore" else base.replace("_", " ")
        return base if unit is None else f"{base}({unit})"

    if time_unit == "s":
        tt, tname = _fmt(p.time_s, 4), name("Test_Time", "s")
    elif time_unit == "h":
        tt, tname = _fmt(p.time_s / 3600.0, 8), name("Test_Time", "h")
    else:  # h:mm:ss
        tt, tname = _hms(p.time_s, 3), name("Test_Time", None)
    cols = {
        name("Data_Point", None): _ints(np.arange(1, len(p) + 1)),
        tname: tt,
        **({name("DateTime", None): _fmt(p.unix_s, 3)} if clock == "unix" else
           {name("Date_Time", None): _dates(p, "%m/%d/%Y %H:%M:%S")}),
        name("Step_Time", "s"): _fmt(p.step_time_s, 4),
        name("Step_Index", None): _ints(p.step_index),
        name("Cycle_Index", None): _ints(p.cycle - 1 + cycle_from),
        name("Current", current_unit): _fmt(p.current_a * fi, di),
        name("Voltage", voltage_unit): _fmt(p.voltage_v * fv, dv),
        name("Charge_Capacity", capacity_unit): _fmt(cnt["qc"] * fq, dq),
        name("Discharge_Capacity", capacity_unit): _fmt(cnt["qd"] * fq, dq),
        name("Charge_Energy", capacity_unit.replace("Ah", "Wh")): _fmt(cnt["ec"] * fe, de),
        name("Discharge_Energy", capacity_unit.replace("Ah", "Wh")): _fmt(cnt["ed"] * fe, de),
    }
    _put(path, [sep.join(cols)], list(cols.values()), sep, line_ending)


register("arbin-csv", Variant(
    format="arbin-csv",
    options={"sep": (",", "\t"), "current_unit": ("A", "mA"), "voltage_unit": ("V", "mV"),
             "capacity_unit": ("Ah", "mAh"), "time_unit": ("s", "h", "hms"),
             "counter_reset": ("cycle", "step", "none"), "cycle_from": (1, 0),
             "names": ("underscore", "space"), "clock": ("unix", "string"),
             "line_ending": ("lf", "crlf")},
    write=_write_arbin,
    tolerance=lambda **o: _tol({"s": 1e-4, "h": 3.6e-5, "hms": 1e-3}[o["time_unit"]],
                               *_unit_tol(o["current_unit"], o["voltage_unit"])),
))


_NEWARE_LABELS = {"rest": "Rest", "cc_charge": "CC Chg", "cv_charge": "CV Chg",
                  "cc_discharge": "CC DChg"}


def _write_neware(p: Profile, path: Path, current_unit: str, voltage_unit: str,
                  capacity_unit: str, time_form: str, sign: str, counter_reset: str, sep: str,
                  line_ending: str) -> None:
    fi, di = _CUR[current_unit]
    fv, dv = _VOLT[voltage_unit]
    fq, dq = _CAP[capacity_unit]
    eu = capacity_unit.replace("Ah", "Wh")
    fe, de = _ENE[eu]
    cnt = p.counters(counter_reset)
    cur = p.current_a if sign == "signed" else np.abs(p.current_a)
    if time_form == "hms":
        step_t, test_t = _hms(p.step_time_s), _hms(p.time_s)
        names_t = ("Time", "Cumulative Time")
    else:
        step_t, test_t = _fmt(p.step_time_s, 3), _fmt(p.time_s, 3)
        names_t = ("Time(s)", "Total Time(s)")
    cols = {
        "DataPoint": _ints(np.arange(1, len(p) + 1)),
        "Cycle Index": _ints(p.cycle),
        "Step Index": _ints(p.step_count),
        "Step Type": [_NEWARE_LABELS[k] for k in p.step_type],
        names_t[0]: step_t,
        names_t[1]: test_t,
        f"Current({current_unit})": _fmt(cur * fi, di),
        f"Voltage({voltage_unit})": _fmt(p.voltage_v * fv, dv),
        f"Capacity({capacity_unit})": _fmt((cnt["qc"] + cnt["qd"]) * fq, dq),
        f"Chg. Cap.({capacity_unit})": _fmt(cnt["qc"] * fq, dq),
        f"DChg. Cap.({capacity_unit})": _fmt(cnt["qd"] * fq, dq),
        f"Energy({eu})": _fmt((cnt["ec"] + cnt["ed"]) * fe, de),
        f"Chg. Energy({eu})": _fmt(cnt["ec"] * fe, de),
        f"DChg. Energy({eu})": _fmt(cnt["ed"] * fe, de),
        "Date": _dates(p, "%Y-%m-%d %H:%M:%S"),
    }
    _put(path, [sep.join(cols)], list(cols.values()), sep, line_ending)


register("neware-csv", Variant(
    format="neware-csv",
    options={"current_unit": ("A", "mA"), "voltage_unit": ("V", "mV"),
             "capacity_unit": ("Ah", "mAh"), "time_form": ("hms", "seconds"),
             "sign": ("signed", "unsigned"), "counter_reset": ("step", "none"),
             "sep": (",", "\t"), "line_ending": ("lf", "crlf")},
    write=_write_neware,
    tolerance=lambda **o: _tol(1.0 if o["time_form"] == "hms" else 1e-3,
                               *_unit_tol(o["current_unit"], o["voltage_unit"])),
))


def _write_pec(p: Profile, path: Path, current_unit: str, voltage_unit: str,
               capacity_unit: str, time_unit: str, counter_reset: str, cycle_from: int,
               line_ending: str) -> None:
    fi, di = _CUR[current_unit]
    fv, dv = _VOLT[voltage_unit]
    fq, dq = _CAP[capacity_unit]
    eu = capacity_unit.replace("Ah", "Wh")
    fe, de = _ENE[eu]
    cnt = p.counters(counter_reset)
    if time_unit == "Seconds":
        tt = _fmt(p.time_s, 3)
    elif time_unit == "Minutes":
        tt = _fmt(p.time_s / 60.0, 6)
    elif time_unit == "Decimal Hours":
        tt = _fmt(p.time_s / 3600.0, 8)
    else:
        tt = _hms(p.time_s, 3)
    start = p.start.strftime("%m/%d/%Y %H:%M:%S")
    header = ["Request Year:,2024", "Test:,42", "Test Description:,synthetic",
              "TestRegime Name:,CASIP synthetic CC-CV", "Number Of Cells:,1",
              f"Start Time:,{start}", "Test Temp:,25"]
    n = len(p)
    cols = {
        "Test": ["42"] * n, "Cell": ["1"] * n, "Rack": ["SBT0001"] * n, "Shelf": ["001"] * n,
        "Position": ["1"] * n, "Cell ID": [""] * n,
        "Step": _ints(p.step_index), "Cycle": _ints(p.cycle - 1 + cycle_from),
        f"Total Time ({time_unit if time_unit != 'hms' else 'Hours in hh:mm:ss.xxx'})": tt,
        "Step Time (Seconds)": _fmt(p.step_time_s, 3),
        "Real Time": _dates(p, "%m/%d/%Y %H:%M:%S"),
        f"Voltage ({voltage_unit})": _fmt(p.voltage_v * fv, dv),
        f"Current ({current_unit})": _fmt(p.current_a * fi, di),
        f"Charge Capacity ({capacity_unit})": _fmt(cnt["qc"] * fq, dq),
        f"Discharge Capacity ({capacity_unit})": _fmt(cnt["qd"] * fq, dq),
        f"Charge Capacity ({eu})": _fmt(cnt["ec"] * fe, de),
        f"Discharge Capacity ({eu})": _fmt(cnt["ed"] * fe, de),
    }
    _put(path, [*header, ",".join(cols)], list(cols.values()), ",", line_ending)


register("pec-csv", Variant(
    format="pec-csv",
    options={"current_unit": ("mA", "A"), "voltage_unit": ("mV", "V"),
             "capacity_unit": ("mAh", "Ah"),
             "time_unit": ("Seconds", "Minutes", "Decimal Hours", "hms"),
             "counter_reset": ("cycle", "step", "none"), "cycle_from": (0, 1),
             "line_ending": ("lf", "crlf")},
    write=_write_pec,
    tolerance=lambda **o: _tol({"Seconds": 1e-3, "Minutes": 6e-5, "Decimal Hours": 3.6e-5,
                                "hms": 1e-3}[o["time_unit"]],
                               *_unit_tol(o["current_unit"], o["voltage_unit"])),
))


_LANDT_LABELS = {"rest": "rest", "cc_charge": "charge CC", "cv_charge": "charge CV",
                 "cc_discharge": "discharge CC"}


def _write_landt(p: Profile, path: Path, current_unit: str, voltage_unit: str,
                 capacity_unit: str, time_unit: str, sign: str, counter_reset: str,
                 trailing_comma: bool, line_ending: str) -> None:
    fi, di = _CUR[current_unit]
    fv, dv = _VOLT[voltage_unit]
    fq, dq = _CAP[capacity_unit]
    eu = capacity_unit.replace("Ah", "Wh")
    fe, de = _ENE[eu]
    cnt = p.counters(counter_reset)
    cur = p.current_a if sign == "signed" else np.abs(p.current_a)
    tf, td = {"s": (1.0, 3), "min": (1 / 60.0, 6), "h": (1 / 3600.0, 8)}[time_unit]
    n = len(p)
    cols = {
        "channel_index": ["1"] * n,
        "cycle_index": _ints(p.cycle),
        "step_index": _ints(p.step_count),
        "date_time_iso_string": _dates(p, "%m/%d/%Y %H:%M:%S"),
        f"test_time_{time_unit}": _fmt(p.time_s * tf, td),
        f"step_time_{time_unit}": _fmt(p.step_time_s * tf, td),
        f"current_{current_unit}": _fmt(cur * fi, di),
        f"voltage_{voltage_unit}": _fmt(p.voltage_v * fv, dv),
        f"discharge_capacity_{capacity_unit}": _fmt(cnt["qd"] * fq, dq),
        f"charge_capacity_{capacity_unit}": _fmt(cnt["qc"] * fq, dq),
        f"discharge_energy_{eu}": _fmt(cnt["ed"] * fe, de),
        f"charge_energy_{eu}": _fmt(cnt["ec"] * fe, de),
        "step_name": [_LANDT_LABELS[k] for k in p.step_type],
    }
    pad = "," * (len(cols) - 1)
    header = [f"cell model:{pad}", f"cell id: synthetic{pad}", f"test: round trip{pad}",
              f"checkpoint: {pad}",
              f"Nominal capacity used to define the C rate:Ah,{p.capacity_ah:g}" + pad[1:],
              f"Nominal energy used to define the E rate: Wh{pad}", ",".join(cols)]
    _put(path, header, list(cols.values()), ",", line_ending,
         trailing="," if trailing_comma else "")


register("landt-csv", Variant(
    format="landt-csv",
    options={"current_unit": ("A", "mA"), "voltage_unit": ("V", "mV"),
             "capacity_unit": ("Ah", "mAh"), "time_unit": ("s", "min", "h"),
             "sign": ("signed", "unsigned"), "counter_reset": ("step", "cycle", "none"),
             "trailing_comma": (True, False), "line_ending": ("crlf", "lf")},
    write=_write_landt,
    tolerance=lambda **o: _tol({"s": 1e-3, "min": 6e-5, "h": 3.6e-5}[o["time_unit"]],
                               *_unit_tol(o["current_unit"], o["voltage_unit"])),
))


_NOVONIX_CODES = {"rest": 0, "cc_charge": 7, "cv_charge": 8, "cc_discharge": 2}


def _write_novonix(p: Profile, path: Path, sign: str, quoted: bool, summary: bool,
                   counter_reset: str, line_ending: str) -> None:
    cnt = p.counters(counter_reset)
    codes = [_NOVONIX_CODES[k] for k in p.step_type]
    if not (p.step_type == "cv_charge").any():  # a plain CC charge has its own code
        codes = [1 if c == 7 else c for c in codes]
    cur = p.current_a if sign == "signed" else np.abs(p.current_a)
    d = p.direction
    cap = np.where(d >= 0, cnt["qc"], cnt["qd"])
    ene = np.where(d >= 0, cnt["ec"], cnt["ed"])
    n = len(p)
    names = ["Date and Time", "Cycle Number", "Step Type", "Run Time (h)", "Step Time (h)",
             "Current (A)", "Potential (V)", "Capacity (Ah)", "Temperature (°C)",
             "Circuit Temperature (°C)", "Energy (Wh)", "dVdt (I/h)", "dIdt (V/h)",
             "Step Number", "Step position"]
    cols = [_dates(p, "%Y-%m-%d %I:%M:%S %p"), _ints(p.cycle), [str(c) for c in codes],
            _fmt(p.time_s / 3600.0, 8), _fmt(p.step_time_s / 3600.0, 8),
            _fmt(cur, 10), _fmt(p.voltage_v, 8), _fmt(cap, 10), ["25.000"] * n,
            ["23.000"] * n, _fmt(ene, 10), ["0.0000000"] * n, ["0.0000000"] * n,
            _ints(p.step_index), ["0"] * n]
    header = []
    if summary:
        header += ["[Summary]", "Novonix HPC data file", "Novonix", "Channel: 01",
                   "Cell: synthetic.csv", "Protocol: casip_roundtrip.pro1",
                   f"Capacity (Ah): {p.capacity_ah:g}",
                   "Started: " + p.start.strftime("%Y-%m-%d %I:%M:%S %p"),
                   "Version: 2.2.1.6", "[End Summary]", "[Protocol]",
                   "[0: Open_circuit_storage:]", "[End Protocol]", "[Data]"]
    header.append(",".join(names))
    if quoted:
        header[-1] = f'"{header[-1]}"'
        _put(path, header, [[f'"{x}' for x in cols[0]], *cols[1:-1],
                            [f'{x}"' for x in cols[-1]]], ",", line_ending)
    else:
        _put(path, header, cols, ",", line_ending)


register("novonix-csv", Variant(
    format="novonix-csv",
    options={"sign": ("signed", "unsigned"), "quoted": (False, True),
             "summary": (True, False), "counter_reset": ("direction", "step"),
             "line_ending": ("crlf", "lf")},
    write=_write_novonix,
    tolerance=lambda **o: _tol(3.6e-5, 1e-10, 1e-8),
))


_BITRODE_MODES = {"rest": "REST", "cc_charge": "CHRG", "cv_charge": "CHRG",
                  "cc_discharge": "DCHG"}


def _write_bitrode(p: Profile, path: Path, sign: str, counter_sign: str, rest_counter: str,
                   line_ending: str) -> None:
    cnt = p.counters("step")
    d = p.direction
    cur = p.current_a if sign == "signed" else np.abs(p.current_a)
    cap = np.where(d > 0, cnt["qc"], cnt["qd"])
    ene = np.where(d > 0, cnt["ec"], cnt["ed"])
    if counter_sign == "signed":
        cap, ene = np.where(d < 0, -cap, cap), np.where(d < 0, -ene, ene)
    if rest_counter == "hold":  # a rest shows the value the previous step ended with
        rest = d == 0
        idx = np.maximum.accumulate(np.where(~rest, np.arange(len(d)), 0))
        cap = np.where(rest & (idx > 0), cap[idx], cap)
        ene = np.where(rest & (idx > 0), ene[idx], ene)
    n = len(p)
    names = ["Exclude", "Time(s)", "Cycle", "Loop", "Loop", "Loop", "Step", "StepTime(s)",
             "Current(A)", "Voltage(V)", "Power(W)", "Capacity(Ah)", "Energy(Wh)", "Mode",
             "Data", ""]
    cols = [["No"] * n, _fmt(p.time_s, 1), _ints(p.cycle), ["1"] * n, ["1"] * n, ["1"] * n,
            _ints(p.step_index), _fmt(p.step_time_s, 1), _fmt(cur, 6), _fmt(p.voltage_v, 5),
            _fmt(cur * p.voltage_v, 5), _fmt(cap, 8), _fmt(ene, 8),
            [_BITRODE_MODES[k] for k in p.step_type], [" "] * n, [""] * n]
    _put(path, [",".join(names)], cols, ",", line_ending)


register("bitrode-csv", Variant(
    format="bitrode-csv",
    options={"sign": ("signed", "unsigned"), "counter_sign": ("signed", "unsigned"),
             "rest_counter": ("hold", "zero"), "line_ending": ("lf", "crlf")},
    write=_write_bitrode,
    tolerance=lambda **o: _tol(0.1, 1e-6, 1e-5),
))


def _write_batterydata(p: Profile, path: Path, throughput: bool, line_ending: str) -> None:
    cum = p.cumulative()
    net = p.counters("step")
    n = len(p)
    datenum = p.unix_s / 86400.0 + 719529.0
    names = ["Cycle_Index", "Step", "Time_s", "Amphr", "Watthr", "Current_A", "Voltage_V",
             "Cell_Temperature_C", "Datenum_d", "Charge_Capacity_Ah", "Discharge_Capacity_Ah"]
    cols = [_ints(p.cycle), _ints(p.step_index), _fmt(p.time_s, 3),
            _fmt(net["qc"] - net["qd"], 8), _fmt(net["ec"] - net["ed"], 8),
            _fmt(p.current_a, 6), _fmt(p.voltage_v, 6), ["25.0"] * n, _fmt(datenum, 10),
            _fmt(net["qc"], 8), _fmt(net["qd"], 8)]
    if throughput:
        names += ["Absolute_Charge_Throughput_Ah", "Charge_Throughput_Ah",
                  "Absolute_Energy_Throughput_Wh", "Energy_Throughput_Wh"]
        cols += [_fmt(cum["qc"] + cum["qd"], 8), _fmt(cum["qc"] - cum["qd"], 8),
                 _fmt(cum["ec"] + cum["ed"], 8), _fmt(cum["ec"] - cum["ed"], 8)]
    names.append("Cycle_Label")
    cols.append(["Aging cycle"] * n)
    _put(path, [",".join(names)], cols, ",", line_ending)


register("batterydata-csv", Variant(
    format="batterydata-csv",
    options={"throughput": (True, False), "line_ending": ("lf", "crlf")},
    write=_write_batterydata,
    tolerance=lambda **o: _tol(1e-3, 1e-6, 1e-6),
))


_MACCOR_STATE = {"rest": "R", "cc_charge": "C", "cv_charge": "C", "cc_discharge": "D"}


def _write_maccor(p: Profile, path: Path, header: str, time_form: str, current_unit: str,
                  voltage_unit: str, capacity_unit: str, sign: str, counter_reset: str,
                  cycle_column: str, decimal: str, line_ending: str) -> None:
    cnt = p.counters(counter_reset)
    d = p.direction
    q = np.where(d >= 0, cnt["qc"], cnt["qd"])
    e = np.where(d >= 0, cnt["ec"], cnt["ed"])
    fi, di = _CUR[current_unit]
    fq, dq = _CAP[capacity_unit]
    fe, de = _ENE[capacity_unit.replace("Ah", "Wh")]
    vunit = "mV" if voltage_unit == "mV" else "V"
    fv, dv = _VOLT["mV" if voltage_unit != "V" else "V"]
    cur = p.current_a if sign == "signed" else np.abs(p.current_a)
    names_i = {"A": "Amps", "mA": "mAmps"}[current_unit]
    names_v = {"V": "Volts", "mV": "mVolts", "mV-as-V": "Volts"}[voltage_unit]
    names_q = {"Ah": "Amp-hr", "mAh": "mAmp-hr"}[capacity_unit]
    names_e = {"Ah": "Watt-hr", "mAh": "mWatt-hr"}[capacity_unit]
    del vunit
    if time_form == "dhms":
        tt, st, tn, sn = _hms(p.time_s, 2, days=True), _hms(p.step_time_s, 2, days=True), \
            "TestTime", "StepTime"
    elif time_form == "sec":
        tt, st, tn, sn = _fmt(p.time_s, 3), _fmt(p.step_time_s, 3), "Test (Sec)", "Step (Sec)"
    else:
        tt, st, tn, sn = (_fmt(p.time_s / 60.0, 6), _fmt(p.step_time_s / 60.0, 6),
                          "Test (Min)", "Step (Min)")
    n = len(p)
    cyc = _ints(p.cycle - 1) if cycle_column == "Cyc#" else _ints(p.cycle)
    cols = {"Rec#": _ints(np.arange(1, n + 1)), cycle_column: cyc,
            "Step": _ints(p.step_index), tn: tt, sn: st,
            names_q: _fmt(q * fq, dq), names_e: _fmt(e * fe, de),
            names_i: _fmt(cur * fi, di), names_v: _fmt(p.voltage_v * fv, dv),
            "State": [_MACCOR_STATE[k] for k in p.step_type],
            "ES": ["0"] * n, "DPt Time": _dates(p, "%m/%d/%Y %H:%M:%S")}
    if decimal == ",":
        for k in (names_q, names_e, names_i, names_v, tn, sn):
            cols[k] = [x.replace(".", ",") for x in cols[k]]
    lines: list[str] = []
    start = p.start.strftime("%d %B %Y, %I:%M:%S %p")
    if header == "mims":
        lines = [f"Today's Date:\t{p.start:%d %B %Y}\tDate of Test:\t{start}",
                 "    Filename:\tsynthetic_roundtrip\tTester Channel:\t7",
                 "Procedure:\tCASIP_CCCV.000\tDescription:\tsynthetic"]
    elif header == "export":
        lines = ["Name:\tsynthetic_roundtrip", "Channel:\t7", "Procedure\tCASIP_CCCV.000",
                 f"Started\t{p.start:%m/%d/%Y %I:%M:%S %p}", ""]
    _put(path, [*lines, "\t".join(cols)], list(cols.values()), "\t", line_ending)


register("maccor-txt", Variant(
    format="maccor-txt",
    options={"header": ("mims", "export", "none"), "time_form": ("dhms", "sec", "min"),
             "current_unit": ("A", "mA"), "voltage_unit": ("V", "mV", "mV-as-V"),
             "capacity_unit": ("Ah", "mAh"), "sign": ("unsigned", "signed"),
             "counter_reset": ("step", "direction"), "cycle_column": ("Cyc#", "Cycle C"),
             "decimal": (".", ","), "line_ending": ("crlf", "lf")},
    write=_write_maccor,
    tolerance=lambda **o: _tol({"dhms": 1e-2, "sec": 1e-3, "min": 6e-5}[o["time_form"]],
                               *_unit_tol(o["current_unit"],
                                          "V" if o["voltage_unit"] == "V" else "mV")),
    unit_changed=lambda **o: o["voltage_unit"] == "mV-as-V",
    suffix=".txt",
))


def variant_names() -> list[str]:
    """The registered variant names, sorted."""
    return sorted(VARIANTS)


#: The variants defined in this module (others are added by :func:`register`).
BUILTIN: tuple[str, ...] = tuple(sorted(VARIANTS))
