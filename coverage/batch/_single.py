"""The single-city run, exactly as ``walkshed analyze`` does it: one import for the batch.

(The loader and runner live in :mod:`walkshed.cli` today and move to
:mod:`walkshed.pipeline`; only this module names where they are.)
"""

from __future__ import annotations

from ..cli import Options, Reporter, load_study, run_study

__all__ = ["Options", "Reporter", "load_study", "run_study"]
