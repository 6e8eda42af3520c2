'use strict';
// The server as the SDP offerer (SdpEndpoint.generateOffer / processAnswer),
// which no Kurento tutorial does but the API documents: a sendonly browser
// presenter feeds its WebRtcEndpoint (browser offers, one2many order); a
// second WebRtcEndpoint fed by it (presenter.connect(viewer)) generates the
// offer, a recvonly browser peer answers, then processAnswer ->
// gatherCandidates. Browser candidates go to addIceCandidate as they come.
// Once without options (a sendrecv offer; the browser answers recvonly), once
// with OfferOptions{offerToReceiveAudio:false, offerToReceiveVideo:false}
// (the offer itself is sendonly).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, withTimeout, kurentoClient, releaseAtEnd } = require('../lib/kurento');

const directions = (sdp) => [...sdp.matchAll(/^a=(sendrecv|sendonly|recvonly|inactive)\r?$/gm)].map((m) => m[1]);
const kinds = (sdp) => [...sdp.matchAll(/^m=(\w+) /gm)].map((m) => m[1]);

describe('generateOffer/processAnswer with Chromium answering', { timeout: 120000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  const cases = [
    { name: 'generateOffer()', options: undefined, offered: 'sendrecv' },
    {
      name: 'generateOffer(OfferOptions{offerToReceive*: false})',
      options: { offerToReceiveAudio: false, offerToReceiveVideo: false },
      offered: 'sendonly',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: a recvonly browser decodes the presenter`, { timeout: 50000 }, async (t) => {
      const b = suite.env.browser;
      const presenter = await b.newPeer({ name: 'presenter', direction: 'sendonly' });
      t.after(() => presenter.close());
      const psig = new Signalling(presenter);
      const pOffer = await presenter.createOffer();
      const pipeline = await suite.env.client.create('MediaPipeline');
      const releasePipeline = releaseAtEnd(t, pipeline);
      const presenterEp = await pipeline.create('WebRtcEndpoint');
      await browserOffers(psig, presenterEp, pOffer);

      const viewer = await b.newPeer({ name: 'viewer', direction: 'recvonly' });
      t.after(() => viewer.close());
      const vsig = new Signalling(viewer);
      const ep = await pipeline.create('WebRtcEndpoint');
      vsig.attach(ep); // IceCandidateFound before anything else
      await withTimeout(presenterEp.connect(ep), 10000, 'presenter.connect(viewer)');
      const offer = await withTimeout(
        c.options ? ep.generateOffer(kurentoClient.getComplexType('OfferOptions')(c.options)) : ep.generateOffer(),
        10000,
        'generateOffer',
      );
      assert.match(offer, /^v=0\r?\n/);
      assert.deepEqual(kinds(offer), ['audio', 'video'], 'the offer has audio then video');
      assert.deepEqual(directions(offer), [c.offered, c.offered], `media directions of the offer`);
      assert.match(offer, /a=setup:actpass/, 'the offerer lets the answerer pick the DTLS role');
      assert.match(offer, /a=ice-ufrag:\S+/);
      assert.match(offer, /a=fingerprint:sha-256 [0-9A-F:]+/);
      assert.match(offer, /a=rtpmap:\d+ VP8\/90000/);
      assert.match(offer, /a=rtpmap:\d+ opus\/48000\/2/);

      await vsig.applyRemote('offer', offer);
      const answer = await viewer.createAnswer();
      assert.deepEqual(directions(answer), ['recvonly', 'recvonly']);
      await withTimeout(ep.processAnswer(answer), 10000, 'processAnswer');
      await withTimeout(ep.gatherCandidates(), 10000, 'gatherCandidates');

      const st = await viewer.waitFor(
        (s) => s.inVideo && s.inVideo.framesDecoded > 50 && s.inAudio && s.inAudio.packetsReceived > 20,
        30000,
        { what: 'viewer: 50 frames and audio' },
      );
      assert.equal(st.connectionState, 'connected');
      assert.equal(st.outVideo, null);
      // The server offered actpass; Chromium as answerer takes the DTLS client role.
      assert.equal(st.transport.dtlsRole, 'client');
      await waitSameResolution(presenter, viewer);
      await vsig.check();
      await psig.check();
      await releasePipeline();
    });
  }
});
