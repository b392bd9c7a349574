"""``evo-marl crossplay RUN_DIR``: self-play, cross-play matrix, ad-hoc teams and free-riding of a run's members."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import yaml

from evo_marl.errors import ConfigError
from evo_marl.league.crossplay import DEFAULT_PARTNERS, crossplay, play_options, self_play
from evo_marl.league.plots import plot_heatmap
from evo_marl.training import checkpoint as ckpt

logger = logging.getLogger(__name__)


def _run_config(run_dir: Path) -> dict:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise ConfigError("run_dir", str(run_dir), "has no config.yaml: pass the scenario explicitly")
    return yaml.safe_load(path.read_text()) or {}


def run_play_options(run_dir: Path) -> dict:
    """The env options a run's members must play with (``fire_ranks``, ``signal_bit``, ``egocentric`` of its
    ``env.kwargs``)."""
    return play_options((_run_config(run_dir).get("env") or {}).get("kwargs"))


def run_scenario(run_dir: Path) -> str:
    """The Bucket Brigade scenario a run trained on (from its ``config.yaml``)."""
    config = _run_config(run_dir)
    league = config.get("league") or {}
    if league.get("scenarios"):
        return league["scenarios"][0]
    env_id = (config.get("env") or {}).get("id", "")
    if not env_id.startswith("bucket_brigade/"):
        raise ConfigError("env.id", env_id, "cross-play needs a Bucket Brigade run (bucket_brigade/<scenario>)")
    return env_id.split("/", 1)[1]


def crossplay_report(run_dir: str | Path, episodes: int = 1000, partners: Sequence[str] = DEFAULT_PARTNERS,
                     scenario: str | None = None, seed: int = 0, out_dir: str | Path | None = None) -> Path:
    """Evaluate the newest generation of ``run_dir`` and write ``<out_dir>/crossplay.md``, ``crossplay.json``
    and ``crossplay.png`` (default ``out_dir``: ``<run_dir>/crossplay``); returns the Markdown path."""
    run_dir = Path(run_dir)
    latest = ckpt.latest_generation(run_dir)
    if latest is None:
        raise ConfigError("run_dir", str(run_dir), "holds no generation_<g> checkpoint")
    members = ckpt.load_population(latest)
    scenario = scenario or run_scenario(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "crossplay"
    out.mkdir(parents=True, exist_ok=True)
    partners = list(partners)
    options = run_play_options(run_dir) if (run_dir / "config.yaml").exists() else {}
    solo = self_play(members + partners, scenario, episodes, seed, env_kwargs=options)
    matrix = crossplay(members, members + partners, scenario, row_seats=2, episodes=episodes, seed=seed,
                       env_kwargs=options)
    adhoc = crossplay(members, partners, scenario, row_seats=1, episodes=episodes, seed=seed, env_kwargs=options)
    lines = [f"# Cross-play of {run_dir} ({latest.name})", "",
             f"Scenario `{scenario}`" + (f" (env options {options})" if options else "")
             + f", {episodes} episodes a cell (lineups rotated over the seats), seed {seed}. "
             "Values: team reward per night, mean ± 95% CI half-width.", "", "## Self-play teams (one player in every seat)", "",
             "| player | team reward per night |", "|---|---:|"]
    lines += [f"| {k} | {m:.1f} ± {h:.1f} |" for k, (m, h) in solo.items()]
    lines += ["", "## Cross-play matrix (row member in 2 seats, teammates in the other 2)", "", matrix.to_markdown(),
              "## Ad-hoc teams (one learned agent, three scripted teammates)", "", adhoc.to_markdown(),
              "## Free-riding in ad-hoc teams (work share vs reward share of the learned agent)", "",
              f"A free rider works less than {adhoc.free_rider_ratio:g} x its fair share of the team's WORK nights.", "",
              adhoc.free_rider_markdown()]
    md = out / "crossplay.md"
    md.write_text("\n".join(lines))
    (out / "crossplay.json").write_text(json.dumps({"scenario": scenario, "generation": latest.name,
                                                    "self_play": solo, "crossplay": matrix.to_dict(),
                                                    "adhoc": adhoc.to_dict()}, indent=1))
    plot_heatmap(matrix.mean, matrix.rows, matrix.cols, out / "crossplay.png",
                 title=f"Cross-play on {scenario}: team reward per night (row member in 2 seats)", ci=matrix.half)
    plot_heatmap(adhoc.mean, adhoc.rows, adhoc.cols, out / "adhoc.png",
                 title=f"Ad-hoc teams on {scenario}: one learned agent + 3 scripted", ci=adhoc.half)
    return md
