"""Vehicle model: consumption on standard drive cycles, range, pack-level fast charge.

- :mod:`casip.vehicle.cycles`: the drive cycles shipped as data files (EPA UDDS and HWFET,
  WLTC class 3b), each with its public source;
- :mod:`casip.vehicle.model`: the road-load model, Wh/km at the battery, range and the label
  adjustments (EPA 0.7; WLTP unadjusted);
- :mod:`casip.vehicle.charts`: range against pack mass across the reference cells;
- :mod:`casip.vehicle.fastcharge`: the pack's 10-80 % charge power, time and km per 10 min.

See ``docs/vehicle.md``.
"""

from casip.vehicle.cycles import CYCLES, MISSING, DriveCycle, list_cycles, load_cycle
from casip.vehicle.fastcharge import PackCharge, pack_fast_charge
from casip.vehicle.model import (
    VEHICLES,
    Vehicle,
    cycle_consumption_wh_km,
    get_vehicle,
    label_consumption,
    range_km,
    vehicle_consumption_wh_km,
    vehicle_range,
)

__all__ = [
    "CYCLES",
    "MISSING",
    "VEHICLES",
    "DriveCycle",
    "PackCharge",
    "Vehicle",
    "cycle_consumption_wh_km",
    "get_vehicle",
    "label_consumption",
    "list_cycles",
    "load_cycle",
    "pack_fast_charge",
    "range_km",
    "vehicle_consumption_wh_km",
    "vehicle_range",
]
