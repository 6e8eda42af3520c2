'use strict';
// Test helpers: start/stop the fluo binary, and a tiny raw JSON-RPC client
// over `ws`.
//
//   const { startServer, RpcClient } = require('./lib/server');
//   const srv = await startServer({ args: ['--gc-period', '1'] });
//   const c = await RpcClient.connect(srv.url);
//   const res = await c.request('ping');          // whole response message
//   const v = await c.call('create', {type: 'MediaPipeline'}); // result, throws on error
//   const { code, stderr } = await srv.stop();
//
// FLUO_BIN selects the binary (default <repo>/build/fluo), e.g.
// FLUO_BIN=build/asan/fluo (relative paths are taken from the repo root).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const WebSocket = require('ws');

const REPO = path.resolve(__dirname, '..', '..', '..');

function fluoBin() {
  const b = process.env.FLUO_BIN;
  if (!b) return path.join(REPO, 'build', 'fluo');
  return path.isAbsolute(b) ? b : path.join(REPO, b);
}

function isAsan(bin = fluoBin()) {
  return /asan/.test(bin);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts the server; resolves once it printed "listening" on stderr.
// opts: { args: [...], bin, env, timeoutMs, port }
async function startServer(opts = {}) {
  const bin = opts.bin || fluoBin();
  if (!fs.existsSync(bin)) throw new Error(`server binary not found: ${bin} (build it: make -j2 build/fluo)`);
  const timeoutMs = opts.timeoutMs || (isAsan(bin) ? 30000 : 10000);
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port || (await freePort());
    // FLUO_LOG: a --log spec for debugging a test run (e.g. "webrtc:5,ice:5,*:3")
    const logArgs = process.env.FLUO_LOG ? ['--log', process.env.FLUO_LOG] : [];
    const args = ['--port', String(port), ...logArgs, ...(opts.args || [])];
    const env = { ...process.env, ...(opts.env || {}) };
    if (isAsan(bin) && !env.ASAN_OPTIONS) env.ASAN_OPTIONS = 'detect_leaks=1:abort_on_error=0';
    if (isAsan(bin) && !env.UBSAN_OPTIONS) env.UBSAN_OPTIONS = 'print_stacktrace=1';
    const proc = spawn(bin, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const srv = new ServerHandle(proc, port, bin, args);
    try {
      await srv._ready(timeoutMs);
      return srv;
    } catch (e) {
      lastErr = e;
      srv._kill();
      // Retry only when the port was taken meanwhile.
      if (!/address already in use|EADDRINUSE|bind/i.test(srv.stderr)) break;
    }
  }
  throw lastErr;
}

class ServerHandle {
  constructor(proc, port, bin, args) {
    this.proc = proc;
    this.pid = proc.pid;
    this.port = port;
    this.bin = bin;
    this.args = args;
    this.url = `ws://127.0.0.1:${port}/kurento`;
    this.httpBase = `http://127.0.0.1:${port}`;
    this.stderr = '';
    this.stdout = '';
    this.exited = false;
    this.exitCode = null;
    this.exitSignal = null;
    this._exitPromise = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
    // 'close' fires after stdio is drained.
    this._closePromise = new Promise((resolve) => proc.on('close', resolve));
    proc.stderr.setEncoding('utf8');
    proc.stdout.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      this.stderr += d;
      if (process.env.FLUO_TEST_VERBOSE) process.stderr.write(d);
    });
    proc.stdout.on('data', (d) => {
      this.stdout += d;
    });
  }

  _ready(timeoutMs) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`server did not print "listening" within ${timeoutMs} ms; stderr:\n${this.stderr}`));
      }, timeoutMs);
      const onData = () => {
        if (/listening/.test(this.stderr)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code, signal) => {
        cleanup();
        reject(new Error(`server exited early (code ${code}, signal ${signal}); stderr:\n${this.stderr}`));
      };
      const cleanup = () => {
        clearTimeout(t);
        this.proc.stderr.removeListener('data', onData);
        this.proc.removeListener('exit', onExit);
      };
      this.proc.stderr.on('data', onData);
      this.proc.on('exit', onExit);
      onData();
    });
  }

  get running() {
    return !this.exited;
  }

  // Resident set size in kB from /proc/PID/status.
  rssKb() {
    const s = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
    return m ? Number(m[1]) : NaN;
  }

  // SIGTERM, wait (timeoutMs, then SIGKILL). Resolves { code, signal, stderr, timedOut }.
  async stop(timeoutMs) {
    timeoutMs = timeoutMs || (isAsan(this.bin) ? 30000 : 10000);
    let timedOut = false;
    if (!this.exited) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => {
        timedOut = true;
        this._kill();
      }, timeoutMs);
      await this._exitPromise;
      clearTimeout(t);
    }
    await Promise.race([this._closePromise, sleep(2000)]);
    return { code: this.exitCode, signal: this.exitSignal, stderr: this.stderr, timedOut };
  }

  _kill() {
    if (!this.exited) {
      try {
        this.proc.kill('SIGKILL');
      } catch (_) {
        /* gone */
      }
    }
  }
}

// Lines of stderr that indicate a sanitizer finding or a crash.
function sanitizerFindings(stderr) {
  return stderr
    .split('\n')
    .filter((l) =>
      /LeakSanitizer|AddressSanitizer|runtime error:|UndefinedBehaviorSanitizer|ThreadSanitizer|SUMMARY: \w+Sanitizer|Segmentation fault|Assertion .* failed/.test(
        l,
      ),
    );
}

// ---------------------------------------------------------------------------
// Raw JSON-RPC client over `ws`.

class RpcError extends Error {
  constructor(error, request) {
    super(`${error && error.message} (code ${error && error.code})`);
    this.code = error && error.code;
    this.data = error && error.data;
    this.rpcError = error;
    this.request = request;
  }
}

class RpcClient {
  constructor(ws) {
    this.ws = ws;
    this.nextId = 0;
    this.pending = new Map(); // id -> {resolve, reject, timer}
    this.events = []; // onEvent params.value, in arrival order
    this.messages = []; // every parsed message (for debugging)
    this.unmatched = []; // responses whose id matched no pending request
    this._unmatchedWaiters = [];
    this._eventWaiters = [];
    this.onEvent = null;
    this.closed = false;
    this.closeCode = null;
    this.closeReason = null;
    this.timeoutMs = 10000;
    this._closePromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closed = true;
        this.closeCode = code;
        this.closeReason = reason.toString();
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`socket closed (${code} ${this.closeReason}) before the response`));
        }
        this.pending.clear();
        for (const w of this._unmatchedWaiters) w.reject(new Error(`socket closed (${code})`));
        this._unmatchedWaiters = [];
        resolve({ code, reason: this.closeReason });
      });
    });
    ws.on('error', () => {}); // surfaced through 'close'
    ws.on('message', (data, isBinary) => this._onMessage(data.toString('utf8'), isBinary));
  }

  static connect(url, opts = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, ...opts });
      const client = new RpcClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode} on upgrade`)));
      ws.once('error', reject);
    });
  }

  _onMessage(text, isBinary) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      msg = { __unparsable: text };
    }
    if (msg && typeof msg === 'object') {
      Object.defineProperty(msg, '__raw', { value: text, enumerable: false });
      Object.defineProperty(msg, '__binary', { value: isBinary, enumerable: false });
    }
    this.messages.push(msg);
    if (this.messages.length > 1000) this.messages.shift();
    if (msg && msg.method === 'onEvent' && msg.id === undefined) {
      const v = msg.params && msg.params.value;
      this.events.push(v);
      if (this.onEvent) this.onEvent(v, msg);
      const ws = this._eventWaiters;
      this._eventWaiters = [];
      for (const w of ws) {
        if (w.pred(v)) {
          clearTimeout(w.timer);
          w.resolve(v);
        } else this._eventWaiters.push(w);
      }
      return;
    }
    const id = msg && typeof msg === 'object' && !Array.isArray(msg) ? msg.id : undefined;
    if ((typeof id === 'number' || typeof id === 'string') && this.pending.has(id)) {
      const p = this.pending.get(id);
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(msg);
      return;
    }
    const w = this._unmatchedWaiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(msg);
    } else this.unmatched.push(msg);
  }

  // Sends a request; resolves with the whole response message.
  request(method, params, opts = {}) {
    const id = opts.id !== undefined ? opts.id : this.nextId++;
    const msg = { jsonrpc: '2.0', method, id };
    if (params !== undefined) msg.params = params;
    return this._sendAwait(id, JSON.stringify(msg), opts.timeoutMs);
  }

  // Sends a request; resolves with `result` (throws RpcError on `error`).
  async call(method, params, opts) {
    const res = await this.request(method, params, opts);
    if (res.error !== undefined) throw new RpcError(res.error, { method, params });
    return res.result;
  }

  // invoke shortcut: resolves result.value.
  async invoke(object, operation, operationParams) {
    const p = { object, operation };
    if (operationParams !== undefined) p.operationParams = operationParams;
    const r = await this.call('invoke', p);
    return r.value;
  }

  async create(type, constructorParams) {
    const p = { type, properties: {} };
    if (constructorParams !== undefined) p.constructorParams = constructorParams;
    const r = await this.call('create', p);
    return r.value;
  }

  release(object) {
    return this.call('release', { object });
  }

  _sendAwait(id, text, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no response to id ${JSON.stringify(id)} within ${timeoutMs || this.timeoutMs} ms: ${text.slice(0, 300)}`));
      }, timeoutMs || this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(text, (err) => {
        if (err) {
          clearTimeout(timer);
          this.pending.delete(id);
          reject(err);
        }
      });
    });
  }

  // Sends raw text (or a Buffer as binary unless opts.binary === false);
  // resolves with the next response that matches no pending request id
  // (e.g. an error with id null).
  sendRaw(data, opts = {}) {
    const p = this.nextUnmatched(opts.timeoutMs);
    this.ws.send(data, { binary: opts.binary !== undefined ? opts.binary : Buffer.isBuffer(data) });
    return p;
  }

  nextUnmatched(timeoutMs) {
    if (this.unmatched.length) return Promise.resolve(this.unmatched.shift());
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      w.timer = setTimeout(() => {
        const i = this._unmatchedWaiters.indexOf(w);
        if (i >= 0) this._unmatchedWaiters.splice(i, 1);
        reject(new Error(`no unmatched response within ${timeoutMs || this.timeoutMs} ms`));
      }, timeoutMs || this.timeoutMs);
      this._unmatchedWaiters.push(w);
    });
  }

  // Resolves with the first event (already received or future) for which
  // pred(value) is true.
  waitEvent(pred, timeoutMs) {
    const found = this.events.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        const i = this._eventWaiters.indexOf(w);
        if (i >= 0) this._eventWaiters.splice(i, 1);
        reject(new Error(`event not received within ${timeoutMs || this.timeoutMs} ms`));
      }, timeoutMs || this.timeoutMs);
      this._eventWaiters.push(w);
    });
  }

  close() {
    if (!this.closed) this.ws.close();
    return this._closePromise;
  }

  terminate() {
    this.ws.terminate();
    return this._closePromise;
  }

  waitClosed() {
    return this._closePromise;
  }
}

// Plain HTTP GET: resolves { status, headers, body }.
function httpGet(port, urlPath, opts = {}) {
  const http = require('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: opts.method || 'GET', headers: opts.headers || {}, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs || 10000, () => req.destroy(new Error(`HTTP ${urlPath}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

// CPU time (clock ticks, user + system) of each thread of process pid by
// its name (/proc/PID/task/TID/comm: fluo's workers are fluo-worker-N).
function threadTicks(pid) {
  const out = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[comm] = (out[comm] || 0) + Number(f[11]) + Number(f[12]); // utime, stime
    } catch (_) {
      /* the thread ended */
    }
  }
  return out;
}

// Each fluo worker thread's share of the workers' CPU over the next ms
// milliseconds, in worker order.
async function workerShares(pid, ms) {
  const a = threadTicks(pid);
  await sleep(ms);
  const b = threadTicks(pid);
  const names = Object.keys(b).filter((n) => /^fluo-worker-\d+$/.test(n)).sort();
  const used = names.map((n) => b[n] - (a[n] || 0));
  const total = used.reduce((x, y) => x + y, 0);
  return used.map((u) => (total ? u / total : 0));
}

module.exports = {
  REPO,
  threadTicks,
  workerShares,
  fluoBin,
  isAsan,
  freePort,
  sleep,
  startServer,
  sanitizerFindings,
  RpcClient,
  RpcError,
  httpGet,
};
