"""The coverage map, one builder per layer.

``core`` assembles the page (:func:`coverage_map`, :func:`save_map`); ``layers`` holds one
builder per layer (basemap, districts, uncovered cells, walking areas, uncovered areas,
precincts, proposed sites, and the title / legend / attribution); ``_page`` the page pieces
(styles, escaping, GeoJSON text, Leaflet elements); ``_tables`` reads the assessment's tables.
"""

from __future__ import annotations

from ._page import _GeoJsonLayer as _GeoJsonLayer
from ._page import _MarkerLayer as _MarkerLayer
from .core import coverage_map, save_map

__all__ = ["coverage_map", "save_map"]
