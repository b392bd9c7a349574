"""Every notebook runs top to bottom in its small-budget mode (EVO_MARL_SMALL_BUDGET=1).

A notebook that raises fails its test with the failing cell; each must also display at least one real
picture, so a plot that silently stopped rendering is caught too.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_walkthroughs_are_there():
    names = [n.stem for n in NOTEBOOKS]
    assert len(names) >= 3, names
    assert any("quickstart" in n for n in names) and any("bucket_brigade" in n for n in names)
    assert any("analyse" in n for n in names)


def _images(notebook) -> list[bytes]:
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                found.append(base64.b64decode(data["image/png"]))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_executes_in_small_budget_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("EVO_MARL_SMALL_BUDGET", "1")
    monkeypatch.setenv("EVO_MARL_NOTEBOOK_RUNS", str(tmp_path / "populations"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    images = _images(notebook)
    assert images, f"{path.name} displayed no picture"
    for png in images:
        assert png.startswith(b"\x89PNG") and len(png) > 5_000, f"{path.name}: a near-empty picture"
    assert any((tmp_path / "populations").iterdir()), "the notebook wrote no run folder"
