"""Building a :class:`~walkshed.network.WalkNetwork`: from OSM way runs or an osmnx graph.

Streets are split only where ways meet (intersections and dead ends), as osmnx's simplified
graphs are; coordinates are projected to a local UTM zone unless a CRS is given, and only the
largest connected component is kept unless asked otherwise (what is dropped is reported).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyproj
import shapely
from scipy.sparse.csgraph import connected_components

from .._errors import input_error
from .._osm import WayRuns
from .graph import DroppedReport, WalkNetwork, symmetric_csr

__all__ = ["from_osmnx_graph", "network_from_ways", "utm_crs"]

log = logging.getLogger(__name__)


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS 84 / UTM zone CRS containing ``(lon, lat)``, the grid's exceptions included.

    The zone is the 6-degree band of the longitude (north of the equator, or on it, the
    ``326xx`` codes; south of it ``327xx``; a point on a zone border takes the zone to its
    east), except where the UTM grid departs from the bands: zone 32 is widened to 3-12 E over
    south-west Norway (56-64 N) and Svalbard (72-84 N) uses zones 31, 33, 35 and 37 only. The
    PROJ database gives every zone a plain 6-degree box (its ``query_utm_crs_info`` puts Bergen
    in zone 31), so those exceptions are written out here.

    Examples
    --------
    >>> utm_crs(76.9, 43.25).to_epsg()  # Almaty
    32643
    >>> utm_crs(5.3, 60.4).to_epsg()  # Bergen: zone 32, not 31
    32632
    """
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    east = (lon + 180.0) % 360.0 - 180.0
    if 56.0 <= lat < 64.0 and 3.0 <= east < 12.0:
        zone = 32
    elif 72.0 <= lat <= 84.0 and 0.0 <= east < 42.0:
        zone = 31 if east < 9.0 else 33 if east < 21.0 else 35 if east < 33.0 else 37
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


@dataclass(frozen=True)
class _Pieces:
    """Nodes and edges of a network under construction (edges index nodes by position)."""

    node_ids: np.ndarray
    node_xy: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    geoms: np.ndarray
    osmid: np.ndarray
    highway: np.ndarray
    name: np.ndarray | None = None

    def subset(self, keep_node: np.ndarray, keep_edge: np.ndarray) -> _Pieces:
        """The kept nodes and edges, nodes renumbered in their order (edges must keep both
        ends)."""
        remap = np.full(len(self.node_ids), -1, dtype=np.int64)
        remap[keep_node] = np.arange(int(keep_node.sum()))
        return _Pieces(
            node_ids=self.node_ids[keep_node],
            node_xy=self.node_xy[keep_node],
            edge_u=remap[self.edge_u[keep_edge]],
            edge_v=remap[self.edge_v[keep_edge]],
            geoms=self.geoms[keep_edge],
            osmid=self.osmid[keep_edge],
            highway=self.highway[keep_edge],
            name=None if self.name is None else self.name[keep_edge],
        )

    def without_loose_nodes(self) -> _Pieces:
        """Only the nodes some edge uses."""
        used = np.zeros(len(self.node_ids), dtype=bool)
        used[self.edge_u] = True
        used[self.edge_v] = True
        return self.subset(used, np.ones(len(self.edge_u), dtype=bool))


def _finish(
    pieces: _Pieces, crs: pyproj.CRS, *, keep_largest: bool, source: str
) -> WalkNetwork:
    """Keep the largest connected component (reporting the rest) and wrap in a WalkNetwork."""
    dropped = DroppedReport(0, 0, 0, 0.0, 0.0)
    if keep_largest and len(pieces.node_ids) > 0:
        length = shapely.length(pieces.geoms)
        adj = symmetric_csr(pieces.edge_u, pieces.edge_v, length, len(pieces.node_ids))
        n_comp, labels = connected_components(adj, directed=False)
        if n_comp > 1:
            sizes = np.bincount(labels)
            keep_node = labels == int(np.argmax(sizes))
            keep_edge = keep_node[pieces.edge_u]
            total = float(length.sum())
            lost = float(length[~keep_edge].sum())
            dropped = DroppedReport(
                components=int(n_comp - 1),
                nodes=int((~keep_node).sum()),
                edges=int((~keep_edge).sum()),
                length_m=lost,
                length_share=lost / total if total > 0 else 0.0,
            )
            pieces = pieces.subset(keep_node, keep_edge)
    net = WalkNetwork(
        pieces.node_ids,
        pieces.node_xy,
        pieces.edge_u,
        pieces.edge_v,
        pieces.geoms,
        crs,
        edge_osmid=pieces.osmid,
        edge_highway=pieces.highway,
        edge_name=pieces.name,
        source=source,
        dropped=dropped,
    )
    log.info("%s", net.summary())
    return net


def network_from_ways(
    ways: WayRuns,
    *,
    crs: Any = None,
    keep_largest: bool = True,
    source: str = "",
) -> WalkNetwork:
    """Build a :class:`WalkNetwork` from walkable way runs (see :mod:`walkshed._osm`).

    Ways are split at every vertex shared with another way (or visited twice by the same way)
    and at their ends; the vertices in between become the edge geometry.

    Parameters
    ----------
    ways
        The walkable ways, as :func:`walkshed._osm.read_walk_ways` reads them.
    crs
        Projected CRS for the network; default the UTM zone of the ways' median point.
    keep_largest
        Keep only the largest connected component (what is dropped is reported).
    source
        Description kept on the network.

    Returns
    -------
    WalkNetwork
    """
    refs = ways.node_ref
    if len(refs) == 0 or len(ways.way_id) == 0:
        raise input_error(
            f"network source {source}",
            "the area has no walkable streets",
            "Check that the extract or place covers a town, and that it is not a water or "
            "empty area",
        )
    starts = ways.run_start[:-1]
    ends = ways.run_start[1:] - 1
    uniq, inverse, counts = np.unique(refs, return_inverse=True, return_counts=True)
    is_junction = counts[inverse] >= 2
    is_junction[starts] = True
    is_junction[ends] = True

    if crs is None:
        crs = utm_crs(float(np.median(ways.lon)), float(np.median(ways.lat)))
    crs = pyproj.CRS.from_user_input(crs)
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_xy.transform(ways.lon, ways.lat)
    xy = np.column_stack([x, y])

    # each edge runs from one junction vertex to the next junction vertex of the same run
    jpos = np.flatnonzero(is_junction)
    run_of = np.searchsorted(ways.run_start, jpos, side="right") - 1
    same_run = run_of[:-1] == run_of[1:]
    e_start = jpos[:-1][same_run]
    e_end = jpos[1:][same_run]
    e_run = run_of[:-1][same_run]
    n_vert = e_end - e_start + 1
    vert_idx = np.repeat(e_start - np.cumsum(np.r_[0, n_vert[:-1]]), n_vert) + np.arange(
        n_vert.sum()
    )
    geoms = shapely.linestrings(xy[vert_idx], indices=np.repeat(np.arange(len(e_start)), n_vert))

    node_local = inverse  # vertex -> unique-node position
    eu = node_local[e_start]
    ev = node_local[e_end]
    length = shapely.length(geoms)
    # a way that repeats a vertex in place gives zero-length loops: no street there
    ok = ~((eu == ev) & (length == 0.0))
    eu, ev, geoms, e_run = eu[ok], ev[ok], geoms[ok], e_run[ok]
    if len(eu) == 0:
        raise input_error(
            f"network source {source}",
            "the area has no walkable streets (only ways of zero length)",
            "Check that the extract or place covers a town, and that it is not a water or "
            "empty area",
        )
    node_xy = np.empty((len(uniq), 2))
    node_xy[inverse] = xy
    pieces = _Pieces(
        node_ids=uniq,
        node_xy=node_xy,
        edge_u=eu,
        edge_v=ev,
        geoms=geoms,
        osmid=ways.way_id[e_run],
        highway=ways.highway[e_run],
    )
    return _finish(
        pieces.without_loose_nodes(), crs, keep_largest=keep_largest, source=source
    )


def from_osmnx_graph(
    graph: Any, *, crs: Any = None, keep_largest: bool = True, source: str = "osmnx graph"
) -> WalkNetwork:
    """Convert an osmnx graph (unprojected, as osmnx downloads it) to a :class:`WalkNetwork`.

    The graph is made undirected with :func:`osmnx.convert.to_undirected`: both directions of
    a two-way street become one edge; parallel streets between the same two nodes stay
    separate edges.

    Parameters
    ----------
    graph
        A ``networkx.MultiDiGraph`` from ``osmnx.graph_from_*`` in EPSG:4326.
    crs
        Target projected CRS; default the UTM zone of the graph's centre.
    keep_largest
        Keep only the largest connected component (what is dropped is reported).
    source
        Description kept on the network.

    Returns
    -------
    WalkNetwork
    """
    node_list = list(graph.nodes)
    if not node_list or graph.number_of_edges() == 0:
        raise input_error(
            f"network source {source}",
            "the area has no walkable streets",
            "Choose a larger area or check the place name",
        )
    import osmnx as ox

    graph_crs = pyproj.CRS.from_user_input(graph.graph.get("crs", "EPSG:4326"))
    pos = {n: i for i, n in enumerate(node_list)}
    nx_ = np.array([graph.nodes[n]["x"] for n in node_list], dtype=float)
    ny_ = np.array([graph.nodes[n]["y"] for n in node_list], dtype=float)
    if crs is None:
        lon, lat = pyproj.Transformer.from_crs(graph_crs, "EPSG:4326", always_xy=True).transform(
            float(np.median(nx_)), float(np.median(ny_))
        )
        crs = utm_crs(lon, lat)
    crs = pyproj.CRS.from_user_input(crs)
    tf = pyproj.Transformer.from_crs(graph_crs, crs, always_xy=True)
    px, py = tf.transform(nx_, ny_)
    node_xy = np.column_stack([px, py])

    us: list[int] = []
    vs: list[int] = []
    geoms: list[Any] = []
    osmids: list[int] = []
    highways: list[str] = []
    names: list[str] = []
    # to_undirected gives every edge a geometry and records the direction it runs in
    for _, _, data in ox.convert.to_undirected(graph).edges(data=True):
        iu, iv = pos[data["from"]], pos[data["to"]]
        coords = np.asarray(data["geometry"].coords)
        gx, gy = tf.transform(coords[:, 0], coords[:, 1])
        line = np.column_stack([gx, gy])
        line[0], line[-1] = node_xy[iu], node_xy[iv]
        us.append(iu)
        vs.append(iv)
        geoms.append(shapely.linestrings(line))
        osmid = data.get("osmid", -1)
        osmids.append(int(min(osmid) if isinstance(osmid, list) else osmid))
        hw = data.get("highway", "")
        highways.append(hw[0] if isinstance(hw, list) else str(hw))
        name = data.get("name", "")  # a list where osmnx merged ways of several names
        names.append(" / ".join(sorted(set(map(str, name)))) if isinstance(name, list)
                     else str(name or ""))
    pieces = _Pieces(
        node_ids=np.asarray(node_list, dtype=np.int64),
        node_xy=node_xy,
        edge_u=np.asarray(us, dtype=np.int64),
        edge_v=np.asarray(vs, dtype=np.int64),
        geoms=np.asarray(geoms, dtype=object),
        osmid=np.asarray(osmids, dtype=np.int64),
        highway=np.asarray(highways, dtype=object),
        name=np.asarray(names, dtype=object),
    )
    return _finish(
        pieces.without_loose_nodes(), crs, keep_largest=keep_largest, source=source
    )
