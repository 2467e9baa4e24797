"""The demand type and the helpers every population source shares: the study area, output CRS
and the demand-point frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .. import settings
from .._errors import input_error
from ..network import WalkNetwork

Method = Literal["auto", "buildings", "streets", "area"]

#: Zone methods in the order the automatic rule tries them.
ZONE_METHODS: tuple[str, ...] = ("buildings", "streets", "area")


@dataclass(frozen=True)
class Demand:
    """Demand points and the report of how they were made.

    Attributes
    ----------
    points
        GeoDataFrame in the network's CRS: point ``geometry``, ``population`` (float >= 0),
        ``zone`` (source zone name, or None) and ``method`` (how the weight was derived).
    report
        One row per raster window, per zone or per building set: what went in, what came out,
        and (for zones) which method was used and why.
    """

    points: gpd.GeoDataFrame
    report: pd.DataFrame

    @property
    def total(self) -> float:
        """Total population of the demand points."""
        return float(self.points["population"].sum())

    def __len__(self) -> int:
        return len(self.points)


def _frame(
    x: np.ndarray,
    y: np.ndarray,
    population: np.ndarray,
    zone: np.ndarray | str | None,
    method: np.ndarray | str,
    crs: Any,
) -> gpd.GeoDataFrame:
    """The demand-point GeoDataFrame of the shared contract."""
    n = len(x)
    if not isinstance(zone, np.ndarray):
        zone_arr = np.empty(n, dtype=object)
        zone_arr[:] = zone
        zone = zone_arr
    if not isinstance(method, np.ndarray):
        method_arr = np.empty(n, dtype=object)
        method_arr[:] = method
        method = method_arr
    data = pd.DataFrame(
        {
            "population": np.asarray(population, dtype=np.float64),
            "zone": pd.Series(zone, dtype=object),
            "method": pd.Series(method, dtype=object),
        }
    )
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(x, y), crs=crs)


# ---------------------------------------------------------------------------------------------
# the study area


def study_area(network: WalkNetwork, *, pad_m: float | None = None) -> shapely.Geometry:
    """The area a network serves: the convex hull of its nodes, widened by ``pad_m``.

    Parameters
    ----------
    network
        The walking network.
    pad_m
        Widening in metres; default :data:`walkshed.settings.max_snap_m` (points farther from
        every street cannot be snapped anyway).

    Returns
    -------
    shapely.Polygon
        In the network's CRS.
    """
    pad = settings.max_snap_m if pad_m is None else float(pad_m)
    hull = shapely.convex_hull(shapely.multipoints(network.node_xy))
    return cast(shapely.Geometry, shapely.buffer(hull, pad) if pad > 0 else hull)


def _area_in_crs(area: Any, crs: pyproj.CRS, what: str) -> shapely.Geometry:
    """A study area given as a shapely geometry (already in ``crs``) or a GeoSeries/GeoDataFrame
    (any CRS), as one polygonal geometry in ``crs``."""
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if area.crs is None:
            raise input_error(
                what, "has no coordinate reference system (CRS)",
                "Set it, e.g. area.set_crs('EPSG:4326')",
            )
        geom = area.to_crs(crs).union_all()
    elif isinstance(area, shapely.Geometry):
        geom = area
    else:
        raise input_error(
            what, f"expected a shapely polygon or a GeoDataFrame, got {type(area).__name__}",
            "Give a polygon in the network's CRS or a GeoDataFrame with a CRS",
        )
    geom = shapely.make_valid(geom)
    if geom.is_empty or shapely.area(geom) <= 0:
        raise input_error(what, "is empty or has no area", "Give a polygon")
    return geom


def _clip_area(
    area: Any, network: WalkNetwork | None, crs: pyproj.CRS
) -> shapely.Geometry | None:
    """Where residents are kept: the given ``area``, else the network's :func:`study_area`,
    else nowhere in particular (``None``)."""
    if area is not None:
        return _area_in_crs(area, crs, "study area")
    if network is not None:
        return study_area(network)
    return None


def _output_crs(network: WalkNetwork | None, crs: Any, what: str) -> pyproj.CRS:
    if network is not None:
        return network.crs
    if crs is None:
        raise input_error(
            what, "no output CRS: neither a network nor a crs was given",
            "Pass the walking network (or crs='EPSG:...' of a projected CRS in metres)",
        )
    return pyproj.CRS.from_user_input(crs)




# ---------------------------------------------------------------------------------------------
# plausible densities: cap and spread the excess within the zone


@dataclass(frozen=True)
class Spread:
    """What :func:`cap_and_spread` did.

    Attributes
    ----------
    population
        Residents per point (each zone's total conserved exactly, to float rounding).
    capped
        Whether the point was held at a limit (its building's or its cell's).
    unplaced
        Per zone: residents no point of the zone could take within the limits (0 when the
        zone held its total); the caller places them another way and says so.
    """

    population: np.ndarray
    capped: np.ndarray
    unplaced: np.ndarray


def density_cells(xy: np.ndarray, cell_m: float | None = None) -> np.ndarray:
    """The square cell (side ``cell_m``, anchored at multiples of it) of every point, as one
    integer id per cell.

    Parameters
    ----------
    xy
        ``(n, 2)`` coordinates in metres.
    cell_m
        Cell side; default :data:`walkshed.settings.density_cell_m`.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` cell ids, equal for points in the same cell.
    """
    size = float(settings.density_cell_m if cell_m is None else cell_m)
    if len(xy) == 0:
        return np.empty(0, dtype=np.int64)
    ij = np.floor(np.asarray(xy, dtype=float) / size).astype(np.int64)
    low = ij.min(axis=0)
    span = ij.max(axis=0) - low + 1
    if float(span[0]) * float(span[1]) < 2.0**62:
        # one integer per cell in the rows' lexicographic order: the ids np.unique(ij, axis=0)
        # gives, without its sort of row records
        key = (ij[:, 0] - low[0]) * span[1] + (ij[:, 1] - low[1])
        _, ids = np.unique(key, return_inverse=True)
    else:
        _, ids = np.unique(ij, axis=0, return_inverse=True)
    return np.asarray(ids, dtype=np.int64).ravel()


def cap_and_spread(
    weight: np.ndarray,
    zone: np.ndarray,
    totals: np.ndarray,
    *,
    point_cap: np.ndarray | None = None,
    cell: np.ndarray | None = None,
    cell_cap: float | None = None,
) -> Spread:
    """Spread each zone's total over its points by weight, no point above its cap and no cell
    above ``cell_cap``; the excess goes to the zone's other points.

    The rule (water-filling, iterated until nothing is over a limit):

    1. each zone's total, less what its held points already have, is spread over its free
       points in proportion to ``weight``;
    2. free points above their ``point_cap`` are held at it;
    3. otherwise, in every cell above ``cell_cap``, the free points share what the held ones
       leave (all points of the cell are scaled down when the held ones alone exceed it) and
       are held there;
    4. repeat from 1 while something new was held.

    Every round holds at least one more point, so it ends; each zone keeps its total exactly
    unless all of its points are held, in which case the rest is returned as ``unplaced``.

    Parameters
    ----------
    weight
        ``(n,)`` non-negative weights (floor area, street length, 1 per grid point).
    zone
        ``(n,)`` zone position of each point, in ``range(len(totals))``.
    totals
        Residents of each zone.
    point_cap
        ``(n,)`` most residents a point may hold (``inf``: no limit); default no limit.
    cell, cell_cap
        Cell id of each point (:func:`density_cells`) and the most residents a cell may hold.

    Returns
    -------
    Spread

    Examples
    --------
    >>> s = cap_and_spread(np.array([8.0, 1.0, 1.0]), np.zeros(3, int), np.array([100.0]),
    ...                    point_cap=np.array([50.0, 50.0, 50.0]))
    >>> s.population.tolist(), s.unplaced.tolist()
    ([50.0, 25.0, 25.0], [0.0])
    """
    w = np.asarray(weight, dtype=np.float64)
    z = np.asarray(zone, dtype=np.int64)
    tot = np.asarray(totals, dtype=np.float64)
    n, k = len(w), len(tot)
    cap = np.full(n, np.inf) if point_cap is None else np.asarray(point_cap, dtype=np.float64)
    pop = np.zeros(n)
    held = np.zeros(n, dtype=bool)
    unplaced = np.zeros(k)
    use_cells = cell is not None and cell_cap is not None and math.isfinite(cell_cap)
    c = np.asarray(cell, dtype=np.int64) if use_cells and cell is not None else None
    limit = float(cell_cap) if use_cells and cell_cap is not None else math.inf
    tol = 1e-9
    while True:
        free = ~held
        rest = tot - np.bincount(z[held], weights=pop[held], minlength=k)
        wsum = np.bincount(z[free], weights=w[free], minlength=k)
        ok = wsum > 0
        share = np.where(ok, np.maximum(rest, 0.0) / np.where(ok, wsum, 1.0), 0.0)
        pop[free] = w[free] * share[z[free]]
        unplaced = np.where(ok, 0.0, np.maximum(rest, 0.0))
        over = free & (pop > cap * (1 + tol))
        if over.any():
            pop[over] = cap[over]
            held |= over
            continue
        if c is None:
            break
        csum = np.bincount(c, weights=pop)
        bad = np.flatnonzero(csum > limit * (1 + tol))
        bad_cell = np.zeros(len(csum), dtype=bool)
        bad_cell[bad] = True
        in_bad = bad_cell[c] & ~held
        held_sum = np.bincount(c[held], weights=pop[held], minlength=len(csum))
        too_full = bad_cell[c] & held & (held_sum[c] > limit * (1 + tol))
        if not (in_bad.any() or too_full.any()):
            break
        free_sum = np.bincount(c[in_bad], weights=pop[in_bad], minlength=len(csum))
        room = np.maximum(limit - held_sum, 0.0)
        factor = np.where(free_sum > 0, room / np.where(free_sum > 0, free_sum, 1.0), 0.0)
        pop[in_bad] *= factor[c[in_bad]]
        # held points alone above the cell's limit: scale them down to it
        if too_full.any():
            pop[too_full] *= limit / held_sum[c[too_full]]
        held |= in_bad
    return Spread(population=pop, capped=held, unplaced=unplaced)
