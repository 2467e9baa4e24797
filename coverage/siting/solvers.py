"""Array-level solvers: maximal covering and fewest sites on a coverage matrix."""

from __future__ import annotations

import math
import time
from typing import Literal

import numpy as np
from scipy import sparse

from .._errors import input_error
from .greedy import _default_rounds, _lazy_greedy, _local_search
from .mip import _mip
from .reduction import (
    _covered_mask,
    _dominating,
    _rank_sites,
    _reduce,
    _Reduced,
    _to_target,
    _undominated,
)
from .result import SitingResult

Method = Literal["exact", "greedy", "auto"]

#: The reduced integer program is tried by ``method="auto"`` when it has at most this many
#: nonzeros (coverage pairs after merging residents); larger models go straight to greedy.
_AUTO_MAX_NNZ = 5_000_000


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
        return _finish(chosen, gains, red, "greedy", status, gbound, t0, notes=notes,
                       size=size, p=int(p))
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
    out = _finish(chosen, gains, red, "exact", status, bound, t0, notes=notes, size=size, p=int(p))
    out.greedy_objective = gval
    return out


def _finish(
    chosen: np.ndarray, gains: np.ndarray, red: _Reduced, method: str, status: str,
    bound: float, t0: float, *, notes: list[str], size: dict[str, int], p: int | None = None,
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
                       "no site needed", 0.0, t0, notes=notes, size=size, target_share=share,
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
        return _finish(chosen, gains, red, "greedy", status, float(lower), t0, notes=notes,
                       size=size, target_share=share, target_met=met)
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
    return _finish(chosen, gains, red, "exact", status, bound, t0, notes=notes, size=size,
                   target_share=share, target_met=met)
