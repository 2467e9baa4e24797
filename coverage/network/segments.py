"""The grid index over the straight segments of a network's edges (for snapping)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

__all__ = ["SegmentIndex"]


@dataclass(frozen=True)
class SegmentIndex:
    """Every straight segment of the edge geometries, bucketed in square cells (for snapping).

    Each segment is cut (virtually) into pieces no longer than ``cell_m``, and each piece is
    filed under the cell holding its midpoint. A segment none of whose pieces lies in the
    block of cells around a point is at least ``margin - cell_m / 2`` away from the point,
    where ``margin`` is the distance from the point to the block's border: that is what lets
    :func:`walkshed.snap.snap_geometries` prove it found the nearest segment.

    Attributes
    ----------
    a, b
        ``(s, 2)`` segment start and end.
    edge
        Edge position of each segment.
    start_m
        Distance along the edge from ``u`` to the segment's start.
    cell_m
        Cell size and largest piece length, in metres.
    origin
        Corner of cell ``(0, 0)``.
    shape
        Number of cells along x and y.
    cell_key
        Sorted keys (``ix * ny + iy``) of the cells holding at least one piece.
    cell_start
        ``len(cell_key) + 1`` offsets into ``cell_segment``.
    cell_segment
        Segment of each piece, grouped by cell.
    packed
        Per piece, in the order of ``cell_segment``: its segment's ``ax, ay, dx, dy,
        1 / length^2`` (``1 / length^2`` is 0 for a zero-length segment). Candidates of one
        point are a few runs of consecutive rows, which keeps the distance step cache-friendly.
    dense_start
        When the grid of cells is small enough, ``nx * ny + 1`` offsets into ``cell_segment``
        for every cell (empty ones included), replacing the binary search; else ``None``.
    """

    a: np.ndarray
    b: np.ndarray
    edge: np.ndarray
    start_m: np.ndarray
    cell_m: float
    origin: np.ndarray
    shape: tuple[int, int]
    cell_key: np.ndarray
    cell_start: np.ndarray
    cell_segment: np.ndarray
    packed: np.ndarray
    dense_start: np.ndarray | None

    @classmethod
    def build(cls, geoms: np.ndarray, cell_m: float | None = None) -> SegmentIndex:
        """Index the segments of LineStrings ``geoms`` (cell size chosen from the segment
        lengths unless given)."""
        coords = shapely.get_coordinates(geoms)
        ncoord = shapely.get_num_coordinates(geoms).astype(np.int64)
        ends = np.cumsum(ncoord)
        is_seg = np.ones(len(coords), dtype=bool)
        is_seg[ends - 1] = False  # the last vertex of each line starts no segment
        first = np.flatnonzero(is_seg)
        a = np.take(coords, first, axis=0)
        b = np.take(coords, first + 1, axis=0)
        edge = np.repeat(np.arange(len(geoms)), ncoord - 1)
        length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
        # distance from the edge start, summed segment by segment along each edge (the k-th
        # segments of all edges at once; edges sorted by segment count, longest first)
        nseg = ncoord - 1
        first_seg = np.cumsum(nseg) - nseg
        start_m = np.zeros(len(length))
        by_count = np.argsort(-nseg, kind="stable")
        n_with = np.searchsorted(-nseg[by_count], -np.arange(1, int(nseg.max(initial=1))),
                                 side="left")  # edges with more than k segments, k = 1, 2, ..
        running = np.zeros(len(geoms))
        for k, count in enumerate(n_with, start=1):
            es = by_count[:count]
            running[es] += length[first_seg[es] + k - 1]
            start_m[first_seg[es] + k] = running[es]
        if cell_m is not None:
            cell = float(cell_m)
        else:
            # about the length of a typical segment (measured best on Almaty and a street grid)
            cell = float(np.clip(0.75 * np.median(length), 10.0, 100.0)) if len(length) else 10.0
        n_piece = np.maximum(np.ceil(length / cell).astype(np.int64), 1)
        piece_segment = np.repeat(np.arange(len(a)), n_piece)
        k = np.arange(len(piece_segment)) - np.repeat(np.cumsum(n_piece) - n_piece, n_piece)
        frac = (k + 0.5) / n_piece[piece_segment]
        # pieces are length / ceil(length / cell) <= cell long
        # (np.take along axis 0: much faster than fancy indexing on 2-d arrays)
        mid = np.take(a, piece_segment, axis=0)
        mid += frac[:, None] * np.take(b - a, piece_segment, axis=0)
        origin = mid.min(axis=0) if len(mid) else np.zeros(2)
        ij = np.floor((mid - origin) / cell).astype(np.int64)
        nx_ = int(ij[:, 0].max()) + 1 if len(ij) else 1
        ny_ = int(ij[:, 1].max()) + 1 if len(ij) else 1
        key = ij[:, 0] * ny_ + ij[:, 1]
        order = np.argsort(key, kind="stable")
        key = key[order]
        new = np.ones(len(key), dtype=bool)
        new[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(new)
        cell_segment = piece_segment[order]
        inv_len2 = np.divide(1.0, length**2, out=np.zeros_like(length), where=length > 0)
        packed = np.take(np.column_stack([a, b - a, inv_len2]), cell_segment, axis=0)
        dense_start = None
        if nx_ * ny_ <= max(8 * len(key), 1 << 22):
            dense_start = np.zeros(nx_ * ny_ + 1, dtype=np.int64)
            np.cumsum(np.bincount(key, minlength=nx_ * ny_), out=dense_start[1:])
        return cls(
            a=a,
            b=b,
            edge=edge,
            start_m=start_m,
            cell_m=cell,
            origin=origin,
            shape=(nx_, ny_),
            cell_key=key[starts],
            cell_start=np.append(starts, len(key)),
            cell_segment=cell_segment,
            packed=packed,
            dense_start=dense_start,
        )

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        """Key of the cell holding each point (an order that keeps nearby points together)."""
        ij = np.floor((xy - self.origin) / self.cell_m).astype(np.int64)
        return ij[:, 0] * self.shape[1] + ij[:, 1]

    @cached_property
    def _held_cells(self) -> tuple[int, np.ndarray]:
        """``k`` and the summed-area table of the cells holding a piece, merged ``k x k``
        (kept with the index: :meth:`nothing_within` is asked once per snapped point set)."""
        nx_, ny_ = self.shape
        k = max(1, math.ceil(math.sqrt(nx_ * ny_ / 1_000_000)))
        gx, gy = -(-nx_ // k), -(-ny_ // k)
        ix, iy = self.cell_key // ny_, self.cell_key % ny_
        counts = np.bincount((ix // k) * gy + iy // k, minlength=gx * gy).reshape(gx, gy)
        table = np.zeros((gx + 1, gy + 1), dtype=np.int32)  # at most len(cell_key) < 2**31
        np.cumsum(np.cumsum(counts, axis=0), axis=1, out=table[1:, 1:])
        return k, table

    def nothing_within(self, xy: np.ndarray, distance: float) -> np.ndarray:
        """Which points are proven farther than ``distance`` from every segment.

        Every point of a segment lies within ``cell_m / 2`` of the midpoint of one of its
        pieces, and that midpoint lies in a cell holding a piece. So a point whose square of
        half-side ``distance + cell_m / 2`` (a metre more, for rounding) meets no such cell is
        farther than ``distance`` from every segment. The cells holding pieces are counted on
        a coarser grid (``k x k`` cells each, about a million at most) with summed-area tables:
        one look-up per point, whatever the distance. False means "not proven", not "near".

        Parameters
        ----------
        xy
            ``(m, 2)`` points.
        distance
            Metres.

        Returns
        -------
        ndarray of bool
        """
        out = np.zeros(len(xy), dtype=bool)
        if len(xy) == 0 or len(self.cell_key) == 0:
            out[:] = len(self.cell_key) == 0
            return out
        k, table = self._held_cells
        gx, gy = table.shape[0] - 1, table.shape[1] - 1
        reach = float(distance) + self.cell_m / 2.0 + 1.0
        lo = np.floor((xy - reach - self.origin) / self.cell_m).astype(np.int64) // k
        hi = np.floor((xy + reach - self.origin) / self.cell_m).astype(np.int64) // k
        x0, x1 = np.clip(lo[:, 0], 0, gx), np.clip(hi[:, 0], -1, gx - 1) + 1
        y0, y1 = np.clip(lo[:, 1], 0, gy), np.clip(hi[:, 1], -1, gy - 1) + 1
        empty_block = (x1 <= x0) | (y1 <= y0)
        x1, y1 = np.maximum(x1, x0), np.maximum(y1, y0)
        held = table[x1, y1] - table[x0, y1] - table[x1, y0] + table[x0, y0]
        out[:] = empty_block | (held == 0)
        return out

    def candidates(
        self, xy: np.ndarray, ring: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segments filed in the ``(2 ring + 1)^2`` cells around each point.

        Returns
        -------
        point, piece : ndarray
            Candidate pairs, grouped by point (ascending); ``piece`` indexes ``cell_segment``
            and ``packed``.
        margin : ndarray
            Per point, the distance to the border of its block of cells: every segment not
            among its candidates is at least ``margin - cell_m / 2`` away.
        """
        c = self.cell_m
        rel = (xy - self.origin) / c
        cxy = np.floor(rel).astype(np.int64)
        low = (rel - (cxy - ring)) * c
        high = ((cxy + ring + 1) - rel) * c
        margin = np.minimum(low, high).min(axis=1)
        # the cells (x, y - ring .. y + ring) of one column of the block have consecutive
        # keys, so their pieces are one run of cell_segment: one range per column
        nx_, ny_ = self.shape
        offs = np.arange(-ring, ring + 1)
        qx = cxy[:, 0, None] + offs[None, :]  # (m, 2 ring + 1)
        y_lo = np.clip(cxy[:, 1] - ring, 0, ny_ - 1)[:, None]
        y_hi = np.clip(cxy[:, 1] + ring, 0, ny_ - 1)[:, None]
        valid = (
            (qx >= 0) & (qx < nx_) & (cxy[:, 1, None] + ring >= 0)
            & (cxy[:, 1, None] - ring < ny_)
        )
        k_lo = (qx * ny_ + y_lo).ravel()
        k_hi = (qx * ny_ + y_hi).ravel()
        if self.dense_start is not None:
            inside = valid.ravel()
            k_lo = np.where(inside, k_lo, 0)
            k_hi = np.where(inside, k_hi, 0)
            begin = self.dense_start[k_lo]
            end = self.dense_start[k_hi + 1]
        else:
            begin = self.cell_start[np.searchsorted(self.cell_key, k_lo)]
            end = self.cell_start[np.searchsorted(self.cell_key, k_hi, side="right")]
        count = np.where(valid.ravel(), end - begin, 0)
        total = int(count.sum())
        point = np.repeat(np.repeat(np.arange(len(xy)), len(offs)), count)
        skip = np.repeat(np.cumsum(count) - count, count)
        idx = np.repeat(begin, count) + (np.arange(total) - skip)
        return point, idx, margin


