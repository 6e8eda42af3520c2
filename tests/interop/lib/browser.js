'use strict';
// Headless Chromium as the browser side of WebRTC tests: Debian's
// /usr/bin/chromium driven by the npm playwright-core (which never downloads
// a browser of its own), fake camera + microphone, one page per peer, pages
// served from a Node http server on 127.0.0.1 (a secure context, so
// getUserMedia works).
//
//   const { launchBrowser } = require('./lib/browser');
//   const b = await launchBrowser();
//   const peer = await b.newPeer({ audio: true, video: true, direction: 'sendrecv',
//                                  videoCodec: 'VP8', iceServers: [], iceTransportPolicy: 'all' });
//   peer.onIceCandidate((c) => ...);          // {candidate, sdpMid, sdpMLineIndex}, trickled
//   const offer = await peer.createOffer();   // SDP after setLocalDescription
//   await peer.setRemoteDescription('answer', sdpAnswer);
//   await peer.addIceCandidate({ candidate, sdpMid, sdpMLineIndex });
//   const s = await peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 100, 20000);
//   await peer.screenshot('build/screenshots/x.png');
//   await peer.unmuteRemote();                // for inbound audioLevel/totalAudioEnergy
//   await peer.close(); await b.close();
//
// When the other side offers: `await peer.setRemoteDescription('offer', sdp)`
// then `await peer.createAnswer()`.
//
// peer.stats() summary (see summarize() in the page below):
//   { connectionState, iceConnectionState, iceGatheringState, signalingState,
//     inVideo, inAudio, outVideo, outAudio   (first entry of each kind or null)
//     inVideos, inAudios, outVideos, outAudios (all entries),
//     pair: {localType, remoteType, localAddress, localPort, remoteAddress,
//            remotePort, protocol, localRelayProtocol, state} or null,
//     transport: {dtlsState, dtlsRole, tlsVersion, srtpCipher, dtlsCipher,
//                 iceRole} or null,
//     timeline: {connectedAt, iceConnectedAt, firstFrameAt, ...} (Date.now() ms) }
//   inVideo:  {framesDecoded, frameWidth, frameHeight, framesPerSecond, packetsReceived,
//              bytesReceived, packetsLost, nackCount, pliCount, freezeCount,
//              totalFreezesDuration, retransmittedPacketsReceived, mimeType, ssrc, ...}
//   inAudio:  {packetsReceived, bytesReceived, packetsLost, totalSamplesReceived,
//              audioLevel, mimeType, ...}
//   outVideo: {frameWidth, frameHeight, framesEncoded, packetsSent, bytesSent,
//              headerBytesSent, nackCount, retransmittedPacketsSent, targetBitrate,
//              qualityLimitationReason, mimeType, ...}
//   outAudio: {packetsSent, bytesSent, mimeType, ...}
//   pair also has availableOutgoingBitrate, availableIncomingBitrate,
//   currentRoundTripTime.
//
// Sampling in the page (timed there, not by round trips to Node):
// `await peer.startSampling(250)` then `await peer.takeSamples()` gives the
// stats() summaries since the last call (without the per-kind arrays), each
// with t = the page's Date.now().
//
// In a network namespace (tests/interop/net): launchBrowser({ namespace,
// fakeVideoFile }) runs Chromium through `ip netns exec` and serves the page
// from memory at http://localhost:<port> (see launchBrowser).
//
// Env: FLUO_CHROMIUM (binary, default /usr/bin/chromium),
// FLUO_BROWSER_VERBOSE=1 (copy the pages' console to stderr).

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const CHROMIUM = process.env.FLUO_CHROMIUM || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Keep timers and rendering of background pages at full speed: several
  // peers run in pages of which only one is "visible".
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  '--autoplay-policy=no-user-gesture-required',
];

// Served at /. Everything runs in this page; Node calls window.fluo.* through
// page.evaluate and receives candidates through the exposed __fluoIce.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>fluo peer</title>
<style>body{margin:0;background:#000}video{display:block;width:640px;height:480px;background:#000}</style>
</head><body>
<video id="remote" autoplay muted playsinline width="640" height="480"></video>
<script>
'use strict';
(() => {
  const timeline = {};
  const events = [];
  let pc = null;
  let cfg = null;
  let local = null;
  const remote = new MediaStream();
  const mark = (k) => { if (timeline[k] === undefined) timeline[k] = Date.now(); };
  const log = (type, data) => events.push({ type, data, t: Date.now() });

  function prefer(kind, codec) {
    if (!codec) return null;
    const caps = RTCRtpReceiver.getCapabilities(kind);
    if (!caps) return null;
    const want = kind + '/' + codec.toLowerCase();
    let main = caps.codecs.filter((c) => c.mimeType.toLowerCase() === want);
    if (!main.length) throw new Error('codec ' + codec + ' not supported for receiving ' + kind);
    if (codec.toLowerCase() === 'h264') {
      // Constrained baseline, packetization-mode=1 first (what everybody speaks).
      const score = (c) => {
        const f = c.sdpFmtpLine || '';
        return (/profile-level-id=42e0/.test(f) ? 2 : 0) + (/packetization-mode=1/.test(f) ? 1 : 0);
      };
      main = main.slice().sort((a, b) => score(b) - score(a));
    }
    const rtx = caps.codecs.filter((c) => /\\/rtx$/i.test(c.mimeType));
    return main.concat(rtx);
  }

  async function init(c) {
    cfg = c;
    pc = new RTCPeerConnection({
      iceServers: c.iceServers || [],
      iceTransportPolicy: c.iceTransportPolicy || 'all',
      bundlePolicy: c.bundlePolicy || 'balanced',
    });
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) {
        window.__fluoIce({ candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid,
                           sdpMLineIndex: e.candidate.sdpMLineIndex });
      } else if (!e.candidate) {
        mark('gatheringDoneAt');
        window.__fluoIce(null);
      }
    };
    pc.onconnectionstatechange = () => {
      log('connectionState', pc.connectionState);
      if (pc.connectionState === 'connected') mark('connectedAt');
      if (pc.connectionState === 'failed') mark('failedAt');
    };
    pc.oniceconnectionstatechange = () => {
      log('iceConnectionState', pc.iceConnectionState);
      if (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed') mark('iceConnectedAt');
    };
    pc.ondatachannel = (e) => { log('datachannel', e.channel.label); dcWatch(e.channel, true); };
    pc.ontrack = (e) => {
      log('track', e.track.kind);
      mark(e.track.kind + 'TrackAt');
      remote.addTrack(e.track);
      const v = document.getElementById('remote');
      if (v.srcObject !== remote) v.srcObject = remote;
      v.play().catch(() => {});
    };
    const dir = c.direction || 'sendrecv';
    if (dir !== 'recvonly' && (c.audio || c.video)) {
      local = await navigator.mediaDevices.getUserMedia({
        audio: typeof c.audio === 'object' ? c.audio : !!c.audio,
        video: c.video ? (typeof c.video === 'object' ? c.video : { width: 640, height: 480 }) : false,
      });
    }
    return { sendCodecs: RTCRtpSender.getCapabilities('video').codecs.map((x) => x.mimeType + ' ' + (x.sdpFmtpLine || '')) };
  }

  // The offerer's transceivers, in a fixed order: audio first, then video
  // (as kurento-utils). An answerer gets its transceivers from the offer.
  function addTransceivers() {
    const dir = cfg.direction || 'sendrecv';
    for (const kind of ['audio', 'video']) {
      if (!cfg[kind]) continue;
      const track = local && local.getTracks().find((t) => t.kind === kind);
      // cfg.sendEncodings: the video sender's encodings (simulcast layers:
      // [{ rid, scaleResolutionDownBy, maxBitrate }, ...])
      const init = { direction: dir };
      if (kind === 'video' && cfg.sendEncodings) init.sendEncodings = cfg.sendEncodings;
      const tr = track
        ? pc.addTransceiver(track, { ...init, streams: [local] })
        : pc.addTransceiver(kind, init);
      const pref = prefer(kind, kind === 'video' ? cfg.videoCodec : cfg.audioCodec);
      if (pref) tr.setCodecPreferences(pref);
    }
  }

  // cfg.degradationPreference ('maintain-resolution', ...) on the video
  // sender, through RTCRtpSender.setParameters; the outcome is in
  // senderParams().
  let degradation = null;
  async function applySenderParams() {
    if (!cfg.degradationPreference || degradation) return;
    for (const tr of pc.getTransceivers()) {
      const sd = tr.sender;
      if (!sd.track || sd.track.kind !== 'video') continue;
      try {
        const p = sd.getParameters();
        p.degradationPreference = cfg.degradationPreference;
        await sd.setParameters(p);
        degradation = { wanted: cfg.degradationPreference, readBack: sd.getParameters().degradationPreference };
      } catch (e) {
        degradation = { wanted: cfg.degradationPreference, error: String(e) };
      }
    }
  }

  async function createOffer() {
    if (!pc.getTransceivers().length) addTransceivers();
    const o = await pc.createOffer();
    await pc.setLocalDescription(o);
    await applySenderParams();
    return pc.localDescription.sdp;
  }

  async function createAnswer() {
    // An answerer's transceivers come from the offer: apply the preferences
    // and direction to them now.
    for (const tr of pc.getTransceivers()) {
      const kind = tr.receiver.track.kind;
      const pref = prefer(kind, kind === 'video' ? cfg.videoCodec : cfg.audioCodec);
      if (pref) tr.setCodecPreferences(pref);
      const track = local && local.getTracks().find((t) => t.kind === kind);
      if (track && !tr.sender.track) {
        await tr.sender.replaceTrack(track);
        tr.sender.setStreams(local);
      }
      if (cfg.direction) tr.direction = cfg.direction;
    }
    const a = await pc.createAnswer();
    await pc.setLocalDescription(a);
    await applySenderParams();
    return pc.localDescription.sdp;
  }

  async function setRemote(type, sdp) {
    await pc.setRemoteDescription({ type, sdp });
  }

  async function addIce(c) {
    await pc.addIceCandidate(c);
  }

  function pick(o, keys) {
    const r = {};
    for (const k of keys) if (o[k] !== undefined) r[k] = o[k];
    return r;
  }

  async function stats() {
    const rep = await pc.getStats();
    const all = new Map();
    rep.forEach((s) => all.set(s.id, s));
    const mime = (s) => { const c = s.codecId && all.get(s.codecId); return c ? c.mimeType : undefined; };
    const out = {
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      iceGatheringState: pc.iceGatheringState,
      signalingState: pc.signalingState,
      inVideos: [], inAudios: [], outVideos: [], outAudios: [],
      pair: null, transport: null,
      timeline: Object.assign({}, timeline),
    };
    const common = ['ssrc', 'mid', 'trackIdentifier'];
    for (const s of all.values()) {
      const kind = s.kind || s.mediaType;
      if (s.type === 'inbound-rtp' && kind === 'video') {
        out.inVideos.push(Object.assign(pick(s, common.concat(['framesDecoded', 'framesReceived', 'framesDropped',
          'frameWidth', 'frameHeight', 'framesPerSecond', 'packetsReceived', 'bytesReceived', 'packetsLost',
          'keyFramesDecoded', 'nackCount', 'pliCount', 'firCount', 'jitter', 'decoderImplementation',
          'freezeCount', 'totalFreezesDuration', 'pauseCount', 'totalPausesDuration', 'headerBytesReceived',
          'retransmittedPacketsReceived', 'retransmittedBytesReceived', 'rtxSsrc', 'jitterBufferDelay',
          'jitterBufferEmittedCount'])),
          { mimeType: mime(s) }));
      } else if (s.type === 'inbound-rtp' && kind === 'audio') {
        out.inAudios.push(Object.assign(pick(s, common.concat(['packetsReceived', 'bytesReceived', 'packetsLost',
          'totalSamplesReceived', 'audioLevel', 'totalAudioEnergy', 'concealedSamples', 'jitter'])),
          { mimeType: mime(s) }));
      } else if (s.type === 'outbound-rtp' && kind === 'video') {
        out.outVideos.push(Object.assign(pick(s, common.concat(['frameWidth', 'frameHeight', 'framesEncoded',
          'framesSent', 'framesPerSecond', 'packetsSent', 'bytesSent', 'keyFramesEncoded', 'nackCount',
          'pliCount', 'firCount', 'encoderImplementation', 'qualityLimitationReason', 'rid',
          'headerBytesSent', 'retransmittedPacketsSent', 'retransmittedBytesSent', 'targetBitrate',
          'qualityLimitationResolutionChanges', 'totalPacketSendDelay', 'rtxSsrc'])),
          { mimeType: mime(s) }));
      } else if (s.type === 'outbound-rtp' && kind === 'audio') {
        out.outAudios.push(Object.assign(pick(s, common.concat(['packetsSent', 'bytesSent', 'headerBytesSent',
          'targetBitrate'])), { mimeType: mime(s) }));
      } else if (s.type === 'transport') {
        out.transport = pick(s, ['dtlsState', 'dtlsRole', 'tlsVersion', 'srtpCipher', 'dtlsCipher', 'iceRole',
          'iceState', 'selectedCandidatePairChanges']);
        const p = s.selectedCandidatePairId && all.get(s.selectedCandidatePairId);
        if (p) {
          const l = all.get(p.localCandidateId) || {};
          const r = all.get(p.remoteCandidateId) || {};
          out.pair = {
            state: p.state, nominated: p.nominated,
            localType: l.candidateType, remoteType: r.candidateType,
            localAddress: l.address, localPort: l.port, remoteAddress: r.address, remotePort: r.port,
            protocol: l.protocol, localRelayProtocol: l.relayProtocol,
            bytesSent: p.bytesSent, bytesReceived: p.bytesReceived,
            availableOutgoingBitrate: p.availableOutgoingBitrate,
            availableIncomingBitrate: p.availableIncomingBitrate,
            currentRoundTripTime: p.currentRoundTripTime,
          };
        }
      }
    }
    // Stable order: by ssrc.
    for (const k of ['inVideos', 'inAudios', 'outVideos', 'outAudios']) out[k].sort((a, b) => a.ssrc - b.ssrc);
    out.inVideo = out.inVideos[0] || null;
    out.inAudio = out.inAudios[0] || null;
    out.outVideo = out.outVideos[0] || null;
    out.outAudio = out.outAudios[0] || null;
    return out;
  }

  // The first decoded frame, timed closely: polls getStats every 20 ms from
  // the moment the connection is up.
  function watchFirstFrame() {
    const iv = setInterval(async () => {
      if (!pc || pc.signalingState === 'closed') { clearInterval(iv); return; }
      if (timeline.iceConnectedAt === undefined && timeline.connectedAt === undefined) return;
      try {
        const rep = await pc.getStats();
        rep.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0) mark('firstFrameAt');
        });
        if (timeline.firstFrameAt !== undefined) clearInterval(iv);
      } catch (e) { clearInterval(iv); }
    }, 20);
  }

  // stats() every ms milliseconds into a buffer (the per-kind arrays
  // left out), taken by takeSamples(): timed by the page, not by the
  // round trips to Node.
  let sampler = null;
  let samples = [];
  function startSampling(ms) {
    if (sampler) clearInterval(sampler);
    let busy = false;
    sampler = setInterval(async () => {
      if (busy || !pc || pc.signalingState === 'closed') return;
      busy = true;
      try {
        const s = await stats();
        delete s.inVideos; delete s.inAudios; delete s.outVideos; delete s.outAudios;
        s.t = Date.now();
        samples.push(s);
      } catch (e) { /* closed */ }
      busy = false;
    }, ms);
  }
  function stopSampling() { if (sampler) clearInterval(sampler); sampler = null; }
  function takeSamples() { const r = samples; samples = []; return r; }

  function close() {
    stopSampling();
    if (local) for (const t of local.getTracks()) t.stop();
    if (pc) pc.close();
  }

  // Data channels: made here (dcCreate, before createOffer for the offer to
  // carry them) or announced by the peer (ondatachannel). Each keeps what
  // arrived, in order: {binary, size, sum} (sum: dcSum of the bytes or
  // characters) and, for short text, the text.
  const dcs = [];
  function dcSum(x) {
    let h = 2166136261;
    for (let i = 0; i < x.length; i++) {
      h ^= typeof x === 'string' ? x.charCodeAt(i) : x[i];
      h = Math.imul(h, 16777619) >>> 0;
    }
    return h;
  }
  function dcMake(kind, size, seed) {
    if (kind === 'binary') {
      const b = new Uint8Array(size);
      for (let i = 0; i < size; i++) b[i] = (i * 7 + seed) & 255;
      return b;
    }
    let t = '';
    for (let i = 0; i < size; i++) t += String.fromCharCode(97 + ((i * 7 + seed) % 26));
    return t;
  }
  function dcWatch(ch, remote) {
    ch.binaryType = 'arraybuffer';
    const rec = { ch, remote, state: ch.readyState, messages: [], openedAt: null, closedAt: null };
    dcs.push(rec);
    ch.onopen = () => { rec.state = 'open'; rec.openedAt = Date.now(); };
    ch.onclose = () => { rec.state = 'closed'; rec.closedAt = Date.now(); };
    ch.onmessage = (e) => {
      if (typeof e.data === 'string') {
        rec.messages.push({ binary: false, size: e.data.length, sum: dcSum(e.data),
                            text: e.data.length <= 64 ? e.data : undefined });
      } else {
        const b = new Uint8Array(e.data);
        rec.messages.push({ binary: true, size: b.length, sum: dcSum(b) });
      }
    };
    return rec;
  }
  function dcFind(label) {
    return dcs.find((r) => r.ch.label === label && r.state !== 'closed');
  }
  function dcInfo() {
    return dcs.map((r) => ({ label: r.ch.label, id: r.ch.id, ordered: r.ch.ordered, protocol: r.ch.protocol,
      maxRetransmits: r.ch.maxRetransmits, maxPacketLifeTime: r.ch.maxPacketLifeTime, remote: r.remote,
      state: r.ch.readyState === 'open' ? 'open' : r.state, messages: r.messages, bufferedAmount: r.ch.bufferedAmount }));
  }
  // Sends {kind: 'binary'|'text', size, seed} messages on the channel of
  // that label; returns their sums.
  async function dcSend(label, msgs) {
    const r = dcFind(label);
    if (!r) throw new Error('no data channel ' + label);
    const sums = [];
    for (const m of msgs) {
      const d = m.text !== undefined ? m.text : dcMake(m.kind, m.size, m.seed || 0);
      while (r.ch.bufferedAmount > 1 << 20) await new Promise((res) => setTimeout(res, 10));
      r.ch.send(d);
      sums.push(dcSum(d));
    }
    return sums;
  }

  window.fluo = {
    dcCreate: (label, opts) => { dcWatch(pc.createDataChannel(label, opts || {}), false); return true; },
    dcSend,
    dcInfo,
    dcClose: (label) => { const r = dcFind(label); if (r) r.ch.close(); return !!r; },
    init: async (c) => { const r = await init(c); watchFirstFrame(); return r; },
    createOffer, createAnswer, setRemote, addIce, stats, close,
    startSampling, stopSampling, takeSamples,
    senderParams: () => degradation,
    localSdp: () => pc && pc.localDescription && pc.localDescription.sdp,
    remoteSdp: () => pc && pc.remoteDescription && pc.remoteDescription.sdp,
    events: () => events.slice(),
    caps: () => ({
      sendVideo: RTCRtpSender.getCapabilities('video').codecs.map((x) => x.mimeType + ' ' + (x.sdpFmtpLine || '')),
      recvVideo: RTCRtpReceiver.getCapabilities('video').codecs.map((x) => x.mimeType + ' ' + (x.sdpFmtpLine || '')),
    }),
  };
})();
</script></body></html>`;

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function startPageServer() {
  const srv = http.createServer((req, res) => {
    if (req.url === '/' || req.url.startsWith('/?') || req.url.startsWith('/peer')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(PAGE);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

class Peer {
  constructor(page, name, opts) {
    this.page = page;
    this.name = name;
    this.opts = opts;
    this.candidates = []; // every local candidate trickled so far
    this.gatheringDone = false;
    this._iceCbs = [];
    this._doneWaiters = [];
    this.closed = false;
    this.opTimeoutMs = opts.opTimeoutMs || 15000;
  }

  _onIce(c) {
    if (c === null) {
      this.gatheringDone = true;
      for (const w of this._doneWaiters) w();
      this._doneWaiters = [];
      return;
    }
    this.candidates.push(c);
    for (const cb of this._iceCbs) cb(c);
  }

  // cb({candidate, sdpMid, sdpMLineIndex}) for every local candidate, those
  // already gathered first.
  onIceCandidate(cb) {
    for (const c of this.candidates) cb(c);
    this._iceCbs.push(cb);
  }

  // Resolves once the browser signalled the end of gathering.
  waitGatheringDone(timeoutMs = 15000) {
    if (this.gatheringDone) return Promise.resolve();
    return withTimeout(new Promise((r) => this._doneWaiters.push(r)), timeoutMs, `${this.name}: ICE gathering`);
  }

  _call(fn, arg, what) {
    return withTimeout(this.page.evaluate(fn, arg), this.opTimeoutMs, `${this.name}: ${what}`);
  }

  createOffer() {
    return this._call(() => window.fluo.createOffer(), undefined, 'createOffer');
  }

  createAnswer() {
    return this._call(() => window.fluo.createAnswer(), undefined, 'createAnswer');
  }

  setRemoteDescription(type, sdp) {
    return this._call(([t, s]) => window.fluo.setRemote(t, s), [type, sdp], `setRemoteDescription(${type})`);
  }

  addIceCandidate(c) {
    const cand = { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
    return this._call((x) => window.fluo.addIce(x), cand, 'addIceCandidate');
  }

  stats() {
    return this._call(() => window.fluo.stats(), undefined, 'stats');
  }

  // Data channels (see dcWatch in the page): create one (before createOffer),
  // send messages [{kind, size, seed} | {text}] (resolves to their sums),
  // list them with what they received, close one.
  dcCreate(label, opts = {}) {
    return this._call(([l, o]) => window.fluo.dcCreate(l, o), [label, opts], `dcCreate(${label})`);
  }

  dcSend(label, msgs) {
    return this._call(([l, m]) => window.fluo.dcSend(l, m), [label, msgs], `dcSend(${label})`);
  }

  dcInfo() {
    return this._call(() => window.fluo.dcInfo(), undefined, 'dcInfo');
  }

  dcClose(label) {
    return this._call((l) => window.fluo.dcClose(l), label, `dcClose(${label})`);
  }

  events() {
    return this._call(() => window.fluo.events(), undefined, 'events');
  }

  capabilities() {
    return this._call(() => window.fluo.caps(), undefined, 'capabilities');
  }

  // Samples stats() every ms in the page (see takeSamples).
  startSampling(ms = 250) {
    return this._call((x) => window.fluo.startSampling(x), ms, 'startSampling');
  }

  stopSampling() {
    return this._call(() => window.fluo.stopSampling(), undefined, 'stopSampling');
  }

  // The samples taken since the last call: stats() summaries (without the
  // per-kind arrays) with t = the page's Date.now().
  takeSamples() {
    return this._call(() => window.fluo.takeSamples(), undefined, 'takeSamples');
  }

  // { wanted, readBack } or { wanted, error } for the degradationPreference
  // option; null without it.
  senderParams() {
    return this._call(() => window.fluo.senderParams(), undefined, 'senderParams');
  }

  localSdp() {
    return this._call(() => window.fluo.localSdp(), undefined, 'localSdp');
  }

  remoteSdp() {
    return this._call(() => window.fluo.remoteSdp(), undefined, 'remoteSdp');
  }

  // Polls stats() until pred(stats) is truthy; resolves with those stats.
  // Rejects after timeoutMs with the last stats in the message.
  async waitFor(pred, timeoutMs = 20000, { intervalMs = 200, what = 'condition' } = {}) {
    const end = Date.now() + timeoutMs;
    let last = null;
    for (;;) {
      last = await this.stats();
      if (pred(last)) return last;
      if (Date.now() >= end) break;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    const brief = { ...last };
    delete brief.inVideos;
    delete brief.inAudios;
    delete brief.outVideos;
    delete brief.outAudios;
    throw new Error(`${this.name}: ${what} not met within ${timeoutMs} ms; last stats: ${JSON.stringify(brief)}`);
  }

  // Unmutes the remote <video> (muted by default) and plays it: Chromium
  // computes the inbound audioLevel and totalAudioEnergy only for audio
  // that is played out; they stay 0 while the element is muted.
  unmuteRemote() {
    return this._call(
      () => {
        const v = document.getElementById('remote');
        v.muted = false;
        return v.play().then(() => !v.muted);
      },
      undefined,
      'unmuteRemote',
    );
  }

  // PNG of the remote <video> element.
  async screenshot(file) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return withTimeout(this.page.locator('#remote').screenshot({ path: file }), 15000, `${this.name}: screenshot`);
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      await withTimeout(this.page.evaluate(() => window.fluo.close()), 5000, 'close');
    } catch (_) {
      /* page gone */
    }
    try {
      await this.page.context().close();
    } catch (_) {
      /* browser gone */
    }
  }
}

// opts: { executablePath, args (extra), headless (default true), mdns (default
// false: host candidates show real addresses even on pages that never called
// getUserMedia, e.g. recvonly peers),
//   namespace: a network namespace (ip netns) to run Chromium in, through a
//     generated wrapper script `exec ip netns exec NS chromium "$@"`
//     (playwright talks to it over a pipe, so that works across namespaces);
//     implies routePage and drops --allow-loopback-in-peer-connection (the
//     peers gather the namespace's own addresses),
//   routePage: serve the harness page from memory with page routing at
//     http://localhost:<port> (still a secure context) instead of the http
//     server on 127.0.0.1, which another namespace cannot reach,
//   fakeVideoFile / fakeAudioFile: a Y4M / WAV file for the fake camera /
//     microphone (--use-file-for-fake-{video,audio}-capture),
//   extraArgs: more Chromium flags (as args) }
async function launchBrowser(opts = {}) {
  // Required lazily so that a missing module fails the test that needs it.
  const { chromium } = require('playwright-core');
  const binary = opts.executablePath || CHROMIUM;
  if (!fs.existsSync(binary)) throw new Error(`${binary} not found (install: sh tests/tools/deps.sh)`);
  let args = [...CHROMIUM_ARGS, ...(opts.args || []), ...(opts.extraArgs || [])];
  if (!opts.mdns) args.push('--disable-features=WebRtcHideLocalIpsWithMdns');
  if (opts.fakeVideoFile) args.push(`--use-file-for-fake-video-capture=${path.resolve(opts.fakeVideoFile)}`);
  if (opts.fakeAudioFile) args.push(`--use-file-for-fake-audio-capture=${path.resolve(opts.fakeAudioFile)}`);
  let executablePath = binary;
  let wrapDir = null;
  if (opts.namespace) {
    if (!/^[A-Za-z0-9_.-]+$/.test(opts.namespace)) throw new Error(`bad namespace name ${opts.namespace}`);
    args = args.filter((a) => a !== '--allow-loopback-in-peer-connection');
    // named after the namespace: lib/netlab.js deletes it with the
    // namespace if this process dies without closing the browser
    wrapDir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), `fluo-chromium-${opts.namespace}-`));
    executablePath = path.join(wrapDir, 'chromium');
    fs.writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${opts.namespace} ${binary} "$@"\n`, { mode: 0o755 });
  }
  const routePage = opts.routePage !== undefined ? !!opts.routePage : !!opts.namespace;
  const server = routePage ? null : await startPageServer();
  const cleanupFiles = () => {
    if (wrapDir) fs.rmSync(wrapDir, { recursive: true, force: true });
  };
  let browser;
  try {
    browser = await chromium.launch({
      executablePath,
      headless: opts.headless !== false,
      args,
      timeout: 30000,
    });
  } catch (e) {
    if (server) server.close();
    cleanupFiles();
    throw e;
  }
  const base = server
    ? `http://127.0.0.1:${server.address().port}`
    : `http://localhost:${20000 + Math.floor(Math.random() * 40000)}`;
  const peers = [];
  let n = 0;
  return {
    browser,
    base,
    peers,
    namespace: opts.namespace || null,
    version: browser.version(),
    // opts: { name, audio (true, or getUserMedia's audio constraints, e.g.
    //         { noiseSuppression: false }), video (true, or its video
    //         constraints), direction ('sendrecv'),
    //         videoCodec (null: all), audioCodec, iceServers, iceTransportPolicy,
    //         degradationPreference (set on the video sender after
    //         setLocalDescription; see peer.senderParams()) }
    async newPeer(popts = {}) {
      const o = { audio: true, video: true, direction: 'sendrecv', ...popts };
      const name = o.name || `peer${n++}`;
      const context = await browser.newContext({ viewport: { width: 660, height: 500 } });
      if (!server) {
        await context.route(`${base}/**`, (route) =>
          route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', headers: { 'cache-control': 'no-store' }, body: PAGE }),
        );
      }
      const page = await context.newPage();
      const peer = new Peer(page, name, o);
      peers.push(peer);
      if (process.env.FLUO_BROWSER_VERBOSE) {
        page.on('console', (m) => process.stderr.write(`[${name}] ${m.type()}: ${m.text()}\n`));
      }
      page.on('pageerror', (e) => process.stderr.write(`[${name}] page error: ${e.message}\n`));
      await page.exposeFunction('__fluoIce', (c) => peer._onIce(c));
      await page.goto(`${base}/peer/${encodeURIComponent(name)}`);
      const cfg = {
        audio: o.audio,
        video: o.video,
        direction: o.direction,
        videoCodec: o.videoCodec || null,
        audioCodec: o.audioCodec || null,
        iceServers: o.iceServers || [],
        iceTransportPolicy: o.iceTransportPolicy || 'all',
        bundlePolicy: o.bundlePolicy,
        degradationPreference: o.degradationPreference || null,
        sendEncodings: o.sendEncodings || null,
      };
      await withTimeout(
        page.evaluate((c) => window.fluo.init(c), cfg),
        15000,
        `${name}: init`,
      );
      return peer;
    },
    async close() {
      for (const p of peers) await p.close();
      try {
        await withTimeout(browser.close(), 10000, 'browser.close');
      } catch (_) {
        /* killed below by playwright on exit */
      }
      if (server) await new Promise((r) => server.close(r));
      cleanupFiles();
    },
  };
}

// Connects two harness peers to each other (a offers, b answers), passing
// candidates in Node. Used by the harness self-test.
async function connectPeers(a, b) {
  a.onIceCandidate((c) => b.addIceCandidate(c).catch(() => {}));
  b.onIceCandidate((c) => a.addIceCandidate(c).catch(() => {}));
  const offer = await a.createOffer();
  await b.setRemoteDescription('offer', offer);
  const answer = await b.createAnswer();
  await a.setRemoteDescription('answer', answer);
  return { offer, answer };
}

// Polls until `receiver` decodes video at the resolution `sender` encodes it
// (both read close together); resolves [senderStats, receiverStats], rejects
// with both sizes after timeoutMs.
async function waitSameResolution(sender, receiver, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  let s, r;
  for (;;) {
    [s, r] = await Promise.all([sender.stats(), receiver.stats()]);
    const o = s.outVideo;
    const i = r.inVideo;
    if (o && i && o.frameWidth && o.frameWidth === i.frameWidth && o.frameHeight === i.frameHeight) return [s, r];
    if (Date.now() >= end) {
      throw new Error(
        `${receiver.name} decodes ${i && i.frameWidth}x${i && i.frameHeight}, ` +
          `${sender.name} sends ${o && o.frameWidth}x${o && o.frameHeight} (for ${timeoutMs} ms)`,
      );
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

// Minimal PNG reader (8-bit RGB/RGBA, non-interlaced, as Chromium writes):
// returns { width, height, mean, variance, distinct } over the luma, and
// rgb: the mean [R, G, B] (0-255) over the whole picture; with
// region {x, y, w, h} (pixels), regionRgb: the mean [R, G, B] inside it.
function pngStats(file, { region } = {}) {
  const zlib = require('node:zlib');
  const buf = fs.readFileSync(file);
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error(`${file}: not a PNG`);
  let off = 8;
  let width, height, depth, ctype, interlace;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8];
      ctype = data[9];
      interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const bpp = { 2: 3, 6: 4 }[ctype];
  if (depth !== 8 || !bpp || interlace) throw new Error(`${file}: unsupported PNG (depth ${depth}, type ${ctype})`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  let sum = 0;
  let sum2 = 0;
  const rgb = [0, 0, 0];
  const regionRgb = [0, 0, 0];
  let regionN = 0;
  const seen = new Set();
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp] : 0;
      const b = prev[x];
      const c = x >= bpp ? prev[x - bpp] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[x] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const r = cur[x * bpp];
      const g = cur[x * bpp + 1];
      const bl = cur[x * bpp + 2];
      const l = (r * 299 + g * 587 + bl * 114) / 1000;
      sum += l;
      sum2 += l * l;
      rgb[0] += r;
      rgb[1] += g;
      rgb[2] += bl;
      if (region && x >= region.x && x < region.x + region.w && y >= region.y && y < region.y + region.h) {
        regionRgb[0] += r;
        regionRgb[1] += g;
        regionRgb[2] += bl;
        regionN++;
      }
      seen.add((r << 16) | (g << 8) | bl);
    }
    cur.copy(prev);
  }
  const n = width * height;
  const mean = sum / n;
  const out = { width, height, mean, variance: sum2 / n - mean * mean, distinct: seen.size, rgb: rgb.map((x) => x / n) };
  if (region) out.regionRgb = regionN ? regionRgb.map((x) => x / regionN) : null;
  return out;
}

module.exports = { launchBrowser, connectPeers, waitSameResolution, pngStats, CHROMIUM, CHROMIUM_ARGS };
