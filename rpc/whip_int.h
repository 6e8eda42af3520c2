/* Private to rpc/: WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) on the
 * control port (rpc/whip.c), and the sans-IO text work under them
 * (rpc/whip_sdpfrag.c): the trickle-ICE SDP fragments of PATCH requests
 * (RFC 8840) and our candidates put into an SDP answer. Main-loop thread
 * only. */
#ifndef FL_RPC_WHIP_INT_H
#define FL_RPC_WHIP_INT_H

#include <stddef.h>

#include "base/bytes.h"
#include "rpc/server.h"

struct fl_rpc;

/* ---- whip.c ---- */

/* The route of /whip/... and /whep/...: FL_ENOENT for other paths, else 0
 * (the request answered or taken), as fl_rpc_server_callbacks.on_request. */
int fl__whip_route(struct fl_rpc *rpc, fl_rpc_http *req);
/* At service shutdown, before the clients close: requests waiting for an
 * answer get 503, the WHIP state is freed (the objects go with the rest of
 * the registry). */
void fl__whip_shutdown(struct fl_rpc *rpc);

/* ---- whip_sdpfrag.c ---- */

#define FL__SDPFRAG_MAX_CANDS 64
#define FL__SDPFRAG_MAX_LINE  1024

typedef struct fl__sdpfrag_cand {
    char mid[64];   /* the a=mid of its m= section; "" when none came before it */
    int mline;      /* its m= section's index in the fragment; -1 before any m= line */
    char line[512]; /* "candidate:..." (without "a=") */
} fl__sdpfrag_cand;

typedef struct fl__sdpfrag {
    char ufrag[257]; /* the first a=ice-ufrag, "" when none */
    char pwd[257];   /* the first a=ice-pwd, "" when none */
    int nmedia;      /* m= lines */
    int end_of_candidates;
    size_t ncands;
    fl__sdpfrag_cand cands[FL__SDPFRAG_MAX_CANDS];
} fl__sdpfrag;

/* Parses an application/trickle-ice-sdpfrag body (RFC 8840 9: SDP lines,
 * CRLF or LF, session-level attributes then m= sections). Only what WHIP
 * uses is kept; other lines are skipped. Returns 0; FL_EBADMSG for a line
 * that is not "<letter>=...", a control character, a line longer than
 * FL__SDPFRAG_MAX_LINE, an a=mid, ufrag, pwd or candidate too long for its
 * field, or a candidate line that does not start "candidate:";
 * FL_ERANGE for more than FL__SDPFRAG_MAX_CANDS candidates. */
int fl__sdpfrag_parse(fl__sdpfrag *f, const char *text, size_t len);

/* The first a=ice-ufrag value of an SDP (any section) into out (cap bytes),
 * "" when none or too long. */
void fl__sdp_ice_ufrag(const char *sdp, char *out, size_t cap);

/* Appends to out the SDP `sdp` with candidates added at the end of each m=
 * section: `cands` holds lines "MID\tcandidate:...\n" (our gathered ones);
 * a section takes those whose MID is its a=mid, and "a=end-of-candidates"
 * after them when `complete`. Lines keep their own ending; the added ones
 * end in CRLF. 0, or FL_ENOMEM. */
int fl__sdp_add_candidates(fl_bytes *out,
                           const char *sdp,
                           size_t sdp_len,
                           const char *cands,
                           size_t cands_len,
                           int complete);

#endif
