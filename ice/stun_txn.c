/* STUN client transactions: retransmission timers (RFC 8489 §6.2.1, §6.2.2).
 * See stun.h. */
#include <string.h>

#include "base/err.h"
#include "ice/stun.h"

void fl_stun_txn_id_generate(fl_rand *r, uint8_t id[FL_STUN_TXN_ID_SIZE])
{
    fl_rand_fill(r, id, FL_STUN_TXN_ID_SIZE);
}

void fl_stun_txn_init(fl_stun_txn *t, fl_rand *r)
{
    memset(t, 0, sizeof *t);
    fl_stun_txn_id_generate(r, t->id);
    t->next = FL_TIME_NEVER;
    t->done = 1;
}

void fl_stun_txn_start_ex(fl_stun_txn *t,
                          fl_time now,
                          fl_time rto,
                          unsigned rc,
                          unsigned rm,
                          int reliable)
{
    t->rto = rto > 0 ? rto : FL_STUN_RTO_DEFAULT;
    t->rc = rc > 0 ? rc : FL_STUN_RC_DEFAULT;
    t->rm = rm > 0 ? rm : FL_STUN_RM_DEFAULT;
    t->reliable = reliable != 0;
    t->sent = 1;
    t->done = 0;
    t->interval = t->rto;
    t->max_interval = 0;
    if (t->reliable) {
        t->next = now + FL_STUN_TI_DEFAULT;
    } else if (t->rc == 1) {
        t->next = now + (fl_time)t->rm * t->rto;
    } else {
        t->next = now + t->rto;
    }
}

void fl_stun_txn_start(fl_stun_txn *t, fl_time now, fl_time rto, int reliable)
{
    fl_stun_txn_start_ex(t, now, rto, 0, 0, reliable);
}

fl_time fl_stun_txn_poll_timeout(const fl_stun_txn *t)
{
    return t->done ? FL_TIME_NEVER : t->next;
}

int fl_stun_txn_handle_timeout(fl_stun_txn *t, fl_time now)
{
    if (t->done || now < t->next) {
        return FL_STUN_TXN_WAIT;
    }
    if (t->reliable || t->sent >= t->rc) {
        t->done = 1;
        t->next = FL_TIME_NEVER;
        return FL_STUN_TXN_TIMED_OUT;
    }
    t->sent++;
    if (t->sent == t->rc) {
        /* last transmission: wait Rm * RTO for the answer */
        t->next += (fl_time)t->rm * t->rto;
    } else {
        t->interval *= 2;
        if (t->max_interval > 0 && t->interval > t->max_interval)
            t->interval = t->max_interval;
        t->next += t->interval;
    }
    return FL_STUN_TXN_RETRANSMIT;
}

void fl_stun_txn_finish(fl_stun_txn *t)
{
    t->done = 1;
    t->next = FL_TIME_NEVER;
}

int fl_stun_txn_matches(const fl_stun_txn *t, const fl_stun_msg *m)
{
    return (m->cls == FL_STUN_SUCCESS || m->cls == FL_STUN_ERROR) &&
           memcmp(t->id, m->txn_id, FL_STUN_TXN_ID_SIZE) == 0;
}
