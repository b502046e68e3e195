"""Materials library: cathodes, anodes, electrolytes and inactive materials with sources.

>>> from casip.materials import load_library
>>> lib = load_library()
>>> lib["NMC811"].density_g_cm3.value  # doctest: +SKIP
4.65
"""

from casip.materials.library import MaterialLibrary, build_library, load_library
from casip.materials.records import Category, Material, MaterialFile, Source, Value

__all__ = [
    "Category",
    "Material",
    "MaterialFile",
    "MaterialLibrary",
    "Source",
    "Value",
    "build_library",
    "load_library",
]
