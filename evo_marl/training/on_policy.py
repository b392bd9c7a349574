"""On-policy population training: every member acts in its slice of one batched env, keeps its own
rollout, and runs PPO epochs on it whenever it holds ``learn_step`` vector steps (no replay buffer)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from evo_marl.buffers.rollout import RolloutBuffer
from evo_marl.envs.vector import VectorEnv
from evo_marl.errors import ConfigError
from evo_marl.training import common
from evo_marl.training.evaluation import episode_over, team_reward
from evo_marl.training.runner import PhaseResult, derived_seed
from evo_marl.training.stopping import StoppingCriterion

logger = logging.getLogger(__name__)


def _stack(values: dict[str, np.ndarray], agents: list[str], dtype) -> np.ndarray:
    """``agent -> [N]`` as one ``[N, A]`` array in agent order."""
    return np.stack([np.asarray(values[a]) for a in agents], axis=1).astype(dtype, copy=False)


class OnPolicyPhase:
    """Collect ``evo_steps`` steps per member through one batched env; each member learns from its own rollouts.

    The env is reset at the start of every generation (seeded from the run), so a generation's last,
    partial rollout is learned from too (bootstrapped from the value of its last observation).
    """

    def __init__(self, env: VectorEnv, num_envs: int, evo_steps: int, entropy: int):
        self.env, self.num_envs, self.evo_steps, self.entropy = env, num_envs, evo_steps, entropy
        self.agents = env.agents
        self.buffers: dict[int, RolloutBuffer] = {}
        self._env_actions: dict[str, np.ndarray] = {}
        for agent in self.agents:
            space = env.single_action_space(agent)
            dtype = np.float32 if space.dtype.kind == "f" else np.int64
            self._env_actions[agent] = np.zeros((env.num_envs, *space.shape), dtype)

    def _buffer(self, k: int, member) -> RolloutBuffer:
        """Member ``k``'s rollout storage, rebuilt when its ``learn_step`` or groups changed."""
        buf = self.buffers.get(k)
        if buf is None or buf.capacity != member.learn_step or buf.groups != member.groups:
            lead = {g: agents[0] for g, agents in member.groups.items()}
            buf = RolloutBuffer(member.learn_step, self.num_envs, member.agent_ids, member.groups,
                                {g: member.obs_dims[a] for g, a in lead.items()},
                                {g: member.codecs[a].raw_dim for g, a in lead.items()})
            self.buffers[k] = buf
        buf.reset()
        return buf

    def _slice(self, k: int) -> slice:
        return slice(k * self.num_envs, (k + 1) * self.num_envs)

    def _act(self, member, k: int, obs: dict, infos: dict, rng: np.random.Generator):
        sl = self._slice(k)
        step = None
        if not member.failed:
            try:
                obs_k = {a: obs[a][sl] for a in self.agents}
                infos_k = {a: {key: v[sl] for key, v in infos.get(a, {}).items()} for a in self.agents}
                step = member.act(obs_k, infos_k)
            except Exception as err:
                logger.warning("member %s failed while acting (%s: %s); it plays random actions and ranks last",
                               member.index, type(err).__name__, err)
                member.failed = True
        for agent in self.agents:
            if step is not None:
                self._env_actions[agent][sl] = step.env_actions[agent]
            else:
                space = self.env.single_action_space(agent)
                space.seed(int(rng.integers(2**31 - 1)))
                self._env_actions[agent][sl] = np.stack([space.sample() for _ in range(self.num_envs)])
        return step

    def _learn(self, member, buffer: RolloutBuffer, next_obs: dict, k: int) -> dict[str, float] | None:
        sl = self._slice(k)
        try:
            buffer.set_last_obs(member.group_obs({a: next_obs[a][sl] for a in self.agents}))
            losses = member.learn(buffer)
        except Exception as err:
            logger.warning("member %s failed while learning (%s: %s); it ranks last this generation",
                           member.index, type(err).__name__, err)
            member.failed = True
            losses = None
        buffer.reset()
        return losses

    def __call__(self, population: list, generation: int) -> PhaseResult:
        env, n, e, agents = self.env, self.env.num_envs, self.num_envs, self.agents
        timings = defaultdict(float)
        rng = np.random.default_rng(derived_seed(self.entropy, 6, generation))
        obs, infos = env.reset(seed=derived_seed(self.entropy, 1, generation))
        active = _stack(infos.get("active_mask", {a: np.ones(n, bool) for a in agents}), agents, bool)
        buffers = [self._buffer(k, m) for k, m in enumerate(population)]
        running = np.zeros(n)
        completed: list[list[float]] = [[] for _ in population]
        last_losses: list[dict[str, float]] = [{} for _ in population]
        for member in population:
            member.set_training_mode(True)
        for _ in range(-(-self.evo_steps // e)):
            t0 = time.perf_counter()
            steps = [self._act(member, k, obs, infos, rng) for k, member in enumerate(population)]
            t1 = time.perf_counter()
            next_obs, rewards, terms, truncs, infos = env.step(self._env_actions)
            t2 = time.perf_counter()
            final_obs = infos.get("final_observation", next_obs)
            rew, term = _stack(rewards, agents, np.float32), _stack(terms, agents, bool)
            trunc = _stack(truncs, agents, bool)
            finite = np.isfinite(rew).all(axis=1)
            for a in agents:
                finite &= np.isfinite(np.asarray(final_obs[a], np.float64).reshape(n, -1)).all(axis=1)
            learn_time = 0.0
            for k, member in enumerate(population):
                sl = self._slice(k)
                member.steps[-1] += e
                if steps[k] is None or member.failed:
                    continue
                if not finite[sl].all():
                    logger.warning("non-finite reward or observation in the envs of member %s; it stops learning "
                                   "and ranks last this generation", member.index)
                    member.failed = True
                    continue
                step = steps[k]
                t_values = member.truncation_values({a: final_obs[a][sl] for a in agents}, term[sl], trunc[sl])
                buffers[k].add(step.obs, step.actions, step.log_probs, step.values, rew[sl], term[sl], trunc[sl],
                               active[sl], t_values, step.action_masks)
                if buffers[k].full:
                    t_learn = time.perf_counter()
                    last_losses[k] = self._learn(member, buffers[k], next_obs, k) or last_losses[k]
                    learn_time += time.perf_counter() - t_learn
            t3 = time.perf_counter()
            running += np.nan_to_num(team_reward(rewards), nan=0.0, posinf=0.0, neginf=0.0)
            ended = episode_over(terms, truncs, infos)
            for idx in np.flatnonzero(ended):
                completed[idx // e].append(float(running[idx]))
            running[ended] = 0.0
            obs = next_obs
            active = _stack(infos.get("active_mask", {a: np.ones(n, bool) for a in agents}), agents, bool)
            timings["acting"] += t1 - t0
            timings["env"] += t2 - t1
            timings["buffer"] += t3 - t2 - learn_time
            timings["learning"] += learn_time
        t_learn = time.perf_counter()
        for k, member in enumerate(population):  # the generation's last, partial rollout
            if len(buffers[k]) and not member.failed:
                last_losses[k] = self._learn(member, buffers[k], obs, k) or last_losses[k]
        timings["learning"] += time.perf_counter() - t_learn
        train_scores = []
        for member, scores in zip(population, completed):
            member.scores.extend(scores)
            train_scores.append(float(np.mean(scores)) if scores else float("nan"))
        return PhaseResult(-(-self.evo_steps // e) * n, dict(timings), train_scores, last_losses)


def train_multi_agent_on_policy(
    env, env_name: str, algo: str, pop: list, INIT_HP: dict | None = None, MUT_P: dict | None = None,
    swap_channels: bool = False, max_steps: int = 50_000, evo_steps: int = 2_500, eval_steps: int | None = None,
    eval_loop: int = 1, target: float | None = None, tournament=None, mutation=None,
    checkpoint: bool | int | None = True, checkpoint_path: str | Path | None = None,
    overwrite_checkpoints: bool = False, wb: bool = False, verbose: bool = True, *, seed: int | None = None,
    run_dir: str | Path | None = None, resume: bool = False, keep_checkpoints: int | None = 3,
    stopping: list[StoppingCriterion] | None = None, writers: list | None = None, wandb_kwargs: dict | None = None,
    config: dict | None = None,
) -> tuple[list, list[list[float]]]:
    """Train a population of IPPO members, each learning from its own rollouts, evolving it between generations.

    Every generation each member collects ``evo_steps`` steps in its slice of one batched env
    (``population x num_envs`` sub-envs, stepped at once) and runs PPO epochs every ``learn_step`` vector
    steps; then members are evaluated without exploration on ``eval_loop`` episodes (the same for every
    member), metrics go to ``<run_dir>/metrics.csv``, tournament selection and mutation form the next
    generation, and the population is checkpointed atomically to ``<run_dir>/generation_<g>/`` (no buffer:
    rollouts never outlive a generation).

    Args:
        env: an evo-marl ``VectorEnv`` with ``num_envs`` or ``population x num_envs`` sub-envs.
        env_name: a name for the run (default run folder, checkpoint signature). algo: ``"IPPO"``.
        pop: the population (``create_population("IPPO", ...)``). INIT_HP: the AgileRL dict (``TOURN_SIZE``,
            ``ELITISM`` are read when ``tournament`` is None). MUT_P: mutation probabilities (used when
            ``mutation`` is None).
        max_steps / evo_steps: env steps per member, in all and per generation. eval_steps: step cap of evaluation
            episodes (None: to the end). eval_loop: evaluation episodes. target: stop at this best fitness.
        checkpoint, checkpoint_path / run_dir, overwrite_checkpoints, resume, keep_checkpoints: as
            :func:`~evo_marl.training.api.train_multi_agent_off_policy`.
        wb, wandb_kwargs, writers, config, verbose: tracking. seed: root seed (same seed, same run).
        stopping: extra stopping criteria (e.g. ``ConvergenceCriterion``). swap_channels: accepted for AgileRL
            compatibility (observations are flattened).

    Returns:
        ``(population, fitnesses)``: the final population and every generation's list of member fitnesses.
    """
    if not pop:
        raise ConfigError("pop", pop, "must contain at least one member")
    if str(algo).upper() != "IPPO" or any(m.algo_name != "IPPO" for m in pop):
        raise ConfigError("algo", algo, f"must be IPPO and match the population ({pop[0].algo_name}); "
                          "MADDPG/MATD3 train with train_multi_agent_off_policy")
    return common.train_population(
        env, env_name, algo, pop,
        lambda vec_env, num_envs, entropy: OnPolicyPhase(vec_env, num_envs, evo_steps, entropy),
        INIT_HP=INIT_HP, MUT_P=MUT_P, net_config=pop[0].net_config, max_steps=max_steps, evo_steps=evo_steps,
        eval_steps=eval_steps, eval_loop=eval_loop, target=target, tournament=tournament, mutation=mutation,
        checkpoint=checkpoint, run_dir=run_dir or checkpoint_path, overwrite_checkpoints=overwrite_checkpoints,
        wb=wb, verbose=verbose, seed=seed, resume=resume, save_buffer=False, keep_checkpoints=keep_checkpoints,
        stopping=stopping, writers=writers, wandb_kwargs=wandb_kwargs, config=config)
