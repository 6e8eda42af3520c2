/* Private to rpc/server*.c: the access token the control server checks
 * before it takes a request. Runs on the server's loop thread. */
#ifndef FL_RPC_SERVER_INT_H
#define FL_RPC_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/http.h"

/* True if `token` is NULL or empty, or the request carries it: as
 * "access_token=TOKEN" in the query of its target (percent-decoded) or as
 * "Authorization: Bearer TOKEN". The comparison takes the same time wherever
 * the strings differ. */
bool fl__server_token_ok(const char *token, const fl_http_head *req);

#endif
