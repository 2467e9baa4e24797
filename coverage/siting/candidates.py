"""Candidate sites: street points, a planner's list or the planned precincts."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import settings
from .._errors import input_error
from ..network import WalkNetwork
from ..reach import nearest_facility
from ..snap import Snapped, points_in_network_crs, snap_geometries

# ---------------------------------------------------------------------------------------------
# candidates


@dataclass(frozen=True)
class Candidates:
    """Candidate sites placed on the network.

    Attributes
    ----------
    sites
        GeoDataFrame in the network's CRS, index = site id (str), column ``source``
        (``"network"``, ``"user"`` or ``"planned"``); only the usable sites.
    snapped
        Their positions on the network, aligned with ``sites``.
    off_network
        Ids of the given candidates farther than ``max_snap_m`` from any street (dropped).
    excluded
        Number of candidates removed by the exclusion polygons.
    """

    sites: gpd.GeoDataFrame
    snapped: Snapped
    off_network: list[str]
    excluded: int

    def __len__(self) -> int:
        return len(self.sites)


def network_candidates(
    network: WalkNetwork, *, spacing_m: float | None = None, cache: bool | None = None
) -> tuple[gpd.GeoDataFrame, Snapped]:
    """Points along the streets, about ``spacing_m`` apart, thinned to one per grid cell.

    Every edge gets ``max(1, round(length / spacing))`` points at the middles of equal pieces;
    then the points are thinned to the first one (in edge order) of each ``spacing x spacing``
    square, so dense junctions do not get crowded with candidates. Points that end up farther
    than ``spacing_m`` by walking from every kept candidate (streets of a square that only
    connect round a long detour) are added back, one per square at a time, so every street
    has a candidate within the spacing. Deterministic.

    Parameters
    ----------
    network
        The walking network.
    spacing_m
        Spacing in metres; default :data:`walkshed.settings.candidate_spacing_m`.
    cache
        Keep them in the on-disk cache (:mod:`walkshed.siting.cache`), keyed by the network's
        content and the spacing; default :data:`walkshed.settings.use_cache`.

    Returns
    -------
    (GeoDataFrame, Snapped)
        The candidate points (index ``"n0"``, ``"n1"``, ... in the network's CRS) and their
        positions on the network (access distance 0).
    """
    s = settings.candidate_spacing_m if spacing_m is None else float(spacing_m)
    if not s > 0:
        raise input_error("spacing_m", f"must be positive, got {spacing_m!r}",
                          "Use a spacing in metres such as 150")
    from . import cache as _cache

    key = _cache.digest("network candidates", _cache.network_digest(network), s)
    got = _cache.cached_arrays("candidates", key, lambda: _street_points(network, s),
                               use=cache)
    edge, offset, xy = got["edge"], got["offset"], got["xy"]
    snapped = Snapped(edge, offset, np.zeros(len(edge)), xy)
    ids = [f"n{i}" for i in range(len(edge))]
    gdf = gpd.GeoDataFrame({"source": "network"}, geometry=shapely.points(xy),
                           index=pd.Index(ids, name="site"), crs=network.crs)
    return gdf, snapped


def _street_points(network: WalkNetwork, s: float) -> dict[str, np.ndarray]:
    """The arrays of :func:`network_candidates` (edge, offset, xy of the kept points)."""
    length = network.edge_length
    k = np.maximum(1, np.rint(length / s)).astype(np.int64)
    edge = np.repeat(np.arange(network.n_edges), k)
    start = np.repeat(np.cumsum(k) - k, k)
    piece = np.arange(len(edge)) - start
    offset = (piece + 0.5) * length[edge] / k[edge]
    geoms = network.edge_geometry[edge]
    pts = shapely.line_interpolate_point(geoms, offset)
    xy = shapely.get_coordinates(pts)
    cell = np.floor(xy / s).astype(np.int64)
    _, first = np.unique(cell, axis=0, return_index=True)
    first = np.sort(first)
    # A cell's first point does not stand for a street of the same cell that is a long walk
    # away (a yard or quay reached round a block): add back, one per cell and round, the
    # points farther than the spacing by walking from every kept candidate.
    every = Snapped(edge, offset, np.zeros(len(edge)), xy)
    while True:
        near = nearest_facility(network, every.subset(first), every, max_distance_m=s)
        far = np.flatnonzero(~(near.distance_m <= s))
        if len(far) == 0:
            break
        _, pick = np.unique(cell[far], axis=0, return_index=True)
        first = np.concatenate([first, far[np.sort(pick)]])  # earlier ids stay as they were
    return {"edge": edge[first], "offset": offset[first], "xy": xy[first]}


def make_candidates(
    network: WalkNetwork,
    *,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | str | None = None,
    precincts: gpd.GeoDataFrame | None = None,
    exclude: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    spacing_m: float | None = None,
    max_snap_m: float | None = None,
    cache: bool | None = None,
) -> Candidates:
    """Candidate sites from the network, a user table or the planned precincts.

    Parameters
    ----------
    network
        The walking network.
    candidates
        ``None`` or ``"network"``: street points (:func:`network_candidates`); ``"planned"``:
        the precincts with status ``planned``; a GeoDataFrame/GeoSeries: the user's sites (any
        CRS; index used as site id).
    precincts
        Needed for ``"planned"``.
    exclude
        Polygons (any CRS) where no site may go; candidates inside are dropped.
    spacing_m
        Spacing of street candidates; default :data:`walkshed.settings.candidate_spacing_m`.
    max_snap_m
        Largest distance from a given site to the street; default
        :data:`walkshed.settings.max_snap_m`.
    cache
        Street candidates from the on-disk cache; see :func:`network_candidates`.

    Returns
    -------
    Candidates
    """
    off: list[str] = []
    if candidates is None or (isinstance(candidates, str) and candidates == "network"):
        sites, snapped = network_candidates(network, spacing_m=spacing_m, cache=cache)
    else:
        if isinstance(candidates, str):
            if candidates != "planned":
                raise input_error("candidates", f"unknown candidate source {candidates!r}",
                                  "Use 'network', 'planned' or a GeoDataFrame of sites")
            if precincts is None or "status" not in precincts.columns:
                raise input_error("candidates='planned'", "no precincts with a status given",
                                  "Pass the precincts table with a 'status' column")
            given = precincts[precincts["status"] == "planned"]
            if len(given) == 0:
                raise input_error("candidates='planned'", "no precinct has status 'planned'",
                                  "Mark planned precincts or use candidates='network'")
            source = "planned"
        else:
            given = candidates
            source = "user"
        pts = points_in_network_crs(network, given, "candidate sites")
        snapped_all = snap_geometries(network, pts, max_snap_m=max_snap_m)
        ids = pd.Index([str(i) for i in given.index], name="site")
        if ids.has_duplicates:
            raise input_error("candidate sites", "site ids (the index) are not unique",
                              "Give every candidate site its own id")
        ok = snapped_all.ok
        off = [str(ids[int(i)]) for i in np.flatnonzero(~ok)]
        sites = gpd.GeoDataFrame({"source": source}, geometry=pts[ok], index=ids[ok],
                                 crs=network.crs)
        snapped = snapped_all.subset(ok)
        if len(sites) == 0:
            limit = settings.max_snap_m if max_snap_m is None else max_snap_m
            raise input_error(
                "candidate sites",
                f"none of the {len(given)} site(s) is within {limit:g} m of a walkable street",
                "Check the sites' CRS and that they lie in the network's area",
            )
    n_excluded = 0
    if exclude is not None and len(exclude) > 0:
        geom = exclude.geometry if isinstance(exclude, gpd.GeoDataFrame) else exclude
        if geom.crs is None:
            raise input_error("exclusion areas", "have no coordinate reference system (CRS)",
                              "Set it, e.g. gdf.set_crs('EPSG:4326')")
        polys = np.asarray(geom.to_crs(network.crs).values)
        tree = shapely.STRtree(polys)
        hit = tree.query(np.asarray(sites.geometry.values), predicate="intersects")[0]
        drop = np.zeros(len(sites), dtype=bool)
        drop[hit] = True
        n_excluded = int(drop.sum())
        sites = sites[~drop]
        snapped = snapped.subset(~drop)
        if len(sites) == 0:
            raise input_error(
                "exclusion areas", f"they remove all {n_excluded} candidate sites",
                "Use smaller exclusion areas or other candidate sites",
            )
    return Candidates(sites, snapped, off, n_excluded)
