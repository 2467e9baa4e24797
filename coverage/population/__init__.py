"""Where residents live: weighted demand points from a raster, zone totals or buildings.

Three sources, one result. Each function returns a :class:`Demand`: the demand points (a
GeoDataFrame in the network's CRS with ``population``, ``zone`` and ``method``) and a report
table saying what was done with every part of the input. Every redistribution conserves its
source total to float rounding: a raster cell's count stays with that cell (split evenly over a
sub-grid when the cell is larger than a block), and a zone's total is spread over what lies
inside the zone in proportion to a stated weight.

- :func:`demand_from_raster`: a population GeoTIFF (WorldPop, GHSL GHS-POP, ...), read window by
  window, clipped to the study area, nodata and negative cells ignored.
- :func:`demand_from_zones`: polygons with counts (census tracts, city districts); each zone's
  total goes to its residential buildings (footprint x levels), its streets (length) or its
  area (a regular grid), chosen per zone by the rule in :func:`choose_method`.
- :func:`demand_from_buildings`: OSM residential buildings scaled to a total, or at a density
  of persons per m² of floor area.

Spreading a total keeps every building and cell within the density limits of
:mod:`walkshed.settings` (:func:`cap_and_spread`: the excess goes to the zone's other points,
each zone's total conserved), and counts a plain ``building=yes`` as a home only where the zone's
typed buildings leave it plausible; each zone's report says what was done and why.

The modules: :mod:`.demand` (the :class:`Demand` type, study area, shared helpers),
:mod:`.raster`, :mod:`.buildings` and :mod:`.zones`.
"""

from __future__ import annotations

from .._buildings import is_residential, parse_levels, read_buildings
from .buildings import demand_from_buildings
from .demand import ZONE_METHODS, Demand, Method, Spread, cap_and_spread, density_cells, study_area
from .raster import _row_bands as _row_bands  # the tests check it
from .raster import demand_from_raster
from .zones import choose_method, demand_from_zones

__all__ = [
    "ZONE_METHODS",
    "Demand",
    "Method",
    "Spread",
    "cap_and_spread",
    "choose_method",
    "demand_from_buildings",
    "demand_from_raster",
    "demand_from_zones",
    "density_cells",
    "is_residential",
    "parse_levels",
    "read_buildings",
    "study_area",
]
