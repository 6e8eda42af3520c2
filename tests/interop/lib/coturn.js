'use strict';
// coturn on 127.0.0.1 with a static long-term credential (user u, password p,
// realm fluo), as tests/unit/ice/test_turn_coturn.c runs it.
//
//   const turn = await startCoturn();   // { port, url, iceServer, stop() }
//   browser peer: { iceServers: [turn.iceServer], iceTransportPolicy: 'relay' }

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { freePort, sleep } = require('./server');

const TURNSERVER = '/usr/bin/turnserver';

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function startCoturn(opts = {}) {
  if (!fs.existsSync(TURNSERVER)) throw new Error(`${TURNSERVER} not found (install: sh tests/tools/deps.sh)`);
  const port = opts.port || (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-coturn-'));
  const user = opts.user || 'u';
  const password = opts.password || 'p';
  const args = [
    '-n',
    '--user', `${user}:${password}`,
    '--realm', 'fluo',
    '--lt-cred-mech',
    '--listening-ip', '127.0.0.1',
    '--relay-ip', '127.0.0.1',
    '--allow-loopback-peers',
    '--no-tls',
    '--no-dtls',
    '--no-cli',
    '--listening-port', String(port),
    '--pidfile', path.join(dir, 'pid'),
    '--userdb', path.join(dir, 'db'),
    '--log-file', 'stdout',
  ];
  const proc = spawn(TURNSERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  let exited = false;
  const exitP = new Promise((r) => proc.on('exit', () => ((exited = true), r())));
  const stop = async () => {
    if (!exited) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exitP;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const end = Date.now() + 10000;
  while (!(await canConnect(port))) {
    if (exited || Date.now() > end) {
      await stop();
      throw new Error(`coturn did not listen on 127.0.0.1:${port}; log:\n${log.slice(-2000)}`);
    }
    await sleep(20);
  }
  const url = `turn:127.0.0.1:${port}?transport=udp`;
  return {
    port,
    url,
    user,
    password,
    iceServer: { urls: [url], username: user, credential: password },
    get log() {
      return log;
    },
    stop,
  };
}

module.exports = { startCoturn };
