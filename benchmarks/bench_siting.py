"""Siting: walkshed against spopt's MCLP on Almaty, and p = 50 greedy on a large generated city.

Part 1 (Almaty 2012, ../shared/data or $WALKSHED_TEST_DATA): residents at buildings
(``walkshed.population.demand_from_buildings``, 1,000,000 spread over floor area), the 40
police points fixed, street candidates every ``--spacing`` metres, 10 minutes at 4.5 km/h.
walkshed: ``propose_sites(..., p=10, method="exact")`` from the loaded network to the ranked
answer. spopt: the same candidate x resident distances (computed by walkshed, made dense, ``inf``
where beyond reach), ``MCLP.from_cost_matrix(..., predefined_facilities_arr=police)`` (the
police columns fixed
open, ``p_facilities = p + 40``), solved with PuLP's HiGHS and with CBC; build (PuLP model) and
solve timed apart beside walkshed's coverage matrix and its solve on the same matrix, the
objective checked equal. Target: equal objective, walkshed >= 20x faster.

Part 2: a generated network of about 500,000 nodes (a jittered street grid with gaps), 20,000
candidate sites and 200,000 residents; ``propose_sites(..., p=50, method="auto",
tolerance=0.01)`` (answer proven within 1 %), with the time split into steps and the peak
memory (ru_maxrss) printed. Target: < 60 s and < 4 GB.

Run: ``.venv/bin/python benchmarks/bench_siting.py [--spacing 500] [--skip-spopt]
[--skip-large]``
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from _common import ALMATY, REPO, load, need_data_root
from scipy import sparse

sys.path.insert(0, str(REPO))

from walkshed import settings
from walkshed.network import WalkNetwork
from walkshed.reach import coverage_matrix, nearest_facility
from walkshed.siting import make_candidates, propose_sites, solve_mclp
from walkshed.snap import snap_points

MINUTES = 10.0
SPEED = 4.5


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


# ---------------------------------------------------------------------------------------------
# part 1


def almaty_vs_spopt(spacing: float, p: int, skip_spopt: bool) -> None:
    from walkshed.network import load_network
    from walkshed.population import demand_from_buildings
    from walkshed.precincts import precincts_from_osm

    pbf = need_data_root() / ALMATY / "almaty.osm.pbf"
    net = load_network(pbf, cache=False)
    demand = demand_from_buildings(pbf, net, total=1_000_000.0).points
    police = precincts_from_osm(pbf)
    r = settings.minutes_to_metres(MINUTES, SPEED)
    print(f"Almaty 2012: {net.n_nodes:,} nodes, {len(demand):,} residential buildings, "
          f"{len(police)} police points fixed, candidates every {spacing:g} m, "
          f"{MINUTES:g} min = {r:g} m, p = {p}")

    t0 = time.perf_counter()
    ours = propose_sites(net, demand, police, p=p, threshold_min=MINUTES, walk_speed_kmh=SPEED,
                         spacing_m=spacing, method="exact", time_limit_s=300)
    t_ours = time.perf_counter() - t0
    print(f"  walkshed exact : {t_ours:8.2f} s  newly covered {ours.objective:,.1f}  "
          f"({ours.status}, gap {ours.gap:.2e}; model {ours.model_size}) [{load()}]")
    t0 = time.perf_counter()
    greedy = propose_sites(net, demand, police, p=p, threshold_min=MINUTES,
                           walk_speed_kmh=SPEED, spacing_m=spacing, method="greedy")
    t_greedy = time.perf_counter() - t0
    t0 = time.perf_counter()
    auto = propose_sites(net, demand, police, p=p, threshold_min=MINUTES, walk_speed_kmh=SPEED,
                         spacing_m=spacing, method="auto")
    t_auto = time.perf_counter() - t0
    print(f"  walkshed auto  : {t_auto:8.2f} s  newly covered {auto.objective:,.1f}  "
          f"({auto.status}, gap {auto.gap:.2%}) [{load()}]")
    print(f"  walkshed greedy: {t_greedy:8.2f} s  newly covered {greedy.objective:,.1f}  "
          f"({greedy.status}; {greedy.objective / ours.objective:.4%} of exact)")

    dem = snap_points(net, demand)
    w = demand["population"].to_numpy(dtype=float)
    covered = nearest_facility(net, snap_points(net, police), dem, max_distance_m=r)
    fixed = covered.distance_m <= r
    cand = make_candidates(net, spacing_m=spacing)

    if skip_spopt:
        return
    try:
        import pulp
        from spopt.locate import MCLP
    except ImportError:
        print("  spopt/pulp not installed: comparison skipped")
        return
    # spopt gets the same distances, the police as predefined facilities (columns of the cost
    # matrix fixed open), and p_facilities = p + the fixed ones (its facility constraint counts
    # them); its model is built once per solver, build and solve timed apart.
    psnap = snap_points(net, police)
    t0 = time.perf_counter()
    cover = coverage_matrix(net, cand.snapped, dem, r)
    t_matrix = time.perf_counter() - t0
    pcover = coverage_matrix(net, psnap, dem, r)
    both = sparse.vstack([cover, pcover], format="coo")
    dense = np.full((both.shape[1], both.shape[0]), np.inf)  # residents x facilities
    dense[both.col, both.row] = both.data
    t_dense = time.perf_counter() - t0
    predefined = np.zeros(both.shape[0], dtype=bool)
    predefined[len(cand):] = True
    t0 = time.perf_counter()
    ours_arr = solve_mclp(cover, w, p, covered=fixed, method="auto")
    t_ours_arr = time.perf_counter() - t0
    print(f"  walkshed auto on the same matrix: {t_ours_arr:.2f} s, newly covered "
          f"{ours_arr.objective:,.1f} ({ours_arr.status})")
    base = float(w[fixed].sum())
    solvers = {"HiGHS": lambda: pulp.HiGHS(msg=False), "CBC": lambda: pulp.PULP_CBC_CMD(msg=False)}
    for name, make in solvers.items():
        t0 = time.perf_counter()
        model = MCLP.from_cost_matrix(dense, w, r, p + int(predefined.sum()),
                                      predefined_facilities_arr=predefined)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = model.solve(make())
        t_solve = time.perf_counter() - t0
        theirs = float(pulp.value(model.problem.objective)) - base
        same = abs(theirs - ours.objective) <= 1e-6 * max(1.0, theirs)
        whole = t_dense + t_build + t_solve
        print(f"  spopt MCLP + {name:5s}: build {t_build:7.2f} s, solve {t_solve:7.2f} s, "
              f"whole (with densifying {t_dense:.2f} s) {whole:7.2f} s; newly covered "
              f"{theirs:,.1f} ({pulp.LpStatus[model.problem.status]}); same objective as "
              f"walkshed exact: {same} [{load()}]")
        print(f"    ratios spopt/walkshed: build {t_build / max(t_matrix, 1e-9):.1f}x "
              f"(walkshed's coverage matrix {t_matrix:.2f} s), solve "
              f"{t_solve / max(ours_arr.time_s, 1e-9):.1f}x (auto {ours_arr.time_s:.2f} s), "
              f"whole {whole / t_ours:.1f}x (walkshed exact end to end {t_ours:.2f} s), "
              f"{whole / t_auto:.1f}x (auto end to end {t_auto:.2f} s)")


# ---------------------------------------------------------------------------------------------
# part 2


def generated_city(n_side: int, step: float, seed: int = 1) -> WalkNetwork:
    """A street grid of ``n_side**2`` nodes, ``step`` metres apart, jittered, 8 % edges gone."""
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    xy = np.column_stack([jj.ravel() * step, ii.ravel() * step]).astype(float)
    xy += rng.uniform(-0.2 * step, 0.2 * step, xy.shape)
    xy += np.array([500_000.0, 4_700_000.0])
    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.08
    u, v = u[keep], v[keep]
    coords = np.stack([xy[u], xy[v]], axis=1)
    geoms = shapely.linestrings(coords)
    return WalkNetwork(np.arange(len(xy)), xy, u, v, geoms, "EPSG:32643")


def large(n_nodes: int, n_cand: int, n_dem: int, p: int) -> None:
    t0 = time.perf_counter()
    n_side = math.isqrt(n_nodes)
    net = generated_city(n_side, 100.0)
    rng = np.random.default_rng(2)
    lo = net.node_xy.min(axis=0)
    hi = net.node_xy.max(axis=0)

    def points(n: int) -> np.ndarray:
        return shapely.points(rng.uniform(lo, hi, (n, 2)))

    demand = gpd.GeoDataFrame({"population": rng.gamma(2.0, 20.0, n_dem)},
                              geometry=points(n_dem), crs=net.crs)
    sites = gpd.GeoDataFrame(geometry=points(n_cand), crs=net.crs,
                             index=pd.Index([f"s{i}" for i in range(n_cand)]))
    police = gpd.GeoDataFrame({"name": "P", "status": "open"}, geometry=points(200),
                              crs=net.crs, index=pd.Index([f"p{i}" for i in range(200)]))
    _ = net.adjacency, net.edge_tree
    t_gen = time.perf_counter() - t0
    print(f"\nGenerated city: {net.n_nodes:,} nodes, {net.n_edges:,} edges "
          f"({(hi - lo)[0] / 1000:.0f} x {(hi - lo)[1] / 1000:.0f} km), {n_cand:,} candidates, "
          f"{n_dem:,} residents, 200 open precincts; generated in {t_gen:.1f} s")
    t0 = time.perf_counter()
    res = propose_sites(net, demand, police, p=p, candidates=sites, method="auto",
                        tolerance=0.01, threshold_min=MINUTES, walk_speed_kmh=SPEED,
                        progress=False, phases=0, cache=False)
    t = time.perf_counter() - t0
    print(f"  p = {p} auto (tolerance 1 %): {t:.1f} s end to end (snap, coverage matrix, solve "
          f"{res.time_s:.1f} s, table), peak memory {_peak_gb():.2f} GB [{load()}]")
    print(f"  {res.summary().splitlines()[1]}")
    print(f"  model after reduction: {res.model_size}; status {res.status}; "
          f"bound gap {res.gap:.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spacing", type=float, default=500.0)
    ap.add_argument("--p", type=int, default=10)
    ap.add_argument("--skip-spopt", action="store_true")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--nodes", type=int, default=500_000)
    args = ap.parse_args()
    settings.progress = False
    if not args.skip_large:
        large(args.nodes, 20_000, 200_000, 50)
    almaty_vs_spopt(args.spacing, args.p, args.skip_spopt)


if __name__ == "__main__":
    main()
