"""The text report a run prints: coverage, opening order, uncovered areas, sites, the data.

Pure functions from a run's results to text; the CLI prints them, a notebook may too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .i18n import translator
from .network import WalkNetwork

__all__ = ["inspect_text", "lonlat_bounds", "run_report"]


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
        how = str(sites["status"])
        if not how.startswith(str(sites["method"])):
            how = f"{sites['method']}, {how}"
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
        lines += [_("  note: {note}").format(note=n) for n in sites["notes"]]
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
                                               n=num(r.residents), method=r.method)
            for r in src.itertuples())))
    if extra:
        lines += ["", _("About the data:")] + [f"- {n}" for n in extra]
    lines += ["", _("Data: {attribution}").format(attribution=summary["attribution"]),
              _("Wrote {files} to {folder}/").format(files=", ".join(summary["outputs"]),
                                                     folder=result.folder)]
    return "\n".join(lines)


def _digits(x: float) -> int:
    """Decimals needed to show ``x`` as typed: 10.0 -> 0, 7.5 -> 1."""
    for d in range(4):
        if abs(round(x, d) - x) < 1e-9:
            return d
    return 4


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
        _("  buildings: {n} ({residential} residential by type)").format(
            n=num(info["buildings"]), residential=num(info["residential_buildings"])),
        _("  police points (amenity=police): {n}").format(n=num(info["police_points"])),
        _("  extent: lon {west} to {east}, lat {south} to {north}").format(
            west=f"{e['west']:.5f}", east=f"{e['east']:.5f}", south=f"{e['south']:.5f}",
            north=f"{e['north']:.5f}"),
        _("  CRS used for distances: {crs}").format(crs=info["crs"]),
    ])


def lonlat_bounds(net: WalkNetwork) -> tuple[tuple[float, float], tuple[float, float]]:
    """Longitude and latitude ranges of the network's nodes, rounded to 1e-6 degrees."""
    import pyproj

    tf = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    lon, lat = tf.transform(net.node_xy[:, 0], net.node_xy[:, 1])
    return (round(float(np.min(lon)), 6), round(float(np.max(lon)), 6)), (
        round(float(np.min(lat)), 6), round(float(np.max(lat)), 6))


