"""Incremental, exact walking distances to the nearest precinct of one scenario.

:class:`NearestField` keeps, for one set of precincts (the open ones, or the open and planned
ones), the walking distance from every street node and every resident to the nearest of them
and which one it is, and updates both when precincts come and go:

- **add**: one search from the new precinct, bounded, merged with the current minimum. The
  bound starts at the largest threshold and doubles until no improved node borders a node the
  search did not reach, which proves that no node farther away is improved (a walk to it from
  the new precinct leaves the searched ball through an unimproved node).
- **remove**: only the nodes whose nearest was the removed precinct (its cell) are searched
  again, seeded from the unchanged nodes around the cell and from the other precincts standing
  on the cell's streets.

Only the residents on streets whose end nodes changed (or on the street of the changed
precinct) are recomputed. The arithmetic is the one of :func:`walkshed.reach.nearest_facility`
(the same float additions in the same order), so after any sequence of edits the distances
equal a fresh multi-source search exactly. Precincts at the same snapped place are searched
once; the first in the members' order serves the residents, as :func:`walkshed.assess.assess`
does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from ..network import WalkNetwork
from ..reach import node_distances
from ..snap import Snapped

__all__ = ["NearestField", "Sites"]

Place = tuple[int, float, float]


@dataclass
class Sites:
    """Snapped positions of every precinct slot (a slot is a row of the session's table)."""

    edge: np.ndarray
    offset_m: np.ndarray
    access_m: np.ndarray
    xy: np.ndarray

    def place(self, slot: int) -> Place | None:
        """The snapped place ``(edge, offset, access)``; ``None`` when not on the network."""
        e = int(self.edge[slot])
        if e < 0:
            return None
        return (e, float(self.offset_m[slot]), float(self.access_m[slot]))

    def snapped(self, slots: np.ndarray) -> Snapped:
        """The :class:`~walkshed.snap.Snapped` of ``slots``."""
        return Snapped(self.edge[slots], self.offset_m[slots], self.access_m[slots],
                       self.xy[slots])


class _Searcher:
    """Single-source bounded searches on the network with one virtual source node.

    The extended adjacency is built once; each search rewrites the two entries of the
    virtual row, with the weights :func:`walkshed.reach.node_distances` gives them.
    """

    def __init__(self, network: WalkNetwork) -> None:
        adj = network.adjacency
        n = network.n_nodes
        self.n = n
        indptr = np.concatenate([adj.indptr.astype(np.int64), [adj.indptr[-1] + 2]])
        indices = np.concatenate([adj.indices.astype(np.int64), [0, 0]])
        data = np.concatenate([adj.data, [np.inf, np.inf]])
        big = max(n + 1, len(indices)) >= np.iinfo(np.int32).max
        it = np.int64 if big else np.int32
        self.ext = sparse.csr_matrix((data, indices.astype(it), indptr.astype(it)),
                                     shape=(n + 1, n + 1))
        self.tail = int(adj.indptr[-1])

    def search(self, network: WalkNetwork, edge: int, offset: float, access: float,
               limit: float) -> np.ndarray:
        u, v = int(network.edge_u[edge]), int(network.edge_v[edge])
        to_u = access + offset
        to_v = access + (network.edge_length[edge] - offset)
        if u == v:
            to_u = to_v = min(to_u, to_v)
        k = self.tail
        self.ext.indices[k:k + 2] = (u, v)
        self.ext.data[k:k + 2] = (to_u, to_v)
        d = dijkstra(self.ext, directed=True, indices=self.n, limit=limit)
        return np.asarray(d[: self.n])


class NearestField:
    """Distance from every node and resident to the nearest of a changing set of precincts.

    Parameters
    ----------
    network
        The walking network.
    residents
        Snapped demand points.
    sites
        Snapped precinct slots (shared with the session; grows as precincts are added).
    members
        Slots of this scenario's precincts, in order of preference (co-located precincts: the
        first serves).
    bound_m
        First search bound of an added precinct (the largest threshold).
    """

    def __init__(self, network: WalkNetwork, residents: Snapped, sites: Sites,
                 members: np.ndarray, bound_m: float, *, searcher: _Searcher | None = None
                 ) -> None:
        self.network = network
        self.res = residents
        self.sites = sites
        self.bound_m = float(bound_m)
        self.searcher = searcher or _Searcher(network)
        rok = residents.ok
        self.res_ok = np.flatnonzero(rok)
        e = np.where(rok, residents.edge, 0)
        self.res_u = network.edge_u[e]
        self.res_v = network.edge_v[e]
        self.res_rest = network.edge_length[e] - np.where(rok, residents.offset_m, 0.0)
        # residents by edge, for the ones on the street of a changed precinct
        order = self.res_ok[np.argsort(residents.edge[self.res_ok], kind="stable")]
        self.by_edge = order
        self.by_edge_key = residents.edge[order]
        self.reps: dict[Place, int] = {}
        self.rank: dict[int, int] = {}
        self._reset(np.asarray(members, dtype=np.int64))

    def copy(self) -> NearestField:
        """An independent copy (the arrays copied, the network and index shared)."""
        new = object.__new__(NearestField)
        new.__dict__.update(self.__dict__)
        for name in ("node_dist", "node_src", "dist", "src"):
            setattr(new, name, getattr(self, name).copy())
        new.reps = dict(self.reps)
        new.rank = dict(self.rank)
        return new

    # -- the whole field from scratch --------------------------------------------------------

    def _representatives(self, members: np.ndarray) -> tuple[dict[Place, int], dict[int, int]]:
        reps: dict[Place, int] = {}
        for s in members.tolist():
            p = self.sites.place(s)
            if p is not None and p not in reps:
                reps[p] = s
        kept = list(reps.values())
        return reps, {s: i for i, s in enumerate(kept)}

    def _reset(self, members: np.ndarray) -> None:
        self.reps, self.rank = self._representatives(members)
        kept = np.asarray(list(self.reps.values()), dtype=np.int64)
        n = self.network.n_nodes
        if len(kept):
            d, src = node_distances(self.network, self.sites.snapped(kept))
            self.node_dist = d
            self.node_src = np.where(src >= 0, kept[np.maximum(src, 0)], -1)
        else:
            self.node_dist = np.full(n, np.inf)
            self.node_src = np.full(n, -1, dtype=np.int64)
        self.dist = np.full(len(self.res), np.inf)
        self.src = np.full(len(self.res), -1, dtype=np.int64)
        self._residents(self.res_ok)

    # -- updates -----------------------------------------------------------------------------

    def update(self, members: np.ndarray) -> None:
        """Make the field that of ``members`` (slots, in order of preference)."""
        reps, rank = self._representatives(np.asarray(members, dtype=np.int64))
        removed = [s for p, s in self.reps.items() if p not in reps]
        added = [s for p, s in reps.items() if p not in self.reps]
        relabel = {s: reps[p] for p, s in self.reps.items() if p in reps and reps[p] != s}
        # streets whose residents may have a new direct walk (old places of moved ones too)
        edges = [p[0] for p, s in self.reps.items() if p not in reps or reps[p] != s]
        edges += [p[0] for p in reps if p not in self.reps]
        self.reps, self.rank = reps, rank
        if relabel:  # the same place now served by another precinct: same distances
            old = np.asarray(list(relabel), dtype=np.int64)
            new = np.asarray(list(relabel.values()), dtype=np.int64)
            lut_keys = np.argsort(old)
            for arr in (self.node_src, self.src):
                hit = np.isin(arr, old)
                if hit.any():
                    pos = np.searchsorted(old[lut_keys], arr[hit])
                    arr[hit] = new[lut_keys][pos]
        changed = np.zeros(self.network.n_nodes, dtype=bool)
        if removed:
            changed |= self._remove(np.asarray(removed, dtype=np.int64), set(added))
        for s in added:
            changed |= self._add(s)
        if changed.any() or edges:
            hit = changed[self.res_u] | changed[self.res_v]
            hit[~self.res.ok] = False
            who = [np.flatnonzero(hit)]
            for e in set(edges):
                a, b = np.searchsorted(self.by_edge_key, [e, e + 1])
                who.append(self.by_edge[a:b])
            self._residents(np.unique(np.concatenate(who)))

    def _add(self, slot: int) -> np.ndarray:
        """Merge a search from ``slot``; the mask of nodes whose distance or label changed."""
        net = self.network
        e, t, a = int(self.sites.edge[slot]), float(self.sites.offset_m[slot]), \
            float(self.sites.access_m[slot])
        adj = net.adjacency
        limit = max(self.bound_m, 1.0)
        while True:
            d = self.searcher.search(net, e, t, a, limit)
            better = d < self.node_dist
            idx = np.flatnonzero(better)
            if not np.isfinite(limit):
                break
            # the walk leaves the searched ball right at the source: search farther
            ends_in = np.isfinite(d[net.edge_u[e]]) and np.isfinite(d[net.edge_v[e]])
            if ends_in and len(idx) == 0:
                break
            starts = adj.indptr[idx]
            lens = adj.indptr[idx + 1] - starts
            nb = adj.indices[np.repeat(starts - np.cumsum(lens) + lens, lens)
                             + np.arange(int(lens.sum()))]
            if ends_in and np.isfinite(d[nb]).all():
                break  # every improved node lies inside the searched ball: exact
            limit = limit * 2.0 if limit < 1e7 else np.inf
        self.node_dist[idx] = d[idx]
        self.node_src[idx] = slot
        return better

    def _remove(self, slots: np.ndarray, pending: set[int]) -> np.ndarray:
        """Search the cells of ``slots`` again from their surroundings; the changed mask.

        ``pending`` are representatives not yet merged into the field (added next): they seed
        nothing, so that the field stays a distance field of the merged ones.
        """
        net = self.network
        cell_mask = np.isin(self.node_src, slots)
        cell = np.flatnonzero(cell_mask)
        if len(cell) == 0:
            return cell_mask
        adj = net.adjacency
        m = len(cell)
        local = np.full(net.n_nodes, -1, dtype=np.int64)
        local[cell] = np.arange(m)
        # edges into the cell: from outside nodes (seeds) and inside it (the subgraph)
        starts = adj.indptr[cell].astype(np.int64)
        lens = adj.indptr[cell + 1].astype(np.int64) - starts
        pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        row = np.repeat(np.arange(m), lens)
        col_g = adj.indices[pos].astype(np.int64)
        w = adj.data[pos]
        inside = local[col_g] >= 0
        sub = sparse.csr_matrix((w[inside], (row[inside], local[col_g[inside]])), shape=(m, m))
        # seeds: unchanged neighbours (the adjacency is symmetric) ...
        out_row, out_col = row[~inside], col_g[~inside]
        seed_v = self.node_dist[out_col] + w[~inside]
        seed_lab = self.node_src[out_col]
        # ... and the remaining precincts standing on an edge that ends in the cell
        reps = np.asarray([s for s in self.reps.values() if s not in pending], dtype=np.int64)
        extra_v: list[float] = []
        extra_row: list[int] = []
        extra_lab: list[int] = []
        if len(reps):
            re = self.sites.edge[reps]
            ru, rv = net.edge_u[re], net.edge_v[re]
            near = np.flatnonzero((local[ru] >= 0) | (local[rv] >= 0))
            for j in near.tolist():
                s = int(reps[j])
                t, a = float(self.sites.offset_m[s]), float(self.sites.access_m[s])
                e = int(re[j])
                to_u = a + t
                to_v = a + (net.edge_length[e] - t)
                if ru[j] == rv[j]:
                    to_u = to_v = min(to_u, to_v)
                for node, val in ((int(ru[j]), to_u), (int(rv[j]), to_v)):
                    if local[node] >= 0:
                        extra_row.append(int(local[node]))
                        extra_v.append(float(val))
                        extra_lab.append(s)
        s_row = np.concatenate([out_row, np.asarray(extra_row, dtype=np.int64)])
        s_val = np.concatenate([seed_v, np.asarray(extra_v, dtype=float)])
        s_lab = np.concatenate([seed_lab, np.asarray(extra_lab, dtype=np.int64)])
        keep = np.isfinite(s_val)
        s_row, s_val, s_lab = s_row[keep], s_val[keep], s_lab[keep]
        new_d = np.full(m, np.inf)
        new_s = np.full(m, -1, dtype=np.int64)
        if len(s_row):
            # one virtual source per seeded node: its best seed (ties: the first)
            order = np.lexsort((s_val, s_row))
            s_row, s_val, s_lab = s_row[order], s_val[order], s_lab[order]
            first = np.ones(len(s_row), dtype=bool)
            first[1:] = s_row[1:] != s_row[:-1]
            s_row, s_val, s_lab = s_row[first], s_val[first], s_lab[first]
            k = len(s_row)
            virt = m + np.arange(k)
            coo = sub.tocoo()
            ext = sparse.csr_matrix(
                (np.concatenate([coo.data, s_val]),
                 (np.concatenate([coo.row, virt]), np.concatenate([coo.col, s_row]))),
                shape=(m + k, m + k),
            )
            d, _, srcs = dijkstra(ext, directed=True, indices=virt, min_only=True,
                                  return_predecessors=True)
            d = d[:m]
            srcs = srcs[:m]
            reached = srcs >= 0
            new_d[reached] = d[reached]
            new_s[reached] = s_lab[srcs[reached] - m]
        self.node_dist[cell] = new_d
        self.node_src[cell] = new_s
        return cell_mask

    def _residents(self, who: np.ndarray) -> None:
        """Recompute residents ``who`` (snapped ones) as nearest_facility does."""
        if len(who) == 0:
            return
        res = self.res
        t = res.offset_m[who]
        u, v = self.res_u[who], self.res_v[who]
        via_u = self.node_dist[u] + t
        via_v = self.node_dist[v] + self.res_rest[who]
        use_v = via_v < via_u
        best = np.where(use_v, via_v, via_u)
        dist = best + res.access_m[who]
        src = np.where(use_v, self.node_src[v], self.node_src[u])
        src[~np.isfinite(best)] = -1
        # residents on the same street as a precinct: the direct walk along it
        reps = np.asarray(list(self.reps.values()), dtype=np.int64)
        if len(reps):
            r_edge = self.sites.edge[reps]
            on = np.isin(res.edge[who], r_edge)
            for i in np.flatnonzero(on).tolist():
                p = int(who[i])
                here = reps[r_edge == res.edge[p]]
                d = (self.sites.access_m[here] + np.abs(self.sites.offset_m[here]
                                                        - res.offset_m[p]) + res.access_m[p])
                ranks = np.asarray([self.rank[int(s)] for s in here])
                j = int(np.lexsort((ranks, d))[0])
                if d[j] < dist[i]:
                    dist[i] = d[j]
                    src[i] = int(here[j])
        self.dist[who] = dist
        self.src[who] = src
