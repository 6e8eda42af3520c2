'use strict';
// Hello-world shape with the browser forced through TURN: coturn on
// 127.0.0.1 with a static long-term credential (lib/coturn.js, as
// tests/unit/ice/test_turn_coturn.c runs it), the browser peer with
// iceServers [turn:127.0.0.1:PORT?transport=udp] and iceTransportPolicy
// 'relay'. The selected pair's local candidate must be a relay one, and
// media must loop back through it.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, releaseAtEnd } = require('../lib/kurento');

describe('hello-world through TURN (coturn) with Chromium', { timeout: 90000 }, () => {
  const suite = fluoAndBrowserPerSuite({ coturn: true });

  it('relay-only browser loops media back through coturn', { timeout: 60000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({
      name: 'relay',
      iceServers: [suite.turn.iceServer],
      iceTransportPolicy: 'relay',
    });
    t.after(() => peer.close());
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    // Relay candidates take an Allocate round trip: wait for the first one so
    // it is queued before the endpoint exists, as in the tutorials.
    await sig.waitBrowserCandidates(1, 10000);
    for (const c of sig.fromBrowser) assert.match(c.candidate, / typ relay /, 'relay policy: relay candidates only');

    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const webRtc = await pipeline.create('WebRtcEndpoint');
    await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(webRtc)] });

    const st = await peer.waitFor(
      (s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 50,
      30000,
      { what: '100 frames decoded through TURN' },
    );
    assert.ok(st.pair, 'selected candidate pair');
    assert.equal(st.pair.localType, 'relay', `selected local candidate ${JSON.stringify(st.pair)}`);
    assert.equal(st.pair.localRelayProtocol, 'udp');
    assert.equal(st.pair.localAddress, '127.0.0.1', 'the relayed address is coturn\'s');
    await waitSameResolution(peer, peer);
    await sig.check();
    await releasePipeline();
  });
});
