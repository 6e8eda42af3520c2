'use strict';
// RtpEndpoint against ffmpeg, with headless Chromium at the WebRTC end:
//   1. ffmpeg sends VP8+Opus (and, separately, H.264 baseline
//      packetization-mode=1) as plain RTP to an RtpEndpoint, per its answer
//      to an offer the test writes for ffmpeg's streams; the RtpEndpoint
//      feeds a WebRtcEndpoint a Chromium viewer watches: it decodes at about
//      the sent frame rate and audio arrives.
//   2. The reverse: a Chromium publisher -> WebRtcEndpoint -> RtpEndpoint ->
//      ffmpeg reading the offer that says where it listens, recording 10 s
//      into MKV: ffprobe shows both streams and ~10 s; the same over SDES.
//   3. SDES-SRTP AES_CM_128_HMAC_SHA1_80 (ffmpeg's srtp protocol, a key
//      shared through a=crypto) into the viewer; a wrong key: nothing
//      reaches the viewer, an SRTP_AUTH_FAILED Error and srtpAuthFailed in
//      getStats say why, the server goes on.
//   4. COMEDIA: the offer says a=direction:active and c=IN IP4 0.0.0.0; the
//      sender is learnt from its first packet and media still arrives.
// The cases are independent and run side by side.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { audioSamples } = require('../lib/media_check');
const { fluoAndBrowserPerSuite, Signalling, recordEvents, browserOffers, releaseAtEnd, withTimeout, sleep, statsOfType, kurentoClient } = require('../lib/kurento');

const FPS = 30;

// A free UDP port pair (even RTP port, RTCP above), held until returned.
async function freePair() {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + 2 * Math.floor(Math.random() * 10000);
    const socks = [];
    try {
      for (const p of [port, port + 1]) {
        const s = dgram.createSocket('udp4');
        await new Promise((res, rej) => {
          s.once('error', rej);
          s.bind(p, '127.0.0.1', res);
        });
        socks.push(s);
      }
      for (const s of socks) s.close();
      return port;
    } catch (_) {
      for (const s of socks) s.close();
    }
  }
  throw new Error('no free UDP port pair');
}

// The c= address and the m= port of each kind in an SDP.
function parseSdp(sdp) {
  const out = { addr: null, audio: 0, video: 0, crypto: {} };
  let kind = null;
  for (const l of sdp.split(/\r?\n/)) {
    let m;
    if ((m = /^m=(audio|video) (\d+) /.exec(l))) {
      kind = m[1];
      out[kind] = Number(m[2]);
    } else if ((m = /^c=IN IP[46] (\S+)/.exec(l))) {
      if (!out.addr) out.addr = m[1];
    } else if ((m = /^a=crypto:\d+ (\S+) inline:([^|\s]+)/.exec(l)) && kind) {
      out.crypto[kind] = { suite: m[1], key: m[2] };
    }
  }
  return out;
}

function sdpHeader(addr) {
  return ['v=0', `o=- 0 0 IN IP4 ${addr}`, 's=ffmpeg', `c=IN IP4 ${addr}`, 't=0 0'];
}

// An offer describing ffmpeg's two streams (what it sends, from where).
// opts: { video: 'VP8' | 'H264', ports: {audio, video}, key (base64, SDES),
// comedia }
function senderOffer(opts) {
  const addr = opts.comedia ? '0.0.0.0' : '127.0.0.1';
  const proto = opts.key ? 'RTP/SAVP' : 'RTP/AVP';
  const lines = sdpHeader(addr);
  const crypto = opts.key ? [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${opts.key}`] : [];
  const comedia = opts.comedia ? ['a=direction:active'] : [];
  lines.push(`m=audio ${opts.comedia ? 9 : opts.ports.audio} ${proto} 97`, 'a=rtpmap:97 opus/48000/2', 'a=sendonly', ...comedia, ...crypto);
  lines.push(`m=video ${opts.comedia ? 9 : opts.ports.video} ${proto} 96`);
  if (opts.video === 'H264') lines.push('a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f');
  else lines.push('a=rtpmap:96 VP8/90000');
  lines.push('a=sendonly', ...comedia, ...crypto);
  return lines.join('\r\n') + '\r\n';
}

// The clips ffmpeg sends, encoded once before the cases (so no case pays
// for encoding while the others run): a test pattern at FPS with a key
// frame each second and a tone, VP8+Opus in WebM, H.264+Opus in MKV.
const CLIP_SECONDS = 14;
function makeClips(dir) {
  const src = [
    '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=${FPS}:duration=${CLIP_SECONDS}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${CLIP_SECONDS}`,
  ];
  const vp8 = ['-c:v', 'libvpx', '-deadline', 'good', '-b:v', '500k', '-g', String(FPS)];
  const h264 = ['-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-bf', '0', '-g', String(FPS)];
  const clips = { VP8: path.join(dir, 'clip.webm'), H264: path.join(dir, 'clip.mkv') };
  for (const [codec, file] of Object.entries(clips))
    execFileSync('ffmpeg', ['-v', 'error', '-y', ...src, ...(codec === 'VP8' ? vp8 : h264), '-c:a', 'libopus', '-b:a', '32k', '-shortest', file]);
  return clips;
}

// ffmpeg sending a clip (copied, paced at its rate) to the answer's ports;
// from opts.ports (its local RTP ports) unless COMEDIA.
function startSender(clips, opts, answer) {
  const a = parseSdp(answer);
  const proto = opts.key ? 'srtp' : 'rtp';
  const srtp = opts.key ? ['-srtp_out_suite', 'AES_CM_128_HMAC_SHA1_80', '-srtp_out_params', opts.senderKey || opts.key] : [];
  const local = (k) => (opts.ports ? `?localrtpport=${opts.ports[k]}&localrtcpport=${opts.ports[k] + 1}` : '');
  const args = [
    '-v', 'error', '-re', '-i', clips[opts.video],
    // H.264 from MKV: Annex B with SPS/PPS before each IDR, in band (the
    // offer carries no sprop-parameter-sets)
    '-map', '0:v', '-c', 'copy', ...(opts.video === 'H264' ? ['-bsf:v', 'h264_mp4toannexb'] : []), '-payload_type', '96', ...srtp, '-f', 'rtp', `${proto}://${a.addr}:${a.video}${local('video')}`,
    '-map', '0:a', '-c', 'copy', '-payload_type', '97', ...srtp, '-f', 'rtp', `${proto}://${a.addr}:${a.audio}${local('audio')}`,
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.err = '';
  child.stderr.on('data', (d) => (child.err += d));
  child.done = new Promise((r) => child.on('exit', (code) => r(code)));
  return child;
}

async function inboundRates(peer, ms) {
  const a = await peer.stats();
  const t0 = Date.now();
  await sleep(ms);
  const b = await peer.stats();
  const s = (Date.now() - t0) / 1000;
  const frames = (x) => (x.inVideo ? x.inVideo.framesDecoded : 0);
  const audio = (x) => (x.inAudio ? x.inAudio.packetsReceived : 0);
  return { fps: (frames(b) - frames(a)) / s, audioPackets: audio(b) - audio(a), last: b };
}

// Kurento's SDES complex type, as RtpEndpoint.Builder's crypto takes it.
function sdes(fields) {
  return kurentoClient.getComplexType('SDES')(fields);
}

function b64key() {
  return crypto.randomBytes(30).toString('base64');
}

describe('RtpEndpoint with ffmpeg and Chromium', { timeout: 180000, concurrency: true }, () => {
  const suite = fluoAndBrowserPerSuite({ browser: { extraArgs: ['--use-fake-device-for-media-stream=fps=30'] } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-rtp-'));
  let clips = null;
  before(() => {
    clips = makeClips(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // RtpEndpoint (ctor params) -> WebRtcEndpoint -> a recvonly Chromium viewer.
  async function viewer(t, name, rtpParams, videoCodec) {
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    const rtp = await pipeline.create('RtpEndpoint', rtpParams || {});
    const rev = recordEvents(rtp, ['Error', 'MediaStateChanged', 'ConnectionStateChanged']);
    const webRtc = await pipeline.create('WebRtcEndpoint');
    const peer = await suite.env.browser.newPeer({ name, audio: true, video: true, direction: 'recvonly', videoCodec });
    t.after(() => peer.close().catch(() => {}));
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    await browserOffers(sig, webRtc, offer, { before: () => [rtp.connect(webRtc)] });
    return { pipeline, rtp, rev, webRtc, peer };
  }

  // ffmpeg -> RtpEndpoint -> viewer, decoding at about the sent rate.
  async function sendToViewer(t, name, opts) {
    const v = await viewer(t, name, opts.rtpParams, opts.video);
    if (!opts.comedia) opts.ports = { audio: await freePair(), video: await freePair() };
    const answer = await withTimeout(v.rtp.processOffer(senderOffer(opts)), 10000, 'processOffer');
    assert.match(answer, opts.key ? /RTP\/SAVP/ : /RTP\/AVP /);
    assert.doesNotMatch(answer, /a=ice-ufrag|a=fingerprint/);
    if (opts.comedia) assert.match(answer, /a=direction:passive/);
    const ff = startSender(clips, opts, answer);
    t.after(() => ff.kill('SIGKILL'));
    return { ...v, ff, answer };
  }

  async function checkDecodes(t, v, name) {
    await v.peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30, 20000, { what: `${name}: 30 frames decoded` });
    // 5 s: a 3 s window on a loaded machine read 24.8 of 30 from getStats' timing alone
    const r = await inboundRates(v.peer, 5000);
    t.diagnostic(`${name}: ${r.fps.toFixed(1)} fps decoded over 5 s, ${r.last.inVideo.frameWidth}x${r.last.inVideo.frameHeight}, ${r.audioPackets} audio packets`);
    assert.ok(r.fps >= 24, `${name}: the viewer decodes ${r.fps.toFixed(1)} fps (>= 24 of ${FPS} sent)`);
    assert.ok(r.audioPackets >= 170, `${name}: audio arrives (${r.audioPackets} packets in 5 s)`);
    await v.rev.wait('ConnectionStateChanged', (e) => e.newState === 'CONNECTED', 1000);
    await v.rev.wait('MediaStateChanged', (e) => e.newState === 'CONNECTED', 5000); // ffmpeg's SRs
    assert.deepEqual(v.rev.by.Error, []);
  }

  it('ffmpeg VP8+Opus as plain RTP -> RtpEndpoint -> WebRtcEndpoint -> Chromium', async (t) => {
    const v = await sendToViewer(t, 'vp8', { video: 'VP8' });
    await checkDecodes(t, v, 'vp8');
  });

  it('ffmpeg H.264 baseline (packetization-mode=1)+Opus -> RtpEndpoint -> Chromium', async (t) => {
    const v = await sendToViewer(t, 'h264', { video: 'H264' });
    await checkDecodes(t, v, 'h264');
    assert.equal((await v.peer.stats()).inVideo.mimeType, 'video/H264');
  });

  it('SDES-SRTP AES_CM_128_HMAC_SHA1_80 with a shared key -> Chromium', async (t) => {
    const key = b64key();
    const v = await sendToViewer(t, 'sdes', { video: 'VP8', key, rtpParams: { crypto: sdes({ crypto: 'AES_128_CM_HMAC_SHA1_80' }) } });
    assert.match(v.answer, /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/);
    await checkDecodes(t, v, 'sdes');
  });

  it('SDES with a wrong key: no media, SRTP_AUTH_FAILED and srtpAuthFailed say why', async (t) => {
    const v = await sendToViewer(t, 'sdes-wrong', {
      video: 'VP8',
      key: b64key(), // what the offer says ffmpeg sends with
      senderKey: b64key(), // what it does send with
      rtpParams: { crypto: sdes({ crypto: 'AES_128_CM_HMAC_SHA1_80', keyBase64: b64key() }) },
    });
    const err = await v.rev.wait('Error', (e) => e.type === 'SRTP_AUTH_FAILED', 10000);
    t.diagnostic(`Error: ${err.description}`);
    await sleep(2000);
    const s = await v.peer.stats();
    assert.ok(!s.inVideo || s.inVideo.framesDecoded === 0, 'nothing decoded');
    const stats = await v.rtp.getStats();
    const ep = statsOfType(stats, 'endpoint')[0];
    assert.ok(ep && ep.srtpAuthFailed > 50, `srtpAuthFailed counts the refused packets (${ep && ep.srtpAuthFailed})`);
    assert.equal(statsOfType(stats, 'inboundrtp').length, 0, 'no inbound stream');
    // the server goes on: a new endpoint negotiates
    const other = await v.pipeline.create('RtpEndpoint');
    assert.match(await other.generateOffer(), /m=video /);
  });

  it('COMEDIA: a=direction:active, c=IN IP4 0.0.0.0: the sender is learnt from its first packet', async (t) => {
    const v = await sendToViewer(t, 'comedia', { video: 'VP8', comedia: true });
    await checkDecodes(t, v, 'comedia');
  });

  // Chromium -> WebRtcEndpoint -> RtpEndpoint -> ffmpeg reading the offer
  // that says where it listens; key (base64): SDES, the endpoint sending
  // with that key (its own, given at creation), which ffmpeg's SDP says;
  // g711h264: ffmpeg takes PCMA and H.264 only, so the browser's Opus and
  // VP8 are transcoded on the way.
  async function record(t, name, key, g711h264) {
    const pipeline = await suite.env.client.create('MediaPipeline');
    releaseAtEnd(t, pipeline);
    const webRtc = await pipeline.create('WebRtcEndpoint');
    const rtp = await pipeline.create('RtpEndpoint', key ? { crypto: sdes({ crypto: 'AES_128_CM_HMAC_SHA1_80', keyBase64: key }) } : {});
    const presenter = await suite.env.browser.newPeer({ name: `publisher-${name}`, direction: 'sendonly', videoCodec: 'VP8' });
    t.after(() => presenter.close().catch(() => {}));
    await browserOffers(new Signalling(presenter), webRtc, await presenter.createOffer());
    await presenter.waitFor((s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.framesEncoded > 0, 20000, { what: 'publisher sending' });

    // where ffmpeg listens, as an SDP it reads too
    const pa = await freePair();
    const pv = await freePair();
    const proto = key ? 'RTP/SAVP' : 'RTP/AVP';
    const crypto = key ? [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}`] : [];
    const lines = sdpHeader('127.0.0.1');
    if (g711h264) {
      lines.push(`m=audio ${pa} ${proto} 8`, 'a=rtpmap:8 PCMA/8000', 'a=recvonly', ...crypto);
      lines.push(`m=video ${pv} ${proto} 96`, 'a=rtpmap:96 H264/90000', 'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f', 'a=recvonly', ...crypto);
    } else {
      lines.push(`m=audio ${pa} ${proto} 111`, 'a=rtpmap:111 opus/48000/2', 'a=recvonly', ...crypto);
      lines.push(`m=video ${pv} ${proto} 96`, 'a=rtpmap:96 VP8/90000', 'a=recvonly', ...crypto);
    }
    const sdpFile = path.join(dir, `${name}.sdp`);
    fs.writeFileSync(sdpFile, lines.join('\r\n') + '\r\n');
    const out = path.join(dir, `${name}.mkv`);
    const ff = spawn('ffmpeg', ['-v', 'error', '-protocol_whitelist', 'file,udp,rtp,srtp', '-i', sdpFile, '-t', '10', '-c', 'copy', '-y', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let ferr = '';
    ff.stderr.on('data', (d) => (ferr += d));
    const ffDone = new Promise((r) => ff.on('exit', r));
    t.after(() => ff.kill('SIGKILL'));
    await sleep(500); // ffmpeg binds its ports
    const answer = await rtp.processOffer(fs.readFileSync(sdpFile, 'utf8'));
    assert.match(answer, /a=sendonly/);
    if (key) assert.ok(answer.includes(`AES_CM_128_HMAC_SHA1_80 inline:${key}`), 'the answer carries the key given');
    await webRtc.connect(rtp);
    // ffmpeg starts a VP8 stream at a key frame: asked for again in case
    // the first was lost in its socket (a loaded machine)
    for (const ms of [1000, 2000]) {
      await sleep(ms);
      await rtp.requestKeyframe();
    }
    const code = await withTimeout(ffDone, 30000, 'ffmpeg recording 10 s');
    assert.equal(code, 0, `ffmpeg: ${ferr}`);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name:format=duration', '-of', 'json', out], { encoding: 'utf8' }));
    const codecs = probe.streams.map((s) => s.codec_name).sort();
    const dur = parseFloat(probe.format.duration);
    t.diagnostic(`${name}: recorded ${codecs.join('+')} for ${dur} s`);
    assert.deepEqual(codecs, g711h264 ? ['h264', 'pcm_alaw'] : ['opus', 'vp8']);
    assert.ok(dur >= 9 && dur <= 11, `duration ${dur} s (10 wanted)`);
    if (g711h264) assert.equal(await rtp.isMediaTranscoding('VIDEO'), true, 'VP8 -> H.264 on the way');
    // the camera's beeps are in the audio (not silence): the loudest 5% of
    // 20 ms windows well above the quietest
    const { samples } = audioSamples(out);
    const rms = [];
    for (let i = 0; i + 960 <= samples.length; i += 960) {
      let e = 0;
      for (let j = i; j < i + 960; j++) e += samples[j] * samples[j];
      rms.push(Math.sqrt(e / 960));
    }
    rms.sort((x, y) => x - y);
    const loud = rms[Math.floor(rms.length * 0.95)];
    t.diagnostic(`${name}: audio rms, 95th percentile ${loud.toFixed(0)}, median ${rms[rms.length >> 1].toFixed(0)}`);
    assert.ok(loud > 1000, `${name}: audio has sound (${loud.toFixed(0)})`);
    // the frames decode (over SDES: ffmpeg decrypted them)
    const frames = Number(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', out], { encoding: 'utf8' }).trim());
    t.diagnostic(`${name}: ${frames} video frames decode`);
    // a transcoder behind on a loaded machine encodes only the newest frame
    const least = g711h264 ? 100 : 150;
    assert.ok(frames >= least, `${name}: ${frames} video frames decode (>= ${least} of ~300 wanted)`);
  }

  it('Chromium -> WebRtcEndpoint -> RtpEndpoint -> ffmpeg records 10 s: both streams in the file', async (t) => {
    await record(t, 'plain', null);
  });

  it('the same over SDES-SRTP: ffmpeg decrypts with the a=crypto key of its SDP', async (t) => {
    await record(t, 'sdes', b64key());
  });

  it('ffmpeg taking PCMA and H.264 only (a SIP-style peer): Opus and VP8 are transcoded on the way', async (t) => {
    await record(t, 'g711-h264', null, true);
  });
});
