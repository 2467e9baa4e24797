"""The ``walkshed`` command: demo, analyze, rank, map and inspect.

Argument parsing and printing only: the job itself is :mod:`walkshed.pipeline`, the text it
prints is :mod:`walkshed.report`.

Exit codes: 0 success, 2 bad input (one line on stderr naming the input, the problem and the
fix; also usage errors, missing or unreadable files and output folders that cannot be
written), 1 internal failure (a traceback only with ``--debug``), 130 when interrupted (Ctrl-C,
SIGINT), 143 when terminated (SIGTERM). Every output of a run is staged and moved into the
output folder only when the run succeeds (:class:`walkshed.io.OutputDir`), so a failed or
interrupted run leaves no partial outputs and no folder it created.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import errno
import functools
import json
import logging
import os
import shlex
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer._click import exceptions as click_exc  # typer carries its own click
from typer.core import TyperGroup

from ._errors import InputError
from ._logs import logging_to_stderr as _logging_to_stderr
from .i18n import current_language, set_language, translator

if TYPE_CHECKING:  # pragma: no cover - imported on first use (--help stays quick)
    from .pipeline import Reporter, RunResult, Study, load_study, run_study

__all__ = ["Options", "Reporter", "RunResult", "Study", "app", "load_study", "run_study"]

#: Names of :mod:`walkshed.pipeline` this module offers, imported when first asked for: the
#: pipeline pulls in geopandas, which ``walkshed --help`` and usage errors do not need.
_FROM_PIPELINE = frozenset({"Reporter", "RunResult", "Study", "load_study", "run_study"})


def __getattr__(name: str) -> Any:
    if name in _FROM_PIPELINE:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'walkshed.cli' has no attribute {name!r}")

log = logging.getLogger(__name__)

class _OneLineErrors(TyperGroup):
    """Click's usage errors (unknown option, missing argument, bad value) as one line on
    stderr and exit 2, in the style of every other bad input."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
        except click_exc.NoArgsIsHelpError as exc:
            exc.show()
            code: int | None = exc.exit_code
        except click_exc.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "walkshed"
            text = _one_line_text(exc.format_message()).rstrip(".")
            typer.echo(f"walkshed: {text}. See '{where} --help'.", err=True)
            code = 2
        except click_exc.ClickException as exc:
            typer.echo(f"walkshed: {_one_line_text(exc.format_message())}", err=True)
            code = exc.exit_code
        except typer.Abort:
            typer.echo("walkshed: interrupted; no outputs were written", err=True)
            code = 130
        else:
            if not standalone_mode:
                return rv
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=_OneLineErrors,
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
    lang: str | None = None

    def merge(self, **kw: Any) -> Options:
        """These options OR'ed with the ones given to a command (its ``lang`` wins)."""
        return Options(**{k: getattr(self, k) or bool(kw.get(k, False)) for k in
                          ("quiet", "json", "debug", "no_cache")},
                       lang=kw.get("lang") or self.lang)


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no report.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of failures.")]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the cache (network, residents, "
                       "assessment, walking areas, siting answers).")
]
LangOpt = Annotated[
    str | None,
    typer.Option("--lang", help="Language of the report and the PDF: en, ru or kk [default: "
                 "the scenario's lang, else your locale's, else en]."),
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
    lang: LangOpt = None,
) -> None:
    """Who lives within walking distance of a police precinct, and where new ones should go."""
    ctx.obj = Options(quiet=quiet, json=json_, debug=debug, no_cache=no_cache, lang=lang)


def _options(ctx: typer.Context, **kw: Any) -> Options:
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
            lang=kwargs.get("lang"),
        )
        ctx.obj = opts
        _COMMAND.set(_command_words(ctx))
        with _logging_to_stderr(opts), _terminate_as_interrupt(), _warnings_to_debug(), (
                contextlib.nullcontext() if fn.__name__ in _LONG_RUNNING else _one_job_gc()):
            try:
                set_language(opts.lang)  # an unknown language is a usage error (exit 2)
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except InputError as exc:
                _fail(opts, 2, _one_line(exc))
            except Terminated:
                _fail(opts, 143, "terminated; no outputs were written")
            except KeyboardInterrupt:
                _fail(opts, 130, translator().gettext("interrupted; no outputs were written"))
            except OSError as exc:  # permissions, missing files: 2; disk full, no connection: 1
                code, message = _os_error(exc)
                _fail(opts, code, message)
            except Exception as exc:
                _fail(opts, 1, translator().gettext(
                    "internal error: {error} (run with --debug for the traceback; please "
                    "report it)").format(error=f"{type(exc).__name__}: {_one_line(exc)}"))

    return wrapper  # type: ignore[return-value]


#: Commands that keep running (a server) or run many jobs in one process (a batch): they keep
#: Python's cyclic garbage collector on.
_LONG_RUNNING = frozenset({"serve", "batch"})


@contextlib.contextmanager
def _one_job_gc() -> Iterator[None]:
    """Python's cyclic garbage collector off while one command runs (on again after it).

    A command loads a city and writes its outputs; what it builds lives until it ends, and
    reference counting frees the rest. The collector's passes over those millions of live
    objects (geometries, arrays of them, frames) found nothing to free and cost a sixth of a
    warm Almaty run's time (0.6 s of 4.6 s CPU); peak memory stayed the same (395 MB).
    """
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _fail(opts: Options, code: int, message: str) -> None:
    if opts.debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    typer.echo(f"walkshed: {message}", err=True)
    raise typer.Exit(code)


def _one_line_text(text: str) -> str:
    return " ".join(text.split())


def _one_line(exc: BaseException) -> str:
    return _one_line_text(str(exc)) or type(exc).__name__


#: What a user can do about a file the system refused, by errno.
_OS_FIXES: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("not found", "Check the path (relative paths in a scenario are read from "
                   "the scenario's folder)"),
    errno.EACCES: ("permission denied", "Make it readable and its folder writable for you "
                   "(chmod), or choose another file or --out"),
    errno.EPERM: ("operation not permitted", "Choose a file or --out folder you own"),
    errno.EISDIR: ("is a folder, not a file", "Give the path of a file"),
    errno.ENOTDIR: ("a part of the path is not a folder", "Check the path"),
    errno.EROFS: ("is on a read-only file system", "Choose another --out folder"),
    errno.ENAMETOOLONG: ("the name is too long", "Use a shorter path"),
    errno.ELOOP: ("too many symbolic links", "Check the path"),
}


def _os_error(exc: OSError) -> tuple[int, str]:
    """Exit code and one line for an error the operating system reported: 2 (with the file
    and the fix) when the user can act on it, else 1."""
    fix = _OS_FIXES.get(exc.errno or -1)
    name = exc.filename
    if fix is not None:
        what = f"'{os.fsdecode(name)}'" if name is not None else "a file"
        return 2, f"{what}: {fix[0]}. {fix[1]}."
    return 1, translator().gettext("{error} (no outputs were written)").format(
        error=_one_line(exc))


@contextlib.contextmanager
def _warnings_to_debug() -> Iterator[None]:
    """Libraries' warnings (GDAL, shapely, pandas) shown only with --debug, as one log line
    each: they speak the library's terms, and the user's input gets its own one-line message.
    Warnings that the filters turn into errors still raise."""
    saved = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        log.debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process gets SIGTERM, so that every ``with`` block
    (the output's staging folder above all) is unwound as for Ctrl-C."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _scenario_inputs(scenario: Path, scen: Any) -> list[Path]:
    """The scenario file and every file it names: a run never writes over them."""
    found = [scenario]

    def walk(obj: Any) -> None:
        if isinstance(obj, Path):
            found.append(obj)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for f in dataclasses.fields(obj):
                walk(getattr(obj, f.name))
        elif isinstance(obj, list | tuple):
            for item in obj:
                walk(item)

    walk(scen)
    return found


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
    lang: LangOpt = None,
) -> None:
    """Run the whole job on the embedded demo (central Helsinki; no arguments, no network)."""
    from .pipeline import Reporter, demo_study

    opts: Options = ctx.obj
    reporter = Reporter(opts)
    study = demo_study(cache=False if opts.no_cache else None, reporter=reporter)
    _run_and_report(study, out, reporter, opts, p=sites, offline=offline,
                    outputs=frozenset({"tables", "sites", "map", "report"}))


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


def _open_scenario(
    ctx: typer.Context, scenario: Path
) -> tuple[Options, Reporter, Study, Any]:
    """The options, progress display, study and scenario of a command given a scenario."""
    from .pipeline import Reporter, load_study

    opts: Options = ctx.obj
    reporter = Reporter(opts)
    study, scen = load_study(scenario, cache=False if opts.no_cache else None, background=True,
                             reporter=reporter)
    if opts.lang is None and scen.lang is not None:
        set_language(scen.lang)  # the scenario's language unless --lang says otherwise
    return opts, reporter, study, scen


def _out_folder(out: Path | None, scen: Any, scenario: Path) -> Path:
    """:func:`walkshed.pipeline.out_folder` (the pipeline imported on first use)."""
    from . import pipeline

    return pipeline.out_folder(out, scen, scenario)


def _run_and_report(
    study: Study, folder: Path, reporter: Reporter, opts: Options, *,
    inputs: list[Path] | None = None, **options: Any
) -> None:
    """Run the study into ``folder`` (staged, moved in place at the end; outputs of an
    earlier run that this one does not write are removed) and print the report; the files in
    ``inputs`` are never written over."""
    from .pipeline import run

    result = run(study, folder, reporter=reporter, command=_command_line(),
                 protect=inputs or (), lang=current_language(), **options)
    _print_report(result, opts)


def _run_scenario(scenario: Path, scen: Any, study: Study, reporter: Reporter, opts: Options,
                  out: Path | None, outputs: set[str], **options: Any) -> None:
    """:func:`_run_and_report` of a scenario's study into its output folder (``--out``, else
    the scenario's own), the scenario and every file it names protected."""
    _run_and_report(study, _out_folder(out, scen, scenario), reporter, opts,
                    inputs=_scenario_inputs(scenario, scen), outputs=frozenset(outputs),
                    **options)


def _complete_set(study: Study) -> set[str]:
    """Tables, sites, report and map (unless the scenario turns the map off): a folder whose
    files all come from one run."""
    return {"tables", "sites", "report"} | ({"map"} if study.make_map else set())


#: The running command with its arguments (set by :func:`_handled`), for ``summary.json``.
_COMMAND: contextvars.ContextVar[str] = contextvars.ContextVar("walkshed_command",
                                                              default="walkshed")


def _command_line() -> str:
    """The running command with its arguments, for ``summary.json`` (``run.command``)."""
    return _COMMAND.get()


def _command_words(ctx: typer.Context) -> str:
    words = ["walkshed", str(ctx.info_name)]
    for name, value in ctx.params.items():
        if value is None or value is False:
            continue
        flag = "--" + name.rstrip("_").replace("_", "-")
        if name in ("scenario", "file", "batch"):
            words.append(str(value))
        elif value is True:
            words.append(flag)
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _print_report(result: RunResult, opts: Options) -> None:
    if opts.json:
        from .io import to_jsonable

        typer.echo(json.dumps(to_jsonable(result.summary), indent=2, ensure_ascii=False))
    elif not opts.quiet:
        from .report import run_report

        typer.echo(run_report(result, lang=current_language()))


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
    lang: LangOpt = None,
) -> None:
    """The whole assessment of a scenario: tables, uncovered areas, map (and proposed sites
    when the scenario's [siting] asks for them)."""
    opts, reporter, study, scen = _open_scenario(ctx, scenario)
    _run_scenario(scenario, scen, study, reporter, opts, out, _complete_set(study),
                  p=scen.siting.new_sites, target_share=scen.siting.target_share,
                  method=scen.siting.method, offline=offline)


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
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
    lang: LangOpt = None,
) -> None:
    """Propose new precinct sites, ranked: the best -p N, or the fewest for --target-share."""
    from .pipeline import check_siting_args

    check_siting_args(sites, target_share, method)
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
    # a complete set, so the folder never mixes two runs
    _run_scenario(scenario, scen, study, reporter, opts, out, _complete_set(study), p=sites,
                  target_share=target_share, method=method, offline=offline)


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
    lang: LangOpt = None,
) -> None:
    """The coverage map of a scenario with the assessment's tables (no proposed sites)."""
    opts, reporter, study, scen = _open_scenario(ctx, scenario)
    # the tables too, so the folder's files all come from this run
    _run_scenario(scenario, scen, study, reporter, opts, out, {"tables", "map"},
                  offline=offline)


@app.command()
@_handled
def report(
    ctx: typer.Context,
    scenario: ScenarioArg,
    out: OutOptional = None,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
    lang: LangOpt = None,
) -> None:
    """The printable report of a scenario alone (report.pdf: map, tables, caveats; A4)."""
    opts, reporter, study, scen = _open_scenario(ctx, scenario)
    _run_scenario(scenario, scen, study, reporter, opts, out, {"report"},
                  p=scen.siting.new_sites, target_share=scen.siting.target_share,
                  method=scen.siting.method)


@app.command()
@_handled
def inspect(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An OpenStreetMap extract (.osm.pbf, .osm).")],
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
    lang: LangOpt = None,
) -> None:
    """What is in an extract: walkable streets, buildings, police points, extent."""
    from .io import to_jsonable
    from .pipeline import Reporter, inspect_extract
    from .report import inspect_text

    opts: Options = ctx.obj
    info = inspect_extract(file, cache=False if opts.no_cache else None,
                           reporter=Reporter(opts))
    if opts.json:
        typer.echo(json.dumps(to_jsonable(info), indent=2, ensure_ascii=False))
        return
    if opts.quiet:
        return
    typer.echo(inspect_text(file.name, info, lang=current_language()))


@app.command()
@_handled
def serve(
    ctx: typer.Context,
    scenario: ScenarioArg,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; any other than "
                                      "127.0.0.1 needs --token.")] = "127.0.0.1",
    token: Annotated[str | None, typer.Option("--token", help="Secret every request must "
                                              "carry (required with --host).")] = None,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
    no_cache: NoCacheOpt = False,
    lang: LangOpt = None,
) -> None:
    """The live what-if page: add, move, close precincts and see the coverage change at once."""
    from .serve.server import serve as run_server

    opts: Options = ctx.obj
    run_server(scenario, host=host, port=port, token=token,
               cache=False if opts.no_cache else None)


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
    lang: LangOpt = None,
) -> None:
    """Many cities, one Dask task each: every city's outputs, national tables and index map."""
    from .batch.command import batch_command

    code = batch_command(ctx.obj, config, scheduler=scheduler, workers=workers, out=out,
                         offline=offline)
    if code:
        raise typer.Exit(code)


def main() -> None:
    """Entry point of the ``walkshed`` command and of ``python -m walkshed.cli``.

    Runs the command, then ends the process at once with its exit code: by then every output
    is in place (moved from staging), the ``atexit`` handlers have run and stdout and stderr
    are flushed, and what is left -- freeing a city's arrays and geometries object by object,
    about half a second on Almaty -- writes nothing. (``app`` itself, which tests and other
    programs call in their own process, returns normally.)
    """
    import atexit

    try:
        app()
        code = 0
    except SystemExit as exc:
        if not (exc.code is None or isinstance(exc.code, int)):
            raise  # a message to print: let Python do it
        code = exc.code or 0
    from ._background import flush_streams

    atexit._run_exitfuncs()
    flush_streams()
    os._exit(code)


if __name__ == "__main__":
    main()
