"""The national index map: one outline and marker per city, coloured by coverage today.

A plain Leaflet page. The cities reach it only as JSON in a ``<script type="application/json">``
element (escaped for the page) and every name is put on the page as text by the browser
(``textContent``), never as markup. Leaflet is inlined from xstatic-leaflet, so the page opens
without internet; ``offline=True`` also draws no web tiles, as
:func:`walkshed.maps.coverage_map` does.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..i18n import translator
from ..maps._page import (
    _OSM_ATTRIBUTION,
    _SHARE_COLOURS,
    _TILES,
    _esc,
    _json_for_script,
    _leaflet_offline,
)
from ..maps._tables import _label_text

__all__ = ["index_page"]

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{leaflet}
<style>
html,body{{height:100%;margin:0;font:13px/1.4 system-ui,sans-serif}}
#map{{position:absolute;top:0;bottom:0;left:380px;right:0;background:#eef2f5}}
#side{{position:absolute;top:0;bottom:0;left:0;width:380px;overflow:auto;
 box-shadow:1px 0 5px rgba(0,0,0,.3);padding:0 10px;box-sizing:border-box}}
#side h1{{font-size:16px;margin:10px 0 4px}} #side p{{margin:4px 0}}
#side table{{border-collapse:collapse;width:100%}}
#side td,#side th{{padding:2px 4px;white-space:nowrap;
 border-bottom:1px solid #ddd;text-align:right}}
#side th{{white-space:normal}}
#side td:first-child,#side th:first-child,#side td:nth-child(2){{text-align:left}}
.sw{{display:inline-block;width:11px;height:11px;border:1px solid #555;margin-right:4px}}
.legend{{background:rgba(255,255,255,.92);padding:6px 10px;border-radius:6px;
 box-shadow:0 1px 5px rgba(0,0,0,.4)}}
.failed{{color:#a00}}
</style></head>
<body><div id="side"><h1 id="title"></h1><p id="headline"></p>
<table id="cities"><thead><tr><th>#</th><th id="city-h"></th><th id="residents-h"></th>
<th id="share-h"></th><th id="beyond-h"></th></tr></thead><tbody></tbody></table>
<p id="failed" class="failed"></p></div>
<div id="map"></div>
<script type="application/json" id="walkshed-data">{data}</script>
<script>
(function () {{
  const D = JSON.parse(document.getElementById("walkshed-data").textContent);
  const W = D.text;
  const say = (template, values) => Object.keys(values).reduce(  // our words, filled as text
    (out, k) => out.split("{{" + k + "}}").join(String(values[k])), template);
  const F = D.written;  // figures written per locale in Python (Babel)
  document.documentElement.lang = D.lang;
  document.getElementById("city-h").textContent = W.city;
  document.getElementById("residents-h").textContent = W.residents;
  document.getElementById("beyond-h").textContent = W.beyond;
  const colour = (s) => {{
    if (s == null) return "#999";
    let i = 0; while (i < D.breaks.length && s >= D.breaks[i]) i++;
    return D.colours[i];
  }};
  const el = (tag, text, cls) => {{
    const e = document.createElement(tag); if (text != null) e.textContent = text;
    if (cls) e.className = cls; return e;
  }};
  document.getElementById("title").textContent = D.title;
  document.getElementById("share-h").textContent = say(W.covered, {{main: D.main}});
  const t = D.totals;
  document.getElementById("headline").textContent = say(W.headline, {{
    residents: F.residents, cities: F.cities, share: F.share, main: D.main,
    beyond: F.beyond}});
  const map = L.map("map", {{zoomSnap: 0.25}});
  if (D.tiles) L.tileLayer(D.tiles, {{maxZoom: 19}}).addTo(map);
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(D.attribution_html);
  const body = document.querySelector("#cities tbody");
  const bounds = [], layers = [];
  D.cities.forEach((c) => {{
    const tr = document.createElement("tr");
    tr.appendChild(el("td", c.rank == null ? "" : String(c.rank)));
    const name = el("td");
    const sw = el("span", null, "sw"); sw.style.background = colour(c.share);
    name.appendChild(sw);
    if (c.map) {{ const a = el("a", c.city); a.href = c.map; name.appendChild(a); }}
    else name.appendChild(document.createTextNode(c.city));
    tr.appendChild(name);
    tr.appendChild(el("td", c.written.residents));
    tr.appendChild(el("td", c.written.share));
    tr.appendChild(el("td", c.written.beyond));
    body.appendChild(tr);
    if (!c.outline) return;
    const popup = () => {{
      const div = el("div");
      div.appendChild(el("b", c.city)); div.appendChild(el("br"));
      div.appendChild(document.createTextNode(say(W.popup, {{residents: c.written.residents,
        share: c.written.share, main: D.main, beyond: c.written.beyond}})));
      if (c.new_sites != null) {{
        div.appendChild(el("br"));
        div.appendChild(document.createTextNode(say(W.new_sites, {{n: c.written.new_sites}})));
      }}
      if (c.map) {{
        div.appendChild(el("br"));
        const a = el("a", W.open_map); a.href = c.map; div.appendChild(a);
      }}
      return div;
    }};
    const shape = L.geoJSON(c.outline, {{style: {{color: "#333", weight: 1,
      fillColor: colour(c.share), fillOpacity: 0.55}}}}).bindPopup(popup);
    const b = shape.getBounds();
    const marker = L.circleMarker(b.getCenter(), {{radius: 7, color: "#222", weight: 1,
      fillColor: colour(c.share), fillOpacity: 1}}).bindPopup(popup)
      .bindTooltip(c.city);
    layers.push(shape, marker);
    bounds.push(b.getSouthWest(), b.getNorthEast());
  }});
  if (D.failed.length) document.getElementById("failed").textContent =
    W.failed + " " + D.failed.map((f) => f.city + " (" + f.error + ")").join("; ");
  if (bounds.length) map.fitBounds(L.latLngBounds(bounds), {{padding: [30, 30], maxZoom: 12}});
  else map.setView([0, 0], 2);
  layers.forEach((layer) => layer.addTo(map));  // once the map has a view
  const legend = L.control({{position: "bottomright"}});
  legend.onAdd = () => {{
    const div = el("div", null, "legend");
    div.appendChild(el("b", say(W.legend, {{main: D.main}}))); div.appendChild(el("br"));
    D.colours.forEach((col, i) => {{
      const sw = el("span", null, "sw"); sw.style.background = col; div.appendChild(sw);
      div.appendChild(document.createTextNode(F.classes[i]));
      div.appendChild(el("br"));
    }});
    return div;
  }};
  legend.addTo(map);
}})();
</script></body></html>
"""

#: Upper bounds of the colour classes of the share covered (5 classes, red to green).
_BREAKS = (0.2, 0.4, 0.6, 0.8)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _(message: str) -> str:
    """Mark ``message`` for extraction by pybabel (translated in :func:`index_page`)."""
    return message


#: The index map's words (message ids of the catalogues); ``{name}``: filled on the page.
_WORDS = {
    "city": _("city"),
    "residents": _("residents"),
    "beyond": _("beyond"),
    "covered": _("covered {main}"),
    "headline": _("{residents} residents in {cities} cities; {share} within {main} of an open "
                  "precinct; {beyond} beyond it."),
    "popup": _("{residents} residents, {share} within {main}, {beyond} beyond"),
    "new_sites": _("{n} new site(s) for the target"),
    "open_map": _("open the city's map"),
    "failed": _("Failed:"),
    "legend": _("residents within {main}"),
    "credit": _("(city data: see each city's map)"),
}


def index_page(title: str, table: pd.DataFrame, *, outlines: dict[str, Any],
               totals: dict[str, Any], offline: bool = False, lang: str | None = None) -> str:
    """The index map page (HTML text).

    Parameters
    ----------
    title
        The batch's name.
    table
        The national table (:func:`walkshed.batch.national.national_table`).
    outlines
        GeoJSON geometry of each city's area by folder name.
    totals
        The national totals (:func:`walkshed.batch.national.national_totals`).
    offline
        Draw no web tiles (no network request at all).
    lang
        The language of the page's words and figures (default
        :func:`walkshed.i18n.current_language`).

    Returns
    -------
    str
    """
    main = str(totals.get("main_threshold") or "")
    share_col = f"share_open_{main}"
    ranked = table.sort_values("beyond_open", ascending=False) if "beyond_open" in table \
        else table
    rank = {f: i for i, f in enumerate(ranked.loc[ranked["status"] != "failed", "folder"], 1)}
    t = translator(lang)

    def fmt(v: Any) -> str:
        return "–" if _num(v) is None else t.number(round(float(v)))

    def pct(v: Any) -> str:
        return "–" if _num(v) is None else t.percent(v)

    cities = []
    for r in ranked.to_dict(orient="records"):
        if r["status"] == "failed":
            continue
        cities.append({
            "city": str(r["city"]),
            "rank": rank.get(r["folder"]),
            "residents": _num(r.get("residents")),
            "share": _num(r.get(share_col)),
            "beyond": _num(r.get("beyond_open")),
            "new_sites": _num(r.get("new_sites")),
            "map": r.get("map") if isinstance(r.get("map"), str) else None,
            "outline": outlines.get(r["folder"]),
            "written": {"residents": fmt(r.get("residents")), "share": pct(r.get(share_col)),
                        "beyond": fmt(r.get("beyond_open")), "new_sites": fmt(r.get("new_sites"))},
        })
    failed = [{"city": str(r["city"]), "error": str(r["error"])}
              for r in table.to_dict(orient="records") if r["status"] == "failed"]
    res = _num(totals.get("residents")) or 0.0
    covered = _num(totals.get(f"covered_open_{main}"))
    words = {k: t.gettext(v) for k, v in _WORDS.items()}
    data = {
        "lang": t.lang, "text": words,
        "title": title, "main": _label_text(main, t) if t.lang != "en" else main,
        "cities": cities, "failed": failed,
        "totals": {**totals, "share": covered / res if covered is not None and res else None},
        "breaks": list(_BREAKS), "colours": list(_SHARE_COLOURS),
        "written": {
            "residents": fmt(res), "cities": fmt(totals.get("cities_with_results")),
            "share": pct(covered / res if covered is not None and res else None),
            "beyond": fmt(totals.get("beyond_open")),
            "classes": [f"{pct(lo)} – {pct(hi)}" for lo, hi in
                        zip((0.0, *_BREAKS), (*_BREAKS, 1.0), strict=True)],
        },
        "tiles": None if offline else _TILES,
        "attribution_html": f"{_esc(t.gettext(_OSM_ATTRIBUTION))} {_esc(words['credit'])}",
    }
    js, css = _leaflet_offline()  # inlined: the page opens without internet too
    leaflet = f"<style>{css}</style>\n<script>{js}</script>"
    return _PAGE.format(title=_esc(title), leaflet=leaflet, data=_json_for_script(data))
