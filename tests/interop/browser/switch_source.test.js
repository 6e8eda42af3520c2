'use strict';
// A viewer whose source changes: two presenters (A and B) and one recvonly
// viewer; A.connect(viewer), then B.connect(viewer) replaces A. The viewer
// must see one continuous stream: the same SSRC before and after, video
// decoding on within a second of the switch (a key frame is asked of B), no
// burst of "lost" packets from a sequence jump, and the Kurento events of
// the replaced link.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, recordEvents, withTimeout, sleep, releaseAtEnd } = require('../lib/kurento');

describe('a viewer switched from one presenter to another', { timeout: 120000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('keeps one continuous stream', { timeout: 90000 }, async (t) => {
    const b = suite.env.browser;
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);

    async function presenter(name) {
      const peer = await b.newPeer({ name, direction: 'sendonly' });
      const sig = new Signalling(peer);
      const offer = await peer.createOffer();
      const ep = await pipeline.create('WebRtcEndpoint');
      await browserOffers(sig, ep, offer);
      await peer.waitFor((s) => s.outVideo && s.outVideo.packetsSent > 50, 20000, { what: `${name} sending` });
      return { peer, sig, ep };
    }
    const a = await presenter('presenterA');
    const bb = await presenter('presenterB');

    const viewer = await b.newPeer({ name: 'viewer', direction: 'recvonly' });
    const vsig = new Signalling(viewer);
    const vOffer = await viewer.createOffer();
    const vEp = await pipeline.create('WebRtcEndpoint');
    const rec = recordEvents(a.ep, ['ElementConnected', 'ElementDisconnected']);
    await browserOffers(vsig, vEp, vOffer, { before: () => [a.ep.connect(vEp)] });
    const s1 = await viewer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 60, 20000, { what: 'viewer decodes A' });
    const ssrcBefore = s1.inVideo.ssrc;

    await withTimeout(bb.ep.connect(vEp), 10000, 'B.connect(viewer)');
    const switchedAt = Date.now();
    await rec.wait('ElementDisconnected', (e) => e.mediaType === 'VIDEO');
    // B's stream decodes on: frames keep coming within a second (a key
    // frame was asked of B), then for a while.
    const framesAtSwitch = (await viewer.stats()).inVideo.framesDecoded;
    const s2 = await viewer.waitFor((s) => s.inVideo.framesDecoded > framesAtSwitch + 30, 10000, { what: 'viewer decodes B', intervalMs: 50 });
    assert.ok(Date.now() - switchedAt < 3000, `30 frames of B within ${Date.now() - switchedAt} ms`);
    await sleep(2000);
    const s3 = await viewer.stats();
    assert.ok(s3.inVideo.framesDecoded > s2.inVideo.framesDecoded + 20, 'still decoding');
    // One stream: the same SSRC, and the sequence continued (a jump would
    // count as thousands of lost packets).
    assert.equal(s3.inVideo.ssrc, ssrcBefore, 'the viewer sees the same SSRC after the switch');
    assert.equal(s3.inVideos.length, 1, 'one inbound video stream');
    assert.ok(s3.inVideo.packetsLost < 20, `packets lost ${s3.inVideo.packetsLost}`);
    assert.ok(s3.inAudio.packetsLost < 20, `audio packets lost ${s3.inAudio.packetsLost}`);

    await vsig.check();
    await releasePipeline();
  });
});
