"""Siting (walkshed.siting) against spopt's published answers, spopt itself and brute force.

Every optimum here is checked against an independent computation: spopt's own test answers on
its San Francisco tables, spopt's MCLP solved with CBC in the same run, enumeration of all
``p``-subsets on small cases, hand-computed distances on a straight street, and on Almaty a
multi-source nearest-precinct search over the fixed and proposed sites together.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from scipy import sparse

from walkshed._errors import InputError
from walkshed.network import WalkNetwork
from walkshed.siting import (
    make_candidates,
    network_candidates,
    propose_sites,
    solve_mclp,
    solve_min_sites,
    write_csv,
    write_gpkg,
)

# ---------------------------------------------------------------------------------------------
# San Francisco (spopt's tables)


def _sf(shared_data: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """spopt's cost matrix (tracts x stores, as spopt's tests pivot it) and tract populations."""
    folder = shared_data / "spopt-sf-coverage"
    if not folder.is_dir():
        pytest.skip("spopt-sf-coverage not in the shared data")
    dist = pd.read_csv(folder / "SF_network_distance_candidateStore_16_censusTract_205_new.csv")
    piv = dist.pivot_table(values="distance", index="DestinationName", columns="name")
    demand = pd.read_csv(folder / "SF_demand_205_centroid_uniform_weight.csv")
    demand = demand.sort_values("NAME")
    assert np.allclose(demand["NAME"].to_numpy(float), np.asarray(piv.index, dtype=float))
    return piv.to_numpy(), demand["POP2000"].to_numpy(float), list(piv.columns), list(piv.index)


def test_sf_matches_spopt_published_answer(shared_data: Path) -> None:
    """spopt's tests (test_mclp.py, TestRealWorldLocate): 5,000 m, p = 4 leaves 21 of 205 tracts
    uncovered, 89.756 % of tracts covered. The chosen stores are spopt 0.7's answer with CBC
    (Store_2, Store_11, Store_12, Store_15; optimum 875,247 residents)."""
    cost, pop, stores, _ = _sf(shared_data)
    cover = sparse.csr_matrix((cost <= 5000.0).T)
    for method in ("exact", "greedy"):
        res = solve_mclp(cover, pop, 4, method=method)
        chosen = sorted(stores[j] for j in res.chosen)
        assert chosen == ["Store_11", "Store_12", "Store_15", "Store_2"], method
        covered = (cost[:, res.chosen] <= 5000.0).any(axis=1)
        assert int((~covered).sum()) == 21
        assert covered.mean() * 100 == pytest.approx(89.75609756097561)
        assert res.objective == pytest.approx(875247.0)
        assert res.objective == pytest.approx(pop[covered].sum())
        assert res.total == pytest.approx(pop.sum())
    assert solve_mclp(cover, pop, 4, method="exact").status == "optimal"


SF_CASES = [(r, p) for r in (1000.0, 2000.0, 5000.0) for p in (1, 2, 3, 4, 5)]


@pytest.mark.parametrize(("radius", "p"), SF_CASES)
def test_sf_against_spopt_run_here(shared_data: Path, radius: float, p: int) -> None:
    """spopt's MCLP.from_cost_matrix solved with PuLP/CBC gives the same covered population."""
    spopt_locate = pytest.importorskip("spopt.locate")
    pulp = pytest.importorskip("pulp")
    cost, pop, _, _ = _sf(shared_data)
    model = spopt_locate.MCLP.from_cost_matrix(cost, pop, radius, p)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    theirs = pulp.value(model.problem.objective)
    sel = [j for j in range(cost.shape[1]) if model.fac_vars[j].value() > 0.5]
    their_cover = pop[(cost[:, sel] <= radius).any(axis=1)].sum()
    assert their_cover == pytest.approx(theirs)
    cover = sparse.csr_matrix((cost <= radius).T)
    for method in ("exact", "greedy", "auto"):
        ours = solve_mclp(cover, pop, p, method=method)
        assert ours.objective == pytest.approx(theirs), method
        assert ours.bound >= theirs * (1 - 1e-9), method  # never below the optimum
        assert pop[(cost[:, ours.chosen] <= radius).any(axis=1)].sum() == pytest.approx(theirs)


# ---------------------------------------------------------------------------------------------
# small cases against brute force


def random_cover(seed: int, n_cand: int = 9, n_dem: int = 30, density: float = 0.18
                 ) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_cand, n_dem)) < density
    # stored zeros are real coverage (a distance of 0): mark some pairs with 0.0
    values = np.where(rng.random((n_cand, n_dem)) < 0.2, 0.0, rng.random((n_cand, n_dem)))
    rows, cols = np.nonzero(dense)
    cover = sparse.csr_matrix((values[rows, cols], (rows, cols)), shape=dense.shape)
    weights = rng.integers(0, 20, n_dem).astype(float)
    covered = rng.random(n_dem) < 0.2
    return cover, weights, covered


def brute_best(cover: sparse.csr_matrix, w: np.ndarray, covered: np.ndarray, p: int
               ) -> tuple[float, tuple[int, ...]]:
    dense = cover.toarray() != 0
    dense |= _stored(cover)
    best, arg = -1.0, tuple[int, ...]()
    for sub in itertools.combinations(range(cover.shape[0]), p):
        reach = dense[list(sub)].any(axis=0) & ~covered
        val = float(w[reach].sum())
        if val > best + 1e-9:
            best, arg = val, sub
    return best, arg


def _stored(cover: sparse.csr_matrix) -> np.ndarray:
    out = np.zeros(cover.shape, dtype=bool)
    coo = cover.tocoo()
    out[coo.row, coo.col] = True
    return out


def covered_by(cover: sparse.csr_matrix, sites: np.ndarray) -> np.ndarray:
    if len(sites) == 0:
        return np.zeros(cover.shape[1], dtype=bool)
    return np.asarray(_stored(cover)[list(sites)].any(axis=0))


@pytest.mark.parametrize("seed", range(12))
def test_mclp_equals_brute_force(seed: int) -> None:
    cover, w, covered = random_cover(seed)
    for p in (1, 2, 3, 4):
        best, _ = brute_best(cover, w, covered, p)
        exact = solve_mclp(cover, w, p, covered=covered, method="exact")
        assert exact.objective == pytest.approx(best)
        # the objective is what the chosen sites newly cover, recomputed from scratch
        newly = covered_by(cover, exact.chosen) & ~covered
        assert exact.objective == pytest.approx(w[newly].sum())
        assert exact.newly_covered.sum() == pytest.approx(exact.objective)
        assert exact.already_covered == pytest.approx(w[covered].sum())
        assert exact.bound >= best - 1e-9 and exact.gap == pytest.approx(0.0, abs=1e-9)
        assert exact.greedy_objective is not None
        assert exact.greedy_objective <= exact.objective + 1e-9
        for improve in (True, False):
            greedy = solve_mclp(cover, w, p, covered=covered, method="greedy", improve=improve)
            assert greedy.objective <= best + 1e-9
            assert greedy.bound >= best - 1e-9  # a true upper bound on the optimum
            if not improve:
                assert greedy.objective >= (1 - 1 / math.e) * best - 1e-9
        # ranked: marginals in rank order are non-increasing for the greedy ordering
        assert np.all(np.diff(exact.newly_covered) <= 1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_mclp_larger_cases_brute_force(seed: int) -> None:
    cover, w, covered = random_cover(100 + seed, n_cand=14, n_dem=60, density=0.12)
    for p in (3, 5):
        best, _ = brute_best(cover, w, covered, p)
        assert solve_mclp(cover, w, p, covered=covered, method="exact").objective \
            == pytest.approx(best)
        assert solve_mclp(cover, w, p, covered=covered, method="auto").objective \
            == pytest.approx(best)
        assert solve_mclp(cover, w, p, covered=covered, method="exact",
                          solver="scipy").objective == pytest.approx(best)


def test_fixed_coverage_counts_as_covered() -> None:
    # site 0 reaches the heavy point, which a fixed precinct already covers
    cover = sparse.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]], dtype=bool))
    w = np.array([100.0, 1.0, 5.0, 5.0])
    free = solve_mclp(cover, w, 1, method="exact")
    assert free.chosen.tolist() == [0] and free.objective == 101.0
    fixed = solve_mclp(cover, w, 1, covered=np.array([True, False, False, False]),
                       method="exact")
    assert fixed.chosen.tolist() == [1] and fixed.objective == 10.0
    assert fixed.already_covered == 100.0
    assert fixed.covered_share == pytest.approx(110.0 / 111.0)


def test_ties_go_to_the_first_candidate_and_results_repeat() -> None:
    # candidates 1 and 3 are identical; 0 and 2 each cover one light point
    cover = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 1, 1]], dtype=bool)
    w = np.array([1.0, 2.0, 2.0])
    for method in ("exact", "greedy", "auto"):
        res = solve_mclp(cover, w, 1, method=method)
        assert res.chosen.tolist() == [1]
        res2 = solve_mclp(cover, w, 2, method=method)
        assert res2.chosen.tolist() == [1, 0]
    a = solve_mclp(*random_cover(3)[:2], 3, method="exact")
    b = solve_mclp(*random_cover(3)[:2], 3, method="exact")
    assert a.chosen.tolist() == b.chosen.tolist()


def test_fewer_useful_sites_than_p_are_proposed_and_said() -> None:
    cover = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1]], dtype=bool)
    w = np.array([1.0, 1.0, 0.0])  # the point only site 3 reaches has no residents
    for method in ("exact", "greedy", "auto"):
        res = solve_mclp(cover, w, 3, method=method)
        assert res.chosen.tolist() == [0]
        assert res.objective == 2.0
        assert any("Only 1 site" in n for n in res.notes)
        # two useful sites of three asked for: said once, with both counts
        res = solve_mclp(cover, np.array([1.0, 1.0, 5.0]), 4, method=method)
        assert res.chosen.tolist() == [3, 0]
        assert [n for n in res.notes if n.startswith("Only")] == [
            "Only 2 of the 4 sites asked for bring anyone new within reach; further sites "
            "would add no one, so fewer are proposed."
        ]


def test_merging_identical_demand_does_not_change_the_answer() -> None:
    cover, w, covered = random_cover(7)
    dup = sparse.hstack([cover, cover, cover], format="csr")
    w3 = np.concatenate([w, w, w])
    c3 = np.concatenate([covered, covered, covered])
    one = solve_mclp(cover, w, 3, covered=covered, method="exact")
    three = solve_mclp(dup, w3, 3, covered=c3, method="exact")
    assert three.objective == pytest.approx(3 * one.objective)
    assert three.model_size["demand_groups"] == one.model_size["demand_groups"]


def test_greedy_is_submodular_greedy_with_lazy_evaluation() -> None:
    """Plain greedy (every candidate rescanned each step) picks the same sites in order."""
    cover, w, covered = random_cover(11, n_cand=25, n_dem=200, density=0.1)
    stored = _stored(cover)
    left = ~covered
    plain: list[int] = []
    for _ in range(6):
        gains = np.array([w[stored[j] & left].sum() for j in range(cover.shape[0])])
        gains[plain] = -1
        j = int(np.argmax(gains))
        plain.append(j)
        left &= ~stored[j]
    lazy = solve_mclp(cover, w, 6, covered=covered, method="greedy", improve=False)
    assert sorted(lazy.chosen.tolist()) == sorted(plain)


def brute_min_sites(cover: sparse.csr_matrix, w: np.ndarray, covered: np.ndarray,
                    share: float) -> int | None:
    need = share * w.sum() - w[covered].sum()
    if need <= 1e-9:
        return 0
    for k in range(1, cover.shape[0] + 1):
        if brute_best(cover, w, covered, k)[0] >= need - 1e-9:
            return k
    return None


@pytest.mark.parametrize("seed", range(8))
def test_min_sites_is_minimal(seed: int) -> None:
    cover, w, covered = random_cover(200 + seed, n_cand=10, n_dem=40, density=0.2)
    everything = covered_by(cover, np.arange(cover.shape[0])) | covered
    best_share = w[everything].sum() / w.sum()
    for share in (0.3, 0.6, 0.9 * best_share, best_share):
        k = brute_min_sites(cover, w, covered, share)
        assert k is not None
        exact = solve_min_sites(cover, w, share, covered=covered, method="exact")
        assert len(exact.chosen) == k
        assert exact.target_met
        reach = covered_by(cover, exact.chosen) | covered
        assert w[reach].sum() >= share * w.sum() - 1e-6
        greedy = solve_min_sites(cover, w, share, covered=covered, method="greedy")
        assert len(greedy.chosen) >= k
        assert greedy.bound <= k  # a true lower bound
        assert w[covered_by(cover, greedy.chosen) | covered].sum() >= share * w.sum() - 1e-6
        auto = solve_min_sites(cover, w, share, covered=covered, method="auto", tolerance=0.0)
        assert auto.bound <= k <= len(auto.chosen)  # the bound is a true lower bound
        n = max(len(auto.chosen), 1)
        assert auto.gap == pytest.approx((len(auto.chosen) - auto.bound) / n)
        assert w[covered_by(cover, auto.chosen) | covered].sum() >= share * w.sum() - 1e-6


def test_min_sites_target_out_of_reach_is_said_plainly() -> None:
    cover = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=bool)
    w = np.array([1.0, 1.0, 1.0, 1.0])
    res = solve_min_sites(cover, w, 0.9, method="exact")
    assert res.target_met is False
    assert res.chosen.tolist() == [2]  # one site reaches the best possible 50 %
    assert res.covered_share == pytest.approx(0.5)
    assert any("cannot be reached" in n and "50.0%" in n for n in res.notes)
    assert "cannot be reached" in res.summary()


def test_min_sites_stopped_solver_keeps_only_the_sites_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An integer program stopped at its time limit may return more sites than the target
    needs; the ranked list ends at the first site that reaches the target."""
    from walkshed import siting

    # five separate groups of 40, 30, 20, 6, 4 residents; 70 % needs the first two sites
    cover = np.eye(5, dtype=bool)
    w = np.array([40.0, 30.0, 20.0, 6.0, 4.0])

    def stopped(c: Any, weight: Any, **kw: Any) -> Any:  # every candidate open, time limit
        return siting._MipAnswer(np.ones(c.shape[0] + c.shape[1]), float(weight.sum()),
                                 1.0, 1.0, "time limit reached")

    monkeypatch.setattr(siting.solvers, "_mip", stopped)
    # and a start no smaller (else the start would be kept): all five sites
    monkeypatch.setattr(siting.solvers, "_lazy_greedy",
                        lambda c, weight, **kw: (list(range(5)), 0, 0))
    res = solve_min_sites(cover, w, 0.7, method="exact")
    assert res.target_met
    assert res.newly_covered.tolist() == [40.0, 30.0]
    assert res.covered_share == pytest.approx(0.7)
    assert res.bound <= len(res.chosen)


def test_min_sites_none_needed() -> None:
    cover = np.array([[1, 0], [0, 1]], dtype=bool)
    res = solve_min_sites(cover, np.array([3.0, 1.0]), 0.7, covered=np.array([True, False]))
    assert len(res.chosen) == 0 and res.target_met


def test_bad_array_inputs() -> None:
    cover = np.array([[1, 0], [0, 1]], dtype=bool)
    w = np.array([1.0, 1.0])
    with pytest.raises(InputError, match="only 2 candidate sites"):
        solve_mclp(cover, w, 3)
    with pytest.raises(InputError, match="p"):
        solve_mclp(cover, w, 0)
    with pytest.raises(InputError, match="method"):
        solve_mclp(cover, w, 1, method="best")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="weights"):
        solve_mclp(cover, np.array([1.0, -1.0]), 1)
    with pytest.raises(InputError, match="weights"):
        solve_mclp(cover, np.array([1.0]), 1)
    with pytest.raises(InputError, match="target_share"):
        solve_min_sites(cover, w, 1.5)
    with pytest.raises(InputError, match="total population is 0"):
        solve_min_sites(cover, np.zeros(2), 0.5)
    res = solve_mclp(np.zeros((2, 2), dtype=bool), w, 1)
    assert len(res.chosen) == 0 and "No candidate site" in res.summary()


def test_time_limit_reports_gap() -> None:
    # a model big enough not to be solved in 0.01 s; answer is still the greedy one or better
    cover, w, covered = random_cover(5, n_cand=300, n_dem=3000, density=0.02)
    greedy = solve_mclp(cover, w, 25, covered=covered, method="greedy")
    res = solve_mclp(cover, w, 25, covered=covered, method="exact", time_limit_s=0.01)
    assert res.objective >= greedy.objective - 1e-9
    assert res.bound >= res.objective
    if res.status != "optimal":
        assert "time" in res.status
        assert res.gap == pytest.approx((res.bound - res.objective) / res.bound)
        assert any("time limit" in n for n in res.notes)


# ---------------------------------------------------------------------------------------------
# a straight street, distances by hand

ORIGIN = np.array([630_000.0, 4_790_000.0])


def street(length: float = 1000.0, step: float = 100.0) -> WalkNetwork:
    """A straight east-west street from x = 0 to ``length``, nodes every ``step`` metres."""
    xs = np.arange(0.0, length + step / 2, step)
    xy = np.column_stack([xs, np.zeros_like(xs)]) + ORIGIN
    n = len(xs)
    geoms = [shapely.LineString([xy[i], xy[i + 1]]) for i in range(n - 1)]
    return WalkNetwork(np.arange(n), xy, np.arange(n - 1), np.arange(1, n),
                       np.asarray(geoms, dtype=object), "EPSG:32643")


def pts(xy: list[tuple[float, float]], **cols: object) -> gpd.GeoDataFrame:
    arr = np.asarray(xy, dtype=float) + ORIGIN
    return gpd.GeoDataFrame(dict(cols), geometry=shapely.points(arr), crs="EPSG:32643")


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A rectangle in metres from the street's origin."""
    return shapely.box(x0 + ORIGIN[0], y0 + ORIGIN[1], x1 + ORIGIN[0], y1 + ORIGIN[1])


def hand_distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Walking distance on the straight street: along it plus both access distances."""
    return abs(a[0] - b[0]) + abs(a[1]) + abs(b[1])


def test_propose_sites_on_a_street_by_hand(tmp_path: Path) -> None:
    net = street()
    homes = [(50.0, 10.0), (120.0, -5.0), (400.0, 20.0), (430.0, 0.0), (800.0, 5.0),
             (980.0, 30.0)]
    pop = [10.0, 20.0, 5.0, 40.0, 30.0, 7.0]
    demand = pts(homes, population=pop)
    sites_xy = [(100.0, 0.0), (420.0, 10.0), (850.0, 0.0), (600.0, 0.0)]
    sites = pts(sites_xy)
    sites.index = pd.Index(["a", "b", "c", "d"])
    prec = pts([(0.0, 0.0), (990.0, 0.0)], name=["P1", "P2"], status=["open", "planned"])
    prec.index = pd.Index(["p1", "p2"])
    speed = 4.5
    minutes = 2.0  # 150 m
    r = minutes * speed * 1000 / 60
    covered = np.array([hand_distance(h, (0.0, 0.0)) <= r for h in homes])
    cov = np.array([[hand_distance(h, s) <= r for h in homes] for s in sites_xy])
    w = np.asarray(pop)
    # by hand: brute force over the 4 candidates
    best = max(
        (float(w[cov[list(c)].any(axis=0) & ~covered].sum()), c)
        for c in itertools.combinations(range(4), 2)
    )
    res = propose_sites(net, demand, prec, p=2, threshold_min=minutes, walk_speed_kmh=speed,
                        candidates=sites, method="exact")
    assert res.objective == pytest.approx(best[0])
    assert res.already_covered == pytest.approx(w[covered].sum())
    table = res.table
    assert table is not None
    assert sorted(table["site"]) == sorted(["abcd"[i] for i in best[1]])
    assert list(table["rank"]) == [1, 2]
    first = "abcd".index(table["site"].iloc[0])
    assert table["newly_covered"].iloc[0] == pytest.approx(w[cov[first] & ~covered].sum())
    assert table["cumulative_share"].iloc[-1] == pytest.approx(
        (w[covered].sum() + best[0]) / w.sum())
    for _, row in table.iterrows():
        s = sites_xy["abcd".index(row["site"])]
        assert row["nearest_open_m"] == pytest.approx(hand_distance(s, (0.0, 0.0)))
        assert row["x"] == pytest.approx(s[0] + ORIGIN[0])
    lonlat = gpd.GeoSeries(table.geometry, crs=net.crs).to_crs("EPSG:4326")
    assert np.allclose(table["lon"], lonlat.x) and np.allclose(table["lat"], lonlat.y)
    # fixing the planned precinct too covers the home at 980 m
    res2 = propose_sites(net, demand, prec, p=2, threshold_min=minutes, walk_speed_kmh=speed,
                         candidates=sites, method="exact", fix="open+planned")
    assert res2.already_covered == pytest.approx(w[covered].sum() + 7.0)
    # writers: CSV and GeoPackage round trip
    csv = write_csv(res, tmp_path / "sites.csv")
    back = pd.read_csv(csv)
    assert list(back["site"]) == list(table["site"])
    assert np.allclose(back["newly_covered"], table["newly_covered"])
    gpkg = write_gpkg(res, tmp_path / "sites.gpkg")
    layer = pyogrio.read_dataframe(gpkg, layer="sites")
    assert list(layer["site"]) == list(table["site"])
    assert layer.crs == net.crs
    # no temporary files left behind, and the permissions a plain open() gives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sites.csv", "sites.gpkg"]
    umask = os.umask(0)
    os.umask(umask)
    assert csv.stat().st_mode & 0o777 == gpkg.stat().st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_writers_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = propose_sites(street(), pts([(100.0, 0.0)], population=[1.0]), None, p=1,
                        threshold_min=1.0, candidates=pts([(100.0, 0.0)]), method="exact")
    real_csv, real_gpkg = pd.DataFrame.to_csv, pyogrio.write_dataframe

    def csv_then_interrupt(self: pd.DataFrame, path: object, **kw: object) -> None:
        real_csv(self, path, **kw)  # type: ignore[call-overload]
        raise KeyboardInterrupt

    def gpkg_then_interrupt(df: object, path: object, **kw: object) -> None:
        real_gpkg(df, path, **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", csv_then_interrupt)
    monkeypatch.setattr(pyogrio, "write_dataframe", gpkg_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_csv(res, tmp_path / "sites.csv")
    with pytest.raises(KeyboardInterrupt):
        write_gpkg(res, tmp_path / "sites.gpkg")
    assert list(tmp_path.iterdir()) == []


def test_districts_label_sites() -> None:
    net = street()
    demand = pts([(100.0, 0.0), (900.0, 0.0)], population=[1.0, 2.0])
    west = box(-10, -10, 500, 10)
    east = box(500, -10, 1010, 10)
    districts = gpd.GeoDataFrame({"name": ["West", "East"]}, geometry=[west, east],
                                 crs="EPSG:32643")
    res = propose_sites(net, demand, None, p=2, threshold_min=1.0, districts=districts,
                        candidates=pts([(100.0, 0.0), (900.0, 0.0)]), method="exact")
    assert res.table is not None
    assert list(res.table["district"]) == ["East", "West"]  # heavier east first
    assert np.isinf(res.table["nearest_open_m"]).all()  # no precincts at all


def test_site_outside_every_district_gets_the_nearest_said() -> None:
    """A site on no polygon gets the nearest district (by shapely distance, recomputed here)
    and says so with the distance; a site inside says "inside"."""
    net = street()
    demand = pts([(100.0, 0.0), (900.0, 0.0)], population=[1.0, 2.0])
    west = box(-10, -10, 500, 10)
    far = box(2000, -10, 2100, 10)
    districts = gpd.GeoDataFrame({"name": ["West", "Far"]}, geometry=[west, far],
                                 crs="EPSG:32643")
    res = propose_sites(net, demand, None, p=2, threshold_min=1.0, districts=districts,
                        candidates=pts([(100.0, 0.0), (900.0, 0.0)]), method="exact")
    assert res.table is not None
    t = res.table.set_index("site")
    east_site = t.index[t.geometry.x > t.geometry.x.min()][0]
    at = t.loc[east_site, "geometry"]
    d = {n: at.distance(g) for n, g in zip(districts["name"], districts.geometry, strict=True)}
    nearest = min(d, key=d.__getitem__)
    assert t.loc[east_site, "district"] == nearest == "West"
    assert t.loc[east_site, "district_by"] == f"nearest, {d[nearest]:,.0f} m"
    west_site = t.index[t.index != east_site][0]
    assert (t.loc[west_site, "district"], t.loc[west_site, "district_by"]) == ("West", "inside")


def test_network_candidates_spacing_and_exclusion() -> None:
    net = street(length=3000.0, step=500.0)
    gdf, snapped = network_candidates(net, spacing_m=150.0)
    xs = snapped.xy[:, 0] - ORIGIN[0]
    # each 500 m edge gets round(500 / 150) = 3 points, at the middles of equal thirds
    assert len(gdf) == 18
    assert np.allclose(np.sort(xs), (np.arange(18) + 0.5) * 500.0 / 3)
    assert np.allclose(snapped.xy, shapely.get_coordinates(np.asarray(gdf.geometry.values)))
    # positions agree with edge + offset
    e = snapped.edge
    assert np.allclose(net.node_xy[net.edge_u[e], 0] + snapped.offset_m, snapped.xy[:, 0])
    park = gpd.GeoDataFrame(geometry=[box(-1, -50, 1000, 50)], crs="EPSG:32643")
    cand = make_candidates(net, exclude=park, spacing_m=150.0)
    assert cand.excluded == int((xs <= 1000).sum())
    assert len(cand) == 18 - cand.excluded
    assert (cand.snapped.xy[:, 0] - ORIGIN[0] > 1000).all()
    everywhere = gpd.GeoDataFrame(geometry=[box(-100, -100, 4000, 4000)], crs="EPSG:32643")
    with pytest.raises(InputError, match="remove all"):
        make_candidates(net, exclude=everywhere, spacing_m=150.0)


def test_bad_inputs_on_the_street() -> None:
    net = street()
    demand = pts([(100.0, 0.0), (900.0, 0.0)], population=[1.0, 2.0])
    sites = pts([(100.0, 0.0), (500.0, 900.0), (900.0, 0.0)])  # the middle one is 900 m off
    sites.index = pd.Index(["west", "far", "east"])
    res = propose_sites(net, demand, None, p=1, candidates=sites, threshold_min=2.0)
    assert any("far" in n and "too far" in n for n in res.notes)
    with pytest.raises(InputError, match="only 2 candidate sites"):
        propose_sites(net, demand, None, p=3, candidates=sites)
    with pytest.raises(InputError, match="none of the"):
        propose_sites(net, demand, None, p=1, candidates=pts([(500.0, 900.0)]))
    with pytest.raises(InputError, match="exactly one"):
        propose_sites(net, demand, None, candidates=sites)
    with pytest.raises(InputError, match="exactly one"):
        propose_sites(net, demand, None, p=1, target_share=0.5, candidates=sites)
    with pytest.raises(InputError, match="population"):
        propose_sites(net, demand.drop(columns="population"), None, p=1, candidates=sites)
    planned = pts([(0.0, 0.0)], status=["open"])
    with pytest.raises(InputError, match="planned"):
        propose_sites(net, demand, planned, p=1, candidates="planned")
    res = propose_sites(net, demand, None, target_share=1.0, candidates=sites,
                        threshold_min=1.0)
    assert res.target_met and len(res.chosen) == 2
    low = propose_sites(net, demand, None, target_share=1.0,
                        candidates=pts([(900.0, 0.0)]), threshold_min=1.0)
    assert low.target_met is False
    assert "cannot be reached" in low.summary()


# ---------------------------------------------------------------------------------------------
# Almaty


@pytest.fixture(scope="module")
def almaty_case(shared_data: Path, almaty_network: WalkNetwork) -> dict[str, object]:
    from walkshed.population import demand_from_buildings
    from walkshed.precincts import precincts_from_osm

    pbf = shared_data / "almaty-osm-2012" / "almaty.osm.pbf"
    net = almaty_network
    demand = demand_from_buildings(pbf, net, total=1_000_000.0).points
    police = precincts_from_osm(pbf)
    return {"net": net, "demand": demand, "police": police}


@pytest.mark.slow
def test_almaty_exact_and_greedy(almaty_case: dict[str, object]) -> None:
    from walkshed.reach import nearest_facility
    from walkshed.snap import snap_points

    net = almaty_case["net"]
    demand = almaty_case["demand"]
    police = almaty_case["police"]
    assert isinstance(net, WalkNetwork)
    assert isinstance(demand, gpd.GeoDataFrame) and isinstance(police, gpd.GeoDataFrame)
    assert len(police) == 40
    cand = make_candidates(net)
    assert len(cand) >= 5000
    exact = propose_sites(net, demand, police, p=10, method="exact", time_limit_s=60)
    greedy = propose_sites(net, demand, police, p=10, method="greedy")
    assert exact.status == "optimal" and exact.gap == pytest.approx(0.0, abs=1e-6)
    assert greedy.objective <= exact.objective + 1e-6
    assert greedy.objective >= 0.99 * exact.objective
    assert greedy.bound >= exact.objective - 1e-6
    auto = propose_sites(net, demand, police, p=10, method="auto")
    assert auto.bound >= exact.objective - 1e-6  # its bound is never below the optimum
    assert auto.objective >= exact.objective * (1 - auto.gap) - 1e-6  # the gap it states
    # independent check: one multi-source search from police + proposed sites together
    r = 10 * 4.5 * 1000 / 60
    dem = snap_points(net, demand)
    assert exact.table is not None
    fac = pd.concat([police.to_crs(net.crs).geometry, exact.table.geometry])
    near = nearest_facility(net, snap_points(net, gpd.GeoDataFrame(geometry=fac)), dem,
                            max_distance_m=r)
    w = demand["population"].to_numpy()
    assert w[near.distance_m <= r].sum() == pytest.approx(
        exact.already_covered + exact.objective, rel=1e-9)
    base = nearest_facility(net, snap_points(net, police), dem, max_distance_m=r)
    assert w[base.distance_m <= r].sum() == pytest.approx(exact.already_covered, rel=1e-9)
    assert exact.table is not None and len(exact.table) == 10
    assert (exact.table["nearest_open_m"] > 0).all()


@pytest.mark.slow
def test_almaty_fewest_sites_is_minimal(almaty_case: dict[str, object]) -> None:
    """Minimality checked by the other model: the best k - 1 sites stay below the target."""
    from walkshed.reach import nearest_facility
    from walkshed.snap import snap_points

    net, demand, police = almaty_case["net"], almaty_case["demand"], almaty_case["police"]
    assert isinstance(net, WalkNetwork)
    assert isinstance(demand, gpd.GeoDataFrame) and isinstance(police, gpd.GeoDataFrame)
    res = propose_sites(net, demand, police, target_share=0.3, method="exact", time_limit_s=60)
    assert res.status == "optimal" and res.target_met
    k = len(res.chosen)
    assert res.bound == k
    fewer = propose_sites(net, demand, police, p=k - 1, method="exact", time_limit_s=60)
    assert fewer.status == "optimal"
    assert fewer.covered_share < 0.3 <= res.covered_share
    assert res.table is not None
    r = 10 * 4.5 * 1000 / 60
    fac = pd.concat([police.to_crs(net.crs).geometry, res.table.geometry])
    near = nearest_facility(net, snap_points(net, gpd.GeoDataFrame(geometry=fac)),
                            snap_points(net, demand), max_distance_m=r)
    w = demand["population"].to_numpy()
    assert w[near.distance_m <= r].sum() / w.sum() == pytest.approx(res.covered_share)


def test_planned_precincts_as_candidates() -> None:
    net = street()
    demand = pts([(100.0, 0.0), (500.0, 0.0), (900.0, 0.0)], population=[1.0, 5.0, 2.0])
    prec = pts([(0.0, 0.0), (480.0, 0.0), (920.0, 0.0), (300.0, 0.0)], name=list("ABCD"),
               status=["open", "planned", "planned", "planned"])
    prec.index = pd.Index(["a", "b", "c", "d"])
    res = propose_sites(net, demand, prec, p=1, candidates="planned", threshold_min=1.0)
    assert res.table is not None
    assert list(res.table["site"]) == ["b"] and res.objective == 5.0
    assert set(res.table["source"]) == {"planned"}
    assert res.table["nearest_open_m"].iloc[0] == pytest.approx(480.0)


def test_network_candidates_reach_streets_behind_a_detour() -> None:
    """Two streets 40 m apart share every 150 m square but join only 900 m away: the far one
    still gets candidates, so every street point has one within the spacing by walking."""
    xy = np.array([(0.0, 0.0), (100.0, 0.0), (1000.0, 0.0), (1000.0, 40.0), (100.0, 40.0),
                   (0.0, 40.0)]) + ORIGIN
    u, v = np.arange(5), np.arange(1, 6)
    geoms = np.asarray([shapely.LineString([xy[a], xy[b]]) for a, b in zip(u, v, strict=True)],
                       dtype=object)
    net = WalkNetwork(np.arange(6), xy, u, v, geoms, "EPSG:32643")
    gdf, snapped = network_candidates(net, spacing_m=150.0)
    c = snapped.xy - ORIGIN
    assert len(set(gdf.index)) == len(gdf)

    def walk(x: float, y: float, cx: float, cy: float) -> float:
        # by hand: along a row; rows meet only through the connector at x = 1000
        if cx == 1000.0 or x == 1000.0:
            return abs(1000.0 - x) + abs(1000.0 - cx) + abs(cy - y)
        if y == cy:
            return abs(x - cx)
        return (1000.0 - x) + 40.0 + (1000.0 - cx)

    for y in (0.0, 40.0):
        for x in np.linspace(0.0, 1000.0, 201):
            assert min(walk(x, y, cx, cy) for cx, cy in c) <= 150.0 + 1e-9, (x, y)
    # the thinning still holds within each row: no two candidates of a row closer than needed
    for y in (0.0, 40.0):
        row = np.sort(c[np.isclose(c[:, 1], y), 0])
        assert len(row) <= 8


# ---------------------------------------------------------------------------------------------
# bounds, auto's tolerance, phases, district quotas (issue 13), against brute force


def brute_best_quota(cover: sparse.csr_matrix, w: np.ndarray, covered: np.ndarray, p: int,
                     quotas: Any) -> float:
    """Best coverage over every plan of at most ``p`` sites honouring the quotas."""
    stored = _stored(cover)
    best = -1.0
    for k in range(p + 1):
        for sub in itertools.combinations(range(cover.shape[0]), k):
            if not quotas.satisfied(list(sub), p):
                continue
            reach = stored[list(sub)].any(axis=0) & ~covered if k else np.zeros(len(w), bool)
            best = max(best, float(w[reach].sum()))
    return best


@pytest.mark.parametrize("seed", range(10))
def test_lagrangian_bound_is_never_below_the_optimum(seed: int) -> None:
    from walkshed.siting.bounds import lagrangian_bound
    from walkshed.siting.reduction import _reduce

    cover, w, covered = random_cover(300 + seed, n_cand=12, n_dem=50, density=0.15)
    red = _reduce(cover, w, covered)
    for p in (1, 2, 3, 5):
        best, _ = brute_best(cover, w, covered, p)
        for target in (0.0, 0.5 * best, best):
            b = lagrangian_bound(red.cover, red.weight, p, target=target)
            assert b.value >= best - 1e-7 * max(best, 1.0)
        for method in ("auto", "greedy", "exact"):
            res = solve_mclp(cover, w, p, covered=covered, method=method)
            assert res.bound >= best - 1e-7 * max(best, 1.0), method
            assert res.objective <= best + 1e-9
            # what the result claims to have proved holds against the brute-force optimum
            assert res.objective >= (1 - res.gap) * best - 1e-7
        auto = solve_mclp(cover, w, p, covered=covered, method="auto", tolerance=0.0)
        assert auto.objective == pytest.approx(best)


@pytest.mark.parametrize("seed", range(10))
def test_lp_bound_fixing_and_short_proof_against_brute_force(seed: int) -> None:
    """The LP bound is never below the optimum; reduced-cost fixing never drops a site of a
    plan that reaches the target (for any multipliers, optimal or not); ``prove_short``
    says "no plan of p sites reaches it" exactly when brute force agrees."""
    from walkshed.siting.lp import _free, lagrangian_value, lp_multipliers, prove_short
    from walkshed.siting.reduction import _reduce, _undominated

    cover, w, covered = random_cover(700 + seed, n_cand=11, n_dem=45, density=0.15)
    red = _reduce(cover, w, covered)
    keep = _undominated(red.cover)
    again = _reduce(red.cover[keep], red.weight, None)
    sub, sw = again.cover, again.weight
    stored = _stored(sparse.csr_matrix(sub))
    rng = np.random.default_rng(seed)
    for p in (1, 2, 3, 4):
        best, _ = brute_best(cover, w, covered, p)
        lam = lp_multipliers(sub, sw, p)
        assert np.all((lam >= 0) & (lam <= sw))
        value, _scores = lagrangian_value(sub, sw, lam, p)
        assert value >= best - 1e-7 * max(best, 1.0)
        # fixing: plans reaching ``need`` only use the candidates kept, whatever the multipliers
        for trial_lam in (lam, rng.random(len(sw)) * sw, sw.copy()):
            tv, tc = lagrangian_value(sub, sw, trial_lam, p)
            for need in (0.8 * best, best, 0.5 * (best + tv)):
                free = _free(tc, tv, p, need, 1e-9)
                for plan in itertools.combinations(range(sub.shape[0]), min(p, sub.shape[0])):
                    if sw[stored[list(plan)].any(axis=0)].sum() >= need:
                        assert free[list(plan)].all(), (p, need, plan)
        for need in (best - 1.0, best, best + 0.5, best + 1.0, 0.97 * value):
            short = prove_short(sub, sw, p, need, time_limit_s=30.0)
            assert short.proved == (best < need - 1e-9 * w.sum()), (p, need, best, short)
            assert short.bound >= best - 1e-7 * max(best, 1.0)
            if short.plan is not None and not short.proved:
                assert len(short.plan) <= p
                assert sw[stored[short.plan].any(axis=0)].sum() >= need - 1e-9 * w.sum()


@pytest.mark.parametrize("seed", range(6))
def test_local_search_stopped_at_a_value_follows_the_same_path(seed: int) -> None:
    """``stop_at`` only cuts the search short: asked for what the full search reaches, the
    stopped search reaches it too (same moves up to there), and never stops below it."""
    from walkshed.siting.greedy import _lazy_greedy, _local_search
    from walkshed.siting.reduction import _reduce

    cover, w, covered = random_cover(950 + seed, n_cand=30, n_dem=120, density=0.05)
    red = _reduce(cover, w, covered)
    stored = _stored(red.cover)

    def value(sites: list[int]) -> float:
        return float(red.weight[stored[sites].any(axis=0)].sum())

    for p in (3, 6):
        g = _lazy_greedy(red.cover, red.weight, p=p)[0]
        full = _local_search(red.cover, red.weight, g, rounds=30)
        for target in (value(g), 0.5 * (value(g) + value(full)), value(full)):
            part = _local_search(red.cover, red.weight, g, rounds=30, stop_at=target)
            assert value(part) >= target - 1e-9
            assert value(part) <= value(full) + 1e-9
        never = _local_search(red.cover, red.weight, g, rounds=30, stop_at=value(full) + 1.0)
        assert never == full


def test_fewest_sites_lp_lower_bound_without_the_integer_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the yes/no integer program left out and weak multipliers (any in ``[0, w]`` give
    a valid bound), the lower bound from them is still never above the brute-force minimum,
    and the gap stated is what the bound gives."""
    from walkshed.siting import lp, solvers

    monkeypatch.setattr(solvers, "_PROVE_MAX_NNZ", 0)
    monkeypatch.setattr(solvers, "_local_search", lambda c, w, sites, **kw: list(sites))
    monkeypatch.setattr(lp, "lp_multipliers", lambda cover, weight, p, **kw: 0.6 * weight)
    open_gap = 0
    for seed in range(12):
        cover, w, covered = random_cover(900 + seed, n_cand=12, n_dem=60, density=0.12)
        everything = covered_by(cover, np.arange(cover.shape[0])) | covered
        top = w[everything].sum() / w.sum()
        for share in (0.4, 0.7 * top, 0.9 * top):
            k = brute_min_sites(cover, w, covered, share)
            assert k is not None
            auto = solve_min_sites(cover, w, share, covered=covered, method="auto",
                                   tolerance=0.99)  # accept any gap: the bound is the LP's
            assert auto.bound <= k <= len(auto.chosen)
            n = len(auto.chosen)
            assert auto.gap == pytest.approx((n - auto.bound) / n)
            assert w[covered_by(cover, auto.chosen) | covered].sum() >= share * w.sum() - 1e-6
            open_gap += auto.bound < n
    assert open_gap > 0  # some answers were not proved: the bound itself was tested


def test_fewest_sites_step_down_by_the_integer_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the heuristic misses a plan with one site fewer, the yes/no integer program finds
    it and the answer is still proved minimal (brute force)."""
    from walkshed.siting import solvers

    monkeypatch.setattr(solvers, "_local_search", lambda c, w, sites, **kw: list(sites))

    def no_fewest_mip(*args: Any, **kw: Any) -> Any:
        raise AssertionError("the proof should not need the fewest-sites integer program")

    monkeypatch.setattr(solvers, "_fewest_mip", no_fewest_mip)
    hits = 0
    for seed in range(12):
        cover, w, covered = random_cover(800 + seed, n_cand=12, n_dem=50, density=0.14)
        everything = covered_by(cover, np.arange(cover.shape[0])) | covered
        top = w[everything].sum() / w.sum()
        for share in (0.5, 0.8 * top, top):
            k = brute_min_sites(cover, w, covered, share)
            greedy = solve_min_sites(cover, w, share, covered=covered, method="greedy")
            res = solve_min_sites(cover, w, share, covered=covered, method="auto",
                                  tolerance=0.0)
            assert len(res.chosen) == k and res.bound == k and res.gap == 0.0
            assert w[covered_by(cover, res.chosen) | covered].sum() >= share * w.sum() - 1e-6
            hits += len(greedy.chosen) > k
    assert hits > 0  # greedy alone missed the minimum somewhere: the step down was tested


@pytest.mark.parametrize("seed", range(6))
def test_auto_within_its_tolerance_of_the_optimum(seed: int) -> None:
    cover, w, covered = random_cover(400 + seed, n_cand=14, n_dem=80, density=0.1)
    for p in (2, 4):
        best, _ = brute_best(cover, w, covered, p)
        for tol in (0.005, 0.05):
            res = solve_mclp(cover, w, p, covered=covered, method="auto", tolerance=tol)
            assert res.objective >= (1 - tol) * best - 1e-9
            assert res.gap <= tol + 1e-12 or res.status.startswith("time")
            assert res.tolerance == tol


@pytest.mark.parametrize("seed", range(8))
def test_quotas_are_honoured_exactly(seed: int) -> None:
    from walkshed.siting.quotas import Quotas

    rng = np.random.default_rng(500 + seed)
    cover, w, covered = random_cover(500 + seed, n_cand=10, n_dem=40, density=0.2)
    district = rng.integers(-1, 3, cover.shape[0])
    for p in (2, 3, 4):
        lo = {int(k): int(rng.integers(0, 2)) for k in range(3)}
        hi = {int(k): int(max(lo[k], rng.integers(0, 3))) for k in range(3)}
        q = Quotas.build(district, lo, hi, ["a", "b", "c"])
        try:
            q.check(p)
        except InputError:
            continue
        best = brute_best_quota(cover, w, covered, p, q)
        if best < 0:
            continue  # no plan honours these quotas
        for method in ("exact", "auto", "greedy"):
            res = solve_mclp(cover, w, p, covered=covered, method=method, quotas=q)
            assert q.satisfied(res.chosen, p), (method, res.chosen, lo, hi)
            newly = covered_by(cover, res.chosen) & ~covered
            assert res.objective == pytest.approx(w[newly].sum())
            assert res.objective <= best + 1e-9
            assert res.bound >= best - 1e-7 * max(best, 1.0)
        exact = solve_mclp(cover, w, p, covered=covered, method="exact", quotas=q)
        assert exact.objective == pytest.approx(best)


def test_quotas_on_a_case_by_hand() -> None:
    from walkshed.siting.quotas import Quotas

    # the two heavy sites are both in district 0, which may get at most one
    cover = np.eye(4, dtype=bool)
    w = np.array([10.0, 9.0, 2.0, 1.0])
    q = Quotas.build(np.array([0, 0, 1, 1]), {1: 1}, {0: 1}, ["west", "east"])
    for method in ("exact", "greedy", "auto"):
        res = solve_mclp(cover, w, 2, method=method, quotas=q)
        assert sorted(res.chosen.tolist()) == [0, 2], method
        # at least two in the east: the light ones, whatever they add
        q2 = Quotas.build(np.array([0, 0, 1, 1]), {1: 2}, None, ["west", "east"])
        res2 = solve_mclp(cover, w, 2, method=method, quotas=q2)
        assert sorted(res2.chosen.tolist()) == [2, 3], method
        few = solve_min_sites(cover, w, 0.5, method=method, quotas=q)
        assert q.satisfied(few.chosen) and few.target_met
    with pytest.raises(InputError, match="at least 3"):
        solve_mclp(cover, w, 2, quotas=Quotas.build(np.array([0, 0, 1, 1]), {0: 1, 1: 2},
                                                    None, ["west", "east"]))


@pytest.mark.parametrize("seed", range(4))
def test_fewest_sites_with_quotas_against_brute_force(seed: int) -> None:
    from walkshed.siting.quotas import Quotas

    rng = np.random.default_rng(600 + seed)
    cover, w, covered = random_cover(600 + seed, n_cand=9, n_dem=30, density=0.25)
    district = rng.integers(0, 2, cover.shape[0])
    q = Quotas.build(district, {0: 1}, {1: 2}, ["a", "b"])
    share = 0.6
    need = share * w.sum() - w[covered].sum()
    k_best = None
    for k in range(0, cover.shape[0] + 1):
        if k >= 1 and brute_best_quota(cover, w, covered, k, q) >= need - 1e-9:
            k_best = k
            break
    for method in ("exact", "greedy", "auto"):
        res = solve_min_sites(cover, w, share, covered=covered, method=method, quotas=q)
        assert q.satisfied(res.chosen), method
        if k_best is None:
            continue
        assert res.target_met
        assert w[covered_by(cover, res.chosen) | covered].sum() >= share * w.sum() - 1e-6
        assert len(res.chosen) >= k_best and res.bound <= k_best
        if method == "exact":
            assert len(res.chosen) == k_best


@pytest.mark.parametrize("seed", range(6))
def test_phases_prefixes_and_best_k_against_brute_force(seed: int) -> None:
    cover, w, covered = random_cover(700 + seed, n_cand=11, n_dem=50, density=0.15)
    for method in ("exact", "auto"):
        res = solve_mclp(cover, w, 4, covered=covered, method=method, phases=4)
        ph = res.phases
        assert ph is not None and list(ph["k"]) == list(range(1, len(res.chosen) + 1))
        for k, row in ph.set_index("k").iterrows():
            # the nested plan: the first k ranked sites, recomputed from scratch
            prefix = covered_by(cover, res.chosen[:k]) & ~covered
            assert row["plan_newly_covered"] == pytest.approx(w[prefix].sum())
            assert row["plan_newly_covered"] == pytest.approx(res.newly_covered[:k].sum())
            best, _ = brute_best(cover, w, covered, int(k))
            assert row["best_bound"] >= best - 1e-7 * max(best, 1.0)
            if method == "exact":
                assert row["best_newly_covered"] == pytest.approx(best)
            else:
                assert row["best_newly_covered"] >= (1 - 0.005) * best - 1e-9
            assert row["price_of_phasing"] == pytest.approx(
                row["best_newly_covered"] - row["plan_newly_covered"])
            assert row["price_of_phasing"] >= -1e-9


def test_phases_in_the_table_and_the_cache(tmp_path: Path) -> None:
    from walkshed import settings
    from walkshed.siting import cache as siting_cache

    net = street(length=3000.0, step=100.0)
    rng = np.random.default_rng(3)
    homes = [(float(x), float(y)) for x, y in zip(rng.uniform(0, 3000, 60),
                                                     rng.uniform(-20, 20, 60), strict=True)]
    demand = pts(homes, population=rng.integers(1, 30, 60).astype(float))
    kw: dict[str, Any] = {"p": 4, "threshold_min": 3.0, "method": "exact", "spacing_m": 150.0}
    folder = tmp_path / "cache"
    old = settings.cache_dir
    settings.cache_dir = folder
    try:
        first = propose_sites(net, demand, None, cache=True, **kw)
        entries = sorted(f.name.split("-")[0] for f in folder.iterdir())
        assert entries == ["candidates", "coverage", "siting"]  # siting-answer-...
        again = propose_sites(net, demand, None, cache=True, **kw)
        fresh = propose_sites(net, demand, None, cache=False, **kw)
        # the answer read back is the answer solved: every field but the time it took
        for f in ("objective", "already_covered", "total", "reachable", "method", "bound",
                  "gap", "p", "target_share", "target_met", "model_size",
                  "greedy_objective", "tolerance"):
            assert getattr(again, f) == getattr(fresh, f), f
        assert np.array_equal(again.chosen, fresh.chosen)
        assert np.array_equal(again.newly_covered, fresh.newly_covered)
        assert again.status == fresh.status and again.notes == fresh.notes
        assert [n.in_language("ru") if hasattr(n, "in_language") else n
                for n in again.notes] == [n.in_language("ru") if hasattr(n, "in_language")
                                          else n for n in fresh.notes]
        assert again.phases is not None and fresh.phases is not None
        pd.testing.assert_frame_equal(again.phases, fresh.phases)
        pd.testing.assert_frame_equal(pd.DataFrame(again.table.drop(columns="geometry")),
                                      pd.DataFrame(fresh.table.drop(columns="geometry")))
        # an unreadable entry is rebuilt, not trusted
        for f in folder.iterdir():
            f.write_bytes(b"not a cache entry")
        broken = propose_sites(net, demand, None, cache=True, **kw)
        assert siting_cache.digest(np.arange(3)) != siting_cache.digest(np.arange(3.0))
    finally:
        settings.cache_dir = old
    for other in (again, fresh, broken):
        assert other.objective == pytest.approx(first.objective)
        assert other.table is not None and first.table is not None
        assert list(other.table["site"]) == list(first.table["site"])
    table = first.table
    assert table is not None and first.phases is not None
    assert np.allclose(table["best_for_k"], first.phases["best_newly_covered"])
    assert (table["best_for_k"] >= np.cumsum(table["newly_covered"]) - 1e-9).all()
    assert any("nested plan" in n for n in first.notes)


def test_district_quotas_through_propose_sites() -> None:
    net = street()
    demand = pts([(100.0, 0.0), (200.0, 0.0), (800.0, 0.0)], population=[10.0, 9.0, 1.0])
    sites = pts([(100.0, 0.0), (200.0, 0.0), (800.0, 0.0)])
    sites.index = pd.Index(["w1", "w2", "e1"])
    districts = gpd.GeoDataFrame({"name": ["West", "East"]},
                                 geometry=[box(-10, -10, 500, 10), box(500, -10, 1010, 10)],
                                 crs="EPSG:32643")
    kw: dict[str, Any] = {"p": 2, "threshold_min": 0.5, "candidates": sites,
                          "districts": districts, "cache": False}
    free = propose_sites(net, demand, None, **kw)
    assert free.table is not None and sorted(free.table["site"]) == ["w1", "w2"]
    for method in ("exact", "greedy", "auto"):
        res = propose_sites(net, demand, None, quotas={"West": (None, 1), "East": (1, None)},
                            method=method, **kw)
        assert res.table is not None
        assert sorted(res.table["site"]) == ["e1", "w1"], method
        assert sorted(res.table["district"]) == ["East", "West"]
    with pytest.raises(InputError, match="no district has that name"):
        propose_sites(net, demand, None, quotas={"North": (1, None)}, **kw)
    with pytest.raises(InputError, match="need the districts"):
        propose_sites(net, demand, None, quotas={"West": (1, None)}, p=2, threshold_min=0.5,
                      candidates=sites, cache=False)


# ---------------------------------------------------------------------------------------------
# street names and addresses (walkshed.siting.places)

HOSTILE_STREET = "{{ 7*7 }}<script>alert(1)</script>${x}"
HOSTILE_ADDR = "<img src=x onerror=alert(1)>{% raw %}&amp;"


def _osm_xml() -> str:
    """A small extract at 60 N, 25 E (0.001 degree of longitude is about 56 m, of latitude
    about 111 m): a named street, an unnamed footway off it, a street with a hostile name, an
    address node, an addressed building and tags that are no address."""
    from xml.sax.saxutils import quoteattr

    nodes = {1: (25.000, 60.000), 2: (25.004, 60.000), 3: (25.008, 60.000),
             4: (25.004, 60.0005), 5: (25.004, 60.003), 6: (25.008, 60.002),
             11: (25.0059, 60.00035), 12: (25.0061, 60.00035), 13: (25.0061, 60.00045),
             14: (25.0059, 60.00045)}
    tags = {100: {"addr:street": "Main Street", "addr:housenumber": "5"},
            101: {"addr:street": HOSTILE_ADDR, "addr:housenumber": "1"},
            102: {"addr:street": "Main Street"}}  # no number: no address
    tagged = {100: (25.002, 60.0003), 101: (25.0083, 60.001), 102: (25.0061, 60.0)}

    def tag_xml(t: dict[str, str]) -> str:
        return "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in t.items())

    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for i, (lon, lat) in {**nodes, **tagged}.items():
        out.append(f'<node id="{i}" version="1" lat="{lat}" lon="{lon}">'
                   f'{tag_xml(tags.get(i, {}))}</node>')
    ways = {
        1: ([1, 2, 3], {"highway": "residential", "name": "Main Street"}),
        2: ([2, 4, 5], {"highway": "footway"}),
        3: ([3, 6], {"highway": "residential", "name": HOSTILE_STREET}),
        4: ([11, 12, 13, 14, 11], {"building": "yes", "addr:street": "Main Street",
                                   "addr:housenumber": "7"}),
    }
    for i, (refs, t) in ways.items():
        nd = "".join(f'<nd ref="{r}"/>' for r in refs)
        out.append(f'<way id="{i}" version="1">{nd}{tag_xml(t)}</way>')
    out.append("</osm>")
    return "\n".join(out)


#: site lon/lat -> (street, address, address lon/lat) known by construction
_PLACES = [
    ((25.002, 60.0), "Main Street", "Main Street 5", (25.002, 60.0003)),
    ((25.0039, 60.0010), "Main Street", "", None),  # by the unnamed footway, 111 m off
    ((25.004, 60.0025), "", "", None),  # footway, every named street > 150 m off
    ((25.008, 60.001), HOSTILE_STREET, HOSTILE_ADDR + " 1", (25.0083, 60.001)),
    ((25.006, 60.0), "Main Street", "Main Street 7", (25.006, 60.0004)),  # building centroid
]


def test_street_and_address_by_construction(tmp_path: Path) -> None:
    import pyproj

    from walkshed.network import load_network
    from walkshed.siting import places
    from walkshed.snap import snap_geometries

    osm = tmp_path / "town.osm"
    osm.write_text(_osm_xml(), encoding="utf-8")
    net = load_network(osm, cache=False)
    info = places.read_places(osm)
    assert info.way_name == {1: "Main Street", 3: HOSTILE_STREET}
    assert sorted(info.address) == sorted(["Main Street 5", HOSTILE_ADDR + " 1",
                                           "Main Street 7"])
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    site_xy = np.asarray([to_xy.transform(*ll) for ll, *_ in _PLACES])
    points = shapely.points(site_xy)
    got = places.site_places(net, points, snap_geometries(net, points).edge, info)
    assert list(got["street"]) == [s for _, s, _, _ in _PLACES]
    assert list(got["address"]) == [a for _, _, a, _ in _PLACES]
    for k, (_, _, _, at) in enumerate(_PLACES):
        if at is None:
            assert np.isnan(got["address_m"][k])
        else:
            want = math.dist(site_xy[k], to_xy.transform(*at))
            assert got["address_m"][k] == pytest.approx(want, abs=0.01)
    # the stated distances decide: closer limits blank what is farther
    near = places.site_places(net, points, snap_geometries(net, points).edge, info,
                              street_within_m=50.0, address_within_m=30.0)
    assert near["street"][1] == "" and near["address"][0] == ""
    assert near["address"][3] == HOSTILE_ADDR + " 1"  # 16.7 m
    # no extract (an online network): blank columns
    none = places.site_places(net, points, snap_geometries(net, points).edge, None)
    assert (none["street"] == "").all() and none["address_m"].isna().all()


def test_propose_sites_names_and_addresses_pass_through_outputs(tmp_path: Path) -> None:
    import pyproj

    osm = tmp_path / "town.osm"
    osm.write_text(_osm_xml(), encoding="utf-8")
    from walkshed.network import load_network

    net = load_network(osm, cache=False)
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    site_xy = [to_xy.transform(*ll) for ll, *_ in _PLACES]
    sites = gpd.GeoDataFrame(geometry=shapely.points(site_xy), crs=net.crs,
                             index=pd.Index([f"s{k}" for k in range(len(_PLACES))]))
    demand = gpd.GeoDataFrame({"population": [1.0] * len(site_xy)},
                              geometry=shapely.points(site_xy), crs=net.crs)
    res = propose_sites(net, demand, None, p=len(_PLACES), threshold_min=0.2,
                        candidates=sites, method="exact", osm_file=osm, phases=0)
    table = res.table
    assert table is not None and len(table) == len(_PLACES)
    for _, row in table.iterrows():
        _, street_, addr, _ = _PLACES[int(str(row["site"])[1:])]
        assert (row["street"], row["address"]) == (street_, addr)
    assert any("no named street within 150 m" in n for n in res.notes)
    assert any("no address" in n and "100 m" in n for n in res.notes)
    back = pd.read_csv(write_csv(res, tmp_path / "s.csv"), keep_default_na=False)
    assert set(back["street"]) == {s for _, s, _, _ in _PLACES}  # verbatim, hostile included
    layer = pyogrio.read_dataframe(write_gpkg(res, tmp_path / "s.gpkg"), layer="sites")
    assert set(layer["address"].fillna("")) == {a for _, _, a, _ in _PLACES}
    online = propose_sites(net, demand, None, p=1, threshold_min=0.2, candidates=sites,
                           method="exact", phases=0)
    assert online.table is not None and online.table["street"].tolist() == [""]
    assert any("none was given" in n for n in online.notes)


def test_online_network_streets_from_the_osmnx_graph(tmp_path: Path) -> None:
    """A network from an osmnx graph keeps its edges' names (also through the network cache):
    the sites get their streets without an extract, and no address."""
    import osmnx as ox
    import pyproj

    from walkshed.network import from_osmnx_graph, read_cache, write_cache
    from walkshed.siting import places
    from walkshed.snap import snap_geometries

    osm = tmp_path / "town.osm"
    osm.write_text(_osm_xml(), encoding="utf-8")
    net = from_osmnx_graph(ox.graph_from_xml(osm, retain_all=True))
    write_cache(net, tmp_path / "net.npz")
    for n in (net, read_cache(tmp_path / "net.npz")):
        to_xy = pyproj.Transformer.from_crs("EPSG:4326", n.crs, always_xy=True)
        points = shapely.points([to_xy.transform(*ll) for ll, *_ in _PLACES])
        got = places.site_places(n, points, snap_geometries(n, points).edge, None)
        # osmnx merges B-C of Main Street with the next street (C joins only those two): an
        # edge of both names says both
        both = "Main Street / " + HOSTILE_STREET
        assert list(got["street"]) == ["Main Street", "Main Street", "", both, both]
        assert (got["address"] == "").all() and got["address_m"].isna().all()


@pytest.mark.parametrize(("city", "fixture"), [
    ("monaco-osm-2020/monaco.osm.pbf", "monaco_network"),
    ("almaty-osm-2012/almaty.osm.pbf", "almaty_network")])
def test_nearest_address_against_gdal_and_brute_force(
    shared_data: Path, city: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    """Addresses read by GDAL's OSM driver (points, and building polygons at their centroid),
    the nearest found by brute force with shapely distances in the UTM CRS."""
    from walkshed.siting import places

    pbf = shared_data / city
    net = request.getfixturevalue(fixture)
    frames = []
    for layer in ("points", "multipolygons"):
        # a degenerate outline (a closed way of two distinct nodes) is mended, not dropped
        f = pyogrio.read_dataframe(pbf, layer=layer, columns=["osm_way_id", "other_tags"]
                                   if layer == "multipolygons" else ["other_tags"],
                                   on_invalid="fix")
        if layer == "multipolygons":
            f = f[f["osm_way_id"].notna()]  # relations are not read by walkshed
        tags = f["other_tags"].fillna("")
        num = tags.str.extract(r'"addr:housenumber"=>"((?:[^"\\]|\\.)*)"')[0]
        st = tags.str.extract(r'"addr:street"=>"((?:[^"\\]|\\.)*)"')[0]
        pl = tags.str.extract(r'"addr:place"=>"((?:[^"\\]|\\.)*)"')[0]
        st = st.fillna(pl)
        ok = num.notna() & st.notna() & (num != "") & (st != "")
        g = f.geometry[ok].to_crs(net.crs)
        frames.append(gpd.GeoDataFrame({"address": (st[ok] + " " + num[ok]).to_numpy()},
                                       geometry=g.centroid.to_numpy(), crs=net.crs))
    ref = pd.concat(frames, ignore_index=True)
    assert len(ref) > 100
    rng = np.random.default_rng(7)
    pick = rng.choice(net.n_edges, size=60, replace=False)
    points = shapely.line_interpolate_point(net.edge_geometry[pick], 0.5, normalized=True)
    got = places.site_places(net, points, pick, places.read_places(pbf))
    assert len(places.read_places(pbf).address) == len(ref)
    refg = np.asarray(ref.geometry.values)
    found = 0
    for k, pt in enumerate(points):
        d = shapely.distance(pt, refg)
        j = int(np.argmin(d))
        if d[j] <= places.ADDRESS_WITHIN_M:
            found += 1
            assert got["address_m"][k] == pytest.approx(d[j], abs=0.05)
            assert got["address"][k] in set(ref["address"][np.abs(d - d[j]) < 0.05])
        else:
            assert got["address"][k] == "" and np.isnan(got["address_m"][k])
    assert found > 0
    # the street: the name of the edge's way, as GDAL reads it
    lines = pyogrio.read_dataframe(pbf, layer="lines", columns=["osm_id", "name"])
    name_of = dict(zip(lines["osm_id"].astype(np.int64), lines["name"].fillna(""), strict=True))
    for k, e in enumerate(pick):
        own = name_of.get(int(net.edge_osmid[e]), "")
        if own:
            assert got["street"][k] == own


def test_hostile_names_reach_every_output_verbatim(tmp_path: Path) -> None:
    """A run on the small extract: template and HTML payloads in `name` and `addr:street` are
    the same text in the CSV, the workbook, both GeoPackages, summary.json and the map's data,
    and never markup in the page."""
    import json

    import openpyxl
    import pyproj

    from walkshed import pipeline
    from walkshed.network import load_network

    osm = tmp_path / "town.osm"
    osm.write_text(_osm_xml(), encoding="utf-8")
    net = load_network(osm, cache=False)
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    site_xy = [to_xy.transform(*ll) for ll, *_ in _PLACES]
    demand = gpd.GeoDataFrame({"population": [10.0] * len(site_xy)},
                              geometry=shapely.points(site_xy), crs=net.crs)
    prec = gpd.GeoDataFrame({"name": ["P"], "status": ["open"]},
                            geometry=shapely.points([to_xy.transform(25.0, 60.0)]),
                            crs=net.crs, index=pd.Index(["p1"]))
    study = pipeline.Study(name="town", network=net, demand=demand, precincts=prec,
                           siting_options={"fix": "open", "osm_file": str(osm),
                                           "threshold_min": 0.2})
    out = tmp_path / "out"
    pipeline.run(study, out, p=3, method="exact", outputs=frozenset({"tables", "sites", "map"}),
                 offline=True)
    csv = pd.read_csv(out / "proposed_sites.csv", keep_default_na=False)
    hostile = csv[csv["street"] == HOSTILE_STREET]
    assert len(hostile) == 1 and hostile["address"].iloc[0] == HOSTILE_ADDR + " 1"
    sheet = openpyxl.load_workbook(out / "walkshed.xlsx")["proposed_sites"]
    values = [c.value for row in sheet.iter_rows(min_row=2) for c in row]
    assert HOSTILE_STREET in values and HOSTILE_ADDR + " 1" in values
    for f, layer in (("proposed_sites.gpkg", "proposed_sites"), ("walkshed.gpkg",
                                                                 "proposed_sites")):
        g = pyogrio.read_dataframe(out / f, layer=layer)
        assert g["street"].tolist() == csv["street"].tolist()
        assert g["address"].fillna("").tolist() == csv["address"].tolist()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    sites = summary["proposed_sites"]["sites"]
    assert [s["street"] for s in sites] == csv["street"].tolist()
    assert [s["address_m"] is None for s in sites] == (csv["address"] == "").tolist()
    page = (out / "coverage_map.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    start = page.index('id="walkshed-data">') + len('id="walkshed-data">')
    data = page[start:page.index("</script>", start)]
    assert HOSTILE_STREET in json.dumps(json.loads(data), ensure_ascii=False)


def _answer(status: str, gap: float, notes: list[Any]) -> Any:
    from walkshed.siting.result import SitingResult

    return SitingResult(chosen=np.array([2, 0]), newly_covered=np.array([5.0, 3.0]),
                        objective=8.0, already_covered=1.0, total=20.0, reachable=15.0,
                        method="greedy", status=status, bound=8.0 / (1 - gap), gap=gap,
                        time_s=1.5, p=2, notes=notes, model_size={"rows": 3},
                        greedy_objective=8.0, tolerance=0.005)


def test_cached_answer_keeps_sentences_and_skips_cut_short_answers(tmp_path: Path) -> None:
    from walkshed.i18n import Figure, message, message_n
    from walkshed.siting import cache as siting_cache

    notes = [message("Greedy alone covers {n} new, {share} less.", n=Figure.number(1234),
                     share=Figure.percent(0.0123, 2)),
             message_n("{n} candidate site falls in the exclusion areas.",
                       "{n} candidate sites fall in the exclusion areas.", 3),
             "a plain note"]
    solved = _answer("optimal", 0.0, notes)
    calls: list[int] = []

    def solve() -> Any:
        calls.append(1)
        return solved

    first = siting_cache.cached_answer("k1", solve, use=True, cache_dir=tmp_path)
    again = siting_cache.cached_answer("k1", solve, use=True, cache_dir=tmp_path)
    assert len(calls) == 1 and first is solved and again is not solved
    assert [type(n).__name__ for n in again.notes] == ["Message", "Message", "str"]
    assert [str(n) for n in again.notes] == [str(n) for n in notes]
    # said in Russian from the cache as from the solver (figures written per locale)
    assert again.notes[0].in_language("ru") == notes[0].in_language("ru")
    assert again.notes[1].in_language("kk") == notes[1].in_language("kk")
    assert np.array_equal(again.chosen, solved.chosen) and again.objective == 8.0
    assert again.model_size == {"rows": 3} and again.tolerance == 0.005
    # an answer cut short by a time limit above its tolerance is solved again next time
    cut = _answer("time limit", 0.05, [])
    siting_cache.cached_answer("k2", lambda: cut, use=True, cache_dir=tmp_path)
    assert not siting_cache.entry_path("siting-answer", "k2", tmp_path).exists()
    # within its tolerance it is kept
    near = _answer("time limit", 0.001, [])
    siting_cache.cached_answer("k3", lambda: near, use=True, cache_dir=tmp_path)
    assert siting_cache.entry_path("siting-answer", "k3", tmp_path).exists()


def test_cached_answer_distrusts_a_hostile_entry(tmp_path: Path) -> None:
    import json

    from walkshed.siting import cache as siting_cache

    solved = _answer("optimal", 0.0, ["a plain note"])
    siting_cache.cached_answer("k", lambda: solved, use=True, cache_dir=tmp_path)
    entry = siting_cache.entry_path("siting-answer", "k", tmp_path)
    with np.load(entry, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    head = json.loads(str(data["head"]))
    # a "sentence" that would read attributes of its fields when formatted
    head["notes"] = [{"$message": ["{n.__class__.__init__.__globals__}", None, None,
                                   {"n": 1}]}]
    data["head"] = np.asarray(json.dumps(head))
    with open(entry, "wb") as f:
        np.savez(f, **data)
    fresh = _answer("optimal", 0.0, ["solved again"])
    got = siting_cache.cached_answer("k", lambda: fresh, use=True, cache_dir=tmp_path)
    assert got is fresh  # not read: solved again
    entry.write_bytes(b"PK\x03\x04 not a zip")
    assert siting_cache.cached_answer("k", lambda: fresh, use=True, cache_dir=tmp_path) is fresh


@pytest.mark.parametrize("tamper", ["negative", "out_of_range", "repeated", "objective",
                                    "gain", "phases"])
def test_a_cached_answer_not_of_this_model_is_solved_again(tmp_path: Path, tamper: str,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """An entry whose sites or figures are not those of the model (edited, or from a bug) is
    checked against the coverage matrix, solved again and replaced: the planner sees the
    solver's answer, never the entry's."""
    import json

    from walkshed import settings
    from walkshed.siting import cache as siting_cache

    monkeypatch.setattr(settings, "cache_dir", tmp_path)
    net = street(length=3000.0, step=100.0)
    rng = np.random.default_rng(5)
    homes = [(float(x), float(y)) for x, y in zip(rng.uniform(0, 3000, 60),
                                                     rng.uniform(-20, 20, 60), strict=True)]
    demand = pts(homes, population=rng.integers(1, 30, 60).astype(float))
    kw: dict[str, Any] = {"p": 3, "threshold_min": 3.0, "method": "exact", "spacing_m": 150.0,
                          "cache": True}
    fresh = propose_sites(net, demand, None, **kw)
    (entry,) = tmp_path.glob("siting-answer-*.npz")
    with np.load(entry, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    head = json.loads(str(data["head"]))
    if tamper == "negative":
        data["chosen"] = -1 - data["chosen"]
    elif tamper == "out_of_range":
        data["chosen"] = data["chosen"] + 10_000
    elif tamper == "repeated":
        data["chosen"] = np.repeat(data["chosen"][:1], len(data["chosen"]))
    elif tamper == "objective":
        head["objective"] = 1e9
    elif tamper == "gain":
        data["newly_covered"] = data["newly_covered"][::-1].copy()
    else:
        data["phase_plan_newly_covered"] = data["phase_plan_newly_covered"] * 2
    data["head"] = np.asarray(json.dumps(head))
    with open(entry, "wb") as f:
        np.savez(f, **data)
    again = propose_sites(net, demand, None, **kw)
    assert np.array_equal(again.chosen, fresh.chosen) and again.objective == fresh.objective
    assert np.array_equal(again.newly_covered, fresh.newly_covered)
    assert again.phases is not None and fresh.phases is not None
    pd.testing.assert_frame_equal(again.phases, fresh.phases)
    assert list(again.table["site"]) == list(fresh.table["site"])
    # replaced by the solver's answer, which the next run reads (and checks) without solving
    with np.load(entry, allow_pickle=False) as z:
        assert np.array_equal(z["chosen"], fresh.chosen)
        assert np.array_equal(z["newly_covered"], fresh.newly_covered)
        assert json.loads(str(z["head"]))["objective"] == fresh.objective
    monkeypatch.setattr(siting_cache, "_complete", lambda res: pytest.fail("solved again"))
    read = propose_sites(net, demand, None, **kw)
    assert np.array_equal(read.chosen, fresh.chosen)


def test_result_entries_kept_to_the_most_recently_used(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Each kind of a run's results keeps its most recently used entries (read or written)
    up to ``settings.cache_results_kept``; other kinds are never removed."""
    import time as _time

    from walkshed import settings
    from walkshed.siting import cache as siting_cache

    monkeypatch.setattr(settings, "cache_results_kept", 2)
    store = {"x": np.arange(3)}

    def put(kind: str, key: str) -> None:
        siting_cache.cached_arrays(kind, key, lambda: store, use=True, cache_dir=tmp_path)
        _time.sleep(0.02)  # distinct times

    put("assessment", "a1")
    put("assessment", "a2")
    put("assessment", "a1")  # read: a1 is now the most recently used
    put("assessment", "a3")  # a2, the least recently used, goes
    for key in ("c1", "c2", "c3"):
        put("coverage", key)  # not a result kind: all kept
    left = {p.name for p in tmp_path.glob("*.npz")}
    want = {siting_cache.entry_path(kind, key, tmp_path).name for kind, key in (
        ("assessment", "a1"), ("assessment", "a3"),
        ("coverage", "c1"), ("coverage", "c2"), ("coverage", "c3"))}
    assert left == want
