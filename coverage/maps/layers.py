"""One builder per layer of the coverage map.

Each builder takes the map's :class:`Frame` (the folium map, the metric CRS, the display
tolerance) and its table, adds its layer(s) to the map and returns its legend entry (HTML built
from escaped parts only), or ``None`` when it draws nothing.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..isochrones import dissolve_walking_areas
from ..network import WalkNetwork
from ._page import (
    _BANDS_OPEN,
    _BANDS_PLANNED,
    _CELL_COLOURS,
    _LEAFLET_CSS,
    _LEAFLET_JS,
    _OSM_ATTRIBUTION,
    _SHARE_COLOURS,
    _STATUS_COLOURS,
    _Decorations,
    _esc,
    _feature_collection,
    _fmt_int,
    _fmt_minutes,
    _fmt_share,
    _GeoJsonLayer,
    _leaflet_offline,
    _MarkerLayer,
    _num,
    _rows_html,
    _to_display,
)
from ._tables import _class_breaks, _label_text, _main_label


@dataclass
class Frame:
    """What every layer builder needs: the map, the network's metric CRS, the tolerance."""

    m: folium.Map
    metric: Any
    simplify_m: float


def basemap(frame: Frame, network: WalkNetwork, *, offline: bool) -> None:
    """Leaflet and the basemap: inlined Leaflet and the streets offline, else CDN and tiles."""
    m = frame.m
    if offline:
        js, css = _leaflet_offline()
        m.default_js = []
        m.default_css = []
        root: Any = m.get_root()
        root.header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css")
        root.header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js")
        streets = _to_display(
            gpd.GeoSeries(network.edge_geometry, crs=frame.metric), max(frame.simplify_m, 1.0),
            frame.metric, 1,
        )
        multi = shapely.multilinestrings(shapely.get_parts(streets))
        _GeoJsonLayer(
            _feature_collection(np.array([multi], dtype=object)),
            name="Streets (offline basemap)",
            style={"color": "#9a9a9a", "weight": 1, "opacity": 0.8},
        ).add_to(m)
    else:
        m.default_js = [("leaflet", _LEAFLET_JS)]
        m.default_css = [("leaflet_css", _LEAFLET_CSS)]
        folium.TileLayer(
            "OpenStreetMap", name="Map tiles (OpenStreetMap)", control=True
        ).add_to(m)


def districts_layer(
    frame: Frame, districts: gpd.GeoDataFrame | None, district_table: pd.DataFrame | None,
    assessment: Any,
) -> str | None:
    """District polygons coloured by covered share, with a popup each."""
    if districts is None or not len(districts):
        return None
    dist = districts.copy()
    share_col = None
    share_label = None
    if "covered_share" in dist.columns:
        share_col = "covered_share"
    elif district_table is not None and "district" in district_table.columns:
        share_label = _main_label(assessment, list(district_table.columns), "share_", "_open")
        if share_label is not None:
            col = f"share_{share_label}_open"
            lookup = dict(zip(district_table["district"].astype(str),
                              district_table[col], strict=True))
            dist["covered_share"] = [lookup.get(str(x), math.nan) for x in dist["name"]]
            share_col = "covered_share"
    geoms = _to_display(dist.geometry, frame.simplify_m, frame.metric)
    props = []
    for _, row in dist.iterrows():
        share = _num(row[share_col]) if share_col else math.nan
        idx = min(int(share * 5), 4) if math.isfinite(share) else -1
        colour = _SHARE_COLOURS[idx] if idx >= 0 else "#cccccc"
        props.append({
            "_style": {"fillColor": colour},
            "_popup": _rows_html(str(row.get("name", "")), [
                ("Covered share" + (f" within {_label_text(share_label)}"
                                    if share_label else ""), _fmt_share(share)),
            ]),
            "_tip": _esc(row.get("name", "")),
        })
    within = f" within {_label_text(share_label)}" if share_label else ""
    _GeoJsonLayer(
        _feature_collection(geoms, props), name=f"Districts: covered share{_esc(within)}",
        style={"color": "#444444", "weight": 2, "fillOpacity": 0.18, "dashArray": "4 3"},
        interactive=True,
    ).add_to(frame.m)
    return f"<h4>Districts: covered share{_esc(within)}</h4>" + "<br>".join(
        f'<i style="background:{c}"></i>{i * 20}–{(i + 1) * 20}%'
        for i, c in enumerate(_SHARE_COLOURS)
    )


def uncovered_cells_layer(frame: Frame, cells: gpd.GeoDataFrame | None) -> str | None:
    """Uncovered residents per cell, a choropleth by quantile classes."""
    if cells is None or not len(cells):
        return None
    pop = cells["population"].to_numpy(dtype=float)
    breaks = _class_breaks(pop, len(_CELL_COLOURS))
    cls = np.minimum(np.searchsorted(breaks, pop, side="left"), len(breaks) - 1)
    colours = _CELL_COLOURS[-len(breaks):] if len(breaks) < len(_CELL_COLOURS) \
        else _CELL_COLOURS
    geoms = _to_display(cells.geometry, 0.0, frame.metric)
    props = [
        {"_style": {"fillColor": colours[c]},
         "_popup": _rows_html("Uncovered residents", [("Residents", _fmt_int(p))])}
        for c, p in zip(cls, pop, strict=True)
    ]
    _GeoJsonLayer(
        _feature_collection(geoms, props), name="Uncovered residents (cells)",
        style={"stroke": False, "fillOpacity": 0.5}, interactive=True,
    ).add_to(frame.m)
    lows = np.concatenate([[0.0], breaks[:-1]])
    return "<h4>Uncovered residents per cell</h4>" + "<br>".join(
        f'<i style="background:{colours[i]}"></i>{_fmt_int(lo)}–{_fmt_int(hi)}'
        for i, (lo, hi) in enumerate(zip(lows, breaks, strict=True))
    )


def walking_area_layers(frame: Frame, walking_areas: gpd.GeoDataFrame) -> str | None:
    """Walking areas per threshold, for the open precincts and for open + planned."""
    band_rows = []
    for statuses, label, palette, show in (
        (("open",), "open", _BANDS_OPEN, True),
        (("open", "planned"), "open + planned", _BANDS_PLANNED, False),
    ):
        if not walking_areas["status"].isin(statuses).any():
            continue
        if label == "open + planned" and not (walking_areas["status"] == "planned").any():
            continue
        merged = dissolve_walking_areas(walking_areas, statuses=statuses)
        geoms = _to_display(merged.geometry, frame.simplify_m, frame.metric)
        for i, (minutes, g) in enumerate(zip(merged["threshold_min"], geoms, strict=True)):
            colour = palette[min(i, len(palette) - 1)]
            _GeoJsonLayer(
                _feature_collection(np.array([g], dtype=object)),
                name=f"Walking areas, {label}: {_fmt_minutes(float(minutes))}",
                style={"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.22},
                show=show,
            ).add_to(frame.m)
            band_rows.append(
                f'<i style="background:{colour}"></i>{_esc(label)}: '
                f"{_esc(_fmt_minutes(float(minutes)))}"
            )
    if not band_rows:
        return None
    return "<h4>Walking areas</h4>" + "<br>".join(band_rows)


def uncovered_area_layers(frame: Frame, areas: gpd.GeoDataFrame | None) -> str | None:
    """Uncovered areas outlined and numbered by rank (labels for the top 20)."""
    if areas is None or not len(areas):
        return None
    ua = areas.sort_values("rank") if "rank" in areas.columns else areas
    geoms = _to_display(ua.geometry, frame.simplify_m, frame.metric)
    props = []
    labels = []
    reps = shapely.get_coordinates(shapely.point_on_surface(geoms))
    for j, (_, row) in enumerate(ua.iterrows()):
        rank = row.get("rank", j + 1)
        rows = [("Uncovered residents", _fmt_int(row.get("population")))]
        if "district" in ua.columns:
            rows.append(("District", str(row["district"])))
        if "median_walk_m" in ua.columns:  # the centroid's walk can be a covered street's
            rows.append(("Median walk to nearest open precinct",
                         f"{_fmt_int(row['median_walk_m'])} m"))
        elif "walk_to_open_m" in ua.columns:
            rows.append(("Walk to nearest open precinct",
                         f"{_fmt_int(row['walk_to_open_m'])} m"))
        popup = _rows_html(f"Uncovered area #{_fmt_int(rank)}", rows)
        props.append({"_popup": popup})
        labels.append({
            "lat": float(reps[j, 1]), "lon": float(reps[j, 0]), "cls": "ws-rank-icon",
            "html": f'<div class="ws-rank">#{_fmt_int(rank)}</div>', "size": [30, 16],
            "alt": f"Uncovered area {_fmt_int(rank)}", "popup": popup, "tip": None,
        })
    _GeoJsonLayer(
        _feature_collection(geoms, props), name="Uncovered areas (ranked)",
        style={"color": "#67000d", "weight": 2, "fill": True, "fillOpacity": 0.0,
               "dashArray": "2 4"},
        interactive=True,
    ).add_to(frame.m)
    _MarkerLayer(labels[:20], name="Uncovered areas: rank labels (top 20)").add_to(frame.m)
    return ('<h4>Uncovered areas</h4><i style="border:2px dashed #67000d;'
            'background:none"></i>ranked by residents (#1 = most)')


def precinct_layers(
    frame: Frame, precincts: gpd.GeoDataFrame, catch: dict[str, dict[str, Any]],
    label: str | None,
) -> str:
    """Precincts as pins, one layer per status, with a popup each."""
    pts = precincts.geometry.to_crs("EPSG:4326")
    xy = shapely.get_coordinates(
        np.asarray(shapely.point_on_surface(np.asarray(pts.values, dtype=object)))
    )
    names = precincts["name"] if "name" in precincts.columns else pd.Series(
        [None] * len(precincts), index=precincts.index
    )
    status = precincts["status"] if "status" in precincts.columns else pd.Series(
        ["open"] * len(precincts), index=precincts.index
    )
    share_label = f"Covered share within {_label_text(label)}" if label else "Covered share"
    groups: dict[str, list[dict[str, Any]]] = {}
    for i, (pid, name, st) in enumerate(zip(precincts.index, names, status, strict=True)):
        pid_s = str(pid)
        st_s = str(st)
        shown = str(name) if name is not None and str(name).strip() and str(name) != "nan" \
            else f"Precinct {pid_s}"
        c = catch.get(pid_s, {})
        rows = [
            ("Status", st_s),
            ("Residents served", _fmt_int(c.get("served"))),
            (share_label, _fmt_share(c.get("share"))),
            ("Inspectors needed", _fmt_int(c.get("inspectors"))),
        ]
        colour = _STATUS_COLOURS.get(st_s, "#333333")
        groups.setdefault(st_s, []).append(
            {
                "lat": float(xy[i, 1]),
                "lon": float(xy[i, 0]),
                "cls": f"ws-precinct ws-status-{re.sub(r'[^a-z]', '', st_s.lower())}",
                "html": f'<div class="ws-pin" style="background:{colour}" '
                        f'data-precinct="{_esc(pid_s)}"></div>',
                "size": [14, 14],
                "alt": shown,  # Leaflet sets it as an attribute value, not as HTML
                "popup": _rows_html(shown, rows),
                "tip": _esc(shown),
            }
        )
    order: list[str] = [s for s in ("open", "planned", "candidate") if s in groups]
    order += sorted(s for s in groups if s not in order)
    for s in order:
        _MarkerLayer(groups[s], name=f"Precincts: {_esc(s)}").add_to(frame.m)
    present = [s for s in _STATUS_COLOURS if
               ("status" in precincts.columns and (precincts["status"] == s).any())]
    if "status" not in precincts.columns:
        present = ["open"]
    return "<h4>Precincts</h4>" + "<br>".join(
        f'<i class="ws-dot" style="background:{_STATUS_COLOURS[s]}"></i>{_esc(s)}'
        for s in present
    )


def sites_layer(frame: Frame, sites: pd.DataFrame | None) -> str | None:
    """Proposed sites as numbered markers, with a popup each."""
    if sites is None or not len(sites):
        return None
    tab = sites.sort_values("rank") if "rank" in sites.columns else sites
    pts = tab.geometry.to_crs("EPSG:4326")
    xy = shapely.get_coordinates(np.asarray(pts.values, dtype=object))
    marks = []
    for j, (_, row) in enumerate(tab.iterrows()):
        rank = row.get("rank", j + 1)
        rows = [
            ("Newly covered residents", _fmt_int(row.get("newly_covered"))),
            ("Cumulative covered share", _fmt_share(row.get("cumulative_share"))),
        ]
        if "nearest_open_m" in tab.columns and math.isfinite(_num(row["nearest_open_m"])):
            rows.append(("Walk to nearest open precinct",
                         f"{_fmt_int(row['nearest_open_m'])} m"))
        if "district" in tab.columns:
            rows.append(("District", str(row["district"])))
        if "site" in tab.columns:
            rows.append(("Site", str(row["site"])))
        marks.append({
            "lat": float(xy[j, 1]), "lon": float(xy[j, 0]), "cls": "ws-site-icon",
            "html": f'<div class="ws-site">{_fmt_int(rank)}</div>', "size": [22, 22],
            "alt": f"Proposed site {_fmt_int(rank)}",
            "popup": _rows_html(f"Proposed site #{_fmt_int(rank)}", rows),
            "tip": f"#{_fmt_int(rank)}: +{_fmt_int(row.get('newly_covered'))} residents",
        })
    _MarkerLayer(marks, name="Proposed sites (by rank)").add_to(frame.m)
    return ('<h4>Proposed sites</h4><span class="ws-site" style="display:inline-block;'
            'width:16px;height:16px;line-height:12px;font-size:9px">1</span> '
            "rank (gain in the popup)")


def decorations(
    frame: Frame, legend: list[str], *, title: str, scenario: str | None,
    date: str | _dt.date | None, data_licence: str,
) -> None:
    """Layer list, title, legend and attribution."""
    folium.LayerControl(collapsed=False, position="topright").add_to(frame.m)
    day = date if date is not None else _dt.date.today()
    day_s = day.isoformat() if isinstance(day, _dt.date) else str(day)
    sub = " · ".join(_esc(x) for x in (scenario, day_s) if x)
    attribution = f"{_esc(_OSM_ATTRIBUTION)}, {_esc(data_licence)}"
    _Decorations(
        title_html=f"<h1>{_esc(title)}</h1><div>{sub}</div>",
        legend="".join(legend) or "",
        attribution=attribution,
    ).add_to(frame.m)
