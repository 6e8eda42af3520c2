'use strict';
// RecorderEndpoint against headless Chromium (issue 14's "A/V sync" and
// "Crash" checks), in the flow of Kurento's recorder tutorial: MediaPipeline,
// WebRtcEndpoint, RecorderEndpoint{uri: file://..., mediaProfile},
// webRtc.connect(recorder), processOffer/gatherCandidates, media flowing into
// the recorder, record().
//
// The browser's fake camera and microphone play files made here with
// ffmpeg (lib/media_check.js makeSyncClip): 640x360 30 fps dark frames with
// two white frames from each instant 1 s, 3 s, 5 s, ... and a 48 kHz WAV
// with a 1 kHz 80 ms beep from the same instants (12 s, looped by
// Chromium, so the instants stay 2 s apart).
//
// sync: one fluo, one peer sending VP8 into a WEBM recording and one
//   sending H.264 into an MP4 one (when this Chromium sends H.264), 10 s,
//   stopAndWait. In each file the flash onsets (per-frame mean luma from
//   ffmpeg's signalstats) and the beep onsets (first PCM sample of each
//   burst) are paired, at least 3 pairs, each pair's offset printed.
//   Chromium does not play the two files in step, so the offsets in the
//   file are not the recorder's alone: its fake camera is one device for
//   the whole browser, started by the first page that opens it, while each
//   page's fake microphone starts the WAV when that page opens it (beeps
//   17 ms, 118 ms, 1 s after the flashes were seen), and under load its
//   camera's frames come late (the flash/beep lag moves by up to a frame
//   from one flash to the next). So each page also measures, during the
//   recording, what it captures on the capture timestamps WebRTC sends
//   from (PAGE_PROBE: a requestVideoFrameCallback captureTime per frame of
//   its local video, MediaStreamTrackProcessor AudioData timestamps for
//   its microphone, both on the page's clock), and each pair in the file is
//   checked against the same flash and beep in the page: the recording may
//   move audio against video by 40 ms at most. Each page's SSRCs are
//   printed, to find its streams in the server's log (FLUO_LOG,
//   FLUO_TEST_VERBOSE=1: lib/server.js).
// crash: another fluo (started here, so it can be killed), a WEBM (VP8) and
//   an MP4 (H.264) recording, kill -9 of that fluo 8 s after record(): both
//   files decode with `ffmpeg -v error` printing nothing and their packets
//   reach at least 5 s (MIN_HELD).
// Both run side by side in one browser. Generated media and recordings go
// to a temp folder, removed at the end (FLUO_KEEP_RECORDINGS=1 keeps it).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, sanitizerFindings } = require('../lib/server');
const { launchBrowser } = require('../lib/browser');
const { connectKurento, Signalling, recordEvents, browserOffers, call, sleep, withTimeout } = require('../lib/kurento');
const m = require('../lib/media_check');

const RECORD_MS = 10000; // sync recordings: record() to stopAndWait()
const KILL_AFTER_MS = 8000; // crash recordings: record() to kill -9
const MAX_OFFSET = 0.04; // s, a flash to its beep
const MIN_PAIRS = 3;
// s of media a crashed file must hold: the file ends at its last whole
// cluster or fragment, cut at key frames, which the recorder asks for every
// 1.5 s; a browser encoding two pages side by side on a loaded machine has
// answered 2.4 s late (an H.264 fragment from 5.6 s not closed at 8 s)
const MIN_HELD = 5;
const REC_EVENTS = ['Error', 'Recording', 'Stopped', 'Paused', 'UriEndpointStateChanged', 'MediaFlowInStateChanged'];

const ms = (s) => `${(s * 1000).toFixed(1)} ms`;

// Added to every page before its script runs: keeps the stream
// getUserMedia gives (window.__local) and defines __avProbe(ms), which
// watches that stream for ms and returns the source's flash and beep
// onsets on the page's clock (performance.now(), ms):
//   flashes: [{t: captureTime of the first bright frame, skipped: frames
//             the compositor skipped just before it (t is then late)}]
//   beeps: [t of the first sample above 0.1 after 300 ms below it, the
//           probe's start counting as loud]
// and the counts of frames and audio chunks seen.
const PAGE_PROBE = `(() => {
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => { const s = await gum(c); window.__local = s; return s; };
  window.__avProbe = async (ms) => {
    const s = window.__local;
    if (!s) throw new Error('no getUserMedia stream in this page');
    const end = performance.now() + ms;
    const out = { flashes: [], beeps: [], frames: 0, skipped: 0, chunks: 0 };
    const v = document.createElement('video');
    v.muted = true; v.playsInline = true; v.width = 64; v.height = 36;
    v.srcObject = new MediaStream(s.getVideoTracks());
    document.body.appendChild(v);
    await v.play();
    const cv = document.createElement('canvas'); cv.width = 16; cv.height = 9;
    const cx = cv.getContext('2d', { willReadFrequently: true });
    const video = new Promise((resolve) => {
      let prev = null;
      const cb = (now, md) => {
        cx.drawImage(v, 0, 0, 16, 9);
        const d = cx.getImageData(0, 0, 16, 9).data;
        let sum = 0;
        for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        const bright = sum / (d.length / 4) > 128;
        const skipped = prev ? md.presentedFrames - prev.n - 1 : 0;
        out.frames++;
        out.skipped += Math.max(0, skipped);
        if (bright && prev && !prev.bright) out.flashes.push({ t: md.captureTime, skipped });
        prev = { n: md.presentedFrames, bright };
        if (performance.now() < end) v.requestVideoFrameCallback(cb);
        else resolve();
      };
      v.requestVideoFrameCallback(cb);
    });
    const reader = new MediaStreamTrackProcessor({ track: s.getAudioTracks()[0] }).readable.getReader();
    const audio = (async () => {
      let lastLoud = null; // a burst already on when the probe starts is no onset
      while (performance.now() < end) {
        const { value: a, done } = await reader.read();
        if (done) break;
        const n = a.numberOfFrames;
        const buf = new Float32Array(n);
        a.copyTo(buf, { planeIndex: 0, format: 'f32-planar' });
        const t0 = a.timestamp / 1000;
        if (lastLoud === null) lastLoud = t0;
        for (let i = 0; i < n; i++) {
          if (Math.abs(buf[i]) <= 0.1) continue;
          const t = t0 + (i * 1000) / a.sampleRate;
          if (t - lastLoud > 300) out.beeps.push(t);
          lastLoud = t;
        }
        out.chunks++;
        a.close();
      }
      reader.cancel();
    })();
    await Promise.all([video, audio]);
    v.remove();
    return out;
  };
})();`;

// The file's flash/beep pairs against what the page captured. The page's
// times are capture times on its clock; the file's come from the RTP
// timestamps Chromium derives from the same capture times, so a flash is
// at the same place in both up to one constant (found here as the shift
// that lines up most flashes within 8 ms; a flash the page saw only after
// a frame its compositor skipped is late there and lines up with
// nothing). For each file pair whose flash lines up: the page's lag of the
// beep behind that same flash, and the error = the file's lag - the
// page's, which is what the recording did to sync.
function againstSource(filePairs, fileFlashes, page) {
  const pf = page.flashes.map((f) => f.t / 1000);
  const pb = page.beeps.map((t) => t / 1000);
  const TOL = 0.008;
  let shift = null;
  let best = 0;
  for (const p of pf) {
    for (const f of fileFlashes) {
      const d = p - f;
      const n = fileFlashes.filter((x) => pf.some((y) => Math.abs(y - x - d) < TOL)).length;
      if (n > best) [best, shift] = [n, d];
    }
  }
  const out = [];
  for (const fp of filePairs) {
    const p = shift === null ? undefined : pf.find((y) => Math.abs(y - fp.video - shift) < TOL);
    if (p === undefined) {
      out.push({ ...fp, page: null, error: null });
      continue;
    }
    // the page's beep for this flash: the one nearest to where the file puts it
    let b = null;
    for (const x of pb) if (b === null || Math.abs(x - p - fp.offset) < Math.abs(b - p - fp.offset)) b = x;
    // a page beep this far from where the file puts it is another pair's:
    // the page missed this one (its capture began after it)
    if (b !== null && Math.abs(b - p - fp.offset) > 0.25) b = null;
    const lag = b === null ? null : b - p;
    out.push({ ...fp, page: lag, error: lag === null ? null : fp.offset - lag });
  }
  return { pairs: out, shift, lined: best };
}

// A browser peer publishing (sendonly) into a RecorderEndpoint of its own
// pipeline on `client`; resolves once the recorder sees audio and video
// flowing in.
async function openRecording({ browser, client, name, codec, profile, file }) {
  const peer = await browser.newPeer({ name, audio: true, video: true, direction: 'sendonly', videoCodec: codec });
  const sig = new Signalling(peer);
  const offer = await peer.createOffer();
  const pipeline = await client.create('MediaPipeline');
  const webRtc = await pipeline.create('WebRtcEndpoint');
  const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: profile });
  const events = recordEvents(recorder, REC_EVENTS);
  await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(recorder)] });
  for (const mt of ['AUDIO', 'VIDEO']) {
    await events.wait('MediaFlowInStateChanged', (e) => e.mediaType === mt && e.state === 'FLOWING', 20000);
  }
  await sig.check();
  const st = await peer.stats();
  return {
    name, profile, codec, file, peer, pipeline, webRtc, recorder, events,
    sentVideo: st.outVideo && st.outVideo.mimeType,
    ssrcs: { audio: st.outAudio && st.outAudio.ssrc, video: st.outVideo && st.outVideo.ssrc },
  };
}

// `ffmpeg -v error -i F -f null -` must print nothing; lines that only
// say two jittered frames fell in one tick of ffmpeg's guessed frame rate
// are told apart (lib/media_check.js decodeCheck) and printed.
function assertDecodes(t, r, d = m.decodeCheck(r.file)) {
  if (d.collisions.length) {
    t.diagnostic(
      `${r.name}: ffmpeg's null output put two frames in one tick of 1/${d.rate.toFixed(3)} s ${d.collisions.length} times ` +
        `(ticks ${d.collisions.join(' ')}); with the file's own time base it prints nothing`,
    );
  }
  assert.deepEqual(d.unexplained, [], `${r.name}: ffmpeg -v error -i ${path.basename(r.file)} -f null - prints nothing`);
}

function rmTemp(dir) {
  if (!dir) return;
  if (process.env.FLUO_KEEP_RECORDINGS === '1') {
    process.stderr.write(`recordings kept in ${dir}\n`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

describe('RecorderEndpoint with Chromium: A/V sync and kill -9', { timeout: 150000 }, () => {
  const ctx = {
    dir: null,
    clip: null,
    browser: null,
    syncSrv: null,
    syncClient: null,
    crashSrv: null,
    crashClient: null,
    h264: false,
    sync: [], // recordings on syncSrv, stopped cleanly
    crash: [], // recordings on crashSrv, killed
    killedAt: null,
  };

  before(async () => {
    ctx.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-recsync-'));
    ctx.clip = m.makeSyncClip(ctx.dir);
    const env = { FLUO_RECORD_ROOTS: ctx.dir };
    const started = await Promise.allSettled([startServer({ env }), startServer({ env })]);
    [ctx.syncSrv, ctx.crashSrv] = started.map((x) => (x.status === 'fulfilled' ? x.value : null));
    for (const x of started) if (x.status === 'rejected') throw x.reason;
    ({ client: ctx.syncClient } = await connectKurento(ctx.syncSrv.url));
    ({ client: ctx.crashClient } = await connectKurento(ctx.crashSrv.url));
    ctx.browser = await launchBrowser({ fakeVideoFile: ctx.clip.video, fakeAudioFile: ctx.clip.audio });
    // every peer's page gets PAGE_PROBE before its own script (newPeer
    // makes a context per peer)
    const pw = ctx.browser.browser;
    const newContext = pw.newContext.bind(pw);
    pw.newContext = async (o) => {
      const c = await newContext(o);
      await c.addInitScript(PAGE_PROBE);
      return c;
    };
  });

  after(async () => {
    if (ctx.browser) await ctx.browser.close().catch(() => {});
    for (const c of [ctx.syncClient, ctx.crashClient]) {
      try {
        if (c) c.close();
      } catch (_) {
        /* closed */
      }
    }
    if (ctx.crashSrv && ctx.crashSrv.running) await ctx.crashSrv.stop();
    let r = null;
    if (ctx.syncSrv) r = await ctx.syncSrv.stop();
    rmTemp(ctx.dir);
    if (r) {
      assert.equal(r.code, 0, `server exit code; stderr:\n${r.stderr.slice(-3000)}`);
      assert.deepEqual(sanitizerFindings(r.stderr), []);
    }
  });

  it('records 10 s (WEBM, MP4) and, side by side, kills fluo 8 s into two more', { timeout: 90000 }, async (t) => {
    const probePeer = await ctx.browser.newPeer({ name: 'caps', audio: false, video: false });
    const caps = await probePeer.capabilities();
    await probePeer.close();
    ctx.h264 = caps.sendVideo.some((c) => /^video\/H264/i.test(c));
    if (!ctx.h264) t.diagnostic('this Chromium does not send H.264: no MP4 recordings');

    const file = (n) => path.join(ctx.dir, n);
    const syncSpecs = [{ name: 'sync-webm', codec: 'VP8', profile: 'WEBM', file: file('sync.webm') }];
    const crashSpecs = [{ name: 'crash-webm', codec: 'VP8', profile: 'WEBM', file: file('crash.webm') }];
    if (ctx.h264) {
      syncSpecs.push({ name: 'sync-mp4', codec: 'H264', profile: 'MP4', file: file('sync.mp4') });
      crashSpecs.push({ name: 'crash-mp4', codec: 'H264', profile: 'MP4', file: file('crash.mp4') });
    }
    const t0 = Date.now();
    const opened = await Promise.all([
      ...syncSpecs.map((s) => openRecording({ browser: ctx.browser, client: ctx.syncClient, ...s })),
      ...crashSpecs.map((s) => openRecording({ browser: ctx.browser, client: ctx.crashClient, ...s })),
    ]);
    ctx.sync = opened.slice(0, syncSpecs.length);
    ctx.crash = opened.slice(syncSpecs.length);
    t.diagnostic(`${opened.length} peers flowing into their recorders in ${Date.now() - t0} ms`);
    for (const r of opened) {
      assert.equal(r.sentVideo && r.sentVideo.toLowerCase(), `video/${r.codec.toLowerCase()}`, `${r.name}: video codec sent`);
    }

    // the sync peers' pages watch what they capture from now until after the stop
    const probes = ctx.sync.map((r) =>
      r.peer.page.evaluate((x) => window.__avProbe(x), RECORD_MS + 1500).then((p) => (r.source = p)),
    );
    // record() on all four at once
    await Promise.all(opened.map((r) => call(r.recorder, 'record')));
    const recordedAt = Date.now();
    for (const r of opened) await r.events.wait('Recording', () => true, 5000);

    const crashRun = (async () => {
      await sleep(recordedAt + KILL_AFTER_MS - Date.now());
      ctx.crashSrv.proc.kill('SIGKILL');
      ctx.killedAt = Date.now() - recordedAt;
      const r = await ctx.crashSrv.stop();
      assert.equal(r.signal, 'SIGKILL', 'the crash server died of kill -9');
      try {
        ctx.crashClient.close();
      } catch (_) {
        /* closed */
      }
      for (const c of ctx.crash) await c.peer.close();
    })();
    const syncRun = (async () => {
      await sleep(recordedAt + RECORD_MS - Date.now());
      const stopStart = Date.now();
      await withTimeout(Promise.all(ctx.sync.map((r) => call(r.recorder, 'stopAndWait'))), 15000, 'stopAndWait');
      ctx.recordedFor = (stopStart - recordedAt) / 1000;
      await withTimeout(Promise.all(probes), 10000, 'the pages\' capture probes');
      for (const r of ctx.sync) {
        await r.events.wait('Stopped', () => true, 5000);
        assert.deepEqual(r.events.by.Error, [], `${r.name}: no Error events`);
        await r.pipeline.release();
        await r.peer.close();
      }
    })();
    const [a, b] = await Promise.allSettled([crashRun, syncRun]);
    for (const x of [a, b]) if (x.status === 'rejected') throw x.reason;
    for (const r of ctx.crash) assert.deepEqual(r.events.by.Error, [], `${r.name}: no Error events before the kill`);
    t.diagnostic(`sync files recorded for ${ctx.recordedFor.toFixed(2)} s; crash server killed ${ctx.killedAt} ms after record()`);
  });

  for (const profile of ['WEBM', 'MP4']) {
    it(`${profile}: each white flash and its beep are where the browser captured them, within ${MAX_OFFSET * 1000} ms`, async (t) => {
      const r = ctx.sync.find((x) => x.profile === profile);
      if (!r) {
        if (profile === 'MP4' && !ctx.h264) return t.skip('no H.264 from this Chromium');
        assert.fail(`no ${profile} recording (see the first test)`);
      }
      const src = r.source;
      assert.ok(src, `${r.name}: the page's capture probe ran`);
      t.diagnostic(
        `${r.name} (audio SSRC ${r.ssrcs.audio}, video ${r.ssrcs.video}): the page saw ${src.frames} frames (${src.skipped} skipped by its compositor), ${src.chunks} audio chunks, ` +
          `${src.flashes.length} flashes, ${src.beeps.length} beeps`,
      );
      // decoded first, judged after the offsets are printed (a large one
      // shows in ffmpeg's output too)
      const decoded = m.decodeCheck(r.file);
      const pk = m.packets(r.file);
      assert.ok(pk.video && pk.audio, `${r.name}: audio and video streams`);
      t.diagnostic(
        `${r.name}: ${pk.video.codec} ${pk.video.count} packets (${pk.video.keys} key) ${pk.video.first}..${pk.video.last} s, ` +
          `${pk.audio.codec} ${pk.audio.count} packets ${pk.audio.first}..${pk.audio.last} s, duration ${pk.format.duration} s`,
      );
      const luma = m.lumaSeries(r.file);
      const flashes = m.flashOnsets(luma);
      const audio = m.audioSamples(r.file);
      const beeps = m.beepOnsets(audio);
      const { pairs, flashesAlone, beepsAlone } = m.pairOnsets(flashes, beeps.onsets, 1);
      const lumas = luma.map((f) => f.y);
      t.diagnostic(
        `${r.name}: ${luma.length} frames decoded (mean luma ${Math.min(...lumas).toFixed(0)}..${Math.max(...lumas).toFixed(0)}), ` +
          `${(audio.samples.length / audio.rate).toFixed(2)} s of audio (peak ${beeps.peak})`,
      );
      const cmp = againstSource(pairs, flashes, src);
      for (const p of cmp.pairs) {
        t.diagnostic(
          `${r.name}: flash ${p.video.toFixed(3)} s, beep ${p.audio.toFixed(3)} s: beep after flash by ${ms(p.offset)} in the file, ` +
            (p.error === null ? 'not seen by the page (flash or beep)' : `${ms(p.page)} in the page: error ${ms(p.error)}`),
        );
      }
      if (flashesAlone.length) t.diagnostic(`${r.name}: flashes without a beep near: ${flashesAlone.map((x) => x.toFixed(3)).join(' ')}`);
      if (beepsAlone.length) t.diagnostic(`${r.name}: beeps without a flash near: ${beepsAlone.map((x) => x.toFixed(3)).join(' ')}`);
      assertDecodes(t, r, decoded);
      assert.ok(pairs.length >= MIN_PAIRS, `${r.name}: ${pairs.length} flash/beep pairs (flashes ${flashes}, beeps ${beeps.onsets}), want >= ${MIN_PAIRS}`);
      const checked = cmp.pairs.filter((p) => p.error !== null);
      assert.ok(
        checked.length >= MIN_PAIRS,
        `${r.name}: ${checked.length} of the file's pairs line up with what the page captured (file flashes ${flashes}, page flashes ${src.flashes.map((f) => f.t)}), want >= ${MIN_PAIRS}`,
      );
      const worst = checked.reduce((w, p) => (Math.abs(p.error) > Math.abs(w.error) ? p : w));
      assert.ok(
        Math.abs(worst.error) <= MAX_OFFSET,
        `${r.name}: flash at ${worst.video} s, beep at ${worst.audio} s: ${ms(worst.offset)} apart where the page captured them ` +
          `${ms(worst.page)} apart (errors: ${checked.map((p) => ms(p.error)).join(', ')})`,
      );
    });
  }

  it(`kill -9 ${KILL_AFTER_MS / 1000} s into a recording: the WebM and the MP4 on disk decode and hold >= ${MIN_HELD} s`, async (t) => {
    assert.ok(ctx.crash.length >= 1 && ctx.killedAt !== null, 'the crash recordings ran (see the first test)');
    for (const r of ctx.crash) {
      await t.test(r.name, (tt) => {
        assert.ok(fs.existsSync(r.file), `${r.name}: ${r.file} exists`);
        const size = fs.statSync(r.file).size;
        const pk = m.packets(r.file);
        tt.diagnostic(
          `${r.name}: ${size} bytes; video ${pk.video && pk.video.codec} ${pk.video && pk.video.count} packets up to ${pk.video && pk.video.last} s ` +
            `(key frames at ${pk.video && pk.video.keyTimes.join(' ')}); audio ${pk.audio && pk.audio.codec} ${pk.audio && pk.audio.count} packets up to ${pk.audio && pk.audio.last} s`,
        );
        if (r.profile === 'WEBM') {
          const issues = m.mkvinfoIssues(r.file);
          if (issues.length) tt.diagnostic(`${r.name}: mkvinfo: ${issues.join(' | ')}`);
        }
        assertDecodes(tt, r);
        assert.ok(pk.video && pk.audio, `${r.name}: audio and video streams`);
        assert.equal(pk.video.codec, r.codec === 'VP8' ? 'vp8' : 'h264');
        assert.equal(pk.audio.codec, 'opus');
        assert.ok(pk.video.last >= MIN_HELD, `${r.name}: video packets reach ${pk.video.last} s (< ${MIN_HELD} s)`);
        assert.ok(pk.audio.last >= MIN_HELD, `${r.name}: audio packets reach ${pk.audio.last} s (< ${MIN_HELD} s)`);
      });
    }
  });
});
