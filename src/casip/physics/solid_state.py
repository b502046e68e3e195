"""The sourced solid-state parameters, under their physics name.

The table and its functions live in :mod:`casip.materials.solid_state`: they are sourced
values that need neither PyBaMM nor the physics package, so the design engine (stack-pressure
rules) and the life models read them without importing PyBaMM. This module *is* that module
(one object, not a copy), so ``casip.physics.solid_state.TABLE`` and its functions keep working.
"""

import sys

from casip.materials import solid_state as _solid_state

sys.modules[__name__] = _solid_state
