"""The planner's figures from per-resident distances, computed as :func:`walkshed.assess.assess`
computes them (the same selections summed in the same order), so an edited state and a fresh
assessment of the same precincts agree exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from .._common import STATUSES
from ..assessment.tables import opening_order_rows

UNASSIGNED = "(no precinct reachable)"
OUTSIDE = "(outside districts)"


def share(part: float, total: float) -> float:
    """``part / total``; ``nan`` when there is nobody."""
    return part / total if total > 0 else float("nan")


def inspectors(residents: float, norm: float) -> int:
    """District inspectors for ``residents`` by the norm, as assess rounds them."""
    if residents <= 0:
        return 0
    return math.ceil(residents / norm * (1.0 - 1e-12))


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Population-weighted quantile (the rule of :func:`walkshed.assess.weighted_quantile`)."""
    from ._deps import weighted_quantile as wq

    return float(wq(values, weights, q))


def coverage_rows(pop: np.ndarray, d_open: np.ndarray, d_plan: np.ndarray,
                  minutes: np.ndarray, metres: np.ndarray, labels: list[str]
                  ) -> list[dict[str, Any]]:
    """Residents within each threshold of an open precinct, and of an open or planned one."""
    total = float(pop.sum())
    rows = []
    for t, m, lab in zip(minutes, metres, labels, strict=True):
        c_open = float(pop[d_open <= m].sum())
        c_plan = float(pop[d_plan <= m].sum())
        rows.append({
            "threshold": lab, "threshold_min": float(t), "threshold_m": float(m),
            "residents": total, "covered_open": c_open, "share_open": share(c_open, total),
            "covered_with_planned": c_plan, "share_with_planned": share(c_plan, total),
            "added": c_plan - c_open, "added_share": share(c_plan - c_open, total),
        })
    return rows


def catchment_row(scenario: str, pid: str, name: str, status: str, sel: np.ndarray,
                  pop: np.ndarray, dist: np.ndarray, metres: np.ndarray, labels: list[str],
                  norm: float) -> dict[str, Any]:
    """One precinct's catchment: the residents ``sel`` (a mask) it is the nearest of."""
    w, d = pop[sel], dist[sel]
    served = float(w.sum())
    row: dict[str, Any] = {"scenario": scenario, "precinct": pid, "name": name,
                           "status": status, "residents_served": served}
    for m, lab in zip(metres, labels, strict=True):
        row[f"within_{lab}"] = float(w[d <= m].sum())
    row["median_walk_m"] = weighted_quantile(d, w, 0.5)
    row["p90_walk_m"] = weighted_quantile(d, w, 0.9)
    row["inspectors_needed"] = inspectors(served, norm)
    return row


def catchment_table(scenario: str, members: list[tuple[int, str, str, str]], pop: np.ndarray,
                    dist: np.ndarray, src: np.ndarray, metres: np.ndarray, labels: list[str],
                    norm: float) -> pd.DataFrame:
    """Every member's catchment (``(slot, id, name, status)`` in order) and the unassigned."""
    cols = ["scenario", "precinct", "name", "status", "residents_served"]
    cols += [f"within_{lab}" for lab in labels]
    cols += ["median_walk_m", "p90_walk_m", "inspectors_needed"]
    order = np.argsort(src, kind="stable")
    sorted_src = src[order]
    rows = []
    for slot, pid, name, status in members:
        a, b = np.searchsorted(sorted_src, [slot, slot + 1])
        sel = np.zeros(len(pop), dtype=bool)
        sel[order[a:b]] = True
        rows.append(catchment_row(scenario, pid, name, status, sel, pop, dist, metres, labels,
                                  norm))
    lost = src < 0
    if lost.any() and pop[lost].sum() > 0:
        rows.append({"scenario": scenario, "precinct": UNASSIGNED, "name": UNASSIGNED,
                     "status": None, "residents_served": float(pop[lost].sum()),
                     **{f"within_{lab}": 0.0 for lab in labels}, "median_walk_m": float("nan"),
                     "p90_walk_m": float("nan"), "inspectors_needed": 0})
    return pd.DataFrame(rows, columns=cols)


def district_groups(names: list[str], where: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The residents of each district (positions, ascending), then those outside all."""
    outside = np.array([w is None for w in where], dtype=bool)
    out = [(n, np.flatnonzero(where == n)) for n in dict.fromkeys(names)]
    return [*out, (OUTSIDE, np.flatnonzero(outside))]


def district_rows(groups: list[tuple[str, np.ndarray]], pop: np.ndarray, d_open: np.ndarray,
                  d_plan: np.ndarray, fac_where: np.ndarray, status: np.ndarray,
                  metres: np.ndarray, labels: list[str], norm: float) -> list[dict[str, Any]]:
    """Per district: residents, covered shares, precincts by status, inspectors needed.

    ``groups`` from :func:`district_groups`; the residents outside every district are a row
    when there are any (or a precinct stands outside).
    """
    fac_out = np.array([w is None for w in fac_where], dtype=bool)
    *inside, (_, out_idx) = groups
    use = list(inside)
    if (len(out_idx) and pop[out_idx].sum() > 0) or fac_out.any():
        use.append((OUTSIDE, out_idx))
    rows = []
    for name, idx in use:
        fsel = fac_out if name == OUTSIDE else fac_where == name
        w = pop[idx]
        residents = float(w.sum())
        row: dict[str, Any] = {"district": name, "residents": residents}
        do, dp = d_open[idx], d_plan[idx]
        for m, lab in zip(metres, labels, strict=True):
            row[f"share_{lab}_open"] = share(float(w[do <= m].sum()), residents)
            row[f"share_{lab}_with_planned"] = share(float(w[dp <= m].sum()), residents)
        for s in STATUSES:
            row[s] = int((fsel & (status == s)).sum())
        row["inspectors_needed"] = inspectors(residents, norm)
        rows.append(row)
    return rows


ORDER_COLUMNS = ["step", "precinct", "name", "gain", "cumulative_covered", "cumulative_share",
                 "gain_alone"]


def order_frame(rows: list[dict[str, Any]], labels: list[str]) -> pd.DataFrame:
    """The opening order rows as the table assess gives (typed columns when empty)."""
    cols = ORDER_COLUMNS + [f"gain_alone_{lab}" for lab in labels]
    if not rows:
        return pd.DataFrame(
            {c: pd.Series(dtype="int64" if c == "step" else "object" if c in ("precinct", "name")
                          else "float64") for c in cols})
    return pd.DataFrame(rows, columns=cols)


def opening_order(mat: sparse.csr_matrix, planned: list[tuple[str, str]], pop: np.ndarray,
                  d_open: np.ndarray, main_m: float, metres: np.ndarray, labels: list[str]
                  ) -> list[dict[str, Any]]:
    """The planned precincts in greedy order at ``main_m`` (the rule of assess).

    ``mat`` holds one row per planned precinct (``(id, name)`` in table order): the residents
    it reaches within the largest threshold and the walking distance
    (:func:`walkshed.reach.coverage_matrix`).
    """
    if len(planned) == 0:
        return []
    ids = np.asarray([pid for pid, _ in planned], dtype=object)
    names = np.asarray([name for _, name in planned], dtype=object)
    return opening_order_rows(mat, ids, names, pop, d_open, main_m, metres, labels)
