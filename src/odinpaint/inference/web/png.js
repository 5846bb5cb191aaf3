// Lossless PNGs of what the page uploads: the crop of the image and its mask.
//
// Written here (zlib from the browser's CompressionStream) where the browser has it: a
// canvas's toBlob can wait up to a second for the page to be idle, and a canvas encodes a
// mask as RGBA, 4x the bytes of the grey PNG written here. Without CompressionStream the
// canvas encoder does it.

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

const native = () => typeof CompressionStream === "function";

// A canvas as a PNG, by the browser's own encoder.
export function canvasPng(c) {
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error("cannot encode a PNG"))), "image/png"));
}

function imageDataPng(data) {
  const c = document.createElement("canvas");
  c.width = data.width; c.height = data.height;
  c.getContext("2d").putImageData(data, 0, 0);
  return canvasPng(c);
}

// A w x h grey mask, 255 = hole, from its rows (each led by its filter byte, 0).
export async function maskPng(w, h, rows) {
  if (native()) return pngBlob(w, h, 0, rows);
  const data = new ImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = rows[y * (w + 1) + 1 + x], i = 4 * (y * w + x);
      data.data[i] = data.data[i + 1] = data.data[i + 2] = v; data.data[i + 3] = 255;
    }
  }
  return imageDataPng(data);
}

// Image pixels (ImageData) as RGB, or RGBA when any pixel is not opaque, each row with the
// Sub filter (each byte minus the one a pixel to its left), which deflate packs well.
export async function imagePng(data) {
  if (!native()) return imageDataPng(data);
  const { width: w, height: h } = data, px = data.data;
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
