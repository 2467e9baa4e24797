"""The assessment itself: checks, snapping once, the searches, then every table."""

from __future__ import annotations

import math
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from .. import _common, settings
from .._common import STATUSES
from .._errors import input_error
from ..i18n import Figure
from ..i18n import message as _
from ..i18n import message_n as _n
from ..network import WalkNetwork
from ..snap import points_in_network_crs, snap_geometries
from ._search import _Context, _nearest
from .result import Assessment, AssessmentSettings
from .staffing import catchment_staffing, district_staffing
from .tables import (
    _catchments,
    _check_districts,
    _coverage_table,
    _demand_districts,
    _district_table,
    _in_polygons,
    _opening_order,
)
from .uncovered import _uncovered_areas, h3_resolution_for


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


# ---------------------------------------------------------------------------------------------
# the assessment


def assessment_settings(
    *,
    thresholds_min: Any = None,
    thresholds_m: Any = None,
    main_threshold: float | None = None,
    walk_speed_kmh: float | None = None,
    residents_per_inspector: float | None = None,
    max_snap_m: float | None = None,
    cells: Literal["h3", "grid"] = "h3",
) -> AssessmentSettings:
    """The settings :func:`assess` uses for these keywords (checked), without assessing.

    Parameters
    ----------
    thresholds_min, thresholds_m, main_threshold, walk_speed_kmh, residents_per_inspector, \
max_snap_m, cells
        As for :func:`assess`.

    Returns
    -------
    AssessmentSettings
        What ``assess(...).settings`` would be.
    """
    speed = _common.walk_speed(walk_speed_kmh)
    norm = float(
        settings.residents_per_inspector
        if residents_per_inspector is None
        else residents_per_inspector
    )
    if not (math.isfinite(norm) and norm > 0):
        raise input_error("residents_per_inspector", f"must be a positive number, got {norm}",
                          "Give e.g. 3000")
    _common.check_range("residents_per_inspector", norm, "Give e.g. 3000")
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
    return AssessmentSettings(
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
    cfg = assessment_settings(
        thresholds_min=thresholds_min, thresholds_m=thresholds_m, main_threshold=main_threshold,
        walk_speed_kmh=walk_speed_kmh, residents_per_inspector=residents_per_inspector,
        max_snap_m=max_snap_m, cells=cells)
    norm, snap_limit = cfg.residents_per_inspector, cfg.max_snap_m
    metres, main_m = np.asarray(cfg.thresholds_m, dtype=float), cfg.main_threshold_m

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
        notes.append(_n(
            "{n} precinct farther than {limit} m from any street serves nobody: {ids}",
            "{n} precincts farther than {limit} m from any street serve nobody: {ids}",
            int(off.sum()), limit=Figure.number(snap_limit), ids=", ".join(ids[off][:8])))
    is_open = np.flatnonzero(status == "open")
    is_planned = np.flatnonzero(status == "planned")
    with_planned = np.concatenate([is_open, is_planned])

    d_open, n_open, dup_open = _nearest(network, fac, is_open, dem)
    d_plan, n_plan, dup_plan = _nearest(network, fac, with_planned, dem)
    for m, r in dict(dup_open + dup_plan).items():
        notes.append(_("precinct {id} stands at the same place on the street network as "
                       "{other}; {other} serves the residents there", id=ids[m], other=ids[r]))

    total = float(pop.sum())
    unreachable = float(pop[~dem.ok].sum())

    ctx = _Context(network=network, cfg=cfg, pop=pop, ids=ids, names=names, status=status,
                   fac=fac, dem=dem, d_open=d_open, n_open=n_open, d_plan=d_plan,
                   n_plan=n_plan, is_open=is_open)
    cov = _coverage_table(ctx)
    catch = pd.concat(
        [
            _catchments(ctx, scen, members, d, n)
            for scen, members, d, n in (
                ("open", is_open, d_open, n_open),
                ("open+planned", with_planned, d_plan, n_plan),
            )
        ],
        ignore_index=True,
    )
    catch = catchment_staffing(catch, precincts, float(metres.max()), norm)
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
        notes.append(_n(
            "{n} precinct serves no resident ({scenario}): no one has it as the nearest "
            "precinct on foot: {ids}",
            "{n} precincts serve no resident ({scenario}): no one has them as the nearest "
            "precinct on foot: {ids}",
            len(group), scenario=_("open") if scen == "open" else _("open + planned"),
            ids=", ".join(map(str, group["precinct"].head(8)))))
    order = _opening_order(ctx, is_planned)

    demand_district: np.ndarray = np.full(len(pop), None, dtype=object)
    district_table = None
    district_polys = None
    if districts is not None:
        district_polys = _check_districts(districts, network)
        demand_district = _demand_districts(demand, dem_pts, district_polys)
        fac_district = _in_polygons(fac_pts, district_polys)
        district_table = _district_table(ctx, district_polys, demand_district, fac_district)
        district_table = district_staffing(district_table, catch,
                                           dict(zip(ids.tolist(), fac_district, strict=True)))

    uncovered = (d_open > main_m) & (pop > 0)
    areas, area_cells = _uncovered_areas(ctx, dem_pts, uncovered, d_plan <= main_m,
                                         demand_district, district_polys)

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
    from ..scenario import Scenario, load_inputs, load_scenario

    scen = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if inputs is None:
        inputs = load_inputs(scen, cache=cache)
    result = assess(inputs.network, inputs.demand, inputs.precincts,
                    districts=inputs.districts, **scen.assess_options())
    return inputs, result


