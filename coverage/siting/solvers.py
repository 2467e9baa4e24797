"""Array-level solvers: maximal covering and fewest sites on a coverage matrix.

Every answer comes with a proved bound. ``method="auto"`` (the default) is greedy with local
search, bounded by the Lagrangian relaxation (:mod:`.bounds`); the integer program (HiGHS) runs
only when that bound leaves a gap above ``tolerance``, started from the greedy answer and
stopped at that gap or at its time limit. ``"exact"`` always proves optimality (or says how far
it got); ``"greedy"`` never starts the integer program.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import input_error
from ..i18n import Figure
from ..i18n import message as _
from ..i18n import message_n as _n
from .bounds import lagrangian_bound
from .greedy import _default_rounds, _lazy_greedy, _local_search
from .lp import prove_short
from .mip import _mip
from .quotas import Quotas
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
#: nonzeros (coverage pairs after merging residents); larger models keep the bounded greedy.
_AUTO_MAX_NNZ = 5_000_000

#: Time budget of the integer program under ``method="auto"`` (seconds; ``time_limit_s``
#: when smaller); for the fewest sites it counts from the start of the solve, so the bound's
#: time comes out of it. ``"exact"`` uses ``time_limit_s``.
AUTO_MIP_BUDGET_S = 10.0

#: Work budget of one Lagrangian bound, in coverage pairs visited (nonzeros x iterations):
#: about 5 s at the 2 ns per pair measured on Almaty on a loaded 2-core machine. The bounds
#: stop after a number of iterations (this budget over the model's nonzeros, at most 1,500),
#: never after a time, so that the same inputs give the same bound whatever the load.
BOUND_WORK = 2.5e9

#: Share of :data:`BOUND_WORK` for the lower bound on the fewest sites (two runs).
AUTO_BOUND_SHARE = 0.6

#: Share of :data:`BOUND_WORK` for the bounds of all phases together (``"auto"``, ``"greedy"``).
PHASES_BOUND_SHARE = 1.0

#: Iterations of one bound: at least this many, at most ``max_iter``.
_MIN_BOUND_ITER = 20
_MAX_BOUND_ITER = 1500


def _bound_iter(nnz: int, share: float = 1.0) -> int:
    """Iterations of one Lagrangian bound on a model with ``nnz`` coverage pairs."""
    n = int(BOUND_WORK * share / max(int(nnz), 1))
    return max(_MIN_BOUND_ITER, min(_MAX_BOUND_ITER, n))

#: Default relative gap below which ``method="auto"`` accepts an answer without the MIP.
DEFAULT_TOLERANCE = 0.005


# ---------------------------------------------------------------------------------------------
# shared pieces


def _check_method(method: str) -> None:
    if method not in ("exact", "greedy", "auto"):
        raise input_error("method", f"unknown method {method!r}",
                          "Use 'exact', 'greedy' or 'auto'")


def _check_tolerance(tolerance: float) -> float:
    if not (0.0 <= float(tolerance) < 1.0):
        raise input_error("tolerance", f"must be a share in [0, 1), got {tolerance!r}",
                          "Give e.g. 0.005 for 0.5 %")
    return float(tolerance)


def _sel_positions(x: np.ndarray | None, n: int) -> list[int]:
    if x is None:
        return []
    return [int(j) for j in np.flatnonzero(x[:n] > 0.5)]


@dataclass(frozen=True)
class _Options:
    """How to solve (shared by the models and by every phase)."""

    method: str = "auto"
    time_limit_s: float = 60.0
    tolerance: float = DEFAULT_TOLERANCE
    mip_rel_gap: float = 0.0
    solver: str = "highspy"
    improve: bool = True
    rounds: int | None = None
    quotas: Quotas | None = None
    bound_share: float = 1.0  # share of BOUND_WORK for each Lagrangian bound


@dataclass
class _Model:
    """A reduced model with its undominated candidates (computed once, shared by phases)."""

    red: _Reduced
    quotas: Quotas | None
    _keep: np.ndarray | None = None
    _sub: tuple[sparse.csr_matrix, np.ndarray] | None = None

    @property
    def keep(self) -> np.ndarray:
        if self._keep is None:
            group = None if self.quotas is None else self.quotas.district
            self._keep = _undominated(self.red.cover, group)
        return self._keep

    @property
    def sub(self) -> tuple[sparse.csr_matrix, np.ndarray]:
        """The undominated candidates' model, groups merged again (with fewer candidates
        more groups share a covering set): for the bound and the integer program."""
        if self._sub is None:
            again = _reduce(self.red.cover[self.keep], self.red.weight, None)
            self._sub = (again.cover, again.weight)
        return self._sub

    @property
    def sub_quotas(self) -> Quotas | None:
        return None if self.quotas is None else self.quotas.subset(self.keep)

    def value(self, sites: list[int] | np.ndarray) -> float:
        if len(sites) == 0:
            return 0.0
        return float(self.red.weight[_covered_mask(self.red.cover, sites)].sum())


@dataclass
class _Plan:
    """The best plan of ``p`` sites found, with a proved upper bound on its value."""

    sites: list[int]
    value: float
    bound: float
    method: str
    status: str
    greedy_value: float
    notes: list[str] = field(default_factory=list)
    multipliers: np.ndarray | None = None

    @property
    def gap(self) -> float:
        return (self.bound - self.value) / self.bound if self.bound > 0 else 0.0


def _mip_limit(opts: _Options) -> float:
    if opts.method == "exact":
        return opts.time_limit_s
    return min(opts.time_limit_s, AUTO_MIP_BUDGET_S)


def _within(gap: float) -> str:
    return _("proven optimal") if gap <= 1e-9 else _(
        "within {gap} of optimal", gap=Figure.percent(gap, 2))


def _solver_status(status: str) -> str:
    """The integer program's status in words that can be translated (others as the solver
    says them)."""
    return {"optimal": _("optimal"), "time limit": _("time limit")}.get(status, status)


# ---------------------------------------------------------------------------------------------
# maximal covering on a reduced model


def _best_p(model: _Model, p: int, opts: _Options, *, fast: bool = False,
            start: np.ndarray | None = None) -> _Plan:
    """Greedy, local search, the Lagrangian bound and (where it pays) the integer program.

    ``fast``: local search only when the bound leaves a gap above the tolerance, and no
    integer program under ``"auto"`` (phases). ``start``: the bound's first multipliers.
    """
    red, quotas = model.red, model.quotas
    w = red.weight
    sites, _value, gbound = _lazy_greedy(red.cover, w, p=p, quotas=quotas)
    gval = model.value(sites)
    if gval >= gbound * (1 - 1e-12):
        return _Plan(sites, gval, gval, "greedy", _("greedy, proven optimal"), gval)
    sub, sw = model.sub
    subq = model.sub_quotas
    # the bound is tightened to the tolerance, or to optimality for the exact method
    tol = 0.0 if opts.method == "exact" else opts.tolerance
    n_iter = _bound_iter(sub.nnz, opts.bound_share)
    lag = lagrangian_bound(sub, sw, p, target=gval, quotas=subq, tolerance=tol, start=start,
                           max_iter=n_iter, time_limit_s=math.inf)
    bound = min(gbound, lag.value)
    status = _("greedy")
    full = len(sites) == p
    if opts.improve and full and (not fast or (bound - gval) > tol * bound):
        n_rounds = _default_rounds(red.cover.shape[0], p) if opts.rounds is None \
            else int(opts.rounds)
        better = _local_search(red.cover, w, sites, rounds=n_rounds, quotas=quotas)
        bval = model.value(better)
        if bval > gval:
            sites, gval, status = better, bval, _("greedy + local search")
            if (bound - gval) > tol * bound:  # a better target gives a sharper bound
                lag = lagrangian_bound(sub, sw, p, target=gval, quotas=subq, tolerance=tol,
                                       start=lag.multipliers, max_iter=n_iter,
                                       time_limit_s=math.inf)
                bound = min(bound, lag.value)
    bound = max(bound, gval)
    plan = _Plan(sites, gval, bound, "greedy", "", gval, multipliers=lag.multipliers)
    plan.status = _("{method}, {within} (Lagrangian bound)", method=status,
                    within=_within(plan.gap))
    run_mip = opts.method == "exact" and plan.gap > 1e-9
    if opts.method == "auto" and plan.gap > opts.tolerance and sub.nnz <= _AUTO_MAX_NNZ \
            and not fast:  # phases under "auto" report the bound they reached
        run_mip = True
    if opts.method == "exact" and not run_mip:
        plan.method, plan.status = "exact", _("optimal")
    if not run_mip:
        return plan
    return _mip_plan(model, p, opts, plan)


def _mip_plan(model: _Model, p: int, opts: _Options, plan: _Plan) -> _Plan:
    """The integer program on the undominated candidates, started from ``plan``."""
    red, keep = model.red, model.keep
    group = None if model.quotas is None else model.quotas.district
    start = _dominating(red.cover, keep, plan.sites, group)
    gap = opts.mip_rel_gap if opts.method == "exact" else max(opts.tolerance, opts.mip_rel_gap)
    sub, sw = model.sub
    ans = _mip(sub, sw, p=p, need=None, time_limit_s=_mip_limit(opts),
               start_sites=start, solver=opts.solver, mip_rel_gap=gap, quotas=model.sub_quotas)
    sel = [int(k) for k in keep[_sel_positions(ans.x, len(keep))]]
    val = model.value(sel)
    notes: list[str] = []
    if ans.x is None or val < plan.value:  # cannot happen with a warm start; keep the start
        sel, val = plan.sites, plan.value
        notes.append(_("The integer program found nothing better than greedy in its time "
                       "limit."))
    bound = -ans.bound if math.isfinite(ans.bound) else plan.bound
    bound = max(min(bound, plan.bound), val)
    out = _Plan(sel, val, bound, "exact", _solver_status(ans.status), plan.greedy_value, notes)
    if out.status == "optimal" and out.gap > 1e-9:
        out.status = _("optimal within gap {gap}", gap=f"{gap:g}")
    if "time" in out.status:
        limit = _mip_limit(opts)
        out.notes.append(_("The integer program stopped at its time limit ({s} s); the answer "
                           "is {within}.", s=Figure.seconds(limit),
                           within=_within(out.gap)))
    if val > plan.greedy_value:
        greedy, less = plan.greedy_value, (val - plan.greedy_value) / val
        out.notes.append(_("Greedy alone covers {n} new, {share} less.",
                           n=Figure.number(greedy), share=Figure.percent(less, 2)))
    return out


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
    tolerance: float = DEFAULT_TOLERANCE,
    quotas: Quotas | None = None,
    phases: int = 0,
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
        ``"auto"`` (greedy with local search and the Lagrangian bound; the integer program,
        started from that answer, only when the bound leaves a gap above ``tolerance``, and
        stopped at that gap), ``"exact"`` (proved optimal: by the bound when it closes, else
        by the integer program) or ``"greedy"`` (never the integer program).
    time_limit_s
        Time budget of the integer program; on expiry the best answer found and its proved
        gap are reported.
    mip_rel_gap
        Relative optimality gap at which the integer program may stop (0: prove optimality).
    solver
        ``"highspy"`` (default) or ``"scipy"`` (``scipy.optimize.milp``; both run HiGHS).
    improve
        Improve the greedy answer by local search before it is used or returned: single swaps
        (Teitz & Bart) and ``rounds`` of iterated local search.
    rounds
        Rounds of iterated local search; default 100, fewer on very large models (about
        ``3e9 / (nonzeros x p)``) so that greedy stays fast. Deterministic.
    tolerance
        Relative gap (answer to proved bound) that ``"auto"`` accepts; default 0.5 %.
    quotas
        District quotas (:class:`~walkshed.siting.quotas.Quotas`), honoured exactly by every
        method.
    phases
        For ``k = 1 .. phases`` (at most ``p``) also find the best ``k``-site plan, to set
        beside the first ``k`` sites of the ranked answer (``SitingResult.phases``).

    Returns
    -------
    SitingResult
        ``chosen`` are candidate positions in rank order: a nested plan, whose first ``k``
        sites are the plan for ``k``.

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
    if quotas is not None:
        _check_quotas(quotas, n_cand)
        quotas.check(int(p))
    opts = _Options(method, float(time_limit_s), _check_tolerance(tolerance),
                    float(mip_rel_gap), solver, improve, rounds, quotas)
    model = _Model(red, quotas)
    plan = _best_p(model, int(p), opts)
    size = {"candidates": n_cand, "demand_groups": len(red.weight), "nonzeros": red.cover.nnz}
    if model._sub is not None:
        size["model_candidates"] = model._sub[0].shape[0]
        size["model_groups"] = model._sub[0].shape[1]
    chosen, gains = _rank_sites(red.cover, red.weight, np.asarray(plan.sites, dtype=np.int64),
                                keep_all=quotas is not None)
    out = _finish(chosen, gains, red, plan.method, plan.status, plan.bound, t0,
                  notes=list(plan.notes), size=size, p=int(p))
    out.greedy_objective = plan.greedy_value
    out.tolerance = opts.tolerance if method == "auto" else 0.0 if method == "exact" else None
    if phases:
        out.phases = _phases(model, chosen, gains, opts, min(int(phases), len(chosen)),
                             last=plan)
    out.time_s = time.perf_counter() - t0
    return out


def _check_quotas(quotas: Quotas, n_cand: int) -> None:
    if len(quotas.district) != n_cand:
        raise input_error("quotas", f"{len(quotas.district)} district labels for {n_cand} "
                          "candidates", "Give one district position per candidate")


def _phases(model: _Model, chosen: np.ndarray, gains: np.ndarray, opts: _Options, k_max: int,
            *, last: _Plan | None = None) -> pd.DataFrame:
    """For each ``k``: what the first ``k`` ranked sites cover and the best ``k``-site plan.

    Under quotas the best ``k``-site plans honour the maxima only (fewer sites than the
    minima add up to cannot honour those).
    """
    q = model.quotas
    if q is not None:
        q = Quotas(q.district, np.zeros_like(q.at_least), q.at_most, q.names)
    sub = _Model(model.red, q, model._keep if q is None else None,
                 model._sub if q is None else None)
    if opts.method != "exact":  # the bounds of all phases share one bound's work
        share = min(opts.bound_share, max(0.04, PHASES_BOUND_SHARE / k_max))
        opts = replace(opts, bound_share=share,
                       rounds=5 if opts.rounds is None else opts.rounds)
    rows = []
    prev: np.ndarray | None = None  # each phase's bound starts from the last one's multipliers
    plan_cum = np.cumsum(gains)
    for k in range(1, k_max + 1):
        if last is not None and k == len(chosen) and model.quotas is None:
            best = last
        else:
            best = _best_p(sub, k, opts, fast=opts.method != "exact", start=prev)
        prev = best.multipliers if best.multipliers is not None else prev
        value = max(best.value, float(plan_cum[k - 1]))  # the prefix is a k-site plan too
        bound = max(best.bound, value)
        rows.append({"k": k, "plan_newly_covered": float(plan_cum[k - 1]),
                     "best_newly_covered": value, "best_bound": bound,
                     "price_of_phasing": value - float(plan_cum[k - 1]),
                     "best_status": best.status})
    return pd.DataFrame(rows)


def _finish(
    chosen: np.ndarray, gains: np.ndarray, red: _Reduced, method: str, status: str,
    bound: float, t0: float, *, notes: list[str], size: dict[str, int], p: int | None = None,
    target_share: float | None = None, target_met: bool | None = None,
) -> SitingResult:
    obj = float(gains.sum())
    if p is not None and len(chosen) == 0:
        notes.append(_("No candidate site brings anyone new within reach: nothing to propose."))
    elif p is not None and len(chosen) < p:
        notes.append(_n("Only {n} site of the {p} asked for brings anyone new within reach; "
                        "further sites would add no one, so fewer are proposed.",
                        "Only {n} of the {p} sites asked for bring anyone new within reach; "
                        "further sites would add no one, so fewer are proposed.",
                        len(chosen), p=p))
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
    tolerance: float = DEFAULT_TOLERANCE,
    quotas: Quotas | None = None,
    phases: int = 0,
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
    cover, weights, covered, time_limit_s, solver, tolerance, quotas, phases
        As for :func:`solve_mclp` (``tolerance`` on the number of sites: the answer is
        accepted when ``(sites - lower bound) / sites`` is at most it).
    target_share
        Share of all demand (fixed coverage included) to reach, in ``(0, 1]``.
    method
        ``"auto"``: greedy, then one site fewer as long as the maximal-covering heuristic
        (greedy and local search) still reaches the target; then the question "can ``k - 1``
        sites reach it?" (:func:`.lp.prove_short`): the LP bound of maximal covering for
        ``k - 1`` sites (its dual solved by HiGHS), reduced-cost fixing on the shrinking
        model, and the maximal-covering integer program with the target as cutoff on the
        candidates left (at most :data:`_PROVE_MAX_NNZ` coverage pairs). A plan it finds is
        taken and the question asked for one fewer; a "no" proves the answer minimal; else
        the LP multipliers give the lower bound (one set bounds every ``k``). Under quotas the
        lower bound is the Lagrangian bound instead, run for ``k - 1`` then ``k - 2`` sites
        with :data:`AUTO_BOUND_SHARE` of :data:`BOUND_WORK` (a fixed number of iterations).
        The fewest-sites integer program runs only when the gap is still above
        ``tolerance``, in what is left of :data:`AUTO_MIP_BUDGET_S`. On a count the gap
        moves in whole sites: with 66 sites one site is 1.5 %, so a tolerance below that
        asks for a proof of minimality. Almaty 2012, 50 %: 66 sites, proved minimal in about
        3.5 s (the LP bound for 65 sites, 930,456, is above the 930,060 needed; fixing leaves
        540 of 7,437 candidates, on which the integer program finds no 65-site plan reaching
        it).
        ``"exact"``: proved minimal. ``"greedy"``: greedy alone.

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
        shares = {"target": Figure.percent(share), "best": Figure.percent(best)}
        notes.append(
            _("The target of {target} cannot be reached: with every candidate site open "
              "{best} of residents are within reach. The sites below reach that share.",
              **shares) if red.reachable_new > 0 else
            _("The target of {target} cannot be reached: with every candidate site open "
              "{best} of residents are within reach. No candidate site brings anyone new "
              "within reach.", **shares))
        need = red.reachable_new - 1e-9 * max(red.total, 1.0)
    if quotas is not None:
        _check_quotas(quotas, red.cover.shape[0])
        quotas.check(None)
    if need <= 0 and (quotas is None or quotas.at_least.sum() == 0):
        if met:
            already = red.already / red.total
            notes.append(_("The fixed precincts already cover {share}: no new site is needed.",
                           share=Figure.percent(already)))
        return _finish(np.empty(0, dtype=np.int64), np.empty(0), red, "greedy",
                       _("no site needed"), 0.0, t0, notes=notes, size=size, target_share=share,
                       target_met=met)
    opts = _Options(method, float(time_limit_s), _check_tolerance(tolerance), 0.0, solver,
                    True, None, quotas)
    model = _Model(red, quotas)
    sites = _lazy_greedy(red.cover, red.weight, need=need, quotas=quotas)[0]
    # lower bound: the k largest single-site gains must add up to the need
    single = np.sort(np.asarray(red.cover @ red.weight).ravel())[::-1]
    lower = int(np.searchsorted(np.cumsum(single), need) + 1) if need > 0 else 0
    if quotas is not None:
        lower = max(lower, int(quotas.at_least.sum()))
    lower = min(lower, len(sites))
    used = "greedy"
    status: str = _("greedy")
    by_mip = False
    if method != "greedy" and len(sites) > lower:
        sites, lower, by_mip = _fewer(model, sites, need, lower, opts, share=AUTO_BOUND_SHARE,
                                      t0=t0)
    gap = (len(sites) - lower) / len(sites) if sites else 0.0
    left = _mip_limit(opts) - (time.perf_counter() - t0)
    run_mip = (method == "exact" and gap > 0) or (
        method == "auto" and gap > opts.tolerance and red.cover.nnz <= _AUTO_MAX_NNZ
        and left >= 1.0)
    if run_mip:
        limit = opts.time_limit_s if method == "exact" else left
        sites, lower, status = _fewest_mip(model, sites, need, lower, opts, notes, limit)
        used = "exact"
    else:
        gap = (len(sites) - lower) / len(sites) if sites else 0.0
        status = (_("greedy, proven optimal") if gap <= 0 else
                  _n("greedy, at least {n} site needed (Lagrangian bound)",
                     "greedy, at least {n} sites needed (Lagrangian bound)", lower))
        if method == "exact" or (by_mip and gap <= 0):
            used, status = "exact", _("optimal")  # the integer program took part in the proof
    chosen, gains = _rank_sites(red.cover, red.weight, np.asarray(sites, dtype=np.int64),
                                keep_all=quotas is not None)
    if quotas is None:
        chosen, gains = _to_target(chosen, gains, need)
    bound = min(float(lower), float(len(chosen)))
    out = _finish(chosen, gains, red, used, status, bound, t0, notes=notes, size=size,
                  target_share=share, target_met=met)
    out.tolerance = opts.tolerance if method == "auto" else 0.0 if method == "exact" else None
    if model._sub is not None:
        out.model_size["model_candidates"] = model._sub[0].shape[0]
        out.model_size["model_groups"] = model._sub[0].shape[1]
    if phases:
        out.phases = _phases(model, chosen, gains, opts, min(int(phases), len(chosen)))
    out.time_s = time.perf_counter() - t0
    return out


def _lower_from(model: _Model, lam: np.ndarray, need: float) -> int:
    """The fewest sites that the Lagrangian bound of multipliers ``lam`` allows to reach
    ``need``: one ``lam`` bounds maximal covering for every ``k`` at once."""
    sub, sw = model.sub
    c = np.asarray(sparse.csr_matrix(sub, dtype=np.float64) @ lam).ravel()
    base = float(sw.sum()) - float(lam.sum())
    subq = model.sub_quotas
    if subq is None:
        tops = base + np.cumsum(np.sort(c)[::-1])
        return int(np.searchsorted(tops, need) + 1)
    for k in range(1, len(c) + 1):
        if base + float(c[subq.top(c, k)].sum()) >= need:
            return k
    return len(c)


#: Rounds of iterated local search for each "one site fewer" step of the fewest sites: this
#: work (candidates x sites per round) over the model's size, from 3 to 10 rounds (Almaty
#: 2012, 14,355 candidates: 10 rounds up to 104 sites, 3 from 262).
_FEWER_WORK = 1.5e7


def _fewer_rounds(n_candidates: int, p: int) -> int:
    return int(max(3, min(10, _FEWER_WORK // max(1, n_candidates * p))))


#: The yes/no integer program of :func:`.lp.prove_short` runs only on a model fixed down to
#: at most this many coverage pairs (else the LP bound serves alone).
_PROVE_MAX_NNZ = 300_000


def _fewer(model: _Model, sites: list[int], need: float, lower: int,
           opts: _Options, share: float, t0: float) -> tuple[list[int], int, bool]:
    """One site fewer while the maximal-covering heuristic still reaches ``need``; then a
    lower bound. Returns the sites, the lower bound and whether the integer program took
    part in the proof.

    Without quotas (and with HiGHS) the bound is :func:`.lp.prove_short` for ``k - 1`` sites:
    the LP bound with reduced-cost fixing, then the yes/no integer program on the fixed model
    (a plan it finds is taken and the question asked again for one fewer). Under quotas: the
    Lagrangian bound of maximal covering, one run for ``k - 1`` sites (stopped once it proves
    that no such plan reaches ``need``), then for ``k - 2``; their multipliers bound every
    ``k`` at once. ``share``: of :data:`BOUND_WORK` for both runs."""
    sub, sw = model.sub
    red, q = model.red, model.quotas
    k = len(sites)
    value = 0.0

    def improve(g: list[int], stop_at: float = math.inf) -> list[int]:
        rounds = _fewer_rounds(red.cover.shape[0], len(g)) if opts.rounds is None \
            else opts.rounds
        return _local_search(red.cover, red.weight, g, quotas=q, rounds=rounds,
                             stop_at=stop_at)

    # a level's local search stops once it reaches the target (enough to go one lower); the
    # level kept is then searched to the end from the same start, as if never stopped
    margin = 1e-9 * max(red.total, 1.0)
    kept_start: list[int] | None = None
    by_greedy_bound = False
    while k - 1 >= max(lower, 1):
        g, _value, gbound = _lazy_greedy(red.cover, red.weight, p=k - 1, quotas=q)
        if gbound < need:
            by_greedy_bound = True  # no plan of k - 1 sites reaches the target
            break
        g0 = list(g)
        searched = opts.improve and len(g) == k - 1
        if searched:
            g = improve(g, stop_at=need + margin)
        value = model.value(g)
        if value >= need:
            sites, k, kept_start = list(g), k - 1, (g0 if searched else None)
            continue
        break
    if kept_start is not None:
        sites = improve(kept_start)
    if by_greedy_bound:
        return sites, k, False
    if k - 1 < max(lower, 1):
        return sites, k, False
    if q is None and opts.solver == "highspy" and sub.nnz <= _AUTO_MAX_NNZ and _has_highspy():
        return _fewer_lp(model, sites, need, lower, opts, t0)
    # k - 1 first (proving it out proves the answer minimal), then k - 2 from its multipliers
    found = lower
    start: np.ndarray | None = None
    for j in (k - 1, k - 2):
        if j < max(lower, 1):
            break
        b = lagrangian_bound(sub, sw, j, target=min(value, need), quotas=model.sub_quotas,
                             start=start, stop_below=need, time_limit_s=math.inf,
                             max_iter=_bound_iter(sub.nnz, share / 2))
        if b.value < need:  # no plan of j sites reaches the target
            found = max(found, j + 1)
            break
        start = b.multipliers
        found = max(found, _lower_from(model, b.multipliers, need))
    return sites, min(k, found), False


def _has_highspy() -> bool:
    try:
        import highspy  # noqa: F401
    except ImportError:  # pragma: no cover - highspy is a dependency
        return False
    return True


def _fewer_lp(model: _Model, sites: list[int], need: float, lower: int, opts: _Options,
              t0: float) -> tuple[list[int], int, bool]:
    """:func:`_fewer`'s bound without quotas: :func:`.lp.prove_short` for one site fewer."""
    sub, sw = model.sub
    keep = model.keep
    k = len(sites)
    exact = False
    while k - 1 >= max(lower, 1):
        left = _mip_limit(opts) - (time.perf_counter() - t0)
        short = prove_short(sub, sw, k - 1, need, time_limit_s=left,
                            max_nnz=_PROVE_MAX_NNZ)
        exact = exact or short.status not in ("bound", "not run")
        if short.proved:
            return sites, k, exact
        if short.plan is not None:
            plan = [int(j) for j in keep[short.plan]]
            if len(plan) <= k - 1 and model.value(plan) >= need:
                sites, k = plan, len(plan)
                continue
        lower = max(lower, _lower_from(model, short.multipliers, need))
        break
    return sites, min(k, lower), exact


def _fewest_mip(model: _Model, sites: list[int], need: float, lower: int, opts: _Options,
                notes: list[str], limit: float) -> tuple[list[int], int, str]:
    """The fewest-sites integer program, started from ``sites``."""
    red, keep = model.red, model.keep
    group = None if model.quotas is None else model.quotas.district
    gap = 0.0 if opts.method == "exact" else opts.tolerance
    sub, sw = model.sub
    ans = _mip(sub, sw, p=None, need=need, time_limit_s=limit,
               start_sites=_dominating(red.cover, keep, sites, group), solver=opts.solver,
               mip_rel_gap=gap, quotas=model.sub_quotas)
    sel = [int(k) for k in keep[_sel_positions(ans.x, len(keep))]]
    if ans.x is None or len(sel) > len(sites) or model.value(sel) < need:
        sel = list(sites)
    bound = math.ceil(ans.bound - 1e-6) if math.isfinite(ans.bound) else lower
    bound = min(max(bound, lower), len(sel))
    status = _solver_status(ans.status)
    if "time" in status:
        notes.append(_n("The integer program stopped at its time limit ({s} s); at least {n} "
                        "site is needed.",
                        "The integer program stopped at its time limit ({s} s); at least {n} "
                        "sites are needed.", bound, s=Figure.seconds(limit)))
    return sel, bound, status
