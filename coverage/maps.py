"""The coverage map: walking areas, precincts, uncovered residents and proposed sites in one page.

:func:`coverage_map` builds a folium map from plain tables (an :class:`~walkshed.assessment.
Assessment` fills most of them), :func:`save_map` writes it atomically. Every layer can be
switched on and off; a legend, a scale, a title with the scenario's name and date, and the data
attribution are always visible.

Every text that comes from data (names, ids, district names) is HTML-escaped before it reaches
the page, and all of it travels to the browser as JSON strings, never as script text.

``offline=True`` makes one self-contained HTML file that requests nothing from any network:
Leaflet's script and styles are inlined from the ``xstatic-leaflet`` package and the web tiles
are replaced by a light basemap drawn from the loaded street network. Geometry is simplified for
display and coordinates are rounded to about a metre, which keeps a whole city's map small.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.map import Layer
from folium.template import Template

from ._errors import input_error
from .io import write_html
from .isochrones import dissolve_walking_areas
from .isochrones import walking_areas as compute_walking_areas
from .network import WalkNetwork

__all__ = ["coverage_map", "save_map"]

#: Leaflet as folium loads it online (same version as the inlined offline copy).
_LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
_LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"

#: One colour per threshold band, nearest first; open precincts in blues, open + planned in
#: purples so the two sets read apart when both are on.
_BANDS_OPEN = ("#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef")
_BANDS_PLANNED = ("#54278f", "#756bb1", "#9e9ac8", "#bcbddc", "#dadaeb")
_STATUS_COLOURS = {"open": "#1b7837", "planned": "#e08214", "candidate": "#7f7f7f"}
_CELL_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
_SHARE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
_OSM_ATTRIBUTION = "© OpenStreetMap contributors"
_DECIMALS = 5  # degrees: about 1 m, plenty for display

_CSS = """
.ws-title{position:fixed;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
 background:rgba(255,255,255,.92);padding:6px 14px;border-radius:6px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:14px/1.35 system-ui,sans-serif;text-align:center;
 pointer-events:none;max-width:60%}
.ws-title h1{font-size:17px;margin:0}
.ws-legend{background:rgba(255,255,255,.92);padding:6px 10px;border-radius:6px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:12px/1.4 system-ui,sans-serif;max-height:55vh;
 overflow:auto}
.ws-legend h4{margin:6px 0 2px;font-size:12px}
.ws-legend i{display:inline-block;width:14px;height:10px;margin-right:5px;
 vertical-align:middle;border:1px solid rgba(0,0,0,.35)}
.ws-legend i.ws-dot{width:10px;height:10px;border-radius:50%}
.ws-pin{width:14px;height:14px;border-radius:50%;border:2px solid #fff;
 box-shadow:0 0 0 1px #333;box-sizing:border-box}
.ws-site{width:22px;height:22px;border-radius:50%;background:#111;color:#fff;
 border:2px solid #ffd700;font:bold 11px/18px system-ui,sans-serif;text-align:center;
 box-sizing:border-box}
.ws-rank{color:#67000d;font:bold 12px system-ui,sans-serif;text-shadow:0 0 3px #fff,0 0 3px #fff;
 white-space:nowrap}
.ws-popup table{border-collapse:collapse}
.ws-popup th{text-align:left;font-weight:normal;color:#555;padding-right:8px}
.ws-popup td{text-align:right;font-variant-numeric:tabular-nums}
"""


# ---------------------------------------------------------------------------------------------
# small helpers


def _esc(value: Any) -> str:
    """Text from data, safe to place in HTML (shows as the same characters)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _script_safe(text)


def _script_safe(text: str) -> str:
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _fmt_int(x: Any) -> str:
    v = _num(x)
    return "n/a" if not math.isfinite(v) else f"{v:,.0f}"


def _fmt_share(x: Any) -> str:
    v = _num(x)
    return "n/a" if not math.isfinite(v) else f"{v:.1%}"


def _fmt_minutes(m: float) -> str:
    return f"{m:g} min"


def _rows_html(title: str, rows: Sequence[tuple[str, str]]) -> str:
    """A popup: an escaped title and a table of (label, already formatted value)."""
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<div class="ws-popup"><b>{_esc(title)}</b><table>{body}</table></div>'


def _only(geoms: np.ndarray, type_id: int) -> np.ndarray:
    """Keep the parts of one type (1 LineString, 3 Polygon) of each geometry, as a Multi*.

    Simplifying, rounding and repairing may leave stray points or lines in a collection; a
    GeoJSON point would be drawn as a marker whose image Leaflet fetches.
    """
    p1, i1 = shapely.get_parts(geoms, return_index=True)
    p2, i2 = shapely.get_parts(p1, return_index=True)
    idx = i1[i2]
    keep = shapely.get_type_id(p2) == type_id
    parts, idx = p2[keep], idx[keep]
    empty = shapely.from_wkt("MULTIPOLYGON EMPTY" if type_id == 3 else "MULTILINESTRING EMPTY")
    out = np.array([empty] * len(geoms), dtype=object)
    if len(parts):
        present, compact = np.unique(idx, return_inverse=True)
        make = shapely.multipolygons if type_id == 3 else shapely.multilinestrings
        out[present] = make(parts, indices=compact)
    return out


def _to_display(
    geoms: gpd.GeoSeries, simplify_m: float, metric_crs: Any, type_id: int = 3
) -> np.ndarray:
    """Geometries simplified in metres, then in EPSG:4326 rounded to about a metre."""
    if geoms.crs is None:
        raise input_error("map layer", "has no CRS", "Set the CRS of the GeoDataFrame")
    g = geoms.to_crs(metric_crs)
    arr = np.asarray(g.values, dtype=object)
    if simplify_m > 0:
        arr = shapely.simplify(arr, simplify_m, preserve_topology=True)
    ll = gpd.GeoSeries(arr, crs=metric_crs).to_crs("EPSG:4326")
    out = shapely.transform(np.asarray(ll.values, dtype=object), lambda c: np.round(c, _DECIMALS))
    return _only(np.asarray(shapely.make_valid(out), dtype=object), type_id)


def _feature_collection(geoms: np.ndarray, props: list[dict[str, Any]] | None = None) -> str:
    """GeoJSON text of shapely geometries (EPSG:4326) with per-feature properties."""
    keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    texts = shapely.to_geojson(geoms[keep])
    plist = props if props is not None else [{}] * len(geoms)
    plist = [p for p, k in zip(plist, keep, strict=True) if k]
    feats = [
        f'{{"type":"Feature","geometry":{g},"properties":'
        f'{json.dumps(p, ensure_ascii=False, separators=(",", ":"))}}}'
        for g, p in zip(texts, plist, strict=True)
    ]
    return _script_safe('{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}")


# ---------------------------------------------------------------------------------------------
# map elements (no jQuery, no template literals: data only ever travels as JSON)


class _GeoJsonLayer(Layer):
    """A toggleable GeoJSON layer; per-feature ``_style``, ``_popup`` (HTML) and ``_tip``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON({{ this.data }}, {
            interactive: {{ this.interactive|tojson }},
            style: function (f) {
                return Object.assign({}, {{ this.style|tojson }}, f.properties._style || {});
            },
            pointToLayer: function (f, latlng) { return L.circleMarker(latlng, {radius: 3}); },
            onEachFeature: function (f, layer) {
                if (f.properties._popup) {
                    layer.bindPopup(f.properties._popup, {maxWidth: 320});
                }
                if (f.properties._tip) { layer.bindTooltip(f.properties._tip, {sticky: true}); }
            }
        });
        {% endmacro %}
        """
    )

    def __init__(
        self, data: str, *, name: str, style: dict[str, Any], interactive: bool = False,
        show: bool = True, control: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "WalkshedGeoJson"
        self.data = data
        self.style = style
        self.interactive = interactive


class _MarkerLayer(Layer):
    """A toggleable group of HTML markers (``L.divIcon``) with popups and tooltips."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        {{ this.markers }}.forEach(function (m) {
            var icon = L.divIcon({className: m.cls, html: m.html, iconSize: m.size,
                                  iconAnchor: [m.size[0] / 2, m.size[1] / 2]});
            var mk = L.marker([m.lat, m.lon], {icon: icon, riseOnHover: true,
                                               keyboard: true, alt: m.alt});
            if (m.popup) { mk.bindPopup(m.popup, {maxWidth: 320}); }
            if (m.tip) { mk.bindTooltip(m.tip); }
            mk.addTo({{ this.get_name() }});
        });
        {% endmacro %}
        """
    )

    def __init__(self, markers: list[dict[str, Any]], *, name: str, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "WalkshedMarkers"
        self.markers = _json_for_script(markers)


class _Decorations(folium.MacroElement):
    """Title (fixed, top centre), legend (control), attribution and page styles."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="ws-title" id="ws-title">{{ this.title_html }}</div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            // Leaflet's default prefix carries a flag icon; an official map keeps the credit
            // and leaves the symbol out
            map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
            map.attributionControl.addAttribution({{ this.attribution|tojson }});
            var legend = L.control({position: "bottomleft"});
            legend.onAdd = function () {
                var div = L.DomUtil.create("div", "ws-legend");
                div.id = "ws-legend";
                div.innerHTML = {{ this.legend|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo(map);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, *, title_html: str, legend: str, attribution: str) -> None:
        super().__init__()
        self._name = "WalkshedDecorations"
        self.css = _CSS
        self.title_html = title_html  # built from escaped parts only
        self.legend = legend
        self.attribution = attribution


def _leaflet_offline() -> tuple[str, str]:
    """Leaflet's script and styles (images as data URIs) from the xstatic-leaflet package."""
    try:
        import xstatic.pkg.leaflet as xl
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise input_error(
            "offline map",
            "the package that ships Leaflet's files (xstatic-leaflet) is not installed",
            "Install it with `pip install xstatic-leaflet`, or make the map with offline=False",
        ) from exc
    base = Path(xl.BASE_DIR)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js).replace("</script", "<\\/script")
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        path = base / match.group(1)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    return js, css


# ---------------------------------------------------------------------------------------------
# reading the tables


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


def _precinct_layers(
    precincts: gpd.GeoDataFrame, catch: dict[str, dict[str, Any]], label: str | None
) -> list[_MarkerLayer]:
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
    return [_MarkerLayer(groups[s], name=f"Precincts: {_esc(s)}") for s in order]


def _class_breaks(values: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` classes of positive values by quantiles, as rounded upper bounds."""
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) == 0:
        return np.array([1.0])
    qs = np.quantile(v, np.linspace(0, 1, k + 1)[1:])
    qs = np.unique(np.ceil(qs))
    return qs


# ---------------------------------------------------------------------------------------------
# the map


def coverage_map(
    network: WalkNetwork,
    assessment: Any | None = None,
    *,
    precincts: gpd.GeoDataFrame,
    walking_areas: gpd.GeoDataFrame | None = None,
    catchments: pd.DataFrame | None = None,
    uncovered_cells: gpd.GeoDataFrame | None = None,
    uncovered_areas: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | Any | None = None,
    districts: gpd.GeoDataFrame | None = None,
    district_table: pd.DataFrame | None = None,
    title: str = "Police at walking distance",
    scenario: str | None = None,
    date: str | _dt.date | None = None,
    data_licence: str = "ODbL 1.0",
    offline: bool = False,
    simplify_m: float = 5.0,
    thresholds_min: Sequence[float] | None = None,
) -> folium.Map:
    """An interactive coverage map with toggleable layers.

    Parameters
    ----------
    network
        The walking network (its extent frames the map; offline it is the basemap).
    assessment
        Optional result of :func:`walkshed.assessment.assess`; fills ``catchments``,
        ``uncovered_cells``, ``uncovered_areas``, ``district_table`` and the thresholds
        wherever those are not given.
    precincts
        Precincts (index = id; ``name``, ``status``), any CRS. Drawn by status, each with a
        popup: name, status, residents served, covered share, inspectors needed.
    walking_areas
        Output of :func:`walkshed.isochrones.walking_areas`; computed here when not given.
        Drawn per threshold, one band colour each, for the open precincts and for open +
        planned.
    catchments
        Per precinct: ``precinct`` (column or index), ``residents_served``,
        ``inspectors_needed`` and either ``covered_share`` or ``within_<label>`` columns; with
        a ``scenario`` column, open precincts take the ``open`` rows and the others the
        ``open+planned`` rows.
    uncovered_cells
        Polygons with ``population`` (uncovered residents): a choropleth.
    uncovered_areas
        Polygons with ``rank`` and ``population`` (optional ``district``, ``walk_to_open_m``):
        outlined and numbered by rank.
    sites
        Proposed sites: a ranked table (``rank``, point geometry, ``newly_covered``,
        ``cumulative_share``; optional ``nearest_open_m``, ``district``, ``site``) or a
        :class:`~walkshed.siting.SitingResult` (its ``table``).
    districts
        District polygons with ``name``, and a ``covered_share`` column or a
        ``district_table`` to take it from.
    district_table
        Per district (``district`` = name): ``share_<label>_open`` columns.
    title, scenario, date
        Shown at the top; ``date`` defaults to today.
    data_licence
        Licence of the map data, shown next to "© OpenStreetMap contributors" (e.g.
        ``"ODbL 1.0"``, or ``"CC BY-SA 2.0"`` for OSM data from before September 2012).
    offline
        One self-contained page with no network request: Leaflet inlined, the street network
        drawn as the basemap instead of web tiles.
    simplify_m
        Tolerance in metres for simplifying geometry for display.
    thresholds_min
        Thresholds of the walking areas computed here; default the assessment's, else
        :data:`walkshed.settings.thresholds_min`.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map`.
    """
    if not isinstance(precincts, gpd.GeoDataFrame) or precincts.crs is None:
        raise input_error(
            "precincts", "must be a GeoDataFrame with a CRS",
            "Load them with walkshed.precincts or set the CRS",
        )
    metric = network.crs
    catchments = catchments if catchments is not None else _get(assessment, "catchments")
    uncovered_cells = (
        uncovered_cells if uncovered_cells is not None else _get(assessment, "uncovered_cells")
    )
    uncovered_areas = (
        uncovered_areas if uncovered_areas is not None else _get(assessment, "uncovered_areas")
    )
    district_table = (
        district_table if district_table is not None else _get(assessment, "districts")
    )
    if sites is not None and not isinstance(sites, pd.DataFrame):
        sites = getattr(sites, "table", None)
    if walking_areas is None:
        st = _get(assessment, "settings")
        mins = thresholds_min or (getattr(st, "thresholds_min", None) if st else None)
        speed = getattr(st, "walk_speed_kmh", None) if st else None
        walking_areas = compute_walking_areas(
            network, precincts, thresholds_min=mins, walk_speed_kmh=speed
        )

    minx, miny, maxx, maxy = network.bounds
    corners = gpd.GeoSeries(
        [shapely.Point(minx, miny), shapely.Point(maxx, maxy)], crs=metric
    ).to_crs("EPSG:4326")
    (w, s), (e, n) = shapely.get_coordinates(np.asarray(corners.values))
    m = folium.Map(
        location=[(s + n) / 2, (w + e) / 2], zoom_start=12, tiles=None, prefer_canvas=True,
        control_scale=True,
    )
    if offline:
        js, css = _leaflet_offline()
        m.default_js = []
        m.default_css = []
        root: Any = m.get_root()
        root.header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css")
        root.header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js")
        streets = _to_display(
            gpd.GeoSeries(network.edge_geometry, crs=metric), max(simplify_m, 1.0), metric, 1
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

    legend: list[str] = []
    share_label = None

    # districts by covered share
    if districts is not None and len(districts):
        dist = districts.copy()
        share_col = None
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
        geoms = _to_display(dist.geometry, simplify_m, metric)
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
        ).add_to(m)
        legend.append(f"<h4>Districts: covered share{_esc(within)}</h4>" + "<br>".join(
            f'<i style="background:{c}"></i>{i * 20}–{(i + 1) * 20}%'
            for i, c in enumerate(_SHARE_COLOURS)
        ))

    # uncovered residents as cells
    if uncovered_cells is not None and len(uncovered_cells):
        pop = uncovered_cells["population"].to_numpy(dtype=float)
        breaks = _class_breaks(pop, len(_CELL_COLOURS))
        cls = np.minimum(np.searchsorted(breaks, pop, side="left"), len(breaks) - 1)
        colours = _CELL_COLOURS[-len(breaks):] if len(breaks) < len(_CELL_COLOURS) \
            else _CELL_COLOURS
        geoms = _to_display(uncovered_cells.geometry, 0.0, metric)
        props = [
            {"_style": {"fillColor": colours[c]},
             "_popup": _rows_html("Uncovered residents", [("Residents", _fmt_int(p))])}
            for c, p in zip(cls, pop, strict=True)
        ]
        _GeoJsonLayer(
            _feature_collection(geoms, props), name="Uncovered residents (cells)",
            style={"stroke": False, "fillOpacity": 0.5}, interactive=True,
        ).add_to(m)
        lows = np.concatenate([[0.0], breaks[:-1]])
        legend.append("<h4>Uncovered residents per cell</h4>" + "<br>".join(
            f'<i style="background:{colours[i]}"></i>{_fmt_int(lo)}–{_fmt_int(hi)}'
            for i, (lo, hi) in enumerate(zip(lows, breaks, strict=True))
        ))

    # walking areas per threshold: open, and open + planned
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
        geoms = _to_display(merged.geometry, simplify_m, metric)
        for i, (minutes, g) in enumerate(zip(merged["threshold_min"], geoms, strict=True)):
            colour = palette[min(i, len(palette) - 1)]
            _GeoJsonLayer(
                _feature_collection(np.array([g], dtype=object)),
                name=f"Walking areas, {label}: {_fmt_minutes(float(minutes))}",
                style={"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.22},
                show=show,
            ).add_to(m)
            band_rows.append(
                f'<i style="background:{colour}"></i>{_esc(label)}: '
                f"{_esc(_fmt_minutes(float(minutes)))}"
            )
    if band_rows:
        legend.insert(0, "<h4>Walking areas</h4>" + "<br>".join(band_rows))

    # uncovered areas, ranked
    if uncovered_areas is not None and len(uncovered_areas):
        ua = uncovered_areas.sort_values("rank") if "rank" in uncovered_areas.columns \
            else uncovered_areas
        geoms = _to_display(ua.geometry, simplify_m, metric)
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
        group = _GeoJsonLayer(
            _feature_collection(geoms, props), name="Uncovered areas (ranked)",
            style={"color": "#67000d", "weight": 2, "fill": True, "fillOpacity": 0.0,
                   "dashArray": "2 4"},
            interactive=True,
        )
        group.add_to(m)
        _MarkerLayer(labels[:20], name="Uncovered areas: rank labels (top 20)").add_to(m)
        legend.append('<h4>Uncovered areas</h4><i style="border:2px dashed #67000d;'
                      'background:none"></i>ranked by residents (#1 = most)')

    # precincts by status
    catch, c_label = _catchment_rows(catchments, precincts, assessment)
    for layer in _precinct_layers(precincts, catch, c_label):
        layer.add_to(m)
    present = [s for s in _STATUS_COLOURS if
               ("status" in precincts.columns and (precincts["status"] == s).any())]
    if "status" not in precincts.columns:
        present = ["open"]
    legend.append("<h4>Precincts</h4>" + "<br>".join(
        f'<i class="ws-dot" style="background:{_STATUS_COLOURS[s]}"></i>{_esc(s)}'
        for s in present
    ))

    # proposed sites
    if sites is not None and len(sites):
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
        _MarkerLayer(marks, name="Proposed sites (by rank)").add_to(m)
        legend.append('<h4>Proposed sites</h4><span class="ws-site" style="display:inline-block;'
                      'width:16px;height:16px;line-height:12px;font-size:9px">1</span> '
                      "rank (gain in the popup)")

    folium.LayerControl(collapsed=False, position="topright").add_to(m)

    day = date if date is not None else _dt.date.today()
    day_s = day.isoformat() if isinstance(day, _dt.date) else str(day)
    sub = " · ".join(_esc(x) for x in (scenario, day_s) if x)
    attribution = f"{_esc(_OSM_ATTRIBUTION)}, {_esc(data_licence)}"
    _Decorations(
        title_html=f"<h1>{_esc(title)}</h1><div>{sub}</div>",
        legend="".join(legend) or "",
        attribution=attribution,
    ).add_to(m)
    # frame the precincts and their walking reach, not the whole extract (suburbs, highways)
    reach = float(walking_areas["threshold_m"].max()) if len(walking_areas) else 0.0
    pts = precincts.geometry.to_crs(metric)
    box = shapely.box(*pts.total_bounds).buffer(reach, join_style="mitre")
    box = box.intersection(shapely.box(minx, miny, maxx, maxy))
    if box.is_empty:
        box = shapely.box(minx, miny, maxx, maxy)
    frame = gpd.GeoSeries([box], crs=metric).to_crs("EPSG:4326").total_bounds
    m.fit_bounds([[frame[1], frame[0]], [frame[3], frame[2]]])
    return m


def save_map(m: folium.Map, path: str | os.PathLike[str]) -> Path:
    """Write the map to one HTML file, atomically (a reader never sees half a file).

    Parameters
    ----------
    m
        A map from :func:`coverage_map`.
    path
        Where to write; parent folders are created.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    return write_html(m, path)

