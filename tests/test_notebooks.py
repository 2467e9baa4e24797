"""The notebooks execute from top to bottom without error (nbclient, the python3 kernel).

``00_demo`` runs everywhere on the bundled extract; ``01_almaty_coverage`` needs the shared
data and is skipped without it. The committed notebooks carry no outputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(name: str, env: dict[str, str]) -> Any:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits the environment when it starts
    try:
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _outputs(nb: Any) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            text.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(text)


@pytest.mark.parametrize("name", ["00_demo.ipynb", "01_almaty_coverage.ipynb"])
def test_committed_notebooks_have_no_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 5  # prose a planner can follow


@pytest.mark.slow
def test_demo_notebook_runs(tmp_path: Path) -> None:
    nb = _execute("00_demo.ipynb", {"WALKSHED_CACHE_DIR": str(tmp_path / "cache")})
    text = _outputs(nb)
    assert "illustrative" in text
    assert "Opening order of the planned precincts" in text
    assert "OpenStreetMap contributors" in text  # the map's attribution


@pytest.mark.slow
def test_almaty_notebook_runs(shared_data: Path, tmp_path: Path) -> None:
    nb = _execute(
        "01_almaty_coverage.ipynb",
        {"WALKSHED_TEST_DATA": str(shared_data), "WALKSHED_CACHE_DIR": str(tmp_path / "cache")},
    )
    text = _outputs(nb)
    assert "40 police points" in text
    assert "with the 10 new sites" in text
    assert "CC BY-SA 2.0" in text
