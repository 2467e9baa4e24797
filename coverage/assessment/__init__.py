"""Assessment: who is within walking distance of a precinct today, and with the planned ones.

:func:`assess` answers the planner's first questions from a network, demand points (residents
with weights) and precincts with a status:

- ``coverage``: residents within each walking threshold of an ``open`` precinct, and of an
  ``open`` or ``planned`` one, with the difference;
- ``districts``: per district polygon, residents, covered shares and precincts by status;
- ``catchments``: every resident assigned to the nearest precinct by walking distance; per
  precinct the residents served, those within each threshold, the median and 90th-percentile
  walk and the district inspectors needed by the staffing norm;
- ``opening_order``: the planned precincts in the greedy order that covers the most new
  residents at each step, with each one's gain alone;
- ``uncovered_areas`` / ``uncovered_cells``: residents beyond the main threshold from every
  open precinct, aggregated into H3 cells (or a metric grid) and grouped into contiguous
  areas of the size one precinct could serve (greedy seeded regions, see
  :class:`Assessment`), ranked by uncovered population.

Every figure is computed on demand points, never on polygons (DESIGN.md). The functions here
are pure: no files, no printing.
"""

from .core import assess, assess_scenario
from .result import SCENARIOS, Assessment, AssessmentSettings
from .tables import inspectors_needed, weighted_quantile
from .uncovered import h3_resolution_for

__all__ = [
    "SCENARIOS",
    "Assessment",
    "AssessmentSettings",
    "assess",
    "assess_scenario",
    "h3_resolution_for",
    "inspectors_needed",
    "weighted_quantile",
]
