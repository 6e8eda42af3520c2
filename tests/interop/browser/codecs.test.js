'use strict';
// Hello-world shape (one WebRtcEndpoint connected to itself, the browser
// offers) with the video codec chosen by the browser's codec preferences
// (RTCRtpTransceiver.setCodecPreferences leaves only that codec, plus rtx,
// in the offer): VP8, then H264 (Debian's Chromium encodes it with OpenH264),
// then VP9 (profile 0, which fluo negotiates since it transcodes to it too).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, releaseAtEnd } = require('../lib/kurento');

const videoCodecs = (sdp) => [...sdp.matchAll(/^a=rtpmap:\d+ ([\w-]+)\/90000/gm)].map((m) => m[1]).filter((c) => c !== 'rtx');

describe('hello-world per video codec with Chromium', { timeout: 120000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  for (const codec of ['VP8', 'H264', 'VP9']) {
    it(`${codec}: loopback decodes in the browser`, { timeout: 50000 }, async (t) => {
      const peer = await suite.env.browser.newPeer({ name: `codec-${codec}`, videoCodec: codec });
      t.after(() => peer.close());
      const sig = new Signalling(peer);
      const offer = await peer.createOffer();
      assert.deepEqual([...new Set(videoCodecs(offer))], [codec], 'the offer carries only the preferred codec');

      const pipeline = await suite.env.client.create('MediaPipeline');
      const releasePipeline = releaseAtEnd(t, pipeline);
      const webRtc = await pipeline.create('WebRtcEndpoint');
      const answer = await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(webRtc)] });
      const answered = videoCodecs(answer);
      assert.ok(answered.length > 0, 'the answer accepts video');
      assert.ok(answered.every((c) => c === codec), `the answer's video codecs ${answered} are ${codec}`);
      if (codec === 'H264') {
        // The answer keeps packetization-mode=1 (what the browser encodes).
        assert.match(answer, /a=fmtp:\d+ [^\r\n]*packetization-mode=1/);
      }

      const st = await peer.waitFor(
        (s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 50,
        30000,
        { what: `100 ${codec} frames decoded` },
      );
      assert.equal(st.inVideo.mimeType, `video/${codec}`);
      assert.equal(st.outVideo.mimeType, `video/${codec}`);
      assert.equal(st.inAudio.mimeType, 'audio/opus');
      await waitSameResolution(peer, peer);
      await sig.check();
      await releasePipeline();
    });
  }
});
