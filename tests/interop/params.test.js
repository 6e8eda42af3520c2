'use strict';
// Parameters answered as Kurento's types say (issue 12, item 6): every
// wrong-typed parameter and every unusable ICE candidate gets an error that
// names it, with Kurento's codes (40001 MARSHALL_ERROR for a wrong type,
// 40107 MEDIA_OBJECT_ILLEGAL_PARAM_ERROR for a value the type allows but the
// parameter does not, 40401 ICE_ADD_CANDIDATE_ERROR for a candidate), while
// what browsers and kurento-client send is still taken. Raw JSON-RPC first,
// then the npm kurento-client as an application uses it. The server must
// keep serving throughout and exit 0 with no sanitizer finding.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const kurentoClient = require('kurento-client');
const { REPO, startServer, RpcClient, sanitizerFindings, sleep } = require('./lib/server');

const OFFER = fs.readFileSync(path.join(REPO, 'tests/data/sdp/chromium_offer.sdp'), 'utf8'); // mids 0 and 1
const TYPE_OF = {
  40001: 'MARSHALL_ERROR',
  40107: 'MEDIA_OBJECT_ILLEGAL_PARAM_ERROR',
  40401: 'ICE_ADD_CANDIDATE_ERROR',
};

// "candidate:..." with the fields given replaced (f: foundation, c:
// component, t: transport, p: priority, a: address, o: port, y: type) and
// `rest` appended.
function cand(fields = {}, rest = '') {
  const f = { f: '1', c: '1', t: 'udp', p: '2130706431', a: '127.0.0.1', o: '5000', y: 'host', ...fields };
  return `candidate:${f.f} ${f.c} ${f.t} ${f.p} ${f.a} ${f.o} typ ${f.y}${rest}`;
}
const ic = (candidate, sdpMid = '0', sdpMLineIndex = 0) => ({
  __module__: 'kurento',
  __type__: 'IceCandidate',
  candidate,
  sdpMid,
  sdpMLineIndex,
});

// Junk candidates: each refused with 40401 and a message saying what is
// wrong, before and after the session is negotiated (the engine parses a
// candidate before queueing it).
const JUNK = [
  ['empty attribute', 'candidate:', /foundation/],
  ['no candidate: prefix', 'garbage', /does not start with 'candidate:'/],
  ['a bad IPv4 address', cand({ a: '999.1.1.1' }), /not a valid IP address/],
  ['a bad IPv6 address', cand({ a: '2001:db8::g' }), /not a valid IP address/],
  ['a host name (not resolved)', cand({ a: 'media.example.com' }), /host name, which fluo does not resolve/],
  ['an mDNS name with bad characters', cand({ a: 'bad_name.local' }), /not a valid mDNS \.local name/],
  ['the unspecified address 0.0.0.0', cand({ a: '0.0.0.0' }), /unspecified address/],
  ['the unspecified address ::', cand({ a: '::' }), /unspecified address/],
  ['an IPv4 multicast address', cand({ a: '224.0.0.251' }), /multicast/],
  ['an IPv6 multicast address', cand({ a: 'ff02::fb' }), /multicast/],
  ['the broadcast address', cand({ a: '255.255.255.255' }), /broadcast/],
  ['a scoped IPv6 address', cand({ a: 'fe80::1%eth0' }), /scoped IPv6/],
  ['UDP port 0', cand({ o: '0' }), /port/],
  ['port 65536', cand({ o: '65536' }), /port/],
  ['port -1', cand({ o: '-1' }), /port/],
  ['an unknown transport (sctp)', cand({ t: 'sctp' }), /transport/],
  ['an unknown transport (tls)', cand({ t: 'tls' }), /transport/],
  ['component 0', cand({ c: '0' }), /component/],
  ['component 257', cand({ c: '257' }), /component/],
  ['foundation missing', 'candidate:1 udp 2130706431 127.0.0.1 5000 typ host', /foundation or the component is missing/],
  ['a foundation with a bad character', cand({ f: 'f@o' }), /foundation/],
  ['a 33-character foundation', cand({ f: 'a'.repeat(33) }), /foundation/],
  ['priority 0', cand({ p: '0' }), /priority/],
  ['priority 2^32', cand({ p: '4294967296' }), /priority/],
  ["'typ' missing", 'candidate:1 1 udp 2130706431 127.0.0.1 5000 host', /'typ' is missing/],
  ['an unknown type', cand({ y: 'bogus' }), /type is not host, srflx, prflx or relay/],
  ['raddr not an address', cand({ y: 'srflx' }, ' raddr nowhere rport 5'), /raddr is not an IP address/],
  ['rport 70000', cand({ y: 'srflx' }, ' raddr 10.0.0.1 rport 70000'), /rport is not 0 to 65535/],
  ['an unknown tcptype', cand({ t: 'tcp' }, ' tcptype sideways'), /tcptype is not active, passive or so/],
  ['a tcptype on UDP', cand({}, ' tcptype active'), /tcptype is for TCP candidates only/],
  ['generation not a number', cand({}, ' generation zero'), /generation is not 0 to 2\^63-1/],
  ['a name without its value', cand({}, ' generation'), /an attribute after the type has no value/],
  ['a control character', cand({}, ' generation 0\u0007'), /control character/],
  ['too many attributes', cand({}, ' x y'.repeat(25)), /more than 48 fields/],
  ['an mDNS name, UDP port 0', cand({ a: '4b8e3c3d-6f0e-4f7a-9bd0-1c1f3c7b2f4a.local', o: '0' }), /port is 0/],
  ['an mDNS name, no type', 'candidate:1 1 udp 2130706431 4b8e3c3d-6f0e-4f7a-9bd0-1c1f3c7b2f4a.local 5000 typ', /type is missing/],
];

// What browsers send: taken. (mDNS names are taken unresolved, with a
// warning in the log: the peer's address comes from its checks.)
const GOOD = [
  ['Chrome host', ic('candidate:1467250027 1 udp 2122260223 127.0.0.1 46243 typ host generation 0 ufrag EsAw network-id 1')],
  ['Chrome srflx, hidden base', ic('candidate:842163049 1 udp 1677729535 192.0.2.7 61764 typ srflx raddr 0.0.0.0 rport 0 generation 0')],
  ['Chrome relay', ic('candidate:2157334355 1 udp 33562367 198.51.100.9 50212 typ relay raddr 47.61.61.61 rport 54761 generation 0')],
  ['Chrome TCP active (port 9)', ic('candidate:3289912957 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active generation 0')],
  ['TCP passive', ic('candidate:3289912958 1 tcp 1518214911 127.0.0.1 50000 typ host tcptype passive')],
  ['IPv6 host', ic('candidate:2999745851 1 udp 2122197247 2001:db8::1:2 51007 typ host generation 0')],
  ['IPv6 link-local', ic('candidate:2999745852 1 udp 2122197247 fe80::1 51008 typ host')],
  ['Chrome mDNS host', ic('candidate:3 1 udp 2122260223 4b8e3c3d-6f0e-4f7a-9bd0-1c1f3c7b2f4a.local 50000 typ host generation 0')],
  ['Firefox, upper-case UDP', ic('candidate:0 1 UDP 2122252543 127.0.0.1 53806 typ host')],
  ['with a=', ic('a=candidate:4 1 udp 2122252543 127.0.0.1 53807 typ host')],
  ['component 2', ic('candidate:5 2 udp 2122252542 127.0.0.1 53808 typ host')],
  ['the same one again', ic('candidate:5 2 udp 2122252542 127.0.0.1 53808 typ host')],
  ['sdpMid 1', ic(cand({ o: '5001' }), '1', 1)],
  ['sdpMid 0 with an index past the end (the mid decides)', ic(cand({ o: '5002' }), '0', 9)],
  ['end of candidates', ic('')],
  ['end-of-candidates (RFC 8840)', ic('end-of-candidates')],
  ['a=end-of-candidates', ic('a=end-of-candidates')],
];

// sdpMid/sdpMLineIndex that name no m-section: refused once the session has
// a description to check them against (taken before: nothing to check).
const BAD_MEDIA = [
  ["sdpMid 'nope'", ic(cand({ o: '5003' }), 'nope', 0), /'sdpMid' 'nope' names no media section/],
  ['no sdpMid, sdpMLineIndex 2 of 2', ic(cand({ o: '5004' }), '', 2), /'sdpMLineIndex' 2 names no m-line: the session has 2/],
];

// The m-section of `kind` in an SDP.
function section(sdp, kind) {
  const m = new RegExp(`m=${kind} [^]*?(?=\r\nm=|$)`).exec(sdp);
  assert.ok(m, `no m=${kind} in ${sdp}`);
  return m[0];
}

function checkError(res, code, message, what) {
  const ctx = `${what}: ${res.__raw || JSON.stringify(res)}`;
  assert.ok(res.error, `an error answer expected: ${ctx}`);
  assert.equal(res.error.code, code, ctx);
  assert.equal(res.error.data && res.error.data.type, TYPE_OF[code], ctx);
  assert.match(res.error.message, message, ctx);
}

// A junk candidate's error quotes the line (200 bytes at most), then says
// what is wrong with it.
function checkJunk(res, line, message, what) {
  checkError(res, 40401, message, what);
  const head = `Invalid ICE candidate '${line.slice(0, 200)}': `;
  assert.ok(res.error.message.startsWith(head), `${what}: ${res.error.message}`);
}

function checkOk(res, what) {
  assert.ok(!res.error, `${what}: ${res.__raw}`);
  assert.ok('value' in res.result, `${what}: ${res.__raw}`);
}

describe('parameters and ICE candidates', () => {
  let srv;
  let c;
  let pipe;

  before(async () => {
    srv = await startServer();
    c = await RpcClient.connect(srv.url);
    pipe = await c.create('MediaPipeline');
  });

  after(async () => {
    if (c) await c.close();
    if (srv && srv.running) await srv.stop();
  });

  const webrtc = (extra = {}) => c.create('WebRtcEndpoint', { mediaPipeline: pipe, ...extra });
  const invoke = (object, operation, operationParams) => c.request('invoke', { object, operation, operationParams });

  it('create: recvonly and sendonly both true -> 40107 naming both; either alone is taken', async () => {
    const res = await c.request('create', {
      type: 'WebRtcEndpoint',
      constructorParams: { mediaPipeline: pipe, recvonly: true, sendonly: true },
      properties: {},
    });
    checkError(res, 40107, /'recvonly' and 'sendonly'.*cannot both be true/, 'recvonly+sendonly');
    for (const flags of [{ recvonly: true }, { sendonly: true }, { recvonly: true, sendonly: false }]) {
      const ep = await webrtc(flags);
      const offer = await c.invoke(ep, 'generateOffer');
      assert.match(offer, flags.recvonly ? /a=recvonly/ : /a=sendonly/, JSON.stringify(flags));
      await c.release(ep);
    }
  });

  it("create: 'properties' not an object -> 40001; an object (kurento-client's leftovers) is taken", async () => {
    for (const properties of [5, 'x', [1], true]) {
      const res = await c.request('create', { type: 'MediaPipeline', properties });
      checkError(res, 40001, /'properties' parameter should be an object/, JSON.stringify(properties));
    }
    const ok = await c.request('create', { type: 'PassThrough', constructorParams: { mediaPipeline: pipe }, properties: { foo: 1 } });
    checkOk(ok, 'properties {foo: 1}');
    await c.release(ok.result.value);
  });

  // [what, operation, operationParams, code, message]
  const WRONG = [
    ['generateOffer({__type__: "Bogus"})', 'generateOffer', { options: { __type__: 'Bogus' } }, 40001,
      /'options' parameter should be of type OfferOptions, not of the unknown type 'Bogus'/],
    ['generateOffer with another known type', 'generateOffer', { options: { __type__: 'RembParams' } }, 40001,
      /'options' parameter should be of type OfferOptions, not of the type 'RembParams'/],
    ['generateOffer with a number __module__', 'generateOffer', { options: { __module__: 7 } }, 40001, /'options'.*__module__/],
    ['generateOffer options a string', 'generateOffer', { options: 'audio' }, 40001,
      /'options' parameter should be an object of type OfferOptions/],
    ['generateOffer offerToReceiveAudio a string', 'generateOffer', { options: { offerToReceiveAudio: 'no' } }, 40001,
      /'options\.offerToReceiveAudio' parameter should be a boolean/],
    ['generateOffer offerToReceiveVideo a number', 'generateOffer', { options: { offerToReceiveVideo: 0 } }, 40001,
      /'options\.offerToReceiveVideo' parameter should be a boolean/],
    ['addIceCandidate sdpMLineIndex a string', 'addIceCandidate', { candidate: ic(cand(), '0', '0') }, 40001,
      /'candidate\.sdpMLineIndex' parameter should be a 32-bit integer/],
    ['addIceCandidate sdpMLineIndex 1.5', 'addIceCandidate', { candidate: ic(cand(), '0', 1.5) }, 40001,
      /'candidate\.sdpMLineIndex' parameter should be a 32-bit integer/],
    ['addIceCandidate sdpMLineIndex 2^31', 'addIceCandidate', { candidate: ic(cand(), '0', 2 ** 31) }, 40001,
      /'candidate\.sdpMLineIndex' parameter should be a 32-bit integer/],
    ['addIceCandidate sdpMid a number', 'addIceCandidate', { candidate: ic(cand(), 0, 0) }, 40001,
      /'candidate\.sdpMid' parameter should be a string/],
    ['addIceCandidate sdpMid missing', 'addIceCandidate', { candidate: { candidate: cand(), sdpMLineIndex: 0 } }, 40001,
      /'candidate\.sdpMid' parameter is required/],
    ['addIceCandidate sdpMLineIndex null', 'addIceCandidate', { candidate: { candidate: cand(), sdpMid: '0', sdpMLineIndex: null } },
      40001, /'candidate\.sdpMLineIndex' parameter is required/],
    ['addIceCandidate candidate missing', 'addIceCandidate', { candidate: { sdpMid: '0', sdpMLineIndex: 0 } }, 40001,
      /'candidate\.candidate' parameter is required/],
    ['addIceCandidate candidate a number', 'addIceCandidate', { candidate: ic(5) }, 40001,
      /'candidate\.candidate' parameter should be a string/],
    ['addIceCandidate the bare line', 'addIceCandidate', { candidate: cand() }, 40001,
      /'candidate' parameter should be an object of type IceCandidate/],
    ['addIceCandidate __type__ Bogus', 'addIceCandidate', { candidate: { ...ic(cand()), __type__: 'Bogus' } }, 40001,
      /'candidate' parameter should be of type IceCandidate, not of the unknown type 'Bogus'/],
    ['addIceCandidate __type__ IceCandidatePair', 'addIceCandidate', { candidate: { ...ic(cand()), __type__: 'IceCandidatePair' } },
      40001, /not of the type 'IceCandidatePair'/],
    ['addIceCandidate sdpMLineIndex -1', 'addIceCandidate', { candidate: ic(cand(), '0', -1) }, 40401,
      /'sdpMLineIndex' -1 names no m-line/],
    ['setRembParams upLosses 1.5 (an int)', 'setRembParams', { rembParams: { upLosses: 1.5 } }, 40001,
      /'rembParams\.upLosses' parameter should be a 32-bit integer/],
    ['setRembParams rembOnConnect a string', 'setRembParams', { rembParams: { rembOnConnect: '300000' } }, 40001,
      /'rembParams\.rembOnConnect' parameter should be a 32-bit integer/],
    ['setRembParams decrementFactor a boolean', 'setRembParams', { rembParams: { decrementFactor: true } }, 40001,
      /'rembParams\.decrementFactor' parameter should be a number/],
    ['setRembParams __type__ OfferOptions', 'setRembParams', { rembParams: { __type__: 'OfferOptions', upLosses: 20 } }, 40001,
      /'rembParams' parameter should be of type RembParams, not of the type 'OfferOptions'/],
    ['setStunServerPort 70000', 'setStunServerPort', { stunServerPort: 70000 }, 40107,
      /'stunServerPort' parameter should be a port number \(0 to 65535\)/],
    ['setStunServerPort -1', 'setStunServerPort', { stunServerPort: -1 }, 40107, /'stunServerPort' parameter should be a port number/],
    ['setMaxVideoRecvBandwidth -5', 'setMaxVideoRecvBandwidth', { maxVideoRecvBandwidth: -5 }, 40107,
      /Invalid value for 'maxVideoRecvBandwidth'/],
  ];

  it(`${WRONG.length} wrong-typed or out-of-range parameters: each refused, naming it; the endpoint then works`, async () => {
    const ep = await webrtc();
    for (const [what, op, params, code, message] of WRONG) checkError(await invoke(ep, op, params), code, message, what);
    // none of them changed anything: the right values are taken
    checkOk(await invoke(ep, 'setStunServerPort', { stunServerPort: 3478 }), 'setStunServerPort 3478');
    assert.equal(await c.invoke(ep, 'getStunServerPort'), 3478);
    checkOk(await invoke(ep, 'setRembParams', { rembParams: { __module__: 'kurento', __type__: 'RembParams', upLosses: 20 } }), 'rembParams');
    assert.equal((await c.invoke(ep, 'getRembParams')).upLosses, 20);
    const offer = await c.invoke(ep, 'generateOffer', {
      options: { __module__: 'kurento', __type__: 'OfferOptions', offerToReceiveAudio: false, offerToReceiveVideo: true },
    });
    assert.match(section(offer, 'audio'), /a=sendonly/, 'offerToReceiveAudio: false was read');
    assert.match(section(offer, 'video'), /a=sendrecv/);
    await c.release(ep);
  });

  it(`${JUNK.length} junk candidates before any description: each 40401 with what is wrong`, async () => {
    const ep = await webrtc();
    for (const [what, line, message] of JUNK) checkJunk(await invoke(ep, 'addIceCandidate', { candidate: ic(line) }), line, message, what);
    for (const [what, cnd] of BAD_MEDIA) checkOk(await invoke(ep, 'addIceCandidate', { candidate: cnd }), `${what} (nothing to check yet)`);
    for (const [what, cnd] of GOOD) checkOk(await invoke(ep, 'addIceCandidate', { candidate: cnd }), what);
    // the queued ones are applied with the offer, which still succeeds
    const answer = await c.invoke(ep, 'processOffer', { offer: OFFER });
    assert.match(answer, /^v=0/);
    await c.release(ep);
  });

  it(`after processOffer: ${JUNK.length} junk candidates and ${BAD_MEDIA.length} naming no media refused, ${GOOD.length} good ones taken`, async () => {
    const ep = await webrtc();
    await c.invoke(ep, 'processOffer', { offer: OFFER });
    for (const [what, line, message] of JUNK) checkJunk(await invoke(ep, 'addIceCandidate', { candidate: ic(line) }), line, message, what);
    for (const [what, cnd, message] of BAD_MEDIA) checkError(await invoke(ep, 'addIceCandidate', { candidate: cnd }), 40401, message, what);
    for (const [what, cnd] of GOOD) checkOk(await invoke(ep, 'addIceCandidate', { candidate: cnd }), what);
    // the endpoint is still usable
    assert.equal(typeof (await c.invoke(ep, 'getLocalSessionDescriptor')), 'string');
    await c.release(ep);
  });

  it('an mDNS candidate is taken with a warning in the log', async () => {
    const deadline = Date.now() + 5000;
    const warning = /WARN.*ICE candidate '[^']* 4b8e3c3d-6f0e-4f7a-9bd0-1c1f3c7b2f4a\.local [^']*' taken with its mDNS \.local name not resolved/;
    while (!warning.test(srv.stderr) && Date.now() < deadline)
      await sleep(50);
    assert.match(srv.stderr, warning);
  });

  describe('with kurento-client 7.3.0', () => {
    let client;
    let pipeline;
    const IceCandidate = kurentoClient.getComplexType('IceCandidate');
    const OfferOptions = kurentoClient.getComplexType('OfferOptions');
    const RembParams = kurentoClient.getComplexType('RembParams');
    // the callback form: the error reaches the application
    const call = (obj, method, ...args) =>
      new Promise((resolve, reject) => obj[method](...args, (err, v) => (err ? reject(err) : resolve(v))));
    const refused = (p, code, message) =>
      assert.rejects(p, (e) => {
        assert.equal(e.code, code, JSON.stringify(e));
        assert.match(e.message, message);
        return true;
      });

    before(async () => {
      client = await new Promise((resolve, reject) => {
        kurentoClient(srv.url, { failAfter: 5, request_timeout: 10000, response_timeout: 1000, duplicates_timeout: 1000 }, (err, k) =>
          err ? reject(err) : resolve(k),
        );
      });
      pipeline = await client.create('MediaPipeline');
    });

    after(async () => {
      if (pipeline) await pipeline.release();
      if (client) client.close();
    });

    it('addIceCandidate: junk refused with 40401, browser candidates taken', async () => {
      const ep = await pipeline.create('WebRtcEndpoint');
      await call(ep, 'processOffer', OFFER);
      const add = (candidate, sdpMid = '0', sdpMLineIndex = 0) => call(ep, 'addIceCandidate', IceCandidate({ candidate, sdpMid, sdpMLineIndex }));
      for (const [, line, message] of JUNK) await refused(add(line), 40401, message);
      await refused(add(cand({ o: '5100' }), 'audio', 0), 40401, /'sdpMid' 'audio' names no media section/);
      await refused(add(cand({ o: '5101' }), '0', '0'), 40001, /'candidate\.sdpMLineIndex' parameter should be a 32-bit integer/);
      await refused(add(cand({ o: '5102' }), null, 0), 40001, /'candidate\.sdpMid' parameter is required/);
      for (const [, c0] of GOOD) await add(c0.candidate, c0.sdpMid, c0.sdpMLineIndex);
      await ep.release();
    });

    it('create and invoke with wrong-typed parameters: refused; the right ones work', async () => {
      await refused(pipeline.create('WebRtcEndpoint', { recvonly: true, sendonly: true }), 40107, /'recvonly' and 'sendonly'/);
      const ep = await pipeline.create('WebRtcEndpoint', { recvonly: true });
      await refused(call(ep, 'generateOffer', OfferOptions({ offerToReceiveAudio: 'no' })), 40001, /'options\.offerToReceiveAudio'/);
      await refused(call(ep, 'setRembParams', RembParams({ upLosses: 2.5 })), 40001, /'rembParams\.upLosses'/);
      await refused(call(ep, 'setStunServerPort', 65536), 40107, /'stunServerPort'/);
      await call(ep, 'setStunServerPort', 19302);
      assert.equal(await call(ep, 'getStunServerPort'), 19302);
      const offer = await call(ep, 'generateOffer', OfferOptions({ offerToReceiveAudio: true, offerToReceiveVideo: false }));
      assert.match(section(offer, 'audio'), /a=recvonly/);
      assert.doesNotMatch(section(offer, 'video'), /a=recvonly|a=sendrecv/, 'offerToReceiveVideo: false was read');
      await ep.release();
    });
  });

  it('the server kept serving and exits 0 with no sanitizer finding', async () => {
    assert.equal((await c.call('ping')).value, 'pong');
    await c.release(pipe);
    const { code, stderr } = await srv.stop();
    assert.deepEqual(sanitizerFindings(stderr), []);
    assert.equal(code, 0, stderr.slice(-3000));
  });
});
