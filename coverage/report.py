"""The text report a run prints: coverage, opening order, uncovered areas, sites, the data.

Pure functions from a run's results to text; the CLI prints them, a notebook may too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .network import WalkNetwork

__all__ = ["inspect_text", "lonlat_bounds", "run_report", "uncertainty_lines"]


def run_report(result: Any) -> str:
    """The report of a run (:class:`walkshed.pipeline.RunResult`) as plain text.

    Parameters
    ----------
    result
        What :func:`walkshed.pipeline.run_study` returned.

    Returns
    -------
    str
        The study's title, the assessment's summary, the proposed sites, notes about the data,
        the attribution and the files written.
    """
    summary = result.summary
    lines = [summary["study"], ""]
    if result.assessment is not None:
        lines.append(result.assessment.summary())
        lines += uncertainty_lines(getattr(result.assessment, "uncertainty", None))
    methods = summary.get("population_methods")
    if isinstance(methods, pd.DataFrame) and len(methods):
        lines += ["", "How residents were placed, per zone (method: reason):"]
        lines += [f"- {r['zone']}: {r.get('population_out', 0):,.0f} by {r['method']}: "
                  f"{r['reason']}" for r in methods.to_dict(orient="records")]
    sites = summary.get("proposed_sites")
    if sites:
        # the target as typed (0.995 is "99.5%", not "100%"); an unreachable one said at once
        what = (f"best {sites['p']}" if sites["p"] is not None
                else f"fewest for {sites['target_share'] * 100:g}%")
        if sites.get("target_met") is False:
            what += ", NOT reachable"
        # with a target, show enough digits that "90.0%" is not read as reaching 90 %
        pct = ".1%" if sites["p"] is not None else ".2%"
        how = str(sites["status"])
        if not how.startswith(str(sites["method"])):
            how = f"{sites['method']}, {how}"
        lines += [
            "",
            f"Proposed new sites ({what}, within {sites['threshold_min']:g} min, {how}; "
            f"{str(sites['fixed']).replace('+', ' + ')} precincts kept): "
            f"covered {sites['covered_share_before']:{pct}} -> "
            f"{sites['covered_share_after']:{pct}}",
        ]
        lines += [f"  note: {n}" for n in sites["notes"]]  # before a list that may be long
        for row in sites["sites"].to_dict(orient="records"):
            where = f", {row['district']}" if isinstance(row.get("district"), str) else ""
            lines.append(
                f"{row['rank']:>4}. {row['site']} ({row['lat']:.5f}, {row['lon']:.5f}{where}): "
                f"+{row['newly_covered']:,.0f} residents, "
                f"{row['cumulative_share']:{pct}} covered"
            )
    shown = set(getattr(result.assessment, "notes", ()))
    extra = [n for n in summary.get("notes", []) if n not in shown]
    src = summary.get("population_sources")
    if isinstance(src, pd.DataFrame) and 1 < len(src) <= 12:
        extra.append("Residents placed: " + "; ".join(
            f"{r.zone} {r.residents:,.0f} by {r.method}" for r in src.itertuples()))
    if extra:
        lines += ["", "About the data:"] + [f"- {n}" for n in extra]
    lines += ["", f"Data: {summary['attribution']}",
              f"Wrote {', '.join(summary['outputs'])} to {result.folder}/"]
    return "\n".join(lines)


def uncertainty_lines(unc: dict[str, Any] | None) -> list[str]:
    """The report's lines on the figures across population methods and staffing norms
    (:func:`walkshed.assessment.uncertainty.compare`); none when not compared."""
    if not unc:
        return []
    lines: list[str] = []
    share = unc.get("share_open")
    if share and len(unc["methods"]) > 1:
        lines += ["", f"Covered within {unc['threshold']} of an open precinct, by how residents "
                  f"are placed: {share['text']}"]
        for m in unc["methods"]:
            mark = " (this run)" if m["method"] == unc.get("scenario_method") else ""
            lines.append(f"  {m['method']:<32} {m['share_open']:6.1%} open, "
                         f"{m['share_with_planned']:6.1%} with planned{mark}")
        for m in unc.get("not_applicable", []):
            lines.append(f"  {m['method']:<32} not applicable: {m['reason']}")
    lines += ["", f"District inspectors needed today: {unc['norms_text']}:"]
    lines += ["  " + ", ".join(
        f"{r['inspectors_needed']:,} at {r['residents_per_inspector']:,.0f}"
        + (" (this run)" if r["used"] else "") for r in unc["norms"])]
    return lines


def inspect_text(file_name: str, info: dict[str, Any]) -> str:
    """What ``walkshed inspect`` prints about an extract (``info`` as it builds it)."""
    e = info["extent_lonlat"]
    return (
        f"{file_name}: {info['walkable_street_km']:,.1f} km of walkable street "
        f"({info['nodes']:,} nodes, {info['edges']:,} edges; {info['dropped']})\n"
        f"  buildings: {info['buildings']:,} ({info['residential_buildings']:,} residential "
        f"by type, {info.get('plain_yes_buildings', 0):,} plain building=yes of unknown use)\n"
        f"  police points (amenity=police): {info['police_points']}\n"
        f"  extent: lon {e['west']:.5f} to {e['east']:.5f}, lat {e['south']:.5f} to "
        f"{e['north']:.5f}\n"
        f"  CRS used for distances: {info['crs']}"
    )


def lonlat_bounds(net: WalkNetwork) -> tuple[tuple[float, float], tuple[float, float]]:
    """Longitude and latitude ranges of the network's nodes, rounded to 1e-6 degrees."""
    import pyproj

    tf = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    lon, lat = tf.transform(net.node_xy[:, 0], net.node_xy[:, 1])
    return (round(float(np.min(lon)), 6), round(float(np.max(lon)), 6)), (
        round(float(np.min(lat)), 6), round(float(np.max(lat)), 6))


