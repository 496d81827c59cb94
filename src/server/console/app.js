// facematch console. Talks only to this server's native API (same origin); the server's
// Content-Security-Policy forbids everything else. No framework, no build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
};

// ---- the API key: typed once, kept in this tab (or this browser when asked) -------------------
const KEY = "facematch.key";
const key = {
  get: () => sessionStorage.getItem(KEY) || localStorage.getItem(KEY),
  set(k, remember) { sessionStorage.setItem(KEY, k); if (remember) localStorage.setItem(KEY, k); },
  clear() { sessionStorage.removeItem(KEY); localStorage.removeItem(KEY); },
};

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// Every call: same origin, the key as a bearer token; errors keep the API's own words.
async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + (key.get() || "") };
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let res;
  try { res = await fetch(path, init); } catch (e) { throw new ApiError(0, "network", "the server did not answer (" + e.message + ")"); }
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  if (!res.ok) {
    let code = "http_" + res.status, message = res.statusText || "request failed";
    if (type.includes("json")) {
      const j = await res.json().catch(() => null);
      if (j && j.error) { code = j.error.code || code; message = j.error.message || message; }
    }
    if (res.status === 401) showKeyPanel(message);
    throw new ApiError(res.status, code, message);
  }
  return type.includes("json") ? res.json() : res.blob();
}

function errorBox(err) {
  const status = err.status ? "HTTP " + err.status + " · " : "";
  return el("div", { class: "error", role: "alert" }, el("b", { text: err.message }), " ", el("code", { text: "(" + status + (err.code || "error") + ")" }));
}

function showBanner(err) { const b = $("#banner"); b.replaceChildren(...(err ? errorBox(err).childNodes : [])); b.hidden = !err; }

// ---- numbers in words -----------------------------------------------------------------------
const fmt = {
  int: (n) => Number(n).toLocaleString("en-US"),
  pct: (x) => (100 * x).toFixed(x >= 0.995 ? 1 : 2) + " %",
  ms: (x) => (x < 10 ? x.toFixed(1) : x.toFixed(0)) + " ms",
  date: (s) => (s || "").slice(0, 10),
  // 1 in N, N to two significant figures: 1 in 31,623 -> "1 in 32,000".
  oneIn(fmr) {
    if (!(fmr > 0)) return "none";
    const n = 1 / fmr;
    if (n < 1.5) return "nearly all";
    const mag = Math.pow(10, Math.max(0, Math.floor(Math.log10(n)) - 1));
    return "1 in " + fmt.int(Math.round(n / mag) * mag);
  },
};

function fmrWords(fmr, extrapolated, what = "different people score this high") {
  if (fmr === null || fmr === undefined) return "this pack is not calibrated";
  if (fmr <= 1e-6) return "fewer than 1 in 1,000,000 " + what.replace("different people", "pairs of different people");
  const s = "about " + fmt.oneIn(fmr) + " " + what;
  return extrapolated ? s + " (beyond the calibration data: an estimate)" : s;
}

// ---- photos: choose, drop, camera; drawn with their faces -------------------------------------
const photos = {}; // slot -> File

async function loadBitmap(file) {
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally { setTimeout(() => URL.revokeObjectURL(url), 1000); }
}

// Draws the photo and, when given, every face's box and five landmarks; the chosen face in green.
async function drawPhoto(slot, report) {
  const file = photos[slot];
  const canvas = $("#canvas-" + slot);
  if (!file || !canvas) return;
  const img = await loadBitmap(file).catch(() => null);
  const drop = canvas.parentElement;
  drop.querySelector(".hint").hidden = !!img;
  if (!img) { canvas.hidden = true; drop.querySelector(".hint").hidden = false; drop.querySelector(".hint").textContent = "This browser cannot show the photo; the server may still read it."; return; }
  const maxW = 900;
  const scale = Math.min(1, maxW / img.naturalWidth);
  canvas.width = Math.round(img.naturalWidth * scale);
  canvas.height = Math.round(img.naturalHeight * scale);
  const g = canvas.getContext("2d");
  g.drawImage(img, 0, 0, canvas.width, canvas.height);
  canvas.hidden = false;
  if (!report) return;
  // Identify's answer has no image size: the photo's own (the server decodes the same pixels).
  const sx = canvas.width / (report.width || img.naturalWidth), sy = canvas.height / (report.height || img.naturalHeight);
  const lw = Math.max(2, canvas.width / 300);
  const chosen = report.used_face ? report.used_face.box : null;
  const same = (b) => chosen && b.every((v, i) => Math.abs(v - chosen[i]) < 0.5);
  // Others first, the chosen face on top.
  const faces = [...report.faces].sort((a, b) => same(a.box) - same(b.box));
  for (const f of faces) {
    const isChosen = same(f.box);
    const [x1, y1, x2, y2] = f.box;
    g.lineWidth = isChosen ? lw * 1.6 : lw;
    g.strokeStyle = isChosen ? "#12b76a" : "#f79009";
    g.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    g.fillStyle = isChosen ? "#12b76a" : "#f79009";
    for (const [x, y] of f.landmarks) { g.beginPath(); g.arc(x * sx, y * sy, lw * 1.3, 0, 2 * Math.PI); g.fill(); }
  }
}

function facesNote(slot, report) {
  const note = $("#note-" + slot);
  if (!note) return;
  if (!report) { note.replaceChildren(); return; }
  const parts = [
    el("span", { class: "legend" }, el("i", { class: "chosen" }), "compared"),
    el("span", { class: "legend" }, el("i", { class: "other" }), "other faces"),
    el("span", { text: `${report.face_count} face${report.face_count === 1 ? "" : "s"} found · ${report.prominent_faces} prominent` }),
  ];
  if (report.prominent_faces > 1) parts.push(" ", el("span", { class: "warn", text: "more than one person in this photo" }));
  if (report.used_face && report.used_face.low_confidence) parts.push(" ", el("span", { class: "warn", text: "low-confidence face" }));
  note.replaceChildren(...parts);
}

function setPhoto(slot, file) {
  if (!file) return;
  photos[slot] = file;
  if (slot === "enroll") { $("#enroll-filename").textContent = file.name || "camera photo"; }
  else { drawPhoto(slot); facesNote(slot, null); }
  if (slot === "a" || slot === "b") { $("#compare-result").hidden = true; }
  refreshButtons();
}

function refreshButtons() {
  $("#compare-run").disabled = !(photos.a && photos.b);
  $("#enroll-run").disabled = !photos.enroll;
  $("#identify-run").disabled = !photos.identify;
}

function wirePhotoInputs() {
  for (const slot of ["a", "b", "identify", "enroll"]) {
    const input = $("#" + (slot === "a" || slot === "b" ? "file-" + slot : slot + "-file"));
    input.addEventListener("change", () => setPhoto(slot, input.files[0]));
  }
  for (const drop of document.querySelectorAll(".drop")) {
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault(); drop.classList.remove("over");
      const f = e.dataTransfer.files[0];
      if (f) setPhoto(drop.dataset.slot, f);
    });
  }
  // The camera where the browser offers one (a secure context: https or localhost).
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    for (const b of document.querySelectorAll(".camera-btn")) { b.hidden = false; b.addEventListener("click", () => camera(b.dataset.target)); }
  }
}

async function camera(slot) {
  const dialog = $("#camera-dialog"), video = $("#camera-video");
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false }); }
  catch (e) { showBanner(new ApiError(0, "camera", "the camera is not available: " + e.message)); return; }
  video.srcObject = stream;
  dialog.showModal();
  const stop = () => { stream.getTracks().forEach((t) => t.stop()); video.srcObject = null; dialog.close(); };
  $("#camera-cancel").onclick = stop;
  $("#camera-capture").onclick = () => {
    const c = document.createElement("canvas");
    c.width = video.videoWidth; c.height = video.videoHeight;
    c.getContext("2d").drawImage(video, 0, 0);
    c.toBlob((blob) => { stop(); if (blob) setPhoto(slot, new File([blob], "camera.jpg", { type: "image/jpeg" })); }, "image/jpeg", 0.92);
  };
}

async function busy(id, fn) {
  const spin = $("#" + id + "-busy"), btn = $("#" + id + "-run");
  spin.hidden = false; if (btn) btn.disabled = true;
  try { return await fn(); } finally { spin.hidden = true; refreshButtons(); }
}

// ---- Compare ------------------------------------------------------------------------------------
async function runCompare() {
  const out = $("#compare-result");
  const form = new FormData();
  form.append("image_a", photos.a, photos.a.name || "a.jpg");
  form.append("image_b", photos.b, photos.b.name || "b.jpg");
  try {
    const r = await busy("compare", () => api("POST", "/v1/compare", form));
    await Promise.all([drawPhoto("a", r.image_a), drawPhoto("b", r.image_b)]);
    facesNote("a", r.image_a); facesNote("b", r.image_b);
    out.replaceChildren(...compareView(r));
    out.dataset.similarity = r.similarity;
    out.dataset.match = r.match;
  } catch (e) { out.replaceChildren(errorBox(e)); out.className = "card result pad"; delete out.dataset.similarity; }
  out.hidden = false;
}

function compareView(r) {
  const matched = r.match === true;
  const verdict = el("div", { class: "verdict " + (matched ? "match" : "nomatch") },
    el("span", { class: "badge " + (matched ? "match" : "nomatch"), id: "decision", text: matched ? "Match" : "No match" }),
    el("div", { class: "words" },
      el("b", { id: "fmr-words", text: r.fmr === null ? "This pack is not calibrated" : capital(fmrWords(r.fmr, r.fmr_extrapolated)) + "." }),
      el("div", { class: "sub", text: `Decided at score ${r.decision.threshold_score.toFixed(2)}: ${fmt.oneIn(r.decision.threshold_fmr)} different people would be accepted.` })));
  const metric = (label, value, sub, id) => el("div", { class: "metric" }, el("div", { class: "label", text: label }), el("div", { class: "value", id, text: value }), el("div", { class: "sub", text: sub }));
  const metrics = el("div", { class: "metrics" },
    metric("Similarity", r.similarity.toFixed(3), "cosine of the embeddings", "similarity"),
    metric("Score", r.score === null ? "—" : r.score.toFixed(3), "−log10(FMR) / 6", "score"),
    metric("False-match rate", r.fmr === null ? "—" : r.fmr.toExponential(1), r.fmr_extrapolated ? "extrapolated" : "measured", "fmr"),
    metric("Faces", `${r.image_a.prominent_faces} · ${r.image_b.prominent_faces}`, "prominent in A · B", "faces"));
  const t = (x) => x.timings_ms;
  const row = (name, a, b) => el("tr", {}, el("td", { text: name }), el("td", { class: "num", text: fmt.ms(a) }), el("td", { class: "num", text: fmt.ms(b) }));
  const timings = el("div", { class: "timings" }, el("table", { id: "timings" },
    el("thead", {}, el("tr", {}, el("th", { text: "Stage" }), el("th", { class: "num", text: "Photo A" }), el("th", { class: "num", text: "Photo B" }))),
    el("tbody", {}, ["decode", "detect", "align", "embed"].map((s) => row(capital(s), t(r.image_a)[s + "_ms"], t(r.image_b)[s + "_ms"])))));
  return [verdict, metrics, timings];
}

const capital = (s) => s.charAt(0).toUpperCase() + s.slice(1);

// ---- People -------------------------------------------------------------------------------------
const people = { offset: 0, limit: 20, q: "", total: 0 };

async function loadPeople() {
  const qs = new URLSearchParams({ offset: people.offset, limit: people.limit });
  if (people.q) qs.set("q", people.q);
  const body = $("#people-table tbody");
  try {
    const r = await api("GET", "/v1/subjects?" + qs);
    people.total = r.total;
    body.replaceChildren(...r.subjects.map(personRow));
    $("#people-empty").hidden = r.subjects.length > 0;
    $("#people-empty").textContent = people.q ? "No one matches “" + people.q + "”." : "No one enrolled yet.";
    $("#people-total").textContent = fmt.int(r.total) + (people.q ? " found" : "");
    const end = Math.min(people.offset + r.subjects.length, r.total);
    $("#people-range").textContent = r.total ? `${fmt.int(people.offset + 1)}–${fmt.int(end)} of ${fmt.int(r.total)}` : "";
    $("#people-prev").disabled = people.offset === 0;
    $("#people-next").disabled = end >= r.total;
    showBanner(null);
  } catch (e) { if (e.status !== 401) showBanner(e); }
}

function personRow(s) {
  const actions = el("td", { class: "rowactions" });
  const normal = () => actions.replaceChildren(
    el("label", { class: "button", title: "Add another photo of this person" }, "Add face",
      el("input", { type: "file", accept: "image/*", class: "addface", hidden: true, onchange: (e) => addFace(s, e.target) })), " ",
    el("button", { class: "danger", text: "Delete", onclick: confirmDelete }));
  function confirmDelete() {
    actions.replaceChildren(el("span", { class: "sub", text: "Delete for good? " }),
      el("button", { class: "danger solid confirm-delete", text: "Delete", onclick: () => removePerson(s, actions) }), " ",
      el("button", { text: "Cancel", onclick: normal }));
  }
  normal();
  return el("tr", { "data-subject": s.subject_id },
    el("td", {}, el("b", { text: s.full_name || "—" }), el("div", {}, el("small", { class: "mono subid", text: s.subject_id.slice(0, 8) }))),
    el("td", { text: s.document_id || "—" }),
    el("td", {}, el("span", { class: "status-pill " + s.status, text: s.status })),
    el("td", { class: "num", text: String(s.faces.length) }),
    el("td", { class: "hide-phone", text: fmt.date(s.created_at) }),
    actions);
}

async function removePerson(s, cell) {
  try {
    await api("DELETE", "/v1/subjects/" + s.subject_id);
    const note = $("#enroll-ok");
    if (note && note.dataset.subject === s.subject_id) note.remove();
    await loadPeople();
  }
  catch (e) { cell.replaceChildren(errorBox(e)); }
}

async function addFace(s, input) {
  const f = input.files[0];
  if (!f) return;
  const form = new FormData();
  form.append("image", f, f.name || "face.jpg");
  try { await api("POST", `/v1/subjects/${s.subject_id}/faces`, form); await loadPeople(); }
  catch (e) { showBanner(e); }
}

async function runEnroll() {
  const out = $("#enroll-result");
  let record;
  try {
    record = JSON.parse($("#enroll-record").value || "{}");
    if (record === null || typeof record !== "object" || Array.isArray(record)) throw new Error("not an object");
  } catch (e) { out.replaceChildren(errorBox(new ApiError(0, "invalid_record", "record: a JSON object is needed (" + e.message + ")"))); return; }
  // Empty strings are left out rather than stored.
  for (const [k, v] of Object.entries(record)) if (v === "") delete record[k];
  const form = new FormData();
  form.append("image", photos.enroll, photos.enroll.name || "photo.jpg");
  form.append("record", JSON.stringify(record));
  try {
    const r = await busy("enroll", () => api("POST", "/v1/subjects", form));
    const name = r.full_name || "The person";
    const extra = r.faces_in_photo > 1 ? ` The photo held ${r.faces_in_photo} faces; the largest was enrolled.` : "";
    out.replaceChildren(el("div", { class: "ok-note", id: "enroll-ok", "data-subject": r.subject_id, text: `${name} is enrolled (subject ${r.subject_id}).${extra}` }));
    delete photos.enroll; $("#enroll-file").value = ""; $("#enroll-filename").textContent = "No photo chosen"; refreshButtons();
    $("#enroll-record").value = $("#enroll-record").defaultValue;
    people.offset = 0; people.q = ""; $("#people-search").value = "";
    await loadPeople();
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

// ---- Identify -----------------------------------------------------------------------------------
async function runIdentify() {
  const out = $("#identify-results");
  const form = new FormData();
  form.append("image", photos.identify, photos.identify.name || "selfie.jpg");
  form.append("top_k", $("#identify-k").value);
  try {
    const r = await busy("identify", () => api("POST", "/v1/identify", form));
    if (r.used_face) await drawPhoto("identify", { faces: [r.used_face], used_face: r.used_face });
    // One read per person, however many of their faces are candidates.
    const ids = [...new Set(r.candidates.map((c) => c.subject_id))];
    const subjects = await Promise.all(ids.map((id) => api("GET", "/v1/subjects/" + id).catch(() => null)));
    const byId = new Map(ids.map((id, i) => [id, subjects[i]]));
    const list = r.candidates.map((c) => candidateRow(c, byId.get(c.subject_id)));
    const matched = r.candidates.filter((c) => c.match).length;
    out.replaceChildren(
      el("h3", {}, "Candidates ", el("small", { text: `from ${fmt.int(r.gallery_size)} enrolled face${r.gallery_size === 1 ? "" : "s"}` })),
      el("p", { class: "summary", id: "identify-summary", text: matched
        ? `${matched} candidate${matched > 1 ? "s" : ""} above the search's threshold (a false match in ${fmt.oneIn(r.fmr_target)} searches of people not enrolled).`
        : `No one above the search's threshold (a false match in ${fmt.oneIn(r.fmr_target)} searches of people not enrolled).` }),
      ...(list.length ? list : [el("p", { class: "empty", text: "The gallery is empty." })]));
  } catch (e) { out.replaceChildren(el("h3", { text: "Candidates" }), errorBox(e)); }
}

function candidateRow(c, subject) {
  const thumb = el("div", { class: "thumb", text: "👤" });
  const face = subject && subject.faces.find((f) => f.face_id === c.face_id);
  if (face && face.has_photo) {
    api("GET", `/v1/subjects/${c.subject_id}/faces/${c.face_id}/photo`).then((blob) => {
      const img = el("img", { class: "thumb", alt: "enrolled photo", src: URL.createObjectURL(blob) });
      thumb.replaceWith(img);
    }).catch(() => {});
  }
  const name = subject ? subject.full_name || "(no name)" : "(deleted)";
  return el("div", { class: "cand", "data-subject": c.subject_id },
    thumb,
    el("div", { class: "who" }, el("b", { class: "cand-name", text: name }),
      el("small", { class: "mono", text: (subject && subject.document_id ? subject.document_id + " · " : "") + c.subject_id }),
      el("div", { class: "sub", text: c.fmr_search === null ? "" : capital(fmrWords(c.fmr_search, false, "searches of someone not enrolled would find a face this close")) })),
    el("div", { class: "nums" }, el("b", { text: c.score === null ? c.similarity.toFixed(3) : c.score.toFixed(3) }), el("div", { text: "score · cos " + c.similarity.toFixed(3) })),
    el("span", { class: "badge small " + (c.match ? "match" : "nomatch"), text: c.match ? "Match" : "No match" }));
}

// ---- Status -------------------------------------------------------------------------------------
async function loadStatus() {
  const box = $("#status-body");
  try {
    const s = await api("GET", "/v1/status");
    $("#brand-pack").textContent = s.pack.name;
    box.replaceChildren(...statusView(s));
    showBanner(null);
  } catch (e) { if (e.status !== 401) box.replaceChildren(errorBox(e)); }
}

function statusView(s) {
  const kv = (pairs) => el("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
  const build = el("div", { class: "card" }, el("h3", { text: "Server" }), kv([
    ["Version", el("span", { id: "status-version", text: s.version })],
    ["Pipeline", el("code", { text: s.pipeline })],
    ["Workers", `${s.engine.workers} × ${s.engine.intra_threads} thread${s.engine.intra_threads > 1 ? "s" : ""}`],
    ["Queue", `${s.engine.queue} waiting of ${s.engine.queue_depth}`],
    ["Gallery", el("span", { id: "status-gallery", text: fmt.int(s.gallery_faces) + (s.gallery_faces === 1 ? " enrolled face" : " enrolled faces") })],
    ["Photos", s.photos_kept ? "kept, encrypted" : "not kept"],
    ["Compare decides at", `score ${s.match_threshold_score.toFixed(2)} (${fmt.oneIn(s.match_threshold_fmr)})`],
    ["Identify decides at", `${fmt.oneIn(s.identify_fmr)} per search`],
  ]));
  const pack = el("div", { class: "card" }, el("h3", {}, "Model pack ", el("small", { text: s.pack.source })), kv([
    ["Name", el("b", { text: s.pack.name })],
    ["Models", s.pack.description],
    ["Licence", s.pack.licence],
    ...s.pack.models.map((m) => [capital(m.role), el("div", {}, el("div", { text: `${m.file} on ${m.backend}` }),
      el("code", { class: "sha", text: m.sha256 ? "sha256 " + m.sha256 : "sha256 not pinned" }))]),
  ]));
  const cal = s.calibration;
  const table = el("div", { class: "card wide" }, el("h3", {}, "Calibration ", el("small", { text: cal ? `${fmt.int(cal.impostor_pairs)} impostor pairs, ${fmt.int(cal.genuine_pairs)} genuine` : "none" })));
  if (cal) {
    const near = (p) => Math.abs(p.score - s.match_threshold_score) < 0.005;
    table.append(el("p", { class: "summary", text: cal.dataset }),
      el("div", { class: "table-wrap" }, el("table", { id: "calibration" },
        el("thead", {}, el("tr", {}, el("th", { text: "False-match rate" }), el("th", { class: "num", text: "Cosine" }), el("th", { class: "num", text: "Score" }), el("th", { class: "num", text: "TAR" }), el("th", { text: "" }))),
        el("tbody", {}, cal.points.map((p) => el("tr", { class: (p.extrapolated ? "extrapolated" : "") + (near(p) ? " current" : "") },
          el("td", { text: `${p.fmr.toExponential(0)} (${fmt.oneIn(p.fmr)})` }),
          el("td", { class: "num", text: p.cosine.toFixed(4) }),
          el("td", { class: "num", text: p.score.toFixed(3) }),
          el("td", { class: "num", text: p.tar === null || p.tar === undefined ? "—" : fmt.pct(p.tar) }),
          el("td", { text: p.extrapolated ? "extrapolated" : near(p) ? "compare default" : "" })))))));
  }
  return [build, pack, table];
}

// ---- the frame: tabs, key -----------------------------------------------------------------------
function show(view) {
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("active", b.dataset.view === view);
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  if (location.hash !== "#" + view) history.replaceState(null, "", "#" + view);
  if (!key.get()) return;
  if (view === "people") loadPeople();
  if (view === "status") loadStatus();
}

function showKeyPanel(message) {
  $("#key-panel").hidden = false;
  $("#keybox-set").hidden = true;
  const err = $("#key-error");
  err.hidden = !message;
  if (message) err.replaceChildren(el("b", { text: message }));
  $("#key-input").focus();
}

function keyReady() {
  $("#key-panel").hidden = true;
  $("#keybox-set").hidden = false;
  const view = (location.hash || "#compare").slice(1);
  show(["compare", "people", "identify", "status"].includes(view) ? view : "compare");
  api("GET", "/v1/status").then((s) => { $("#brand-pack").textContent = s.pack.name; }).catch(() => {});
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => show(b.dataset.view));
  $("#key-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const k = $("#key-input").value.trim();
    if (!k) return;
    key.set(k, $("#key-remember").checked);
    try { await api("GET", "/v1/status"); $("#key-input").value = ""; keyReady(); }
    catch (err) { key.clear(); if (err.status !== 401) showKeyPanel(err.message); }
  });
  $("#key-forget").addEventListener("click", () => { key.clear(); showKeyPanel(null); });
  $("#compare-run").addEventListener("click", runCompare);
  $("#enroll-run").addEventListener("click", runEnroll);
  $("#identify-run").addEventListener("click", runIdentify);
  $("#people-search-form").addEventListener("submit", (e) => { e.preventDefault(); people.q = $("#people-search").value.trim(); people.offset = 0; loadPeople(); });
  $("#people-prev").addEventListener("click", () => { people.offset = Math.max(0, people.offset - people.limit); loadPeople(); });
  $("#people-next").addEventListener("click", () => { people.offset += people.limit; loadPeople(); });
  wirePhotoInputs();
  refreshButtons();
  if (key.get()) keyReady(); else { show("compare"); showKeyPanel(null); }
});
