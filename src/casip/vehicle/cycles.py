"""Standard drive cycles, read from the data files shipped in ``casip/vehicle/data``.

Each file is a public speed trace copied unchanged from a public copy that its header names
(repository, path and commit); ``data/README.md`` lists the sources, their status and the
checks against the published summary figures. Nothing here is typed in from memory.

========  ==========================================  ======  =========  ==============
id        cycle                                       file    unit       status
========  ==========================================  ======  =========  ==============
udds      EPA Urban Dynamometer Driving Schedule      txt     mph        US-government work
hwfet     EPA Highway Fuel Economy Driving Schedule   csv     mph        US-government work
wltc3b    WLTC class 3b (UN GTR No. 15, Annex 1)       txt     km/h       UN GTR text
========  ==========================================  ======  =========  ==============

CLTC-P (GB/T 38146.1) is **not** shipped: no public copy of its speed trace that could be cited
(repository + commit, or the standard's text) was found; it is left out rather than typed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from casip.errors import CasipInputError, Problem

MPH_TO_M_S = 0.44704  # exact: 1 mile = 1609.344 m
KMH_TO_M_S = 1.0 / 3.6


@dataclass(frozen=True)
class CycleInfo:
    """Where a cycle comes from and how its file is read."""

    id: str
    name: str
    file: str
    unit: str  # "mph" or "km/h"
    layout: str  # "time-speed" (two columns) or "speeds" (1 Hz values from t = 0)
    standard: str  # the label it belongs to: "EPA" or "WLTP"
    source: str
    status: str


CYCLES: dict[str, CycleInfo] = {
    "udds": CycleInfo(
        "udds", "EPA Urban Dynamometer Driving Schedule (UDDS)", "udds.txt", "mph",
        "time-speed", "EPA",
        "EPA uddscol.txt (40 CFR 86 App. I(a)); copy read: Wil-mer/TakeMeHomeElectricCar "
        "uddscol.txt @ c10dc22c5fcd2da6a9c9b1d721fb5575138d3f94",
        "US-government work (public domain)",
    ),
    "hwfet": CycleInfo(
        "hwfet", "EPA Highway Fuel Economy Driving Schedule (HWFET)", "hwfet.csv", "mph",
        "time-speed", "EPA",
        "EPA hwycol.txt (40 CFR 600 App. I); copy read: GM-Chess/ev-sim HWFET.csv "
        "@ 28d277a5df0227976203dac293bef154f1d78880",
        "US-government work (public domain)",
    ),
    "wltc3b": CycleInfo(
        "wltc3b", "WLTC class 3b (WLTP)", "wltc_class3b.txt", "km/h", "speeds", "WLTP",
        "UN GTR No. 15 Annex 1; copy read: JRCSTU/wltp wltp/cycles/V_class3b.txt "
        "@ 09bc993595220679ade08b98f001a9c2ed13c137",
        "UN global technical regulation (published text)",
    ),
}

#: Cycles asked for by issue 16 that are not shipped, with the reason.
MISSING: dict[str, str] = {
    "cltc-p": "CLTC-P (GB/T 38146.1): no citable public copy of the speed trace was found; "
    "left out rather than typed in from memory",
}


@dataclass(frozen=True)
class DriveCycle:
    """A speed trace: time [s] and speed [m/s], with where it came from."""

    info: CycleInfo
    time_s: np.ndarray
    speed_m_s: np.ndarray

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] - self.time_s[0])

    @property
    def distance_km(self) -> float:
        """Distance by the trapezoidal rule (the mean speed of each interval times its length)."""
        return float(np.trapezoid(self.speed_m_s, self.time_s) / 1000.0)

    @property
    def max_speed_kmh(self) -> float:
        return float(self.speed_m_s.max() * 3.6)

    @property
    def mean_speed_kmh(self) -> float:
        return self.distance_km / (self.duration_s / 3600.0)

    def summary(self) -> dict[str, object]:
        """Id, name, label, duration, distance, speeds and source as a JSON-friendly dict."""
        return {
            "id": self.id,
            "name": self.info.name,
            "label": self.info.standard,
            "duration_s": self.duration_s,
            "distance_km": self.distance_km,
            "max_speed_kmh": self.max_speed_kmh,
            "mean_speed_kmh": self.mean_speed_kmh,
            "source": self.info.source,
            "status": self.info.status,
        }


def _numbers(text: str) -> list[list[float]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or not (line[0].isdigit() or line[0] in "-."):
            continue  # comments and the column-name line of the csv
        rows.append([float(x) for x in line.replace(",", " ").split()])
    return rows


@cache
def load_cycle(cycle_id: str) -> DriveCycle:
    """Load a shipped cycle by id (``udds``, ``hwfet``, ``wltc3b``).

    Parameters
    ----------
    cycle_id : str
        One of :data:`CYCLES` (case-insensitive).

    Returns
    -------
    DriveCycle
        Time [s] and speed [m/s] at 1 Hz.

    Raises
    ------
    CasipInputError
        If the id is unknown, or names a cycle that is not shipped (:data:`MISSING`).
    """
    key = cycle_id.strip().lower()
    if key not in CYCLES:
        why = MISSING.get(key)
        raise CasipInputError(
            Problem("cycle", why or "unknown drive cycle", cycle_id, ", ".join(CYCLES)),
            source="casip.vehicle",
        )
    info = CYCLES[key]
    text = resources.files("casip.vehicle").joinpath("data", info.file).read_text()
    rows = _numbers(text)
    if info.layout == "time-speed":
        arr = np.asarray(rows, dtype=float)
        t, v = arr[:, 0], arr[:, 1]
    else:
        v = np.asarray([x for r in rows for x in r], dtype=float)
        t = np.arange(v.size, dtype=float)
    factor = MPH_TO_M_S if info.unit == "mph" else KMH_TO_M_S
    return DriveCycle(info, t, v * factor)


def list_cycles() -> list[DriveCycle]:
    """Every shipped cycle, in :data:`CYCLES` order."""
    return [load_cycle(k) for k in CYCLES]
