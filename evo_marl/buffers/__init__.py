"""Experience storage: the shared, preallocated multi-agent replay buffer."""

from evo_marl.buffers.replay import MultiAgentReplayBuffer

__all__ = ["MultiAgentReplayBuffer"]
