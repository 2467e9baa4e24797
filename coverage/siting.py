"""Where new precincts should go: maximal covering and fewest sites for a target share.

The planner's two questions, with the open precincts (and optionally the planned ones) kept:

* "We can build ``p`` more precincts: where?" -- the maximal covering location problem (MCLP,
  Church & ReVelle 1974) with fixed facilities: choose ``p`` candidate sites maximising the
  residents newly brought within the walking threshold.
* "How few new precincts bring X % of residents within 10 minutes?" -- the smallest number of
  candidate sites whose coverage, together with the fixed precincts', reaches the share.

Both are solved exactly as integer programs (HiGHS) with a time limit and the optimality gap
reported, or by lazy greedy (the objective is monotone submodular, so greedy is within
``1 - 1/e`` of the optimum; a sharper online bound is reported too). Before the integer program
is built, residents already covered by a fixed precinct are dropped and residents with the same
set of covering candidates are merged into one weighted row, which usually shrinks the model by
one or two orders of magnitude without changing its optimum.

The public entry point is :func:`propose_sites` (GeoDataFrames in, ranked table out); the
array-level solvers are :func:`solve_mclp` and :func:`solve_min_sites`, in the style of
spopt's ``from_cost_matrix``.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from . import _common, io, settings
from ._errors import input_error
from .network import WalkNetwork
from .reach import coverage_matrix, nearest_facility
from .snap import Snapped, points_in_network_crs, snap_geometries

__all__ = [
    "Candidates",
    "SitingResult",
    "make_candidates",
    "network_candidates",
    "propose_sites",
    "solve_mclp",
    "solve_min_sites",
    "write_csv",
    "write_gpkg",
]

Method = Literal["exact", "greedy", "auto"]

#: The reduced integer program is tried by ``method="auto"`` when it has at most this many
#: nonzeros (coverage pairs after merging residents); larger models go straight to greedy.
_AUTO_MAX_NNZ = 5_000_000


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class SitingResult:
    """The answer of a siting model.

    Attributes
    ----------
    chosen
        Candidate positions of the proposed sites, in rank order (each adds the most residents
        given the ones before it).
    newly_covered
        Demand weight newly covered by each proposed site, in rank order (marginal).
    objective
        Demand weight newly covered by all proposed sites together.
    already_covered
        Demand weight covered by the fixed precincts.
    total
        Total demand weight (all residents, covered or not, reachable or not).
    reachable
        Demand weight covered when every candidate is opened (plus the fixed precincts).
    method
        ``"exact"`` or ``"greedy"`` (what produced ``chosen``).
    status
        Solver status in words (``"optimal"``, ``"time limit"``, ``"greedy"``, ...).
    bound
        For maximal covering, an upper bound on ``objective``; for fewest sites, a lower bound
        on the number of sites.
    gap
        Relative gap between the answer and ``bound`` (0 when proven optimal).
    time_s
        Seconds spent solving (after the coverage matrix was built).
    p
        Number of sites asked for (maximal covering), else ``None``.
    target_share
        Share asked for (fewest sites), else ``None``.
    target_met
        Whether the target share is reached (fewest sites), else ``None``.
    table
        The ranked table (filled by :func:`propose_sites`; ``None`` at array level).
    notes
        Plain-language remarks (candidates dropped, target unreachable, ...).
    model_size
        Rows, columns and nonzeros of the reduced model actually solved.
    greedy_objective
        When the integer program ran: what greedy (with local search) covered, for comparison.
    """

    chosen: np.ndarray
    newly_covered: np.ndarray
    objective: float
    already_covered: float
    total: float
    reachable: float
    method: str
    status: str
    bound: float
    gap: float
    time_s: float
    p: int | None = None
    target_share: float | None = None
    target_met: bool | None = None
    table: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    model_size: dict[str, int] = field(default_factory=dict)
    greedy_objective: float | None = None

    @property
    def covered_share(self) -> float:
        """Share of all demand covered by the fixed precincts and the proposed sites."""
        if self.total <= 0:
            return 0.0
        return (self.already_covered + self.objective) / self.total

    @property
    def base_share(self) -> float:
        """Share of all demand covered by the fixed precincts alone."""
        return self.already_covered / self.total if self.total > 0 else 0.0

    def summary(self) -> str:
        """A few lines in plain words."""
        lines = []
        if self.target_share is not None:
            head = f"Fewest new sites for {self.target_share:.1%} of residents"
        else:
            head = f"Best {self.p} new site(s) (maximal covering)"
        lines.append(f"{head}: {len(self.chosen)} site(s), method {self.method} "
                     f"({self.status}), {self.time_s:.2f} s.")
        lines.append(
            f"Covered now: {self.already_covered:,.0f} of {self.total:,.0f} "
            f"({self.base_share:.1%}); with the new sites: "
            f"{self.already_covered + self.objective:,.0f} ({self.covered_share:.1%}), "
            f"+{self.objective:,.0f}."
        )
        if self.target_share is None:
            lines.append(
                f"Upper bound on newly covered: {self.bound:,.0f} (gap {self.gap:.2%})."
            )
        else:
            lines.append(f"Lower bound on the number of sites: {self.bound:.0f} "
                         f"(gap {self.gap:.2%}).")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------------------------
# model reduction


@dataclass(frozen=True)
class _Reduced:
    """Candidates x merged-demand coverage after dropping what cannot change the answer."""

    cover: sparse.csr_matrix  # bool, (n_candidates, n_groups)
    weight: np.ndarray  # (n_groups,)
    already: float  # weight covered by the fixed facilities
    total: float
    reachable_new: float  # weight coverable by candidates and not yet covered


def _pattern(cover: sparse.spmatrix | np.ndarray) -> sparse.csr_matrix:
    """The sparsity pattern (stored entries, zeros included) as a boolean CSR matrix."""
    if not sparse.issparse(cover):
        arr = np.asarray(cover)
        return sparse.csr_matrix(arr.astype(bool))
    csr = sparse.csr_matrix(cover)
    out = sparse.csr_matrix(
        (np.ones(len(csr.indices), dtype=bool), csr.indices.copy(), csr.indptr.copy()),
        shape=csr.shape,
    )
    out.sum_duplicates()
    return out


def _reduce(
    cover: sparse.spmatrix | np.ndarray, weights: np.ndarray, covered: np.ndarray | None
) -> _Reduced:
    pat = _pattern(cover)
    n_dem = pat.shape[1]
    w = np.asarray(weights, dtype=np.float64).ravel()
    if len(w) != n_dem:
        raise input_error(
            "weights", f"{len(w)} demand weights for {n_dem} demand columns",
            "Give one weight per demand point (column of the coverage matrix)",
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise input_error("weights", "negative or missing demand weights",
                          "Use finite weights >= 0 (e.g. fill missing population with 0)")
    fixed = np.zeros(n_dem, dtype=bool) if covered is None else np.asarray(covered, dtype=bool)
    if len(fixed) != n_dem:
        raise input_error("covered", f"{len(fixed)} flags for {n_dem} demand points",
                          "Give one flag per demand point")
    total = float(w.sum())
    if total <= 0:
        raise input_error("demand", "the total population is 0",
                          "Give demand points with residents (population > 0)")
    already = float(w[fixed].sum())
    n_cov = np.bincount(pat.indices, minlength=n_dem)
    active = np.flatnonzero((w > 0) & ~fixed & (n_cov > 0))
    sub = pat[:, active].T.tocsr()  # demand x candidates
    sub.sort_indices()
    ind, ptr = sub.indices, sub.indptr
    # residents reached by exactly the same candidates are one row of the model
    keys = [ind[ptr[i]:ptr[i + 1]].tobytes() for i in range(len(active))]
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    n_groups = len(uniques)
    gw = np.bincount(codes, weights=w[active], minlength=n_groups)
    first = np.full(n_groups, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    rep = sub[first]  # groups x candidates
    gcover = sparse.csr_matrix(rep.T.tocsr(), dtype=bool)
    gcover.sort_indices()
    return _Reduced(gcover, gw, already, total, float(gw.sum()))


def _gain_of(cover: sparse.csr_matrix, weight: np.ndarray, uncovered: np.ndarray,
             j: int) -> float:
    cols = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
    return float(weight[cols][uncovered[cols]].sum())


def _rank_sites(cover: sparse.csr_matrix, weight: np.ndarray,
                chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order a chosen set greedily (largest marginal first, ties by candidate order)."""
    uncovered = np.ones(len(weight), dtype=bool)
    left = sorted(int(j) for j in chosen)
    order: list[int] = []
    gains: list[float] = []
    while left:
        g = [_gain_of(cover, weight, uncovered, j) for j in left]
        k = int(np.argmax(g))  # first maximum: lowest candidate position
        if g[k] <= 0:
            break  # the rest add no one (an exact solver may open such sites): left out
        j = left.pop(k)
        order.append(j)
        gains.append(g[k])
        uncovered[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = False
    return np.asarray(order, dtype=np.int64), np.asarray(gains, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# lazy greedy


def _lazy_greedy(
    cover: sparse.csr_matrix, weight: np.ndarray, *, p: int | None = None,
    need: float | None = None,
) -> tuple[list[int], list[float], float]:
    """Lazy greedy (Minoux's accelerated greedy) for weighted coverage.

    Stops after ``p`` sites or once ``need`` is covered. Ties go to the lowest candidate
    position, exactly as the plain greedy that rescans every candidate. Returns the sites, their
    marginal gains and the best online upper bound on the optimum for ``p`` sites (the value so
    far plus the ``p`` largest marginal-gain upper bounds still in the queue; Minoux 1978).
    """
    n = cover.shape[0]
    uncovered = np.ones(len(weight), dtype=bool)
    gains0 = np.asarray(cover @ weight).ravel()
    heap = [(-float(gains0[j]), j) for j in range(n) if gains0[j] > 0]
    heapq.heapify(heap)
    fresh = np.full(n, -1, dtype=np.int64)
    chosen: list[int] = []
    marg: list[float] = []
    value = 0.0
    bound = math.inf
    limit = n if p is None else p
    if p is not None:
        bound = float(-sum(g for g, _ in heapq.nsmallest(p, heap)))
    it = 0
    while len(chosen) < limit and heap and (need is None or value < need):
        g, j = heapq.heappop(heap)
        if fresh[j] == it:
            chosen.append(j)
            marg.append(-g)
            value += -g
            uncovered[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = False
            it += 1
            if p is not None:
                top = heapq.nsmallest(p, heap)
                # entries are upper bounds of the true marginal gains (submodularity)
                bound = min(bound, value + float(-sum(t for t, _ in top)))
            continue
        gj = _gain_of(cover, weight, uncovered, j)
        fresh[j] = it
        if gj > 0:
            heapq.heappush(heap, (-gj, j))
    if p is not None and len(chosen) == p:
        # greedy is within 1 - (1 - 1/p)^p >= 1 - 1/e of the optimum
        ratio = 1.0 - (1.0 - 1.0 / p) ** p
        bound = min(bound, value / ratio)
    bound = max(bound, value)
    if not heap:
        bound = value  # every remaining candidate adds nothing: greedy covered all it can
    return chosen, marg, bound


class _State:
    """A set of open sites with per-group cover counts and the gain of adding each candidate.

    ``gain[j]`` is the weight ``j`` would newly cover; it is kept up to date incrementally, so
    adding or removing a site costs only the groups it touches (and the candidates covering
    those), not a pass over the whole matrix.
    """

    def __init__(self, cover: sparse.csr_matrix, cover_t: sparse.csr_matrix,
                 weight: np.ndarray, sites: list[int]) -> None:
        self.cover = cover
        self.cover_t = cover_t
        self.weight = weight
        self.sites = list(sites)
        self.count = np.zeros(cover.shape[1], dtype=np.int64)
        for j in self.sites:
            self.count[self._groups(j)] += 1
        self.gain = np.asarray(cover @ np.where(self.count == 0, weight, 0.0)).ravel()
        self.value = float(weight[self.count > 0].sum())

    def _groups(self, j: int) -> np.ndarray:
        return self.cover.indices[self.cover.indptr[j]:self.cover.indptr[j + 1]]

    def _spread(self, groups: np.ndarray) -> np.ndarray:
        """Weight of ``groups`` summed per candidate covering them (dense ``n_candidates``)."""
        t = self.cover_t
        if len(groups) == 0:
            return np.zeros(self.cover.shape[0])
        starts, ends = t.indptr[groups], t.indptr[groups + 1]
        lens = ends - starts
        idx = np.repeat(ends - np.cumsum(lens), lens) + np.arange(lens.sum())
        return np.bincount(t.indices[idx], weights=np.repeat(self.weight[groups], lens),
                           minlength=self.cover.shape[0])

    def loss(self, j: int) -> tuple[float, np.ndarray]:
        g = self._groups(j)
        only = g[self.count[g] == 1]
        return float(self.weight[only].sum()), only

    def remove(self, j: int) -> None:
        g = self._groups(j)
        self.count[g] -= 1
        freed = g[self.count[g] == 0]
        self.gain += self._spread(freed)
        self.value -= float(self.weight[freed].sum())
        self.sites.remove(j)

    def add(self, j: int) -> None:
        g = self._groups(j)
        new = g[self.count[g] == 0]
        self.count[g] += 1
        self.gain -= self._spread(new)
        self.value += float(self.weight[new].sum())
        self.sites.append(j)

    def best_addition(self, forbidden: list[int]) -> int:
        gains = self.gain.copy()
        gains[self.sites] = -1.0
        if forbidden:
            gains[forbidden] = -1.0
        return int(np.argmax(gains))  # first maximum: lowest position


def _swap_improve(state: _State, *, max_passes: int = 50) -> None:
    """Improve the open sites by single swaps (Teitz & Bart's interchange), in place.

    Each open site in turn is replaced by the best other candidate (largest gain once it is
    gone, lowest position on ties) when that covers strictly more. Repeats until a pass makes
    no change.
    """
    tol = 1e-12 * max(float(state.weight.sum()), 1.0)
    for _ in range(max_passes):
        changed = False
        for s in list(state.sites):
            loss, only = state.loss(s)
            gains = state.gain + state._spread(only)
            gains[state.sites] = -1.0
            best = int(np.argmax(gains))
            if gains[best] > loss + tol:
                state.remove(s)
                state.add(best)
                changed = True
        if not changed:
            break


def _local_search(
    cover: sparse.csr_matrix, weight: np.ndarray, sites: list[int], *, rounds: int, seed: int = 0,
) -> list[int]:
    """Swaps, then iterated local search: drop a few sites at random, refill greedily, swap.

    Deterministic (fixed seed). A round is kept only when it covers strictly more.
    """
    cover_t = cover.T.tocsr()
    state = _State(cover, cover_t, weight, sites)
    _swap_improve(state)
    best, best_value = list(state.sites), state.value
    p = len(best)
    if p < 2:
        return best
    rng = np.random.default_rng(seed)
    k = max(2, p // 5)
    tol = 1e-12 * max(float(weight.sum()), 1.0)
    for _ in range(rounds):
        state = _State(cover, cover_t, weight, best)
        out = [best[i] for i in rng.choice(p, size=min(k, p), replace=False)]
        for j in out:
            state.remove(j)
        while len(state.sites) < p:
            state.add(state.best_addition(out))
        _swap_improve(state)
        if state.value > best_value + tol:
            best, best_value = list(state.sites), state.value
    return best


def _default_rounds(n_candidates: int, p: int) -> int:
    """Local-search rounds: 100, fewer when one round (about ``p`` scans of all candidates,
    a few times over) gets expensive; depends only on the model's size, so stays
    deterministic."""
    return int(max(5, min(100, 2e9 // max(1, 20 * n_candidates * p))))


def _undominated(cover: sparse.csr_matrix) -> np.ndarray:
    """Positions of candidates whose covered set is not contained in another candidate's.

    A candidate covering a subset of what another covers can be left out of the model without
    changing its optimum (swap it for the other). Of candidates with equal sets the first is
    kept, so answers stay deterministic.
    """
    size = np.diff(cover.indptr)
    live = np.flatnonzero(size > 0)
    sub = cover[live].astype(np.int32)
    overlap = (sub @ sub.T).tocoo()
    i, j, o = overlap.row, overlap.col, overlap.data
    si, sj = size[live][i], size[live][j]
    dominated_by = (i != j) & (o == si) & ((sj > si) | ((sj == si) & (j < i)))
    drop = np.zeros(len(live), dtype=bool)
    drop[i[dominated_by]] = True
    return live[~drop]


# ---------------------------------------------------------------------------------------------
# exact: HiGHS
#
# Measured (benchmarks/bench_siting.py, Almaty 2012, 12,434 street candidates x 8,191 buildings,
# police fixed; total solve time with the same greedy start and reduction): p = 10 highspy 2.6 s
# vs scipy.optimize.milp 3.5 s, p = 20 6.9 s vs 8.7 s; on 2,375 candidates both ~0.2 s. It is
# the same solver (scipy.optimize.milp runs HiGHS too); highspy is used because it accepts the
# greedy answer as a starting incumbent (``setSolution``) -- which is where its lead comes from,
# and why a run stopped by the time limit is never worse than greedy -- and it reports the dual
# bound and gap directly. ``scipy.optimize.milp`` stays available (``solver="scipy"``) and is
# the fallback when ``highspy`` cannot be imported.


@dataclass(frozen=True)
class _MipAnswer:
    x: np.ndarray | None  # candidate selection (bool) or None when no solution was found
    objective: float
    bound: float
    gap: float
    status: str


def _build_model(
    cover: sparse.csr_matrix, weight: np.ndarray, *, p: int | None, need: float | None
) -> tuple[np.ndarray, np.ndarray, sparse.csc_matrix, np.ndarray, np.ndarray, np.ndarray,
           np.ndarray]:
    """Variables ``[y_0..y_{n-1}, z_0..z_{m-1}]``; returns c, integrality, A, lo, hi, lb, ub."""
    n, m = cover.shape
    # z_g - sum_{j covers g} y_j <= 0
    cov_t = cover.T.tocsr().astype(np.float64)
    link = sparse.hstack([-cov_t, sparse.identity(m, format="csr")], format="csr")
    if p is not None:
        extra = sparse.csr_matrix(np.concatenate([np.ones(n), np.zeros(m)])[None, :])
        a = sparse.vstack([link, extra], format="csc")
        lo = np.concatenate([np.full(m, -np.inf), [-np.inf]])
        hi = np.concatenate([np.zeros(m), [float(p)]])
        c = np.concatenate([np.zeros(n), -weight])  # minimise -covered
    else:
        assert need is not None
        extra = sparse.csr_matrix(np.concatenate([np.zeros(n), weight])[None, :])
        a = sparse.vstack([link, extra], format="csc")
        lo = np.concatenate([np.full(m, -np.inf), [need]])
        hi = np.concatenate([np.zeros(m), [np.inf]])
        c = np.concatenate([np.ones(n), np.zeros(m)])
    integrality = np.concatenate([np.ones(n), np.zeros(m)]).astype(np.uint8)
    return c, integrality, a, lo, hi, np.zeros(n + m), np.ones(n + m)


_banner_done = False


def _new_highs() -> Any:
    """A silent ``highspy.Highs`` (the first instance prints a banner on the C side)."""
    global _banner_done
    import highspy

    if _banner_done:
        return highspy.Highs()
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            try:
                h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
    except OSError:  # no real stdout (e.g. some notebooks): accept the banner
        h = highspy.Highs()
    _banner_done = True
    return h


def _solve_highspy(
    c: np.ndarray, integrality: np.ndarray, a: sparse.csc_matrix, lo: np.ndarray,
    hi: np.ndarray, lb: np.ndarray, ub: np.ndarray, *, time_limit_s: float,
    start: np.ndarray | None, mip_rel_gap: float,
) -> _MipAnswer:
    import highspy

    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    lp = highspy.HighsLp()
    lp.num_col_ = len(c)
    lp.num_row_ = a.shape[0]
    lp.col_cost_ = c
    lp.col_lower_ = lb
    lp.col_upper_ = ub
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(lo), lo, -inf)
    lp.row_upper_ = np.where(np.isfinite(hi), hi, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if t else highspy.HighsVarType.kContinuous
        for t in integrality
    ]
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(start)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.modelStatusToString(h.getModelStatus()).lower()
    info = h.getInfo()
    has = info.primal_solution_status >= 2  # feasible point available
    x = np.asarray(h.getSolution().col_value) if has else None
    obj = float(info.objective_function_value) if has else math.nan
    return _MipAnswer(x, obj, float(info.mip_dual_bound), float(info.mip_gap), status)


def _solve_scipy(
    c: np.ndarray, integrality: np.ndarray, a: sparse.csc_matrix, lo: np.ndarray,
    hi: np.ndarray, lb: np.ndarray, ub: np.ndarray, *, time_limit_s: float,
    start: np.ndarray | None, mip_rel_gap: float,
) -> _MipAnswer:
    from scipy.optimize import Bounds, LinearConstraint, milp

    res = milp(
        c, integrality=integrality, bounds=Bounds(lb, ub),
        constraints=LinearConstraint(a, lo, hi),
        options={"time_limit": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap),
                 "disp": False},
    )
    x = None if res.x is None else np.asarray(res.x)
    obj = float(res.fun) if x is not None else math.nan
    bound = float(getattr(res, "mip_dual_bound", math.nan))
    gap = float(getattr(res, "mip_gap", math.nan))
    status = {0: "optimal", 1: "time limit"}.get(res.status, str(res.message).lower())
    return _MipAnswer(x, obj, bound, gap, status)


def _mip(
    cover: sparse.csr_matrix, weight: np.ndarray, *, p: int | None, need: float | None,
    time_limit_s: float, start_sites: list[int] | None, solver: str = "highspy",
    mip_rel_gap: float = 0.0,
) -> _MipAnswer:
    n = cover.shape[0]
    model = _build_model(cover, weight, p=p, need=need)
    start = None
    if start_sites is not None:
        y = np.zeros(n)
        y[start_sites] = 1.0
        z = np.minimum(np.asarray(cover.T @ y).ravel(), 1.0)
        start = np.concatenate([y, z])
    fn = _solve_highspy if solver == "highspy" else _solve_scipy
    if solver == "highspy":
        try:
            import highspy  # noqa: F401
        except ImportError:  # pragma: no cover - highspy is a dependency
            fn = _solve_scipy
    return fn(*model, time_limit_s=time_limit_s, start=start, mip_rel_gap=mip_rel_gap)


# ---------------------------------------------------------------------------------------------
# array-level solvers


def _check_method(method: str) -> None:
    if method not in ("exact", "greedy", "auto"):
        raise input_error("method", f"unknown method {method!r}",
                          "Use 'exact', 'greedy' or 'auto'")


def _sel_positions(x: np.ndarray | None, n: int) -> list[int]:
    if x is None:
        return []
    return [int(j) for j in np.flatnonzero(x[:n] > 0.5)]


def solve_mclp(
    cover: sparse.spmatrix | np.ndarray,
    weights: np.ndarray,
    p: int,
    *,
    covered: np.ndarray | None = None,
    method: Method = "auto",
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 0.0,
    solver: Literal["highspy", "scipy"] = "highspy",
    improve: bool = True,
    rounds: int | None = None,
) -> SitingResult:
    r"""Maximal covering with fixed facilities, on a coverage matrix.

    The model (Church & ReVelle 1974), with the demand already covered by fixed facilities
    removed and demand points reached by the same candidates merged into groups :math:`g` with
    weight :math:`w_g`:

    .. math::

        \max \sum_g w_g z_g \quad\text{s.t.}\quad
        z_g \le \sum_{j \in N_g} y_j \;\forall g,\qquad
        \sum_j y_j \le p,\qquad y_j \in \{0,1\},\; 0 \le z_g \le 1

    where :math:`N_g` is the set of candidates within reach of group :math:`g`. The
    :math:`z_g` may stay continuous: for binary :math:`y` an optimal :math:`z` is binary.

    Parameters
    ----------
    cover
        ``(n_candidates, n_demand)`` sparse matrix (or dense boolean array) whose stored
        entries mark coverage (values are ignored, stored zeros count), e.g. from
        :func:`walkshed.reach.coverage_matrix`.
    weights
        ``(n_demand,)`` demand weights (residents), ``>= 0``.
    p
        Number of new sites.
    covered
        ``(n_demand,)`` booleans: demand already covered by fixed facilities (counts as covered,
        adds nothing).
    method
        ``"exact"`` (integer program, HiGHS), ``"greedy"`` (lazy greedy) or ``"auto"`` (greedy,
        then the integer program started from the greedy answer when the model is not huge and
        greedy is not already proven optimal).
    time_limit_s
        Time limit of the integer program; on expiry the best answer found and its gap are
        reported.
    mip_rel_gap
        Relative optimality gap at which the integer program may stop (0: prove optimality).
    solver
        ``"highspy"`` (default) or ``"scipy"`` (``scipy.optimize.milp``; both run HiGHS).
    improve
        Improve the greedy answer by local search before it is used or returned: single swaps
        (Teitz & Bart) and ``rounds`` of iterated local search. The bounds still come from the
        plain greedy run.
    rounds
        Rounds of iterated local search; default 100, fewer on very large models (about
        ``3e9 / (nonzeros x p)``) so that greedy stays fast. Deterministic.

    Returns
    -------
    SitingResult
        ``chosen`` are candidate positions in rank order.

    Notes
    -----
    Results are deterministic: greedy breaks ties by candidate position; HiGHS runs on one
    thread with a fixed seed, so the same inputs give the same sites (among several equally
    good sets it returns one of them, not necessarily the lowest positions).

    Examples
    --------
    >>> import numpy as np
    >>> cover = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=bool)
    >>> res = solve_mclp(cover, np.array([1.0, 5.0, 5.0, 1.0]), 1, method="exact")
    >>> res.chosen.tolist(), res.objective
    ([1], 10.0)
    """
    _check_method(method)
    t0 = time.perf_counter()
    red = _reduce(cover, weights, covered)
    n_cand = red.cover.shape[0]
    if not isinstance(p, (int, np.integer)) or p < 1:
        raise input_error("p", f"must be a whole number >= 1, got {p!r}",
                          "Ask for at least one new site")
    if p > n_cand:
        raise input_error(
            "p", f"{p} new sites asked for but there are only {n_cand} candidate sites",
            "Lower p or add candidate sites (e.g. a smaller candidate spacing)",
        )
    notes: list[str] = []
    greedy_sites, _, gbound = _lazy_greedy(red.cover, red.weight, p=int(p))
    gval = float(red.weight[_covered_mask(red.cover, greedy_sites)].sum())
    proven = gval >= gbound * (1 - 1e-12)
    status = "greedy, proven optimal" if proven else "greedy"
    if improve and not proven and len(greedy_sites) == p:
        n_rounds = _default_rounds(n_cand, int(p)) if rounds is None else int(rounds)
        better = _local_search(red.cover, red.weight, greedy_sites, rounds=n_rounds)
        bval = float(red.weight[_covered_mask(red.cover, better)].sum())
        if bval > gval:
            greedy_sites, gval, status = better, bval, "greedy + local search"
    use_exact = method == "exact" or (
        method == "auto" and not proven and red.cover.nnz <= _AUTO_MAX_NNZ
    )
    size = {"candidates": n_cand, "demand_groups": len(red.weight), "nonzeros": red.cover.nnz}
    if not use_exact:
        chosen, gains = _rank_sites(red.cover, red.weight, np.asarray(greedy_sites))
        return _finish(chosen, gains, red, "greedy", status, gbound, t0, notes, size, p=int(p))
    keep = _undominated(red.cover)
    # a greedy site may be dominated: start the solver from the sites that dominate them
    start = _dominating(red.cover, keep, greedy_sites)
    sub = red.cover[keep]
    ans = _mip(sub, red.weight, p=int(p), need=None, time_limit_s=time_limit_s,
               start_sites=start, solver=solver, mip_rel_gap=mip_rel_gap)
    size["model_candidates"] = len(keep)
    sel = keep[_sel_positions(ans.x, len(keep))]
    val = float(red.weight[_covered_mask(red.cover, list(sel))].sum()) if len(sel) else 0.0
    if val < gval or ans.x is None:  # cannot happen with a warm start; keep greedy if it does
        sel, val = np.asarray(greedy_sites, dtype=np.int64), gval
        notes.append("The integer program found nothing better than greedy in its time limit.")
    bound = -ans.bound if math.isfinite(ans.bound) else gbound
    bound = max(min(bound, gbound), val)
    status = ans.status
    if status == "optimal" and bound - val > 1e-9 * max(1.0, bound):
        status = f"optimal within gap {mip_rel_gap:g}"
    if "time" in status:
        notes.append(f"The integer program stopped at its time limit ({time_limit_s:g} s); "
                     f"the answer is within {(bound - val) / max(bound, 1e-300):.2%} of optimal.")
    if val > gval:
        notes.append(f"Greedy alone covers {gval:,.0f} new, {(val - gval) / val:.2%} less.")
    chosen, gains = _rank_sites(red.cover, red.weight, sel)
    out = _finish(chosen, gains, red, "exact", status, bound, t0, notes, size, p=int(p))
    out.greedy_objective = gval
    return out


def _dominating(cover: sparse.csr_matrix, keep: np.ndarray, sites: list[int]) -> list[int]:
    """Positions in ``keep`` of sites covering at least what each of ``sites`` covers."""
    kept = set(int(k) for k in keep)
    out: list[int] = []
    for j in sites:
        if j in kept:
            k = j
        else:
            cols = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
            sup = np.asarray(cover[keep][:, cols].sum(axis=1)).ravel()
            k = int(keep[int(np.argmax(sup == len(cols)))])
        pos = int(np.searchsorted(keep, k))
        if pos not in out:
            out.append(pos)
    return out


def _to_target(chosen: np.ndarray, gains: np.ndarray,
               need: float) -> tuple[np.ndarray, np.ndarray]:
    """The ranked sites up to the first that reaches ``need``; a set from a solver stopped at
    its time limit can hold sites beyond it that are not needed."""
    k = int(np.searchsorted(np.cumsum(gains), need)) + 1
    return chosen[:k], gains[:k]


def _covered_mask(cover: sparse.csr_matrix, sites: list[int] | np.ndarray) -> np.ndarray:
    mask = np.zeros(cover.shape[1], dtype=bool)
    for j in sites:
        mask[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = True
    return mask


def _finish(
    chosen: np.ndarray, gains: np.ndarray, red: _Reduced, method: str, status: str,
    bound: float, t0: float, notes: list[str], size: dict[str, int], *, p: int | None = None,
    target_share: float | None = None, target_met: bool | None = None,
) -> SitingResult:
    obj = float(gains.sum())
    if p is not None and len(chosen) == 0:
        notes.append("No candidate site brings anyone new within reach: nothing to propose.")
    elif p is not None and len(chosen) < p:
        few = ("Only 1 site of the {p} asked for brings" if len(chosen) == 1
               else "Only {k} of the {p} sites asked for bring")
        notes.append(few.format(k=len(chosen), p=p) + " anyone new within reach; further sites "
                     "would add no one, so fewer are proposed.")
    if target_share is None:
        gap = (bound - obj) / bound if bound > 0 else 0.0
    else:
        gap = (len(chosen) - bound) / len(chosen) if len(chosen) else 0.0
    return SitingResult(
        chosen=chosen, newly_covered=gains, objective=obj, already_covered=red.already,
        total=red.total, reachable=red.already + red.reachable_new, method=method,
        status=status, bound=float(bound), gap=max(0.0, float(gap)),
        time_s=time.perf_counter() - t0, p=p, target_share=target_share, target_met=target_met,
        notes=notes, model_size=size,
    )


def solve_min_sites(
    cover: sparse.spmatrix | np.ndarray,
    weights: np.ndarray,
    target_share: float,
    *,
    covered: np.ndarray | None = None,
    method: Method = "auto",
    time_limit_s: float = 60.0,
    solver: Literal["highspy", "scipy"] = "highspy",
) -> SitingResult:
    r"""Fewest new sites for a target share of all demand, on a coverage matrix.

    With the notation of :func:`solve_mclp`, :math:`W` the total demand and :math:`C` the
    demand already covered by the fixed facilities:

    .. math::

        \min \sum_j y_j \quad\text{s.t.}\quad
        \sum_g w_g z_g \ge sW - C,\qquad z_g \le \sum_{j \in N_g} y_j \;\forall g,\qquad
        y_j \in \{0,1\},\; 0 \le z_g \le 1

    When the share :math:`s` cannot be reached even with every candidate open, the result says
    so (``target_met=False`` and a note) and gives the fewest sites that reach the best
    reachable share instead.

    Parameters
    ----------
    cover, weights, covered, time_limit_s, solver
        As for :func:`solve_mclp`.
    target_share
        Share of all demand (fixed coverage included) to reach, in ``(0, 1]``.
    method
        ``"exact"``, ``"greedy"`` or ``"auto"`` (greedy, then the integer program unless greedy
        meets its lower bound).

    Returns
    -------
    SitingResult
        ``bound`` is a lower bound on the number of sites.
    """
    _check_method(method)
    if not (0.0 < float(target_share) <= 1.0):
        raise input_error("target_share", f"must be in (0, 1], got {target_share!r}",
                          "Give a share such as 0.9 for 90 % of residents")
    t0 = time.perf_counter()
    red = _reduce(cover, weights, covered)
    size = {"candidates": red.cover.shape[0], "demand_groups": len(red.weight),
            "nonzeros": red.cover.nnz}
    notes: list[str] = []
    share = float(target_share)
    # a small tolerance so that a share that is reached "exactly" is not lost to rounding
    need = share * red.total - red.already - 1e-9 * max(red.total, 1.0)
    met = True
    if need > red.reachable_new:
        met = False
        best = (red.already + red.reachable_new) / red.total if red.total > 0 else 0.0
        notes.append(
            f"The target of {share:.1%} cannot be reached: with every candidate site open "
            f"{best:.1%} of residents are within reach. "
            + ("The sites below reach that share." if red.reachable_new > 0
               else "No candidate site brings anyone new within reach.")
        )
        need = red.reachable_new - 1e-9 * max(red.total, 1.0)
    if need <= 0:
        if met:
            notes.append(f"The fixed precincts already cover {red.already / red.total:.1%}: "
                         "no new site is needed.")
        return _finish(np.empty(0, dtype=np.int64), np.empty(0), red, "greedy",
                       "no site needed", 0.0, t0, notes, size, target_share=share,
                       target_met=met)
    sites, _, _ = _lazy_greedy(red.cover, red.weight, need=need)
    # lower bound: the k largest single-site gains must add up to the need
    single = np.sort(np.asarray(red.cover @ red.weight).ravel())[::-1]
    lower = int(np.searchsorted(np.cumsum(single), need) + 1)
    use_exact = method == "exact" or (
        method == "auto" and len(sites) > lower and red.cover.nnz <= _AUTO_MAX_NNZ
    )
    if not use_exact:
        chosen, gains = _to_target(*_rank_sites(red.cover, red.weight, np.asarray(sites)), need)
        status = "greedy, proven optimal" if len(sites) <= lower else "greedy"
        return _finish(chosen, gains, red, "greedy", status, float(lower), t0, notes, size,
                       target_share=share, target_met=met)
    keep = _undominated(red.cover)
    size["model_candidates"] = len(keep)
    ans = _mip(red.cover[keep], red.weight, p=None, need=need, time_limit_s=time_limit_s,
               start_sites=_dominating(red.cover, keep, sites), solver=solver)
    sel = keep[_sel_positions(ans.x, len(keep))]
    if ans.x is None or len(sel) > len(sites):
        sel = np.asarray(sites, dtype=np.int64)
    bound = float(math.ceil(ans.bound - 1e-6)) if math.isfinite(ans.bound) else float(lower)
    chosen, gains = _to_target(*_rank_sites(red.cover, red.weight, sel), need)
    bound = min(max(bound, float(lower)), float(len(chosen)))
    status = ans.status
    if "time" in status:
        notes.append(f"The integer program stopped at its time limit ({time_limit_s:g} s); "
                     f"at least {bound:.0f} sites are needed.")
    return _finish(chosen, gains, red, "exact", status, bound, t0, notes, size,
                   target_share=share, target_met=met)


# ---------------------------------------------------------------------------------------------
# candidates


@dataclass(frozen=True)
class Candidates:
    """Candidate sites placed on the network.

    Attributes
    ----------
    sites
        GeoDataFrame in the network's CRS, index = site id (str), column ``source``
        (``"network"``, ``"user"`` or ``"planned"``); only the usable sites.
    snapped
        Their positions on the network, aligned with ``sites``.
    off_network
        Ids of the given candidates farther than ``max_snap_m`` from any street (dropped).
    excluded
        Number of candidates removed by the exclusion polygons.
    """

    sites: gpd.GeoDataFrame
    snapped: Snapped
    off_network: list[str]
    excluded: int

    def __len__(self) -> int:
        return len(self.sites)


def network_candidates(
    network: WalkNetwork, *, spacing_m: float | None = None
) -> tuple[gpd.GeoDataFrame, Snapped]:
    """Points along the streets, about ``spacing_m`` apart, thinned to one per grid cell.

    Every edge gets ``max(1, round(length / spacing))`` points at the middles of equal pieces;
    then the points are thinned to the first one (in edge order) of each ``spacing x spacing``
    square, so dense junctions do not get crowded with candidates. Points that end up farther
    than ``spacing_m`` by walking from every kept candidate (streets of a square that only
    connect round a long detour) are added back, one per square at a time, so every street
    has a candidate within the spacing. Deterministic.

    Parameters
    ----------
    network
        The walking network.
    spacing_m
        Spacing in metres; default :data:`walkshed.settings.candidate_spacing_m`.

    Returns
    -------
    (GeoDataFrame, Snapped)
        The candidate points (index ``"n0"``, ``"n1"``, ... in the network's CRS) and their
        positions on the network (access distance 0).
    """
    s = settings.candidate_spacing_m if spacing_m is None else float(spacing_m)
    if not s > 0:
        raise input_error("spacing_m", f"must be positive, got {spacing_m!r}",
                          "Use a spacing in metres such as 150")
    length = network.edge_length
    k = np.maximum(1, np.rint(length / s)).astype(np.int64)
    edge = np.repeat(np.arange(network.n_edges), k)
    start = np.repeat(np.cumsum(k) - k, k)
    piece = np.arange(len(edge)) - start
    offset = (piece + 0.5) * length[edge] / k[edge]
    geoms = network.edge_geometry[edge]
    pts = shapely.line_interpolate_point(geoms, offset)
    xy = shapely.get_coordinates(pts)
    cell = np.floor(xy / s).astype(np.int64)
    _, first = np.unique(cell, axis=0, return_index=True)
    first = np.sort(first)
    # A cell's first point does not stand for a street of the same cell that is a long walk
    # away (a yard or quay reached round a block): add back, one per cell and round, the
    # points farther than the spacing by walking from every kept candidate.
    every = Snapped(edge, offset, np.zeros(len(edge)), xy)
    while True:
        near = nearest_facility(network, every.subset(first), every, max_distance_m=s)
        far = np.flatnonzero(~(near.distance_m <= s))
        if len(far) == 0:
            break
        _, pick = np.unique(cell[far], axis=0, return_index=True)
        first = np.concatenate([first, far[np.sort(pick)]])  # earlier ids stay as they were
    snapped = Snapped(edge[first], offset[first], np.zeros(len(first)), xy[first])
    ids = [f"n{i}" for i in range(len(first))]
    gdf = gpd.GeoDataFrame({"source": "network"}, geometry=pts[first],
                           index=pd.Index(ids, name="site"), crs=network.crs)
    return gdf, snapped


def make_candidates(
    network: WalkNetwork,
    *,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | str | None = None,
    precincts: gpd.GeoDataFrame | None = None,
    exclude: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    spacing_m: float | None = None,
    max_snap_m: float | None = None,
) -> Candidates:
    """Candidate sites from the network, a user table or the planned precincts.

    Parameters
    ----------
    network
        The walking network.
    candidates
        ``None`` or ``"network"``: street points (:func:`network_candidates`); ``"planned"``:
        the precincts with status ``planned``; a GeoDataFrame/GeoSeries: the user's sites (any
        CRS; index used as site id).
    precincts
        Needed for ``"planned"``.
    exclude
        Polygons (any CRS) where no site may go; candidates inside are dropped.
    spacing_m
        Spacing of street candidates; default :data:`walkshed.settings.candidate_spacing_m`.
    max_snap_m
        Largest distance from a given site to the street; default
        :data:`walkshed.settings.max_snap_m`.

    Returns
    -------
    Candidates
    """
    off: list[str] = []
    if candidates is None or (isinstance(candidates, str) and candidates == "network"):
        sites, snapped = network_candidates(network, spacing_m=spacing_m)
    else:
        if isinstance(candidates, str):
            if candidates != "planned":
                raise input_error("candidates", f"unknown candidate source {candidates!r}",
                                  "Use 'network', 'planned' or a GeoDataFrame of sites")
            if precincts is None or "status" not in precincts.columns:
                raise input_error("candidates='planned'", "no precincts with a status given",
                                  "Pass the precincts table with a 'status' column")
            given = precincts[precincts["status"] == "planned"]
            if len(given) == 0:
                raise input_error("candidates='planned'", "no precinct has status 'planned'",
                                  "Mark planned precincts or use candidates='network'")
            source = "planned"
        else:
            given = candidates
            source = "user"
        pts = points_in_network_crs(network, given, "candidate sites")
        snapped_all = snap_geometries(network, pts, max_snap_m=max_snap_m)
        ids = pd.Index([str(i) for i in given.index], name="site")
        if ids.has_duplicates:
            raise input_error("candidate sites", "site ids (the index) are not unique",
                              "Give every candidate site its own id")
        ok = snapped_all.ok
        off = [str(ids[int(i)]) for i in np.flatnonzero(~ok)]
        sites = gpd.GeoDataFrame({"source": source}, geometry=pts[ok], index=ids[ok],
                                 crs=network.crs)
        snapped = snapped_all.subset(ok)
        if len(sites) == 0:
            limit = settings.max_snap_m if max_snap_m is None else max_snap_m
            raise input_error(
                "candidate sites",
                f"none of the {len(given)} site(s) is within {limit:g} m of a walkable street",
                "Check the sites' CRS and that they lie in the network's area",
            )
    n_excluded = 0
    if exclude is not None and len(exclude) > 0:
        geom = exclude.geometry if isinstance(exclude, gpd.GeoDataFrame) else exclude
        if geom.crs is None:
            raise input_error("exclusion areas", "have no coordinate reference system (CRS)",
                              "Set it, e.g. gdf.set_crs('EPSG:4326')")
        polys = np.asarray(geom.to_crs(network.crs).values)
        tree = shapely.STRtree(polys)
        hit = tree.query(np.asarray(sites.geometry.values), predicate="intersects")[0]
        drop = np.zeros(len(sites), dtype=bool)
        drop[hit] = True
        n_excluded = int(drop.sum())
        sites = sites[~drop]
        snapped = snapped.subset(~drop)
        if len(sites) == 0:
            raise input_error(
                "exclusion areas", f"they remove all {n_excluded} candidate sites",
                "Use smaller exclusion areas or other candidate sites",
            )
    return Candidates(sites, snapped, off, n_excluded)


# ---------------------------------------------------------------------------------------------
# progress


@contextlib.contextmanager
def _progress(total: int, label: str, enabled: bool | None) -> Iterator[Callable[[int], None]]:
    """A progress callback; a rich bar only on a terminal and when enabled."""
    on = settings.progress if enabled is None else enabled
    if not (on and sys.stderr.isatty()):
        yield lambda k: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda k: bar.advance(task, k)


# ---------------------------------------------------------------------------------------------
# public entry point


def _status_split(precincts: gpd.GeoDataFrame | None, fix: str) -> gpd.GeoDataFrame | None:
    if precincts is None or len(precincts) == 0:
        return None
    if fix not in ("open", "open+planned"):
        raise input_error("fix", f"unknown value {fix!r}", "Use 'open' or 'open+planned'")
    if "status" not in precincts.columns:
        raise input_error("precincts", "no 'status' column",
                          "Add status 'open', 'planned' or 'candidate' to every precinct")
    want = ["open"] if fix == "open" else ["open", "planned"]
    sel = precincts[precincts["status"].isin(want)]
    return sel if len(sel) else None


def propose_sites(
    network: WalkNetwork,
    demand: gpd.GeoDataFrame,
    precincts: gpd.GeoDataFrame | None,
    *,
    p: int | None = None,
    target_share: float | None = None,
    threshold_min: float = 10.0,
    walk_speed_kmh: float | None = None,
    candidates: gpd.GeoDataFrame | gpd.GeoSeries | str | None = None,
    exclude: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    fix: Literal["open", "open+planned"] = "open",
    method: Method = "auto",
    time_limit_s: float = 60.0,
    districts: gpd.GeoDataFrame | None = None,
    spacing_m: float | None = None,
    max_snap_m: float | None = None,
    progress: bool | None = None,
) -> SitingResult:
    """Propose new precinct sites: the best ``p``, or the fewest for a target share.

    Parameters
    ----------
    network
        The walking network.
    demand
        Demand points with a ``population`` column (any CRS).
    precincts
        Precincts with ``status``; the fixed ones (see ``fix``) count as covering already.
        ``None`` for none.
    p
        Number of new sites (maximal covering). Give exactly one of ``p`` and ``target_share``.
    target_share
        Share of all residents to bring within the threshold with the fewest new sites.
    threshold_min
        Walking time in minutes that counts as covered.
    walk_speed_kmh
        Walking speed; default :data:`walkshed.settings.walk_speed_kmh`.
    candidates
        Where sites may go: ``None``/``"network"`` (street points every ``spacing_m``),
        ``"planned"`` (the planned precincts) or a GeoDataFrame of sites.
    exclude
        Polygons where no site may go (parks, water, restricted land).
    fix
        ``"open"`` or ``"open+planned"``: which precincts are kept.
    method
        ``"exact"``, ``"greedy"`` or ``"auto"``; see :func:`solve_mclp`.
    time_limit_s
        Time limit of the integer program.
    districts
        Districts (``name`` + polygons) to label each proposed site.
    spacing_m
        Spacing of street candidates; default :data:`walkshed.settings.candidate_spacing_m`.
    max_snap_m
        Largest access distance; default :data:`walkshed.settings.max_snap_m`.
    progress
        Show a progress bar (on a terminal); default :data:`walkshed.settings.progress`.

    Returns
    -------
    SitingResult
        With ``table``: a GeoDataFrame (network CRS) ranked by marginal gain with ``rank``,
        ``site`` (id), ``source``, ``x``, ``y`` (network CRS), ``lon``, ``lat``,
        ``newly_covered`` (residents this site adds given the higher-ranked ones),
        ``cumulative_share`` (share of all residents covered with the fixed precincts and
        sites up to this rank), ``district`` (when districts are given), ``nearest_open_m``
        (walking distance to the nearest open precinct, ``inf`` when none) and the geometry.
    """
    from .settings import minutes_to_metres

    if (p is None) == (target_share is None):
        raise input_error("p / target_share", "give exactly one of them",
                          "Use p=10 for the best 10 sites or target_share=0.9 for 90 %")
    if not isinstance(demand, gpd.GeoDataFrame) or "population" not in demand.columns:
        raise input_error("demand", "expected a GeoDataFrame with a 'population' column",
                          "Build demand points with walkshed.population")
    if fix == "open+planned" and isinstance(candidates, str) and candidates == "planned":
        raise input_error("fix", "'open+planned' keeps the planned precincts fixed, so they "
                          "cannot also be the candidates", "Use fix='open'")
    r = minutes_to_metres(threshold_min, walk_speed_kmh)
    notes: list[str] = []
    cand = make_candidates(network, candidates=candidates, precincts=precincts,
                           exclude=exclude, spacing_m=spacing_m, max_snap_m=max_snap_m)
    if cand.off_network:
        shown = ", ".join(cand.off_network[:10]) + (" ..." if len(cand.off_network) > 10 else "")
        notes.append(f"{len(cand.off_network)} candidate site(s) are too far from any walkable "
                     f"street and were left out: {shown}.")
    if cand.excluded:
        notes.append(f"{cand.excluded} candidate site(s) fall in the exclusion areas.")
    pts = points_in_network_crs(network, demand, "demand")
    dem = snap_geometries(network, pts, max_snap_m=max_snap_m)
    weights = demand["population"].to_numpy(dtype=np.float64)
    fixed_gdf = _status_split(precincts, fix)
    covered = np.zeros(len(demand), dtype=bool)
    fixed_snap = None
    if fixed_gdf is not None:
        fixed_snap = snap_geometries(
            network, points_in_network_crs(network, fixed_gdf, "precincts"),
            max_snap_m=max_snap_m,
        )
        near = nearest_facility(network, fixed_snap, dem, max_distance_m=r)
        covered = near.distance_m <= r
    if p is not None and isinstance(p, (int, np.integer)) and p > len(cand):
        raise input_error(
            "p", f"{p} new sites asked for but there are only {len(cand)} candidate sites",
            "Lower p or add candidate sites (e.g. a smaller candidate spacing)",
        )
    with _progress(len(cand), "coverage matrix", progress) as tick:
        cover = coverage_matrix(network, cand.snapped, dem, r, progress=tick)
    if p is not None:
        res = solve_mclp(cover, weights, p, covered=covered, method=method,
                         time_limit_s=time_limit_s)
    else:
        assert target_share is not None
        res = solve_min_sites(cover, weights, target_share, covered=covered, method=method,
                              time_limit_s=time_limit_s)
    res.notes[:0] = notes
    res.table = _ranked_table(network, cand, res, precincts, districts, max_snap_m)
    return res


def _ranked_table(
    network: WalkNetwork, cand: Candidates, res: SitingResult,
    precincts: gpd.GeoDataFrame | None, districts: gpd.GeoDataFrame | None,
    max_snap_m: float | None,
) -> gpd.GeoDataFrame:
    pos = res.chosen
    sites = cand.sites.iloc[pos]
    geom = gpd.GeoSeries(sites.geometry.values, crs=network.crs)
    ll = shapely.get_coordinates(np.asarray(geom.to_crs("EPSG:4326").values))
    xy = cand.snapped.xy[pos] if len(pos) else np.empty((0, 2))
    xy_given = shapely.get_coordinates(np.asarray(sites.geometry.values))
    cum = (res.already_covered + np.cumsum(res.newly_covered)) / res.total if res.total > 0 \
        else np.zeros(len(pos))
    table = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(pos) + 1),
            "site": list(sites.index),
            "source": sites["source"].to_numpy(),
            "x": xy_given[:, 0] if len(pos) else np.empty(0),
            "y": xy_given[:, 1] if len(pos) else np.empty(0),
            "lon": ll[:, 0] if len(pos) else np.empty(0),
            "lat": ll[:, 1] if len(pos) else np.empty(0),
            "newly_covered": res.newly_covered,
            "cumulative_share": cum,
        },
        geometry=np.asarray(sites.geometry.values),
        crs=network.crs,
    )
    del xy
    if districts is not None:
        table["district"] = _district_of(network, table, districts)
    opened = None
    if precincts is not None and "status" in precincts.columns:
        opened = precincts[precincts["status"] == "open"]
    if opened is not None and len(opened) and len(pos):
        fsnap = snap_geometries(
            network, points_in_network_crs(network, opened, "precincts"), max_snap_m=max_snap_m
        )
        near = nearest_facility(network, fsnap, cand.snapped.subset(pos))
        table["nearest_open_m"] = near.distance_m
    else:
        table["nearest_open_m"] = np.full(len(pos), np.inf)
    return table


def _district_of(network: WalkNetwork, table: gpd.GeoDataFrame,
                 districts: gpd.GeoDataFrame) -> np.ndarray:
    if "name" not in districts.columns or districts.crs is None:
        raise input_error("districts", "need a 'name' column and a CRS",
                          "Give district polygons with their names and CRS")
    polys = np.asarray(districts.geometry.to_crs(network.crs).values)
    return _common.district_names(np.asarray(table.geometry.values), polys,
                                  districts["name"].astype(str).tolist())


# ---------------------------------------------------------------------------------------------
# writers


def _table_of(obj: SitingResult | pd.DataFrame) -> pd.DataFrame:
    if isinstance(obj, SitingResult):
        if obj.table is None:
            raise input_error("result", "has no ranked table (array-level result)",
                              "Use propose_sites to get a table")
        return obj.table
    return obj


def write_csv(obj: SitingResult | pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the ranked table as CSV (without geometry), atomically.

    Parameters
    ----------
    obj
        A :class:`SitingResult` from :func:`propose_sites` or its table.
    path
        Destination file.

    Returns
    -------
    Path
    """
    table = _table_of(obj)
    frame = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    return io.write_csv(frame, path)


def write_gpkg(
    obj: SitingResult | pd.DataFrame, path: str | os.PathLike[str], *, layer: str = "sites"
) -> Path:
    """Write the ranked table as a GeoPackage layer, atomically (replaces the file).

    Parameters
    ----------
    obj
        A :class:`SitingResult` from :func:`propose_sites` or its table (GeoDataFrame).
    path
        Destination ``.gpkg`` file.
    layer
        Layer name.

    Returns
    -------
    Path
    """
    table = _table_of(obj)
    if not isinstance(table, gpd.GeoDataFrame):
        raise input_error("table", "has no geometry", "Pass the GeoDataFrame from propose_sites")
    # io.write_gpkg writes infinite distances (no open precinct reachable) as NULL
    return io.write_gpkg(table, path, layer=layer)
