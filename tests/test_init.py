"""The package's top-level names are the submodules' objects, imported lazily where heavy."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import walkshed


@pytest.mark.parametrize("name", walkshed.__all__)
def test_every_public_name_resolves_to_its_module_object(name: str) -> None:
    obj = getattr(walkshed, name)
    module = importlib.import_module(obj.__module__)
    assert getattr(module, name) is obj


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        walkshed.no_such_thing  # noqa: B018


def test_import_does_not_pull_in_the_map_stack() -> None:
    code = "import sys, walkshed; print('folium' in sys.modules, 'highspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_import_and_help_pull_in_no_data_stack() -> None:
    """``import walkshed`` and ``walkshed --help`` (the CLI module, its help) load none of the
    data libraries; the first use of a name loads what it needs."""
    heavy = ["geopandas", "pandas", "scipy", "shapely", "pyproj", "osmium", "numpy"]
    code = (
        "import sys, walkshed, walkshed.cli\n"
        "from typer.testing import CliRunner\n"
        "res = CliRunner().invoke(walkshed.cli.app, ['--help'])\n"
        "assert res.exit_code == 0 and 'analyze' in res.output, res.output\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
        "walkshed.load_network\n"
        "print('geopandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"], out.stdout + out.stderr
