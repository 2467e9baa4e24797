"""The GeoDataFrame entry point :func:`propose_sites`, its ranked table and writers."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .. import _common, io, settings
from .._errors import input_error
from ..i18n import Figure
from ..i18n import message as _
from ..i18n import message_n as _n
from ..network import WalkNetwork
from ..reach import coverage_matrix, nearest_facility
from ..snap import points_in_network_crs, snap_geometries
from .candidates import Candidates, make_candidates
from .quotas import Quotas
from .result import SitingResult
from .solvers import DEFAULT_TOLERANCE, Method, solve_mclp, solve_min_sites

# ---------------------------------------------------------------------------------------------
# progress


@contextlib.contextmanager
def _progress(total: int, label: str, enabled: bool | None) -> Iterator[Callable[[int], None]]:
    """A progress callback; a rich bar only on a terminal and when enabled."""
    on = settings.progress if enabled is None else enabled
    if not (on and sys.stderr.isatty()):
        yield lambda k: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)


# ---------------------------------------------------------------------------------------------
# public entry point


def _status_split(precincts: gpd.GeoDataFrame | None, fix: str) -> gpd.GeoDataFrame | None:
    if precincts is None or len(precincts) == 0:
        return None
    if fix not in ("open", "open+planned"):
        raise input_error("fix", f"unknown value {fix!r}", "Use 'open' or 'open+planned'")
    if "status" not in precincts.columns:
        raise input_error("precincts", "no 'status' column",
                          "Add status 'open', 'planned' or 'candidate' to every precinct")
    want = ["open"] if fix == "open" else ["open", "planned"]
    sel = precincts[precincts["status"].isin(want)]
    return sel if len(sel) else None


def propose_sites(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    precincts: gpd.GeoDataFrame | None,
    *,
    p: int | None = None,
    target_share: float | None = None,
    threshold_min: float = 10.0,
    walk_speed_kmh: float | None = None,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | str | None = None,
    exclude: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    fix: Literal["open", "open+planned"] = "open",
    method: Method = "auto",
    time_limit_s: float = 60.0,
    districts: gpd.GeoDataFrame | None = None,
    spacing_m: float | None = None,
    max_snap_m: float | None = None,
    progress: bool | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    quotas: dict[str, tuple[int | None, int | None]] | None = None,
    phases: int | None = None,
    cache: bool | None = None,
    osm_file: str | os.PathLike[str] | None = None,
) -> SitingResult:
    """Propose new precinct sites: the best ``p``, or the fewest for a target share.

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand points with a ``population`` column (any CRS).
    precincts
        Precincts with ``status``; the fixed ones (see ``fix``) count as covering already.
        ``None`` for none.
    p
        Number of new sites (maximal covering). Give exactly one of ``p`` and ``target_share``.
    target_share
        Share of all residents to bring within the threshold with the fewest new sites.
    threshold_min
        Walking time in minutes that counts as covered.
    walk_speed_kmh
        Walking speed; default :data:`walkshed.settings.walk_speed_kmh`.
    candidates
        Where sites may go: ``None``/``"network"`` (street points every ``spacing_m``),
        ``"planned"`` (the planned precincts) or a GeoDataFrame of sites.
    exclude
        Polygons where no site may go (parks, water, restricted land).
    fix
        ``"open"`` or ``"open+planned"``: which precincts are kept.
    method
        ``"exact"``, ``"greedy"`` or ``"auto"``; see :func:`solve_mclp`.
    time_limit_s
        Time limit of the integer program.
    districts
        Districts (``name`` + polygons) to label each proposed site.
    spacing_m
        Spacing of street candidates; default :data:`walkshed.settings.candidate_spacing_m`.
    max_snap_m
        Largest access distance; default :data:`walkshed.settings.max_snap_m`.
    progress
        Show a progress bar (on a terminal); default :data:`walkshed.settings.progress`.
    tolerance
        Relative gap that ``method="auto"`` accepts without the integer program (0.5 %).
    quotas
        District name -> ``(at_least, at_most)`` new sites (either ``None`` for no bound);
        needs ``districts``. Honoured exactly by every method.
    phases
        Find the best ``k``-site plan for ``k = 1 .. phases`` to set beside the ranked list
        (``best_for_k``, ``price_of_phasing`` in the table, ``SitingResult.phases``); default
        every ``k`` up to 20 for ``p``, up to 10 for ``target_share``; 0 for none.
    cache
        Keep street candidates and the coverage matrix in the on-disk cache
        (:mod:`walkshed.siting.cache`); default :data:`walkshed.settings.use_cache`.
    osm_file
        The OSM extract the network was read from: each site gets its nearest street name and
        address from it (:mod:`walkshed.siting.places`); ``None`` (a network fetched online)
        takes streets from the network's own names and leaves ``address`` blank.

    Returns
    -------
    SitingResult
        With ``table``: a GeoDataFrame (network CRS) ranked by marginal gain with ``rank``,
        ``site`` (id), ``source``, ``x``, ``y`` (network CRS), ``lon``, ``lat``,
        ``newly_covered`` (residents this site adds given the higher-ranked ones),
        ``cumulative_share`` (share of all residents covered with the fixed precincts and
        sites up to this rank), ``district`` (when districts are given), ``street``,
        ``address`` and ``address_m`` (see :func:`walkshed.siting.places.site_places`),
        ``nearest_open_m``
        (walking distance to the nearest open precinct, ``inf`` when none), ``best_for_k``
        and ``price_of_phasing`` (where phases were computed) and the geometry. The ranked
        list is a nested plan: its first ``k`` rows are the plan for ``k`` sites.
    """
    from ..settings import minutes_to_metres

    if (p is None) == (target_share is None):
        raise input_error("p / target_share", "give exactly one of them",
                          "Use p=10 for the best 10 sites or target_share=0.9 for 90 %")
    if not isinstance(demand, gpd.GeoDataFrame) or "population" not in demand.columns:
        raise input_error("demand", "expected a GeoDataFrame with a 'population' column",
                          "Build demand points with walkshed.population")
    if fix == "open+planned" and isinstance(candidates, str) and candidates == "planned":
        raise input_error("fix", "'open+planned' keeps the planned precincts fixed, so they "
                          "cannot also be the candidates", "Use fix='open'")
    r = minutes_to_metres(threshold_min, walk_speed_kmh)
    notes: list[str] = []
    cand = make_candidates(network, candidates=candidates, precincts=precincts,
                           exclude=exclude, spacing_m=spacing_m, max_snap_m=max_snap_m,
                           cache=cache)
    if cand.off_network:
        shown = ", ".join(cand.off_network[:10]) + (" ..." if len(cand.off_network) > 10 else "")
        notes.append(_n("{n} candidate site is too far from any walkable street and was left "
                        "out: {ids}.",
                        "{n} candidate sites are too far from any walkable street and were "
                        "left out: {ids}.", len(cand.off_network), ids=shown))
    if cand.excluded:
        notes.append(_n("{n} candidate site falls in the exclusion areas.",
                        "{n} candidate sites fall in the exclusion areas.", cand.excluded))
    pts = points_in_network_crs(network, demand, "demand")
    dem = snap_geometries(network, pts, max_snap_m=max_snap_m)
    weights = demand["population"].to_numpy(dtype=np.float64)
    fixed_gdf = _status_split(precincts, fix)
    covered = np.zeros(len(demand), dtype=bool)
    fixed_snap = None
    if fixed_gdf is not None:
        fixed_snap = snap_geometries(
            network, points_in_network_crs(network, fixed_gdf, "precincts"),
            max_snap_m=max_snap_m,
        )
        near = nearest_facility(network, fixed_snap, dem, max_distance_m=r)
        covered = near.distance_m <= r
    if p is not None and isinstance(p, (int, np.integer)) and p > len(cand):
        raise input_error(
            "p", f"{p} new sites asked for but there are only {len(cand)} candidate sites",
            "Lower p or add candidate sites (e.g. a smaller candidate spacing)",
        )
    from . import cache as _cache

    key = _cache.digest("coverage", _cache.network_digest(network),
                        _cache.snapped_digest(cand.snapped), _cache.snapped_digest(dem), r)

    def build() -> sparse.csr_matrix:
        with _progress(len(cand), "coverage matrix", progress) as tick:
            return coverage_matrix(network, cand.snapped, dem, r, progress=tick)

    cover = _cache.cached_coverage(key, build, use=cache)
    q = None if not quotas else _quotas_of(network, cand, districts, quotas)
    k_phases = (20 if p is not None else 10) if phases is None else int(phases)

    def solve() -> SitingResult:
        if p is not None:
            return solve_mclp(cover, weights, p, covered=covered, method=method,
                              time_limit_s=time_limit_s, tolerance=tolerance, quotas=q,
                              phases=k_phases)
        assert target_share is not None
        return solve_min_sites(cover, weights, target_share, covered=covered, method=method,
                               time_limit_s=time_limit_s, tolerance=tolerance, quotas=q,
                               phases=k_phases)

    from .._stored import code_digest

    # the same model and settings give the same answer: a second run reads it
    answer_key = _cache.digest(
        "siting-answer", _cache._ANSWER_FORMAT, code_digest(), key, weights, covered,
        None if p is None else int(p), None if target_share is None else float(target_share),
        str(method), float(time_limit_s), float(tolerance), int(k_phases),
        *((q.district, q.at_least, q.at_most, list(q.names)) if q is not None else ()))
    res = _cache.cached_answer(
        answer_key, solve, use=cache,
        check=lambda found: _cache.check_answer(found, cover, weights, covered, p))
    res.notes[:0] = notes
    if res.phases is not None and len(res.phases):
        worst = float(res.phases["price_of_phasing"].max())
        res.notes.append(
            _("The table is a nested plan: its first k sites are the plan for k sites; "
              "best_for_k is the best k-site plan found on its own (phasing costs at most {n} "
              "residents).", n=Figure.number(worst)) if worst > 0 else
            _("The table is a nested plan: its first k sites are the plan for k sites; "
              "best_for_k is the best k-site plan found on its own (phasing costs nothing "
              "here)."))
    res.table = _ranked_table(network, cand, res, precincts, districts, max_snap_m)
    _add_places(network, cand, res, osm_file)
    return res


def _add_places(network: WalkNetwork, cand: Candidates, res: SitingResult,
                osm_file: str | os.PathLike[str] | None) -> None:
    """Add ``street``, ``address``, ``address_m`` to the table, saying what is blank."""
    from . import places

    table = res.table
    assert table is not None
    info = None
    if osm_file is not None:
        info = places.read_places(osm_file, {int(w) for w in network.edge_osmid})
    found = places.site_places(network, np.asarray(table.geometry.values),
                               cand.snapped.edge[res.chosen], info)
    for col in found.columns:
        table[col] = found[col].to_numpy()
    if not len(table):
        return
    if info is None:
        res.notes.append("Addresses of the sites come from the network's OSM extract; none "
                         "was given (a network fetched online has none): address left blank.")
    no_street = int((found["street"] == "").sum())
    no_addr = int((found["address"] == "").sum())
    if no_street:
        res.notes.append(f"{no_street} site(s) have no named street within "
                         f"{places.STREET_WITHIN_M:g} m: street left blank.")
    if no_addr and info is not None:
        res.notes.append(f"{no_addr} site(s) have no address (addr:street + "
                         f"addr:housenumber) within {places.ADDRESS_WITHIN_M:g} m: "
                         "address left blank.")


def _quotas_of(network: WalkNetwork, cand: Candidates, districts: gpd.GeoDataFrame | None,
               quotas: dict[str, tuple[int | None, int | None]]) -> Quotas:
    """District quotas by name -> :class:`Quotas` over the candidates."""
    if districts is None or "name" not in districts.columns or districts.crs is None:
        raise input_error("quotas", "district quotas need the districts (names, CRS)",
                          "Give the districts ([districts] in the scenario)")
    names = list(dict.fromkeys(districts["name"].astype(str)))
    code = np.asarray([names.index(n) for n in districts["name"].astype(str)], dtype=np.int64)
    polys = np.asarray(districts.geometry.to_crs(network.crs).values)
    idx = _common.district_index(np.asarray(cand.sites.geometry.values), polys)
    where = np.where(idx >= 0, code[np.maximum(idx, 0)], -1)
    lo: dict[int, int] = {}
    hi: dict[int, int] = {}
    for name, (least, most) in quotas.items():
        if str(name) not in names:
            raise input_error(f"quota of {name}", "no district has that name",
                              f"Use one of: {', '.join(names)}")
        k = names.index(str(name))
        for v, what in ((least, "at least"), (most, "at most")):
            if v is not None and (not isinstance(v, (int, np.integer)) or v < 0):
                raise input_error(f"quota of {name}", f"{what} must be a whole number >= 0",
                                  "Give e.g. at_least = 1")
        if least is not None:
            lo[k] = int(least)
        if most is not None:
            hi[k] = int(most)
    return Quotas.build(where, lo, hi, names)


def _ranked_table(
    network: WalkNetwork, cand: Candidates, res: SitingResult,
    precincts: gpd.GeoDataFrame | None, districts: gpd.GeoDataFrame | None,
    max_snap_m: float | None,
) -> gpd.GeoDataFrame:
    pos = res.chosen
    sites = cand.sites.iloc[pos]
    geom = gpd.GeoSeries(sites.geometry.values, crs=network.crs)
    ll = shapely.get_coordinates(np.asarray(geom.to_crs("EPSG:4326").values))
    xy = cand.snapped.xy[pos] if len(pos) else np.empty((0, 2))
    xy_given = shapely.get_coordinates(np.asarray(sites.geometry.values))
    cum = (res.already_covered + np.cumsum(res.newly_covered)) / res.total if res.total > 0 \
        else np.zeros(len(pos))
    table = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(pos) + 1),
            "site": list(sites.index),
            "source": sites["source"].to_numpy(),
            "x": xy_given[:, 0] if len(pos) else np.empty(0),
            "y": xy_given[:, 1] if len(pos) else np.empty(0),
            "lon": ll[:, 0] if len(pos) else np.empty(0),
            "lat": ll[:, 1] if len(pos) else np.empty(0),
            "newly_covered": res.newly_covered,
            "cumulative_share": cum,
        },
        geometry=np.asarray(sites.geometry.values),
        crs=network.crs,
    )
    del xy
    if res.phases is not None and len(pos):
        ph = res.phases.set_index("k")
        ks = np.arange(1, len(pos) + 1)
        table["best_for_k"] = ph["best_newly_covered"].reindex(ks).to_numpy()
        table["price_of_phasing"] = ph["price_of_phasing"].reindex(ks).to_numpy()
    if districts is not None:
        table["district"], table["district_by"] = _district_of(network, table, districts)
    opened = None
    if precincts is not None and "status" in precincts.columns:
        opened = precincts[precincts["status"] == "open"]
    if opened is not None and len(opened) and len(pos):
        fsnap = snap_geometries(
            network, points_in_network_crs(network, opened, "precincts"), max_snap_m=max_snap_m
        )
        near = nearest_facility(network, fsnap, cand.snapped.subset(pos))
        table["nearest_open_m"] = near.distance_m
    else:
        table["nearest_open_m"] = np.full(len(pos), np.inf)
    return table


def _district_of(network: WalkNetwork, table: gpd.GeoDataFrame,
                 districts: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each site's district, never blank: the polygon it lies in (``inside``), else the
    nearest polygon, said with its distance (``nearest, 120 m``)."""
    if "name" not in districts.columns or districts.crs is None:
        raise input_error("districts", "need a 'name' column and a CRS",
                          "Give district polygons with their names and CRS")
    polys = np.asarray(districts.geometry.to_crs(network.crs).values)
    names_list = districts["name"].astype(str).tolist()
    pts = np.asarray(table.geometry.values)
    names = _common.district_names(pts, polys, names_list)
    how = np.full(len(pts), "inside", dtype=object)
    for i in np.flatnonzero(np.asarray([n is None for n in names.tolist()], dtype=bool)):
        d = shapely.distance(pts[i], polys)
        j = int(np.nanargmin(d)) if np.isfinite(d).any() else -1
        if j >= 0:
            names[i] = names_list[j]
            how[i] = f"nearest, {d[j]:,.0f} m"
    return names, how


# ---------------------------------------------------------------------------------------------
# writers


def _table_of(obj: SitingResult | pd.DataFrame) -> pd.DataFrame:
    if isinstance(obj, SitingResult):
        if obj.table is None:
            raise input_error("result", "has no ranked table (array-level result)",
                              "Use propose_sites to get a table")
        return obj.table
    return obj


def write_csv(obj: SitingResult | pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the ranked table as CSV (without geometry), atomically.

    Parameters
    ----------
    obj
        A :class:`SitingResult` from :func:`propose_sites` or its table.
    path
        Destination file.

    Returns
    -------
    Path
    """
    table = _table_of(obj)
    frame = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    return io.write_csv(frame, path)


def write_gpkg(
    obj: SitingResult | pd.DataFrame, path: str | os.PathLike[str], *, layer: str = "sites"
) -> Path:
    """Write the ranked table as a GeoPackage layer, atomically (replaces the file).

    Parameters
    ----------
    obj
        A :class:`SitingResult` from :func:`propose_sites` or its table (GeoDataFrame).
    path
        Destination ``.gpkg`` file.
    layer
        Layer name.

    Returns
    -------
    Path
    """
    table = _table_of(obj)
    if not isinstance(table, gpd.GeoDataFrame):
        raise input_error("table", "has no geometry", "Pass the GeoDataFrame from propose_sites")
    # io.write_gpkg writes infinite distances (no open precinct reachable) as NULL
    return io.write_gpkg(table, path, layer=layer)
