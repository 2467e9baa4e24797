"""The assessment's result: its settings and tables, text and notebook views, JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

#: The two precinct scenarios every table reports: working precincts only, and working plus
#: planned ones.
SCENARIOS: tuple[str, str] = ("open", "open+planned")

_UNASSIGNED = "(no precinct reachable)"
_OUTSIDE = "(outside districts)"


@dataclass(frozen=True)
class AssessmentSettings:
    """The settings an assessment used; shown with every output."""

    walk_speed_kmh: float
    thresholds_min: tuple[float, ...]
    thresholds_m: tuple[float, ...]
    threshold_labels: tuple[str, ...]
    main_threshold_min: float
    main_threshold_m: float
    residents_per_inspector: float
    max_snap_m: float
    cells: str
    h3_resolution: int | None
    grid_size_m: float | None


@dataclass(frozen=True)
class Assessment:
    """The result of :func:`assess`: plain tables a notebook shows and the CLI writes.

    Attributes
    ----------
    settings
        Walking speed, thresholds, main threshold, staffing norm and cell size used.
    coverage
        One row per threshold: ``threshold`` (label), ``threshold_min``, ``threshold_m``,
        ``residents``, ``covered_open``, ``share_open``, ``covered_with_planned``,
        ``share_with_planned``, ``added`` (residents the planned precincts add) and
        ``added_share``.
    districts
        One row per district (plus ``(outside districts)`` when residents fall outside all of
        them): ``district``, ``residents``, ``share_<t>_open`` and ``share_<t>_with_planned``
        per threshold, ``open``/``planned``/``candidate`` precinct counts, and
        ``inspectors_needed`` by the norm. ``None`` without district polygons.
    catchments
        One row per scenario and precinct: ``scenario`` (``open`` or ``open+planned``),
        ``precinct``, ``name``, ``status``, ``residents_served``, ``within_<t>`` per threshold,
        ``median_walk_m``, ``p90_walk_m`` (population-weighted), ``inspectors_needed``
        (``ceil(residents_served / norm)``). Residents no precinct can be reached from are a
        row ``(no precinct reachable)``, so the column sums to all residents.
    opening_order
        The planned precincts, greedy order at the main threshold: ``step``, ``precinct``,
        ``name``, ``gain`` (newly covered residents at that step), ``cumulative_covered``,
        ``cumulative_share``, ``gain_alone`` (residents it adds to the open precincts on its
        own, at the main threshold) and ``gain_alone_<t>`` at every threshold.
    uncovered_areas
        Contiguous areas of residents beyond the main threshold from every open precinct, each
        no wider than one precinct's reach, ranked by population (EPSG:4326 polygons):
        ``area``, ``rank``, ``population``, ``cells``, ``seed_cell``, ``covered_by_planned``,
        ``centroid_lon``, ``centroid_lat`` (population-weighted), ``district`` (where most of
        its residents live), ``walk_to_open_m`` (from the centroid, which can lie in covered
        streets), ``nearest_open`` (the centroid's) and ``median_walk_m`` (population-weighted
        median walk of the area's residents to their nearest open precinct; beyond the main
        threshold, ``inf`` when most cannot reach one).

        The rule (greedy seeded regions): the uncovered cells are scored by the residents of
        their *reach*, the uncovered cells whose centres lie within the main threshold's
        distance (straight line) of the cell's centre and that connect to it through
        neighbouring cells inside that disk. The cell with the most such residents (ties: the
        smallest cell id) seeds area ``U1``, which takes its reach; the remaining cells are
        scored again, the next seed takes its reach among them, and so on until every
        uncovered cell belongs to an area (isolated remnants become small areas of their
        own). So every area is contiguous, lies within one walking threshold (straight line,
        centre to centre) of its seed cell, and the areas partition the uncovered residents.
        The seed cell is where to start looking for a new precinct (straight-line reach is an
        upper bound of the walk; the siting module gives walking answers).
    uncovered_cells
        The cells of those areas for a choropleth: ``cell``, ``area``, ``population``,
        ``covered_by_planned``, polygon geometry in EPSG:4326.
    demand
        Per demand point (aligned with the input): ``population``, ``walk_open_m``,
        ``nearest_open``, ``walk_with_planned_m``, ``nearest_with_planned``, ``district``.
    residents
        Total population of the demand points.
    unreachable_residents
        Residents farther than ``max_snap_m`` from every street.
    precinct_counts
        Number of precincts by status.
    notes
        Things the planner should know (unreachable precincts, co-located precincts, ...).
    uncertainty
        The figures across population methods and staffing norms
        (:func:`walkshed.assessment.uncertainty.compare`), when a run compared them.
    """

    settings: AssessmentSettings
    coverage: pd.DataFrame
    districts: pd.DataFrame | None
    catchments: pd.DataFrame
    opening_order: pd.DataFrame
    uncovered_areas: gpd.GeoDataFrame
    uncovered_cells: gpd.GeoDataFrame
    demand: pd.DataFrame
    residents: float
    unreachable_residents: float
    precinct_counts: dict[str, int]
    notes: tuple[str, ...] = field(default=())
    uncertainty: dict[str, Any] | None = None

    def summary(self) -> str:
        """A short text report: settings, coverage, opening order, largest gaps."""
        s = self.settings
        lines = [
            f"Walking coverage at {s.walk_speed_kmh:g} km/h; thresholds "
            + ", ".join(
                f"{lab} ({m:,.0f} m)" if lab.endswith("min") else lab
                for lab, m in zip(s.threshold_labels, s.thresholds_m, strict=True)
            )
            + f"; staffing norm {s.residents_per_inspector:,.0f} residents per inspector.",
            f"Residents: {self.residents:,.0f} ({self.unreachable_residents:,.0f} farther than "
            f"{s.max_snap_m:g} m from any street). Precincts: "
            + ", ".join(f"{n} {k}" for k, n in self.precinct_counts.items())
            + ".",
            "",
            f"{'threshold':>10} {'open':>22} {'open+planned':>22} {'added':>12}",
        ]
        for row in self.coverage.itertuples():
            lines.append(
                f"{row.threshold:>10} {row.covered_open:>13,.0f} ({row.share_open:6.1%})"
                f" {row.covered_with_planned:>13,.0f} ({row.share_with_planned:6.1%})"
                f" {row.added:>12,.0f}"
            )
        main = _label_for(s, s.main_threshold_m)
        if len(self.opening_order):
            lines += ["", f"Opening order of the planned precincts ({main}):"]
            for row in self.opening_order.head(10).itertuples():
                name, pid = str(row.name), str(row.precinct)
                who = name if pid in name else f"{name} ({pid})"
                lines.append(
                    f"{row.step:>4}. {who}: +{row.gain:,.0f} residents, "
                    f"{row.cumulative_share:.1%} covered"
                )
        today = self.catchments[
            (self.catchments["scenario"] == "open") & self.catchments["precinct"].ne(_UNASSIGNED)
        ]
        if len(today):
            need = int(today["inspectors_needed"].sum())
            lines += [
                "",
                f"Catchments today: {len(today)} open precinct(s) serve "
                f"{today['residents_served'].sum():,.0f} residents; {need:,} district "
                f"inspector(s) needed by the norm.",
            ]
        if len(self.uncovered_areas):
            lines += [
                "",
                f"Largest uncovered areas (beyond {main} of an open precinct): "
                f"{len(self.uncovered_areas):,} area(s), "
                f"{self.uncovered_areas['population'].sum():,.0f} residents.",
                f"Each area is one precinct's reach: the uncovered cells within "
                f"{s.main_threshold_m:,.0f} m (straight line) of its seed cell,",
                "joined through neighbouring cells; the seed reaching the most residents is "
                "taken first.",
            ]
            for row in self.uncovered_areas.head(5).itertuples():
                where = f" in {row.district}" if isinstance(row.district, str) else ""
                walk = (
                    f", median walk {row.median_walk_m:,.0f} m to an open precinct"
                    if math.isfinite(row.median_walk_m)
                    else ", no open precinct reachable"
                )
                lines.append(
                    f"{row.rank:>4}. {row.area}: {row.population:,.0f} residents{where} "
                    f"({row.centroid_lat:.5f}, {row.centroid_lon:.5f}){walk}"
                )
        if self.notes:
            lines += ["", "Notes:"] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:  # notebooks: the text, then the two headline tables
        import html

        parts = [f"<pre>{html.escape(self.summary())}</pre>", "<h4>Coverage</h4>",
                 self.coverage.to_html(index=False, float_format=lambda v: f"{v:,.3f}")]
        if len(self.opening_order):
            parts += ["<h4>Opening order</h4>",
                      self.opening_order.to_html(index=False,
                                                 float_format=lambda v: f"{v:,.3f}")]
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready plain values (``summary.json``); geometries left out."""
        areas = pd.DataFrame(self.uncovered_areas.drop(columns="geometry"))
        return {
            "settings": _jsonable(asdict(self.settings)),
            "residents": _jsonable(self.residents),
            "unreachable_residents": _jsonable(self.unreachable_residents),
            "precinct_counts": dict(self.precinct_counts),
            "coverage": _records(self.coverage),
            "districts": None if self.districts is None else _records(self.districts),
            "catchments": _records(self.catchments),
            "opening_order": _records(self.opening_order),
            "uncovered_areas": _records(areas),
            "notes": list(self.notes),
            "uncertainty": _jsonable(self.uncertainty),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is None:
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(r) for r in frame.to_dict(orient="records")]



def _label_for(s: AssessmentSettings, metres: float) -> str:
    i = int(np.argmin(np.abs(np.asarray(s.thresholds_m) - metres)))
    return s.threshold_labels[i]


