/* The WebRTC load harness of fluo-bench (private to bench/).
 *
 * One process, one libuv loop, one UDP socket: hundreds of client peer
 * connections built from fluo's own sans-IO modules (ICE controlling or
 * controlled, DTLS-SRTP, RTP/RTCP) publish pre-encoded VP8 and Opus clips in
 * real time and receive what the server sends back. A server driver
 * (fluo through the Kurento Protocol, Janus through its HTTP API, or the
 * bare floor reflector) does the signalling. */
#ifndef FL_BENCH_WR_H
#define FL_BENCH_WR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/rand.h"
#include "base/time.h"
#include "codec/codec.h"
#include "ice/agent.h"
#include "net/cert.h"
#include "net/rtp.h"
#include "net/transport.h"
#include "sdp/sdp.h"

#define WR_VETH_PEER_BASE 0x0ad60000u /* 10.214.0.0: FL_BENCH_NETNS_PEERS */
#define WR_MAX_RX         8           /* received streams tracked per peer */
#define WR_TRAILER_MAGIC  0x464c554fu /* "FLUO": ends every payload we send */
#define WR_TRAILER_LEN    12          /* magic + send time (µs, fl_time) */
/* A simulcast layer's packets carry "FLS0" + its index (lowest 0) as their
 * trailer's magic instead, so that a viewer tells which layer it gets. */
#define WR_TRAILER_LAYER0 0x464c5330u
#define WR_LAYERS         3 /* simulcast layers a publisher sends */

typedef struct wr_bench wr_bench;

typedef struct wr_tx {
    int on;
    const fl_clip *clip;
    uint8_t pt;
    uint32_t ssrc;
    uint16_t seq;
    size_t pos;       /* next packet of the clip */
    fl_time t_base;   /* when clip position 0 is (was) due */
    uint32_t ts_base; /* RTP timestamp of clip position 0 */
    uint32_t last_ts;
    int restart; /* a key frame was asked for: start over at a frame edge */
    uint64_t packets, octets;
    uint64_t key_frames, restarts; /* clip starts sent; those on request */
    uint64_t win_sent;             /* packets sent inside the measured window */
    int layer;                     /* simulcast: its index + 1 (the trailer says it); 0 none */
} wr_tx;

typedef struct wr_rx {
    uint32_t ssrc;
    int started, stalled;
    fl_time last_at; /* when its latest packet came */
    uint8_t pt;      /* of its first packet */
    fl_rtp_unwrapper uw;
    uint64_t first, highest, received;
    uint64_t markers;                      /* packets with the marker bit: video frames ended */
    fl_time first_at;                      /* when its first packet came */
    uint64_t win_expected0, win_received0; /* at the window's start */
} wr_rx;

/* ---- datagrams in (wr_udp.c) ---- */

#define WR_DGRAM_BATCH 64
#define WR_DGRAM_MIN   4

#define WR_CTL_LEN 64 /* room for one IP_PKTINFO control message */

/* Room for one recvmmsg. */
typedef struct wr_dgrams {
    struct mmsghdr msgs[WR_DGRAM_BATCH];
    struct iovec iov[WR_DGRAM_BATCH];
    struct sockaddr_storage from[WR_DGRAM_BATCH];
    fl_buf *bufs[WR_DGRAM_BATCH];
    uint8_t ctl[WR_DGRAM_BATCH][WR_CTL_LEN];
    uint32_t to[WR_DGRAM_BATCH]; /* IPv4 destination (network order); 0: unknown */
} wr_dgrams;

/* Reads up to `want` (at most WR_DGRAM_BATCH) datagrams from fd without
 * blocking into buffers from pool: bufs[0..n) hold them (length set, the
 * caller owns each), from[0..n) their senders, to[0..n) the address each
 * was sent to when the socket has IP_PKTINFO on; n is returned. */
size_t wr_dgrams_read(wr_dgrams *d, int fd, fl_buf_pool *pool, size_t want);

/* How many to read next on a socket whose last read got `got` of `want`:
 * about twice what came, the whole batch after a full read. */
size_t wr_dgrams_next_want(size_t got, size_t want);

#define WR_KEY_MAX_PKTS 256 /* longest key frame the join scenario assembles */

/* The first complete VP8 key frame a viewer receives (the join scenario):
 * every packet from the one that starts it to the marker, by sequence. */
typedef struct wr_key {
    int active;
    uint32_t ts;
    uint64_t first; /* unwrapped sequence number of its first packet */
    int last;       /* offset of the marker packet; -1 not seen yet */
    uint64_t have[WR_KEY_MAX_PKTS / 64];
} wr_key;

/* When a joining viewer reached each step (fl_time; 0: not yet). */
typedef struct wr_join_times {
    fl_time offer;             /* processOffer sent */
    fl_time answer;            /* its answer received */
    fl_time signalled;         /* the last call of the join (addIceCandidate) answered */
    fl_time ice;               /* the client's ICE agent selected a pair */
    fl_time dtls;              /* DTLS-SRTP connected */
    fl_time video;             /* first video RTP packet */
    fl_time key;               /* a complete key frame */
    uint64_t video_before_key; /* video packets received until it was complete */
} wr_join_times;

typedef struct wr_peer {
    wr_bench *b;
    int id;
    size_t slot;  /* its address: the client's base + slot + 1 */
    fl_addr addr; /* its own IPv4 address and the client's port */
    char ip[20];
    fl_ice_agent *ice;
    fl_transport *tr;
    fl_sdp_desc *local;
    int offerer;
    int dtls_client, dtls_started, connected, failed;
    fl_addr selected;
    int have_selected;
    wr_tx tx[2]; /* audio, video */
    wr_rx rx[WR_MAX_RX];
    size_t nrx;
    uint64_t rx_packets, rx_unknown;
    int rtx_pt;      /* the video's RTX payload type as negotiated; -1 none */
    uint64_t rx_rtx; /* RTX packets received (padding the server probes with) */
    fl_time next_timeout;
    char cand[256]; /* our host candidate line */
    int trickle;    /* our offer carries no candidate: it goes by addIceCandidate */
    uint64_t pli_recv, fir_recv;
    /* the join scenario */
    int watch_key; /* look for the first complete VP8 key frame */
    wr_key key;
    wr_join_times t;
    /* the churn scenario: what the server driver releases when it leaves */
    char srv_obj[320];
    /* the server's endpoint of this peer, for diagnose(); "": unknown */
    char srv_ep[320];
    /* the loss from the sender's side (echo, one2many, room) */
    int subscribers;    /* peers that should receive every packet this one sends */
    int expect_streams; /* streams this one should receive (audio + video per feed) */
    const char *role;   /* for the lines naming a peer: "publisher", "viewer", ... */
    /* simulcast (bench/wr_simulcast.c): a publisher's layers, lowest first,
     * sent instead of tx[1] (layers[0] has tx[1]'s SSRC), and how many
     * viewers get each (its subscribers, for the loss) */
    int nlayers;
    wr_tx layers[WR_LAYERS];
    int layer_subs[WR_LAYERS];
    /* a viewer: the video packets it got of each layer (by their trailer),
     * the REMB it sends with each report (bit/s; 0: none) and the
     * maxVideoSendBandwidth its server endpoint is given (kbit/s; 0: not set) */
    uint64_t rx_layer[WR_LAYERS];
    uint64_t remb_bps;
    uint64_t remb_recv; /* the last REMB the server sent this peer (bit/s); 0 none */
    int max_send_kbps;
} wr_peer;

/* Server drivers: signalling only. Each call blocks until the peer has the
 * server's answer (or offer, answered). */
typedef struct wr_server {
    const char *name;
    int (*start)(wr_bench *b);
    /* the peer's media comes back to it */
    int (*echo)(wr_bench *b, wr_peer *p);
    /* a publisher; *handle identifies it for view() */
    int (*publish)(wr_bench *b, wr_peer *p, void **handle);
    /* a receive-only peer fed by a publisher */
    int (*view)(wr_bench *b, wr_peer *p, void *publisher);
    /* a viewer joining a running broadcast, with the calls of the server's
     * tutorial and the client's candidate trickled; the loop keeps running
     * while it waits for the server, and p->t.offer .. p->t.signalled are
     * set. NULL: the server has no such driver. */
    int (*join)(wr_bench *b, wr_peer *p, void *publisher);
    /* the peer leaves: what the server made for it is released (echo: its
     * pipeline; a viewer: its endpoint; a publisher: the shared pipeline).
     * NULL: the server has no such driver. */
    int (*leave)(wr_bench *b, wr_peer *p);
    void (*stop)(wr_bench *b);
    /* a peer short of a stream: prints on stderr, one line per stream,
     * what the server counted for the peer's endpoint (RTP in and out per
     * media), so that a failure says which side lost the stream. NULL:
     * the server has no such driver. */
    void (*diagnose)(wr_bench *b, wr_peer *p);
    /* a simulcast viewer: the layer the server forwards to it (lowest 0)
     * and the switches it made so far, as its stats say. FL_ENOENT when
     * they say none; NULL: the server has no such driver. */
    int (*layer)(wr_bench *b, wr_peer *p, int *layer, int *switches);
    void *state;
} wr_server;

/* The client's addresses: ONE UDP socket bound to 0.0.0.0:port, and every
 * peer its own IPv4 address at that port (sent from with IP_PKTINFO, told
 * apart on receipt by it): a server that demultiplexes by the remote
 * address (one shared port) sees each peer as its own host, and the
 * client still reads and writes everything in batches. Loopback: 127.1.x.y
 * (all of 127/8 is local); the veth: 10.214.x.y, made local on the host by
 * fl_bench_netns_up (a local route) and routed to from the namespace. */
struct wr_bench {
    uv_loop_t loop;
    int fd;             /* the client's UDP socket */
    uint32_t peer_base; /* host order: a peer's address is this + slot + 1 */
    wr_peer **slots;    /* slot -> peer; NULL: free */
    size_t nslots;
    uv_poll_t poll;
    wr_dgrams dgrams; /* what a read of fd lands in */
    uv_timer_t tick;
    fl_addr local;
    char client_ip[64];
    fl_buf_pool *pool;
    fl_cert *cert;
    fl_rand rand;
    fl_clip *video, *audio;
    wr_peer **peers;
    size_t npeers, cap;
    int peer_seq; /* ids given out */
    /* source address -> peer (open addressing, IPv4 only) */
    uint64_t *keys;
    wr_peer **vals;
    size_t tcap;
    /* options */
    const char *scenario;
    const char *server_name;
    int sessions;
    int seconds;
    const char *fluo_bin;
    int workers;
    int verbose;
    int pump_calls; /* the client's loop runs during every signalling call */
    int kbps;       /* the video clip's target (average, key frames included) */
    /* simulcast (one2many): the publisher sends these layers (lowest
     * first); viewers by thirds get caps and a REMB that pick a layer each */
    int simulcast, layered_viewers;
    fl_clip *layers[WR_LAYERS];
    /* the path to the server: veth 0, both on 127.0.0.1; 1, the server in
     * the namespace of janus.h reached over its veth pair */
    int veth;
    char server_ip[64]; /* where servers bind their media and control */
    /* the cores the server is pinned to (--server-cpu; bit N: core N);
     * 0: not pinned */
    uint64_t server_cpus;
    /* stalls and unconnected peers fail the run (watch_stalls set) */
    int watch_stalls;
    int aborted;    /* a run failure was seen: wr_bench_run returns at once */
    size_t stalls;  /* streams that stalled */
    char fail[256]; /* the first failure, in words */
    /* the server */
    wr_server *server;
    pid_t pid;
    /* measurement */
    int measuring;
    uint64_t win_rx;
    /* the sender-side window: packets sent in [win_t0, win_t1) and those of
     * them received (by the send time each carries) */
    fl_time win_t0, win_t1;
    uint64_t win_in;
    double *lat_ms;
    size_t nlat, lat_cap;
    uint64_t lat_seen;
    /* batched sends */
    struct mmsghdr *msgs;
    struct iovec *iovs;
    struct sockaddr_storage *dsts;
    uint8_t (*ctls)[WR_CTL_LEN]; /* each datagram's source address (IP_PKTINFO) */
    fl_buf **bufs;
    size_t nsend;
};

/* ---- client (bench/wr_client.c) ---- */

/* client_ip: "127.0.0.1" (peers on 127.1.x.y) or the veth's host side
 * (peers on 10.214.x.y). */
int wr_bench_init(wr_bench *b, const char *client_ip);
void wr_bench_deinit(wr_bench *b);

/* A new peer; its ICE agent is controlling when it will offer. */
int wr_peer_create(wr_bench *b, int offerer, wr_peer **out);

/* Our offer (malloc'd): audio+video with the given direction. */
char *wr_peer_offer(wr_peer *p, fl_sdp_dir dir);
/* Takes the server's answer to our offer. */
int wr_peer_set_answer(wr_peer *p, const char *sdp);
/* Answers the server's offer (malloc'd), receive-only. */
char *wr_peer_answer(wr_peer *p, const char *offer);
/* A server candidate learnt out of band ("candidate:..."). */
void wr_peer_add_candidate(wr_peer *p, const char *cand);

/* Removes a peer (the churn scenario): its packets in flight are dropped
 * from then on, and its memory freed. */
void wr_peer_remove(wr_bench *b, wr_peer *p);

/* Runs the loop until every peer is connected (or timeout_s passed);
 * returns how many are connected. */
size_t wr_bench_wait_connected(wr_bench *b, int timeout_s);
/* Runs the loop for `seconds`. */
void wr_bench_run(wr_bench *b, double seconds);

/* Sorts v[0..n) ascending. */
void wr_sort(double *v, size_t n);
/* The p-quantile (0..1, nearest rank) of sorted[0..n); 0 when n is 0. */
double wr_percentile(const double *sorted, size_t n, double p);

/* Window bookkeeping: start, then figures at the end. */
void wr_bench_window_start(wr_bench *b);
void wr_bench_window_end(wr_bench *b, uint64_t *expected, uint64_t *received);

/* The loss counted from the senders' side over the window just ended by
 * wr_bench_window_end: *expected is every packet a peer sent inside it
 * times its subscribers, *received those of them that reached a peer (by
 * the send time their trailer carries), counted after running the loop a
 * further `grace` seconds so that packets in flight at the end arrive. A
 * subscriber that never connected or a stream that stalled counts its
 * packets as lost. */
void wr_bench_sender_loss(wr_bench *b, double grace, uint64_t *expected, uint64_t *received);

/* Starts watching for stalls (b->watch_stalls), from now: call it once
 * the loop runs without pause (signalling done), since a stream's silence
 * while the loop was held by a blocking call is not the server's. */
void wr_bench_watch_stalls(wr_bench *b);

/* Checks every stream a peer receives (b->watch_stalls set): one that
 * started and then had no packet for WR_STALL_US stalls the run: a line
 * naming the peer and the stream is printed on stderr, b->fail and
 * b->aborted are set and b's loop stops. */
#define WR_STALL_US (2 * FL_TIME_SEC)
void wr_bench_check_stalls(wr_bench *b, fl_time now);

/* Peers that did not connect or that receive fewer streams than they
 * should (expect_streams): each named on stderr; their count. The first
 * one goes into b->fail. For a connected peer short of a stream, what
 * the client counted (packets sent per stream, packets per SSRC received,
 * its transport's drops) follows on stderr, then what the server counted
 * (b->server->diagnose), so the failure says which side lost it. */
size_t wr_bench_check_peers(wr_bench *b);

/* What the client counted for a peer, on stderr (as wr_bench_check_peers
 * prints it): packets sent per stream, received per SSRC, its transport's
 * drops (SRTP, unknown SSRCs). */
void wr_peer_diagnose(const wr_peer *p);

/* Pins every thread of pid to the cores of cpus (bit N: core N;
 * sched_setaffinity per task of /proc/PID/task; threads made later
 * inherit it). 0 or FL_EIO. */
int wr_pin_process(pid_t pid, uint64_t cpus);

/* The time the cores of cpus (bit N: core N) spent in hard and soft
 * interrupts (/proc/stat's irq and softirq columns, summed), in µs. 0 or
 * FL_EIO (a core not in /proc/stat). */
int wr_cpu_irq_us(uint64_t cpus, uint64_t *out);

/* ---- the server's cores and threads (bench/wr_threads.c) ---- */

#define WR_MAX_CPUS 64 /* cores a --server-cpu list can name: 0-63 */

/* A --server-cpu value into a mask (bit N: core N): "N", "A-B", a comma
 * separated list of those ("0,2-3"), or "all" (every online core). 0, or
 * FL_EINVAL for anything else, an empty set or a core past 63. */
int wr_cpu_list_parse(const char *s, uint64_t *mask);

/* The CPU time (user+sys, µs) of every thread of a process at one moment
 * (/proc/PID/task/TID/stat), each with the fluo worker it is: N for a
 * thread named "fluo-worker-N" (N < WR_MAX_WORKERS), -1 for any other. */
#define WR_MAX_WORKERS 64

typedef struct wr_thread_cpu {
    int tid;
    int worker;
    uint64_t us;
} wr_thread_cpu;

typedef struct wr_threads {
    wr_thread_cpu *t;
    size_t n, cap;
} wr_threads;

/* Reads the threads of pid into s (its earlier content replaced). 0,
 * FL_EIO (no such process) or FL_ENOMEM. */
int wr_threads_read(pid_t pid, wr_threads *s);
void wr_threads_free(wr_threads *s);

/* The CPU time each worker and the other threads spent between two
 * readings: per thread, its time at `to` less its time at `from` (0 for
 * a thread made since); a thread gone by `to` is not counted. nworkers:
 * the highest worker index seen at `to`, plus one. */
typedef struct wr_worker_cpu {
    int nworkers;
    uint64_t worker_us[WR_MAX_WORKERS];
    uint64_t other_us;
} wr_worker_cpu;

void wr_threads_diff(const wr_threads *from, const wr_threads *to, wr_worker_cpu *out);

/* ---- media (bench/wr_media.c) ---- */

/* A camera's video: VP8 640x480 30 fps, key_s seconds long (so a key frame
 * starts every key_s seconds when it loops, and the sender restarts it on
 * PLI/FIR), its key frame grown to key_bytes of payload (filler packets
 * that continue the frame, S=0, the marker on the last; a camera's key
 * frame at 640x480 is tens of kB where the synthetic picture's is 3 kB),
 * and libvpx's rate lowered by what the filler adds, so that the average
 * over a loop, key frame included, is about kbps. 0, FL_EINVAL (kbps
 * too low for such a key frame), FL_ENOMEM or fl_clip_vp8's errors. Free
 * with wr_camera_clip_destroy (not fl_clip_destroy). */
int wr_camera_clip(fl_clip **out, int kbps, int key_s, size_t key_bytes);
/* The same at width x height (a simulcast layer's size). */
int wr_camera_clip_sized(fl_clip **out,
                         int width,
                         int height,
                         int kbps,
                         int key_s,
                         size_t key_bytes);
void wr_camera_clip_destroy(fl_clip *clip);

/* ---- simulcast (bench/wr_simulcast.c) ---- */

/* Makes p a simulcast publisher of WR_LAYERS layers of VP8 (before its
 * offer): layer k sends clips[k] (lowest first) on an SSRC of its own,
 * layer 0 on tx[1]'s; the offer then names the three in a=ssrc lines and
 * a=ssrc-group:SIM, lowest first. */
void wr_peer_simulcast(wr_peer *p, fl_clip *const clips[WR_LAYERS]);

/* The offer text (malloc'd) with p's layers added to its video section:
 * "a=ssrc-group:SIM s0 s1 s2" and each layer's a=ssrc cname and msid
 * lines, as Chromium writes an SSRC simulcast offer. Takes `offer` (freed
 * or returned); NULL when it has no video section or on no memory. */
char *wr_simulcast_offer(const wr_peer *p, char *offer);

/* The layer a viewer got most of since `since` (its rx_layer counts
 * then), and that layer's share of its video packets (0..1); -1 and 0 when
 * it got none. */
int wr_viewer_layer(const wr_peer *p, const uint64_t since[WR_LAYERS], double *share);

/* ---- servers ---- */

extern wr_server fl_wr_server_fluo;  /* bench/wr_fluo.c */
extern wr_server fl_wr_server_floor; /* bench/wr_floor.c */
extern wr_server fl_wr_server_janus; /* bench/wr_janus.c */

/* /proc figures of a process: CPU time (user+sys) in µs, RSS in kB. */
int wr_proc_cpu_us(pid_t pid, uint64_t *out);
int wr_proc_rss_kb(pid_t pid, uint64_t *out);
/* Open file descriptors of a process (entries of /proc/PID/fd). */
int wr_proc_fds(pid_t pid, uint64_t *out);

/* The fluo binary beside fluo-bench (argv0's directory + "fluo"), in a
 * buffer that lives as long as the program. */
const char *wr_default_fluo_bin(const char *argv0);

/* ---- what the scenarios share (bench/wr_scenario.c) ---- */

/* One option of a subcommand: "--name value", the value read into *i
 * (atoi) or, when i is NULL, pointed to by *s (argv's string). */
typedef struct wr_arg {
    const char *name;
    int *i;
    const char **s;
} wr_arg;

/* Reads argv[1..argc) as "--name value" pairs into the targets of args (a
 * table ending with a NULL name). 0, or FL_EINVAL for a name not in the
 * table or one without a value. The values' ranges are the caller's to
 * check. */
int wr_args_parse(const wr_arg *args, int argc, char **argv);

/* The options of a scenario run against one fluo it starts (record, play):
 * --server (fluo), --sessions (1-1000, 10 by default), --seconds (2-3600,
 * 20), --fluo-bin (beside fluo-bench), --workers. */
typedef struct wr_fluo_opts {
    const char *server_name;
    const char *fluo_bin;
    int sessions;
    int seconds;
    int workers;
} wr_fluo_opts;

/* Reads such a scenario's options into o (argv0: fluo-bench's own path)
 * and readies b (zeroed here) for it: its scenario name, the options,
 * the random generator seeded with the time, the client on 127.0.0.1.
 * 0; FL_EINVAL for options it does not take (the caller prints its
 * usage); FL_ENOTSUP for a server other than fluo (said on stderr). */
int wr_fluo_scenario_init(wr_bench *b,
                          wr_fluo_opts *o,
                          const char *scenario,
                          int argc,
                          char **argv,
                          const char *argv0);

/* The loss over a window, in percent of the packets expected (100 when
 * none were: nothing came at all). */
double wr_loss_pct(uint64_t expected, uint64_t received);

/* The RTP packets every peer of b has sent so far, audio and video. */
uint64_t wr_bench_sent_packets(const wr_bench *b);

/* What forwarding cost over the echo windows of a scenario that sets
 * something else against it (record, play): the packets the peers sent
 * and got back, the server's CPU time (µs), and the packets expected and
 * received for the loss. */
typedef struct wr_fwd {
    uint64_t pkts, sent, cpu_us, expected, received;
} wr_fwd;

/* Runs b's loop for `seconds` as one measured window of echo (the peers
 * looped back to themselves), prints its line ("SCENARIO phase=echo_WHEN
 * seconds=X sent_pkts=N fwd_pkts=N cpu_us=N loss_pct=X") and adds its
 * figures to f's. */
void wr_fwd_window(wr_bench *b, const char *scenario, const char *when, double seconds, wr_fwd *f);

/* Prints the echo windows' sum ("SCENARIO phase=echo seconds=S
 * sent_pkts=N fwd_pkts=N cpu_us=N loss_pct=X"). */
void wr_fwd_report(const char *scenario, int seconds, const wr_fwd *f);

/* The server's CPU µs per forwarded packet over f's windows; 0 when none
 * came back. */
double wr_fwd_cpu_us_per_pkt(const wr_fwd *f);

#endif
