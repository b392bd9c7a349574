"""Batched NumPy ports of mpe2 tasks: one array step for every sub-env, the same episodes as mpe2.

``make_vec_env("mpe2/simple_speaker_listener_v4", n)`` runs the port; ``batched=False`` (or an option the
port does not model, such as ``render_mode``) runs mpe2's own env in
:class:`~evo_marl.envs.vector.SyncParallelVecEnv`.
A port returns exactly what that wrapper returns over mpe2 for the same seed and actions: the same reset
seed per sub-env (drawn as the wrapper draws them), the same draws from each episode's generator
(gymnasium's ``np_random(seed)``, which mpe2's ``reset(seed=...)`` builds), the same float64 physics and the
same float32 casts (``tests/envs/test_mpe_batched.py`` compares them step by step). It needs NumPy only,
not the mpe2 package.

Ported — every mpe2 task: ``simple_v3`` (:class:`SimpleVecEnv`), ``simple_speaker_listener_v4``
(:class:`SpeakerListenerVecEnv`), ``simple_reference_v3`` (:class:`ReferenceVecEnv`), ``simple_spread_v3``
(:class:`SpreadVecEnv`), ``simple_tag_v3`` (:class:`TagVecEnv`), ``simple_adversary_v3`` (:class:`AdversaryVecEnv`),
``simple_push_v3`` (:class:`PushVecEnv`), ``simple_crypto_v3`` (:class:`CryptoVecEnv`) and ``simple_world_comm_v3``
(:class:`WorldCommVecEnv`), with their size and reward options; the curriculum, early termination and partial
observability of spread, tag and adversary are not modelled (with those options mpe2's env runs). A port
subclasses :class:`BatchedMPEVecEnv` (:mod:`.base`) and implements the task's reset draws, physics and
observations on arrays (:mod:`.cooperative`, :mod:`.competitive`).
"""

from __future__ import annotations

import inspect

from evo_marl.envs.mpe_batched.base import BatchedMPEVecEnv
from evo_marl.envs.mpe_batched.competitive import AdversaryVecEnv, CryptoVecEnv, PushVecEnv, TagVecEnv, WorldCommVecEnv
from evo_marl.envs.mpe_batched.cooperative import ReferenceVecEnv, SimpleVecEnv, SpeakerListenerVecEnv, SpreadVecEnv

__all__ = ["BatchedMPEVecEnv", "SimpleVecEnv", "SpeakerListenerVecEnv", "ReferenceVecEnv", "SpreadVecEnv", "TagVecEnv",
           "AdversaryVecEnv", "PushVecEnv", "CryptoVecEnv", "WorldCommVecEnv", "PORTS", "IGNORED_OPTIONS",
           "port_options"]

PORTS: dict[str, type[BatchedMPEVecEnv]] = {port.task: port for port in (
    SimpleVecEnv, SpeakerListenerVecEnv, ReferenceVecEnv, SpreadVecEnv, TagVecEnv, AdversaryVecEnv, PushVecEnv,
    CryptoVecEnv, WorldCommVecEnv)}
# options a port models besides its own constructor's (dynamic_rescaling concerns rendering only)
IGNORED_OPTIONS = frozenset({"dynamic_rescaling"})


def port_options(port: type[BatchedMPEVecEnv]) -> frozenset[str]:
    """The env options ``port`` takes (its constructor's keywords besides ``num_envs`` and ``seed``)."""
    names = inspect.signature(port.__init__).parameters
    return frozenset(names) - {"self", "num_envs", "seed"} | IGNORED_OPTIONS
