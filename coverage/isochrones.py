"""Walking areas: the streets reached from each precinct, drawn as polygons for the map.

For every precinct and threshold the street network is walked exactly as :mod:`walkshed.reach`
measures it: the precinct is placed on its nearest street at the exact offset, with its access
distance; every street segment whose both ends are within the threshold is reached whole; a
segment reached only part-way is cut at the exact remaining distance from each reached end; the
precinct's own segment is reached on both sides of its snapped position. The reached pieces are
buffered by a set width (the depth of a street-front block, so the houses along a reached street
fall inside) and dissolved, holes kept. A concave hull of the same pieces is available as an
option. A convex hull is never used: it would paint parks, rivers and railway yards as reached.

These polygons are for drawing only. Coverage is always counted on demand points by walking
distance (:mod:`walkshed.reach`), never by point-in-polygon.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import _common, settings
from ._errors import input_error
from .network import WalkNetwork
from .reach import bounded_searches
from .snap import Snapped, snap_points

__all__ = [
    "dissolve_walking_areas",
    "line_substrings",
    "reached_segments",
    "walking_areas",
]

#: Arc segments per quarter circle of the buffers: the areas are for display, so a coarser round
#: end (chords lie inside the exact buffer) keeps them small and fast to build.
_QUAD_SEGS = 3


def line_substrings(lines: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The parts of many lines between two distances along each, in one vectorised pass.

    Parameters
    ----------
    lines
        Array of shapely LineStrings.
    start, end
        Distances along each line (same length as ``lines``), ``0 <= start < end <= length``;
        values outside are clipped to the line.

    Returns
    -------
    numpy.ndarray
        LineStrings from ``start`` to ``end`` along each line, following its vertices.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> line = shapely.LineString([(0, 0), (10, 0), (10, 10)])
    >>> line_substrings(np.array([line]), np.array([5.0]), np.array([15.0]))[0].wkt
    'LINESTRING (5 0, 10 0, 10 5)'
    """
    lines = np.asarray(lines, dtype=object)
    n = len(lines)
    if n == 0:
        return np.empty(0, dtype=object)
    length = shapely.length(lines)
    a = np.clip(np.asarray(start, dtype=float), 0.0, length)
    b = np.clip(np.asarray(end, dtype=float), 0.0, length)
    coords, which = shapely.get_coordinates(lines, return_index=True)
    step = np.zeros(len(coords))
    same = which[1:] == which[:-1]
    step[1:] = np.where(same, np.hypot(*(coords[1:] - coords[:-1]).T), 0.0)
    cum = np.cumsum(step)
    first = np.searchsorted(which, np.arange(n))
    cum -= cum[first][which]
    inner = (cum > a[which]) & (cum < b[which])
    pa = shapely.get_coordinates(shapely.line_interpolate_point(lines, a))
    pb = shapely.get_coordinates(shapely.line_interpolate_point(lines, b))
    ids = np.concatenate([np.arange(n), which[inner], np.arange(n)])
    key = np.concatenate([a, cum[inner], b])
    # ties (a vertex exactly at a cut is excluded above) cannot occur; order by id then distance
    order = np.lexsort((key, ids))
    xy = np.concatenate([pa, coords[inner], pb])[order]
    return np.asarray(shapely.linestrings(xy, indices=ids[order]), dtype=object)


def _thresholds(
    thresholds_min: Sequence[float] | None,
    thresholds_m: Sequence[float] | None,
    walk_speed_kmh: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds in metres and minutes, sorted ascending (:func:`walkshed._common.thresholds`)."""
    t = _common.thresholds(thresholds_min, thresholds_m, walk_speed_kmh)
    return t.metres, t.minutes


def _reached_pieces(
    network: WalkNetwork, snapped: Snapped, thresholds_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every reached piece of street: (source position, threshold index, LineString, edge).

    Pieces of one (source, threshold) may overlap (a segment reached from both ends, or the
    source's own segment); the buffer dissolves them.
    """
    n = network.n_nodes
    eu, ev, elen, egeom = (
        network.edge_u, network.edge_v, network.edge_length, network.edge_geometry
    )
    r_max = float(thresholds_m[-1])
    out_src: list[np.ndarray] = []
    out_thr: list[np.ndarray] = []
    out_geom: list[np.ndarray] = []
    out_edge: list[np.ndarray] = []
    # partial pieces are cut together at the end: (edge, start, end) with their group
    cut_src: list[np.ndarray] = []
    cut_thr: list[np.ndarray] = []
    cut_edge: list[np.ndarray] = []
    cut_a: list[np.ndarray] = []
    cut_b: list[np.ndarray] = []
    local = np.full(n, -1, dtype=np.int64)
    for pos, nodes, dist in bounded_searches(network, snapped, r_max):
        local[nodes] = np.arange(len(nodes))
        lu, lv = local[eu], local[ev]
        cand = np.flatnonzero((lu >= 0) | (lv >= 0))
        local[nodes] = -1
        m = len(nodes)
        dist_x = np.hstack([dist, np.full((len(pos), 1), np.inf)])
        cu = np.where(lu[cand] >= 0, lu[cand], m)
        cv = np.where(lv[cand] >= 0, lv[cand], m)
        du = dist_x[:, cu]
        dv = dist_x[:, cv]
        si, ci = np.nonzero(np.minimum(du, dv) < r_max)
        e = cand[ci]
        du_p, dv_p, length = du[si, ci], dv[si, ci], elen[e]
        src = pos[si]
        for ti, t in enumerate(thresholds_m):
            ru = t - du_p  # remaining budget on entering the edge at u (may be negative)
            rv = t - dv_p
            whole = np.maximum(ru, 0.0) + np.maximum(rv, 0.0) >= length
            hit = (ru > 0) | (rv > 0)
            w = whole & hit
            out_src.append(src[w])
            out_thr.append(np.full(int(w.sum()), ti))
            out_geom.append(egeom[e[w]])
            out_edge.append(e[w])
            part = hit & ~whole
            from_u = part & (ru > 0)
            from_v = part & (rv > 0)
            for sel, a, b in (
                (from_u, np.zeros(int(from_u.sum())), ru[from_u]),
                (from_v, length[from_v] - rv[from_v], length[from_v]),
            ):
                cut_src.append(src[sel])
                cut_thr.append(np.full(int(sel.sum()), ti))
                cut_edge.append(e[sel])
                cut_a.append(a)
                cut_b.append(b)
    # the precinct's own segment, walked directly both ways from its snapped position
    ok = np.flatnonzero(snapped.ok)
    se, st, sa = snapped.edge[ok], snapped.offset_m[ok], snapped.access_m[ok]
    for ti, t in enumerate(thresholds_m):
        rest = t - sa
        sel = rest > 0
        cut_src.append(ok[sel])
        cut_thr.append(np.full(int(sel.sum()), ti))
        cut_edge.append(se[sel])
        cut_a.append(st[sel] - rest[sel])
        cut_b.append(st[sel] + rest[sel])
    if cut_edge:
        ce = np.concatenate(cut_edge)
        ca = np.clip(np.concatenate(cut_a), 0.0, elen[ce])
        cb = np.clip(np.concatenate(cut_b), 0.0, elen[ce])
        keep = cb > ca
        out_src.append(np.concatenate(cut_src)[keep])
        out_thr.append(np.concatenate(cut_thr)[keep])
        out_geom.append(line_substrings(egeom[ce[keep]], ca[keep], cb[keep]))
        out_edge.append(ce[keep])
    if not out_src:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, object), empty
    return (
        np.concatenate(out_src).astype(np.int64),
        np.concatenate(out_thr).astype(np.int64),
        np.concatenate(out_geom),
        np.concatenate(out_edge).astype(np.int64),
    )


def _access_lines(
    points: np.ndarray, snapped: Snapped, thresholds_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The straight walk from each precinct to its street, within each threshold."""
    ok = np.flatnonzero(snapped.ok & (snapped.access_m > 0))
    src: list[np.ndarray] = []
    thr: list[np.ndarray] = []
    geo: list[np.ndarray] = []
    if len(ok):
        pxy = shapely.get_coordinates(points[ok])
        sxy = snapped.xy[ok]
        for ti, t in enumerate(thresholds_m):
            # an access walk longer than the threshold is cut at the threshold
            frac = np.minimum(1.0, t / snapped.access_m[ok])
            end = pxy + (sxy - pxy) * frac[:, None]
            xy = np.stack([pxy, end], axis=1).reshape(-1, 2)
            lines = shapely.linestrings(xy, indices=np.repeat(np.arange(len(ok)), 2))
            src.append(ok)
            thr.append(np.full(len(ok), ti))
            geo.append(np.asarray(lines, dtype=object))
    if not src:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, object)
    return np.concatenate(src), np.concatenate(thr), np.concatenate(geo)


def _precinct_frame(precincts: gpd.GeoDataFrame) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """Precinct labels, names and statuses (defaults where the columns are missing)."""
    n = len(precincts)
    names = (
        precincts["name"].astype(object).to_numpy()
        if "name" in precincts.columns else np.full(n, None, dtype=object)
    )
    status = (
        precincts["status"].astype(object).to_numpy()
        if "status" in precincts.columns else np.full(n, "open", dtype=object)
    )
    return precincts.index, names, status


def reached_segments(
    network: WalkNetwork,
    precincts: gpd.GeoDataFrame,
    *,
    thresholds_min: Sequence[float] | None = None,
    thresholds_m: Sequence[float] | None = None,
    walk_speed_kmh: float | None = None,
    max_snap_m: float | None = None,
) -> gpd.GeoDataFrame:
    """The street pieces reached from each precinct within each threshold.

    Parameters
    ----------
    network
        The walking network.
    precincts
        Precincts (index = precinct id), any CRS.
    thresholds_min
        Walking times in minutes; default :data:`walkshed.settings.thresholds_min`.
    thresholds_m
        Walking distances in metres; when given, used instead of ``thresholds_min``.
    walk_speed_kmh
        Speed turning minutes into metres; default :data:`walkshed.settings.walk_speed_kmh`.
    max_snap_m
        Farthest a precinct may be from a street; default :data:`walkshed.settings.max_snap_m`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per reached piece, in the network's CRS: ``precinct`` (index label),
        ``threshold_m``, ``threshold_min``, ``edge`` (edge position; ``-1`` for the access walk)
        and a LineString ``geometry``. Whole segments are
        the network's edge geometries; partly reached ones are cut at the exact remaining
        distance; the precinct's access walk to its street is included.
    """
    metres, minutes = _thresholds(thresholds_min, thresholds_m, walk_speed_kmh)
    src, thr, geom, edge = _pieces(network, precincts, metres, max_snap_m=max_snap_m)
    return gpd.GeoDataFrame(
        {
            "precinct": np.asarray(precincts.index, dtype=object)[src],
            "threshold_m": metres[thr],
            "threshold_min": minutes[thr],
            "edge": edge,
        },
        geometry=geom,
        crs=network.crs,
    )


def _pieces(
    network: WalkNetwork, precincts: gpd.GeoDataFrame, metres: np.ndarray, *,
    max_snap_m: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reached street pieces and access walks of all precincts and thresholds."""
    snapped = snap_points(network, precincts, max_snap_m=max_snap_m, what="precincts")
    pts = np.asarray(precincts.geometry.to_crs(network.crs).values, dtype=object)
    pts = np.asarray(shapely.point_on_surface(pts), dtype=object)
    s1, t1, g1, e1 = _reached_pieces(network, snapped, metres)
    s2, t2, g2 = _access_lines(pts, snapped, metres)
    return (
        np.concatenate([s1, s2]),
        np.concatenate([t1, t2]),
        np.concatenate([g1, g2]),
        np.concatenate([e1, np.full(len(s2), -1, dtype=np.int64)]),
    )


def walking_areas(
    network: WalkNetwork,
    precincts: gpd.GeoDataFrame,
    *,
    thresholds_min: Sequence[float] | None = None,
    thresholds_m: Sequence[float] | None = None,
    walk_speed_kmh: float | None = None,
    buffer_m: float | None = None,
    method: Literal["buffer", "concave"] = "buffer",
    concave_ratio: float = 0.3,
    max_snap_m: float | None = None,
) -> gpd.GeoDataFrame:
    """The area within each walking threshold of each precinct, for drawing on a map.

    Parameters
    ----------
    network
        The walking network.
    precincts
        Precincts (index = precinct id; optional ``name`` and ``status`` columns), any CRS.
    thresholds_min
        Walking times in minutes; default :data:`walkshed.settings.thresholds_min`.
    thresholds_m
        Walking distances in metres; when given, used instead of ``thresholds_min``.
    walk_speed_kmh
        Speed turning minutes into metres; default :data:`walkshed.settings.walk_speed_kmh`.
    buffer_m
        Width by which reached streets are widened; default
        :data:`walkshed.settings.isochrone_buffer_m`.
    method
        ``"buffer"`` (default): the reached street pieces buffered by ``buffer_m`` and
        dissolved, holes kept. ``"concave"``: the concave hull of those pieces (holes allowed),
        widened by ``buffer_m`` so every reached street lies inside; smoother, but it also
        paints unreached blocks between reached streets.
    concave_ratio
        ``ratio`` of :func:`shapely.concave_hull` for ``method="concave"`` (0 = tightest).
    max_snap_m
        Farthest a precinct may be from a street; default :data:`walkshed.settings.max_snap_m`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per precinct and threshold (thresholds ascending), in the network's CRS:
        ``precinct`` (index label), ``name``, ``status``, ``threshold_min``, ``threshold_m``
        and a (Multi)Polygon ``geometry``. A precinct too far from every street has an empty
        polygon.

    Examples
    --------
    >>> areas = walking_areas(net, police, thresholds_min=(5, 10, 15))  # doctest: +SKIP
    >>> areas.explore(column="threshold_min")  # doctest: +SKIP
    """
    width = settings.isochrone_buffer_m if buffer_m is None else float(buffer_m)
    if not np.isfinite(width) or width <= 0:
        raise input_error("buffer_m", f"must be a positive width, got {buffer_m}", "Give e.g. 40")
    if method not in ("buffer", "concave"):
        raise input_error(
            "method", f"unknown walking-area method {method!r}", "Use 'buffer' or 'concave'"
        )
    metres, minutes = _thresholds(thresholds_min, thresholds_m, walk_speed_kmh)
    src, thr, geom, edge = _pieces(network, precincts, metres, max_snap_m=max_snap_m)
    k, nt = len(precincts), len(metres)
    # a piece that spans its whole edge at one threshold does so at every larger one
    whole = edge >= 0
    whole[whole] = np.abs(shapely.length(geom[whole]) - network.edge_length[edge[whole]]) < 1e-9
    polys = _dissolve_lines(
        geom, src, thr, nt, k, width, method, concave_ratio, edge=edge, whole=whole
    )
    return _areas_frame(network, precincts, polys, metres, minutes)


def _areas_frame(network: WalkNetwork, precincts: gpd.GeoDataFrame, polys: np.ndarray,
                 metres: np.ndarray, minutes: np.ndarray) -> gpd.GeoDataFrame:
    """:func:`walking_areas`' frame around its polygons (precinct by precinct, thresholds
    ascending within each)."""
    k, nt = len(precincts), len(metres)
    labels, names, status = _precinct_frame(precincts)
    rows = np.repeat(np.arange(k), nt)
    cols = np.tile(np.arange(nt), k)
    return gpd.GeoDataFrame(
        {
            "precinct": np.asarray(labels, dtype=object)[rows],
            "name": names[rows],
            "status": status[rows],
            "threshold_min": minutes[cols],
            "threshold_m": metres[cols],
        },
        geometry=polys,
        crs=network.crs,
    )


def _dissolve_lines(
    geom: np.ndarray,
    src: np.ndarray,
    thr: np.ndarray,
    nt: int,
    k: int,
    width: float,
    method: str,
    concave_ratio: float,
    *,
    edge: np.ndarray,
    whole: np.ndarray,
) -> np.ndarray:
    """One polygon per (source, threshold): its pieces widened and merged."""
    out = np.array([shapely.Polygon()] * (k * nt), dtype=object)
    if len(geom) == 0:
        return out
    group = src * nt + thr
    order = np.argsort(group, kind="stable")
    present, compact = np.unique(group[order], return_inverse=True)
    lines = geom[order]
    if method == "concave":
        multi = shapely.multilinestrings(lines, indices=compact)
        dense = shapely.segmentize(multi, max_segment_length=width)
        hull = shapely.concave_hull(dense, ratio=concave_ratio, allow_holes=True)
        polys = shapely.buffer(hull, width, quad_segs=_QUAD_SEGS)
    else:
        # Buffering each piece and merging per group measured ~2.5x faster in GEOS than buffering
        # one MultiLineString per group (same result); the loop runs once per group, not piece.
        pieces = shapely.buffer(lines, width, quad_segs=_QUAD_SEGS)
        e_s, w_s = edge[order], whole[order]
        cut = np.flatnonzero(np.diff(compact)) + 1
        starts = np.concatenate([[0], cut])
        ends = np.concatenate([cut, [len(lines)]])
        polys = np.empty(len(present), dtype=object)
        prev_src = -1
        prev_whole = np.empty(0, dtype=np.int64)
        for j, (a, b) in enumerate(zip(starts, ends, strict=True)):
            s_j = int(present[j]) // nt
            part = pieces[a:b]
            if s_j == prev_src:
                # the previous (smaller) threshold's area lies inside this one: start from it
                # and skip the whole edges it already holds (~25% less work than from scratch)
                skip = w_s[a:b] & np.isin(e_s[a:b], prev_whole)
                part = np.concatenate([[polys[j - 1]], part[~skip]])
            polys[j] = shapely.union_all(part)
            prev_src = s_j
            prev_whole = e_s[a:b][w_s[a:b]]
    out[present] = polys
    return out


def dissolve_walking_areas(
    areas: gpd.GeoDataFrame,
    *,
    statuses: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Merge walking areas per threshold, over the precincts of the given statuses.

    Parameters
    ----------
    areas
        Output of :func:`walking_areas`.
    statuses
        Which precinct statuses to include, e.g. ``("open",)`` or ``("open", "planned")``;
        default all.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per threshold (ascending): ``threshold_min``, ``threshold_m``, ``precincts``
        (how many were merged) and the merged ``geometry`` (empty when none).
    """
    thresholds, parts = _dissolve_parts(areas, statuses)
    geoms = [_union(part) for part in parts]
    counts = [len(part) for part in parts]
    return gpd.GeoDataFrame(
        {
            "threshold_min": thresholds["threshold_min"].to_numpy(),
            "threshold_m": thresholds["threshold_m"].to_numpy(),
            "precincts": np.asarray(counts, dtype=np.int64),
        },
        geometry=np.asarray(geoms, dtype=object),
        crs=areas.crs,
    )


def _dissolve_parts(areas: gpd.GeoDataFrame, statuses: Iterable[str] | None
                    ) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The thresholds (ascending) and, for each, the non-empty areas merged into its row."""
    sel = areas
    if statuses is not None:
        sel = areas[areas["status"].isin(list(statuses))]
    thresholds = areas[["threshold_m", "threshold_min"]].drop_duplicates("threshold_m")
    thresholds = thresholds.sort_values("threshold_m")
    parts = []
    for t in thresholds["threshold_m"]:
        part = sel.geometry[(sel["threshold_m"] == t).to_numpy()].to_numpy()
        parts.append(part[~shapely.is_empty(part)] if len(part) else part)
    return thresholds, parts


#: The last unions of walking areas, keyed by a digest of the polygons merged: the map, the
#: GeoPackage and the report each merge the same areas of a run, which is computed once.
_UNIONS: OrderedDict[bytes, shapely.Geometry] = OrderedDict()
_UNIONS_KEPT = 16
_UNIONS_LOCK = threading.Lock()


def _union_key(parts: np.ndarray) -> bytes:
    """The digest of the polygons merged: every vertex, in order (equal bytes, equal union)."""
    digest = hashlib.blake2b(digest_size=20)
    for wkb in shapely.to_wkb(parts).tolist():
        digest.update(len(wkb).to_bytes(8, "little"))
        digest.update(wkb)
    return digest.digest()


def _union(parts: np.ndarray) -> shapely.Geometry:
    """``shapely.union_all(parts)`` (an empty polygon for none), remembered by content."""
    if not len(parts):
        return shapely.Polygon()
    key = _union_key(parts)
    with _UNIONS_LOCK:
        hit = _UNIONS.get(key)
        if hit is not None:
            _UNIONS.move_to_end(key)
            return hit
    union = shapely.union_all(parts)
    with _UNIONS_LOCK:
        _UNIONS[key] = union
        while len(_UNIONS) > _UNIONS_KEPT:
            _UNIONS.popitem(last=False)
    return union


def unions_known() -> list[tuple[bytes, shapely.Geometry]]:
    """The remembered unions of walking areas (for :func:`remember_unions` in another
    process: the report printed beside the map finds the unions the run merged)."""
    with _UNIONS_LOCK:
        return list(_UNIONS.items())


def remember_unions(items: Iterable[tuple[bytes, shapely.Geometry]]) -> None:
    """Remember unions given by :func:`unions_known` (keyed by the digest of their parts)."""
    with _UNIONS_LOCK:
        for key, union in items:
            _UNIONS[key] = union
            _UNIONS.move_to_end(key)
        while len(_UNIONS) > _UNIONS_KEPT:
            _UNIONS.popitem(last=False)


#: Bumped when what :func:`cached_walking_areas` stores (or how it is drawn) changes.
_CACHE_FORMAT = 1


def cached_walking_areas(
    network: WalkNetwork,
    precincts: gpd.GeoDataFrame,
    *,
    thresholds_m: Sequence[float],
    walk_speed_kmh: float | None = None,
    max_snap_m: float | None = None,
    merged: Sequence[Sequence[str]] = (("open",), ("open", "planned")),
    cache: bool | None = None,
) -> gpd.GeoDataFrame:
    """:func:`walking_areas` (buffered streets) with their unions over ``merged`` statuses
    remembered for :func:`dissolve_walking_areas`, both kept in the on-disk cache.

    An entry's name is the SHA-256 of everything the polygons depend on (the network's arrays,
    the precincts' positions and statuses, the thresholds, the speed, the snapping distance,
    the buffer width, a format number and walkshed's version); an entry that cannot be read is
    drawn again, never trusted. The precincts' labels and names come from ``precincts``.

    Parameters
    ----------
    network, precincts, thresholds_m, walk_speed_kmh, max_snap_m
        As for :func:`walking_areas`.
    merged
        The status sets whose unions are drawn and kept with the areas.
    cache
        Use the on-disk cache; default :data:`walkshed.settings.use_cache`.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`walking_areas`.
    """
    from ._stored import code_digest, packed, unpacked
    from .siting.cache import _write_npz, cached_arrays, digest, entry_path, network_digest

    metres, minutes = _thresholds(None, thresholds_m, walk_speed_kmh)
    width = float(settings.isochrone_buffer_m)
    snap = settings.max_snap_m if max_snap_m is None else max_snap_m
    _, _, status = _precinct_frame(precincts)
    status = np.asarray([str(v) for v in status.tolist()], dtype=str)
    where = np.asarray(shapely.to_wkb(np.asarray(precincts.geometry.to_crs(network.crs).values,
                                                 dtype=object)), dtype=object)
    key = digest("walking-areas", _CACHE_FORMAT, code_digest(),
                 network_digest(network),
                 np.frombuffer(b"".join(len(w).to_bytes(8, "little") + w
                                        for w in where.tolist()), dtype=np.uint8),
                 status, metres, minutes, width, snap, [list(m) for m in merged])

    drawn: list[gpd.GeoDataFrame] = []

    def draw() -> dict[str, np.ndarray]:
        areas = walking_areas(network, precincts, thresholds_m=metres.tolist(),
                              walk_speed_kmh=walk_speed_kmh, max_snap_m=max_snap_m)
        unions = [g for statuses in merged  # remembered as they are merged
                  for g in dissolve_walking_areas(areas, statuses=statuses).geometry]
        drawn.append(areas)
        return {**packed("areas", np.asarray(areas.geometry.values, dtype=object)),
                **packed("unions", np.asarray(unions, dtype=object))}

    data = cached_arrays("walking-areas", key, draw, use=cache)
    if drawn:  # drawn just now (no entry, or no cache): nothing to read back
        return drawn[0]
    try:
        polys = unpacked(data, "areas", len(precincts) * len(metres))
        unions = unpacked(data, "unions", len(merged) * len(metres))
    except Exception as exc:  # an entry that does not read back: drawn again, not trusted
        import logging

        logging.getLogger(__name__).warning("walking-area cache entry unreadable (%s); "
                                            "drawing again", exc)
        _write_npz(entry_path("walking-areas", key), draw())  # repaired for the next run
        return drawn[0]
    areas = _areas_frame(network, precincts, polys, metres, minutes)
    found = iter(unions.tolist())
    for statuses in merged:
        for part in _dissolve_parts(areas, statuses)[1]:
            union = next(found)
            if len(part):
                remember_unions([(_union_key(part), union)])
    return areas
