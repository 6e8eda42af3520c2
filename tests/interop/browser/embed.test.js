'use strict';
// The embedding example against Chromium: docs/examples/embed_loopback.c,
// built against an installed libfluo through pkg-config
// (tests/tools/install_check.sh), runs the engine with no control server.
// The browser's offer (gathered in full) goes to the program's stdin, its
// answer (with the endpoint's candidates in it) comes from its stdout, and
// the browser must get its own camera and microphone back through the
// WebRtcEndpoint connected to itself: frames decoded at the resolution it
// sends, audio packets received, and the program's own count of looped
// packets when SIGTERM stops it.
//
// FLUO_EMBED_DIR: an install_check.sh output directory (run_all.sh makes
// one); without it the test runs install_check.sh itself.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { REPO } = require('../lib/server');
const { launchBrowser, waitSameResolution } = require('../lib/browser');
const { withTimeout } = require('../lib/kurento');

// The example from an install_check.sh directory: { bin, libdir, made (the
// directory when this test made it) }.
function example() {
  let dir = process.env.FLUO_EMBED_DIR;
  let made = null;
  if (!dir) {
    dir = made = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-embed-'));
    const r = spawnSync('sh', [path.join(REPO, 'tests/tools/install_check.sh'), dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`install_check.sh failed:\n${r.stdout}${r.stderr}`);
  }
  const bin = path.join(dir, 'embed_loopback');
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found (FLUO_EMBED_DIR=${dir})`);
  return { bin, libdir: path.join(dir, 'root', 'usr', 'local', 'lib'), made };
}

// Runs the example; resolves its answer (the stdout up to the empty line).
function start(ex, args) {
  const child = spawn(ex.bin, args, {
    env: { ...process.env, LD_LIBRARY_PATH: ex.libdir },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const run = { child, stdout: '', stderr: '' };
  run.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.on('data', (d) => (run.stderr += d));
  run.answer = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      run.stdout += d;
      const end = run.stdout.indexOf('\r\n\r\n');
      if (end >= 0) resolve(run.stdout.slice(0, end + 2));
    });
    run.exited.then((r) => reject(new Error(`exited (${r.code}, ${r.signal}) before answering:\n${run.stderr}`)));
  });
  run.answer.catch(() => {}); // awaited by the tests that expect one
  return run;
}

describe('embed_loopback (libfluo without a control server) with Chromium', { timeout: 300000 }, () => {
  let ex;
  let browser;
  before(async () => {
    ex = example();
    browser = await launchBrowser();
  });
  after(async () => {
    if (browser) await browser.close();
    if (ex && ex.made) fs.rmSync(ex.made, { recursive: true, force: true });
  });

  it('answers the offer and loops the browser\'s media back to it', { timeout: 90000 }, async (t) => {
    const peer = await browser.newPeer({ name: 'embed' });
    t.after(() => peer.close());
    await peer.createOffer();
    await peer.waitGatheringDone();
    const offer = await peer.localSdp();
    assert.match(offer, /^a=candidate:/m, 'the offer carries the browser\'s candidates');

    const run = start(ex, ['networkInterfaces=lo']);
    t.after(() => run.child.kill('SIGKILL'));
    run.child.stdin.write(offer.replace(/\r?\n/g, '\r\n').replace(/(\r\n)+$/, '') + '\r\n\r\n');
    const answer = await withTimeout(run.answer, 20000, 'the answer on stdout');
    assert.match(answer, /^v=0\r\n/);
    assert.match(answer, /^m=audio /m);
    assert.match(answer, /^m=video /m);
    assert.match(answer, /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/m, 'a loopback host candidate');
    assert.match(answer, /^a=end-of-candidates/m);
    await peer.setRemoteDescription('answer', answer);

    const st = await peer.waitFor(
      (s) => s.inVideo && s.inVideo.framesDecoded > 100 && s.inAudio && s.inAudio.packetsReceived > 100 && s.inAudio.totalSamplesReceived > 0,
      30000,
      { what: '100 frames decoded and 100 audio packets received back' },
    );
    assert.equal(st.connectionState, 'connected');
    assert.ok(['127.0.0.1', '::1'].includes(st.pair.remoteAddress), `pair to ${st.pair.remoteAddress}`);
    const [sent, got] = await waitSameResolution(peer, peer);
    assert.equal(got.inVideo.frameWidth, sent.outVideo.frameWidth);
    assert.equal(got.inVideo.frameHeight, sent.outVideo.frameHeight);
    t.diagnostic(`decoded ${st.inVideo.framesDecoded} frames ${got.inVideo.frameWidth}x${got.inVideo.frameHeight}, ` +
      `${st.inAudio.packetsReceived} audio packets`);

    // SIGTERM: a clean stop that reports what the engine looped.
    run.child.kill('SIGTERM');
    const r = await withTimeout(run.exited, 10000, 'exit after SIGTERM');
    assert.deepEqual(r, { code: 0, signal: null }, run.stderr);
    assert.match(run.stderr, /connection CONNECTED/);
    assert.match(run.stderr, /media CONNECTED/);
    const m = run.stderr.match(/looped (\d+) packets, (\d+) bytes/);
    assert.ok(m, `the looped count in stderr:\n${run.stderr}`);
    // (the browser's figures were read before the stop, so the program
    // counts more; 10 % of margin for what it resends from its own history)
    const looped = Number(m[1]);
    assert.ok(looped >= 0.9 * (st.inVideo.packetsReceived + st.inAudio.packetsReceived),
      `looped ${looped} packets, the browser received ${st.inVideo.packetsReceived} video and ${st.inAudio.packetsReceived} audio`);
    t.diagnostic(`the program looped ${looped} packets, ${m[2]} bytes`);
  });

  it('refuses an offer that is not SDP, saying why, and exits 1', { timeout: 20000 }, async () => {
    const run = start(ex, []);
    run.child.stdin.end('hello\r\n\r\n');
    const r = await withTimeout(run.exited, 10000, 'exit');
    assert.equal(r.code, 1);
    assert.match(run.stderr, /the offer was refused \(malformed message\)/);
    assert.equal(run.stdout, '');
  });
});
