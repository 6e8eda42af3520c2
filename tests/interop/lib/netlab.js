'use strict';
// A small real network for media tests: Linux network namespaces joined by
// veth pairs through a router namespace, impairments applied in the router
// (iptables -m statistic for random loss, tc tbf for a rate limit: this
// kernel has no netem). Root only.
//
//              pub (10.201.2.2)
//               |
//   srv --------rt-------- v1 (10.201.3.2)
//   (10.201.1.2) | \
//               v2  v3 (10.201.5.2)
//     (10.201.4.2)
//
// Every namespace is "fq<pid>-<role>" (<pid>: the process that built the
// lab), role one of rt, srv, pub, v1, v2, v3. Each leaf has one interface "eth0"
// (10.201.N.2/24, a route to 10.201.0.0/16 via 10.201.N.1 and no default
// route); rt has "rt-<role>"
// (10.201.N.1/24) toward each leaf, ip_forward on, and an ifb device
// "ifb-<role>" per leaf that the ingress of rt-<role> is redirected to once
// an uplink rate is set (tbf shapes only what leaves an interface). Nothing
// links to the host's own network: traffic goes only between these
// namespaces.
//
// Direction names: "<role>:up" is what <role> sends into rt (iptables -i
// rt-<role>; tbf on ifb-<role>), "<role>:down" what rt sends to <role>
// (iptables -o rt-<role>; tbf on rt-<role>'s egress).
//
// From Node:
//   const { createLab, labFromEnv } = require('./netlab');
//   const lab = createLab();              // builds it; torn down on exit/SIGINT/SIGTERM
//   lab.exec('srv', ['ip', 'addr']);      // runs a command in a namespace (sync)
//   lab.loss('v1:down', 0.05);            // 5 % random loss toward v1
//   lab.clearLoss('v1:down');             // all loss rules of that direction
//   lab.rate('pub:up', '500kbit');        // tbf; opts { burst: '10kb', latency: '200ms' }
//   lab.liftRate('pub:up');              // tbf changed to 1 Gbit/s: its queue drains
//   lab.clearRate('pub:up');              // tbf deleted (what it queued is dropped)
//   lab.clearAll();                       // every impairment
//   lab.teardown();                       // kills what runs in the namespaces, deletes them
//
// The launcher (tests/interop/net/run.sh) does
//   node netlab.js exec srv -- CMD ARGS...
// which builds a lab, runs CMD inside the srv namespace with the lab's
// description in the environment (FLUO_NETLAB, JSON), tears the lab down
// when CMD exits (or on SIGINT/SIGTERM, forwarded to CMD first) and exits
// with CMD's status. Inside, labFromEnv() gives the same object (without
// ownership: it does not tear down). `node netlab.js cleanup` deletes the
// namespaces of crashed runs (fq<pid>-* whose pid is gone).

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROLES = ['srv', 'pub', 'v1', 'v2', 'v3'];
const SUBNET = { srv: 1, pub: 2, v1: 3, v2: 4, v3: 5 };
const NAME_RE = /^fq(\d+)-(rt|srv|pub|v1|v2|v3)$/;

function run(cmd, args, { allowFail = false } = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (allowFail) return null;
    const err = (e.stderr || '').toString().trim();
    throw new Error(`${cmd} ${args.join(' ')}: ${err || e.message}`);
  }
}

function listNamespaces() {
  const out = run('ip', ['netns', 'list'], { allowFail: true }) || '';
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

// Kills every process in namespace `ns` (SIGKILL), then deletes it.
function deleteNamespace(ns) {
  for (let i = 0; i < 3; i++) {
    const pids = (run('ip', ['netns', 'pids', ns], { allowFail: true }) || '')
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((p) => p > 0 && p !== process.pid);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch (_) {
        /* gone */
      }
    }
    // let the kernel reap them before the namespace goes
    run('sleep', ['0.1'], { allowFail: true });
  }
  run('ip', ['netns', 'del', ns], { allowFail: true });
  // lib/browser.js's wrapper scripts for Chromium in this namespace
  const tmp = os.tmpdir();
  for (const d of fs.readdirSync(tmp)) {
    if (d.startsWith(`fluo-chromium-${ns}-`)) fs.rmSync(path.join(tmp, d), { recursive: true, force: true });
  }
}

// Deletes the namespaces of earlier runs whose owner process is gone.
function cleanupStale() {
  const gone = [];
  for (const ns of listNamespaces()) {
    const m = NAME_RE.exec(ns);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    deleteNamespace(ns);
    gone.push(ns);
  }
  return gone;
}

class Lab {
  constructor(desc, owner) {
    this.prefix = desc.prefix;
    this.ns = desc.ns; // role -> namespace name
    this.addr = desc.addr; // role -> IPv4 address in its namespace
    this.owner = owner;
    this.torn = false;
    this.uplinkRedirect = new Set(desc.uplinkRedirect || []);
    this.lossRules = []; // [dirName, p, iptablesArgs]
  }

  describe() {
    return { prefix: this.prefix, ns: this.ns, addr: this.addr };
  }

  // Runs argv inside the role's namespace; returns stdout.
  exec(role, argv, opts) {
    return run('ip', ['netns', 'exec', this.ns[role], ...argv], opts);
  }

  _dir(dir) {
    const m = /^(srv|pub|v1|v2|v3):(up|down)$/.exec(dir);
    if (!m) throw new Error(`netlab: bad direction ${dir} (want <srv|pub|v1|v2|v3>:<up|down>)`);
    return { role: m[1], up: m[2] === 'up', iface: `rt-${m[1]}` };
  }

  _lossArgs(dir, p) {
    const d = this._dir(dir);
    return ['FORWARD', d.up ? '-i' : '-o', d.iface, '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP'];
  }

  // Random loss with probability p (0..1) on a direction, added to any
  // loss already there.
  loss(dir, p) {
    const args = this._lossArgs(dir, p);
    this.exec('rt', ['iptables', '-w', '-A', ...args]);
    this.lossRules.push([dir, p, args]);
  }

  clearLoss(dir) {
    this.lossRules = this.lossRules.filter(([d, , args]) => {
      if (dir && d !== dir) return true;
      this.exec('rt', ['iptables', '-w', '-D', ...args], { allowFail: true });
      return false;
    });
  }

  // Rate limit with tbf. opts: { burst ('10kb'), latency ('200ms') }.
  rate(dir, rate, opts = {}) {
    const d = this._dir(dir);
    let dev = d.iface;
    if (d.up) {
      dev = `ifb-${d.role}`;
      if (!this.uplinkRedirect.has(d.role)) {
        this.exec('rt', ['tc', 'qdisc', 'add', 'dev', d.iface, 'handle', 'ffff:', 'ingress']);
        this.exec('rt', ['tc', 'filter', 'add', 'dev', d.iface, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0',
          'action', 'mirred', 'egress', 'redirect', 'dev', dev]);
        this.uplinkRedirect.add(d.role);
      }
    }
    this.exec('rt', ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', opts.burst || '10kb',
      'latency', opts.latency || '200ms']);
  }

  // Lifts a rate limit the way a link that gets faster would: the tbf is
  // changed in place to 1 Gbit/s, so what it holds queued goes out instead
  // of being dropped with the qdisc (clearRate).
  liftRate(dir) {
    const d = this._dir(dir);
    const dev = d.up ? `ifb-${d.role}` : d.iface;
    this.exec('rt', ['tc', 'qdisc', 'change', 'dev', dev, 'root', 'tbf', 'rate', '1gbit', 'burst', '1mb', 'latency', '200ms']);
  }

  clearRate(dir) {
    const d = this._dir(dir);
    const dev = d.up ? `ifb-${d.role}` : d.iface;
    this.exec('rt', ['tc', 'qdisc', 'del', 'dev', dev, 'root'], { allowFail: true });
  }

  // tc -s statistics of the device shaping `dir` (sent, dropped, overlimits).
  rateStats(dir) {
    const d = this._dir(dir);
    const dev = d.up ? `ifb-${d.role}` : d.iface;
    const out = this.exec('rt', ['tc', '-s', 'qdisc', 'show', 'dev', dev], { allowFail: true }) || '';
    const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(out);
    return m ? { bytes: +m[1], packets: +m[2], dropped: +m[3], overlimits: +m[4] } : null;
  }

  clearAll() {
    this.clearLoss();
    for (const r of ROLES) {
      this.clearRate(`${r}:down`);
      this.clearRate(`${r}:up`);
    }
  }

  teardown() {
    if (this.torn || !this.owner) return;
    this.torn = true;
    // leaves first (the processes in them), the router last
    for (const role of [...ROLES, 'rt']) deleteNamespace(this.ns[role]);
  }
}

let current = null;

function onExitTeardown() {
  if (current) current.teardown();
}

// Builds the topology. Throws (after deleting what it made) on failure.
function createLab({ prefix = `fq${process.pid}`, handleSignals = true } = {}) {
  if (process.getuid && process.getuid() !== 0) throw new Error('netlab: needs root');
  cleanupStale();
  const ns = { rt: `${prefix}-rt` };
  const addr = {};
  for (const r of ROLES) {
    ns[r] = `${prefix}-${r}`;
    addr[r] = `10.201.${SUBNET[r]}.2`;
  }
  const lab = new Lab({ prefix, ns, addr }, true);
  current = lab;
  process.once('exit', onExitTeardown);
  if (handleSignals) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      process.once(sig, () => {
        onExitTeardown();
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
    }
  }
  try {
    for (const role of ['rt', ...ROLES]) {
      run('ip', ['netns', 'add', ns[role]]);
      run('ip', ['-n', ns[role], 'link', 'set', 'lo', 'up']);
    }
    run('ip', ['netns', 'exec', ns.rt, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const r of ROLES) {
      const n = SUBNET[r];
      const rtIf = `rt-${r}`;
      // created straight inside the namespaces: no name ever touches the host
      run('ip', ['link', 'add', rtIf, 'netns', ns.rt, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns[r]]);
      run('ip', ['-n', ns.rt, 'addr', 'add', `10.201.${n}.1/24`, 'dev', rtIf]);
      run('ip', ['-n', ns[r], 'addr', 'add', `10.201.${n}.2/24`, 'dev', 'eth0']);
      run('ip', ['-n', ns.rt, 'link', 'set', rtIf, 'up']);
      run('ip', ['-n', ns[r], 'link', 'set', 'eth0', 'up']);
      // the lab's range only, no default route: what a browser sends
      // elsewhere (e.g. DNS to the host's resolver) fails at once in its
      // own namespace instead of reaching rt
      run('ip', ['-n', ns[r], 'route', 'add', '10.201.0.0/16', 'via', `10.201.${n}.1`]);
      run('ip', ['-n', ns.rt, 'link', 'add', `ifb-${r}`, 'type', 'ifb']);
      run('ip', ['-n', ns.rt, 'link', 'set', `ifb-${r}`, 'up']);
    }
  } catch (e) {
    lab.teardown();
    current = null;
    throw e;
  }
  return lab;
}

// The lab described by FLUO_NETLAB (set by the launcher), or null.
function labFromEnv() {
  const s = process.env.FLUO_NETLAB;
  if (!s) return null;
  return new Lab(JSON.parse(s), false);
}

// `node netlab.js exec ROLE -- CMD ARGS...`
function cliExec(role, argv) {
  let lab;
  try {
    lab = createLab({ handleSignals: false });
  } catch (e) {
    process.stderr.write(`netlab: ${e.message}\n`);
    process.exit(2);
  }
  const child = spawn('ip', ['netns', 'exec', lab.ns[role], ...argv], {
    stdio: 'inherit',
    env: { ...process.env, FLUO_NETLAB: JSON.stringify(lab.describe()) },
  });
  let signalled = null;
  const forward = (sig) => {
    signalled = sig;
    try {
      child.kill(sig);
    } catch (_) {
      /* gone */
    }
    // give it a few seconds to close its browsers and servers
    setTimeout(() => {
      lab.teardown();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }, 5000).unref();
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  child.on('error', (e) => {
    process.stderr.write(`netlab: ${e.message}\n`);
    lab.teardown();
    process.exit(2);
  });
  child.on('exit', (code, sig) => {
    lab.teardown();
    const left = listNamespaces().filter((n) => n.startsWith(`${lab.prefix}-`));
    if (left.length) process.stderr.write(`netlab: namespaces left: ${left.join(' ')}\n`);
    if (signalled) process.exit(signalled === 'SIGINT' ? 130 : 143);
    process.exit(code === null ? 1 : code);
  });
}

if (require.main === module) {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'cleanup') {
    const gone = cleanupStale();
    if (gone.length) process.stdout.write(`netlab: deleted ${gone.join(' ')}\n`);
  } else if (cmd === 'exec' && rest.length >= 3 && rest[1] === '--') {
    cliExec(rest[0], rest.slice(2));
  } else {
    process.stderr.write('usage: node netlab.js exec <srv|pub|v1|v2|v3|rt> -- CMD ARGS... | node netlab.js cleanup\n');
    process.exit(2);
  }
}

module.exports = { createLab, labFromEnv, cleanupStale, listNamespaces, Lab, ROLES };
