'use strict';
// Media quality over a real network (lib/netlab.js): a presenter browser in
// the lab's `pub` namespace sending a busy 640x480 camera clip (VP8), viewer
// browsers in `v1`/`v2`, either through fluo (running in `srv`, where this
// process runs; the one2many tutorial's calls) or in a direct call (each
// viewer's page connected straight to its own presenter page: a reference),
// and the figures that judge congestion control, NACK/RTX and freezes,
// computed from getStats() samples taken in the pages every 250 ms.
//
//   const q = require('../lib/quality');
//   const clip = q.ensureClip();                  // build/net_clip_640x480.y4m (ffmpeg)
//   const sess = await q.openSession({ lab, mode: 'fluo', client, viewers: ['v1'] });
//   await sess.waitFlowing();                     // every viewer decoding
//   sess.startSampling();
//   ... impairments with lab.loss()/lab.rate(), q.sleep() ...
//   const data = await sess.collect();            // { presenter: [samples], v1: [...], pubToV1, ... }
//   await sess.close();
//
// Series helpers take a sample array (t = page time in ms) and a getter:
//   q.sendBytes(s), q.aob(s), ...    getters
//   q.slidingRate(samples, getter, 1000)   [{t, bps}] over the last >= 1 s
//   q.firstAfter(series, t0, pred)   ms from t0 to the first point matching
//   q.perSecond(samples, getter, t0, n)   per-second deltas (rate per s)
//   q.freezes(samples, from, to)     framesDecoded unchanged for > 1 s
//   q.delta(samples, getter, from, to)

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { launchBrowser, connectPeers } = require('./browser');
const { Signalling, withTimeout, sleep } = require('./kurento');

const REPO = path.resolve(__dirname, '..', '..', '..');
const CLIP = path.join(REPO, 'build', 'net_clip_640x480.y4m');
const CLIP_SECONDS = 6;

// Runs ffmpeg's moving testsrc2 blended with a zooming mandelbrot and
// temporal noise (`noise`) at `size`, 30 fps, `seconds` long, into `file`
// through the output arguments `out` (written aside, renamed when done).
function makeClip(file, { size, noise, seconds, finalFormat, out }) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    execFileSync(
      'ffmpeg',
      ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`, '-f', 'lavfi', '-i', `mandelbrot=size=${size}:rate=30`,
        '-filter_complex', `[0:v]format=yuv420p[t];[1:v]format=yuv420p[m];[t][m]blend=all_mode=average,noise=alls=${noise}:allf=t,format=${finalFormat}`,
        '-t', String(seconds), ...out, tmp],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    if (e.code === 'ENOENT') throw new Error('ffmpeg not found (sh tests/tools/deps.sh installs it)');
    throw new Error(`ffmpeg: ${(e.stderr || '').toString() || e.message}`);
  }
  return file;
}

// A 640x480 30 fps Y4M clip that VP8 cannot fit in 1.7 Mbit/s (makeClip's
// picture with noise 12). Cached in build/ (about 80 MB).
function ensureClip() {
  const frame = 640 * 480 * 1.5;
  const want = CLIP_SECONDS * 30;
  if (fs.existsSync(CLIP) && fs.statSync(CLIP).size > want * frame) return CLIP;
  return makeClip(CLIP, {
    size: '640x480',
    noise: 12,
    seconds: CLIP_SECONDS,
    finalFormat: 'yuv420p',
    out: ['-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe'],
  });
}

// fluo's getStats of an endpoint, video: the numbers of its inbound and
// outbound RTP entries ({ error } when the call failed).
async function fluoVideoStats(ep) {
  try {
    const st = await ep.getStats('VIDEO');
    const o = {};
    for (const s of Object.values(st)) {
      if (s.type !== 'inboundrtp' && s.type !== 'outboundrtp') continue;
      const e = {};
      for (const [k, v] of Object.entries(s)) if (typeof v === 'number') e[k] = v;
      o[s.type] = e;
    }
    return o;
  } catch (e) {
    return { error: e.message };
  }
}

// The server of a net test, into ctx ({ srv, client }) and results.fluoBin:
// started in a before hook, stopped in an after hook asserting a clean exit
// and no sanitizer findings.
async function startFluo(ctx, results) {
  const { startServer } = require('./server');
  const { connectKurento } = require('./kurento');
  ctx.srv = await startServer({});
  results.fluoBin = ctx.srv.bin;
  ({ client: ctx.client } = await connectKurento(ctx.srv.url));
}

async function stopFluo(ctx) {
  const assert = require('node:assert/strict');
  if (ctx.client) {
    try {
      ctx.client.close();
    } catch (_) {
      /* closed */
    }
  }
  if (ctx.srv) {
    const { sanitizerFindings } = require('./server');
    const r = await ctx.srv.stop();
    assert.equal(r.code, 0, `server exit code; stderr:\n${r.stderr.slice(-3000)}`);
    assert.deepEqual(sanitizerFindings(r.stderr), []);
  }
}

// ---- getters over a sample ----
const outV = (s) => s.outVideo || null;
const inV = (s) => s.inVideo || null;
const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const getters = {
  // video RTP bytes sent, headers included (retransmissions are part of bytesSent)
  sendBytes: (s) => (outV(s) ? num(outV(s).bytesSent) + (num(outV(s).headerBytesSent) || 0) : null),
  recvBytes: (s) => (inV(s) ? num(inV(s).bytesReceived) + (num(inV(s).headerBytesReceived) || 0) : null),
  pairSentBytes: (s) => (s.pair ? num(s.pair.bytesSent) : null),
  aob: (s) => (s.pair ? num(s.pair.availableOutgoingBitrate) : null),
  targetBitrate: (s) => (outV(s) ? num(outV(s).targetBitrate) : null),
  framesDecoded: (s) => (inV(s) ? num(inV(s).framesDecoded) : null),
  fps: (s) => (inV(s) ? num(inV(s).framesPerSecond) : null),
  sendFps: (s) => (outV(s) ? num(outV(s).framesPerSecond) : null),
  inWidth: (s) => (inV(s) ? num(inV(s).frameWidth) : null),
  outWidth: (s) => (outV(s) ? num(outV(s).frameWidth) : null),
  packetsLost: (s) => (inV(s) ? num(inV(s).packetsLost) : null),
  packetsReceived: (s) => (inV(s) ? num(inV(s).packetsReceived) : null),
  inNack: (s) => (inV(s) ? num(inV(s).nackCount) : null),
  inRtx: (s) => (inV(s) ? num(inV(s).retransmittedPacketsReceived) : null),
  freezeCount: (s) => (inV(s) ? num(inV(s).freezeCount) : null),
  freezeSeconds: (s) => (inV(s) ? num(inV(s).totalFreezesDuration) : null),
  outNack: (s) => (outV(s) ? num(outV(s).nackCount) : null),
  outRtx: (s) => (outV(s) ? num(outV(s).retransmittedPacketsSent) : null),
  outPli: (s) => (outV(s) ? num(outV(s).pliCount) : null),
  inPli: (s) => (inV(s) ? num(inV(s).pliCount) : null),
  qlr: (s) => (outV(s) ? outV(s).qualityLimitationReason : null),
  rtt: (s) => (s.pair ? num(s.pair.currentRoundTripTime) : null),
};

// The last sample at or before t that has a value for getter (null if none).
function at(samples, getter, t) {
  let best = null;
  for (const s of samples) {
    if (s.t > t) break;
    if (getter(s) !== null && getter(s) !== undefined) best = s;
  }
  return best;
}

// The first sample at or after t with a value.
function after(samples, getter, t) {
  for (const s of samples) if (s.t >= t && getter(s) !== null && getter(s) !== undefined) return s;
  return null;
}

function inRange(samples, getter, from, to) {
  return samples.filter((s) => s.t >= from && s.t <= to && getter(s) !== null && getter(s) !== undefined);
}

// Change of a counter between the samples nearest from and to.
function delta(samples, getter, from, to) {
  const a = at(samples, getter, from) || after(samples, getter, from);
  const b = at(samples, getter, to);
  if (!a || !b || b.t <= a.t) return null;
  return getter(b) - getter(a);
}

// Rate in bit/s of a byte counter over [from, to].
function rateBetween(samples, getter, from, to) {
  const a = at(samples, getter, from) || after(samples, getter, from);
  const b = at(samples, getter, to);
  if (!a || !b || b.t - a.t < 200) return null;
  return ((getter(b) - getter(a)) * 8 * 1000) / (b.t - a.t);
}

// [{t, bps}]: at each sample, the rate over the last >= windowMs.
function slidingRate(samples, getter, windowMs = 1000) {
  const s = samples.filter((x) => getter(x) !== null && getter(x) !== undefined);
  const out = [];
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    while (j + 1 < i && s[i].t - s[j + 1].t >= windowMs) j++;
    if (s[i].t - s[j].t < windowMs) continue;
    out.push({ t: s[i].t, bps: ((getter(s[i]) - getter(s[j])) * 8 * 1000) / (s[i].t - s[j].t) });
  }
  return out;
}

// Value series of a gauge: [{t, v}].
function gauge(samples, getter) {
  return samples.filter((x) => num(getter(x)) !== null).map((x) => ({ t: x.t, v: getter(x) }));
}

// ms from t0 to the first point at or after t0 (and before `until`) whose
// value (p.bps or p.v) matches pred; null if none.
function firstAfter(series, t0, pred, until = Infinity) {
  for (const p of series) {
    if (p.t < t0 || p.t > until) continue;
    if (pred(p.bps !== undefined ? p.bps : p.v)) return p.t - t0;
  }
  return null;
}

// n per-second values from t0: the counter's change in each second divided
// by the seconds between the samples that bound it (so: per second).
function perSecond(samples, getter, t0, n, scale = 1) {
  const r = [];
  for (let k = 0; k < n; k++) {
    const a = at(samples, getter, t0 + k * 1000);
    const b = at(samples, getter, t0 + (k + 1) * 1000);
    if (!a || !b || b.t <= a.t) r.push(null);
    else r.push(((getter(b) - getter(a)) * scale * 1000) / (b.t - a.t));
  }
  return r;
}

// Frames decoded in each second from t0 (sample-bounded, not divided: 0
// means no frame decoded between the samples bounding that second).
function framesPerSecondBuckets(samples, t0, n) {
  const g = getters.framesDecoded;
  const r = [];
  for (let k = 0; k < n; k++) {
    const a = at(samples, g, t0 + k * 1000);
    const b = at(samples, g, t0 + (k + 1) * 1000);
    r.push(a && b ? g(b) - g(a) : null);
  }
  return r;
}

// Freezes in [from, to]: framesDecoded unchanged over consecutive samples
// spanning more than minMs. [{start (ms after from), dur}].
function freezes(samples, from, to, minMs = 1000) {
  const g = getters.framesDecoded;
  const s = samples.filter((x) => g(x) !== null && x.t <= to);
  const out = [];
  let lastChange = null;
  let lastVal = null;
  let prevT = null;
  for (const x of s) {
    if (lastVal === null || g(x) !== lastVal) {
      if (lastChange !== null && prevT - lastChange > minMs && prevT >= from) {
        out.push({ start: Math.max(lastChange, from) - from, dur: prevT - Math.max(lastChange, from) });
      }
      lastChange = x.t;
      lastVal = g(x);
    }
    prevT = x.t;
  }
  if (lastChange !== null && prevT !== null && prevT - lastChange > minMs && prevT >= from) {
    out.push({ start: Math.max(lastChange, from) - from, dur: prevT - Math.max(lastChange, from), ongoing: true });
  }
  return out.filter((f) => f.dur > minMs);
}

// Median of the frames decoded in each whole second of [from, to] (a frame
// rate that counts the seconds with none: Chromium leaves framesPerSecond
// out while nothing is decoded).
function fpsMedian(samples, from, to) {
  return median(framesPerSecondBuckets(samples, from, Math.floor((to - from) / 1000)));
}

function median(xs) {
  const a = xs.filter((x) => num(x) !== null).sort((p, q) => p - q);
  if (!a.length) return null;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

function countBy(xs) {
  const r = {};
  for (const x of xs) if (x !== null && x !== undefined) r[x] = (r[x] || 0) + 1;
  return r;
}

const kbps = (b) => (b === null || b === undefined ? null : Math.round(b / 1000));

// ---- sessions ----

const PRESENTER = {
  direction: 'sendonly',
  audio: true,
  video: { width: 640, height: 480, frameRate: 30 },
  videoCodec: 'VP8',
  degradationPreference: 'maintain-resolution',
};

// Launches the browsers (presenter in pub, viewers in their namespaces) and
// connects them through fluo (mode 'fluo': one2many's calls on `client`) or
// straight (mode 'direct': one presenter page per viewer).
async function openSession({ lab, mode, client, viewers, clip = ensureClip() }) {
  const sess = {
    mode,
    browsers: [],
    presenters: [], // [{name, peer, viewer}] (one in fluo mode)
    viewers: [], // [{name, peer, ep, sig}]
    pipeline: null,
    presenterEp: null,
    sdp: {},
    t0: null,
  };
  const closeAll = async () => {
    if (sess.pipeline) await sess.pipeline.release().catch(() => {});
    sess.pipeline = null;
    for (const b of sess.browsers) await b.close().catch(() => {});
    sess.browsers = [];
  };
  sess.close = closeAll;
  try {
    const pubB = await launchBrowser({ namespace: lab.ns.pub, fakeVideoFile: clip });
    sess.browsers.push(pubB);
    const vB = {};
    for (const v of viewers) {
      vB[v] = await launchBrowser({ namespace: lab.ns[v] });
      sess.browsers.push(vB[v]);
    }
    sess.chromium = pubB.version;
    if (mode === 'fluo') {
      const presenter = await pubB.newPeer({ name: 'presenter', ...PRESENTER });
      sess.presenters.push({ name: 'presenter', peer: presenter, viewer: null });
      const psig = new Signalling(presenter);
      const offer = await presenter.createOffer();
      sess.pipeline = await client.create('MediaPipeline');
      const pep = await sess.pipeline.create('WebRtcEndpoint');
      sess.presenterEp = pep;
      psig.attach(pep);
      psig.markProcessOffer();
      const [answer] = await withTimeout(Promise.all([pep.processOffer(offer), pep.gatherCandidates()]), 20000, 'presenter processOffer');
      await psig.applyRemote('answer', answer);
      sess.sdp.presenterOffer = offer;
      sess.sdp.presenterAnswer = answer;
      await presenter.waitFor((s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.packetsSent > 0, 20000, {
        what: 'presenter connected and sending',
      });
      for (const name of viewers) {
        const peer = await vB[name].newPeer({ name, direction: 'recvonly', videoCodec: 'VP8' });
        const sig = new Signalling(peer);
        const voffer = await peer.createOffer();
        const ep = await sess.pipeline.create('WebRtcEndpoint');
        sig.attach(ep);
        sig.markProcessOffer();
        const vanswer = await ep.processOffer(voffer);
        const connectP = pep.connect(ep);
        const gatherP = ep.gatherCandidates();
        await withTimeout(connectP, 10000, `${name}: presenter.connect(viewer)`);
        await sig.applyRemote('answer', vanswer);
        await withTimeout(gatherP, 10000, `${name}: gatherCandidates`);
        sess.viewers.push({ name, peer, ep, sig });
        sess.sdp[`${name}Offer`] = voffer;
        sess.sdp[`${name}Answer`] = vanswer;
      }
    } else {
      for (const name of viewers) {
        const pname = `presenter-${name}`;
        const presenter = await pubB.newPeer({ name: pname, ...PRESENTER });
        const peer = await vB[name].newPeer({ name, direction: 'recvonly', videoCodec: 'VP8' });
        const { offer, answer } = await connectPeers(presenter, peer);
        sess.presenters.push({ name: pname, peer: presenter, viewer: name });
        sess.viewers.push({ name, peer, ep: null, sig: null });
        sess.sdp[`${pname}Offer`] = offer;
        sess.sdp[`${name}Answer`] = answer;
      }
    }
  } catch (e) {
    await closeAll();
    throw e;
  }

  // Every viewer decoding at 640 wide, every presenter sending.
  sess.waitFlowing = async (timeoutMs = 30000) => {
    for (const v of sess.viewers) {
      await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30, timeoutMs, { what: `${v.name} decoding` });
    }
    for (const p of sess.presenters) sess[`degradation:${p.name}`] = await p.peer.senderParams();
  };

  sess.allPeers = () => [...sess.presenters.map((p) => p), ...sess.viewers.map((v) => v)];

  sess.startSampling = async (ms = 250) => {
    sess.t0 = Date.now();
    for (const p of sess.allPeers()) await p.peer.startSampling(ms);
  };

  // fluo's own figures (getStats of each endpoint, video), with a time.
  sess.fluoStats = async () => {
    if (mode !== 'fluo') return null;
    const r = { t: Date.now() };
    const pick = async (name, ep) => {
      r[name] = await fluoVideoStats(ep);
    };
    await pick('presenter', sess.presenterEp);
    for (const v of sess.viewers) await pick(v.name, v.ep);
    return r;
  };

  sess.collect = async () => {
    const d = {};
    for (const p of sess.allPeers()) {
      await p.peer.stopSampling().catch(() => {});
      d[p.name] = await p.peer.takeSamples();
    }
    return d;
  };

  return sess;
}

// What crosses the router for `seconds` (net/rtp_census.py in the rt
// namespace, on every link): RTCP types (first packet of each datagram) and
// RTP header extension ids, per direction, addresses named by role.
function rtpCensus(lab, seconds) {
  const { execFile } = require('node:child_process');
  const script = path.join(__dirname, '..', 'net', 'rtp_census.py');
  const names = Object.entries(lab.addr).map(([role, a]) => `${a}=${role}`);
  const ifaces = Object.keys(lab.addr).map((r) => `rt-${r}`).join(',');
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', lab.ns.rt, 'python3', script, ifaces, String(seconds), ...names],
      { timeout: (seconds + 10) * 1000 }, (err, stdout, stderr) => {
        if (err) resolve({ error: `${err.message} ${stderr}`.trim() });
        else {
          try {
            resolve(JSON.parse(stdout));
          } catch (e) {
            resolve({ error: `rtp_census: ${e.message}: ${stdout} ${stderr}` });
          }
        }
      });
  });
}

// The RTP header extensions and RTCP feedback of the video m-line of an SDP.
function videoFeatures(sdp) {
  if (!sdp) return null;
  const m = sdp.split(/\r?\nm=/).find((x) => x.startsWith('video'));
  if (!m) return null;
  const ext = [...m.matchAll(/a=extmap:\d+(?:\/\w+)? (\S+)/g)].map((x) => x[1].replace(/^.*\/([^/]+)$/, '$1'));
  const fb = [...new Set([...m.matchAll(/a=rtcp-fb:(?:\*|\d+) ([^\r\n]+)/g)].map((x) => x[1].trim()))];
  const codecs = [...m.matchAll(/a=rtpmap:\d+ ([^/\s]+)/g)].map((x) => x[1]);
  return { ext, fb, codecs: [...new Set(codecs)] };
}

module.exports = {
  makeClip,
  fluoVideoStats,
  startFluo,
  stopFluo,
  CLIP,
  ensureClip,
  getters,
  at,
  after,
  inRange,
  delta,
  rateBetween,
  slidingRate,
  gauge,
  firstAfter,
  perSecond,
  framesPerSecondBuckets,
  freezes,
  fpsMedian,
  median,
  countBy,
  kbps,
  openSession,
  rtpCensus,
  videoFeatures,
  sleep,
};
