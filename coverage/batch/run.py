"""Running a batch: one task per city on Dask distributed, or a plain loop.

A task gets the batch settings, its city entry (paths and numbers) and the output folder,
nothing large: the worker clips its own extract, loads its own network (through the on-disk
network cache) and writes the city's outputs atomically into ``<out>/<city>/``, as
``walkshed analyze`` writes them, plus the scenario it ran (``scenario.toml``). A city whose
folder already holds a ``summary.json`` with the same input hash is skipped; a city that fails
is reported with its one-line error and the others go on. The queue is shuffled (seeded) so
that large cities spread over the workers instead of arriving together.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import shapely

from .. import settings
from .._errors import InputError
from ..io import OutputDir
from .config import BatchConfig, CityEntry, _folder_name, input_hash, scenario_text

__all__ = ["BatchResult", "CityOutcome", "open_client", "run_batch", "run_city"]

log = logging.getLogger(__name__)


@dataclass
class CityOutcome:
    """What happened to one city.

    Attributes
    ----------
    name, folder
        The city and its output folder.
    status
        ``done``, ``skipped`` (finished before with the same inputs) or ``failed``.
    error
        The one-line error of a failed city.
    input_error
        Whether the failure is a bad input (else an internal error or a lost worker).
    seconds
        Time the task took.
    peak_rss_mb
        Peak resident memory of the process that ran it (a Dask worker's peak so far).
    nodes
        Street nodes of the city's network.
    """

    name: str
    folder: Path
    status: str
    error: str | None = None
    input_error: bool = False
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    nodes: int | None = None


@dataclass
class BatchResult:
    """The outcomes of a batch and where its national outputs are."""

    config: BatchConfig
    folder: Path
    outcomes: list[CityOutcome] = field(default_factory=list)
    national: Any = None
    totals: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[CityOutcome]:
        """The cities that failed."""
        return [o for o in self.outcomes if o.status == "failed"]


# ---------------------------------------------------------------------------------------------
# one city (runs on a worker)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def finished_hash(folder: Path) -> str | None:
    """The input hash of a finished city folder (its ``summary.json``), or None."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    batch = summary.get("batch") if isinstance(summary, dict) else None
    return batch.get("input_hash") if isinstance(batch, dict) else None


def _city_extract(config: BatchConfig, city: CityEntry, out_root: Path, h: str,
                  clip_tool: str) -> tuple[Path, shapely.Geometry | None]:
    """The extract the city's streets are read from (clipped once, then reused) and its area."""
    from .clip import area_geometry, clip_extract

    if city.area is None:
        return city.extract, None
    geom = area_geometry(city.area, city.extract)
    dest = out_root / "_extracts" / f"{city.folder}-{h[:12]}.osm.pbf"
    if not dest.is_file():
        clip_extract(city.extract, dest, geom, tool=clip_tool)  # type: ignore[arg-type]
    return dest, geom


def _outline(geom: shapely.Geometry | None, network: Any) -> dict[str, Any]:
    """The city's outline for the index map (GeoJSON, EPSG:4326, about 50 m detail)."""
    import pyproj

    if geom is None:
        tf = pyproj.Transformer.from_crs(network.crs, 4326, always_xy=True)
        lon, lat = tf.transform(network.node_xy[:, 0], network.node_xy[:, 1])
        geom = shapely.convex_hull(shapely.multipoints(list(zip(lon, lat, strict=True))))
    geom = shapely.simplify(geom, 0.0005)
    return json.loads(shapely.to_geojson(shapely.set_precision(geom, 1e-6)))


def run_city(
    config: BatchConfig,
    city: CityEntry,
    out_root: str | Path,
    *,
    cache_dir: str | None = None,
    use_cache: bool | None = None,
    offline: bool = False,
    clip_tool: str = "auto",
) -> CityOutcome:
    """Analyse one city into ``out_root/<city.folder>`` (the task a worker runs).

    Parameters
    ----------
    config
        The batch settings (its city list is not needed).
    city
        The city.
    out_root
        The batch's output folder.
    cache_dir, use_cache
        The network cache of the process that runs it; default :mod:`walkshed.settings`.
    offline
        Self-contained city maps.
    clip_tool
        How to clip a national extract (:func:`walkshed.batch.clip.clip_extract`).

    Returns
    -------
    CityOutcome
        Never raises for a bad input or a failed analysis: the error is in the outcome.
    """
    from ._single import Reporter, load_study, remove_stale_outputs, run_study

    t0 = time.perf_counter()
    root = Path(out_root)
    folder = root / city.folder
    if cache_dir is not None:
        settings.cache_dir = Path(cache_dir)
    h = input_hash(config, city)
    if finished_hash(folder) == h:
        return CityOutcome(city.name, folder, "skipped", seconds=time.perf_counter() - t0,
                           peak_rss_mb=_peak_rss_mb())
    try:
        extract, geom = _city_extract(config, city, root, h, clip_tool)
        with OutputDir(folder) as out:
            scen_path = out.path("scenario.toml")
            scen_path.write_text(scenario_text(config, city, extract), encoding="utf-8")
            reporter = Reporter(None)  # quiet
            study, scen = load_study(scen_path, cache=use_cache, reporter=reporter)
            outputs = {"tables", "sites"} | ({"map"} if study.make_map else set())
            result = run_study(study, out, reporter, outputs=frozenset(outputs),
                               p=scen.siting.new_sites, target_share=scen.siting.target_share,
                               method=scen.siting.method, offline=offline,
                               command=f"walkshed batch {config.name} ({city.name})")
            summary = result.summary
            summary["batch"] = {
                "batch": config.name,
                "city": city.name,
                "input_hash": h,
                "inspectors_on_staff": city.inspectors,
                "area": None if city.area is None else city.area.kind,
                "outline": _outline(geom, study.network),
            }
            out.write_json(summary, "summary.json")
        remove_stale_outputs(folder, summary["outputs"])
        return CityOutcome(city.name, folder, "done", seconds=time.perf_counter() - t0,
                           peak_rss_mb=_peak_rss_mb(), nodes=study.network.n_nodes)
    except InputError as exc:
        return CityOutcome(city.name, folder, "failed", error=_one_line(exc), input_error=True,
                           seconds=time.perf_counter() - t0, peak_rss_mb=_peak_rss_mb())
    except Exception as exc:  # one city's bug must not stop the country
        log.debug("city %s failed", city.name, exc_info=True)
        return CityOutcome(city.name, folder, "failed",
                           error=f"internal error: {type(exc).__name__}: {_one_line(exc)}",
                           seconds=time.perf_counter() - t0, peak_rss_mb=_peak_rss_mb())


# ---------------------------------------------------------------------------------------------
# the cluster


@contextlib.contextmanager
def open_client(scheduler: str | None = None, *, workers: int | None = None,
                memory_limit: str | float = "auto") -> Iterator[Any]:
    """A Dask client: of the running cluster at ``scheduler``, else of a new LocalCluster.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); None starts a LocalCluster.
    workers
        LocalCluster worker processes (one thread each); default the machine's cores.
    memory_limit
        Per worker (``"4GB"``, bytes, or ``"auto"``: the machine's memory shared out). A worker
        over it is restarted by its nanny and its city rerun elsewhere, so one huge city cannot
        starve the rest.

    Yields
    ------
    distributed.Client
    """
    import os

    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            from .._errors import input_error

            raise input_error(f"--scheduler {scheduler}", f"cannot connect ({_one_line(exc)})",
                              "Start the scheduler (dask scheduler) or check the address"
                              ) from exc
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      memory_limit=memory_limit, dashboard_address=":0",
                      # our outcomes report the cities; the cluster's own chatter (a worker's
                      # last heartbeat at shutdown) is not the planner's business
                      silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        yield client


def _queue(config: BatchConfig, seed: int) -> list[CityEntry]:
    """The cities in a seeded shuffled order (large cities spread out, reruns the same)."""
    cities = list(config.cities)
    random.Random(seed).shuffle(cities)
    return cities


def default_out(config: BatchConfig) -> Path:
    """The batch's output folder: ``[output] dir``, else ``out/<batch name>``."""
    return config.out_dir or Path("out") / _folder_name(config.name)


def run_batch(
    config: BatchConfig,
    *,
    out: str | Path | None = None,
    client: Any = None,
    serial: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    offline: bool = False,
    use_cache: bool | None = None,
    progress: Callable[[CityOutcome, int, int], None] | None = None,
    seed: int = 0,
    national: bool = True,
) -> BatchResult:
    """Analyse every city of a batch and write the national outputs.

    Parameters
    ----------
    config
        The batch (:func:`walkshed.batch.load_batch`).
    out
        The output folder; default :func:`default_out`.
    client
        A Dask client to run on; default a new one (:func:`open_client` with ``scheduler``,
        ``workers`` and the batch's memory limit).
    serial
        Run the cities one after another in this process instead (the peer of the Dask run).
    scheduler, workers
        For a new client.
    offline
        Self-contained maps.
    use_cache
        The network cache; default :data:`walkshed.settings.use_cache`.
    progress
        Called with each outcome as it arrives, the number done and the total.
    seed
        Of the queue's shuffle.
    national
        Write the national tables, workbook and index map.

    Returns
    -------
    BatchResult
    """
    # absolute: each city's scenario names its clipped extract by this path
    root = (Path(out) if out is not None else default_out(config)).resolve()
    slim = replace(config, cities=())
    queue = _queue(config, seed)
    kw: dict[str, Any] = {"cache_dir": str(settings.cache_dir), "use_cache": use_cache,
                          "offline": offline}
    outcomes: list[CityOutcome] = []

    def arrived(o: CityOutcome) -> None:
        outcomes.append(o)
        if progress is not None:
            progress(o, len(outcomes), len(queue))

    if serial:
        for city in queue:
            arrived(run_city(slim, city, root, **kw))
    else:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(open_client(
                    scheduler, workers=workers or config.workers,
                    memory_limit=config.memory_limit))
            _run_on(client, slim, queue, root, kw, arrived)
    order = {c.folder: i for i, c in enumerate(config.cities)}
    outcomes.sort(key=lambda o: order.get(o.folder.name, len(order)))
    result = BatchResult(config=config, folder=root, outcomes=outcomes)
    if national:
        from .national import write_national

        result.national, result.totals, result.files = write_national(
            config, root, outcomes, offline=offline)
    return result


def _run_on(client: Any, slim: BatchConfig, queue: list[CityEntry], root: Path,
            kw: dict[str, Any], arrived: Callable[[CityOutcome], None]) -> None:
    from distributed import as_completed

    keys = [f"walkshed-city-{c.folder}-{input_hash(slim, c)[:12]}" for c in queue]
    futures = client.map(run_city, [slim] * len(queue), queue, [str(root)] * len(queue),
                         key=keys, retries=slim.retries, pure=False, **kw)
    city_of = {f.key: c for f, c in zip(futures, queue, strict=True)}
    for fut in as_completed(futures):
        try:
            arrived(fut.result())
        except Exception as exc:  # the task itself died (worker killed too often, ...)
            c = city_of[fut.key]
            arrived(CityOutcome(c.name, root / c.folder, "failed",
                                error=f"the task was lost: {type(exc).__name__}: "
                                f"{_one_line(exc)}"))
        fut.release()
