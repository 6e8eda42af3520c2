/* fluo.conf.json, then flags, then Kurento's KMS_* environment variables.
 *
 * {
 *   "mediaServer": {
 *     "resources": { "garbageCollectorPeriod": 240 },
 *     "net": { "websocket": { "port": 8888, "path": "kurento",
 *              "secure": { "port": 8433, "certificate": "cert+key.pem", "password": "" } } }
 *   },
 *   "BaseRtpEndpoint": { "minPort": 40000, "maxPort": 65535 },
 *   "WebRtcEndpoint": { "stunServerAddress": "", "stunServerPort": 3478, "turnURL": "",
 *                       "externalIPv4": "", "externalIPv6": "", "networkInterfaces": "" },
 *   "fluo": { "workers": 0, "codecThreads": 0, "singlePort": true, "udpPort": 0, "spreadFrom": 16,
 *             "maxMessageSize": 1048576, "log": "*:3",
 * "bindAddress": "::", "accessToken": "", "isolatedSessions": false, "maxConnections": 10000,
 *             "messageTimeout": 30, "stalledReaderTimeout": 30, "maxQueuedOutput": 16777216,
 *             "recordRoots": "/var/recordings:/srv/media",
 *             "playRoots": "/srv/media",
 *             "whip": { "token": "", "maxSessions": 100, "connectTimeout": 30 },
 *             "limits": { "objectsPerSession": 10000, "endpointsPerSession": 1000,
 *                         "pipelinesPerSession": 1000, "objects": 100000, "endpoints": 5000,
 *                         "pipelines": 10000, "sessions": 10000, "fdReserve": 64 } }
 * }
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "rpc/rpc.h"

void fl_rpc_config_init(fl_rpc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->port = 8888;
    cfg->path = strdup("kurento");
    cfg->gc_period = 240;
    cfg->single_port = 1;
    cfg->spread_from = 16;
    cfg->max_message = 1 << 20;
    cfg->log_spec = strdup("*:3");
    cfg->min_port = 40000;
    cfg->max_port = 65535;
    cfg->stun_port = 3478;
    cfg->max_connections = 10000;
    cfg->message_timeout = 30;
    cfg->reader_timeout = 30;
    cfg->max_queued_output = 16u << 20;
    cfg->whip_max_sessions = 100;
    cfg->whip_connect_timeout = 30;
    cfg->limits = (fl_rpc_limits){
        .objects_per_session = 10000,
        .endpoints_per_session = 1000,
        .pipelines_per_session = 1000,
        .objects = 100000,
        .endpoints = 5000,
        .pipelines = 10000,
        .sessions = 10000,
        .fd_reserve = 64,
    };
}

void fl_rpc_config_deinit(fl_rpc_config *cfg)
{
    free(cfg->bind_addr);
    free(cfg->path);
    free(cfg->cert_file);
    free(cfg->cert_password);
    free(cfg->log_spec);
    free(cfg->stun_address);
    free(cfg->turn_url);
    free(cfg->external_ipv4);
    free(cfg->external_ipv6);
    free(cfg->network_interfaces);
    free(cfg->access_token);
    free(cfg->record_roots);
    free(cfg->play_roots);
    free(cfg->whip_token);
    memset(cfg, 0, sizeof(*cfg));
}

static json_t *at(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = root;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, tok);
    return cur;
}

static int get_int(json_t *root, const char *path, int lo, int hi, int *out, char *err, size_t n)
{
    json_t *v = at(root, path);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, n, "%s must be an integer from %d to %d", path, lo, hi);
        return FL_EINVAL;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_bool(json_t *root, const char *path, int *out, char *err, size_t n)
{
    json_t *v = at(root, path);
    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, n, "%s must be true or false", path);
        return FL_EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

static int get_str(json_t *root, const char *path, char **out, char *err, size_t n)
{
    json_t *v = at(root, path);
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, n, "%s must be a string", path);
        return FL_EINVAL;
    }
    char *s = strdup(json_string_value(v));
    if (!s)
        return FL_ENOMEM;
    free(*out);
    *out = s;
    return 0;
}

static int apply(fl_rpc_config *cfg, json_t *root, char *err, size_t n)
{
    int max_msg = (int)cfg->max_message;
    int rc = 0;
    rc = rc ? rc : get_int(root, "mediaServer.net.websocket.port", 0, 65535, &cfg->port, err, n);
    rc = rc ? rc : get_str(root, "mediaServer.net.websocket.path", &cfg->path, err, n);
    rc = rc ? rc
            : get_int(root, "mediaServer.net.websocket.secure.port", 0, 65535, &cfg->secure_port,
                      err, n);
    rc = rc ? rc
            : get_str(root, "mediaServer.net.websocket.secure.certificate", &cfg->cert_file, err,
                      n);
    rc = rc ? rc
            : get_str(root, "mediaServer.net.websocket.secure.password", &cfg->cert_password, err,
                      n);
    rc = rc ? rc
            : get_int(root, "mediaServer.resources.garbageCollectorPeriod", 1, 86400,
                      &cfg->gc_period, err, n);
    rc = rc ? rc : get_int(root, "BaseRtpEndpoint.minPort", 1, 65535, &cfg->min_port, err, n);
    rc = rc ? rc : get_int(root, "BaseRtpEndpoint.maxPort", 1, 65535, &cfg->max_port, err, n);
    rc = rc ? rc : get_str(root, "WebRtcEndpoint.stunServerAddress", &cfg->stun_address, err, n);
    rc = rc ? rc
            : get_int(root, "WebRtcEndpoint.stunServerPort", 1, 65535, &cfg->stun_port, err, n);
    rc = rc ? rc : get_str(root, "WebRtcEndpoint.turnURL", &cfg->turn_url, err, n);
    rc = rc ? rc : get_str(root, "WebRtcEndpoint.externalIPv4", &cfg->external_ipv4, err, n);
    rc = rc ? rc : get_str(root, "WebRtcEndpoint.externalIPv6", &cfg->external_ipv6, err, n);
    rc = rc ? rc
            : get_str(root, "WebRtcEndpoint.networkInterfaces", &cfg->network_interfaces, err, n);
    rc = rc ? rc : get_int(root, "fluo.workers", 0, 256, &cfg->workers, err, n);
    rc = rc ? rc : get_int(root, "fluo.codecThreads", 0, 256, &cfg->codec_threads, err, n);
    rc = rc ? rc : get_bool(root, "fluo.singlePort", &cfg->single_port, err, n);
    rc = rc ? rc : get_int(root, "fluo.udpPort", 0, 65535, &cfg->udp_port, err, n);
    rc = rc ? rc : get_int(root, "fluo.spreadFrom", 0, 1 << 20, &cfg->spread_from, err, n);
    rc = rc ? rc : get_int(root, "fluo.maxMessageSize", 1024, 64 << 20, &max_msg, err, n);
    rc = rc ? rc : get_str(root, "fluo.log", &cfg->log_spec, err, n);
    rc = rc ? rc : get_str(root, "fluo.bindAddress", &cfg->bind_addr, err, n);
    rc = rc ? rc : get_str(root, "fluo.accessToken", &cfg->access_token, err, n);
    rc = rc ? rc : get_str(root, "fluo.recordRoots", &cfg->record_roots, err, n);
    rc = rc ? rc : get_str(root, "fluo.playRoots", &cfg->play_roots, err, n);
    rc = rc ? rc : get_str(root, "fluo.whip.token", &cfg->whip_token, err, n);
    rc = rc ? rc
            : get_int(root, "fluo.whip.maxSessions", 1, 1 << 20, &cfg->whip_max_sessions, err, n);
    rc = rc ? rc
            : get_int(root, "fluo.whip.connectTimeout", 1, 3600, &cfg->whip_connect_timeout, err,
                      n);
    rc = rc ? rc : get_bool(root, "fluo.isolatedSessions", &cfg->isolated, err, n);
    rc = rc ? rc : get_int(root, "fluo.maxConnections", 1, 1 << 20, &cfg->max_connections, err, n);
    rc = rc ? rc : get_int(root, "fluo.messageTimeout", 1, 3600, &cfg->message_timeout, err, n);
    rc = rc ? rc
            : get_int(root, "fluo.stalledReaderTimeout", 1, 3600, &cfg->reader_timeout, err, n);
    int max_out = (int)cfg->max_queued_output;
    rc = rc ? rc : get_int(root, "fluo.maxQueuedOutput", 65536, 1 << 30, &max_out, err, n);
    cfg->max_queued_output = (size_t)max_out;

    static const struct {
        const char *key;
        size_t off;
        int min;
    } limits[] = {
        { "fluo.limits.objectsPerSession", offsetof(fl_rpc_limits, objects_per_session), 1 },
        { "fluo.limits.endpointsPerSession", offsetof(fl_rpc_limits, endpoints_per_session), 1 },
        { "fluo.limits.pipelinesPerSession", offsetof(fl_rpc_limits, pipelines_per_session), 1 },
        { "fluo.limits.objects", offsetof(fl_rpc_limits, objects), 1 },
        { "fluo.limits.endpoints", offsetof(fl_rpc_limits, endpoints), 1 },
        { "fluo.limits.pipelines", offsetof(fl_rpc_limits, pipelines), 1 },
        { "fluo.limits.sessions", offsetof(fl_rpc_limits, sessions), 1 },
        { "fluo.limits.fdReserve", offsetof(fl_rpc_limits, fd_reserve), 0 },
    };

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]) && rc == 0; i++) {
        int *field = (int *)((char *)&cfg->limits + limits[i].off);
        rc = get_int(root, limits[i].key, limits[i].min, 1 << 24, field, err, n);
    }
    cfg->max_message = (size_t)max_msg;
    if (rc == 0 && cfg->min_port > cfg->max_port) {
        snprintf(err, n, "BaseRtpEndpoint.minPort is above maxPort");
        rc = FL_EINVAL;
    }
    return rc;
}

int fl_rpc_config_load_file(fl_rpc_config *cfg, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return FL_EINVAL;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: the configuration must be a JSON object", path);
        json_decref(root);
        return FL_EINVAL;
    }
    char inner[200] = "";
    int rc = apply(cfg, root, inner, sizeof(inner));
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", path, inner);
    json_decref(root);
    return rc;
}

static int env_int(const char *name, int lo, int hi, int *out, char *err, size_t n)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        snprintf(err, n, "%s must be an integer from %d to %d, not '%s'", name, lo, hi, v);
        return FL_EINVAL;
    }
    *out = (int)x;
    return 0;
}

static int env_str(const char *name, char **out)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *s = strdup(v);
    if (!s)
        return FL_ENOMEM;
    free(*out);
    *out = s;
    return 0;
}

int fl_rpc_config_load_env(fl_rpc_config *cfg, char *err, size_t errlen)
{
    int rc = 0;
    rc = rc ? rc : env_int("KMS_MIN_PORT", 1, 65535, &cfg->min_port, err, errlen);
    rc = rc ? rc : env_int("KMS_MAX_PORT", 1, 65535, &cfg->max_port, err, errlen);
    rc = rc ? rc : env_str("KMS_STUN_IP", &cfg->stun_address);
    rc = rc ? rc : env_int("KMS_STUN_PORT", 1, 65535, &cfg->stun_port, err, errlen);
    rc = rc ? rc : env_str("KMS_TURN_URL", &cfg->turn_url);
    rc = rc ? rc : env_str("KMS_EXTERNAL_IPV4", &cfg->external_ipv4);
    rc = rc ? rc : env_str("KMS_EXTERNAL_IPV6", &cfg->external_ipv6);
    rc = rc ? rc : env_str("KMS_NETWORK_INTERFACES", &cfg->network_interfaces);
    rc = rc ? rc : env_str("FLUO_ACCESS_TOKEN", &cfg->access_token);
    rc = rc ? rc : env_int("FLUO_CODEC_THREADS", 0, 256, &cfg->codec_threads, err, errlen);
    rc = rc ? rc : env_int("FLUO_SINGLE_PORT", 0, 1, &cfg->single_port, err, errlen);
    rc = rc ? rc : env_int("FLUO_UDP_PORT", 0, 65535, &cfg->udp_port, err, errlen);
    rc = rc ? rc : env_int("FLUO_SPREAD_FROM", 0, 1 << 20, &cfg->spread_from, err, errlen);
    rc = rc ? rc : env_str("FLUO_RECORD_ROOTS", &cfg->record_roots);
    rc = rc ? rc : env_str("FLUO_PLAY_ROOTS", &cfg->play_roots);
    rc = rc ? rc : env_str("FLUO_WHIP_TOKEN", &cfg->whip_token);
    if (rc == 0 && cfg->min_port > cfg->max_port) {
        snprintf(err, errlen, "KMS_MIN_PORT is above KMS_MAX_PORT");
        rc = FL_EINVAL;
    }
    return rc;
}
