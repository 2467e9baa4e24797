"""The tables of an assessment: coverage, catchments and staffing, opening order, districts."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from .. import _common
from .._common import STATUSES
from .._errors import input_error
from ..network import WalkNetwork
from ..reach import coverage_matrix
from ._search import _Context
from .result import _OUTSIDE, _UNASSIGNED


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



def _share(part: float, total: float) -> float:
    return part / total if total > 0 else float("nan")


def _coverage_table(ctx: _Context) -> pd.DataFrame:
    pop, d_open, d_plan, total = ctx.pop, ctx.d_open, ctx.d_plan, ctx.total
    minutes, metres, labels = ctx.minutes, ctx.metres, ctx.labels
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
    ctx: _Context, scenario: str, members: np.ndarray, dist: np.ndarray, nearest: np.ndarray
) -> pd.DataFrame:
    pop, ids, names, status = ctx.pop, ctx.ids, ctx.names, ctx.status
    metres, labels, norm = ctx.metres, ctx.labels, ctx.cfg.residents_per_inspector
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


def _opening_order(ctx: _Context, planned: np.ndarray) -> pd.DataFrame:
    network, fac, dem, pop, d_open = ctx.network, ctx.fac, ctx.dem, ctx.pop, ctx.d_open
    ids, names = ctx.ids, ctx.names
    main_m, metres, labels = ctx.cfg.main_threshold_m, ctx.metres, ctx.labels
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
    rows = opening_order_rows(mat, ids[planned], names[planned], pop, d_open, main_m, metres,
                              labels)
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
    ctx: _Context, polys: gpd.GeoDataFrame, where: np.ndarray, fac_where: np.ndarray
) -> pd.DataFrame:
    pop, d_open, d_plan, status = ctx.pop, ctx.d_open, ctx.d_plan, ctx.status
    metres, labels, norm = ctx.metres, ctx.labels, ctx.cfg.residents_per_inspector
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


def opening_order_rows(
    mat: sparse.csr_matrix,
    ids: np.ndarray,
    names: np.ndarray,
    pop: np.ndarray,
    d_open: np.ndarray,
    main_m: float,
    metres: np.ndarray,
    labels: list[str],
) -> list[dict[str, Any]]:
    """The planned precincts in greedy order at ``main_m``: the rows of ``opening_order``.

    ``mat`` holds one row per planned precinct (``ids``/``names`` in table order): the walking
    distance to each demand point it reaches within the largest threshold
    (:func:`walkshed.reach.coverage_matrix`). Used by :func:`walkshed.assess` and by
    ``walkshed serve``, so both give the same order.
    """
    total = float(pop.sum())

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
    left = list(range(len(ids)))
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
        row: dict[str, Any] = {
            "step": step,
            "precinct": ids[j],
            "name": names[j],
            "gain": gain,
            "cumulative_covered": cum,
            "cumulative_share": _share(cum, total),
            "gain_alone": float(gain_alone[j]),
        }
        for lab in labels:
            row[f"gain_alone_{lab}"] = float(alone[lab][j])
        rows.append(row)
    return rows
