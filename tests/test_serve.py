"""walkshed serve: the incremental state against fresh assessments, every endpoint and its
refusals, saving a scenario that reproduces the figures, and the page in a real browser."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walkshed import InputError
from walkshed.serve import Base, Session
from walkshed.serve._deps import assess, load_study
from walkshed.serve.app import MAX_BODY_BYTES, create_app
from walkshed.serve.server import check_address

DATA = Path(__file__).parent / "data"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _base(shared: Path, name: str) -> Base:
    os.environ.setdefault("WALKSHED_TEST_DATA", str(shared))
    study, scen = load_study(DATA / name)
    return Base(study, scen)


@pytest.fixture(scope="module")
def monaco(shared_data: Path) -> Base:
    return _base(shared_data, "monaco.toml")


@pytest.fixture(scope="module")
def almaty(shared_data: Path) -> Base:
    return _base(shared_data, "almaty_2012.toml")


@pytest.fixture()
def client(monaco: Base) -> Any:
    from fastapi.testclient import TestClient

    with TestClient(create_app(monaco)) as c:
        yield c


def _session(client: Any) -> tuple[dict[str, Any], dict[str, str]]:
    r = client.post("/api/session")
    assert r.status_code == 200
    s = r.json()
    return s, {"X-Walkshed-Session": s["session"]}


def fresh(session: Session, precincts: Any = None) -> Any:
    """An independent assessment of the session's precincts (or of ``precincts``)."""
    b = session.base
    frame = session.frame() if precincts is None else precincts
    return assess(b.network, b.study.demand, frame, districts=b.study.districts,
                  **session.assess_options())


def assert_same(session: Session, a: Any) -> None:
    """Every figure of the session equals the assessment's, exactly."""
    assert np.array_equal(session.open.dist, a.demand["walk_open_m"].to_numpy())
    assert np.array_equal(session.plan.dist, a.demand["walk_with_planned_m"].to_numpy())
    pd.testing.assert_frame_equal(session.coverage(), a.coverage, check_exact=True)
    pd.testing.assert_frame_equal(session.catchments(), a.catchments, check_exact=True)
    pd.testing.assert_frame_equal(session.opening_order(), a.opening_order, check_exact=True)
    if a.districts is None:
        assert session.districts() is None
    else:
        pd.testing.assert_frame_equal(session.districts(), a.districts, check_exact=True)


# -- the incremental state ------------------------------------------------------------------

STATUS = st.sampled_from(["open", "planned", "candidate", "closed"])
FRAC = st.floats(0.0, 1.0)
EDIT = st.one_of(
    st.tuples(st.just("add"), FRAC, FRAC, STATUS),
    st.tuples(st.just("add_at"), st.integers(0, 60), STATUS),  # at a precinct: co-located
    st.tuples(st.just("move"), st.integers(0, 60), FRAC, FRAC),
    st.tuples(st.just("status"), st.integers(0, 60), STATUS),
    st.tuples(st.just("delete"), st.integers(0, 60)),
    st.tuples(st.just("undo")),
    st.tuples(st.just("redo")),
)


def _play(session: Session, edits: list[tuple[Any, ...]]) -> None:
    b = session.base
    lon0, lat0, lon1, lat1 = b.study.precincts.total_bounds
    pad_x, pad_y = (lon1 - lon0) * 0.1, (lat1 - lat0) * 0.1

    def where(fx: float, fy: float) -> tuple[float, float]:
        return lon0 - pad_x + fx * (lon1 - lon0 + 2 * pad_x), lat0 - pad_y + fy * (
            lat1 - lat0 + 2 * pad_y)

    for e in edits:
        present = [r for r in session.rows if r is not None]
        pick = present[e[1] % len(present)] if present and e[0] not in ("add", "undo",
                                                                         "redo") else None
        before = session.version
        try:
            if e[0] == "add":
                session.add(*where(e[1], e[2]), e[3])
            elif e[0] == "add_at" and pick is not None:
                session.add(pick.lon, pick.lat, e[2])
            elif e[0] == "move" and pick is not None:
                session.change(pick.id, lon=where(e[2], e[3])[0], lat=where(e[2], e[3])[1])
            elif e[0] == "status" and pick is not None:
                session.change(pick.id, status=e[2])
            elif e[0] == "delete" and pick is not None:
                session.delete(pick.id)
            elif e[0] == "undo":
                session.undo()
            elif e[0] == "redo":
                session.redo()
        except InputError:
            assert session.version == before  # a refused edit changes nothing


def test_start_equals_a_fresh_assessment(monaco: Base) -> None:
    s = monaco.new_session()
    assert_same(s, fresh(s))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(EDIT, min_size=1, max_size=12))
def test_random_edits_on_monaco_equal_a_fresh_assessment(monaco: Base, edits: list[Any]
                                                          ) -> None:
    s = monaco.new_session()
    _play(s, edits)
    assert_same(s, fresh(s))


@pytest.mark.slow
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(EDIT, min_size=3, max_size=10))
def test_random_edits_on_almaty_equal_a_fresh_assessment(almaty: Base, edits: list[Any]
                                                         ) -> None:
    s = almaty.new_session()
    _play(s, edits)
    assert_same(s, fresh(s))


def test_undo_and_redo_restore_the_figures(monaco: Base) -> None:
    s = monaco.new_session()
    start = s.coverage()
    pid = s.rows[0].id  # type: ignore[union-attr]
    s.change(pid, status="closed")
    closed = s.coverage()
    assert not closed.equals(start)
    s.undo()
    pd.testing.assert_frame_equal(s.coverage(), start, check_exact=True)
    s.redo()
    pd.testing.assert_frame_equal(s.coverage(), closed, check_exact=True)
    with pytest.raises(InputError, match="nothing to redo"):
        s.redo()


def test_threshold_switch_orders_at_that_threshold(monaco: Base) -> None:
    s = monaco.new_session()
    s.set_threshold(0)
    a = fresh(s)
    assert a.settings.main_threshold_m == monaco.metres[0]
    pd.testing.assert_frame_equal(s.opening_order(), a.opening_order, check_exact=True)
    with pytest.raises(InputError, match="no threshold"):
        s.set_threshold(7)


def test_sessions_are_independent(monaco: Base) -> None:
    a, b = monaco.new_session(), monaco.new_session()
    a.delete(a.rows[0].id)  # type: ignore[union-attr]
    assert_same(b, fresh(b))
    assert len(b.frame()) == len(a.frame()) + 1


def test_a_point_outside_the_area_is_refused(monaco: Base) -> None:
    s = monaco.new_session()
    with pytest.raises(InputError, match="outside the study area"):
        s.add(7.0, 43.0, "open")
    with pytest.raises(InputError, match="no precinct with id"):
        s.delete("nope")


# -- the API --------------------------------------------------------------------------------


def test_every_endpoint(client: Any, monaco: Base) -> None:
    assert client.get("/").status_code == 200
    for name in ("leaflet.js", "leaflet.css", "app.js", "app.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and len(r.text) > 1000
    s, h = _session(client)
    assert {"session", "figures", "precincts", "thresholds", "bounds"} <= set(s)
    assert client.get("/api/state", headers=h).json()["version"] == 0
    assert client.get("/api/streets").json()["features"]
    assert len(client.get("/api/districts").json()["features"]) == len(monaco.study.districts)
    p = s["precincts"][0]
    r = client.post("/api/add", json={"lon": p["lon"] + 0.001, "lat": p["lat"] + 0.001,
                                      "status": "open", "name": "Kiosk <b>"}, headers=h)
    assert r.status_code == 200, r.text
    added = r.json()["precincts"][0]
    assert added["name"] == "Kiosk <b>" and added["present"]
    assert r.json()["edited"][0]["catchment"][0]["scenario"] == "open"
    r = client.post("/api/move", json={"id": added["id"], "lon": p["lon"] + 0.002,
                                       "lat": p["lat"]}, headers=h)
    assert r.status_code == 200 and r.json()["precincts"][0]["lon"] == p["lon"] + 0.002
    assert client.post("/api/status", json={"id": added["id"], "status": "planned"},
                       headers=h).status_code == 200
    area = client.get("/api/area", params={"id": added["id"]}, headers=h).json()
    assert len(area["areas"]["features"]) == len(monaco.metres)
    assert client.post("/api/delete", json={"id": added["id"]}, headers=h).json()[
        "precincts"] == [{"slot": len(s["precincts"]), "present": False}]
    assert client.post("/api/undo", headers=h).json()["can_redo"]
    assert client.post("/api/redo", headers=h).status_code == 200
    assert client.post("/api/threshold", json={"index": 0}, headers=h).json()["figures"][
        "main_index"] == 0
    r = client.get("/api/uncovered", headers=h).json()
    assert r["count"] == len(r["areas"]["features"]) or r["count"] > 50
    assert client.post("/api/suggest", json={"n": 2}, headers=h).status_code == 200
    for path in ("precincts.csv", "precincts.geojson", "scenario.toml"):
        r = client.get(f"/api/save/{path}", headers=h)
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]


def test_the_figures_equal_a_fresh_assessment(client: Any) -> None:
    s, h = _session(client)
    p = s["precincts"][2]
    d = client.post("/api/add", json={"lon": p["lon"] - 0.002, "lat": p["lat"],
                                      "status": "planned"}, headers=h).json()
    session = client.app.state.sessions.get(s["session"])
    a = fresh(session)
    got = pd.DataFrame(d["figures"]["coverage"])
    assert got["share_open"].tolist() == a.coverage["share_open"].tolist()
    assert got["share_with_planned"].tolist() == a.coverage["share_with_planned"].tolist()
    start = pd.DataFrame(s["figures"]["coverage"])
    assert got["change_with_planned"].tolist() == (
        a.coverage["share_with_planned"] - start["share_with_planned"]).tolist()
    mine = d["edited"][0]["catchment"][0]
    row = a.catchments[(a.catchments["precinct"] == mine["precinct"])
                       & (a.catchments["scenario"] == mine["scenario"])].iloc[0]
    assert mine["residents_served"] == row["residents_served"]
    assert mine["inspectors_needed"] == row["inspectors_needed"]
    assert [r["precinct"] for r in d["figures"]["opening_order"]] == a.opening_order[
        "precinct"].tolist()


@pytest.mark.parametrize(("path", "body", "status", "words"), [
    ("/api/add", {"lon": 7.0, "lat": 43.0}, 422, "outside the study area"),
    ("/api/add", {"lon": "7.42", "lat": 43.73}, 422, "lon"),
    ("/api/add", {"lon": 7.42, "lat": 95.0}, 422, "lat"),
    ("/api/add", {"lon": 7.42, "lat": 43.73, "status": "demolished"}, 422, "status"),
    ("/api/add", {"lon": 7.42, "lat": 43.73, "path": "/etc/passwd"}, 422, "path"),
    ("/api/add", [1, 2], 422, "request"),
    ("/api/move", {"id": "nope", "lon": 7.42, "lat": 43.73}, 422, "no precinct with id"),
    ("/api/status", {"id": "nope", "status": "open"}, 422, "no precinct with id"),
    ("/api/delete", {"id": ""}, 422, "id"),
    ("/api/delete", {"id": 5}, 422, "id"),
    ("/api/suggest", {"n": 0}, 422, "n"),
    ("/api/suggest", {"n": 11}, 422, "n"),
    ("/api/threshold", {"index": 9}, 422, "no threshold"),
    ("/api/undo", None, 422, "nothing to undo"),
])
def test_bad_requests_get_a_reason(client: Any, path: str, body: Any, status: int,
                                   words: str) -> None:
    _, h = _session(client)
    r = client.post(path, json=body, headers=h) if body is not None else client.post(
        path, headers=h)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert "Traceback" not in r.text


def test_huge_bodies_unknown_sessions_and_paths(client: Any) -> None:
    _, h = _session(client)
    big = b'{"lon": 7.42, "lat": 43.73, "name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    r = client.post("/api/add", content=big, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]

    def chunks() -> Any:  # no declared length: counted while read
        for _ in range(40):
            yield b" " * 1024

    r = client.post("/api/add", content=chunks(), headers={**h,
                                                           "Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/api/undo", headers={"X-Walkshed-Session": "not-a-session"})
    assert r.status_code == 404 and "reload the page" in r.json()["error"]
    assert client.post("/api/undo").status_code == 404
    assert client.get("/static/../../etc/passwd").status_code == 404
    assert client.get("/api/save/secrets.txt", headers=h).status_code == 404
    assert client.get("/api/area", params={"id": "nope"}, headers=h).status_code == 422


def test_tabs_have_separate_states(client: Any) -> None:
    a, ha = _session(client)
    b, hb = _session(client)
    assert a["session"] != b["session"]
    pid = a["precincts"][0]["id"]
    da = client.post("/api/status", json={"id": pid, "status": "closed"}, headers=ha).json()
    sb = client.get("/api/state", headers=hb).json()
    assert sb["figures"]["coverage"] == b["figures"]["coverage"]
    assert da["figures"]["coverage"] != b["figures"]["coverage"]
    assert client.post("/api/undo", headers=hb).status_code == 422  # b made no edit


def test_the_page_is_offline_and_inserts_text_as_text(client: Any) -> None:
    page = client.get("/").text
    js = client.get("/static/app.js").text
    for text in (page, js):
        assert "http://" not in text and "https://" not in text
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js
    assert "default-src 'self'" in client.get("/").headers["content-security-policy"]


def test_a_token_guards_every_request(monaco: Base) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(monaco, token="a-long-secret-token")) as c:
        assert c.post("/api/session").status_code == 403
        assert c.get("/").status_code == 403
        assert c.get("/?token=a-long-secret-token").status_code == 200
        assert c.get("/static/app.js").status_code == 200
        r = c.post("/api/session", headers={"X-Walkshed-Token": "a-long-secret-token"})
        assert r.status_code == 200
        assert c.post("/api/session", headers={"X-Walkshed-Token": "wrong"}).status_code == 403


def test_other_hosts_need_a_token() -> None:
    check_address("127.0.0.1", 8000, None)
    check_address("::1", 8000, None)
    with pytest.raises(InputError, match="needs a token"):
        check_address("0.0.0.0", 8000, None)
    with pytest.raises(InputError, match="shorter than 12"):
        check_address("0.0.0.0", 8000, "short")
    with pytest.raises(InputError, match="--port"):
        check_address("127.0.0.1", 70000, None)
    check_address("0.0.0.0", 8000, "a-long-secret-token")


def test_serve_command_refuses_an_open_host_without_a_token() -> None:
    from typer.testing import CliRunner

    from walkshed.cli import app

    r = CliRunner().invoke(app, ["serve", str(DATA / "monaco.toml"), "--host", "0.0.0.0"])
    assert r.exit_code == 2
    assert "needs a token" in r.output and "Traceback" not in r.output


# -- saving ---------------------------------------------------------------------------------


def test_the_saved_scenario_reproduces_the_figures(client: Any, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from walkshed.cli import app

    s, h = _session(client)
    p = s["precincts"]
    client.post("/api/add", json={"lon": p[3]["lon"] + 0.0015, "lat": p[3]["lat"],
                                  "status": "planned", "name": 'Quai "Nord", 2'}, headers=h)
    client.post("/api/status", json={"id": p[0]["id"], "status": "closed"}, headers=h)
    client.post("/api/move", json={"id": p[1]["id"], "lon": p[1]["lon"] + 0.001,
                                   "lat": p[1]["lat"] - 0.001}, headers=h)
    d = client.post("/api/threshold", json={"index": 2}, headers=h).json()
    for name in ("precincts.csv", "scenario.toml"):
        (tmp_path / name).write_bytes(client.get(f"/api/save/{name}", headers=h).content)
    geo = client.get("/api/save/precincts.geojson", headers=h).json()
    assert p[0]["id"] not in {f["id"] for f in geo["features"]}  # closed: left out
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["--json", "analyze", str(tmp_path / "scenario.toml"), "-o",
                                 str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["coverage"] == [{k: v for k, v in row.items() if not k.startswith("change_")}
                                   for row in d["figures"]["coverage"]]
    assert summary["districts"] == d["figures"]["districts"]
    assert summary["opening_order"] == d["figures"]["opening_order"]
    session = client.app.state.sessions.get(s["session"])
    # the catchments, unrounded (summary.json), equal the session's; precincts.csv is the
    # same table one row per precinct, rounded for Excel
    from walkshed.io import to_jsonable

    assert summary["catchments"] == json.loads(json.dumps(to_jsonable(session.catchments())))
    wide = pd.read_csv(out / "precincts.csv", encoding="utf-8-sig").set_index("precinct")
    for row in summary["catchments"]:
        suffix = "_open" if row["scenario"] == "open" else "_with_planned"
        assert wide.loc[row["precinct"], "residents_served" + suffix] == round(
            row["residents_served"])


def test_suggest_places_the_sites_of_the_siting_engine(monaco: Base) -> None:
    from walkshed.siting import propose_sites

    s = monaco.new_session()
    want = propose_sites(**s.siting_arguments(2)).table
    slots, _ = s.suggest(2)
    got = [s.rows[i] for i in slots]
    assert [(r.lon, r.lat) for r in got if r] == list(zip(want["lon"], want["lat"], strict=True))
    assert all(r is not None and r.status == "planned" for r in got)
    assert_same(s, fresh(s))


# -- the page in a real browser -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(monaco: Base) -> Any:
    import uvicorn

    app = create_app(monaco)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    th.join(timeout=10)


def _wait_edits(page: Any, n: int) -> None:
    page.wait_for_function(f"() => window.walkshed.timings.length >= {n}", timeout=30_000)


def _share(page: Any, which: str) -> float:
    return float(page.get_attribute(f"#share-{which}", "data-value"))


@pytest.mark.browser
def test_the_page_in_chromium(server: Any, monaco: Base, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    from walkshed.precincts import read_precincts
    from walkshed.siting import propose_sites

    app, url = server
    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)

        def route(r: Any) -> None:
            if r.request.url.startswith(url):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_function("() => window.walkshed.ready", timeout=30_000)
        sid = page.evaluate("window.walkshed.state.session")
        session = app.state.sessions.get(sid)
        start = _share(page, "planned")

        def at(lon: float, lat: float) -> tuple[float, float]:
            xy = page.evaluate(f"(() => {{ const p = window.walkshed.map.latLngToContainerPoint("
                               f"[{lat}, {lon}]); return [p.x, p.y]; }})()")
            box = page.locator("#map").bounding_box()
            return box["x"] + xy[0], box["y"] + xy[1]

        # click: adds a planned precinct; the figure is a fresh assessment's
        p0 = monaco.start[4]
        page.mouse.click(*at(p0.lon + 0.0025, p0.lat - 0.001))
        _wait_edits(page, 1)
        a = fresh(session)
        main = session.main_index
        assert _share(page, "planned") == a.coverage["share_with_planned"][main] != start
        assert _share(page, "open") == a.coverage["share_open"][main]
        after_click = _share(page, "planned")
        new = next(r for r in session.rows if r is not None and r.id.startswith("new-"))
        # drag: moves it
        marker = page.locator(f".leaflet-marker-icon[data-id='{new.id}']")
        box = marker.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + 60, box["y"] + 40, steps=8)
        page.mouse.up()
        _wait_edits(page, 2)
        moved = session.rows[session.slot_of(new.id)]
        assert moved is not None and (moved.lon, moved.lat) != (new.lon, new.lat)
        assert _share(page, "planned") == fresh(session).coverage["share_with_planned"][main]
        # undo: back to the figure after the click
        page.click("#undo")
        _wait_edits(page, 3)
        assert _share(page, "planned") == after_click
        # suggest the next site: the siting engine's site on the current state
        want = propose_sites(**session.siting_arguments(1)).table
        page.click("#suggest-one")
        _wait_edits(page, 4)
        placed = [r for r in session.rows if r is not None and r.name == "Suggested site 1"]
        assert [(r.lon, r.lat) for r in placed] == [(want["lon"][0], want["lat"][0])]
        assert page.locator(f".leaflet-marker-icon[data-id='{placed[0].id}']").count() == 1
        # save: the CSV reproduces the figures
        with page.expect_download() as dl:
            page.click("#save-csv")
        path = tmp_path / "precincts.csv"
        dl.value.save_as(path)
        saved = read_precincts(path)
        a = fresh(session, saved)
        assert _share(page, "planned") == a.coverage["share_with_planned"][main]
        assert _share(page, "open") == a.coverage["share_open"][main]
        # the texts: a name from the data is text, never markup
        assert page.locator("#sel-name").inner_text() == "Suggested site 1"
        browser.close()
    assert outside == []
    assert errors == []
