'use strict';
// fluo.limits.* (issue 12, item 4): each limit answers NOT_ENOUGH_RESOURCES
// (40009) with a message naming it while other clients are served; limits per
// session leave other sessions alone; released objects free their slot; the
// fd reserve is kept before sockets are taken; the memory of 2,000 released
// endpoints goes back to the system.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const kurentoClient = require('kurento-client');
const { startServer, RpcClient, httpGet, isAsan, sanitizerFindings, sleep } = require('./lib/server');

const ASAN = isAsan();
const CLIENT_OPTIONS = { failAfter: 5, request_timeout: 30000, response_timeout: 1000, duplicates_timeout: 1000 };

function writeConfig(name, fluo) {
  const file = path.join(os.tmpdir(), `fluo-limits-${process.pid}-${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ fluo }));
  return file;
}

async function metrics(srv) {
  return (await httpGet(srv.port, '/metrics')).body;
}

function metric(body, name) {
  const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

// Resolves with the error of a call expected to fail.
async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded; a refusal was expected');
}

function assertLimit(err, text) {
  assert.equal(err.code, 40009, `NOT_ENOUGH_RESOURCES: ${err.message}`);
  assert.equal(err.data && err.data.type, 'NOT_ENOUGH_RESOURCES');
  assert.ok(err.message.includes(text), `"${err.message}" names ${text}`);
}

async function stopClean(srv) {
  if (!srv || !srv.running) return;
  const { code, stderr } = await srv.stop();
  assert.equal(code, 0, `fluo exits 0 on SIGTERM; stderr:\n${stderr.slice(-3000)}`);
  assert.deepEqual(sanitizerFindings(stderr), []);
}

describe('limits on objects, endpoints, pipelines and sessions', () => {
  let srv;
  let a; // raw clients, one session each
  let b;
  let watcher; // kurento-client, served between the refusals
  let watcherManager;
  const config = writeConfig('objects', {
    limits: {
      pipelinesPerSession: 3,
      endpointsPerSession: 4,
      objectsPerSession: 8,
      pipelines: 5,
      endpoints: 6,
      objects: 14,
      sessions: 5,
    },
  });

  before(async () => {
    srv = await startServer({ args: ['--config', config] });
    a = await RpcClient.connect(srv.url);
    b = await RpcClient.connect(srv.url);
    watcher = await new Promise((resolve, reject) =>
      kurentoClient(srv.url, CLIENT_OPTIONS, (err, api) => (err ? reject(err) : resolve(api))),
    );
    watcherManager = await watcher.getServerManager();
  });

  after(async () => {
    if (watcher) watcher.close();
    for (const c of [a, b]) if (c) await c.close();
    await stopClean(srv);
    fs.rmSync(config, { force: true });
  });

  // The watcher is served normally: a ping-like call and a listing.
  async function watcherServed() {
    assert.equal(typeof (await watcherManager.getCpuCount()), 'number');
    assert.ok(Array.isArray(await watcherManager.getPipelines()));
  }

  let pa; // a's pipelines
  let pb;

  it('pipelinesPerSession, then pipelines server-wide; another session is not affected', async () => {
    pa = [await a.create('MediaPipeline'), await a.create('MediaPipeline'), await a.create('MediaPipeline')];
    assertLimit(await refusal(a.create('MediaPipeline')), 'fluo.limits.pipelinesPerSession (3) for this session');
    await watcherServed();
    pb = [await b.create('MediaPipeline'), await b.create('MediaPipeline')];
    assertLimit(await refusal(b.create('MediaPipeline')), 'fluo.limits.pipelines (5) on this server');
    await watcherServed();
  });

  it('endpointsPerSession, then endpoints server-wide', async () => {
    for (let i = 0; i < 4; i++) await a.create('WebRtcEndpoint', { mediaPipeline: pa[0] });
    assertLimit(
      await refusal(a.create('WebRtcEndpoint', { mediaPipeline: pa[1] })),
      'fluo.limits.endpointsPerSession (4) for this session',
    );
    // Not an endpoint: a PassThrough is still fine for a.
    await a.create('PassThrough', { mediaPipeline: pa[1] });
    await b.create('WebRtcEndpoint', { mediaPipeline: pb[0] });
    await b.create('WebRtcEndpoint', { mediaPipeline: pb[0] });
    assertLimit(await refusal(b.create('WebRtcEndpoint', { mediaPipeline: pb[0] })), 'fluo.limits.endpoints (6) on this server');
    await watcherServed();
  });

  it('objectsPerSession, then objects server-wide', async () => {
    // a: 3 pipelines + 4 endpoints + 1 PassThrough = 8.
    assertLimit(
      await refusal(a.create('PassThrough', { mediaPipeline: pa[2] })),
      'fluo.limits.objectsPerSession (8) for this session',
    );
    // b: 2 pipelines + 2 endpoints = 4; the server holds 14 with two more.
    await b.create('PassThrough', { mediaPipeline: pb[1] });
    await b.create('PassThrough', { mediaPipeline: pb[1] });
    assertLimit(await refusal(b.create('PassThrough', { mediaPipeline: pb[1] })), 'fluo.limits.objects (14) on this server');
    await watcherServed();
  });

  it('released objects free their slot, for the session and the server', async () => {
    await a.release(pa[2]);
    assert.match(await b.create('PassThrough', { mediaPipeline: pb[1] }), /PassThrough$/);
    await a.release(pa[0]); // with its 4 endpoints
    await a.create('WebRtcEndpoint', { mediaPipeline: pa[1] });
    await b.create('WebRtcEndpoint', { mediaPipeline: pb[1] });
    assert.match(await a.create('MediaPipeline'), /MediaPipeline$/);
  });

  it('sessions server-wide: connect and a made-up sessionId are refused, known sessions served', async () => {
    // a, b and the watcher hold three sessions.
    const extra = [];
    let refused = null;
    for (let i = 0; i < 5 && !refused; i++) {
      const c = await RpcClient.connect(srv.url);
      extra.push(c);
      const res = await c.request('connect');
      if (res.error) refused = res.error;
    }
    assert.ok(refused, 'a connect was refused');
    assert.equal(refused.code, 40009);
    assert.ok(refused.message.includes('fluo.limits.sessions (5) on this server'), refused.message);
    const made = await extra[0].request('describe', { object: 'manager_ServerManager', sessionId: 'made-up-session' });
    assert.equal(made.error && made.error.code, 40009);
    assert.equal((await watcherManager.getSessions()).length, 5);
    await watcherServed();
    assert.equal(typeof (await a.invoke('manager_ServerManager', 'getCpuCount')), 'number');
    for (const c of extra) await c.close();
    const body = await metrics(srv);
    for (const name of ['pipelinesPerSession', 'pipelines', 'endpointsPerSession', 'endpoints', 'objectsPerSession', 'objects', 'sessions'])
      assert.ok(metric(body, `fluo_limit_refusals_total{limit="${name}"}`) >= 1, `refusals at ${name} counted`);
  });
});

// The descriptors this process (and fluo, its child) may open.
function nofileLimit() {
  const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}

describe('fd reserve', () => {
  let srv;
  let c;
  let other;
  const limit = nofileLimit();
  // Room for about 100 descriptors above fluo's own at start (about 25).
  const reserve = limit - 130;
  const config = writeConfig('fds', { limits: { fdReserve: reserve, endpointsPerSession: 5000 } });

  before(async () => {
    // a port per endpoint, so that endpoints take descriptors (the shared
    // port's case is the next suite)
    srv = await startServer({ args: ['--config', config], env: { FLUO_SINGLE_PORT: '0' } });
    // Connect first: at the reserve, new connections are refused too.
    c = await RpcClient.connect(srv.url);
    other = await RpcClient.connect(srv.url);
  });

  after(async () => {
    for (const x of [c, other]) if (x) await x.close();
    await stopClean(srv);
    fs.rmSync(config, { force: true });
  });

  it('endpoints and offers are refused once no more than fdReserve descriptors are left; others are served', async () => {
    const pipe = await c.create('MediaPipeline');
    const spare = await c.create('WebRtcEndpoint', { mediaPipeline: pipe }); // no sockets yet
    let err = null;
    let made = 0;
    for (let i = 0; i < 200 && !err; i++) {
      try {
        const ep = await c.create('WebRtcEndpoint', { mediaPipeline: pipe });
        await c.invoke(ep, 'generateOffer'); // takes its sockets
        made++;
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err, 'an endpoint was refused');
    assertLimit(err, `fluo.limits.fdReserve (${reserve})`);
    assert.ok(made >= 5, `${made} endpoints with sockets fitted before the reserve`);
    // The offer of an endpoint made earlier would take sockets: refused too,
    // with the limit's name rather than an I/O error.
    assertLimit(await refusal(c.invoke(spare, 'generateOffer')), `fluo.limits.fdReserve (${reserve})`);
    const open = fs.readdirSync(`/proc/${srv.pid}/fd`).length;
    assert.ok(limit - open <= reserve + 8, `${open} of ${limit} descriptors open at the refusal`);
    // No sockets, no refusal; other clients are served.
    assert.match(await c.create('PassThrough', { mediaPipeline: pipe }), /PassThrough$/);
    assert.equal((await other.call('ping')).value, 'pong');
    assert.match(srv.stderr, /file descriptors in use: connections and endpoints are refused past/);
    // Released, the sockets close and endpoints fit again.
    await c.release(pipe);
    await sleep(ASAN ? 1500 : 500);
    const body = await metrics(srv); // a new connection: below the reserve again
    assert.ok(metric(body, 'fluo_limit_refusals_total{limit="fdReserve"}') >= 2);
    assert.ok(metric(body, 'fluo_fd_near_limit_total') >= 1);
    assert.ok(metric(body, 'process_open_fds') > 0);
    const pipe2 = await c.create('MediaPipeline');
    assert.match(await c.create('WebRtcEndpoint', { mediaPipeline: pipe2 }), /WebRtcEndpoint$/);
    await c.release(pipe2);
  });
});

describe('fd reserve with the shared port', () => {
  let srv;
  let c;
  const limit = nofileLimit();
  const reserve = limit - 130;
  const config = writeConfig('fds-shared', { limits: { fdReserve: reserve, endpointsPerSession: 5000 } });

  before(async () => {
    srv = await startServer({ args: ['--config', config] });
    c = await RpcClient.connect(srv.url);
  });

  after(async () => {
    if (c) await c.close();
    await stopClean(srv);
    fs.rmSync(config, { force: true });
  });

  it('endpoints on the worker\'s shared port take no descriptors of their own: the reserve that refused them above lets 200 through', async () => {
    const pipe = await c.create('MediaPipeline');
    const before = fs.readdirSync(`/proc/${srv.pid}/fd`).length;
    for (let i = 0; i < 200; i++) {
      const ep = await c.create('WebRtcEndpoint', { mediaPipeline: pipe });
      await c.invoke(ep, 'generateOffer');
    }
    const open = fs.readdirSync(`/proc/${srv.pid}/fd`).length;
    // one socket per worker and local address at most, opened once
    assert.ok(open - before <= 16, `${open - before} descriptors more after 200 offers`);
    await c.release(pipe);
  });
});

describe('memory after a big release', () => {
  let srv;
  const config = writeConfig('rss', { limits: { endpointsPerSession: 5000 } });

  before(async () => {
    srv = await startServer({ args: ['--config', config] });
  });

  after(async () => {
    await stopClean(srv);
    fs.rmSync(config, { force: true });
  });

  it('RSS after releasing 2,000 WebRtcEndpoints (with offers) is within 50 MB of before', async () => {
    const c = await RpcClient.connect(srv.url);
    c.timeoutMs = ASAN ? 60000 : 20000;
    const pipes = [];
    for (let i = 0; i < 4; i++) pipes.push(await c.create('MediaPipeline'));
    await sleep(200);
    const before = srv.rssKb();
    const N = 2000;
    for (let i = 0; i < N; i += 100) {
      const eps = await Promise.all(
        Array.from({ length: 100 }, (_, k) => c.create('WebRtcEndpoint', { mediaPipeline: pipes[(i + k) % 4] })),
      );
      await Promise.all(eps.map((e) => c.invoke(e, 'generateOffer')));
    }
    const peak = srv.rssKb();
    for (const p of pipes) await c.release(p);
    // Releases settle on the workers; the trim follows them.
    let after = srv.rssKb();
    for (let i = 0; i < 40 && after - before > 50 * 1024; i++) {
      await sleep(250);
      after = srv.rssKb();
    }
    await c.close();
    const mb = (kb) => (kb / 1024).toFixed(1);
    console.log(`# RSS before ${mb(before)} MB, with ${N} endpoints ${mb(peak)} MB, after release ${mb(after)} MB`);
    assert.ok(peak - before > 50 * 1024, 'the endpoints took memory (the test measures something)');
    assert.ok(metric(await metrics(srv), 'fluo_memory_trims_total') >= 1, 'memory was trimmed');
    if (ASAN) return; // ASan's allocator keeps freed memory in quarantine
    assert.ok(after - before <= 50 * 1024, `RSS ${mb(after)} MB after, ${mb(before)} MB before`);
  });
});
