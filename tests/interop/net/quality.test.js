'use strict';
// Congestion control, NACK/RTX and freezes over a real network: one
// presenter browser (namespace pub: sendonly, VP8, a busy 640x480 camera
// clip that wants VP8's 1.7 Mbit/s, degradationPreference
// 'maintain-resolution') through fluo (namespace srv, where this test runs:
// one2many's calls, presenter WebRtcEndpoint connected to each viewer's) to
// viewer browsers (v1, v2), with impairments in the router namespace
// (lib/netlab.js: tbf rate limits, iptables random loss). Run through the
// launcher, as root:
//
//     tests/interop/net/run.sh quality.test.js      # builds the namespaces
//     FLUO_NET_DIRECT=1 tests/interop/net/run.sh quality.test.js
//                          # the same impairments on a direct browser-to-
//                          # browser call (no fluo): the reference
//     FLUO_NET_ONLY=rate,slow,loss (a subset), FLUO_NET_OUT=file.json (where
//     the figures go), FLUO_BIN (the server, as in lib/server.js)
//
// Scenarios (the figures asked of the server's congestion control and
// repair):
//   rate: 10 s clean, then tbf 500 kbit/s on the presenter's uplink for 20 s,
//     then 15 s clean. The presenter's availableOutgoingBitrate < 500 kbit/s
//     within 2 s, its video send rate < 500 kbit/s within 3 s; the viewer
//     loses < 10 % of the packets over the 20 s and never freezes > 1 s after
//     the first 3 s; once lifted, the estimate at least doubles within 20 s
//     and fluo's REMB stays above 1.5 Mbit/s (the time to 1.5 Mbit/s is printed).
//   slow: two viewers, v2 behind a 300 kbit/s tbf on its downlink (after 8 s
//     clean, for 20 s): the presenter's send rate < 400 kbit/s within 10 s,
//     v2 keeps decoding: no freeze over 2 s is still on 4 s after the cap
//     (what the full link lost at first is given up on after 1 s, and fluo
//     asks for the key frame v2 waits on: Chromium would ask only after 3 s
//     without a frame); and fluo resends v2 fewer packets than it sends
//     (resends go in what v2's estimate leaves: more would fill its link
//     further). v2's estimate may settle anywhere from 80 to 200 kbit/s, and
//     the presenter follows it: at the low end v2 decodes about one frame
//     a second.
//   loss: 1 % then 5 % random loss on the viewer's downlink, then on the
//     presenter's uplink, 30 s each: viewer framesPerSecond median >= 25 and
//     at most one freeze per period, presenter keeps 640 wide, viewer
//     nackCount and retransmitted packets (the viewer's received, or the
//     presenter's sent) both grow, and with loss upstream the presenter's
//     nackCount grows (fluo NACKs it).
// Freezes: framesDecoded unchanged for more than 1 s in the page's samples
// (every 250 ms), and Chromium's own freezeCount. Frame rates: frames
// decoded in each second (Chromium's framesPerSecond is left out of the
// stats while nothing decodes, so its median would skip the freezes). Figures go to
// t.diagnostic and build/net_quality.json (build/net_quality_direct.json
// with FLUO_NET_DIRECT=1).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { labFromEnv } = require('../lib/netlab');
const q = require('../lib/quality');

const lab = labFromEnv();
const DIRECT = process.env.FLUO_NET_DIRECT === '1';
const MODE = DIRECT ? 'direct' : 'fluo';
const ONLY = process.env.FLUO_NET_ONLY ? process.env.FLUO_NET_ONLY.split(',') : null;
const OUT = process.env.FLUO_NET_OUT
  ? path.resolve(process.env.FLUO_NET_OUT)
  : path.join(q.CLIP, '..', DIRECT ? 'net_quality_direct.json' : 'net_quality.json');
const skipAll = !lab && 'needs the network lab: run tests/interop/net/run.sh quality.test.js (as root)';
const want = (name) => !ONLY || ONLY.includes(name);
const g = q.getters;

const results = { mode: MODE, date: new Date().toISOString(), fluoBin: null, chromium: null, scenarios: {} };
function save(name, r) {
  results.scenarios[name] = r;
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(results, null, 1));
}

const ctx = { srv: null, client: null };
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toFixed(d));
const ms = (x) => (x === null || x === undefined ? 'never' : `${x} ms`);
const series = (xs, f = (x) => fmt(x)) => xs.map(f).join(' ');

// Opens a session for `viewers`, waits for media, samples from then on;
// run(sess, mark) does the timed part. Returns { sess, data, marks }.
async function scenario(t, viewers, run) {
  const sess = await q.openSession({ lab, mode: MODE, client: ctx.client, viewers });
  try {
    await sess.waitFlowing();
    results.chromium = sess.chromium;
    await sess.startSampling(250);
    const marks = { t0: sess.t0 };
    const fluo = [];
    const mark = async (name) => {
      marks[name] = Date.now();
      const f = await sess.fluoStats();
      if (f) fluo.push({ at: name, ...f });
    };
    await run(sess, mark);
    const data = await sess.collect();
    const degradation = {};
    for (const p of sess.presenters) degradation[p.name] = sess[`degradation:${p.name}`];
    const features = {};
    for (const [k, s] of Object.entries(sess.sdp)) features[k] = q.videoFeatures(s);
    return { sess, data, marks, fluo, degradation, features };
  } finally {
    lab.clearAll();
    await sess.close();
  }
}

const presenterFor = (viewer) => (DIRECT ? `presenter-${viewer}` : 'presenter');

// Per-second series from t0 for n seconds: send kbit/s, estimate kbit/s,
// frames decoded per viewer.
function perSecondSeries(data, t0, n, viewers, pname) {
  const p = data[pname];
  const r = {
    sendKbps: q.perSecond(p, g.sendBytes, t0, n, 8).map(q.kbps),
    estimateKbps: Array.from({ length: n }, (_, k) => {
      const s = q.at(p, g.aob, t0 + (k + 1) * 1000);
      return s ? q.kbps(g.aob(s)) : null;
    }),
  };
  for (const v of viewers) r[`${v}Frames`] = q.framesPerSecondBuckets(data[v], t0, n);
  return r;
}

// Loss seen by a viewer over [from, to]: lost / (lost + received), in %.
function viewerLoss(v, from, to) {
  const lost = q.delta(v, g.packetsLost, from, to);
  const recv = q.delta(v, g.packetsReceived, from, to);
  if (lost === null || recv === null) return { pct: null, lost, recv };
  const l = Math.max(0, lost);
  return { pct: l + recv > 0 ? (100 * l) / (l + recv) : 0, lost, recv };
}

function fluoDelta(fluo, from, to, who, type, key) {
  const a = fluo.find((f) => f.at === from);
  const b = fluo.find((f) => f.at === to);
  const va = a && a[who] && a[who][type] && a[who][type][key];
  const vb = b && b[who] && b[who][type] && b[who][type][key];
  return typeof va === 'number' && typeof vb === 'number' ? vb - va : null;
}

describe(`media quality over a real network (${MODE})`, { skip: skipAll, timeout: 420000 }, () => {
  before(async () => {
    q.ensureClip();
    if (DIRECT) return;
    await q.startFluo(ctx, results);
  });

  after(async () => {
    await q.stopFluo(ctx);
  });

  // ---------------------------------------------------------------------
  describe('rate: 500 kbit/s on the presenter uplink for 20 s', { skip: !want('rate') }, () => {
    let r = null;
    const CAP = 500e3;
    it('measure', { timeout: 120000 }, async (t) => {
      const pname = presenterFor('v1');
      let tbf = null;
      let census = null;
      const run = await scenario(t, ['v1'], async (sess, mark) => {
        // what goes over the wire, during the clean part
        await q.sleep(3000);
        census = await q.rtpCensus(lab, 5);
        await q.sleep(Math.max(0, sess.t0 + 10000 - Date.now()));
        lab.rate('pub:up', '500kbit', { burst: '10kb', latency: '200ms' });
        await mark('capOn');
        await q.sleep(20000);
        tbf = lab.rateStats('pub:up');
        lab.liftRate('pub:up');
        await mark('capOff');
        await q.sleep(20000);
        await mark('end');
      });
      const { data, marks } = run;
      const p = data[pname];
      const v = data.v1;
      const { t0, capOn, capOff, end } = marks;
      const aob = q.gauge(p, g.aob);
      const send = q.slidingRate(p, g.sendBytes, 1000);
      const cleanSend = q.rateBetween(p, g.sendBytes, capOn - 5000, capOn);
      const capFreezes = q.freezes(v, capOn + 3000, capOff);
      const loss = viewerLoss(v, capOn, capOff);
      r = {
        clean: {
          sendKbps: q.kbps(cleanSend),
          estimateKbps: q.kbps(q.median(q.inRange(p, g.aob, capOn - 5000, capOn).map(g.aob))),
          viewerFps: q.fpsMedian(v, capOn - 5000, capOn),
          width: g.outWidth(q.at(p, g.outWidth, capOn)),
        },
        cap: {
          estimateBelowMs: q.firstAfter(aob, capOn, (x) => x < CAP, capOff),
          sendBelowMs: q.firstAfter(send, capOn, (x) => x < CAP, capOff),
          sendKbpsLast10s: q.kbps(q.rateBetween(p, g.sendBytes, capOff - 10000, capOff)),
          estimateKbpsMedian: q.kbps(q.median(q.inRange(p, g.aob, capOn, capOff).map(g.aob))),
          viewerLossPct: loss.pct,
          viewerLost: loss.lost,
          viewerReceived: loss.recv,
          freezesAfter3s: capFreezes,
          chromeFreezes: q.delta(v, g.freezeCount, capOn, capOff),
          chromeFreezeSeconds: q.delta(v, g.freezeSeconds, capOn, capOff),
          viewerFpsMedian: q.fpsMedian(v, capOn, capOff),
          widths: q.countBy(q.inRange(p, g.outWidth, capOn, capOff).map(g.outWidth)),
          qualityLimitation: q.countBy(q.inRange(p, g.qlr, capOn, capOff).map(g.qlr)),
          presenterNacks: q.delta(p, g.outNack, capOn, capOff),
          presenterRtx: q.delta(p, g.outRtx, capOn, capOff),
          viewerNacks: q.delta(v, g.inNack, capOn, capOff),
          presenterPlis: q.delta(p, g.outPli, capOn, capOff),
          tbf,
        },
        recovery: {
          estimateAboveMs: q.firstAfter(aob, capOff, (x) => x > 1.5e6, end),
          estimateAtLiftKbps: q.kbps(q.median(q.inRange(p, g.aob, capOff - 2000, capOff).map(g.aob))),
          estimateAtEndKbps: q.kbps(q.median(q.inRange(p, g.aob, end - 2000, end).map(g.aob))),
          sendKbpsLast5s: q.kbps(q.rateBetween(p, g.sendBytes, end - 5000, end)),
          viewerFpsMedian: q.fpsMedian(v, capOff, end),
        },
        perSecond: perSecondSeries(data, t0, Math.floor((end - t0) / 1000), ['v1'], pname),
        capOnAtS: (capOn - t0) / 1000,
        capOffAtS: (capOff - t0) / 1000,
        degradation: run.degradation,
        features: run.features,
        census,
        fluo: run.fluo,
      };
      save('rate', r);
      const c = r.cap;
      t.diagnostic(`clean: send ${r.clean.sendKbps} kbit/s, estimate ${r.clean.estimateKbps} kbit/s, viewer ${fmt(r.clean.viewerFps)} fps, ${r.clean.width} wide; degradation ${JSON.stringify(run.degradation)}`);
      t.diagnostic(`cap: estimate < 500 kbit/s after ${ms(c.estimateBelowMs)}, send < 500 kbit/s after ${ms(c.sendBelowMs)}; send ${c.sendKbpsLast10s} kbit/s over the last 10 s, estimate median ${c.estimateKbpsMedian} kbit/s`);
      t.diagnostic(`cap: viewer loss ${fmt(c.viewerLossPct, 1)} % (${c.viewerLost} of ${c.viewerLost + c.viewerReceived}), fps median ${fmt(c.viewerFpsMedian)}, freezes > 1 s after 3 s: ${JSON.stringify(c.freezesAfter3s)}, Chromium freezeCount +${c.chromeFreezes} (${fmt(c.chromeFreezeSeconds, 1)} s)`);
      t.diagnostic(`cap: presenter widths ${JSON.stringify(c.widths)}, limitation ${JSON.stringify(c.qualityLimitation)}, NACKs at presenter +${c.presenterNacks}, RTX sent +${c.presenterRtx}, PLIs +${c.presenterPlis}, viewer NACKs +${c.viewerNacks}; tbf ${JSON.stringify(c.tbf)}`);
      t.diagnostic(`recovery: estimate ${r.recovery.estimateAtLiftKbps} kbit/s at the lift, ${r.recovery.estimateAtEndKbps} kbit/s 20 s later, > 1.5 Mbit/s after ${ms(r.recovery.estimateAboveMs)}, send ${r.recovery.sendKbpsLast5s} kbit/s over the last 5 s, viewer fps median ${fmt(r.recovery.viewerFpsMedian)}`);
      t.diagnostic(`per second (cap from ${fmt(r.capOnAtS, 1)} s to ${fmt(r.capOffAtS, 1)} s): send kbit/s ${series(r.perSecond.sendKbps)}`);
      t.diagnostic(`per second: estimate kbit/s ${series(r.perSecond.estimateKbps)}`);
      t.diagnostic(`per second: v1 frames ${series(r.perSecond.v1Frames)}`);
      for (const [k, f] of Object.entries(run.features)) t.diagnostic(`SDP ${k} (video): extmap ${JSON.stringify(f && f.ext)}, rtcp-fb ${JSON.stringify(f && f.fb)}`);
      t.diagnostic(`on the wire over 5 s of the clean part: ${JSON.stringify(census)}`);
      if (!DIRECT) t.diagnostic(`fluo stats: ${JSON.stringify(run.fluo.map((f) => ({ at: f.at, presenter: f.presenter, v1: f.v1 })))}`);
    });
    it('the presenter sends 1.4-2.0 Mbit/s on the clean link', () => {
      assert.ok(r, 'not measured');
      assert.ok(r.clean.sendKbps >= 1400 && r.clean.sendKbps <= 2000, `clean send rate ${r.clean.sendKbps} kbit/s`);
    });
    it('availableOutgoingBitrate < 500 kbit/s within 2 s of the cap', () => {
      assert.ok(r, 'not measured');
      assert.ok(r.cap.estimateBelowMs !== null && r.cap.estimateBelowMs <= 2000, `after ${ms(r.cap.estimateBelowMs)}`);
    });
    it('send rate < 500 kbit/s within 3 s of the cap', () => {
      assert.ok(r, 'not measured');
      assert.ok(r.cap.sendBelowMs !== null && r.cap.sendBelowMs <= 3000, `after ${ms(r.cap.sendBelowMs)}`);
    });
    it('the viewer loses < 10 % of the packets over the 20 s', () => {
      assert.ok(r, 'not measured');
      assert.ok(r.cap.viewerLossPct !== null && r.cap.viewerLossPct < 10, `loss ${fmt(r.cap.viewerLossPct, 1)} %`);
    });
    it('the viewer does not freeze > 1 s after the first 3 s of the cap', () => {
      assert.ok(r, 'not measured');
      assert.deepEqual(r.cap.freezesAfter3s, []);
    });
    // Back above 1.5 Mbit/s within 10 s of the lift is beyond Chromium's own
    // estimator: it grows at most 8 %/s (GCC's multiplicative increase), so
    // from under 500 kbit/s it needs about 15 s, and the direct call (no
    // server) took 11 s to over 15 s. What the server owes it: never holding
    // it back (fluo's REMB stays above 1.5 Mbit/s) and feedback on which it
    // climbs as a direct call does: at least doubling in the 20 s.
    it('after the lift the estimate climbs (x2 within 20 s) and fluo\'s REMB does not hold it', () => {
      assert.ok(r, 'not measured');
      const rc = r.recovery;
      assert.ok(rc.estimateAtLiftKbps && rc.estimateAtEndKbps >= 2 * rc.estimateAtLiftKbps,
        `estimate ${rc.estimateAtLiftKbps} -> ${rc.estimateAtEndKbps} kbit/s; > 1.5 Mbit/s after ${ms(rc.estimateAboveMs)}`);
      if (!DIRECT) {
        const endStats = r.fluo.find((f) => f.at === 'end');
        const remb = endStats && endStats.presenter && endStats.presenter.inboundrtp && endStats.presenter.inboundrtp.remb;
        assert.ok(remb >= 1.5e6, `fluo's REMB to the presenter at the end: ${remb}`);
      }
    });
  });

  // ---------------------------------------------------------------------
  describe('slow: v2 behind 300 kbit/s on its downlink', { skip: !want('slow') }, () => {
    let r = null;
    it('measure', { timeout: 120000 }, async (t) => {
      const pname = presenterFor('v2');
      let tbf = null;
      const run = await scenario(t, ['v1', 'v2'], async (sess, mark) => {
        await q.sleep(8000);
        lab.rate('v2:down', '300kbit', { burst: '10kb', latency: '200ms' });
        await mark('capOn');
        await q.sleep(20000);
        tbf = lab.rateStats('v2:down');
        lab.liftRate('v2:down');
        await mark('capOff');
      });
      const { data, marks } = run;
      const p = data[pname];
      const { t0, capOn, capOff } = marks;
      const send = q.slidingRate(p, g.sendBytes, 1000);
      const v2Frames = q.framesPerSecondBuckets(data.v2, capOn + 4000, Math.floor((capOff - capOn - 4000) / 1000));
      const loss2 = viewerLoss(data.v2, capOn, capOff);
      r = {
        cleanSendKbps: q.kbps(q.rateBetween(p, g.sendBytes, capOn - 5000, capOn)),
        sendBelow400Ms: q.firstAfter(send, capOn, (x) => x < 400e3, capOff),
        sendKbpsLast10s: q.kbps(q.rateBetween(p, g.sendBytes, capOff - 10000, capOff)),
        estimateKbpsMedian: q.kbps(q.median(q.inRange(p, g.aob, capOn, capOff).map(g.aob))),
        v2FramesPerSecondAfter4s: v2Frames,
        v2FpsMedian: q.fpsMedian(data.v2, capOn, capOff),
        v2Freezes: q.freezes(data.v2, capOn, capOff),
        v2ChromeFreezes: q.delta(data.v2, g.freezeCount, capOn, capOff),
        v2LossPct: loss2.pct,
        v2Plis: q.delta(data.v2, g.inPli, capOn, capOff),
        v1FpsMedian: q.fpsMedian(data.v1, capOn, capOff),
        v1Freezes: q.freezes(data.v1, capOn, capOff),
        v1LossPct: viewerLoss(data.v1, capOn, capOff).pct,
        presenterWidths: q.countBy(q.inRange(p, g.outWidth, capOn, capOff).map(g.outWidth)),
        qualityLimitation: q.countBy(q.inRange(p, g.qlr, capOn, capOff).map(g.qlr)),
        tbf,
        fluoToV2: DIRECT ? null : Object.fromEntries(['packetsSent', 'retransmittedPacketsSent', 'nackHeld', 'nackUnanswered']
          .map((k) => [k, fluoDelta(run.fluo, 'capOn', 'capOff', 'v2', 'outboundrtp', k)])),
        perSecond: perSecondSeries(data, t0, Math.floor((capOff - t0) / 1000), ['v1', 'v2'], pname),
        capOnAtS: (capOn - t0) / 1000,
        fluo: run.fluo,
        features: run.features,
      };
      if (DIRECT) {
        const p1 = data[presenterFor('v1')];
        r.presenterToV1SendKbpsLast10s = q.kbps(q.rateBetween(p1, g.sendBytes, capOff - 10000, capOff));
      }
      save('slow', r);
      t.diagnostic(`clean: send ${r.cleanSendKbps} kbit/s; cap: send < 400 kbit/s after ${ms(r.sendBelow400Ms)}, ${r.sendKbpsLast10s} kbit/s over the last 10 s, estimate median ${r.estimateKbpsMedian} kbit/s` +
        (DIRECT ? `; presenter->v1 (its own encoder in a direct call) ${r.presenterToV1SendKbpsLast10s} kbit/s` : ''));
      t.diagnostic(`v2: frames per second after 4 s ${series(v2Frames)}; fps median ${fmt(r.v2FpsMedian)}, loss ${fmt(r.v2LossPct, 1)} %, freezes ${JSON.stringify(r.v2Freezes)}, Chromium freezeCount +${r.v2ChromeFreezes}, PLIs sent +${r.v2Plis}; tbf ${JSON.stringify(r.tbf)}`);
      t.diagnostic(`v1: fps median ${fmt(r.v1FpsMedian)}, loss ${fmt(r.v1LossPct, 1)} %, freezes ${JSON.stringify(r.v1Freezes)}; presenter widths ${JSON.stringify(r.presenterWidths)}, limitation ${JSON.stringify(r.qualityLimitation)}`);
      t.diagnostic(`per second (cap from ${fmt(r.capOnAtS, 1)} s): send kbit/s ${series(r.perSecond.sendKbps)}`);
      t.diagnostic(`per second: estimate kbit/s ${series(r.perSecond.estimateKbps)}`);
      t.diagnostic(`per second: v1 frames ${series(r.perSecond.v1Frames)}; v2 frames ${series(r.perSecond.v2Frames)}`);
      if (!DIRECT) t.diagnostic(`fluo to v2 over the cap: ${JSON.stringify(r.fluoToV2)}`);
      if (!DIRECT) t.diagnostic(`fluo stats: ${JSON.stringify(run.fluo)}`);
    });
    it('the presenter follows the slow viewer: send rate < 400 kbit/s within 10 s', () => {
      assert.ok(r, 'not measured');
      assert.ok(r.sendBelow400Ms !== null && r.sendBelow400Ms <= 10000, `after ${ms(r.sendBelow400Ms)}`);
    });
    it('v2 keeps decoding: no freeze over 2 s still on 4 s after the cap', () => {
      assert.ok(r, 'not measured');
      const long = r.v2Freezes.filter((f) => f.dur > 2000 && f.start + f.dur > 4000);
      assert.deepEqual(long, [], `freezes (ms from the cap): ${JSON.stringify(r.v2Freezes)}`);
    });
    it('fluo resends v2 fewer packets than it sends it: no retransmission storm on a full link', { skip: DIRECT && 'no server' }, () => {
      assert.ok(r, 'not measured');
      const f = r.fluoToV2;
      assert.ok(f.packetsSent > 0 && f.retransmittedPacketsSent !== null && f.retransmittedPacketsSent < f.packetsSent,
        `over the cap: ${JSON.stringify(f)}`);
    });
  });

  // ---------------------------------------------------------------------
  describe('loss: 1 % and 5 % on the viewer downlink, then on the presenter uplink, 30 s each', { skip: !want('loss') }, () => {
    const PHASES = [
      ['v1:down', 0.01],
      ['v1:down', 0.05],
      ['pub:up', 0.01],
      ['pub:up', 0.05],
    ];
    const phaseName = ([dir, p]) => `${dir} ${p * 100}%`;
    let r = null;
    it('measure', { timeout: 240000 }, async (t) => {
      const pname = presenterFor('v1');
      const run = await scenario(t, ['v1'], async (sess, mark) => {
        await q.sleep(5000);
        await mark('p0');
        for (const [i, [dir, p]] of PHASES.entries()) {
          lab.clearLoss();
          lab.loss(dir, p);
          await mark(`start${i}`);
          await q.sleep(30000);
          await mark(`end${i}`);
        }
        lab.clearLoss();
      });
      const { data, marks } = run;
      const p = data[pname];
      const v = data.v1;
      r = { phases: [], features: run.features, degradation: run.degradation, fluo: run.fluo };
      r.cleanSendKbps = q.kbps(q.rateBetween(p, g.sendBytes, marks.t0, marks.p0));
      t.diagnostic(`clean: send ${r.cleanSendKbps} kbit/s; degradation ${JSON.stringify(run.degradation)}`);
      for (const [i, ph] of PHASES.entries()) {
        const from = marks[`start${i}`];
        const to = marks[`end${i}`];
        const fr = q.freezes(v, from, to);
        const loss = viewerLoss(v, from, to);
        const f = {
          name: phaseName(ph),
          fpsMedian: q.fpsMedian(v, from, to),
          chromeFpsMedian: q.median(q.inRange(v, g.fps, from, to).map(g.fps)),
          freezes: fr,
          chromeFreezes: q.delta(v, g.freezeCount, from, to),
          chromeFreezeSeconds: q.delta(v, g.freezeSeconds, from, to),
          presenterWidths: q.countBy(q.inRange(p, g.outWidth, from, to).map(g.outWidth)),
          viewerNacks: q.delta(v, g.inNack, from, to),
          viewerRtxReceived: q.delta(v, g.inRtx, from, to),
          presenterNacks: q.delta(p, g.outNack, from, to),
          presenterRtxSent: q.delta(p, g.outRtx, from, to),
          viewerLossPct: loss.pct,
          viewerPlis: q.delta(v, g.inPli, from, to),
          sendKbps: q.kbps(q.rateBetween(p, g.sendBytes, from, to)),
          estimateKbpsMedian: q.kbps(q.median(q.inRange(p, g.aob, from, to).map(g.aob))),
          qualityLimitation: q.countBy(q.inRange(p, g.qlr, from, to).map(g.qlr)),
          fpsPerSecond: q.framesPerSecondBuckets(v, from, Math.floor((to - from) / 1000)),
        };
        if (!DIRECT) {
          f.fluo = {
            nacksFromViewer: fluoDelta(run.fluo, `start${i}`, `end${i}`, 'v1', 'outboundrtp', 'nackCount'),
            rtxToViewer: fluoDelta(run.fluo, `start${i}`, `end${i}`, 'v1', 'outboundrtp', 'retransmittedPacketsSent'),
            nacksToPresenter: fluoDelta(run.fluo, `start${i}`, `end${i}`, 'presenter', 'inboundrtp', 'nackCount'),
            rtxFromPresenter: fluoDelta(run.fluo, `start${i}`, `end${i}`, 'presenter', 'inboundrtp', 'retransmittedPacketsReceived'),
          };
        }
        r.phases.push(f);
        t.diagnostic(
          `${f.name}: fps median ${fmt(f.fpsMedian)} (Chromium's framesPerSecond median ${fmt(f.chromeFpsMedian)}), freezes > 1 s ${fr.length} ${JSON.stringify(fr)}, Chromium freezeCount +${f.chromeFreezes} (${fmt(f.chromeFreezeSeconds, 1)} s), ` +
            `presenter widths ${JSON.stringify(f.presenterWidths)}, viewer NACKs +${f.viewerNacks}, viewer RTX received +${f.viewerRtxReceived}, ` +
            `presenter NACKs +${f.presenterNacks}, presenter RTX sent +${f.presenterRtxSent}, viewer packetsLost ${fmt(f.viewerLossPct, 2)} %, PLIs +${f.viewerPlis}, ` +
            `send ${f.sendKbps} kbit/s, estimate median ${f.estimateKbpsMedian} kbit/s, limitation ${JSON.stringify(f.qualityLimitation)}` +
            (f.fluo ? `; fluo: NACKs from viewer +${f.fluo.nacksFromViewer}, RTX to viewer +${f.fluo.rtxToViewer}, NACKs to presenter +${f.fluo.nacksToPresenter}, RTX from presenter +${f.fluo.rtxFromPresenter}` : ''),
        );
        t.diagnostic(`${f.name}: frames per second ${series(f.fpsPerSecond)}`);
      }
      save('loss', r);
    });
    for (const [i, ph] of PHASES.entries()) {
      const name = phaseName(ph);
      it(`${name}: viewer fps median >= 25, at most one freeze`, () => {
        assert.ok(r, 'not measured');
        const f = r.phases[i];
        assert.ok(f.fpsMedian !== null && f.fpsMedian >= 25, `fps median ${f.fpsMedian}`);
        assert.ok(f.freezes.length <= 1, `freezes (framesDecoded stalled > 1 s): ${JSON.stringify(f.freezes)}`);
        assert.ok(f.chromeFreezes !== null && f.chromeFreezes <= 1, `Chromium freezeCount +${f.chromeFreezes}`);
      });
      it(`${name}: the presenter keeps 640 wide`, () => {
        assert.ok(r, 'not measured');
        assert.deepEqual(Object.keys(r.phases[i].presenterWidths), ['640'], `widths ${JSON.stringify(r.phases[i].presenterWidths)}`);
      });
      it(`${name}: NACKs and retransmissions`, () => {
        assert.ok(r, 'not measured');
        const f = r.phases[i];
        assert.ok(f.viewerNacks > 0, `viewer nackCount +${f.viewerNacks}`);
        const rtx = [f.viewerRtxReceived, f.presenterRtxSent, f.fluo && f.fluo.rtxToViewer].some((x) => x > 0);
        assert.ok(rtx, `retransmissions: viewer received +${f.viewerRtxReceived}, presenter sent +${f.presenterRtxSent}` + (f.fluo ? `, fluo sent +${f.fluo.rtxToViewer}` : ''));
      });
      if (ph[0] === 'pub:up') {
        it(`${name}: the presenter is NACKed`, () => {
          assert.ok(r, 'not measured');
          assert.ok(r.phases[i].presenterNacks > 0, `presenter nackCount +${r.phases[i].presenterNacks}`);
        });
      }
    }
  });
});
