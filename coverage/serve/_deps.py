"""The project functions the server uses from the pipeline and the assessment (one place)."""

from __future__ import annotations

from ..assessment import assess, weighted_quantile
from ..pipeline import Study, load_study

__all__ = ["Study", "assess", "load_study", "weighted_quantile"]
