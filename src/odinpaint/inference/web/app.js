// odinpaint's page: open an image, paint the hole (zoom and pan for precision), Inpaint,
// compare, download, or go on editing the result. ES modules, no build step:
//   view.js     zoom and pan, client positions to image pixels
//   mask.js     the painted hole, grown by a few pixels, and the crop sent around it
//   history.js  one Undo/Redo history for every change
//   png.js      the PNGs uploaded
//   api.js      the server's errors as text
//
// The page never loses work. Strokes, clears, fills, new images and "continue editing" are
// all steps in one history; an image that does not load changes nothing; replacing unsaved
// work asks first; leaving the page with it asks the browser to confirm.
//
// Inpaint sends only a crop: the hole's bounding box grown by a margin, cut out of the
// current image (a lossless PNG) and out of the mask. The answer's hole pixels are pasted
// into a full-size copy of the image, so every other pixel stays exactly the image's own and
// a 24 MP photo uploads a few MB, not the whole photo (or a 50 MB result).

import { MB, errorText, mb } from "./api.js";
import { History } from "./history.js";
import { countPainted, cropRect, grownHole, maskRows, paintedArea } from "./mask.js";
import { canvasPng, imagePng, maskPng } from "./png.js";
import { View } from "./view.js";

const $ = (id) => document.getElementById(id);
const fileInput = $("file"), fileName = $("file-name"), size = $("size"), sizeValue = $("size-value");
const growInput = $("grow");
const eraserBtn = $("eraser"), undoBtn = $("undo"), redoBtn = $("redo"), clearBtn = $("clear");
const zoomInBtn = $("zoom-in"), zoomOutBtn = $("zoom-out"), fitBtn = $("fit");
const inpaintBtn = $("inpaint"), status = $("status"), progress = $("progress"), elapsed = $("elapsed");
const viewport = $("viewport"), stage = $("stage"), photo = $("photo"), paint = $("paint");
const cursor = $("cursor"), placeholder = $("placeholder");
const compare = $("compare"), resultImg = $("result"), beforeImg = $("before"), divider = $("divider");
const noResult = $("no-result"), resultTools = $("result-tools"), comparePos = $("compare-pos");
const holdBtn = $("hold"), download = $("download"), continueBtn = $("continue");
const replaceDialog = $("replace"), replaceText = $("replace-text");

// Both canvases are read back often (every stroke's undo patch, every Inpaint's crop): kept
// in memory where reads are cheap, not on the GPU.
const pctx = paint.getContext("2d", { willReadFrequently: true });
const phctx = photo.getContext("2d", { willReadFrequently: true });
const backup = document.createElement("canvas");  // the mask as of the last finished edit
const bctx = backup.getContext("2d", { willReadFrequently: true });
const view = new View(viewport, stage, $("zoom-value"));
const history = new History(512 * MB, updateButtons);  // oldest steps dropped beyond 512 MB

// image: {name, w, h, url, pixels}: what is painted on; pixels (a bitmap or a canvas) are
// drawn into the photo canvas, url shows it as "before" in the compare view.
// result: {blob, url, beforeUrl, name, w, h, canvas, saved}: the fill shown on the right.
let image = null, result = null;
let maskCount = 0;  // painted pixels in the mask canvas
let erasing = false, spaceDown = false;
let stroke = null;  // the stroke being painted
let mode = null;    // null | "paint" | "pan" | "pinch" | "wait" (fingers lifting after a pinch)
const pointers = new Map();  // pointerId -> {x, y} client position
let panLast = null, pinch = null;
let busy = false, requestSeq = 0, controller = null, timer = null, loadSeq = 0;
let maxUploadMb = null;
const urls = new Set();

// ------------------------------------------------------------------ messages and buttons
function say(text, error = false) {
  status.textContent = text;
  status.classList.toggle("error", error);
}

function updateButtons() {
  const has = image !== null;
  inpaintBtn.disabled = !has || busy;
  inpaintBtn.setAttribute("aria-busy", busy ? "true" : "false");
  undoBtn.disabled = !history.canUndo;
  redoBtn.disabled = !history.canRedo;
  clearBtn.disabled = !has || maskCount === 0;
  for (const b of [eraserBtn, zoomInBtn, zoomOutBtn, fitBtn]) b.disabled = !has;
  fileName.textContent = image ? image.name : "no image";
}

function growBy() { return Math.max(0, Math.min(50, Math.round(Number(growInput.value) || 0))); }

// ------------------------------------------------------------------ object URLs
function track(url) { urls.add(url); return url; }
function releaseUnused() {  // revoke the object URLs that nothing shows, now or after an undo
  const live = new Set([image && image.url, result && result.url, result && result.beforeUrl, ...history.urls()]);
  for (const u of urls) if (!live.has(u)) { URL.revokeObjectURL(u); urls.delete(u); }
}

// ------------------------------------------------------------------ painting
function brushImage() { return Math.max(1, Number(size.value) / view.s); }  // in image px
function brushScreen() { return brushImage() * view.s; }

function beginStroke(ev) {
  const p = view.toImage(ev.clientX, ev.clientY);
  stroke = { last: p, width: brushImage(), erase: erasing, x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  segment(p, p);
}

function segment(a, b) {
  pctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
  pctx.strokeStyle = "rgb(255, 0, 255)";
  pctx.lineCap = pctx.lineJoin = "round";
  pctx.lineWidth = stroke.width;
  pctx.beginPath();
  pctx.moveTo(a.x, a.y);
  pctx.lineTo(b.x + (a.x === b.x && a.y === b.y ? 0.01 : 0), b.y);
  pctx.stroke();
  const r = stroke.width / 2 + 2;
  stroke.x0 = Math.min(stroke.x0, a.x - r, b.x - r); stroke.y0 = Math.min(stroke.y0, a.y - r, b.y - r);
  stroke.x1 = Math.max(stroke.x1, a.x + r, b.x + r); stroke.y1 = Math.max(stroke.y1, a.y + r, b.y + r);
  stroke.last = b;
}

function strokeRect() {
  const x = Math.max(0, Math.floor(stroke.x0)), y = Math.max(0, Math.floor(stroke.y0));
  const x1 = Math.min(image.w, Math.ceil(stroke.x1)), y1 = Math.min(image.h, Math.ceil(stroke.y1));
  return { x, y, w: x1 - x, h: y1 - y };
}

function endStroke() {
  if (!stroke) return;
  const r = strokeRect();
  stroke = null;
  if (r.w <= 0 || r.h <= 0) return;
  const before = bctx.getImageData(r.x, r.y, r.w, r.h), after = pctx.getImageData(r.x, r.y, r.w, r.h);
  bctx.putImageData(after, r.x, r.y);
  maskEdit(r.x, r.y, before, after);
}

function cancelStroke() {  // a second finger came down: this was the start of a pinch, not a stroke
  if (!stroke) return;
  const r = strokeRect();
  if (r.w > 0 && r.h > 0) pctx.putImageData(bctx.getImageData(r.x, r.y, r.w, r.h), r.x, r.y);
  stroke = null;
}

// A change of the mask inside one rectangle, already made: a history step that puts back
// the pixels from before (undo) or after (redo; null = cleared).
function maskEdit(x, y, before, after) {
  const delta = (after ? countPainted(after) : 0) - countPainted(before);
  const put = (data) => {
    for (const ctx of [pctx, bctx]) {
      if (data) ctx.putImageData(data, x, y);
      else ctx.clearRect(x, y, before.width, before.height);
    }
  };
  maskCount += delta;
  history.push({
    undo: () => { put(before); maskCount -= delta; },
    redo: () => { put(after); maskCount += delta; },
    bytes: before.data.length + (after ? after.data.length : 0), urls: [],
  });
}

function clearMask() {
  if (!image) return;
  endStroke();
  if (maskCount === 0) return;
  const before = bctx.getImageData(0, 0, image.w, image.h);
  pctx.clearRect(0, 0, image.w, image.h);
  bctx.clearRect(0, 0, image.w, image.h);
  maskEdit(0, 0, before, null);
}

function undo() { if (!stroke) history.undo(); }
function redo() { if (!stroke) history.redo(); }

// ------------------------------------------------------------------ what is shown: image, mask, result
// The painted part of the mask, to put back when an image change is undone.
function maskSnapshot() {
  if (!image || maskCount === 0) return null;
  const box = paintedArea(pctx, image.w, image.h).box;
  return { x: box.x, y: box.y, data: pctx.getImageData(box.x, box.y, box.w, box.h), count: maskCount };
}

function showImage(img, mask = null) {
  image = img;
  for (const c of [photo, paint, backup]) { c.width = img ? img.w : 0; c.height = img ? img.h : 0; }
  stroke = null; mode = null; pointers.clear();
  maskCount = 0;
  if (img) {
    phctx.drawImage(img.pixels, 0, 0);
    stage.style.width = `${img.w}px`; stage.style.height = `${img.h}px`;
    if (mask) {
      for (const ctx of [pctx, bctx]) ctx.putImageData(mask.data, mask.x, mask.y);
      maskCount = mask.count;
    }
  }
  stage.hidden = !img; placeholder.hidden = !!img;
  viewport.classList.toggle("ready", !!img);
  viewport.classList.remove("panning");
  cursor.hidden = true;
  view.show(img);
  updateButtons();
}

function showResult(res) {
  result = res;
  compare.hidden = !res; resultTools.hidden = !res; noResult.hidden = !!res;
  comparePos.value = "0";
  showCompare(0);
  if (!res) {
    resultImg.removeAttribute("src"); beforeImg.removeAttribute("src");
    download.removeAttribute("href");
    return;
  }
  resultImg.src = res.url;
  beforeImg.src = res.beforeUrl;
  download.href = res.url;
  download.download = `${stem(res.name)}-inpainted.png`;
  continueBtn.hidden = image !== null && image.pixels === res.canvas;  // already editing this result
}

// Everything a new image replaces: what an undo of it puts back.
function documentState() {
  return { image, result, mask: maskSnapshot() };
}

function showDocument(state) {
  forgetRequest();
  showImage(state.image, state.mask);
  showResult(state.result);
  releaseUnused();
}

// The image (and result) replaced by `after`, as one history step.
function replaceDocument(after, bytes) {
  const before = documentState();
  showDocument(after);
  const shown = (s) => [s.image && s.image.url, s.result && s.result.url, s.result && s.result.beforeUrl];
  history.push({ undo: () => showDocument(before), redo: () => showDocument(after),
                 bytes: bytes + (before.mask ? before.mask.data.data.length : 0),
                 urls: [...shown(before), ...shown(after)].filter(Boolean) });
  releaseUnused();
}

// Work that would need Undo to get back if the image were replaced now.
function unsavedWork() {
  const parts = [];
  if (result && !result.saved) parts.push("a result that is not downloaded");
  if (maskCount > 0) parts.push("a painted area");
  return parts.join(" and ");
}

// ------------------------------------------------------------------ pointers
function showCursor(ev) {
  if (!image || mode === "pan" || mode === "pinch" || spaceDown || (ev.pointerType === "touch" && mode !== "paint")) {
    cursor.hidden = true;
    return;
  }
  const p = view.local(ev.clientX, ev.clientY), d = brushScreen();
  cursor.style.width = cursor.style.height = `${d}px`;
  cursor.style.transform = `translate(${p.x - d / 2}px, ${p.y - d / 2}px)`;
  cursor.hidden = false;
}

function fingers() {
  const [a, b] = [...pointers.values()];
  return { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, mid: view.local((a.x + b.x) / 2, (a.y + b.y) / 2) };
}

function startPinch() {
  pinch = { ...fingers(), s: view.s, tx: view.tx, ty: view.ty };
  mode = "pinch";
  cursor.hidden = true;
}

function movePinch() {
  // the image point that was under the fingers' midpoint stays under it
  const now = fingers();
  view.zoomTo(now.mid, pinch.s * now.d / pinch.d, pinch);
}

viewport.addEventListener("pointerdown", (ev) => {
  if (!image) return;
  viewport.focus({ preventScroll: true, focusVisible: false });  // for space+drag after a toolbar click
  pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
  try { viewport.setPointerCapture(ev.pointerId); } catch (e) { /* a synthetic pointer */ }
  if (pointers.size === 2) {
    if (mode === "paint") cancelStroke();
    if (mode === "paint" || mode === "wait" || mode === null) startPinch();
    return;
  }
  if (pointers.size > 2 || mode !== null) return;
  if (ev.button === 1 || (ev.button === 0 && spaceDown)) {
    ev.preventDefault();
    mode = "pan";
    panLast = { x: ev.clientX, y: ev.clientY };
    viewport.classList.add("panning");
    cursor.hidden = true;
  } else if (ev.button === 0) {
    mode = "paint";
    beginStroke(ev);
    showCursor(ev);
  }
});

viewport.addEventListener("pointermove", (ev) => {
  if (pointers.has(ev.pointerId)) pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
  if (mode === "paint" && stroke) {
    const events = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [];
    for (const e of events.length ? events : [ev]) segment(stroke.last, view.toImage(e.clientX, e.clientY));
  } else if (mode === "pan" && panLast) {
    view.panBy(ev.clientX - panLast.x, ev.clientY - panLast.y);
    panLast = { x: ev.clientX, y: ev.clientY };
  } else if (mode === "pinch" && pointers.size === 2) {
    movePinch();
  }
  showCursor(ev);
});

function pointerEnd(ev) {
  if (!pointers.has(ev.pointerId)) return;
  pointers.delete(ev.pointerId);
  if (mode === "paint") {
    if (ev.type === "pointercancel") cancelStroke(); else endStroke();
    mode = null;
  } else if (mode === "pan") {
    mode = null;
    viewport.classList.remove("panning");
  } else if (mode === "pinch" || mode === "wait") {
    mode = pointers.size ? "wait" : null;  // the finger left down does not start painting
  }
  if (ev.pointerType === "touch") cursor.hidden = true;
}
viewport.addEventListener("pointerup", pointerEnd);
viewport.addEventListener("pointercancel", pointerEnd);
viewport.addEventListener("pointerleave", (ev) => { if (!pointers.has(ev.pointerId)) cursor.hidden = true; });
viewport.addEventListener("mousedown", (ev) => { if (ev.button === 1) ev.preventDefault(); });  // no autoscroll
viewport.addEventListener("contextmenu", (ev) => { if (image) ev.preventDefault(); });
viewport.addEventListener("wheel", (ev) => {
  if (!image) return;
  ev.preventDefault();
  const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? viewport.clientHeight : 1;
  if (!ev.ctrlKey && Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {  // a trackpad's sideways swipe pans
    view.panBy(-ev.deltaX * unit, 0);
    return;
  }
  view.zoomAt(ev.clientX, ev.clientY, view.s * Math.exp(-ev.deltaY * unit * (ev.ctrlKey ? 0.01 : 0.0015)));
  showCursor(ev);
}, { passive: false });

// ------------------------------------------------------------------ keyboard
function typingIn(target) {
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && !["range", "file", "button", "checkbox", "radio"].includes(target.type);
}

document.addEventListener("keydown", (ev) => {
  if (typingIn(ev.target) || replaceDialog.open) return;
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  if ((ev.ctrlKey || ev.metaKey) && !ev.altKey) {
    if (key === "z") { ev.preventDefault(); if (ev.shiftKey) redo(); else undo(); }
    else if (key === "y") { ev.preventDefault(); redo(); }
    return;
  }
  if (ev.altKey || !image) return;
  const onControl = ["BUTTON", "A", "INPUT"].includes(ev.target.tagName);
  if (key === " " && !onControl) {
    ev.preventDefault();  // no page scroll: space held = pan
    spaceDown = true;
    viewport.classList.add("space");
    cursor.hidden = true;
  } else if (key === "[" || key === "]") {
    const v = Number(size.value) * (key === "]" ? 1.25 : 0.8);
    size.value = String(Math.round(key === "]" ? Math.max(v, Number(size.value) + 1) : Math.min(v, Number(size.value) - 1)));
    sizeChanged();
  } else if ((key === "+" || key === "=") && !onControl) view.zoomCenter(1.25);
  else if (key === "-" && !onControl) view.zoomCenter(0.8);
  else if (key === "0" && !onControl) view.fitView();
  else if (key === "e" && !onControl) toggleEraser();
});
document.addEventListener("keyup", (ev) => {
  if (ev.key === " ") { spaceDown = false; viewport.classList.remove("space"); }
});
window.addEventListener("blur", () => { spaceDown = false; viewport.classList.remove("space"); });

// ------------------------------------------------------------------ tools
function sizeChanged() {
  sizeValue.textContent = size.value;
  cursor.style.width = cursor.style.height = `${brushScreen()}px`;
}
size.addEventListener("input", sizeChanged);
function toggleEraser() {
  erasing = !erasing;
  eraserBtn.setAttribute("aria-pressed", String(erasing));
}
eraserBtn.addEventListener("click", toggleEraser);
undoBtn.addEventListener("click", undo);
redoBtn.addEventListener("click", redo);
clearBtn.addEventListener("click", clearMask);
zoomInBtn.addEventListener("click", () => view.zoomCenter(1.5));
zoomOutBtn.addEventListener("click", () => view.zoomCenter(1 / 1.5));
fitBtn.addEventListener("click", () => view.fitView());
growInput.addEventListener("change", () => { growInput.value = String(growBy()); });
window.addEventListener("resize", () => view.resized());
window.addEventListener("beforeunload", (ev) => { if (unsavedWork()) ev.preventDefault(); });

// ------------------------------------------------------------------ opening an image
const health = fetch("api/v1/health").then((r) => r.json()).then((j) => {
  maxUploadMb = typeof j.max_upload_mb === "number" ? j.max_upload_mb : null;
}).catch(() => { /* the server will say 413 itself */ });

function forgetRequest() {  // the request in flight is for another image: its answer is dropped
  requestSeq++;
  if (controller) controller.abort();
  controller = null;
  busy = false;
  clearInterval(timer);
  progress.hidden = true;
}

// Any size of file loads: only a crop around the painted area is ever uploaded. Until it has
// decoded, nothing on the page changes: a file that is not an image leaves the work as it
// was. Replacing unsaved work asks first.
async function loadFile(file) {
  const seq = ++loadSeq;
  const refuse = (why) => { if (seq === loadSeq) say(`${file.name} ${why}. Nothing was changed.`, true); };
  if (file.size === 0) return refuse("is empty (0 bytes): choose an image file");
  say(`Reading ${file.name}…`);
  let bmp;
  try {
    // The file's own pixel values, as the server reads them (no colour profile applied):
    // what is sent, and every pixel the result keeps, is exactly the file's.
    bmp = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none" });
  } catch (e) {
    return refuse("is not an image this browser can read: choose a JPEG, PNG, WebP, GIF or BMP file");
  }
  const unsaved = seq === loadSeq && unsavedWork();
  const declined = unsaved && !await ask(`Open ${file.name} in place of ${image.name}? You have ${unsaved}. ` +
                                         "Undo brings it back.");
  if (declined && seq === loadSeq) say(`Kept ${image.name}; ${file.name} was not opened.`);
  if (declined || seq !== loadSeq) { bmp.close(); return; }
  const img = { name: file.name, w: bmp.width, h: bmp.height, url: track(URL.createObjectURL(file)), pixels: bmp };
  replaceDocument({ image: img, result: null, mask: null }, 4 * img.w * img.h);
  say(`${file.name}: ${img.w}×${img.h} px. Paint over the part to remove, then Inpaint.` +
      (img.w * img.h > 4e6 ? " Zoom in (wheel or pinch) to paint precisely." : ""));
}

// The question before unsaved work is replaced: true when the user chose Replace.
function ask(text) {
  replaceText.textContent = text;
  replaceDialog.returnValue = "";
  replaceDialog.showModal();
  return new Promise((resolve) => {
    replaceDialog.addEventListener("close", () => resolve(replaceDialog.returnValue === "replace"), { once: true });
  });
}

fileInput.addEventListener("change", () => {
  const file = fileInput.files && fileInput.files[0];
  fileInput.value = "";  // choosing the same file again is a change too
  if (file) loadFile(file);
});

// ------------------------------------------------------------------ Inpaint
// The answer for the crop: its hole pixels pasted over the crop of the image, into a
// full-size copy of the image; every other pixel stays the image's own.
async function paste(answer, crop, hole, pixels, from) {
  const bmp = await createImageBitmap(answer, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  if (bmp.width !== crop.w || bmp.height !== crop.h) {
    bmp.close();
    throw new Error(`the server answered with a ${bmp.width}×${bmp.height} image for a ${crop.w}×${crop.h} crop`);
  }
  const c = document.createElement("canvas");
  c.width = crop.w; c.height = crop.h;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const filled = ctx.getImageData(0, 0, crop.w, crop.h).data, out = pixels.data;
  for (let j = 0; j < hole.h; j++) {  // the hole's rectangle lies inside the crop
    const o0 = 4 * ((hole.y - crop.y + j) * crop.w + (hole.x - crop.x));
    for (let i = 0, o = o0; i < hole.w; i++, o += 4) {
      if (hole.data[j * hole.w + i]) {
        out[o] = filled[o]; out[o + 1] = filled[o + 1]; out[o + 2] = filled[o + 2]; out[o + 3] = 255;
      }
    }
  }
  const full = document.createElement("canvas");
  full.width = from.w; full.height = from.h;
  const fctx = full.getContext("2d");
  fctx.drawImage(from.pixels, 0, 0);
  fctx.putImageData(pixels, crop.x, crop.y);
  return full;
}

// The hole Inpaint fills: the painted area grown by the Grow setting (null: nothing painted).
function currentHole(grow = growBy()) {
  const area = paintedArea(pctx, image.w, image.h);
  return area.painted ? grownHole(area, grow) : null;
}

function startProgress() {  // the progress bar and its elapsed seconds; returns the start time
  const t0 = performance.now();
  const tick = () => { elapsed.textContent = `${((performance.now() - t0) / 1000).toFixed(1)} s`; };
  tick();
  timer = setInterval(tick, 100);
  progress.hidden = false;
  return t0;
}

// The form Inpaint posts: the crop's pixels and its mask as PNGs, and the fill style. Null,
// having said why, when either is over the server's upload limit; null too when `stale()`
// says the request was given up meanwhile.
async function uploadForm(crop, hole, pixels, stale) {
  const [imageBlob, maskBlob] = await Promise.all([imagePng(pixels), maskPng(crop.w, crop.h, maskRows(hole, crop))]);
  await health;  // the upload limit (checked on what is sent)
  if (stale()) return null;
  const biggest = Math.max(imageBlob.size, maskBlob.size);
  if (maxUploadMb !== null && biggest > maxUploadMb * MB) {
    say(`The part around the painted area (${crop.w}×${crop.h} px) is ${mb(biggest)} MB as PNG, over the ` +
        `server's ${maxUploadMb} MB upload limit: inpaint a smaller area at a time, or restart ` +
        "odinpaint serve with a larger --max-upload-mb.", true);
    return null;
  }
  const form = new FormData();
  form.append("image", imageBlob, "image.png");
  form.append("mask", maskBlob, "mask.png");
  form.append("style", $("style").value);
  return form;
}

async function inpaint() {
  if (busy || !image) return;
  busy = true;  // before any await: a second click finds the button disabled and busy set
  updateButtons();
  const id = ++requestSeq, current = image, grow = growBy();
  try {
    endStroke();
    const hole = currentHole(grow);
    if (!hole) {
      say("Nothing is painted yet: paint over the part to remove first, then Inpaint.", true);
      return;
    }
    const t0 = startProgress();  // from the click on: cutting and encoding the crop takes a moment too
    const crop = cropRect(hole, current.w, current.h);
    say(`Inpainting ${current.name} (${current.w}×${current.h}, sending the ${crop.w}×${crop.h} px around the painted area)…`);
    const pixels = phctx.getImageData(crop.x, crop.y, crop.w, crop.h);
    const form = await uploadForm(crop, hole, pixels, () => id !== requestSeq);
    if (!form) return;
    controller = new AbortController();
    const res = await fetch("api/v1/inpaint", { method: "POST", body: form, signal: controller.signal });
    if (id !== requestSeq) return;
    if (!res.ok) {
      const text = await errorText(res);
      if (id === requestSeq) say(`Inpaint failed (HTTP ${res.status}): ${text}`, true);
      return;
    }
    const answer = await res.blob();
    if (id !== requestSeq) return;
    let canvas;
    try {
      canvas = await paste(answer, crop, hole, pixels, current);
    } catch (e) {
      if (id === requestSeq) say(`Inpaint failed: ${e && e.message ? e.message : e}.`, true);
      return;
    }
    const png = await canvasPng(canvas);  // the full-size result: shown, compared, downloaded
    if (id !== requestSeq) return;
    const seconds = (performance.now() - t0) / 1000;
    addResult({ blob: png, url: track(URL.createObjectURL(png)), beforeUrl: current.url, name: current.name,
                w: canvas.width, h: canvas.height, canvas, saved: false });
    say(`Done in ${seconds.toFixed(1)} s (the painted area grown by ${grow} px). Drag the compare ` +
        "slider or hold the button to see the original; download it, or continue editing from the result. " +
        "Undo takes the fill back.");
    await resultImg.decode().catch(() => {});
    if (id === requestSeq) bringIntoView();
  } catch (e) {
    if (id !== requestSeq || (e && e.name === "AbortError")) return;
    say(`Inpaint failed: the request did not complete (${e && e.message ? e.message : e}). Is odinpaint serve still running?`, true);
  } finally {
    if (id === requestSeq) {
      busy = false; controller = null;
      clearInterval(timer);
      progress.hidden = true;
      updateButtons();
    }
  }
}
inpaintBtn.addEventListener("click", inpaint);

// A new fill shown on the right, as a history step (Undo shows the one before, or none).
function addResult(res) {
  const before = result;
  showResult(res);
  const urlsOf = (r) => (r ? [r.url, r.beforeUrl] : []);
  history.push({ undo: () => showResult(before), redo: () => showResult(res),
                 bytes: 4 * res.w * res.h + res.blob.size, urls: [...urlsOf(before), ...urlsOf(res)] });
  releaseUnused();
}

// Stacked on a phone, the result is below the image: scroll it, with the compare slider and
// Download under it, into view.
function bringIntoView() {
  const top = compare.getBoundingClientRect().top, bottom = resultTools.getBoundingClientRect().bottom;
  if (top < 0 || bottom > window.innerHeight) compare.scrollIntoView({ block: "start", behavior: "instant" });
}

// ------------------------------------------------------------------ the result: compare, download, continue
function stem(name) { return (name || "image").replace(/\.[^.]*$/, "") || "image"; }

function showCompare(pct) {  // the original left of the line, the result right of it
  beforeImg.style.clipPath = `inset(0 ${100 - pct}% 0 0)`;
  divider.style.left = `${pct}%`;
  divider.style.display = pct > 0 && pct < 100 ? "block" : "none";
}
comparePos.addEventListener("input", () => showCompare(Number(comparePos.value)));

let comparing = null;
compare.addEventListener("pointerdown", (ev) => {
  if (ev.button !== 0) return;
  comparing = ev.pointerId;
  try { compare.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic */ }
  dragCompare(ev);
});
compare.addEventListener("pointermove", (ev) => { if (comparing === ev.pointerId) dragCompare(ev); });
for (const t of ["pointerup", "pointercancel"]) compare.addEventListener(t, () => { comparing = null; });
function dragCompare(ev) {
  const r = compare.getBoundingClientRect();
  const pct = Math.round(Math.min(100, Math.max(0, (ev.clientX - r.left) / r.width * 100)));
  comparePos.value = String(pct);
  showCompare(pct);
}

const holdOn = () => { showCompare(100); holdBtn.setAttribute("aria-pressed", "true"); };
const holdOff = () => { showCompare(Number(comparePos.value)); holdBtn.setAttribute("aria-pressed", "false"); };
holdBtn.addEventListener("pointerdown", holdOn);
for (const t of ["pointerup", "pointerleave", "pointercancel", "blur"]) holdBtn.addEventListener(t, holdOff);
holdBtn.addEventListener("keydown", (ev) => { if (ev.key === " " || ev.key === "Enter") holdOn(); });
holdBtn.addEventListener("keyup", holdOff);
holdBtn.addEventListener("contextmenu", (ev) => ev.preventDefault());
download.addEventListener("click", () => { if (result) result.saved = true; });

// The result becomes the image to paint on: its pixels straight from its canvas (no
// decoding, nothing uploaded); the compare view keeps showing it against its original.
continueBtn.addEventListener("click", () => {
  if (!result) return;
  ++loadSeq;
  const img = { name: `${stem(result.name)}-inpainted.png`, w: result.w, h: result.h, url: result.url,
                pixels: result.canvas };
  replaceDocument({ image: img, result, mask: null }, 0);  // the result's pixels are counted already
  say(`Editing the result (${img.w}×${img.h} px): paint over what else should go, then Inpaint. ` +
      "Undo goes back to the image before.");
});

// ------------------------------------------------------------------ for tests and scripts
async function dataUrl(blob) {
  return new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(blob); });
}

window.odinpaint = {
  view: () => view.state(),
  image: () => (image ? { name: image.name, w: image.w, h: image.h } : null),
  result: () => (result ? { name: result.name, w: result.w, h: result.h } : null),
  busy: () => busy,
  history: () => ({ undo: history.done.length, redo: history.undone.length }),
  painted: () => maskCount,
  // the mask Inpaint would send, over the whole image, as a data: URL of the PNG, and its
  // hole's pixel count; grow: px to grow the painted area by (default: the page's setting)
  mask: async (grow = growBy()) => {
    if (!image) return null;
    const hole = currentHole(grow), all = { x: 0, y: 0, w: image.w, h: image.h };
    const rows = hole ? maskRows(hole, all) : new Uint8Array((image.w + 1) * image.h);
    return { png: await dataUrl(await maskPng(image.w, image.h, rows)), painted: hole ? hole.count : 0 };
  },
  // the hole's box and the rectangle Inpaint would send (image px), or null when nothing is painted
  crop: () => {
    const hole = image && currentHole();
    return hole ? { box: { x: hole.x, y: hole.y, w: hole.w, h: hole.h }, crop: cropRect(hole, image.w, image.h) } : null;
  },
  toImage: (x, y) => view.toImage(x, y),
};

view.show(null);
updateButtons();
