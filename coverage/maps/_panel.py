"""The map's headline figures and its collapsible panel: ranges, staffing, kinds, caveats, sources.

Everything here is plain data (titles, rows of label and formatted value, items of text) for
the page's fixed script, which puts it on the page with ``textContent``: a caveat or a name from
the data is shown as its characters, never read as markup or a template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from ..i18n import Translator, translator
from ..population.words import say
from ._page import TEXT, _fmt_int, _num
from ._tables import _get, _label_text


def _pct(x: Any, t: Translator | None = None) -> str:
    return (t or translator("en")).number(_num(x) * 100, 1)


def coverage_range(block: dict[str, Any], text: dict[str, str] | None = None,
                   t: Translator | None = None) -> str:
    """A coverage figure with its range across population methods (as ``range_text``)."""
    return (text or TEXT)["range_methods"].format(
        value=_pct(block["value"], t), low=_pct(block["low"], t), high=_pct(block["high"], t))


def norms_range(unc: dict[str, Any], text: dict[str, str] | None = None,
                t: Translator | None = None) -> str:
    """Inspectors needed with the range across staffing norms (as ``norms_text``)."""
    t = t or translator("en")
    rows = unc["norms"]
    need = [int(r["inspectors_needed"]) for r in rows]
    this = next(int(r["inspectors_needed"]) for r in rows if r["used"])
    norms = " / ".join(t.number(r["residents_per_inspector"]) for r in rows)
    return (text or TEXT)["range_norms"].format(
        value=t.number(this), low=t.number(min(need)), high=t.number(max(need)), norms=norms)


def _signed(x: Any, t: Translator) -> str:
    v = _num(x)
    if not math.isfinite(v):
        return _fmt_int(v, t)
    return ("+" if v > 0 else "-" if v < 0 else "") + t.number(abs(v))


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
    text: dict[str, str] | None = None,
    t: Translator | None = None,
) -> tuple[list[str], dict[str, Any] | None]:
    """The title box's figure lines and the panel (None when there is nothing to say), in the
    language of ``text`` / ``t`` (default English); the caveats' and the sources' texts are
    said in it when they are Messages (:mod:`walkshed.caveats`), else shown as they are."""
    t = t or translator("en")
    text = text or TEXT
    lines: list[str] = []
    sections: list[dict[str, Any]] = []
    unc = _get(assessment, "uncertainty")
    if unc:
        label = _label_text(str(unc.get("threshold", "")), t)
        rows: list[list[str]] = []
        for key, text_key in (("share_open", "covered_open"),
                              ("share_with_planned", "covered_planned")):
            if key in unc and (key == "share_open" or _has_planned(assessment)):
                rows.append([text[text_key].format(label=label), coverage_range(unc[key], text, t)])
        if rows:
            lines.append(f"{rows[0][0]}: {rows[0][1]}")
        for m in unc.get("methods", []):
            rows.append([text["by_method"].format(method=say(m["method"], t)),
                         t.percent(m["share_open"])])
        for m in unc.get("not_applicable", []):
            rows.append([text["by_method"].format(method=say(m["method"], t)),
                         text["not_applicable"].format(reason=say(m["reason"], t))])
        if unc.get("norms"):
            said = norms_range(unc, text, t)
            rows.append([text["inspectors_needed"], said])
            lines.append(f"{text['inspectors_needed']}: {said}")
            for r in unc["norms"]:
                rows.append([text["by_norm"].format(
                    norm=t.number(r["residents_per_inspector"])),
                    t.number(int(r["inspectors_needed"]))])
        sections.append({"id": "figures", "title": text["figures"], "rows": rows})
    staff = _staffing(assessment)
    if staff is not None:
        s = staff["open"]
        rows = [[text["inspectors_needed"], _fmt_int(s["inspectors_needed"], t)]]
        if s["inspectors_on_staff"] is not None:  # only when the precincts give staff
            rows.append([text["inspectors_on_staff"], _fmt_int(s["inspectors_on_staff"], t)])
        if s["inspectors_gap"] is not None:
            rows.append([text["inspectors_gap"], _signed(s["inspectors_gap"], t)])
        rows.append([text["not_on_foot_residents"], _fmt_int(s["residents_not_served_on_foot"], t)])
        items = [text["not_on_foot_item"].format(
            name=str(r["name"]), residents=_fmt_int(r["residents_served"], t),
            walk=_fmt_int(r["median_walk_m"], t)) for r in s["not_served_on_foot"]]
        sections.append({"id": "staffing", "title": text["staffing_today"].format(
            norm=t.number(staff["residents_per_inspector"])), "rows": rows,
            "items": [*items, text["staffing_rule"]]})
    if precinct_kinds:
        found = precinct_kinds.get("found", {})
        rows = [[_kind(text, str(k)), t.number(int(n))] for k, n in found.items() if n]
        rows.append([text["kinds_counted"], ", ".join(_kind(text, str(k)) for k in
                                                       precinct_kinds.get("counted_kinds", []))])
        left = precinct_kinds.get("left_out", [])
        rows.append([text["kinds_left_out"], t.number(len(left))])
        items = [text["left_out_item"].format(
            name=str(r.get("name") or r.get("precinct") or ""),
            kind=_kind(text, str(r.get("kind") or ""))) for r in left]
        sections.append({"id": "kinds", "title": text["kinds_found"], "rows": rows,
                         "items": items})
    cav = [c if isinstance(c, dict) else {"text": str(c)} for c in (caveats or []) if c]
    notes = [t.say(c.get("text", "")) for c in cav if c.get("topic") != "source"
             and not (precinct_kinds and c.get("topic") == "precincts")]
    if notes:
        sections.append({"id": "caveats", "title": text["caveats"], "items": notes})
    groups = [{"title": t.say(c.get("source") or c.get("text", "")), "rows": [
        [text[k], _day(c[k], t) if k == "date" else t.say(c[k])]
        for k in ("date", "precision", "licence")
        if c.get(k) not in (None, "")]} for c in cav if c.get("topic") == "source"]
    if groups:
        sections.append({"id": "sources", "title": text["sources"], "groups": groups})
    if not sections:
        return lines, None
    return lines, {"summary": text["about"], "sections": sections}


def _day(value: Any, t: Translator) -> str:
    """A source's date: in Russian and Kazakh an ISO date or timestamp in the locale's long
    form (English keeps the ISO text of ``summary.json``), others as said."""
    text = t.say(value)
    if t.lang != "en" and re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:+.Z-]*)?", text):
        return t.date(text[:10])
    return text


def _kind(text: dict[str, str], kind: str) -> str:
    return text.get(f"kind_{kind}", kind)


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
