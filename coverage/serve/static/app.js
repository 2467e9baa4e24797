// walkshed serve: the what-if page. It receives JSON only and writes every text with
// textContent (names from the data are data); edits go one at a time, in order.
(function () {
  "use strict";

  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  const COLORS = { open: "#1d4ed8", planned: "#ea580c", candidate: "#7c3aed", closed: "#9aa5b1" };
  const state = {
    session: null, thresholds: [], main: 0, statuses: [], start: [], figures: null,
    precincts: new Map(), markers: new Map(), selected: null, addStatus: "planned",
    areas: new Map(), version: 0, uncoveredOn: false, residents: 0,
  };
  const hook = { state: state, timings: [], ready: false, errors: [], map: null };
  window.walkshed = hook;

  const $ = (id) => document.getElementById(id);
  const fmtPct = new Intl.NumberFormat("en", { style: "percent", minimumFractionDigits: 1,
    maximumFractionDigits: 1 });
  const fmtInt = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
  const pct = (x) => (x === null || x === undefined ? "–" : fmtPct.format(x));
  const int = (x) => (x === null || x === undefined ? "–" : fmtInt.format(x));
  function pp(x) {
    if (x === null || x === undefined) return "";
    const v = x * 100;
    if (Math.abs(v) < 0.05) return "±0.0 pp";
    return (v > 0 ? "+" : "−") + Math.abs(v).toFixed(1) + " pp";
  }
  function trend(el, x) {
    el.classList.remove("up", "down");
    if (x > 5e-4) el.classList.add("up");
    else if (x < -5e-4) el.classList.add("down");
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function escapeHtml(s) {  // only for Leaflet's attribution, which takes HTML
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
      '"': "&quot;", "'": "&#39;" }[c]));
  }
  function message(text, isError) {
    const m = $("message");
    m.textContent = text || "";
    m.classList.toggle("error", !!isError);
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.session) headers["X-Walkshed-Session"] = state.session;
    if (token) headers["X-Walkshed-Token"] = token;
    const init = { method: method, headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (!r.ok) {
      let why = "HTTP " + r.status;
      try { why = (await r.json()).error || why; } catch (e) { /* not JSON */ }
      throw new Error(why);
    }
    return r;
  }
  const json = async (method, path, body) => (await api(method, path, body)).json();

  // edits run one after another, so the figures always belong to the last edit
  let chain = Promise.resolve();
  function run(fn) {
    chain = chain.then(fn).catch((e) => message(e.message, true));
    return chain;
  }

  // -- the map -----------------------------------------------------------------------------
  const map = L.map("map", { preferCanvas: true, zoomSnap: 0.25, doubleClickZoom: false });
  hook.map = map;
  map.attributionControl.setPrefix("Leaflet");
  const canvas = L.canvas({ padding: 0.3 });
  const layers = {
    streets: L.layerGroup().addTo(map), districts: L.layerGroup().addTo(map),
    uncovered: L.layerGroup().addTo(map), area: L.layerGroup().addTo(map),
    pins: L.layerGroup().addTo(map),
  };
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    const box = el("div", null, "legend");
    for (const s of ["open", "planned", "candidate", "closed"]) {
      const row = el("div");
      const d = el("span", null, "dot pin-" + s);
      row.appendChild(d);
      row.appendChild(document.createTextNode(s));
      box.appendChild(row);
    }
    return box;
  };
  legend.addTo(map);

  function icon(p) {
    const sel = state.selected === p.slot ? " sel" : "";
    return L.divIcon({ className: "pin pin-" + p.status + sel, iconSize: [14, 14] });
  }
  function tag(m, p) {
    const e = m.getElement();
    if (e) { e.dataset.id = p.id; e.dataset.status = p.status; e.setAttribute("role", "button"); }
  }
  function upsert(p) {
    const old = state.markers.get(p.slot);
    if (!p.present) {
      if (old) layers.pins.removeLayer(old);
      state.markers.delete(p.slot);
      state.precincts.delete(p.slot);
      state.areas.delete(p.slot);
      if (state.selected === p.slot) select(null);
      return;
    }
    state.precincts.set(p.slot, p);
    state.areas.delete(p.slot);
    let m = old;
    if (!m) {
      m = L.marker([p.lat, p.lon], { icon: icon(p), draggable: true, keyboard: false,
        autoPan: false });
      m.on("dragend", () => {
        const t0 = performance.now();
        const ll = m.getLatLng();
        const cur = state.precincts.get(p.slot);
        run(async () => applyDelta(await json("POST", "api/move",
          { id: cur.id, lon: ll.lng, lat: ll.lat }), t0, "move"));
      });
      m.on("click", () => select(p.slot));
      m.addTo(layers.pins);
      state.markers.set(p.slot, m);
    } else {
      m.setLatLng([p.lat, p.lon]);
      m.setIcon(icon(p));
    }
    const tip = el("div", p.name);
    m.unbindTooltip();
    m.bindTooltip(tip, { direction: "top", offset: [0, -8] });
    tag(m, p);
  }

  map.on("click", (e) => {
    const t0 = performance.now();
    run(async () => applyDelta(await json("POST", "api/add",
      { lon: e.latlng.lng, lat: e.latlng.lat, status: state.addStatus }), t0, "add"));
  });

  // -- the walking area of the selected precinct -----------------------------------------
  async function showArea() {
    layers.area.clearLayers();
    const slot = state.selected;
    const p = slot === null ? null : state.precincts.get(slot);
    if (!p || p.status === "closed") return;
    let areas = state.areas.get(slot);
    if (!areas) {
      const d = await json("GET", "api/area?id=" + encodeURIComponent(p.id));
      if (state.selected !== slot) return;
      areas = d.areas;
      state.areas.set(slot, areas);
    }
    layers.area.clearLayers();
    const f = areas.features.filter((x) => x.properties.index === state.main);
    L.geoJSON({ type: "FeatureCollection", features: f }, {
      interactive: false,
      style: { color: COLORS[p.status], weight: 1.5, fillColor: COLORS[p.status],
        fillOpacity: 0.16 },
    }).addTo(layers.area);
  }

  function select(slot) {
    const prev = state.selected;
    state.selected = slot;
    for (const s of [prev, slot]) {
      const p = s === null ? null : state.precincts.get(s);
      const m = s === null ? null : state.markers.get(s);
      if (p && m) { m.setIcon(icon(p)); tag(m, p); }
    }
    renderSelected();
    showArea().catch((e) => message(e.message, true));
  }

  // -- rendering ---------------------------------------------------------------------------
  function table(id, head, rows) {
    const t = $(id);
    t.replaceChildren();
    const thead = el("thead");
    const tr = el("tr");
    for (const h of head) tr.appendChild(el("th", h));
    thead.appendChild(tr);
    t.appendChild(thead);
    const tb = el("tbody");
    for (const r of rows) {
      const row = el("tr", null, r.cls || "");
      for (const c of r.cells) {
        const td = el("td", c.text !== undefined ? c.text : c);
        if (c.cls) td.className = c.cls;
        row.appendChild(td);
      }
      tb.appendChild(row);
    }
    t.appendChild(tb);
  }
  const cls = (x) => (x > 5e-4 ? "up" : x < -5e-4 ? "down" : "");

  function renderThresholds() {
    const box = $("thresholds");
    box.replaceChildren();
    for (const t of state.thresholds) {
      const b = el("button", t.label + (t.label.endsWith("min") ? "" : ""));
      b.type = "button";
      b.dataset.index = String(t.index);
      b.setAttribute("role", "radio");
      b.setAttribute("aria-checked", String(t.index === state.main));
      if (t.index === state.main) b.classList.add("on");
      b.addEventListener("click", () => {
        const t0 = performance.now();
        run(async () => applyDelta(await json("POST", "api/threshold", { index: t.index }), t0,
          "threshold"));
      });
      box.appendChild(b);
    }
  }

  function renderFigures() {
    const f = state.figures;
    const cov = f.coverage;
    const main = cov[state.main];
    const so = $("share-open"), sp = $("share-planned");
    so.textContent = pct(main.share_open);
    so.dataset.value = String(main.share_open);
    sp.textContent = pct(main.share_with_planned);
    sp.dataset.value = String(main.share_with_planned);
    const co = $("change-open"), cp = $("change-planned");
    co.textContent = pp(main.change_open) + " since the start";
    cp.textContent = pp(main.change_with_planned) + " since the start";
    trend(co, main.change_open);
    trend(cp, main.change_with_planned);
    $("residents-line").textContent = int(main.covered_open) + " and " +
      int(main.covered_with_planned) + " of " + int(main.residents) + " residents within " +
      main.threshold + " (" + int(main.threshold_m) + " m)";
    table("coverage-table", ["Threshold", "Open", "Change", "+ planned", "Change"],
      cov.map((r, i) => ({
        cls: i === state.main ? "main" : "",
        cells: [r.threshold, pct(r.share_open), { text: pp(r.change_open), cls: cls(r.change_open) },
          pct(r.share_with_planned),
          { text: pp(r.change_with_planned), cls: cls(r.change_with_planned) }],
      })));
    const order = f.opening_order || [];
    table("order-table", ["#", "Planned precinct", "Adds", "Covered"],
      order.length ? order.map((r) => ({ cells: [r.step, r.name, "+" + int(r.gain),
        pct(r.cumulative_share)] })) : [{ cells: ["", "no planned precincts", "", ""] }]);
    const card = $("districts-card");
    const d = f.districts;
    card.hidden = !d;
    if (d) {
      const lab = state.thresholds[state.main].label;
      table("district-table", ["District", "Residents", "Open", "+ planned", "Inspectors"],
        d.map((r) => ({ cells: [r.district, int(r.residents), pct(r["share_" + lab + "_open"]),
          pct(r["share_" + lab + "_with_planned"]), int(r.inspectors_needed)] })));
    }
    renderThresholds();
  }

  let catchments = new Map();
  function renderSelected() {
    const card = $("selected");
    const p = state.selected === null ? null : state.precincts.get(state.selected);
    card.hidden = !p;
    if (!p) return;
    $("sel-name").textContent = p.name;
    $("sel-id").textContent = p.id;
    const s = $("sel-status");
    s.replaceChildren();
    for (const st of state.statuses) {
      const o = el("option", st);
      o.value = st;
      if (st === p.status) o.selected = true;
      s.appendChild(o);
    }
    const lab = state.thresholds[state.main].label;
    const rows = (catchments.get(p.id) || []).map((r) => ({
      cells: [r.scenario === "open" ? "open" : "open + planned", int(r.residents_served),
        int(r["within_" + lab]), int(r.inspectors_needed)],
    }));
    table("sel-catchment", ["Catchment", "Residents", "Within " + lab, "Inspectors"],
      rows.length ? rows : [{ cells: ["not counted (" + p.status + ")", "", "", ""] }]);
  }

  function applyDelta(d, t0, what) {
    state.version = d.version;
    for (const p of d.precincts || []) upsert(p);
    for (const e of d.edited || []) catchments.set(e.id, e.catchment);
    state.figures = d.figures;
    state.main = d.figures.main_index;
    renderFigures();
    $("undo").disabled = !d.can_undo;
    $("redo").disabled = !d.can_redo;
    const first = (d.precincts || []).find((p) => p.present);
    if (first && what !== "threshold") select(first.slot);
    else { renderSelected(); showArea().catch((e) => message(e.message, true)); }
    const ms = performance.now() - t0;
    hook.timings.push({ what: what, ms: ms, server_ms: d.server_ms, version: d.version });
    message(what + ": " + ms.toFixed(0) + " ms (server " + Number(d.server_ms).toFixed(1) +
      " ms)");
    if (state.uncoveredOn && what !== "threshold") refreshUncovered();
    else if (state.uncoveredOn) refreshUncovered();
  }

  // -- uncovered areas (on request: a full assessment) -----------------------------------
  let uncoveredTimer = null;
  function refreshUncovered() {
    clearTimeout(uncoveredTimer);
    uncoveredTimer = setTimeout(() => {
      const v = state.version;
      json("GET", "api/uncovered").then((d) => {
        if (v !== state.version || !state.uncoveredOn) return;
        layers.uncovered.clearLayers();
        L.geoJSON(d.areas, {
          style: { color: "#b91c1c", weight: 1, fillColor: "#ef4444", fillOpacity: 0.25 },
          onEachFeature: (f, layer) => {
            const p = f.properties;
            layer.bindTooltip(el("div", p.area + ": " + int(p.population) +
              " residents beyond " + d.threshold + (p.district ? ", " + p.district : "")));
          },
        }).addTo(layers.uncovered);
        message(int(d.residents) + " residents in " + d.count + " uncovered area(s) beyond " +
          d.threshold);
      }).catch((e) => message(e.message, true));
    }, 250);
  }

  // -- controls ------------------------------------------------------------------------------
  for (const b of document.querySelectorAll("#add-mode button")) {
    b.addEventListener("click", () => {
      state.addStatus = b.dataset.status;
      for (const o of document.querySelectorAll("#add-mode button")) {
        o.classList.toggle("on", o === b);
      }
    });
  }
  function button(id, fn) { $(id).addEventListener("click", fn); }
  const post = (path, body, what) => () => {
    const t0 = performance.now();
    run(async () => applyDelta(await json("POST", path, body ? body() : undefined), t0, what));
  };
  button("undo", post("api/undo", null, "undo"));
  button("redo", post("api/redo", null, "redo"));
  button("suggest-one", () => { message("Asking the siting engine…"); post("api/suggest", () => ({ n: 1 }), "suggest")(); });
  button("suggest-many", () => {
    message("Asking the siting engine…");
    post("api/suggest", () => ({ n: Math.max(1, Math.min(10, parseInt($("suggest-n").value, 10) || 1)) }),
      "suggest")();
  });
  button("sel-delete", () => {
    const p = state.precincts.get(state.selected);
    if (p) post("api/delete", () => ({ id: p.id }), "delete")();
  });
  $("sel-status").addEventListener("change", (e) => {
    const p = state.precincts.get(state.selected);
    if (p) post("api/status", () => ({ id: p.id, status: e.target.value }), "status")();
  });
  button("uncovered", () => {
    state.uncoveredOn = !state.uncoveredOn;
    $("uncovered").classList.toggle("on", state.uncoveredOn);
    if (state.uncoveredOn) { message("Finding the uncovered areas…"); refreshUncovered(); }
    else layers.uncovered.clearLayers();
  });
  async function download(path, name) {
    const r = await api("GET", path);
    const blob = await r.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    message("Saved " + name);
  }
  button("save-csv", () => run(() => download("api/save/precincts.csv", "precincts.csv")));
  button("save-geojson", () => run(() => download("api/save/precincts.geojson",
    "precincts.geojson")));
  button("save-toml", () => run(() => download("api/save/scenario.toml", "scenario.toml")));
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z") {
      e.preventDefault();
      (e.shiftKey ? post("api/redo", null, "redo") : post("api/undo", null, "undo"))();
    }
  });

  // -- start -----------------------------------------------------------------------------
  async function start() {
    const s = await json("POST", "api/session");
    state.session = s.session;
    state.thresholds = s.thresholds;
    state.statuses = s.statuses;
    state.start = s.start;
    state.residents = s.residents;
    $("study").textContent = s.study;
    document.title = s.study + " · walkshed what if";
    $("attribution").textContent = "Data: " + s.attribution;
    map.attributionControl.addAttribution(escapeHtml(s.attribution));
    map.fitBounds(s.bounds);
    $("save-toml").disabled = !s.can_save_scenario;
    for (const p of s.precincts) upsert(p);
    state.figures = s.figures;
    state.main = s.figures.main_index;
    renderFigures();
    $("undo").disabled = !s.can_undo;
    $("redo").disabled = !s.can_redo;
    const [streets, districts] = await Promise.all([json("GET", "api/streets"),
      json("GET", "api/districts")]);
    L.geoJSON(streets, { renderer: canvas, interactive: false,
      style: { color: "#aab4bf", weight: 1, opacity: 0.9 } }).addTo(layers.streets);
    L.geoJSON(districts, { interactive: false, style: { color: "#52606d", weight: 1.2,
      dashArray: "5 4", fill: false } }).addTo(layers.districts);
    hook.ready = true;
    message("Ready: " + s.precincts.length + " precincts, " + int(s.residents) + " residents.");
  }
  start().catch((e) => { message(e.message, true); hook.errors.push(e.message); });
})();
