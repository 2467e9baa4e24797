"""Walking distances from facilities to demand points, in compiled code.

Distances follow DESIGN.md: each point sits on its nearest street segment at an exact offset,
plus its straight access distance; the distance between two points is the shortest path in the
graph where both snapped positions are inserted as nodes on their edges. Here the insertion is
done without copying the graph: every facility becomes a virtual source node joined to the two
ends of its edge, one ``scipy.sparse.csgraph.dijkstra`` call runs from all of them, and each
demand point reads the distances of its own edge's two ends. Two points on the same edge also
get the direct path along that edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from .network import WalkNetwork
from .snap import Snapped, snap_points

__all__ = [
    "NearestResult",
    "coverage_matrix",
    "nearest_facility",
    "nearest_from_nodes",
    "nearest_precinct",
    "node_distances",
]


def _with_sources(network: WalkNetwork, sources: Snapped) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The adjacency extended by one virtual node per snapped source.

    Returns the ``(n + k) x (n + k)`` matrix and the virtual node index of each source (sources
    that were not snapped get ``-1`` and no node). The virtual nodes only have edges *out* of
    them (to the two ends of their edge), so the matrix is meant for a directed search from
    them; the street part stays symmetric. Nothing of the street part is re-sorted: its CSR
    arrays are reused with the new rows appended.
    """
    ok = np.flatnonzero(sources.ok)
    n = network.n_nodes
    k = len(ok)
    e = sources.edge[ok]
    t = sources.offset_m[ok]
    a = sources.access_m[ok]
    u = network.edge_u[e]
    v = network.edge_v[e]
    to_u = a + t
    to_v = a + (network.edge_length[e] - t)
    loop = u == v  # a source on a loop reaches its one node by the shorter way round
    to_u[loop] = np.minimum(to_u[loop], to_v[loop])
    # row i: (u_i, to_u_i) and, unless a loop, (v_i, to_v_i)
    count = np.where(loop, 1, 2)
    cols = np.column_stack([u, v]).ravel()[np.column_stack([np.ones(k, bool), ~loop]).ravel()]
    data = np.column_stack([to_u, to_v]).ravel()[np.column_stack([np.ones(k, bool), ~loop]).ravel()]
    adj = network.adjacency
    base = adj.indptr[-1]
    indptr = np.concatenate([adj.indptr.astype(np.int64), base + np.cumsum(count)])
    indices = np.concatenate([adj.indices.astype(np.int64), cols])
    size = n + k
    index_type = np.int32 if max(size, len(indices)) < np.iinfo(np.int32).max else np.int64
    ext = sparse.csr_matrix(
        (
            np.concatenate([adj.data, data]),
            indices.astype(index_type),
            indptr.astype(index_type),
        ),
        shape=(size, size),
    )
    node_of = np.full(len(sources), -1, dtype=np.int64)
    node_of[ok] = n + np.arange(k)
    return ext, node_of


def _add_edges(
    adj: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray, w: np.ndarray, size: int
) -> sparse.csr_matrix:
    """``adj`` grown to ``size`` with extra symmetric edges (smallest weight kept)."""
    coo = adj.tocoo()
    r = np.concatenate([coo.row, rows, cols])
    c = np.concatenate([coo.col, cols, rows])
    d = np.concatenate([coo.data, w, w])
    order = np.lexsort((d, c, r))
    r, c, d = r[order], c[order], d[order]
    first = np.ones(len(r), dtype=bool)
    first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    r, c, d = r[first], c[first], d[first]
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.add.at(indptr, r + 1, 1)
    np.cumsum(indptr, out=indptr)
    return sparse.csr_matrix((d, c.astype(np.int32), indptr.astype(np.int32)), shape=(size, size))


def node_distances(
    network: WalkNetwork, sources: Snapped, *, max_distance_m: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from every node to its nearest source, and which source that is.

    One multi-source Dijkstra from all sources at once.

    Returns
    -------
    dist : ndarray
        ``(n_nodes,)`` walking distance in metres including the source's access distance;
        ``inf`` beyond ``max_distance_m`` or unreachable.
    source : ndarray
        ``(n_nodes,)`` position of the nearest source in ``sources``; ``-1`` where unreachable.
    """
    n = network.n_nodes
    if not sources.ok.any():
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    ext, node_of = _with_sources(network, sources)
    virt = node_of[node_of >= 0]
    limit = np.inf if max_distance_m is None else float(max_distance_m)
    dist, _, src = dijkstra(
        ext, directed=True, indices=virt, limit=limit, min_only=True, return_predecessors=True
    )
    # map virtual node index -> position in `sources`
    pos_of_virt = np.full(ext.shape[0], -1, dtype=np.int64)
    pos_of_virt[virt] = np.flatnonzero(node_of >= 0)
    src = np.where(src >= 0, pos_of_virt[np.maximum(src, 0)], -1)
    return dist[:n], src[:n]


def _same_edge_pairs(
    sources: Snapped, points: Snapped
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (source, point) pairs on the same edge with their direct along-edge distance."""
    s_ok = np.flatnonzero(sources.ok)
    p_ok = np.flatnonzero(points.ok)
    if len(s_ok) == 0 or len(p_ok) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    # only points on an edge that holds a source can pair up (a cheap filter first)
    on_source_edge = np.zeros(int(max(sources.edge.max(), points.edge.max())) + 1, dtype=bool)
    on_source_edge[sources.edge[s_ok]] = True
    p_ok = p_ok[on_source_edge[points.edge[p_ok]]]
    # sources sorted by edge; each point takes the run of sources on its own edge
    order = np.argsort(sources.edge[s_ok], kind="stable")
    s_sorted = s_ok[order]
    e_sorted = sources.edge[s_sorted]
    p_edge = points.edge[p_ok]
    lo = np.searchsorted(e_sorted, p_edge, side="left")
    count = np.searchsorted(e_sorted, p_edge, side="right") - lo
    p = np.repeat(p_ok, count)
    skip = np.repeat(np.cumsum(count) - count, count)
    s = s_sorted[np.repeat(lo, count) + (np.arange(len(p)) - skip)]
    d = (
        sources.access_m[s]
        + np.abs(sources.offset_m[s] - points.offset_m[p])
        + points.access_m[p]
    )
    return s, p, d


@dataclass(frozen=True)
class NearestResult:
    """Distance from each point to its nearest facility, by position."""

    distance_m: np.ndarray  # inf where unreachable
    facility: np.ndarray  # position in the facilities, -1 where unreachable
    access_m: np.ndarray  # the point's own access distance (inf where not snapped)


def nearest_facility(
    network: WalkNetwork,
    facilities: Snapped,
    points: Snapped,
    *,
    max_distance_m: float | None = None,
) -> NearestResult:
    """Nearest facility of every point, on already snapped inputs (array API).

    Parameters
    ----------
    network
        The walking network.
    facilities, points
        Snapped facilities and demand points.
    max_distance_m
        Search bound; farther points get ``inf`` and ``-1``.

    Returns
    -------
    NearestResult
    """
    dist_node, src_node = node_distances(network, facilities, max_distance_m=max_distance_m)
    return nearest_from_nodes(network, facilities, points, dist_node, src_node,
                              max_distance_m=max_distance_m)


def nearest_from_nodes(
    network: WalkNetwork,
    facilities: Snapped,
    points: Snapped,
    dist_node: np.ndarray,
    src_node: np.ndarray,
    *,
    max_distance_m: float | None = None,
) -> NearestResult:
    """:func:`nearest_facility` from distances already searched (:func:`node_distances` of the
    same ``facilities``): many sets of points read one search.

    Parameters
    ----------
    network
        The walking network.
    facilities, points
        Snapped facilities and demand points.
    dist_node, src_node
        What :func:`node_distances` returned for ``facilities``.
    max_distance_m
        Bound the search used; farther points get ``inf`` and ``-1``.

    Returns
    -------
    NearestResult
    """
    n_pts = len(points)
    dist = np.full(n_pts, np.inf)
    fac = np.full(n_pts, -1, dtype=np.int64)
    ok = np.flatnonzero(points.ok)
    if len(ok):
        e = points.edge[ok]
        u = network.edge_u[e]
        v = network.edge_v[e]
        t = points.offset_m[ok]
        via_u = dist_node[u] + t
        via_v = dist_node[v] + (network.edge_length[e] - t)
        use_v = via_v < via_u
        best = np.where(use_v, via_v, via_u)
        dist[ok] = best + points.access_m[ok]
        fac[ok] = np.where(use_v, src_node[v], src_node[u])
        fac[ok[~np.isfinite(best)]] = -1
    s, p, d = _same_edge_pairs(facilities, points)
    if len(s):
        order = np.lexsort((s, d, p))  # per point: smallest distance, then lowest facility
        s, p, d = s[order], p[order], d[order]
        first = np.ones(len(p), dtype=bool)
        first[1:] = p[1:] != p[:-1]
        s, p, d = s[first], p[first], d[first]
        better = d < dist[p]
        dist[p[better]] = d[better]
        fac[p[better]] = s[better]
    if max_distance_m is not None:
        beyond = dist > max_distance_m
        dist[beyond] = np.inf
        fac[beyond] = -1
    return NearestResult(dist, fac, points.access_m.copy())


def nearest_precinct(
    network: WalkNetwork,
    precincts: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    max_distance_m: float | None = None,
    max_snap_m: float | None = None,
) -> pd.DataFrame:
    """Walking distance from every point to its nearest precinct, and which precinct it is.

    Parameters
    ----------
    network
        The walking network (:func:`walkshed.load_network`).
    precincts
        Precinct locations, any CRS. Precincts farther than ``max_snap_m`` from a street (or
        whose nearest street was dropped with a disconnected piece) cannot be reached.
    points
        Residents, buildings or any points, any CRS.
    max_distance_m
        Search bound in metres (e.g. the largest threshold); points farther get ``inf``. Bounding
        makes the search faster on large networks. Default: no bound.
    max_snap_m
        Largest access distance at either end; default :data:`walkshed.settings.max_snap_m`.

    Returns
    -------
    pandas.DataFrame
        Aligned with ``points``: ``distance_m`` (walking distance including the access distance
        at both ends; ``inf`` when unreachable), ``precinct`` (index label of the nearest
        precinct, ``None`` when unreachable) and ``access_m`` (the point's own straight distance
        to the street; ``inf`` when farther than ``max_snap_m``).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from walkshed import load_network, nearest_precinct  # doctest: +SKIP
    >>> net = load_network("almaty.osm.pbf")  # doctest: +SKIP
    >>> nearest_precinct(net, police, buildings).distance_m.describe()  # doctest: +SKIP
    """
    fac = snap_points(network, precincts, max_snap_m=max_snap_m, what="precincts")
    pts = snap_points(network, points, max_snap_m=max_snap_m, what="points")
    res = nearest_facility(network, fac, pts, max_distance_m=max_distance_m)
    labels = np.asarray(precincts.index, dtype=object)
    precinct = np.where(res.facility >= 0, labels[np.maximum(res.facility, 0)], None)
    return pd.DataFrame(
        {
            "distance_m": res.distance_m,
            # object dtype: pandas would otherwise infer a string column and turn None into NaN
            "precinct": pd.Series(precinct, index=points.index, dtype=object),
            "access_m": res.access_m,
        },
        index=points.index,
    )


# ---------------------------------------------------------------------------------------------
# many sources: bounded searches, one per source, on small pieces of the graph


def _tiles(xy: np.ndarray, size: float) -> Iterator[np.ndarray]:
    """Groups of positions (indices into ``xy``) falling in the same square tile."""
    cell = np.floor(xy / size).astype(np.int64)
    order = np.lexsort((cell[:, 1], cell[:, 0]))
    c = cell[order]
    cut = np.flatnonzero((c[1:] != c[:-1]).any(axis=1)) + 1
    yield from np.split(order, cut)


def _induced(adj: sparse.csr_matrix, nodes: np.ndarray, local_of: np.ndarray
             ) -> sparse.csr_matrix:
    """``adj[nodes][:, nodes]`` for sorted ``nodes``, without scipy's column indexing (which
    allocates arrays as long as the whole graph on every call). ``local_of`` is an all ``-1``
    scratch array of length ``n_nodes``; it is left that way."""
    m = len(nodes)
    starts = adj.indptr[nodes].astype(np.int64)
    lens = adj.indptr[nodes + 1].astype(np.int64) - starts
    total = int(lens.sum())
    idx = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total)
    local_of[nodes] = np.arange(m)
    col = local_of[adj.indices[idx]]
    local_of[nodes] = -1
    keep = col >= 0
    row = np.repeat(np.arange(m), lens)[keep]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(indptr, row + 1, 1)
    np.cumsum(indptr, out=indptr)
    return sparse.csr_matrix((adj.data[idx][keep], col[keep], indptr), shape=(m, m))


def bounded_searches(
    network: WalkNetwork,
    sources: Snapped,
    max_distance_m: float,
    *,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Bounded shortest-path searches from each source, yielded piece by piece.

    Sources are grouped by square tiles; for each group the search runs on the part of the
    graph within ``max_distance_m`` (straight line) of the group, which contains every node a
    walk of that length can reach, so the result is exact while each search stays small.

    Yields
    ------
    source_pos : ndarray
        Positions (in ``sources``) of the sources of this piece, ``(k,)``.
    nodes : ndarray
        Global node positions of the piece's subgraph, ``(m,)``.
    dist : ndarray
        ``(k, m)`` distances from each source to each subgraph node (``inf`` beyond the bound).
    """
    ok = np.flatnonzero(sources.ok)
    if len(ok) == 0:
        return
    r = float(max_distance_m)
    node_xy = network.node_xy
    tile = max(r, 250.0)
    adj = network.adjacency
    # nodes sorted by x once: each piece scans only the strip of its box, not every node
    by_x = np.argsort(node_xy[:, 0], kind="stable")
    xs = node_xy[by_x, 0]
    local_of = np.full(network.n_nodes, -1, dtype=np.int64)
    for group in _tiles(sources.xy[ok], tile):
        for start in range(0, len(group), chunk):
            pos = ok[group[start:start + chunk]]
            sxy = sources.xy[pos]
            lo = sxy.min(axis=0) - r
            hi = sxy.max(axis=0) + r
            strip = by_x[np.searchsorted(xs, lo[0], side="left"):
                         np.searchsorted(xs, hi[0], side="right")]
            ys = node_xy[strip, 1]
            inside = strip[(ys >= lo[1]) & (ys <= hi[1])]
            # the source edges' end nodes belong to the piece even when just outside the box
            e = sources.edge[pos]
            nodes = np.union1d(inside, np.concatenate([network.edge_u[e], network.edge_v[e]]))
            m = len(nodes)
            sub = _induced(adj, nodes, local_of)
            local = np.searchsorted(nodes, np.concatenate([network.edge_u[e], network.edge_v[e]]))
            k = len(pos)
            virt = m + np.arange(k)
            t = sources.offset_m[pos]
            a = sources.access_m[pos]
            w = np.concatenate([a + t, a + network.edge_length[e] - t])
            ext = _add_edges(sub.tocsr(), np.concatenate([virt, virt]), local, w, m + k)
            d = dijkstra(ext, directed=True, indices=virt, limit=r)
            if progress is not None:
                progress(k)
            yield pos, nodes, d[:, :m]


def coverage_matrix(
    network: WalkNetwork,
    sites: Snapped,
    demand: Snapped,
    max_distance_m: float,
    *,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
) -> sparse.csr_matrix:
    """Which demand points each site reaches within ``max_distance_m``, with the distance.

    Memory grows with the number of covered pairs, not sites x demand points.

    Parameters
    ----------
    network
        The walking network.
    sites, demand
        Snapped candidate sites and demand points.
    max_distance_m
        Coverage distance in metres (access distances at both ends included).
    chunk
        Sites searched together; bounds the memory of one step.
    progress
        Called with the number of sites finished after each step.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_sites, n_demand)``; entry ``(i, j)`` is stored when site ``i`` reaches point ``j``
        and holds the walking distance. A stored zero is a real distance of zero: use the
        sparsity pattern, not the values, to test coverage.
    """
    r = float(max_distance_m)
    d_ok = np.flatnonzero(demand.ok & (demand.access_m <= r))
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    if len(d_ok):
        dxy = demand.xy[d_ok]
        de = demand.edge[d_ok]
        du = network.edge_u[de]
        dv = network.edge_v[de]
        dt = demand.offset_m[d_ok]
        drest = network.edge_length[de] - dt
        da = demand.access_m[d_ok]
        order = np.argsort(dxy[:, 0], kind="stable")
        xs = dxy[order, 0]
        for pos, nodes, dist in bounded_searches(
            network, sites, r, chunk=chunk, progress=progress
        ):
            sxy = sites.xy[pos]
            lo = sxy.min(axis=0) - r
            hi = sxy.max(axis=0) + r
            a, b = np.searchsorted(xs, [lo[0], hi[0]], side="left")
            cand = order[a:b]
            cand = cand[(dxy[cand, 1] >= lo[1]) & (dxy[cand, 1] <= hi[1])]
            if len(cand) == 0:
                continue
            lu = np.searchsorted(nodes, du[cand])
            lv = np.searchsorted(nodes, dv[cand])
            lu_ok = (lu < len(nodes)) & (nodes[np.minimum(lu, len(nodes) - 1)] == du[cand])
            lv_ok = (lv < len(nodes)) & (nodes[np.minimum(lv, len(nodes) - 1)] == dv[cand])
            inf_col = np.full((len(pos), 1), np.inf)
            dist_x = np.hstack([dist, inf_col])
            lu = np.where(lu_ok, lu, len(nodes))
            lv = np.where(lv_ok, lv, len(nodes))
            total = np.minimum(dist_x[:, lu] + dt[cand], dist_x[:, lv] + drest[cand]) + da[cand]
            si, pj = np.nonzero(total <= r)
            rows.append(pos[si])
            cols.append(d_ok[cand[pj]])
            vals.append(total[si, pj])
    s, p, d = _same_edge_pairs(sites, demand)
    keep = d <= r
    rows.append(s[keep])
    cols.append(p[keep])
    vals.append(d[keep])
    r_all = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    c_all = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    v_all = np.concatenate(vals) if vals else np.empty(0)
    order = np.lexsort((v_all, c_all, r_all))
    r_all, c_all, v_all = r_all[order], c_all[order], v_all[order]
    first = np.ones(len(r_all), dtype=bool)
    first[1:] = (r_all[1:] != r_all[:-1]) | (c_all[1:] != c_all[:-1])
    r_all, c_all, v_all = r_all[first], c_all[first], v_all[first]
    indptr = np.zeros(len(sites) + 1, dtype=np.int64)
    np.add.at(indptr, r_all + 1, 1)
    np.cumsum(indptr, out=indptr)
    return sparse.csr_matrix((v_all, c_all, indptr), shape=(len(sites), len(demand)))
