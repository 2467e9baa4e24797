"""The single-city run, exactly as ``walkshed analyze`` does it: one import for the batch."""

from __future__ import annotations

from ..pipeline import Reporter, load_study, remove_stale_outputs, run_study

__all__ = ["Reporter", "load_study", "remove_stale_outputs", "run_study"]
