'use strict';
// Automatic transcoding ("agnostic media") between connected
// WebRtcEndpoints with Chromium. A sendonly presenter, its codec forced by
// codec preferences, feeds WebRtcEndpoint A; recvonly viewers, each with the
// codecs it accepts forced the same way, have WebRtcEndpoints B; A.connect(B)
// (or A -> PassThrough P -> B). Peers are set up in the one2many order
// (browser offers; viewer: processOffer -> source.connect(viewer) ->
// gatherCandidates).
// A viewer's rate is judged against the presenter's over the same 3 s: it
// decodes >= 25 fps, or 80% of what the presenter encodes when Chromium's
// overuse detector slowed the presenter on a loaded machine.
//   1. H264 presenter -> VP8 viewer: the viewer decodes VP8 at >= 25 fps, B
//      raises MediaTranscodingStateChanged TRANSCODING (VIDEO),
//      isMediaTranscoding('VIDEO') is true, and a screenshot of the viewer's
//      <video> shows the fake camera's picture (green, not uniform).
//   2. VP8 presenter -> an H264 viewer and a VP9 viewer: the same checks.
//   3. Opus presenter -> a viewer whose offer has PCMU alone in its audio
//      m-line: the viewer receives audio/PCMU, and the fake microphone's
//      beeps raise its totalAudioEnergy above silence.
//   4. One H264 presenter, ten VP8 viewers: one transcoder node in the
//      pipeline's DOT graph, all ten decode.
//   5. setVideoFormat (VP8, 15 fps, fluo's width/height extension 320x240)
//      and setMaxEncoderBitrate(150000) on a VP8 viewer's B: the viewer goes
//      from the presenter's size to at most 320x240, and from the received
//      bitrate to below 250 kbps.
//   6. An AV1-only viewer of an H264 presenter (fluo neither forwards nor
//      converts AV1): its video m-line is refused in the answer, audio flows.
//   7. Formats that match (VP8 -> VP8): NOT_TRANSCODING for AUDIO and VIDEO,
//      isMediaTranscoding false, the viewer decodes at the sent size (and
//      passes case 1's rate and picture checks: the baseline).
//   8. A new source behind a PassThrough: H264 presenter -> A -> P -> VP8
//      viewer transcodes; A released and a VP8 presenter's C connected to P:
//      B says NOT_TRANSCODING and the viewer decodes C at its size.
// Screenshots go to a new directory under the system's tmp (its path is
// printed), kept after the run to be looked at.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { waitSameResolution, pngStats } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, browserOffers, recordEvents, withTimeout, sleep, idOf, releaseAtEnd, call } = require('../lib/kurento');

const EVENTS = ['Error', 'MediaTranscodingStateChanged', 'MediaFlowInStateChanged', 'MediaFlowOutStateChanged'];

// The codecs of one m-line kind (rtx, red, fec, CN and telephone-event
// left out), in the order they are listed.
function codecsOf(sdp, kind) {
  const out = [];
  let inKind = false;
  for (const l of sdp.split(/\r?\n/)) {
    if (l.startsWith('m=')) inKind = l.startsWith(`m=${kind} `);
    const m = inKind && /^a=rtpmap:\d+ ([\w-]+)\//.exec(l);
    if (m && !/^(rtx|red|ulpfec|flexfec-03|CN|telephone-event)$/i.test(m[1])) out.push(m[1]);
  }
  return [...new Set(out)];
}

// A patch of the fake camera's plain background in a 640x480 screenshot
// (right of the timer, above the pacman), and its colour as Chromium shows
// the camera sent straight through fluo, VP8 or H264 alike.
const BACKGROUND = { x: 460, y: 100, w: 140, h: 60 };
const BACKGROUND_RGB = [0, 135, 0];

// The distinct transcoder nodes of a DOT graph (ids transcoder_<n>).
const transcoderIds = (dot) => [...new Set([...dot.matchAll(/\btranscoder_\d+\b/g)].map((m) => m[0]))];

// Inbound video over `ms`: frames decoded per second, and kbit/s received
// (payload and RTP headers), from two getStats reads.
// Frames a second `peer` encodes over `ms` (its outbound video).
async function outboundFps(peer, ms) {
  const a = await peer.stats();
  const t0 = Date.now();
  await sleep(ms);
  const b = await peer.stats();
  const frames = (x) => (x.outVideo ? x.outVideo.framesEncoded : 0);
  return (frames(b) - frames(a)) / ((Date.now() - t0) / 1000);
}

async function inboundRates(peer, ms) {
  const a = await peer.stats();
  const t0 = Date.now();
  await sleep(ms);
  const b = await peer.stats();
  const s = (Date.now() - t0) / 1000;
  const bytes = (x) => (x.inVideo ? x.inVideo.bytesReceived + (x.inVideo.headerBytesReceived || 0) : 0);
  const frames = (x) => (x.inVideo ? x.inVideo.framesDecoded : 0);
  return {
    fps: (frames(b) - frames(a)) / s,
    kbps: ((bytes(b) - bytes(a)) * 8) / s / 1000,
    last: b,
  };
}

describe('automatic transcoding between connected WebRtcEndpoints with Chromium', { timeout: 240000 }, () => {
  // Chromium's fake camera runs at 20 fps unless told otherwise (the last
  // --use-fake-device-for-media-stream on the command line wins).
  const suite = fluoAndBrowserPerSuite({ browser: { extraArgs: ['--use-fake-device-for-media-stream=fps=30'] } });
  let shots = null;
  let lastPresenter = null; // the presenter of the case being checked
  before(() => {
    shots = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-transcode-'));
  });

  // A sendonly browser presenter with only `codec` (and `audioCodec` if
  // given), sending into a new WebRtcEndpoint of the pipeline.
  async function addPresenter(t, pipeline, codec, { audioCodec } = {}) {
    const presenter = await suite.env.browser.newPeer({ name: `presenter-${codec}`, direction: 'sendonly', videoCodec: codec, audioCodec });
    t.after(() => presenter.close());
    const psig = new Signalling(presenter);
    const pOffer = await presenter.createOffer();
    assert.deepEqual(codecsOf(pOffer, 'video'), [codec], 'the presenter offers only its codec');
    const ep = await pipeline.create('WebRtcEndpoint');
    const rec = recordEvents(ep, EVENTS);
    const pAnswer = await browserOffers(psig, ep, pOffer);
    assert.deepEqual(codecsOf(pAnswer, 'video'), [codec], "the presenter's answer");
    await presenter.waitFor((s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.framesEncoded > 0, 20000, {
      what: 'presenter connected and sending',
    });
    lastPresenter = presenter;
    return { presenter, psig, ep, rec };
  }

  // A recvonly viewer accepting only `codec` (and `audioCodec` if given)
  // with its WebRtcEndpoint B, fed by `source` (an element of the pipeline).
  async function addViewer(t, pipeline, source, codec, { audioCodec, name } = {}) {
    const viewer = await suite.env.browser.newPeer({ name: name || `viewer-${codec}`, direction: 'recvonly', videoCodec: codec, audioCodec });
    t.after(() => viewer.close());
    const vsig = new Signalling(viewer);
    const vOffer = await viewer.createOffer();
    assert.deepEqual(codecsOf(vOffer, 'video'), [codec], 'the viewer offers only its codec');
    if (audioCodec) assert.deepEqual(codecsOf(vOffer, 'audio'), [audioCodec], 'the viewer offers only its audio codec');
    const ep = await pipeline.create('WebRtcEndpoint');
    const rec = recordEvents(ep, EVENTS);
    vsig.attach(ep);
    vsig.markProcessOffer();
    const answer = await ep.processOffer(vOffer);
    assert.deepEqual(codecsOf(answer, 'video'), [codec], "the viewer's answer");
    if (audioCodec) assert.deepEqual(codecsOf(answer, 'audio'), [audioCodec], "the viewer's answer (audio)");
    const connectP = source.connect(ep);
    const gatherP = ep.gatherCandidates();
    await withTimeout(connectP, 10000, 'source.connect(B)');
    await vsig.applyRemote('answer', answer);
    await withTimeout(gatherP, 10000, 'gatherCandidates');
    return { viewer, vsig, ep, rec, answer };
  }

  // A new pipeline with one presenter (`codec`) and one viewer per entry of
  // `viewerCodecs`, A connected to each B (or through a PassThrough with via).
  async function setUp(t, codec, viewerCodecs, { via, audioCodec } = {}) {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const p = await addPresenter(t, pipeline, codec);
    let pass = null;
    if (via) {
      pass = await pipeline.create('PassThrough');
      await withTimeout(p.ep.connect(pass), 10000, 'A.connect(P)');
    }
    const viewers = [];
    for (const vc of viewerCodecs) viewers.push(await addViewer(t, pipeline, pass || p.ep, vc, { audioCodec }));
    return { pipeline, releasePipeline, pass, ...p, a: p.ep, viewers };
  }

  // The viewer decodes `codec` at >= 25 fps, and a screenshot of its
  // <video> shows the fake camera's picture: mostly green, with a timer
  // and a moving pacman (not black, not one colour, chroma not swapped).
  async function checkVideo(t, v, codec, shotName) {
    await v.viewer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 30, 20000, { what: `viewer decodes 30 ${codec} frames` });
    // the presenter's own rate over the same 3 s: a browser starved of CPU
    // encodes fewer frames (its overuse detector), and the server cannot
    // forward what was never sent
    const [r, sent] = await Promise.all([inboundRates(v.viewer, 3000), outboundFps(lastPresenter, 3000)]);
    t.diagnostic(`${shotName}: ${r.fps.toFixed(1)} fps decoded over 3 s (framesPerSecond ${r.last.inVideo.framesPerSecond}), ${r.kbps.toFixed(0)} kbit/s, ${r.last.inVideo.frameWidth}x${r.last.inVideo.frameHeight}; the presenter encoded ${sent.toFixed(1)} fps`);
    assert.equal(r.last.inVideo.mimeType, `video/${codec}`);
    assert.ok(sent >= 10, `${shotName}: the presenter encodes only ${sent.toFixed(1)} fps: the machine is too loaded to judge`);
    const want = Math.min(25, 0.8 * sent);
    assert.ok(r.fps >= want, `${shotName}: the viewer decodes ${r.fps.toFixed(1)} fps (>= ${want.toFixed(1)} wanted: 25, or 80% of the ${sent.toFixed(1)} the presenter encodes)`);

    const file = path.join(shots, `${shotName}.png`);
    await v.viewer.screenshot(file);
    const p = pngStats(file, { region: BACKGROUND });
    const fmt = (c) => c.map((x) => x.toFixed(0)).join(',');
    t.diagnostic(`screenshot ${file}: luma mean ${p.mean.toFixed(1)} variance ${p.variance.toFixed(1)}, ${p.distinct} colours, mean RGB ${fmt(p.rgb)}, background ${fmt(p.regionRgb)}`);
    assert.ok(p.variance > 50, `screenshot not blank (luma variance ${p.variance.toFixed(1)})`);
    assert.ok(p.distinct > 20, `screenshot has ${p.distinct} distinct colours`);
    const [R, G, B] = p.rgb;
    assert.ok(G > R + 20 && G > B + 20, `the picture is the fake camera's green (mean RGB ${fmt(p.rgb)})`);
    const far = p.regionRgb.map((x, i) => Math.abs(x - BACKGROUND_RGB[i]));
    assert.ok(Math.max(...far) <= 20, `the background is the fake camera's green: ${fmt(p.regionRgb)}, ${BACKGROUND_RGB} wanted (+-20)`);
  }

  // checkVideo, and B says it transcodes the video (event and
  // isMediaTranscoding), not the audio (opus on both legs).
  async function checkTranscodedVideo(t, v, codec, shotName) {
    await checkVideo(t, v, codec, shotName);
    const ev = await v.rec.wait('MediaTranscodingStateChanged', (e) => e.mediaType === 'VIDEO' && e.state === 'TRANSCODING', 10000);
    assert.equal(idOf(ev.source), v.ep.id, 'TRANSCODING is raised by B');
    assert.equal(typeof ev.binName, 'string');
    assert.ok(ev.binName.length > 0, 'binName is not empty');
    assert.equal(await v.ep.isMediaTranscoding('VIDEO'), true, "B's video is transcoded");
    assert.equal(await v.ep.isMediaTranscoding('AUDIO'), false, 'opus to opus is not transcoded');
    assert.deepEqual(v.rec.by.Error, [], 'no Error on B');
  }

  it('H264 presenter -> VP8 viewer: transcoded to VP8 at full rate; screenshot', { timeout: 60000 }, async (t) => {
    const s = await setUp(t, 'H264', ['VP8']);
    const v = s.viewers[0];
    await checkTranscodedVideo(t, v, 'VP8', 'h264-to-vp8');
    const st = await v.viewer.stats();
    assert.equal(st.inAudio.mimeType, 'audio/opus');
    assert.ok(st.inAudio.packetsReceived > 50, 'audio arrives');
    const pst = await s.presenter.stats();
    assert.equal(pst.outVideo.mimeType, 'video/H264', 'the presenter still sends H264');
    // Kurento's sense: "in" is the element's sink pads (media from the
    // pipeline, to be sent to its peer), "out" its source pads (media from
    // its peer into the pipeline).
    const flows = {};
    for (const [n, ep] of [['A', s.a], ['B', v.ep]]) {
      for (const mt of ['AUDIO', 'VIDEO']) {
        flows[`${n}.in.${mt}`] = await ep.isMediaFlowingIn(mt);
        flows[`${n}.out.${mt}`] = await ep.isMediaFlowingOut(mt);
      }
    }
    t.diagnostic(`isMediaFlowing: ${JSON.stringify(flows)}`);
    assert.deepEqual(
      flows,
      {
        'A.in.AUDIO': false, 'A.out.AUDIO': true, 'A.in.VIDEO': false, 'A.out.VIDEO': true,
        'B.in.AUDIO': true, 'B.out.AUDIO': false, 'B.in.VIDEO': true, 'B.out.VIDEO': false,
      },
      'the presenter feeds A, A feeds B, the recvonly viewer sends nothing',
    );
    assert.deepEqual(s.rec.by.Error, [], 'no Error on A');
    await v.vsig.check();
    await s.psig.check();
    await s.releasePipeline();
  });

  it('VP8 presenter -> H264 viewer and VP9 viewer: each transcoded; screenshots', { timeout: 60000 }, async (t) => {
    const s = await setUp(t, 'VP8', ['H264']);
    await checkTranscodedVideo(t, s.viewers[0], 'H264', 'vp8-to-h264');
    const vp9 = await addViewer(t, s.pipeline, s.a, 'VP9');
    await checkTranscodedVideo(t, vp9, 'VP9', 'vp8-to-vp9');
    const dot = await s.pipeline.getGstreamerDot();
    assert.equal(transcoderIds(dot).length, 2, `two outputs, two transcoders: ${transcoderIds(dot)}`);
    for (const v of [s.viewers[0], vp9]) await v.vsig.check();
    await s.psig.check();
    await s.releasePipeline();
  });

  it('Opus presenter -> PCMU-only viewer: audio/PCMU heard', { timeout: 60000 }, async (t) => {
    const s = await setUp(t, 'VP8', ['VP8'], { audioCodec: 'PCMU' });
    const v = s.viewers[0];
    const pst = await s.presenter.stats();
    assert.equal(pst.outAudio.mimeType, 'audio/opus', 'the presenter sends opus');
    // Played out, or Chromium measures no level.
    assert.equal(await v.viewer.unmuteRemote(), true, "the viewer's <video> plays unmuted");
    const a0 = await v.viewer.waitFor((x) => x.inAudio && x.inAudio.packetsReceived > 50, 20000, { what: 'viewer receives 50 audio packets' });
    assert.equal(a0.inAudio.mimeType, 'audio/PCMU');
    // The fake microphone beeps: energy rises, a level above silence shows
    // (a direct opus viewer measures about 0.3 of energy a second).
    let maxLevel = 0;
    for (let i = 0; i < 15; i++) {
      await sleep(200);
      const x = await v.viewer.stats();
      maxLevel = Math.max(maxLevel, x.inAudio.audioLevel || 0);
    }
    const a1 = await v.viewer.stats();
    const energy = (a1.inAudio.totalAudioEnergy || 0) - (a0.inAudio.totalAudioEnergy || 0);
    t.diagnostic(`PCMU viewer: totalAudioEnergy +${energy.toExponential(2)} over ${a1.inAudio.totalSamplesReceived - a0.inAudio.totalSamplesReceived} samples (8 kHz), audioLevel max ${maxLevel.toFixed(4)}`);
    assert.ok(energy > 1e-3, `the received audio is not silence: totalAudioEnergy +${energy}`);
    assert.ok(maxLevel > 0, `audioLevel rises above silence: max ${maxLevel}`);

    const ev = await v.rec.wait('MediaTranscodingStateChanged', (e) => e.mediaType === 'AUDIO' && e.state === 'TRANSCODING', 10000);
    assert.equal(idOf(ev.source), v.ep.id);
    assert.ok(typeof ev.binName === 'string' && ev.binName.length > 0, 'binName is not empty');
    assert.equal(await v.ep.isMediaTranscoding('AUDIO'), true, 'opus -> PCMU is transcoded');
    assert.equal(await v.ep.isMediaTranscoding('VIDEO'), false, 'VP8 -> VP8 is not');
    const vs = await v.viewer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 30, 10000, { what: 'viewer decodes video too' });
    assert.equal(vs.inVideo.mimeType, 'video/VP8');
    assert.deepEqual(v.rec.by.Error, [], 'no Error on B');
    await v.vsig.check();
    await s.psig.check();
    await s.releasePipeline();
  });

  it('one H264 presenter, ten VP8 viewers: one transcoder, all ten decode', { timeout: 90000 }, async (t) => {
    const s = await setUp(t, 'H264', []);
    const viewers = [];
    for (let i = 0; i < 10; i++) viewers.push(await addViewer(t, s.pipeline, s.a, 'VP8', { name: `viewer-VP8-${i}` }));
    const firsts = await Promise.all(
      viewers.map((v) => v.viewer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 10, 30000, { what: `${v.viewer.name} decodes 10 frames`, intervalMs: 500 })),
    );
    assert.ok(firsts.length === 10);
    const t0 = Date.now();
    const earlier = await Promise.all(viewers.map((v) => v.viewer.stats()));
    await sleep(3000);
    const later = await Promise.all(viewers.map((v) => v.viewer.stats()));
    const secs = (Date.now() - t0) / 1000;
    const decoded = later.map((x, i) => x.inVideo.framesDecoded - earlier[i].inVideo.framesDecoded);
    t.diagnostic(`frames decoded per viewer over ${secs.toFixed(1)} s: ${decoded.join(' ')}`);
    for (let i = 0; i < 10; i++) {
      assert.equal(later[i].inVideo.mimeType, 'video/VP8', `viewer ${i} codec`);
      assert.ok(decoded[i] > 10, `viewer ${i} keeps decoding (${decoded[i]} frames in ${secs.toFixed(1)} s)`);
    }
    const dot = await s.pipeline.getGstreamerDot();
    const ids = transcoderIds(dot);
    t.diagnostic(`transcoder nodes: ${ids.join(' ')}; ${(dot.match(/transcoder_\d+\s*\[[^\]]*\]/g) || []).join(' | ')}`);
    assert.equal(ids.length, 1, `ten viewers of one output share one transcoder: ${ids}`);
    for (const v of viewers) {
      await v.rec.wait('MediaTranscodingStateChanged', (e) => e.mediaType === 'VIDEO' && e.state === 'TRANSCODING', 5000);
      assert.equal(await v.ep.isMediaTranscoding('VIDEO'), true);
      assert.deepEqual(v.rec.by.Error, []);
      await v.vsig.check();
    }
    await s.psig.check();
    await s.releasePipeline();
  });

  it('setVideoFormat 320x240 and setMaxEncoderBitrate(150000) on a VP8 viewer: size and bitrate follow', { timeout: 60000 }, async (t) => {
    const s = await setUp(t, 'VP8', ['VP8']);
    const v = s.viewers[0];
    await v.viewer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 30, 20000, { what: 'viewer decodes 30 frames' });
    const [sent] = await waitSameResolution(s.presenter, v.viewer, 10000);
    const pw = sent.outVideo.frameWidth;
    const ph = sent.outVideo.frameHeight;
    assert.ok(pw > 320 && ph > 240, `the presenter sends more than 320x240 (${pw}x${ph})`);
    const r0 = await inboundRates(v.viewer, 3000);
    t.diagnostic(`before: ${r0.last.inVideo.frameWidth}x${r0.last.inVideo.frameHeight}, ${r0.fps.toFixed(1)} fps, ${r0.kbps.toFixed(0)} kbit/s`);
    assert.equal(await v.ep.isMediaTranscoding('VIDEO'), false, 'VP8 -> VP8 is not transcoded before setVideoFormat');

    // kurento-client 7 passes the caps object as given (its checkType for
    // VideoCaps is commented out), so fluo's width/height go through.
    const caps = { codec: 'VP8', framerate: { numerator: 15, denominator: 1 }, width: 320, height: 240 };
    await call(v.ep, 'setVideoFormat', caps);
    await call(v.ep, 'setMaxEncoderBitrate', 150000);
    const at = Date.now();
    const st = await v.viewer.waitFor((x) => x.inVideo && x.inVideo.frameWidth <= 320 && x.inVideo.frameHeight <= 240, 6000, {
      what: 'received size at most 320x240',
      intervalMs: 100,
    });
    t.diagnostic(`after setVideoFormat: ${st.inVideo.frameWidth}x${st.inVideo.frameHeight} within ${Date.now() - at} ms`);
    assert.ok(st.inVideo.frameWidth * ph === st.inVideo.frameHeight * pw || Math.abs(st.inVideo.frameWidth / st.inVideo.frameHeight - pw / ph) < 0.02, `aspect kept: ${st.inVideo.frameWidth}x${st.inVideo.frameHeight} from ${pw}x${ph}`);
    const r1 = await inboundRates(v.viewer, 3000);
    t.diagnostic(`after: ${r1.last.inVideo.frameWidth}x${r1.last.inVideo.frameHeight}, ${r1.fps.toFixed(1)} fps, ${r1.kbps.toFixed(0)} kbit/s`);
    assert.ok(r1.last.inVideo.frameWidth <= 320 && r1.last.inVideo.frameHeight <= 240, 'the size stays at most 320x240');
    assert.ok(r1.kbps < 250, `received bitrate ${r1.kbps.toFixed(0)} kbit/s, below 250 wanted`);
    assert.ok(r1.fps > 5 && r1.fps <= 18, `about 15 fps received (${r1.fps.toFixed(1)})`);
    assert.equal(r1.last.inVideo.mimeType, 'video/VP8');
    assert.equal(await v.ep.isMediaTranscoding('VIDEO'), true, 'setVideoFormat forces a transcode');
    await v.rec.wait('MediaTranscodingStateChanged', (e) => e.mediaType === 'VIDEO' && e.state === 'TRANSCODING', 5000);
    assert.deepEqual(v.rec.by.Error, [], 'no Error on B');
    await v.vsig.check();
    await s.psig.check();
    await s.releasePipeline();
  });

  // fluo negotiates only the video codecs it can also convert (VP8, H264,
  // VP9), so a viewer that takes nothing else is refused at negotiation, not
  // later: its video m-line is rejected and its audio flows. (The Error for a
  // negotiated codec with no encoder is the engine's unit tests': an
  // endpoint configured with AV1.)
  it('AV1-only viewer of an H264 presenter: its video is refused in the answer, audio flows', { timeout: 60000 }, async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const p = await addPresenter(t, pipeline, 'H264');
    const viewer = await suite.env.browser.newPeer({ name: 'viewer-AV1', direction: 'recvonly', videoCodec: 'AV1' });
    t.after(() => viewer.close());
    const vsig = new Signalling(viewer);
    const vOffer = await viewer.createOffer();
    assert.deepEqual(codecsOf(vOffer, 'video'), ['AV1'], 'the viewer offers only AV1');
    const ep = await pipeline.create('WebRtcEndpoint');
    const rec = recordEvents(ep, EVENTS);
    vsig.attach(ep);
    vsig.markProcessOffer();
    const answer = await ep.processOffer(vOffer);
    assert.deepEqual(codecsOf(answer, 'video'), [], `no video codec answered: ${answer}`);
    assert.match(answer, /^m=video 0 /m, 'the video m-line is rejected (port 0)');
    const connectP = p.ep.connect(ep);
    const gatherP = ep.gatherCandidates();
    await withTimeout(connectP, 10000, 'A.connect(B)');
    await vsig.applyRemote('answer', answer);
    await withTimeout(gatherP, 10000, 'gatherCandidates');
    await viewer.waitFor((x) => x.connectionState === 'connected' && x.inAudio && x.inAudio.packetsReceived > 50, 20000, {
      what: 'viewer receives audio',
    });
    const before = await viewer.stats();
    await sleep(2000);
    const st = await viewer.stats();
    assert.ok(st.inAudio.packetsReceived > before.inAudio.packetsReceived + 50, `audio keeps arriving: ${before.inAudio.packetsReceived} -> ${st.inAudio.packetsReceived}`);
    assert.deepEqual(rec.by.Error, [], 'no Error: nothing was negotiated that cannot be sent');
    assert.equal(await ep.isMediaTranscoding('AUDIO'), false);
    await vsig.check();
    await p.psig.check();
    await releasePipeline();
  });

  it('VP8 presenter -> VP8 viewer: decodes at the sent size; NOT_TRANSCODING', { timeout: 60000 }, async (t) => {
    const s = await setUp(t, 'VP8', ['VP8']);
    const v = s.viewers[0];
    // The same checks as the transcoded cases pass without a transcoder.
    await checkVideo(t, v, 'VP8', 'vp8-direct');
    const st = await v.viewer.waitFor((x) => x.inAudio && x.inAudio.packetsReceived > 20, 10000, { what: 'viewer receives audio' });
    assert.equal(st.inAudio.mimeType, 'audio/opus');
    await waitSameResolution(s.presenter, v.viewer);
    for (const mt of ['AUDIO', 'VIDEO']) {
      const ev = await v.rec.wait('MediaTranscodingStateChanged', (e) => e.mediaType === mt, 10000);
      assert.equal(ev.state, 'NOT_TRANSCODING', `${mt}: ${JSON.stringify(ev)}`);
      assert.ok(typeof ev.binName === 'string' && ev.binName.length > 0, 'binName is not empty');
      assert.equal(idOf(ev.source), v.ep.id);
    }
    for (const ev of [...s.rec.by.MediaTranscodingStateChanged, ...v.rec.by.MediaTranscodingStateChanged]) {
      assert.ok(['AUDIO', 'VIDEO'].includes(ev.mediaType), `mediaType ${ev.mediaType}`);
      assert.equal(ev.state, 'NOT_TRANSCODING', `nothing transcoded: ${JSON.stringify(ev)}`);
    }
    assert.deepEqual(s.rec.by.Error, [], 'no Error on A');
    assert.deepEqual(v.rec.by.Error, [], 'no Error on B');
    assert.equal(await v.ep.isMediaTranscoding('VIDEO'), false, 'nothing is transcoded');
    assert.equal(await v.ep.isMediaTranscoding('AUDIO'), false, 'nothing is transcoded');
    assert.deepEqual(transcoderIds(await s.pipeline.getGstreamerDot()), [], 'no transcoder in the graph');
    await v.vsig.check();
    await s.psig.check();
    await s.releasePipeline();
  });

  it('a new source behind a PassThrough: H264 (transcoded) then VP8 (direct) presenter -> P -> VP8 viewer', { timeout: 90000 }, async (t) => {
    const s = await setUp(t, 'H264', ['VP8'], { via: true });
    const v = s.viewers[0];
    await v.viewer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > 30, 20000, { what: 'viewer decodes 30 frames from the H264 source' });
    const tr = await v.rec.wait('MediaTranscodingStateChanged', (e) => e.mediaType === 'VIDEO' && e.state === 'TRANSCODING', 10000);
    assert.equal(idOf(tr.source), v.ep.id);
    assert.equal(await v.ep.isMediaTranscoding('VIDEO'), true);
    const nTr = v.rec.by.MediaTranscodingStateChanged.length;

    // The H264 source goes; a VP8 one takes its place upstream of P. B is
    // not linked anew itself: what reaches it changed two hops up.
    await s.a.release();
    const c = await addPresenter(t, s.pipeline, 'VP8');
    await withTimeout(c.ep.connect(s.pass), 10000, 'C.connect(P)');
    const direct = await v.rec.wait('MediaTranscodingStateChanged', (e) => e.mediaType === 'VIDEO' && e.state === 'NOT_TRANSCODING' && v.rec.by.MediaTranscodingStateChanged.indexOf(e) >= nTr, 15000);
    assert.equal(idOf(direct.source), v.ep.id);
    const before = await v.viewer.stats();
    const st = await v.viewer.waitFor((x) => x.inVideo && x.inVideo.framesDecoded > before.inVideo.framesDecoded + 50, 20000, {
      what: 'viewer decodes 50 frames from the VP8 source',
    });
    assert.equal(st.inVideo.mimeType, 'video/VP8');
    await waitSameResolution(c.presenter, v.viewer);
    assert.equal(await v.ep.isMediaTranscoding('VIDEO'), false, 'VP8 -> VP8 goes direct');
    assert.deepEqual(transcoderIds(await s.pipeline.getGstreamerDot()), [], 'the transcoder is gone with its source');
    assert.deepEqual(v.rec.by.Error, [], 'no Error on B');
    await v.vsig.check();
    await c.psig.check();
    await s.releasePipeline();
  });
});
