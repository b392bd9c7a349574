"""The package's shape: no import circles, generic layers name no scenario, one path for hyperparameters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evo_marl"
GENERIC = ["algorithms", "buffers", "distributed", "hpo", "networks", "tracking", "training", "config.py", "experiment.py",
           "evaluate_run.py", "cross_evaluation.py", "stopping.py", "validation.py", "run_folder.py", "seeding.py", "errors.py"]
SCENARIO_WORDS = re.compile(r"\batc\b|bucket.brigade|\bmpe2?\b|head_on|\blos_|waypoint|conflict_free", re.I)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """evo_marl modules imported anywhere in ``path`` (module level and inside functions)."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                 for stmt in node.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in type_only:  # imports for type checkers only never run
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
    return {m for m in found if m in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circles():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    # a package's __init__ re-exports its submodules; an edge from a submodule to its own package's __init__
    # is never taken here because every import names the defining module.
    assert _cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


@pytest.mark.parametrize("generic", GENERIC)
def test_generic_modules_name_no_scenario(generic):
    root = PACKAGE / generic
    files = [root] if root.suffix == ".py" else sorted(root.rglob("*.py"))
    offending = [f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}" for p in files
                 for n, line in enumerate(p.read_text().splitlines(), 1) if SCENARIO_WORDS.search(line)]
    assert offending == []


def test_a_hyperparameter_travels_from_yaml_to_the_learner_through_at_most_four_files():
    """YAML init_hp -> config.py -> registry.py (algorithm_settings) -> hparams.py (split_init_hp) -> the
    algorithm's dataclass, whose value the learner reads as an attribute."""
    from evo_marl.config import load_config
    from evo_marl.experiment import build_population
    from evo_marl.envs import make_vec_env

    config = load_config({"algo": "MATD3", "env": {"id": "tiny/coop_box", "num_envs": 2},
                          "init_hp": {"LR_ACTOR": 3e-4, "tau": 0.02}})
    hp, _ = config.hyperparameters()
    assert (hp.lr_actor, hp.tau) == (3e-4, 0.02)
    member = build_population(config, make_vec_env("tiny/coop_box", num_envs=2))[0]
    assert member.lr_actor == 3e-4 and member.hp is not hp
    assert all(g["lr"] == 3e-4 for g in member.optimizers["actor/agent_0"].param_groups)
    path = ["config.py", "algorithms/registry.py", "algorithms/hparams.py", "algorithms/matd3.py"]
    assert all((PACKAGE / p).exists() for p in path) and len(path) <= 4
