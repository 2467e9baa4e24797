"""The walking network: streets a pedestrian may use, undirected, in metres.

``load_network`` reads a local OpenStreetMap extract (``.osm.pbf``, ``.osm``, ``.osm.bz2``) with
pyosmium, or fetches an area online through osmnx (place name, polygon or bounding box), and
returns a :class:`WalkNetwork`: node coordinates and edge geometries in a local UTM projection,
edge lengths measured on those geometries, and a symmetric sparse adjacency matrix for
``scipy.sparse.csgraph``. Streets are split only where ways meet (intersections and dead ends),
as osmnx's simplified graphs are. Loaded networks are cached on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from . import settings
from ._errors import InputError, input_error
from ._osm import (
    OSM_SUFFIXES,
    WALK_FILTER_VERSION,
    WayRuns,
    foot_cycleway_overpass_filter,
    read_walk_ways,
)
from .io import atomic_path

log = logging.getLogger(__name__)

_CACHE_FORMAT = 1


@dataclass(frozen=True)
class DroppedReport:
    """What was removed when only the largest connected component was kept."""

    components: int
    nodes: int
    edges: int
    length_m: float
    length_share: float

    def __str__(self) -> str:
        if self.components == 0:
            return "no disconnected pieces dropped"
        return (
            f"dropped {self.components} disconnected piece(s): {self.nodes} nodes, "
            f"{self.edges} edges, {self.length_m / 1000:.1f} km "
            f"({self.length_share:.1%} of street length)"
        )


@dataclass(frozen=True)
class SegmentIndex:
    """Every straight segment of the edge geometries, bucketed in square cells (for snapping).

    Each segment is cut (virtually) into pieces no longer than ``cell_m``, and each piece is
    filed under the cell holding its midpoint. A segment none of whose pieces lies in the
    block of cells around a point is at least ``margin - cell_m / 2`` away from the point,
    where ``margin`` is the distance from the point to the block's border: that is what lets
    :func:`walkshed.snap.snap_geometries` prove it found the nearest segment.

    Attributes
    ----------
    a, b
        ``(s, 2)`` segment start and end.
    edge
        Edge position of each segment.
    start_m
        Distance along the edge from ``u`` to the segment's start.
    cell_m
        Cell size and largest piece length, in metres.
    origin
        Corner of cell ``(0, 0)``.
    shape
        Number of cells along x and y.
    cell_key
        Sorted keys (``ix * ny + iy``) of the cells holding at least one piece.
    cell_start
        ``len(cell_key) + 1`` offsets into ``cell_segment``.
    cell_segment
        Segment of each piece, grouped by cell.
    packed
        Per piece, in the order of ``cell_segment``: its segment's ``ax, ay, dx, dy,
        1 / length^2`` (``1 / length^2`` is 0 for a zero-length segment). Candidates of one
        point are a few runs of consecutive rows, which keeps the distance step cache-friendly.
    dense_start
        When the grid of cells is small enough, ``nx * ny + 1`` offsets into ``cell_segment``
        for every cell (empty ones included), replacing the binary search; else ``None``.
    """

    a: np.ndarray
    b: np.ndarray
    edge: np.ndarray
    start_m: np.ndarray
    cell_m: float
    origin: np.ndarray
    shape: tuple[int, int]
    cell_key: np.ndarray
    cell_start: np.ndarray
    cell_segment: np.ndarray
    packed: np.ndarray
    dense_start: np.ndarray | None

    @classmethod
    def build(cls, geoms: np.ndarray, cell_m: float | None = None) -> SegmentIndex:
        """Index the segments of LineStrings ``geoms`` (cell size chosen from the segment
        lengths unless given)."""
        coords = shapely.get_coordinates(geoms)
        ncoord = shapely.get_num_coordinates(geoms).astype(np.int64)
        ends = np.cumsum(ncoord)
        is_seg = np.ones(len(coords), dtype=bool)
        is_seg[ends - 1] = False  # the last vertex of each line starts no segment
        first = np.flatnonzero(is_seg)
        a = np.take(coords, first, axis=0)
        b = np.take(coords, first + 1, axis=0)
        edge = np.repeat(np.arange(len(geoms)), ncoord - 1)
        length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
        # distance from the edge start, summed segment by segment along each edge (the k-th
        # segments of all edges at once; edges sorted by segment count, longest first)
        nseg = ncoord - 1
        first_seg = np.cumsum(nseg) - nseg
        start_m = np.zeros(len(length))
        by_count = np.argsort(-nseg, kind="stable")
        n_with = np.searchsorted(-nseg[by_count], -np.arange(1, int(nseg.max(initial=1))),
                                 side="left")  # edges with more than k segments, k = 1, 2, ..
        running = np.zeros(len(geoms))
        for k, count in enumerate(n_with, start=1):
            es = by_count[:count]
            running[es] += length[first_seg[es] + k - 1]
            start_m[first_seg[es] + k] = running[es]
        if cell_m is not None:
            cell = float(cell_m)
        else:
            # about the length of a typical segment (measured best on Almaty and a street grid)
            cell = float(np.clip(0.75 * np.median(length), 10.0, 100.0)) if len(length) else 10.0
        n_piece = np.maximum(np.ceil(length / cell).astype(np.int64), 1)
        piece_segment = np.repeat(np.arange(len(a)), n_piece)
        k = np.arange(len(piece_segment)) - np.repeat(np.cumsum(n_piece) - n_piece, n_piece)
        frac = (k + 0.5) / n_piece[piece_segment]
        # pieces are length / ceil(length / cell) <= cell long
        # (np.take along axis 0: much faster than fancy indexing on 2-d arrays)
        mid = np.take(a, piece_segment, axis=0)
        mid += frac[:, None] * np.take(b - a, piece_segment, axis=0)
        origin = mid.min(axis=0) if len(mid) else np.zeros(2)
        ij = np.floor((mid - origin) / cell).astype(np.int64)
        nx_ = int(ij[:, 0].max()) + 1 if len(ij) else 1
        ny_ = int(ij[:, 1].max()) + 1 if len(ij) else 1
        key = ij[:, 0] * ny_ + ij[:, 1]
        order = np.argsort(key, kind="stable")
        key = key[order]
        new = np.ones(len(key), dtype=bool)
        new[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(new)
        cell_segment = piece_segment[order]
        inv_len2 = np.divide(1.0, length**2, out=np.zeros_like(length), where=length > 0)
        packed = np.take(np.column_stack([a, b - a, inv_len2]), cell_segment, axis=0)
        dense_start = None
        if nx_ * ny_ <= max(8 * len(key), 1 << 22):
            dense_start = np.zeros(nx_ * ny_ + 1, dtype=np.int64)
            np.cumsum(np.bincount(key, minlength=nx_ * ny_), out=dense_start[1:])
        return cls(
            a=a,
            b=b,
            edge=edge,
            start_m=start_m,
            cell_m=cell,
            origin=origin,
            shape=(nx_, ny_),
            cell_key=key[starts],
            cell_start=np.append(starts, len(key)),
            cell_segment=cell_segment,
            packed=packed,
            dense_start=dense_start,
        )

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        """Key of the cell holding each point (an order that keeps nearby points together)."""
        ij = np.floor((xy - self.origin) / self.cell_m).astype(np.int64)
        return ij[:, 0] * self.shape[1] + ij[:, 1]

    def candidates(
        self, xy: np.ndarray, ring: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segments filed in the ``(2 ring + 1)^2`` cells around each point.

        Returns
        -------
        point, piece : ndarray
            Candidate pairs, grouped by point (ascending); ``piece`` indexes ``cell_segment``
            and ``packed``.
        margin : ndarray
            Per point, the distance to the border of its block of cells: every segment not
            among its candidates is at least ``margin - cell_m / 2`` away.
        """
        c = self.cell_m
        rel = (xy - self.origin) / c
        cxy = np.floor(rel).astype(np.int64)
        low = (rel - (cxy - ring)) * c
        high = ((cxy + ring + 1) - rel) * c
        margin = np.minimum(low, high).min(axis=1)
        # the cells (x, y - ring .. y + ring) of one column of the block have consecutive
        # keys, so their pieces are one run of cell_segment: one range per column
        nx_, ny_ = self.shape
        offs = np.arange(-ring, ring + 1)
        qx = cxy[:, 0, None] + offs[None, :]  # (m, 2 ring + 1)
        y_lo = np.clip(cxy[:, 1] - ring, 0, ny_ - 1)[:, None]
        y_hi = np.clip(cxy[:, 1] + ring, 0, ny_ - 1)[:, None]
        valid = (
            (qx >= 0) & (qx < nx_) & (cxy[:, 1, None] + ring >= 0)
            & (cxy[:, 1, None] - ring < ny_)
        )
        k_lo = (qx * ny_ + y_lo).ravel()
        k_hi = (qx * ny_ + y_hi).ravel()
        if self.dense_start is not None:
            inside = valid.ravel()
            k_lo = np.where(inside, k_lo, 0)
            k_hi = np.where(inside, k_hi, 0)
            begin = self.dense_start[k_lo]
            end = self.dense_start[k_hi + 1]
        else:
            begin = self.cell_start[np.searchsorted(self.cell_key, k_lo)]
            end = self.cell_start[np.searchsorted(self.cell_key, k_hi, side="right")]
        count = np.where(valid.ravel(), end - begin, 0)
        total = int(count.sum())
        point = np.repeat(np.repeat(np.arange(len(xy)), len(offs)), count)
        skip = np.repeat(np.cumsum(count) - count, count)
        idx = np.repeat(begin, count) + (np.arange(total) - skip)
        return point, idx, margin


class WalkNetwork:
    """An undirected street network for walking, in a projected metric CRS.

    Nodes are street intersections and dead ends; each edge is a street segment between two
    nodes with its geometry running from ``u`` to ``v``. Arrays are indexed by position
    (``0 .. n_nodes-1``); ``node_ids`` keeps the OpenStreetMap ids.

    Parameters
    ----------
    node_ids
        OSM id of every node.
    node_xy
        ``(n, 2)`` projected coordinates in metres.
    edge_u, edge_v
        Node positions of each edge's start and end.
    edge_geometry
        LineStrings in the same CRS, starting at ``u`` and ending at ``v``.
    crs
        The projected CRS of the coordinates.
    edge_osmid, edge_highway
        The OSM way id and ``highway`` value of every edge (optional).
    source
        A short description of where the network came from.
    dropped
        What was removed when keeping the largest connected component.
    """

    def __init__(
        self,
        node_ids: np.ndarray,
        node_xy: np.ndarray,
        edge_u: np.ndarray,
        edge_v: np.ndarray,
        edge_geometry: np.ndarray,
        crs: Any,
        *,
        edge_osmid: np.ndarray | None = None,
        edge_highway: np.ndarray | None = None,
        source: str = "",
        dropped: DroppedReport | None = None,
    ) -> None:
        self.node_ids = np.asarray(node_ids, dtype=np.int64)
        self.node_xy = np.asarray(node_xy, dtype=np.float64).reshape(-1, 2)
        self.edge_u = np.asarray(edge_u, dtype=np.int64)
        self.edge_v = np.asarray(edge_v, dtype=np.int64)
        self.edge_geometry = np.asarray(edge_geometry, dtype=object)
        self.edge_length = np.asarray(shapely.length(self.edge_geometry), dtype=np.float64)
        m = len(self.edge_u)
        self.edge_osmid = (
            np.full(m, -1, dtype=np.int64) if edge_osmid is None else np.asarray(edge_osmid)
        )
        self.edge_highway = (
            np.full(m, "", dtype=object) if edge_highway is None else np.asarray(edge_highway)
        )
        self.crs = pyproj.CRS.from_user_input(crs)
        self.source = source
        self.dropped = dropped or DroppedReport(0, 0, 0, 0.0, 0.0)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return len(self.edge_u)

    @property
    def total_length_m(self) -> float:
        """Total street length in metres."""
        return float(self.edge_length.sum())

    @cached_property
    def adjacency(self) -> sparse.csr_matrix:
        """Symmetric ``n x n`` CSR matrix of edge lengths (shortest of parallel edges).

        Self-loops are left out: they never shorten a path between nodes.
        """
        return symmetric_csr(self.edge_u, self.edge_v, self.edge_length, self.n_nodes)

    @cached_property
    def nodes(self) -> gpd.GeoDataFrame:
        """Nodes as a GeoDataFrame indexed by position, with ``osmid``, ``x``, ``y``."""
        return gpd.GeoDataFrame(
            {"osmid": self.node_ids, "x": self.node_xy[:, 0], "y": self.node_xy[:, 1]},
            geometry=shapely.points(self.node_xy),
            crs=self.crs,
        )

    @cached_property
    def edges(self) -> gpd.GeoDataFrame:
        """Edges as a GeoDataFrame indexed by position: ``u``, ``v``, ``length_m``, ``osmid``,
        ``highway``, ``geometry``."""
        return gpd.GeoDataFrame(
            {
                "u": self.edge_u,
                "v": self.edge_v,
                "length_m": self.edge_length,
                "osmid": self.edge_osmid,
                "highway": self.edge_highway,
            },
            geometry=self.edge_geometry,
            crs=self.crs,
        )

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index over edge geometries (for snapping)."""
        return shapely.STRtree(self.edge_geometry)

    @cached_property
    def segment_index(self) -> SegmentIndex:
        """The straight segments of all edge geometries, with a k-d tree (for fast snapping)."""
        return SegmentIndex.build(self.edge_geometry)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the nodes in the network CRS."""
        lo = self.node_xy.min(axis=0)
        hi = self.node_xy.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    def summary(self) -> str:
        """One line for a log or a notebook."""
        return (
            f"{self.source}: {self.n_nodes:,} nodes, {self.n_edges:,} edges, "
            f"{self.total_length_m / 1000:,.1f} km of walkable street, CRS {self.crs.name}; "
            f"{self.dropped}"
        )

    def __repr__(self) -> str:
        return f"<WalkNetwork {self.summary()}>"


def symmetric_csr(
    u: np.ndarray, v: np.ndarray, weight: np.ndarray, n: int
) -> sparse.csr_matrix:
    """Symmetric CSR adjacency keeping the smallest weight of parallel edges, no self-loops.

    Zero weights are kept as explicit entries (``scipy.sparse.csgraph`` treats explicit zeros in
    a sparse matrix as edges). Column indices are sorted within each row.
    """
    keep = np.asarray(u) != np.asarray(v)
    lo = np.minimum(u[keep], v[keep]).astype(np.int64)
    hi = np.maximum(u[keep], v[keep]).astype(np.int64)
    w = np.asarray(weight, dtype=np.float64)[keep]
    # one key per undirected pair; the smallest weight of each group of parallel edges
    key = lo * n + hi
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    w = np.minimum.reduceat(w[order], starts) if len(starts) else w[:0]
    lo, hi = np.divmod(key[starts], n)
    rows = np.concatenate([lo, hi])
    cols = np.concatenate([hi, lo])
    data = np.concatenate([w, w])
    order = np.argsort(rows * n + cols, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    index_type = np.int32 if max(n, len(rows)) < np.iinfo(np.int32).max else np.int64
    return sparse.csr_matrix(
        (data[order], cols[order].astype(index_type), indptr.astype(index_type)), shape=(n, n)
    )


def utm_crs(lon: float, lat: float) -> pyproj.CRS:
    """The WGS 84 / UTM zone CRS containing ``(lon, lat)``.

    Examples
    --------
    >>> utm_crs(76.9, 43.25).to_epsg()  # Almaty
    32643
    """
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


# ---------------------------------------------------------------------------------------------
# building the graph from ways


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

    used = np.unique(np.concatenate([eu, ev]))
    remap = np.full(len(uniq), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    node_xy = np.empty((len(uniq), 2))
    node_xy[inverse] = xy
    return _finish(
        node_ids=uniq[used],
        node_xy=node_xy[used],
        edge_u=remap[eu],
        edge_v=remap[ev],
        geoms=geoms,
        osmid=ways.way_id[e_run],
        highway=ways.highway[e_run],
        crs=crs,
        keep_largest=keep_largest,
        source=source,
    )


def _finish(
    *,
    node_ids: np.ndarray,
    node_xy: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    geoms: np.ndarray,
    osmid: np.ndarray,
    highway: np.ndarray,
    crs: pyproj.CRS,
    keep_largest: bool,
    source: str,
) -> WalkNetwork:
    """Keep the largest connected component (reporting the rest) and wrap in a WalkNetwork."""
    dropped = DroppedReport(0, 0, 0, 0.0, 0.0)
    if keep_largest and len(node_ids) > 0:
        length = shapely.length(geoms)
        adj = symmetric_csr(edge_u, edge_v, length, len(node_ids))
        n_comp, labels = connected_components(adj, directed=False)
        if n_comp > 1:
            sizes = np.bincount(labels)
            main = int(np.argmax(sizes))
            keep_node = labels == main
            keep_edge = keep_node[edge_u]
            remap = np.full(len(node_ids), -1, dtype=np.int64)
            remap[keep_node] = np.arange(int(keep_node.sum()))
            total = float(length.sum())
            lost = float(length[~keep_edge].sum())
            dropped = DroppedReport(
                components=int(n_comp - 1),
                nodes=int((~keep_node).sum()),
                edges=int((~keep_edge).sum()),
                length_m=lost,
                length_share=lost / total if total > 0 else 0.0,
            )
            node_ids, node_xy = node_ids[keep_node], node_xy[keep_node]
            edge_u, edge_v = remap[edge_u[keep_edge]], remap[edge_v[keep_edge]]
            geoms, osmid, highway = geoms[keep_edge], osmid[keep_edge], highway[keep_edge]
    net = WalkNetwork(
        node_ids,
        node_xy,
        edge_u,
        edge_v,
        geoms,
        crs,
        edge_osmid=osmid,
        edge_highway=highway,
        source=source,
        dropped=dropped,
    )
    log.info("%s", net.summary())
    return net


def from_osmnx_graph(
    graph: Any, *, crs: Any = None, keep_largest: bool = True, source: str = "osmnx graph"
) -> WalkNetwork:
    """Convert an osmnx graph (unprojected, as osmnx downloads it) to a :class:`WalkNetwork`.

    Both directions of a two-way street become one undirected edge; parallel streets between the
    same two nodes stay separate edges.

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
    """
    node_list = list(graph.nodes)
    if not node_list or graph.number_of_edges() == 0:
        raise input_error(
            f"network source {source}",
            "the area has no walkable streets",
            "Choose a larger area or check the place name",
        )
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

    seen: set[tuple[int, int, frozenset[Any], float]] = set()
    us: list[int] = []
    vs: list[int] = []
    geoms: list[Any] = []
    osmids: list[int] = []
    highways: list[str] = []
    for u, v, data in graph.edges(data=True):
        iu, iv = pos[u], pos[v]
        geom = data.get("geometry")
        coords = (
            np.asarray(geom.coords)
            if geom is not None
            else np.array([[graph.nodes[u]["x"], graph.nodes[u]["y"]],
                           [graph.nodes[v]["x"], graph.nodes[v]["y"]]])
        )
        osmid = data.get("osmid", -1)
        # a simplified edge lists its ways in walking order, so the two directions of one street
        # list them in opposite orders: compare them as a set
        ways = frozenset(osmid) if isinstance(osmid, list) else frozenset([osmid])
        if isinstance(osmid, list):
            osmid = min(osmid)
        key = (min(iu, iv), max(iu, iv), ways, round(float(data.get("length", 0.0)), 3))
        if key in seen:
            continue
        seen.add(key)
        gx, gy = tf.transform(coords[:, 0], coords[:, 1])
        line = np.column_stack([gx, gy])
        line[0], line[-1] = node_xy[iu], node_xy[iv]
        us.append(iu)
        vs.append(iv)
        geoms.append(shapely.linestrings(line))
        osmids.append(int(osmid))
        hw = data.get("highway", "")
        highways.append(hw[0] if isinstance(hw, list) else str(hw))
    eu = np.asarray(us, dtype=np.int64)
    ev = np.asarray(vs, dtype=np.int64)
    used = np.unique(np.concatenate([eu, ev]))
    remap = np.full(len(node_list), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return _finish(
        node_ids=np.asarray(node_list, dtype=np.int64)[used],
        node_xy=node_xy[used],
        edge_u=remap[eu],
        edge_v=remap[ev],
        geoms=np.asarray(geoms, dtype=object),
        osmid=np.asarray(osmids, dtype=np.int64),
        highway=np.asarray(highways, dtype=object),
        crs=crs,
        keep_largest=keep_largest,
        source=source,
    )


# ---------------------------------------------------------------------------------------------
# loading with a cache


def _is_osm_path(source: str | os.PathLike[str]) -> bool:
    s = str(source).lower()
    return isinstance(source, os.PathLike) or s.endswith(OSM_SUFFIXES) or Path(s).exists()


def load_network(
    source: str | os.PathLike[str] | shapely.Geometry | Sequence[float],
    *,
    crs: Any = None,
    keep_largest: bool = True,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    foot_cycleways: bool | None = None,
) -> WalkNetwork:
    """Load the walking network of an OSM extract or of an area fetched online.

    Parameters
    ----------
    source
        One of: a path to an ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file (read offline with
        pyosmium); a place name such as ``"Almaty, Kazakhstan"``; a shapely (Multi)Polygon in
        EPSG:4326; or a bounding box ``(west, south, east, north)`` in degrees. The last three are
        fetched online through osmnx with its ``"walk"`` network type.
    crs
        Projected CRS for the network; default the UTM zone of the network's centre.
    keep_largest
        Keep only the largest connected component; what is dropped is reported in
        ``network.dropped`` and logged.
    cache
        Read and write the on-disk cache; default :data:`walkshed.settings.use_cache`. The key
        is the file's content hash (or the query) and these settings. A stale or unreadable
        entry is rebuilt.
    cache_dir
        Cache folder; default :data:`walkshed.settings.cache_dir`.
    foot_cycleways
        Also walk ``highway=cycleway`` ways tagged ``foot=yes|designated|permissive`` (shared
        paths), which osmnx's ``"walk"`` filter drops; default
        :data:`walkshed.settings.walk_cycleways_with_foot_access`. Part of the cache key.

    Returns
    -------
    WalkNetwork
    """
    use_cache = settings.use_cache if cache is None else cache
    folder = Path(cache_dir) if cache_dir is not None else Path(settings.cache_dir)
    shared_paths = (
        settings.walk_cycleways_with_foot_access if foot_cycleways is None else foot_cycleways
    )
    crs_key = None if crs is None else pyproj.CRS.from_user_input(crs).to_wkt()
    settings_key = {
        "filter": WALK_FILTER_VERSION,
        "format": _CACHE_FORMAT,
        "crs": crs_key,
        "keep_largest": keep_largest,
        "foot_cycleways": shared_paths,
    }

    if isinstance(source, (str, os.PathLike)) and _is_osm_path(source):
        path = Path(source)
        from ._osm import check_osm_file

        check_osm_file(path)
        key_src = {"file_sha256": _file_hash(path)}

        def build() -> WalkNetwork:
            return network_from_ways(
                read_walk_ways(path, foot_cycleways=shared_paths),
                crs=crs,
                keep_largest=keep_largest,
                source=path.name,
            )
    else:
        key_src = {"query": _query_key(source)}

        def build() -> WalkNetwork:
            return _fetch_online(
                source, crs=crs, keep_largest=keep_largest, foot_cycleways=shared_paths
            )

    if not use_cache:
        return build()
    key = hashlib.sha256(json.dumps([key_src, settings_key], sort_keys=True).encode()).hexdigest()
    entry = folder / f"network-{key[:32]}.npz"
    if entry.exists():
        try:
            net = read_cache(entry)
            log.info("network from cache %s", entry)
            return net
        except Exception as exc:  # any unreadable entry is rebuilt, never trusted
            log.warning("cache entry %s unreadable (%s); rebuilding", entry, exc)
    net = build()
    try:
        write_cache(net, entry)
    except OSError as exc:
        log.warning("could not write network cache %s: %s", entry, exc)
    return net


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _query_key(source: Any) -> str:
    if isinstance(source, shapely.Geometry):
        return "wkt:" + shapely.to_wkt(source, rounding_precision=7)
    if isinstance(source, str):
        return "place:" + source.strip()
    try:
        return "bbox:" + ",".join(f"{float(c):.7f}" for c in source)
    except (TypeError, ValueError) as exc:
        raise input_error(
            f"network source {source!r}",
            "is neither a file, a place name, a polygon nor a bounding box",
            "Give a path to an .osm.pbf file, a place name, a shapely polygon in EPSG:4326 or "
            "(west, south, east, north)",
        ) from exc


def _fetch_online(
    source: Any, *, crs: Any, keep_largest: bool, foot_cycleways: bool = False
) -> WalkNetwork:
    """Fetch through osmnx (its own HTTP cache applies) and convert. Kept thin on purpose.

    With ``foot_cycleways`` the shared paths are queried next to osmnx's "walk" filter.
    """
    import osmnx as ox
    import requests

    opts: dict[str, Any] = {"network_type": "walk", "retain_all": True}
    if foot_cycleways:
        from osmnx import _overpass

        opts["custom_filter"] = [
            _overpass._get_network_filter("walk"),
            foot_cycleway_overpass_filter(),
        ]

    try:
        if isinstance(source, shapely.Geometry):
            graph = ox.graph_from_polygon(
cast(Any, source), **opts)
            desc = "polygon"
        elif isinstance(source, str):
            graph = ox.graph_from_place(source, **opts)
            desc = source
        else:
            west, south, east, north = (float(c) for c in source)
            if not (west < east and south < north):
                raise input_error(
                    f"bounding box {tuple(source)}",
                    "is not (west, south, east, north) with west < east and south < north",
                    "Give the box in that order, in degrees",
                )
            graph = ox.graph_from_bbox((west, south, east, north), **opts)
            desc = f"bbox {west:.4f},{south:.4f},{east:.4f},{north:.4f}"
    except InputError:
        raise
    except (ox._errors.InsufficientResponseError, ValueError) as exc:
        raise input_error(
            f"network source {source!r}",
            f"OpenStreetMap returned no walkable streets for it ({exc})",
            "Check the place name (try the form 'City, Country') or use a larger area",
        ) from exc
    except (requests.RequestException, OSError) as exc:  # offline, timeout, server down
        raise input_error(
            f"network source {source!r}",
            f"could not download it from OpenStreetMap ({exc.__class__.__name__}: {exc})",
            "Check the internet connection, or give a local .osm.pbf extract instead",
        ) from exc
    return from_osmnx_graph(graph, crs=crs, keep_largest=keep_largest, source=f"osmnx {desc}")


def write_cache(net: WalkNetwork, path: Path) -> None:
    """Write a network to ``path`` (``.npz``) atomically (see :func:`walkshed.io.atomic_path`)."""
    coords = shapely.get_coordinates(net.edge_geometry)
    ncoord = shapely.get_num_coordinates(net.edge_geometry)
    meta = {
        "format": _CACHE_FORMAT,
        "crs": net.crs.to_wkt(),
        "source": net.source,
        "dropped": asdict(net.dropped),
    }
    # a file handle, not a name: np.savez would append ".npz" to a name without it
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            meta=np.array(json.dumps(meta)),
            node_ids=net.node_ids,
            node_xy=net.node_xy,
            edge_u=net.edge_u,
            edge_v=net.edge_v,
            edge_osmid=net.edge_osmid,
            edge_highway=net.edge_highway.astype(str),
            coords=coords,
            ncoord=ncoord,
        )


def read_cache(path: Path) -> WalkNetwork:
    """Read a network written by :func:`write_cache`; raises on any inconsistency."""
    # open the file here: np.load leaks its own handle when the file is empty or not an npz
    with path.open("rb") as f, np.load(f, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != _CACHE_FORMAT:
            raise ValueError("old cache format")
        ncoord = z["ncoord"]
        geoms = shapely.linestrings(
            z["coords"], indices=np.repeat(np.arange(len(ncoord)), ncoord)
        )
        net = WalkNetwork(
            z["node_ids"],
            z["node_xy"],
            z["edge_u"],
            z["edge_v"],
            geoms,
            meta["crs"],
            edge_osmid=z["edge_osmid"],
            edge_highway=z["edge_highway"].astype(object),
            source=meta["source"],
            dropped=DroppedReport(**meta["dropped"]),
        )
    if len(net.edge_geometry) != net.n_edges or (
        net.n_edges and max(net.edge_u.max(), net.edge_v.max()) >= net.n_nodes
    ):
        raise ValueError("inconsistent cache entry")
    return net


def to_networkx(net: WalkNetwork) -> Any:
    """The network as an undirected ``networkx.MultiGraph`` (for checks and interop, not speed).

    Nodes are positions ``0 .. n-1`` with ``x``, ``y``; edges carry ``length`` and ``key`` equal
    to the edge position.
    """
    import networkx as nx

    g = nx.MultiGraph()
    g.add_nodes_from(
        (i, {"x": float(x), "y": float(y)}) for i, (x, y) in enumerate(net.node_xy)
    )
    g.add_edges_from(
        (int(u), int(v), int(k), {"length": float(w)})
        for k, (u, v, w) in enumerate(zip(net.edge_u, net.edge_v, net.edge_length, strict=True))
    )
    return g


def edges_frame(net: WalkNetwork) -> pd.DataFrame:
    """Edges without geometry (cheap), for joins."""
    return pd.DataFrame({"u": net.edge_u, "v": net.edge_v, "length_m": net.edge_length})
