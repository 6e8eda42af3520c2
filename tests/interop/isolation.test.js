'use strict';
// fluo.isolatedSessions (issue 12, item 5), with two kurento-client
// applications A and B and raw connections: in isolated mode B cannot see,
// touch, release, subscribe to or close A's objects, nor take A's session by
// naming its id, and A's events keep flowing to A. In the default mode the
// same actions succeed, as on Kurento.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const kurentoClient = require('kurento-client');
const { startServer, RpcClient, sanitizerFindings, sleep } = require('./lib/server');

const CLIENT_OPTIONS = { failAfter: 5, request_timeout: 20000, response_timeout: 1000, duplicates_timeout: 1000 };

// Resolves { api, instance }: the callback's handle and the KurentoClient
// itself (which carries sessionId).
function connectClient(url) {
  return new Promise((resolve, reject) => {
    const instance = kurentoClient(url, CLIENT_OPTIONS, (err, api) => (err ? reject(err) : resolve({ api, instance })));
  });
}

function nextEvent(emitter, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`'${event}' not emitted within ${ms} ms`)), ms);
    emitter.once(event, (ev) => {
      clearTimeout(t);
      resolve(ev);
    });
  });
}

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('the call succeeded; a refusal was expected');
}

const idOf = (x) => (typeof x === 'string' ? x : x && x.id);

async function stopClean(srv) {
  if (!srv || !srv.running) return;
  const { code, stderr } = await srv.stop();
  assert.equal(code, 0, `fluo exits 0 on SIGTERM; stderr:\n${stderr.slice(-3000)}`);
  assert.deepEqual(sanitizerFindings(stderr), []);
}

// A's objects: a pipeline with a WebRtcEndpoint and two PassThroughs.
async function aObjects(api) {
  const pipeline = await api.create('MediaPipeline');
  const webrtc = await pipeline.create('WebRtcEndpoint');
  const x = await pipeline.create('PassThrough');
  const y = await pipeline.create('PassThrough');
  return { pipeline, webrtc, x, y };
}

describe('isolated sessions (fluo.isolatedSessions: true)', () => {
  let srv;
  let A;
  let B;
  let raw; // B's raw connection, its own session
  let objs;
  const config = path.join(os.tmpdir(), `fluo-isolation-${process.pid}.json`);
  fs.writeFileSync(config, JSON.stringify({ fluo: { isolatedSessions: true } }));

  before(async () => {
    srv = await startServer({ args: ['--config', config] });
    A = await connectClient(srv.url);
    B = await connectClient(srv.url);
    raw = await RpcClient.connect(srv.url);
    await raw.call('connect');
    objs = await aObjects(A.api);
  });

  after(async () => {
    for (const c of [A, B]) if (c) c.api.close();
    if (raw) await raw.close();
    await stopClean(srv);
    fs.rmSync(config, { force: true });
  });

  it('B cannot see A: getMediaobjectById and describe answer 40101, listings hold its own only', async () => {
    for (const o of Object.values(objs)) {
      const err = await rejection(B.api.getMediaobjectById(o.id));
      assert.equal(err.code, 40101, `B looking up ${o.id}: ${err.message}`);
    }
    const pb = await B.api.create('MediaPipeline');
    const bManager = await B.api.getServerManager();
    assert.deepEqual((await bManager.getPipelines()).map(idOf), [pb.id]);
    assert.deepEqual(await bManager.getSessions(), [B.instance.sessionId]);
    const aManager = await A.api.getServerManager();
    assert.deepEqual((await aManager.getPipelines()).map(idOf), [objs.pipeline.id]);
    await pb.release();
  });

  it('B cannot touch, release, subscribe to or build on A objects (40101 as if missing)', async () => {
    const { pipeline, webrtc, x, y } = objs;
    const cases = [
      ['invoke', { object: pipeline.id, operation: 'getName' }],
      ['invoke', { object: x.id, operation: 'connect', operationParams: { sink: y.id } }],
      ['release', { object: webrtc.id }],
      ['release', { object: pipeline.id }],
      ['subscribe', { object: webrtc.id, type: 'IceGatheringDone' }],
      ['unsubscribe', { object: webrtc.id, subscription: 'any' }],
      ['describe', { object: x.id }],
      ['ref', { object: x.id }],
      ['create', { type: 'PassThrough', constructorParams: { mediaPipeline: pipeline.id } }],
    ];
    for (const [method, params] of cases) {
      const res = await raw.request(method, params);
      assert.equal(res.error && res.error.code, 40101, `${method} ${JSON.stringify(params)}: ${JSON.stringify(res.error)}`);
      assert.match(res.error.message, /^Object '.*' not found$/);
    }
    // B's own element cannot reach A's either.
    const pb = await raw.create('MediaPipeline');
    const mine = await raw.create('PassThrough', { mediaPipeline: pb });
    const res = await raw.request('invoke', { object: mine, operation: 'connect', operationParams: { sink: x.id } });
    assert.equal(res.error && res.error.code, 40101);
    await raw.release(pb);
  });

  it("B cannot take over or close A's live session by naming its id", async () => {
    const sid = A.instance.sessionId;
    assert.equal(typeof sid, 'string');
    const hijacker = await RpcClient.connect(srv.url);
    for (const [method, params] of [
      ['connect', { sessionId: sid }],
      ['closeSession', { sessionId: sid }],
      ['invoke', { sessionId: sid, object: objs.pipeline.id, operation: 'getName' }],
      ['release', { sessionId: sid, object: objs.pipeline.id }],
    ]) {
      const res = await hijacker.request(method, params);
      assert.equal(res.error && res.error.code, 40007, `${method}: ${JSON.stringify(res.error)}`);
      assert.match(res.error.message, /in use by another connection/);
    }
    await hijacker.close();
  });

  it("A is untouched and its events still come to A, not to B", async () => {
    const { pipeline, webrtc, x, y } = objs;
    assert.equal(await pipeline.getName(), pipeline.id);
    const bManager = await B.api.getServerManager();
    const bCreated = [];
    bManager.on('ObjectCreated', (ev) => bCreated.push(idOf(ev.object)));
    await bManager.getCpuCount(); // the subscription went through
    const connected = nextEvent(x, 'ElementConnected');
    await x.getName(); // after the subscribe on the same connection
    await x.connect(y, 'VIDEO');
    const ev = await connected;
    assert.equal(idOf(ev.sink), y.id);
    const gathered = nextEvent(webrtc, 'IceGatheringDone');
    await webrtc.getName();
    await webrtc.generateOffer();
    await webrtc.gatherCandidates();
    await gathered;
    // ObjectCreated: B hears of its own creations only.
    const z = await pipeline.create('PassThrough');
    const pb = await B.api.create('MediaPipeline');
    const deadline = Date.now() + 3000;
    while (!bCreated.includes(pb.id) && Date.now() < deadline) await sleep(20);
    assert.deepEqual(bCreated, [pb.id]);
    await z.release();
    await pb.release();
  });
});

describe('default mode: the same actions succeed (Kurento behaviour)', () => {
  let srv;
  let A;
  let B;
  let raw;
  let objs;

  before(async () => {
    srv = await startServer();
    A = await connectClient(srv.url);
    B = await connectClient(srv.url);
    raw = await RpcClient.connect(srv.url);
    objs = await aObjects(A.api);
  });

  after(async () => {
    for (const c of [A, B]) if (c) c.api.close();
    if (raw) await raw.close();
    await stopClean(srv);
  });

  it("B sees, lists, touches, subscribes to and builds on A's objects", async () => {
    const { pipeline, webrtc, x, y } = objs;
    const seen = await B.api.getMediaobjectById(pipeline.id);
    assert.equal(seen.id, pipeline.id);
    const bManager = await B.api.getServerManager();
    assert.ok((await bManager.getPipelines()).map(idOf).includes(pipeline.id));
    assert.ok((await bManager.getSessions()).includes(A.instance.sessionId));
    assert.equal(await raw.invoke(pipeline.id, 'getName'), pipeline.id);
    assert.match((await raw.call('subscribe', { object: webrtc.id, type: 'IceGatheringDone' })).value, /./);
    const el = await raw.create('PassThrough', { mediaPipeline: pipeline.id });
    await raw.invoke(x.id, 'connect', { sink: y.id, mediaType: 'VIDEO' });
    await raw.release(el);
  });

  it("naming A's session id takes A's event stream over, and closeSession/release work", async () => {
    const { pipeline, x, y } = objs;
    const hijacker = await RpcClient.connect(srv.url);
    x.on('ElementConnected', () => {});
    await x.getName(); // after the subscribe on the same connection
    const res = await hijacker.call('connect', { sessionId: A.instance.sessionId });
    assert.equal(res.sessionId, A.instance.sessionId);
    // A's subscription now delivers to the hijacker's connection.
    const got = hijacker.waitEvent((v) => v.type === 'ElementConnected', 5000);
    await hijacker.invoke(x.id, 'connect', { sink: y.id, mediaType: 'AUDIO' });
    assert.equal(idOf((await got).data.source), x.id);
    await hijacker.release(pipeline.id);
    const gone = await raw.request('describe', { object: pipeline.id });
    assert.equal(gone.error && gone.error.code, 40101);
    const closed = await hijacker.request('closeSession', { sessionId: A.instance.sessionId });
    assert.equal(closed.error, undefined);
    await hijacker.close();
  });
});
