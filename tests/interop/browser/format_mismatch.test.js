'use strict';
// Same codec on both ends is required for now (fluo does not transcode):
//   1. mismatch: a sendonly presenter forced to H264 feeds WebRtcEndpoint A, a
//      recvonly viewer forced to VP8 has WebRtcEndpoint B, A.connect(B). B
//      raises an Error event saying the formats differ and are not converted
//      (naming both codecs); the viewer decodes no video, yet audio (opus on
//      both legs) still arrives; isMediaFlowingIn/Out answer.
//   2. match: the same with VP8 on both legs: the viewer decodes, and B raises
//      MediaTranscodingStateChanged NOT_TRANSCODING for AUDIO and VIDEO.
//   3. a new source behind a PassThrough: H264 presenter -> A -> P -> B (VP8
//      viewer) raises the Error; A is released and a VP8 presenter's C is
//      connected to P: B compares again and the viewer decodes.
// Peers are set up in the one2many order (browser offers; viewer:
// processOffer -> presenter.connect(viewer) -> gatherCandidates).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, recordEvents, withTimeout, sleep, idOf, releaseAtEnd } = require('../lib/kurento');

const videoCodecs = (sdp) => [...sdp.matchAll(/^a=rtpmap:\d+ ([\w-]+)\/90000/gm)].map((m) => m[1]).filter((c) => c !== 'rtx');
const EVENTS = ['Error', 'MediaTranscodingStateChanged', 'MediaFlowInStateChanged', 'MediaFlowOutStateChanged'];

describe('video format mismatch between connected WebRtcEndpoints with Chromium', { timeout: 150000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  // A sendonly browser presenter with only `codec`, sending into a new
  // WebRtcEndpoint of the pipeline.
  async function addPresenter(t, pipeline, codec) {
    const presenter = await suite.env.browser.newPeer({ name: `presenter-${codec}`, direction: 'sendonly', videoCodec: codec });
    t.after(() => presenter.close());
    const psig = new Signalling(presenter);
    const pOffer = await presenter.createOffer();
    assert.deepEqual([...new Set(videoCodecs(pOffer))], [codec], 'the presenter offers only its codec');
    const ep = await pipeline.create('WebRtcEndpoint');
    const rec = recordEvents(ep, EVENTS);
    const pAnswer = await browserOffers(psig, ep, pOffer);
    assert.deepEqual([...new Set(videoCodecs(pAnswer))], [codec], "the presenter's answer");
    await presenter.waitFor((s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.framesEncoded > 0, 20000, {
      what: 'presenter connected and sending',
    });
    return { presenter, psig, ep, rec };
  }

  // Presenter (sendonly, presenterCodec) -> A [-> PassThrough P] -> B <- viewer
  // (recvonly, viewerCodec).
  async function setUp(t, presenterCodec, viewerCodec, { via } = {}) {
    const b = suite.env.browser;
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const { presenter, psig, ep: a, rec: recA } = await addPresenter(t, pipeline, presenterCodec);

    const viewer = await b.newPeer({ name: `viewer-${viewerCodec}`, direction: 'recvonly', videoCodec: viewerCodec });
    t.after(() => viewer.close());
    const vsig = new Signalling(viewer);
    const vOffer = await viewer.createOffer();
    assert.deepEqual([...new Set(videoCodecs(vOffer))], [viewerCodec], 'the viewer offers only its codec');
    const bEp = await pipeline.create('WebRtcEndpoint');
    const recB = recordEvents(bEp, EVENTS);
    vsig.attach(bEp);
    vsig.markProcessOffer();
    const vAnswer = await bEp.processOffer(vOffer);
    assert.deepEqual([...new Set(videoCodecs(vAnswer))], [viewerCodec], "the viewer's answer");
    let pass = null;
    if (via) {
      pass = await pipeline.create('PassThrough');
      await withTimeout(pass.connect(bEp), 10000, 'P.connect(B)');
    }
    const connectP = a.connect(pass || bEp);
    const gatherP = bEp.gatherCandidates();
    await withTimeout(connectP, 10000, 'A.connect(B)');
    await vsig.applyRemote('answer', vAnswer);
    await withTimeout(gatherP, 10000, 'gatherCandidates');
    return { pipeline, presenter, psig, viewer, vsig, a, bEp, pass, recA, recB, releasePipeline };
  }

  it('H264 presenter -> VP8 viewer: Error on B, no video decoded, audio arrives', { timeout: 60000 }, async (t) => {
    const s = await setUp(t, 'H264', 'VP8');

    // Audio (opus on both legs) goes through.
    await s.viewer.waitFor((x) => x.connectionState === 'connected' && x.inAudio && x.inAudio.packetsReceived > 50 && x.inAudio.totalSamplesReceived > 0, 20000, {
      what: 'viewer receives audio',
    });
    const err = await s.recB.wait('Error', () => true, 15000);
    assert.equal(idOf(err.source), s.bEp.id, 'Error.source is B');
    assert.equal(typeof err.description, 'string');
    assert.match(err.description, /H264/, `Error.description names the incoming codec: ${err.description}`);
    assert.match(err.description, /VP8/, `Error.description names the negotiated codec: ${err.description}`);
    assert.match(err.description, /convert|transcod/i, `Error.description says it is not converted: ${err.description}`);
    assert.match(err.description, /not/i, `Error.description says it is not converted: ${err.description}`);
    assert.equal(typeof err.errorCode, 'number');
    t.diagnostic(`B Error: ${JSON.stringify({ type: err.type, errorCode: err.errorCode, description: err.description })}`);

    // Several seconds on: still no video decoded, audio keeps coming.
    const before = await s.viewer.stats();
    await sleep(4000);
    const st = await s.viewer.stats();
    assert.ok(st.inVideo === null || !st.inVideo.framesDecoded, `the viewer decodes no video: ${JSON.stringify(st.inVideo)}`);
    assert.ok(st.inAudio.packetsReceived > before.inAudio.packetsReceived + 50, `audio keeps arriving: ${before.inAudio.packetsReceived} -> ${st.inAudio.packetsReceived}`);
    assert.equal(st.inAudio.mimeType, 'audio/opus');
    const pst = await s.presenter.stats();
    assert.equal(pst.outVideo.mimeType, 'video/H264');
    assert.ok(pst.outVideo.framesEncoded > 50, 'the presenter keeps encoding');

    // Only one Error about it (not one per packet), and it is B's alone.
    assert.equal(s.recB.by.Error.length, 1, `B Error events: ${JSON.stringify(s.recB.by.Error)}`);
    assert.deepEqual(s.recA.by.Error, [], 'no Error on A');

    // isMediaFlowingIn/Out answer (booleans) for both endpoints.
    const flows = {};
    for (const [n, ep] of [['A', s.a], ['B', s.bEp]]) {
      for (const mt of ['AUDIO', 'VIDEO']) {
        flows[`${n}.in.${mt}`] = await ep.isMediaFlowingIn(mt);
        flows[`${n}.out.${mt}`] = await ep.isMediaFlowingOut(mt);
      }
    }
    t.diagnostic(`isMediaFlowing: ${JSON.stringify(flows)}`);
    for (const [k, v] of Object.entries(flows)) assert.equal(typeof v, 'boolean', `${k} is a boolean`);
    // Kurento's sense: "in" is the element's sink pads (media from the
    // pipeline, to be sent to its peer), "out" its source pads (media from
    // its peer into the pipeline).
    assert.equal(flows['A.out.AUDIO'], true, "A's source pads emit the presenter's audio");
    assert.equal(flows['A.out.VIDEO'], true, "A's source pads emit the presenter's video");
    assert.equal(flows['A.in.AUDIO'], false, 'nothing is connected into A');
    assert.equal(flows['A.in.VIDEO'], false, 'nothing is connected into A');
    assert.equal(flows['B.in.AUDIO'], true, "A's audio flows into B");
    assert.equal(flows['B.out.AUDIO'], false, 'the recvonly viewer sends nothing');
    assert.equal(flows['B.out.VIDEO'], false, 'the recvonly viewer sends nothing');
    // The server is still answering.
    assert.equal(typeof (await s.bEp.getMediaState()), 'string');

    await s.vsig.check();
    await s.psig.check();
    await s.releasePipeline();
  });

  it('VP8 presenter -> VP8 viewer: decodes; MediaTranscodingStateChanged NOT_TRANSCODING', { timeout: 60000 }, async (t) => {
    const s = await setUp(t, 'VP8', 'VP8');
    const st = await s.viewer.waitFor(
      (x) => x.inVideo && x.inVideo.framesDecoded > 50 && x.inAudio && x.inAudio.packetsReceived > 20,
      20000,
      { what: 'viewer decodes 50 frames and receives audio' },
    );
    assert.equal(st.inVideo.mimeType, 'video/VP8');
    await waitSameResolution(s.presenter, s.viewer);

    for (const mt of ['AUDIO', 'VIDEO']) {
      const ev = await s.recB.wait('MediaTranscodingStateChanged', (e) => e.mediaType === mt, 10000);
      assert.equal(ev.state, 'NOT_TRANSCODING', `${mt}: ${JSON.stringify(ev)}`);
      assert.equal(typeof ev.binName, 'string');
      assert.ok(ev.binName.length > 0, 'binName is not empty');
      assert.equal(idOf(ev.source), s.bEp.id);
    }
    for (const ev of [...s.recA.by.MediaTranscodingStateChanged, ...s.recB.by.MediaTranscodingStateChanged]) {
      assert.ok(['AUDIO', 'VIDEO'].includes(ev.mediaType), `mediaType ${ev.mediaType}`);
      assert.ok(['TRANSCODING', 'NOT_TRANSCODING'].includes(ev.state), `state ${ev.state}`);
    }
    t.diagnostic(`B MediaTranscodingStateChanged: ${JSON.stringify(s.recB.by.MediaTranscodingStateChanged.map((e) => [e.mediaType, e.state, e.binName]))}`);
    assert.deepEqual(s.recA.by.Error, [], 'no Error on A');
    assert.deepEqual(s.recB.by.Error, [], 'no Error on B');
    assert.equal(await s.a.isMediaFlowingOut('VIDEO'), true, "A's source pads emit the presenter's video");
    assert.equal(await s.bEp.isMediaFlowingIn('VIDEO'), true, "A's video flows into B");
    assert.equal(await s.bEp.isMediaTranscoding('VIDEO'), false, 'nothing is transcoded');

    await s.vsig.check();
    await s.psig.check();
    await s.releasePipeline();
  });
  it('a new source behind a PassThrough is compared again: H264 then VP8 presenter -> P -> VP8 viewer', { timeout: 90000 }, async (t) => {
    const s = await setUp(t, 'H264', 'VP8', { via: true });
    const err = await s.recB.wait('Error', () => true, 15000);
    assert.match(err.description, /H264/, `Error.description names the incoming codec: ${err.description}`);
    let st = await s.viewer.stats();
    assert.ok(st.inVideo === null || !st.inVideo.framesDecoded, `no video decoded from the H264 source: ${JSON.stringify(st.inVideo)}`);

    // The H264 source goes; a VP8 one takes its place upstream of P. B is
    // not linked anew itself: what reaches it changed two hops up.
    await s.a.release();
    const c = await addPresenter(t, s.pipeline, 'VP8');
    await withTimeout(c.ep.connect(s.pass), 10000, 'C.connect(P)');
    st = await s.viewer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 50, 20000, {
      what: 'viewer decodes 50 frames from the VP8 source',
    });
    assert.equal(st.inVideo.mimeType, 'video/VP8');
    await waitSameResolution(c.presenter, s.viewer);
    assert.equal(s.recB.by.Error.length, 1, `one Error, for the H264 source only: ${JSON.stringify(s.recB.by.Error)}`);

    await s.vsig.check();
    await c.psig.check();
    await s.releasePipeline();
  });
});
