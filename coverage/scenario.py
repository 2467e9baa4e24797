"""What to analyse: a scenario file (TOML), validated into frozen dataclasses.

A scenario names the street network, where residents live, the precinct files, the walking
speed and thresholds, the district polygons and the staffing norm. Paths are relative to the
scenario file; ``$VARIABLES`` and ``~`` are expanded. Unknown keys and wrong types are errors
that name the key and its line in the file.

Example (every key but ``[network]``, ``[population]`` and ``[[precincts]]`` is optional)::

    name = "Almaty, 2012 police"
    walk_speed_kmh = 4.5
    thresholds_min = [5, 10, 15]        # or thresholds_m = [400, 800]
    main_threshold = 10                 # opening order and uncovered areas; default largest
    residents_per_inspector = 3000      # staffing norm

    [network]
    file = "almaty.osm.pbf"             # or place = "Almaty, Kazakhstan" (online)

    [population]
    type = "polygons"                   # raster | polygons | buildings
    file = "almaty_districts.geojson"
    name_column = "name"
    counts = "kz_district_population.csv"   # counts joined by name (else population_column)
    counts_filter = { city = "Almaty", level = "district" }

    [[precincts]]
    file = "almaty_police_2012.geojson"
    status = "open"                     # override for every row of this file
    planned = ["node/486036319"]        # ... except these ids

    [districts]
    file = "almaty_districts.geojson"
    name_column = "name"

    [output]
    dir = "out/almaty"

The loaders at the end of the module (:func:`load_inputs` and the functions it calls) are the
edge where the files are read; they import the modules further down the data flow lazily.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import settings
from ._common import STATUSES
from ._errors import InputError, input_error

if TYPE_CHECKING:
    import geopandas as gpd

    from .network import WalkNetwork

__all__ = [
    "BuildingPopulation",
    "DistrictSource",
    "NetworkSource",
    "OutputOptions",
    "PolygonPopulation",
    "PrecinctSource",
    "RasterPopulation",
    "Scenario",
    "ScenarioInputs",
    "SitingOptions",
    "load_demand",
    "load_districts",
    "load_inputs",
    "load_network_for",
    "load_precincts",
    "load_scenario",
    "parse_scenario",
]

_STATUSES = STATUSES


# ---------------------------------------------------------------------------------------------
# the validated scenario


@dataclass(frozen=True)
class NetworkSource:
    """The street network: an OSM extract on disk, or a place fetched online."""

    file: Path | None = None
    place: str | None = None
    keep_largest: bool = True


@dataclass(frozen=True)
class RasterPopulation:
    """Residents from a population raster (WorldPop, GHSL): one point per populated cell."""

    file: Path
    band: int = 1
    max_cell_m: float = 100.0
    type: str = "raster"


@dataclass(frozen=True)
class PolygonPopulation:
    """Residents from polygons with counts (census zones, districts), spread inside each.

    The count of each polygon is its ``population_column``, or, when ``counts`` is given, the
    row of that table whose ``counts_name_column`` (or one of the ``|``-separated
    ``counts_variants_column`` spellings) matches the polygon's name, among the rows matching
    every ``counts_filter`` column = value.
    """

    file: Path
    name_column: str = "name"
    population_column: str = "population"
    counts: Path | None = None
    counts_name_column: str = "district"
    counts_variants_column: str | None = "name_variants"
    counts_filter: tuple[tuple[str, str], ...] = ()
    method: str = "auto"
    buildings: Path | None = None
    outside: str = "error"
    default_levels: float | None = None
    type: str = "polygons"


@dataclass(frozen=True)
class BuildingPopulation:
    """Residents at residential buildings, by floor area: a total spread, or a density."""

    file: Path | None = None  # default: the network's extract
    total: float | None = None
    persons_per_m2: float | None = None
    default_levels: float | None = None
    type: str = "buildings"


Population = RasterPopulation | PolygonPopulation | BuildingPopulation


@dataclass(frozen=True)
class PrecinctSource:
    """One precinct file and how to read it.

    ``status`` overrides the status of every row; ``open`` / ``planned`` / ``candidate`` list
    ids whose status is set explicitly (after ``status``). ``file=None`` with ``osm = true``
    reads the ``amenity=police`` objects of the network's extract.
    """

    file: Path | None
    osm: bool = False
    status: str | None = None
    id_column: str | None = None
    name_column: str | None = None
    status_column: str | None = None
    lat_column: str | None = None
    lon_column: str | None = None
    set_status: tuple[tuple[str, str], ...] = ()  # (id, status) pairs
    line: int | None = None  # where this entry starts in the scenario file


@dataclass(frozen=True)
class DistrictSource:
    """District polygons and the column naming them."""

    file: Path
    name_column: str = "name"


@dataclass(frozen=True)
class OutputOptions:
    """Where and what to write."""

    dir: Path | None = None
    map: bool = True
    cells: str = "h3"


@dataclass(frozen=True)
class SitingOptions:
    """Options of the proposed-sites step (``walkshed rank``)."""

    new_sites: int | None = None
    target_share: float | None = None
    threshold_min: float | None = None
    fix: str = "open"
    method: str = "auto"
    candidates: str | Path = "network"
    spacing_m: float | None = None
    time_limit_s: float = 60.0


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (see the module docstring for the file format).

    Attributes
    ----------
    name
        Title of the run.
    path
        The scenario file (``None`` when parsed from text).
    network, population, precincts, districts
        Input sources.
    walk_speed_kmh, thresholds_min, thresholds_m, main_threshold
        Walking speed and thresholds (exactly one of ``thresholds_min`` / ``thresholds_m`` is
        set; minutes default to :data:`walkshed.settings.thresholds_min`).
    residents_per_inspector
        Staffing norm; default :data:`walkshed.settings.residents_per_inspector`.
    max_snap_m
        Largest access distance; default :data:`walkshed.settings.max_snap_m`.
    output, siting
        Output and siting options.
    """

    name: str
    path: Path | None
    network: NetworkSource
    population: Population
    precincts: tuple[PrecinctSource, ...]
    walk_speed_kmh: float
    thresholds_min: tuple[float, ...] | None
    thresholds_m: tuple[float, ...] | None
    main_threshold: float | None
    residents_per_inspector: float
    max_snap_m: float
    districts: DistrictSource | None = None
    output: OutputOptions = field(default_factory=OutputOptions)
    siting: SitingOptions = field(default_factory=SitingOptions)

    @property
    def walk_minutes(self) -> tuple[float, ...]:
        """The thresholds as walking minutes at this speed."""
        if self.thresholds_m is not None:
            per_min = settings.minutes_to_metres(1.0, self.walk_speed_kmh)
            return tuple(m / per_min for m in self.thresholds_m)
        assert self.thresholds_min is not None
        return self.thresholds_min

    def assess_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`walkshed.assessment.assess` this scenario sets."""
        return {
            "thresholds_min": self.thresholds_min if self.thresholds_m is None else None,
            "thresholds_m": self.thresholds_m,
            "main_threshold": self.main_threshold,
            "walk_speed_kmh": self.walk_speed_kmh,
            "residents_per_inspector": self.residents_per_inspector,
            "max_snap_m": self.max_snap_m,
            "cells": self.output.cells,
        }


# ---------------------------------------------------------------------------------------------
# reading and validating


_MISSING = object()
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


class _Source:
    """The scenario text, to find the line of a key within its table."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.text = text
        self.path = path
        self.label = f"scenario '{path}'" if path is not None else "scenario"
        self.base = path.parent if path is not None else Path.cwd()

    def line_of(self, table: str, key: str | None, occurrence: int = 0) -> int | None:
        """1-based line of ``key`` in ``table`` (``""`` = top level; ``occurrence`` = which
        ``[[table]]`` block); the table header's line when ``key`` is None or not found."""
        current = ""
        seen: dict[str, int] = {}
        header_line: int | None = None
        want = re.compile(r"^\s*(\"?)" + re.escape(key) + r"\1\s*=") if key else None
        for i, raw in enumerate(self.text.splitlines(), start=1):
            m = _HEADER.match(raw)
            if m:
                current = m.group(2).strip()
                if m.group(1) == "[[":
                    seen[current] = seen.get(current, -1) + 1
                if current == table and seen.get(current, 0) == occurrence:
                    header_line = i
                continue
            in_table = current == table and seen.get(current, 0) == occurrence
            if in_table and want is not None and want.match(raw):
                return i
        return header_line

    def error(
        self, table: str, key: str | None, problem: str, fix: str, occurrence: int = 0
    ) -> InputError:
        line = self.line_of(table, key, occurrence)
        if line is None and "." in table:  # an inline table: the line of its key
            parent, child = table.rsplit(".", 1)
            line = self.line_of(parent, child, occurrence)
        if line is None and key:  # a whole (misspelt) table: the line of its header
            line = self.line_of(".".join(p for p in (table, key) if p), None)
        full = ".".join(p for p in (table, key) if p)
        where = f"{self.label}, line {line}" if line else self.label
        what = f"{where}: key '{full}'" if full else where
        return input_error(what, problem, fix)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


class _Table:
    """One table of the scenario: typed access to its keys, and a check for unknown ones."""

    def __init__(self, src: _Source, data: Mapping[str, Any], name: str, occurrence: int = 0):
        self.src = src
        self.data = dict(data)
        self.name = name
        self.occurrence = occurrence
        self.used: set[str] = set()

    def error(self, key: str | None, problem: str, fix: str) -> InputError:
        return self.src.error(self.name, key, problem, fix, self.occurrence)

    def has(self, key: str) -> bool:
        return key in self.data

    def _raw(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "is missing", f"Add {key} = ... to [{self.name}]"
                                 if self.name else f"Add {key} = ... at the top of the file")
            return _MISSING
        return self.data[key]

    def text(self, key: str, default: Any = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> Any:
        v = self._raw(key, required)
        if v is _MISSING:
            return default
        if not isinstance(v, str):
            raise self.error(key, f"expected text, got {_type_name(v)} ({v!r})",
                             f'Write it in quotes, e.g. {key} = "..."')
        if choices is not None and v.strip().lower() not in choices:
            raise self.error(key, f"unknown value '{v}'", f"Use one of: {', '.join(choices)}")
        return v.strip().lower() if choices is not None else v

    def number(self, key: str, default: Any = None, *, required: bool = False,
               positive: bool = True, integer: bool = False, at_most: float | None = None) -> Any:
        v = self._raw(key, required)
        if v is _MISSING:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (
            integer and not isinstance(v, int)
        ):
            kind = "a whole number" if integer else "a number"
            raise self.error(key, f"expected {kind}, got {_type_name(v)} ({v!r})",
                             f"Write {kind} without quotes, e.g. {key} = {3 if integer else 4.5}")
        if not math.isfinite(v) or (positive and v <= 0) or (not positive and v < 0):
            raise self.error(key, f"must be {'positive' if positive else '>= 0'}, got {v}",
                             "Give a sensible value")
        if at_most is not None and v > at_most:
            raise self.error(key, f"must be at most {at_most:g}, got {v}", "Give a smaller value")
        return int(v) if integer else float(v)

    def boolean(self, key: str, default: bool) -> bool:
        v = self._raw(key, False)
        if v is _MISSING:
            return default
        if not isinstance(v, bool):
            raise self.error(key, f"expected true or false, got {_type_name(v)} ({v!r})",
                             f"Write {key} = true or {key} = false (no quotes)")
        return v

    def numbers(self, key: str) -> tuple[float, ...] | None:
        v = self._raw(key, False)
        if v is _MISSING:
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or not v or any(
            isinstance(x, bool) or not isinstance(x, (int, float)) for x in v
        ):
            raise self.error(key, f"expected a list of numbers, got {v!r}",
                             f"Write e.g. {key} = [5, 10, 15]")
        if any(not math.isfinite(x) or x <= 0 for x in v):
            raise self.error(key, f"must be positive numbers, got {v}", "Remove zero or "
                             "negative values")
        return tuple(sorted({float(x) for x in v}))

    def texts(self, key: str) -> tuple[str, ...]:
        v = self._raw(key, False)
        if v is _MISSING:
            return ()
        if isinstance(v, (str, int)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or any(
            isinstance(x, bool) or not isinstance(x, (str, int)) for x in v
        ):
            raise self.error(key, f"expected a list of ids, got {v!r}",
                             f'Write e.g. {key} = ["node/123", "P7"]')
        return tuple(str(x) for x in v)

    def path(self, key: str, *, required: bool = False, must_exist: bool = True) -> Path | None:
        v = self.text(key, required=required)
        if v is None:
            return None
        expanded = os.path.expanduser(os.path.expandvars(v))
        if "$" in expanded:
            raise self.error(key, f"the path '{v}' uses an environment variable that is not set",
                             "Set the variable, or write the path out")
        p = Path(expanded)
        if not p.is_absolute():
            p = self.src.base / p
        if must_exist and not p.exists():
            raise self.error(key, f"file not found: {p}",
                             "Check the path (relative paths start at the scenario file's "
                             "folder)")
        return p

    def table(self, key: str, *, required: bool = False) -> _Table | None:
        v = self._raw(key, required)
        if v is _MISSING:
            return None
        if not isinstance(v, dict):
            raise self.error(key, f"expected a table, got {_type_name(v)}",
                             f"Write it as a [{key}] section")
        name = f"{self.name}.{key}" if self.name else key
        return _Table(self.src, v, name)

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.error(unknown[0], "unknown key",
                             f"Check the spelling; keys allowed here: {known}")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A TOML file (see the module docstring for its keys).

    Returns
    -------
    Scenario

    Raises
    ------
    InputError
        For a missing or unreadable file, a TOML syntax error, unknown keys, wrong types and
        missing input files; the message names the key and its line.
    """
    p = Path(path)
    if not p.is_file():
        raise input_error(f"scenario '{p}'", "file not found",
                          "Check the path, or start from one of the examples in data/")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise input_error(f"scenario '{p}'", f"cannot be read ({exc})",
                          "Save it as UTF-8 text") from exc
    return parse_scenario(text, path=p.resolve())


def parse_scenario(text: str, *, path: Path | None = None) -> Scenario:
    """Validate scenario text (relative paths start at ``path``'s folder, else here)."""
    src = _Source(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise input_error(src.label, f"is not valid TOML ({exc})",
                          "Fix the syntax at that line (strings need quotes, tables [name])"
                          ) from exc
    top = _Table(src, data, "")
    name = top.text("name", default=path.stem if path is not None else "scenario")
    speed = top.number("walk_speed_kmh", settings.walk_speed_kmh, at_most=30.0)
    t_min = top.numbers("thresholds_min")
    t_m = top.numbers("thresholds_m")
    if t_min is not None and t_m is not None:
        raise top.error("thresholds_m", "both thresholds_min and thresholds_m are given",
                        "Keep one of them")
    if t_min is None and t_m is None:
        t_min = tuple(float(t) for t in settings.thresholds_min)
    main = top.number("main_threshold", None)
    given = t_m if t_m is not None else t_min
    if main is not None and given is not None and not any(
        math.isclose(main, t) for t in given
    ):
        raise top.error("main_threshold", f"{main:g} is not one of the thresholds {list(given)}",
                        "Choose one of them, or add it to the thresholds")
    norm = top.number("residents_per_inspector", settings.residents_per_inspector)
    snap = top.number("max_snap_m", settings.max_snap_m)

    net_t = top.table("network", required=True)
    assert net_t is not None
    network = _network(net_t)
    pop_t = top.table("population", required=True)
    assert pop_t is not None
    population = _population(pop_t, network)
    precincts = _precincts(src, top)
    dist_t = top.table("districts")
    districts = None
    if dist_t is not None:
        file = dist_t.path("file", required=True)
        assert file is not None
        districts = DistrictSource(file=file, name_column=dist_t.text("name_column", "name"))
        dist_t.done()
    out_t = top.table("output")
    output = OutputOptions()
    if out_t is not None:
        output = OutputOptions(
            dir=out_t.path("dir", must_exist=False),
            map=out_t.boolean("map", True),
            cells=out_t.text("cells", "h3", choices=("h3", "grid")),
        )
        out_t.done()
    siting = _siting(top.table("siting"), speed)
    top.done()
    return Scenario(
        name=name,
        path=path,
        network=network,
        population=population,
        precincts=precincts,
        walk_speed_kmh=speed,
        thresholds_min=t_min,
        thresholds_m=t_m,
        main_threshold=main,
        residents_per_inspector=norm,
        max_snap_m=snap,
        districts=districts,
        output=output,
        siting=siting,
    )


def _network(t: _Table) -> NetworkSource:
    if t.has("file") == t.has("place"):
        raise t.error(None, "give exactly one of file or place",
                      'Write file = "city.osm.pbf" (offline) or place = "City, Country"')
    out = NetworkSource(
        file=t.path("file"),
        place=t.text("place"),
        keep_largest=t.boolean("keep_largest", True),
    )
    t.done()
    return out


def _population(t: _Table, network: NetworkSource) -> Population:
    kind = t.text("type", required=True, choices=("raster", "polygons", "buildings"))
    out: Population
    if kind == "raster":
        file = t.path("file", required=True)
        assert file is not None
        out = RasterPopulation(
            file=file,
            band=t.number("band", 1, integer=True),
            max_cell_m=t.number("max_cell_m", 100.0),
        )
    elif kind == "polygons":
        file = t.path("file", required=True)
        assert file is not None
        filt = t.table("counts_filter")
        pairs: list[tuple[str, str]] = []
        if filt is not None:
            for k, v in filt.data.items():
                if isinstance(v, (dict, list)):
                    raise filt.error(k, f"expected text or a number, got {_type_name(v)}",
                                     f'Write e.g. {k} = "Almaty"')
                filt.used.add(k)
                pairs.append((k, str(v)))
        buildings = t.path("buildings")
        if buildings is None and network.file is not None:
            buildings = network.file
        variants = t.text("counts_variants_column", "name_variants")
        out = PolygonPopulation(
            file=file,
            name_column=t.text("name_column", "name"),
            population_column=t.text("population_column", "population"),
            counts=t.path("counts"),
            counts_name_column=t.text("counts_name_column", "district"),
            counts_variants_column=variants or None,
            counts_filter=tuple(pairs),
            method=t.text("method", "auto", choices=("auto", "buildings", "streets", "area")),
            buildings=buildings,
            outside=t.text("outside", "error", choices=("error", "drop")),
            default_levels=t.number("default_levels", None),
        )
    else:
        file = t.path("file")
        if file is None and network.file is None:
            raise t.error("file", "is missing (the network is fetched online, so there is no "
                          "extract to take buildings from)",
                          'Add file = "city.osm.pbf" (or a footprints GeoPackage)')
        total = t.number("total", None, positive=False)
        density = t.number("persons_per_m2", None)
        if (total is None) == (density is None):
            raise t.error("total", "give exactly one of total or persons_per_m2",
                          "Write total = <residents to spread> or persons_per_m2 = 0.03")
        out = BuildingPopulation(
            file=file if file is not None else network.file,
            total=total,
            persons_per_m2=density,
            default_levels=t.number("default_levels", None),
        )
    t.done()
    return out


def _precincts(src: _Source, top: _Table) -> tuple[PrecinctSource, ...]:
    raw = top._raw("precincts", True)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, dict) for x in raw):
        raise top.error("precincts", "expected one or more [[precincts]] sections",
                        'Write [[precincts]] then file = "police.geojson" on the next line')
    out = []
    for i, entry in enumerate(raw):
        t = _Table(src, entry, "precincts", occurrence=i)
        osm = t.boolean("osm", False)
        file = t.path("file")
        if file is None and not osm:
            raise t.error("file", "is missing", 'Add file = "police.geojson" (or osm = true '
                          "to take amenity=police from the network's extract)")
        if file is not None and osm:
            raise t.error("osm", "both file and osm = true are given",
                          "Keep one: a precinct file, or the extract's police points")
        pairs: list[tuple[str, str]] = []
        seen: set[str] = set()
        for status in _STATUSES:
            ids = t.texts(status)
            dup = sorted(set(ids) & seen) or sorted({p for p in ids if ids.count(p) > 1})
            if dup:
                raise t.error(status, f"id(s) {', '.join(dup)} are given more than one "
                              "status", "List each id under one status only")
            seen.update(ids)
            pairs += [(pid, status) for pid in ids]
        out.append(
            PrecinctSource(
                file=file,
                osm=osm,
                status=t.text("status", None, choices=_STATUSES),
                id_column=t.text("id_column"),
                name_column=t.text("name_column"),
                status_column=t.text("status_column"),
                lat_column=t.text("lat_column"),
                lon_column=t.text("lon_column"),
                set_status=tuple(pairs),
                line=src.line_of("precincts", None, i),
            )
        )
        t.done()
    return tuple(out)


def _siting(t: _Table | None, speed: float) -> SitingOptions:
    if t is None:
        return SitingOptions()
    cand_raw = t.data.get("candidates", "network")
    candidates: str | Path
    if isinstance(cand_raw, str) and cand_raw.strip().lower() in ("network", "planned"):
        t.used.add("candidates")
        candidates = cand_raw.strip().lower()
    else:
        p = t.path("candidates")
        candidates = p if p is not None else "network"
    out = SitingOptions(
        new_sites=t.number("new_sites", None, integer=True),
        target_share=t.number("target_share", None, at_most=1.0),
        threshold_min=t.number("threshold_min", None),
        fix=t.text("fix", "open", choices=("open", "open+planned")),
        method=t.text("method", "auto", choices=("auto", "exact", "greedy")),
        candidates=candidates,
        spacing_m=t.number("spacing_m", None),
        time_limit_s=t.number("time_limit_s", 60.0),
    )
    if out.new_sites is not None and out.target_share is not None:
        raise t.error("target_share", "both new_sites and target_share are given",
                      "Keep one of them")
    t.done()
    return out


# ---------------------------------------------------------------------------------------------
# loading the inputs a scenario names (the edge where files are read)


@dataclass(frozen=True)
class ScenarioInputs:
    """The loaded inputs of a scenario, in the shared data contracts."""

    network: WalkNetwork
    demand: gpd.GeoDataFrame
    precincts: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame | None


def load_network_for(scenario: Scenario, *, cache: bool | None = None) -> WalkNetwork:
    """The walking network a scenario names.

    Parameters
    ----------
    scenario
        The scenario.
    cache
        Use the on-disk network cache; default :data:`walkshed.settings.use_cache`.

    Returns
    -------
    WalkNetwork
    """
    from .network import load_network

    src = scenario.network
    source: Any = src.file if src.file is not None else src.place
    return load_network(source, keep_largest=src.keep_largest, cache=cache)


def load_demand(scenario: Scenario, network: WalkNetwork) -> gpd.GeoDataFrame:
    """Demand points (residents) for a scenario, through :mod:`walkshed.population`.

    This is the one place where the scenario's population options meet the population
    module's functions.

    Parameters
    ----------
    scenario
        The scenario.
    network
        Its walking network (output CRS and study area).

    Returns
    -------
    geopandas.GeoDataFrame
        Demand points with ``population``, ``zone`` and ``method`` (network CRS).
    """
    from . import population as popmod

    cfg = scenario.population
    buildings: Any = None
    building_file = cfg.file if isinstance(cfg, BuildingPopulation) else (
        cfg.buildings if isinstance(cfg, PolygonPopulation) else None
    )
    if building_file is not None:
        from ._osm import OSM_SUFFIXES

        # an OSM extract is read by the population module; footprints in a vector file here
        is_osm = building_file.name.lower().endswith(OSM_SUFFIXES)
        buildings = building_file if is_osm else _read_vector(building_file, "buildings file")
    if isinstance(cfg, RasterPopulation):
        demand = popmod.demand_from_raster(cfg.file, network, band=cfg.band,
                                           max_cell_m=cfg.max_cell_m)
    elif isinstance(cfg, BuildingPopulation):
        demand = popmod.demand_from_buildings(
            buildings, network, total=cfg.total, persons_per_m2=cfg.persons_per_m2,
            default_levels=cfg.default_levels,
        )
    else:
        zones = _zones_with_counts(cfg)
        demand = popmod.demand_from_zones(
            zones, network, population="population", name="name", buildings=buildings,
            method=cfg.method,  # type: ignore[arg-type]
            outside=cfg.outside,  # type: ignore[arg-type]
            default_levels=cfg.default_levels,
        )
    return demand.points


def _read_vector(path: Path, what: str) -> gpd.GeoDataFrame:
    import warnings

    import pyogrio

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
            return pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL raises many kinds of errors for unreadable files
        raise input_error(f"{what} '{path}'", f"cannot be read ({exc})",
                          "Give a GeoJSON or GeoPackage file") from exc


def _named(gdf: gpd.GeoDataFrame, column: str, what: str, section: str) -> gpd.GeoDataFrame:
    """``gdf``'s ``column`` (renamed ``name``) and geometry; an error listing the columns when
    ``column`` is missing (``section``: the scenario table that sets it)."""
    if column not in gdf.columns:
        raise input_error(what, f"has no column '{column}' "
                          f"(columns: {', '.join(map(str, gdf.columns))})",
                          f"Set name_column in [{section}]")
    return gdf[[column, gdf.geometry.name]].rename(columns={column: "name"})


def _norm_name(s: Any) -> str:
    return " ".join(str(s).strip().lower().split())


def _zones_with_counts(cfg: PolygonPopulation) -> gpd.GeoDataFrame:
    """The population polygons with ``name`` and ``population`` columns."""
    import pandas as pd

    what = "population polygons"
    zones = _read_vector(cfg.file, what)
    out = _named(zones, cfg.name_column, f"{what} '{cfg.file}'", "population")
    if cfg.counts is None:
        if cfg.population_column not in zones.columns:
            raise input_error(f"{what} '{cfg.file}'",
                              f"has no column '{cfg.population_column}'",
                              "Set population_column in [population], or give a counts table")
        out["population"] = zones[cfg.population_column].to_numpy()
        return out
    try:
        table = pd.read_csv(cfg.counts, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise input_error(f"counts table '{cfg.counts}'", f"cannot be read ({exc})",
                          "Give a UTF-8 CSV with a header row") from exc
    for col, value in cfg.counts_filter:
        if col not in table.columns:
            raise input_error(f"counts table '{cfg.counts}'", f"has no column '{col}'",
                              "Fix counts_filter in [population]")
        table = table[table[col].astype(str) == value]
    for col in (cfg.counts_name_column, cfg.population_column):
        if col not in table.columns:
            raise input_error(f"counts table '{cfg.counts}'", f"has no column '{col}'",
                              "Set counts_name_column / population_column in [population]")
    lookup: dict[str, float] = {}
    for _, row in table.iterrows():
        names = [row[cfg.counts_name_column]]
        if cfg.counts_variants_column and cfg.counts_variants_column in table.columns:
            v = row[cfg.counts_variants_column]
            if isinstance(v, str):
                names += v.split("|")
        for n in names:
            lookup.setdefault(_norm_name(n), float(row[cfg.population_column]))
    counts = [lookup.get(_norm_name(n)) for n in out["name"]]
    missing = [str(n) for n, c in zip(out["name"], counts, strict=True) if c is None]
    if missing:
        raise input_error(f"counts table '{cfg.counts}'",
                          f"has no count for polygon(s) {', '.join(missing)}",
                          "Add rows (or name variants) for them, or fix counts_filter")
    out["population"] = counts
    return out


def load_precincts(scenario: Scenario, network: WalkNetwork | None = None) -> gpd.GeoDataFrame:
    """All precinct files of a scenario in one table, statuses applied, checked.

    Parameters
    ----------
    scenario
        The scenario.
    network
        When given, precincts outside its area are an error
        (:func:`walkshed.precincts.validate_precincts`).

    Returns
    -------
    geopandas.GeoDataFrame
        The precinct contract (ids unique across files), EPSG:4326.
    """
    import pandas as pd

    from .precincts import precincts_from_osm, read_precincts, validate_precincts

    frames = []
    for entry in scenario.precincts:
        where = f"{scenario.path or 'scenario'}" + (f", line {entry.line}" if entry.line else "")
        if entry.file is None:
            if scenario.network.file is None:
                raise input_error(f"[[precincts]] at {where}", "osm = true needs the network "
                                  "to come from an extract file",
                                  'Give file = "police.geojson" instead')
            frame = precincts_from_osm(scenario.network.file, status=entry.status or "open")
        else:
            frame = read_precincts(
                entry.file,
                id_column=entry.id_column,
                name_column=entry.name_column,
                status_column=entry.status_column,
                lat_column=entry.lat_column,
                lon_column=entry.lon_column,
            )
            if entry.status is not None:
                frame["status"] = entry.status
        unknown = [pid for pid, _ in entry.set_status if pid not in frame.index]
        if unknown:
            raise input_error(
                f"[[precincts]] at {where}",
                f"id(s) {', '.join(unknown[:5])} are not in {entry.file or 'the extract'}",
                f"Use ids from the file, e.g. {', '.join(map(str, frame.index[:3]))}",
            )
        for pid, status in entry.set_status:
            frame.loc[pid, "status"] = status
        frames.append(frame)
    out = pd.concat(frames) if len(frames) > 1 else frames[0]
    dup = out.index[out.index.duplicated()].unique()
    if len(dup):
        raise input_error(f"precinct files of {scenario.path or 'the scenario'}",
                          f"the same id appears in more than one file: "
                          f"{', '.join(map(str, dup[:5]))}",
                          "Give the precincts distinct ids (id_column) or remove duplicates")
    import geopandas as gpd

    out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    if network is not None:
        out = validate_precincts(out, network, max_snap_m=scenario.max_snap_m)
    return out


def load_districts(scenario: Scenario) -> gpd.GeoDataFrame | None:
    """The district polygons of a scenario with a ``name`` column, or None.

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    geopandas.GeoDataFrame or None
    """
    cfg = scenario.districts
    if cfg is None:
        return None
    gdf = _read_vector(cfg.file, "district file")
    out = _named(gdf, cfg.name_column, f"district file '{cfg.file}'", "districts")
    if gdf.crs is None:
        raise input_error(f"district file '{cfg.file}'", "has no CRS",
                          "Save it with its coordinate reference system")
    out["name"] = out["name"].astype(str)
    return out


def load_inputs(scenario: Scenario, *, cache: bool | None = None) -> ScenarioInputs:
    """Load everything a scenario names: network, demand points, precincts, districts.

    Parameters
    ----------
    scenario
        The scenario.
    cache
        Use the on-disk network cache; default :data:`walkshed.settings.use_cache`.

    Returns
    -------
    ScenarioInputs
    """
    network = load_network_for(scenario, cache=cache)
    return ScenarioInputs(
        network=network,
        demand=load_demand(scenario, network),
        precincts=load_precincts(scenario, network),
        districts=load_districts(scenario),
    )
