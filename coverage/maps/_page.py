"""Page pieces of the coverage map: styles, the JSON data block, geometry, the fixed script."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, Figure, MacroElement

from .._errors import input_error
from ..i18n import Translator, translator

#: One colour per threshold band, nearest first; open precincts in blues, open + planned in
#: purples so the two sets read apart when both are on.
_BANDS_OPEN = ("#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef")
_BANDS_PLANNED = ("#54278f", "#756bb1", "#9e9ac8", "#bcbddc", "#dadaeb")
_STATUS_COLOURS = {"open": "#1b7837", "planned": "#e08214", "candidate": "#7f7f7f"}
_CELL_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
_SHARE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
#: District fill by covered share (light = little covered), kept apart from the reds of cells.
_DISTRICT_COLOURS = ("#f7fcf5", "#c7e9c0", "#74c476", "#31a354", "#006d2c")
#: Web tiles of the online map (a setting: ``coverage_map(tiles=...)``).
_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTRIBUTION = "© OpenStreetMap contributors"
_DECIMALS = 5  # degrees: about 1 m, plenty for display

_CSS = """
.ws-title{position:fixed;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
 background:rgba(255,255,255,.92);padding:6px 14px;border-radius:6px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:14px/1.35 system-ui,sans-serif;text-align:center;
 pointer-events:none;max-width:55%}
.ws-title h1{font-size:17px;margin:0}
.ws-legend{background:rgba(255,255,255,.92);padding:6px 10px;border-radius:6px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:12px/1.4 system-ui,sans-serif;max-height:62vh;
 overflow:auto}
.ws-legend h4{margin:6px 0 2px;font-size:12px}
.ws-legend i{display:inline-block;width:14px;height:10px;margin-right:5px;
 vertical-align:middle;border:1px solid rgba(0,0,0,.35);box-sizing:border-box;
 font:bold 8px/8px system-ui,sans-serif;font-style:normal;text-align:center}
.ws-legend i.ws-dot{width:10px;height:10px;border-radius:50%}
.ws-legend i.ws-site{width:14px;height:14px;line-height:10px;font-size:8px;border-width:2px}
.ws-layers{background:rgba(255,255,255,.95);padding:4px 8px;border-radius:6px;
 font:12px/1.5 system-ui,sans-serif;max-height:70vh;overflow:auto}
.ws-layers summary{cursor:pointer;font-weight:bold}
.ws-layer{display:block;white-space:nowrap}
.ws-pin{width:14px;height:14px;border-radius:50%;border:2px solid #fff;
 box-shadow:0 0 0 1px #333;box-sizing:border-box}
.ws-site{width:22px;height:22px;border-radius:50%;background:#111;color:#fff;
 border:2px solid #ffd700;font:bold 11px/18px system-ui,sans-serif;text-align:center;
 box-sizing:border-box}
.ws-rank{color:#67000d;font:bold 12px/16px system-ui,sans-serif;
 text-shadow:0 0 3px #fff,0 0 3px #fff;white-space:nowrap;text-align:center}
.ws-label-icon{width:0;height:0}
.ws-label{position:absolute;transform:translate(-50%,-50%);white-space:pre;
 font:bold 12px/1.2 system-ui,sans-serif;color:#222;text-align:center;pointer-events:none;
 text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 3px #fff}
.ws-figure{font-size:13px}
.ws-info{background:rgba(255,255,255,.95);padding:4px 8px;border-radius:6px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:12px/1.4 system-ui,sans-serif;max-width:300px;
 max-height:70vh;overflow:auto}
.ws-info summary{cursor:pointer;font-weight:bold}
.ws-info h4{margin:8px 0 2px;font-size:12px}
.ws-info ul{margin:2px 0;padding-left:16px}
.ws-info table{border-collapse:collapse}
.ws-info th{text-align:left;font-weight:normal;color:#555;padding-right:8px;vertical-align:top}
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


def _en() -> Translator:
    return translator("en")


def _fmt_int(x: Any, t: Translator | None = None) -> str:
    t = t or _en()
    v = _num(x)
    return t.gettext(TEXT["n_a"]) if not math.isfinite(v) else t.number(v)


def _fmt_share(x: Any, t: Translator | None = None) -> str:
    t = t or _en()
    v = _num(x)
    return t.gettext(TEXT["n_a"]) if not math.isfinite(v) else t.percent(v)


def _fmt_g(x: float, t: Translator | None = None) -> str:
    """A number with the decimals it needs (up to 2), in the locale's digits: 7.5 -> ``7,5``."""
    t = t or _en()
    v = float(x)
    digits = next((d for d in (0, 1, 2) if abs(round(v, d) - v) < 1e-9), 2)
    return t.number(v, digits)


def _fmt_minutes(m: float, t: Translator | None = None) -> str:
    t = t or _en()
    return t.gettext(TEXT["minutes"]).format(n=_fmt_g(m, t))


def _fmt_metres(x: Any, t: Translator | None = None) -> str:
    t = t or _en()
    return t.gettext(TEXT["metres"]).format(n=_fmt_int(x, t))


def page_text(t: Translator) -> dict[str, str]:
    """:data:`TEXT` in ``t``'s language. An id ``"what|word"`` says which sense of a short
    word is meant (translators see it); untranslated, the part after ``|`` shows."""
    out = {}
    for key, msgid in TEXT.items():
        said = t.gettext(msgid)
        out[key] = said.split("|", 1)[-1] if said == msgid else said
    return out


def _popup(title: str, rows: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A popup as data: a title and (label, already formatted value) rows, all plain text."""
    return {"title": str(title), "rows": [[str(k), str(v)] for k, v in rows]}


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


def _feature_collection(
    geoms: np.ndarray, props: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (dict) of shapely geometries (EPSG:4326) with properties."""
    keep = ~(shapely.is_empty(geoms) | shapely.is_missing(geoms))
    texts = shapely.to_geojson(geoms[keep])
    plist = props if props is not None else [{}] * len(geoms)
    plist = [p for p, k in zip(plist, keep, strict=True) if k]
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": json.loads(g), "properties": p}
                     for g, p in zip(texts, plist, strict=True)],
    }


# ---------------------------------------------------------------------------------------------
# the page: folium renders only fixed things (Leaflet, the map's container, the scale); every
# text from data travels in ONE JSON block and the fixed script below builds the layers, popups,
# tooltips, labels, layer list, legend and title with DOM APIs (textContent, never innerHTML).
#
# Why not folium elements with Jinja templates: branca renders each element's output and then
# parses that output again as a new Jinja template, so text such as ``{{ 6*7 }}`` in a name was
# evaluated (and ``{{ cycler.__init__.__globals__ ... }}`` ran Python).

def _(message: str) -> str:
    """Mark ``message`` for extraction by pybabel; :func:`page_text` translates it."""
    return message


#: Every user-visible word of the map's interface, in one place: message ids of the gettext
#: catalogues (``walkshed.locale``), translated per map by :func:`page_text`.
TEXT: dict[str, str] = {
    "layers": _("Layers"),
    "legend": _("Legend"),
    "streets": _("Streets (offline basemap)"),
    "tiles": _("Web map tiles (OpenStreetMap)"),
    "district_names": _("District names"),
    "districts": _("Districts: covered share"),
    "districts_within": _("Districts: covered share ({label})"),
    "no_data": _("no data"),
    "cells": _("Uncovered residents (cells)"),
    "cells_legend": _("Uncovered residents per cell"),
    "walking_areas": _("Walking areas"),
    "walking_area": _("Walking areas, {label}: {minutes}"),
    "uncovered_areas": _("Uncovered areas"),
    "uncovered_top": _("Uncovered areas: top {n} (numbered)"),
    "uncovered_rest": _("Uncovered areas: the others"),
    "uncovered_numbers": _("Uncovered areas: numbers (top {n})"),
    "uncovered_legend": _("ranked by residents (#1 = most)"),
    "uncovered_area": _("Uncovered area #{rank}"),
    "precincts": _("Precincts"),
    "precincts_layer": _("Precincts: {status}"),
    "precinct": _("Precinct {id}"),
    "sites": _("Proposed sites (by rank)"),
    "sites_legend": _("rank (gain in the popup)"),
    "site": _("Proposed site #{rank}"),
    "site_tip": _("#{rank}: +{gain} residents"),
    "data_date": _("data {date}"),
    "run_date": _("run {date}"),
    "residents": _("Residents"),
    "uncovered_residents": _("Uncovered residents"),
    "covered_within": _("Covered within {label}"),
    "covered_within_planned": _("Covered within {label}, with planned"),
    "covered_share": _("Covered share"),
    "covered_share_within": _("Covered share within {label}"),
    "status": _("Status"),
    "district": _("District"),
    "residents_served": _("Residents served"),
    "inspectors_needed": _("Inspectors needed"),
    "inspectors_on_staff": _("Inspectors on staff"),
    "median_walk": _("Median walk"),
    "p90_walk": _("Walk of the farthest 10 %"),
    "walk_to_open": _("Walk to nearest open precinct"),
    "median_walk_to_open": _("Median walk to nearest open precinct"),
    "newly_covered": _("Newly covered residents"),
    "cumulative_share": _("Cumulative covered share"),
    "address": _("Address"),
    "street": _("Street"),
    "site_id": _("Site"),
    "precincts_status": _("Precincts {status}"),
    "precincts_kind": _("Precincts of kind {kind}"),
    "kind": _("Kind"),
    "kind_reason": _("Kind, because"),
    "open": _("open"),
    "open_planned": _("open + planned"),
    "planned": _("planned"),
    "candidate": _("candidate"),
    "status_open": _("precinct status|open"),
    "status_planned": _("precinct status|planned"),
    "status_candidate": _("precinct status|candidate"),
    "count_open": _("Open precincts"),
    "count_planned": _("Planned precincts"),
    "count_candidate": _("Candidate sites"),
    "title": _("Police at walking distance"),
    "attribution": _("© OpenStreetMap contributors"),
    "n_a": _("n/a"),
    "minutes": _("{n} min"),
    "metres": _("{n} m"),
    "kilometres": _("{n} km"),
    "zoom_in": _("Zoom in"),
    "zoom_out": _("Zoom out"),
    "col_served_on_foot": _("Served on foot"),
    "col_inspectors_on_staff": _("Inspectors on staff"),
    "col_inspectors_gap": _("Inspectors: gap (needed - on staff)"),
    "yes": _("yes"),
    "no": _("no"),
    "kind_precinct": _("precinct kind|precinct"),
    "kind_station": _("precinct kind|station"),
    "kind_traffic": _("precinct kind|traffic"),
    "kind_checkpoint": _("precinct kind|checkpoint"),
    "kind_other": _("precinct kind|other"),
    "kind_unknown": _("precinct kind|unknown"),
    "inspectors_gap": _("Gap (needed − on staff)"),
    "not_on_foot": _("none: not served on foot"),
    "about": _("About these figures: ranges, staffing, caveats, sources"),
    "figures": _("Figures and their ranges"),
    "covered_open": _("Covered within {label}"),
    "covered_planned": _("Covered within {label}, with planned"),
    "range_methods": _("{value} % ({low}–{high} % across methods)"),
    "range_norms": _("{value} ({low}–{high} across norms of {norms} residents per inspector)"),
    "by_method": _("Covered, residents placed by {method}"),
    "not_applicable": _("not applicable: {reason}"),
    "by_norm": _("Inspectors needed at {norm} residents per inspector"),
    "staffing_today": _("Staffing today (open precincts, {norm} residents per inspector)"),
    "not_on_foot_residents": _("Residents not served on foot"),
    "not_on_foot_item": _("Not served on foot: {name} ({residents} residents, median walk "
                          "{walk} m)"),
    "staffing_rule": _("Rule: inspectors needed = residents served / norm, rounded up per "
                       "precinct; districts and the city are sums of the precinct figures; "
                       "catchments not served on foot (median walk beyond the largest "
                       "threshold) get no figure and are not in the totals."),
    "kinds_found": _("Police points by kind"),
    "kinds_counted": _("Counted as precincts"),
    "kinds_left_out": _("Left out"),
    "left_out_item": _("Left out: {name} ({kind})"),
    "caveats": _("Caveats"),
    "sources": _("Sources"),
    "date": _("Date"),
    "precision": _("Precision"),
    "licence": _("Licence"),
}


class _Raw(Element):
    """Text placed on the page as it is: never parsed as a template (see above)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


class _Page(MacroElement):
    """The map's styles, Leaflet (inlined), the JSON data block and the fixed script."""

    def __init__(self, data: dict[str, Any], *, leaflet: tuple[str, str] | None) -> None:
        super().__init__()
        self._name = "WalkshedPage"
        self.data = data
        self.leaflet = leaflet

    def render(self, **kwargs: Any) -> str:
        figure = self.get_root()
        assert isinstance(figure, Figure)
        if self.leaflet is not None:
            js, css = self.leaflet
            figure.header.add_child(_Raw(f"<style>{css}</style>"), name="leaflet_css")
            figure.header.add_child(_Raw(f"<script>{js}</script>"), name="leaflet_js")
        figure.header.add_child(_Raw(f"<style>{_CSS}</style>"), name="walkshed_css")
        figure.html.add_child(
            _Raw('<script type="application/json" id="walkshed-data">'
                 f"{_json_for_script(self.data)}</script>"),
            name="walkshed_data",
        )
        name = self._parent.get_name() if self._parent is not None else ""
        if not re.fullmatch(r"map_[0-9a-f]+", name):  # folium's own id, never data
            raise RuntimeError("the walkshed page must be added to a folium.Map")
        figure.script.add_child(_Raw(_SCRIPT.replace("__MAP__", name)), name="walkshed_js")
        return ""


_SCRIPT = r"""
(function () {
  "use strict";
  var map = __MAP__;
  var D = JSON.parse(document.getElementById("walkshed-data").textContent);
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function rowsTable(rows) {
    var table = el("table");
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("th", r[0]));
      tr.appendChild(el("td", r[1]));
      table.appendChild(tr);
    });
    return table;
  }
  function popup(p) {
    var div = el("div", null, "ws-popup");
    div.appendChild(el("b", p.title));
    div.appendChild(rowsTable(p.rows));
    return div;
  }
  function iconNode(ic) {
    var d = el("div", ic.text, ic.cls);
    if (ic.colour) { d.style.background = ic.colour; }
    if (ic.data) { Object.keys(ic.data).forEach(function (k) {
      d.setAttribute("data-" + k.replace(/[^a-z]/g, ""), ic.data[k]); }); }
    return d;
  }
  function swatch(s) {
    var i = el("i", s.text, s.cls || "");
    if (s.fill) { i.style.background = s.fill; }
    if (s.line) {
      i.style.border = (s.width || 2) + "px " + (s.dash ? "dashed " : "solid ") + s.line;
    }
    if (s.line && !s.fill) { i.style.background = "none"; }
    return i;
  }

  document.title = D.title;
  document.documentElement.lang = D.lang;
  // the scale in the map's language (Leaflet writes "500 m", "1 km"; feet and miles in English)
  var Scale = L.Control.Scale.extend({_updateScale: function (scale, text, ratio) {
    scale.style.width = Math.round(this.options.maxWidth * ratio) + "px";
    var m = /^(\S+) (m|km)$/.exec(text);
    scale.textContent = m ? D.text[m[2] === "m" ? "metres" : "kilometres"].replace(
      "{n}", m[1]) : text;
  }});
  new Scale({imperial: D.lang === "en"}).addTo(map);
  if (map.zoomControl) {
    [[map.zoomControl._zoomInButton, D.text.zoom_in],
     [map.zoomControl._zoomOutButton, D.text.zoom_out]].forEach(function (b) {
      if (b[0]) { b[0].title = b[1]; b[0].setAttribute("aria-label", b[1]); }
    });
  }
  var tbox = el("div", null, "ws-title");
  tbox.id = "ws-title";
  tbox.appendChild(el("h1", D.title));
  if (D.subtitle) { tbox.appendChild(el("div", D.subtitle)); }
  (D.lines || []).forEach(function (t) { tbox.appendChild(el("div", t, "ws-figure")); });
  document.body.appendChild(tbox);

  // the panel: ranges, staffing, precinct kinds, caveats and sources (collapsible, closed)
  if (D.panel) {
    var infoCtl = L.control({position: "topleft"});
    infoCtl.onAdd = function () {
      var box = el("details", null, "ws-info leaflet-control");
      box.id = "ws-info";
      box.appendChild(el("summary", D.panel.summary));
      D.panel.sections.forEach(function (s) {
        var sec = el("section");
        sec.setAttribute("data-section", s.id);
        sec.appendChild(el("h4", s.title));
        if (s.rows && s.rows.length) { sec.appendChild(rowsTable(s.rows)); }
        if (s.items && s.items.length) {
          var ul = el("ul");
          s.items.forEach(function (t) { ul.appendChild(el("li", t)); });
          sec.appendChild(ul);
        }
        (s.groups || []).forEach(function (g) {
          sec.appendChild(el("b", g.title));
          sec.appendChild(rowsTable(g.rows));
        });
        box.appendChild(sec);
      });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    infoCtl.addTo(map);
  }

  // attribution once, as text
  if (map.attributionControl) { map.removeControl(map.attributionControl); }
  var credit = L.control({position: "bottomright"});
  credit.onAdd = function () {
    var div = el("div", null, "leaflet-control-attribution leaflet-control");
    div.id = "ws-attribution";
    var a = el("a", "Leaflet");
    a.href = "https://leafletjs.com";
    div.appendChild(a);
    div.appendChild(document.createTextNode(" | " + D.attribution));
    return div;
  };
  credit.addTo(map);

  var built = [];
  D.layers.forEach(function (spec) {
    var layer;
    if (spec.kind === "tiles") {
      layer = L.tileLayer(spec.url, {maxZoom: 19});
      layer.once("tileload", function () {  // tiles reachable: they replace the streets
        built.forEach(function (b) { if (b.spec.basemap && map.hasLayer(b.layer)) {
          setShown(b, false); } });
      });
    } else if (spec.kind === "geojson") {
      layer = L.geoJSON(spec.data, {
        interactive: !!spec.interactive,
        style: function (f) { return Object.assign({}, spec.style, f.properties.style || {}); },
        pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 3}); },
        onEachFeature: function (f, l) {
          var p = f.properties;
          if (p.popup) { l.bindPopup(function () { return popup(p.popup); }, {maxWidth: 340}); }
          if (p.tip) { l.bindTooltip(function () { return el("span", p.tip); }, {sticky: true}); }
        }
      });
    } else {
      layer = L.featureGroup();
      spec.markers.forEach(function (m) {
        var size = m.size || null;
        var icon = L.divIcon({className: m.cls || "", html: iconNode(m.icon), iconSize: size,
                              iconAnchor: size ? [size[0] / 2, size[1] / 2] : null});
        var mk = L.marker([m.lat, m.lon], {icon: icon, riseOnHover: true, keyboard: !!m.popup,
                                           alt: m.alt || "", interactive: !!(m.popup || m.tip)});
        mk.wsHome = L.latLng(m.lat, m.lon);
        mk.wsSize = size;
        if (m.popup) { mk.bindPopup(function () { return popup(m.popup); }, {maxWidth: 340}); }
        if (m.tip) { mk.bindTooltip(function () { return el("span", m.tip); }); }
        mk.addTo(layer);
      });
    }
    built.push({spec: spec, layer: layer, input: null});
  });

  // the layer list: collapsible (closed at first), checkboxes labelled with textContent
  var listCtl = L.control({position: "topright"});
  listCtl.onAdd = function () {
    var box = el("details", null, "ws-layers leaflet-control-layers");
    box.id = "ws-layers";
    box.appendChild(el("summary", D.text.layers));
    built.forEach(function (b) {
      var lab = el("label", null, "ws-layer");
      var input = el("input");
      input.type = "checkbox";
      input.checked = !!b.spec.show;
      input.addEventListener("change", function () { setShown(b, input.checked); });
      b.input = input;
      lab.appendChild(input);
      lab.appendChild(el("span", b.spec.name));
      box.appendChild(lab);
    });
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    return box;
  };

  var legendCtl = L.control({position: "bottomleft"});
  var legendDiv = null;
  legendCtl.onAdd = function () {
    legendDiv = el("div", null, "ws-legend");
    legendDiv.id = "ws-legend";
    L.DomEvent.disableClickPropagation(legendDiv);
    L.DomEvent.disableScrollPropagation(legendDiv);
    return legendDiv;
  };
  function drawLegend() {
    if (!legendDiv) { return; }
    legendDiv.replaceChildren();
    var seen = {};
    built.forEach(function (b) {
      var lg = b.spec.legend;
      if (!lg || !map.hasLayer(b.layer)) { return; }
      if (!seen[lg.section]) {
        seen[lg.section] = true;
        legendDiv.appendChild(el("h4", lg.section));
      }
      lg.items.forEach(function (it) {
        var row = el("div", null, "ws-legend-item");
        row.setAttribute("data-layer", b.spec.id);
        row.appendChild(swatch(it.swatch));
        row.appendChild(document.createTextNode(it.text));
        legendDiv.appendChild(row);
      });
    });
    legendDiv.style.display = legendDiv.childNodes.length ? "" : "none";
  }
  function setShown(b, on) {
    if (on && !map.hasLayer(b.layer)) { b.layer.addTo(map); }
    if (!on && map.hasLayer(b.layer)) { map.removeLayer(b.layer); }
    if (b.input) { b.input.checked = on; }
    drawLegend();
    declutter();
  }

  // markers that must not hide each other: sites first, then rank numbers, then names;
  // precincts stay where they are and are only avoided
  var lines = L.layerGroup().addTo(map);
  function rectOf(mk) {
    var p = map.latLngToLayerPoint(mk.getLatLng());
    var w, h;
    if (mk.wsSize) { w = mk.wsSize[0]; h = mk.wsSize[1]; }
    else if (mk._icon && mk._icon.firstChild) {
      var r = mk._icon.firstChild.getBoundingClientRect(); w = r.width; h = r.height;
    } else { w = 0; h = 0; }
    return {x: p.x - w / 2, y: p.y - h / 2, w: w, h: h};
  }
  function hits(a, list) {
    for (var i = 0; i < list.length; i++) {
      var b = list[i];
      if (a.x < b.x + b.w + 2 && b.x < a.x + a.w + 2 && a.y < b.y + b.h + 2 &&
          b.y < a.y + a.h + 2) { return true; }
    }
    return false;
  }
  function declutter() {
    lines.clearLayers();
    var placed = [];
    var movable = [];
    built.forEach(function (b) {
      if (!map.hasLayer(b.layer) || !b.spec.declutter) { return; }
      b.layer.eachLayer(function (mk) {
        if (!mk.wsHome) { return; }
        mk.setLatLng(mk.wsHome);
        if (mk._icon) { mk._icon.style.visibility = ""; }
        if (b.spec.declutter === "fixed") { placed.push(rectOf(mk)); }
        else { movable.push({mk: mk, prio: b.spec.declutter, must: !!b.spec.must,
                            leader: !!b.spec.leader}); }
      });
    });
    movable.sort(function (a, b) { return b.prio - a.prio; });
    movable.forEach(function (it) {
      var r0 = rectOf(it.mk);
      var home = map.latLngToLayerPoint(it.mk.wsHome);
      var step = Math.max(r0.w, r0.h, 12) * 0.75;
      var maxRing = it.must ? 40 : 3;
      for (var ring = 0; ring <= maxRing; ring++) {
        var n = ring === 0 ? 1 : 8 * ring;
        for (var k = 0; k < n; k++) {
          var ang = 2 * Math.PI * k / n - Math.PI / 2;
          var dx = ring * step * Math.cos(ang), dy = ring * step * Math.sin(ang);
          var r = {x: r0.x + dx, y: r0.y + dy, w: r0.w, h: r0.h};
          if (!hits(r, placed)) {
            placed.push(r);
            if (ring > 0) {
              var ll = map.layerPointToLatLng(L.point(home.x + dx, home.y + dy));
              it.mk.setLatLng(ll);
              if (it.leader) { L.polyline([it.mk.wsHome, ll], {color: "#111", weight: 1,
                                         interactive: false}).addTo(lines); }
            }
            return;
          }
        }
      }
      if (it.mk._icon) { it.mk._icon.style.visibility = "hidden"; }  // a label with no room
    });
  }

  built.forEach(function (b) { if (b.spec.show) { b.layer.addTo(map); } });
  listCtl.addTo(map);
  legendCtl.addTo(map);
  map.fitBounds(D.view, {animate: false});
  drawLegend();
  declutter();
  map.on("zoomend", declutter);
  window.walkshed = {map: map, layers: built, declutter: declutter};
})();
"""



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
