'use strict';
// Media for the filters' browser test (browser/filters.test.js): the fake
// cameras as Y4M clips, the overlay images as PNGs with alpha, and pixel
// counting over screenshots. Made once into build/media/filters/ (the file
// names carry a hash of what made them, so a change makes new ones) and
// reused; deterministic (ffmpeg's lavfi sources, qrencode, and the PNGs
// written here byte for byte).
//
//   const fm = require('../lib/filter_media');
//   const card = fm.cardClip();   // { video, qrText, qr: {x, y, w, h}, rgb }
//   const face = fm.faceClip();   // { video, photo, faceIn: {x, y, w, h}, photoLeft(px) }
//   const logo = fm.logoPng();    // { file, width, height }
//   const hat = fm.hatPng();      // { file, width, height, margin }
//   const px = fm.readPixels('build/screenshots/x.png');   // { width, height, data (RGB) }
//   fm.share(px, { x, y, w, h }, fm.isGreen)   // fraction of the region's pixels
//
// The card clip (640x480, 15 fps, 3 s; Chromium loops it): a plain blue
// picture (0, 0, 255) with a QR code of qrText (qrencode, 10 pixels a
// module, its white quiet zone included) centred in the left half, and a
// small white square moving along the bottom edge of the right half (so the
// encoder always has something to send). The right half above the square
// stays plain blue: the place for overlays.
//
// The face clip (640x480, 15 fps, 6 s): the portrait of
// tests/tools/face_photo.sh (512x512, face about at x 175-275, y 60-180),
// unscaled, its top edge at y 120 on a mid grey picture (its bottom
// cropped), swaying from side to side: its left edge at 64 + 40 sin(2 pi t
// / 6 s) (at most 42 pixels a second; seamless when Chromium loops it).
// The face at about y 183-287, x 237-341 at rest, low enough for an
// overlay above it (a hat 1.2 face heights up) to stay in the picture.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { run } = require('./media_check');

const REPO = path.resolve(__dirname, '..', '..', '..');
const DIR = path.join(REPO, 'build', 'media', 'filters');
const W = 640;
const H = 480;
const FPS = 15;
const SECONDS = 3;
const FACE_SECONDS = 6;

// The file DIR/NAME-HASH.EXT for what `key` describes; made by make(tmp)
// into a temporary name first, then renamed (a run cut short leaves no
// half-made file under the final name); older NAME-*.EXT files, made from
// other keys, are removed then.
function cached(name, ext, key, make) {
  const hash = crypto.createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 10);
  const file = path.join(DIR, `${name}-${hash}.${ext}`);
  if (fs.existsSync(file) && fs.statSync(file).size > 0) return file;
  fs.mkdirSync(DIR, { recursive: true });
  const tmp = path.join(DIR, `.${name}-${hash}.${process.pid}.tmp.${ext}`);
  try {
    make(tmp);
    fs.renameSync(tmp, file);
    for (const f of fs.readdirSync(DIR)) {
      if (f !== path.basename(file) && f.startsWith(`${name}-`) && f.endsWith(`.${ext}`)) fs.rmSync(path.join(DIR, f), { force: true });
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return file;
}

// Width and height of a PNG, from its IHDR.
function pngSize(file) {
  const b = fs.readFileSync(file);
  if (b.length < 24 || b.readUInt32BE(0) !== 0x89504e47 || b.toString('ascii', 12, 16) !== 'IHDR') throw new Error(`${file}: not a PNG`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

// Writes a width x height 8-bit RGBA PNG; pixel(x, y) gives [r, g, b, a].
function writeRgbaPng(file, width, height, pixel) {
  const raw = Buffer.alloc(height * (1 + width * 4));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 4);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const p = pixel(x, y);
      for (let i = 0; i < 4; i++) raw[row + 1 + x * 4 + i] = p[i];
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  fs.writeFileSync(
    file,
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

// The card clip (see the top): { video, qrText, qr: {x, y, w, h} (the QR
// code's square, quiet zone included), rgb: the background }.
function cardClip({ qrText = 'fluo-zbar-21' } = {}) {
  const rgb = [0, 0, 255];
  const qrPng = cached('qr', 'png', { qrText, v: 1 }, (tmp) => {
    run('qrencode', ['-o', tmp, '-s', '10', '-m', '4', '-l', 'M', '--', qrText], { what: 'qrencode' });
  });
  const size = pngSize(qrPng);
  if (size.width > W / 2 - 10 || size.height > H - 20) throw new Error(`QR code of ${qrText.length} characters too big: ${size.width} px`);
  const qr = { x: Math.round((W / 2 - size.width) / 2), y: Math.round((H - size.height) / 2), w: size.width, h: size.height };
  const sq = 16;
  const video = cached('card', 'y4m', { qrText, qr, rgb, W, H, FPS, SECONDS, sq, v: 1 }, (tmp) => {
    run('ffmpeg', ['-nostdin', '-v', 'error', '-y',
      '-f', 'lavfi', '-i', `color=c=0x0000FF:s=${W}x${H}:r=${FPS}:d=${SECONDS}`,
      '-loop', '1', '-framerate', String(FPS), '-t', String(SECONDS), '-i', qrPng,
      '-f', 'lavfi', '-i', `color=c=white:s=${sq}x${sq}:r=${FPS}:d=${SECONDS}`,
      '-filter_complex',
      `[1]format=rgb24[q];[0][q]overlay=x=${qr.x}:y=${qr.y}:shortest=1[a];` +
        `[a][2]overlay=x='${W / 2 + 8}+mod(t*120,${W / 2 - 16 - sq})':y=${H - sq - 8}:eval=frame`,
      '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', tmp], { what: 'ffmpeg (card clip)' });
  });
  return { video, qrText, qr, rgb };
}

// The face clip (see the top): { video, photo: { y, x0, sway, period }
// (the photo's top edge, and its left edge at x0 + sway * sin(2 pi t /
// period)), faceIn: {x, y, w, h} (the face in the photo: where OpenCV's
// haarcascade_frontalface_default and _alt find it on frames of the clip,
// at 640 and 320 pixels wide, moved back by where the photo is: x 172-174,
// y 62-66, 100-108 pixels square), photoLeft(px): the photo's left edge in
// a screenshot of it (readPixels) }.
function faceClip() {
  const file = path.join(REPO, 'build', 'media', 'face.png');
  run('sh', [path.join(REPO, 'tests', 'tools', 'face_photo.sh'), file], { what: 'face_photo.sh' });
  const photo = { y: 120, x0: 64, sway: 40, period: FACE_SECONDS };
  const video = cached('face', 'y4m', { photo, W, H, FPS, size: fs.statSync(file).size, v: 2 }, (tmp) => {
    run('ffmpeg', ['-nostdin', '-v', 'error', '-y',
      '-f', 'lavfi', '-i', `color=c=0x808080:s=${W}x${H}:r=${FPS}:d=${photo.period}`,
      '-loop', '1', '-framerate', String(FPS), '-t', String(photo.period), '-i', file,
      '-filter_complex',
      `[1]format=rgb24[p];[0][p]overlay=x='${photo.x0}+${photo.sway}*sin(2*PI*t/${photo.period})':y=${photo.y}:eval=frame:shortest=1`,
      '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', tmp], { what: 'ffmpeg (face clip)' });
  });
  return { video, photo, faceIn: { x: 173, y: 63, w: 104, h: 104 }, photoLeft: (px) => photoLeft(px, photo) };
}

// The left edge of the photo on the grey of the face clip in a screenshot:
// the median over rows of its lower part (the flag: red, white, blue) of
// the first pixel from the left that is not the grey.
function photoLeft(px, photo) {
  const edges = [];
  for (let y = Math.max(photo.y + 200, 0); y < px.height; y += 8) {
    for (let x = 0; x < px.width; x++) {
      const i = (y * px.width + x) * 3;
      const d = Math.abs(px.data[i] - 128) + Math.abs(px.data[i + 1] - 128) + Math.abs(px.data[i + 2] - 128);
      if (d > 60) {
        edges.push(x);
        break;
      }
    }
  }
  if (!edges.length) return NaN;
  edges.sort((a, b) => a - b);
  return edges[edges.length >> 1];
}

// 200x100: the left half opaque magenta (255, 0, 255), the right half fully
// transparent (drawn with its alpha, it shows the picture under it).
function logoPng() {
  const width = 200;
  const height = 100;
  const file = cached('logo', 'png', { width, height, v: 1 }, (tmp) =>
    writeRgbaPng(tmp, width, height, (x) => (x < width / 2 ? [255, 0, 255, 255] : [255, 0, 255, 0])),
  );
  return { file, width, height };
}

// 160x160: opaque green (0, 255, 0) with a fully transparent margin of 16
// pixels (a tenth) all around.
function hatPng() {
  const width = 160;
  const height = 160;
  const margin = 16;
  const file = cached('hat', 'png', { width, height, margin, v: 1 }, (tmp) =>
    writeRgbaPng(tmp, width, height, (x, y) => {
      const inside = x >= margin && x < width - margin && y >= margin && y < height - margin;
      return inside ? [0, 255, 0, 255] : [0, 255, 0, 0];
    }),
  );
  return { file, width, height, margin };
}

// Not an image: text under a .png name (for addImage's refusal).
function notAnImage() {
  return cached('not-an-image', 'png', { v: 1 }, (tmp) => fs.writeFileSync(tmp, 'this is text, not a PNG\n'));
}

// The pixels of a PNG (any kind ffmpeg reads) as 8-bit RGB rows.
function readPixels(file) {
  const { width, height } = pngSize(file);
  const r = run('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { what: `ffmpeg (${file})` });
  if (r.stdout.length !== width * height * 3) throw new Error(`${file}: ${r.stdout.length} bytes of pixels for ${width}x${height}`);
  return { width, height, data: r.stdout };
}

// The region {x, y, w, h} cut to the picture (null when nothing is left).
function clip(px, reg) {
  const x0 = Math.max(0, Math.round(reg.x));
  const y0 = Math.max(0, Math.round(reg.y));
  const x1 = Math.min(px.width, Math.round(reg.x + reg.w));
  const y1 = Math.min(px.height, Math.round(reg.y + reg.h));
  return x1 > x0 && y1 > y0 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : null;
}

// The fraction (0-1) of the pixels of region `reg` (cut to the picture)
// for which pred(r, g, b) holds; NaN when no pixel is left.
function share(px, reg, pred) {
  const c = clip(px, reg);
  if (!c) return NaN;
  let n = 0;
  for (let y = c.y; y < c.y + c.h; y++) {
    for (let x = c.x; x < c.x + c.w; x++) {
      const i = (y * px.width + x) * 3;
      if (pred(px.data[i], px.data[i + 1], px.data[i + 2])) n++;
    }
  }
  return n / (c.w * c.h);
}

// Colours as a lossy codec and a scaled <video> give them back: the
// strong channels over 150, the weak ones under 100.
const isMagenta = (r, g, b) => r > 150 && b > 150 && g < 100;
const isGreen = (r, g, b) => g > 150 && r < 100 && b < 100;
const isBlue = (r, g, b) => b > 150 && r < 100 && g < 100;

module.exports = {
  DIR,
  cardClip,
  faceClip,
  logoPng,
  hatPng,
  notAnImage,
  writeRgbaPng,
  readPixels,
  clip,
  share,
  isMagenta,
  isGreen,
  isBlue,
};
