'use strict';
// Helpers for the browser tests against fluo (tests/interop/browser/): the
// npm kurento-client in Node plays the tutorials' application server, a
// harness peer (lib/browser.js) plays the browser.
//
//   const { connectKurento, Signalling, recordEvents } = require('../lib/kurento');
//   const { client } = await connectKurento(srv.url);
//   const sig = new Signalling(peer);        // starts taking the browser's candidates
//   const offer = await peer.createOffer();  // candidates start flowing (queued)
//   const ep = await pipeline.create('WebRtcEndpoint');
//   sig.attach(ep);                          // flush queued candidates, subscribe IceCandidateFound
//   ... processOffer ... await sig.applyRemote('answer', answer);

const kurentoClient = require('kurento-client');

// response_timeout/duplicates_timeout only size the client's caches of
// answered ids (20 s timers by default that keep Node alive after close()).
const CLIENT_OPTIONS = { failAfter: 5, request_timeout: 20000, response_timeout: 1000, duplicates_timeout: 1000 };

// Callback form, as in Kurento's tutorials. Resolves { client, instance }:
// `client` is what the callback gave (the app's handle), `instance` the
// KurentoClient object itself.
function connectKurento(url, options = {}) {
  return new Promise((resolve, reject) => {
    const instance = kurentoClient(url, { ...CLIENT_OPTIONS, ...options }, (error, c) => {
      if (error) reject(error);
      else resolve({ client: c, instance });
    });
  });
}

function iceCandidate(c) {
  return kurentoClient.getComplexType('IceCandidate')({
    candidate: c.candidate,
    sdpMid: c.sdpMid,
    sdpMLineIndex: c.sdpMLineIndex,
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// The application server's part for one browser peer <-> one WebRtcEndpoint,
// as the Node tutorials do it: browser candidates that arrive before the
// endpoint exists are queued and flushed (not awaited) once it does; the
// endpoint's IceCandidateFound candidates are given to the browser (held
// back until the browser has the remote description, as a browser app must).
class Signalling {
  constructor(peer, name) {
    this.peer = peer;
    this.name = name || peer.name;
    this.endpoint = null;
    this.queued = []; // browser candidates waiting for the endpoint
    this.fromBrowser = []; // every browser candidate, in order
    this.addPromises = []; // endpoint.addIceCandidate() calls
    this.addedBeforeProcessOffer = 0;
    this.processOfferIssued = false;
    this.serverCandidates = []; // IceCandidateFound candidates
    this.pendingToBrowser = [];
    this.remoteApplied = false;
    this.errors = [];
    peer.onIceCandidate((c) => this._fromBrowser(c));
  }

  _fromBrowser(c) {
    this.fromBrowser.push(c);
    if (this.endpoint) this._add(c);
    else this.queued.push(c);
  }

  _add(c) {
    if (!this.processOfferIssued) this.addedBeforeProcessOffer++;
    // The callback form: without one, kurento-client 7.3 prints the error
    // and resolves the promise, so a refused candidate would go unnoticed.
    const p = new Promise((resolve) => {
      this.endpoint.addIceCandidate(iceCandidate(c), (err) => {
        if (err) this.errors.push(new Error(`${this.name}: addIceCandidate(${c.candidate}): ${err.message}`));
        resolve();
      });
    });
    this.addPromises.push(p);
  }

  // Resolves once the browser trickled at least n candidates.
  async waitBrowserCandidates(n = 1, timeoutMs = 10000) {
    const end = Date.now() + timeoutMs;
    while (this.fromBrowser.length < n) {
      if (Date.now() > end) throw new Error(`${this.name}: browser gave ${this.fromBrowser.length} candidates within ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  // Flushes the queued browser candidates into the endpoint and subscribes
  // IceCandidateFound (the tutorials' order). Returns nothing to await: the
  // calls go out on the client's WebSocket in order.
  attach(endpoint, { subscribe = true } = {}) {
    this.endpoint = endpoint;
    while (this.queued.length) this._add(this.queued.shift());
    if (subscribe) this.subscribe();
  }

  subscribe() {
    this.endpoint.on('IceCandidateFound', (ev) => this.onIceCandidateFound(ev));
  }

  onIceCandidateFound(ev) {
    const c = ev.candidate;
    this.serverCandidates.push(c);
    if (this.remoteApplied) this._toBrowser(c);
    else this.pendingToBrowser.push(c);
  }

  _toBrowser(c) {
    this.peer
      .addIceCandidate(c)
      .catch((e) => this.errors.push(new Error(`${this.name}: browser addIceCandidate(${c.candidate}): ${e.message}`)));
  }

  // Marks processOffer as sent (for addedBeforeProcessOffer).
  markProcessOffer() {
    this.processOfferIssued = true;
  }

  // The browser takes the server's SDP (answer or offer); then the held-back
  // server candidates follow.
  async applyRemote(type, sdp) {
    await this.peer.setRemoteDescription(type, sdp);
    this.remoteApplied = true;
    while (this.pendingToBrowser.length) this._toBrowser(this.pendingToBrowser.shift());
  }

  // Throws if any addIceCandidate failed (either side).
  async check() {
    await Promise.allSettled(this.addPromises);
    if (this.errors.length) throw this.errors[0];
  }
}

// Records the events of `object` (all of `names`), each as the raw payload
// kurento-client passes to the listener.
function recordEvents(object, names) {
  const rec = { all: [], by: {} };
  for (const n of names) {
    rec.by[n] = [];
    object.on(n, (ev) => {
      rec.all.push(ev);
      rec.by[n].push(ev);
    });
  }
  rec.wait = async (name, pred = () => true, timeoutMs = 15000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = rec.by[name].find(pred);
      if (e) return e;
      if (Date.now() > end)
        throw new Error(`event ${name} (matching) not received within ${timeoutMs} ms; got: ${JSON.stringify(rec.by[name])}`);
      await sleep(20);
    }
  };
  return rec;
}

// Browser peer -> WebRtcEndpoint with the browser offering, in the Node
// hello-world order after the endpoint exists: (queued addIceCandidate) ->
// subscribe IceCandidateFound -> [before()] -> processOffer -> gatherCandidates,
// issued back-to-back; then the answer goes to the browser.
// `offer` must come from peer.createOffer() on sig.peer.
async function browserOffers(sig, endpoint, offer, { before } = {}) {
  sig.attach(endpoint);
  const calls = [];
  if (before) calls.push(...[].concat(before()));
  sig.markProcessOffer();
  const answerP = endpoint.processOffer(offer);
  const gatherP = endpoint.gatherCandidates();
  const [answer] = await withTimeout(Promise.all([answerP, gatherP, ...calls]), 20000, `${sig.name}: processOffer/gatherCandidates`);
  await sig.applyRemote('answer', answer);
  return answer;
}

// A recvonly browser peer (VP8 unless videoCodec says another) whose new
// WebRtcEndpoint in `pipeline` takes its media from `source` (a hub's
// port, say): { peer, sig, ep }.
async function recvonlyViewer(b, pipeline, name, source, { videoCodec = 'VP8' } = {}) {
  const peer = await b.newPeer({ name, direction: 'recvonly', videoCodec });
  const sig = new Signalling(peer);
  const offer = await peer.createOffer();
  const ep = await pipeline.create('WebRtcEndpoint');
  await browserOffers(sig, ep, offer, { before: () => [source.connect(ep)] });
  return { peer, sig, ep };
}

// Releases `obj` when the test ends unless the test released it itself
// through the returned function (kurento-client logs a trace for a failed
// release even when the promise is handled).
function releaseAtEnd(t, obj) {
  let done = false;
  const release = () => {
    if (done) return Promise.resolve();
    done = true;
    return obj.release();
  };
  t.after(() => release().catch(() => {}));
  return release;
}

function idOf(x) {
  return typeof x === 'string' ? x : x && x.id;
}

// The stats whose type is `type` in a getStats() map (object keyed by id).
function statsOfType(map, type) {
  return Object.values(map || {}).filter((s) => s && s.type === type);
}

function within(a, b, frac) {
  const m = Math.max(Math.abs(a), Math.abs(b));
  return m === 0 || Math.abs(a - b) <= frac * m;
}

// Starts fluo (lib/server.js startServer, FLUO_BIN), connects a
// kurento-client and launches the browser (launchBrowser(opts.browser));
// with opts.browsers, a list of launchBrowser options, env.browsers holds
// one more Chromium per entry (each its own fake camera and microphone
// files). close() tears down everything (browsers first, then the client,
// then the server) and resolves the server's exit { code, signal, stderr }.
async function startFluoAndBrowser(opts = {}) {
  const { startServer } = require('./server');
  const { launchBrowser } = require('./browser');
  const env = { srv: null, client: null, instance: null, browser: null, browsers: [] };
  env.close = async () => {
    if (env.browser) await env.browser.close().catch(() => {});
    for (const b of env.browsers) await b.close().catch(() => {});
    if (env.client) {
      try {
        env.client.close();
      } catch (_) {
        /* closed */
      }
    }
    if (env.srv && env.srv.running) return env.srv.stop();
    return env.srv ? { code: env.srv.exitCode, signal: env.srv.exitSignal, stderr: env.srv.stderr } : null;
  };
  try {
    env.srv = await startServer(opts.server || {});
    ({ client: env.client, instance: env.instance } = await connectKurento(env.srv.url));
    env.browser = await launchBrowser(opts.browser || {});
    for (const o of opts.browsers || []) env.browsers.push(await launchBrowser(o));
  } catch (e) {
    await env.close();
    throw e;
  }
  return env;
}

// Calls obj.method(...args) in the callback form and resolves/rejects with
// what the callback gets: with no callback, kurento-client 7.3 hands the
// error to its own noop callback (console.trace) and the promise resolves
// undefined, so a failure would go unseen.
function call(obj, method, ...args) {
  return new Promise((resolve, reject) => {
    obj[method](...args, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

// Starts fluo and Chromium (and coturn first with opts.coturn) before the
// tests of the describe block it is called in and closes them after,
// asserting a clean exit with no sanitizer findings. suite.env is
// startFluoAndBrowser's environment, suite.turn startCoturn's. `opts` may
// be a function returning them, called in the before hook (for options
// that need work first, e.g. generated media files).
function fluoAndBrowserPerSuite(optsOrFn = {}) {
  const { before, after } = require('node:test');
  const assert = require('node:assert/strict');
  const { sanitizerFindings } = require('./server');
  const suite = { env: null, turn: null };
  before(async () => {
    const opts = typeof optsOrFn === 'function' ? await optsOrFn() : optsOrFn;
    if (opts.coturn) suite.turn = await require('./coturn').startCoturn();
    suite.env = await startFluoAndBrowser(opts);
  });
  after(async () => {
    if (suite.turn) await suite.turn.stop();
    if (!suite.env) return;
    const r = await suite.env.close();
    assert.equal(r.code, 0, `server exit code; stderr:\n${r.stderr.slice(-3000)}`);
    assert.deepEqual(sanitizerFindings(r.stderr), []);
  });
  return suite;
}

module.exports = {
  call,
  fluoAndBrowserPerSuite,
  startFluoAndBrowser,
  kurentoClient,
  CLIENT_OPTIONS,
  connectKurento,
  iceCandidate,
  Signalling,
  recordEvents,
  browserOffers,
  recvonlyViewer,
  releaseAtEnd,
  withTimeout,
  sleep,
  idOf,
  statsOfType,
  within,
};
