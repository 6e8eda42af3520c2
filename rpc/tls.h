/* TLS over memory (mbedTLS), sans-IO: for wss:// and https:// on the control
 * server, and for clients (the benchmark, tests).
 *
 * One fl_tls_config per server (certificate chain and key loaded once) or per
 * client setup, shared by one fl_tls per connection. Ciphertext received from
 * the socket goes into fl_tls_handle_input(), which drives the handshake and
 * hands back the plaintext; plaintext to send goes into fl_tls_write() (held
 * until the handshake is done); the ciphertext to put on the socket is taken
 * with fl_tls_poll_transmit(). Randomness comes from the fl_rand given to the
 * config. No sockets, no clock. A config may be used by several fl_tls of one
 * thread; an fl_tls belongs to one thread. */
#ifndef FL_RPC_TLS_H
#define FL_RPC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/bytes.h"
#include "base/rand.h"

typedef struct fl_tls_config fl_tls_config;
typedef struct fl_tls fl_tls;

/* Server config. `cert_file`: PEM with the certificate chain (leaf first),
 * and the private key too when `key_file` is NULL. `key_password` (may be
 * NULL) decrypts an encrypted key. `rand` NULL: fl_rand_system(); it must
 * outlive the config. FL_ETLS (logged) when a file is missing or unusable or
 * the key does not match the certificate; FL_ENOMEM. */
int fl_tls_config_create_server(fl_tls_config **out,
                                const char *cert_file,
                                const char *key_file,
                                const char *key_password,
                                fl_rand *rand);

/* Client config. `ca_file` NULL: the peer is not verified (benchmarks,
 * tests); else PEM with the trusted roots, and the server name given to
 * fl_tls_create is checked. */
int fl_tls_config_create_client(fl_tls_config **out, const char *ca_file, fl_rand *rand);

/* Frees a config; every fl_tls using it must be destroyed first. */
void fl_tls_config_destroy(fl_tls_config *cfg);

/* One connection. `server_name` (client only, may be NULL) goes into SNI and
 * is verified when the config has a CA. A client queues its ClientHello at
 * once. FL_ENOMEM, FL_ETLS. */
int fl_tls_create(fl_tls **out, fl_tls_config *cfg, const char *server_name);
void fl_tls_destroy(fl_tls *t);

/* Feeds ciphertext, progresses the handshake and appends every plaintext
 * byte now available to `plain`. Returns 0; FL_ECLOSED once the peer sent
 * close_notify (plaintext before it is still appended); FL_ETLS on a fatal
 * error (an alert may be queued for sending); FL_ENOMEM. */
int fl_tls_handle_input(fl_tls *t, const uint8_t *data, size_t len, fl_bytes *plain);

/* Encrypts plaintext for sending (held until the handshake completes).
 * FL_ECLOSED after fl_tls_close or the peer's close, FL_ETLS after a fatal
 * error, FL_ENOMEM. */
int fl_tls_write(fl_tls *t, const void *data, size_t len);

/* Queues close_notify. Later writes fail with FL_ECLOSED. */
int fl_tls_close(fl_tls *t);

/* Moves the ciphertext waiting to be sent into *out (overwritten; the
 * caller deinits it). FL_EAGAIN when there is none. */
int fl_tls_poll_transmit(fl_tls *t, fl_bytes *out);

/* True once the handshake has completed. */
bool fl_tls_is_established(const fl_tls *t);

#endif
