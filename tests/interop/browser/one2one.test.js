'use strict';
// Kurento's one2one-call tutorial against fluo: two sendrecv browser peers,
// each WebRtcEndpoint connected to the other. Order of
// tutorials/javascript-node/one2one-call on accept: create MediaPipeline ->
// caller WebRtcEndpoint (+queued addIceCandidate, IceCandidateFound) ->
// callee WebRtcEndpoint (likewise) -> caller.connect(callee) ->
// callee.connect(caller) -> callee processOffer + gatherCandidates -> caller
// processOffer + gatherCandidates; hang-up: pipeline.release().
// The two send different shapes (640x480 is 4:3, 320x180 is 16:9, which
// stays so when the encoder scales down), so each decoding the other's shape
// shows the cross wiring (a loopback would not).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, withTimeout, releaseAtEnd } = require('../lib/kurento');

describe('one2one-call with Chromium', { timeout: 90000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('caller and callee see each other', { timeout: 60000 }, async (t) => {
    const b = suite.env.browser;
    const caller = await b.newPeer({ name: 'caller', video: { width: 640, height: 480 } });
    const callee = await b.newPeer({ name: 'callee', video: { width: 320, height: 180 } });
    const csig = new Signalling(caller);
    const esig = new Signalling(callee);
    // "call": the caller's offer waits at the app server until the callee
    // accepts with its own offer.
    const callerOffer = await caller.createOffer();
    const calleeOffer = await callee.createOffer();

    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const callerEp = await pipeline.create('WebRtcEndpoint');
    csig.attach(callerEp);
    const calleeEp = await pipeline.create('WebRtcEndpoint');
    esig.attach(calleeEp);
    await withTimeout(Promise.all([callerEp.connect(calleeEp), calleeEp.connect(callerEp)]), 10000, 'connects');

    esig.markProcessOffer();
    const calleeAnswerP = calleeEp.processOffer(calleeOffer);
    const calleeGatherP = calleeEp.gatherCandidates();
    const calleeAnswer = await withTimeout(calleeAnswerP, 10000, 'callee processOffer');
    csig.markProcessOffer();
    const callerAnswerP = callerEp.processOffer(callerOffer);
    const callerGatherP = callerEp.gatherCandidates();
    const callerAnswer = await withTimeout(callerAnswerP, 10000, 'caller processOffer');
    await withTimeout(Promise.all([calleeGatherP, callerGatherP]), 10000, 'gatherCandidates');
    await esig.applyRemote('answer', calleeAnswer);
    await csig.applyRemote('answer', callerAnswer);

    const enough = (s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 50;
    await Promise.all([
      caller.waitFor(enough, 30000, { what: 'caller: 100 frames and audio' }),
      callee.waitFor(enough, 30000, { what: 'callee: 100 frames and audio' }),
    ]);
    const [callerOut, calleeIn] = await waitSameResolution(caller, callee);
    const [calleeOut, callerIn] = await waitSameResolution(callee, caller);
    const ratio = (v) => (v.frameWidth / v.frameHeight).toFixed(2);
    assert.equal(ratio(callerOut.outVideo), '1.33', 'caller sends 4:3');
    assert.equal(ratio(calleeOut.outVideo), '1.78', 'callee sends 16:9');
    assert.equal(ratio(calleeIn.inVideo), '1.33', 'the callee decodes the caller');
    assert.equal(ratio(callerIn.inVideo), '1.78', 'the caller decodes the callee');
    await csig.check();
    await esig.check();

    await releasePipeline();
  });
});
