"""Reading and validating a scenario file into a :class:`~walkshed.scenario.Scenario`."""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path

from .. import settings
from .._common import STATUSES
from .._errors import input_error
from ..i18n import LANGUAGES
from ._toml import Source, Table, read_text, type_name
from .model import (
    BuildingPopulation,
    DistrictSource,
    NetworkSource,
    OutputOptions,
    PolygonPopulation,
    Population,
    PrecinctSource,
    RasterPopulation,
    Scenario,
    SitingOptions,
)

__all__ = ["load_scenario", "parse_scenario"]


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        A TOML file (see the module docstring for its keys).

    Returns
    -------
    Scenario

    Raises
    ------
    InputError
        For a missing or unreadable file, a TOML syntax error, unknown keys, wrong types and
        missing input files; the message names the key and its line.
    """
    p = Path(path)
    text = read_text(p, f"scenario '{p}'",
                     "Check the path, or start from one of the examples in data/")
    return parse_scenario(text, path=p.resolve())


def parse_scenario(text: str, *, path: Path | None = None) -> Scenario:
    """Validate scenario text (relative paths start at ``path``'s folder, else here)."""
    src = Source(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise input_error(src.label, f"is not valid TOML ({exc})",
                          "Fix the syntax at that line (strings need quotes, tables [name])"
                          ) from exc
    top = Table(src, data, "")
    name = top.text("name", default=path.stem if path is not None else "scenario")
    lang = top.text("lang", None, choices=LANGUAGES)
    speed = top.number("walk_speed_kmh", settings.walk_speed_kmh, at_most=30.0)
    t_min = top.numbers("thresholds_min")
    t_m = top.numbers("thresholds_m")
    if t_min is not None and t_m is not None:
        raise top.error("thresholds_m", "both thresholds_min and thresholds_m are given",
                        "Keep one of them")
    if t_min is None and t_m is None:
        t_min = tuple(float(t) for t in settings.thresholds_min)
    main = top.number("main_threshold", None)  # one of the thresholds: in their range
    given = t_m if t_m is not None else t_min
    if main is not None and given is not None and not any(
        math.isclose(main, t) for t in given
    ):
        raise top.error("main_threshold", f"{main:g} is not one of the thresholds {list(given)}",
                        "Choose one of them, or add it to the thresholds")
    norm = top.number("residents_per_inspector", settings.residents_per_inspector)
    snap = top.number("max_snap_m", settings.max_snap_m)

    net_t = top.table("network", required=True)
    assert net_t is not None
    network = _network(net_t)
    pop_t = top.table("population", required=True)
    assert pop_t is not None
    population = _population(pop_t, network)
    precincts = _precincts(src, top)
    dist_t = top.table("districts")
    districts = None
    if dist_t is not None:
        file = dist_t.path("file", required=True)
        assert file is not None
        districts = DistrictSource(file=file, name_column=dist_t.text("name_column", "name"))
        dist_t.done()
    out_t = top.table("output")
    output = OutputOptions()
    if out_t is not None:
        output = OutputOptions(
            dir=out_t.path("dir", must_exist=False),
            map=out_t.boolean("map", True),
            cells=out_t.text("cells", "h3", choices=("h3", "grid")),
        )
        out_t.done()
    siting = _siting(top.table("siting"), speed, districts is not None)
    top.done()
    return Scenario(
        name=name,
        path=path,
        network=network,
        population=population,
        precincts=precincts,
        walk_speed_kmh=speed,
        thresholds_min=t_min,
        thresholds_m=t_m,
        main_threshold=main,
        residents_per_inspector=norm,
        max_snap_m=snap,
        districts=districts,
        output=output,
        siting=siting,
        lang=lang,
    )


def _network(t: Table) -> NetworkSource:
    if t.has("file") == t.has("place"):
        raise t.error(None, "give exactly one of file or place",
                      'Write file = "city.osm.pbf" (offline) or place = "City, Country"')
    out = NetworkSource(
        file=t.path("file"),
        place=t.text("place"),
        keep_largest=t.boolean("keep_largest", True),
    )
    t.done()
    return out


def _population(t: Table, network: NetworkSource) -> Population:
    kind = t.text("type", required=True, choices=("raster", "polygons", "buildings"))
    out: Population
    if kind == "raster":
        file = t.path("file", required=True)
        assert file is not None
        out = RasterPopulation(
            file=file,
            band=t.number("band", 1, integer=True),
            max_cell_m=t.number("max_cell_m", 100.0),
        )
    elif kind == "polygons":
        file = t.path("file", required=True)
        assert file is not None
        filt = t.table("counts_filter")
        pairs: list[tuple[str, str]] = []
        if filt is not None:
            for k, v in filt.data.items():
                if isinstance(v, (dict, list)):
                    raise filt.error(k, f"expected text or a number, got {type_name(v)}",
                                     f'Write e.g. {k} = "Almaty"')
                filt.used.add(k)
                pairs.append((k, str(v)))
        buildings = t.path("buildings")
        if buildings is None and network.file is not None:
            buildings = network.file
        variants = t.text("counts_variants_column", "name_variants")
        out = PolygonPopulation(
            file=file,
            name_column=t.text("name_column", "name"),
            population_column=t.text("population_column", "population"),
            counts=t.path("counts"),
            counts_name_column=t.text("counts_name_column", "district"),
            counts_variants_column=variants or None,
            counts_filter=tuple(pairs),
            method=t.text("method", "auto", choices=("auto", "buildings", "streets", "area")),
            buildings=buildings,
            outside=t.text("outside", "error", choices=("error", "drop")),
            default_levels=t.number("default_levels", None),
        )
    else:
        file = t.path("file")
        if file is None and network.file is None:
            raise t.error("file", "is missing (the network is fetched online, so there is no "
                          "extract to take buildings from)",
                          'Add file = "city.osm.pbf" (or a footprints GeoPackage)')
        total = t.number("total", None)
        density = t.number("persons_per_m2", None)
        if (total is None) == (density is None):
            raise t.error("total", "give exactly one of total or persons_per_m2",
                          "Write total = <residents to spread> or persons_per_m2 = 0.03")
        out = BuildingPopulation(
            file=file if file is not None else network.file,
            total=total,
            persons_per_m2=density,
            default_levels=t.number("default_levels", None),
        )
    t.done()
    return out


def _precincts(src: Source, top: Table) -> tuple[PrecinctSource, ...]:
    raw = top.raw("precincts", True)
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, dict) for x in raw):
        raise top.error("precincts", "expected one or more [[precincts]] sections",
                        'Write [[precincts]] then file = "police.geojson" on the next line')
    out = []
    for i, entry in enumerate(raw):
        t = Table(src, entry, "precincts", occurrence=i)
        osm = t.boolean("osm", False)
        file = t.path("file")
        if file is None and not osm:
            raise t.error("file", "is missing", 'Add file = "police.geojson" (or osm = true '
                          "to take amenity=police from the network's extract)")
        if file is not None and osm:
            raise t.error("osm", "both file and osm = true are given",
                          "Keep one: a precinct file, or the extract's police points")
        pairs: list[tuple[str, str]] = []
        seen: set[str] = set()
        for status in STATUSES:
            ids = t.texts(status)
            dup = sorted(set(ids) & seen) or sorted({p for p in ids if ids.count(p) > 1})
            if dup:
                raise t.error(status, f"id(s) {', '.join(dup)} are given more than one "
                              "status", "List each id under one status only")
            seen.update(ids)
            pairs += [(pid, status) for pid in ids]
        out.append(
            PrecinctSource(
                file=file,
                osm=osm,
                kinds=_kinds(t),
                kind_rules=t.path("kind_rules"),
                status=t.text("status", None, choices=STATUSES),
                id_column=t.text("id_column"),
                name_column=t.text("name_column"),
                status_column=t.text("status_column"),
                lat_column=t.text("lat_column"),
                lon_column=t.text("lon_column"),
                set_status=tuple(pairs),
                line=src.line_of("precincts", None, i),
            )
        )
        t.done()
    return tuple(out)


def _kinds(t: Table) -> tuple[str, ...] | None:
    """``kinds = [...]`` of a [[precincts]] entry: the precinct kinds that count."""
    from ..vetting import KINDS

    if not t.has("kinds"):
        return None
    raw = t.raw("kinds", False)
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw) or not raw:
        raise t.error("kinds", f"expected a list of kinds, got {raw!r}",
                      'Write e.g. kinds = ["precinct", "station", "unknown"]')
    words = tuple(k.strip().lower() for k in raw)
    bad = [k for k in raw if k.strip().lower() not in KINDS]
    if bad:
        raise t.error("kinds", f"unknown kind(s) {', '.join(map(repr, bad))}",
                      f"Use some of: {', '.join(KINDS)}")
    return words


def _quotas(t: Table, has_districts: bool, new_sites: int | None
            ) -> tuple[int | None, int | None, tuple[tuple[str, int | None, int | None], ...]]:
    """``district_at_least``, ``district_at_most`` and the ``[siting.quotas]`` table."""
    least = t.number("district_at_least", None, positive=False, integer=True)
    most = t.number("district_at_most", None, positive=False, integer=True)
    if least is not None and most is not None and least > most:
        raise t.error("district_at_most", f"{most} is below district_at_least = {least}",
                      "Make the least number no larger than the most")
    qt = t.table("quotas")
    per: list[tuple[str, int | None, int | None]] = []
    for name in (qt.data if qt is not None else {}):
        assert qt is not None
        d = qt.table(name)
        assert d is not None
        lo = d.number("at_least", None, positive=False, integer=True)
        hi = d.number("at_most", None, positive=False, integer=True)
        d.done()
        if lo is None and hi is None:
            raise qt.error(name, "gives neither at_least nor at_most",
                           f'Write e.g. "{name}" = {{ at_least = 1, at_most = 3 }}')
        lo_all = least if lo is None else lo
        hi_all = most if hi is None else hi
        if lo_all is not None and hi_all is not None and lo_all > hi_all:
            raise qt.error(name, f"at least {lo_all} but at most {hi_all} new sites",
                           "Make the least number no larger than the most")
        per.append((str(name), lo, hi))
    if qt is not None:
        qt.done()
    if (least is not None or most is not None or per) and not has_districts:
        key = "quotas" if per else ("district_at_least" if least is not None
                                    else "district_at_most")
        raise t.error(key, "district quotas need the districts",
                      "Add a [districts] table with the district polygons")
    named_least = sum(lo or 0 for _, lo, _ in per)
    if new_sites is not None and named_least > new_sites:
        raise t.error("quotas", f"the districts ask for at least {named_least} new sites in "
                      f"all but new_sites = {new_sites}",
                      "Raise new_sites or lower the quotas")
    return least, most, tuple(per)


def _siting(t: Table | None, speed: float, has_districts: bool = False) -> SitingOptions:
    if t is None:
        return SitingOptions()
    cand_raw = t.data.get("candidates", "network")
    candidates: str | Path
    if isinstance(cand_raw, str) and cand_raw.strip().lower() in ("network", "planned"):
        t.used.add("candidates")
        candidates = cand_raw.strip().lower()
    else:
        p = t.path("candidates")
        candidates = p if p is not None else "network"
    new_sites = t.number("new_sites", None, integer=True)
    least, most, per = _quotas(t, has_districts, new_sites)
    out = SitingOptions(
        new_sites=new_sites,
        target_share=t.number("target_share", None, at_most=1.0),
        threshold_min=t.number("threshold_min", None),
        fix=t.text("fix", "open", choices=("open", "open+planned")),
        method=t.text("method", "auto", choices=("auto", "exact", "greedy")),
        candidates=candidates,
        spacing_m=t.number("spacing_m", None),
        time_limit_s=t.number("time_limit_s", 60.0),
        district_at_least=least,
        district_at_most=most,
        quotas=per,
    )
    if out.new_sites is not None and out.target_share is not None:
        raise t.error("target_share", "both new_sites and target_share are given",
                      "Keep one of them")
    t.done()
    return out
