"""The coverage map: walking areas, precincts, uncovered residents and proposed sites in one page.

:func:`coverage_map` builds a folium map from plain tables (an :class:`~walkshed.assessment.
Assessment` fills most of them), :func:`save_map` writes it atomically. Every layer can be
switched on and off; a legend, a scale, a title with the scenario's name and date, and the data
attribution are always visible.

Data is never code: every text that comes from data (names of districts, precincts and sites,
the scenario's title, tags) reaches the page only inside one JSON block (escaped for the page),
and a fixed script puts it on the page as text (``textContent``). folium renders only fixed
things (the map's container), so no name is ever parsed as a template or markup.

Every map opens without internet: Leaflet's script and styles are inlined from the
``xstatic-leaflet`` package and the street network is drawn as the basemap. Web tiles (``tiles``,
OpenStreetMap's by default) replace the streets once one arrives; ``offline=True`` leaves them
out, so the page requests nothing from any network. Geometry is simplified for display and
coordinates are rounded to about a metre, which keeps a whole city's map small.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import input_error
from ..i18n import Translator, translator
from ..io import write_html
from ..isochrones import walking_areas as compute_walking_areas
from ..network import WalkNetwork
from . import layers
from ._page import _TILES, _leaflet_offline, _Page
from ._panel import headline_and_panel, osm_date
from ._tables import _catchment_rows, _get

__all__ = ["coverage_map", "save_map"]


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
    title: str | None = None,
    scenario: str | None = None,
    date: str | _dt.date | None = None,
    data_date: str | _dt.date | None = None,
    data_licence: str = "ODbL 1.0",
    offline: bool = False,
    tiles: str | None = _TILES,
    simplify_m: float = 5.0,
    thresholds_min: Sequence[float] | None = None,
    lang: str | None = None,
    place_names: Mapping[str, str] | None = None,
    caveats: Sequence[dict[str, Any] | str] | None = None,
    precinct_kinds: dict[str, Any] | None = None,
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
    title, scenario, date, data_date
        Shown at the top: the title (default "Police at walking distance" in the map's
        language), the scenario's name, the date of the data (e.g. the OpenStreetMap
        snapshot's; left out when not given) and the run's date (default today).
    data_licence
        Licence of the map data, shown next to "© OpenStreetMap contributors" (e.g.
        ``"ODbL 1.0"``, or ``"CC BY-SA 2.0"`` for OSM data from before September 2012).
    offline
        No network request at all: no web tiles (Leaflet is inlined and the street network is
        the basemap in every map).
    tiles
        URL template of the web tiles (``{z}/{x}/{y}``) shown when they can be reached;
        ``None`` for none.
    simplify_m
        Tolerance in metres for simplifying geometry for display.
    thresholds_min
        Thresholds of the walking areas computed here; default the assessment's, else
        :data:`walkshed.settings.thresholds_min`.
    lang
        The language of every word of the map (``en``, ``ru``, ``kk``): title, layer names,
        legend, popups, scale, attribution; numbers, percentages and dates in its locale's
        form. Default :func:`walkshed.i18n.current_language`.
    place_names
        District names in that language, keyed by the name in the data (the scenario's
        ``name_ru`` / ``name_kk`` columns); names not in it show as in the data.
    caveats
        Caveats and sources (``summary.json``'s ``caveats``: dicts with ``text``, ``topic``;
        sources also ``source``, ``date``, ``precision``, ``licence``), shown as text in the
        map's panel. The OpenStreetMap extract's date is the title's data date when
        ``data_date`` is not given.
    precinct_kinds
        What the precinct vetting found (``summary.json``'s ``precinct_kinds``): the panel
        lists the kinds found and the points left out by name.

    Notes
    -----
    With an assessment, the title box shows the main coverage figure with its range across
    population methods and the inspectors needed across staffing norms (its ``uncertainty``),
    and the panel the city's staffing (needed, on staff, gap, residents not served on foot).

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
    # folium draws only fixed things: the container (the script adds the scale in the map's
    # language; never a text from data)
    m = folium.Map(
        location=[(s + n) / 2, (w + e) / 2], zoom_start=12, tiles=None, prefer_canvas=True,
        control_scale=False, attribution_control=False,
    )
    m.default_js = []
    m.default_css = []
    tx = translator(lang)
    frame = layers.Frame(metric, simplify_m, t=tx, places=dict(place_names or {}))
    text = frame.text
    layers.basemap(frame, network, tiles=None if offline else tiles)
    catch, c_label = _catchment_rows(catchments, precincts, assessment, tx)
    layers.districts_layer(frame, districts, district_table, assessment, precincts, catch)
    layers.uncovered_cells_layer(frame, uncovered_cells)
    layers.walking_area_layers(frame, walking_areas)
    layers.uncovered_area_layers(frame, uncovered_areas)
    layers.precinct_layers(frame, precincts, catch, c_label, districts)
    layers.sites_layer(frame, sites)
    # open on the study area: the districts when given, else the precincts and their reach
    if districts is not None and len(districts):
        box = shapely.box(*districts.geometry.to_crs(metric).total_bounds)
    else:
        reach = float(walking_areas["threshold_m"].max()) if len(walking_areas) else 0.0
        pts = precincts.geometry.to_crs(metric)
        box = shapely.box(*pts.total_bounds).buffer(reach, join_style="mitre")
        box = box.intersection(shapely.box(minx, miny, maxx, maxy))
    if box.is_empty:
        box = shapely.box(minx, miny, maxx, maxy)
    view = gpd.GeoSeries([box], crs=metric).to_crs("EPSG:4326").total_bounds
    lines, panel = headline_and_panel(assessment, caveats=caveats,
                                      precinct_kinds=precinct_kinds, text=text, t=tx)
    if data_date is None:
        data_date = osm_date(caveats)
    run_day = date if date is not None else _dt.date.today()
    dates = []
    if data_date is not None:
        dates.append(text["data_date"].format(date=_day(data_date, tx)))
    dates.append(text["run_date"].format(date=_day(run_day, tx)))
    data = {
        "lang": tx.lang,
        "title": str(title) if title is not None else text["title"],
        "subtitle": " · ".join([str(scenario)] * bool(scenario) + dates),
        "attribution": f"{text['attribution']}, {data_licence}",
        "view": [[float(view[1]), float(view[0])], [float(view[3]), float(view[2])]],
        "text": text,
        "layers": frame.layers,
        "lines": lines,
        "panel": panel,
    }
    m.add_child(_Page(data, leaflet=_leaflet_offline()), name="walkshed")
    return m


def _day(day: str | _dt.date, t: Translator) -> str:
    """A date in the locale's long form; a text that is no ISO date as it is (``2012``)."""
    try:
        return t.date(day)
    except (TypeError, ValueError):
        return str(day)


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
