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
from .._buildings import is_plain_yes, is_residential, parse_levels, read_buildings
from .._common import check_range
from .._errors import input_error
from ..network import WalkNetwork
from .demand import (
    Demand,
    _clip_area,
    _frame,
    _output_crs,
    cap_and_spread,
    density_cells,
)


@dataclass(frozen=True)
class _Buildings:
    """Residential buildings in the output CRS, as arrays."""

    point: np.ndarray  # shapely points (a point on each footprint)
    footprint_m2: np.ndarray
    floor_m2: np.ndarray
    levels_tagged: np.ndarray  # bool
    plain_yes: np.ndarray  # bool: tagged only building=yes (use unknown)
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
        yes = np.fromiter((is_plain_yes(k) for k in kind), dtype=bool, count=n)
    else:
        res = np.ones(n, dtype=bool)
        yes = np.zeros(n, dtype=bool)
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
        plain_yes=yes[keep],
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
    density_limits: bool = True,
) -> Demand:
    """Demand points at residential buildings, weighted by floor area (footprint x levels).

    Give exactly one of ``total`` (spread over the floor area, conserved exactly) or
    ``persons_per_m2`` (population = floor area x density).

    A ``total`` is spread within the density limits (``density_limits``, as in
    :func:`walkshed.population.demand_from_zones`): no building above
    :data:`walkshed.settings.max_residents_per_building` or
    :data:`walkshed.settings.max_residents_per_m2_floor`, no cell above
    :data:`walkshed.settings.max_residents_per_km2`; the excess goes to the other buildings,
    and what none can hold to the network's streets in the study area (said in the report).
    Every residential type counts, plain ``building=yes`` included.

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
    density_limits
        Apply the density limits to a ``total``.

    Returns
    -------
    Demand
        Points with ``method="buildings"`` (``"streets"`` for residents beyond the limits);
        a one-row report (buildings used, left out, floor area, levels tagged, total,
        ``capped``, ``moved``, ``overflow``, ``max_per_point``, ``reason``).
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
    method = np.full(len(pop), "buildings", dtype=object)
    capped = moved = overflow = 0.0
    reason = "buildings by floor area"
    if total is not None and density_limits and len(pop):
        cell_m = settings.density_cell_m
        spread = cap_and_spread(
            floor, np.zeros(len(floor), dtype=np.int64), np.array([float(total)]),
            point_cap=np.minimum(
                settings.max_residents_per_building,
                _floor_for_limits(b, inside) * settings.max_residents_per_m2_floor,
            ),
            cell=density_cells(xy, cell_m),
            cell_cap=settings.max_residents_per_km2 * (cell_m / 1000.0) ** 2,
        )
        shift = np.maximum(pop - spread.population, 0.0)
        capped, moved = float(spread.capped.sum()), float(shift.sum())
        pop = spread.population
        overflow = float(spread.unplaced[0])
        if capped:
            reason += (f"; {int(capped)} building(s) held at the density limits, "
                       f"{moved:,.0f} residents moved to the others")
        if overflow > 0:
            sxy, w = _overflow_streets(network, clip)
            pop = np.concatenate([pop, overflow * w / w.sum()])
            xy = np.vstack([xy, sxy])
            method = np.concatenate([method, np.full(len(w), "streets", dtype=object)])
            reason += f"; {overflow:,.0f} residents beyond the limits spread over the streets"
    points = _frame(xy[:, 0], xy[:, 1], pop, zone, method, out_crs)
    report = pd.DataFrame(
        [
            {
                "zone": zone,
                "method": "buildings",
                "buildings": int(inside.sum()),
                "outside_area": int((~inside).sum()),
                "nonresidential": b.dropped_nonresidential,
                "no_footprint": b.dropped_no_area,
                "levels_tagged": int(b.levels_tagged[inside].sum()),
                "footprint_m2": float(b.footprint_m2[inside].sum()),
                "floor_m2": float(floor.sum()),
                "population_in": float(total) if total is not None else math.nan,
                "population_out": float(pop.sum()),
                "capped": int(capped),
                "moved": moved,
                "overflow": overflow,
                "max_per_point": float(pop.max()) if len(pop) else 0.0,
                "reason": reason,
            }
        ]
    )
    return Demand(points, report)




def _overflow_streets(
    network: WalkNetwork | None, clip: shapely.Geometry | None
) -> tuple[np.ndarray, np.ndarray]:
    """Points along the network's streets (in ``clip``) for residents no building can hold."""
    from .zones import _along_streets, _street_pieces

    if network is None:
        raise input_error(
            "buildings", "more residents than the buildings can hold within the density limits",
            "Pass the network (its streets take the rest), or density_limits=False",
        )
    area = clip if clip is not None else shapely.box(*network.bounds)
    return _along_streets(_street_pieces(network, network.edge_tree, area), 50.0)


def _floor_for_limits(b: _Buildings, which: np.ndarray) -> np.ndarray:
    """Floor area for the density limit: tagged levels, or
    :data:`walkshed.settings.max_levels_untagged` where untagged."""
    levels = np.where(b.levels_tagged[which], b.floor_m2[which] / b.footprint_m2[which],
                      settings.max_levels_untagged)
    return np.asarray(b.footprint_m2[which] * levels, dtype=np.float64)
