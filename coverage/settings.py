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

#: Whether loaded networks are cached on disk.
use_cache: bool = True

#: Folder of the on-disk cache (networks). ``$WALKSHED_CACHE_DIR`` overrides it.
cache_dir: Path = Path(
    os.environ.get("WALKSHED_CACHE_DIR", Path.home() / ".cache" / "walkshed")
)

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
