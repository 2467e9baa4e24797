"""Walking distance to the nearest precinct: walkshed against the networkx ways, same run.

Two cases:

* **Almaty 2012** (../shared/data or $WALKSHED_TEST_DATA): the 40 police points as precincts;
  as points, every building (its vertex mean, read with pyosmium) and every network node.
* **A generated network** of about 500,000 nodes (a jittered street grid with some streets
  missing and some diagonals), built directly as a WalkNetwork from arrays, with 200 precincts
  and 200,000 random points.

walkshed's time is the whole job on a loaded network: snapping precincts and points to their
streets, one multi-source Dijkstra (scipy), and reading every point's distance. The peers are
given more help: a ready networkx graph (its construction is timed apart, not counted) and
precincts at their nearest node, and they only compute node distances, no point:

* (a) the osmnx-notebook way: ``nx.ego_graph(G, node, radius=R, distance="length")`` per
  precinct, R = 15 minutes at 4.5 km/h = 1125 m;
* (b) ``nx.multi_source_dijkstra`` from all precincts at once (bounded at R like walkshed's
  bounded run, and unbounded like its unbounded run).

Times are the best of ``--repeat`` runs (more for steps of milliseconds, within a second);
peak memory is tracemalloc's peak of one extra, untimed run (Python and numpy allocations), and
the process's peak RSS. Network load time from
the on-disk cache is compared with a first load.

Run: ``.venv/bin/python benchmarks/bench_reach.py`` (``--quick`` for a smoke run of a few
seconds: fewer repeats, a 20,000-node generated network, a few ego graphs).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pyogrio
import shapely

from coverage._osm import read_tagged_points
from coverage.network import WalkNetwork, load_network, to_networkx
from coverage.reach import nearest_facility
from coverage.settings import minutes_to_metres
from coverage.snap import points_in_network_crs, snap_geometries

REPO = Path(__file__).resolve().parents[1]
RADIUS_M = minutes_to_metres(15.0, 4.5)  # 1125 m


def best_of(fn: Callable[[], Any], repeat: int, budget_s: float = 1.0) -> tuple[float, Any]:
    """Smallest wall time of at least ``repeat`` runs (more, up to 100, while the runs so far
    took less than ``budget_s`` in all: short steps on a busy machine need them), and the last
    result. The garbage collector is off during each run, as in ``timeit``."""
    best = np.inf
    out = None
    spent = 0.0
    runs = 0
    gc.collect()
    while runs < repeat or (spent < budget_s and runs < 100):
        gc.disable()  # as timeit does
        try:
            t0 = time.perf_counter()
            out = fn()
            took = time.perf_counter() - t0
        finally:
            gc.enable()
        best = min(best, took)
        spent += took
        runs += 1
    return best, out


def peak_mib(fn: Callable[[], Any]) -> float:
    """tracemalloc's peak (MiB) over one run of ``fn``."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def rss_mib() -> float:
    """Peak resident set size of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(label: str, seconds: float, mem: float | None = None, ratio: str = "") -> None:
    m = f"{mem:6.0f} MiB" if mem is not None else " " * 10
    print(f"  {label:<50s}{seconds:10.4f} {m}  {ratio}")


def nearest_nodes(net: WalkNetwork, xy: np.ndarray) -> np.ndarray:
    """Nearest network node of each coordinate (for the peers)."""
    tree = shapely.STRtree(shapely.points(net.node_xy))
    return np.asarray(tree.query_nearest(shapely.points(xy), all_matches=False)[1])


def walkshed_job(
    net: WalkNetwork, fac_pts: np.ndarray, pts: np.ndarray, bound: float | None
) -> Callable[[], Any]:
    """The project's whole job: snap both sides, one Dijkstra, every point's distance."""

    def job() -> Any:
        fac = snap_geometries(net, fac_pts)
        snapped = snap_geometries(net, pts)
        return nearest_facility(net, fac, snapped, max_distance_m=bound)

    return job


def compare(
    title: str,
    net: WalkNetwork,
    fac_pts: np.ndarray,
    pts: np.ndarray,
    *,
    repeat: int,
    ego_sample: int | None,
) -> None:
    print(f"\n{title}: {net.n_nodes:,} nodes, {net.n_edges:,} edges, "
          f"{len(fac_pts)} precincts, {len(pts):,} points, R = {RADIUS_M:.0f} m")
    t_prep, _ = best_of(lambda: (net.adjacency, net.segment_index), 1, 0.0)
    print(f"  network preparation, once per network (adjacency, segment index): {t_prep:.3f} s")
    t_job, res = best_of(walkshed_job(net, fac_pts, pts, RADIUS_M), repeat)
    t_job_free, res_free = best_of(walkshed_job(net, fac_pts, pts, None), repeat)
    mem_job = peak_mib(walkshed_job(net, fac_pts, pts, RADIUS_M))
    rss_after = rss_mib()
    fac = snap_geometries(net, fac_pts)
    snapped = snap_geometries(net, pts)
    t_dist, _ = best_of(lambda: nearest_facility(net, fac, snapped, max_distance_m=RADIUS_M),
                        repeat)
    t_dist_free, _ = best_of(lambda: nearest_facility(net, fac, snapped), repeat)
    mem_dist = peak_mib(lambda: nearest_facility(net, fac, snapped, max_distance_m=RADIUS_M))
    reached = np.isfinite(res_free.distance_m)
    print(f"  {np.isfinite(res.distance_m).mean():.1%} of points within {RADIUS_M:.0f} m, "
          f"median distance {np.median(res_free.distance_m[reached]):.0f} m; "
          f"peak RSS after walkshed's runs {rss_after:.0f} MiB")
    print(f"  {'':<50s}{'time':>10s} {'peak mem':>10s}  {'peer / walkshed'}")
    row("walkshed: snap + distances, bounded at R", t_job, mem_job)
    row("walkshed: snap + distances, unbounded", t_job_free)
    row("walkshed: distances of snapped points, bounded", t_dist, mem_dist)
    row("walkshed: distances of snapped points, unbounded", t_dist_free)

    t0 = time.perf_counter()
    g = to_networkx(net).to_directed()  # as osmnx gives it: both directions of every street
    t_graph = time.perf_counter() - t0
    src = [int(s) for s in np.unique(nearest_nodes(net, shapely.get_coordinates(fac_pts)))]
    print(f"  peers: osmnx-style MultiDiGraph built in {t_graph:.1f} s (not counted), "
          f"{len(src)} distinct nearest nodes (given)")

    def msd(cutoff: float | None) -> Callable[[], Any]:
        return lambda: nx.multi_source_dijkstra(g, src, cutoff=cutoff, weight="length")

    t_msd_b, _ = best_of(msd(RADIUS_M), 1)
    row("(b) nx.multi_source_dijkstra, bounded at R", t_msd_b, peak_mib(msd(RADIUS_M)),
        f"{t_msd_b / t_dist:7.1f}x distances, {t_msd_b / t_job:5.1f}x whole job")
    t_msd, _ = best_of(msd(None), 1)
    row("(b) nx.multi_source_dijkstra, unbounded", t_msd, peak_mib(msd(None)),
        f"{t_msd / t_dist_free:7.1f}x distances, {t_msd / t_job_free:5.1f}x whole job")

    sample = src if ego_sample is None else src[:ego_sample]
    scale = len(src) / len(sample)
    note = "" if len(sample) == len(src) else f" (est. from {len(sample)})"

    def ego() -> Any:
        return [nx.ego_graph(g, s, radius=RADIUS_M, distance="length") for s in sample]

    point_tree = shapely.STRtree(pts)

    def ego_hull() -> Any:
        # the notebook's coverage answer: the convex hull of each ego graph's nodes, and the
        # points inside it
        covered = np.zeros(len(pts), dtype=bool)
        for s in sample:
            sub = nx.ego_graph(g, s, radius=RADIUS_M, distance="length")
            hull = shapely.convex_hull(shapely.multipoints(net.node_xy[list(sub.nodes)]))
            covered[point_tree.query(hull, predicate="intersects")] = True
        return covered

    t_ego, _ = best_of(ego, 1)
    t_hull, _ = best_of(ego_hull, 1)
    t_ego *= scale
    t_hull *= scale
    mem_ego = peak_mib(lambda: nx.ego_graph(g, sample[0], radius=RADIUS_M, distance="length"))
    row(f"(a) nx.ego_graph per precinct{note}", t_ego, mem_ego,
        f"{t_ego / t_dist:7.1f}x distances, {t_ego / t_job:5.1f}x whole job")
    row(f"(a) + hull + points in hull{note}", t_hull, None,
        f"{t_hull / t_dist:7.1f}x distances, {t_hull / t_job:5.1f}x whole job")


# ---------------------------------------------------------------------------------------------


def data_dir() -> Path | None:
    env = os.environ.get("WALKSHED_TEST_DATA")
    folder = Path(env) if env else REPO.parent / "shared" / "data"
    return folder / "almaty-osm-2012" if (folder / "almaty-osm-2012").is_dir() else None


def almaty(repeat: int, quick: bool) -> None:
    folder = data_dir()
    if folder is None:
        print("\nAlmaty: data not found (../shared/data or $WALKSHED_TEST_DATA); skipped")
        return
    pbf = folder / "almaty.osm.pbf"
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        net = load_network(pbf, cache_dir=cache)
        t_first = time.perf_counter() - t0
        t_cached, _ = best_of(lambda: load_network(pbf, cache_dir=cache), 5, 0.0)
    t_nocache, _ = best_of(lambda: load_network(pbf, cache=False), 3, 0.0)
    print(f"\nAlmaty network: {net.summary()}")
    print("  load from the OSM file, writing the cache     "
          f"{t_first:8.3f} s")
    print(f"  load from the OSM file, no cache (best of 3)   {t_nocache:8.3f} s")
    print(f"  load from the cache (best of 5)                {t_cached:8.3f} s"
          f"   => {t_nocache / t_cached:.1f}x faster (first load {t_first / t_cached:.1f}x)")

    police = pyogrio.read_dataframe(folder / "almaty_police_2012.geojson", columns=["osm_id"])
    fac_pts = points_in_network_crs(net, police, "police")
    t0 = time.perf_counter()
    buildings = read_tagged_points(pbf, "building")
    t_b = time.perf_counter() - t0
    import geopandas as gpd

    b_gdf = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy([b.lon for b in buildings], [b.lat for b in buildings]),
        crs="EPSG:4326",
    )
    b_pts = points_in_network_crs(net, b_gdf, "buildings")
    pts = np.concatenate([b_pts, shapely.points(net.node_xy)])
    print(f"  {len(buildings):,} buildings read in {t_b:.2f} s (pyosmium), "
          f"+ {net.n_nodes:,} network nodes as points")
    compare("Almaty 2012, 40 police", net, fac_pts, pts, repeat=repeat,
            ego_sample=8 if quick else None)


def generated_network(side: int, seed: int = 0) -> WalkNetwork:
    """A jittered street grid (80 m blocks), 8 % of streets missing, 10 % of blocks with a
    diagonal, as a WalkNetwork built from arrays (UTM 43N coordinates)."""
    rng = np.random.default_rng(seed)
    n = side * side
    ij = np.indices((side, side)).reshape(2, -1).T
    xy = ij * 80.0 + rng.uniform(-16, 16, (n, 2)) + [500_000.0, 4_700_000.0]
    idx = np.arange(n).reshape(side, side)
    h = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
    v = np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])
    d = np.column_stack([idx[:-1, :-1].ravel(), idx[1:, 1:].ravel()])
    e = np.vstack([h, v])
    e = np.vstack([e[rng.random(len(e)) > 0.08], d[rng.random(len(d)) < 0.10]])
    geoms = shapely.linestrings(xy[e])
    return WalkNetwork(np.arange(n), xy, e[:, 0], e[:, 1], geoms, "EPSG:32643",
                       source=f"generated grid {side}x{side}")


def generated(side: int, n_fac: int, n_pts: int, repeat: int) -> None:
    t0 = time.perf_counter()
    net = generated_network(side)
    t_gen = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    fac_pts = shapely.points(rng.uniform(lo, hi, (n_fac, 2)))
    pts = shapely.points(rng.uniform(lo, hi, (n_pts, 2)))
    print(f"\n(generated in {t_gen:.1f} s)")
    compare(f"Generated network, {n_fac} precincts", net, fac_pts, pts, repeat=repeat,
            ego_sample=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--side", type=int, default=None,
                        help="generated grid side (default 708: 501,264 nodes)")
    parser.add_argument("--points", type=int, default=None,
                        help="random points on the generated network (default 200,000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per timing (best of)")
    parser.add_argument("--no-almaty", action="store_true")
    parser.add_argument("--no-generated", action="store_true")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    side = args.side or (150 if args.quick else 708)
    n_pts = args.points or (20_000 if args.quick else 200_000)
    print(f"bench_reach: python {sys.version.split()[0]}, networkx {nx.__version__}, "
          f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
    if not args.no_almaty:
        almaty(repeat, args.quick)
    if not args.no_generated:
        generated(side, 200, n_pts, repeat)
    print(f"\npeak RSS of the whole run: {rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
