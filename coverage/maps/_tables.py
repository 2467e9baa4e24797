"""Reading the assessment's tables for the map: thresholds, catchments, class breaks."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..i18n import Translator, translator
from ._page import _fmt_g, _fmt_metres, _fmt_minutes, _num


def _get(obj: Any, name: str) -> Any:
    return None if obj is None else getattr(obj, name, None)


def _main_label(
    assessment: Any, columns: Sequence[str], prefix: str, suffix: str = ""
) -> str | None:
    """The threshold label to show (the assessment's main one, else the largest in columns)."""
    st = _get(assessment, "settings")
    if st is not None and getattr(st, "threshold_labels", None):
        labels = list(st.threshold_labels)
        metres = list(getattr(st, "thresholds_m", []))
        main_m = getattr(st, "main_threshold_m", None)
        if main_m is not None and metres:
            lab = labels[int(np.argmin(np.abs(np.asarray(metres) - main_m)))]
            if f"{prefix}{lab}{suffix}" in columns:
                return str(lab)
    found = [c[len(prefix):len(c) - len(suffix)] for c in columns
             if c.startswith(prefix) and c.endswith(suffix) and len(c) > len(prefix) + len(suffix)]
    if not found:
        return None

    def size(lab: str) -> float:
        m = re.match(r"([\d.]+)", lab)
        return float(m.group(1)) if m else 0.0

    return max(found, key=size)


def _label_text(label: str | None, t: Translator | None = None) -> str:
    """A threshold label (``5min``, ``375m``) as the map writes it (``5 min``, ``5 мин``)."""
    if label is None:
        return ""
    m = re.fullmatch(r"([\d.]+)\s*min", label)
    if m:
        return _fmt_minutes(float(m.group(1)), t)
    m = re.fullmatch(r"([\d.]+)\s*m", label)
    return _fmt_metres(float(m.group(1)), t) if m else label


#: Catchment columns the map shows by name; any other column is shown as it is (staffing).
_KNOWN_CATCHMENT = {"scenario", "precinct", "name", "status", "residents_served",
                    "covered_share", "inspectors_needed", "median_walk_m", "p90_walk_m",
                    "index", "district", "kind", "kind_reason", "inspectors_on_staff",
                    "inspectors_gap", "served_on_foot"}


def _catchment_rows(
    catchments: pd.DataFrame | None, precincts: gpd.GeoDataFrame, assessment: Any,
    t: Translator | None = None,
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Per precinct id: residents served, covered shares, walks, inspectors, other columns."""
    out: dict[str, dict[str, Any]] = {}
    if catchments is None or len(catchments) == 0:
        return out, None
    cat = catchments
    if "precinct" not in cat.columns:
        cat = cat.reset_index().rename(columns={cat.index.name or "index": "precinct"})
    label = _main_label(assessment, list(cat.columns), "within_")
    labels = [c[len("within_"):] for c in cat.columns if c.startswith("within_")]
    ids = precincts.index.astype(str)
    status = dict(zip(ids, precincts["status"].astype(str), strict=True)) \
        if "status" in precincts.columns else {}
    for _, row in cat.iterrows():
        pid = str(row["precinct"])
        if "scenario" in cat.columns and pid in status:
            want = "open" if status[pid] == "open" else "open+planned"
            if str(row["scenario"]) != want:
                continue
        served = _num(row.get("residents_served"))
        shares = {lab: _num(row[f"within_{lab}"]) / served if served > 0 else math.nan
                  for lab in labels}
        if "covered_share" in cat.columns:
            share = _num(row["covered_share"])
        elif label is not None:
            share = shares[label]
        else:
            share = math.nan
        extra = {}
        for col in cat.columns:
            if col in _KNOWN_CATCHMENT or col.startswith("within_"):
                continue
            v = row[col]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            f = _num(v)
            extra[str(col)] = _fmt_g(round(f, 2), t or translator("en")) \
                if math.isfinite(f) and not isinstance(v, str) else str(v)
        out[pid] = {
            "served": served,
            "share": share,
            "shares": shares,
            "inspectors": _num(row.get("inspectors_needed")),
            "on_staff": _num(row.get("inspectors_on_staff")),
            "gap": _num(row.get("inspectors_gap")),
            "on_foot": bool(row["served_on_foot"]) if "served_on_foot" in cat.columns
            else True,
            "median_walk_m": _num(row.get("median_walk_m")),
            "p90_walk_m": _num(row.get("p90_walk_m")),
            "extra": extra,
        }
    return out, label


def _class_breaks(values: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` classes of positive values by quantiles, as rounded upper bounds."""
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) == 0:
        return np.array([1.0])
    qs = np.quantile(v, np.linspace(0, 1, k + 1)[1:])
    qs = np.unique(np.ceil(qs))
    return qs


def _share_classes(shares: np.ndarray, k: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Classes of district shares by natural breaks (Fisher-Jenks, as geopandas' ``explore``).

    Returns each value's class (-1 when not finite) and each class's (lowest, highest) value,
    so a legend shows the ranges that occur and close districts are not lumped in one 20 % bin.
    The breaks are jenkspy's exact Fisher-Jenks (the classes of ``mapclassify.FisherJenks``,
    which takes ~1.8 s to import with scipy.stats and scikit-learn; where two partitions tie
    exactly, either may be chosen).
    """
    cls = np.full(len(shares), -1, dtype=int)
    ok = np.isfinite(shares)
    values = shares[ok]
    if not len(values):
        return cls, []
    distinct = np.unique(values)
    if len(distinct) <= k:
        cls[ok] = np.searchsorted(distinct, values)
    else:
        import jenkspy

        upper = np.asarray(jenkspy.jenks_breaks(values.tolist(), n_classes=k)[1:], dtype=float)
        # a value belongs to the first class whose upper bound it does not exceed
        cls[ok] = np.minimum(np.searchsorted(upper, values, side="left"), k - 1)
    used = np.unique(cls[ok])
    remap = {int(c): i for i, c in enumerate(used)}
    cls[ok] = [remap[int(c)] for c in cls[ok]]
    bounds = [(float(values[cls[ok] == i].min()), float(values[cls[ok] == i].max()))
              for i in range(len(used))]
    return cls, bounds
