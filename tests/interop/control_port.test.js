'use strict';
// The control port's protections against careless and hostile clients
// (issue 12 items 3 and 5): a message or HTTP request left unfinished, a
// client that never reads its answers, too many connections, the file
// descriptor budget, and the access token (with the official kurento-client).
// Each server runs with a config file of small limits; metrics come from
// /metrics.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const kurentoClient = require('kurento-client');
const { startServer, fluoBin, isAsan, RpcClient, httpGet, sanitizerFindings, sleep } = require('./lib/server');
const { RawWs, frame } = require('./lib/rawws');

const ASAN = isAsan();
const CLIENT_OPTIONS = { failAfter: 1, request_timeout: 10000, response_timeout: 1000, duplicates_timeout: 1000 };

let dir;
function tmpDir() {
  if (!dir) dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-ctl-'));
  return dir;
}

// Starts fluo with { fluo: fluoKeys } as its config file.
async function startWith(name, fluoKeys, opts = {}) {
  const conf = path.join(tmpDir(), `${name}.conf.json`);
  fs.writeFileSync(conf, JSON.stringify({ fluo: fluoKeys }));
  return startServer({ ...opts, args: ['--config', conf] });
}

async function stopClean(srv) {
  if (!srv || !srv.running) return;
  const { code, stderr } = await srv.stop();
  assert.equal(code, 0, `exit code; stderr:\n${stderr.slice(-3000)}`);
  assert.deepEqual(sanitizerFindings(stderr), []);
}

// One value of /metrics (headers: e.g. an Authorization).
async function metric(srv, name, headers) {
  const r = await httpGet(srv.port, '/metrics', { headers });
  assert.equal(r.status, 200, `/metrics: ${r.status} ${r.body}`);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.body);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

function request(id, method, params) {
  return JSON.stringify({ jsonrpc: '2.0', id, method, params });
}

const getKmd = (id) =>
  frame({
    payload: request(id, 'invoke', {
      object: 'manager_ServerManager',
      operation: 'getKmd',
      operationParams: { moduleName: 'core' },
    }),
  });

// Pings every 100 ms until stop(); resolves with the latencies (ms).
function pinger(client) {
  let done = false;
  const lat = [];
  const run = (async () => {
    while (!done) {
      const t = Date.now();
      await client.call('ping');
      lat.push(Date.now() - t);
      await sleep(100);
    }
    return lat;
  })();
  return {
    stop() {
      done = true;
      return run;
    },
  };
}

// A raw HTTP exchange: the status line and head of what comes back (or
// null if the connection closed first without an answer).
function rawHttp(port, text, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('connect', () => s.write(text));
    s.on('data', (d) => (buf += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
      resolve(m ? { status: Number(m[1]), head: buf.split('\r\n\r\n')[0], body: buf.split('\r\n\r\n')[1] } : null);
    });
  });
}

// Resolves with a connected kurento-client. When the server refuses the
// upgrade the client's reconnect layer emits 'error' (nobody listens to it
// inside kurento-client): that rejects here, and the client is closed.
function kurentoConnect(url) {
  return new Promise((resolve, reject) => {
    const client = kurentoClient(url, CLIENT_OPTIONS, (err, c) => (err ? reject(err) : resolve(c)));
    client._re.on('error', (err) => {
      client.close();
      reject(err);
    });
  });
}

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('unfinished messages and a client that does not read', () => {
  let srv;
  before(async () => {
    srv = await startWith(
      'timeouts',
      { messageTimeout: 2, stalledReaderTimeout: 2, maxQueuedOutput: 1 << 20 },
      // A small quarantine, or ASan's freed memory would hide what RSS shows.
      { env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1:abort_on_error=0'}:quarantine_size_mb=16` } },
    );
  });
  after(() => stopClean(srv));

  it('half a frame is closed (1008) after messageTimeout while another client is served', async () => {
    const other = await RpcClient.connect(srv.url);
    const p = pinger(other);
    const raw = await RawWs.open(srv.port);
    assert.equal(raw.httpStatus, 101);
    const whole = frame({ payload: request(1, 'ping') });
    raw.send(whole.subarray(0, 8)); // the header and 2 of the masked payload bytes
    const t0 = Date.now();
    const f = await raw.nextFrame((x) => x.opcode === 8, ASAN ? 15000 : 8000);
    const ms = Date.now() - t0;
    await raw.waitFor(() => raw.tcpClosed, 5000, 'TCP close');
    const lat = await p.stop();
    assert.ok(f, 'a close frame');
    assert.equal(f.payload.readUInt16BE(0), 1008);
    assert.equal(f.payload.subarray(2).toString(), 'message not finished in 2 s');
    assert.ok(ms >= 1800 && ms < (ASAN ? 12000 : 5000), `closed after ${ms} ms`);
    assert.ok(lat.length >= 10, `pings answered meanwhile: ${lat.length}`);
    assert.ok(Math.max(...lat) < (ASAN ? 3000 : 1000), `ping latency ${Math.max(...lat)} ms`);
    assert.equal(await other.call('ping').then(() => 'ok'), 'ok');
    await other.close();
    assert.ok((await metric(srv, 'fluo_websocket_message_timeouts_total')) >= 1);
  });

  it('a first fragment alone is closed too; an HTTP request never finished gets 408', async () => {
    const raw = await RawWs.open(srv.port);
    raw.sendFrame({ fin: false, payload: '{"jsonrpc":"2.0",' });
    const close = await raw.waitClose(ASAN ? 15000 : 8000);
    assert.equal(close.code, 1008);
    assert.match(close.reason, /^message not finished/);
    const before = await metric(srv, 'fluo_websocket_request_timeouts_total');
    const t0 = Date.now();
    const res = await rawHttp(srv.port, 'GET /kurento HTTP/1.1\r\nHost: x\r\nUpgr', ASAN ? 15000 : 8000);
    assert.ok(res, 'an answer before the close');
    assert.equal(res.status, 408);
    assert.ok(Date.now() - t0 >= 1800, 'not before the timeout');
    assert.equal(await metric(srv, 'fluo_websocket_request_timeouts_total'), before + 1);
    assert.ok((await metric(srv, 'fluo_websocket_message_timeouts_total')) >= 2);
  });

  it('2000 pipelined getKmd never read: closed at the 1 MiB output cap, RSS stays bounded', async () => {
    const rss0 = srv.rssKb();
    const raw = await RawWs.open(srv.port);
    raw.sock.pause(); // never read: what the server sends piles up
    const reqs = [];
    for (let i = 0; i < 2000; i++) reqs.push(getKmd(i)); // about 200 MB of answers (100 KB each)
    raw.send(Buffer.concat(reqs));
    let maxRss = rss0;
    const deadline = Date.now() + (ASAN ? 30000 : 10000);
    while (Date.now() < deadline) {
      maxRss = Math.max(maxRss, srv.rssKb());
      if ((await metric(srv, 'fluo_websocket_output_overflows_total')) >= 1) break;
      await sleep(100);
    }
    for (let i = 0; i < 10; i++) {
      maxRss = Math.max(maxRss, srv.rssKb());
      await sleep(100);
    }
    assert.equal(await metric(srv, 'fluo_websocket_output_overflows_total'), 1);
    const growMb = (maxRss - rss0) / 1024;
    assert.ok(growMb < (ASAN ? 96 : 32), `RSS grew by ${growMb.toFixed(1)} MB (the answers were ~200 MB)`);
    assert.match(srv.stderr, /output queue over 1048576 bytes .*the peer is not reading/);
    // Reading now: what was queued, then the close frame.
    raw.sock.resume();
    const close = await raw.waitClose(ASAN ? 30000 : 15000);
    assert.equal(close.code, 1008);
    assert.equal(close.reason, 'output queue over 1048576 bytes');
    const answers = raw.frames.length;
    assert.ok(answers < 200, `answers before the close: ${answers}`);
    const c = await RpcClient.connect(srv.url);
    await c.call('ping');
    await c.close();
  });
});

describe('a stalled reader under the output cap', () => {
  let srv;
  before(async () => {
    srv = await startWith('stalled', { stalledReaderTimeout: 2, maxQueuedOutput: 256 << 20 });
  });
  after(() => stopClean(srv));

  it('output left unread for stalledReaderTimeout: the connection is dropped', async () => {
    const raw = await RawWs.open(srv.port);
    raw.sock.pause();
    const reqs = [];
    for (let i = 0; i < 300; i++) reqs.push(getKmd(i)); // 30 MB: more than the socket buffers
    raw.send(Buffer.concat(reqs));
    const t0 = Date.now();
    let n = 0;
    while (Date.now() - t0 < (ASAN ? 30000 : 10000)) {
      n = await metric(srv, 'fluo_websocket_stalled_readers_total');
      if (n >= 1) break;
      await sleep(200);
    }
    // at least this one (on a loaded machine a /metrics poll of ours may
    // itself go unread for 2 s and be dropped too: counted, and right)
    assert.ok(n >= 1, `stalled readers dropped: ${n}`);
    assert.ok(Date.now() - t0 >= 1800, 'not before the timeout');
    assert.match(srv.stderr, /bytes of output not read in 2 s: dropped/);
    // this /metrics request alone: an earlier poll's connection may still be
    // closing on a loaded machine, so the count is read until it settles
    let conns = 0;
    for (const until = Date.now() + 3000; ; await sleep(100)) {
      conns = await metric(srv, 'fluo_websocket_tcp_connections');
      if (conns === 1 || Date.now() > until) break;
    }
    assert.equal(conns, 1);
    raw.destroy();
  });
});

describe('maxConnections', () => {
  let srv;
  before(async () => {
    srv = await startWith('maxconn', { maxConnections: 5 });
  });
  after(() => stopClean(srv));

  it('the 6th connection is refused (503) and the 5 others keep working', async () => {
    const clients = [];
    for (let i = 0; i < 5; i++) clients.push(await RpcClient.connect(srv.url));
    const sixth = await RawWs.open(srv.port).catch((e) => ({ error: e }));
    if (!sixth.error) {
      assert.notEqual(sixth.httpStatus, 101, 'no upgrade over the cap');
      if (sixth.httpStatus !== null) {
        assert.equal(sixth.httpStatus, 503);
        assert.match(sixth.httpBody.toString(), /too many connections/);
      }
      await sixth.waitFor(() => sixth.tcpClosed, 5000, 'close');
      assert.ok(sixth.tcpClosed);
    }
    await assert.rejects(RpcClient.connect(srv.url));
    for (const c of clients) assert.equal(await c.call('ping').then(() => 'pong'), 'pong');
    await clients.pop().close();
    await sleep(200);
    assert.ok((await metric(srv, 'fluo_websocket_refused_max_connections_total')) >= 2);
    assert.match(srv.stderr, /connection refused, too many connections/);
    for (const c of clients) await c.close();
  });
});

describe('access token', () => {
  const TOKEN = 'pL9+x/2=tok';
  const Q = encodeURIComponent(TOKEN);
  let srv;
  before(async () => {
    srv = await startWith('token', { accessToken: TOKEN });
  });
  after(() => stopClean(srv));

  it('kurento-client with the token in the URL works', async () => {
    const client = await kurentoConnect(`${srv.url}?access_token=${Q}`);
    try {
      const pipeline = await client.create('MediaPipeline');
      const pt = await pipeline.create('PassThrough');
      await pt.setName('with-token');
      assert.equal(await pt.getName(), 'with-token');
      await pipeline.release();
    } finally {
      client.close();
    }
  });

  it('a wrong or missing token: 401 with WWW-Authenticate, and kurento-client fails', async () => {
    for (const p of ['/kurento', `/kurento?access_token=${Q}x`, '/kurento?access_token=']) {
      const raw = await RawWs.open(srv.port, { path: p });
      assert.equal(raw.httpStatus, 401, p);
      assert.equal(raw.httpHeaders['www-authenticate'], 'Bearer realm="fluo"');
      raw.destroy();
    }
    const wrong = await RawWs.open(srv.port, { headers: { Authorization: `Bearer ${TOKEN}x` } });
    assert.equal(wrong.httpStatus, 401);
    wrong.destroy();
    await assert.rejects(kurentoConnect(srv.url));
    await assert.rejects(kurentoConnect(`${srv.url}?access_token=nope`));
    assert.equal((await httpGet(srv.port, '/metrics')).status, 401);
    assert.equal((await httpGet(srv.port, '/')).status, 401);
    assert.match(srv.stderr, /GET \/kurento without the access token: 401/);
    assert.doesNotMatch(srv.stderr, /pL9/, 'no token in the log');
  });

  it('Authorization: Bearer works on a raw upgrade and for /metrics', async () => {
    const raw = await RawWs.open(srv.port, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(raw.httpStatus, 101);
    raw.sendText(request(7, 'ping'));
    const m = await raw.nextMessage();
    assert.equal(JSON.parse(m.text).id, 7);
    raw.destroy();
    const n = await metric(srv, 'fluo_websocket_auth_failures_total', { Authorization: `Bearer ${TOKEN}` });
    assert.ok(n >= 6, `401s counted: ${n}`);
    assert.equal((await httpGet(srv.port, `/?access_token=${Q}`)).status, 200);
  });
});

describe('file descriptor budget', () => {
  let srv;
  let wrapper;
  before(async () => {
    // fluo under a 128-descriptor limit; the wrapper's name keeps "asan" so
    // the helpers know an ASan binary.
    const bin = fluoBin();
    wrapper = path.join(tmpDir(), `${ASAN ? 'asan-' : ''}fluo-nofile128.sh`);
    fs.writeFileSync(wrapper, `#!/bin/sh\nulimit -n 128 || exit 99\nexec "${bin}" "$@"\n`, { mode: 0o755 });
    srv = await startWith('fds', { limits: { fdReserve: 16 } }, { bin: wrapper });
  });
  after(() => stopClean(srv));

  it('near RLIMIT_NOFILE new sockets are refused and logged; the server serves those it has', async () => {
    const limit = /Max open files\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.pid}/limits`, 'utf8'));
    assert.equal(Number(limit[1]), 128);
    const first = await RpcClient.connect(srv.url);
    await first.call('ping');
    const held = [];
    let refusedAt = -1;
    for (let i = 0; i < 150 && refusedAt < 0; i++) {
      const s = await RawWs.open(srv.port).catch(() => null);
      if (s && s.httpStatus === 101) {
        held.push(s);
        continue;
      }
      refusedAt = i;
      if (s) s.destroy();
    }
    const fds = fs.readdirSync(`/proc/${srv.pid}/fd`).length;
    assert.ok(refusedAt > 20, `connections taken before the refusal: ${refusedAt}`);
    // 112 held at most, plus refused sockets whose 503 is still being
    // written before they close
    assert.ok(fds <= 128 - 16 + 4, `descriptors in use: ${fds}`);
    await sleep(200);
    assert.match(srv.stderr, /connection refused, too near the file descriptor limit/);
    assert.match(srv.stderr, /file descriptors in use: connections and endpoints are refused past 112/);
    assert.ok(srv.running);
    assert.equal(await first.call('ping').then(() => 'pong'), 'pong');
    // More attempts while full: refused again, the log stays short.
    for (let i = 0; i < 20; i++) {
      const s = await RawWs.open(srv.port).catch(() => null);
      assert.ok(!s || s.httpStatus !== 101);
      if (s) s.destroy();
    }
    const lines = srv.stderr.split('\n').filter((l) => /connection refused/.test(l)).length;
    assert.ok(lines <= 3, `refusal lines logged: ${lines}`);
    for (const s of held.splice(0, 10)) s.destroy();
    await sleep(300);
    assert.ok((await metric(srv, 'fluo_websocket_refused_fd_reserve_total')) >= 21);
    assert.equal(await metric(srv, 'process_max_fds'), 128);
    for (const s of held) s.destroy();
    await first.close();
  });
});
