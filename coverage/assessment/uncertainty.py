"""Stated uncertainty: the coverage under every applicable way of placing residents, and the
inspectors needed under every staffing norm, side by side.

The same city, precincts and total give different answers depending on how the residents are
spread (district totals over buildings, over streets, over an area grid; buildings scaled to
the city total; a raster). :func:`compare` reports each, with the range, so a planner sees
"7.0 % (4.1-16.1 % across methods)" instead of one figure taken at face value.

It stays cheap: the walking distances from the precincts to every street node are searched once
(one multi-source search for the open precincts, one with the planned ones) and every method's
demand points read them (:func:`walkshed.reach.nearest_from_nodes`); only the snapping of each
method's points is new. Each figure equals a separate :func:`walkshed.assessment.assess` run with
that method's demand points or that norm (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np

from .. import settings
from ..network import WalkNetwork
from ..reach import nearest_from_nodes, node_distances
from ..snap import Snapped, points_in_network_crs, snap_geometries
from ._search import _unique_places
from .core import _check_precincts
from .result import _UNASSIGNED, Assessment
from .tables import _check_districts, _demand_districts, inspectors_needed

__all__ = ["compare", "range_text"]


def range_text(value: float, low: float, high: float, *, what: str = "across methods") -> str:
    """A figure with its range, as the report prints it.

    Examples
    --------
    >>> range_text(0.070, 0.041, 0.161)
    '7.0 % (4.1–16.1 % across methods)'
    """
    return f"{value * 100:.1f} % ({low * 100:.1f}–{high * 100:.1f} % {what})"


class _Distances:
    """The node distances of one precinct set, searched once, read by many demand sets."""

    def __init__(self, network: WalkNetwork, fac: Snapped, members: np.ndarray) -> None:
        self.network = network
        if len(members):
            kept, _ = _unique_places(fac, members)
        else:
            kept = np.empty(0, dtype=np.int64)
        self.kept = kept
        self.fac = fac.subset(kept)
        self.node = node_distances(network, self.fac) if len(kept) else None

    def walk(self, dem: Snapped) -> np.ndarray:
        if self.node is None:
            return np.full(len(dem), np.inf)
        res = nearest_from_nodes(self.network, self.fac, dem, *self.node)
        return res.distance_m


def _share(part: float, total: float) -> float:
    return part / total if total > 0 else float("nan")


def compare(
    network: WalkNetwork,
    base: Assessment,
    precincts: gpd.GeoDataFrame,
    demands: Mapping[str, gpd.GeoDataFrame],
    *,
    scenario_method: str | None = None,
    not_applicable: Mapping[str, str] | None = None,
    districts: gpd.GeoDataFrame | None = None,
    norms: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Coverage under each population method and inspectors under each norm, with ranges.

    Parameters
    ----------
    network
        The walking network of ``base``.
    base
        The run's assessment (its thresholds, snapping limit, norm and catchments are used).
    precincts
        The precincts ``base`` assessed.
    demands
        Demand points per method name (``"buildings"``, ``"streets"``, ``"area"``,
        ``"buildings, city total"``, ``"raster"``, ...), the run's own among them.
    scenario_method
        The name in ``demands`` of the run's own demand (the figure the range is around).
    not_applicable
        Methods that could not be used, with the reason (reported as such).
    districts
        District polygons with ``name``: the share per district per method.
    norms
        Residents per inspector compared; default :data:`walkshed.settings.compared_norms`
        plus the run's own norm.

    Returns
    -------
    dict
        Plain values (the ``uncertainty`` of ``summary.json``): ``threshold`` (the main
        threshold's label), ``methods`` (per method: ``method``, ``residents``, ``points``,
        ``coverage`` per threshold with ``share_open`` / ``share_with_planned``, the main
        threshold's ``share_open`` / ``share_with_planned`` and ``districts``),
        ``not_applicable``, ``share_open`` and ``share_with_planned`` (``value``, ``low``,
        ``high``, ``text``), ``norms`` (``residents_per_inspector``, ``inspectors_needed``,
        ``used``) and ``norms_text``.
    """
    cfg = base.settings
    status = _check_precincts(precincts)
    fac = snap_geometries(network, points_in_network_crs(network, precincts, "precincts"),
                          max_snap_m=cfg.max_snap_m)
    is_open = np.flatnonzero(status == "open")
    with_planned = np.concatenate([is_open, np.flatnonzero(status == "planned")])
    open_d = _Distances(network, fac, is_open)
    plan_d = _Distances(network, fac, with_planned)
    polys = _check_districts(districts, network) if districts is not None else None
    metres = np.asarray(cfg.thresholds_m, dtype=float)
    main_i = int(np.argmin(np.abs(metres - cfg.main_threshold_m)))
    labels = list(cfg.threshold_labels)

    methods: list[dict[str, Any]] = []
    for name, demand in demands.items():
        pop = demand["population"].to_numpy(dtype=float)
        pts = points_in_network_crs(network, demand, "demand")
        dem = snap_geometries(network, pts, max_snap_m=cfg.max_snap_m)
        d_open, d_plan = open_d.walk(dem), plan_d.walk(dem)
        total = float(pop.sum())
        cov = [
            {
                "threshold": lab,
                "share_open": _share(float(pop[d_open <= m].sum()), total),
                "share_with_planned": _share(float(pop[d_plan <= m].sum()), total),
            }
            for lab, m in zip(labels, metres, strict=True)
        ]
        entry: dict[str, Any] = {
            "method": name,
            "residents": total,
            "points": len(pop),
            "coverage": cov,
            "share_open": cov[main_i]["share_open"],
            "share_with_planned": cov[main_i]["share_with_planned"],
        }
        if polys is not None:
            where = _demand_districts(demand, pts, polys)
            main_m = metres[main_i]
            rows = []
            for district in polys["name"].astype(str):
                mine = where == district
                rows.append({
                    "district": district,
                    "residents": float(pop[mine].sum()),
                    "share_open": _share(float(pop[mine & (d_open <= main_m)].sum()),
                                         float(pop[mine].sum())),
                })
            entry["districts"] = rows
        methods.append(entry)

    out: dict[str, Any] = {
        "threshold": labels[main_i],
        "scenario_method": scenario_method,
        "methods": methods,
        "not_applicable": [
            {"method": k, "reason": v} for k, v in (not_applicable or {}).items()
        ],
    }
    own = next((m for m in methods if m["method"] == scenario_method), None)
    for key in ("share_open", "share_with_planned"):
        vals = [m[key] for m in methods if np.isfinite(m[key])]
        if not vals:
            continue
        value = own[key] if own is not None else float(np.median(vals))
        out[key] = {"value": value, "low": min(vals), "high": max(vals),
                    "text": range_text(value, min(vals), max(vals))}

    used = float(cfg.residents_per_inspector)
    compared = sorted({float(n) for n in (settings.compared_norms if norms is None else norms)}
                      | {used})
    today = base.catchments[(base.catchments["scenario"] == "open")
                            & base.catchments["precinct"].ne(_UNASSIGNED)]
    if "served_on_foot" in today.columns:  # the staffing rule: far catchments apart
        today = today[today["served_on_foot"].astype(bool)]
    served = today["residents_served"].to_numpy(dtype=float)
    out["norms"] = [
        {"residents_per_inspector": n,
         "inspectors_needed": int(sum(inspectors_needed(s, n) for s in served)),
         "used": n == used}
        for n in compared
    ]
    need = [r["inspectors_needed"] for r in out["norms"]]
    this = next(r["inspectors_needed"] for r in out["norms"] if r["used"])
    out["norms_text"] = (f"{this:,} ({min(need):,}–{max(need):,} across norms of "
                         + " / ".join(f"{n:,.0f}" for n in compared)
                         + " residents per inspector)")
    return out
