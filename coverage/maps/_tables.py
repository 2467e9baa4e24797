"""Reading the assessment's tables for the map: thresholds, catchments, class breaks."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._page import _num


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


def _label_text(label: str | None) -> str:
    if label is None:
        return ""
    m = re.fullmatch(r"([\d.]+)\s*min", label)
    if m:
        return f"{float(m.group(1)):g} min"
    m = re.fullmatch(r"([\d.]+)\s*m", label)
    return f"{float(m.group(1)):g} m" if m else label


def _catchment_rows(
    catchments: pd.DataFrame | None, precincts: gpd.GeoDataFrame, assessment: Any
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Per precinct id: residents served, covered share, inspectors needed."""
    out: dict[str, dict[str, Any]] = {}
    if catchments is None or len(catchments) == 0:
        return out, None
    cat = catchments
    if "precinct" not in cat.columns:
        cat = cat.reset_index().rename(columns={cat.index.name or "index": "precinct"})
    label = _main_label(assessment, list(cat.columns), "within_")
    status = precincts["status"] if "status" in precincts.columns else None
    for _, row in cat.iterrows():
        pid = str(row["precinct"])
        if "scenario" in cat.columns and status is not None and pid in precincts.index.astype(str):
            st = str(status.iloc[int(np.flatnonzero(precincts.index.astype(str) == pid)[0])])
            want = "open" if st == "open" else "open+planned"
            if str(row["scenario"]) != want:
                continue
        served = _num(row.get("residents_served"))
        if "covered_share" in cat.columns:
            share = _num(row["covered_share"])
        elif label is not None and served > 0:
            share = _num(row[f"within_{label}"]) / served
        else:
            share = math.nan
        out[pid] = {
            "served": served,
            "share": share,
            "inspectors": _num(row.get("inspectors_needed")),
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
