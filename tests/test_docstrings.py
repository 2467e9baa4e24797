"""The docstring examples of every module of the installed ``walkshed`` package run and hold.

pytest's ``--doctest-modules`` collects files by path, and the folder ``coverage/`` would import
under coverage.py's name; so the examples are collected here from the installed package instead.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import walkshed

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(walkshed.__path__, prefix="walkshed.")
    if not m.name.rsplit(".", 1)[-1].startswith("__")
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", ["walkshed", *MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = [t for t in finder.find(module, name) if t.examples]
    for t in tests:
        runner.run(t, out=lambda s: None)
    failed, _ = runner.summarize(verbose=False)
    if failed:
        report: list[str] = []
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        for t in tests:
            runner.run(t, out=report.append)
        pytest.fail("".join(report), pytrace=False)
