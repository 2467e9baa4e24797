"""The map's headline figures and its collapsible panel: ranges, staffing, kinds, caveats, sources.

Everything here is plain data (titles, rows of label and formatted value, items of text) for
the page's fixed script, which puts it on the page with ``textContent``: a caveat or a name from
the data is shown as its characters, never read as markup or a template.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._page import TEXT, _fmt_int, _num
from ._tables import _get, _label_text


def _pct(x: Any) -> str:
    return f"{_num(x) * 100:.1f}"


def coverage_range(block: dict[str, Any]) -> str:
    """A coverage figure with its range across population methods (as ``range_text``)."""
    return TEXT["range_methods"].format(value=_pct(block["value"]), low=_pct(block["low"]),
                                        high=_pct(block["high"]))


def norms_range(unc: dict[str, Any]) -> str:
    """Inspectors needed with the range across staffing norms (as ``norms_text``)."""
    rows = unc["norms"]
    need = [int(r["inspectors_needed"]) for r in rows]
    this = next(int(r["inspectors_needed"]) for r in rows if r["used"])
    norms = " / ".join(f"{float(r['residents_per_inspector']):,.0f}" for r in rows)
    return TEXT["range_norms"].format(value=f"{this:,}", low=f"{min(need):,}",
                                      high=f"{max(need):,}", norms=norms)


def _signed(x: Any) -> str:
    v = _num(x)
    return "n/a" if not math.isfinite(v) else f"{v:+,.0f}"


def _staffing(assessment: Any) -> dict[str, Any] | None:
    catch = _get(assessment, "catchments")
    if catch is None or "served_on_foot" not in getattr(catch, "columns", ()):
        return None
    from ..assessment.staffing import staffing_summary

    return staffing_summary(assessment)


def headline_and_panel(
    assessment: Any,
    *,
    caveats: Sequence[Any] | None,
    precinct_kinds: dict[str, Any] | None,
) -> tuple[list[str], dict[str, Any] | None]:
    """The title box's figure lines and the panel (None when there is nothing to say)."""
    lines: list[str] = []
    sections: list[dict[str, Any]] = []
    unc = _get(assessment, "uncertainty")
    if unc:
        label = _label_text(str(unc.get("threshold", "")))
        rows: list[list[str]] = []
        for key, text_key in (("share_open", "covered_open"),
                              ("share_with_planned", "covered_planned")):
            if key in unc and (key == "share_open" or _has_planned(assessment)):
                rows.append([TEXT[text_key].format(label=label), coverage_range(unc[key])])
        if rows:
            lines.append(f"{rows[0][0]}: {rows[0][1]}")
        for m in unc.get("methods", []):
            rows.append([TEXT["by_method"].format(method=str(m["method"])),
                         f"{_pct(m['share_open'])} %"])
        for m in unc.get("not_applicable", []):
            rows.append([TEXT["by_method"].format(method=str(m["method"])),
                         TEXT["not_applicable"].format(reason=str(m["reason"]))])
        if unc.get("norms"):
            text = norms_range(unc)
            rows.append([TEXT["inspectors_needed"], text])
            lines.append(f"{TEXT['inspectors_needed']}: {text}")
            for r in unc["norms"]:
                rows.append([TEXT["by_norm"].format(
                    norm=f"{float(r['residents_per_inspector']):,.0f}"),
                    f"{int(r['inspectors_needed']):,}"])
        sections.append({"id": "figures", "title": TEXT["figures"], "rows": rows})
    staff = _staffing(assessment)
    if staff is not None:
        s = staff["open"]
        rows = [[TEXT["inspectors_needed"], _fmt_int(s["inspectors_needed"])]]
        if s["inspectors_on_staff"] is not None:  # only when the precincts give staff
            rows.append([TEXT["inspectors_on_staff"], _fmt_int(s["inspectors_on_staff"])])
        if s["inspectors_gap"] is not None:
            rows.append([TEXT["inspectors_gap"], _signed(s["inspectors_gap"])])
        rows.append([TEXT["not_on_foot_residents"], _fmt_int(s["residents_not_served_on_foot"])])
        items = [TEXT["not_on_foot_item"].format(
            name=str(r["name"]), residents=_fmt_int(r["residents_served"]),
            walk=_fmt_int(r["median_walk_m"])) for r in s["not_served_on_foot"]]
        sections.append({"id": "staffing", "title": TEXT["staffing_today"].format(
            norm=f"{float(staff['residents_per_inspector']):,.0f}"), "rows": rows,
            "items": [*items, TEXT["staffing_rule"]]})
    if precinct_kinds:
        found = precinct_kinds.get("found", {})
        rows = [[str(k), f"{int(n):,}"] for k, n in found.items() if n]
        rows.append([TEXT["kinds_counted"], ", ".join(map(str, precinct_kinds.get(
            "counted_kinds", [])))])
        left = precinct_kinds.get("left_out", [])
        rows.append([TEXT["kinds_left_out"], f"{len(left):,}"])
        items = [TEXT["left_out_item"].format(
            name=str(r.get("name") or r.get("precinct") or ""), kind=str(r.get("kind") or ""))
            for r in left]
        sections.append({"id": "kinds", "title": TEXT["kinds_found"], "rows": rows,
                         "items": items})
    cav = [c if isinstance(c, dict) else {"text": str(c)} for c in (caveats or []) if c]
    notes = [str(c.get("text", "")) for c in cav if c.get("topic") != "source"
             and not (precinct_kinds and c.get("topic") == "precincts")]
    if notes:
        sections.append({"id": "caveats", "title": TEXT["caveats"], "items": notes})
    groups = [{"title": str(c.get("source") or c.get("text", "")), "rows": [
        [TEXT[k], str(c[k])] for k in ("date", "precision", "licence")
        if c.get(k) not in (None, "")]} for c in cav if c.get("topic") == "source"]
    if groups:
        sections.append({"id": "sources", "title": TEXT["sources"], "groups": groups})
    if not sections:
        return lines, None
    return lines, {"summary": TEXT["about"], "sections": sections}


def _has_planned(assessment: Any) -> bool:
    counts = _get(assessment, "precinct_counts") or {}
    return bool(counts.get("planned"))


def osm_date(caveats: Sequence[Any] | None) -> str | None:
    """The OpenStreetMap snapshot's date (``YYYY-MM-DD``) among the caveats' sources."""
    for c in caveats or []:
        if isinstance(c, dict) and c.get("topic") == "source" and \
                str(c.get("source", "")).startswith("OpenStreetMap extract") and c.get("date"):
            return str(c["date"])[:10]
    return None
