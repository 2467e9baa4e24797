"""District quotas: at least / at most so many new sites per district.

A :class:`Quotas` holds, for every candidate, the district it lies in (``-1``: none) and, per
district, the least and the most new sites it may get. The greedy rule :meth:`Quotas.allowed`
keeps every partial plan completable: a site is allowed while its district is below its
maximum and enough places are left for the districts still short of their minimum, so a plan
of ``p`` sites built by it honours every quota.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import input_error


@dataclass(frozen=True)
class Quotas:
    """Least and most new sites per district.

    Attributes
    ----------
    district
        ``(n_candidates,)`` district position of each candidate, ``-1`` outside every district
        (no quota applies there).
    at_least, at_most
        ``(n_districts,)`` bounds on the new sites in each district (``at_most`` may be
        ``inf``).
    names
        District names, for messages.
    """

    district: np.ndarray
    at_least: np.ndarray
    at_most: np.ndarray
    names: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, district: np.ndarray, at_least: dict[int, int] | None = None,
        at_most: dict[int, int] | None = None, names: list[str] | tuple[str, ...] = (),
    ) -> Quotas:
        """Quotas from per-district dictionaries (district position -> number)."""
        d = np.asarray(district, dtype=np.int64)
        n = max(len(names), int(d.max()) + 1 if len(d) else 0,
                *(k + 1 for k in (at_least or {})), *(k + 1 for k in (at_most or {})))
        lo = np.zeros(n, dtype=np.int64)
        hi = np.full(n, np.inf)
        for k, v in (at_least or {}).items():
            lo[k] = int(v)
        for k, v in (at_most or {}).items():
            hi[k] = float(v)
        return cls(d, lo, hi, tuple(names) or tuple(str(i) for i in range(n)))

    @property
    def n_districts(self) -> int:
        return len(self.at_least)

    def name(self, k: int) -> str:
        return self.names[k] if k < len(self.names) else str(k)

    def subset(self, keep: np.ndarray) -> Quotas:
        """The quotas of the candidates at positions ``keep``."""
        return Quotas(self.district[keep], self.at_least, self.at_most, self.names)

    def counts(self, sites: list[int] | np.ndarray) -> np.ndarray:
        d = self.district[np.asarray(sites, dtype=np.int64)]
        return np.bincount(d[d >= 0], minlength=self.n_districts)

    def check(self, p: int | None) -> None:
        """Raise when no plan (of ``p`` sites, if given) can honour the quotas."""
        avail = np.bincount(self.district[self.district >= 0], minlength=self.n_districts)
        for k in range(self.n_districts):
            if self.at_least[k] > self.at_most[k]:
                raise input_error(f"quota of {self.name(k)}",
                                  f"at least {self.at_least[k]} but at most "
                                  f"{self.at_most[k]:g} new sites",
                                  "Make the least number no larger than the most")
            if self.at_least[k] > avail[k]:
                raise input_error(f"quota of {self.name(k)}",
                                  f"at least {self.at_least[k]} new sites asked for but the "
                                  f"district has {avail[k]} candidate sites",
                                  "Lower the quota or add candidate sites there")
        need = int(self.at_least.sum())
        if p is not None and need > p:
            raise input_error("district quotas",
                              f"they ask for at least {need} new sites in all but p = {p}",
                              "Raise the number of new sites or lower the quotas")
        if p is not None:
            room = np.minimum(self.at_most, avail).sum() + int((self.district < 0).sum())
            if room < p:
                raise input_error("district quotas",
                                  f"they allow at most {room:g} new sites but p = {p}",
                                  "Lower the number of new sites or raise the quotas")

    def satisfied(self, sites: list[int] | np.ndarray, p: int | None = None) -> bool:
        c = self.counts(sites)
        ok = bool(np.all(c >= self.at_least) and np.all(c <= self.at_most))
        return ok and (p is None or len(sites) <= p)

    def allowed(self, counts: np.ndarray, left: int | None) -> np.ndarray:
        """Per district (last entry: no district), whether one more site may go there now.

        ``left`` is the number of sites still to place including this one (``None``: no
        total, only the maxima apply).
        """
        ok = np.append(counts < self.at_most, True)
        if left is not None:
            deficit = int(np.maximum(self.at_least - counts, 0).sum())
            if left - 1 < deficit:  # only districts short of their minimum may take it
                ok = np.append((counts < self.at_least) & ok[:-1], False)
        return ok

    def allowed_candidates(self, counts: np.ndarray, left: int | None) -> np.ndarray:
        """:meth:`allowed` for every candidate (boolean, ``(n_candidates,)``)."""
        ok = self.allowed(counts, left)
        return ok[np.where(self.district >= 0, self.district, self.n_districts)]

    def top(self, score: np.ndarray, p: int) -> np.ndarray:
        """Positions of ``p`` candidates of largest total ``score`` (``>= 0``) that honour the
        quotas: each district's ``at_least`` best first, then the best of the rest within the
        maxima (optimal for these nested bounds by an exchange argument)."""
        d = np.where(self.district >= 0, self.district, self.n_districts)
        order = np.argsort(-score, kind="stable")  # ties: lowest position first
        ds = d[order]
        by = np.argsort(ds, kind="stable")
        start = np.searchsorted(ds[by], ds[by])  # first entry of each district in ``by``
        rank = np.empty(len(order), dtype=np.int64)
        rank[by] = np.arange(len(by)) - start  # rank of each sorted entry in its district
        lo = np.append(self.at_least, 0)[ds]
        hi = np.append(self.at_most, np.inf)[ds]
        must = rank < lo
        left = p - int(must.sum())
        free = np.flatnonzero(~must & (rank < hi))[:max(left, 0)]
        return np.sort(np.concatenate([order[must], order[free]]))
