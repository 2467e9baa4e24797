"""Placing points on the street network.

A point is placed on its nearest street segment, at the exact offset along that segment, and
keeps the straight "access" distance from the point to the street. Points farther than
``max_snap_m`` from every street are not placed at all: they are flagged unreachable rather than
attached to a far-away street.
"""

from __future__ import annotations

import contextlib
import hashlib
import weakref
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from . import settings
from ._errors import input_error
from .network import SegmentIndex, WalkNetwork


@dataclass(frozen=True)
class Snapped:
    """Points placed on the network, aligned with the input points.

    Attributes
    ----------
    edge
        Edge position of each point, ``-1`` where the point was not snapped.
    offset_m
        Distance along the edge geometry from its start node ``u`` to the snapped position.
    access_m
        Straight distance from the point to the street; ``inf`` where not snapped.
    xy
        ``(n, 2)`` coordinates of the snapped positions (NaN where not snapped).
    """

    edge: np.ndarray
    offset_m: np.ndarray
    access_m: np.ndarray
    xy: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of the points that were snapped."""
        return self.edge >= 0

    def subset(self, mask: np.ndarray) -> Snapped:
        """The snapped points selected by a boolean mask or index array."""
        return Snapped(self.edge[mask], self.offset_m[mask], self.access_m[mask], self.xy[mask])


def points_in_network_crs(
    network: WalkNetwork, points: gpd.GeoDataFrame | gpd.GeoSeries, what: str = "points"
) -> np.ndarray:
    """Shapely points of ``points`` in the network's CRS, after checking CRS and geometry.

    Polygons and lines are represented by a point on their surface.
    """
    if not isinstance(points, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise input_error(
            what,
            f"expected a GeoDataFrame or GeoSeries, got {type(points).__name__}",
            "Build one with geopandas.GeoDataFrame(..., geometry=..., crs=...)",
        )
    if len(points) == 0:
        raise input_error(what, "no points given (empty table)", "Give at least one point")
    geom = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if geom.crs is None:
        raise input_error(
            what,
            "has no coordinate reference system (CRS)",
            "Set it, e.g. gdf.set_crs('EPSG:4326') for longitude/latitude or the projected "
            "EPSG code the coordinates are in",
        )
    if geom.isna().any() or geom.is_empty.any():
        bad = int((geom.isna() | geom.is_empty).sum())
        raise input_error(what, f"{bad} row(s) have no geometry", "Drop or fix those rows")
    arr = np.asarray(geom.to_crs(network.crs).values)
    if (shapely.get_type_id(arr) == 0).all():  # points already (most demand): as they are
        pts = np.asarray(arr, dtype=object)
    else:
        pts = np.asarray(shapely.point_on_surface(arr), dtype=object)
    _check_extent(network, pts, geom, what)
    return pts


def _check_extent(
    network: WalkNetwork, pts: np.ndarray, geom: gpd.GeoSeries, what: str
) -> None:
    """Raise when no point lies near the network: usually swapped coordinates or a wrong CRS."""
    minx, miny, maxx, maxy = network.bounds
    pad = settings.max_snap_m
    xy = shapely.get_coordinates(pts)
    inside = (
        (xy[:, 0] >= minx - pad) & (xy[:, 0] <= maxx + pad)
        & (xy[:, 1] >= miny - pad) & (xy[:, 1] <= maxy + pad)
    )
    if inside.any():
        return
    hint = "Check that the points belong to this city and that their CRS is right"
    crs = pyproj.CRS.from_user_input(geom.crs)
    if crs.is_geographic:
        swapped = gpd.GeoSeries(
            shapely.points(shapely.get_coordinates(np.asarray(geom.values))[:, ::-1]), crs=crs
        ).to_crs(network.crs)
        sxy = shapely.get_coordinates(np.asarray(swapped.values))
        if (
            (sxy[:, 0] >= minx - pad) & (sxy[:, 0] <= maxx + pad)
            & (sxy[:, 1] >= miny - pad) & (sxy[:, 1] <= maxy + pad)
        ).any():
            hint = (
                "Latitude and longitude look swapped: exchange the two columns (or the "
                "scenario's lat_column and lon_column; in Python, points_from_xy(lon, lat))"
            )
    raise input_error(
        what, f"none of the {len(pts)} point(s) lies within the network's area", hint
    )


def snap_points(
    network: WalkNetwork,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    max_snap_m: float | None = None,
    what: str = "points",
) -> Snapped:
    """Place points on their nearest street segment.

    Parameters
    ----------
    network
        The walking network.
    points
        Points (or polygons, taken at a point on their surface) in any CRS.
    max_snap_m
        Largest access distance; farther points are flagged (``edge == -1``). Default
        :data:`walkshed.settings.max_snap_m`.
    what
        Name of the input for error messages.

    Returns
    -------
    Snapped
        Edge, offset along it and access distance for each point, aligned with ``points``.
    """
    pts = points_in_network_crs(network, points, what)
    return snap_geometries(network, pts, max_snap_m=max_snap_m)


def snap_geometries(
    network: WalkNetwork, pts: np.ndarray, *, max_snap_m: float | None = None
) -> Snapped:
    """:func:`snap_points` for an array of shapely points already in the network's CRS (other
    geometries are taken at a point on their surface).

    The nearest segment is found among the segments filed in the cells around each point
    (:class:`walkshed.network.SegmentIndex`) with exact point-to-segment distances; a point for
    which the cells do not prove the answer (far from every street) is looked up in a wider
    block, and then with GEOS's exact nearest-geometry search.
    """
    limit = settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    n = len(pts)
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    access = np.full(n, np.inf)
    xy = np.full((n, 2), np.nan)
    if n == 0 or network.n_edges == 0:
        return Snapped(edge, offset, access, xy)
    pts = np.asarray(pts, dtype=object)
    not_point = shapely.get_type_id(pts) != 0
    if not_point.any():  # lines, polygons: a point on their surface, as snap_points does
        pts = pts.copy()
        pts[not_point] = shapely.point_on_surface(pts[not_point])
    pxy = shapely.get_coordinates(pts)
    if len(pxy) != n or not np.isfinite(pxy).all():  # empty points: the safe road
        _snap_geos(network, pts, np.arange(n), limit, edge, offset, access, xy)
        return Snapped(edge, offset, access, xy)
    known = _recall(network, pxy, limit)
    if known is not None:
        return known
    index = network.segment_index
    # farther than the limit from the box around all streets: nothing to snap to
    lo_xy = np.minimum(index.a.min(axis=0), index.b.min(axis=0))
    hi_xy = np.maximum(index.a.max(axis=0), index.b.max(axis=0))
    gap = np.maximum(np.maximum(lo_xy - pxy, pxy - hi_xy), 0.0)
    todo = np.flatnonzero(np.hypot(gap[:, 0], gap[:, 1]) <= limit)
    # nearby points together: their candidates are nearby rows of the index
    todo = todo[np.argsort(index.cell_of(pxy[todo]), kind="stable")]
    for ring in (1, 3):
        if len(todo) == 0:
            break
        unsure: list[np.ndarray] = []
        for lo in range(0, len(todo), _CHUNK):
            which = todo[lo:lo + _CHUNK]
            unsure.append(
                _snap_cells(network, index, pxy[which], which, ring, limit,
                            edge, offset, access, xy)
            )
        todo = np.concatenate(unsure)
    if len(todo) > _FEW:  # proven out of reach: nothing to snap to (GEOS would find nothing)
        todo = todo[~index.nothing_within(pxy[todo], limit)]
    if len(todo):
        _snap_geos(network, pts, todo, limit, edge, offset, access, xy)
    out = Snapped(edge, offset, access, xy)
    _keep(network, pxy, limit, out)
    return out


# ---------------------------------------------------------------------------------------------
# point sets snapped once per network: a run snaps the same residents in the assessment, the
# comparison of methods and the siting, and the demand cache hands in what an earlier run found

#: Per shared network (held weakly; see :func:`share_snaps`), the snapped point sets by
#: (limit, count, coordinate digest).
_SNAPPED: weakref.WeakKeyDictionary[WalkNetwork, dict[tuple[float, int, str], Snapped]] = (
    weakref.WeakKeyDictionary())
#: Point sets remembered per network, and their points at most in all (the oldest set is
#: forgotten first; a set larger than that is not remembered): about 40 bytes a point.
_KEEP = 16
_KEEP_POINTS = 4_000_000


def share_snaps(network: WalkNetwork) -> None:
    """Remember the point sets snapped to ``network`` from now on: the next
    :func:`snap_geometries` of the same points with the same limit returns the result (a copy)
    without searching. :func:`walkshed.pipeline.load_study` shares its study's network; other
    networks snap afresh every time.

    Parameters
    ----------
    network
        The network (held weakly: forgotten with it).
    """
    with contextlib.suppress(TypeError):  # a network that cannot be referenced weakly
        _SNAPPED.setdefault(network, {})


def _key(pxy: np.ndarray, limit: float) -> tuple[float, int, str]:
    xy = np.ascontiguousarray(pxy, dtype=np.float64)
    return float(limit), len(xy), hashlib.blake2b(xy.tobytes(), digest_size=20).hexdigest()


def _copy(s: Snapped) -> Snapped:
    return Snapped(s.edge.copy(), s.offset_m.copy(), s.access_m.copy(), s.xy.copy())


def _shared(network: WalkNetwork) -> dict[tuple[float, int, str], Snapped] | None:
    try:
        return _SNAPPED.get(network)
    except TypeError:
        return None


def _recall(network: WalkNetwork, pxy: np.ndarray, limit: float) -> Snapped | None:
    sets = _shared(network)
    known = None if sets is None else sets.get(_key(pxy, limit))
    return None if known is None else _copy(known)


def _keep(network: WalkNetwork, pxy: np.ndarray, limit: float, snapped: Snapped) -> None:
    sets = _shared(network)
    if sets is None or len(snapped) > _KEEP_POINTS:
        return
    sets[_key(pxy, limit)] = _copy(snapped)
    while len(sets) > _KEEP or sum(len(s) for s in sets.values()) > _KEEP_POINTS:
        sets.pop(next(iter(sets)))


def remember_snapped(network: WalkNetwork, pts: np.ndarray, snapped: Snapped,
                     *, max_snap_m: float | None = None) -> None:
    """Hand in the result of :func:`snap_geometries` for ``pts`` (read from a cache), so that
    the next call with the same points, network and limit returns it without snapping (the
    network is shared, as :func:`share_snaps` does).

    Parameters
    ----------
    network
        The network the points were snapped to.
    pts
        The shapely points, in the network's CRS, as :func:`snap_geometries` takes them.
    snapped
        What :func:`snap_geometries` returned for them.
    max_snap_m
        The limit used; default :data:`walkshed.settings.max_snap_m`.
    """
    limit = settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    share_snaps(network)
    pxy = shapely.get_coordinates(np.asarray(pts, dtype=object))
    if len(pxy) != len(snapped) or len(pxy) != len(pts) or not np.isfinite(pxy).all():
        return
    _keep(network, pxy, limit, snapped)


def _snap_cells(
    network: WalkNetwork,
    index: SegmentIndex,
    p: np.ndarray,
    which: np.ndarray,
    ring: int,
    limit: float,
    edge: np.ndarray,
    offset: np.ndarray,
    access: np.ndarray,
    xy: np.ndarray,
) -> np.ndarray:
    """Snap the points ``p`` (positions ``which``) whose nearest segment the cells prove.

    Writes the results into the arrays and returns the positions still unsure.
    """
    m = len(p)
    pt, piece, margin = index.candidates(p, ring)
    # ax, ay, dx, dy, 1 / len^2 of the piece's segment (np.take: faster than fancy indexing)
    g = np.take(index.packed, piece, axis=0)
    q = np.take(p, pt, axis=0)
    qx = q[:, 0] - g[:, 0]  # the point relative to the segment start
    qy = q[:, 1] - g[:, 1]
    t = (qx * g[:, 2] + qy * g[:, 3]) * g[:, 4]
    np.clip(t, 0.0, 1.0, out=t)
    qx -= t * g[:, 2]  # from the foot of the perpendicular to the point
    qy -= t * g[:, 3]
    dist2 = qx * qx + qy * qy
    # the nearest candidate of every point (pairs come grouped by point)
    has = np.bincount(pt, minlength=m) > 0
    best2 = np.full(m, np.inf)
    best_i = np.full(m, -1, dtype=np.int64)
    if len(pt):
        starts = np.flatnonzero(np.r_[True, pt[1:] != pt[:-1]])
        best2[pt[starts]] = np.minimum.reduceat(dist2, starts)
        hit = np.flatnonzero(dist2 == best2[pt])
        hit_pt = pt[hit]  # non-decreasing: the first hit of each point is its choice
        first = np.ones(len(hit), dtype=bool)
        first[1:] = hit_pt[1:] != hit_pt[:-1]
        best_i[hit_pt[first]] = hit[first]
    best_d = np.sqrt(best2)
    # a segment not among the candidates is at least this far away
    bound = margin - index.cell_m / 2.0
    proven = has & (best_d <= bound)
    nothing_near = bound > limit  # no unseen segment within reach
    take = proven & (best_d <= limit)
    done = take | (nothing_near & (best_d > limit))
    i = np.flatnonzero(take)
    j = best_i[i]
    s_best = index.cell_segment[piece[j]]
    e_best = index.edge[s_best]
    out = which[i]
    edge[out] = e_best
    seg_len = np.hypot(g[j, 2], g[j, 3])
    offset[out] = np.clip(
        index.start_m[s_best] + t[j] * seg_len, 0.0, network.edge_length[e_best]
    )
    access[out] = best_d[i]
    xy[out] = g[j, :2] + t[j, None] * g[j, 2:4]
    return which[~done]


#: Points handled per step by :func:`snap_geometries` (bounds its temporary memory).
_CHUNK = 32_768
#: Unsure points GEOS searches without first proving which are out of reach (a handful is
#: searched faster than the index's table of held cells is built).
_FEW = 2_000


def _snap_geos(
    network: WalkNetwork,
    pts: np.ndarray,
    which: np.ndarray,
    limit: float,
    edge: np.ndarray,
    offset: np.ndarray,
    access: np.ndarray,
    xy: np.ndarray,
) -> None:
    """Exact nearest edge of ``pts[which]`` with GEOS's STRtree, written into the arrays."""
    (j, i_edge), dist = network.edge_tree.query_nearest(
        pts[which], max_distance=limit, return_distance=True, all_matches=False
    )
    i_pt = which[j]
    geoms = network.edge_geometry[i_edge]
    t = shapely.line_locate_point(geoms, pts[i_pt])
    edge[i_pt] = i_edge
    # clip: locate can return a hair beyond the measured length
    offset[i_pt] = np.clip(t, 0.0, network.edge_length[i_edge])
    access[i_pt] = dist
    xy[i_pt] = shapely.get_coordinates(shapely.line_interpolate_point(geoms, t))
