'use strict';
// WebRtcEndpoint properties and SdpEndpoint accessors through kurento-client,
// with headless Chromium where media has to flow:
//   - ICE/bandwidth properties round-trip before processOffer; the ICE ones
//     are fixed once processOffer ran (40107);
//   - hello-world shape: getMediaState/getConnectionState DISCONNECTED before,
//     ICECandidatePairs/IceConnectionState/DtlsConnectionState empty before,
//     the selected pair and the ICE and DTLS states after,
//     CONNECTED once media flows; getLocalSessionDescriptor is the answer,
//     getRemoteSessionDescriptor the browser's offer; a second processOffer
//     -> 40208; addIceCandidate: malformed -> 40401, valid -> ok;
//     getStats('AUDIO') holds only the audio streams;
//   - processAnswer without generateOffer -> 40209; processOffer('hello') ->
//     40201 and the server goes on serving (a fresh endpoint loops media);
//   - create({recvonly:true}) / ({sendonly:true}) answer recvonly / sendonly.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { REPO } = require('../lib/server');
const { fluoAndBrowserPerSuite, call, Signalling, browserOffers, iceCandidate, statsOfType, releaseAtEnd } = require('../lib/kurento');

const OFFER = fs.readFileSync(path.join(REPO, 'tests', 'data', 'sdp', 'chromium_offer.sdp'), 'utf8');
const directions = (sdp) => [...sdp.matchAll(/^a=(sendrecv|sendonly|recvonly|inactive)\r?$/gm)].map((m) => m[1]);
const kinds = (sdp) => [...sdp.matchAll(/^m=(\w+) /gm)].map((m) => m[1]);

// Asserts that `p` rejects with the Kurento error `code`; returns the error.
async function rejectsWith(p, code, what) {
  let err = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected error ${code}, but it succeeded`);
  assert.equal(err.code, code, `${what}: error code (message: ${err.message})`);
  return err;
}

describe('WebRtcEndpoint properties and SDP accessors with Chromium', { timeout: 150000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('ICE and bandwidth properties round-trip before processOffer; ICE ones fixed after (40107)', { timeout: 30000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const ep = await pipeline.create('WebRtcEndpoint');

    const values = [
      ['StunServerAddress', '127.0.0.1'],
      ['StunServerPort', 3478],
      ['TurnUrl', 'u:p@127.0.0.1:3478'],
      ['ExternalIPv4', '198.51.100.7'],
      ['NetworkInterfaces', 'lo'],
      ['MaxVideoRecvBandwidth', 700],
      ['MinVideoSendBandwidth', 150],
      ['MaxVideoSendBandwidth', 900],
    ];
    for (const [name, v] of values) await call(ep, `set${name}`, v);
    for (const [name, v] of values) assert.deepEqual(await call(ep, `get${name}`), v, `get${name}`);

    const answer = await call(ep, 'processOffer', OFFER);
    assert.match(answer, /^v=0\r?\n/);
    const err = await rejectsWith(call(ep, 'setStunServerAddress', '127.0.0.2'), 40107, 'setStunServerAddress after processOffer');
    t.diagnostic(`40107: ${err.message}`);
    await rejectsWith(call(ep, 'setTurnUrl', 'x:y@127.0.0.2:3478'), 40107, 'setTurnUrl after processOffer');
    // The refused calls changed nothing.
    assert.equal(await ep.getStunServerAddress(), '127.0.0.1');
    assert.equal(await ep.getTurnUrl(), 'u:p@127.0.0.1:3478');
    // Bandwidths are not ICE settings: they can still change.
    await call(ep, 'setMaxVideoSendBandwidth', 1200);
    assert.equal(await ep.getMaxVideoSendBandwidth(), 1200);
    await releasePipeline();
  });

  it('hello-world: states, session descriptors, 40208, addIceCandidate, getStats(AUDIO)', { timeout: 60000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({ name: 'props' });
    t.after(() => peer.close());
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();

    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const webRtc = await pipeline.create('WebRtcEndpoint');
    assert.equal(await webRtc.getMediaState(), 'DISCONNECTED', 'getMediaState before processOffer');
    assert.equal(await webRtc.getConnectionState(), 'DISCONNECTED', 'getConnectionState before processOffer');
    assert.equal(await webRtc.getLocalSessionDescriptor(), '', 'no local SDP before negotiation');
    assert.equal(await webRtc.getRemoteSessionDescriptor(), '', 'no remote SDP before negotiation');
    assert.deepEqual(await call(webRtc, 'getICECandidatePairs'), [], 'no candidate pair before negotiation');
    assert.deepEqual(await call(webRtc, 'getIceConnectionState'), [], 'no ICE state before negotiation');
    assert.deepEqual(await call(webRtc, 'getDtlsConnectionState'), [], 'no DTLS state before negotiation');

    const answer = await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(webRtc)] });
    assert.equal(await webRtc.getLocalSessionDescriptor(), answer, 'getLocalSessionDescriptor is the answer processOffer returned');
    assert.equal(await webRtc.getRemoteSessionDescriptor(), offer, "getRemoteSessionDescriptor is the browser's offer");

    const st = await peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 50 && s.inAudio && s.inAudio.packetsReceived > 50, 30000, {
      what: 'media loops back',
    });
    let states;
    const end = Date.now() + 5000;
    do {
      states = [await webRtc.getMediaState(), await webRtc.getConnectionState()];
      if (states[0] === 'CONNECTED' && states[1] === 'CONNECTED') break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < end);
    assert.deepEqual(states, ['CONNECTED', 'CONNECTED'], '[getMediaState, getConnectionState] once media flows');

    // The read-only ICE properties: the selected pair, local side one of the
    // candidates the endpoint signalled, remote side one of the browser's;
    // the component's state.
    const pairs = await call(webRtc, 'getICECandidatePairs');
    const ice = await call(webRtc, 'getIceConnectionState');
    t.diagnostic(`ICECandidatePairs ${JSON.stringify(pairs)} IceConnectionState ${JSON.stringify(ice)}`);
    assert.equal(pairs.length, 1, 'one selected pair');
    assert.equal(pairs[0].streamId, '1');
    assert.equal(pairs[0].componentId, 1);
    const hostPort = (c) => c.split(' ').slice(4, 6).join(' ');
    const ours = sig.serverCandidates.map((c) => hostPort(c.candidate));
    assert.ok(ours.includes(hostPort(pairs[0].localCandidate)), `localCandidate ${pairs[0].localCandidate} is one of ours: ${ours}`);
    assert.match(pairs[0].remoteCandidate, /^candidate:\S+ 1 udp \d+ \S+ \d+ typ \w+/i);
    assert.equal(ice.length, 1, 'one component');
    assert.equal(ice[0].streamId, '1');
    assert.equal(ice[0].componentId, 1);
    assert.ok(['CONNECTED', 'READY'].includes(ice[0].state), `state ${ice[0].state}`);
    const dtls = await call(webRtc, 'getDtlsConnectionState');
    assert.deepEqual(dtls, [{ streamId: '1', componentId: '1', connectionId: '1', state: 'CONNECTED' }], `DtlsConnectionState ${JSON.stringify(dtls)}`);

    // addIceCandidate: malformed -> 40401; well-formed -> ok.
    await rejectsWith(
      call(webRtc, 'addIceCandidate', iceCandidate({ candidate: 'candidate:this is not a candidate', sdpMid: '0', sdpMLineIndex: 0 })),
      40401,
      'addIceCandidate(malformed)',
    );
    await call(
      webRtc,
      'addIceCandidate',
      iceCandidate({ candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host generation 0', sdpMid: '0', sdpMLineIndex: 0 }),
    );
    await sig.check(); // every one of the browser's candidates was accepted

    // getStats('AUDIO'): audio inboundrtp/outboundrtp only, matched to the
    // browser's SSRCs.
    const [audio, br] = await Promise.all([webRtc.getStats('AUDIO'), peer.stats()]);
    const ins = statsOfType(audio, 'inboundrtp');
    const outs = statsOfType(audio, 'outboundrtp');
    t.diagnostic(`getStats('AUDIO') types: ${JSON.stringify(Object.values(audio).map((s) => [s.type, s.__type__]))}`);
    assert.equal(ins.length, 1, `one inboundrtp: ${JSON.stringify(ins)}`);
    assert.equal(outs.length, 1, `one outboundrtp: ${JSON.stringify(outs)}`);
    const videoSsrcs = [...br.outVideos, ...br.inVideos].map((s) => String(s.ssrc));
    for (const s of [...ins, ...outs]) {
      assert.equal(typeof s.ssrc, 'string', 'ssrc is a string');
      assert.ok(!videoSsrcs.includes(s.ssrc), `${s.type} ${s.ssrc} is not a video SSRC (${videoSsrcs})`);
      assert.equal(s.codecId, 'opus');
      assert.equal(s.__module__, 'kurento');
    }
    assert.equal(ins[0].__type__, 'RTCInboundRTPStreamStats');
    assert.equal(outs[0].__type__, 'RTCOutboundRTPStreamStats');
    assert.equal(ins[0].ssrc, String(br.outAudio.ssrc), "inboundrtp is the browser's audio");
    assert.equal(outs[0].ssrc, String(br.inAudio.ssrc), 'outboundrtp is the audio the browser receives');
    assert.ok(Number.isInteger(ins[0].packetsReceived) && ins[0].packetsReceived > 50, `packetsReceived ${ins[0].packetsReceived}`);
    assert.ok(Number.isInteger(ins[0].bytesReceived) && ins[0].bytesReceived > 1000, `bytesReceived ${ins[0].bytesReceived}`);
    assert.ok(Number.isInteger(outs[0].packetsSent) && outs[0].packetsSent > 50, `packetsSent ${outs[0].packetsSent}`);
    for (const s of Object.values(audio)) {
      assert.ok(['inboundrtp', 'outboundrtp', 'endpoint'].includes(s.type), `getStats('AUDIO') entry of type ${s.type}`);
    }
    assert.equal(st.connectionState, 'connected');

    // A second processOffer on the negotiated endpoint.
    const err = await rejectsWith(call(webRtc, 'processOffer', offer), 40208, 'second processOffer');
    t.diagnostic(`40208: ${err.message}`);
    // The refused offer changes nothing: same descriptors, media goes on.
    const b0 = await peer.stats();
    await new Promise((r) => setTimeout(r, 2000));
    const b1 = await peer.stats();
    const after = {
      local: await webRtc.getLocalSessionDescriptor(),
      remote: await webRtc.getRemoteSessionDescriptor(),
      states: [await webRtc.getMediaState(), await webRtc.getConnectionState()],
      framesDecoded: [b0.inVideo.framesDecoded, b1.inVideo.framesDecoded],
      audioPackets: [b0.inAudio.packetsReceived, b1.inAudio.packetsReceived],
    };
    t.diagnostic(
      `after the refused offer: local ${after.local.length} chars, remote ${after.remote.length} chars, states ${after.states}, ` +
        `framesDecoded ${after.framesDecoded}, audio packets ${after.audioPackets}`,
    );
    assert.ok(b1.inVideo.framesDecoded > b0.inVideo.framesDecoded + 20, `the browser still decodes after the refused offer: ${after.framesDecoded}`);
    assert.ok(b1.inAudio.packetsReceived > b0.inAudio.packetsReceived + 50, `audio still arrives after the refused offer: ${after.audioPackets}`);
    assert.equal(after.local, answer, 'getLocalSessionDescriptor unchanged by the refused offer');
    assert.equal(after.remote, offer, 'getRemoteSessionDescriptor unchanged by the refused offer');
    assert.deepEqual(after.states, ['CONNECTED', 'CONNECTED'], 'states unchanged by the refused offer');

    await releasePipeline();
  });

  it('processAnswer without generateOffer -> 40209; processOffer("hello") -> 40201, the server goes on', { timeout: 60000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const ep1 = await pipeline.create('WebRtcEndpoint');
    const e1 = await rejectsWith(call(ep1, 'processAnswer', OFFER.replace(/a=setup:actpass/g, 'a=setup:active')), 40209, 'processAnswer without generateOffer');
    t.diagnostic(`40209: ${e1.message}`);
    const ep2 = await pipeline.create('WebRtcEndpoint');
    const e2 = await rejectsWith(call(ep2, 'processOffer', 'hello'), 40201, 'processOffer(garbage)');
    t.diagnostic(`40201: ${e2.message}`);

    // A fresh endpoint (same pipeline) still loops media.
    const peer = await suite.env.browser.newPeer({ name: 'after-garbage' });
    t.after(() => peer.close());
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    const webRtc = await pipeline.create('WebRtcEndpoint');
    await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(webRtc)] });
    await peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30 && s.inAudio && s.inAudio.packetsReceived > 20, 30000, {
      what: 'a fresh endpoint loops media after the errors',
    });
    await sig.check();
    await releasePipeline();
  });

  for (const dir of ['recvonly', 'sendonly']) {
    it(`create WebRtcEndpoint {${dir}: true}: the answer is ${dir}`, { timeout: 20000 }, async (t) => {
      const pipeline = await suite.env.client.create('MediaPipeline');
      const releasePipeline = releaseAtEnd(t, pipeline);
      const ep = await pipeline.create('WebRtcEndpoint', { [dir]: true });
      const answer = await call(ep, 'processOffer', OFFER);
      assert.deepEqual(kinds(answer), ['audio', 'video']);
      assert.deepEqual(directions(answer), [dir, dir], `answer directions (${dir})`);
      await releasePipeline();
    });
  }
});
