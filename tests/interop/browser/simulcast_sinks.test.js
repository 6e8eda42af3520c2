'use strict';
// Simulcast on loopback, what the network lab's test (tests/interop/net/
// simulcast.test.js) leaves out: the elements beside the viewers. A
// Chromium publisher sends three VP8 layers (sendEncodings with
// scaleResolutionDownBy 4, 2, 1 of a 1280x720 camera) to a WebRtcEndpoint
// that feeds
//   - a viewer straight, unconstrained: it decodes the top layer (1280 wide)
//     and fluo's getStats says simulcastLayer 2;
//   - a viewer through a PassThrough with maxVideoSendBandwidth 400: the
//     middle layer (640 wide; a PassThrough passes every layer on and the
//     viewer picks);
//   - a RecorderEndpoint (WEBM_VIDEO_ONLY), which takes one stream: the
//     file holds the best layer alone, 1280x720 (ffprobe), decoding cleanly
//     (ffmpeg), not a mix of three resolutions.
// The publisher's answer keeps the three layers (a=simulcast:recv).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, call, sleep, releaseAtEnd, statsOfType } = require('../lib/kurento');
const m = require('../lib/media_check');

const ENCODINGS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 100000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 300000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 700000 },
];

async function fluoVideoOut(ep) {
  const s = await ep.getStats('VIDEO');
  return statsOfType(s, 'outboundrtp')[0] || {};
}

describe('simulcast into a viewer, a PassThrough and a RecorderEndpoint', { timeout: 120000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('each sink gets one layer: the viewers theirs, the recorder the best', async (t) => {
    const b = suite.env.browser;
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    const pub = await b.newPeer({
      name: 'publisher',
      direction: 'sendonly',
      audio: false,
      video: { width: 1280, height: 720 },
      videoCodec: 'VP8',
      degradationPreference: 'maintain-resolution',
      sendEncodings: ENCODINGS,
    });
    const pubEp = await pipeline.create('WebRtcEndpoint');
    const answer = await browserOffers(new Signalling(pub), pubEp, await pub.createOffer());
    assert.match(answer, /a=simulcast:recv q;h;f/, 'the answer keeps the three layers');
    for (const rid of ['q', 'h', 'f']) assert.match(answer, new RegExp(`a=rid:${rid} recv`));

    const viewer = async (name, source, cap) => {
      const peer = await b.newPeer({ name, direction: 'recvonly', audio: false, videoCodec: 'VP8' });
      const ep = await pipeline.create('WebRtcEndpoint');
      if (cap) await ep.setMaxVideoSendBandwidth(cap);
      await browserOffers(new Signalling(peer), ep, await peer.createOffer(), { before: () => [source.connect(ep)] });
      return { name, peer, ep };
    };
    const direct = await viewer('direct', pubEp, 0);
    const pt = await pipeline.create('PassThrough');
    await pubEp.connect(pt);
    const capped = await viewer('capped', pt, 400);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-simulcast-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'best.webm');
    const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}`, mediaProfile: 'WEBM_VIDEO_ONLY' });
    await pubEp.connect(recorder);

    // the publisher sends all three
    const ps = await pub.waitFor((s) => (s.outVideos || []).filter((v) => v.framesEncoded > 20).length === 3, 20000, {
      what: 'publisher sending three encodings',
    });
    t.diagnostic(`publisher: ${ps.outVideos.map((v) => `${v.rid} ${v.frameWidth}x${v.frameHeight}`).join(', ')}`);
    await call(recorder, 'record');

    const d = await direct.peer.waitFor((s) => s.inVideo && s.inVideo.frameWidth >= 1280 && s.inVideo.framesDecoded > 30, 20000, {
      what: 'the direct viewer decoding the top layer',
    });
    const c = await capped.peer.waitFor((s) => s.inVideo && s.inVideo.frameWidth === 640 && s.inVideo.framesDecoded > 30, 20000, {
      what: 'the capped viewer (through a PassThrough) decoding the middle layer',
    });
    const fd = await fluoVideoOut(direct.ep);
    const fc = await fluoVideoOut(capped.ep);
    t.diagnostic(`direct: ${d.inVideo.frameWidth}x${d.inVideo.frameHeight}, fluo simulcastLayer ${fd.simulcastLayer} (switches ${fd.simulcastSwitches}); capped: ${c.inVideo.frameWidth}x${c.inVideo.frameHeight}, simulcastLayer ${fc.simulcastLayer} (switches ${fc.simulcastSwitches}, padding ${fc.probePaddingBytesSent} B)`);
    assert.equal(fd.simulcastLayer, 2, 'fluo forwards the top layer to the direct viewer');
    assert.equal(fc.simulcastLayer, 1, 'fluo forwards the middle layer to the capped viewer');

    // both keep decoding for 4 s at the publisher's pace
    const before = [d.inVideo.framesDecoded, c.inVideo.framesDecoded];
    await sleep(4000);
    const after = [(await direct.peer.stats()).inVideo.framesDecoded, (await capped.peer.stats()).inVideo.framesDecoded];
    for (const [i, name] of ['direct', 'capped'].entries()) {
      const fps = (after[i] - before[i]) / 4;
      t.diagnostic(`${name}: ${fps.toFixed(1)} frames/s decoded`);
      assert.ok(fps >= 10, `${name} decodes ${fps} frames/s`);
    }

    await call(recorder, 'stopAndWait');
    const p = m.probe(file);
    const v = p.streams.find((s) => s.codec_type === 'video');
    assert.ok(v, 'the recording has a video stream');
    t.diagnostic(`recording: ${v.codec_name} ${v.width}x${v.height}, ${p.format.duration} s`);
    assert.equal(v.width, 1280, 'the recorder took the best layer');
    assert.equal(v.height, 720);
    const errs = m.decodeErrors(file);
    assert.equal(errs, '', `the recording decodes cleanly: ${errs.slice(0, 500)}`);
    const pk = m.packets(file);
    assert.ok(pk.video.count > 40, `the recording holds ${pk.video.count} video frames`);
  });
});
