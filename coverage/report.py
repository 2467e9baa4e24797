"""The text report a run prints: coverage, opening order, uncovered areas, sites, the data.

Pure functions from a run's results to text; the CLI prints them, a notebook may too.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .i18n import translator
from .network import WalkNetwork
from .population.words import say

__all__ = ["inspect_text", "lonlat_bounds", "run_report", "uncertainty_lines"]


def run_report(result: Any, lang: str | None = None) -> str:
    """The report of a run (:class:`walkshed.pipeline.RunResult`) as plain text.

    Parameters
    ----------
    result
        What :func:`walkshed.pipeline.run_study` returned.
    lang
        ``en``, ``ru`` or ``kk``; default :func:`walkshed.i18n.current_language`.

    Returns
    -------
    str
        The study's title, the assessment's summary, the proposed sites, notes about the data,
        the attribution and the files written.
    """
    t = translator(lang)
    _, _n, num = t.gettext, t.ngettext, t.number
    summary = result.summary
    names = getattr(result, "place_names", {}).get(t.lang, {})
    lines = [summary["study"], ""]
    if result.assessment is not None:
        lines.append(result.assessment.summary(lang=t.lang, place_names=names))
        lines += uncertainty_lines(getattr(result.assessment, "uncertainty", None), t.lang)
    methods = summary.get("population_methods")
    if isinstance(methods, pd.DataFrame) and len(methods):
        lines += ["", _("How residents were placed, per zone (method: reason):")]
        lines += ["- " + _("{zone}: {n} by {method}: {reason}").format(
            zone=names.get(r["zone"], r["zone"]), n=num(r.get("population_out", 0)),
            method=say(r["method"], t), reason=say(r["reason"], t))
            for r in methods.to_dict(orient="records")]
    sites = summary.get("proposed_sites")
    if sites:
        # the target as typed (0.995 is "99.5%", not "100%"); an unreachable one said at once
        what = (_("best {p}").format(p=sites["p"]) if sites["p"] is not None
                else _("fewest for {share}").format(
                    share=t.percent(sites["target_share"], _digits(sites["target_share"] * 100))))
        if sites.get("target_met") is False:
            what += _(", NOT reachable")
        # with a target, show enough digits that "90.0%" is not read as reaching 90 %
        digits = 1 if sites["p"] is not None else 2
        how = t.say(sites["status"])
        if not str(sites["status"]).startswith(str(sites["method"])):
            method = {"greedy": _("greedy"), "exact": _("exact")}.get(
                str(sites["method"]), str(sites["method"]))
            how = f"{method}, {how}"
        fixed = {"open": _("open"), "open+planned": _("open + planned")}.get(
            str(sites["fixed"]), str(sites["fixed"]))
        lines += [
            "",
            _("Proposed new sites ({what}, within {minutes} min, {how}; {fixed} precincts "
              "kept): covered {before} -> {after}").format(
                what=what, minutes=num(sites["threshold_min"], _digits(sites["threshold_min"])),
                how=how, fixed=fixed, before=t.percent(sites["covered_share_before"], digits),
                after=t.percent(sites["covered_share_after"], digits)),
        ]
        lines += [_("  note: {note}").format(note=t.say(n)) for n in sites["notes"]]
        for row in sites["sites"].to_dict(orient="records"):
            where = (f", {names.get(row['district'], row['district'])}"
                     if isinstance(row.get("district"), str) else "")
            lines.append(
                f"{row['rank']:>4}. {row['site']} ({row['lat']:.5f}, {row['lon']:.5f}{where}): "
                + _n("+{n} resident, {share} covered", "+{n} residents, {share} covered",
                     row["newly_covered"]).format(
                    n=num(row["newly_covered"]), share=t.percent(row["cumulative_share"], digits))
            )
    shown = set(getattr(result.assessment, "notes", ()))
    extra = [n for n in summary.get("notes", []) if n not in shown]
    src = summary.get("population_sources")
    if isinstance(src, pd.DataFrame) and 1 < len(src) <= 12:
        extra.append(_("Residents placed: {list}").format(list="; ".join(
            _("{zone} {n} by {method}").format(zone=names.get(r.zone, r.zone),
                                               n=num(r.residents), method=say(r.method, t))
            for r in src.itertuples())))
    if extra:
        lines += ["", _("About the data:")] + [f"- {t.say(n)}" for n in extra]
    lines += _vetting_staffing_caveats(summary, t)
    credit = t.attribution(summary["attribution"])
    lines += ["", _("Data: {attribution}").format(attribution=credit),
              _("Wrote {files} to {folder}/").format(files=", ".join(summary["outputs"]),
                                                     folder=result.folder)]
    return "\n".join(lines)


def _threshold(label: Any, t: Any) -> str:
    """A threshold label (``10min``, ``750m``) in the language (``10 мин``); others as given."""
    m = re.fullmatch(r"([\d.]+)\s*(min|m)", str(label))
    if not m:
        return str(label)
    value = float(m.group(1))
    unit = t.gettext("{n} min") if m.group(2) == "min" else t.gettext("{n} m")
    return unit.format(
        n=t.number(value, _digits(value)))


def _digits(x: float) -> int:
    """Decimals needed to show ``x`` as typed: 10.0 -> 0, 7.5 -> 1."""
    for d in range(4):
        if abs(round(x, d) - x) < 1e-9:
            return d
    return 4


def _kind_word(kind: Any, t: Any) -> str:
    """A precinct kind in the language (the map's words), others as given."""
    said = t.gettext(f"precinct kind|{kind}")
    return str(kind) if said == f"precinct kind|{kind}" else said


def _vetting_staffing_caveats(summary: dict[str, Any], t: Any = None, *,
                              caveats: bool = True) -> list[str]:
    """The report's precinct kinds, staffing and (``caveats``) caveats, each block when the
    summary has it, in ``t``'s language (default English)."""
    from .assessment.staffing import staffing_lines
    from .caveats import caveat_lines

    t = t or translator("en")
    _ = t.gettext
    lines: list[str] = []
    kinds = summary.get("precinct_kinds")
    if kinds:
        found = ", ".join(f"{t.number(n)} {_kind_word(k, t)}"
                          for k, n in kinds["found"].items() if n)
        lines += ["", _("Precincts by kind: {found}; counted: {counted}.").format(
            found=found, counted=", ".join(_kind_word(k, t) for k in kinds["counted_kinds"]))]
        if kinds["left_out"]:
            lines.append(_("Left out ({n}): {list}").format(
                n=t.number(len(kinds["left_out"])),
                list="; ".join(_who(r, t) for r in kinds["left_out"])))
        if kinds["unknown_counted"]:
            lines.append(_("Warning: {n} precinct(s) of unknown kind counted (no name or tag "
                           "says what they are); check them, or set kinds = [...] in "
                           "[[precincts]].").format(n=t.number(len(kinds["unknown_counted"]))))
    staffing = summary.get("staffing")
    if staffing:
        labels = summary.get("settings", {}).get("threshold_labels") or [None]
        largest = _threshold(labels[-1], t) if labels[-1] else _("the largest threshold")
        lines += ["", *staffing_lines(staffing, largest, t)]
    if not caveats:
        return lines
    said = caveat_lines({"caveats": [
        c for c in summary.get("caveats", [])
        if not (kinds and isinstance(c, dict) and c.get("topic") == "precincts")]}, t.lang)
    if said:
        lines += ["", _("Caveats and sources:")] + [f"- {c}" for c in said]
    return lines


def uncertainty_lines(unc: dict[str, Any] | None, lang: str | None = None) -> list[str]:
    """The report's lines on the figures across population methods and staffing norms
    (:func:`walkshed.assessment.uncertainty.compare`); none when not compared."""
    if not unc:
        return []
    t = translator(lang)
    _, num, pct = t.gettext, t.number, t.percent
    this_run = _(" (this run)")
    lines: list[str] = []
    share = unc.get("share_open")
    if share and len(unc["methods"]) > 1:
        lines += ["", _("Covered within {threshold} of an open precinct, by how residents "
                        "are placed: {text}").format(threshold=_threshold(unc["threshold"], t),
                                                     text=_range(share, t))]
        for m in unc["methods"]:
            mark = this_run if m["method"] == unc.get("scenario_method") else ""
            lines.append(f"  {say(m['method'], t):<32} " + _("{open} open, {planned} with planned")
                         .format(open=f"{pct(m['share_open']):>6}",
                                 planned=f"{pct(m['share_with_planned']):>6}") + mark)
        for m in unc.get("not_applicable", []):
            lines.append(f"  {say(m['method'], t):<32} " + _("not applicable: {reason}").format(
                reason=say(m["reason"], t)))
    need = [r["inspectors_needed"] for r in unc["norms"]]
    norms_text = unc["norms_text"] if t.lang == "en" else _(
        "{n} ({low}–{high} across norms of {norms} residents per inspector)").format(
        n=num(next((r["inspectors_needed"] for r in unc["norms"] if r["used"]), need[0])),
        low=num(min(need)), high=num(max(need)),
        norms=" / ".join(num(r["residents_per_inspector"]) for r in unc["norms"]))
    lines += ["", _("District inspectors needed today: {text}:").format(text=norms_text)]
    lines += ["  " + ", ".join(
        _("{n} at {norm}").format(n=num(r["inspectors_needed"]),
                                  norm=num(r["residents_per_inspector"]))
        + (this_run if r["used"] else "") for r in unc["norms"])]
    return lines


def _range(share: dict[str, Any], t: Any) -> str:
    """A share with its range across methods (English: as the assessment words it)."""
    if t.lang == "en":
        return str(share["text"])
    return t.gettext("{value} ({low}–{high} across methods)").format(
        value=t.percent(share["value"]), low=t.percent(share["low"]),
        high=t.percent(share["high"]))


def inspect_text(file_name: str, info: dict[str, Any], lang: str | None = None) -> str:
    """What ``walkshed inspect`` prints about an extract (``info`` as it builds it), in
    ``lang`` (default :func:`walkshed.i18n.current_language`)."""
    t = translator(lang)
    _, num = t.gettext, t.number
    e = info["extent_lonlat"]
    return "\n".join([
        _("{file}: {km} km of walkable street ({nodes} nodes, {edges} edges; {dropped})").format(
            file=file_name, km=num(info["walkable_street_km"], 1), nodes=num(info["nodes"]),
            edges=num(info["edges"]), dropped=info["dropped"]),
        _("  buildings: {n} ({residential} residential by type, {plain} plain building=yes of "
          "unknown use)").format(
            n=num(info["buildings"]), residential=num(info["residential_buildings"]),
            plain=num(info.get("plain_yes_buildings", 0))),
        _("  police points (amenity=police): {n}").format(n=num(info["police_points"]))
        + _kinds_text(info),
        _("  extent: lon {west} to {east}, lat {south} to {north}").format(
            west=f"{e['west']:.5f}", east=f"{e['east']:.5f}", south=f"{e['south']:.5f}",
            north=f"{e['north']:.5f}"),
        _("  CRS used for distances: {crs}").format(crs=info["crs"]),
    ] + ([f"  snapshot: {info['snapshot']} ({info['snapshot_from']})"]
         if info.get("snapshot") else []))


def _who(row: dict[str, Any], t: Any = None) -> str:
    """``name (id, kind)``, or ``id (kind)`` for an unnamed precinct."""
    name, pid = str(row.get("name") or ""), str(row["precinct"])
    kind = _kind_word(row["kind"], t or translator("en"))
    if not name or name == f"Precinct {pid}":
        return f"{pid} ({kind})"
    return f"{name} ({pid}, {kind})"


def _kinds_text(info: dict[str, Any]) -> str:
    """``: 3 precinct, 1 station, ...`` and the points left out by default."""
    kinds = info.get("police_kinds")
    if not kinds:
        return ""
    text = ": " + ", ".join(f"{n} {k}" for k, n in kinds.items() if n)
    left = info.get("police_left_out_by_default") or []
    if left:
        text += (f"\n    left out by default ({len(left)}, not precincts): "
                 + "; ".join(_who(r) for r in left))
    return text


def lonlat_bounds(net: WalkNetwork) -> tuple[tuple[float, float], tuple[float, float]]:
    """Longitude and latitude ranges of the network's nodes, rounded to 1e-6 degrees."""
    import pyproj

    tf = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    lon, lat = tf.transform(net.node_xy[:, 0], net.node_xy[:, 1])
    return (round(float(np.min(lon)), 6), round(float(np.max(lon)), 6)), (
        round(float(np.min(lat)), 6), round(float(np.max(lat)), 6))


