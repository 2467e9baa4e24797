"""The printable report: its text (pdftotext) carries the run's figures and sites in the chosen
language, the map page is not blank (pdftoppm), DejaVu is embedded as TrueType (pdffonts), no
glyph is missing, names from the data are printed verbatim."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import almaty_layout
from typer.testing import CliRunner

from walkshed import cli
from walkshed.i18n import translator
from walkshed.io import MANIFEST

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
POPPLER = all(shutil.which(t) for t in ("pdftotext", "pdftoppm", "pdffonts"))
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")
KAZAKH_LETTERS = set("әғқңөұүһі")


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    return re.sub(r"[\xa0\u202f ]+", " ", out)  # no-break spaces as plain ones


def _fonts(pdf: Path) -> list[list[str]]:
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[2:]
    return [line.split() for line in out if line.strip()]


def _page_png(pdf: Path, page: int, folder: Path) -> np.ndarray:
    from PIL import Image

    stem = folder / f"page{page}"
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", str(page), "-l", str(page),
                    "-singlefile", str(pdf), str(stem)], check=True)
    return np.asarray(Image.open(f"{stem}.png").convert("L"), dtype=float)


def _demo_scenario(tmp_path: Path, lang: str | None = None) -> Path:
    text = (REPO / "data" / "demo.toml").read_text(encoding="utf-8")
    if lang:
        text = f'lang = "{lang}"\n' + text
    for f in ("demo_precincts.csv", "demo_sectors.geojson"):
        shutil.copy(REPO / "data" / f, tmp_path)
    (tmp_path / "demo.toml").write_text(text, encoding="utf-8")
    return tmp_path / "demo.toml"


def _plain(s: str) -> str:
    return re.sub(r"[\xa0\u202f]", " ", s)


@needs_poppler
@pytest.mark.slow
@pytest.mark.parametrize("lang", ["ru", "kk", "en"])
def test_demo_report_pdf(lang: str, tmp_path: Path) -> None:
    scenario = _demo_scenario(tmp_path)
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font"
        res = runner.invoke(cli.app, ["--lang", lang, "report", str(scenario), "--out",
                                      str(out)])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir() if p.name != MANIFEST} == {"report.pdf",
                                                                       "summary.json"}
    pdf = out / "report.pdf"
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    text = _text(pdf)
    t = translator(lang)
    # the figures of this run, in the locale's format
    for row in summary["coverage"]:
        for key in ("covered_open", "covered_with_planned"):
            assert _plain(t.number(row[key])) in text, (key, row)
        assert _plain(t.percent(row["share_open"])) in text
    assert _plain(t.number(summary["residents"])) in text
    for site in summary["proposed_sites"]["sites"]:
        assert re.search(rf"\b{re.escape(site['site'])}\b", text), site["site"]
        assert f"{site['lat']:.5f}" in text
    for d in summary["districts"]:
        assert d["district"].split(" ")[0] in text or d["district"] in text
    words = {"ru": ["Охват пешей доступностью", "участковые инспекторы полиции",
                    "Условные обозначения", "зоне обслуживания"],
             "kk": ["Жаяу қолжетімділікпен қамту", "учаскелік полиция инспекторлары",
                    "Шартты белгілер", "қызмет көрсету аймағындағы"],
             "en": ["Coverage", "Staffing", "Legend"]}[lang]
    for w in words:
        assert w in text, w
    if lang != "en":
        for english in ("Coverage", "Districts", "Legend", "residents", "Proposed new sites",
                        "Caveats"):
            assert english not in text, english
    if lang == "kk":
        assert set(text.lower()) | {"һ"} >= KAZAKH_LETTERS  # all but һ occur in the text
    # fonts: DejaVu, embedded as TrueType (never Type 3, never a substitute)
    fonts = _fonts(pdf)
    assert fonts and all(f[0].split("+")[-1].startswith("DejaVuSans") for f in fonts)
    assert not any(" ".join(f[1:3]) == "Type 3" for f in fonts), fonts
    assert all(f[-5] == "yes" for f in fonts), fonts  # the "emb" column
    # each face subset and embedded once: the Cyrillic, the dashes and "fi" in the same copy
    assert sorted(f[0].split("+")[-1] for f in fonts) == ["DejaVuSans", "DejaVuSans-Bold"]
    # the map page is not blank: the map area varies; the page count is what was written
    page = _page_png(pdf, 1, tmp_path)
    h, w = page.shape
    area = page[int(0.12 * h): int(0.78 * h), int(0.06 * w): int(0.94 * w)]
    assert area.std() > 20 and (area < 200).mean() > 0.05


@needs_poppler
@pytest.mark.slow
def test_analyze_writes_the_report_in_the_scenario_language(tmp_path: Path) -> None:
    scenario = _demo_scenario(tmp_path, lang="kk")
    res = runner.invoke(cli.app, ["analyze", str(scenario), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "report.pdf" in json.loads((tmp_path / "o" / "summary.json").read_text())["outputs"]
    text = _text(tmp_path / "o" / "report.pdf")
    assert "Жаяу қолжетімділікпен қамту" in text
    # the caveats and sources in Kazakh (the OSM snapshot, the network per district)
    words = " ".join(_plain(text).split())
    assert "Аудандар бойынша көше желісі" in words and "OpenStreetMap (Helsinki.osm.pbf)" in words
    assert "Street network" not in words and "snapshot" not in words


@needs_poppler
@pytest.mark.slow
def test_addresses_and_hostile_names_are_printed_verbatim(tmp_path: Path) -> None:
    from walkshed.pipeline import demo_study, run
    from walkshed.report_pdf import write_report_pdf

    study = demo_study()
    hostile = "$\\frac{1}{0}$ {n} <b>%s</b> ұңғы"
    study.districts = study.districts.assign(name=[hostile, "B", "C", "D"])
    result: Any = run(study, tmp_path / "o", p=2, outputs=frozenset({"sites"}))
    table = result.siting.table
    table["address"] = [f"улица Абая, {10 + i}" for i in range(len(table))]
    pdf = write_report_pdf(tmp_path / "r.pdf", result, network=study.network,
                           precincts=study.precincts, districts=study.districts, lang="ru")
    text = _text(pdf)
    assert "адрес" in text
    for a in table["address"]:
        assert a in text
    assert hostile in text  # no mathtext, no format placeholder filled, no markup


@needs_poppler
@pytest.mark.slow
def test_almaty_report_pdf(shared_data: Path, tmp_path: Path) -> None:
    folder, text = almaty_layout(shared_data, tmp_path)
    text = text.replace("new_sites = 10", "new_sites = 3").replace(
        'method = "auto"', 'method = "greedy"')
    (folder / "almaty.toml").write_text(text, encoding="utf-8")
    res = runner.invoke(cli.app, ["--lang", "ru", "report", str(folder / "almaty.toml"),
                                  "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text("utf-8"))
    text = _text(tmp_path / "o" / "report.pdf")
    assert "2 165 759" in text  # the official districts' total, Russian grouping
    main = next(r for r in summary["coverage"] if r["threshold"] == "10min")
    t = translator("ru")
    assert _plain(f"{t.number(main['covered_open'])} из 2 165 759 жителей "
                  f"({t.percent(main['share_open'])})") in text
    for site in summary["proposed_sites"]["sites"]:
        assert site["site"] in text
    for d in summary["districts"]:
        if d["district"] in ("Alatau", "Almaly", "Auezov", "Medeu"):
            assert d["district"] in text
    page = _page_png(tmp_path / "o" / "report.pdf", 1, tmp_path)
    h, w = page.shape
    assert page[int(0.12 * h): int(0.78 * h), int(0.06 * w): int(0.94 * w)].std() > 20


def test_map_areas_reused_and_streets_drawn_as_geopandas_would() -> None:
    """The report draws the map's walking areas (all precincts, every threshold) as the same
    shapes it would compute itself, and the streets as the same segments as
    ``GeoSeries.plot``."""
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from walkshed.assessment import assess
    from walkshed.isochrones import walking_areas
    from walkshed.pipeline import demo_study
    from walkshed.report_pdf import _street_lines, _walking_areas, warm_up

    study = demo_study()
    net = study.network
    pre = study.precincts.copy()
    pre["status"] = ["open", "planned", *["candidate"] * (len(pre) - 2)]
    s = assess(net, study.demand, pre, **study.assess_options).settings
    areas = walking_areas(net, pre, thresholds_min=s.thresholds_min,
                          walk_speed_kmh=s.walk_speed_kmh)
    own, reused = _walking_areas(net, pre, s), _walking_areas(net, pre, s, areas)
    assert set(own) == set(reused) == {"open", "planned"}
    for key, geom in own.items():
        assert geom.area > 0
        assert geom.symmetric_difference(reused[key]).area < 1e-6 * geom.area
    fig, ax = plt.subplots()
    gpd.GeoSeries(np.asarray(net.edge_geometry), crs=net.crs).plot(ax=ax)
    want = ax.collections[0].get_segments()
    got = _street_lines(net)
    plt.close(fig)
    assert len(got) == len(want) == len(net.edge_geometry)
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    warm_up(net)  # what a second process does before the figures exist: the same lines
    assert all(np.array_equal(a, b) for a, b in zip(_street_lines(net), want, strict=True))


def test_polygons_drawn_as_geopandas_would() -> None:
    """The uncovered cells and walking areas are the same paths, with the same style, as
    ``GeoSeries.plot`` draws: holes, multipolygons, and missing or empty rows left out."""
    import geopandas as gpd
    import matplotlib
    import shapely

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from walkshed.report_pdf import _polygons

    donut = shapely.Point(0, 0).buffer(10).difference(shapely.Point(2, 0).buffer(3))
    cw = shapely.Polygon([(40, 0), (40, 5), (45, 5), (45, 0)])  # clockwise: normalised
    cells = shapely.get_parts(shapely.MultiPoint(np.random.default_rng(1).random((60, 2))
                                                 * 500).buffer(20, quad_segs=2))
    for geoms, style in (
        ([shapely.MultiPolygon([donut, shapely.box(20, 20, 30, 30)]), None,
          shapely.Polygon(), cw, donut], {"color": "#9ecae1", "alpha": 0.8, "linewidth": 0,
                                          "zorder": 3, "rasterized": True}),
        (list(cells), {"color": "#f1a596", "edgecolor": "face", "linewidth": 0.3,
                       "zorder": 2, "rasterized": True}),
    ):
        fig, ax = plt.subplots()
        gpd.GeoSeries(geoms, crs=32643).plot(ax=ax, **style)
        want = ax.collections[0]
        got = _polygons(geoms, **style)
        plt.close(fig)
        assert len(got.get_paths()) == len(want.get_paths()) == sum(
            g is not None and not g.is_empty for g in geoms)
        for a, b in zip(got.get_paths(), want.get_paths(), strict=True):
            assert np.array_equal(a.vertices, b.vertices)
            assert np.array_equal(a.codes, b.codes)
        for prop in ("facecolor", "edgecolor", "linewidth", "alpha", "zorder", "rasterized",
                     "antialiased"):
            assert np.array_equal(np.asarray(getattr(got, f"get_{prop}")()),
                                  np.asarray(getattr(want, f"get_{prop}")())), prop
    assert _polygons([None, shapely.Polygon()], color="#000000").get_paths() == []
