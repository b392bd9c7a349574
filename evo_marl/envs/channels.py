"""Image-layout helpers of the AgileRL API: move the channel axis of image observations to the front.

evo-marl's networks flatten observations, so the layout does not change what they can learn; these exist
so that code written for ``CHANNELS_LAST`` image envs ports unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from evo_marl.errors import SpaceError


def obs_channels_to_first(observation: Any) -> Any:
    """``[..., H, W, C] -> [..., C, H, W]`` for an array (batched or not), or for every array of a dict."""
    if isinstance(observation, dict):
        return {key: obs_channels_to_first(value) for key, value in observation.items()}
    array = np.asarray(observation)
    if array.ndim < 3:
        raise SpaceError(f"observation of shape {array.shape}: channels_to_first needs an image [..., H, W, C]")
    return np.moveaxis(array, -1, -3)


def observation_space_channels_to_first(space: spaces.Space) -> spaces.Space:
    """The space of :func:`obs_channels_to_first` observations: a ``Box (H, W, C)`` becomes ``(C, H, W)``."""
    if isinstance(space, spaces.Dict):
        return spaces.Dict({key: observation_space_channels_to_first(s) for key, s in space.spaces.items()})
    if not isinstance(space, spaces.Box) or len(space.shape) != 3:
        raise SpaceError(f"observation_space={space!r}: channels_to_first needs a Box of shape (H, W, C)")
    return spaces.Box(np.moveaxis(space.low, -1, 0), np.moveaxis(space.high, -1, 0), dtype=space.dtype)
