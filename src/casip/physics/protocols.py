"""Many charging protocols on one built model: charge time and lithium-plating dose.

For protocol studies (e.g. the campaign virtual lab, :mod:`casip.campaign.virtual_lab`) that
solve the same cell for thousands of multistep charges: :func:`casip.physics.charge.fast_charge`
builds the model per call and :func:`casip.physics.batch.fast_charge_many` takes one protocol
for all designs, so this keeps one charge rig of :mod:`casip.physics.charge` and solves it
for each protocol.

The plating dose is the time integral of the plating overpotential at the negative
electrode's separator side, :math:`D = \\int \\max(0, -\\phi_{an})\\,dt` [V s], with
:math:`\\phi_{an}` the negative electrode's surface potential against lithium that the rig
reports (``anode_potential_V`` of the charge history).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np


class ProtocolCharger:
    """One built DFN model of a cell, solved for any two-step protocol (build once, solve many).

    Uses the charge rig of :mod:`casip.physics.charge` directly (the public ``fast_charge``
    rebuilds the model per call and ``fast_charge_many`` takes one protocol for all designs).

    Parameters
    ----------
    cell : str
        A reference design id (:func:`casip.cells.reference_design`).
    soc_start, soc_end : float
        The charge window (default 10-80 %).
    """

    def __init__(self, cell: str, soc_start: float = 0.1, soc_end: float = 0.8):
        from casip.cells import reference_design

        self.soc_start, self.soc_end = float(soc_start), float(soc_end)
        from casip.physics.charge import (
            ChargeLimits,
            _cell_for,
            _ChargeRig,
            _horizon,
            _resolve_limits,
        )

        self._cell = _cell_for(
            reference_design(cell),
            None,
            temperature_K=None,
            contact_resistance_ohm_cm2=None,
            overrides=None,
        )
        self.name = cell
        self.capacity_Ah = float(self._cell.capacity_Ah)
        self._resolved, self._notes = _resolve_limits(self._cell, ChargeLimits())
        self._rig = _ChargeRig(
            self._cell, thermal=False, horizon_s=_horizon(self.soc_end - self.soc_start, 20.0)
        )

    def charge(self, steps: Sequence[tuple[float, float]]) -> dict:
        """Charge from ``soc_start`` to ``soc_end`` with ``steps`` of (C-rate, until SOC).

        Returns
        -------
        dict
            ``time_min``, ``min_anode_V``, ``dose_Vs`` (time integral of the plating
            overpotential ``max(0, -phi_an)``).
        """
        import pybamm

        from casip.physics.charge import _charge_on, _evaluate, _steps_for, _time_cap

        plan = _steps_for("multistep", steps[0][0], steps, self.soc_start, self.soc_end)
        try:
            r = _charge_on(
                self._rig,
                plan,
                "multistep",
                self.soc_start,
                self.soc_end,
                self._resolved,
                self._notes,
            )
        except pybamm.SolverError as exc:
            # A second step faster than the first, started at the upper voltage, violates the
            # voltage event at its first instant; the rig's rule for a step that meets the
            # upper voltage is "next step, else constant voltage", so run the first step and
            # hand over to constant voltage, as that rule would.
            if "Maximum voltage" not in str(exc) or len(plan) < 2:
                raise
            v = self._resolved["upper_voltage_V"]
            sol, cv = self._rig.run(
                plan[:1],
                self.soc_start,
                self.soc_end,
                v,
                _time_cap(self.soc_end - self.soc_start, plan),
            )
            r = _evaluate(
                self._rig,
                sol,
                cv,
                protocol="multistep",
                steps=plan,
                soc_start=self.soc_start,
                soc_end=self.soc_end,
                limits=self._resolved,
                notes=self._notes,
            )
        h = r.history
        t = h["time_min"].to_numpy() * 60.0
        eta = np.clip(-h["anode_potential_V"].to_numpy(), 0.0, None)
        dose = float(np.sum(0.5 * (eta[1:] + eta[:-1]) * np.diff(t)))
        return {
            "time_min": float(r.time_min),
            "min_anode_V": float(r.min_anode_potential_V),
            "dose_Vs": dose,
        }
