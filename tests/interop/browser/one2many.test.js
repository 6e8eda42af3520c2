'use strict';
// Kurento's one2many-call tutorial against fluo: one sendonly presenter, three
// recvonly viewers joining at 0 s, 3 s and 6 s. Order of
// tutorials/javascript-node/one2many-call:
//   presenter: create MediaPipeline -> create WebRtcEndpoint -> (queued
//     addIceCandidate) -> subscribe IceCandidateFound -> processOffer ->
//     gatherCandidates;
//   viewer: pipeline.create WebRtcEndpoint -> (queued addIceCandidate) ->
//     subscribe IceCandidateFound -> processOffer -> (in its callback)
//     presenter.connect(viewer) -> gatherCandidates; answer sent once
//     connect returned; leaving: viewer.release(); the end: pipeline.release().
// A viewer that joins late must decode within 1 s of its connection being up
// (the server has to get a key frame from the presenter for it). Then
// requestKeyframe on a viewer makes the presenter encode a key frame (PLI),
// and on the presenter's own endpoint (no video into it) answers 40111.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, call, Signalling, browserOffers, withTimeout, sleep, releaseAtEnd } = require('../lib/kurento');
const { workerShares } = require('../lib/server');

// spread: the pipeline spreads over two workers from its first element
// (--spread-from 1): the viewers' endpoints land on both, the presenter's
// packets reach the far ones through a bridge, and both worker threads
// carry part of the forwarding CPU (/proc/PID/task/*/stat).
async function one2many(t, suite, { spread = false } = {}) {
  const b = suite.env.browser;
  const presenter = await b.newPeer({ name: 'presenter', direction: 'sendonly' });
  const psig = new Signalling(presenter);
  const pOffer = await presenter.createOffer();

  const pipeline = await suite.env.client.create('MediaPipeline');
  const releasePipeline = releaseAtEnd(t, pipeline);
  const presenterEp = await pipeline.create('WebRtcEndpoint');
  const pAnswer = await browserOffers(psig, presenterEp, pOffer);
  assert.match(pAnswer, /a=recvonly/, 'the server answers a sendonly offer with recvonly');
  await presenter.waitFor((s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.packetsSent > 0, 20000, {
    what: 'presenter connected and sending',
  });

  const viewers = [];
  async function joinViewer(name) {
    const peer = await b.newPeer({ name, direction: 'recvonly' });
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    const ep = await pipeline.create('WebRtcEndpoint');
    sig.attach(ep);
    sig.markProcessOffer();
    const processOfferAt = Date.now();
    const answer = await ep.processOffer(offer);
    const connectP = presenterEp.connect(ep);
    const gatherP = ep.gatherCandidates();
    await withTimeout(connectP, 10000, `${name}: presenter.connect(viewer)`);
    await sig.applyRemote('answer', answer);
    await withTimeout(gatherP, 10000, `${name}: gatherCandidates`);
    const v = { name, peer, sig, ep, answer, processOfferAt };
    viewers.push(v);
    return v;
  }

  const t0 = Date.now();
  const joins = [];
  for (const [i, at] of [0, 3000, 6000].entries()) {
    const wait = t0 + at - Date.now();
    if (wait > 0) await sleep(wait);
    joins.push(await joinViewer(`viewer${i + 1}`));
    // Each viewer: connected, then its first frame within one second.
    const v = joins[i];
    assert.match(v.answer, /a=sendonly/, `${v.name}: the server answers a recvonly offer with sendonly`);
    const st = await v.peer.waitFor((s) => s.timeline.firstFrameAt !== undefined, 15000, {
      what: `${v.name} first decoded frame`,
      intervalMs: 100,
    });
    const tl = st.timeline;
    const from = tl.connectedAt;
    assert.ok(from !== undefined, `${v.name}: connection state reached connected`);
    const delay = tl.firstFrameAt - from;
    assert.ok(delay <= 1000, `${v.name} (joined at ${at / 1000} s): first frame ${delay} ms after connected (limit 1000 ms)`);
    t.diagnostic(`${v.name}: first frame ${delay} ms after connected, ${tl.firstFrameAt - v.processOfferAt} ms after processOffer`);
  }

  for (const v of viewers) {
    const st = await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 50 && s.inAudio && s.inAudio.packetsReceived > 20, 20000, {
      what: `${v.name}: 50 frames and audio`,
    });
    assert.equal(st.outVideo, null, `${v.name} sends nothing`);
    await waitSameResolution(presenter, v.peer);
    await v.sig.check();
  }
  await psig.check();

  // viewer2 leaves: the others go on decoding.
  const gone = viewers[1];
  await gone.ep.release();
  await gone.peer.close();
  const before = await Promise.all([viewers[0].peer.stats(), viewers[2].peer.stats()]);
  await sleep(2000);
  const afterSt = await Promise.all([viewers[0].peer.stats(), viewers[2].peer.stats()]);
  for (const i of [0, 1]) {
    assert.ok(
      afterSt[i].inVideo.framesDecoded > before[i].inVideo.framesDecoded + 10,
      `viewer still decoding after another left: ${before[i].inVideo.framesDecoded} -> ${afterSt[i].inVideo.framesDecoded}`,
    );
  }

  // requestKeyframe on a viewer's endpoint: the presenter's browser gets a
  // PLI and encodes a key frame. Steady state first: no PLI for 1.5 s.
  const quiet = (await presenter.stats()).outVideo;
  await sleep(1500);
  const p0 = (await presenter.stats()).outVideo;
  assert.equal(p0.pliCount, quiet.pliCount, `no PLI reaches the presenter while nothing asks: ${quiet.pliCount} -> ${p0.pliCount}`);
  await call(viewers[0].ep, 'requestKeyframe');
  const p1 = await presenter.waitFor(
    (s) => s.outVideo.pliCount > p0.pliCount && s.outVideo.keyFramesEncoded > p0.keyFramesEncoded,
    3000,
    { what: 'a PLI at the presenter and a new key frame after requestKeyframe' },
  );
  t.diagnostic(`requestKeyframe: presenter pliCount ${p0.pliCount} -> ${p1.outVideo.pliCount}, keyFramesEncoded ${p0.keyFramesEncoded} -> ${p1.outVideo.keyFramesEncoded}`);
  // The presenter's own endpoint has no video flowing into it.
  await assert.rejects(call(presenterEp, 'requestKeyframe'), (e) => {
    assert.equal(e.code, 40111, `code: ${JSON.stringify(e)}`);
    assert.match(e.message, /video consumers/);
    return true;
  });

  if (spread) {
    const shares = await workerShares(suite.env.srv.pid, 3000);
    t.diagnostic(`worker CPU shares over 3 s: ${shares.map((x) => x.toFixed(2)).join(', ')}`);
    assert.equal(shares.length, 2, 'two worker threads');
    for (const x of shares) assert.ok(x >= 0.2, `each worker carries part of the broadcast: shares ${shares.join(', ')}`);
  }

  await releasePipeline();
}

describe('one2many-call with Chromium', { timeout: 120000 }, () => {
  const suite = fluoAndBrowserPerSuite();
  it('one presenter, three viewers joining at 0, 3 and 6 s', { timeout: 100000 }, (t) => one2many(t, suite));
});

describe('one2many-call spread over two workers', { timeout: 120000 }, () => {
  const suite = fluoAndBrowserPerSuite({ server: { args: ['--workers', '2', '--spread-from', '1'] } });
  it('the same, the viewers on both workers', { timeout: 100000 }, (t) => one2many(t, suite, { spread: true }));
});
