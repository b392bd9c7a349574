"""Evaluation-mode acting of a whole population as stacks: one forward per actor network for all members.

:class:`StackedGreedyPolicy` stacks only the members' actors (no critics, targets or optimizer state: it is
cheap to build once per evaluation) and returns, for each selected member's rows, exactly the env actions
that member's own ``get_action`` returns in evaluation mode: MADDPG / MATD3 the actor's output (Box) or its
masked argmax (discrete), IPPO the mean (Box) or the masked mode (discrete). The weights are read when the
policy is built, so build it after training and before playing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from evo_marl.algorithms.ippo import IPPO
from evo_marl.algorithms.maddpg import MADDPG
from evo_marl.errors import ConfigError
from evo_marl.population.network import StackedNetwork
from evo_marl.population.off_policy import check_uniform, masked_logits
from evo_marl.population.stack import StackEntry


class StackedGreedyPolicy:
    """Evaluation-mode actions of a MADDPG / MATD3 or IPPO population (see the module docstring).

    Args:
        population: the members (one algorithm, equal agents and spaces), in evaluation mode when acting.
        grouping: how members with different architectures are stacked (:data:`~.network.GROUPINGS`).
    """

    def __init__(self, population: Sequence, grouping: str = "auto"):
        template = population[0]
        cls = next((c for c in (MADDPG, IPPO) if isinstance(template, c)), None)
        if cls is None:
            raise ConfigError("population", type(template).__name__, "stacked acting needs MADDPG, MATD3 or IPPO members")
        check_uniform(list(population), cls)
        self.template, self.device = template, template.device
        self.actors = {name: StackedNetwork([StackEntry(m.networks[name], [], None, None) for m in population],
                                            grouping, self.device)
                       for name in template.networks if name.startswith("actor/")}

    @torch.no_grad()
    def act(self, sel: Sequence[int], obs: dict[str, np.ndarray], infos: dict | None = None) -> dict[str, np.ndarray]:
        """Env actions ``agent -> [S * E, ...]`` of members ``sel`` for their rows of ``obs`` (member-major, ``E``
        rows each), as each member's evaluation-mode ``get_action`` on its own rows."""
        if isinstance(self.template, IPPO):
            return self._act_ippo(sel, obs, infos)
        return self._act_maddpg(sel, obs, infos)

    def _act_maddpg(self, sel: Sequence[int], obs: dict[str, np.ndarray], infos: dict | None) -> dict[str, np.ndarray]:
        template, size = self.template, len(sel)
        agents = [a for a in template.agent_ids if a in obs]
        obs_t = {a: template._obs_tensor(a, obs[a]).reshape(size, -1, template.obs_dims[a]) for a in agents}
        outputs = template._policy_outputs(obs_t, {name: net.bind(sel) for name, net in self.actors.items()})
        env_actions = {}
        for agent, out in outputs.items():
            codec = template.codecs[agent]
            if codec.discrete:
                out = codec.one_hot_argmax(masked_logits(out, infos, agent))
            raw = out.cpu().numpy()
            env_actions[agent] = codec.to_env(raw.reshape(-1, raw.shape[-1]))
        return env_actions

    def _act_ippo(self, sel: Sequence[int], obs: dict[str, np.ndarray], infos: dict | None) -> dict[str, np.ndarray]:
        template, size = self.template, len(sel)
        present = [a for a in template.agent_ids if a in obs]
        rows = len(obs[present[0]])
        full = {a: obs[a] if a in obs else np.zeros((rows, template.obs_dims[a]), np.float32) for a in template.agent_ids}
        group_obs = template.group_obs(full)
        masks = template._group_masks(infos, rows)
        env_actions = {}
        for g, agents in template.groups.items():
            m = len(agents)
            x = torch.from_numpy(group_obs[g]).to(self.device).reshape(size, -1, group_obs[g].shape[-1])
            mask = None if masks[g] is None else torch.from_numpy(masks[g]).to(self.device).reshape(size, x.shape[1], -1)
            out = self.actors[f"actor/{g}"].bind(sel)(x)
            codec = template.codecs[agents[0]]
            if codec.discrete:  # the mode, as IPPO._sample outside training
                out = codec.one_hot_argmax(out if mask is None else out.masked_fill(~mask, -1e9))
            raw = out.reshape(rows, m, -1).cpu().numpy().astype(np.float32)
            for i, agent in enumerate(agents):
                if agent in obs:
                    env_actions[agent] = codec.to_env(raw[:, i])
        return env_actions
