// odinpaint's page: choose an image, paint the hole (zoom and pan for precision), Inpaint,
// compare, download, or go on editing the result. Plain JavaScript, no build step.
//
// The photo and the mask are two canvases at the image's own pixel size; a CSS transform
// (translate + scale) places them in the viewport. Pointer positions are mapped back to image
// pixels, so the mask sent to the server is exact at any zoom. The brush size is in screen
// pixels: zoomed in, a stroke covers fewer image pixels.
//
// Inpaint sends only a crop: the painted area's bounding box grown by a margin (CROP_MARGIN),
// cut out of the current image (a lossless PNG) and out of the mask. The answer's hole pixels
// are pasted into a full-size copy of the image, so every other pixel stays exactly the
// image's own and a 24 MP photo uploads a few MB, not the whole photo (or a 50 MB result).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const fileInput = $("file"), size = $("size"), sizeValue = $("size-value");
  const eraserBtn = $("eraser"), undoBtn = $("undo"), redoBtn = $("redo"), clearBtn = $("clear");
  const zoomInBtn = $("zoom-in"), zoomOutBtn = $("zoom-out"), zoomValue = $("zoom-value"), fitBtn = $("fit");
  const inpaintBtn = $("inpaint"), status = $("status"), progress = $("progress"), elapsed = $("elapsed");
  const viewport = $("viewport"), stage = $("stage"), photo = $("photo"), paint = $("paint");
  const cursor = $("cursor"), placeholder = $("placeholder");
  const compare = $("compare"), resultImg = $("result"), beforeImg = $("before"), divider = $("divider");
  const noResult = $("no-result"), resultTools = $("result-tools"), comparePos = $("compare-pos");
  const holdBtn = $("hold"), download = $("download"), continueBtn = $("continue");

  const pctx = paint.getContext("2d");
  const resultCanvas = document.createElement("canvas");  // the full-size result
  const backup = document.createElement("canvas");  // the mask as of the last finished edit
  const bctx = backup.getContext("2d", { willReadFrequently: true });  // read for every undo patch
  const MB = 2 ** 20;
  const HISTORY_BYTES = 512 * MB;  // undo patches kept (oldest dropped beyond)
  const MAX_ZOOM = 32;  // screen px per image px
  const minZoom = () => Math.min(view.fit / 4, 1);
  // Context sent around the painted box, per side: more than the server's inpainter reads
  // (about 0.41 * L + 20 px for a box of longest side L).
  const CROP_MARGIN = (bw, bh) => Math.ceil(0.5 * Math.max(bw, bh)) + 64;

  let image = null;      // {name, w, h, url}: the image being painted on (its pixels: the photo canvas)
  let result = null;     // {blob, url, beforeUrl, name, w, h}: the last result (its pixels: resultCanvas)
  let view = { s: 1, tx: 0, ty: 0, fit: 1, fitted: true };
  let erasing = false, spaceDown = false;
  let undoStack = [], redoStack = [], historyBytes = 0;
  let stroke = null;     // the stroke being painted
  let mode = null;       // null | "paint" | "pan" | "pinch" | "wait" (fingers lifting after a pinch)
  const pointers = new Map();  // pointerId -> {x, y} client position
  let panLast = null, pinch = null;
  let busy = false, requestSeq = 0, controller = null, timer = null, loadSeq = 0;
  let maxUploadMb = null;
  const urls = new Set();

  // ------------------------------------------------------------------ messages
  function say(text, error = false) {
    status.textContent = text;
    status.classList.toggle("error", error);
  }

  function mb(bytes) {
    const v = bytes / MB;
    return v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);
  }

  // FastAPI's `detail` is a string for odinpaint's own errors and a list of objects for its
  // request validation errors ({loc, msg, type}): both become one line of text.
  function detailText(detail) {
    if (detail == null) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map(detailText).filter(Boolean).join("; ");
    if (typeof detail === "object") {
      if (typeof detail.msg === "string") {
        const where = Array.isArray(detail.loc) ? detail.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${detail.msg}` : detail.msg;
      }
      if ("detail" in detail) return detailText(detail.detail);
      return JSON.stringify(detail);
    }
    return String(detail);
  }

  async function errorText(res) {
    const body = await res.text().catch(() => "");
    try {
      const text = detailText(JSON.parse(body).detail);
      if (text) return text;
    } catch (e) { /* not JSON: use the text itself */ }
    const plain = body.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
    return plain ? plain.slice(0, 300) : (res.statusText || "no details");
  }

  // ------------------------------------------------------------------ object URLs
  function track(url) { urls.add(url); return url; }
  function releaseUnused() {  // revoke the object URLs that nothing shows any more
    const live = new Set([image && image.url, result && result.url, result && result.beforeUrl]);
    for (const u of urls) if (!live.has(u)) { URL.revokeObjectURL(u); urls.delete(u); }
  }

  // ------------------------------------------------------------------ buttons
  function updateButtons() {
    const has = image !== null;
    inpaintBtn.disabled = !has || busy;
    inpaintBtn.setAttribute("aria-busy", busy ? "true" : "false");
    undoBtn.disabled = !has || undoStack.length === 0;
    redoBtn.disabled = !has || redoStack.length === 0;
    for (const b of [eraserBtn, clearBtn, zoomInBtn, zoomOutBtn, fitBtn]) b.disabled = !has;
  }

  // ------------------------------------------------------------------ view: zoom and pan
  function viewportSize() { return { w: viewport.clientWidth, h: viewport.clientHeight }; }

  function sizeViewport() {  // the painting area takes the image's shape, within the window
    const w = viewport.clientWidth;
    const narrow = window.matchMedia("(max-width: 760px)").matches;
    const most = Math.max(220, window.innerHeight * (narrow ? 0.62 : 0.74));
    const aspect = image ? image.h / image.w : 0.75;
    viewport.style.height = `${Math.round(Math.min(most, Math.max(200, w * aspect)))}px`;
  }

  function applyView() {
    stage.style.transform = `translate(${view.tx}px, ${view.ty}px) scale(${view.s})`;
    stage.classList.toggle("pixels", view.s >= 2);
    zoomValue.textContent = image ? `${view.s >= 0.1 ? Math.round(view.s * 100) : (view.s * 100).toFixed(1)}%` : "–";
    cursor.style.width = cursor.style.height = `${brushScreen()}px`;
  }

  function fitView() {
    if (!image) return;
    const { w, h } = viewportSize();
    const s = Math.min(w / image.w, h / image.h);
    view = { s, fit: s, tx: (w - image.w * s) / 2, ty: (h - image.h * s) / 2, fitted: true };
    applyView();
  }

  function clampPan() {  // keep some of the image in sight
    const { w, h } = viewportSize(), keep = 40;
    view.tx = Math.min(w - keep, Math.max(keep - image.w * view.s, view.tx));
    view.ty = Math.min(h - keep, Math.max(keep - image.h * view.s, view.ty));
  }

  function local(clientX, clientY) {  // client position -> viewport position (CSS px)
    const r = viewport.getBoundingClientRect();
    return { x: clientX - r.left - viewport.clientLeft, y: clientY - r.top - viewport.clientTop };
  }

  function zoomAt(clientX, clientY, s) {  // zoom to s keeping the image point under (clientX, clientY) still
    if (!image) return;
    s = Math.min(MAX_ZOOM, Math.max(minZoom(), s));
    const p = local(clientX, clientY);
    const ix = (p.x - view.tx) / view.s, iy = (p.y - view.ty) / view.s;
    view.s = s; view.tx = p.x - ix * s; view.ty = p.y - iy * s; view.fitted = false;
    clampPan();
    applyView();
  }

  function zoomCenter(factor) {
    const r = viewport.getBoundingClientRect();
    zoomAt(r.left + r.width / 2, r.top + r.height / 2, view.s * factor);
  }

  function toImage(clientX, clientY) {  // client position -> image pixel coordinates
    const p = local(clientX, clientY);
    return { x: (p.x - view.tx) / view.s, y: (p.y - view.ty) / view.s };
  }

  // ------------------------------------------------------------------ painting and history
  function brushImage() { return Math.max(1, Number(size.value) / view.s); }  // in image px
  function brushScreen() { return brushImage() * view.s; }

  function beginStroke(ev) {
    const p = toImage(ev.clientX, ev.clientY);
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
    if (r.w > 0 && r.h > 0) {
      const before = bctx.getImageData(r.x, r.y, r.w, r.h), after = pctx.getImageData(r.x, r.y, r.w, r.h);
      bctx.putImageData(after, r.x, r.y);
      record({ x: r.x, y: r.y, before, after });
    }
    stroke = null;
  }

  function cancelStroke() {  // a second finger came down: this was the start of a pinch, not a stroke
    if (!stroke) return;
    const r = strokeRect();
    if (r.w > 0 && r.h > 0) pctx.putImageData(bctx.getImageData(r.x, r.y, r.w, r.h), r.x, r.y);
    stroke = null;
  }

  function record(edit) {
    edit.bytes = edit.before.data.length + (edit.after ? edit.after.data.length : 0);
    undoStack.push(edit);
    historyBytes += edit.bytes;
    for (const e of redoStack) historyBytes -= e.bytes;
    redoStack = [];
    while (historyBytes > HISTORY_BYTES && undoStack.length > 1) historyBytes -= undoStack.shift().bytes;
    updateButtons();
  }

  function put(edit, data) {
    for (const ctx of [pctx, bctx]) {
      if (data) ctx.putImageData(data, edit.x, edit.y);
      else ctx.clearRect(edit.x, edit.y, edit.before.width, edit.before.height);
    }
  }

  function undo() {
    if (!image || stroke || !undoStack.length) return;
    const e = undoStack.pop();
    put(e, e.before);
    redoStack.push(e);
    updateButtons();
  }

  function redo() {
    if (!image || stroke || !redoStack.length) return;
    const e = redoStack.pop();
    put(e, e.after);
    undoStack.push(e);
    updateButtons();
  }

  function clearMask() {
    if (!image) return;
    endStroke();
    const before = bctx.getImageData(0, 0, image.w, image.h);
    if (!new Uint32Array(before.data.buffer).some((v) => v !== 0)) return;  // nothing painted
    pctx.clearRect(0, 0, image.w, image.h);
    bctx.clearRect(0, 0, image.w, image.h);
    record({ x: 0, y: 0, before, after: null });
  }

  // The painted pixels: the mask canvas's alpha (one 32-bit word per pixel), their count and
  // their bounding box in image pixels (null when nothing is painted).
  function paintedArea() {
    const { w, h } = image;
    const alpha = new Uint32Array(pctx.getImageData(0, 0, w, h).data.buffer);
    let x0 = w, x1 = -1, y0 = -1, y1 = -1, painted = 0;
    for (let y = 0, i = 0; y < h; y++) {
      const before = painted;
      for (let x = 0; x < w; x++, i++) {
        // alpha is the high byte on every little-endian machine a browser runs on
        if (alpha[i] >>> 24) {
          painted++;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
        }
      }
      if (painted > before) { if (y0 < 0) y0 = y; y1 = y; }
    }
    return { alpha, painted, box: painted ? { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 } : null };
  }

  // The rectangle sent for a painted box: the box grown by CROP_MARGIN on every side, in the image.
  function cropRect(box) {
    const m = CROP_MARGIN(box.w, box.h);
    const x = Math.max(0, box.x - m), y = Math.max(0, box.y - m);
    return { x, y, w: Math.min(image.w, box.x + box.w + m) - x, h: Math.min(image.h, box.y + box.h + m) - y };
  }

  // The mask the server gets for rectangle r: white (255) where painted, black (0) elsewhere,
  // as the rows of an 8-bit grey PNG (each row led by its filter byte, 0).
  function maskRows(alpha, r) {
    const rows = new Uint8Array((r.w + 1) * r.h);
    for (let y = 0, o = 0; y < r.h; y++) {
      o++;  // filter byte 0: none
      for (let x = 0, i = (r.y + y) * image.w + r.x; x < r.w; x++, i++, o++) if (alpha[i] >>> 24) rows[o] = 255;
    }
    return rows;
  }

  const CRC = new Uint32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });

  function chunk(type, data) {
    const out = new Uint8Array(12 + data.length), dv = new DataView(out.buffer);
    dv.setUint32(0, data.length);
    for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
    out.set(data, 8);
    let c = 0xffffffff;
    for (let i = 4; i < 8 + data.length; i++) c = CRC[(c ^ out[i]) & 0xff] ^ (c >>> 8);
    dv.setUint32(8 + data.length, (c ^ 0xffffffff) >>> 0);
    return out;
  }

  // PNG written here (zlib from the browser's CompressionStream): a canvas's toBlob can wait
  // up to a second for the page to be idle, and a 24 MP RGBA mask is 4x the bytes of a grey one.
  // rows: each row led by its filter byte; colour: 0 grey, 2 RGB, 6 RGBA (8 bits a sample).
  async function pngBlob(w, h, colour, rows) {
    const ihdr = new Uint8Array(13), dv = new DataView(ihdr.buffer);
    dv.setUint32(0, w); dv.setUint32(4, h);
    ihdr.set([8, colour, 0, 0, 0], 8);  // 8-bit samples, deflate, filters per row, no interlace
    const idat = new Uint8Array(await new Response(new Blob([rows]).stream()
      .pipeThrough(new CompressionStream("deflate"))).arrayBuffer());
    const signature = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
    return new Blob([signature, chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))],
                    { type: "image/png" });
  }

  function canvasPng(c) {
    return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error("cannot encode a PNG"))), "image/png"));
  }

  async function maskBlob(w, h, rows) {
    if (typeof CompressionStream === "function") return pngBlob(w, h, 0, rows);
    const c = document.createElement("canvas");
    c.width = w; c.height = h;
    const ctx = c.getContext("2d"), data = ctx.createImageData(w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = rows[y * (w + 1) + 1 + x], i = 4 * (y * w + x);
        data.data[i] = data.data[i + 1] = data.data[i + 2] = v; data.data[i + 3] = 255;
      }
    }
    ctx.putImageData(data, 0, 0);
    return canvasPng(c);
  }

  // The image crop as a lossless PNG: RGB (RGBA when any pixel is not opaque), each row with
  // the Sub filter (each byte minus the one a pixel to its left), which deflate packs well.
  async function imageBlob(data) {
    const { width: w, height: h } = data, px = data.data;
    if (typeof CompressionStream !== "function") {
      const c = document.createElement("canvas");
      c.width = w; c.height = h;
      c.getContext("2d").putImageData(data, 0, 0);
      return canvasPng(c);
    }
    let opaque = true;
    for (let i = 3; i < px.length; i += 4) if (px[i] !== 255) { opaque = false; break; }
    const bpp = opaque ? 3 : 4, rows = new Uint8Array((w * bpp + 1) * h);
    for (let y = 0, i = 0, o = 0; y < h; y++) {
      rows[o++] = 1;  // filter: Sub
      let r = 0, g = 0, b = 0, a = 0;
      for (let x = 0; x < w; x++, i += 4) {
        rows[o++] = px[i] - r; rows[o++] = px[i + 1] - g; rows[o++] = px[i + 2] - b;
        r = px[i]; g = px[i + 1]; b = px[i + 2];
        if (!opaque) { rows[o++] = px[i + 3] - a; a = px[i + 3]; }
      }
    }
    return pngBlob(w, h, opaque ? 2 : 6, rows);
  }

  // ------------------------------------------------------------------ pointers
  function showCursor(ev) {
    if (!image || mode === "pan" || mode === "pinch" || spaceDown || (ev.pointerType === "touch" && mode !== "paint")) {
      cursor.hidden = true;
      return;
    }
    const p = local(ev.clientX, ev.clientY), d = brushScreen();
    cursor.style.width = cursor.style.height = `${d}px`;
    cursor.style.transform = `translate(${p.x - d / 2}px, ${p.y - d / 2}px)`;
    cursor.hidden = false;
  }

  function startPinch() {
    const [a, b] = [...pointers.values()];
    pinch = { d: Math.hypot(a.x - b.x, a.y - b.y) || 1, mid: local((a.x + b.x) / 2, (a.y + b.y) / 2),
              s: view.s, tx: view.tx, ty: view.ty };
    mode = "pinch";
    cursor.hidden = true;
  }

  function movePinch() {
    const [a, b] = [...pointers.values()];
    const d = Math.hypot(a.x - b.x, a.y - b.y) || 1, mid = local((a.x + b.x) / 2, (a.y + b.y) / 2);
    const s = Math.min(MAX_ZOOM, Math.max(minZoom(), pinch.s * d / pinch.d));
    // the image point that was under the fingers' midpoint stays under it: zoom and pan at once
    const ix = (pinch.mid.x - pinch.tx) / pinch.s, iy = (pinch.mid.y - pinch.ty) / pinch.s;
    view.s = s; view.tx = mid.x - ix * s; view.ty = mid.y - iy * s; view.fitted = false;
    clampPan();
    applyView();
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
      for (const e of events.length ? events : [ev]) segment(stroke.last, toImage(e.clientX, e.clientY));
    } else if (mode === "pan" && panLast) {
      view.tx += ev.clientX - panLast.x; view.ty += ev.clientY - panLast.y; view.fitted = false;
      panLast = { x: ev.clientX, y: ev.clientY };
      clampPan();
      applyView();
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
      view.tx -= ev.deltaX * unit; view.fitted = false;
      clampPan();
      applyView();
      return;
    }
    zoomAt(ev.clientX, ev.clientY, view.s * Math.exp(-ev.deltaY * unit * (ev.ctrlKey ? 0.01 : 0.0015)));
    showCursor(ev);
  }, { passive: false });

  // ------------------------------------------------------------------ keyboard
  function typingIn(target) {
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !["range", "file", "button", "checkbox", "radio"].includes(target.type);
  }

  document.addEventListener("keydown", (ev) => {
    if (typingIn(ev.target)) return;
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
    } else if ((key === "+" || key === "=") && !onControl) zoomCenter(1.25);
    else if (key === "-" && !onControl) zoomCenter(0.8);
    else if (key === "0" && !onControl) fitView();
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
  zoomInBtn.addEventListener("click", () => zoomCenter(1.5));
  zoomOutBtn.addEventListener("click", () => zoomCenter(1 / 1.5));
  fitBtn.addEventListener("click", fitView);
  window.addEventListener("resize", () => {
    if (!image) { sizeViewport(); return; }
    const fitted = view.fitted;
    sizeViewport();
    const { w, h } = viewportSize();
    view.fit = Math.min(w / image.w, h / image.h);
    if (fitted) fitView(); else { clampPan(); applyView(); }
  });

  // ------------------------------------------------------------------ the image
  const health = fetch("api/v1/health").then((r) => r.json()).then((j) => {
    maxUploadMb = typeof j.max_upload_mb === "number" ? j.max_upload_mb : null;
  }).catch(() => { /* the server will say 413 itself */ });

  function clearImage() {
    image = null;
    for (const c of [photo, paint, backup]) { c.width = 0; c.height = 0; }
    undoStack = []; redoStack = []; historyBytes = 0; stroke = null; mode = null; pointers.clear();
    stage.hidden = true; placeholder.hidden = false; cursor.hidden = true;
    viewport.classList.remove("ready", "panning");
    zoomValue.textContent = "–";
    updateButtons();
  }

  function clearResult() {
    result = null;
    resultCanvas.width = 0; resultCanvas.height = 0;
    compare.hidden = true; resultTools.hidden = true; noResult.hidden = false;
    resultImg.removeAttribute("src"); beforeImg.removeAttribute("src");
    download.removeAttribute("href");
    comparePos.value = "0";
    showCompare(0);
  }

  function stopRequest() {  // forget the request in flight: its answer is for another image
    requestSeq++;
    if (controller) controller.abort();
    controller = null;
    busy = false;
    clearInterval(timer);
    progress.hidden = true;
  }

  // The image to paint on, from a decoded bitmap or a canvas (the result being edited further).
  function setImage(source, name, url) {
    const w = source.width, h = source.height;
    for (const c of [photo, paint, backup]) { c.width = w; c.height = h; }
    photo.getContext("2d").drawImage(source, 0, 0);
    image = { name, w, h, url };
    stage.style.width = `${w}px`; stage.style.height = `${h}px`;
    stage.hidden = false; placeholder.hidden = true;
    viewport.classList.add("ready");
    sizeViewport();
    fitView();
    updateButtons();
  }

  // Any size of file loads: only a crop around the painted area is ever uploaded.
  async function loadFile(file) {
    const seq = ++loadSeq;
    stopRequest();
    clearImage();
    clearResult();
    releaseUnused();
    if (file.size === 0) {
      say(`${file.name} is empty (0 bytes): choose an image file.`, true);
      fileInput.value = "";
      return;
    }
    say(`Reading ${file.name}…`);
    let bmp;
    try {
      // The file's own pixel values, as the server reads them (no colour profile applied):
      // what is sent, and every pixel the result keeps, is exactly the file's.
      bmp = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none" });
    } catch (e) {
      if (seq !== loadSeq) return;
      say(`${file.name} is not an image this browser can read: choose a JPEG, PNG, WebP, GIF or BMP file.`, true);
      fileInput.value = "";
      return;
    }
    if (seq !== loadSeq) { bmp.close(); return; }
    setImage(bmp, file.name, track(URL.createObjectURL(file)));
    bmp.close();
    say(`${file.name}: ${image.w}×${image.h} px. Paint over the part to remove, then Inpaint.` +
        (image.w * image.h > 4e6 ? " Zoom in (wheel or pinch) to paint precisely." : ""));
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    if (file) loadFile(file);
  });

  // ------------------------------------------------------------------ Inpaint
  // The answer for the crop: its hole pixels pasted over the crop of the image, into a
  // full-size copy of the image (resultCanvas); every other pixel stays the image's own.
  async function paste(answer, crop, area, pixels) {
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
    for (let y = 0; y < crop.h; y++) {
      for (let x = 0, i = (crop.y + y) * image.w + crop.x, o = 4 * y * crop.w; x < crop.w; x++, i++, o += 4) {
        if (area.alpha[i] >>> 24) {
          out[o] = filled[o]; out[o + 1] = filled[o + 1]; out[o + 2] = filled[o + 2]; out[o + 3] = 255;
        }
      }
    }
    resultCanvas.width = image.w; resultCanvas.height = image.h;
    const rctx = resultCanvas.getContext("2d");
    rctx.drawImage(photo, 0, 0);
    rctx.putImageData(pixels, crop.x, crop.y);
  }

  async function inpaint() {
    if (busy || !image) return;
    busy = true;  // before any await: a second click finds the button disabled and busy set
    updateButtons();
    const id = ++requestSeq, current = image;
    const done = () => {
      if (id !== requestSeq) return;
      busy = false; controller = null;
      clearInterval(timer);
      progress.hidden = true;
      updateButtons();
    };
    try {
      endStroke();
      const area = paintedArea();
      if (!area.painted) {
        say("Nothing is painted yet: paint over the part to remove first, then Inpaint.", true);
        return;
      }
      // progress from the click on (cutting and encoding the crop takes a moment too)
      const t0 = performance.now();
      const tick = () => { elapsed.textContent = `${((performance.now() - t0) / 1000).toFixed(1)} s`; };
      tick();
      timer = setInterval(tick, 100);
      progress.hidden = false;
      const crop = cropRect(area.box);
      say(`Inpainting ${current.name} (${current.w}×${current.h}, sending the ${crop.w}×${crop.h} px around the painted area)…`);
      const pixels = photo.getContext("2d").getImageData(crop.x, crop.y, crop.w, crop.h);
      const [imagePng, maskPng] = await Promise.all([imageBlob(pixels), maskBlob(crop.w, crop.h, maskRows(area.alpha, crop))]);
      await health;  // the upload limit (checked on what is sent)
      if (id !== requestSeq) return;
      const biggest = Math.max(imagePng.size, maskPng.size);
      if (maxUploadMb !== null && biggest > maxUploadMb * MB) {
        say(`The part around the painted area (${crop.w}×${crop.h} px) is ${mb(biggest)} MB as PNG, over the ` +
            `server's ${maxUploadMb} MB upload limit: inpaint a smaller area at a time, or restart ` +
            "odinpaint serve with a larger --max-upload-mb.", true);
        return;
      }
      const form = new FormData();
      form.append("image", imagePng, "image.png");
      form.append("mask", maskPng, "mask.png");
      form.append("style", $("style").value);
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
      try {
        await paste(answer, crop, area, pixels);
      } catch (e) {
        if (id === requestSeq) say(`Inpaint failed: ${e && e.message ? e.message : e}.`, true);
        return;
      }
      if (id !== requestSeq) return;
      const png = await canvasPng(resultCanvas);  // the full-size result: shown, compared, downloaded
      if (id !== requestSeq) return;
      const seconds = (performance.now() - t0) / 1000;
      showResult(png, current);
      say(`Done in ${seconds.toFixed(1)} s. Drag the compare slider or hold the button to see the original; ` +
          "download it, or continue editing from the result.");
    } catch (e) {
      if (id !== requestSeq || (e && e.name === "AbortError")) return;
      say(`Inpaint failed: the request did not complete (${e && e.message ? e.message : e}). Is odinpaint serve still running?`, true);
    } finally {
      done();
    }
  }
  inpaintBtn.addEventListener("click", inpaint);

  // ------------------------------------------------------------------ the result: compare, download, continue
  function stem(name) { return (name || "image").replace(/\.[^.]*$/, "") || "image"; }

  function showResult(blob, from) {
    result = { blob, url: track(URL.createObjectURL(blob)), beforeUrl: from.url, name: from.name,
               w: resultCanvas.width, h: resultCanvas.height };
    resultImg.src = result.url;
    beforeImg.src = result.beforeUrl;
    download.href = result.url;
    download.download = `${stem(from.name)}-inpainted.png`;
    comparePos.value = "0";
    showCompare(0);
    compare.hidden = false; resultTools.hidden = false; noResult.hidden = true;
    continueBtn.hidden = false;
    releaseUnused();
    // stacked on a phone, the result is below the image: bring it into view
    const r = compare.getBoundingClientRect();
    if (r.top > window.innerHeight - 80) compare.scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

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

  // The result becomes the image to paint on: its pixels straight from resultCanvas (no
  // decoding, nothing uploaded); the compare view keeps showing it against its original.
  continueBtn.addEventListener("click", () => {
    if (!result) return;
    ++loadSeq;
    stopRequest();
    clearImage();
    setImage(resultCanvas, `${stem(result.name)}-inpainted.png`, result.url);
    fileInput.value = "";
    continueBtn.hidden = true;  // the result is now the image on the left
    say(`Editing the result (${image.w}×${image.h} px): paint over what else should go, then Inpaint.`);
  });

  // ------------------------------------------------------------------ for tests and scripts
  window.odinpaint = {
    view: () => ({ s: view.s, tx: view.tx, ty: view.ty, fit: view.fit }),
    image: () => (image ? { name: image.name, w: image.w, h: image.h } : null),
    busy: () => busy,
    history: () => ({ undo: undoStack.length, redo: redoStack.length }),
    // the mask the Inpaint button would send, as a data: URL of the PNG, and its painted pixel count
    mask: async () => {
      if (!image) return null;
      const a = paintedArea(), all = { x: 0, y: 0, w: image.w, h: image.h };
      const blob = await maskBlob(image.w, image.h, maskRows(a.alpha, all));
      const url = await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(blob); });
      return { png: url, painted: a.painted };
    },
    // the rectangle Inpaint would send (image px), or null when nothing is painted
    crop: () => {
      if (!image) return null;
      const a = paintedArea();
      return a.box ? { box: a.box, crop: cropRect(a.box) } : null;
    },
    toImage: (x, y) => toImage(x, y),
  };

  sizeViewport();
  updateButtons();
})();
