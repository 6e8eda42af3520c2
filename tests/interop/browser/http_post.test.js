'use strict';
// HttpPostEndpoint against fluo, a headless Chromium watching through a
// WebRtcEndpoint: pipeline -> HttpPostEndpoint -> connect(WebRtcEndpoint)
// -> getUrl, then an upload to that URL.
//
// (1) `curl -T clip.webm -H 'Transfer-Encoding: chunked'` of a 5 s VP8+Opus
//     clip that ffmpeg makes (640x480, 3 Mbit/s: 1.7 MB): the viewer
//     decodes the video at the clip's frame rate, curl is held back by the
//     playing (seconds, not the milliseconds loopback takes: the upload is
//     paused rather than buffered; what is ahead is the server's bounded
//     read-ahead and the sockets' buffers) and gets 200,
//     EndOfStream arrives at the clip's end; then garbage gets 415 with the
//     reason and an Error event, the URL takes a good upload again (and a
//     second upload while that one is read gets 409), OPTIONS
//     answers CORS, and a released endpoint's URL answers 404.
// (2) a Chromium page records its (fake) camera and microphone with
//     MediaRecorder (video/webm;codecs=vp8,opus, 250 ms slices) and POSTs
//     each piece with fetch from its own origin (CORS preflight), one after
//     the other: the viewer decodes the frames the recorder made (counted
//     by ffprobe in what the page posted); EndOfStream comes after the
//     recorder stops (disconnectionTimeout 1 s).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fluoAndBrowserPerSuite, Signalling, recordEvents, browserOffers, releaseAtEnd, call, sleep } = require('../lib/kurento');

const SECONDS = 5;
const FPS = 30;

function hasTool(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch (_) {
    return false;
  }
}

// curl's status line, headers and body; resolves { status, body, ms }.
function curl(args) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn('curl', ['-sS', '-i', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`curl ${args.join(' ')}: exit ${code}: ${err}`));
      // the last head (after a 100 Continue)
      const heads = out.split(/\r\n\r\n/);
      let i = 0;
      while (i < heads.length - 1 && /^HTTP\/1\.1 100/.test(heads[i])) i++;
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(heads[i])[1]);
      resolve({ status, head: heads[i], body: heads.slice(i + 1).join('\r\n\r\n'), ms: Date.now() - t0 });
    });
  });
}

// Browser <- WebRtcEndpoint <- HttpPostEndpoint, negotiated; resolves the
// objects, the URL and the recorded events.
async function viewer(t, env, name, ctor = {}) {
  const peer = await env.browser.newPeer({ name, audio: true, video: true, direction: 'recvonly' });
  t.after(() => peer.close().catch(() => {}));
  const sig = new Signalling(peer);
  const offer = await peer.createOffer();
  const pipeline = await env.client.create('MediaPipeline');
  const release = releaseAtEnd(t, pipeline);
  const webRtc = await pipeline.create('WebRtcEndpoint');
  const post = await pipeline.create('HttpPostEndpoint', ctor);
  const ev = recordEvents(post, ['EndOfStream', 'Error', 'MediaFlowOutStateChanged', 'MediaSessionStarted', 'MediaSessionTerminated']);
  const wev = recordEvents(webRtc, ['MediaStateChanged', 'Error']);
  await browserOffers(sig, webRtc, offer, { before: () => [post.connect(webRtc)] });
  await wev.wait('MediaStateChanged', (e) => e.newState === 'CONNECTED', 20000);
  const url = await call(post, 'getUrl');
  return { peer, pipeline, release, webRtc, post, ev, wev, url };
}

describe('HttpPostEndpoint with curl and Chromium', { timeout: 180000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('curl -T (chunked): the viewer decodes at the clip rate, EndOfStream at its end; bad input, CORS, 404', { timeout: 90000 }, async (t) => {
    if (!hasTool('ffmpeg') || !hasTool('curl')) return t.skip('ffmpeg or curl missing');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-httppost-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const clip = path.join(dir, 'clip.webm');
    execFileSync('ffmpeg', ['-v', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=640x480:rate=${FPS}:duration=${SECONDS}`,
      '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${SECONDS}`,
      '-c:v', 'libvpx', '-b:v', '3M', '-g', String(FPS), '-c:a', 'libopus', '-shortest', clip]);
    const v = await viewer(t, suite.env, 'curl');
    assert.match(v.url, /^http:\/\/127\.0\.0\.1:\d+\/httppost\/[0-9a-f]{32}$/);

    const t0 = Date.now();
    const upload = curl(['-T', clip, '-H', 'Transfer-Encoding: chunked', '-H', 'Content-Type: video/webm', v.url]);
    const first = await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 0, 10000, { what: 'first frame' });
    await sleep(3000);
    const mid = await v.peer.stats();
    const fps = (mid.inVideo.framesDecoded - first.inVideo.framesDecoded) / 3;
    const up = await upload;
    const eos = await v.ev.wait('EndOfStream', () => true, SECONDS * 1000 + 10000);
    const eosAfter = (Date.now() - t0) / 1000;
    const st = await v.peer.stats();
    console.log(`curl: ${up.status} after ${(up.ms / 1000).toFixed(2)} s (${up.body.trim()}); ${fps.toFixed(1)} fps decoded; ` +
      `${st.inVideo.framesDecoded} frames, ${st.inVideo.frameWidth}x${st.inVideo.frameHeight}; ` +
      `audio ${st.inAudio && st.inAudio.packetsReceived} packets; EndOfStream ${eosAfter.toFixed(2)} s after the upload began`);
    assert.equal(up.status, 200, up.head + up.body);
    assert.match(up.head, /Access-Control-Allow-Origin: \*/i);
    assert.equal(up.body.trim(), `${fs.statSync(clip).size} bytes taken`);
    // held back by the playing: the 5 s clip takes seconds to upload, not milliseconds
    assert.ok(up.ms >= 2000, `the upload took ${up.ms} ms`);
    assert.ok(fps >= FPS * 0.85 && fps <= FPS * 1.15, `decoded ${fps} fps`);
    assert.ok(st.inVideo.framesDecoded >= SECONDS * FPS * 0.9, `${st.inVideo.framesDecoded} frames`);
    assert.equal(st.inVideo.frameWidth, 640);
    assert.ok(st.inAudio && st.inAudio.packetsReceived >= SECONDS * 50 * 0.8, 'audio packets');
    // the clip's Segment has a size: it ends at its end, no disconnectionTimeout
    assert.ok(eosAfter >= SECONDS - 0.5 && eosAfter <= SECONDS + 1.5, `EndOfStream after ${eosAfter} s`);
    assert.ok(eos);
    assert.deepEqual([...v.ev.by.Error, ...v.wev.by.Error], []);
    // a session per stream: started by its first POST, over after its EndOfStream
    assert.equal(v.ev.by.MediaSessionStarted.length, 1, 'MediaSessionStarted');
    await v.ev.wait('MediaSessionTerminated', () => true, 2000);

    // garbage: 415 with the reason, an Error event; the next upload plays
    const junk = path.join(dir, 'junk.bin');
    fs.writeFileSync(junk, Buffer.alloc(50000, 'not a webm '));
    const bad = await curl(['--data-binary', `@${junk}`, v.url]);
    console.log(`garbage: ${bad.status} ${bad.body.trim()}`);
    assert.equal(bad.status, 415);
    assert.match(bad.body, /not a WebM/);
    const err = await v.ev.wait('Error', () => true, 5000);
    assert.match(err.description, /not a WebM/);
    const framesBefore = (await v.peer.stats()).inVideo.framesDecoded;
    const againP = curl(['-T', clip, v.url]);
    await sleep(1000);
    // a second upload while the first is being read: 409
    const busy = await curl(['--data-binary', `@${junk}`, v.url]);
    assert.equal(busy.status, 409, busy.head + busy.body);
    assert.match(busy.body, /another upload/);
    const again = await againP;
    assert.equal(again.status, 200, again.head + again.body);
    await v.ev.wait('EndOfStream', (e) => e !== eos, 10000);
    const framesAfter = (await v.peer.stats()).inVideo.framesDecoded;
    assert.ok(framesAfter - framesBefore >= SECONDS * FPS * 0.8, `second upload: ${framesAfter - framesBefore} frames`);

    // a browser's preflight; other methods
    const pre = await curl(['-X', 'OPTIONS', '-H', 'Origin: http://example.com', '-H', 'Access-Control-Request-Method: POST', v.url]);
    assert.equal(pre.status, 204);
    assert.match(pre.head, /Access-Control-Allow-Methods: POST/i);
    assert.equal((await curl([v.url])).status, 405);
    // released: 404
    await v.release();
    assert.equal((await curl(['--data-binary', `@${junk}`, v.url])).status, 404);
    assert.equal((await curl(['--data-binary', `@${junk}`, v.url.replace(/.{4}$/, '0000')])).status, 404);
  });

  it('a Chromium page posting MediaRecorder pieces with fetch: the viewer decodes, EndOfStream after stop', { timeout: 90000 }, async (t) => {
    const v = await viewer(t, suite.env, 'watcher', { disconnectionTimeout: 1 });
    const rec = await suite.env.browser.newPeer({ name: 'recorder', audio: true, video: true, direction: 'sendonly' });
    t.after(() => rec.close().catch(() => {}));
    // recording in the page: each piece POSTed after the last one's answer
    await rec.page.evaluate(async (url) => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 30 }, audio: true });
      const r = new MediaRecorder(stream, { mimeType: 'video/webm;codecs=vp8,opus' });
      const st = { statuses: [], bytes: 0, errors: [], blobs: [], chain: Promise.resolve() };
      window.__upload = st;
      r.ondataavailable = (e) => {
        if (!e.data.size) return;
        st.bytes += e.data.size;
        st.blobs.push(e.data);
        st.chain = st.chain.then(() =>
          fetch(url, { method: 'POST', body: e.data, headers: { 'Content-Type': 'video/webm' } })
            .then((res) => st.statuses.push(res.status))
            .catch((err) => st.errors.push(String(err))));
      };
      st.stop = () => new Promise((resolve) => {
        r.onstop = () => resolve();
        r.stop();
        stream.getTracks().forEach((tr) => tr.stop());
      });
      r.start(250);
      window.__recorder = r;
    }, v.url);
    const first = await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 0, 15000, { what: 'first frame from the recorder' });
    await sleep(4000);
    const mid = await v.peer.stats();
    const fps = (mid.inVideo.framesDecoded - first.inVideo.framesDecoded) / 4;
    assert.equal(v.ev.by.EndOfStream.length, 0, 'no EndOfStream while recording');
    const stopAt = Date.now();
    const up = await rec.page.evaluate(async () => {
      const st = window.__upload;
      await st.stop();
      await new Promise((r) => setTimeout(r, 100)); // the last piece's dataavailable
      await st.chain;
      // what was posted, to count its frames
      const buf = new Uint8Array(await new Blob(st.blobs).arrayBuffer());
      let bin = '';
      for (let i = 0; i < buf.length; i += 8192) bin += String.fromCharCode(...buf.subarray(i, i + 8192));
      return { statuses: st.statuses, bytes: st.bytes, errors: st.errors, b64: btoa(bin) };
    });
    await v.ev.wait('EndOfStream', () => true, 10000);
    const eosAfter = (Date.now() - stopAt) / 1000;
    const st = await v.peer.stats();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-httppost-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const posted = path.join(dir, 'posted.webm');
    fs.writeFileSync(posted, Buffer.from(up.b64, 'base64'));
    const probe = (sel, entries) => execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', sel,
      '-show_entries', `stream=${entries}`, '-of', 'csv=p=0', posted], { encoding: 'utf8' }).trim().split(',').map(Number);
    const [w, h, recorded] = probe('v:0', 'width,height,nb_read_frames');
    const [audioRecorded] = probe('a:0', 'nb_read_frames');
    console.log(`MediaRecorder: ${up.statuses.length} POSTs (${[...new Set(up.statuses)].join(',')}), ${up.bytes} bytes; ` +
      `${recorded} frames ${w}x${h} recorded, ${fps.toFixed(1)} fps decoded, ${st.inVideo.framesDecoded} frames ${st.inVideo.frameWidth}x${st.inVideo.frameHeight}; ` +
      `audio ${st.inAudio && st.inAudio.packetsReceived} packets of ${audioRecorded}; EndOfStream ${eosAfter.toFixed(2)} s after stop`);
    assert.deepEqual(up.errors, []);
    assert.ok(up.statuses.length >= 10, `${up.statuses.length} pieces`);
    assert.ok(up.statuses.every((s) => s === 200), `statuses ${up.statuses}`);
    assert.equal(up.bytes, fs.statSync(posted).size);
    assert.ok(st.inVideo.framesDecoded >= recorded * 0.9, `${st.inVideo.framesDecoded} of ${recorded} frames decoded`);
    assert.ok(fps >= 8, `decoded ${fps} fps`);
    assert.equal(st.inVideo.frameWidth, w);
    assert.ok(st.inAudio && st.inAudio.packetsReceived >= audioRecorded * 0.9, 'audio packets');
    assert.ok(eosAfter <= 4, `EndOfStream ${eosAfter} s after the recorder stopped`);
    assert.deepEqual([...v.ev.by.Error, ...v.wev.by.Error], []);
  });
});
