"""Design-space exploration: studies of many designs on in-process, process or Dask executors.

A study file (``casip.study/1``, :mod:`casip.explore.study`) names a design, the parameters to
vary, the objectives and the constraints; :func:`run_study` sweeps it (full factorial, Latin
hypercube) or optimises it (NSGA-II via pymoo), journalling every evaluation so that a killed
study resumes where it stopped. See ``docs/exploration.md``.

>>> from casip.explore import read_study, run_study  # doctest: +SKIP
>>> result = run_study(read_study("study.yaml"), out_dir="study-out")  # doctest: +SKIP
>>> result.pareto  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Study": "casip.explore.study",
    "read_study": "casip.explore.study",
    "study_from_data": "casip.explore.study",
    "run_study": "casip.explore.run",
    "load_results": "casip.explore.run",
    "StudyResult": "casip.explore.run",
    "QUANTITIES": "casip.explore.objectives",
    "write_study_charts": "casip.explore.charts",
    "get_executor": "casip.explore.executors",
}


def __getattr__(name: str) -> Any:  # heavy modules are imported on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'casip.explore' has no attribute {name!r}")


__all__ = sorted(_LAZY)
