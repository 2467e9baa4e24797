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
    lang = "ru"                         # report and PDF: en, ru or kk (default: your locale)

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
    planned = ["node/1444321759"]       # ... except these ids
    kinds = ["precinct", "station", "unknown"]  # kinds that count (the default); the
                                        # others (traffic, checkpoint, other) are left out
    # kind_rules = "my_kinds.toml"      # rules of your own (default: the shipped ones)

    [districts]
    file = "almaty_districts.geojson"
    name_column = "name"

    [output]
    dir = "out/almaty"

    [siting]                            # walkshed rank / analyze: where new precincts go
    new_sites = 10                      # or target_share = 0.5 (fewest sites for 50 %)
    fix = "open+planned"                # precincts kept: open | open+planned
    method = "auto"                     # auto | exact | greedy
    district_at_most = 3                # district quotas (need [districts]): every district
    district_at_least = 0
    [siting.quotas]                     # per district, replacing the bound it gives
    Medeu = { at_least = 1, at_most = 2 }

The package's modules: :mod:`~walkshed.scenario.model` (the dataclasses),
:mod:`~walkshed.scenario.parse` (reading and validating the file, with the typed TOML access of
``_toml``) and :mod:`~walkshed.scenario.inputs` (:func:`load_inputs` and the loaders it calls:
the edge where the files are read; they import the modules further down the data flow lazily).
"""

from __future__ import annotations

from .inputs import (
    ScenarioInputs,
    load_demand,
    load_demand_alternatives,
    load_districts,
    load_inputs,
    load_network_for,
    load_population,
    load_precincts,
    load_precincts_vetted,
    own_method,
    reading_once,
)
from .model import (
    BuildingPopulation,
    DistrictSource,
    NetworkSource,
    OutputOptions,
    PolygonPopulation,
    Population,
    PrecinctSource,
    RasterPopulation,
    Scenario,
    SitingOptions,
)
from .parse import load_scenario, parse_scenario

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
    "ScenarioInputs",
    "SitingOptions",
    "load_demand",
    "load_demand_alternatives",
    "load_districts",
    "load_inputs",
    "load_network_for",
    "load_population",
    "load_precincts",
    "load_precincts_vetted",
    "load_scenario",
    "own_method",
    "parse_scenario",
    "reading_once",
]
