"""Police precincts: where they are, what they are called, and whether they are working.

A precinct table follows the shared contract: a GeoDataFrame indexed by a unique string id,
with a ``name``, a ``status`` (``open`` = working today, ``planned`` = decided but not yet
working, ``candidate`` = a site under consideration) and a point geometry in EPSG:4326.

Precincts are read from GeoJSON, GeoPackage (or any vector file GDAL reads), from a CSV table
with latitude/longitude columns, or from the ``amenity=police`` objects of an OpenStreetMap
extract. :func:`validate_precincts` checks them against a loaded network.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ._common import STATUSES
from ._errors import input_error
from ._osm import OSM_SUFFIXES, read_tagged_points
from .i18n import message as _
from .network import WalkNetwork
from .snap import snap_points
from .vetting import KINDS, KindRules, classify, load_kind_rules

log = logging.getLogger(__name__)

__all__ = [
    "STATUSES",
    "default_name",
    "precincts_from_osm",
    "read_precincts",
    "validate_precincts",
]

#: The allowed precinct statuses, in the order they are reported.

_LAT_NAMES = ("lat", "latitude", "y")
_LON_NAMES = ("lon", "lng", "long", "longitude", "x")
_ID_NAMES = ("id", "precinct_id", "precinct", "code", "osm_id", "fid")
_NAME_NAMES = ("name", "precinct_name", "title", "label")
_STATUS_NAMES = ("status", "state")
_OSM_NAME_TAGS = ("name", "name:en", "official_name", "short_name", "operator")
_KIND_NAMES = ("kind",)
_STAFF_NAMES = ("inspectors", "inspectors_on_staff", "staff")


def _tags_of_row(row: pd.Series, name: str | None, tag_columns: list[str]) -> dict[str, str]:
    """The OSM tags a row carries: a ``tags`` column (dict or JSON), tag columns, its name."""
    import json

    tags: dict[str, str] = {}
    raw = row.get("tags") if "tags" in row.index else None
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = json.loads(raw)
    if isinstance(raw, dict):
        tags.update({str(k): str(v) for k, v in raw.items() if v is not None})
    for c in tag_columns:
        v = _clean_name(row[c])
        if v is not None:
            tags.setdefault(c, v)
    if name:
        tags.setdefault("name", name)
    return tags


def _kinds_and_staff(
    frame: gpd.GeoDataFrame, names: list[str], ids: list[str], what: str,
    kind_rules: KindRules | None = None,
) -> dict[str, list[Any]]:
    """``kind`` and ``kind_reason`` of every row (a ``kind`` column, else the rules), and
    ``inspectors`` when the file gives a staff column."""
    cols = [c for c in frame.columns if c != frame.geometry.name]
    kind_col = _find_column(cols, _KIND_NAMES)
    rules = kind_rules or load_kind_rules()
    keys = {k for r in rules.rules for k in r.tags}
    tag_columns = [c for c in cols if str(c) in keys and str(c) not in ("name",)]
    kinds: list[str] = []
    reasons: list[str] = []
    bad: list[str] = []
    for i, pid in enumerate(ids):
        given = _clean_name(frame[kind_col].iloc[i]) if kind_col is not None else None
        if given is not None:
            word = given.lower()
            if word not in KINDS:
                bad.append(f"{pid}: '{given}'")
            kinds.append(word)
            reasons.append(_("given in the file's '{column}' column", column=kind_col))
            continue
        own = None if names[i] == default_name(pid) else names[i]
        kind, reason = rules.classify(_tags_of_row(frame.iloc[i], own, tag_columns))
        kinds.append(kind)
        reasons.append(reason)
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise input_error(what, f"unknown kind in column '{kind_col}' ({shown})",
                          f"Use one of: {', '.join(KINDS)} (or leave it blank)")
    out: dict[str, list[Any]] = {"kind": kinds, "kind_reason": reasons}
    staff_col = _find_column(cols, _STAFF_NAMES)
    if staff_col is not None:
        values = pd.to_numeric(frame[staff_col], errors="coerce").to_numpy(dtype=float)
        blank = frame[staff_col].isna().to_numpy() | frame[staff_col].astype(str).str.strip().eq(
            "").to_numpy()
        wrong = ~blank & (~np.isfinite(values) | (values < 0) | (values % 1 != 0))
        if wrong.any():
            rows = ", ".join(f"{ids[j]}: '{frame[staff_col].iloc[j]}'"
                             for j in np.flatnonzero(wrong)[:5])
            raise input_error(what, f"column '{staff_col}' needs whole numbers of inspectors "
                              f">= 0 ({rows})", "Write the inspectors on staff, or leave it "
                              "blank when unknown")
        out["inspectors"] = [None if b else float(v) for b, v in zip(blank, values, strict=True)]
    return out


def read_precincts(
    source: str | os.PathLike[str] | gpd.GeoDataFrame,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
    status_column: str | None = None,
    lat_column: str | None = None,
    lon_column: str | None = None,
    default_status: str = "open",
    kind_rules: KindRules | None = None,
) -> gpd.GeoDataFrame:
    """Read precincts from a file or a GeoDataFrame into the precinct contract.

    Parameters
    ----------
    source
        A GeoJSON, GeoPackage or other vector file; a CSV file with latitude and longitude
        columns (in degrees, EPSG:4326); an OpenStreetMap extract (its ``amenity=police``
        objects, see :func:`precincts_from_osm`); or a GeoDataFrame. Polygons (station
        buildings) are represented by a point on their surface.
    id_column
        Column holding the precinct id. Default: the first of ``id``, ``precinct_id``,
        ``precinct``, ``code``, ``osm_id`` (prefixed by ``osm_type`` when present), ``fid``
        (any case); else the row number (``<file stem>-1``, ``-2``, ...).
    name_column
        Column holding the name. Default: ``name`` (or ``precinct_name``, ``title``,
        ``label``). Missing names become ``"Precinct <id>"``.
    status_column
        Column holding the status. Default: ``status`` or ``state`` when present.
    lat_column, lon_column
        CSV coordinate columns. Default: detected among ``lat``/``latitude``/``y`` and
        ``lon``/``lng``/``longitude``/``x`` (any case).
    default_status
        Status of rows without one (``open``, ``planned`` or ``candidate``).
    kind_rules
        The rules that give each precinct its kind; default the shipped ones
        (:func:`walkshed.vetting.load_kind_rules`).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by precinct id (str), columns ``name``, ``status``, ``kind``, ``kind_reason``,
        ``geometry`` (EPSG:4326), and ``inspectors`` (on staff) when the file gives them.
        The kind is the file's ``kind`` column where filled in (one of
        :data:`walkshed.vetting.KINDS`), else found by :func:`walkshed.vetting.classify` from
        the name and any OSM tag columns (``police``, ``attention``, ... or a ``tags``
        column of OSM tags). Inspectors on staff come from a column ``inspectors`` (or
        ``inspectors_on_staff``, ``staff``): whole numbers >= 0, blank when unknown.

    Raises
    ------
    InputError
        For a missing, unreadable or empty file, an unknown CRS, missing coordinate columns,
        duplicate ids or an unknown status.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> gdf = gpd.GeoDataFrame({"name": ["North"], "status": ["Planned"]},
    ...                        geometry=[shapely.Point(76.95, 43.25)], crs="EPSG:4326")
    >>> read_precincts(gdf).loc["0", ["name", "status"]].tolist()
    ['North', 'planned']
    """
    default_status = _check_status_word(default_status, "default_status")
    if isinstance(source, gpd.GeoDataFrame):
        what = "precincts"
        frame = source.copy()
        row_ids: list[str] = [str(i) for i in frame.index]
    else:
        path = Path(source)
        what = f"precinct file '{path}'"
        if path.name.lower().endswith(OSM_SUFFIXES):
            return precincts_from_osm(path, status=default_status, rules=kind_rules)
        frame = _read_file(path, what, lat_column=lat_column, lon_column=lon_column)
        row_ids = [f"{path.stem}-{i + 1}" for i in range(len(frame))]
    if len(frame) == 0:
        raise input_error(what, "contains no precincts (empty table)", "Give at least one row")
    if frame.crs is None:
        raise input_error(
            what,
            "has no coordinate reference system (CRS)",
            "Save it with its CRS (e.g. EPSG:4326 for longitude/latitude), or set it with "
            "gdf.set_crs(...)",
        )
    geom = frame.geometry
    missing = geom.isna() | geom.is_empty
    if missing.any():
        raise input_error(
            what,
            f"{int(missing.sum())} row(s) have no location",
            "Give every precinct a point, or drop those rows",
        )

    kinds = geom.geom_type
    lines = ~kinds.isin(("Point", "Polygon", "MultiPolygon"))
    if lines.any():
        first = int(np.flatnonzero(lines.to_numpy())[0])
        raise input_error(
            what,
            f"{int(lines.sum())} row(s) are {', '.join(sorted(set(kinds[lines])))}, not points "
            f"(the first is row {first + 1})",
            "Give each precinct as a point (a building's polygon is taken at a point inside it)",
        )
    polygons = kinds.isin(("Polygon", "MultiPolygon"))
    if polygons.any():
        log.warning("%s: %d polygon(s) taken at a point on their surface", what,
                    int(polygons.sum()))
    if pyproj.CRS.from_user_input(frame.crs).is_geographic:
        xy = shapely.get_coordinates(np.asarray(geom.values))
        if (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
            raise input_error(
                what,
                "coordinates are not longitude/latitude although the file says so (its CRS "
                "is missing or wrong; GeoJSON without a CRS is read as EPSG:4326)",
                "Save the file with its real CRS (e.g. as a GeoPackage), or reproject it to "
                "EPSG:4326",
            )
    ids = _ids(frame, id_column, row_ids, what)
    names = _names(frame, name_column, ids, what)
    statuses = _statuses(frame, status_column, ids, default_status, what)
    points = np.asarray(shapely.point_on_surface(np.asarray(geom.values)), dtype=object)
    columns: dict[str, Any] = {"name": names, "status": statuses}
    columns.update(_kinds_and_staff(frame, names, ids, what, kind_rules))
    out = gpd.GeoDataFrame(
        columns,
        geometry=gpd.GeoSeries(points, crs=frame.crs).to_crs("EPSG:4326").values,
        index=pd.Index(ids, name="precinct"),
        crs="EPSG:4326",
    )
    _check_unique(out.index, what)
    return out


def _read_file(
    path: Path, what: str, *, lat_column: str | None, lon_column: str | None
) -> gpd.GeoDataFrame:
    """Read a vector file or a CSV with coordinate columns."""
    if not path.exists():
        raise input_error(what, "file not found", "Check the path (relative paths start from "
                          "the folder you run in, or the scenario file's folder)")
    if not path.is_file():
        raise input_error(what, "is not a file", "Give a GeoJSON, GeoPackage or CSV file")
    if path.stat().st_size == 0:
        raise input_error(what, "the file is empty", "Give a file with at least one precinct")
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return _read_csv(path, what, lat_column=lat_column, lon_column=lon_column)
    import pyogrio

    try:
        # pyogrio, not geopandas.read_file: the latter warns on GeoJSON string columns that
        # look like JSON (e.g. a 'name' column holding NaN)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
            return pyogrio.read_dataframe(path)
    except Exception as exc:  # GDAL raises many kinds of errors for unreadable files
        raise input_error(
            what,
            f"cannot be read as a vector file ({exc})",
            "Give a GeoJSON, GeoPackage or a CSV with latitude and longitude columns",
        ) from exc


def _read_csv(
    path: Path, what: str, *, lat_column: str | None, lon_column: str | None
) -> gpd.GeoDataFrame:
    try:
        table = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise input_error(what, f"cannot be read as a CSV table ({exc})",
                          "Save it as UTF-8 CSV with a header row") from exc
    lat = _pick_column(table, lat_column, _LAT_NAMES, what, "latitude", "lat_column")
    lon = _pick_column(table, lon_column, _LON_NAMES, what, "longitude", "lon_column")
    if lat is None or lon is None:
        raise input_error(
            what,
            f"no latitude/longitude columns found among {list(table.columns)}",
            "Name them lat and lon (or latitude/longitude, y/x), or give lat_column and "
            "lon_column",
        )
    # a semicolon CSV (a European spreadsheet's) writes decimal commas: 43,25
    coords = table[[lat, lon]].apply(
        lambda c: pd.to_numeric(c.astype(str).str.strip().str.replace(",", ".", regex=False)
                                if not pd.api.types.is_numeric_dtype(c) else c,
                                errors="coerce"))
    bad = coords.isna().any(axis=1)
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise input_error(what, f"rows {rows} have no numeric {lat}/{lon}",
                          "Fill in the coordinates in degrees or drop those rows")
    la, lo = coords[lat].to_numpy(float), coords[lon].to_numpy(float)
    if (np.abs(la) > 90).any() or (np.abs(lo) > 180).any():
        raise input_error(
            what,
            f"columns {lat}/{lon} are not degrees (values beyond ±90/±180)",
            "Give longitude/latitude in degrees (EPSG:4326), or convert the table to a "
            "GeoPackage with its projected CRS",
        )
    rest = table.drop(columns=[lat, lon])
    return gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(lo, la), crs="EPSG:4326")


def _find_column(columns: Iterable[Any], names: Iterable[str]) -> str | None:
    """The first column whose lower-cased name is in ``names`` (by the order of ``names``)."""
    lower = {str(c).lower(): c for c in columns}
    for n in names:
        if n in lower:
            return str(lower[n])
    return None


def _pick_column(
    table: pd.DataFrame,
    given: str | None,
    names: Iterable[str],
    what: str,
    role: str,
    option: str,
) -> str | None:
    if given is None:
        return _find_column(table.columns, names)
    if given not in table.columns:
        raise input_error(
            what,
            f"has no {role} column '{given}' (columns: {', '.join(map(str, table.columns))})",
            f"Give one of those names as {option}",
        )
    return given


def _ids(frame: gpd.GeoDataFrame, column: str | None, row_ids: list[str], what: str) -> list[str]:
    cols = [c for c in frame.columns if c != frame.geometry.name]
    col = _pick_column(frame[cols], column, _ID_NAMES, what, "id", "id_column")
    if col is None:
        return row_ids
    values = frame[col]
    if values.isna().any():
        raise input_error(what, f"{int(values.isna().sum())} row(s) have no id in '{col}'",
                          f"Fill in '{col}' or choose another id_column")
    if pd.api.types.is_float_dtype(values) and (values % 1 == 0).all():
        values = values.astype(np.int64)
    ids = values.astype(str).str.strip()
    osm_type = _find_column(cols, ("osm_type",))
    if column is None and col.lower() == "osm_id" and osm_type is not None:
        ids = frame[osm_type].astype(str) + "/" + ids
    return ids.tolist()


def _names(frame: gpd.GeoDataFrame, column: str | None, ids: list[str], what: str) -> list[str]:
    cols = [c for c in frame.columns if c != frame.geometry.name]
    col = _pick_column(frame[cols], column, _NAME_NAMES, what, "name", "name_column")
    names: list[str] = []
    for i, pid in enumerate(ids):
        value = frame[col].iloc[i] if col is not None else None
        names.append(_clean_name(value) or default_name(pid))
    return names


def default_name(precinct_id: str) -> str:
    """The readable name given to a precinct without one.

    Examples
    --------
    >>> default_name("node/442563888")
    'Precinct node/442563888'
    """
    return f"Precinct {precinct_id}"


def _clean_name(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text if text and text.lower() not in ("nan", "none", "null") else None


def _check_status_word(value: Any, what: str) -> str:
    word = str(value).strip().lower()
    if word not in STATUSES:
        raise input_error(
            what,
            f"unknown status '{value}'",
            f"Use one of: {', '.join(STATUSES)}",
        )
    return word


def _statuses(
    frame: gpd.GeoDataFrame, column: str | None, ids: list[str], default: str, what: str
) -> list[str]:
    cols = [c for c in frame.columns if c != frame.geometry.name]
    col = _pick_column(frame[cols], column, _STATUS_NAMES, what, "status", "status_column")
    if col is None:
        return [default] * len(ids)
    out: list[str] = []
    bad: list[str] = []
    for pid, value in zip(ids, frame[col], strict=True):
        word = _clean_name(value)
        if word is None:
            out.append(default)
        elif word.lower() in STATUSES:
            out.append(word.lower())
        else:
            out.append(default)
            bad.append(f"{pid}: '{word}'")
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise input_error(
            what,
            f"unknown status in column '{col}' ({shown})",
            f"Use one of: {', '.join(STATUSES)}",
        )
    return out


def _check_unique(index: pd.Index, what: str) -> None:
    dup = index[index.duplicated()].unique()
    if len(dup):
        shown = ", ".join(map(str, dup[:5])) + (" ..." if len(dup) > 5 else "")
        raise input_error(
            what,
            f"duplicate precinct id(s): {shown}",
            "Give every precinct its own id (or choose another id_column)",
        )


def precincts_from_osm(
    path: str | os.PathLike[str], *, status: str = "open", rules: KindRules | None = None
) -> gpd.GeoDataFrame:
    """The ``amenity=police`` nodes and buildings of an OpenStreetMap extract as precincts.

    Parameters
    ----------
    path
        An ``.osm.pbf``, ``.osm`` or ``.osm.bz2`` extract.
    status
        Status given to every precinct.
    rules
        The kind rules; default the shipped ones (:func:`walkshed.vetting.load_kind_rules`).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``node/<id>`` or ``way/<id>``, with ``name`` (the OSM name, else
        ``"Precinct <id>"``), ``status``, ``kind`` and ``kind_reason`` (from the OSM tags by
        :func:`walkshed.vetting.classify`) and point geometry in EPSG:4326. Buildings are
        reduced to the mean of their vertices.
    """
    status = _check_status_word(status, "status")
    path = Path(path)
    found = read_tagged_points(path, "amenity", "police")
    if not found:
        raise input_error(
            f"OSM file '{path}'",
            "has no amenity=police objects",
            "Give a precinct file instead (GeoJSON, GeoPackage or CSV)",
        )
    ids = [f"{f.osm_type}/{f.osm_id}" for f in found]
    names = []
    for f, pid in zip(found, ids, strict=True):
        name = next((f.tags[k] for k in _OSM_NAME_TAGS if _clean_name(f.tags.get(k))), None)
        names.append(name.strip() if name else default_name(pid))
    kinds = [classify(f.tags, rules) for f in found]
    out = gpd.GeoDataFrame(
        {"name": names, "status": [status] * len(found), "kind": [k for k, _ in kinds],
         "kind_reason": [r for _, r in kinds]},
        geometry=gpd.points_from_xy([f.lon for f in found], [f.lat for f in found]),
        index=pd.Index(ids, name="precinct"),
        crs="EPSG:4326",
    )
    _check_unique(out.index, f"OSM file '{path}'")
    return out


def validate_precincts(
    precincts: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    max_snap_m: float | None = None,
    drop_outside: bool = False,
    what: str = "precincts",
) -> gpd.GeoDataFrame:
    """Check a precinct table against the contract and the network it will be used with.

    Parameters
    ----------
    precincts
        Precinct table (any CRS), as :func:`read_precincts` returns.
    network
        The walking network.
    max_snap_m
        A precinct farther than this from every street of the network is outside its area.
        Default :data:`walkshed.settings.max_snap_m`.
    drop_outside
        Drop precincts outside the network's area (logged) instead of raising.
    what
        Name of the input for error messages.

    Returns
    -------
    geopandas.GeoDataFrame
        The precincts (the same rows, or those inside the area with ``drop_outside``).

    Raises
    ------
    InputError
        When the table breaks the contract (CRS, ids, statuses, geometry) or precincts lie
        outside the network's area.
    """
    if not isinstance(precincts, gpd.GeoDataFrame):
        raise input_error(what, f"expected a GeoDataFrame, got {type(precincts).__name__}",
                          "Read them with walkshed.precincts.read_precincts")
    if len(precincts) == 0:
        raise input_error(what, "no precincts given (empty table)", "Give at least one precinct")
    if precincts.crs is None:
        raise input_error(what, "has no coordinate reference system (CRS)",
                          "Set it, e.g. gdf.set_crs('EPSG:4326')")
    pyproj.CRS.from_user_input(precincts.crs)
    for col in ("name", "status"):
        if col not in precincts.columns:
            raise input_error(what, f"has no '{col}' column",
                              "Read them with walkshed.precincts.read_precincts")
    _check_unique(precincts.index, what)
    bad = sorted(set(map(str, precincts["status"])) - set(STATUSES))
    if bad:
        raise input_error(what, f"unknown status {', '.join(bad)}",
                          f"Use one of: {', '.join(STATUSES)}")
    snapped = snap_points(network, precincts, max_snap_m=max_snap_m, what=what)
    outside = ~snapped.ok
    if outside.any():
        ids = [str(i) for i in precincts.index[outside]]
        shown = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
        if drop_outside:
            log.warning("dropped %d precinct(s) outside the network's area: %s", len(ids), shown)
            return precincts[~outside]
        raise input_error(
            what,
            f"{len(ids)} precinct(s) lie outside the network's area (no walkable street "
            f"within the snapping distance): {shown}",
            "Check their coordinates, load a network covering them, or drop them",
        )
    return precincts
