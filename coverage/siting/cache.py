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
