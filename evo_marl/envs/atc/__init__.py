"""ATC collision avoidance: 2-8 airliners steer to their waypoints while keeping 5 NM apart.

A NumPy re-implementation of the reference BlueSky environment (spec: ``shared/specs/atc.md``),
batched over sub-envs, with two views: :func:`parallel_env` (a PettingZoo ``ParallelEnv``) and
:func:`vec_env` (a batched :class:`~evo_marl.envs.native.NativeVecEnv`)::

    import evo_marl
    env = evo_marl.make_env("atc/head_on")                       # PettingZoo ParallelEnv
    venv = evo_marl.make_vec_env("atc/random", num_envs=1024, seed=0, num_aircraft=[2, 8])
    env = parallel_env(scenario="/path/to/my_scenario.yaml")      # a user's scenario file
    venv = evo_marl.make_vec_env("atc/file", num_envs=8, file="my_scenario.yaml")   # the same, by env id

Scenarios: ``head_on, parallel, t_formation, canonical_crossing, converging`` (100-step cap) and
``{chase,cross,merge}_{2x2,3p1,4all}`` (150-step cap); aircraft are named ``A1..An`` in every file.
``file`` loads a user's scenario file (option ``file=<path>``; in a YAML experiment
``env: {id: atc/file, kwargs: {file: my_scenario.yaml}}``). Every constant can be overridden by keyword (see :class:`~evo_marl.envs.atc.config.ATCConfig`), e.g.
``make_env("atc/head_on", los_entry_penalty=-50.0, max_episode_steps=60)``.

**Random traffic and mixes** (:mod:`~evo_marl.envs.atc.generator`, :mod:`~evo_marl.envs.atc.traffic`).
``random`` draws new traffic on every reset: ``num_aircraft`` (2-8, or a ``[low, high]`` range per
episode; default 3) aircraft around one or more conflict points, with knobs for the conflict share,
cluster size, crossing angles, speed mix (``cas_kt``), time to conflict, merges and the earliest loss of
separation a draw may hold. ``mix`` draws every episode from weighted ``traffic`` entries (shipped
scenarios, files, random traffic with its own knobs; default: half random 2-8, half the shipped
scenarios), and an optional ``schedule`` changes the random knobs and weights as training goes on::

    make_vec_env("atc/mix", num_envs=64, seed=0, traffic=[
        {"scenario": "random", "num_aircraft": [2, 6], "weight": 3},
        {"scenario": "converging", "weight": 1}],
        schedule=[{"steps": 2000, "num_aircraft": [2, 8], "conflict_probability": 0.9}])

When episode sizes differ, the env has one agent slot per aircraft of the largest episode (``A1..A8``)
and the slots an episode does not use are *absent*: inactive in ``infos["active_mask"]``, zero
observations and rewards, nobody's neighbour, counted as at their waypoint; the PettingZoo view leaves
them out of ``agents``. A member trained with ``share_params=True`` acts for any of these episodes, or
any other scenario, through :class:`~evo_marl.algorithms.roles.RolePolicy`.

**Step.** One step is 10 s flown as ten 1 s sub-steps; a reset first flies 2 s straight. Actions are
``Box(-1, 1, (2,))`` per agent: ``a[0] * 18`` degrees of heading change and ``a[1] * 10`` kt of CAS
change, both relative to the current state. Agents that reached their waypoint (within 1 NM) fly
straight on, ignore their actions and stay in ``agents`` until the episode ends, which happens when
all have reached theirs (``terminations``) or at the step cap (``truncations``).

**Observation** (``float32``, ``6 + 4K`` entries, ``K = neighbor_topk = 3`` -> 18), in this order:

====  ================  ====================================================================
0     wp_dist           ``tanh(d_wp / 20)``, d_wp in NM
1-2   wp_cos, wp_sin    ``cos``, ``sin`` of (bearing to own waypoint - heading); sin > 0: turn right
3     airspeed          ``(TAS[m/s] - 150) / 6`` clipped to +-10 (-0.246 at 250 kt CAS)
4     progress_rate     ``tanh((d_wp_prev - d_wp) / 2)``, 0 at reset
5     safety_rate       ``tanh((nn_now - nn_prev) / 5)``, own nearest-neighbour distance, 0 at reset
6+4k  rel_x, rel_y      k-th nearest other aircraft (reached ones included), east / north offset in
                        units of 20 km (``dx_nm * 1852 / 20000``), clipped to +-12
8+4k  rel_vx, rel_vy    its velocity minus ours, east / north, in units of ``rel_velocity_scale_kt``
                        (300 kt; head-on at 250 kt CAS gives 1.92), clipped to +-5
====  ================  ====================================================================

Missing neighbour slots are zeros. Options for dense traffic (the defaults reproduce the table):
``neighbor_present_flag=True`` appends a 0/1 "slot filled" entry to each slot; ``neighbor_reached_flag=True``
a 0/1 "at its waypoint" entry (such an aircraft flies straight on and will not manoeuvre); ``neighbor_cpa=True``
appends ``t_los`` (time until the pair would come within 5 NM at constant velocity, over
``cpa_horizon_s`` = 300 s; 1 when not within it, 0 inside), ``tcpa`` (time to closest approach, clipped
to the horizon, over it) and ``dcpa`` (distance then, over 5 NM, clipped to 4); the 5 NM is
``cpa_separation_nm``, not the reward's ``separation_nm``, so a reward margin leaves the observation alone;
``neighbor_order="threat"`` fills the slots with the aircraft predicted to lose separation with us first
(soonest first), then the rest by distance; ``neighbor_frame="heading"`` gives ``rel_x, rel_y`` and ``rel_vx, rel_vy`` to the
right of and ahead of our heading (the frame of the waypoint bearing) instead of east and north, so that an
intruder on the right reads the same whichever way we fly. With 6-8 converging aircraft the 3 nearest
slots miss the most urgent intruder in 4-7 % of conflict states, the threat order never
(``benchmarks/results/atc_observation.md``).
:func:`~evo_marl.envs.atc.observation.feature_names` lists the entries of any layout.

**Reward** per agent and step: ``progress + drift + los_entry + los_depth + action_cost + time + reach
+ timeout + team`` (spec section 5; constants in :class:`~evo_marl.envs.atc.config.RewardConfig`), plus
an optional ``buffer`` term beyond the spec (``buffer_nm``, ``buffer_penalty``; off by default) that
penalises flying within ``separation_nm + buffer_nm`` of another aircraft.

**infos** per agent and step: ``min_sep_nm`` (nearest other aircraft, 200 when alone), ``wp_dist_nm``,
``conflict`` (min_sep < 5), ``collision`` (min_sep < ``collision_nm``, 3 by default; logged only),
``waypoint_reached``, and every reward term as ``reward_<term>``. ``episode_metrics()`` (the vector
env's ``infos["episode"]``; ``last_episode_metrics`` of the parallel env) gives per sub-env:
``team_return``, ``los_events`` (LoS entries summed over agents), ``los_steps`` (steps with some pair
closer than 5 NM), ``min_separation_nm``, ``waypoint_fraction``, ``path_efficiency`` (progress toward
the waypoint per NM flown until it was reached, averaged over agents; 1 for straight flight),
``episode_length`` and ``num_aircraft`` (all over the aircraft present in the episode).

**Scenario files** (JSON or YAML; x east / y north in NM around the centre)::

    name: my_crossing                 # optional, default: the file name
    description: free text            # optional
    max_episode_steps: 100            # optional, default 100
    centre: {lat: 52.0, lon: 4.0}     # needed only for *_latlon positions
    aircraft:                         # 1 or more entries; ids must be unique
      - id: A1
        start: [0.0, -18.0]           # or start_latlon: [lat, lon]
        waypoint: [0.0, 18.0]         # or waypoint_latlon: [lat, lon]; must differ from start
        heading: 0.0                  # optional, compass degrees; default: toward the waypoint
        cas_kt: 250.0                 # optional, default 250
    sectors:                          # optional polygons, drawn by the renderer
      - [[-25, -25], [25, -25], [25, 25], [-25, 25]]

Lat/lon are converted with ``x = (lon - lon0) * 60 cos(lat0)``, ``y = (lat - lat0) * 60``. At load
every coordinate is multiplied by ``geometry_scale`` (default 1.000675): the reference placed
aircraft at 60 NM per degree but flew and measured on a 3440.065 NM sphere, and this factor
reproduces its distances (head_on minimum separation 0.42 NM); ``geometry_scale=1.0`` gives the
nominal flat frame.

**Tools.** :mod:`~evo_marl.envs.atc.tracks` (``record_episode``), :mod:`~evo_marl.envs.atc.render`
(``plot_trajectories``; ``render_mode="rgb_array"`` frames), :mod:`~evo_marl.envs.atc.metrics`
(``los_risk``, ``is_conflict_free``), :mod:`~evo_marl.envs.atc.evaluation` (LoS risk, LoS per flight
hour, optimum and straight-flight bound over many episodes), :mod:`~evo_marl.envs.atc.analysis`
(conflict-detection confusion, shift testing), :mod:`~evo_marl.envs.atc.shift_report` (both as a table
and a plot for a run) and :mod:`~evo_marl.envs.atc.generator` (random traffic).
"""

from __future__ import annotations

from evo_marl.envs.atc.config import ATCConfig, DynamicsConfig, RewardConfig
from evo_marl.envs.atc.env import parallel_env, simulator_factory, vec_env
from evo_marl.envs.atc.evaluation import reference_returns, transfer_kwargs
from evo_marl.envs.atc.generator import GeneratorConfig
from evo_marl.envs.atc.metrics import evaluation_summary
from evo_marl.envs.atc.planner import RolloutPlanner
from evo_marl.envs.atc.resolver import HeadingResolver
from evo_marl.envs.atc.scenarios import FILE_SCENARIO, Scenario, list_scenarios, load_scenario
from evo_marl.envs.atc.shift_report import analyse_run
from evo_marl.envs.atc.simulator import REWARD_TERMS, ATCSimulator
from evo_marl.envs.atc.stopping import ConflictFreeStreak
from evo_marl.envs.atc.traffic import TrafficSource
from evo_marl.envs.atc.tracks import plot_member_episode
from evo_marl.envs.pz_compat import register_parallel_env
from evo_marl.envs.registry import EnvFamily, register_family

register_family(EnvFamily("atc", parallel_env, list_scenarios, make_vec_env=vec_env,
                          stopping={ConflictFreeStreak.name: ConflictFreeStreak},
                          run_plotters=(plot_member_episode,), evaluation_summary=evaluation_summary,
                          file_scenario=FILE_SCENARIO, transfer_options=transfer_kwargs,
                          reference_returns=reference_returns, run_analysers={"shifts": analyse_run}))
PETTINGZOO_ID = "evo_marl/ATC-v0"
# pettingzoo.make("parallel", "evo_marl/ATC-v0", scenario=...) where PettingZoo has a registry (>= 1.27)
register_parallel_env(PETTINGZOO_ID, "evo_marl.envs.atc:parallel_env", {"scenario": "head_on"})

__all__ = [
    "ATCConfig", "ATCSimulator", "ConflictFreeStreak", "DynamicsConfig", "GeneratorConfig", "HeadingResolver",
    "PETTINGZOO_ID", "REWARD_TERMS", "RewardConfig", "RolloutPlanner", "Scenario", "TrafficSource", "list_scenarios",
    "load_scenario", "parallel_env", "simulator_factory", "vec_env",
]
