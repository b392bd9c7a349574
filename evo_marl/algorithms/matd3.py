"""MATD3: MADDPG with twin critics (the smaller target Q is bootstrapped), delayed policy updates
(``policy_freq`` critic updates per actor update) and target policy smoothing (clipped Gaussian noise
on the target actors' Box actions)."""

from __future__ import annotations

from evo_marl.algorithms.maddpg import MADDPG


class MATD3(MADDPG):
    """Multi-agent TD3 (Ackermann et al., 2019). Arguments as :class:`MADDPG`; ``policy_freq`` defaults to 2."""

    algo_name = "MATD3"
    num_critics = 2
    smooth_targets = True

    def __init__(self, *args, policy_freq: int = 2, **kwargs):
        super().__init__(*args, policy_freq=policy_freq, **kwargs)
