"""The materials library: bundled YAML files plus the user's own, validated on load."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from casip.errors import CasipInputError, Problem, from_pydantic
from casip.materials.composition import element_mass_fractions
from casip.materials.records import ASSUMED, Category, Material, MaterialFile, Source


@dataclass(frozen=True)
class MaterialLibrary(Mapping[str, Material]):
    """Materials by id, with the sources their values cite.

    Behaves as a read-only mapping ``id -> Material``. ``origin`` tells which file each
    material came from (a user file overrides a bundled record of the same id).
    """

    materials: dict[str, Material]
    sources: dict[str, Source]
    origin: dict[str, str] = field(default_factory=dict)
    #: Per-area prices (USD/m2) added to ``cost_usd_kg`` for layers priced by area (separator,
    #: lithium-foil rolling); set by :func:`casip.cost.prices.apply_prices`.
    area_cost_usd_m2: dict[str, float] = field(default_factory=dict)
    #: The price set the costs come from (None: the materials files' own ``cost_usd_kg``).
    price_set: str | None = None

    def __getitem__(self, key: str) -> Material:
        try:
            return self.materials[key]
        except KeyError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.materials)

    def __len__(self) -> int:
        return len(self.materials)

    def of_category(self, category: Category | str) -> list[Material]:
        cat = Category(category)
        return [m for m in self.materials.values() if m.category == cat]

    def elements(self, material_id: str) -> dict[str, float]:
        """Element mass fractions of a material (sum to 1)."""
        m = self.materials[material_id]
        return element_mass_fractions(m.formula, m.composition_by_mass, where=material_id)

    def table(self):
        """All materials as a pandas DataFrame, one row per material, units in column names."""
        import pandas as pd

        rows = []
        for m in self.materials.values():
            row = {"id": m.id, "name": m.name, "category": m.category.value}
            for name in (
                "density_g_cm3",
                "specific_capacity_mAh_g",
                "average_voltage_V",
                "cost_usd_kg",
                "ionic_conductivity_S_cm",
                "critical_current_density_mA_cm2",
            ):
                v = getattr(m, name)
                row[name] = v.value if v is not None else None
                row[f"{name}_source"] = v.source if v is not None else None
            row["origin"] = self.origin.get(m.id, "")
            rows.append(row)
        return pd.DataFrame(rows)


def _read_yaml(path: Path | str, text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CasipInputError(
            Problem(field="", message=f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"),
            source=str(path),
        ) from None


#: The fields every new material needs; an entry for a known id without them is a partial
#: override, merged onto the known record.
_REQUIRED = ("name", "category")


def _merge_partial(data: dict, base: Mapping[str, Material]) -> dict[str, list[str]]:
    """Complete, in place, the entries of ``data`` that partially override a known material.

    An entry whose ``id`` is in ``base`` and that lacks a required field (``name``,
    ``category``) keeps the known record's fields and replaces only those it gives. Returns
    ``{id: [fields given]}`` of the entries merged.
    """
    merged: dict[str, list[str]] = {}
    mats = data.get("materials")
    if not isinstance(mats, list):
        return merged
    for i, entry in enumerate(mats):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        known = base.get(entry["id"])
        if known is None or all(k in entry for k in _REQUIRED):
            continue
        record = known.model_dump(mode="json", exclude_none=True)
        # A formula and a composition exclude each other: the override's choice wins.
        if "composition_by_mass" in entry:
            record.pop("formula", None)
        if "formula" in entry:
            record.pop("composition_by_mass", None)
        mats[i] = {**record, **entry}
        merged[entry["id"]] = [k for k in entry if k != "id"]
    return merged


def parse_material_file(
    text: str, source: str, base: Mapping[str, Material] | None = None
) -> MaterialFile:
    """Validate the text of one materials file; errors name the file and the field.

    Parameters
    ----------
    text : str
        The YAML text (keys ``sources`` and ``materials``).
    source : str
        The file's name, for messages.
    base : mapping of id to Material, optional
        Materials already known (from earlier files). An entry for one of their ids that
        lacks ``name`` or ``category`` is a partial override: it is merged onto the known
        record (its fields replace the record's, the others are kept), so that e.g.
        ``{id: NMC811, cost_usd_kg: {value: 30, source: mylab}}`` changes only the price.

    Returns
    -------
    MaterialFile
        The validated file; ``merged`` (a private attribute) lists the partial overrides as
        ``{id: [fields given]}``.
    """
    data = _read_yaml(source, text)
    if data is None:
        raise CasipInputError("the file is empty; expected keys 'sources' and 'materials'", source)
    if not isinstance(data, dict):
        raise CasipInputError(
            Problem(
                "", "expected a mapping with keys 'sources' and 'materials'", type(data).__name__
            ),
            source,
        )
    merged = _merge_partial(data, base or {})
    # Report materials by id rather than by list index where we can.
    try:
        mf = MaterialFile.model_validate(data)
        mf._merged = merged
        return mf
    except ValidationError as exc:
        err = from_pydantic(exc, source=source, model=MaterialFile)
        mats = data.get("materials") if isinstance(data.get("materials"), list) else []
        for p in err.problems:
            head, _, rest = p.field.partition(".")
            if head == "materials" and rest:
                idx, _, tail = rest.partition(".")
                if idx.isdigit() and int(idx) < len(mats) and isinstance(mats[int(idx)], dict):
                    mid = mats[int(idx)].get("id", idx)
                    p.field = f"materials[{mid}]" + (f".{tail}" if tail else "")
                    if tail in _REQUIRED and p.expected is None:
                        p.expected = (
                            f"a {tail} for a new material (to change only some values of a "
                            "library material, give its id as in 'casip materials list')"
                        )
        err.args = (err._render(),)
        raise err from None


def _bundled_files() -> list[tuple[str, str]]:
    folder = resources.files("casip.materials") / "data"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            out.append((f"casip/materials/data/{entry.name}", entry.read_text(encoding="utf-8")))
    return out


def build_library(files: Iterable[tuple[str, str]]) -> MaterialLibrary:
    """Merge material files given as ``(name, text)`` pairs; later files override earlier ones.

    Checks across files: every value cites a known source key (or ``assumed``), every material
    with a formula or composition resolves to elements.
    """
    materials: dict[str, Material] = {}
    sources: dict[str, Source] = {}
    origin: dict[str, str] = {}
    parsed: list[tuple[str, MaterialFile]] = []
    known: dict[str, Material] = {}
    known_origin: dict[str, str] = {}
    for name, text in files:
        mf = parse_material_file(text, name, base=known)
        parsed.append((name, mf))
        for m in mf.materials:
            known[m.id] = m
            fields = mf._merged.get(m.id)
            known_origin[m.id] = (
                f"{name} ({', '.join(fields)}) over {known_origin[m.id]}" if fields else name
            )
    for _, mf in parsed:
        sources.update(mf.sources)
    for name, mf in parsed:
        seen: set[str] = set()
        for m in mf.materials:
            if m.id in seen:
                raise CasipInputError(
                    Problem(f"materials[{m.id}]", "the id appears twice in this file", m.id), name
                )
            seen.add(m.id)
            unknown = sorted(k for k in m.sources_used() if k != ASSUMED and k not in sources)
            if unknown:
                raise CasipInputError(
                    Problem(
                        f"materials[{m.id}]",
                        "cites a source key that no sources section defines",
                        ", ".join(unknown),
                        "a key under 'sources:' in this or another materials file, or 'assumed'",
                    ),
                    name,
                )
            if m.formula or m.composition_by_mass:
                element_mass_fractions(
                    m.formula, m.composition_by_mass, where=f"{name}: materials[{m.id}]"
                )
            materials[m.id] = m
            origin[m.id] = name
    # A partial override names its file, the fields it changed and the record it changed.
    origin = {mid: known_origin.get(mid, o) for mid, o in origin.items()}
    return MaterialLibrary(materials=materials, sources=sources, origin=origin)


@functools.lru_cache(maxsize=1)
def _bundled() -> MaterialLibrary:
    return build_library(_bundled_files())


def load_library(extra: Iterable[Path | str] = ()) -> MaterialLibrary:
    """The bundled library, overridden and extended by the user's material files.

    Parameters
    ----------
    extra : iterable of path
        YAML files in the same format as the bundled ones. A material whose id is already in the
        library replaces it; new ids are added. Each file is validated and errors name the file,
        the material and the field.
    """
    extra = [Path(p) for p in extra]
    if not extra:
        return _bundled()
    files = _bundled_files()
    for p in extra:
        try:
            files.append((str(p), p.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise CasipInputError("materials file not found", str(p)) from None
        except IsADirectoryError:
            raise CasipInputError("is a folder; expected a materials YAML file", str(p)) from None
        except UnicodeDecodeError:
            raise CasipInputError("not a UTF-8 text file; expected YAML", str(p)) from None
        except OSError as exc:
            raise CasipInputError(f"cannot be read: {exc.strerror or exc}", str(p)) from None
    return build_library(files)
