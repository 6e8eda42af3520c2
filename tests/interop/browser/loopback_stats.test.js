'use strict';
// Kurento's loopback-stats tutorial (tutorials/javascript-browser/
// loopback-stats) against fluo: create MediaPipeline ->
// pipeline.setLatencyStats(true) -> create WebRtcEndpoint -> ICE
// (queued addIceCandidate, IceCandidateFound) -> processOffer ->
// gatherCandidates -> connect(webRtc) -> on('MediaStateChanged') waiting for
// newState CONNECTED -> getStats('VIDEO') (and 'AUDIO') every second, reading
// entries by `type`: 'inboundrtp', 'outboundrtp', 'endpoint' (kmd StatsType).
// The endpoint's inbound counts must match what the browser sent (and its
// outbound what the browser received) within 5 %.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { fluoAndBrowserPerSuite, Signalling, withTimeout, statsOfType, sleep, releaseAtEnd } = require('../lib/kurento');

describe('loopback-stats with Chromium', { timeout: 90000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('getStats: inboundrtp/outboundrtp agree with the browser', { timeout: 70000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({ name: 'stats' });
    t.after(() => peer.close());
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();

    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    await pipeline.setLatencyStats(true);
    assert.equal(await pipeline.getLatencyStats(), true);
    const webRtc = await pipeline.create('WebRtcEndpoint');
    sig.attach(webRtc);
    sig.markProcessOffer();
    const answerP = webRtc.processOffer(offer);
    const gatherP = webRtc.gatherCandidates();
    const connectP = webRtc.connect(webRtc);
    const [answer] = await withTimeout(Promise.all([answerP, gatherP, connectP]), 15000, 'processOffer/gatherCandidates/connect');
    const mediaStates = [];
    const connected = new Promise((resolve) =>
      webRtc.on('MediaStateChanged', (ev) => {
        mediaStates.push(ev);
        if (ev.newState === 'CONNECTED') resolve(ev);
      }),
    );
    await sig.applyRemote('answer', answer);
    const ev = await withTimeout(connected, 20000, 'MediaStateChanged to CONNECTED');
    assert.equal(ev.oldState, 'DISCONNECTED');

    // Let media flow a while (the tutorial polls every second).
    await peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 100, 30000, {
      what: 'media flowing both ways',
    });
    let video;
    for (let i = 0; i < 3; i++) {
      video = await webRtc.getStats('VIDEO');
      await sleep(1000);
    }
    assert.equal(typeof video, 'object');
    const types = Object.values(video).map((s) => s.type);
    assert.ok(types.includes('inboundrtp'), `getStats('VIDEO') has inboundrtp; types: ${types}`);
    assert.ok(types.includes('outboundrtp'), `getStats('VIDEO') has outboundrtp; types: ${types}`);
    const known = ['inboundrtp', 'outboundrtp', 'session', 'datachannel', 'track', 'transport', 'candidatepair', 'localcandidate', 'remotecandidate', 'element', 'endpoint'];
    for (const [id, s] of Object.entries(video)) {
      assert.ok(known.includes(s.type), `stats ${id}: type ${s.type} is a StatsType`);
      assert.equal(s.id, id, 'the map is keyed by the stats id');
      assert.equal(typeof s.timestampMillis, 'number');
    }
    for (const s of statsOfType(video, 'inboundrtp')) {
      assert.equal(s.__type__, 'RTCInboundRTPStreamStats');
      assert.equal(typeof s.ssrc, 'string');
      for (const k of ['packetsReceived', 'bytesReceived', 'packetsLost', 'firCount', 'pliCount', 'nackCount']) assert.equal(typeof s[k], 'number', `inboundrtp.${k}`);
      assert.equal(typeof s.jitter, 'number');
      assert.equal(typeof s.fractionLost, 'number');
    }
    for (const s of statsOfType(video, 'outboundrtp')) {
      assert.equal(s.__type__, 'RTCOutboundRTPStreamStats');
      assert.equal(typeof s.ssrc, 'string');
      for (const k of ['packetsSent', 'bytesSent']) assert.equal(typeof s[k], 'number', `outboundrtp.${k}`);
    }
    // Latency stats are on: an EndpointStats entry with E2ELatency.
    const ends = statsOfType(video, 'endpoint');
    assert.equal(ends.length, 1, `one 'endpoint' stats entry; types: ${types}`);
    assert.ok(Array.isArray(ends[0].E2ELatency), 'EndpointStats.E2ELatency');
    for (const l of ends[0].E2ELatency) {
      assert.equal(typeof l.name, 'string');
      assert.ok(['AUDIO', 'VIDEO', 'DATA'].includes(l.type));
      assert.ok(typeof l.avg === 'number' && l.avg >= 0);
    }

    // Counters against the browser's, matched by SSRC. The counters move
    // while the two are read (about 150 packets/s), so the browser's figure
    // is read between two reads of the server's and must fall within 5 % of
    // the range they span.
    function pick(srv, br, mediaType) {
      const out = mediaType === 'VIDEO' ? br.outVideo : br.outAudio;
      const inn = mediaType === 'VIDEO' ? br.inVideo : br.inAudio;
      const sIn = statsOfType(srv, 'inboundrtp').find((s) => s.ssrc === String(out.ssrc));
      const sOut = statsOfType(srv, 'outboundrtp').find((s) => s.ssrc === String(inn.ssrc));
      return { out, inn, sIn, sOut };
    }
    // One reading: the browser's figures between two reads of the server's.
    async function reading(mediaType) {
      const srv1 = await webRtc.getStats(mediaType);
      const br = await peer.stats();
      const srv2 = await webRtc.getStats(mediaType);
      return { a: pick(srv1, br, mediaType), b: pick(srv2, br, mediaType) };
    }
    const KEYS = [
      ['server inbound packetsReceived', 'sIn', 'packetsReceived', 'browser packetsSent', 'out', 'packetsSent'],
      ['server inbound bytesReceived', 'sIn', 'bytesReceived', 'browser bytesSent', 'out', 'bytesSent'],
      ['server outbound packetsSent', 'sOut', 'packetsSent', 'browser packetsReceived', 'inn', 'packetsReceived'],
      ['server outbound bytesSent', 'sOut', 'bytesSent', 'browser bytesReceived', 'inn', 'bytesReceived'],
    ];
    // The figures over 3 s of steady media: what the server counted must be
    // within 5 % of what the browser counted over the same span. (Totals
    // since the start differ by about one key frame: the browser counts
    // video it sends in the instant its DTLS is up, before fluo's side is.)
    async function compare(mediaType, label) {
      const r1 = await reading(mediaType);
      await sleep(3000);
      const r2 = await reading(mediaType);
      for (const r of [r1, r2]) {
        assert.ok(r.a.sIn && r.b.sIn, `${label}: server inboundrtp for the browser's SSRC ${r.a.out.ssrc}`);
        assert.ok(r.a.sOut && r.b.sOut, `${label}: server outboundrtp for the SSRC the browser receives ${r.a.inn.ssrc}`);
      }
      for (const [what, entry, key, bname, bentry, bkey] of KEYS) {
        const y = r2.a[bentry][bkey] - r1.a[bentry][bkey];
        const lo = (r2.a[entry][key] - r1.b[entry][key]) * 0.95;
        const hi = (r2.b[entry][key] - r1.a[entry][key]) * 1.05;
        assert.ok(y > 0 && hi > 0, `${label}: ${what} and ${bname} grow (${y})`);
        assert.ok(y >= lo && y <= hi, `${label}: over 3 s ${bname} grew ${y}, ${what} between ${lo / 0.95} and ${hi / 1.05}`);
        t.diagnostic(`${label}: ${bname} +${y}, ${what} +${r2.a[entry][key] - r1.a[entry][key]}..${r2.b[entry][key] - r1.b[entry][key]}`);
      }
    }
    await compare('VIDEO', 'video');
    await compare('AUDIO', 'audio');
    await sig.check();
    await releasePipeline();
  });
});
