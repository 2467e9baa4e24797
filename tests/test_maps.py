"""The coverage map: page content, data never read as code, a map that opens anywhere, legibility
at city scale, and a real browser (Chromium)."""

from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import street_grid

from walkshed.isochrones import walking_areas
from walkshed.maps import coverage_map, save_map
from walkshed.network import WalkNetwork
from walkshed.reach import nearest_precinct

XSS = "<img src=x onerror=alert(1)>"
XSS_2 = "`${alert(2)}`</script><script>alert(3)</script>"
THRESHOLDS = (5.0, 10.0, 15.0)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# ---------------------------------------------------------------------------------------------
# data


def _monaco_precincts(net: WalkNetwork, pbf: Path) -> gpd.GeoDataFrame:
    from walkshed._osm import read_tagged_points

    feats = read_tagged_points(pbf, "amenity", "police")
    pts = gpd.GeoDataFrame(
        {"name": [f.tags.get("name") for f in feats]},
        geometry=[shapely.Point(f.lon, f.lat) for f in feats],
        crs="EPSG:4326",
        index=[f"{f.osm_type}/{f.osm_id}" for f in feats],
    )
    pts["status"] = "open"
    pts.iloc[[1, 4], pts.columns.get_loc("status")] = "planned"
    pts.iloc[0, pts.columns.get_loc("name")] = XSS
    pts.iloc[2, pts.columns.get_loc("name")] = XSS_2
    return pts


def _node_demand(net: WalkNetwork) -> gpd.GeoDataFrame:
    """Simple demand: one resident at every street node."""
    return gpd.GeoDataFrame(
        {"population": np.ones(net.n_nodes), "zone": None, "method": "nodes"},
        geometry=shapely.points(net.node_xy), crs=net.crs,
    )


def _halves(net: WalkNetwork) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = net.bounds
    mid = (minx + maxx) / 2
    return gpd.GeoDataFrame(
        {"name": ["West <b>side</b>", "East"]},
        geometry=[shapely.box(minx - 10, miny - 10, mid, maxy + 10),
                  shapely.box(mid, miny - 10, maxx + 10, maxy + 10)],
        crs=net.crs,
    )


def _need_offline_leaflet() -> None:
    pytest.importorskip(
        "xstatic.pkg.leaflet",
        reason="xstatic-leaflet (Leaflet's files inlined into offline maps) is not installed",
    )


@pytest.fixture(scope="module")
def monaco(shared_data: Path, monaco_network: WalkNetwork) -> dict[str, Any]:
    from walkshed.assessment import assess

    _need_offline_leaflet()

    pbf = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    net = monaco_network
    precincts = _monaco_precincts(net, pbf)
    demand = _node_demand(net)
    districts = _halves(net)
    result = assess(net, demand, precincts, thresholds_min=THRESHOLDS, districts=districts)
    # proposed sites: two street nodes far from every precinct, with given gains
    far = nearest_precinct(net, precincts, demand)["distance_m"].to_numpy()
    pick = np.argsort(-np.where(np.isfinite(far), far, -1))[:2]
    sites = gpd.GeoDataFrame(
        {"rank": [1, 2], "site": ["s1", "s2"], "newly_covered": [321.0, 12.0],
         "cumulative_share": [0.75, 0.7512]},
        geometry=shapely.points(net.node_xy[pick]), crs=net.crs,
    )
    areas = walking_areas(net, precincts, thresholds_min=THRESHOLDS)
    return {"net": net, "precincts": precincts, "demand": demand, "assessment": result,
            "districts": districts, "sites": sites, "areas": areas}


def _map(monaco: dict[str, Any], *, offline: bool = True, **kw: Any):  # type: ignore[no-untyped-def]
    return coverage_map(
        monaco["net"], monaco["assessment"], precincts=monaco["precincts"],
        districts=monaco["districts"], sites=monaco["sites"], title="Monaco police",
        walking_areas=monaco["areas"],
        scenario="Test <scenario>", date="2026-11-26", offline=offline, **kw,
    )


def _expected_popups(monaco: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Residents served, covered share and inspectors per precinct, from reach directly."""
    pre = monaco["precincts"]
    out: dict[str, dict[str, str]] = {}
    for scen, statuses in (("open", ["open"]), ("open+planned", ["open", "planned"])):
        sel = pre[pre["status"].isin(statuses)]
        near = nearest_precinct(monaco["net"], sel, monaco["demand"])
        for pid in sel.index:
            if (scen == "open") != (pre.loc[pid, "status"] == "open"):
                continue
            mine = near[near["precinct"] == pid]
            served = float(len(mine))
            within = float((mine["distance_m"] <= 15 * 75.0 + 1e-9).sum())
            out[pid] = {
                "Residents served": f"{served:,.0f}",
                "Covered share within 15 min": f"{within / served:.1%}" if served else "n/a",
                "Inspectors needed": f"{math.ceil(served / 3000.0):,.0f}",
            }
    return out


DATA_BLOCK = re.compile(
    r'<script type="application/json" id="walkshed-data">(.*?)</script>', re.S
)


def _page_and_data(m: Any) -> tuple[str, dict[str, Any]]:
    page = m.get_root().render()
    blocks = DATA_BLOCK.findall(page)
    assert len(blocks) == 1
    return page, json.loads(blocks[0])


def _data(m: Any) -> dict[str, Any]:
    return _page_and_data(m)[1]


def _layer_names(data: dict[str, Any]) -> list[str]:
    return [layer["name"] for layer in data["layers"]]


def _markers(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [mk for layer in data["layers"] if layer["kind"] == "markers"
            for mk in layer["markers"]]


def _rows(popup: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in popup["rows"]}


def _precinct_popups(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mk["icon"]["data"]["precinct"]: mk["popup"] for mk in _markers(data)
            if "data" in mk["icon"]}


def _strings(obj: Any) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


EXPECTED_LAYERS = [
    "Streets (offline basemap)",
    "Districts: covered share (15 min)",
    "District names",
    "Uncovered residents (cells)",
    "Walking areas, open: 5 min",
    "Walking areas, open: 10 min",
    "Walking areas, open: 15 min",
    "Walking areas, open + planned: 5 min",
    "Walking areas, open + planned: 10 min",
    "Walking areas, open + planned: 15 min",
]


# ---------------------------------------------------------------------------------------------
# data is never code: template and HTML payloads in every name

TEMPLATE_PAYLOADS = [
    "D{{ 6*7 }}D",
    "S{% if %}S",
    "Block {{ 12",
    "{{ cycler.__init__.__globals__.os.mkdir('pwned') }}",
    "T${x}T",
    "C{# c",
]
HTML_PAYLOADS = [XSS, "</script><script>alert(1)</script>", "<!-- x"]
PAYLOADS = TEMPLATE_PAYLOADS + HTML_PAYLOADS
EVALUATED = ["D42D"]  # what {{ 6*7 }} would have become (the mkdir is checked on disk)


def _square() -> WalkNetwork:
    """A 400 m street grid (3 x 3 nodes) in UTM metres."""
    xs, ys = np.meshgrid([0.0, 200.0, 400.0], [0.0, 200.0, 400.0])
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    pairs = [(i, i + 1) for i in range(9) if i % 3 != 2] + [(i, i + 3) for i in range(6)]
    u, v = np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])
    geom = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    return WalkNetwork(np.arange(9), xy, u, v, geom, "EPSG:32643", source="grid")


def _hostile_map(tiles: str | None = None, offline: bool = True) -> Any:
    net = _square()
    n = len(PAYLOADS)
    pre = gpd.GeoDataFrame(
        {"name": PAYLOADS, "status": ["open", "planned", "candidate"] * 3,
         "kind": PAYLOADS[::-1], "kind_reason": PAYLOADS},
        geometry=[shapely.Point(20 + 40 * i, 30 + 40 * i) for i in range(n)],
        crs="EPSG:32643", index=[f"p{i}" for i in range(n)],
    )
    districts = gpd.GeoDataFrame(
        {"name": PAYLOADS[:3]},
        geometry=[shapely.box(-10, -10, 140, 410), shapely.box(140, -10, 270, 410),
                  shapely.box(270, -10, 410, 410)],
        crs="EPSG:32643",
    )
    sites = gpd.GeoDataFrame(
        {"rank": [1, 2, 3], "newly_covered": [30.0, 20.0, 10.0],
         "cumulative_share": [0.5, 0.6, 0.7], "site": PAYLOADS[3:6],
         "district": PAYLOADS[6:9], "address": PAYLOADS[:3]},
        geometry=[shapely.Point(400, 0), shapely.Point(0, 400), shapely.Point(400, 400)],
        crs="EPSG:32643",
    )
    kw: dict[str, Any] = {} if tiles is None else {"tiles": tiles}
    return coverage_map(
        net, precincts=pre, districts=districts, sites=sites, thresholds_min=(1, 2),
        title="Title " + " ".join(PAYLOADS), scenario=PAYLOADS[3], date="2026-11-26",
        data_licence="ODbL {{ 6*7 }} <b>", offline=offline, **kw,
    )


def test_names_are_never_templates_or_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_offline_leaflet()
    monkeypatch.chdir(tmp_path)
    m = _hostile_map()
    page, data = _page_and_data(m)
    for text in EVALUATED:
        assert text not in page
    assert list(tmp_path.iterdir()) == []  # the cycler chain made no folder
    # every payload arrives literally, as data, in the one JSON block ...
    strings = _strings(data)
    for p in PAYLOADS:
        assert any(p in s for s in strings), p
    assert data["title"] == "Title " + " ".join(PAYLOADS)
    pops = _precinct_popups(data)
    assert [pops[f"p{i}"]["title"] for i in range(len(PAYLOADS))] == PAYLOADS
    assert _rows(pops["p0"])["Kind"] == PAYLOADS[-1]
    names = [mk["icon"]["text"] for layer in data["layers"] if layer["id"] == "district-names"
             for mk in layer["markers"]]
    assert [n.split("\n")[0] for n in names] == PAYLOADS[:3]
    # ... and the page around it is only fixed text: no data outside that block
    outside = DATA_BLOCK.sub("", page)
    for p in PAYLOADS:
        assert p not in outside, p
    for raw in ("<img", "</script><script>", "<!-- x"):
        assert raw not in DATA_BLOCK.search(page).group(1)  # type: ignore[union-attr]
    assert page.count("<script") == page.count("</script>")
    from walkshed.maps._page import _SCRIPT

    assert "innerHTML" not in _SCRIPT and _SCRIPT.replace("__MAP__", m.get_name()) in page
    out = save_map(m, tmp_path / "map.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]
    assert out.read_text(encoding="utf-8") == page


# ---------------------------------------------------------------------------------------------
# page content (no browser)


def test_small_hand_made_map_is_self_contained() -> None:
    _need_offline_leaflet()
    net = _square()
    pre = gpd.GeoDataFrame(
        {"name": [XSS, "B & C"], "status": ["open", "candidate"]},
        geometry=[shapely.Point(10, 5), shapely.Point(190, 150)], crs="EPSG:32643",
        index=["a", "b"],
    )
    for offline in (True, False):
        page, data = _page_and_data(coverage_map(
            net, precincts=pre, offline=offline, title="T <1>", date="2026-11-26",
            thresholds_min=(1, 2)))
        assert _layer_names(data) == ["Web map tiles (OpenStreetMap)"] * (not offline) + [
            "Streets (offline basemap)",
            "Walking areas, open: 1 min", "Walking areas, open: 2 min",
            "Precincts: open", "Precincts: candidate",
        ]
        # Leaflet inlined in both: the default map opens without internet too
        assert not re.search(r"<script[^>]+src=", page)
        assert not re.search(r"<link[^>]+href=", page)
        assert "jquery" not in page.lower() and "sourceMappingURL" not in page
        assert ("tile.openstreetmap.org" in page) == (not offline)
        assert data["title"] == "T <1>" and "T <1>" not in page
        assert {p["title"] for p in _precinct_popups(data).values()} == {XSS, "B & C"}


def test_layers_title_legend_attribution(monaco: dict[str, Any]) -> None:
    page, data = _page_and_data(_map(monaco, data_date="2020-05-01"))
    names = _layer_names(data)
    assert names[:len(EXPECTED_LAYERS)] == EXPECTED_LAYERS
    assert names[-3:] == ["Precincts: open", "Precincts: planned", "Proposed sites (by rank)"]
    assert data["title"] == "Monaco police"
    assert data["subtitle"] == "Test <scenario> · data May 1, 2020 · run November 26, 2026"
    assert data["attribution"] == "© OpenStreetMap contributors, ODbL 1.0"
    assert "L.Control.Scale.extend" in page and data["lang"] == "en"
    # the open + planned walking areas start hidden; every shown layer with a legend has one
    shown = {layer["name"]: layer.get("show", True) for layer in data["layers"]}
    assert not shown["Walking areas, open + planned: 5 min"]
    assert all("legend" in layer for layer in data["layers"]
               if layer["kind"] == "geojson" and layer["id"] != "streets")
    # without a data date the title says only the run's
    assert _data(_map(monaco))["subtitle"] == "Test <scenario> · run November 26, 2026"


def test_offline_page_loads_nothing_from_outside(monaco: dict[str, Any]) -> None:
    page = _map(monaco).get_root().render()
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"url\((?!data:|#)", page)
    assert "tile.openstreetmap.org" not in page
    assert "sourceMappingURL" not in page


def test_online_page_has_tiles_as_a_setting(monaco: dict[str, Any]) -> None:
    data = _data(_map(monaco, offline=False))
    tiles = [layer for layer in data["layers"] if layer["kind"] == "tiles"]
    assert [t["url"] for t in tiles] == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    assert "Streets (offline basemap)" in _layer_names(data)  # still drawn: no internet
    data = _data(_map(monaco, offline=False, tiles="http://127.0.0.1:1/{z}/{x}/{y}.png"))
    assert [la["url"] for la in data["layers"] if la["kind"] == "tiles"] == [
        "http://127.0.0.1:1/{z}/{x}/{y}.png"]
    assert not [la for la in _data(_map(monaco, offline=False, tiles=None))["layers"]
                if la["kind"] == "tiles"]


def test_precinct_popups_show_the_right_numbers(monaco: dict[str, Any]) -> None:
    pops = _precinct_popups(_data(_map(monaco)))
    want = _expected_popups(monaco)
    assert set(pops) == set(monaco["precincts"].index)
    for pid, popup in pops.items():
        cells = _rows(popup)
        assert cells["Status"] == monaco["precincts"].loc[pid, "status"]
        for key, value in want[pid].items():
            assert cells[key] == value, (pid, key)
        # the precinct's district, by where it lies
        x = monaco["precincts"].to_crs(monaco["net"].crs).loc[pid].geometry.x
        mid = sum(monaco["net"].bounds[::2]) / 2
        assert cells["District"] == ("West <b>side</b>" if x < mid else "East")


def test_sites_and_districts(monaco: dict[str, Any]) -> None:
    data = _data(_map(monaco))
    sites = next(la for la in data["layers"] if la["id"] == "sites")
    assert [mk["icon"]["text"] for mk in sites["markers"]] == ["1", "2"]
    assert _rows(sites["markers"][0]["popup"])["Newly covered residents"] == "321"
    assert _rows(sites["markers"][0]["popup"])["Cumulative covered share"] == "75.0%"
    table = monaco["assessment"].districts.set_index("district")
    districts = next(la for la in data["layers"] if la["id"] == "districts")
    pops = {f["properties"]["popup"]["title"]: _rows(f["properties"]["popup"])
            for f in districts["data"]["features"]}
    pre = monaco["precincts"].to_crs(monaco["net"].crs)
    mid = sum(monaco["net"].bounds[::2]) / 2
    for name in ("West <b>side</b>", "East"):
        rows = pops[name]
        assert rows["Residents"] == f"{table.loc[name, 'residents']:,.0f}"
        for t in THRESHOLDS:
            assert rows[f"Covered within {t:g} min"] == \
                f"{table.loc[name, f'share_{t:g}min_open']:.1%}"
        west = pre.geometry.x < mid if name != "East" else pre.geometry.x >= mid
        for st in ("open", "planned"):
            n = int((west & (pre["status"] == st)).sum())
            assert rows.get(f"{st.capitalize()} precincts", "0") == str(n)


def test_district_classes_separate_close_shares() -> None:
    from walkshed.maps._tables import _share_classes

    shares = np.array([0.195, 0.05, 0.12, 0.18, 0.02, 0.15, 0.10, np.nan])
    cls, bounds = _share_classes(shares, 5)
    assert cls[-1] == -1 and len(bounds) == 5
    # ordered classes whose ranges hold their members (19.5 % is not lumped with 2 %)
    for c, v in zip(cls[:-1], shares[:-1], strict=True):
        assert bounds[c][0] <= v <= bounds[c][1]
    assert cls[0] != cls[4] and cls[0] == max(cls)
    assert [b[0] for b in bounds] == sorted(b[0] for b in bounds)
    cls, bounds = _share_classes(np.array([0.3, 0.3, 0.6]), 5)
    assert cls.tolist() == [0, 0, 1] and bounds == [(0.3, 0.3), (0.6, 0.6)]


def test_district_classes_are_mapclassify_fisher_jenks() -> None:
    """The natural breaks are mapclassify's Fisher-Jenks classes (the reference, a dev
    dependency); where values tie so that two partitions are equally good, both are optimal."""
    import warnings

    import mapclassify

    from walkshed.maps._tables import _share_classes

    def sse(v: np.ndarray, c: np.ndarray) -> float:
        return float(sum(((v[c == i] - v[c == i].mean()) ** 2).sum() for i in np.unique(c)))

    rng = np.random.default_rng(13)
    same = ties = 0
    for trial in range(400):
        n, k = int(rng.integers(6, 30)), int(rng.integers(2, 8))
        v = rng.random(n) if trial % 2 else np.round(rng.random(n), 2)
        if len(np.unique(v)) <= k:
            continue
        with warnings.catch_warnings():  # "Numba not installed"
            warnings.simplefilter("ignore", UserWarning)
            ref = np.asarray(mapclassify.FisherJenks(v, k=k).yb)
        ref = np.unique(ref, return_inverse=True)[1]  # numbered as they occur, like ours
        cls, bounds = _share_classes(v, k)
        assert len(bounds) == len(np.unique(cls)) <= k
        if np.array_equal(cls, ref):
            same += 1
        else:  # an exact tie between partitions: never on values that differ continuously
            assert trial % 2 == 0
            assert sse(v, cls) == pytest.approx(sse(v, ref), abs=1e-12)
            ties += 1
    assert same > 300 and ties < same // 10


def test_generic_staffing_and_kind_columns(monaco: dict[str, Any]) -> None:
    pre = monaco["precincts"].copy()
    pre["kind"] = "district"
    pre["inspectors"] = 2
    from walkshed.assessment import assess

    staffed = assess(monaco["net"], monaco["demand"], pre, thresholds_min=THRESHOLDS,
                     districts=monaco["districts"])
    catch = staffed.catchments.copy()
    catch["inspectors_on_staff_gap"] = 1.0
    data = _data(coverage_map(
        monaco["net"], staffed, precincts=pre, catchments=catch,
        districts=monaco["districts"], walking_areas=monaco["areas"], offline=True))
    cells = _rows(_precinct_popups(data)[pre.index[0]])
    assert cells["Kind"] == "district" and cells["Inspectors on staff"] == "2"
    assert cells["inspectors on staff gap"] == "1"
    districts = next(la for la in data["layers"] if la["id"] == "districts")
    rows = [_rows(f["properties"]["popup"]) for f in districts["data"]["features"]]
    n_open = int((pre["status"] == "open").sum())  # districts.csv: today's precincts
    assert sum(int(r.get("Inspectors on staff", "0")) for r in rows) == 2 * n_open
    assert sum(int(r.get("Precincts of kind district", "0")) for r in rows) == len(pre)


def test_save_map_is_atomic(monaco: dict[str, Any], tmp_path: Path) -> None:
    m = _map(monaco)
    out = save_map(m, tmp_path / "sub" / "map.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["map.html"]
    # the permissions a plain open() gives, not mkstemp's owner-only 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_save_map_leaves_nothing(
    monaco: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = _map(monaco)
    real = Path.write_text

    def half_then_interrupt(self: Path, text: str, *args: Any, **kw: Any) -> int:
        real(self, text[: len(text) // 2], *args, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_map(m, tmp_path / "map.html")
    assert list(tmp_path.iterdir()) == []


def test_plain_tables_without_assessment(monaco: dict[str, Any]) -> None:
    catch = pd.DataFrame(
        {"residents_served": [1234.0], "covered_share": [0.5], "inspectors_needed": [1]},
        index=pd.Index([monaco["precincts"].index[3]], name="precinct"),
    )
    m = coverage_map(monaco["net"], precincts=monaco["precincts"], catchments=catch,
                     walking_areas=monaco["areas"], offline=True, date="2026-01-01")
    pops = _precinct_popups(_data(m))
    got = _rows(pops[catch.index[0]])
    assert got["Residents served"] == "1,234" and got["Covered share"] == "50.0%"
    assert _rows(pops[monaco["precincts"].index[5]])["Residents served"] == "n/a"


# ---------------------------------------------------------------------------------------------
# in a real browser


def _playwright() -> Any:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    return sync_playwright


@pytest.fixture(scope="module")
def browser() -> Any:
    sync_playwright = _playwright()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class _Watch:
    """Console errors, page errors, dialogs and every request of one page."""

    def __init__(self, page: Any, allow: str = r"file://") -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error"
                else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", lambda req: self.requests.append(req.url))

        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        # the network is cut: anything but the page file (and a test's own server) is refused
        page.route(re.compile(rf"^(?!{allow}).*"), lambda route: route.abort())


def _open(browser: Any, path: Path, allow: str = r"file://") -> tuple[Any, _Watch, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(20_000)
    watch = _Watch(page, allow)
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("window.walkshed !== undefined")
    seconds = time.perf_counter() - t0
    page.evaluate("""() => { const map = window.walkshed.map;
                             window.wsView = [map.getCenter(), map.getZoom()]; }""")
    return page, watch, seconds


def _reset_view(page: Any) -> None:
    page.evaluate(
        """() => { const map = window.walkshed.map;
                   map.closePopup();
                   map.setView(window.wsView[0], window.wsView[1], {animate: false}); }"""
    )


def _zoom_to(page: Any, pid: str) -> None:
    page.evaluate(
        """(pid) => {
            const map = window.walkshed.map;
            const el = document.querySelector(`[data-precinct="${CSS.escape(pid)}"]`);
            const icon = el.closest('.leaflet-marker-icon');
            map.eachLayer(l => { if (l._icon === icon) { map.setView(l.getLatLng(), 18,
                {animate: false}); } });
        }""",
        pid,
    )


def _close_popup(page: Any) -> None:
    page.evaluate("() => { window.walkshed.map.closePopup(); }")
    # a closed popup fades out for 200 ms before it leaves the page
    page.wait_for_function("document.querySelectorAll('.leaflet-popup').length === 0")


def _click_precinct(page: Any, pid: str) -> str:
    """Zoom to a precinct, click its marker, and return the popup's text."""
    _zoom_to(page, pid)
    page.locator(f'[data-precinct="{pid}"]').click()
    page.wait_for_selector(".leaflet-popup-content")
    text = page.locator(".leaflet-popup-content").inner_text()
    _close_popup(page)
    return text


def _layer_list(page: Any) -> list[str]:
    page.locator("#ws-layers summary").click()  # the list opens on demand
    labels = [t.strip() for t in page.locator("#ws-layers label").all_inner_texts()]
    page.locator("#ws-layers summary").click()
    return labels


def _toggle(page: Any, name: str, on: bool) -> None:
    page.evaluate("(open) => { document.getElementById('ws-layers').open = open; }", True)
    box = page.locator("#ws-layers label", has_text=name).first.locator("input")
    box.check() if on else box.uncheck()
    page.evaluate("(open) => { document.getElementById('ws-layers').open = open; }", False)


def _legend_sections(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#ws-legend h4").all_inner_texts()]


def _variance(png: bytes) -> float:
    """Pixel variance of a screenshot (a blank page has none)."""
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(img.var())


@pytest.mark.browser
def test_hostile_names_show_literally_in_chromium(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_offline_leaflet()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    path = save_map(_hostile_map(), tmp_path / "hostile.html")
    page, watch, _ = _open(browser, path)
    assert page.locator("#ws-title h1").inner_text() == "Title " + " ".join(PAYLOADS)
    assert PAYLOADS[3] in page.locator("#ws-title").inner_text()
    assert page.title() == "Title " + " ".join(PAYLOADS)
    labels = [t.splitlines()[0] for t in page.locator(".ws-label").all_inner_texts()]
    assert labels == PAYLOADS[:3]
    for i, name in enumerate(PAYLOADS):
        text = page.evaluate(
            """(pid) => {
                let hit = null;
                window.walkshed.layers.forEach(b => { if (b.spec.kind !== 'markers') return;
                  b.layer.eachLayer(mk => { const d = mk._icon &&
                    mk._icon.querySelector('[data-precinct]');
                    if (d && d.getAttribute('data-precinct') === pid) hit = mk; }); });
                hit.openPopup();
                return document.querySelector('.leaflet-popup-content').innerText;
            }""", f"p{i}")
        assert text.splitlines()[0] == name
        assert f"Kind\t{PAYLOADS[::-1][i]}" in text
        _close_popup(page)
    page.locator("div.ws-site", has_text="1").click()
    text = page.locator(".leaflet-popup-content").inner_text()
    for p in (PAYLOADS[0], PAYLOADS[3], PAYLOADS[6]):
        assert p in text
    assert page.locator("#ws-attribution").inner_text().endswith(
        "© OpenStreetMap contributors, ODbL {{ 6*7 }} <b>")
    _layer_list(page)
    body = page.locator("body").inner_text()
    for text in EVALUATED:
        assert text not in body
    assert watch.dialogs == []
    assert page.locator("img[src=x]").count() == 0
    assert watch.errors == []
    assert list(work.iterdir()) == []
    page.close()


@pytest.mark.browser
def test_monaco_map_in_chromium(
    browser: Any, monaco: dict[str, Any], tmp_path: Path
) -> None:
    path = save_map(_map(monaco), tmp_path / "monaco.html")
    page, watch, _ = _open(browser, path)
    labels = _layer_list(page)
    assert labels[:len(EXPECTED_LAYERS)] == EXPECTED_LAYERS
    assert page.locator("#ws-layers").get_attribute("open") is None  # closed at first
    attribution = page.locator("#ws-attribution").inner_text()
    assert attribution == "Leaflet | © OpenStreetMap contributors, ODbL 1.0"
    assert page.locator(".leaflet-control-attribution").count() == 1
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator("#ws-legend").is_visible()
    assert "Monaco police" in page.locator("#ws-title").inner_text()
    want = _expected_popups(monaco)
    pre = monaco["precincts"]
    for pid in pre.index[:4]:
        text = _click_precinct(page, pid)
        name = pre.loc[pid, "name"]
        name = name if isinstance(name, str) and name else f"Precinct {pid}"
        assert text.splitlines()[0].strip() == name
        for key, value in want[pid].items():
            assert re.search(rf"{re.escape(key)}\s+{re.escape(value)}", text), (key, value, text)
    # the XSS names show as their characters and run nothing
    assert XSS in _click_precinct(page, pre.index[0])
    assert XSS_2 in _click_precinct(page, pre.index[2])
    _zoom_to(page, pre.index[0])
    page.locator(f'[data-precinct="{pre.index[0]}"]').hover()
    assert XSS in page.locator(".leaflet-tooltip").all_inner_texts()
    assert watch.dialogs == []
    assert page.locator("img[src=x]").count() == 0
    # turning a layer off and on works, and the legend follows
    assert "Precincts" in _legend_sections(page)
    _toggle(page, "Precincts: planned", False)
    assert page.locator(".ws-status-planned").count() == 0
    _toggle(page, "Precincts: open", False)
    assert "Precincts" not in _legend_sections(page)
    _toggle(page, "Precincts: planned", True)
    assert page.locator(".ws-status-planned").count() == 2
    assert "Precincts" in _legend_sections(page)
    _reset_view(page)
    assert watch.errors == []
    assert watch.requests == [path.as_uri()]
    page.close()


class _Tiles:
    """A tile server on localhost: one small PNG for every request, each request counted."""

    def __init__(self) -> None:
        import http.server
        import io
        import threading

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (256, 256), (40, 160, 220)).save(buf, format="PNG")
        png = buf.getvalue()
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.browser
def test_default_map_opens_without_network_and_shows_tiles_when_they_answer(
    browser: Any, monaco: dict[str, Any], tmp_path: Path
) -> None:
    # the default map (not --offline) with the network cut off: basemap, layers and legend
    path = save_map(_map(monaco, offline=False), tmp_path / "default.html")
    page, watch, _ = _open(browser, path)
    page.wait_for_timeout(500)
    assert page.locator("#ws-legend").is_visible()
    assert page.locator("canvas.leaflet-zoom-animated").count() >= 1  # streets and areas
    assert page.locator(".ws-precinct").count() == len(monaco["precincts"])
    assert page.locator("div.ws-site").count() == 2
    streets = page.evaluate("""() => window.walkshed.layers.some(
        b => b.spec.id === 'streets' && window.walkshed.map.hasLayer(b.layer))""")
    assert streets
    # the map area itself is drawn (not a blank page): compare with an empty Leaflet page
    shot = page.screenshot(clip={"x": 300, "y": 150, "width": 800, "height": 600})
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body style='background:#ddd'></body></html>", encoding="utf-8")
    assert _variance(shot) > 100
    assert any("tile.openstreetmap.org" in r for r in watch.requests)  # tried, refused
    assert [e for e in watch.errors if "ERR_FAILED" not in e] == []
    page.close()
    # a tile server that answers: its tiles show and replace the street basemap
    tiles = _Tiles()
    try:
        url = f"http://127.0.0.1:{tiles.port}/{{z}}/{{x}}/{{y}}.png"
        path = save_map(_map(monaco, offline=False, tiles=url), tmp_path / "tiles.html")
        page, watch, _ = _open(browser, path, allow=rf"(file://|http://127\.0\.0\.1:{tiles.port}/)")
        page.wait_for_selector(".leaflet-tile-loaded")
        assert tiles.hits and all(re.fullmatch(r"/\d+/\d+/\d+\.png", h) for h in tiles.hits)
        page.wait_for_function("""() => !window.walkshed.layers.some(
            b => b.spec.id === 'streets' && window.walkshed.map.hasLayer(b.layer))""")
        assert watch.errors == [] and watch.dialogs == []
        page.close()
    finally:
        tiles.close()


def _almaty_sites(result: Any, net: WalkNetwork) -> gpd.GeoDataFrame:
    """Ten sites at the biggest uncovered areas, and two more 30 m and 60 m from the first."""
    ua = result.uncovered_areas.sort_values("rank").head(10).to_crs(net.crs)
    pts = list(shapely.point_on_surface(np.asarray(ua.geometry.values, dtype=object)))
    first = pts[0]
    pts += [shapely.Point(first.x + 30, first.y), shapely.Point(first.x, first.y + 60)]
    n = len(pts)
    return gpd.GeoDataFrame(
        {"rank": np.arange(1, n + 1), "newly_covered": np.linspace(5000, 100, n),
         "cumulative_share": np.linspace(0.5, 0.6, n)},
        geometry=pts, crs=net.crs,
    )


@pytest.mark.browser
@pytest.mark.slow
def test_almaty_map_in_chromium(
    browser: Any, shared_data: Path, tmp_path: Path, almaty_network: WalkNetwork
) -> None:
    import warnings

    import pyogrio

    from walkshed.assessment import assess

    folder = shared_data / "almaty-osm-2012"
    net = almaty_network
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Could not parse column 'name' as JSON"
        police = pyogrio.read_dataframe(folder / "almaty_police_2012.geojson")
        districts = pyogrio.read_dataframe(
            shared_data / "almaty-districts" / "almaty_districts.geojson"
        )
    police.index = police["osm_id"].astype(str)
    police["status"] = "open"
    police.iloc[::5, police.columns.get_loc("status")] = "planned"
    result = assess(net, _node_demand(net), police, districts=districts)
    m = coverage_map(net, result, precincts=police, districts=districts,
                     sites=_almaty_sites(result, net), scenario="Almaty 2012 (test)",
                     data_licence="CC BY-SA 2.0", data_date="2012-11-01")
    path = save_map(m, tmp_path / "almaty.html")
    size_mb = path.stat().st_size / 1e6
    assert size_mb < 15
    page, watch, seconds = _open(browser, path)
    page.wait_for_timeout(300)
    labels = _layer_list(page)
    assert labels[:2] == ["Web map tiles (OpenStreetMap)", "Streets (offline basemap)"]
    assert "Precincts: open" in labels and "Precincts: planned" in labels
    assert page.locator(".ws-precinct").count() == len(police)
    # every district has its own label, shown, with its name
    names = sorted(str(x) for x in districts["name"])
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('.ws-label'))
        .filter(e => e.closest('.leaflet-marker-icon').style.visibility !== 'hidden')
        .map(e => e.innerText.split('\\n')[0])""")
    assert sorted(shown) == names
    # the opening view holds the whole study area
    inside = page.evaluate(
        "(b) => window.walkshed.map.getBounds().contains(L.latLngBounds(b))",
        [[districts.total_bounds[1], districts.total_bounds[0]],
         [districts.total_bounds[3], districts.total_bounds[2]]])
    assert inside
    # no two site markers overlap at the opening zoom (two sites are 30 m and 60 m apart)
    rects = page.evaluate("""() => Array.from(document.querySelectorAll('.ws-site'))
        .filter(e => e.closest('.leaflet-marker-icon'))
        .map(e => { const r = e.getBoundingClientRect();
                    return [r.left, r.top, r.right, r.bottom]; })""")
    assert len(rects) == 12
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    # toggling a layer updates the legend
    before = _legend_sections(page)
    assert [s for s in before if s.startswith("Districts: covered share")]
    _toggle(page, "Districts: covered share", False)
    assert not [s for s in _legend_sections(page) if s.startswith("Districts: covered share")]
    _toggle(page, "Districts: covered share", True)
    assert _legend_sections(page) == before
    named = police[police["name"].notna()].index[0]
    text = _click_precinct(page, named)
    assert police.loc[named, "name"] in text
    _reset_view(page)
    assert _variance(page.screenshot()) > 100
    print(f"\nAlmaty map: {size_mb:.2f} MB, opened in {seconds:.2f} s")
    assert [e for e in watch.errors if "ERR_FAILED" not in e] == []
    page.close()


@pytest.mark.browser
def test_hostile_scenario_through_the_command(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scenario whose name, precincts and districts are payloads, run by ``walkshed analyze``:
    the map shows them literally, nothing runs, nothing is created, the run never fails."""
    import csv

    from typer.testing import CliRunner

    from walkshed import cli

    _need_offline_leaflet()
    repo = Path(__file__).resolve().parents[1]
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    toml = (repo / "data" / "demo.toml").read_text(encoding="utf-8")
    title = "S " + PAYLOADS[0] + " " + PAYLOADS[3]
    toml = re.sub(r'^name = ".*"$', "name = " + json.dumps(title), toml, count=1, flags=re.M)
    (tmp_path / "demo.toml").write_text(toml, encoding="utf-8")
    with open(repo / "data" / "demo_precincts.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row, name in zip(rows, PAYLOADS[1:], strict=False):
        row["name"] = name
    with open(tmp_path / "demo_precincts.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    sectors = json.loads((repo / "data" / "demo_sectors.geojson").read_text(encoding="utf-8"))
    district_names = [PAYLOADS[2], PAYLOADS[4], PAYLOADS[5], PAYLOADS[7]]
    for feat, name in zip(sectors["features"], district_names, strict=True):
        feat["properties"]["name"] = name
    (tmp_path / "demo_sectors.geojson").write_text(json.dumps(sectors), encoding="utf-8")
    result = CliRunner().invoke(
        cli.app, ["-q", "analyze", str(tmp_path / "demo.toml"), "--out", str(tmp_path / "out"),
                  "--offline"])
    assert result.exit_code == 0, result.output
    assert list(work.iterdir()) == []
    page_text = (tmp_path / "out" / "coverage_map.html").read_text(encoding="utf-8")
    assert "D42D" not in page_text
    page, watch, _ = _open(browser, tmp_path / "out" / "coverage_map.html")
    assert page.locator("#ws-title h1").inner_text() == title  # the scenario's name, once
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    unc = summary["uncertainty"]
    osm = next(c for c in summary["sources"] if c["source"].startswith("OpenStreetMap"))
    head = page.locator("#ws-title").inner_text()
    assert title not in head.replace(title, "", 1)
    from walkshed.i18n import translator

    assert f"data {translator('en').date(osm['date'][:10])} · run " in head
    assert unc["share_open"]["text"] in head and unc["norms_text"] in head
    # the panel: closed at first, opens on a click, shows the ranges, staffing and caveats
    info = page.locator("#ws-info")
    assert info.get_attribute("open") is None
    assert not page.locator("#ws-info section").first.is_visible()
    page.locator("#ws-info summary").click()
    assert info.get_attribute("open") is not None
    text = info.inner_text()
    assert unc["share_open"]["text"] in text and unc["norms_text"] in text
    assert f"Inspectors needed\t{summary['staffing']['open']['inspectors_needed']:,}" in text
    for c in summary["caveats"]:
        if c.get("topic") not in ("source", "precincts"):
            assert c["text"] in text  # district names made of payloads, as characters
    for name in district_names:
        assert name in text
    page.locator("#ws-info summary").click()
    labels = [t.splitlines()[0] for t in page.locator(".ws-label").all_inner_texts()]
    assert sorted(labels) == sorted(district_names)
    names = page.evaluate("""() => { const out = [];
        window.walkshed.layers.forEach(b => { if (!b.spec.id.startsWith('precincts')) return;
          b.spec.markers.forEach(m => out.push(m.popup.title)); });
        return out; }""")
    assert sorted(names) == sorted(r["name"] for r in rows)
    # the popups and tooltips as the browser draws them
    for i in range(len(rows)):
        text = page.evaluate(
            """(i) => { const all = [];
                window.walkshed.layers.forEach(b => { if (b.spec.id.startsWith('precincts'))
                  b.layer.eachLayer(mk => all.push(mk)); });
                all[i].openPopup();
                return document.querySelector('.leaflet-popup-content').innerText; }""", i)
        assert text.splitlines()[0] in {r["name"] for r in rows}
        _close_popup(page)
    assert watch.dialogs == [] and watch.errors == []
    assert page.locator("img[src=x]").count() == 0
    assert list(work.iterdir()) == []
    page.close()


# ---------------------------------------------------------------------------------------------
# in the planners' languages (the demo scenario; the run's language through the pipeline)

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo.toml"
NBSP = "\xa0"
#: Latin-letter words a Russian or Kazakh map may show: licence and software names (and OSM,
#: whose tags, ``police=station``, are shown as they are in the data).
LICENCE_WORDS = {"OpenStreetMap", "OSM", "ODbL", "CC", "BY", "SA", "Leaflet"}


@pytest.fixture(scope="module")
def demo_maps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's map in ru (written by run_study), en and kk (the pipeline's map stage)."""
    from walkshed.io import OutputDir
    from walkshed.pipeline import Reporter, _map, load_study, run_study

    _need_offline_leaflet()
    study, _ = load_study(DEMO, cache=False)
    root = tmp_path_factory.mktemp("demo-maps")
    with OutputDir(root / "ru") as out:
        res = run_study(study, out, Reporter(), outputs=frozenset({"sites", "map"}), p=2,
                        offline=True, lang="ru")
    for lang in ("en", "kk"):
        with OutputDir(root / lang) as out:
            _map(study, res.assessment, res.siting, out, Reporter(), offline=True, lang=lang)
    # the names that come from the data (they stay as written)
    names = {study.name, *study.precincts["name"].dropna(), *study.districts["name"]}
    for col in res.siting.table.columns.drop("geometry"):  # site ids, addresses, streets
        names |= {v for v in res.siting.table[col] if isinstance(v, str)}
    # the input files the caveats and sources name (Helsinki.osm.pbf)
    names |= {p.name for p in study.inputs}
    assert any(c["topic"] == "source" for c in study.caveats)
    # population methods' names and reasons: said in the language (walkshed.population.words)
    # but for the texts of input errors, which stay as they are
    from walkshed.i18n import translator
    from walkshed.population.words import say

    unc = res.assessment.uncertainty or {}
    words = {str(m["method"]) for m in [*unc.get("methods", []), *unc.get("not_applicable", [])]}
    words |= {str(m["reason"]) for m in unc.get("not_applicable", [])}
    said = {w for w in words if say(w, translator("ru")) != w}
    assert said & {"raster", "no population raster in the scenario"}
    names |= words - said
    return {"paths": {lang: root / lang / "coverage_map.html" for lang in ("en", "ru", "kk")},
            "names": sorted(names, key=len, reverse=True)}


def _file_data(path: Path) -> dict[str, Any]:
    blocks = DATA_BLOCK.findall(path.read_text(encoding="utf-8"))
    assert len(blocks) == 1
    return json.loads(blocks[0])


def _latin_words(texts: list[str], names: list[str]) -> set[str]:
    """Latin-letter words in ``texts`` once the data's names are taken out, licences aside."""
    found: set[str] = set()
    for text in texts:
        for name in names:
            text = text.replace(name, " ")
        text = re.sub(r"\{\w+\}", " ", text)  # an interface word's placeholders
        text = re.sub(r"[\w:*]+=('[^']*'|[^\s,;)]+)", " ", text)  # OSM tags: data
        found |= set(re.findall(r"[A-Za-z]+", text)) - LICENCE_WORDS
    return found


def _readable(data: dict[str, Any]) -> list[str]:
    """Every text of the JSON block a user reads (title, layer list, legend, popups, tips,
    interface words), not styles, ids, colours or geometry."""
    out = [data["title"], data["subtitle"], data["attribution"], *data["text"].values(),
           *data.get("lines", [])]
    panel = data.get("panel") or {"sections": []}  # the figures' panel (its ids aside)
    for sec in panel["sections"]:
        out += [sec["title"], *_strings(sec.get("rows")), *_strings(sec.get("items")),
                *_strings(sec.get("groups"))]
    for layer in data["layers"]:
        out.append(layer["name"])
        if "legend" in layer:
            out += [layer["legend"]["section"]] + [it["text"] for it in layer["legend"]["items"]]
        feats = layer.get("data", {}).get("features", []) if layer["kind"] == "geojson" else []
        for item in [f["properties"] for f in feats] + layer.get("markers", []):
            for key in ("tip", "alt"):
                out += [item[key]] if item.get(key) else []
            out += [item["icon"]["text"]] if item.get("icon", {}).get("text") else []
            if "popup" in item:
                out += [item["popup"]["title"]] + [c for row in item["popup"]["rows"]
                                                   for c in row]
    return out


def _in_locale(value: str, lang: str) -> str:
    """An English figure of the map written as ``lang`` writes it (independent of Babel):
    ``1,234`` -> ``1 234``, ``75.0%`` -> ``75,0 %`` (ru) / ``75,0%`` (kk), ``375 m`` ->
    ``375 м``."""
    m = re.fullmatch(r"([\d,]+(?:\.\d+)?)(%| m| min)?", value)
    if not m:
        return value
    num = m.group(1).replace(",", NBSP).replace(".", ",")
    unit = {None: "", "%": (NBSP if lang == "ru" else "") + "%", " m": " м",
            " min": " мин"}[m.group(2)]
    return num + unit


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_demo_map_in_russian_and_kazakh(demo_maps: dict[str, Any], lang: str) -> None:
    from walkshed.i18n import translator

    en, data = _file_data(demo_maps["paths"]["en"]), _file_data(demo_maps["paths"][lang])
    assert data["lang"] == lang and en["lang"] == "en"
    readable = _readable(data)
    # no English of ours: no Latin word but the data's names and the licences
    assert _latin_words(readable, demo_maps["names"]) == set()
    assert _latin_words(_readable(en), demo_maps["names"]) > {"Walking", "Precincts"}
    t = translator(lang)
    assert "УПП" in " ".join(readable)
    assert data["attribution"] == {"ru": "© участники OpenStreetMap, ODbL 1.0",
                                   "kk": "© OpenStreetMap қатысушылары, ODbL 1.0"}[lang]
    if lang == "kk":
        assert set("әғқңөұүі") & set(" ".join(readable))
    # the same layers, popups and figures as the English map, written per locale
    assert len(data["layers"]) == len(en["layers"])
    pops_en, pops = _precinct_popups(en), _precinct_popups(data)
    assert set(pops) == set(pops_en) == {"demo-A", "demo-B", "demo-C", "demo-D"}
    for pid, popup in pops.items():
        assert popup["title"] == pops_en[pid]["title"]  # a name from the data
        values = [v for _, v in popup["rows"]]
        english = [v for _, v in pops_en[pid]["rows"]]
        assert len(values) == len(english)
        for v, e in zip(values, english, strict=True):  # figures as the English ones
            if re.fullmatch(r"[\d,.]+(%| m| min)?", e):
                assert v == _in_locale(e, lang)
        assert values[0] == t.gettext(f"precinct status|{english[0]}")
        rows = dict(popup["rows"])
        kind = dict(pops_en[pid]["rows"]).get("Kind")
        if kind:  # the vetting's kind in the language
            assert rows[t.gettext("Kind")] == t.gettext(f"precinct kind|{kind}")
    # the population methods in the language: the raster does not apply to the demo
    rows = [r for r in _section(data, "figures")["rows"]]
    assert any(t.gettext("population|raster") in r[0] and
               t.gettext("population|no population raster in the scenario") in r[1]
               for r in rows), rows
    # the caveats and the sources are there, as many as in English, in the language
    for sid, key in (("caveats", "items"), ("sources", "groups")):
        assert len(_section(data, sid)[key]) == len(_section(en, sid)[key]) > 0
    cav = " ".join(_section(data, "caveats")["items"])
    assert {"ru": "Улично-дорожная сеть по районам",
            "kk": "Аудандар бойынша көше желісі"}[lang] in cav
    assert "Street network per district" in " ".join(_section(en, "caveats")["items"])
    osm, osm_en = _section(data, "sources")["groups"][0], _section(en, "sources")["groups"][0]
    assert osm["title"] == {"ru": "выгрузка OpenStreetMap Helsinki.osm.pbf",
                            "kk": "OpenStreetMap үзіндісі Helsinki.osm.pbf"}[lang]
    day = osm_en["rows"][0][1]  # ISO in English, the locale's long form here
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", day)
    said = osm["rows"][0][1]
    assert said.split()[0] == str(int(day[8:10])) if lang == "ru" else day[:4] in said
    assert day[:4] in said and not re.search("[A-Za-z]", said)
    sites_en, sites = (next(la for la in d["layers"] if la["id"] == "sites") for d in (en, data))
    for a, b in zip(sites_en["markers"], sites["markers"], strict=True):
        assert [v for _, v in b["popup"]["rows"]] == [
            _in_locale(v, lang) for _, v in a["popup"]["rows"]]
    # the subtitle's date in the locale's words
    assert t.date(_dt_today()) in data["subtitle"]


def _dt_today() -> Any:
    import datetime

    return datetime.date.today()


def _show_everything(page: Any) -> None:
    page.evaluate("""() => { document.querySelectorAll('#ws-layers input').forEach(i => {
        if (!i.checked) { i.checked = true; i.dispatchEvent(new Event('change')); } }); }""")


def _open_popups_text(page: Any, kind: str, count: int) -> list[str]:
    """Open the popups of the first ``count`` features of every ``kind`` layer, one by one."""
    return page.evaluate(
        """([kind, count]) => {
            const out = [];
            window.walkshed.layers.forEach(b => {
              if (b.spec.kind !== kind) return;
              let n = 0;
              b.layer.eachLayer(l => {
                if (n >= count || !l.getPopup || !l.getPopup()) return;
                n += 1;
                l.openPopup();
                const el = l.getPopup().getElement();  // (the last one may still fade out)
                out.push(el.querySelector('.leaflet-popup-content').innerText);
                window.walkshed.map.closePopup();
              });
            });
            return out;
        }""", [kind, count])


@pytest.mark.browser
def test_russian_demo_map_in_chromium(browser: Any, demo_maps: dict[str, Any]) -> None:
    path = demo_maps["paths"]["ru"]
    page, watch, _ = _open(browser, path)
    assert page.evaluate("document.documentElement.lang") == "ru"
    title = page.locator("#ws-title").inner_text()
    layers = _layer_list(page)
    assert "Зоны пешей доступности, действующие: 10 мин" in layers
    assert "УПП: действующие" in layers and "УПП: планируемые" in layers
    _show_everything(page)
    legend = page.locator("#ws-legend").inner_text()
    for section in ("Зоны пешей доступности", "УПП", "Зоны вне пешей доступности",
                    "Предлагаемые места новых УПП (по номеру)"):
        assert section in legend
    # popups as the browser draws them: every precinct, sites, districts, areas, cells
    popups = [_click_precinct(page, pid) for pid in ("demo-A", "demo-B", "demo-C", "demo-D")]
    assert all("Жителей в зоне обслуживания" in p for p in popups)
    assert "Статус\tдействует" in popups[0] and "Статус\tпланируется" in popups[2]
    _reset_view(page)
    popups += _open_popups_text(page, "markers", 3) + _open_popups_text(page, "geojson", 3)
    assert any(p.startswith("Предлагаемое место № 1") for p in popups)
    assert any(p.startswith("Зона вне пешей доступности № 1") for p in popups)
    # tooltips and the controls: scale, zoom buttons, attribution
    scale = page.locator(".leaflet-control-scale").inner_text()
    assert re.fullmatch(r"\d+ (м|км)", scale.strip()), scale
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == "Приблизить"
    attribution = page.locator("#ws-attribution").inner_text()
    assert attribution == "Leaflet | © участники OpenStreetMap, ODbL 1.0"
    # the panel opened: the caveats and the sources in Russian
    panel = page.locator("details.ws-info").first
    panel.evaluate("el => { el.open = true; }")
    info = panel.inner_text()
    assert "Улично-дорожная сеть по районам" in info and "выгрузка OpenStreetMap" in info
    seen = [title, legend, scale, attribution, info, *layers, *popups,
            *page.locator(".ws-label, .ws-rank, .ws-site").all_inner_texts()]
    assert _latin_words(seen, demo_maps["names"]) == set()
    # figures in the Russian form: a no-break space between thousands, a decimal comma
    assert re.search(rf"\d{NBSP}\d{{3}}\b", " ".join(popups))
    assert re.search(rf"\d+,\d{NBSP}%", " ".join(popups))
    assert watch.errors == [] and watch.dialogs == []
    page.close()
# the figures' ranges, staffing, precinct kinds, caveats and sources (title box and panel)


def _grid_case() -> dict[str, Any]:
    """A 12 x 12 street grid, four precincts, two districts, three ways of placing residents."""
    import pyproj

    utm = pyproj.CRS.from_epsg(32643)
    x0, y0 = 654_000.0, 4_790_000.0
    net = street_grid(12, 120.0, (x0, y0))
    police = gpd.GeoDataFrame(
        {"name": ["A", "B", "C", "D"], "status": ["open", "open", "planned", "candidate"],
         "inspectors": [1.0, 7.0, None, None]},
        geometry=gpd.points_from_xy([x0 + 100, x0 + 1200, x0 + 700, x0 + 300],
                                    [y0 + 130, y0 + 1100, y0 + 600, y0 + 1300]),
        crs=utm, index=["a", "b", "c", "d"])
    districts = gpd.GeoDataFrame(
        {"name": ["west", "east"]},
        geometry=[shapely.box(x0 - 100, y0 - 100, x0 + 660, y0 + 1500),
                  shapely.box(x0 + 660, y0 - 100, x0 + 1500, y0 + 1500)], crs=utm)
    rng = np.random.default_rng(12)
    demands = {}
    for name, k in (("one", 400), ("two", 900), ("three", 50)):
        pts = rng.uniform([x0 - 50, y0 - 50], [x0 + 1400, y0 + 1400], size=(k, 2))
        w = rng.gamma(1.0, size=k)
        demands[name] = gpd.GeoDataFrame(
            {"population": 30_000 * w / w.sum(), "zone": "z", "method": name},
            geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs=utm)
    return {"net": net, "police": police, "districts": districts, "demands": demands}


def _section(data: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in data["panel"]["sections"] if s["id"] == sid)


def test_ranges_on_the_map_equal_separate_runs() -> None:
    """Each method's and each norm's figure on the map equals a separate assessment with that
    method's residents or that norm (issue 12, acceptance 3)."""
    import dataclasses

    from walkshed.assessment import assess
    from walkshed.assessment.uncertainty import compare, range_text

    _need_offline_leaflet()
    case = _grid_case()
    net, police, districts = case["net"], case["police"], case["districts"]
    opts: dict[str, Any] = {"thresholds_m": [300.0, 900.0], "main_threshold": 900.0}
    base = assess(net, case["demands"]["one"], police, districts=districts, **opts)
    unc = compare(net, base, police, case["demands"], scenario_method="one",
                  not_applicable={"raster": "none given"}, districts=districts,
                  norms=[2000, 5000])
    a = dataclasses.replace(base, uncertainty=unc)
    data = _data(coverage_map(net, a, precincts=police, districts=districts, offline=True,
                              date="2026-12-06"))
    rows = _section(data, "figures")["rows"]
    got = dict((k, v) for k, v in rows)
    lab = base.settings.threshold_labels[1]
    shares, planned = {}, {}
    for name, demand in case["demands"].items():
        alone = assess(net, demand, police, districts=districts, **opts)
        main = alone.coverage.set_index("threshold").loc[lab]
        shares[name], planned[name] = float(main["share_open"]), float(main["share_with_planned"])
        assert got[f"Covered, residents placed by {name}"] == f"{shares[name] * 100:.1f}%"
    assert len({round(s, 4) for s in shares.values()}) == 3  # the range means something
    low, high = min(shares.values()), max(shares.values())
    want = range_text(shares["one"], low, high)
    assert got["Covered within 900 m"] == want
    assert got["Covered within 900 m, with planned"] == range_text(
        planned["one"], min(planned.values()), max(planned.values()))
    assert f"Covered within 900 m: {want}" in data["lines"]
    assert got["Covered, residents placed by raster"] == "not applicable: none given"
    need = {}
    for norm in (2000, 3000, 5000):  # the run's own norm (3,000) is compared too
        alone = assess(net, case["demands"]["one"], police, districts=districts,
                       residents_per_inspector=norm, **opts)
        c = alone.catchments
        today = c[(c["scenario"] == "open") & c["precinct"].isin(police.index)]
        need[norm] = int(today["inspectors_needed"].sum())
        assert got[f"Inspectors needed at {norm:,} residents per inspector"] == f"{need[norm]:,}"
    assert len(set(need.values())) == 3
    norms_text = (f"{need[3000]:,} ({min(need.values()):,}–{max(need.values()):,} across "
                  "norms of 2,000 / 3,000 / 5,000 residents per inspector)")
    assert got["Inspectors needed"] == norms_text == unc["norms_text"]
    assert f"Inspectors needed: {norms_text}" in data["lines"]
    # the city's staffing: the catchments' sums (needed, on staff given for a and b, gap)
    staff = dict((k, v) for k, v in _section(data, "staffing")["rows"])
    today = base.catchments[(base.catchments["scenario"] == "open")
                            & base.catchments["precinct"].isin(police.index)]
    assert staff["Inspectors needed"] == f"{int(today['inspectors_needed'].sum()):,}"
    assert staff["Inspectors needed"] == f"{need[3000]:,}"
    assert staff["Inspectors on staff"] == "8"
    gap = sum(int(today.set_index("precinct").loc[p, "inspectors_needed"]) - s
              for p, s in (("a", 1), ("b", 7)))
    assert staff["Gap (needed − on staff)"] == f"{gap:+,}"
    # the precinct popups: needed, on staff and gap as the catchments have them
    pops = _precinct_popups(data)
    for p, s in (("a", 1), ("b", 7)):
        cells = _rows(pops[p])
        n = int(today.set_index("precinct").loc[p, "inspectors_needed"])
        assert (cells["Inspectors needed"], cells["Inspectors on staff"],
                cells["Gap (needed − on staff)"]) == (f"{n:,}", f"{s}", f"{n - s:+,}")


def test_panel_caveats_kinds_and_data_date_are_text() -> None:
    """Caveats, sources and the names left out reach the panel as text; the OSM snapshot's
    date is the title's data date."""
    _need_offline_leaflet()
    net = _square()
    pre = gpd.GeoDataFrame({"name": ["a"], "status": ["open"]},
                           geometry=[shapely.Point(10, 5)], crs="EPSG:32643", index=["a"])
    caveats = [
        {"topic": "source", "source": "OpenStreetMap extract " + PAYLOADS[0],
         "date": "2012-11-01T00:00:00Z", "precision": PAYLOADS[6], "licence": "CC BY-SA 2.0",
         "text": "Streets ..."},
        {"topic": "network", "text": "Districts only partly covered: " + " ".join(PAYLOADS)},
        {"topic": "precincts", "text": "Police points by kind: 1 precinct"},
        {"topic": "dates", "text": PAYLOADS[1]},
    ]
    kinds = {"found": {"precinct": 1, "traffic police": 2, "checkpoint": 0},
             "counted_kinds": ["precinct", "station"],
             "left_out": [{"precinct": "n1", "name": PAYLOADS[3], "kind": "traffic police"},
                          {"precinct": "n2", "name": None, "kind": "traffic police"}]}
    m = coverage_map(net, precincts=pre, offline=True, title=PAYLOADS[4], date="2026-12-06",
                     thresholds_min=(1,), caveats=caveats, precinct_kinds=kinds)
    page, data = _page_and_data(m)
    assert data["title"] == PAYLOADS[4]
    assert data["subtitle"] == "data November 1, 2012 · run December 6, 2026"
    notes = _section(data, "caveats")["items"]
    assert notes == [caveats[1]["text"], PAYLOADS[1]]  # the kinds' note has its own section
    src = _section(data, "sources")["groups"]
    assert src == [{"title": "OpenStreetMap extract " + PAYLOADS[0], "rows": [
        ["Date", "2012-11-01T00:00:00Z"], ["Precision", PAYLOADS[6]],
        ["Licence", "CC BY-SA 2.0"]]}]
    k = _section(data, "kinds")
    assert dict((a, b) for a, b in k["rows"]) == {
        "precinct": "1", "traffic police": "2", "Counted as precincts": "precinct, station",
        "Left out": "2"}
    assert k["items"] == [f"Left out: {PAYLOADS[3]} (traffic police)",
                          "Left out: n2 (traffic police)"]
    outside = DATA_BLOCK.sub("", page)
    for p in PAYLOADS:
        assert p not in outside, p
    for text in EVALUATED:
        assert text not in page
    # a given data date wins; no caveats and no assessment: no panel
    m = coverage_map(net, precincts=pre, offline=True, date="2026-12-06", data_date="2013",
                     thresholds_min=(1,), caveats=caveats)
    assert _data(m)["subtitle"] == "data 2013 · run December 6, 2026"
    data = _data(coverage_map(net, precincts=pre, offline=True, thresholds_min=(1,)))
    assert data["panel"] is None and data["lines"] == []
