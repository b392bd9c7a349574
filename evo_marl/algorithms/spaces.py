"""Conversions between gymnasium spaces, network inputs/outputs and env actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from evo_marl.errors import SpaceError


def obs_dim(space: spaces.Space, agent: str = "?") -> int:
    """Length of the flat float vector a network receives for ``space`` (Discrete is one-hot)."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    raise SpaceError(
        f"observation_space[{agent}]={space!r}: unsupported; evo-marl networks take Box or Discrete observations"
    )


@dataclass(frozen=True)
class ActionCodec:
    """How one agent's actions are produced by a network and handed to the env.

    * ``box``: the network outputs ``tanh`` values in [-1, 1] (the *raw* action, stored in the buffer
      and seen by critics); the env receives them rescaled to ``[low, high]``.
    * ``discrete`` / ``multidiscrete``: the network outputs logits; the raw action is the one-hot vector
      (concatenated one-hots for MultiDiscrete) and the env receives the indices.
    """

    kind: str
    raw_dim: int
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    nvec: tuple[int, ...] = ()
    shape: tuple[int, ...] = ()

    @classmethod
    def from_space(cls, space: spaces.Space, agent: str = "?") -> ActionCodec:
        if isinstance(space, spaces.Box):
            low, high = np.asarray(space.low, np.float32).reshape(-1), np.asarray(space.high, np.float32).reshape(-1)
            if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
                raise SpaceError(f"action_space[{agent}]={space!r}: Box actions need finite low and high bounds")
            return cls("box", int(low.size), low, high, shape=tuple(space.shape))
        if isinstance(space, spaces.Discrete):
            return cls("discrete", int(space.n), nvec=(int(space.n),))
        if isinstance(space, spaces.MultiDiscrete):
            nvec = tuple(int(n) for n in np.asarray(space.nvec).reshape(-1))
            return cls("multidiscrete", int(sum(nvec)), nvec=nvec, shape=tuple(space.shape))
        raise SpaceError(
            f"action_space[{agent}]={space!r}: unsupported; use Box, Discrete or MultiDiscrete actions"
        )

    @property
    def discrete(self) -> bool:
        return self.kind != "box"

    def to_env(self, raw: np.ndarray) -> np.ndarray:
        """Env actions ``[B, ...]`` from raw actions ``[B, raw_dim]``."""
        if self.kind == "box":
            scaled = self.low + (np.clip(raw, -1.0, 1.0) + 1.0) * 0.5 * (self.high - self.low)
            return scaled.reshape(raw.shape[0], *self.shape).astype(np.float32)
        indices = [seg.argmax(axis=-1) for seg in np.split(raw, np.cumsum(self.nvec)[:-1], axis=-1)]
        if self.kind == "discrete":
            return indices[0].astype(np.int64)
        return np.stack(indices, axis=-1).astype(np.int64).reshape(raw.shape[0], *self.shape)

    def split_logits(self, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(logits, list(self.nvec), dim=-1)

    def one_hot_argmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Deterministic one-hot actions from logits."""
        parts = [torch.nn.functional.one_hot(seg.argmax(-1), seg.shape[-1]).to(logits.dtype)
                 for seg in self.split_logits(logits)]
        return torch.cat(parts, dim=-1)

    def gumbel_softmax(self, logits: torch.Tensor, generator: torch.Generator | None = None, tau: float = 1.0,
                       hard: bool = True, uniform: torch.Tensor | None = None) -> torch.Tensor:
        """Gumbel-softmax samples per segment (straight-through if hard) from ``uniform`` [0, 1) draws shaped
        like ``logits``, or from draws of the member's own ``generator``."""
        if uniform is None:
            uniform = torch.rand(logits.shape, generator=generator, device=logits.device)
        uniform = uniform.clamp(1e-10, 1.0 - 1e-7)
        noisy = (logits - torch.log(-torch.log(uniform))) / tau
        parts = []
        for seg in self.split_logits(noisy):
            soft = torch.softmax(seg, dim=-1)
            if hard:
                hard_seg = torch.nn.functional.one_hot(soft.argmax(-1), seg.shape[-1]).to(soft.dtype)
                soft = hard_seg - soft.detach() + soft
            parts.append(soft)
        return torch.cat(parts, dim=-1)


def space_to_dict(space: spaces.Space) -> dict[str, Any]:
    """A JSON description of a Box / Discrete / MultiDiscrete space (for checkpoint manifests)."""
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": np.asarray(space.low).tolist(), "high": np.asarray(space.high).tolist(),
                "shape": list(space.shape), "dtype": str(space.dtype)}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": np.asarray(space.nvec).tolist()}
    raise SpaceError(f"space {space!r}: cannot be described; only Box, Discrete and MultiDiscrete are supported")


def space_mismatch(member: Any, env: Any, agent: str) -> tuple[str, spaces.Space, spaces.Space] | None:
    """The first of ``("observation", ...)``, ``("action", ...)`` where ``member``'s space for ``agent`` differs
    from ``env.single_<kind>_space(agent)``: ``(kind, member_space, env_space)``; None where both match."""
    for kind, mine, theirs in (("observation", member.observation_spaces[agent], env.single_observation_space(agent)),
                               ("action", member.action_spaces[agent], env.single_action_space(agent))):
        if space_to_dict(mine) != space_to_dict(theirs):
            return kind, mine, theirs
    return None


def space_from_dict(data: dict[str, Any]) -> spaces.Space:
    """Inverse of :func:`space_to_dict`."""
    kind = data.get("type")
    if kind == "Box":
        low = np.asarray(data["low"], dtype=data.get("dtype", "float32"))
        high = np.asarray(data["high"], dtype=data.get("dtype", "float32"))
        return spaces.Box(low.reshape(data["shape"]), high.reshape(data["shape"]), dtype=low.dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.asarray(data["nvec"]))
    raise SpaceError(f"space description type={kind!r}: must be one of Box, Discrete, MultiDiscrete")
