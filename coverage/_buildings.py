"""Reading OpenStreetMap buildings (footprints, type, levels) with pyosmium.

Closed ways and multipolygon relations tagged ``building=*`` are assembled into (multi)polygons by
libosmium's area handler; Python only sees the finished areas. Which building types house
residents is decided here too, in one list (:data:`NON_RESIDENTIAL`).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely

from ._osm import reading_osm

#: ``building=*`` values whose floor area houses no residents. Every other value counts as
#: residential; the bare ``building=yes`` (:func:`is_plain_yes`) only where a zone's typed
#: buildings leave it plausible (in most cities most buildings are tagged only ``yes``, and
#: they are mostly homes; see :func:`walkshed.population.demand_from_zones`). Follows the OSM
#: wiki's "Key:building" groups: commercial, industrial, religious, civic, agricultural,
#: sports, storage, transport, power, technical, and structures that are not buildings one
#: lives in.
NON_RESIDENTIAL: frozenset[str] = frozenset(
    {
        # commercial
        "commercial", "office", "industrial", "retail", "shop", "store", "supermarket",
        "kiosk", "warehouse", "hotel", "motel", "mall", "restaurant", "bank", "manufacture",
        "factory", "depot",
        # religious
        "religious", "cathedral", "chapel", "church", "mosque", "temple", "synagogue",
        "shrine", "monastery",
        # civic and amenity
        "civic", "government", "public", "school", "university", "college", "kindergarten",
        "hospital", "clinic", "fire_station", "police", "military", "prison", "museum",
        "library", "theatre", "townhall", "toilets", "train_station", "transportation",
        "station",
        # agricultural and outbuildings
        "barn", "cowshed", "farm_auxiliary", "greenhouse", "slurry_tank", "stable", "sty",
        "livestock", "shed", "allotment_house",
        # sports
        "grandstand", "pavilion", "riding_hall", "sports_hall", "sports_centre", "stadium",
        # storage and vehicles
        "garage", "garages", "carport", "parking", "hangar", "boathouse", "storage_tank",
        "silo",
        # power and technical
        "service", "transformer_tower", "water_tower", "tower", "digester", "power",
        "substation", "utility",
        # not a dwelling
        "roof", "shelter", "bunker", "bridge", "gatehouse", "ruins", "construction",
        "demolished", "disused", "abandoned", "collapsed", "no", "wall", "container",
        "tent",
    }
)


def is_residential(building: str | None) -> bool:
    """Whether a ``building=*`` value counts as housing residents.

    Examples
    --------
    >>> is_residential("yes"), is_residential("apartments"), is_residential("garages")
    (True, True, False)
    """
    if building is None:
        return False
    value = str(building).strip().lower()
    return bool(value) and value not in NON_RESIDENTIAL


def is_plain_yes(building: str | None) -> bool:
    """Whether a ``building=*`` value is the bare ``yes`` (a building of unknown use).

    Such buildings count as homes only where a zone's evidence supports it
    (:data:`walkshed.settings.typed_residential_share`).

    Examples
    --------
    >>> is_plain_yes("yes"), is_plain_yes(" YES "), is_plain_yes("apartments")
    (True, True, False)
    """
    return building is not None and str(building).strip().lower() == "yes"


def parse_levels(value: str | float | None) -> float:
    """``building:levels`` as a positive number, NaN when missing or unreadable.

    Values such as ``"5"``, ``"4.5"``, ``"5;9"`` (the largest is taken) or ``"3-5"`` (the mean)
    are understood; zero and negative values are treated as missing.

    Examples
    --------
    >>> parse_levels("9"), parse_levels("5;9"), parse_levels("3-5"), parse_levels("many")
    (9.0, 9.0, 4.0, nan)
    """
    if value is None:
        return math.nan
    if isinstance(value, (int, float)):
        out = float(value)
        return out if math.isfinite(out) and out > 0 else math.nan
    text = str(value).strip().replace(",", ".")
    try:
        if ";" in text:
            parts = [parse_levels(p) for p in text.split(";")]
            good = [p for p in parts if not math.isnan(p)]
            return max(good) if good else math.nan
        if "-" in text[1:]:
            lo, hi = text.split("-", 1)
            out = (float(lo) + float(hi)) / 2.0
        else:
            out = float(text)
    except ValueError:
        return math.nan
    return out if math.isfinite(out) and out > 0 else math.nan


def read_buildings(path: Path) -> gpd.GeoDataFrame:
    """Every ``building=*`` footprint of an OSM file, in EPSG:4326.

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file.

    Returns
    -------
    geopandas.GeoDataFrame
        ``osm_type`` ("way"/"relation"), ``osm_id``, ``building`` (the tag value), ``levels``
        (``building:levels`` parsed, NaN where missing) and (multi)polygon ``geometry``.
    """
    path = Path(path)
    wkb = osmium.geom.WKBFactory()
    types: list[str] = []
    ids: list[int] = []
    kinds: list[str] = []
    levels: list[float] = []
    geoms: list[str] = []
    with reading_osm(path, "buildings file"):
        fp = (
            osmium.FileProcessor(str(path))
            .with_areas(osmium.filter.KeyFilter("building"))
            .with_filter(osmium.filter.EntityFilter(osmium.osm.AREA))
        )
        for area in fp:
            if not isinstance(area, osmium.osm.Area):
                continue
            kind = area.tags.get("building")
            if kind is None:
                continue
            try:
                geom = wkb.create_multipolygon(area)
            except RuntimeError:  # broken ring in the data: skip that building
                continue
            from_way = area.from_way()
            types.append("way" if from_way else "relation")
            ids.append(int(area.orig_id()))
            kinds.append(kind)
            levels.append(parse_levels(area.tags.get("building:levels")))
            geoms.append(geom)
    geometry = shapely.from_wkb(np.asarray(geoms, dtype=object)) if geoms else np.empty(0, object)
    frame = pd.DataFrame(
        {
            "osm_type": pd.Series(types, dtype=object),
            "osm_id": np.asarray(ids, dtype=np.int64),
            "building": pd.Series(kinds, dtype=object),
            "levels": np.asarray(levels, dtype=np.float64),
        }
    )
    gdf = gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
    # a single-polygon multipolygon is just a polygon
    single = shapely.get_num_geometries(gdf.geometry.values) == 1
    if single.any():
        gdf.loc[single, "geometry"] = shapely.get_geometry(gdf.geometry.values[single], 0)
    return gdf
