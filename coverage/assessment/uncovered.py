"""Uncovered residents: cells (H3 or a metric grid) grouped into areas of one precinct's reach."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse

from ..network import WalkNetwork
from ..snap import snap_geometries
from ._search import _Context, _nearest
from .tables import weighted_quantile


@dataclass(frozen=True)
class CellScheme:
    """How uncovered residents are binned into cells: H3 hexagons or a square metric grid.

    Attributes
    ----------
    keys
        The cell key (str) of every uncovered demand point.
    polygons
        Cell keys -> their polygons in EPSG:4326.
    neighbours
        A cell key -> the keys of the cells that touch it.
    centres
        Cell keys -> ``(n, 2)`` centres in the network's CRS (metres).
    """

    keys: np.ndarray
    polygons: Callable[[np.ndarray], np.ndarray]
    neighbours: Callable[[str], list[str]]
    centres: Callable[[np.ndarray], np.ndarray]


def h3_resolution_for(threshold_m: float) -> int:
    """The H3 resolution for aggregating uncovered residents at a walking threshold.

    The coarsest resolution whose average hexagon edge is at most a third of the threshold,
    so that an area's shape is still legible at the scale of a walk (resolution 9, edges of
    about 200 m, for 10 to 15 minutes at 4.5 km/h; 10 for 5 minutes), between 7 and 11.

    Examples
    --------
    >>> h3_resolution_for(750.0), h3_resolution_for(375.0), h3_resolution_for(1125.0)
    (9, 10, 9)
    """
    import h3

    for res in range(7, 12):
        if h3.average_hexagon_edge_length(res, unit="m") <= threshold_m / 3.0:
            return res
    return 11



def _uncovered_areas(
    ctx: _Context,
    pts: np.ndarray,
    uncovered: np.ndarray,
    planned_covers: np.ndarray,
    district: np.ndarray,
    district_polys: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Uncovered cells and the ranked areas they form.

    A cell is split at district borders: residents of one cell in two districts are two
    cells (keyed ``<cell>|<district>``), neighbours only of cells of the same district, with
    the cell polygon clipped to the district's polygon. So every area lies in one district
    and the areas summed by district are that district's uncovered residents.
    """
    network, pop, fac, is_open, ids = ctx.network, ctx.pop, ctx.fac, ctx.is_open, ctx.ids
    cfg, walk_open = ctx.cfg, ctx.d_open
    area_cols = ["area", "rank", "population", "cells", "seed_cell", "covered_by_planned",
                 "centroid_lon", "centroid_lat", "district", "walk_to_open_m", "nearest_open",
                 "median_walk_m"]
    cell_cols = ["cell", "district", "area", "population", "covered_by_planned"]
    sel = np.flatnonzero(uncovered)
    if len(sel) == 0:
        return (
            gpd.GeoDataFrame(columns=[*area_cols, "geometry"], geometry="geometry",
                             crs="EPSG:4326"),
            gpd.GeoDataFrame(columns=[*cell_cols, "geometry"], geometry="geometry",
                             crs="EPSG:4326"),
        )
    xy = shapely.get_coordinates(pts[sel])
    to_ll = pyproj.Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(xy[:, 0], xy[:, 1])
    if cfg.cells == "h3":
        scheme = _h3_cells(lat, lon, int(cfg.h3_resolution or 9), network)
    else:
        scheme = _grid_cells(xy, float(cfg.grid_size_m or 250.0), network)
    cell_district = np.asarray(district[sel], dtype=object)
    keys = np.asarray(
        [k if d is None else f"{k}|{d}"
         for k, d in zip(scheme.keys.tolist(), cell_district.tolist(), strict=True)],
        dtype=object,
    )
    uniq, inv = np.unique(keys, return_inverse=True)  # cell ids sorted: ties by cell id
    raw = np.asarray([k.split("|", 1)[0] for k in uniq.tolist()], dtype=object)
    uniq_district = np.full(len(uniq), None, dtype=object)
    uniq_district[inv] = cell_district
    n_cells = len(uniq)
    w = pop[sel]
    cell_pop = np.bincount(inv, weights=w, minlength=n_cells)
    cell_plan = np.bincount(inv, weights=w * planned_covers[sel], minlength=n_cells)
    pos = {k: i for i, k in enumerate(uniq.tolist())}
    r: list[int] = []
    c: list[int] = []
    for i, (k, d) in enumerate(zip(raw.tolist(), uniq_district.tolist(), strict=True)):
        for nb in scheme.neighbours(k):
            j = pos.get(nb if d is None else f"{nb}|{d}")
            if j is not None and j != i:
                r.append(i)
                c.append(j)
    adj = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_cells, n_cells))
    area_of_cell, seeds = _seeded_areas(scheme.centres(raw), cell_pop, adj, cfg.main_threshold_m)
    n_areas = len(seeds)
    area_of_pt = area_of_cell[inv]

    apop = np.bincount(area_of_pt, weights=w, minlength=n_areas)
    wsafe = np.where(apop > 0, apop, 1.0)
    cx = np.bincount(area_of_pt, weights=w * xy[:, 0], minlength=n_areas) / wsafe
    cy = np.bincount(area_of_pt, weights=w * xy[:, 1], minlength=n_areas) / wsafe
    clon, clat = to_ll.transform(cx, cy)
    centroids = np.asarray(shapely.points(np.column_stack([cx, cy])))
    cen = snap_geometries(network, centroids, max_snap_m=cfg.max_snap_m)
    d_cen, n_cen, _ = _nearest(network, fac, is_open, cen)
    # the centroid of a crescent can lie in covered streets: the residents' own walk says more
    pt_order = np.argsort(area_of_pt, kind="stable")
    pt_cuts = np.searchsorted(area_of_pt[pt_order], np.arange(1, n_areas))
    median_walk = np.array([weighted_quantile(walk_open[sel][g], w[g], 0.5)
                            for g in np.split(pt_order, pt_cuts)])
    # district of most of the area's residents (its centroid may fall outside a crescent)
    frame = pd.DataFrame({"a": area_of_pt, "d": district[sel], "w": w}).dropna(subset=["d"])
    area_district = np.full(n_areas, None, dtype=object)
    if len(frame):
        by = frame.groupby(["a", "d"], sort=True)["w"].sum().reset_index()
        by = by.sort_values(["a", "w", "d"], ascending=[True, False, True])
        top = by.drop_duplicates("a")
        area_district[top["a"].to_numpy()] = top["d"].to_numpy()
    cells_per_area = np.bincount(area_of_cell, minlength=n_areas)
    cell_shapes = scheme.polygons(raw)
    cell_gdf = gpd.GeoDataFrame(
        {
            "cell": [str(k) for k in raw.tolist()],
            "district": pd.Series(uniq_district, dtype=object),
            "area": [f"U{a + 1}" for a in area_of_cell],
            "population": cell_pop,
            "covered_by_planned": cell_plan,
        },
        geometry=_clip_to_districts(cell_shapes, uniq_district, district_polys),
        crs="EPSG:4326",
    )
    cell_geoms = np.asarray(cell_gdf.geometry.values)
    whole = np.asarray([g is h for g, h in zip(cell_geoms.tolist(), cell_shapes.tolist(),
                                                strict=True)])
    by_area = np.argsort(area_of_cell, kind="stable")
    cuts = np.searchsorted(area_of_cell[by_area], np.arange(1, n_areas))
    # whole cells tile the plane without overlaps, so a coverage union is exact and fast;
    # an area with cells clipped at a district border needs the general union
    area_geom = [shapely.coverage_union_all(cell_geoms[g]) if whole[g].all()
                 else shapely.union_all(cell_geoms[g]) for g in np.split(by_area, cuts)]
    names = [f"U{a + 1}" for a in range(n_areas)]
    areas = gpd.GeoDataFrame(
        {
            "area": names,
            "rank": np.arange(1, n_areas + 1),
            "population": apop,
            "cells": cells_per_area,
            "seed_cell": pd.Series([str(k) for k in raw[seeds].tolist()], dtype=object),
            "covered_by_planned": np.bincount(area_of_cell, weights=cell_plan,
                                              minlength=n_areas),
            "centroid_lon": np.asarray(clon),
            "centroid_lat": np.asarray(clat),
            "district": pd.Series(area_district, dtype=object),
            "walk_to_open_m": d_cen,
            "nearest_open": pd.Series(
                np.where(n_cen >= 0, ids[np.maximum(n_cen, 0)], None), dtype=object
            ),
            "median_walk_m": median_walk,
        },
        geometry=area_geom,
        crs="EPSG:4326",
    )
    cell_gdf["_rank"] = area_of_cell
    cell_gdf = (
        cell_gdf.sort_values(["_rank", "population", "cell"], ascending=[True, False, True])
        .drop(columns="_rank")
        .reset_index(drop=True)
    )
    return areas, cell_gdf


def _clip_to_districts(
    polys: np.ndarray, where: np.ndarray, districts: gpd.GeoDataFrame | None
) -> np.ndarray:
    """Cell polygons (EPSG:4326) clipped to their district; outside every district, to the
    rest. A cell whose clipped part is empty (a resident placed by a zone on its border)
    keeps its whole polygon, and so does a cell wholly inside its district (the very object
    given: only the cells across a border are cut)."""
    if districts is None or len(polys) == 0:
        return polys
    ll = districts.to_crs("EPSG:4326")
    by_name: dict[str, shapely.Geometry] = {}
    for name, geom in zip(ll["name"].astype(str), ll.geometry.values, strict=True):
        by_name[name] = shapely.union(by_name[name], geom) if name in by_name else geom
    everything = shapely.union_all(list(by_name.values()))
    out = np.asarray(polys, dtype=object).copy()
    for name in {*where.tolist()}:
        idx = np.flatnonzero(np.asarray([w == name for w in where.tolist()]))
        if name is None:
            part = shapely.difference(out[idx], everything)
        else:
            poly = by_name.get(str(name), everything)
            shapely.prepare(poly)
            idx = idx[~shapely.contains_properly(poly, out[idx])]  # inside: nothing to cut
            part = shapely.intersection(out[idx], poly)
        part = shapely.make_valid(part)
        part = np.asarray([
            shapely.union_all(shapely.get_parts(g)[shapely.get_dimensions(
                shapely.get_parts(g)) == 2]) if g.geom_type == "GeometryCollection" else g
            for g in part], dtype=object)
        keep = ~shapely.is_empty(part)
        out[idx[keep]] = part[keep]
    return out


def _seeded_areas(
    centre: np.ndarray, weight: np.ndarray, adj: sparse.csr_matrix, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Group cells into contiguous areas no wider than one precinct's reach (greedy seeds).

    Repeatedly, every cell not yet in an area is scored by the residents of its *reach*: the
    cells not yet in an area whose centres lie within ``radius`` (straight line, boundary
    included) of its centre and that are connected to it through such cells (neighbouring
    cells, all inside the disk). The cell with the largest score (ties: the first cell) is the
    seed of the next area, which takes the seed's reach. Small isolated remnants end up as
    areas of their own. Areas come out in order of non-increasing population.

    Scores only fall as cells are taken, so a lazy heap of upper bounds (first, every cell's
    residents within the radius, connected or not) finds the same seeds as rescoring every
    cell at every step, in a handful of rescorings per area. Scores are exactly rounded sums
    (``math.fsum``), so equal sets of cells score equal whatever the order.

    Parameters
    ----------
    centre
        ``(n, 2)`` cell centres in metres (projected CRS).
    weight
        Residents per cell (``> 0``); cells are in cell-id order.
    adj
        Symmetric ``n x n`` cell adjacency.
    radius
        The reach of one precinct in metres (the main walking threshold).

    Returns
    -------
    area_of_cell : np.ndarray
        Area number (0-based, in the order the areas were formed) of every cell.
    seeds : np.ndarray
        The seed cell of every area.
    """
    import heapq

    from scipy.spatial import cKDTree

    n = len(weight)
    r2 = radius * radius * (1.0 + 1e-9)  # inclusive, robust to rounding of the centres
    # upper bounds: the residents of all cells within the radius, a little inflated so that a
    # rounded sum never falls below the exact score of a subset
    i, j = cKDTree(centre).query_pairs(radius * (1.0 + 1e-6), output_type="ndarray").T
    near = np.bincount(i, weights=weight[j], minlength=n) + np.bincount(
        j, weights=weight[i], minlength=n
    )
    bound = (np.asarray(weight, dtype=float) + near) * (1.0 + 1e-9) + 1e-9
    x, y = centre[:, 0].tolist(), centre[:, 1].tolist()
    wl = weight.tolist()
    indptr, indices = adj.indptr.tolist(), adj.indices.tolist()
    free = [True] * n

    def reach(s: int) -> list[int]:
        sx, sy = x[s], y[s]
        out, stack = [s], [s]
        seen = {s}
        while stack:
            u = stack.pop()
            for v in indices[indptr[u]:indptr[u + 1]]:
                if free[v] and v not in seen and (x[v] - sx) ** 2 + (y[v] - sy) ** 2 <= r2:
                    seen.add(v)
                    out.append(v)
                    stack.append(v)
        return out

    # entries (-score, cell, areas formed when scored); stale entries are upper bounds
    heap = [(-b, k, -1) for k, b in enumerate(bound.tolist())]
    heapq.heapify(heap)
    area_of_cell = np.full(n, -1, dtype=np.int64)
    seeds: list[int] = []
    while heap:
        _, s, stamp = heapq.heappop(heap)
        if not free[s]:
            continue
        members = reach(s)
        if stamp == len(seeds):  # scored after the last area: the best of all
            for m in members:
                free[m] = False
            area_of_cell[members] = len(seeds)
            seeds.append(s)
        else:
            heapq.heappush(heap, (-math.fsum(wl[m] for m in members), s, len(seeds)))
    return area_of_cell, np.asarray(seeds, dtype=np.int64)


def _h3_cells(
    lat: np.ndarray, lon: np.ndarray, res: int, network: WalkNetwork
) -> CellScheme:
    import h3

    keys = np.asarray(
        [h3.latlng_to_cell(a, b, res) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)],
        dtype=object,
    )

    def polys(cells: np.ndarray) -> np.ndarray:
        rings = [h3.cell_to_boundary(cell) for cell in cells.tolist()]  # (lat, lng) pairs
        sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
        coords = np.asarray([pt for r in rings for pt in r], dtype=float)[:, ::-1]
        idx = np.repeat(np.arange(len(rings)), sizes)
        return np.asarray(shapely.polygons(shapely.linearrings(coords, indices=idx)))

    def neighbours(cell: str) -> list[str]:
        return list(h3.grid_disk(cell, 1))

    def centres(cells: np.ndarray) -> np.ndarray:
        ll = np.asarray([h3.cell_to_latlng(cell) for cell in cells.tolist()], dtype=float)
        to_net = pyproj.Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
        cx, cy = to_net.transform(ll[:, 1], ll[:, 0])
        return np.column_stack([cx, cy])

    return CellScheme(keys, polys, neighbours, centres)


def _grid_cells(
    xy: np.ndarray, size: float, network: WalkNetwork
) -> CellScheme:
    ij = np.floor(xy / size).astype(np.int64)
    keys = np.asarray([f"{i}_{j}" for i, j in ij.tolist()], dtype=object)

    def index(cells: np.ndarray) -> np.ndarray:
        return np.asarray([[int(v) for v in c.split("_")] for c in cells.tolist()], dtype=float)

    def polys(cells: np.ndarray) -> np.ndarray:
        ij2 = index(cells)
        boxes = shapely.box(ij2[:, 0] * size, ij2[:, 1] * size,
                            (ij2[:, 0] + 1) * size, (ij2[:, 1] + 1) * size)
        return np.asarray(
            gpd.GeoSeries(boxes, crs=network.crs).to_crs("EPSG:4326").values, dtype=object
        )

    def neighbours(cell: str) -> list[str]:
        i, j = (int(v) for v in cell.split("_"))
        return [f"{i + a}_{j + b}" for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b]

    def centres(cells: np.ndarray) -> np.ndarray:
        return (index(cells) + 0.5) * size

    return CellScheme(keys, polys, neighbours, centres)

