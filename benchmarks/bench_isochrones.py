"""Walking areas for every precinct and threshold: walkshed against the osmnx-notebook way.

Data: the Almaty 2012 OpenStreetMap extract and its 40 police points (../shared/data or
$WALKSHED_TEST_DATA). Thresholds 5 / 10 / 15 minutes at 4.5 km/h, buffer 40 m.

The peer is the way osmnx's isochrone example notebook does it: a networkx graph, the nearest
node of each precinct, ``nx.ego_graph(G, node, radius, distance="length")`` per precinct and
threshold, then every reached edge buffered and the buffers unioned. It only keeps whole edges
(no partly reached edge, no precinct's own edge from its exact position), so it does less work
than walkshed, which cuts partial edges at the exact remaining distance.

Run: ``.venv/bin/python benchmarks/bench_isochrones.py``
"""

from __future__ import annotations

import time
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pyogrio
import shapely
from _common import ALMATY, need_data_root

from walkshed.isochrones import walking_areas
from walkshed.network import load_network, to_networkx

THRESHOLDS_MIN = (5.0, 10.0, 15.0)
SPEED_KMH = 4.5
BUFFER_M = 40.0
REPEATS = 3


def _nearest_nodes(net, precincts) -> np.ndarray:  # type: ignore[no-untyped-def]
    pts = shapely.get_coordinates(np.asarray(precincts.to_crs(net.crs).geometry.values))
    tree = shapely.STRtree(shapely.points(net.node_xy))
    return tree.query_nearest(shapely.points(pts), all_matches=False)[1]


def notebook_way(net, precincts, graph) -> list:  # type: ignore[no-untyped-def]
    """The osmnx isochrone notebook's ``make_iso_polys``, per precinct and threshold.

    ego_graph; a GeoDataFrame of the subgraph's nodes; each edge's geometry looked up edge by
    edge; ``GeoSeries.buffer`` at geopandas' default resolution; ``unary_union`` (now
    ``union_all``). Node buffers are left out as in the notebook's call (``node_buff=0``).
    """
    geom_of = {k: g for k, g in enumerate(net.edge_geometry)}
    out = []
    for node in _nearest_nodes(net, precincts):
        for minutes in THRESHOLDS_MIN:
            radius = minutes * SPEED_KMH * 1000 / 60
            sub = nx.ego_graph(graph, int(node), radius=radius, distance="length")
            node_points = [shapely.Point(d["x"], d["y"]) for _, d in sub.nodes(data=True)]
            nodes_gdf = gpd.GeoDataFrame({"id": list(sub.nodes)}, geometry=node_points)
            nodes_gdf = nodes_gdf.set_index("id")
            edge_lines = []
            for n_fr, n_to, key in sub.edges(keys=True):
                f = nodes_gdf.loc[n_fr].geometry
                t = nodes_gdf.loc[n_to].geometry
                edge_lines.append(geom_of.get(key, shapely.LineString([f, t])))
            e = gpd.GeoSeries(edge_lines).buffer(BUFFER_M)
            out.append(gpd.GeoSeries(list(e)).union_all())
    return out


def vectorised_peer(net, precincts, graph, quad_segs: int = 3) -> list:  # type: ignore[no-untyped-def]
    """The same method written as fast as it goes: ego_graph, then vectorised shapely."""
    out = []
    for node in _nearest_nodes(net, precincts):
        for minutes in THRESHOLDS_MIN:
            radius = minutes * SPEED_KMH * 1000 / 60
            sub = nx.ego_graph(graph, int(node), radius=radius, distance="length")
            keys = np.fromiter((k for _, _, k in sub.edges(keys=True)), dtype=np.int64)
            lines = net.edge_geometry[keys]
            out.append(shapely.union_all(shapely.buffer(lines, BUFFER_M, quad_segs=quad_segs)))
    return out


def _best(run, repeats: int = REPEATS):  # type: ignore[no-untyped-def]
    """Fastest of a few runs (the machine may be shared) and the last result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    """Time both ways on Almaty and print the ratio."""
    folder = need_data_root() / ALMATY
    net = load_network(folder / "almaty.osm.pbf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Could not parse column ... as JSON"
        police = pyogrio.read_dataframe(folder / "almaty_police_2012.geojson")
    police.index = police["osm_id"].astype(str)
    print(net.summary())
    print(f"{len(police)} precincts x {len(THRESHOLDS_MIN)} thresholds; best of {REPEATS} runs")

    walking_areas(net, police.iloc[:2], thresholds_min=THRESHOLDS_MIN)  # warm-up (imports)
    t_ours, areas = _best(lambda: walking_areas(
        net, police, thresholds_min=THRESHOLDS_MIN, walk_speed_kmh=SPEED_KMH, buffer_m=BUFFER_M
    ))

    t0 = time.perf_counter()
    graph = to_networkx(net)
    t_graph = time.perf_counter() - t0
    t_peer, peer = _best(lambda: notebook_way(net, police, graph))
    t_vec, _ = _best(lambda: vectorised_peer(net, police, graph))

    ours_area = float(shapely.area(np.asarray(areas.geometry.values)).sum()) / 1e6
    peer_area = float(shapely.area(np.asarray(peer, dtype=object)).sum()) / 1e6
    print(f"walkshed walking_areas (partial edges cut exactly): {t_ours:.3f} s, "
          f"{len(areas)} polygons, {ours_area:.1f} km2 summed")
    print(f"osmnx notebook way (ego_graph + buffered whole edges): {t_peer:.3f} s "
          f"(+ {t_graph:.3f} s building the networkx graph), {peer_area:.1f} km2 summed")
    print(f"same method vectorised (ego_graph + shapely arrays, equal buffer resolution): "
          f"{t_vec:.3f} s")
    print(f"ratio notebook / walkshed: {t_peer / t_ours:.1f}x "
          f"({(t_peer + t_graph) / t_ours:.1f}x including the graph build); "
          f"vectorised peer / walkshed: {t_vec / t_ours:.1f}x")
    print(f"under 2 s: {'yes' if t_ours < 2.0 else 'NO'}")


if __name__ == "__main__":
    main()
