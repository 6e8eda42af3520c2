'use strict';
// Hello-world shape with fluo's side going through TURN: coturn on
// 127.0.0.1 (lib/coturn.js), the WebRtcEndpoint given setTurnUrl
// ('user:password@127.0.0.1:PORT', Kurento's form, and the same with the
// host name 'localhost', which fluo resolves) before processOffer.
// The endpoint must announce a relayed candidate (IceCandidateFound with
// 'typ relay'); the browser is given ONLY the relayed candidates (none in
// the answer either), so whatever it reaches of fluo goes through coturn:
// media loops back, and NewCandidatePairSelected names the relayed
// candidate as fluo's local one.
//
// Everything runs on one host, so fluo's own checks from its host sockets
// would reach the browser's host candidates and the browser would pick
// that peer-reflexive path instead. The application server therefore
// hands fluo the browser's candidates with a port nobody listens on, as
// for a browser fluo cannot reach directly: the addresses still give fluo
// its TURN permissions (per IP, RFC 8656 §9), so the browser's checks to
// the relayed address come through coturn and fluo learns the browser's
// real ports from them (peer-reflexive, on the relayed socket).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { freePort } = require('../lib/server');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, recordEvents, releaseAtEnd } = require('../lib/kurento');

const EVENTS = ['Error', 'IceGatheringDone', 'IceComponentStateChanged', 'NewCandidatePairSelected'];

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

describe('WebRtcEndpoint with a TURN server (coturn) and Chromium', { timeout: 90000 }, () => {
  const suite = fluoAndBrowserPerSuite({ coturn: true });

  // turnUrl with the server's IP, and with a host name fluo resolves.
  for (const host of ['127.0.0.1', 'localhost']) {
    it(`gathers a relayed candidate and loops media back through it (turnUrl host ${host})`, { timeout: 60000 }, async (t) => {
      const peer = await suite.env.browser.newPeer({ name: 'turn', audio: true, video: true, direction: 'sendrecv' });
      t.after(() => peer.close());
      const sig = new Signalling(peer);
      // Only fluo's relayed candidates reach the browser.
      const toBrowser = sig._toBrowser.bind(sig);
      const withheld = [];
      sig._toBrowser = (c) => (/ typ relay /.test(c.candidate) ? toBrowser(c) : withheld.push(c));
      const deadPort = await freePort();
      const add = sig._add.bind(sig);
      sig._add = (c) => {
        const f = c.candidate.split(' ');
        if (f.length > 5) f[5] = String(deadPort);
        add(Object.assign({}, c, { candidate: f.join(' ') }));
      };
      const offer = await peer.createOffer();
      await sig.waitBrowserCandidates(1);

      const pipeline = await suite.env.client.create('MediaPipeline');
      const releasePipeline = releaseAtEnd(t, pipeline);
      const webRtc = await pipeline.create('WebRtcEndpoint');
      await webRtc.setTurnUrl(`${suite.turn.user}:${suite.turn.password}@${host}:${suite.turn.port}`);
      assert.equal(await webRtc.getTurnUrl(), `${suite.turn.user}:${suite.turn.password}@${host}:${suite.turn.port}`);

      // The Node hello-world order (lib/kurento.js browserOffers), with the
      // answer's candidates (if any) stripped before the browser sees it.
      sig.attach(webRtc);
      const rec = recordEvents(webRtc, EVENTS);
      sig.markProcessOffer();
      const [answer] = await withTimeout(
        Promise.all([webRtc.processOffer(offer), webRtc.gatherCandidates(), webRtc.connect(webRtc)]),
        20000,
        'processOffer/gatherCandidates',
      );
      const stripped = answer.replace(/^a=candidate:.*\r?\n/gm, '').replace(/^a=end-of-candidates\r?\n/gm, '');
      await sig.applyRemote('answer', stripped);

      await rec.wait('IceGatheringDone', () => true, 15000);
      const isRelay = (c) => / typ relay /.test(c.candidate);
      for (let end = Date.now() + 10000; !sig.serverCandidates.some(isRelay) && Date.now() < end; )
        await new Promise((r) => setTimeout(r, 20));
      const relays = sig.serverCandidates.filter(isRelay);
      assert.ok(relays.length >= 1, `a relayed candidate; got ${JSON.stringify(sig.serverCandidates.map((c) => c.candidate))}`);
      for (const c of relays) {
        assert.match(c.candidate, / udp \d+ 127\.0\.0\.1 \d+ typ relay raddr \S+ rport \d+/i);
        assert.notEqual(Number(c.candidate.split(' ')[5]), suite.turn.port, 'the relayed port, not the server\'s');
      }
      assert.ok(withheld.length >= 1, 'host candidates were withheld from the browser');

      const st = await peer.waitFor(
        (s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 50,
        30000,
        { what: '100 frames decoded through fluo\'s relayed candidate' },
      );
      assert.ok(st.pair, 'selected candidate pair');
      assert.equal(st.pair.remoteType, 'relay', `browser's remote candidate ${JSON.stringify(st.pair)}`);
      const pair = (await rec.wait('NewCandidatePairSelected')).candidatePair;
      assert.match(pair.localCandidate, / typ relay /, `fluo's selected local candidate: ${pair.localCandidate}`);
      for (const ev of rec.by.NewCandidatePairSelected)
        assert.match(ev.candidatePair.localCandidate, / typ relay /, 'every selected pair is the relayed one');
      await waitSameResolution(peer, peer);
      await sig.check();
      await releasePipeline();
    });
  }
});
