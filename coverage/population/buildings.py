"""Demand points at residential buildings, weighted by floor area (footprint x levels)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .. import settings
from .._buildings import is_residential, parse_levels, read_buildings
from .._common import check_range
from .._errors import input_error
from ..network import WalkNetwork
from .demand import Demand, _clip_area, _frame, _output_crs


@dataclass(frozen=True)
class _Buildings:
    """Residential buildings in the output CRS, as arrays."""

    point: np.ndarray  # shapely points (a point on each footprint)
    footprint_m2: np.ndarray
    floor_m2: np.ndarray
    levels_tagged: np.ndarray  # bool
    dropped_nonresidential: int
    dropped_no_area: int


def _buildings_in(
    buildings: gpd.GeoDataFrame | str | os.PathLike[str],
    crs: pyproj.CRS,
    default_levels: float | None,
) -> _Buildings:
    """Residential footprints with floor area (footprint x levels) from a file or a frame."""
    what = "buildings"
    if isinstance(buildings, (str, os.PathLike)):
        what = f"buildings file '{buildings}'"
        buildings = read_buildings(Path(buildings))
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise input_error(
            what, f"expected a GeoDataFrame or an OSM file, got {type(buildings).__name__}",
            "Give an .osm.pbf file or a GeoDataFrame of footprints",
        )
    if buildings.crs is None and len(buildings):
        raise input_error(
            what, "has no coordinate reference system (CRS)",
            "Set it, e.g. buildings.set_crs('EPSG:4326')",
        )
    levels_default = (
        settings.default_building_levels if default_levels is None else float(default_levels)
    )
    if not levels_default > 0:
        raise input_error(
            "default_levels", f"must be positive, got {levels_default}", "Give a level count > 0"
        )
    n = len(buildings)
    if "building" in buildings.columns:
        kind = buildings["building"].to_numpy(dtype=object)
        res = np.fromiter((is_residential(k) for k in kind), dtype=bool, count=n)
    else:
        res = np.ones(n, dtype=bool)
    lv_col = next((c for c in ("levels", "building:levels") if c in buildings.columns), None)
    if lv_col is None:
        levels = np.full(n, np.nan)
    else:
        levels = np.fromiter(
            (parse_levels(v) for v in buildings[lv_col].to_numpy(dtype=object)),
            dtype=np.float64, count=n,
        )
    geom = np.asarray(buildings.to_crs(crs).geometry.values, dtype=object) if n else np.empty(0)
    footprint = np.asarray(shapely.area(geom), dtype=np.float64) if n else np.empty(0)
    footprint = np.nan_to_num(footprint, nan=0.0)
    has_area = footprint > 0
    keep = res & has_area
    tagged = np.isfinite(levels)
    floor = footprint * np.where(tagged, levels, levels_default)
    point = shapely.point_on_surface(geom[keep]) if keep.any() else np.empty(0, dtype=object)
    return _Buildings(
        point=np.asarray(point, dtype=object),
        footprint_m2=footprint[keep],
        floor_m2=floor[keep],
        levels_tagged=tagged[keep],
        dropped_nonresidential=int((~res).sum()),
        dropped_no_area=int((res & ~has_area).sum()),
    )


def demand_from_buildings(
    buildings: gpd.GeoDataFrame | str | os.PathLike[str],
    network: WalkNetwork | None = None,
    *,
    total: float | None = None,
    persons_per_m2: float | None = None,
    crs: Any = None,
    area: Any = None,
    default_levels: float | None = None,
    zone: str | None = None,
) -> Demand:
    """Demand points at residential buildings, weighted by floor area (footprint x levels).

    Give exactly one of ``total`` (spread over the floor area, conserved exactly) or
    ``persons_per_m2`` (population = floor area x density).

    Parameters
    ----------
    buildings
        An OSM file (read with :func:`read_buildings`) or a GeoDataFrame of footprints with
        optional ``building`` (type; see :data:`walkshed._buildings.NON_RESIDENTIAL`) and
        ``levels`` / ``building:levels`` columns.
    network
        The walking network: output CRS and, unless ``area`` is given, the study area.
    total
        Residents to spread over the buildings.
    persons_per_m2
        Residents per m² of floor area.
    crs
        Output CRS when no network is given.
    area
        Study area (shapely polygon in the output CRS, or GeoDataFrame); buildings whose
        representative point lies outside are left out.
    default_levels
        Levels where the tag is missing; default
        :data:`walkshed.settings.default_building_levels`.
    zone
        Name written in the ``zone`` column.

    Returns
    -------
    Demand
        Points with ``method="buildings"``; a one-row report (buildings used, left out,
        floor area, levels tagged, total).
    """
    what = "buildings"
    out_crs = _output_crs(network, crs, what)
    if (total is None) == (persons_per_m2 is None):
        raise input_error(
            what, "give exactly one of total= or persons_per_m2=",
            "Pass the number of residents to spread, or a density per m² of floor area",
        )
    for label, value in (("total", total), ("persons_per_m2", persons_per_m2)):
        if value is not None:
            check_range(label, value, f"Give {label} within that range")
    b = _buildings_in(buildings, out_crs, default_levels)
    clip = _clip_area(area, network, out_crs)
    inside = np.ones(len(b.point), dtype=bool)
    if clip is not None and len(b.point):
        inside = shapely.contains(clip, b.point)
    floor = b.floor_m2[inside]
    if floor.sum() <= 0:
        raise input_error(
            what, "no residential building with a footprint lies in the study area",
            "Check that the buildings cover the network's city; use demand_from_zones with "
            "street-length weights where buildings are not mapped",
        )
    density = float(total) / floor.sum() if total is not None else float(persons_per_m2 or 0.0)
    pop = floor * density
    xy = shapely.get_coordinates(b.point[inside])
    points = _frame(xy[:, 0], xy[:, 1], pop, zone, "buildings", out_crs)
    report = pd.DataFrame(
        [
            {
                "zone": zone,
                "buildings": int(inside.sum()),
                "outside_area": int((~inside).sum()),
                "nonresidential": b.dropped_nonresidential,
                "no_footprint": b.dropped_no_area,
                "levels_tagged": int(b.levels_tagged[inside].sum()),
                "footprint_m2": float(b.footprint_m2[inside].sum()),
                "floor_m2": float(floor.sum()),
                "population_in": float(total) if total is not None else math.nan,
                "population_out": float(pop.sum()),
            }
        ]
    )
    return Demand(points, report)


