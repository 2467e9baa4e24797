"""Tables and layers a planner opens in Excel or QGIS: rounded, labelled, in longitude/latitude.

One place says what every output column is (:data:`HEADERS`: the header with its unit, and
the column's kind), so the CSVs, the workbook and the GeoPackage round the same way and the
headers can be translated later.

- People are whole numbers (rounded half to even), shares fractions with 4 decimals (the
  workbook shows them in percent format), walks in whole metres, coordinates 7 decimals.
- CSVs are UTF-8 with a byte-order mark, comma separated, dot decimals: Excel (any locale)
  recognises the encoding on Data > From Text/CSV; in a locale whose list separator is ``;``
  (Russian) a double-click does not split the columns, so open ``walkshed.xlsx`` instead.
- ``precincts.csv`` has one row per precinct, the figures of each scenario side by side
  (``..._open``, ``..._with_planned``), with its ``lon``/``lat`` and district.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _common

if TYPE_CHECKING:
    from .i18n import Translator

__all__ = ["HEADERS", "catchment_polygons", "column_kind", "header", "precinct_table", "tidy",
           "write_workbook"]

def _(message: str) -> str:
    """Mark ``message`` for extraction by pybabel (:func:`header` translates it)."""
    return message


#: Column -> (header with unit, kind). Kinds: ``people``, ``share``, ``metres``, ``degrees``,
#: ``count``, ``text``. Columns named ``within_*`` / ``gain_alone_*`` are people, ``share_*``
#: shares, and a ``_open`` / ``_with_planned`` suffix keeps the kind of its stem.
HEADERS: dict[str, tuple[str, str]] = {
    "precinct": (_("Precinct id"), "text"),
    "name": (_("Name"), "text"),
    "status": (_("Status"), "text"),
    "kind": (_("Kind"), "text"),
    "district": (_("District"), "text"),
    "district_by": (_("District found by"), "text"),
    "scenario": (_("Scenario"), "text"),
    "residents": (_("Residents (people)"), "people"),
    "residents_served": (_("Residents served (people)"), "people"),
    "median_walk_m": (_("Median walk (m)"), "metres"),
    "p90_walk_m": (_("90th-percentile walk (m)"), "metres"),
    "inspectors_needed": (_("Inspectors needed (people)"), "count"),
    "open": (_("Open precincts"), "count"),
    "planned": (_("Planned precincts"), "count"),
    "candidate": (_("Candidate precincts"), "count"),
    "step": (_("Step"), "count"),
    "gain": (_("Residents added (people)"), "people"),
    "cumulative_covered": (_("Residents covered, cumulative (people)"), "people"),
    "cumulative_share": (_("Share covered, cumulative (%)"), "share"),
    "gain_alone": (_("Residents it adds alone (people)"), "people"),
    "rank": (_("Rank"), "count"),
    "site": (_("Site"), "text"),
    "source": (_("Source"), "text"),
    "x": (_("x (m, network CRS)"), "metres"),
    "y": (_("y (m, network CRS)"), "metres"),
    "lon": (_("Longitude (°, WGS 84)"), "degrees"),
    "lat": (_("Latitude (°, WGS 84)"), "degrees"),
    "newly_covered": (_("Residents newly covered (people)"), "people"),
    "best_for_k": (_("Best with this many sites (people)"), "people"),
    "price_of_phasing": (_("Price of phasing (people)"), "people"),
    "nearest_open_m": (_("Walk to the nearest open precinct (m)"), "metres"),
    "street": (_("Nearest street"), "text"),
    "address": (_("Nearest address"), "text"),
    "address_m": (_("Distance to the address (m)"), "metres"),
    "area": (_("Area"), "text"),
    "population": (_("Residents (people)"), "people"),
    "cells": (_("Cells"), "count"),
    "seed_cell": (_("Seed cell"), "text"),
    "covered_by_planned": (_("Covered by planned precincts (people)"), "people"),
    "centroid_lon": (_("Centroid longitude (°, WGS 84)"), "degrees"),
    "centroid_lat": (_("Centroid latitude (°, WGS 84)"), "degrees"),
    "walk_to_open_m": (_("Walk from the centroid to an open precinct (m)"), "metres"),
    "nearest_open": (_("Nearest open precinct"), "text"),
    "zone": (_("Zone"), "text"),
    "method": (_("Method"), "text"),
    "points": (_("Demand points"), "count"),
}

_SUFFIXES = {"_open": _(" (open)"), "_with_planned": _(" (open + planned)")}


def column_kind(column: str) -> str:
    """The kind of an output column: people, share, metres, degrees, count or text.

    Examples
    --------
    >>> column_kind("within_10min_open"), column_kind("share_5min_open"), column_kind("lon")
    ('people', 'share', 'degrees')
    """
    for suffix in _SUFFIXES:
        if column.endswith(suffix) and column[: -len(suffix)] in HEADERS:
            return column_kind(column[: -len(suffix)])
        if column.endswith(suffix) and column.startswith("within_"):
            return "people"
    if column in HEADERS:
        return HEADERS[column][1]
    if column.startswith(("within_", "gain_alone_", "covered_")):
        return "people"
    if column.startswith("share_"):
        return "share"
    if column.endswith("_m"):
        return "metres"
    return "text"


def header(column: str, t: Translator | None = None) -> str:
    """The header of a column in the workbook: a label with its unit, in ``t``'s language
    (default English; the threshold written as the language writes it, ``10 мин``).

    Examples
    --------
    >>> header("within_10min_open")
    'Within 10min (people) (open)'
    >>> header("share_5min_with_planned")
    'Covered share, 5min (%) (open + planned)'
    """
    from .i18n import translator

    t = t or translator("en")
    say = t.gettext
    if column in HEADERS:  # before the suffixes: nearest_open is a column of its own
        return say(HEADERS[column][0])
    for suffix, label in _SUFFIXES.items():
        if column.endswith(suffix):
            return header(column[: -len(suffix)], t) + say(label)
    for prefix, text in (("within_", _("Within {label} (people)")),
                         ("gain_alone_", _("Residents it adds alone within {label} (people)")),
                         ("share_", _("Covered share, {label} (%)"))):
        if column.startswith(prefix):
            return say(text).format(label=_threshold(column[len(prefix):], t))
    return column


def _threshold(label: str, t: Translator) -> str:
    """A threshold label as the language writes it (``10min`` stays in English)."""
    import re

    m = re.fullmatch(r"([\d.]+)(min|m)", label)
    if t.lang == "en" or not m:
        return label
    unit = t.gettext("{n} min") if m.group(2) == "min" else t.gettext("{n} m")
    value = float(m.group(1))
    return unit.format(n=t.number(value, 0 if value.is_integer() else 1))


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The table rounded for people: whole residents, shares to 4 decimals, whole metres,
    coordinates to 7 decimals; geometry left as it is.

    Parameters
    ----------
    frame
        An output table (or layer).

    Returns
    -------
    pandas.DataFrame
        A copy; people and counts as nullable integers (``Int64``).

    Examples
    --------
    >>> tidy(pd.DataFrame({"residents": [317699.99999999994], "share_5min_open": [1 / 3]}))
       residents  share_5min_open
    0     317700           0.3333
    """
    out = frame.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None) or not isinstance(col, str):
            continue
        values = out[col]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        kind = column_kind(col)
        v = values.to_numpy(dtype=float)
        v = np.where(np.isfinite(v), v, np.nan)
        if kind in ("people", "count"):
            out[col] = pd.array(np.round(v), dtype="Float64").astype("Int64")
        elif kind == "share":
            out[col] = np.round(v, 4)
        elif kind == "metres":
            out[col] = pd.array(np.round(v), dtype="Float64").astype("Int64")
        elif kind == "degrees":
            out[col] = np.round(v, 7)
    return out


def precinct_table(
    catchments: pd.DataFrame,
    precincts: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """One row per precinct: its figures per scenario side by side, its place and district.

    Parameters
    ----------
    catchments
        :attr:`walkshed.assessment.Assessment.catchments` (one row per precinct and scenario).
    precincts
        The precincts (index = precinct id), any CRS.
    districts
        District polygons with ``name``, or None.

    Returns
    -------
    geopandas.GeoDataFrame
        ``precinct``, ``name``, ``status``, ``district``, then every figure as
        ``<figure>_open`` and ``<figure>_with_planned`` (empty for a planned precinct in the
        open scenario), ``lon``, ``lat``; points in EPSG:4326.
    """
    keys = ["precinct", "name", "status"]
    figures = [c for c in catchments.columns if c not in (*keys, "scenario")]
    wide = pd.DataFrame({"precinct": pd.Series(precincts.index.astype(str), dtype=object)})
    for scen, suffix in (("open", "_open"), ("open+planned", "_with_planned")):
        part = catchments[catchments["scenario"] == scen]
        part = part.assign(precinct=part["precinct"].astype(str)).set_index("precinct")
        for f in figures:
            wide[f + suffix] = wide["precinct"].map(part[f]).to_numpy()
    ll = precincts.geometry.to_crs(4326)
    wide.insert(1, "name", precincts["name"].astype(object).to_numpy()
                if "name" in precincts.columns else None)
    wide.insert(2, "status", precincts["status"].astype(str).to_numpy())
    if "kind" in precincts.columns:
        wide.insert(3, "kind", precincts["kind"].astype(object).to_numpy())
    where = None
    if districts is not None:
        polys = districts.to_crs(4326)
        where = _common.district_names(np.asarray(ll.values), np.asarray(polys.geometry.values),
                                       polys["name"].astype(str).tolist())
    wide.insert(list(wide.columns).index("status") + 1, "district",
                pd.Series(where, dtype=object) if where is not None else None)
    wide["lon"] = np.round(ll.x.to_numpy(), 7)
    wide["lat"] = np.round(ll.y.to_numpy(), 7)
    return gpd.GeoDataFrame(wide, geometry=np.asarray(ll.values), crs="EPSG:4326")


def write_workbook(tables: Mapping[str, pd.DataFrame], path: str | os.PathLike[str],
                   lang: str | None = None) -> Path:
    """Write tables as an Excel workbook (openpyxl), one sheet per table.

    Headers carry their units (:func:`header`) in the language ``lang`` (default
    :func:`walkshed.i18n.current_language`); people are integers, shares are numbers in
    percent format, walks whole metres, coordinates in degrees; the first row is frozen.
    Geometry columns are left out (sheet names and the CSVs' column names stay the same in
    every language: they are for scripts).

    Parameters
    ----------
    tables
        Sheet name (at most 31 characters) -> table, as :func:`tidy` gives it.
    path
        Destination ``.xlsx`` (written as it is: stage it with :class:`walkshed.io.OutputDir`).

    lang
        ``en``, ``ru`` or ``kk``.

    Returns
    -------
    pathlib.Path
    """
    from openpyxl import Workbook

    from .i18n import translator

    t = translator(lang)
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    formats = {"people": "#,##0", "count": "0", "share": "0.0%", "metres": "#,##0",
               "degrees": "0.0000000"}
    for sheet, frame in tables.items():
        ws = wb.create_sheet(sheet[:31])
        table = pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore")
        cols = list(table.columns)
        ws.append([header(str(c), t) for c in cols])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in table.itertuples(index=False):
            ws.append([_cell(v) for v in row])
        for j, c in enumerate(cols, start=1):
            fmt = formats.get(column_kind(str(c)))
            letter = get_column_letter(j)
            ws.column_dimensions[letter].width = min(max(len(header(str(c), t)), 10) + 2, 48)
            if fmt is None:
                continue
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = fmt
        ws.freeze_panes = "A2"
    dest = Path(path)
    wb.save(dest)
    return dest


def _cell(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and not np.isfinite(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def catchment_polygons(
    demand: gpd.GeoDataFrame,
    nearest: pd.Series,
    *,
    resolution: int,
    catchments: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Each precinct's catchment as a polygon: the H3 cells of its residents, dissolved.

    Every H3 cell (at ``resolution``) holding residents goes to the precinct that most of its
    residents walk to (ties: the smaller precinct id), and a precinct's cells are merged. So
    the polygons tile the inhabited city without overlaps; a cell shared by two catchments is
    drawn in the larger share's. The figures (``residents_served``) are the residents whose
    nearest precinct it is, from the table, not the cells' sum.

    Parameters
    ----------
    demand
        Demand points with ``population``, any CRS.
    nearest
        The nearest precinct id of each demand point (aligned with ``demand``; None: none).
    resolution
        H3 resolution (the uncovered cells').
    catchments
        Rows of one scenario of :attr:`walkshed.assessment.Assessment.catchments`, to join
        their figures; optional.

    Returns
    -------
    geopandas.GeoDataFrame
        ``precinct``, ``cells`` and the catchment's figures, in EPSG:4326.
    """
    import shapely

    pop = demand["population"].to_numpy(float)
    who = nearest.reindex(demand.index).to_numpy(dtype=object)
    keep = (pop > 0) & np.asarray([w is not None and w == w for w in who.tolist()])
    cells = _h3_cells(demand, resolution)[keep]
    frame = pd.DataFrame({"cell": cells, "precinct": who[keep].astype(str), "w": pop[keep]})
    by = frame.groupby(["cell", "precinct"], sort=True)["w"].sum().reset_index()
    by = by.sort_values(["cell", "w", "precinct"], ascending=[True, False, True])
    owner = by.drop_duplicates("cell").reset_index(drop=True)
    hexagons = _hexagons(owner["cell"].to_numpy(dtype=object))
    rows, geoms = [], []
    for precinct, group in owner.groupby("precinct", sort=True):
        rings = hexagons[group.index.to_numpy()]
        geoms.append(shapely.coverage_union_all(rings))
        rows.append({"precinct": precinct, "cells": len(rings)})
    out = gpd.GeoDataFrame(pd.DataFrame(rows, columns=["precinct", "cells"]),
                           geometry=np.asarray(geoms, dtype=object), crs="EPSG:4326")
    if catchments is not None and len(out):
        figures = catchments.assign(precinct=catchments["precinct"].astype(str))
        figures = figures.drop(columns=["scenario"], errors="ignore").set_index("precinct")
        out = out.join(figures, on="precinct")
        out = out[[c for c in out.columns if c != "geometry"] + ["geometry"]]
    return out


#: The H3 cells of the last demand points (keyed by their coordinates, CRS and resolution):
#: the catchments of both scenarios bin the same residents.
_CELLS: dict[bytes, np.ndarray] = {}


def _h3_cells(demand: gpd.GeoDataFrame, resolution: int) -> np.ndarray:
    """The H3 cell (at ``resolution``) of every demand point, as text."""
    import hashlib

    import h3
    import pyproj
    import shapely

    xy = shapely.get_coordinates(np.asarray(demand.geometry.values, dtype=object))
    key = hashlib.blake2b(xy.tobytes() + str(demand.crs).encode() + bytes([resolution]),
                          digest_size=20).digest()
    hit = _CELLS.get(key)
    if hit is not None and len(hit) == len(demand):
        return hit
    # as GeoSeries.to_crs(4326) transforms the points, without building them
    lon, lat = pyproj.Transformer.from_crs(demand.crs, 4326, always_xy=True).transform(
        xy[:, 0], xy[:, 1])
    cells = np.asarray([h3.latlng_to_cell(y, x, resolution)
                        for x, y in zip(np.asarray(lon).tolist(), np.asarray(lat).tolist(),
                                        strict=True)], dtype=object)
    _CELLS.clear()
    _CELLS[key] = cells
    return cells


def _hexagons(cells: np.ndarray) -> np.ndarray:
    """The polygons (lon, lat) of H3 cells, built in one step; index-aligned with ``cells``."""
    import h3
    import shapely

    if not len(cells):
        return np.empty(0, dtype=object)
    rings = [h3.cell_to_boundary(c) for c in cells.tolist()]  # (lat, lng) pairs
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    coords = np.asarray([pt for r in rings for pt in r], dtype=float)[:, ::-1]
    out = np.empty(len(rings), dtype=object)
    out[:] = shapely.polygons(shapely.linearrings(coords, indices=np.repeat(
        np.arange(len(rings)), sizes)))
    return out
