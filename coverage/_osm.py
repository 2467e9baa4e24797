"""Reading OpenStreetMap files (.osm.pbf, .osm, .osm.bz2) with pyosmium.

Only what walkshed needs: the walkable ways with their node locations, and tagged points of
interest. Everything here runs in libosmium's compiled readers; Python only sees the ways that
pass the tag filter.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium

from . import settings
from ._errors import input_error

#: The file endings read from disk.
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz", ".xml")

# osmnx's "walk" filter (network_type="walk"), applied to local files with the same regular
# expressions so that a file and an Overpass query give the same streets. Listed in the order of
# osmnx's query string, which :func:`walk_overpass_filter` writes from this table.
_WALK_EXCLUDE = {
    "area": re.compile("yes"),
    "access": re.compile("private"),
    "highway": re.compile(
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed|"
        "raceway|razed|rest_area|services"
    ),
    "foot": re.compile("no"),
    "service": re.compile("private"),
    "sidewalk": re.compile("separate"),
    "sidewalk:both": re.compile("separate"),
    "sidewalk:left": re.compile("separate"),
    "sidewalk:right": re.compile("separate"),
}

#: Bumped whenever the filter or the graph construction changes, so caches are rebuilt
#: (``/2``: the UTM zone exceptions of Norway and Svalbard; osmnx graphs via to_undirected).
WALK_FILTER_VERSION = "osmnx-walk-2.1/2"


#: ``foot`` values that open a ``highway=cycleway`` to pedestrians when
#: :data:`walkshed.settings.walk_cycleways_with_foot_access` is on.
FOOT_ACCESS_VALUES = frozenset({"yes", "designated", "permissive"})


def _foot_cycleways(foot_cycleways: bool | None) -> bool:
    """The option as given, or :data:`walkshed.settings.walk_cycleways_with_foot_access`."""
    return settings.walk_cycleways_with_foot_access if foot_cycleways is None else foot_cycleways


def is_walkable(tags: dict[str, str], *, foot_cycleways: bool | None = None) -> bool:
    """Whether a way with these tags is a street a pedestrian may use (osmnx's walk filter).

    Parameters
    ----------
    tags
        The way's OSM tags.
    foot_cycleways
        Also accept ``highway=cycleway`` ways tagged ``foot=yes|designated|permissive`` (shared
        paths) when no other exclusion (``access=private``, ``area=yes``, ...) applies; default
        :data:`walkshed.settings.walk_cycleways_with_foot_access`. Off, this is exactly
        osmnx's ``"walk"`` filter.

    Examples
    --------
    >>> is_walkable({"highway": "residential"})
    True
    >>> is_walkable({"highway": "motorway"})
    False
    >>> is_walkable({"highway": "footway", "access": "private"})
    False
    >>> is_walkable({"highway": "cycleway", "foot": "designated"}, foot_cycleways=True)
    True
    """
    highway = tags.get("highway")
    if highway is None:
        return False
    shared_path = (
        highway == "cycleway"
        and tags.get("foot") in FOOT_ACCESS_VALUES
        and _foot_cycleways(foot_cycleways)
    )
    for key, pattern in _WALK_EXCLUDE.items():
        if shared_path and key == "highway":
            continue
        value = tags.get(key)
        if value is not None and pattern.search(value):
            return False
    return True


def _excluded(keys: Iterable[str]) -> str:
    """Overpass clauses ``["key"!~"pattern"]`` of the walk filter's exclusions for ``keys``."""
    return "".join(f'["{key}"!~"{_WALK_EXCLUDE[key].pattern}"]' for key in keys)


def walk_overpass_filter() -> str:
    """The Overpass filter of the streets :func:`is_walkable` accepts (option off).

    The same query as osmnx's ``network_type="walk"``, written from this module's rules so that
    a query that adds to it (see :func:`foot_cycleway_overpass_filter`) needs nothing private
    from osmnx.

    Examples
    --------
    >>> walk_overpass_filter()[:47]
    '["highway"]["area"!~"yes"]["access"!~"private"]'
    """
    return '["highway"]' + _excluded(_WALK_EXCLUDE)


def foot_cycleway_overpass_filter() -> str:
    """The Overpass filter of the shared paths :func:`is_walkable` adds with ``foot_cycleways``.

    Queried next to :func:`walk_overpass_filter` (osmnx unions a list of filters), it gives an
    online network the same streets as a local extract read with the option on.
    """
    values = "|".join(sorted(FOOT_ACCESS_VALUES))
    return '["highway"="cycleway"]' + f'["foot"~"^({values})$"]' + _excluded(
        key for key in _WALK_EXCLUDE if key != "highway"
    )


@dataclass(frozen=True)
class WayRuns:
    """Walkable ways as flat arrays: runs of consecutive nodes with valid locations.

    A way that leaves the extract (nodes without a location) is split into several runs.
    """

    node_ref: np.ndarray  # int64, OSM node id of every vertex, runs concatenated
    lon: np.ndarray
    lat: np.ndarray
    run_start: np.ndarray  # int64, index into node_ref where each run starts; len = runs + 1
    way_id: np.ndarray  # int64 per run
    highway: np.ndarray  # object (str) per run


def check_osm_file(path: Path, what: str = "network source") -> Path:
    """Raise a clear error when ``path`` is not a readable OSM file."""
    if not path.exists():
        raise input_error(
            f"{what} '{path}'", "file not found", "Check the path, or give a place name to fetch"
        )
    if not path.is_file():
        raise input_error(f"{what} '{path}'", "is not a file", "Give an .osm.pbf or .osm file")
    name = path.name.lower()
    if not name.endswith(OSM_SUFFIXES):
        raise input_error(
            f"{what} '{path}'",
            "is not an OpenStreetMap file",
            "Give a file ending in .osm.pbf, .osm or .osm.bz2",
        )
    if path.stat().st_size == 0:
        raise input_error(f"{what} '{path}'", "the file is empty", "Download the extract again")
    return path


@contextlib.contextmanager
def reading_osm(path: Path, what: str) -> Iterator[None]:
    """Check an OSM file (:func:`check_osm_file`), then read it in the ``with`` block.

    libosmium reports corrupt input as ``RuntimeError``; inside the block that becomes an
    :class:`~walkshed._errors.InputError` naming ``what`` and the file.
    """
    check_osm_file(path, what)
    try:
        yield
    except RuntimeError as exc:
        raise input_error(
            f"{what} '{path}'",
            f"the file cannot be read as OpenStreetMap data ({exc})",
            "The file may be truncated or not an OSM extract: download it again",
        ) from exc


def read_walk_ways(path: Path, *, foot_cycleways: bool | None = None) -> WayRuns:
    """Read the walkable ways of an OSM file with their node locations.

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file.
    foot_cycleways
        Also read cycleways open to pedestrians (see :func:`is_walkable`); default
        :data:`walkshed.settings.walk_cycleways_with_foot_access`.

    Returns
    -------
    WayRuns
        Flat arrays of the walkable ways, split where node locations are missing.
    """
    refs: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    starts: list[int] = []
    way_ids: list[int] = []
    highways: list[str] = []
    shared_paths = _foot_cycleways(foot_cycleways)
    with reading_osm(path, "network source"):
        fp = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in fp:
            if not isinstance(way, osmium.osm.Way):
                continue
            tags = dict(way.tags)
            if not is_walkable(tags, foot_cycleways=shared_paths):
                continue
            run_len = 0
            for nd in way.nodes:
                loc = nd.location
                if loc.valid():
                    if run_len == 0:
                        starts.append(len(refs))
                        way_ids.append(way.id)
                        highways.append(tags["highway"])
                    refs.append(nd.ref)
                    lons.append(loc.lon)
                    lats.append(loc.lat)
                    run_len += 1
                else:
                    run_len = _close_run(run_len, starts, way_ids, highways, refs, lons, lats)
            _close_run(run_len, starts, way_ids, highways, refs, lons, lats)
    starts.append(len(refs))
    return WayRuns(
        node_ref=np.asarray(refs, dtype=np.int64),
        lon=np.asarray(lons, dtype=np.float64),
        lat=np.asarray(lats, dtype=np.float64),
        run_start=np.asarray(starts, dtype=np.int64),
        way_id=np.asarray(way_ids, dtype=np.int64),
        highway=np.asarray(highways, dtype=object),
    )


def _close_run(
    run_len: int,
    starts: list[int],
    way_ids: list[int],
    highways: list[str],
    refs: list[int],
    lons: list[float],
    lats: list[float],
) -> int:
    """End the current run; a run of a single vertex is no street and is removed."""
    if run_len == 1:
        starts.pop()
        way_ids.pop()
        highways.pop()
        refs.pop()
        lons.pop()
        lats.pop()
    return 0


@dataclass(frozen=True)
class TaggedFeature:
    """A node or way with its tags and a representative point (lon, lat)."""

    osm_type: str
    osm_id: int
    lon: float
    lat: float
    tags: dict[str, str]


def read_tagged_points(path: Path, key: str, value: str | None = None) -> list[TaggedFeature]:
    """Nodes and closed ways tagged ``key`` (``=value``), ways reduced to their vertex mean.

    Parameters
    ----------
    path
        An OSM file.
    key, value
        The tag to look for, e.g. ``amenity`` / ``police``. ``value=None`` takes any value.

    Returns
    -------
    list of TaggedFeature
    """
    flt = osmium.filter.KeyFilter(key) if value is None else osmium.filter.TagFilter((key, value))
    out: list[TaggedFeature] = []
    with reading_osm(path, "OSM file"):
        fp = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.NODE | osmium.osm.WAY))
            .with_filter(flt)
        )
        for obj in fp:
            tags = dict(obj.tags)
            if isinstance(obj, osmium.osm.Node):
                if obj.location.valid():
                    out.append(
                        TaggedFeature("node", obj.id, obj.location.lon, obj.location.lat, tags)
                    )
            elif isinstance(obj, osmium.osm.Way):
                locs = [(n.location.lon, n.location.lat) for n in obj.nodes if n.location.valid()]
                if len(locs) > 1 and obj.nodes[0].ref == obj.nodes[-1].ref:
                    locs = locs[:-1]
                if locs:
                    arr = np.asarray(locs)
                    out.append(
                        TaggedFeature("way", obj.id, float(arr[:, 0].mean()),
                                      float(arr[:, 1].mean()), tags)
                    )
    return out
