/* embed_loopback: an appliance built on libfluo alone (no control server).
 *
 * It starts the engine, makes a pipeline with one WebRtcEndpoint connected
 * to itself, so whatever the peer sends comes back to it, and does the
 * signalling over stdin and stdout:
 *
 *   stdin   an SDP offer, ended by an empty line (or by the end of input)
 *   stdout  the SDP answer with every ICE candidate of the endpoint in it
 *           (gathering is awaited, so the peer needs no trickle), then an
 *           empty line
 *   stderr  what happens: ICE, DTLS and media states, and at the end the
 *           packets looped
 *
 * It runs until SIGINT or SIGTERM, or until stdin closes after the offer's
 * empty line (an offer ended by the end of input is answered, then it
 * stops). Arguments NAME=VALUE set WebRtcEndpoint properties before the
 * offer is processed (e.g. networkInterfaces=lo minPort=40000
 * maxPort=40100 stunServerAddress=... externalIPv4=...).
 *
 * Build against an installed libfluo:
 *
 *   cc -std=c11 -pthread -o embed_loopback embed_loopback.c \
 *       $(pkg-config --cflags --libs fluo)
 *
 * Every engine call that returns 0 completes by its callback, once (one
 * that returns an error never calls it); with no callback loop configured
 * those run on the engine's worker thread, so this program waits for them
 * with a mutex and a condition variable. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fluo.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GATHER_TIMEOUT_S 10
#define MAX_CANDIDATES   64
#define MAX_OFFER        (256 * 1024)

/* The result of one asynchronous call, awaited by the main thread. */
typedef struct reply {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int status;
    char *text;
} reply;

/* What the endpoint's events tell (written on the worker thread). */
typedef struct app {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *cand[MAX_CANDIDATES]; /* "candidate:..." */
    int cand_mline[MAX_CANDIDATES];
    int ncand;
    int gathered;
} app;

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("embed_loopback: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void reply_init(reply *r)
{
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->done = 0;
    r->status = 0;
    r->text = NULL;
}

static void reply_deinit(reply *r)
{
    free(r->text);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

static void reply_set(reply *r, int status, const char *text)
{
    pthread_mutex_lock(&r->mu);
    r->status = status;
    free(r->text);
    r->text = text ? strdup(text) : NULL;
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_done(void *arg, int status)
{
    reply_set(arg, status, NULL);
}

static void on_text(void *arg, int status, const char *text)
{
    reply_set(arg, status, text);
}

/* The status of a call that returned rc: rc itself when the call failed at
 * once (its callback will not run), else its callback's, waited for (the
 * reply is reset for the next call, its text kept until then). */
static int reply_wait(reply *r, int rc)
{
    if (rc < 0) {
        free(r->text);
        r->text = NULL;
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->done)
        pthread_cond_wait(&r->cv, &r->mu);
    r->done = 0;
    int status = r->status;
    pthread_mutex_unlock(&r->mu);
    return status;
}

static const char *ice_state_name(enum fl_ice_component_state s)
{
    static const char *names[] = { "DISCONNECTED", "GATHERING", "CONNECTING",
                                   "CONNECTED",    "READY",     "FAILED" };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static const char *connection_state_name(enum fl_connection_state s)
{
    return s == FL_CONNECTION_CONNECTED ? "CONNECTED" : "DISCONNECTED";
}

static void on_event(void *arg, const fl_event *ev)
{
    app *a = arg;
    switch (ev->type) {
    case FL_EVENT_ICE_CANDIDATE: {
        const fl_event_ice_candidate *c = &ev->ice_candidate;
        pthread_mutex_lock(&a->mu);
        if (a->ncand < MAX_CANDIDATES && (a->cand[a->ncand] = strdup(c->candidate)))
            a->cand_mline[a->ncand++] = c->sdp_mline_index;
        pthread_mutex_unlock(&a->mu);
        break;
    }
    case FL_EVENT_ICE_GATHERING_DONE:
        pthread_mutex_lock(&a->mu);
        a->gathered = 1;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        break;
    case FL_EVENT_ICE_COMPONENT_STATE:
        say("ICE %s", ice_state_name(ev->ice_component_state.state));
        break;
    case FL_EVENT_ICE_PAIR_SELECTED:
        say("ICE pair %s <-> %s", ev->ice_pair_selected.local_candidate,
            ev->ice_pair_selected.remote_candidate);
        break;
    case FL_EVENT_CONNECTION_STATE:
        say("connection %s", connection_state_name(ev->connection_state.new_state));
        break;
    case FL_EVENT_MEDIA_STATE:
        say("media %s", connection_state_name(ev->media_state.new_state));
        break;
    case FL_EVENT_MEDIA_FLOW_IN:
    case FL_EVENT_MEDIA_FLOW_OUT:
        say("%s %s %s", fl_media_type_name(ev->media_flow.media),
            ev->type == FL_EVENT_MEDIA_FLOW_IN ? "in" : "out",
            ev->media_flow.flowing ? "flowing" : "not flowing");
        break;
    case FL_EVENT_ERROR:
        say("error %s: %s", ev->error.type, ev->error.description);
        break;
    default:
        break;
    }
}

/* Waits until the endpoint has gathered its candidates, at most timeout_s. */
static int wait_gathered(app *a, int timeout_s)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += timeout_s;
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    while (!a->gathered && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&a->cv, &a->mu, &end);
    int gathered = a->gathered;
    pthread_mutex_unlock(&a->mu);
    return gathered;
}

/* Reads the offer: lines up to an empty one (leading empty lines skipped)
 * or to the end of input (*eof set). NULL when there is no offer, or it is
 * over MAX_OFFER bytes (said on stderr): never a truncated one. */
static char *read_offer(int *eof)
{
    size_t cap = 4096, len = 0;
    char *sdp = malloc(cap);
    char *line = NULL;
    size_t linecap = 0;
    ssize_t n;
    *eof = 1;
    if (!sdp)
        return NULL;
    while ((n = getline(&line, &linecap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 && len == 0)
            continue;
        if (n == 0) {
            *eof = 0;
            break;
        }
        if (len + (size_t)n + 3 > MAX_OFFER) {
            say("the offer is over %d bytes", MAX_OFFER);
            len = 0;
            break;
        }
        if (len + (size_t)n + 3 > cap) {
            char *bigger = realloc(sdp, cap = 2 * (len + (size_t)n + 3));
            if (!bigger) {
                say("out of memory reading the offer");
                len = 0;
                break;
            }
            sdp = bigger;
        }
        memcpy(sdp + len, line, (size_t)n);
        memcpy(sdp + len + n, "\r\n", 3);
        len += (size_t)n + 2;
    }
    free(line);
    if (len == 0) {
        free(sdp);
        return NULL;
    }
    return sdp;
}

static void print_candidates(const app *a, int mline)
{
    for (int i = 0; i < a->ncand; i++) {
        /* with BUNDLE the endpoint gathers for the first media section */
        if (a->cand_mline[i] == mline || (mline == 0 && a->cand_mline[i] < 0)) {
            const char *c = a->cand[i];
            printf("a=%s%s\r\n", strncmp(c, "candidate:", 10) == 0 ? "" : "candidate:", c);
        }
    }
    if (a->gathered)
        printf("a=end-of-candidates\r\n");
}

/* Prints the answer with the candidates at the end of each media section
 * they belong to, then an empty line. */
static void print_answer(const char *answer, app *a)
{
    pthread_mutex_lock(&a->mu);
    int mline = -1;
    const char *p = answer;
    while (*p) {
        size_t n = strcspn(p, "\r\n");
        if (n >= 2 && p[0] == 'm' && p[1] == '=') {
            if (mline >= 0)
                print_candidates(a, mline);
            mline++;
        }
        if (n > 0)
            printf("%.*s\r\n", (int)n, p);
        p += n;
        p += strspn(p, "\r\n");
    }
    if (mline >= 0)
        print_candidates(a, mline);
    printf("\r\n");
    fflush(stdout);
    pthread_mutex_unlock(&a->mu);
}

/* Reads stdin to its end, then asks main to stop. */
static void *watch_stdin(void *arg)
{
    (void)arg;
    char buf[4096];
    while (fread(buf, 1, sizeof(buf), stdin) > 0) {
    }
    kill(getpid(), SIGTERM);
    return NULL;
}

/* Sets the NAME=VALUE arguments as properties of the endpoint. */
static int set_properties(fl_element *e, int argc, char **argv, reply *r)
{
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            say("'%s' is not NAME=VALUE", argv[i]);
            return -1;
        }
        *eq = '\0';
        int rc = reply_wait(r, fl_element_set_property(e, argv[i], eq + 1, on_done, r));
        if (rc < 0) {
            say("property %s=%s: %s", argv[i], eq + 1, fl_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* Everything between the engine's start and its stop: returns 0 when the
 * answer was printed and a stop was asked for. */
static int serve(fl_engine *engine, int argc, char **argv, const sigset_t *stop)
{
    app a = { .ncand = 0 };
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    reply r;
    reply_init(&r);
    fl_pipeline *pipe = NULL;
    fl_element *wr = NULL;
    char *offer = NULL, *answer = NULL;
    int eof, rc, sig, ret = -1;

    if ((rc = fl_pipeline_create(engine, &pipe)) < 0 ||
        (rc = fl_element_create(pipe, FL_ELEMENT_WEBRTC, "loopback", &wr)) < 0) {
        say("pipeline: %s", fl_strerror(rc));
        goto release;
    }
    if ((rc = fl_element_set_event_cb(wr, on_event, &a)) < 0) {
        say("events: %s", fl_strerror(rc));
        goto release;
    }
    if (set_properties(wr, argc, argv, &r) < 0)
        goto release;
    rc = fl_element_connect(wr, wr, FL_MEDIA_ALL, NULL, NULL, on_done, &r);
    if ((rc = reply_wait(&r, rc)) < 0) {
        say("connect: %s", fl_strerror(rc));
        goto release;
    }

    if (!(offer = read_offer(&eof))) {
        say("no SDP offer on stdin");
        goto release;
    }
    const char *args[] = { offer };
    rc = fl_element_invoke(wr, "processOffer", args, 1, on_text, &r);
    if ((rc = reply_wait(&r, rc)) < 0) {
        say("the offer was refused (%s): %s", fl_strerror(rc), r.text ? r.text : "");
        goto release;
    }
    answer = r.text;
    r.text = NULL;
    if (!answer) {
        say("the offer was taken but no answer came back");
        goto release;
    }
    rc = fl_element_invoke(wr, "gatherCandidates", NULL, 0, on_text, &r);
    if ((rc = reply_wait(&r, rc)) < 0) {
        say("gathering: %s", fl_strerror(rc));
        goto release;
    }
    if (!wait_gathered(&a, GATHER_TIMEOUT_S))
        say("gathering not done after %d s: answering with %d candidates", GATHER_TIMEOUT_S,
            a.ncand);
    print_answer(answer, &a);

    if (eof) {
        say("stopping (the input ended with the offer)");
    } else {
        pthread_t t;
        if (pthread_create(&t, NULL, watch_stdin, NULL) == 0)
            pthread_detach(t);
        sigwait(stop, &sig);
        say("stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM or end of input");
    }
    ret = 0;

release:
    if (pipe)
        reply_wait(&r, fl_pipeline_release(pipe, on_done, &r));
    free(offer);
    free(answer);
    for (int i = 0; i < a.ncand; i++)
        free(a.cand[i]);
    reply_deinit(&r);
    pthread_cond_destroy(&a.cv);
    pthread_mutex_destroy(&a.mu);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fprintf(stderr, "usage: %s [NAME=VALUE...] < offer.sdp\n", argv[0]);
        return 2;
    }
    say("libfluo %s (built with fluo.h %s)", fl_version_string(), FLUO_VERSION);

    /* Blocked here, in every thread the engine starts too: sigwait takes
     * them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    fl_engine *engine = NULL;
    fl_engine_config cfg = { .workers = 1, .callback_loop = NULL };
    int rc = fl_engine_create(&engine, &cfg);
    if (rc < 0) {
        say("engine: %s", fl_strerror(rc));
        return 1;
    }
    int ret = serve(engine, argc, argv, &stop);
    fl_engine_stats st;
    fl_engine_get_stats(engine, &st);
    say("looped %llu packets, %llu bytes", (unsigned long long)st.media_packets,
        (unsigned long long)st.media_bytes);
    fl_engine_destroy(engine);
    return ret < 0 ? 1 : 0;
}
