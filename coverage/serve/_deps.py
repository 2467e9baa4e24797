"""The project functions the server uses from modules that are being moved (one place to
change when they land)."""

from __future__ import annotations

try:  # the assessment package (walkshed.assessment) once it lands, else walkshed.assess
    from ..assessment import assess, weighted_quantile  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the version of the package
    from ..assess import assess, weighted_quantile  # type: ignore[no-redef,unused-ignore]
from ..pipeline import Study, load_study

__all__ = ["Study", "assess", "load_study", "weighted_quantile"]
