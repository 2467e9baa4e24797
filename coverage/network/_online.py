"""Fetching an area online through osmnx (its own HTTP cache applies). Kept thin on purpose."""

from __future__ import annotations

from typing import Any, cast

import shapely

from .._errors import InputError, input_error
from .._osm import foot_cycleway_overpass_filter, walk_overpass_filter
from .build import from_osmnx_graph
from .graph import WalkNetwork


def fetch_online(
    source: Any, *, crs: Any, keep_largest: bool, foot_cycleways: bool = False
) -> WalkNetwork:
    """Fetch a place name, polygon or bounding box with osmnx's ``"walk"`` network and convert.

    With ``foot_cycleways`` the shared paths are queried next to the walk filter (both written
    from :mod:`walkshed._osm`'s rules, which match osmnx's ``"walk"`` query).
    """
    import osmnx as ox
    import requests

    # osmnx's error for "Nominatim or Overpass found nothing" has no other name than this one
    # (osmnx re-exports the module on purpose: `from . import _errors as _errors`)
    nothing_found = ox._errors.InsufficientResponseError

    opts: dict[str, Any] = {"network_type": "walk", "retain_all": True}
    if foot_cycleways:
        opts["custom_filter"] = [walk_overpass_filter(), foot_cycleway_overpass_filter()]

    try:
        if isinstance(source, shapely.Geometry):
            graph = ox.graph_from_polygon(cast(Any, source), **opts)
            desc = "polygon"
        elif isinstance(source, str):
            graph = ox.graph_from_place(source, **opts)
            desc = source
        else:
            west, south, east, north = (float(c) for c in source)
            if not (west < east and south < north):
                raise input_error(
                    f"bounding box {tuple(source)}",
                    "is not (west, south, east, north) with west < east and south < north",
                    "Give the box in that order, in degrees",
                )
            graph = ox.graph_from_bbox((west, south, east, north), **opts)
            desc = f"bbox {west:.4f},{south:.4f},{east:.4f},{north:.4f}"
    except InputError:
        raise
    except (nothing_found, ValueError) as exc:
        raise input_error(
            f"network source {source!r}",
            f"OpenStreetMap returned no walkable streets for it ({exc})",
            "Check the place name (try the form 'City, Country') or use a larger area",
        ) from exc
    except (requests.RequestException, OSError) as exc:  # offline, timeout, server down
        raise input_error(
            f"network source {source!r}",
            f"could not download it from OpenStreetMap ({exc.__class__.__name__}: {exc})",
            "Check the internet connection, or give a local .osm.pbf extract instead",
        ) from exc
    return from_osmnx_graph(graph, crs=crs, keep_largest=keep_largest, source=f"osmnx {desc}")
