'use strict';
// Kurento's hello-world tutorial (WebRTC loopback) against fluo: kurento-client
// in Node as the tutorial's Node application server, headless Chromium as the
// browser (it offers). Call order of tutorials/javascript-node/hello-world:
// create MediaPipeline -> create WebRtcEndpoint -> flush the browser's queued
// candidates (addIceCandidate) -> subscribe IceCandidateFound (plus the Java
// tutorial's other listeners) -> connect(self) -> processOffer ->
// gatherCandidates, the last three issued back-to-back.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, recordEvents, browserOffers, idOf, releaseAtEnd } = require('../lib/kurento');

const EVENTS = [
  'Error',
  'MediaFlowInStateChanged',
  'MediaFlowOutStateChanged',
  'ConnectionStateChanged',
  'MediaStateChanged',
  'MediaTranscodingStateChanged',
  'IceComponentStateChanged',
  'IceGatheringDone',
  'NewCandidatePairSelected',
];

describe('hello-world (WebRtcEndpoint loopback) with Chromium', { timeout: 90000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('loops audio and video back to the browser, with Kurento events', { timeout: 60000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({ name: 'hello', audio: true, video: true, direction: 'sendrecv' });
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    // The browser trickles from setLocalDescription on; the app queues until
    // the endpoint exists (so some go before processOffer).
    await sig.waitBrowserCandidates(1);

    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const webRtc = await pipeline.create('WebRtcEndpoint');
    assert.match(webRtc.id, /_kurento\.WebRtcEndpoint$/);

    let rec;
    await browserOffers(sig, webRtc, offer, {
      before: () => {
        rec = recordEvents(webRtc, EVENTS); // subscribes, after IceCandidateFound
        return [webRtc.connect(webRtc)];
      },
    });
    assert.ok(sig.addedBeforeProcessOffer >= 1, 'some browser candidates were added before processOffer');

    const enough = (s) =>
      s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 50 && s.inAudio.totalSamplesReceived > 0;
    const st = await peer.waitFor(enough, 30000, { what: '100 frames decoded and audio received' });
    assert.equal(st.connectionState, 'connected');
    assert.ok(st.inAudio.bytesReceived > 0);
    const [sent, got] = await waitSameResolution(peer, peer);
    assert.equal(got.inVideo.frameWidth, sent.outVideo.frameWidth);
    assert.equal(got.inVideo.frameHeight, sent.outVideo.frameHeight);
    await sig.check();

    // IceCandidateFound: the server's candidates, as IceCandidate complex values.
    assert.ok(sig.serverCandidates.length > 0, 'IceCandidateFound events');
    for (const c of sig.serverCandidates) {
      assert.match(c.candidate, /^candidate:\S+ \d+ (udp|tcp|UDP|TCP) \d+ \S+ \d+ typ (host|srflx|prflx|relay)/);
      assert.equal(typeof c.sdpMid, 'string');
      assert.equal(typeof c.sdpMLineIndex, 'number');
      assert.equal(c.__module__, 'kurento');
      assert.equal(c.__type__, 'IceCandidate');
    }

    await rec.wait('IceGatheringDone');
    await rec.wait('IceComponentStateChanged', (e) => e.state === 'CONNECTED' || e.state === 'READY');
    const pair = (await rec.wait('NewCandidatePairSelected')).candidatePair;
    const conn = await rec.wait('ConnectionStateChanged', (e) => e.newState === 'CONNECTED');
    const media = await rec.wait('MediaStateChanged', (e) => e.newState === 'CONNECTED');
    for (const mt of ['AUDIO', 'VIDEO']) {
      await rec.wait('MediaFlowInStateChanged', (e) => e.mediaType === mt && e.state === 'FLOWING');
      await rec.wait('MediaFlowOutStateChanged', (e) => e.mediaType === mt && e.state === 'FLOWING');
    }

    // Payload fields (kmd: RaiseBase{source,timestampMillis,tags} <- Media{type} <- ...).
    for (const ev of rec.all) {
      assert.ok(EVENTS.includes(ev.type), `event type ${ev.type}`);
      assert.equal(idOf(ev.source), webRtc.id, `${ev.type}.source`);
      assert.equal(typeof ev.timestampMillis, 'string', `${ev.type}.timestampMillis is a string`);
      assert.match(ev.timestampMillis, /^\d+$/);
      assert.ok(Array.isArray(ev.tags), `${ev.type}.tags`);
    }
    assert.deepEqual(rec.by.Error, [], 'no Error events');
    for (const ev of rec.by.IceComponentStateChanged) {
      assert.ok(Number.isInteger(ev.streamId), 'streamId int');
      assert.ok(Number.isInteger(ev.componentId), 'componentId int');
      assert.ok(['DISCONNECTED', 'GATHERING', 'CONNECTING', 'CONNECTED', 'READY', 'FAILED'].includes(ev.state), ev.state);
    }
    assert.equal(pair.__type__, 'IceCandidatePair');
    assert.equal(typeof pair.streamId, 'string');
    assert.ok(Number.isInteger(pair.componentId));
    assert.match(pair.localCandidate, /typ (host|srflx|prflx|relay)/);
    assert.match(pair.remoteCandidate, /typ (host|srflx|prflx|relay)/);
    assert.equal(conn.oldState, 'DISCONNECTED');
    assert.equal(media.oldState, 'DISCONNECTED');
    for (const name of ['MediaFlowInStateChanged', 'MediaFlowOutStateChanged']) {
      for (const ev of rec.by[name]) {
        assert.ok(['FLOWING', 'NOT_FLOWING'].includes(ev.state), `${name}.state ${ev.state}`);
        assert.ok(['AUDIO', 'VIDEO', 'DATA'].includes(ev.mediaType), `${name}.mediaType ${ev.mediaType}`);
        assert.equal(typeof ev.padName, 'string');
      }
    }

    // The browser sees the server's candidates as the remote end.
    assert.ok(st.pair, 'selected candidate pair');
    assert.ok(['host', 'prflx'].includes(st.pair.remoteType), `remote candidate type ${st.pair.remoteType}`);

    await releasePipeline();
    await peer.close();
  });
});
