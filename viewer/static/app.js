// nii view: the browser side. Tiles, values and reports come from the server; nothing is computed
// on pixels here. OpenSeadragon (vendored) does zoom and pan by mouse, touchpad and keyboard.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  scans: [], scan: null, info: null, display: null, window: null, viewer: null,
  rulerPoints: [], rulerMode: false, markMode: false, draft: null, pendingBox: null,
  pair: null, pairMode: "side", left: null, right: null, flickerTimer: null,
};
window.niiView = state; // for tests, benchmarks and the console

function message(text) { $("message").textContent = text || ""; }

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  Object.entries(attributes || {}).forEach(([k, v]) => { if (k === "class") node.className = v; else node.setAttribute(k, v); });
  children.forEach((child) => node.append(child));
  return node;
}

// ---------------------------------------------------------------- pyramid

function tileSource(width, height, levels, url) {
  // OpenSeadragon level n shows the picture at 2^(n - maxLevel); the renderer's level is maxLevel - n.
  const maxLevel = Math.ceil(Math.log2(Math.max(width, height, 2)));
  return {
    width, height, tileSize: 256, tileOverlap: 0,
    minLevel: Math.max(0, maxLevel - (levels - 1)), maxLevel,
    getTileUrl: (level, x, y) => `${url}&level=${maxLevel - level}&x=${x}&y=${y}`,
  };
}

function makeViewer(id) {
  return OpenSeadragon({
    id, drawer: "canvas", showNavigationControl: false, showNavigator: id === "osd",
    navigatorPosition: "BOTTOM_RIGHT", animationTime: 0.25, blendTime: 0, maxZoomPixelRatio: 8,
    visibilityRatio: 0.5, preserveImageSizeOnResize: true, immediateRender: false,
    maxTilesPerFrame: 64, imageLoaderLimit: 12, // all visible tiles requested at once (OpenSeadragon: one per frame)
    gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
  });
}

// Swap the shown picture without a blank frame: the new one goes on top, the old ones go when it is loaded.
// Resolves with the milliseconds from the request to the new picture complete.
function showPicture(viewer, source, coarse = false) {
  const started = performance.now();
  // Only the tiles of the current zoom (no coarser levels first): the old picture stays visible beneath.
  // A coarse picture (while the window is dragged) takes tiles of about half the screen's resolution.
  viewer.immediateRender = true;
  viewer.minPixelRatio = coarse ? 1.0 : 0.5;
  return new Promise((resolve) => {
    viewer.addTiledImage({
      tileSource: source, index: viewer.world.getItemCount(),
      success: (event) => {
        viewer.immediateRender = false; viewer.minPixelRatio = 0.5;
        const item = event.item;
        const finish = () => {
          while (viewer.world.getItemCount() > 1) viewer.world.removeItem(viewer.world.getItemAt(0));
          resolve(performance.now() - started);
        };
        if (item.getFullyLoaded()) finish(); else item.addOnceHandler("fully-loaded-change", finish);
      },
      error: (event) => { message(`cannot show the picture: ${event.message}`); resolve(null); },
    });
  });
}

// Picture pixels (finest level) <-> OpenSeadragon coordinates. The picture spans the world's width 0..1
// whichever tile source (fine or coarse) shows it, so these do not depend on the item drawn.
const pictureScale = () => state.display.width;
function toViewport(x, y) { return new OpenSeadragon.Point(x / pictureScale(), y / pictureScale()); }
function viewportRect(x0, y0, x1, y1) { const s = pictureScale(); return new OpenSeadragon.Rect(x0 / s, y0 / s, (x1 - x0) / s, (y1 - y0) / s); }
function pictureAt(viewer, pixel) { const p = viewer.viewport.viewerElementToViewportCoordinates(pixel); return { x: p.x * pictureScale(), y: p.y * pictureScale() }; }
function onScreen(viewer, x, y) { return viewer.viewport.viewportToViewerElementCoordinates(toViewport(x, y)); }

// ---------------------------------------------------------------- inspect

function displayQuery() {
  const q = new URLSearchParams({
    view: $("view").value, channel: $("channel").value, quantity: $("quantity").value,
    window: state.window || "auto", strip: $("strip").value, enhance: $("enhance").checked ? "1" : "0",
  });
  // Dense matter is dark by default (the renderer's choice); the box swaps that.
  const denseDark = !["raw", "transmission"].includes($("quantity").value);
  if ($("invert").checked) q.set("invert", denseDark ? "0" : "1");
  return q;
}

async function loadScanList() {
  const { scans, reports } = await getJSON("api/scans");
  state.scans = scans;
  // A pilot's output: its reports open in a new tab, its scans are listed under their scanner's heading.
  $("reports").replaceChildren(...reports.map((r) => el("a", { class: "report-link", href: r.url, target: "_blank", rel: "noopener" }, `report: ${r.title}`)));
  const list = $("scan-list");
  list.replaceChildren();
  let group = null;
  for (const scan of scans) {
    if (scan.group && scan.group !== group) list.append(el("li", { class: "group-heading" }, scan.group));
    group = scan.group;
    const item = el("li", { "data-id": scan.id }, el("img", { src: `api/scans/${scan.id}/thumbnail`, alt: fullLabel(scan), loading: "lazy" }), el("div", {}, scan.label));
    item.addEventListener("click", () => openScan(scan.id));
    list.append(item);
  }
  for (const select of [$("pair-a"), $("pair-b")]) {
    select.replaceChildren(...scans.map((s) => el("option", { value: s.id }, fullLabel(s))));
  }
  // Compare the first scan with the same object seen by another scanner when there is one.
  const partner = scans.find((s) => s.group && s.group !== scans[0].group && s.label === scans[0].label) || scans[1];
  if (partner) $("pair-b").value = partner.id;
}

function fullLabel(scan) {
  return scan.group ? `${scan.group} / ${scan.label}` : scan.label;
}

async function openScan(id) {
  message("opening…");
  const info = await getJSON(`api/scans/${id}`);
  state.scan = id; state.info = info; state.window = null; state.display = null;
  document.querySelectorAll("#scan-list li").forEach((li) => li.classList.toggle("active", li.dataset.id === id));
  $("view").replaceChildren(...info.views.map((v) => el("option", { value: v.name }, v.name)));
  fillChannels();
  const categories = info.categories.map((c) => el("option", { value: c }, c.toLowerCase()));
  $("category").replaceChildren(...categories.map((o) => o.cloneNode(true)));
  $("mark-category").replaceChildren(...categories);
  $("mark").disabled = !info.can_annotate;
  $("mark").title = info.can_annotate ? "draw a box, then save it as an operator threat report" : "only DICOS folders take operator reports";
  showMetadata(info);
  await refresh(true);
  message("");
}

function fillChannels() {
  const view = state.info.views.find((v) => v.name === $("view").value) || state.info.views[0];
  $("channel").replaceChildren(...view.channels.filter((c) => ["high", "low", "single"].includes(c)).map((c) => el("option", { value: c }, c)));
}

async function refresh(home, coarse = false) {
  if (!state.scan) return;
  const query = displayQuery();
  let display;
  if (coarse && state.display) {
    // While dragging, only the window changes: no round trip before the tiles (the sharp refresh checks).
    display = { ...state.display, window: state.window.split(",").map(Number) };
  } else {
    try {
      display = await getJSON(`api/scans/${state.scan}/display?${query}`);
    } catch (error) { message(error.message); return; }
  }
  state.display = display;
  state.window = state.window || null;
  const url = `api/scans/${state.scan}/tile?${query}`;
  const source = tileSource(display.width, display.height, display.levels, url);
  if (home || !state.viewer.world.getItemCount()) {
    state.viewer.world.removeAll();
    state.viewer.open(source);
    state.viewer.addOnceHandler("open", () => drawThreats());
    showWindow(); showLegend(display); showThreatList(display);
    return null;
  }
  showWindow(); showLegend(display); showThreatList(display);
  state.lastSwapMs = await showPicture(state.viewer, source, coarse);
  drawThreats();
  return state.lastSwapMs;
}

function showWindow() {
  const d = state.display;
  if (d.quantity === "material") { $("window-text").textContent = `material classes (false colour, ${d.channel})`; return; }
  $("window-text").textContent = `${d.quantity} ${d.channel || ""} window ${d.window[0].toPrecision(3)} … ${d.window[1].toPrecision(3)} ${d.unit}`;
}

function showLegend(display) {
  const legend = $("legend");
  if (display.legend.length) {
    legend.replaceChildren(...display.legend.map((entry) => {
      const swatch = el("span", { class: "swatch" }); swatch.style.background = entry.colour;
      return el("div", {}, swatch, entry.name);
    }));
  } else {
    legend.replaceChildren(el("div", {}, `${display.quantity}: dark = dense (${display.unit})`));
  }
}

function threatLabel(t) {
  const probability = t.probability === null || t.probability === undefined ? "" : ` ${(100 * t.probability).toFixed(0)}%`;
  return `${t.category.toLowerCase()}${t.alarm ? " ALARM" : ""}${probability} · ${t.origin.toLowerCase()}`;
}

function showThreatList(display) {
  $("threat-list").replaceChildren(...(display.threats.length ? display.threats.map((t) => el("li", {}, threatLabel(t))) : [el("li", {}, "none on this view")]));
}

function drawThreats() {
  const viewer = state.viewer;
  viewer.clearOverlays();
  if (!viewer.world.getItemCount() || !state.display || !$("threats").checked) return;
  for (const t of state.display.threats) {
    const box = el("div", { class: `threat-box${t.alarm ? "" : " no-alarm"}${t.origin === "OPERATOR" ? " operator" : ""}` }, el("span", {}, threatLabel(t)));
    viewer.addOverlay(box, viewportRect(t.x0, t.y0, t.x1, t.y1));
  }
}

function showMetadata(info) {
  const m = info.metadata; const rows = [];
  const add = (k, v) => { if (v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && !v.length)) rows.push(el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))); };
  add("file", `${fullLabel(info)} (${info.format})`);
  add("time", m.acquired_at);
  if (m.object) { add("object", m.object.type); add("containers", (m.object.container_numbers || []).join(", ")); add("plate", m.object.licence_plate); add("declaration", m.object.declaration); add("identifier", m.object.identifier); }
  if (m.scanner) { add("scanner", [m.scanner.manufacturer, m.scanner.model].filter(Boolean).join(" ")); add("energies (kV)", m.scanner.energies_kv); }
  if (m.site) add("site", [m.site.name, m.site.machine_id].filter(Boolean).join(" "));
  add("views", info.views.map((v) => `${v.name} ${v.rows}×${v.lines} (${v.calibration.toLowerCase()})`).join(", "));
  if (m.provenance) add("processing", (m.provenance.steps || []).map((s) => s.name).join(" → ") || "none");
  $("metadata").replaceChildren(...rows);
}

// Window/level by shift+drag: horizontal moves the centre, vertical the width.
function setupWindowDrag(viewer) {
  let start = null; let timer = null;
  viewer.addHandler("canvas-press", (event) => {
    if (event.originalEvent.shiftKey && state.display) start = { x: event.position.x, y: event.position.y, window: state.display.window.slice() };
    else start = null;
  });
  viewer.addHandler("canvas-drag", (event) => {
    if (!start || state.markMode) return;
    event.preventDefaultAction = true;
    const [low, high] = start.window; const width = high - low;
    const centre = (low + high) / 2 - (event.position.x - start.x) * width / 400;
    const newWidth = width * Math.exp((event.position.y - start.y) / 200);
    state.window = `${(centre - newWidth / 2).toPrecision(5)},${(centre + newWidth / 2).toPrecision(5)}`;
    state.display.window = [centre - newWidth / 2, centre + newWidth / 2];
    showWindow();
    if (!timer) timer = setTimeout(() => { timer = null; if (start) refresh(false, true); }, 80);
  });
  viewer.addHandler("canvas-release", () => {
    if (start && state.window) setTimeout(() => refresh(false), 100); // the sharp picture once the drag ends
    start = null;
  });
}

function setupReadout(viewer) {
  let pending = null; let busy = false;
  new OpenSeadragon.MouseTracker({
    element: viewer.element,
    moveHandler: (event) => {
      if (!viewer.world.getItemCount() || !state.display) return;
      const point = pictureAt(viewer, event.position);
      pending = point;
      if (busy) return;
      busy = true;
      setTimeout(async () => {
        const p = pending; busy = false;
        if (p.x < 0 || p.y < 0 || p.x >= state.display.width || p.y >= state.display.height) { $("readout").textContent = "outside the scan"; return; }
        const q = displayQuery(); q.set("x", p.x.toFixed(1)); q.set("y", p.y.toFixed(1));
        try {
          const r = await getJSON(`api/scans/${state.scan}/readout?${q}`);
          const raw = Object.entries(r.raw).map(([k, v]) => `${k} ${v === null ? "–" : Number(v).toPrecision(5)}`).join(" ");
          const att = r.attenuation === null ? "–" : r.attenuation.toFixed(3);
          const steel = r.steel_mm === null ? "–" : `${r.steel_mm.toFixed(1)} mm`;
          $("readout").textContent = `row ${r.row} line ${r.line} · ${(r.x_mm / 1000).toFixed(3)} m, ${(r.y_mm / 1000).toFixed(3)} m · stored ${raw} · attenuation ${att} · steel ${steel} · material ${r.material || "–"}`;
        } catch (error) { $("readout").textContent = error.message; }
      }, 60);
    },
  });
}

// Ruler: two clicks; the distance in mm from the picture's square pixels.
function setupRuler(viewer) {
  $("ruler").addEventListener("click", () => { state.rulerMode = !state.rulerMode; state.rulerPoints = []; $("ruler").classList.toggle("active", state.rulerMode); drawRuler(); });
  viewer.addHandler("canvas-click", (event) => {
    if (!state.rulerMode || !event.quick) return;
    event.preventDefaultAction = true;
    const point = pictureAt(viewer, event.position);
    state.rulerPoints = state.rulerPoints.length >= 2 ? [point] : [...state.rulerPoints, point];
    drawRuler();
  });
  viewer.addHandler("update-viewport", drawRuler);
}

function rulerLength() {
  const [a, b] = state.rulerPoints; const [rowMm, columnMm] = state.display.pixel_mm;
  return Math.hypot((b.x - a.x) * columnMm, (b.y - a.y) * rowMm);
}

function drawRuler() {
  const layer = $("ruler-layer");
  layer.replaceChildren();
  if (!state.viewer || !state.display || state.rulerPoints.length === 0) return;
  const points = state.rulerPoints.map((p) => onScreen(state.viewer, p.x, p.y));
  const ns = "http://www.w3.org/2000/svg";
  if (points.length === 2) {
    const line = document.createElementNS(ns, "line");
    [["x1", points[0].x], ["y1", points[0].y], ["x2", points[1].x], ["y2", points[1].y]].forEach(([k, v]) => line.setAttribute(k, v));
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", (points[0].x + points[1].x) / 2 + 6); text.setAttribute("y", (points[0].y + points[1].y) / 2 - 6);
    text.setAttribute("id", "ruler-text");
    text.textContent = `${rulerLength().toFixed(0)} mm`;
    layer.append(line, text);
  }
}

// Marking: drag a box, then save it as an operator TDR into the scan's DICOS folder.
function setupMarking(viewer) {
  $("mark").addEventListener("click", () => { state.markMode = !state.markMode; $("mark").classList.toggle("active", state.markMode); });
  let origin = null;
  viewer.addHandler("canvas-press", (event) => {
    if (!state.markMode) return;
    origin = pictureAt(viewer, event.position);
  });
  viewer.addHandler("canvas-drag", (event) => {
    if (!state.markMode || !origin) return;
    event.preventDefaultAction = true;
    const point = pictureAt(viewer, event.position);
    const box = { x0: Math.min(origin.x, point.x), y0: Math.min(origin.y, point.y), x1: Math.max(origin.x, point.x), y1: Math.max(origin.y, point.y) };
    state.pendingBox = box;
    const rect = viewportRect(box.x0, box.y0, box.x1, box.y1);
    if (!state.draft) { state.draft = el("div", { class: "draft-box", id: "draft-box" }); viewer.addOverlay(state.draft, rect); } else viewer.updateOverlay(state.draft, rect);
  });
  viewer.addHandler("canvas-release", () => {
    if (!state.markMode || !origin) return;
    origin = null;
    if (state.pendingBox) { $("mark-category").value = $("category").value; $("mark-dialog").showModal(); }
  });
  $("mark-dialog").addEventListener("close", async () => {
    const box = state.pendingBox; state.pendingBox = null;
    if (state.draft) { viewer.removeOverlay(state.draft); state.draft = null; }
    state.markMode = false; $("mark").classList.remove("active");
    if ($("mark-dialog").returnValue !== "save" || !box) return;
    try {
      const body = { ...box, category: $("mark-category").value, operator: $("mark-officer").value };
      const saved = await getJSON(`api/scans/${state.scan}/threats?${displayQuery()}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      message(`saved ${saved.file}`);
      state.info = saved.scan;
      await refresh(false);
    } catch (error) { message(`not saved: ${error.message}`); }
  });
}

function exportPNG() {
  const viewer = state.viewer; const source = viewer.drawer.canvas;
  const canvas = document.createElement("canvas"); canvas.width = source.width; canvas.height = source.height;
  const context = canvas.getContext("2d"); context.drawImage(source, 0, 0);
  const ratio = source.width / viewer.container.clientWidth;
  if ($("threats").checked && state.display) {
    context.lineWidth = 2 * ratio; context.font = `${12 * ratio}px sans-serif`;
    for (const t of state.display.threats) {
      const a = onScreen(viewer, t.x0, t.y0); const b = onScreen(viewer, t.x1, t.y1);
      context.strokeStyle = context.fillStyle = t.alarm ? "#ff2d2d" : "#ffd400";
      context.strokeRect(a.x * ratio, a.y * ratio, (b.x - a.x) * ratio, (b.y - a.y) * ratio);
      context.fillText(threatLabel(t), a.x * ratio, a.y * ratio - 4 * ratio);
    }
  }
  const link = el("a", { download: `${fullLabel(state.info).replace(" / ", "-")}-${state.display.view}.png`, href: canvas.toDataURL("image/png") });
  document.body.append(link); link.click(); link.remove();
}

// ---------------------------------------------------------------- compare

async function register() {
  const a = $("pair-a").value; const b = $("pair-b").value;
  const query = new URLSearchParams({ a, b, view: $("pair-view").value || "", channel: $("pair-channel").value, channel_b: $("pair-channel-b").value });
  $("pair-info").textContent = "registering…";
  try {
    state.pair = await getJSON(`api/pair?${query}`);
  } catch (error) { $("pair-info").textContent = error.message; return; }
  const p = state.pair; const t = p.transform;
  const parameters = Object.entries(t.parameters || {}).map(([k, v]) => `${k} ${Array.isArray(v) ? v.map((x) => Number(x).toFixed(3)).join("/") : Number(v).toFixed(4)}`).join(" · ");
  $("pair-info").textContent = `${a} → ${b} (${p.view}): confidence ${p.confidence.toFixed(3)} · overlap ${(100 * p.overlap).toFixed(0)}% · ${p.converged ? "converged" : "NOT converged"} · ${parameters}`;
  showPair();
}

function pairSource(mode) {
  const p = state.pair;
  const query = new URLSearchParams({ a: p.a, b: p.b, view: p.view, mode, channel: $("pair-channel").value, channel_b: $("pair-channel-b").value });
  return tileSource(p.width, p.height, p.levels, `api/pair/tile?${query}`);
}

function showPair() {
  if (!state.pair) return;
  clearInterval(state.flickerTimer); state.flickerTimer = null;
  const mode = state.pairMode;
  document.querySelectorAll("#pair-modes button").forEach((b) => b.classList.toggle("active", b.dataset.mode === mode));
  $("pair-stage").classList.toggle("single", mode !== "side");
  state.left.world.removeAll(); state.right.world.removeAll();
  if (mode === "side") {
    state.left.open(pairSource("reference")); state.right.open(pairSource("moving"));
  } else if (mode === "flicker") {
    state.left.open([pairSource("reference"), pairSource("moving")]);
    let shown = true;
    state.flickerTimer = setInterval(() => {
      const top = state.left.world.getItemAt(1);
      if (top) { shown = !shown; top.setOpacity(shown ? 1 : 0); $("pair-info").dataset.flicker = shown ? "B" : "A"; }
    }, 600);
  } else {
    state.left.open(pairSource(mode));
  }
  setTimeout(() => state.left.viewport.resize && state.left.viewport.goHome(true), 0);
}

function syncViewers(a, b) {
  let busy = false;
  const follow = (from, to) => from.addHandler("viewport-change", () => {
    if (busy || state.pairMode !== "side") return;
    busy = true; to.viewport.fitBounds(from.viewport.getBounds(), true); busy = false;
  });
  follow(a, b); follow(b, a);
}

function setTab(name) {
  $("inspect").hidden = name !== "inspect"; $("compare").hidden = name !== "compare";
  $("tab-inspect").classList.toggle("active", name === "inspect"); $("tab-compare").classList.toggle("active", name === "compare");
  if (name === "compare" && !state.left) {
    state.left = makeViewer("osd-left"); state.right = makeViewer("osd-right"); syncViewers(state.left, state.right);
  }
}

// ---------------------------------------------------------------- start

function start() {
  state.refresh = refresh;
  state.viewer = makeViewer("osd");
  setupWindowDrag(state.viewer); setupReadout(state.viewer); setupRuler(state.viewer); setupMarking(state.viewer);
  $("view").addEventListener("change", () => { fillChannels(); state.window = null; refresh(true); });
  for (const id of ["channel", "quantity"]) $(id).addEventListener("change", () => { state.window = null; refresh(false); });
  for (const id of ["invert", "enhance", "strip"]) $(id).addEventListener("change", () => refresh(false));
  $("threats").addEventListener("change", drawThreats);
  document.querySelectorAll("#presets button").forEach((button) => button.addEventListener("click", () => { state.window = button.dataset.window; refresh(false); }));
  $("zoom-in").addEventListener("click", () => state.viewer.viewport.zoomBy(1.5));
  $("zoom-out").addEventListener("click", () => state.viewer.viewport.zoomBy(1 / 1.5));
  $("home").addEventListener("click", () => state.viewer.viewport.goHome());
  $("export").addEventListener("click", exportPNG);
  $("tab-inspect").addEventListener("click", () => setTab("inspect"));
  $("tab-compare").addEventListener("click", () => setTab("compare"));
  $("pair-go").addEventListener("click", register);
  document.querySelectorAll("#pair-modes button").forEach((button) => button.addEventListener("click", () => { state.pairMode = button.dataset.mode; showPair(); }));
  loadScanList().then(() => {
    const views = new Set();
    state.scans.length && getJSON(`api/scans/${state.scans[0].id}`).then((info) => {
      info.views.forEach((v) => views.add(v.name));
      $("pair-view").replaceChildren(...[...views].map((v) => el("option", { value: v }, v)));
    });
    if (state.scans.length) return openScan(state.scans[0].id);
    return null;
  }).catch((error) => message(error.message));
}

document.addEventListener("DOMContentLoaded", start);
