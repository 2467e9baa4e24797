"""Scenario files (walkshed.scenario): schema, defaults, errors with key and line, loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from walkshed import settings
from walkshed._errors import InputError
from walkshed.scenario import (
    BuildingPopulation,
    PolygonPopulation,
    RasterPopulation,
    Scenario,
    load_demand,
    load_districts,
    load_inputs,
    load_precincts,
    load_precincts_vetted,
    load_scenario,
    parse_scenario,
)
from walkshed.scenario.inputs import _zones_with_counts

DATA = Path(__file__).parent / "data"

MINIMAL = """\
[network]
place = "Monaco"

[population]
type = "raster"
file = "pop.tif"

[[precincts]]
file = "police.csv"
"""


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    (tmp_path / "pop.tif").write_bytes(b"x")
    (tmp_path / "police.csv").write_text("id,lat,lon\nA,43.73,7.42\nB,43.74,7.43\n")
    (tmp_path / "more.csv").write_text("id,lat,lon,status\nC,43.735,7.425,planned\n")
    return tmp_path


def parse(folder: Path, text: str) -> Scenario:
    path = folder / "s.toml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def test_minimal_scenario_defaults(folder: Path) -> None:
    s = parse(folder, MINIMAL)
    assert s.name == "s"
    assert s.network.place == "Monaco" and s.network.file is None
    assert isinstance(s.population, RasterPopulation)
    assert s.population.file == (folder / "pop.tif").resolve()
    assert s.population.band == 1
    assert s.walk_speed_kmh == settings.walk_speed_kmh
    assert s.thresholds_min == tuple(settings.thresholds_min) and s.thresholds_m is None
    assert s.walk_minutes == (5.0, 10.0, 15.0)
    assert s.residents_per_inspector == settings.residents_per_inspector
    assert s.max_snap_m == settings.max_snap_m
    assert s.main_threshold is None and s.districts is None
    assert s.output.dir is None and s.output.map and s.output.cells == "h3"
    assert s.siting.new_sites is None and s.siting.fix == "open"
    assert len(s.precincts) == 1 and s.precincts[0].status is None
    opts = s.assess_options()
    assert opts["thresholds_min"] == (5.0, 10.0, 15.0) and opts["thresholds_m"] is None
    assert opts["residents_per_inspector"] == settings.residents_per_inspector


def test_settings_defaults_are_read_at_load_time(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "residents_per_inspector", 1234.0)
    monkeypatch.setattr(settings, "walk_speed_kmh", 4.0)
    s = parse(folder, MINIMAL)
    assert s.residents_per_inspector == 1234.0 and s.walk_speed_kmh == 4.0


def test_full_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_DATA", str(folder))
    (folder / "zones.geojson").write_text("{}")
    (folder / "counts.csv").write_text("district,population\nA,1\n")
    s = parse(folder, """\
name = "Test city"
walk_speed_kmh = 5
thresholds_m = [800, 400]
main_threshold = 400
residents_per_inspector = 2000
max_snap_m = 300

[network]
file = "${MY_DATA}/pop.tif"
keep_largest = false

[population]
type = "polygons"
file = "zones.geojson"
counts = "counts.csv"
counts_filter = { city = "X", year = 2025 }
method = "Streets"
outside = "drop"

[[precincts]]
file = "police.csv"
status = "planned"
open = ["A"]

[[precincts]]
file = "$MY_DATA/more.csv"
candidate = ["C"]

[districts]
file = "zones.geojson"
name_column = "NAME_EN"

[output]
dir = "out"
map = false

[siting]
target_share = 0.9
candidates = "planned"
method = "greedy"
""")
    assert s.name == "Test city" and s.walk_speed_kmh == 5.0
    assert s.thresholds_m == (400.0, 800.0) and s.thresholds_min is None
    assert s.walk_minutes == pytest.approx((400 / (5000 / 60), 800 / (5000 / 60)))
    assert s.main_threshold == 400 and s.max_snap_m == 300
    assert s.network.file == folder / "pop.tif" and not s.network.keep_largest
    pop = s.population
    assert isinstance(pop, PolygonPopulation)
    assert pop.counts_filter == (("city", "X"), ("year", "2025"))
    assert pop.method == "streets" and pop.outside == "drop"
    assert pop.buildings == folder / "pop.tif"  # the network's file by default
    p1, p2 = s.precincts
    assert p1.status == "planned" and p1.set_status == (("A", "open"),)
    assert p2.file == folder / "more.csv" and p2.set_status == (("C", "candidate"),)
    assert s.districts is not None and s.districts.name_column == "NAME_EN"
    assert s.output.dir == (folder / "out").resolve() and not s.output.map
    assert s.siting.target_share == 0.9 and s.siting.candidates == "planned"
    assert s.assess_options()["thresholds_m"] == (400.0, 800.0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (MINIMAL + "colour = 3\n", r"line 10: key 'precincts.colour': unknown key"),
        ("walk_speeed_kmh = 4\n" + MINIMAL, r"line 1: key 'walk_speeed_kmh': unknown key"),
        ("walk_speed_kmh = \"4.5\"\n" + MINIMAL, r"line 1: key 'walk_speed_kmh': expected a "
         r"number, got text"),
        ("walk_speed_kmh = -1\n" + MINIMAL, r"line 1: .*must be > 0 and <= 30 km/h, got -1"),
        ("walk_speed_kmh = true\n" + MINIMAL, r"line 1: .*expected a number, got true/false"),
        ("thresholds_min = [5, \"ten\"]\n" + MINIMAL, r"line 1: .*list of numbers"),
        ("thresholds_min = [5]\nthresholds_m = [400]\n" + MINIMAL, r"line 2: .*both"),
        ("thresholds_min = [5, 10]\nmain_threshold = 7\n" + MINIMAL,
         r"line 2: .*7 is not one of the thresholds"),
        ("residents_per_inspector = 0\n" + MINIMAL,
         r"line 1: .*must be >= 1 and <= 1,000,000 residents"),
        (MINIMAL.replace('type = "raster"', 'type = "census"'),
         r"line 5: key 'population.type': unknown value 'census'.*raster, polygons, buildings"),
        (MINIMAL.replace('type = "raster"', 'type = "raster"\nband = 1.5'),
         r"line 6: key 'population.band': expected a whole number"),
        (MINIMAL.replace('type = "raster"', 'type = "raster"\nbands = 2'),
         r"line 6: key 'population.bands': unknown key"),
        (MINIMAL.replace('file = "pop.tif"', 'file = "missing.tif"'),
         r"line 6: key 'population.file': file not found"),
        (MINIMAL.replace('place = "Monaco"', 'place = "Monaco"\nfile = "pop.tif"'),
         r"line 1: .*exactly one of file or place"),
        (MINIMAL.replace('place = "Monaco"', 'place = 7'),
         r"line 2: key 'network.place': expected text"),
        (MINIMAL + 'status = "closed"\n', r"line 10: key 'precincts.status'.*open, planned, "
         r"candidate"),
        (MINIMAL + 'planned = ["A"]\nopen = ["A"]\n',
         r"line 10: key 'precincts.planned': id\(s\) A are given more than one"),
        (MINIMAL + '\n[[precincts]]\nfile = "more.csv"\nid = "x"\n',
         r"line 13: key 'precincts.id': unknown key"),
        (MINIMAL.replace('[[precincts]]\nfile = "police.csv"\n', ""),
         r"key 'precincts': is missing"),
        (MINIMAL.replace("[network]\nplace = \"Monaco\"\n", ""),
         r"section \[network\]: is missing\. Add a \[network\] section"),
        (MINIMAL + '\n[output]\ncells = "hex"\n', r"line 12: key 'output.cells'.*h3, grid"),
        (MINIMAL + '\n[ouput]\ndir = "x"\n', r"line 11: key 'ouput': unknown key.*output"),
        (MINIMAL + "osm = true\n", r"line 10: key 'precincts.osm': both file and osm"),
        (MINIMAL + '\n[[district]]\nfile = "x"\n', r"line 11: key 'district': unknown key"),
        (MINIMAL + '\n[siting]\nnew_sites = 3\ntarget_share = 0.5\n',
         r"line 13: .*both new_sites and target_share"),
        (MINIMAL + '\n[siting]\ntarget_share = 1.5\n', r"line 12: .*must be > 0 and <= 1 "),
        (MINIMAL + '\n[districts]\nname_column = "n"\n', r"key 'districts.file': is missing"),
        (MINIMAL.replace('file = "pop.tif"', 'file = "${NO_SUCH_VAR_X}/pop.tif"'),
         r"line 6: .*environment variable that is not set"),
        (MINIMAL.replace('type = "raster"\nfile = "pop.tif"', 'type = "buildings"'),
         r"population.file': is missing"),
        (MINIMAL.replace('type = "raster"\nfile = "pop.tif"',
                         'type = "buildings"\nfile = "pop.tif"'),
         r"exactly one of total or persons_per_m2"),
        (MINIMAL.replace('type = "raster"', 'type = "polygons"\ncounts_filter = { a = [1] }'),
         r"line 6: key 'population.counts_filter.a': expected text or a number"),
    ],
)
def test_errors_name_the_key_and_line(folder: Path, text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        parse(folder, text)


def test_error_fixtures() -> None:
    with pytest.raises(InputError, match=r"bad_type.toml', line 3: key 'walk_speed_kmh'"):
        load_scenario(DATA / "bad_type.toml")
    with pytest.raises(InputError, match=r"bad_key.toml', line 18: key 'precincts.stauts': "
                       r"unknown key.*status"):
        load_scenario(DATA / "bad_key.toml")


def test_toml_syntax_and_missing_file(folder: Path) -> None:
    with pytest.raises(InputError, match=r"not valid TOML.*line 2"):
        parse(folder, "name = 'x'\nspeed = fast\n")
    with pytest.raises(InputError, match="file not found"):
        load_scenario(folder / "nope.toml")


def test_parse_text_relative_to_cwd(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    s = parse_scenario(MINIMAL)
    assert s.path is None and s.name == "scenario"
    assert s.population.file == folder / "pop.tif"  # type: ignore[union-attr]


def test_load_precincts_statuses_and_duplicates(folder: Path) -> None:
    s = parse(folder, MINIMAL + 'status = "planned"\nopen = ["B"]\n\n[[precincts]]\n'
              'file = "more.csv"\n')
    p = load_precincts(s)
    assert list(p.index) == ["A", "B", "C"]
    assert list(p["status"]) == ["planned", "open", "planned"]
    assert p.crs.to_epsg() == 4326
    s = parse(folder, MINIMAL + '\n[[precincts]]\nfile = "police.csv"\n')
    with pytest.raises(InputError, match="same id appears in more than one file: A, B"):
        load_precincts(s)
    s = parse(folder, MINIMAL + 'planned = ["Z"]\n')
    with pytest.raises(InputError, match=r"line 8.*Z are not in"):
        load_precincts(s)


def test_zones_with_counts_joins_by_name_and_variant() -> None:
    cfg = PolygonPopulation(file=DATA / "tiny_zones.geojson", counts=DATA / "tiny_counts.csv",
                            counts_name_column="zone", counts_variants_column="variants",
                            counts_filter=(("country", "MC"),))
    zones = _zones_with_counts(cfg)
    assert list(zones["name"]) == ["West", "East"]
    assert list(zones["population"]) == [15500.0, 22500.0]  # not FR's "West"
    own = _zones_with_counts(PolygonPopulation(file=DATA / "tiny_zones.geojson",
                                               population_column="residents"))
    assert list(own["population"]) == [15000, 23000]
    with pytest.raises(InputError, match=r"no count for polygon\(s\) East\."):
        _zones_with_counts(PolygonPopulation(file=DATA / "tiny_zones.geojson",
                                             counts=DATA / "tiny_counts.csv",
                                             counts_name_column="zone",
                                             counts_variants_column=None))
    with pytest.raises(InputError, match="no column 'population'"):
        _zones_with_counts(PolygonPopulation(file=DATA / "tiny_zones.geojson"))


def test_monaco_fixture_end_to_end(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from walkshed.assessment import assess

    monkeypatch.setenv("WALKSHED_TEST_DATA", str(shared_data))
    s = load_scenario(DATA / "monaco.toml")
    assert isinstance(s.population, BuildingPopulation)
    assert s.population.file == shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    assert s.siting.new_sites == 3 and s.siting.fix == "open+planned"
    inputs = load_inputs(s)
    assert inputs.demand["population"].sum() == pytest.approx(38000.0, rel=1e-12)
    p = inputs.precincts
    assert len(p) == 12
    assert p.loc["node/1712696861", "status"] == "planned"
    assert p.loc["way/262421148", "status"] == "planned"
    assert list(p.loc[["T1", "T2", "T3"], "status"]) == ["candidate", "candidate", "open"]
    assert p.loc["T2", "name"] == "Precinct T2"
    assert (p["status"] == "open").sum() == 8
    districts = load_districts(s)
    assert districts is not None and list(districts["name"]) == ["West", "East"]
    a = assess(inputs.network, inputs.demand, inputs.precincts, districts=districts,
               **s.assess_options())
    assert a.settings.cells == "grid" and a.settings.main_threshold_m == 500.0
    assert a.settings.residents_per_inspector == 2500.0
    assert a.catchments.groupby("scenario")["residents_served"].sum().to_numpy() == (
        pytest.approx(np.array([38000.0, 38000.0]))
    )
    t = a.districts.set_index("district")
    assert int(t["candidate"].sum()) == 2
    assert t["residents"].sum() == pytest.approx(38000.0)


def test_polygon_demand_on_monaco(shared_data: Path, tmp_path: Path) -> None:
    net_file = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    s = parse(tmp_path, f"""\
[network]
file = "{net_file}"

[population]
type = "polygons"
file = "{DATA / 'tiny_zones.geojson'}"
population_column = "residents"

[[precincts]]
osm = true
""")
    from walkshed.scenario import load_network_for

    net = load_network_for(s)
    demand = load_demand(s, net)
    by_zone = demand.groupby("zone")["population"].sum()
    # assess takes the population module's Demand as it is
    from walkshed.assessment import assess
    from walkshed.population import Demand

    p = load_precincts(s, net)
    a = assess(net, Demand(demand, demand.iloc[:0]), p, thresholds_min=[10])
    assert a.residents == pytest.approx(38000.0, rel=1e-12)
    assert by_zone["West"] == pytest.approx(15000.0, rel=1e-12)
    assert by_zone["East"] == pytest.approx(23000.0, rel=1e-12)
    assert len(load_precincts(s, net)) == 9


def test_buildings_from_a_footprint_file(shared_data: Path, tmp_path: Path) -> None:
    import pyogrio

    from walkshed._buildings import read_buildings
    from walkshed.scenario import load_network_for

    net_file = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    footprints = tmp_path / "buildings.gpkg"
    pyogrio.write_dataframe(read_buildings(net_file), footprints)
    text = f"""\
[network]
file = "{net_file}"

[population]
type = "buildings"
file = "FILE"
total = 1000

[[precincts]]
osm = true
"""
    from_gpkg = parse(tmp_path, text.replace("FILE", str(footprints)))
    from_osm = parse(tmp_path, text.replace("FILE", str(net_file)))
    net = load_network_for(from_osm)
    a = load_demand(from_gpkg, net)
    b = load_demand(from_osm, net)
    assert a["population"].sum() == pytest.approx(1000.0, rel=1e-12)
    assert len(a) == len(b)
    np.testing.assert_allclose(np.sort(a["population"].to_numpy()),
                               np.sort(b["population"].to_numpy()), rtol=1e-9)


def test_kinds_key_chooses_what_counts(folder: Path) -> None:
    (folder / "police.csv").write_text(
        "id,name,lat,lon,kind\nA,ГАИ,43.73,7.42,\nB,Участок 3,43.74,7.43,\nC,x,43.735,7.425,"
        "station\n", encoding="utf-8")
    s = parse(folder, MINIMAL)
    assert s.precincts[0].kinds is None
    p, vet = load_precincts_vetted(s)
    assert list(p.index) == ["B", "C"]  # the traffic police point is left out by default
    assert vet.left_out["precinct"].tolist() == ["A"]
    s = parse(folder, MINIMAL + 'kinds = ["Traffic", "station"]\n')
    assert s.precincts[0].kinds == ("traffic", "station")
    assert list(load_precincts(s).index) == ["A", "C"]
    s = parse(folder, MINIMAL + 'kinds = ["checkpoint"]\n')
    with pytest.raises(InputError, match=r"police.csv. \(\[\[precincts\]\] at line 8\): no "
                       r"precinct of the kinds checkpoint \(found: 1 precinct, 1 station, "
                       r"1 traffic\)"):
        load_precincts(s)
    for bad, words in (('kinds = ["speedtrap"]', r"line 12: key 'precincts.kinds': unknown "
                        r"kind\(s\) 'speedtrap'"),
                       ('kinds = "precinct"', r"line 12: .*expected a list of kinds"),
                       ("kinds = []", r"line 12: .*expected a list of kinds")):
        with pytest.raises(InputError, match=words):
            parse(folder, MINIMAL + "\n\n" + bad + "\n")


def test_kind_rules_of_your_own(folder: Path) -> None:
    (folder / "police.csv").write_text("id,name,lat,lon\nA,Kiosk 1,43.73,7.42\n"
                                       "B,Участок 3,43.74,7.43\n", encoding="utf-8")
    (folder / "kinds.toml").write_text('[[rule]]\nkind = "checkpoint"\nwords = ["kiosk"]\n'
                                       'why = "kiosks are posts here"\n', encoding="utf-8")
    s = parse(folder, MINIMAL + 'kind_rules = "kinds.toml"\n')
    assert s.precincts[0].kind_rules == folder / "kinds.toml"
    p, vet = load_precincts_vetted(s)
    assert list(p.index) == ["B"]  # B matches no rule of this file: unknown, counted
    assert vet.left_out["kind_reason"].tolist() == ["kiosks are posts here: name='Kiosk 1'"]
    with pytest.raises(InputError, match=r"line 10: key 'precincts.kind_rules'.*not found"):
        parse(folder, MINIMAL + 'kind_rules = "nope.toml"\n')


# ---------------------------------------------------------------------------------------------
# [siting] district quotas

QUOTA_BASE = MINIMAL + '\n[districts]\nfile = "zones.geojson"\n\n[siting]\nnew_sites = 4\n'


@pytest.fixture()
def quota_folder(folder: Path) -> Path:
    (folder / "zones.geojson").write_bytes((DATA / "tiny_zones.geojson").read_bytes())
    return folder


def test_siting_quotas_are_read(quota_folder: Path) -> None:
    s = parse(quota_folder, QUOTA_BASE + 'district_at_most = 2\n\n[siting.quotas]\n'
              '"North Side" = { at_least = 1 }\nSouth = { at_least = 0, at_most = 0 }\n')
    so = s.siting
    assert so.district_at_most == 2 and so.district_at_least is None
    assert so.quotas == (("North Side", 1, None), ("South", 0, 0))
    # a bound given for a district replaces the every-district one; the other one stays
    assert so.quota_dict(["North Side", "South", "East"]) == {
        "North Side": (1, 2), "South": (0, 0), "East": (None, 2)}
    assert parse(quota_folder, QUOTA_BASE).siting.quota_dict(["A"]) is None


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        ("district_at_most = -1\n", r"line 16: key 'siting.district_at_most': must be >= 0"),
        ("district_at_least = 1.5\n", r"line 16: .*district_at_least.*whole number"),
        ("district_at_least = 3\ndistrict_at_most = 2\n",
         r"line 17: key 'siting.district_at_most': 2 is below district_at_least = 3"),
        ('\n[siting.quotas]\nNorth = { at_leest = 1 }\n',
         r"line 18: key 'siting.quotas.North.at_leest': unknown key"),
        ('\n[siting.quotas]\nNorth = {}\n', r"line 18: .*'siting.quotas.North'.*neither"),
        ('\n[siting.quotas]\nNorth = 2\n', r"line 18: .*'siting.quotas.North'.*expected a table"),
        ('\n[siting.quotas]\nNorth = { at_least = 3, at_most = 1 }\n',
         r"line 18: .*at least 3 but at most 1"),
        ('\n[siting.quotas]\nNorth = { at_least = 3 }\nSouth = { at_least = 2 }\n',
         r"key 'siting.quotas'.*at least 5 new sites in all but new_sites = 4"),
    ],
)
def test_siting_quota_errors_name_key_and_line(quota_folder: Path, extra: str,
                                                pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        parse(quota_folder, QUOTA_BASE + extra)


def test_siting_quotas_need_districts(folder: Path) -> None:
    with pytest.raises(InputError, match=r"line 12: key 'siting.district_at_most'.*need the "
                                         r"districts"):
        parse(folder, MINIMAL + "\n[siting]\ndistrict_at_most = 1\n")


def test_an_extracts_buildings_are_read_once_per_content(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scenario's own placement and the other methods read the extract's footprints
    once; the same demand as from a fresh read; a changed file is read again."""
    import pandas as pd

    from walkshed import _buildings
    from walkshed.scenario import (
        load_demand_alternatives,
        load_network_for,
        load_population,
        reading_once,
    )

    pbf = tmp_path / "monaco.osm.pbf"
    pbf.write_bytes((shared_data / "monaco-osm-2020" / "monaco.osm.pbf").read_bytes())
    s = parse(tmp_path, f"""\
[network]
file = "{pbf}"

[population]
type = "polygons"
file = "{DATA / 'tiny_zones.geojson'}"
population_column = "residents"
method = "buildings"

[[precincts]]
osm = true
""")
    net = load_network_for(s, cache=False)
    reads: list[Path] = []
    real = _buildings.read_buildings

    def counted(path: Path) -> object:
        reads.append(Path(path))
        return real(path)

    monkeypatch.setattr(_buildings, "read_buildings", counted)
    with reading_once():
        own = load_population(s, net)
        alts, _ = load_demand_alternatives(s, net, own.points)
        assert reads == [pbf] and "buildings, city total" in alts
        load_population(s, net)
        assert len(reads) == 1  # the same content: not read again
        with pbf.open("ab") as f:  # new content (the reader skips the trailing byte)
            f.write(b"\0")
        load_population(s, net)
        assert len(reads) == 2  # read again
    # outside it every call reads the file (a fresh read gives the same points)
    fresh, _ = load_demand_alternatives(s, net, own.points)
    load_population(s, net)
    assert len(reads) == 4
    for name, frame in alts.items():
        pd.testing.assert_frame_equal(frame, fresh[name])
