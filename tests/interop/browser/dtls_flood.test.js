'use strict';
// A DTLS ClientHello flood (8,000 packets/s from random source ports) at
// the endpoints' candidate ports while 20 sessions set up with Chromium:
// half with the browser offering (fluo answers and is the DTLS client),
// half with fluo offering (the browser answers active: fluo is the DTLS
// server). Only addresses that passed an ICE check may feed DTLS, so every
// session must connect and carry media. Twice: with the worker's one shared
// port (the default), where the flood's datagrams belong to no session and
// the shared port's count of them must grow (proof the flood reached it);
// and with a port per endpoint (Kurento's way), where each endpoint's stats
// must count them as dropped.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, withTimeout, statsOfType } = require('../lib/kurento');
const { startDtlsFlood } = require('../lib/flood');

const MIN_PORT = 47100;
const MAX_PORT = 47139;
const SESSIONS = 20;
const AT_ONCE = 5;

async function session(env, i, fluoOffers) {
  const peer = await env.browser.newPeer({ name: `s${i}`, audio: true, video: false, direction: 'sendrecv' });
  const pipeline = await env.client.create('MediaPipeline');
  try {
    const sig = new Signalling(peer);
    const ep = await pipeline.create('WebRtcEndpoint');
    await ep.connect(ep);
    if (fluoOffers) {
      sig.attach(ep);
      const offer = await withTimeout(ep.generateOffer(), 10000, `s${i}: generateOffer`);
      await sig.applyRemote('offer', offer);
      const answer = await peer.createAnswer();
      await withTimeout(ep.processAnswer(answer), 10000, `s${i}: processAnswer`);
      await withTimeout(ep.gatherCandidates(), 10000, `s${i}: gatherCandidates`);
    } else {
      await browserOffers(sig, ep, await peer.createOffer());
    }
    const st = await peer.waitFor(
      (s) => s.connectionState === 'failed' || (s.connectionState === 'connected' && s.inAudio && s.inAudio.packetsReceived > 25),
      30000,
      { what: `s${i}: connected with audio back` },
    );
    assert.equal(st.connectionState, 'connected', `s${i}: connection state`);
    await sig.check();
    const ends = statsOfType(await ep.getStats('AUDIO'), 'endpoint');
    const dropped = ends.length ? Number(ends[0].unvalidatedPacketsDropped) : NaN;
    const unclaimed = ends.length ? ends[0].sharedPortUnclaimedPackets : undefined;
    return { dtlsRole: st.transport.dtlsRole, dropped, unclaimed };
  } finally {
    await pipeline.release().catch(() => {});
    await peer.close();
  }
}

for (const shared of [true, false]) describe(`DTLS flood from unvalidated addresses during set-up (${shared ? 'one shared port' : 'a port per endpoint'})`, { timeout: 240000 }, () => {
  const suite = fluoAndBrowserPerSuite({
    server: {
      env: {
        KMS_MIN_PORT: String(MIN_PORT),
        KMS_MAX_PORT: String(MAX_PORT),
        KMS_NETWORK_INTERFACES: 'lo',
        FLUO_SINGLE_PORT: shared ? '1' : '0',
      },
    },
  });

  it(`${SESSIONS} of ${SESSIONS} sessions connect under the flood, both DTLS roles`, { timeout: 220000 }, async () => {
    const flood = startDtlsFlood({ minPort: MIN_PORT, maxPort: MAX_PORT, pps: 8000 });
    const results = [];
    try {
      for (let first = 0; first < SESSIONS; first += AT_ONCE) {
        const round = [];
        for (let i = first; i < Math.min(SESSIONS, first + AT_ONCE); i++)
          round.push(session(suite.env, i, i % 2 === 1).then((r) => ({ i, ...r }), (e) => ({ i, error: e })));
        results.push(...(await Promise.all(round)));
      }
    } finally {
      const { sent } = await flood.stop();
      assert.ok(sent > 8000, `the flood sent ${sent} datagrams`);
    }
    const failed = results.filter((r) => r.error);
    assert.equal(
      SESSIONS - failed.length,
      SESSIONS,
      `sessions connected; failures:\n${failed.map((r) => `  s${r.i}: ${r.error.message}`).join('\n')}`,
    );
    // Both roles were exercised: fluo offering -> Chromium is the DTLS client
    // (fluo the server); Chromium offering -> fluo answers active.
    const roles = results.map((r) => `${r.i % 2 ? 'fluo offers' : 'browser offers'}: browser ${r.dtlsRole}`);
    assert.ok(roles.some((r) => r === 'fluo offers: browser client'), roles.join(', '));
    assert.ok(roles.some((r) => r === 'browser offers: browser server'), roles.join(', '));
    if (shared) {
      // the port is one of the flood's 40: about 200 datagrams/s reach it
      const counts = results.map((r) => Number(r.unclaimed));
      assert.ok(counts.every((c) => Number.isFinite(c)), `every endpoint reports its shared port (${counts})`);
      assert.ok(Math.max(...counts) > 500, `flood datagrams the shared port dropped as nobody's: ${counts}`);
    } else {
      assert.ok(results.every((r) => r.unclaimed === undefined), 'no shared port when endpoints have their own');
      const hit = results.filter((r) => r.dropped > 0).length;
      assert.ok(hit >= SESSIONS / 2, `endpoints that dropped flood datagrams: ${hit} of ${SESSIONS} (${results.map((r) => r.dropped)})`);
    }
  });
});
