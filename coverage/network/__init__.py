"""The walking network: streets a pedestrian may use, undirected, in metres.

:func:`load_network` reads a local OpenStreetMap extract (``.osm.pbf``, ``.osm``, ``.osm.bz2``)
with pyosmium, or fetches an area online through osmnx (place name, polygon or bounding box),
and returns a :class:`WalkNetwork`: node coordinates and edge geometries in a local UTM
projection, edge lengths measured on those geometries, and a symmetric sparse adjacency matrix
for ``scipy.sparse.csgraph``. Streets are split only where ways meet (intersections and dead
ends), as osmnx's simplified graphs are. Loaded networks are cached on disk.

The modules, one concern each: :mod:`~walkshed.network.graph` (the network type),
:mod:`~walkshed.network.build` (from OSM ways or an osmnx graph),
:mod:`~walkshed.network.load` (sources and the cache key), :mod:`~walkshed.network.cache`
(the on-disk cache) and :mod:`~walkshed.network.segments` (the segment index for snapping).
"""

from __future__ import annotations

from .build import from_osmnx_graph, network_from_ways, utm_crs
from .cache import read_cache, write_cache
from .graph import DroppedReport, WalkNetwork, edges_frame, symmetric_csr, to_networkx
from .load import load_network
from .segments import SegmentIndex

__all__ = [
    "DroppedReport",
    "SegmentIndex",
    "WalkNetwork",
    "edges_frame",
    "from_osmnx_graph",
    "load_network",
    "network_from_ways",
    "read_cache",
    "symmetric_csr",
    "to_networkx",
    "utm_crs",
    "write_cache",
]
