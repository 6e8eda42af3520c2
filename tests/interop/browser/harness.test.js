'use strict';
// Self-test of the headless-Chromium harness (lib/browser.js), without fluo:
// two harness peers connected directly to each other (offer/answer and
// trickled candidates passed in Node), for VP8 and for H264 chosen through
// codec preferences. Needs /usr/bin/chromium (sh tests/tools/deps.sh).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { launchBrowser, connectPeers, pngStats, waitSameResolution } = require('../lib/browser');
const { REPO } = require('../lib/server');
const { startCoturn } = require('../lib/coturn');

const SHOTS = path.join(REPO, 'build', 'screenshots');

describe('headless Chromium harness (peer to peer, no server)', { timeout: 90000 }, () => {
  let b;

  before(async () => {
    b = await launchBrowser();
  });

  after(async () => {
    if (b) await b.close();
  });

  for (const codec of ['VP8', 'H264']) {
    it(`two sendrecv peers exchange audio and ${codec} video`, { timeout: 40000 }, async (t) => {
      const x = await b.newPeer({ name: `x-${codec}`, videoCodec: codec });
      const y = await b.newPeer({ name: `y-${codec}`, videoCodec: codec });
      t.after(() => Promise.all([x.close(), y.close()]));

      const { offer, answer } = await connectPeers(x, y);
      const rtpmaps = (sdp) => [...sdp.matchAll(/^a=rtpmap:\d+ ([\w-]+)\/90000/gm)].map((m) => m[1]);
      assert.equal(rtpmaps(offer)[0], codec, `first video codec of the offer is ${codec}: ${rtpmaps(offer)}`);
      assert.ok(!rtpmaps(offer).includes(codec === 'VP8' ? 'H264' : 'VP8'), 'codec preferences left only one codec');
      assert.match(answer, new RegExp(`a=rtpmap:\\d+ ${codec}/90000`));

      const enough = (s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 50;
      const [sx, sy] = await Promise.all([
        x.waitFor(enough, 20000, { what: '100 frames decoded and audio' }),
        y.waitFor(enough, 20000, { what: '100 frames decoded and audio' }),
      ]);
      for (const s of [sx, sy]) {
        assert.equal(s.connectionState, 'connected');
        assert.equal(s.inVideo.mimeType, `video/${codec}`);
        assert.equal(s.outVideo.mimeType, `video/${codec}`);
        assert.ok(s.inAudio.bytesReceived > 0);
        assert.ok(s.inAudio.totalSamplesReceived > 0, 'audio samples decoded');
        assert.ok(s.outAudio.packetsSent > 50);
        assert.ok(s.pair, 'a selected candidate pair');
        assert.equal(s.pair.localType, 'host');
        assert.ok(s.transport && s.transport.dtlsState === 'connected');
      }
      // DTLS roles: the offerer said actpass, the answerer took active.
      assert.equal(sx.transport.dtlsRole, 'server');
      assert.equal(sy.transport.dtlsRole, 'client');

      const [outX, inY] = await waitSameResolution(x, y);
      const [outY, inX] = await waitSameResolution(y, x);
      for (const [o, i] of [[outX, inY], [outY, inX]]) {
        assert.ok(o.outVideo.frameWidth >= 320 && o.outVideo.frameHeight >= 240, `sent ${o.outVideo.frameWidth}x${o.outVideo.frameHeight}`);
        assert.equal(i.inVideo.frameWidth, o.outVideo.frameWidth);
        assert.equal(i.inVideo.frameHeight, o.outVideo.frameHeight);
      }

      const file = path.join(SHOTS, `harness-${codec.toLowerCase()}.png`);
      await y.screenshot(file);
      const p = pngStats(file);
      assert.equal(p.width, 640);
      assert.equal(p.height, 480);
      // The fake camera: green frame, brighter corners, timer and pacman.
      assert.ok(p.variance > 50, `screenshot not blank (luma variance ${p.variance.toFixed(1)}, ${p.distinct} colours)`);
      assert.ok(p.distinct > 20, `screenshot has ${p.distinct} distinct colours`);
      assert.ok(fs.statSync(file).size > 2000);
    });
  }

  it('a recvonly peer decodes a sendonly one; trickled candidates arrive', { timeout: 30000 }, async (t) => {
    const s = await b.newPeer({ name: 'sender', direction: 'sendonly' });
    const r = await b.newPeer({ name: 'receiver', direction: 'recvonly' });
    t.after(() => Promise.all([s.close(), r.close()]));
    const { offer, answer } = await connectPeers(s, r);
    assert.match(offer, /a=sendonly/);
    assert.match(answer, /a=recvonly/);
    await Promise.all([s.waitGatheringDone(), r.waitGatheringDone()]);
    assert.ok(s.candidates.length > 0 && r.candidates.length > 0);
    for (const c of [...s.candidates, ...r.candidates]) {
      assert.match(c.candidate, /^candidate:/);
      assert.equal(typeof c.sdpMid, 'string');
      assert.equal(typeof c.sdpMLineIndex, 'number');
      assert.doesNotMatch(c.candidate, /\.local /, 'no mDNS host candidates');
    }
    const st = await r.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 0, 15000, { what: 'first frame' });
    assert.equal(st.outVideo, null);
    const tl = st.timeline;
    assert.ok(tl.firstFrameAt >= tl.connectedAt, 'first frame after connected');
    assert.ok(tl.firstFrameAt - tl.connectedAt < 3000, `first frame ${tl.firstFrameAt - tl.connectedAt} ms after connected`);
  });

  it('a relay-only peer goes through coturn on loopback', { timeout: 30000 }, async (t) => {
    const turn = await startCoturn();
    t.after(() => turn.stop());
    const s = await b.newPeer({ name: 'relayed', direction: 'sendonly', iceServers: [turn.iceServer], iceTransportPolicy: 'relay' });
    const r = await b.newPeer({ name: 'direct', direction: 'recvonly' });
    t.after(() => Promise.all([s.close(), r.close()]));
    await connectPeers(s, r);
    await s.waitGatheringDone();
    assert.ok(s.candidates.length > 0);
    for (const c of s.candidates) assert.match(c.candidate, / typ relay /);
    await r.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 20, 15000, { what: 'frames through TURN' });
    const st = await s.stats();
    assert.equal(st.pair.localType, 'relay');
    assert.equal(st.pair.localRelayProtocol, 'udp');
  });
});
