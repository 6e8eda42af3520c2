'use strict';
// A DTLS ClientHello flood from many random source ports at a range of UDP
// ports on loopback (127.0.0.1 and ::1), as an attacker would aim at a
// media server's candidate ports during set-up. Runs in a child process so
// the test's own loop keeps its pace.
//
//   const flood = startDtlsFlood({ minPort, maxPort, pps: 8000 });
//   ... await flood.stop() -> { sent }

const { fork } = require('node:child_process');
const crypto = require('node:crypto');

// One DTLS 1.2 record holding a ClientHello (RFC 6347 §4.2.2): version,
// random, empty session id and cookie, one cipher suite, no compression.
function clientHello() {
  const body = Buffer.concat([
    Buffer.from([0xfe, 0xfd]),
    crypto.randomBytes(32),
    Buffer.from([0, 0]), // session id, cookie
    Buffer.from([0, 2, 0xc0, 0x2b, 1, 0]), // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256; null compression
  ]);
  const hs = Buffer.alloc(12);
  hs[0] = 1; // client_hello
  hs.writeUIntBE(body.length, 1, 3);
  hs.writeUInt16BE(0, 4); // message_seq
  hs.writeUIntBE(0, 6, 3); // fragment_offset
  hs.writeUIntBE(body.length, 9, 3);
  const rec = Buffer.alloc(13);
  rec[0] = 22; // handshake
  rec[1] = 0xfe;
  rec[2] = 0xfd;
  rec.writeUInt16BE(0, 3); // epoch
  rec.writeUIntBE(crypto.randomInt(1 << 30), 5, 6);
  rec.writeUInt16BE(hs.length + body.length, 11);
  return Buffer.concat([rec, hs, body]);
}

function child() {
  const dgram = require('node:dgram');
  const { minPort, maxPort, pps, sockets } = JSON.parse(process.argv[2]);
  const socks = [];
  for (let i = 0; i < sockets; i++) {
    for (const type of ['udp4', 'udp6']) {
      const s = dgram.createSocket(type);
      s.on('error', () => {});
      s.bind(0); // a random source port each
      socks.push({ s, host: type === 'udp4' ? '127.0.0.1' : '::1' });
    }
  }
  const hellos = Array.from({ length: 16 }, clientHello);
  let sent = 0;
  let port = minPort;
  let k = 0;
  const tickMs = 5;
  const perTick = Math.max(1, Math.round((pps * tickMs) / 1000));
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) {
      const { s, host } = socks[k++ % socks.length];
      s.send(hellos[sent % hellos.length], port, host);
      sent++;
      port = port >= maxPort ? minPort : port + 1;
    }
  }, tickMs);
  process.on('message', (m) => {
    if (m === 'stop') {
      clearInterval(timer);
      process.send({ sent }, () => process.exit(0));
    }
  });
}

function startDtlsFlood({ minPort, maxPort, pps = 8000, sockets = 32 }) {
  const proc = fork(__filename, [JSON.stringify({ minPort, maxPort, pps, sockets })], { stdio: 'inherit' });
  return {
    stop() {
      return new Promise((resolve) => {
        proc.once('message', resolve);
        proc.once('exit', () => resolve({ sent: -1 }));
        proc.send('stop');
      });
    },
  };
}

if (require.main === module) child();

module.exports = { startDtlsFlood, clientHello };
