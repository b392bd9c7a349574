"""PettingZoo ``ParallelEnv`` and batched ``VectorEnv`` views of the Bucket Brigade simulator.

Both are the shared :mod:`evo_marl.envs.native` views; the subclasses only add parity-mode seeding:

* ``BucketBrigadeParallelEnv.reset(seed=s)`` in parity mode gives the env ``RandomState(s)``, exactly
  like the reference ``env.reset(seed=s)``; ``reset()`` without a seed continues the same stream.
* ``BucketBrigadeVecEnv.reset(seed=s)`` reseeds the Generator and, in parity mode, draws each
  sub-env's ``RandomState`` seed from it; auto-resets continue each sub-env's stream.
"""

from __future__ import annotations

from evo_marl.envs.bucket_brigade.simulator import BucketBrigadeSimulator
from evo_marl.envs.native import NativeParallelEnv, NativeVecEnv
from evo_marl.seeding import SeedLike


def _factory(scenario, **kwargs):
    BucketBrigadeSimulator(1, scenario, **kwargs)  # validate now, so errors point at the caller
    return lambda num_envs: BucketBrigadeSimulator(num_envs, scenario, **kwargs)


class BucketBrigadeParallelEnv(NativeParallelEnv):
    """One Bucket Brigade env as a PettingZoo ``ParallelEnv`` (see :func:`parallel_env`)."""

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.sim.seed_parity([seed])
        return super().reset(seed=seed, options=options)

    @property
    def scenario(self):
        return self.sim.scenario


class BucketBrigadeVecEnv(NativeVecEnv):
    """Bucket Brigade batched over ``num_envs`` sub-envs (see :func:`vec_env`)."""

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.sim.forget_parity_seeds()
        return super().reset(seed=seed, options=options)

    def spawn(self, num_envs: int, seed: SeedLike = None) -> BucketBrigadeVecEnv:
        return BucketBrigadeVecEnv(self.make_simulator, num_envs, seed=seed)

    @property
    def scenario(self):
        return self.sim.scenario


def parallel_env(scenario="default", render_mode: str | None = None, **kwargs) -> BucketBrigadeParallelEnv:
    """Bucket Brigade as a PettingZoo ``ParallelEnv``.

    Args:
        scenario: a built-in name (``"default"``, ``"rest_trap"``, ...), a ``.json``/``.yaml`` path, a
            dict of scenario fields or a :class:`~.scenarios.Scenario`.
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns a one-line text picture).
        **kwargs: ``mode`` (``"fast"``/``"parity"``), ``signal_bit``, ``max_nights`` (truncation cap,
            100), ``opponents`` (``{"agent_3": "free_rider"}``), ``num_agents``, ``num_houses``,
            ``reward_sharing`` (0-1: weight of the team's mean reward in each learner's reward), ``fire_ranks``
            (observations add the burning houses dealt out to the seats in turn), ``egocentric`` (each learner
            sees the ring from its own home and picks houses relative to it).
    """
    return BucketBrigadeParallelEnv(_factory(scenario, **kwargs), render_mode=render_mode)


def vec_env(scenario="default", num_envs: int = 1, seed: SeedLike = None, **kwargs) -> BucketBrigadeVecEnv:
    """Bucket Brigade as a batched :class:`~evo_marl.envs.native.NativeVecEnv` (same kwargs as
    :func:`parallel_env`)."""
    return BucketBrigadeVecEnv(_factory(scenario, **kwargs), num_envs, seed=seed)
