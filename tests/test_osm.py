"""Reading OpenStreetMap files (walkshed._osm): the walk filter, way runs, tagged points."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyogrio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walkshed._errors import InputError
from walkshed._osm import check_osm_file, is_walkable, read_tagged_points, read_walk_ways

# ---------------------------------------------------------------------------------------------
# the walk filter against osmnx's own Overpass filter string

_CLAUSE = re.compile(r'\["([^"]+)"(?:(!?[~=])"([^"]*)")?\]')


def overpass_filter() -> list[tuple[str, str | None, str | None]]:
    """osmnx's "walk" filter as (key, operator, value) clauses."""
    from osmnx import _overpass

    text = _overpass._get_network_filter("walk")
    clauses = _CLAUSE.findall(text)
    assert "".join(f'["{k}"' + (f'{op}"{v}"' if op else "") + "]" for k, op, v in clauses) == text
    return [(k, op or None, v if op else None) for k, op, v in clauses]


def overpass_match(clauses: list[tuple[str, str | None, str | None]], tags: dict[str, str]) -> bool:
    """Overpass semantics: ``["k"]`` needs the key; ``["k"!~"re"]`` passes when the key is
    missing or its value does not contain a match; ``["k"~"re"]`` needs a match."""
    for key, op, value in clauses:
        have = tags.get(key)
        if op is None:
            ok = have is not None
        elif op == "!~":
            ok = have is None or re.search(value or "", have) is None
        elif op == "~":
            ok = have is not None and re.search(value or "", have) is not None
        elif op == "=":
            ok = have == value
        else:  # "!="
            ok = have != value
        if not ok:
            return False
    return True


def test_overpass_filter_is_parsed() -> None:
    clauses = overpass_filter()
    assert ("highway", None, None) in clauses
    assert any(k == "access" and v == "private" for k, _, v in clauses)
    assert len(clauses) >= 9


def test_walk_overpass_filter_is_osmnx_walk_query() -> None:
    """The online query written from our rules is osmnx's own "walk" query, character for
    character (so an online network with the opt-in has the same streets as osmnx's)."""
    from osmnx import _overpass

    from walkshed._osm import walk_overpass_filter

    assert walk_overpass_filter() == _overpass._get_network_filter("walk")


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "footway"}, True),
        ({"highway": "steps"}, True),
        ({"highway": "pedestrian", "area": "no"}, True),
        ({"highway": "pedestrian", "area": "yes"}, False),
        ({"highway": "motorway"}, False),
        ({"highway": "motorway_link"}, False),
        ({"highway": "cycleway"}, False),
        ({"highway": "cycleway", "foot": "yes"}, False),  # osmnx drops them all the same
        ({"highway": "construction"}, False),
        ({"highway": "proposed"}, False),
        ({"highway": "service", "service": "parking_aisle"}, True),
        ({"highway": "service", "service": "private"}, False),
        ({"highway": "residential", "access": "private"}, False),
        ({"highway": "residential", "access": "no"}, True),  # osmnx only excludes "private"
        ({"highway": "primary", "foot": "no"}, False),
        ({"highway": "primary", "foot": "designated"}, True),
        ({"highway": "primary", "sidewalk": "separate"}, False),
        ({"highway": "primary", "sidewalk:left": "separate"}, False),
        ({"highway": "primary", "sidewalk": "both"}, True),
        ({"building": "yes"}, False),
        ({}, False),
    ],
)
def test_is_walkable_hand_cases(tags: dict[str, str], walkable: bool) -> None:
    assert is_walkable(tags) is walkable
    assert overpass_match(overpass_filter(), tags) is walkable


_KEYS = ["highway", "area", "access", "foot", "service", "sidewalk", "sidewalk:both",
         "sidewalk:left", "sidewalk:right", "name", "surface", "bicycle"]
_VALUES = ["residential", "footway", "motorway", "motorway_link", "trunk", "primary", "path",
           "cycleway", "yes", "no", "private", "permissive", "separate", "both", "designated",
           "bus_guideway", "platform", "rest_area", "services", "razed", "abandoned", "none",
           "nope", "yes;no", "Private", "construction", "raceway", "emergency_access"]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_VALUES), max_size=5))
def test_is_walkable_matches_osmnx_filter(tags: dict[str, str]) -> None:
    assert is_walkable(tags) is overpass_match(overpass_filter(), tags)


# ---------------------------------------------------------------------------------------------
# reading ways

XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" lat="43.2500" lon="76.9000"/>
  <node id="2" lat="43.2500" lon="76.9010"/>
  <node id="3" lat="43.2510" lon="76.9010"/>
  <node id="4" lat="43.2510" lon="76.9000"/>
  <node id="6" lat="43.2520" lon="76.9020"/>
  <node id="20" lat="43.2530" lon="76.9030"/>
  <node id="21" lat="43.2540" lon="76.9030"/>
  <node id="30" lat="43.2600" lon="76.9100">
    <tag k="amenity" v="police"/><tag k="name" v="Precinct 1"/>
  </node>
  <way id="100"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
  <way id="101"><nd ref="3"/><nd ref="4"/><nd ref="99"/><nd ref="6"/><nd ref="20"/><nd ref="21"/>
    <tag k="highway" v="footway"/></way>
  <way id="102"><nd ref="1"/><nd ref="98"/><nd ref="4"/><tag k="highway" v="service"/></way>
  <way id="103"><nd ref="1"/><nd ref="4"/><tag k="highway" v="motorway"/></way>
  <way id="104"><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="2"/>
    <tag k="amenity" v="police"/><tag k="building" v="yes"/></way>
</osm>
"""


@pytest.fixture
def xml_file(tmp_path: Path) -> Path:
    path = tmp_path / "hand.osm"
    path.write_text(XML, encoding="utf-8")
    return path


def test_read_walk_ways_splits_at_missing_nodes(xml_file: Path) -> None:
    ways = read_walk_ways(xml_file)
    runs = [
        ways.node_ref[a:b].tolist()
        for a, b in zip(ways.run_start[:-1], ways.run_start[1:], strict=True)
    ]
    # way 101 leaves the file at node 99: two runs; way 102's pieces are single vertices: none;
    # the motorway and the building are not walkable
    assert runs == [[1, 2, 3], [3, 4], [6, 20, 21]]
    assert ways.way_id.tolist() == [100, 101, 101]
    assert ways.highway.tolist() == ["residential", "footway", "footway"]
    assert len(ways.lon) == len(ways.lat) == len(ways.node_ref) == 8
    np.testing.assert_allclose(ways.lon[:3], [76.9, 76.901, 76.901])
    np.testing.assert_allclose(ways.lat[:3], [43.25, 43.25, 43.251])


def test_read_tagged_points(xml_file: Path) -> None:
    found = read_tagged_points(xml_file, "amenity", "police")
    assert [(f.osm_type, f.osm_id) for f in found] == [("node", 30), ("way", 104)]
    assert found[0].tags["name"] == "Precinct 1"
    assert (found[0].lon, found[0].lat) == pytest.approx((76.91, 43.26))
    # a closed way: the mean of its three distinct vertices
    assert found[1].lon == pytest.approx((76.901 + 76.901 + 76.900) / 3)
    assert found[1].lat == pytest.approx((43.25 + 43.251 + 43.251) / 3)
    assert [f.osm_id for f in read_tagged_points(xml_file, "building")] == [104]
    assert read_tagged_points(xml_file, "amenity", "school") == []


def test_almaty_police_points(shared_data: Path) -> None:
    """The 40 police points of the 2012 extract, as SOURCE.md derived them."""
    folder = shared_data / "almaty-osm-2012"
    found = read_tagged_points(folder / "almaty.osm.pbf", "amenity", "police")
    assert len(found) == 40
    assert sum(f.osm_type == "node" for f in found) == 39
    ref = pyogrio.read_dataframe(
        folder / "almaty_police_2012.geojson", columns=["osm_type", "osm_id"]
    )
    got = {(f.osm_type, f.osm_id): (f.lon, f.lat) for f in found}
    assert set(got) == set(zip(ref["osm_type"], ref["osm_id"].astype(int), strict=True))
    for t, i, geom in zip(ref["osm_type"], ref["osm_id"], ref.geometry, strict=True):
        lon, lat = got[(t, int(i))]
        tol = 1e-7 if t == "node" else 5e-4  # a way's vertex mean vs its ring centroid
        assert lon == pytest.approx(geom.x, abs=tol) and lat == pytest.approx(geom.y, abs=tol)


# ---------------------------------------------------------------------------------------------
# bad files


def test_check_osm_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"network source '.*nope\.osm\.pbf': file not found"):
        check_osm_file(tmp_path / "nope.osm.pbf")
    with pytest.raises(InputError, match=r"^OSM file '.*': is not a file"):
        check_osm_file(tmp_path, "OSM file")
    (tmp_path / "a.geojson").write_text("{}")
    with pytest.raises(InputError, match=r"is not an OpenStreetMap file.*\.osm\.pbf"):
        check_osm_file(tmp_path / "a.geojson")
    (tmp_path / "b.osm.bz2").write_bytes(b"")
    with pytest.raises(InputError, match=r"the file is empty.*Download"):
        check_osm_file(tmp_path / "b.osm.bz2")
    (tmp_path / "c.OSM.PBF").write_bytes(b"x")
    assert check_osm_file(tmp_path / "c.OSM.PBF") == tmp_path / "c.OSM.PBF"


@pytest.mark.parametrize("reader", ["ways", "points"])
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("random.osm.pbf", np.random.default_rng(5).bytes(4096)),
        ("bad.osm", b"<osm><node id='1' lat="),
        ("bad.osm.bz2", b"BZh91AY&SY not really bzip2"),
    ],
)
def test_corrupt_files(tmp_path: Path, reader: str, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as exc:
        if reader == "ways":
            read_walk_ways(path)
        else:
            read_tagged_points(path, "amenity", "police")
    msg = str(exc.value)
    assert name in msg and "cannot be read as OpenStreetMap data" in msg and "again" in msg


# ---------------------------------------------------------------------------------------------
# the opt-in: cycleways open to pedestrians (settings.walk_cycleways_with_foot_access)


@pytest.mark.parametrize(
    ("tags", "default", "opt_in"),
    [
        ({"highway": "cycleway"}, False, False),
        ({"highway": "cycleway", "foot": "yes"}, False, True),
        ({"highway": "cycleway", "foot": "designated"}, False, True),
        ({"highway": "cycleway", "foot": "permissive"}, False, True),
        ({"highway": "cycleway", "foot": "no"}, False, False),
        ({"highway": "cycleway", "foot": "use_sidepath"}, False, False),
        ({"highway": "cycleway", "foot": "yes", "access": "private"}, False, False),
        ({"highway": "cycleway", "foot": "yes", "area": "yes"}, False, False),
        ({"highway": "cycleway", "foot": "designated", "sidewalk": "separate"}, False, False),
        ({"highway": "cycleway", "foot": "yes", "access": "no"}, False, True),  # as osmnx
        ({"highway": "construction", "construction": "cycleway", "foot": "yes"}, False, False),
        ({"highway": "motorway", "foot": "yes"}, False, False),
        ({"highway": "footway"}, True, True),
        ({"highway": "residential", "access": "private"}, False, False),
        ({"cycleway": "track", "foot": "yes"}, False, False),
    ],
)
def test_is_walkable_foot_cycleways(
    tags: dict[str, str], default: bool, opt_in: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed import settings as cfg

    assert is_walkable(tags, foot_cycleways=False) is default
    assert is_walkable(tags, foot_cycleways=True) is opt_in
    # None follows the setting, which is off by default
    assert cfg.walk_cycleways_with_foot_access is False
    assert is_walkable(tags) is default
    monkeypatch.setattr(cfg, "walk_cycleways_with_foot_access", True)
    assert is_walkable(tags) is opt_in
    assert is_walkable(tags, foot_cycleways=False) is default


def _shared_path_clauses() -> list[tuple[str, str | None, str | None]]:
    from walkshed._osm import foot_cycleway_overpass_filter

    text = foot_cycleway_overpass_filter()
    clauses = _CLAUSE.findall(text)
    assert "".join(f'["{k}"' + (f'{op}"{v}"' if op else "") + "]" for k, op, v in clauses) == text
    return [(k, op or None, v if op else None) for k, op, v in clauses]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_VALUES), max_size=5))
def test_foot_cycleways_match_the_overpass_union(tags: dict[str, str]) -> None:
    """On: osmnx's walk filter or the shared-path filter queried online next to it."""
    union = overpass_match(overpass_filter(), tags) or overpass_match(
        _shared_path_clauses(), tags
    )
    assert is_walkable(tags, foot_cycleways=True) is union


def test_read_walk_ways_foot_cycleways(tmp_path: Path) -> None:
    path = tmp_path / "cycle.osm"
    path.write_text(
        XML.replace(
            "</osm>",
            '  <way id="105"><nd ref="20"/><nd ref="21"/><tag k="highway" v="cycleway"/>'
            '<tag k="foot" v="designated"/></way>\n'
            '  <way id="106"><nd ref="1"/><nd ref="3"/><tag k="highway" v="cycleway"/></way>\n'
            "</osm>",
        ),
        encoding="utf-8",
    )
    off = read_walk_ways(path)
    on = read_walk_ways(path, foot_cycleways=True)
    assert 105 not in off.way_id and 106 not in off.way_id
    assert list(on.way_id) == [*off.way_id, 105]
    assert on.highway[-1] == "cycleway"
    np.testing.assert_array_equal(on.node_ref[on.run_start[-2]:], [20, 21])
