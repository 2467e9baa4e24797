"""Loading the inputs a scenario names: the edge where the files are read.

The modules further down the data flow (network, population, precincts) are imported lazily.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common import numeric_column, read_csv_table
from .._errors import InputError, input_error
from .model import BuildingPopulation, PolygonPopulation, RasterPopulation, Scenario

if TYPE_CHECKING:
    import geopandas as gpd

    from ..network import WalkNetwork
    from ..vetting import Vetting

__all__ = [
    "ScenarioInputs",
    "load_demand",
    "load_demand_alternatives",
    "load_districts",
    "load_inputs",
    "load_network_for",
    "load_population",
    "load_precincts",
    "load_precincts_vetted",
    "own_method",
    "reading_once",
]


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
    from ..network import load_network

    src = scenario.network
    source: Any = src.file if src.file is not None else src.place
    return load_network(source, keep_largest=src.keep_largest, cache=cache)


def load_population(scenario: Scenario, network: WalkNetwork) -> Any:
    """The scenario's residents as a :class:`walkshed.population.Demand` (points and the
    report of how each zone was spread, with the reason).

    Parameters
    ----------
    scenario
        The scenario.
    network
        Its walking network.

    Returns
    -------
    walkshed.population.Demand
    """
    return _population(scenario, network, None)


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
    return _population(scenario, network, None).points


def _building_source(scenario: Scenario) -> Any:
    """The buildings a scenario's population reads: an OSM file, a vector frame, or None."""
    cfg = scenario.population
    building_file = cfg.file if isinstance(cfg, BuildingPopulation) else (
        cfg.buildings if isinstance(cfg, PolygonPopulation) else None
    )
    if isinstance(cfg, BuildingPopulation) and building_file is None:
        building_file = scenario.network.file
    if building_file is None:
        return None
    from .._osm import OSM_SUFFIXES

    # an OSM extract's footprints are read once per run (the own method and the others);
    # footprints in a vector file are read here
    is_osm = building_file.name.lower().endswith(OSM_SUFFIXES)
    return _osm_buildings(building_file) if is_osm else _read_vector(building_file,
                                                                     "buildings file")


#: While :func:`reading_once` is on: the footprints of the extracts read, by path and content
#: hash (the scenario's own placement and the other methods of one load read the same one).
_FOOTPRINTS: contextvars.ContextVar[dict[tuple[str, str], Any] | None] = (
    contextvars.ContextVar("walkshed_footprints", default=None))


@contextlib.contextmanager
def reading_once() -> Iterator[None]:
    """Meanwhile, an extract's buildings are read once and each zone's streets clipped once:
    :func:`load_study` places the residents by every method within it (forgotten at the end).
    """
    from ..population.zones import clipping_once

    token = _FOOTPRINTS.set({})
    try:
        with clipping_once():
            yield
    finally:
        _FOOTPRINTS.reset(token)


def _osm_buildings(path: Path) -> Any:
    """:func:`walkshed.population.read_buildings` of ``path``; within :func:`reading_once`
    read once while the file's content stays the same (a copy each time: callers may change
    their frame)."""
    from .._buildings import read_buildings
    from ..network.load import file_sha256

    known = _FOOTPRINTS.get()
    if known is None:
        return read_buildings(path)
    try:
        key = (str(Path(path).resolve()), file_sha256(path))
    except OSError:
        return read_buildings(path)  # says what is wrong with the file
    if key not in known:
        known[key] = read_buildings(path)
    return known[key].copy()


def _population(scenario: Scenario, network: WalkNetwork, buildings: Any) -> Any:
    from .. import population as popmod

    cfg = scenario.population
    if buildings is None:
        buildings = _building_source(scenario)
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
        with _scenario_terms("zones", f"population polygons '{cfg.file}'"):
            demand = popmod.demand_from_zones(
                zones, network, population="population", name="name", buildings=buildings,
                method=cfg.method,  # type: ignore[arg-type]
                outside=cfg.outside,  # type: ignore[arg-type]
                default_levels=cfg.default_levels,
            )
    return demand


def own_method(scenario: Scenario) -> str:
    """The name of the scenario's own way of placing residents in the method comparison."""
    cfg = scenario.population
    if isinstance(cfg, RasterPopulation):
        return "raster"
    if isinstance(cfg, BuildingPopulation):
        return "buildings, city total" if cfg.total is not None else "buildings, density"
    return "district totals, by the rule" if cfg.method == "auto" else cfg.method


def load_demand_alternatives(
    scenario: Scenario, network: WalkNetwork, demand: gpd.GeoDataFrame
) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, str]]:
    """The residents placed by every other applicable method, for the comparison of
    :func:`walkshed.assessment.uncertainty.compare`; the same total each time.

    For district (polygon) totals: each zone over its buildings (its streets where it has
    none), over its streets, over an area grid, and the buildings scaled to the city total.
    For a raster or building total: the total over the buildings, the streets and an area grid
    of the network's area.

    Parameters
    ----------
    scenario
        The scenario.
    network
        Its walking network.
    demand
        The scenario's own demand points (listed under :func:`own_method`).

    Returns
    -------
    (dict, dict)
        Demand points per method name (the scenario's own first), and the methods that do
        not apply with the reason.
    """
    import geopandas as gpd

    from .. import population as popmod
    from .._errors import InputError

    cfg = scenario.population
    own = own_method(scenario)
    out: dict[str, gpd.GeoDataFrame] = {own: demand}
    skipped: dict[str, str] = {}
    src = _building_source(scenario)
    if src is None and scenario.network.file is not None and not isinstance(
            cfg, PolygonPopulation):
        src = scenario.network.file
    buildings = _osm_buildings(src) if isinstance(src, Path) else src
    total = float(demand["population"].sum())

    def attempt(name: str, make: Any) -> None:
        if name in out:
            return
        try:
            out[name] = make().points
        except InputError as exc:
            skipped[name] = str(exc)

    if isinstance(cfg, PolygonPopulation):
        zones = _zones_with_counts(cfg)
        common: dict[str, Any] = {"population": "population", "name": "name",
                                  "outside": cfg.outside, "default_levels": cfg.default_levels}
        if buildings is not None:
            attempt("buildings", lambda: popmod.demand_from_zones(
                zones, network, buildings=buildings, method="auto", min_footprint_share=0.0,
                min_buildings=1, **common))
        else:
            skipped["buildings"] = "no buildings given"
        attempt("streets", lambda: popmod.demand_from_zones(
            zones, network, method="streets", **common))
        attempt("area", lambda: popmod.demand_from_zones(
            zones, network, method="area", **common))
    else:
        one = gpd.GeoDataFrame({"name": ["study area"], "population": [total]},
                               geometry=[popmod.study_area(network)], crs=network.crs)
        attempt("streets", lambda: popmod.demand_from_zones(one, network, method="streets"))
        attempt("area", lambda: popmod.demand_from_zones(one, network, method="area"))
    if buildings is not None:
        attempt("buildings, city total", lambda: popmod.demand_from_buildings(
            buildings, network, total=total,
            default_levels=getattr(cfg, "default_levels", None)))
    else:
        skipped.setdefault("buildings, city total", "no buildings given")
    if not isinstance(cfg, RasterPopulation):
        skipped["raster"] = "no population raster in the scenario"
    return out, skipped


#: A fix written for a Python caller (a keyword) and the same fix for a scenario's author.
_SCENARIO_FIXES: tuple[tuple[str, str], ...] = (
    ("pass outside='drop'", 'set outside = "drop" in [population]'),
    ("with population=...", "with population_column in [population]"),
    ("with name=...", "with name_column in [population]"),
    ("pass the number of residents to spread", "write total = ... in [population]"),
)


@contextlib.contextmanager
def _scenario_terms(subject: str, label: str) -> Iterator[None]:
    """Re-word an :class:`InputError` of the Python API for a scenario's author: the input is
    named by its file (``label`` for ``subject``) and the fix by its TOML key."""
    try:
        yield
    except InputError as exc:
        text = str(exc)
        for keyword, key in _SCENARIO_FIXES:
            text = text.replace(keyword, key)
        if text.startswith(subject + ":") or text.startswith(subject + " "):
            text = label + text[len(subject):]
        raise InputError(text) from exc


def _read_vector(path: Path, what: str) -> gpd.GeoDataFrame:
    import warnings

    import pyogrio
    import pyproj
    import shapely

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
            gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL raises many kinds of errors for unreadable files
        raise input_error(f"{what} '{path}'", f"cannot be read ({' '.join(str(exc).split())})",
                          "Give a GeoJSON or GeoPackage file") from exc
    if len(gdf) == 0:
        raise input_error(f"{what} '{path}'", "holds no features", "Give at least one polygon")
    if gdf.crs is not None and pyproj.CRS.from_user_input(gdf.crs).is_geographic:
        xy = shapely.get_coordinates(np.asarray(gdf.geometry.values))
        if len(xy) and ((np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any()):
            raise input_error(
                f"{what} '{path}'",
                "coordinates are not longitude/latitude although the file says so (values "
                "like metres; GeoJSON without a CRS is read as longitude/latitude)",
                "Save the file with its real CRS (e.g. as a GeoPackage), or reproject it to "
                "EPSG:4326")
    return gdf


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
    label = f"counts table '{cfg.counts}'"
    table = read_csv_table(cfg.counts, label)
    for col, value in cfg.counts_filter:
        if col not in table.columns:
            raise input_error(label, f"has no column '{col}'",
                              "Fix counts_filter in [population]")
        table = table[table[col].astype(str) == value]
    for col, key in ((cfg.counts_name_column, "counts_name_column"),
                     (cfg.population_column, "population_column")):
        if col not in table.columns:
            raise input_error(label, f"has no column '{col}' (columns: "
                              f"{', '.join(map(str, table.columns))})",
                              f"Set {key} in [population] to one of them")
    values = numeric_column(table, cfg.population_column, label,
                            "Write a number of residents in every row (digits only)")
    if (values < 0).any():
        i = int(np.flatnonzero(values < 0)[0])
        raise input_error(label, f"column '{cfg.population_column}', row "
                          f"{int(table.index[i]) + 2}: negative "
                          f"count {values[i]:g}", "Counts of residents must be >= 0")
    if len(values) and not values.any():
        raise input_error(label, f"every count in column '{cfg.population_column}' is zero",
                          "Give the number of residents of each zone")
    lookup: dict[str, float] = {}
    for (_, row), value in zip(table.iterrows(), values, strict=True):
        names = [row[cfg.counts_name_column]]
        if cfg.counts_variants_column and cfg.counts_variants_column in table.columns:
            v = row[cfg.counts_variants_column]
            if isinstance(v, str) and v:
                names += v.split("|")
        for n in names:
            lookup.setdefault(_norm_name(n), float(value))
    counts = [lookup.get(_norm_name(n)) for n in out["name"]]
    missing = [str(n) for n, c in zip(out["name"], counts, strict=True) if c is None]
    if missing:
        raise input_error(f"counts table '{cfg.counts}'",
                          f"has no count for polygon(s) {', '.join(missing)}",
                          "Add rows (or name variants) for them, or fix counts_filter")
    out["population"] = counts
    return out


def load_precincts(scenario: Scenario, network: WalkNetwork | None = None) -> gpd.GeoDataFrame:
    """All precinct files of a scenario in one table, statuses applied, vetted, checked.

    The precincts whose kind does not count (``kinds`` of each ``[[precincts]]`` entry,
    default :data:`walkshed.vetting.DEFAULT_KINDS`) are left out;
    :func:`load_precincts_vetted` also says which.

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
    return load_precincts_vetted(scenario, network)[0]


def load_precincts_vetted(
    scenario: Scenario, network: WalkNetwork | None = None
) -> tuple[gpd.GeoDataFrame, Vetting]:
    """:func:`load_precincts` and the account of the vetting (kinds found, left out).

    Parameters
    ----------
    scenario
        The scenario.
    network
        When given, precincts outside its area are an error.

    Returns
    -------
    (geopandas.GeoDataFrame, walkshed.vetting.Vetting)
    """
    import pandas as pd

    from ..precincts import precincts_from_osm, read_precincts, validate_precincts
    from ..vetting import load_kind_rules, merge_vettings, select_kinds

    frames = []
    vettings: list[Vetting] = []
    for entry in scenario.precincts:
        where = f"{scenario.path or 'scenario'}" + (f", line {entry.line}" if entry.line else "")
        rules = None if entry.kind_rules is None else load_kind_rules(entry.kind_rules)
        if entry.file is None:
            if scenario.network.file is None:
                raise input_error(f"[[precincts]] at {where}", "osm = true needs the network "
                                  "to come from an extract file",
                                  'Give file = "police.geojson" instead')
            frame = precincts_from_osm(scenario.network.file, status=entry.status or "open",
                                       rules=rules)
        else:
            frame = read_precincts(
                entry.file,
                id_column=entry.id_column,
                name_column=entry.name_column,
                status_column=entry.status_column,
                lat_column=entry.lat_column,
                lon_column=entry.lon_column,
                kind_rules=rules,
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
        # named by the precinct source (a staged scenario's path would differ run to run)
        source = (f"precincts of '{entry.file or scenario.network.file}'"
                  + (f" ([[precincts]] at line {entry.line})" if entry.line else ""))
        frame, vet = select_kinds(frame, entry.kinds, what=source)
        if len(frame) == 0:
            raise input_error(
                source,
                f"no precinct of the kinds {', '.join(vet.counted_kinds)} (found: "
                + ", ".join(f"{n} {k}" for k, n in vet.found.items() if n) + ")",
                "Add the kinds to count to kinds = [...], or give a precinct file",
            )
        vettings.append(vet)
        if network is not None:  # each file on its own: a message names the file
            label = (f"precinct file '{entry.file}'" if entry.file is not None
                     else f"police points of '{scenario.network.file}'")
            frame = validate_precincts(frame, network, max_snap_m=scenario.max_snap_m,
                                       what=label)
        frames.append(frame)
    out = pd.concat(frames) if len(frames) > 1 else frames[0]
    dup = out.index[out.index.duplicated()].unique()
    if len(dup):
        raise input_error(f"precinct files of {scenario.path or 'the scenario'}",
                          f"the same id appears in more than one file: "
                          f"{', '.join(map(str, dup[:5]))}",
                          "Give the precincts distinct ids (id_column) or remove duplicates")
    import geopandas as gpd

    return gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326"), merge_vettings(vettings)


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
