"""CASIP: an open platform for all-solid-state battery innovation.

The package flows one way: materials -> design -> metrics -> reports. Start with
:func:`casip.design.evaluate` on a design from :func:`casip.io.read_design` or from
:func:`casip.cells.reference_design`.
"""

__version__ = "0.1.0"
