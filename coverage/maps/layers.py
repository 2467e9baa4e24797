"""One builder per layer of the coverage map.

Each builder takes the map's :class:`Frame` (the metric CRS, the display tolerance, the list of
layer specifications) and its table, and appends plain data: a layer's name, geometry, styles,
popups (title and rows of text), labels and legend entries. Nothing here is HTML or script: the
page's fixed script (``_page._SCRIPT``) turns the data into Leaflet layers with DOM text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..i18n import Translator, translator
from ..isochrones import dissolve_walking_areas
from ..network import WalkNetwork
from ._page import (
    _BANDS_OPEN,
    _BANDS_PLANNED,
    _CELL_COLOURS,
    _DISTRICT_COLOURS,
    _STATUS_COLOURS,
    _feature_collection,
    _fmt_int,
    _fmt_metres,
    _fmt_minutes,
    _fmt_share,
    _num,
    _popup,
    _to_display,
    page_text,
)
from ._tables import _class_breaks, _label_text, _main_label, _share_classes

#: How many uncovered areas get a number on the map (the others are a layer of their own).
TOP_AREAS = 20


@dataclass
class Frame:
    """What every layer builder needs: the metric CRS, the tolerance, the layers so far."""

    metric: Any
    simplify_m: float
    layers: list[dict[str, Any]] = field(default_factory=list)
    t: Translator = field(default_factory=lambda: translator("en"))
    text: dict[str, str] = field(default_factory=dict)
    places: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.text = self.text or page_text(self.t)

    def place(self, name: str) -> str:
        """A place's name in the map's language where the study has it."""
        return self.places.get(name, name)

    def add(self, spec: dict[str, Any]) -> None:
        spec.setdefault("id", f"layer{len(self.layers)}")
        spec.setdefault("show", True)
        self.layers.append(spec)


def _legend(section: str, items: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
    return {"section": section, "items": [{"swatch": s, "text": t} for s, t in items]}


_STATUSES = ("open", "planned", "candidate")
_KINDS = ("precinct", "station", "traffic", "checkpoint", "other", "unknown")


def _status(text: Mapping[str, str], status: str, prefix: str = "") -> str:
    """A precinct status in the map's language (``prefix`` picks the sense); others as given."""
    return text[prefix + status] if status in _STATUSES else status


def _signed(x: Any, t: Translator) -> str:
    """A signed whole number (``+3``, ``-2``) in the locale's digits."""
    v = _num(x)
    return ("+" if v > 0 else "-" if v < 0 else "") + t.number(abs(v))


def _kind(text: Mapping[str, str], kind: str) -> str:
    """A precinct kind (:data:`walkshed.vetting.KINDS`) in the map's language; others as given."""
    return text.get(f"kind_{kind}", kind) if kind in _KINDS else kind


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def basemap(frame: Frame, network: WalkNetwork, *, tiles: str | None) -> None:
    """The street network (always: the map opens without internet) and, if given, web tiles."""
    text = frame.text
    streets = _to_display(
        gpd.GeoSeries(network.edge_geometry, crs=frame.metric), max(frame.simplify_m, 1.0),
        frame.metric, 1,
    )
    multi = shapely.multilinestrings(shapely.get_parts(streets))
    if tiles:
        frame.add({"id": "tiles", "kind": "tiles", "name": text["tiles"], "url": tiles})
    frame.add({
        "id": "streets", "kind": "geojson", "name": text["streets"], "basemap": True,
        "data": _feature_collection(np.array([multi], dtype=object)),
        "style": {"color": "#8a8a8a", "weight": 1, "opacity": 0.8},
    })


def _in_district(points: gpd.GeoSeries, districts: gpd.GeoDataFrame, metric: Any) -> list[str]:
    """The name of the district each point lies in ("" when on none)."""
    pts = gpd.GeoDataFrame(geometry=points.to_crs(metric).reset_index(drop=True))
    polys = gpd.GeoDataFrame({"name": districts["name"].map(_text).to_numpy()},
                             geometry=districts.geometry.to_crs(metric).to_numpy(), crs=metric)
    joined = gpd.sjoin(pts, polys, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return [_text(x) for x in joined["name"].reindex(range(len(pts)))]


def districts_layer(
    frame: Frame, districts: gpd.GeoDataFrame | None, district_table: pd.DataFrame | None,
    assessment: Any, precincts: gpd.GeoDataFrame, catch: dict[str, dict[str, Any]],
) -> None:
    """District polygons coloured by covered share (natural breaks), names as labels."""
    tx, text = frame.t, frame.text
    if districts is None or not len(districts):
        return
    dist = districts.copy()
    names = [_text(x) for x in dist["name"]] if "name" in dist.columns else [""] * len(dist)
    table: dict[str, dict[Any, Any]] = {}
    share_label = None
    if district_table is not None and "district" in district_table.columns:
        table = {str(r["district"]): r for r in district_table.to_dict(orient="records")}
        share_label = _main_label(assessment, list(district_table.columns), "share_", "_open")
    if "covered_share" in dist.columns:
        shares = np.array([_num(x) for x in dist["covered_share"]])
    elif share_label is not None:
        shares = np.array([_num(table.get(n, {}).get(f"share_{share_label}_open"))
                           for n in names])
    else:
        shares = np.full(len(dist), math.nan)
    classes, bounds = _share_classes(shares, len(_DISTRICT_COLOURS))
    step = (len(_DISTRICT_COLOURS) - 1) / max(len(bounds) - 1, 1)
    colours = [_DISTRICT_COLOURS[round(i * step)] for i in range(len(bounds))]
    # precincts per district, by status and by kind (when the precincts have kinds)
    where = _in_district(precincts.geometry, dist, frame.metric)
    status = precincts["status"].map(_text).tolist() if "status" in precincts.columns \
        else ["open"] * len(precincts)
    kinds = precincts["kind"].map(_text).tolist() if "kind" in precincts.columns else None
    staff = [_num(x) for x in precincts["inspectors"]] if "inspectors" in precincts.columns \
        else None
    pids = [str(p) for p in precincts.index]
    geoms = _to_display(dist.geometry, frame.simplify_m, frame.metric)
    labels_at = shapely.get_coordinates(shapely.point_on_surface(geoms))
    props: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for j, name in enumerate(names):
        rows: list[tuple[str, str]] = []
        trow = table.get(name, {})
        if "residents" in trow:
            rows.append((text["residents"], _fmt_int(trow["residents"], tx)))
        for col in trow:
            if col.startswith("share_") and col.endswith("_open"):
                lab = _label_text(col[len("share_"):-len("_open")], tx)
                rows.append((text["covered_within"].format(label=lab), _fmt_share(trow[col], tx)))
        for col in trow:
            if col.startswith("share_") and col.endswith("_with_planned") and \
                    "planned" in status:
                lab = _label_text(col[len("share_"):-len("_with_planned")], tx)
                rows.append((text["covered_within_planned"].format(label=lab),
                             _fmt_share(trow[col], tx)))
        if not trow and math.isfinite(shares[j]):
            rows.append((text["covered_share"], _fmt_share(shares[j], tx)))
        mine = [i for i, w in enumerate(where) if w == name and name]
        for st in sorted({status[i] for i in mine}):
            rows.append((text[f"count_{st}"] if st in _STATUSES
                         else text["precincts_status"].format(status=st),
                         str(sum(status[i] == st for i in mine))))
        if kinds is not None:
            for kd in sorted({kinds[i] for i in mine if kinds[i]}):
                rows.append((text["precincts_kind"].format(kind=_kind(text, kd)),
                             str(sum(kinds[i] == kd for i in mine))))
        if "inspectors_needed" in trow:  # the district table's staffing (districts.csv)
            for col, key in (("inspectors_needed", "inspectors_needed"),
                             ("inspectors_on_staff", "inspectors_on_staff"),
                             ("inspectors_gap", "inspectors_gap")):
                v = _num(trow.get(col))
                if math.isfinite(v):
                    rows.append((text[key], f"{v:+,.0f}" if col == "inspectors_gap"
                                 else _fmt_int(v)))
        else:
            needed = [_num(catch.get(pids[i], {}).get("inspectors")) for i in mine]
            needed = [x for x in needed if math.isfinite(x)]
            if needed:
                rows.append((text["inspectors_needed"], _fmt_int(sum(needed), tx)))
            if staff is not None:
                have = [staff[i] for i in mine if math.isfinite(staff[i])]
                if have:
                    rows.append((text["inspectors_on_staff"], _fmt_int(sum(have), tx)))
        c = classes[j]
        props.append({
            "style": {"fillColor": colours[c] if c >= 0 else "#cccccc"},
            "popup": _popup(frame.place(name), rows),
        })
        label = frame.place(name) + (
            f"\n{_fmt_share(shares[j], tx)}" if math.isfinite(shares[j]) else "")
        marks.append({"lat": float(labels_at[j, 1]), "lon": float(labels_at[j, 0]),
                      "cls": "ws-label-icon", "icon": {"cls": "ws-label", "text": label}})
    items = [({"fill": colours[i]}, _fmt_share(lo, tx) if f"{lo:.3f}" == f"{hi:.3f}"
              else f"{tx.number(lo * 100, 1)}–{_fmt_share(hi, tx)}")
             for i, (lo, hi) in enumerate(bounds)]
    if (classes < 0).any():
        items.append(({"fill": "#cccccc"}, text["no_data"]))
    section = text["districts_within"].format(label=_label_text(share_label, tx)) if share_label \
        else text["districts"]
    frame.add({
        "id": "districts", "kind": "geojson", "name": section, "interactive": True,
        "data": _feature_collection(geoms, props),
        "style": {"color": "#333333", "weight": 2, "fillOpacity": 0.3},
        "legend": _legend(section, items),
    })
    frame.add({"id": "district-names", "kind": "markers", "name": text["district_names"],
               "markers": [m for m in marks if m["icon"]["text"]], "declutter": 3,
               "must": True})


def uncovered_cells_layer(frame: Frame, cells: gpd.GeoDataFrame | None) -> None:
    """Uncovered residents per cell, a choropleth by quantile classes."""
    tx, text = frame.t, frame.text
    if cells is None or not len(cells):
        return
    pop = cells["population"].to_numpy(dtype=float)
    breaks = _class_breaks(pop, len(_CELL_COLOURS))
    cls = np.minimum(np.searchsorted(breaks, pop, side="left"), len(breaks) - 1)
    colours = _CELL_COLOURS[-len(breaks):] if len(breaks) < len(_CELL_COLOURS) \
        else _CELL_COLOURS
    geoms = _to_display(cells.geometry, 0.0, frame.metric)
    props = [
        {"style": {"fillColor": colours[c]},
         "popup": _popup(text["uncovered_residents"], [(text["residents"], _fmt_int(p, tx))])}
        for c, p in zip(cls, pop, strict=True)
    ]
    lows = np.concatenate([[0.0], breaks[:-1]])
    frame.add({
        "id": "cells", "kind": "geojson", "name": text["cells"], "interactive": True,
        "data": _feature_collection(geoms, props),
        "style": {"stroke": False, "fillOpacity": 0.5},
        "legend": _legend(text["cells_legend"], [
            ({"fill": colours[i]}, f"{_fmt_int(lo, tx)}–{_fmt_int(hi, tx)}")
            for i, (lo, hi) in enumerate(zip(lows, breaks, strict=True))
        ]),
    })


def walking_area_layers(frame: Frame, walking_areas: gpd.GeoDataFrame) -> None:
    """Walking areas per threshold as outlines (colours never mix), open and open + planned."""
    tx, text = frame.t, frame.text
    for statuses, key, palette, show, dash in (
        (("open",), "open", _BANDS_OPEN, True, None),
        (("open", "planned"), "open_planned", _BANDS_PLANNED, False, "6 4"),
    ):
        if not walking_areas["status"].isin(statuses).any():
            continue
        if key == "open_planned" and not (walking_areas["status"] == "planned").any():
            continue
        merged = dissolve_walking_areas(walking_areas, statuses=statuses)
        geoms = _to_display(merged.geometry, frame.simplify_m, frame.metric)
        for i, (minutes, g) in enumerate(zip(merged["threshold_min"], geoms, strict=True)):
            colour = palette[min(i, len(palette) - 1)]
            name = text["walking_area"].format(label=text[key],
                                               minutes=_fmt_minutes(float(minutes), tx))
            style = {"color": colour, "weight": 1.5, "fill": False}
            if dash:
                style["dashArray"] = dash
            frame.add({
                "kind": "geojson", "name": name, "show": show, "style": style,
                "data": _feature_collection(np.array([g], dtype=object)),
                "legend": _legend(text["walking_areas"], [
                    ({"line": colour, "dash": bool(dash)},
                     f"{text[key]}: {_fmt_minutes(float(minutes), tx)}")]),
            })


def uncovered_area_layers(frame: Frame, areas: gpd.GeoDataFrame | None) -> None:
    """Uncovered areas outlined; the top ones numbered by rank, the others a layer of their own."""
    tx, text = frame.t, frame.text
    if areas is None or not len(areas):
        return
    ua = areas.sort_values("rank") if "rank" in areas.columns else areas
    geoms = _to_display(ua.geometry, frame.simplify_m, frame.metric)
    reps = shapely.get_coordinates(shapely.point_on_surface(geoms))
    props, labels = [], []
    records = pd.DataFrame(ua.drop(columns=ua.geometry.name)).to_dict(orient="records")
    for j, row in enumerate(records):
        rank = _fmt_int(row.get("rank", j + 1), tx)  # formatted once, shown three times
        rows = [(text["uncovered_residents"], _fmt_int(row.get("population"), tx))]
        if "district" in ua.columns:
            rows.append((text["district"], frame.place(_text(row["district"]))))
        if "median_walk_m" in ua.columns:  # the centroid's walk can be a covered street's
            rows.append((text["median_walk_to_open"], _fmt_metres(row["median_walk_m"], tx)))
        elif "walk_to_open_m" in ua.columns:
            rows.append((text["walk_to_open"], _fmt_metres(row["walk_to_open_m"], tx)))
        title = text["uncovered_area"].format(rank=rank)
        popup = _popup(title, rows)
        props.append({"popup": popup})
        labels.append({
            "lat": float(reps[j, 1]), "lon": float(reps[j, 0]), "cls": "ws-rank-icon",
            "icon": {"cls": "ws-rank", "text": f"#{rank}"}, "size": [30, 16],
            "alt": title, "popup": popup,
        })
    top = min(TOP_AREAS, len(ua))
    frame.add({
        "id": "areas-top", "kind": "geojson", "interactive": True,
        "name": text["uncovered_top"].format(n=top),
        "data": _feature_collection(geoms[:top], props[:top]),
        "style": {"color": "#67000d", "weight": 2.5, "fill": True, "fillOpacity": 0.0},
        "legend": _legend(text["uncovered_areas"], [
            ({"line": "#67000d"}, text["uncovered_legend"])]),
    })
    frame.add({"id": "areas-top-numbers", "kind": "markers",
               "name": text["uncovered_numbers"].format(n=top), "markers": labels[:top],
               "declutter": 2})
    if len(ua) > top:
        frame.add({
            "id": "areas-rest", "kind": "geojson", "interactive": True, "show": False,
            "name": text["uncovered_rest"],
            "data": _feature_collection(geoms[top:], props[top:]),
            "style": {"color": "#67000d", "weight": 1, "fill": True, "fillOpacity": 0.0,
                      "dashArray": "2 4"},
            "legend": _legend(text["uncovered_areas"], [
                ({"line": "#67000d", "dash": True, "width": 1}, text["uncovered_rest"])]),
        })


def precinct_layers(
    frame: Frame, precincts: gpd.GeoDataFrame, catch: dict[str, dict[str, Any]],
    label: str | None, districts: gpd.GeoDataFrame | None,
) -> None:
    """Precincts as pins, one layer per status, with a popup each."""
    tx, text = frame.t, frame.text
    pts = precincts.geometry.to_crs("EPSG:4326")
    xy = shapely.get_coordinates(
        np.asarray(shapely.point_on_surface(np.asarray(pts.values, dtype=object)))
    )
    n = len(precincts)
    names = precincts["name"].tolist() if "name" in precincts.columns else [None] * n
    status = precincts["status"].map(_text).tolist() if "status" in precincts.columns \
        else ["open"] * n
    where = _in_district(precincts.geometry, districts, frame.metric) \
        if districts is not None and len(districts) and "name" in districts.columns else None
    share_label = text["covered_share_within"].format(label=_label_text(label, tx)) if label \
        else text["covered_share"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for i, pid in enumerate(precincts.index):
        pid_s, st_s = str(pid), status[i]
        shown = _text(names[i]).strip() or text["precinct"].format(id=pid_s)
        c = catch.get(pid_s, {})
        rows = [(text["status"], _status(text, st_s, "status_"))]
        if where is not None and where[i]:
            rows.append((text["district"], frame.place(where[i])))
        if "kind" in precincts.columns and _text(precincts["kind"].iloc[i]):
            rows.append((text["kind"], _kind(text, _text(precincts["kind"].iloc[i]))))
        if "kind_reason" in precincts.columns and _text(precincts["kind_reason"].iloc[i]):
            rows.append((text["kind_reason"], tx.say(precincts["kind_reason"].iloc[i])))
        rows.append((text["residents_served"], _fmt_int(c.get("served"), tx)))
        shares = c.get("shares") or {label: c.get("share")}
        if label not in shares:  # a given covered_share column: the main share alone
            shares = {label: c.get("share")}
        for lab, share in shares.items():  # every threshold, nearest first
            rows.append((text["covered_share_within"].format(label=_label_text(lab, tx)) if lab
                         else share_label, _fmt_share(c.get("share") if lab == label
                                                      else share, tx)))
        for col, key in (("median_walk_m", "median_walk"), ("p90_walk_m", "p90_walk")):
            if math.isfinite(_num(c.get(col))):
                rows.append((text[key], _fmt_metres(c[col], tx)))
        # staffing as precincts.csv has it (needed blank when not served on foot)
        rows.append((text["inspectors_needed"], _fmt_int(c.get("inspectors"), tx)
                     if c.get("on_foot", True) else text["not_on_foot"]))
        have = _num(c.get("on_staff"))
        if not math.isfinite(have) and "inspectors" in precincts.columns:
            have = _num(precincts["inspectors"].iloc[i])
        if math.isfinite(have) or "inspectors" in precincts.columns:
            rows.append((text["inspectors_on_staff"], _fmt_int(have, tx)))
        if math.isfinite(_num(c.get("gap"))):
            rows.append((text["inspectors_gap"], _signed(c["gap"], tx)))
        for col, value in c.get("extra", {}).items():  # staffing columns and the like
            if col == "served_on_foot":
                value = text["no"] if value in ("0", "False") else text["yes"]
            rows.append((text.get(f"col_{col}", col.replace("_", " ")), value))
        colour = _STATUS_COLOURS.get(st_s, "#333333")
        cls = "".join(ch for ch in st_s.lower() if "a" <= ch <= "z")
        groups.setdefault(st_s, []).append({
            "lat": float(xy[i, 1]), "lon": float(xy[i, 0]),
            "cls": f"ws-precinct ws-status-{cls}", "size": [14, 14],
            "icon": {"cls": "ws-pin", "colour": colour, "data": {"precinct": pid_s}},
            "alt": shown, "popup": _popup(shown, rows), "tip": shown,
        })
    order: list[str] = [s for s in ("open", "planned", "candidate") if s in groups]
    order += sorted(s for s in groups if s not in order)
    for s in order:
        frame.add({
            "id": f"precincts-{len(frame.layers)}", "kind": "markers",
            "name": text["precincts_layer"].format(status=_status(text, s)),
            "markers": groups[s],
            "declutter": "fixed",
            "legend": _legend(text["precincts"], [
                ({"fill": _STATUS_COLOURS.get(s, "#333333"), "cls": "ws-dot"},
                                        _status(text, s))]),
        })


def sites_layer(frame: Frame, sites: pd.DataFrame | None) -> None:
    """Proposed sites as numbered markers that never hide each other, with a popup each."""
    tx, text = frame.t, frame.text
    if sites is None or not len(sites):
        return
    tab = sites.sort_values("rank") if "rank" in sites.columns else sites
    pts = tab.geometry.to_crs("EPSG:4326")
    xy = shapely.get_coordinates(np.asarray(pts.values, dtype=object))
    marks = []
    for j, (_, row) in enumerate(tab.iterrows()):
        rank = _fmt_int(row.get("rank", j + 1), tx)
        rows = [
            (text["newly_covered"], _fmt_int(row.get("newly_covered"), tx)),
            (text["cumulative_share"], _fmt_share(row.get("cumulative_share"), tx)),
        ]
        if "nearest_open_m" in tab.columns and math.isfinite(_num(row["nearest_open_m"])):
            rows.append((text["walk_to_open"], _fmt_metres(row["nearest_open_m"], tx)))
        for col, key in (("district", "district"), ("address", "address"),
                         ("nearest_address", "address"), ("street", "street"),
                         ("nearest_street", "street"), ("site", "site_id")):
            if col in tab.columns and _text(row[col]):
                value = _text(row[col])
                rows.append((text[key], frame.place(value) if key == "district" else value))
        marks.append({
            "lat": float(xy[j, 1]), "lon": float(xy[j, 0]), "cls": "ws-site-icon",
            "icon": {"cls": "ws-site", "text": rank}, "size": [22, 22],
            "alt": text["site"].format(rank=rank),
            "popup": _popup(text["site"].format(rank=rank), rows),
            "tip": text["site_tip"].format(rank=rank, gain=_fmt_int(row.get("newly_covered"), tx)),
        })
    frame.add({
        "id": "sites", "kind": "markers", "name": text["sites"], "markers": marks,
        "declutter": 4, "must": True, "leader": True,
        "legend": _legend(text["sites"], [({"cls": "ws-site", "text": "1"},
                                           text["sites_legend"])]),
    })
