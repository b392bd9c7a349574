"""Translation of AgileRL-style upper-case ``INIT_HP`` dictionaries into algorithm keyword arguments."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from evo_marl.errors import ConfigError

# INIT_HP key -> algorithm keyword argument.
ALGO_KEYS = {
    "BATCH_SIZE": "batch_size", "LR_ACTOR": "lr_actor", "LR_CRITIC": "lr_critic", "LR": "lr",
    "GAMMA": "gamma", "TAU": "tau", "LEARN_STEP": "learn_step", "POLICY_FREQ": "policy_freq",
    "O_U_NOISE": "O_U_noise", "EXPL_NOISE": "expl_noise", "MEAN_NOISE": "mean_noise", "THETA": "theta",
    "DT": "dt", "TARGET_NOISE": "target_noise", "NOISE_CLIP": "noise_clip", "HUBER_DELTA": "huber_delta",
    "REWARD_SCALE": "reward_scale",
    "SHARE_PARAMS": "share_params",
    "GAE_LAMBDA": "gae_lambda", "ACTION_STD_INIT": "action_std_init", "CLIP_COEF": "clip_coef",
    "ENT_COEF": "ent_coef", "VF_COEF": "vf_coef", "MAX_GRAD_NORM": "max_grad_norm", "TARGET_KL": "target_kl",
    "UPDATE_EPOCHS": "update_epochs", "CLIP_VLOSS": "clip_vloss", "NORMALIZE_ADVANTAGES": "normalize_advantages",
    "MINIBATCH_SIZE": "minibatch_size", "NUM_MINIBATCHES": "num_minibatches",
}
# INIT_HP keys read by the trainers, the buffer or the population factory (not by an algorithm).
RUN_KEYS = {
    "ALGO", "ENV_NAME", "POP_SIZE", "MEMORY_SIZE", "CHANNELS_LAST", "AGENT_IDS", "N_AGENTS", "NUM_ENVS",
    "MAX_STEPS", "EVO_STEPS", "EVAL_STEPS", "EVAL_LOOP", "LEARNING_DELAY", "TARGET_SCORE", "TOURN_SIZE",
    "ELITISM", "WANDB", "EPISODES", "EVO_EPOCHS", "DISCRETE_ACTIONS", "MAX_ACTION", "MIN_ACTION", "SEED",
}


def algo_kwargs_from_init_hp(init_hp: dict[str, Any] | None, accepted: set[str]) -> dict[str, Any]:
    """Keyword arguments for an algorithm from ``INIT_HP``.

    Upper-case keys are translated (``LR_ACTOR`` -> ``lr_actor``); lower-case keys are taken as they are.
    Keys meant for the trainer (``POP_SIZE``, ``MEMORY_SIZE``, ...) are skipped; keys that belong to
    another algorithm are skipped too; anything else raises :class:`ConfigError` with a suggestion.
    """
    kwargs: dict[str, Any] = {}
    for key, value in (init_hp or {}).items():
        if key in RUN_KEYS:
            continue
        name = ALGO_KEYS.get(key, key if key.islower() else None)
        if name is None:
            guess = get_close_matches(key, list(ALGO_KEYS) + list(RUN_KEYS), n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            raise ConfigError(f"INIT_HP.{key}", value, f"unknown hyperparameter{hint}")
        if name in accepted:
            kwargs[name] = value
        elif key.islower():
            raise ConfigError(f"INIT_HP.{key}", value, f"not a hyperparameter of this algorithm; valid: {sorted(accepted)}")
    return kwargs
