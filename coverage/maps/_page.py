"""Page pieces of the coverage map: styles, escaping, GeoJSON text, the Leaflet elements."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from folium.map import Layer
from folium.template import Template

from .._errors import input_error

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
