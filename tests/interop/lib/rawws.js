'use strict';
// Hand-built WebSocket (RFC 6455) client over a raw TCP socket, to send
// frames a well-behaved library never would.

const crypto = require('node:crypto');
const net = require('node:net');

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function acceptFor(key) {
  return crypto.createHash('sha1').update(key + GUID).digest('base64');
}

// Builds one frame. opts: { fin=true, rsv=0 (3 bits), opcode=1, mask=true,
// maskKey, payload (Buffer|string), length (override the length field) }
function frame(opts = {}) {
  const fin = opts.fin === undefined ? true : opts.fin;
  const rsv = opts.rsv || 0;
  const opcode = opts.opcode === undefined ? 1 : opts.opcode;
  const mask = opts.mask === undefined ? true : opts.mask;
  let payload = opts.payload === undefined ? Buffer.alloc(0) : opts.payload;
  if (typeof payload === 'string') payload = Buffer.from(payload, 'utf8');
  const len = opts.length === undefined ? payload.length : opts.length;
  const head = [];
  head.push((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f));
  let ext = Buffer.alloc(0);
  if (opts.length64 !== undefined || len > 0xffff) {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(opts.length64 !== undefined ? opts.length64 : len));
  } else if (len > 125) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push((mask ? 0x80 : 0) | len);
  }
  let body = payload;
  let key = Buffer.alloc(0);
  if (mask) {
    key = opts.maskKey || crypto.randomBytes(4);
    body = Buffer.alloc(payload.length);
    for (let i = 0; i < payload.length; i++) body[i] = payload[i] ^ key[i & 3];
  }
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

function closePayload(code, reason = '') {
  const r = Buffer.from(reason, 'utf8');
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

// A raw connection. Use RawWs.open(port, {path, headers, handshake}).
class RawWs {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.httpStatus = null;
    this.httpHeaders = null;
    this.httpHead = null;
    this.httpBody = Buffer.alloc(0);
    this.upgraded = false;
    this.frames = [];
    this.tcpClosed = false;
    this.error = null;
    this._waiters = [];
    this._message = null; // reassembly of fragmented server messages
    sock.on('data', (d) => this._onData(d));
    sock.on('error', (e) => {
      this.error = e;
    });
    sock.on('close', () => {
      this.tcpClosed = true;
      this._wake();
    });
  }

  static connectTcp(port) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        resolve(new RawWs(sock));
      });
      sock.once('error', reject);
    });
  }

  // Connects and performs the opening handshake (unless opts.request is a
  // raw request string/buffer to send instead). Resolves once the HTTP
  // response head arrived or the TCP connection closed.
  static async open(port, opts = {}) {
    const c = await RawWs.connectTcp(port);
    const key = opts.key || crypto.randomBytes(16).toString('base64');
    c.key = key;
    let req = opts.request;
    if (req === undefined) {
      const headers = {
        Host: `127.0.0.1:${port}`,
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
        ...(opts.headers || {}),
      };
      let s = `GET ${opts.path || '/kurento'} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) if (v !== null && v !== undefined) s += `${k}: ${v}\r\n`;
      s += '\r\n';
      req = s;
    }
    c.sock.write(req);
    await c.waitFor(() => c.httpStatus !== null || c.tcpClosed, opts.timeoutMs || 5000, 'HTTP response');
    return c;
  }

  _wake() {
    const ws = this._waiters;
    this._waiters = [];
    for (const w of ws) {
      if (w.pred()) {
        clearTimeout(w.timer);
        w.resolve();
      } else this._waiters.push(w);
    }
    if (this.tcpClosed) {
      for (const w of this._waiters) {
        clearTimeout(w.timer);
        w.resolve();
      }
      this._waiters = [];
    }
  }

  waitFor(pred, timeoutMs = 5000, what = 'condition') {
    if (pred()) return Promise.resolve();
    if (this.tcpClosed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        const i = this._waiters.indexOf(w);
        if (i >= 0) this._waiters.splice(i, 1);
        reject(new Error(`timeout (${timeoutMs} ms) waiting for ${what}`));
      }, timeoutMs);
      this._waiters.push(w);
    });
  }

  _onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    if (this.httpStatus === null) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        this._wake();
        return;
      }
      const head = this.buf.subarray(0, end).toString('latin1');
      this.httpHead = head;
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      this.httpStatus = m ? Number(m[1]) : -1;
      this.httpHeaders = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) this.httpHeaders[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = this.httpStatus === 101;
    }
    if (!this.upgraded) {
      this.httpBody = Buffer.concat([this.httpBody, this.buf]);
      this.buf = Buffer.alloc(0);
      this._wake();
      return;
    }
    for (;;) {
      const f = parseFrame(this.buf);
      if (!f) break;
      this.buf = this.buf.subarray(f.size);
      this.frames.push(f);
    }
    this._wake();
  }

  send(buf) {
    if (!this.sock.destroyed) this.sock.write(buf);
  }

  sendFrame(opts) {
    this.send(frame(opts));
  }

  sendText(text) {
    this.send(frame({ opcode: 1, payload: text }));
  }

  // Resolves with the next frame matching pred (default: any), consuming it
  // and the frames before it; null if the TCP connection closed first.
  async nextFrame(pred = () => true, timeoutMs = 5000) {
    let idx = -1;
    await this.waitFor(
      () => (idx = this.frames.findIndex(pred)) >= 0,
      timeoutMs,
      'frame',
    );
    idx = this.frames.findIndex(pred);
    if (idx < 0) return null;
    const f = this.frames[idx];
    this.frames.splice(0, idx + 1);
    return f;
  }

  // Resolves with the next complete data message (text), reassembling
  // fragments: { opcode, text } or null on close.
  async nextMessage(timeoutMs = 5000) {
    let parts = [];
    let opcode = null;
    for (;;) {
      const f = await this.nextFrame((x) => x.opcode <= 2 || x.opcode === 8, timeoutMs);
      if (!f || f.opcode === 8) return null;
      if (f.opcode !== 0) opcode = f.opcode;
      parts.push(f.payload);
      if (f.fin) return { opcode, text: Buffer.concat(parts).toString('utf8') };
    }
  }

  // Resolves with the server's close frame { code, reason } (or
  // { code: null } when the TCP connection closed without one), and whether
  // TCP closed afterwards.
  async waitClose(timeoutMs = 5000) {
    const f = await this.nextFrame((x) => x.opcode === 8, timeoutMs);
    let res;
    if (!f) res = { code: null, reason: '', frame: null };
    else {
      const p = f.payload;
      res = {
        code: p.length >= 2 ? p.readUInt16BE(0) : 1005,
        reason: p.length > 2 ? p.subarray(2).toString('utf8') : '',
        frame: f,
      };
    }
    // A server must close TCP after the closing handshake (RFC 6455 7.1.1);
    // reply with a close so the handshake completes, then wait a bit.
    if (f && !this.sock.destroyed) {
      try {
        this.send(frame({ opcode: 8, payload: closePayload(res.code && res.code !== 1005 ? res.code : 1000) }));
      } catch (_) {
        /* ignore */
      }
    }
    await this.waitFor(() => this.tcpClosed, timeoutMs, 'TCP close').catch(() => {});
    res.tcpClosed = this.tcpClosed;
    return res;
  }

  destroy() {
    this.sock.destroy();
  }
}

// Parses one server frame from buf; null if incomplete.
function parseFrame(buf) {
  if (buf.length < 2) return null;
  const b0 = buf[0];
  const b1 = buf[1];
  let len = b1 & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  let key = null;
  if (masked) {
    if (buf.length < off + 4) return null;
    key = buf.subarray(off, off + 4);
    off += 4;
  }
  if (buf.length < off + len) return null;
  let payload = Buffer.from(buf.subarray(off, off + len));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
  return {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 7,
    opcode: b0 & 0x0f,
    masked,
    payload,
    size: off + len,
  };
}

module.exports = { RawWs, frame, closePayload, parseFrame, acceptFor };
