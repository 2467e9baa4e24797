"""The ``walkshed`` command, run for real (typer's runner) on the demo, Monaco and Almaty.

Figures the command prints and writes are checked against networkx Dijkstra on the split
graph and against the population inputs (conservation); failures are checked for their exit
code, a single line on stderr and no partial output.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
from conftest import almaty_layout
from typer.testing import CliRunner

from walkshed import cli
from walkshed.network import WalkNetwork, to_networkx
from walkshed.snap import Snapped, snap_points

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

DEMO_FILES = {
    "summary.json", "precincts.csv", "districts.csv", "opening_order.csv",
    "uncovered_areas.gpkg", "proposed_sites.csv", "proposed_sites.gpkg", "report.pdf",
    "walkshed.xlsx", "walkshed.gpkg",
}


def run(*args: str) -> Any:
    return runner.invoke(cli.app, [str(a) for a in args])


def _one_error_line(result: Any) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return lines[0]


def _has_map() -> bool:
    try:
        import walkshed.maps  # noqa: F401
    except ImportError:
        return False
    return True


MANIFEST = ".walkshed-outputs.json"  # the list of the files walkshed wrote in a folder


def _leftovers(parent: Path) -> list[str]:
    """Staging folders or temp files a run left beside its output folder."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------------------------------------
# independent reference: nearest-precinct walking distance on the split graph (networkx)


def split_graph_nearest(net: WalkNetwork, fac: Snapped, pts: Snapped) -> np.ndarray:
    """Walking distance from every point to its nearest facility, by networkx Dijkstra on the
    network with all snapped positions inserted as nodes on their edges."""
    g = to_networkx(net)
    on_edge: dict[int, list[tuple[float, Any, float]]] = defaultdict(list)
    for tag, s in (("f", fac), ("p", pts)):
        for i in np.flatnonzero(s.edge >= 0):
            on_edge[int(s.edge[i])].append((float(s.offset_m[i]), (tag, int(i)),
                                            float(s.access_m[i])))
    for e, items in on_edge.items():
        u, v, length = int(net.edge_u[e]), int(net.edge_v[e]), float(net.edge_length[e])
        g.remove_edge(u, v, key=e)
        prev: Any = u
        prev_t = 0.0
        for t, node, access in sorted(items, key=lambda it: it[0]):
            g.add_edge(prev, ("on", *node), length=t - prev_t)
            g.add_edge(("on", *node), node, length=access)
            prev, prev_t = ("on", *node), t
        g.add_edge(prev, v, length=length - prev_t)
    sources = [("f", int(i)) for i in np.flatnonzero(fac.ok)]
    dist = nx.multi_source_dijkstra_path_length(g, sources, weight="length")
    return np.array([dist.get(("p", j), np.inf) for j in range(len(pts))])


# ---------------------------------------------------------------------------------------------
# the demo


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("demo") / "out" / "demo"
    result = run("demo", "--out", out)
    return out, result


def test_demo_writes_every_output(demo_run: tuple[Path, Any]) -> None:
    out, result = demo_run
    assert result.exit_code == 0, result.output
    expected = DEMO_FILES | ({"coverage_map.html"} if _has_map() else set())
    assert {p.name for p in out.iterdir() if p.name != MANIFEST} == expected
    assert _leftovers(out.parent) == []
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["outputs"]) == expected
    assert "illustrative" in summary["study"]
    assert "© OpenStreetMap contributors" in summary["attribution"]
    assert sum("illustrative" in n for n in summary["notes"]) >= 3
    # the report says where the files are, and what is illustrative; no progress in a pipe
    assert result.stderr == ""
    assert f"to {out}/" in result.stdout
    assert "illustrative" in result.stdout


def test_demo_coverage_matches_networkx(demo_run: tuple[Path, Any]) -> None:
    from walkshed.demo import demo_inputs

    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    d = demo_inputs()
    pts = snap_points(d.network, d.demand)
    pop = d.demand["population"].to_numpy()
    total = pop.sum()
    by_status = {
        "open": d.precincts[d.precincts["status"] == "open"],
        "with_planned": d.precincts,
    }
    dist = {k: split_graph_nearest(d.network, snap_points(d.network, v), pts)
            for k, v in by_status.items()}
    assert len(summary["coverage"]) == 3
    for row in summary["coverage"]:
        metres = row["threshold_min"] * 4.5 * 1000 / 60
        assert row["threshold_m"] == pytest.approx(metres)
        for key in ("open", "with_planned"):
            covered = pop[dist[key] <= metres + 1e-6].sum()
            assert row[f"covered_{key}"] == pytest.approx(covered, rel=1e-9, abs=1e-6)
            assert row[f"share_{key}"] == pytest.approx(covered / total, rel=1e-9, abs=1e-12)


def test_demo_tables_conserve_residents(demo_run: tuple[Path, Any]) -> None:
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    total = summary["residents"]
    assert total == pytest.approx(20_000.0)
    # one row per precinct, whole residents: each scenario's column sums to the total, up to
    # the rounding of each row
    precincts = pd.read_csv(out / "precincts.csv")
    assert precincts["precinct"].is_unique
    for col in ("residents_served_open", "residents_served_with_planned"):
        assert precincts[col].sum() == pytest.approx(total, abs=len(precincts) / 2), col
    districts = pd.read_csv(out / "districts.csv")
    assert districts["residents"].sum() == pytest.approx(total, abs=len(districts) / 2)
    sites = pd.read_csv(out / "proposed_sites.csv")
    assert sites["rank"].tolist() == [1, 2, 3]
    info = summary["proposed_sites"]
    assert info["fixed"] == "open+planned"
    assert sites["cumulative_share"].iloc[-1] == pytest.approx(info["covered_share_after"],
                                                               abs=5e-5)
    base = info["covered_share_before"]
    # the base of siting (open + planned, 10 min) is the assessment's figure
    ten = next(r for r in summary["coverage"] if r["threshold_min"] == 10)
    assert base == pytest.approx(ten["share_with_planned"])
    exact = pd.DataFrame(info["sites"])  # summary.json keeps the unrounded figures
    steps = np.diff(np.r_[base, exact["cumulative_share"].to_numpy()])
    np.testing.assert_allclose(steps * total, exact["newly_covered"], rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(sites["newly_covered"], np.round(exact["newly_covered"]))
    gpkg = pyogrio.read_dataframe(out / "proposed_sites.gpkg")
    assert gpkg["site"].tolist() == sites["site"].tolist()
    layers = set(pyogrio.list_layers(out / "uncovered_areas.gpkg")[:, 0])
    assert layers == {"uncovered_areas", "uncovered_cells"}


def test_demo_json_and_quiet(tmp_path: Path) -> None:
    result = run("--json", "demo", "--out", tmp_path / "a")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    written = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
    assert printed == written
    after = run("demo", "--out", tmp_path / "c", "--json")  # the option after the command
    assert after.exit_code == 0 and json.loads(after.stdout)["study"] == printed["study"]
    quiet = run("demo", "--out", tmp_path / "b", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert (tmp_path / "b" / "summary.json").is_file()


def test_demo_scenario_file_gives_the_same_figures(
    demo_run: tuple[Path, Any], tmp_path: Path
) -> None:
    out, _ = demo_run
    result = run("--json", "analyze", REPO / "data" / "demo.toml", "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    from_file = json.loads(result.stdout)
    embedded = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for a, b in zip(from_file["coverage"], embedded["coverage"], strict=True):
        assert a["covered_open"] == pytest.approx(b["covered_open"], rel=1e-6)
        assert a["covered_with_planned"] == pytest.approx(b["covered_with_planned"], rel=1e-6)
    assert from_file["proposed_sites"]["sites"] and embedded["proposed_sites"]["sites"]


# ---------------------------------------------------------------------------------------------
# failures: exit codes, one line, no partial outputs


def test_interrupted_run_leaves_previous_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed import siting

    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"previous": true}')

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    # siting runs after the tables were staged: an interruption there is "midway"
    monkeypatch.setattr(siting, "propose_sites", interrupted)
    result = run("demo", "--out", out)
    assert result.exit_code == 130
    assert "interrupted" in _one_error_line(result)
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert json.loads((out / "summary.json").read_text()) == {"previous": True}
    assert _leftovers(tmp_path) == []


def test_internal_failure_is_exit_1_and_debug_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed import siting

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(siting, "propose_sites", broken)
    result = run("demo", "--out", tmp_path / "out")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "internal error" in line and "solver exploded" in line and "--debug" in line
    assert not (tmp_path / "out").exists()
    assert _leftovers(tmp_path) == []
    debug = run("--debug", "demo", "--out", tmp_path / "out")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "RuntimeError: solver exploded" in debug.stderr
    assert not (tmp_path / "out").exists()


DEMO_TOML = (REPO / "data" / "demo.toml").read_text(encoding="utf-8")
DEMO_DATA = f"{(REPO / 'data').as_posix()}/"
DEMO_TOML_HERE = DEMO_TOML.replace('file = "demo_', f'file = "{DEMO_DATA}demo_')

def test_os_error_is_exit_1_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed import siting

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(siting, "propose_sites", disk_full)
    result = run("demo", "--out", tmp_path / "out")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "No space left on device" in line and "internal error" not in line
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


BAD_SCENARIOS = {
    "syntax": ("name = 'x\n", "not valid TOML"),
    "unknown key": ('colour = "blue"\n' + DEMO_TOML_HERE, "colour"),
    "misspelt key in a table": (
        DEMO_TOML_HERE.replace("new_sites = 3", "new_site = 3"),
        f"line {DEMO_TOML.splitlines().index('new_sites = 3') + 1}: key 'siting.new_site'",
    ),
    "wrong type": ('walk_speed_kmh = "fast"\n', "walk_speed_kmh"),
    "missing network": ('name = "x"\n', "network"),
    "missing file": (
        '[network]\nfile = "nowhere.osm.pbf"\n[population]\ntype = "buildings"\n'
        'total = 10\n[[precincts]]\nosm = true\n',
        "nowhere.osm.pbf",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_bad_scenario_is_exit_2_with_one_line(tmp_path: Path, case: str) -> None:
    text, word = BAD_SCENARIOS[case]
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    for command in (["analyze"], ["rank", "-p", "2"], ["map"]):
        result = run(*command, path, "--out", tmp_path / "out")
        assert result.exit_code == 2, (command, result.output)
        line = _one_error_line(result)
        assert line.startswith("walkshed: ") and word in line, line
        assert not (tmp_path / "out").exists()


def test_bad_precinct_file_is_exit_2(tmp_path: Path) -> None:
    table = (REPO / "data" / "demo_precincts.csv").read_text(encoding="utf-8")
    (tmp_path / "demo_precincts.csv").write_text(table.replace(",planned,", ",closed,", 1))
    (tmp_path / "demo_sectors.geojson").symlink_to(REPO / "data" / "demo_sectors.geojson")
    (tmp_path / "s.toml").write_text(DEMO_TOML, encoding="utf-8")
    result = run("analyze", tmp_path / "s.toml", "--out", tmp_path / "out")
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "closed" in line and "open, planned, candidate" in line
    assert not (tmp_path / "out").exists()


def test_progress_only_on_a_terminal() -> None:
    import io

    from rich.console import Console

    pipe = cli.Reporter(cli.Options(), console=Console(file=io.StringIO()))
    assert not pipe.live
    buf = io.StringIO()
    tty = cli.Reporter(cli.Options(), console=Console(file=buf, force_terminal=True))
    assert tty.live
    with tty.step("Assessing coverage"):
        pass
    assert "Assessing coverage" in buf.getvalue()
    quiet = cli.Reporter(cli.Options(quiet=True),
                         console=Console(file=io.StringIO(), force_terminal=True))
    assert not quiet.live


def test_missing_scenario_and_usage_errors(tmp_path: Path) -> None:
    result = run("analyze", tmp_path / "none.toml")
    assert result.exit_code == 2 and "file not found" in _one_error_line(result)
    debug = run("--debug", "analyze", tmp_path / "none.toml")
    assert debug.exit_code == 2 and "Traceback" in debug.stderr
    both = run("rank", REPO / "data" / "demo.toml", "-p", "2", "--target-share", "0.9")
    assert both.exit_code == 2 and "both" in _one_error_line(both)
    share = run("rank", REPO / "data" / "demo.toml", "--target-share", "1.5")
    assert share.exit_code == 2 and "target-share" in _one_error_line(share)
    method = run("rank", REPO / "data" / "demo.toml", "-p", "1", "--method", "fast")
    assert method.exit_code == 2 and "fast" in _one_error_line(method)
    assert run("no-such-command").exit_code == 2
    assert run("demo", "--sites", "many").exit_code == 2


def test_output_folder_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("x")
    result = run("demo", "--out", f)
    assert result.exit_code == 2 and "not a folder" in _one_error_line(result)
    assert f.read_text() == "x"


def test_inspect_bad_files(tmp_path: Path) -> None:
    result = run("inspect", tmp_path / "none.osm.pbf")
    assert result.exit_code == 2 and "file not found" in _one_error_line(result)
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"not a pbf at all")
    result = run("inspect", junk)
    assert result.exit_code == 2 and "junk.osm.pbf" in _one_error_line(result)
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    result = run("inspect", txt)
    assert result.exit_code == 2 and "not an OpenStreetMap file" in _one_error_line(result)


# ---------------------------------------------------------------------------------------------
# Monaco


def test_inspect_monaco(shared_data: Path) -> None:
    import pyrosm

    pbf = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    result = run("--json", "inspect", pbf)
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["police_points"] == 9  # SOURCE.md: 9 amenity=police
    assert info["nodes"] > 2000 and info["edges"] > info["nodes"]
    assert info["buildings"] == 1151  # SOURCE.md
    # pyrosm, an independent reader, finds the same buildings (ways and relations)
    buildings = pyrosm.OSM(str(pbf)).get_buildings()
    assert abs(info["buildings"] - len(buildings)) <= 0.02 * len(buildings)
    assert 0 < info["residential_buildings"] <= info["buildings"]
    # plain building=yes is counted apart, never as "residential by type" (pyrosm's count)
    yes = int((buildings["building"] == "yes").sum())
    assert abs(info["plain_yes_buildings"] - yes) <= 0.02 * yes
    assert info["residential_buildings"] + info["plain_yes_buildings"] < info["buildings"]
    assert info["residential_buildings"] < 0.1 * info["plain_yes_buildings"]
    e = info["extent_lonlat"]
    # the PBF header's box (SOURCE.md), give or take ways leaving it
    assert 7.40 < e["west"] < e["east"] < 7.45 and 43.72 < e["south"] < e["north"] < 43.76
    text = run("inspect", pbf)
    assert text.exit_code == 0 and "police points (amenity=police): 9" in text.stdout
    assert f"{info['plain_yes_buildings']:,} plain building=yes of unknown use" in text.stdout


def test_inspect_almaty(shared_data: Path) -> None:
    result = run("--json", "inspect", shared_data / "almaty-osm-2012" / "almaty.osm.pbf")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    # SOURCE.md: 8,201 building=* features, 40 amenity=police, header box
    # lon 76.575-77.223, lat 43.057-43.549
    assert info["buildings"] == 8201 and info["police_points"] == 40
    e = info["extent_lonlat"]
    assert 76.574 <= e["west"] < e["east"] <= 77.224
    assert 43.056 <= e["south"] < e["north"] <= 43.550
    # most of the ~2,860 km of highway centre-line is walkable
    assert 2500 < info["walkable_street_km"] < 3000
    # the police points by kind, and the 25 the default kinds leave out (tests/test_vetting.py
    # lists them by OSM id); the snapshot date (SOURCE.md: objects up to 2012-03-13)
    assert info["police_kinds"] == {"precinct": 3, "station": 1, "traffic": 24,
                                    "checkpoint": 1, "other": 0, "unknown": 11}
    assert len(info["police_left_out_by_default"]) == 25
    assert info["snapshot"].startswith("2012-03-13")
    text = run("inspect", shared_data / "almaty-osm-2012" / "almaty.osm.pbf").stdout
    assert "left out by default (25, not precincts)" in text and "Засада" in text


def _monaco_scenario(folder: Path, shared: Path) -> Path:
    pbf = shared / "monaco-osm-2020" / "monaco.osm.pbf"
    path = folder / "monaco.toml"
    path.write_text(
        f'name = "Monaco 2020"\nthresholds_min = [5, 10]\nmain_threshold = 5\n'
        f'[network]\nfile = "{pbf.as_posix()}"\n'
        '[population]\ntype = "buildings"\ntotal = 38000\n'
        "[[precincts]]\nosm = true\nstatus = \"open\"\n",
        encoding="utf-8",
    )
    return path


def test_monaco_analyze_rank_map(shared_data: Path, tmp_path: Path) -> None:
    scenario = _monaco_scenario(tmp_path, shared_data)
    out = tmp_path / "analyze"
    result = run("analyze", scenario, "--out", out)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir() if p.name != MANIFEST}
    assert {"summary.json", "precincts.csv", "uncovered_areas.gpkg"} <= names
    assert "districts.csv" not in names  # no district polygons given
    assert ("coverage_map.html" in names) == _has_map()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["residents"] == pytest.approx(38000)
    assert summary["precinct_counts"]["open"] == 9
    assert summary["attribution"].endswith("ODbL 1.0")
    catch = pd.read_csv(out / "precincts.csv")
    assert catch["residents_served_open"].sum() == pytest.approx(38000, abs=len(catch) / 2)

    ranked = run("rank", scenario, "-p", "2", "--method", "exact", "--out", tmp_path / "rank")
    assert ranked.exit_code == 0, ranked.output
    sites = pd.read_csv(tmp_path / "rank" / "proposed_sites.csv")
    assert sites["rank"].tolist() == [1, 2]
    assert (sites["newly_covered"] > 0).all()
    assert sites["newly_covered"].is_monotonic_decreasing
    # rank writes a complete set (tables and map too), so a folder never mixes two runs
    assert {p.name for p in (tmp_path / "rank").iterdir() if p.name != MANIFEST} == names | {
        "proposed_sites.csv", "proposed_sites.gpkg"}
    # a target share instead of a count
    target = run("--json", "rank", scenario, "--target-share", "0.5", "--out",
                 tmp_path / "target")
    assert target.exit_code == 0, target.output
    info = json.loads(target.stdout)["proposed_sites"]
    assert info["target_share"] == 0.5
    assert info["covered_share_after"] >= 0.5 or info["target_met"] is False

    mapped = run("map", scenario, "--out", tmp_path / "map", "--offline")
    assert mapped.exit_code == 0, mapped.output
    written = {p.name for p in (tmp_path / "map").iterdir() if p.name != MANIFEST}
    assert written == names - {"report.pdf"}  # the map with the tables, no sites or report


# ---------------------------------------------------------------------------------------------
# Almaty (the example scenario in data/, pointed at the shared 2012 extract)


@pytest.fixture()
def almaty_scenario(shared_data: Path, tmp_path: Path) -> Path:
    """data/almaty.toml in a folder laid out as its comments say, the data linked in."""
    folder, text = almaty_layout(shared_data, tmp_path)
    # keep the test quick: two sites by greedy instead of ten by the exact model
    assert "new_sites = 10" in text and 'method = "auto"' in text
    text = text.replace("new_sites = 10", "new_sites = 2").replace(
        'method = "auto"', 'method = "greedy"')
    (folder / "almaty.toml").write_text(text, encoding="utf-8")
    return folder / "almaty.toml"


@pytest.mark.slow
def test_almaty_analyze(almaty_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("analyze", almaty_scenario, "--out", out)
    assert result.exit_code == 0, result.output
    # warnings (two districts reach beyond the extract) are single walkshed lines
    assert "Bostandyk" in result.stderr
    assert all(ln.startswith("walkshed: ") for ln in result.stderr.splitlines())
    names = {p.name for p in out.iterdir() if p.name != MANIFEST}
    assert DEMO_FILES - {"opening_order.csv"} <= names  # no planned precincts here
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    # SOURCE.md: 40 amenity=police; the vetting leaves out 24 traffic posts and «Засада»
    assert summary["precinct_counts"]["open"] == 15
    kinds = summary["precinct_kinds"]
    assert sum(kinds["found"].values()) == 40 and len(kinds["left_out"]) == 25
    assert "node/479712142" in {r["precinct"] for r in kinds["left_out"]}
    assert "Left out (25)" in result.output
    # the residents are the official district figures, conserved through every table
    table = pd.read_csv(REPO / "data" / "kz_district_population.csv")
    official = table[(table["city"] == "Almaty") & (table["level"] == "district")]
    districts = pd.read_csv(out / "districts.csv")
    assert summary["residents"] == pytest.approx(official["population"].sum(), rel=1e-9)
    assert districts["residents"].sum() == pytest.approx(summary["residents"], abs=4)
    catch = pd.read_csv(out / "precincts.csv")
    served = catch["residents_served_open"].sum()
    assert served == pytest.approx(summary["residents"], abs=len(catch) / 2)
    by_zone = {r["zone"]: r["residents"] for r in summary["population_sources"]}
    expected = {}
    for row in official.itertuples():  # the polygons spell some names differently
        for spelling in [row.district, *str(row.name_variants).split("|")]:
            if spelling in by_zone:
                expected[spelling] = row.population
    assert len(expected) == 8
    for zone, residents in by_zone.items():
        assert residents == pytest.approx(expected[zone], rel=1e-9), zone
    assert "Residents placed:" in result.stdout
    sites = pd.read_csv(out / "proposed_sites.csv")
    assert len(sites) == 2 and sites["district"].notna().all()
    assert "CC BY-SA 2.0" in summary["attribution"]  # from the extract's SOURCE.md


# ---------------------------------------------------------------------------------------------
# the installed console script, in a real process (exit codes as a shell sees them)


def test_console_script_exit_codes(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(sys.executable).parent / "walkshed"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "walkshed.cli"]
    ok = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "demo" in ok.stdout and "inspect" in ok.stdout
    bad = subprocess.run([*cmd, "inspect", str(tmp_path / "none.osm.pbf")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "file not found" in bad.stderr
    usage = subprocess.run([*cmd, "rank"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    # a whole run: the process ends at once after it (no teardown), its output complete
    out = tmp_path / "demo"
    run = subprocess.run([*cmd, "-q", "--json", "demo", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary == json.loads((out / "summary.json").read_text("utf-8"))
    assert set(summary["outputs"]) <= {p.name for p in out.iterdir()}
    # started with stdout closed (cron, a daemon): the run still writes its files
    closed = subprocess.run(["bash", "-c", '"$@" >&-', "walkshed", *cmd, "-q", "demo",
                             "--out", str(tmp_path / "closed")],
                            capture_output=True, text=True, timeout=600)
    assert closed.returncode == 0, closed.stderr
    assert (tmp_path / "closed" / "summary.json").is_file()


def test_rank_among_candidate_sites_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "demo_precincts.csv").symlink_to(REPO / "data" / "demo_precincts.csv")
    (tmp_path / "demo_sectors.geojson").symlink_to(REPO / "data" / "demo_sectors.geojson")
    # three vacant premises: two far from every precinct, one next to precinct A
    (tmp_path / "premises.csv").write_text(
        "id,name,lat,lon\n"
        "far-south,Vacant school,60.16646,24.94334\n"
        "far-north,Old library,60.17675,24.95007\n"
        "next-to-A,Shop,60.17021,24.94155\n",
        encoding="utf-8",
    )
    text = DEMO_TOML.replace('fix = "open+planned"', 'fix = "open+planned"\n'
                             'candidates = "premises.csv"')
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    result = run("--json", "rank", tmp_path / "s.toml", "-p", "3", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    sites = pd.read_csv(tmp_path / "out" / "proposed_sites.csv")
    assert set(sites["site"][:2]) == {"far-south", "far-north"}
    assert (sites["newly_covered"][:2] > 500).all()
    # a site beside a working precinct brings nobody new: last, or left out
    assert len(sites) == 2 or (sites["site"][2] == "next-to-A"
                               and sites["newly_covered"][2] < 50)
    if len(sites) == 2:
        notes = json.loads(result.stdout)["proposed_sites"]["notes"]
        assert any("Only 2 of the 3 sites" in n for n in notes)
        assert sum(n.startswith("Only") for n in notes) == 1  # siting says it, once


def test_rank_unreachable_target_is_said_in_the_headline(tmp_path: Path) -> None:
    """Two vacant premises cannot bring everyone within 10 minutes: the headline says so
    (the target as typed, not rounded to 100 %) before the list of sites, not after it."""
    (tmp_path / "demo_precincts.csv").symlink_to(REPO / "data" / "demo_precincts.csv")
    (tmp_path / "demo_sectors.geojson").symlink_to(REPO / "data" / "demo_sectors.geojson")
    (tmp_path / "premises.csv").write_text(
        "id,name,lat,lon\nfar-south,Vacant school,60.16646,24.94334\n"
        "far-north,Old library,60.17675,24.95007\n", encoding="utf-8")
    text = DEMO_TOML.replace('fix = "open+planned"', 'fix = "open+planned"\n'
                             'candidates = "premises.csv"').replace("new_sites = 3\n", "")
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    result = run("rank", tmp_path / "s.toml", "--target-share", "0.995", "--out",
                 tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("Proposed new sites"))
    assert "fewest for 99.5%, NOT reachable" in lines[head]
    assert "open + planned precincts kept" in lines[head]  # the start the shares count from
    assert "cannot be reached" in lines[head + 1]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    info = summary["proposed_sites"]
    assert info["target_met"] is False and info["covered_share_after"] < 0.995


def test_demo_proposed_sites_match_a_fresh_walk(demo_run: tuple[Path, Any]) -> None:
    """proposed_sites.csv against networkx on the split graph: each rank's cumulative share is
    the share within 10 minutes of the open and planned precincts plus the sites up to that
    rank, and nearest_open_m is the walk from the site to the nearest open precinct."""
    import geopandas as gpd

    from walkshed.demo import demo_inputs

    out, _ = demo_run
    d = demo_inputs()
    # the unrounded figures of summary.json (the CSV rounds them: people, metres)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    sites = pd.DataFrame(summary["proposed_sites"]["sites"])
    net = d.network
    at = gpd.GeoDataFrame(geometry=gpd.points_from_xy(sites["lon"], sites["lat"]),
                          crs="EPSG:4326").to_crs(net.crs)
    in_csv = pd.read_csv(out / "proposed_sites.csv")
    np.testing.assert_allclose(in_csv["lon"], sites["lon"], atol=1e-7)
    np.testing.assert_array_equal(in_csv["nearest_open_m"], np.round(sites["nearest_open_m"]))
    fixed = d.precincts.to_crs(net.crs).geometry
    pts = snap_points(net, d.demand)
    pop = d.demand["population"].to_numpy()
    for k in range(1, len(sites) + 1):
        fac = gpd.GeoDataFrame(geometry=pd.concat([fixed, at.geometry[:k]], ignore_index=True),
                               crs=net.crs)
        dist = split_graph_nearest(net, snap_points(net, fac), pts)
        share = pop[dist <= 750.0 + 1e-6].sum() / pop.sum()
        assert sites["cumulative_share"].iloc[k - 1] == pytest.approx(share, rel=1e-9), k
    opened = d.precincts[d.precincts["status"] == "open"]
    walk = split_graph_nearest(net, snap_points(net, opened), snap_points(net, at))
    np.testing.assert_allclose(sites["nearest_open_m"], walk, rtol=1e-9, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# one run, one consistent folder


def _map_site_ranks(html: str) -> list[int]:
    """The ranks of the proposed-site markers drawn in a map page."""
    import re

    return sorted({int(k) for k in re.findall(r"Proposed site #?(\d+)\"", html)})


def test_analyze_then_rank_into_one_folder_agrees(tmp_path: Path) -> None:
    """``analyze`` (3 sites from the scenario's [siting]) then ``rank -p 2`` into the same
    folder: every file is the rank's (sites in the CSV, the GeoPackages, the summary and the
    map agree), ``summary.json`` names the command, inputs (with their SHA-256) and settings;
    then ``map`` into it removes the sites it does not draw."""
    import hashlib

    import pyogrio

    out = tmp_path / "out"
    first = run("analyze", REPO / "data" / "demo.toml", "--out", out, "--offline")
    assert first.exit_code == 0, first.output
    assert len(pd.read_csv(out / "proposed_sites.csv")) == 3
    second = run("rank", REPO / "data" / "demo.toml", "-p", "2", "--out", out, "--offline")
    assert second.exit_code == 0, second.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["outputs"]) == {p.name for p in out.iterdir() if p.name != MANIFEST}
    csv = pd.read_csv(out / "proposed_sites.csv")
    assert csv["rank"].tolist() == [1, 2]
    gpkg = pyogrio.read_dataframe(out / "proposed_sites.gpkg")
    assert gpkg["site"].tolist() == csv["site"].tolist()
    one = pyogrio.read_dataframe(out / "walkshed.gpkg", layer="proposed_sites")
    assert one["site"].tolist() == csv["site"].tolist()
    from openpyxl import load_workbook

    sheet = list(load_workbook(out / "walkshed.xlsx")["proposed_sites"].iter_rows(
        values_only=True))
    assert [r[1] for r in sheet[1:]] == csv["site"].tolist()
    in_summary = pd.DataFrame(summary["proposed_sites"]["sites"])
    assert in_summary["site"].tolist() == csv["site"].tolist()
    assert in_summary["lon"].to_numpy() == pytest.approx(csv["lon"].to_numpy(), abs=1e-7)
    assert summary["proposed_sites"]["p"] == 2
    if _has_map():
        html = (out / "coverage_map.html").read_text(encoding="utf-8")
        assert _map_site_ranks(html) == [1, 2]
    # the tables are the rank run's too: precincts.csv agrees with the summary's catchments
    catch = pd.read_csv(out / "precincts.csv")
    for scen, col in (("open", "residents_served_open"),
                      ("open+planned", "residents_served_with_planned")):
        want = {r["precinct"]: round(r["residents_served"]) for r in summary["catchments"]
                if r["scenario"] == scen}
        got = catch.dropna(subset=[col])  # a planned precinct serves no one while closed
        assert dict(zip(got["precinct"], got[col], strict=True)) == want
    # provenance: the command, the inputs with their hashes, the settings
    prov = summary["run"]
    assert prov["command"].startswith("walkshed rank ") and "--sites 2" in prov["command"]
    assert prov["settings"]["siting"]["p"] == 2
    assert prov["settings"]["assess"]["main_threshold"] == 10.0
    names = {Path(i["path"]).name for i in prov["inputs"]}
    assert {"demo.toml", "demo_precincts.csv", "demo_sectors.geojson",
            "Helsinki.osm.pbf"} <= names
    for item in prov["inputs"]:
        data = Path(item["path"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["bytes"] == len(data)
    # map into the same folder: no proposed sites beside a map without them
    third = run("map", REPO / "data" / "demo.toml", "--out", out, "--offline")
    assert third.exit_code == 0, third.output
    left = {p.name for p in out.iterdir() if p.name != MANIFEST}
    assert "proposed_sites.csv" not in left and "proposed_sites.gpkg" not in left
    assert set(json.loads((out / "summary.json").read_text(encoding="utf-8"))["outputs"]) == left
    if _has_map():
        assert _map_site_ranks((out / "coverage_map.html").read_text(encoding="utf-8")) == []


def test_pipeline_names_offered_by_the_cli_are_the_pipelines() -> None:
    from walkshed import cli, pipeline

    for name in ("Reporter", "RunResult", "Study", "load_study", "run_study"):
        assert name in cli.__all__ and getattr(cli, name) is getattr(pipeline, name)
    with pytest.raises(AttributeError, match="no_such_thing"):
        cli.no_such_thing  # noqa: B018
