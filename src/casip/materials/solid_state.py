"""Sourced solid-state parameters, the stack-pressure model and the sensitivity band.

The single-ion solid-electrolyte mapping of :func:`casip.physics.parameters_for` takes its
uncertain solid-state values from :data:`TABLE`: each entry has a central value, a low-high range
(where the literature disagrees, or where the value is an assumption), its basis
(``"measured"``, ``"derived"`` or ``"assumed"``), the source keys of :data:`SOURCES` and a note.
Conductivities that the materials library holds stay the library's (the table repeats them with
a range); activation energies the library lacks come from here.

Interface model (area-specific resistances in Ohm cm2, see ``docs/physics.md``)::

    R_Li(P, T)  = max(R_Li,ref - R_ct, 0) * (P_ref / P)**n * A(T)      lithium | SE contact
    R_cat(T)    = R_cat,ref * A(T)                                      cathode | SE interphase
    A(T)        = exp(Ea_SE / k_B * (1/T - 1/T_ref))
    R_ct        = R T_ref / (F j0)                                      charge transfer at Li

``R_Li,ref`` is the measured lithium | SE interface resistance at the reference pressure
``P_ref``; its charge-transfer share ``R_ct`` is carried by the lithium exchange current ``j0``
in the Butler-Volmer kinetics, so only the rest (contact constriction) enters PyBaMM's
"Contact resistance [Ohm]" and scales with pressure. The exponent ``n = 0.5`` is the power law of
the interfacial resistance against applied pressure reported for electrode | Li6PS5Cl contacts
(arXiv:2501.00600); constriction resistance is the electrolyte's spreading resistance, so it
scales with ``1/sigma_SE`` and shares the electrolyte's activation energy (Eckhardt et al. 2022,
constriction dominates Li | garnet; Krauskopf et al. 2019, Li | LLZO resistance falls with
pressure to negligible values at about 400 MPa).

The pressure law is a one-parameter anchor, not a fit to a digitised R(P) curve (none is
available offline here): the level is the table's value at ``P_ref``, the exponent the cited one;
its stated error is the table's range at ``P_ref`` (:data:`PRESSURE_FIT_ERROR`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import pandas as pd

from casip.errors import CasipInputError, Problem

K_B_EV = 8.617333262e-5  # eV/K
T_REF = 298.15  # K
F = 96485.33212  # C/mol
R_GAS = 8.314462618  # J/(mol K)

CASES = ("pessimistic", "central", "optimistic")
"""Ends of the band: ``pessimistic`` takes every uncertain value at its rate-limiting end (low
conductivity, high activation energy, low exchange current, high interface resistance)."""


@dataclass(frozen=True)
class Source:
    """A citation: authors, title, journal, year and DOI (or URL)."""

    key: str
    citation: str
    doi: str


@dataclass(frozen=True)
class SolidStateValue:
    """One solid-state parameter with its range and sources."""

    key: str
    quantity: str
    unit: str
    central: float
    low: float
    high: float
    basis: str  # "measured", "derived" or "assumed"
    sources: tuple[str, ...]
    note: str
    #: which end limits the rate: "low" (conductivity, j0) or "high" (Ea, resistance)
    worse: str = "high"

    def at(self, case: str = "central") -> float:
        """The value at one end of the band (see :data:`CASES`)."""
        if case == "central":
            return self.central
        if case not in CASES:
            raise CasipInputError(
                Problem("solid_state_case", "unknown case", case, ", ".join(CASES))
            )
        pessimistic = self.low if self.worse == "low" else self.high
        optimistic = self.high if self.worse == "low" else self.low
        return pessimistic if case == "pessimistic" else optimistic

    def origin(self, case: str = "central") -> str:
        """Origin string for the mapping: ``"library solid_state:<key> <sources> ..."``,
        ``"derived: solid_state:<key> ..."`` or ``"assumed: ..."``."""
        refs = "; ".join(SOURCES[s].citation.split(",")[0] + f" ({SOURCES[s].doi})"
                         for s in self.sources)
        where = "" if case == "central" else f", {case} end of the range"
        rng = f"range {self.low:g}-{self.high:g} {self.unit}"
        if self.basis == "assumed":
            return f"assumed: {self.quantity} {self.at(case):g} {self.unit}{where} ({rng}; " \
                   f"not measured in the cited work: {refs or 'no source'})"
        if self.basis == "derived":
            return f"derived: solid_state:{self.key} ({self.note.split(';')[0]}{where}; {rng}): " \
                   f"{refs}"
        return f"library solid_state:{self.key} {' '.join(self.sources)} (measured{where}; " \
               f"{rng}): {refs}"


SOURCES: dict[str, Source] = {
    s.key: s
    for s in (
        Source("lpscl_solution_2021", "Solution-synthesised Li6PS5Cl, PubMed 34927966, as "
               "recorded in the materials library (sources.yaml)",
               "https://pubmed.ncbi.nlm.nih.gov/34927966/"),
        Source("kraft2017", "M. A. Kraft, S. P. Culver, M. Calderon, F. Boecher, T. Krauskopf, "
               "A. Senyshyn, C. Dietrich, A. Zevalkink, J. Janek, W. G. Zeier, Influence of "
               "lattice polarizability on the ionic conductivity in the lithium superionic "
               "argyrodites Li6PS5X (X = Cl, Br, I), J. Am. Chem. Soc. 139 (2017) 10909",
               "10.1021/jacs.7b06327"),
        Source("murugan2007", "R. Murugan, V. Thangadurai, W. Weppner, Fast lithium ion "
               "conduction in garnet-type Li7La3Zr2O12, Angew. Chem. Int. Ed. 46 (2007) 7778",
               "10.1002/anie.200701144"),
        Source("tsai2016", "C.-L. Tsai et al., Li7La3Zr2O12 interface modification for Li "
               "dendrite prevention, ACS Appl. Mater. Interfaces 8 (2016) 10617",
               "https://juser.fz-juelich.de/record/809435"),
        Source("li2019_lic", "X. Li et al., Water-mediated synthesis of a superionic halide "
               "solid electrolyte, Angew. Chem. Int. Ed. 58 (2019) 16427 (1.5 mS/cm, relayed by "
               "the library's ornl_lic_abstract; DOI not re-checked here)",
               "https://discovery.researcher.life/topic/division-of-materials-sciences/1569036"),
        Source("bonsu2024", "J. O. Bonsu, A. Bhadra, D. Kundu, Wet chemistry route to Li3InCl6, "
               "Adv. Sci. 11(34) (2024) (above 2, up to 4 mS/cm at 22 C)",
               "https://lup.lub.lu.se/search/publication/a448dd49-7d31-486e-b4ca-467b74af74a2"),
        Source("batteries2024_lic", "In situ/operando techniques for unraveling mechanisms of "
               "ionic transport in solid-state lithium indium halide electrolyte, Batteries 10 "
               "(2024) 21 (Li3InCl6 1.0 mS/cm at room temperature)",
               "10.3390/batteries10010021"),
        Source("asano2018", "T. Asano, A. Sakai, S. Ouchi, M. Sakaida, A. Miyazaki, S. Hasegawa, "
               "Solid halide electrolytes with high lithium-ion conductivity for application "
               "in 4 V class bulk-type all-solid-state batteries, Adv. Mater. 30 (2018) 1803075",
               "10.1002/adma.201803075"),
        Source("sharafi2017", "A. Sharafi, E. Kazyak, A. L. Davis, S. Yu, T. Thompson, D. J. "
               "Siegel, N. P. Dasgupta, J. Sakamoto, Surface chemistry mechanism of ultra-low "
               "interfacial resistance in the solid-state electrolyte Li7La3Zr2O12, Chem. "
               "Mater. 29 (2017) 7961 (about 2 Ohm cm2 after removing Li2CO3)",
               "10.1021/acs.chemmater.7b02371"),
        Source("han2017", "X. Han, Y. Gong, K. Fu, et al., Negating interfacial impedance in "
               "garnet-based solid-state Li metal batteries, Nat. Mater. 16 (2017) 572 "
               "(1710 Ohm cm2 bare, 1 Ohm cm2 with ALD Al2O3)", "10.1038/nmat4821"),
        Source("zhou2018", "C. Zhou, A. J. Samson, K. Hofstetter, V. Thangadurai, A "
               "surfactant-assisted strategy to tailor Li-ion charge transfer interfacial "
               "resistance for scalable all-solid-state Li batteries, Sustainable Energy Fuels "
               "(2018) (Li | garnet 70 Ohm cm2 untreated, 10 Ohm cm2 with ZnO)",
               "10.1039/C8SE00234G"),
        Source("krauskopf2019", "T. Krauskopf, H. Hartmann, W. G. Zeier, J. Janek, Toward a "
               "fundamental understanding of the lithium metal anode in solid-state batteries - "
               "an electrochemo-mechanical study on the garnet-type solid electrolyte "
               "Li6.25Al0.25La3Zr2O12, ACS Appl. Mater. Interfaces 11 (2019) 14463",
               "10.1021/acsami.9b02537"),
        Source("eckhardt2022", "J. K. Eckhardt, P. J. Klar, J. Janek, C. Heiliger, interface "
               "impedance as charge transfer plus geometric constriction, constriction "
               "dominating Li | garnet (2022), PubMed 35878322",
               "https://pubmed.ncbi.nlm.nih.gov/35878322/"),
        Source("arxiv2501_00600", "Constriction and contact impedance of ceramic solid "
               "electrolytes, arXiv:2501.00600 (2024-2025): electrode | Li6PS5Cl interfacial "
               "resistance scales with applied pressure as P^-0.5 and with recoverable contact "
               "area as A^-1", "https://arxiv.org/abs/2501.00600"),
        Source("doux2020", "J.-M. Doux, H. Nguyen, D. H. S. Tan, A. Banerjee, X. Wang, E. A. Wu, "
               "C. Jo, H. Yang, Y. S. Meng, Stack pressure considerations for room-temperature "
               "all-solid-state lithium metal batteries, Adv. Energy Mater. 10 (2020) 1903253 "
               "(5 MPa: Li | Li6PS5Cl | Li over 1000 h, Li | Li6PS5Cl | NCA over 200 cycles)",
               "10.1002/aenm.201903253"),
        Source("quantumscape2021", "QuantumScape, A discussion of QuantumScape's battery "
               "technology performance results (company blog, January 2021): single-layer "
               "70 x 85 mm anode-free cells on a ceramic separator cycled 1000 times at 1C/1C, "
               "30 C, under 'modest pressure (3.4 atm)' = 0.34 MPa",
               "https://quantumscape.com/resources/blog/a-discussion-of-quantumscapes-battery-"
               "technology-performance-results"),
        Source("kasemchainan2019", "J. Kasemchainan, S. Zekoll, D. Spencer Jolly, Z. Ning, "
               "G. O. Hartley, J. Marrow, P. G. Bruce, Critical stripping current leads to "
               "dendrite formation on plating in lithium anode solid electrolyte cells, Nat. "
               "Mater. 18 (2019) 1105", "10.1038/s41563-019-0438-9"),
        Source("flatscher2020", "F. Flatscher, M. Philipp, S. Ganschow, H. M. R. Wilkening, "
               "D. Rettenwander, The natural critical current density limit for Li7La3Zr2O12 "
               "garnets, J. Mater. Chem. A 8 (2020) (0.28 mA/cm2 without pressure; CCD falls "
               "exponentially with interface ASR)", "10.1039/C9TA14177D"),
        Source("oxford2025_ccd", "University of Oxford group, High plating currents without "
               "dendrites at the interface between a lithium anode and solid electrolyte, Nat. "
               "Energy (2025) (plating CCD typically about 1 mA/cm2; 9 mA/cm2 on 99%-dense "
               "Li6PS5Cl)", "10.1038/s41560-025-01847-0"),
        Source("wenzel2018", "S. Wenzel, S. J. Sedlmaier, C. Dietrich, W. G. Zeier, J. Janek, "
               "Interfacial reactivity and interphase growth of argyrodite solid electrolytes "
               "at lithium metal electrodes, Solid State Ionics 318 (2018) 102",
               "10.1016/j.ssi.2017.07.005"),
        Source("koerver2017", "R. Koerver, I. Aygun, T. Leichtweiss, C. Dietrich, W. Zhang, J. O. "
               "Binder, P. Hartmann, W. G. Zeier, J. Janek, Capacity fade in solid-state "
               "batteries: interphase formation and chemomechanical processes in nickel-rich "
               "layered oxide cathodes and lithium thiophosphate solid electrolytes, Chem. "
               "Mater. 29 (2017) 5574", "10.1021/acs.chemmater.7b00931"),
    )
}
"""Citations of the source keys of :data:`TABLE`."""


def _v(key, quantity, unit, central, low, high, basis, sources, note, worse="high"):
    return SolidStateValue(key, quantity, unit, central, low, high, basis, tuple(sources), note,
                           worse)


TABLE: dict[str, SolidStateValue] = {
    v.key: v
    for v in (
        # ---------------------------------------------------------------- electrolytes
        _v("sigma_argyrodite", "Li6PS5Cl ionic conductivity at 25 C", "mS/cm", 1.8, 1.0, 3.0,
           "measured", ["lpscl_solution_2021", "kraft2017"],
           "central: the materials library's LPSCl value; range: cold-pressed Li6PS5Cl "
           "pellets (1-3 mS/cm, the library's note); Kraft et al. report the Li6PS5X series",
           worse="low"),
        _v("ea_argyrodite", "Li6PS5Cl activation energy of the ionic conductivity", "eV", 0.35,
           0.30, 0.40, "measured", ["kraft2017"],
           "impedance activation energies of cold-pressed Li6PS5Cl lie near 0.3-0.4 eV (Kraft "
           "et al. measure the Li6PS5X series); central value the middle of that span, "
           "read from memory of the paper, not re-read here"),
        _v("sigma_garnet", "LLZO (Ta/Al-doped) ionic conductivity at 25-30 C", "mS/cm", 1.18,
           0.30, 1.18, "measured", ["tsai2016", "murugan2007"],
           "central: the library's hot-pressed Ta-LLZO (Tsai 2016, 30 C; 0.71 mS/cm sintered); "
           "low: the first cubic LLZO, 0.3 mS/cm at 25 C (Murugan 2007)", worse="low"),
        _v("ea_garnet", "LLZO activation energy of the total conductivity", "eV", 0.32, 0.30,
           0.40, "measured", ["murugan2007"],
           "0.32 eV for cubic LLZO (Murugan 2007, stored in the library); the 0.30-0.40 eV span "
           "covers doped garnets (high end assumed)"),
        _v("sigma_halide_in", "Li3InCl6 ionic conductivity at 22-25 C", "mS/cm", 1.5, 1.0, 4.0,
           "measured", ["li2019_lic", "batteries2024_lic", "bonsu2024"],
           "central: the library's LIC value (water-mediated synthesis); low: mechano-thermal "
           "synthesis 1.0 mS/cm; high: wet-chemistry route up to 4 mS/cm", worse="low"),
        _v("ea_halide_in", "Li3InCl6 activation energy", "eV", 0.40, 0.30, 0.50, "assumed",
           [], "no activation energy read for Li3InCl6 here; chloride conductors lie near "
           "0.3-0.5 eV, the middle taken"),
        _v("sigma_halide_y", "Li3YCl6 ionic conductivity at 25 C", "mS/cm", 0.51, 0.51, 0.51,
           "measured", ["asano2018"], "one source (Asano 2018, Li3YBr6 1.7 mS/cm in the same "
           "paper); not in the materials library", worse="low"),
        _v("ea_halide_y", "Li3YCl6 activation energy", "eV", 0.45, 0.35, 0.55, "assumed", [],
           "no activation energy read for Li3YCl6 here; assumed within the chloride span"),
        # ---------------------------------------------------------------- lithium interface
        _v("j0_li_se", "lithium | solid-electrolyte exchange current density", "A/m2", 257.0,
           128.0, 257.0, "derived", ["han2017", "sharafi2017", "krauskopf2019"],
           "j0 >= R T / (F R_int): the lowest measured Li | LLZO interface resistances, 1 Ohm "
           "cm2 (Han 2017) and 2 Ohm cm2 (Sharafi 2017), bound the charge-transfer resistance, "
           "so j0 >= 257 and 128 A/m2 (25.7 and 12.8 mA/cm2); Krauskopf 2019 find the Li | LLZO "
           "resistance constriction-dominated. Taken for Li | argyrodite too (assumption: no "
           "sourced j0 there)", worse="low"),
        _v("r_li_garnet", "Li | LLZO interface resistance at the reference pressure, 25 C",
           "Ohm cm2", 2.0, 1.0, 70.0, "measured", ["sharafi2017", "han2017", "zhou2018"],
           "clean or treated garnet surfaces: 2 (Sharafi 2017) and 1 Ohm cm2 (Han 2017); an "
           "untreated surface 70 Ohm cm2 (Zhou 2018; Han's bare 1710 Ohm cm2 is a contaminated "
           "extreme left out). Pressure of those measurements not stated in our notes: taken "
           "at the reference pressure"),
        _v("r_li_argyrodite", "Li | Li6PS5Cl interface resistance at 5 MPa, 25 C", "Ohm cm2",
           5.0, 2.0, 30.0, "assumed", ["doux2020", "wenzel2018", "arxiv2501_00600"],
           "no Li | Li6PS5Cl resistance value read here: a few Ohm cm2 after formation, "
           "growing with the reduction interphase (Wenzel 2018) and with contact loss at low "
           "pressure (arXiv:2501.00600, Doux 2020)"),
        _v("r_cathode_coated_nmc", "coated NMC | sulfide composite-cathode interface "
           "resistance, 25 C", "Ohm cm2", 5.0, 2.0, 30.0, "assumed", ["koerver2017"],
           "per electrode area, after formation; Koerver 2017 show it grows with the "
           "interphase and with particle contact loss on cycling; no value read here"),
        _v("pressure_exponent", "exponent n of R_contact ~ P^-n", "-", 0.5, 0.5, 0.5,
           "measured", ["arxiv2501_00600"],
           "power law of the interfacial resistance against applied pressure at electrode | "
           "Li6PS5Cl contacts; used for Li | LLZO too (Krauskopf 2019 show the same falling "
           "trend to negligible resistance near 400 MPa)"),
        _v("p_ref", "reference stack pressure, sulfide (Li6PS5Cl) separators", "MPa", 5.0,
           5.0, 5.0, "measured", ["doux2020"],
           "the low stack pressure at which Doux et al. cycled Li | Li6PS5Cl | Li for 1000 h "
           "and a Li | Li6PS5Cl | NCA cell for 200 cycles; CASIP's default stack pressure. "
           "Also applied to halide separators (assumption: no halide stack-pressure study "
           "read here)"),
        _v("p_min_li", "minimum stack pressure for lithium on a sulfide (Li6PS5Cl) separator",
           "MPa", 5.0, 3.0, 7.0, "measured", ["doux2020", "kasemchainan2019"],
           "below about 5 MPa voids form on stripping and the critical stripping current "
           "falls (Kasemchainan 2019 compare 3 and 7 MPa on Li6PS5Cl); contact loss is not "
           "modelled, so a lower pressure gives a warning note. Also applied to halide "
           "separators (assumption, as p_ref)"),
        _v("p_ref_garnet", "reference stack pressure of the Li | LLZO interface resistance",
           "MPa", 0.34, 0.34, 0.34, "assumed", ["han2017", "sharafi2017", "quantumscape2021"],
           "the low Li | garnet resistances of r_li_garnet come from surfaces made wetting for "
           "lithium (Han 2017: an Al2O3 coating and molten lithium; Sharafi 2017: the Li2CO3 "
           "surface layer removed), not from stack pressure, and their pressure is not stated "
           "in our notes; they are anchored at the lowest pressure at which garnet-type "
           "anode-free cells are published to cycle (QuantumScape 2021, 3.4 atm), so the law "
           "neither credits nor penalises a cell there. The sulfide 5 MPa (Doux 2020) is a "
           "Li | Li6PS5Cl value and is not transferred"),
        _v("p_min_li_garnet", "minimum stack pressure for lithium on a garnet (LLZO) "
           "separator", "MPa", 0.34, 0.0, 0.34, "measured",
           ["quantumscape2021", "flatscher2020"],
           "no void-formation minimum like the sulfide one is established for garnet: LLZO "
           "single crystals cycle without external pressure up to their critical current "
           "(0.28 mA/cm2, Flatscher 2020) and garnet-type anode-free cells are published "
           "cycling at 0.34 MPa (QuantumScape 2021); below that a warning note"),
        # ---------------------------------------------------------------- CCD
        _v("ccd_argyrodite", "Li | Li6PS5Cl critical current density, 25 C, a few MPa",
           "mA/cm2", 1.0, 0.2, 9.0, "measured",
           ["oxford2025_ccd", "kasemchainan2019"],
           "about 1 mA/cm2 typical (the library's value); rises with stack pressure (low end: "
           "the stripping limit at 3 MPa, Kasemchainan 2019, as recalled) and with density "
           "(9 mA/cm2 on 99%-dense pellets); rises with temperature. Checked by the charge "
           "protocols, not modelled in the DFN", worse="low"),
        _v("ccd_garnet", "Li | LLZO critical current density, 25 C, no stack pressure",
           "mA/cm2", 0.28, 0.05, 0.28, "measured", ["flatscher2020"],
           "0.28 mA/cm2 on single crystals, called the natural limit without pressure; falls "
           "exponentially with the interface ASR; stack pressure or more interface area "
           "raise it (low end assumed, polycrystals with a resistive surface)", worse="low"),
    )
}
"""The sourced solid-state parameters (key -> :class:`SolidStateValue`)."""

#: Library solid-electrolyte id -> family prefix of :data:`TABLE` keys.
FAMILY = {
    "LPSCl": "argyrodite",
    "LPSCl_Cl_rich": "argyrodite",
    "LLZO": "garnet",
    "LIC": "halide_in",
}

DEFAULT_STACK_PRESSURE_MPA = TABLE["p_ref"].central
PRESSURE_FIT_ERROR = "the table's range of the interface resistance at the reference pressure"


def table() -> pd.DataFrame:
    """:data:`TABLE` as a DataFrame with the full citations."""
    rows = []
    for v in TABLE.values():
        rows.append({
            "key": v.key, "quantity": v.quantity, "unit": v.unit, "central": v.central,
            "low": v.low, "high": v.high, "basis": v.basis,
            "sources": "; ".join(f"{SOURCES[s].citation} ({SOURCES[s].doi})" for s in v.sources),
            "note": v.note,
        })
    return pd.DataFrame(rows)


def family_of(se_id: str) -> str | None:
    """The :data:`TABLE` family of a library solid electrolyte (None if the table has none)."""
    return FAMILY.get(se_id)


def activation_energy(se_id: str, case: str = "central") -> SolidStateValue | None:
    """The table's activation-energy entry of a solid electrolyte (None if none)."""
    fam = family_of(se_id)
    return TABLE.get(f"ea_{fam}") if fam else None


def li_interface_key(se_id: str) -> str:
    """Table key of the lithium | SE interface resistance (argyrodite's for non-garnets)."""
    return "r_li_garnet" if family_of(se_id) == "garnet" else "r_li_argyrodite"


def reference_pressure_MPa(se_id: str) -> float:
    """Pressure ``P_ref`` [MPa] at which the table's lithium | SE interface resistance is taken:
    ``p_ref_garnet`` for garnets, the sulfide ``p_ref`` otherwise."""
    key = "p_ref_garnet" if family_of(se_id) == "garnet" else "p_ref"
    return TABLE[key].central


def minimum_pressure(se_id: str) -> SolidStateValue:
    """The table's minimum stack pressure for lithium on separator ``se_id``:
    ``p_min_li_garnet`` for garnets, the sulfide ``p_min_li`` otherwise."""
    return TABLE["p_min_li_garnet" if family_of(se_id) == "garnet" else "p_min_li"]


def arrhenius_factor(ea_eV: float, temperature_K: float) -> float:
    """``exp(Ea/k_B (1/T - 1/T_ref))``: a resistance's factor relative to 25 C."""
    return math.exp(ea_eV / K_B_EV * (1.0 / temperature_K - 1.0 / T_REF))


def charge_transfer_resistance_ohm_cm2(j0_A_m2: float) -> float:
    """Linear charge-transfer resistance ``R T_ref / (F j0)`` [Ohm cm2]."""
    return R_GAS * T_REF / (F * j0_A_m2) * 1e4


def _check_pressure(p: float) -> float:
    if not (isinstance(p, int | float) and math.isfinite(p) and 0.0 < p <= 500.0):
        raise CasipInputError(
            Problem(
                "stack_pressure_MPa", "stack pressure out of range", p, "a value in (0, 500] MPa"
            )
        )
    return float(p)


def lithium_contact_resistance_ohm_cm2(
    se_id: str,
    stack_pressure_MPa: float = DEFAULT_STACK_PRESSURE_MPA,
    temperature_K: float = T_REF,
    ea_eV: float | None = None,
    case: str = "central",
) -> float:
    """Contact (constriction) part of the lithium | SE interface resistance [Ohm cm2].

    ``max(R_Li,ref - R_ct, 0) (P_ref/P)^n A(T)`` with the table's values at ``case``; the
    charge-transfer share ``R_ct`` is carried by the exchange current in the kinetics.

    Parameters
    ----------
    se_id : str
        Library id of the solid electrolyte in contact with lithium.
    stack_pressure_MPa : float
        Stack pressure [MPa].
    temperature_K : float
        Temperature [K].
    ea_eV : float, optional
        Activation energy of the electrolyte (the constriction shares it); the table's by default.
    case : str
        ``"pessimistic"``, ``"central"`` or ``"optimistic"``.

    Returns
    -------
    float
    """
    p = _check_pressure(stack_pressure_MPa)
    r_ref = TABLE[li_interface_key(se_id)].at(case)
    r_ct = charge_transfer_resistance_ohm_cm2(TABLE["j0_li_se"].at(case))
    n = TABLE["pressure_exponent"].central
    if ea_eV is None:
        ea = activation_energy(se_id)
        ea_eV = ea.at(case) if ea is not None else TABLE["ea_argyrodite"].at(case)
    return max(r_ref - r_ct, 0.0) * (reference_pressure_MPa(se_id) / p) ** n * arrhenius_factor(
        ea_eV, temperature_K
    )


def pressure_notes(se_id: str, stack_pressure_MPa: float, lithium: bool) -> list[str]:
    """Warnings for a stack pressure outside what the cited cells were run at (the limits of
    the separator's family: :func:`minimum_pressure`)."""
    p = _check_pressure(stack_pressure_MPa)
    notes = []
    garnet = family_of(se_id) == "garnet"
    p_min = minimum_pressure(se_id).central
    if lithium and p < p_min and garnet:
        notes.append(
            f"WARNING: stack pressure {p:g} MPa is below the {p_min:g} MPa at which garnet-type "
            "anode-free cells are published to cycle (QuantumScape 2021); without pressure the "
            "Li | LLZO critical current is about 0.28 mA/cm2 at best (Flatscher et al. 2020). "
            "The model only raises the contact resistance as P^-0.5: contact loss and the "
            "lower critical current are not modelled, so its result is optimistic"
        )
    elif lithium and p < p_min:
        notes.append(
            f"WARNING: stack pressure {p:g} MPa is below the {p_min:g} MPa at which lithium | "
            "solid-electrolyte cells were shown to cycle (Doux et al. 2020); voids form in the "
            "lithium on stripping and contact is lost (Kasemchainan et al. 2019). The model "
            "only raises the contact resistance as P^-0.5: void growth, contact loss and the "
            "lower critical current are not modelled, so its result is optimistic"
        )
    p_creep = 5 * TABLE["p_min_li"].central
    if lithium and p > p_creep:
        notes.append(
            f"stack pressure {p:g} MPa: the model lowers the contact resistance further, but "
            "Doux et al. 2020 report lithium creeping into the electrolyte and shorting at "
            "stack pressures above the 5 MPa they recommend (on Li6PS5Cl); creep is not "
            "modelled"
        )
    if not lithium:
        notes.append(
            f"stack pressure {p:g} MPa: no lithium-metal interface; the composite interfaces' "
            "resistance is taken pressure-independent (their contact loss is not modelled)"
        )
    return notes


def solid_state_band(
    design,
    c_rates: Sequence[float] = (0.1, 0.5, 1.0, 2.0),
    *,
    temperature_c: float = 25.0,
    stack_pressure_MPa: float | None = None,
    library=None,
) -> pd.DataFrame:
    """Capacity retention per C-rate at the pessimistic, central and optimistic ends.

    Joint ends: every uncertain solid-state value of :data:`TABLE` the design uses
    (electrolyte conductivity and activation energy, lithium exchange current, lithium and
    cathode interface resistances) moves to its rate-limiting end together (``pessimistic``) or
    to its favourable end together (``optimistic``). Three :func:`~casip.physics.rate.
    rate_capability` runs.

    Parameters
    ----------
    design : Design, dict or str
        A solid-state design, or a reference-design id.
    c_rates : sequence of float
        C-rates; the retention is relative to the lowest.
    temperature_c : float
        Ambient temperature [degC] (isothermal).
    stack_pressure_MPa : float, optional
        Stack pressure [MPa]; the design's pressure hardware or :data:`DEFAULT_STACK_PRESSURE_MPA`.
    library : MaterialLibrary, optional
        Materials library.

    Returns
    -------
    pandas.DataFrame
        One row per C-rate: ``c_rate``, ``retention_pessimistic``, ``retention_central``,
        ``retention_optimistic`` (fractions), and the capacities [A.h] of each end.
    """
    from casip.physics.parameters import parameters_for
    from casip.physics.rate import rate_capability

    if isinstance(design, str):
        from casip.cells import reference_design

        design = reference_design(design)
    out: dict[str, pd.Series] = {}
    for case in CASES:
        setup = parameters_for(
            design, library, temperature_K=temperature_c + 273.15,
            stack_pressure_MPa=stack_pressure_MPa, solid_state_case=case,
        )
        res = rate_capability(setup, c_rates, num_threads=1)
        t = res.table.set_index("c_rate")
        out[f"retention_{case}"] = t["capacity_retention"]
        out[f"capacity_{case}_Ah"] = t["capacity_Ah"]
    df = pd.DataFrame(out).reset_index()
    df.attrs["cases"] = "joint ends of the TABLE ranges (pessimistic / central / optimistic)"
    return df

