/* Who may use the gateway. There is always a token: <state>/config/gateway-token (0600; made
 * with 32 random bytes, hex, when missing — the gateway never runs with auth off, unlike
 * osModa's). Bearer tokens are compared in constant time everywhere (HTTP, /ws, /config/...).
 * The dashboard logs in once with the token (POST /auth/login) and gets a session cookie
 * (osmoda_session: random 32 bytes, HttpOnly, SameSite=Strict, Path=/, Secure when served over
 * TLS by a proxy that says so), valid GW_SESSION_IDLE_S idle and GW_SESSION_MAX_S at most.
 * CSRF: a cookie-authenticated mutating request must carry X-CSRF-Token equal to the session's
 * csrf value (returned at login and by GET /auth/session) and, when present, an Origin equal to
 * the gateway's own; bearer requests need neither (a browser cannot send them cross-site).
 *
 * Routes (gw_auth_routes): POST /auth/login {token, user?} → {user, csrf, expires_at} +
 * Set-Cookie; POST /auth/logout; GET /auth/session → {user, csrf, expires_at} or 401;
 * GET /auth/check → {user, via} (is this credential good?); POST /auth/logout-all ends every
 * session.
 * Failed logins are rate-limited per peer address (429 with Retry-After). */
#pragma once

#include <stdbool.h>

#include "gw-http.h"

#define GW_TOKEN_FILE "gateway-token"
#define GW_SESSION_COOKIE "osmoda_session"
#define GW_SESSION_IDLE_S (12 * 3600)
#define GW_SESSION_MAX_S (7 * 86400)
#define GW_SESSIONS_MAX 256
#define GW_LOGIN_FAILURES_PER_MIN 10

/* Reads the token file, creating it when missing; -errno (the gateway does not start). */
int gw_auth_open(const char *config_dir, struct gw_auth **ret, char *err, size_t errlen);
void gw_auth_free(struct gw_auth *a);
/* The token file's path (printed by `make run`). */
const char *gw_auth_token_path(const struct gw_auth *a);
/* Authenticates req for a route with flags: true with req->who filled, or false with resp set
 * to 401 (no or bad credentials) / 403 (CSRF). */
bool gw_auth_check(struct gw_auth *a, struct gw_req *req, struct gw_resp *resp, unsigned flags);
/* Constant-time check of a presented token (the /ws handshake uses it too). */
bool gw_auth_token_ok(const struct gw_auth *a, const char *presented);
