"""On-disk cache of the residents a scenario places (demand points, reports, alternatives).

Like the network cache: an entry's name is the SHA-256 of everything it depends on (the
population options, every input file's bytes -- the network's extract too, as buildings may come
from it --, the network's content, the settings the population module reads, the package
version), written atomically; an entry that cannot be read is placed again, never trusted. The
warnings logged while placing are stored and replayed on a hit. Only plain frames (a range
index, point geometry or none, number or text columns) are stored; anything else is simply not
cached.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .network.load import file_sha256

#: Bumped when what a scenario places (or how it is stored) changes.
_FORMAT = 1


def cache_key(scen: Any, network: Any, kind: str) -> str | None:
    """The key of the entry ``kind`` of a scenario's residents: every input's bytes, the
    network, the settings (it identifies the residents: they are placed from exactly these);
    None when an input cannot be read (the loader names it)."""
    from . import __version__
    from .siting import cache as store

    files = [v for v in dataclasses.asdict(scen.population).values() if isinstance(v, Path)]
    files += [scen.network.file] if scen.network.file is not None else []
    hashes = []
    for f in files:
        try:
            hashes.append(file_sha256(f))
        except OSError:
            return None
    return store.digest(kind, _FORMAT, __version__, repr(scen.population), hashes,
                        store.network_digest(network), settings.max_snap_m,
                        settings.default_building_levels)


def cached_frames(scen: Any, network: Any, cache: bool | None, kind: str,
                  build: Callable[[], dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """``build()`` (named frames) from the cache when the scenario's inputs are unchanged."""
    from .siting import cache as store

    if not (settings.use_cache if cache is None else cache):
        return build()
    key = cache_key(scen, network, kind)
    if key is None:
        return build()  # the loader names the missing file
    logged: list[logging.LogRecord] = []
    built: dict[str, dict[str, pd.DataFrame]] = {}

    def arrays() -> dict[str, np.ndarray]:
        handler = logging.Handler(logging.WARNING)
        handler.emit = logged.append  # type: ignore[method-assign, assignment]
        root = logging.getLogger("walkshed")
        root.addHandler(handler)
        try:
            built["frames"] = build()
        finally:
            root.removeHandler(handler)
        return _to_arrays(built["frames"], logged)

    data = store.cached_arrays(kind, key, arrays, use=True)
    if "frames" in built:
        return built["frames"]
    try:
        frames = {str(n): _frame_of(data, f"f{i}_", network.crs)
                  for i, n in enumerate(data["names"])}
        replay = list(zip(data["log_name"], data["log_level"], data["log_msg"], strict=True))
    except (KeyError, ValueError):  # an entry not as written: placed again, never trusted
        return build()
    for name, level, msg in replay:
        logging.getLogger(str(name)).log(int(level), "%s", str(msg))
    return frames


def cached_snaps(network: Any, frames: Iterable[gpd.GeoDataFrame], cache: bool | None, *,
                 max_snap_m: float | None = None) -> None:
    """Snap each frame's points to the network once, through the on-disk cache, and hand the
    results to :func:`walkshed.snap.remember_snapped`: the assessment, the comparison of
    population methods and the siting then find them without snapping again.

    An entry's name is the SHA-256 of the network's content, the points' coordinates and the
    limit; an entry that does not fit the points is snapped again, never trusted. Frames that
    cannot be snapped as they are (no CRS, no points) are left to the step that says why.
    """
    from . import __version__
    from ._errors import InputError
    from .siting import cache as store
    from .snap import Snapped, points_in_network_crs, remember_snapped, snap_geometries

    if not (settings.use_cache if cache is None else cache):
        return
    limit = float(settings.max_snap_m if max_snap_m is None else max_snap_m)
    net_key = store.network_digest(network)
    for frame in frames:
        try:
            pts = points_in_network_crs(network, frame, "demand")
        except InputError:
            continue
        pxy = shapely.get_coordinates(pts)
        if len(pxy) != len(pts) or not np.isfinite(pxy).all():
            continue
        key = store.digest("snapped", _FORMAT, __version__, net_key, limit, pxy)
        made: list[Snapped] = []

        def snap(pts: np.ndarray = pts, made: list[Snapped] = made) -> dict[str, np.ndarray]:
            made.append(snap_geometries(network, pts, max_snap_m=limit))
            return {f.name: getattr(made[0], f.name) for f in dataclasses.fields(Snapped)}

        data = store.cached_arrays("snapped", key, snap, use=True)
        if made:
            continue  # snapped just now: snap_geometries remembers it already
        found = _snapped_of(data, len(pts), network.n_edges)
        if found is not None:
            remember_snapped(network, pts, found, max_snap_m=limit)


def _snapped_of(data: dict[str, np.ndarray], n: int, n_edges: int) -> Any:
    """The :class:`walkshed.snap.Snapped` of a cache entry, or None when it does not fit."""
    from .snap import Snapped

    try:
        edge = np.asarray(data["edge"])
        out = Snapped(edge, np.asarray(data["offset_m"], dtype=float),
                      np.asarray(data["access_m"], dtype=float),
                      np.asarray(data["xy"], dtype=float))
    except KeyError:
        return None
    if not (edge.dtype.kind == "i" and edge.shape == (n,) and out.offset_m.shape == (n,)
            and out.access_m.shape == (n,) and out.xy.shape == (n, 2)
            and (n == 0 or (edge.min() >= -1 and edge.max() < n_edges))):
        return None
    return out


def _to_arrays(frames: dict[str, pd.DataFrame], logged: list[Any]) -> dict[str, np.ndarray]:
    """The frames as named arrays; empty (nothing stored) when one is not plain."""
    out: dict[str, np.ndarray] = {}
    for i, frame in enumerate(frames.values()):
        part = _frame_arrays(frame, f"f{i}_")
        if part is None:
            return {}
        out.update(part)
    out["names"] = np.asarray(list(frames), dtype=str)
    out["log_name"] = np.asarray([r.name for r in logged], dtype=str)
    out["log_level"] = np.asarray([r.levelno for r in logged], dtype=np.int64)
    out["log_msg"] = np.asarray([r.getMessage() for r in logged], dtype=str)
    return out


def _frame_arrays(frame: pd.DataFrame, pre: str) -> dict[str, np.ndarray] | None:
    geo = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns
    cols = [c for c in frame.columns if not (geo and c == frame.geometry.name)]
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
            and frame.index.step == 1 and all(isinstance(c, str) for c in cols)):
        return None
    out: dict[str, np.ndarray] = {}
    if geo:
        geom = np.asarray(frame.geometry.values)
        if frame.crs is None or not bool(np.all(shapely.get_type_id(geom) == 0)):
            return None
        out[f"{pre}xy"] = shapely.get_coordinates(geom)
    for i, c in enumerate(cols):
        v = frame[c]
        if pd.api.types.is_bool_dtype(v) or pd.api.types.is_numeric_dtype(v):
            out[f"{pre}col_{i}"] = v.to_numpy()
        elif ((pd.api.types.infer_dtype(v, skipna=False) == "string"  # all text (quick)
               and not bool(v.isna().any()))
              or v.map(lambda x: x is None or isinstance(x, str)).all()):  # text or None
            none = v.isna().to_numpy()
            out[f"{pre}col_{i}"] = np.where(none, "", v.to_numpy(dtype=object)).astype(str)
            out[f"{pre}none_{i}"] = none
        else:
            return None
    out[f"{pre}columns"] = np.asarray(cols, dtype=str)
    out[f"{pre}rows"] = np.asarray(len(frame), dtype=np.int64)
    return out


def _frame_of(data: dict[str, np.ndarray], pre: str, crs: Any) -> pd.DataFrame:
    cols = [str(c) for c in data[f"{pre}columns"]]
    values: dict[str, Any] = {}
    for i, c in enumerate(cols):
        v = data[f"{pre}col_{i}"]
        if f"{pre}none_{i}" in data:
            v = v.astype(object)
            v[data[f"{pre}none_{i}"]] = None
        values[c] = v
    index = pd.RangeIndex(int(data[f"{pre}rows"]))
    if f"{pre}xy" in data:
        return gpd.GeoDataFrame(values, geometry=shapely.points(data[f"{pre}xy"]), crs=crs,
                                index=index)
    return pd.DataFrame(values, index=index)
