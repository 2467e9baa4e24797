"""Caveats and provenance: the snapshot date, lower bounds, the city total, network overlap."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from walkshed.caveats import caveat_lines, osm_snapshot_date

REPO = Path(__file__).resolve().parents[1]


def _osm(path: Path, stamps: list[str | None]) -> Path:
    nodes = []
    for i, t in enumerate(stamps, start=1):
        when = f' timestamp="{t}"' if t else ""
        nodes.append(f'<node id="{i}" version="1"{when} lat="43.2" lon="76.9{i}"/>')
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" '
                    'generator="test">\n' + "\n".join(nodes) + "\n</osm>\n", encoding="utf-8")
    return path


def test_snapshot_date_is_the_newest_object(tmp_path: Path) -> None:
    f = _osm(tmp_path / "a.osm", ["2011-05-01T10:00:00Z", "2012-03-13T17:07:43Z",
                                  "2009-01-01T00:00:00Z"])
    date, how = osm_snapshot_date(f)
    assert date == "2012-03-13T17:07:43+00:00" and how == "newest object in the file"
    assert osm_snapshot_date(_osm(tmp_path / "b.osm", [None, None]))[0] is None
    bad = tmp_path / "c.osm.pbf"
    bad.write_bytes(b"not a pbf")
    assert osm_snapshot_date(bad)[0] is None


def test_almaty_extract_snapshot(shared_data: Path) -> None:
    # SOURCE.md: object timestamps 2008-01-28 ... 2012-03-13
    date, _ = osm_snapshot_date(shared_data / "almaty-osm-2012" / "almaty.osm.pbf")
    assert date is not None and date.startswith("2012-03-13")


def test_caveat_lines() -> None:
    assert caveat_lines({"caveats": [{"text": "a"}, "b", None]}) == ["a", "b"]
    assert caveat_lines({}) == []


NBSP = "\xa0"


def _in_locale(x: float, lang: str, percent: bool = False) -> str:
    """``x`` as Russian / Kazakh write it, independently of Babel (``1 234``, ``7,9 %``)."""
    if percent:
        return f"{x:.1%}"[:-1].replace(".", ",") + (NBSP if lang == "ru" else "") + "%"
    return f"{x:,.0f}".replace(",", NBSP)


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_counts_caveats_in_russian_and_kazakh(lang: str) -> None:
    from types import SimpleNamespace

    from walkshed.caveats import _counts_caveats

    cfg = SimpleNamespace(counts=REPO / "data" / "kz_district_population.csv",
                          counts_filter=(("city", "Almaty"), ("level", "district")),
                          counts_name_column="district", population_column="population")
    out, year = _counts_caveats(cfg)
    table = pd.read_csv(cfg.counts)
    almaty = table[table["city"] == "Almaty"]
    districts = almaty[almaty["level"] == "district"]
    city = float(almaty[almaty["level"] == "city"]["population"].iloc[0])
    parts = float(districts["population"].sum())
    low = districts[districts["precision"] == "lower_bound"]
    assert len(low) and parts < city
    assert year == max(int(d[:4]) for d in almaty["reference_date"].astype(str)
                       if d[:4].isdigit())
    # summary.json keeps the English (the texts are English strings)
    english = json.loads(json.dumps(out))
    assert f"sum to {parts:,.0f}, {1 - parts / city:.1%} short of" in " ".join(
        c["text"] for c in english)
    said = caveat_lines({"caveats": out}, lang)
    text = " ".join(said)
    share, whole, summed = (_in_locale(1 - parts / city, lang, True), _in_locale(city, lang),
                            _in_locale(parts, lang))
    if lang == "ru":
        assert f"— {summed}, на {share} меньше официальной численности города {whole}" in text
        more = "более {}"
        assert f"{len(low)} из {len(districts)} значений" in text
    else:
        assert f"— {summed}, қаланың ресми саны {whole}" in text and f"{share} аз" in text
        more = "{} астам"
        assert f"{len(districts)} мәннің {len(low)}" in text
    for r in low.itertuples():
        assert f"{r.district} ({more.format(_in_locale(r.population, lang))})" in text
    # no English sentence of ours is left (the file and source names are data)
    for c, line in zip(out, said, strict=True):
        data = {str(cfg.counts.name), *str(c.get("source", "")).split(": ", 1)[-1:]}
        for name in data:
            line = line.replace(name, " ")
        assert not re.findall(r"\b(?:the|of|and|are|sum|short|bounds?|Residents|dates|"
                              r"more|than|figures?|not|stated)\b", line), line


@pytest.mark.slow
def test_almaty_caveats_in_the_summary(shared_data: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from walkshed.pipeline import load_study, run
    from walkshed.report import run_report

    monkeypatch.setenv("WALKSHED_TEST_DATA", str(shared_data))
    study, _ = load_study(Path(__file__).parent / "data" / "almaty_2012_vetted.toml")
    result = run(study, tmp_path / "out", outputs=frozenset({"tables"}))
    s = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    caveats = s["caveats"]
    text = " ".join(c["text"] for c in caveats)
    # the figures, recomputed from the counts table
    table = pd.read_csv(REPO / "data" / "kz_district_population.csv")
    almaty = table[table["city"] == "Almaty"]
    districts = almaty[almaty["level"] == "district"]
    city = float(almaty[almaty["level"] == "city"]["population"].iloc[0])
    parts = float(districts["population"].sum())
    assert f"sum to {parts:,.0f}, {1 - parts / city:.1%} short of" in text
    assert f"{1 - parts / city:.1%}" == "7.9%"
    low = districts[districts["precision"] == "lower_bound"]
    assert sorted(low["district"]) == ["Auezov", "Turksib"]
    for r in low.itertuples():
        assert f"{r.district} (more than {r.population:,.0f})" in text
    assert f"{len(low)} of {len(districts)} figures are lower bounds" in text
    # the sources: the OSM snapshot with its licence
    osm = s["sources"][0]
    assert osm["date"].startswith("2012-03-13") and osm["licence"] == "CC BY-SA 2.0"
    assert "from 2012 and the population figures from 2026" in text
    overlap = next(c for c in caveats if c["topic"] == "network")
    names = [d["district"] for d in overlap["districts"]]
    assert sorted(names) == sorted(study.districts["name"])
    assert all(0.0 <= d["area_share_in_network"] <= 1.0 for d in overlap["districts"])
    # the vetting in the summary, the report and the caveats the map receives
    kinds = s["precinct_kinds"]
    assert kinds["found"]["traffic"] == 24 and kinds["found"]["checkpoint"] == 1
    assert len(kinds["left_out"]) == 25
    assert any(c["topic"] == "precincts" and "Засада" in c["text"] for c in caveats)
    report = run_report(result)
    assert "Left out (25)" in report and "Caveats and sources:" in report
    assert "Засада (node/479712142, checkpoint)" in report
    # the same caveats in Russian and Kazakh, the snapshot's date in the locale's long form
    ru, kk = run_report(result, "ru"), run_report(result, "kk")
    assert "Оговорки и источники:" in ru and re.search(r"снимок на 13 марта 2012\s?г\.", ru)
    assert "меньше официальной численности города" in ru and "Caveats and sources" not in ru
    assert "Ескертпелер мен дереккөздер:" in kk and "аз; талдауда" in kk


def test_snapshot_date_is_cached_by_the_files_content(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import osmium

    from walkshed import settings

    monkeypatch.setattr(settings, "cache_dir", tmp_path / "cache")
    f = _osm(tmp_path / "a.osm", ["2011-05-01T10:00:00Z", "2012-03-13T17:07:43Z"])
    first = osm_snapshot_date(f, use_cache=True)
    assert first == osm_snapshot_date(f) == ("2012-03-13T17:07:43+00:00",
                                             "newest object in the file")
    assert list((tmp_path / "cache").glob("osm-date-*.npz"))

    def unread(*args: object, **kwargs: object) -> None:
        raise AssertionError("the extract was read again")

    with monkeypatch.context() as m:  # a second call answers from the cache
        m.setattr(osmium, "FileProcessor", unread)
        m.setattr(osmium.io, "Reader", unread)
        again = osm_snapshot_date(f, use_cache=True)
    assert again == first and again[1] == "newest object in the file"
    # new content, new answer (the key is the file's bytes, not its name)
    _osm(f, ["2013-01-01T00:00:00Z", "2011-01-01T00:00:00Z", "2010-01-01T00:00:00Z"])
    assert osm_snapshot_date(f, use_cache=True)[0] == "2013-01-01T00:00:00+00:00"
    # no timestamps: cached as such; an unreadable file is never cached
    assert osm_snapshot_date(_osm(tmp_path / "b.osm", [None]), use_cache=True) == (
        None, "the file has no timestamps")
    before = set((tmp_path / "cache").iterdir())
    bad = tmp_path / "c.osm.pbf"
    bad.write_bytes(b"not a pbf")
    assert osm_snapshot_date(bad, use_cache=True)[0] is None
    assert set((tmp_path / "cache").iterdir()) == before


def test_street_length_per_district_equals_clipping_every_street(
        shared_data: Path, almaty_network: object) -> None:
    import geopandas as gpd
    import shapely

    from walkshed.caveats import _district_overlap, _street_length_in

    net: Any = almaty_network
    districts = gpd.read_file(shared_data / "almaty-districts" / "almaty_districts.geojson")
    polys = districts.to_crs(net.crs)
    found = _district_overlap(net, districts)
    assert found is not None
    for geom, row in zip(polys.geometry.values, found["districts"], strict=True):
        # the reference: every street that touches the district, clipped to it
        hits = net.edge_tree.query(geom, predicate="intersects")
        want = float(shapely.length(shapely.intersection(net.edge_geometry[hits], geom)).sum())
        got = _street_length_in(net, net.edge_tree, geom)
        assert want > 50_000 and got == pytest.approx(want, rel=1e-12)
        assert row["street_km"] == round(want / 1000, 3)
