"""Road-load vehicle model: Wh/km at the battery on a drive cycle, range, label adjustments.

Equations (docs/vehicle.md has the full notes)
----------------------------------------------
On each 1 s interval ``i`` of a cycle, with mean speed ``v = (v_i + v_{i+1}) / 2`` and
acceleration ``a = (v_{i+1} - v_i) / dt``, the tractive force at the wheels is

``F = (1 + delta) m a + 0.5 rho CdA v^2 + m g Crr cos(theta) [v > 0] + m g sin(theta)``

(inertia with the rotational-inertia factor ``delta``, aerodynamic drag, rolling resistance
while moving, grade) and the wheel power is ``P_w = F v`` [1]_ [2]_. The battery power is

* traction (``P_w >= 0``): ``P_b = P_w / eta_drive + P_aux``;
* braking (``P_w < 0``): ``P_b = -min(share_regen eta_regen |P_w|, P_regen_max) + P_aux``,

where ``eta_drive`` is the battery-to-wheel efficiency (inverter, motor, gear),
``eta_regen`` the wheel-to-battery efficiency, ``share_regen`` the share of the braking power
the electric brake takes (the rest goes to the friction brakes) and ``P_regen_max`` the
regeneration power limit. The battery energy is ``E = sum P_b dt`` and the consumption at the
battery is ``c = E / d`` (Wh/km), ``d`` the cycle distance (trapezoidal, the same ``v``).

Range is ``R = E_usable / c``: usable energy at the battery (not the grid: charging losses are
not part of it), on the raw cycle repeated until empty (no change of mass or efficiency with
state of charge). Label adjustments (:func:`label_consumption`):

* **EPA**: the 2-cycle UDDS and HWFET results combined 55 % city / 45 % highway and divided by
  0.7 (the derived 5-cycle adjustment that most EV makers use for the label; 40 CFR 600.210 and
  600.116, SAE J1634);
* **WLTP**: the WLTC class 3b result, unadjusted;
* **CLTC**: unadjusted as well, but the CLTC-P trace is not shipped (see
  :mod:`casip.vehicle.cycles`), so no CLTC figure is given.

References
----------
.. [1] T. D. Gillespie, *Fundamentals of Vehicle Dynamics*, SAE International (1992), ch. 4
   (road loads: aerodynamic drag, rolling resistance, grade).
.. [2] M. Ehsani, Y. Gao, S. Longo, K. Ebrahimi, *Modern Electric, Hybrid Electric, and Fuel
   Cell Vehicles*, 3rd ed., CRC Press (2018), ch. 2 (vehicle motion, rotational-inertia factor).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from casip.errors import CasipInputError, Problem
from casip.vehicle.cycles import MISSING, DriveCycle, load_cycle

G = 9.80665  # m/s^2, standard gravity
RHO_AIR = 1.2  # kg/m^3, air at about 20 degC and sea level (assumed standard condition)

#: EPA combined weighting of the city (UDDS) and highway (HWFET) results (40 CFR 600.210).
EPA_CITY_SHARE = 0.55
#: EPA derived 5-cycle adjustment of the 2-cycle EV results (label = 0.7 x 2-cycle range).
EPA_ADJUSTMENT = 0.7


@dataclass(frozen=True)
class Vehicle:
    """Parameters of a battery-electric car, apart from its pack (mass and energy are inputs).

    Attributes
    ----------
    name : str
        Short id.
    mass_without_pack_kg : float
        Test mass without the traction pack: the car in running order plus the test payload.
    cda_m2 : float
        Drag coefficient times frontal area.
    crr : float
        Rolling-resistance coefficient.
    drivetrain_efficiency : float
        Battery-to-wheel efficiency in traction (inverter x motor x gear), cycle average.
    regen_efficiency : float
        Wheel-to-battery efficiency in regeneration.
    regen_share : float
        Share of the braking power taken by the electric brake (the rest: friction brakes).
    regen_limit_kw : float
        Largest regeneration power at the battery.
    aux_kw : float
        Auxiliary (12 V, electronics, pumps) power, constant through the cycle.
    rotational_inertia_factor : float
        ``delta``: the rotating parts' inertia as a share of the translating mass.
    source : str
        Where the values come from, or that they are assumed.
    """

    name: str
    mass_without_pack_kg: float
    cda_m2: float
    crr: float
    drivetrain_efficiency: float
    regen_efficiency: float
    regen_share: float
    regen_limit_kw: float
    aux_kw: float
    rotational_inertia_factor: float
    source: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


#: Reference cars. Every value is an ASSUMPTION, chosen as typical of current battery-electric
#: cars of the class (no single model): drivetrain and regen efficiencies in line with the
#: component efficiencies of NREL FASTSim's EV files (transmission 0.92-0.98, motor maps
#: 0.84-0.95); rotational-inertia factor 0.05 within the 1.04-1.1 range of Ehsani et al. [2].
VEHICLES: dict[str, Vehicle] = {
    "sedan": Vehicle(
        "sedan", mass_without_pack_kg=1450.0, cda_m2=0.52, crr=0.008,
        drivetrain_efficiency=0.87, regen_efficiency=0.80, regen_share=0.9,
        regen_limit_kw=70.0, aux_kw=0.3, rotational_inertia_factor=0.05,
        source="assumed: mid-size battery-electric sedan (Cd 0.23 x 2.25 m^2), test payload "
        "included",
    ),
    "suv": Vehicle(
        "suv", mass_without_pack_kg=1850.0, cda_m2=0.78, crr=0.009,
        drivetrain_efficiency=0.86, regen_efficiency=0.80, regen_share=0.9,
        regen_limit_kw=90.0, aux_kw=0.4, rotational_inertia_factor=0.05,
        source="assumed: mid-size battery-electric SUV (Cd 0.29 x 2.7 m^2), test payload "
        "included",
    ),
}


def get_vehicle(name: str) -> Vehicle:
    """A reference vehicle by name (:data:`VEHICLES`); :class:`CasipInputError` if unknown."""
    try:
        return VEHICLES[name.strip().lower()]
    except KeyError:
        raise CasipInputError(
            Problem("vehicle", "unknown reference vehicle", name, ", ".join(VEHICLES)),
            source="casip.vehicle",
        ) from None


def _check(name: str, value, low: float, high: float | None = None,
           allow_inf: bool = False) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    finite = np.isfinite(arr) | (allow_inf & (arr == np.inf))
    bad = ~finite | (arr < low) | ((arr > high) if high is not None else False)
    if np.any(bad):
        expected = f"a number >= {low}" + (f" and <= {high}" if high is not None else "")
        raise CasipInputError(
            Problem(name, "out of range", np.atleast_1d(arr[bad])[0].item(), expected),
            source="casip.vehicle",
        )
    return arr


def cycle_consumption_wh_km(
    cycle: DriveCycle | str,
    *,
    mass_kg,
    cda_m2,
    crr,
    drivetrain_efficiency,
    regen_efficiency,
    regen_share=1.0,
    regen_limit_kw=np.inf,
    aux_kw=0.0,
    rotational_inertia_factor=0.0,
    grade=0.0,
    air_density=RHO_AIR,
) -> np.ndarray:
    """Consumption at the battery [Wh/km] on one cycle, vectorised over the parameters.

    Every keyword is a scalar or an array; they broadcast together (numpy rules) and the result
    has their broadcast shape. ``mass_kg`` is the whole test mass, pack included.

    Parameters
    ----------
    cycle : DriveCycle or str
        The cycle, or its id (:func:`casip.vehicle.cycles.load_cycle`).
    mass_kg, cda_m2, crr : array_like
        Test mass [kg], drag area [m^2], rolling-resistance coefficient.
    drivetrain_efficiency, regen_efficiency : array_like
        Battery-to-wheel (traction, in (0, 1]) and wheel-to-battery (braking, in [0, 1]).
    regen_share : array_like
        Share of braking power given to the electric brake, in [0, 1].
    regen_limit_kw : array_like
        Largest regenerated power at the battery [kW].
    aux_kw : array_like
        Constant auxiliary power [kW].
    rotational_inertia_factor : array_like
        ``delta`` in ``(1 + delta) m a``.
    grade : array_like
        Road gradient as rise over run (0 on the standard cycles).
    air_density : array_like
        [kg/m^3].

    Returns
    -------
    numpy.ndarray
        Wh/km at the battery.
    """
    cyc = load_cycle(cycle) if isinstance(cycle, str) else cycle
    m = _check("mass_kg", mass_kg, 1e-9)
    cda = _check("cda_m2", cda_m2, 0.0)
    crr_ = _check("crr", crr, 0.0, 1.0)
    eta_d = _check("drivetrain_efficiency", drivetrain_efficiency, 1e-6, 1.0)
    eta_r = _check("regen_efficiency", regen_efficiency, 0.0, 1.0)
    share = _check("regen_share", regen_share, 0.0, 1.0)
    limit = _check("regen_limit_kw", regen_limit_kw, 0.0, allow_inf=True) * 1000.0
    aux = _check("aux_kw", aux_kw, 0.0) * 1000.0
    delta = _check("rotational_inertia_factor", rotational_inertia_factor, 0.0)
    rho = _check("air_density", air_density, 0.0)
    theta = np.arctan(np.asarray(grade, dtype=float))
    shape = np.broadcast_shapes(*(np.shape(x) for x in (
        m, cda, crr_, eta_d, eta_r, share, limit, aux, delta, rho, theta)))
    ex = (..., None)  # parameters against the time axis
    m, cda, crr_, eta_d, eta_r, share, limit, aux, delta, rho, theta = (
        np.broadcast_to(x, shape)[ex]
        for x in (m, cda, crr_, eta_d, eta_r, share, limit, aux, delta, rho, theta)
    )

    dt = np.diff(cyc.time_s)
    v = 0.5 * (cyc.speed_m_s[1:] + cyc.speed_m_s[:-1])
    a = np.diff(cyc.speed_m_s) / dt
    moving = v > 0
    force = (
        (1.0 + delta) * m * a
        + 0.5 * rho * cda * v**2
        + m * G * crr_ * np.cos(theta) * moving
        + m * G * np.sin(theta) * moving
    )
    p_wheel = force * v
    traction = np.where(p_wheel > 0, p_wheel, 0.0) / eta_d
    recovered = np.minimum(share * eta_r * np.where(p_wheel < 0, -p_wheel, 0.0), limit)
    p_batt = traction - recovered + aux
    energy_wh = (p_batt * dt).sum(axis=-1) / 3600.0
    distance_km = float((v * dt).sum()) / 1000.0
    return energy_wh / distance_km


def vehicle_consumption_wh_km(
    vehicle: Vehicle | str, cycle: DriveCycle | str, pack_mass_kg, **overrides
) -> np.ndarray:
    """Wh/km at the battery of a reference vehicle carrying a pack of ``pack_mass_kg``.

    ``overrides`` replace keywords of :func:`cycle_consumption_wh_km` (e.g. ``grade``).
    """
    veh = get_vehicle(vehicle) if isinstance(vehicle, str) else vehicle
    kw = dict(
        mass_kg=veh.mass_without_pack_kg + _check("pack_mass_kg", pack_mass_kg, 0.0),
        cda_m2=veh.cda_m2, crr=veh.crr, drivetrain_efficiency=veh.drivetrain_efficiency,
        regen_efficiency=veh.regen_efficiency, regen_share=veh.regen_share,
        regen_limit_kw=veh.regen_limit_kw, aux_kw=veh.aux_kw,
        rotational_inertia_factor=veh.rotational_inertia_factor,
    )
    kw.update(overrides)
    return cycle_consumption_wh_km(cycle, **kw)


LABELS = ("epa", "wltp", "cltc")


def label_consumption(raw: dict[str, np.ndarray | float], label: str) -> np.ndarray:
    """The label consumption [Wh/km at the battery] from raw per-cycle consumptions.

    Parameters
    ----------
    raw : dict
        Raw consumption per cycle id: ``udds`` and ``hwfet`` for EPA, ``wltc3b`` for WLTP.
    label : str
        ``epa``: ``(0.55 c_udds + 0.45 c_hwfet) / 0.7``; ``wltp``: ``c_wltc3b`` (unadjusted);
        ``cltc``: refused, the CLTC-P trace is not shipped.
    """
    key = label.strip().lower()
    if key == "epa":
        combined = EPA_CITY_SHARE * np.asarray(raw["udds"]) + (1 - EPA_CITY_SHARE) * np.asarray(
            raw["hwfet"])
        return combined / EPA_ADJUSTMENT
    if key == "wltp":
        return np.asarray(raw["wltc3b"], dtype=float)
    if key == "cltc":
        raise CasipInputError(Problem("label", MISSING["cltc-p"], label, "epa or wltp"),
                              source="casip.vehicle")
    raise CasipInputError(Problem("label", "unknown label", label, "epa, wltp"),
                          source="casip.vehicle")


def range_km(usable_kwh, consumption_wh_km) -> np.ndarray:
    """Range [km] = usable energy at the battery [kWh] x 1000 / consumption [Wh/km]."""
    return _check("usable_kwh", usable_kwh, 0.0) * 1000.0 / _check(
        "consumption_wh_km", consumption_wh_km, 1e-9)


def vehicle_range(
    vehicle: Vehicle | str, pack_mass_kg, usable_kwh, cycles: tuple[str, ...] | None = None
) -> list[dict[str, object]]:
    """Consumption and range on each cycle and each label, for scalar pack inputs.

    Returns one row per cycle (``basis`` = the cycle id, unadjusted) and per label (EPA
    adjusted; WLTP unadjusted): ``basis``, ``kind`` (cycle / label), ``wh_km``, ``range_km``.
    """
    veh = get_vehicle(vehicle) if isinstance(vehicle, str) else vehicle
    ids = cycles or ("udds", "hwfet", "wltc3b")
    raw = {c: float(vehicle_consumption_wh_km(veh, c, pack_mass_kg)) for c in ids}
    rows: list[dict[str, object]] = [
        {"basis": c, "kind": "cycle (raw)", "wh_km": w, "range_km": float(range_km(usable_kwh, w))}
        for c, w in raw.items()
    ]
    for label, needs in (("epa", ("udds", "hwfet")), ("wltp", ("wltc3b",))):
        if all(n in raw for n in needs):
            w = float(label_consumption(raw, label))
            note = "0.55 UDDS + 0.45 HWFET, / 0.7" if label == "epa" else "WLTC 3b, unadjusted"
            rows.append({"basis": label, "kind": f"label ({note})", "wh_km": w,
                         "range_km": float(range_km(usable_kwh, w))})
    return rows


def with_params(vehicle: Vehicle, **changes) -> Vehicle:
    """A copy of ``vehicle`` with some parameters changed."""
    return replace(vehicle, **changes)
