'use strict';
// 10,000 create/release cycles of a MediaPipeline (plus a PassThrough in it
// on every 10th cycle) over one WebSocket, a few cycles in flight at a time.
// The server's resident memory at the end must be within 5% of the figure
// after a 1,000-cycle warm-up. Under an ASan build (FLUO_BIN=build/asan/fluo)
// LeakSanitizer must report nothing at exit.
//
// Env: FLUO_LEAK_CYCLES (default 10000), FLUO_LEAK_WINDOW (default 8).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, RpcClient, sanitizerFindings, isAsan, sleep } = require('./lib/server');

const CYCLES = Number(process.env.FLUO_LEAK_CYCLES || 10000);
const WARMUP = Math.min(1000, Math.floor(CYCLES / 10));
const WINDOW = Number(process.env.FLUO_LEAK_WINDOW || 8);

describe('create/release cycles do not leak', () => {
  let srv;
  let c;

  before(async () => {
    srv = await startServer();
    c = await RpcClient.connect(srv.url);
    c.timeoutMs = 30000;
    await c.call('ping', { interval: 5000 });
  });

  after(async () => {
    if (c && !c.closed) await c.close();
    if (srv && srv.running) await srv.stop();
  });

  async function cycle(i) {
    const p = await c.create('MediaPipeline');
    if (i % 10 === 0) {
      const e = await c.create('PassThrough', { mediaPipeline: p });
      if (i % 20 === 0) await c.invoke(e, 'setName', { name: `leak-${i}` });
    }
    await c.release(p);
  }

  // Runs cycles [from, to) with WINDOW chains in flight.
  async function run(from, to) {
    let next = from;
    const worker = async () => {
      while (next < to) {
        const i = next++;
        await cycle(i);
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
  }

  async function settledRss() {
    // Let the server finish deferred frees (engine callbacks).
    await c.call('ping');
    await sleep(300);
    return srv.rssKb();
  }

  it(`${CYCLES} cycles: ${isAsan() ? 'no pipeline left (RSS not bounded under ASan)' : 'RSS stays within 5% of the warm-up figure'}`, async (t) => {
    const before = await c.invoke('manager_ServerManager', 'getPipelines');
    const t0 = Date.now();
    await run(0, WARMUP);
    const warmRss = await settledRss();
    const t1 = Date.now();
    await run(WARMUP, CYCLES);
    const t2 = Date.now();
    const endRss = await settledRss();
    const rate = ((CYCLES - WARMUP) / ((t2 - t1) / 1000)).toFixed(0);
    const msg =
      `cycles: ${CYCLES} (window ${WINDOW}) in ${((t2 - t0) / 1000).toFixed(1)} s, ${rate} cycles/s; ` +
      `RSS after warm-up ${warmRss} kB, at the end ${endRss} kB (${(((endRss - warmRss) / warmRss) * 100).toFixed(2)}%)`;
    t.diagnostic(msg);
    console.log(msg);

    const afterList = await c.invoke('manager_ServerManager', 'getPipelines');
    assert.deepEqual(afterList.sort(), before.sort(), 'no pipeline left behind');
    const children = await c.invoke('manager_ServerManager', 'getSessions');
    assert.ok(Array.isArray(children));

    if (isAsan()) {
      t.diagnostic('ASan build: the RSS bound is not asserted (the allocator quarantine grows RSS); LeakSanitizer is checked at exit');
    } else {
      assert.ok(endRss <= warmRss * 1.05, msg);
    }
  });

  it('server exits 0 on SIGTERM, no LeakSanitizer report', async () => {
    await c.close();
    const { code, signal, stderr, timedOut } = await srv.stop();
    assert.equal(timedOut, false);
    assert.equal(signal, null);
    assert.ok(!/LeakSanitizer/.test(stderr), `LeakSanitizer report:\n${stderr.slice(-6000)}`);
    assert.deepEqual(sanitizerFindings(stderr), []);
    assert.equal(code, 0, stderr.slice(-3000));
  });
});
