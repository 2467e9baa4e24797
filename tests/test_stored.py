"""The cache's plain-data form: frames, geometries and sentences come back exactly as they
were stored, anything else is refused, and a content hash changes with any value."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from walkshed import _stored
from walkshed.i18n import Figure, message, message_n


def _frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": pd.array(["a", None, "Алматы"], dtype="str"),
            "district": pd.Series(["x", None, "None"], dtype=object),
            "n": np.array([1, 2, 3], dtype=np.int64),
            "share": [0.1, np.nan, np.inf],
            "served": [True, False, True],
            "geometry": [shapely.Point(0, 0).buffer(5).difference(shapely.Point(1, 0).buffer(2)),
                         shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)]),
                         shapely.Polygon()],
            "after": ["z", "y", "x"],
        },
        geometry="geometry", crs="EPSG:32643")


def test_a_frame_comes_back_exactly() -> None:
    frame = _frame()
    data = _stored.frame_arrays(frame, "f_")
    assert all(a.dtype != object for a in data.values())  # nothing np.load would unpickle
    back = _stored.frame_of(data, "f_", crs="EPSG:32643")
    assert isinstance(back, gpd.GeoDataFrame) and back.crs == frame.crs
    assert list(back.columns) == list(frame.columns)  # the geometry keeps its place
    pd.testing.assert_frame_equal(pd.DataFrame(back.drop(columns="geometry")),
                                  pd.DataFrame(frame.drop(columns="geometry")), check_exact=True)
    assert back["district"][1] is None and back["district"][2] == "None"
    assert all(shapely.equals_exact(a, b, tolerance=0)
               for a, b in zip(back.geometry, frame.geometry, strict=True))
    plain = pd.DataFrame({"x": [1.5, 2.5]})
    pd.testing.assert_frame_equal(_stored.frame_of(_stored.frame_arrays(plain, "p_"), "p_"),
                                  plain)


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"x": [1, 2]}, index=["a", "b"]),               # another index
    pd.DataFrame({"x": [[1], [2]]}),                             # lists
    pd.DataFrame({"x": [1.0, "a"]}),                             # mixed objects
    pd.DataFrame({"x": pd.to_datetime(["2026-01-01", "2026-01-02"])}),
])
def test_what_cannot_be_kept_exactly_is_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(TypeError):
        _stored.frame_arrays(frame, "f_")


def test_a_cut_entry_is_refused() -> None:
    data = _stored.frame_arrays(_frame(), "f_")
    short = dict(data, f_c2=data["f_c2"][:2])
    with pytest.raises(ValueError):
        _stored.frame_of(short, "f_", crs="EPSG:32643")
    with pytest.raises((ValueError, shapely.errors.GEOSException)):
        _stored.frame_of(dict(data, f_g5_ends=data["f_g5_ends"] - 1), "f_", crs="EPSG:32643")
    with pytest.raises(KeyError):
        _stored.frame_of({k: v for k, v in data.items() if k != "f_n0"}, "f_", crs=32643)


def test_the_coordinate_system_is_never_read_from_an_entry() -> None:
    """Geometries come back only in the coordinate system the caller expects: an entry that
    says another (here a PROJ string naming a file) is refused before PROJ sees it."""
    data = _stored.frame_arrays(_frame(), "f_")
    with pytest.raises(ValueError, match="coordinate system"):
        _stored.frame_of(data, "f_", crs="EPSG:4326")
    with pytest.raises(ValueError, match="coordinate system"):
        _stored.frame_of(data, "f_")
    head = json.loads(str(data["f_head"]))
    head["crs"] = "+proj=longlat +nadgrids=/etc/shadow"
    with pytest.raises(ValueError, match="coordinate system"):
        _stored.frame_of(dict(data, f_head=np.asarray(json.dumps(head))), "f_",
                         crs="EPSG:32643")


def test_the_digest_changes_with_any_value() -> None:
    frame = _frame()
    base = _stored.frame_digest(frame)
    assert _stored.frame_digest(frame.copy()) == base
    changed = []
    f = frame.copy()
    f.loc[0, "n"] = 4
    changed.append(f)
    f = frame.copy()
    f["district"] = pd.Series(["x", "None", "None"], dtype=object)  # None is not "None"
    changed.append(f)
    f = frame.copy()
    f["geometry"] = f.geometry.translate(0.001, 0)
    changed.append(f)
    changed.append(frame.set_crs(32642, allow_override=True))
    changed.append(frame.rename(columns={"after": "later"}))
    changed.append(frame.astype({"n": np.float64}))
    digests = {_stored.frame_digest(f) for f in changed}
    assert base not in digests and len(digests) == len(changed)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1], [0, 1]), crs=4326)
    moved = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 1], [0, 1.0000001]), crs=4326)
    assert _stored.frame_digest(points) != _stored.frame_digest(moved)
    assert _stored.frame_digest(None) != _stored.frame_digest(pd.DataFrame())
    # the same text in an object column or a string column: the same content
    as_objects = pd.DataFrame({"m": pd.Series(["a", None, "b"], dtype=object)})
    as_text = pd.DataFrame({"m": pd.array(["a", None, "b"], dtype="str")})
    assert _stored.frame_digest(as_objects) == _stored.frame_digest(as_text)
    assert _stored.frame_digest(as_objects) != _stored.frame_digest(
        pd.DataFrame({"m": pd.Series(["a", "None", "b"], dtype=object)}))


def test_sentences_come_back_said_the_same_in_every_language() -> None:
    known = _stored.known_msgids()
    value = {"notes": [message("Greedy alone covers {n} new, {share} less.",
                               n=Figure.number(1234), share=Figure.percent(0.0123, 2)),
                       message_n("{n} candidate site falls in the exclusion areas.",
                                 "{n} candidate sites fall in the exclusion areas.", 3),
                       "plain", 1.5, None, True],
             "k": np.int64(3)}
    back = _stored.decoded(json.loads(json.dumps(_stored.encoded(value, known))), known)
    assert back["k"] == 3 and back["notes"][2:] == ["plain", 1.5, None, True]
    for lang in ("en", "ru", "kk"):
        assert ([n.in_language(lang) for n in back["notes"][:2]]
                == [n.in_language(lang) for n in value["notes"][:2]])


def test_a_sentence_walkshed_does_not_say_is_refused() -> None:
    known = _stored.known_msgids()
    with pytest.raises(TypeError):
        _stored.encoded(message("{n.__class__} not in the catalogue", n=1), known)
    with pytest.raises(ValueError):
        _stored.decoded({"$message": ["{n.__class__.__init__.__globals__}", None, None,
                                      {"n": 1}]}, known)
    with pytest.raises(TypeError):
        _stored.encoded(object(), known)
