// The hole a user paints, from the mask canvas's alpha, to what the page sends: the painted
// pixels grown by a few pixels (a square of side 2r + 1 around each, as `fill --dilate r`
// does), and the crop of the image around them.
//
// A hole is {x, y, w, h, data, count}: a rectangle of the image and one byte per pixel in it
// (1 = hole), and how many are 1.

// Context sent around the hole, per side: more than the server's inpainter reads (about
// 0.41 * L + 20 px for a box of longest side L).
const cropMargin = (w, h) => Math.ceil(0.5 * Math.max(w, h)) + 64;

// Painted pixels of an ImageData: alpha > 0, the high byte of each little-endian pixel word.
export function countPainted(data) {
  let n = 0;
  for (const v of new Uint32Array(data.data.buffer)) if (v >>> 24) n++;
  return n;
}

// The painted pixels of a w x h mask canvas (its alpha as one 32-bit word per pixel), their
// count, and their bounding box (null when nothing is painted).
export function paintedArea(ctx, w, h) {
  const alpha = new Uint32Array(ctx.getImageData(0, 0, w, h).data.buffer);
  let x0 = w, x1 = -1, y0 = -1, y1 = -1, painted = 0;
  for (let y = 0, i = 0; y < h; y++) {
    const before = painted;
    for (let x = 0; x < w; x++, i++) {
      if (alpha[i] >>> 24) {
        painted++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
      }
    }
    if (painted > before) { if (y0 < 0) y0 = y; y1 = y; }
  }
  return { alpha, w, h, painted, box: painted ? { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 } : null };
}

// The painted area grown by r px: a running count along each row, then down each column.
export function grownHole(area, r) {
  const { alpha, box, w: W, h: H } = area;
  const x = Math.max(0, box.x - r), y = Math.max(0, box.y - r);
  const w = Math.min(W, box.x + box.w + r) - x, h = Math.min(H, box.y + box.h + r) - y;
  const rows = new Uint8Array(w * h), run = new Int32Array(Math.max(w, h) + 1);
  for (let j = 0; j < h; j++) {
    const src = (y + j) * W + x;
    for (let i = 0; i < w; i++) run[i + 1] = run[i] + (alpha[src + i] >>> 24 ? 1 : 0);
    for (let i = 0; i < w; i++) rows[j * w + i] = run[Math.min(w, i + r + 1)] > run[Math.max(0, i - r)] ? 1 : 0;
  }
  const data = new Uint8Array(w * h);
  let count = 0;
  for (let i = 0; i < w; i++) {
    for (let j = 0; j < h; j++) run[j + 1] = run[j] + rows[j * w + i];
    for (let j = 0; j < h; j++) {
      if (run[Math.min(h, j + r + 1)] > run[Math.max(0, j - r)]) { data[j * w + i] = 1; count++; }
    }
  }
  return { x, y, w, h, data, count };
}

// The rectangle sent for a hole: its box grown by the margin on every side, in a W x H image.
export function cropRect(hole, W, H) {
  const m = cropMargin(hole.w, hole.h);
  const x = Math.max(0, hole.x - m), y = Math.max(0, hole.y - m);
  return { x, y, w: Math.min(W, hole.x + hole.w + m) - x, h: Math.min(H, hole.y + hole.h + m) - y };
}

// The mask of rectangle r (which holds the hole) as the rows of an 8-bit grey PNG: 255 in
// the hole, 0 elsewhere, each row led by its filter byte (0).
export function maskRows(hole, r) {
  const rows = new Uint8Array((r.w + 1) * r.h);
  for (let j = 0; j < hole.h; j++) {
    const o = (hole.y - r.y + j) * (r.w + 1) + 1 + (hole.x - r.x);
    for (let i = 0; i < hole.w; i++) if (hole.data[j * hole.w + i]) rows[o + i] = 255;
  }
  return rows;
}
