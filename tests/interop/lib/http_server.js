'use strict';
// A small HTTP/1.1 (or HTTPS) file server for the tests of fluo's HTTP byte
// source (tests/unit/engine/test_bytes_http.c) and the PlayerEndpoint's
// http:// tests: node's own http module, so the peer is not ours.
//
//   node tests/interop/lib/http_server.js ROOT PORT [CERT KEY]
//     PORT 0 picks a free one; prints "port N" once listening, then one line
//     per request: "req METHOD URL RANGE" (RANGE "-" when none), and
//     "end METHOD URL" once its answer is all sent.
//   const srv = await startHttpServer({ root, port: 0, tls: { cert, key } });
//     // { port, url, requests: [{ method, url, range }], close() }
//
// What a path asks for (FILE is a path under ROOT):
//   /FILE                200, or 206 with Content-Range for a Range request
//                        (bytes=A-B, A-, -N; 416 past the end)
//   /norange/FILE        200 with Content-Length whatever the Range
//   /capped/FILE         as /FILE, but at most 1 MiB per answer (as some CDNs do)
//   /chunked/FILE        200 in the chunked coding (no Content-Length), no ranges
//   /cut/FILE            the full Content-Length announced, half sent, then
//                        the connection closed
//   /redirect/REST       302 to /REST (so /redirect/redirect/x is two hops)
//   /status/CODE         that status with a short body (401, 403, 500...)
//   anything missing     404

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');

function parseRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header || '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start;
  let end;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return { start, end };
}

function sendFile(req, res, file, mode) {
  let st;
  try {
    st = fs.statSync(file);
  } catch {
    st = null;
  }
  if (!st || !st.isFile()) {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
    res.end('not found\n');
    return;
  }
  const size = st.size;
  if (mode === 'chunked') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    fs.createReadStream(file, { highWaterMark: 4096 }).pipe(res);
    return;
  }
  if (mode === 'cut') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    const half = Math.floor(size / 2);
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(half);
    fs.readSync(fd, buf, 0, half, 0);
    fs.closeSync(fd);
    res.write(buf, () => setTimeout(() => req.socket.destroy(), 50));
    return;
  }
  const ranged = mode === 'range' || mode === 'capped';
  const range = ranged ? parseRange(req.headers.range, size) : null;
  if (range && mode === 'capped') range.end = Math.min(range.end, range.start + (1 << 20) - 1);
  if (range && range.start >= size) {
    res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    res.end();
    return;
  }
  const headers = { 'Content-Type': 'application/octet-stream' };
  if (ranged) headers['Accept-Ranges'] = 'bytes';
  if (range) {
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    headers['Content-Length'] = range.end - range.start + 1;
    res.writeHead(206, headers);
  } else {
    headers['Content-Length'] = size;
    res.writeHead(200, headers);
  }
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  const opts = range ? { start: range.start, end: range.end } : {};
  fs.createReadStream(file, opts).pipe(res);
}

function handler(root, onRequest, onEnd) {
  const top = path.resolve(root);
  return (req, res) => {
    const url = new URL(req.url, 'http://x');
    onRequest({ method: req.method, url: req.url, range: req.headers.range || '-' });
    res.on('finish', () => onEnd({ method: req.method, url: req.url }));
    let p = decodeURIComponent(url.pathname);
    let m = /^\/redirect(\/.*)$/.exec(p);
    if (m) {
      res.writeHead(302, { Location: m[1], 'Content-Length': 0 });
      res.end();
      return;
    }
    m = /^\/status\/(\d{3})$/.exec(p);
    if (m) {
      const body = `status ${m[1]}\n`;
      res.writeHead(Number(m[1]), { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    let mode = 'range';
    m = /^\/(norange|chunked|cut|capped)(\/.*)$/.exec(p);
    if (m) {
      mode = m[1];
      p = m[2];
    }
    const file = path.resolve(top, '.' + p);
    if (file !== top && !file.startsWith(top + path.sep)) {
      res.writeHead(404, { 'Content-Length': 0 });
      res.end();
      return;
    }
    sendFile(req, res, file, mode);
  };
}

function startHttpServer(opts = {}) {
  const requests = [];
  const onRequest = (r) => {
    requests.push(r);
    if (opts.onRequest) opts.onRequest(r);
  };
  const onEnd = (r) => {
    if (opts.onEnd) opts.onEnd(r);
  };
  const h = handler(opts.root || '.', onRequest, onEnd);
  const server = opts.tls
    ? https.createServer({ cert: fs.readFileSync(opts.tls.cert), key: fs.readFileSync(opts.tls.key) }, h)
    : http.createServer(h);
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port || 0, opts.host || '127.0.0.1', () => {
      const port = server.address().port;
      resolve({
        port,
        url: `${opts.tls ? 'https' : 'http'}://${opts.host || '127.0.0.1'}:${port}`,
        requests,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

module.exports = { startHttpServer };

if (require.main === module) {
  const [root, port, cert, key] = process.argv.slice(2);
  if (!root) {
    process.stderr.write('usage: http_server.js ROOT PORT [CERT KEY]\n');
    process.exit(2);
  }
  startHttpServer({
    root,
    port: Number(port || 0),
    tls: cert ? { cert, key } : null,
    onRequest: (r) => process.stdout.write(`req ${r.method} ${r.url} ${r.range}\n`),
    onEnd: (r) => process.stdout.write(`end ${r.method} ${r.url}\n`),
  }).then((srv) => {
    process.stdout.write(`port ${srv.port}\n`);
    const stop = () => srv.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
