"""Exceptions a planner can act on: each names the input, what is wrong and how to fix it."""

from __future__ import annotations


class WalkshedError(Exception):
    """Base class of every error walkshed raises on purpose."""


class InputError(WalkshedError, ValueError):
    """An input (file, table, setting) is missing, malformed or inconsistent.

    The message names the input, the problem and the fix. The CLI turns it into one line and
    exit code 2.
    """


class CacheError(WalkshedError):
    """A cache entry could not be read; callers rebuild it."""


def input_error(what: str, problem: str, fix: str) -> InputError:
    """Build an :class:`InputError` with the house format ``what: problem. fix``."""
    problem = problem.rstrip(".")
    fix = fix.rstrip(".")
    return InputError(f"{what}: {problem}. {fix}.")
