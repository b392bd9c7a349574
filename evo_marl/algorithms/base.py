"""Machinery shared by every evo-marl algorithm: spaces, parameter-sharing groups, evolvable networks
with their targets and optimizers, hyperparameters, RNGs, cloning, state dicts and evaluation.

An algorithm subclass declares its typed ``Hyperparameters`` dataclass (:mod:`evo_marl.algorithms.hparams`),
its default search space, whether it is ``on_policy``, builds its networks in ``_build_networks`` with
:meth:`_add_network` / :meth:`_add_optimizer`, and implements ``get_action`` and ``learn``. Everything
evolution needs (cloning, architecture/activation/weight/hyperparameter mutations, checkpoints) lives
here once. Hyperparameters are read as attributes (``member.lr_actor``, AgileRL style); the member's
``hp`` dataclass holds them, and setting one (``member.lr_actor = 3e-4`` or :meth:`set_hyperparameter`)
checks its range and updates what depends on it (e.g. the optimizers' learning rate).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from evo_marl import validation
from evo_marl.algorithms.hparams import Hyperparameters
from evo_marl.algorithms.net_config import parse_net_config
from evo_marl.algorithms.spaces import ActionCodec, obs_dim, space_from_dict, space_to_dict
from evo_marl.envs.episodes import acting_greedily, run_episodes
from evo_marl.errors import CheckpointError, ConfigError, SpaceError
from evo_marl.hpo.parameters import HyperparameterConfig
from evo_marl.networks import ARCHITECTURE_OPS, EvolvableMLP
from evo_marl.seeding import SeedLike, numpy_rng, seed_sequence, torch_generator

logger = logging.getLogger(__name__)


def _clone_tensors(tree: Any) -> Any:
    """A copy of nested dicts, lists and tuples with every tensor cloned (other leaves as they are): a much
    cheaper ``copy.deepcopy`` for state dicts."""
    if isinstance(tree, torch.Tensor):
        return tree.clone()
    if isinstance(tree, dict):
        return {k: _clone_tensors(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_clone_tensors(v) for v in tree)
    return tree


def _as_dict(values: Sequence | dict, agent_ids: list[str], name: str) -> dict[str, spaces.Space]:
    if isinstance(values, dict):
        missing = [a for a in agent_ids if a not in values]
        if missing:
            raise ConfigError(name, sorted(values), f"must have an entry for every agent; missing {missing}")
        return {a: values[a] for a in agent_ids}
    values = list(values)
    if len(values) != len(agent_ids):
        raise ConfigError(name, f"{len(values)} spaces", f"must have one space per agent ({len(agent_ids)} agents: {agent_ids})")
    return dict(zip(agent_ids, values))


def _hyperparameter_property(name: str) -> property:
    def get(self):
        return getattr(self.hp, name)

    def set(self, value):
        self.set_hyperparameter(name, value)

    return property(get, set, doc=f"Hyperparameter ``{name}`` (see ``Hyperparameters``).")


class EvolvableAlgorithm(ABC):
    """Base class of population members (see the module docstring).

    Args:
        observation_spaces: one space per agent (list aligned with ``agent_ids``, or a dict).
        action_spaces: one space per agent (list or dict).
        agent_ids: agent names; defaults to ``agent_0 .. agent_{n-1}``.
        index: the member's id in the population (clones get new ids).
        net_config: network configuration (see :mod:`evo_marl.algorithms.net_config`).
        hp_config: ranges of the hyperparameters that mutations may change (copied per member).
        hp: the member's hyperparameters (an instance of the class's ``Hyperparameters``; defaults otherwise).
        share_params: agents with identical spaces share one set of networks.
        num_envs: number of sub-envs this member acts in (sizes the exploration-noise state).
        device: torch device.
        seed: seed of this member's own RNG streams.
        **hyperparameters: individual hyperparameters by name (override ``hp``); unknown names raise ConfigError.
    """

    algo_name: ClassVar[str] = "base"
    on_policy: ClassVar[bool] = False  # learns from its own rollouts (no shared replay buffer)
    Hyperparameters: ClassVar[type[Hyperparameters]] = Hyperparameters
    lr_hparams: ClassVar[tuple[str, ...]] = ()  # hyperparameters that are optimizer learning rates
    # INIT_HP keys that are constructor options, not hyperparameters (upper-case key -> argument name).
    options: ClassVar[dict[str, str]] = {"SHARE_PARAMS": "share_params"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.Hyperparameters.names():
            if not isinstance(cls.__dict__.get(name), property):
                setattr(cls, name, _hyperparameter_property(name))

    def __init__(self, observation_spaces, action_spaces, agent_ids: Sequence[str] | None = None, index: int = 0,
                 net_config: dict | None = None, hp_config: HyperparameterConfig | None = None,
                 hp: Hyperparameters | None = None, share_params: bool = False, num_envs: int = 1,
                 device: str | torch.device = "cpu", seed: SeedLike = None, **hyperparameters: Any):
        self.hp = self.Hyperparameters.build(hp, **hyperparameters)
        if agent_ids is None:
            agent_ids = list(observation_spaces) if isinstance(observation_spaces, dict) else [
                f"agent_{i}" for i in range(len(observation_spaces))]
        self.agent_ids = list(agent_ids)
        if not self.agent_ids or len(set(self.agent_ids)) != len(self.agent_ids):
            raise ConfigError("agent_ids", self.agent_ids, "must be a non-empty list of distinct agent names")
        self.observation_spaces = _as_dict(observation_spaces, self.agent_ids, "observation_spaces")
        self.action_spaces = _as_dict(action_spaces, self.agent_ids, "action_spaces")
        self.obs_dims = {a: obs_dim(s, a) for a, s in self.observation_spaces.items()}
        self.codecs = {a: ActionCodec.from_space(s, a) for a, s in self.action_spaces.items()}
        self.share_params = validation.flag("share_params", share_params)
        self.groups = self._make_groups()
        self.group_of = {a: g for g, members in self.groups.items() for a in members}
        self.net_config = net_config
        self.actor_configs, self.critic_config = parse_net_config(net_config, self.agent_ids)
        self.num_envs = validation.positive_int("num_envs", num_envs)
        self._resolve_hyperparameters()
        self.hp_config = (hp_config or self.default_hp_config()).copy()
        self._check_hp_config()
        self.device = torch.device(device)
        self.index, self.parent, self.mut, self.elite = int(index), None, "None", False
        self.steps: list[int] = [0]
        self.scores: list[float] = []
        self.fitness: list[float] = []
        self.learn_counter = 0
        self.training = True
        self.failed = False  # set by the trainers when acting or learning raised, or weights went non-finite
        self.reseed(seed)
        self.networks: dict[str, EvolvableMLP] = {}
        self.targets: dict[str, EvolvableMLP] = {}
        self.roles: dict[str, str] = {}
        self.slots: dict[str, list[str]] = {}  # mutation slot -> networks that mutate together
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._optimizer_spec: dict[str, tuple[list[str], str]] = {}
        self._build_networks()

    @classmethod
    def consistent_values(cls, values: dict[str, Any], num_envs: int) -> dict[str, Any]:
        """Hyperparameter values drawn independently from their ranges, made consistent with each other."""
        return values

    def _resolve_hyperparameters(self) -> None:
        """Settle hyperparameters that depend on the set-up (e.g. IPPO's minibatch size); none by default."""

    def _check_hp_config(self) -> None:
        mutable = self.Hyperparameters.numeric_names()
        for name in self.hp_config.names():
            if name not in mutable:
                raise ConfigError(f"hp_config.{name}", self.hp_config[name].to_dict(),
                                  f"not a numeric hyperparameter of {self.algo_name}; valid: {list(mutable)}")
            param = self.hp_config[name]
            self.Hyperparameters.check_search_range(name, param.min, param.max, f"hp_config.{name}")
            value = getattr(self.hp, name)
            if value is None:
                raise ConfigError(f"hp_config.{name}", self.hp_config[name].to_dict(),
                                  f"{name} is None (off) in this member; set a number to let it mutate")

    # ----------------------------------------------------------------- set-up helpers
    @classmethod
    @abstractmethod
    def default_hp_config(cls) -> HyperparameterConfig:
        """The search space (mutation and sampling ranges) used when no ``hp_config`` is given."""

    @abstractmethod
    def _build_networks(self) -> None:
        """Create the networks and optimizers (called at the end of ``__init__``)."""

    def _make_groups(self) -> dict[str, list[str]]:
        if not self.share_params:
            return {a: [a] for a in self.agent_ids}
        groups: dict[str, list[str]] = {}
        signatures: dict[str, str] = {}
        for agent in self.agent_ids:
            sig = repr((space_to_dict(self.observation_spaces[agent]), space_to_dict(self.action_spaces[agent])))
            key = signatures.setdefault(sig, agent)
            groups.setdefault(key, []).append(agent)
        return groups

    def reseed(self, seed: SeedLike) -> None:
        """Give this member fresh RNG streams (clones get their own, so they explore differently)."""
        ss = seed_sequence(seed)
        self.seed_entropy = ss.entropy
        np_ss, torch_ss = ss.spawn(2)
        self.rng = numpy_rng(np_ss)
        self.torch_gen = torch_generator(torch_ss, self.device)

    def _mlp(self, num_inputs: int, num_outputs: int, config: dict, **extra: Any) -> EvolvableMLP:
        return EvolvableMLP(num_inputs, num_outputs, generator=self.torch_gen, device=self.device, **config, **extra)

    def _add_network(self, name: str, net: EvolvableMLP, role: str, slot: str, target: bool) -> None:
        self.networks[name] = net
        self.roles[name] = role
        self.slots.setdefault(slot, []).append(name)
        if target:
            self.targets[name] = net.clone()

    def _add_optimizer(self, name: str, net_names: list[str], lr_hparam: str) -> None:
        self._optimizer_spec[name] = (net_names, lr_hparam)
        self._build_optimizer(name)

    def _build_optimizer(self, name: str) -> None:
        net_names, lr_hparam = self._optimizer_spec[name]
        params = [p for n in net_names for p in self.networks[n].parameters()]
        fused = self.device.type in ("cpu", "cuda")  # one fused kernel per step instead of one op per tensor
        self.optimizers[name] = torch.optim.Adam(params, lr=float(getattr(self, lr_hparam)), fused=fused)

    # ----------------------------------------------------------------- AgileRL-style interface
    @abstractmethod
    def get_action(self, obs: dict[str, np.ndarray], infos: dict | None = None) -> tuple[dict, dict]:
        """Env actions and raw actions for a batch of observations ``agent -> [B, ...]``."""

    @abstractmethod
    def learn(self, experiences: Any) -> dict[str, float]:
        """One learning update; returns named losses."""

    def set_training_mode(self, training: bool) -> None:
        self.training = bool(training)

    def reset_action_noise(self, indices: Sequence[int]) -> None:
        """Reset exploration-noise state of the given sub-envs (no state by default)."""

    @property
    def agent_id(self) -> list[str]:  # AgileRL alias
        return self.agent_ids

    def test(self, env, swap_channels: bool = False, max_steps: int | None = None, loop: int = 1,
             sum_scores: bool = True, seed: int | None = None) -> float:
        """Mean team return over ``loop`` rounds of one episode per sub-env of ``env``, without exploration.

        The result is appended to ``self.fitness`` and returned. ``swap_channels`` is accepted for
        AgileRL compatibility; evo-marl networks flatten observations, so it has no effect.
        """
        rng = np.random.default_rng(seed)
        returns = []
        with acting_greedily([self]):
            for _ in range(max(1, int(loop))):
                result = run_episodes(lambda obs, infos: self.get_action(obs, infos)[0], env, max_steps=max_steps,
                                      seed=int(rng.integers(2**31 - 1)) if seed is not None else None)
                returns.append(float(np.mean(result.returns)))
        fitness = float(np.mean(returns))
        self.fitness.append(fitness)
        return fitness

    # ----------------------------------------------------------------- hyperparameters
    def hyperparameters(self) -> dict[str, Any]:
        """Current hyperparameter values by name."""
        return self.hp.to_dict()

    def set_hyperparameter(self, name: str, value: Any) -> None:
        """Set a hyperparameter (range-checked); learning rates update the optimizers in place (state survives)."""
        if name not in self.Hyperparameters.names():
            raise ConfigError(name, value, f"not a hyperparameter of {self.algo_name}"
                                           f"{validation.suggestion(name, self.Hyperparameters.names())}")
        setattr(self.hp, name, value)
        self._hyperparameter_changed(name)

    def _hyperparameter_changed(self, name: str) -> None:
        """Bring what depends on hyperparameter ``name`` up to date (override to extend)."""
        if name in self.lr_hparams and self.optimizers:
            for opt_name, (_, lr_hparam) in self._optimizer_spec.items():
                if lr_hparam == name:
                    for group in self.optimizers[opt_name].param_groups:
                        group["lr"] = float(getattr(self.hp, name))

    # ----------------------------------------------------------------- mutations
    def mutate_architecture(self, slot: str, op: str, rng: np.random.Generator) -> str:
        """Apply ``op`` (add/remove layer/node) to every network of ``slot``; targets and optimizers follow."""
        if op not in ARCHITECTURE_OPS:
            raise ConfigError("op", op, f"must be one of {ARCHITECTURE_OPS}")
        descriptions = [getattr(self.networks[name], op)(rng, self.torch_gen) for name in self.slots[slot]]
        for name in self.slots[slot]:
            if name in self.targets:
                self.targets[name] = self.networks[name].clone()
        for opt_name, (net_names, _) in self._optimizer_spec.items():
            if set(net_names) & set(self.slots[slot]):
                self._build_optimizer(opt_name)
        return f"{slot}:{descriptions[0]}"

    def architecture_changes(self, slot: str, op: str) -> bool:
        """Whether :meth:`mutate_architecture` ``(slot, op)`` would change any network of ``slot`` (False at
        the bounds of its ``net_config``: e.g. ``remove_node`` when every layer is at ``min_mlp_nodes``)."""
        return any(self.networks[name].changes(op) for name in self.slots[slot])

    def change_activation(self, activation: str) -> str:
        """Switch every hidden activation of every network (weights and optimizer state are kept)."""
        for name, net in self.networks.items():
            net.change_activation(activation)
            if name in self.targets:
                self.targets[name].change_activation(activation)
        return f"activation:{activation}"

    @property
    def activation(self) -> str:
        return next(iter(self.networks.values())).activation

    def perturb_weights(self, mutation_sd: float, fraction: float = 0.1) -> str:
        """Add N(0, mutation_sd) noise to a random ``fraction`` of every policy network's weights."""
        with torch.no_grad():
            for name, net in self.networks.items():
                if self.roles[name] != "actor":
                    continue
                for param in net.parameters():
                    mask = torch.rand(param.shape, generator=self.torch_gen, device=param.device) < fraction
                    noise = torch.randn(param.shape, generator=self.torch_gen, device=param.device) * mutation_sd
                    param.add_(noise * mask)
                if name in self.targets:
                    self.targets[name].load_state_dict(net.state_dict())
        return "parameters"

    def has_finite_weights(self) -> bool:
        return all(torch.isfinite(p).all() for net in self.networks.values() for p in net.parameters())

    def parameter_count(self) -> int:
        return sum(net.parameter_count() for net in self.networks.values())

    def architecture(self) -> dict[str, list[int]]:
        return {name: list(net.hidden_size) for name, net in self.networks.items()}

    # ----------------------------------------------------------------- cloning and checkpoints
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments that rebuild a member of the same kind (hyperparameters at their current values)."""
        return dict(observation_spaces=self.observation_spaces, action_spaces=self.action_spaces,
                    agent_ids=self.agent_ids, net_config=self.net_config, hp_config=self.hp_config,
                    hp=self.Hyperparameters.build(self.hp), share_params=self.share_params,
                    num_envs=self.num_envs, device=self.device)

    def clone(self, index: int | None = None, seed: SeedLike = None) -> EvolvableAlgorithm:
        """An independent copy: weights, targets, optimizer state, hyperparameters and history are copied,
        never shared, so learning on the clone changes nothing of the original. ``seed`` reseeds its RNGs."""
        twin = type(self)(**self.init_kwargs(), index=self.index if index is None else index)
        twin.load_state_dict(self.state_dict())
        twin.index = self.index if index is None else int(index)
        if seed is not None:
            twin.reseed(seed)
        return twin

    def meta(self) -> dict[str, Any]:
        return {"index": self.index, "parent": self.parent, "mut": self.mut, "elite": self.elite,
                "steps": list(self.steps), "scores": [float(s) for s in self.scores],
                "fitness": [float(f) for f in self.fitness], "learn_counter": self.learn_counter}

    def state_dict(self) -> dict[str, Any]:
        """Everything that defines this member, as tensors and plain data (safe for ``weights_only`` loads)."""
        return {
            "algo": self.algo_name,
            "agent_ids": list(self.agent_ids),
            "observation_spaces": {a: space_to_dict(s) for a, s in self.observation_spaces.items()},
            "action_spaces": {a: space_to_dict(s) for a, s in self.action_spaces.items()},
            "share_params": self.share_params,
            "hyperparameters": self.hyperparameters(),
            "hp_config": self.hp_config.to_dict(),
            "architectures": {name: net.init_dict for name, net in self.networks.items()},
            "networks": {name: net.state_dict() for name, net in self.networks.items()},
            "targets": {name: net.state_dict() for name, net in self.targets.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "meta": self.meta(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": self.torch_gen.get_state(),
            "extra": self._extra_state(),
        }

    def _extra_state(self) -> dict[str, Any]:
        """Algorithm-specific state (e.g. exploration noise); override together with :meth:`_load_extra_state`."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a member saved by :meth:`state_dict` (architectures are rebuilt as saved)."""
        if state.get("algo") != self.algo_name:
            raise CheckpointError(f"algo={state.get('algo')!r}: this checkpoint is not a {self.algo_name} member")
        if list(state.get("agent_ids", [])) != self.agent_ids:
            raise CheckpointError(f"agent_ids={state.get('agent_ids')!r}: expected {self.agent_ids}")
        for key in ("observation_spaces", "action_spaces"):
            mine = {a: space_to_dict(s) for a, s in getattr(self, key).items()}
            if state[key] != mine:
                raise CheckpointError(f"{key}={state[key]!r}: does not match this member's {mine}")
        try:
            self.hp = self.Hyperparameters.build(None, **state["hyperparameters"])
            rebuilt = False  # networks of the saved architecture are loaded in place (a clone's fresh ones)
            for name, init in state["architectures"].items():
                for nets, weights in ((self.networks, state["networks"]), (self.targets, state["targets"])):
                    if name not in weights:
                        continue
                    if name not in nets or nets[name].init_dict != init:
                        nets[name] = EvolvableMLP(**init, generator=self.torch_gen, device=self.device)
                        rebuilt = True
                    nets[name].load_state_dict(weights[name])
            optimizer_states = _clone_tensors(state["optimizers"])  # Adam keeps the given moment tensors
            for name in self._optimizer_spec:
                if rebuilt or name not in self.optimizers:
                    self._build_optimizer(name)
                self.optimizers[name].load_state_dict(optimizer_states[name])
            self.hp_config = HyperparameterConfig.from_dict(state["hp_config"])
            meta = state["meta"]
            self.index, self.parent, self.mut = meta["index"], meta["parent"], meta["mut"]
            self.elite, self.learn_counter = meta["elite"], meta["learn_counter"]
            self.steps, self.scores, self.fitness = list(meta["steps"]), list(meta["scores"]), list(meta["fitness"])
            self.rng.bit_generator.state = state["rng"]
            self.torch_gen.set_state(state["torch_rng"])
            self._load_extra_state(state.get("extra", {}))
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as err:
            raise CheckpointError(f"member state is incomplete or inconsistent: {err}") from err

    @staticmethod
    def spaces_from_state(state: dict[str, Any]) -> tuple[dict, dict]:
        """Observation and action spaces described in a saved state."""
        return ({a: space_from_dict(d) for a, d in state["observation_spaces"].items()},
                {a: space_from_dict(d) for a, d in state["action_spaces"].items()})

    # ----------------------------------------------------------------- tensors
    def _obs_tensor(self, agent: str, obs: np.ndarray) -> torch.Tensor:
        """Observations ``[B, ...]`` of one agent as a flat float tensor ``[B, obs_dim]`` (NaN/inf -> 0)."""
        space = self.observation_spaces[agent]
        arr = np.asarray(obs)
        if isinstance(space, spaces.Discrete) and arr.shape[-1:] != (space.n,):
            arr = np.eye(space.n, dtype=np.float32)[arr.astype(np.int64).reshape(-1) - int(space.start)]
        arr = arr.reshape(arr.shape[0], -1)
        if arr.shape[1] != self.obs_dims[agent]:
            raise SpaceError(f"obs[{agent}] has {arr.shape[1]} features per row: expected {self.obs_dims[agent]} for {space!r}")
        tensor = torch.as_tensor(arr, dtype=torch.float32, device=self.device)
        return torch.nan_to_num(tensor, nan=0.0, posinf=0.0, neginf=0.0)

    def _is_batched(self, agent: str, obs: np.ndarray) -> bool:
        space = self.observation_spaces[agent]
        single_ndim = 0 if isinstance(space, spaces.Discrete) else len(space.shape)
        return np.ndim(obs) > single_ndim

    def __repr__(self) -> str:
        return f"{self.algo_name}(index={self.index}, agents={self.agent_ids}, hp={self.hyperparameters()})"
