"""The validated scenario: frozen dataclasses, one per table of the scenario file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import settings

__all__ = [
    "BuildingPopulation",
    "DistrictSource",
    "NetworkSource",
    "OutputOptions",
    "PolygonPopulation",
    "Population",
    "PrecinctSource",
    "RasterPopulation",
    "Scenario",
    "SitingOptions",
]


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
    reads the ``amenity=police`` objects of the network's extract. ``kinds`` lists the
    precinct kinds that count (:data:`walkshed.vetting.KINDS`); the others are left out and
    reported (default :data:`walkshed.vetting.DEFAULT_KINDS`); ``kind_rules`` names a rules
    file of your own in the format of the shipped ``walkshed/data/police_kinds.toml``.
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
    kinds: tuple[str, ...] | None = None  # kinds that count; None: walkshed.vetting defaults
    kind_rules: Path | None = None  # rules file of your own; None: the shipped rules


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
    #: every district gets at least / at most this many new sites (``None``: no bound)
    district_at_least: int | None = None
    district_at_most: int | None = None
    #: per district: ``(name, at_least, at_most)``; a bound given here replaces the one above
    quotas: tuple[tuple[str, int | None, int | None], ...] = ()

    def quota_dict(self, names: list[str]) -> dict[str, tuple[int | None, int | None]] | None:
        """The quotas as :func:`walkshed.siting.propose_sites` takes them (``names``: the
        districts), or ``None`` when none is set."""
        out: dict[str, tuple[int | None, int | None]] = {}
        if self.district_at_least is not None or self.district_at_most is not None:
            out = {n: (self.district_at_least, self.district_at_most) for n in names}
        for name, least, most in self.quotas:
            out[name] = (self.district_at_least if least is None else least,
                         self.district_at_most if most is None else most)
        return out or None


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
    lang
        Language of the report and the PDF (``en``, ``ru``, ``kk``), or None for the user's.
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
    lang: str | None = None

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


