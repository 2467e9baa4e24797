"""Staffing: district inspectors needed, on staff and the gap, with one rounding rule.

The rule, the same in every output (``precincts.csv``, ``districts.csv``, ``summary.json``,
the report and the map):

- **per precinct**: inspectors needed = ``ceil(residents served / norm)``;
- **per district and for the city**: the sums of the precinct figures (a district's are those
  of the precincts standing in it), never a rounding of their own;
- a catchment whose residents walk far (population-weighted median walk beyond the largest
  threshold) is **not served on foot**: it gets no inspector figure (blank), is left out of
  the totals, and its residents are reported apart. So are residents no precinct can be
  reached from;
- **on staff** is the precinct file's ``inspectors`` column (blank when not given); the
  **gap** is needed minus on staff for a precinct with both figures, and the totals' gap is
  the sum of those precinct gaps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .result import _OUTSIDE, _UNASSIGNED

__all__ = ["RULE", "catchment_staffing", "district_staffing", "staffing_summary"]

#: The rounding rule, in words (printed with the figures).
def _(message: str) -> str:
    """Mark ``message`` for extraction by pybabel (said in the report's language)."""
    return message


RULE = _("inspectors needed = residents served / norm, rounded up per precinct; districts and "
        "the city are sums of the precinct figures; catchments not served on foot (median "
        "walk beyond the largest threshold) get no figure and are not in the totals")


def _needed(served: float, norm: float) -> int:
    if served <= 0:
        return 0
    # a relative tolerance keeps float sums such as 6000.000000001 at 2
    return math.ceil(served / norm * (1.0 - 1e-12))


def catchment_staffing(
    catch: pd.DataFrame, precincts: Any, largest_m: float, norm: float
) -> pd.DataFrame:
    """The catchment table with the staffing columns set by the rule of this module.

    Parameters
    ----------
    catch
        Catchment rows (``precinct``, ``residents_served``, ``median_walk_m``, ...).
    precincts
        The precinct table (for ``kind`` and ``inspectors`` on staff, when it has them).
    largest_m
        The largest threshold in metres.
    norm
        Residents per inspector.

    Returns
    -------
    pandas.DataFrame
        A copy with ``kind`` (when the precincts have one), ``served_on_foot``,
        ``inspectors_needed`` (blank when not served on foot), ``inspectors_on_staff`` and
        ``inspectors_gap``.
    """
    out = catch.copy()
    ids = out["precinct"].astype(str)
    index = [str(i) for i in precincts.index] if precincts is not None else []
    if precincts is not None and "kind" in precincts.columns:
        kinds = dict(zip(index, precincts["kind"].astype(str), strict=True))
        at = list(out.columns).index("status") + 1 if "status" in out.columns else len(out.columns)
        out.insert(at, "kind", ids.map(kinds))
    staff: dict[str, float] = {}
    if precincts is not None and "inspectors" in precincts.columns:
        values = pd.to_numeric(precincts["inspectors"], errors="coerce").to_numpy(float)
        staff = {i: v for i, v in zip(index, values, strict=True) if np.isfinite(v)}
    median = pd.to_numeric(out["median_walk_m"], errors="coerce").to_numpy(float)
    on_foot = (ids != _UNASSIGNED).to_numpy() & np.isfinite(median) & (
        median <= largest_m * (1 + 1e-12))
    served = out["residents_served"].to_numpy(float)
    # residents served by nobody on foot: no workload; an empty catchment needs 0
    on_foot |= (served <= 0) & (ids != _UNASSIGNED).to_numpy()
    need = [float(_needed(s, norm)) if ok else math.nan
            for s, ok in zip(served, on_foot, strict=True)]
    have = [staff.get(i, math.nan) for i in ids]
    out["served_on_foot"] = on_foot
    out["inspectors_needed"] = need
    out["inspectors_on_staff"] = have
    out["inspectors_gap"] = [n - h if math.isfinite(n) and math.isfinite(h) else math.nan
                             for n, h in zip(need, have, strict=True)]
    return out


def _sums(rows: pd.DataFrame) -> dict[str, Any]:
    need = pd.to_numeric(rows["inspectors_needed"], errors="coerce")
    have = pd.to_numeric(rows["inspectors_on_staff"], errors="coerce")
    gap = pd.to_numeric(rows["inspectors_gap"], errors="coerce")
    return {
        "inspectors_needed": int(need.sum()),
        "inspectors_on_staff": int(have.sum()) if have.notna().any() else None,
        "inspectors_gap": int(gap.sum()) if gap.notna().any() else None,
    }


def district_staffing(
    districts: pd.DataFrame, catch: pd.DataFrame, precinct_district: dict[str, str | None]
) -> pd.DataFrame:
    """The district table with the sums of its open precincts' staffing figures.

    Parameters
    ----------
    districts
        District rows (``district``, ...).
    catch
        Catchments as :func:`catchment_staffing` gives them.
    precinct_district
        The district each precinct stands in (None: outside every district).

    Returns
    -------
    pandas.DataFrame
        A copy with ``inspectors_needed``, ``inspectors_on_staff`` and ``inspectors_gap``
        (blank where no precinct of the district has a figure).
    """
    out = districts.copy()
    today = catch[(catch["scenario"] == "open") & (catch["precinct"] != _UNASSIGNED)]
    where = today["precinct"].astype(str).map(
        lambda p: precinct_district.get(p) or _OUTSIDE)
    need, have, gap = [], [], []
    for name in out["district"].astype(str):
        s = _sums(today[(where == name).to_numpy()])
        need.append(s["inspectors_needed"])
        have.append(math.nan if s["inspectors_on_staff"] is None else s["inspectors_on_staff"])
        gap.append(math.nan if s["inspectors_gap"] is None else s["inspectors_gap"])
    out["inspectors_needed"] = need
    out["inspectors_on_staff"] = have
    out["inspectors_gap"] = gap
    return out


def staffing_summary(assessment: Any) -> dict[str, Any]:
    """The city's staffing (``summary.json``'s ``staffing``), per precinct scenario.

    Parameters
    ----------
    assessment
        A :class:`walkshed.assessment.Assessment`.

    Returns
    -------
    dict
        ``rule``, ``residents_per_inspector`` and, for ``open`` and ``open+planned``: the
        sums of :func:`_sums`, ``precincts``, ``precincts_with_staff_figures``,
        ``residents_not_served_on_foot``, ``inspectors_for_residents_not_on_foot`` (the
        norm's figure for them, apart from the totals) and ``not_served_on_foot`` (the
        precincts, with residents and median walk).
    """
    catch = assessment.catchments
    out: dict[str, Any] = {"rule": RULE,
                           "residents_per_inspector": assessment.settings.residents_per_inspector}
    for scen in ("open", "open+planned"):
        rows = catch[catch["scenario"] == scen]
        far = rows[~rows["served_on_foot"].astype(bool)]
        block = _sums(rows)
        block["precincts"] = int((rows["precinct"] != _UNASSIGNED).sum())
        block["precincts_with_staff_figures"] = int(
            pd.to_numeric(rows["inspectors_on_staff"], errors="coerce").notna().sum())
        block["residents_not_served_on_foot"] = float(far["residents_served"].sum())
        # the norm's figure for them, apart (the same per-precinct rounding)
        block["inspectors_for_residents_not_on_foot"] = int(sum(
            _needed(float(v), float(out["residents_per_inspector"]))
            for v in far["residents_served"]))
        block["not_served_on_foot"] = [
            {"precinct": str(r.precinct), "name": str(r.name),
             "residents_served": float(r.residents_served),
             "median_walk_m": None if not math.isfinite(float(r.median_walk_m))
             else float(r.median_walk_m)}
            for r in far.itertuples()
        ]
        out[scen] = block
    return out


def staffing_lines(staffing: dict[str, Any], largest: str, t: Any = None) -> list[str]:
    """The report's lines about staffing today (``staffing`` from :func:`staffing_summary`),
    in the language of ``t`` (a :class:`walkshed.i18n.Translator`; default English)."""
    from ..i18n import translator

    t = t or translator("en")
    _, num = t.gettext, t.number
    s = staffing["open"]
    line = _("Inspectors today: {n} needed by the norm ({norm} residents per inspector)").format(
        n=num(s["inspectors_needed"]), norm=num(staffing["residents_per_inspector"]))
    if s["inspectors_on_staff"] is not None:
        gap = s["inspectors_gap"]
        line += _(", {n} on staff ({k} precinct(s) with a figure), gap {gap}").format(
            n=num(s["inspectors_on_staff"]), k=num(s["precincts_with_staff_figures"]),
            gap=("+" if gap > 0 else "−" if gap < 0 else "") + num(abs(gap)))
    lines = [line + "."]
    if s["not_served_on_foot"]:
        shown = "; ".join(
            f"{r['name']} (" + (_("{n} residents, median walk {m} m") if r["median_walk_m"]
                                is not None else _("{n} residents")).format(
                n=num(r["residents_served"]), m=num(r["median_walk_m"] or 0)) + ")"
            for r in s["not_served_on_foot"][:6])
        more = len(s["not_served_on_foot"]) - 6
        lines.append(_(
            "Not served on foot (median walk beyond {largest}), no inspector figure and not "
            "in the totals: {n} residents (by the norm {k} more inspectors, once a precinct "
            "is within walking distance): {list}").format(
                largest=largest, n=num(s["residents_not_served_on_foot"]),
                k=num(s["inspectors_for_residents_not_on_foot"]), list=shown)
            + (_(" and {n} more").format(n=num(more)) if more > 0 else "") + ".")
    lines.append(_("Rule: {rule}.").format(rule=_(RULE)))
    return lines
