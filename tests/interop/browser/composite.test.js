'use strict';
// The mixing hubs with Chromium through kurento-client: the server decodes
// its inputs, draws or sums them and encodes the result for each port.
// Every publisher is its own Chromium (the fake camera and microphone are
// launch flags) playing files made here with ffmpeg (lib/mix_check.js): a
// 320x240 15 fps solid colour with a small white square moving along the
// top edge, and a pure tone: red 500 Hz, green 1100 Hz, blue 1700 Hz.
// Colours are read from screenshots of the viewer's <video> (640x480, the
// decoded picture filling it) by dominant channel over a region, tones
// from a WebAudio AnalyserNode on the received audio track (heard: 30 dB
// over the spectrum's median floor, and over -60 dB; not heard: 25 dB
// under the weakest heard tone, or within 10 dB of the floor).
//   1. Composite{640x480, 15 fps}: publishers red, green, blue, each
//      endpoint into its own port and back out of it, and a recvonly
//      viewer out of a 4th port. The viewer decodes 640x480 at 10 fps or
//      more, and shows the 2x2 grid in the order the ports were connected
//      into: red top-left, green top-right, blue bottom-left, black
//      bottom-right. The viewer hears the three tones; each publisher
//      hears the other two and not its own (mix-minus). Green's endpoint
//      released: the grid becomes 2x1 (red left, blue right, each 320x240
//      centred in its 320x480 cell, black above and below), frames keep
//      decoding, and the viewer no longer hears 1100 Hz.
//   2. AlphaBlending: red is the master (setMaster(portA, 1)), blue drawn
//      over the bottom-right quarter (setPortProperties(0.5, 0.5, 2, 0.5,
//      0.5, portB)): the viewer decodes the master's 320x240, red in the
//      other three quarters, blue in the bottom-right one.
//   3. Mixer: connect('AUDIO', A, C) and connect('AUDIO', B, C): C hears
//      500 and 1100 Hz (not 1700: nobody sends it to C);
//      disconnect('AUDIO', B, C): 1100 Hz goes, 500 Hz stays. Then
//      connect('VIDEO', A, C): C shows red; connect('VIDEO', B, C): green
//      (the source connected last); disconnect('VIDEO', B, C): no more
//      frames (a sink shows one video source).
//   4. Composite with two recvonly viewers that take H.264 only beside a
//      VP8 one: both decode the grid as H.264 (red in the centre) and the
//      pipeline's graph holds no transcoder once the ports go out in
//      H.264 themselves (the picture encoded once per format).
// Screenshots go to build/screenshots/composite-*.png. About 45-55 s (57 s
// against the ASan build); four Chromiums (three publishers and the one
// the viewers live in).

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { call, fluoAndBrowserPerSuite, Signalling, browserOffers, withTimeout, sleep, releaseAtEnd, recvonlyViewer } = require('../lib/kurento');
const mc = require('../lib/mix_check');

const REPO = path.resolve(__dirname, '..', '..', '..');
const SHOTS = path.join(REPO, 'build', 'screenshots');
const TONES = [500, 1100, 1700];
const SOURCES = [
  { name: 'red', rgb: 'FF0000', tone: 500 },
  { name: 'green', rgb: '00FF00', tone: 1100 },
  { name: 'blue', rgb: '0000FF', tone: 1700 },
];

// A publisher in browser `b`: its endpoint into `port`, and with `back`
// the port's output into the endpoint (what a Composite member hears and
// sees).
async function publisher(b, pipeline, name, port, { back = false } = {}) {
  const peer = await b.newPeer({
    name,
    direction: back ? 'sendrecv' : 'sendonly',
    audio: mc.AUDIO_RAW,
    video: { width: 320, height: 240 },
    videoCodec: 'VP8',
  });
  const sig = new Signalling(peer);
  const offer = await peer.createOffer();
  const ep = await pipeline.create('WebRtcEndpoint');
  await browserOffers(sig, ep, offer, { before: () => [ep.connect(port), ...(back ? [port.connect(ep)] : [])] });
  await peer.waitFor((s) => s.outVideo && s.outVideo.packetsSent > 30 && s.outAudio && s.outAudio.packetsSent > 30, 20000, {
    what: `${name} sending`,
  });
  return { peer, sig, ep };
}


// n hub ports as createHubPort returns them (kurento-client sends an
// object parameter as its id only for that MediaObject, not for what an
// await of it resolves to; hence an array, which an await leaves alone).
async function hubPorts(hub, n) {
  const ports = [];
  for (let i = 0; i < n; i++) {
    const port = hub.createHubPort();
    await port;
    ports.push(port);
  }
  return ports;
}

// Screenshots `peer` until the named regions show the expected colours
// (want: { name: colour }), for up to timeoutMs; returns the last
// regionColours and the file, matched or not.
async function shotUntil(peer, file, regions, want, timeoutMs = 8000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await peer.screenshot(file);
    const got = mc.regionColours(file, regions);
    const ok = Object.entries(want).every(([k, c]) => got[k].colour === c);
    if (ok || Date.now() >= end) return { got, ok };
    await sleep(300);
  }
}

function colourLine(got) {
  return Object.entries(got)
    .map(([k, v]) => `${k} ${v.colour} (${v.rgb.join(',')})`)
    .join(', ');
}

// Frames `peer` decodes per second over `ms`.
async function decodeRate(peer, ms = 3000) {
  const a = await peer.stats();
  await sleep(ms);
  const b = await peer.stats();
  return { fps: ((b.inVideo.framesDecoded - a.inVideo.framesDecoded) * 1000) / ms, last: b };
}

describe('Mixing hubs with Chromium', { timeout: 240000 }, () => {
  let dir = null;
  const suite = fluoAndBrowserPerSuite(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-mix-'));
    const browsers = SOURCES.map((s) => {
      const clip = mc.makeColourClip(dir, s.name, { rgb: s.rgb, tone: s.tone });
      return { fakeVideoFile: clip.video, fakeAudioFile: clip.audio };
    });
    return { browsers };
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  // the browser playing SOURCES[i]
  const src = (i) => suite.env.browsers[i];

  it('Composite: 3 publishers in a 2x2 grid, mix-minus audio, 2x1 after one leaves', { timeout: 120000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const composite = await pipeline.create('Composite', { width: 640, height: 480, framerate: 15 });
    assert.match(composite.id, /_kurento\.Composite$/);

    const ports = await hubPorts(composite, SOURCES.length + 1);
    const pubs = [];
    for (let i = 0; i < SOURCES.length; i++) {
      const port = ports[i];
      pubs.push(Object.assign(await publisher(src(i), pipeline, `c-${SOURCES[i].name}`, port, { back: true }), { port }));
    }
    const v = await recvonlyViewer(suite.env.browser, pipeline, 'c-viewer', ports[SOURCES.length]);
    await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 15 && s.inAudio && s.inAudio.packetsReceived > 50, 20000, {
      what: 'viewer decodes the composite',
    });

    // The grid: 2x2 cells of 320x240, each 320x240 input filling its cell.
    const grid = { tl: mc.around(160, 120), tr: mc.around(480, 120), bl: mc.around(160, 360), br: mc.around(480, 360) };
    const gridWant = { tl: 'red', tr: 'green', bl: 'blue', br: 'black' };
    const g = await shotUntil(v.peer, path.join(SHOTS, 'composite-grid.png'), grid, gridWant);
    t.diagnostic(`2x2 grid: ${colourLine(g.got)}`);
    assert.deepEqual(Object.fromEntries(Object.entries(g.got).map(([k, x]) => [k, x.colour])), gridWant, `2x2 grid: ${colourLine(g.got)}`);

    const rate = await decodeRate(v.peer);
    t.diagnostic(`viewer: ${rate.last.inVideo.frameWidth}x${rate.last.inVideo.frameHeight}, ${rate.fps.toFixed(1)} frames/s decoded`);
    assert.equal(rate.last.inVideo.frameWidth, 640);
    assert.equal(rate.last.inVideo.frameHeight, 480);
    assert.ok(rate.fps >= 10, `viewer decodes ${rate.fps.toFixed(1)} frames/s`);
    for (const p of pubs) {
      const s = await p.peer.stats();
      assert.ok(s.inVideo && s.inVideo.framesDecoded > 0 && s.inVideo.frameWidth === 640, `${p.peer.name} decodes the 640x480 composite`);
    }

    // Audio: the viewer hears everybody, each publisher everybody else.
    const listeners = [v, ...pubs];
    const heard = await Promise.all(listeners.map((x) => mc.toneLevels(x.peer, TONES, 2000)));
    for (let i = 0; i < listeners.length; i++) {
      const j = mc.judgeTones(heard[i]);
      t.diagnostic(`${listeners[i].peer.name} hears: ${j.line}`);
      const own = i === 0 ? null : SOURCES[i - 1].tone;
      const others = TONES.filter((f) => f !== own);
      assert.deepEqual(j.heard, others, `${listeners[i].peer.name} hears ${others.join(', ')} Hz: ${j.line}`);
      if (own) assert.deepEqual(j.silent, [own], `${listeners[i].peer.name} does not hear its own ${own} Hz: ${j.line}`);
    }

    // Green leaves: 2x1 grid, cells of 320x480, pictures centred.
    await pubs[1].ep.release();
    const two = {
      left: mc.around(160, 240),
      right: mc.around(480, 240),
      leftTop: mc.around(160, 60),
      rightTop: mc.around(480, 60),
      rightBottom: mc.around(480, 420),
      wasGreen: mc.around(480, 150),
    };
    const twoWant = { left: 'red', right: 'blue', leftTop: 'black', rightTop: 'black', rightBottom: 'black' };
    const l = await shotUntil(v.peer, path.join(SHOTS, 'composite-left.png'), two, twoWant);
    t.diagnostic(`after green left: ${colourLine(l.got)}`);
    assert.deepEqual(
      Object.fromEntries(Object.keys(twoWant).map((k) => [k, l.got[k].colour])),
      twoWant,
      `2x1 grid after green left: ${colourLine(l.got)}`,
    );
    assert.notEqual(l.got.wasGreen.colour, 'green', `green's old place: ${colourLine(l.got)}`);
    const rate2 = await decodeRate(v.peer, 2000);
    t.diagnostic(`viewer after green left: ${rate2.fps.toFixed(1)} frames/s decoded`);
    assert.ok(rate2.fps >= 10, `viewer decodes ${rate2.fps.toFixed(1)} frames/s after green left`);
    const j2 = mc.judgeTones(await mc.toneLevels(v.peer, TONES, 2000));
    t.diagnostic(`viewer hears after green left: ${j2.line}`);
    assert.deepEqual(j2.heard, [500, 1700], `viewer after green left: ${j2.line}`);
    assert.deepEqual(j2.silent, [1100], `viewer after green left: ${j2.line}`);

    for (const p of [v, ...pubs]) await p.sig.check();
    for (const p of [v, ...pubs]) await p.peer.close();
    await releasePipeline();
  });

  it('AlphaBlending: blue over the bottom-right quarter of the red master', { timeout: 60000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const alpha = await pipeline.create('AlphaBlending');
    const [portA, portB, portV] = await hubPorts(alpha, 3);
    const a = await publisher(src(0), pipeline, 'a-red', portA);
    const b = await publisher(src(2), pipeline, 'a-blue', portB);
    await withTimeout(call(alpha, 'setMaster', portA, 1), 10000, 'setMaster');
    await withTimeout(call(alpha, 'setPortProperties', 0.5, 0.5, 2, 0.5, 0.5, portB), 10000, 'setPortProperties');
    const v = await recvonlyViewer(suite.env.browser, pipeline, 'a-viewer', portV);
    const s = await v.peer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 15, 20000, { what: 'viewer decodes the blend' });
    t.diagnostic(`blend: ${s.inVideo.frameWidth}x${s.inVideo.frameHeight}`);
    assert.equal(s.inVideo.frameWidth, 320, 'the master picture size');
    assert.equal(s.inVideo.frameHeight, 240, 'the master picture size');

    // 320x240 shown at 640x480: quarters of 320x240 on the screenshot.
    const q = { tl: mc.around(160, 120), tr: mc.around(480, 120), bl: mc.around(160, 360), br: mc.around(480, 360) };
    const want = { tl: 'red', tr: 'red', bl: 'red', br: 'blue' };
    const r = await shotUntil(v.peer, path.join(SHOTS, 'composite-alpha.png'), q, want);
    t.diagnostic(`blend: ${colourLine(r.got)}`);
    assert.deepEqual(Object.fromEntries(Object.entries(r.got).map(([k, x]) => [k, x.colour])), want, `blend: ${colourLine(r.got)}`);

    for (const p of [v, a, b]) await p.sig.check();
    for (const p of [v, a, b]) await p.peer.close();
    await releasePipeline();
  });

  it('Composite: H.264-only viewers get the grid in H.264, encoded once, no transcoder', { timeout: 60000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const comp = await pipeline.create('Composite', { width: 320, height: 240, framerate: 15 });
    const [portA, portH1, portH2, portV] = await hubPorts(comp, 4);
    const a = await publisher(src(0), pipeline, 'h-red', portA);
    const b = suite.env.browser;
    const h1 = await recvonlyViewer(b, pipeline, 'h264-1', portH1, { videoCodec: 'H264' });
    const h2 = await recvonlyViewer(b, pipeline, 'h264-2', portH2, { videoCodec: 'H264' });
    const v = await recvonlyViewer(b, pipeline, 'h-vp8', portV);
    for (const [x, mime] of [[h1, 'video/H264'], [h2, 'video/H264'], [v, 'video/VP8']]) {
      const s = await x.peer.waitFor((y) => y.inVideo && y.inVideo.framesDecoded > 30, 20000, { what: `${x.peer.name} decodes` });
      t.diagnostic(`${x.peer.name}: ${s.inVideo.mimeType} ${s.inVideo.frameWidth}x${s.inVideo.frameHeight}`);
      assert.equal(s.inVideo.mimeType, mime, `${x.peer.name}'s codec`);
      assert.equal(s.inVideo.frameWidth, 320);
    }
    let dot = '';
    for (let i = 0; i < 20; i++) {
      dot = await call(pipeline, 'getGstreamerDot');
      if (!/transcoder_\d+ \[label/.test(dot)) break;
      await sleep(250);
    }
    assert.doesNotMatch(dot, /transcoder_\d+ \[label/, 'no transcoder left: the ports send H.264 themselves');
    const before = (await h1.peer.stats()).inVideo.framesDecoded;
    await sleep(2000);
    const after = (await h1.peer.stats()).inVideo.framesDecoded;
    t.diagnostic(`h264-1 decodes ${((after - before) / 2).toFixed(1)} frames/s without a transcoder`);
    assert.ok(after - before >= 20, `h264-1 keeps decoding: ${after - before} frames in 2 s`);
    const r = await shotUntil(h1.peer, path.join(SHOTS, 'composite-h264.png'), { centre: mc.around(320, 240) }, { centre: 'red' });
    t.diagnostic(`h264-1: ${colourLine(r.got)}`);
    assert.equal(r.got.centre.colour, 'red', `h264-1: ${colourLine(r.got)}`);

    for (const p of [h1, h2, v, a]) await p.sig.check();
    for (const p of [h1, h2, v, a]) await p.peer.close();
    await releasePipeline();
  });

  it('Mixer: connect/disconnect AUDIO and VIDEO between ports', { timeout: 60000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const mixer = await pipeline.create('Mixer');
    const [portA, portB, portC] = await hubPorts(mixer, 3);
    const a = await publisher(src(0), pipeline, 'm-red', portA);
    const b = await publisher(src(1), pipeline, 'm-green', portB);
    const c = await recvonlyViewer(suite.env.browser, pipeline, 'm-listener', portC);
    await withTimeout(call(mixer, 'connect', 'AUDIO', portA, portC), 10000, 'connect(AUDIO, A, C)');
    await withTimeout(call(mixer, 'connect', 'AUDIO', portB, portC), 10000, 'connect(AUDIO, B, C)');
    await c.peer.waitFor((x) => x.inAudio && x.inAudio.packetsReceived > 50, 20000, { what: 'C receives audio' });

    const j1 = mc.judgeTones(await mc.toneLevels(c.peer, TONES, 2000));
    t.diagnostic(`C hears with A and B: ${j1.line}`);
    assert.deepEqual(j1.heard, [500, 1100], `C with A and B: ${j1.line}`);
    assert.deepEqual(j1.silent, [1700], `C with A and B: ${j1.line}`);

    await withTimeout(call(mixer, 'disconnect', 'AUDIO', portB, portC), 10000, 'disconnect(AUDIO, B, C)');
    await sleep(500);
    const j2 = mc.judgeTones(await mc.toneLevels(c.peer, TONES, 2000));
    t.diagnostic(`C hears after disconnect(B): ${j2.line}`);
    assert.deepEqual(j2.heard, [500], `C after disconnect(B): ${j2.line}`);
    assert.deepEqual(j2.silent, [1100, 1700], `C after disconnect(B): ${j2.line}`);

    // Video: C shows the source connected to it last; none once that one
    // is disconnected.
    const centre = { centre: mc.around(320, 240, 200, 150) };
    for (const [port, colour] of [[portA, 'red'], [portB, 'green']]) {
      const what = `connect(VIDEO, ${colour === 'red' ? 'A' : 'B'}, C)`;
      await withTimeout(call(mixer, 'connect', 'VIDEO', port, portC), 10000, what);
      await c.peer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 5, 20000, { what: 'C decodes video' });
      const r = await shotUntil(c.peer, path.join(SHOTS, 'composite-mixer.png'), centre, { centre: colour });
      t.diagnostic(`C after ${what}: ${colourLine(r.got)}`);
      assert.equal(r.got.centre.colour, colour, `C after ${what}: ${colourLine(r.got)}`);
    }
    await withTimeout(call(mixer, 'disconnect', 'VIDEO', portB, portC), 10000, 'disconnect(VIDEO, B, C)');
    await sleep(1000);
    const f1 = (await c.peer.stats()).inVideo.framesDecoded;
    await sleep(1500);
    const f2 = (await c.peer.stats()).inVideo.framesDecoded;
    t.diagnostic(`C after disconnect(VIDEO, B, C): ${f2 - f1} frames decoded in 1.5 s`);
    assert.ok(f2 - f1 <= 1, `C decoded ${f2 - f1} frames in 1.5 s after disconnect(VIDEO, B, C)`);

    for (const p of [c, a, b]) await p.sig.check();
    for (const p of [c, a, b]) await p.peer.close();
    await releasePipeline();
  });
});
