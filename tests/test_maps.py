"""The coverage map: page content, escaping, offline self-containment, and a real browser."""

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

from walkshed.isochrones import walking_areas
from walkshed.maps import _MarkerLayer, coverage_map, save_map
from walkshed.network import WalkNetwork, load_network
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
def monaco(shared_data: Path) -> dict[str, Any]:
    from walkshed.assessment import assess

    _need_offline_leaflet()

    pbf = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    net = load_network(pbf)
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


def _marker_layers(m) -> list[_MarkerLayer]:  # type: ignore[no-untyped-def]
    return [c for c in m._children.values() if isinstance(c, _MarkerLayer)]


def _overlay_names(page_html: str) -> list[str]:
    block = re.search(r"overlays :\s*\{(.*?)\},", page_html, re.S)
    assert block is not None
    return [json.loads(k) for k in re.findall(r'^\s*("(?:[^"\\]|\\.)*")\s*:', block.group(1), re.M)]


EXPECTED_LAYERS = [
    "Streets (offline basemap)",
    "Districts: covered share within 15 min",
    "Uncovered residents (cells)",
    "Walking areas, open: 5 min",
    "Walking areas, open: 10 min",
    "Walking areas, open: 15 min",
    "Walking areas, open + planned: 5 min",
    "Walking areas, open + planned: 10 min",
    "Walking areas, open + planned: 15 min",
    "Uncovered areas (ranked)",
    "Uncovered areas: rank labels (top 20)",
    "Precincts: open",
    "Precincts: planned",
    "Proposed sites (by rank)",
]


# ---------------------------------------------------------------------------------------------
# page content (no browser)


def test_small_hand_made_map_escapes_and_is_offline() -> None:
    _need_offline_leaflet()
    xy = np.array([[0.0, 0.0], [200.0, 0.0], [200.0, 200.0], [0.0, 200.0]])
    u, v = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0])
    geom = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))
    net = WalkNetwork(np.arange(4), xy, u, v, geom, "EPSG:32643", source="square")
    pre = gpd.GeoDataFrame(
        {"name": [XSS, "B & C"], "status": ["open", "candidate"]},
        geometry=[shapely.Point(10, 5), shapely.Point(190, 150)], crs="EPSG:32643",
        index=["a", "b"],
    )
    m = coverage_map(net, precincts=pre, offline=True, title="T <1>", date="2026-11-26",
                     thresholds_min=(1, 2))
    page = m.get_root().render()
    assert XSS not in page and "T <1>" not in page and "<h1>T &lt;1&gt;</h1>" in page
    assert _overlay_names(page) == [
        "Streets (offline basemap)",
        "Walking areas, open: 1 min", "Walking areas, open: 2 min",
        "Precincts: open", "Precincts: candidate",
    ]
    assert not re.search(r"<script[^>]+src=", page)
    popups = {json.loads(layer.markers)[0]["alt"]: json.loads(layer.markers)[0]["popup"]
              for layer in _marker_layers(m)}
    assert "<b>&lt;img src=x onerror=alert(1)&gt;</b>" in popups[XSS]
    assert "<b>B &amp; C</b>" in popups["B & C"]


def test_layers_title_legend_attribution(monaco: dict[str, Any]) -> None:
    page = _map(monaco).get_root().render()
    assert _overlay_names(page) == EXPECTED_LAYERS
    assert "<h1>Monaco police</h1>" in page
    assert "Test &lt;scenario&gt; · 2026-11-26" in page
    assert "\\u00a9 OpenStreetMap contributors, ODbL 1.0" in page
    assert "L.control.scale()" in page
    assert "ws-legend" in page


def test_offline_page_loads_nothing_from_outside(monaco: dict[str, Any]) -> None:
    page = _map(monaco).get_root().render()
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"url\((?!data:|#)", page)
    assert "L.tileLayer" not in page
    assert "sourceMappingURL" not in page


def test_online_page_uses_tiles_and_cdn(monaco: dict[str, Any]) -> None:
    page = _map(monaco, offline=False).get_root().render()
    assert re.search(r'<script src="https://[^"]+leaflet\.js"', page)
    assert "tile.openstreetmap.org" in page
    assert "jquery" not in page.lower()
    assert "Streets (offline basemap)" not in page


def test_text_from_data_is_escaped(monaco: dict[str, Any]) -> None:
    m = _map(monaco)
    page = m.get_root().render()
    for raw in (XSS, XSS_2, "<b>side</b>", "<scenario>"):
        assert raw not in page
    assert page.count("<script") == page.count("</script>")
    popups = [mk["popup"] for layer in _marker_layers(m) for mk in json.loads(layer.markers)]
    assert any("&lt;img src=x onerror=alert(1)&gt;" in p for p in popups)
    assert any("`${alert(2)}`&lt;/script&gt;" in p for p in popups)


def test_precinct_popups_show_the_right_numbers(monaco: dict[str, Any]) -> None:
    m = _map(monaco)
    want = _expected_popups(monaco)
    seen = 0
    for layer in _marker_layers(m):
        for mk in json.loads(layer.markers):
            found = re.search(r'data-precinct="([^"]+)"', mk["html"])
            if not found:
                continue
            pid = found.group(1)
            cells = dict(re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", mk["popup"]))
            assert cells["Status"] == monaco["precincts"].loc[pid, "status"]
            for key, value in want[pid].items():
                assert cells[key] == value, (pid, key)
            seen += 1
    assert seen == len(monaco["precincts"])


def test_sites_and_districts(monaco: dict[str, Any]) -> None:
    m = _map(monaco)
    sites = next(layer for layer in _marker_layers(m) if layer.layer_name.startswith("Proposed"))
    marks = json.loads(sites.markers)
    assert [re.search(r">(\d+)<", mk["html"]).group(1) for mk in marks] == ["1", "2"]
    assert "<td>321</td>" in marks[0]["popup"]
    assert "<td>75.0%</td>" in marks[0]["popup"]
    page = m.get_root().render()
    table = monaco["assessment"].districts.set_index("district")
    for name in ("West <b>side</b>", "East"):
        share = table.loc[name, "share_15min_open"]
        text = f"<td>{share:.1%}</td>"
        assert text.replace("<", "\\u003c").replace(">", "\\u003e") in page


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
    pops = {re.search(r'data-precinct="([^"]+)"', mk["html"]).group(1): mk["popup"]
            for layer in _marker_layers(m) for mk in json.loads(layer.markers)}
    assert "<td>1,234</td>" in pops[catch.index[0]] and "<td>50.0%</td>" in pops[catch.index[0]]
    assert "<td>n/a</td>" in pops[monaco["precincts"].index[5]]


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

    def __init__(self, page: Any) -> None:
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
        # anything that is not the page file itself is refused (and counted above)
        page.route(re.compile(r"^(?!file://).*"), lambda route: route.abort())


def _open(browser: Any, path: Path) -> tuple[Any, _Watch, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(10_000)
    watch = _Watch(page)
    t0 = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.leaflet-marker-icon').length > 0")
    seconds = time.perf_counter() - t0
    page.evaluate("""() => { const map = window[document.querySelector('.folium-map').id];
                             window.wsView = [map.getCenter(), map.getZoom()]; }""")
    return page, watch, seconds


def _reset_view(page: Any) -> None:
    page.evaluate(
        """() => { const map = window[document.querySelector('.folium-map').id];
                   map.closePopup();
                   map.setView(window.wsView[0], window.wsView[1], {animate: false}); }"""
    )


def _zoom_to(page: Any, pid: str) -> None:
    page.evaluate(
        """(pid) => {
            const map = window[document.querySelector('.folium-map').id];
            const el = document.querySelector(`[data-precinct="${CSS.escape(pid)}"]`);
            const icon = el.closest('.leaflet-marker-icon');
            map.eachLayer(l => { if (l._icon === icon) { map.setView(l.getLatLng(), 18,
                {animate: false}); } });
        }""",
        pid,
    )


def _click_precinct(page: Any, pid: str) -> str:
    """Zoom to a precinct, click its marker, and return the popup's text."""
    _zoom_to(page, pid)
    page.locator(f'[data-precinct="{pid}"]').click()
    page.wait_for_selector(".leaflet-popup-content")
    text = page.locator(".leaflet-popup-content").inner_text()
    page.keyboard.press("Escape")
    page.evaluate("() => { window[document.querySelector('.folium-map').id].closePopup(); }")
    # a closed popup fades out for 200 ms before it leaves the page
    page.wait_for_function("document.querySelectorAll('.leaflet-popup').length === 0")
    return text


@pytest.mark.browser
def test_monaco_map_in_chromium(
    browser: Any, monaco: dict[str, Any], tmp_path: Path
) -> None:
    path = save_map(_map(monaco), tmp_path / "monaco.html")
    page, watch, _ = _open(browser, path)
    labels = [t.strip() for t in
              page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    assert labels == EXPECTED_LAYERS
    assert "© OpenStreetMap contributors, ODbL 1.0" in page.locator(
        ".leaflet-control-attribution").inner_text()
    # Leaflet credited by name, without the flag icon of its default prefix
    assert page.locator(".leaflet-control-attribution a", has_text="Leaflet").count() == 1
    assert page.locator(".leaflet-control-attribution svg").count() == 0
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
    # turning a layer off and on works
    box = page.locator(".leaflet-control-layers-overlays label", has_text="Precincts: planned")
    box.locator("input").uncheck()
    assert page.locator(".ws-status-planned").count() == 0
    box.locator("input").check()
    assert page.locator(".ws-status-planned").count() == 2
    _reset_view(page)
    page.screenshot(path=str(tmp_path / "monaco.png"))
    assert (tmp_path / "monaco.png").stat().st_size > 10_000
    assert watch.errors == []
    assert watch.requests == [path.as_uri()]
    page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_almaty_map_in_chromium(browser: Any, shared_data: Path, tmp_path: Path) -> None:
    import warnings

    import pyogrio

    from walkshed.assessment import assess

    folder = shared_data / "almaty-osm-2012"
    net = load_network(folder / "almaty.osm.pbf")
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
                     scenario="Almaty 2012 (test)", data_licence="CC BY-SA 2.0", offline=True)
    path = save_map(m, tmp_path / "almaty.html")
    size_mb = path.stat().st_size / 1e6
    assert size_mb < 15
    page, watch, seconds = _open(browser, path)
    labels = [t.strip() for t in
              page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]
    assert labels[0] == "Streets (offline basemap)"
    assert "Precincts: open" in labels and "Precincts: planned" in labels
    assert page.locator(".ws-precinct").count() == len(police)
    named = police[police["name"].notna()].index[0]
    text = _click_precinct(page, named)
    assert police.loc[named, "name"] in text
    _reset_view(page)
    shot = tmp_path / "almaty.png"
    page.screenshot(path=str(shot))
    print(f"\nAlmaty map: {size_mb:.2f} MB, opened in {seconds:.2f} s; screenshot {shot}")
    assert watch.errors == []
    assert watch.requests == [path.as_uri()]
    page.close()
