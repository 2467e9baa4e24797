"""``load_network``: the walking network of an OSM extract or of an area fetched online."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyproj
import shapely

from .. import settings
from .._errors import input_error
from .._osm import OSM_SUFFIXES, WALK_FILTER_VERSION, check_osm_file, read_walk_ways
from ._online import fetch_online
from .build import network_from_ways
from .cache import CACHE_FORMAT, cached, entry_path
from .graph import WalkNetwork

__all__ = ["file_sha256", "load_network"]


def _is_osm_path(source: str | os.PathLike[str]) -> bool:
    s = str(source).lower()
    return isinstance(source, os.PathLike) or s.endswith(OSM_SUFFIXES) or Path(s).exists()


def load_network(
    source: str | os.PathLike[str] | shapely.Geometry | Sequence[float],
    *,
    crs: Any = None,
    keep_largest: bool = True,
    cache: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    foot_cycleways: bool | None = None,
) -> WalkNetwork:
    """Load the walking network of an OSM extract or of an area fetched online.

    Parameters
    ----------
    source
        One of: a path to an ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` file (read offline with
        pyosmium); a place name such as ``"Almaty, Kazakhstan"``; a shapely (Multi)Polygon in
        EPSG:4326; or a bounding box ``(west, south, east, north)`` in degrees. The last three are
        fetched online through osmnx with its ``"walk"`` network type.
    crs
        Projected CRS for the network; default the UTM zone of the network's centre.
    keep_largest
        Keep only the largest connected component; what is dropped is reported in
        ``network.dropped`` and logged.
    cache
        Read and write the on-disk cache; default :data:`walkshed.settings.use_cache`. The key
        is the file's content hash (or the query) and these settings. A stale or unreadable
        entry is rebuilt.
    cache_dir
        Cache folder; default :data:`walkshed.settings.cache_dir`.
    foot_cycleways
        Also walk ``highway=cycleway`` ways tagged ``foot=yes|designated|permissive`` (shared
        paths), which osmnx's ``"walk"`` filter drops; default
        :data:`walkshed.settings.walk_cycleways_with_foot_access`. Part of the cache key.

    Returns
    -------
    WalkNetwork
    """
    use_cache = settings.use_cache if cache is None else cache
    folder = Path(cache_dir) if cache_dir is not None else Path(settings.cache_dir)
    shared_paths = (
        settings.walk_cycleways_with_foot_access if foot_cycleways is None else foot_cycleways
    )
    crs_key = None if crs is None else pyproj.CRS.from_user_input(crs).to_wkt()
    settings_key = {
        "filter": WALK_FILTER_VERSION,
        "format": CACHE_FORMAT,
        "crs": crs_key,
        "keep_largest": keep_largest,
        "foot_cycleways": shared_paths,
    }

    if isinstance(source, (str, os.PathLike)) and _is_osm_path(source):
        path = Path(source)
        check_osm_file(path)
        key_src = {"file_sha256": file_sha256(path)}

        def build() -> WalkNetwork:
            return network_from_ways(
                read_walk_ways(path, foot_cycleways=shared_paths),
                crs=crs,
                keep_largest=keep_largest,
                source=path.name,
            )
    else:
        key_src = {"query": _query_key(source)}

        def build() -> WalkNetwork:
            return fetch_online(
                source, crs=crs, keep_largest=keep_largest, foot_cycleways=shared_paths
            )

    if not use_cache:
        return build()
    return cached(entry_path(folder, key_src, settings_key), build)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes, computed once per process while the file's size and
    modification time stay the same (the caches of a run key several entries on the same
    extract).

    Raises
    ------
    OSError
        When the file cannot be read.
    """
    p = Path(path).resolve()
    st = p.stat()
    stamp = (str(p), st.st_size, st.st_mtime_ns)
    known = _HASHES.get(stamp)
    if known is not None:
        return known
    h = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if len(_HASHES) > 64:
        _HASHES.clear()
    _HASHES[stamp] = out = h.hexdigest()
    return out


_HASHES: dict[tuple[str, int, int], str] = {}


def _query_key(source: Any) -> str:
    if isinstance(source, shapely.Geometry):
        return "wkt:" + shapely.to_wkt(source, rounding_precision=7)
    if isinstance(source, str):
        return "place:" + source.strip()
    try:
        return "bbox:" + ",".join(f"{float(c):.7f}" for c in source)
    except (TypeError, ValueError) as exc:
        raise input_error(
            f"network source {source!r}",
            "is neither a file, a place name, a polygon nor a bounding box",
            "Give a path to an .osm.pbf file, a place name, a shapely polygon in EPSG:4326 or "
            "(west, south, east, north)",
        ) from exc
