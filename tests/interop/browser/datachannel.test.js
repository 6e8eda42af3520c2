'use strict';
// WebRTC data channels (WebRtcEndpoint's useDataChannels) with headless
// Chromium: Kurento's hello-world-data-channel (a browser channel through
// an endpoint connected to itself, beside looped-back video), two browsers
// (A's endpoint connected to B's), channels opened and closed from the
// server (createDataChannel / closeDataChannel, DataChannelOpened/Closed),
// a thousand of them, statistics, and peers that negotiate no data channel.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { call, fluoAndBrowserPerSuite, Signalling, browserOffers, recordEvents, releaseAtEnd, withTimeout } = require('../lib/kurento');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Until pred(dcInfo) holds.
async function waitDc(peer, pred, ms, what) {
  const end = Date.now() + ms;
  let info;
  for (;;) {
    info = await peer.dcInfo();
    if (pred(info)) return info;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; channels: ${JSON.stringify(info.map((c) => ({ ...c, messages: c.messages.length })))}`);
    await sleep(50);
  }
}

const find = (info, label, remote) => info.find((c) => c.label === label && (remote === undefined || c.remote === remote));

// What the browser sends: text, then binary of 1 B, 16 KiB and 256 KiB,
// then text of 16 KiB, then one of each kind empty.
const MESSAGES = [
  { text: 'hello from the browser' },
  { kind: 'binary', size: 1, seed: 1 },
  { kind: 'binary', size: 16384, seed: 2 },
  { kind: 'binary', size: 262144, seed: 3 },
  { kind: 'text', size: 16384, seed: 4 },
  { kind: 'binary', size: 0 },
  { kind: 'text', size: 0 },
];
const binaryOf = (m) => m.kind === 'binary';

function checkArrived(got, sums) {
  assert.equal(got.length, MESSAGES.length, `messages back: ${JSON.stringify(got.map((m) => m.size))}`);
  for (let i = 0; i < MESSAGES.length; i++) {
    const m = MESSAGES[i];
    const size = m.text !== undefined ? m.text.length : m.size;
    assert.equal(got[i].size, size, `message ${i}: size`);
    assert.equal(got[i].binary, binaryOf(m), `message ${i}: binary or text`);
    assert.equal(got[i].sum, sums[i], `message ${i}: content`);
  }
  assert.equal(got[0].text, MESSAGES[0].text);
}

describe('data channels with Chromium', { timeout: 240000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('hello-world-data-channel: messages come back whole and in order beside video', { timeout: 90000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({ name: 'dc-hello', audio: true, video: true, direction: 'sendrecv' });
    await peer.dcCreate('chat');
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    assert.match(offer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);

    const pipeline = await suite.env.client.create('MediaPipeline');
    const release = releaseAtEnd(t, pipeline);
    const ep = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
    let rec;
    const answer = await browserOffers(sig, ep, offer, {
      before: () => {
        rec = recordEvents(ep, ['DataChannelOpened', 'DataChannelClosed', 'Error']);
        return [ep.connect(ep)];
      },
    });
    assert.match(answer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);
    assert.match(answer, /a=sctp-port:5000/);
    assert.match(answer, /a=max-message-size:262144/);

    await waitDc(peer, (i) => find(i, 'chat') && find(i, 'chat').state === 'open', 20000, 'chat open');
    const opened = await rec.wait('DataChannelOpened');
    const chat = find(await peer.dcInfo(), 'chat');
    assert.equal(opened.channelId, chat.id, 'DataChannelOpened names the browser channel');

    const before = await peer.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30, 30000, { what: 'video decoding' });
    const sums = await peer.dcSend('chat', MESSAGES);
    const info = await waitDc(peer, (i) => find(i, 'chat').messages.length >= MESSAGES.length, 30000, 'echoes');
    checkArrived(find(info, 'chat').messages, sums);
    // no channel of the server's own: the echo came on the browser's channel
    assert.equal(info.length, 1, 'one channel');
    const after = await peer.waitFor((s) => s.inVideo.framesDecoded > before.inVideo.framesDecoded + 30, 20000, { what: 'video still decoding' });
    assert.ok(after.inVideo.framesDecoded > before.inVideo.framesDecoded);

    const stats = await ep.getStats('DATA');
    const all = Object.values(stats);
    const dcs = all.filter((s) => s.type === 'datachannel');
    assert.equal(dcs.length, 1, JSON.stringify(all.map((s) => s.type)));
    assert.equal(dcs[0].label, 'chat');
    assert.equal(dcs[0].datachannelid, chat.id);
    assert.equal(dcs[0].state, 'open');
    assert.equal(dcs[0].messagesReceived, MESSAGES.length);
    assert.equal(dcs[0].messagesSent, MESSAGES.length);
    const total = MESSAGES.reduce((n, m) => n + (m.text !== undefined ? m.text.length : m.size), 0);
    assert.equal(dcs[0].bytesReceived, total);
    assert.equal(dcs[0].bytesSent, total);
    const pcs = all.find((s) => s.type === 'session');
    assert.ok(pcs, 'RTCPeerConnectionStats');
    assert.equal(pcs.dataChannelsOpened, 1);
    assert.equal(pcs.dataChannelsClosed, 0);

    // the browser closes its channel: DataChannelClosed
    await peer.dcClose('chat');
    const closed = await rec.wait('DataChannelClosed');
    assert.equal(closed.channelId, chat.id);
    assert.deepEqual(rec.by.Error, []);
    await release();
    await peer.close();
  });

  it("two browsers: A's channel messages reach B", { timeout: 90000 }, async (t) => {
    const b = suite.env.browser;
    const pa = await b.newPeer({ name: 'dc-a', audio: false, video: true });
    const pb = await b.newPeer({ name: 'dc-b', audio: false, video: true });
    await pa.dcCreate('chat');
    await pb.dcCreate('b-own'); // B's offer carries an application section too
    const sa = new Signalling(pa);
    const sb = new Signalling(pb);
    const oa = await pa.createOffer();
    const ob = await pb.createOffer();
    const pipeline = await suite.env.client.create('MediaPipeline');
    const release = releaseAtEnd(t, pipeline);
    const ea = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
    const eb = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
    await withTimeout(Promise.all([ea.connect(eb), eb.connect(ea)]), 10000, 'connects');
    const recB = recordEvents(eb, ['DataChannelOpened']);
    await browserOffers(sa, ea, oa);
    await browserOffers(sb, eb, ob);
    await waitDc(pa, (i) => find(i, 'chat').state === 'open', 20000, 'A: chat open');
    await waitDc(pb, (i) => find(i, 'b-own').state === 'open', 20000, 'B: b-own open');

    const sums = await pa.dcSend('chat', MESSAGES);
    // fluo opened a "chat" channel to B (B had none) and forwards on it
    const info = await waitDc(pb, (i) => find(i, 'chat', true) && find(i, 'chat', true).messages.length >= MESSAGES.length, 30000, 'B: messages from A');
    checkArrived(find(info, 'chat', true).messages, sums);
    const chatB = find(info, 'chat', true);
    assert.equal(chatB.ordered, true);
    await recB.wait('DataChannelOpened', (e) => e.channelId === chatB.id);
    // and back: B answers on it, A gets it on its own channel
    await pb.dcSend('chat', [{ text: 'hi A' }]);
    const infoA = await waitDc(pa, (i) => find(i, 'chat').messages.length >= 1, 20000, 'A: reply');
    assert.equal(find(infoA, 'chat').messages[0].text, 'hi A');
    await release();
    await pa.close();
    await pb.close();
  });

  it('two loopbacks at once (pipelines spread over the workers): each gets its own echoes', { timeout: 90000 }, async (t) => {
    const b = suite.env.browser;
    const run = async (name) => {
      const peer = await b.newPeer({ name, audio: false, video: true });
      await peer.dcCreate('chat');
      const sig = new Signalling(peer);
      const offer = await peer.createOffer();
      const pipeline = await suite.env.client.create('MediaPipeline');
      t.after(() => pipeline.release().catch(() => {}));
      const ep = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
      await browserOffers(sig, ep, offer, { before: () => [ep.connect(ep)] });
      await waitDc(peer, (i) => find(i, 'chat').state === 'open', 20000, `${name}: chat open`);
      return peer;
    };
    const peers = await Promise.all([run('dc-w1'), run('dc-w2')]);
    const sums = await Promise.all(peers.map((p) => p.dcSend('chat', MESSAGES)));
    for (let i = 0; i < 2; i++) {
      const info = await waitDc(peers[i], (x) => find(x, 'chat').messages.length >= MESSAGES.length, 30000, `echoes ${i}`);
      checkArrived(find(info, 'chat').messages, sums[i]);
    }
    for (const p of peers) await p.close();
  });

  it('createDataChannel and closeDataChannel from the server, a thousand times', { timeout: 120000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({ name: 'dc-srv', audio: false, video: true });
    await peer.dcCreate('control');
    const sig = new Signalling(peer);
    const offer = await peer.createOffer();
    const pipeline = await suite.env.client.create('MediaPipeline');
    const release = releaseAtEnd(t, pipeline);
    const ep = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
    const rec = recordEvents(ep, ['DataChannelOpened', 'DataChannelClosed', 'Error']);
    await browserOffers(sig, ep, offer);
    await waitDc(peer, (i) => find(i, 'control').state === 'open', 20000, 'control open');
    const controlId = find(await peer.dcInfo(), 'control').id;
    await rec.wait('DataChannelOpened', (e) => e.channelId === controlId);

    // options reach the browser
    await ep.createDataChannel('srv', false, -1, 3, 'proto');
    const info = await waitDc(peer, (i) => find(i, 'srv', true) && find(i, 'srv', true).state === 'open', 20000, 'srv announced');
    const srv = find(info, 'srv', true);
    assert.equal(srv.ordered, false);
    assert.equal(srv.maxRetransmits, 3);
    assert.equal(srv.maxPacketLifeTime, null);
    assert.equal(srv.protocol, 'proto');
    const opened = await rec.wait('DataChannelOpened', (e) => e.channelId === srv.id);
    assert.equal(opened.channelId % 2, srv.id % 2);
    await ep.createDataChannel('timed', true, 500, -1, '');
    const timed = find(await waitDc(peer, (i) => find(i, 'timed', true), 20000, 'timed'), 'timed', true);
    assert.equal(timed.maxPacketLifeTime, 500);
    assert.equal(timed.maxRetransmits, null);
    // (the callback form: without one, kurento-client swallows the error)
    await assert.rejects(call(ep, 'createDataChannel', 'bad', true, 10, 3, ''), /cannot both be set/);

    await ep.closeDataChannel(srv.id);
    await waitDc(peer, (i) => find(i, 'srv', true).state === 'closed', 20000, 'srv closed');
    await rec.wait('DataChannelClosed', (e) => e.channelId === srv.id);
    await assert.rejects(call(ep, 'closeDataChannel', 9999), /no data channel/);

    // a thousand channels, fifty at a time
    const N = 1000;
    for (let done = 0; done < N; done += 50) {
      const base = rec.by.DataChannelOpened.length;
      await Promise.all(Array.from({ length: 50 }, (_, i) => ep.createDataChannel(`n${done + i}`)));
      const end = Date.now() + 20000;
      while (rec.by.DataChannelOpened.length < base + 50) {
        if (Date.now() > end) throw new Error(`batch ${done}: ${rec.by.DataChannelOpened.length - base} of 50 opened`);
        await sleep(20);
      }
      const ids = rec.by.DataChannelOpened.slice(base).map((e) => e.channelId);
      const closedBase = rec.by.DataChannelClosed.length;
      await Promise.all(ids.map((id) => ep.closeDataChannel(id)));
      while (rec.by.DataChannelClosed.length < closedBase + 50) {
        if (Date.now() > end + 20000) throw new Error(`batch ${done}: ${rec.by.DataChannelClosed.length - closedBase} of 50 closed`);
        await sleep(20);
      }
    }
    const after = await peer.dcInfo();
    const seen = after.filter((c) => /^n\d+$/.test(c.label));
    assert.equal(seen.length, N, 'the browser saw every channel');
    assert.ok(seen.every((c) => c.state === 'closed'), 'and every one closed');
    const stats = Object.values(await ep.getStats('DATA'));
    const pcs = stats.find((s) => s.type === 'session');
    assert.equal(pcs.dataChannelsOpened, N + 3);
    assert.equal(pcs.dataChannelsClosed, N + 1);
    assert.equal(stats.filter((s) => s.type === 'datachannel').length, 2, 'control and timed left');
    assert.deepEqual(rec.by.Error, []);
    await release();
    await peer.close();
  });

  it('generateOffer with data channels: the browser answers, channels open both ways', { timeout: 90000 }, async (t) => {
    const peer = await suite.env.browser.newPeer({ name: 'dc-answerer', audio: true, video: true, direction: 'recvonly' });
    const sig = new Signalling(peer);
    const pipeline = await suite.env.client.create('MediaPipeline');
    const release = releaseAtEnd(t, pipeline);
    const ep = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
    sig.attach(ep);
    const rec = recordEvents(ep, ['DataChannelOpened', 'Error']);
    await ep.connect(ep);
    const offer = await withTimeout(ep.generateOffer(), 10000, 'generateOffer');
    assert.deepEqual([...offer.matchAll(/^m=(\w+) /gm)].map((m) => m[1]), ['audio', 'video', 'application']);
    assert.match(offer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel\r\n/);
    assert.match(offer, /a=group:BUNDLE 0 1 2/);
    await sig.applyRemote('offer', offer);
    const answer = await peer.createAnswer();
    assert.match(answer, /m=application 9 UDP\/DTLS\/SCTP webrtc-datachannel/);
    await withTimeout(ep.processAnswer(answer), 10000, 'processAnswer');
    await withTimeout(ep.gatherCandidates(), 10000, 'gatherCandidates');
    // a channel from the server, asked for before DTLS is up (it waits for
    // the association); fluo is the DTLS server here: odd ids
    await call(ep, 'createDataChannel', 'from-server', true, -1, -1, '');
    const info = await waitDc(peer, (i) => find(i, 'from-server', true) && find(i, 'from-server', true).state === 'open', 20000, 'from-server');
    const ch = find(info, 'from-server', true);
    assert.equal(ch.id % 2, 1);
    await rec.wait('DataChannelOpened', (e) => e.channelId === ch.id);
    // the browser's messages on it loop back to it
    const sums = await peer.dcSend('from-server', MESSAGES);
    const back = await waitDc(peer, (i) => find(i, 'from-server', true).messages.length >= MESSAGES.length, 30000, 'echoes');
    checkArrived(find(back, 'from-server', true).messages, sums);
    assert.deepEqual(rec.by.Error, []);
    await release();
    await peer.close();
  });

  it('a browser without data channels negotiates as before; one with them, to an endpoint without', { timeout: 90000 }, async (t) => {
    const b = suite.env.browser;
    const plain = await b.newPeer({ name: 'dc-none', audio: true, video: true });
    const sig = new Signalling(plain);
    const offer = await plain.createOffer();
    assert.doesNotMatch(offer, /m=application/);
    const pipeline = await suite.env.client.create('MediaPipeline');
    const release = releaseAtEnd(t, pipeline);
    const ep = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
    const answer = await browserOffers(sig, ep, offer, { before: () => [ep.connect(ep)] });
    assert.doesNotMatch(answer, /m=application/);
    await plain.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30, 30000, { what: 'video' });
    await assert.rejects(call(ep, 'createDataChannel', 'x'), /no data channels/);

    const other = await b.newPeer({ name: 'dc-refused', audio: false, video: true });
    await other.dcCreate('chat');
    const sig2 = new Signalling(other);
    const offer2 = await other.createOffer();
    const ep2 = await pipeline.create('WebRtcEndpoint');
    const answer2 = await browserOffers(sig2, ep2, offer2, { before: () => [ep2.connect(ep2)] });
    assert.match(answer2, /m=application 0 UDP\/DTLS\/SCTP webrtc-datachannel/);
    await other.waitFor((s) => s.inVideo && s.inVideo.framesDecoded > 30, 30000, { what: 'video without data channels' });
    await release();
    await plain.close();
    await other.close();
  });
});
