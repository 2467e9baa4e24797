"""One large city's site x resident coverage matrix, built in tiles of sites as Dask tasks.

The sites are grouped by square tiles (as :func:`walkshed.reach.bounded_searches` groups
them), a task builds the rows of one group of tiles with :func:`walkshed.reach.coverage_matrix`
on its own worker, and the pieces are assembled into the same CSR matrix the serial build
gives. The network and the snapped points are scattered to the workers once (each worker keeps
one copy), so the task graph holds only keys and small arrays of site positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from ..reach import _tiles, coverage_matrix

if TYPE_CHECKING:
    from ..network import WalkNetwork
    from ..snap import Snapped

__all__ = ["coverage_matrix_dask", "site_chunks"]


def site_chunks(sites: Snapped, max_distance_m: float, *, per_chunk: int = 2048
                ) -> list[np.ndarray]:
    """Positions of the snapped sites in groups of whole square tiles, about ``per_chunk``
    sites each (a tile larger than that is split), in tile order."""
    ok = np.flatnonzero(sites.ok)
    chunks: list[np.ndarray] = []
    current: list[np.ndarray] = []
    size = 0
    for group in _tiles(sites.xy[ok], max(float(max_distance_m), 250.0)):
        for start in range(0, len(group), per_chunk):
            part = ok[group[start:start + per_chunk]]
            if size and size + len(part) > per_chunk:
                chunks.append(np.sort(np.concatenate(current)))
                current, size = [], 0
            current.append(part)
            size += len(part)
    if current:
        chunks.append(np.sort(np.concatenate(current)))
    return chunks


def _rows_of(payload: tuple[Any, Any, Any], positions: np.ndarray, max_distance_m: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The task: the matrix rows of ``positions`` as (global rows, columns, distances)."""
    network, sites, demand = payload
    part = coverage_matrix(network, sites.subset(positions), demand, max_distance_m).tocoo()
    return positions[part.row], part.col.astype(np.int64), part.data


def coverage_matrix_dask(
    client: Any,
    network: WalkNetwork,
    sites: Snapped,
    demand: Snapped,
    max_distance_m: float,
    *,
    per_chunk: int = 2048,
    retries: int = 2,
) -> sparse.csr_matrix:
    """:func:`walkshed.reach.coverage_matrix` built in chunks of sites on a Dask cluster.

    Parameters
    ----------
    client
        A ``distributed.Client``.
    network, sites, demand, max_distance_m
        As for :func:`walkshed.reach.coverage_matrix`.
    per_chunk
        Sites per task (whole tiles of sites, so each task searches one part of the city).
    retries
        Reruns of a task whose worker died.

    Returns
    -------
    scipy.sparse.csr_matrix
        Equal to the serial matrix: same shape, pattern and distances.
    """
    chunks = site_chunks(sites, max_distance_m, per_chunk=per_chunk)
    payload = client.scatter((network, sites, demand), broadcast=True, hash=False)
    futures = client.map(_rows_of, [payload] * len(chunks), chunks,
                         [float(max_distance_m)] * len(chunks), pure=False, retries=retries)
    pieces = client.gather(futures)
    r_all = np.concatenate([p[0] for p in pieces]) if pieces else np.empty(0, np.int64)
    c_all = np.concatenate([p[1] for p in pieces]) if pieces else np.empty(0, np.int64)
    v_all = np.concatenate([p[2] for p in pieces]) if pieces else np.empty(0)
    # the serial layout: rows in order, each row's columns ascending
    order = np.lexsort((c_all, r_all))
    r_all, c_all, v_all = r_all[order], c_all[order], v_all[order]
    indptr = np.zeros(len(sites) + 1, dtype=np.int64)
    np.add.at(indptr, r_all + 1, 1)
    np.cumsum(indptr, out=indptr)
    return sparse.csr_matrix((v_all, c_all, indptr), shape=(len(sites), len(demand)))
