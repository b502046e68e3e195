"""Reader adapters, one module per cycler file format (see :mod:`casip.data.readers._base`).

The registry below lists them; :func:`casip.data.read` detects the format from the file's
content and calls the adapter behind the safeguards of :mod:`casip.data.ingest`.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Module names of the adapters, in the order their sniffers are tried (specific first).
ADAPTERS: tuple[str, ...] = (
    "bdf_csv",
    "arbin_res",
    "arbin_csv",
    "maccor_txt",
    "maccor_raw",
    "neware_nda",
    "neware_layered",
    "neware_csv",
    "biologic_mpr",
    "landt_csv",
    "novonix_csv",
    "pec_csv",
    "bitrode_csv",
    "batterydata_csv",
    "table_formats",
)


#: Adapters whose third-party library is not installed: module name -> missing package.
_UNAVAILABLE: dict[str, str] = {}


def adapters() -> dict[str, Any]:
    """Format id -> adapter module, for the adapters that import on this installation.

    An adapter whose library is missing is left out (see :func:`unavailable`) rather than
    breaking every other format.
    """
    out = {}
    for name in ADAPTERS:
        try:
            mod = importlib.import_module(f"casip.data.readers.{name}")
        except ModuleNotFoundError as exc:
            _UNAVAILABLE[name] = exc.name or "?"
            continue
        # a module of declarative layouts gives several adapters (SPEC_ADAPTERS)
        for adapter in getattr(mod, "SPEC_ADAPTERS", (mod,)):
            out[adapter.FORMAT] = adapter
    return out


def unavailable() -> dict[str, str]:
    """Adapters that could not be imported, with the missing package's name."""
    adapters()
    return dict(_UNAVAILABLE)
