/* The blocking Kurento Protocol client of fluo-bench (private to bench/):
 * starts build/fluo as a child (media on loopback only, log level 2, its
 * configuration in a temporary file) and drives it through JSON-RPC over one
 * blocking WebSocket on loopback. A call sends its request and reads until
 * its reply (event notifications in between are dropped); requests can also
 * be sent several at once and their replies read as they come
 * (fl_bench_kc_send, fl_bench_kc_next, fl_bench_kc_value). While a reply is
 * awaited the harness's loop runs when kc->pump or its b->pump_calls is set,
 * so the client's peers keep sending. Errors are explained on stderr. Not
 * thread-safe: the thread that runs the harness's loop drives its client. */
#ifndef FL_BENCH_KCLIENT_H
#define FL_BENCH_KCLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "bench/wr.h"
#include "rpc/ws.h"

typedef struct fl_bench_kc {
    wr_bench *b; /* the harness it was started for */
    pid_t pid;   /* the fluo child; 0: none */
    int port;
    int fd; /* the control connection; -1: none */
    fl_ws *ws;
    int next_id;
    char session[64];  /* the sessionId fluo gave */
    char cfg_path[64]; /* fluo's configuration, removed by stop */
    int pump;          /* set: b's loop runs while a reply is awaited */
} fl_bench_kc;

/* A client not started (or stopped). */
#define FL_BENCH_KC_INIT \
    {                    \
        .fd = -1         \
    }

/* Starts b->fluo_bin (--workers b->workers) on a free port with media on
 * loopback only, fluo_cfg's members (borrowed; NULL: none) added to the
 * "fluo" object of its configuration, opens the control connection (up to
 * 5 s) and pings. kc is FL_BENCH_KC_INIT or stopped. The child is killed
 * if the calling thread dies. On failure fl_bench_kc_stop must still be
 * called (the child may be running). 0 or FL_EIO. */
int fl_bench_kc_start(fl_bench_kc *kc, wr_bench *b, json_t *fluo_cfg);

/* fl_bench_kc_start with one setting of the "fluo" object (key: value, a
 * string: "playRoots", "recordRoots"), b->pid set to the child's. */
int fl_bench_kc_start_with(fl_bench_kc *kc, wr_bench *b, const char *key, const char *value);

/* fl_bench_kc_stop, b->pid cleared. */
void fl_bench_kc_stop_bench(fl_bench_kc *kc, wr_bench *b);

/* Closes the connection, sends fluo SIGTERM (SIGKILL after 5 s), reaps it,
 * removes its configuration; kc is FL_BENCH_KC_INIT after. */
void fl_bench_kc_stop(fl_bench_kc *kc);

/* Sends one JSON-RPC request (takes params; the session's id added); its
 * id, or a negative code. */
int fl_bench_kc_send(fl_bench_kc *kc, const char *method, json_t *params);

/* The next message from fluo (new reference), a reply or an event; NULL
 * when the connection closed. */
json_t *fl_bench_kc_next(fl_bench_kc *kc);

/* A reply's result "value" (new reference; JSON null when absent; the
 * session's id kept), or NULL with its error printed under method's name. */
json_t *fl_bench_kc_value(fl_bench_kc *kc, const char *method, json_t *msg);

/* One call (takes params): its result's value (new reference; JSON null
 * when absent), or NULL with the error printed. */
json_t *fl_bench_kc_call(fl_bench_kc *kc, const char *method, json_t *params);

/* create TYPE with constructorParams ctor (taken; NULL: none); the new
 * object's id into id[cap]. 0 or FL_EIO (an id that does not fit too). */
int fl_bench_kc_create(fl_bench_kc *kc, const char *type, json_t *ctor, char *id, size_t cap);

/* invoke op on object with operationParams params (taken; NULL: {}): its
 * value as fl_bench_kc_call gives it. */
json_t *fl_bench_kc_invoke(fl_bench_kc *kc, const char *object, const char *op, json_t *params);

/* The same, its value dropped: 0 or FL_EIO. */
int fl_bench_kc_invoke_void(fl_bench_kc *kc, const char *object, const char *op, json_t *params);

#endif
