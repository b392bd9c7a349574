"""Population play: a league of learners (and scripted members) whose games are filled by a matchmaker.

* :mod:`.config` (:class:`LeagueConfig`), :mod:`.matchmaking` (round robin, random, close ratings),
* :mod:`.table` (match counts, reward history, openskill ratings), :mod:`.league` (seat assignment),
* :mod:`.on_policy` / :mod:`.off_policy` (IPPO / MADDPG / MATD3 phases: each member learns from its seats),
* :mod:`.scenarios` (training over several Bucket Brigade scenarios), :mod:`.train` (:func:`train_league`),
* :mod:`.crossplay` (cross-play matrix, ad-hoc teams, free-rider detection) and :mod:`.plots`.
"""

from evo_marl.league.config import LeagueConfig
from evo_marl.league.league import League
from evo_marl.league.matchmaking import make_matchmaker
from evo_marl.league.scenarios import MultiScenarioVecEnv
from evo_marl.league.table import LeagueTable
from evo_marl.league.train import train_league

__all__ = ["League", "LeagueConfig", "LeagueTable", "MultiScenarioVecEnv", "make_matchmaker", "train_league"]
