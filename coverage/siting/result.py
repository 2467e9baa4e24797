"""The answer of a siting model (:class:`SitingResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

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
        What greedy (with local search) covered, for comparison.
    tolerance
        The relative gap the method accepted (``"auto"``), 0 for ``"exact"``, ``None`` for
        ``"greedy"`` (which states its proved gap but does not aim at one).
    phases
        For ``k = 1, 2, ...``: ``plan_newly_covered`` (the first ``k`` sites of the ranked
        answer, the nested plan the table shows), ``best_newly_covered`` (the best
        ``k``-site plan found on its own), ``best_bound`` (a proved upper bound on any
        ``k``-site plan), ``price_of_phasing`` (best minus nested) and ``best_status``.
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
    tolerance: float | None = None
    phases: pd.DataFrame | None = None

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
