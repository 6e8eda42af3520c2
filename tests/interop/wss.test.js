'use strict';
// WSS: the server on a TLS port with a certificate generated here by openssl
// (Kurento's mediaServer.net.websocket.secure keys in a config file), driven
// by the official kurento-client over wss:// and by HTTPS for the status page.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const kurentoClient = require('kurento-client');
const { startServer, freePort, sanitizerFindings } = require('./lib/server');

function httpsGet(url) {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

describe('WSS with a configured certificate', () => {
  let dir;
  let srv;
  let securePort;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-wss-'));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
      '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    const both = path.join(dir, 'both.pem');
    fs.writeFileSync(both, fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8'));
    securePort = await freePort();
    const conf = path.join(dir, 'fluo.conf.json');
    fs.writeFileSync(conf, JSON.stringify({
      mediaServer: { net: { websocket: { secure: { port: securePort, certificate: both } } } },
    }));
    srv = await startServer({ args: ['--config', conf] });
  });

  after(async () => {
    if (srv && srv.running) {
      const { code, stderr } = await srv.stop();
      assert.equal(code, 0, `exit code; stderr:\n${stderr}`);
      assert.deepEqual(sanitizerFindings(stderr), []);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('kurento-client works over wss://', async () => {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const url = `wss://127.0.0.1:${securePort}/kurento`;
    const client = await new Promise((resolve, reject) => {
      kurentoClient(url, { failAfter: 3, request_timeout: 10000, response_timeout: 1000, duplicates_timeout: 1000 }, (err, c) => (err ? reject(err) : resolve(c)));
    });
    try {
      const pipeline = await client.create('MediaPipeline');
      const pt = await pipeline.create('PassThrough');
      await pt.setName('over-tls');
      assert.equal(await pt.getName(), 'over-tls');
      const manager = await client.getServerManager();
      const pipelines = await manager.getPipelines();
      assert.ok(pipelines.some((p) => p.id === pipeline.id));
      await pipeline.release();
    } finally {
      client.close();
    }
  });

  it('plain ws:// still works beside it, and TLS bytes on the plain port do not break it', async () => {
    const ws = new WebSocket(srv.url);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reply = new Promise((resolve) => ws.once('message', (m) => resolve(JSON.parse(m))));
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    assert.equal((await reply).result.value, 'pong');
    ws.close();
    // A TLS client talking to the plain port gets no answer it can use, and the server lives on.
    await assert.rejects(httpsGet(`https://127.0.0.1:${srv.port}/`));
    assert.ok(srv.running);
  });

  it('serves the status page and metrics over HTTPS', async () => {
    const page = await httpsGet(`https://127.0.0.1:${securePort}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /fluo/);
    const metrics = await httpsGet(`https://127.0.0.1:${securePort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^fluo_pipelines \d+/m);
  });

  it('refuses to start with a certificate it cannot read, saying why', async () => {
    const conf = path.join(dir, 'bad.conf.json');
    const port = await freePort();
    fs.writeFileSync(conf, JSON.stringify({
      mediaServer: { net: { websocket: { secure: { port, certificate: path.join(dir, 'missing.pem') } } } },
    }));
    await assert.rejects(startServer({ args: ['--config', conf] }), /missing\.pem|certificate|exited early/);
  });
});
