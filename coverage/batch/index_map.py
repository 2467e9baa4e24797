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

from ..maps._page import (
    _OSM_ATTRIBUTION,
    _SHARE_COLOURS,
    _TILES,
    _esc,
    _json_for_script,
    _leaflet_offline,
)

__all__ = ["index_page"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
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
<table id="cities"><thead><tr><th>#</th><th>city</th><th>residents</th><th id="share-h"></th>
<th>beyond</th></tr></thead><tbody></tbody></table><p id="failed" class="failed"></p></div>
<div id="map"></div>
<script type="application/json" id="walkshed-data">{data}</script>
<script>
(function () {{
  const D = JSON.parse(document.getElementById("walkshed-data").textContent);
  const fmt = (v) => v == null ? "–" : Math.round(v).toLocaleString("en");
  const pct = (v) => v == null ? "–" : (100 * v).toFixed(1) + "%";
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
  document.getElementById("share-h").textContent = "covered " + D.main;
  const t = D.totals;
  document.getElementById("headline").textContent =
    fmt(t.residents) + " residents in " + t.cities_with_results + " cities; " +
    pct(t.share) + " within " + D.main + " of an open precinct; " + fmt(t.beyond_open) +
    " beyond it.";
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
    tr.appendChild(el("td", fmt(c.residents)));
    tr.appendChild(el("td", pct(c.share)));
    tr.appendChild(el("td", fmt(c.beyond)));
    body.appendChild(tr);
    if (!c.outline) return;
    const popup = () => {{
      const div = el("div");
      div.appendChild(el("b", c.city)); div.appendChild(el("br"));
      div.appendChild(document.createTextNode(fmt(c.residents) + " residents, " +
        pct(c.share) + " within " + D.main + ", " + fmt(c.beyond) + " beyond"));
      if (c.new_sites != null) {{
        div.appendChild(el("br"));
        div.appendChild(document.createTextNode(c.new_sites + " new site(s) for the target"));
      }}
      if (c.map) {{
        div.appendChild(el("br"));
        const a = el("a", "open the city's map"); a.href = c.map; div.appendChild(a);
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
    "Failed: " + D.failed.map((f) => f.city + " (" + f.error + ")").join("; ");
  if (bounds.length) map.fitBounds(L.latLngBounds(bounds), {{padding: [30, 30], maxZoom: 12}});
  else map.setView([0, 0], 2);
  layers.forEach((layer) => layer.addTo(map));  // once the map has a view
  const legend = L.control({{position: "bottomright"}});
  legend.onAdd = () => {{
    const div = el("div", null, "legend");
    div.appendChild(el("b", "residents within " + D.main)); div.appendChild(el("br"));
    D.colours.forEach((col, i) => {{
      const lo = i === 0 ? 0 : D.breaks[i - 1], hi = i < D.breaks.length ? D.breaks[i] : 1;
      const sw = el("span", null, "sw"); sw.style.background = col; div.appendChild(sw);
      div.appendChild(document.createTextNode(pct(lo) + " – " + pct(hi)));
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


def index_page(title: str, table: pd.DataFrame, *, outlines: dict[str, Any],
               totals: dict[str, Any], offline: bool = False) -> str:
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

    Returns
    -------
    str
    """
    main = str(totals.get("main_threshold") or "")
    share_col = f"share_open_{main}"
    ranked = table.sort_values("beyond_open", ascending=False) if "beyond_open" in table \
        else table
    rank = {f: i for i, f in enumerate(ranked.loc[ranked["status"] != "failed", "folder"], 1)}
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
        })
    failed = [{"city": str(r["city"]), "error": str(r["error"])}
              for r in table.to_dict(orient="records") if r["status"] == "failed"]
    res = _num(totals.get("residents")) or 0.0
    covered = _num(totals.get(f"covered_open_{main}"))
    data = {
        "title": title, "main": main, "cities": cities, "failed": failed,
        "totals": {**totals, "share": covered / res if covered is not None and res else None},
        "breaks": list(_BREAKS), "colours": list(_SHARE_COLOURS),
        "tiles": None if offline else _TILES,
        "attribution_html": f"{_esc(_OSM_ATTRIBUTION)} (city data: see each city's map)",
    }
    js, css = _leaflet_offline()  # inlined: the page opens without internet too
    leaflet = f"<style>{css}</style>\n<script>{js}</script>"
    return _PAGE.format(title=_esc(title), leaflet=leaflet, data=_json_for_script(data))
