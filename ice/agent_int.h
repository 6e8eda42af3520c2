/* Private to ice/agent.c, ice/agent_tcp.c, ice/checklist.c and ice/candidate.c. */
#ifndef FL_ICE_AGENT_INT_H
#define FL_ICE_AGENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/addr.h"
#include "base/rand.h"
#include "base/time.h"
#include "ice/agent.h"
#include "ice/stun.h"

#define FL__ICE_MAX_LOCAL   32
#define FL__ICE_MAX_REMOTE  64
#define FL__ICE_MAX_PAIRS   100 /* RFC 8445 §6.1.2.5 default limit */
#define FL__ICE_MAX_SERVERS 4
#define FL__ICE_MAX_GATHER  32
#define FL__ICE_TXQ         64 /* most transmits queued; the ring grows to it on demand */
#define FL__ICE_EVQ         64 /* most events queued; likewise */
#define FL__ICE_RING_MIN    4  /* a ring's first size */
#define FL__ICE_CONSENT_IDS 8

enum fl__ice_pair_state {
    FL__PAIR_FROZEN = 0,
    FL__PAIR_WAITING,
    FL__PAIR_IN_PROGRESS,
    FL__PAIR_SUCCEEDED,
    FL__PAIR_FAILED,
};

/* A local candidate on a base. ICE-TCP: the passive candidate is a local on
 * the listener's socket id (never paired itself); each connection accepted
 * on it is a hidden local (tcp_conn, a copy of the passive candidate on the
 * connection's socket id) to which that connection's pairs are bound. */
typedef struct fl__ice_local {
    fl_ice_candidate c;
    fl_addr base;
    int socket_id;
    uint16_t local_pref; /* 16-bit local preference (TCP: RFC 6544 §4.2) */
    uint8_t in_use;
    uint8_t tcp_conn;   /* bound to a TCP connection, not announced */
    uint8_t tcp_closed; /* that connection closed: its pairs failed */
} fl__ice_local;

typedef struct fl__ice_remote {
    fl_ice_candidate c;
    uint8_t in_use;
    uint8_t stale; /* kept across a restart for the selected pair only */
} fl__ice_remote;

typedef struct fl__ice_pair {
    uint8_t in_use;
    uint8_t state;
    uint8_t valid;
    uint8_t nominated;
    uint8_t use_cand;            /* the check in flight carries USE-CANDIDATE */
    uint8_t nominate_on_success; /* controlled: USE-CANDIDATE seen before success */
    uint8_t triggered;           /* in the triggered-check queue */
    uint8_t sent_role;           /* role in the request in flight (for 487) */
    uint8_t stale;               /* the previous selected pair during a restart */
    uint8_t has_old_txn;
    uint8_t peer_checked; /* an authenticated check from the peer arrived on it */
    int local;
    int remote;
    int vpair; /* the valid pair this check produced, or -1 */
    uint64_t prio;
    uint32_t trigger_seq;
    fl_stun_txn txn;
    uint8_t old_txn[FL_STUN_TXN_ID_SIZE]; /* cancelled check still answered */
} fl__ice_pair;

typedef struct fl__ice_gather {
    int local;
    int server;
    uint8_t started;
    uint8_t done;
    fl_stun_txn txn;
} fl__ice_gather;

typedef struct fl__ice_comp {
    fl_ice_state state;
    int selected;   /* pair index or -1 */
    int nominating; /* controlling: pair whose USE-CANDIDATE check is out, or -1 */
    uint8_t consent_lost;
    fl_time first_valid;
    fl_time consent_next;
    fl_time consent_ok; /* last authenticated response (full) or request (lite) */
    fl_time keepalive_next;
} fl__ice_comp;

struct fl_ice_agent {
    fl_ice_agent_config cfg;
    fl_rand *rand;
    fl_ice_role role;
    uint64_t tiebreaker;
    char ufrag[FL_ICE_UFRAG_MAX];
    char pwd[FL_ICE_PWD_MAX];
    char prev_ufrag[FL_ICE_UFRAG_MAX]; /* during a restart: still answered */
    char prev_pwd[FL_ICE_PWD_MAX];
    char rufrag[FL_ICE_UFRAG_MAX];
    char rpwd[FL_ICE_PWD_MAX];
    char prev_rufrag[FL_ICE_UFRAG_MAX]; /* for consent on the stale pair */
    char prev_rpwd[FL_ICE_PWD_MAX];

    /* arrays grown on demand (fl__ice_grow) up to FL__ICE_MAX_LOCAL,
     * _REMOTE, _PAIRS: an agent with one candidate each side holds a few
     * entries, not 43 kB. An entry's index stays; its address may change
     * when an entry of the same array is added. */
    fl__ice_local *locals;
    int n_locals, cap_locals;
    fl__ice_remote *remotes;
    int n_remotes, cap_remotes;
    fl__ice_pair *pairs;
    int n_pairs, cap_pairs;
    uint32_t trigger_seq;

    fl_addr servers[FL__ICE_MAX_SERVERS];
    int n_servers;
    fl__ice_gather gathers[FL__ICE_MAX_GATHER];
    int n_gathers;
    uint8_t gather_started;
    uint8_t gather_done;
    uint8_t remote_eoc;

    fl__ice_comp comps[FL_ICE_MAX_COMPONENTS + 1]; /* index = component id */
    fl_time next_pace;
    uint8_t consent_ids[FL__ICE_CONSENT_IDS][FL_STUN_TXN_ID_SIZE];
    int consent_pair[FL__ICE_CONSENT_IDS];
    int consent_head;

    /* rings, allocated when first used and doubled when full (up to
     * FL__ICE_TXQ, FL__ICE_EVQ): an idle agent holds a few slots, not 80 kB;
     * emptied, they restart at slot 0 */
    fl_ice_transmit *txq;
    int tx_head, tx_len, tx_cap;
    fl_ice_event *evq;
    int ev_head, ev_len, ev_cap;
    fl_ice_stats stats;
};

/* candidate.c */
int fl__ice_is_ice_char(int ch);

/* agent.c */
void fl__ice_announce(fl_ice_agent *a, int local);
const char *fl__ice_authenticate(const fl_ice_agent *a, const fl_stun_msg *m);
void fl__ice_consent_lost(fl_ice_agent *a, uint16_t comp, fl_time now);
fl_ice_transmit *fl__ice_tx_slot(fl_ice_agent *a);
/* Makes room for entry `need` (from 0) of an array of `size`-byte entries
 * with room for *cap, doubled (from FL__ICE_RING_MIN) up to `max`; new
 * entries are zeroed. 0; FL_ERANGE when need >= max; FL_ENOMEM (the array
 * is as it was). */
int fl__ice_grow(void **arr, int *cap, int need, int max, size_t size);
fl_ice_event *fl__ice_ev_slot(fl_ice_agent *a, fl_ice_event_type type, uint16_t comp);
void fl__ice_update_state(fl_ice_agent *a, uint16_t comp, fl_time now);
void fl__ice_set_role(fl_ice_agent *a, fl_ice_role role);
int fl__ice_local_add(fl_ice_agent *a, const fl__ice_local *l);

/* checklist.c */
void fl__ice_pair_with_remote(fl_ice_agent *a, int remote);
void fl__ice_pair_with_local(fl_ice_agent *a, int local);
int fl__ice_pair_find(const fl_ice_agent *a, int local, int remote);
int fl__ice_pair_add(fl_ice_agent *a, int local, int remote, uint8_t state);
void fl__ice_pairs_reprioritise(fl_ice_agent *a);
void fl__ice_trigger(fl_ice_agent *a, int pair);
void fl__ice_checklist_tick(fl_ice_agent *a, fl_time now);
void fl__ice_checklist_timers(fl_ice_agent *a, fl_time now);
fl_time fl__ice_checklist_timeout(const fl_ice_agent *a);
int fl__ice_build_check(fl_ice_agent *a, const fl__ice_pair *p, const uint8_t *txid, int consent);
void fl__ice_on_check_success(fl_ice_agent *a, int pair, const fl_stun_msg *m, fl_time now);
void fl__ice_on_check_error(fl_ice_agent *a, int pair, const fl_stun_msg *m, fl_time now);
void fl__ice_select(fl_ice_agent *a, int pair, fl_time now);
int fl__ice_comp_all_failed(const fl_ice_agent *a, uint16_t comp);
void fl__ice_pair_failed(fl_ice_agent *a, int pair);

/* agent_tcp.c */
int fl__ice_tcp_socket_used(const fl_ice_agent *a, int socket_id);
int fl__ice_tcp_waiting(const fl_ice_agent *a, uint16_t comp);

#endif
