'use strict';
// WHIP (RFC 9725) and WHEP against fluo's control port, from headless Chromium
// pages using plain fetch (no kurento-client in the page). The pages come from
// the harness's own page server (another origin than fluo's port), so every
// request is cross-origin: preflights, CORS answers and exposed headers are
// real. A publisher POSTs its offer to /whip/cam and PATCHes its trickled
// candidates; a viewer POSTs to /whep/cam and must decode the video at about
// the fake camera's rate. kurento-client sees the pipeline ("whip:cam") in
// getPipelines and records from the publisher's WebRtcEndpoint. Then the bad
// cases: a wrong token (401), a wrong If-Match (412), a malformed SDP (400
// with a reason), a second publisher (409), nothing to watch (404); DELETE
// ends it all (the viewer's frames stop, getPipelines forgets it).
// Then a WHIP/WHEP client nobody here wrote: the npm whip-whep package
// (medooze's WHIPClient and WHEPClient), run in Chromium pages as is.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fluoAndBrowserPerSuite, call, sleep } = require('../lib/kurento');
const { startServer, sanitizerFindings } = require('../lib/server');

const TOKEN = 's3cret-whip';

// fetch from inside the page; the answer's status, readable headers and body.
function pageFetch(peer, url, init) {
  return peer.page.evaluate(
    async ([u, i]) => {
      const r = await fetch(u, i);
      const headers = {};
      for (const k of ['location', 'etag', 'link', 'content-type', 'accept-patch']) {
        const v = r.headers.get(k);
        if (v !== null) headers[k] = v;
      }
      return { status: r.status, headers, body: await r.text() };
    },
    [url, init],
  );
}

function auth(extra = {}, token = TOKEN) {
  return { Authorization: `Bearer ${token}`, ...extra };
}

// The candidates the page trickles, PATCHed to the resource as sdpfrags;
// resolves with the statuses once gathering is done and end-of-candidates sent.
async function trickle(peer, url, etag, ufrag) {
  const statuses = [];
  const sends = [];
  peer.onIceCandidate((c) => {
    const frag = `a=ice-ufrag:${ufrag}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:${c.sdpMid}\r\na=${c.candidate}\r\n`;
    sends.push(
      pageFetch(peer, url, {
        method: 'PATCH',
        headers: auth({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }),
        body: frag,
      }).then((r) => statuses.push(r.status)),
    );
  });
  await peer.waitGatheringDone();
  const end = `a=ice-ufrag:${ufrag}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=end-of-candidates\r\n`;
  sends.push(
    pageFetch(peer, url, {
      method: 'PATCH',
      headers: auth({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }),
      body: end,
    }).then((r) => statuses.push(r.status)),
  );
  await Promise.all(sends);
  return statuses;
}

const ufragOf = (sdp) => /a=ice-ufrag:(\S+)/.exec(sdp)[1];

// A page of the other origin with the npm whip-whep clients on window.
async function clientPage(browser, name) {
  const context = await browser.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${browser.base}/peer/${name}`);
  for (const [file, cls] of [['whip.js', 'WHIPClient'], ['whep.js', 'WHEPClient']]) {
    const code = fs.readFileSync(require.resolve(`whip-whep/${file}`), 'utf8');
    await page.addScriptTag({ type: 'module', content: `${code}\nwindow.${cls} = ${cls};\n` });
  }
  await page.waitForFunction(() => window.WHIPClient && window.WHEPClient);
  return { page, close: () => context.close() };
}

// The pipelines with their names; one released between the listing and its
// getName (a WHIP resource ending on the server's tick) is left out.
async function namedPipelines(client) {
  const manager = await client.getServerManager();
  const out = [];
  for (const p of await manager.getPipelines()) {
    try {
      out.push({ p, name: await call(p, 'getName') });
    } catch (e) {
      if (e.code !== 40101) throw e; // MEDIA_OBJECT_NOT_FOUND: gone meanwhile
    }
  }
  return out;
}

async function findPipeline(client, name) {
  const found = (await namedPipelines(client)).find((x) => x.name === name);
  return found ? found.p : null;
}

async function pipelineNames(client) {
  return (await namedPipelines(client)).map((x) => x.name);
}

describe('WHIP and WHEP with Chromium and plain fetch', { timeout: 120000 }, () => {
  const suite = fluoAndBrowserPerSuite({ server: { args: ['--whip-token', TOKEN] } });

  it('publishes, watches, records, refuses what it must, and ends on DELETE', { timeout: 100000 }, async () => {
    const { srv, browser, client } = suite.env;
    const base = `http://127.0.0.1:${srv.port}`;
    const pub = await browser.newPeer({ name: 'whip-pub', direction: 'sendonly' });
    assert.notEqual(new URL(browser.base).origin, base, 'the page comes from another origin');

    // No token, a wrong one: 401 (the page reads the status through CORS).
    const offer = await pub.createOffer();
    const sdpPost = (token) => ({ method: 'POST', headers: auth({ 'Content-Type': 'application/sdp' }, token), body: offer });
    assert.equal((await pageFetch(pub, `${base}/whip/cam`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer })).status, 401);
    assert.equal((await pageFetch(pub, `${base}/whip/cam`, sdpPost('wrong'))).status, 401);

    // Publish.
    const res = await pageFetch(pub, `${base}/whip/cam`, sdpPost(TOKEN));
    assert.equal(res.status, 201, res.body);
    assert.match(res.headers['content-type'], /^application\/sdp/);
    assert.match(res.headers.location, /^\/whip\/cam\/[0-9a-f-]{36}$/);
    assert.match(res.headers.etag, /^"[0-9a-f]+"$/);
    assert.equal(res.headers['accept-patch'], 'application/trickle-ice-sdpfrag');
    assert.match(res.body, /^v=0\r\n/);
    assert.match(res.body, /\r\na=candidate:\S+ 1 udp \d+ \S+ \d+ typ host/, 'our candidates in the answer');
    assert.match(res.body, /a=end-of-candidates/);
    assert.match(res.body, /a=recvonly/);
    await pub.setRemoteDescription('answer', res.body);
    const pubUrl = base + res.headers.location;
    const statuses = await trickle(pub, pubUrl, res.headers.etag, ufragOf(offer));
    assert.ok(statuses.length >= 2, 'candidates and end-of-candidates PATCHed');
    assert.deepEqual([...new Set(statuses)], [204]);
    await pub.waitFor((s) => s.outVideo && s.outVideo.packetsSent > 50, 20000, { what: 'publisher sending' });

    // PATCH with a stale ETag; ICE restart; a second publisher; malformed SDP.
    const frag = (ufrag) => `a=ice-ufrag:${ufrag}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=end-of-candidates\r\n`;
    const patch = (etag, body) =>
      pageFetch(pub, pubUrl, { method: 'PATCH', headers: auth({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }), body });
    assert.equal((await patch('"0000"', frag(ufragOf(offer)))).status, 412);
    assert.equal((await patch('*', frag('restart1'))).status, 422);
    assert.equal((await pageFetch(pub, `${base}/whip/cam`, sdpPost(TOKEN))).status, 409);
    const bad = await pageFetch(pub, `${base}/whip/junk`, { method: 'POST', headers: auth({ 'Content-Type': 'application/sdp' }), body: 'v=0\r\nm=video 9 FOO 96\r\n' });
    assert.equal(bad.status, 400);
    assert.ok(bad.body.trim().length > 5, `a reason: ${bad.body}`);
    assert.equal((await pageFetch(pub, `${base}/whep/nothing`, sdpPost(TOKEN))).status, 404);

    // Watch: the viewer decodes at about the camera's rate.
    const view = await browser.newPeer({ name: 'whep-view', direction: 'recvonly' });
    const vOffer = await view.createOffer();
    const vres = await pageFetch(view, `${base}/whep/cam`, { method: 'POST', headers: auth({ 'Content-Type': 'application/sdp' }), body: vOffer });
    assert.equal(vres.status, 201, vres.body);
    assert.match(vres.headers.location, /^\/whep\/cam\/[0-9a-f-]{36}$/);
    assert.match(vres.body, /a=sendonly/);
    await view.setRemoteDescription('answer', vres.body);
    const vUrl = base + vres.headers.location;
    assert.deepEqual([...new Set(await trickle(view, vUrl, vres.headers.etag, ufragOf(vOffer)))], [204]);
    await view.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30, 30000, { what: 'viewer decoding' });
    // Frames decoded by the viewer against frames encoded by the publisher, over the same 3 s.
    const [v0, p0] = [await view.stats(), await pub.stats()];
    await sleep(3000);
    const [v1, p1] = [await view.stats(), await pub.stats()];
    const decoded = v1.inVideo.framesDecoded - v0.inVideo.framesDecoded;
    const encoded = p1.outVideo.framesEncoded - p0.outVideo.framesEncoded;
    console.log(`# WHEP viewer: ${decoded} frames decoded in 3 s, the WHIP publisher encoded ${encoded}`);
    assert.ok(encoded > 15, `the publisher encodes (${encoded} frames in 3 s)`);
    assert.ok(decoded >= encoded * 0.8, `the viewer decodes ${decoded} of ${encoded} frames`);

    // kurento-client sees the pipeline and can record the publisher.
    const manager = await client.getServerManager();
    let pipeline = null;
    for (const p of await manager.getPipelines()) if ((await call(p, 'getName')) === 'whip:cam') pipeline = p;
    assert.ok(pipeline, 'getPipelines lists whip:cam');
    const children = await pipeline.getChildren();
    assert.equal(children.length, 2, 'publisher and viewer WebRtcEndpoints');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-whip-')), 'pub.webm');
    const recorder = await pipeline.create('RecorderEndpoint', { uri: `file://${file}` });
    const pubEp = children[0];
    await call(pubEp, 'connect', recorder);
    await call(recorder, 'record');
    await sleep(2000);
    await call(recorder, 'stopAndWait');
    assert.ok(fs.statSync(file).size > 10000, `recorded ${fs.statSync(file).size} bytes from the WHIP endpoint`);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });

    // DELETE the publisher: the viewer's frames stop, the pipeline goes.
    const del = await pageFetch(pub, pubUrl, { method: 'DELETE', headers: auth() });
    assert.equal(del.status, 200);
    await sleep(1000);
    const a = (await view.stats()).inVideo.framesDecoded;
    await sleep(1500);
    const b = (await view.stats()).inVideo.framesDecoded;
    assert.ok(b - a <= 1, `viewer frames stopped (${a} -> ${b})`);
    const names = [];
    for (const p of await manager.getPipelines()) names.push(await call(p, 'getName'));
    assert.ok(!names.includes('whip:cam'), `getPipelines after DELETE: ${names}`);
    assert.equal((await pageFetch(pub, pubUrl, { method: 'DELETE', headers: auth() })).status, 404);
    assert.equal((await pageFetch(view, vUrl, { method: 'DELETE', headers: auth() })).status, 404);
    // Still serving: the name is free again.
    assert.equal((await pageFetch(pub, `${base}/whep/cam`, sdpPost(TOKEN))).status, 404);
    await view.close();
    await pub.close();
  });

  it('a WHIP/WHEP client nobody here wrote (npm whip-whep) publishes and watches', { timeout: 60000 }, async () => {
    const { srv, browser, client } = suite.env;
    const base = `http://127.0.0.1:${srv.port}`;
    const pub = await clientPage(browser, 'ext-pub');
    const view = await clientPage(browser, 'ext-view');
    try {
      await pub.page.evaluate(
        async ([url, token]) => {
          const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
          const pc = new RTCPeerConnection();
          for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
          window.whip = new window.WHIPClient();
          window.pc = pc;
          await window.whip.publish(pc, url, token);
        },
        [`${base}/whip/ext`, TOKEN],
      );
      assert.ok((await pipelineNames(client)).includes('whip:ext'), 'getPipelines lists whip:ext');
      await view.page.evaluate(
        async ([url, token]) => {
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'recvonly' });
          pc.addTransceiver('audio', { direction: 'recvonly' });
          window.whep = new window.WHEPClient();
          window.pc = pc;
          await window.whep.view(pc, url, token);
        },
        [`${base}/whep/ext`, TOKEN],
      );
      const decoded = () =>
        view.page.evaluate(async () => {
          let n = 0;
          (await window.pc.getStats()).forEach((r) => {
            if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0;
          });
          return n;
        });
      const end = Date.now() + 20000;
      let frames = 0;
      while ((frames = await decoded()) < 30 && Date.now() < end) await sleep(200);
      assert.ok(frames >= 30, `the whip-whep viewer decoded ${frames} frames`);
      // The viewer's own stop() (DELETE of its resource); the publisher closes
      // its RTCPeerConnection without DELETE: its DTLS close ends it too.
      await view.page.evaluate(() => window.whep.stop());
      assert.equal((await call(await findPipeline(client, 'whip:ext'), 'getChildren')).length, 1, 'the viewer released');
      await pub.page.evaluate(() => window.pc.close());
      const gone = Date.now() + 5000;
      while ((await pipelineNames(client)).includes('whip:ext') && Date.now() < gone) await sleep(100);
      assert.ok(!(await pipelineNames(client)).includes('whip:ext'), 'whip:ext released once the publisher closed');
      const again = await pageFetch(pub, `${base}/whip/ext`, { method: 'POST', headers: auth({ 'Content-Type': 'application/sdp' }), body: 'v=0\r\n' });
      assert.equal(again.status, 400, 'the name is free again (a bad offer, not 409)');
    } finally {
      await view.close();
      await pub.close();
    }
  });

  it('without a browser: ICE servers as Link fields, the maxSessions cap, CORS preflight', { timeout: 30000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fluo-whip-conf-'));
    const conf = path.join(dir, 'fluo.conf.json');
    fs.writeFileSync(
      conf,
      JSON.stringify({
        fluo: { whip: { maxSessions: 1, connectTimeout: 2 } },
        WebRtcEndpoint: { stunServerAddress: '127.0.0.1', stunServerPort: 9, turnURL: 'user:pass@127.0.0.1:9' },
      }),
    );
    const srv = await startServer({ args: ['--config', conf] });
    try {
      const base = `http://127.0.0.1:${srv.port}`;
      const offer = fs.readFileSync(path.join(__dirname, '..', '..', 'data', 'sdp', 'chromium_offer.sdp'), 'utf8');
      const pre = await fetch(`${base}/whip/x`, { method: 'OPTIONS' });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), '*');
      assert.match(pre.headers.get('access-control-allow-headers'), /Authorization.*Content-Type.*If-Match/);
      assert.match(pre.headers.get('access-control-allow-methods'), /POST.*PATCH.*DELETE/);
      // No token configured: open.
      const r = await fetch(`${base}/whip/x`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
      assert.equal(r.status, 201);
      const links = r.headers.get('link');
      assert.match(links, /<stun:127\.0\.0\.1:9>; rel="ice-server"/);
      assert.match(links, /<turn:127\.0\.0\.1:9\?transport=udp>; rel="ice-server"; username="user"; credential="pass"; credential-type="password"/);
      assert.equal(r.headers.get('access-control-expose-headers'), 'Location, ETag, Link, Accept-Patch');
      const loc = r.headers.get('location');
      const more = await fetch(`${base}/whip/y`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
      assert.equal(more.status, 503, 'past fluo.whip.maxSessions');
      assert.equal((await fetch(`${base}/whip/y`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: offer })).status, 415);
      assert.equal((await fetch(`${base}/whip/y`, { method: 'GET' })).status, 405);
      assert.equal((await fetch(`${base}/whip/bad%20name`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer })).status, 404);
      assert.equal((await fetch(base + loc, { method: 'DELETE' })).status, 200);
      const again = await fetch(`${base}/whip/y`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
      assert.equal(again.status, 201, 'a place again after DELETE');
      await again.text();
      // its client never connects (nothing sends to our candidates): after
      // fluo.whip.connectTimeout it ends and its place is free
      await new Promise((r) => setTimeout(r, 3000));
      const freed = await fetch(`${base}/whip/z`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
      assert.equal(freed.status, 201, 'the never-connected resource was ended');
      await freed.text();
    } finally {
      const res = await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(res.code, 0, res.stderr.slice(-2000));
      assert.deepEqual(sanitizerFindings(res.stderr), []);
    }
  });
});
