"""The printable report: ``report.pdf``, A4 pages in the planner's language.

Page 1 is a static map of the city (walking areas of the open and planned precincts, uncovered
residents, precincts by status, proposed sites numbered by rank, districts, scale bar, north
arrow, legend, attribution); then the coverage table, the district table, the opening order, the
proposed sites, the staffing table, and the caveats and sources.

Drawn with matplotlib (geopandas for the map) into a :class:`~matplotlib.backends.backend_pdf.
PdfPages` file: offline, no browser, and the same code draws the picture in the README. Text is
set in DejaVu Sans (matplotlib's bundled copy), which carries Cyrillic and the Kazakh letters
(ә ғ қ ң ө ұ ү һ і), embedded as TrueType (``pdf.fonttype = 42``) so the PDF's text can be
searched and copied.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .i18n import Translator, translator

__all__ = ["write_report_pdf"]

A4 = (8.27, 11.69)  # inches, portrait
_TOP, _BOTTOM, _LEFT, _RIGHT = 0.94, 0.06, 0.07, 0.93
_ROW = 0.0165  # height of a table row, in figure fractions
_COLOURS = {"open": "#1f5fa8", "planned": "#e6850e", "candidate": "#7f7f7f",
            "closed": "#444444", "site": "#7b2d8b", "uncovered": "#f1a596",
            "area_open": "#9ecae1", "area_planned": "#fdd49e", "district": "#333333",
            "street": "#c8c8c8"}


def write_report_pdf(
    path: str | Path,
    result: Any,
    *,
    network: Any,
    precincts: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame | None = None,
    lang: str | None = None,
    walking_areas: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write the printable report of a run.

    Parameters
    ----------
    path
        The PDF to write.
    result
        The run (:class:`walkshed.pipeline.RunResult`): its ``summary``, ``assessment`` and
        ``siting``.
    network
        The walking network (:class:`walkshed.network.WalkNetwork`).
    precincts
        The precincts with ``status`` (and ``name``).
    districts
        District polygons with ``name``, or None.
    lang
        ``en``, ``ru`` or ``kk``; default :func:`walkshed.i18n.current_language`.
    walking_areas
        The precincts' walking areas (:func:`walkshed.isochrones.walking_areas`, the main
        threshold among theirs), e.g. those the map drew; computed here when not given.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    t = translator(lang)
    out = Path(path)
    # names from the data are text, never mathtext ("$...$") or anything else interpreted
    # ps.fonttype too: matplotlib 3.11's PDF backend sizes its font subsets by it, and at its
    # default (3) puts every letter past Latin-1 (Cyrillic, the dash) in a second copy of
    # each font, subset and embedded apart
    rc: Any = {"pdf.fonttype": 42, "ps.fonttype": 42, "font.family": "DejaVu Sans",
               "font.size": 9, "axes.unicode_minus": False, "text.parse_math": False,
               "text.usetex": False}
    with plt.rc_context(rc), PdfPages(out, metadata=_metadata(result, t)) as pdf:
        fig = _map_page(result, network, precincts, districts, t, walking_areas)
        _no_ligatures(fig)
        pdf.savefig(fig, dpi=200)  # the map's dense layers are rasterised at 200 dpi
        plt.close(fig)
        for fig in _table_pages(result, t):
            _no_ligatures(fig)
            pdf.savefig(fig)
            plt.close(fig)
    return out


def warm_up(network: Any) -> None:
    """Get ready to print a report on ``network`` before the run's figures exist: import
    matplotlib and the PDF backend, load the fonts, split the streets into lines (remembered
    on the network). A second process printing the report does this while the first one is
    still assessing."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import fontTools.subset  # noqa: F401  (the backend subsets the fonts when it saves)
    import matplotlib.pyplot
    from matplotlib import font_manager
    from matplotlib.backends import backend_pdf  # noqa: F401
    from matplotlib.ft2font import FT2Font  # noqa: F401

    for weight in ("normal", "bold"):
        font_manager.get_font(font_manager.findfont(
            font_manager.FontProperties(family="DejaVu Sans", weight=weight)))
    _street_lines(network)


def _street_lines(network: Any) -> list[np.ndarray]:
    """The network's streets as coordinate arrays, one per line (remembered on it)."""
    known = getattr(network, "_report_street_lines", None)
    if known is not None:
        return list(known)
    import shapely

    parts = shapely.get_parts(shapely.normalize(np.asarray(network.edge_geometry)))
    parts = parts[~shapely.is_empty(parts)]  # as geopandas does
    xy, which = shapely.get_coordinates(parts, return_index=True)
    lines = np.split(xy, np.flatnonzero(np.diff(which)) + 1)
    with contextlib.suppress(AttributeError):  # a network that takes no new attributes
        network._report_street_lines = lines
    return lines


def _no_ligatures(fig: Any) -> None:
    """Set every text of the page letter by letter, without ligatures ("fi", "fl").

    matplotlib (3.11, text laid out by libraqm) embeds the glyphs of ligatures as a second
    subset of each font, so the fonts were subset and embedded twice (a third of the
    report's time on Almaty); without them each face is embedded once, and a search for
    "fi" finds every "fi" whatever the viewer.
    """
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        if hasattr(text, "set_fontfeatures"):  # matplotlib >= 3.11
            text.set_fontfeatures(("-liga",))


def _metadata(result: Any, t: Translator) -> dict[str, Any]:
    from . import __version__

    return {"Title": str(result.summary.get("study", "")),
            "Subject": t.gettext("Police precincts at walking distance"),
            "Creator": f"walkshed {__version__}"}


# ---------------------------------------------------------------------------------------------
# page 1: the map


def _map_page(result: Any, network: Any, precincts: gpd.GeoDataFrame,
              districts: gpd.GeoDataFrame | None, t: Translator,
              given: gpd.GeoDataFrame | None = None) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    _ = t.gettext
    a = result.assessment
    s = a.settings
    crs = network.crs
    fig = plt.figure(figsize=A4)
    # geopandas' plot() ends with canvas.draw_idle(), which on this off-screen canvas renders
    # the whole page each time (a third of the report's time on Almaty); it is saved once
    fig.canvas.draw_idle = lambda *args, **kwargs: None  # type: ignore[method-assign]
    summary = result.summary
    fig.text(_LEFT, 0.965, str(summary.get("study", "")), fontsize=14, weight="bold",
             va="top")
    main = _main_row(a)
    fig.text(_LEFT, 0.94, _("Walking distance {minutes} min ({metres} m) at {speed} km/h "
                            "({date})").format(
        date=t.date(summary.get("created", "")[:10] or "2000-01-01"),
        minutes=t.number(s.main_threshold_m / s.walk_speed_kmh * 0.06, 0),
        metres=t.number(s.main_threshold_m), speed=t.number(s.walk_speed_kmh, 1)),
        fontsize=9, va="top")
    if main is not None:
        fig.text(_LEFT, 0.92, _("Within walking distance of an open precinct: {covered} of "
                                "{residents} residents ({share}).").format(
            covered=t.number(main["covered_open"]), residents=t.number(main["residents"]),
            share=t.percent(main["share_open"])), fontsize=9, va="top", weight="bold")
    ax = fig.add_axes((0.04, 0.2, 0.92, 0.7))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.5)
    minx, miny, maxx, maxy = network.bounds
    if districts is not None and len(districts):  # the city, not the whole extract
        dx0, dy0, dx1, dy1 = districts.to_crs(crs).total_bounds
        minx, miny, maxx, maxy = max(minx, dx0), max(miny, dy0), min(maxx, dx1), min(maxy, dy1)
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(_street_lines(network), linewidth=0.2, color="#7a7a7a",
                                     alpha=0.6, zorder=4, rasterized=True), autolim=True)
    handles: list[Any] = []
    cells = getattr(a, "uncovered_cells", None)
    if cells is not None and len(cells):
        ax.add_collection(_polygons(cells.geometry.to_crs(crs), color=_COLOURS["uncovered"],
                                    edgecolor="face", linewidth=0.3, zorder=2,
                                    rasterized=True), autolim=True)
        handles.append(Patch(color=_COLOURS["uncovered"],
                             label=_("residents beyond walking distance")))
    areas = _walking_areas(network, precincts, s, given)
    for status, key in (("planned", "area_planned"), ("open", "area_open")):
        geom = areas.get(status)
        if geom is not None and not geom.is_empty:
            ax.add_collection(_polygons([geom], color=_COLOURS[key], alpha=0.8, linewidth=0,
                                        zorder=3, rasterized=True), autolim=True)
            label = (_("within {main} of an open precinct") if status == "open" else
                     _("added by the planned precincts"))
            handles.append(Patch(color=_COLOURS[key], label=label.format(
                main=_("{n} min").format(n=t.number(_minutes(s), 0)))))
    if districts is not None and len(districts):
        d = districts.to_crs(crs)
        d.boundary.plot(ax=ax, color=_COLOURS["district"], linewidth=0.8, zorder=4)
        names = _names(result, t)
        for name, geom in zip(d["name"], d.geometry, strict=True):
            p = geom.representative_point()
            ax.annotate(names.get(str(name), str(name)), (p.x, p.y), fontsize=7, ha="center",
                        color="#111111", zorder=7,
                        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.7,
                              "linewidth": 0})
        handles.append(Line2D([], [], color=_COLOURS["district"], linewidth=0.8,
                              label=_("district boundary")))
    pts = precincts.to_crs(crs)
    statuses = pts["status"].astype(str) if "status" in pts.columns else pd.Series(
        "open", index=pts.index)
    labels = {"open": _("precinct, open"), "planned": _("precinct, planned"),
              "candidate": _("precinct, candidate"), "closed": _("precinct, closed")}
    for st, marker in (("open", "s"), ("planned", "D"), ("candidate", "o"), ("closed", "x")):
        sel = pts[statuses.eq(st).to_numpy()]
        if len(sel):
            ax.scatter(sel.geometry.x, sel.geometry.y, s=22, marker=marker,
                       color=_COLOURS.get(st, "#000000"), edgecolor="white", linewidth=0.5,
                       zorder=5)
            handles.append(Line2D([], [], marker=marker, linestyle="",
                                  color=_COLOURS.get(st, "#000000"), label=labels[st]))
    sites = _sites_table(result)
    if sites is not None and len(sites):
        sp = gpd.GeoSeries(gpd.points_from_xy(sites["lon"], sites["lat"]), crs=4326).to_crs(crs)
        ax.scatter(sp.x, sp.y, s=120, color=_COLOURS["site"], edgecolor="white", zorder=6)
        for rank, x, y in zip(sites["rank"], sp.x, sp.y, strict=True):
            ax.annotate(str(rank), (x, y), fontsize=6.5, color="white", ha="center",
                        va="center", weight="bold", zorder=7)
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=9,
                              color=_COLOURS["site"], label=_("proposed site (rank)")))
    ax.set_xlabel("")
    ax.set_ylabel("")
    pad = 0.02 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    _scale_bar(ax, t)
    _north_arrow(ax, t)
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(_LEFT, 0.195), ncol=2,
               fontsize=8, frameon=False, title=_("Legend"), title_fontsize=9,
               alignment="left")
    fig.text(_LEFT, 0.03, _("Data: {attribution}. Map: walkshed.").format(
        attribution=t.attribution(summary.get("attribution", ""))), fontsize=7, color="#444444")
    return fig


def _polygons(geoms: Any, *, color: str, **style: Any) -> Any:
    """The (multi)polygons as one matplotlib collection, one path per geometry with its holes,
    as ``GeoSeries.plot`` draws them (normalised rings, ``color`` filling them), but with the
    rings' coordinates split in one step rather than through shapely objects one by one."""
    import shapely
    from matplotlib.collections import PathCollection
    from matplotlib.path import Path as MplPath

    g = shapely.normalize(np.asarray(geoms, dtype=object))  # as geopandas does
    g = g[~(shapely.is_missing(g) | shapely.is_empty(g))]
    g = g[np.isin(shapely.get_type_id(g), (3, 6))]  # polygons and multipolygons
    if not len(g):
        return PathCollection([], facecolor=color, **style)
    parts, part_of = shapely.get_parts(g, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    xy, which = shapely.get_coordinates(rings, return_index=True)
    # per ring: move to its first vertex, lines on, close over its last (repeated) vertex
    codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
    starts = np.searchsorted(which, np.arange(len(rings)))
    codes[starts] = MplPath.MOVETO
    codes[np.append(starts[1:], len(xy)) - 1] = MplPath.CLOSEPOLY
    geom_of_vertex = part_of[ring_of[which]]
    cuts = np.searchsorted(geom_of_vertex, np.arange(1, len(g)))
    paths = [MplPath(v, c) for v, c in zip(np.split(xy, cuts), np.split(codes, cuts),
                                           strict=True)]
    return PathCollection(paths, facecolor=color, **style)


def _names(result: Any, t: Translator) -> dict[str, str]:
    """The districts' names in the report's language, keyed by the names in the data."""
    names = getattr(result, "place_names", None) or {}
    return dict(names.get(t.lang, {}))


def _minutes(s: Any) -> float:
    return float(s.main_threshold_m / (s.walk_speed_kmh * 1000 / 60))


def _main_row(a: Any) -> dict[str, Any] | None:
    cov = a.coverage
    if not len(cov):
        return None
    i = int(np.argmin(np.abs(cov["threshold_m"].to_numpy(float) - a.settings.main_threshold_m)))
    return dict(cov.iloc[i])


def _walking_areas(network: Any, precincts: gpd.GeoDataFrame, s: Any,
                   given: gpd.GeoDataFrame | None = None) -> dict[str, Any]:
    """The main threshold's walking area of the open precincts, and what the planned add
    (from ``given``, all precincts' areas, when it holds the main threshold)."""
    from .isochrones import dissolve_walking_areas, walking_areas

    keep = precincts[precincts["status"].isin(["open", "planned"])] if (
        "status" in precincts.columns) else precincts
    if not len(keep):
        return {}
    main = np.isclose(given["threshold_m"].to_numpy(float), s.main_threshold_m) if (
        given is not None and len(given)) else np.zeros(0, dtype=bool)
    if given is not None and main.any():
        areas = given[main]
    else:
        areas = walking_areas(network, keep, thresholds_m=[s.main_threshold_m],
                              walk_speed_kmh=s.walk_speed_kmh)
    out: dict[str, Any] = {}
    opened = dissolve_walking_areas(areas, statuses=("open",))
    if len(opened):
        out["open"] = opened.geometry.iloc[0]
    if keep["status"].eq("planned").any():
        both = dissolve_walking_areas(areas, statuses=("open", "planned"))
        if len(both):
            out["planned"] = both.geometry.iloc[0]
    return out


def _nice(x: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``x``."""
    e = 10 ** math.floor(math.log10(x))
    return max(m * e for m in (1, 2, 5) if m * e <= x)


def _scale_bar(ax: Any, t: Translator) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice((x1 - x0) / 5)
    bx, by = x0 + 0.03 * (x1 - x0), y0 + 0.03 * (y1 - y0)
    h = 0.008 * (y1 - y0)
    for i in range(2):  # two halves, black and white
        ax.add_patch(_rect(bx + i * length / 2, by, length / 2, h,
                           "#000000" if i == 0 else "#ffffff"))
    text = (t.gettext("{n} km").format(n=t.number(length / 1000, 0 if length >= 1000 else 1))
            if length >= 500 else t.gettext("{n} m").format(n=t.number(length)))
    ax.text(bx + length / 2, by + 2 * h, text, ha="center", va="bottom", fontsize=8, zorder=8)


def _rect(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="#000000", linewidth=0.6,
                     zorder=8)


def _north_arrow(ax: Any, t: Translator) -> None:
    # the map is drawn in the network's UTM zone: grid north is within a degree or two of true
    ax.annotate(t.gettext("N"), xy=(0.965, 0.985), xytext=(0.965, 0.915),
                xycoords="axes fraction", ha="center", va="center", fontsize=11,
                weight="bold", zorder=8,
                arrowprops={"arrowstyle": "-|>", "color": "#000000", "linewidth": 1.5})


# ---------------------------------------------------------------------------------------------
# the tables


class _Pages:
    """Text and tables flowing down A4 pages, a new page when one is full."""

    def __init__(self, t: Translator, title: str) -> None:
        self.t, self.title = t, title
        self.figs: list[Any] = []
        self.y = 0.0
        self._new()

    def _new(self) -> None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=A4)
        fig.text(_LEFT, 0.975, self.title, fontsize=8, color="#555555", va="top")
        self.figs.append(fig)
        self.y = _TOP

    def _room(self, height: float) -> None:
        if self.y - height < _BOTTOM:
            self._new()

    def heading(self, text: str) -> None:
        self._room(0.05 + 3 * _ROW)
        self.y -= 0.012
        self.figs[-1].text(_LEFT, self.y, text, fontsize=12, weight="bold", va="top")
        self.y -= 0.03

    def paragraph(self, text: str, width: int = 105, size: float = 8.5) -> None:
        for line in textwrap.wrap(text, width) or [""]:
            self._room(_ROW)
            self.figs[-1].text(_LEFT, self.y, line, fontsize=size, va="top")
            self.y -= _ROW
        self.y -= 0.4 * _ROW

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]],
              numeric: Sequence[bool]) -> None:
        """Columns sized to their longest cell; numbers right-aligned; header repeated."""
        cells = [list(header), *[list(r) for r in rows]]
        chars = [max(len(c[i]) for c in cells) for i in range(len(header))]
        total = sum(chars) + 2 * (len(header) - 1)
        per_pt = 0.7 / 72 / A4[0]  # a character's width per point of size, in page widths
        size = min(8.0, (_RIGHT - _LEFT) / (max(total, 1) * per_pt))
        step = per_pt * size
        xs = np.cumsum([0.0] + [(w + 2) * step for w in chars])

        def put(row: Sequence[str], bold: bool) -> None:
            fig = self.figs[-1]
            for i, text in enumerate(row):
                x = _LEFT + xs[i] + (chars[i] * step if numeric[i] else 0.0)
                fig.text(x, self.y, text, fontsize=size, va="top",
                         ha="right" if numeric[i] else "left",
                         weight="bold" if bold else "normal")
            self.y -= _ROW

        self._room(3 * _ROW)
        put(header, True)
        for row in rows:
            if self.y - _ROW < _BOTTOM:
                self._new()
                put(header, True)
            put(row, False)
        self.y -= 0.6 * _ROW


def _clip(text: Any, n: int = 42) -> str:
    s = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def _sites_table(result: Any) -> pd.DataFrame | None:
    siting = getattr(result, "siting", None)
    table = getattr(siting, "table", None)
    return table if isinstance(table, pd.DataFrame) else None


def _table_pages(result: Any, t: Translator) -> list[Any]:
    _, _n = t.gettext, t.ngettext

    def num(x: Any) -> str:  # a dash, never "NaN", for a share of nobody
        return t.number(x) if _finite(x) else "–"

    def pct(x: Any) -> str:
        return t.percent(x) if _finite(x) else "–"

    a = result.assessment
    s = a.settings
    summary = result.summary
    pages = _Pages(t, str(summary.get("study", "")))
    names = _names(result, t)

    def place(n: Any) -> Any:
        return names.get(n, n) if isinstance(n, str) else n

    def label(lab: str) -> str:
        if lab.endswith("min"):
            return _("{n} min").format(n=lab[:-3])
        return _("{n} m").format(n=lab[:-1]) if lab.endswith("m") else lab

    pages.heading(_("Coverage"))
    pages.paragraph(_("Residents within walking distance of a working (open) precinct, and "
                      "with the planned precincts opened as well."))
    pages.table(
        [_("threshold"), _("residents"), _("open"), _("share"), _("open+planned"), _("share"),
         _("added")],
        [[label(str(r.threshold)), num(r.residents), num(r.covered_open), pct(r.share_open),
          num(r.covered_with_planned), pct(r.share_with_planned), num(r.added)]
         for r in a.coverage.itertuples()],
        [False] + [True] * 6)
    dist = a.districts
    if dist is not None and len(dist):
        main = str(_label_for(a))
        pages.heading(_("Districts"))
        pages.paragraph(_("Share of residents within {main} of an open precinct, and with the "
                          "planned ones; inspectors needed by the norm of {norm} residents "
                          "per inspector.").format(main=label(main),
                                                   norm=num(s.residents_per_inspector)))
        col_o, col_p = f"share_{main}_open", f"share_{main}_with_planned"
        pages.table(
            [_("district"), _("residents"), _("open"), _("open+planned"), _("precincts"),
             _("inspectors")],
            [[_clip(_("(outside districts)") if r["district"] == "(outside districts)"
                    else place(r["district"])), num(r["residents"]),
              pct(r.get(col_o, float("nan"))), pct(r.get(col_p, float("nan"))),
              num(r.get("open", 0)), num(r.get("inspectors_needed", 0))]
             for r in dist.to_dict(orient="records")],
            [False] + [True] * 5)
    order = a.opening_order
    if len(order):
        pages.heading(_("Opening order of the planned precincts"))
        pages.table(
            [_("step"), _("precinct"), _("newly covered"), _("covered")],
            [[str(r.step), _clip(r.name), num(r.gain), pct(r.cumulative_share)]
             for r in order.itertuples()],
            [True, False, True, True])
    sites = _sites_table(result)
    info = summary.get("proposed_sites") or {}
    if sites is not None and len(sites):
        pages.heading(_("Proposed new sites"))
        pages.paragraph(_("Ranked by the residents each brings within {minutes} min that no "
                          "kept precinct reaches; covered {before} -> {after}.").format(
            minutes=num(info.get("threshold_min", _minutes(s))),
            before=pct(info.get("covered_share_before", float("nan"))),
            after=pct(info.get("covered_share_after", float("nan")))))
        addr = next((c for c in ("address", "street") if c in sites.columns), None)
        head = [_("rank"), _("site"), _("latitude"), _("longitude")]
        head += [_("address")] if addr else []
        head += [_("district"), _("newly covered"), _("covered")]
        rows = []
        for r in sites.to_dict(orient="records"):
            row = [str(r["rank"]), _clip(r["site"], 24), f"{r['lat']:.5f}", f"{r['lon']:.5f}"]
            row += [_clip(r.get(addr), 36)] if addr else []
            row += [_clip(place(r.get("district")), 24), num(r["newly_covered"]),
                    pct(r["cumulative_share"])]
            rows.append(row)
        pages.table(head, rows, [True, False, True, True] + [False] * (1 if addr else 0)
                    + [False, True, True])
    catch = a.catchments
    today = catch[catch["scenario"].eq("open")]
    if len(today):
        pages.heading(_("Staffing: district inspectors by precinct"))
        need = int(today["inspectors_needed"].sum())
        pages.paragraph(
            _n("Every resident belongs to the nearest open precinct on foot; {n} district "
               "inspector is needed by the norm of {norm} residents per inspector.",
               "Every resident belongs to the nearest open precinct on foot; {n} district "
               "inspectors are needed by the norm of {norm} residents per inspector.",
               need).format(n=num(need), norm=num(s.residents_per_inspector)))
        main = str(_label_for(a))
        within = f"within_{main}"
        pages.table(
            [_("precinct"), _("residents served"), _("within {main}").format(main=label(main)),
             _("median walk, m"), _("inspectors")],
            [[_clip(r.get("name")), num(r["residents_served"]),
              num(r[within]) if within in r and _finite(r[within]) else "",
              num(r["median_walk_m"]) if _finite(r.get("median_walk_m")) else "",
              num(r["inspectors_needed"])] for r in today.to_dict(orient="records")],
            [False, True, True, True, True])
    pages.heading(_("Caveats and sources"))
    for text in _caveats(result, t):
        pages.paragraph("• " + text)
    return pages.figs


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _label_for(a: Any) -> str:
    s = a.settings
    i = int(np.argmin(np.abs(np.asarray(s.thresholds_m) - s.main_threshold_m)))
    return str(s.threshold_labels[i])


def _caveats(result: Any, t: Translator) -> list[str]:
    from .caveats import caveat_lines

    _ = t.gettext
    summary = result.summary
    out = [
        _("Walking distance is measured along the streets of OpenStreetMap, from the nearest "
          "point of a street to each home and precinct; one-way signs do not apply to people "
          "on foot. The walking areas on the map are drawn for display; the figures count "
          "residents."),
        _("A resident is covered when the walk to the nearest precinct is within the "
          "threshold. The staffing figures assign every resident to the nearest open "
          "precinct, however far."),
    ]
    out += [t.say(n) for n in summary.get("notes", [])]
    info = summary.get("proposed_sites") or {}
    out += [t.say(n) for n in info.get("notes", [])]
    kinds = summary.get("precinct_kinds")
    out += caveat_lines({"caveats": [
        c for c in summary.get("caveats", [])
        if not (kinds and isinstance(c, dict) and c.get("topic") == "precincts")]}, t.lang)
    out.append(_("Data: {attribution}.").format(
        attribution=t.attribution(summary.get("attribution", ""))))
    from . import __version__

    out.append(_("Made with walkshed {version} on {date}.").format(
        version=__version__, date=t.date(str(summary.get("created", ""))[:10] or "2000-01-01")))
    return out
