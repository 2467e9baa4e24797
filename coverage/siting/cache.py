"""On-disk cache of the siting inputs: street candidates and the coverage matrix.

Like the network cache (:func:`walkshed.network.load_network`): an entry's name is the
SHA-256 of everything it depends on (the network's arrays, the snapped positions, the reach
in metres, the spacing, a format number), files are written atomically, and an entry that
cannot be read is rebuilt, never trusted. A second run of the same scenario, or a ``rank``
after an ``analyze``, reads the matrix instead of running one Dijkstra per candidate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from .. import settings
from ..io import atomic_path
from ..network import WalkNetwork
from ..snap import Snapped

log = logging.getLogger(__name__)

#: Bumped when what is stored (or how it is computed) changes.
_FORMAT = 1


def _update(h: Any, part: Any) -> None:
    if isinstance(part, np.ndarray):
        arr = np.ascontiguousarray(part)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    else:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())


def digest(*parts: Any) -> str:
    """SHA-256 of arrays (dtype, shape and bytes) and JSON-able values, in order."""
    h = hashlib.sha256()
    for part in parts:
        _update(h, part)
    return h.hexdigest()


def network_digest(net: WalkNetwork) -> str:
    """A content hash of the network (graph, lengths and edge shapes), kept on the object."""
    known = getattr(net, "_siting_digest", None)
    if isinstance(known, str):
        return known
    import shapely

    coords = shapely.get_coordinates(net.edge_geometry)
    out = digest(net.crs.to_wkt(), net.node_xy, net.edge_u, net.edge_v, net.edge_length, coords)
    with contextlib.suppress(AttributeError):  # a network that takes no new attributes
        net._siting_digest = out  # type: ignore[attr-defined]
    return out


def snapped_digest(s: Snapped) -> str:
    return digest(s.edge, s.offset_m, s.access_m)


def _folder(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else Path(settings.cache_dir)


def _read_npz(entry: Path) -> dict[str, np.ndarray] | None:
    if not entry.exists():
        return None
    try:
        with entry.open("rb") as f, np.load(f, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        if int(data.get("format", -1)) != _FORMAT:
            raise ValueError("old cache format")
        if entry.name.rsplit("-", 1)[0] in RESULT_KINDS:
            used(entry)
        return data
    except Exception as exc:  # any unreadable entry is rebuilt, never trusted
        log.warning("siting cache entry %s unreadable (%s); rebuilding", entry, exc)
        return None


def _write_npz(entry: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        # a file handle, not a name: np.savez would append ".npz" to a name without it
        with atomic_path(entry) as tmp, open(tmp, "wb") as f:
            np.savez(f, format=np.array(_FORMAT), **arrays)  # type: ignore[arg-type]
    except OSError as exc:
        log.warning("could not write siting cache %s: %s", entry, exc)
        return
    kind = entry.name.rsplit("-", 1)[0]
    if kind in RESULT_KINDS:
        keep_recent(kind, entry.parent)


def cached_coverage(
    key: str, build: Callable[[], sparse.csr_matrix], *, use: bool | None = None,
    cache_dir: str | Path | None = None,
) -> sparse.csr_matrix:
    """The coverage matrix for ``key`` from the cache, else ``build()`` (and store it)."""
    if not (settings.use_cache if use is None else use):
        return build()
    entry = _folder(cache_dir) / f"coverage-{key[:32]}.npz"
    data = _read_npz(entry)
    if data is not None:
        try:
            shape = tuple(int(v) for v in data["shape"])
            m = sparse.csr_matrix((data["data"], data["indices"], data["indptr"]), shape=shape)
            m.check_format(full_check=True)
            log.info("coverage matrix from cache %s", entry)
            return m
        except Exception as exc:
            log.warning("siting cache entry %s inconsistent (%s); rebuilding", entry, exc)
    m = sparse.csr_matrix(build())
    _write_npz(entry, {"data": m.data, "indices": m.indices, "indptr": m.indptr,
                       "shape": np.asarray(m.shape, dtype=np.int64)})
    return m


#: The kinds of entries that hold a run's results, kept to the most recently used
#: :data:`walkshed.settings.cache_results_kept` of each.
RESULT_KINDS = frozenset({"assessment", "walking-areas", "siting-answer"})


def used(entry: Path) -> None:
    """Note that a result entry was read (its time is its last use)."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def keep_recent(kind: str, cache_dir: str | Path | None = None) -> None:
    """Remove the entries of ``kind`` beyond the most recently used
    :data:`walkshed.settings.cache_results_kept`."""
    keep = max(1, int(settings.cache_results_kept))
    entries = []
    for entry in _folder(cache_dir).glob(f"{kind}-*.npz"):
        with contextlib.suppress(OSError):
            entries.append((entry.stat().st_mtime, entry))
    for _, entry in sorted(entries, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            entry.unlink()


def entry_path(kind: str, key: str, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`cached_arrays` keeps the entry ``kind`` / ``key``."""
    return _folder(cache_dir) / f"{kind}-{key[:32]}.npz"


def cached_arrays(
    kind: str, key: str, build: Callable[[], dict[str, np.ndarray]], *,
    use: bool | None = None, cache_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """Named arrays for ``key`` from the cache, else ``build()`` (and store them unless
    ``build()`` gave none)."""
    if not (settings.use_cache if use is None else use):
        return build()
    entry = entry_path(kind, key, cache_dir)
    data = _read_npz(entry)
    if data is not None:
        data.pop("format", None)
        return data
    arrays = build()
    if arrays:
        _write_npz(entry, arrays)
    return arrays


# ---------------------------------------------------------------------------------------------
# the solver's answer

#: Bumped when the stored answer (or how the solvers reach it) changes.
_ANSWER_FORMAT = 1


def _complete(res: Any) -> bool:
    """Whether an answer is as good as its method asks whatever the machine's load: greedy
    (whose bounds spend budgets of work, not time), or a gap within the method's tolerance
    (0 for ``exact``) with no phase stopped at a time limit. Others (a time budget ran out
    first) are solved again next time."""
    if res.tolerance is None:
        return True
    if res.phases is not None and "best_status" in res.phases.columns and any(
            "time limit" in str(s) for s in res.phases["best_status"]):
        return False
    return bool(res.gap <= res.tolerance + 1e-12)


def check_answer(res: Any, cover: sparse.csr_matrix, weights: np.ndarray,
                 covered: np.ndarray, p: int | None) -> None:
    """Raise ValueError unless ``res`` is an answer of this model: distinct candidates in
    range (at most ``p``), each adding the residents it says in rank order, the totals those
    of ``weights`` and ``covered``, and the phases (if any) the prefixes of that list."""
    chosen = np.asarray(res.chosen)
    gains = np.asarray(res.newly_covered, dtype=float)
    n_cand = cover.shape[0]
    if (chosen.ndim != 1 or chosen.dtype.kind not in "iu" or gains.shape != chosen.shape
            or len(np.unique(chosen)) != len(chosen)
            or (len(chosen) and (chosen.min() < 0 or chosen.max() >= n_cand))
            or (p is not None and len(chosen) > p)):
        raise ValueError("not a list of distinct candidates of this model")
    have = np.asarray(covered, dtype=bool).copy()
    for j, gain in zip(chosen.tolist(), gains.tolist(), strict=True):
        reach = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
        new = reach[~have[reach]]
        if not np.isclose(float(weights[new].sum()), gain, rtol=1e-9, atol=1e-6):
            raise ValueError("a site does not add the residents it says")
        have[reach] = True
    reach_all = np.asarray(covered, dtype=bool).copy()
    reach_all[cover.indices] = True
    for got, want in ((res.objective, gains.sum()), (res.total, weights.sum()),
                      (res.already_covered, weights[np.asarray(covered, dtype=bool)].sum()),
                      (res.reachable, weights[reach_all].sum())):
        if not np.isclose(float(got), float(want), rtol=1e-9, atol=1e-6):
            raise ValueError("totals not those of this model")
    if res.phases is not None:
        plan = res.phases["plan_newly_covered"].to_numpy(dtype=float)
        if len(plan) > len(gains) or not np.allclose(plan, np.cumsum(gains)[:len(plan)],
                                                     rtol=1e-9, atol=1e-6):
            raise ValueError("phases not those of the ranked list")


def cached_answer(key: str, solve: Callable[[], Any], *, use: bool | None = None,
                  cache_dir: str | Path | None = None,
                  check: Callable[[Any], None] | None = None) -> Any:
    """The solver's :class:`~walkshed.siting.result.SitingResult` for ``key`` (a digest of
    the model and the method's settings) from the cache, else ``solve()`` (stored when
    complete, see :func:`_complete`). Read back, the answer has every field as solved
    (``table`` None) but ``time_s``, the time it took to read; ``check(answer)`` raises when
    it is not an answer of this model (it is then solved again, and the entry replaced)."""
    import time

    import pandas as pd

    from .._stored import decoded, encoded, known_msgids
    from .result import SitingResult

    if not (settings.use_cache if use is None else use):
        return solve()
    t0 = time.perf_counter()
    entry = entry_path("siting-answer", key, cache_dir)
    data = _read_npz(entry)
    known = known_msgids()
    if data is not None:
        try:
            head = json.loads(str(data["head"]))
            phases = None
            if head.pop("phases"):
                phases = pd.DataFrame({c: data[f"phase_{c}"] for c in head.pop("phase_numbers")})
                phases["best_status"] = decoded(head.pop("phase_status"), known)
            fields = {k: decoded(v, known) for k, v in head.items()}
            res = SitingResult(chosen=np.asarray(data["chosen"], dtype=np.int64),
                               newly_covered=np.asarray(data["newly_covered"], dtype=float),
                               phases=phases, **fields)
            res.time_s = time.perf_counter() - t0
            if check is not None:
                check(res)
            log.info("siting answer from cache %s", entry)
            return res
        except Exception as exc:
            log.warning("siting cache entry %s inconsistent (%s); solving again", entry, exc)
    res = solve()
    if not _complete(res):
        return res
    try:
        head = {k: encoded(getattr(res, k), known) for k in (
            "objective", "already_covered", "total", "reachable", "method", "status", "bound",
            "gap", "time_s", "p", "target_share", "target_met", "notes", "model_size",
            "greedy_objective", "tolerance")}
        arrays = {"chosen": np.asarray(res.chosen, dtype=np.int64),
                  "newly_covered": np.asarray(res.newly_covered, dtype=float)}
        head["phases"] = res.phases is not None
        if res.phases is not None:
            numbers = [c for c in res.phases.columns if c != "best_status"]
            head["phase_numbers"] = numbers
            head["phase_status"] = encoded(list(res.phases["best_status"]), known)
            for c in numbers:
                arrays[f"phase_{c}"] = res.phases[c].to_numpy()
        arrays["head"] = np.asarray(json.dumps(head))
    except TypeError as exc:  # an answer this cache cannot keep: solved again next time
        log.info("siting answer not cached: %s", exc)
        return res
    _write_npz(entry, arrays)
    return res
