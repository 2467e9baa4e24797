"""Defaults, documented once here; every function that takes one of these says so.

Change them for a session with ``walkshed.settings.walk_speed_kmh = 5.0``, or per call through
the keyword of the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import input_error

#: Walking speed in km/h used to turn minutes into metres. 4.5 km/h is a common planning value
#: for adults on city streets including crossings (75 m per minute).
walk_speed_kmh: float = 4.5

#: Walking-time thresholds in minutes reported by default ("police at walking distance").
thresholds_min: tuple[float, ...] = (5.0, 10.0, 15.0)

#: Points farther than this from any walkable street (metres) are not snapped: they are flagged
#: unreachable instead of being attached to a far-away street.
max_snap_m: float = 500.0

#: Residents per district inspector (staffing norm). Kazakhstan's guidance for urban district
#: inspectors has been of the order of one per 3,000 residents; override it in the scenario.
residents_per_inspector: float = 3000.0

#: Width (metres) by which reached street segments are buffered when walking areas are drawn.
isochrone_buffer_m: float = 40.0

#: Spacing (metres) to which street-network candidate sites are thinned.
candidate_spacing_m: float = 150.0

#: Default number of building levels where ``building:levels`` is missing.
default_building_levels: float = 2.0

#: Density limits on spread residents (the plausibility checks of
#: :func:`walkshed.population.cap_and_spread`). Floor area per resident: at least 15 m² of
#: floor per resident, the lowest housing norm of Kazakhstan's Law "On Housing Relations"
#: (No. 94 of 16 April 1997, art. 75: 15 to 18 m² of useful floor per person), so at most
#: 1/15 resident per m² of floor (footprint x levels).
max_residents_per_m2_floor: float = 1.0 / 15.0

#: Levels assumed for the floor-area limit where ``building:levels`` is missing (the spreading
#: weight still uses :data:`default_building_levels`): untagged blocks in Almaty's 1960s-1990s
#: microdistricts are mostly of 5 and 9 storeys, so 9 keeps a real block under its limit.
max_levels_untagged: float = 9.0

#: At most this many residents in one building: a 16-storey block of 8 entrances with 4 flats a
#: floor (512 flats) at 3.5 residents a flat (a household of Kazakhstan is of the order of 3 to
#: 3.5 persons) holds about 1,800; 2,000 leaves room. An estimate, not a published figure.
max_residents_per_building: float = 2000.0

#: At most this many residents per km² in a square cell of :data:`density_cell_m`. The densest
#: large district of a European city, Paris's 11th arrondissement, has 39,566 per km² (INSEE,
#: census 2019: 145,208 residents, https://www.insee.fr/fr/statistiques/6455183?geo=COM-75111);
#: Almaty's densest district, Almaly, about 13,000 (224,600 residents on some 17 km²). 50,000 per
#: km² leaves room for dense blocks.
max_residents_per_km2: float = 50_000.0

#: Side (metres) of the square cells on which :data:`max_residents_per_km2` is checked.
density_cell_m: float = 300.0

#: Plain ``building=yes`` footprints count as homes in a zone only while the zone's typed
#: residential buildings (``apartments``, ``house``, ...) cover less than this share of the
#: footprint of typed-residential and ``yes`` buildings together: where mappers typed the
#: homes, an untyped building is more likely something else.
typed_residential_share: float = 0.5

#: Staffing norms (residents per district inspector) compared side by side in every run
#: (:mod:`walkshed.assessment.uncertainty`): 2,000 (implied by a report the issue cites),
#: 3,000 (the usual guidance) and 5,000.
compared_norms: tuple[float, ...] = (2000.0, 3000.0, 5000.0)

#: Whether the on-disk cache is used (networks, residents, candidates, coverage matrices, and
#: a run's assessment, walking areas and siting answer).
use_cache: bool = True

#: How many entries of each kind of a run's results (assessment, walking areas, siting
#: answer) the cache keeps: the least recently used beyond it are removed (an Almaty
#: assessment is 9 MB).
cache_results_kept: int = 32

#: Folder of the on-disk cache. ``$WALKSHED_CACHE_DIR`` overrides it.
cache_dir: Path = Path(
    os.environ.get("WALKSHED_CACHE_DIR", Path.home() / ".cache" / "walkshed")
)

#: Processes one run may use at once. Steps that do not depend on each other overlap in a
#: second process (siting beside the assessment; the printed report beside the map and the
#: tables; see :mod:`walkshed._background`); the outputs are the same either way. ``None``: the
#: machine's cores; 1: one process. ``$WALKSHED_WORKERS`` overrides the default.
workers: int | None = (int(os.environ["WALKSHED_WORKERS"])
                       if os.environ.get("WALKSHED_WORKERS", "").strip().isdigit() else None)

#: Whether long steps show a progress bar (only on a terminal in any case).
progress: bool = True

#: Whether ``highway=cycleway`` ways tagged ``foot=yes|designated|permissive`` (shared paths,
#: open to pedestrians) are walkable. osmnx's "walk" filter drops every cycleway; off (the
#: default) keeps that filter exactly. Networks cached with and without it are kept apart.
walk_cycleways_with_foot_access: bool = False


def minutes_to_metres(minutes: float, speed_kmh: float | None = None) -> float:
    """Convert a walking time to a distance.

    Parameters
    ----------
    minutes
        Walking time in minutes.
    speed_kmh
        Walking speed; default :data:`walk_speed_kmh`.

    Returns
    -------
    float
        Distance in metres.

    Examples
    --------
    >>> minutes_to_metres(10, 4.5)
    750.0
    """
    speed = walk_speed_kmh if speed_kmh is None else speed_kmh
    if speed <= 0:
        raise input_error(
            "walking speed", f"must be positive, got {speed} km/h",
            "Give a speed in km/h above 0 (an adult walks about 4.5)",
        )
    return float(minutes) * speed * 1000.0 / 60.0
