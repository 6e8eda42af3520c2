'use strict';
// Kurento's recorder tutorial against fluo, once per media profile, the five
// side by side (one browser peer and one pipeline each): pipeline ->
// WebRtcEndpoint and RecorderEndpoint{uri, mediaProfile} -> events ->
// webRtc.connect(recorder) -> processOffer / gatherCandidates -> record()
// once media flows -> 10 s -> stopAndWait(). Each file is then read by tools
// nobody here wrote: ffprobe (the codecs, a duration within 0.5 s of what was
// recorded), ffmpeg (decodes it all saying nothing) and mkvinfo (the WebM and
// Matroska files parse with no error or warning). MP4 gets H.264 from the
// browser (it cannot hold VP8).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fluoAndBrowserPerSuite, Signalling, recordEvents, browserOffers, releaseAtEnd, call } = require('../lib/kurento');
const { decodeCheck } = require('../lib/media_check');

const SECONDS = 10;
const PROFILES = [
  { profile: 'WEBM', file: 'a.webm', codecs: ['vp8', 'opus'], mkv: true },
  { profile: 'WEBM_AUDIO_ONLY', file: 'audio.webm', codecs: ['opus'], mkv: true },
  { profile: 'WEBM_VIDEO_ONLY', file: 'video.webm', codecs: ['vp8'], mkv: true },
  { profile: 'MKV', file: 'a.mkv', codecs: ['vp8', 'opus'], mkv: true },
  { profile: 'MP4', file: 'a.mp4', codecs: ['h264', 'opus'], videoCodec: 'H264' },
];

function tool(cmd, args) {
  try {
    return { out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }), code: 0 };
  } catch (e) {
    return { out: `${e.stdout || ''}${e.stderr || ''}`, code: e.status };
  }
}

function hasTool(cmd) {
  return tool('sh', ['-c', `command -v ${cmd}`]).code === 0;
}

// The codecs in stream order, the duration (s) and the last packet's time.
function probe(file) {
  const codecs = tool('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', file])
    .out.trim().split('\n').filter(Boolean);
  const duration = parseFloat(tool('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]).out);
  return { codecs, duration };
}

async function recordOne(t, env, dir, spec) {
  const peer = await env.browser.newPeer({
    name: spec.profile,
    audio: spec.codecs.includes('opus'),
    video: spec.codecs.some((c) => c === 'vp8' || c === 'h264'),
    direction: 'sendonly',
    videoCodec: spec.videoCodec,
  });
  const sig = new Signalling(peer);
  const offer = await peer.createOffer();
  const pipeline = await env.client.create('MediaPipeline');
  releaseAtEnd(t, pipeline);
  const webRtc = await pipeline.create('WebRtcEndpoint');
  const uri = `file://${path.join(dir, spec.file)}`;
  const recorder = await pipeline.create('RecorderEndpoint', { uri, mediaProfile: spec.profile });
  const ev = recordEvents(recorder, ['Recording', 'Stopped', 'Paused', 'UriEndpointStateChanged', 'Error', 'MediaFlowInStateChanged']);
  await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(recorder)] });
  // record() once media reaches the recorder, so the file's length is the time recorded
  for (const mt of spec.codecs.map((c) => (c === 'opus' ? 'AUDIO' : 'VIDEO')))
    await ev.wait('MediaFlowInStateChanged', (e) => e.mediaType === mt && e.state === 'FLOWING', 20000);
  await call(recorder, 'record');
  const started = Date.now();
  await ev.wait('Recording');
  await ev.wait('UriEndpointStateChanged', (e) => e.state === 'START');
  assert.equal(await call(recorder, 'getState'), 'START');
  assert.equal(await call(recorder, 'getUri'), uri);
  await new Promise((r) => setTimeout(r, SECONDS * 1000 - (Date.now() - started)));
  await call(recorder, 'stopAndWait');
  const recorded = (Date.now() - started) / 1000;
  // stopAndWait answers once the file is complete, after Stopped
  assert.equal(ev.by.Stopped.length, 1, 'Stopped before stopAndWait answered');
  assert.equal(await call(recorder, 'getState'), 'STOP');
  assert.deepEqual(ev.by.Error, []);
  peer.close();
  return { file: path.join(dir, spec.file), recorded };
}

describe('RecorderEndpoint (the recorder tutorial) with Chromium', { timeout: 150000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('records WEBM, WEBM_AUDIO_ONLY, WEBM_VIDEO_ONLY, MKV and MP4 files that play', { timeout: 120000 }, async (t) => {
    if (!hasTool('ffprobe')) return t.skip('ffprobe missing');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-recorder-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const results = await Promise.all(PROFILES.map((spec) => recordOne(t, suite.env, dir, spec)));
    const mkvinfo = hasTool('mkvinfo');
    for (let i = 0; i < PROFILES.length; i++) {
      const spec = PROFILES[i];
      const { file, recorded } = results[i];
      const p = probe(file);
      console.log(`${spec.profile}: ${p.codecs.join('+')} ${p.duration.toFixed(3)} s of ${recorded.toFixed(3)} s recorded, ${fs.statSync(file).size} bytes`);
      assert.deepEqual(p.codecs, spec.codecs, `${spec.profile}: codecs`);
      assert.ok(Math.abs(p.duration - recorded) <= 0.5, `${spec.profile}: duration ${p.duration} s, recorded ${recorded} s`);
      // ffmpeg -v error -i F -f null -: nothing, or only its null output's
      // line for two capture-jittered frames in one tick (lib/media_check.js)
      const dec = decodeCheck(file);
      assert.deepEqual(dec.unexplained, [], `${spec.profile}: ffmpeg said ${dec.output}`);
      if (spec.mkv && mkvinfo) {
        const mi = tool('mkvinfo', [file]);
        assert.equal(mi.code, 0, `${spec.profile}: mkvinfo exit ${mi.code}: ${mi.out.slice(-500)}`);
        assert.doesNotMatch(mi.out, /error|warning/i, `${spec.profile}: mkvinfo: ${mi.out.slice(-500)}`);
      }
    }
  });

  it('refuses a URI that is not file:// and a profile it cannot write, in words', async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    await assert.rejects(pipeline.create('RecorderEndpoint', { uri: 'http://example.com/x.webm' }), (e) => {
      assert.match(e.message, /only file:\/\/ URIs/);
      return true;
    });
    await assert.rejects(pipeline.create('RecorderEndpoint', { uri: 'file:///tmp/x.flv', mediaProfile: 'FLV' }), (e) => {
      assert.match(e.message, /FLV is not supported/);
      return true;
    });
    await assert.rejects(pipeline.create('RecorderEndpoint', { uri: 'file:///tmp/../etc/x.webm' }), /'\.\.'/);
  });

  it('says why a file cannot be written (a folder that does not exist) in an Error event', async (t) => {
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    const recorder = await pipeline.create('RecorderEndpoint', { uri: 'file:///nonexistent-fluo-dir/x.webm' });
    const ev = recordEvents(recorder, ['Error', 'Recording']);
    await call(recorder, 'record');
    const err = await ev.wait('Error');
    assert.equal(err.type, 'RESOURCE_ERROR_OPEN_WRITE');
    assert.match(err.description, /\/nonexistent-fluo-dir\/x\.webm: no such file or directory/);
    assert.equal(ev.by.Recording.length, 0);
    // stopAndWait answers with the failure; the server goes on
    await assert.rejects(call(recorder, 'stopAndWait'), /the recording failed/);
  });
});
