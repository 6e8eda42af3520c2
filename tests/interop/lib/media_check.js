'use strict';
// Reading recorded files back (RecorderEndpoint tests): ffprobe, ffmpeg and
// mkvinfo run synchronously, results as plain objects.
//
//   const m = require('../lib/media_check');
//   m.decodeErrors(f)       // what `ffmpeg -v error -i f -f null -` prints ('' = clean)
//   m.decodeCheck(f)        // the same, lines judged: { output, unexplained, collisions, ... }
//   m.probe(f)              // ffprobe -show_streams -show_format, parsed
//   m.packets(f)            // { video: {codec, count, keys, first, last, end}, audio: ... }
//                           // (times in s from the packets' pts: a file cut
//                           // by a crash has no duration field)
//   m.mkvinfoIssues(f)      // mkvinfo's error and warning lines
//   m.lumaSeries(f)         // [{t, y}]: each decoded video frame's pts (s) and mean luma
//   m.audioSamples(f)       // { rate, samples: Int16Array } of the first audio stream,
//                           // mono, sample 0 at time 0 of the same timeline as lumaSeries
//   m.flashOnsets(series)   // frame times where the luma jumps up (white flashes)
//   m.beepOnsets(audio)     // first sample time of each burst after silence
//   m.pairOnsets(flashes, beeps, maxApart) // [{video, audio, offset}] and the unpaired
//   m.makeSyncClip(dir, opts) // a Y4M with white flashes and a WAV with beeps at the same instants
//
// Times from ffmpeg are on its output timeline: the file's earliest
// timestamp (over all streams) is 0, so audio and video times compare
// directly.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const BIG = 1 << 30;

function run(cmd, args, { what, allowFail = false } = {}) {
  const r = spawnSync(cmd, args, { maxBuffer: BIG, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) {
    if (r.error.code === 'ENOENT') throw new Error(`${cmd} not found (sh tests/tools/deps.sh installs it)`);
    throw r.error;
  }
  if (r.status !== 0 && !allowFail) {
    throw new Error(`${what || cmd}: exit ${r.status}: ${r.stderr.toString().slice(-2000)}`);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

// What ffmpeg prints when it decodes the whole file at level error (empty
// when the file decodes cleanly), exit status included when it fails.
// extra: more output options (e.g. ['-enc_time_base:v', '-1']).
function decodeErrors(file, extra = []) {
  const r = run('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, ...extra, '-f', 'null', '-'], { allowFail: true });
  const out = r.stderr.trim();
  return r.status === 0 ? out : `${out}\n(ffmpeg exit ${r.status})`.trim();
}

// The null muxer's complaint when two video frames land in one slot.
const DTS_LINE = /^\[null @ 0x[0-9a-f]+\] Application provided invalid, non monotonically increasing dts to muxer in stream (\d+): (\d+) >= (\d+)$/;

// `ffmpeg -v error -i F -f null -` (issue 14's check), judged line by
// line. ffmpeg's null output times the video in ticks of one frame at the
// rate it guesses for the stream (av_guess_frame_rate: r_frame_rate, or
// avg_frame_rate when r_frame_rate is above 210; for fluo's MP4 files,
// whose frame times are whole ms in 1/90000, 30000/1001 or the average
// about 29.99, not 30 as for the WebM files) counted from the
// file's start: two frames whose times (the browser's capture times,
// which jitter under load) are less than a tick apart can round to the
// same tick, and the muxer then says "non monotonically increasing dts"
// although both decoded. Such a line is put down to that, not to a broken
// frame, only when (a) two consecutive video frames of the file, at
// different times, round to exactly that tick, and (b) the same decode
// with the file's own time base for the video (-enc_time_base:v -1)
// prints nothing at all. Every other line counts.
// Returns { output (what the plain run printed), unexplained (lines),
// collisions (ticks), exact (output of the run with the file's time base,
// null when not needed), rate (the guessed frame rate) }.
// strict (FLUO_REC_STRICT=1): no line is put down to anything.
function decodeCheck(file, { strict = process.env.FLUO_REC_STRICT === '1' } = {}) {
  const output = decodeErrors(file);
  const res = { output, unexplained: [], collisions: [], exact: null, rate: null };
  if (!output) return res;
  const info = probe(file);
  const start = Number(info.format && info.format.start_time) || 0;
  const vs = (info.streams || []).find((x) => x.codec_type === 'video');
  const slots = new Set();
  const q = (x) => {
    const [num, den] = String(x || '0/0').split('/').map(Number);
    return num > 0 && den > 0 ? num / den : 0;
  };
  if (vs) {
    // ffmpeg's av_guess_frame_rate: r_frame_rate, or avg_frame_rate when
    // r_frame_rate is implausibly high and the average is not
    const rf = q(vs.r_frame_rate);
    const avg = q(vs.avg_frame_rate);
    res.rate = avg > 0 && rf > 0 && avg < 70 && rf > 210 ? avg : rf || null;
    const r = run('ffprobe', ['-v', 'error', '-select_streams', `${vs.index}`, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file]);
    const pts = r.stdout.toString().split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
    for (let i = 1; res.rate && i < pts.length; i++) {
      const a = Math.round((pts[i - 1] - start) * res.rate);
      const b = Math.round((pts[i] - start) * res.rate);
      if (a === b && pts[i] > pts[i - 1]) slots.add(a);
    }
  }
  for (const l of output.split('\n').map((x) => x.trim()).filter(Boolean)) {
    const m = DTS_LINE.exec(l);
    if (!strict && m && vs && Number(m[1]) === 0 && m[2] === m[3] && slots.has(Number(m[2]))) res.collisions.push(Number(m[2]));
    else res.unexplained.push(l);
  }
  if (res.collisions.length) {
    res.exact = decodeErrors(file, ['-enc_time_base:v', '-1']);
    if (res.exact) res.unexplained.push(`with -enc_time_base:v -1: ${res.exact}`);
  }
  return res;
}

function probe(file) {
  const r = run('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { what: `ffprobe ${file}` });
  return JSON.parse(r.stdout.toString());
}

// Per kind (first stream of each): codec, packet count, key packets, the
// first and last pts and the end of the last packet (pts + duration), in
// seconds as ffprobe gives them (no start shift).
function packets(file) {
  const info = probe(file);
  const r = run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'packet=stream_index,pts_time,duration_time,flags', '-of', 'json', file],
    { what: `ffprobe -show_packets ${file}` },
  );
  const pk = JSON.parse(r.stdout.toString()).packets || [];
  const out = { streams: info.streams || [], format: info.format || {} };
  for (const s of info.streams || []) {
    const kind = s.codec_type;
    if (out[kind]) continue;
    const mine = pk.filter((p) => p.stream_index === s.index && p.pts_time !== undefined && p.pts_time !== 'N/A');
    const times = mine.map((p) => Number(p.pts_time));
    const ends = mine.map((p) => Number(p.pts_time) + (Number(p.duration_time) || 0));
    out[kind] = {
      codec: s.codec_name,
      count: mine.length,
      keys: mine.filter((p) => /K/.test(p.flags || '')).length,
      keyTimes: mine.filter((p) => /K/.test(p.flags || '')).map((p) => Number(p.pts_time)),
      first: times.length ? Math.min(...times) : null,
      last: times.length ? Math.max(...times) : null,
      end: ends.length ? Math.max(...ends) : null,
    };
  }
  return out;
}

// mkvinfo's lines that are errors or warnings (mkvinfo exits 1 on
// warnings, 2 on errors).
function mkvinfoIssues(file) {
  const r = run('mkvinfo', [file], { allowFail: true });
  const lines = (r.stdout.toString() + r.stderr).split('\n').filter((l) => /error|warning/i.test(l));
  if (r.status !== 0 && !lines.length) lines.push(`mkvinfo exit ${r.status}`);
  return lines;
}

// Each decoded frame of the first video stream: { t (pts in s), y (mean
// luma, 0..255) }, in presentation order, none duplicated or dropped. The
// metadata filter writes to `${file}.yavg.txt` (removed after), so the
// path must need no escaping in a filter graph.
function lumaSeries(file) {
  if (/[:'\\,;[\]=]/.test(file)) throw new Error(`lumaSeries: ${file}: a path a filter graph would need escaped`);
  const meta = `${file}.yavg.txt`;
  let text;
  try {
    run(
      'ffmpeg',
      // -reinit_filter 0 and a scale first: a change of picture size (a
      // browser's encoder adapting to a loaded CPU) must not rebuild the
      // graph, which would reopen, so empty, the metadata file
      ['-nostdin', '-v', 'error', '-reinit_filter', '0', '-i', file, '-map', '0:v:0', '-vf',
        `scale=320:180,signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file=${meta}`, '-f', 'null', '-'],
      { what: `ffmpeg signalstats ${file}` },
    );
    text = fs.readFileSync(meta, 'utf8');
  } finally {
    fs.rmSync(meta, { force: true });
  }
  const out = [];
  let t = null;
  for (const line of text.split('\n')) {
    const m = /pts_time:\s*(-?[\d.e+-]+)/.exec(line);
    if (m) {
      t = Number(m[1]);
      continue;
    }
    const y = /lavfi\.signalstats\.YAVG=([\d.]+)/.exec(line);
    if (y && t !== null) {
      out.push({ t, y: Number(y[1]) });
      t = null;
    }
  }
  return out;
}

// The first audio stream decoded to mono 16-bit PCM at `rate`; silence is
// put in front of the first packet (aresample first_pts=0) and in gaps, so
// sample i is at time i / rate on ffmpeg's output timeline (the one
// lumaSeries gives times on).
function audioSamples(file, rate = 48000) {
  const r = run(
    'ffmpeg',
    ['-nostdin', '-v', 'error', '-i', file, '-map', '0:a:0', '-af', `aresample=${rate}:async=1:first_pts=0`,
      '-ac', '1', '-f', 's16le', '-acodec', 'pcm_s16le', 'pipe:1'],
    { what: `ffmpeg audio ${file}` },
  );
  const buf = r.stdout;
  const samples = new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + (buf.length & ~1)));
  return { rate, samples };
}

// Times (s) of the frames where the luma rises past the midpoint between
// the darkest and the brightest frame, at least minGap s after the last
// such rise; [] when the video has no contrast (max - min < minContrast).
function flashOnsets(series, { minGap = 0.5, minContrast = 60 } = {}) {
  if (!series.length) return [];
  const ys = series.map((f) => f.y);
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  if (hi - lo < minContrast) return [];
  const thr = (lo + hi) / 2;
  const out = [];
  let prevBright = series[0].y > thr; // a flash cut at the start is no onset
  for (const f of series) {
    const bright = f.y > thr;
    if (bright && !prevBright && (!out.length || f.t - out[out.length - 1] >= minGap)) out.push(f.t);
    prevBright = bright;
  }
  return out;
}

// Times (s) of the first sample of each burst: |x| above `frac` of the
// track's peak after at least `quiet` s with none above it. A burst cut
// at the start (loud from sample 0) is no onset.
function beepOnsets({ rate, samples }, { frac = 0.25, quiet = 0.3, minPeak = 1000 } = {}) {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    const a = Math.abs(samples[i]);
    if (a > peak) peak = a;
  }
  if (peak < minPeak) return { onsets: [], peak };
  const thr = peak * frac;
  const quietN = Math.round(quiet * rate);
  const out = [];
  let lastLoud = -Infinity;
  let first = true;
  for (let i = 0; i < samples.length; i++) {
    if (Math.abs(samples[i]) <= thr) continue;
    if (i - lastLoud > quietN && !(first && i === 0)) out.push(i / rate);
    first = false;
    lastLoud = i;
  }
  return { onsets: out, peak, threshold: thr };
}

// Each flash with the nearest beep not more than maxApart s away (each
// beep used once): { pairs: [{video, audio, offset (audio - video, s)}],
// flashesAlone, beepsAlone }.
function pairOnsets(flashes, beeps, maxApart = 0.5) {
  const used = new Set();
  const pairs = [];
  const flashesAlone = [];
  for (const v of flashes) {
    let best = -1;
    for (let i = 0; i < beeps.length; i++) {
      if (used.has(i) || Math.abs(beeps[i] - v) > maxApart) continue;
      if (best < 0 || Math.abs(beeps[i] - v) < Math.abs(beeps[best] - v)) best = i;
    }
    if (best < 0) flashesAlone.push(v);
    else {
      used.add(best);
      pairs.push({ video: v, audio: beeps[best], offset: beeps[best] - v });
    }
  }
  const beepsAlone = beeps.filter((_, i) => !used.has(i));
  return { pairs, flashesAlone, beepsAlone };
}

// In dir: sync.y4m (width x height, fps, `seconds` long: dark frames,
// `flashFrames` white ones from each flash instant) and sync.wav (48 kHz
// mono: silence, a 1 kHz beep of beepMs from each flash instant). The
// instants are `first`, first + period, ... (s; frame-exact); with
// seconds a multiple of period they keep their spacing when the browser
// loops the files. Returns { video, audio, instants }.
function makeSyncClip(dir, opts = {}) {
  const o = { width: 640, height: 360, fps: 30, seconds: 12, first: 1, period: 2, flashFrames: 2, beepMs: 80, ...opts };
  const video = path.join(dir, 'sync.y4m');
  const audio = path.join(dir, 'sync.wav');
  const firstN = Math.round(o.first * o.fps);
  const periodN = Math.round(o.period * o.fps);
  // frame n is white when (n - firstN) mod periodN < flashFrames (n - firstN
  // shifted up by whole periods so that mod sees no negative number)
  const shift = periodN * Math.ceil(firstN / periodN) - firstN;
  run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi',
    '-i', `color=c=0x101010:s=${o.width}x${o.height}:r=${o.fps}:d=${o.seconds}`,
    '-vf', `drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(n+${shift},${periodN}),${o.flashFrames})'`,
    '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', video], { what: 'ffmpeg (sync video)' });
  const beep = o.beepMs / 1000;
  const ashift = o.period * Math.ceil(o.first / o.period) - o.first;
  run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi',
    '-i', `aevalsrc='0.5*sin(2*PI*1000*t)*lt(mod(t+${ashift},${o.period}),${beep})':s=48000:d=${o.seconds}`,
    '-c:a', 'pcm_s16le', audio], { what: 'ffmpeg (sync audio)' });
  const instants = [];
  for (let t = o.first; t < o.seconds; t += o.period) instants.push(t);
  return { video, audio, instants };
}

module.exports = {
  run,
  decodeErrors,
  decodeCheck,
  probe,
  packets,
  mkvinfoIssues,
  lumaSeries,
  audioSamples,
  flashOnsets,
  beepOnsets,
  pairOnsets,
  makeSyncClip,
};
