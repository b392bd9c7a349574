"""MADDPG: decentralised actors, centralised critics (all agents' observations and actions).

This class holds the whole off-policy machinery; :class:`~evo_marl.algorithms.matd3.MATD3` only
switches on twin critics, delayed policy updates and target policy smoothing.

Actions: ``Box`` actors end in ``tanh`` (raw actions in [-1, 1], rescaled for the env); ``Discrete``
and ``MultiDiscrete`` actors output logits and act through Gumbel-softmax (straight-through one-hot
samples while training, argmax when evaluating). Exploration noise for ``Box`` actions is Gaussian
(``expl_noise`` is its standard deviation on the [-1, 1] scale) or, with ``O_U_noise=True``,
Ornstein-Uhlenbeck, whose state starts at a draw from its stationary distribution so it explores
from the first step. Terminations stop bootstrapping; truncations do not.

With ``expected_pg`` a discrete actor instead learns from the exact expectation of its critic over the
choices of each action segment, ``sum_a pi(a | s) Q(s, a, ...)`` (the other segments at the actor's current
greedy choice, the other agents at their stored actions): no sampling noise in the gradient, which makes
many-way choices (say, one of ten targets) learnable; ``entropy_coef`` adds an entropy bonus that keeps
the categorical exploration alive.

Critics regress on the squared TD error by default; ``huber_delta`` switches to the Huber loss, which
keeps rare large TD errors (rewards the observation cannot predict, such as a penalty paid at a time
limit the agents do not observe) from swamping the small action-dependent differences that the
actors learn from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from evo_marl.algorithms.base import EvolvableAlgorithm
from evo_marl.algorithms.functional import GeneratorNoise, NoiseSource, per_member
from evo_marl.algorithms.hparams import Hyperparameters, hp
from evo_marl.errors import ConfigError
from evo_marl.hpo.parameters import HyperparameterConfig, RLParameter

CRITIC_KEYS = ("obs", "action", "reward", "next_obs", "termination")
AGILERL_KEYS = ("state", "action", "reward", "next_state", "done")


@dataclass
class MADDPGHyperparameters(Hyperparameters):
    """MADDPG's hyperparameters (``INIT_HP`` keys are the upper-case names: ``LR_ACTOR``, ``LEARN_STEP`` ...)."""

    batch_size: int = hp(64, 1, 1e9, integer=True, doc="transitions per update, sampled from the shared buffer")
    lr_actor: float = hp(1e-3, 0, 1, low_open=True, doc="Adam learning rate of the actors")
    lr_critic: float = hp(1e-3, 0, 1, low_open=True, doc="Adam learning rate of the critics")
    learn_step: int = hp(16, 1, 1e9, integer=True,
                         doc="env transitions of this member (over its num_envs envs) between updates")
    gamma: float = hp(0.95, 0, 1, doc="discount factor")
    tau: float = hp(0.01, 0, 1, low_open=True, doc="soft target-update rate per update")
    expl_noise: float = hp(0.1, 0, 1e3, doc="std of the Gaussian (or OU sigma) action noise on the [-1, 1] scale")
    O_U_noise: bool = hp(False, boolean=True, doc="Ornstein-Uhlenbeck instead of Gaussian action noise")
    mean_noise: float = hp(0.0, -1, 1, doc="mean of the action noise")
    theta: float = hp(0.15, 0, 1e3, low_open=True, doc="OU mean-reversion rate")
    dt: float = hp(0.01, 0, 1e3, low_open=True, doc="OU time step")
    policy_freq: int = hp(1, 1, 1e6, integer=True, doc="critic updates per actor update")
    target_noise: float = hp(0.2, 0, 1e3, doc="std of target-policy smoothing noise (MATD3)")
    noise_clip: float = hp(0.5, 0, 1e3, doc="clip of target-policy smoothing noise (MATD3)")
    huber_delta: float | None = hp(None, 0, 1e6, low_open=True, optional=True,
                                   doc="None: squared TD error; a number: Huber loss with this threshold")
    reward_scale: float = hp(1.0, 0, 1e6, low_open=True, doc="factor on rewards in the critics' targets")
    expected_pg: bool = hp(False, boolean=True,
                           doc="discrete actions: exact expected policy gradient over every choice of each action "
                               "segment instead of a straight-through Gumbel-softmax sample")
    entropy_coef: float = hp(0.0, 0, 1e3, doc="discrete actions: weight of the policy-entropy bonus (exploration)")
    action_l2: float = hp(0.0, 0, 1e3, doc="Box actions: weight of the policy's mean squared action (on the [-1, 1] "
                                            "scale) in the actor loss; keeps a deterministic policy off its bounds")


class LossBatch(NamedTuple):
    """Sampled transitions as tensors ``agent -> [..., B, dim]`` (``[..., B]`` for reward, done, weight).

    ``weight`` is the agent's active flag (0 also on padding rows); ``valid`` marks real rows ``[..., B]``
    where a stacked batch pads members with smaller batch sizes (None: every row is real).
    """

    obs: dict[str, torch.Tensor]
    action: dict[str, torch.Tensor]
    next_obs: dict[str, torch.Tensor]
    reward: dict[str, torch.Tensor]
    done: dict[str, torch.Tensor]
    weight: dict[str, torch.Tensor]
    valid: torch.Tensor | None = None


class LossHparams(NamedTuple):
    """Hyperparameters of the losses: numbers for one member, tensors ``[S]`` for a stack of members
    (``huber_delta`` NaN where a member uses the squared TD error; ``expected_pg`` is one bool for a stack)."""

    gamma: Any
    reward_scale: Any
    huber_delta: Any
    target_noise: Any
    noise_clip: Any
    entropy_coef: Any
    expected_pg: bool
    action_l2: Any


def td_loss(q: torch.Tensor, target: torch.Tensor, huber_delta: Any) -> torch.Tensor:
    """Per-sample critic loss: squared TD error (``huber_delta`` None), else Huber with threshold ``huber_delta``."""
    if huber_delta is None:
        return (q - target) ** 2
    if not isinstance(huber_delta, torch.Tensor):
        return torch.nn.functional.huber_loss(q, target, reduction="none", delta=huber_delta)
    squared = torch.isnan(per_member(huber_delta, q))
    delta = torch.where(squared, 1.0, per_member(huber_delta, q))  # no NaN in the branch not taken
    err = q - target
    size = err.abs()
    huber = torch.where(size < delta, 0.5 * err**2, delta * (size - 0.5 * delta))
    return torch.where(squared, err**2, huber)


def _row_mean(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean over the last two dims ``[..., B, d]``, counting only the ``valid`` rows."""
    if valid is None:
        return x.mean(dim=(-2, -1))
    return (x * valid.unsqueeze(-1)).sum(dim=(-2, -1)) / (valid.sum(-1) * x.shape[-1])


class MADDPG(EvolvableAlgorithm):
    """Multi-agent DDPG (Lowe et al., 2017) as an evolvable population member.

    Hyperparameters (:class:`MADDPGHyperparameters`; keyword arguments or ``hp=``): ``batch_size``,
    ``lr_actor`` / ``lr_critic``, ``learn_step`` (env transitions of this member between updates),
    ``gamma``, ``tau``, ``expl_noise`` (Gaussian std, or OU sigma with ``O_U_noise`` and ``mean_noise``,
    ``theta``, ``dt``), ``policy_freq`` / ``target_noise`` / ``noise_clip`` (used by MATD3),
    ``huber_delta`` (None for the squared TD error; a positive number for the Huber loss with this threshold,
    robust to rare large TD errors) and ``reward_scale`` (multiplies rewards in the critics' targets; for
    envs whose rewards are large — about 100 per step — 0.01-0.1 keeps the
    critics' regression well conditioned; acting is unaffected) and ``action_l2`` (Box actions: penalty on
    the policy's mean squared action, as in the DDPG of Hindsight Experience Replay; 0 = off).
    """

    algo_name = "MADDPG"
    Hyperparameters = MADDPGHyperparameters
    lr_hparams = ("lr_actor", "lr_critic")
    num_critics = 1
    smooth_targets = False

    @classmethod
    def default_hp_config(cls) -> HyperparameterConfig:
        """Learning rates (log scale, x2 / x0.5 per mutation), batch size, learn step, discount (on the
        horizon), target-update rate and exploration noise."""
        return HyperparameterConfig(
            lr_actor=RLParameter(1e-5, 1e-2, grow_factor=2.0, shrink_factor=0.5, scale="log"),
            lr_critic=RLParameter(1e-4, 1e-2, grow_factor=2.0, shrink_factor=0.5, scale="log"),
            batch_size=RLParameter(32, 512, grow_factor=1.5, shrink_factor=0.67, dtype=int, scale="log"),
            learn_step=RLParameter(2, 128, grow_factor=1.5, shrink_factor=0.67, dtype=int, scale="log"),
            gamma=RLParameter(0.9, 0.998, grow_factor=1.5, shrink_factor=0.67, scale="horizon"),
            tau=RLParameter(1e-3, 0.05, grow_factor=1.5, shrink_factor=0.67, scale="log"),
            expl_noise=RLParameter(0.02, 0.5, grow_factor=1.5, shrink_factor=0.67, scale="log"),
        )

    # ------------------------------------------------------------------ networks
    def _build_networks(self) -> None:
        self._ou_state: dict[str, np.ndarray] = {}
        joint_dim = sum(self.obs_dims.values()) + sum(c.raw_dim for c in self.codecs.values())
        for group, agents in self.groups.items():
            lead = agents[0]
            codec = self.codecs[lead]
            actor = self._mlp(self.obs_dims[lead], codec.raw_dim, self.actor_configs[lead],
                              output_activation="Tanh" if not codec.discrete else None, output_init_scale=3e-3)
            self._add_network(f"actor/{group}", actor, role="actor", slot=f"actor/{group}", target=True)
            critic_in = joint_dim + (len(agents) if len(agents) > 1 else 0)
            critic_config = self.critic_config or self.actor_configs[lead]
            critic_names = []
            for c in range(self.num_critics):
                name = f"critic{c + 1}/{group}"
                self._add_network(name, self._mlp(critic_in, 1, critic_config), role="critic",
                                  slot=f"critic/{group}", target=True)
                critic_names.append(name)
            self._add_optimizer(f"actor/{group}", [f"actor/{group}"], "lr_actor")
            self._add_optimizer(f"critic/{group}", critic_names, "lr_critic")
        self._agent_codes = {}
        for group, agents in self.groups.items():
            eye = torch.eye(len(agents), device=self.device)
            for i, agent in enumerate(agents):
                self._agent_codes[agent] = eye[i] if len(agents) > 1 else None

    # ------------------------------------------------------------------ acting
    def _policy_outputs(self, obs_t: dict[str, torch.Tensor], nets: Mapping[str, Callable] | None = None
                        ) -> dict[str, torch.Tensor]:
        """Actor outputs per agent; agents of a parameter-sharing group go through one forward pass.

        ``obs_t`` holds ``agent -> [..., B, obs_dim]`` (any leading shape the networks in ``nets`` accept;
        default: this member's networks).
        """
        nets = self.networks if nets is None else nets
        outputs = {}
        for group, agents in self.groups.items():
            present = [a for a in agents if a in obs_t]
            if not present:
                continue
            if len(present) == 1:
                outputs[present[0]] = nets[f"actor/{group}"](obs_t[present[0]])
                continue
            out = nets[f"actor/{group}"](torch.cat([obs_t[a] for a in present], dim=-2))
            for agent, chunk in zip(present, torch.split(out, [obs_t[a].shape[-2] for a in present], dim=-2)):
                outputs[agent] = chunk
        return outputs

    def get_action(self, obs: dict[str, np.ndarray], infos: dict | None = None) -> tuple[dict, dict]:
        """Env actions and raw actions (what the buffer stores) for observations ``agent -> [B, ...]``."""
        agents = [a for a in self.agent_ids if a in obs]
        batched = self._is_batched(agents[0], obs[agents[0]]) if agents else True
        obs_t = {a: self._obs_tensor(a, obs[a] if batched else np.asarray(obs[a])[None]) for a in agents}
        with torch.no_grad():
            outputs = self._policy_outputs(obs_t)
        env_actions, raw_actions = {}, {}
        for agent, out in outputs.items():
            codec = self.codecs[agent]
            if codec.discrete:
                mask = (infos or {}).get(agent, {}).get("action_mask") if isinstance(infos, dict) else None
                if mask is not None:
                    out = out.masked_fill(torch.as_tensor(np.asarray(mask).reshape(out.shape) == 0), -1e9)
                raw_t = codec.gumbel_softmax(out, self.torch_gen) if self.training else codec.one_hot_argmax(out)
                raw = raw_t.cpu().numpy()
            else:
                raw = out.cpu().numpy()
                if self.training:
                    raw = np.clip(raw + self._noise(agent, raw.shape), -1.0, 1.0).astype(np.float32)
            env_actions[agent] = codec.to_env(raw) if batched else codec.to_env(raw)[0]
            raw_actions[agent] = raw if batched else raw[0]
        return env_actions, raw_actions

    def _noise(self, agent: str, shape: tuple[int, ...]) -> np.ndarray:
        if not self.O_U_noise:
            return self.rng.normal(self.mean_noise, self.expl_noise, shape).astype(np.float32)
        state = self._ou_state.get(agent)
        if state is None or state.shape != shape:
            state = self._ou_stationary(shape)
        state = state + self.theta * (self.mean_noise - state) * self.dt + \
            self.expl_noise * np.sqrt(self.dt) * self.rng.standard_normal(shape)
        self._ou_state[agent] = state.astype(np.float32)
        return self._ou_state[agent]

    def _ou_stationary(self, shape: tuple[int, ...]) -> np.ndarray:
        decay = 1.0 - self.theta * self.dt
        std = self.expl_noise * np.sqrt(self.dt / max(1.0 - decay**2, 1e-12))
        return (self.mean_noise + std * self.rng.standard_normal(shape)).astype(np.float32)

    def reset_action_noise(self, indices) -> None:
        """Restart the OU noise of the given sub-envs (Gaussian noise has no state)."""
        indices = list(indices)
        if not indices:
            return
        for agent, state in self._ou_state.items():
            state[indices] = self._ou_stationary((len(indices), state.shape[1]))

    # ------------------------------------------------------------------ learning
    def _unpack(self, experiences: Any) -> dict[str, dict[str, torch.Tensor]]:
        if hasattr(experiences, "_fields") and "obs" in experiences._fields:
            return {k: getattr(experiences, k) for k in experiences._fields}
        if hasattr(experiences, "_fields") and "state" in experiences._fields:
            return dict(zip(CRITIC_KEYS, (getattr(experiences, k) for k in AGILERL_KEYS)))
        if isinstance(experiences, dict):
            return experiences
        if isinstance(experiences, (tuple, list)) and len(experiences) >= 5:
            return dict(zip(CRITIC_KEYS, experiences[:5]))
        raise ConfigError("experiences", type(experiences).__name__,
                          "must be a sampled batch (obs, action, reward, next_obs, termination[, ...])")

    def loss_batch(self, experiences: Any) -> LossBatch:
        """A sampled batch (``field -> agent -> [B, ...]``) as flat float tensors on this member's device."""
        batch = self._unpack(experiences)

        def flat(field: str, agent: str) -> torch.Tensor:
            t = batch[field][agent]
            return t.reshape(t.shape[0], -1).float().to(self.device)

        rewards = {a: batch["reward"][a].reshape(-1).float().to(self.device) for a in self.agent_ids}
        active = batch.get("active")
        return LossBatch(
            obs={a: flat("obs", a) for a in self.agent_ids}, action={a: flat("action", a) for a in self.agent_ids},
            next_obs={a: flat("next_obs", a) for a in self.agent_ids}, reward=rewards,
            done={a: batch["termination"][a].reshape(-1).float().to(self.device) for a in self.agent_ids},
            weight={a: (active[a].reshape(-1).float().to(self.device) if active is not None
                        else torch.ones_like(rewards[a])) for a in self.agent_ids})

    def loss_hparams(self) -> LossHparams:
        """The hyperparameters the losses read (numbers; the batched path passes tensors ``[S]``)."""
        return LossHparams(self.gamma, self.reward_scale, self.huber_delta, self.target_noise, self.noise_clip,
                           self.entropy_coef, self.expected_pg, self.action_l2)

    def _critic_input(self, obs_t, act_t, agent: str) -> torch.Tensor:
        parts = [obs_t[a] for a in self.agent_ids] + [act_t[a] for a in self.agent_ids]
        code = self._agent_codes[agent]
        if code is not None:
            parts.append(code.expand(*parts[0].shape[:-1], -1))
        return torch.cat(parts, dim=-1)

    def _target_actions(self, targets: Mapping[str, Callable], next_obs_t: dict[str, torch.Tensor], hp: LossHparams,
                        noise: NoiseSource) -> dict[str, torch.Tensor]:
        outputs = self._policy_outputs(next_obs_t, targets)
        actions = {}
        for agent, out in outputs.items():
            codec = self.codecs[agent]
            if codec.discrete:
                actions[agent] = codec.one_hot_argmax(out)
            elif self.smooth_targets:
                eps = noise.normal(out.shape) * per_member(hp.target_noise, out)
                clip = per_member(hp.noise_clip, out)
                actions[agent] = (out + eps.clamp(-clip, clip)).clamp(-1.0, 1.0)
            else:
                actions[agent] = out
        return actions

    def critic_loss(self, nets: Mapping[str, Callable], targets: Mapping[str, Callable], batch: LossBatch,
                    hp: LossHparams, noise: NoiseSource) -> torch.Tensor:
        """Critic loss summed over agents and critics, per member (``[]``, or ``[S]`` for a stacked batch)."""
        with torch.no_grad():
            next_act = self._target_actions(targets, batch.next_obs, hp, noise)
            td_targets = {}
            for agent in self.agent_ids:
                group = self.group_of[agent]
                x = self._critic_input(batch.next_obs, next_act, agent)
                q_next = torch.stack([targets[f"critic{c + 1}/{group}"](x).squeeze(-1)
                                      for c in range(self.num_critics)]).min(dim=0).values
                reward, done = batch.reward[agent], batch.done[agent]
                td_targets[agent] = (per_member(hp.reward_scale, reward) * reward
                                     + per_member(hp.gamma, done) * (1.0 - done) * q_next)

        loss = torch.zeros((), device=self.device)
        for agent in self.agent_ids:
            group = self.group_of[agent]
            x = self._critic_input(batch.obs, batch.action, agent)
            weight = batch.weight[agent]
            denom = weight.sum(-1).clamp(min=1.0)
            for c in range(self.num_critics):
                q = nets[f"critic{c + 1}/{group}"](x).squeeze(-1)
                loss = loss + (weight * td_loss(q, td_targets[agent], hp.huber_delta)).sum(-1) / denom
        return loss

    def actor_loss(self, nets: Mapping[str, Callable], batch: LossBatch, noise: NoiseSource,
                   hp: LossHparams) -> torch.Tensor:
        """Actor loss (minus the first critic's Q of the policy's actions), per member."""
        outputs = self._policy_outputs(batch.obs, nets)
        if hp.expected_pg and any(self.codecs[a].discrete for a in outputs):
            return (self._expected_actor_loss(batch.obs, batch.action, batch.weight, outputs, nets, hp.entropy_coef)
                    + self._action_penalty(outputs, batch.valid, hp.action_l2))
        policy_act = {}
        regulariser = self._action_penalty(outputs, batch.valid, hp.action_l2)
        for agent, out in outputs.items():
            codec = self.codecs[agent]
            if codec.discrete:
                policy_act[agent] = codec.gumbel_softmax(out, uniform=noise.uniform(out.shape))
                regulariser = regulariser + 1e-3 * _row_mean(out**2, batch.valid)
            else:
                policy_act[agent] = out
        loss = regulariser
        for agent in self.agent_ids:
            joint = {a: (policy_act[a] if a == agent else batch.action[a]) for a in self.agent_ids}
            critic = nets[f"critic1/{self.group_of[agent]}"]
            q = critic(self._critic_input(batch.obs, joint, agent)).squeeze(-1)
            weight = batch.weight[agent]
            loss = loss - (weight * q).sum(-1) / weight.sum(-1).clamp(min=1.0)
        return loss

    def _action_penalty(self, outputs: dict[str, torch.Tensor], valid: torch.Tensor | None,
                        action_l2: Any) -> torch.Tensor:
        """``action_l2`` x the mean squared Box action of the policy, summed over agents (0 when it is 0)."""
        penalty = torch.zeros((), device=self.device)
        if not isinstance(action_l2, torch.Tensor) and action_l2 == 0:
            return penalty  # the default: no extra work, results as before
        for agent, out in outputs.items():
            if not self.codecs[agent].discrete:
                mean_square = _row_mean(out**2, valid)
                penalty = penalty + per_member(action_l2, mean_square) * mean_square
        return penalty

    def _expected_actor_loss(self, obs_t, act_t, weights, outputs, nets: Mapping[str, Callable] | None = None,
                             entropy_coef: Any = None) -> torch.Tensor:
        """``-E_pi[Q]`` per agent, exact over each discrete segment's choices, minus ``entropy_coef`` x entropy.

        For segment ``j`` of agent ``i`` the critic scores every choice ``c`` (one row per choice, the other
        segments at the actor's greedy choice, other agents at their stored actions); the loss weights these
        values with ``pi_j(c | s)``. Box agents keep the deterministic policy gradient. ``nets`` and
        ``entropy_coef`` default to this member's.
        """
        nets = self.networks if nets is None else nets
        entropy_coef = self.entropy_coef if entropy_coef is None else entropy_coef
        loss = torch.zeros((), device=self.device)
        for agent in self.agent_ids:
            out, codec = outputs[agent], self.codecs[agent]
            critic = nets[f"critic1/{self.group_of[agent]}"]
            w = weights[agent]
            denom = w.sum(-1).clamp(min=1.0)
            if not codec.discrete:
                joint = {a: (out if a == agent else act_t[a]) for a in self.agent_ids}
                loss = loss - (w * critic(self._critic_input(obs_t, joint, agent)).squeeze(-1)).sum(-1) / denom
                continue
            greedy = codec.one_hot_argmax(out.detach())
            lead, batch, start = out.shape[:-2], out.shape[-2], 0
            for seg in codec.split_logits(out):
                n = seg.shape[-1]
                choices = greedy.unsqueeze(-2).repeat(*([1] * len(lead)), 1, n, 1)  # [..., B, n, raw_dim]
                choices[..., start:start + n] = torch.eye(n, device=self.device)
                expanded = {a: v.repeat_interleave(n, dim=-2) for a, v in obs_t.items()}
                joint = {a: (choices.reshape(*lead, batch * n, -1) if a == agent
                             else act_t[a].repeat_interleave(n, dim=-2)) for a in self.agent_ids}
                q = critic(self._critic_input(expanded, joint, agent)).reshape(*lead, batch, n)
                logp = torch.log_softmax(seg, dim=-1)
                probs = logp.exp()
                value = (probs * q.detach()).sum(-1)
                entropy = -(probs * logp).sum(-1)
                loss = loss - (w * (value + per_member(entropy_coef, entropy) * entropy)).sum(-1) / denom
                start += n
        return loss

    def learn(self, experiences: Any) -> dict[str, float]:
        """One critic update (and an actor update every ``policy_freq`` calls) from a sampled batch."""
        batch = self.loss_batch(experiences)
        noise = GeneratorNoise(self.torch_gen, self.device)
        critic_loss = self.critic_loss(self.networks, self.targets, batch, self.loss_hparams(), noise)
        self._step([f"critic/{g}" for g in self.groups], critic_loss)
        losses = {"critic_loss": float(critic_loss.detach()) / len(self.agent_ids)}

        self.learn_counter += 1
        if self.learn_counter % self.policy_freq == 0:
            critics = [p for g in self.groups for p in self.networks[f"critic1/{g}"].parameters()]
            for p in critics:  # the actor loss needs gradients through the critics, not for them
                p.requires_grad_(False)
            actor_loss = self.actor_loss(self.networks, batch, noise, self.loss_hparams())
            self._step([f"actor/{g}" for g in self.groups], actor_loss)
            for p in critics:
                p.requires_grad_(True)
            self._soft_update()
            losses["actor_loss"] = float(actor_loss.detach()) / len(self.agent_ids)
        return losses

    def _step(self, optimizer_names: list[str], loss: torch.Tensor) -> None:
        for name in optimizer_names:
            self.optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        for name in optimizer_names:
            self.optimizers[name].step()

    def _soft_update(self) -> None:
        with torch.no_grad():
            for name, target in self.targets.items():
                torch._foreach_lerp_(list(target.parameters()), list(self.networks[name].parameters()), self.tau)

    # ------------------------------------------------------------------ checkpoint extras
    def _extra_state(self) -> dict[str, Any]:
        return {"ou_state": {a: torch.from_numpy(s.copy()) for a, s in self._ou_state.items()}}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._ou_state = {a: t.numpy().copy() for a, t in state.get("ou_state", {}).items()}

