"""Packaging: the wheel installs ``walkshed`` (every sub-package) and nothing named ``coverage``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import walkshed

REPO = Path(__file__).resolve().parents[1]


def _declared() -> list[str]:
    conf = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return conf["tool"]["setuptools"]["packages"]


def test_every_sub_package_folder_is_declared() -> None:
    root = Path(walkshed.__file__).parent
    found = sorted(
        "walkshed" + ("." + ".".join(d.relative_to(root).parts) if d != root else "")
        for d in [root, *root.rglob("*")]
        if d.is_dir() and (d / "__init__.py").is_file()
    )
    assert sorted(_declared()) == found


def test_the_import_package_is_walkshed_from_the_folder_coverage() -> None:
    conf = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert conf["tool"]["setuptools"]["package-dir"] == {"walkshed": "coverage"}
    assert all(p == "walkshed" or p.startswith("walkshed.") for p in _declared())
    assert Path(walkshed.__file__).parent.name == "coverage"


def test_one_source_of_the_version() -> None:
    conf = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in conf["project"]["dynamic"]
    assert conf["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "walkshed.__version__"}
    from importlib.metadata import version

    assert version("walkshed") == walkshed.__version__
