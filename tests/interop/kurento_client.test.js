'use strict';
// Acceptance test: the official npm kurento-client@7.3.0, used exactly as an
// application would, against build/fluo (or $FLUO_BIN).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const kurentoClient = require('kurento-client');
const { startServer, RpcClient, sanitizerFindings, sleep } = require('./lib/server');

// response_timeout/duplicates_timeout only size the client's caches of
// answered ids (20 s timers by default that keep Node alive after close()).
const CLIENT_OPTIONS = { failAfter: 5, request_timeout: 10000, response_timeout: 1000, duplicates_timeout: 1000 };

const idOf = (x) => (typeof x === 'string' ? x : x && x.id);

// Resolves when `emitter` emits `event` (first args array), or rejects after ms.
function once(emitter, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`'${event}' not emitted within ${ms} ms`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

// A TCP proxy in front of the server, so the test can tear the client's
// connection from outside without touching the client.
function startProxy(targetPort) {
  const pairs = new Set();
  const server = net.createServer((c) => {
    const u = net.connect(targetPort, '127.0.0.1');
    const pair = { c, u };
    pairs.add(pair);
    const kill = () => {
      c.destroy();
      u.destroy();
      pairs.delete(pair);
    };
    c.on('error', kill);
    u.on('error', kill);
    c.on('close', kill);
    u.on('close', kill);
    c.pipe(u);
    u.pipe(c);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        get connections() {
          return pairs.size;
        },
        dropAll() {
          const n = pairs.size;
          for (const { c, u } of [...pairs]) {
            c.destroy();
            u.destroy();
          }
          pairs.clear();
          return n;
        },
        close() {
          this.dropAll();
          return new Promise((r) => server.close(r));
        },
      });
    });
  });
}

// Callback form, as in Kurento's tutorials: the callback fires only after the
// strict-mode module check (describe manager_ServerManager + getInfo).
// The callback receives an "unthenable" copy of the client whose methods and
// events work but which lacks the non-enumerable `sessionId`: keep the
// instance kurentoClient() returned too (wrapped: it is a thenable).
function connectClient(url, options = {}) {
  return new Promise((resolve, reject) => {
    const instance = kurentoClient(url, { ...CLIENT_OPTIONS, ...options }, (error, c) => {
      if (error) reject(error);
      else resolve({ api: c, instance });
    });
  });
}

describe('kurento-client 7.3.0 against fluo', () => {
  let srv;
  let proxy;
  let client; // what the callback gave (the app's handle)
  let instance; // the KurentoClient object itself (sessionId, _re)
  let manager;
  let pipeline;
  let a;
  let b;
  const connectedEvents = [];
  const disconnectedEvents = [];
  const createdEvents = [];

  before(async () => {
    srv = await startServer();
    proxy = await startProxy(srv.port);
  });

  after(async () => {
    if (client) {
      try {
        client.close();
      } catch (_) {
        /* already closed */
      }
    }
    if (proxy) await proxy.close();
    if (srv && srv.running) await srv.stop();
  });

  it('connects (strict mode: describe ServerManager + getInfo module check)', async () => {
    ({ api: client, instance } = await connectClient(`ws://127.0.0.1:${proxy.port}/kurento`));
    assert.equal(typeof instance.sessionId, 'string', 'client.sessionId set from the server responses');
    assert.ok(instance.sessionId.length > 0);
    manager = await client.getServerManager();
    assert.equal(manager.id, 'manager_ServerManager');
  });

  it('ServerManager ObjectCreated event on pipeline/element creation', async () => {
    manager.on('ObjectCreated', (ev) => createdEvents.push(ev));
    // The client sends `subscribe` asynchronously, possibly after a create
    // issued right away on the client: make sure it went through first.
    await manager.getCpuCount();
    pipeline = await client.create('MediaPipeline');
    assert.match(pipeline.id, /_kurento\.MediaPipeline$/, 'pipeline id format <uuid>_kurento.MediaPipeline');
    a = await pipeline.create('PassThrough');
    b = await pipeline.create('PassThrough');
    for (const e of [a, b]) {
      assert.ok(e.id.startsWith(pipeline.id + '/'), `element id ${e.id} starts with the pipeline id + '/'`);
      assert.match(e.id, /_kurento\.PassThrough$/);
    }
    // Give the events a moment to arrive.
    const deadline = Date.now() + 3000;
    while (createdEvents.length < 3 && Date.now() < deadline) await sleep(20);
    const objs = createdEvents.map((ev) => idOf(ev.object));
    for (const id of [pipeline.id, a.id, b.id]) assert.ok(objs.includes(id), `ObjectCreated for ${id}; got ${JSON.stringify(objs)}`);
    for (const ev of createdEvents) {
      assert.equal(idOf(ev.source), 'manager_ServerManager');
      assert.equal(typeof ev.timestampMillis, 'string', 'timestampMillis is a string');
      assert.ok(Array.isArray(ev.tags));
    }
  });

  it('setName/getName, tags, creation time, parent/pipeline/children', async () => {
    assert.equal(await a.getName(), a.id, 'getName defaults to the id');
    await a.setName('alpha');
    assert.equal(await a.getName(), 'alpha');
    await pipeline.setName('fluo-interop-pipeline');
    assert.equal(await pipeline.getName(), 'fluo-interop-pipeline');

    await a.addTag('room', 'r1');
    await a.addTag('user', 'u1');
    assert.equal(await a.getTag('room'), 'r1');
    const tags = await a.getTags();
    assert.ok(Array.isArray(tags));
    const plain = tags.map((t) => ({ key: t.key, value: t.value }));
    assert.deepEqual(
      plain.sort((x, y) => x.key.localeCompare(y.key)),
      [
        { key: 'room', value: 'r1' },
        { key: 'user', value: 'u1' },
      ],
    );
    await a.removeTag('user');
    assert.deepEqual(
      (await a.getTags()).map((t) => ({ key: t.key, value: t.value })),
      [{ key: 'room', value: 'r1' }],
    );
    // (getTag of a missing key -> 40110 is checked in bad_input.test.js: this
    // client version logs that error and resolves undefined.)

    assert.equal(await a.getSendTagsInEvents(), false);
    await a.setSendTagsInEvents(true);
    assert.equal(await a.getSendTagsInEvents(), true);

    const ct = await a.getCreationTime();
    assert.equal(typeof ct, 'number');
    const now = Date.now() / 1000;
    assert.ok(Math.abs(now - ct) < 120, `getCreationTime ${ct} is seconds since the epoch (now ${now})`);

    assert.equal(idOf(await a.getMediaPipeline()), pipeline.id);
    assert.equal(idOf(await a.getParent()), pipeline.id);
    const children = (await pipeline.getChildren()).map(idOf).sort();
    assert.deepEqual(children, [a.id, b.id].sort());
  });

  it('a.connect(b): ElementConnected event, source/sink connections', async () => {
    a.on('ElementConnected', (ev) => connectedEvents.push(ev));
    a.on('ElementDisconnected', (ev) => disconnectedEvents.push(ev));
    await a.connect(b);

    const deadline = Date.now() + 3000;
    while (connectedEvents.length < 3 && Date.now() < deadline) await sleep(20);
    // connect(sink) without a mediaType connects AUDIO, VIDEO and DATA; KMS
    // raises one ElementConnected per media type on the source element.
    const types = connectedEvents.map((ev) => ev.mediaType).sort();
    assert.deepEqual(types, ['AUDIO', 'DATA', 'VIDEO'], `ElementConnected events: ${JSON.stringify(connectedEvents)}`);
    for (const ev of connectedEvents) {
      assert.equal(idOf(ev.sink), b.id, 'event.sink is the sink element');
      assert.equal(idOf(ev.source), a.id, 'event.source is the subscribed (source) element');
      assert.equal(ev.type, 'ElementConnected');
      assert.equal(typeof ev.sourceMediaDescription, 'string');
      assert.equal(typeof ev.sinkMediaDescription, 'string');
      assert.equal(ev.sourceMediaDescription, 'default');
      assert.equal(ev.sinkMediaDescription, 'default');
      assert.equal(typeof ev.timestampMillis, 'string');
      assert.match(ev.timestampMillis, /^\d{12,}$/);
      // setSendTagsInEvents(true) was set on a: its tags travel in the event.
      assert.deepEqual(
        ev.tags.map((t) => ({ key: t.key, value: t.value })),
        [{ key: 'room', value: 'r1' }],
      );
    }

    const sinks = await a.getSinkConnections();
    const sources = await b.getSourceConnections();
    for (const [name, list] of [
      ['a.getSinkConnections()', sinks],
      ['b.getSourceConnections()', sources],
    ]) {
      assert.ok(Array.isArray(list), name);
      assert.deepEqual(list.map((c) => c.type).sort(), ['AUDIO', 'DATA', 'VIDEO'], `${name}: ${JSON.stringify(list)}`);
      for (const c of list) {
        assert.equal(idOf(c.source), a.id, `${name} source`);
        assert.equal(idOf(c.sink), b.id, `${name} sink`);
        assert.equal(c.sourceDescription, 'default');
        assert.equal(c.sinkDescription, 'default');
      }
    }
    assert.deepEqual(await a.getSourceConnections(), []);
    assert.deepEqual(await b.getSinkConnections(), []);
    // Filter by media type.
    const v = await b.getSourceConnections('VIDEO');
    assert.equal(v.length, 1);
    assert.equal(v[0].type, 'VIDEO');
    assert.equal(idOf(v[0].source), a.id);
  });

  it('disconnect one media type, reconnect it', async () => {
    const before = disconnectedEvents.length;
    await a.disconnect(b, 'AUDIO');
    const deadline = Date.now() + 3000;
    while (disconnectedEvents.length === before && Date.now() < deadline) await sleep(20);
    assert.equal(disconnectedEvents.length, before + 1, 'one ElementDisconnected event');
    const ev = disconnectedEvents[disconnectedEvents.length - 1];
    assert.equal(ev.mediaType, 'AUDIO');
    assert.equal(idOf(ev.sink), b.id);
    assert.deepEqual((await b.getSourceConnections()).map((c) => c.type).sort(), ['DATA', 'VIDEO']);
    await a.connect(b, 'AUDIO');
    assert.deepEqual((await b.getSourceConnections()).map((c) => c.type).sort(), ['AUDIO', 'DATA', 'VIDEO']);
  });

  it('ServerManager: getInfo, getPipelines, getSessions, getKmd, getCpuCount, getUsedMemory, getUsedCpu', async () => {
    const info = await manager.getInfo();
    assert.equal(typeof info.version, 'string');
    assert.ok(info.version.length > 0);
    const modules = info.modules.map((m) => m.name);
    for (const m of ['core', 'elements', 'filters']) assert.ok(modules.includes(m), `module ${m} in ${modules}`);
    const core = info.modules.find((m) => m.name === 'core');
    assert.ok(Array.isArray(core.factories));
    assert.ok(core.factories.includes('MediaPipeline') && core.factories.includes('PassThrough'), `core factories ${core.factories}`);
    assert.ok(Array.isArray(info.capabilities));
    assert.ok(info.capabilities.includes('transactions'));

    const pipelines = (await manager.getPipelines()).map(idOf);
    assert.ok(pipelines.includes(pipeline.id), `getPipelines ${JSON.stringify(pipelines)} contains ${pipeline.id}`);

    const sessions = await manager.getSessions();
    assert.ok(Array.isArray(sessions) && sessions.length > 0, `getSessions: ${JSON.stringify(sessions)}`);
    assert.ok(sessions.includes(instance.sessionId), 'getSessions contains our session');

    const kmd = JSON.parse(await manager.getKmd('core'));
    assert.equal(kmd.name, 'core');
    assert.ok(Array.isArray(kmd.remoteClasses));
    const kmdEl = JSON.parse(await manager.getKmd('elements'));
    assert.equal(kmdEl.name, 'elements');

    const cpus = await manager.getCpuCount();
    assert.ok(Number.isInteger(cpus) && cpus > 0, `getCpuCount ${cpus}`);
    const mem = await manager.getUsedMemory();
    assert.ok(typeof mem === 'number' && mem > 0, `getUsedMemory ${mem}`);
    const cpu = await manager.getUsedCpu(100);
    assert.ok(typeof cpu === 'number' && cpu >= 0, `getUsedCpu ${cpu}`);
  });

  it('getGstreamerDot returns a digraph naming the elements', async () => {
    const dot = await pipeline.getGstreamerDot();
    assert.equal(typeof dot, 'string');
    assert.match(dot, /^\s*digraph\b/);
    assert.ok(dot.includes('alpha') || dot.includes(a.id), 'dot mentions element a (name alpha or its id)');
    assert.ok(dot.includes(b.id) || dot.includes(b.id.split('/').pop()), 'dot mentions element b');
    const edot = await a.getGstreamerDot();
    assert.match(edot, /^\s*digraph\b/);
  });

  it('pads per element are capped: a connect naming one description too many -> 40004, the element still works', async () => {
    const x = await pipeline.create('PassThrough');
    const y = await pipeline.create('PassThrough');
    const connect = (desc) =>
      new Promise((resolve, reject) => x.connect(y, 'VIDEO', desc, 'default', (err) => (err ? reject(err) : resolve())));
    // three default pairs (audio, video, data) exist; each new description adds one
    let made = 0;
    let refused = null;
    for (let i = 0; i < 70 && !refused; i++) {
      try {
        await connect(`d${i}`);
        made++;
      } catch (e) {
        refused = e;
      }
    }
    assert.equal(made, 61, 'descriptions accepted before the cap');
    assert.ok(refused, 'a connect past the cap is refused');
    assert.equal(refused.code, 40004, JSON.stringify(refused));
    assert.match(refused.message, /Too many media descriptions.*at most 64/);
    await connect('d0'); // an existing description still connects
    await x.connect(y); // and so do the default pads
    assert.equal(typeof (await manager.getInfo()).version, 'string', 'the server still answers');
    await x.release();
    await y.release();
  });

  it('BaseRtpEndpoint rembParams: rembOnConnect, upLosses, decrementFactor taken; the others refused', async () => {
    const ep = await pipeline.create('WebRtcEndpoint');
    const RembParams = kurentoClient.getComplexType('RembParams');
    const call = (method, ...args) =>
      new Promise((resolve, reject) => ep[method](...args, (err, v) => (err ? reject(err) : resolve(v))));
    const before = await call('getRembParams');
    assert.equal(before.upLosses, 26, `default loss threshold: ${JSON.stringify(before)}`);
    await call('setRembParams', RembParams({ rembOnConnect: 500000, upLosses: 20, decrementFactor: 0.7 }));
    const after = await call('getRembParams');
    assert.equal(after.rembOnConnect, 500000);
    assert.equal(after.upLosses, 20);
    assert.equal(after.decrementFactor, 0.7);
    await assert.rejects(call('setRembParams', RembParams({ exponentialFactor: 0.1 })), (e) => {
      assert.equal(e.code, 40107, JSON.stringify(e));
      assert.match(e.message, /rembOnConnect, upLosses and decrementFactor only/);
      return true;
    });
    await assert.rejects(call('setRembParams', RembParams({ upLosses: 300 })), (e) => e.code === 40107);
    assert.equal((await call('getRembParams')).upLosses, 20, 'a refused set changes nothing');
    await ep.release();
  });

  it('PlayerEndpoint: uri and state; a missing file raises an Error event naming it', async () => {
    const own = await client.create('MediaPipeline');
    const player = await own.create('PlayerEndpoint', { uri: 'file:///tmp/fluo-none-here.webm' });
    assert.equal(await player.getUri(), 'file:///tmp/fluo-none-here.webm');
    assert.equal(await player.getState(), 'STOP');
    const errors = [];
    await player.on('Error', (e) => errors.push(e));
    await player.play();
    const deadline = Date.now() + 5000;
    while (!errors.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(errors.length, 1);
    assert.equal(errors[0].type, 'URI_NOT_FOUND');
    assert.match(errors[0].description, /fluo-none-here\.webm: no such file/);
    assert.equal(await player.getState(), 'STOP');
    await player.release();
    // the client unsubscribes in the background on release: a request sent
    // after it is answered after it, so nothing is in flight afterwards
    await own.getName();
    await own.release();
  });

  it('dropped WebSocket: client reconnects to the SAME session; objects and events still work', async () => {
    const sessionBefore = instance.sessionId;
    const reconnected = once(instance, 'reconnected', 15000);
    const dropped = proxy.dropAll();
    assert.ok(dropped >= 1, 'the client had a connection through the proxy');
    const [sameSession] = await reconnected;
    assert.equal(sameSession, true, "'reconnected' reports the same session (connect {sessionId} succeeded)");
    assert.equal(instance.sessionId, sessionBefore);
    // Objects still work.
    assert.equal(await pipeline.getName(), 'fluo-interop-pipeline');
    assert.equal(await a.getName(), 'alpha');
    // Events follow the session to the new connection.
    const before = disconnectedEvents.length;
    await a.disconnect(b, 'VIDEO');
    const deadline = Date.now() + 3000;
    while (disconnectedEvents.length === before && Date.now() < deadline) await sleep(20);
    assert.equal(disconnectedEvents.length, before + 1, 'ElementDisconnected delivered on the new connection');
    assert.equal(disconnectedEvents[disconnectedEvents.length - 1].mediaType, 'VIDEO');
  });

  it('release the pipeline: gone from getPipelines, invoking it -> 40101', async () => {
    const id = pipeline.id;
    const aid = a.id;
    const bid = b.id;
    const destroyed = [];
    manager.on('ObjectDestroyed', (ev) => destroyed.push(ev));
    await manager.getCpuCount(); // the subscribe went through
    await pipeline.release();
    const deadline = Date.now() + 3000;
    while (destroyed.length < 3 && Date.now() < deadline) await sleep(20);
    const gone = destroyed.map((ev) => ev.objectId).sort();
    assert.deepEqual(gone, [id, aid, bid].sort(), `ObjectDestroyed for the pipeline and its children: ${JSON.stringify(destroyed)}`);
    for (const ev of destroyed) assert.equal(idOf(ev.source), 'manager_ServerManager');
    const pipelines = (await manager.getPipelines()).map(idOf);
    assert.ok(!pipelines.includes(id), `getPipelines ${JSON.stringify(pipelines)} no longer lists ${id}`);
    // From a raw client (the JS client purges its cache on release).
    const raw = await RpcClient.connect(srv.url);
    try {
      for (const obj of [id, aid]) {
        const res = await raw.request('invoke', { object: obj, operation: 'getName' });
        assert.ok(res.error, `invoke on a released object ${obj} fails: ${res.__raw}`);
        assert.equal(res.error.code, 40101);
        assert.equal(res.error.message, `Object '${obj}' not found`);
        assert.equal(res.error.data.type, 'MEDIA_OBJECT_NOT_FOUND');
      }
    } finally {
      await raw.close();
    }
    // And through the client: getMediaobjectById -> describe -> ReferenceError.
    await assert.rejects(client.getMediaobjectById(id), (e) => e.code === 40101 && e instanceof ReferenceError);
  });

  it('promise form (await kurentoClient(url)) works too', async () => {
    const c2 = await kurentoClient(srv.url, { ...CLIENT_OPTIONS, failAfter: 3 });
    try {
      const p = await c2.create('MediaPipeline');
      assert.match(p.id, /_kurento\.MediaPipeline$/);
      const e = await p.create('kurento.PassThrough'); // module-qualified type name
      assert.match(e.id, /_kurento\.PassThrough$/);
      await p.release();
    } finally {
      c2.close();
    }
  });

  it('server exits 0 on SIGTERM with no sanitizer report', async () => {
    client.close();
    client = null;
    await sleep(100);
    const { code, signal, stderr, timedOut } = await srv.stop();
    assert.equal(timedOut, false, 'server stopped within the timeout');
    assert.equal(signal, null, `exit signal ${signal}`);
    assert.equal(code, 0, `exit code; stderr tail:\n${stderr.slice(-3000)}`);
    assert.deepEqual(sanitizerFindings(stderr), []);
  });
});

describe('sessions and garbage collection (raw JSON-RPC, --gc-period 1)', () => {
  let srv;

  before(async () => {
    srv = await startServer({ args: ['--gc-period', '1'] });
  });

  after(async () => {
    if (srv && srv.running) await srv.stop();
  });

  it('objects of a session whose socket closed are released after the gc period', async () => {
    const keeper = await RpcClient.connect(srv.url);
    const kept = await keeper.create('MediaPipeline');

    const c = await RpcClient.connect(srv.url);
    const r = await c.call('create', { type: 'MediaPipeline', properties: {} });
    const doomed = r.value;
    assert.equal(typeof r.sessionId, 'string');
    const list1 = await keeper.invoke('manager_ServerManager', 'getPipelines');
    assert.ok(list1.includes(doomed) && list1.includes(kept));
    await c.close();

    await sleep(3200); // gc period 1 s: released after 1..2 s
    const list2 = await keeper.invoke('manager_ServerManager', 'getPipelines');
    assert.ok(!list2.includes(doomed), `pipeline of the closed session released: getPipelines = ${JSON.stringify(list2)}`);
    assert.ok(list2.includes(kept), 'pipeline of a session with an open socket survives the gc');
    const res = await keeper.request('invoke', { object: doomed, operation: 'getName' });
    assert.equal(res.error && res.error.code, 40101);
    await keeper.release(kept);
    await keeper.close();
  });

  it('a session re-attached with connect {sessionId} on a new socket keeps its objects', async () => {
    const c = await RpcClient.connect(srv.url);
    const r = await c.call('create', { type: 'MediaPipeline', properties: {} });
    const pid = r.value;
    const sid = r.sessionId;
    await c.close();

    const c2 = await RpcClient.connect(srv.url);
    await c2.call('ping', { interval: 5000 });
    const cr = await c2.call('connect', { sessionId: sid });
    assert.equal(cr.sessionId, sid);
    assert.equal(typeof cr.serverId, 'string');
    await sleep(3200);
    // ping without params gets the associated session injected.
    const pong = await c2.call('ping');
    assert.equal(pong.value, 'pong');
    assert.equal(pong.sessionId, sid, 'ping without params gets the connection session injected');
    assert.equal(await c2.invoke(pid, 'getName'), pid, 'the pipeline survived: its session has an open socket');
    await c2.release(pid);
    await c2.close();
  });

  it('connect without params gives a new session and the serverId', async () => {
    const c = await RpcClient.connect(srv.url);
    const r1 = await c.call('connect');
    const c2 = await RpcClient.connect(srv.url);
    const r2 = await c2.call('connect');
    assert.match(r1.sessionId, /^[0-9a-f-]{36}$/i);
    assert.notEqual(r1.sessionId, r2.sessionId);
    assert.equal(r1.serverId, r2.serverId, 'serverId is per process');
    await c.close();
    await c2.close();
  });

  it('connect {sessionId} for an unknown session -> 40007 Invalid session', async () => {
    const c = await RpcClient.connect(srv.url);
    const res = await c.request('connect', { sessionId: '0235eac1-6ca1-4599-bdf7-5f6c867a80db' });
    assert.deepEqual(res.error, { code: 40007, message: 'Invalid session', data: { type: 'INVALID_SESSION' } }, res.__raw);
    assert.equal(res.result, undefined);
    assert.equal(res.jsonrpc, '2.0');
    // The connection is still usable.
    assert.equal((await c.call('ping')).value, 'pong');
    await c.close();
  });

  it('create GStreamerFilter -> 40111 MEDIA_OBJECT_OPERATION_NOT_SUPPORTED (no GStreamer); create Nope -> 40108', async () => {
    const c = await RpcClient.connect(srv.url);
    const p = await c.create('MediaPipeline');
    for (const type of ['GStreamerFilter', 'kurento.GStreamerFilter']) {
      const cp = { mediaPipeline: p, command: 'videoflip method=1' };
      const res = await c.request('create', { type, constructorParams: cp, properties: {} });
      assert.ok(res.error, `${type}: ${res.__raw}`);
      assert.equal(res.error.code, 40111, `${type}: ${res.__raw}`);
      assert.equal(res.error.data.type, 'MEDIA_OBJECT_OPERATION_NOT_SUPPORTED');
      assert.match(res.error.message, /fluo has no GStreamer/);
    }
    const res = await c.request('create', { type: 'Nope', properties: {} });
    assert.deepEqual(
      res.error,
      { code: 40108, message: "Factory 'Nope' not found", data: { type: 'MEDIA_OBJECT_NOT_AVAILABLE' } },
      res.__raw,
    );
    await c.release(p);
    await c.close();
  });

  it('server exits 0 on SIGTERM', async () => {
    const { code, stderr } = await srv.stop();
    assert.equal(code, 0, stderr.slice(-3000));
    assert.deepEqual(sanitizerFindings(stderr), []);
  });
});
