"""Project a cell design (not a named model) under a duty.

:func:`project_design` evaluates the design, picks the ageing model that fits its chemistry and
runs it under the duty:

- liquid or semi-solid cell with an LFP cathode: BLAST-Lite's default LFP/graphite model
  (``"lfp"``, :data:`casip.life.blast.DEFAULT_MODELS`);
- Ni-rich layered cathode (NMC*, NCA) with a graphite anode: the default NMC/graphite model
  (``"nmc"``); with a silicon blend in the anode: BLAST-Lite's NMC811/graphite-silicon model
  (:data:`NMC_GRSI_MODEL`) when the installed BLAST-Lite has it;
- all-solid-state cells, and lithium-metal or anode-free cells, whose separator is LPSCl or LLZO:
  the semi-empirical solid-state model of :mod:`casip.life.solid_state` for that electrolyte,
  with the design's cathode areal capacity (so the charge current density, C-rate x areal
  capacity, is the design's and the critical-current-density check uses it) and the stack
  pressure of its pressure hardware when stated.

Anything else is refused with a :class:`~casip.errors.CasipInputError` naming the field.
The returned frame is that of the underlying projection, with ``attrs["model"]`` (the model
used: a BLAST-Lite name or ``solid-state:<electrolyte>``) and ``attrs["mapping"]`` (why).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from casip.errors import CasipInputError, Problem
from casip.life.duty import DutyCycle

NMC_GRSI_MODEL = "Nmc811_GrSi_LGM50_5Ah_Battery"
"""BLAST-Lite's NMC811/graphite-silicon model (LG M50 5 Ah 21700) used for silicon blends."""

SOLID_ELECTROLYTES = ("LPSCl", "LLZO")
"""Separator materials that have a solid-state ageing model."""

NI_RICH_PREFIXES = ("NMC", "NCA")


def _design(design, library):
    """(Design, CellMetrics, source) from a Design, a mapping, or a reference id / ``ref:ID``."""
    from casip.design import evaluate
    from casip.design.schema import Design

    source = None
    if isinstance(design, str):
        from casip.cells import reference_design, reference_ids

        cid = design[4:] if design.startswith("ref:") else design
        if cid not in reference_ids():
            raise CasipInputError(
                Problem(
                    "design",
                    "unknown reference cell",
                    design,
                    "one of " + ", ".join(reference_ids()),
                )
            )
        design, source = reference_design(cid), f"ref:{cid}"
    elif not isinstance(design, Design | Mapping):
        raise CasipInputError(
            Problem(
                "design",
                "not a design",
                type(design).__name__,
                "a Design, a mapping or a reference cell id",
            )
        )
    metrics = evaluate(design, library=library, source=source)
    if not isinstance(design, Design):
        from casip.design.api import _resolve

        design = _resolve(design, source)
    return design, metrics, source


def _anode_active(d) -> dict[str, float]:
    return {str(k).lower(): float(v) for k, v in (d.anode.active or {}).items() if v}


def choose_model(design, metrics=None) -> tuple[str, str, dict]:
    """The ageing model for a design: (model, mapping explanation, keyword arguments).

    ``model`` is ``"lfp"``, ``"nmc"``, a BLAST-Lite model name or ``solid-state:<electrolyte>``.
    """
    from casip.design.schema import AnodeType, CellKind

    cathode = str(design.cathode.active)
    separator = str(design.separator.material)
    kind = design.kind
    anode_type = design.anode.type
    solid_kind = kind == CellKind.all_solid_state or anode_type in (
        AnodeType.lithium_metal,
        AnodeType.anode_free,
    )
    if solid_kind:
        if separator not in SOLID_ELECTROLYTES:
            raise CasipInputError(
                Problem(
                    "separator.material",
                    f"no solid-state ageing model for this separator "
                    f"({kind.value} cell, {anode_type.value} anode)",
                    separator,
                    " or ".join(SOLID_ELECTROLYTES),
                ),
                source=design.name,
            )
        kwargs: dict = {}
        note = ""
        if metrics is not None:
            kwargs["areal_capacity_mAh_cm2"] = float(
                metrics.geometry["cathode_areal_capacity_mAh_cm2"]
            )
        hw = design.pressure_hardware
        if hw is not None and hw.pressure_MPa:
            kwargs["stack_pressure_MPa"] = float(hw.pressure_MPa)
        else:
            note = "; stack pressure not stated by the design: the model's default is assumed"
        if anode_type == AnodeType.intercalation:
            note += (
                "; the solid-state model assumes a lithium-metal anode, the design's "
                f"{anode_type.value} anode is not modelled as such"
            )
        mapping = (
            f"{kind.value} cell, anode {anode_type.value}, separator {separator}"
            f" -> semi-empirical solid-state model for {separator} "
            "(charge current density = duty charge C-rate x design cathode areal "
            f"capacity){note}"
        )
        return f"solid-state:{separator}", mapping, kwargs
    if kind not in (CellKind.liquid, CellKind.semi_solid):  # pragma: no cover - enum is closed
        raise CasipInputError(Problem("kind", "no ageing model for this cell kind", kind.value))
    if anode_type != AnodeType.intercalation:  # pragma: no cover - handled above
        raise CasipInputError(Problem("anode.type", "no ageing model", anode_type.value))
    active = _anode_active(design)
    if cathode.upper() == "LFP":
        if set(active) - {"graphite"}:
            raise CasipInputError(
                Problem(
                    "anode.active",
                    "no BLAST-Lite LFP model for this anode",
                    sorted(active),
                    "graphite",
                ),
                source=design.name,
            )
        return "lfp", (f"{kind.value} LFP/graphite cell -> BLAST-Lite default LFP model"), {}
    if cathode.upper().startswith(NI_RICH_PREFIXES):
        if set(active) == {"graphite"}:
            return (
                "nmc",
                (
                    f"{kind.value} Ni-rich layered ({cathode})/graphite cell -> "
                    "BLAST-Lite default NMC/graphite model"
                ),
                {},
            )
        if set(active) <= {"graphite", "silicon"} and "silicon" in active:
            from casip.life import blast

            if NMC_GRSI_MODEL not in {m.name for m in blast.list_models()}:
                raise CasipInputError(
                    Problem(
                        "anode.active",
                        "the installed BLAST-Lite has no NMC811/graphite-silicon model",
                        sorted(active),
                        NMC_GRSI_MODEL,
                    ),
                    source=design.name,
                )
            return (
                NMC_GRSI_MODEL,
                (
                    f"{kind.value} Ni-rich layered ({cathode}) cell with a graphite-silicon anode "
                    f"(silicon {active['silicon']:.0%}) -> BLAST-Lite {NMC_GRSI_MODEL}"
                ),
                {},
            )
        raise CasipInputError(
            Problem(
                "anode.active",
                "no BLAST-Lite model for this anode",
                sorted(active),
                "graphite, or graphite with silicon",
            ),
            source=design.name,
        )
    raise CasipInputError(
        Problem(
            "cathode.active",
            "no ageing model for this cathode",
            cathode,
            "LFP or a Ni-rich layered oxide (NMC, NCA)",
        ),
        source=design.name,
    )


def project_design(
    design,
    duty: DutyCycle,
    *,
    library=None,
    years: float | None = None,
    warn: bool = True,
) -> pd.DataFrame:
    """Capacity (and resistance) of a cell design under a duty.

    Parameters
    ----------
    design : Design, mapping or str
        The design, or a reference cell id (``"lfp-blade"`` or ``"ref:lfp-blade"``).
    duty : DutyCycle
        The repeating duty.
    library : MaterialLibrary, optional
        Materials used to evaluate the design (default: the bundled library).
    years : float, optional
        Horizon [year] instead of ``duty.years``.
    warn : bool
        Passed on to the projection (extrapolation / failure warnings).

    Returns
    -------
    pandas.DataFrame
        The frame of :func:`casip.life.blast.project` or :func:`casip.life.solid_state.project`,
        with ``attrs["model"]`` (model used), ``attrs["mapping"]`` (why), ``attrs["design"]``.

    Raises
    ------
    casip.errors.CasipInputError
        A design no ageing model covers (the field, e.g. ``cathode.active`` or
        ``separator.material``, is named), or a bad design / duty.
    """
    if not isinstance(duty, DutyCycle):
        raise CasipInputError(Problem("duty", "not a duty cycle", type(duty).__name__))
    d, metrics, _ = _design(design, library)
    model, mapping, kwargs = choose_model(d, metrics)
    if model.startswith("solid-state:"):
        from casip.life import solid_state

        if years is not None:
            duty = DutyCycle(**{**duty.model_dump(), "years": years})
        frame = solid_state.project(model.split(":", 1)[1], duty, warn=warn, **kwargs)
    else:
        from casip.life import blast

        frame = blast.project(model, duty, warn=warn, years=years)
        model = frame.attrs.get("model", model)
    frame.attrs["model"] = model
    frame.attrs["mapping"] = mapping
    frame.attrs["design"] = d.name
    return frame


__all__ = ["NMC_GRSI_MODEL", "choose_model", "project_design"]
