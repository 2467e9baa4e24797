"""The demand type and the helpers every population source shares: the study area, output CRS
and the demand-point frame."""

from __future__ import annotations

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


