'use strict';
// Kurento's group-call tutorial (tutorials/java/group-call) against fluo:
// 4 participants in one pipeline. Per participant: an outgoingMedia
// WebRtcEndpoint (created with its IceCandidateFound listener when the
// participant joins) fed by its sendonly browser peer, and for each other
// participant an incoming WebRtcEndpoint fed by that participant's
// outgoingMedia, seen by a recvonly browser peer.
// receiveVideoFrom(sender, offer), as UserSession does it with the blocking
// Java client: getEndpointForUser(sender) [self: outgoingMedia; other: create
// WebRtcEndpoint -> subscribe IceCandidateFound -> sender.outgoing.connect(incoming)]
// -> processOffer -> answer to the browser -> gatherCandidates.
// Leaving: every other participant releases its incoming endpoint for the
// one leaving, which releases its own incoming ones and its outgoingMedia;
// the empty room releases the pipeline.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { waitSameResolution } = require('../lib/browser');
const { fluoAndBrowserPerSuite, Signalling, withTimeout, sleep, releaseAtEnd } = require('../lib/kurento');

// The tutorial's constraints: 320 px wide, 15 fps.
const VIDEO = { width: 320, height: 240, frameRate: 15 };

describe('group-call with Chromium (4 participants)', { timeout: 180000 }, () => {
  const suite = fluoAndBrowserPerSuite();

  it('every participant decodes the other three', { timeout: 160000 }, async (t) => {
    const b = suite.env.browser;
    const pipeline = await suite.env.client.create('MediaPipeline');
    const releasePipeline = releaseAtEnd(t, pipeline);
    const room = new Map(); // name -> participant

    async function receiveVideoFrom(user, sender, sig, offer) {
      let ep;
      if (sender === user) {
        ep = user.outgoing;
      } else {
        ep = await pipeline.create('WebRtcEndpoint');
        sig.attach(ep); // flush + IceCandidateFound listener
        await withTimeout(sender.outgoing.connect(ep), 10000, `${sender.name}.outgoing.connect(incoming of ${user.name})`);
      }
      sig.markProcessOffer();
      const answer = await withTimeout(ep.processOffer(offer), 10000, `${user.name} <- ${sender.name}: processOffer`);
      await sig.applyRemote('answer', answer);
      await withTimeout(ep.gatherCandidates(), 10000, `${user.name} <- ${sender.name}: gatherCandidates`);
      return ep;
    }

    // The browser of `user` asks for `sender`'s video with a recvonly peer.
    async function receiveVideo(user, sender) {
      const peer = await b.newPeer({ name: `${user.name}<-${sender.name}`, direction: 'recvonly' });
      const sig = new Signalling(peer);
      const offer = await peer.createOffer();
      const ep = await receiveVideoFrom(user, sender, sig, offer);
      user.incoming.set(sender.name, { peer, sig, ep });
    }

    async function join(name) {
      // Server: new UserSession -> outgoingMedia + IceCandidateFound listener.
      const outgoing = await pipeline.create('WebRtcEndpoint');
      const user = { name, outgoing, incoming: new Map(), sendPeer: null, sendSig: null };
      const existing = [...room.values()];
      room.set(name, user);
      // Browser: its own sendonly peer first (receiveVideoFrom self) ...
      user.sendPeer = await b.newPeer({ name: `${name}-send`, direction: 'sendonly', video: VIDEO });
      user.sendSig = new Signalling(user.sendPeer);
      user.sendSig.attach(outgoing);
      const offer = await user.sendPeer.createOffer();
      await receiveVideoFrom(user, user, user.sendSig, offer);
      // ... then one recvonly peer per existing participant; and each of
      // those gets a recvonly peer for the newcomer (newParticipantArrived).
      for (const other of existing) await receiveVideo(user, other);
      for (const other of existing) await receiveVideo(other, user);
    }

    async function leave(name) {
      const user = room.get(name);
      room.delete(name);
      for (const other of room.values()) {
        const inc = other.incoming.get(name);
        other.incoming.delete(name);
        await inc.ep.release();
        await inc.peer.close();
      }
      for (const inc of user.incoming.values()) {
        await inc.ep.release();
        await inc.peer.close();
      }
      await user.outgoing.release();
      await user.sendPeer.close();
    }

    for (const name of ['alice', 'bob', 'carol', 'dave']) await join(name);

    for (const user of room.values()) {
      assert.equal(user.incoming.size, 3, `${user.name} receives from 3 others`);
      for (const [from, inc] of user.incoming) {
        const st = await inc.peer.waitFor(
          (s) => s.inVideo && s.inVideo.framesDecoded > 30 && s.inAudio && s.inAudio.packetsReceived > 20,
          30000,
          { what: `${user.name} decodes ${from}` },
        );
        assert.equal(st.outVideo, null);
        await waitSameResolution(room.get(from).sendPeer, inc.peer);
        await inc.sig.check();
      }
      await user.sendSig.check();
    }

    // dave leaves; the other three still decode each other.
    await leave('dave');
    const snap = async () =>
      Promise.all([...room.values()].flatMap((u) => [...u.incoming.values()].map((i) => i.peer.stats())));
    const s0 = await snap();
    await sleep(2000);
    const s1 = await snap();
    assert.equal(s0.length, 6);
    s0.forEach((s, i) =>
      assert.ok(s1[i].inVideo.framesDecoded > s.inVideo.framesDecoded + 5, `stream ${i} still decoding after dave left`),
    );

    for (const name of [...room.keys()]) await leave(name);
    await releasePipeline(); // the empty room
  });
});
