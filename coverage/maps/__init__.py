"""The coverage map, one builder per layer.

``core`` assembles the page (:func:`coverage_map`, :func:`save_map`); ``layers`` holds one
builder per layer (basemap, districts, uncovered cells, walking areas, uncovered areas,
precincts, proposed sites), each returning plain data; ``_page`` the page pieces (styles, the
interface's words, the JSON data block and the one fixed script that draws it with DOM text);
``_tables`` reads the assessment's tables.
"""

from __future__ import annotations

from .core import coverage_map, save_map

__all__ = ["coverage_map", "save_map"]
