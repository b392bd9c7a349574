"""The README's Python example runs as written (with a smaller budget), so the front page never lies."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    code = blocks[0]
    assert "max_steps=30_000, evo_steps=3_000" in code  # the budget replaced below
    code = code.replace("max_steps=30_000, evo_steps=3_000", "max_steps=400, evo_steps=200")
    code = code.replace('"BATCH_SIZE": 128', '"BATCH_SIZE": 32')
    monkeypatch.chdir(tmp_path)  # the example writes populations/<run>/ under the working directory
    namespace: dict = {}
    exec(compile(code + "\n", str(README), "exec"), namespace)
    pop, fitnesses = namespace["pop"], namespace["fitnesses"]
    assert len(pop) == 4 and len(fitnesses) == 2
    assert any((tmp_path / "populations").rglob("metrics.csv"))
