"""Lazy greedy and local search on a reduced coverage model."""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy import sparse

from .quotas import Quotas
from .reduction import _gain_of

# ---------------------------------------------------------------------------------------------
# lazy greedy


def _lazy_greedy(
    cover: sparse.csr_matrix, weight: np.ndarray, *, p: int | None = None,
    need: float | None = None, quotas: Quotas | None = None,
) -> tuple[list[int], list[float], float]:
    """Lazy greedy (Minoux's accelerated greedy) for weighted coverage.

    Stops after ``p`` sites or once ``need`` is covered. Ties go to the lowest candidate
    position, exactly as the plain greedy that rescans every candidate. Returns the sites, their
    marginal gains and the best online upper bound on the optimum for ``p`` sites (the value so
    far plus the ``p`` largest marginal-gain upper bounds still in the queue; Minoux 1978).

    With ``quotas`` only sites that keep the plan completable are taken
    (:meth:`Quotas.allowed`); a site not allowed now never is again, so it leaves the queue.
    Districts still short of their minimum at the end get their best remaining sites (even if
    those add no one). The bound is then ``inf`` (the Lagrangian bound serves instead).
    """
    n = cover.shape[0]
    uncovered = np.ones(len(weight), dtype=bool)
    gains0 = np.asarray(cover @ weight).ravel()
    live = np.flatnonzero(gains0 > 0)
    heap = list(zip((-gains0[live]).tolist(), live.tolist(), strict=True))
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
    counts = None if quotas is None else np.zeros(quotas.n_districts, dtype=np.int64)
    while len(chosen) < limit and heap and (need is None or value < need):
        g, j = heapq.heappop(heap)
        if counts is not None:
            assert quotas is not None
            d = int(quotas.district[j])
            if not quotas.allowed(counts, None if p is None else p - len(chosen))[d]:
                continue
        if fresh[j] == it:
            if counts is not None and quotas is not None and quotas.district[j] >= 0:
                counts[quotas.district[j]] += 1
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
    if quotas is not None:
        assert counts is not None
        _fill_minimum(cover, weight, quotas, chosen, marg, counts)
        return chosen, marg, math.inf
    if p is not None and len(chosen) == p:
        # greedy is within 1 - (1 - 1/p)^p >= 1 - 1/e of the optimum
        ratio = 1.0 - (1.0 - 1.0 / p) ** p
        bound = min(bound, value / ratio)
    bound = max(bound, value)
    if not heap:
        bound = value  # every remaining candidate adds nothing: greedy covered all it can
    return chosen, marg, bound


def _fill_minimum(cover: sparse.csr_matrix, weight: np.ndarray, quotas: Quotas,
                  chosen: list[int], marg: list[float], counts: np.ndarray) -> None:
    """Add to each district short of its minimum its best remaining sites, in place."""
    while np.any(counts < quotas.at_least):
        uncovered = np.ones(len(weight), dtype=bool)
        for j in chosen:
            uncovered[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = False
        gain = np.asarray(cover @ np.where(uncovered, weight, 0.0)).ravel()
        short = np.append(counts < quotas.at_least, False)
        ok = short[np.where(quotas.district >= 0, quotas.district, quotas.n_districts)]
        ok[chosen] = False
        gain[~ok] = -1.0
        j = int(np.argmax(gain))
        chosen.append(j)
        marg.append(max(float(gain[j]), 0.0))
        counts[quotas.district[j]] += 1


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

    def copy(self) -> _State:
        """An independent copy (the same as building it again from its sites, cheaper)."""
        new = _State.__new__(_State)
        new.cover, new.cover_t, new.weight = self.cover, self.cover_t, self.weight
        new.sites = list(self.sites)
        new.count = self.count.copy()
        new.gain = self.gain.copy()
        new.value = self.value
        return new

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

    def best_addition(self, forbidden: list[int], allowed: np.ndarray | None = None) -> int:
        gains = self.gain.copy()
        gains[self.sites] = -1.0
        if forbidden:
            gains[forbidden] = -1.0
        if allowed is not None:
            gains[~allowed] = -2.0
        j = int(np.argmax(gains))  # first maximum: lowest position
        if gains[j] < 0 and forbidden:  # only the sites just dropped are left: take one back
            back = np.full(len(gains), -2.0)
            back[forbidden] = self.gain[forbidden]
            if allowed is not None:
                back[~allowed] = -2.0
            back[self.sites] = -2.0
            j = int(np.argmax(back))
        return j


def _swap_improve(state: _State, *, quotas: Quotas | None = None, max_passes: int = 50) -> None:
    """Improve the open sites by single swaps (Teitz & Bart's interchange), in place.

    Each open site in turn is replaced by the best other candidate (largest gain once it is
    gone, lowest position on ties) when that covers strictly more. Repeats until a pass makes
    no change. With ``quotas`` only swaps that keep every quota are made.
    """
    tol = 1e-12 * max(float(state.weight.sum()), 1.0)
    for _ in range(max_passes):
        changed = False
        for s in list(state.sites):
            loss, only = state.loss(s)
            gains = state.gain + state._spread(only)
            gains[state.sites] = -1.0
            if quotas is not None:
                counts = quotas.counts([j for j in state.sites if j != s])
                gains[~quotas.allowed_candidates(counts, 1)] = -1.0
            best = int(np.argmax(gains))
            if gains[best] > loss + tol:
                state.remove(s)
                state.add(best)
                changed = True
        if not changed:
            break


def _local_search(
    cover: sparse.csr_matrix, weight: np.ndarray, sites: list[int], *, rounds: int, seed: int = 0,
    quotas: Quotas | None = None, time_limit_s: float = math.inf, stop_at: float = math.inf,
) -> list[int]:
    """Swaps, then iterated local search: drop a few sites at random, refill greedily, swap.

    Deterministic (fixed seed) unless stopped by ``time_limit_s``. A round is kept only when it
    covers strictly more; with ``quotas`` every plan tried honours them. ``stop_at``: return
    as soon as the plan covers at least this much (the plans up to there are the same as
    without it).
    """
    import time

    t0 = time.perf_counter()
    cover_t = cover.T.tocsr()
    state = _State(cover, cover_t, weight, sites)
    _swap_improve(state, quotas=quotas)
    best, best_value = list(state.sites), state.value
    p = len(best)
    if p < 2 or best_value >= stop_at:
        return best
    rng = np.random.default_rng(seed)
    k = max(2, p // 5)
    tol = 1e-12 * max(float(weight.sum()), 1.0)
    fresh = _State(cover, cover_t, weight, best)  # built from ``best`` afresh, copied per round
    for _ in range(rounds):
        if time.perf_counter() - t0 > time_limit_s:
            break
        state = fresh.copy()
        out = [best[i] for i in rng.choice(p, size=min(k, p), replace=False)]
        for j in out:
            state.remove(j)
        while len(state.sites) < p:
            ok = None if quotas is None else quotas.allowed_candidates(
                quotas.counts(state.sites), p - len(state.sites))
            state.add(state.best_addition(out, ok))
        _swap_improve(state, quotas=quotas)
        if state.value > best_value + tol:
            best, best_value = list(state.sites), state.value
            if best_value >= stop_at:
                break
            fresh = _State(cover, cover_t, weight, best)
    return best


def _default_rounds(n_candidates: int, p: int) -> int:
    """Local-search rounds: 100, fewer when one round (about ``p`` scans of all candidates,
    a few times over) gets expensive; depends only on the model's size, so stays
    deterministic."""
    return int(max(5, min(100, 2e9 // max(1, 20 * n_candidates * p))))
