"""One definition of each idea the modules share: statuses, thresholds, CRS checks, districts.

Every module that needs one of these uses it from here, so a threshold given in minutes means
the same everywhere and a point on a district boundary is labelled the same in every table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from . import settings
from ._errors import input_error

#: The statuses a precinct may have: ``open`` (working today), ``planned`` (decided, not yet
#: working), ``candidate`` (a site under consideration).
STATUSES: tuple[str, ...] = ("open", "planned", "candidate")


@dataclass(frozen=True)
class Range:
    """The sane range of a number a user gives: above ``low`` (or at least it, when
    ``low_ok``) and at most ``high``, in ``unit``."""

    low: float
    high: float
    unit: str = ""
    low_ok: bool = False

    def text(self) -> str:
        """The range as a user reads it, e.g. ``> 0 and <= 180 minutes``."""
        low = f">= {_num(self.low)}" if self.low_ok else f"> {_num(self.low)}"
        return f"{low} and <= {_num(self.high)}{' ' + self.unit if self.unit else ''}"


def _num(v: float) -> str:
    """``1,000,000`` for whole numbers, else ``0.5``."""
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


#: The sane range of every number a user gives, by its name: the scenario key and the keyword
#: of the Python function are the same. A value outside is refused with the range in the
#: message (a threshold of 1e12 minutes would otherwise report everyone covered).
RANGES: dict[str, Range] = {
    "walk_speed_kmh": Range(0, 30, "km/h"),
    "thresholds_min": Range(0, 180, "minutes"),
    "thresholds_m": Range(0, 15_000, "metres"),
    "threshold_min": Range(0, 180, "minutes"),
    "residents_per_inspector": Range(1, 1_000_000, "residents", low_ok=True),
    "total": Range(0, 1e9, "residents"),
    "persons_per_m2": Range(0, 10, "persons per m² of floor"),
    "max_snap_m": Range(0, 50_000, "metres"),
    "new_sites": Range(1, 100_000, "sites", low_ok=True),
    "target_share": Range(0, 1, "(a share: 0.9 is 90 %)"),
    "spacing_m": Range(0, 15_000, "metres"),
    "time_limit_s": Range(0, 86_400, "seconds"),
}


def out_of_range(key: str, value: float) -> str | None:
    """The problem with ``value`` for ``key`` (``"must be > 0 and <= 180 minutes, got 1e+12"``),
    or None when it lies in :data:`RANGES` (or ``key`` has no range)."""
    r = RANGES.get(key)
    if r is None:
        return None
    v = float(value)
    if not np.isfinite(v) or v > r.high or v < r.low or (v == r.low and not r.low_ok):
        return f"must be {r.text()}, got {value:g}"
    return None


def check_range(key: str, value: float, fix: str | None = None) -> None:
    """Raise an :class:`~walkshed.InputError` naming ``key`` when ``value`` is out of its
    :data:`RANGES`."""
    problem = out_of_range(key, value)
    if problem is not None:
        raise input_error(key, problem, fix or f"Give {key} within that range")


@dataclass(frozen=True)
class Thresholds:
    """Walking thresholds, sorted ascending, in minutes and metres, with their labels.

    ``labels`` read ``"10min"`` when the thresholds were given in minutes and ``"800m"`` when
    they were given in metres.
    """

    minutes: np.ndarray
    metres: np.ndarray
    labels: tuple[str, ...]
    in_metres: bool

    def label_for(self, metres: float) -> str:
        """The label of the threshold nearest to ``metres``."""
        return self.labels[int(np.argmin(np.abs(self.metres - metres)))]


def walk_speed(walk_speed_kmh: float | None) -> float:
    """The walking speed given, or :data:`walkshed.settings.walk_speed_kmh`, checked > 0."""
    speed = settings.walk_speed_kmh if walk_speed_kmh is None else float(walk_speed_kmh)
    if not np.isfinite(speed) or speed <= 0:
        raise input_error("walk_speed_kmh", f"must be a positive number, got {walk_speed_kmh}",
                          "Give a walking speed in km/h, e.g. 4.5")
    check_range("walk_speed_kmh", speed, "Give a walking speed in km/h, e.g. 4.5")
    return speed


def thresholds(
    thresholds_min: Sequence[float] | float | None = None,
    thresholds_m: Sequence[float] | float | None = None,
    walk_speed_kmh: float | None = None,
) -> Thresholds:
    """Walking thresholds from minutes or metres (never both), sorted and de-duplicated.

    Parameters
    ----------
    thresholds_min, thresholds_m
        Walking times in minutes, or distances in metres; giving both is an error. With neither,
        :data:`walkshed.settings.thresholds_min`.
    walk_speed_kmh
        Converts minutes to metres; default :data:`walkshed.settings.walk_speed_kmh`.

    Returns
    -------
    Thresholds

    Examples
    --------
    >>> t = thresholds([10, 5], walk_speed_kmh=4.5)
    >>> t.metres.tolist(), t.labels
    ([375.0, 750.0], ('5min', '10min'))
    """
    if thresholds_min is not None and thresholds_m is not None:
        raise input_error("thresholds", "both thresholds_min and thresholds_m are given",
                          "Give walking times in minutes or distances in metres, not both")
    speed = walk_speed(walk_speed_kmh)
    in_metres = thresholds_m is not None
    raw = thresholds_m if in_metres else thresholds_min
    if raw is None:
        raw = settings.thresholds_min
    name = "thresholds_m" if in_metres else "thresholds_min"
    try:
        values = np.atleast_1d(np.asarray(raw, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise input_error(name, f"must be numbers, got {raw!r}",
                          "Give e.g. [5, 10, 15] minutes or [400, 800] metres") from None
    if len(values) == 0 or not np.isfinite(values).all() or (values <= 0).any():
        raise input_error(name, f"must be positive numbers, got {list(np.atleast_1d(raw))}",
                          "Give e.g. [5, 10, 15] minutes or [400, 800] metres")
    for v in values:
        check_range(name, float(v), "Give e.g. [5, 10, 15] minutes or [400, 800] metres")
    values = np.unique(values)
    per_min = settings.minutes_to_metres(1.0, speed)
    if in_metres:
        metres, minutes = values, values / per_min
        labels = tuple(f"{m:g}m" for m in metres)
    else:
        minutes, metres = values, values * per_min
        labels = tuple(f"{t:g}min" for t in minutes)
    return Thresholds(minutes=minutes, metres=metres, labels=labels, in_metres=in_metres)


def require_crs(frame: gpd.GeoDataFrame | gpd.GeoSeries, what: str, *,
                fix: str = "Set it, e.g. gdf.set_crs('EPSG:4326')") -> pyproj.CRS:
    """The frame's CRS, or an :class:`~walkshed.InputError` naming ``what`` when it has none."""
    if frame.crs is None:
        raise input_error(what, "has no coordinate reference system (CRS)", fix)
    return pyproj.CRS.from_user_input(frame.crs)


def to_crs(frame: Any, crs: Any, what: str) -> Any:
    """``frame`` reprojected to ``crs``, after :func:`require_crs`."""
    require_crs(frame, what)
    return frame.to_crs(crs)


def district_index(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Position of the district each point lies in, ``-1`` when in none.

    The one rule for every table: a point belongs to the **first** polygon, in the order
    given, that covers it; a point on a shared boundary is covered by both and so goes to the
    first-listed one.

    Examples
    --------
    >>> a, b = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    >>> district_index(shapely.points([0.5, 1.0, 3.0], [0.5, 0.5, 0.5]), np.array([a, b]))
    array([ 0,  0, -1])
    """
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polygons) == 0:
        return out
    # the polygons query a tree of the points, so each polygon is prepared once
    i_poly, i_pt = shapely.STRtree(points).query(np.asarray(polygons), predicate="covers")
    if len(i_pt):
        order = np.lexsort((i_poly, i_pt))
        i_pt, i_poly = i_pt[order], i_poly[order]
        first = np.ones(len(i_pt), dtype=bool)
        first[1:] = i_pt[1:] != i_pt[:-1]
        out[i_pt[first]] = i_poly[first]
    return out


def district_names(points: np.ndarray, polygons: np.ndarray, names: Sequence[Any]) -> np.ndarray:
    """Name of each point's district by :func:`district_index`, ``None`` when in none."""
    idx = district_index(points, polygons)
    out = np.full(len(points), None, dtype=object)
    inside = idx >= 0
    out[inside] = np.asarray(list(names), dtype=object)[idx[inside]]
    return out


def read_csv_table(path: Any, what: str) -> Any:
    """A CSV table as text cells: UTF-8 (with or without a byte-order mark), comma, semicolon
    or tab separated; with semicolons, decimal commas (``4,5``) are read as numbers by
    :func:`numeric_column`. Raises an :class:`~walkshed.InputError` naming ``what``."""
    import csv

    import pandas as pd

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            head = fh.read(64 * 1024)
    except UnicodeDecodeError as exc:
        raise input_error(what, f"is not UTF-8 text (byte {exc.start})",
                          "Save it as UTF-8 CSV (in Excel: CSV UTF-8)") from exc
    if not head.strip():
        raise input_error(what, "the file is empty", "Give a CSV table with a header row")
    try:
        sep = csv.Sniffer().sniff(head.splitlines()[0], delimiters=",;\t").delimiter
    except csv.Error:
        sep = ","
    try:
        return pd.read_csv(path, sep=sep, encoding="utf-8-sig", dtype=str,
                           keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise input_error(what, f"cannot be read as a CSV table ({' '.join(str(exc).split())})",
                          "Save it as UTF-8 CSV with a header row") from exc


def numeric_column(table: Any, column: str, what: str, fix: str) -> np.ndarray:
    """The numbers of a text column of :func:`read_csv_table` (a decimal comma is accepted
    when no dot is used); the first cell that is not a number is named by column and row
    (row 1 is the header)."""
    import pandas as pd

    cells = table[column].astype(str).str.strip()
    text = cells.str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    text = text.where(text.str.contains(r"\.", regex=True) | ~text.str.contains(",", regex=False),
                      text.str.replace(",", ".", regex=False))
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell = cells.iloc[i]
        label = table.index[i]
        row = int(label) + 2 if isinstance(label, int | np.integer) else i + 2
        problem = (f"column '{column}', row {row}: "
                   + (f"'{cell}' is not a number" if cell else "the cell is empty"))
        if bad.sum() > 1:
            problem += f" ({int(bad.sum())} such cells)"
        raise input_error(what, problem, fix)
    return values
