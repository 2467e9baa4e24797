"""Every bad input a planner can make, through the ``walkshed`` command: exit 2 (130 / 143 for
an interruption), exactly one line on stderr naming the input, no traceback, and nothing left
on disk (the whole temporary folder is compared before and after). Plus inputs that must work
(Cyrillic and Kazakh names and paths, spaces, one precinct, precincts on street nodes), with
their numbers checked against an independent computation.

The cases run the command in this process (typer's runner) on the demo's small Helsinki
extract; only the signal cases start a process of their own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from walkshed import cli, demo

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

PRECINCTS_CSV = (REPO / "data" / "demo_precincts.csv").read_text(encoding="utf-8")
SECTORS = (REPO / "data" / "demo_sectors.geojson").read_text(encoding="utf-8")
SECTOR_NAMES = [f"Sector {s} (illustrative)" for s in ("NW", "NE", "SW", "SE")]


def base_toml(extract: Path) -> str:
    return f"""name = "Errors test"
walk_speed_kmh = 4.5
thresholds_min = [5, 10]
main_threshold = 10
residents_per_inspector = 3000

[network]
file = "{extract.as_posix()}"

[population]
type = "buildings"
total = 20000

[[precincts]]
file = "precincts.csv"

[districts]
file = "sectors.geojson"
name_column = "name"
"""


def zones_toml(extract: Path) -> str:
    """The base scenario with residents counted per sector (zones + counts CSV)."""
    return base_toml(extract).replace(
        '[population]\ntype = "buildings"\ntotal = 20000\n',
        '[population]\ntype = "polygons"\nfile = "zones.geojson"\ncounts = "counts.csv"\n'
        'counts_name_column = "district"\nmethod = "area"\n',
    )


ZONE_NAMES = ["Zone W", "Zone E"]
ZONES = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": name}, "geometry": {
        "type": "Polygon", "coordinates": [[[x0, 60.167], [x1, 60.167], [x1, 60.176],
                                            [x0, 60.176], [x0, 60.167]]]}}
    for name, x0, x1 in (("Zone W", 24.938, 24.944), ("Zone E", 24.944, 24.950))]})
COUNTS_CSV = "district,population\nZone W,5000\nZone E,6000\n"


@pytest.fixture(scope="module")
def extract() -> Path:
    return demo.demo_extract()


@pytest.fixture
def ws(tmp_path: Path, extract: Path) -> Path:
    """A scenario folder: scenario.toml, precincts.csv, sectors.geojson, counts.csv."""
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "scenario.toml").write_text(base_toml(extract), encoding="utf-8")
    (folder / "precincts.csv").write_text(PRECINCTS_CSV, encoding="utf-8")
    (folder / "sectors.geojson").write_text(SECTORS, encoding="utf-8")
    (folder / "counts.csv").write_text(COUNTS_CSV, encoding="utf-8")
    (folder / "zones.geojson").write_text(ZONES, encoding="utf-8")
    return folder


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``, with the size and modification time of files."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        # a folder's own time changes when a staging folder comes and goes inside it
        out[str(p.relative_to(root))] = ((st.st_size, st.st_mtime_ns) if p.is_file()
                                         else (-1, 0))
    return out


def run(*args: Any) -> Any:
    return runner.invoke(cli.app, [str(a) for a in args])


def one_line(result: Any) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert lines[0].startswith("walkshed: "), lines[0]
    return lines[0]


# ---------------------------------------------------------------------------------------------
# the table of bad inputs


def text_edit(name: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def edit(ws: Path) -> None:
        p = ws / name
        text = p.read_text(encoding="utf-8")
        assert old in text, (name, old)
        p.write_text(text.replace(old, new, count), encoding="utf-8")
    return edit


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def edit(ws: Path) -> None:
        p = ws / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return edit


def scenario_key(old: str, new: str) -> Callable[[Path], None]:
    return text_edit("scenario.toml", old, new)


def use_zones(ws: Path) -> None:
    (ws / "scenario.toml").write_text(
        zones_toml(Path(_extract_of(ws))), encoding="utf-8")


def _extract_of(ws: Path) -> str:
    text = (ws / "scenario.toml").read_text(encoding="utf-8")
    return text.split('[network]\nfile = "', 1)[1].split('"', 1)[0]


def chain(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(ws: Path) -> None:
        for e in edits:
            e(ws)
    return edit


def precinct_geojson(*geoms: str) -> str:
    feats = ",".join(
        f'{{"type": "Feature", "properties": {{"id": "G{i}", "status": "open"}}, '
        f'"geometry": {g}}}' for i, g in enumerate(geoms))
    return f'{{"type": "FeatureCollection", "features": [{feats}]}}'


POINT = '{"type": "Point", "coordinates": [24.9415496, 60.1702137]}'
LINE = '{"type": "LineString", "coordinates": [[24.941, 60.170], [24.943, 60.171]]}'
EMPTY = "null"


@dataclass
class Case:
    """One bad input: how to make it, the command, and words the one line must hold."""

    edit: Callable[[Path], None] | None
    words: tuple[str, ...]
    command: tuple[str, ...] = ("analyze", "{scenario}")
    code: int = 2
    tags: set[str] = field(default_factory=set)


def C(edit: Any, *words: str, command: tuple[str, ...] = ("analyze", "{scenario}"),
      code: int = 2) -> Case:
    return Case(edit, words, command, code)


S = "scenario.toml"
CASES: dict[str, Case] = {
    # --- files: missing, wrong kind, wrong format ------------------------------------------
    "scenario missing": C(None, "nothere.toml", "not found",
                          command=("analyze", "{ws}/nothere.toml")),
    "scenario is a folder": C(lambda ws: (ws / "sub").mkdir(), "sub",
                              command=("analyze", "{ws}/sub")),
    "scenario not UTF-8": C(write(S, b"name = '\xff\xfe'\n"), S, "UTF-8"),
    "scenario not TOML": C(write(S, "name = 'x\n"), S, "not valid TOML"),
    "scenario empty": C(write(S, ""), S, "[network]"),
    "scenario only a name": C(write(S, 'name = "x"\n'), S, "[network]"),
    "network file missing": C(scenario_key('[network]\nfile = "', '[network]\nfile = "/no/'),
                              "/no/", "network"),
    "network file not OSM": C(chain(write("fake.osm.pbf", "hello"),
                                    scenario_key('[network]\nfile = "', '[network]\nfile = "'
                                                 'fake.osm.pbf" #')),
                              "fake.osm.pbf"),
    "precinct file missing": C(scenario_key('file = "precincts.csv"', 'file = "nope.csv"'),
                               "nope.csv"),
    "precinct file empty": C(write("precincts.csv", ""), "precincts.csv"),
    "precinct file header only": C(write("precincts.csv", "id,name,status,lat,lon\n"),
                                   "precincts.csv"),
    "precinct file binary": C(write("precincts.csv", b"\x00\x01\x02\xff" * 20), "precincts.csv"),
    "precinct file is a folder": C(chain(lambda ws: (ws / "pdir").mkdir(),
                                         scenario_key('"precincts.csv"', '"pdir"')), "pdir"),
    "districts missing": C(scenario_key('file = "sectors.geojson"', 'file = "none.geojson"'),
                           "none.geojson"),
    "districts not GeoJSON": C(write("sectors.geojson", "{not json"), "sectors.geojson"),
    "districts no polygons": C(write("sectors.geojson", precinct_geojson(POINT)),
                               "sectors.geojson"),
    "districts name column missing": C(scenario_key('name_column = "name"',
                                                    'name_column = "nom"'), "nom"),
    "districts in metres without CRS": C(
        write("sectors.geojson", '{"type": "FeatureCollection", "crs": null, "features": '
              '[{"type": "Feature", "properties": {"name": "A"}, "geometry": {"type": '
              '"Polygon", "coordinates": [[[385000, 6672000], [386000, 6672000], '
              '[386000, 6673000], [385000, 6672000]]]}}]}'), "sectors.geojson"),
    "districts empty collection": C(write("sectors.geojson", '{"type": "FeatureCollection", '
                                          '"features": []}'), "sectors.geojson"),
    # --- scenario keys ------------------------------------------------------------------
    "unknown top key": C(scenario_key('name = "Errors test"', 'name = "x"\ncolour = "blue"'),
                         "colour"),
    "misspelt key in a table": C(scenario_key('name_column = "name"', 'name_colum = "name"'),
                                 "name_colum"),
    "missing population": C(scenario_key('[population]\ntype = "buildings"\ntotal = 20000\n',
                                         ""), "[population]"),
    "missing precincts": C(scenario_key('[[precincts]]\nfile = "precincts.csv"\n', ""),
                           "precincts"),
    "precincts file and osm": C(scenario_key('file = "precincts.csv"',
                                             'file = "precincts.csv"\nosm = true'), "osm"),
    "unknown population type": C(scenario_key('type = "buildings"', 'type = "people"'),
                                 "type", "people"),
    "total and density": C(scenario_key("total = 20000", "total = 20000\npersons_per_m2 = 0.1"),
                           "total"),
    "threshold as text": C(scenario_key("thresholds_min = [5, 10]", 'thresholds_min = "5"'),
                           "thresholds_min"),
    "both threshold kinds": C(scenario_key("thresholds_min = [5, 10]",
                                           "thresholds_min = [5, 10]\nthresholds_m = [400]"),
                              "thresholds_m"),
    "main threshold not listed": C(scenario_key("main_threshold = 10", "main_threshold = 7"),
                                   "main_threshold", "7"),
    "unknown siting method": C(scenario_key('[districts]', '[siting]\nmethod = "magic"\n\n'
                                            '[districts]'), "method", "magic"),
    "new sites and target share": C(scenario_key(
        '[districts]', '[siting]\nnew_sites = 2\ntarget_share = 0.9\n\n[districts]'),
        "target_share"),
    "new sites as text": C(scenario_key('[districts]', '[siting]\nnew_sites = "3"\n\n'
                                        '[districts]'), "new_sites"),
    "unset variable in path": C(scenario_key('file = "precincts.csv"',
                                             'file = "${NO_SUCH_VAR_X}/p.csv"'), "NO_SUCH_VAR_X"),
    "duplicate status id": C(scenario_key('file = "precincts.csv"',
                                          'file = "precincts.csv"\nopen = ["demo-A"]\n'
                                          'planned = ["demo-A"]'), "demo-A"),
    "unknown output cells": C(scenario_key('[districts]', '[output]\ncells = "hex"\n\n'
                                           '[districts]'), "cells", "hex"),
    "map not a boolean": C(scenario_key('[districts]', '[output]\nmap = "yes"\n\n'
                                        '[districts]'), "map"),
    # --- values out of range ------------------------------------------------------------
    "threshold 1e12 min": C(scenario_key("thresholds_min = [5, 10]",
                                         "thresholds_min = [10, 1e12]"),
                            "thresholds_min", "must be > 0 and <= 180 minutes, got 1e+12"),
    "threshold 181 min": C(scenario_key("thresholds_min = [5, 10]", "thresholds_min = [10, 181]"),
                           "thresholds_min", "180"),
    "threshold zero": C(scenario_key("thresholds_min = [5, 10]", "thresholds_min = [0, 10]"),
                        "thresholds_min"),
    "threshold negative": C(scenario_key("thresholds_min = [5, 10]", "thresholds_min = [-5]"),
                            "thresholds_min"),
    "threshold nan": C(scenario_key("thresholds_min = [5, 10]", "thresholds_min = [nan]"),
                       "thresholds_min"),
    "threshold inf": C(scenario_key("thresholds_min = [5, 10]", "thresholds_min = [inf]"),
                       "thresholds_min"),
    "threshold 20 km": C(scenario_key("thresholds_min = [5, 10]\nmain_threshold = 10",
                                      "thresholds_m = [400, 20000]"),
                        "thresholds_m", "<= 15,000 metres"),
    "speed zero": C(scenario_key("walk_speed_kmh = 4.5", "walk_speed_kmh = 0"),
                    "walk_speed_kmh"),
    "speed 100": C(scenario_key("walk_speed_kmh = 4.5", "walk_speed_kmh = 100"),
                   "walk_speed_kmh", "30"),
    "speed negative": C(scenario_key("walk_speed_kmh = 4.5", "walk_speed_kmh = -4"),
                        "walk_speed_kmh"),
    "total zero": C(scenario_key("total = 20000", "total = 0"), "total", "> 0"),
    "total negative": C(scenario_key("total = 20000", "total = -1"), "total"),
    "total 1e12": C(scenario_key("total = 20000", "total = 1e12"), "total"),
    "density zero": C(scenario_key("total = 20000", "persons_per_m2 = 0"), "persons_per_m2"),
    "norm zero": C(scenario_key("residents_per_inspector = 3000", "residents_per_inspector = 0"),
                   "residents_per_inspector"),
    "norm 1e9": C(scenario_key("residents_per_inspector = 3000",
                               "residents_per_inspector = 1e9"), "residents_per_inspector"),
    "new sites zero": C(scenario_key('[districts]', '[siting]\nnew_sites = 0\n\n[districts]'),
                        "new_sites"),
    "target share 1.5": C(scenario_key('[districts]', '[siting]\ntarget_share = 1.5\n\n'
                                       '[districts]'), "target_share"),
    "target share zero": C(scenario_key('[districts]', '[siting]\ntarget_share = 0\n\n'
                                        '[districts]'), "target_share"),
    "siting threshold 500 min": C(scenario_key('[districts]', '[siting]\nnew_sites = 1\n'
                                               'threshold_min = 500\n\n[districts]'),
                                  "threshold_min", "180"),
    "-p zero": C(None, "-p", command=("rank", "{scenario}", "-p", "0")),
    "-p and share": C(None, "--target-share",
                      command=("rank", "{scenario}", "-p", "2", "--target-share", "0.5")),
    "share 2": C(None, "--target-share", command=("rank", "{scenario}", "--target-share", "2")),
    "unknown method": C(None, "--method", command=("rank", "{scenario}", "-p", "1", "-m", "x")),
    "rank with nothing to do": C(None, "-p", command=("rank", "{scenario}")),
    # --- precincts ------------------------------------------------------------------------
    "precinct unknown status": C(text_edit("precincts.csv", ",planned,", ",closed,"),
                                 "closed", "open, planned, candidate"),
    "precinct lat out of range": C(text_edit("precincts.csv", "60.1702137", "160.17"),
                                   "precincts.csv"),
    "precinct lat/lon swapped": C(write("precincts.csv", "id,name,status,lat,lon\n" + "".join(
        f"s{i},S{i},open,{lon},{lat}\n" for i, (lat, lon) in
        enumerate([(60.1702, 24.9415), (60.1745, 24.9478)]))), "precincts.csv", "lat"),
    "precinct coordinate as text": C(text_edit("precincts.csv", "60.1702137", "north"),
                                     "precincts.csv"),
    "precinct coordinate empty": C(text_edit("precincts.csv", "60.1702137", ""),
                                   "precincts.csv"),
    "precinct no coordinate columns": C(write("precincts.csv", "id,name,status\na,A,open\n"),
                                        "precincts.csv"),
    "precinct duplicate ids": C(text_edit("precincts.csv", "demo-B", "demo-A"),
                                "precincts.csv", "demo-A"),
    "precinct far from streets": C(text_edit("precincts.csv", "60.1702137,24.9415496",
                                             "60.5,25.5"), "demo-A"),
    "precinct status id unknown": C(scenario_key('file = "precincts.csv"',
                                                 'file = "precincts.csv"\nopen = ["zz-9"]'),
                                    "zz-9"),
    "precinct id column missing": C(scenario_key('file = "precincts.csv"',
                                                 'file = "precincts.csv"\nid_column = "code"'),
                                    "code"),
    "precinct line geometry": C(chain(write("p.geojson", precinct_geojson(POINT, LINE)),
                                      scenario_key('"precincts.csv"', '"p.geojson"')),
                                "p.geojson", "LineString"),
    "precinct empty geometry": C(chain(write("p.geojson", precinct_geojson(POINT, EMPTY)),
                                       scenario_key('"precincts.csv"', '"p.geojson"')),
                                 "p.geojson", "no location"),
    "precinct geojson without crs in metres": C(
        chain(write("p.geojson", precinct_geojson(
            '{"type": "Point", "coordinates": [385000, 6672000]}')),
              scenario_key('"precincts.csv"', '"p.geojson"')), "p.geojson"),
    "precinct semicolon lat out of range": C(write("precincts.csv", "id;status;lat;lon\n"
                                                   "a;open;160,17;24,94\n"), "precincts.csv"),
    # --- population (zones and counts) ----------------------------------------------------
    "counts missing": C(chain(use_zones, scenario_key('counts = "counts.csv"',
                                                      'counts = "nope.csv"')), "nope.csv"),
    "counts word in number": C(chain(use_zones, text_edit("counts.csv", "6000", "many")),
                               "counts.csv", "column 'population', row 3", "many"),
    "counts empty cell": C(chain(use_zones, text_edit("counts.csv", "6000", "")),
                           "counts.csv", "column 'population', row 3", "empty"),
    "counts all zero": C(chain(use_zones, write("counts.csv", COUNTS_CSV.replace(
        "5000", "0").replace("6000", "0"))), "counts.csv", "zero"),
    "counts negative": C(chain(use_zones, text_edit("counts.csv", "6000", "-6000")),
                         "counts.csv"),
    "counts name column missing": C(chain(use_zones, scenario_key(
        'counts_name_column = "district"', 'counts_name_column = "area"')), "area"),
    "counts unknown zone": C(chain(use_zones, text_edit("counts.csv", "Zone E", "Zone X")),
                             "counts.csv", "Zone E"),
    "zones file missing": C(chain(use_zones, scenario_key('file = "zones.geojson"',
                                                          'file = "zz.geojson"')), "zz.geojson"),
    "zones in metres without CRS": C(chain(use_zones, write("zones.geojson", ZONES.replace(
        "24.9", "3859").replace("60.17", "667200"))), "zones.geojson"),
    "counts empty file": C(chain(use_zones, write("counts.csv", "")), "counts.csv"),
    "zones without population": C(chain(use_zones, scenario_key('counts = "counts.csv"\n'
                                                                'counts_name_column = "district"\n',
                                                                "")), "population"),
    "zones far from the streets": C(chain(use_zones, write("zones.geojson", ZONES.replace(
        "24.9", "25.9"))), "zones.geojson", 'outside = "drop"'),
    "unknown zone method": C(chain(use_zones, scenario_key('method = "area"',
                                                           'method = "magic"')),
                             "method", "magic"),
    # --- output folders -----------------------------------------------------------------
    "out is the scenario folder": C(None, "precincts.csv", "--out",
                                    command=("analyze", "{scenario}", "--out", "{ws}")),
    "out is empty text": C(None, "precincts.csv",
                           command=("analyze", "scenario.toml", "--out", "")),
    "out is a file": C(None, "not a folder",
                       command=("analyze", "{scenario}", "--out", "{ws}/counts.csv")),
    "out below a file": C(None, "counts.csv",
                          command=("analyze", "{scenario}", "--out", "{ws}/counts.csv/run")),
    "output dir is the scenario folder": C(scenario_key('[districts]', '[output]\ndir = "."\n\n'
                                                        '[districts]'), "precincts.csv",
                                           command=("analyze", "{scenario}")),
    # --- command line -------------------------------------------------------------------
    "unknown option": C(None, "--bogus", command=("analyze", "{scenario}", "--bogus")),
    "missing argument": C(None, "SCENARIO", command=("analyze",)),
    "unknown command": C(None, "analyse", command=("analyse", "{scenario}")),
    "-p not a number": C(None, "--sites", command=("rank", "{scenario}", "-p", "x")),
    "inspect missing file": C(None, "none.osm.pbf", command=("inspect", "{ws}/none.osm.pbf")),
    "inspect not an extract": C(None, "counts.csv", command=("inspect", "{ws}/counts.csv")),
    "inspect a folder": C(None, "ws", command=("inspect", "{ws}")),
    "batch missing file": C(None, "none.toml", command=("batch", "{ws}/none.toml")),
    "serve missing scenario": C(None, "none.toml", command=("serve", "{ws}/none.toml")),
}


def _args(case: Case, ws: Path) -> list[str]:
    return [a.replace("{scenario}", str(ws / "scenario.toml")).replace("{ws}", str(ws))
            for a in case.command]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_leaves_nothing(
    name: str, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    if case.edit is not None:
        case.edit(ws)
    root = ws.parent
    monkeypatch.chdir(ws)
    before = snapshot(root)
    result = run(*_args(case, ws))
    assert result.exit_code == case.code, (result.exit_code, result.output)
    line = one_line(result)
    for word in case.words:
        assert word in line, (word, line)
    assert snapshot(root) == before


def test_there_are_at_least_80_cases() -> None:
    assert len(CASES) >= 80


# ---------------------------------------------------------------------------------------------
# signals: a separate process, stopped while its outputs are staged


def _script(out: Path) -> str:
    return f"""
import time, sys
from walkshed import cli, siting
def slow(*a, **k):
    print("siting", flush=True)
    time.sleep(60)
siting.propose_sites = slow
sys.argv = ["walkshed", "-q", "demo", "--out", {str(out)!r}]
cli.app()
"""


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code", "word"), [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_interrupted_run_leaves_nothing(tmp_path: Path, sig: int, code: int, word: str) -> None:
    out = tmp_path / "a" / "b" / "run"
    env = {**os.environ, "WALKSHED_CACHE_DIR": str(tmp_path.parent / "signal-cache")}
    proc = subprocess.Popen([sys.executable, "-c", _script(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "siting"  # tables are staged by now
    assert list((tmp_path / "a" / "b").glob(".run.staging-*"))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and word in lines[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_staging_folder_of_a_killed_run_is_cleaned_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "WALKSHED_CACHE_DIR": str(tmp_path.parent / "signal-cache")}
    proc = subprocess.Popen([sys.executable, "-c", _script(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "siting"
    proc.kill()
    proc.communicate(timeout=60)
    assert len(list(tmp_path.glob(".run.staging-*"))) == 1  # SIGKILL cannot be caught
    result = run("-q", "demo", "--out", out)
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


# ---------------------------------------------------------------------------------------------
# inputs that must work, with their numbers checked


def _analyze(scenario: Path, out: Path, *extra: str) -> Any:
    result = run("-q", "analyze", scenario, "--out", out, *extra)
    assert result.exit_code == 0, result.output
    return result


def _table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8")


def _no_map(ws: Path) -> None:
    scenario_key("[districts]", "[output]\nmap = false\n\n[districts]")(ws)


KAZAKH_PRECINCTS = ("id,name,status,lat,lon\n"
                    "Қ-1,Полиция бөлімі №1 «Алатау»,open,60.1702137,24.9415496\n"
                    "Қ-2,Участок Әуезов,open,60.1745544,24.9478574\n"
                    "Қ-3,Учаскелік полиция пункті Үшқоңыр,planned,60.1760498,24.938268\n")


def test_cyrillic_and_kazakh_names_and_paths_with_spaces(tmp_path: Path, ws: Path) -> None:
    _no_map(ws)
    (ws / "precincts.csv").write_text(KAZAKH_PRECINCTS, encoding="utf-8")
    sectors = SECTORS
    for old, new in zip(SECTOR_NAMES, ("Медеу ауданы", "Бостандық ауданы", "Алмалы ауданы",
                                       "Түркісіб ауданы"), strict=True):
        sectors = sectors.replace(old, new)
    (ws / "sectors.geojson").write_text(sectors, encoding="utf-8")
    _analyze(ws / "scenario.toml", tmp_path / "ascii")
    other = tmp_path / "Алматы Қала" / "мәліметтер с пробелом"
    other.parent.mkdir()
    ws.rename(other)
    (other / "scenario.toml").rename(other / "сценарий қала.toml")
    _analyze(other / "сценарий қала.toml", tmp_path / "Нәтиже қала" / "шығыс 1")
    for name in ("precincts.csv", "districts.csv", "opening_order.csv"):
        a = (tmp_path / "ascii" / name).read_text(encoding="utf-8")
        b = (tmp_path / "Нәтиже қала" / "шығыс 1" / name).read_text(encoding="utf-8")
        assert a == b, name
    table = _table(tmp_path / "ascii" / "precincts.csv")
    assert "Полиция бөлімі №1 «Алатау»" in set(table["name"])
    assert "Қ-1" in set(table["precinct"].astype(str))
    assert set(_table(tmp_path / "ascii" / "districts.csv").iloc[:, 0]) >= {"Түркісіб ауданы"}


def test_one_precinct_on_a_node_matches_dijkstra(tmp_path: Path, ws: Path, extract: Path
                                                 ) -> None:
    import pyproj

    from walkshed.network import load_network, to_networkx
    from walkshed.pipeline import load_study
    from walkshed.snap import snap_points

    net = load_network(extract)
    node = int(np.argmin(np.hypot(*(net.node_xy - net.node_xy.mean(axis=0)).T)))
    to_ll = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
    lon, lat = to_ll.transform(*net.node_xy[node])
    (ws / "precincts.csv").write_text(f"id,name,status,lat,lon\nN,On a node,open,{lat!r},"
                                      f"{lon!r}\n", encoding="utf-8")
    _no_map(ws)
    _analyze(ws / "scenario.toml", tmp_path / "out")
    row = _table(tmp_path / "out" / "precincts.csv").iloc[0]  # one row per precinct
    # independent: Dijkstra from the node on networkx, residents on their snapped edges
    study, _ = load_study(ws / "scenario.toml")
    g = to_networkx(net)
    dist = nx.single_source_dijkstra_path_length(g, node, weight="length")
    pts = snap_points(net, study.demand)
    pop = study.demand["population"].to_numpy(float)
    walk = np.full(len(pop), np.inf)
    for i in np.flatnonzero(pts.ok):
        e = int(pts.edge[i])
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        t, length = float(pts.offset_m[i]), float(net.edge_length[e])
        walk[i] = min(dist.get(u, np.inf) + t, dist.get(v, np.inf) + length - t) + float(
            pts.access_m[i])
    for minutes in (5, 10):
        metres = minutes * 4500 / 60
        low, high = pop[walk <= metres - 1e-6].sum(), pop[walk <= metres + 1e-6].sum()
        # the CSV holds whole residents
        assert low - 0.5 <= row[f"within_{minutes}min_open"] <= high + 0.5
        assert high > 0
    assert abs(row["residents_served_open"] - pop[np.isfinite(walk)].sum()) <= 0.5


def test_bom_scenario_and_semicolon_csv_give_the_same_numbers(tmp_path: Path, ws: Path
                                                                ) -> None:
    _no_map(ws)
    _analyze(ws / "scenario.toml", tmp_path / "plain")
    text = (ws / "scenario.toml").read_text(encoding="utf-8")
    (ws / "scenario.toml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    lines = PRECINCTS_CSV.splitlines()
    rows = [lines[0].replace(",", ";")]
    for ln in lines[1:]:
        pid, rest = ln.split(",", 1)
        name, tail = rest.rsplit('",', 1)
        status, lat, lon = tail.split(",")
        rows.append(";".join([pid, name + '"', status, lat.replace(".", ","),
                              lon.replace(".", ",")]))
    (ws / "precincts.csv").write_text("\ufeff" + "\n".join(rows) + "\n", encoding="utf-8")
    _analyze(ws / "scenario.toml", tmp_path / "windows")
    for name in ("precincts.csv", "districts.csv"):
        assert (tmp_path / "plain" / name).read_text() == (tmp_path / "windows" / name
                                                           ).read_text(), name


def test_polygon_precinct_is_taken_at_a_point_inside_with_a_note(tmp_path: Path, ws: Path
                                                                 ) -> None:
    square = ('{"type": "Polygon", "coordinates": [[[24.9414, 60.1701], [24.9417, 60.1701], '
              '[24.9417, 60.1703], [24.9414, 60.1703], [24.9414, 60.1701]]]}')
    write("p.geojson", precinct_geojson(square, POINT))(ws)
    scenario_key('"precincts.csv"', '"p.geojson"')(ws)
    _no_map(ws)
    result = runner.invoke(cli.app, ["analyze", str(ws / "scenario.toml"), "--out",
                                     str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "1 polygon(s) taken at a point on their surface" in result.stderr
    table = _table(tmp_path / "out" / "precincts.csv")
    assert set(table["precinct"]) == {"G0", "G1"}


def test_rerun_into_its_own_folder_and_never_over_an_input(tmp_path: Path, ws: Path) -> None:
    _no_map(ws)
    out = tmp_path / "out"
    _analyze(ws / "scenario.toml", out)
    first = (out / "precincts.csv").read_text()
    _analyze(ws / "scenario.toml", out)
    assert (out / "precincts.csv").read_text() == first
    # a precinct file taken from that folder is an input: never written over
    (out / "mine.csv").write_text(PRECINCTS_CSV, encoding="utf-8")
    before = snapshot(tmp_path)
    result = run("-q", "analyze", ws / "scenario.toml", "--out", ws)
    assert result.exit_code == 2 and "precincts.csv" in one_line(result)
    assert snapshot(tmp_path) == before


def test_corrupt_cache_entry_is_rebuilt(tmp_path: Path, ws: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from walkshed import settings

    _no_map(ws)
    cache = tmp_path / "cache"
    monkeypatch.setattr(settings, "cache_dir", cache)
    _analyze(ws / "scenario.toml", tmp_path / "a")
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries
    for p in entries:
        p.write_bytes(b"garbage")
    result = runner.invoke(cli.app, ["analyze", str(ws / "scenario.toml"), "--out",
                                     str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "rebuilding" in result.stderr
    assert (tmp_path / "a" / "precincts.csv").read_text() == (
        tmp_path / "b" / "precincts.csv").read_text()


def test_permission_denied_is_exit_2_naming_the_file(tmp_path: Path, ws: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreadable file (simulated: the tests may run as root, who reads everything)."""
    import builtins

    real_open = builtins.open
    locked = str(ws / "counts.csv")

    def guarded(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return real_open(file, *args, **kwargs)

    use_zones(ws)
    monkeypatch.setattr(builtins, "open", guarded)
    before = snapshot(tmp_path)
    result = run("analyze", ws / "scenario.toml", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    line = one_line(result)
    assert "counts.csv" in line and "permission denied" in line and "chmod" in line
    assert snapshot(tmp_path) == before


def test_failure_midway_removes_the_folders_it_created(tmp_path: Path, ws: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from walkshed import siting
    from walkshed._errors import input_error

    def refused(*args: Any, **kwargs: Any) -> None:
        raise input_error("[siting]", "no site can be placed", "Allow more candidates")

    monkeypatch.setattr(siting, "propose_sites", refused)
    _no_map(ws)
    scenario_key("[districts]", "[siting]\nnew_sites = 2\n\n[districts]")(ws)
    before = snapshot(tmp_path)
    result = run("analyze", ws / "scenario.toml", "--out", tmp_path / "a" / "b" / "run")
    assert result.exit_code == 2, result.output
    assert "[siting]" in one_line(result)
    assert snapshot(tmp_path) == before


def test_help_and_usage_keep_their_exit_codes() -> None:
    assert run("--help").exit_code == 0
    assert run("analyze", "--help").exit_code == 0
    bare = run()
    assert bare.exit_code == 2 and "Usage" in bare.output


def test_cache_folder_that_cannot_be_written_still_runs(tmp_path: Path, ws: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from walkshed import settings

    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(settings, "cache_dir", blocker)
    _no_map(ws)
    result = runner.invoke(cli.app, ["analyze", str(ws / "scenario.toml"), "--out",
                                     str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    # one warning per cache (network, siting), none of them an error
    assert all("could not write" in ln and "cache" in ln for ln in lines), result.stderr
    assert blocker.read_text() == "not a folder"
    reference = tmp_path / "ref"
    monkeypatch.setattr(settings, "cache_dir", tmp_path / "fresh-cache")
    _analyze(ws / "scenario.toml", reference)
    assert (reference / "precincts.csv").read_text() == (tmp_path / "out" / "precincts.csv"
                                                         ).read_text()


def test_readme_names_every_exit_code_used_here() -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    paragraph = readme.split("Exit codes:", 1)[1].split("Outputs (in the output folder)", 1)[0]
    for code, words in ((0, "success"), (2, "bad input"), (1, "internal failure"),
                        (130, "interrupted"), (143, "terminated (SIGTERM)")):
        assert f"{code} {words}" in paragraph, code
    assert {c.code for c in CASES.values()} <= {2}
    for kind in ("unreadable", "scenario key", "unknown option", "overwrite", "column and row"):
        assert kind in paragraph, kind


def test_library_warnings_add_no_line(tmp_path: Path, ws: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from walkshed import siting
    from walkshed._errors import input_error

    def noisy(*args: Any, **kwargs: Any) -> None:
        warnings.warn("invalid value encountered in make_valid", RuntimeWarning, stacklevel=1)
        raise input_error("[siting]", "no site can be placed", "Allow more candidates")

    monkeypatch.setattr(siting, "propose_sites", noisy)
    _no_map(ws)
    scenario_key("[districts]", "[siting]\nnew_sites = 2\n\n[districts]")(ws)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as outside the tests: shown, not raised
        result = run("analyze", ws / "scenario.toml", "--out", tmp_path / "out")
        debug = run("--debug", "analyze", ws / "scenario.toml", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "[siting]" in one_line(result)
    assert "RuntimeWarning: invalid value" in debug.stderr  # --debug shows it
