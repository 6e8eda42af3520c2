'use strict';
// Recording through a lossy uplink (issue 14's "Loss" check): a publisher
// browser in the lab's `pub` namespace (sendonly, VP8 + Opus: the busy
// 640x480 camera clip of lib/quality.js and Chromium's fake microphone)
// into a WebRtcEndpoint on fluo (namespace srv, where this test runs),
// connected to a RecorderEndpoint (WEBM, a file in a temp dir made here),
// with 5 % random loss on the publisher's uplink (iptables in the router
// namespace) for the whole recording: record, 10 s, stopAndWait. Run as
// root through the launcher:
//
//     FLUO_BIN=$PWD/build/fluo tests/interop/net/run.sh recorder_loss.test.js
//     FLUO_REC_KEEP=1 ...      # keep the recorded file (its path is printed)
//     FLUO_REC_STRICT=1 ...    # ffmpeg's check word for word (see decodeCheck in lib/media_check.js)
//
// What the file must be: decoded by `ffmpeg -v error -i F -f null -` with
// nothing printed (a frame with a packet missing is left out, never written
// broken; one line of ffmpeg's null muxer is explained and checked apart,
// see judgeDecode), parsed by mkvinfo with no error or warning, VP8 and
// Opus, each stream holding at least 8 s (packet times), and most of the
// video frames the browser sent over the 10 s (at least 70 %: NACK repairs
// most loss; the rest costs the frames up to the next key frame, which the
// recorder asks for), none of them twice. The loss is checked to have happened (the router's drop
// counter, 2-10 % of what the publisher sent) and fluo to have NACKed it.
// Figures printed: packets per stream, frames sent, the largest gap in the
// recorded video, the router's drops, fluo's getStats (inbound packetsLost,
// NACKed sequence numbers, retransmissions received), the publisher's
// NACKs and retransmissions.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { labFromEnv } = require('../lib/netlab');
const { decodeCheck } = require('../lib/media_check');

const lab = labFromEnv();
const skipAll = !lab && 'needs the network lab: run tests/interop/net/run.sh recorder_loss.test.js (as root)';

const LOSS = 0.05;
const RECORD_MS = 10000;
const MIN_HELD_S = 8;
const MIN_FRAME_SHARE = 0.7;

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toFixed(d));

// A command's status and its output (stdout and stderr), never throwing.
function runTool(cmd, args, timeoutMs = 60000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.error) return { status: null, stdout: '', stderr: String(r.error.message) };
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Packets dropped so far by the loss rule on the publisher's uplink
// (iptables counters in the router namespace), or null.
function routerDrops() {
  const out = lab.exec('rt', ['iptables', '-w', '-L', 'FORWARD', '-v', '-x', '-n'], { allowFail: true }) || '';
  let n = null;
  for (const line of out.split('\n')) {
    // pkts bytes target prot opt in out source destination [match]
    const f = line.trim().split(/\s+/);
    if (f[2] === 'DROP' && f[5] === 'rt-pub' && /statistic/.test(line)) n = (n || 0) + Number(f[0]);
  }
  return n;
}

// fluo's inbound figures for the endpoint's stream of `kind` ('VIDEO'/'AUDIO').
async function fluoInbound(ep, kind) {
  try {
    const st = await ep.getStats(kind);
    const s = Object.values(st || {}).find((x) => x && x.type === 'inboundrtp');
    if (!s) return null;
    const o = {};
    for (const [k, v] of Object.entries(s)) if (typeof v === 'number') o[k] = v;
    return o;
  } catch (e) {
    return { error: e.message };
  }
}

const diff = (a, b, k) => (a && b && typeof a[k] === 'number' && typeof b[k] === 'number' ? b[k] - a[k] : null);

// ffprobe's view of a file: streams, and per stream its packets' times and
// key flags.
function probe(file) {
  const r = runTool('ffprobe', ['-v', 'error', '-show_entries',
    'stream=index,codec_name,codec_type,width,height,r_frame_rate:packet=stream_index,pts_time,duration_time,flags:format=duration,start_time',
    '-of', 'json', file]);
  if (r.status !== 0) throw new Error(`ffprobe ${file}: status ${r.status}: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  const streams = (j.streams || []).map((s) => {
    const pk = (j.packets || []).filter((p) => p.stream_index === s.index);
    const pts = pk.map((p) => Number(p.pts_time)).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    const steps = pts.slice(1).map((x, i) => x - pts[i]);
    const sorted = steps.slice().sort((a, b) => a - b);
    const medianStep = sorted.length ? sorted[sorted.length >> 1] : 0;
    const lastDur = Number(pk.length && pk[pk.length - 1].duration_time);
    const tail = Number.isFinite(lastDur) && lastDur > 0 ? lastDur : medianStep;
    return {
      index: s.index,
      codec: s.codec_name,
      type: s.codec_type,
      width: s.width,
      frameRate: rate(s.r_frame_rate),
      pts,
      height: s.height,
      packets: pk.length,
      keyPackets: pk.filter((p) => /K/.test(p.flags || '')).length,
      firstPts: pts.length ? pts[0] : null,
      lastPts: pts.length ? pts[pts.length - 1] : null,
      // what the stream holds: from its first packet to the end of its last
      heldS: pts.length ? pts[pts.length - 1] - pts[0] + tail : 0,
      medianStepS: medianStep,
      maxGapS: steps.length ? Math.max(...steps) : null,
      samePts: steps.filter((x) => x === 0).length, // packets sharing a time with the one before
      gapsOver200ms: steps.filter((x) => x > 0.2).length,
    };
  });
  return { duration: Number(j.format && j.format.duration), startTime: Number(j.format && j.format.start_time) || 0, streams };
}

function rate(s) {
  const m = /^(\d+)\/(\d+)$/.exec(s || '');
  return m && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : null;
}

describe('recording through 5 % random loss on the publisher uplink (WEBM)', { skip: skipAll, timeout: 150000 }, () => {
  const ctx = { srv: null, client: null, browser: null, dir: null };

  before(async () => {
    const q = require('../lib/quality');
    const { startServer } = require('../lib/server');
    const { connectKurento } = require('../lib/kurento');
    const { launchBrowser } = require('../lib/browser');
    const clip = q.ensureClip();
    ctx.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-recloss-'));
    ctx.srv = await startServer({});
    ({ client: ctx.client } = await connectKurento(ctx.srv.url));
    ctx.browser = await launchBrowser({ namespace: lab.ns.pub, fakeVideoFile: clip });
  });

  after(async () => {
    lab.clearLoss();
    if (ctx.browser) await ctx.browser.close().catch(() => {});
    if (ctx.client) {
      try {
        ctx.client.close();
      } catch (_) {
        /* closed */
      }
    }
    if (ctx.dir) {
      if (process.env.FLUO_REC_KEEP) process.stderr.write(`recorder_loss: kept ${ctx.dir}\n`);
      else fs.rmSync(ctx.dir, { recursive: true, force: true });
    }
    if (ctx.srv) {
      const { sanitizerFindings } = require('../lib/server');
      const r = await ctx.srv.stop();
      assert.equal(r.code, 0, `server exit code; stderr:\n${r.stderr.slice(-3000)}`);
      assert.deepEqual(sanitizerFindings(r.stderr), []);
    }
  });

  let r = null;

  it('records 10 s of a publisher behind 5 % loss', { timeout: 90000 }, async (t) => {
    const { Signalling, browserOffers, recordEvents, call, sleep } = require('../lib/kurento');
    const file = path.join(ctx.dir, 'loss.webm');
    const peer = await ctx.browser.newPeer({
      name: 'publisher',
      direction: 'sendonly',
      audio: true,
      video: { width: 640, height: 480, frameRate: 30 },
      videoCodec: 'VP8',
      degradationPreference: 'maintain-resolution',
    });
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    const pipeline = await call(ctx.client, 'create', 'MediaPipeline');
    try {
      const ep = await call(pipeline, 'create', 'WebRtcEndpoint');
      const recorder = await call(pipeline, 'create', 'RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM' });
      const epEvents = recordEvents(ep, ['Error']);
      const recEvents = recordEvents(recorder, ['Error', 'Recording', 'Stopped', 'UriEndpointStateChanged']);
      // the recorder tutorial's order: connect, then negotiate
      await call(ep, 'connect', recorder);
      await browserOffers(sig, ep, offer);
      await peer.waitFor(
        (s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.framesSent > 30 && s.outAudio && s.outAudio.packetsSent > 50,
        20000,
        { what: 'publisher connected and sending audio and video' },
      );
      await sig.check();

      lab.loss('pub:up', LOSS);
      const drops0 = routerDrops();
      const pub0 = await peer.stats();
      const fv0 = await fluoInbound(ep, 'VIDEO');
      const fa0 = await fluoInbound(ep, 'AUDIO');
      const t0 = Date.now();
      await call(recorder, 'record');
      await recEvents.wait('Recording', () => true, 5000);
      await sleep(RECORD_MS - (Date.now() - t0));
      const pub1 = await peer.stats();
      const fv1 = await fluoInbound(ep, 'VIDEO');
      const fa1 = await fluoInbound(ep, 'AUDIO');
      const drops1 = routerDrops();
      const t1 = Date.now();
      const recordedMs = t1 - t0;
      await call(recorder, 'stopAndWait');
      const stopMs = Date.now() - t1;
      lab.clearLoss();
      await recEvents.wait('Stopped', () => true, 5000);
      assert.ok(fs.existsSync(file), `${file} written`);

      const ov0 = pub0.outVideo || {};
      const ov1 = pub1.outVideo || {};
      const oa0 = pub0.outAudio || {};
      const oa1 = pub1.outAudio || {};
      const framesSent = ov1.framesSent - ov0.framesSent;
      const pubPackets = ov1.packetsSent - ov0.packetsSent + (oa1.packetsSent - oa0.packetsSent);
      const dropped = drops0 !== null && drops1 !== null ? drops1 - drops0 : null;
      r = {
        file,
        bytes: fs.statSync(file).size,
        recordedMs,
        stopMs,
        fps: (framesSent * 1000) / recordedMs,
        framesSent,
        width: ov1.frameWidth,
        pub: {
          videoPackets: ov1.packetsSent - ov0.packetsSent,
          audioPackets: oa1.packetsSent - oa0.packetsSent,
          nacks: ov1.nackCount - ov0.nackCount,
          rtxSent: ov1.retransmittedPacketsSent - ov0.retransmittedPacketsSent,
          plis: ov1.pliCount - ov0.pliCount,
          keyFrames: ov1.keyFramesEncoded - ov0.keyFramesEncoded,
          kbps: Math.round(((ov1.bytesSent - ov0.bytesSent) * 8) / recordedMs),
        },
        router: { dropped, pct: dropped !== null && pubPackets > 0 ? (100 * dropped) / pubPackets : null },
        fluoVideo: {
          packetsReceived: diff(fv0, fv1, 'packetsReceived'),
          packetsLost: diff(fv0, fv1, 'packetsLost'),
          nackSeqsSent: diff(fv0, fv1, 'nackSeqsSent'),
          rtxReceived: diff(fv0, fv1, 'retransmittedPacketsReceived'),
          plis: diff(fv0, fv1, 'pliCount'),
          keyFramesReceived: diff(fv0, fv1, 'keyFramesReceived'),
        },
        fluoAudio: {
          packetsReceived: diff(fa0, fa1, 'packetsReceived'),
          packetsLost: diff(fa0, fa1, 'packetsLost'),
        },
        errors: [...epEvents.by.Error, ...recEvents.by.Error].map((e) => `${e.errorCode || ''} ${e.type || ''}: ${e.description || ''}`),
      };

      // the file
      const mi = runTool('mkvinfo', [file]);
      r.mkvinfo = {
        status: mi.status,
        problems: (mi.stdout + mi.stderr).split('\n').filter((l) => /error|warning/i.test(l)).slice(0, 10),
      };
      r.probe = probe(file);
      r.video = r.probe.streams.find((s) => s.type === 'video') || null;
      r.audio = r.probe.streams.find((s) => s.type === 'audio') || null;
      r.ffmpeg = decodeCheck(file);

      const v = r.video || {};
      const a = r.audio || {};
      t.diagnostic(`file ${r.bytes} bytes, duration ${fmt(r.probe.duration, 3)} s; recorded for ${r.recordedMs} ms, stopAndWait answered in ${r.stopMs} ms`);
      t.diagnostic(`video: ${v.codec} ${v.width}x${v.height}, ${v.packets} packets (${v.keyPackets} key) over ${fmt(v.heldS, 3)} s ` +
        `(first at ${fmt(v.firstPts, 3)} s), largest gap ${fmt(v.maxGapS * 1000)} ms, gaps > 200 ms: ${v.gapsOver200ms}, on the time before: ${v.samePts}; ` +
        `the browser sent ${r.framesSent} frames (${fmt(r.fps, 1)} fps, ${r.width} wide, ${r.pub.keyFrames} key): ` +
        `${fmt((100 * v.packets) / r.framesSent, 1)} % recorded`);
      t.diagnostic(`audio: ${a.codec}, ${a.packets} packets over ${fmt(a.heldS, 3)} s (first at ${fmt(a.firstPts, 3)} s), ` +
        `largest gap ${fmt(a.maxGapS * 1000)} ms; the browser sent ${r.pub.audioPackets}`);
      t.diagnostic(`router: dropped ${r.router.dropped} of ${r.pub.videoPackets + r.pub.audioPackets} RTP packets sent ` +
        `(${fmt(r.router.pct, 2)} %); publisher: ${r.pub.kbps} kbit/s video, NACKs received +${r.pub.nacks}, ` +
        `retransmitted +${r.pub.rtxSent}, PLIs +${r.pub.plis}`);
      t.diagnostic(`fluo video inbound: packetsReceived +${r.fluoVideo.packetsReceived}, packetsLost +${r.fluoVideo.packetsLost}, ` +
        `nackSeqsSent +${r.fluoVideo.nackSeqsSent}, retransmittedPacketsReceived +${r.fluoVideo.rtxReceived}, ` +
        `PLIs +${r.fluoVideo.plis}, keyFramesReceived +${r.fluoVideo.keyFramesReceived}; ` +
        `audio inbound: packetsReceived +${r.fluoAudio.packetsReceived}, packetsLost +${r.fluoAudio.packetsLost}`);
      t.diagnostic(`ffmpeg: ${r.ffmpeg.output ? JSON.stringify(r.ffmpeg.output.slice(0, 600)) : 'nothing printed'}` +
        (r.ffmpeg.collisions.length
          ? ` (frames sharing a ${fmt(r.ffmpeg.rate, 2)} fps tick: ${JSON.stringify(r.ffmpeg.collisions)}; ` +
            `with -enc_time_base:v -1: ${r.ffmpeg.exact ? JSON.stringify(r.ffmpeg.exact.slice(0, 300)) : 'nothing printed'})`
          : '') +
        '; ' +
        `mkvinfo: status ${r.mkvinfo.status}, ${r.mkvinfo.problems.length ? JSON.stringify(r.mkvinfo.problems) : 'no error or warning'}`);
      if (r.errors.length) t.diagnostic(`Error events: ${JSON.stringify(r.errors)}`);
    } finally {
      lab.clearLoss();
      await pipeline.release().catch(() => {});
      await peer.close();
    }
  });

  it('the loss was there: the router dropped 2-10 % and fluo NACKed the publisher', () => {
    assert.ok(r, 'not measured');
    assert.ok(r.router.pct !== null && r.router.pct >= 2 && r.router.pct <= 10, `router dropped ${fmt(r.router.pct, 2)} %`);
    assert.ok(r.pub.nacks > 0, `publisher nackCount +${r.pub.nacks}`);
    assert.ok(r.fluoVideo.rtxReceived > 0, `fluo retransmittedPacketsReceived +${r.fluoVideo.rtxReceived}`);
  });

  it('no Error event', () => {
    assert.ok(r, 'not measured');
    assert.deepEqual(r.errors, []);
  });

  it('ffmpeg decodes the file with nothing to say; mkvinfo parses it cleanly', () => {
    assert.ok(r, 'not measured');
    // every line explained (lib/media_check.js decodeCheck), the decode on
    // the file's own time base silent
    assert.deepEqual(r.ffmpeg.unexplained, [], 'ffmpeg -v error -i F -f null - printed');
    assert.equal(r.mkvinfo.status, 0, JSON.stringify(r.mkvinfo));
    assert.deepEqual(r.mkvinfo.problems, []);
  });

  it('VP8 and Opus', () => {
    assert.ok(r, 'not measured');
    assert.deepEqual(r.probe.streams.map((s) => s.codec).sort(), ['opus', 'vp8']);
  });

  it(`each stream holds at least ${MIN_HELD_S} s`, () => {
    assert.ok(r, 'not measured');
    assert.ok(r.video.heldS >= MIN_HELD_S, `video holds ${fmt(r.video.heldS, 3)} s`);
    assert.ok(r.audio.heldS >= MIN_HELD_S, `audio holds ${fmt(r.audio.heldS, 3)} s`);
  });

  it(`the video has at least ${MIN_FRAME_SHARE * 100} % of the frames of 10 s at the browser's rate`, () => {
    assert.ok(r, 'not measured');
    assert.ok(r.fps > 0, `browser fps ${r.fps}`);
    const want = MIN_FRAME_SHARE * (RECORD_MS / 1000) * r.fps;
    assert.ok(r.video.packets >= want, `${r.video.packets} video frames recorded, want >= ${fmt(want)} (${fmt(r.fps, 1)} fps)`);
    // and none of them twice
    assert.equal(r.video.samePts, 0, `video packets on the time of the one before: ${r.video.samePts}`);
  });
});
