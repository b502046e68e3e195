"""Imported once by a worker's fork server (:data:`casip.platform.worker.PRELOAD`), so that
every job process forked from it starts warm.

What makes a job's first PyBaMM run slow in a fresh process is mostly Python-level work done
once per process: lazy imports inside PyBaMM and CASIP, the materials library, the parameter
sets a design is mapped onto. Mapping one reference design to PyBaMM parameters here does that
work once in the fork server; each child inherits it. Nothing here starts a solver or a
thread (forking a process whose solver has started threads is not safe), and a failure only
costs the warm start. Measured by ``benchmarks/bench_worker_warmup.py``.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")


def warm_up() -> bool:
    """Map a reference design to PyBaMM parameters (no solve); True when it worked."""
    try:
        from casip.cells import reference_design
        from casip.design import evaluate
        from casip.physics.parameters import parameters_for

        design = reference_design("lfp-blade")
        evaluate(design)
        parameters_for(design)
        return True
    except Exception as exc:  # pragma: no cover - the warm start is an optimisation only
        logging.getLogger(__name__).warning("worker warm-up skipped: %s", exc)
        return False


WARM = warm_up()
