"""Where a proposed site is, in words: its nearest street name and nearest address.

Both come from the OpenStreetMap extract the network was read from, in one pyosmium pass that
keeps only what is needed: the ``name`` of the network's ways (by way id) and the nodes and
ways (buildings, at their centroid) tagged ``addr:housenumber`` with ``addr:street`` (or
``addr:place``). Names and addresses are data: they are copied verbatim, never interpreted.

A network fetched online (osmnx) carries its edges' names, so its sites get streets; their
addresses stay blank (no extract is read).

- ``street``: the name of the way of the edge the site sits on; if that way has no name, the
  nearest named street of the network within :data:`STREET_WITHIN_M`; else blank.
- ``address``: ``"<addr:street> <addr:housenumber>"`` of the nearest addressed node or
  building within :data:`ADDRESS_WITHIN_M`, with its straight distance ``address_m``; else
  blank (and ``address_m`` empty). Addresses on relations (multipolygon buildings) are not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from .._osm import reading_osm
from ..network import WalkNetwork

__all__ = ["ADDRESS_WITHIN_M", "STREET_WITHIN_M", "OsmPlaces", "read_places", "site_places"]

#: How far (m) the nearest named street may be when the site's own street has no name.
STREET_WITHIN_M = 150.0
#: How far (m) the nearest address may be.
ADDRESS_WITHIN_M = 100.0


@dataclass(frozen=True)
class OsmPlaces:
    """Way names and addresses read from an extract.

    Attributes
    ----------
    way_name
        OSM way id -> ``name`` (only the ways asked for that have one).
    address_lonlat
        ``(n, 2)`` longitude/latitude of each address (a building's centroid).
    address
        The ``n`` address texts.
    """

    way_name: dict[int, str]
    address_lonlat: np.ndarray
    address: list[str]


def _address_text(tags: osmium.osm.TagList) -> str | None:
    number = tags.get("addr:housenumber")
    street = tags.get("addr:street") or tags.get("addr:place")
    if not number or not street:
        return None
    return f"{street} {number}"


def _centroid(lonlat: list[tuple[float, float]]) -> tuple[float, float]:
    """Centroid of a building outline (a closed way) or of a line; in lon/lat, which at a
    building's size is the projected centroid to well under a centimetre."""
    if len(lonlat) >= 4 and lonlat[0] == lonlat[-1]:
        geom: shapely.Geometry = shapely.polygons(lonlat)
        if not shapely.is_valid(geom) or shapely.area(geom) == 0:
            geom = shapely.linestrings(lonlat)
    elif len(lonlat) >= 2:
        geom = shapely.linestrings(lonlat)
    else:
        geom = shapely.points(lonlat[0])
    c = shapely.get_coordinates(shapely.centroid(geom))[0]
    return float(c[0]), float(c[1])


def read_places(path: str | os.PathLike[str], way_ids: set[int] | None = None) -> OsmPlaces:
    """Read way names and addresses from an OSM file in one pass.

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file.
    way_ids
        The ways whose ``name`` to keep; ``None`` for every named way.

    Returns
    -------
    OsmPlaces
    """
    names: dict[int, str] = {}
    lonlat: list[tuple[float, float]] = []
    text: list[str] = []
    p = Path(path)
    with reading_osm(p, "OSM extract"):
        fp = (
            osmium.FileProcessor(str(p))
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.NODE | osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("name", "addr:housenumber"))
        )
        for obj in fp:
            tags = obj.tags
            if isinstance(obj, osmium.osm.Way):
                name = tags.get("name")
                if name and (way_ids is None or obj.id in way_ids):
                    names[obj.id] = name
                addr = _address_text(tags)
                if addr is not None:
                    locs = [(n.location.lon, n.location.lat) for n in obj.nodes
                            if n.location.valid()]
                    if locs:
                        lonlat.append(_centroid(locs))
                        text.append(addr)
            elif isinstance(obj, osmium.osm.Node):
                addr = _address_text(tags)
                if addr is not None and obj.location.valid():
                    lonlat.append((obj.location.lon, obj.location.lat))
                    text.append(addr)
    return OsmPlaces(names, np.asarray(lonlat, dtype=np.float64).reshape(-1, 2), text)


def site_places(
    network: WalkNetwork,
    points: np.ndarray,
    edges: np.ndarray,
    places: OsmPlaces | None,
    *,
    street_within_m: float = STREET_WITHIN_M,
    address_within_m: float = ADDRESS_WITHIN_M,
) -> pd.DataFrame:
    """The nearest street name and address of each site.

    Parameters
    ----------
    network
        The walking network (its CRS is metric).
    points
        Site points (shapely) in the network CRS.
    edges
        The edge position each site sits on (``-1`` for none).
    places
        What :func:`read_places` read from the network's extract; ``None`` for a network
        fetched online: streets from the osmnx graph's names (``network.edge_name``),
        addresses blank.
    street_within_m, address_within_m
        How far the nearest named street (when the site's own has no name) and the nearest
        address may be.

    Returns
    -------
    pandas.DataFrame
        ``street``, ``address`` (``""`` when none) and ``address_m`` (metres, NaN when none),
        one row per site.
    """
    n = len(points)
    street = np.full(n, "", dtype=object)
    address = np.full(n, "", dtype=object)
    address_m = np.full(n, np.nan)
    if n == 0:
        return pd.DataFrame({"street": street, "address": address, "address_m": address_m})
    edge_name = np.asarray(network.edge_name, dtype=object).copy()
    if places is not None:
        from_file = np.asarray([places.way_name.get(int(w), "") for w in network.edge_osmid],
                               dtype=object)
        edge_name = np.where(edge_name == "", from_file, edge_name)
    edges = np.asarray(edges, dtype=np.int64)
    on = edges >= 0
    street[on] = edge_name[edges[on]]
    named = np.flatnonzero(edge_name != "")
    missing = np.flatnonzero(street == "")
    if len(missing) and len(named):
        tree = shapely.STRtree(network.edge_geometry[named])
        (which, hit), dist = tree.query_nearest(points[missing], max_distance=street_within_m,
                                                return_distance=True, all_matches=False)
        del dist
        street[missing[which]] = edge_name[named[hit]]
    if places is not None and len(places.address):
        to_xy = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
        ax, ay = to_xy.transform(places.address_lonlat[:, 0], places.address_lonlat[:, 1])
        d, j = cKDTree(np.column_stack([ax, ay])).query(
            shapely.get_coordinates(points), distance_upper_bound=address_within_m)
        ok = np.isfinite(d)
        address[ok] = np.asarray(places.address, dtype=object)[j[ok]]
        address_m[ok] = d[ok]
    return pd.DataFrame({"street": street, "address": address, "address_m": address_m})
