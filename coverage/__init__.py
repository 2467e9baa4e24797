"""walkshed: who lives within walking distance of a police precinct, and where new ones should go.

The distribution, the command and the import package are all ``walkshed`` (the code lives in
the repository folder ``coverage/``). The names below are importable from the package top level;
all but the errors are imported on first use (PEP 562), so that ``import walkshed`` and
``walkshed --help`` stay fast.

Examples
--------
>>> from walkshed import load_network, nearest_precinct  # doctest: +SKIP
>>> net = load_network("almaty.osm.pbf")  # doctest: +SKIP
>>> nearest_precinct(net, police, buildings).distance_m.median()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import InputError, WalkshedError

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .assessment import Assessment, assess, assess_scenario
    from .isochrones import walking_areas
    from .maps import coverage_map, save_map
    from .network import WalkNetwork, load_network
    from .pipeline import Study, load_study, run, run_study
    from .population import (
        Demand,
        demand_from_buildings,
        demand_from_raster,
        demand_from_zones,
        read_buildings,
        study_area,
    )
    from .precincts import precincts_from_osm, read_precincts
    from .reach import coverage_matrix, nearest_precinct
    from .scenario import Scenario, load_scenario
    from .settings import minutes_to_metres
    from .siting import SitingResult, propose_sites, solve_mclp, solve_min_sites
    from .snap import Snapped, snap_points
    from .vetting import select_kinds

_LAZY = {
    "WalkNetwork": "network",
    "load_network": "network",
    "coverage_matrix": "reach",
    "nearest_precinct": "reach",
    "minutes_to_metres": "settings",
    "Snapped": "snap",
    "snap_points": "snap",
    "Assessment": "assessment",
    "assess": "assessment",
    "assess_scenario": "assessment",
    "Study": "pipeline",
    "load_study": "pipeline",
    "run": "pipeline",
    "run_study": "pipeline",
    "walking_areas": "isochrones",
    "coverage_map": "maps",
    "save_map": "maps",
    "Demand": "population",
    "demand_from_buildings": "population",
    "demand_from_raster": "population",
    "demand_from_zones": "population",
    "read_buildings": "population",
    "study_area": "population",
    "precincts_from_osm": "precincts",
    "read_precincts": "precincts",
    "Scenario": "scenario",
    "load_scenario": "scenario",
    "SitingResult": "siting",
    "propose_sites": "siting",
    "solve_mclp": "siting",
    "solve_min_sites": "siting",
    "select_kinds": "vetting",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'walkshed' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Assessment",
    "Demand",
    "InputError",
    "Scenario",
    "SitingResult",
    "Snapped",
    "Study",
    "WalkNetwork",
    "WalkshedError",
    "assess",
    "assess_scenario",
    "coverage_map",
    "coverage_matrix",
    "demand_from_buildings",
    "demand_from_raster",
    "demand_from_zones",
    "load_network",
    "load_scenario",
    "load_study",
    "minutes_to_metres",
    "nearest_precinct",
    "precincts_from_osm",
    "propose_sites",
    "read_buildings",
    "read_precincts",
    "run",
    "run_study",
    "save_map",
    "select_kinds",
    "snap_points",
    "solve_mclp",
    "solve_min_sites",
    "study_area",
    "walking_areas",
]
__version__ = "0.2.0"
