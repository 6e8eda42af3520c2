'use strict';
// Backpressure and fairness on the control port (issue 12, item 2): a
// connection with many requests waiting is paused, not cut off, and every
// request it sent is answered; connections are served round-robin in bounded
// slices, so one client's pipelined getKmd does not stall another's ping.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const kurentoClient = require('kurento-client');
const { startServer, RpcClient, httpGet, isAsan, sanitizerFindings, sleep } = require('./lib/server');
const { RawWs, frame } = require('./lib/rawws');

const ASAN = isAsan();
const CLIENT_OPTIONS = { failAfter: 5, request_timeout: ASAN ? 60000 : 15000, response_timeout: 1000, duplicates_timeout: 1000 };

function request(id, method, params) {
  const m = { jsonrpc: '2.0', id, method };
  if (params) m.params = params;
  return JSON.stringify(m);
}

async function metric(srv, name) {
  const { body } = await httpGet(srv.port, '/metrics');
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : NaN;
}

// Data messages received so far on a RawWs (frames are whole messages here).
const textFrames = (c) => c.frames.filter((f) => f.opcode === 1);

describe('control port backpressure and fairness', () => {
  let srv;

  before(async () => {
    srv = await startServer();
  });

  after(async () => {
    if (srv && srv.running) {
      const { code, stderr } = await srv.stop();
      assert.equal(code, 0, `fluo exits 0 on SIGTERM; stderr:\n${stderr.slice(-3000)}`);
      assert.deepEqual(sanitizerFindings(stderr), []);
    }
  });

  it('2,000 requests pipelined in one write are all answered, in order, on an open connection', async () => {
    const c = await RawWs.open(srv.port);
    assert.equal(c.httpStatus, 101);
    const N = 2000;
    const frames = [];
    for (let i = 0; i < N; i++) {
      let text;
      if (i % 10 === 9)
        // Answered after a 2 ms timer: requests pile up behind it.
        text = request(i, 'invoke', {
          object: 'manager_ServerManager',
          operation: 'getUsedCpu',
          operationParams: { interval: 2 },
        });
      else if (i % 2) text = request(i, 'describe', { object: 'manager_ServerManager' });
      else text = request(i, 'ping');
      frames.push(frame({ payload: text }));
    }
    const pausesBefore = await metric(srv, 'fluo_rpc_read_pauses_total');
    c.send(Buffer.concat(frames));
    await c.waitFor(() => textFrames(c).length >= N || c.tcpClosed, ASAN ? 60000 : 20000, `${N} answers`);
    assert.equal(c.tcpClosed, false, 'the connection stays open');
    const ids = textFrames(c).map((f) => JSON.parse(f.payload.toString('utf8')));
    assert.equal(ids.length, N, 'one answer per request');
    for (let i = 0; i < N; i++) {
      assert.equal(ids[i].id, i, `answer ${i} in arrival order`);
      assert.equal(ids[i].error, undefined, `request ${i} succeeded: ${JSON.stringify(ids[i].error)}`);
    }
    assert.ok(
      (await metric(srv, 'fluo_rpc_read_pauses_total')) > pausesBefore,
      'reading from the connection paused while its requests waited',
    );
    c.destroy();
  });

  it('kurento-client creates 300 WebRtcEndpoints with Promise.all without a disconnect', async () => {
    const events = [];
    const client = await new Promise((resolve, reject) => {
      const inst = kurentoClient(srv.url, CLIENT_OPTIONS, (err, api) => (err ? reject(err) : resolve(api)));
      for (const ev of ['disconnect', 'reconnecting', 'reconnected'])
        inst.on(ev, () => events.push(ev));
    });
    try {
      const pipeline = await client.create('MediaPipeline');
      const manager = await client.getServerManager();
      const t0 = Date.now();
      // A slow call first (as a processOffer can be): the creates wait behind it.
      const slow = manager.getUsedCpu(300);
      const eps = await Promise.all(Array.from({ length: 300 }, () => pipeline.create('WebRtcEndpoint')));
      assert.equal(typeof (await slow), 'number');
      const ms = Date.now() - t0;
      assert.equal(new Set(eps.map((e) => e.id)).size, 300, '300 distinct endpoints');
      assert.ok(ms < (ASAN ? 40000 : 10000), `300 creates took ${ms} ms`);
      assert.deepEqual(events, [], 'no disconnect or reconnection');
      assert.equal((await pipeline.getChildren()).length, 300);
      await pipeline.release();
      console.log(`# 300 WebRtcEndpoint creates with Promise.all: ${ms} ms`);
    } finally {
      client.close();
    }
  });

  it("another client's ping is answered promptly while one connection pipelines 500 getKmd", async () => {
    const other = await RpcClient.connect(srv.url);
    await other.call('ping'); // warm
    const heavy = await RawWs.open(srv.port);
    const N = 500;
    const reqs = [];
    for (let i = 0; i < N; i++)
      reqs.push(
        frame({
          payload: request(i, 'invoke', {
            object: 'manager_ServerManager',
            operation: 'getKmd',
            operationParams: { moduleName: 'core' },
          }),
        }),
      );
    const lat = [];
    let done = false;
    const pinger = (async () => {
      while (!done) {
        const t = process.hrtime.bigint();
        await other.call('ping');
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        await sleep(10);
      }
    })();
    const t0 = Date.now();
    heavy.send(Buffer.concat(reqs));
    await heavy.waitFor(() => textFrames(heavy).length >= N || heavy.tcpClosed, ASAN ? 120000 : 30000, `${N} getKmd answers`);
    const ms = Date.now() - t0;
    done = true;
    await pinger;
    assert.equal(heavy.tcpClosed, false, 'the pipelining connection stays open');
    assert.equal(textFrames(heavy).length, N);
    const last = JSON.parse(textFrames(heavy)[N - 1].payload.toString('utf8'));
    assert.equal(last.id, N - 1);
    const worst = Math.max(...lat);
    const limit = ASAN ? 1000 : 200;
    console.log(`# 500 getKmd in ${ms} ms; ${lat.length} pings meanwhile, worst ${worst.toFixed(1)} ms`);
    assert.ok(worst < limit, `worst ping ${worst.toFixed(1)} ms (limit ${limit} ms) during the burst`);
    assert.ok(lat.length >= 5, `pings answered during the getKmd burst (${lat.length})`);
    heavy.destroy();
    await other.close();
  });
});
