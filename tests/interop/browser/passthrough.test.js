'use strict';
// Media through the pipeline graph with a PassThrough in the middle (the
// browser offers, as the Node tutorials):
//   1. loopback: browser <-> WebRtcEndpoint A; A.connect(PassThrough P);
//      P.connect(A). The browser decodes its own camera at the sent
//      resolution, audio arrives, and a screenshot of the remote <video>
//      (build/screenshots/passthrough.png) shows the fake camera's picture.
//   2. fan-out: sendonly presenter -> A -> P -> B and C, the WebRtcEndpoints
//      of two recvonly viewers (one2many order for the viewers, with
//      P.connect(viewer) in place of presenter.connect(viewer)); both decode.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { REPO } = require('../lib/server');
const { waitSameResolution, pngStats } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, recordEvents, withTimeout, releaseAtEnd } = require('../lib/kurento');

const SHOTS = path.join(REPO, 'build', 'screenshots');

describe('PassThrough in the media path with Chromium', { timeout: 150000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('loopback A -> PassThrough -> A: the browser decodes itself; screenshot', { timeout: 60000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({ name: 'pt-loop' });
    t.after(() => peer.close());
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();

    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const webRtc = await pipeline.create('WebRtcEndpoint');
    const pass = await pipeline.create('PassThrough');
    assert.match(pass.id, /_kurento\.PassThrough$/);
    const rec = recordEvents(webRtc, ['Error']);
    await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(pass), pass.connect(webRtc)] });

    const st = await peer.waitFor(
      (s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 50 && s.inAudio.totalSamplesReceived > 0,
      30000,
      { what: '100 frames decoded and audio received through the PassThrough' },
    );
    assert.equal(st.connectionState, 'connected');
    assert.ok(st.inAudio.bytesReceived > 0);
    const [sent, got] = await waitSameResolution(peer, peer);
    assert.equal(got.inVideo.frameWidth, sent.outVideo.frameWidth);
    assert.equal(got.inVideo.frameHeight, sent.outVideo.frameHeight);
    assert.ok(sent.outVideo.frameWidth >= 320 && sent.outVideo.frameHeight >= 240, `sent ${sent.outVideo.frameWidth}x${sent.outVideo.frameHeight}`);

    // The remote <video> shows the fake camera (green frame, timer, pacman).
    const file = path.join(SHOTS, 'passthrough.png');
    await peer.screenshot(file);
    const p = pngStats(file);
    assert.equal(p.width, 640);
    assert.equal(p.height, 480);
    assert.ok(p.variance > 50, `screenshot not blank (luma variance ${p.variance.toFixed(1)}, ${p.distinct} colours)`);
    assert.ok(p.distinct > 20, `screenshot has ${p.distinct} distinct colours`);
    assert.ok(fs.statSync(file).size > 2000);
    t.diagnostic(`passthrough.png: luma mean ${p.mean.toFixed(1)}, variance ${p.variance.toFixed(1)}, ${p.distinct} colours`);

    assert.deepEqual(rec.by.Error, [], 'no Error events');
    await sig.check();
    await releasePipeline();
  });

  it('presenter -> A -> PassThrough -> B, C (two recvonly viewers)', { timeout: 60000 }, async (t) => {
    const b = suite.env.browser;
    const presenter = await b.newPeer({ name: 'pt-presenter', direction: 'sendonly' });
    t.after(() => presenter.close());
    const psig = new Signalling(presenter);
    const pOffer = await presenter.createOffer();

    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const presenterEp = await pipeline.create('WebRtcEndpoint');
    const pass = await pipeline.create('PassThrough');
    const pAnswer = await browserOffers(psig, presenterEp, pOffer, { before: () => [presenterEp.connect(pass)] });
    assert.match(pAnswer, /a=recvonly/, 'the server answers a sendonly offer with recvonly');
    await presenter.waitFor((s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.packetsSent > 0, 20000, {
      what: 'presenter connected and sending',
    });

    const viewers = [];
    for (const name of ['pt-viewerB', 'pt-viewerC']) {
      const peer = await b.newPeer({ name, direction: 'recvonly' });
      t.after(() => peer.close());
      const sig = new Signalling(peer);
      const offer = await peer.createOffer();
      const ep = await pipeline.create('WebRtcEndpoint');
      const rec = recordEvents(ep, ['Error']);
      sig.attach(ep);
      sig.markProcessOffer();
      const answer = await ep.processOffer(offer);
      assert.match(answer, /a=sendonly/, `${name}: the server answers a recvonly offer with sendonly`);
      const connectP = pass.connect(ep);
      const gatherP = ep.gatherCandidates();
      await withTimeout(connectP, 10000, `${name}: passThrough.connect(viewer)`);
      await sig.applyRemote('answer', answer);
      await withTimeout(gatherP, 10000, `${name}: gatherCandidates`);
      viewers.push({ name, peer, sig, ep, rec });
    }

    for (const v of viewers) {
      const st = await v.peer.waitFor(
        (s) => s.inVideo && s.inVideo.framesDecoded > 50 && s.inAudio && s.inAudio.packetsReceived > 20 && s.inAudio.totalSamplesReceived > 0,
        20000,
        { what: `${v.name}: 50 frames and audio through the PassThrough` },
      );
      assert.equal(st.outVideo, null, `${v.name} sends nothing`);
      const [sent, got] = await waitSameResolution(presenter, v.peer);
      assert.equal(got.inVideo.frameWidth, sent.outVideo.frameWidth);
      assert.equal(got.inVideo.frameHeight, sent.outVideo.frameHeight);
      assert.deepEqual(v.rec.by.Error, [], `${v.name}: no Error events`);
      await v.sig.check();
    }
    await psig.check();
    await releasePipeline();
  });
});
