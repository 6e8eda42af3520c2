'use strict';
// A short run of `fluo-bench rpc` against the server: the harness must finish
// with every call answered and print its one-line record last.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { startServer, sanitizerFindings, REPO } = require('./lib/server');

function benchBin() {
  const fluo = process.env.FLUO_BIN || path.join(REPO, 'build', 'fluo');
  return path.join(path.dirname(path.isAbsolute(fluo) ? fluo : path.join(REPO, fluo)), 'fluo-bench');
}

function run(args) {
  return new Promise((resolve) => {
    execFile(benchBin(), args, { timeout: 120000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

describe('fluo-bench rpc', () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    const { code, stderr } = await srv.stop();
    assert.equal(code, 0, stderr);
    assert.deepEqual(sanitizerFindings(stderr), []);
  });

  it('drives concurrent clients and prints calls/s and p50/p99 last', async () => {
    const r = await run(['rpc', '--url', srv.url, '--clients', '50', '--calls', '40']);
    assert.equal(r.code, 0, r.stderr);
    const last = r.stdout.trim().split('\n').pop();
    const m = /^rpc clients=50 calls=2000 ok=(\d+) errors=(\d+) calls_per_sec=([\d.]+) p50_ms=([\d.]+) p99_ms=([\d.]+)$/.exec(last);
    assert.ok(m, `last line: ${last}`);
    assert.equal(Number(m[1]), 2000);
    assert.equal(Number(m[2]), 0);
    assert.ok(Number(m[3]) > 0);
    assert.ok(Number(m[4]) <= Number(m[5]));
    // Every pipeline the harness created was released.
    const metrics = await (await fetch(`${srv.httpBase}/metrics`)).text();
    assert.match(metrics, /^fluo_pipelines 0$/m);
  });

  it('parse: prints ns per STUN check, per HMAC and per WebSocket frame last', async () => {
    const r = await run(['parse', '--iterations', '20000']);
    assert.equal(r.code, 0, r.stderr);
    const last = r.stdout.trim().split('\n').pop();
    const m = /^parse iterations=20000 stun_check_ns=([\d.]+) hmac_sha1_ns=([\d.]+) ws_frame_ns=([\d.]+) stun_check_over_hmac=([\d.]+)$/.exec(last);
    assert.ok(m, `last line: ${last}`);
    for (const v of m.slice(1)) assert.ok(Number(v) > 0);
  });

  it('srtp: prints ns per packet on each back end (OpenSSL, mbedTLS, libsrtp2 built-in) and the ratios to OpenSSL last', async () => {
    const r = await run(['srtp', '--packets', '2000']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const ns = {};
    for (const l of lines) {
      const b = /^srtp backend=(\w+) packets=2000 cm80_200_ns=([\d.]+) cm80_1200_ns=([\d.]+) gcm_200_ns=([\d.]+) gcm_1200_ns=([\d.]+)$/.exec(l);
      if (b) ns[b[1]] = b.slice(2).map(Number);
    }
    assert.deepEqual(Object.keys(ns).sort(), ['libsrtp', 'mbedtls', 'openssl'], r.stdout);
    for (const v of Object.values(ns).flat()) assert.ok(v > 0, r.stdout);
    const last = lines.pop();
    const m = /^srtp ratio_vs_openssl mbedtls_cm80_200=([\d.]+) mbedtls_cm80_1200=([\d.]+) mbedtls_gcm_200=([\d.]+) mbedtls_gcm_1200=([\d.]+) libsrtp_cm80_200=([\d.]+) libsrtp_cm80_1200=([\d.]+) libsrtp_gcm_200=([\d.]+) libsrtp_gcm_1200=([\d.]+)$/.exec(last);
    assert.ok(m, `last line: ${last}`);
    // each ratio is that back end's ns over OpenSSL's, in the same order
    const want = [...ns.mbedtls.map((v, i) => v / ns.openssl[i]), ...ns.libsrtp.map((v, i) => v / ns.openssl[i])];
    m.slice(1).forEach((v, i) => assert.ok(Math.abs(Number(v) - want[i]) < 0.01, `${last}: ratio ${i} is not ${want[i]}`));
  });

  it('says what is wrong with a bad command line', async () => {
    const r = await run(['nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr + r.stdout, /usage/i);
    const r2 = await run(['rpc', '--url', 'ws://127.0.0.1:1/kurento', '--clients', '2', '--calls', '2']);
    assert.notEqual(r2.code, 0);
  });
});
