"""Everything that differs between the PettingZoo releases evo-marl supports (>= 1.24), in one place.

Measured by reading the 1.24.0, 1.24.4, 1.25.0, 1.26.1 and 1.27.0 wheels side by side:

* **Env registry.** ``pettingzoo.register`` / ``pettingzoo.make`` / ``pettingzoo.parallel_registry``
  (the ``pettingzoo.env_registry`` package) exist from 1.27 only. Before that,
  ``import pettingzoo; pettingzoo.parallel_registry`` raises ``AttributeError``, so evo-marl registers
  its envs only where the registry exists (:func:`register_parallel_env`); ``evo_marl.make_env`` works
  everywhere.
* **``ParallelEnv``** (``pettingzoo.utils.env``): only type annotations changed; the methods evo-marl's
  envs implement (``reset``, ``step``, ``observation_space``, ``action_space``, ``render``, ``close``,
  ``state``) keep their signatures.
* **``parallel_api_test``**: 1.24 requires the ``obs`` dict of ``reset`` to hold exactly the live
  agents; 1.25+ accept extra keys and also check ``infos``. evo-marl's envs satisfy both.
* ``pettingzoo.utils.agent_selector`` became ``AgentSelector`` in 1.24.x (AEC envs only; evo-marl has none).
* **Dependencies.** 1.24.x needs ``gymnasium>=0.28``; 1.25+ need ``gymnasium>=1.0``. 1.25.0 caps
  Python below 3.13; 1.27 drops Python 3.9. The compatibility check (``make test-compat``) runs 1.24.0
  with gymnasium 0.29.1 and NumPy 1.26, the oldest combination evo-marl declares, and 1.26.1 with the
  newest gymnasium and NumPy. Of evo-marl's env families only ``gym/`` needs gymnasium >= 1.1
  (``gymnasium.vector.AutoresetMode``); it says so when imported under an older one.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pettingzoo

PETTINGZOO_VERSION: str = importlib.metadata.version("pettingzoo")
HAS_ENV_REGISTRY: bool = hasattr(pettingzoo, "parallel_registry") and hasattr(pettingzoo, "register")


def register_parallel_env(env_id: str, entry_point: str, kwargs: dict[str, Any] | None = None) -> bool:
    """Register ``env_id`` for ``pettingzoo.make("parallel", env_id)`` where this PettingZoo has a registry.

    Registering twice is a no-op (no override warning on re-import). Returns whether ``env_id`` is
    registered after the call: ``False`` on PettingZoo < 1.27, which has no registry.
    """
    if not HAS_ENV_REGISTRY:
        return False
    if env_id not in pettingzoo.parallel_registry:
        pettingzoo.register("parallel", env_id, entry_point=entry_point, kwargs=dict(kwargs or {}))
    return True


__all__ = ["HAS_ENV_REGISTRY", "PETTINGZOO_VERSION", "register_parallel_env"]
