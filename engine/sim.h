/* A simulation: the engine on a virtual clock and a virtual network, driven
 * step by step from one thread (private to engine/ and its tests).
 *
 * An engine made with fl__engine_create_sim has one worker and no thread:
 * its loop runs only inside fl__sim_settle and fl__sim_advance, on the
 * caller's thread, and callbacks and events run there too. Its clock
 * (fl__clock_now) is the simulation's, which moves only when the caller
 * advances it; its random generator (fl__clock_rand) is seeded. Its timers
 * (fl__deadline) fire in virtual time. Its UDP sockets are bound for real
 * (so ports and addresses are real ones) but every datagram they send goes
 * into the simulation's network, which delivers it to the socket bound to
 * the destination after the configured delay, or drops it as configured;
 * nothing crosses the kernel. Nothing sleeps: a second of media takes the
 * CPU time its packets need.
 *
 * What the simulation does not cover: ICE-TCP and TURN (real sockets,
 * nothing listens), and the wall clock (certificates, stats timestamps).
 *
 * Threads: one, the caller's, for the simulation and its engine; one
 * simulation per thread at a time. */
#ifndef FL_ENGINE_SIM_H
#define FL_ENGINE_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/addr.h"
#include "base/buf.h"
#include "base/list.h"
#include "base/rand.h"
#include "base/time.h"
#include "engine/fluo.h"

typedef struct fl__sim fl__sim;

typedef struct fl__sim_stats {
    uint64_t sent;        /* datagrams handed to the network */
    uint64_t delivered;   /* datagrams given to a socket */
    uint64_t dropped;     /* lost on purpose (loss rate, fl__sim_drop) */
    uint64_t unreachable; /* no socket bound to the destination */
    uint64_t timers;      /* deadlines fired */
} fl__sim_stats;

/* A simulation at virtual time `start` (> 0) with a generator seeded with
 * `seed`. FL_ENOMEM. */
int fl__sim_create(fl__sim **out, fl_time start, uint64_t seed);

/* Frees the simulation; its engine must have been destroyed. */
void fl__sim_destroy(fl__sim *s);

/* An engine of one worker run by the simulation (see above). Destroy it
 * with fl_engine_destroy as any other. */
int fl__engine_create_sim(fl_engine **out, fl__sim *s);

fl_time fl__sim_now(const fl__sim *s);
fl_rand *fl__sim_rand(fl__sim *s);

/* The network: every datagram takes `delay` and is lost with probability
 * loss_permille / 1000 (drawn from the seeded generator). Default 0, 0. */
void fl__sim_set_network(fl__sim *s, fl_time delay, unsigned loss_permille);

/* Runs the loop, delivers the datagrams and fires the deadlines that are
 * due at the current virtual time, again and again until nothing happens.
 * FL_EAGAIN when it never settled (a livelock: logged). */
int fl__sim_settle(fl__sim *s);

/* Advances virtual time by dt, stopping at each deadline and delivery on
 * the way, and settles at each. Returns what fl__sim_settle returned. */
int fl__sim_advance(fl__sim *s, fl_time dt);

void fl__sim_get_stats(const fl__sim *s, fl__sim_stats *out);

/* ---- for engine/ ---- */

/* Makes loop the simulated worker's (on the calling thread). */
void fl__sim_attach(fl__sim *s, uv_loop_t *loop);

/* Notes that something ran (a batch of calls), so settling goes on. */
void fl__sim_busy(fl__sim *s);

/* The simulation `loop` belongs to; NULL for any other loop (a real
 * worker's, a test's own). A thread has at most one simulation at a time. */
fl__sim *fl__loop_sim(const uv_loop_t *loop);

/* The clock and generator of whatever runs on `loop`: the simulation's for
 * a simulated worker, the real ones otherwise. */
fl_time fl__clock_now(const uv_loop_t *loop);
fl_rand *fl__clock_rand(const uv_loop_t *loop);

/* Deadlines (engine/deadline.c) in virtual time: a registered deadline has
 * its `at` looked at by the simulation, which calls fire when it is due. */
typedef struct fl__sim_timer {
    fl_list node;
    fl_time at; /* FL_TIME_NEVER: not armed */
    void (*fire)(struct fl__sim_timer *t);
} fl__sim_timer;

void fl__sim_timer_add(fl__sim *s, fl__sim_timer *t);
void fl__sim_timer_remove(fl__sim_timer *t);

/* Sockets (engine/udp.c): a bound socket registers its address; the
 * network delivers what is sent to it with deliver(). */
typedef struct fl__sim_socket {
    fl_list node;
    fl_addr local;
    void (*deliver)(struct fl__sim_socket *so,
                    const fl_addr *from,
                    const uint8_t *data,
                    size_t len);
} fl__sim_socket;

void fl__sim_socket_add(fl__sim *s, fl__sim_socket *so);
void fl__sim_socket_remove(fl__sim_socket *so);

/* Sends len bytes from `from` to `to` (copied). */
void fl__sim_send(fl__sim *s,
                  const fl_addr *from,
                  const fl_addr *to,
                  const uint8_t *data,
                  size_t len);

#endif
