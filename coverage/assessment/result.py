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
        ``inspectors_needed``, ``inspectors_on_staff``, ``inspectors_gap``: the sums of the
        figures of the open precincts standing in the district. ``None`` without districts.
    catchments
        One row per scenario and precinct: ``scenario`` (``open`` or ``open+planned``),
        ``precinct``, ``name``, ``status``, ``residents_served``, ``within_<t>`` per threshold,
        ``median_walk_m``, ``p90_walk_m`` (population-weighted), ``served_on_foot`` (median
        walk within the largest threshold), ``inspectors_needed`` (``ceil(residents_served /
        norm)``; blank when not served on foot), ``inspectors_on_staff`` (the precinct
        file's ``inspectors``), ``inspectors_gap`` (needed - on staff), and ``kind`` when the
        precincts have one (:mod:`walkshed.assessment.staffing` states the rule). Residents
        no precinct can be reached from are a row ``(no precinct reachable)``, so the column
        sums to all residents.
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

    def summary(self, lang: str | None = None,
                place_names: dict[str, str] | None = None) -> str:
        """A short text report: settings, coverage, opening order, largest gaps.

        Parameters
        ----------
        lang
            ``en``, ``ru`` or ``kk``; default :func:`walkshed.i18n.current_language`.
        place_names
            District names in that language, keyed by the names in the data.
        """
        from ..i18n import translator

        t = translator(lang)
        _, _n, num, pct = t.gettext, t.ngettext, t.number, t.percent
        s = self.settings

        def label(lab: str) -> str:  # "10min" -> "10 min" / "10 мин"; "750m" -> "750 m"
            if lab.endswith("min"):
                return _("{n} min").format(n=lab[:-3])
            return _("{n} m").format(n=lab[:-1]) if lab.endswith("m") else lab

        counts = {k: _n("{n} open", "{n} open", n) if k == "open" else
                  _n("{n} planned", "{n} planned", n) if k == "planned" else
                  _n("{n} candidate", "{n} candidate", n) if k == "candidate" else f"{{n}} {k}"
                  for k, n in self.precinct_counts.items()}
        lines = [
            _("Walking coverage at {speed} km/h; thresholds {thresholds}; staffing norm "
              "{norm} residents per inspector.").format(
                speed=num(s.walk_speed_kmh, _decimals(s.walk_speed_kmh)),
                thresholds=", ".join(
                    label(lab) + " (" + _("{n} m").format(n=num(m)) + ")" if lab.endswith("min")
                    else label(lab)
                    for lab, m in zip(s.threshold_labels, s.thresholds_m, strict=True)),
                norm=num(s.residents_per_inspector)),
            _("Residents: {residents} ({unreachable} farther than {snap} m from any street). "
              "Precincts: {counts}.").format(
                residents=num(self.residents), unreachable=num(self.unreachable_residents),
                snap=num(s.max_snap_m, _decimals(s.max_snap_m)),
                counts=", ".join(counts[k].format(n=n)
                                 for k, n in self.precinct_counts.items())),
            "",
        ]
        head = [_("threshold"), _("open"), _("open+planned"), _("added")]
        rows = [[label(str(row.threshold)),
                 f"{num(row.covered_open)} ({pct(row.share_open):>6})",
                 f"{num(row.covered_with_planned)} ({pct(row.share_with_planned):>6})",
                 num(row.added)] for row in self.coverage.itertuples()]
        widths = [max([10, 22, 22, 12][i], *(len(r[i]) for r in [head, *rows]))
                  for i in range(4)]
        lines += [" ".join(c.rjust(w) for c, w in zip(r, widths, strict=True))
                  for r in [head, *rows]]
        main = label(_label_for(s, s.main_threshold_m))
        if len(self.opening_order):
            lines += ["", _("Opening order of the planned precincts ({main}):").format(
                main=main)]
            for row in self.opening_order.head(10).itertuples():
                name, pid = str(row.name), str(row.precinct)
                who = name if pid in name else f"{name} ({pid})"
                lines.append(
                    f"{row.step:>4}. {who}: "
                    + _n("+{n} resident, {share} covered", "+{n} residents, {share} covered",
                         row.gain).format(n=num(row.gain), share=pct(row.cumulative_share))
                )
        today = self.catchments[
            (self.catchments["scenario"] == "open") & self.catchments["precinct"].ne(_UNASSIGNED)
        ]
        if len(today):
            need = int(today["inspectors_needed"].sum())
            lines += [
                "",
                _n("Catchments today: {n} open precinct serves {residents} residents;",
                   "Catchments today: {n} open precincts serve {residents} residents;",
                   len(today)).format(n=num(len(today)),
                                      residents=num(today["residents_served"].sum()))
                + " " + _n("{n} district inspector needed by the norm.",
                           "{n} district inspectors needed by the norm.", need).format(
                    n=num(need)),
            ]
        if len(self.uncovered_areas):
            lines += [
                "",
                _("Largest uncovered areas (beyond {main} of an open precinct): {areas}, "
                  "{residents} residents.").format(
                    main=main,
                    areas=_n("{n} area", "{n} areas", len(self.uncovered_areas)).format(
                        n=num(len(self.uncovered_areas))),
                    residents=num(self.uncovered_areas["population"].sum())),
                _("Each area is one precinct's reach: the uncovered cells within {m} m "
                  "(straight line) of its seed cell,").format(m=num(s.main_threshold_m)),
                _("joined through neighbouring cells; the seed reaching the most residents is "
                  "taken first."),
            ]
            for row in self.uncovered_areas.head(5).itertuples():
                where = (" " + _("in {district}").format(
                    district=(place_names or {}).get(row.district, row.district))
                         if isinstance(row.district, str) else "")
                walk = (
                    _(", median walk {m} m to an open precinct").format(
                        m=num(row.median_walk_m))
                    if math.isfinite(row.median_walk_m)
                    else _(", no open precinct reachable")
                )
                lines.append(
                    f"{row.rank:>4}. {row.area}: "
                    + _n("{n} resident", "{n} residents", row.population).format(
                        n=num(row.population))
                    + f"{where} ({row.centroid_lat:.5f}, {row.centroid_lon:.5f}){walk}"
                )
        if self.notes:
            lines += ["", _("Notes:")] + [f"- {t.say(n)}" for n in self.notes]
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


def _decimals(x: float) -> int:
    """Decimals needed to show ``x`` as typed (4.5 -> 1, 500.0 -> 0)."""
    return next((d for d in range(4) if abs(round(x, d) - x) < 1e-9), 4)


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


