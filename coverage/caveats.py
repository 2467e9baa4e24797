"""Caveats and provenance of a study's inputs: what each figure rests on.

:func:`study_caveats` lists, for the report, ``summary.json`` (``sources`` and ``caveats``)
and the map: each source with its date, precision and licence (the OpenStreetMap snapshot
date read from the extract; the population counts with their reference dates and which are
lower bounds; the district totals against the official city total where the counts table has
it), how much of each district the street network covers, and what the precinct vetting left
out. Every entry is a plain dict with a ``text`` sentence (and ``topic``, and for sources
``source``, ``date``, ``precision``, ``licence``); the sentences are
:class:`walkshed.i18n.Message` s (English as strings, said in the run's language by the
report, the PDF and the map).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import shapely

from . import settings
from .i18n import Figure
from .i18n import message as _
from .i18n import message_n as _n

__all__ = ["caveat_lines", "osm_snapshot_date", "study_caveats"]


def osm_snapshot_date(path: str | Path, *, use_cache: bool | None = False
                      ) -> tuple[str | None, str]:
    """When an OpenStreetMap extract was taken, and how that is known.

    Parameters
    ----------
    path
        An ``.osm.pbf`` / ``.osm`` file.
    use_cache
        Keep the answer in the on-disk cache, keyed by the file's content (an extract without
        a replication timestamp is read whole to find its newest object); None:
        :data:`walkshed.settings.use_cache`. A file that cannot be read is never cached.

    Returns
    -------
    (str or None, str)
        The date (ISO, UTC) and ``"replication timestamp in the file header"`` or
        ``"newest object in the file"``; ``(None, reason)`` when it cannot be read.
    """
    import osmium

    if use_cache is None:
        use_cache = settings.use_cache
    if use_cache:
        return _cached_snapshot_date(Path(path))
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            header = reader.header()
            stamp = header.get("osmosis_replication_timestamp") or header.get("timestamp")
        finally:
            reader.close()
        if stamp:
            return str(stamp), _("replication timestamp in the file header")
        newest: datetime | None = None
        for obj in osmium.FileProcessor(str(path)):
            t = getattr(obj, "timestamp", None)
            if t is None:
                continue
            if newest is None or t > newest:
                newest = t
    except (RuntimeError, OSError) as exc:
        return None, _("not readable ({error})", error=str(exc))
    if newest is None or newest.year < 2004:
        return None, _("the file has no timestamps")
    return newest.isoformat(timespec="seconds"), _("newest object in the file")


#: The cached answers' ``how``, by code (the cache stores the code, not the sentence).
_HOW = {
    "header": _("replication timestamp in the file header"),
    "newest": _("newest object in the file"),
    "none": _("the file has no timestamps"),
}


def _cached_snapshot_date(path: Path) -> tuple[str | None, str]:
    """:func:`osm_snapshot_date` through the on-disk cache (keyed by the file's SHA-256)."""
    import numpy as np

    from .network.load import file_sha256
    from .siting import cache as store

    try:
        key = store.digest("osm-snapshot-date", 1, file_sha256(path))
    except OSError:
        return osm_snapshot_date(path)  # says why it cannot be read
    found: list[tuple[str | None, str]] = []

    def build() -> dict[str, np.ndarray]:
        found.append(osm_snapshot_date(path))
        date, how = found[0]
        code = next((c for c, m in _HOW.items() if m == how), None)
        if code is None:  # not readable: said again next time, never stored
            return {}
        return {"date": np.asarray(date or ""), "how": np.asarray(code)}

    data = store.cached_arrays("osm-date", key, build, use=True)
    if found:
        return found[0]
    try:
        code, date = str(data["how"]), str(data["date"])
        return (date or None), _HOW[code]
    except (KeyError, ValueError):  # an entry not as written: read the file again
        return osm_snapshot_date(path)


def _year(text: Any) -> int | None:
    try:
        return int(str(text)[:4])
    except ValueError:
        return None


def _counts_caveats(cfg: Any) -> tuple[list[dict[str, Any]], int | None]:
    """Sources and caveats of a counts table (precision, dates, the official city total)."""
    out: list[dict[str, Any]] = []
    try:
        table = pd.read_csv(cfg.counts, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError):
        return out, None
    rows = table
    for col, value in cfg.counts_filter:
        if col in rows.columns:
            rows = rows[rows[col].astype(str) == value]
    name_col = cfg.counts_name_column
    dates = sorted({str(d) for d in rows.get("reference_date", pd.Series(dtype=str)).dropna()})
    sources = sorted({str(s).split(":")[0] for s in rows.get("source", pd.Series(dtype=str))
                      .dropna()})
    low = rows[rows["precision"].astype(str) == "lower_bound"] if "precision" in rows else rows[:0]
    precision = (_n("{n} of {total} figure is a lower bound (\u201cmore than\u201d)",
                    "{n} of {total} figures are lower bounds (\u201cmore than\u201d)", len(low),
                    total=Figure.number(len(rows)))
                 if len(low) else _("as published"))
    file, said = Path(cfg.counts).name, "; ".join(sources[:4])
    # the dates as the table writes them ("not stated" said in the language)
    when = _("{dates}", dates=Figure.join([Figure.word(d) for d in dates], ", ")) if dates \
        else _("not stated")
    out.append({
        "topic": "source", "source": _("population counts {file}: {sources}", file=file,
                                       sources=said),
        "date": when, "precision": precision,
        "licence": _("public statistics (sources per row in the table)"),
        "text": _("Residents: {file} ({sources}), reference dates {dates}; {precision}.",
                  file=file, sources=said, dates=when, precision=precision),
    })
    if len(low):
        names = Figure.join([_("{name} (more than {n})", name=str(r[name_col]),
                               n=Figure.number(float(r[cfg.population_column])))
                             for _i, r in low.iterrows()], ", ")
        out.append({"topic": "population", "text": _(
            "Lower bounds: {names}; their residents, and so the shares uncovered, may be "
            "larger.", names=names)})
    year = max((y for y in map(_year, dates) if y), default=None)
    # the official total of the whole: the same filter with level = city
    filt = dict(cfg.counts_filter)
    if filt.get("level") not in (None, "city") and "level" in table.columns:
        whole = table
        for col, value in {**filt, "level": "city"}.items():
            if col in whole.columns:
                whole = whole[whole[col].astype(str) == value]
        if len(whole) == 1 and cfg.population_column in whole.columns:
            total = float(whole[cfg.population_column].iloc[0])
            parts = float(pd.to_numeric(rows[cfg.population_column], errors="coerce").sum())
            city_date = whole["reference_date"].iloc[0] if "reference_date" in whole else "?"
            if total > 0 and not math.isclose(parts, total, rel_tol=1e-6):
                fields = {"parts": Figure.number(parts), "total": Figure.number(total),
                          "share": Figure.percent(abs(1 - parts / total)),
                          "date": Figure.word(str(city_date))}
                out.append({"topic": "population", "text": _(
                    "The district figures sum to {parts}, {share} short of the official city "
                    "total {total} ({date}); the analysis uses the district figures.", **fields)
                    if parts < total else _(
                    "The district figures sum to {parts}, {share} above the official city "
                    "total {total} ({date}); the analysis uses the district figures.",
                    **fields)})
            year = max(year or 0, _year(city_date) or 0) or year
    return out, year


def _street_length_in(network: Any, tree: Any, geom: Any) -> float:
    """Metres of street inside ``geom``: whole edges that lie inside it (found with the
    polygon prepared) plus the clipped parts of the edges that cross its border (the same sum
    as clipping every edge, and much faster)."""
    import numpy as np

    inside = tree.query(geom, predicate="contains_properly")
    crossing = np.setdiff1d(tree.query(geom, predicate="intersects"), inside)
    return float(shapely.length(network.edge_geometry[inside]).sum()
                 + shapely.length(shapely.intersection(network.edge_geometry[crossing], geom)
                                  ).sum())


def _district_overlap(network: Any, districts: Any) -> dict[str, Any] | None:
    """Share of each district's area inside the street network's outline, and street km."""
    if districts is None or len(districts) == 0:
        return None
    polys = districts.to_crs(network.crs)
    hull = shapely.convex_hull(shapely.multipoints(network.node_xy))
    tree = network.edge_tree
    parts = []
    for name, geom in zip(polys["name"].astype(str), polys.geometry.values, strict=True):
        area = float(shapely.area(geom))
        inside = float(shapely.area(shapely.intersection(geom, hull))) / area if area else 0.0
        km = _street_length_in(network, tree, geom) / 1000
        parts.append((name, inside, km, area / 1e6))
    low = [p for p in parts if p[1] < 0.99]
    each = Figure.join([_("{district} {share}, {density}", district=n,
                          share=Figure.percent(s, 0), density=Figure.number(km / a if a else 0, 1))
                        for n, s, km, a in parts])
    text = _("Street network per district (share of its area inside the extract's streets' "
             "outline; street km per km²): {each}.", each=each)
    if low:
        text = _("Street network per district (share of its area inside the extract's streets' "
                 "outline; street km per km²): {each}. Districts only partly covered: {low}; "
                 "their residents beyond the streets cannot be placed well.", each=each,
                 low=", ".join(p[0] for p in low))
    return {"topic": "network", "text": text,
            "districts": [{"district": n, "area_share_in_network": round(s, 4),
                           "street_km": round(km, 3), "area_km2": round(a, 3)}
                          for n, s, km, a in parts]}


def study_caveats(scenario: Any, study: Any, *, cache: bool | None = None
                  ) -> list[dict[str, Any]]:
    """The sources and caveats of a loaded scenario.

    Parameters
    ----------
    scenario
        The :class:`walkshed.scenario.Scenario`.
    study
        The loaded :class:`walkshed.pipeline.Study` (network, districts, vetting).
    cache
        Keep the extract's snapshot date in the on-disk cache; default
        :data:`walkshed.settings.use_cache`.

    Returns
    -------
    list of dict
        Each with ``topic`` and ``text``; sources also ``source``, ``date``, ``precision``,
        ``licence``.
    """
    out: list[dict[str, Any]] = []
    licence = study.attribution.split("contributors", 1)[-1].strip(" ,") or "ODbL 1.0"
    map_year = None
    if scenario.network.file is not None:
        date, how = osm_snapshot_date(scenario.network.file, use_cache=cache)
        map_year = _year(date) if date else None
        file = scenario.network.file.name
        out.append({
            "topic": "source", "source": _("OpenStreetMap extract {file}", file=file),
            "date": date, "precision": _("streets, buildings and police points as mapped by "
                                         "volunteers; completeness varies by district"),
            "licence": licence,
            "text": _("Streets, buildings and police points: OpenStreetMap ({file}), snapshot "
                      "of {date} ({how}); {licence}.", file=file, how=how, licence=licence,
                      date=Figure.day(date) if date else _("unknown date")),
        })
    else:
        place = str(scenario.network.place)
        out.append({"topic": "source", "source": _("OpenStreetMap ({place})", place=place),
                    "date": _("fetched online at run time"), "precision": _("as mapped"),
                    "licence": licence, "text": _(
                        "Streets: OpenStreetMap fetched online for {place}; {licence}.",
                        place=place, licence=licence)})
    cfg = scenario.population
    pop_year = None
    if getattr(cfg, "counts", None) is not None:
        extra, pop_year = _counts_caveats(cfg)
        out += extra
    if map_year and pop_year and abs(pop_year - map_year) > 1:
        out.append({"topic": "dates", "text": _(
            "The street map is from {map_year} and the population figures from {pop_year}: "
            "streets, buildings and police points built since are missing, so coverage may "
            "be understated where the city grew.", map_year=str(map_year),
            pop_year=str(pop_year))})
    overlap = _district_overlap(study.network, study.districts)
    if overlap is not None:
        out.append(overlap)
    vet = getattr(study, "vetting", None)
    if vet is not None:
        out.append({"topic": "precincts", "text": _("{notes}", notes=Figure.join(
            vet.notes(), " "))})
    return out


def caveat_lines(summary: dict[str, Any], lang: str | None = "en") -> list[str]:
    """The report's lines: every caveat's text (``summary['caveats']``) in ``lang`` (English
    by default; None: the current language); texts that are not Messages as they are."""
    from .i18n import translator

    t = translator(lang)
    return [t.say(c.get("text", c)) if isinstance(c, dict) else t.say(c)
            for c in summary.get("caveats", []) if c]
