"""The batch file (BATCH.toml): a list of cities, validated, with line numbers in errors.

Example (paths are relative to the batch file; ``$VARIABLES`` and ``~`` are expanded)::

    name = "Kazakhstan: police at walking distance"
    extract = "kazakhstan-latest.osm.pbf"   # national extract, clipped per city
    city_list = "kz_cities.csv"             # official populations by city name (optional)
    walk_speed_kmh = 4.5                    # settings every city's scenario gets
    thresholds_min = [5, 10, 15]
    main_threshold = 10
    residents_per_inspector = 3000
    target_share = 0.9                      # new sites needed to reach this share, per city
    map = true                              # each city's coverage_map.html

    [output]
    dir = "out/kazakhstan"

    [dask]                                  # all optional
    workers = 2                             # LocalCluster size (default: the machine's cores)
    memory_limit = "4GB"                    # per worker ("auto": the machine's memory / workers)
    retries = 2                             # reruns of a city whose worker died or failed

    [[city]]
    name = "Almaty"
    bbox = [76.575, 43.057, 77.223, 43.549]  # west, south, east, north; or
    # boundary = "almaty.geojson"            # a polygon file, or
    # relation = 123456                      # an OSM boundary relation in the extract
    # extract = "almaty.osm.pbf"             # this city's own extract (else the national one)
    inspectors = 420                         # district inspectors on staff (optional)
    # residents = 2351424                    # spread over residential buildings; default the
    #                                        # city list's population for this name
    # population = { type = "polygons", file = "districts.geojson", ... }  # any [population]
    # precincts = [{ file = "police.geojson" }]  # default: the extract's amenity=police
    # districts = { file = "districts.geojson", name_column = "name" }

Every city becomes an ordinary scenario (:mod:`walkshed.scenario`); ``population``,
``precincts`` and ``districts`` take the keys of the scenario's ``[population]``,
``[[precincts]]`` and ``[districts]`` tables and are checked by the same rules.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import InputError, input_error
from ..scenario import parse_scenario
from ..scenario._toml import Source as _Source
from ..scenario._toml import Table as _Table
from ..scenario._toml import read_text

__all__ = ["Area", "BatchConfig", "CityEntry", "load_batch", "parse_batch", "scenario_text"]

#: Top-level keys passed on to every city's scenario unchanged.
SCENARIO_KEYS = ("walk_speed_kmh", "thresholds_min", "thresholds_m", "main_threshold",
                 "residents_per_inspector", "max_snap_m")


@dataclass(frozen=True)
class Area:
    """Where a city is: ``kind`` is ``bbox`` (``value`` west, south, east, north in degrees),
    ``boundary`` (a polygon file) or ``relation`` (an OSM relation id in the extract)."""

    kind: str
    value: tuple[float, ...] | Path | int


@dataclass(frozen=True)
class CityEntry:
    """One city of the batch.

    Attributes
    ----------
    name, folder
        The city's name and the name of its output folder (unique in the batch).
    extract
        The extract its streets come from (its own, or the national one).
    area
        The part of ``extract`` to clip, or None for the whole file.
    population, precincts, districts
        The scenario's ``[population]``, ``[[precincts]]`` and ``[districts]`` tables (paths
        absolute).
    inspectors
        District inspectors on staff, or None when not given.
    line
        The line of its ``[[city]]`` header in the batch file.
    """

    name: str
    folder: str
    extract: Path
    area: Area | None
    population: dict[str, Any]
    precincts: tuple[dict[str, Any], ...]
    districts: dict[str, Any] | None = None
    inspectors: int | None = None
    line: int | None = None


@dataclass(frozen=True)
class BatchConfig:
    """A validated batch file (see the module docstring)."""

    name: str
    path: Path | None
    cities: tuple[CityEntry, ...]
    scenario_settings: dict[str, Any] = field(default_factory=dict)
    target_share: float | None = None
    siting_method: str = "auto"
    make_map: bool = True
    out_dir: Path | None = None
    workers: int | None = None
    memory_limit: str | float = "auto"
    retries: int = 2


# ---------------------------------------------------------------------------------------------
# the scenario of one city


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v} to TOML")
        return repr(v)
    if isinstance(v, (str, Path)):
        # JSON string escapes are TOML basic-string escapes
        return json.dumps(str(v), ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write a {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def _table_lines(header: str, table: Mapping[str, Any]) -> list[str]:
    return [header] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]


def scenario_text(config: BatchConfig, city: CityEntry, network_file: Path) -> str:
    """The scenario file of ``city`` with its streets read from ``network_file``.

    Parameters
    ----------
    config
        The batch.
    city
        One of its cities.
    network_file
        The city's extract (clipped, or its own file).

    Returns
    -------
    str
        TOML text that :func:`walkshed.scenario.parse_scenario` reads; every path absolute.
    """
    lines = [f"# {config.name}: {city.name} (written by walkshed batch)",
             f"name = {_toml_value(city.name)}"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in config.scenario_settings.items()]
    lines += ["", *_table_lines("[network]", {"file": network_file})]
    lines += ["", *_table_lines("[population]", city.population)]
    for p in city.precincts:
        lines += ["", *_table_lines("[[precincts]]", p)]
    if city.districts is not None:
        lines += ["", *_table_lines("[districts]", city.districts)]
    lines += ["", *_table_lines("[output]", {"map": config.make_map})]
    siting: dict[str, Any] = {"fix": "open+planned", "method": config.siting_method}
    if config.target_share is not None:
        siting["target_share"] = config.target_share
    lines += ["", *_table_lines("[siting]", siting)]
    return "\n".join(lines) + "\n"


def file_stamp(path: Path) -> list[Any]:
    """What identifies a file's version cheaply: its name, size and modification time."""
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def input_hash(config: BatchConfig, city: CityEntry) -> str:
    """A hash of everything a city's result depends on (settings, area, input files).

    A finished city whose ``summary.json`` carries the same hash is skipped on a rerun.
    """
    from .. import __version__

    files = sorted({city.extract, *_paths_in(city.population), *_paths_in(city.precincts),
                    *_paths_in(city.districts),
                    *([city.area.value] if city.area and isinstance(city.area.value, Path)
                      else [])})
    blob = {
        "version": __version__,
        "scenario": scenario_text(config, city, Path("extract")),
        "area": None if city.area is None else [city.area.kind, str(city.area.value)],
        "files": [file_stamp(f) for f in files],
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _paths_in(obj: Any) -> list[Path]:
    if isinstance(obj, Path):
        return [obj] if obj.is_file() else []
    if isinstance(obj, Mapping):
        return [p for v in obj.values() for p in _paths_in(v)]
    if isinstance(obj, (list, tuple)):
        return [p for v in obj for p in _paths_in(v)]
    return []


# ---------------------------------------------------------------------------------------------
# reading and validating


#: Keys of the scenario tables that name files (made absolute here).
_PATH_KEYS = {"file", "counts", "buildings", "candidates"}


def load_batch(path: str | os.PathLike[str]) -> BatchConfig:
    """Read and validate a batch file.

    Parameters
    ----------
    path
        The batch file (TOML; see the module docstring).

    Returns
    -------
    BatchConfig

    Raises
    ------
    InputError
        For a missing file, bad TOML, unknown keys, wrong types, missing input files and a
        city whose scenario tables break the scenario rules; the message names the line.
    """
    p = Path(path)
    text = read_text(p, f"batch file '{p}'",
                     "Check the path (an example is in the README, 'Many cities')")
    return parse_batch(text, path=p.resolve())


def parse_batch(text: str, *, path: Path | None = None) -> BatchConfig:
    """Validate batch text (relative paths start at ``path``'s folder, else here)."""
    src = _Source(text, path)
    src.label = f"batch file '{path}'" if path is not None else "batch file"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise input_error(src.label, f"is not valid TOML ({exc})",
                          "Fix the syntax at that line (strings need quotes, tables [name])"
                          ) from exc
    top = _Table(src, data, "")
    name = top.text("name", default=path.stem if path is not None else "batch")
    extract = top.path("extract")
    city_list = top.path("city_list")
    known = _city_list(city_list) if city_list is not None else {}
    settings: dict[str, Any] = {}
    for key in SCENARIO_KEYS:
        if top.has(key):
            settings[key] = (list(top.numbers(key) or ()) if key.startswith("thresholds")
                             else top.number(key, None))
    target = top.number("target_share", None, at_most=1.0)
    method = top.text("method", "auto", choices=("auto", "exact", "greedy"))
    make_map = top.boolean("map", True)
    out_t = top.table("output")
    out_dir = None
    if out_t is not None:
        out_dir = out_t.path("dir", must_exist=False)
        out_t.done()
    dask_t = top.table("dask")
    workers, retries = None, 2
    memory: str | float = "auto"
    if dask_t is not None:
        workers = dask_t.number("workers", None, integer=True)
        mem = dask_t.raw("memory_limit", False)
        if isinstance(mem, str) or (isinstance(mem, (int, float)) and not isinstance(mem, bool)):
            memory = mem
        elif mem is not _missing():
            raise dask_t.error("memory_limit", f"expected text or a number, got {mem!r}",
                               'Write e.g. memory_limit = "4GB"')
        retries = dask_t.number("retries", 2, integer=True, positive=False)
        dask_t.done()
    raw = top.raw("city", True)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, dict) for x in raw):
        raise top.error("city", "expected one or more [[city]] sections",
                        'Write [[city]] then name = "Almaty" on the next line')
    top.done()
    base = BatchConfig(name=name, path=path, cities=(), scenario_settings=settings,
                       target_share=target, siting_method=method, make_map=make_map,
                       out_dir=out_dir, workers=workers, memory_limit=memory, retries=retries)
    cities = tuple(_city(src, t, i, extract, known, base) for i, t in enumerate(raw))
    folders = [c.folder for c in cities]
    dup = sorted({f for f in folders if folders.count(f) > 1})
    if dup:
        i = folders.index(dup[0], folders.index(dup[0]) + 1)
        raise src.error("city", "name", f"two cities share the output folder '{dup[0]}'",
                        "Give each city its own name (or folder = ...)", occurrence=i)
    return BatchConfig(**{**base.__dict__, "cities": cities})


def _missing() -> object:
    from ..scenario._toml import _MISSING

    return _MISSING


def _folder_name(name: str) -> str:
    slug = re.sub(r"[^\w]+", "-", name.casefold()).strip("-_")
    return slug or "city"


def _city_list(path: Path) -> dict[str, float]:
    """Population by normalised city name (and its name variants) from a city list CSV."""
    import pandas as pd

    try:
        table = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise input_error(f"city list '{path}'", f"cannot be read ({exc})",
                          "Give a UTF-8 CSV with name and population columns") from exc
    for col in ("name", "population"):
        if col not in table.columns:
            raise input_error(f"city list '{path}'", f"has no column '{col}'",
                              "Give a CSV with name and population columns (data/kz_cities.csv)")
    out: dict[str, float] = {}
    for _, row in table.iterrows():
        if not isinstance(row["population"], (int, float)) or not row["population"] > 0:
            continue
        names = [row["name"]]
        if isinstance(row.get("name_variants"), str):
            names += row["name_variants"].split("|")
        for n in names:
            out.setdefault(" ".join(str(n).casefold().split()), float(row["population"]))
    return out


def _absolute(src: _Source, value: Any) -> Any:
    """``value`` with every path key made absolute from the batch file's folder."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if k in _PATH_KEYS and isinstance(v, str) and v.strip().lower() not in (
                "network", "planned"
            ):
                p = Path(os.path.expanduser(os.path.expandvars(v)))
                out[k] = p if p.is_absolute() else src.base / p
            else:
                out[k] = _absolute(src, v)
        return out
    if isinstance(value, list):
        return [_absolute(src, v) for v in value]
    return value


def _city(src: _Source, entry: dict[str, Any], i: int, national: Path | None,
          known: dict[str, float], config: BatchConfig) -> CityEntry:
    t = _Table(src, entry, "city", occurrence=i)
    name = t.text("name", required=True)
    folder = t.text("folder", None) or _folder_name(name)
    if _folder_name(folder) != folder:
        raise t.error("folder", f"'{folder}' is not a plain folder name",
                      "Use letters, digits and '-' only")
    own = t.path("extract")
    extract = own or national
    if extract is None:
        raise t.error("extract", "is missing (and the batch has no national extract)",
                      'Add extract = "city.osm.pbf" here, or extract = "country.osm.pbf" '
                      "at the top of the batch file")
    areas = [k for k in ("bbox", "boundary", "relation") if t.has(k)]
    if len(areas) > 1:
        raise t.error(areas[1], f"both {areas[0]} and {areas[1]} are given", "Keep one of them")
    area: Area | None = None
    if areas == ["bbox"]:
        raw_box = t.raw("bbox", False)
        if not isinstance(raw_box, list) or len(raw_box) != 4 or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw_box
        ):
            raise t.error("bbox", f"expected [west, south, east, north], got {raw_box!r}",
                          "Write e.g. bbox = [76.575, 43.057, 77.223, 43.549]")
        w, s, e, n = (float(v) for v in raw_box)
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise t.error("bbox", f"[{w}, {s}, {e}, {n}] is not west < east, south < north "
                          "in degrees", "Write [west, south, east, north] (longitude first)")
        area = Area("bbox", (w, s, e, n))
    elif areas == ["boundary"]:
        b = t.path("boundary")
        assert b is not None
        area = Area("boundary", b)
    elif areas == ["relation"]:
        area = Area("relation", t.number("relation", None, integer=True))
    elif own is None:
        raise t.error("bbox", "the city has no area to clip from the national extract",
                      "Add bbox = [west, south, east, north], boundary = \"city.geojson\", "
                      "relation = <OSM id>, or the city's own extract = \"city.osm.pbf\"")
    inspectors = t.number("inspectors", None, integer=True, positive=False)
    residents = t.number("residents", None)
    pop_raw = t.raw("population", False)
    if residents is not None and pop_raw is not _missing():
        raise t.error("residents", "both residents and population are given",
                      "Keep one: residents = N (spread over buildings) or a population table")
    if pop_raw is not _missing():
        if not isinstance(pop_raw, dict):
            raise t.error("population", "expected a table", 'Write population = { type = ... }')
        population = _absolute(src, pop_raw)
    else:
        if residents is None:
            residents = known.get(" ".join(name.casefold().split()))
        if residents is None:
            raise t.error("residents", "is missing (and the city list has no population for "
                          f"'{name}')", "Add residents = <official population>, a population "
                          "table, or a city_list with this name")
        population = {"type": "buildings", "total": residents}
    pre_raw = t.raw("precincts", False)
    if pre_raw is _missing():
        precincts: list[Any] = [{"osm": True, "status": "open"}]
    else:
        if isinstance(pre_raw, dict):
            pre_raw = [pre_raw]
        if not isinstance(pre_raw, list) or not all(isinstance(x, dict) for x in pre_raw):
            raise t.error("precincts", "expected a list of tables",
                          'Write precincts = [{ file = "police.geojson" }]')
        precincts = _absolute(src, pre_raw)
    dist_raw = t.raw("districts", False)
    districts = None
    if dist_raw is not _missing():
        if not isinstance(dist_raw, dict):
            raise t.error("districts", "expected a table",
                          'Write districts = { file = "districts.geojson" }')
        districts = _absolute(src, dist_raw)
    t.done()
    city = CityEntry(name=name, folder=folder, extract=extract, area=area,
                     population=population, precincts=tuple(precincts), districts=districts,
                     inspectors=inspectors, line=src.line_of("city", None, i))
    _check_scenario(src, city, config, i)
    return city


def _check_scenario(src: _Source, city: CityEntry, config: BatchConfig, i: int) -> None:
    """Check the city's scenario tables by the scenario rules now, not in a worker later."""
    try:
        parse_scenario(scenario_text(config, city, city.extract), path=None)
    except InputError as exc:
        line = src.line_of("city", None, i)
        where = f"{src.label}, line {line}" if line else src.label
        msg = re.sub(r"^scenario(, line \d+)?: ", "", str(exc))
        raise InputError(f"{where}, city '{city.name}': {msg}") from exc
