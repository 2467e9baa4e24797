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
  bounded run, and unbounded like its unbounded run);
* (c) pandana (when it is installed; not a walkshed dependency): ``pandana.Network`` built from
  the WalkNetwork's arrays (its contraction hierarchy and k-d tree, timed apart as a once per
  network step), then the query as its users write it: ``set_pois`` (precincts, maxdist R),
  ``get_node_ids`` for the points, ``nearest_pois(R, num_pois=1, include_poi_ids=True)`` and each
  point's row. pandana snaps points and precincts to their nearest *node*, so its distances
  are not walkshed's exact ones; the differences on the same points are printed as a sanity
  check. pandana runs its C++ on every core (OpenMP); walkshed's Dijkstra runs on one.

Times are the best of ``--repeat`` runs (more for steps of milliseconds, within a second);
peak memory is tracemalloc's peak of one extra, untimed run (Python and numpy allocations), and
the process's peak RSS. For the pandana comparison, whose memory is mostly C++ that tracemalloc
cannot see, both sides also get the rise of the peak RSS over one run (Linux: the peak is reset
through /proc/self/clear_refs before it). Network load time from
the on-disk cache is compared with a first load.

Run: ``.venv/bin/python benchmarks/bench_reach.py`` (``--quick`` for a smoke run of a few
seconds: fewer repeats, a 20,000-node generated network, a few ego graphs).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import shapely
from scipy.sparse.csgraph import dijkstra

from walkshed._osm import read_tagged_points
from walkshed.network import WalkNetwork, load_network, to_networkx
from walkshed.reach import nearest_facility
from walkshed.settings import minutes_to_metres
from walkshed.snap import points_in_network_crs, snap_geometries

try:
    import pandana
except ImportError:  # optional peer, not a dependency of walkshed
    pandana = None

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


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def rss_rise(fn: Callable[[], Any]) -> tuple[float, float | None, Any]:
    """Run ``fn`` once: its wall time, the rise of the process's peak RSS over the RSS before
    it (MiB; None where the peak cannot be reset: not Linux), and its result. Sees C/C++
    allocations, which tracemalloc does not."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # glibc: free heap back to the system
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        before = _status_kib("VmRSS")
    except OSError:
        before = None
    t0 = time.perf_counter()
    out = fn()
    took = time.perf_counter() - t0
    rise = None if before is None else (_status_kib("VmHWM") - before) / 1024
    return took, rise, out


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (pandana's C++ prints its progress there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def row(label: str, seconds: float, mem: float | None = None, ratio: str = "") -> None:
    m = f"{mem:6.0f} MiB" if mem is not None else " " * 10
    print(f"  {label:<50s}{seconds:10.4f} {m}  {ratio}")


def nearest_nodes(net: WalkNetwork, xy: np.ndarray) -> np.ndarray:
    """Nearest network node of each coordinate (for the peers)."""
    tree = shapely.STRtree(np.asarray(shapely.points(net.node_xy)))
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
    t_prep, mem_prep, _ = rss_rise(lambda: (net.adjacency, net.segment_index))
    rise = "" if mem_prep is None else f", peak RSS rise {mem_prep:.0f} MiB"
    print(f"  network preparation, once per network (adjacency, segment index): {t_prep:.3f} s"
          + rise)
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
    pandana_peer(net, fac_pts, pts, res, t_prep=t_prep, t_job=t_job, t_dist=t_dist,
                 repeat=repeat)

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


def pandana_peer(
    net: WalkNetwork,
    fac_pts: np.ndarray,
    pts: np.ndarray,
    exact: Any,
    *,
    t_prep: float,
    t_job: float,
    t_dist: float,
    repeat: int,
) -> None:
    """(c) pandana, as its users run it, against walkshed's bounded run (``exact``)."""
    if pandana is None:
        print("  (c) pandana not installed: skipped")
        return
    fac_xy = shapely.get_coordinates(fac_pts)

    def build() -> Any:
        nodes = pd.DataFrame(net.node_xy, columns=["x", "y"])
        edges = pd.DataFrame({"from": net.edge_u, "to": net.edge_v, "length": net.edge_length})
        with quiet_stdout():
            return pandana.Network(nodes["x"], nodes["y"], edges["from"], edges["to"],
                                   edges[["length"]], twoway=True)

    t_build, mem_build, pnet = rss_rise(build)
    if t_build < 5.0:  # a small network: the best of more runs, as for the other steps
        t_build = min(t_build, best_of(build, repeat, 0.0)[0])

    def query() -> tuple[np.ndarray, np.ndarray]:
        pnet.set_pois("precincts", RADIUS_M, 1, pd.Series(fac_xy[:, 0]), pd.Series(fac_xy[:, 1]))
        xy = shapely.get_coordinates(pts)
        node_ids = pnet.get_node_ids(pd.Series(xy[:, 0]), pd.Series(xy[:, 1]))
        near = pnet.nearest_pois(RADIUS_M, "precincts", num_pois=1, include_poi_ids=True)
        at = near.loc[node_ids.to_numpy()]
        return at[1].to_numpy(), at["poi1"].to_numpy()

    def query_nodes() -> Any:
        return pnet.nearest_pois(RADIUS_M, "precincts", num_pois=1, include_poi_ids=True)

    t_query, (dist, poi) = best_of(query, repeat)
    t_near, _ = best_of(query_nodes, repeat)
    _, mem_query, _ = rss_rise(query)
    _, mem_job, _ = rss_rise(walkshed_job(net, fac_pts, pts, RADIUS_M))

    print(f"  (c) pandana {pandana.__version__}: snaps points and precincts to their nearest "
          "node, so its distances are not walkshed's exact ones; its C++ uses "
          f"{os.cpu_count()} threads")
    print(f"  {'':<50s}{'time':>10s} {'RSS rise':>10s}  walkshed / pandana (time)")
    row("(c) pandana.Network (contraction hierarchy, tree)", t_build, mem_build,
        f"{t_prep / t_build:7.3f}x walkshed's network preparation")
    row("(c) set_pois + get_node_ids + nearest_pois + rows", t_query, mem_query,
        f"{t_job / t_query:7.3f}x (walkshed snap + distances, bounded)")
    row("(c) nearest_pois alone (all nodes)", t_near, None,
        f"{t_dist / t_near:7.3f}x (walkshed distances of snapped points)")
    row("    walkshed: snap + distances, bounded (RSS rise)", t_job, mem_job)

    # sanity check against walkshed's exact distances on the same points
    ws = np.isfinite(exact.distance_m)
    pd_ok = ~np.isnan(poi)
    both = ws & pd_ok
    # pandana's own answer, checked: scipy's Dijkstra from the nodes pandana gave the precincts
    src = pnet.get_node_ids(pd.Series(fac_xy[:, 0]), pd.Series(fac_xy[:, 1])).to_numpy()
    node_d = dijkstra(net.adjacency, indices=np.unique(src), min_only=True, limit=RADIUS_M)
    near = query_nodes()
    p_ok = ~near["poi1"].isna().to_numpy()
    cmp = p_ok & np.isfinite(node_d)  # (float32 at pandana's bound: a node may differ)
    p_err = np.abs(near[1].to_numpy()[cmp] - node_d[cmp]).max(initial=0.0)
    hop = np.hypot(*(net.node_xy[src] - fac_xy).T)
    print(f"  (c) pandana's node distances vs scipy Dijkstra from the same precinct nodes: max "
          f"|difference| {p_err:.3f} m, reach differs at {(p_ok != np.isfinite(node_d)).sum()} "
          f"nodes; precinct to its pandana node: median {np.median(hop):.0f} m, "
          f"max {hop.max():.0f} m")
    if not both.any():
        print("  (c) vs walkshed: no point reached by both within R")
        return
    diff = np.abs(dist[both] - exact.distance_m[both])
    diff_net = np.abs(dist[both] - (exact.distance_m[both] - exact.access_m[both]))
    same = np.mean(poi[both] == exact.facility[both])
    print(f"  (c) vs walkshed within R: {both.sum():,} points reached by both, "
          f"{(ws & ~pd_ok).sum():,} by walkshed only, {(pd_ok & ~ws).sum():,} by pandana only; "
          f"same nearest precinct {same:.1%}")
    print(f"      |pandana - walkshed exact| median {np.median(diff):.1f} m, "
          f"max {diff.max():.1f} m; without walkshed's straight access leg of the point "
          f"(pandana has none) median {np.median(diff_net):.1f} m, max {diff_net.max():.1f} m")


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
    geoms = np.asarray(shapely.linestrings(xy[e]))
    return WalkNetwork(np.arange(n), xy, e[:, 0], e[:, 1], geoms, "EPSG:32643",
                       source=f"generated grid {side}x{side}")


def generated(side: int, n_fac: int, n_pts: int, repeat: int) -> None:
    t0 = time.perf_counter()
    net = generated_network(side)
    t_gen = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    fac_pts = np.asarray(shapely.points(rng.uniform(lo, hi, (n_fac, 2))))
    pts = np.asarray(shapely.points(rng.uniform(lo, hi, (n_pts, 2))))
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
