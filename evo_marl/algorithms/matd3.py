"""MATD3: MADDPG with twin critics (the smaller target Q is bootstrapped), delayed policy updates
(``policy_freq`` critic updates per actor update) and target policy smoothing (clipped Gaussian noise
on the target actors' Box actions)."""

from __future__ import annotations

from dataclasses import dataclass

from evo_marl.algorithms.hparams import hp
from evo_marl.algorithms.maddpg import MADDPG, MADDPGHyperparameters
from evo_marl.hpo.parameters import HyperparameterConfig, RLParameter


@dataclass
class MATD3Hyperparameters(MADDPGHyperparameters):
    """As :class:`MADDPGHyperparameters`; ``policy_freq`` defaults to 2."""

    policy_freq: int = hp(2, 1, 1e6, integer=True, doc="critic updates per actor update")


class MATD3(MADDPG):
    """Multi-agent TD3 (Ackermann et al., 2019). Arguments as :class:`MADDPG`."""

    algo_name = "MATD3"
    Hyperparameters = MATD3Hyperparameters
    num_critics = 2
    smooth_targets = True

    @classmethod
    def default_hp_config(cls) -> HyperparameterConfig:
        """MADDPG's search space plus target-smoothing noise and the policy delay."""
        space = super().default_hp_config()
        space.params["target_noise"] = RLParameter(0.02, 0.5, grow_factor=1.5, shrink_factor=0.67, scale="log")
        space.params["policy_freq"] = RLParameter(1, 4, dtype=int)
        return space
