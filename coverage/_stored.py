"""The plain-data form of walkshed's results, for the on-disk cache.

An entry is named arrays (``numpy.savez``, read with ``allow_pickle=False``) and JSON: frames as
their columns (numbers as they are, text with a mask of the missing, geometries as WKB), and
walkshed's sentences (:class:`walkshed.i18n.Message`) by their catalogue key and fields. Nothing
read back can be code: a sentence must be one of the catalogue's, or the entry is refused (and
the result computed again, never trusted). What this form cannot keep exactly (another index,
a column of other objects) is simply not cached: the encoders raise TypeError.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

_MESSAGE, _FIGURE = "$message", "$figure"


# ---------------------------------------------------------------------------------------------
# the code that computed an entry

_CODE: list[str] = []


def code_digest() -> str:
    """SHA-256 of walkshed's version and own source files (once per process): results
    computed by other code (an update, a change between releases of the same version) are
    computed again."""
    if not _CODE:
        from pathlib import Path

        from . import __version__

        root = Path(__file__).resolve().parent
        h = hashlib.sha256(__version__.encode())
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
        _CODE.append(h.hexdigest())
    return _CODE[0]


# ---------------------------------------------------------------------------------------------
# values: numbers, text, lists, dicts and walkshed's sentences


@functools.cache
def known_msgids() -> frozenset[Any]:
    """Every sentence walkshed can say (the catalogue's keys)."""
    from .i18n import translator

    return frozenset(getattr(translator("ru")._t, "_catalog", {}))


def encoded(v: Any, known: frozenset[Any]) -> Any:
    """``v`` as JSON: Messages (from the catalogue) and Figures tagged, numbers plain;
    TypeError for anything else."""
    from .i18n import Figure, Message

    if isinstance(v, Message):
        if (v.msgid if v.plural is None else (v.msgid, 0)) not in known:
            raise TypeError(f"a sentence not in the catalogue: {v.msgid!r}")
        return {_MESSAGE: [v.msgid, v.plural, encoded(v.count, known),
                           {k: encoded(x, known) for k, x in v.fields.items()}]}
    if isinstance(v, Figure):
        return {_FIGURE: [v.kind, encoded(v.value, known), int(v.digits)]}
    if v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, np.bool_):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (list, tuple)):
        return [encoded(x, known) for x in v]
    if isinstance(v, dict) and all(isinstance(k, str) and not k.startswith("$") for k in v):
        return {k: encoded(x, known) for k, x in v.items()}
    raise TypeError(f"cannot keep {type(v).__name__} in the cache")


def decoded(v: Any, known: frozenset[Any]) -> Any:
    """The inverse of :func:`encoded` (ValueError for a sentence not in the catalogue)."""
    from .i18n import Figure, Message

    if isinstance(v, list):
        return [decoded(x, known) for x in v]
    if isinstance(v, dict):
        if set(v) == {_MESSAGE}:
            msgid, plural, count, fields = v[_MESSAGE]
            if not isinstance(msgid, str) or not isinstance(fields, dict) or (
                    msgid if plural is None else (msgid, 0)) not in known:
                raise ValueError("a cached sentence walkshed does not say")
            return Message(msgid, plural, decoded(count, known),
                           **{str(k): decoded(x, known) for k, x in fields.items()})
        if set(v) == {_FIGURE}:
            kind, value, digits = v[_FIGURE]
            return Figure(str(kind), decoded(value, known), int(digits))
        return {k: decoded(x, known) for k, x in v.items()}
    return v


# ---------------------------------------------------------------------------------------------
# geometries


def packed(name: str, geoms: np.ndarray) -> dict[str, np.ndarray]:
    """Geometries as WKB bytes end to end and where each ends."""
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object)).tolist()
    return {f"{name}_wkb": np.frombuffer(b"".join(wkb), dtype=np.uint8),
            f"{name}_ends": np.cumsum([len(w) for w in wkb], dtype=np.int64)}


def unpacked(data: dict[str, np.ndarray], name: str, n: int) -> np.ndarray:
    """The ``n`` geometries :func:`packed` stored (ValueError when they are not there)."""
    blob, ends = data.get(f"{name}_wkb"), data.get(f"{name}_ends")
    if blob is None or ends is None or len(ends) != n or (n and ends[-1] != len(blob)):
        raise ValueError(f"cached {name}: not {n} geometries")
    raw = blob.tobytes()
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64).tolist()
    geoms = shapely.from_wkb([raw[a:b] for a, b in zip(starts, ends.tolist(), strict=True)])
    return np.asarray(geoms, dtype=object)


# ---------------------------------------------------------------------------------------------
# frames


def _text(v: pd.Series) -> bool:
    """Whether every value is text or missing (None, or NaN in a text dtype)."""
    if isinstance(v.dtype, pd.StringDtype):
        return True
    return bool(v.map(lambda x: x is None or isinstance(x, str)).all())


def frame_arrays(frame: pd.DataFrame, pre: str) -> dict[str, np.ndarray]:
    """``frame`` (a range index; text, number, truth-value columns and its geometry) as named
    arrays prefixed ``pre``; TypeError when it is not such a frame."""
    geo = isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns
    gname = frame.geometry.name if geo else None
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
            and frame.index.step == 1 and frame.index.name is None
            and all(isinstance(c, str) for c in frame.columns)
            and frame.columns.is_unique):
        raise TypeError("not a plain frame (index or column names)")
    kinds: list[str] = []
    out: dict[str, np.ndarray] = {}
    for i, c in enumerate(frame.columns):
        v = frame[c]
        if c == gname:
            kinds.append("geometry")
            out.update(packed(f"{pre}g{i}", np.asarray(v.values)))
        elif v.dtype.kind in "biuf" and isinstance(v.dtype, np.dtype):
            kinds.append("array")
            out[f"{pre}c{i}"] = v.to_numpy()
        elif (isinstance(v.dtype, pd.StringDtype) or v.dtype == object) and _text(v):
            dt = v.dtype
            kinds.append(f"text:{dt.storage}:{'nan' if dt.na_value is not pd.NA else 'NA'}"
                         if isinstance(dt, pd.StringDtype) else "object")
            none = v.isna().to_numpy(dtype=bool)
            out[f"{pre}c{i}"] = np.where(none, "", v.to_numpy(dtype=object)).astype(str)
            out[f"{pre}n{i}"] = none
        else:
            raise TypeError(f"column {c!r} ({v.dtype}) is not kept in the cache")
    head = {"columns": list(frame.columns), "kinds": kinds, "rows": len(frame),
            "geometry": gname, "crs": frame.crs.to_wkt() if geo and frame.crs else None}
    out[f"{pre}head"] = np.asarray(json.dumps(head))
    return out


def frame_of(data: dict[str, np.ndarray], pre: str, crs: Any = None) -> pd.DataFrame:
    """The frame :func:`frame_arrays` stored (KeyError or ValueError when it is not there).

    A frame with geometries is given ``crs``, which must be the one it was stored with: the
    coordinate system is never read from the entry (PROJ would be handed its text)."""
    import pyproj

    head = json.loads(str(data[f"{pre}head"]))
    n = int(head["rows"])
    if head["geometry"] is not None:
        if crs is None or head["crs"] != pyproj.CRS.from_user_input(crs).to_wkt():
            raise ValueError("cached geometries in another coordinate system")
        crs = pyproj.CRS.from_user_input(crs)
    values: dict[str, Any] = {}
    for i, (c, kind) in enumerate(zip(head["columns"], head["kinds"], strict=True)):
        if kind == "geometry":
            values[c] = gpd.GeoSeries(unpacked(data, f"{pre}g{i}", n), crs=crs)
            continue
        v = data[f"{pre}c{i}"]
        if len(v) != n:
            raise ValueError(f"cached column {c!r}: {len(v)} values for {n} rows")
        if kind == "array":
            if v.dtype.kind not in "biuf":
                raise ValueError(f"cached column {c!r}: not numbers")
            values[c] = v
            continue
        text = v.astype(object)
        text[np.asarray(data[f"{pre}n{i}"], dtype=bool)] = None
        if kind == "object":
            values[c] = pd.Series(text, dtype=object, index=pd.RangeIndex(n))
        else:
            _, storage, na = kind.split(":")
            if storage not in ("python", "pyarrow") or na not in ("nan", "NA"):
                raise ValueError(f"cached column {c!r}: unknown text type {kind!r}")
            values[c] = pd.array(text, dtype=pd.StringDtype(
                storage=storage, na_value=np.nan if na == "nan" else pd.NA))
    frame = pd.DataFrame(values, index=pd.RangeIndex(n), columns=list(head["columns"]))
    if head["geometry"] is not None:
        return gpd.GeoDataFrame(frame, geometry=head["geometry"], crs=crs)
    return frame


def _texty(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "O")


def frame_digest(frame: pd.DataFrame | None) -> str:
    """A content hash of a frame: its columns (names, types, values), index and geometries
    (with their CRS); TypeError for a frame of other objects."""
    h = hashlib.sha256()
    if frame is None:
        h.update(b"none")
        return h.hexdigest()
    geo = isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns
    # text is text, in an object or a string column (a frame read back from the residents'
    # cache has the string type where the freshly placed one has objects)
    h.update(json.dumps([[str(c), "text" if _texty(t) else str(t)]
                         for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame.index, index=False).to_numpy().tobytes())
    if geo:
        h.update(str(frame.crs.to_wkt() if frame.crs else None).encode())
    for c in frame.columns:
        v = frame[c]
        if isinstance(v.dtype, gpd.array.GeometryDtype):
            g = np.asarray(v.values)
            if bool(np.all(shapely.get_type_id(g) == 0)):
                h.update(b"points")
                h.update(np.ascontiguousarray(shapely.get_coordinates(g)).tobytes())
            else:
                for w in shapely.to_wkb(g).tolist():
                    h.update(len(w or b"").to_bytes(8, "little"))
                    h.update(w or b"")
        elif v.dtype.kind in "biuf" and isinstance(v.dtype, np.dtype):
            h.update(np.ascontiguousarray(v.to_numpy()).tobytes())
        else:
            missing = v.isna().to_numpy(dtype=bool)
            if _texty(v.dtype):  # the same text hashes the same in either type
                values = v.to_numpy(dtype=object, copy=True)
                values[missing] = None
                v = pd.Series(values, dtype="object")
            try:  # and where values are missing: "None" the text is not None
                h.update(pd.util.hash_pandas_object(v, index=False).to_numpy().tobytes())
                h.update(missing.tobytes())
            except TypeError as exc:
                raise TypeError(f"column {c!r} cannot be hashed: {exc}") from None
    return h.hexdigest()
