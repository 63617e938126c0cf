/* The one HTTP client of osModa-C (libcurl), for daemon-to-daemon calls over unix sockets. */
#pragma once

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct osm_http_reply {
    long status;  /* HTTP status */
    json_t *json; /* parsed body, or NULL if it was empty or not JSON */
    char *body;   /* raw body, NUL-terminated */
    size_t body_len;
};

/* Sends method path to the daemon on socket_path with an optional JSON body (lent) and waits up
 * to timeout_ms (0 = OSM_HTTP_CLIENT_TIMEOUT_MS). Returns 0 whenever an HTTP reply arrived
 * (whatever its status), -ECONNREFUSED/-ENOENT when nothing listens, -ETIMEDOUT, -EIO. */
int osm_http_call(const char *socket_path, const char *method, const char *path, const json_t *body,
                  long timeout_ms, struct osm_http_reply *ret);
/* The same, given up (-ECANCELED) within about a second of *cancel becoming true: for long
 * waits a daemon must be able to stop. */
int osm_http_call_cancellable(const char *socket_path, const char *method, const char *path,
                              const json_t *body, long timeout_ms, const atomic_bool *cancel,
                              struct osm_http_reply *ret);
void osm_http_reply_clear(struct osm_http_reply *r);
