"""Demand points from a population raster (WorldPop, GHSL GHS-POP, any GeoTIFF of counts)."""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from .._errors import input_error
from ..network import WalkNetwork
from .demand import Demand, _clip_area, _frame, _output_crs

log = logging.getLogger(__name__)


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
        window = _RasterWindow(src, band, col0, width, to_out, prepared, max_cell_m)
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        pops: list[np.ndarray] = []
        report: list[dict[str, Any]] = []
        for r, h in _row_bands(row0, height, max(1, int(window_cells) // width), block_rows):
            x, y, pop, rec = _raster_window(window, r, h)
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


@dataclass(frozen=True)
class _RasterWindow:
    """What every window of one raster read shares: the open file, its band, the columns read,
    the transform to the output CRS, the clip area and the largest cell kept whole."""

    src: Any
    band: int
    col_off: int
    width: int
    to_out: pyproj.Transformer
    clip: shapely.Geometry | None
    max_cell_m: float


def _raster_window(
    ctx: _RasterWindow, row_off: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Points of one window of the raster, and its report row."""
    from rasterio.windows import Window

    src, band, col_off, width = ctx.src, ctx.band, ctx.col_off, ctx.width
    to_out, clip, max_cell_m = ctx.to_out, ctx.clip, ctx.max_cell_m
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


