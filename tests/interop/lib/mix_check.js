'use strict';
// Fixtures for the mixing hubs' browser tests (Composite, AlphaBlending,
// Mixer): a publisher's fake camera and microphone made as files, the tones
// a page hears in the audio it receives, the colour of regions of a
// screenshot.
//
//   const mc = require('../lib/mix_check');
//   const src = mc.makeColourClip(dir, 'red', { rgb: 'FF0000', tone: 500 });
//   // src: { video, audio } for launchBrowser({ fakeVideoFile, fakeAudioFile })
//   const t = await mc.toneLevels(peer, [500, 1100, 1700], 2000);
//   // t: { levels: { 500: dB, ... }, floor: dB, frames, sampleRate }
//   mc.colourOf([r, g, b])          // 'red' | 'green' | 'blue' | 'black' | null
//   mc.regionColours(png, { a: { x, y, w, h }, ... }) // { a: { rgb, colour } }
//
// Publishers' getUserMedia must ask for raw audio (AUDIO_RAW): with
// Chromium's default processing (noise suppression, gain control) a steady
// tone comes out about 20 dB lower after a few seconds (500 Hz through a
// loopback: -43.5 dB against -24 dB raw).

const path = require('node:path');
const { run } = require('./media_check');
const { pngStats } = require('./browser');

// getUserMedia audio constraints that leave the fake microphone's tone as
// it is.
const AUDIO_RAW = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };

// In dir: NAME.y4m (width x height at fps, `seconds` long: the solid colour
// rgb (hex RRGGBB) with a white square of `square` pixels moving along the
// top edge, so the encoder always has something to send and the middle of
// the picture stays the plain colour) and NAME.wav (48 kHz mono 16-bit, a
// sine of `tone` Hz at `amplitude` of full scale; whole periods in
// `seconds`, so Chromium's looping of the file does not click).
function makeColourClip(dir, name, opts = {}) {
  const o = { rgb: 'FF0000', tone: 500, width: 320, height: 240, fps: 15, seconds: 4, square: 32, amplitude: 0.3, ...opts };
  if (!/^[0-9A-Fa-f]{6}$/.test(o.rgb)) throw new Error(`rgb ${o.rgb}: want RRGGBB`);
  if (!Number.isInteger(o.tone * o.seconds)) throw new Error(`tone ${o.tone} Hz: not whole periods in ${o.seconds} s`);
  const video = path.join(dir, `${name}.y4m`);
  const audio = path.join(dir, `${name}.wav`);
  const d = o.seconds;
  run('ffmpeg', ['-nostdin', '-v', 'error', '-y',
    '-f', 'lavfi', '-i', `color=c=0x${o.rgb}:s=${o.width}x${o.height}:r=${o.fps}:d=${d}`,
    '-f', 'lavfi', '-i', `color=c=white:s=${o.square}x${o.square}:r=${o.fps}:d=${d}`,
    '-filter_complex', `[0][1]overlay=x='mod(t*${Math.round(o.width / 2)},W-w)':y=${Math.round(o.square / 4)}:eval=frame`,
    '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', video], { what: `ffmpeg (${name} video)` });
  run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi',
    '-i', `aevalsrc='${o.amplitude}*sin(2*PI*${o.tone}*t)':s=48000:d=${d}`,
    '-c:a', 'pcm_s16le', audio], { what: `ffmpeg (${name} audio)` });
  return { video, audio, rgb: o.rgb, tone: o.tone };
}

// Runs in the page: the received audio track (the one the harness page
// plays in its <video>) into a WebAudio AnalyserNode; the power spectrum
// read every 50 ms for `ms` and averaged. Per tone, the strongest bin
// within 2 bins of it (dB, 0 = full scale); floor: the median bin from 200
// Hz to 4 kHz, leaving out 50 Hz around every tone.
async function pageToneLevels({ freqs, ms, fftSize }) {
  const v = document.getElementById('remote');
  const tracks = v.srcObject ? v.srcObject.getAudioTracks() : [];
  if (!tracks.length) throw new Error('no received audio track');
  const ctx = new AudioContext();
  try {
    await ctx.resume();
    const src = ctx.createMediaStreamSource(new MediaStream([tracks[0]]));
    const an = ctx.createAnalyser();
    an.fftSize = fftSize;
    an.smoothingTimeConstant = 0;
    src.connect(an);
    // pulled through a silent gain to the destination
    const mute = ctx.createGain();
    mute.gain.value = 0;
    an.connect(mute);
    mute.connect(ctx.destination);
    const n = an.frequencyBinCount;
    const acc = new Float64Array(n);
    const buf = new Float32Array(n);
    let frames = 0;
    // let the first full window fill
    await new Promise((r) => setTimeout(r, Math.ceil((1000 * fftSize) / ctx.sampleRate)));
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      an.getFloatFrequencyData(buf);
      for (let i = 0; i < n; i++) acc[i] += Number.isFinite(buf[i]) ? Math.pow(10, buf[i] / 10) : 0;
      frames++;
    }
    const hz = ctx.sampleRate / fftSize;
    const db = (i) => 10 * Math.log10(acc[i] / frames + 1e-20);
    const levels = {};
    for (const f of freqs) {
      const c = Math.round(f / hz);
      let best = -Infinity;
      for (let i = c - 2; i <= c + 2; i++) best = Math.max(best, db(i));
      levels[f] = Math.round(best * 10) / 10;
    }
    const rest = [];
    for (let i = Math.ceil(200 / hz); i < Math.floor(4000 / hz); i++) {
      if (freqs.every((f) => Math.abs(i * hz - f) > 50)) rest.push(db(i));
    }
    rest.sort((a, b) => a - b);
    return { levels, floor: Math.round(rest[rest.length >> 1] * 10) / 10, frames, sampleRate: ctx.sampleRate };
  } finally {
    await ctx.close();
  }
}

// The tones `peer` hears in the audio it receives, measured over `ms` in
// its page (pageToneLevels).
function toneLevels(peer, freqs, ms = 2000, fftSize = 8192) {
  return peer.page.evaluate(pageToneLevels, { freqs, ms, fftSize });
}

// The tones of `t` (toneLevels' result) heard (at least `above` dB over
// the floor and over -60 dB) and not heard (at least `below` dB under the
// weakest heard one, or under 10 dB over the floor), as lists of
// frequencies; `line` says it in words for the test's log.
function judgeTones(t, { above = 30, below = 25 } = {}) {
  const freqs = Object.keys(t.levels).map(Number);
  const heard = freqs.filter((f) => t.levels[f] >= t.floor + above && t.levels[f] > -60);
  const weakest = Math.min(...heard.map((f) => t.levels[f]));
  const silent = freqs.filter((f) => !heard.includes(f) && (t.levels[f] <= weakest - below || t.levels[f] <= t.floor + 10));
  const line = freqs.map((f) => `${f} Hz ${t.levels[f].toFixed(1)} dB`).join(', ') + ` (floor ${t.floor.toFixed(1)} dB)`;
  return { heard, silent, line };
}

// 'red', 'green' or 'blue' when that channel leads the other two by 60 or
// more, 'black' when every channel is under 40, null otherwise.
function colourOf([r, g, b]) {
  if (Math.max(r, g, b) < 40) return 'black';
  const names = ['red', 'green', 'blue'];
  const c = [r, g, b];
  for (let i = 0; i < 3; i++) {
    if (c[i] - Math.max(c[(i + 1) % 3], c[(i + 2) % 3]) >= 60) return names[i];
  }
  return null;
}

// Mean colour of each named region {x, y, w, h} (pixels) of a PNG.
function regionColours(file, regions) {
  const out = {};
  for (const [name, region] of Object.entries(regions)) {
    const rgb = pngStats(file, { region }).regionRgb.map((x) => Math.round(x));
    out[name] = { rgb, colour: colourOf(rgb) };
  }
  return out;
}

// The region of w x h pixels centred on (cx, cy).
function around(cx, cy, w = 60, h = 40) {
  return { x: Math.round(cx - w / 2), y: Math.round(cy - h / 2), w, h };
}

module.exports = { AUDIO_RAW, makeColourClip, toneLevels, judgeTones, colourOf, regionColours, around };
