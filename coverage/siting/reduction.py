"""Model reduction: merged demand groups, dominated candidates, covered sets.

Residents already covered by a fixed precinct are dropped and residents with the same set of
covering candidates are merged into one weighted row; candidates whose covered set is inside
another's can be left out of an integer program. None of it changes the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .._errors import input_error

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


def _rank_sites(cover: sparse.csr_matrix, weight: np.ndarray, chosen: np.ndarray,
                keep_all: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Order a chosen set greedily (largest marginal first, ties by candidate order).

    Sites that add no one are left out, unless ``keep_all`` (quotas may require them).
    """
    uncovered = np.ones(len(weight), dtype=bool)
    left = sorted(int(j) for j in chosen)
    order: list[int] = []
    gains: list[float] = []
    while left:
        g = [_gain_of(cover, weight, uncovered, j) for j in left]
        k = int(np.argmax(g))  # first maximum: lowest candidate position
        if g[k] <= 0 and not keep_all:
            break  # the rest add no one (an exact solver may open such sites): left out
        j = left.pop(k)
        order.append(j)
        gains.append(g[k])
        uncovered[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = False
    return np.asarray(order, dtype=np.int64), np.asarray(gains, dtype=np.float64)


def _undominated(cover: sparse.csr_matrix, group: np.ndarray | None = None) -> np.ndarray:
    """Positions of candidates whose covered set is not contained in another candidate's.

    A candidate covering a subset of what another covers can be left out of the model without
    changing its optimum (swap it for the other). Of candidates with equal sets the first is
    kept, so answers stay deterministic. With ``group`` (a district per candidate, under
    quotas) a candidate is only dominated by one of its own group.
    """
    size = np.diff(cover.indptr)
    live = np.flatnonzero(size > 0)
    sub = cover[live].astype(np.int32)
    overlap = (sub @ sub.T).tocoo()
    i, j, o = overlap.row, overlap.col, overlap.data
    si, sj = size[live][i], size[live][j]
    dominated_by = (i != j) & (o == si) & ((sj > si) | ((sj == si) & (j < i)))
    if group is not None:
        g = np.asarray(group)[live]
        dominated_by &= g[i] == g[j]
    drop = np.zeros(len(live), dtype=bool)
    drop[i[dominated_by]] = True
    return live[~drop]


def _dominating(cover: sparse.csr_matrix, keep: np.ndarray, sites: list[int],
                group: np.ndarray | None = None) -> list[int]:
    """Positions in ``keep`` of sites covering at least what each of ``sites`` covers (of the
    same ``group``, when given)."""
    kept = set(int(k) for k in keep)
    out: list[int] = []
    for j in sites:
        if j in kept:
            k = j
        else:
            cols = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
            sup = np.asarray(cover[keep][:, cols].sum(axis=1)).ravel()
            ok = sup == len(cols)
            if group is not None:
                ok &= np.asarray(group)[keep] == group[j]
            k = int(keep[int(np.argmax(ok))])
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
