"""Experience storage: the shared, preallocated multi-agent replay buffer."""

from evo_marl.buffers.replay import MultiAgentReplayBuffer
from evo_marl.buffers.rollout import RolloutBuffer, compute_gae

__all__ = ["MultiAgentReplayBuffer"]
__all__ += ["RolloutBuffer", "compute_gae"]
