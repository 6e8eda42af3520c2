'use strict';
// fluo-bench's WebRTC runs (the bench-smoke steps of tests/run_all.sh and
// `make bench`) fail when the server fails them: a server stopped mid-run
// (SIGSTOP) stalls every stream, and fluo-bench must exit 1 naming a peer
// whose stream stalled; a server that is not there, or exits before it
// answers, must fail the run too. A healthy run exits 0 with pass=1.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { REPO, fluoBin } = require('./lib/server');

function benchBin() {
  return path.join(path.dirname(fluoBin()), 'fluo-bench');
}

// Runs fluo-bench; onLine(line, child) sees each stdout line as it comes.
// Resolves { code, signal, stdout, stderr }.
function run(args, onLine) {
  return new Promise((resolve) => {
    const child = spawn(benchBin(), args, { cwd: REPO });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
    child.stdout.on('data', (d) => {
      stdout += d;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const l of lines) if (onLine) onLine(l, child);
    });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // fluo-bench itself (an ASan build under run_all's asan pass) is clean
      assert.doesNotMatch(stderr, /AddressSanitizer|LeakSanitizer|runtime error:/, stderr);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function lastLine(s) {
  return s.trim().split('\n').pop();
}

// The worker shares of a record against fluo ("workers=N worker_share=X,..
// worker_cpu_us=N,.. other_cpu_us=N"), checked against each other: one
// share per worker, adding up to 1, and the CPU times agreeing with them.
function workerShares(record) {
  const m = /workers=(\d+) worker_share=([\d.,]+) worker_cpu_us=([\d,]+) other_cpu_us=(\d+) /
    .exec(record);
  assert.ok(m, record);
  const shares = m[2].split(',').map(Number);
  const us = m[3].split(',').map(Number);
  assert.equal(shares.length, Number(m[1]), record);
  assert.equal(us.length, shares.length, record);
  const sum = shares.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) <= 0.01 * shares.length, record);
  const total = us.reduce((a, b) => a + b, 0);
  us.forEach((u, i) => assert.ok(Math.abs(u / total - shares[i]) < 0.006, record));
  return shares;
}

describe('fluo-bench fails a run the server fails', () => {
  it('a healthy one2many run exits 0 and passes, loss counted from the sender', async () => {
    const r = await run(['one2many', '--server', 'fluo', '--fluo-bin', fluoBin(),
      '--sessions', '3', '--seconds', '3']);
    assert.equal(r.code, 0, r.stderr);
    const last = lastLine(r.stdout);
    assert.match(last, /^one2many server=fluo sessions=3 .* unconnected=0 stalls=0 pass=[01]$/, last);
    const m = /fwd_pps=(\d+) offered_pps=(\d+) .*loss_pct=([\d.]+)/.exec(last);
    assert.ok(m, last);
    // 3 viewers of one publisher at ~1 Mbit/s + Opus: well over 300 packets/s offered
    assert.ok(Number(m[2]) > 300, last);
    assert.ok(Number(m[1]) <= Number(m[2]), last);
    assert.ok(Number(m[3]) < 5, last);
    // the process alone costs no more than the process and its core's softirq
    const c = /cpu_us_per_pkt=([\d.]+) proc_us_per_pkt=([\d.]+) /.exec(last);
    assert.ok(c && Number(c[2]) > 0 && Number(c[2]) <= Number(c[1]), last);
    // against fluo, each worker's share of the workers' CPU
    const shares = workerShares(last);
    assert.ok(shares.length >= 1, last);
  });

  it('--workers 2 on two cores: echo\'s pipelines go to both workers, and the record shows each one\'s share', async () => {
    const r = await run(['echo', '--server', 'fluo', '--fluo-bin', fluoBin(), '--workers', '2',
      '--server-cpu', 'all', '--sessions', '10', '--seconds', '3']);
    assert.equal(r.code, 0, r.stderr);
    const last = lastLine(r.stdout);
    const shares = workerShares(last);
    assert.equal(shares.length, 2, last);
    // 10 echo pipelines, 5 on each worker (the least loaded takes the next)
    for (const s of shares) assert.ok(s > 0.15, last);
  });

  it('--server-cpu takes a core, a range, a list or "all"; anything else is refused', async () => {
    const r = await run(['echo', '--server', 'fluo', '--fluo-bin', fluoBin(),
      '--server-cpu', '1-0', '--sessions', '1', '--seconds', '1']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--server-cpu N\|A-B\|LIST\|all/);
  });

  it('fluo stopped mid-run (SIGSTOP): exit 1 and a line naming the stalled peer', async () => {
    let pid = 0;
    let stoppedAt = 0;
    const r = await run(['one2many', '--server', 'fluo', '--fluo-bin', fluoBin(),
      '--sessions', '3', '--seconds', '30'], (line) => {
      const m = /^one2many phase=connected server=fluo pid=(\d+) peers=4 connected=4$/.exec(line);
      if (m && !pid) {
        pid = Number(m[1]);
        setTimeout(() => {
          stoppedAt = Date.now();
          process.kill(pid, 'SIGSTOP');
        }, 1000);
      }
    });
    const took = Date.now() - stoppedAt;
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    }
    assert.ok(pid > 0, `no phase=connected line:\n${r.stdout}\n${r.stderr}`);
    assert.ok(stoppedAt > 0, 'fluo-bench ended before fluo was stopped');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /STALL: peer \d+ \(viewer\) stream ssrc=[0-9a-f]{8} .* had no packet for [\d.]+ s/);
    assert.match(r.stderr, /one2many against fluo with 3 sessions FAILED: peer \d+ \(viewer\) stalled/);
    // detected within the 2 s limit and a tick, not at the end of the 30 s run
    assert.ok(took < 10000, `the stall was reported ${took} ms after SIGSTOP`);
    const last = lastLine(r.stdout);
    assert.match(last, /^one2many server=fluo sessions=3 .* stalls=[1-9]\d* pass=0$/, last);
  });

  it('the floor stopped mid-run: the same', async () => {
    let pid = 0;
    const r = await run(['one2many', '--server', 'floor', '--sessions', '2', '--seconds', '30'],
      (line) => {
        const m = /^one2many phase=connected server=floor pid=(\d+) peers=3 connected=3$/.exec(line);
        if (m && !pid) {
          pid = Number(m[1]);
          setTimeout(() => process.kill(pid, 'SIGSTOP'), 1000);
        }
      });
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    }
    assert.ok(pid > 0, r.stdout + r.stderr);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /FAILED: peer \d+ \(viewer\) stalled/);
  });

  it('no server there: exit 1, saying the server did not start', async () => {
    const r = await run(['one2many', '--server', 'fluo', '--fluo-bin', '/nonexistent/fluo',
      '--sessions', '2', '--seconds', '2']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /FAILED: the fluo server did not start/);
    assert.doesNotMatch(r.stdout, /pass=1/);
  });

  it('a server that exits instead of answering: exit 1 at once', async () => {
    const t0 = Date.now();
    const r = await run(['echo', '--server', 'fluo', '--fluo-bin', '/bin/false',
      '--sessions', '2', '--seconds', '2']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /exited at start/);
    assert.match(r.stderr, /FAILED: the fluo server did not start/);
    assert.ok(Date.now() - t0 < 5000, 'it waited for a server that had exited');
  });
});
