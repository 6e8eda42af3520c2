'use strict';
// Kurento's player tutorial against fluo: pipeline -> WebRtcEndpoint ->
// PlayerEndpoint{uri} -> player.connect(webRtc) -> processOffer /
// gatherCandidates -> play(), with headless Chromium as the viewer. The
// files are made by ffmpeg (a test pattern and a tone): VP8+Opus WebM,
// H.264+Opus MP4 (plain, moov at the end), fragmented MP4 and an MKV with
// H.264, played side by side, one browser peer each. Checked: the browser
// decodes the video at the file's frame rate for its whole length,
// EndOfStream comes within 0.5 s of the file's duration, a screenshot of
// the page shows the pattern; setPosition to the middle of a file shows the
// frame from there within 1 s (a clip whose brightness is its time) and
// decoding goes on; a missing and a corrupt file each give an Error event
// that names the cause, and the server goes on.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pngStats } = require('../lib/browser');
const { startHttpServer } = require('../lib/http_server');
const { fluoAndBrowserPerSuite, Signalling, recordEvents, browserOffers, releaseAtEnd, call } = require('../lib/kurento');

const SECONDS = 6;
const FPS = 30;
const PATTERN = [
  '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}:duration=${SECONDS}`,
  '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${SECONDS}`,
];
const H264 = ['-c:v', 'libx264', '-profile:v', 'baseline', '-level', '3.1', '-pix_fmt', 'yuv420p', '-bf', '0', '-g', String(FPS)];
const ALL_FILES = [
  { name: 'webm', file: 'a.webm', args: ['-c:v', 'libvpx', '-b:v', '600k', '-g', String(FPS), '-c:a', 'libopus'] },
  { name: 'mp4', file: 'a.mp4', args: [...H264, '-c:a', 'libopus'] },
  { name: 'fmp4', file: 'f.mp4', args: [...H264, '-c:a', 'libopus', '-movflags', 'frag_keyframe+empty_moov+default_base_moof'] },
  { name: 'mkv', file: 'a.mkv', args: [...H264, '-c:a', 'libopus'] },
];
// FLUO_PLAYER_ONLY=webm,mkv: a few of them (while working on one)
const FILES = ALL_FILES.filter((f) => !process.env.FLUO_PLAYER_ONLY || process.env.FLUO_PLAYER_ONLY.split(',').includes(f.name));

function tool(cmd, args) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function hasTool(cmd) {
  try {
    tool('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch (_) {
    return false;
  }
}

function ffmpeg(args, out) {
  tool('ffmpeg', ['-v', 'error', '-y', ...args, '-shortest', out]);
  return out;
}

function duration(file) {
  return parseFloat(tool('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// GStreamer's gst-rtsp-server (lib/rtsp_server.py): H.264 320x240 30 fps and
// PCMU; resolves { port, stop }.
function startRtspServer(args) {
  const script = path.join(__dirname, '..', 'lib', 'rtsp_server.py');
  const child = spawn('/usr/bin/python3', [script, '--port', '0', '--duration', '120', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`rtsp_server.py did not start: ${err}`)), 15000);
    child.on('exit', (code) => reject(new Error(`rtsp_server.py exited ${code}: ${err}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), stop: () => child.kill('SIGTERM') });
      }
    });
  });
}

function hasRtspServer() {
  try {
    tool('/usr/bin/python3', ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"]);
    return true;
  } catch (_) {
    return false;
  }
}

// Plays `uri` for `seconds` into a browser; the video as the browser decodes it.
async function watchLive(t, env, name, uri, seconds) {
  const v = await viewer(t, env, name, uri);
  await call(v.player, 'play');
  const first = await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 0, 10000, { what: `${name}: first frame` });
  await sleep(seconds * 1000);
  const last = await v.peer.stats();
  const fps = (last.inVideo.framesDecoded - first.inVideo.framesDecoded) / seconds;
  return { name, fps, st: last, errors: [...v.ev.by.Error, ...v.wev.by.Error] };
}

// Browser <- WebRtcEndpoint <- PlayerEndpoint, negotiated and connected;
// play() not called yet.
async function viewer(t, env, name, uri) {
  const peer = await env.browser.newPeer({ name, audio: true, video: true, direction: 'recvonly' });
  t.after(() => peer.close().catch(() => {}));
  const sig = new Signalling(peer);
  const offer = await peer.createOffer();
  const pipeline = await env.client.create('MediaPipeline');
  releaseAtEnd(t, pipeline);
  const webRtc = await pipeline.create('WebRtcEndpoint');
  const player = await pipeline.create('PlayerEndpoint', { uri });
  const ev = recordEvents(player, ['EndOfStream', 'UriEndpointStateChanged', 'Error', 'MediaFlowOutStateChanged']);
  const wev = recordEvents(webRtc, ['MediaStateChanged', 'Error']);
  await browserOffers(sig, webRtc, offer, { before: () => [player.connect(webRtc)] });
  await wev.wait('MediaStateChanged', (e) => e.newState === 'CONNECTED', 20000);
  return { peer, pipeline, webRtc, player, ev, wev };
}

async function playWhole(t, env, dir, spec) {
  const file = path.join(dir, spec.file);
  const len = duration(file);
  const v = await viewer(t, env, spec.name, `file://${file}`);
  await call(v.player, 'play');
  const t0 = Date.now();
  await v.ev.wait('UriEndpointStateChanged', (e) => e.state === 'START');
  // a screenshot in the middle
  await sleep((len / 2) * 1000);
  const shot = path.join(dir, `${spec.name}.png`);
  await v.peer.screenshot(shot);
  // FLUO_PLAYER_SHOTS=DIR keeps the screenshots there, to look at
  if (process.env.FLUO_PLAYER_SHOTS) fs.copyFileSync(shot, path.join(process.env.FLUO_PLAYER_SHOTS, `${spec.name}.png`));
  const info = await call(v.player, 'getVideoInfo');
  const pos = await call(v.player, 'getPosition');
  await v.ev.wait('EndOfStream', () => true, len * 1000 + 10000);
  const eosAfter = (Date.now() - t0) / 1000;
  const st = await v.peer.stats();
  const flows = v.ev.by.MediaFlowOutStateChanged.filter((e) => e.state === 'FLOWING').map((e) => e.mediaType).sort();
  return { spec, len, eosAfter, st, shot: pngStats(shot), info, pos, flows, errors: [...v.ev.by.Error, ...v.wev.by.Error] };
}

// A self-signed certificate for the https:// case; fluo trusts it through
// SSL_CERT_FILE (the usual override of the system's bundle).
const TLS_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-player-tls-'));
const TLS = { cert: path.join(TLS_DIR, 'cert.pem'), key: path.join(TLS_DIR, 'key.pem') };
// (the name in the CN: mbedTLS matches no IP address in subjectAltName)
tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
  '-keyout', TLS.key, '-out', TLS.cert]);

describe('PlayerEndpoint (the player tutorial) with Chromium', { timeout: 240000 }, () => {
  const suite = fluoAndBrowserPerSuite({ server: { env: { SSL_CERT_FILE: TLS.cert } } });
  after(() => fs.rmSync(TLS_DIR, { recursive: true, force: true }));
  let dir;

  it('plays WebM, MP4, fragmented MP4 and MKV files whole, at their frame rate', { timeout: 120000 }, async (t) => {
    if (!hasTool('ffmpeg')) return t.skip('ffmpeg missing');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-player-'));
    for (const f of FILES) ffmpeg([...PATTERN, ...f.args], path.join(dir, f.file));
    const results = await Promise.all(FILES.map((spec) => playWhole(t, suite.env, dir, spec)));
    for (const r of results) {
      const vid = r.st.inVideo || {};
      const expected = Math.round(r.len * FPS);
      console.log(
        `${r.spec.name}: ${vid.framesDecoded} of ${expected} frames decoded, ${vid.frameWidth}x${vid.frameHeight}, ` +
          `EndOfStream after ${r.eosAfter.toFixed(2)} s of ${r.len.toFixed(2)} s, audio ${r.st.inAudio && r.st.inAudio.packetsReceived} packets, ` +
          `screenshot mean ${r.shot.mean.toFixed(1)} distinct ${r.shot.distinct}, info ${JSON.stringify(r.info)}, position ${r.pos}`,
      );
      assert.deepEqual(r.errors, [], `${r.spec.name}: no Error event`);
      assert.deepEqual(r.flows, ['AUDIO', 'VIDEO'], `${r.spec.name}: MediaFlowOutStateChanged FLOWING`);
      assert.ok(vid.framesDecoded >= expected * 0.95, `${r.spec.name}: ${vid.framesDecoded} frames decoded of ${expected}`);
      assert.equal(vid.frameWidth, 320);
      assert.equal(vid.frameHeight, 240);
      assert.ok(Math.abs(r.eosAfter - r.len) <= 0.5, `${r.spec.name}: EndOfStream after ${r.eosAfter} s, file ${r.len} s`);
      assert.ok(r.st.inAudio && r.st.inAudio.packetsReceived >= r.len * 50 * 0.9, `${r.spec.name}: audio packets`);
      // testsrc2: colour bars and a moving gradient, not a black or flat page
      assert.ok(r.shot.distinct > 200 && r.shot.variance > 500, `${r.spec.name}: screenshot ${JSON.stringify(r.shot)}`);
      assert.equal(r.info.isSeekable, true);
      assert.ok(Math.abs(r.info.duration - r.len * 1000) <= 100, `${r.spec.name}: duration ${r.info.duration}`);
      assert.ok(r.pos >= (r.len / 2 - 1) * 1000 && r.pos <= (r.len / 2 + 1) * 1000, `${r.spec.name}: position ${r.pos}`);
    }
  });

  it('setPosition shows the frame from there within 1 s and keeps decoding', { timeout: 60000 }, async (t) => {
    if (!hasTool('ffmpeg')) return t.skip('ffmpeg missing');
    dir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-player-'));
    // a clip that shows its time as a white bar on black, t * 32 of its 320
    // pixels wide (a fraction of bright pixels reads the same whatever the
    // page does to mid greys), key frames on every second (setPosition lands
    // on the key frame at or before the position)
    const ramp = ffmpeg(
      ['-f', 'lavfi', '-i', `color=c=black:s=320x240:r=${FPS}:d=10,format=yuv420p,geq=lum='if(lt(X\\,T*32)\\,235\\,16)':cb=128:cr=128`,
        '-c:v', 'libvpx', '-b:v', '400k', '-g', '300', '-force_key_frames', 'expr:gte(t,n_forced)'],
      path.join(dir, 'ramp.webm'),
    );
    const clipTime = (st) => st.mean / 25.5; // the bar's share of white, in seconds
    const v = await viewer(t, suite.env, 'seek', `file://${ramp}`);
    await call(v.player, 'play');
    await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30, 10000, { what: '30 frames' });
    const before = pngStats(await v.peer.screenshot(path.join(dir, 'before.png')).then(() => path.join(dir, 'before.png')));
    await call(v.player, 'setPosition', 6000);
    const at = Date.now();
    if (process.env.FLUO_PLAYER_SEEK_SERIES) {
      for (let i = 0; i < 8; i++) {
        const f = path.join(dir, `s${i}.png`);
        await v.peer.screenshot(f);
        console.log(`series ${((Date.now() - at) / 1000).toFixed(2)} s: t ~${clipTime(pngStats(f)).toFixed(2)}`);
      }
    }
    await sleep(1000);
    const after = pngStats(await v.peer.screenshot(path.join(dir, 'after.png')).then(() => path.join(dir, 'after.png')));
    const shotAfter = (Date.now() - at) / 1000;
    const decoded1 = (await v.peer.stats()).inVideo.framesDecoded;
    await sleep(1000);
    const decoded2 = (await v.peer.stats()).inVideo.framesDecoded;
    const pos = await call(v.player, 'getPosition');
    const sinceSeek = Date.now() - at;
    console.log(`seek: before t ~${clipTime(before).toFixed(2)} s, after t ~${clipTime(after).toFixed(2)} s ` +
      `${shotAfter.toFixed(2)} s after setPosition(6000); position ${pos}; ${decoded2 - decoded1} frames decoded in the next second`);
    assert.ok(clipTime(before) < 4, `before the seek: t ${clipTime(before)}`);
    // 6 s in, and at most shotAfter + 0.5 s more
    assert.ok(clipTime(after) >= 5.8 && clipTime(after) <= 6 + shotAfter + 0.5, `after the seek: t ${clipTime(after)}`);
    assert.ok(decoded2 - decoded1 >= 20, `decoding goes on: ${decoded2 - decoded1} frames in a second`);
    assert.ok(pos >= 6000 && pos <= 6000 + sinceSeek + 500, `position ${pos}, ${sinceSeek} ms after the seek`);
    assert.deepEqual([...v.ev.by.Error, ...v.wev.by.Error], []);
  });

  it('plays from http:// (ranges, and a server without them) and https://, whole; a 404 is an Error event', { timeout: 90000 }, async (t) => {
    if (!hasTool('ffmpeg')) return t.skip('ffmpeg missing');
    dir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-player-'));
    const webm = path.join(dir, 'a.webm');
    const mp4 = path.join(dir, 'a.mp4');
    if (!fs.existsSync(webm)) ffmpeg([...PATTERN, ...ALL_FILES[0].args], webm);
    if (!fs.existsSync(mp4)) ffmpeg([...PATTERN, ...ALL_FILES[1].args], mp4);
    const srv = await startHttpServer({ root: dir, port: 0 });
    t.after(() => srv.close());
    const tls = await startHttpServer({ root: dir, port: 0, tls: { cert: TLS.cert, key: TLS.key } });
    t.after(() => tls.close());
    const cases = [
      { name: 'http-webm', uri: `http://127.0.0.1:${srv.port}/a.webm`, seekable: true },
      // the moov at the end: read with ranges
      { name: 'http-mp4', uri: `http://127.0.0.1:${srv.port}/a.mp4`, seekable: true },
      // no ranges: a WebM streams in order; not seekable
      { name: 'http-norange', uri: `http://127.0.0.1:${srv.port}/norange/a.webm`, seekable: false },
      { name: 'https-webm', uri: `https://127.0.0.1:${tls.port}/a.webm`, seekable: true },
    ];
    // one after another: four players and their viewers at once, beside the
    // other browser tests CI runs, once decoded 162 of 180 frames in one of
    // them (180 of 180 each, alone or in turn)
    const results = [];
    for (const c of cases) results.push(await (async () => {
      const len = duration(c.uri.endsWith('mp4') ? mp4 : webm);
      const v = await viewer(t, suite.env, c.name, c.uri);
      await call(v.player, 'play');
      const eos = await v.ev.wait('EndOfStream', () => true, len * 1000 + 15000);
      // from the first video sent (the server's clock on both events): the
      // HTTP requests before it (an MP4's index at its end) are not play time
      const flow = v.ev.by.MediaFlowOutStateChanged.find((e) => e.mediaType === 'VIDEO' && e.state === 'FLOWING');
      const eosAfter = (Number(eos.timestampMillis) - Number(flow.timestampMillis)) / 1000;
      const info = await call(v.player, 'getVideoInfo');
      return { c, len, eosAfter, info, st: await v.peer.stats(), errors: [...v.ev.by.Error, ...v.wev.by.Error] };
    })());
    for (const r of results) {
      const vid = r.st.inVideo || {};
      console.log(`${r.c.name}: ${vid.framesDecoded} frames decoded, EndOfStream after ${r.eosAfter.toFixed(2)} s of ${r.len.toFixed(2)} s, seekable ${r.info.isSeekable}`);
      assert.deepEqual(r.errors, [], `${r.c.name}: no Error event`);
      assert.ok(vid.framesDecoded >= r.len * FPS * 0.95, `${r.c.name}: ${vid.framesDecoded} frames`);
      assert.ok(Math.abs(r.eosAfter - r.len) <= 0.5, `${r.c.name}: EndOfStream after ${r.eosAfter} s`);
      assert.equal(r.info.isSeekable, r.c.seekable, `${r.c.name}: isSeekable`);
    }
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    const gone = await pipeline.create('PlayerEndpoint', { uri: `http://127.0.0.1:${srv.port}/missing.webm` });
    const gev = recordEvents(gone, ['Error']);
    await call(gone, 'play');
    const e = await gev.wait('Error');
    assert.equal(e.type, 'URI_NOT_FOUND');
    assert.match(e.description, /404/);
  });

  it('the recorder tutorial: plays back what a RecorderEndpoint wrote', { timeout: 60000 }, async (t) => {
    if (!hasTool('ffprobe')) return t.skip('ffprobe missing');
    dir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-player-'));
    const file = path.join(dir, 'recorded.webm');
    // record: the browser's camera and microphone into a WebM for 4 s
    const cam = await suite.env.browser.newPeer({ name: 'camera', audio: true, video: true, direction: 'sendonly' });
    t.after(() => cam.close().catch(() => {}));
    const sig = new Signalling(cam);
    const offer = await cam.createOffer();
    const rp = await suite.env.client.create('MediaPipeline');
    const releaseRec = releaseAtEnd(t, rp);
    const webRtc = await rp.create('WebRtcEndpoint');
    const recorder = await rp.create('RecorderEndpoint', { uri: `file://${file}` });
    const rev = recordEvents(recorder, ['MediaFlowInStateChanged']);
    await browserOffers(sig, webRtc, offer, { before: () => [webRtc.connect(recorder)] });
    for (const mt of ['AUDIO', 'VIDEO']) await rev.wait('MediaFlowInStateChanged', (e) => e.mediaType === mt && e.state === 'FLOWING', 20000);
    await call(recorder, 'record');
    await sleep(4000);
    await call(recorder, 'stopAndWait');
    await releaseRec();
    const len = duration(file);
    const frames = Number(tool('ffprobe', ['-v', 'error', '-count_packets', '-select_streams', 'v', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file]));
    // play: the tutorial's second half
    const v = await viewer(t, suite.env, 'playback', `file://${file}`);
    await call(v.player, 'play');
    const t0 = Date.now();
    await v.ev.wait('EndOfStream', () => true, len * 1000 + 10000);
    const eosAfter = (Date.now() - t0) / 1000;
    const st = await v.peer.stats();
    console.log(`playback: ${st.inVideo.framesDecoded} of ${frames} recorded frames decoded, EndOfStream after ${eosAfter.toFixed(2)} s of ${len.toFixed(2)} s, audio ${st.inAudio && st.inAudio.packetsReceived} packets`);
    assert.deepEqual([...v.ev.by.Error, ...v.wev.by.Error], []);
    assert.ok(st.inVideo.framesDecoded >= frames * 0.95, `${st.inVideo.framesDecoded} of ${frames}`);
    assert.ok(Math.abs(eosAfter - len) <= 0.5, `EndOfStream after ${eosAfter} s, file ${len} s`);
    assert.ok(st.inAudio && st.inAudio.packetsReceived >= len * 50 * 0.9, 'audio');
  });

  it('plays an RTSP camera (gst-rtsp-server) over UDP and over interleaved TCP; a refused login is an Error event', { timeout: 60000 }, async (t) => {
    if (!hasRtspServer()) return t.skip('gst-rtsp-server (python3-gi) missing');
    const udp = await startRtspServer(['--protocols', 'udp']);
    t.after(() => udp.stop());
    const tcp = await startRtspServer(['--protocols', 'tcp']);
    t.after(() => tcp.stop());
    const locked = await startRtspServer(['--auth', 'digest', '--user', 'cam', '--password', 'right']);
    t.after(() => locked.stop());
    const results = await Promise.all([
      watchLive(t, suite.env, 'rtsp-udp', `rtsp://127.0.0.1:${udp.port}/test`, 4),
      // a server that takes TCP only: the client falls back from UDP (461)
      watchLive(t, suite.env, 'rtsp-tcp', `rtsp://127.0.0.1:${tcp.port}/test`, 4),
      watchLive(t, suite.env, 'rtspt', `rtspt://127.0.0.1:${tcp.port}/test`, 4),
      watchLive(t, suite.env, 'rtsp-login', `rtsp://cam:right@127.0.0.1:${locked.port}/test`, 4),
    ]);
    for (const r of results) {
      const a = r.st.inAudio || {};
      console.log(`${r.name}: ${r.fps.toFixed(1)} frames/s decoded, ${r.st.inVideo.frameWidth}x${r.st.inVideo.frameHeight}, audio ${a.packetsReceived} packets`);
      assert.deepEqual(r.errors, [], `${r.name}: no Error event`);
      assert.ok(r.fps >= 25 && r.fps <= 35, `${r.name}: ${r.fps} frames/s`);
      assert.equal(r.st.inVideo.frameWidth, 320);
      assert.ok(a.packetsReceived > 100, `${r.name}: audio packets ${a.packetsReceived}`);
    }
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    const wrong = await pipeline.create('PlayerEndpoint', { uri: `rtsp://cam:wrong@127.0.0.1:${locked.port}/test` });
    const wev = recordEvents(wrong, ['Error']);
    await call(wrong, 'play');
    const e = await wev.wait('Error', () => true, 15000);
    assert.equal(e.type, 'AUTHENTICATION_FAILED');
    assert.match(e.description, /refused the login/);
  });

  it('says why a file cannot be played (missing, corrupt) in an Error event; the server goes on', { timeout: 30000 }, async (t) => {
    dir = dir || fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-player-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    const missing = await pipeline.create('PlayerEndpoint', { uri: `file://${dir}/nothing-here.webm` });
    const mev = recordEvents(missing, ['Error', 'EndOfStream']);
    await call(missing, 'play');
    const me = await mev.wait('Error');
    assert.equal(me.type, 'URI_NOT_FOUND');
    assert.match(me.description, /nothing-here\.webm/);
    // an EBML header, then garbage
    const bad = path.join(dir, 'corrupt.webm');
    fs.writeFileSync(bad, Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x9f]), Buffer.alloc(4000, 0xff)]));
    const corrupt = await pipeline.create('PlayerEndpoint', { uri: `file://${bad}` });
    const cev = recordEvents(corrupt, ['Error', 'EndOfStream']);
    await call(corrupt, 'play');
    const ce = await cev.wait('Error');
    assert.equal(ce.type, 'MEDIA_CORRUPT');
    assert.match(ce.description, /corrupt/);
    // the server goes on
    const other = await suite.env.client.create('MediaPipeline');
    await other.release();
    await assert.rejects(pipeline.create('PlayerEndpoint', { uri: 'ftp://x/y.webm' }), /Invalid uri/);
  });
});
