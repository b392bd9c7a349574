"""``evo-marl``: train, evaluate and inspect evolutionary MARL runs from the command line.

    evo-marl train [CONFIG] [--set training.max_steps=20000] [--resume | --overwrite] [--engine agilerl]
    evo-marl evaluate RUN_DIR [--episodes 20] [--all | --best | --ensemble [K]] [--env ID ...]   # --env: other envs, globs too
    evo-marl analyse RUN_DIR --shifts [--scenarios NAME ...] [--best | --ensemble [K]]  # family analyses of a run
    evo-marl report RUN_DIR
    evo-marl scenarios [FAMILY]
    evo-marl baselines bucket_brigade [--episodes N] [--out FILE]
    evo-marl crossplay RUN_DIR [--episodes 1000] [--partners all_work coordinator ...] [--scenario NAME]
    evo-marl config [CONFIG]          # print the resolved configuration
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from difflib import get_close_matches
from pathlib import Path

from evo_marl.errors import ConfigError, EvoMarlError

logger = logging.getLogger("evo_marl")
CONFIGS_DIR = Path("configs")  # where `evo-marl train NAME` looks for NAME.yaml (relative to the working folder)


def _resolve_config(name: str | None, overrides: list[str]):
    from evo_marl.config import default_config, load_config

    if name is None:
        config = default_config()
        return load_config(config.to_dict(), overrides) if overrides else config
    path = Path(name)
    if not path.exists() and not path.suffix:
        candidate = CONFIGS_DIR / f"{name}.yaml"
        path = candidate if candidate.exists() else path
    if not path.exists() and CONFIGS_DIR.is_dir():
        shipped = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))
        close = get_close_matches(path.stem, shipped, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else f"see `ls {CONFIGS_DIR}` for the shipped ones"
        raise ConfigError("config", name, f"file not found ({hint})")
    return load_config(path, overrides)


def cmd_train(args: argparse.Namespace) -> int:
    from evo_marl.experiment import run_experiment

    config = _resolve_config(args.config, args.set + ([f"engine={args.engine}"] if args.engine else []))
    if args.run_dir:
        from evo_marl.config import load_config

        run_dir = Path(args.run_dir)
        data = config.to_dict()
        data["name"], data["output"]["root"] = run_dir.name, str(run_dir.parent)
        config = load_config(data)  # the folder's name is checked like a config's name
    logger.info("experiment %s: %s on %s, population %d, %d steps per member -> %s", config.name, config.algo,
                config.env.id, config.population_size, config.training.max_steps, config.run_dir)
    pop, history, run_dir = run_experiment(config, resume=args.resume, overwrite=args.overwrite,
                                           verbose=not args.quiet)
    best = max((f for f in history[-1] if math.isfinite(f)), default=float("nan")) if history else float("nan")
    print(f"\nfinished {len(history)} generations; best fitness {best:.3f}")
    if config.engine == "agilerl":  # its population is saved in AgileRL's format (docs/interop.md)
        print(f"run folder: {run_dir}  (evo-marl report {run_dir}; AgileRL checkpoints in {run_dir / 'agilerl'})")
    else:
        print(f"run folder: {run_dir}  (evo-marl report {run_dir} | evo-marl evaluate {run_dir} [--best])")
    for png in sorted(run_dir.glob("*.png")):
        print(f"plot: {png}")
    if history and not math.isfinite(best):
        print("evo-marl: every member of the last generation failed (see the warnings above)", file=sys.stderr)
        return 1
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from evo_marl.cross_evaluation import deploys_ensemble

    if not (args.all or args.best or args.ensemble is not None) and deploys_ensemble(Path(args.run_dir)):
        print("the run deploys its members acting together (output.deploy: ensemble); --best or --all for "
              "single members")
        args.ensemble = True
    if args.env or args.ensemble is not None:
        return _cross_evaluate(args)
    from evo_marl.evaluate_run import evaluate_run

    table, _ = evaluate_run(Path(args.run_dir), episodes=args.episodes, seed=args.seed, all_members=args.all,
                            best=args.best)
    print(table)
    return 0


def _cross_evaluate(args: argparse.Namespace) -> int:
    """``evaluate --env`` / ``--ensemble``: the run's member(s) on other envs (or, without ``--env``, its own); the
    table also goes to ``cross_evaluation.md`` and the records to ``cross_evaluation.json`` in the run folder."""
    import json

    from evo_marl.cross_evaluation import cross_evaluate, format_table
    from evo_marl.run_folder import json_default, write_text_atomic

    results = cross_evaluate(Path(args.run_dir), args.env or None, episodes=args.episodes, seed=args.seed,
                             all_members=args.all, best=args.best,
                             ensemble=False if args.ensemble is None else args.ensemble)
    table = format_table(results)
    print(table)
    run_dir = Path(args.run_dir)
    write_text_atomic(run_dir / "cross_evaluation.md", f"{args.episodes} episodes per env, seed {args.seed}\n\n{table}\n")
    write_text_atomic(run_dir / "cross_evaluation.json",
                      json.dumps([r.row() for r in results], indent=1, default=json_default))
    print(f"\nwritten to {run_dir / 'cross_evaluation.md'} and cross_evaluation.json")
    return 0


def cmd_analyse(args: argparse.Namespace) -> int:
    from evo_marl.envs.registry import family_of
    from evo_marl.experiment import load_run_config

    wanted = [name for name in ("shifts",) if getattr(args, name)]
    if not wanted:
        raise EvoMarlError("analyse: choose an analysis, e.g. --shifts")
    config = load_run_config(args.run_dir)
    family = family_of(config.env.id)
    for name in wanted:
        analyser = family.run_analysers.get(name)
        if analyser is None:
            raise EvoMarlError(f"--{name}: the {family.name!r} env family has no such analysis; it offers "
                               f"{sorted(family.run_analysers) or 'none'}")
        text, paths = analyser(Path(args.run_dir), scenarios=args.scenarios or None, seed=args.seed, best=args.best,
                               ensemble=args.ensemble)
        print(text)
        print("written: " + ", ".join(str(p) for p in paths))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from evo_marl.tracking.report import build_report, write_report

    print(build_report(Path(args.run_dir)))
    print(f"\nreport written to {write_report(Path(args.run_dir))}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from evo_marl.envs import list_envs
    from evo_marl.envs.registry import family_of

    ids = list_envs(args.family)
    for env_id in ids:
        print(env_id)
    for name in dict.fromkeys(env_id.split("/")[0] for env_id in ids):  # families with user scenario files
        file_scenario = family_of(next(i for i in ids if i.startswith(f"{name}/"))).file_scenario
        if file_scenario:
            print(f"{name}/{file_scenario}  (your own scenario file: env.kwargs.file=<path>)")
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    if args.family != "bucket_brigade":
        raise EvoMarlError(f"family={args.family!r}: scripted baselines exist for bucket_brigade only")
    from evo_marl.envs.bucket_brigade import baselines

    kwargs = {"seed": args.seed}
    if args.episodes:
        kwargs["episodes"] = args.episodes
    if args.scenarios:
        kwargs["scenarios"] = args.scenarios
    rows = baselines.run_baselines(**kwargs)
    print(baselines.format_table(rows))
    out = Path(args.out)
    baselines.write_table(rows, out)
    print(f"\ntable written to {out}")
    return 0


def cmd_crossplay(args: argparse.Namespace) -> int:
    from evo_marl.experiment import torch_threads
    from evo_marl.league.crossplay import DEFAULT_PARTNERS
    from evo_marl.league.report import crossplay_report

    with torch_threads(1):
        md = crossplay_report(Path(args.run_dir), episodes=args.episodes, partners=args.partners or DEFAULT_PARTNERS,
                              scenario=args.scenario, seed=args.seed, out_dir=args.out)
    print(md.read_text())
    print(f"\nwritten to {md.parent} (crossplay.md, crossplay.json, crossplay.png, adhoc.png)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(_resolve_config(args.config, args.set).to_yaml())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evo-marl", description="Evolutionary hyperparameter optimisation for MARL.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a population (default: MATD3 on atc/head_on)")
    train.add_argument("config", nargs="?", help="YAML file, or the name of a file in configs/")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a field, e.g. --set training.max_steps=20000 (repeatable)")
    train.add_argument("--run-dir", help="run folder (default: <output.root>/<name>)")
    existing = train.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="continue from the newest checkpoint of the run folder")
    existing.add_argument("--overwrite", action="store_true", help="replace the run in an existing run folder")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--engine", help="evo-marl (default) or agilerl: AgileRL's own trainer (docs/interop.md)")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="evaluate the population of a run folder")
    evaluate.add_argument("run_dir", help="a run folder (its newest complete generation) or one of its checkpoint "
                                          "folders (RUN_DIR/generation_<g>); results are written there")
    evaluate.add_argument("--episodes", type=int, default=20)
    evaluate.add_argument("--seed", type=int, default=12345)
    which = evaluate.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every member of the newest generation, not just the best")
    which.add_argument("--best", action="store_true", help="the best member ever evaluated (kept in RUN_DIR/best/)")
    which.add_argument("--ensemble", nargs="?", const=True, type=int, metavar="K",
                       help="the newest generation's members act together (mean of continuous actions, vote of "
                            "discrete ones): all of them, or the K fittest (the default of a run whose config "
                            "says output.deploy: ensemble)")
    evaluate.add_argument("--env", action="append", default=[], metavar="ID",
                          help="evaluate on this env instead of the training env (repeatable; globs such as "
                               "'atc/*'); members act by role, so shared-parameter members fly any scenario")
    evaluate.set_defaults(func=cmd_evaluate)

    analyse = sub.add_parser("analyse", help="env-family analyses of a run as it deploys (table + plot)")
    analyse.add_argument("run_dir")
    analyse.add_argument("--shifts", action="store_true",
                         help="shift tests and conflict-detection analysis (atc): shift_analysis.md / .png")
    analyse.add_argument("--scenarios", nargs="*", help="base scenarios (default: the run's own, or the core five)")
    analyse.add_argument("--seed", type=int, default=0)
    members = analyse.add_mutually_exclusive_group()
    members.add_argument("--best", action="store_true", help="the best member ever evaluated (RUN_DIR/best/)")
    members.add_argument("--ensemble", nargs="?", const=True, type=int, metavar="K",
                         help="the newest generation's members act together: all, or the K fittest (--ensemble 1: "
                              "the fittest alone). Default: as the run deploys (output.deploy), else its best member")
    analyse.set_defaults(func=cmd_analyse)

    report = sub.add_parser("report", help="summarise a run (terminal + report.md)")
    report.add_argument("run_dir")
    report.set_defaults(func=cmd_report)

    scenarios = sub.add_parser("scenarios", help="list the registered env ids")
    scenarios.add_argument("family", nargs="?")
    scenarios.set_defaults(func=cmd_scenarios)

    baselines = sub.add_parser("baselines", help="scripted baselines table (bucket_brigade)")
    baselines.add_argument("family", choices=["bucket_brigade"])
    baselines.add_argument("--episodes", type=int)
    baselines.add_argument("--scenarios", nargs="*")
    baselines.add_argument("--seed", type=int, default=0)
    baselines.add_argument("--out", default="bucket_brigade_baselines.md")
    baselines.set_defaults(func=cmd_baselines)

    crossplay = sub.add_parser("crossplay", help="cross-play, ad-hoc teams and free-riding of a Bucket Brigade run")
    crossplay.add_argument("run_dir")
    crossplay.add_argument("--episodes", type=int, default=1000, help="episodes per cell (default 1000)")
    crossplay.add_argument("--partners", nargs="*", help="scripted teammates (default: eight archetypes)")
    crossplay.add_argument("--scenario", help="scenario to play (default: the run's; the first of a league's list)")
    crossplay.add_argument("--seed", type=int, default=0)
    crossplay.add_argument("--out", help="output folder (default: RUN_DIR/crossplay)")
    crossplay.set_defaults(func=cmd_crossplay)

    config = sub.add_parser("config", help="print a resolved configuration as YAML")
    config.add_argument("config", nargs="?")
    config.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    config.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except EvoMarlError as err:
        print(f"evo-marl: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the disk or the file system, outside evo-marl's own writes
        where = f"{err.filename}: " if err.filename else ""
        print(f"evo-marl: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: completed generations are saved in the run folder (resume with --resume)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

