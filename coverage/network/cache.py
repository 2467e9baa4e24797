"""The on-disk network cache: one ``.npz`` file per network, written atomically."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ..io import atomic_path
from .graph import DroppedReport, WalkNetwork

__all__ = ["CACHE_FORMAT", "cached", "entry_path", "read_cache", "write_cache"]

log = logging.getLogger(__name__)

#: Version of the file layout; an entry of another version is rebuilt.
CACHE_FORMAT = 1


def write_cache(net: WalkNetwork, path: Path) -> None:
    """Write a network to ``path`` (``.npz``) atomically (see :func:`walkshed.io.atomic_path`)."""
    coords = shapely.get_coordinates(net.edge_geometry)
    ncoord = shapely.get_num_coordinates(net.edge_geometry)
    meta = {
        "format": CACHE_FORMAT,
        "crs": net.crs.to_wkt(),
        "source": net.source,
        "dropped": asdict(net.dropped),
    }
    # a file handle, not a name: np.savez would append ".npz" to a name without it
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            meta=np.array(json.dumps(meta)),
            node_ids=net.node_ids,
            node_xy=net.node_xy,
            edge_u=net.edge_u,
            edge_v=net.edge_v,
            edge_osmid=net.edge_osmid,
            edge_highway=net.edge_highway.astype(str),
            edge_name=net.edge_name.astype(str),
            coords=coords,
            ncoord=ncoord,
        )


def read_cache(path: Path) -> WalkNetwork:
    """Read a network written by :func:`write_cache`; raises on any inconsistency."""
    # open the file here: np.load leaks its own handle when the file is empty or not an npz
    with path.open("rb") as f, np.load(f, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != CACHE_FORMAT:
            raise ValueError("old cache format")
        ncoord = z["ncoord"]
        geoms = shapely.linestrings(
            z["coords"], indices=np.repeat(np.arange(len(ncoord)), ncoord)
        )
        net = WalkNetwork(
            z["node_ids"],
            z["node_xy"],
            z["edge_u"],
            z["edge_v"],
            geoms,
            meta["crs"],
            edge_osmid=z["edge_osmid"],
            edge_highway=z["edge_highway"].astype(object),
            # entries written before names were kept have none (blank names)
            edge_name=z["edge_name"].astype(object) if "edge_name" in z.files else None,
            source=meta["source"],
            dropped=DroppedReport(**meta["dropped"]),
        )
    if len(net.edge_geometry) != net.n_edges or (
        net.n_edges and max(net.edge_u.max(), net.edge_v.max()) >= net.n_nodes
    ):
        raise ValueError("inconsistent cache entry")
    return net


def entry_path(folder: Path, source_key: dict[str, Any], settings_key: dict[str, Any]) -> Path:
    """The cache file of a network: a hash of where it comes from and how it is built."""
    key = json.dumps([source_key, settings_key], sort_keys=True).encode()
    return folder / f"network-{hashlib.sha256(key).hexdigest()[:32]}.npz"


def cached(entry: Path, build: Callable[[], WalkNetwork]) -> WalkNetwork:
    """The network in ``entry``; else ``build()`` it and write it there.

    An entry that cannot be read is rebuilt, never trusted; a cache that cannot be written is
    logged and skipped.
    """
    if entry.exists():
        try:
            net = read_cache(entry)
            log.info("network from cache %s", entry)
            return net
        except Exception as exc:  # any unreadable entry is rebuilt, never trusted
            log.warning("cache entry %s unreadable (%s); rebuilding", entry, exc)
    net = build()
    try:
        write_cache(net, entry)
    except OSError as exc:
        log.warning("could not write network cache %s: %s", entry, exc)
    return net
