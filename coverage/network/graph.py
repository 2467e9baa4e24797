"""The walking network type: :class:`WalkNetwork`, its adjacency, and views of it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse

from .segments import SegmentIndex

__all__ = ["DroppedReport", "WalkNetwork", "edges_frame", "symmetric_csr", "to_networkx"]


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
    edge_name
        The street name of every edge where the source gave one (an osmnx graph's ``name``;
        ``""`` otherwise; a network read from a file leaves names to the extract, see
        :mod:`walkshed.siting.places`).
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
        edge_name: np.ndarray | None = None,
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
        self.edge_name = (
            np.full(m, "", dtype=object) if edge_name is None
            else np.asarray(edge_name, dtype=object)
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
        """The straight segments of all edge geometries in a grid of cells (for fast snapping)."""
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
