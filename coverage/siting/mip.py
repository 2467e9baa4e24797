"""The exact layer: the covering models as integer programs for HiGHS."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from .quotas import Quotas

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
    cover: sparse.csr_matrix, weight: np.ndarray, *, p: int | None, need: float | None,
    quotas: Quotas | None = None,
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
    if quotas is not None and quotas.n_districts:
        # at_least_d <= sum of y_j over the district's candidates <= at_most_d
        d = quotas.district
        inside = np.flatnonzero(d >= 0)
        rows = sparse.csr_matrix((np.ones(len(inside)), (d[inside], inside)),
                                 shape=(quotas.n_districts, n + m))
        a = sparse.vstack([a, rows], format="csc")
        lo = np.concatenate([lo, quotas.at_least.astype(np.float64)])
        hi = np.concatenate([hi, quotas.at_most.astype(np.float64)])
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
    start: np.ndarray | None, mip_rel_gap: float, cutoff: float | None = None,
) -> _MipAnswer:
    import highspy

    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    if cutoff is not None:  # a yes/no question: any plan worth at least ``cutoff``?
        h.setOptionValue("objective_bound", -float(cutoff))
        h.setOptionValue("mip_max_improving_sols", 1)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("presolve", "off")
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
    mip_rel_gap: float = 0.0, quotas: Quotas | None = None, cutoff: float | None = None,
) -> _MipAnswer:
    """The integer program of maximal covering (``p``) or of the fewest sites (``need``).

    ``cutoff`` (maximal covering, HiGHS only): look only for plans worth at least this much;
    the solver stops at the first one found, and a finished search without one proves there
    is none.
    """
    n = cover.shape[0]
    model = _build_model(cover, weight, p=p, need=need, quotas=quotas)
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
    if cutoff is not None:
        return _solve_highspy(*model, time_limit_s=time_limit_s, start=start,
                              mip_rel_gap=mip_rel_gap, cutoff=cutoff)
    return fn(*model, time_limit_s=time_limit_s, start=start, mip_rel_gap=mip_rel_gap)
