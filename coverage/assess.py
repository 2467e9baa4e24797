"""Assessment: who is within walking distance of a precinct today, and with the planned ones.

:func:`assess` answers the planner's first questions from a network, demand points (residents
with weights) and precincts with a status:

- ``coverage``: residents within each walking threshold of an ``open`` precinct, and of an
  ``open`` or ``planned`` one, with the difference;
- ``districts``: per district polygon, residents, covered shares and precincts by status;
- ``catchments``: every resident assigned to the nearest precinct by walking distance; per
  precinct the residents served, those within each threshold, the median and 90th-percentile
  walk and the district inspectors needed by the staffing norm;
- ``opening_order``: the planned precincts in the greedy order that covers the most new
  residents at each step, with each one's gain alone;
- ``uncovered_areas`` / ``uncovered_cells``: residents beyond the main threshold from every
  open precinct, aggregated into H3 cells (or a metric grid) and grouped into contiguous
  areas of the size one precinct could serve (greedy seeded regions, see
  :class:`Assessment`), ranked by uncovered population.

Every figure is computed on demand points, never on polygons (DESIGN.md). The functions here
are pure: no files, no printing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse

from . import _common, settings
from ._common import STATUSES
from ._errors import input_error
from .network import WalkNetwork
from .reach import coverage_matrix, nearest_facility
from .snap import Snapped, points_in_network_crs, snap_geometries

__all__ = [
    "SCENARIOS",
    "Assessment",
    "AssessmentSettings",
    "assess",
    "assess_scenario",
    "h3_resolution_for",
    "inspectors_needed",
    "weighted_quantile",
]

#: The two precinct scenarios every table reports: working precincts only, and working plus
#: planned ones.
SCENARIOS: tuple[str, str] = ("open", "open+planned")

_UNASSIGNED = "(no precinct reachable)"
_OUTSIDE = "(outside districts)"


@dataclass(frozen=True)
class AssessmentSettings:
    """The settings an assessment used; shown with every output."""

    walk_speed_kmh: float
    thresholds_min: tuple[float, ...]
    thresholds_m: tuple[float, ...]
    threshold_labels: tuple[str, ...]
    main_threshold_min: float
    main_threshold_m: float
    residents_per_inspector: float
    max_snap_m: float
    cells: str
    h3_resolution: int | None
    grid_size_m: float | None


@dataclass(frozen=True)
class Assessment:
    """The result of :func:`assess`: plain tables a notebook shows and the CLI writes.

    Attributes
    ----------
    settings
        Walking speed, thresholds, main threshold, staffing norm and cell size used.
    coverage
        One row per threshold: ``threshold`` (label), ``threshold_min``, ``threshold_m``,
        ``residents``, ``covered_open``, ``share_open``, ``covered_with_planned``,
        ``share_with_planned``, ``added`` (residents the planned precincts add) and
        ``added_share``.
    districts
        One row per district (plus ``(outside districts)`` when residents fall outside all of
        them): ``district``, ``residents``, ``share_<t>_open`` and ``share_<t>_with_planned``
        per threshold, ``open``/``planned``/``candidate`` precinct counts, and
        ``inspectors_needed`` by the norm. ``None`` without district polygons.
    catchments
        One row per scenario and precinct: ``scenario`` (``open`` or ``open+planned``),
        ``precinct``, ``name``, ``status``, ``residents_served``, ``within_<t>`` per threshold,
        ``median_walk_m``, ``p90_walk_m`` (population-weighted), ``inspectors_needed``
        (``ceil(residents_served / norm)``). Residents no precinct can be reached from are a
        row ``(no precinct reachable)``, so the column sums to all residents.
    opening_order
        The planned precincts, greedy order at the main threshold: ``step``, ``precinct``,
        ``name``, ``gain`` (newly covered residents at that step), ``cumulative_covered``,
        ``cumulative_share``, ``gain_alone`` (residents it adds to the open precincts on its
        own, at the main threshold) and ``gain_alone_<t>`` at every threshold.
    uncovered_areas
        Contiguous areas of residents beyond the main threshold from every open precinct, each
        no wider than one precinct's reach, ranked by population (EPSG:4326 polygons):
        ``area``, ``rank``, ``population``, ``cells``, ``seed_cell``, ``covered_by_planned``,
        ``centroid_lon``, ``centroid_lat`` (population-weighted), ``district`` (where most of
        its residents live), ``walk_to_open_m`` (from the centroid, which can lie in covered
        streets), ``nearest_open`` (the centroid's) and ``median_walk_m`` (population-weighted
        median walk of the area's residents to their nearest open precinct; beyond the main
        threshold, ``inf`` when most cannot reach one).

        The rule (greedy seeded regions): the uncovered cells are scored by the residents of
        their *reach*, the uncovered cells whose centres lie within the main threshold's
        distance (straight line) of the cell's centre and that connect to it through
        neighbouring cells inside that disk. The cell with the most such residents (ties: the
        smallest cell id) seeds area ``U1``, which takes its reach; the remaining cells are
        scored again, the next seed takes its reach among them, and so on until every
        uncovered cell belongs to an area (isolated remnants become small areas of their
        own). So every area is contiguous, lies within one walking threshold (straight line,
        centre to centre) of its seed cell, and the areas partition the uncovered residents.
        The seed cell is where to start looking for a new precinct (straight-line reach is an
        upper bound of the walk; the siting module gives walking answers).
    uncovered_cells
        The cells of those areas for a choropleth: ``cell``, ``area``, ``population``,
        ``covered_by_planned``, polygon geometry in EPSG:4326.
    demand
        Per demand point (aligned with the input): ``population``, ``walk_open_m``,
        ``nearest_open``, ``walk_with_planned_m``, ``nearest_with_planned``, ``district``.
    residents
        Total population of the demand points.
    unreachable_residents
        Residents farther than ``max_snap_m`` from every street.
    precinct_counts
        Number of precincts by status.
    notes
        Things the planner should know (unreachable precincts, co-located precincts, ...).
    """

    settings: AssessmentSettings
    coverage: pd.DataFrame
    districts: pd.DataFrame | None
    catchments: pd.DataFrame
    opening_order: pd.DataFrame
    uncovered_areas: gpd.GeoDataFrame
    uncovered_cells: gpd.GeoDataFrame
    demand: pd.DataFrame
    residents: float
    unreachable_residents: float
    precinct_counts: dict[str, int]
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """A short text report: settings, coverage, opening order, largest gaps."""
        s = self.settings
        lines = [
            f"Walking coverage at {s.walk_speed_kmh:g} km/h; thresholds "
            + ", ".join(
                f"{lab} ({m:,.0f} m)" if lab.endswith("min") else lab
                for lab, m in zip(s.threshold_labels, s.thresholds_m, strict=True)
            )
            + f"; staffing norm {s.residents_per_inspector:,.0f} residents per inspector.",
            f"Residents: {self.residents:,.0f} ({self.unreachable_residents:,.0f} farther than "
            f"{s.max_snap_m:g} m from any street). Precincts: "
            + ", ".join(f"{n} {k}" for k, n in self.precinct_counts.items())
            + ".",
            "",
            f"{'threshold':>10} {'open':>22} {'open+planned':>22} {'added':>12}",
        ]
        for row in self.coverage.itertuples():
            lines.append(
                f"{row.threshold:>10} {row.covered_open:>13,.0f} ({row.share_open:6.1%})"
                f" {row.covered_with_planned:>13,.0f} ({row.share_with_planned:6.1%})"
                f" {row.added:>12,.0f}"
            )
        main = _label_for(s, s.main_threshold_m)
        if len(self.opening_order):
            lines += ["", f"Opening order of the planned precincts ({main}):"]
            for row in self.opening_order.head(10).itertuples():
                name, pid = str(row.name), str(row.precinct)
                who = name if pid in name else f"{name} ({pid})"
                lines.append(
                    f"{row.step:>4}. {who}: +{row.gain:,.0f} residents, "
                    f"{row.cumulative_share:.1%} covered"
                )
        today = self.catchments[
            (self.catchments["scenario"] == "open") & self.catchments["precinct"].ne(_UNASSIGNED)
        ]
        if len(today):
            need = int(today["inspectors_needed"].sum())
            lines += [
                "",
                f"Catchments today: {len(today)} open precinct(s) serve "
                f"{today['residents_served'].sum():,.0f} residents; {need:,} district "
                f"inspector(s) needed by the norm.",
            ]
        if len(self.uncovered_areas):
            lines += [
                "",
                f"Largest uncovered areas (beyond {main} of an open precinct): "
                f"{len(self.uncovered_areas):,} area(s), "
                f"{self.uncovered_areas['population'].sum():,.0f} residents.",
                f"Each area is one precinct's reach: the uncovered cells within "
                f"{s.main_threshold_m:,.0f} m (straight line) of its seed cell,",
                "joined through neighbouring cells; the seed reaching the most residents is "
                "taken first.",
            ]
            for row in self.uncovered_areas.head(5).itertuples():
                where = f" in {row.district}" if isinstance(row.district, str) else ""
                walk = (
                    f", median walk {row.median_walk_m:,.0f} m to an open precinct"
                    if math.isfinite(row.median_walk_m)
                    else ", no open precinct reachable"
                )
                lines.append(
                    f"{row.rank:>4}. {row.area}: {row.population:,.0f} residents{where} "
                    f"({row.centroid_lat:.5f}, {row.centroid_lon:.5f}){walk}"
                )
        if self.notes:
            lines += ["", "Notes:"] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:  # notebooks: the text, then the two headline tables
        import html

        parts = [f"<pre>{html.escape(self.summary())}</pre>", "<h4>Coverage</h4>",
                 self.coverage.to_html(index=False, float_format=lambda v: f"{v:,.3f}")]
        if len(self.opening_order):
            parts += ["<h4>Opening order</h4>",
                      self.opening_order.to_html(index=False,
                                                 float_format=lambda v: f"{v:,.3f}")]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready plain values (``summary.json``); geometries left out."""
        areas = pd.DataFrame(self.uncovered_areas.drop(columns="geometry"))
        return {
            "settings": _jsonable(asdict(self.settings)),
            "residents": _jsonable(self.residents),
            "unreachable_residents": _jsonable(self.unreachable_residents),
            "precinct_counts": dict(self.precinct_counts),
            "coverage": _records(self.coverage),
            "districts": None if self.districts is None else _records(self.districts),
            "catchments": _records(self.catchments),
            "opening_order": _records(self.opening_order),
            "uncovered_areas": _records(areas),
            "notes": list(self.notes),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is None:
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(r) for r in frame.to_dict(orient="records")]


# ---------------------------------------------------------------------------------------------
# small pure helpers


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Population-weighted quantile: the smallest value below which at least ``q`` of the
    weight lies.

    Parameters
    ----------
    values, weights
        Values and their non-negative weights (zero weights are ignored).
    q
        Quantile in ``[0, 1]``.

    Returns
    -------
    float
        ``nan`` when the weights sum to zero.

    Examples
    --------
    >>> weighted_quantile(np.array([100.0, 200.0, 300.0]), np.array([1.0, 1.0, 2.0]), 0.5)
    200.0
    """
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if len(values) == 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    total = cum[-1]
    # a relative tolerance so that a sum landing a hair under q * total still counts
    i = int(np.searchsorted(cum, q * total * (1.0 - 1e-12), side="left"))
    return float(values[order][min(i, len(values) - 1)])


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


def _label_for(s: AssessmentSettings, metres: float) -> str:
    i = int(np.argmin(np.abs(np.asarray(s.thresholds_m) - metres)))
    return s.threshold_labels[i]


def _check_demand(demand: gpd.GeoDataFrame) -> np.ndarray:
    if not isinstance(demand, gpd.GeoDataFrame):
        raise input_error("demand", f"expected a GeoDataFrame, got {type(demand).__name__}",
                          "Build demand points with walkshed.population")
    if "population" not in demand.columns:
        raise input_error("demand", "has no 'population' column",
                          "Give each demand point its number of residents in 'population'")
    pop = pd.to_numeric(demand["population"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        raise input_error("demand", f"{int(bad.sum())} row(s) have a missing or negative "
                          "population", "Give every point a number of residents >= 0")
    return pop


def _check_precincts(precincts: gpd.GeoDataFrame) -> np.ndarray:
    if not isinstance(precincts, gpd.GeoDataFrame) or "status" not in precincts.columns:
        raise input_error("precincts", "expected a GeoDataFrame with a 'status' column",
                          "Read them with walkshed.precincts.read_precincts")
    if precincts.index.duplicated().any():
        dup = ", ".join(map(str, precincts.index[precincts.index.duplicated()].unique()[:5]))
        raise input_error("precincts", f"duplicate precinct id(s): {dup}",
                          "Give every precinct its own id")
    status = precincts["status"].astype(str).str.lower().to_numpy()
    unknown = sorted(set(status) - set(STATUSES))
    if unknown:
        raise input_error("precincts", f"unknown status {', '.join(unknown)}",
                          "Use one of: open, planned, candidate")
    return status


def _unique_places(snapped: Snapped, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Among facilities ``members`` (by preference), keep the first at each snapped place.

    Returns the kept facility positions and, for every member, the kept facility standing at
    its place (``-1`` for members that were not snapped).
    """
    ok_mask = snapped.ok[members]
    ok = members[ok_mask]
    key = pd.DataFrame(
        {"e": snapped.edge[ok], "t": snapped.offset_m[ok], "a": snapped.access_m[ok]}
    )
    # sort=False numbers the groups in order of first appearance, as `kept` is ordered
    grp = key.groupby(["e", "t", "a"], sort=False).ngroup().to_numpy()
    kept = ok[~key.duplicated(keep="first").to_numpy()]
    rep_of = np.full(len(members), -1, dtype=np.int64)
    rep_of[ok_mask] = kept[grp]
    return kept, rep_of


def _nearest(
    network: WalkNetwork, fac: Snapped, members: np.ndarray, dem: Snapped
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Distance and nearest facility (a position in ``fac``) for every demand point.

    Co-located facilities are searched once; the first in ``members`` order serves the
    residents. Returns also the (duplicate, kept) pairs of co-located facilities.
    """
    if len(members) == 0:
        return np.full(len(dem), np.inf), np.full(len(dem), -1, dtype=np.int64), []
    kept, rep_of = _unique_places(fac, members)
    res = nearest_facility(network, fac.subset(kept), dem)
    nearest = np.where(res.facility >= 0, kept[np.maximum(res.facility, 0)], -1)
    pairs = [
        (int(m), int(r)) for m, r in zip(members, rep_of, strict=True) if r >= 0 and r != m
    ]
    return res.distance_m, nearest, pairs


# ---------------------------------------------------------------------------------------------
# the assessment


def assess(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    precincts: gpd.GeoDataFrame,
    *,
    thresholds_min: Any = None,
    thresholds_m: Any = None,
    main_threshold: float | None = None,
    walk_speed_kmh: float | None = None,
    districts: gpd.GeoDataFrame | None = None,
    residents_per_inspector: float | None = None,
    max_snap_m: float | None = None,
    cells: Literal["h3", "grid"] = "h3",
) -> Assessment:
    """Assess walking coverage of open and planned precincts.

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand points (any CRS) with a ``population`` column (residents, >= 0), or a
        :class:`walkshed.population.Demand`.
    precincts
        Precincts (any CRS) with a ``status`` column (``open``, ``planned``, ``candidate``),
        indexed by a unique id, optionally with a ``name``. Candidates are only counted per
        district.
    thresholds_min, thresholds_m
        Walking thresholds in minutes, or in metres (one of the two). Default
        :data:`walkshed.settings.thresholds_min`.
    main_threshold
        The threshold (in the unit of the thresholds) used for the opening order and the
        uncovered areas; default the largest.
    walk_speed_kmh
        Walking speed; default :data:`walkshed.settings.walk_speed_kmh`.
    districts
        Optional district polygons with a ``name`` column.
    residents_per_inspector
        Staffing norm; default :data:`walkshed.settings.residents_per_inspector`.
    max_snap_m
        Largest access distance from a point to its street; default
        :data:`walkshed.settings.max_snap_m`.
    cells
        Aggregate uncovered residents into ``"h3"`` cells (resolution from
        :func:`h3_resolution_for`) or a square ``"grid"`` of a third of the main threshold.
        The cells are grouped into areas of one precinct's reach by greedy seeded regions
        (the rule is under :class:`Assessment`, ``uncovered_areas``).

    Returns
    -------
    Assessment
        The tables, with the settings used.

    Notes
    -----
    Walking distances come from one multi-source search per scenario (not bounded, since every
    resident is assigned to a catchment however far) and one bounded search per planned
    precinct (the coverage matrix used for the opening order). A resident is covered at a
    threshold when the walking distance, access distances included, is at most the threshold.
    Precincts at the same place are searched once; the first (open before planned, then table
    order) serves the residents and the other is noted.

    Examples
    --------
    One 1 km street, a precinct at its west end, two homes:

    >>> import geopandas as gpd, numpy as np, shapely
    >>> from walkshed.network import WalkNetwork
    >>> xy = np.array([[0.0, 0.0], [1000.0, 0.0]])
    >>> net = WalkNetwork([1, 2], xy, [0], [1], [shapely.LineString(xy)], "EPSG:32643")
    >>> homes = gpd.GeoDataFrame({"population": [100.0, 50.0]},
    ...                          geometry=gpd.points_from_xy([200, 900], [10, 0]), crs=net.crs)
    >>> police = gpd.GeoDataFrame({"name": ["West"], "status": ["open"]},
    ...                           geometry=gpd.points_from_xy([0], [0]), crs=net.crs)
    >>> a = assess(net, homes, police, thresholds_m=[300])
    >>> a.coverage.loc[0, ["covered_open", "share_open"]].tolist()
    [100.0, 0.6666666666666666]
    >>> a.demand["walk_open_m"].round(6).tolist()  # 200 m along the street + 10 m to the door
    [210.0, 900.0]
    """
    if not isinstance(demand, gpd.GeoDataFrame) and isinstance(
        getattr(demand, "points", None), gpd.GeoDataFrame
    ):
        demand = demand.points  # a walkshed.population.Demand
    speed = _common.walk_speed(walk_speed_kmh)
    norm = float(
        settings.residents_per_inspector
        if residents_per_inspector is None
        else residents_per_inspector
    )
    if not (math.isfinite(norm) and norm > 0):
        raise input_error("residents_per_inspector", f"must be a positive number, got {norm}",
                          "Give e.g. 3000")
    snap_limit = float(settings.max_snap_m if max_snap_m is None else max_snap_m)
    t = _common.thresholds(thresholds_min, thresholds_m, speed)
    minutes, metres, labels = t.minutes, t.metres, list(t.labels)
    if main_threshold is None:
        main_i = len(metres) - 1
    else:
        given = metres if thresholds_m is not None else minutes
        hits = np.flatnonzero(np.isclose(given, float(main_threshold)))
        if len(hits) == 0:
            raise input_error("main_threshold", f"{main_threshold} is not one of the thresholds "
                              f"{list(given)}", "Choose one of them")
        main_i = int(hits[0])
    main_m = float(metres[main_i])
    if cells not in ("h3", "grid"):
        raise input_error("cells", f"unknown kind '{cells}'", "Use 'h3' or 'grid'")
    h3_res = h3_resolution_for(main_m) if cells == "h3" else None
    grid_m = main_m / 3.0 if cells == "grid" else None
    cfg = AssessmentSettings(
        walk_speed_kmh=speed,
        thresholds_min=tuple(float(t) for t in minutes),
        thresholds_m=tuple(float(m) for m in metres),
        threshold_labels=tuple(labels),
        main_threshold_min=float(minutes[main_i]),
        main_threshold_m=main_m,
        residents_per_inspector=norm,
        max_snap_m=snap_limit,
        cells=cells,
        h3_resolution=h3_res,
        grid_size_m=grid_m,
    )

    pop = _check_demand(demand)
    status = _check_precincts(precincts)
    names = (
        precincts["name"].astype(str).to_numpy()
        if "name" in precincts.columns
        else np.asarray([f"Precinct {i}" for i in precincts.index], dtype=object)
    )
    ids = np.asarray([str(i) for i in precincts.index], dtype=object)

    # snap once
    dem_pts = points_in_network_crs(network, demand, "demand")
    dem = snap_geometries(network, dem_pts, max_snap_m=snap_limit)
    fac_pts = points_in_network_crs(network, precincts, "precincts")
    fac = snap_geometries(network, fac_pts, max_snap_m=snap_limit)

    notes: list[str] = []
    off = ~fac.ok
    if off.any():
        notes.append(
            f"{int(off.sum())} precinct(s) farther than {snap_limit:g} m from any street serve "
            f"nobody: {', '.join(ids[off][:8])}"
        )
    is_open = np.flatnonzero(status == "open")
    is_planned = np.flatnonzero(status == "planned")
    with_planned = np.concatenate([is_open, is_planned])

    d_open, n_open, dup_open = _nearest(network, fac, is_open, dem)
    d_plan, n_plan, dup_plan = _nearest(network, fac, with_planned, dem)
    for m, r in dict(dup_open + dup_plan).items():
        notes.append(f"precinct {ids[m]} stands at the same place on the street network as "
                     f"{ids[r]}; {ids[r]} serves the residents there")

    total = float(pop.sum())
    unreachable = float(pop[~dem.ok].sum())

    cov = _coverage_table(pop, d_open, d_plan, minutes, metres, labels, total)
    catch = pd.concat(
        [
            _catchments(scen, members, pop, d, n, ids, names, status, metres, labels, norm)
            for scen, members, d, n in (
                ("open", is_open, d_open, n_open),
                ("open+planned", with_planned, d_plan, n_plan),
            )
        ],
        ignore_index=True,
    )
    # a precinct on the network whose nearest residents all go elsewhere (e.g. at the end of a
    # cul-de-sac) is worth a look before anyone is posted there
    snapped_ids = set(ids[fac.ok])
    dup_ids = {ids[m] for m in dict(dup_open + dup_plan)}
    idle = catch[
        (catch["residents_served"] == 0)
        & catch["precinct"].isin(snapped_ids)
        & ~catch["precinct"].isin(dup_ids)
    ]
    for scen, group in idle.groupby("scenario", sort=False):
        notes.append(
            f"{len(group)} precinct(s) serve no resident ({scen}): no one has them as the "
            f"nearest precinct on foot: {', '.join(map(str, group['precinct'].head(8)))}"
        )
    order = _opening_order(
        network, fac, dem, pop, d_open, is_planned, ids, names, main_m, metres, labels, total
    )

    demand_district: np.ndarray = np.full(len(pop), None, dtype=object)
    district_table = None
    district_polys = None
    if districts is not None:
        district_polys = _check_districts(districts, network)
        demand_district = _demand_districts(demand, dem_pts, district_polys)
        fac_district = _in_polygons(fac_pts, district_polys)
        district_table = _district_table(
            district_polys, demand_district, pop, d_open, d_plan, fac_district, status,
            metres, labels, norm,
        )

    uncovered = (d_open > main_m) & (pop > 0)
    areas, area_cells = _uncovered_areas(
        network, dem_pts, pop, uncovered, d_plan <= main_m, demand_district, fac, is_open,
        ids, cfg, d_open,
    )

    nearest_open = np.where(n_open >= 0, ids[np.maximum(n_open, 0)], None)
    nearest_plan = np.where(n_plan >= 0, ids[np.maximum(n_plan, 0)], None)
    per_point = pd.DataFrame(
        {
            "population": pop,
            "walk_open_m": d_open,
            "nearest_open": pd.Series(nearest_open, index=demand.index, dtype=object),
            "walk_with_planned_m": d_plan,
            "nearest_with_planned": pd.Series(nearest_plan, index=demand.index, dtype=object),
            "district": pd.Series(demand_district, index=demand.index, dtype=object),
        },
        index=demand.index,
    )
    counts = {s: int((status == s).sum()) for s in STATUSES}
    return Assessment(
        settings=cfg,
        coverage=cov,
        districts=district_table,
        catchments=catch,
        opening_order=order,
        uncovered_areas=areas,
        uncovered_cells=area_cells,
        demand=per_point,
        residents=total,
        unreachable_residents=unreachable,
        precinct_counts=counts,
        notes=tuple(notes),
    )


def assess_scenario(
    scenario: Any, *, inputs: Any = None, cache: bool | None = None
) -> tuple[Any, Assessment]:
    """Load a scenario's inputs and assess them with the scenario's settings.

    Parameters
    ----------
    scenario
        A :class:`walkshed.scenario.Scenario` or the path of a scenario file.
    inputs
        Already loaded :class:`walkshed.scenario.ScenarioInputs` (skips loading).
    cache
        Use the network cache; default :data:`walkshed.settings.use_cache`.

    Returns
    -------
    (ScenarioInputs, Assessment)
    """
    from .scenario import Scenario, load_inputs, load_scenario

    scen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if inputs is None:
        inputs = load_inputs(scen, cache=cache)
    result = assess(inputs.network, inputs.demand, inputs.precincts,
                    districts=inputs.districts, **scen.assess_options())
    return inputs, result


def _share(part: float, total: float) -> float:
    return part / total if total > 0 else float("nan")


def _coverage_table(
    pop: np.ndarray,
    d_open: np.ndarray,
    d_plan: np.ndarray,
    minutes: np.ndarray,
    metres: np.ndarray,
    labels: list[str],
    total: float,
) -> pd.DataFrame:
    rows = []
    for t, m, lab in zip(minutes, metres, labels, strict=True):
        c_open = float(pop[d_open <= m].sum())
        c_plan = float(pop[d_plan <= m].sum())
        rows.append(
            {
                "threshold": lab,
                "threshold_min": float(t),
                "threshold_m": float(m),
                "residents": total,
                "covered_open": c_open,
                "share_open": _share(c_open, total),
                "covered_with_planned": c_plan,
                "share_with_planned": _share(c_plan, total),
                "added": c_plan - c_open,
                "added_share": _share(c_plan - c_open, total),
            }
        )
    return pd.DataFrame(rows)


def _catchments(
    scenario: str,
    members: np.ndarray,
    pop: np.ndarray,
    dist: np.ndarray,
    nearest: np.ndarray,
    ids: np.ndarray,
    names: np.ndarray,
    status: np.ndarray,
    metres: np.ndarray,
    labels: list[str],
    norm: float,
) -> pd.DataFrame:
    cols = ["scenario", "precinct", "name", "status", "residents_served"]
    cols += [f"within_{lab}" for lab in labels]
    cols += ["median_walk_m", "p90_walk_m", "inspectors_needed"]
    order = np.argsort(nearest, kind="stable")
    sorted_fac = nearest[order]
    rows = []
    for p in members:
        a, b = np.searchsorted(sorted_fac, [p, p + 1])
        sel = order[a:b]
        w, d = pop[sel], dist[sel]
        served = float(w.sum())
        row: dict[str, Any] = {
            "scenario": scenario,
            "precinct": ids[p],
            "name": names[p],
            "status": status[p],
            "residents_served": served,
        }
        for m, lab in zip(metres, labels, strict=True):
            row[f"within_{lab}"] = float(w[d <= m].sum())
        row["median_walk_m"] = weighted_quantile(d, w, 0.5)
        row["p90_walk_m"] = weighted_quantile(d, w, 0.9)
        row["inspectors_needed"] = inspectors_needed(served, norm)
        rows.append(row)
    lost = nearest < 0
    if lost.any() and pop[lost].sum() > 0:
        rows.append(
            {
                "scenario": scenario,
                "precinct": _UNASSIGNED,
                "name": _UNASSIGNED,
                "status": None,
                "residents_served": float(pop[lost].sum()),
                **{f"within_{lab}": 0.0 for lab in labels},
                "median_walk_m": float("nan"),
                "p90_walk_m": float("nan"),
                "inspectors_needed": 0,
            }
        )
    return pd.DataFrame(rows, columns=cols)


def inspectors_needed(residents: float, norm: float) -> int:
    """District inspectors needed for ``residents`` by the norm (rounded up).

    Examples
    --------
    >>> inspectors_needed(6000.0, 3000.0), inspectors_needed(6001.0, 3000.0)
    (2, 3)
    """
    if residents <= 0:
        return 0
    # a relative tolerance keeps float sums such as 6000.000000001 at 2
    return math.ceil(residents / norm * (1.0 - 1e-12))


def _opening_order(
    network: WalkNetwork,
    fac: Snapped,
    dem: Snapped,
    pop: np.ndarray,
    d_open: np.ndarray,
    planned: np.ndarray,
    ids: np.ndarray,
    names: np.ndarray,
    main_m: float,
    metres: np.ndarray,
    labels: list[str],
    total: float,
) -> pd.DataFrame:
    cols = ["step", "precinct", "name", "gain", "cumulative_covered", "cumulative_share",
            "gain_alone"] + [f"gain_alone_{lab}" for lab in labels]
    if len(planned) == 0:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c == "step" else "object" if c in ("precinct", "name")
                          else "float64") for c in cols}
        )
    # one bounded search per planned precinct, at the largest threshold; smaller thresholds
    # keep the stored pairs within them (a stored zero is a real distance: test the values)
    mat = coverage_matrix(network, fac.subset(planned), dem, float(metres.max()))

    def reach_within(m: float) -> sparse.csr_matrix:
        keep = (mat.data <= m).astype(np.float64)
        # copies: eliminate_zeros compacts the index arrays in place
        out = sparse.csr_matrix((keep, mat.indices.copy(), mat.indptr.copy()), shape=mat.shape)
        out.eliminate_zeros()
        return out

    alone = {
        lab: np.asarray(reach_within(m) @ np.where(d_open <= m, 0.0, pop)).ravel()
        for m, lab in zip(metres, labels, strict=True)
    }
    pattern = reach_within(main_m)
    covered = d_open <= main_m
    new_w = np.where(covered, 0.0, pop)
    gain_alone = np.asarray(pattern @ new_w).ravel()
    left = list(range(len(planned)))
    rows = []
    cum = float(pop[covered].sum())
    step = 0
    while left:
        gains = np.asarray(pattern[left] @ new_w).ravel()
        k = int(np.argmax(gains))  # ties: the first in table order
        j = left.pop(k)
        gain = float(gains[k])
        new_w[pattern.indices[pattern.indptr[j]:pattern.indptr[j + 1]]] = 0.0
        cum += gain
        step += 1
        p = planned[j]
        row: dict[str, Any] = {
            "step": step,
            "precinct": ids[p],
            "name": names[p],
            "gain": gain,
            "cumulative_covered": cum,
            "cumulative_share": _share(cum, total),
            "gain_alone": float(gain_alone[j]),
        }
        for lab in labels:
            row[f"gain_alone_{lab}"] = float(alone[lab][j])
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _check_districts(districts: gpd.GeoDataFrame, network: WalkNetwork) -> gpd.GeoDataFrame:
    if not isinstance(districts, gpd.GeoDataFrame) or "name" not in districts.columns:
        raise input_error("districts", "expected a GeoDataFrame with a 'name' column",
                          "Read the polygons with geopandas and name the column 'name'")
    if districts.crs is None:
        raise input_error("districts", "has no coordinate reference system (CRS)",
                          "Set it, e.g. gdf.set_crs('EPSG:4326')")
    if len(districts) == 0:
        raise input_error("districts", "no polygons given", "Give at least one district")
    out = districts[["name", districts.geometry.name]].to_crs(network.crs)
    out = out.set_geometry(shapely.make_valid(np.asarray(out.geometry.values)))
    return out.reset_index(drop=True)


def _in_polygons(pts: np.ndarray, polys: gpd.GeoDataFrame) -> np.ndarray:
    """Name of each point's district (:func:`walkshed._common.district_index`), else None."""
    return _common.district_names(pts, np.asarray(polys.geometry.values),
                                  polys["name"].astype(str).tolist())


def _demand_districts(
    demand: gpd.GeoDataFrame, pts: np.ndarray, polys: gpd.GeoDataFrame
) -> np.ndarray:
    """District of each demand point.

    When the demand was spread over these very districts (every ``zone`` value is a district
    name), the zone is the district: points on a shared boundary stay with the zone whose
    residents they carry, so each district's residents equal its source count exactly.
    """
    names = set(polys["name"].astype(str))
    if "zone" in demand.columns:
        zone = demand["zone"]
        known = zone.dropna().astype(str).to_numpy(dtype=object)
        if len(known) == len(zone) and set(np.unique(known).tolist()) <= names:
            return known
    return _in_polygons(pts, polys)


def _district_table(
    polys: gpd.GeoDataFrame,
    where: np.ndarray,
    pop: np.ndarray,
    d_open: np.ndarray,
    d_plan: np.ndarray,
    fac_where: np.ndarray,
    status: np.ndarray,
    metres: np.ndarray,
    labels: list[str],
    norm: float,
) -> pd.DataFrame:
    names = list(dict.fromkeys(polys["name"].astype(str)))
    rows = []
    outside = np.array([w is None for w in where], dtype=bool)
    groups: list[tuple[str, np.ndarray, np.ndarray]] = [
        (n, where == n, fac_where == n) for n in names
    ]
    fac_out = np.array([w is None for w in fac_where], dtype=bool)
    if (outside.any() and pop[outside].sum() > 0) or fac_out.any():
        groups.append((_OUTSIDE, outside, fac_out))
    for name, sel, fsel in groups:
        w = pop[sel]
        residents = float(w.sum())
        row: dict[str, Any] = {"district": name, "residents": residents}
        for m, lab in zip(metres, labels, strict=True):
            row[f"share_{lab}_open"] = _share(float(w[d_open[sel] <= m].sum()), residents)
            row[f"share_{lab}_with_planned"] = _share(float(w[d_plan[sel] <= m].sum()),
                                                      residents)
        for s in STATUSES:
            row[s] = int((fsel & (status == s)).sum())
        row["inspectors_needed"] = inspectors_needed(residents, norm)
        rows.append(row)
    return pd.DataFrame(rows)


def _uncovered_areas(
    network: WalkNetwork,
    pts: np.ndarray,
    pop: np.ndarray,
    uncovered: np.ndarray,
    planned_covers: np.ndarray,
    district: np.ndarray,
    fac: Snapped,
    is_open: np.ndarray,
    ids: np.ndarray,
    cfg: AssessmentSettings,
    walk_open: np.ndarray,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    area_cols = ["area", "rank", "population", "cells", "seed_cell", "covered_by_planned",
                 "centroid_lon", "centroid_lat", "district", "walk_to_open_m", "nearest_open",
                 "median_walk_m"]
    cell_cols = ["cell", "area", "population", "covered_by_planned"]
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
        keys, cell_poly, neighbours, centre = _h3_cells(lat, lon, int(cfg.h3_resolution or 9),
                                                        network)
    else:
        keys, cell_poly, neighbours, centre = _grid_cells(xy, float(cfg.grid_size_m or 250.0),
                                                          network)
    uniq, inv = np.unique(keys, return_inverse=True)  # cell ids sorted: ties by cell id
    n_cells = len(uniq)
    w = pop[sel]
    cell_pop = np.bincount(inv, weights=w, minlength=n_cells)
    cell_plan = np.bincount(inv, weights=w * planned_covers[sel], minlength=n_cells)
    pos = {k: i for i, k in enumerate(uniq.tolist())}
    r: list[int] = []
    c: list[int] = []
    for i, k in enumerate(uniq.tolist()):
        for nb in neighbours(k):
            j = pos.get(nb)
            if j is not None and j != i:
                r.append(i)
                c.append(j)
    adj = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_cells, n_cells))
    area_of_cell, seeds = _seeded_areas(centre(uniq), cell_pop, adj, cfg.main_threshold_m)
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
    cell_gdf = gpd.GeoDataFrame(
        {
            "cell": [str(k) for k in uniq.tolist()],
            "area": [f"U{a + 1}" for a in area_of_cell],
            "population": cell_pop,
            "covered_by_planned": cell_plan,
        },
        geometry=cell_poly(uniq),
        crs="EPSG:4326",
    )
    # cells tile the plane without overlaps, so a coverage union is exact and fast
    cell_geoms = np.asarray(cell_gdf.geometry.values)
    by_area = np.argsort(area_of_cell, kind="stable")
    cuts = np.searchsorted(area_of_cell[by_area], np.arange(1, n_areas))
    area_geom = [shapely.coverage_union_all(cell_geoms[g]) for g in np.split(by_area, cuts)]
    names = [f"U{a + 1}" for a in range(n_areas)]
    areas = gpd.GeoDataFrame(
        {
            "area": names,
            "rank": np.arange(1, n_areas + 1),
            "population": apop,
            "cells": cells_per_area,
            "seed_cell": pd.Series([str(k) for k in uniq[seeds].tolist()], dtype=object),
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
) -> tuple[np.ndarray, Any, Any, Any]:
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

    return keys, polys, neighbours, centres


def _grid_cells(
    xy: np.ndarray, size: float, network: WalkNetwork
) -> tuple[np.ndarray, Any, Any, Any]:
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

    return keys, polys, neighbours, centres
