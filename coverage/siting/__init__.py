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

The package's modules: :mod:`.solvers` (the array-level solvers), :mod:`.greedy` (lazy greedy
and local search), :mod:`.reduction` (merged demand, dominated candidates), :mod:`.bounds` (the
Lagrangian bound), :mod:`.lp` (the LP bound, reduced-cost fixing and the proof that fewer sites
fall short), :mod:`.mip` (the HiGHS layer), :mod:`.candidates` (candidate generation),
:mod:`.propose` (the GeoDataFrame entry point and its ranked table) and :mod:`.result`
(:class:`SitingResult`).
"""

from __future__ import annotations

from .candidates import Candidates, make_candidates, network_candidates
from .greedy import _lazy_greedy as _lazy_greedy
from .mip import _mip as _mip
from .mip import _MipAnswer as _MipAnswer
from .propose import propose_sites, write_csv, write_gpkg
from .result import SitingResult
from .solvers import Method, solve_mclp, solve_min_sites

__all__ = [
    "Candidates",
    "Method",
    "SitingResult",
    "make_candidates",
    "network_candidates",
    "propose_sites",
    "solve_mclp",
    "solve_min_sites",
    "write_csv",
    "write_gpkg",
]
