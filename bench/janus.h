/* The Janus side of the WebRTC benchmark (private to bench/): Debian's
 * `janus` (1.1.x) started in a network namespace joined to the host by a
 * veth pair (libnice never uses loopback addresses), and driven through its
 * plain HTTP API (EchoTest and VideoRoom).
 *
 * Addresses: host side 10.213.0.1/24 (the benchmark client binds there),
 * namespace side 10.213.0.2/24 (Janus's only ICE address, HTTP API on
 * http://10.213.0.2:8088/janus). Namespace "fluobench-janus", veth
 * "fbjanus0" (host) / "fbjanus1" (namespace): one instance per machine.
 *
 * Every call is blocking (control plane only, before the measurement), uses
 * one Janus session (session_timeout 0: nothing expires during a run, no
 * keepalive is needed) and one handle per peer, and gives up after 10 s.
 * Signalling is half-trickle both ways: the client's SDP carries its
 * candidates and a=end-of-candidates and is sent with "trickle": false, and
 * Janus's SDP carries Janus's candidates (Janus is not in full-trickle mode,
 * so it gathers before it answers or offers; a call fails with FL_EPROTO if
 * an SDP from Janus has no a=candidate line). Not thread-safe: one thread
 * drives an fl_bench_janus. Errors are explained on stderr. Needs root. */
#ifndef FL_BENCH_JANUS_H
#define FL_BENCH_JANUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct fl_bench_janus fl_bench_janus;

/* The namespace and veth pair above, for any server the benchmark runs
 * behind them (fluo and the floor too, so that every server is reached
 * over the same path as Janus). Server side 10.213.0.2 on "fbjanus1". */
#define FL_BENCH_NETNS_CLIENT_IP "10.213.0.1"
#define FL_BENCH_NETNS_SERVER_IP "10.213.0.2"
#define FL_BENCH_NETNS_SERVER_IF "fbjanus1"
/* The client's peers each have an address of their own there (bench/wr.h):
 * a local route on the host makes them all local, and the namespace
 * routes them through the veth. */
#define FL_BENCH_NETNS_PEERS "10.214.0.0/16"

typedef struct fl_bench_netns {
    int netns_made, veth_made;
} fl_bench_netns;

/* Makes the namespace (one left over by a crashed run and empty is
 * removed first) and the veth pair, addressed and up. 0, FL_EBUSY (the
 * namespace is in use) or FL_EIO; on failure nothing made is left. Needs
 * root. */
int fl_bench_netns_up(fl_bench_netns *n);

/* Deletes what fl_bench_netns_up made (n is zeroed); safe to repeat. */
void fl_bench_netns_down(fl_bench_netns *n);

/* Moves the calling thread into the namespace (setns): for a server's
 * child process after fork, before it opens sockets. 0 or FL_EIO. */
int fl_bench_netns_enter(void);

/* Creates the namespace and the veth pair, writes Janus's configuration in
 * a fresh temporary folder (EchoTest, VideoRoom with no rooms, HTTP
 * transport only, RTP ports 20000-40000, no STUN/TURN, no admin API), starts
 * `ip netns exec fluobench-janus janus -F <folder>` (its output in
 * <folder>/janus.log; it is sent SIGTERM if the calling thread dies) and
 * waits up to 10 s until GET /janus/info answers. Writes "10.213.0.1" (the
 * address the client binds to) into client_ip. Installs nothing: the
 * `janus` package must be there. On failure everything made is removed and
 * FL_EINVAL, FL_ENOMEM, FL_EBUSY (the namespace is in use), FL_EIO,
 * FL_ETIMEDOUT or FL_ERANGE (cap too small) is returned. */
int fl_bench_janus_start(fl_bench_janus **out, char *client_ip, size_t cap);

/* Janus's process id (`ip netns exec` execs it), for CPU and memory
 * figures. */
int fl_bench_janus_pid(const fl_bench_janus *j);

/* Sends Janus SIGTERM (SIGKILL after 3 s), waits for it, and deletes the
 * veth pair, the namespace and the temporary folder. Invalidates every
 * subscriber returned by fl_bench_janus_subscribe. Safe on NULL. */
void fl_bench_janus_stop(fl_bench_janus *j);

/* EchoTest: a new handle on janus.plugin.echotest gets {"audio":true,
 * "video":true} with the client's offer; *answer (malloc'd, the caller
 * frees it) is Janus's answer, candidates included. FL_EPROTO when Janus
 * refuses (reason on stderr), FL_ETIMEDOUT, FL_EIO. */
int fl_bench_janus_echo(fl_bench_janus *j, const char *offer, char **answer);

/* VideoRoom publisher: the first call creates room 1234 (1000 publishers,
 * no bitrate cap, VP8 and Opus, notify_joining false); then a new handle
 * joins it as a publisher with "joinandconfigure" (audio and video on) and
 * the client's offer. *answer (malloc'd) is Janus's answer, *feed the
 * publisher's id for fl_bench_janus_subscribe. */
int fl_bench_janus_publish(fl_bench_janus *j, const char *offer, char **answer, uint64_t *feed);

/* VideoRoom subscriber: a new handle joins room 1234 as a subscriber to
 * `feed`; *offer (malloc'd) is Janus's offer (sendonly from Janus) and *sub
 * names the handle for fl_bench_janus_start_subscriber (an opaque token, not
 * memory to free; valid until fl_bench_janus_stop).
 *
 * Janus 1.1's VideoRoom answers "No such feed" (error 428) until the
 * publisher's PeerConnection is up (ICE and DTLS done: Janus's "webrtcup"):
 * this returns FL_EAGAIN then, and the caller runs its client loop until the
 * publisher is connected and calls again (the handle of a failed attempt
 * is detached). */
int fl_bench_janus_subscribe(fl_bench_janus *j, uint64_t feed, char **offer, void **sub);

/* Sends the client's answer to a subscriber's offer with "start" and waits
 * until Janus confirms. */
int fl_bench_janus_start_subscriber(fl_bench_janus *j, void *sub, const char *answer);

#endif
