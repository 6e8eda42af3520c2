'use strict';
// The filters with Chromium through kurento-client, as the filter
// tutorials use them: the browser's camera into a WebRtcEndpoint, through
// the filter, back into the same endpoint (loopback). The cameras are clips
// made by lib/filter_media.js (640x480, 15 fps): the "card" (a QR code in
// the left half of a plain blue picture) and a portrait swaying from side
// to side (its face about 104 pixels square, at y 183). The
// overlay images are PNGs with alpha served over http by the test itself.
// Pictures are read from screenshots of the page's <video> (640x480, the
// decoded picture filling it) as the share of a region's pixels in a colour
// (lossy codecs: "most pixels", with tolerances).
//   1. ZBarFilter: CodeFound (codeType 'QR-Code', value the QR code's text)
//      within 2 s of the endpoint's MediaFlowInStateChanged FLOWING for
//      VIDEO, and only once over a further 3 s with the code shown all
//      along; the browser keeps decoding the video that comes back.
//   2. ImageOverlayFilter: addImage with a URI that 404s and one that is not
//      an image reject, and the video goes on. (kurento-client 7.3 cannot
//      send addImage nor removeImage: its serializeParams takes any
//      parameter object with an `id` member for a MediaObject and sends
//      the id alone, "operationParams":"logo"; the server refuses that
//      with MARSHALL_ERROR. So these two go as the Java client sends them,
//      on a JSON-RPC connection of the test's own.) A 200x100 PNG (left half
//      opaque magenta, right half transparent) added over http at (0.5,
//      0.25, 0.3, 0.2) and over file:// at (0.55, 0.6, 0.3, 0.2): magenta
//      in the left half of each rectangle, the camera's blue in the right
//      half (alpha honoured) and outside; removeImage of the first: its
//      magenta goes, the second's stays.
//   3. Magic mirror: the tutorial's calls (FaceOverlayFilter,
//      setOverlayedImage(hat, -0.35, -1.2, 1.6, 1.6), webRtc -> filter ->
//      webRtc, then candidates, processOffer, gatherCandidates) with the
//      swaying portrait as the camera and a green hat with a transparent
//      margin: the screenshot is green over the middle of where the hat
//      goes (the face box, found from where the photo is, moved and scaled
//      by those numbers), not on the lower face, nor in the bottom corners,
//      nor (hardly) anywhere else; again with the face 30 pixels or more
//      away (the hat follows it); unsetOverlayedImage: no green left.
//   4. GStreamerFilter: create rejects, saying there is no GStreamer.
// Screenshots go to build/screenshots/filters-*.png. Two Chromiums, one
// after the other (the card camera for 1, 2 and 4, the portrait for 3).

const { describe, it, after } = require('node:test');
const WebSocket = require('ws');
const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { launchBrowser } = require('../lib/browser');
const { startHttpServer } = require('../lib/http_server');
const { call, fluoAndBrowserPerSuite, Signalling, browserOffers, withTimeout, sleep, releaseAtEnd, idOf } = require('../lib/kurento');
const fm = require('../lib/filter_media');

const REPO = path.resolve(__dirname, '..', '..', '..');
const SHOTS = path.join(REPO, 'build', 'screenshots');
const W = 640;
const H = 480;

// A loopback peer: the browser's camera (and microphone) into a new
// WebRtcEndpoint of `pipeline` and back, with `setup(ep)` run before the
// candidates and processOffer (the tutorials create and connect the
// filter there); subscribes `events` of the endpoint first, timing their
// arrival. Returns { peer, sig, ep, seen: [{ ev, at }] }.
async function loopback(browser, pipeline, name, setup, events = ['MediaFlowInStateChanged']) {
  const peer = await browser.newPeer({ name, audio: true, video: { width: W, height: H }, direction: 'sendrecv', videoCodec: 'VP8' });
  const sig = new Signalling(peer);
  const offer = await peer.createOffer();
  const ep = await pipeline.create('WebRtcEndpoint');
  const seen = [];
  for (const n of events) ep.on(n, (ev) => seen.push({ ev, at: Date.now() }));
  await setup(ep);
  await browserOffers(sig, ep, offer);
  return { peer, sig, ep, seen };
}

// Screenshots `peer` into `file` until judge(pixels) says ok (it returns
// { ok, line }), for up to timeoutMs; returns the last verdict.
async function shotUntil(peer, file, judge, timeoutMs = 8000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await peer.screenshot(file);
    const v = judge(fm.readPixels(file));
    if (v.ok || Date.now() >= end) return v;
    await sleep(300);
  }
}

// Shares of colours over named regions: want is { name: [region, pred,
// predName, min, max] }; ok when every share lies in [min, max].
function judgeShares(want) {
  return (px) => {
    const parts = [];
    let ok = true;
    for (const [name, [region, pred, predName, min, max]] of Object.entries(want)) {
      const s = fm.share(px, region, pred);
      if (!(s >= min && s <= max)) ok = false;
      parts.push(`${name} ${(100 * s).toFixed(0)}% ${predName} (want ${100 * min}-${100 * max}%)`);
    }
    return { ok, line: parts.join(', ') };
  };
}

// The region of `r` shrunk by `f` of its width and height on every side.
function inset(r, f) {
  return { x: r.x + r.w * f, y: r.y + r.h * f, w: r.w * (1 - 2 * f), h: r.h * (1 - 2 * f) };
}

// The share of the picture's green pixels outside region `r` (null: none).
function greenOutside(px, r) {
  const all = px.width * px.height;
  const c = r ? fm.clip(px, r) : null;
  const area = c ? c.w * c.h : 0;
  const inside = c ? fm.share(px, c, fm.isGreen) * area : 0;
  return (fm.share(px, { x: 0, y: 0, w: px.width, h: px.height }, fm.isGreen) * all - inside) / (all - area);
}

// Frames `peer` decodes over `ms`.
async function framesOver(peer, ms) {
  const a = (await peer.stats()).inVideo;
  await sleep(ms);
  const b = (await peer.stats()).inVideo;
  return (b ? b.framesDecoded : 0) - (a ? a.framesDecoded : 0);
}

const notGreen = (r, g, b) => !fm.isGreen(r, g, b);

// A JSON-RPC connection of its own to the server at `url`, for the calls
// kurento-client cannot make: invoke(object, operation, params) resolves
// the result's value or rejects with the error (message, code).
async function rawRpc(url) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let next = 1;
  const waiting = new Map();
  ws.on('message', (m) => {
    let msg;
    try {
      msg = JSON.parse(m.toString());
    } catch (_) {
      return;
    }
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.error) w.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code, data: msg.error.data }));
    else w.resolve(msg.result && msg.result.value);
  });
  return {
    invoke(object, operation, operationParams) {
      const id = next++;
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'invoke', params: { object: object.id, operation, operationParams } }));
      return withTimeout(new Promise((resolve, reject) => waiting.set(id, { resolve, reject })), 15000, operation);
    },
    close: () => ws.close(),
  };
}

// ImageOverlayFilter.addImage's parameters.
function image(id, uri, x, y, w, h) {
  return { id, uri, offsetXPercent: x, offsetYPercent: y, widthPercent: w, heightPercent: h, keepAspectRatio: false, center: false };
}

describe('Filters with Chromium', { timeout: 300000 }, () => {
  let card = null;
  let http = null;
  const suite = fluoAndBrowserPerSuite(async () => {
    card = fm.cardClip();
    http = await startHttpServer({ root: fm.DIR });
    return { browser: { fakeVideoFile: card.video } };
  });
  after(async () => {
    if (http) await http.close();
  });
  const served = (file) => `${http.url}/${path.basename(file)}`;

  it('ZBarFilter: CodeFound with the QR code within 2 s, once; the video still comes back', { timeout: 60000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const codes = [];
    let filter;
    const lb = await loopback(suite.env.browser, pipeline, 'zbar', async (ep) => {
      filter = await pipeline.create('ZBarFilter');
      assert.match(filter.id, /_kurento\.ZBarFilter$/);
      filter.on('CodeFound', (ev) => codes.push({ ev, at: Date.now() }));
      await call(ep, 'connect', filter);
      await call(filter, 'connect', ep);
    });
    const flowing = (x) => x.ev.type === 'MediaFlowInStateChanged' && x.ev.mediaType === 'VIDEO' && x.ev.state === 'FLOWING';
    const end = Date.now() + 20000;
    while (!(lb.seen.some(flowing) && codes.length) && Date.now() < end) await sleep(20);
    const flow = lb.seen.find(flowing);
    assert.ok(flow, `the endpoint's MediaFlowInStateChanged FLOWING (VIDEO) within 20 s; got ${JSON.stringify(lb.seen.map((x) => x.ev))}`);
    assert.ok(codes.length, 'CodeFound within 20 s');
    const first = codes[0];
    const took = first.at - flow.at;
    const serverTook = Number(first.ev.timestampMillis) - Number(flow.ev.timestampMillis);
    t.diagnostic(
      `CodeFound ${JSON.stringify({ codeType: first.ev.codeType, value: first.ev.value })} ${took} ms after FLOWING ` +
        `(${serverTook} ms by the events' timestampMillis)`,
    );
    assert.equal(first.ev.codeType, 'QR-Code');
    assert.equal(first.ev.value, card.qrText);
    assert.ok(took < 2000, `CodeFound ${took} ms after the video started flowing in`);
    assert.equal(idOf(first.ev.source), filter.id, 'CodeFound comes from the filter');

    // The code stays in the picture: no more CodeFound, while the video
    // keeps coming back.
    const n = await framesOver(lb.peer, 3000);
    t.diagnostic(`over 3 s more: ${codes.length} CodeFound in all, ${n} frames decoded`);
    assert.equal(codes.length, 1, `CodeFound once for one code shown all along: ${JSON.stringify(codes.map((c) => c.ev.value))}`);
    assert.ok(n >= 20, `the browser decodes the video that comes back: ${n} frames in 3 s`);

    await lb.sig.check();
    await lb.peer.close();
    await releasePipeline();
  });

  it('ImageOverlayFilter: addImage (http and file URIs, alpha), removeImage, bad images refused', { timeout: 90000 }, async (t) => {
    const logo = fm.logoPng();
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    let filter;
    const lb = await loopback(suite.env.browser, pipeline, 'overlay', async (ep) => {
      filter = await pipeline.create('ImageOverlayFilter');
      assert.match(filter.id, /_kurento\.ImageOverlayFilter$/);
      await call(ep, 'connect', filter);
      await call(filter, 'connect', ep);
    });
    await lb.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 15, 20000, { what: 'video back through the filter' });
    const rpc = await rawRpc(suite.env.srv.url);
    t.after(() => rpc.close());

    // kurento-client's own addImage: the id alone goes out, refused.
    const clientErr = await withTimeout(
      call(filter, 'addImage', 'logo', served(logo.file), 0.5, 0.25, 0.3, 0.2, false, false).then(
        () => null,
        (e) => e,
      ),
      15000,
      "kurento-client's addImage",
    );
    t.diagnostic(`kurento-client's addImage: ${clientErr ? `rejected: ${clientErr.code} ${clientErr.message}` : 'resolved'}`);
    assert.ok(clientErr, "kurento-client's addImage (operationParams sent as the id alone) rejects");

    // Refused: a 404, and text under a .png name. The video goes on.
    const bad = [
      ['a 404', `${http.url}/status/404`],
      ['not an image', served(fm.notAnImage())],
    ];
    for (const [what, uri] of bad) {
      const err = await rpc.invoke(filter, 'addImage', image('bad', uri, 0.1, 0.1, 0.2, 0.2)).then(
        () => null,
        (e) => e,
      );
      t.diagnostic(`addImage(${what}): ${err ? `rejected: ${err.code} ${err.message}` : 'resolved'}`);
      assert.ok(err, `addImage with ${what} (${uri}) rejects`);
      assert.ok(err.message && err.message.length > 0, 'with a message');
    }
    const n = await framesOver(lb.peer, 1500);
    assert.ok(n >= 10, `video goes on after the refused images: ${n} frames in 1.5 s`);

    // Two copies: over http at (0.5, 0.25, 0.3, 0.2), over file:// at
    // (0.55, 0.6, 0.3, 0.2); each rectangle's left half magenta, its right
    // half the camera's blue.
    const rect = (x, y, w, h) => ({ x: x * W, y: y * H, w: w * W, h: h * H });
    const halves = (r) => ({ left: inset({ ...r, w: r.w / 2 }, 0.1), right: inset({ ...r, x: r.x + r.w / 2, w: r.w / 2 }, 0.1) });
    const a = halves(rect(0.5, 0.25, 0.3, 0.2));
    const b = halves(rect(0.55, 0.6, 0.3, 0.2));
    const t0 = Date.now();
    await rpc.invoke(filter, 'addImage', image('logo', served(logo.file), 0.5, 0.25, 0.3, 0.2));
    await rpc.invoke(filter, 'addImage', image('logo2', pathToFileURL(logo.file).href, 0.55, 0.6, 0.3, 0.2));
    assert.ok(
      http.requests.some((r) => r.method === 'GET' && r.url === `/${path.basename(logo.file)}`),
      'the server fetched the image over http',
    );
    const outside = {
      above: [{ x: 330, y: 40, w: 170, h: 60 }, fm.isBlue, 'blue', 0.8, 1],
      right: [{ x: 560, y: 230, w: 70, h: 50 }, fm.isBlue, 'blue', 0.8, 1],
    };
    const both = await shotUntil(
      lb.peer,
      path.join(SHOTS, 'filters-overlay.png'),
      judgeShares({
        logoLeft: [a.left, fm.isMagenta, 'magenta', 0.8, 1],
        logoRight: [a.right, fm.isBlue, 'blue', 0.8, 1],
        logo2Left: [b.left, fm.isMagenta, 'magenta', 0.8, 1],
        logo2Right: [b.right, fm.isBlue, 'blue', 0.8, 1],
        ...outside,
      }),
    );
    t.diagnostic(`with both images (${Date.now() - t0} ms after addImage): ${both.line}`);
    assert.ok(both.ok, `with both images: ${both.line}`);

    const t1 = Date.now();
    await rpc.invoke(filter, 'removeImage', { id: 'logo' });
    const one = await shotUntil(
      lb.peer,
      path.join(SHOTS, 'filters-overlay-removed.png'),
      judgeShares({
        logoLeft: [a.left, fm.isBlue, 'blue', 0.8, 1],
        logoLeftMagenta: [a.left, fm.isMagenta, 'magenta', 0, 0.05],
        logo2Left: [b.left, fm.isMagenta, 'magenta', 0.8, 1],
        logo2Right: [b.right, fm.isBlue, 'blue', 0.8, 1],
        ...outside,
      }),
      5000,
    );
    t.diagnostic(`after removeImage(logo) (${Date.now() - t1} ms): ${one.line}`);
    assert.ok(one.ok, `after removeImage(logo): ${one.line}`);

    await lb.sig.check();
    await lb.peer.close();
    await releasePipeline();
  });

  it('magic mirror: FaceOverlayFilter puts the hat over the face; unsetOverlayedImage takes it off', { timeout: 90000 }, async (t) => {
    const face = fm.faceClip();
    const hat = fm.hatPng();
    const browser = await launchBrowser({ fakeVideoFile: face.video });
    t.after(() => browser.close());
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const hatUrl = served(hat.file);
    let filter;
    // The tutorial: WebRtcEndpoint, FaceOverlayFilter, setOverlayedImage,
    // webRtc.connect(filter), filter.connect(webRtc), then the queued
    // candidates, IceCandidateFound, processOffer, gatherCandidates.
    const lb = await loopback(browser, pipeline, 'mirror', async (ep) => {
      filter = await pipeline.create('FaceOverlayFilter');
      assert.match(filter.id, /_kurento\.FaceOverlayFilter$/);
      await withTimeout(call(filter, 'setOverlayedImage', hatUrl, -0.35, -1.2, 1.6, 1.6), 15000, 'setOverlayedImage');
      await call(ep, 'connect', filter);
      await call(filter, 'connect', ep);
    });
    assert.ok(
      http.requests.some((r) => r.method === 'GET' && r.url === `/${path.basename(hat.file)}`),
      'the server fetched the hat over http',
    );
    await lb.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 15, 20000, { what: 'video back through the filter' });

    // Where the hat goes on a screenshot: the face is where the photo is
    // (found from its left edge), the hat's box from the face's top-left
    // corner -0.35 face widths across and -1.2 face heights down, 1.6
    // faces wide and high; green inside its transparent margin (a tenth).
    // Checked: the middle half of the green (a face found some pixels off,
    // or a few frames late as it sways, still covers it) mostly green, the
    // lower face and the bottom corners not green, and hardly any green
    // outside the box (grown by 16 pixels).
    const corners = {
      bottomLeft: [{ x: 0, y: 400, w: 120, h: 80 }, notGreen, 'not green', 0.98, 1],
      bottomRight: [{ x: 520, y: 400, w: 120, h: 80 }, notGreen, 'not green', 0.98, 1],
    };
    const hatOn = (px) => {
      const left = face.photoLeft(px);
      const f = { x: left + face.faceIn.x, y: face.photo.y + face.faceIn.y, w: face.faceIn.w, h: face.faceIn.h };
      const box = { x: f.x - 0.35 * f.w, y: f.y - 1.2 * f.h, w: 1.6 * f.w, h: 1.6 * f.h };
      const core = inset(inset(box, hat.margin / hat.width), 0.25);
      const lowerFace = { x: f.x + 0.2 * f.w, y: f.y + 0.6 * f.h, w: 0.6 * f.w, h: 0.35 * f.h };
      const v = judgeShares({
        hat: [core, fm.isGreen, 'green', 0.8, 1],
        lowerFace: [lowerFace, notGreen, 'not green', 0.98, 1],
        ...corners,
      })(px);
      const stray = greenOutside(px, { x: box.x - 16, y: box.y - 16, w: box.w + 32, h: box.h + 32 });
      const where = `photo at x ${left}, hat box ${JSON.stringify(fm.clip(px, box))}`;
      return { ok: v.ok && stray < 0.01, left, line: `${where}: ${v.line}, green elsewhere ${(100 * stray).toFixed(1)}% (want < 1%)` };
    };
    const t0 = Date.now();
    const on = await shotUntil(lb.peer, path.join(SHOTS, 'filters-mirror.png'), hatOn, 12000);
    t.diagnostic(`the hat ${Date.now() - t0} ms after the video came back: ${on.line}`);
    assert.ok(on.ok, `the hat over the face: ${on.line}`);
    // The face sways: the hat follows it to a place 30 pixels or more away.
    const t2 = Date.now();
    const moved = await shotUntil(
      lb.peer,
      path.join(SHOTS, 'filters-mirror-moved.png'),
      (px) => {
        const v = hatOn(px);
        return { ...v, ok: v.ok && Math.abs(v.left - on.left) >= 30 };
      },
      10000,
    );
    t.diagnostic(`the hat ${Date.now() - t2} ms later: ${moved.line}`);
    assert.ok(moved.ok, `the hat follows the face from photo x ${on.left}: ${moved.line}`);

    const t1 = Date.now();
    await withTimeout(call(filter, 'unsetOverlayedImage'), 10000, 'unsetOverlayedImage');
    const off = await shotUntil(
      lb.peer,
      path.join(SHOTS, 'filters-mirror-off.png'),
      (px) => {
        const stray = greenOutside(px, null);
        return { ok: stray < 0.002, line: `green ${(100 * stray).toFixed(2)}% of the picture (want < 0.2%)` };
      },
      5000,
    );
    t.diagnostic(`after unsetOverlayedImage (${Date.now() - t1} ms): ${off.line}`);
    assert.ok(off.ok, `after unsetOverlayedImage: ${off.line}`);
    const n = await framesOver(lb.peer, 1000);
    assert.ok(n >= 5, `video goes on: ${n} frames in 1 s`);

    await lb.sig.check();
    await lb.peer.close();
    await releasePipeline();
    await browser.close();
  });

  it('GStreamerFilter: refused, saying fluo has no GStreamer', { timeout: 20000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const err = await withTimeout(
      call(pipeline, 'create', 'GStreamerFilter', { command: 'videoflip method=horizontal-flip' }).then(
        () => null,
        (e) => e,
      ),
      10000,
      'create(GStreamerFilter)',
    );
    t.diagnostic(`create(GStreamerFilter): ${err ? `${err.code} ${err.message}` : 'created'}`);
    assert.ok(err, 'create(GStreamerFilter) rejects');
    // the word itself, not only in the class name
    assert.match(err.message, /\bGStreamer\b/);
    // The pipeline is still usable.
    const pt = await pipeline.create('PassThrough');
    await call(pt, 'release');
    await releasePipeline();
  });
});
