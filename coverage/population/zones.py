"""Zones with counts (census tracts, city districts): each total spread over the zone's
residential buildings, its streets or its area, chosen per zone by :func:`choose_method`."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
from collections.abc import Iterator
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .. import _common, settings
from .._errors import input_error
from ..network import WalkNetwork
from .buildings import _Buildings, _buildings_in, _floor_for_limits
from .demand import (
    ZONE_METHODS,
    Demand,
    Method,
    _frame,
    cap_and_spread,
    density_cells,
    study_area,
)

log = logging.getLogger(__name__)


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
    density_limits: bool = True,
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

    Plain ``building=yes`` footprints count as homes in a zone only while its typed residential
    buildings cover less than :data:`walkshed.settings.typed_residential_share` of the
    footprint (said in the zone's ``reason``). With ``density_limits`` no building holds more
    than :data:`walkshed.settings.max_residents_per_building` residents or
    :data:`walkshed.settings.max_residents_per_m2_floor` per m² of its floor, and no square
    cell of :data:`walkshed.settings.density_cell_m` more than
    :data:`walkshed.settings.max_residents_per_km2`: the excess is spread over the zone's other
    points by :func:`walkshed.population.demand.cap_and_spread`; what the whole zone cannot
    hold goes to its streets (or its area grid), and the reason says so.

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
    density_limits
        Apply the density limits (above); ``False`` spreads by weight alone.

    Returns
    -------
    Demand
        Points (``zone`` = zone name, ``method`` = the method used) and a report with one row
        per zone: ``zone``, ``population_in``, ``population_out``, ``method``, ``reason``,
        ``points``, ``area_km2``, ``network_overlap``, ``street_km``, ``buildings``,
        ``footprint_share``, ``floor_m2``, ``levels_tagged``, ``capped`` (points held at a
        limit), ``moved`` (residents moved off them), ``overflow`` (residents the zone could
        not hold within the limits, placed on its streets or area) and ``max_per_point``.

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
    ws: list[np.ndarray] = []
    caps: list[np.ndarray] = []
    zone_pos: list[np.ndarray] = []
    method_col: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    pieces_of: dict[int, np.ndarray] = {}
    totals = np.where(none, 0.0, counts)
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
            rows.append({**row, "method": "dropped",
                         "reason": "does not overlap the network's area", "points": 0})
            log.warning("zone %s does not overlap the network's area: dropped", zname)
            continue
        in_b = np.flatnonzero(b_zone == i) if b is not None else np.empty(0, dtype=np.int64)
        homes_why = ""
        if b is not None and len(in_b):
            in_b, homes_why = _homes(b, in_b)
        footprint = float(b.footprint_m2[in_b].sum()) if b is not None else 0.0
        floor = float(b.floor_m2[in_b].sum()) if b is not None else 0.0
        # a forced method that needs no street skips clipping them (the costly step), unless
        # its buildings overflow; street_km is then not reported
        lazy = method in ("area", "buildings")
        pieces = None if lazy else _street_pieces(network, tree, poly)
        if pieces is not None:
            pieces_of[i] = pieces
        street_m = (math.nan if pieces is None
                    else float(shapely.length(pieces).sum()) if len(pieces) else 0.0)
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
        cap = None
        if chosen == "buildings":
            if floor <= 0:
                raise input_error(
                    f"zone {zname}", "method 'buildings' but no residential building inside",
                    "Use method='auto' or give buildings that cover the zone",
                )
            assert b is not None
            xy = shapely.get_coordinates(b.point[in_b])
            w = b.floor_m2[in_b]
            cap = np.minimum(settings.max_residents_per_building,
                             _floor_for_limits(b, in_b) * settings.max_residents_per_m2_floor)
            if homes_why:
                reason = f"{reason}; {homes_why}"
        elif chosen == "streets":
            if street_m <= 0:
                raise input_error(
                    f"zone {zname}", "method 'streets' but no walkable street inside",
                    "Use method='auto' or 'area' for zones without streets",
                )
            assert pieces is not None
            xy, w = _along_streets(pieces, street_spacing_m)
        else:
            xy, w = _grid_in(poly, grid_spacing_m)
        if counts[i] == 0:
            xy, w = xy[:0], w[:0]
            cap = None if cap is None else cap[:0]
        xs.append(xy[:, 0])
        ys.append(xy[:, 1])
        ws.append(np.asarray(w, dtype=np.float64))
        caps.append(np.full(len(w), np.inf) if cap is None else cap)
        zone_pos.append(np.full(len(w), i, dtype=np.int64))
        method_col.append(np.full(len(w), chosen, dtype=object))
        rows.append({**row, "method": chosen, "reason": reason, "points": len(w)})
    x = np.concatenate(xs) if xs else np.empty(0)
    y = np.concatenate(ys) if ys else np.empty(0)
    w_all = np.concatenate(ws) if ws else np.empty(0)
    z_all = np.concatenate(zone_pos) if zone_pos else np.empty(0, dtype=np.int64)
    m_all = np.concatenate(method_col) if method_col else np.empty(0, dtype=object)
    cap_all = np.concatenate(caps) if caps else np.empty(0)
    plain = cap_and_spread(w_all, z_all, totals)
    if density_limits:
        cell_m = settings.density_cell_m
        spread = cap_and_spread(
            w_all, z_all, totals, point_cap=cap_all,
            cell=density_cells(np.column_stack([x, y]), cell_m),
            cell_cap=settings.max_residents_per_km2 * (cell_m / 1000.0) ** 2,
        )
    else:
        spread = plain
    pop = spread.population
    pop_parts = [pop]
    x_parts, y_parts, z_parts, m_parts = [x], [y], [z_all], [m_all]
    by_row = {r["zone"]: r for r in rows}
    overflow_where: dict[int, str] = {}
    for full in np.flatnonzero(spread.unplaced > 0):
        # the zone's points are full: the rest goes to its streets (or its area), and is said
        i = int(full)
        pieces = pieces_of.get(i)
        if pieces is None:
            pieces = _street_pieces(network, tree, polys[i])
        if len(pieces):
            xy, w = _along_streets(pieces, street_spacing_m)
            where = "streets"
        else:
            xy, w = _grid_in(polys[i], grid_spacing_m)
            where = "area"
        extra = spread.unplaced[i] * (w / w.sum())
        pop_parts.append(extra)
        x_parts.append(xy[:, 0])
        y_parts.append(xy[:, 1])
        z_parts.append(np.full(len(w), i, dtype=np.int64))
        m_parts.append(np.full(len(w), where, dtype=object))
        by_row[names[i]]["points"] += len(w)
        overflow_where[i] = where
    moved = np.maximum(plain.population - pop, 0.0)
    held = spread.capped
    pop_cat = np.concatenate(pop_parts)
    z_cat = np.concatenate(z_parts)
    n_zones = len(polys)
    out_sum = np.bincount(z_cat, weights=pop_cat, minlength=n_zones)
    top = np.zeros(n_zones)
    if len(pop_cat):
        np.maximum.at(top, z_cat, pop_cat)
    n_held = np.bincount(z_all[held], minlength=n_zones)
    n_moved = np.bincount(z_all, weights=moved, minlength=n_zones)
    for i in range(n_zones):
        r = by_row[names[i]]
        r.update(population_out=float(out_sum[i]), capped=int(n_held[i]),
                 moved=float(n_moved[i]), overflow=float(spread.unplaced[i]),
                 max_per_point=float(top[i]))
        if n_held[i] and r.get("method") not in (None, "dropped"):
            r["reason"] += (f"; {int(n_held[i])} point(s) held at the density limits, "
                            f"{n_moved[i]:,.0f} residents moved to the zone's other points")
        if i in overflow_where:
            r["reason"] += (f"; {spread.unplaced[i]:,.0f} of them beyond what its buildings "
                            f"hold within the limits, spread over its {overflow_where[i]}")
    order = ["zone", "population_in", "population_out", "method", "reason", "points",
             "area_km2", "network_overlap", "street_km", "buildings", "footprint_share",
             "floor_m2", "levels_tagged", "capped", "moved", "overflow", "max_per_point"]
    report = pd.DataFrame(rows).reindex(columns=order)
    keep = np.ones(len(pop_cat), dtype=bool)
    z_keep = z_cat[keep]
    points = _frame(
        np.concatenate(x_parts)[keep], np.concatenate(y_parts)[keep], pop_cat[keep],
        names[z_keep] if len(z_keep) else np.empty(0, dtype=object),
        np.concatenate(m_parts)[keep], crs,
    )
    return Demand(points, report)


def _homes(b: _Buildings, in_b: np.ndarray) -> tuple[np.ndarray, str]:
    """The zone's buildings that count as homes, and why plain ``building=yes`` does or not."""
    yes = b.plain_yes[in_b]
    if not yes.any():
        return in_b, ""
    fp = b.footprint_m2[in_b]
    typed = float(fp[~yes].sum()) / float(fp.sum()) if fp.sum() > 0 else 0.0
    limit = settings.typed_residential_share
    if typed >= limit:
        return in_b[~yes], (
            f"{int(yes.sum())} plain building=yes left out (typed residential buildings "
            f"cover {typed:.0%} of the footprint, >= {limit:.0%})"
        )
    return in_b, (
        f"{int(yes.sum())} plain building=yes counted as homes (typed residential buildings "
        f"cover only {typed:.0%} of the footprint, < {limit:.0%})"
    )


def _assign_to_zones(points: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Zone position of each point (:func:`walkshed._common.district_index`), -1 when in none."""
    return _common.district_index(points, polys)


#: While :func:`clipping_once` is on: the street pieces of each zone already clipped, by
#: network and the zone's WKB (the scenario's own placement and the other methods of one load
#: clip the same zones).
_PIECES: contextvars.ContextVar[dict[tuple[WalkNetwork, bytes], np.ndarray] | None] = (
    contextvars.ContextVar("walkshed_street_pieces", default=None))


@contextlib.contextmanager
def clipping_once() -> Iterator[None]:
    """Meanwhile, each zone's streets are clipped once per network (forgotten at the end)."""
    token = _PIECES.set({})
    try:
        yield
    finally:
        _PIECES.reset(token)


def _street_pieces(
    network: WalkNetwork, tree: shapely.STRtree, poly: shapely.Geometry
) -> np.ndarray:
    """The network's edges clipped to ``poly``, as single LineStrings of positive length.

    An edge that lies inside the zone (not touching its border), is simple and repeats no
    vertex is its own clipped piece (GEOS's intersection would return it unchanged); only the
    others are clipped, which is most of the time saved on a city's districts. Within
    :func:`clipping_once`, a zone clipped before on the same network (``tree`` being its
    ``edge_tree``) is not clipped again.
    """
    known = _PIECES.get() if tree is network.edge_tree else None
    key = (network, shapely.to_wkb(poly)) if known is not None else None
    if known is not None and key in known:
        return known[key].copy()
    out = _clip_streets(network, tree, poly)
    if known is not None and key is not None:
        known[key] = out.copy()
    return out


def _clip_streets(
    network: WalkNetwork, tree: shapely.STRtree, poly: shapely.Geometry
) -> np.ndarray:
    cand = tree.query(poly, predicate="intersects")
    if len(cand) == 0:
        return np.empty(0, dtype=object)
    edges = network.edge_geometry[cand]
    whole = np.isin(cand, tree.query(poly, predicate="contains_properly"))  # poly prepared
    whole[whole] = shapely.is_simple(edges[whole]) & (
        shapely.get_num_coordinates(shapely.remove_repeated_points(edges[whole]))
        == shapely.get_num_coordinates(edges[whole]))
    clipped = edges.copy()
    clipped[~whole] = shapely.intersection(edges[~whole], poly)
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
