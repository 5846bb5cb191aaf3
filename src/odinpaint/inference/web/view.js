// Zoom and pan: the photo and mask canvases sit at the image's own pixel size inside #stage,
// and a CSS transform (translate + scale) places them in the viewport. Client positions map
// back to image pixels, so a stroke lands on the same pixels at any zoom.
//
//     const view = new View(viewport, stage, zoomValue);
//     view.fitTo(4000, 3000);            // the whole image in sight, centred
//     view.zoomAt(ev.clientX, ev.clientY, view.s * 1.25);
//     const p = view.toImage(ev.clientX, ev.clientY);  // image px

const MAX_ZOOM = 32;  // screen px per image px
const KEEP = 40;  // px of the image kept in sight when panning

export class View {
  constructor(viewport, stage, label) {
    this.viewport = viewport; this.stage = stage; this.label = label;
    this.image = null;  // {w, h} of the image shown, or null
    this.s = 1; this.tx = 0; this.ty = 0; this.fit = 1; this.fitted = true;
  }

  minZoom() { return Math.min(this.fit / 4, 1); }

  size() { return { w: this.viewport.clientWidth, h: this.viewport.clientHeight }; }

  // The painting area takes the image's shape, within the window.
  sizeViewport() {
    const narrow = window.matchMedia("(max-width: 760px)").matches;
    const most = Math.max(220, window.innerHeight * (narrow ? 0.62 : 0.74));
    const aspect = this.image ? this.image.h / this.image.w : 0.75;
    const w = this.viewport.clientWidth;
    this.viewport.style.height = `${Math.round(Math.min(most, Math.max(200, w * aspect)))}px`;
  }

  apply() {
    this.stage.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.s})`;
    this.stage.classList.toggle("pixels", this.s >= 2);
    const pct = this.s * 100;
    this.label.textContent = this.image ? `${this.s >= 0.1 ? Math.round(pct) : pct.toFixed(1)}%` : "–";
  }

  // Show a w x h image (null: none), fitted.
  show(image) {
    this.image = image;
    this.sizeViewport();
    if (image) this.fitView(); else this.apply();
  }

  fitView() {
    if (!this.image) return;
    const { w, h } = this.size(), { w: iw, h: ih } = this.image;
    const s = Math.min(w / iw, h / ih);
    Object.assign(this, { s, fit: s, tx: (w - iw * s) / 2, ty: (h - ih * s) / 2, fitted: true });
    this.apply();
  }

  // After the window changed size: fitted stays fitted, anything else stays where it was.
  resized() {
    this.sizeViewport();
    if (!this.image) return;
    const { w, h } = this.size();
    this.fit = Math.min(w / this.image.w, h / this.image.h);
    if (this.fitted) this.fitView(); else this.panBy(0, 0);
  }

  clampPan() {
    const { w, h } = this.size();
    this.tx = Math.min(w - KEEP, Math.max(KEEP - this.image.w * this.s, this.tx));
    this.ty = Math.min(h - KEEP, Math.max(KEEP - this.image.h * this.s, this.ty));
  }

  panBy(dx, dy) {
    this.tx += dx; this.ty += dy;
    if (dx || dy) this.fitted = false;
    this.clampPan();
    this.apply();
  }

  local(clientX, clientY) {  // client position -> viewport position (CSS px)
    const r = this.viewport.getBoundingClientRect();
    return { x: clientX - r.left - this.viewport.clientLeft, y: clientY - r.top - this.viewport.clientTop };
  }

  toImage(clientX, clientY) {  // client position -> image pixel coordinates
    const p = this.local(clientX, clientY);
    return { x: (p.x - this.tx) / this.s, y: (p.y - this.ty) / this.s };
  }

  // Zoom to s, keeping the image point at viewport position p (or, with `from`, the point
  // that was there under the transform `from`) under p: zoom and pan at once.
  zoomTo(p, s, from = this) {
    if (!this.image) return;
    s = Math.min(MAX_ZOOM, Math.max(this.minZoom(), s));
    const ix = (from.mid ? from.mid.x : p.x) - from.tx, iy = (from.mid ? from.mid.y : p.y) - from.ty;
    this.tx = p.x - ix / from.s * s; this.ty = p.y - iy / from.s * s; this.s = s; this.fitted = false;
    this.clampPan();
    this.apply();
  }

  zoomAt(clientX, clientY, s) { this.zoomTo(this.local(clientX, clientY), s); }

  zoomCenter(factor) {
    const r = this.viewport.getBoundingClientRect();
    this.zoomAt(r.left + r.width / 2, r.top + r.height / 2, this.s * factor);
  }

  state() { return { s: this.s, tx: this.tx, ty: this.ty, fit: this.fit }; }
}
