r"""The linear programming bound of maximal covering, and proofs that ``p`` sites fall short.

The linear relaxation of maximal covering (:func:`~walkshed.siting.solvers.solve_mclp`) has the
dual

.. math::

    \min_{\lambda, \mu, t} \sum_g (w_g - \lambda_g) + p\mu + \sum_j t_j \quad\text{s.t.}\quad
    t_j \ge \sum_{g \in C_j} \lambda_g - \mu,\qquad 0 \le \lambda_g \le w_g,\; \mu, t \ge 0

whose :math:`\lambda` are Lagrangian multipliers of the coverage constraints
(:mod:`.bounds`). Written this way the model has one row per candidate instead of one per
demand group, and HiGHS's simplex solves it fast: on Almaty 2012 (7,437 undominated candidates
x 29,102 demand groups, p = 65) 0.4 s without presolve, where the primal form takes about
37 s. Whatever the solver returns, the bound is recomputed here from the clipped
:math:`\lambda`, so it is a valid upper bound even for an inexact answer.

With those multipliers, a candidate :math:`j` outside the best ``p`` of scores
:math:`c_j(\lambda) = \sum_{g \in C_j} \lambda_g` can only be in a plan worth at most
:math:`L(\lambda) - c_{(p)} + c_j` (``c_(p)`` the ``p``-th largest score): when that is below a
target, no ``p``-site plan reaching the target opens it (Lagrangian reduced-cost fixing).
:func:`prove_short` repeats bound-and-fix on the shrinking model, then asks the integer program
(HiGHS, with the target as objective cutoff) the yes/no question on what is left: on Almaty
2012 the 7,437 candidates come down to about 520 and the question "can 65 sites reach 50 %?"
is answered (no) in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .reduction import _reduce, _undominated

#: Rounds of bound-and-fix before the integer program (each is one LP on a smaller model).
_FIX_ROUNDS = 12

#: Stop the rounds when one drops fewer than this share of the candidates left.
_FIX_MIN_SHRINK = 0.02

#: Simplex iterations of one LP: this many plus so many per site (Almaty 2012 needs about
#: 50 per site: 1,372 for p = 65, 10,169 for p = 196).
_LP_ITER_BASE = 2000
_LP_ITER_PER_SITE = 150


@dataclass(frozen=True)
class Short:
    """The answer to "can ``p`` sites reach ``need``?".

    Attributes
    ----------
    proved
        True when it is proved that no plan of ``p`` sites reaches ``need``.
    plan
        Positions (in the model asked about) of a ``p``-site plan the integer program found
        that may reach ``need`` (check it on the full model), else ``None``.
    multipliers
        The first LP's multipliers (on the model asked about), for lower bounds on other
        numbers of sites.
    bound
        The LP bound of the first round (an upper bound on what ``p`` sites cover).
    candidates
        Candidates left for the integer program after fixing.
    status
        ``"bound"`` (proved by the LP bound alone), the integer program's status, or
        ``"not run"``.
    """

    proved: bool
    plan: list[int] | None
    multipliers: np.ndarray
    bound: float
    candidates: int
    status: str


def lp_multipliers(cover: sparse.csr_matrix, weight: np.ndarray, p: int, *,
                   time_limit_s: float = math.inf) -> np.ndarray:
    """Optimal multipliers of the LP bound of maximal covering, from its dual (HiGHS simplex).

    Parameters
    ----------
    cover
        ``(n_candidates, n_groups)`` boolean CSR matrix.
    weight
        ``(n_groups,)`` group weights.
    p
        Number of sites.
    time_limit_s
        Time budget of the solver (besides its budget of ``2,000 + 150 p`` simplex
        iterations); stopped early it gives its last multipliers (still a valid bound, only a
        weaker one).

    Returns
    -------
    numpy.ndarray
        ``(n_groups,)`` multipliers in ``[0, weight]``.
    """
    import highspy

    from .mip import _new_highs

    n, m = cover.shape
    w = np.asarray(weight, dtype=np.float64)
    # columns: lambda (m), mu, t (n); rows j: t_j + mu - sum_{g in C_j} lambda_g >= 0
    a = sparse.hstack([-sparse.csr_matrix(cover, dtype=np.float64),
                       sparse.csr_matrix(np.ones((n, 1))),
                       sparse.identity(n, format="csr")], format="csc")
    inf = highspy.kHighsInf
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("presolve", "off")  # Almaty, p = 65: 0.42 s without, 0.98 s with it
    # a budget in work, not time, so that the bound does not depend on the machine's load
    h.setOptionValue("simplex_iteration_limit", _LP_ITER_BASE + _LP_ITER_PER_SITE * int(p))
    if math.isfinite(time_limit_s):
        h.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
    lp = highspy.HighsLp()
    lp.num_col_ = m + 1 + n
    lp.num_row_ = n
    lp.col_cost_ = np.concatenate([-np.ones(m), [float(p)], np.ones(n)])
    lp.col_lower_ = np.zeros(m + 1 + n)
    lp.col_upper_ = np.concatenate([w, np.full(1 + n, inf)])
    lp.row_lower_ = np.zeros(n)
    lp.row_upper_ = np.full(n, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    h.passModel(lp)
    h.run()
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    if len(x) < m:  # no answer at all: the multipliers of the trivial bound
        return w.copy()
    return np.clip(np.nan_to_num(x[:m], nan=0.0), 0.0, w)


def lagrangian_value(cover: sparse.csr_matrix, weight: np.ndarray, lam: np.ndarray,
                     p: int) -> tuple[float, np.ndarray]:
    r"""The bound :math:`L(\lambda)` for ``p`` sites and the scores :math:`c_j(\lambda)`."""
    c = np.asarray(sparse.csr_matrix(cover, dtype=np.float64) @ lam).ravel()
    top = np.sort(c)[::-1][:p]
    return float(weight.sum()) - float(lam.sum()) + float(top.sum()), c


def _free(c: np.ndarray, value: float, p: int, need: float, tol: float) -> np.ndarray:
    """Candidates that can be in a ``p``-site plan reaching ``need`` (the others cannot)."""
    if p >= len(c):
        return np.ones(len(c), dtype=bool)
    cp = float(np.sort(c)[::-1][p - 1])
    # outside the top p: bound with j forced open is value - cp + c_j (a top-p site is kept)
    return value - cp + c >= need - tol


def prove_short(cover: sparse.csr_matrix, weight: np.ndarray, p: int, need: float, *,
                time_limit_s: float, max_nnz: int | None = None) -> Short:
    """Whether ``p`` sites can reach ``need`` on a model of undominated candidates.

    Bound-and-fix rounds (:func:`lp_multipliers`, reduced-cost fixing, dominated candidates
    dropped, demand groups merged again), then, unless the bound already settles it, the
    maximal-covering integer program on the candidates left with ``need`` as cutoff: it stops
    at the first plan reaching ``need`` or proves there is none.

    Parameters
    ----------
    cover, weight
        The model (boolean CSR, candidates x groups) and the group weights.
    p
        Number of sites.
    need
        The weight to reach.
    time_limit_s
        Time budget of the LPs after the first and of the integer program.
    max_nnz
        Run the integer program only when the fixed model has at most this many coverage
        pairs (``None``: always).

    Returns
    -------
    Short

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> cover = sparse.csr_matrix(np.eye(3, dtype=bool))  # three sites, one group each
    >>> w = np.array([5.0, 3.0, 2.0])
    >>> prove_short(cover, w, 1, 6.0, time_limit_s=5).proved  # one site covers at most 5
    True
    >>> prove_short(cover, w, 2, 8.0, time_limit_s=5).proved  # sites 0 and 1 cover 8
    False
    """
    import time

    from .mip import _mip

    deadline = time.perf_counter() + time_limit_s
    tol = 1e-9 * max(float(weight.sum()), 1.0)
    ids = np.arange(cover.shape[0])
    cov, w = cover, np.asarray(weight, dtype=np.float64)
    first: np.ndarray | None = None
    first_bound = math.inf
    for _ in range(_FIX_ROUNDS):
        left = deadline - time.perf_counter()
        if first is not None and left <= 0:
            break
        # the first LP runs to its work budget whatever the time: the lower bound comes from it
        lam = lp_multipliers(cov, w, p, time_limit_s=math.inf if first is None else left)
        value, c = lagrangian_value(cov, w, lam, p)
        if first is None:
            first, first_bound = lam, value
        if value < need - tol:
            return Short(True, None, first, first_bound, len(ids), "bound")
        free = _free(c, value, p, need, tol)
        if free.all():
            break
        sub = cov[free]
        keep = _undominated(sub)
        ids = ids[free][keep]
        red = _reduce(sub[keep], w, None)
        shrink = 1.0 - len(keep) / cov.shape[0]
        cov, w = red.cover, red.weight
        if len(ids) <= p:  # every candidate left can open: the question is one evaluation
            break
        if shrink < _FIX_MIN_SHRINK:
            break
    assert first is not None
    if len(ids) <= p:
        total = float(w.sum())  # every group left has a candidate: all of it is reached
        if total < need - tol:
            return Short(True, None, first, first_bound, len(ids), "bound")
        return Short(False, [int(j) for j in ids], first, first_bound, len(ids), "bound")
    left = deadline - time.perf_counter()
    if left <= 0 or (max_nnz is not None and cov.nnz > max_nnz):
        return Short(False, None, first, first_bound, len(ids), "not run")
    ans = _mip(cov, w, p=p, need=None, time_limit_s=left, start_sites=None,
               cutoff=need - tol)
    plan = None
    if ans.x is not None:
        sel = np.flatnonzero(ans.x[:cov.shape[0]] > 0.5)
        plan = [int(j) for j in ids[sel]]
    proved = ans.status in ("optimal", "infeasible") and (
        ans.x is None or -ans.objective < need - tol)
    return Short(proved, plan, first, first_bound, len(ids), ans.status)
