"""Where residents live: weighted demand points from a raster, zone totals or buildings.

Three sources, one result. Each function returns a :class:`Demand`: the demand points (a
GeoDataFrame in the network's CRS with ``population``, ``zone`` and ``method``) and a report
table saying what was done with every part of the input. Every redistribution conserves its
source total to float rounding: a raster cell's count stays with that cell (split evenly over a
sub-grid when the cell is larger than a block), and a zone's total is spread over what lies
inside the zone in proportion to a stated weight.

- :func:`demand_from_raster`: a population GeoTIFF (WorldPop, GHSL GHS-POP, ...), read window by
  window, clipped to the study area, nodata and negative cells ignored.
- :func:`demand_from_zones`: polygons with counts (census tracts, city districts); each zone's
  total goes to its residential buildings (footprint x levels), its streets (length) or its
  area (a regular grid), chosen per zone by the rule in :func:`choose_method`.
- :func:`demand_from_buildings`: OSM residential buildings scaled to a total, or at a density
  of persons per m² of floor area.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from . import _common, settings
from ._buildings import is_residential, parse_levels, read_buildings
from ._errors import input_error
from .network import WalkNetwork

__all__ = [
    "Demand",
    "choose_method",
    "demand_from_buildings",
    "demand_from_raster",
    "demand_from_zones",
    "read_buildings",
    "study_area",
]

log = logging.getLogger(__name__)

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


# ---------------------------------------------------------------------------------------------
# raster


def demand_from_raster(
    source: str | os.PathLike[str],
    network: WalkNetwork | None = None,
    *,
    crs: Any = None,
    area: Any = None,
    band: int = 1,
    max_cell_m: float = 100.0,
    window_cells: int = 1 << 20,
) -> Demand:
    """Demand points from a population raster (WorldPop, GHSL GHS-POP, any GeoTIFF of counts).

    The raster is read window by window over the study area only. Every cell with a positive
    count whose centre lies in the study area becomes one point at its centre, reprojected to
    the network's CRS, carrying the count; a cell wider or taller than ``max_cell_m`` becomes a
    ``k x k`` grid of points inside it, each carrying ``1/k²`` of the count. Nodata, NaN, zero and
    negative cells give no points (negative cells are counted in the report).

    Parameters
    ----------
    source
        Path of the raster (any format GDAL reads).
    network
        The walking network: gives the output CRS and, unless ``area`` is given, the study area
        (:func:`study_area`).
    crs
        Output CRS when no network is given.
    area
        Study area: a shapely polygon in the output CRS, or a GeoDataFrame/GeoSeries in any CRS.
        Without it and without a network, the whole raster is read.
    band
        Band holding the counts (1-based).
    max_cell_m
        Largest cell side (metres in the output CRS) kept as a single point.
    window_cells
        Cells read at once; bounds the memory of one step.

    Returns
    -------
    Demand
        Points with ``method="raster"`` and ``zone=None``; the report has one row per window:
        ``row_off``, ``col_off``, ``height``, ``width``, ``cells_populated`` (positive cells in
        the area), ``cells_nodata``, ``cells_negative``, ``cells_outside`` (positive cells outside
        the area), ``split`` (k), ``population_in`` (sum of the populated cells),
        ``population_out`` (sum of the window's points), ``area_covered`` (share of the study
        area inside the raster's extent; below 1 also logs a warning).

    Raises
    ------
    InputError
        The file cannot be read or has no CRS; the raster does not overlap the study area; every
        cell in the area is nodata, zero or negative.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    what = f"population raster '{source}'"
    out_crs = _output_crs(network, crs, what)
    clip = _clip_area(area, network, out_crs)
    if max_cell_m <= 0:
        raise input_error("max_cell_m", f"must be positive, got {max_cell_m}", "Give metres > 0")
    try:
        with warnings.catch_warnings():
            # a file without georeferencing is reported below as a clear InputError
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(source)
    except (RasterioError, OSError) as exc:
        raise input_error(
            what, f"cannot be opened as a raster ({exc})",
            "Check the path; give a GeoTIFF of population counts",
        ) from exc
    with src:
        if src.crs is None:
            raise input_error(
                what, "has no coordinate reference system (CRS)",
                "Use a georeferenced raster (WorldPop and GHSL files carry one) or assign it "
                "with `gdal_edit.py -a_srs EPSG:4326 file.tif`",
            )
        if not 1 <= band <= src.count:
            raise input_error(
                what, f"has {src.count} band(s), band {band} was asked",
                "Give the band holding the counts",
            )
        raster_crs = pyproj.CRS.from_user_input(src.crs.to_wkt())
        to_out = pyproj.Transformer.from_crs(raster_crs, out_crs, always_xy=True)
        col0, row0, width, height = _clip_window(src, clip, out_crs, raster_crs)
        if width <= 0 or height <= 0:
            raise input_error(
                what, "does not overlap the study area",
                "Check that the raster covers the city (and its CRS); download the tile that "
                "contains the network",
            )
        covered = _raster_covers(src, clip, to_out)
        prepared = None
        if clip is not None:
            prepared = clip
            shapely.prepare(prepared)
        block_rows = int(src.block_shapes[band - 1][0])
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        pops: list[np.ndarray] = []
        report: list[dict[str, Any]] = []
        for r, h in _row_bands(row0, height, max(1, int(window_cells) // width), block_rows):
            x, y, pop, rec = _raster_window(
                src, band, r, col0, h, width, to_out, prepared, max_cell_m
            )
            xs.append(x)
            ys.append(y)
            pops.append(pop)
            report.append(rec)
    rep = pd.DataFrame(report)
    rep["area_covered"] = covered
    if rep.empty or rep["cells_populated"].sum() == 0:
        if not rep.empty and rep["cells_outside"].sum() > 0:
            problem = "no populated cell has its centre inside the study area"
        else:
            problem = "every cell over the study area is nodata, zero or negative"
        raise input_error(
            what, problem,
            "Check that the raster covers the city and that its nodata value is set right",
        )
    if covered < 1.0 - 1e-6:
        log.warning(
            "%s covers only %.1f%% of the study area: residents outside it are missing",
            what, 100 * covered,
        )
    neg = int(rep["cells_negative"].sum())
    if neg:
        log.warning("%s: %d negative cell(s) ignored", what, neg)
    x_all = np.concatenate(xs)
    y_all = np.concatenate(ys)
    pop_all = np.concatenate(pops)
    points = _frame(x_all, y_all, pop_all, None, "raster", out_crs)
    return Demand(points, rep)


def _row_bands(row0: int, height: int, rows: int, block_rows: int) -> Iterator[tuple[int, int]]:
    """``(row_off, height)`` of bands of about ``rows`` rows covering ``row0 .. row0+height``,
    cut on the file's block boundaries when a band holds whole blocks (no block read twice)."""
    stop = row0 + height
    if rows >= block_rows > 0:
        rows -= rows % block_rows
        end = min(stop, (row0 // block_rows) * block_rows + rows)
    else:
        end = min(stop, row0 + rows)
    r = row0
    while r < stop:
        yield r, end - r
        r = end
        end = min(stop, r + rows)


def _output_crs(network: WalkNetwork | None, crs: Any, what: str) -> pyproj.CRS:
    if network is not None:
        return network.crs
    if crs is None:
        raise input_error(
            what, "no output CRS: neither a network nor a crs was given",
            "Pass the walking network (or crs='EPSG:...' of a projected CRS in metres)",
        )
    return pyproj.CRS.from_user_input(crs)


def _clip_window(
    src: Any, clip: shapely.Geometry | None, out_crs: pyproj.CRS, raster_crs: pyproj.CRS
) -> tuple[int, int, int, int]:
    """``(col_off, row_off, width, height)`` of the raster cells over ``clip`` (whole raster
    when ``clip`` is None); width or height <= 0 when they do not overlap."""
    if clip is None:
        return 0, 0, src.width, src.height
    back = pyproj.Transformer.from_crs(out_crs, raster_crs, always_xy=True)
    # densify so that curved edges of the reprojected area stay inside its bounding box
    minx, miny, maxx, maxy = shapely.bounds(clip)
    step = max(maxx - minx, maxy - miny) / 64.0
    ring = shapely.segmentize(shapely.box(minx, miny, maxx, maxy).exterior, max(step, 1e-9))
    xy = shapely.get_coordinates(ring)
    rx, ry = back.transform(xy[:, 0], xy[:, 1])
    ok = np.isfinite(rx) & np.isfinite(ry)
    if not ok.any():
        return 0, 0, 0, 0
    inv = ~src.transform
    px, py = np.asarray(rx)[ok], np.asarray(ry)[ok]
    cols = inv.a * px + inv.b * py + inv.c
    rows = inv.d * px + inv.e * py + inv.f
    c0 = max(0, math.floor(float(np.min(cols))))
    c1 = min(src.width, math.ceil(float(np.max(cols))))
    r0 = max(0, math.floor(float(np.min(rows))))
    r1 = min(src.height, math.ceil(float(np.max(rows))))
    return c0, r0, c1 - c0, r1 - r0


def _raster_covers(src: Any, clip: shapely.Geometry | None, to_out: pyproj.Transformer) -> float:
    """Share of the study area inside the raster's extent (1.0 without a study area)."""
    if clip is None:
        return 1.0
    tr = src.transform
    ring = shapely.segmentize(
        shapely.box(0, 0, src.width, src.height).exterior, max(src.width, src.height) / 64.0
    )
    pc, pr = shapely.get_coordinates(ring).T
    x, y = to_out.transform(tr.a * pc + tr.b * pr + tr.c, tr.d * pc + tr.e * pr + tr.f)
    x, y = np.asarray(x), np.asarray(y)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 4:
        return 0.0
    footprint = shapely.make_valid(shapely.Polygon(np.column_stack([x[ok], y[ok]])))
    return float(shapely.area(shapely.intersection(clip, footprint)) / shapely.area(clip))


def _raster_window(
    src: Any,
    band: int,
    row_off: int,
    col_off: int,
    height: int,
    width: int,
    to_out: pyproj.Transformer,
    clip: shapely.Geometry | None,
    max_cell_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Points of one window of the raster, and its report row."""
    from rasterio.windows import Window

    data = src.read(band, window=Window(col_off, row_off, width, height), masked=True)
    values = np.ma.getdata(data).astype(np.float64, copy=False)
    mask = np.ma.getmaskarray(data) | ~np.isfinite(values)
    negative = ~mask & (values < 0)
    r, c = np.nonzero(~mask & (values > 0))
    val = values[r, c]
    tr = src.transform
    # cell centres: pixel (col + 0.5, row + 0.5) through the affine transform
    pc = c.astype(np.float64) + (col_off + 0.5)
    pr = r.astype(np.float64) + (row_off + 0.5)
    x, y = to_out.transform(tr.a * pc + tr.b * pr + tr.c, tr.d * pc + tr.e * pr + tr.f)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    inside = np.isfinite(x) & np.isfinite(y)
    if clip is not None:
        inside &= shapely.contains_xy(clip, x, y)
    n_out = int((~inside).sum())
    pc, pr, x, y, val = pc[inside], pr[inside], x[inside], y[inside], val[inside]
    k = _split_factor(tr, to_out, pc, pr, max_cell_m)
    if k > 1 and len(val):
        # a k x k grid of points inside each cell, in pixel space, so they stay in their cell
        frac = (np.arange(k) + 0.5) / k - 0.5
        fc, fr = np.meshgrid(frac, frac)
        qc = (pc[:, None] + fc.ravel()[None, :]).ravel()
        qr = (pr[:, None] + fr.ravel()[None, :]).ravel()
        x, y = to_out.transform(tr.a * qc + tr.b * qr + tr.c, tr.d * qc + tr.e * qr + tr.f)
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        pop = np.repeat(val / (k * k), k * k)
    else:
        pop = val
    rec = {
        "row_off": row_off,
        "col_off": col_off,
        "height": height,
        "width": width,
        "cells_populated": len(val),
        "cells_nodata": int(mask.sum()),
        "cells_negative": int(negative.sum()),
        "cells_outside": n_out,
        "split": k,
        "population_in": float(val.sum()),
        "population_out": float(pop.sum()),
    }
    return x, y, pop, rec


def _split_factor(
    tr: Any, to_out: pyproj.Transformer, pc: np.ndarray, pr: np.ndarray, max_cell_m: float
) -> int:
    """How many points per cell side so that none stands for more than ``max_cell_m``."""
    if len(pc) == 0:
        return 1
    pick = np.linspace(0, len(pc) - 1, min(len(pc), 64)).astype(np.int64)
    c, r = pc[pick], pr[pick]
    corners = []
    for dc, dr in ((-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5)):
        cx, cy = tr.a * (c + dc) + tr.b * (r + dr) + tr.c, tr.d * (c + dc) + tr.e * (r + dr) + tr.f
        ox, oy = to_out.transform(cx, cy)
        corners.append(np.column_stack([ox, oy]))
    side = np.maximum(
        np.hypot(*(corners[1] - corners[0]).T), np.hypot(*(corners[2] - corners[0]).T)
    )
    side = side[np.isfinite(side)]
    if len(side) == 0:
        return 1
    return int(min(64, max(1, math.ceil(float(side.max()) / max_cell_m - 1e-9))))


# ---------------------------------------------------------------------------------------------
# buildings


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
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise input_error(label, f"must be a number >= 0, got {value}", "Give a count >= 0")
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


# ---------------------------------------------------------------------------------------------
# zones with counts


def choose_method(
    *,
    footprint_share: float,
    n_buildings: int,
    street_m: float,
    min_footprint_share: float,
    min_buildings: int,
    min_street_m: float,
) -> tuple[str, str]:
    """The rule that picks how a zone's total is spread, and the reason in words.

    1. ``buildings`` when mapped residential footprints cover at least ``min_footprint_share``
       of the zone and there are at least ``min_buildings`` of them: the buildings are mapped
       well enough to say where people live (fully mapped city districts have 10-30 % of their
       land under buildings; a few percent means most housing is missing from the map);
    2. otherwise ``streets`` when the zone holds at least ``min_street_m`` of walkable street:
       people live along streets, so street length is the next best proxy;
    3. otherwise ``area``: the total is spread evenly over a regular grid.

    Returns
    -------
    (method, reason)

    Examples
    --------
    >>> choose_method(footprint_share=0.12, n_buildings=2400, street_m=168_000,
    ...               min_footprint_share=0.05, min_buildings=10, min_street_m=100)[0]
    'buildings'
    >>> choose_method(footprint_share=0.004, n_buildings=256, street_m=357_000,
    ...               min_footprint_share=0.05, min_buildings=10, min_street_m=100)[0]
    'streets'
    """
    share_txt = f"residential footprints cover {footprint_share:.1%} of the zone"
    if footprint_share >= min_footprint_share and n_buildings >= min_buildings:
        return "buildings", (
            f"{share_txt} (>= {min_footprint_share:.1%}) with {n_buildings} buildings"
        )
    why = (
        f"{share_txt} (< {min_footprint_share:.1%})"
        if footprint_share < min_footprint_share
        else f"only {n_buildings} residential buildings (< {min_buildings})"
    )
    if street_m >= min_street_m:
        return "streets", f"{why}; {street_m / 1000:.1f} km of street inside"
    return "area", f"{why}; only {street_m:.0f} m of street inside (< {min_street_m:.0f} m)"


def _check_zones(
    zones: gpd.GeoDataFrame, population: str, name: str | None, crs: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated zone geometries (in ``crs``), counts and names."""
    what = "zones"
    if not isinstance(zones, gpd.GeoDataFrame):
        raise input_error(
            what, f"expected a GeoDataFrame, got {type(zones).__name__}",
            "Read the zones with geopandas or pyogrio.read_dataframe",
        )
    if len(zones) == 0:
        raise input_error(what, "no zones given (empty table)", "Give at least one polygon")
    if zones.crs is None:
        raise input_error(
            what, "has no coordinate reference system (CRS)",
            "Set it, e.g. zones.set_crs('EPSG:4326') for longitude/latitude",
        )
    if population not in zones.columns:
        cols = ", ".join(str(c) for c in zones.columns if c != zones.geometry.name)
        raise input_error(
            what, f"no count column '{population}' (columns: {cols or 'none'})",
            "Name the column holding the residents with population=...",
        )
    if name is not None and name in zones.columns:
        names = zones[name].astype(object).to_numpy()
    else:
        names = np.asarray([str(i) for i in zones.index], dtype=object)
    dup = pd.Series(names).duplicated(keep=False).to_numpy()
    if dup.any():
        examples = ", ".join(sorted({str(n) for n in names[dup]})[:5])
        raise input_error(
            what, f"zone names repeat ({examples}): each zone's residents must stay apart",
            "Give a column of unique zone names with name=..., or name=None to use the index",
        )
    raw = zones[population]
    counts = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(counts)
    if bad.any():
        examples = ", ".join(
            f"{names[i]}={raw.iloc[i]!r}" for i in np.flatnonzero(bad)[:5]
        )
        raise input_error(
            f"zones column '{population}'",
            f"{int(bad.sum())} value(s) are missing or not numbers ({examples})",
            "Give a number of residents for every zone",
        )
    neg = counts < 0
    if neg.any():
        examples = ", ".join(f"{names[i]}={counts[i]:g}" for i in np.flatnonzero(neg)[:5])
        raise input_error(
            f"zones column '{population}'",
            f"{int(neg.sum())} negative count(s) ({examples})",
            "Counts of residents must be >= 0",
        )
    geom = np.asarray(zones.geometry.values, dtype=object)
    missing = np.asarray(shapely.is_missing(geom) | shapely.is_empty(geom), dtype=bool)
    if missing.any():
        raise input_error(
            what, f"{int(missing.sum())} zone(s) have no geometry", "Drop or fix those rows"
        )
    geom = np.asarray(zones.to_crs(crs).geometry.values, dtype=object)
    geom = shapely.make_valid(geom)
    # keep the polygonal part (make_valid can add slivers of lower dimension)
    polys = np.asarray(
        [shapely.union_all([p for p in shapely.get_parts(g) if p.area > 0]) for g in geom],
        dtype=object,
    )
    flat = np.asarray(shapely.area(polys) <= 0, dtype=bool)
    if flat.any():
        examples = ", ".join(str(n) for n in names[flat][:5])
        raise input_error(
            what, f"{int(flat.sum())} zone(s) are not polygons or have no area ({examples})",
            "Zones must be polygons or multipolygons",
        )
    return polys, counts, names


def demand_from_zones(
    zones: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    population: str = "population",
    name: str | None = "name",
    buildings: gpd.GeoDataFrame | str | os.PathLike[str] | None = None,
    method: Method = "auto",
    min_footprint_share: float = 0.05,
    min_buildings: int = 10,
    min_street_m: float = 100.0,
    street_spacing_m: float = 50.0,
    grid_spacing_m: float = 100.0,
    default_levels: float | None = None,
    outside: Literal["error", "drop"] = "error",
) -> Demand:
    """Spread each zone's resident count over what lies inside it.

    Each zone's total goes, by the rule of :func:`choose_method` (or by ``method`` for all):

    - ``buildings``: to its residential buildings (representative point inside the zone), in
      proportion to floor area = footprint x ``building:levels`` (``default_levels`` where
      untagged; non-residential types left out);
    - ``streets``: to points every ``street_spacing_m`` along the network's edges clipped to
      the zone, in proportion to the street length each stands for;
    - ``area``: evenly to the points of a ``grid_spacing_m`` grid inside the zone.

    Every zone's total is conserved exactly (to float rounding).

    Parameters
    ----------
    zones
        Polygons (any CRS) with a count column.
    network
        The walking network (output CRS, streets, study area).
    population
        Name of the count column.
    name
        Column naming the zones (written to ``zone``); the index is used when absent.
    buildings
        Building footprints: an OSM file or a GeoDataFrame (see :func:`demand_from_buildings`).
        Without them no zone uses the buildings method.
    method
        ``"auto"`` (the rule) or one method for every zone.
    min_footprint_share, min_buildings, min_street_m
        Thresholds of the rule (:func:`choose_method`).
    street_spacing_m
        Spacing of the points along streets.
    grid_spacing_m
        Spacing of the area grid.
    default_levels
        Levels of untagged buildings; default :data:`walkshed.settings.default_building_levels`.
    outside
        What to do with zones that do not overlap the network's area (:func:`study_area`):
        ``"error"`` raises; ``"drop"`` leaves them out, reported with method ``"dropped"``.
        Zones that overlap only partly are kept, with a warning logged and their overlap in
        the report's ``network_overlap``.

    Returns
    -------
    Demand
        Points (``zone`` = zone name, ``method`` = the method used) and a report with one row
        per zone: ``zone``, ``population_in``, ``population_out``, ``method``, ``reason``,
        ``points``, ``area_km2``, ``network_overlap``, ``street_km``, ``buildings``,
        ``footprint_share``, ``floor_m2``, ``levels_tagged``.

    Raises
    ------
    InputError
        Missing or non-numeric count column, missing or negative counts, no CRS, non-polygon
        zones, zones outside the network's area (with ``outside="error"``), a forced method
        that a zone cannot use.
    """
    if method not in ("auto", *ZONE_METHODS):
        raise input_error(
            "method", f"unknown method {method!r}", "Use 'auto', 'buildings', 'streets' or 'area'"
        )
    for label, value in (("street_spacing_m", street_spacing_m),
                         ("grid_spacing_m", grid_spacing_m)):
        if not value > 0:
            raise input_error(label, f"must be positive, got {value}", "Give metres > 0")
    crs = network.crs
    polys, counts, names = _check_zones(zones, population, name, crs)
    served = study_area(network)
    overlap = np.asarray(
        shapely.area(shapely.intersection(polys, served)) / shapely.area(polys), dtype=np.float64
    )
    none = overlap <= 0
    if none.any() and outside == "error":
        examples = ", ".join(str(n) for n in names[none][:5])
        raise input_error(
            "zones",
            f"{int(none.sum())} zone(s) do not overlap the network's area ({examples})",
            "Check the zones' CRS and that they belong to this city, load a network that "
            "covers them, or pass outside='drop' to leave them out",
        )
    for part in np.flatnonzero((overlap > 0) & (overlap < 1 - 1e-9)):
        log.warning(
            "zone %s: only %.1f%% of its area lies within the network's area; its residents "
            "outside it may be unreachable", names[part], 100 * overlap[part],
        )

    b = None if buildings is None else _buildings_in(buildings, crs, default_levels)
    if method == "buildings" and b is None:
        raise input_error(
            "method='buildings'", "no buildings were given", "Pass buildings=... (an OSM file)"
        )
    b_zone = _assign_to_zones(b.point, polys) if b is not None else np.empty(0, dtype=np.int64)
    tree = network.edge_tree

    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    pops: list[np.ndarray] = []
    zone_col: list[np.ndarray] = []
    method_col: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    for i, poly in enumerate(polys):
        zname = names[i]
        area_m2 = float(shapely.area(poly))
        row: dict[str, Any] = {
            "zone": zname,
            "population_in": float(counts[i]),
            "area_km2": area_m2 / 1e6,
            "network_overlap": float(overlap[i]),
        }
        if none[i]:
            rows.append({**row, "population_out": 0.0, "method": "dropped",
                         "reason": "does not overlap the network's area", "points": 0})
            log.warning("zone %s does not overlap the network's area: dropped", zname)
            continue
        in_b = np.flatnonzero(b_zone == i) if b is not None else np.empty(0, dtype=np.int64)
        footprint = float(b.footprint_m2[in_b].sum()) if b is not None else 0.0
        floor = float(b.floor_m2[in_b].sum()) if b is not None else 0.0
        pieces = _street_pieces(network, tree, poly)
        street_m = float(shapely.length(pieces).sum()) if len(pieces) else 0.0
        row.update(
            street_km=street_m / 1000,
            buildings=len(in_b),
            footprint_share=footprint / area_m2,
            floor_m2=floor,
            levels_tagged=int(b.levels_tagged[in_b].sum()) if b is not None else 0,
        )
        if method == "auto":
            chosen, reason = choose_method(
                footprint_share=footprint / area_m2 if b is not None else 0.0,
                n_buildings=len(in_b),
                street_m=street_m,
                min_footprint_share=min_footprint_share,
                min_buildings=min_buildings,
                min_street_m=min_street_m,
            )
            if b is None:
                reason = "no buildings given; " + reason.split("; ", 1)[-1]
        else:
            chosen, reason = method, f"method={method!r} asked for every zone"
        if chosen == "buildings":
            if floor <= 0:
                raise input_error(
                    f"zone {zname}", "method 'buildings' but no residential building inside",
                    "Use method='auto' or give buildings that cover the zone",
                )
            assert b is not None
            xy = shapely.get_coordinates(b.point[in_b])
            w = b.floor_m2[in_b]
        elif chosen == "streets":
            if street_m <= 0:
                raise input_error(
                    f"zone {zname}", "method 'streets' but no walkable street inside",
                    "Use method='auto' or 'area' for zones without streets",
                )
            xy, w = _along_streets(pieces, street_spacing_m)
        else:
            xy, w = _grid_in(poly, grid_spacing_m)
        pop = counts[i] * (w / w.sum()) if counts[i] > 0 else np.zeros(0)
        if counts[i] == 0:
            xy = xy[:0]
        xs.append(xy[:, 0])
        ys.append(xy[:, 1])
        pops.append(pop)
        zone_col.append(np.full(len(pop), zname, dtype=object))
        method_col.append(np.full(len(pop), chosen, dtype=object))
        rows.append({**row, "population_out": float(pop.sum()), "method": chosen,
                     "reason": reason, "points": len(pop)})
    order = ["zone", "population_in", "population_out", "method", "reason", "points",
             "area_km2", "network_overlap", "street_km", "buildings", "footprint_share",
             "floor_m2", "levels_tagged"]
    report = pd.DataFrame(rows).reindex(columns=order)
    if not xs:
        points = _frame(np.empty(0), np.empty(0), np.empty(0), None, "", crs)
    else:
        points = _frame(
            np.concatenate(xs), np.concatenate(ys), np.concatenate(pops),
            np.concatenate(zone_col), np.concatenate(method_col), crs,
        )
    return Demand(points, report)


def _assign_to_zones(points: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Zone position of each point (:func:`walkshed._common.district_index`), -1 when in none."""
    return _common.district_index(points, polys)


def _street_pieces(
    network: WalkNetwork, tree: shapely.STRtree, poly: shapely.Geometry
) -> np.ndarray:
    """The network's edges clipped to ``poly``, as single LineStrings of positive length."""
    cand = tree.query(poly, predicate="intersects")
    if len(cand) == 0:
        return np.empty(0, dtype=object)
    clipped = shapely.intersection(network.edge_geometry[cand], poly)
    parts = shapely.get_parts(clipped)
    lines = parts[shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING]
    return lines[shapely.length(lines) > 0]


def _along_streets(lines: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points at the middles of ``<= spacing`` pieces of each line, weighted by piece length."""
    length = np.asarray(shapely.length(lines), dtype=np.float64)
    n = np.maximum(1, np.ceil(length / spacing)).astype(np.int64)
    which = np.repeat(np.arange(len(lines)), n)
    first = np.cumsum(n) - n
    j = np.arange(int(n.sum())) - np.repeat(first, n)
    frac = (j + 0.5) / n[which]
    pts = shapely.line_interpolate_point(lines[which], frac, normalized=True)
    return shapely.get_coordinates(pts), (length / n)[which]


def _grid_in(poly: shapely.Geometry, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres of a ``spacing`` grid (anchored at multiples of ``spacing``) inside ``poly``,
    equal weights; a point on the surface when the zone is smaller than one cell."""
    minx, miny, maxx, maxy = shapely.bounds(poly)
    gx = (np.arange(math.floor(minx / spacing), math.ceil(maxx / spacing)) + 0.5) * spacing
    gy = (np.arange(math.floor(miny / spacing), math.ceil(maxy / spacing)) + 0.5) * spacing
    xy_parts: list[np.ndarray] = []
    shapely.prepare(poly)
    for rows in _chunks(len(gy), max(1, (1 << 20) // max(len(gx), 1))):
        mx, my = np.meshgrid(gx, gy[rows])
        inside = shapely.contains_xy(poly, mx.ravel(), my.ravel())
        xy_parts.append(np.column_stack([mx.ravel()[inside], my.ravel()[inside]]))
    xy = np.concatenate(xy_parts) if xy_parts else np.empty((0, 2))
    if len(xy) == 0:
        xy = shapely.get_coordinates(shapely.point_on_surface(poly))
    return xy, np.ones(len(xy))


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
